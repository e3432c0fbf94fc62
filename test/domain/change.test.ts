import { describe, expect, it } from 'vitest';
import { parsePolicyText, type Policy } from '../../src/config/policy.ts';
import { checkVote, evaluate, progressLine, requiredCount, type Vote } from '../../src/domain/approval.ts';
import {
  allowedActions,
  approvalDueAt,
  approverRoles,
  assessRisk,
  cabRoute,
  CHANGE_ACTIONS,
  CHANGE_STATUSES,
  changeKpis,
  changeRef,
  changeRoute,
  checklistFor,
  checklistProgress,
  checkStart,
  complete,
  downtimeBucket,
  emergencyApproval,
  exceptionRoute,
  findCatalogueEntry,
  initialStatus,
  needsReapproval,
  parseChangeRef,
  reviewRequired,
  tickItem,
  transition,
  untickItem,
  TRANSITIONS,
  type Approver,
  type ApprovedScope,
  type ChangeAction,
  type ChangeRecord,
  type ChangeStatus,
  type RiskInput,
} from '../../src/domain/change.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
function policyOf(yaml: string): Policy {
  const { policy, problems } = parsePolicyText(yaml);
  if (!policy) throw new Error(JSON.stringify(problems));
  return policy;
}
const P = policyOf('{}');
const T0 = new Date('2026-03-02T09:00:00Z');

describe('references and types', () => {
  it('CHG-n both ways', () => {
    expect(changeRef(4)).toBe('CHG-4');
    expect(parseChangeRef('CHG-4')).toBe(4);
    expect(parseChangeRef(' chg-12 ')).toBe(12);
    expect(parseChangeRef('12')).toBe(12);
    for (const bad of ['INC-4', 'CHG-', 'CHG-x', '']) expect(parseChangeRef(bad)).toBeUndefined();
  });
  it('a standard change starts approved, the others pending', () => {
    expect(initialStatus('standard')).toBe('approved');
    expect(initialStatus('normal')).toBe('pending');
    expect(initialStatus('emergency')).toBe('pending');
  });
});

describe('the lifecycle', () => {
  /** Every status × action: where the table says it leads, or refused. */
  const EXPECTED: Record<ChangeStatus, Partial<Record<ChangeAction, ChangeStatus>>> = {
    pending: { approve: 'approved', reject: 'rejected', defer: 'pending', edit: 'pending', cancel: 'cancelled' },
    approved: { schedule: 'scheduled', start: 'implementing', edit: 'approved', cancel: 'cancelled' },
    rejected: {},
    scheduled: { schedule: 'scheduled', start: 'implementing', edit: 'scheduled', cancel: 'cancelled' },
    implementing: { done: 'implemented', rollback: 'rolled_back' },
    implemented: { rollback: 'rolled_back', review: 'reviewed', close: 'closed' },
    failed: { rollback: 'rolled_back', review: 'reviewed' },
    rolled_back: { review: 'reviewed' },
    reviewed: { close: 'closed' },
    closed: {},
    cancelled: {},
  };
  for (const status of CHANGE_STATUSES) {
    it(`from ${status}`, () => {
      for (const action of CHANGE_ACTIONS) {
        const r = transition({ ref: 'CHG-4', type: 'normal', status }, action, { outcome: 'success' });
        const want = EXPECTED[status][action];
        expect(r.ok ? r.to : 'refused', `${status} × ${action}`).toBe(want ?? 'refused');
      }
      expect(allowedActions(status)).toEqual(Object.keys(EXPECTED[status]));
    });
  }

  it('a refusal names the state and what applies now', () => {
    const t = (status: ChangeStatus, action: ChangeAction) => {
      const r = transition({ ref: 'CHG-4', type: 'normal', status }, action);
      return r.ok ? r.to : r.reason;
    };
    expect(t('implementing', 'approve')).toBe('CHG-4 is implementing; only done or rollback apply now');
    expect(t('pending', 'start')).toBe('CHG-4 is pending; only approve, reject, defer, edit or cancel apply now');
    expect(t('rolled_back', 'close')).toBe('CHG-4 is rolled back; only review applies now');
    expect(t('closed', 'edit')).toBe('CHG-4 is closed; nothing more can be done with it (open a new one with /change new)');
    expect(t('rejected', 'approve')).toBe('CHG-4 was rejected; nothing more can be done with it (open a new one with /change new)');
    expect(t('cancelled', 'start')).toBe('CHG-4 was cancelled; nothing more can be done with it (open a new one with /change new)');
  });

  it('done needs an outcome: success → implemented, failed → failed', () => {
    const c = { ref: 'CHG-4', type: 'normal', status: 'implementing' } as const;
    expect(transition(c, 'done')).toEqual({ ok: false, reason: 'say how it went: /change done CHG-4 success|failed [notes]' });
    expect(transition(c, 'done', { outcome: 'success' })).toEqual({ ok: true, to: 'implemented' });
    expect(transition(c, 'done', { outcome: 'failed' })).toEqual({ ok: true, to: 'failed' });
  });

  it('an edit that voids the approval sends the change back to pending', () => {
    for (const status of ['approved', 'scheduled', 'pending'] as const) {
      expect(transition({ ref: 'CHG-4', type: 'normal', status }, 'edit', { reapprove: true })).toEqual({ ok: true, to: 'pending' });
    }
  });

  it('the review is mandatory after an emergency, a failure or a rollback, and close waits for it', () => {
    expect(reviewRequired({ type: 'normal', status: 'implemented' })).toBe(false);
    expect(reviewRequired({ type: 'emergency', status: 'implemented' })).toBe(true);
    expect(reviewRequired({ type: 'normal', status: 'failed' })).toBe(true);
    expect(reviewRequired({ type: 'standard', status: 'rolled_back' })).toBe(true);
    expect(reviewRequired({ type: 'normal', status: 'reviewed', outcome: 'rolled_back' })).toBe(true);
    expect(transition({ ref: 'CHG-9', type: 'emergency', status: 'implemented' }, 'close')).toEqual({
      ok: false,
      reason: 'CHG-9 needs its post-implementation review before it closes: /change review CHG-9 <notes>',
    });
    expect(transition({ ref: 'CHG-9', type: 'emergency', status: 'reviewed' }, 'close')).toEqual({ ok: true, to: 'closed' });
  });

  it('walks a normal change and an emergency change end to end', () => {
    const walk = (type: 'normal' | 'emergency', steps: [ChangeAction, { outcome?: 'success' | 'failed' }?][]) => {
      let status: ChangeStatus = initialStatus(type);
      const seen: ChangeStatus[] = [status];
      for (const [action, opts] of steps) {
        const r = transition({ ref: 'CHG-1', type, status }, action, opts);
        if (!r.ok) throw new Error(r.reason);
        status = r.to;
        seen.push(status);
      }
      return seen;
    };
    expect(walk('normal', [['defer'], ['approve'], ['schedule'], ['start'], ['done', { outcome: 'success' }], ['close']])).toEqual([
      'pending',
      'pending',
      'approved',
      'scheduled',
      'implementing',
      'implemented',
      'closed',
    ]);
    expect(walk('emergency', [['approve'], ['start'], ['done', { outcome: 'failed' }], ['rollback'], ['review'], ['close']])).toEqual([
      'pending',
      'approved',
      'implementing',
      'failed',
      'rolled_back',
      'reviewed',
      'closed',
    ]);
  });

  it('the table is the one documented', () => {
    expect(TRANSITIONS.rollback.from).toEqual(['implementing', 'implemented', 'failed']);
  });
});

describe('risk: impact × risk × downtime × affected users', () => {
  const rows: [RiskInput, number, string][] = [
    [{ impact: 'low', risk: 'low', downtime: 'none', affectedUsers: 'none' }, 1, 'low'],
    [{ impact: 'high', risk: 'medium', downtime: 'none', affectedUsers: 'none' }, 6, 'low'],
    [{ impact: 'medium', risk: 'medium', downtime: 'minutes', affectedUsers: 'none' }, 8, 'medium'],
    [{ impact: 'high', risk: 'low', downtime: 'none', affectedUsers: 'many' }, 9, 'medium'],
    [{ impact: 'low', risk: 'low', downtime: 'hours', affectedUsers: 'all' }, 12, 'medium'],
    [{ impact: 'medium', risk: 'medium', downtime: 'minutes', affectedUsers: 'some' }, 16, 'medium'],
    [{ impact: 'high', risk: 'medium', downtime: 'none', affectedUsers: 'many' }, 18, 'high'],
    [{ impact: 'high', risk: 'high', downtime: 'minutes', affectedUsers: 'some' }, 36, 'high'],
    [{ impact: 'high', risk: 'high', downtime: 'none', affectedUsers: 'all' }, 36, 'high'],
    [{ impact: 'medium', risk: 'medium', downtime: 'hours', affectedUsers: 'all' }, 48, 'critical'],
    [{ impact: 'high', risk: 'high', downtime: 'hours', affectedUsers: 'all' }, 108, 'critical'],
  ];
  for (const [input, score, level] of rows) {
    it(`${input.impact}/${input.risk}/${String(input.downtime)}/${input.affectedUsers} → ${score} ${level}`, () => {
      expect(assessRisk(input)).toMatchObject({ score, level });
    });
  }

  it('a downtime estimate in minutes falls in its bucket', () => {
    expect([0, 1, 59, 60, 240].map(downtimeBucket)).toEqual(['none', 'minutes', 'minutes', 'hours', 'hours']);
    expect(assessRisk({ impact: 'high', risk: 'medium', downtime: 45, affectedUsers: 'some' })).toMatchObject({ score: 24, level: 'high' });
  });

  it('explains itself', () => {
    expect(assessRisk({ impact: 'high', risk: 'medium', downtime: 90, affectedUsers: 'many' }).reasons).toEqual([
      'impact high: 3',
      'risk of failure medium: 2',
      'downtime hours (90 min): 3',
      'affected users many: 3',
      '3 × 2 × 3 × 3 = 54: critical (48–108)',
    ]);
  });
});

describe('go/no-go checklist', () => {
  it('comes from the policy template of the type, or the catalogue entry', () => {
    expect(checklistFor(P, { type: 'normal' }).map((i) => i.id)).toEqual(['tested', 'rollback-tested', 'backups-verified', 'monitoring', 'runbook', 'stakeholders', 'oncall-aware', 'go-no-go-owner']);
    expect(checklistFor(P, { type: 'emergency' }).every((i) => !i.done)).toBe(true);
    const p = policyOf(
      [
        'changes:',
        '  standardCatalogue:',
        '    - { id: cert-rotation, title: Rotate a TLS certificate, checklist: [{ id: new-cert, text: New certificate staged }] }',
        '    - { id: scale-out, title: Add replicas }',
      ].join('\n'),
    );
    expect(checklistFor(p, { type: 'standard', catalogueId: 'cert-rotation' })).toEqual([{ id: 'new-cert', text: 'New certificate staged', done: false }]);
    expect(checklistFor(p, { type: 'standard', catalogueId: 'scale-out' }).map((i) => i.id)).toEqual(['catalogue-match', 'rollback-ready', 'monitoring-green', 'team-told']);
    expect(findCatalogueEntry(p, 'scale-out')).toMatchObject({ ok: true, entry: { title: 'Add replicas' } });
    expect(findCatalogueEntry(p, 'db-upgrade')).toEqual({
      ok: false,
      reason: '"db-upgrade" is not in the standard change catalogue; pick one of cert-rotation, scale-out, or ask for a normal change',
    });
    expect(findCatalogueEntry(P, 'x')).toMatchObject({ ok: false, reason: expect.stringContaining('the standard change catalogue is empty') });
  });

  it('ticks and unticks, recording who and when, without changing the list given', () => {
    const list = checklistFor(P, { type: 'emergency' });
    const at = new Date(T0);
    const r = tickItem(list, 'rollback-known', 'U1', at);
    if (!r.ok) throw new Error(r.reason);
    expect(r.checklist.find((i) => i.id === 'rollback-known')).toEqual({ id: 'rollback-known', text: 'Rollback steps known, even if untested', done: true, by: 'U1', at });
    expect(list.every((i) => !i.done)).toBe(true);
    expect(checklistProgress(r.checklist)).toBe('1/4 ticked');
    const back = untickItem(r.checklist, 'rollback-known');
    expect(back.ok && back.checklist.find((i) => i.id === 'rollback-known')).toEqual({ id: 'rollback-known', text: 'Rollback steps known, even if untested', done: false });
    expect(tickItem(list, 'nope', 'U1', at)).toEqual({ ok: false, reason: 'the checklist has no item "nope" (it has incident-linked, rollback-known, oncall-watching, channel-told)' });
  });

  it('Start waits for a complete checklist, except for an emergency change, which is flagged', () => {
    const list = checklistFor(P, { type: 'standard' });
    expect(complete(list)).toBe(false);
    expect(checkStart({ ref: 'CHG-2', type: 'standard', status: 'approved', checklist: list })).toEqual({
      ok: false,
      reason:
        'CHG-2 cannot start until its go/no-go checklist is complete (0/4 ticked); still open: The change is exactly the catalogue entry: nothing added to its scope; The rollback steps of the catalogue entry are at hand; Dashboards and alerts of the affected systems are green before starting; The team is told when the change starts and when it ends',
    });
    const done = list.reduce((l, i) => {
      const r = tickItem(l, i.id, 'U1', T0);
      return r.ok ? r.checklist : l;
    }, list);
    expect(complete(done)).toBe(true);
    expect(complete([])).toBe(true);
    expect(checkStart({ ref: 'CHG-2', type: 'standard', status: 'approved', checklist: done })).toEqual({ ok: true, flags: {} });
    expect(checkStart({ ref: 'CHG-3', type: 'emergency', status: 'approved', checklist: checklistFor(P, { type: 'emergency' }) })).toEqual({
      ok: true,
      flags: { checklistIncomplete: ['incident-linked', 'rollback-known', 'oncall-watching', 'channel-told'] },
    });
    expect(checkStart({ ref: 'CHG-3', type: 'emergency', status: 'pending', checklist: [] })).toEqual({ ok: false, reason: 'CHG-3 is pending; only approve, reject, defer, edit or cancel apply now' });
  });
});

describe('approval routes', () => {
  const vote = (userId: string, roles: Approver[], i = 0): Vote<Approver> => ({ userId, roles, decision: 'approve', at: new Date(T0.getTime() + i) });

  it('normal changes: the CAB, 3 of 4 seats with the change manager required', () => {
    const cab = cabRoute(P);
    expect(cab.steps[0]).toMatchObject({ name: 'CAB', quorum: 3 });
    expect(cab.steps[0]!.require.map((r) => [r.label, r.required ?? false])).toEqual([
      ['change manager', true],
      ['technical', false],
      ['security', false],
      ['business', false],
    ]);
    expect(requiredCount(cab)).toBe(3);
    const two = evaluate(cab, [vote('A', ['release_manager'], 1), vote('B', ['tech_lead'], 2)]);
    expect(progressLine(two)).toBe('2 of 3 seats — needs security (security_lead) or business (product_owner)');
    expect(evaluate(cab, [vote('A', ['release_manager'], 1), vote('B', ['tech_lead'], 2), vote('C', ['product_owner'], 3)]).status).toBe('approved');
    expect(changeRoute(P, 'normal', null, T0)).toEqual(cab);
    expect(changeRoute(P, 'standard', null, T0)).toEqual({ steps: [] });
  });

  it('emergency changes by severity: P0 at once by on-call or the commander, P1 the tech lead in 2h, otherwise the release manager in 4h', () => {
    const p0 = emergencyApproval(P, 'P0', T0);
    expect(p0).toMatchObject({ basis: 'P0', within: 15 * MIN, dueAt: new Date(T0.getTime() + 15 * MIN), text: 'P0: one of oncall, incident_commander, within 15m' });
    expect(p0.route.steps[0]!.require).toEqual([{ anyOf: ['oncall', 'incident_commander'], count: 1 }]);
    expect(emergencyApproval(P, 'P1', T0)).toMatchObject({ basis: 'P1', within: 2 * HOUR, text: 'P1: one of tech_lead, within 2h' });
    expect(emergencyApproval(P, 'P2', T0)).toMatchObject({ basis: 'otherwise', within: 4 * HOUR, text: 'P2 (otherwise): one of release_manager, within 4h' });
    expect(emergencyApproval(P, null, T0)).toMatchObject({ basis: 'otherwise', text: 'no linked incident (otherwise): one of release_manager, within 4h' });
    const custom = policyOf('changes:\n  emergency:\n    approval:\n      P2: { approvers: [tech_lead, devops_lead], within: 1h }\n');
    expect(emergencyApproval(custom, 'P2', T0)).toMatchObject({ basis: 'P2', within: HOUR });
    expect(emergencyApproval(custom, 'P0', T0).within).toBe(15 * MIN);
  });

  it("the incident's commander approves a P0 emergency change through the pseudo-approver, nobody else does", () => {
    const route = emergencyApproval(P, 'P0', T0).route;
    const incident = { commanderId: 'U_IC' };
    const ic = approverRoles(['engineer'], 'U_IC', incident);
    expect(ic).toEqual(['engineer', 'incident_commander']);
    expect(approverRoles(['engineer'], 'U_OTHER', incident)).toEqual(['engineer']);
    expect(approverRoles(['oncall'], 'U_IC', null)).toEqual(['oncall']);
    const state = { status: 'pending' as const, requesterId: 'U_REQ' };
    expect(checkVote(route, state, [], { userId: 'U_IC', roles: ic }, 'approve')).toEqual({ ok: true, fills: { requirement: 0, role: 'incident_commander' } });
    expect(checkVote(route, state, [], { userId: 'U_X', roles: approverRoles(['engineer'], 'U_X', incident) }, 'approve')).toMatchObject({ ok: false, code: 'not_eligible' });
    // No self-approval, even for the commander who asked.
    expect(checkVote(route, { ...state, requesterId: 'U_IC' }, [], { userId: 'U_IC', roles: ic }, 'approve')).toMatchObject({ ok: false, code: 'self' });
    expect(evaluate(route, [vote('U_IC', ic)]).status).toBe('approved');
  });

  it('exceptions: the cto and a release manager, two people', () => {
    const route = exceptionRoute(P);
    expect(route.steps[0]!.require).toEqual([
      { anyOf: ['cto'], count: 1 },
      { anyOf: ['release_manager'], count: 1 },
    ]);
    expect(evaluate(route, [{ userId: 'A', roles: ['cto', 'release_manager'], decision: 'approve', at: T0 }]).status).toBe('pending');
  });

  it('approval due times', () => {
    expect(approvalDueAt(P, { type: 'normal', requestedAt: T0 })).toEqual(new Date(T0.getTime() + 4 * HOUR));
    expect(approvalDueAt(P, { type: 'emergency', requestedAt: T0, severity: 'P1' })).toEqual(new Date(T0.getTime() + 2 * HOUR));
    expect(approvalDueAt(P, { type: 'standard', requestedAt: T0 })).toBeNull();
  });
});

describe('re-approval after an edit', () => {
  const base: ApprovedScope = {
    start: new Date('2026-03-03T09:00:00Z'),
    end: new Date('2026-03-03T10:00:00Z'),
    environment: 'production',
    systems: ['api', 'web'],
    risk: { impact: 'medium', risk: 'medium', downtime: 10, affectedUsers: 'some' },
  };
  it('an unchanged scope keeps the votes', () => {
    expect(needsReapproval(base, { ...base, systems: ['web', 'api'] })).toEqual({ reapprove: false, reasons: [] });
  });
  it('moving the window, changing the scope or the risk voids them, and says why', () => {
    const after: ApprovedScope = {
      start: new Date('2026-03-04T13:00:00Z'),
      end: new Date('2026-03-04T14:30:00Z'),
      environment: 'preprod',
      systems: ['api', 'database'],
      risk: { ...base.risk, downtime: 90, impact: 'high' },
    };
    expect(needsReapproval(base, after, 'Europe/Berlin')).toEqual({
      reapprove: true,
      reasons: [
        'the window moved from 2026-03-03 10:00–11:00 to 2026-03-04 14:00–15:30',
        'the environment changed from production to preprod',
        'the systems changed (added database; removed web)',
        'the risk assessment changed (impact medium → high, downtime 10 min → 90 min; medium 16 → high 36)',
      ],
    });
  });
  it('a risk answer that changes is enough, even when the score stays', () => {
    const r = needsReapproval(base, { ...base, risk: { ...base.risk, downtime: 20 } });
    expect(r).toEqual({ reapprove: true, reasons: ['the risk assessment changed (downtime 10 min → 20 min; medium 16 → medium 16)'] });
  });
});

describe('KPIs against the governance targets', () => {
  const now = new Date('2026-03-31T00:00:00Z');
  const day = 24 * HOUR;
  const at = (daysAgo: number, plus = 0) => new Date(now.getTime() - daysAgo * day + plus);

  it('success, rollback, emergency share, median and on-time approval over the window', () => {
    const changes: ChangeRecord[] = [];
    // 198 successful standard changes, one rolled back and (below) one failed, finished in the last 30 days.
    for (let i = 0; i < 198; i++) changes.push({ type: 'standard', createdAt: at(10), finishedAt: at(9), outcome: 'success' });
    changes.push({ type: 'normal', createdAt: at(10), approvedAt: at(10, 1 * HOUR), finishedAt: at(9), outcome: 'rolled_back' });
    // Approvals: 1h, 2h and 5h (the last one late), and 12 emergency changes among 213 requests.
    changes.push({ type: 'normal', createdAt: at(5), approvedAt: at(5, 2 * HOUR) });
    changes.push({ type: 'normal', createdAt: at(5), approvedAt: at(5, 5 * HOUR) });
    for (let i = 0; i < 10; i++) changes.push({ type: 'emergency', createdAt: at(3) });
    // An emergency approved in 30m, due in 15m (P0): late by its own deadline.
    changes.push({ type: 'emergency', createdAt: at(2), approvedAt: at(2, 30 * MIN), approvalDueAt: at(2, 15 * MIN) });
    changes.push({ type: 'emergency', createdAt: at(2), approvedAt: at(2, 10 * MIN), approvalDueAt: at(2, 15 * MIN), finishedAt: at(1), outcome: 'failed' });
    // Outside the window: ignored.
    changes.push({ type: 'emergency', createdAt: at(60), approvedAt: at(60, 9 * HOUR), finishedAt: at(59), outcome: 'failed' });

    const k = changeKpis(changes, now, 30 * day);
    expect(k.from).toEqual(at(30));
    // Exactly 99% is not above 99%.
    expect(k.successRate).toMatchObject({ count: 200, value: 0.99, met: false, text: '99% (target > 99%)' });
    expect(k.rollbackRate).toMatchObject({ count: 200, value: 0.005, met: true, text: '0.5% (target < 2%)' });
    expect(k.emergencyShare).toMatchObject({ count: 213, met: false, text: '5.6% (target < 5%)' });
    expect(k.emergencyShare.value).toBeCloseTo(12 / 213);
    expect(k.medianApprovalTime).toMatchObject({ count: 5, value: 1 * HOUR, met: true, text: '1h (target < 4h)' });
    expect(k.onTimeApprovals).toMatchObject({ count: 5, met: false, text: '60% (target > 95%)' });
  });

  it('a rate that rounds to its target shows the digits that decide it', () => {
    const finished = (outcome: 'success' | 'failed', n: number): ChangeRecord[] => Array.from({ length: n }, () => ({ type: 'standard', createdAt: at(3), finishedAt: at(2), outcome }));
    const k = changeKpis([...finished('success', 995), ...finished('failed', 5), ...finished('success', 1)], now, 30 * day);
    expect(k.successRate).toMatchObject({ met: true, text: '99.5% (target > 99%)' });
    const close = changeKpis([...finished('success', 199), ...finished('failed', 2)], now, 30 * day);
    expect(close.successRate).toMatchObject({ met: true, text: '99.005% (target > 99%)' });
  });

  it('no data is said, and judged neither way', () => {
    const k = changeKpis([], now, 30 * day);
    expect(k.successRate).toEqual({ value: null, target: 0.99, better: 'above', met: null, count: 0, text: 'no data (target > 99%)' });
    expect(k.medianApprovalTime.text).toBe('no data (target < 4h)');
  });
});
