// `muster audit verify` end to end: a real Muster publishes checkpoints (file and fake
// Slack channel), then the CLI runs as its own process against the database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { FakeSlack } from './support/fakeSlack.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { spawnNode } from './support/process.ts';
import { AUDIT_KEY } from './support/auditKey.ts';
import { deleteEntriesAfter, dropAuditTriggers } from './support/tamper.ts';
import { parseEnv } from '../src/config/env.ts';
import { parsePolicyText } from '../src/config/policy.ts';
import { ManualClock, systemClock } from '../src/domain/clock.ts';
import { startMuster } from '../src/muster.ts';
import { openDatabase } from '../src/store/db.ts';
import { migrate } from '../src/store/migrate.ts';
import { AuditLog } from '../src/store/audit.ts';
import { AuditKeyring, auditKey } from '../src/store/auditKeys.ts';

const KEY_B = 'the-next-audit-key-after-rotation-0001';
const POLICY = 'audit:\n  channel: "#audit-cli"\n  checkpointEvery: 5\n';
let slack: FakeSlack;
let tdb: TestDatabase;
let dir: string;
let file: string;
let policyFile: string;

async function cli(args: string[], env: Record<string, string> = {}, db = tdb) {
  const p = spawnNode(['bin/muster.js', 'audit', 'verify', ...args], { DATABASE_URL: db.url, ...env });
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
const slackEnv = () => ({ MUSTER_CONFIG: policyFile, SLACK_BOT_TOKEN: 'xoxb-cli', SLACK_API_URL: slack.url });

beforeAll(async () => {
  slack = await FakeSlack.start();
  slack.addChannel({ name: 'audit-cli' });
  tdb = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'muster-cli-audit-'));
  file = join(dir, 'checkpoints.log');
  policyFile = join(dir, 'muster.yml');
  writeFileSync(policyFile, POLICY);
  const muster = await startMuster({
    env: parseEnv({
      PORT: '0',
      SLACK_BOT_TOKEN: 'xoxb-test',
      SLACK_SIGNING_SECRET: 's',
      SLACK_API_URL: slack.url,
      DATABASE_URL: tdb.url,
      MUSTER_AUDIT_KEY: AUDIT_KEY,
      MUSTER_AUDIT_CHECKPOINT_FILE: file,
    }),
    policy: parsePolicyText(POLICY).policy!,
    clock: new ManualClock('2026-03-02T10:00:00.000Z'),
    log: pino({ level: 'silent' }),
    loops: false,
    // The ManualClock stands still: a post paced to later would never become due before the drain at stop.
    slackPacing: false,
  });
  for (let i = 0; i < 12; i++) await muster.db.tx((tx) => muster.kernel.audit.append(tx, { actorId: 'slack:T1:U1', platform: 'slack', action: `act.${i}` }));
  await muster.stop(); // drains the outbox: checkpoints 5 and 10 are published
});
afterAll(async () => {
  await slack.close();
  await tdb.drop();
});

describe('muster audit verify', () => {
  it('checks the chain and the published checkpoints, from a file or the audit channel', async () => {
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
    const fromFile = await cli(['--checkpoints', file]);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toContain(`audit chain intact: 12 entries, key ${new AuditKeyring(AUDIT_KEY).current.id}, head seq=12 hash=`);
    expect(fromFile.stdout).toContain(`2 checkpoint(s) checked from ${file} (2); the newest on the chain is seq=10 of 2026-03-02T10:00:00.000Z, 2 entries after it`);
    expect(fromFile.stderr).toBe('');

    // With SLACK_BOT_TOKEN and audit.channel set, the channel is read by default.
    const fromChannel = await cli([], slackEnv());
    expect(fromChannel.code).toBe(0);
    expect(fromChannel.stdout).toContain('2 checkpoint(s) checked from #audit-cli (2)');
    expect(slack.callsTo('conversations.history').length).toBeGreaterThan(0);
    expect((await cli(['--checkpoints', file, '--no-channel'], slackEnv())).stdout).toContain(`checked from ${file} (2);`);

    const none = await cli([]);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('0 checkpoint(s) checked');
    expect(none.stderr).toContain(
      'warning: no checkpoint source (--checkpoints FILE, or --channel with SLACK_BOT_TOKEN and audit.channel): ' + 'entries removed from the end of the trail cannot be detected',
    );

    const noToken = await cli(['--channel'], { MUSTER_CONFIG: policyFile });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('--channel reads the audit channel: it needs SLACK_BOT_TOKEN and audit.channel');
  });

  it('needs the key: a short one is refused, another one names the unknown key', async () => {
    const short = await cli([], { MUSTER_AUDIT_KEY: 'short' });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('MUSTER_AUDIT_KEY must be at least 32 characters');
    const other = await cli(['--checkpoints', file], { MUSTER_AUDIT_KEY: KEY_B });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`audit chain BROKEN at entry 1: it was made with key ${auditKey(AUDIT_KEY).id}, which is not among the known keys`);
    const unset = await cli([], { MUSTER_AUDIT_KEY: '' });
    if (tdb.provider === 'postgresql') {
      expect(unset.code).toBe(2);
      expect(unset.stderr).toContain('MUSTER_AUDIT_KEY is not set. On PostgreSQL every replica must use the same audit key');
    } else {
      // SQLite: the CLI makes (or finds) the key file next to the database, which did not key this chain.
      expect(unset.code).toBe(1);
      expect(unset.stderr).toContain('which is not among the known keys');
    }
  });

  it('a rotated key verifies with the retired key in MUSTER_AUDIT_PREVIOUS_KEYS, and names it without', async () => {
    const other = await createTestDatabase();
    try {
      await migrate(other.url);
      const db = await openDatabase(other.url);
      const a = new AuditKeyring(AUDIT_KEY);
      const b = new AuditKeyring(KEY_B, [AUDIT_KEY]);
      const log = new AuditLog(db.provider, systemClock, { keyring: a });
      for (let i = 0; i < 3; i++) await db.tx((tx) => log.append(tx, { actorId: 'x', platform: 'slack', action: `before.${i}` }));
      await new AuditLog(db.provider, systemClock, { keyring: b }).sealKey(db);
      await db.close();
      const without = await cli([], { MUSTER_AUDIT_KEY: KEY_B }, other);
      expect(without.code).toBe(1);
      expect(without.stderr).toContain(`it was made with key ${a.current.id}, which is not among the known keys: add that key to MUSTER_AUDIT_PREVIOUS_KEYS`);
      const withOld = await cli([], { MUSTER_AUDIT_KEY: KEY_B, MUSTER_AUDIT_PREVIOUS_KEYS: AUDIT_KEY }, other);
      expect(withOld.code).toBe(0);
      expect(withOld.stdout).toContain(`audit chain intact: 4 entries, keys ${a.current.id}, ${b.current.id}`);
    } finally {
      await other.drop();
    }
  });

  it('a truncated trail fails against the file and the channel, naming the missing range; a forged line is named', async () => {
    await dropAuditTriggers(tdb);
    await deleteEntriesAfter(tdb, 7);
    for (const run of [await cli(['--checkpoints', file]), await cli(['--channel'], slackEnv())]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^audit trail BROKEN: entries 8\.\.10 are missing: the trail was truncated \(checkpoint seq=10 of \S+ \(.+\) is not on the chain, whose newest entry is 7\)$/m);
      expect(run.stdout).toContain('2 checkpoint(s) checked');
    }
    // The chain alone cannot tell (the reason for checkpoints), and says so.
    const blind = await cli([]);
    expect(blind.code).toBe(0);
    expect(blind.stderr).toContain('entries removed from the end of the trail cannot be detected');

    // Checkpoints are published in parallel, so the file's order is not seq order.
    const genuine = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.includes(' seq=5 '))!;
    appendFileSync(file, `${genuine.replace('seq=5 ', 'seq=7 ')}\n`);
    const forged = await cli(['--checkpoints', file]);
    expect(forged.code).toBe(1);
    expect(forged.stderr).toContain(`forged checkpoint in ${file}:3: its mac does not match (the line was edited, or made without the key) [seq=7 `);
  });
});
