import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import type { FakeMessage } from '../../support/fakeSlack.ts';
import { defaultPolicy, parsePolicyText } from '../../../src/config/policy.ts';
import { ACTIONS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';

/*
 * Every timer Muster sets, fired on the manual clock through the real Bolt app and the fake Slack, and what the
 * person it is for then sees. Each test starts its own Muster on its own database, so no other test's timers fire
 * in between and every message a person receives can be asserted, including that nobody else received one.
 */

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const START = Date.parse('2026-03-02T10:00:00.000Z'); // a Monday

const ANA = 'UANA'; // declares incidents
const BOB = 'UBOB'; // oncall
const CAROL = 'UCAROL'; // tech_lead
const DAN = 'UDAN'; // takes commander
const MGR = 'UMGR'; // manager
const DIR = 'UDIR'; // director
const VP = 'UVP'; // vp
const CTO = 'UCTO'; // cto
const DEV = 'UDEV'; // asks for approvals
const QA = 'UQA'; // qa_lead
const TL = 'UTL'; // tech_lead (approvals)

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function setup(o: { policy?: string; roles: [string, string][]; start?: number }): Promise<Harness> {
  const parsed = o.policy === undefined ? { policy: defaultPolicy(), problems: [] } : parsePolicyText(o.policy);
  if (!parsed.policy) throw new Error(`test policy is invalid: ${JSON.stringify(parsed.problems)}`);
  const people = [ANA, BOB, CAROL, DAN, MGR, DIR, VP, CTO, DEV, QA, TL];
  const users = people.map((id) => ({ id, name: id.slice(1).toLowerCase() }));
  h = await startHarness({ policy: parsed.policy, clock: new ManualClock(o.start ?? START), users });
  for (const [role, user] of o.roles) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
  return h;
}

/** Slack's date token, as Muster writes it on cards: each reader sees it in their own time zone. */
const slackDate = (ms: number) => `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${new Date(ms).toISOString().replace('.000Z', 'Z')}>`;

interface Seen {
  text: string;
  lines: string[];
  buttons: [label: string, actionId: string, value: string][];
}
/** A message as its reader sees it: the notification text, the text of every block, and the buttons. */
function seen(m: FakeMessage | undefined): Seen | undefined {
  if (!m) return undefined;
  const lines: string[] = [];
  const buttons: Seen['buttons'] = [];
  type Element = { type: string; text?: string | { text: string }; action_id?: string; value?: string };
  type Block = { type: string; text?: { text: string }; fields?: { text: string }[]; elements?: Element[] };
  for (const b of (m.blocks ?? []) as Block[]) {
    if (b.text) lines.push(b.text.text);
    for (const f of b.fields ?? []) lines.push(f.text);
    for (const e of b.elements ?? []) {
      if (e.type === 'button') buttons.push([(e.text as { text: string }).text, e.action_id!, e.value!]);
      else if (typeof e.text === 'string') lines.push(e.text);
    }
  }
  return { text: m.text, lines, buttons };
}

/**
 * What arrived since the last look, per DM (user id) and per channel (channel id). Returning every watched
 * inbox, empty ones included, lets one assertion say both who was told what and that nobody else was told.
 */
function watch(users: string[], channels: string[] = []) {
  const h0 = h!;
  const read = (k: string) => (k.startsWith('U') ? h0.slack.dms(k) : h0.slack.messages(k));
  const seenCount = new Map([...users, ...channels].map((k) => [k, read(k).length]));
  return {
    /** The answer when nobody was told anything. */
    none: Object.fromEntries([...users, ...channels].map((k) => [k, []])) as Record<string, Seen[]>,
    next(): Record<string, Seen[]> {
      const out: Record<string, Seen[]> = {};
      for (const k of seenCount.keys()) {
        const all = read(k);
        out[k] = all.slice(seenCount.get(k)).map((m) => seen(m)!);
        seenCount.set(k, all.length);
      }
      return out;
    },
  };
}
type Watch = ReturnType<typeof watch>;

/**
 * Moves the manual clock to `START + ms` (or to an absolute time), fires what is due and returns what people were
 * sent. Counting fired timers would not do: the audit checkpoint is a timer too, and tells nobody anything.
 */
async function at(ms: number, w: Watch, absolute = false): Promise<Record<string, Seen[]>> {
  h!.clock.set(absolute ? ms : START + ms);
  await h!.tick();
  return w.next();
}

/** Nothing dead-lettered, nothing left undelivered, no timer whose handler gave up. */
async function expectSettled(): Promise<void> {
  await h!.flush();
  expect(h!.slack.garbled, 'no text flattened to [object Object]').toEqual([]);
  const stuck = await h!.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { status: { in: ['dead', 'pending', 'running'] } } }));
  expect(stuck.map((e) => ({ id: e.id, op: e.op, status: e.status, error: e.lastError }))).toEqual([]);
  const failed = await h!.muster.db.read((tx) => tx.timer.findMany({ where: { status: 'failed' } }));
  expect(failed.map((t) => ({ key: t.key, error: t.lastError }))).toEqual([]);
}

async function declare(text: string): Promise<{ id: string; channel: string }> {
  const r = await h!.command('/incident', `declare ${text}`, ANA);
  expect(r.reply.text).toContain('Declared *INC-1*');
  await h!.flush();
  const row = await h!.muster.db.read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
  return { id: row.id, channel: row.channelId! };
}
const nudgeOf = (incidentId: string, kind: string) => h!.muster.db.read((tx) => tx.nudge.findFirstOrThrow({ where: { subjectId: incidentId, kind } }));

const NUDGE_BUTTONS = (nudgeId: string): Seen['buttons'] => [
  ['Acknowledge', ACTIONS.nudge.acknowledge, nudgeId],
  ['Snooze 30m', ACTIONS.nudge.snooze, nudgeId],
];
/** A nudge as the channel shows it: the people it is for, then the text, with both buttons. */
const channelNudge = (users: string[], text: string, nudgeId: string): Seen => ({
  text: `${users.map((u) => `<@${u}>`).join(' ')} ${text}`,
  lines: [`${users.map((u) => `<@${u}>`).join(' ')} :alarm_clock: ${text}`],
  buttons: NUDGE_BUTTONS(nudgeId),
});
/** The same nudge in a DM: no mention of the reader, the same buttons. */
const dmNudge = (text: string, nudgeId: string): Seen => ({ text, lines: [`:alarm_clock: ${text}`], buttons: NUDGE_BUTTONS(nudgeId) });
/** All that one nudge sends: a DM to the person it is for, and a copy in the incident's channel naming them. */
const nudged = (w: Watch, who: string, channel: string, text: string, nudgeId: string) => ({
  ...w.none,
  [who]: [dmNudge(text, nudgeId)],
  [channel]: [channelNudge([who], text, nudgeId)],
});

const INCIDENT_ROLES: [string, string][] = [
  ['oncall', BOB],
  ['tech_lead', CAROL],
  ['manager', MGR],
  ['cto', CTO],
];

describe('incident nudges and the escalation path', () => {
  // The update cadence is moved past the whole no-commander chain, so each step below is that chain alone.
  const ONLY_NO_COMMANDER = 'incidents:\n  severities:\n    P1: { updateEvery: 2h }\n';
  const noCommander = (age: string) => `INC-1 (P1) has had no incident commander for ${age} (respond SLA 15m). Someone press *Take commander*.`;

  it('no commander: nudge at the respond SLA to on-call, then tech lead, manager and CTO, each once, in the channel and by DM', async () => {
    await setup({ policy: ONLY_NO_COMMANDER, roles: INCIDENT_ROLES });
    const inc = await declare('P1 Search is slow');
    const w = watch([ANA, BOB, CAROL, MGR, CTO], [inc.channel]);

    expect(await at(15 * MIN - 1, w)).toEqual(w.none);
    const first = await at(15 * MIN, w);
    const nudge = await nudgeOf(inc.id, 'no-commander');
    expect(first).toEqual(nudged(w, BOB, inc.channel, noCommander('15 min'), nudge.id));

    // Each level of incidents.escalation, `after` counted from the first nudge: 15m, 30m, 1h.
    const levels: [number, string, string, string][] = [
      [30 * MIN, CAROL, 'tech_lead (level 1)', '30 min'],
      [45 * MIN, MGR, 'manager (level 2)', '45 min'],
      [75 * MIN, CTO, 'cto (level 3)', '1 h 15 min'],
    ];
    for (const [when, who, level, age] of levels) {
      expect(await at(when - 1, w), level).toEqual(w.none);
      const text = `:rotating_light: Escalated to ${level}: ${noCommander(age)}`;
      expect(await at(when, w), level).toEqual(nudged(w, who, inc.channel, text, nudge.id));
    }
    // The path ends at the CTO: nothing more comes of this nudge.
    expect(await at(2 * HOUR - 1, w)).toEqual(w.none);
    const audit = await h!.muster.db.read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'INC-1', action: { in: ['incident.nudge', 'incident.escalate'] } }, orderBy: { seq: 'asc' } }));
    expect(audit.map((a) => [a.action, (JSON.parse(a.after!) as { role: string }).role])).toEqual([
      ['incident.nudge', 'oncall'],
      ['incident.escalate', 'tech_lead'],
      ['incident.escalate', 'manager'],
      ['incident.escalate', 'cto'],
    ]);
    await expectSettled();
  });

  it('Acknowledge on the nudge stops the escalation, and the channel copy says who acknowledged it', async () => {
    await setup({ policy: ONLY_NO_COMMANDER, roles: INCIDENT_ROLES });
    const inc = await declare('P1 Search is slow');
    const w = watch([ANA, BOB, CAROL, MGR, CTO], [inc.channel]);
    const first = await at(15 * MIN, w);
    const nudge = await nudgeOf(inc.id, 'no-commander');
    expect(first[inc.channel]).toEqual([channelNudge([BOB], noCommander('15 min'), nudge.id)]);

    h!.clock.set(START + 20 * MIN);
    const r = await h!.click(ACTIONS.nudge.acknowledge, nudge.id, BOB, { channelId: h!.slack.imChannelId(BOB) });
    expect(r.status).toBe(200);
    expect(JSON.parse(await h!.lastSaid())).toMatchObject({ text: 'Acknowledged. Escalation stopped.' });
    await h!.flush();
    const copy = h!.slack.messages(inc.channel).find((m) => m.text.includes('has had no incident commander'));
    expect(seen(copy)).toEqual({
      text: noCommander('15 min'),
      lines: [`:alarm_clock: ${noCommander('15 min')}`, `Acknowledged by <@${BOB}> ${slackDate(START + 20 * MIN)}`],
      buttons: [],
    });

    // When the tech lead, the manager and the CTO would have been told: nobody is.
    for (const when of [30 * MIN, 45 * MIN, 75 * MIN]) expect(await at(when, w)).toEqual(w.none);
    await expectSettled();
  });

  it('Snooze 30m silences the nudge; it comes back at the same level, and the escalation resumes from there', async () => {
    await setup({ policy: ONLY_NO_COMMANDER, roles: INCIDENT_ROLES });
    const inc = await declare('P1 Search is slow');
    const w = watch([ANA, BOB, CAROL, MGR, CTO], [inc.channel]);
    await at(15 * MIN, w);
    const nudge = await nudgeOf(inc.id, 'no-commander');

    await h!.click(ACTIONS.nudge.snooze, nudge.id, BOB, { channelId: h!.slack.imChannelId(BOB) });
    const back = new Date(START + 45 * MIN).toISOString();
    expect(JSON.parse(await h!.lastSaid())).toMatchObject({ text: `Snoozed for 30m; it comes back at ${back} if still needed.` });
    await h!.flush();
    const copy = h!.slack.messages(inc.channel).find((m) => m.text.includes('has had no incident commander'));
    expect(seen(copy)).toEqual({
      text: noCommander('15 min'),
      lines: [`:alarm_clock: ${noCommander('15 min')}`, `Snoozed until ${slackDate(START + 45 * MIN)}`],
      buttons: [],
    });

    // The tech lead's turn (30 min) passes in silence while the nudge sleeps.
    expect(await at(30 * MIN, w)).toEqual(w.none);
    expect(await at(45 * MIN - 1, w)).toEqual(w.none);
    // Back to on-call at the same level, with both buttons again …
    expect(await at(45 * MIN, w)).toEqual(nudged(w, BOB, inc.channel, noCommander('45 min'), nudge.id));
    // … and only 15 minutes after that does it reach the tech lead.
    expect(await at(60 * MIN - 1, w)).toEqual(w.none);
    const escalated = `:rotating_light: Escalated to tech_lead (level 1): ${noCommander('1 h 0 min')}`;
    expect(await at(60 * MIN, w)).toEqual(nudged(w, CAROL, inc.channel, escalated, nudge.id));
    await expectSettled();
  });

  it('update due and resolution SLA breached: nudges go to the commander, then escalate along the path', async () => {
    await setup({ roles: INCIDENT_ROLES });
    const inc = await declare('P1 Login errors');
    await h!.click(ACTIONS.incident.takeCommander, inc.id, DAN, { channelId: inc.channel });
    await h!.flush();
    const w = watch([ANA, BOB, CAROL, DAN, MGR, CTO], [inc.channel]);

    // No update for the P1 cadence (30 min): the commander is asked for one.
    expect(await at(30 * MIN - 1, w)).toEqual(w.none);
    const asked = await at(30 * MIN, w);
    const update = await nudgeOf(inc.id, 'update-due');
    const updateText = 'INC-1 (P1) has had no update for 30 min (cadence 30m). Post one with `/incident update …` or *Post update*.';
    expect(asked).toEqual(nudged(w, DAN, inc.channel, updateText, update.id));
    await h!.click(ACTIONS.nudge.acknowledge, update.id, DAN, { channelId: h!.slack.imChannelId(DAN) });
    await h!.flush();
    w.next();

    // Open past the P1 resolution SLA (4 h): the commander first, the tech lead 15 minutes later.
    expect(await at(4 * HOUR - 1, w)).toEqual(w.none);
    const breached = await at(4 * HOUR, w);
    const late = await nudgeOf(inc.id, 'resolve-sla');
    const lateText = (age: string) => `INC-1 (P1) is past its resolution SLA of 4h (open ${age}).`;
    expect(breached).toEqual(nudged(w, DAN, inc.channel, lateText('4 h 0 min'), late.id));
    const escalated = `:rotating_light: Escalated to tech_lead (level 1): ${lateText('4 h 15 min')}`;
    expect(await at(4 * HOUR + 15 * MIN, w)).toEqual(nudged(w, CAROL, inc.channel, escalated, late.id));

    // Resolving ends the condition: the manager is never told.
    await h!.command('/incident', 'resolve rolled back the login pool', DAN, { channelId: inc.channel });
    await h!.flush();
    w.next();
    expect(await at(4 * HOUR + 30 * MIN, w)).toEqual(w.none);
    expect(await at(5 * HOUR + 15 * MIN, w)).toEqual(w.none);
    await expectSettled();
  });
});

describe('approval reminders, escalation and expiry', () => {
  /** Every copy of the request's card, as it reads now. */
  async function copies(requestId: string): Promise<{ place: string; status: string | undefined; buttons: Seen['buttons'] }[]> {
    const cards = await h!.muster.db.read((tx) => tx.approvalCard.findMany({ where: { requestId }, orderBy: { id: 'asc' } }));
    const effects = await h!.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { id: { in: cards.map((c) => c.effectId) } } }));
    return cards.map((c) => {
      const r = JSON.parse(effects.find((e) => e.id === c.effectId)!.result!) as { channel: string; ts: string };
      const s = seen(h!.slack.message(r.channel, r.ts))!;
      return { place: c.place, status: s.lines.find((l) => /Pending|Expired/.test(l)), buttons: s.buttons };
    });
  }
  const plain = (text: string): Seen[] => [{ text, lines: [], buttons: [] }];

  it('a deployment: approvers reminded at 2h, then manager 4h, director 8h, vp 16h; expired at 24h, the requester told once', async () => {
    // The requester also holds manager: an escalation never goes back to the person who asked.
    await setup({
      roles: [
        ['qa_lead', QA],
        ['manager', MGR],
        ['manager', DEV],
        ['director', DIR],
        ['vp', VP],
        ['cto', CTO],
      ],
    });
    const r = await h!.command('/approval', 'deploy uat api 1.2.3', DEV);
    expect(r.reply.text).toBe(`APR-1 requested: Deploy api 1.2.3 to uat. Needs qa_lead (1 approval in all); asked <@${QA}>. Expires in 1d.`);
    await h!.flush();
    const req = await h!.muster.db.read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: 1 } }));
    const w = watch([DEV, QA, MGR, DIR, VP, CTO]);

    const from = `APR-1 (Deploy api 1.2.3 to uat) from <@${DEV}>`;
    const steps: [number, string, string][] = [
      [2 * HOUR, QA, `Reminder: ${from} has waited 2h for your approval (0 of 1 — needs qa_lead).`],
      [4 * HOUR, MGR, `:rotating_light: Escalation (manager): ${from} has waited 4h (0 of 1 — needs qa_lead).`],
      [8 * HOUR, DIR, `:rotating_light: Escalation (director): ${from} has waited 8h (0 of 1 — needs qa_lead).`],
      [16 * HOUR, VP, `:rotating_light: Escalation (vp): ${from} has waited 16h (0 of 1 — needs qa_lead).`],
    ];
    for (const [when, who, text] of steps) {
      expect(await at(when - 1, w), text).toEqual(w.none);
      expect(await at(when, w), text).toEqual({ ...w.none, [who]: plain(text) });
    }
    const pending = `:hourglass_flowing_sand: *Pending* · 0/1 · needs qa_lead`;
    const approveReject = [
      ['Approve', ACTIONS.approval.approve, req.id],
      ['Reject', ACTIONS.approval.reject, req.id],
    ];
    expect(await copies(req.id)).toEqual([
      { place: 'channel', status: pending, buttons: approveReject },
      { place: 'dm', status: pending, buttons: approveReject },
    ]);

    expect(await at(DAY - 1, w)).toEqual(w.none);
    expect(await at(DAY, w)).toEqual({ ...w.none, [DEV]: plain('Your request APR-1 (Deploy api 1.2.3 to uat) was *expired*.') });
    const expired = `:hourglass: *Expired* ${slackDate(START + DAY)}`;
    expect(await copies(req.id)).toEqual([
      { place: 'channel', status: expired, buttons: [] },
      { place: 'dm', status: expired, buttons: [] },
    ]);
    // No C-level step for deployments, and expiry is told once: a week later nothing more has come.
    expect(await at(8 * DAY, w)).toEqual(w.none);
    await expectSettled();
  });

  it('a decision-rights request: reminder at 24h, then manager 48h, director 72h, vp 5d, cto 7d; expired at 10d', async () => {
    await setup({
      roles: [
        ['tech_lead', TL],
        ['manager', MGR],
        ['director', DIR],
        ['vp', VP],
        ['cto', CTO],
      ],
    });
    const r = await h!.command('/approval', 'request technical infrastructure - Move the fleet to ARM', DEV);
    expect(r.reply.text).toBe(`APR-1 requested: Move the fleet to ARM. Needs tech_lead or platform_owner or devops_lead (1 approval in all); asked <@${TL}>. Expires in 10d.`);
    await h!.flush();
    const req = await h!.muster.db.read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: 1 } }));
    const w = watch([DEV, TL, MGR, DIR, VP, CTO]);

    const from = `APR-1 (Move the fleet to ARM) from <@${DEV}>`;
    const needs = '0 of 1 — needs tech_lead or platform_owner or devops_lead';
    const steps: [number, string, string][] = [
      [DAY, TL, `Reminder: ${from} has waited 1d for your approval (${needs}).`],
      [2 * DAY, MGR, `:rotating_light: Escalation (manager): ${from} has waited 2d (${needs}).`],
      [3 * DAY, DIR, `:rotating_light: Escalation (director): ${from} has waited 3d (${needs}).`],
      [5 * DAY, VP, `:rotating_light: Escalation (vp): ${from} has waited 5d (${needs}).`],
      [7 * DAY, CTO, `:rotating_light: Escalation (cto): ${from} has waited 7d (${needs}).`],
    ];
    for (const [when, who, text] of steps) {
      expect(await at(when - 1, w), text).toEqual(w.none);
      expect(await at(when, w), text).toEqual({ ...w.none, [who]: plain(text) });
    }

    expect(await at(10 * DAY - 1, w)).toEqual(w.none);
    expect(await at(10 * DAY, w)).toEqual({ ...w.none, [DEV]: plain('Your request APR-1 (Move the fleet to ARM) was *expired*.') });
    const expired = `:hourglass: *Expired* ${slackDate(START + 10 * DAY)}`;
    expect(await copies(req.id)).toEqual([
      { place: 'channel', status: expired, buttons: [] },
      { place: 'dm', status: expired, buttons: [] },
    ]);
    expect(await at(20 * DAY, w)).toEqual(w.none);
    await expectSettled();
  });
});

describe('follow-up reminders', () => {
  it("the day before and on the due day, at 09:00 in the organisation's time zone, to the owner, with Mark done", async () => {
    // New York leaves summer time on Sunday 2026-11-01, so "the day before at 09:00" is then 25 h before, not 24 h.
    const start = Date.parse('2026-10-29T15:00:00.000Z'); // Thursday, 11:00 in New York
    await setup({ policy: 'organization:\n  timeZone: America/New_York\n', roles: [['oncall', BOB]], start });
    const inc = await declare('P3 Slow exports');
    const add = async (text: string) => (await h!.command('/incident', text, ANA, { channelId: inc.channel })).reply.text;
    expect(await add(`action rotate the export keys <@${CAROL}> due 2026-11-01`)).toBe(`Follow-up #1 added to INC-1 for <@${CAROL}>, due 2026-11-01.`);
    expect(await add(`action add an export canary <@${CAROL}> due 2026-11-03`)).toBe(`Follow-up #2 added to INC-1 for <@${CAROL}>, due 2026-11-03.`);
    await h!.flush();
    const [keys, canary] = await h!.muster.db.read((tx) => tx.actionItem.findMany({ where: { incidentId: inc.id }, orderBy: { number: 'asc' } }));
    const card = (intro: string, item: NonNullable<typeof keys>): Seen => {
      const line = `${intro}: *#${item.number} ${item.text}* (due ${item.dueDate})`;
      return { text: line, lines: [line], buttons: [['Mark done', ACTIONS.followUp.done, item.id]] };
    };
    const given = `<@${ANA}> gave you a follow-up from INC-1`;
    expect(h!.slack.dms(CAROL).map((m) => seen(m))).toEqual([card(given, keys!), card(given, canary!)]);
    // The incident is over before its follow-ups are: their reminders still come.
    await h!.command('/incident', 'resolve exports index rebuilt', ANA, { channelId: inc.channel });
    await h!.flush();
    const w = watch([ANA, BOB, CAROL], [inc.channel]);

    const reminders: [string, NonNullable<typeof keys>, string][] = [
      ['2026-10-31T13:00:00.000Z', keys!, 'is due tomorrow (2026-11-01)'], // Saturday 09:00 EDT
      ['2026-11-01T14:00:00.000Z', keys!, 'is due today (2026-11-01)'], // Sunday 09:00 EST
      ['2026-11-02T14:00:00.000Z', canary!, 'is due tomorrow (2026-11-03)'], // Monday 09:00 EST
    ];
    for (const [when, item, due] of reminders) {
      expect(await at(Date.parse(when) - 1, w, true), when).toEqual(w.none);
      const reminder = card(`Reminder: your follow-up from INC-1 ${due}`, item);
      expect(await at(Date.parse(when), w, true), when).toEqual({ ...w.none, [CAROL]: [reminder] });
    }

    // Mark done from the reminder: the follow-up is done, and its due-day reminder never comes.
    await h!.click(ACTIONS.followUp.done, canary!.id, CAROL, { channelId: h!.slack.imChannelId(CAROL) });
    expect(JSON.parse(await h!.lastSaid())).toMatchObject({ text: 'Follow-up #2 of INC-1 marked done: add an export canary' });
    expect(await at(Date.parse('2026-11-03T14:00:00.000Z'), w, true)).toEqual(w.none);
    await expectSettled();
  });
});
