import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { FakeSlack, GENERAL_CHANNEL_ID } from '../support/fakeSlack.ts';
import { migratedDatabase } from '../support/store.ts';
import { OutboxDispatcher } from '../../src/scheduler/outboxDispatcher.ts';
import { SlackChatPort } from '../../src/platforms/slack/chatPort.ts';
import { createWebClient } from '../../src/platforms/slack/webClient.ts';
import { enqueueEffects, type EffectSpec } from '../../src/store/outbox.ts';
import { ManualClock, systemClock } from '../../src/domain/clock.ts';
import type { Database } from '../../src/store/db.ts';

/** Pacing that books a turn (the in-process limiter): the effect keeps its turn whatever brings it back early. */
let slack: FakeSlack;
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
const log = pino({ level: 'silent' });

const enqueue = (...effects: EffectSpec[]) => db.tx((tx) => enqueueEffects(tx, systemClock, { platform: 'slack', workspaceId: 'slack:T0001', requestId: 'r1' }, effects));
const status = (id: number) => db.read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id } }));
const dispatcher = (clock: ManualClock, port: SlackChatPort) => new OutboxDispatcher(db, clock, log, { owner: 'd1', baseBackoffMs: 10, maxAttempts: 3, pollMs: 20 }).addPort(port);

beforeAll(async () => {
  slack = await FakeSlack.start();
  ctx = await migratedDatabase();
  db = ctx.db;
});
afterAll(async () => {
  await ctx.close();
  await slack.close();
});

describe('booked turns', () => {
  it('an effect claimed before its booked turn waits for that turn again, without booking a second one', async () => {
    const clock = new ManualClock(new Date(Date.now() + 1000));
    const paced = new SlackChatPort(createWebClient('xoxb-test', slack.url), { pacing: { scale: 1 } });
    let asked = 0;
    const pace = paced.pace.bind(paced);
    paced.pace = (...args) => {
      asked += 1;
      return pace(...args);
    };
    // conversations.setTopic is Tier 2 (burst 3): the fourth books the next turn.
    const ids = await enqueue(...Array.from({ length: 4 }, (_, i): EffectSpec => ({ op: 'setTopic', args: { channel: GENERAL_CHANNEL_ID, topic: `b${i}` } })));
    const d = dispatcher(clock, paced);
    await d.runOnce();
    expect(slack.callsTo('conversations.setTopic')).toHaveLength(3);
    expect(asked).toBe(4);
    const turn = (await status(ids[3]!)).nextAttemptAt;
    expect(turn.getTime()).toBeGreaterThan(clock.now().getTime());
    // Claimed early (made due now: a clock that jumped, a replay): it goes back to its turn, the limiter not asked.
    await db.tx((tx) => tx.outboxEffect.update({ where: { id: ids[3]! }, data: { nextAttemptAt: clock.now() } }));
    expect(await d.runOnce()).toBe(1);
    expect(asked).toBe(4);
    expect(await status(ids[3]!)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: turn });
    expect(slack.callsTo('conversations.setTopic')).toHaveLength(3);
    // At its turn it goes, still without asking again.
    clock.set(turn);
    expect(await d.runOnce()).toBe(1);
    expect(asked).toBe(4);
    expect(slack.callsTo('conversations.setTopic')).toHaveLength(4);
    expect((await status(ids[3]!)).status).toBe('done');
  });
});
