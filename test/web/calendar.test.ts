import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ICAL from 'ical.js';
import { startHarness, ADMIN, type Harness } from '../support/harness.ts';
import { TEAM_ID } from '../support/fakeSlack.ts';
import { stateValue } from '../support/slackRequests.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../blocks/actionIds.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { parsePolicyText } from '../../src/config/policy.ts';
import { EnvError, parseEnv } from '../../src/config/env.ts';
import { formatLocal } from '../../src/domain/windows.ts';
import { parseDays, sameSecret } from '../../src/web/calendar.ts';

/**
 * `GET /calendar.ics`: the change calendar as an iCalendar feed, fetched over HTTP from a running
 * Muster and read back with ical.js. The organisation is in Europe/Berlin and the 14 days run across
 * the end of summer time (Sunday 25 October 2026, 03:00 CEST → 02:00 CET): 10:00 local must stay
 * 10:00 local on both sides.
 */
const ZONE = 'Europe/Berlin';
const REQ = 'UREQ';
const RM = 'URM';
const TL = 'UTL';
const SEC = 'USEC';
const PO = 'UPO';
const TOKEN = 'cal-0123456789abcdef-XYZ';
/** Commas, a semicolon and a backslash: TEXT escaping must round-trip. */
const GATEWAY = 'Upgrade the API gateway, v2; blue\\green';

const policyYaml = (extra: string[] = []) =>
  [
    'organization:',
    '  name: Acme',
    `  timeZone: ${ZONE}`,
    'changes:',
    '  channel: "#changes"',
    '  campaignFreezes:',
    '    - name: Autumn sale',
    '      start: "2026-10-28"',
    '      end: "2026-10-29"',
    ...extra,
  ].join('\n');
const policy = (extra: string[] = []) => {
  const parsed = parsePolicyText(policyYaml(extra));
  if (!parsed.policy) throw new Error(JSON.stringify(parsed));
  return parsed.policy;
};

// Wednesday 21 October 2026, 08:00 in Berlin (CEST, UTC+2).
const NOW = new Date('2026-10-21T06:00:00Z');

interface FeedEvent {
  uid: string;
  summary: string;
  description: string;
  start: Date;
  end: Date;
  allDay: boolean;
  /** YYYY-MM-DD of an all-day event's DTSTART / DTEND (exclusive). */
  startDate: string;
  endDate: string;
  sequence: number;
  lastModified: Date | null;
  status: string | null;
  transp: string | null;
}

/** Reads a feed with ical.js (an independent RFC 5545 parser). */
function parseFeed(text: string): { name: string | null; events: FeedEvent[] } {
  const cal = new ICAL.Component(ICAL.parse(text));
  expect(cal.name).toBe('vcalendar');
  const events = cal.getAllSubcomponents('vevent').map((v) => {
    const e = new ICAL.Event(v);
    const lm = v.getFirstPropertyValue('last-modified') as ICAL.Time | null;
    return {
      uid: e.uid,
      summary: e.summary,
      description: e.description,
      start: e.startDate.toJSDate(),
      end: e.endDate.toJSDate(),
      allDay: e.startDate.isDate,
      startDate: e.startDate.toString().slice(0, 10),
      endDate: e.endDate.toString().slice(0, 10),
      sequence: e.sequence,
      lastModified: lm ? lm.toJSDate() : null,
      status: (v.getFirstPropertyValue('status') as string | null) ?? null,
      transp: (v.getFirstPropertyValue('transp') as string | null) ?? null,
    };
  });
  return { name: (cal.getFirstPropertyValue('x-wr-calname') as string | null) ?? null, events };
}

const local = (d: Date, pattern = 'EEE yyyy-MM-dd HH:mm') => formatLocal(d, ZONE, pattern);

async function get(h: Harness, path: string) {
  const res = await fetch(`${h.muster.url}${path}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const form = (values: Record<string, Record<string, unknown>>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { [k]: v }]));
const changeValues = (title: string, start: string, length = '1h') => ({
  [FIELDS.title.block]: stateValue.plainText(title),
  [FIELDS.environment.block]: stateValue.staticSelect('production'),
  [FIELDS.systems.block]: stateValue.plainText('api'),
  [FIELDS.impact.block]: stateValue.staticSelect('medium'),
  [FIELDS.risk.block]: stateValue.staticSelect('medium'),
  [FIELDS.affectedUsers.block]: stateValue.staticSelect('some'),
  [FIELDS.downtime.block]: stateValue.staticSelect('minutes'),
  [FIELDS.windowStart.block]: stateValue.plainText(start),
  [FIELDS.windowLength.block]: stateValue.plainText(length),
  [FIELDS.rollbackPlan.block]: stateValue.plainText('Redeploy the previous image'),
  [FIELDS.rollbackTested.block]: stateValue.radio('yes'),
});

/** Through the form, as a person does it: `/change new normal`, then the modal submitted. */
async function newChange(h: Harness, title: string, start: string) {
  expect((await h.command('/change', 'new normal', REQ)).status).toBe(200);
  const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
  expect(view.callback_id).toBe(VIEWS.changeNew);
  expect((await h.submit(VIEWS.changeNew, view.private_metadata, form(changeValues(title, start)), REQ)).status).toBe(200);
  await h.flush();
}

async function expectNothingLeft(h: Harness) {
  await h.flush();
  const left = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
  expect(left).toEqual([]);
  expect(h.slack.garbled).toEqual([]);
}

describe('GET /calendar.ics: the change calendar as an iCalendar feed', () => {
  let h: Harness;
  const clock = new ManualClock(NOW);
  const change = (n: number) => h.muster.db.read((tx) => tx.changeRequest.findFirstOrThrow({ where: { number: n } }));

  beforeAll(async () => {
    h = await startHarness({ policy: policy(), clock, users: [REQ, RM, TL, SEC, PO].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
    h.slack.addChannel({ id: 'CCHANGES', name: 'changes' });
    for (const [role, user] of [
      ['release_manager', RM],
      ['tech_lead', TL],
      ['security_lead', SEC],
      ['product_owner', PO],
    ]) {
      expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
    }
    // CHG-1 on Thursday before the clocks go back, CHG-2 on Monday after; CHG-2 is approved by the CAB.
    await newChange(h, GATEWAY, '2026-10-22 10:00');
    await newChange(h, 'Rotate TLS certificates', '2026-10-26 10:00');
    const c2 = await change(2);
    for (const u of [RM, TL, SEC]) await h.click(ACTIONS.change.approve, c2.id, u);
    await h.flush();
    expect((await change(2)).status).toBe('scheduled');
    const frozen = await h.command('/change', 'freeze staging 2026-10-23T18:00 load tests', RM);
    expect(frozen.reply.text).toContain('frozen until');
    await h.flush();
  });
  afterAll(async () => h?.close());

  let first: FeedEvent[];

  it('serves text/calendar, never cached, that an RFC 5545 parser reads', async () => {
    const res = await get(h, '/calendar.ics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/calendar; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.text.startsWith('BEGIN:VCALENDAR\r\n')).toBe(true);
    expect(res.text).toContain('PRODID:-//Muster//Change calendar//EN');
    // Times are UTC instants (no floating local times, no TZID without its VTIMEZONE).
    expect(res.text).not.toMatch(/TZID|TIMEZONE-ID/);
    const feed = parseFeed(res.text);
    expect(feed.name).toBe('Acme changes');
    first = feed.events;
    // Informational events: a subscriber is never made busy by them.
    expect(first.every((e) => e.transp === 'TRANSPARENT')).toBe(true);
  });

  it('lists each scheduled change: its ref, title, environment and status, its window, its type and risk, a UID from its id', async () => {
    const [c1, c2] = [await change(1), await change(2)];
    const changes = first.filter((e) => e.summary.startsWith('CHG-'));
    expect(changes.map((e) => e.summary)).toEqual([`CHG-1 ${GATEWAY} (production, pending)`, 'CHG-2 Rotate TLS certificates (production, scheduled)']);
    const [e1, e2] = changes as [FeedEvent, FeedEvent];
    expect(e1.uid).toBe(`${c1.id}@muster`);
    expect(e2.uid).toBe(`${c2.id}@muster`);
    expect(e1.status).toBe('TENTATIVE');
    expect(e2.status).toBe('CONFIRMED');
    expect(e1.description).toContain('Type: normal');
    expect(e1.description).toContain('Risk: medium');
    expect(e1.description).toContain('Status: pending');
    expect(e2.description).toContain('Status: scheduled');
    expect(e1.lastModified).toEqual(c1.updatedAt);
    // 10:00–11:00 in Berlin on both sides of the change to winter time, so 08:00Z then 09:00Z.
    expect([local(e1.start), local(e1.end, 'HH:mm')]).toEqual(['Thu 2026-10-22 10:00', '11:00']);
    expect([local(e2.start), local(e2.end, 'HH:mm')]).toEqual(['Mon 2026-10-26 10:00', '11:00']);
    expect(e1.start.toISOString()).toBe('2026-10-22T08:00:00.000Z');
    expect(e2.start.toISOString()).toBe('2026-10-26T09:00:00.000Z');
  });

  it("lists the deployment windows at 10:00 local across the DST change, Friday's for critical changes only", async () => {
    const windows = first.filter((e) => e.summary.startsWith('Deployment window'));
    // 14 local days from Wednesday 21 October: Mon–Thu 10:00–16:00 (8 days), Fri 10:00–12:00 (2 days).
    expect(windows).toHaveLength(10);
    expect(windows.every((w) => local(w.start, 'HH:mm') === '10:00')).toBe(true);
    expect(windows.map((w) => `${local(w.start, 'EEE dd')}–${local(w.end, 'HH:mm')} ${w.summary}`)).toEqual([
      'Wed 21–16:00 Deployment window',
      'Thu 22–16:00 Deployment window',
      'Fri 23–12:00 Deployment window (critical changes only)',
      'Mon 26–16:00 Deployment window',
      'Tue 27–16:00 Deployment window',
      'Wed 28–16:00 Deployment window',
      'Thu 29–16:00 Deployment window',
      'Fri 30–12:00 Deployment window (critical changes only)',
      'Mon 02–16:00 Deployment window',
      'Tue 03–16:00 Deployment window',
    ]);
    const utcHour = (day: string) => windows.find((w) => local(w.start, 'yyyy-MM-dd') === day)!.start.getUTCHours();
    expect([utcHour('2026-10-22'), utcHour('2026-10-26')]).toEqual([8, 9]);
    expect(new Set(windows.map((w) => w.uid)).size).toBe(windows.length);
  });

  it("lists the freezes as they are: the policy's campaign freeze all day, the declared one timed", async () => {
    const freezes = first.filter((e) => e.summary.startsWith('Change freeze: '));
    expect(freezes.map((f) => f.summary).sort()).toEqual(['Change freeze: Autumn sale', 'Change freeze: load tests']);
    const sale = freezes.find((f) => f.summary === 'Change freeze: Autumn sale')!;
    expect(sale.allDay).toBe(true);
    // DTEND of an all-day event is exclusive: the sale runs through the 29th.
    expect([sale.startDate, sale.endDate]).toEqual(['2026-10-28', '2026-10-30']);
    const declared = freezes.find((f) => f.summary === 'Change freeze: load tests')!;
    expect(declared.allDay).toBe(false);
    expect([declared.start, local(declared.end)]).toEqual([NOW, 'Fri 2026-10-23 18:00']);
    expect(declared.description).toContain('Applies to: staging');
  });

  it('shows what /change calendar shows', async () => {
    const text = (await h.command('/change', 'calendar', REQ)).reply.text ?? '';
    expect(text).toContain('CHG-1');
    expect(text).toContain('CHG-2');
    expect(text).toContain('load tests');
    expect(text).toContain('Autumn sale');
  });

  it('keeps every UID across fetches; a moved change keeps its UID, with a later SEQUENCE and LAST-MODIFIED', async () => {
    const again = parseFeed((await get(h, '/calendar.ics')).text).events;
    expect(again.map((e) => e.uid)).toEqual(first.map((e) => e.uid));
    const before = first.find((e) => e.summary.startsWith('CHG-1'))!;

    clock.advance(10 * 60_000);
    expect((await h.command('/change', 'edit CHG-1', REQ)).status).toBe(200);
    const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(VIEWS.changeEdit);
    expect((await h.submit(VIEWS.changeEdit, view.private_metadata, form(changeValues(GATEWAY, '2026-10-22 14:00')), REQ)).status).toBe(200);
    await h.flush();

    const moved = parseFeed((await get(h, '/calendar.ics')).text).events;
    const after = moved.find((e) => e.uid === before.uid)!;
    expect(after.summary).toBe(before.summary);
    expect([local(after.start), local(after.end, 'HH:mm')]).toEqual(['Thu 2026-10-22 14:00', '15:00']);
    expect(after.sequence).toBeGreaterThan(before.sequence);
    expect(after.lastModified!.getTime()).toBeGreaterThan(before.lastModified!.getTime());
    expect(after.lastModified).toEqual((await change(1)).updatedAt);
    // Nothing else moved.
    expect(moved.map((e) => e.uid).sort()).toEqual(first.map((e) => e.uid).sort());
  });

  it('looks ?days= ahead, up to 60; anything else is a 400 that says what is allowed', async () => {
    const three = parseFeed((await get(h, '/calendar.ics?days=3')).text).events;
    expect(three.filter((e) => e.summary.startsWith('Deployment window')).map((w) => local(w.start, 'EEE'))).toEqual(['Wed', 'Thu', 'Fri']);
    expect(three.map((e) => e.summary)).not.toContain('CHG-2 Rotate TLS certificates (production, scheduled)');
    expect(three.map((e) => e.summary)).not.toContain('Change freeze: Autumn sale');
    const sixty = await get(h, '/calendar.ics?days=60');
    expect(sixty.status).toBe(200);
    // Wednesday 21 October + 60 days runs through Saturday 19 December.
    expect(
      local(
        parseFeed(sixty.text)
          .events.filter((e) => e.summary.startsWith('Deployment window'))
          .at(-1)!.start,
      ),
    ).toBe('Fri 2026-12-18 10:00');
    for (const bad of ['1000', '61', '0', '-1', 'abc', '1.5', '', '14&days=15']) {
      const res = await get(h, `/calendar.ics?days=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.text).toContain('days must be a whole number of days from 1 to 60');
    }
  });

  it('serves a workspace by its id; with two workspaces and none chosen, /calendar.ics is a 404', async () => {
    expect((await get(h, `/calendar/${TEAM_ID}.ics`)).status).toBe(200);
    expect((await get(h, '/calendar/T0404.ics')).status).toBe(404);
    await h.muster.db.tx((tx) => tx.workspace.create({ data: { id: 'slack:T0002', platform: 'slack', externalId: 'T0002' } }));
    const none = await get(h, '/calendar.ics');
    expect(none.status).toBe(404);
    expect(none.text).toContain('/calendar/<workspace id>.ics');
    const mine = parseFeed((await get(h, `/calendar/${TEAM_ID}.ics`)).text).events;
    expect(mine.some((e) => e.summary.startsWith('CHG-1'))).toBe(true);
    // The other workspace has its own windows and none of these changes or declared freezes.
    const other = parseFeed((await get(h, '/calendar/T0002.ics')).text).events;
    expect(other.filter((e) => e.summary.startsWith('CHG-'))).toEqual([]);
    expect(other.map((e) => e.summary)).not.toContain('Change freeze: load tests');
    expect(other.filter((e) => e.summary.startsWith('Deployment window'))).toHaveLength(10);
  });

  it('leaves nothing dead-lettered or waiting', async () => {
    await expectNothingLeft(h);
  });
});

describe('CALENDAR_TOKEN', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ policy: policy(['statusPage:', `  workspace: ${TEAM_ID}`]), clock: new ManualClock(NOW), env: { CALENDAR_TOKEN: TOKEN } });
    // A command makes this workspace known; a second one makes the choice matter.
    expect((await h.command('/change', 'calendar', ADMIN)).status).toBe(200);
    await h.muster.db.tx((tx) => tx.workspace.create({ data: { id: 'slack:T0002', platform: 'slack', externalId: 'T0002' } }));
  });
  afterAll(async () => h?.close());

  it('refuses the feed without the token, or with a wrong one (403), before anything else', async () => {
    for (const path of [
      '/calendar.ics',
      `/calendar.ics?token=${TOKEN.slice(0, -1)}`,
      `/calendar.ics?token=${TOKEN}x`,
      `/calendar.ics?token=${TOKEN}&token=${TOKEN}`,
      '/calendar.ics?token=',
      `/calendar/T0002.ics`,
      '/calendar/T0404.ics',
      '/calendar.ics?days=1000',
    ]) {
      const res = await get(h, path);
      expect(res.status, path).toBe(403);
      expect(res.text).toContain('?token=');
      expect(res.text).not.toContain(TOKEN);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('serves it with the token: statusPage.workspace chooses among two', async () => {
    const res = await get(h, `/calendar.ics?token=${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/calendar; charset=utf-8');
    expect(parseFeed(res.text).events.filter((e) => e.summary.startsWith('Deployment window')).length).toBeGreaterThan(0);
    expect((await get(h, `/calendar/T0002.ics?token=${TOKEN}`)).status).toBe(200);
    expect((await get(h, `/calendar/T0404.ics?token=${TOKEN}`)).status).toBe(404);
    expect((await get(h, `/calendar.ics?token=${TOKEN}&days=1000`)).status).toBe(400);
  });

  it('leaves nothing dead-lettered or waiting', async () => {
    await expectNothingLeft(h);
  });
});

describe('the pieces', () => {
  it('CALENDAR_TOKEN: unset or empty means none; a short one, or one that cannot go into a URL as it is, stops start-up without echoing it', () => {
    expect(parseEnv({}).CALENDAR_TOKEN).toBeUndefined();
    expect(parseEnv({ CALENDAR_TOKEN: '  ' }).CALENDAR_TOKEN).toBeUndefined();
    expect(parseEnv({ CALENDAR_TOKEN: TOKEN }).CALENDAR_TOKEN).toBe(TOKEN);
    for (const [bad, message] of [
      ['short-secret', 'at least 16 characters'],
      ['0123456789abcdef&x=1', 'only letters, digits'],
      ['0123456789abcdef 01', 'only letters, digits'],
    ] as const) {
      try {
        parseEnv({ CALENDAR_TOKEN: bad });
        expect.unreachable(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(EnvError);
        expect((e as EnvError).message).toContain(message);
        expect((e as EnvError).message).not.toContain(bad);
      }
    }
  });

  it('compares tokens of any length', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    expect(sameSecret('', TOKEN)).toBe(false);
    expect(sameSecret(`${TOKEN}${TOKEN}`, TOKEN)).toBe(false);
  });

  it('reads ?days=', () => {
    expect(parseDays(undefined)).toEqual({ days: 14 });
    expect(parseDays('1')).toEqual({ days: 1 });
    expect(parseDays('60')).toEqual({ days: 60 });
    for (const bad of ['0', '61', '1000', '7.5', ' 7', '', ['3', '4']]) expect(parseDays(bad)).toHaveProperty('error');
  });
});
