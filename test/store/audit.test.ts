import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { migratedDatabase } from '../support/store.ts';
import { openDatabase, sqlitePath, type Database } from '../../src/store/db.ts';
import { AuditLog, GENESIS_HASH, verifyChain, exportAudit, canonicalJson } from '../../src/store/audit.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { AUDIT_KEYRING } from '../support/auditKey.ts';

let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
const clock = new ManualClock('2026-03-02T10:00:00.000Z');

beforeAll(async () => {
  ctx = await migratedDatabase();
  db = ctx.db;
});
afterAll(async () => ctx.close());

/** Runs raw SQL as the database owner would, outside Muster: the way an attacker would tamper. */
async function rawSql(sql: string): Promise<void> {
  if (db.provider === 'sqlite') {
    const s = new Sqlite(sqlitePath(ctx.tdb.url));
    try {
      s.exec(sql);
    } finally {
      s.close();
    }
  } else {
    const c = new pg.Client({ connectionString: ctx.tdb.url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  }
}

const entry = (action: string, i = 0) => ({
  workspaceId: 'slack:T1',
  actorId: 'slack:T1:U1',
  actorName: 'ana',
  platform: 'slack',
  action,
  subjectType: 'user',
  subjectId: `slack:T1:U${i}`,
  before: { roles: [] },
  after: { roles: ['qa_lead'], n: i },
  requestId: `req-${i}`,
});

describe('audit chain', () => {
  it('links each entry to the previous one from the genesis hash', async () => {
    const log = new AuditLog(db.provider, clock, { keyring: AUDIT_KEYRING });
    const rows = await db.tx((tx) => log.append(tx, [entry('role.grant', 1), entry('role.revoke', 2)]));
    expect(rows[0]!.seq).toBe(1);
    expect(rows[0]!.prevHash).toBe(GENESIS_HASH);
    expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
    expect(rows[0]!.before).toBe('{"roles":[]}');
    const v = await verifyChain(db, AUDIT_KEYRING);
    expect(v).toMatchObject({ ok: true, checked: 2, lastHash: rows[1]!.hash });
  });

  it('canonical JSON sorts keys so equal values hash equally', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: [3, { f: 1, e: 0 }] } })).toBe('{"a":{"c":[3,{"e":0,"f":1}],"d":2},"b":1}');
  });

  it('the database refuses UPDATE and DELETE on audit entries', async () => {
    await expect(db.tx((tx) => tx.auditEntry.updateMany({ data: { action: 'forged' } }))).rejects.toThrow();
    await expect(db.tx((tx) => tx.auditEntry.deleteMany({}))).rejects.toThrow();
    // Also outside Prisma, straight at the database.
    await expect(rawSql(`UPDATE audit_entries SET action = 'forged' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(rawSql(`DELETE FROM audit_entries WHERE seq = 1`)).rejects.toThrow(/append-only/);
    const rows = await db.read((tx) => tx.auditEntry.findMany({ orderBy: { seq: 'asc' } }));
    expect(rows.map((r) => r.action)).toEqual(['role.grant', 'role.revoke']);
  });

  it('keeps one unbroken chain under concurrent writers', async () => {
    // Many transactions at once; on PostgreSQL through two separate pools. (SQLite is
    // one writer per file: a second connection in the same process would only deadlock
    // the event loop on the busy timeout, so it shares the one handle.)
    const other = db.provider === 'postgresql' ? await openDatabase(ctx.tdb.url) : db;
    try {
      const logs = [new AuditLog(db.provider, clock, { keyring: AUDIT_KEYRING }), new AuditLog(other.provider, clock, { keyring: AUDIT_KEYRING })];
      const handles = [db, other];
      await Promise.all(Array.from({ length: 40 }, (_, i) => handles[i % 2]!.tx((tx) => logs[i % 2]!.append(tx, [entry('concurrent', i), entry('concurrent.b', i)]))));
    } finally {
      if (other !== db) await other.close();
    }
    const v = await verifyChain(db, AUDIT_KEYRING);
    expect(v.ok).toBe(true);
    expect(v.checked).toBe(2 + 80);
    const seqs = (await db.read((tx) => tx.auditEntry.findMany({ select: { seq: true }, orderBy: { seq: 'asc' } }))).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: 82 }, (_, i) => i + 1));
  });

  it('exports the chain as CSV and JSON', async () => {
    let csv = '';
    const n = await exportAudit(db, 'csv', (c) => (csv += c), 7);
    expect(n).toBe(82);
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe('seq,createdAt,workspaceId,platform,actorId,actorName,action,outcome,subjectType,subjectId,before,after,reason,flags,requestId,prevHash,hash,keyId');
    expect(lines).toHaveLength(83);
    expect(lines[1]).toContain('"{""roles"":[]}"');
    let json = '';
    await exportAudit(db, 'json', (c) => (json += c), 5);
    const parsed = JSON.parse(json) as { seq: number; hash: string; prevHash: string }[];
    expect(parsed).toHaveLength(82);
    expect(parsed[1]!.prevHash).toBe(parsed[0]!.hash);
  });

  it('verify names the first tampered entry (trigger dropped by a superuser)', async () => {
    const drop = db.provider === 'sqlite' ? 'DROP TRIGGER audit_entries_no_update' : 'ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_update';
    await rawSql(drop);
    await rawSql(`UPDATE audit_entries SET reason = 'nothing to see' WHERE seq = 5`);
    const v = await verifyChain(db, AUDIT_KEYRING, 3);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toEqual({ seq: 5, problem: expect.stringMatching(/altered/) });
    expect(v.checked).toBe(4);
  });
});
