import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stateValue } from '../../support/slackRequests.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';

/**
 * What changed, seen from incidents, end to end through signed requests: a change carried out on `api`
 * shows on the card of an incident declared on `api` (and of one that names no service), not on one on
 * `search`; `/incident link CHG-n` records a suspected cause both ways, once; the post-incident review
 * lists the changes; a change raised in the incident channel shows on its card.
 */
const REQ = 'UREQ';
const RM = 'URM';
const TL = 'UTL';
const SEC = 'USEC';
const PO = 'UPO';
const ANA = 'UANA';

const policy = parsePolicyText(['changes:', '  channel: "#changes"'].join('\n')).policy!;
// Tuesday 1 December 2026, 08:00 UTC: the Mon–Thu 10:00–16:00 window opens at 10:00.
const clock = new ManualClock(new Date('2026-12-01T08:00:00Z'));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy, clock, users: [REQ, RM, TL, SEC, PO, ANA].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
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
const incident = (n: number) => db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: n } }));
const incidentCard = async (n: number) => {
  const i = await incident(n);
  return JSON.stringify(h.slack.message(i.channelId!, i.cardTs!)?.blocks ?? []);
};
/** Every copy of a change's card (where it was asked for, the changes channel, approvers' DMs), as posted now. */
const changeCards = async (n: number) => {
  const c = await change(n);
  const cards = await db().read((tx) => tx.changeCard.findMany({ where: { changeId: c.id } }));
  return Promise.all(
    cards.map(async (card) => {
      const effect = await db().read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: card.effectId } }));
      const { channel, ts } = JSON.parse(effect.result!) as { channel: string; ts: string };
      return { place: card.place, blocks: JSON.stringify(h.slack.message(channel, ts)?.blocks ?? []) };
    }),
  );
};
const audits = (action: string) => db().read((tx) => tx.auditEntry.findMany({ where: { action, outcome: 'ok' }, orderBy: { seq: 'asc' } }));

const form = (values: Record<string, Record<string, unknown>>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { [k]: v }]));

/** The change form, as change.e2e.test.ts fills it (a normal change on api in production, 10:00 for 1 h). */
async function submitNew(user: string, fields: Partial<Record<keyof typeof FIELDS, Record<string, unknown>>>, type = 'normal', channelId?: string) {
  const r = await h.command('/change', `new ${type}`, user, channelId ? { channelId } : {});
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
  expect(res.status).toBe(200);
  await h.flush();
}

/** An incident declared with the form, naming its affected services; returns its number. */
async function declare(title: string, services: string, by = ANA): Promise<number> {
  const r = await h.submit(
    VIEWS.declare,
    '{"channelId":"C0GENERAL"}',
    {
      [FIELDS.title.block]: { [FIELDS.title.action]: stateValue.plainText(title) },
      [FIELDS.severity.block]: { [FIELDS.severity.action]: stateValue.staticSelect('P2') },
      [FIELDS.services.block]: { [FIELDS.services.action]: stateValue.plainText(services) },
      [FIELDS.private.block]: { [FIELDS.private.action]: stateValue.radio('public') },
    },
    by,
  );
  expect(r.status).toBe(200);
  await h.flush();
  const row = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { title }, orderBy: { number: 'desc' } }));
  expect(row.cardTs).toBeTruthy();
  return row.number;
}

describe('changes seen from incidents', () => {
  it('a normal change on api goes through the CAB and is implemented at 10:30', async () => {
    await submitNew(REQ, {});
    const c = await change(1);
    for (const u of [RM, TL, SEC]) await h.click(ACTIONS.change.approve, c.id, u);
    await h.flush();
    for (const i of JSON.parse((await change(1)).checklist) as { id: string }[]) await h.click(ACTIONS.change.tick, `${c.id}:${i.id}`, REQ);
    await h.flush();
    clock.set(new Date('2026-12-01T10:00:00Z'));
    expect((await h.command('/change', 'start CHG-1', REQ)).reply.text).toContain('CHG-1 is implementing');
    clock.set(new Date('2026-12-01T10:30:00Z'));
    expect((await h.command('/change', 'done CHG-1 success rolled out', REQ)).reply.text).toContain('CHG-1 implemented');
    await h.flush();
    expect(await change(1)).toMatchObject({ status: 'implemented', outcome: 'success' });
  });

  it('an incident declared on api lists the change on its card; one on search does not; one naming no service does', async () => {
    clock.set(new Date('2026-12-01T11:00:00Z'));
    expect(await declare('Gateway 502s', 'api, checkout')).toBe(1);
    const api = await incidentCard(1);
    expect(api).toContain('Changed in the last 24 h');
    expect(api).toContain('CHG-1');
    expect(api).toContain('Upgrade the API gateway (api, production, implemented');
    expect(api).toContain(`<@${REQ}>`);
    expect(api).not.toContain('suspected cause');

    expect(await declare('Search is slow', 'search')).toBe(2);
    const search = await incidentCard(2);
    expect(search).not.toContain('CHG-1');
    expect(search).toContain('No changes implemented in the last 24 h on search.');

    const r = await h.command('/incident', 'declare P3 Something is off', ANA);
    expect(r.reply.text).toContain('INC-3');
    await h.flush();
    expect(await incidentCard(3)).toContain('CHG-1');
  });

  it('/incident link CHG-1 records a suspected cause both ways: link, timeline, audit, both cards', async () => {
    const inc = await incident(1);
    const r = await h.command('/incident', 'link CHG-1', ANA, { channelId: inc.channelId! });
    expect(r.reply.text).toContain('CHG-1 Upgrade the API gateway is linked to INC-1 as a suspected cause');
    await h.flush();
    const c = await change(1);
    const links = await db().read((tx) => tx.changeIncidentLink.findMany({ where: { changeId: c.id } }));
    expect(links).toEqual([expect.objectContaining({ incidentId: inc.id, kind: 'suspected_cause', byId: expect.stringContaining(ANA) })]);
    const timeline = await db().read((tx) => tx.timelineEntry.findMany({ where: { incidentId: inc.id, kind: 'change' } }));
    expect(timeline).toHaveLength(1);
    expect(timeline[0]!.text).toContain('CHG-1 Upgrade the API gateway linked as suspected cause by');
    expect((await audits('incident.link')).map((a) => [a.subjectId, JSON.parse(a.after!)])).toEqual([['INC-1', { change: 'CHG-1', kind: 'suspected_cause' }]]);
    expect((await audits('change.link')).map((a) => [a.subjectId, JSON.parse(a.after!)])).toEqual([['CHG-1', { incident: 'INC-1', kind: 'suspected_cause' }]]);
    // The incident card marks it; every copy of the change card says so.
    expect(await incidentCard(1)).toContain('suspected cause');
    const cards = await changeCards(1);
    expect(cards.map((x) => x.place)).toEqual(expect.arrayContaining(['origin', 'changes-channel']));
    for (const card of cards) expect(card.blocks, card.place).toContain('Suspected cause of INC-1');
    // Announced in the war room, and on the timeline a person reads.
    expect(h.slack.messages(inc.channelId!).some((m) => (m.text ?? '').includes('as a suspected cause of INC-1'))).toBe(true);
    const shown = await h.command('/incident', 'timeline', ANA, { channelId: inc.channelId! });
    expect(JSON.stringify(shown.reply)).toContain('linked as suspected cause by');
  });

  it('linking again says so and changes nothing; an unknown change and a closed incident are refused', async () => {
    const inc = await incident(1);
    const count = () => db().read(async (tx) => [await tx.changeIncidentLink.count(), await tx.timelineEntry.count(), await tx.auditEntry.count({ where: { outcome: 'ok' } })]);
    const before = await count();
    const again = await h.command('/incident', 'INC-1 link chg-1', RM);
    expect(again.reply.text).toContain('CHG-1 is already linked to INC-1 as a suspected cause');
    expect(again.reply.text).toContain('nothing changed');
    const unknown = await h.command('/incident', 'link CHG-99', ANA, { channelId: inc.channelId! });
    expect(unknown.reply.text).toContain('CHG-99 does not exist');
    const bad = await h.command('/incident', 'INC-1 link 42', ANA);
    expect(bad.reply.text).toContain('expected CHG-n');
    const nowhere = await h.command('/incident', 'link CHG-1', ANA);
    expect(nowhere.reply.text).toContain('not an incident channel');
    expect(await count()).toEqual(before);

    // INC-2 (search) resolved and closed: no more links.
    expect((await h.command('/incident', 'INC-2 resolve it was a slow index', ANA)).reply.text).toBe('INC-2 resolved.');
    expect((await h.command('/incident', 'INC-2 close', ANA)).reply.text).toBe('INC-2 closed.');
    await h.flush();
    const closed = await h.command('/incident', 'INC-2 link CHG-1', ANA);
    expect(closed.reply.text).toContain('INC-2 is closed; linking a change to it is no longer possible');
    expect(await db().read((tx) => tx.changeIncidentLink.count())).toBe(1);
  });

  it('a change raised in the incident channel shows on its card as raised here', async () => {
    const inc = await incident(1);
    await submitNew(
      REQ,
      { title: stateValue.plainText('Pin the gateway to 2 replicas'), windowStart: stateValue.plainText('2026-12-01 12:00'), windowLength: stateValue.plainText('30m') },
      'emergency',
      inc.channelId!,
    );
    const c2 = await change(2);
    expect(c2).toMatchObject({ type: 'emergency', incidentId: inc.id, status: 'pending' });
    // The card is drawn from the records whenever it is redrawn: by change control's hook, as here, or any incident change.
    const { kernel, incidents } = h.muster.services;
    await kernel.run(kernel.systemActor(inc.workspaceId), { requestId: 'test:redraw' }, (u) => incidents.redrawForChange(u, c2.id));
    await h.flush();
    const card = await incidentCard(1);
    expect(card).toContain('Changes raised here:');
    expect(card).toMatch(/CHG-2\*? \(pending\)/);
    await h.command('/incident', 'update rolling out a pin', ANA, { channelId: inc.channelId! });
    await h.flush();
    expect(await incidentCard(1)).toContain('Changes raised here:');
  });

  it('the post-incident review has a Changes section: suspected causes, the 24 h before, raised during', async () => {
    const inc = await incident(1);
    const pm = await h.command('/incident', 'postmortem', ANA, { channelId: inc.channelId! });
    expect(pm.reply.text).toContain('INC-1 post-incident review generated');
    await h.flush();
    const md = String(h.slack.filesIn(inc.channelId!).at(-1)!.content);
    expect(md).toContain('## Changes');
    const section = md.slice(md.indexOf('## Changes'), md.indexOf('## SLA'));
    expect(md.indexOf('## Changes')).toBeLessThan(md.indexOf('## SLA'));
    const suspected = section.slice(section.indexOf('### Suspected cause'), section.indexOf('### Implemented'));
    expect(suspected).toContain('| CHG-1 | Upgrade the API gateway | api, production | 2026-12-01T10:00Z – 2026-12-01T11:00Z | success (implemented 2026-12-01T10:30Z; now implemented) | @UREQ |');
    const before = section.slice(section.indexOf('### Implemented in the 24 h before it was declared (on api, checkout)'), section.indexOf('### Raised'));
    // Each section answers its own question: the suspected cause was also implemented in those 24 h.
    expect(before).toContain('| CHG-1 | Upgrade the API gateway |');
    expect(before).not.toContain('CHG-2');
    const raised = section.slice(section.indexOf('### Raised during the incident'));
    expect(raised).toContain('| CHG-2 | Pin the gateway to 2 replicas |');
    expect(raised).toContain('| pending | @UREQ |');
  });

  it('leaves nothing dead-lettered or waiting', async () => {
    await h.flush();
    const left = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    expect(left).toEqual([]);
    expect(h.slack.garbled).toEqual([]);
  });
});
