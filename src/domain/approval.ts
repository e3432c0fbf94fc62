import type { Role } from './rbac.ts';

/**
 * Approval rules as plain functions: ordered chains of steps, each step a set of role
 * requirements ("count people holding one of anyOf"). No self-approval; no role stacking
 * (one person fills one requirement, across the whole route, however many roles they hold).
 *
 * A step may carry a `quorum` (a change advisory board: seats, of which some number must be
 * filled): it is then satisfied when every requirement marked `required` is met and at least
 * `quorum` requirements in all are met. Without a quorum every requirement is needed.
 *
 * The engine is generic in what an approver is (`R`, Muster's roles by default), so a route may
 * name a pseudo-role that the caller grants per request, such as "the commander of the linked
 * incident" (see `approverRoles` in change.ts).
 */

export interface Requirement<R extends string = Role> {
  anyOf: readonly R[];
  count: number;
  /** For your own reading; in a quorum step, cards name the seat by it ("security (security_lead)"). */
  label?: string;
  /** In a step with a `quorum`: this requirement must be met whatever the quorum. Ignored without one. */
  required?: boolean;
}
export interface Step<R extends string = Role> {
  name?: string;
  require: readonly Requirement<R>[];
  /**
   * How many requirements (seats) must be met, the `required` ones among them. Absent, or at least
   * `require.length`: all of them (the behaviour of a step without a quorum).
   */
  quorum?: number;
}
export interface Route<R extends string = Role> {
  steps: readonly Step<R>[];
}

export type Decision = 'approve' | 'reject';
/**
 * `held`: a deployment outside its windows or inside a freeze, recorded but not sent to its approvers
 * until an exception releases it (then `pending`); nobody votes on it meanwhile.
 */
export type ApprovalStatus = 'held' | 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

export interface Vote<R extends string = Role> {
  userId: string;
  roles: readonly R[];
  decision: Decision;
  at: Date;
  reason?: string;
}

/** One thing the open step still needs. */
export interface Missing<R extends string = Role> {
  requirement: number;
  anyOf: readonly R[];
  remaining: number;
  /** Set in a quorum step: the seat's label, if it has one. */
  label?: string;
  /**
   * Set in a quorum step on the seats it may do without: `choose` more of the entries carrying it
   * must be met (the entries without it must all be met).
   */
  choose?: number;
}

/** Which requirement each approving voter fills, step by step. */
export interface Evaluation<R extends string = Role> {
  status: 'pending' | 'approved' | 'rejected';
  /** Index of the step now open (steps.length when all are satisfied). */
  step: number;
  /** fills[step][requirement] = user ids filling it. */
  fills: string[][][];
  /** What the open step still needs. */
  missing: Missing<R>[];
  approvals: number;
  required: number;
  rejectedBy?: string;
  /** When the open step has a quorum: seats met so far, seats needed, seats in all. */
  seats?: { met: number; quorum: number; total: number };
}

/** A step's effective quorum: every requirement when it has none, and never fewer than its required ones. */
function quorumOf<R extends string>(step: Step<R>): number {
  const n = step.require.length;
  if (step.quorum === undefined || step.quorum >= n) return n;
  const mandatory = step.require.filter((r) => r.required).length;
  return Math.max(step.quorum, mandatory);
}

/** Does this step count seats rather than need every requirement? */
function hasQuorum<R extends string>(step: Step<R>): boolean {
  return quorumOf(step) < step.require.length;
}

/** Approvals the step needs at least: all counts, or for a quorum the required seats plus the smallest others. */
function stepCount<R extends string>(step: Step<R>): number {
  const all = step.require.reduce((m, r) => m + r.count, 0);
  if (!hasQuorum(step)) return all;
  const mandatory = step.require.filter((r) => r.required);
  const others = step.require
    .filter((r) => !r.required)
    .map((r) => r.count)
    .sort((a, b) => a - b)
    .slice(0, quorumOf(step) - mandatory.length);
  return mandatory.reduce((m, r) => m + r.count, 0) + others.reduce((m, c) => m + c, 0);
}

/** The number of approvals a route needs in all (for a quorum step, the fewest that can satisfy it). */
export function requiredCount<R extends string>(route: Route<R>): number {
  return route.steps.reduce((n, s) => n + stepCount(s), 0);
}

type Voter<R extends string> = { userId: string; roles: readonly R[] };

/**
 * Maximum matching of voters to requirement slots (augmenting paths), starting from `owners`
 * (a slot filled there stays filled: augmenting paths only move people between slots). Voters
 * try only the slots for which `open(slot)` holds.
 */
function augment<R extends string>(step: Step<R>, slots: readonly number[], voters: readonly Voter<R>[], owners: (number | undefined)[], open: (slot: number) => boolean): (number | undefined)[] {
  const slotOwner = [...owners];
  const fits = (v: number, slot: number) => open(slot) && step.require[slots[slot]!]!.anyOf.some((role) => voters[v]!.roles.includes(role));
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
  for (let v = 0; v < voters.length; v++) if (!slotOwner.includes(v)) tryAssign(v, new Set());
  return slotOwner;
}

function slotsOf<R extends string>(step: Step<R>): number[] {
  const slots: number[] = [];
  step.require.forEach((r, i) => {
    for (let k = 0; k < r.count; k++) slots.push(i);
  });
  return slots;
}

function fillsFrom<R extends string>(step: Step<R>, slots: readonly number[], owners: readonly (number | undefined)[], voters: readonly Voter<R>[]): string[][] {
  const fills: string[][] = step.require.map(() => []);
  owners.forEach((v, s) => {
    if (v !== undefined) fills[slots[s]!]!.push(voters[v]!.userId);
  });
  return fills;
}

/**
 * Maximum matching of voters to requirement slots of one step (augmenting paths), so
 * that the order of votes never lets a multi-role person block a requirement someone
 * else could only fill.
 */
function matchStep<R extends string>(step: Step<R>, voters: Voter<R>[]): string[][] {
  const slots = slotsOf(step);
  const owners = augment(
    step,
    slots,
    voters,
    slots.map(() => undefined),
    () => true,
  );
  return fillsFrom(step, slots, owners, voters);
}

const bits = (mask: number) => {
  let n = 0;
  for (let m = mask; m; m &= m - 1) n++;
  return n;
};

/**
 * A quorum step counts whole seats, so the matching must fill as many required seats, then as many
 * seats in all, as the voters allow, rather than as many slots. Up to 12 requirements every subset of
 * seats is tried (a CAB has four or five); beyond that, required seats are filled first, then the rest.
 */
function matchQuorumStep<R extends string>(step: Step<R>, voters: Voter<R>[]): string[][] {
  const slots = slotsOf(step);
  const empty = slots.map(() => undefined);
  const n = step.require.length;
  const requiredMask = step.require.reduce((m, r, i) => (r.required ? m | (1 << i) : m), 0);
  let chosen: (number | undefined)[];
  if (n <= 12) {
    let best = { mask: 0, owners: empty as (number | undefined)[], req: -1, all: -1 };
    for (let mask = 0; mask < 1 << n; mask++) {
      const req = bits(mask & requiredMask);
      const all = bits(mask);
      if (req < best.req || (req === best.req && all <= best.all)) continue;
      const inMask = (s: number) => (mask & (1 << slots[s]!)) !== 0;
      const owners = augment(step, slots, voters, empty, inMask);
      if (slots.every((_, s) => !inMask(s) || owners[s] !== undefined)) best = { mask, owners, req, all };
    }
    chosen = best.owners;
  } else {
    chosen = augment(step, slots, voters, empty, (s) => (requiredMask & (1 << slots[s]!)) !== 0);
  }
  // The people left over go to whatever seat still has room, so partial seats show on the card.
  const owners = augment(step, slots, voters, chosen, () => true);
  return fillsFrom(step, slots, owners, voters);
}

const metSeats = <R extends string>(step: Step<R>, fills: string[][]) => step.require.filter((r, i) => (fills[i]?.length ?? 0) >= r.count);

function stepSatisfied<R extends string>(step: Step<R>, fills: string[][]): boolean {
  if (!hasQuorum(step)) return step.require.every((r, i) => (fills[i]?.length ?? 0) >= r.count);
  const met = metSeats(step, fills);
  return step.require.every((r, i) => !r.required || (fills[i]?.length ?? 0) >= r.count) && met.length >= quorumOf(step);
}

/**
 * The fewest more approvals that would satisfy the step: every open slot, or for a quorum step the
 * open slots of its required seats plus the cheapest of the other seats it still needs. A vote counts
 * only if it lowers this, so nobody fills a seat the step no longer needs.
 */
function deficit<R extends string>(step: Step<R>, fills: string[][]): number {
  const open = (i: number) => Math.max(0, step.require[i]!.count - (fills[i]?.length ?? 0));
  if (!hasQuorum(step)) return step.require.reduce((n, _, i) => n + open(i), 0);
  const mandatory = step.require.map((r, i) => (r.required ? open(i) : 0));
  const unmetMandatory = mandatory.filter((n) => n > 0).length;
  const choose = quorumOf(step) - metSeats(step, fills).length - unmetMandatory;
  const others = step.require
    .map((r, i) => (r.required ? 0 : open(i)))
    .filter((n) => n > 0)
    .sort((a, b) => a - b)
    .slice(0, Math.max(0, choose));
  return [...mandatory, ...others].reduce((n, m) => n + m, 0);
}

/** What a step still needs, given its fills. */
function missingOf<R extends string>(step: Step<R>, fills: string[][]): Missing<R>[] {
  const entries = step.require.map((r, i) => ({ requirement: i, anyOf: r.anyOf, remaining: r.count - (fills[i]?.length ?? 0) })).filter((m) => m.remaining > 0);
  if (!hasQuorum(step)) return entries;
  const label = (i: number) => step.require[i]!.label;
  const withLabel = (m: Missing<R>): Missing<R> => (label(m.requirement) ? { ...m, label: label(m.requirement)! } : m);
  const mandatory = entries.filter((m) => step.require[m.requirement]!.required);
  const choose = quorumOf(step) - metSeats(step, fills).length - mandatory.length;
  const optional = choose > 0 ? entries.filter((m) => !step.require[m.requirement]!.required).map((m) => ({ ...withLabel(m), choose })) : [];
  return [...mandatory.map(withLabel), ...optional];
}

/** Walks the route with the approving votes in time order. */
export function evaluate<R extends string = Role>(route: Route<R>, votes: readonly Vote<R>[]): Evaluation<R> {
  const ordered = [...votes].sort((a, b) => a.at.getTime() - b.at.getTime());
  const rejection = ordered.find((v) => v.decision === 'reject');
  const used = new Set<string>();
  const fills: string[][][] = [];
  let step = 0;
  let approvals = 0;
  for (; step < route.steps.length; step++) {
    const s = route.steps[step]!;
    const candidates = ordered.filter((v) => v.decision === 'approve' && !used.has(v.userId));
    const f = hasQuorum(s) ? matchQuorumStep(s, candidates) : matchStep(s, candidates);
    fills.push(f);
    for (const ids of f) for (const id of ids) used.add(id);
    approvals += f.reduce((n, ids) => n + ids.length, 0);
    if (!stepSatisfied(s, f)) break;
  }
  const open = route.steps[step];
  const missing = open ? missingOf(open, fills[step] ?? []) : [];
  const required = requiredCount(route);
  const seats = open && hasQuorum(open) ? { seats: { met: metSeats(open, fills[step] ?? []).length, quorum: quorumOf(open), total: open.require.length } } : {};
  if (rejection) return { status: 'rejected', step, fills, missing, approvals, required, rejectedBy: rejection.userId, ...seats };
  return { status: step >= route.steps.length ? 'approved' : 'pending', step, fills, missing, approvals, required, ...seats };
}

export type VoteCheck<R extends string = Role> =
  | { ok: true; fills?: { requirement: number; role: R } }
  | { ok: false; code: 'self' | 'already_voted' | 'not_eligible' | 'covered' | 'decided'; reason: string };

const roleList = (roles: readonly string[]) => roles.join(' or ');
const seatName = (label: string | undefined, roles: readonly string[]) => (label ? `${label} (${roles.join(', ')})` : roleList(roles));

/** "this step needs …": every requirement, or for a quorum step its seats by name. */
function stepNeeds<R extends string>(step: Step<R>): string {
  if (!hasQuorum(step)) return `this step needs ${step.require.map((r) => roleList(r.anyOf)).join(' and ')}`;
  return `its seats are ${step.require.map((r) => seatName(r.label, r.anyOf)).join(', ')} (${quorumOf(step)} of ${step.require.length} needed)`;
}

/**
 * May this person cast this vote now? Approving must fill a requirement of the open
 * step that the votes so far leave open; rejecting needs a role of the open step.
 */
export function checkVote<R extends string = Role>(
  route: Route<R>,
  state: { status: ApprovalStatus; requesterId: string },
  votes: readonly Vote<R>[],
  voter: { userId: string; roles: readonly R[] },
  decision: Decision,
): VoteCheck<R> {
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
    return { ok: false, code: 'not_eligible', reason: `${stepNeeds(open)}, and you hold none of those roles` };
  }
  if (decision === 'reject') return { ok: true };
  const after = evaluate(route, [...votes, { ...voter, decision: 'approve', at: new Date(8.64e15) }]);
  if (deficit(open, after.fills[now.step] ?? []) >= deficit(open, now.fills[now.step] ?? [])) {
    if (hasQuorum(open)) {
      const mine = open.require.filter((r) => r.anyOf.some((role) => voter.roles.includes(role))).map((r) => r.label ?? roleList(r.anyOf));
      return { ok: false, code: 'covered', reason: `the ${alternatives(mine)} seat is filled or no longer needed; it still needs ${describeMissing(now.missing)}` };
    }
    return { ok: false, code: 'covered', reason: `the ${roleList(holds)} part is already covered; it still needs ${describeMissing(now.missing)}` };
  }
  const idx = after.fills[now.step]!.findIndex((ids) => ids.includes(voter.userId));
  if (idx < 0) return { ok: false, code: 'covered', reason: `the ${roleList(holds)} part is already covered; it still needs ${describeMissing(now.missing)}` };
  const role = open.require[idx]!.anyOf.find((r) => voter.roles.includes(r))!;
  return { ok: true, fills: { requirement: idx, role } };
}

/** Joins alternatives: "a", "a or b", "a, b or c". */
const alternatives = (items: readonly string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`);

/**
 * What is still needed, in words: "cto and security_lead or tech_lead"; for a quorum step, with seat
 * names: "change manager (release_manager) and one of security (security_lead) or business (product_owner)".
 */
export function describeMissing<R extends string>(missing: readonly Missing<R>[]): string {
  if (missing.length === 0) return 'nothing more';
  const one = (m: Missing<R>) => `${m.remaining > 1 ? `${m.remaining}× ` : ''}${m.label ? seatName(m.label, m.anyOf) : roleList(m.anyOf)}`;
  const all = missing.filter((m) => m.choose === undefined).map(one);
  const optional = missing.filter((m) => m.choose !== undefined);
  const choose = optional[0]?.choose ?? 0;
  if (optional.length === 0) return all.join(' and ');
  const pick = choose >= optional.length ? optional.map(one).join(' and ') : choose === 1 ? alternatives(optional.map(one)) : `${choose} of ${alternatives(optional.map(one))}`;
  if (all.length === 0) return pick;
  return `${all.join(' and ')}, and ${choose === 1 && optional.length > 1 ? 'one of ' : ''}${pick}`;
}

/** "2 of 3 — needs cto"; for a quorum step, in seats: "2 of 3 seats — needs security (security_lead) or business (product_owner)". */
export function progressLine<R extends string>(e: Evaluation<R>): string {
  if (e.status === 'pending' && e.seats) {
    const { met, quorum } = e.seats;
    return `${met} of ${quorum} seats${met >= quorum ? ', but not the required ones' : ''} — needs ${describeMissing(e.missing)}`;
  }
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
