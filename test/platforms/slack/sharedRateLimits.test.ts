import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/db.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { openDatabase, type Database } from '../../../src/store/db.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { budgetsFor, POST_PER_CHANNEL, RateLimiter, SharedRateLimiter, TIERS, type BudgetUse } from '../../../src/platforms/slack/rateLimits.ts';

/**
 * The rate budget held in the database (rate_buckets): two limiters stand for two replicas. On PostgreSQL each has
 * its own connection pool, as two replicas would; on SQLite (one process per file) they share the one handle.
 */

const TIER3 = TIERS[3]; // 50 a minute, burst 5
/** One token of Tier 3 at 90 % of 50 a minute: 60 000 / 45 ms. */
const TIER3_TOKEN_MS = Math.ceil(60_000 / (50 * 0.9));

let tdb: TestDatabase;
let dbA: Database;
let dbB: Database;
const clock = new ManualClock('2026-03-02T10:00:00.000Z');
let n = 0;
/** A workspace of its own for each test: buckets are keyed by workspace. */
let ws = '';

beforeAll(async () => {
  tdb = await createTestDatabase();
  await migrate(tdb.url);
  dbA = await openDatabase(tdb.url);
  dbB = tdb.provider === 'postgresql' ? await openDatabase(tdb.url) : dbA;
});
afterAll(async () => {
  await dbA?.close();
  if (dbB !== dbA) await dbB?.close();
  await tdb?.drop();
});
beforeEach(() => {
  ws = `T${++n}`;
});

const replicas = () => [new SharedRateLimiter(dbA, clock), new SharedRateLimiter(dbB, clock)] as const;

describe('SharedRateLimiter: one budget for every replica on the database', () => {
  it('10 reservations alternating between two replicas at one instant: the burst of 5 goes, the other 5 wait', async () => {
    const [a, b] = replicas();
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) waits.push(await (i % 2 ? b : a).reserve(budgetsFor('chat.update', ws)));
    expect(waits.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(waits.slice(5).every((w) => w > 0)).toBe(true);
    // Each replica alone would have let 5 through: it is the shared budget that held the second five.
    const alone = new RateLimiter({ now: () => clock.now().getTime() });
    expect(Array.from({ length: 5 }, () => alone.reserve(budgetsFor('chat.update', ws)))).toEqual([0, 0, 0, 0, 0]);
  });

  it('reservations racing from both replicas at once never take the same token', async () => {
    const [a, b] = replicas();
    const waits = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).reserve(budgetsFor('chat.update', ws))));
    expect(waits.filter((w) => w === 0)).toHaveLength(TIER3.burst);
    expect(waits.filter((w) => w > 0)).toHaveLength(20 - TIER3.burst);
  });

  it('refills by the clock: an empty bucket answers the wait for one token, and a token is there after it', async () => {
    const [a, b] = replicas();
    for (let i = 0; i < TIER3.burst; i++) expect(await a.reserve(budgetsFor('chat.update', ws))).toBe(0);
    const wait = await b.reserve(budgetsFor('chat.update', ws));
    expect(wait).toBe(TIER3_TOKEN_MS);
    clock.advance(wait - 1);
    expect(await a.reserve(budgetsFor('chat.update', ws))).toBe(1);
    clock.advance(1);
    expect(await b.reserve(budgetsFor('chat.update', ws))).toBe(0);
    // That token is spent for both.
    expect(await a.reserve(budgetsFor('chat.update', ws))).toBeGreaterThan(0);
    // Refilling stops at the burst, however long nothing was called.
    clock.advance(60 * 60_000);
    const after: number[] = [];
    for (let i = 0; i < TIER3.burst + 1; i++) after.push(await (i % 2 ? a : b).reserve(budgetsFor('chat.update', ws)));
    expect(after.filter((w) => w === 0)).toHaveLength(TIER3.burst);
  });

  it('answers as the in-process limiter does, call for call', async () => {
    const [a] = replicas();
    const mem = new RateLimiter({ now: () => clock.now().getTime() });
    const calls: (() => BudgetUse[])[] = [
      () => budgetsFor('conversations.create', ws),
      () => budgetsFor('chat.postMessage', ws, 'C1'),
      () => budgetsFor('chat.postMessage', ws, 'C2'),
      () => budgetsFor('chat.update', ws),
    ];
    for (let step = 0; step < 40; step++) {
      const uses = calls[step % calls.length]!();
      // Within 1 ms: SQLite can give a stored token count back a few units in the last place off (Prisma binds it as
      // text), which can tip a wait's rounding up to the next millisecond.
      const [shared, local] = [await a.reserve(uses), mem.reserve(uses)];
      expect(Math.abs(shared - local), `step ${step}: ${shared} and ${local}`).toBeLessThanOrEqual(1);
      expect(shared === 0, `step ${step}`).toBe(local === 0);
      clock.advance(step % 3 === 0 ? 250 : 40);
    }
  });

  it('chat.postMessage takes from the channel and the workspace budget, from both or from neither', async () => {
    const [a, b] = replicas();
    const workspaceKey = `${ws}:chat.postMessage`;
    const tokens = async (key: string) =>
      Number((await dbA.read((tx) => tx.$queryRawUnsafe<{ tokens: number }[]>(`SELECT tokens FROM rate_buckets WHERE "key" = ${tdb.provider === 'postgresql' ? '$1' : '?'}`, key)))[0]?.tokens);
    // The channel's burst (2) goes; the third post to it waits, and takes nothing from the workspace's budget.
    expect(await a.reserve(budgetsFor('chat.postMessage', ws, 'C1'))).toBe(0);
    expect(await b.reserve(budgetsFor('chat.postMessage', ws, 'C1'))).toBe(0);
    const before = await tokens(workspaceKey);
    expect(await a.reserve(budgetsFor('chat.postMessage', ws, 'C1'))).toBeGreaterThan(0);
    expect(await tokens(workspaceKey)).toBe(before);
    expect(await tokens(`${ws}:chat.postMessage:C1`)).toBeLessThan(1);
    // Another channel still posts, and that post is taken from the workspace's budget too.
    expect(await b.reserve(budgetsFor('chat.postMessage', ws, 'C2'))).toBe(0);
    expect(await tokens(workspaceKey)).toBe(before - 1);
    expect(POST_PER_CHANNEL.burst).toBe(2);

    // With the workspace's budget empty, a channel that has tokens waits, and keeps them.
    const tight = [
      { key: `${ws}:tight`, budget: { perMinute: 60, burst: 1 } },
      { key: `${ws}:tight:C3`, budget: { perMinute: 60, burst: 2 } },
    ];
    expect(await a.reserve(tight)).toBe(0);
    expect(await b.reserve(tight)).toBeGreaterThan(0);
    expect(await tokens(`${ws}:tight:C3`)).toBe(1);
  });

  it('a replica whose clock is behind refills nothing and does not move a bucket back in time', async () => {
    const behind = new ManualClock(clock.now().getTime() - 5_000);
    const [a] = replicas();
    const late = new SharedRateLimiter(dbB, behind);
    expect(await a.reserve(budgetsFor('chat.update', ws))).toBe(0);
    expect(await late.reserve(budgetsFor('chat.update', ws))).toBe(0);
    // Had the late replica set the bucket 5 s back, the next call would refill those 5 s (3.75 tokens) again.
    const next: number[] = [];
    for (let i = 0; i < TIER3.burst; i++) next.push(await a.reserve(budgetsFor('chat.update', ws)));
    expect(next.filter((w) => w === 0)).toHaveLength(TIER3.burst - 2);
    // Empty now: the late replica's clock, 5 s behind the bucket, refills nothing of it.
    expect(await late.reserve(budgetsFor('chat.update', ws))).toBe(TIER3_TOKEN_MS);
  });
});
