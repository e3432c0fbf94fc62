import { POST_MESSAGE_LIMITS, RATE_TIERS, type TierOptions } from './fakeSlack.ts';

/**
 * Slack's tiers as FakeSlack enforces them (the published numbers), with time compressed `scale` times: every rate
 * per minute ×scale, every burst as published. A burst is a count of calls, not a rate: FakeSlack's `scale`
 * multiplies bursts too (then floors them), so they are divided back here (+0.5 survives the floor). With
 * `{ scale }` alone chat.update would take 50 × scale calls at once and nothing would be rate limited.
 */
export function compressedTiers(scale: number): TierOptions {
  const burst = (n: number) => ({ burst: (n + 0.5) / scale });
  return {
    scale,
    tiers: { 1: burst(RATE_TIERS[1].burst), 2: burst(RATE_TIERS[2].burst), 3: burst(RATE_TIERS[3].burst), 4: burst(RATE_TIERS[4].burst) },
    postMessage: { perChannel: burst(POST_MESSAGE_LIMITS.perChannel.burst), workspace: burst(POST_MESSAGE_LIMITS.workspace.burst) },
  };
}
