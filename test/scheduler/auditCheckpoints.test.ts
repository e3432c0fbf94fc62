// Checkpoints as a running Muster makes them: hourly through the leased timer on the
// controllable clock, posted to the audit channel (the fake Slack), logged and filed; and
// the audit key at start-up (rotation, key file, refusal).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { WebClient } from '@slack/web-api';
import { FakeSlack } from '../support/fakeSlack.ts';
import { createTestDatabase, TEST_PROVIDER, type TestDatabase } from '../support/db.ts';
import { AUDIT_KEY } from '../support/auditKey.ts';
import { deleteEntriesAfter, dropAuditTriggers } from '../support/tamper.ts';
import { parseEnv } from '../../src/config/env.ts';
import { parsePolicyText } from '../../src/config/policy.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { startMuster, StartupError, type Muster } from '../../src/muster.ts';
import { verifyAudit } from '../../src/store/audit.ts';
import { AuditKeyring } from '../../src/store/auditKeys.ts';
import { sqlitePath } from '../../src/store/db.ts';
import { readChannelCheckpoints } from '../../src/platforms/slack/checkpoints.ts';
import { CHECKPOINT_TIMER } from '../../src/scheduler/auditCheckpoints.ts';
import type { ParsedCheckpoints } from '../../src/store/auditCheckpoints.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const KEY_B = 'the-next-audit-key-after-rotation-0001';
let slack: FakeSlack;

beforeAll(async () => {
  slack = await FakeSlack.start();
});
afterAll(async () => slack.close());

interface Running {
  muster: Muster;
  logs: Record<string, unknown>[];
}

async function start(tdb: TestDatabase, clock: ManualClock, o: { channel: string; key?: string; previous?: string; file?: string }): Promise<Running> {
  const logs: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
  const { policy } = parsePolicyText(`audit:\n  channel: "${o.channel}"\n  checkpointEvery: 1000\n  checkpointInterval: 1h\n`);
  const env = parseEnv({
    PORT: '0',
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_SIGNING_SECRET: 'secret',
    SLACK_API_URL: slack.url,
    DATABASE_URL: tdb.url,
    LOG_LEVEL: 'info',
    MUSTER_INSTANCE_ID: 'checkpoint-test',
    MUSTER_AUDIT_KEY: o.key ?? AUDIT_KEY,
    MUSTER_AUDIT_PREVIOUS_KEYS: o.previous ?? '',
    MUSTER_AUDIT_CHECKPOINT_FILE: o.file ?? '',
  });
  const muster = await startMuster({ env, policy: policy!, clock, log, loops: false, dispatcher: { baseBackoffMs: 20, pollMs: 50 }, slackPacing: false });
  return { muster, logs };
}

async function write(m: Muster, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await m.db.tx((tx) => m.kernel.audit.append(tx, { actorId: 'slack:T1:U1', platform: 'slack', action: `act.${i}` }));
  }
}

async function tick(m: Muster): Promise<number> {
  const fired = await m.timers.tick();
  await m.dispatcher.drain(5_000);
  return fired;
}

const checkpointsIn = (channel: string) => slack.messages(channel).filter((m) => m.text.startsWith('muster-audit-checkpoint v1'));
const checkpointLogs = (logs: Record<string, unknown>[]) => logs.filter((l) => String(l.msg).startsWith('muster-audit-checkpoint v1'));

async function fromChannel(channel: string): Promise<ParsedCheckpoints> {
  const parsed: ParsedCheckpoints = { found: [], malformed: [] };
  await readChannelCheckpoints(new WebClient('xoxb-test', { slackApiUrl: slack.url, retryConfig: { retries: 0 } }), channel, parsed);
  return parsed;
}

describe('the hourly checkpoint', () => {
  it('is posted to the audit channel, logged once and filed when the head moved; the channel copy catches a truncation', async () => {
    slack.addChannel({ name: 'audit-hourly' });
    const tdb = await createTestDatabase();
    const clock = new ManualClock('2026-03-02T10:00:00.000Z');
    const file = join(mkdtempSync(join(tmpdir(), 'muster-cp-')), 'checkpoints.log');
    const { muster, logs } = await start(tdb, clock, { channel: '#audit-hourly', file });
    try {
      expect(await tick(muster)).toBe(0);
      await write(muster, 3);
      clock.advance(59 * MIN);
      expect(await tick(muster)).toBe(0);
      clock.advance(1 * MIN);
      expect(await tick(muster)).toBe(1);
      expect(checkpointsIn('#audit-hourly').map((m) => m.text)).toEqual([
        expect.stringMatching(/^muster-audit-checkpoint v1 seq=3 hash=[0-9a-f]{64} key=[0-9a-f]{16} at=2026-03-02T11:00:00.000Z mac=[0-9a-f]{64}$/),
      ]);
      expect(readFileSync(file, 'utf8')).toBe(`${checkpointsIn('#audit-hourly')[0]!.text}\n`);
      expect(checkpointLogs(logs).map((l) => [l.level, l.component, l.msg])).toEqual([[30, 'audit', checkpointsIn('#audit-hourly')[0]!.text]]);

      // An hour with no entries: the timer fires (and re-arms) but there is nothing new to sign.
      clock.advance(HOUR);
      expect(await tick(muster)).toBe(1);
      expect(checkpointsIn('#audit-hourly')).toHaveLength(1);
      const timer = await muster.db.read((tx) => tx.timer.findUniqueOrThrow({ where: { key: CHECKPOINT_TIMER.key } }));
      expect(timer).toMatchObject({ status: 'pending', dueAt: new Date(clock.now().getTime() + HOUR) });

      // Slack fails the post: it is retried; the log line is not repeated.
      await write(muster, 2);
      slack.failNext('chat.postMessage', { status: 500 });
      clock.advance(HOUR);
      expect(await tick(muster)).toBe(1);
      expect(checkpointsIn('#audit-hourly')).toHaveLength(1);
      clock.advance(5_000);
      await muster.dispatcher.drain(5_000);
      expect(checkpointsIn('#audit-hourly').map((m) => /seq=(\d+)/.exec(m.text)![1])).toEqual(['3', '5']);
      expect(checkpointLogs(logs)).toHaveLength(2);
      expect(readFileSync(file, 'utf8').trim().split('\n')).toEqual(checkpointsIn('#audit-hourly').map((m) => m.text));

      // Read back the way `muster audit verify --channel` does: by name, every page of history.
      for (let i = 0; i < 250; i++) slack.addMessage('#audit-hourly', { text: `chatter ${i}` });
      slack.clearCalls();
      const parsed = await fromChannel('#audit-hourly');
      expect(slack.callsTo('conversations.history').length).toBeGreaterThanOrEqual(2);
      expect(parsed.found.map((c) => c.seq).sort()).toEqual([3, 5]);
      const keys = muster.kernel.audit.keyring;
      expect(await verifyAudit(muster.db, keys, { checkpoints: parsed.found })).toMatchObject({ ok: true, checked: 5, checkpoints: { checked: 2 } });

      await dropAuditTriggers(tdb);
      await deleteEntriesAfter(tdb, 3);
      const truncated = await verifyAudit(muster.db, keys, { checkpoints: (await fromChannel('#audit-hourly')).found });
      expect(truncated.ok).toBe(false);
      expect(truncated.checkpoints.problems).toEqual([expect.stringMatching(/^entries 4\.\.5 are missing: the trail was truncated/)]);
      // The next hourly run notices too, and says so in the log.
      clock.advance(HOUR);
      await tick(muster);
      expect(logs.find((l) => l.level === 50 && String(l.msg).includes('shorter than its last published checkpoint'))).toMatchObject({ head: 3, lastPublished: 5 });
    } finally {
      await muster.stop();
      await tdb.drop();
    }
  });
});

describe('the audit key at start-up', () => {
  it('a new key is recorded as a rotation and checkpointed; a process still on the old key refuses to start', async () => {
    slack.addChannel({ name: 'audit-rotation' });
    const tdb = await createTestDatabase();
    const clock = new ManualClock('2026-03-02T10:00:00.000Z');
    try {
      const first = await start(tdb, clock, { channel: '#audit-rotation' });
      await write(first.muster, 2);
      const oldId = first.muster.kernel.audit.keyring.current.id;
      await first.muster.stop();

      const second = await start(tdb, clock, { channel: '#audit-rotation', key: KEY_B, previous: AUDIT_KEY });
      const newId = second.muster.kernel.audit.keyring.current.id;
      try {
        await second.muster.dispatcher.drain(5_000);
        const marker = await second.muster.db.read((tx) => tx.auditEntry.findUniqueOrThrow({ where: { seq: 3 } }));
        expect(marker).toMatchObject({ action: 'audit.key.rotated', before: JSON.stringify({ keyId: oldId }), after: JSON.stringify({ keyId: newId }), keyId: newId });
        expect(second.logs.find((l) => l.msg === 'audit key changed: recorded in the audit chain')).toMatchObject({ from: oldId, to: newId, seq: 3 });
        const published = (await fromChannel('#audit-rotation')).found;
        expect(published.map((c) => [c.seq, c.keyId])).toEqual([[3, newId]]);
        const both = new AuditKeyring(KEY_B, [AUDIT_KEY]);
        expect(await verifyAudit(second.muster.db, both, { checkpoints: published })).toMatchObject({ ok: true, checked: 3, keyIds: [oldId, newId] });
        const missingOld = await verifyAudit(second.muster.db, new AuditKeyring(KEY_B), { checkpoints: published });
        expect(missingOld.firstBad).toEqual({ seq: 1, problem: expect.stringContaining(`made with key ${oldId}, which is not among the known keys`) });
      } finally {
        await second.muster.stop();
      }
      await expect(start(tdb, clock, { channel: '#audit-rotation' })).rejects.toThrow(new RegExp(`the audit chain is keyed with ${newId} since entry 3, which this process does not have`));
    } finally {
      await tdb.drop();
    }
  });

  it.runIf(TEST_PROVIDER === 'sqlite')('without MUSTER_AUDIT_KEY on SQLite: a 0600 key file next to the database, a warning, the same key after a restart', async () => {
    const tdb = await createTestDatabase();
    const clock = new ManualClock('2026-03-02T10:00:00.000Z');
    try {
      const first = await start(tdb, clock, { channel: '#audit', key: '' });
      const keyFile = join(dirname(sqlitePath(tdb.url)), 'audit.key');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(first.logs.find((l) => l.level === 40 && String(l.msg).startsWith('MUSTER_AUDIT_KEY is not set'))).toMatchObject({ keyFile, created: true });
      await write(first.muster, 2);
      const id = first.muster.kernel.audit.keyring.current.id;
      await first.muster.stop();
      const second = await start(tdb, clock, { channel: '#audit', key: '' });
      expect(second.muster.kernel.audit.keyring.current.id).toBe(id);
      expect(await second.muster.db.read((tx) => tx.auditEntry.count())).toBe(2);
      await second.muster.stop();
    } finally {
      await tdb.drop();
    }
  });

  it('a checkpoint file that cannot be written stops start-up', async () => {
    const tdb = await createTestDatabase();
    try {
      const file = join(tmpdir(), 'no-such-directory-for-muster', 'checkpoints.log');
      await expect(start(tdb, new ManualClock(), { channel: '#audit', file })).rejects.toThrow(new RegExp(`^MUSTER_AUDIT_CHECKPOINT_FILE ${file} cannot be appended to: ENOENT`));
    } finally {
      await tdb.drop();
    }
  });

  it.runIf(TEST_PROVIDER === 'postgresql')('without MUSTER_AUDIT_KEY on PostgreSQL, start-up refuses and names the variable', async () => {
    const tdb = await createTestDatabase();
    try {
      const started = start(tdb, new ManualClock(), { channel: '#audit', key: '' });
      await expect(started).rejects.toBeInstanceOf(StartupError);
      await expect(started).rejects.toThrow(/^MUSTER_AUDIT_KEY is not set\. On PostgreSQL every replica must use the same audit key/);
    } finally {
      await tdb.drop();
    }
  });
});
