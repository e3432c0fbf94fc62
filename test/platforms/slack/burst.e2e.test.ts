import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, SIGNING_SECRET, type Harness } from '../../support/harness.ts';
import { FakeSlack, TEAM_ID, type FakeMessage } from '../../support/fakeSlack.ts';
import { compressedTiers } from '../../support/tiers.ts';
import { blockAction, post } from '../../support/slackRequests.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { systemClock } from '../../../src/domain/clock.ts';
import { ACTIONS } from '../../../blocks/actionIds.ts';

/**
 * A burst of approval clicks against Slack's published rate tiers (issue: 30 clicks on 10 production requests in
 * 10 s made 785 chat.update calls, 748 answered 429; 83 redraws were dead-lettered after 8 attempts and cards kept
 * a stale state). Here: a 429 is not a failure, superseded redraws are dropped, calls are paced per method, and
 * every copy of every card ends in its final state with nothing dead-lettered.
 */

/**
 * Time runs this many times faster than in Slack: the fake's rates and Muster's pacing both. At 10, the 30 clicks
 * (about 1.5 s here) stand for the 30 clicks in 10 to 15 s, and the coalesced redraws still go beyond
 * chat.update's burst: without pacing Slack answers some of them 429. Faster (30) and they fit in the burst.
 */
const SCALE = 10;

const DEV = 'UDEV'; // requester
const RM = 'URM'; // release_manager
const CTO = 'UCTO'; // cto
const SEC = 'USEC'; // security_lead
const TL = 'UTL'; // tech_lead: eligible, gets a DM copy, never clicks
const APPROVERS = [RM, CTO, SEC];
const USERS = [DEV, RM, CTO, SEC, TL].map((id) => ({ id, name: id.slice(1).toLowerCase() }));
// Windows and freezes are not enforced: it runs on the system clock, at any hour (deployWindows.e2e.test.ts tests them).
const policy = parsePolicyText(['approvals:', '  channel: "#approvals"', 'changes:', '  enforcedIn: []'].join('\n')).policy!;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setUp(h: Harness): Promise<void> {
  h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['cto', CTO],
    ['security_lead', SEC],
    ['tech_lead', TL],
  ] as const) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
}

/** Effects not finished yet (pending, running, or a hook left). */
const openEffects = (h: Harness) => h.muster.db.read((tx) => tx.outboxEffect.count({ where: { status: { notIn: ['done', 'dead'] } } }));

/** Waits (polling the database) until the outbox has nothing left to do; the loops run it. Returns when. */
async function outboxEmpty(h: Harness, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await openEffects(h);
    if (open === 0) return performance.now();
    if (Date.now() > deadline) {
      const rows = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { status: { notIn: ['done', 'dead'] } }, take: 5 }));
      throw new Error(`outbox still has ${open} open effects after ${timeoutMs} ms, e.g. ${JSON.stringify(rows.map((r) => [r.id, r.op, r.status, r.attempts, r.lastError]))}`);
    }
    await sleep(25);
  }
}

/** Every copy (channel, approvals channel, DMs) of a request's card, as Slack shows it now. */
async function copiesOf(h: Harness, requestId: string): Promise<{ place: string; channel: string; ts: string }[]> {
  return h.muster.db.read(async (tx) => {
    const cards = await tx.approvalCard.findMany({ where: { requestId } });
    const posts = await tx.outboxEffect.findMany({ where: { id: { in: cards.map((c) => c.effectId) } } });
    return cards.map((c) => {
      const r = JSON.parse(posts.find((p) => p.id === c.effectId)?.result ?? '{}') as { channel: string; ts: string };
      return { place: c.place, channel: r.channel, ts: r.ts };
    });
  });
}

/** The final state: Approved, each approver named, no buttons left. */
function isFinal(m: FakeMessage | undefined): boolean {
  if (!m?.blocks) return false;
  const json = JSON.stringify(m.blocks);
  return json.includes('*Approved*') && APPROVERS.every((u) => json.includes(`<@${u}>`)) && !(m.blocks as { type?: string }[]).some((b) => b.type === 'actions') && m.text.endsWith('— Approved');
}

describe('a burst of approval clicks within the published rate tiers', () => {
  let h: Harness;
  beforeAll(async () => {
    const slack = await FakeSlack.start({ tiers: compressedTiers(SCALE) });
    h = await startHarness({ policy, users: USERS, clock: systemClock, loops: true, slackPacing: { scale: SCALE }, slack });
    await setUp(h);
  });
  afterAll(async () => h?.close());

  it('30 clicks on 10 production requests: every copy of every card ends Approved, nothing dead, few calls, no 429 storm', async () => {
    // 10 production requests, one after another (each: a card in #general, in #approvals, and a DM to each of 4
    // approvers); their cards are posted while the next ones arrive.
    const created = [];
    for (let i = 0; i < 10; i++) created.push(await h.command('/approval', `deploy production api 3.0.${i} burst`, DEV));
    for (const c of created) expect(c.reply.text, `${c.status} ${c.body}`).toMatch(/^APR-\d+ requested: Deploy api 3\.0\.\d to production/);
    await outboxEmpty(h, 30_000);
    const requests = await h.muster.db.read((tx) => tx.approvalRequest.findMany({ where: { status: 'pending' }, orderBy: { number: 'asc' } }));
    expect(requests).toHaveLength(10);
    const copies = new Map<string, { place: string; channel: string; ts: string }[]>();
    for (const r of requests) copies.set(r.id, await copiesOf(h, r.id));
    const perRequest = copies.get(requests[0]!.id)!.length;
    expect(
      copies
        .get(requests[0]!.id)!
        .map((c) => c.place)
        .sort(),
    ).toEqual(['approvals-channel', 'channel', 'dm', 'dm', 'dm', 'dm']);
    const postPhase429 = h.slack.rateLimited();

    // 30 clicks as fast as they can come, spread over the requests: a wave of 10 release managers at once, then 10
    // CTOs, then 10 security leads, each wave sent as soon as the one before was acknowledged (Slack wants the ack
    // within 3 s: 30 at once on a loaded machine can miss it, and that is not what this test is about).
    const lastIdBefore = (await h.muster.db.read((tx) => tx.outboxEffect.findFirst({ orderBy: { id: 'desc' }, select: { id: true } })))!.id;
    const updatesBefore = h.slack.callsTo('chat.update').length;
    const all = () => [...copies.values()].flat();
    const t0 = performance.now();
    let allFinalAt: number | undefined;
    const watcher = (async () => {
      while (allFinalAt === undefined && performance.now() - t0 < 60_000) {
        if (all().every((c) => isFinal(h.slack.message(c.channel, c.ts)))) allFinalAt = performance.now();
        else await sleep(5);
      }
    })();
    let n = 0;
    const clicks = APPROVERS.flatMap((user) => requests.map((r) => ({ user, requestId: r.id, id: `burst-${++n}` })));
    const answers = [];
    for (const user of APPROVERS) {
      const wave = clicks.filter((c) => c.user === user);
      answers.push(
        ...(await Promise.all(
          wave.map((c) =>
            post(
              h.muster.url,
              blockAction({ actionId: ACTIONS.approval.approve, value: c.requestId, userId: c.user, teamId: TEAM_ID, channelId: 'C0GENERAL', responseUrl: h.slack.responseUrl(c.id) }),
              { secret: SIGNING_SECRET },
            ),
          ),
        )),
      );
    }
    const clickMs = performance.now() - t0;
    for (const a of answers) expect(a.status).toBe(200);
    const drainedAt = await outboxEmpty(h, 60_000);
    await watcher;

    // Every click was taken (told so on its response_url), and every vote counted.
    for (const c of clicks) {
      const said = JSON.stringify((await h.slack.waitFor(() => h.slack.responsesTo(c.id).at(-1), 5_000)).body);
      expect(said, c.id).toMatch(/Your approval of APR-\d+ is in|approved — all 3 approvals are in/);
    }
    expect(await h.muster.db.read((tx) => tx.approvalVote.count())).toBe(30);
    expect(await h.muster.db.read((tx) => tx.approvalRequest.count({ where: { status: 'approved' } }))).toBe(10);

    // Every copy of every card shows the final state; nothing was dead-lettered.
    const stale = all().filter((c) => !isFinal(h.slack.message(c.channel, c.ts)));
    expect(stale, JSON.stringify(stale.slice(0, 3).map((c) => h.slack.message(c.channel, c.ts)?.text))).toEqual([]);
    expect(allFinalAt).toBeDefined();
    const dead = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { status: 'dead' } }));
    expect(dead.map((d) => `${d.op}: ${d.lastError}`)).toEqual([]);

    // Calls: far fewer than one redraw per copy per click (the old 785 for 30 clicks was 26 a click), and each redraw
    // that was written was sent once (a 429 is waited out, never a new attempt).
    const updates = h.slack.callsTo('chat.update').slice(updatesBefore);
    const updatesOk = updates.filter((c) => c.status === 200 && c.response?.ok === true).length;
    const redraws = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { op: 'updateMessage', id: { gt: lastIdBefore } } }));
    const asked = clicks.length * perRequest; // each accepted vote asks for a redraw of every copy
    const figures = {
      clicks: clicks.length,
      copies: all().length,
      redrawsAsked: asked,
      redrawEffectsWritten: redraws.length,
      chatUpdateCalls: updates.length,
      chatUpdatePerClick: Number((updates.length / clicks.length).toFixed(2)),
      chatUpdate429: updates.filter((c) => c.status === 429).length,
      http429All: h.slack.rateLimited(),
      http429ByMethod: Object.fromEntries(['chat.update', 'chat.postMessage', 'conversations.open'].map((m) => [m, h.slack.rateLimited(m)])),
      http429WhilePosting: postPhase429,
      http429WhileClicking: h.slack.rateLimited() - postPhase429,
      rateLimitedRows: redraws.reduce((s, r) => s + r.rateLimited, 0),
      maxAttemptsOfARedraw: Math.max(...redraws.map((r) => r.attempts)),
      clicksAnsweredMs: Math.round(clickMs),
      allCardsFinalMs: Math.round(allFinalAt! - t0),
      outboxEmptyMs: Math.round(drainedAt - t0),
    };
    console.log(`burst figures (tiers ×${SCALE} faster): ${JSON.stringify(figures)}`);
    expect(redraws.every((r) => r.status === 'done')).toBe(true);
    expect(updatesOk).toBe(redraws.length);
    // Superseded redraws were dropped: a copy redrawn while an older redraw still waited got no effect of its own.
    expect(redraws.length).toBeLessThan(asked);
    expect(updates.length).toBeLessThanOrEqual(asked);
    expect(updates.length / clicks.length).toBeLessThan(perRequest);
    // The limiter keeps Slack's 429s near zero (Retry-After stays the safety net). Without it, this burst drew ~20
    // 429s on chat.update and ~40 in all while clicking. chat.postMessage allows a burst of only 2 a channel (the
    // requester's 10 outcome DMs share one): a call reaching the fake later than its token was taken (this process
    // also runs the fake and, on SQLite, every query on its event loop) can still meet an empty bucket, which at
    // 10× time is a few tens of ms of slack per call; a few such 429s on SQLite (none on PostgreSQL) are expected.
    const clickPhase429 = h.slack.rateLimited() - postPhase429;
    expect(h.slack.rateLimited('chat.update')).toBeLessThanOrEqual(2);
    expect(clickPhase429).toBeLessThanOrEqual(10);
    expect(figures.maxAttemptsOfARedraw).toBeLessThanOrEqual(1);
  }, 120_000);
});

describe('a 429 storm', () => {
  let h: Harness;
  beforeAll(async () => {
    // A low attempt limit: counted as failures (as before the fix), three 429s in a row dead-lettered a redraw here;
    // with OutboxDispatcher.fail's rate_limited branch taken out, 6 redraws died after 18 of the 30 429s.
    h = await startHarness({ policy, users: USERS, clock: systemClock, loops: true, slackPacing: { scale: SCALE }, dispatcher: { maxAttempts: 3 } });
    await setUp(h);
  });
  afterAll(async () => h?.close());

  it('never dead-letters a redraw and never spends its attempts: only rate_limited climbs', async () => {
    const r = await h.command('/approval', 'deploy production web 9.9.9', DEV);
    expect(r.reply.text).toMatch(/^APR-1 requested/);
    await outboxEmpty(h, 15_000);
    const req = await h.muster.db.read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: 1 } }));
    const copies = await copiesOf(h, req.id);
    const lastIdBefore = (await h.muster.db.read((tx) => tx.outboxEffect.findFirst({ orderBy: { id: 'desc' }, select: { id: true } })))!.id;
    // Five 429s per copy: more than the three attempts an effect has.
    const storm = copies.length * 5;
    h.slack.failNext('chat.update', { status: 429, retryAfterSec: 1, times: storm });

    const click = await post(h.muster.url, blockAction({ actionId: ACTIONS.approval.approve, value: req.id, userId: RM, teamId: TEAM_ID, responseUrl: h.slack.responseUrl('storm') }), {
      secret: SIGNING_SECRET,
    });
    expect(click.status).toBe(200);
    // Watch the redraw rows while the storm lasts: attempts never climb, rate_limited does.
    const seen: { attempts: number; rateLimited: number; status: string }[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const rows = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { op: 'updateMessage', id: { gt: lastIdBefore } } }));
      seen.push(...rows.map((x) => ({ attempts: x.attempts, rateLimited: x.rateLimited, status: x.status })));
      if (rows.length === copies.length && rows.every((x) => x.status === 'done' || x.status === 'dead')) break;
      if (Date.now() > deadline) throw new Error(`redraws not finished: ${JSON.stringify(rows.map((x) => [x.status, x.attempts, x.rateLimited]))}`);
      await sleep(50);
    }
    const rows = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { op: 'updateMessage', id: { gt: lastIdBefore } } }));
    expect(h.slack.callsTo('chat.update').filter((c) => c.status === 429)).toHaveLength(storm);
    expect(rows.map((x) => x.status)).toEqual(copies.map(() => 'done'));
    expect(rows.reduce((s, x) => s + x.rateLimited, 0)).toBe(storm);
    // Some copy took more 429s than it has attempts (by pigeonhole), yet each ends on its first counted attempt.
    expect(Math.max(...rows.map((x) => x.rateLimited))).toBeGreaterThan(3);
    expect(rows.map((x) => x.attempts)).toEqual(copies.map(() => 1));
    expect(Math.max(...seen.map((s) => s.attempts))).toBeLessThanOrEqual(1);
    expect(seen.some((s) => s.status !== 'done' && s.rateLimited >= 2)).toBe(true);
    for (const c of copies) expect(JSON.stringify(h.slack.message(c.channel, c.ts)?.blocks), c.place).toContain('*Pending* · 1/3');
    expect(await h.muster.db.read((tx) => tx.outboxEffect.count({ where: { status: 'dead' } }))).toBe(0);
  }, 60_000);
});
