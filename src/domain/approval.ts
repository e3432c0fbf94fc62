import type { Role } from './rbac.ts';

/**
 * Approval rules as plain functions: ordered chains of steps, each step a set of role
 * requirements ("count people holding one of anyOf"). No self-approval; no role stacking
 * (one person fills one requirement, across the whole route, however many roles they hold).
 */

export interface Requirement {
  anyOf: readonly Role[];
  count: number;
  label?: string;
}
export interface Step {
  name?: string;
  require: readonly Requirement[];
}
export interface Route {
  steps: readonly Step[];
}

export type Decision = 'approve' | 'reject';
export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

export interface Vote {
  userId: string;
  roles: readonly Role[];
  decision: Decision;
  at: Date;
  reason?: string;
}

/** Which requirement each approving voter fills, step by step. */
export interface Evaluation {
  status: 'pending' | 'approved' | 'rejected';
  /** Index of the step now open (steps.length when all are satisfied). */
  step: number;
  /** fills[step][requirement] = user ids filling it. */
  fills: string[][][];
  /** What the open step still needs. */
  missing: { requirement: number; anyOf: readonly Role[]; remaining: number }[];
  approvals: number;
  required: number;
  rejectedBy?: string;
}

export function requiredCount(route: Route): number {
  return route.steps.reduce((n, s) => n + s.require.reduce((m, r) => m + r.count, 0), 0);
}

/**
 * Maximum matching of voters to requirement slots of one step (augmenting paths), so
 * that the order of votes never lets a multi-role person block a requirement someone
 * else could only fill.
 */
function matchStep(step: Step, voters: { userId: string; roles: readonly Role[] }[]): string[][] {
  const slots: number[] = [];
  step.require.forEach((r, i) => {
    for (let k = 0; k < r.count; k++) slots.push(i);
  });
  const slotOwner: (number | undefined)[] = slots.map(() => undefined);
  const fits = (v: number, slot: number) => step.require[slots[slot]!]!.anyOf.some((role) => voters[v]!.roles.includes(role));
  const tryAssign = (v: number, seen: Set<number>): boolean => {
    for (let s = 0; s < slots.length; s++) {
      if (!fits(v, s) || seen.has(s)) continue;
      seen.add(s);
      const owner = slotOwner[s];
      if (owner === undefined || tryAssign(owner, seen)) {
        slotOwner[s] = v;
        return true;
      }
    }
    return false;
  };
  for (let v = 0; v < voters.length; v++) tryAssign(v, new Set());
  const fills: string[][] = step.require.map(() => []);
  slotOwner.forEach((v, s) => {
    if (v !== undefined) fills[slots[s]!]!.push(voters[v]!.userId);
  });
  return fills;
}

function stepSatisfied(step: Step, fills: string[][]): boolean {
  return step.require.every((r, i) => (fills[i]?.length ?? 0) >= r.count);
}

/** Walks the route with the approving votes in time order. */
export function evaluate(route: Route, votes: readonly Vote[]): Evaluation {
  const ordered = [...votes].sort((a, b) => a.at.getTime() - b.at.getTime());
  const rejection = ordered.find((v) => v.decision === 'reject');
  const used = new Set<string>();
  const fills: string[][][] = [];
  let step = 0;
  let approvals = 0;
  for (; step < route.steps.length; step++) {
    const s = route.steps[step]!;
    const candidates = ordered.filter((v) => v.decision === 'approve' && !used.has(v.userId));
    const f = matchStep(s, candidates);
    fills.push(f);
    for (const ids of f) for (const id of ids) used.add(id);
    approvals += f.reduce((n, ids) => n + ids.length, 0);
    if (!stepSatisfied(s, f)) break;
  }
  const open = route.steps[step];
  const missing = open
    ? open.require
        .map((r, i) => ({ requirement: i, anyOf: r.anyOf, remaining: r.count - (fills[step]?.[i]?.length ?? 0) }))
        .filter((m) => m.remaining > 0)
    : [];
  const required = requiredCount(route);
  if (rejection) return { status: 'rejected', step, fills, missing, approvals, required, rejectedBy: rejection.userId };
  return { status: step >= route.steps.length ? 'approved' : 'pending', step, fills, missing, approvals, required };
}

export type VoteCheck = { ok: true; fills?: { requirement: number; role: Role } } | { ok: false; code: 'self' | 'already_voted' | 'not_eligible' | 'covered' | 'decided'; reason: string };

const roleList = (roles: readonly Role[]) => roles.join(' or ');

/**
 * May this person cast this vote now? Approving must fill a requirement of the open
 * step that the votes so far leave open; rejecting needs a role of the open step.
 */
export function checkVote(
  route: Route,
  state: { status: ApprovalStatus; requesterId: string },
  votes: readonly Vote[],
  voter: { userId: string; roles: readonly Role[] },
  decision: Decision,
): VoteCheck {
  if (state.status !== 'pending') return { ok: false, code: 'decided', reason: `it is already ${state.status}` };
  if (voter.userId === state.requesterId) return { ok: false, code: 'self', reason: 'you asked for it, and nobody approves their own request' };
  const now = evaluate(route, votes);
  const earlier = now.fills.slice(0, now.step).some((f) => f.some((ids) => ids.includes(voter.userId)));
  if (earlier) return { ok: false, code: 'covered', reason: 'you already approved an earlier step, and one person fills one requirement' };
  if (votes.some((v) => v.userId === voter.userId)) return { ok: false, code: 'already_voted', reason: 'you have already voted on it' };
  const open = route.steps[now.step];
  if (!open) return { ok: false, code: 'decided', reason: 'it needs no more approvals' };
  const stepRoles = [...new Set(open.require.flatMap((r) => r.anyOf))];
  const holds = stepRoles.filter((r) => voter.roles.includes(r));
  if (holds.length === 0) {
    return { ok: false, code: 'not_eligible', reason: `this step needs ${open.require.map((r) => roleList(r.anyOf)).join(' and ')}, and you hold none of those roles` };
  }
  if (decision === 'reject') return { ok: true };
  const after = evaluate(route, [...votes, { ...voter, decision: 'approve', at: new Date(8.64e15) }]);
  const filledBefore = now.fills[now.step]?.reduce((n, ids) => n + ids.length, 0) ?? 0;
  const filledAfter = after.fills[now.step]?.reduce((n, ids) => n + ids.length, 0) ?? 0;
  if (filledAfter <= filledBefore) {
    return { ok: false, code: 'covered', reason: `the ${roleList(holds)} part is already covered; it still needs ${describeMissing(now.missing)}` };
  }
  const idx = after.fills[now.step]!.findIndex((ids) => ids.includes(voter.userId));
  const role = open.require[idx]!.anyOf.find((r) => voter.roles.includes(r))!;
  return { ok: true, fills: { requirement: idx, role } };
}

export function describeMissing(missing: Evaluation['missing']): string {
  if (missing.length === 0) return 'nothing more';
  return missing.map((m) => `${m.remaining > 1 ? `${m.remaining}× ` : ''}${roleList(m.anyOf)}`).join(' and ');
}

/** "2 of 3 — needs cto" */
export function progressLine(e: Evaluation): string {
  return `${e.approvals} of ${e.required}${e.status === 'pending' ? ` — needs ${describeMissing(e.missing)}` : ''}`;
}

/** Decision-rights bands of PRODUCT.md: <$1K, $1K–$10K, $10K–$50K, >$50K. */
export function amountBand(amount: number | null): 'under_1k' | '1k_10k' | '10k_50k' | 'over_50k' | 'none' {
  if (amount === null) return 'none';
  if (amount < 1_000) return 'under_1k';
  if (amount < 10_000) return '1k_10k';
  if (amount <= 50_000) return '10k_50k';
  return 'over_50k';
}

/** "12500", "12,500", "$12,500.50", "12.5k", "2m"; null for "-"; undefined when malformed. */
export function parseAmount(text: string): number | null | undefined {
  const t = text.trim().toLowerCase();
  if (t === '-') return null;
  const m = /^\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)([km])?$/.exec(t);
  if (!m) return undefined;
  const n = Number(m[1]!.replace(/,/g, '')) * (m[2] === 'k' ? 1_000 : m[2] === 'm' ? 1_000_000 : 1);
  return Number.isFinite(n) ? Math.round(n * 100) / 100 : undefined;
}

export function approvalRef(n: number): string {
  return `APR-${n}`;
}
