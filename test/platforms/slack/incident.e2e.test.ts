import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stateValue } from '../../support/slackRequests.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { verifyChain } from '../../../src/store/audit.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { surfaceDrawer } from '../../../src/services/surfaces.ts';

const MIN = 60_000;
let h: Harness;
const ANA = 'UANA'; // reporter
const BOB = 'UBOB'; // on-call
const CAROL = 'UCAROL'; // tech lead role holder (escalation level 1)
const DAN = 'UDAN';
const MGR = 'UMGR';

const policy = parsePolicyText(['incidents:', '  broadcastChannel: "#incidents"', '  responders: ["role:oncall"]', '  severities:', '    P0:', '      responders: ["group:S0SRE"]'].join('\n')).policy!;

/*
 * Every test starts its own Muster on its own database and declares the incidents it needs, so each one passes
 * alone (`-t '<name>'`) and in any order, and incident numbers in the assertions are those of the test itself.
 */
beforeEach(async () => {
  h = await startHarness({
    policy,
    clock: new ManualClock(new Date()),
    users: [...[ANA, BOB, CAROL, DAN, MGR, 'USRE1'].map((id) => ({ id, name: id.slice(1).toLowerCase() })), { id: 'UROBOT', name: 'robot', is_bot: true }],
  });
  h.slack.addChannel({ id: 'CINCIDENTS', name: 'incidents' });
  h.slack.addUsergroup('S0SRE', 'sre', ['USRE1']);
  for (const [role, user] of [
    ['oncall', BOB],
    ['tech_lead', CAROL],
    ['manager', MGR],
  ]) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterEach(async () => {
  try {
    // Whatever a test did, every chat effect it caused was delivered: none dead-lettered, none left waiting.
    await h.flush();
    expect(h.slack.garbled, 'no text flattened to [object Object]').toEqual([]);
    const stuck = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { in: ['dead', 'pending', 'running'] } } }));
    expect(stuck.map((e) => ({ id: e.id, op: e.op, status: e.status, error: e.lastError }))).toEqual([]);
  } finally {
    await h?.close();
  }
});

const db = () => h.muster.db;
const incident = (n: number) => db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: n } }));
const timeline = (id: string) => db().read((tx) => tx.timelineEntry.findMany({ where: { incidentId: id }, orderBy: { id: 'asc' } }));
async function until(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
const cardText = (channelId: string, ts: string) => JSON.stringify(h.slack.message(channelId, ts)?.blocks ?? []);

/** `/incident declare` by the reporter; returns the incident once its war room (channel, card) exists. */
async function declare(severity: string, title: string, by = ANA) {
  const r = await h.command('/incident', `declare ${severity} ${title}`, by);
  const n = Number(/\*INC-(\d+)\*/.exec(r.reply.text ?? '')?.[1]);
  expect(n, r.reply.text).toBeGreaterThan(0);
  await h.flush();
  const row = await incident(n);
  return { ...row, ch: row.channelId!, cardTs: row.cardTs! };
}

/** A private incident, declared through the modal (the slash command has no private form). */
async function declarePrivate(severity: string, title: string, by: string) {
  const r = await h.submit(
    VIEWS.declare,
    '{"channelId":"C0GENERAL"}',
    {
      [FIELDS.title.block]: { [FIELDS.title.action]: stateValue.plainText(title) },
      [FIELDS.severity.block]: { [FIELDS.severity.action]: stateValue.staticSelect(severity) },
      [FIELDS.private.block]: { [FIELDS.private.action]: stateValue.radio('private') },
    },
    by,
  );
  expect(r.status).toBe(200);
  await h.flush();
  return db().read((tx) => tx.incident.findFirstOrThrow({ where: { title }, orderBy: { number: 'desc' } }));
}

describe('declaring an incident', () => {
  it('/incident declare sets up a whole war room, in parallel after the channel exists', async () => {
    h.slack.clearCalls();
    const r = await h.command('/incident', 'declare P1 Checkout & payments down', ANA);
    expect(r.status).toBe(200);
    expect(r.reply.text).toContain('Declared *INC-1* (P1): Checkout &amp; payments down');
    await h.flush();
    const ch = h.slack.channelByName('inc-1-checkout-payments-down')!;
    expect(ch).toBeDefined();
    expect(ch.members).toEqual(expect.arrayContaining([ANA, BOB]));
    expect(ch.topic.value).toContain('INC-1 · P1');
    const inc = await incident(1);
    expect(inc).toMatchObject({ channelId: ch.id, channelName: 'inc-1-checkout-payments-down', status: 'investigating', severity: 'P1' });
    // The card, pinned and bookmarked.
    expect(inc.cardTs).toBeTruthy();
    const card = cardText(ch.id, inc.cardTs!);
    for (const label of ['Take commander', 'Take tech lead', 'Take comms lead', 'Post update', 'Resolve']) expect(card).toContain(label);
    expect(card).toContain('<!date^');
    expect(h.slack.pins(ch.id).map((p) => p.ts)).toContain(inc.cardTs);
    expect(h.slack.bookmarks(ch.id)[0]).toMatchObject({ title: 'INC-1 incident card' });
    // P1: announced in the broadcast channel; the reporter got a link.
    expect(h.slack.messages('CINCIDENTS').at(-1)?.text).toContain('P1 incident declared: INC-1');
    const link = h.slack.responses.find((x) => JSON.stringify(x.body).includes('war room is ready'));
    expect(JSON.stringify(link?.body)).toContain(`<#${ch.id}>`);
    // Order: create first; invite, topic and card after it; pin after the card.
    const order = h.slack.calls.map((c) => c.method);
    const first = (m: string) => order.indexOf(m);
    expect(first('conversations.create')).toBeLessThan(first('conversations.invite'));
    expect(first('conversations.create')).toBeLessThan(first('conversations.setTopic'));
    expect(first('chat.postMessage')).toBeLessThan(first('pins.add'));
    const rows = await db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'INC-1' } }));
    expect(rows.map((x) => x.action)).toContain('incident.declare');
  });

  it('a taken channel name gets a numeric suffix; P0 invites per-severity user groups', async () => {
    // Made by a person, not by Muster: never adopted, a suffix instead.
    h.slack.addChannel({ name: 'inc-1-api-errors', creator: ANA });
    await h.command('/incident', 'declare p0 API errors', ANA);
    await h.flush();
    const inc = await incident(1);
    expect(inc.channelName).toBe('inc-1-api-errors-2');
    expect(h.slack.channel(inc.channelId!)!.members).toEqual(expect.arrayContaining([ANA, BOB, 'USRE1']));
  });

  it('/incident opens the declare modal, and submitting it declares (private) and DMs the link', async () => {
    await declare('P1', 'Checkout & payments down');
    h.slack.clearCalls();
    const r = await h.command('/incident', '', DAN);
    expect(r.status).toBe(200);
    const open = h.slack.lastCall('views.open')!;
    expect(JSON.stringify(open.args.view)).toContain(VIEWS.declare);
    const bad = await h.submit(VIEWS.declare, '{}', { [FIELDS.title.block]: { [FIELDS.title.action]: stateValue.plainText('') } }, DAN);
    expect(JSON.parse(bad.body)).toMatchObject({ response_action: 'errors', errors: { [FIELDS.title.block]: expect.any(String), [FIELDS.severity.block]: expect.any(String) } });
    expect(await db().read((tx) => tx.incident.count())).toBe(1);
    const ok = await h.submit(
      VIEWS.declare,
      '{"channelId":"C0GENERAL"}',
      {
        [FIELDS.title.block]: { [FIELDS.title.action]: stateValue.plainText('Secret vendor breach') },
        [FIELDS.severity.block]: { [FIELDS.severity.action]: stateValue.staticSelect('P2') },
        [FIELDS.description.block]: { [FIELDS.description.action]: stateValue.plainText('Keys leaked') },
        [FIELDS.services.block]: { [FIELDS.services.action]: stateValue.plainText('vault, api') },
        [FIELDS.private.block]: { [FIELDS.private.action]: stateValue.radio('private') },
      },
      DAN,
    );
    expect(ok.status).toBe(200);
    await h.flush();
    const inc = await incident(2);
    expect(inc).toMatchObject({ isPrivate: true, severity: 'P2', description: 'Keys leaked', services: '["vault","api"]' });
    expect(h.slack.channel(inc.channelId!)!.is_private).toBe(true);
    expect(h.slack.dms(DAN).at(-1)?.text).toContain('INC-2 war room is ready');
    // Private: not broadcast, and invisible to non-members.
    expect(h.slack.messages('CINCIDENTS').some((m) => m.text?.includes('INC-2'))).toBe(false);
    const carolSees = (await h.command('/incident', 'list', CAROL)).reply.text;
    expect(carolSees).toContain('INC-1');
    expect(carolSees).not.toContain('INC-2');
    expect((await h.command('/incident', 'list', DAN)).reply.text).toContain('INC-2');
    expect((await h.command('/incident', 'INC-2 timeline', CAROL)).reply.text).toContain('INC-2 does not exist (or is private and you are not in it)');
  });
});

describe('running the war room', () => {
  let ch: string;
  let cardTs: string;
  let id: string;
  beforeEach(async () => {
    ({ ch, cardTs, id } = await declare('P1', 'Checkout & payments down'));
  });
  /** The roles the war room has once people have joined in: Dan commands, Carol is tech lead, Ana does comms. */
  async function staffed() {
    await h.click(ACTIONS.incident.takeCommander, id, DAN, { channelId: ch });
    await h.command('/incident', 'role tech me', CAROL, { channelId: ch });
    await h.click(ACTIONS.incident.takeComms, id, ANA, { channelId: ch });
    await h.flush();
  }

  it('drawings are shared only by copies claimed before they began: a change after a drawing began is drawn anew', async () => {
    const draw = surfaceDrawer(h.muster.services);
    const card = { kind: 'incident.card', incidentId: id } as const;
    const claimed = performance.now();
    // Claimed together: one drawing of the incident for both (the dispatcher passes the claim time as notBefore).
    const [a, b] = await Promise.all([draw(card, { notBefore: claimed }), draw(card, { notBefore: claimed })]);
    expect(b).toBe(a);
    // Nobody becomes commander in the drawing begun before the change; a copy claimed after it is drawn anew.
    await h.click(ACTIONS.incident.takeCommander, id, DAN, { channelId: ch });
    const after = await draw(card, { notBefore: performance.now() });
    expect(after).not.toBe(a);
    expect(JSON.stringify(after)).toContain(DAN);
    expect(JSON.stringify(a)).not.toContain(DAN);
    // Without a claim time (anyone else drawing) nothing is shared.
    expect(await draw(card)).not.toBe(after);
  });

  it('Take commander: role, DM with duties, card updated in place, hand-off history kept', async () => {
    const r = await h.click(ACTIONS.incident.takeCommander, id, BOB, { channelId: ch });
    expect(r.status).toBe(200);
    await h.flush();
    expect(cardText(ch, cardTs)).toContain(`<@${BOB}>`);
    expect(h.slack.messages(ch).filter((m) => JSON.stringify(m.blocks ?? '').includes('Take commander'))).toHaveLength(1);
    expect(h.slack.dms(BOB).at(-1)?.text).toMatch(/You are now the \*incident commander\* of INC-1.*You run the response/);
    expect((await incident(1)).acknowledgedAt).not.toBeNull();

    await h.command('/incident', `role commander <@${DAN}|dan>`, ANA, { channelId: ch });
    await h.flush();
    expect(h.slack.dms(BOB).at(-1)?.text).toContain(`<@${DAN}> has taken over as incident commander of INC-1`);
    const roles = await db().read((tx) => tx.incidentRole.findMany({ where: { incidentId: id, role: 'commander' }, orderBy: { id: 'asc' } }));
    expect(roles.map((x) => [x.userId.split(':').pop(), x.relievedAt !== null])).toEqual([
      [BOB, true],
      [DAN, false],
    ]);
    await h.command('/incident', 'role tech me', CAROL, { channelId: ch });
    await h.click(ACTIONS.incident.takeComms, id, ANA, { channelId: ch });
    await h.flush();
    const card = cardText(ch, cardTs);
    expect(card).toContain(`<@${CAROL}>`);
    expect(card).toContain(`<@${ANA}>`);
  });

  it('status, update, severity: posted in the channel, mirrored for P1, on the timeline and the card', async () => {
    await staffed();
    await h.command('/incident', 'status identified bad deploy of checkout', ANA, { channelId: ch });
    await h.command('/incident', 'update rolling back now', DAN, { channelId: ch });
    await h.command('/incident', 'sev P0 revenue impact', DAN, { channelId: ch });
    await h.flush();
    const texts = h.slack.messages(ch).map((m) => m.text ?? '');
    expect(texts.some((t) => t.includes('Status → *identified*: bad deploy of checkout'))).toBe(true);
    expect(texts.some((t) => t.includes('*Update* from <@UDAN>: rolling back now'))).toBe(true);
    expect(texts.some((t) => t.includes('Severity P1 → *P0*: revenue impact'))).toBe(true);
    const broadcast = h.slack.messages('CINCIDENTS').map((m) => m.text ?? '');
    expect(broadcast.some((t) => t.includes('INC-1 update: rolling back now'))).toBe(true);
    expect(cardText(ch, cardTs)).toContain('identified');
    expect(cardText(ch, cardTs)).toContain('P0');
    const kinds = (await timeline(id)).map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['declared', 'role', 'status', 'update', 'severity']));
  });

  it('Post update button opens a modal; submitting it posts the update', async () => {
    await h.click(ACTIONS.incident.postUpdate, id, DAN, { channelId: ch });
    const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(VIEWS.update);
    await h.submit(VIEWS.update, view.private_metadata, { [FIELDS.text.block]: { [FIELDS.text.action]: stateValue.plainText('error rate back to normal') } }, DAN);
    await h.flush();
    expect(h.slack.messages(ch).some((m) => m.text?.includes('error rate back to normal'))).toBe(true);
  });

  it('pins and :pushpin: reactions join the timeline; edits update and deletions mark them', async () => {
    const m1 = h.slack.addMessage(ch, { text: 'graph shows the spike at 10:02', user: CAROL });
    await h.event({
      type: 'pin_added',
      user: DAN,
      channel_id: ch,
      item: { type: 'message', channel: ch, message: { ts: m1.ts, text: m1.text, user: CAROL, permalink: `https://x/p${m1.ts}` } },
      event_ts: '1',
    });
    const m2 = h.slack.addMessage(ch, { text: 'root cause: config flag', user: BOB });
    const ev = { type: 'reaction_added', user: ANA, reaction: 'pushpin', item_user: BOB, item: { type: 'message', channel: ch, ts: m2.ts }, event_ts: '2' };
    await h.event(ev, { eventId: 'EvPUSH1' });
    await h.event(ev, { eventId: 'EvPUSH1', retryNum: 1 }); // a Slack retry: no second entry
    await h.event({ type: 'reaction_added', user: ANA, reaction: 'thumbsup', item: { type: 'message', channel: ch, ts: m2.ts }, event_ts: '3' });
    // Bolt acks events before its listeners finish: wait until the reaction is on record.
    await until(async () => (await timeline(id)).some((e) => e.key === `msg:${m2.ts}`));
    await h.event({ type: 'message', subtype: 'message_changed', channel: ch, message: { ts: m2.ts, text: 'root cause: feature flag' }, event_ts: '4' });
    await h.event({ type: 'message', subtype: 'message_deleted', channel: ch, deleted_ts: m1.ts, event_ts: '5' });
    await until(async () => (await timeline(id)).some((e) => e.key === `msg:${m1.ts}` && e.removed && !(e.key === `msg:${m2.ts}`)));
    await until(async () => (await timeline(id)).some((e) => e.text === 'root cause: feature flag'));
    const pinned = (await timeline(id)).filter((e) => e.kind === 'pinned');
    expect(pinned.map((e) => [e.text, e.removed])).toEqual([
      ['graph shows the spike at 10:02', true],
      ['root cause: feature flag', false],
    ]);
    expect(pinned[1]!.permalink).toContain(m2.ts.replace('.', ''));
    const tl = await h.command('/incident', 'timeline', ANA, { channelId: ch });
    expect(tl.reply.text).toContain('root cause: feature flag');
    expect(tl.reply.text).toContain('(removed)');
  });

  it('follow-ups: created with owner and due date, DM to the owner, done by command or button', async () => {
    const r = await h.command('/incident', `action add a canary for checkout <@${CAROL}> due 2099-01-15`, DAN, { channelId: ch });
    expect(r.reply.text).toBe(`Follow-up #1 added to INC-1 for <@${CAROL}>, due 2099-01-15.`);
    await h.flush();
    const dm = h.slack.dms(CAROL).at(-1)!;
    expect(dm.text).toContain('#1 add a canary for checkout');
    const item = await db().read((tx) => tx.actionItem.findFirstOrThrow({ where: { incidentId: id, number: 1 } }));
    const timers = await db().read((tx) => tx.timer.findMany({ where: { subjectId: item.id } }));
    expect(timers.map((t) => t.dueAt.toISOString()).sort()).toEqual(['2099-01-14T09:00:00.000Z', '2099-01-15T09:00:00.000Z']);
    await h.command('/incident', 'action write runbook', DAN, { channelId: ch });
    expect((await h.command('/incident', 'action done 2', DAN, { channelId: ch })).reply.text).toContain('Follow-up #2 of INC-1 marked done');
    await h.click(ACTIONS.followUp.done, item.id, CAROL);
    expect((await db().read((tx) => tx.actionItem.findUniqueOrThrow({ where: { id: item.id } }))).status).toBe('done');
    expect(await db().read((tx) => tx.timer.count({ where: { subjectId: item.id, status: 'pending' } }))).toBe(0);
  });

  it('the status page shows an incident only once its comms lead (or publish_status) publishes it, and only what was published', async () => {
    await staffed();
    // A private P0 alongside: neither it nor any severity may leak onto the page.
    await declarePrivate('P0', 'Secret vendor breach', DAN);
    const page = async () =>
      (await (await fetch(`${h.muster.url}/api/status/T0001/incidents`)).json()) as { active: { ref: string; title: string; services: string[]; updates: { text: string }[] }[] };
    // Declared and public in Slack, yet not on the page: nothing internal shows unless published.
    expect((await page()).active.map((x) => x.ref)).not.toContain('INC-1');
    // Neither the comms lead (ANA) nor a holder of publish_status: refused, audited, nothing written.
    const denied = await h.command('/incident', 'public title Checkout trouble', DAN, { channelId: ch });
    expect(denied.reply.text).toContain('Only the comms lead of INC-1 (<@UANA>) or a holder of the publish_status permission');
    const refusal = await db().read((tx) => tx.auditEntry.findFirst({ where: { subjectId: 'INC-1', action: 'incident.publish', outcome: 'denied' } }));
    expect(refusal?.actorId).toBe(`slack:T0001:${DAN}`);
    // The comms lead: an update before publishing is refused with the way to publish.
    expect((await h.command('/incident', 'public We are looking into it.', ANA, { channelId: ch })).reply.text).toContain('INC-1 is not on the status page. Publish it first');
    expect((await h.command('/incident', 'public title Payments are failing for some customers', ANA, { channelId: ch })).reply.text).toContain(
      'INC-1 is on the status page now as “Payments are failing for some customers”',
    );
    await h.command('/incident', 'public services checkout, payments', ANA, { channelId: ch });
    const pub = await h.command('/incident', 'public Checkout is degraded; we are rolling back.', ANA, { channelId: ch });
    expect(pub.reply.text).toBe('INC-1 public update posted to the status page.');
    await h.command('/incident', 'note vendor ticket 4411 opened', DAN, { channelId: ch });
    // A manager holds publish_status by default: may speak for any incident.
    await h.command('/incident', 'INC-1 public Rollback half done.', MGR);
    // People and channels picked in public text read as words on the page, never as internal ids.
    await h.command('/incident', `INC-1 public <@${DAN}> is on it, see <#C0GENERAL>.`, MGR);
    const json = await page();
    const shown = json.active.find((x) => x.ref === 'INC-1')!;
    expect(shown).toMatchObject({ title: 'Payments are failing for some customers', services: ['checkout', 'payments'] });
    expect(shown.updates.map((u) => u.text)).toEqual(['a team member is on it, see an internal channel.', 'Rollback half done.', 'Checkout is degraded; we are rolling back.']);
    // In the incident channel the same update names the person live.
    await h.flush();
    expect(h.slack.messages(ch).some((m) => m.text?.includes('Public update by') && m.text.includes(`<@${DAN}> is on it`))).toBe(true);
    const raw = JSON.stringify(json);
    for (const internal of ['vendor ticket', 'Checkout & payments down', 'INC-2', 'Secret vendor breach', 'P0', 'P1', 'severity', DAN, 'C0GENERAL']) expect(raw).not.toContain(internal);
    // Taken off again: gone from the page, its public updates kept (hidden).
    expect((await h.command('/incident', 'public off', ANA, { channelId: ch })).reply.text).toBe('INC-1 is off the status page.');
    expect((await page()).active.map((x) => x.ref)).not.toContain('INC-1');
    expect((await h.command('/incident', 'public title Payments are failing for some customers', ANA, { channelId: ch })).reply.text).toContain('is on the status page now');
    expect((await page()).active.find((x) => x.ref === 'INC-1')?.updates).toHaveLength(3);
    const entries = await db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'INC-1', outcome: 'ok' }, orderBy: { seq: 'asc' } }));
    const actions = entries.map((e) => e.action).filter((a) => /^incident\.(publish|public|unpublish)/.test(a));
    expect(actions).toEqual(['incident.publish', 'incident.public.services', 'incident.public', 'incident.public', 'incident.public', 'incident.unpublish', 'incident.publish']);
  });

  it('resolve from the button modal, postmortem as a file with a review follow-up, then close archives', async () => {
    await staffed();
    // Another incident, still open, to show that close wants it resolved first.
    await declare('P0', 'API errors');
    await h.click(ACTIONS.incident.resolve, id, DAN, { channelId: ch });
    const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(VIEWS.resolve);
    await h.submit(VIEWS.resolve, view.private_metadata, { [FIELDS.text.block]: { [FIELDS.text.action]: stateValue.plainText('rolled back checkout 4.2') } }, DAN);
    await h.flush();
    const inc = await incident(1);
    expect(inc).toMatchObject({ status: 'resolved', summary: 'rolled back checkout 4.2' });
    expect(cardText(ch, cardTs)).not.toContain('"Resolve"');
    const audit = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { action: 'incident.resolve', subjectId: 'INC-1' } }));
    expect(JSON.parse(audit.after!)).toMatchObject({ status: 'resolved', ttrMs: expect.any(Number), ttaMs: expect.any(Number) });

    const pm = await h.command('/incident', 'postmortem', DAN, { channelId: ch });
    expect(pm.reply.text).toContain('INC-1 post-incident review generated');
    await h.flush();
    const file = h.slack.filesIn(ch).at(-1)!;
    expect(file.name).toBe('inc-1-postmortem.md');
    expect(String(file.content)).toContain('# INC-1: Checkout & payments down');
    expect(String(file.content)).toContain('## Timeline');
    const review = await db().read((tx) => tx.actionItem.findFirst({ where: { incidentId: id, text: { contains: 'post-incident review' } } }));
    expect(review).not.toBeNull();
    expect((await incident(1)).postmortem).toContain('## Follow-up actions');

    const early = await h.command('/incident', 'INC-2 close', ANA);
    expect(early.reply.text).toContain('INC-2 cannot be closed: resolve it first');
    const outsider = await h.command('/incident', 'close', 'USRE1', { channelId: ch });
    expect(outsider.reply.text).toContain('Only the reporter');
    const closed = await h.command('/incident', 'close', ANA, { channelId: ch });
    expect(closed.reply.text).toBe('INC-1 closed.');
    await h.flush();
    expect(h.slack.channel(ch)!.is_archived).toBe(true);
    const after = await h.command('/incident', 'update too late', ANA, { channelId: ch });
    expect(after.reply.text).toContain('INC-1 is closed; posting updates is no longer possible');
    expect((await verifyChain(db(), h.muster.kernel.audit.keyring)).ok).toBe(true);
  });
});

describe('nudges and escalation on the controllable clock', () => {
  it('P1 without a commander: nudge at the respond SLA, escalation when ignored, acknowledge stops it', async () => {
    await h.command('/incident', 'declare P1 Search is slow', ANA);
    await h.flush();
    const inc = await incident(1);
    expect(await h.tick()).toBe(0);
    h.clock.advance(15 * MIN);
    expect(await h.tick()).toBe(1); // the respond clock, and nothing else yet
    const ch = inc.channelId!;
    const nudgeMsg = h.slack.messages(ch).find((m) => m.text?.includes('has had no incident commander'))!;
    expect(nudgeMsg.text).toContain(`<@${BOB}>`);
    expect(JSON.stringify(nudgeMsg.blocks)).toContain('Acknowledge');
    expect(JSON.stringify(nudgeMsg.blocks)).toContain('Snooze 30m');
    expect(h.slack.dms(BOB).at(-1)?.text).toContain('has had no incident commander');
    // Ignored for 15 more minutes: escalates to the tech lead (second step of the path); the update clock runs out too.
    h.clock.advance(15 * MIN);
    expect(await h.tick()).toBeGreaterThanOrEqual(1);
    expect(h.slack.dms(CAROL).at(-1)?.text).toContain('Escalated to tech_lead');
    // Acknowledge stops the chain: nothing fires at the manager step.
    const nudge = await db().read((tx) => tx.nudge.findFirstOrThrow({ where: { subjectId: inc.id, kind: 'no-commander' } }));
    await h.click(ACTIONS.nudge.acknowledge, nudge.id, CAROL, { channelId: ch });
    await h.flush();
    expect(JSON.stringify(h.slack.message(ch, nudgeMsg.ts)?.blocks)).toContain(`Acknowledged by <@${CAROL}>`);
    h.clock.advance(60 * MIN);
    await h.tick();
    expect(h.slack.dms(MGR).filter((m) => m.text?.includes('INC-1'))).toHaveLength(0);
    const audit = await db().read((tx) =>
      tx.auditEntry.findMany({ where: { subjectId: 'INC-1', action: { in: ['incident.nudge', 'incident.escalate', 'nudge.acknowledge'] } }, orderBy: { seq: 'asc' } }),
    );
    const noCommander = audit.filter((a) => a.action === 'nudge.acknowledge' || (JSON.parse(a.after!) as { kind: string }).kind === 'no-commander');
    expect(noCommander.map((a) => a.action)).toEqual(['incident.nudge', 'incident.escalate', 'nudge.acknowledge']);
  });

  it('taking commander cancels the nudge timer; updates reset the update clock; snooze brings a nudge back', async () => {
    await h.command('/incident', 'declare P1 Login errors', ANA);
    await h.flush();
    const inc = await incident(1);
    await h.click(ACTIONS.incident.takeCommander, inc.id, DAN, { channelId: inc.channelId! });
    h.clock.advance(20 * MIN);
    await h.command('/incident', 'update still digging', DAN, { channelId: inc.channelId! });
    h.clock.advance(20 * MIN); // 40 min since declare, 20 since the update: nothing due
    await h.tick();
    expect(
      h.slack
        .messages(inc.channelId!)
        .filter((m) => m.text?.includes('no incident commander') || m.text?.includes('no update for'))
        .map((m) => m.text),
    ).toEqual([]);
    h.clock.advance(10 * MIN); // 30 min since the update (P1 cadence)
    await h.tick();
    expect(h.slack.dms(DAN).at(-1)?.text).toContain('INC-1 (P1) has had no update for 30 min');
    const nudge = await db().read((tx) => tx.nudge.findFirstOrThrow({ where: { subjectId: inc.id, kind: 'update-due' } }));
    const snoozed = await h.click(ACTIONS.nudge.snooze, nudge.id, DAN, { channelId: inc.channelId! });
    expect(snoozed.status).toBe(200);
    h.clock.advance(29 * MIN);
    await h.tick();
    const count = h.slack.dms(DAN).filter((m) => m.text?.includes('no update for')).length;
    h.clock.advance(1 * MIN);
    await h.tick();
    expect(h.slack.dms(DAN).filter((m) => m.text?.includes('no update for')).length).toBe(count + 1);
    // An update clears the condition: the pending escalation does nothing, and the
    // cadence starts again from the update.
    await h.command('/incident', 'update fixed the login pool', DAN, { channelId: inc.channelId! });
    const dmsBefore = h.slack.dms(DAN).length;
    h.clock.advance(29 * MIN);
    await h.tick();
    expect(
      h.slack
        .dms(DAN)
        .slice(dmsBefore)
        .filter((m) => m.text?.includes('INC-1')),
    ).toEqual([]);
    expect((await db().read((tx) => tx.nudge.findFirstOrThrow({ where: { id: nudge.id } }))).status).toBe('cleared');
    h.clock.advance(1 * MIN);
    await h.tick();
    expect(
      h.slack
        .dms(DAN)
        .slice(dmsBefore)
        .filter((m) => m.text?.includes('INC-1 (P1) has had no update for 30 min')),
    ).toHaveLength(1);
  });
});

describe('bad input and authority', () => {
  it('each mistake gets a specific message and writes nothing', async () => {
    await declare('P0', 'API errors');
    const count = () => db().read(async (tx) => [await tx.incident.count(), await tx.auditEntry.count(), await tx.timelineEntry.count()]);
    const before = await count();
    const cases: [string, RegExp][] = [
      ['frobnicate', /Unknown subcommand "frobnicate"/],
      ['declare', /Missing title/],
      ['declare P7 broken', /"P7" is not a valid severity/],
      ['INC-99 status identified', /INC-99 does not exist/],
      ['status identified', /This channel is not an incident channel/],
      ['INC-1 status bogus', /"bogus" is not a valid status/],
      ['INC-1 sev P9', /"P9" is not a valid severity/],
      ['INC-1 role boss me', /"boss" is not a valid role/],
      ['INC-1 action x due 2026-02-30', /"2026-02-30" is not a valid due date/],
      ['INC-1 update', /Missing update text/],
    ];
    for (const [text, msg] of cases) {
      const r = await h.command('/incident', text, ANA);
      expect(r.reply.response_type, text).toBe('ephemeral');
      expect(r.reply.text, text).toMatch(msg);
    }
    const ghost = await h.command('/incident', 'INC-1 role tech <@UGHOST>', ANA);
    expect(ghost.reply.text).toBe('<@UGHOST> is not a member of this workspace.');
    const bot = await h.command('/incident', 'INC-1 role tech <@UROBOT>', ANA);
    expect(bot.reply.text).toContain('is a bot');
    expect(await count()).toEqual(before);
  });

  it('list and the App Home show open incidents with severity, age and commander', async () => {
    const over = await declare('P1', 'Checkout & payments down');
    await h.command('/incident', 'resolve rolled back', ANA, { channelId: over.ch });
    expect((await h.command('/incident', 'close', ANA, { channelId: over.ch })).reply.text).toBe('INC-1 closed.');
    await declare('P0', 'API errors');
    await declarePrivate('P2', 'Secret vendor breach', DAN);
    const list = await h.command('/incident', 'list', BOB);
    expect(list.reply.text).toMatch(/\*INC-2\* P0 · investigating · API errors/);
    expect(list.reply.text).not.toContain('INC-1*');
    await h.event({ type: 'app_home_opened', user: CAROL, channel: 'D1', tab: 'home', event_ts: '9' });
    await h.slack.waitFor(() => h.slack.homeView(CAROL));
    const home = JSON.stringify(h.slack.homeView(CAROL));
    expect(home).toContain('INC-2');
    expect(home).toContain('Open incidents');
    expect(home).not.toContain('Secret vendor breach');
  });
});
