// `muster audit export` through a pipe whose reader is slow: every entry arrives (the CLI must not exit with output
// still queued), as CSV and as JSON, and the two agree with the chain.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { spawnNode } from './support/process.ts';
import { AUDIT_KEYRING } from './support/auditKey.ts';
import { systemClock } from '../src/domain/clock.ts';
import { openDatabase } from '../src/store/db.ts';
import { migrate } from '../src/store/migrate.ts';
import { AuditLog, type AuditInput } from '../src/store/audit.ts';

const ENTRIES = 3000;
let tdb: TestDatabase;
let head: { seq: number; hash: string };

beforeAll(async () => {
  tdb = await createTestDatabase();
  await migrate(tdb.url);
  const db = await openDatabase(tdb.url);
  const log = new AuditLog(db.provider, systemClock, { keyring: AUDIT_KEYRING });
  const text = 'x'.repeat(200); // about 300 KB of CSV in all: several times what a pipe holds
  for (let from = 0; from < ENTRIES; from += 250) {
    const batch: AuditInput[] = Array.from({ length: 250 }, (_, i) => ({ actorId: 'slack:T1:U1', platform: 'slack', action: `act.${from + i}`, after: { text } }));
    const rows = await db.tx((tx) => log.append(tx, batch));
    head = { seq: rows.at(-1)!.seq, hash: rows.at(-1)!.hash };
  }
  await db.close();
}, 120_000);
afterAll(async () => tdb.drop());

/** Runs the export and reads its stdout only after `pauseMs`, so the pipe fills and the CLI has to wait for us. */
async function slowExport(format: 'csv' | 'json', pauseMs: number): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawnNode(['bin/muster.js', 'audit', 'export', '--format', format], { DATABASE_URL: tdb.url });
  p.child.stdout!.pause();
  await new Promise((r) => setTimeout(r, pauseMs));
  p.child.stdout!.resume();
  const { code } = await p.exited;
  await new Promise<void>((r) => (p.child.stdout!.readableEnded ? r() : p.child.stdout!.once('end', () => r())));
  return { code, out: p.stdout(), err: p.stderr() };
}

describe('muster audit export through a slow pipe', () => {
  it('writes every entry as CSV', async () => {
    const r = await slowExport('csv', 1500);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\r\n');
    expect(lines).toHaveLength(ENTRIES + 1);
    expect(lines.at(-1)!.startsWith(`${head.seq},`)).toBe(true);
    expect(lines.at(-1)).toContain(head.hash);
  }, 120_000);

  it('writes every entry as JSON, chained', async () => {
    const r = await slowExport('json', 1500);
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.out) as { seq: number; hash: string; prevHash: string; action: string }[];
    expect(entries).toHaveLength(ENTRIES);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: ENTRIES }, (_, i) => i + 1));
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.prevHash).toBe(entries[i - 1]!.hash);
    expect(entries.at(-1)).toMatchObject({ seq: head.seq, hash: head.hash, action: `act.${ENTRIES - 1}` });
  }, 120_000);
});
