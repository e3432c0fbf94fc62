import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { ACTIONS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { stuckEffects } from '../../support/store.ts';

/**
 * The copy of a card whose button was clicked is redrawn through the click's response_url (replace_original),
 * not chat.update: the other copies spend chat.update's budget, the clicked one does not. When the response_url
 * can no longer be used, the copy is redrawn with chat.update after all.
 */
const DEV = 'UDEV';
const RM = 'URM';
const CTO = 'UCTO';
const SEC = 'USEC';

const policy = parsePolicyText(['approvals:', '  channel: "#approvals"', 'changes:', '  enforcedIn: []'].join('\n')).policy!;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy, clock: new ManualClock(new Date()), users: [DEV, RM, CTO, SEC].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['cto', CTO],
    ['security_lead', SEC],
  ] as const) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterAll(async () => h?.close());

const db = () => h.muster.db;

/** Every copy of request n's card: where it was posted. */
async function copies(n: number) {
  const req = await db().read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: n } }));
  const rows = await db().read((tx) => tx.approvalCard.findMany({ where: { requestId: req.id } }));
  const effects = await db().read((tx) => tx.outboxEffect.findMany({ where: { id: { in: rows.map((r) => r.effectId) } } }));
  return {
    id: req.id,
    copies: effects.map((e) => {
      const r = JSON.parse(e.result ?? '{}') as { channel: string; ts: string };
      return { place: rows.find((x) => x.effectId === e.id)!.place, channel: r.channel, ts: r.ts };
    }),
  };
}

const updatesOf = (channel: string, ts: string, since: number) =>
  h.slack
    .callsTo('chat.update')
    .slice(since)
    .filter((c) => c.args.channel === channel && c.args.ts === ts);

async function newRequest(): Promise<number> {
  const r = await h.command('/approval', 'deploy production api 9.9.9 click redraw', DEV, { channelId: 'C0GENERAL' });
  const m = /APR-(\d+)/.exec(r.reply.text ?? '');
  expect(m, r.reply.text).not.toBeNull();
  await h.flush();
  return Number(m![1]);
}

describe('the clicked card copy is redrawn through the response_url', () => {
  it('a vote on the channel card: that copy by replace_original, every other copy by chat.update, nothing stuck', async () => {
    const n = await newRequest();
    const { copies: all } = await copies(n);
    expect(all.length).toBeGreaterThanOrEqual(4); // the channel, #approvals, one DM per approver
    const clicked = all.find((c) => c.channel === 'C0GENERAL')!;
    const others = all.filter((c) => c !== clicked);
    const before = h.slack.callsTo('chat.update').length;

    const res = await h.click(ACTIONS.approval.approve, (await copies(n)).id, RM, { channelId: clicked.channel, messageTs: clicked.ts });
    expect(res.status).toBe(200);
    expect(await h.lastSaid()).toContain(`Your approval of APR-${n} is in`);
    await h.flush();

    const redraws = h.slack.responsesTo(h.lastClickUrl()).filter((r) => (r.body as { replace_original?: boolean }).replace_original === true);
    expect(redraws).toHaveLength(1);
    // The clicked copy shows the vote, and chat.update never touched it.
    expect(JSON.stringify(h.slack.message(clicked.channel, clicked.ts)?.blocks)).toContain('1/3');
    expect(updatesOf(clicked.channel, clicked.ts, before)).toHaveLength(0);
    for (const o of others) {
      expect(updatesOf(o.channel, o.ts, before), o.place).toHaveLength(1);
      expect(JSON.stringify(h.slack.message(o.channel, o.ts)?.blocks), o.place).toContain('1/3');
    }
    expect(await stuckEffects(db())).toEqual([]);
  });

  it('a response_url used up before the redraw: the clicked copy is redrawn with chat.update instead', async () => {
    const n = await newRequest();
    const { id, copies: all } = await copies(n);
    const clicked = all.find((c) => c.channel === 'CAPPROVALS')!;
    const before = h.slack.callsTo('chat.update').length;

    // Slack refuses a response_url past its 5 uses or 30 minutes (HTTP 404 in the fake, see slackWorkspace.ts): both
    // posts on this click's URL, the confirmation and the redraw, whichever goes first, are refused.
    h.slack.failNext('response_url', { status: 404, error: 'expired_url', times: 2 });
    await h.click(ACTIONS.approval.approve, id, CTO, { channelId: clicked.channel, messageTs: clicked.ts });
    await h.flush();
    await h.slack.waitFor(() => updatesOf(clicked.channel, clicked.ts, before).length > 0 || undefined);

    expect(updatesOf(clicked.channel, clicked.ts, before)).toHaveLength(1);
    expect(JSON.stringify(h.slack.message(clicked.channel, clicked.ts)?.blocks)).toContain('1/3');
    expect(await stuckEffects(db())).toEqual([]);
  });

  it('a click on a message that is no card copy (a stale click) redraws every copy with chat.update', async () => {
    const n = await newRequest();
    const { id, copies: all } = await copies(n);
    const before = h.slack.callsTo('chat.update').length;
    await h.click(ACTIONS.approval.approve, id, SEC, { channelId: 'C0GENERAL', messageTs: '1000000000.000001' });
    await h.lastSaid();
    await h.flush();
    for (const c of all) expect(updatesOf(c.channel, c.ts, before), c.place).toHaveLength(1);
    expect(await stuckEffects(db())).toEqual([]);
  });
});
