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
    expect(env.preprod!.steps[0]!.require).toEqual([{ anyOf: ['product_owner'], count: 1 }, { anyOf: ['tech_lead', 'cto'], count: 1 }]);
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
  it('deployments get their own path, every step of it before the 24h expiry; decision rights keep PRODUCT.md\'s', () => {
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
