import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { defaultPolicy, loadPolicy, parsePolicyText, policyWarnings, PolicyError } from '../../src/config/policy.ts';
import { parseEnv, missingSlackVariables, EnvError } from '../../src/config/env.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

describe('policy defaults encode PRODUCT.md', () => {
  const p = defaultPolicy();
  it('severities and SLAs', () => {
    expect(p.incidents.severities.P0).toMatchObject({ respond: 5 * MIN, resolve: HOUR, requiresCommander: true });
    expect(p.incidents.severities.P1).toMatchObject({ respond: 15 * MIN, resolve: 4 * HOUR, requiresCommander: true });
    expect(p.incidents.severities.P2).toMatchObject({ respond: HOUR, resolve: 24 * HOUR, requiresCommander: false });
    expect(p.incidents.severities.P3).toMatchObject({ respond: 24 * HOUR, resolve: 7 * 24 * HOUR, requiresCommander: false });
    expect(p.incidents.channelPrefix).toBe('inc');
  });
  it('deployment policy and component overrides', () => {
    const env = p.approvals.deployment.environments;
    expect(env.dev!.steps).toEqual([]);
    expect(env.uat!.steps[0]!.require).toEqual([{ anyOf: ['qa_lead'], count: 1 }]);
    expect(env.staging!.steps[0]!.require).toEqual([{ anyOf: ['qa_lead', 'tech_lead'], count: 1 }]);
    expect(env.preprod!.steps[0]!.require).toEqual([
      { anyOf: ['product_owner'], count: 1 },
      { anyOf: ['tech_lead', 'cto'], count: 1 },
    ]);
    expect(env.production!.steps[0]!.require).toEqual([
      { anyOf: ['release_manager'], count: 1 },
      { anyOf: ['cto'], count: 1 },
      { anyOf: ['security_lead', 'tech_lead', 'product_owner', 'platform_owner'], count: 1 },
    ]);
    for (const c of ['database', 'infrastructure']) {
      const roles = p.approvals.deployment.overrides[c]!.production!.steps[0]!.require.flatMap((r) => r.anyOf);
      expect(roles).toEqual(expect.arrayContaining(['cto', 'security_lead']));
    }
  });
  it('escalation paths, expiry, windows, permissions', () => {
    expect(p.approvals.escalation.map((s) => [s.notify, s.after / HOUR])).toEqual([
      ['approvers', 24],
      ['manager', 48],
      ['director', 72],
      ['vp', 120],
      ['cto', 168],
    ]);
    expect(p.incidents.escalation.map((s) => [s.notify, s.after / MIN])).toEqual([
      ['oncall', 0],
      ['tech_lead', 15],
      ['manager', 30],
      ['cto', 60],
    ]);
    expect(p.approvals.ttl).toBe(24 * HOUR);
    expect(p.changes.windows[0]).toMatchObject({ days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00' });
    expect(p.changes.windows[1]).toMatchObject({ days: ['fri'], start: '10:00', end: '12:00', criticalOnly: true });
    expect(p.permissions.break_glass).toEqual(['cto']);
    expect(Object.keys(p.approvals.decisionRights.financial!)).toEqual(['infrastructure', 'marketing', 'personnel', 'strategic']);
    expect(Object.keys(p.approvals.decisionRights.financial!.infrastructure!)).toEqual(['under_1k', '1k_10k', '10k_50k', 'over_50k']);
  });
});

describe('reminders and escalation fit inside expiry', () => {
  it("deployments get their own path, every step of it before the 24h expiry; decision rights keep PRODUCT.md's", () => {
    const p = defaultPolicy();
    expect(p.approvals.deployment.escalation.map((s) => [s.notify, s.after / HOUR])).toEqual([
      ['approvers', 2],
      ['manager', 4],
      ['director', 8],
      ['vp', 16],
    ]);
    for (const s of p.approvals.deployment.escalation) expect(s.after).toBeLessThan(p.approvals.ttl);
    for (const s of p.approvals.escalation) expect(s.after).toBeLessThan(p.approvals.requestTtl);
    expect(policyWarnings(p)).toEqual([]);
    expect(parsePolicyText('{}').warnings).toEqual([]);
  });

  it('warns, with the line, about every step at or after expiry and every step not later than the one before', () => {
    const text = [
      'approvals:', // 1
      '  ttl: 12h',
      '  requestTtl: 3d',
      '  escalation:',
      '    - { notify: approvers, after: 1d }', // 5
      '    - { notify: manager, after: 3d }',
      '    - { notify: director, after: 5d }',
      '  deployment:',
      '    escalation:',
      '      - { notify: approvers, after: 4h }', // 10
      '      - { notify: manager, after: 12h }',
      'incidents:',
      '  escalation:',
      '    - { notify: oncall, after: 0m }',
      '    - { notify: tech_lead, after: 30m }', // 15
      '    - { notify: manager, after: 30m }',
      '    - { notify: cto, after: 20m }',
    ].join('\n');
    const { policy, problems, warnings } = parsePolicyText(text, 'p.yml');
    expect(problems).toEqual([]);
    expect(policy).toBeDefined();
    expect(warnings).toEqual([
      {
        path: 'approvals.deployment.escalation.1',
        line: 11,
        column: 9,
        message: 'manager after 12h is at or after the expiry of deployment requests (approvals.ttl 12h), so it never fires, nor does any step after it',
      },
      {
        path: 'approvals.escalation.1',
        line: 6,
        column: 7,
        message: 'manager after 3d is at or after the expiry of decision-rights requests (approvals.requestTtl 3d), so it never fires, nor does any step after it',
      },
      {
        path: 'approvals.escalation.2',
        line: 7,
        column: 7,
        message: 'director after 5d is at or after the expiry of decision-rights requests (approvals.requestTtl 3d), so it never fires, nor does any step after it',
      },
      {
        path: 'incidents.escalation.2',
        line: 16,
        column: 7,
        message: 'manager after 30m is not later than the step before it (tech_lead after 30m), so both are sent at once; make each "after" larger than the one before',
      },
      {
        path: 'incidents.escalation.3',
        line: 17,
        column: 7,
        message: 'cto after 20m is not later than the step before it (manager after 30m), so both are sent at once; make each "after" larger than the one before',
      },
    ]);
  });

  it('a shorter expiry with the default steps points at the expiry the file set', () => {
    const { warnings } = parsePolicyText('approvals:\n  ttl: 3h\n', 'p.yml');
    expect(warnings.map((w) => [w.path, w.line, w.message.split(',')[0]])).toEqual([
      ['approvals.deployment.escalation.1', 2, 'manager after 4h is at or after the expiry of deployment requests (approvals.ttl 3h)'],
      ['approvals.deployment.escalation.2', 2, 'director after 8h is at or after the expiry of deployment requests (approvals.ttl 3h)'],
      ['approvals.deployment.escalation.3', 2, 'vp after 16h is at or after the expiry of deployment requests (approvals.ttl 3h)'],
    ]);
  });

  it('the old shared list, written out for deployments, is caught: its first reminder falls on the expiry', () => {
    const { warnings } = parsePolicyText('approvals:\n  deployment:\n    escalation:\n      - { notify: approvers, after: 24h }\n');
    expect(warnings.map((w) => w.path)).toEqual(['approvals.deployment.escalation.0']);
    expect(warnings[0]!.message).toContain('approvers after 1d is at or after the expiry of deployment requests (approvals.ttl 1d)');
  });
});

describe('policy file problems', () => {
  it('names every problem with its path and line', () => {
    const text = [
      'organization:',
      '  timeZone: Mars/Olympus',
      'incidents:',
      '  channelPrefix: "Inc!"',
      '  snooze: soon',
      '  severities:',
      '    P1:',
      '      respond: 10m',
      'approvals:',
      '  ttl: 2h',
      '  deployment:',
      '    environments:',
      '      prod:',
      '        steps:',
      '          - require:',
      '              - anyOf: [wizard]',
      'bogus: 1',
    ].join('\n');
    const { policy, problems } = parsePolicyText(text, 'p.yml');
    expect(policy).toBeUndefined();
    const byPath = Object.fromEntries(problems.map((x) => [x.path, x]));
    expect(byPath['organization.timeZone']).toMatchObject({ line: 2, message: expect.stringContaining('IANA') });
    expect(byPath['incidents.channelPrefix']).toMatchObject({ line: 4 });
    expect(byPath['incidents.snooze']).toMatchObject({ line: 5, message: expect.stringContaining('"soon" is not a duration') });
    expect(byPath['approvals.deployment.environments.prod.steps.0.require.0.anyOf.0']).toMatchObject({ line: 16 });
    expect(problems.find((x) => x.message.includes('"bogus"'))).toBeDefined();
  });

  it('reports YAML syntax errors with a line', () => {
    const { problems } = parsePolicyText('a: [\n', 'p.yml');
    expect(problems[0]).toMatchObject({ message: expect.stringContaining('YAML syntax'), line: expect.any(Number) });
  });

  it('accepts overrides and keeps defaults for the rest', () => {
    const { policy } = parsePolicyText('incidents:\n  channelPrefix: sev\n  severities:\n    P2:\n      respond: 30m\n      requiresCommander: true\n');
    expect(policy!.incidents.channelPrefix).toBe('sev');
    // Keys left out keep that severity's default.
    expect(policy!.incidents.severities.P2).toEqual({ respond: 30 * MIN, resolve: 24 * HOUR, updateEvery: 2 * HOUR, requiresCommander: true, announce: false, responders: [] });
    expect(policy!.incidents.severities.P0.respond).toBe(5 * MIN);
  });

  it('loadPolicy throws a PolicyError for a bad file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const f = join(dir, 'bad.yml');
    writeFileSync(f, 'approvals:\n  ttl: forever\n');
    expect(() => loadPolicy(f)).toThrow(PolicyError);
    expect(() => loadPolicy(join(dir, 'missing.yml'))).toThrow(/cannot read the file/);
  });
});

describe('environment', () => {
  it('defaults and normalisation', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({ PORT: 3000, SLACK_API_URL: 'https://slack.com/api/', LOG_LEVEL: 'info', MUSTER_ADMINS: [] });
    expect(parseEnv({ SLACK_API_URL: 'http://127.0.0.1:9/api', MUSTER_ADMINS: 'U1, U2 ,' })).toMatchObject({ SLACK_API_URL: 'http://127.0.0.1:9/api/', MUSTER_ADMINS: ['U1', 'U2'] });
  });
  it('names missing Slack variables', () => {
    expect(missingSlackVariables(parseEnv({}))).toEqual(['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)']);
    expect(missingSlackVariables(parseEnv({ SLACK_BOT_TOKEN: 'x', SLACK_APP_TOKEN: 'xapp' }))).toEqual([]);
  });
  it('rejects bad values with their names', () => {
    expect(() => parseEnv({ PORT: 'abc' })).toThrow(EnvError);
    expect(() => parseEnv({ MUSTER_ADMINS: 'bob' })).toThrow(/MUSTER_ADMINS/);
    expect(() => parseEnv({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });
});

describe('audience entries name whom they mean', () => {
  it('user:, group: and role: entries are read as they say', () => {
    const { policy, problems, warnings } = parsePolicyText(
      ['incidents:', '  responders: ["user:U0ANA", "group:S0SRE", "role:oncall", "user:123456789012345678"]', '  severities:', '    P0:', '      responders: ["group:987654321098765432"]'].join('\n'),
    );
    expect(problems).toEqual([]);
    expect(warnings).toEqual([]);
    expect(policy!.incidents.responders).toEqual([
      { kind: 'user', id: 'U0ANA' },
      { kind: 'group', id: 'S0SRE' },
      { kind: 'role', role: 'oncall' },
      // A Discord snowflake is an id like any other: nothing is guessed from its first letter.
      { kind: 'user', id: '123456789012345678' },
    ]);
    expect(policy!.incidents.severities.P0.responders).toEqual([{ kind: 'group', id: '987654321098765432' }]);
  });

  it('bare Slack ids from earlier policies still work, with a warning to write them explicitly', () => {
    const { policy, problems, warnings } = parsePolicyText(['incidents:', '  responders: ["U0ANA", "S0SRE"]'].join('\n'), 'p.yml');
    expect(problems).toEqual([]);
    expect(policy!.incidents.responders).toEqual([
      { kind: 'user', id: 'U0ANA', bare: true },
      { kind: 'group', id: 'S0SRE', bare: true },
    ]);
    expect(warnings.map((w) => [w.path, w.message])).toEqual([
      ['incidents.responders.0', 'write U0ANA as user:U0ANA: a bare id is read as a person only by its Slack prefix'],
      ['incidents.responders.1', 'write S0SRE as group:S0SRE: a bare id is read as a user group only by its Slack prefix'],
    ]);
  });

  it('an unknown role, a malformed id or anything else is a clear problem, and no policy', () => {
    const one = (entry: string) => parsePolicyText(`incidents:\n  responders: [${JSON.stringify(entry)}]\n`, 'p.yml');
    expect(one('role:ceo').problems.map((p) => [p.path, p.message])).toEqual([['incidents.responders.0', expect.stringContaining('"ceo" is not a Muster role')]]);
    expect(one('user:U 1').problems[0]!.message).toContain('is not a platform user id');
    expect(one('@bob').problems[0]!.message).toContain('an audience entry is user:<id>, group:<id> or role:<role>');
    expect(one('@bob').policy).toBeUndefined();
  });
});

describe('changes: defaults', () => {
  const c = defaultPolicy().changes;
  it('windows, where they apply, and what is critical', () => {
    expect(c.enforcedIn).toEqual(['production']);
    expect(c.criticalSeverities).toEqual(['P0', 'P1']);
    expect(c.windows).toEqual([
      { days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00', allow: ['standard', 'normal', 'emergency'], criticalOnly: false },
      { days: ['fri'], start: '10:00', end: '12:00', allow: ['standard', 'normal', 'emergency'], criticalOnly: true },
    ]);
    expect([c.blackouts, c.holidays, c.campaignFreezes]).toEqual([[], [], []]);
    expect([c.quarterEndFreezeDays, c.quarterEndAllow, c.fiscalYearStartMonth]).toEqual([3, ['emergency'], 1]);
    expect(c.freeze.maxDuration).toBe(14 * 24 * HOUR);
  });
  it('the CAB: four seats, 3 of them with the change manager, a weekly digest, overdue after 4h', () => {
    expect(c.cab.seats.map((s) => [s.name, s.anyOf, s.required])).toEqual([
      ['change manager', ['release_manager'], true],
      ['technical', ['tech_lead', 'platform_owner', 'devops_lead', 'cto'], false],
      ['security', ['security_lead'], false],
      ['business', ['product_owner'], false],
    ]);
    expect(c.cab.quorum).toBe(3);
    expect(c.cab.digest).toBe('0 9 * * 1');
    expect(c.cab.overdueAfter).toBe(4 * HOUR);
  });
  it('emergency approval by severity, announcement, review, exceptions, verification, checklists', () => {
    expect(c.emergency.approval).toEqual({
      P0: { approvers: ['oncall', 'incident_commander'], within: 15 * MIN },
      P1: { approvers: ['tech_lead'], within: 2 * HOUR },
      otherwise: { approvers: ['release_manager'], within: 4 * HOUR },
    });
    expect(c.review).toEqual({ within: 5 * 24 * HOUR, remindEvery: 24 * HOUR });
    expect(c.exceptions).toEqual({
      approvers: [
        { anyOf: ['cto'], count: 1 },
        { anyOf: ['release_manager'], count: 1 },
      ],
      ttl: 24 * HOUR,
    });
    expect(c.verification.nudgeAfter).toEqual([HOUR, 24 * HOUR]);
    expect(Object.fromEntries(Object.entries(c.checklists).map(([k, v]) => [k, v.length]))).toEqual({ standard: 4, normal: 8, emergency: 4 });
    expect(c.checklists.normal.map((i) => i.id)).toEqual(expect.arrayContaining(['rollback-tested', 'backups-verified', 'monitoring', 'runbook', 'stakeholders', 'oncall-aware']));
    expect(c.standardCatalogue).toEqual([]);
  });
  it('permissions to freeze and to roll back; approve_emergency_change is gone', () => {
    const p = defaultPolicy().permissions;
    expect(p.freeze_changes).toEqual(['release_manager', 'cto']);
    expect(p.rollback_change).toEqual(['oncall', 'release_manager', 'cto']);
    expect(p.manage_changes).toEqual(['release_manager', 'admin']);
    expect(parsePolicyText('permissions:\n  approve_emergency_change: [oncall]\n').problems.map((x) => [x.path, x.message])).toEqual([['permissions', 'unknown key(s) "approve_emergency_change"']]);
  });
});

describe('changes: problems', () => {
  const problems = (yaml: string) => parsePolicyText(yaml, 'p.yml').problems.map((p) => [p.path, p.message]);
  it('a window that ends before it starts, or runs past midnight', () => {
    expect(problems('changes:\n  windows:\n    - { days: [mon], start: "16:00", end: "10:00", allow: [normal] }\n')).toEqual([
      ['changes.windows.0.end', 'a window must end after it starts on the same day (a window cannot run past midnight: split it into two)'],
    ]);
    expect(problems('changes:\n  windows:\n    - { days: [mon], start: "10:00", end: "10:00", allow: [normal] }\n')).toHaveLength(1);
  });
  it('a quorum larger than the seats, seats sharing a name', () => {
    expect(problems('changes:\n  cab:\n    quorum: 5\n')).toEqual([
      ['changes.cab.quorum', 'the quorum is larger than the number of seats, so no change could ever be approved; lower it or add seats'],
    ]);
    expect(problems('changes:\n  cab:\n    quorum: 1\n    seats: [{ name: a, anyOf: [cto] }, { name: a, anyOf: [vp] }]\n')).toEqual([
      ['changes.cab.seats', 'two seats share a name; name each seat differently'],
    ]);
  });
  it('dates: not in the calendar, a range backwards', () => {
    expect(problems('changes:\n  holidays: [{ name: x, date: "2026-02-30" }]\n')).toEqual([['changes.holidays.0.date', 'not a date in the calendar (YYYY-MM-DD)']]);
    expect(problems('changes:\n  campaignFreezes: [{ name: x, start: "2026-12-01", end: "2026-11-01" }]\n')).toEqual([
      ['changes.campaignFreezes.0.end', 'a campaign freeze must end on or after its start'],
    ]);
    expect(problems('changes:\n  blackouts: [{ name: x, start: "2026-12-01", end: "2026-11-01" }]\n')).toEqual([['changes.blackouts.0.end', 'a blackout must end on or after its start']]);
    expect(problems('changes:\n  blackouts: [{ name: x, start: "2026-12-01" }]\n')).toEqual([]);
  });
  it('environments and systems must exist', () => {
    expect(problems('changes:\n  enforcedIn: [prod]\n')).toEqual([
      ['changes.enforcedIn.0', '"prod" is not an environment of approvals.deployment.environments (dev, uat, staging, preprod, production)'],
    ]);
    expect(problems('changes:\n  enforcedIn: all\n  blackouts: [{ name: x, start: "2026-12-01", environments: [stage] }]\n')[0]).toEqual([
      'changes.blackouts.0.environments.0',
      expect.stringContaining('"stage" is not an environment'),
    ]);
    const catalogue = 'changes:\n  standardCatalogue: [{ id: rotate, title: Rotate, systems: [dns] }]\n';
    expect(problems(catalogue)).toEqual([]);
    expect(problems(`approvals:\n  deployment:\n    components: [api, web]\n${catalogue}`)).toEqual([
      ['changes.standardCatalogue.0.systems.0', '"dns" is not a system of approvals.deployment.components (api, web)'],
    ]);
  });
  it('checklists and catalogue ids are unique; the commander pseudo-role is for emergency approval only', () => {
    expect(problems('changes:\n  checklists:\n    normal: [{ id: a, text: A }, { id: a, text: B }]\n')).toEqual([
      ['changes.checklists.normal', 'two items of one checklist share an id; make each id unique'],
    ]);
    expect(problems('changes:\n  standardCatalogue: [{ id: a, title: A }, { id: a, title: B }]\n')).toEqual([['changes.standardCatalogue', 'two catalogue entries share an id; make each id unique']]);
    expect(problems('changes:\n  cab:\n    seats: [{ name: ic, anyOf: [incident_commander] }]\n    quorum: 1\n')[0]![0]).toBe('changes.cab.seats.0.anyOf.0');
  });
  it('keys of earlier releases that nothing read are unknown now', () => {
    expect(problems('changes:\n  emergencyApprovers: [oncall]\n')).toEqual([['changes', 'unknown key(s) "emergencyApprovers"']]);
    expect(problems('changes:\n  cab:\n    approvers: [{ anyOf: [cto] }]\n')).toEqual([['changes.cab', 'unknown key(s) "approvers"']]);
  });
  it('emergency approval merges per severity: one entry set, the others keep their defaults', () => {
    const { policy } = parsePolicyText('changes:\n  emergency:\n    approval:\n      P1: { approvers: [tech_lead, devops_lead], within: 1h }\n');
    expect(policy!.changes.emergency.approval.P0.approvers).toEqual(['oncall', 'incident_commander']);
    expect(policy!.changes.emergency.approval.P1).toEqual({ approvers: ['tech_lead', 'devops_lead'], within: HOUR });
    expect(policy!.changes.emergency.approval.otherwise.within).toBe(4 * HOUR);
  });
});

describe('changes: warnings', () => {
  const warnings = (yaml: string) => parsePolicyText(yaml, 'p.yml').warnings.map((w) => [w.path, w.message]);
  it('the defaults give none', () => {
    expect(warnings('{}')).toEqual([]);
  });
  it('more required seats than the quorum', () => {
    expect(warnings('changes:\n  cab:\n    quorum: 1\n    seats: [{ name: a, anyOf: [cto], required: true }, { name: b, anyOf: [vp], required: true }]\n')).toEqual([
      ['changes.cab.quorum', '2 seats are required but the quorum is 1: every required seat is needed anyway, so the quorum is in effect 2'],
    ]);
  });
  it('no window for normal changes, enforcement nowhere, critical-only windows nobody can use', () => {
    expect(warnings('changes:\n  windows: [{ days: [mon], start: "10:00", end: "12:00", allow: [standard, emergency] }]\n')).toEqual([
      ['changes.windows', 'no window takes normal changes that are not critical, so every one of them is refused in production unless an exception is approved'],
    ]);
    expect(warnings('changes:\n  enforcedIn: []\n')[0]![0]).toBe('changes.enforcedIn');
    expect(warnings('changes:\n  criticalSeverities: []\n')).toEqual([
      ['changes.windows.1', 'this window is for critical changes only, and with no critical severities only emergency changes are critical; it takes no standard or normal change'],
    ]);
  });
  it('verification nudges out of order, an emergency approval as slow as the resolution target', () => {
    expect(warnings('changes:\n  verification:\n    nudgeAfter: [24h, 1h]\n')).toEqual([
      ['changes.verification.nudgeAfter.1', 'the nudge after 1h is not later than the one before it (1d), so both are sent at once; make each larger than the one before'],
    ]);
    expect(warnings('changes:\n  emergency:\n    approval:\n      P0: { approvers: [oncall], within: 1h }\n')).toEqual([
      ['changes.emergency.approval.P0.within', 'an emergency change for a P0 incident may wait 1h for approval, as long as the P0 resolution target (1h); shorten it'],
    ]);
  });
});
