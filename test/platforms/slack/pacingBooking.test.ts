import { describe, expect, it } from 'vitest';
import { RateLimiter, TIERS } from '../../../src/platforms/slack/rateLimits.ts';

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
