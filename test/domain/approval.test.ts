import { describe, expect, it } from 'vitest';
import {
  amountBand,
  approvalRef,
  checkVote,
  describeMissing,
  evaluate,
  parseAmount,
  progressLine,
  requiredCount,
  type ApprovalStatus,
  type Decision,
  type Route,
  type Vote,
  type VoteCheck,
} from '../../src/domain/approval.ts';
import { defaultPolicy } from '../../src/config/policy.ts';
import type { Role } from '../../src/domain/rbac.ts';

/*
 * Policy × votes → outcome. Each row plays a sequence of votes through `checkVote` the way
 * the service does (a refused vote is not recorded; the request's status is whatever
 * `evaluate` said after the votes so far), then checks the code each vote got and the
 * final evaluation: status, approvals/required and the `describeMissing` text.
 */

const policy = defaultPolicy();
const environments = policy.approvals.deployment.environments;
const overrides = policy.approvals.deployment.overrides;
const routeOf = (r: Route | undefined): Route => {
  if (!r) throw new Error('route missing from the default policy');
  return r;
};
const ROUTES = {
  dev: routeOf(environments.dev),
  uat: routeOf(environments.uat),
  staging: routeOf(environments.staging),
  preprod: routeOf(environments.preprod),
  production: routeOf(environments.production),
  'production database': routeOf(overrides.database?.production),
  'production infrastructure': routeOf(overrides.infrastructure?.production),
} as const;

/** A custom two-step chain: a tech lead first, then an executive. */
const CHAIN: Route = {
  steps: [
    { name: 'lead', require: [{ anyOf: ['tech_lead'], count: 1 }] },
    { name: 'exec', require: [{ anyOf: ['cto', 'vp'], count: 1 }] },
  ],
};
/** A quorum: two QA leads. */
const QUORUM: Route = { steps: [{ require: [{ anyOf: ['qa_lead'], count: 2 }] }] };
/** A quorum next to a requirement that overlaps it. */
const QUORUM_PLUS: Route = {
  steps: [
    {
      require: [
        { anyOf: ['qa_lead'], count: 2 },
        { anyOf: ['qa_lead', 'tech_lead'], count: 1 },
      ],
    },
  ],
};

const REQUESTER = 'U_REQ';
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

type Code = 'ok' | Extract<VoteCheck, { ok: false }>['code'];
/** [voter id, roles, decision (approve), the code checkVote must give (ok)] */
type Cast = [userId: string, roles: Role[], decision?: Decision, expected?: Code];

interface Row {
  name: string;
  votes: Cast[];
  status: 'pending' | 'approved' | 'rejected';
  /** "approvals/required" */
  progress: string;
  missing: string;
  rejectedBy?: string;
}

function vote(userId: string, roles: readonly Role[], decision: Decision, i: number): Vote {
  return { userId, roles, decision, at: new Date(T0 + i * 60_000), ...(decision === 'reject' ? { reason: 'not now' } : {}) };
}

/** Plays the casts through checkVote, recording only the accepted votes. */
function play(route: Route, casts: readonly Cast[], requesterId = REQUESTER) {
  const votes: Vote[] = [];
  const checks: VoteCheck[] = [];
  casts.forEach(([userId, roles, decision = 'approve'], i) => {
    const status: ApprovalStatus = evaluate(route, votes).status;
    const c = checkVote(route, { status, requesterId }, votes, { userId, roles }, decision);
    checks.push(c);
    if (c.ok) votes.push(vote(userId, roles, decision, i));
  });
  return { votes, checks, codes: checks.map((c): Code => (c.ok ? 'ok' : c.code)), ev: evaluate(route, votes) };
}

const RM: Role = 'release_manager';
const THIRD = 'security_lead or tech_lead or product_owner or platform_owner';

const TABLES: Record<keyof typeof ROUTES, Row[]> = {
  dev: [
    { name: 'no votes: auto-approved', votes: [], status: 'approved', progress: '0/0', missing: 'nothing more' },
    { name: 'a vote on an auto-approved request is refused', votes: [['A', ['tech_lead'], 'approve', 'decided']], status: 'approved', progress: '0/0', missing: 'nothing more' },
  ],
  uat: [
    { name: 'no votes', votes: [], status: 'pending', progress: '0/1', missing: 'qa_lead' },
    { name: 'qa_lead approves', votes: [['A', ['qa_lead']]], status: 'approved', progress: '1/1', missing: 'nothing more' },
    { name: 'tech_lead is not eligible', votes: [['A', ['tech_lead'], 'approve', 'not_eligible']], status: 'pending', progress: '0/1', missing: 'qa_lead' },
    { name: 'the requester cannot approve', votes: [[REQUESTER, ['qa_lead'], 'approve', 'self']], status: 'pending', progress: '0/1', missing: 'qa_lead' },
    { name: 'qa_lead rejects', votes: [['A', ['qa_lead'], 'reject']], status: 'rejected', progress: '0/1', missing: 'qa_lead', rejectedBy: 'A' },
    { name: 'a rejection by a non-approver is refused', votes: [['A', ['engineer'], 'reject', 'not_eligible']], status: 'pending', progress: '0/1', missing: 'qa_lead' },
    {
      name: 'a second qa_lead after approval: decided',
      votes: [
        ['A', ['qa_lead']],
        ['B', ['qa_lead'], 'approve', 'decided'],
      ],
      status: 'approved',
      progress: '1/1',
      missing: 'nothing more',
    },
  ],
  staging: [
    { name: 'no votes', votes: [], status: 'pending', progress: '0/1', missing: 'qa_lead or tech_lead' },
    { name: 'qa_lead approves', votes: [['A', ['qa_lead']]], status: 'approved', progress: '1/1', missing: 'nothing more' },
    { name: 'tech_lead approves', votes: [['A', ['tech_lead']]], status: 'approved', progress: '1/1', missing: 'nothing more' },
    { name: 'product_owner is not eligible', votes: [['A', ['product_owner'], 'approve', 'not_eligible']], status: 'pending', progress: '0/1', missing: 'qa_lead or tech_lead' },
    { name: 'tech_lead rejects', votes: [['A', ['tech_lead'], 'reject']], status: 'rejected', progress: '0/1', missing: 'qa_lead or tech_lead', rejectedBy: 'A' },
  ],
  preprod: [
    { name: 'no votes', votes: [], status: 'pending', progress: '0/2', missing: 'product_owner and tech_lead or cto' },
    { name: 'product_owner', votes: [['A', ['product_owner']]], status: 'pending', progress: '1/2', missing: 'tech_lead or cto' },
    { name: 'cto', votes: [['A', ['cto']]], status: 'pending', progress: '1/2', missing: 'product_owner' },
    {
      name: 'product_owner + cto',
      votes: [
        ['A', ['product_owner']],
        ['B', ['cto']],
      ],
      status: 'approved',
      progress: '2/2',
      missing: 'nothing more',
    },
    {
      name: 'tech_lead + product_owner',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['product_owner']],
      ],
      status: 'approved',
      progress: '2/2',
      missing: 'nothing more',
    },
    {
      name: 'tech_lead then cto: the second is covered',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['cto'], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: '1/2',
      missing: 'product_owner',
    },
    {
      name: 'two product_owners: the second is covered',
      votes: [
        ['A', ['product_owner']],
        ['B', ['product_owner'], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: '1/2',
      missing: 'tech_lead or cto',
    },
    { name: 'one person holding both parts counts once', votes: [['A', ['product_owner', 'tech_lead']]], status: 'pending', progress: '1/2', missing: 'tech_lead or cto' },
    {
      name: 'both parts, then a product_owner: the first moves over',
      votes: [
        ['A', ['product_owner', 'tech_lead']],
        ['B', ['product_owner']],
      ],
      status: 'approved',
      progress: '2/2',
      missing: 'nothing more',
    },
    {
      name: 'both parts, then a cto',
      votes: [
        ['A', ['product_owner', 'cto']],
        ['B', ['cto']],
      ],
      status: 'approved',
      progress: '2/2',
      missing: 'nothing more',
    },
    {
      name: 'the same person twice',
      votes: [
        ['A', ['product_owner']],
        ['A', ['product_owner'], 'approve', 'already_voted'],
      ],
      status: 'pending',
      progress: '1/2',
      missing: 'tech_lead or cto',
    },
    {
      name: 'product_owner, then tech_lead rejects',
      votes: [
        ['A', ['product_owner']],
        ['B', ['tech_lead'], 'reject'],
      ],
      status: 'rejected',
      progress: '1/2',
      missing: 'tech_lead or cto',
      rejectedBy: 'B',
    },
    // checkVote: "rejecting needs a role of the open step" — also when that role's part is covered.
    {
      name: 'a second product_owner may still reject',
      votes: [
        ['A', ['product_owner']],
        ['B', ['product_owner'], 'reject'],
      ],
      status: 'rejected',
      progress: '1/2',
      missing: 'tech_lead or cto',
      rejectedBy: 'B',
    },
    { name: 'security_lead may not reject', votes: [['A', ['security_lead'], 'reject', 'not_eligible']], status: 'pending', progress: '0/2', missing: 'product_owner and tech_lead or cto' },
  ],
  production: [
    { name: 'no votes', votes: [], status: 'pending', progress: '0/3', missing: `release_manager and cto and ${THIRD}` },
    { name: 'release_manager', votes: [['A', [RM]]], status: 'pending', progress: '1/3', missing: `cto and ${THIRD}` },
    {
      name: 'release_manager + cto',
      votes: [
        ['A', [RM]],
        ['B', ['cto']],
      ],
      status: 'pending',
      progress: '2/3',
      missing: THIRD,
    },
    {
      name: 'rm + cto + security_lead',
      votes: [
        ['A', [RM]],
        ['B', ['cto']],
        ['C', ['security_lead']],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    {
      name: 'rm + cto + tech_lead',
      votes: [
        ['A', [RM]],
        ['B', ['cto']],
        ['C', ['tech_lead']],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    {
      name: 'product_owner + cto + rm',
      votes: [
        ['A', ['product_owner']],
        ['B', ['cto']],
        ['C', [RM]],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    {
      name: 'platform_owner + rm + cto',
      votes: [
        ['A', ['platform_owner']],
        ['B', [RM]],
        ['C', ['cto']],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    {
      name: 'three third-part roles do not make three',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['security_lead'], 'approve', 'covered'],
        ['C', ['platform_owner'], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: '1/3',
      missing: 'release_manager and cto',
    },
    {
      name: 'two release managers: the second is covered',
      votes: [
        ['A', [RM]],
        ['B', [RM], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: '1/3',
      missing: `cto and ${THIRD}`,
    },
    // no role stacking
    { name: 'one person with cto + release_manager counts once', votes: [['A', [RM, 'cto']]], status: 'pending', progress: '1/3', missing: `cto and ${THIRD}` },
    {
      name: 'cto + rm, then a cto completes the cto part',
      votes: [
        ['A', [RM, 'cto']],
        ['B', ['cto']],
      ],
      status: 'pending',
      progress: '2/3',
      missing: THIRD,
    },
    {
      name: 'cto + rm, then a release_manager: the first moves to cto',
      votes: [
        ['A', [RM, 'cto']],
        ['B', [RM]],
      ],
      status: 'pending',
      progress: '2/3',
      missing: THIRD,
    },
    {
      name: 'cto + rm, rm, then another cto is covered',
      votes: [
        ['A', [RM, 'cto']],
        ['B', [RM]],
        ['C', ['cto'], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: '2/3',
      missing: THIRD,
    },
    { name: 'one person holding every role counts once', votes: [['A', [RM, 'cto', 'security_lead', 'tech_lead']]], status: 'pending', progress: '1/3', missing: `cto and ${THIRD}` },
    // maximum matching, whatever the order
    {
      name: '[rm, tech_lead] then [rm]: the first moves to the third part',
      votes: [
        ['A', [RM, 'tech_lead']],
        ['B', [RM]],
      ],
      status: 'pending',
      progress: '2/3',
      missing: 'cto',
    },
    {
      name: '[rm, tech_lead], [rm], [cto]',
      votes: [
        ['A', [RM, 'tech_lead']],
        ['B', [RM]],
        ['C', ['cto']],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    {
      name: '[rm], [rm, tech_lead], [cto]',
      votes: [
        ['A', [RM]],
        ['B', [RM, 'tech_lead']],
        ['C', ['cto']],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    {
      name: '[cto], [rm, tech_lead], [tech_lead]',
      votes: [
        ['A', ['cto']],
        ['B', [RM, 'tech_lead']],
        ['C', ['tech_lead']],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    // eligibility, self, already voted, decided
    { name: 'an engineer is not eligible', votes: [['A', ['engineer'], 'approve', 'not_eligible']], status: 'pending', progress: '0/3', missing: `release_manager and cto and ${THIRD}` },
    {
      name: 'a qa_lead is not eligible',
      votes: [
        ['A', [RM]],
        ['B', ['qa_lead'], 'approve', 'not_eligible'],
      ],
      status: 'pending',
      progress: '1/3',
      missing: `cto and ${THIRD}`,
    },
    {
      name: 'the requester holding cto cannot approve',
      votes: [
        [REQUESTER, ['cto'], 'approve', 'self'],
        ['A', [RM]],
      ],
      status: 'pending',
      progress: '1/3',
      missing: `cto and ${THIRD}`,
    },
    {
      name: 'the same person twice',
      votes: [
        ['A', ['cto']],
        ['A', ['cto'], 'approve', 'already_voted'],
      ],
      status: 'pending',
      progress: '1/3',
      missing: `release_manager and ${THIRD}`,
    },
    {
      name: 'a fourth approval after the third: decided',
      votes: [
        ['A', [RM]],
        ['B', ['cto']],
        ['C', ['security_lead']],
        ['D', ['tech_lead'], 'approve', 'decided'],
      ],
      status: 'approved',
      progress: '3/3',
      missing: 'nothing more',
    },
    // rejections
    { name: 'cto rejects at once', votes: [['A', ['cto'], 'reject']], status: 'rejected', progress: '0/3', missing: `release_manager and cto and ${THIRD}`, rejectedBy: 'A' },
    {
      name: 'rm, cto, then security_lead rejects',
      votes: [
        ['A', [RM]],
        ['B', ['cto']],
        ['C', ['security_lead'], 'reject'],
      ],
      status: 'rejected',
      progress: '2/3',
      missing: THIRD,
      rejectedBy: 'C',
    },
    {
      name: 'an engineer may not reject',
      votes: [
        ['A', [RM]],
        ['B', ['engineer'], 'reject', 'not_eligible'],
      ],
      status: 'pending',
      progress: '1/3',
      missing: `cto and ${THIRD}`,
    },
    { name: 'the requester may not reject', votes: [[REQUESTER, ['cto'], 'reject', 'self']], status: 'pending', progress: '0/3', missing: `release_manager and cto and ${THIRD}` },
    {
      name: 'after a rejection nobody votes',
      votes: [
        ['A', ['cto'], 'reject'],
        ['B', [RM], 'approve', 'decided'],
      ],
      status: 'rejected',
      progress: '0/3',
      missing: `release_manager and cto and ${THIRD}`,
      rejectedBy: 'A',
    },
  ],
  'production database': [],
  'production infrastructure': [],
};

/** production database and production infrastructure share one table. */
const DATA_PLANE: Row[] = [
  { name: 'no votes', votes: [], status: 'pending', progress: '0/3', missing: 'release_manager and cto and security_lead' },
  {
    name: 'rm + cto + security_lead',
    votes: [
      ['A', [RM]],
      ['B', ['cto']],
      ['C', ['security_lead']],
    ],
    status: 'approved',
    progress: '3/3',
    missing: 'nothing more',
  },
  {
    name: 'security_lead + cto + rm',
    votes: [
      ['A', ['security_lead']],
      ['B', ['cto']],
      ['C', [RM]],
    ],
    status: 'approved',
    progress: '3/3',
    missing: 'nothing more',
  },
  {
    name: 'a tech_lead cannot be the third',
    votes: [
      ['A', [RM]],
      ['B', ['cto']],
      ['C', ['tech_lead'], 'approve', 'not_eligible'],
    ],
    status: 'pending',
    progress: '2/3',
    missing: 'security_lead',
  },
  {
    name: 'a platform_owner cannot be the third',
    votes: [['A', ['platform_owner'], 'approve', 'not_eligible']],
    status: 'pending',
    progress: '0/3',
    missing: 'release_manager and cto and security_lead',
  },
  { name: 'one person with cto + security_lead counts once', votes: [['A', ['cto', 'security_lead']]], status: 'pending', progress: '1/3', missing: 'release_manager and security_lead' },
  {
    name: 'cto + security_lead, then a cto: the first moves to security',
    votes: [
      ['A', ['cto', 'security_lead']],
      ['B', ['cto']],
    ],
    status: 'pending',
    progress: '2/3',
    missing: 'release_manager',
  },
  {
    name: 'cto + security_lead, then a security_lead',
    votes: [
      ['A', ['cto', 'security_lead']],
      ['B', ['security_lead']],
    ],
    status: 'pending',
    progress: '2/3',
    missing: 'release_manager',
  },
  {
    name: 'both parts taken: a third security_lead is covered',
    votes: [
      ['A', ['cto', 'security_lead']],
      ['B', ['cto']],
      ['C', ['security_lead'], 'approve', 'covered'],
    ],
    status: 'pending',
    progress: '2/3',
    missing: 'release_manager',
  },
  {
    name: 'rm + cto, and a security_lead rejects',
    votes: [
      ['A', [RM]],
      ['B', ['cto']],
      ['C', ['security_lead'], 'reject'],
    ],
    status: 'rejected',
    progress: '2/3',
    missing: 'security_lead',
    rejectedBy: 'C',
  },
  { name: 'a tech_lead may not reject', votes: [['A', ['tech_lead'], 'reject', 'not_eligible']], status: 'pending', progress: '0/3', missing: 'release_manager and cto and security_lead' },
];
TABLES['production database'] = DATA_PLANE;
TABLES['production infrastructure'] = DATA_PLANE;

const castLabel = (votes: readonly Cast[]) => (votes.length === 0 ? '(none)' : votes.map(([u, roles, d = 'approve']) => `${u}[${roles.join('+')}]${d === 'reject' ? ' rejects' : ''}`).join(', '));

describe('default deployment routes: policy × votes → outcome', () => {
  it('required approvals per route', () => {
    expect(Object.fromEntries(Object.entries(ROUTES).map(([k, r]) => [k, requiredCount(r)]))).toEqual({
      dev: 0,
      uat: 1,
      staging: 1,
      preprod: 2,
      production: 3,
      'production database': 3,
      'production infrastructure': 3,
    });
  });

  for (const [env, rows] of Object.entries(TABLES) as [keyof typeof ROUTES, Row[]][]) {
    describe(env, () => {
      it.each(rows.map((r) => [r.name, castLabel(r.votes), r] as const))('%s — %s', (_name, _votes, row) => {
        const { codes, ev } = play(ROUTES[env], row.votes);
        expect(codes).toEqual(row.votes.map(([, , , expected = 'ok']) => expected));
        expect(ev.status).toBe(row.status);
        expect(`${ev.approvals}/${ev.required}`).toBe(row.progress);
        expect(describeMissing(ev.missing)).toBe(row.missing);
        expect(ev.rejectedBy).toBe(row.rejectedBy);
      });
    });
  }
});

describe('checkVote: refusals and what they say', () => {
  const production = ROUTES.production;

  it('self-approval is refused before anything else is looked at', () => {
    const c = checkVote(production, { status: 'pending', requesterId: 'A' }, [], { userId: 'A', roles: [RM] }, 'approve');
    expect(c).toEqual({ ok: false, code: 'self', reason: 'you asked for it, and nobody approves their own request' });
  });

  it('already voted', () => {
    const votes = [vote('A', [RM], 'approve', 0)];
    expect(checkVote(production, { status: 'pending', requesterId: REQUESTER }, votes, { userId: 'A', roles: [RM] }, 'approve')).toEqual({
      ok: false,
      code: 'already_voted',
      reason: 'you have already voted on it',
    });
    expect(checkVote(production, { status: 'pending', requesterId: REQUESTER }, votes, { userId: 'A', roles: [RM] }, 'reject')).toMatchObject({ ok: false, code: 'already_voted' });
  });

  it.each(['approved', 'rejected', 'expired', 'cancelled'] as const)('a request already %s is decided', (status) => {
    for (const decision of ['approve', 'reject'] as const) {
      expect(checkVote(production, { status, requesterId: REQUESTER }, [], { userId: 'A', roles: ['cto'] }, decision)).toEqual({
        ok: false,
        code: 'decided',
        reason: `it is already ${status}`,
      });
    }
  });

  it('a pending request whose votes already satisfy the route needs no more approvals', () => {
    const votes = [vote('A', [RM], 'approve', 0), vote('B', ['cto'], 'approve', 1), vote('C', ['tech_lead'], 'approve', 2)];
    expect(checkVote(production, { status: 'pending', requesterId: REQUESTER }, votes, { userId: 'D', roles: ['security_lead'] }, 'approve')).toEqual({
      ok: false,
      code: 'decided',
      reason: 'it needs no more approvals',
    });
  });

  it('not eligible names what the step needs', () => {
    expect(checkVote(production, { status: 'pending', requesterId: REQUESTER }, [], { userId: 'A', roles: ['engineer', 'oncall'] }, 'approve')).toEqual({
      ok: false,
      code: 'not_eligible',
      reason: `this step needs release_manager and cto and ${THIRD}, and you hold none of those roles`,
    });
    expect(checkVote(ROUTES.uat, { status: 'pending', requesterId: REQUESTER }, [], { userId: 'A', roles: [] }, 'reject')).toEqual({
      ok: false,
      code: 'not_eligible',
      reason: 'this step needs qa_lead, and you hold none of those roles',
    });
  });

  it('covered: the reason names the covered part and what is still missing', () => {
    const votes = [vote('A', ['cto'], 'approve', 0)];
    expect(checkVote(production, { status: 'pending', requesterId: REQUESTER }, votes, { userId: 'B', roles: ['cto'] }, 'approve')).toEqual({
      ok: false,
      code: 'covered',
      reason: `the cto part is already covered; it still needs release_manager and ${THIRD}`,
    });
    const both = [vote('A', [RM, 'cto'], 'approve', 0), vote('B', [RM], 'approve', 1)];
    expect(checkVote(production, { status: 'pending', requesterId: REQUESTER }, both, { userId: 'C', roles: ['cto'] }, 'approve')).toEqual({
      ok: false,
      code: 'covered',
      reason: `the cto part is already covered; it still needs ${THIRD}`,
    });
    const db = [vote('A', ['security_lead'], 'approve', 0)];
    expect(checkVote(ROUTES['production database'], { status: 'pending', requesterId: REQUESTER }, db, { userId: 'B', roles: ['security_lead'] }, 'approve')).toEqual({
      ok: false,
      code: 'covered',
      reason: 'the security_lead part is already covered; it still needs release_manager and cto',
    });
  });

  it('an accepted approval says which requirement and role it fills', () => {
    const state = { status: 'pending' as const, requesterId: REQUESTER };
    expect(checkVote(production, state, [], { userId: 'A', roles: ['cto'] }, 'approve')).toEqual({ ok: true, fills: { requirement: 1, role: 'cto' } });
    expect(checkVote(production, state, [], { userId: 'A', roles: ['platform_owner'] }, 'approve')).toEqual({ ok: true, fills: { requirement: 2, role: 'platform_owner' } });
    // a release manager who is also a tech lead fills the release_manager part first…
    expect(checkVote(production, state, [], { userId: 'A', roles: [RM, 'tech_lead'] }, 'approve')).toEqual({ ok: true, fills: { requirement: 0, role: RM } });
    // …and when the release_manager part is taken, the third
    const votes = [vote('B', [RM], 'approve', 0)];
    expect(checkVote(production, state, votes, { userId: 'A', roles: [RM, 'tech_lead'] }, 'approve')).toEqual({ ok: true, fills: { requirement: 2, role: 'tech_lead' } });
    // a rejection by an eligible approver fills nothing
    expect(checkVote(production, state, [], { userId: 'A', roles: ['cto'] }, 'reject')).toEqual({ ok: true });
  });
});

describe('maximum matching does not depend on vote order', () => {
  const permutations = <T>(xs: readonly T[]): T[][] => (xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])));

  const production = ROUTES.production;
  const people: Cast[] = [
    ['A', [RM, 'tech_lead']],
    ['B', [RM]],
    ['C', ['cto']],
  ];
  it.each(permutations(people).map((p) => [castLabel(p), p] as const))('production: %s → approved', (_label, order) => {
    const { codes, ev } = play(production, order);
    expect(codes).toEqual(['ok', 'ok', 'ok']);
    expect(ev.status).toBe('approved');
    expect(ev.fills[0]).toEqual([['B'], ['C'], ['A']]);
  });

  it('evaluate walks votes in time order, not array order', () => {
    const votes = [vote('C', ['cto'], 'approve', 2), vote('B', [RM], 'approve', 1), vote('A', [RM, 'tech_lead'], 'approve', 0)];
    const ev = evaluate(production, votes);
    expect(ev).toMatchObject({ status: 'approved', approvals: 3, required: 3, step: 1, missing: [] });
    expect(ev.fills).toEqual([[['B'], ['C'], ['A']]]);
  });

  /** Brute force: the largest number of distinct voters that fill distinct slots. */
  function bruteForce(route: Route, voters: { userId: string; roles: Role[] }[]): number {
    const slots = route.steps[0]!.require.flatMap((r) => Array.from({ length: r.count }, () => r.anyOf));
    const best = (i: number, free: boolean[]): number => {
      if (i === voters.length) return 0;
      let b = best(i + 1, free); // voter i fills nothing
      slots.forEach((anyOf, s) => {
        if (free[s] && anyOf.some((r) => voters[i]!.roles.includes(r))) {
          const next = [...free];
          next[s] = false;
          b = Math.max(b, 1 + best(i + 1, next));
        }
      });
      return b;
    };
    return best(
      0,
      slots.map(() => true),
    );
  }

  it('production, every combination of three voters holding subsets of rm/cto/security_lead/tech_lead', () => {
    const roles: Role[] = [RM, 'cto', 'security_lead', 'tech_lead'];
    const subsets: Role[][] = [];
    for (let mask = 1; mask < 1 << roles.length; mask++) subsets.push(roles.filter((_, i) => mask & (1 << i)));
    let checked = 0;
    for (const a of subsets)
      for (const b of subsets)
        for (const c of subsets) {
          const voters = [
            { userId: 'A', roles: a },
            { userId: 'B', roles: b },
            { userId: 'C', roles: c },
          ];
          const ev = evaluate(
            production,
            voters.map((v, i) => vote(v.userId, v.roles, 'approve', i)),
          );
          const want = bruteForce(production, voters);
          expect({ voters: voters.map((v) => v.roles.join('+')), approvals: ev.approvals }).toEqual({ voters: voters.map((v) => v.roles.join('+')), approvals: want });
          expect(ev.status).toBe(want === 3 ? 'approved' : 'pending');
          checked++;
        }
    expect(checked).toBe(15 ** 3);
  });
});

describe('ordered chains (custom two-step route)', () => {
  const rows: Row[] = [
    { name: 'no votes: step 1 is open', votes: [], status: 'pending', progress: '0/2', missing: 'tech_lead' },
    { name: 'a step-2 approver cannot act before step 1', votes: [['A', ['cto'], 'approve', 'not_eligible']], status: 'pending', progress: '0/2', missing: 'tech_lead' },
    { name: 'a step-2 approver cannot reject before step 1', votes: [['A', ['vp'], 'reject', 'not_eligible']], status: 'pending', progress: '0/2', missing: 'tech_lead' },
    { name: 'tech_lead opens step 2', votes: [['A', ['tech_lead']]], status: 'pending', progress: '1/2', missing: 'cto or vp' },
    {
      name: 'tech_lead, then vp',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['vp']],
      ],
      status: 'approved',
      progress: '2/2',
      missing: 'nothing more',
    },
    {
      name: 'tech_lead, then cto',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['cto']],
      ],
      status: 'approved',
      progress: '2/2',
      missing: 'nothing more',
    },
    {
      name: 'once step 1 is done, a second tech_lead is not eligible',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['tech_lead'], 'approve', 'not_eligible'],
      ],
      status: 'pending',
      progress: '1/2',
      missing: 'cto or vp',
    },
    { name: 'one person with tech_lead + cto fills step 1 only', votes: [['A', ['tech_lead', 'cto']]], status: 'pending', progress: '1/2', missing: 'cto or vp' },
    {
      name: 'tech_lead + cto, then a cto',
      votes: [
        ['A', ['tech_lead', 'cto']],
        ['B', ['cto']],
      ],
      status: 'approved',
      progress: '2/2',
      missing: 'nothing more',
    },
    {
      name: 'the step-1 approver cannot also approve step 2',
      votes: [
        ['A', ['tech_lead', 'cto']],
        ['A', ['tech_lead', 'cto'], 'approve', 'covered'],
      ],
      status: 'pending',
      progress: '1/2',
      missing: 'cto or vp',
    },
    {
      name: 'tech_lead, then vp rejects in step 2',
      votes: [
        ['A', ['tech_lead']],
        ['B', ['vp'], 'reject'],
      ],
      status: 'rejected',
      progress: '1/2',
      missing: 'cto or vp',
      rejectedBy: 'B',
    },
  ];
  it.each(rows.map((r) => [r.name, castLabel(r.votes), r] as const))('%s — %s', (_name, _votes, row) => {
    const { codes, ev } = play(CHAIN, row.votes);
    expect(codes).toEqual(row.votes.map(([, , , expected = 'ok']) => expected));
    expect(ev.status).toBe(row.status);
    expect(`${ev.approvals}/${ev.required}`).toBe(row.progress);
    expect(describeMissing(ev.missing)).toBe(row.missing);
    expect(ev.rejectedBy).toBe(row.rejectedBy);
  });

  it('step indexes and fills', () => {
    expect(evaluate(CHAIN, [])).toMatchObject({ step: 0, fills: [[[]]] });
    const one = [vote('A', ['tech_lead', 'cto'], 'approve', 0)];
    expect(evaluate(CHAIN, one)).toMatchObject({ step: 1, fills: [[['A']], [[]]], missing: [{ requirement: 0, anyOf: ['cto', 'vp'], remaining: 1 }] });
    const two = [...one, vote('B', ['vp'], 'approve', 1)];
    expect(evaluate(CHAIN, two)).toMatchObject({ status: 'approved', step: 2, fills: [[['A']], [['B']]], missing: [] });
  });

  it('the step-1 approver is refused for step 2', () => {
    const votes = [vote('A', ['tech_lead', 'cto'], 'approve', 0)];
    const c = checkVote(CHAIN, { status: 'pending', requesterId: REQUESTER }, votes, { userId: 'A', roles: ['tech_lead', 'cto'] }, 'approve');
    expect(c.ok).toBe(false);
  });

  // BUG (src/domain/approval.ts, checkVote): the "earlier step" branch, which should answer
  // code 'covered' ("you already approved an earlier step, and one person fills one
  // requirement"), can never run: the 'already_voted' test before it returns first for anyone
  // who appears in the fills of an earlier step (fills are made from recorded votes).
  // Input: CHAIN route, votes = [A (tech_lead+cto) approved step 1]; A approves again.
  // Actual: { ok: false, code: 'already_voted', reason: 'you have already voted on it' }.
  // Expected: { ok: false, code: 'covered', reason: 'you already approved an earlier step, …' }.
  it("the step-1 approver trying step 2 gets code 'covered'", () => {
    const votes = [vote('A', ['tech_lead', 'cto'], 'approve', 0)];
    const c = checkVote(CHAIN, { status: 'pending', requesterId: REQUESTER }, votes, { userId: 'A', roles: ['tech_lead', 'cto'] }, 'approve');
    expect(c).toEqual({ ok: false, code: 'covered', reason: 'you already approved an earlier step, and one person fills one requirement' });
  });
});

describe('quorums', () => {
  const rows: [Route, string, Row][] = [
    [QUORUM, '2× qa_lead', { name: 'no votes', votes: [], status: 'pending', progress: '0/2', missing: '2× qa_lead' }],
    [QUORUM, '2× qa_lead', { name: 'one qa_lead', votes: [['A', ['qa_lead']]], status: 'pending', progress: '1/2', missing: 'qa_lead' }],
    [
      QUORUM,
      '2× qa_lead',
      {
        name: 'two qa_leads',
        votes: [
          ['A', ['qa_lead']],
          ['B', ['qa_lead']],
        ],
        status: 'approved',
        progress: '2/2',
        missing: 'nothing more',
      },
    ],
    [
      QUORUM,
      '2× qa_lead',
      {
        name: 'the same qa_lead twice',
        votes: [
          ['A', ['qa_lead']],
          ['A', ['qa_lead'], 'approve', 'already_voted'],
        ],
        status: 'pending',
        progress: '1/2',
        missing: 'qa_lead',
      },
    ],
    [
      QUORUM,
      '2× qa_lead',
      {
        name: 'a tech_lead is not eligible',
        votes: [
          ['A', ['qa_lead']],
          ['B', ['tech_lead'], 'approve', 'not_eligible'],
        ],
        status: 'pending',
        progress: '1/2',
        missing: 'qa_lead',
      },
    ],
    [
      QUORUM,
      '2× qa_lead',
      {
        name: 'a requester qa_lead does not count',
        votes: [
          [REQUESTER, ['qa_lead'], 'approve', 'self'],
          ['A', ['qa_lead']],
        ],
        status: 'pending',
        progress: '1/2',
        missing: 'qa_lead',
      },
    ],
    [QUORUM_PLUS, '2× qa_lead + (qa_lead or tech_lead)', { name: 'no votes', votes: [], status: 'pending', progress: '0/3', missing: '2× qa_lead and qa_lead or tech_lead' }],
    [QUORUM_PLUS, '2× qa_lead + (qa_lead or tech_lead)', { name: 'a tech_lead', votes: [['A', ['tech_lead']]], status: 'pending', progress: '1/3', missing: '2× qa_lead' }],
    [
      QUORUM_PLUS,
      '2× qa_lead + (qa_lead or tech_lead)',
      {
        name: 'three qa_leads',
        votes: [
          ['A', ['qa_lead']],
          ['B', ['qa_lead']],
          ['C', ['qa_lead']],
        ],
        status: 'approved',
        progress: '3/3',
        missing: 'nothing more',
      },
    ],
    [
      QUORUM_PLUS,
      '2× qa_lead + (qa_lead or tech_lead)',
      {
        name: '[qa_lead, tech_lead], then two qa_leads',
        votes: [
          ['A', ['qa_lead', 'tech_lead']],
          ['B', ['qa_lead']],
          ['C', ['qa_lead']],
        ],
        status: 'approved',
        progress: '3/3',
        missing: 'nothing more',
      },
    ],
    [
      QUORUM_PLUS,
      '2× qa_lead + (qa_lead or tech_lead)',
      {
        name: 'two qa_leads, then a tech_lead',
        votes: [
          ['A', ['qa_lead']],
          ['B', ['qa_lead']],
          ['C', ['tech_lead']],
        ],
        status: 'approved',
        progress: '3/3',
        missing: 'nothing more',
      },
    ],
    [
      QUORUM_PLUS,
      '2× qa_lead + (qa_lead or tech_lead)',
      {
        name: 'a tech_lead, then a second tech_lead is covered',
        votes: [
          ['A', ['tech_lead']],
          ['B', ['tech_lead'], 'approve', 'covered'],
        ],
        status: 'pending',
        progress: '1/3',
        missing: '2× qa_lead',
      },
    ],
  ];
  it.each(rows.map(([route, routeName, r]) => [routeName, r.name, castLabel(r.votes), route, r] as const))('%s: %s — %s', (_rn, _name, _votes, route, row) => {
    const { codes, ev } = play(route, row.votes);
    expect(codes).toEqual(row.votes.map(([, , , expected = 'ok']) => expected));
    expect(ev.status).toBe(row.status);
    expect(`${ev.approvals}/${ev.required}`).toBe(row.progress);
    expect(describeMissing(ev.missing)).toBe(row.missing);
  });

  it('covered reason for a quorum role', () => {
    const votes = [vote('A', ['tech_lead'], 'approve', 0)];
    expect(checkVote(QUORUM_PLUS, { status: 'pending', requesterId: REQUESTER }, votes, { userId: 'B', roles: ['tech_lead'] }, 'approve')).toEqual({
      ok: false,
      code: 'covered',
      reason: 'the tech_lead part is already covered; it still needs 2× qa_lead',
    });
  });
});

describe('dev is auto-approved', () => {
  it('evaluate with no steps is approved at once', () => {
    expect(evaluate(ROUTES.dev, [])).toEqual({ status: 'approved', step: 0, fills: [], missing: [], approvals: 0, required: 0 });
    expect(evaluate({ steps: [] }, [])).toMatchObject({ status: 'approved' });
  });
});

describe('decision-rights matrix: amount → band → route', () => {
  const rights = policy.approvals.decisionRights;
  const rows: [
    type: 'financial' | 'technical' | 'business',
    category: 'infrastructure' | 'marketing' | 'personnel' | 'strategic',
    amount: number | null,
    band: string,
    missing: string,
    required: number,
  ][] = [
    ['financial', 'infrastructure', 999.99, 'under_1k', 'tech_lead or platform_owner', 1],
    ['financial', 'infrastructure', 1000, '1k_10k', 'manager or devops_lead', 1],
    ['financial', 'infrastructure', 12500, '10k_50k', 'director', 1],
    ['financial', 'infrastructure', 50000.01, 'over_50k', 'vp and cto', 2],
    ['financial', 'marketing', 500, 'under_1k', 'manager', 1],
    ['financial', 'personnel', 50000, '10k_50k', 'vp', 1],
    ['financial', 'strategic', 2_000_000, 'over_50k', 'vp and cto', 2],
    ['technical', 'infrastructure', null, 'none', 'tech_lead or platform_owner or devops_lead', 1],
    ['technical', 'strategic', null, 'none', 'cto', 1],
    ['business', 'marketing', null, 'none', 'product_owner or director', 1],
    ['business', 'strategic', null, 'none', 'vp', 1],
  ];
  it.each(rows)('%s %s %s → %s needs %s', (type, category, amount, band, missing, required) => {
    expect(amountBand(amount)).toBe(band);
    const route = rights[type]?.[category]?.[band as ReturnType<typeof amountBand>];
    expect(route).toBeDefined();
    const ev = evaluate(route!, []);
    expect(ev.required).toBe(required);
    expect(describeMissing(ev.missing)).toBe(missing);
  });

  it('over $50K financial: vp and cto are two different people', () => {
    const route = rights.financial!.infrastructure!.over_50k!;
    const { codes, ev } = play(route, [
      ['A', ['vp', 'cto']],
      ['B', ['cto'], 'approve'],
    ]);
    expect(codes).toEqual(['ok', 'ok']);
    expect(ev.status).toBe('approved');
    expect(play(route, [['A', ['vp', 'cto']]]).ev).toMatchObject({ status: 'pending', approvals: 1, required: 2 });
  });
});

describe('amountBand', () => {
  it.each([
    [0, 'under_1k'],
    [999.99, 'under_1k'],
    [1000, '1k_10k'],
    [9999.99, '1k_10k'],
    [10000, '10k_50k'],
    [49999.99, '10k_50k'],
    [50000, '10k_50k'],
    [50000.01, 'over_50k'],
    [2_000_000, 'over_50k'],
    [null, 'none'],
  ] as const)('%s → %s', (amount, band) => {
    expect(amountBand(amount)).toBe(band);
  });
});

describe('parseAmount', () => {
  it.each([
    ['12500', 12500],
    ['12,500', 12500],
    ['$12,500.50', 12500.5],
    ['$12500', 12500],
    ['1,000,000', 1_000_000],
    ['12.5k', 12500],
    ['12.5K', 12500],
    ['$12.5k', 12500],
    ['2m', 2_000_000],
    ['2M', 2_000_000],
    ['0.5', 0.5],
    ['999.99', 999.99],
    ['12.344', 12.34], // rounded to cents
    ['1.2345k', 1234.5],
    [' 12500 ', 12500],
    ['-', null],
    [' - ', null],
    ['abc', undefined],
    ['-5', undefined],
    ['1,2', undefined],
    ['12,50', undefined],
    ['1,0000', undefined],
    ['', undefined],
    ['$', undefined],
    ['12.', undefined],
    ['.5', undefined],
    ['1e5', undefined],
    ['12b', undefined],
    ['12kk', undefined],
    ['$-5', undefined],
    ['--', undefined],
  ] as const)('%j → %s', (text, expected) => {
    expect(parseAmount(text)).toBe(expected);
  });
});

describe('progressLine and describeMissing', () => {
  const production = ROUTES.production;
  it('pending: "k of n — needs …"', () => {
    expect(progressLine(evaluate(production, [vote('A', [RM], 'approve', 0)]))).toBe(`1 of 3 — needs cto and ${THIRD}`);
    expect(progressLine(evaluate(production, []))).toBe(`0 of 3 — needs release_manager and cto and ${THIRD}`);
    expect(progressLine(evaluate(production, [vote('A', [RM], 'approve', 0), vote('B', ['cto'], 'approve', 1)]))).toBe(`2 of 3 — needs ${THIRD}`);
    expect(progressLine(evaluate(QUORUM, []))).toBe('0 of 2 — needs 2× qa_lead');
    expect(progressLine(evaluate(CHAIN, [vote('A', ['tech_lead'], 'approve', 0)]))).toBe('1 of 2 — needs cto or vp');
  });
  it('decided: just "k of n"', () => {
    const all = [vote('A', [RM], 'approve', 0), vote('B', ['cto'], 'approve', 1), vote('C', ['security_lead'], 'approve', 2)];
    expect(progressLine(evaluate(production, all))).toBe('3 of 3');
    expect(progressLine(evaluate(production, [vote('A', [RM], 'approve', 0), vote('B', ['cto'], 'reject', 1)]))).toBe('1 of 3');
    expect(progressLine(evaluate(ROUTES.dev, []))).toBe('0 of 0');
  });
  it('describeMissing', () => {
    expect(describeMissing([])).toBe('nothing more');
    expect(describeMissing([{ requirement: 0, anyOf: ['qa_lead'], remaining: 3 }])).toBe('3× qa_lead');
    expect(
      describeMissing([
        { requirement: 0, anyOf: ['cto'], remaining: 1 },
        { requirement: 1, anyOf: ['tech_lead', 'vp'], remaining: 2 },
      ]),
    ).toBe('cto and 2× tech_lead or vp');
  });
  it('approvalRef', () => {
    expect(approvalRef(3)).toBe('APR-3');
    expect(approvalRef(120)).toBe('APR-120');
  });
});
