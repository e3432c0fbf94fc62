import { describe, expect, it } from 'vitest';
import { defaultPolicy, type Severity } from '../../src/config/policy.ts';
import {
  ACTIVE_STATUSES,
  INCIDENT_ROLES,
  ROLE_LABEL,
  SEVERITIES,
  STATUSES,
  channelName,
  humanDuration,
  incidentRef,
  isActive,
  postmortemMarkdown,
  responseMetrics,
  slaClocks,
  slugify,
  statusTransition,
  timerKeys,
  type IncidentStatus,
  type PostmortemInput,
} from '../../src/domain/incident.ts';

const SEC = 1_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** A Slack channel name: lowercase, only a-z 0-9 - _, at most 80 characters. */
const SLACK_NAME = /^[a-z0-9_-]{1,80}$/;

const T0 = new Date('2026-03-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('constants', () => {
  it('severities, statuses and roles', () => {
    expect(SEVERITIES).toEqual(['P0', 'P1', 'P2', 'P3']);
    expect(ACTIVE_STATUSES).toEqual(['investigating', 'identified', 'monitoring']);
    expect(STATUSES).toEqual(['investigating', 'identified', 'monitoring', 'resolved', 'closed']);
    expect(INCIDENT_ROLES).toEqual(['commander', 'tech', 'comms']);
    expect(ROLE_LABEL).toEqual({ commander: 'Incident commander', tech: 'Technical lead', comms: 'Communications lead' });
  });

  it.each([
    [1, 'INC-1'],
    [7, 'INC-7'],
    [123456789, 'INC-123456789'],
  ])('incidentRef(%i) = %s', (n, ref) => {
    expect(incidentRef(n)).toBe(ref);
  });
});

describe('slugify', () => {
  it.each([
    ['Database down', 'database-down'],
    ['API: 500s on /checkout (EU)!', 'api-500s-on-checkout-eu'],
    ['Café à Zürich', 'cafe-a-zurich'],
    ['ÀÉÎÕÜ ñ ç', 'aeiou-n-c'],
    ['🔥 prod on fire 🔥', 'prod-on-fire'],
    ['--  leading and trailing  --', 'leading-and-trailing'],
    ['__under__', 'under'],
    ['a -- b ... c', 'a-b-c'],
    ['a   b\t\tc\nd', 'a-b-c-d'],
    ['snake_case_kept', 'snake_case_kept'],
    ['UPPER lower MiXeD', 'upper-lower-mixed'],
    ['ﬁle ① Ⅻ', 'file-1-xii'], // NFKD compatibility forms
    ['', ''],
    ['!!!', ''],
    ['日本語', ''],
    ['🔥🔥🔥', ''],
  ])('slugify(%j) = %j', (title, slug) => {
    expect(slugify(title)).toBe(slug);
  });

  it.each([
    ['abcdef', 3, 'abc'],
    ['ab-cdef', 3, 'ab'], // cut lands after the separator: trailing '-' dropped
    ['ab_cdef', 3, 'ab'], // and trailing '_'
    ['abc', 10, 'abc'],
  ])('slugify(%j, %i) = %j', (title, max, slug) => {
    expect(slugify(title, max)).toBe(slug);
  });
});

describe('channelName', () => {
  it.each([
    ['inc', 7, 'Database down', 'inc-7-database-down'],
    ['inc', 7, 'Payments: 502s, timeouts & retries!!', 'inc-7-payments-502s-timeouts-retries'],
    ['inc', 7, 'Café à Zürich', 'inc-7-cafe-a-zurich'],
    ['inc', 7, '🔥 DB 🔥 on fire 🚒', 'inc-7-db-on-fire'],
    ['inc', 7, '  ...(leading) and trailing junk!?  ', 'inc-7-leading-and-trailing-junk'],
    ['inc', 7, 'a  --  b __ c // d', 'inc-7-a-b-__-c-d'],
    ['inc', 7, '', 'inc-7'],
    ['inc', 7, '   ', 'inc-7'],
    ['inc', 7, '?!#', 'inc-7'],
    ['inc', 7, '🔥🚒', 'inc-7'],
    ['inc', 7, 'Ошибка базы', 'inc-7'],
    ['sev', 12, 'Login broken', 'sev-12-login-broken'],
    ['ops_war-room', 3, 'X', 'ops_war-room-3-x'],
    ['inc', 999999999, 'Big number', 'inc-999999999-big-number'],
    ['inc', 9999999999, 'Bigger', 'inc-9999999999-bigger'],
  ])('channelName(%j, %i, %j) = %j', (prefix, n, title, name) => {
    const got = channelName(prefix, n, title);
    expect(got).toBe(name);
    expect(got).toMatch(SLACK_NAME);
  });

  it('a 200-character title gives at most 80 characters and no trailing separator', () => {
    const title = 'Very long outage title '.repeat(10).slice(0, 200);
    expect(title).toHaveLength(200);
    const name = channelName('inc', 7, title);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(name).toMatch(SLACK_NAME);
    expect(name).not.toMatch(/[-_]$/);
    expect(name.startsWith('inc-7-very-long-outage-title-')).toBe(true);
    expect(name).toBe('inc-7-very-long-outage-title-very-long-outage-title-very-long-outage-title-very');
  });

  it.each([
    ['inc', 7],
    ['inc', 123456789],
    ['abcdefghijklmnopqrstu', 999999999], // longest prefix the policy allows, largest INC number the grammar allows
    ['abcdefghijklmnopqrstu', 9999999999],
  ])('long titles stay within 80 characters (prefix %j, n %i)', (prefix, n) => {
    for (const title of ['x'.repeat(200), 'ab '.repeat(70), 'a-'.repeat(100), 'Ünïcödé '.repeat(25), `${'y'.repeat(73)} z`]) {
      const name = channelName(prefix, n, title);
      expect(name.length).toBeLessThanOrEqual(80);
      expect(name).toMatch(SLACK_NAME);
      expect(name).not.toMatch(/[-_]$/);
      expect(name.startsWith(`${prefix}-${n}-`)).toBe(true);
    }
  });

  it('uses the whole 80 characters when the slug is long enough', () => {
    expect(channelName('inc', 7, 'x'.repeat(200))).toBe(`inc-7-${'x'.repeat(74)}`);
    expect(channelName('inc', 7, 'x'.repeat(200))).toHaveLength(80);
  });

  it('a cut that lands on a separator drops it', () => {
    // head "inc-7-" leaves 74 characters; character 74 of the slug is a '-'
    const title = `${'a'.repeat(73)} bcd`;
    expect(channelName('inc', 7, title)).toBe(`inc-7-${'a'.repeat(73)}`);
  });
});

describe('statusTransition', () => {
  const ALREADY = (s: IncidentStatus) => `INC is already ${s}.`;
  const CLOSED = 'the incident is closed; nothing more can change.';
  const RESOLVE_FIRST = 'resolve it first: `/incident resolve <summary>`, then close.';
  const OK = null;

  // rows: from; columns: to — null means allowed, a string is the refusal reason.
  const table: Record<IncidentStatus, Record<IncidentStatus, string | null>> = {
    investigating: { investigating: ALREADY('investigating'), identified: OK, monitoring: OK, resolved: OK, closed: RESOLVE_FIRST },
    identified: { investigating: OK, identified: ALREADY('identified'), monitoring: OK, resolved: OK, closed: RESOLVE_FIRST },
    monitoring: { investigating: OK, identified: OK, monitoring: ALREADY('monitoring'), resolved: OK, closed: RESOLVE_FIRST },
    resolved: { investigating: OK, identified: OK, monitoring: OK, resolved: ALREADY('resolved'), closed: OK },
    closed: { investigating: CLOSED, identified: CLOSED, monitoring: CLOSED, resolved: CLOSED, closed: ALREADY('closed') },
  };
  const cases = STATUSES.flatMap((from) => STATUSES.map((to) => [from, to, table[from][to]] as const));

  it('covers every pair of statuses', () => {
    expect(cases).toHaveLength(25);
  });

  it.each(cases)('%s → %s: %s', (from, to, reason) => {
    expect(statusTransition(from, to)).toEqual(reason === null ? { ok: true } : { ok: false, reason });
  });

  it('any active status may go straight to resolved', () => {
    for (const s of ACTIVE_STATUSES) expect(statusTransition(s, 'resolved')).toEqual({ ok: true });
  });

  it('resolved → investigating reopens', () => {
    expect(statusTransition('resolved', 'investigating')).toEqual({ ok: true });
  });

  it('closed is final', () => {
    for (const s of STATUSES) expect(statusTransition('closed', s).ok).toBe(false);
  });

  it('only resolved may close', () => {
    for (const s of STATUSES) expect(statusTransition(s, 'closed').ok).toBe(s === 'resolved');
  });
});

describe('isActive', () => {
  it.each([
    ['investigating', true],
    ['identified', true],
    ['monitoring', true],
    ['resolved', false],
    ['closed', false],
    ['', false],
    ['INVESTIGATING', false],
    ['declared', false],
  ])('isActive(%j) = %s', (status, active) => {
    expect(isActive(status)).toBe(active);
  });
});

describe('slaClocks', () => {
  const severities = defaultPolicy().incidents.severities;

  it.each([
    ['P0', 5 * MIN, 1 * HOUR],
    ['P1', 15 * MIN, 4 * HOUR],
    ['P2', 1 * HOUR, 24 * HOUR],
    ['P3', 24 * HOUR, 7 * DAY],
  ] as const)('%s defaults: respond %i ms, resolve %i ms (PRODUCT.md)', (sev, respond, resolve) => {
    expect(severities[sev]).toMatchObject({ respond, resolve });
  });

  type Case = [label: string, ack: number | null, resolved: number | null, now: number, respondMet: boolean | undefined, resolveMet: boolean | undefined];
  /** Times relative to the declaration, as a fraction of the severity's clocks via r (respond) and R (resolve). */
  const cases = (r: number, R: number): Case[] => [
    ['just declared: both running', null, null, 0, undefined, undefined],
    ['before the respond deadline: running', null, null, r - 1, undefined, undefined],
    ['exactly at the respond deadline, unacknowledged: still running', null, null, r, undefined, undefined],
    ['1 ms past the respond deadline, unacknowledged: missed', null, null, r + 1, false, undefined],
    ['acknowledged early, now much later', r / 2, null, r * 10, true, r * 10 > R ? false : undefined],
    ['acknowledged 1 ms before the deadline: met', r - 1, null, r - 1, true, undefined],
    ['acknowledged exactly at the deadline: met', r, null, r, true, undefined],
    ['acknowledged 1 ms late: missed', r + 1, null, r + 1, false, undefined],
    ['exactly at the resolve deadline, unresolved: still running', r, null, R, true, undefined],
    ['1 ms past the resolve deadline, unresolved: missed', r, null, R + 1, true, false],
    ['resolved exactly at the deadline: met', r, R, R + DAY, true, true],
    ['resolved 1 ms before the deadline: met', r, R - 1, R - 1, true, true],
    ['resolved 1 ms late: missed', r, R + 1, R + 1, true, false],
    ['resolved 1 ms late, judged much later: still missed', r, R + 1, R * 100, true, false],
    ['acknowledged late, resolved in time', r + 1, R, R, false, true],
  ];

  describe.each(SEVERITIES.map((s) => [s] as [Severity]))('%s', (sev) => {
    const policy = severities[sev];
    it('deadlines are declaredAt + respond / resolve', () => {
      const c = slaClocks({ declaredAt: T0 }, policy, T0);
      expect(c.respondBy).toEqual(at(policy.respond));
      expect(c.resolveBy).toEqual(at(policy.resolve));
      expect(c.respondMet).toBeUndefined();
      expect(c.resolveMet).toBeUndefined();
    });

    it.each(cases(policy.respond, policy.resolve))('%s', (_label, ack, resolved, now, respondMet, resolveMet) => {
      const c = slaClocks({ declaredAt: T0, acknowledgedAt: ack === null ? null : at(ack), resolvedAt: resolved === null ? null : at(resolved) }, policy, at(now));
      expect(c).toEqual({ respondBy: at(policy.respond), resolveBy: at(policy.resolve), respondMet, resolveMet });
    });
  });

  it('concrete deadlines for an incident declared at 2026-03-01T10:00Z', () => {
    const by = (s: Severity) => {
      const c = slaClocks({ declaredAt: T0 }, severities[s], T0);
      return [c.respondBy.toISOString(), c.resolveBy.toISOString()];
    };
    expect(by('P0')).toEqual(['2026-03-01T10:05:00.000Z', '2026-03-01T11:00:00.000Z']);
    expect(by('P1')).toEqual(['2026-03-01T10:15:00.000Z', '2026-03-01T14:00:00.000Z']);
    expect(by('P2')).toEqual(['2026-03-01T11:00:00.000Z', '2026-03-02T10:00:00.000Z']);
    expect(by('P3')).toEqual(['2026-03-02T10:00:00.000Z', '2026-03-08T10:00:00.000Z']);
  });

  it('undefined and null times are both "not yet"', () => {
    const p = severities.P1;
    expect(slaClocks({ declaredAt: T0 }, p, at(MIN))).toEqual(slaClocks({ declaredAt: T0, acknowledgedAt: null, resolvedAt: null }, p, at(MIN)));
  });

  it('accepts any respond/resolve pair (custom policy)', () => {
    const c = slaClocks({ declaredAt: T0, acknowledgedAt: at(30 * SEC) }, { respond: 30 * SEC, resolve: 2 * MIN }, at(2 * MIN + 1));
    expect(c).toEqual({ respondBy: at(30 * SEC), resolveBy: at(2 * MIN), respondMet: true, resolveMet: false });
  });
});

describe('responseMetrics', () => {
  it.each([
    ['nothing yet', {}, { mtta: undefined, mttr: undefined }],
    ['nulls', { acknowledgedAt: null, resolvedAt: null }, { mtta: undefined, mttr: undefined }],
    ['acknowledged only', { acknowledgedAt: at(4 * MIN) }, { mtta: 4 * MIN, mttr: undefined }],
    ['resolved only', { resolvedAt: at(3 * HOUR) }, { mtta: undefined, mttr: 3 * HOUR }],
    ['both', { acknowledgedAt: at(90 * SEC), resolvedAt: at(2 * DAY + 5 * MIN) }, { mtta: 90 * SEC, mttr: 2 * DAY + 5 * MIN }],
    ['acknowledged at the very moment of declaration', { acknowledgedAt: at(0) }, { mtta: 0, mttr: undefined }],
  ] as const)('%s', (_label, times, expected) => {
    expect(responseMetrics({ declaredAt: T0, ...times })).toEqual(expected);
  });
});

describe('humanDuration', () => {
  it.each([
    [0, '0 min'],
    [29 * SEC, '0 min'],
    [30 * SEC, '1 min'],
    [1 * MIN, '1 min'],
    [5 * MIN, '5 min'],
    [59 * MIN, '59 min'],
    [59 * MIN + 29 * SEC, '59 min'],
    [59 * MIN + 30 * SEC, '1 h 0 min'],
    [1 * HOUR, '1 h 0 min'],
    [90 * MIN, '1 h 30 min'],
    [4 * HOUR, '4 h 0 min'],
    [5 * HOUR + 7 * MIN, '5 h 7 min'],
    [24 * HOUR, '24 h 0 min'],
    [47 * HOUR + 59 * MIN, '47 h 59 min'],
    [48 * HOUR, '2 d 0 h'],
    [49 * HOUR + 30 * MIN, '2 d 1 h'],
    [7 * DAY, '7 d 0 h'],
    [10 * DAY + 23 * HOUR + 59 * MIN, '10 d 23 h'],
  ])('humanDuration(%i) = %j', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('timerKeys', () => {
  it('one key per purpose, stable and distinct', () => {
    expect(timerKeys.noCommander('abc')).toBe('incident:abc:no-commander');
    expect(timerKeys.updateDue('abc')).toBe('incident:abc:update-due');
    expect(timerKeys.resolveSla('abc')).toBe('incident:abc:resolve-sla');
    expect(timerKeys.escalation('n1')).toBe('nudge:n1:escalate');
    expect(timerKeys.actionBefore('a1')).toBe('action:a1:before');
    expect(timerKeys.actionDue('a1')).toBe('action:a1:due');
    const all = Object.values(timerKeys).map((k) => k('x'));
    expect(new Set(all).size).toBe(all.length);
    expect(timerKeys.noCommander('a')).not.toBe(timerKeys.noCommander('b'));
  });
});

describe('postmortemMarkdown', () => {
  const P1 = defaultPolicy().incidents.severities.P1;
  const names: Record<string, string> = { U1: 'ana', U2: 'ben', U3: 'cy', U4: 'dee' };
  const acknowledgedAt = at(10 * MIN); // P1 respond deadline 10:15 → met
  const resolvedAt = at(5 * HOUR); // P1 resolve deadline 14:00 → missed
  const full: PostmortemInput = {
    ref: 'INC-7',
    title: 'Checkout returns 500s',
    severity: 'P1',
    status: 'resolved',
    services: ['checkout', 'payments'],
    description: 'Card payments fail for EU users',
    summary: '  Rolled back release 4.2.1.  ',
    declaredAt: T0,
    acknowledgedAt,
    resolvedAt,
    sla: slaClocks({ declaredAt: T0, acknowledgedAt, resolvedAt }, P1, at(6 * HOUR)),
    roles: [
      { role: 'commander', user: 'U1', assumedAt: at(10 * MIN), relievedAt: at(2 * HOUR) },
      { role: 'commander', user: 'U2', assumedAt: at(2 * HOUR), relievedAt: null },
      { role: 'tech', user: 'U3', assumedAt: at(20 * MIN) },
    ],
    timeline: [
      { at: T0, kind: 'declared', actor: 'U1', text: 'Declared P1: Checkout returns 500s' },
      { at: at(10 * MIN), kind: 'role', actor: 'U1', text: 'ana is incident commander' },
      { at: at(30 * MIN), kind: 'note', actor: 'U3', text: 'wrong graph, ignore', removed: true },
      { at: at(45 * MIN), kind: 'update', actor: 'U3', text: 'error rate | p99 both up\nlooking at deploy' },
      { at: at(5 * HOUR), kind: 'status', actor: null, text: 'monitoring → resolved' },
    ],
    actions: [
      { number: 1, text: 'Add a canary for checkout', owner: 'U4', due: '2026-03-15', status: 'done' },
      { number: 2, text: 'Alert on 5xx rate', owner: null, due: null, status: 'open' },
      { number: 3, text: 'Write the runbook', owner: 'U3', status: 'open' },
    ],
    generatedAt: new Date('2026-03-02T09:00:00.000Z'),
    names: (u) => names[u] ?? u,
  };

  const expectedFull = [
    '# INC-7: Checkout returns 500s',
    '',
    'Severity P1 · status resolved · generated 2026-03-02T09:00:00Z',
    '',
    '## Summary',
    '',
    'Rolled back release 4.2.1.',
    '',
    '## Impact',
    '',
    '- Affected services: checkout, payments',
    '- Description: Card payments fail for EU users',
    '- Declared: 2026-03-01T10:00:00Z',
    '- First commander: 2026-03-01T10:10:00Z (time to acknowledge 10 min)',
    '- Resolved: 2026-03-01T15:00:00Z (time to resolve 5 h 0 min)',
    '',
    '## SLA',
    '',
    '| clock | deadline | result |',
    '| --- | --- | --- |',
    '| respond | 2026-03-01T10:15:00Z | met |',
    '| resolve | 2026-03-01T14:00:00Z | missed |',
    '',
    '## Roles',
    '',
    '- Incident commander: ana, 2026-03-01T10:10:00Z – 2026-03-01T12:00:00Z',
    '- Incident commander: ben, 2026-03-01T12:00:00Z – end',
    '- Technical lead: cy, 2026-03-01T10:20:00Z – end',
    '',
    '## Timeline',
    '',
    '| time (UTC) | what | who | detail |',
    '| --- | --- | --- | --- |',
    '| 2026-03-01T10:00:00Z | declared | ana | Declared P1: Checkout returns 500s |',
    '| 2026-03-01T10:10:00Z | role | ana | ana is incident commander |',
    '| 2026-03-01T10:30:00Z | note (removed) | cy | wrong graph, ignore |',
    '| 2026-03-01T10:45:00Z | update | cy | error rate \\| p99 both up looking at deploy |',
    '| 2026-03-01T15:00:00Z | status |  | monitoring → resolved |',
    '',
    '## Follow-up actions',
    '',
    '- [x] #1 Add a canary for checkout — dee (due 2026-03-15)',
    '- [ ] #2 Alert on 5xx rate',
    '- [ ] #3 Write the runbook — cy',
    '',
  ].join('\n');

  const doc = postmortemMarkdown(full);
  const lines = doc.split('\n');
  /** The lines of one `## ` section, without the heading and blank lines. */
  const section = (text: string, heading: string) => {
    const ls = text.split('\n');
    const start = ls.indexOf(`## ${heading}`);
    expect(start, `section ${heading}`).toBeGreaterThan(-1);
    const end = ls.findIndex((l, i) => i > start && l.startsWith('## '));
    return ls.slice(start + 1, end === -1 ? undefined : end).filter((l) => l !== '');
  };

  it('renders the whole document', () => {
    expect(doc).toBe(expectedFull);
  });

  it('title line and header', () => {
    expect(lines[0]).toBe('# INC-7: Checkout returns 500s');
    expect(lines[2]).toBe('Severity P1 · status resolved · generated 2026-03-02T09:00:00Z');
  });

  it('sections come in order', () => {
    const headings = lines.filter((l) => l.startsWith('## '));
    expect(headings).toEqual(['## Summary', '## Impact', '## SLA', '## Roles', '## Timeline', '## Follow-up actions']);
  });

  it('Summary is trimmed', () => {
    expect(section(doc, 'Summary')).toEqual(['Rolled back release 4.2.1.']);
  });

  it('Impact lists services, description, declared, first commander and resolution with durations', () => {
    expect(section(doc, 'Impact')).toEqual([
      '- Affected services: checkout, payments',
      '- Description: Card payments fail for EU users',
      '- Declared: 2026-03-01T10:00:00Z',
      '- First commander: 2026-03-01T10:10:00Z (time to acknowledge 10 min)',
      '- Resolved: 2026-03-01T15:00:00Z (time to resolve 5 h 0 min)',
    ]);
  });

  it('SLA table says met / missed', () => {
    expect(section(doc, 'SLA')).toEqual(['| clock | deadline | result |', '| --- | --- | --- |', '| respond | 2026-03-01T10:15:00Z | met |', '| resolve | 2026-03-01T14:00:00Z | missed |']);
  });

  it('Roles keep both commanders of a hand-off with their times', () => {
    const roles = section(doc, 'Roles');
    expect(roles).toContain('- Incident commander: ana, 2026-03-01T10:10:00Z – 2026-03-01T12:00:00Z');
    expect(roles).toContain('- Incident commander: ben, 2026-03-01T12:00:00Z – end');
    expect(roles).toContain('- Technical lead: cy, 2026-03-01T10:20:00Z – end');
    expect(roles).toHaveLength(3);
  });

  it('Timeline rows in order, pipe escaped, newline flattened, removed entries marked', () => {
    const rows = section(doc, 'Timeline').slice(2);
    expect(rows.map((r) => r.slice(2, 22))).toEqual(['2026-03-01T10:00:00Z', '2026-03-01T10:10:00Z', '2026-03-01T10:30:00Z', '2026-03-01T10:45:00Z', '2026-03-01T15:00:00Z']);
    expect(rows[2]).toBe('| 2026-03-01T10:30:00Z | note (removed) | cy | wrong graph, ignore |');
    expect(rows[3]).toBe('| 2026-03-01T10:45:00Z | update | cy | error rate \\| p99 both up looking at deploy |');
    // every row has exactly 5 unescaped pipes (4 cells)
    for (const r of rows) expect(r.replace(/\\\|/g, '').split('|')).toHaveLength(6);
    expect(rows.filter((r) => r.includes('(removed)'))).toHaveLength(1);
  });

  it('Follow-up actions are checkboxes: done ticked, open not', () => {
    expect(section(doc, 'Follow-up actions')).toEqual(['- [x] #1 Add a canary for checkout — dee (due 2026-03-15)', '- [ ] #2 Alert on 5xx rate', '- [ ] #3 Write the runbook — cy']);
  });

  it('without a names function, user ids are shown', () => {
    const { names: _omit, ...rest } = full;
    const d = postmortemMarkdown(rest);
    expect(section(d, 'Roles')[0]).toBe('- Incident commander: U1, 2026-03-01T10:10:00Z – 2026-03-01T12:00:00Z');
    expect(section(d, 'Follow-up actions')[0]).toBe('- [x] #1 Add a canary for checkout — U4 (due 2026-03-15)');
  });

  it('keeps milliseconds when a time has them', () => {
    const d = postmortemMarkdown({ ...full, generatedAt: new Date('2026-03-02T09:00:00.123Z') });
    expect(d.split('\n')[2]).toBe('Severity P1 · status resolved · generated 2026-03-02T09:00:00.123Z');
  });

  it('missing times and empty lists: "never assigned", "not yet", running clocks, placeholders', () => {
    const P2 = defaultPolicy().incidents.severities.P2;
    const d = postmortemMarkdown({
      ref: 'INC-8',
      title: 'Slow search',
      severity: 'P2',
      status: 'investigating',
      services: [],
      description: null,
      summary: '   ',
      declaredAt: T0,
      acknowledgedAt: null,
      resolvedAt: null,
      sla: slaClocks({ declaredAt: T0 }, P2, at(10 * MIN)),
      roles: [],
      timeline: [],
      actions: [],
      generatedAt: at(10 * MIN),
    });
    expect(d.split('\n')[0]).toBe('# INC-8: Slow search');
    expect(section(d, 'Summary')).toEqual(['_No resolution summary yet._']);
    expect(section(d, 'Impact')).toEqual([
      '- Affected services: not recorded',
      '- Description: not recorded',
      '- Declared: 2026-03-01T10:00:00Z',
      '- First commander: never assigned',
      '- Resolved: not yet',
    ]);
    expect(section(d, 'SLA').slice(2)).toEqual(['| respond | 2026-03-01T11:00:00Z | running |', '| resolve | 2026-03-02T10:00:00Z | running |']);
    expect(section(d, 'Roles')).toEqual(['- none assigned']);
    expect(section(d, 'Timeline')).toEqual(['| time (UTC) | what | who | detail |', '| --- | --- | --- | --- |']);
    expect(section(d, 'Follow-up actions')).toEqual(['- none']);
  });

  it('acknowledged but not resolved: commander time shown, "not yet" for resolution', () => {
    const d = postmortemMarkdown({ ...full, summary: null, resolvedAt: null, status: 'monitoring' });
    const impact = section(d, 'Impact');
    expect(impact).toContain('- First commander: 2026-03-01T10:10:00Z (time to acknowledge 10 min)');
    expect(impact).toContain('- Resolved: not yet');
    expect(section(d, 'Summary')).toEqual(['_No resolution summary yet._']);
  });
});
