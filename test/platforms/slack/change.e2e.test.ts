import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stateValue } from '../../support/slackRequests.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';

/**
 * Change control end to end through signed requests: the form, the CAB on the card, the checklist,
 * start, done, review and close; refusals for the wrong state; nothing dead-lettered.
 */
const REQ = 'UREQ';
const ONCALL = 'UONCALL';
const CTO = 'UCTO';
const RM = 'URM';
const TL = 'UTL';
const SEC = 'USEC';
const PO = 'UPO';

const policy = parsePolicyText(
  ['changes:', '  channel: "#changes"', '  standardCatalogue:', '    - { id: cert-rotate, title: Rotate the TLS certificates }', '  emergency:', '    leadershipChannel: "#leadership"'].join('\n'),
).policy!;
// Tuesday 1 December 2026, 08:00 UTC: the Mon–Thu 10:00–16:00 window opens at 10:00.
const clock = new ManualClock(new Date('2026-12-01T08:00:00Z'));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy, clock, users: [REQ, RM, TL, SEC, PO, ONCALL, CTO].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CCHANGES', name: 'changes' });
  h.slack.addChannel({ id: 'CLEAD', name: 'leadership' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['tech_lead', TL],
    ['security_lead', SEC],
    ['product_owner', PO],
    ['oncall', ONCALL],
    ['cto', CTO],
  ]) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
const change = (n: number) => db().read((tx) => tx.changeRequest.findFirstOrThrow({ where: { number: n } }));
const cardOf = async (n: number) => {
  const c = await change(n);
  const card = await db().read((tx) => tx.changeCard.findFirstOrThrow({ where: { changeId: c.id, place: 'origin' } }));
  const effect = await db().read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: card.effectId } }));
  const { channel, ts } = JSON.parse(effect.result!) as { channel: string; ts: string };
  return h.slack.message(channel, ts)!;
};
const buttons = (m: { blocks?: unknown[] }) =>
  JSON.stringify(m.blocks ?? [])
    .match(/"text":\{"type":"plain_text","text":"([^"]+)"/g)
    ?.map((x) => x.replace(/.*"text":"/, '').replace(/"$/, '')) ?? [];

const form = (values: Record<string, Record<string, unknown>>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { [k]: v }]));

async function submitNew(user: string, fields: Partial<Record<keyof typeof FIELDS, Record<string, unknown>>>, type = 'normal') {
  const r = await h.command('/change', `new ${type}`, user);
  expect(r.status).toBe(200);
  const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
  expect(view.callback_id).toBe(VIEWS.changeNew);
  const values = {
    [FIELDS.title.block]: stateValue.plainText('Upgrade the API gateway'),
    [FIELDS.environment.block]: stateValue.staticSelect('production'),
    [FIELDS.systems.block]: stateValue.plainText('api'),
    [FIELDS.impact.block]: stateValue.staticSelect('medium'),
    [FIELDS.risk.block]: stateValue.staticSelect('medium'),
    [FIELDS.affectedUsers.block]: stateValue.staticSelect('some'),
    [FIELDS.downtime.block]: stateValue.staticSelect('minutes'),
    [FIELDS.windowStart.block]: stateValue.plainText('2026-12-01 10:00'),
    [FIELDS.windowLength.block]: stateValue.plainText('1h'),
    [FIELDS.rollbackPlan.block]: stateValue.plainText('Redeploy the previous image'),
    [FIELDS.rollbackTested.block]: stateValue.radio('yes'),
    ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [FIELDS[k as keyof typeof FIELDS].block, v])),
  };
  const res = await h.submit(VIEWS.changeNew, view.private_metadata, form(values), user);
  await h.flush();
  return res;
}

describe('a normal change: form → CAB → checklist → start → done → review → close', () => {
  it('the form records CHG-1 with its risk, posts its card with Approve, Reject and Defer, and asks the CAB', async () => {
    const res = await submitNew(REQ, {});
    expect(res.status).toBe(200);
    const c = await change(1);
    expect(c).toMatchObject({ type: 'normal', status: 'pending', environment: 'production', riskLevel: 'medium', riskScore: 16 });
    const card = await cardOf(1);
    expect(buttons(card)).toEqual(expect.arrayContaining(['Approve', 'Reject', 'Defer']));
    expect(buttons(card)).not.toContain('Start');
    // The CAB members are asked by DM with the same card.
    for (const u of [RM, TL, SEC, PO]) expect(h.slack.dms(u).some((m) => JSON.stringify(m.blocks ?? []).includes('CHG-1'))).toBe(true);
  });

  it('the requester cannot approve their own change; a wrong state is refused specifically', async () => {
    const c = await change(1);
    await h.click(ACTIONS.change.approve, c.id, REQ);
    expect(await h.lastSaid()).toContain('nobody approves their own request');
    const start = await h.command('/change', 'start CHG-1', REQ);
    expect(start.reply.text).toContain('CHG-1 is pending');
  });

  it('three seats with the change manager approve it: scheduled, and the card offers Start, Done and Rollback', async () => {
    const c = await change(1);
    for (const u of [RM, TL, SEC]) await h.click(ACTIONS.change.approve, c.id, u);
    await h.flush();
    expect((await change(1)).status).toBe('scheduled');
    expect(buttons(await cardOf(1))).toEqual(expect.arrayContaining(['Start', 'Done', 'Rollback']));
    expect(h.slack.dms(REQ).some((m) => (m.text ?? '').includes('approved'))).toBe(true);
  });

  it('Start is refused until the go/no-go checklist is ticked, then works', async () => {
    const refused = await h.command('/change', 'start CHG-1', REQ);
    expect(refused.reply.text).toContain('checklist is complete');
    const c = await change(1);
    const items = JSON.parse(c.checklist) as { id: string }[];
    for (const i of items) await h.click(ACTIONS.change.tick, `${c.id}:${i.id}`, REQ);
    await h.flush();
    expect((JSON.parse((await change(1)).checklist) as { done: boolean }[]).every((i) => i.done)).toBe(true);
    clock.set(new Date('2026-12-01T10:00:00Z'));
    const started = await h.command('/change', 'start CHG-1', REQ);
    expect(started.reply.text).toContain('CHG-1 is implementing');
  });

  it('done, then the verification nudge at T+1h, then review and close', async () => {
    const done = await h.command('/change', 'done CHG-1 success rolled out to all pods', REQ);
    expect(done.reply.text).toContain('CHG-1 implemented');
    clock.advance(61 * 60_000);
    await h.tick();
    expect(h.slack.dms(REQ).some((m) => (m.text ?? '').includes('Verify'))).toBe(true);
    expect((await h.command('/change', 'review CHG-1 went fine, no follow-up', REQ)).reply.text).toContain('reviewed');
    expect((await h.command('/change', 'close CHG-1', REQ)).reply.text).toBe('CHG-1 closed.');
    const actions = (await db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'CHG-1' }, orderBy: { seq: 'asc' } }))).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['change.request', 'change.approved', 'change.start', 'change.done', 'change.review', 'change.close']));
  });
});

describe('a standard change from the catalogue', () => {
  it('is pre-approved (no votes), audited as such, and starts once its checklist is ticked', async () => {
    clock.set(new Date('2026-12-02T09:00:00Z'));
    await submitNew(
      REQ,
      {
        title: stateValue.plainText('Rotate certs'),
        catalogue: stateValue.staticSelect('cert-rotate'),
        windowStart: stateValue.plainText('2026-12-02 11:00'),
        windowLength: stateValue.plainText('30m'),
        rollbackPlan: stateValue.plainText(''),
      },
      'standard',
    );
    const c = await change(2);
    expect(c).toMatchObject({ type: 'standard', status: 'approved', catalogueId: 'cert-rotate', approvalId: null });
    expect(buttons(await cardOf(2))).toEqual(expect.arrayContaining(['Start', 'Done', 'Rollback']));
    expect(buttons(await cardOf(2))).not.toContain('Approve');
    const approved = await db().read((tx) => tx.auditEntry.findFirst({ where: { subjectId: 'CHG-2', action: 'change.approved' } }));
    expect(JSON.parse(approved!.after!)).toMatchObject({ preApproved: 'cert-rotate' });
  });
});

describe('windows, freezes and exceptions', () => {
  it('a normal change on a Saturday is recorded but blocked: the next open slot and Ask for an exception, no CAB asked', async () => {
    clock.set(new Date('2026-12-03T09:00:00Z'));
    const before = h.slack.dms(RM).length;
    await submitNew(REQ, { title: stateValue.plainText('Weekend database upgrade'), windowStart: stateValue.plainText('2026-12-05 03:00'), windowLength: stateValue.plainText('2h') });
    const c = await change(3);
    expect(c.status).toBe('pending');
    expect(c.approvalId).toBeNull();
    const problem = JSON.parse(c.windowProblem!) as { problems: string[]; nextOpen: { start: string } };
    expect(problem.problems.join(' ')).toMatch(/window/);
    expect(problem.nextOpen.start).toBe('2026-12-07T10:00:00.000Z');
    const card = await cardOf(3);
    expect(buttons(card)).toContain('Ask for an exception');
    expect(buttons(card)).not.toContain('Approve');
    expect(h.slack.dms(RM).length).toBe(before);
    // Voting on it is refused with the way out.
    await h.click(ACTIONS.change.approve, c.id, RM);
    expect(await h.lastSaid()).toContain('waiting for its window');
  });

  it('the exception, approved by cto and release manager, releases it to the CAB, flagged', async () => {
    const c = await change(3);
    await h.click(ACTIONS.change.exception, c.id, REQ);
    await h.flush();
    const exceptionId = (await change(3)).exceptionId!;
    const exception = await db().read((tx) => tx.approvalRequest.findUniqueOrThrow({ where: { id: exceptionId } }));
    expect(exception).toMatchObject({ kind: 'exception', subjectType: 'change', status: 'pending' });
    // Asking twice changes nothing.
    await h.click(ACTIONS.change.exception, c.id, REQ);
    expect(await h.lastSaid()).toContain('already asked');
    for (const u of [CTO, RM]) await h.click(ACTIONS.approval.approve, exceptionId, u);
    await h.flush();
    const released = await change(3);
    expect(released.windowProblem).toBeNull();
    expect(released.approvalId).not.toBeNull();
    expect(JSON.parse(released.flags).map((f: { code: string }) => f.code)).toContain('exception');
    expect(buttons(await cardOf(3))).toEqual(expect.arrayContaining(['Approve', 'Reject', 'Defer']));
  });

  it('a freeze is announced, audited and shown on affected cards; only freeze_changes may; unfreeze lifts it', async () => {
    const denied = await h.command('/change', 'freeze production 2026-12-10 release train', REQ);
    expect(denied.reply.text).toContain('freeze_changes');
    const bad = await h.command('/change', 'freeze production', RM);
    expect(bad.reply.text).toContain('A freeze needs an end');
    const frozen = await h.command('/change', 'freeze production 2026-12-10 year-end release train', RM);
    expect(frozen.reply.text).toContain('Production frozen until');
    await h.flush();
    expect(h.slack.messages('CCHANGES').some((m) => (m.text ?? '').includes('Change freeze'))).toBe(true);
    const f = await db().read((tx) => tx.changeFreeze.findFirstOrThrow({ where: { liftedAt: null } }));
    expect(f).toMatchObject({ environment: 'production', reason: 'year-end release train' });
    // A normal change inside the freeze is held back, naming it.
    await submitNew(REQ, { title: stateValue.plainText('Index rebuild'), windowStart: stateValue.plainText('2026-12-08 11:00'), windowLength: stateValue.plainText('1h') });
    expect(JSON.parse((await change(4)).windowProblem!).problems.join(' ')).toContain('year-end release train');
    expect((await h.command('/change', 'unfreeze production', RM)).reply.text).toContain('Freeze lifted');
    const audit = (await db().read((tx) => tx.auditEntry.findMany({ where: { subjectType: 'freeze' }, orderBy: { seq: 'asc' } }))).map((e) => [e.action, e.outcome]);
    expect(audit).toEqual([
      ['change.freeze', 'denied'],
      ['change.freeze', 'ok'],
      ['change.unfreeze', 'ok'],
    ]);
  });

  it('an emergency change from an incident channel in a freeze: allowed, flagged, announced to leadership, approved at once by the commander of the incident', async () => {
    clock.set(new Date('2026-12-05T03:00:00Z'));
    await h.command('/change', 'freeze all 2026-12-06 weekend freeze', RM);
    await h.command('/incident', 'declare P0 Payments are failing', ONCALL);
    await h.flush();
    const inc = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    // The commander holds no approver role of the route: they approve as the incident's commander only.
    await h.command('/incident', 'role commander me', CTO, { channelId: inc.channelId! });
    const r = await h.command('/change', 'new emergency', REQ, { channelId: inc.channelId! });
    expect(r.status).toBe(200);
    const view = h.slack.lastCall('views.open')!.args.view as { private_metadata: string };
    const values = {
      [FIELDS.title.block]: stateValue.plainText('Roll back payments to 4.1'),
      [FIELDS.environment.block]: stateValue.staticSelect('production'),
      [FIELDS.systems.block]: stateValue.plainText('payments'),
      [FIELDS.impact.block]: stateValue.staticSelect('high'),
      [FIELDS.risk.block]: stateValue.staticSelect('low'),
      [FIELDS.affectedUsers.block]: stateValue.staticSelect('all'),
      [FIELDS.downtime.block]: stateValue.staticSelect('none'),
      [FIELDS.windowStart.block]: stateValue.plainText('2026-12-05 03:05'),
      [FIELDS.windowLength.block]: stateValue.plainText('30m'),
      [FIELDS.rollbackTested.block]: stateValue.radio('no'),
    };
    await h.submit(VIEWS.changeNew, view.private_metadata, form(values), REQ);
    await h.flush();
    const c = await change(5);
    expect(c).toMatchObject({ type: 'emergency', status: 'pending', incidentId: inc.id });
    expect(JSON.parse(c.flags).map((f: { code: string }) => f.code)).toEqual(expect.arrayContaining(['outside_window', 'in_freeze']));
    expect(h.slack.messages('CLEAD').some((m) => (m.text ?? '').includes('CHG-5'))).toBe(true);
    // P0: one approval by on-call or the incident's commander is enough; anyone else is refused.
    await h.click(ACTIONS.change.approve, c.id, PO);
    await h.flush();
    expect((await change(5)).status).toBe('pending');
    await h.click(ACTIONS.change.approve, c.id, CTO);
    await h.flush();
    expect((await change(5)).status).toBe('scheduled');
    const votes = await db().read((tx) => tx.approvalVote.findMany({ where: { requestId: c.approvalId! } }));
    expect(votes.map((v) => [v.userId.split(':').pop(), v.role])).toEqual([[CTO, 'incident_commander']]);
    // An emergency change may start with its checklist open: flagged.
    clock.set(new Date('2026-12-05T03:05:00Z'));
    expect((await h.command('/change', 'start CHG-5', REQ)).reply.text).toContain('implementing');
    expect(JSON.parse((await change(5)).flags).map((f: { code: string }) => f.code)).toContain('checklist_incomplete');
    // Done: the post-implementation review is mandatory, reminded until done.
    const done = await h.command('/change', 'done CHG-5 success', REQ);
    expect(done.reply.text).toContain('post-implementation review is required');
    expect((await h.command('/change', 'close CHG-5', REQ)).reply.text).toContain('needs its post-implementation review');
    clock.advance(5 * 86_400_000 + 60_000);
    await h.tick();
    expect(h.slack.dms(REQ).some((m) => /post-implementation review of \*CHG-5\*/.test(m.text ?? ''))).toBe(true);
    await h.command('/change', 'unfreeze all', RM);
  });
});

describe('re-approval, rollback and defer', () => {
  it("editing an approved change's window voids its votes, says why on the card, and asks again", async () => {
    clock.set(new Date('2026-12-07T08:00:00Z'));
    await submitNew(REQ, { title: stateValue.plainText('Cache TTL change'), windowStart: stateValue.plainText('2026-12-08 11:00'), windowLength: stateValue.plainText('1h') });
    const c = await change(6);
    for (const u of [RM, TL, SEC]) await h.click(ACTIONS.change.approve, c.id, u);
    await h.flush();
    expect((await change(6)).status).toBe('scheduled');
    const oldRound = (await change(6)).approvalId!;
    const edit = await h.command('/change', 'edit CHG-6', REQ);
    expect(edit.status).toBe(200);
    const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string; blocks: { block_id: string; element: { initial_value?: string } }[] };
    expect(view.callback_id).toBe(VIEWS.changeEdit);
    expect(view.blocks.find((b) => b.block_id === FIELDS.windowStart.block)?.element.initial_value).toBe('2026-12-08 11:00');
    const values = {
      [FIELDS.title.block]: stateValue.plainText('Cache TTL change'),
      [FIELDS.environment.block]: stateValue.staticSelect('production'),
      [FIELDS.systems.block]: stateValue.plainText('api'),
      [FIELDS.impact.block]: stateValue.staticSelect('medium'),
      [FIELDS.risk.block]: stateValue.staticSelect('medium'),
      [FIELDS.affectedUsers.block]: stateValue.staticSelect('some'),
      [FIELDS.downtime.block]: stateValue.staticSelect('minutes'),
      [FIELDS.windowStart.block]: stateValue.plainText('2026-12-09 11:00'),
      [FIELDS.windowLength.block]: stateValue.plainText('1h'),
      [FIELDS.rollbackPlan.block]: stateValue.plainText('Redeploy the previous image'),
      [FIELDS.rollbackTested.block]: stateValue.radio('yes'),
    };
    await h.submit(VIEWS.changeEdit, view.private_metadata, form(values), REQ);
    await h.flush();
    const after = await change(6);
    expect(after.status).toBe('pending');
    expect(after.approvalId).not.toBe(oldRound);
    // The old round stays what it was (approved, for the old window); a new one asks again.
    const rounds = await db().read((tx) => tx.approvalRequest.findMany({ where: { subjectId: after.id, kind: 'change' }, orderBy: { number: 'asc' } }));
    expect(rounds.map((r) => r.status)).toEqual(['approved', 'pending']);
    const reapproval = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { subjectId: 'CHG-6', action: 'change.reapproval' } }));
    expect(reapproval.reason).toContain('the window moved');
    expect(buttons(await cardOf(6))).toEqual(expect.arrayContaining(['Approve', 'Reject']));
    // The card says why it is asked again.
    expect(JSON.stringify((await cardOf(6)).blocks)).toMatch(/approval asked again [^"]*: the window moved from/);
    const history = await db().read((tx) => tx.changeRevision.findMany({ where: { changeId: after.id } }));
    expect(history.map((r) => r.field)).toEqual(expect.arrayContaining(['windowStart', 'windowEnd']));
  });

  it('a CAB member defers with a reason; someone else cannot', async () => {
    const c = await change(6);
    await h.click(ACTIONS.change.defer, c.id, REQ);
    const view = h.slack.lastCall('views.open')!.args.view as { private_metadata: string };
    await h.submit(VIEWS.changeDefer, view.private_metadata, form({ [FIELDS.reason.block]: stateValue.plainText('needs the load test first') }), REQ);
    expect((await change(6)).deferReason).toBeNull();
    await h.submit(VIEWS.changeDefer, view.private_metadata, form({ [FIELDS.reason.block]: stateValue.plainText('needs the load test first') }), TL);
    await h.flush();
    expect((await change(6)).deferReason).toBe('needs the load test first');
    expect(JSON.stringify((await cardOf(6)).blocks)).toContain('Deferred to the next CAB');
  });

  it('a rollback needs rollback_change and a reason, and opens the mandatory review', async () => {
    const c = await change(6);
    for (const u of [RM, TL, SEC]) await h.click(ACTIONS.change.approve, c.id, u);
    await h.flush();
    const items = JSON.parse((await change(6)).checklist) as { id: string }[];
    for (const i of items) await h.click(ACTIONS.change.tick, `${c.id}:${i.id}`, REQ);
    clock.set(new Date('2026-12-09T11:00:00Z'));
    await h.command('/change', 'start CHG-6', REQ);
    expect((await h.command('/change', 'rollback CHG-6 errors', REQ)).reply.text).toContain('rollback_change');
    const rolled = await h.command('/change', 'rollback CHG-6 error rate doubled', ONCALL);
    expect(rolled.reply.text).toContain('CHG-6 rolled back');
    await h.flush();
    const after = await change(6);
    expect(after).toMatchObject({ status: 'rolled_back', outcome: 'rolled_back', rollbackReason: 'error rate doubled' });
    expect(buttons(await cardOf(6))).not.toContain('Start');
    expect((await h.command('/change', 'review CHG-6 the cache warmed too slowly; adding a pre-warm step', REQ)).reply.text).toContain('reviewed');
  });
});

describe('bad input changes nothing', () => {
  it('a window in the past, an end before its start, an unknown environment or system, no rollback plan, a freeze without an end', async () => {
    const before = await db().read((tx) => tx.changeRequest.count());
    const past = await submitNew(REQ, { windowStart: stateValue.plainText('2026-01-01 10:00') });
    expect(JSON.stringify(past.body)).toContain('window');
    const env = await submitNew(REQ, { environment: stateValue.staticSelect('moon') });
    expect(JSON.stringify(env.body)).toContain('Unknown environment');
    const plan = await submitNew(REQ, { rollbackPlan: stateValue.plainText('') });
    expect(JSON.stringify(plan.body)).toContain('rollback plan');
    const len = await submitNew(REQ, { windowLength: stateValue.plainText('-1h') });
    expect(JSON.stringify(len.body)).toContain('window length');
    expect(await db().read((tx) => tx.changeRequest.count())).toBe(before);
    expect((await h.command('/change', 'freeze production', RM)).reply.text).toContain('A freeze needs an end');
    expect((await h.command('/change', 'start CHG-99', REQ)).reply.text).toContain('CHG-99 does not exist');
    expect((await h.command('/change', 'done CHG-1 maybe', REQ)).reply.text).toContain('success or failed');
  });
});

describe('afterwards', () => {
  it('leaves nothing dead-lettered or waiting', async () => {
    await h.flush();
    const left = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    expect(left).toEqual([]);
    expect(h.slack.garbled).toEqual([]);
  });
});
