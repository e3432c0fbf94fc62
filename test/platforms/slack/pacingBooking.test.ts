import { describe, expect, it } from 'vitest';
import { budgetsFor, POST_PER_CHANNEL, RateLimiter, TIERS } from '../../../src/platforms/slack/rateLimits.ts';

/**
 * Booked turns: a call that must wait takes its tokens now (the bucket goes into debt) and is told when its turn
 * comes, so waiting calls get turns one refill apart instead of all the same moment.
 */
const uses = [{ key: 'T1:chat.update', budget: TIERS[3] }];
const refillMs = 60_000 / (TIERS[3].perMinute * 0.9);

describe('RateLimiter booking', () => {
  it('the burst goes at once; then each booked call gets the next turn, one refill after the one before', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter({ now: () => now });
    const waits = Array.from({ length: 10 }, () => limiter.reserve(uses, { book: true }));
    expect(waits.slice(0, TIERS[3].burst)).toEqual(Array(TIERS[3].burst).fill(0));
    const booked = waits.slice(TIERS[3].burst);
    booked.forEach((w, i) => expect(w).toBeCloseTo((i + 1) * refillMs, -1));
    // Time passes to the last booked turn: the budget is spent until then, so the next call books the turn after it.
    now += booked.at(-1)!;
    expect(limiter.reserve(uses, { book: true })).toBeCloseTo(refillMs, -1);
  });

  it('without booking, every waiting call is told the same moment and nothing is taken', () => {
    const now = 2_000_000;
    const limiter = new RateLimiter({ now: () => now });
    for (let i = 0; i < TIERS[3].burst; i++) expect(limiter.reserve(uses)).toBe(0);
    const waits = Array.from({ length: 4 }, () => limiter.reserve(uses));
    expect(new Set(waits).size).toBe(1);
    expect(waits[0]).toBeCloseTo(refillMs, -1);
  });
});

describe('RateLimiter background calls', () => {
  const background = { book: true, background: true };

  it('take a token only while the bucket keeps one more, and book no turn: a booking call finds the turns free', () => {
    const now = 4_000_000;
    const limiter = new RateLimiter({ now: () => now });
    const waits = Array.from({ length: TIERS[3].burst + 3 }, () => limiter.reserve(uses, background));
    // All but one of the burst go at once; the last token is left for the others.
    expect(waits.slice(0, TIERS[3].burst - 1)).toEqual(Array(TIERS[3].burst - 1).fill(0));
    // The ones that wait are told turns one refill apart, from when a spare token is back, and took nothing.
    const told = waits.slice(TIERS[3].burst - 1);
    for (const [i, w] of told.entries()) expect(w).toBeCloseTo((i + 1) * refillMs, -1);
    // A call that books finds the token that was left: it goes at once, and the next one books the next refill.
    expect(limiter.reserve(uses, { book: true })).toBe(0);
    expect(limiter.reserve(uses, { book: true })).toBeCloseTo(refillMs, -1);
  });

  it('told to come back, a background call goes then if nothing booked meanwhile, and waits behind what did', () => {
    let now = 5_000_000;
    const limiter = new RateLimiter({ now: () => now });
    for (let i = 0; i < TIERS[3].burst; i++) expect(limiter.reserve(uses, { book: true })).toBe(0);
    const wait = limiter.reserve(uses, background);
    expect(wait).toBeCloseTo(2 * refillMs, -1); // a spare token: two refills from empty
    now += wait;
    expect(limiter.reserve(uses, background)).toBe(0);
    // It left one token. Three calls book meanwhile (a channel's copies): the first takes that token, the other two
    // book the next two refills; the next background call waits for those and for a spare token: four refills.
    for (let i = 0; i < 3; i++) limiter.reserve(uses, { book: true });
    expect(limiter.reserve(uses, background)).toBeCloseTo(4 * refillMs, -1);
  });
  it('a budget without a spare token (a burst of 1) still lets them go, one refill apart', () => {
    let now = 6_000_000;
    const limiter = new RateLimiter({ now: () => now });
    const tier1 = [{ key: 'T1:tier1.method', budget: TIERS[1] }];
    const tier1RefillMs = 60_000 / (TIERS[1].perMinute * 0.9);
    expect(limiter.reserve(tier1, background)).toBe(0);
    const wait = limiter.reserve(tier1, background);
    expect(wait).toBeCloseTo(tier1RefillMs, -1);
    now += wait;
    expect(limiter.reserve(tier1, background)).toBe(0);
  });
});

describe('RateLimiter memory', () => {
  // A channel's own budget (budgetsFor adds the workspace's, which would make most of these posts wait and keep nothing).
  const post = (channel: string) => budgetsFor('chat.postMessage', 'T1', channel).filter((u) => u.budget === POST_PER_CHANNEL);
  const perChannelRefillMs = 60_000 / (POST_PER_CHANNEL.perMinute * 0.9);

  it('forgets the buckets that have refilled, and keeps those still spent', () => {
    let now = 3_000_000;
    const limiter = new RateLimiter({ now: () => now });
    // A channel whose budget is spent and booked a turn ahead: its bucket is in debt.
    for (let i = 0; i < POST_PER_CHANNEL.burst; i++) expect(limiter.reserve(post('CBUSY'))).toBe(0);
    const busyTurn = limiter.reserve(post('CBUSY'), { book: true });
    expect(busyTurn).toBeGreaterThan(0);
    // One post to each of 998 other channels: 999 buckets, one short of the first sweep.
    for (let i = 0; i < 998; i++) expect(limiter.reserve(post(`C${i}`))).toBe(0);
    expect(limiter.size).toBe(999);
    // Long enough for a channel that posted once to refill, not for the one in debt.
    now += 2 * perChannelRefillMs;
    expect(2 * perChannelRefillMs).toBeLessThan(busyTurn + perChannelRefillMs);
    for (let i = 0; i < 999; i++) limiter.reserve(post(`D${i}`));
    // The first sweep (at 1,000) dropped the 998 refilled channels, kept the spent one; then the new ones were added.
    expect(limiter.size).toBe(1 + 999);
    // The channel in debt still waits for its booked turn's successor: its bucket was kept.
    expect(limiter.reserve(post('CBUSY'))).toBeGreaterThan(0);
  });

  it('stays bounded by the channels posted to lately, however many were posted to in all', () => {
    let now = 4_000_000;
    const limiter = new RateLimiter({ now: () => now });
    let most = 0;
    for (let minute = 0; minute < 50; minute++) {
      for (let i = 0; i < 500; i++) limiter.reserve(post(`C${minute}-${i}`));
      most = Math.max(most, limiter.size);
      now += 60_000;
    }
    // 25,000 channels posted to in all, 500 a minute: never more than a few minutes' worth held.
    expect(most).toBeLessThanOrEqual(2_100);
  });
});
