import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { spawnNode } from './support/process.ts';
import { openDatabase, sqlitePath } from '../src/store/db.ts';
import { migrate } from '../src/store/migrate.ts';
import { AuditLog } from '../src/store/audit.ts';
import { enqueueEffects } from '../src/store/outbox.ts';
import { systemClock } from '../src/domain/clock.ts';
import { AUDIT_KEYRING } from './support/auditKey.ts';

let tdb: TestDatabase;

async function cli(args: string[], extraEnv: Record<string, string> = {}) {
  const p = spawnNode(['bin/muster.js', ...args], { DATABASE_URL: tdb.url, ...extraEnv });
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

async function rawSql(sql: string) {
  if (tdb.provider === 'sqlite') {
    const s = new Sqlite(sqlitePath(tdb.url));
    s.exec(sql);
    s.close();
  } else {
    const c = new pg.Client({ connectionString: tdb.url });
    await c.connect();
    await c.query(sql);
    await c.end();
  }
}

beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => tdb.drop());

describe('muster CLI', () => {
  it('migrate applies, then finds nothing to do', async () => {
    const first = await cli(['migrate']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/\d+ applied \(\d+_init, .*\), 0 already applied/);
    const second = await cli(['migrate']);
    expect(second.stdout).toMatch(/0 applied, \d+ already applied/);
  });

  it('audit verify, export, and a tampered chain', async () => {
    await migrate(tdb.url);
    const db = await openDatabase(tdb.url);
    const log = new AuditLog(db.provider, systemClock, { keyring: AUDIT_KEYRING });
    for (let i = 0; i < 5; i++) {
      await db.tx((tx) => log.append(tx, { actorId: 'slack:T1:U1', platform: 'slack', action: `act.${i}`, reason: i === 2 ? 'has, a comma "and quotes"' : null }));
    }
    await db.tx((tx) => enqueueEffects(tx, systemClock, { platform: 'nowhere' }, [{ op: 'postMessage', args: { channel: 'C1', text: 'x' } }]));
    const [effect] = await db.read((tx) => tx.outboxEffect.findMany());
    await db.tx((tx) => tx.outboxEffect.update({ where: { id: effect!.id }, data: { status: 'dead', lastError: 'channel_not_found: Slack answered channel_not_found' } }));
    await db.close();

    const ok = await cli(['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('audit chain intact: 5 entries');

    const csv = await cli(['audit', 'export', '--format', 'csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trimEnd().split('\r\n');
    expect(lines).toHaveLength(6);
    expect(lines[3]).toContain('"has, a comma ""and quotes"""');
    const json = await cli(['audit', 'export', '--format', 'json']);
    expect((JSON.parse(json.stdout) as { action: string }[]).map((e) => e.action)).toEqual(['act.0', 'act.1', 'act.2', 'act.3', 'act.4']);
    const bad = await cli(['audit', 'export', '--format', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--format must be csv or json');

    const list = await cli(['outbox', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^${effect!.id}\\tdead\\tnowhere\\tpostMessage\\tattempts=0\\t.*channel_not_found`, 'm'));
    const replay = await cli(['outbox', 'replay', String(effect!.id)]);
    expect(replay.stdout).toContain('1 effect(s) queued again');
    expect((await cli(['outbox', 'list'])).stdout).toContain('no dead-lettered effects');
    expect((await cli(['outbox', 'list', '--all'])).stdout).toMatch(/\tpending\t/);

    await rawSql(tdb.provider === 'sqlite' ? 'DROP TRIGGER audit_entries_no_update' : 'ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_update');
    await rawSql(`UPDATE audit_entries SET action = 'act.rewritten' WHERE seq = 3`);
    const broken = await cli(['audit', 'verify']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('audit chain BROKEN at entry 3');
  }, 90_000); // ten muster processes, one after another: ~0.7 s each idle, several seconds each on a loaded CI machine

  it('config check prints every problem with its path, or OK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-policy-'));
    const good = join(dir, 'good.yml');
    writeFileSync(good, 'organization:\n  timeZone: Europe/Berlin\nincidents:\n  broadcastChannel: "#incidents"\n');
    const okRun = await cli(['config', 'check', good]);
    expect(okRun.code).toBe(0);
    expect(okRun.stdout).toContain('OK');
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'incidents:\n  broadcastChannel: incidents\nchanges:\n  windows:\n    - days: [funday]\n      start: "25:00"\n      end: "16:00"\n      allow: [normal]\n');
    const badRun = await cli(['config', 'check', bad]);
    expect(badRun.code).toBe(1);
    expect(badRun.stderr).toContain('3 problem(s)');
    expect(badRun.stderr).toContain(`${bad}:2:21  incidents.broadcastChannel: a channel is #name or a channel id`);
    expect(badRun.stderr).toContain('changes.windows.0.days.0');
    expect(badRun.stderr).toContain('changes.windows.0.start: a time of day is HH:MM');
    const envFile = await cli(['config', 'check'], { MUSTER_CONFIG: good });
    expect(envFile.stdout).toContain(`${good}: OK`);
  });

  it('config check warns, and still exits 0, about reminders after expiry and escalation steps out of order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-policy-'));
    const file = join(dir, 'late.yml');
    writeFileSync(
      file,
      [
        'incidents:',
        '  escalation:',
        '    - { notify: oncall, after: 0m }',
        '    - { notify: tech_lead, after: 15m }',
        '    - { notify: manager, after: 15m }',
        'approvals:',
        '  ttl: 24h',
        '  deployment:',
        '    escalation:',
        '      - { notify: approvers, after: 24h }',
      ].join('\n'),
    );
    const run = await cli(['config', 'check', file]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout.trimEnd().split('\n')).toEqual([
      `${file}: OK (5 environments, time zone UTC) with 2 warning(s)`,
      `  ${file}:10:9  approvals.deployment.escalation.0: approvers after 1d is at or after the expiry of deployment requests (approvals.ttl 1d), so it never fires, nor does any step after it`,
      `  ${file}:5:7  incidents.escalation.2: manager after 15m is not later than the step before it (tech_lead after 15m), so both are sent at once; make each "after" larger than the one before`,
    ]);
  });

  it('unknown commands and evidence say what is wrong', async () => {
    const unknown = await cli(['frob']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frob"');
    const ev = await cli(['evidence', 'CHG-1']);
    expect(ev.code).toBe(1);
    expect(ev.stderr).toContain('has no workspace yet, so there is no CHG-1');
  });
});
