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
const RM = 'URM';
const TL = 'UTL';
const SEC = 'USEC';
const PO = 'UPO';

const policy = parsePolicyText(['changes:', '  channel: "#changes"'].join('\n')).policy!;
// Tuesday 1 December 2026, 08:00 UTC: the Mon–Thu 10:00–16:00 window opens at 10:00.
const clock = new ManualClock(new Date('2026-12-01T08:00:00Z'));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy, clock, users: [REQ, RM, TL, SEC, PO].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CCHANGES', name: 'changes' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['tech_lead', TL],
    ['security_lead', SEC],
    ['product_owner', PO],
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
const buttons = (m: { blocks?: unknown[] }) => JSON.stringify(m.blocks ?? []).match(/"text":\{"type":"plain_text","text":"([^"]+)"/g)?.map((x) => x.replace(/.*"text":"/, '').replace(/"$/, '')) ?? [];

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

describe('afterwards', () => {
  it('leaves nothing dead-lettered or waiting', async () => {
    await h.flush();
    const left = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    expect(left).toEqual([]);
    expect(h.slack.garbled).toEqual([]);
  });
});
