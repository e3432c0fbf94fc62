import { TZDate, tz } from '@date-fns/tz';
import { addDays, format } from 'date-fns';
import type { Policy, Severity } from '../config/policy.ts';
import { formatDuration, parseDuration } from './duration.ts';
import type { ChangeType } from './change.ts';

/**
 * Deployment windows and freezes (PRODUCT.md "Deployment windows"), as plain functions of the
 * policy, the runtime freezes and an injected `now`. Every local time is in organization.timeZone,
 * converted with @date-fns/tz (TZDate) and date-fns: no offset is ever written by hand, so 10:00
 * stays 10:00 local on both sides of a daylight-saving change.
 *
 * Rule table (the defaults; see docs/configuration.md):
 *
 * | When (local time)             | standard | normal | emergency                  |
 * |-------------------------------|----------|--------|----------------------------|
 * | Mon–Thu 10:00–16:00           | yes      | yes    | yes                        |
 * | Fri 10:00–12:00 (criticalOnly)| critical | critical | yes                      |
 * | any other time (nights, weekends) | no   | no     | yes, flagged outsideWindow |
 * | a blackout, holiday, campaign freeze, end of quarter, runtime freeze | no (unless its `allow` lists the type) | no (idem) | yes, flagged inFreeze |
 *
 * Windows, blackouts, holidays, campaign freezes and the end of quarter apply in the environments of
 * `changes.enforcedIn` (default production); a blackout, holiday or campaign freeze may name its own
 * `environments`. A runtime freeze (`/change freeze`) applies to its environment, or to every
 * environment for `all`. A window or period is half-open: [start, end).
 *
 * Critical (for `criticalOnly` windows), decided by `isCritical`:
 *
 * | The change                                                                   | critical |
 * |------------------------------------------------------------------------------|----------|
 * | an emergency change                                                          | yes      |
 * | fixes (is linked as the fix of) an open incident of a `criticalSeverities` severity (P0, P1) | yes |
 * | anything else, including a link as "suspected cause", or a resolved incident | no       |
 *
 * A deployment approval (`/approval deploy`) is checked as a normal change, critical by the same rule.
 */

/** The parts of the policy this module reads. */
export type SchedulePolicy = Pick<Policy, 'organization' | 'changes'>;

/** A freeze set at run time with `/change freeze` (stored by the services). */
export interface RuntimeFreeze {
  /** An environment name, or 'all' for every environment. */
  environment: string;
  start: Date;
  end: Date;
  reason: string;
}

/** Where a blocking period comes from. */
export type PeriodKind = 'blackout' | 'holiday' | 'campaign' | 'quarter_end' | 'freeze';

/** A period in which changes are frozen, resolved to instants: [start, end). */
export interface FreezePeriod {
  kind: PeriodKind;
  /** "Black Friday", "end of Q4 2026", or a runtime freeze's reason. */
  name: string;
  start: Date;
  end: Date;
  /** Change types it lets through (emergency changes always pass, flagged). */
  allow: readonly ChangeType[];
  /** Where it applies. */
  environments: readonly string[] | 'all';
  /** How a refusal names it: `the campaign freeze "Black Friday" (2026-11-27 → 2026-11-30)`. */
  label: string;
}

/** One occurrence of a deployment window on one local day. */
export interface WindowSlot {
  start: Date;
  end: Date;
  allow: readonly ChangeType[];
  criticalOnly: boolean;
}

/** Which rule a proposed window breaks. */
export type ProblemRule = 'order' | 'past' | 'window' | 'too_long' | PeriodKind;

/** Why a proposed window is refused, in words a person can act on. */
export interface Problem {
  rule: ProblemRule;
  message: string;
  /** The blocking period, when the rule is one. */
  period?: FreezePeriod;
}

/** What an accepted window is flagged with (for the card and the audit trail). */
export interface ScheduleFlags {
  /** An emergency change outside every window that takes emergency changes. */
  outsideWindow?: true;
  /** The names of the freezes it runs through, joined with ", " (emergency changes, or types a freeze allows). */
  inFreeze?: string;
  /** The periods behind `inFreeze`. */
  freezes?: FreezePeriod[];
  /** Accepted only thanks to a criticalOnly window. */
  criticalWindow?: true;
  /** Windows do not apply in this environment (it is not in changes.enforcedIn). */
  notEnforced?: true;
}

export type ScheduleResult = { ok: true; flags: ScheduleFlags } | { ok: false; problems: Problem[]; nextOpen: { start: Date; end: Date } | null };

/** How far ahead `nextOpen` looks. */
export const NEXT_OPEN_HORIZON_DAYS = 60;
/** How long ago a proposed window may have started and still be accepted (a form takes minutes to fill in). */
export const PAST_GRACE_MS = 15 * 60_000;
/** Suggested slots start on a quarter hour. */
const SLOT_STEP_MS = 15 * 60_000;
const DAY_KEYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof DAY_KEYS)[number];
const DAY_NAMES: Record<Weekday, string> = { sun: 'Sunday', mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday' };
const WEEK_ORDER: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const SHORT = (d: Weekday) => DAY_NAMES[d].slice(0, 3);

// ---------------------------------------------------------------------------------------------
// Local time, through @date-fns/tz only

interface LocalDay {
  y: number;
  /** 0-based month */
  m: number;
  d: number;
}
const plain = (d: Date) => new Date(d.getTime());
/** The instant of a local date and time of day in `zone` (day overflow rolls over, as with Date). */
function localInstant(zone: string, day: LocalDay, minutes = 0): Date {
  return plain(new TZDate(day.y, day.m, day.d, Math.floor(minutes / 60), minutes % 60, zone));
}
/** The local calendar day of an instant. */
function localDayOf(at: Date, zone: string): LocalDay {
  const t = new TZDate(at.getTime(), zone);
  return { y: t.getFullYear(), m: t.getMonth(), d: t.getDate() };
}
function nextDay(zone: string, day: LocalDay, n = 1): LocalDay {
  return localDayOf(addDays(localInstant(zone, day, 12 * 60), n, { in: tz(zone) }), zone);
}
function weekdayOf(zone: string, day: LocalDay): Weekday {
  return DAY_KEYS[new TZDate(day.y, day.m, day.d, 12, 0, zone).getDay()]!;
}
const dayKey = (day: LocalDay) => `${day.y}-${String(day.m + 1).padStart(2, '0')}-${String(day.d).padStart(2, '0')}`;
function parseDay(iso: string): LocalDay {
  const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
  return { y, m: m - 1, d };
}
const clockMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
/** "2026-03-29 10:00" in the zone. */
export function formatLocal(at: Date, zone: string, pattern = 'yyyy-MM-dd HH:mm'): string {
  return format(at, pattern, { in: tz(zone) });
}
/** "Tuesday 10:00–11:00", or "Tuesday 15:00 → Wednesday 11:00" across days. */
function describeSpan(start: Date, end: Date, zone: string): string {
  const sameDay = dayKey(localDayOf(start, zone)) === dayKey(localDayOf(new Date(end.getTime() - 1), zone));
  return sameDay
    ? `${formatLocal(start, zone, 'EEEE yyyy-MM-dd HH:mm')}–${formatLocal(end, zone, 'HH:mm')}`
    : `${formatLocal(start, zone, 'EEEE yyyy-MM-dd HH:mm')} → ${formatLocal(end, zone, 'EEEE yyyy-MM-dd HH:mm')}`;
}

// ---------------------------------------------------------------------------------------------
// Windows

/** Do windows (and the policy's own freezes) apply in this environment? */
export function isEnforced(policy: SchedulePolicy, environment: string): boolean {
  const e = policy.changes.enforcedIn;
  return e === 'all' || e.includes(environment);
}

/** The window occurrences of every local day that touches [from, to). */
export function windowSlots(policy: SchedulePolicy, from: Date, to: Date): WindowSlot[] {
  const zone = policy.organization.timeZone;
  const out: WindowSlot[] = [];
  const last = dayKey(localDayOf(to, zone));
  for (let day = localDayOf(from, zone); dayKey(day) <= last; day = nextDay(zone, day)) {
    const wd = weekdayOf(zone, day);
    for (const w of policy.changes.windows) {
      if (!w.days.includes(wd)) continue;
      const slot = { start: localInstant(zone, day, clockMinutes(w.start)), end: localInstant(zone, day, clockMinutes(w.end)), allow: w.allow, criticalOnly: w.criticalOnly };
      if (slot.end > from && slot.start < to) out.push(slot);
    }
  }
  return out.sort((a, b) => a.start.getTime() - b.start.getTime());
}

type Interval = { start: Date; end: Date };
function merge(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start.getTime() - b.start.getTime());
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) {
      if (i.end > last.end) last.end = i.end;
    } else out.push({ start: i.start, end: i.end });
  }
  return out;
}
function subtract(intervals: readonly Interval[], cuts: readonly Interval[]): Interval[] {
  let out = [...intervals];
  for (const c of cuts) {
    out = out.flatMap((i) => {
      if (c.end <= i.start || c.start >= i.end) return [i];
      const parts: Interval[] = [];
      if (c.start > i.start) parts.push({ start: i.start, end: c.start });
      if (c.end < i.end) parts.push({ start: c.end, end: i.end });
      return parts;
    });
  }
  return out;
}
const usable = (slot: WindowSlot, type: ChangeType, critical: boolean) => slot.allow.includes(type) && (!slot.criticalOnly || critical || type === 'emergency');
const contains = (intervals: readonly Interval[], start: Date, end: Date) => intervals.some((i) => i.start <= start && end <= i.end);

function rangeText(days: readonly Weekday[]): string {
  const idx = WEEK_ORDER.filter((d) => days.includes(d)).map((d) => WEEK_ORDER.indexOf(d));
  const runs: number[][] = [];
  for (const i of idx) {
    const run = runs[runs.length - 1];
    if (run && run[run.length - 1] === i - 1) run.push(i);
    else runs.push([i]);
  }
  return runs.map((r) => (r.length >= 3 ? `${SHORT(WEEK_ORDER[r[0]!]!)}–${SHORT(WEEK_ORDER[r[r.length - 1]!]!)}` : r.map((i) => SHORT(WEEK_ORDER[i]!)).join(', '))).join(', ');
}

/** The policy's windows in words: "Mon–Thu 10:00–16:00; Fri 10:00–12:00 for critical changes only". */
export function describeWindows(policy: SchedulePolicy): string {
  const ws = policy.changes.windows;
  if (ws.length === 0) return 'no deployment windows';
  return ws
    .map((w) => {
      const types = w.allow.length === 3 ? '' : ` (${w.allow.join(', ')} only)`;
      return `${rangeText(w.days)} ${w.start}–${w.end}${w.criticalOnly ? ' for critical changes only' : ''}${types}`;
    })
    .join('; ');
}

// ---------------------------------------------------------------------------------------------
// Freezes

const typesText = (allow: readonly ChangeType[]) => {
  const types = [...new Set<ChangeType>([...allow, 'emergency'])];
  return types.length === 1 ? 'emergency changes only' : `${types.slice(0, -1).join(', ')} and ${types[types.length - 1]} changes only`;
};
const dateSpan = (first: string, last: string) => (first === last ? first : `${first} → ${last}`);

/**
 * Every freeze that overlaps [from, to): the policy's blackouts, holidays, campaign freezes and
 * end-of-quarter freezes, and the runtime freezes; only those applying to `environment` if given.
 */
export function freezePeriods(policy: SchedulePolicy, freezes: readonly RuntimeFreeze[], from: Date, to: Date, environment?: string): FreezePeriod[] {
  const zone = policy.organization.timeZone;
  const c = policy.changes;
  const enforced: readonly string[] | 'all' = c.enforcedIn;
  const out: FreezePeriod[] = [];
  const days = (first: string, last: string) => ({ start: localInstant(zone, parseDay(first)), end: localInstant(zone, nextDay(zone, parseDay(last))) });
  for (const b of c.blackouts) {
    const last = b.end ?? b.start;
    out.push({ kind: 'blackout', name: b.name, ...days(b.start, last), allow: b.allow, environments: b.environments ?? enforced, label: `the blackout "${b.name}" (${dateSpan(b.start, last)})` });
  }
  for (const h of c.holidays) {
    out.push({ kind: 'holiday', name: h.name, ...days(h.date, h.date), allow: h.allow, environments: h.environments ?? enforced, label: `the holiday "${h.name}" (${h.date})` });
  }
  for (const f of c.campaignFreezes) {
    out.push({
      kind: 'campaign',
      name: f.name,
      ...days(f.start, f.end),
      allow: f.allow,
      environments: f.environments ?? enforced,
      label: `the campaign freeze "${f.name}" (${dateSpan(f.start, f.end)})`,
    });
  }
  if (c.quarterEndFreezeDays > 0) {
    const fy = c.fiscalYearStartMonth - 1;
    const firstYear = localDayOf(from, zone).y - 1;
    const lastYear = localDayOf(to, zone).y + 1;
    for (let y = firstYear; y <= lastYear; y++) {
      for (let q = 0; q < 4; q++) {
        // The quarter that ends when the next one starts, on the 1st of month `fy + 3(q+1)`.
        const boundary: LocalDay = { y, m: fy + 3 * (q + 1), d: 1 };
        const end = localInstant(zone, boundary);
        const start = localInstant(zone, { ...boundary, d: 1 - c.quarterEndFreezeDays });
        const lastDay = localDayOf(new Date(end.getTime() - 1), zone);
        const firstDay = localDayOf(start, zone);
        const name = fy === 0 ? `end of Q${q + 1} ${lastDay.y}` : `end of fiscal Q${q + 1} (ending ${dayKey(lastDay)})`;
        out.push({
          kind: 'quarter_end',
          name,
          start,
          end,
          allow: c.quarterEndAllow,
          environments: enforced,
          label: `the end-of-quarter freeze (${name}: ${dateSpan(dayKey(firstDay), dayKey(lastDay))})`,
        });
      }
    }
  }
  for (const f of freezes) {
    const where = f.environment === 'all' ? 'every environment' : f.environment;
    out.push({
      kind: 'freeze',
      name: f.reason,
      start: plain(f.start),
      end: plain(f.end),
      allow: [],
      environments: f.environment === 'all' ? 'all' : [f.environment],
      label: `the freeze of ${where} until ${formatLocal(f.end, zone)} ("${f.reason}")`,
    });
  }
  const applies = (p: FreezePeriod) => environment === undefined || p.environments === 'all' || p.environments.includes(environment);
  return out.filter((p) => p.end > from && p.start < to && applies(p)).sort((a, b) => a.start.getTime() - b.start.getTime());
}

// ---------------------------------------------------------------------------------------------
// Critical

/** An incident a change is linked to. `fixes` (the default) when the change is its fix. */
export interface LinkedIncident {
  ref?: string;
  severity: Severity;
  open: boolean;
  relation?: 'fixes' | 'suspected_cause';
}

/**
 * Is this change critical (may it use a criticalOnly window)? An emergency change is; so is one that
 * fixes an open incident of a severity in changes.criticalSeverities. The reason reads on the card.
 */
export function isCritical(change: { type: ChangeType; incidents?: readonly LinkedIncident[] }, policy: SchedulePolicy): { critical: boolean; reason: string } {
  if (change.type === 'emergency') return { critical: true, reason: 'an emergency change' };
  const severities = policy.changes.criticalSeverities;
  const fix = (change.incidents ?? []).find((i) => (i.relation ?? 'fixes') === 'fixes' && i.open && severities.includes(i.severity));
  if (fix) return { critical: true, reason: `it fixes ${fix.ref ?? 'an incident'}, an open ${fix.severity} incident` };
  const which = severities.length ? `open ${severities.join(' or ')} incident` : 'incident of a critical severity (none is configured)';
  return { critical: false, reason: `it is not an emergency change and fixes no ${which}` };
}

// ---------------------------------------------------------------------------------------------
// Checking a proposed window

/**
 * Bad input, before any rule: a start or end that is not a date, an end not after the start, a
 * window already over, or one that started more than PAST_GRACE_MS ago.
 */
export function checkWindowInput(input: { start: Date; end: Date; now: Date; timeZone: string }): Problem[] {
  const { start, end, now, timeZone: zone } = input;
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) return [{ rule: 'order', message: 'the window needs a start and an end that are dates and times' }];
  if (end <= start) {
    return [{ rule: 'order', message: `the window ends (${formatLocal(end, zone)}) before it starts (${formatLocal(start, zone)}): give an end after the start` }];
  }
  if (end <= now) return [{ rule: 'past', message: `the window is in the past (it ended ${formatLocal(end, zone)}): propose one from now on` }];
  if (start.getTime() < now.getTime() - PAST_GRACE_MS) {
    return [{ rule: 'past', message: `the window starts in the past (${formatLocal(start, zone)}, now ${formatLocal(now, zone)}): propose a start from now on` }];
  }
  return [];
}

/** Why [start, end) is outside the usable windows, in words. */
function windowProblem(policy: SchedulePolicy, start: Date, end: Date, type: ChangeType, critical: boolean, slots: readonly WindowSlot[]): string {
  const zone = policy.organization.timeZone;
  const windows = `windows: ${describeWindows(policy)}`;
  const startDay = localDayOf(start, zone);
  const endDay = localDayOf(new Date(end.getTime() - 1), zone);
  const span = describeSpan(start, end, zone);
  if (dayKey(startDay) !== dayKey(endDay)) return `outside the deployment windows: ${span} runs across days, and a change must fit in one window (${windows})`;
  const dayName = DAY_NAMES[weekdayOf(zone, startDay)];
  const today = slots.filter((s) => dayKey(localDayOf(s.start, zone)) === dayKey(startDay));
  if (today.length === 0) return `outside the deployment windows: ${dayName} has none, so it takes emergency changes only (${windows})`;
  const forType = today.filter((s) => s.allow.includes(type));
  if (forType.length === 0) return `outside the deployment windows: no window on ${dayName} takes ${type} changes (${windows})`;
  const fit = forType.filter((s) => usable(s, type, critical));
  const times = (ss: readonly WindowSlot[]) => ss.map((s) => `${formatLocal(s.start, zone, 'HH:mm')}–${formatLocal(s.end, zone, 'HH:mm')}`).join(', ');
  if (fit.length === 0) {
    return `outside the deployment windows: ${dayName}'s window (${times(forType)}) is for critical changes only — an emergency change, or one that fixes an open ${policy.changes.criticalSeverities.join(' or ') || 'critical'} incident`;
  }
  const merged = merge(fit);
  const around = merged.find((i) => i.start <= start && start < i.end);
  if (around) return `outside the deployment windows: ${span} runs past the end of the window (${times(fit)})`;
  const after = merged.find((i) => i.start < end && end <= i.end);
  if (after) return `outside the deployment windows: ${span} starts before the window (${times(fit)})`;
  return `outside the deployment windows: ${span} is not inside ${dayName}'s window${fit.length > 1 ? 's' : ''} (${times(fit)})`;
}

/** The intervals in which a change of this type may run, over [from, to), in this environment. */
function openIntervals(policy: SchedulePolicy, freezes: readonly RuntimeFreeze[], environment: string, type: ChangeType, critical: boolean, from: Date, to: Date): Interval[] {
  const base = isEnforced(policy, environment) ? merge(windowSlots(policy, from, to).filter((s) => usable(s, type, critical))) : [{ start: from, end: to }];
  const blocking = freezePeriods(policy, freezes, from, to, environment).filter((p) => type !== 'emergency' && !p.allow.includes(type));
  return subtract(base, blocking)
    .map((i) => ({ start: i.start < from ? from : i.start, end: i.end > to ? to : i.end }))
    .filter((i) => i.end > i.start);
}

/**
 * The first slot of `durationMs` at or after `from` (rounded up to a quarter hour) that a change of
 * this type may use, within `horizonDays`; null when there is none.
 */
export function nextOpenSlot(input: {
  from: Date;
  durationMs: number;
  environment: string;
  type: ChangeType;
  critical: boolean;
  policy: SchedulePolicy;
  freezes: readonly RuntimeFreeze[];
  horizonDays?: number;
}): { start: Date; end: Date } | null {
  const { durationMs, policy } = input;
  const from = new Date(Math.ceil(input.from.getTime() / SLOT_STEP_MS) * SLOT_STEP_MS);
  const to = addDays(from, input.horizonDays ?? NEXT_OPEN_HORIZON_DAYS, { in: tz(policy.organization.timeZone) });
  for (const i of openIntervals(policy, input.freezes, input.environment, input.type, input.critical, from, plain(to))) {
    const start = new Date(Math.ceil(i.start.getTime() / SLOT_STEP_MS) * SLOT_STEP_MS);
    if (i.end.getTime() - start.getTime() >= durationMs) return { start, end: new Date(start.getTime() + durationMs) };
  }
  return null;
}

/**
 * May a change of this type run from `start` to `end` in this environment? It must lie inside one
 * window that takes it (in enforced environments) and outside every freeze that applies and does not
 * allow its type. Emergency changes pass anywhere, flagged. A refusal lists every broken rule and
 * the next open slot of the same length, searched from the later of `start` and `now`.
 */
export function checkSchedule(input: {
  start: Date;
  end: Date;
  environment: string;
  type: ChangeType;
  critical: boolean;
  policy: SchedulePolicy;
  freezes: readonly RuntimeFreeze[];
  now: Date;
}): ScheduleResult {
  const { start, end, environment, type, policy, freezes, now } = input;
  const critical = input.critical || type === 'emergency';
  const zone = policy.organization.timeZone;
  const bad = checkWindowInput({ start, end, now, timeZone: zone });
  if (bad.some((p) => p.rule === 'order')) return { ok: false, problems: bad, nextOpen: null };
  const problems: Problem[] = [...bad];
  const flags: ScheduleFlags = {};
  const enforced = isEnforced(policy, environment);
  if (!enforced) flags.notEnforced = true;
  else {
    const pad = 24 * 3_600_000;
    const slots = windowSlots(policy, new Date(start.getTime() - pad), new Date(end.getTime() + pad));
    const fits = contains(merge(slots.filter((s) => usable(s, type, critical))), start, end);
    if (type === 'emergency') {
      if (!fits) flags.outsideWindow = true;
    } else if (!fits) {
      problems.push({ rule: 'window', message: windowProblem(policy, start, end, type, critical, slots) });
    } else if (!contains(merge(slots.filter((s) => usable(s, type, false))), start, end)) {
      flags.criticalWindow = true;
    }
  }
  const passing: FreezePeriod[] = [];
  for (const p of freezePeriods(policy, freezes, start, end, environment)) {
    if (type === 'emergency' || p.allow.includes(type)) passing.push(p);
    else problems.push({ rule: p.kind, period: p, message: `inside ${p.label}, which takes ${typesText(p.allow)}` });
  }
  if (passing.length) {
    flags.inFreeze = passing.map((p) => p.name).join(', ');
    flags.freezes = passing;
  }
  if (problems.length === 0) return { ok: true, flags };
  const durationMs = end.getTime() - start.getTime();
  const from = start > now ? start : now;
  const nextOpen = nextOpenSlot({ from, durationMs, environment, type, critical, policy, freezes });
  if (!nextOpen && enforced) {
    const longest = Math.max(
      0,
      ...merge(windowSlots(policy, from, plain(addDays(from, 7, { in: tz(zone) }))).filter((s) => usable(s, type, critical))).map((i) => i.end.getTime() - i.start.getTime()),
    );
    if (longest > 0 && longest < durationMs) {
      problems.push({
        rule: 'too_long',
        message: `it lasts ${formatDuration(durationMs)}, longer than any window it may use (the longest is ${formatDuration(longest)}): split it into smaller changes`,
      });
    }
  }
  return { ok: false, problems, nextOpen };
}

// ---------------------------------------------------------------------------------------------
// Calendar

export interface CalendarDay {
  /** Local date, YYYY-MM-DD. */
  date: string;
  weekday: Weekday;
  /** Local midnight to the next local midnight (23 or 25 hours on a DST change). */
  start: Date;
  end: Date;
  windows: WindowSlot[];
  freezes: FreezePeriod[];
}

/**
 * `days` local days from the day of `from`, each with its window occurrences and the freezes that
 * touch it (those of `environment` only, if given), for `/change calendar` and the iCalendar feed.
 */
export function calendarDays(from: Date, days: number, policy: SchedulePolicy, freezes: readonly RuntimeFreeze[], environment?: string): CalendarDay[] {
  const zone = policy.organization.timeZone;
  const out: CalendarDay[] = [];
  let day = localDayOf(from, zone);
  for (let i = 0; i < days; i++, day = nextDay(zone, day)) {
    const start = localInstant(zone, day);
    const end = localInstant(zone, nextDay(zone, day));
    out.push({
      date: dayKey(day),
      weekday: weekdayOf(zone, day),
      start,
      end,
      windows: windowSlots(policy, start, end).filter((s) => s.start >= start && s.start < end),
      freezes: freezePeriods(policy, freezes, start, end, environment),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Runtime freezes

/**
 * The end of a `/change freeze … <until>`: a duration from now ("4h", "3d"), a local date (the freeze
 * lasts through that day), a local date and time ("2026-11-30T18:00" or "2026-11-30 18:00"), or a time
 * of day ("18:00": today, or tomorrow when that has passed). Undefined when it is none of these.
 */
export function parseUntil(text: string, now: Date, timeZone: string): Date | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?[smhdw]$/i.test(t)) {
    const ms = parseDuration(t);
    return ms === undefined ? undefined : new Date(now.getTime() + ms);
  }
  const valid = (day: LocalDay) => {
    const back = localDayOf(localInstant(timeZone, day, 12 * 60), timeZone);
    return dayKey(back) === dayKey(day);
  };
  let m = /^(\d{4}-\d{2}-\d{2})$/.exec(t);
  if (m) {
    const day = parseDay(m[1]!);
    return valid(day) ? localInstant(timeZone, nextDay(timeZone, day)) : undefined;
  }
  m = /^(\d{4}-\d{2}-\d{2})[T ]([01]\d|2[0-3]):([0-5]\d)$/.exec(t);
  if (m) {
    const day = parseDay(m[1]!);
    return valid(day) ? localInstant(timeZone, day, Number(m[2]) * 60 + Number(m[3])) : undefined;
  }
  m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(t);
  if (m) {
    const minutes = Number(m[1]) * 60 + Number(m[2]);
    const today = localDayOf(now, timeZone);
    const at = localInstant(timeZone, today, minutes);
    return at > now ? at : localInstant(timeZone, nextDay(timeZone, today), minutes);
  }
  return undefined;
}

/**
 * Bad input for `/change freeze <environment|all> <until> <reason>`: an unknown environment, no end,
 * an end in the past, one past changes.freeze.maxDuration, or no reason. Empty when it may be set.
 */
export function checkFreezeRequest(input: {
  environment: string;
  end: Date | undefined;
  reason: string;
  now: Date;
  /** The environments of approvals.deployment.environments. */
  environments: readonly string[];
  policy: SchedulePolicy;
}): string[] {
  const { environment, end, now, policy } = input;
  const zone = policy.organization.timeZone;
  const problems: string[] = [];
  if (environment !== 'all' && !input.environments.includes(environment)) {
    problems.push(`"${environment}" is not an environment: name one of ${input.environments.join(', ')}, or all`);
  }
  const max = policy.changes.freeze.maxDuration;
  if (end === undefined || Number.isNaN(end.getTime())) {
    problems.push('a freeze needs an end: a date (2026-11-30, through that day), a date and time (2026-11-30T18:00) or a duration (4h, 3d)');
  } else if (end <= now) {
    problems.push(`the freeze would end in the past (${formatLocal(end, zone)}): give an end after now`);
  } else if (end.getTime() - now.getTime() > max) {
    problems.push(
      `a freeze lasts at most ${formatDuration(max)} (changes.freeze.maxDuration), and this one would last until ${formatLocal(end, zone)}; for a longer freeze add a blackout to the policy file`,
    );
  }
  if (!input.reason.trim()) problems.push('a freeze needs a reason, shown on every card it holds back');
  return problems;
}
