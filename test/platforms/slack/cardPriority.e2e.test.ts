import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, ADMIN, SIGNING_SECRET, type Harness } from '../../support/harness.ts';
import { stuckEffects } from '../../support/store.ts';
import { FakeSlack, TEAM_ID } from '../../support/fakeSlack.ts';
import { compressedTiers } from '../../support/tiers.ts';
import { blockAction, post } from '../../support/slackRequests.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { systemClock } from '../../../src/domain/clock.ts';
import { ACTIONS } from '../../../blocks/actionIds.ts';

/**
 * A production deploy that 40 tech leads may approve: its card is in #general, in #approvals and in 43 DMs (the 40,
 * and the release manager, CTO and security lead), and every vote redraws every copy with chat.update (Tier 3,
 * about 45 a minute paced). The copies in channels, which everyone watches, show each vote before the DMs, which
 * one person each sees: the DMs' redraws take only spare tokens and book no turn (SlackChatPort.reservation). Before,
 * the first vote's 43 DM redraws booked 43 turns, and the channel's copy, redrawn for the next vote, waited behind all
 * of them: it showed "Approved" 4.7 s (47 s of Slack's time) after the last vote, the DMs 5.9 s after it.
 */
const SCALE = 10; // Slack's time ×10 faster, as in burst.e2e.test.ts
const DEV = 'UDEV';
const RM = 'URM';
const CTO = 'UCTO';
const SEC = 'USEC';
const TECH_LEADS = Array.from({ length: 40 }, (_, i) => `UTL${String(i).padStart(2, '0')}`);
const policy = parsePolicyText(['approvals:', '  channel: "#approvals"', 'changes:', '  enforcedIn: []'].join('\n')).policy!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
beforeAll(async () => {
  const slack = await FakeSlack.start({ tiers: compressedTiers(SCALE) });
  const users = [DEV, RM, CTO, SEC, ...TECH_LEADS].map((id) => ({ id, name: id.slice(1).toLowerCase() }));
  h = await startHarness({ policy, users, clock: systemClock, loops: true, slackPacing: { scale: SCALE }, slack });
  h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
  const grants: [string, string][] = [['release_manager', RM], ['cto', CTO], ['security_lead', SEC], ...TECH_LEADS.map((u): [string, string] => ['tech_lead', u])];
  for (const [role, user] of grants) expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
}, 120_000);
afterAll(async () => h?.close());

const openEffects = () => h.muster.db.read((tx) => tx.outboxEffect.count({ where: { status: { notIn: ['done', 'dead'] } } }));
const pacingWaits = async (op: string) =>
  (await h.muster.metrics.outboxPacingWait.get()).values.find((v) => v.metricName === 'muster_outbox_pacing_wait_seconds_count' && v.labels.op === op)?.value ?? 0;

it('three votes in a row: the channels show the decision within a turn of the last vote, the 43 DMs after them', async () => {
  await h.command('/approval', 'deploy production api 9.9.9 priority', DEV);
  while ((await openEffects()) > 0) await sleep(25);
  const req = await h.muster.db.read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { status: 'pending' } }));
  const cards = await h.muster.db.read((tx) => tx.approvalCard.findMany({ where: { requestId: req.id } }));
  const posts = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { id: { in: cards.map((c) => c.effectId) } } }));
  const copies = cards.map((c) => ({ place: c.place, ...(JSON.parse(posts.find((p) => p.id === c.effectId)!.result!) as { channel: string; ts: string }) }));
  expect(copies.filter((c) => c.place === 'dm')).toHaveLength(43);
  const updatesBefore = h.slack.callsTo('chat.update').length;
  const waitsBefore = await pacingWaits('updateMessage');

  const t0 = performance.now();
  const finalAt = new Map<(typeof copies)[number], number>();
  const watcher = (async () => {
    while (finalAt.size < copies.length && performance.now() - t0 < 60_000) {
      for (const c of copies) if (!finalAt.has(c) && h.slack.message(c.channel, c.ts)?.text.endsWith('— Approved')) finalAt.set(c, performance.now() - t0);
      await sleep(5);
    }
  })();
  // The three approvers click on their DMs, 0.3 s (3 s of Slack's time) apart.
  for (const [i, user] of [RM, CTO, SEC].entries()) {
    const mine = copies.find((c) => c.place === 'dm' && h.slack.dms(user).some((m) => m.ts === c.ts))!;
    const r = await post(
      h.muster.url,
      blockAction({ actionId: ACTIONS.approval.approve, value: req.id, userId: user, teamId: TEAM_ID, channelId: mine.channel, messageTs: mine.ts, responseUrl: h.slack.responseUrl(`priority-${i}`) }),
      { secret: SIGNING_SECRET },
    );
    expect(r.status).toBe(200);
    if (i < 2) await sleep(300);
  }
  const lastVote = performance.now() - t0;
  await watcher;
  while ((await openEffects()) > 0) await sleep(25);

  expect((await h.muster.db.read((tx) => tx.approvalRequest.findUniqueOrThrow({ where: { id: req.id } }))).status).toBe('approved');
  expect(finalAt.size, 'every copy ends Approved').toBe(copies.length);
  const after = (c: (typeof copies)[number]) => finalAt.get(c)! - lastVote;
  const channels = copies.filter((c) => c.place !== 'dm').map(after);
  const dms = copies.filter((c) => c.place === 'dm').map(after);
  const updates = h.slack.callsTo('chat.update').slice(updatesBefore);
  const waits = (await pacingWaits('updateMessage')) - waitsBefore;
  const figures = { channelsMs: channels.map(Math.round), dmsFirstLastMs: [Math.round(Math.min(...dms)), Math.round(Math.max(...dms))], chatUpdates: updates.length, pacingWaits: waits };
  console.log(`card priority (tiers ×${SCALE} faster), after the last vote: ${JSON.stringify(figures)}`);
  // The channels' copies are redrawn in the first turns after the last vote, long before the DMs are all redrawn.
  for (const ms of channels) expect(ms, JSON.stringify(figures)).toBeLessThan(0.4 * Math.max(...dms));
  // Redraws told to wait come back one refill apart, not all at once again and again.
  expect(waits).toBeLessThan(3 * updates.length);
  expect(h.slack.rateLimited('chat.update')).toBeLessThanOrEqual(2);
  expect(await stuckEffects(h.muster.db)).toEqual([]);
}, 120_000);
