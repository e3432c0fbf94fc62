import { describe, expect, it } from 'vitest';
import { parsePolicyText, type Policy } from '../../src/config/policy.ts';
import {
  calendarDays,
  checkFreezeRequest,
  checkSchedule,
  checkWindowInput,
  describeWindows,
  freezePeriods,
  isCritical,
  nextOpenSlot,
  parseUntil,
  type RuntimeFreeze,
  type ScheduleResult,
} from '../../src/domain/windows.ts';
import type { ChangeType } from '../../src/domain/change.ts';

/*
 * Instants are written in UTC on purpose: each test states what 10:00 local is in UTC on its
 * date, so a zone conversion that went wrong (a fixed offset, DST ignored) fails visibly.
 * 2026-03-02 is a Monday.
 */

const HOUR = 3_600_000;
function policyOf(yaml: string): Policy {
  const { policy, problems } = parsePolicyText(yaml);
  if (!policy) throw new Error(JSON.stringify(problems));
  return policy;
}
const UTC = policyOf('{}');
const z = (iso: string) => new Date(iso);
const NOW = z('2026-03-02T07:00:00Z');

function check(p: Policy, start: string, end: string, opts: { type?: ChangeType; critical?: boolean; environment?: string; freezes?: RuntimeFreeze[]; now?: Date } = {}): ScheduleResult {
  return checkSchedule({
    start: z(start),
    end: z(end),
    environment: opts.environment ?? 'production',
    type: opts.type ?? 'normal',
    critical: opts.critical ?? false,
    policy: p,
    freezes: opts.freezes ?? [],
    now: opts.now ?? NOW,
  });
}
function refused(r: ScheduleResult) {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r)}`);
  return r;
}
const messages = (r: ScheduleResult) => refused(r).problems.map((p) => p.message);
const slot = (r: ScheduleResult) => {
  const n = refused(r).nextOpen;
  return n && [n.start.toISOString(), n.end.toISOString()];
};

describe('default windows (UTC): Mon–Thu 10–16, Fri 10–12 critical only, weekends emergency only', () => {
  it('describes them', () => {
    expect(describeWindows(UTC)).toBe('Mon–Thu 10:00–16:00; Fri 10:00–12:00 for critical changes only');
  });

  it('a normal change inside a Mon–Thu window passes, unflagged', () => {
    for (const day of ['02', '03', '04', '05']) {
      expect(check(UTC, `2026-03-${day}T10:00:00Z`, `2026-03-${day}T16:00:00Z`)).toEqual({ ok: true, flags: {} });
    }
    expect(check(UTC, '2026-03-03T12:00:00Z', '2026-03-03T13:00:00Z', { type: 'standard' })).toEqual({ ok: true, flags: {} });
  });

  it('running past the end, starting before, or outside: each says so', () => {
    expect(messages(check(UTC, '2026-03-03T15:30:00Z', '2026-03-03T16:30:00Z'))).toEqual([
      'outside the deployment windows: Tuesday 2026-03-03 15:30–16:30 runs past the end of the window (10:00–16:00)',
    ]);
    expect(messages(check(UTC, '2026-03-03T09:30:00Z', '2026-03-03T10:30:00Z'))).toEqual(['outside the deployment windows: Tuesday 2026-03-03 09:30–10:30 starts before the window (10:00–16:00)']);
    expect(messages(check(UTC, '2026-03-03T20:00:00Z', '2026-03-03T21:00:00Z'))).toEqual([
      "outside the deployment windows: Tuesday 2026-03-03 20:00–21:00 is not inside Tuesday's window (10:00–16:00)",
    ]);
    expect(messages(check(UTC, '2026-03-03T15:00:00Z', '2026-03-04T11:00:00Z'))[0]).toContain('runs across days, and a change must fit in one window');
  });

  it('Friday takes critical changes only', () => {
    const fri = ['2026-03-06T10:00:00Z', '2026-03-06T11:00:00Z'] as const;
    expect(messages(check(UTC, ...fri))).toEqual([
      "outside the deployment windows: Friday's window (10:00–12:00) is for critical changes only — an emergency change, or one that fixes an open P0 or P1 incident",
    ]);
    expect(messages(check(UTC, ...fri, { type: 'standard' }))[0]).toContain('critical changes only');
    expect(check(UTC, ...fri, { critical: true })).toEqual({ ok: true, flags: { criticalWindow: true } });
    expect(messages(check(UTC, '2026-03-06T11:00:00Z', '2026-03-06T13:00:00Z', { critical: true }))[0]).toContain('runs past the end of the window (10:00–12:00)');
  });

  it('weekends take emergency changes only; an emergency change passes anywhere, flagged', () => {
    const sat = ['2026-03-07T10:00:00Z', '2026-03-07T11:00:00Z'] as const;
    expect(messages(check(UTC, ...sat))).toEqual([
      'outside the deployment windows: Saturday has none, so it takes emergency changes only (windows: Mon–Thu 10:00–16:00; Fri 10:00–12:00 for critical changes only)',
    ]);
    expect(messages(check(UTC, ...sat, { critical: true }))[0]).toContain('Saturday has none');
    expect(check(UTC, ...sat, { type: 'emergency' })).toEqual({ ok: true, flags: { outsideWindow: true } });
    expect(check(UTC, '2026-03-08T03:00:00Z', '2026-03-08T04:00:00Z', { type: 'emergency' })).toEqual({ ok: true, flags: { outsideWindow: true } });
    expect(check(UTC, '2026-03-03T11:00:00Z', '2026-03-03T12:00:00Z', { type: 'emergency' })).toEqual({ ok: true, flags: {} });
  });

  it('a window for some types only refuses the others by name', () => {
    const p = policyOf('changes:\n  windows:\n    - { days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00", allow: [standard, emergency] }\n');
    expect(messages(check(p, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z'))[0]).toContain('no window on Tuesday takes normal changes');
    expect(check(p, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { type: 'standard' }).ok).toBe(true);
  });

  it('adjacent windows join: a change may run across the seam', () => {
    const p = policyOf('changes:\n  windows:\n    - { days: [tue], start: "10:00", end: "12:00", allow: [normal] }\n    - { days: [tue], start: "12:00", end: "14:00", allow: [normal] }\n');
    expect(check(p, '2026-03-03T11:00:00Z', '2026-03-03T13:00:00Z').ok).toBe(true);
  });

  it('windows do not apply outside changes.enforcedIn; `all` applies them everywhere', () => {
    expect(check(UTC, '2026-03-07T10:00:00Z', '2026-03-07T11:00:00Z', { environment: 'staging' })).toEqual({ ok: true, flags: { notEnforced: true } });
    const all = policyOf('changes:\n  enforcedIn: all\n');
    expect(messages(check(all, '2026-03-07T10:00:00Z', '2026-03-07T11:00:00Z', { environment: 'staging' }))[0]).toContain('Saturday has none');
  });
});

describe('freezes', () => {
  it('end of quarter: the last N days of each calendar quarter', () => {
    // 2026-03-31 is a Tuesday, inside the default 3-day freeze (Mar 29–31).
    const r = check(UTC, '2026-03-31T10:00:00Z', '2026-03-31T11:00:00Z');
    expect(refused(r).problems.map((p) => [p.rule, p.message])).toEqual([
      ['quarter_end', 'inside the end-of-quarter freeze (end of Q1 2026: 2026-03-29 → 2026-03-31), which takes emergency changes only'],
    ]);
    expect(slot(r)).toEqual(['2026-04-01T10:00:00.000Z', '2026-04-01T11:00:00.000Z']);
    expect(check(UTC, '2026-03-26T10:00:00Z', '2026-03-26T11:00:00Z').ok).toBe(true);
    expect(check(policyOf('changes:\n  quarterEndFreezeDays: 0\n'), '2026-03-31T10:00:00Z', '2026-03-31T11:00:00Z').ok).toBe(true);
    const labels = freezePeriods(UTC, [], z('2026-01-01T00:00:00Z'), z('2027-01-01T00:00:00Z')).map((p) => p.label);
    expect(labels).toEqual([
      'the end-of-quarter freeze (end of Q1 2026: 2026-03-29 → 2026-03-31)',
      'the end-of-quarter freeze (end of Q2 2026: 2026-06-28 → 2026-06-30)',
      'the end-of-quarter freeze (end of Q3 2026: 2026-09-28 → 2026-09-30)',
      'the end-of-quarter freeze (end of Q4 2026: 2026-12-29 → 2026-12-31)',
    ]);
  });

  it('end of a fiscal quarter, and what the quarter end allows', () => {
    const fiscal = policyOf('changes:\n  fiscalYearStartMonth: 2\n  quarterEndFreezeDays: 2\n');
    const labels = freezePeriods(fiscal, [], z('2026-01-01T00:00:00Z'), z('2026-06-01T00:00:00Z')).map((p) => p.label);
    expect(labels).toEqual([
      'the end-of-quarter freeze (end of fiscal Q4 (ending 2026-01-31): 2026-01-30 → 2026-01-31)',
      'the end-of-quarter freeze (end of fiscal Q1 (ending 2026-04-30): 2026-04-29 → 2026-04-30)',
    ]);
    expect(check(fiscal, '2026-03-31T10:00:00Z', '2026-03-31T11:00:00Z').ok).toBe(true);
    const lenient = policyOf('changes:\n  quarterEndAllow: [standard]\n');
    expect(check(lenient, '2026-03-31T10:00:00Z', '2026-03-31T11:00:00Z', { type: 'standard' })).toEqual({
      ok: true,
      flags: { inFreeze: 'end of Q1 2026', freezes: [expect.objectContaining({ kind: 'quarter_end' })] },
    });
    expect(messages(check(lenient, '2026-03-31T10:00:00Z', '2026-03-31T11:00:00Z'))).toEqual([
      'inside the end-of-quarter freeze (end of Q1 2026: 2026-03-29 → 2026-03-31), which takes standard and emergency changes only',
    ]);
  });

  it('holidays', () => {
    const p = policyOf('changes:\n  holidays:\n    - { name: Company day, date: "2026-03-04" }\n');
    const r = check(p, '2026-03-04T10:00:00Z', '2026-03-04T11:00:00Z');
    expect(refused(r).problems.map((x) => [x.rule, x.message])).toEqual([['holiday', 'inside the holiday "Company day" (2026-03-04), which takes emergency changes only']]);
    expect(slot(r)).toEqual(['2026-03-05T10:00:00.000Z', '2026-03-05T11:00:00.000Z']);
  });

  it('a campaign freeze, and the next open slot after it', () => {
    const p = policyOf('changes:\n  campaignFreezes:\n    - { name: Black Friday, start: "2026-11-26", end: "2026-11-30" }\n');
    const r = check(p, '2026-11-30T10:00:00Z', '2026-11-30T11:00:00Z', { now: z('2026-11-20T00:00:00Z') });
    expect(messages(r)).toEqual(['inside the campaign freeze "Black Friday" (2026-11-26 → 2026-11-30), which takes emergency changes only']);
    expect(slot(r)).toEqual(['2026-12-01T10:00:00.000Z', '2026-12-01T11:00:00.000Z']);
    const e = check(p, '2026-11-28T10:00:00Z', '2026-11-28T11:00:00Z', { type: 'emergency', now: z('2026-11-28T09:59:00Z') });
    expect(e.ok && e.flags).toEqual({ outsideWindow: true, inFreeze: 'Black Friday', freezes: [expect.objectContaining({ kind: 'campaign', name: 'Black Friday' })] });
  });

  it('named blackouts: a date, a range, and their own environments', () => {
    const p = policyOf(
      [
        'changes:',
        '  blackouts:',
        '    - { name: Launch day, start: "2026-03-03" }',
        '    - { name: Data migration, start: "2026-03-09", end: "2026-03-12", environments: [staging], allow: [standard] }',
      ].join('\n'),
    );
    expect(messages(check(p, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z'))).toEqual(['inside the blackout "Launch day" (2026-03-03), which takes emergency changes only']);
    // Data migration holds back staging only (not an enforced environment, so no windows there) …
    expect(check(p, '2026-03-10T10:00:00Z', '2026-03-10T11:00:00Z').ok).toBe(true);
    const staging = check(p, '2026-03-10T22:00:00Z', '2026-03-10T23:00:00Z', { environment: 'staging' });
    expect(messages(staging)).toEqual(['inside the blackout "Data migration" (2026-03-09 → 2026-03-12), which takes standard and emergency changes only']);
    // … where the next open slot is right after it, at any hour.
    expect(slot(staging)).toEqual(['2026-03-13T00:00:00.000Z', '2026-03-13T01:00:00.000Z']);
    expect(check(p, '2026-03-10T22:00:00Z', '2026-03-10T23:00:00Z', { environment: 'staging', type: 'standard' })).toEqual({
      ok: true,
      flags: { notEnforced: true, inFreeze: 'Data migration', freezes: [expect.objectContaining({ kind: 'blackout' })] },
    });
  });

  const freeze = (environment: string): RuntimeFreeze => ({ environment, start: z('2026-03-02T08:00:00Z'), end: z('2026-03-04T12:00:00Z'), reason: 'payments incident' });

  it('a runtime freeze holds back its environment only', () => {
    const r = check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { freezes: [freeze('production')] });
    expect(refused(r).problems.map((p) => [p.rule, p.message])).toEqual([
      ['freeze', 'inside the freeze of production until 2026-03-04 12:00 ("payments incident"), which takes emergency changes only'],
    ]);
    expect(slot(r)).toEqual(['2026-03-04T12:00:00.000Z', '2026-03-04T13:00:00.000Z']);
    expect(check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { freezes: [freeze('staging')] }).ok).toBe(true);
    expect(messages(check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { environment: 'staging', freezes: [freeze('staging')] }))).toHaveLength(1);
  });

  it('a runtime freeze of `all` holds back every environment, enforced or not', () => {
    for (const environment of ['production', 'staging', 'dev']) {
      const r = check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { environment, freezes: [freeze('all')] });
      expect(messages(r)).toEqual(['inside the freeze of every environment until 2026-03-04 12:00 ("payments incident"), which takes emergency changes only']);
    }
    const e = check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { type: 'emergency', freezes: [freeze('all')] });
    expect(e.ok && e.flags.inFreeze).toBe('payments incident');
  });

  it('every broken rule is listed, not just the first', () => {
    const p = policyOf('changes:\n  holidays: [{ name: Easter Monday, date: "2026-04-06" }]\n');
    const r = check(p, '2026-04-06T15:00:00Z', '2026-04-06T17:00:00Z', { freezes: [{ environment: 'all', start: z('2026-04-06T00:00:00Z'), end: z('2026-04-07T00:00:00Z'), reason: 'audit' }] });
    expect(refused(r).problems.map((x) => x.rule)).toEqual(['window', 'holiday', 'freeze']);
  });
});

describe('the next open slot', () => {
  it('across a weekend: Friday afternoon → Monday 10:00', () => {
    expect(slot(check(UTC, '2026-03-06T13:00:00Z', '2026-03-06T14:00:00Z'))).toEqual(['2026-03-09T10:00:00.000Z', '2026-03-09T11:00:00.000Z']);
    // A late Thursday slot skips the critical-only Friday.
    expect(slot(check(UTC, '2026-03-05T15:30:00Z', '2026-03-05T16:30:00Z'))).toEqual(['2026-03-09T10:00:00.000Z', '2026-03-09T11:00:00.000Z']);
    // A critical change may take Friday's window.
    expect(slot(check(UTC, '2026-03-05T15:30:00Z', '2026-03-05T16:30:00Z', { critical: true }))).toEqual(['2026-03-06T10:00:00.000Z', '2026-03-06T11:00:00.000Z']);
  });

  it('across a freeze and a weekend: a freeze until Friday noon → Monday', () => {
    const f: RuntimeFreeze = { environment: 'production', start: z('2026-03-02T00:00:00Z'), end: z('2026-03-06T12:00:00Z'), reason: 'release train' };
    expect(slot(check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T12:00:00Z', { freezes: [f] }))).toEqual(['2026-03-09T10:00:00.000Z', '2026-03-09T12:00:00.000Z']);
  });

  it('keeps the length, and starts no earlier than now, on a quarter hour', () => {
    const r = check(UTC, '2026-03-07T10:00:00Z', '2026-03-07T12:30:00Z', { now: z('2026-03-07T08:00:00Z') });
    expect(slot(r)).toEqual(['2026-03-09T10:00:00.000Z', '2026-03-09T12:30:00.000Z']);
    const soon = nextOpenSlot({ from: z('2026-03-03T10:07:12Z'), durationMs: HOUR, environment: 'production', type: 'normal', critical: false, policy: UTC, freezes: [] });
    expect(soon).toEqual({ start: z('2026-03-03T10:15:00Z'), end: z('2026-03-03T11:15:00Z') });
  });

  it('a change longer than any window has none, and is told why', () => {
    const r = check(UTC, '2026-03-03T08:00:00Z', '2026-03-03T15:00:00Z');
    expect(slot(r)).toBeNull();
    expect(messages(r)).toContain('it lasts 7h, longer than any window it may use (the longest is 6h): split it into smaller changes');
  });

  it('looks no further than the horizon', () => {
    const f: RuntimeFreeze = { environment: 'all', start: z('2026-03-01T00:00:00Z'), end: z('2026-06-01T00:00:00Z'), reason: 'migration' };
    expect(slot(check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { freezes: [f] }))).toBeNull();
  });
});

describe('bad input', () => {
  it('an end before its start: refused, with no slot to offer', () => {
    const r = refused(check(UTC, '2026-03-03T11:00:00Z', '2026-03-03T10:00:00Z'));
    expect(r.problems).toEqual([{ rule: 'order', message: 'the window ends (2026-03-03 10:00) before it starts (2026-03-03 11:00): give an end after the start' }]);
    expect(r.nextOpen).toBeNull();
    expect(checkWindowInput({ start: z('2026-03-03T10:00:00Z'), end: z('2026-03-03T10:00:00Z'), now: NOW, timeZone: 'UTC' })[0]!.rule).toBe('order');
    expect(checkWindowInput({ start: new Date(Number.NaN), end: z('2026-03-03T10:00:00Z'), now: NOW, timeZone: 'UTC' })[0]!.message).toContain('dates and times');
  });

  it('a window in the past: refused, with the next slot from now', () => {
    const now = z('2026-03-04T12:00:00Z');
    const over = refused(check(UTC, '2026-03-03T10:00:00Z', '2026-03-03T11:00:00Z', { now }));
    expect(over.problems.map((p) => [p.rule, p.message])).toEqual([['past', 'the window is in the past (it ended 2026-03-03 11:00): propose one from now on']]);
    expect(over.nextOpen).toEqual({ start: z('2026-03-04T12:00:00Z'), end: z('2026-03-04T13:00:00Z') });
    expect(messages(check(UTC, '2026-03-04T11:00:00Z', '2026-03-04T13:00:00Z', { now }))).toEqual([
      'the window starts in the past (2026-03-04 11:00, now 2026-03-04 12:00): propose a start from now on',
    ]);
  });

  it('a start a few minutes ago is fine: forms take time to fill in', () => {
    expect(check(UTC, '2026-03-04T11:50:00Z', '2026-03-04T13:00:00Z', { now: z('2026-03-04T12:00:00Z') }).ok).toBe(true);
  });
});

describe('time zones: 10:00 local stays 10:00 local across daylight saving', () => {
  const berlin = policyOf('organization: { timeZone: Europe/Berlin }\n');
  const newYork = policyOf('organization: { timeZone: America/New_York }\n');
  const kolkata = policyOf('organization: { timeZone: Asia/Kolkata }\n');

  it('Europe/Berlin, last Sunday of March (2026-03-29): 10:00 is 09:00Z before, 08:00Z after', () => {
    // Thursday 26 March, CET (+1): the window is 09:00Z–15:00Z.
    expect(check(berlin, '2026-03-26T09:00:00Z', '2026-03-26T15:00:00Z').ok).toBe(true);
    expect(check(berlin, '2026-03-26T08:00:00Z', '2026-03-26T09:00:00Z').ok).toBe(false);
    // Monday 30 March … inside the quarter-end freeze, so Wednesday 1 April, CEST (+2): 08:00Z–14:00Z.
    expect(check(berlin, '2026-04-01T08:00:00Z', '2026-04-01T14:00:00Z').ok).toBe(true);
    expect(check(berlin, '2026-04-01T14:00:00Z', '2026-04-01T15:00:00Z').ok).toBe(false);
    // From Friday afternoon the next slot is after the weekend, the DST change and the quarter end.
    expect(slot(check(berlin, '2026-03-27T13:00:00Z', '2026-03-27T14:00:00Z'))).toEqual(['2026-04-01T08:00:00.000Z', '2026-04-01T09:00:00.000Z']);
    const quiet = policyOf('organization: { timeZone: Europe/Berlin }\nchanges: { quarterEndFreezeDays: 0 }\n');
    expect(slot(check(quiet, '2026-03-27T13:00:00Z', '2026-03-27T14:00:00Z'))).toEqual(['2026-03-30T08:00:00.000Z', '2026-03-30T09:00:00.000Z']);
  });

  it('Europe/Berlin, last Sunday of October (2026-10-25): 10:00 is 08:00Z before, 09:00Z after', () => {
    expect(check(berlin, '2026-10-22T08:00:00Z', '2026-10-22T14:00:00Z').ok).toBe(true);
    expect(check(berlin, '2026-10-26T09:00:00Z', '2026-10-26T15:00:00Z').ok).toBe(true);
    expect(check(berlin, '2026-10-26T08:00:00Z', '2026-10-26T09:00:00Z').ok).toBe(false);
    expect(slot(check(berlin, '2026-10-22T14:00:00Z', '2026-10-22T15:00:00Z'))).toEqual(['2026-10-26T09:00:00.000Z', '2026-10-26T10:00:00.000Z']);
  });

  it('days of 23 and 25 hours in the calendar', () => {
    const spring = calendarDays(z('2026-03-29T12:00:00Z'), 1, berlin, [])[0]!;
    expect(spring.date).toBe('2026-03-29');
    expect(spring.end.getTime() - spring.start.getTime()).toBe(23 * HOUR);
    const autumn = calendarDays(z('2026-10-25T12:00:00Z'), 1, berlin, [])[0]!;
    expect(autumn.end.getTime() - autumn.start.getTime()).toBe(25 * HOUR);
  });

  it('America/New_York (DST from 2026-03-08 to 2026-11-01): 15:00Z before, 14:00Z after, 15:00Z again', () => {
    expect(check(newYork, '2026-03-05T15:00:00Z', '2026-03-05T21:00:00Z').ok).toBe(true);
    expect(check(newYork, '2026-03-09T14:00:00Z', '2026-03-09T20:00:00Z').ok).toBe(true);
    expect(slot(check(newYork, '2026-03-06T18:00:00Z', '2026-03-06T19:00:00Z'))).toEqual(['2026-03-09T14:00:00.000Z', '2026-03-09T15:00:00.000Z']);
    expect(check(newYork, '2026-10-29T14:00:00Z', '2026-10-29T20:00:00Z').ok).toBe(true);
    expect(check(newYork, '2026-11-02T15:00:00Z', '2026-11-02T21:00:00Z').ok).toBe(true);
    expect(check(newYork, '2026-11-02T14:00:00Z', '2026-11-02T15:00:00Z').ok).toBe(false);
    // Local dates: a Saturday evening in New York is already Sunday in UTC, and still a weekend.
    expect(messages(check(newYork, '2026-03-07T23:00:00Z', '2026-03-08T00:00:00Z'))[0]).toContain('Saturday has none');
  });

  it('Asia/Kolkata (+5:30, no DST): 10:00 is 04:30Z; freezes start at local midnight', () => {
    expect(check(kolkata, '2026-03-03T04:30:00Z', '2026-03-03T10:30:00Z').ok).toBe(true);
    expect(messages(check(kolkata, '2026-03-03T04:00:00Z', '2026-03-03T05:00:00Z'))).toEqual(['outside the deployment windows: Tuesday 2026-03-03 09:30–10:30 starts before the window (10:00–16:00)']);
    const q = freezePeriods(kolkata, [], z('2026-03-20T00:00:00Z'), z('2026-04-02T00:00:00Z'))[0]!;
    expect([q.start.toISOString(), q.end.toISOString()]).toEqual(['2026-03-28T18:30:00.000Z', '2026-03-31T18:30:00.000Z']);
  });
});

describe('critical', () => {
  it('emergency changes, and fixes of open P0/P1 incidents; not a suspected cause or a closed incident', () => {
    expect(isCritical({ type: 'emergency' }, UTC)).toEqual({ critical: true, reason: 'an emergency change' });
    expect(isCritical({ type: 'normal', incidents: [{ ref: 'INC-12', severity: 'P1', open: true }] }, UTC)).toEqual({ critical: true, reason: 'it fixes INC-12, an open P1 incident' });
    expect(isCritical({ type: 'normal', incidents: [{ ref: 'INC-12', severity: 'P2', open: true }] }, UTC).critical).toBe(false);
    expect(isCritical({ type: 'normal', incidents: [{ ref: 'INC-12', severity: 'P0', open: false }] }, UTC).critical).toBe(false);
    expect(isCritical({ type: 'normal', incidents: [{ ref: 'INC-12', severity: 'P0', open: true, relation: 'suspected_cause' }] }, UTC).critical).toBe(false);
    expect(isCritical({ type: 'standard' }, UTC)).toEqual({ critical: false, reason: 'it is not an emergency change and fixes no open P0 or P1 incident' });
    const p2 = policyOf('changes:\n  criticalSeverities: [P0, P1, P2]\n');
    expect(isCritical({ type: 'normal', incidents: [{ severity: 'P2', open: true }] }, p2)).toEqual({ critical: true, reason: 'it fixes an incident, an open P2 incident' });
  });
});

describe('the calendar', () => {
  it('14 days of windows and freezes, by environment', () => {
    const p = policyOf('changes:\n  holidays: [{ name: Company day, date: "2026-03-04" }]\n');
    const f: RuntimeFreeze = { environment: 'staging', start: z('2026-03-10T00:00:00Z'), end: z('2026-03-11T00:00:00Z'), reason: 'load test' };
    const days = calendarDays(z('2026-03-02T13:00:00Z'), 14, p, [f]);
    expect(days.map((d) => d.date)).toEqual(Array.from({ length: 14 }, (_, i) => `2026-03-${String(i + 2).padStart(2, '0')}`));
    expect(days.map((d) => d.weekday).join(' ')).toBe('mon tue wed thu fri sat sun mon tue wed thu fri sat sun');
    expect(days.map((d) => d.windows.length)).toEqual([1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0]);
    expect(days[4]!.windows[0]).toMatchObject({ start: z('2026-03-06T10:00:00Z'), end: z('2026-03-06T12:00:00Z'), criticalOnly: true });
    expect(days[2]!.freezes.map((x) => x.name)).toEqual(['Company day']);
    expect(days[8]!.freezes.map((x) => x.name)).toEqual(['load test']);
    const production = calendarDays(z('2026-03-02T13:00:00Z'), 14, p, [f], 'production');
    expect(production[8]!.freezes).toEqual([]);
    expect(production[2]!.freezes.map((x) => x.kind)).toEqual(['holiday']);
  });
});

describe('runtime freezes: /change freeze <environment|all> <until> <reason>', () => {
  const now = z('2026-03-03T09:30:00Z');
  it('reads a duration, a date (through that day), a date and time, or a time of day, in the organisation zone', () => {
    expect(parseUntil('4h', now, 'UTC')).toEqual(z('2026-03-03T13:30:00Z'));
    expect(parseUntil('2d', now, 'UTC')).toEqual(z('2026-03-05T09:30:00Z'));
    expect(parseUntil('2026-03-05', now, 'Europe/Berlin')).toEqual(z('2026-03-05T23:00:00Z'));
    expect(parseUntil('2026-03-05T18:00', now, 'Europe/Berlin')).toEqual(z('2026-03-05T17:00:00Z'));
    expect(parseUntil('2026-07-05 18:00', now, 'Europe/Berlin')).toEqual(z('2026-07-05T16:00:00Z'));
    expect(parseUntil('18:00', now, 'UTC')).toEqual(z('2026-03-03T18:00:00Z'));
    expect(parseUntil('08:00', now, 'UTC')).toEqual(z('2026-03-04T08:00:00Z'));
    for (const bad of ['soon', '2026-02-30', '25:00', '3', '']) expect(parseUntil(bad, now, 'UTC')).toBeUndefined();
  });

  it('refuses an unknown environment, no end, an end in the past, one too long, no reason', () => {
    const base = { now, environments: ['dev', 'staging', 'production'], policy: UTC, reason: 'incident' };
    expect(checkFreezeRequest({ ...base, environment: 'production', end: z('2026-03-04T00:00:00Z') })).toEqual([]);
    expect(checkFreezeRequest({ ...base, environment: 'all', end: z('2026-03-04T00:00:00Z') })).toEqual([]);
    expect(checkFreezeRequest({ ...base, environment: 'prod', end: z('2026-03-04T00:00:00Z') })).toEqual(['"prod" is not an environment: name one of dev, staging, production, or all']);
    expect(checkFreezeRequest({ ...base, environment: 'production', end: undefined })[0]).toContain('a freeze needs an end');
    expect(checkFreezeRequest({ ...base, environment: 'production', end: z('2026-03-03T09:00:00Z') })[0]).toContain('would end in the past');
    expect(checkFreezeRequest({ ...base, environment: 'production', end: z('2026-03-20T00:00:00Z') })).toEqual([
      'a freeze lasts at most 14d (changes.freeze.maxDuration), and this one would last until 2026-03-20 00:00; for a longer freeze add a blackout to the policy file',
    ]);
    expect(checkFreezeRequest({ ...base, reason: ' ', environment: 'production', end: z('2026-03-04T00:00:00Z') })).toEqual(['a freeze needs a reason, shown on every card it holds back']);
  });
});
