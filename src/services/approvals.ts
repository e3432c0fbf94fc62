import { randomUUID } from 'node:crypto';
import type { ApprovalRoute, Severity } from '../config/policy.ts';
import { amountBand, approvalRef, checkVote, describeMissing, evaluate, progressLine, type ApprovalStatus, type Decision, type Evaluation, type Route, type Vote } from '../domain/approval.ts';
import { exceptionRoute } from '../domain/change.ts';
import { incidentRef, isActive } from '../domain/incident.ts';
import { hasPermission, isRole, type Role } from '../domain/rbac.ts';
import { checkSchedule, isCritical, type LinkedIncident, type RuntimeFreeze } from '../domain/windows.ts';
import { formatDuration } from '../domain/duration.ts';
import { asBool, asDate, asDateOrNull, marks, sqlOf, type Tx } from '../store/db.ts';
import { grantsOfAccountsSql, holderGrantsSql, nextNumber, userIdOf } from '../store/identity.ts';
import { ref, type EffectSpec } from '../store/outbox.ts';
import type { SurfaceRef } from '../platforms/effects.ts';
import type { TimerRow } from '../store/timers.ts';
import { Refusal, UsageError } from './errors.ts';
import { externalOf } from './incidentViews.ts';
import type { Kernel, Unit } from './kernel.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';
import { code, decodeNullable, decodeText, em, emoji, encodeText, joinText, mention, mentionList, plainText, rt, strong, time, type Text } from '../domain/text.ts';

type RequestRow = NonNullable<Awaited<ReturnType<Tx['approvalRequest']['findUnique']>>>;

/**
 * A request by id in one raw statement: the row Prisma's model API would give, from either database's driver types.
 * (A vote reads its request with requestForVote, a card's redraw with versionOf.)
 */
async function requestById(tx: Tx, id: string): Promise<RequestRow | null> {
  const [r] = await sqlOf(tx).all<Record<string, unknown>>('SELECT * FROM approval_requests WHERE id = ?', id);
  return r ? requestRowOf(r) : null;
}

/**
 * The request a vote is cast on, locked on PostgreSQL (SQLite writes are serial), with the persons of its requester and
 * of the voter (`/muster link`: null when the account is linked to none), in one statement.
 */
async function requestForVote(tx: Tx, id: string, voterId: string, forUpdate: boolean): Promise<{ row: RequestRow; requesterPerson: string | null; actorPerson: string | null } | null> {
  const [r] = await sqlOf(tx).all<Record<string, unknown>>(
    `SELECT r.*, (SELECT q.person_id FROM users q WHERE q.id = r.requester_id) AS requester_person, (SELECT a.person_id FROM users a WHERE a.id = ?) AS voter_person
       FROM approval_requests r WHERE r.id = ?${forUpdate ? ' FOR UPDATE OF r' : ''}`,
    voterId,
    id,
  );
  if (!r) return null;
  return { row: requestRowOf(r), requesterPerson: (r.requester_person as string | null) ?? null, actorPerson: (r.voter_person as string | null) ?? null };
}

/** A raw `approval_requests` row (`SELECT *`) as a RequestRow. */
function requestRowOf(r: Record<string, unknown>): RequestRow {
  const s = (k: string) => (r[k] ?? null) as string | null;
  const num = (k: string) => (r[k] === null || r[k] === undefined ? null : Number(r[k]));
  return {
    id: r.id as string,
    workspaceId: r.workspace_id as string,
    number: Number(r.number),
    kind: r.kind as string,
    title: r.title as string,
    environment: s('environment'),
    component: s('component'),
    version: s('version'),
    reason: s('reason'),
    decisionType: s('decision_type'),
    category: s('category'),
    amount: num('amount'),
    band: s('band'),
    route: r.route as string,
    requesterId: r.requester_id as string,
    channelId: s('channel_id'),
    status: r.status as string,
    decidedAt: asDateOrNull(r.decided_at),
    decidedBy: s('decided_by'),
    rejectReason: s('reject_reason'),
    breakGlass: asBool(r.break_glass),
    breakGlassReason: s('break_glass_reason'),
    reviewStatus: s('review_status'),
    reviewedBy: s('reviewed_by'),
    reviewedAt: asDateOrNull(r.reviewed_at),
    expiresAt: asDate(r.expires_at),
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
    subjectType: s('subject_type'),
    subjectId: s('subject_id'),
    holdReason: s('hold_reason'),
    flags: r.flags as string,
  };
}
/** A vote as stored: the step it counted for and the role it filled, and the voter's person when linked (`/muster link`). */
type StoredVote = Vote & { step: number; role: string | null; person: string | null };

/** An approval as cards and replies show it. */
export interface ApprovalView {
  id: string;
  ref: string;
  kind: 'deploy' | 'decision' | 'change' | 'exception';
  title: Text;
  requester: string;
  status: ApprovalStatus;
  reason: Text | null;
  rejectReason: Text | null;
  rejectedBy?: string;
  breakGlass: boolean;
  breakGlassReason: Text | null;
  reviewStatus: string | null;
  reviewedBy?: string;
  decidedBy?: string;
  expiresAt: Date;
  createdAt: Date;
  decidedAt: Date | null;
  progress: string;
  approvals: number;
  required: number;
  /** Approvers who may still act (platform ids), for mentions. */
  eligible: string[];
  votes: { user: string; decision: Decision; at: Date; role: string | null; step: number; reason: Text | null }[];
  details: [string, string][];
  /** Shown on the card and kept in the audit trail: `exception:APR-n`, `break_glass`, `critical_window`, `in_freeze`. */
  flags: string[];
  /** Why a deployment is (or was) held by a window or a freeze, and the exception asked for it; null if it never was. */
  hold: HoldView | null;
  /** "Ask for an exception" applies now: it is held, and no exception is waiting. */
  canAskException: boolean;
}

/** A deployment held by a window or a freeze (status `held`), or released from one. */
export interface HoldView {
  /** Every rule it breaks, in words. */
  problems: string[];
  /** The next slot of a deployment's length that breaks none (null: none in the next 60 days). */
  nextOpen: { start: Date; end: Date } | null;
  /** When an approved exception released it to its approvers. */
  releasedAt: Date | null;
  /** The latest exception asked for it. */
  exception: { id: string; ref: string; status: ApprovalStatus; progress: string } | null;
}

/** `holdReason` as stored (JSON). */
interface StoredHold {
  problems: string[];
  nextOpen: { start: string; end: string } | null;
  releasedAt?: string;
  exception?: string;
}

function readHold(s: string | null): StoredHold | null {
  if (!s) return null;
  try {
    const v = JSON.parse(s) as StoredHold;
    return Array.isArray(v.problems) ? v : null;
  } catch {
    // A plain-text reason.
    return { problems: [s], nextOpen: null };
  }
}

function readFlags(s: string | null | undefined): string[] {
  try {
    const v = JSON.parse(s ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** A held request in one line: why, the next open slot, and where its exception stands. */
function holdLine(v: { hold: HoldView | null; canAskException: boolean }): Text {
  const h = v.hold;
  if (!h) return 'held';
  const next: Text = h.nextOpen ? rt`next open slot ${time(h.nextOpen.start)}–${time(h.nextOpen.end, 'time')}` : 'no open slot in the next 60 days';
  const exc: Text = h.exception?.status === 'pending' ? ` · exception ${h.exception.ref} asked (${h.exception.progress})` : v.canAskException ? ' · Ask for an exception on its card' : '';
  return rt`held — ${h.problems.join('; ')} · ${next}${exc}`;
}

/** `INC-n` named in a deployment's reason. */
const INCIDENT_REF = /\bINC-([1-9]\d{0,8})\b/gi;

export interface DeployInput {
  environment: string;
  component: string;
  version: string;
  reason?: Text;
}
export interface DecisionInput {
  type: 'financial' | 'technical' | 'business';
  category: string;
  amount: number | null;
  title: Text;
}

/**
 * What a request decides when it is not a request of its own (`subject_type`/`subject_id`): a change's
 * CAB or emergency round, an exception to a window. The subject's service registers these for its kind;
 * each runs inside the transaction of the vote or decision that triggers it.
 */
export interface SubjectHooks {
  /**
   * Approver roles people hold for this request only (e.g. `incident_commander` of the linked incident): read once
   * per request, then asked for each voter or candidate.
   */
  extraRoles?(tx: Tx, row: RequestRow): Promise<(userId: string) => string[]>;
  /** People (internal user ids) who may approve besides role holders (e.g. that commander). */
  extraEligible?(tx: Tx, row: RequestRow): Promise<string[]>;
  /** What approvers get by DM instead of the approval card (the subject's own card); undefined: the approval card. */
  dmSurface?(row: RequestRow): SurfaceRef | undefined;
  /** Reminders and escalation while it waits (default: the deployment path). */
  escalation?(row: RequestRow): { notify: Role | 'approvers'; after: number }[];
  /** After every vote that did not decide it. */
  voted?(u: Unit, row: RequestRow): Promise<void>;
  /** Once decided (approved, rejected, expired or cancelled), in the same transaction. */
  decided?(u: Unit, row: RequestRow, status: 'approved' | 'rejected' | 'expired' | 'cancelled', actor: Actor, reason?: Text): Promise<void>;
}

/** A round opened by another service for its subject (see `ApprovalService.openRound`). */
export interface RoundInput {
  kind: string;
  subjectType: string;
  subjectId: string;
  title: Text;
  route: Route<string>;
  ttl: number;
  reason?: Text | null;
  environment?: string;
  channelId?: string | null;
  /** Post the approval card where the subject was asked for (an exception); otherwise only DMs. */
  postCard: boolean;
  flags?: string[];
}

export type ApprovalRow = RequestRow;

export const timerKeysApproval = {
  expire: (id: string) => `approval:${id}:expire`,
  escalate: (id: string) => `approval:${id}:escalate`,
};

/**
 * Approvals through buttons. A request freezes its route at creation; each vote locks the
 * request row, so concurrent clicks serialise and exactly one of them decides it.
 *
 * A deployment is checked against the windows and freezes of change control (as a normal change,
 * for `changes.deployLength` from now): one that breaks a rule is recorded `held`, asks nobody, and
 * waits for an exception (a round of kind `exception` whose subject is the held request), break-glass,
 * or its cancellation.
 */
export class ApprovalService {
  /** Hooks by `kind`, or by `kind/subjectType` where one kind decides several subjects (an exception). */
  private readonly subjects = new Map<string, SubjectHooks>();

  constructor(private readonly k: Kernel) {
    this.registerSubject(
      'exception',
      {
        voted: async (u, row) => this.onExceptionVoted(u, row),
        decided: async (u, row, status, actor, reason) => this.onExceptionDecided(u, row, status, actor, reason),
      },
      'approval',
    );
  }

  /**
   * The hooks of requests of `kind` that decide another record (see SubjectHooks). With `subjectType`
   * they apply to that subject only, before any registered for the kind alone (a change's exception and
   * a deployment's are both of kind `exception`).
   */
  registerSubject(kind: string, hooks: SubjectHooks, subjectType?: string): void {
    this.subjects.set(subjectType ? `${kind}/${subjectType}` : kind, hooks);
  }

  private hooksOf(row: { kind: string; subjectType: string | null }): SubjectHooks | undefined {
    return (row.subjectType ? this.subjects.get(`${row.kind}/${row.subjectType}`) : undefined) ?? this.subjects.get(row.kind);
  }

  private get policy() {
    return this.k.policy;
  }

  // ------------------------------------------------------------ routing

  routeForDeploy(input: DeployInput): ApprovalRoute {
    const d = this.policy.approvals.deployment;
    const envs = Object.keys(d.environments);
    const route = d.environments[input.environment];
    if (!route) throw new UsageError(`Unknown environment "${input.environment}": the policy knows ${envs.join(', ')}.`, '/approval deploy <environment> <component> <version> [reason]');
    if (d.components && !d.components.includes(input.component)) {
      throw new UsageError(`Unknown component "${input.component}": the policy knows ${d.components.join(', ')}.`, '/approval deploy <environment> <component> <version> [reason]');
    }
    return d.overrides[input.component]?.[input.environment] ?? route;
  }

  routeForDecision(input: DecisionInput): { route: ApprovalRoute; band: string } {
    const byType = this.policy.approvals.decisionRights[input.type];
    const byCategory = byType?.[input.category as keyof typeof byType];
    if (!byCategory) throw new UsageError(`No decision rights for ${input.type} ${input.category} in the policy.`, '/approval request <financial|technical|business> <category> <amount|-> <title>');
    const band = amountBand(input.amount);
    const route = byCategory[band] ?? byCategory.none;
    if (!route) {
      const bands = Object.keys(byCategory).join(', ');
      throw new UsageError(
        input.amount === null
          ? `A ${input.type} ${input.category} request needs an amount (the policy routes by ${bands}).`
          : `No route for ${input.type} ${input.category} in band ${band} (the policy has ${bands}).`,
        '/approval request <financial|technical|business> <category> <amount|-> <title>',
      );
    }
    return { route, band };
  }

  // ------------------------------------------------------------ windows and freezes

  /**
   * A deployment checked as a normal change running from now for `changes.deployLength`: critical when
   * its reason names (`INC-n`) an open incident of a critical severity, which it is taken to fix.
   */
  private async checkDeploy(
    tx: Tx,
    workspaceId: string,
    environment: string,
    reason: Text | null,
    now: Date,
  ): Promise<{ ok: true; critical: boolean; flags: string[] } | { ok: false; critical: boolean; problems: string[]; nextOpen: { start: Date; end: Date } | null }> {
    const incidents: LinkedIncident[] = [];
    for (const m of (reason ? plainText(reason) : '').matchAll(INCIDENT_REF)) {
      const inc = await tx.incident.findUnique({ where: { workspaceId_number: { workspaceId, number: Number(m[1]) } }, select: { number: true, severity: true, status: true } });
      if (inc) incidents.push({ ref: incidentRef(inc.number), severity: inc.severity as Severity, open: isActive(inc.status), relation: 'fixes' });
    }
    const critical = isCritical({ type: 'normal', incidents }, this.policy).critical;
    const freezes = await this.runtimeFreezes(tx, workspaceId, now);
    const end = new Date(now.getTime() + this.policy.changes.deployLength);
    const r = checkSchedule({ start: now, end, environment, type: 'normal', critical, policy: this.policy, freezes, now });
    if (r.ok) return { ok: true, critical, flags: [...(r.flags.criticalWindow ? ['critical_window'] : []), ...(r.flags.inFreeze ? ['in_freeze'] : [])] };
    return { ok: false, critical, problems: r.problems.map((p) => p.message), nextOpen: r.nextOpen };
  }

  /** The freezes set with `/change freeze` that are not over (as ChangeService reads them). */
  private async runtimeFreezes(tx: Tx, workspaceId: string, now: Date): Promise<RuntimeFreeze[]> {
    const rows = await tx.changeFreeze.findMany({ where: { workspaceId, liftedAt: null, endsAt: { gt: now } } });
    return rows.map((f) => ({ environment: f.environment, start: f.startsAt, end: f.endsAt, reason: f.reason }));
  }

  // ------------------------------------------------------------ reading

  private async load(tx: Tx, actor: Actor, refText: string): Promise<RequestRow> {
    const n = Number(refText.replace(/^APR-/i, ''));
    const row = await tx.approvalRequest.findUnique({ where: { workspaceId_number: { workspaceId: actor.workspaceId, number: n } } });
    if (!row) throw new Refusal(`${refText.toUpperCase()} does not exist.`);
    return row;
  }

  /** Locks the request row for the rest of the transaction (PostgreSQL; SQLite writes are serial). */
  private async lock(tx: Tx, id: string): Promise<void> {
    if (this.k.db.provider === 'postgresql') await sqlOf(tx).run('SELECT 1 FROM approval_requests WHERE id = ? FOR UPDATE', id);
  }

  private async votesOf(tx: Tx, requestId: string): Promise<StoredVote[]> {
    return (await this.votesOfMany(tx, [requestId])).get(requestId) ?? [];
  }

  /** The votes of several requests in one query, each request's in the order they were cast. */
  private async votesOfMany(tx: Tx, requestIds: string[]): Promise<Map<string, StoredVote[]>> {
    const out = new Map<string, StoredVote[]>();
    if (requestIds.length === 0) return out;
    // Raw (every click and every card drawn reads votes): one statement, the driver's types.
    const rows = await sqlOf(tx).all<{
      request_id: string;
      user_id: string;
      decision: string;
      reason: string | null;
      step: number | bigint;
      role: string | null;
      roles: string;
      created_at: unknown;
      person_id: string | null;
    }>(
      `SELECT v.request_id, v.user_id, v.decision, v.reason, v.step, v.role, v.roles, v.created_at, u.person_id FROM approval_votes v
         LEFT JOIN users u ON u.id = v.user_id WHERE v.request_id IN (${marks(requestIds)})
        ORDER BY v.created_at, v.id`,
      ...requestIds,
    );
    for (const r of rows) {
      const list = out.get(r.request_id) ?? [];
      list.push({
        userId: r.user_id,
        decision: r.decision as Decision,
        at: asDate(r.created_at),
        reason: r.reason ?? undefined,
        // The roles held when voting are kept, so later grant changes never rewrite history.
        roles: (JSON.parse(r.roles) as string[]).filter((x): x is Role => isRole(x) || x === 'incident_commander'),
        step: Number(r.step),
        role: r.role,
        person: r.person_id,
      });
      out.set(r.request_id, list);
    }
    return out;
  }

  /** Platform ids of people who could still move the open step forward. */
  private async eligible(tx: Tx, row: RequestRow, ev: Evaluation, votes: Vote[]): Promise<string[]> {
    return (await this.eligibleMany(tx, [{ row, ev, votes }]))[0]!;
  }

  /**
   * eligible() for several requests with one or two queries in all, whatever the number of requests: every grant of
   * everyone holding a role still missing, then the roles of the other candidates if there are any (admins, a subject's
   * own); a subject's hooks (a change's commander) add theirs.
   */
  private async eligibleMany(tx: Tx, items: { row: RequestRow; ev: Evaluation; votes: Vote[] }[]): Promise<string[][]> {
    const missingRoles = items.map(({ row, ev }) => (row.status === 'pending' ? [...new Set(ev.missing.flatMap((m) => m.anyOf))] : []));
    const wanted = [...new Set(missingRoles.flat())];
    if (wanted.length === 0) return items.map(() => []);
    const workspaces = [...new Set(items.filter((_, i) => missingRoles[i]!.length > 0).map(({ row }) => row.workspaceId))];
    const byRole = new Map<string, string[]>();
    const sql = sqlOf(tx);
    // Raw, like the votes: every card drawn asks. Every grant of everyone holding a role still missing, in one query:
    // the holders are the candidates, and their other roles may fill a part too (`held` below).
    const grants = await sql.all<{ workspace_id: string; user_id: string; role: string }>(holderGrantsSql(workspaces.length, wanted.length), ...workspaces, ...workspaces, ...wanted);
    const wantedSet = new Set<string>(wanted);
    const held = new Map<string, Role[]>();
    for (const g of grants) {
      if (isRole(g.role)) held.set(g.user_id, [...(held.get(g.user_id) ?? []), g.role]);
      if (!wantedSet.has(g.role)) continue;
      const key = `${g.workspace_id}\u0000${g.role}`;
      byRole.set(key, [...(byRole.get(key) ?? []), g.user_id]);
    }
    const candidates: Set<string>[] = [];
    for (const [i, { row, votes }] of items.entries()) {
      const roles = missingRoles[i]!;
      const ids = new Set<string>();
      for (const role of roles) for (const id of byRole.get(`${row.workspaceId}\u0000${role}`) ?? []) ids.add(id);
      if (roles.includes('admin')) for (const a of this.k.deps.admins) ids.add(userIdOf(row.workspaceId, a));
      if (roles.length > 0) for (const id of (await this.hooksOf(row)?.extraEligible?.(tx, row)) ?? []) ids.add(id);
      const voted = new Set(votes.map((v) => v.userId));
      for (const id of [...ids]) if (id === row.requesterId || voted.has(id)) ids.delete(id);
      candidates.push(ids);
    }
    // All roles of the other candidates (admins from MUSTER_ADMINS, a subject's own: they may hold no role still
    // missing) in one query more: a person may fill a part through another role.
    const others = [...new Set(candidates.flatMap((ids) => [...ids]))].filter((id) => !held.has(id));
    if (others.length > 0) {
      for (const g of await sql.all<{ user_id: string; role: string }>(grantsOfAccountsSql(others.length), ...others)) {
        if (isRole(g.role)) held.set(g.user_id, [...(held.get(g.user_id) ?? []), g.role]);
      }
    }
    const out: string[][] = [];
    for (const [i, { row, votes }] of items.entries()) {
      const admins = new Set(this.k.deps.admins.map((a) => userIdOf(row.workspaceId, a)));
      const route = JSON.parse(row.route) as Route;
      const extraOf = candidates[i]!.size > 0 ? await this.hooksOf(row)?.extraRoles?.(tx, row) : undefined;
      const list: string[] = [];
      for (const id of candidates[i]!) {
        const extra = (extraOf?.(id) ?? []) as Role[];
        const roles = admins.has(id) ? [...new Set([...(held.get(id) ?? []), 'admin' as Role])] : (held.get(id) ?? []);
        const c = checkVote(route, { status: 'pending', requesterId: row.requesterId }, votes, { userId: id, roles: [...roles, ...extra] }, 'approve');
        if (c.ok) list.push(externalOf(id));
      }
      out.push(list.sort());
    }
    return out;
  }

  async view(tx: Tx, row: RequestRow): Promise<ApprovalView> {
    return (await this.views(tx, [row]))[0]!;
  }

  /**
   * The views of several requests: their votes and who may still approve them take three queries in all, however
   * many requests (a list used to cost three per request); a held request's hold and an exception's subject add one each.
   */
  async views(tx: Tx, rows: RequestRow[]): Promise<ApprovalView[]> {
    const votesBy = await this.votesOfMany(
      tx,
      rows.map((r) => r.id),
    );
    const items = rows.map((row) => {
      const votes = votesBy.get(row.id) ?? [];
      return { row, votes, ev: evaluate(JSON.parse(row.route) as Route, votes) };
    });
    const eligibleBy = await this.eligibleMany(tx, items);
    const out: ApprovalView[] = [];
    for (const [i, { row, votes, ev }] of items.entries()) {
      const hold = await this.holdOf(tx, row);
      const subject = row.subjectType === 'approval' && row.subjectId ? await tx.approvalRequest.findUnique({ where: { id: row.subjectId }, select: { number: true } }) : null;
      const eligible = eligibleBy[i]!;
      out.push(this.viewOf(row, votes, ev, hold, subject, eligible));
    }
    return out;
  }

  private viewOf(row: RequestRow, votes: StoredVote[], ev: Evaluation, hold: HoldView | null, subject: { number: number } | null, eligible: string[]): ApprovalView {
    const details: [string, string][] =
      row.kind === 'exception' || row.kind === 'change'
        ? [
            ['For', row.subjectType === 'change' ? 'a change request' : subject ? `the deployment ${approvalRef(subject.number)}` : 'a deployment'],
            ...(row.environment ? ([['Environment', row.environment]] as [string, string][]) : []),
          ]
        : row.kind === 'deploy'
          ? [
              ['Environment', row.environment ?? ''],
              ['Component', row.component ?? ''],
              ['Version', row.version ?? ''],
            ]
          : [
              ['Type', row.decisionType ?? ''],
              ['Category', row.category ?? ''],
              ['Amount', row.amount === null ? '—' : `$${row.amount.toLocaleString('en-US')}`],
            ];
    return {
      id: row.id,
      ref: approvalRef(row.number),
      kind: row.kind as ApprovalView['kind'],
      title: decodeText(row.title),
      requester: externalOf(row.requesterId),
      status: row.status as ApprovalStatus,
      reason: decodeNullable(row.reason),
      rejectReason: decodeNullable(row.rejectReason),
      rejectedBy: ev.rejectedBy ? externalOf(ev.rejectedBy) : undefined,
      breakGlass: row.breakGlass,
      breakGlassReason: decodeNullable(row.breakGlassReason),
      reviewStatus: row.reviewStatus,
      reviewedBy: row.reviewedBy ? externalOf(row.reviewedBy) : undefined,
      decidedBy: row.decidedBy && row.decidedBy !== 'system' ? externalOf(row.decidedBy) : undefined,
      expiresAt: row.expiresAt,
      createdAt: row.createdAt,
      decidedAt: row.decidedAt,
      progress: progressLine(ev),
      approvals: ev.approvals,
      required: ev.required,
      eligible,
      votes: votes.map((v) => ({ user: externalOf(v.userId), decision: v.decision, at: v.at, role: v.role, step: v.step, reason: v.reason === undefined ? null : decodeText(v.reason) })),
      details,
      flags: readFlags(row.flags),
      hold,
      canAskException: row.status === 'held' && hold?.exception?.status !== 'pending',
    };
  }

  /** A held (or released) deployment's hold, with the latest exception asked for it. */
  private async holdOf(tx: Tx, row: RequestRow): Promise<HoldView | null> {
    const stored = readHold(row.holdReason);
    if (!stored) return null;
    const exc = await this.exceptionOf(tx, row.id);
    let exception: HoldView['exception'] = null;
    if (exc) {
      const votes = await this.votesOf(tx, exc.id);
      exception = { id: exc.id, ref: approvalRef(exc.number), status: exc.status as ApprovalStatus, progress: progressLine(evaluate(JSON.parse(exc.route) as Route, votes)) };
    }
    return {
      problems: stored.problems,
      nextOpen: stored.nextOpen ? { start: new Date(stored.nextOpen.start), end: new Date(stored.nextOpen.end) } : null,
      releasedAt: stored.releasedAt ? new Date(stored.releasedAt) : null,
      exception,
    };
  }

  /** The latest exception round asked for a held request. */
  private exceptionOf(tx: Tx, requestId: string) {
    return tx.approvalRequest.findFirst({ where: { kind: 'exception', subjectType: 'approval', subjectId: requestId }, orderBy: [{ createdAt: 'desc' }, { number: 'desc' }] });
  }

  /**
   * A request as it is now and its version, in one committed read outside any transaction: what every redraw of a
   * card copy asks first (surfaces.ts). The version (last change, status, review, number of votes: votes can land
   * within one millisecond) tells whether a drawing already made shows it; the row is what a new drawing starts from,
   * so the drawing is of that very version and needs no read of the request of its own.
   */
  async versionOf(id: string): Promise<{ row: RequestRow; version: string } | null> {
    const [r] = await this.k.db.query<Record<string, unknown>>(
      'SELECT r.*, (SELECT count(*) FROM approval_votes v WHERE v.request_id = r.id) AS vote_count FROM approval_requests r WHERE r.id = ?',
      id,
    );
    if (!r) return null;
    const row = requestRowOf(r);
    return { row, version: `${row.updatedAt.getTime()}:${row.status}:${row.reviewStatus}:${Number(r.vote_count)}` };
  }

  /** The view of a request read with versionOf (its votes and who may still approve, read now). */
  async viewOfRow(row: RequestRow): Promise<ApprovalView> {
    return this.k.db.read((tx) => this.view(tx, row));
  }

  async viewById(id: string): Promise<ApprovalView | null> {
    return this.k.db.read(async (tx) => {
      const row = await requestById(tx, id);
      return row ? this.view(tx, row) : null;
    });
  }

  // ------------------------------------------------------------ cards

  private async refreshCards(u: Unit, row: RequestRow): Promise<void> {
    // With each copy's posted result (channel and ts), which the kernel needs to find the copy that was clicked.
    const cards = (
      await sqlOf(u.tx).all<{ effect_id: number | bigint; place: string; result: string | null }>(
        'SELECT c.effect_id, c.place, o.result FROM approval_cards c LEFT JOIN outbox o ON o.id = c.effect_id WHERE c.request_id = ? ORDER BY c.id',
        row.id,
      )
    ).map((c) => ({
      effectId: Number(c.effect_id),
      place: c.place,
      result: c.result ?? null,
    }));
    for (const c of cards) {
      const surface: SurfaceRef | undefined =
        c.place === 'review' ? { kind: 'approval.review', requestId: row.id } : c.place === 'subject-dm' ? this.hooksOf(row)?.dmSurface?.(row) : { kind: 'approval.card', requestId: row.id };
      if (!surface) continue;
      // Redraws of one copy coalesce (as incident cards do): a burst of votes used to queue one chat.update per copy
      // per vote, each sent even when a newer one already showed the same state. The one that runs renders the newest.
      // An approver's DM is seen by one person, a channel's copy by many: the DMs are redrawn in the background.
      const personal = c.place === 'dm' || c.place === 'subject-dm';
      u.effects({
        op: 'updateMessage',
        after: c.effectId,
        afterResult: c.result,
        coalesce: `card:${c.effectId}`,
        args: { channel: ref(c.effectId, 'channel'), ts: ref(c.effectId, 'ts'), surface, ...(personal ? { background: true } : {}) },
      });
    }
  }

  /** Posts the card where it was asked (and, unless `shared: false`, the approvals channel), and DMs each eligible approver. */
  private async postCards(u: Unit, row: RequestRow, places: { channelId?: string; shared?: boolean }, dmTo: string[]): Promise<void> {
    const posts: { place: string; userId?: string; spec: EffectSpec }[] = [];
    const surface: SurfaceRef = { kind: 'approval.card', requestId: row.id };
    // A subject with its own card (a change) is voted on that card: no approval card in any channel.
    const dmSurface = this.hooksOf(row)?.dmSurface?.(row);
    if (places.channelId && !dmSurface) posts.push({ place: 'channel', spec: { op: 'postMessage', args: { channel: places.channelId, surface } } });
    const shared = this.policy.approvals.channel;
    if (shared && places.shared !== false && shared !== places.channelId && !dmSurface) posts.push({ place: 'approvals-channel', spec: { op: 'postMessage', args: { channel: shared, surface } } });
    for (const user of dmTo) posts.push({ place: dmSurface ? 'subject-dm' : 'dm', userId: user, spec: { op: 'dm', args: { user, surface: dmSurface ?? surface } } });
    if (!posts.length) return;
    const ids = await u.enqueue(...posts.map((p) => p.spec));
    for (let i = 0; i < posts.length; i++) {
      await u.tx.approvalCard.create({ data: { requestId: row.id, effectId: ids[i]!, place: posts[i]!.place, userId: posts[i]!.userId ?? null } });
    }
  }

  // ------------------------------------------------------------ requests

  async requestDeploy(actor: Actor, meta: RequestMeta, input: DeployInput): Promise<Reply> {
    const route = this.routeForDeploy(input);
    return this.create(actor, meta, {
      kind: 'deploy',
      title: `Deploy ${input.component} ${input.version} to ${input.environment}`,
      environment: input.environment,
      component: input.component,
      version: input.version,
      reason: input.reason ?? null,
      route,
      ttl: this.policy.approvals.ttl,
    });
  }

  async requestDecision(actor: Actor, meta: RequestMeta, input: DecisionInput): Promise<Reply> {
    const { route, band } = this.routeForDecision(input);
    return this.create(actor, meta, {
      kind: 'decision',
      title: input.title,
      decisionType: input.type,
      category: input.category,
      amount: input.amount,
      band,
      route,
      ttl: this.policy.approvals.requestTtl,
    });
  }

  private async create(
    actor: Actor,
    meta: RequestMeta,
    d: {
      kind: string;
      title: Text;
      route: ApprovalRoute;
      ttl: number;
      environment?: string;
      component?: string;
      version?: string;
      reason?: Text | null;
      decisionType?: string;
      category?: string;
      amount?: number | null;
      band?: string;
    },
  ): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      // A deployment keeps to the windows and freezes of change control: one that breaks a rule is held.
      const schedule = d.kind === 'deploy' && d.environment ? await this.checkDeploy(u.tx, actor.workspaceId, d.environment, d.reason ?? null, u.now) : null;
      const held = schedule && !schedule.ok ? schedule : null;
      const number = await nextNumber(u.tx, actor.workspaceId, 'APR');
      const id = randomUUID();
      const autoApproved = d.route.steps.length === 0 && !held;
      const row = await u.tx.approvalRequest.create({
        data: {
          id,
          workspaceId: actor.workspaceId,
          number,
          kind: d.kind,
          title: encodeText(d.title),
          environment: d.environment ?? null,
          component: d.component ?? null,
          version: d.version ?? null,
          reason: d.reason ? encodeText(d.reason) : null,
          decisionType: d.decisionType ?? null,
          category: d.category ?? null,
          amount: d.amount ?? null,
          band: d.band ?? null,
          route: JSON.stringify(d.route),
          requesterId: actor.userId,
          channelId: meta.channelId ?? null,
          status: held ? 'held' : autoApproved ? 'approved' : 'pending',
          decidedAt: autoApproved ? u.now : null,
          // A held request has no expiry yet: this is replaced when an exception releases it (no timer is set).
          expiresAt: new Date(u.now.getTime() + d.ttl),
          holdReason: held
            ? JSON.stringify({ problems: held.problems, nextOpen: held.nextOpen && { start: held.nextOpen.start.toISOString(), end: held.nextOpen.end.toISOString() } } satisfies StoredHold)
            : null,
          flags: JSON.stringify(schedule?.ok ? schedule.flags : []),
          createdAt: u.now,
          updatedAt: u.now,
        },
      });
      const refName = approvalRef(number);
      u.audit({
        action: 'approval.request',
        subjectType: 'approval',
        subjectId: refName,
        after: {
          kind: d.kind,
          title: plainText(d.title),
          environment: d.environment,
          component: d.component,
          version: d.version,
          type: d.decisionType,
          category: d.category,
          amount: d.amount,
          band: d.band,
          steps: d.route.steps.length,
          ...(schedule?.critical ? { critical: true } : {}),
          ...(held ? { status: 'held', problems: held.problems, nextOpen: held.nextOpen?.start.toISOString() ?? null } : {}),
        },
        flags: schedule?.ok && schedule.flags.length ? schedule.flags : undefined,
      });
      if (held) {
        // Recorded, shown where it was asked with "Ask for an exception"; nobody is asked, nothing expires yet.
        await this.postCards(u, row, meta.channelId ? { channelId: meta.channelId, shared: false } : { shared: false }, meta.channelId ? [] : [actor.externalId]);
        const next: Text = held.nextOpen ? rt` The next open slot is ${time(held.nextOpen.start)}–${time(held.nextOpen.end, 'time')}.` : ' There is no open slot in the next 60 days.';
        return {
          text: rt`${refName} is ${strong('held')}: ${d.title} cannot go now — ${held.problems.join('; ')}.${next} Press ${strong('Ask for an exception')} on its card, or cancel it (${code(`/approval cancel ${refName}`)}) and ask again then.`,
        };
      }
      if (autoApproved) {
        u.audit({ action: 'approval.approved', subjectType: 'approval', subjectId: refName, before: { status: 'pending' }, after: { status: 'approved', auto: true, timeToDecisionMs: 0 } });
        await this.postCards(u, row, { channelId: meta.channelId }, []);
        return { text: rt`${refName}: ${d.title} — approved automatically (the ${d.environment ?? d.kind} policy needs no approvals; recorded in the audit trail).` };
      }
      const ev = evaluate(d.route as Route, []);
      const eligible = await this.eligible(u.tx, row, ev, []);
      await this.postCards(u, row, { channelId: meta.channelId }, eligible);
      await u.schedule({ key: timerKeysApproval.expire(id), kind: 'approval.expire', subjectType: 'approval', subjectId: id, workspaceId: actor.workspaceId, dueAt: row.expiresAt });
      await this.scheduleEscalation(u, row, 0);
      return {
        text: rt`${refName} requested: ${d.title}. Needs ${describeMissing(ev.missing)}${ev.required > ev.missing.reduce((n, m) => n + m.remaining, 0) && ' first'} (${ev.required} approval${ev.required === 1 ? '' : 's'} in all); ${
          eligible.length ? rt`asked ${mentionList(eligible, ', ')}` : 'nobody holds those roles yet — an admin can grant them'
        }. Expires in ${formatDuration(d.ttl)}.`,
      };
    });
  }

  /** Deployments expire in hours and decision-rights requests in days, so each kind has its own path. */
  private escalationOf(row: RequestRow) {
    const own = this.hooksOf(row)?.escalation?.(row);
    if (own) return own;
    return row.kind === 'decision' ? this.policy.approvals.escalation : this.policy.approvals.deployment.escalation;
  }

  /** When it started waiting for its approvers: when asked, or when an exception released it from a hold. */
  private waitingSince(row: RequestRow): Date {
    const released = readHold(row.holdReason)?.releasedAt;
    return released ? new Date(released) : row.createdAt;
  }

  private async scheduleEscalation(u: Unit, row: RequestRow, level: number): Promise<void> {
    const step = this.escalationOf(row)[level];
    if (!step) return;
    const due = new Date(this.waitingSince(row).getTime() + step.after);
    // A step at or after expiry never comes: the request expires first.
    if (due.getTime() >= row.expiresAt.getTime()) return;
    await u.schedule({ key: timerKeysApproval.escalate(row.id), kind: 'approval.escalate', subjectType: 'approval', subjectId: row.id, workspaceId: row.workspaceId, dueAt: due, payload: { level } });
  }

  // ------------------------------------------------------------ votes

  async vote(actor: Actor, meta: RequestMeta, requestId: string, decision: Decision, reason?: string): Promise<Reply> {
    if (decision === 'reject' && !reason?.trim()) throw new UsageError('A rejection needs a reason.');
    return this.k.run(actor, meta, async (u) => {
      // Locked as it is read on PostgreSQL (one round trip; SQLite writes are serial).
      const found = await requestForVote(u.tx, requestId, actor.userId, this.k.db.provider === 'postgresql');
      const row = found?.row;
      if (!row || row.workspaceId !== actor.workspaceId) throw new Refusal('That approval request does not exist.');
      const refName = approvalRef(row.number);
      if (row.status === 'held') {
        throw new Refusal(`You cannot ${decision} ${refName}: it is held by a window or a freeze, and nobody votes on it until an exception releases it.`, {
          action: `approval.${decision}`,
          subjectType: 'approval',
          subjectId: refName,
          reason: 'held',
        });
      }
      const votes = await this.votesOf(u.tx, row.id);
      const mine = votes.find((v) => v.userId === actor.userId);
      if (mine) return { text: `You already ${mine.decision === 'approve' ? 'approved' : 'rejected'} ${refName}; nothing changed.` };
      const route = JSON.parse(row.route) as Route;
      const hooks = this.hooksOf(row);
      const extra = ((await hooks?.extraRoles?.(u.tx, row))?.(actor.userId) ?? []) as Role[];
      // The rules are about people: accounts linked with /muster link count as one (no self-approval, no stacking).
      // Their persons came with the request (the requester's, the voter's) and with the votes (each voter's).
      const person = new Map<string, string>();
      for (const [id, key] of [[row.requesterId, found!.requesterPerson], [actor.userId, found!.actorPerson], ...votes.map((v) => [v.userId, v.person] as const)] as const) {
        if (key) person.set(id, `person:${key}`);
      }
      const p = (id: string) => person.get(id) ?? id;
      const voter = { userId: p(actor.userId), roles: [...actor.roles, ...extra] };
      const check = checkVote(
        route,
        { status: row.status as ApprovalStatus, requesterId: p(row.requesterId) },
        votes.map((v) => ({ ...v, userId: p(v.userId) })),
        voter,
        decision,
      );
      if (!check.ok) {
        throw new Refusal(`You cannot ${decision} ${refName}: ${check.reason}.`, { action: `approval.${decision}`, subjectType: 'approval', subjectId: refName, reason: check.code });
      }
      const before = evaluate(route, votes);
      await sqlOf(u.tx).later(
        'INSERT INTO approval_votes (request_id, user_id, decision, reason, step, requirement, role, roles, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        row.id,
        actor.userId,
        decision,
        // Neutral text like every other text column (a form's reason is a plain string: stored as it is).
        reason === undefined ? null : encodeText(reason),
        before.step,
        check.fills?.requirement ?? null,
        check.fills?.role ?? null,
        JSON.stringify([...voter.roles].sort()),
        u.now,
      );
      const after = evaluate(route, [...votes, { ...voter, decision, at: u.now, reason }]);
      u.audit({
        action: `approval.${decision}`,
        subjectType: 'approval',
        subjectId: refName,
        after: { step: before.step, requirement: check.fills?.requirement ?? null, role: check.fills?.role ?? null, progress: `${after.approvals}/${after.required}` },
        reason: reason ?? null,
      });
      let text: string;
      if (after.status !== 'pending') {
        await this.decide(u, row, after.status, actor, reason);
        text = after.status === 'approved' ? `${refName} approved — all ${after.required} approvals are in.` : `${refName} rejected.`;
      } else {
        await sqlOf(u.tx).later('UPDATE approval_requests SET updated_at = ? WHERE id = ?', u.now, row.id);
        if (after.step > before.step) {
          // The next step of the chain opens: its approvers are asked now.
          const eligible = await this.eligible(u.tx, row, after, [...votes, { ...voter, decision, at: u.now }]);
          await this.postCards(u, row, {}, eligible);
        }
        text = `Your approval of ${refName} is in (${progressLine(after)}).`;
        await hooks?.voted?.(u, row);
      }
      await this.refreshCards(u, row);
      return { text };
    });
  }

  /** The single transition to a final state: announced once, timers stopped. */
  private async decide(u: Unit, row: RequestRow, status: 'approved' | 'rejected' | 'expired' | 'cancelled', actor: Actor, reason?: Text, extra: Record<string, unknown> = {}, quiet = false) {
    // Held requests end here too: cancelled, broken out by break-glass, or rejected when their exception is refused.
    const rejectReason = status === 'rejected' && reason ? encodeText(reason) : null;
    // Raw when nothing else changes (a vote's decision, on the click path); Prisma for the extra fields of break-glass.
    const moved = Object.keys(extra).length
      ? (
          await u.tx.approvalRequest.updateMany({
            where: { id: row.id, status: { in: ['pending', 'held'] } },
            data: { status, decidedAt: u.now, decidedBy: actor.userId, rejectReason, updatedAt: u.now, ...extra },
          })
        ).count
      : await sqlOf(u.tx).run(
          `UPDATE approval_requests SET status = ?, decided_at = ?, decided_by = ?, reject_reason = ?, updated_at = ? WHERE id = ? AND status IN ('pending', 'held')`,
          status,
          u.now,
          actor.userId,
          rejectReason,
          u.now,
          row.id,
        );
    if (moved !== 1) throw new Refusal(`${approvalRef(row.number)} is already decided.`);
    const refName = approvalRef(row.number);
    // A request of its own carries its flags (an exception that released it) into its decision's audit entry.
    const auditFlags = [...new Set([...(row.subjectType ? [] : readFlags(row.flags)), ...(extra.breakGlass ? ['break_glass'] : [])])];
    u.audit({
      action: `approval.${status}`,
      subjectType: 'approval',
      subjectId: refName,
      before: { status: row.status === 'held' ? 'held' : 'pending' },
      after: { status, timeToDecisionMs: u.now.getTime() - row.createdAt.getTime(), environment: row.environment, ...(extra.breakGlass ? { breakGlass: true } : {}) },
      reason: reason ? plainText(reason) : null,
      flags: auditFlags.length ? auditFlags : undefined,
    });
    await u.cancel({ subjectType: 'approval', subjectId: row.id });
    const word = { approved: 'approved', rejected: 'rejected', expired: 'expired', cancelled: 'cancelled' }[status];
    const by: Text = status === 'expired' ? '' : rt` by ${mention(actor.externalId)}`;
    if (!quiet && (row.requesterId !== actor.userId || status === 'expired')) {
      u.effects({ op: 'dm', args: { user: externalOf(row.requesterId), text: rt`Your request ${refName} (${decodeText(row.title)}) was ${strong(word)}${by}${reason && rt`: ${reason}`}.` } });
    }
    await this.hooksOf(row)?.decided?.(u, { ...row, status, decidedAt: u.now, decidedBy: actor.userId }, status, actor, reason);
  }

  /**
   * Opens a round for another service's subject, inside that service's unit of work: the request row,
   * its audit entry, the card (if asked) and the approvers' DMs, its expiry and escalation. An empty
   * route is approved at once (the `decided` hook runs).
   */
  async openRound(u: Unit, actor: Actor, meta: RequestMeta, d: RoundInput): Promise<RequestRow> {
    const number = await nextNumber(u.tx, actor.workspaceId, 'APR');
    const id = randomUUID();
    const row = await u.tx.approvalRequest.create({
      data: {
        id,
        workspaceId: actor.workspaceId,
        number,
        kind: d.kind,
        title: encodeText(d.title),
        environment: d.environment ?? null,
        reason: d.reason ? encodeText(d.reason) : null,
        route: JSON.stringify(d.route),
        requesterId: actor.userId,
        channelId: d.channelId ?? meta.channelId ?? null,
        status: 'pending',
        expiresAt: new Date(u.now.getTime() + d.ttl),
        subjectType: d.subjectType,
        subjectId: d.subjectId,
        flags: JSON.stringify(d.flags ?? []),
        createdAt: u.now,
        updatedAt: u.now,
      },
    });
    const refName = approvalRef(number);
    u.audit({
      action: 'approval.request',
      subjectType: 'approval',
      subjectId: refName,
      after: { kind: d.kind, title: plainText(d.title), subject: `${d.subjectType}:${d.subjectId}`, steps: d.route.steps.length },
    });
    if (d.route.steps.length === 0) {
      await this.decide(u, row, 'approved', actor, undefined, {}, true);
      return { ...row, status: 'approved' };
    }
    const ev = evaluate(d.route as Route, []);
    const eligible = await this.eligible(u.tx, row, ev, []);
    await this.postCards(u, row, d.postCard ? { channelId: row.channelId ?? undefined } : {}, eligible);
    await u.schedule({ key: timerKeysApproval.expire(id), kind: 'approval.expire', subjectType: 'approval', subjectId: id, workspaceId: actor.workspaceId, dueAt: row.expiresAt });
    await this.scheduleEscalation(u, row, 0);
    return row;
  }

  /** Ends a subject's pending round without a decision on its merits (its subject was edited, withdrawn or superseded). */
  async voidRound(u: Unit, requestId: string, actor: Actor, reason: Text): Promise<void> {
    await this.lock(u.tx, requestId);
    const row = await u.tx.approvalRequest.findUnique({ where: { id: requestId } });
    if (!row || row.status !== 'pending') return;
    await this.decide(u, row, 'cancelled', actor, reason, {}, true);
    await this.refreshCards(u, row);
  }

  /** A round's state for its subject's card: progress, votes, who may still act. */
  async roundView(tx: Tx, requestId: string): Promise<ApprovalView | null> {
    const row = await tx.approvalRequest.findUnique({ where: { id: requestId } });
    return row ? this.view(tx, row) : null;
  }

  /** Records a subject's card copy so that votes redraw it (place `subject-dm` or `subject`). */
  async trackCard(tx: Tx, requestId: string, effectId: number, place: string, userId?: string): Promise<void> {
    await tx.approvalCard.create({ data: { requestId, effectId, place, userId: userId ?? null } });
  }

  // ------------------------------------------------------------ held deployments and their exceptions

  /**
   * "Ask for an exception" on a held deployment: an exception round (kind `exception`, subject the held
   * request) to `changes.exceptions.approvers`, its card posted where the deployment was asked. The requester,
   * or a holder of manage_changes, may ask; the round is the requester's own, so they cannot approve it.
   */
  async askException(actor: Actor, meta: RequestMeta, requestId: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      await this.lockWithException(u.tx, requestId);
      const row = await u.tx.approvalRequest.findUnique({ where: { id: requestId } });
      if (!row || row.workspaceId !== actor.workspaceId) throw new Refusal('That approval request does not exist.');
      const refName = approvalRef(row.number);
      const audit = { action: 'approval.exception.request', subjectType: 'approval', subjectId: refName };
      if (row.requesterId !== actor.userId && !hasPermission(actor.roles, 'manage_changes', this.policy.permissions)) {
        throw new Refusal(rt`Only the requester (${mention(externalOf(row.requesterId))}) or a holder of manage_changes can ask for an exception for ${refName}.`, {
          ...audit,
          reason: 'not the requester',
        });
      }
      if (row.status !== 'held') {
        throw new Refusal(
          row.status === 'pending' ? `${refName} needs no exception: it is not held, and its approvers are asked.` : `${refName} is already ${row.status}; an exception is for a held request.`,
        );
      }
      const earlier = await this.exceptionOf(u.tx, row.id);
      if (earlier?.status === 'pending') return { text: `An exception for ${refName} is already asked for (${approvalRef(earlier.number)}); nothing changed.` };
      const hold = readHold(row.holdReason) ?? { problems: [], nextOpen: null };
      const exception = await this.openRound(u, this.requesterOf(row), meta, {
        kind: 'exception',
        subjectType: 'approval',
        subjectId: row.id,
        title: rt`Exception for ${refName}: ${decodeText(row.title)}`,
        reason: hold.problems.join('; '),
        route: exceptionRoute(this.policy),
        ttl: this.policy.changes.exceptions.ttl,
        environment: row.environment ?? undefined,
        channelId: row.channelId,
        postCard: true,
      });
      const excRef = approvalRef(exception.number);
      u.audit({ ...audit, after: { exception: excRef, problems: hold.problems } });
      await this.refreshCards(u, await this.touch(u, row));
      const ev = evaluate(JSON.parse(exception.route) as Route, []);
      return { text: `Exception asked for ${refName} (${excRef}): it needs ${describeMissing(ev.missing)}, who are asked. ${refName} stays held until then.` };
    });
  }

  /** The requester of a request as an actor (a round opened in their name, so that they cannot approve it). */
  private requesterOf(row: RequestRow): Actor {
    const platform = row.workspaceId.slice(0, row.workspaceId.indexOf(':'));
    return { workspaceId: row.workspaceId, userId: row.requesterId, externalId: externalOf(row.requesterId), platform, roles: new Set(), envRoles: new Set() };
  }

  /**
   * Locks a request after the exception waiting on it, if any: the order in which a vote on that exception
   * takes them (the exception, then in its hook the held request), so the two never wait on each other.
   */
  private async lockWithException(tx: Tx, requestId: string): Promise<void> {
    const exc = await tx.approvalRequest.findFirst({ where: { kind: 'exception', subjectType: 'approval', subjectId: requestId, status: 'pending' }, select: { id: true } });
    if (exc) await this.lock(tx, exc.id);
    await this.lock(tx, requestId);
  }

  /** Ends the exception still waiting on a held request that was decided otherwise (cancelled, break-glass). */
  private async voidException(u: Unit, row: RequestRow, actor: Actor, reason: Text): Promise<void> {
    const exc = await u.tx.approvalRequest.findFirst({ where: { kind: 'exception', subjectType: 'approval', subjectId: row.id, status: 'pending' }, select: { id: true } });
    if (exc) await this.voidRound(u, exc.id, actor, reason);
  }

  /** A vote on a deployment's exception that did not decide it: the held card shows the progress. */
  private async onExceptionVoted(u: Unit, round: RequestRow): Promise<void> {
    const held = round.subjectId ? await u.tx.approvalRequest.findUnique({ where: { id: round.subjectId } }) : null;
    if (held?.status === 'held') await this.refreshCards(u, await this.touch(u, held));
  }

  /**
   * A new version of a held request whose exception moved (its own columns did not): cards are drawn once
   * per version (updatedAt, status, votes), so the stamp must change even within one millisecond.
   */
  private async touch(u: Unit, row: RequestRow): Promise<RequestRow> {
    return u.tx.approvalRequest.update({ where: { id: row.id }, data: { updatedAt: new Date(Math.max(u.now.getTime(), row.updatedAt.getTime() + 1)) } });
  }

  /**
   * A deployment's exception is decided. Approved: the held request proceeds, flagged `exception:APR-n`,
   * to its own route (approvers asked, expiry and escalation armed from now). Rejected or expired: the held
   * request is rejected ("exception refused") and its requester told. Withdrawn: it stays held.
   */
  private async onExceptionDecided(u: Unit, round: RequestRow, status: 'approved' | 'rejected' | 'expired' | 'cancelled', actor: Actor, reason?: Text): Promise<void> {
    if (!round.subjectId) return;
    await this.lock(u.tx, round.subjectId);
    const held = await u.tx.approvalRequest.findUnique({ where: { id: round.subjectId } });
    if (!held || held.status !== 'held') return;
    const refName = approvalRef(held.number);
    const excRef = approvalRef(round.number);
    const requester = externalOf(held.requesterId);
    const title = decodeText(held.title);
    if (status === 'cancelled') {
      u.audit({ action: 'approval.exception.withdrawn', subjectType: 'approval', subjectId: refName, after: { exception: excRef }, reason: reason ? plainText(reason) : null });
      await this.refreshCards(u, await this.touch(u, held));
      return;
    }
    if (status !== 'approved') {
      const why: Text = status === 'expired' ? rt`exception refused (${excRef} expired undecided)` : rt`exception refused (${excRef} was rejected${reason && rt`: ${reason}`})`;
      u.audit({ action: 'approval.exception.refused', subjectType: 'approval', subjectId: refName, after: { exception: excRef, status }, reason: reason ? plainText(reason) : null });
      await this.decide(u, held, 'rejected', actor, why, {}, true);
      u.effects({ op: 'dm', args: { user: requester, text: rt`Your request ${refName} (${title}) was ${strong('rejected')}: ${why}.` } });
      await this.refreshCards(u, held);
      return;
    }
    const stored = readHold(held.holdReason) ?? { problems: [], nextOpen: null };
    const flag = `exception:${excRef}`;
    const ttl = held.kind === 'decision' ? this.policy.approvals.requestTtl : this.policy.approvals.ttl;
    const released = await u.tx.approvalRequest.update({
      where: { id: held.id },
      data: {
        status: 'pending',
        flags: JSON.stringify([...new Set([...readFlags(held.flags), flag])]),
        holdReason: JSON.stringify({ ...stored, releasedAt: u.now.toISOString(), exception: excRef } satisfies StoredHold),
        expiresAt: new Date(u.now.getTime() + ttl),
        updatedAt: u.now,
      },
    });
    u.audit({
      action: 'approval.exception.granted',
      subjectType: 'approval',
      subjectId: refName,
      before: { status: 'held' },
      after: { status: 'pending', exception: excRef, problems: stored.problems },
      flags: [flag],
    });
    const route = JSON.parse(released.route) as Route;
    if (route.steps.length === 0) {
      // Its policy needs no approvals (a dev deployment in a freeze of every environment).
      await this.decide(u, released, 'approved', this.k.systemActor(held.workspaceId), undefined, {}, true);
      u.effects({ op: 'dm', args: { user: requester, text: rt`Your request ${refName} (${title}) is released by exception ${excRef}, and approved: its policy needs no approvals.` } });
      await this.refreshCards(u, released);
      return;
    }
    const ev = evaluate(route, []);
    const eligible = await this.eligible(u.tx, released, ev, []);
    // Its card was posted where it was asked; the approvals channel and the approvers get theirs now.
    await this.postCards(u, released, {}, eligible);
    await u.schedule({ key: timerKeysApproval.expire(held.id), kind: 'approval.expire', subjectType: 'approval', subjectId: held.id, workspaceId: held.workspaceId, dueAt: released.expiresAt });
    await this.scheduleEscalation(u, released, 0);
    u.effects({
      op: 'dm',
      args: {
        user: requester,
        text: rt`Your request ${refName} (${title}) is released by exception ${excRef} and goes to its approvers: it needs ${describeMissing(ev.missing)}; ${
          eligible.length ? rt`asked ${mentionList(eligible, ', ')}` : 'nobody holds those roles yet'
        }. Expires ${time(released.expiresAt)}.`,
      },
    });
    await this.refreshCards(u, released);
  }

  async cancel(actor: Actor, meta: RequestMeta, refText: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.load(u.tx, actor, refText);
      await this.lockWithException(u.tx, row.id);
      const refName = approvalRef(row.number);
      if (row.requesterId !== actor.userId)
        throw new Refusal(rt`Only the requester (${mention(externalOf(row.requesterId))}) can cancel ${refName}.`, { action: 'approval.cancel', subjectType: 'approval', subjectId: refName });
      const fresh = await u.tx.approvalRequest.findUniqueOrThrow({ where: { id: row.id } });
      if (fresh.status !== 'pending' && fresh.status !== 'held') throw new Refusal(`${refName} is already ${fresh.status}; decided requests are final.`);
      await this.decide(u, fresh, 'cancelled', actor);
      if (fresh.status === 'held') await this.voidException(u, fresh, actor, `${refName} was cancelled`);
      await this.refreshCards(u, fresh);
      return { text: `${refName} cancelled.` };
    });
  }

  async breakGlass(actor: Actor, meta: RequestMeta, refText: string, reason: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.load(u.tx, actor, refText);
      await this.lockWithException(u.tx, row.id);
      const refName = approvalRef(row.number);
      this.k.requirePermission(actor, 'break_glass', `break glass on ${refName}`, { action: 'approval.breakglass', subjectType: 'approval', subjectId: refName });
      const fresh = await u.tx.approvalRequest.findUniqueOrThrow({ where: { id: row.id } });
      if (fresh.status !== 'pending' && fresh.status !== 'held') throw new Refusal(`${refName} is already ${fresh.status}; break-glass is for pending or held requests.`);
      if (fresh.requesterId === actor.userId) {
        throw new Refusal(`You asked for ${refName}; break-glass cannot approve your own request.`, { action: 'approval.breakglass', subjectType: 'approval', subjectId: refName, reason: 'self' });
      }
      // A deployment held by a window or a freeze may be broken out too: approved, flagged, reviewed like any other.
      const wasHeld = fresh.status === 'held';
      const flags = [...new Set([...readFlags(fresh.flags), 'break_glass'])];
      await this.decide(u, fresh, 'approved', actor, reason, { breakGlass: true, breakGlassReason: encodeText(reason), reviewStatus: 'pending', flags: JSON.stringify(flags) });
      if (wasHeld) await this.voidException(u, fresh, actor, `${refName} was approved by break-glass`);
      await this.refreshCards(u, fresh);
      // The notice with its "Mark reviewed" button is kept as a card, redrawn once reviewed.
      const sec = this.policy.approvals.securityChannel;
      const [noticeId] = await u.enqueue({ op: 'postMessage', args: { channel: sec ?? fresh.channelId ?? externalOf(fresh.requesterId), surface: { kind: 'approval.review', requestId: row.id } } });
      await u.tx.approvalCard.create({ data: { requestId: row.id, effectId: noticeId!, place: 'review' } });
      return {
        text: `${refName} approved by break-glass${wasHeld ? ', outside its window or in a freeze (flagged)' : ''}. The security channel is notified and a post-review is open.`,
      };
    });
  }

  async markReviewed(actor: Actor, meta: RequestMeta, requestId: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      await this.lock(u.tx, requestId);
      const row = await u.tx.approvalRequest.findUnique({ where: { id: requestId } });
      if (!row || row.workspaceId !== actor.workspaceId || !row.breakGlass) throw new Refusal('There is no break-glass review for that request.');
      const refName = approvalRef(row.number);
      if (row.reviewStatus === 'done') return { text: rt`${refName} was already reviewed by ${mention(externalOf(row.reviewedBy ?? ''))}.` };
      // The review is a security control: a permission, and never one of the two people it checks.
      const audit = { action: 'approval.review', subjectType: 'approval', subjectId: refName };
      if (row.decidedBy === actor.userId) {
        throw new Refusal(`You broke the glass on ${refName}; someone else must review it.`, { ...audit, reason: 'self-review: broke the glass' });
      }
      if (row.requesterId === actor.userId) {
        throw new Refusal(`You asked for ${refName}; someone who did not benefit from the break-glass must review it.`, { ...audit, reason: 'self-review: requester' });
      }
      this.k.requirePermission(actor, 'break_glass_review', `review the break-glass on ${refName}`, audit);
      const reviewed = await u.tx.approvalRequest.update({ where: { id: row.id }, data: { reviewStatus: 'done', reviewedBy: actor.userId, reviewedAt: u.now, updatedAt: u.now } });
      await this.refreshCards(u, reviewed);
      u.audit({ action: 'approval.review', subjectType: 'approval', subjectId: refName, before: { review: 'pending' }, after: { review: 'done' }, flags: ['break_glass'] });
      return { text: `Post-review of ${refName} recorded.` };
    });
  }

  // ------------------------------------------------------------ reports

  async show(actor: Actor, refText: string): Promise<Reply> {
    return this.k.db.read(async (tx) => {
      const row = await this.load(tx, actor, refText);
      const v = await this.view(tx, row);
      const lines: Text[] = [
        rt`${strong(v.ref)} ${v.title}`,
        rt`Requested by ${mention(v.requester)} ${time(v.createdAt)} · status ${strong(v.status)}${v.breakGlass && rt` · ${emoji('rotating_light')} break-glass`}`,
        ...v.details.map(([k, val]) => `${k}: ${val}`),
        v.reason ? rt`Reason: ${v.reason}` : '',
        v.status === 'held'
          ? holdLine(v)
          : v.status === 'pending'
            ? rt`Progress: ${v.progress} · expires ${time(v.expiresAt)}`
            : rt`Decided ${v.decidedAt && time(v.decidedAt)}${v.rejectReason && rt` — ${v.rejectReason}`}`,
        v.status !== 'held' && v.hold ? rt`Was held: ${v.hold.problems.join('; ')}${v.hold.exception && ` · released by exception ${v.hold.exception.ref}`}` : '',
        v.flags.length ? `Flags: ${v.flags.join(', ')}` : '',
        [strong('History')],
        rt`${time(v.createdAt)} requested by ${mention(v.requester)}`,
        ...v.votes.map(
          (x) => rt`${time(x.at)} ${x.decision === 'approve' ? 'approved' : 'rejected'} by ${mention(x.user)}${x.role && ` as ${x.role} (step ${x.step + 1})`}${x.reason && rt`: ${x.reason}`}`,
        ),
        v.breakGlass ? rt`Break-glass: ${v.breakGlassReason} · review ${v.reviewStatus}` : '',
      ].filter((l) => l.length > 0);
      return { text: joinText(lines, '\n'), sections: [{ title: `${v.ref}`, lines }] };
    });
  }

  /**
   * Requests this person can act on now: pending ones they may approve, and their own held ones (they may
   * ask for an exception, or follow the one asked). The App Home shows both, each in its own section.
   */
  async waitingFor(actor: Actor): Promise<ApprovalView[]> {
    return this.k.db.read(async (tx) => {
      // A change's CAB or emergency round is voted on its change card and listed by /change list.
      const rows = await tx.approvalRequest.findMany({
        // status IN (pending, held) as well: it lets the (workspace, status) index find the few open ones (the OR alone read every request).
        where: { workspaceId: actor.workspaceId, kind: { not: 'change' }, status: { in: ['pending', 'held'] }, OR: [{ status: 'pending' }, { status: 'held', requesterId: actor.userId }] },
        orderBy: { createdAt: 'asc' },
        take: 100,
      });
      return (await this.views(tx, rows)).filter((v) => v.status === 'held' || v.eligible.includes(actor.externalId));
    });
  }

  async list(actor: Actor): Promise<Reply> {
    const waiting = (await this.waitingFor(actor)).filter((v) => v.status === 'pending');
    const mine = await this.k.db.read(async (tx) => {
      const rows = await tx.approvalRequest.findMany({ where: { workspaceId: actor.workspaceId, requesterId: actor.userId, kind: { not: 'change' } }, orderBy: { createdAt: 'desc' }, take: 20 });
      return Promise.all(rows.map(async (r) => ({ row: r, hold: r.status === 'held' ? await this.holdOf(tx, r) : null })));
    });
    const w = waiting.map((v) => rt`${strong(v.ref)} ${v.title} · from ${mention(v.requester)} · ${v.progress}${v.flags.length ? ` · flagged ${v.flags.join(', ')}` : ''}`);
    const m = mine.map(({ row: r, hold }) => {
      const flags = readFlags(r.flags);
      const state: Text = hold ? holdLine({ hold, canAskException: hold.exception?.status !== 'pending' }) : `${r.status}${flags.length ? ` · flagged ${flags.join(', ')}` : ''}`;
      return rt`${strong(approvalRef(r.number))} ${decodeText(r.title)} · ${state}`;
    });
    const nothing: Text = [em('nothing')];
    return {
      text: rt`Waiting for your approval (${w.length}):\n${w.length ? joinText(w, '\n') : nothing}\n\nYou asked for (${m.length}):\n${m.length ? joinText(m, '\n') : nothing}`,
      sections: [
        { title: `Waiting for your approval (${w.length})`, lines: w.length ? w : [nothing] },
        { title: `You asked for (${m.length})`, lines: m.length ? m : [nothing] },
      ],
    };
  }

  // ------------------------------------------------------------ timers

  async onExpire(tx: Tx, timer: TimerRow): Promise<void> {
    const row = await tx.approvalRequest.findUnique({ where: { id: timer.subjectId } });
    if (!row || row.status !== 'pending') return;
    await this.lock(tx, row.id);
    await this.k.inTx(tx, this.k.systemActor(row.workspaceId), { requestId: `timer:${timer.id}` }, async (u) => {
      await this.decide(u, row, 'expired', this.k.systemActor(row.workspaceId));
      await this.refreshCards(u, row);
    });
  }

  async onEscalate(tx: Tx, timer: TimerRow, payload: Record<string, unknown>): Promise<void> {
    const row = await tx.approvalRequest.findUnique({ where: { id: timer.subjectId } });
    if (!row || row.status !== 'pending') return;
    const level = Number(payload.level ?? 0);
    const step = this.escalationOf(row)[level];
    if (!step) return;
    await this.k.inTx(tx, this.k.systemActor(row.workspaceId), { requestId: `timer:${timer.id}` }, async (u) => {
      const v = await this.view(u.tx, row);
      let users: string[];
      if (step.notify === 'approvers') users = v.eligible;
      else {
        const grants = await u.tx.roleGrant.findMany({ where: { workspaceId: row.workspaceId, role: step.notify }, select: { userId: true } });
        users = grants.map((g) => externalOf(g.userId)).filter((x) => x !== v.requester);
      }
      const age = formatDuration(u.now.getTime() - this.waitingSince(row).getTime());
      const text =
        step.notify === 'approvers'
          ? rt`Reminder: ${v.ref} (${v.title}) from ${mention(v.requester)} has waited ${age} for your approval (${v.progress}).`
          : rt`${emoji('rotating_light')} Escalation (${step.notify}): ${v.ref} (${v.title}) from ${mention(v.requester)} has waited ${age} (${v.progress}).`;
      for (const user of users) u.effects({ op: 'dm', args: { user, text } });
      u.audit({ action: level === 0 ? 'approval.remind' : 'approval.escalate', subjectType: 'approval', subjectId: v.ref, after: { level, notify: step.notify, users } });
      await this.scheduleEscalation(u, row, level + 1);
    });
  }
}
