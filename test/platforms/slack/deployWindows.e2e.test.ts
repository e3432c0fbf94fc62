import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stateValue } from '../../support/slackRequests.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { verifyChain } from '../../../src/store/audit.ts';

/**
 * `/approval deploy` keeps to the windows and freezes of change control, end to end through signed
 * requests: a deployment outside a window or inside a freeze is held (no approvers asked, nothing
 * expiring), its card offers "Ask for an exception", an approved exception releases it to its own chain
 * flagged, a refused or expired one rejects it, break-glass and cancel work on it, and environments
 * where windows are not enforced are unchanged. The organisation is in Europe/Berlin.
 */
const DEV = 'UDEV'; // the requester
const RM = 'URM'; // release_manager (manage_changes, freeze_changes)
const CTO = 'UCTO'; // cto (break_glass)
const SEC = 'USEC'; // security_lead
const TL = 'UTL'; // tech_lead
const OPS = 'UOPS'; // oncall
const CHANNEL = 'CDEPLOYS';

const policy = parsePolicyText(['organization:', '  timeZone: Europe/Berlin', 'approvals:', '  channel: "#approvals"'].join('\n')).policy!;
// Saturday 5 December 2026, 03:00 in Berlin (CET, UTC+1).
const clock = new ManualClock(new Date('2026-12-05T02:00:00Z'));
const at = (iso: string) => clock.set(new Date(iso));
const unix = (iso: string) => Math.floor(Date.parse(iso) / 1000);

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy, clock, users: [DEV, RM, CTO, SEC, TL, OPS].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: CHANNEL, name: 'deploys' });
  h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['cto', CTO],
    ['security_lead', SEC],
    ['tech_lead', TL],
    ['oncall', OPS],
  ]) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
const request = (n: number) => db().read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: n } }));
const deploy = async (args: string, user = DEV) => {
  const r = await h.command('/approval', `deploy ${args}`, user, { channelId: CHANNEL });
  await h.flush();
  return r.reply.text ?? '';
};
const click = async (action: string, value: string, user: string) => {
  await h.click(action, value, user, { channelId: CHANNEL });
  await h.flush();
  const said = JSON.parse(await h.lastSaid()) as { text?: string } | string;
  return (typeof said === 'string' ? said : (said.text ?? '')).replace(/^:warning: /, '');
};
/** Every copy of a request's card: where it is, and the message as Slack shows it now. */
async function copies(n: number) {
  const req = await request(n);
  const rows = await db().read((tx) => tx.approvalCard.findMany({ where: { requestId: req.id } }));
  const effects = await db().read((tx) => tx.outboxEffect.findMany({ where: { id: { in: rows.map((r) => r.effectId) } } }));
  return rows.map((row) => {
    const e = effects.find((x) => x.id === row.effectId)!;
    const { channel, ts } = JSON.parse(e.result ?? '{}') as { channel: string; ts: string };
    return { place: row.place, userId: row.userId, message: h.slack.message(channel, ts)! };
  });
}
const channelCard = async (n: number) => JSON.stringify((await copies(n)).find((c) => c.place === 'channel')!.message.blocks);
const buttons = (blocks: string) => blocks.match(/"type":"button","text":\{"type":"plain_text","text":"([^"]+)"/g)?.map((x) => x.replace(/.*"text":"/, '').replace(/"$/, '')) ?? [];
const timersOf = async (n: number) => {
  const req = await request(n);
  return db().read((tx) => tx.timer.findMany({ where: { subjectType: 'approval', subjectId: req.id, status: 'pending' }, orderBy: { dueAt: 'asc' } }));
};
const auditOf = (ref: string) => db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: ref }, orderBy: { seq: 'asc' } }));
const dmsAbout = (user: string, ref: string) => h.slack.dms(user).filter((m) => `${m.text ?? ''}${JSON.stringify(m.blocks ?? [])}`.includes(ref));
const hold = async (n: number) =>
  JSON.parse((await request(n)).holdReason ?? 'null') as { problems: string[]; nextOpen: { start: string; end: string } | null; releasedAt?: string; exception?: string } | null;
async function home(user: string) {
  const before = h.slack.callsTo('views.publish').length;
  await h.event({ type: 'app_home_opened', user, channel: 'D1', tab: 'home', event_ts: String(Date.now()) });
  await h.slack.waitFor(() => h.slack.callsTo('views.publish').length > before || undefined);
  return JSON.stringify(h.slack.homeView(user));
}

describe('outside a window: held, with the next open slot and "Ask for an exception"', () => {
  it('a production deploy on Saturday 03:00 (Berlin) is held: the reply names the rule and the next open slot, Monday 10:00 local', async () => {
    const text = await deploy('production api 2.4.1 hotfix for checkout');
    expect(text).toMatch(/^APR-1 is \*held\*: Deploy api 2.4.1 to production cannot go now — outside the deployment windows: Saturday has none/);
    // Monday 7 December 10:00 in Berlin is 09:00 UTC; the slot is a deployment's length (30m).
    expect(text).toContain(`The next open slot is <!date^${unix('2026-12-07T09:00:00Z')}^`);
    expect(text).toContain(`<!date^${unix('2026-12-07T09:30:00Z')}^`);
    expect(text).toContain('*Ask for an exception*');
    const req = await request(1);
    expect(req).toMatchObject({ status: 'held', environment: 'production', decidedAt: null });
    expect(await hold(1)).toEqual({ problems: [expect.stringContaining('Saturday has none')], nextOpen: { start: '2026-12-07T09:00:00.000Z', end: '2026-12-07T09:30:00.000Z' } });
  });

  it('nobody is asked and nothing is armed: the card is posted where it was asked, with the button and no Approve', async () => {
    const places = (await copies(1)).map((c) => c.place);
    expect(places).toEqual(['channel']);
    const card = await channelCard(1);
    expect(buttons(card)).toEqual(['Ask for an exception']);
    expect(card).toContain('Held');
    expect(card).toContain('Saturday has none');
    expect(card).toContain(`<!date^${unix('2026-12-07T09:00:00Z')}^`);
    for (const u of [RM, CTO, SEC, TL]) expect(dmsAbout(u, 'APR-1')).toEqual([]);
    expect(await timersOf(1)).toEqual([]);
    const audit = await auditOf('APR-1');
    expect(audit.map((a) => a.action)).toEqual(['approval.request']);
    expect(JSON.parse(audit[0]!.after!)).toMatchObject({ status: 'held', problems: [expect.stringContaining('Saturday has none')], nextOpen: '2026-12-07T09:00:00.000Z' });
  });

  it('a held request cannot be voted on (refused, audited)', async () => {
    const req = await request(1);
    expect(await click(ACTIONS.approval.approve, req.id, RM)).toContain('APR-1: it is held by a window or a freeze');
    const denied = await db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'APR-1', outcome: 'denied' } }));
    expect(denied.map((d) => d.reason)).toEqual(['held']);
    expect(await db().read((tx) => tx.approvalVote.count({ where: { requestId: req.id } }))).toBe(0);
  });

  it('dev and uat, where windows are not enforced, are unchanged at the same hour', async () => {
    expect(await deploy('dev api 2.4.1')).toContain('APR-2: Deploy api 2.4.1 to dev — approved automatically');
    expect(await deploy('uat api 2.4.1')).toMatch(/^APR-3 requested: Deploy api 2.4.1 to uat\. Needs qa_lead/);
    expect((await request(3)).status).toBe('pending');
    expect((await request(3)).holdReason).toBeNull();
    expect((await h.command('/approval', 'cancel APR-3', DEV, { channelId: CHANNEL })).reply.text).toBe('APR-3 cancelled.');
  });

  it('a held request neither expires nor escalates while it waits, however long', async () => {
    at('2026-12-06T20:00:00Z'); // Sunday 21:00, 42 hours later: past the 24h expiry and every escalation step
    await h.tick();
    await h.flush();
    expect((await request(1)).status).toBe('held');
    for (const u of [RM, CTO, SEC, TL, DEV]) expect(dmsAbout(u, 'APR-1')).toEqual([]);
    expect((await auditOf('APR-1')).map((a) => a.action)).not.toContain('approval.expired');
  });
});

describe('Ask for an exception', () => {
  it('only the requester (or a holder of manage_changes) may ask', async () => {
    const req = await request(1);
    expect(await click(ACTIONS.approval.exception, req.id, TL)).toContain('Only the requester (<@UDEV>) or a holder of manage_changes can ask for an exception for APR-1');
    expect(await db().read((tx) => tx.approvalRequest.count({ where: { kind: 'exception' } }))).toBe(0);
  });

  it('the requester asks: an exception request goes to the exception approvers (cto + release_manager) with its card; asking twice says so', async () => {
    const req = await request(1);
    expect(await click(ACTIONS.approval.exception, req.id, DEV)).toBe('Exception asked for APR-1 (APR-4): it needs cto and release_manager, who are asked. APR-1 stays held until then.');
    const exc = await request(4);
    expect(exc).toMatchObject({ kind: 'exception', subjectType: 'approval', subjectId: req.id, status: 'pending', requesterId: req.requesterId, channelId: CHANNEL });
    expect(exc.expiresAt.toISOString()).toBe('2026-12-07T20:00:00.000Z'); // changes.exceptions.ttl: 24h
    expect((await copies(4)).map((c) => c.place).sort()).toEqual(['approvals-channel', 'channel', 'dm', 'dm']);
    for (const u of [CTO, RM]) {
      const card = JSON.stringify(dmsAbout(u, 'APR-4').at(-1)?.blocks ?? []);
      expect(card).toContain('Exception for APR-1');
      expect(card).toContain('the deployment APR-1');
      expect(buttons(card)).toEqual(['Approve', 'Reject']);
    }
    for (const u of [SEC, TL, DEV]) expect(dmsAbout(u, 'APR-4').filter((m) => (m.blocks ?? []).length)).toEqual([]);
    // The held card now says an exception is asked, and no longer offers the button.
    const card = await channelCard(1);
    expect(card).toContain('Exception *APR-4* asked');
    expect(buttons(card)).toEqual([]);
    expect(await click(ACTIONS.approval.exception, req.id, DEV)).toBe('An exception for APR-1 is already asked for (APR-4); nothing changed.');
    expect(await db().read((tx) => tx.approvalRequest.count({ where: { kind: 'exception' } }))).toBe(1);
    expect((await auditOf('APR-1')).map((a) => a.action)).toContain('approval.exception.request');
  });

  it('/approval list and the App Home show the held request sensibly', async () => {
    const mine = (await h.command('/approval', 'list', DEV)).reply.text!;
    expect(mine).toContain('Waiting for your approval (0)');
    expect(mine).toMatch(/\*APR-1\* Deploy api 2\.4\.1 to production · held — outside the deployment windows: Saturday has none.* · next open slot <!date\^\d+\^.* · exception APR-4 asked \(0 of 2/);
    const devHome = await home(DEV);
    expect(devHome).toContain('Waiting for your approval (0)');
    expect(devHome).toContain('Your requests held by a window or a freeze (1)');
    expect(devHome).toContain('exception APR-4 asked');
    // The approvers see the exception waiting for them, not the held request.
    const ctoHome = await home(CTO);
    expect(ctoHome).toContain('Waiting for your approval (1)');
    expect(ctoHome).toContain('APR-4');
    expect(ctoHome).not.toContain('*APR-1*');
    expect((await h.command('/approval', 'list', CTO)).reply.text).toMatch(/Waiting for your approval \(1\):\n\*APR-4\* Exception for APR-1/);
    expect((await h.command('/approval', 'show APR-1', CTO)).reply.text).toContain('status *held*');
  });

  it('approved by cto and release_manager, the exception releases the deploy to its normal chain, flagged', async () => {
    at('2026-12-06T21:00:00Z');
    const exc = await request(4);
    expect(await click(ACTIONS.approval.approve, exc.id, CTO)).toContain('Your approval of APR-4 is in (1 of 2');
    expect(await channelCard(1)).toContain('1 of 2');
    expect((await request(1)).status).toBe('held');
    expect(await click(ACTIONS.approval.approve, exc.id, RM)).toBe('APR-4 approved — all 2 approvals are in.');
    const req = await request(1);
    expect(req.status).toBe('pending');
    expect(JSON.parse(req.flags)).toEqual(['exception:APR-4']);
    expect(await hold(1)).toMatchObject({ releasedAt: '2026-12-06T21:00:00.000Z', exception: 'APR-4' });
    // Expiry and escalation are armed from the release (24h and 2h), as for a new request.
    expect(req.expiresAt.toISOString()).toBe('2026-12-07T21:00:00.000Z');
    expect((await timersOf(1)).map((t) => [t.kind, t.dueAt.toISOString()])).toEqual([
      ['approval.escalate', '2026-12-06T23:00:00.000Z'],
      ['approval.expire', '2026-12-07T21:00:00.000Z'],
    ]);
    // Its approvers are asked now, and the approvals channel gets its copy.
    expect((await copies(1)).map((c) => c.place).sort()).toEqual(['approvals-channel', 'channel', 'dm', 'dm', 'dm', 'dm']);
    for (const u of [RM, CTO, SEC, TL]) expect(dmsAbout(u, 'APR-1').length).toBeGreaterThan(0);
    const card = await channelCard(1);
    expect(buttons(card)).toEqual(['Approve', 'Reject']);
    expect(card).toContain('exception:APR-4');
    expect(h.slack.dms(DEV).some((m) => (m.text ?? '').includes('APR-1') && (m.text ?? '').includes('released by exception APR-4'))).toBe(true);
    const granted = (await auditOf('APR-1')).find((a) => a.action === 'approval.exception.granted')!;
    expect(granted.flags).toBe('exception:APR-4');
    expect(JSON.parse(granted.after!)).toMatchObject({ status: 'pending', exception: 'APR-4' });
  });

  it('the release escalates from its own start: the reminder comes 2h after the release, not after the request', async () => {
    at('2026-12-06T23:00:00Z');
    await h.tick();
    await h.flush();
    const reminders = h.slack.dms(SEC).filter((m) => (m.text ?? '').startsWith('Reminder: APR-1'));
    expect(reminders).toHaveLength(1);
    expect(reminders[0]!.text).toContain('has waited 2h');
  });

  it("its approvers approve it: approved, and the flag is in the decision's audit entry", async () => {
    const req = await request(1);
    await click(ACTIONS.approval.approve, req.id, RM);
    await click(ACTIONS.approval.approve, req.id, CTO);
    expect(await click(ACTIONS.approval.approve, req.id, SEC)).toBe('APR-1 approved — all 3 approvals are in.');
    expect((await request(1)).status).toBe('approved');
    const approved = (await auditOf('APR-1')).find((a) => a.action === 'approval.approved')!;
    expect(approved.flags).toBe('exception:APR-4');
    expect(await timersOf(1)).toEqual([]);
    const show = (await h.command('/approval', 'show APR-1', DEV)).reply.text!;
    expect(show).toContain('Was held: outside the deployment windows');
    expect(show).toContain('released by exception APR-4');
    expect(show).toContain('Flags: exception:APR-4');
  });

  it('a refused exception rejects the held request ("exception refused"), and its requester is told', async () => {
    expect(await deploy('production web 3.1.0 new login page')).toMatch(/^APR-5 is \*held\*/);
    const held = await request(5);
    expect(await click(ACTIONS.approval.exception, held.id, DEV)).toContain('Exception asked for APR-5 (APR-6)');
    const exc = await request(6);
    await h.click(ACTIONS.approval.reject, exc.id, CTO, { channelId: CHANNEL });
    const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(VIEWS.reject);
    await h.submit(VIEWS.reject, view.private_metadata, { [FIELDS.reason.block]: { [FIELDS.reason.action]: stateValue.plainText('not on a weekend') } }, CTO);
    await h.flush();
    expect((await request(6)).status).toBe('rejected');
    const after = await request(5);
    expect(after.status).toBe('rejected');
    expect(after.rejectReason).toBe('exception refused (APR-6 was rejected: not on a weekend)');
    expect(h.slack.dms(DEV).at(-1)?.text).toBe('Your request APR-5 (Deploy web 3.1.0 to production) was *rejected*: exception refused (APR-6 was rejected: not on a weekend).');
    const card = await channelCard(5);
    expect(card).toContain('Rejected');
    expect(buttons(card)).toEqual([]);
    expect((await auditOf('APR-5')).map((a) => a.action)).toEqual(['approval.request', 'approval.exception.request', 'approval.exception.refused', 'approval.rejected']);
    expect(await timersOf(5)).toEqual([]);
  });

  it('an exception nobody decides expires, and the held request is rejected with it', async () => {
    expect(await deploy('production search 5.0.2')).toMatch(/^APR-7 is \*held\*/);
    const held = await request(7);
    await click(ACTIONS.approval.exception, held.id, DEV);
    expect((await request(8)).kind).toBe('exception');
    at('2026-12-08T00:00:00Z'); // 25h later: past changes.exceptions.ttl
    await h.tick();
    await h.flush();
    expect((await request(8)).status).toBe('expired');
    expect(await request(7)).toMatchObject({ status: 'rejected', rejectReason: 'exception refused (APR-8 expired undecided)' });
    expect(h.slack.dms(DEV).some((m) => m.text === 'Your request APR-7 (Deploy search 5.0.2 to production) was *rejected*: exception refused (APR-8 expired undecided).')).toBe(true);
  });
});

describe('inside a window, and inside a freeze', () => {
  it('the same deploy on Tuesday 11:00 (Berlin) is a normal pending request', async () => {
    at('2026-12-08T10:00:00Z');
    expect(await deploy('production api 2.5.0')).toMatch(/^APR-9 requested: Deploy api 2.5.0 to production\. Needs release_manager and cto/);
    const req = await request(9);
    expect(req).toMatchObject({ status: 'pending', holdReason: null, flags: '[]' });
    expect((await timersOf(9)).map((t) => t.kind).sort()).toEqual(['approval.escalate', 'approval.expire']);
    expect(buttons(await channelCard(9))).toEqual(['Approve', 'Reject']);
    expect((await h.command('/approval', 'cancel APR-9', DEV, { channelId: CHANNEL })).reply.text).toBe('APR-9 cancelled.');
  });

  it('a deploy during /change freeze production is held naming the freeze, with the slot after it', async () => {
    expect((await h.command('/change', 'freeze production 4h Payment provider migration', RM, { channelId: CHANNEL })).reply.text).toContain('Production frozen until');
    await h.flush();
    const text = await deploy('production api 2.5.1');
    expect(text).toMatch(/^APR-10 is \*held\*: Deploy api 2\.5\.1 to production cannot go now — inside the freeze of production until 2026-12-08 15:00 \("Payment provider migration"\)/);
    expect(text).toContain(`The next open slot is <!date^${unix('2026-12-08T14:00:00Z')}^`);
    expect(await channelCard(10)).toContain('Payment provider migration');
    expect((await request(10)).status).toBe('held');
  });

  it('break-glass works on a held request: approved, flagged, its waiting exception withdrawn, the review opened', async () => {
    const held = await request(10);
    await click(ACTIONS.approval.exception, held.id, DEV);
    expect(await request(11)).toMatchObject({ kind: 'exception', status: 'pending' });
    const r = await h.command('/approval', 'breakglass APR-10 checkout is down, the fix cannot wait', CTO, { channelId: CHANNEL });
    await h.flush();
    expect(r.reply.text).toBe('APR-10 approved by break-glass, outside its window or in a freeze (flagged). The security channel is notified and a post-review is open.');
    const req = await request(10);
    expect(req).toMatchObject({ status: 'approved', breakGlass: true, reviewStatus: 'pending' });
    expect(JSON.parse(req.flags)).toEqual(['break_glass']);
    expect((await request(11)).status).toBe('cancelled');
    const approved = (await auditOf('APR-10')).find((a) => a.action === 'approval.approved')!;
    expect(JSON.parse(approved.before!)).toEqual({ status: 'held' });
    expect(approved.flags).toBe('break_glass');
    expect((await copies(10)).map((c) => c.place)).toContain('review');
    expect(await timersOf(10)).toEqual([]);
  });

  it('the requester cancels a held request (and the exception waiting on it)', async () => {
    expect(await deploy('production web 3.2.0')).toMatch(/^APR-12 is \*held\*/);
    await click(ACTIONS.approval.exception, (await request(12)).id, DEV);
    expect((await h.command('/approval', 'cancel APR-12', DEV, { channelId: CHANNEL })).reply.text).toBe('APR-12 cancelled.');
    await h.flush();
    expect((await request(12)).status).toBe('cancelled');
    expect((await request(13)).status).toBe('cancelled');
    expect(await click(ACTIONS.approval.exception, (await request(12)).id, DEV)).toBe('APR-12 is already cancelled; an exception is for a held request.');
    expect((await h.command('/change', 'unfreeze production', RM, { channelId: CHANNEL })).reply.text).toContain('Freeze lifted');
    await h.flush();
  });

  it('Friday 11:00 is for critical changes only: a deploy whose reason names an open P1 incident it fixes goes; another is held', async () => {
    at('2026-12-11T10:00:00Z'); // Friday 11:00 in Berlin
    await h.command('/incident', 'declare P1 Checkout errors', OPS);
    await h.flush();
    expect(await deploy('production api 2.5.2 fixes INC-1')).toMatch(/^APR-14 requested/);
    expect(JSON.parse((await request(14)).flags)).toEqual(['critical_window']);
    expect(await channelCard(14)).toContain('critical_window');
    const held = await deploy('production web 3.3.0 new banner');
    expect(held).toMatch(/^APR-15 is \*held\*: .*Friday's window \(10:00–12:00\) is for critical changes only/);
    expect(held).toContain(`The next open slot is <!date^${unix('2026-12-14T09:00:00Z')}^`);
  });
});

describe('afterwards', () => {
  it('the audit chain verifies; nothing is dead-lettered or waiting; nothing garbled', async () => {
    await h.flush();
    expect((await verifyChain(db(), h.muster.kernel.audit.keyring)).ok).toBe(true);
    const left = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    expect(left).toEqual([]);
    expect(h.slack.garbled).toEqual([]);
  });
});
