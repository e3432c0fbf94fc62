import type { Policy, Severity } from '../config/policy.ts';
import type { Route } from './approval.ts';
import { formatDuration } from './duration.ts';
import type { Role } from './rbac.ts';
import { formatLocal } from './windows.ts';

/**
 * Change requests (CHG-n) as plain functions: types, the lifecycle and its transition table, the risk
 * rule table, go/no-go checklists, approval routes (CAB, emergency, exception), re-approval after an
 * edit, and the KPIs of the governance documents. No I/O; time is always passed in.
 */

/** The three kinds of change request of PRODUCT.md. */
export const CHANGE_TYPES = ['standard', 'normal', 'emergency'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/**
 * A pseudo-approver for emergency changes: whoever holds the commander role of the incident the
 * change is linked to. It is never granted; `approverRoles` adds it to a voter's roles per change.
 */
export const INCIDENT_COMMANDER = 'incident_commander' as const;
/** Who can sit in an emergency approval: a Muster role, or the linked incident's commander. */
export type Approver = Role | typeof INCIDENT_COMMANDER;

/** The parts of the policy this module reads. */
export type ChangePolicy = Pick<Policy, 'organization' | 'changes'>;

// ---------------------------------------------------------------------------------------------
// Lifecycle

/**
 * pending → approved/rejected → scheduled → implementing → implemented/failed/rolled_back →
 * reviewed → closed; cancelled from any state before implementing. A standard change starts approved.
 */
export const CHANGE_STATUSES = ['pending', 'approved', 'rejected', 'scheduled', 'implementing', 'implemented', 'failed', 'rolled_back', 'reviewed', 'closed', 'cancelled'] as const;
export type ChangeStatus = (typeof CHANGE_STATUSES)[number];

/** How a status reads in a sentence ("CHG-4 is rolled back"). */
export const STATUS_LABEL: Record<ChangeStatus, string> = {
  pending: 'pending',
  approved: 'approved',
  rejected: 'rejected',
  scheduled: 'scheduled',
  implementing: 'implementing',
  implemented: 'implemented',
  failed: 'failed',
  rolled_back: 'rolled back',
  reviewed: 'reviewed',
  closed: 'closed',
  cancelled: 'cancelled',
};

/** "CHG-12". */
export function changeRef(n: number): string {
  return `CHG-${n}`;
}

/** The number of "CHG-12", "chg-12" or "12"; undefined for anything else. */
export function parseChangeRef(text: string): number | undefined {
  const m = /^(?:chg-)?(\d{1,9})$/i.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}

/** The status a new change starts in: a standard change is pre-approved by its catalogue entry. */
export function initialStatus(type: ChangeType): ChangeStatus {
  return type === 'standard' ? 'approved' : 'pending';
}

/** What can be done to a change; `done` carries an outcome, `edit` may send it back for approval. */
export const CHANGE_ACTIONS = ['approve', 'reject', 'defer', 'schedule', 'start', 'done', 'rollback', 'review', 'close', 'edit', 'cancel'] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

/**
 * The transition table. `to` is the status after the action; `same` keeps it (defer: back to the next
 * CAB, still pending; edit: unless it voids the approval, see `needsReapproval`); `outcome` is
 * implemented or failed, from `done success|failed`.
 *
 * | action   | from                                  | to                           |
 * |----------|---------------------------------------|------------------------------|
 * | approve  | pending                               | approved                     |
 * | reject   | pending                               | rejected                     |
 * | defer    | pending                               | pending (next CAB)           |
 * | schedule | approved, scheduled                   | scheduled                    |
 * | start    | approved, scheduled                   | implementing                 |
 * | done     | implementing                          | implemented / failed         |
 * | rollback | implementing, implemented, failed     | rolled_back                  |
 * | review   | implemented, failed, rolled_back      | reviewed                     |
 * | close    | implemented (no review due), reviewed | closed                       |
 * | edit     | pending, approved, scheduled          | same, or pending if re-approval is needed |
 * | cancel   | pending, approved, scheduled          | cancelled                    |
 */
export const TRANSITIONS: Record<ChangeAction, { from: readonly ChangeStatus[]; to: ChangeStatus | 'same' | 'outcome' }> = {
  approve: { from: ['pending'], to: 'approved' },
  reject: { from: ['pending'], to: 'rejected' },
  defer: { from: ['pending'], to: 'same' },
  schedule: { from: ['approved', 'scheduled'], to: 'scheduled' },
  start: { from: ['approved', 'scheduled'], to: 'implementing' },
  done: { from: ['implementing'], to: 'outcome' },
  rollback: { from: ['implementing', 'implemented', 'failed'], to: 'rolled_back' },
  review: { from: ['implemented', 'failed', 'rolled_back'], to: 'reviewed' },
  close: { from: ['implemented', 'reviewed'], to: 'closed' },
  edit: { from: ['pending', 'approved', 'scheduled'], to: 'same' },
  cancel: { from: ['pending', 'approved', 'scheduled'], to: 'cancelled' },
};

/** The actions the table allows from a status, in table order. */
export function allowedActions(status: ChangeStatus): ChangeAction[] {
  return CHANGE_ACTIONS.filter((a) => TRANSITIONS[a].from.includes(status));
}

/** Is a post-implementation review mandatory? After an emergency change, and after a failure or a rollback. */
export function reviewRequired(change: { type: ChangeType; status: ChangeStatus; outcome?: Outcome | null }): boolean {
  return change.type === 'emergency' || change.status === 'failed' || change.status === 'rolled_back' || change.outcome === 'failed' || change.outcome === 'rolled_back';
}

/** How a change ended. */
export type Outcome = 'success' | 'failed' | 'rolled_back';

const orList = (items: readonly string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`);

/**
 * May this action be taken on a change in this status, and to which status does it lead? A refusal
 * names the state and what applies instead: "CHG-4 is implementing; only done or rollback apply now".
 */
export function transition(
  change: { ref: string; type: ChangeType; status: ChangeStatus },
  action: ChangeAction,
  opts: { outcome?: 'success' | 'failed'; reapprove?: boolean } = {},
): { ok: true; to: ChangeStatus } | { ok: false; reason: string } {
  const { ref, status } = change;
  const rule = TRANSITIONS[action];
  if (!rule.from.includes(status)) {
    if (status === 'closed') return { ok: false, reason: `${ref} is closed; nothing more can be done with it (open a new one with /change new)` };
    if (status === 'rejected' || status === 'cancelled') return { ok: false, reason: `${ref} was ${status}; nothing more can be done with it (open a new one with /change new)` };
    const allowed = allowedActions(status);
    return { ok: false, reason: `${ref} is ${STATUS_LABEL[status]}; only ${orList(allowed)} ${allowed.length === 1 ? 'applies' : 'apply'} now` };
  }
  if (action === 'close' && status === 'implemented' && reviewRequired(change)) {
    return { ok: false, reason: `${ref} needs its post-implementation review before it closes: /change review ${ref} <notes>` };
  }
  if (rule.to === 'outcome') {
    if (!opts.outcome) return { ok: false, reason: `say how it went: /change done ${ref} success|failed [notes]` };
    return { ok: true, to: opts.outcome === 'success' ? 'implemented' : 'failed' };
  }
  if (rule.to === 'same') return { ok: true, to: action === 'edit' && opts.reapprove && status !== 'pending' ? 'pending' : status };
  return { ok: true, to: rule.to };
}

// ---------------------------------------------------------------------------------------------
// Risk

export type Level3 = 'low' | 'medium' | 'high';
export type Downtime = 'none' | 'minutes' | 'hours';
export type AffectedUsers = 'none' | 'some' | 'many' | 'all';
export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

/** The form's risk fields: impact, likelihood of failure, downtime (a bucket or an estimate in minutes), affected users. */
export interface RiskInput {
  impact: Level3;
  risk: Level3;
  downtime: Downtime | number;
  affectedUsers: AffectedUsers;
}

/**
 * The risk rule table. Each answer of the form gives points; the score is their product (1–108);
 * the level is the first band the score falls in.
 *
 * | factor          | points                                                          |
 * |-----------------|-----------------------------------------------------------------|
 * | impact          | low 1 · medium 2 · high 3                                       |
 * | risk of failure | low 1 · medium 2 · high 3                                       |
 * | downtime        | none 1 · minutes (1–59 min) 2 · hours (60 min or more) 3        |
 * | affected users  | none 1 · some 2 · many 3 · all 4                                |
 *
 * | score  | level    |
 * |--------|----------|
 * | 1–7    | low      |
 * | 8–17   | medium   |
 * | 18–47  | high     |
 * | 48–108 | critical |
 *
 * For example: medium impact, medium risk, minutes of downtime, some users: 2 × 2 × 2 × 2 = 16, medium;
 * high impact, medium risk, no downtime, many users: 3 × 2 × 1 × 3 = 18, high;
 * medium, medium, hours of downtime, all users: 2 × 2 × 3 × 4 = 48, critical.
 */
export const RISK_TABLE = {
  impact: { low: 1, medium: 2, high: 3 },
  risk: { low: 1, medium: 2, high: 3 },
  downtime: { none: 1, minutes: 2, hours: 3 },
  affectedUsers: { none: 1, some: 2, many: 3, all: 4 },
  /** Downtime estimates: 0 minutes is none, under this many is minutes, this many or more is hours. */
  hoursFromMinutes: 60,
  levels: [
    { level: 'low', min: 1, max: 7 },
    { level: 'medium', min: 8, max: 17 },
    { level: 'high', min: 18, max: 47 },
    { level: 'critical', min: 48, max: 108 },
  ],
} as const satisfies {
  impact: Record<Level3, number>;
  risk: Record<Level3, number>;
  downtime: Record<Downtime, number>;
  affectedUsers: Record<AffectedUsers, number>;
  hoursFromMinutes: number;
  levels: readonly { level: RiskLevel; min: number; max: number }[];
};

/** The downtime bucket of an answer or an estimate in minutes. */
export function downtimeBucket(downtime: Downtime | number): Downtime {
  if (typeof downtime !== 'number') return downtime;
  if (downtime <= 0) return 'none';
  return downtime < RISK_TABLE.hoursFromMinutes ? 'minutes' : 'hours';
}

export interface RiskAssessment {
  score: number;
  level: RiskLevel;
  /** Each factor with its answer and points, in table order. */
  factors: { factor: 'impact' | 'risk' | 'downtime' | 'affectedUsers'; answer: string; points: number }[];
  /** The computation in words, for the card: "impact high: 3", …, "3 × 2 × 1 × 3 = 18: high (18–47)". */
  reasons: string[];
}

/** Scores a change by the rule table (RISK_TABLE): the product of the points of its four answers, and its level. */
export function assessRisk(input: RiskInput): RiskAssessment {
  const bucket = downtimeBucket(input.downtime);
  const downtimeAnswer = typeof input.downtime === 'number' ? `${bucket} (${input.downtime} min)` : bucket;
  const factors: RiskAssessment['factors'] = [
    { factor: 'impact', answer: input.impact, points: RISK_TABLE.impact[input.impact] },
    { factor: 'risk', answer: input.risk, points: RISK_TABLE.risk[input.risk] },
    { factor: 'downtime', answer: downtimeAnswer, points: RISK_TABLE.downtime[bucket] },
    { factor: 'affectedUsers', answer: input.affectedUsers, points: RISK_TABLE.affectedUsers[input.affectedUsers] },
  ];
  const score = factors.reduce((n, f) => n * f.points, 1);
  const band = RISK_TABLE.levels.find((b) => score <= b.max) ?? RISK_TABLE.levels[3];
  const names = { impact: 'impact', risk: 'risk of failure', downtime: 'downtime', affectedUsers: 'affected users' } as const;
  return {
    score,
    level: band.level,
    factors,
    reasons: [...factors.map((f) => `${names[f.factor]} ${f.answer}: ${f.points}`), `${factors.map((f) => f.points).join(' × ')} = ${score}: ${band.level} (${band.min}–${band.max})`],
  };
}

// ---------------------------------------------------------------------------------------------
// Checklist

export interface ChecklistItem {
  id: string;
  text: string;
  done: boolean;
  /** Who ticked it, and when (absent while unticked). */
  by?: string;
  at?: Date;
}

type CatalogueEntry = ChangePolicy['changes']['standardCatalogue'][number];

/** A standard change's catalogue entry by id, or a refusal naming the ids there are. */
export function findCatalogueEntry(policy: ChangePolicy, id: string): { ok: true; entry: CatalogueEntry } | { ok: false; reason: string } {
  const catalogue = policy.changes.standardCatalogue;
  const entry = catalogue.find((e) => e.id === id);
  if (entry) return { ok: true, entry };
  if (catalogue.length === 0) return { ok: false, reason: 'the standard change catalogue is empty (changes.standardCatalogue in the policy file); ask for a normal change instead' };
  return { ok: false, reason: `"${id}" is not in the standard change catalogue; pick one of ${catalogue.map((e) => e.id).join(', ')}, or ask for a normal change` };
}

/**
 * A fresh, unticked checklist for a change: the catalogue entry's own checklist for a standard change
 * that has one, otherwise the policy's template for its type (changes.checklists).
 */
export function checklistFor(policy: ChangePolicy, change: { type: ChangeType; catalogueId?: string | null }): ChecklistItem[] {
  const entry = change.type === 'standard' && change.catalogueId ? policy.changes.standardCatalogue.find((e) => e.id === change.catalogueId) : undefined;
  const template = entry?.checklist ?? policy.changes.checklists[change.type];
  return template.map((i) => ({ id: i.id, text: i.text, done: false }));
}

/** Ticks (or, with done false, unticks) one item; a new list, or a refusal for an unknown item. */
export function tickItem(checklist: readonly ChecklistItem[], id: string, by: string, at: Date, done = true): { ok: true; checklist: ChecklistItem[] } | { ok: false; reason: string } {
  if (!checklist.some((i) => i.id === id)) return { ok: false, reason: `the checklist has no item "${id}" (it has ${checklist.map((i) => i.id).join(', ') || 'none'})` };
  return { ok: true, checklist: checklist.map((i) => (i.id !== id ? { ...i } : done ? { id: i.id, text: i.text, done: true, by, at } : { id: i.id, text: i.text, done: false })) };
}

/** Unticks one item (clearing who ticked it and when); a new list, or a refusal for an unknown item. */
export function untickItem(checklist: readonly ChecklistItem[], id: string): { ok: true; checklist: ChecklistItem[] } | { ok: false; reason: string } {
  return tickItem(checklist, id, '', new Date(0), false);
}

/** Is every item ticked? (An empty checklist is complete.) */
export function complete(checklist: readonly ChecklistItem[]): boolean {
  return checklist.every((i) => i.done);
}

/** "5/8 ticked". */
export function checklistProgress(checklist: readonly ChecklistItem[]): string {
  return `${checklist.filter((i) => i.done).length}/${checklist.length} ticked`;
}

/**
 * May the change start? Its status must allow it, and its checklist must be complete; an emergency
 * change starts with an incomplete checklist, flagged with the items left open.
 */
export function checkStart(change: {
  ref: string;
  type: ChangeType;
  status: ChangeStatus;
  checklist: readonly ChecklistItem[];
}): { ok: true; flags: { checklistIncomplete?: string[] } } | { ok: false; reason: string } {
  const t = transition(change, 'start');
  if (!t.ok) return t;
  const open = change.checklist.filter((i) => !i.done);
  if (open.length === 0) return { ok: true, flags: {} };
  if (change.type === 'emergency') return { ok: true, flags: { checklistIncomplete: open.map((i) => i.id) } };
  return { ok: false, reason: `${change.ref} cannot start until its go/no-go checklist is complete (${checklistProgress(change.checklist)}); still open: ${open.map((i) => i.text).join('; ')}` };
}

// ---------------------------------------------------------------------------------------------
// Approval routes

/** The CAB as one quorum step: a requirement per seat, labelled with the seat's name. */
export function cabRoute(policy: ChangePolicy): Route {
  const { seats, quorum } = policy.changes.cab;
  return { steps: [{ name: 'CAB', quorum, require: seats.map((s) => ({ anyOf: s.anyOf, count: s.count, label: s.name, ...(s.required ? { required: true } : {}) })) }] };
}

/** The route of "Ask for an exception": every requirement of changes.exceptions.approvers, in one step. */
export function exceptionRoute(policy: ChangePolicy): Route {
  return { steps: [{ name: 'Exception', require: policy.changes.exceptions.approvers.map((r) => ({ ...r })) }] };
}

export interface EmergencyApproval {
  /** One step: one approval from any of the approvers. */
  route: Route<Approver>;
  /** How long the approval may take, and when it is due. */
  within: number;
  dueAt: Date;
  /** Which entry of changes.emergency.approval applied. */
  basis: Severity | 'otherwise';
  /** "P1: one of tech_lead, within 2h". */
  text: string;
}

/**
 * The expedited approval of an emergency change, by the severity of its linked incident (null when
 * none is linked): changes.emergency.approval[severity], or its `otherwise` entry.
 */
export function emergencyApproval(policy: ChangePolicy, severity: Severity | null, requestedAt: Date): EmergencyApproval {
  const table = policy.changes.emergency.approval;
  const entry = severity ? table[severity] : undefined;
  const basis: Severity | 'otherwise' = entry && severity ? severity : 'otherwise';
  const chosen = entry ?? table.otherwise;
  return {
    route: { steps: [{ name: `Emergency (${basis})`, require: [{ anyOf: chosen.approvers, count: 1 }] }] },
    within: chosen.within,
    dueAt: new Date(requestedAt.getTime() + chosen.within),
    basis,
    text: `${basis === 'otherwise' ? (severity ? `${severity} (otherwise)` : 'no linked incident (otherwise)') : basis}: one of ${chosen.approvers.join(', ')}, within ${formatDuration(chosen.within)}`,
  };
}

/**
 * A voter's approver roles on one change: their Muster roles, plus incident_commander when they hold
 * the commander role of the incident the change is linked to.
 */
export function approverRoles(roles: readonly Role[], userId: string, incident?: { commanderId?: string | null } | null): Approver[] {
  return incident?.commanderId && incident.commanderId === userId ? [...roles, INCIDENT_COMMANDER] : [...roles];
}

/** The approval route of a change by type: none for standard (pre-approved), the CAB for normal, the expedited route for emergency. */
export function changeRoute(policy: ChangePolicy, type: ChangeType, severity: Severity | null, requestedAt: Date): Route<Approver> {
  if (type === 'standard') return { steps: [] };
  if (type === 'normal') return cabRoute(policy);
  return emergencyApproval(policy, severity, requestedAt).route;
}

/** When the approval of a change is due: CAB requests after changes.cab.overdueAfter, emergency ones by severity; null for standard. */
export function approvalDueAt(policy: ChangePolicy, change: { type: ChangeType; requestedAt: Date; severity?: Severity | null }): Date | null {
  if (change.type === 'standard') return null;
  if (change.type === 'emergency') return emergencyApproval(policy, change.severity ?? null, change.requestedAt).dueAt;
  return new Date(change.requestedAt.getTime() + policy.changes.cab.overdueAfter);
}

// ---------------------------------------------------------------------------------------------
// Re-approval

/** What an approval covers: the window, the scope (environment and systems) and the risk answers. */
export interface ApprovedScope {
  start: Date;
  end: Date;
  environment: string;
  systems: readonly string[];
  risk: RiskInput;
}

/**
 * Does an edit void the votes of an approved change? Yes when it moves the window, changes the
 * environment or the systems, or changes any risk answer; the reasons say what changed, in words.
 */
export function needsReapproval(before: ApprovedScope, after: ApprovedScope, timeZone = 'UTC'): { reapprove: boolean; reasons: string[] } {
  const reasons: string[] = [];
  const day = (d: Date) => formatLocal(d, timeZone, 'yyyy-MM-dd');
  const span = (s: ApprovedScope) => `${formatLocal(s.start, timeZone)}–${formatLocal(s.end, timeZone, day(s.start) === day(s.end) ? 'HH:mm' : 'yyyy-MM-dd HH:mm')}`;
  if (before.start.getTime() !== after.start.getTime() || before.end.getTime() !== after.end.getTime()) {
    reasons.push(`the window moved from ${span(before)} to ${span(after)}`);
  }
  if (before.environment !== after.environment) reasons.push(`the environment changed from ${before.environment} to ${after.environment}`);
  const added = after.systems.filter((s) => !before.systems.includes(s));
  const removed = before.systems.filter((s) => !after.systems.includes(s));
  if (added.length || removed.length) {
    reasons.push(`the systems changed (${[added.length ? `added ${added.join(', ')}` : '', removed.length ? `removed ${removed.join(', ')}` : ''].filter(Boolean).join('; ')})`);
  }
  const keys = ['impact', 'risk', 'downtime', 'affectedUsers'] as const;
  const names = { impact: 'impact', risk: 'risk of failure', downtime: 'downtime', affectedUsers: 'affected users' } as const;
  const show = (k: (typeof keys)[number], v: RiskInput[typeof k]) => (k === 'downtime' && typeof v === 'number' ? `${v} min` : String(v));
  const changed = keys.filter((k) => before.risk[k] !== after.risk[k]);
  if (changed.length) {
    const a = assessRisk(before.risk);
    const b = assessRisk(after.risk);
    reasons.push(`the risk assessment changed (${changed.map((k) => `${names[k]} ${show(k, before.risk[k])} → ${show(k, after.risk[k])}`).join(', ')}; ${a.level} ${a.score} → ${b.level} ${b.score})`);
  }
  return { reapprove: reasons.length > 0, reasons };
}

// ---------------------------------------------------------------------------------------------
// KPIs

/** What the KPIs read of a change. */
export interface ChangeRecord {
  type: ChangeType;
  createdAt: Date;
  /** When it was approved (null while pending, and for standard changes, which need no approval). */
  approvedAt?: Date | null;
  /** When its approval was due (`approvalDueAt`); absent: createdAt + KPI_TARGETS.approvalMs. */
  approvalDueAt?: Date | null;
  /** When `done` or `rollback` recorded its outcome. */
  finishedAt?: Date | null;
  outcome?: Outcome | null;
}

/** The targets of the governance documents (on-time approvals: Muster's own target, see docs/changes.md). */
export const KPI_TARGETS = {
  successRate: 0.99,
  rollbackRate: 0.02,
  emergencyShare: 0.05,
  approvalMs: 4 * 3_600_000,
  onTimeApprovals: 0.95,
} as const;

export interface Kpi {
  /** A fraction (0–1) for rates and shares, milliseconds for the median approval time; null with no data. */
  value: number | null;
  target: number;
  /** 'above' the target is good, or 'below' it. */
  better: 'above' | 'below';
  /** null when there is no data to judge. */
  met: boolean | null;
  /** How many changes it is computed over. */
  count: number;
  /** "99.2% (target > 99%)", "2h 10m (target < 4h)", "no data". */
  text: string;
}

export interface ChangeKpis {
  from: Date;
  to: Date;
  successRate: Kpi;
  rollbackRate: Kpi;
  emergencyShare: Kpi;
  medianApprovalTime: Kpi;
  onTimeApprovals: Kpi;
}

/** A percentage with as few digits as tell it apart from `target` (99.005%, not 99%, against > 99%). */
const pct = (x: number, target?: number) => {
  for (let digits = 1; digits < 6; digits++) {
    const f = 10 ** digits;
    const shown = Math.round(x * 100 * f) / f;
    if (target === undefined || x === target || shown !== Math.round(target * 100 * f) / f) return `${shown}%`;
  }
  return `${x * 100}%`;
};
const hm = (ms: number) => {
  const m = Math.round(ms / 60_000);
  return m >= 60 ? `${Math.floor(m / 60)}h${m % 60 ? ` ${m % 60}m` : ''}` : `${m}m`;
};
function kpi(value: number | null, count: number, target: number, better: 'above' | 'below', show: (x: number, target?: number) => string): Kpi {
  const met = value === null ? null : better === 'above' ? value > target : value < target;
  const text = value === null ? `no data (target ${better === 'above' ? '>' : '<'} ${show(target)})` : `${show(value, target)} (target ${better === 'above' ? '>' : '<'} ${show(target)})`;
  return { value, target, better, met, count, text };
}
function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The change KPIs over the `windowMs` before `now`, each against its target: success rate and rollback
 * rate over the changes finished in the window (success > 99 %, rollback < 2 %); emergency share over
 * the changes requested in it (< 5 %); median approval time and on-time share over the normal and
 * emergency changes approved in it (< 4 h; on time when approved by their due time, > 95 %).
 */
export function changeKpis(changes: readonly ChangeRecord[], now: Date, windowMs: number): ChangeKpis {
  const from = new Date(now.getTime() - windowMs);
  const inWindow = (d: Date | null | undefined): d is Date => !!d && d >= from && d <= now;
  const finished = changes.filter((c) => inWindow(c.finishedAt) && c.outcome);
  const requested = changes.filter((c) => inWindow(c.createdAt));
  const approved = changes.filter((c) => c.type !== 'standard' && inWindow(c.approvedAt));
  const share = (n: number, d: number) => (d === 0 ? null : n / d);
  const waits = approved.map((c) => c.approvedAt!.getTime() - c.createdAt.getTime());
  const onTime = approved.filter((c) => c.approvedAt!.getTime() <= (c.approvalDueAt ?? new Date(c.createdAt.getTime() + KPI_TARGETS.approvalMs)).getTime());
  return {
    from,
    to: now,
    successRate: kpi(share(finished.filter((c) => c.outcome === 'success').length, finished.length), finished.length, KPI_TARGETS.successRate, 'above', pct),
    rollbackRate: kpi(share(finished.filter((c) => c.outcome === 'rolled_back').length, finished.length), finished.length, KPI_TARGETS.rollbackRate, 'below', pct),
    emergencyShare: kpi(share(requested.filter((c) => c.type === 'emergency').length, requested.length), requested.length, KPI_TARGETS.emergencyShare, 'below', pct),
    medianApprovalTime: kpi(median(waits), waits.length, KPI_TARGETS.approvalMs, 'below', hm),
    onTimeApprovals: kpi(share(onTime.length, approved.length), approved.length, KPI_TARGETS.onTimeApprovals, 'above', pct),
  };
}
