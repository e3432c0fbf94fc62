import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/harness.ts';

/**
 * App Home (views.publish, Tier 4, shared by the workspace) is published at most once per person per interval: a
 * burst of openings gets one publish at once and one at the interval's end, drawn then, so it shows what changed.
 */
const A = 'UALICE';
const B = 'UBOB';
const INTERVAL = 3_000;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ homeMinIntervalMs: INTERVAL, users: [A, B].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
});
afterAll(async () => h?.close());

const publishes = (user: string) => h.slack.callsTo('views.publish').filter((c) => c.args.user_id === user);
const open = (user: string, n: number) => h.event({ type: 'app_home_opened', user, channel: `D${user}`, tab: 'home', event_ts: `${Date.now()}.${n}` });

it('five openings in a burst: one publish at once, one at the end of the interval showing the newest state; each person on their own', async () => {
  await open(A, 1);
  expect(publishes(A)).toHaveLength(1);
  expect(JSON.stringify(h.slack.homeView(A))).not.toContain('Throttle check');

  for (let i = 2; i <= 5; i++) await open(A, i);
  await open(B, 1);
  expect(publishes(A)).toHaveLength(1);
  expect(publishes(B)).toHaveLength(1);
  // Something changes within the interval: the publish at its end must show it.
  expect((await h.command('/incident', 'declare P2 Throttle check', A)).status).toBe(200);

  await h.slack.waitFor(() => publishes(A).length > 1 || undefined, INTERVAL + 2_000);
  // Nothing more arrives: the four openings became one publish.
  await new Promise((r) => setTimeout(r, INTERVAL + 300));
  expect(publishes(A)).toHaveLength(2);
  expect(publishes(B)).toHaveLength(1);
  expect(JSON.stringify(h.slack.homeView(A))).toContain('Throttle check');

  // Past the interval, an opening publishes at once again.
  await new Promise((r) => setTimeout(r, INTERVAL));
  await open(A, 6);
  expect(publishes(A)).toHaveLength(3);
});

it('the publish at the end of the interval is tried again when Slack refuses it for a while (429, then 500)', async () => {
  // Past any earlier interval of A's.
  await new Promise((r) => setTimeout(r, INTERVAL));
  const before = publishes(A).length;
  await open(A, 10);
  await open(A, 11);
  expect(publishes(A)).toHaveLength(before + 1);
  expect((await h.command('/incident', 'declare P3 Retried home', A)).status).toBe(200);
  // The publish at the interval's end meets a rate limit (Retry-After 1 s), then an internal error; the third try lands.
  h.slack.failNext('views.publish', { status: 429, retryAfterSec: 1 });
  h.slack.failNext('views.publish', { status: 500 });
  await h.slack.waitFor(() => publishes(A).filter((c) => c.status === 200).length > before + 1 || undefined, INTERVAL * 3 + 3_000);
  const tried = publishes(A).slice(before + 1);
  expect(tried.map((c) => c.status)).toEqual([429, 500, 200]);
  // The 429 was waited out (Retry-After 1 s), not retried at once.
  expect(tried[1]!.at - tried[0]!.at).toBeGreaterThanOrEqual(950);
  expect(JSON.stringify(h.slack.homeView(A))).toContain('Retried home');
}, 30_000);
