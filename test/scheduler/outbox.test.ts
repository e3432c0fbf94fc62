import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { BOT_USER_ID, FakeSlack, GENERAL_CHANNEL_ID } from '../support/fakeSlack.ts';
import { migratedDatabase } from '../support/store.ts';
import { OutboxDispatcher } from '../../src/scheduler/outboxDispatcher.ts';
import { SlackChatPort } from '../../src/platforms/slack/chatPort.ts';
import { createWebClient } from '../../src/platforms/slack/webClient.ts';
import { claimEffects, enqueueEffects, listEffects, ref, replayEffects, type EffectSpec } from '../../src/store/outbox.ts';
import { ManualClock, systemClock, type Clock } from '../../src/domain/clock.ts';
import { sqlOf, type Database } from '../../src/store/db.ts';

let slack: FakeSlack;
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
const log = pino({ level: 'silent' });

function slackPort(): SlackChatPort {
  const port = new SlackChatPort(createWebClient('xoxb-test', slack.url), { pacing: false });
  port.botUserId = BOT_USER_ID;
  return port;
}

function dispatcher(owner = 'd1', opts: Partial<ConstructorParameters<typeof OutboxDispatcher>[3]> = {}, clock: Clock = systemClock, port = slackPort()) {
  return new OutboxDispatcher(db, clock, log, { owner, baseBackoffMs: 10, maxAttempts: 3, pollMs: 20, ...opts }).addPort(port);
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
    slack.addChannel({ name: 'inc-2-api', creator: 'UANA' });
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

  it('a claim leases by what it takes over: a fresh call, a call a dead replica left running (uncertain), a hook to retry (no new attempt)', async () => {
    const [fresh, taken, hook, busy] = await enqueue(...['fresh', 'taken', 'hook', 'busy'].map((text): EffectSpec => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text } })));
    const past = new Date(Date.now() - 1);
    await db.tx(async (tx) => {
      await tx.outboxEffect.update({ where: { id: taken! }, data: { status: 'running', attempts: 1, leasedBy: 'dead-replica', leaseUntil: past } });
      await tx.outboxEffect.update({ where: { id: hook! }, data: { status: 'hook', attempts: 1, result: '{"ok":true}' } });
    });
    const rows = await claimEffects(db, systemClock, 'd2', 10, 60_000, [busy!]);
    // In id order, the busy one (in flight in this process) left alone.
    expect(rows.map((r) => r.id)).toEqual([fresh, taken, hook]);
    const [a, b, c] = rows;
    expect(a).toMatchObject({ status: 'running', attempts: 1, uncertain: false, leasedBy: 'd2' });
    expect(b).toMatchObject({ status: 'running', attempts: 2, uncertain: true, leasedBy: 'd2' });
    expect(c).toMatchObject({ status: 'hooking', attempts: 1, uncertain: false, leasedBy: 'd2', result: '{"ok":true}' });
    for (const r of rows) expect(r.leaseUntil!.getTime()).toBeGreaterThan(Date.now() + 50_000);
    // What the claim returns is what it wrote.
    for (const r of rows) expect(await status(r.id)).toMatchObject({ status: r.status, attempts: r.attempts, uncertain: r.uncertain, leasedBy: 'd2' });
    // Leased: nobody claims them again until the lease runs out; the busy one is still free for another process.
    expect((await claimEffects(db, systemClock, 'd3', 10, 60_000)).map((r) => r.id)).toEqual([busy]);
  });

  // Both ways a claim selects on PostgreSQL (backlog: the walk; no backlog: one selection) take the same effects.
  it.each([true, false])('a claim takes the earliest due first, past effects that are not free, and stops at its limit whatever waits behind (backlog %s)', async (backlog) => {
    const at = (msAgo: number) => new Date(Date.now() - msAgo);
    const texts = ['late', 'early', 'blocked', 'middle', ...Array.from({ length: 40 }, (_, i) => `backlog ${i}`)];
    const ids = await enqueue(...texts.map((text): EffectSpec => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text } })));
    const [late, early, blocked, middle, ...waiting] = ids as number[];
    await db.tx(async (tx) => {
      for (const id of waiting) await tx.outboxEffect.update({ where: { id }, data: { nextAttemptAt: at(1_000) } });
      await tx.outboxEffect.update({ where: { id: late! }, data: { nextAttemptAt: at(500) } });
      await tx.outboxEffect.update({ where: { id: early! }, data: { nextAttemptAt: at(9_000) } });
      // due before all of them, but waiting for an effect that is still pending
      await tx.outboxEffect.update({ where: { id: blocked! }, data: { nextAttemptAt: at(10_000), dependsOnId: late! } });
      // a call a dead replica left running, its lease out 5 s ago: due then
      await tx.outboxEffect.update({ where: { id: middle! }, data: { status: 'running', attempts: 1, leasedBy: 'dead-replica', leaseUntil: at(5_000) } });
    });
    const claim = (limit: number) => claimEffects(db, systemClock, 'd2', limit, 60_000, [], { backlog });
    expect((await claim(2)).map((r) => r.id)).toEqual([early, middle]);
    // the backlog (due 1 s ago) in id order, then the late one
    expect((await claim(3)).map((r) => r.id)).toEqual(waiting.slice(0, 3));
    const rest = await claim(100);
    // (a claim's rows come back in id order: they start together)
    expect(rest.map((r) => r.id)).toEqual([late, ...waiting.slice(3)]);
    // once the one it waits for is done, the blocked one is free
    await db.tx((tx) => tx.outboxEffect.update({ where: { id: late! }, data: { status: 'done' } }));
    expect((await claim(100)).map((r) => r.id)).toEqual([blocked]);
  });

  // The claims an effect's end or a transaction's writes kick look only for what is due; leases that ran out are the
  // poll's (a look a second), see OutboxDispatcher.sweepExpired.
  it.each([true, false])('a claim told expired: false takes pending effects and hooks to retry, never a lease that ran out (backlog %s)', async (backlog) => {
    const [fresh, taken, hook, hooking] = await enqueue(...['fresh', 'taken', 'hook', 'hooking'].map((text): EffectSpec => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text } })));
    const past = new Date(Date.now() - 1_000);
    await db.tx(async (tx) => {
      await tx.outboxEffect.update({ where: { id: taken! }, data: { status: 'running', attempts: 1, leasedBy: 'dead-replica', leaseUntil: past } });
      await tx.outboxEffect.update({ where: { id: hook! }, data: { status: 'hook', attempts: 1, result: '{"ok":true}' } });
      await tx.outboxEffect.update({ where: { id: hooking! }, data: { status: 'hooking', attempts: 1, leasedBy: 'dead-replica', leaseUntil: past, result: '{"ok":true}' } });
    });
    const due = await claimEffects(db, systemClock, 'kicked', 10, 60_000, [], { backlog, expired: false });
    expect(due.map((r) => r.id)).toEqual([fresh, hook]);
    expect(await status(taken!)).toMatchObject({ status: 'running', leasedBy: 'dead-replica' });
    expect(await status(hooking!)).toMatchObject({ status: 'hooking', leasedBy: 'dead-replica' });
    // The poll's claim (expired left as it is) takes them over.
    const swept = await claimEffects(db, systemClock, 'poll', 10, 60_000, [], { backlog });
    expect(swept.map((r) => r.id)).toEqual([taken, hooking]);
    expect(swept.map((r) => r.leasedBy)).toEqual(['poll', 'poll']);
  });

  it('a polling dispatcher takes over a lease that ran out within a poll or two, while its own effects keep it claiming', async () => {
    const [stuck] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'left running' } });
    // Its lease runs out after the dispatcher's first claim (which looks for expired leases too).
    await db.tx((tx) => tx.outboxEffect.update({ where: { id: stuck! }, data: { status: 'running', attempts: 1, leasedBy: 'dead-replica', leaseUntil: new Date(Date.now() + 150) } }));
    const d = dispatcher('poller', { pollMs: 50 });
    d.start();
    try {
      // Effects of its own, written and kicked one after another meanwhile.
      for (let i = 0; i < 5; i++) {
        await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: `own ${i}` } });
        d.kick();
        await new Promise((r) => setTimeout(r, 20));
      }
      const deadline = Date.now() + 5_000;
      while ((await status(stuck!)).status !== 'done' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await d.stop();
    }
    expect(await status(stuck!)).toMatchObject({ status: 'done', leasedBy: 'poller', attempts: 2 });
    expect(slack.messages(GENERAL_CHANNEL_ID).filter((m) => m.text === 'left running')).toHaveLength(1);
  });

  it.each([true, false])('effects due at the same moment (one transaction wrote them) are claimed in id order, a limit at a time (backlog %s)', async (backlog) => {
    const ids = (await enqueue(...Array.from({ length: 20 }, (_, i): EffectSpec => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: `tie ${i}` } })))) as number[];
    const due = new Date(Date.now() - 1_000);
    // Written last first: where rows lie in the table (PostgreSQL's index keeps equal keys in that order) says nothing.
    await db.tx(async (tx) => {
      for (const id of [...ids].reverse()) await tx.outboxEffect.update({ where: { id }, data: { nextAttemptAt: due } });
    });
    const claim = () => claimEffects(db, systemClock, 'ties', 8, 60_000, [], { backlog });
    expect((await claim()).map((r) => r.id)).toEqual(ids.slice(0, 8));
    expect((await claim()).map((r) => r.id)).toEqual(ids.slice(8, 16));
    expect((await claim()).map((r) => r.id)).toEqual(ids.slice(16));
  });

  it('two dispatchers on one queue send each effect once', async () => {
    const ids = await enqueue(...Array.from({ length: 30 }, (_, i): EffectSpec => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: `m${i}` } })));
    await Promise.all([dispatcher('a').drain(), dispatcher('b').drain()]);
    const texts = slack.messages(GENERAL_CHANNEL_ID).map((m) => m.text);
    for (let i = 0; i < 30; i++) expect(texts.filter((t) => t === `m${i}`)).toHaveLength(1);
    for (const id of ids) expect((await status(id)).status).toBe('done');
  });
});

/** Runs due effects until none is left (a retry after a lost answer is due 10 ms later). */
async function settle(d: OutboxDispatcher) {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 15));
    await d.drain();
  }
}

describe('delivery: rate limits', () => {
  it('a 429 waits for Retry-After, spends no attempt and is never dead-lettered', async () => {
    // A second ahead of the wall clock the effects are written with: they are due at once.
    const clock = new ManualClock(new Date(Date.now() + 1000));
    slack.failNext('chat.postMessage', { status: 429, retryAfterSec: 2, times: 12 });
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'patient' } });
    const d = dispatcher('d1', { maxAttempts: 3 }, clock);
    for (let i = 0; i < 12; i++) {
      expect(await d.runOnce()).toBe(1);
      const row = await status(id!);
      expect(row).toMatchObject({ status: 'pending', attempts: 0, rateLimited: i + 1 });
      expect(row.nextAttemptAt.getTime() - clock.now().getTime()).toBe(2000);
      // Not before Retry-After.
      expect(await d.runOnce()).toBe(0);
      clock.advance(2000);
    }
    await d.drain();
    expect(await status(id!)).toMatchObject({ status: 'done', attempts: 1, rateLimited: 12 });
    expect(slack.messages(GENERAL_CHANNEL_ID).filter((m) => m.text === 'patient')).toHaveLength(1);
  });

  it('pacing defers a call that does not fit the tier, without spending an attempt', async () => {
    const clock = new ManualClock(new Date(Date.now() + 1000));
    const paced = new SlackChatPort(createWebClient('xoxb-test', slack.url), { pacing: { scale: 1 } });
    const ids = await enqueue(...Array.from({ length: 6 }, (_, i): EffectSpec => ({ op: 'setTopic', args: { channel: GENERAL_CHANNEL_ID, topic: `t${i}` } })));
    const d = dispatcher('d1', {}, clock, paced);
    await d.drain(2_000);
    // conversations.setTopic is Tier 2 (~20/min, burst 3): three go at once, the rest wait their turn.
    expect(slack.callsTo('conversations.setTopic')).toHaveLength(3);
    const waiting = await Promise.all(ids.map(status));
    expect(waiting.filter((r) => r.status === 'pending').every((r) => r.attempts === 0 && r.nextAttemptAt > clock.now())).toBe(true);
  });
});

describe('delivery: redraws coalesce and never go out of order', () => {
  it('while a redraw of a message waits, newer ones join it: one update sends the newest state', async () => {
    const [card] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'v0' } });
    await dispatcher().drain();
    const redraw = (v: number): EffectSpec => ({ op: 'updateMessage', after: card!, coalesce: `card:${card}`, args: { channel: GENERAL_CHANNEL_ID, ts: ref(card!, 'ts'), text: `v${v}` } });
    const ids = [];
    for (let v = 1; v <= 5; v++) ids.push(...(await enqueue(redraw(v))));
    // One row waits for all five: the later ones joined it.
    expect(new Set(ids).size).toBe(1);
    expect(await db.read((tx) => tx.outboxEffect.count({ where: { coalesceKey: `card:${card}` } }))).toBe(1);
    await dispatcher().drain();
    expect(slack.callsTo('chat.update')).toHaveLength(1);
  });

  it('a redraw queued while another of the same message is in flight runs after it, never beside it', async () => {
    const [card] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'v0' } });
    const d = dispatcher();
    await d.drain();
    const ts = JSON.parse((await status(card!)).result!).ts as string;
    const redraw = (v: number): EffectSpec => ({ op: 'updateMessage', after: card!, coalesce: `card:${card}`, args: { channel: GENERAL_CHANNEL_ID, ts: ref(card!, 'ts'), text: `v${v}` } });
    const held = slack.hold('chat.update');
    await enqueue(redraw(1));
    const first = d.drain(5_000);
    await held.arrived;
    const [second] = await enqueue(redraw(2));
    // In flight: the second may not start beside the first.
    expect(await d.runOnce()).toBe(0);
    expect((await status(second!)).status).toBe('pending');
    held.release();
    await first;
    await d.drain();
    expect(slack.callsTo('chat.update').map((c) => c.args.text)).toEqual(['v1', 'v2']);
    expect(slack.message(GENERAL_CHANNEL_ID, ts)?.text).toBe('v2');
  });
});

describe('delivery: dependencies', () => {
  it('an order-only dependency is released by a done or a dead effect', async () => {
    const ids = await enqueue(
      { op: 'setTopic', ref: 'gone', args: { channel: 'CNOPE', topic: 'x' } },
      { op: 'postMessage', ref: 'post', args: { channel: GENERAL_CHANNEL_ID, text: 'last words' } },
      { op: 'setTopic', afterAll: ['gone', 'post'], args: { channel: GENERAL_CHANNEL_ID, topic: 'after both' } },
    );
    await dispatcher().drain();
    expect((await status(ids[0]!)).status).toBe('dead');
    expect((await status(ids[2]!)).status).toBe('done');
    const order = slack.calls.map((c) => `${c.method}:${String(c.args.topic ?? c.args.text)}`);
    expect(order.indexOf('conversations.setTopic:after both')).toBeGreaterThan(order.indexOf('chat.postMessage:last words'));
  });

  it('a dead-lettered effect takes the effects that need its result with it, and replay brings them back', async () => {
    const ids = await enqueue(
      { op: 'postMessage', ref: 'card', args: { channel: 'CLATER', text: 'card' } },
      { op: 'pin', after: 'card', args: { channel: ref('card', 'channel'), ts: ref('card', 'ts') } },
    );
    await dispatcher().drain();
    expect(await status(ids[0]!)).toMatchObject({ status: 'dead' });
    expect(await status(ids[1]!)).toMatchObject({ status: 'dead', lastError: `dependency: effect ${ids[0]} is dead-lettered` });
    slack.addChannel({ id: 'CLATER', name: 'later' });
    expect(await replayEffects(db, systemClock, [ids[0]!])).toBe(2);
    await dispatcher().drain();
    expect((await status(ids[1]!)).status).toBe('done');
    expect(slack.pins('CLATER')).toHaveLength(1);
  });
});

describe('delivery: a call is never repeated for its hook', () => {
  it('a failing hook keeps the call and is retried alone', async () => {
    let hookRuns = 0;
    const d = dispatcher('d1', { maxAttempts: 5 }).addHook('flaky', async () => {
      hookRuns += 1;
      if (hookRuns < 3) throw new Error('the record is locked');
    });
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'with a hook' }, hook: { name: 'flaky' } });
    for (let i = 0; i < 50 && (await status(id!)).status !== 'done'; i++) {
      await d.runOnce();
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(await status(id!)).toMatchObject({ status: 'done' });
    expect(hookRuns).toBe(3);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it("the hook's writes and the effect's done commit together; a hook that fails leaves the call's result and none of its writes", async () => {
    let fail = true;
    const key = `hook-write-${Date.now()}`;
    // A back-off the checks below outlast (10 ms doubled, and the dispatcher's own claim after the run, on a busy
    // PostgreSQL, could find the hook due again before the first check: `hooking`).
    const d = dispatcher('d1', { maxAttempts: 5, baseBackoffMs: 100 }).addHook('writes', async (tx, { result }) => {
      await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', `${key}:${String(result.ts)}`, new Date());
      if (fail) throw new Error('the record is locked');
    });
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'hook writes' }, hook: { name: 'writes' } });
    await d.runOnce();
    // The call is on record (its result, status hook), the hook's write is not, and the effect is not done.
    const after = await status(id!);
    expect(after).toMatchObject({ status: 'hook', attempts: 2 });
    const ts = (JSON.parse(after.result!) as { ts: string }).ts;
    expect(ts).toBeTruthy();
    expect(await db.query('SELECT "key" FROM processed_requests WHERE "key" LIKE ?', `${key}%`)).toEqual([]);
    fail = false;
    for (let i = 0; i < 50 && (await status(id!)).status !== 'done'; i++) {
      await d.runOnce();
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(await status(id!)).toMatchObject({ status: 'done' });
    // The retried hook got the first call's result; the call was made once.
    expect(await db.query('SELECT "key" FROM processed_requests WHERE "key" LIKE ?', `${key}%`)).toEqual([{ key: `${key}:${ts}` }]);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('an effect another replica took over during its call: the hook writes nothing, and the effect is left to that replica', async () => {
    const key = `hook-lost-${Date.now()}`;
    let hookRuns = 0;
    // The done mark goes with the hook's first statement (on PostgreSQL): the hook may run, but what it wrote must
    // roll back once the mark is seen to have changed nothing.
    const d = dispatcher('d1', { maxAttempts: 5 }).addHook('lost', async (tx) => {
      hookRuns += 1;
      await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', key, new Date());
    });
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'taken over' }, hook: { name: 'lost' } });
    const held = slack.hold('chat.postMessage');
    const run = d.runOnce();
    await held.arrived;
    // This dispatcher's lease ran out while Slack took its time; another replica's claim took the effect over.
    expect(await db.run(`UPDATE outbox SET leased_by = 'd2', uncertain = ? WHERE id = ? AND leased_by = 'd1'`, true, id)).toBe(1);
    held.release();
    await run;
    expect(await db.query('SELECT "key" FROM processed_requests WHERE "key" = ?', key)).toEqual([]);
    // Untouched: still running for d2, no attempt spent, no error recorded, no result of d1's.
    expect(await status(id!)).toMatchObject({ status: 'running', leasedBy: 'd2', attempts: 1, lastError: null, result: null });
    expect(hookRuns).toBeLessThanOrEqual(1);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
  });
});

describe('delivery: an attempt with an unknown outcome is looked up, not repeated', () => {
  it('a post whose answer was lost is found by its metadata', async () => {
    const held = slack.hold('chat.postMessage');
    const [id] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'said once' } });
    // A back-off the check below outlasts (see the hook test above).
    const d = dispatcher('d1', { maxAttempts: 5, baseBackoffMs: 100 });
    const run = d.runOnce();
    await held.arrived;
    held.drop();
    await run;
    expect(await status(id!)).toMatchObject({ status: 'pending', uncertain: true });
    await settle(d);
    expect(await status(id!)).toMatchObject({ status: 'done', uncertain: false });
    expect(JSON.parse((await status(id!)).result!)).toMatchObject({ adopted: true });
    expect(slack.messages(GENERAL_CHANNEL_ID).filter((m) => m.text === 'said once')).toHaveLength(1);
  });

  it('a DM whose answer was lost is found by its metadata', async () => {
    const held = slack.hold('chat.postMessage');
    const [id] = await enqueue({ op: 'dm', args: { user: 'UANA', text: 'told once' } });
    const d = dispatcher('d1', { maxAttempts: 5 });
    const run = d.runOnce();
    await held.arrived;
    held.drop();
    await run;
    await settle(d);
    expect((await status(id!)).status).toBe('done');
    expect(slack.dms('UANA').filter((m) => m.text === 'told once')).toHaveLength(1);
  });

  it('a channel created by an attempt that never heard back is adopted, not duplicated', async () => {
    const held = slack.hold('conversations.create');
    const [id] = await enqueue({ op: 'createChannel', args: { name: 'inc-9-db', isPrivate: false } });
    const d = dispatcher('d1', { maxAttempts: 5 });
    const run = d.runOnce();
    await held.arrived;
    held.drop();
    await run;
    await settle(d);
    const channel = slack.channelByName('inc-9-db')!;
    expect(JSON.parse((await status(id!)).result!)).toMatchObject({ channel: channel.id, name: 'inc-9-db', adopted: true });
    expect(slack.allChannels().filter((c) => c.name.startsWith('inc-9-db'))).toHaveLength(1);
  });

  it('a channel the bot created that a record already owns is not adopted: the name gets a suffix', async () => {
    slack.addChannel({ name: 'inc-8-db', creator: BOT_USER_ID });
    const port = slackPort();
    port.channelOwned = async () => true;
    const [id] = await enqueue({ op: 'createChannel', args: { name: 'inc-8-db' } });
    await dispatcher('d1', {}, systemClock, port).drain();
    expect(JSON.parse((await status(id!)).result!)).toMatchObject({ name: 'inc-8-db-2' });
  });

  it('a bookmark and a file an earlier attempt added are found, not added twice', async () => {
    const [post] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'card' } });
    await dispatcher().drain();
    const ts = JSON.parse((await status(post!)).result!).ts as string;
    const ids = await enqueue(
      { op: 'bookmark', args: { channel: GENERAL_CHANNEL_ID, ts, title: 'INC-1 incident card' } },
      { op: 'uploadFile', args: { channel: GENERAL_CHANNEL_ID, content: '# review', filename: 'inc-1-postmortem.md', title: 'INC-1 review' } },
    );
    await dispatcher().drain();
    // Both went through, but as if nobody heard back: the next attempt must find them.
    await db.tx((tx) => tx.outboxEffect.updateMany({ where: { id: { in: ids } }, data: { status: 'pending', uncertain: true, result: null } }));
    await dispatcher().drain();
    for (const id of ids) expect(JSON.parse((await status(id)).result!)).toMatchObject({ adopted: true });
    expect(slack.bookmarks(GENERAL_CHANNEL_ID).filter((b) => b.title === 'INC-1 incident card')).toHaveLength(1);
    expect(slack.filesIn(GENERAL_CHANNEL_ID).filter((f) => f.name === 'inc-1-postmortem.md')).toHaveLength(1);
  });
});

describe('delivery: one bad user never keeps everyone out', () => {
  it('invites with force: the valid users join, each failing user is reported with the reason', async () => {
    // A multi-channel guest who may only join other channels: the fake answers as Slack does.
    slack.addUser({ id: 'UGUEST', name: 'gus', is_restricted: true, guest_channels: ['COTHER'] });
    slack.addUser({ id: 'UGONE', name: 'gone', deleted: true });
    slack.addUser({ id: 'UBEN', name: 'ben' });
    slack.addChannel({ id: 'CWAR', name: 'war-room', is_private: true });
    const [id] = await enqueue({ op: 'invite', args: { channel: 'CWAR', users: ['UANA', 'UGUEST', 'UGONE', 'UBEN'] } });
    await dispatcher().drain();
    const result = JSON.parse((await status(id!)).result!) as { invited: number; failed: { user: string; reason: string }[] };
    expect(slack.channel('CWAR')!.members).toEqual(expect.arrayContaining(['UANA', 'UBEN']));
    expect(result.invited).toBe(2);
    expect(result.failed.map((f) => f.user).sort()).toEqual(['UGONE', 'UGUEST']);
    expect(result.failed.every((f) => f.reason.length > 0)).toBe(true);
    expect(slack.callsTo('conversations.invite').every((c) => String(c.args.force) === 'true')).toBe(true);
  });

  it('expands user groups on their own: a missing group or a Free plan is reported, never fatal', async () => {
    slack.addUser({ id: 'USRE', name: 'sre1' });
    slack.addUsergroup('S0SRE', 'sre', ['USRE']);
    const [ok] = await enqueue({ op: 'expandGroups', args: { groups: ['S0SRE', 'S0GONE'] } });
    await dispatcher().drain();
    expect(JSON.parse((await status(ok!)).result!)).toEqual({ users: ['USRE'], failedGroups: [{ group: 'S0GONE', error: 'no_such_subteam', reason: 'no longer exists' }] });
    slack.setPlan('free');
    const [free] = await enqueue({ op: 'expandGroups', args: { groups: ['S0SRE'] } });
    await dispatcher().drain();
    expect(JSON.parse((await status(free!)).result!)).toEqual({
      users: [],
      failedGroups: [{ group: 'S0SRE', error: 'plan_upgrade_required', reason: 'cannot be expanded: user groups need a paid Slack plan' }],
    });
  });
});

describe('delivery: replies through response_url', () => {
  it('goes by DM once the response_url is used up or about to expire', async () => {
    const url = slack.responseUrl('r-old');
    const clock = new ManualClock(new Date());
    const issuedAt = clock.now().getTime();
    clock.advance(29 * 60_000 + 30_000);
    const [id] = await enqueue({ op: 'reply', args: { to: { platform: 'slack', handle: url, issuedAt }, fallbackUser: 'UANA', text: 'your war room is ready' } });
    // A dispatcher half an hour ahead: stopped once drained, so that no late kick of its own (a finished effect kicks
    // the next claim) takes the next test's effects with its clock.
    const ahead = dispatcher('ahead', {}, clock);
    await ahead.drain();
    await ahead.stop();
    expect(JSON.parse((await status(id!)).result!)).toMatchObject({ via: 'dm' });
    expect(slack.responsesTo('r-old')).toHaveLength(0);
    expect(slack.dms('UANA').some((m) => m.text === 'your war room is ready')).toBe(true);
  });

  it('forgets the response_urls it used once they expire, and still counts the uses of a live one', async () => {
    const port = slackPort();
    const t0 = Date.now();
    const reply = (id: string, issuedAt: number, now: number) =>
      port.perform(
        { op: 'reply', args: { to: { platform: 'slack', handle: slack.responseUrl(id), issuedAt }, fallbackUser: 'UANA', text: `to ${id}` } },
        { effectId: 1, uncertain: false, createdAt: new Date(now), workspaceId: 'slack:T0001', now: new Date(now) },
      );
    for (let i = 0; i < 3; i++) expect(await reply(`r-track-${i}`, t0, t0)).toEqual({ via: 'reply' });
    expect(port.responseUrlsTracked).toBe(3);
    // Five uses of one URL (one above, four here), then a DM: the count is kept while the URL lives.
    for (let i = 0; i < 4; i++) expect(await reply('r-track-0', t0, t0 + 60_000)).toEqual({ via: 'reply' });
    expect(await reply('r-track-0', t0, t0 + 60_000)).toMatchObject({ via: 'dm' });
    // Half an hour on, the first three have expired: a reply on a new URL leaves only it.
    const later = t0 + 30 * 60_000 + 1;
    expect(await reply('r-track-new', later, later)).toEqual({ via: 'reply' });
    expect(port.responseUrlsTracked).toBe(1);
  });

  it('goes by DM when Slack says the URL is spent', async () => {
    const url = slack.responseUrl('r-spent');
    slack.ageResponseUrl('r-spent', 31 * 60_000);
    const [id] = await enqueue({ op: 'reply', args: { to: { platform: 'slack', handle: url, issuedAt: Date.now() }, fallbackUser: 'UANA', text: 'still told' } });
    await dispatcher().drain();
    expect(JSON.parse((await status(id!)).result!)).toMatchObject({ via: 'dm' });
    expect(slack.dms('UANA').some((m) => m.text === 'still told')).toBe(true);
  });

  it('runs effects written under the old op names (respond, bookmarkMessage) by a version before the upgrade', async () => {
    const url = slack.responseUrl('r-legacy');
    const [post] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'card' } });
    await dispatcher().drain();
    const ts = JSON.parse((await status(post!)).result!).ts as string;
    const ids = await db.tx((tx) =>
      enqueueEffects(tx, systemClock, { platform: 'slack', workspaceId: 'slack:T0001' }, [
        { op: 'respond', args: { responseUrl: url, issuedAt: Date.now(), fallbackUser: 'UANA', text: 'from before the upgrade' } },
        { op: 'bookmarkMessage', args: { channel: GENERAL_CHANNEL_ID, ts, title: 'legacy bookmark' } },
      ]),
    );
    await dispatcher().drain();
    for (const id of ids) expect((await status(id)).status).toBe('done');
    expect(slack.responsesTo('r-legacy').map((r) => r.body.text)).toEqual(['from before the upgrade']);
    expect(slack.bookmarks(GENERAL_CHANNEL_ID).filter((b) => b.title === 'legacy bookmark')).toHaveLength(1);
  });

  it('dead-letters an op no port knows at once, naming it', async () => {
    const [id] = await db.tx((tx) => enqueueEffects(tx, systemClock, { platform: 'slack' }, [{ op: 'teleport', args: { channel: GENERAL_CHANNEL_ID } }]));
    await dispatcher().drain();
    const row = await status(id!);
    expect(row.status).toBe('dead');
    expect(row.lastError).toContain('unknown effect "teleport"');
  });
});

describe('delivery: a claim only when there may be work', () => {
  /**
   * The database, telling `seen` the text of each claim run on it (`FROM outbox o`): on SQLite a claim reads its
   * selection first (`query`); on PostgreSQL it is one `claim`.
   */
  function watchingClaims(seen: (sql: string) => void): Database {
    const claimed = (sql: string) => {
      if (/FROM outbox o\s/.test(sql)) seen(sql);
    };
    return {
      ...db,
      query: (sql, ...params) => {
        if (db.provider === 'sqlite') claimed(sql);
        return db.query(sql, ...params);
      },
      claim: (sql, ...params) => {
        if (db.provider === 'postgresql') claimed(sql);
        return db.claim(sql, ...params);
      },
    };
  }

  /** Waits (up to 3 s, far below the 60 s poll these dispatchers have) until the effect is done. */
  async function doneSoon(id: number) {
    for (let i = 0; i < 150 && (await status(id)).status !== 'done'; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await status(id)).status).toBe('done');
  }

  it('an effect that others wait for starts them as it ends, by its data, for order, or behind it (a redraw): no poll needed', async () => {
    const d = dispatcher('frees', { pollMs: 60_000 });
    d.start();
    try {
      // by its data: written while the post is in flight (its commit kicks a claim, which finds it waiting)
      const heldPost = slack.hold('chat.postMessage');
      const [post] = await enqueue({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'v0' } });
      d.kick();
      await heldPost.arrived;
      const [update] = await enqueue({ op: 'updateMessage', after: post!, args: { channel: GENERAL_CHANNEL_ID, ts: ref(post!, 'ts'), text: 'v1' } });
      d.kick();
      await new Promise((r) => setTimeout(r, 50));
      expect((await status(update!)).status).toBe('pending');
      heldPost.release();
      await doneSoon(update!);

      // behind it: a redraw of the same message queued while one is in flight
      const redraw = (v: number): EffectSpec => ({ op: 'updateMessage', after: post!, coalesce: `card:${post}`, args: { channel: GENERAL_CHANNEL_ID, ts: ref(post!, 'ts'), text: `v${v}` } });
      const heldUpdate = slack.hold('chat.update');
      const [first] = await enqueue(redraw(2));
      d.kick();
      await heldUpdate.arrived;
      const [second] = await enqueue(redraw(3));
      expect(second).not.toBe(first);
      d.kick();
      await new Promise((r) => setTimeout(r, 50));
      heldUpdate.release();
      await doneSoon(second!);

      // for order: written with it, claimed without it
      const [topic, after] = await enqueue(
        { op: 'setTopic', ref: 'topic', args: { channel: GENERAL_CHANNEL_ID, topic: 'first' } },
        { op: 'setTopic', afterAll: ['topic'], args: { channel: GENERAL_CHANNEL_ID, topic: 'then' } },
      );
      d.kick();
      await doneSoon(topic!);
      await doneSoon(after!);
    } finally {
      await d.stop();
    }
  });

  it.runIf(process.env.MUSTER_TEST_DB === 'postgresql')('on PostgreSQL a claim walks the statuses until a walk comes back short, and then selects the due effects in one go', async () => {
    const kinds: string[] = [];
    const counting = watchingClaims((sql) => kinds.push(sql.includes('UNION ALL') ? 'walk' : 'select'));
    // Not started: no poll; the claims are this test's and the ones the effects' ends ask for. (A selection slower than
    // 10 ms also makes the next claims walk: on a machine loaded by the other suite one can be; not this rule's test.)
    const d = new OutboxDispatcher(counting, systemClock, log, { owner: 'modes', pollMs: 60_000, selectionSlowMs: 60_000 }).addPort(slackPort());
    try {
      const ids = await enqueue(...['m1', 'm2', 'm3'].map((text): EffectSpec => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text } })));
      // Nothing known yet: a walk, which finds three of the eight it asks for.
      expect(await d.runOnce()).toBe(3);
      for (const id of ids) expect((await status(id)).status).toBe('done');
      expect(await d.runOnce()).toBe(0);
      expect(kinds[0]).toBe('walk');
      expect(kinds.length).toBeGreaterThan(1);
      expect(kinds.slice(1).every((k) => k === 'select')).toBe(true);
    } finally {
      await d.stop();
    }
  });

  it('an effect that frees none asks for no claim as it ends', async () => {
    let claims = 0;
    const counting = watchingClaims(() => {
      claims += 1;
    });
    // Not started: no poll, and no claim but the ones asked for here.
    const d = new OutboxDispatcher(counting, systemClock, log, { owner: 'quiet', pollMs: 60_000 }).addPort(slackPort());
    try {
      const before = claims;
      const ids = await enqueue(...['a', 'b', 'c'].map((text): EffectSpec => ({ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text } })));
      d.kick();
      for (const id of ids) await doneSoon(id);
      await new Promise((r) => setTimeout(r, 100));
      // One claim took all three; none of them freed another, so none asked for more.
      expect(claims - before).toBe(1);
    } finally {
      await d.stop();
    }
  });
});
