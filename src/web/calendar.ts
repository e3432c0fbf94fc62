import { createHash, timingSafeEqual } from 'node:crypto';
import { TZDate } from '@date-fns/tz';
import { Router, type Response } from 'express';
import ical, { ICalEventBusyStatus, ICalEventStatus, ICalEventTransparency, type ICalCalendar, type ICalEventData } from 'ical-generator';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.ts';
import { STATUS_LABEL, type ChangeStatus, type ChangeType } from '../domain/change.ts';
import { formatLocal, type FreezePeriod, type WindowSlot } from '../domain/windows.ts';
import type { CalendarChange, ChangeService } from '../services/changes.ts';
import type { Database } from '../store/db.ts';

/**
 * The change calendar as an iCalendar feed (RFC 5545) that people subscribe to in their calendar
 * app: `GET /calendar/<workspace>.ics` for any workspace, `GET /calendar.ics` for the one chosen by
 * `statusPage.workspace` in the policy, or the only one there is (the status page's rule). It holds
 * what `/change calendar` shows (ChangeService.calendarData): the changes scheduled in the next
 * `?days=` days (14 by default, at most 60), the freezes, and the deployment windows.
 *
 * Times: timed events are written in UTC (`DTSTART:20260326T090000Z`), computed from the
 * organisation's time zone by @date-fns/tz, so 10:00 in Europe/Berlin is 09:00Z in winter and
 * 08:00Z in summer and every calendar app shows it at 10:00 Berlin time. A freeze that runs from
 * local midnight to local midnight (blackouts, holidays, campaign and end-of-quarter freezes) is an
 * all-day event (`DTSTART;VALUE=DATE`). We do not use ical-generator's calendar time zone: without
 * a VTIMEZONE generator it writes floating local times, converts plain Dates with the *server's*
 * zone and writes DTSTAMP without its `Z`.
 *
 * Change titles are internal: with CALENDAR_TOKEN set, every request needs `?token=<it>` (403
 * otherwise); without it the feed is open to whoever reaches the URL (docs/deployment.md).
 */

/** How far ahead the feed looks unless `?days=` says otherwise (as `/change calendar`). */
export const DEFAULT_DAYS = 14;
/** The most `?days=` may ask for. */
export const MAX_DAYS = 60;
/** How often calendar apps are asked to refresh (REFRESH-INTERVAL, X-PUBLISHED-TTL). */
const REFRESH_SECONDS = 15 * 60;
/** SEQUENCE counts seconds from here: it grows with every update of a change and fits in a 32-bit INTEGER until 2088. */
const SEQUENCE_EPOCH_MS = Date.UTC(2020, 0, 1);

export interface CalendarFeedOptions {
  /** Where the calendar comes from. */
  changes: Pick<ChangeService, 'calendarData'>;
  /** CALENDAR_TOKEN: when set, `?token=` must equal it. */
  token?: string;
  /** The workspace `/calendar.ics` shows (statusPage.workspace): its id on its chat platform. */
  workspace?: string;
  /** The organisation's name (organization.name), in the calendar's name. */
  organization?: string;
  log?: Logger;
}

interface FeedWorkspace {
  id: string;
  externalId: string;
  name: string | null;
}

/** The workspace a request asks for, or null when there is no feed at that address: the status page's rule. */
async function workspaceFor(db: Database, requested: string | undefined, chosen: string | undefined): Promise<FeedWorkspace | null> {
  const select = { id: true, externalId: true, name: true } as const;
  const externalId = requested ?? chosen;
  if (externalId !== undefined) return db.read((tx) => tx.workspace.findFirst({ where: { externalId }, select }));
  // No workspace named or configured: the only one there is, never a mix of several.
  const all = await db.read((tx) => tx.workspace.findMany({ select, take: 2 }));
  return all.length === 1 ? all[0]! : null;
}

/** Equal in constant time: both sides are hashed first, so neither their length nor a common prefix shows in the timing. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** `?days=`: absent → DEFAULT_DAYS; a whole number 1…MAX_DAYS; anything else is a message for a 400. */
export function parseDays(raw: unknown): { days: number } | { error: string } {
  if (raw === undefined) return { days: DEFAULT_DAYS };
  const bad = { error: `days must be a whole number of days from 1 to ${MAX_DAYS} (default ${DEFAULT_DAYS}), e.g. ?days=30` };
  if (typeof raw !== 'string' || !/^\d{1,3}$/.test(raw)) return bad;
  const days = Number(raw);
  return days >= 1 && days <= MAX_DAYS ? { days } : bad;
}

// ---------------------------------------------------------------------------------------------
// Events

const sha = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 24);
const typesText = (types: readonly string[]) => (types.length <= 1 ? (types[0] ?? 'no') : `${types.slice(0, -1).join(', ')} and ${types[types.length - 1]}`);
const ALL_TYPES: readonly ChangeType[] = ['standard', 'normal', 'emergency'];
/** People's text without control characters, which an iCalendar TEXT value may not hold (line breaks are escaped by the library). */
const clean = (s: string) => s.replace(/[\u0000-\u0009\u000B\u000C\u000E-\u001F\u007F]/g, ' ');

/** A change's UID: its id, stable across fetches, edits and moves. */
export const changeUid = (changeId: string) => `${changeId}@muster`;

/** SEQUENCE from updatedAt: a later update always has a larger one. */
export const sequenceOf = (updatedAt: Date) => Math.max(0, Math.floor((updatedAt.getTime() - SEQUENCE_EPOCH_MS) / 1000));

function changeEvent(c: CalendarChange, zone: string): ICalEventData {
  const status = STATUS_LABEL[c.status as ChangeStatus] ?? c.status;
  const title = clean(c.title);
  const local = `${formatLocal(c.start, zone, 'EEE d MMM yyyy HH:mm')}–${formatLocal(c.end, zone, 'HH:mm')} (${zone})`;
  return {
    id: changeUid(c.id),
    sequence: sequenceOf(c.updatedAt),
    // Without a METHOD, DTSTAMP is when the event last changed in the store (RFC 5545 3.8.7.2).
    stamp: c.updatedAt,
    lastModified: c.updatedAt,
    start: c.start,
    end: c.end,
    summary: `${c.ref} ${title} (${c.environment}, ${status})`,
    description: [
      `${c.ref}: ${title}`,
      `Type: ${c.type}`,
      `Risk: ${c.riskLevel}`,
      `Status: ${status}`,
      `Environment: ${c.environment}`,
      `Window: ${local}`,
      `Details in chat: /change show ${c.ref}`,
    ].join('\n'),
    // Pending changes may still be rejected or moved.
    status: c.status === 'pending' ? ICalEventStatus.TENTATIVE : ICalEventStatus.CONFIRMED,
    categories: [{ name: 'Change' }],
  };
}

/** The local date of a local midnight, or null when the instant is not one. */
function localMidnight(at: Date, zone: string): Date | null {
  const t = new TZDate(at.getTime(), zone);
  if (t.getHours() || t.getMinutes() || t.getSeconds() || t.getMilliseconds()) return null;
  // A DATE value names a calendar day, not an instant: the library prints this one's UTC date.
  return new Date(Date.UTC(t.getFullYear(), t.getMonth(), t.getDate()));
}

function freezeEvent(f: FreezePeriod, zone: string, workspace: string, now: Date): ICalEventData {
  const where = f.environments === 'all' ? 'every environment' : f.environments.join(', ') || 'no environment';
  const allowed = [...new Set<string>([...f.allow, 'emergency'])];
  const firstDay = localMidnight(f.start, zone);
  const dayAfter = localMidnight(f.end, zone);
  const allDay = firstDay && dayAfter ? { allDay: true, start: firstDay, end: dayAfter } : { start: f.start, end: f.end };
  return {
    id: `freeze-${sha(workspace, f.kind, f.name, f.start.toISOString(), f.end.toISOString(), JSON.stringify(f.environments))}@muster`,
    stamp: now,
    ...allDay,
    summary: `Change freeze: ${clean(f.name)}`,
    description: [
      `${clean(f.label[0]!.toUpperCase() + f.label.slice(1))}.`,
      `Applies to: ${where}.`,
      `Lets through: ${typesText(allowed)} changes only (emergency changes are flagged).`,
      `From ${formatLocal(f.start, zone)} to ${formatLocal(f.end, zone)} (${zone}).`,
    ].join('\n'),
    categories: [{ name: 'Change freeze' }],
  };
}

function windowEvent(w: WindowSlot, zone: string, workspace: string, now: Date): ICalEventData {
  const types = ALL_TYPES.filter((t) => w.allow.includes(t));
  const only = w.criticalOnly ? 'critical changes only' : types.length < ALL_TYPES.length ? `${typesText(types)} changes only` : '';
  return {
    id: `window-${sha(workspace, w.start.toISOString(), w.end.toISOString(), String(w.criticalOnly), types.join(','))}@muster`,
    stamp: now,
    start: w.start,
    end: w.end,
    summary: only ? `Deployment window (${only})` : 'Deployment window',
    description: [
      `Changes may run from ${formatLocal(w.start, zone, 'HH:mm')} to ${formatLocal(w.end, zone, 'HH:mm')} (${zone}) in the environments where windows are enforced.`,
      w.criticalOnly ? 'For critical changes only: an emergency change, or the fix of an open incident of a critical severity.' : `Open to ${typesText(types)} changes.`,
      'A freeze at the same time overrides it.',
    ].join('\n'),
    categories: [{ name: 'Deployment window' }],
  };
}

/** The feed of one workspace from `from` on, for `days` local days. */
export async function calendarFeed(changes: CalendarFeedOptions['changes'], workspace: FeedWorkspace, from: Date, days: number, organization = 'Muster'): Promise<ICalCalendar> {
  const data = await changes.calendarData(workspace.id, from, days);
  const zone = data.timeZone;
  const cal = ical({
    prodId: { company: 'Muster', product: 'Change calendar', language: 'EN' },
    name: `${organization} changes${workspace.name ? ` (${workspace.name})` : ''}`,
    description: `Scheduled changes, change freezes and deployment windows for ${days} days from ${formatLocal(from, zone, 'yyyy-MM-dd')}; the organisation's time zone is ${zone}.`,
    ttl: REFRESH_SECONDS,
  });
  // Informational: nothing here makes a subscriber busy.
  const add = (e: ICalEventData) => cal.createEvent({ ...e, transparency: ICalEventTransparency.TRANSPARENT, busystatus: ICalEventBusyStatus.FREE });
  for (const c of data.changes) add(changeEvent(c, zone));
  // A freeze of several days is listed on each; it is one event.
  const freezes = new Map<string, ICalEventData>();
  for (const d of data.days) {
    for (const f of d.freezes) {
      const e = freezeEvent(f, zone, workspace.externalId, from);
      if (!freezes.has(String(e.id))) freezes.set(String(e.id), e);
    }
  }
  for (const e of freezes.values()) add(e);
  for (const d of data.days) for (const w of d.windows) add(windowEvent(w, zone, workspace.externalId, from));
  return cal;
}

// ---------------------------------------------------------------------------------------------
// HTTP

function headers(res: Response): void {
  // The feed holds internal change titles, and its URL may hold the token: no shared or stored copy.
  res.set('Cache-Control', 'no-store');
  res.set('X-Content-Type-Options', 'nosniff');
  res.set('Referrer-Policy', 'no-referrer');
}

const param = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);

export function calendarRouter(db: Database, clock: Clock, opts: CalendarFeedOptions): Router {
  const router = Router();
  router.get(['/calendar.ics', '/calendar/:workspace.ics'], async (req, res) => {
    headers(res);
    if (opts.token !== undefined) {
      const given = req.query.token;
      if (typeof given !== 'string' || !sameSecret(given, opts.token)) {
        res.status(403).type('text/plain').send('This calendar needs its token: add ?token=<CALENDAR_TOKEN> to the address.\n');
        return;
      }
    }
    const days = parseDays(req.query.days);
    if ('error' in days) {
      res.status(400).type('text/plain').send(`${days.error}\n`);
      return;
    }
    let body: string;
    let name: string;
    try {
      const workspace = await workspaceFor(db, param(req.params.workspace), opts.workspace);
      if (!workspace) {
        res.status(404).type('text/plain').send('There is no calendar at this address: use /calendar/<workspace id>.ics.\n');
        return;
      }
      body = (await calendarFeed(opts.changes, workspace, clock.now(), days.days, opts.organization)).toString();
      name = workspace.externalId;
    } catch (e) {
      opts.log?.error({ err: e }, 'calendar feed failed');
      res.status(503).type('text/plain').send('The calendar is temporarily unavailable. Please try again in a minute.\n');
      return;
    }
    res.set('Content-Type', 'text/calendar; charset=utf-8');
    res.set('Content-Disposition', `inline; filename="changes-${name.replace(/[^A-Za-z0-9_-]/g, '_')}.ics"`);
    res.status(200).send(body);
  });
  return router;
}
