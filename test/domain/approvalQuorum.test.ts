import { describe, expect, it } from 'vitest';
import { checkVote, describeMissing, evaluate, progressLine, requiredCount, type Decision, type Route, type Vote, type VoteCheck } from '../../src/domain/approval.ts';
import type { Role } from '../../src/domain/rbac.ts';

/*
 * Quorum steps (a change advisory board): seats, some required, and a number of seats that must be
 * met. Votes are played through checkVote as the service does (a refused vote is not recorded).
 */

const TECH: Role[] = ['tech_lead', 'platform_owner', 'devops_lead', 'cto'];
const CAB: Route = {
  steps: [
    {
      name: 'CAB',
      quorum: 3,
      require: [
        { anyOf: ['release_manager'], count: 1, label: 'change manager', required: true },
        { anyOf: TECH, count: 1, label: 'technical' },
        { anyOf: ['security_lead'], count: 1, label: 'security' },
        { anyOf: ['product_owner'], count: 1, label: 'business' },
      ],
    },
  ],
};
const CM = 'change manager (release_manager)';
const TE = 'technical (tech_lead, platform_owner, devops_lead, cto)';
const SE = 'security (security_lead)';
const BU = 'business (product_owner)';

type Code = 'ok' | Extract<VoteCheck, { ok: false }>['code'];
type Cast = [userId: string, roles: Role[], decision?: Decision, expected?: Code];
const T0 = Date.UTC(2026, 0, 5, 10);

function play(route: Route, casts: readonly Cast[]) {
  const votes: Vote[] = [];
  const codes: Code[] = [];
  const reasons: string[] = [];
  casts.forEach(([userId, roles, decision = 'approve'], i) => {
    const ev = evaluate(route, votes);
    const check = checkVote(route, { status: ev.status, requesterId: 'U_REQ' }, votes, { userId, roles }, decision);
    codes.push(check.ok ? 'ok' : check.code);
    reasons.push(check.ok ? '' : check.reason);
    if (check.ok) votes.push({ userId, roles, decision, at: new Date(T0 + i * 60_000) });
  });
  return { ev: evaluate(route, votes), codes, reasons };
}

describe('a CAB: 3 of 4 seats, the change manager required', () => {
  const rows: { name: string; votes: Cast[]; status: string; progress: string }[] = [
    { name: 'no votes', votes: [], status: 'pending', progress: `0 of 3 seats — needs ${CM}, and 2 of ${TE}, ${SE} or ${BU}` },
    { name: 'change manager', votes: [['A', ['release_manager']]], status: 'pending', progress: `1 of 3 seats — needs 2 of ${TE}, ${SE} or ${BU}` },
    {
      name: 'change manager + technical',
      votes: [
        ['A', ['release_manager']],
        ['B', ['cto']],
      ],
      status: 'pending',
      progress: `2 of 3 seats — needs ${SE} or ${BU}`,
    },
    {
      name: 'technical + security',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['security_lead']],
      ],
      status: 'pending',
      progress: `2 of 3 seats — needs ${CM}`,
    },
    {
      name: 'change manager + technical + security',
      votes: [
        ['A', ['release_manager']],
        ['B', ['tech_lead']],
        ['C', ['security_lead']],
      ],
      status: 'approved',
      progress: '3 of 3',
    },
    {
      name: 'change manager + security + business',
      votes: [
        ['A', ['release_manager']],
        ['B', ['security_lead']],
        ['C', ['product_owner']],
      ],
      status: 'approved',
      progress: '3 of 3',
    },
    {
      name: 'once the other seats are enough, only the change manager counts',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['security_lead']],
        ['C', ['product_owner'], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: `2 of 3 seats — needs ${CM}`,
    },
    {
      name: 'then the change manager approves',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['security_lead']],
        ['C', ['product_owner'], 'approve', 'covered'],
        ['D', ['release_manager']],
      ],
      status: 'approved',
      progress: '3 of 3',
    },
    {
      name: 'two technical people fill one seat',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['cto'], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: `1 of 3 seats — needs ${CM}, and one of ${SE} or ${BU}`,
    },
    {
      name: 'no role stacking: a release manager who is also security lead fills one seat',
      votes: [
        ['A', ['release_manager', 'security_lead']],
        ['B', ['tech_lead']],
      ],
      status: 'pending',
      progress: `2 of 3 seats — needs ${SE} or ${BU}`,
    },
    {
      name: 'a multi-role person moves over when someone else can only fill their seat',
      votes: [
        ['A', ['release_manager', 'security_lead']],
        ['B', ['tech_lead']],
        ['C', ['release_manager']],
      ],
      status: 'approved',
      progress: '3 of 3',
    },
    { name: 'no self-approval', votes: [['U_REQ', ['release_manager'], 'approve', 'self']], status: 'pending', progress: `0 of 3 seats — needs ${CM}, and 2 of ${TE}, ${SE} or ${BU}` },
    { name: 'an engineer holds no seat', votes: [['A', ['engineer'], 'approve', 'not_eligible']], status: 'pending', progress: `0 of 3 seats — needs ${CM}, and 2 of ${TE}, ${SE} or ${BU}` },
    {
      name: 'a seat holder rejects',
      votes: [
        ['A', ['release_manager']],
        ['B', ['security_lead'], 'reject'],
      ],
      status: 'rejected',
      progress: '1 of 3',
    },
    {
      name: 'voting twice',
      votes: [
        ['A', ['release_manager']],
        ['A', ['release_manager'], 'approve', 'already_voted'],
      ],
      status: 'pending',
      progress: `1 of 3 seats — needs 2 of ${TE}, ${SE} or ${BU}`,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const { ev, codes } = play(CAB, row.votes);
      expect(codes).toEqual(row.votes.map((c) => c[3] ?? 'ok'));
      expect(ev.status).toBe(row.status);
      expect(progressLine(ev)).toBe(row.progress);
    });
  }

  it('needs three approvals at least, and reports seats while pending', () => {
    expect(requiredCount(CAB)).toBe(3);
    const { ev } = play(CAB, [
      ['A', ['release_manager']],
      ['B', ['cto']],
    ]);
    expect(ev.seats).toEqual({ met: 2, quorum: 3, total: 4 });
    expect(ev.required).toBe(3);
    expect(ev.missing.map((m) => [m.label, m.choose])).toEqual([
      ['security', 1],
      ['business', 1],
    ]);
  });

  it('three seats without the required one are not enough (votes recorded before a policy change, say)', () => {
    const votes: Vote[] = (['tech_lead', 'security_lead', 'product_owner'] as const).map((r, i) => ({ userId: `U${i}`, roles: [r], decision: 'approve', at: new Date(T0 + i) }));
    const ev = evaluate(CAB, votes);
    expect(ev.status).toBe('pending');
    expect(progressLine(ev)).toBe(`3 of 3 seats, but not the required ones — needs ${CM}`);
  });

  it('a covered vote says what is still needed', () => {
    const { reasons } = play(CAB, [
      ['A', ['tech_lead']],
      ['B', ['security_lead']],
      ['C', ['product_owner']],
    ]);
    expect(reasons[2]).toBe(`the business seat is filled or no longer needed; it still needs ${CM}`);
  });

  it('names the seats to someone who holds none', () => {
    const { reasons } = play(CAB, [['A', ['engineer']]]);
    expect(reasons[0]).toBe(`its seats are ${CM}, ${TE}, ${SE}, ${BU} (3 of 4 needed), and you hold none of those roles`);
  });

  it('the order of votes never matters', () => {
    const casts: Cast[] = [
      ['A', ['release_manager', 'security_lead']],
      ['B', ['security_lead']],
      ['C', ['tech_lead']],
    ];
    for (const order of [
      [0, 1, 2],
      [2, 1, 0],
      [1, 0, 2],
      [1, 2, 0],
    ]) {
      const { ev } = play(
        CAB,
        order.map((i) => casts[i]!),
      );
      expect(ev.status).toBe('approved');
    }
  });
});

describe('quorum steps in general', () => {
  it('without a quorum, or with one covering every requirement, every requirement is needed', () => {
    const all: Route = {
      steps: [
        {
          require: [
            { anyOf: ['qa_lead'], count: 1 },
            { anyOf: ['tech_lead'], count: 1 },
          ],
        },
      ],
    };
    const same: Route = { steps: [{ quorum: 2, require: all.steps[0]!.require }] };
    for (const r of [all, same]) {
      const { ev } = play(r, [['A', ['qa_lead']]]);
      expect(ev.status).toBe('pending');
      expect(ev.seats).toBeUndefined();
      expect(progressLine(ev)).toBe('1 of 2 — needs tech_lead');
    }
  });

  it('counts whole seats: one person fills the seat they can complete, not half of another', () => {
    const r: Route = {
      steps: [
        {
          quorum: 1,
          require: [
            { anyOf: ['qa_lead'], count: 2 },
            { anyOf: ['qa_lead'], count: 1 },
          ],
        },
      ],
    };
    expect(requiredCount(r)).toBe(1);
    expect(play(r, [['A', ['qa_lead']]]).ev.status).toBe('approved');
  });

  it('a seat of two people is described with its count', () => {
    const r: Route = {
      steps: [
        {
          quorum: 1,
          require: [
            { anyOf: ['qa_lead'], count: 2, label: 'QA' },
            { anyOf: ['dba'], count: 2, label: 'data' },
          ],
        },
      ],
    };
    expect(requiredCount(r)).toBe(2);
    const { ev } = play(r, [['A', ['qa_lead']]]);
    expect(progressLine(ev)).toBe('0 of 1 seats — needs QA (qa_lead) or 2× data (dba)');
  });

  it('a quorum step after a chain step: whoever approved the first step fills no seat', () => {
    const r: Route = { steps: [{ require: [{ anyOf: ['dba'], count: 1 }] }, CAB.steps[0]!] };
    const { ev, codes } = play(r, [
      ['A', ['dba', 'release_manager']],
      ['A2', ['release_manager']],
      ['B', ['dba'], 'approve', 'not_eligible'],
    ]);
    expect(codes).toEqual(['ok', 'ok', 'not_eligible']);
    expect(ev.step).toBe(1);
    expect(ev.fills[1]![0]).toEqual(['A2']);
    expect(ev.required).toBe(4);
  });

  it('describeMissing reads the same as before for plain requirements', () => {
    expect(describeMissing([{ requirement: 0, anyOf: ['cto'], remaining: 1 }])).toBe('cto');
    expect(describeMissing([])).toBe('nothing more');
  });

  it('a generic route: a pseudo-role the caller grants per request', () => {
    type Approver = Role | 'incident_commander';
    const p0: Route<Approver> = { steps: [{ require: [{ anyOf: ['oncall', 'incident_commander'], count: 1 }] }] };
    const ev = evaluate(p0, []);
    expect(describeMissing(ev.missing)).toBe('oncall or incident_commander');
    const check = checkVote(p0, { status: 'pending', requesterId: 'U_REQ' }, [], { userId: 'IC', roles: ['engineer', 'incident_commander'] }, 'approve');
    expect(check).toEqual({ ok: true, fills: { requirement: 0, role: 'incident_commander' } });
    expect(evaluate(p0, [{ userId: 'IC', roles: ['incident_commander'], decision: 'approve', at: new Date(T0) }]).status).toBe('approved');
  });
});
