import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { BOT_USER_ID, FakeSlack, TEAM_ID, type TierOptions } from '../../support/fakeSlack.ts';
import { createTestDatabase, TEST_PROVIDER, type TestDatabase } from '../../support/db.ts';
import { AUDIT_KEY } from '../../support/auditKey.ts';
import { parseEnv } from '../../../src/config/env.ts';
import { defaultPolicy } from '../../../src/config/policy.ts';
import { systemClock } from '../../../src/domain/clock.ts';
import { startMuster, type Muster } from '../../../src/muster.ts';
import { openDatabase, type Database } from '../../../src/store/db.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { enqueueEffects } from '../../../src/store/outbox.ts';
import { OutboxDispatcher } from '../../../src/scheduler/outboxDispatcher.ts';
import { SlackChatPort } from '../../../src/platforms/slack/chatPort.ts';
import { createWebClient } from '../../../src/platforms/slack/webClient.ts';

/**
 * Two replicas on one PostgreSQL database, one Slack workspace: Slack's limits are per app and workspace, so the
 * replicas must spend one budget between them (issue 13). A burst of chat.update redraws (Tier 3, 50 a minute) is
 * split between the two replicas' dispatchers; paced on one budget held in the database, Slack answers none of it
 * 429. The control: the same burst with each replica pacing in its own memory draws 429s (twice the burst at once,
 * twice the rate). SQLite runs exactly one process per file (docs/scaling.md), so this is PostgreSQL's alone.
 */

/** Time runs this many times faster than in Slack, in the fake's rates and Muster's pacing alike. */
const SCALE = 5;
/**
 * chat.update as the fake enforces it: 50 a minute (×SCALE), and a burst of 7: Muster's 5 plus two calls of headroom
 * for the time between a replica's reservation and its call reaching the fake, which here shares one event loop with
 * both replicas and the test (at load 13 on 2 CPUs, one headroom call was not always enough). Two replicas pacing
 * alone send 10 at once and 90 a minute. FakeSlack's `scale` multiplies bursts too, then floors them.
 */
const TIERS: TierOptions = { scale: SCALE, tiers: { 3: { burst: 7.5 / SCALE } } };
const REDRAWS = 30;
const CHANNEL = 'CREDRAWS';
const log = pino({ level: process.env.MUSTER_TEST_LOG ?? 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bot messages to redraw, one effect each (no coalescing: each is its own message), written as a service would. */
async function enqueueRedraws(db: Database, slack: FakeSlack, tag: string): Promise<number[]> {
  const messages = Array.from({ length: REDRAWS }, (_, i) => slack.addMessage(CHANNEL, { text: `${tag} ${i} v1`, user: BOT_USER_ID }));
  return db.tx((tx) =>
    enqueueEffects(
      tx,
      systemClock,
      { platform: 'slack', workspaceId: `slack:${TEAM_ID}`, requestId: `burst-${tag}` },
      messages.map((m, i) => ({ op: 'updateMessage', args: { channel: CHANNEL, ts: m.ts, text: `${tag} ${i} v2` } })),
    ),
  );
}

/** Waits until every one of `ids` is done or dead (the replicas' loops run them). */
async function finished(db: Database, ids: number[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await db.read((tx) => tx.outboxEffect.findMany({ where: { id: { in: ids } } }));
    if (rows.every((r) => r.status === 'done' || r.status === 'dead')) return rows;
    if (Date.now() > deadline) throw new Error(`redraws not finished after ${timeoutMs} ms: ${JSON.stringify(rows.filter((r) => r.status !== 'done').map((r) => [r.id, r.status, r.lastError]))}`);
    await sleep(25);
  }
}

describe.skipIf(TEST_PROVIDER !== 'postgresql')('two replicas, one Slack rate budget', () => {
  let tdb: TestDatabase;
  const musters: Muster[] = [];
  const fakes: FakeSlack[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await migrate(tdb.url);
  });
  afterAll(async () => {
    for (const m of musters.splice(0)) await m.stop();
    for (const f of fakes) await f.close();
    await tdb?.drop();
  });

  it('a burst of redraws split between two Musters is paced on one budget: no 429', async () => {
    const slack = await FakeSlack.start({ tiers: TIERS });
    fakes.push(slack);
    slack.addChannel({ id: CHANNEL, name: 'redraws', members: [BOT_USER_ID] });
    for (const replica of ['replica-a', 'replica-b']) {
      const env = parseEnv({
        PORT: '0',
        SLACK_BOT_TOKEN: 'xoxb-test-token',
        SLACK_SIGNING_SECRET: 'test-signing-secret',
        SLACK_API_URL: slack.url,
        DATABASE_URL: tdb.url,
        LOG_LEVEL: 'silent',
        MUSTER_INSTANCE_ID: replica,
        MUSTER_AUDIT_KEY: AUDIT_KEY,
      });
      musters.push(await startMuster({ env, policy: defaultPolicy(), clock: systemClock, log, loops: true, dispatcher: { pollMs: 20 }, slackPacing: { scale: SCALE } }));
    }
    const [a] = musters;
    const ids = await enqueueRedraws(a!.db, slack, 'shared');
    const rows = await finished(a!.db, ids, 60_000);
    const buckets = await a!.db.read((tx) => tx.rateBucket.findMany());
    // Stopped before the control below, which writes effects into the same outbox.
    for (const m of musters.splice(0)) await m.stop();

    const updates = slack.callsTo('chat.update');
    const byReplica = Object.fromEntries(['replica-a', 'replica-b'].map((r) => [r, rows.filter((x) => x.leasedBy === r).length]));
    console.log(`shared budget: ${JSON.stringify({ redraws: REDRAWS, chatUpdateCalls: updates.length, chatUpdate429: slack.rateLimited('chat.update'), doneBy: byReplica })}`);
    expect(rows.map((r) => r.status)).toEqual(ids.map(() => 'done'));
    for (let i = 0; i < REDRAWS; i++) expect(slack.messages(CHANNEL).find((m) => m.text.startsWith(`shared ${i} `))?.text).toBe(`shared ${i} v2`);
    // Both replicas ran part of the burst, and Slack refused none of it: each call went once.
    expect(byReplica['replica-a']).toBeGreaterThan(0);
    expect(byReplica['replica-b']).toBeGreaterThan(0);
    expect(slack.rateLimited('chat.update')).toBe(0);
    expect(updates).toHaveLength(REDRAWS);
    expect(rows.every((r) => r.rateLimited === 0 && r.attempts === 1)).toBe(true);
    // The budget is the database's: its row for chat.update in this workspace.
    expect(buckets.map((b) => b.key)).toContain(`slack:${TEAM_ID}:chat.update`);
  }, 90_000);

  it('control: the same burst with each replica pacing in its own memory draws 429s', async () => {
    const slack = await FakeSlack.start({ tiers: TIERS });
    fakes.push(slack);
    slack.addChannel({ id: CHANNEL, name: 'redraws', members: [BOT_USER_ID] });
    const db = await openDatabase(tdb.url);
    const dispatchers = ['control-a', 'control-b'].map((owner) => {
      const port = new SlackChatPort(createWebClient('xoxb-test', slack.url), { pacing: { scale: SCALE } });
      port.botUserId = BOT_USER_ID;
      return new OutboxDispatcher(db, systemClock, log, { owner, pollMs: 20 }).addPort(port);
    });
    try {
      for (const d of dispatchers) d.start();
      const ids = await enqueueRedraws(db, slack, 'alone');
      await finished(db, ids, 60_000);
      console.log(`budget per process: ${JSON.stringify({ redraws: REDRAWS, chatUpdateCalls: slack.callsTo('chat.update').length, chatUpdate429: slack.rateLimited('chat.update') })}`);
      expect(slack.rateLimited('chat.update')).toBeGreaterThan(0);
    } finally {
      for (const d of dispatchers) await d.stop();
      await db.close();
    }
  }, 90_000);
});
