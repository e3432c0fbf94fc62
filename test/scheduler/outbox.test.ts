import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { FakeSlack, GENERAL_CHANNEL_ID } from '../support/fakeSlack.ts';
import { migratedDatabase } from '../support/store.ts';
import { OutboxDispatcher } from '../../src/scheduler/outboxDispatcher.ts';
import { SlackChatPort } from '../../src/platforms/slack/chatPort.ts';
import { createWebClient } from '../../src/platforms/slack/webClient.ts';
import { enqueueEffects, listEffects, ref, replayEffects, type EffectSpec } from '../../src/store/outbox.ts';
import { systemClock } from '../../src/domain/clock.ts';
import type { Database } from '../../src/store/db.ts';

let slack: FakeSlack;
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
const log = pino({ level: 'silent' });

function dispatcher(owner = 'd1', opts: Partial<ConstructorParameters<typeof OutboxDispatcher>[3]> = {}) {
  return new OutboxDispatcher(db, systemClock, log, { owner, baseBackoffMs: 10, maxAttempts: 3, pollMs: 20, ...opts }).addPort(
    new SlackChatPort(createWebClient('xoxb-test', slack.url), { pacing: false }),
  );
}

async function enqueue(...effects: EffectSpec[]) {
  return db.tx((tx) => enqueueEffects(tx, systemClock, { platform: 'slack', workspaceId: 'slack:T0001', requestId: 'r1' }, effects));
}

async function status(id: number) {
  return db.read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id } }));
}

beforeAll(async () => {
  slack = await FakeSlack.start();
  slack.addUser({ id: 'UANA', name: 'ana' });
  ctx = await migratedDatabase();
  db = ctx.db;
});
afterAll(async () => {
  await ctx.close();
  await slack.close();
});
beforeEach(() => slack.reset());

describe('outbox dispatcher', () => {
  it('does nothing for effects whose transaction rolled back', async () => {
    await expect(
      db.tx(async (tx) => {
        await enqueueEffects(tx, systemClock, { platform: 'slack' }, [{ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'never' } }]);
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('state change failed');
    const d = dispatcher();
    expect(await d.runOnce()).toBe(0);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(0);
  });

  it('runs dependent effects in order, passing results along, and independent ones in parallel', async () => {
    // Slow calls make overlap visible: parallel calls answer together, chained ones 200 ms apart.
    slack.setLatency(200);
    const ids = await enqueue(
      { op: 'createChannel', ref: 'ch', args: { name: 'inc-1-db-down', isPrivate: false } },
      { op: 'invite', after: 'ch', args: { channel: ref('ch', 'channel'), users: ['UANA'] } },
      { op: 'setTopic', after: 'ch', args: { channel: ref('ch', 'channel'), topic: 'INC-1' } },
      { op: 'postMessage', after: 'ch', ref: 'card', args: { channel: ref('ch', 'channel'), text: 'card' } },
      { op: 'pin', after: 'card', args: { channel: ref('card', 'channel'), ts: ref('card', 'ts') } },
    );
    await dispatcher().drain();
    const channel = slack.channelByName('inc-1-db-down')!;
    expect(channel.members).toContain('UANA');
    expect(channel.topic.value).toBe('INC-1');
    expect(slack.pins(channel.id)).toHaveLength(1);
    for (const id of ids) expect((await status(id)).status).toBe('done');
    expect(JSON.parse((await status(ids[0]!)).result!)).toMatchObject({ channel: channel.id, name: 'inc-1-db-down' });
    const at = (m: string) => slack.callsTo(m)[0]!.at;
    // create → (invite | topic | post, together) → pin.
    const middle = ['conversations.invite', 'conversations.setTopic', 'chat.postMessage'].map(at);
    expect(Math.max(...middle) - Math.min(...middle)).toBeLessThan(150);
    expect(Math.min(...middle) - at('conversations.create')).toBeGreaterThanOrEqual(190);
    expect(at('pins.add') - Math.max(...middle)).toBeGreaterThanOrEqual(190);
    const order = slack.calls.map((c) => c.method);
    expect(order.indexOf('conversations.create')).toBeLessThan(order.indexOf('conversations.invite'));
    expect(order.indexOf('chat.postMessage')).toBeLessThan(order.indexOf('pins.add'));
  });

  it('adds a numeric suffix when a channel name is taken', async () => {
    slack.addChannel({ name: 'inc-2-api' });
    const [id] = await enqueue({ op: 'createChannel', args: { name: 'inc-2-api' } });
    await dispatcher().drain();
    expect(JSON.parse((await status(id!)).result!)).toMatchObject({ name: 'inc-2-api-2' });
  });

  it('honours Retry-After on 429 and then succeeds', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfterSec: 1 });
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'after the limit' } });
    const d = dispatcher();
    await d.runOnce();
    const waiting = await status(id!);
    expect(waiting.status).toBe('pending');
    expect(waiting.lastError).toContain('ratelimited');
    const delay = waiting.nextAttemptAt.getTime() - waiting.updatedAt.getTime();
    expect(delay).toBe(1000);
    // Not before Retry-After has passed.
    expect(await d.runOnce()).toBe(0);
    await new Promise((r) => setTimeout(r, 1050));
    await d.drain();
    expect((await status(id!)).status).toBe('done');
    expect(slack.messages(GENERAL_CHANNEL_ID).map((m) => m.text)).toContain('after the limit');
  });

  it('retries 5xx with backoff', async () => {
    slack.failNext('chat.postMessage', { status: 503, times: 2 });
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'eventually' } });
    const d = dispatcher('d1', { maxAttempts: 5 });
    for (let i = 0; i < 50 && (await status(id!)).status !== 'done'; i++) {
      await d.runOnce();
      await new Promise((r) => setTimeout(r, 15));
    }
    const row = await status(id!);
    expect(row.status).toBe('done');
    expect(row.attempts).toBe(3);
  });

  it('dead-letters after the last attempt or at once on a permanent error, and replays', async () => {
    slack.failNext('chat.postMessage', { status: 500, times: 10 });
    const [flaky] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'flaky' } });
    const [gone] = await enqueue({ op: 'setTopic', args: { channel: 'CNOPE', topic: 'nowhere' } });
    const d = dispatcher('d1', { maxAttempts: 3 });
    for (let i = 0; i < 40 && ((await status(flaky!)).status !== 'dead' || (await status(gone!)).status !== 'dead'); i++) {
      await d.runOnce();
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(await status(flaky!)).toMatchObject({ status: 'dead', attempts: 3 });
    expect(await status(gone!)).toMatchObject({ status: 'dead', attempts: 1, lastError: expect.stringContaining('channel_not_found') });
    const dead = await listEffects(db, ['dead']);
    expect(dead.map((r) => r.id)).toEqual(expect.arrayContaining([flaky, gone]));

    slack.reset();
    expect(await replayEffects(db, systemClock, [flaky!])).toBe(1);
    await d.drain();
    expect((await status(flaky!)).status).toBe('done');
    expect((await status(gone!)).status).toBe('dead');
  });

  it('resumes effects a crashed replica left running once its lease expires', async () => {
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'resumed' } });
    // A replica claims it and dies before finishing.
    await db.tx((tx) => tx.outboxEffect.update({ where: { id: id! }, data: { status: 'running', leasedBy: 'dead-replica', leaseUntil: new Date(Date.now() - 1) } }));
    await dispatcher('d2').drain();
    expect(await status(id!)).toMatchObject({ status: 'done', leasedBy: 'd2' });
    expect(slack.messages(GENERAL_CHANNEL_ID).filter((m) => m.text === 'resumed')).toHaveLength(1);
  });

  it('two dispatchers on one queue send each effect once', async () => {
    const ids = await enqueue(...Array.from({ length: 30 }, (_, i) => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: `m${i}` } })));
    await Promise.all([dispatcher('a').drain(), dispatcher('b').drain()]);
    const texts = slack.messages(GENERAL_CHANNEL_ID).map((m) => m.text);
    for (let i = 0; i < 30; i++) expect(texts.filter((t) => t === `m${i}`)).toHaveLength(1);
    for (const id of ids) expect((await status(id)).status).toBe('done');
  });
});
