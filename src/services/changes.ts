import { randomUUID } from 'node:crypto';
import type { Severity } from '../config/policy.ts';
import {
  assessRisk,
  changeRef,
  checklistFor,
  checklistProgress,
  checkStart,
  emergencyApproval,
  exceptionRoute,
  cabRoute,
  findCatalogueEntry,
  INCIDENT_COMMANDER,
  initialStatus,
  needsReapproval,
  parseChangeRef,
  reviewRequired,
  STATUS_LABEL,
  tickItem,
  transition,
  untickItem,
  type AffectedUsers,
  type ChangeAction,
  type ChangeStatus,
  type ChangeType,
  type ChecklistItem,
  type Downtime,
  type Level3,
  type RiskAssessment,
  type RiskInput,
} from '../domain/change.ts';
import {
  calendarDays,
  checkFreezeRequest,
  checkSchedule,
  type CalendarDay,
  checkWindowInput,
  formatLocal,
  freezePeriods,
  isCritical,
  parseUntil,
  type FreezePeriod,
  type LinkedIncident,
  type Problem,
  type RuntimeFreeze,
  type ScheduleFlags,
} from '../domain/windows.ts';
import { formatDuration, parseDuration } from '../domain/duration.ts';
import { incidentRef } from '../domain/incident.ts';
import { code, decodeNullable, decodeText, emoji, encodeText, joinText, mention, mentionList, plainText, rt, strong, time, trimText, type Text } from '../domain/text.ts';
import { sqlOf, type Tx } from '../store/db.ts';
import { nextNumber } from '../store/identity.ts';
import { ref } from '../store/outbox.ts';
import type { SurfaceRef } from '../platforms/effects.ts';
import type { TimerRow } from '../store/timers.ts';
import type { ApprovalRow, ApprovalService, ApprovalView } from './approvals.ts';
import { Refusal, UsageError } from './errors.ts';
import { externalOf } from './incidentViews.ts';
import type { Kernel, Unit } from './kernel.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';
import type { IncidentService } from './incidents.ts';

type ChangeRow = NonNullable<Awaited<ReturnType<Tx['changeRequest']['findUnique']>>>;

/** What the change form (or a command) gives: every field of PRODUCT.md's change request. */
export interface ChangeInput {
  type: ChangeType;
  title: Text;
  description?: Text;
  reason?: Text;
  environment: string;
  systems: string[];
  impact: Level3;
  risk: Level3;
  affectedUsers: AffectedUsers;
  downtime: Downtime;
  downtimeMinutes?: number;
  /** The proposed window (standard changes may leave it out: they run when their implementer says). */
  windowStart?: Date;
  windowEnd?: Date;
  rollbackPlan?: Text;
  rollbackTested: boolean;
  /** Platform id of the implementer (default: the requester). */
  implementer?: string;
  /** A standard change's catalogue entry. */
  catalogueId?: string;
  /** `INC-n` it is raised for (besides the incident channel it is asked in). */
  incident?: string;
}

/** The change form's fields as typed (strings; `fromForm` checks them). */
export interface ChangeFormValues {
  title: string;
  description: string;
  reason: string;
  environment: string;
  systems: string;
  impact: string;
  risk: string;
  affectedUsers: string;
  downtime: string;
  downtimeMinutes: string;
  windowStart: string;
  windowLength: string;
  rollbackPlan: string;
  rollbackTested: string;
  catalogue: string;
  incident: string;
}

const LEVELS = ['low', 'medium', 'high'] as const;
const USERS = ['none', 'some', 'many', 'all'] as const;
const DOWNTIMES = ['none', 'minutes', 'hours'] as const;

/** One of a change's flags, as the card and the audit trail show it. */
export interface ChangeFlag {
  code: 'outside_window' | 'in_freeze' | 'critical_window' | 'exception' | 'checklist_incomplete' | 'outside_approved_window' | 'not_enforced' | 'reapproval';
  text: string;
}

/** A change as its card, `/change show` and the evidence read it. */
export interface ChangeView {
  id: string;
  ref: string;
  type: ChangeType;
  status: ChangeStatus;
  title: Text;
  description: Text | null;
  reason: Text | null;
  environment: string;
  systems: string[];
  risk: RiskAssessment;
  riskInput: RiskInput;
  windowStart: Date | null;
  windowEnd: Date | null;
  timeZone: string;
  rollbackPlan: Text | null;
  rollbackTested: boolean;
  requester: string;
  implementer: string | null;
  incident: { id: string; ref: string; severity: string; status: string; channelId: string | null } | null;
  catalogueId: string | null;
  checklist: ChecklistItem[];
  flags: ChangeFlag[];
  /** Why its window cannot be used as asked, and the next open slot (while so). */
  windowProblem: { problems: string[]; nextOpen: { start: Date; end: Date } | null } | null;
  /** The CAB or emergency round deciding it, if any. */
  round: ApprovalView | null;
  /** An exception asked for its window, if any. */
  exception: ApprovalView | null;
  /** Freezes now declared that cover its environment and window. */
  freezes: FreezePeriod[];
  outcome: string | null;
  rollbackReason: Text | null;
  deferReason: Text | null;
  deferredAt: Date | null;
  implementationNotes: Text | null;
  verificationNotes: Text | null;
  reviewNotes: Text | null;
  reviewDue: boolean;
  reviewDueAt: Date | null;
  /** What the buttons offer now. */
  canVote: boolean;
  canAskException: boolean;
  createdAt: Date;
  decidedAt: Date | null;
  startedAt: Date | null;
  implementedAt: Date | null;
  reviewedAt: Date | null;
  closedAt: Date | null;
  /** The incidents it is linked to as a suspected cause (`/incident link`); a private one is not named. */
  suspectedOf: string[];
}

/** A change on the calendar. */
export interface CalendarChange {
  id: string;
  ref: string;
  title: string;
  type: ChangeType;
  status: ChangeStatus;
  environment: string;
  riskLevel: string;
  start: Date;
  end: Date;
  updatedAt: Date;
}

export const timerKeysChange = {
  verify: (id: string, i: number) => `change:${id}:verify:${i}`,
  review: (id: string) => `change:${id}:review`,
};

const USAGE = {
  new: '/change new [standard|normal|emergency]',
  start: '/change start CHG-n',
  done: '/change done CHG-n <success|failed> [notes]',
  rollback: '/change rollback CHG-n <reason>',
  review: '/change review CHG-n <notes>',
  freeze: '/change freeze <environment|all> <until> <reason>',
  unfreeze: '/change unfreeze <environment|all>',
};

const json = <T>(s: string | null | undefined, fallback: T): T => {
  if (!s) return fallback;
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
};

/** Checklist items as stored (dates as ISO strings). */
function readChecklist(s: string): ChecklistItem[] {
  return json<(Omit<ChecklistItem, 'at'> & { at?: string })[]>(s, []).map((i) => ({ ...i, ...(i.at ? { at: new Date(i.at) } : {}) }) as ChecklistItem);
}

/**
 * Change requests (CHG-n): standard ones pre-approved from the catalogue, normal ones through the
 * CAB, emergency ones through the expedited route of their incident's severity, all on the approvals
 * engine; windows and freezes enforced; a go/no-go checklist before Start; verification and the
 * post-implementation review after. Every transition is audited with the change's state before and after.
 */
export class ChangeService {
  constructor(
    private readonly k: Kernel,
    private readonly approvals: ApprovalService,
    /** "What changed" on incident cards: redrawn when a change is raised in an incident or carried out. */
    private readonly incidents?: Pick<IncidentService, 'redrawForChange' | 'noteChange'>,
  ) {
    approvals.registerSubject('change', {
      extraRoles: async (tx, row) => {
        const commander = await this.commanderOf(tx, row);
        return (userId) => (commander !== null && commander === userId ? [INCIDENT_COMMANDER] : []);
      },
      extraEligible: async (tx, row) => {
        const commander = await this.commanderOf(tx, row);
        return commander ? [commander] : [];
      },
      dmSurface: (row) => (row.subjectId ? { kind: 'change.card', changeId: row.subjectId } : undefined),
      escalation: (row) => this.roundEscalation(row),
      voted: async (u, row) => this.onRoundVoted(u, row),
      decided: async (u, row, status, actor, reason) => this.onRoundDecided(u, row, status, actor, reason),
    });
    approvals.registerSubject('exception', {
      voted: async (u, row) => {
        if (row.subjectType === 'change' && row.subjectId) await this.redraw(u, row.subjectId);
      },
      decided: async (u, row, status, actor, reason) => this.onExceptionDecided(u, row, status, actor, reason),
    });
  }

  private get policy() {
    return this.k.policy;
  }

  private get zone() {
    return this.policy.organization.timeZone;
  }

  // ---------------------------------------------------------------- reading

  private async load(tx: Tx, actor: Actor, refText: string, usage?: string): Promise<ChangeRow> {
    const n = parseChangeRef(refText);
    if (n === undefined) throw new UsageError(`"${refText}" is not a change request: write CHG-n.`, usage);
    const row = await tx.changeRequest.findUnique({ where: { workspaceId_number: { workspaceId: actor.workspaceId, number: n } } });
    if (!row) throw new Refusal(`${changeRef(n)} does not exist.`);
    return row;
  }

  private async byId(tx: Tx, actor: Actor, id: string): Promise<ChangeRow> {
    const row = await tx.changeRequest.findUnique({ where: { id } });
    if (!row || row.workspaceId !== actor.workspaceId) throw new Refusal('That change request does not exist.');
    return row;
  }

  /** Locks the change row for the rest of the transaction (PostgreSQL; SQLite writes are serial). */
  private async lock(tx: Tx, id: string): Promise<void> {
    if (this.k.db.provider === 'postgresql') await sqlOf(tx).run('SELECT 1 FROM change_requests WHERE id = ? FOR UPDATE', id);
  }

  /** The internal user id of the commander of the incident a round's change is linked to. */
  private async commanderOf(tx: Tx, round: ApprovalRow): Promise<string | null> {
    if (round.subjectType !== 'change' || !round.subjectId) return null;
    const change = await tx.changeRequest.findUnique({ where: { id: round.subjectId }, select: { incidentId: true, type: true } });
    if (!change?.incidentId || change.type !== 'emergency') return null;
    const role = await tx.incidentRole.findFirst({ where: { incidentId: change.incidentId, role: 'commander', relievedAt: null }, orderBy: { assumedAt: 'desc' } });
    return role?.userId ?? null;
  }

  private async freezesOf(tx: Tx, workspaceId: string, now: Date): Promise<RuntimeFreeze[]> {
    const rows = await tx.changeFreeze.findMany({ where: { workspaceId, liftedAt: null, endsAt: { gt: now } } });
    return rows.map((f) => ({ environment: f.environment, start: f.startsAt, end: f.endsAt, reason: f.reason }));
  }

  private async linkedIncident(tx: Tx, incidentId: string | null) {
    if (!incidentId) return null;
    const inc = await tx.incident.findUnique({ where: { id: incidentId } });
    return inc ? { id: inc.id, ref: incidentRef(inc.number), severity: inc.severity, status: inc.status, channelId: inc.channelId } : null;
  }

  async view(tx: Tx, row: ChangeRow): Promise<ChangeView> {
    const now = this.k.clock.now();
    const riskInput: RiskInput = {
      impact: row.impact as Level3,
      risk: row.risk as Level3,
      affectedUsers: row.affectedUsers as AffectedUsers,
      downtime: row.downtimeMinutes ?? (row.downtime ? 'minutes' : 'none'),
    };
    const incident = await this.linkedIncident(tx, row.incidentId);
    const suspects = await tx.changeIncidentLink.findMany({ where: { changeId: row.id, kind: 'suspected_cause' }, select: { incidentId: true } });
    const suspectedOf = suspects.length
      ? (await tx.incident.findMany({ where: { id: { in: suspects.map((l) => l.incidentId) } }, orderBy: { number: 'asc' } })).map((i) => (i.isPrivate ? 'a private incident' : incidentRef(i.number)))
      : [];
    const round = row.approvalId ? await this.approvals.roundView(tx, row.approvalId) : null;
    const exception = row.exceptionId ? await this.approvals.roundView(tx, row.exceptionId) : null;
    const freezes =
      row.windowStart && row.windowEnd && !['implemented', 'failed', 'rolled_back', 'reviewed', 'closed', 'rejected', 'cancelled'].includes(row.status)
        ? freezePeriods(this.policy, await this.freezesOf(tx, row.workspaceId, now), row.windowStart, row.windowEnd, row.environment).filter((p) => p.kind === 'freeze')
        : [];
    const status = row.status as ChangeStatus;
    const type = row.type as ChangeType;
    const problem = json<{ problems: string[]; nextOpen: { start: string; end: string } | null } | null>(row.windowProblem, null);
    return {
      id: row.id,
      ref: changeRef(row.number),
      type,
      status,
      title: decodeText(row.title),
      description: decodeNullable(row.description),
      reason: decodeNullable(row.reason),
      environment: row.environment,
      systems: json<string[]>(row.systems, []),
      risk: assessRisk(riskInput),
      riskInput,
      windowStart: row.windowStart,
      windowEnd: row.windowEnd,
      timeZone: this.zone,
      rollbackPlan: decodeNullable(row.rollbackPlan),
      rollbackTested: row.rollbackTested,
      requester: externalOf(row.requesterId),
      implementer: row.implementerId ? externalOf(row.implementerId) : null,
      incident,
      catalogueId: row.catalogueId,
      checklist: readChecklist(row.checklist).map((i) => (i.by ? { ...i, by: externalOf(i.by) } : i)),
      flags: json<ChangeFlag[]>(row.flags, []),
      windowProblem: problem ? { problems: problem.problems, nextOpen: problem.nextOpen ? { start: new Date(problem.nextOpen.start), end: new Date(problem.nextOpen.end) } : null } : null,
      round,
      exception,
      freezes,
      outcome: row.outcome,
      rollbackReason: decodeNullable(row.rollbackReason),
      deferReason: decodeNullable(row.deferReason),
      deferredAt: row.deferredAt,
      implementationNotes: decodeNullable(row.implementationNotes),
      verificationNotes: decodeNullable(row.verificationNotes),
      reviewNotes: decodeNullable(row.reviewNotes),
      reviewDue: reviewRequired({ type, status, outcome: row.outcome as 'success' | 'failed' | 'rolled_back' | null }) && !row.reviewedAt && ['implemented', 'failed', 'rolled_back'].includes(status),
      reviewDueAt: row.reviewDueAt,
      canVote: status === 'pending' && round?.status === 'pending',
      canAskException: status === 'pending' && problem !== null && (!exception || exception.status !== 'pending'),
      createdAt: row.createdAt,
      decidedAt: row.decidedAt,
      startedAt: row.startedAt,
      implementedAt: row.implementedAt,
      reviewedAt: row.reviewedAt,
      closedAt: row.closedAt,
      suspectedOf,
    };
  }

  async viewByRef(actor: Actor, refText: string): Promise<ChangeView> {
    return this.k.db.read(async (tx) => this.view(tx, await this.load(tx, actor, refText)));
  }

  /**
   * The change form's typed values as a ChangeInput: the window read in the organisation's time zone,
   * its length as a duration; a value the policy does not know is a UsageError naming it.
   */
  fromForm(type: ChangeType, f: ChangeFormValues): ChangeInput {
    const pick = <T extends string>(value: string, allowed: readonly T[], what: string): T => {
      if ((allowed as readonly string[]).includes(value)) return value as T;
      throw new UsageError(`Choose the ${what}: ${allowed.join(', ')}.`, USAGE.new);
    };
    let windowStart: Date | undefined;
    let windowEnd: Date | undefined;
    if (f.windowStart || f.windowLength) {
      const m = /^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}$/.test(f.windowStart) ? parseUntil(f.windowStart.replace(/ (\d):/, ' 0$1:'), this.k.clock.now(), this.zone) : undefined;
      if (!m) throw new UsageError(`"${f.windowStart}" is not a start: write YYYY-MM-DD HH:MM (${this.zone}).`, USAGE.new);
      const length = parseDuration(f.windowLength || '');
      if (length === undefined || length <= 0) throw new UsageError(`"${f.windowLength}" is not a window length: write e.g. 30m or 2h.`, USAGE.new);
      windowStart = m;
      windowEnd = new Date(m.getTime() + length);
    }
    const minutes = f.downtimeMinutes ? Number(f.downtimeMinutes) : undefined;
    if (minutes !== undefined && (!Number.isInteger(minutes) || minutes < 0)) throw new UsageError(`"${f.downtimeMinutes}" is not a number of minutes.`, USAGE.new);
    const incident = f.incident.trim();
    if (incident && !/^INC-[1-9]\d{0,8}$/i.test(incident)) throw new UsageError(`"${incident}" is not an incident: write INC-n.`, USAGE.new);
    return {
      type,
      title: f.title,
      ...(f.description ? { description: f.description } : {}),
      ...(f.reason ? { reason: f.reason } : {}),
      environment: f.environment,
      systems: f.systems
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
      impact: pick(f.impact, LEVELS, 'impact'),
      risk: pick(f.risk, LEVELS, 'risk of failure'),
      affectedUsers: pick(f.affectedUsers, USERS, 'affected users'),
      downtime: pick(f.downtime || 'none', DOWNTIMES, 'downtime'),
      ...(minutes !== undefined ? { downtimeMinutes: minutes } : {}),
      ...(windowStart ? { windowStart, windowEnd } : {}),
      ...(f.rollbackPlan ? { rollbackPlan: f.rollbackPlan } : {}),
      rollbackTested: f.rollbackTested === 'yes',
      ...(f.catalogue ? { catalogueId: f.catalogue } : {}),
      ...(incident ? { incident: incident.toUpperCase() } : {}),
    };
  }

  async viewById(id: string): Promise<ChangeView | null> {
    return this.k.db.read(async (tx) => {
      const row = await tx.changeRequest.findUnique({ where: { id } });
      return row ? this.view(tx, row) : null;
    });
  }

  // ---------------------------------------------------------------- cards

  /** Redraws every copy of the change card. */
  private async redraw(u: Unit, changeId: string): Promise<void> {
    const cards = await u.tx.changeCard.findMany({ where: { changeId } });
    for (const c of cards) {
      u.effects({
        op: 'updateMessage',
        after: c.effectId,
        coalesce: `card:${c.effectId}`,
        args: { channel: ref(c.effectId, 'channel'), ts: ref(c.effectId, 'ts'), surface: { kind: 'change.card', changeId } },
      });
    }
  }

  /** Posts the card where the change was asked for and in the changes channel; records each copy. */
  private async postCard(u: Unit, row: ChangeRow, where: string | null): Promise<void> {
    const surface: SurfaceRef = { kind: 'change.card', changeId: row.id };
    const places = [...new Set([where, this.policy.changes.channel].filter((x): x is string => Boolean(x)))];
    if (!places.length) places.push(externalOf(row.requesterId));
    const ids = await u.enqueue(
      ...places.map((channel) =>
        channel.startsWith('U') || channel.startsWith('W') ? { op: 'dm' as const, args: { user: channel, surface } } : { op: 'postMessage' as const, args: { channel, surface } },
      ),
    );
    for (let i = 0; i < places.length; i++) await u.tx.changeCard.create({ data: { changeId: row.id, effectId: ids[i]!, place: i === 0 ? 'origin' : 'changes-channel' } });
    await u.tx.changeRequest.update({ where: { id: row.id }, data: { cardEffectId: ids[0]! } });
  }

  /** After a round opened: approvers' DM copies of the card are the change's cards too. */
  private async adoptRoundCards(u: Unit, changeId: string, roundId: string): Promise<void> {
    const copies = await u.tx.approvalCard.findMany({ where: { requestId: roundId, place: 'subject-dm' } });
    for (const c of copies) await u.tx.changeCard.create({ data: { changeId, effectId: c.effectId, place: 'approver-dm', userId: c.userId } });
    // Votes redraw the change cards themselves: the round's rows are no longer needed for that.
    await u.tx.approvalCard.deleteMany({ where: { requestId: roundId, place: 'subject-dm' } });
  }

  // ---------------------------------------------------------------- create

  /** Checks a change's fields against the policy; bad input is a UsageError naming the field, and nothing is written. */
  private validate(input: ChangeInput, now: Date): void {
    const envs = Object.keys(this.policy.approvals.deployment.environments);
    if (!envs.includes(input.environment)) throw new UsageError(`Unknown environment "${input.environment}": the policy knows ${envs.join(', ')}.`, USAGE.new);
    const known = this.policy.approvals.deployment.components;
    const unknown = known ? input.systems.filter((s) => !known.includes(s)) : [];
    if (unknown.length) throw new UsageError(`Unknown system${unknown.length > 1 ? 's' : ''} ${unknown.map((s) => `"${s}"`).join(', ')}: the policy knows ${known!.join(', ')}.`, USAGE.new);
    if (plainText(trimText(input.title)).length === 0) throw new UsageError('A change needs a title.', USAGE.new);
    if (input.type === 'normal' && (!input.rollbackPlan || plainText(trimText(input.rollbackPlan)).length === 0)) {
      throw new UsageError('A normal change needs a rollback plan: say how you would undo it.', USAGE.new);
    }
    if (input.type !== 'standard' && (!input.windowStart || !input.windowEnd)) throw new UsageError('Give the proposed window: when it starts and how long it takes.', USAGE.new);
    if (input.windowStart && input.windowEnd) {
      const problems = checkWindowInput({ start: input.windowStart, end: input.windowEnd, now, timeZone: this.zone });
      if (problems.length) throw new UsageError(`The proposed window cannot be used: ${problems.map((p) => p.message).join('; ')}.`, USAGE.new);
    }
    if (input.type === 'standard') {
      if (!input.catalogueId) throw new UsageError('A standard change names its catalogue entry (changes.standardCatalogue).', USAGE.new);
      const entry = findCatalogueEntry(this.policy, input.catalogueId);
      if (!entry.ok) throw new UsageError(`${entry.reason[0]!.toUpperCase()}${entry.reason.slice(1)}.`, USAGE.new);
    }
  }

  /** The incident a change is raised for: named (`INC-n`), or the incident channel it is asked in. */
  private async incidentFor(tx: Tx, actor: Actor, input: ChangeInput, channelId?: string) {
    if (input.incident) {
      const n = Number(input.incident.replace(/^INC-/i, ''));
      const inc = Number.isInteger(n) ? await tx.incident.findUnique({ where: { workspaceId_number: { workspaceId: actor.workspaceId, number: n } } }) : null;
      if (!inc) throw new UsageError(`${input.incident.toUpperCase()} does not exist.`, USAGE.new);
      return inc;
    }
    return channelId ? tx.incident.findFirst({ where: { workspaceId: actor.workspaceId, channelId } }) : null;
  }

  async create(actor: Actor, meta: RequestMeta, input: ChangeInput): Promise<Reply> {
    const now = this.k.clock.now();
    this.validate(input, now);
    return this.k.run(actor, meta, async (u) => {
      const incident = await this.incidentFor(u.tx, actor, input, meta.channelId);
      if (input.type === 'emergency' && incident && ['closed'].includes(incident.status)) throw new Refusal(`${incidentRef(incident.number)} is closed; an emergency change needs an open incident.`);
      const number = await nextNumber(u.tx, actor.workspaceId, 'CHG');
      const id = randomUUID();
      const refName = changeRef(number);
      const riskInput: RiskInput = { impact: input.impact, risk: input.risk, affectedUsers: input.affectedUsers, downtime: input.downtimeMinutes ?? input.downtime };
      const risk = assessRisk(riskInput);
      const implementer = input.implementer ? `${actor.workspaceId}:${input.implementer}` : actor.userId;
      const checklist = checklistFor(this.policy, { type: input.type, catalogueId: input.catalogueId });
      // Windows and freezes: a normal or standard change outside them waits for an exception; an emergency one is flagged.
      const linked: LinkedIncident[] = incident ? [{ ref: incidentRef(incident.number), severity: incident.severity as Severity, open: !['resolved', 'closed'].includes(incident.status) }] : [];
      const critical = isCritical({ type: input.type, incidents: linked }, this.policy).critical;
      const schedule =
        input.windowStart && input.windowEnd
          ? checkSchedule({
              start: input.windowStart,
              end: input.windowEnd,
              environment: input.environment,
              type: input.type,
              critical,
              policy: this.policy,
              freezes: await this.freezesOf(u.tx, actor.workspaceId, u.now),
              now: u.now,
            })
          : ({ ok: true, flags: {} } as const);
      const flags: ChangeFlag[] = schedule.ok ? scheduleFlags(schedule.flags) : [];
      const windowProblem = schedule.ok ? null : { problems: schedule.problems.map((p) => p.message), nextOpen: schedule.nextOpen };
      const status = initialStatus(input.type);
      const row = await u.tx.changeRequest.create({
        data: {
          id,
          workspaceId: actor.workspaceId,
          number,
          type: input.type,
          status,
          title: encodeText(trimText(input.title)),
          description: input.description && plainText(input.description).trim() ? encodeText(trimText(input.description)) : null,
          reason: input.reason && plainText(input.reason).trim() ? encodeText(trimText(input.reason)) : null,
          systems: JSON.stringify([...new Set(input.systems)]),
          environment: input.environment,
          impact: input.impact,
          risk: input.risk,
          affectedUsers: input.affectedUsers,
          downtime: input.downtime !== 'none' || (input.downtimeMinutes ?? 0) > 0,
          downtimeMinutes: input.downtimeMinutes ?? null,
          riskScore: risk.score,
          riskLevel: risk.level,
          windowStart: input.windowStart ?? null,
          windowEnd: input.windowEnd ?? null,
          rollbackPlan: input.rollbackPlan && plainText(input.rollbackPlan).trim() ? encodeText(trimText(input.rollbackPlan)) : null,
          rollbackTested: input.rollbackTested,
          implementerId: implementer,
          requesterId: actor.userId,
          catalogueId: input.catalogueId ?? null,
          incidentId: incident?.id ?? null,
          checklist: JSON.stringify(checklist),
          flags: JSON.stringify(flags),
          windowProblem: windowProblem ? JSON.stringify(windowProblem) : null,
          channelId: meta.channelId ?? null,
          decidedAt: status === 'approved' ? u.now : null,
          createdAt: u.now,
          updatedAt: u.now,
        },
      });
      if (incident) {
        await u.tx.changeIncidentLink.create({ data: { changeId: id, incidentId: incident.id, kind: 'raised_in', byId: actor.userId, at: u.now } });
        await this.incidents?.noteChange(u, incident.id, actor, rt`${refName} (${input.type} change) raised: ${trimText(input.title)}`);
        await this.incidents?.redrawForChange(u, id);
      }
      u.audit({
        action: 'change.request',
        subjectType: 'change',
        subjectId: refName,
        after: {
          type: input.type,
          title: plainText(input.title),
          environment: input.environment,
          systems: input.systems,
          risk: `${risk.level} (${risk.score})`,
          window: input.windowStart ? `${input.windowStart.toISOString()}/${input.windowEnd?.toISOString()}` : null,
          incident: incident ? incidentRef(incident.number) : null,
          catalogue: input.catalogueId ?? null,
          status,
        },
        flags: flags.length ? flags.map((f) => f.code) : undefined,
      });
      await this.postCard(u, row, meta.channelId ?? incident?.channelId ?? null);
      const window = input.windowStart && input.windowEnd ? rt` for ${time(input.windowStart)}–${time(input.windowEnd, 'time')}` : '';
      if (input.type === 'standard') {
        u.audit({ action: 'change.approved', subjectType: 'change', subjectId: refName, before: { status: 'pending' }, after: { status: 'approved', preApproved: input.catalogueId } });
        return { text: rt`${refName} (standard: ${input.catalogueId}) is pre-approved${window}. Tick its checklist on the card, then ${code(`/change start ${refName}`)}.` };
      }
      if (windowProblem) {
        const next = windowProblem.nextOpen ? rt` The next open slot is ${time(windowProblem.nextOpen.start)}–${time(windowProblem.nextOpen.end, 'time')}.` : ' No open slot in the next 60 days.';
        return {
          text: rt`${refName} recorded, but its window cannot be used: ${windowProblem.problems.join('; ')}.${next} Move it with ${code(`/change edit ${refName}`)}, or press ${strong('Ask for an exception')} on the card.`,
        };
      }
      const round = await this.openRound(u, actor, meta, row, incident?.severity as Severity | undefined, flags);
      if (input.type === 'emergency') await this.announceEmergency(u, row, flags);
      return { text: rt`${refName} requested${window}: risk ${risk.level} (${risk.score}). ${round}` };
    });
  }

  /** Opens the CAB round of a normal change, or the expedited round of an emergency one; returns what the reply says about it. */
  private async openRound(u: Unit, actor: Actor, meta: RequestMeta, row: ChangeRow, severity: Severity | undefined, flags: ChangeFlag[]): Promise<Text> {
    const refName = changeRef(row.number);
    const emergency = row.type === 'emergency' ? emergencyApproval(this.policy, severity ?? null, u.now) : null;
    const route = emergency ? emergency.route : cabRoute(this.policy);
    const ttl = emergency ? Math.max(this.policy.approvals.ttl, emergency.within) : this.policy.approvals.requestTtl;
    const round = await this.approvals.openRound(u, actor, meta, {
      kind: 'change',
      subjectType: 'change',
      subjectId: row.id,
      title: rt`${refName} ${decodeText(row.title)}`,
      route,
      ttl,
      environment: row.environment,
      channelId: row.channelId,
      postCard: false,
      flags: flags.map((f) => f.code),
    });
    await u.tx.changeRequest.update({ where: { id: row.id }, data: { approvalId: round.id, updatedAt: u.now } });
    await this.adoptRoundCards(u, row.id, round.id);
    const view = await this.approvals.roundView(u.tx, round.id);
    const asked = view?.eligible.length ? rt`asked ${mentionList(view.eligible, ', ')}` : 'nobody holds those roles yet — an admin can grant them';
    return emergency ? rt`Emergency approval (${emergency.text}): ${asked}. A post-implementation review will be required.` : rt`The CAB decides it (${view?.progress ?? ''}): ${asked}.`;
  }

  /** An emergency change in a freeze is announced to leadership (changes.emergency.leadershipChannel), at once. */
  private async announceEmergency(u: Unit, row: ChangeRow, flags: ChangeFlag[]): Promise<void> {
    const freeze = flags.find((f) => f.code === 'in_freeze');
    const channel = this.policy.changes.emergency.leadershipChannel ?? this.policy.changes.channel;
    if (!freeze || !channel) return;
    const refName = changeRef(row.number);
    u.effects({
      op: 'postMessage',
      args: {
        channel,
        text: rt`${emoji('rotating_light')} Emergency change ${strong(refName)} (${decodeText(row.title)}) in ${row.environment} during a freeze: ${freeze.text}. Asked by ${mention(externalOf(row.requesterId))}.`,
      },
    });
    u.audit({ action: 'change.emergency.announced', subjectType: 'change', subjectId: refName, after: { channel, freeze: freeze.text }, flags: ['in_freeze'] });
  }

  /** Reminders of a change round: the CAB is overdue after changes.cab.overdueAfter; an emergency round at its `within`. */
  private roundEscalation(row: ApprovalRow) {
    const route = json<{ steps: { name?: string }[] }>(row.route, { steps: [] });
    const name = route.steps[0]?.name ?? '';
    if (name.startsWith('Emergency')) {
      const within = Math.max(60_000, this.emergencyWithin(name));
      return [
        { notify: 'approvers' as const, after: Math.max(60_000, Math.floor(within / 2)) },
        { notify: 'cto' as const, after: within },
      ];
    }
    const overdue = this.policy.changes.cab.overdueAfter;
    return [
      { notify: 'approvers' as const, after: overdue },
      { notify: 'manager' as const, after: overdue * 2 },
      { notify: 'director' as const, after: overdue * 4 },
    ].filter((s) => s.after < row.expiresAt.getTime() - row.createdAt.getTime());
  }

  private emergencyWithin(stepName: string): number {
    const basis = /\((P[0-3]|otherwise)\)/.exec(stepName)?.[1] ?? 'otherwise';
    const table = this.policy.changes.emergency.approval as Record<string, { within: number } | undefined>;
    return (table[basis] ?? table.otherwise)!.within;
  }

  // ---------------------------------------------------------------- decisions

  private async roundOf(tx: Tx, row: ChangeRow): Promise<ApprovalRow> {
    const round = row.approvalId ? await tx.approvalRequest.findUnique({ where: { id: row.approvalId } }) : null;
    if (!round || round.status !== 'pending') {
      throw new Refusal(
        row.windowProblem && row.status === 'pending'
          ? `${changeRef(row.number)} is waiting for its window: move it (/change edit) or ask for an exception.`
          : `${changeRef(row.number)} is ${STATUS_LABEL[row.status as ChangeStatus]}; there is nothing to vote on.`,
      );
    }
    return round;
  }

  /** Approve or Reject on the card: a vote in the change's round (CAB seats, or the expedited approvers). */
  async vote(actor: Actor, meta: RequestMeta, changeId: string, decision: 'approve' | 'reject', reason?: string): Promise<Reply> {
    const round = await this.k.db.read(async (tx) => this.roundOf(tx, await this.byId(tx, actor, changeId)));
    return this.approvals.vote(actor, meta, round.id, decision, reason);
  }

  /** Defer (CAB members): back to the next CAB, with a reason; the votes so far stay. */
  async defer(actor: Actor, meta: RequestMeta, changeId: string, reason: string): Promise<Reply> {
    if (reason.trim().length < 3) throw new UsageError('Deferring needs a reason.');
    return this.k.run(actor, meta, async (u) => {
      await this.lock(u.tx, changeId);
      const row = await this.byId(u.tx, actor, changeId);
      const refName = changeRef(row.number);
      const t = transition({ ref: refName, type: row.type as ChangeType, status: row.status as ChangeStatus }, 'defer');
      if (!t.ok) throw new Refusal(`${t.reason}.`);
      if (row.type !== 'normal') throw new Refusal(`${refName} is an ${row.type} change; only normal changes go to the CAB.`);
      const seats = new Set(this.policy.changes.cab.seats.flatMap((s) => s.anyOf));
      if (![...actor.roles].some((r) => seats.has(r))) {
        throw new Refusal(`Only CAB members (${[...seats].join(', ')}) can defer ${refName}.`, { action: 'change.defer', subjectType: 'change', subjectId: refName, reason: 'not a CAB member' });
      }
      await this.roundOf(u.tx, row);
      await u.tx.changeRequest.update({ where: { id: row.id }, data: { deferReason: encodeText(reason.trim()), deferredAt: u.now, updatedAt: u.now } });
      await this.revise(u, row, 'deferReason', row.deferReason, reason.trim(), actor);
      u.audit({ action: 'change.defer', subjectType: 'change', subjectId: refName, after: { status: 'pending', deferredTo: 'next CAB' }, reason: reason.trim() });
      await this.redraw(u, row.id);
      return { text: `${refName} deferred to the next CAB: ${reason.trim()}` };
    });
  }

  private async onRoundVoted(u: Unit, round: ApprovalRow): Promise<void> {
    if (round.subjectId) await this.redraw(u, round.subjectId);
  }

  private async onRoundDecided(u: Unit, round: ApprovalRow, status: 'approved' | 'rejected' | 'expired' | 'cancelled', actor: Actor, reason?: Text): Promise<void> {
    if (!round.subjectId) return;
    const row = await u.tx.changeRequest.findUnique({ where: { id: round.subjectId } });
    if (!row || row.approvalId !== round.id) return;
    const refName = changeRef(row.number);
    if (status === 'cancelled') {
      // Voided by an edit or withdrawn: the change service says why where it did so.
      await this.redraw(u, row.id);
      return;
    }
    const to: ChangeStatus = status === 'approved' ? (row.windowStart ? 'scheduled' : 'approved') : 'rejected';
    await u.tx.changeRequest.update({ where: { id: row.id }, data: { status: to, decidedAt: u.now, updatedAt: u.now } });
    const why = status === 'expired' ? 'its approval expired' : reason ? plainText(reason) : undefined;
    u.audit({
      action: status === 'approved' ? 'change.approved' : 'change.rejected',
      subjectType: 'change',
      subjectId: refName,
      before: { status: row.status },
      after: { status: to, round: `APR-${round.number}`, timeToDecisionMs: u.now.getTime() - row.createdAt.getTime() },
      reason: why ?? null,
    });
    if (row.requesterId !== actor.userId || status === 'expired') {
      const word = status === 'approved' ? 'approved' : status === 'expired' ? 'not decided in time (its approval expired)' : 'rejected';
      u.effects({
        op: 'dm',
        args: {
          user: externalOf(row.requesterId),
          text: rt`Your change ${strong(refName)} (${decodeText(row.title)}) was ${strong(word)}${status !== 'expired' && rt` by ${mention(actor.externalId)}`}${reason && rt`: ${reason}`}.`,
        },
      });
    }
    await this.redraw(u, row.id);
  }

  // ---------------------------------------------------------------- exceptions

  /** "Ask for an exception": a change whose window breaks a rule goes to the policy's exception approvers. */
  async askException(actor: Actor, meta: RequestMeta, changeId: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      await this.lock(u.tx, changeId);
      const row = await this.byId(u.tx, actor, changeId);
      const refName = changeRef(row.number);
      if (row.status !== 'pending' || !row.windowProblem) throw new Refusal(`${refName} needs no exception: its window is open.`);
      if (row.requesterId !== actor.userId && !this.k.policy.permissions.manage_changes.some((r) => actor.roles.has(r))) {
        throw new Refusal(rt`Only the requester (${mention(externalOf(row.requesterId))}) or a holder of manage_changes can ask for an exception for ${refName}.`, {
          action: 'change.exception.request',
          subjectType: 'change',
          subjectId: refName,
        });
      }
      if (row.exceptionId) {
        const earlier = await u.tx.approvalRequest.findUnique({ where: { id: row.exceptionId } });
        if (earlier?.status === 'pending') return { text: `An exception for ${refName} is already asked for (APR-${earlier.number}); nothing changed.` };
      }
      const problem = json<{ problems: string[] }>(row.windowProblem, { problems: [] });
      // The exception is the requester's request whoever asks for it: they can never approve it themselves.
      const exception = await this.approvals.openRound(u, this.requesterOf(row), meta, {
        kind: 'exception',
        subjectType: 'change',
        subjectId: row.id,
        title: rt`Exception for ${refName} ${decodeText(row.title)}`,
        reason: problem.problems.join('; '),
        route: exceptionRoute(this.policy),
        ttl: this.policy.changes.exceptions.ttl,
        environment: row.environment,
        channelId: row.channelId,
        postCard: true,
      });
      await u.tx.changeRequest.update({ where: { id: row.id }, data: { exceptionId: exception.id, updatedAt: u.now } });
      u.audit({ action: 'change.exception.request', subjectType: 'change', subjectId: refName, after: { exception: `APR-${exception.number}`, problems: problem.problems } });
      await this.redraw(u, row.id);
      return { text: `Exception asked for ${refName} (APR-${exception.number}): the exception approvers are asked.` };
    });
  }

  private async onExceptionDecided(u: Unit, round: ApprovalRow, status: 'approved' | 'rejected' | 'expired' | 'cancelled', actor: Actor, reason?: Text): Promise<void> {
    if (round.subjectType !== 'change' || !round.subjectId) return;
    const row = await u.tx.changeRequest.findUnique({ where: { id: round.subjectId } });
    if (!row || row.exceptionId !== round.id || row.status !== 'pending') return;
    const refName = changeRef(row.number);
    const exceptionRef = `APR-${round.number}`;
    if (status !== 'approved') {
      u.audit({ action: 'change.exception.refused', subjectType: 'change', subjectId: refName, after: { exception: exceptionRef, status }, reason: reason ? plainText(reason) : null });
      await this.redraw(u, row.id);
      return;
    }
    // The exception releases the window: the change proceeds to its approval, flagged.
    const problem = json<{ problems: string[] }>(row.windowProblem, { problems: [] });
    const flags: ChangeFlag[] = [...json<ChangeFlag[]>(row.flags, []), { code: 'exception', text: `window allowed by exception ${exceptionRef} (${problem.problems.join('; ')})` }];
    const updated = await u.tx.changeRequest.update({ where: { id: row.id }, data: { windowProblem: null, flags: JSON.stringify(flags), updatedAt: u.now } });
    u.audit({ action: 'change.exception.granted', subjectType: 'change', subjectId: refName, after: { exception: exceptionRef }, flags: ['exception'] });
    // The round is the requester's request (no self-approval applies to them), opened by the exception's decision.
    const incident = await this.linkedIncident(u.tx, row.incidentId);
    await this.openRound(u, this.requesterOf(row), { requestId: `exception:${round.id}`, channelId: row.channelId ?? undefined }, updated, incident?.severity as Severity | undefined, flags);
    await this.redraw(u, row.id);
    void actor;
  }

  /** The change's requester as the one who asks (approval rounds are theirs: no self-approval for them). */
  private requesterOf(row: ChangeRow): Actor {
    const platform = row.workspaceId.slice(0, row.workspaceId.indexOf(':'));
    return { workspaceId: row.workspaceId, userId: row.requesterId, externalId: externalOf(row.requesterId), platform, roles: new Set(), envRoles: new Set() };
  }

  // ---------------------------------------------------------------- lifecycle

  private async requireActor(actor: Actor, row: ChangeRow, action: string): Promise<void> {
    const own = row.requesterId === actor.userId || row.implementerId === actor.userId;
    if (own || this.policy.permissions.manage_changes.some((r) => actor.roles.has(r))) return;
    throw new Refusal(rt`Only the implementer (${mention(externalOf(row.implementerId ?? row.requesterId))}), the requester or a holder of manage_changes can ${action} ${changeRef(row.number)}.`, {
      action: `change.${action}`,
      subjectType: 'change',
      subjectId: changeRef(row.number),
      reason: 'not the implementer',
    });
  }

  private move(row: ChangeRow, action: ChangeAction, opts: { outcome?: 'success' | 'failed' } = {}): ChangeStatus {
    const t = transition({ ref: changeRef(row.number), type: row.type as ChangeType, status: row.status as ChangeStatus }, action, opts);
    if (!t.ok) throw new Refusal(`${t.reason[0]!.toUpperCase()}${t.reason.slice(1)}.`);
    return t.to;
  }

  /** Records one field's change in the change's history. */
  private async revise(u: Unit, row: ChangeRow, field: string, before: string | null, after: string | null, actor: Actor): Promise<void> {
    await u.tx.changeRevision.create({ data: { changeId: row.id, field, before, after, byId: actor.userId, at: u.now } });
  }

  async start(actor: Actor, meta: RequestMeta, refText: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => this.begin(u, actor, await this.load(u.tx, actor, refText, USAGE.start)));
  }

  /** Start from the card. */
  async startById(actor: Actor, meta: RequestMeta, changeId: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => this.begin(u, actor, await this.byId(u.tx, actor, changeId)));
  }

  private async begin(u: Unit, actor: Actor, row: ChangeRow): Promise<Reply> {
    {
      await this.lock(u.tx, row.id);
      const refName = changeRef(row.number);
      this.move(row, 'start');
      await this.requireActor(actor, row, 'start');
      const check = checkStart({ ref: refName, type: row.type as ChangeType, status: row.status as ChangeStatus, checklist: readChecklist(row.checklist) });
      if (!check.ok) throw new Refusal(`${check.reason}.`);
      const flags = json<ChangeFlag[]>(row.flags, []);
      if (check.flags.checklistIncomplete?.length) flags.push({ code: 'checklist_incomplete', text: `started with the checklist incomplete (${check.flags.checklistIncomplete.join(', ')})` });
      if (row.windowStart && row.windowEnd && (u.now < new Date(row.windowStart.getTime() - 15 * 60_000) || u.now > row.windowEnd) && row.type !== 'emergency') {
        flags.push({ code: 'outside_approved_window', text: `started ${formatLocal(u.now, this.zone)}, outside its approved window` });
      }
      await u.tx.changeRequest.update({ where: { id: row.id }, data: { status: 'implementing', startedAt: u.now, flags: JSON.stringify(flags), updatedAt: u.now } });
      u.audit({
        action: 'change.start',
        subjectType: 'change',
        subjectId: refName,
        before: { status: row.status },
        after: { status: 'implementing' },
        flags: check.flags.checklistIncomplete?.length ? ['checklist_incomplete'] : undefined,
      });
      await this.redraw(u, row.id);
      return { text: rt`${refName} is implementing (started ${time(u.now)}). When it is done: ${code(`/change done ${refName} success|failed [notes]`)}.` };
    }
  }

  async done(actor: Actor, meta: RequestMeta, refText: string, outcome: 'success' | 'failed', notes?: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.load(u.tx, actor, refText, USAGE.done);
      return this.finish(u, actor, row, outcome, notes);
    });
  }

  /** Done from the card's form. */
  async doneById(actor: Actor, meta: RequestMeta, changeId: string, outcome: 'success' | 'failed', notes?: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => this.finish(u, actor, await this.byId(u.tx, actor, changeId), outcome, notes));
  }

  private async finish(u: Unit, actor: Actor, row: ChangeRow, outcome: 'success' | 'failed', notes?: Text): Promise<Reply> {
    await this.lock(u.tx, row.id);
    const refName = changeRef(row.number);
    const to = this.move(row, 'done', { outcome });
    await this.requireActor(actor, row, 'finish');
    const review = reviewRequired({ type: row.type as ChangeType, status: to, outcome });
    const reviewDueAt = review ? new Date(u.now.getTime() + this.policy.changes.review.within) : null;
    const text = notes && plainText(notes).trim() ? encodeText(trimText(notes)) : null;
    await u.tx.changeRequest.update({ where: { id: row.id }, data: { status: to, outcome, implementedAt: u.now, implementationNotes: text, reviewDueAt, updatedAt: u.now } });
    if (text) await this.revise(u, row, 'implementationNotes', row.implementationNotes, text, actor);
    u.audit({
      action: 'change.done',
      subjectType: 'change',
      subjectId: refName,
      before: { status: row.status },
      after: { status: to, outcome, durationMs: row.startedAt ? u.now.getTime() - row.startedAt.getTime() : null },
    });
    // Verification nudges after implementation (T+1h, T+24h by default).
    if (outcome === 'success') {
      for (const [i, after] of this.policy.changes.verification.nudgeAfter.entries()) {
        await u.schedule({
          key: timerKeysChange.verify(row.id, i),
          kind: 'change.verify',
          subjectType: 'change',
          subjectId: row.id,
          workspaceId: row.workspaceId,
          dueAt: new Date(u.now.getTime() + after),
          payload: { step: i },
        });
      }
    }
    if (review) await this.scheduleReview(u, row, reviewDueAt!);
    await this.redraw(u, row.id);
    await this.incidents?.redrawForChange(u, row.id);
    const next = review ? rt` A post-implementation review is required by ${time(reviewDueAt!)}: ${code(`/change review ${refName} <notes>`)}.` : '';
    return { text: rt`${refName} ${outcome === 'success' ? 'implemented' : strong('failed')}.${next}` };
  }

  async rollback(actor: Actor, meta: RequestMeta, refText: string, reason: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => this.rollBack(u, actor, await this.load(u.tx, actor, refText, USAGE.rollback), reason));
  }

  async rollbackById(actor: Actor, meta: RequestMeta, changeId: string, reason: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => this.rollBack(u, actor, await this.byId(u.tx, actor, changeId), reason));
  }

  private async rollBack(u: Unit, actor: Actor, row: ChangeRow, reason: Text): Promise<Reply> {
    await this.lock(u.tx, row.id);
    const refName = changeRef(row.number);
    if (plainText(reason).trim().length < 3) throw new UsageError('A rollback needs a reason.', USAGE.rollback);
    this.move(row, 'rollback');
    this.k.requirePermission(actor, 'rollback_change', `roll back ${refName}`, { action: 'change.rollback', subjectType: 'change', subjectId: refName });
    const reviewDueAt = new Date(u.now.getTime() + this.policy.changes.review.within);
    await u.tx.changeRequest.update({
      where: { id: row.id },
      data: { status: 'rolled_back', outcome: 'rolled_back', rollbackReason: encodeText(trimText(reason)), implementedAt: row.implementedAt ?? u.now, reviewDueAt, updatedAt: u.now },
    });
    await u.cancel({ subjectType: 'change', subjectId: row.id });
    u.audit({ action: 'change.rollback', subjectType: 'change', subjectId: refName, before: { status: row.status }, after: { status: 'rolled_back' }, reason: plainText(reason) });
    await this.scheduleReview(u, row, reviewDueAt);
    await this.redraw(u, row.id);
    await this.incidents?.redrawForChange(u, row.id);
    return { text: rt`${refName} rolled back. A post-implementation review is required by ${time(reviewDueAt)}: ${code(`/change review ${refName} <notes>`)}.` };
  }

  private async scheduleReview(u: Unit, row: ChangeRow, dueAt: Date): Promise<void> {
    await u.schedule({ key: timerKeysChange.review(row.id), kind: 'change.review', subjectType: 'change', subjectId: row.id, workspaceId: row.workspaceId, dueAt, payload: { n: 0 } });
  }

  async review(actor: Actor, meta: RequestMeta, refText: string, notes: Text): Promise<Reply> {
    if (plainText(notes).trim().length < 3) throw new UsageError('A review needs its notes: what happened, and what follows.', USAGE.review);
    return this.k.run(actor, meta, async (u) => {
      const row = await this.load(u.tx, actor, refText, USAGE.review);
      await this.lock(u.tx, row.id);
      const refName = changeRef(row.number);
      this.move(row, 'review');
      const text = encodeText(trimText(notes));
      await u.tx.changeRequest.update({ where: { id: row.id }, data: { status: 'reviewed', reviewNotes: text, reviewedAt: u.now, updatedAt: u.now } });
      await this.revise(u, row, 'reviewNotes', row.reviewNotes, text, actor);
      await u.cancel({ key: timerKeysChange.review(row.id) });
      u.audit({ action: 'change.review', subjectType: 'change', subjectId: refName, before: { status: row.status }, after: { status: 'reviewed' } });
      await this.redraw(u, row.id);
      return { text: rt`${refName} reviewed. Close it with ${code(`/change close ${refName}`)}.` };
    });
  }

  async close(actor: Actor, meta: RequestMeta, refText: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.load(u.tx, actor, refText);
      await this.lock(u.tx, row.id);
      const refName = changeRef(row.number);
      this.move(row, 'close');
      await this.requireActor(actor, row, 'close');
      await u.tx.changeRequest.update({ where: { id: row.id }, data: { status: 'closed', closedAt: u.now, updatedAt: u.now } });
      await u.cancel({ subjectType: 'change', subjectId: row.id });
      u.audit({ action: 'change.close', subjectType: 'change', subjectId: refName, before: { status: row.status }, after: { status: 'closed' } });
      await this.redraw(u, row.id);
      return { text: `${refName} closed.` };
    });
  }

  /** A checklist item ticked (or unticked) with its button. */
  async tick(actor: Actor, meta: RequestMeta, changeId: string, itemId: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      await this.lock(u.tx, changeId);
      const row = await this.byId(u.tx, actor, changeId);
      const refName = changeRef(row.number);
      if (!['pending', 'approved', 'scheduled'].includes(row.status)) throw new Refusal(`${refName} is ${STATUS_LABEL[row.status as ChangeStatus]}; its checklist is closed.`);
      await this.requireActor(actor, row, 'tick the checklist of');
      const list = readChecklist(row.checklist);
      const item = list.find((i) => i.id === itemId);
      const r = item?.done ? untickItem(list, itemId) : tickItem(list, itemId, actor.userId, u.now);
      if (!r.ok) throw new Refusal(`${r.reason[0]!.toUpperCase()}${r.reason.slice(1)}.`);
      await u.tx.changeRequest.update({ where: { id: row.id }, data: { checklist: JSON.stringify(r.checklist), updatedAt: u.now } });
      u.audit({
        action: item?.done ? 'change.checklist.untick' : 'change.checklist.tick',
        subjectType: 'change',
        subjectId: refName,
        after: { item: itemId, progress: checklistProgress(r.checklist) },
      });
      await this.redraw(u, row.id);
      return { text: `${refName}: ${item?.done ? 'unticked' : 'ticked'} "${item?.text ?? itemId}" (${checklistProgress(r.checklist)}).` };
    });
  }

  /**
   * Edits a change's fields. A pending change is re-checked against the windows; an approved one whose
   * window, scope or risk changed loses its votes, says why on its card, and asks again.
   */
  async edit(actor: Actor, meta: RequestMeta, changeId: string, input: ChangeInput): Promise<Reply> {
    const now = this.k.clock.now();
    this.validate({ ...input }, now);
    return this.k.run(actor, meta, async (u) => {
      await this.lock(u.tx, changeId);
      const row = await this.byId(u.tx, actor, changeId);
      const refName = changeRef(row.number);
      this.move(row, 'edit');
      await this.requireActor(actor, row, 'edit');
      if (input.type !== row.type) throw new UsageError(`${refName} is a ${row.type} change; its type cannot change (ask for a new change instead).`);
      const before = await this.view(u.tx, row);
      const riskInput: RiskInput = { impact: input.impact, risk: input.risk, affectedUsers: input.affectedUsers, downtime: input.downtimeMinutes ?? input.downtime };
      const risk = assessRisk(riskInput);
      const scope = (v: { start: Date | null | undefined; end: Date | null | undefined; environment: string; systems: string[]; risk: RiskInput }) => ({
        start: v.start ?? new Date(0),
        end: v.end ?? new Date(0),
        environment: v.environment,
        systems: v.systems,
        risk: v.risk,
      });
      const re = needsReapproval(
        scope({ start: before.windowStart, end: before.windowEnd, environment: before.environment, systems: before.systems, risk: before.riskInput }),
        scope({ start: input.windowStart, end: input.windowEnd, environment: input.environment, systems: input.systems, risk: riskInput }),
        this.zone,
      );
      const incident = await this.linkedIncident(u.tx, row.incidentId);
      const linked: LinkedIncident[] = incident ? [{ ref: incident.ref, severity: incident.severity as Severity, open: !['resolved', 'closed'].includes(incident.status) }] : [];
      const schedule =
        input.windowStart && input.windowEnd
          ? checkSchedule({
              start: input.windowStart,
              end: input.windowEnd,
              environment: input.environment,
              type: row.type as ChangeType,
              critical: isCritical({ type: row.type as ChangeType, incidents: linked }, this.policy).critical,
              policy: this.policy,
              freezes: await this.freezesOf(u.tx, row.workspaceId, u.now),
              now: u.now,
            })
          : ({ ok: true, flags: {} } as const);
      const kept = json<ChangeFlag[]>(row.flags, []).filter((f) => !['outside_window', 'in_freeze', 'critical_window', 'not_enforced', 'exception'].includes(f.code));
      const flags = schedule.ok ? [...kept, ...scheduleFlags(schedule.flags)] : kept;
      const windowProblem = schedule.ok ? null : { problems: schedule.problems.map((p) => p.message), nextOpen: schedule.nextOpen };
      const fields = {
        title: [row.title, encodeText(trimText(input.title))],
        description: [row.description, input.description ? encodeText(trimText(input.description)) : null],
        reason: [row.reason, input.reason ? encodeText(trimText(input.reason)) : null],
        environment: [row.environment, input.environment],
        systems: [row.systems, JSON.stringify([...new Set(input.systems)])],
        impact: [row.impact, input.impact],
        risk: [row.risk, input.risk],
        affectedUsers: [row.affectedUsers, input.affectedUsers],
        downtimeMinutes: [row.downtimeMinutes === null ? null : String(row.downtimeMinutes), input.downtimeMinutes === undefined ? null : String(input.downtimeMinutes)],
        windowStart: [row.windowStart?.toISOString() ?? null, input.windowStart?.toISOString() ?? null],
        windowEnd: [row.windowEnd?.toISOString() ?? null, input.windowEnd?.toISOString() ?? null],
        rollbackPlan: [row.rollbackPlan, input.rollbackPlan ? encodeText(trimText(input.rollbackPlan)) : null],
        rollbackTested: [String(row.rollbackTested), String(input.rollbackTested)],
      } satisfies Record<string, [string | null, string | null]>;
      const changed = Object.entries(fields).filter(([, [a, b]]) => a !== b);
      if (!changed.length) return { text: `${refName}: nothing changed.` };
      for (const [field, [a, b]] of changed) await this.revise(u, row, field, a, b, actor);
      const wasApproved = row.status === 'approved' || row.status === 'scheduled';
      const reapprove = wasApproved && re.reapprove && row.type !== 'standard';
      const status: ChangeStatus = reapprove ? 'pending' : (row.status as ChangeStatus);
      const updated = await u.tx.changeRequest.update({
        where: { id: row.id },
        data: {
          title: fields.title[1]!,
          description: fields.description[1],
          reason: fields.reason[1],
          environment: input.environment,
          systems: fields.systems[1]!,
          impact: input.impact,
          risk: input.risk,
          affectedUsers: input.affectedUsers,
          downtime: input.downtime !== 'none' || (input.downtimeMinutes ?? 0) > 0,
          downtimeMinutes: input.downtimeMinutes ?? null,
          riskScore: risk.score,
          riskLevel: risk.level,
          windowStart: input.windowStart ?? null,
          windowEnd: input.windowEnd ?? null,
          rollbackPlan: fields.rollbackPlan[1],
          rollbackTested: input.rollbackTested,
          status,
          flags: JSON.stringify(flags),
          windowProblem: windowProblem ? JSON.stringify(windowProblem) : null,
          decidedAt: reapprove ? null : row.decidedAt,
          updatedAt: u.now,
        },
      });
      u.audit({
        action: 'change.edit',
        subjectType: 'change',
        subjectId: refName,
        before: Object.fromEntries(changed.map(([f, [a]]) => [f, a])),
        after: { ...Object.fromEntries(changed.map(([f, [, b]]) => [f, b])), status, ...(reapprove ? { reapproval: re.reasons } : {}) },
      });
      let text: Text = `${refName} updated (${changed.map(([f]) => f).join(', ')}).`;
      const pendingRound = row.approvalId ? await u.tx.approvalRequest.findUnique({ where: { id: row.approvalId } }) : null;
      if (reapprove || (row.status === 'pending' && pendingRound?.status === 'pending' && (windowProblem || re.reapprove))) {
        // Votes given for the old window, scope or risk no longer hold.
        if (pendingRound?.status === 'pending') await this.approvals.voidRound(u, pendingRound.id, actor, `voided: ${re.reasons.join('; ') || 'its window now breaks a rule'}`);
        // The card says why it is asked again.
        const why: ChangeFlag = { code: 'reapproval', text: `approval asked again ${formatLocal(u.now, this.zone)}: ${re.reasons.join('; ') || 'its window now breaks a rule'}` };
        await u.tx.changeRequest.update({
          where: { id: row.id },
          data: { approvalId: null, deferReason: null, deferredAt: null, flags: JSON.stringify([...flags.filter((f) => f.code !== 'reapproval'), why]) },
        });
        u.audit({ action: 'change.reapproval', subjectType: 'change', subjectId: refName, after: { reasons: re.reasons }, reason: re.reasons.join('; ') });
        text = rt`${text} Its approval is void (${re.reasons.join('; ')})`;
        if (!windowProblem) {
          const asked = await this.openRound(u, this.requesterOf(row), meta, { ...updated, approvalId: null }, incident?.severity as Severity | undefined, flags);
          text = rt`${text}; asked again. ${asked}`;
        } else text = rt`${text}; its new window cannot be used: ${windowProblem.problems.join('; ')}.`;
      } else if (row.status === 'pending' && !pendingRound && !windowProblem && row.type !== 'standard') {
        // A change that waited for its window now has an open one: its approval starts.
        const asked = await this.openRound(u, this.requesterOf(row), meta, updated, incident?.severity as Severity | undefined, flags);
        text = rt`${text} Its window is open now. ${asked}`;
      } else if (windowProblem) {
        text = rt`${text} Its window cannot be used: ${windowProblem.problems.join('; ')}.`;
      }
      await this.redraw(u, row.id);
      return { text };
    });
  }

  // ---------------------------------------------------------------- freezes

  async freeze(actor: Actor, meta: RequestMeta, environment: string, until: string, reason: Text): Promise<Reply> {
    const now = this.k.clock.now();
    const end = parseUntil(until, now, this.zone);
    const problems = checkFreezeRequest({ environment, end, reason: plainText(reason), now, environments: Object.keys(this.policy.approvals.deployment.environments), policy: this.policy });
    if (problems.length) throw new UsageError(`${problems.map((p) => `${p[0]!.toUpperCase()}${p.slice(1)}`).join('. ')}.`, USAGE.freeze);
    return this.k.run(actor, meta, async (u) => {
      this.k.requirePermission(actor, 'freeze_changes', `freeze ${environment === 'all' ? 'every environment' : environment}`, {
        action: 'change.freeze',
        subjectType: 'freeze',
        subjectId: environment,
      });
      const id = randomUUID();
      const why = plainText(trimText(reason));
      await u.tx.changeFreeze.create({ data: { id, workspaceId: actor.workspaceId, environment, startsAt: u.now, endsAt: end!, reason: why, createdBy: actor.userId, createdAt: u.now } });
      u.audit({ action: 'change.freeze', subjectType: 'freeze', subjectId: environment, after: { environment, from: u.now.toISOString(), until: end!.toISOString() }, reason: why });
      const where = environment === 'all' ? 'every environment' : environment;
      const text = rt`${emoji('no_entry_sign')} ${strong('Change freeze')} on ${where} until ${time(end!)} by ${mention(actor.externalId)}: ${reason}`;
      const channel = this.policy.changes.channel ?? meta.channelId;
      if (channel) u.effects({ op: 'postMessage', args: { channel, text } });
      const held = await this.redrawAffected(u, actor.workspaceId, environment);
      return {
        text: rt`${where[0]!.toUpperCase()}${where.slice(1)} frozen until ${time(end!)}.${held > 0 && ` ${held} open change${held === 1 ? '' : 's'} show${held === 1 ? 's' : ''} it on ${held === 1 ? 'its card' : 'their cards'}.`}`,
      };
    });
  }

  async unfreeze(actor: Actor, meta: RequestMeta, environment: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      this.k.requirePermission(actor, 'freeze_changes', `lift the freeze on ${environment === 'all' ? 'every environment' : environment}`, {
        action: 'change.unfreeze',
        subjectType: 'freeze',
        subjectId: environment,
      });
      const active = await u.tx.changeFreeze.findMany({ where: { workspaceId: actor.workspaceId, liftedAt: null, endsAt: { gt: u.now }, ...(environment === 'all' ? {} : { environment }) } });
      if (!active.length) return { text: `There is no freeze on ${environment === 'all' ? 'any environment' : environment} to lift; nothing changed.` };
      await u.tx.changeFreeze.updateMany({ where: { id: { in: active.map((f) => f.id) } }, data: { liftedAt: u.now, liftedBy: actor.userId } });
      u.audit({
        action: 'change.unfreeze',
        subjectType: 'freeze',
        subjectId: environment,
        before: { freezes: active.map((f) => ({ environment: f.environment, until: f.endsAt.toISOString(), reason: f.reason })) },
        after: { lifted: active.length },
      });
      const channel = this.policy.changes.channel ?? meta.channelId;
      const what = active.map((f) => `${f.environment === 'all' ? 'every environment' : f.environment} (${f.reason})`).join(', ');
      if (channel) u.effects({ op: 'postMessage', args: { channel, text: rt`${emoji('white_check_mark')} Freeze lifted by ${mention(actor.externalId)}: ${what}.` } });
      await this.redrawAffected(u, actor.workspaceId, environment);
      return { text: `Freeze lifted: ${what}.` };
    });
  }

  /** Redraws the cards of open changes in an environment (or all); returns how many. */
  private async redrawAffected(u: Unit, workspaceId: string, environment: string): Promise<number> {
    const rows = await u.tx.changeRequest.findMany({
      where: { workspaceId, status: { in: ['pending', 'approved', 'scheduled'] }, ...(environment === 'all' ? {} : { environment }) },
      select: { id: true },
    });
    for (const r of rows) await this.redraw(u, r.id);
    return rows.length;
  }

  // ---------------------------------------------------------------- reports

  async show(actor: Actor, refText: string): Promise<Reply> {
    return this.k.db.read(async (tx) => {
      const v = await this.view(tx, await this.load(tx, actor, refText));
      const lines: Text[] = [
        rt`${strong(v.ref)} ${v.title} · ${v.type} · ${strong(STATUS_LABEL[v.status])}`,
        rt`Environment ${v.environment}${v.systems.length ? ` · systems ${v.systems.join(', ')}` : ''} · risk ${v.risk.level} (${v.risk.score})`,
        v.windowStart && v.windowEnd ? rt`Window ${time(v.windowStart)}–${time(v.windowEnd, 'time')}` : 'No window set',
        rt`Requested by ${mention(v.requester)} ${time(v.createdAt)}${v.implementer && rt` · implementer ${mention(v.implementer)}`}${v.incident && ` · ${v.incident.ref}`}`,
        v.round ? `Approval ${v.round.ref}: ${v.round.progress}` : '',
        `Checklist ${checklistProgress(v.checklist)}`,
        ...v.flags.map((f) => rt`${emoji('warning')} ${f.text}`),
      ].filter((l) => plainText(l).length > 0);
      return { text: joinText(lines, '\n'), sections: [{ title: v.ref, lines }] };
    });
  }

  async list(actor: Actor, filter: 'pending' | 'scheduled' | 'mine' | 'open' = 'open'): Promise<Reply> {
    const rows = await this.k.db.read((tx) =>
      tx.changeRequest.findMany({
        where: {
          workspaceId: actor.workspaceId,
          ...(filter === 'pending'
            ? { status: 'pending' }
            : filter === 'scheduled'
              ? { status: { in: ['approved', 'scheduled'] } }
              : filter === 'mine'
                ? { OR: [{ requesterId: actor.userId }, { implementerId: actor.userId }] }
                : { status: { notIn: ['closed', 'rejected', 'cancelled'] } }),
        },
        orderBy: filter === 'scheduled' ? { windowStart: 'asc' } : { createdAt: 'desc' },
        take: 30,
      }),
    );
    const title = { pending: 'Pending changes', scheduled: 'Scheduled changes', mine: 'Your changes', open: 'Open changes' }[filter];
    const lines = rows.map(
      (r) =>
        rt`${strong(changeRef(r.number))} ${decodeText(r.title)} · ${r.type} · ${STATUS_LABEL[r.status as ChangeStatus]} · ${r.environment} · risk ${r.riskLevel}${r.windowStart && rt` · ${time(r.windowStart)}`}`,
    );
    return { text: rt`${title} (${rows.length}):\n${lines.length ? joinText(lines, '\n') : 'none'}`, sections: [{ title: `${title} (${rows.length})`, lines: lines.length ? lines : ['none'] }] };
  }

  /**
   * What the next `days` days hold for a workspace: each local day's open windows and freezes (every
   * environment where windows are enforced), and the changes scheduled in them. `/change calendar` shows
   * it; the iCalendar feed serves it.
   */
  async calendarData(workspaceId: string, from: Date, days = 14): Promise<{ days: CalendarDay[]; changes: CalendarChange[]; timeZone: string }> {
    return this.k.db.read(async (tx) => {
      const freezes = await this.freezesOf(tx, workspaceId, from);
      const list = calendarDays(from, days, this.policy, freezes);
      const end = list[list.length - 1]?.end ?? from;
      const rows = await tx.changeRequest.findMany({
        where: {
          workspaceId,
          windowStart: { lt: end },
          windowEnd: { gt: list[0]?.start ?? from },
          status: { in: ['pending', 'approved', 'scheduled', 'implementing', 'implemented', 'failed', 'rolled_back'] },
        },
        orderBy: { windowStart: 'asc' },
        take: 500,
      });
      const changes = rows.map((r) => ({
        id: r.id,
        ref: changeRef(r.number),
        title: plainText(decodeText(r.title)),
        type: r.type as ChangeType,
        status: r.status as ChangeStatus,
        environment: r.environment,
        riskLevel: r.riskLevel,
        start: r.windowStart!,
        end: r.windowEnd!,
        updatedAt: r.updatedAt,
      }));
      return { days: list, changes, timeZone: this.zone };
    });
  }

  async calendar(actor: Actor): Promise<Reply> {
    const now = this.k.clock.now();
    const { days, changes, timeZone } = await this.calendarData(actor.workspaceId, now, 14);
    const hm = (d: Date) => formatLocal(d, timeZone, 'HH:mm');
    const lines: Text[] = days.map((d) => {
      const windows = d.windows.map((w) => `${hm(w.start)}–${hm(w.end)}${w.criticalOnly ? ' (critical only)' : ''}`);
      const freezes = d.freezes.map((f) => f.name);
      const here = changes.filter((c) => c.start < d.end && c.end > d.start);
      const label = formatLocal(d.start, timeZone, 'EEE d MMM');
      return rt`${strong(label)}: ${windows.length ? `windows ${windows.join(', ')}` : 'no window (emergency only)'}${freezes.length ? rt` · ${emoji('no_entry_sign')} ${freezes.join(', ')}` : ''}${
        here.length
          ? rt`\n    ${joinText(
              here.map((c) => rt`${strong(c.ref)} ${hm(c.start)}–${hm(c.end)} ${c.title} (${c.environment}, ${STATUS_LABEL[c.status]})`),
              '\n    ',
            )}`
          : ''
      }`;
    });
    const title = `The next 14 days (${timeZone})`;
    return { text: rt`${title}:\n${joinText(lines, '\n')}`, sections: [{ title, lines }] };
  }

  // ---------------------------------------------------------------- timers

  /** A verification nudge after implementation: the implementer is asked to confirm the change holds. */
  async onVerify(tx: Tx, timer: TimerRow, payload: Record<string, unknown>): Promise<void> {
    const row = await tx.changeRequest.findUnique({ where: { id: timer.subjectId } });
    if (!row || row.status !== 'implemented') return;
    const step = Number(payload.step ?? 0);
    await this.k.inTx(tx, this.k.systemActor(row.workspaceId), { requestId: `timer:${timer.id}` }, async (u) => {
      const refName = changeRef(row.number);
      const after = formatDuration(u.now.getTime() - (row.implementedAt ?? u.now).getTime());
      const who = externalOf(row.implementerId ?? row.requesterId);
      const text = rt`${emoji('mag')} Verify ${strong(refName)} (${decodeText(row.title)}), implemented ${after} ago: does it hold? If not, ${code(`/change rollback ${refName} <reason>`)}.`;
      u.effects({ op: 'dm', args: { user: who, text } });
      u.audit({ action: 'change.verify.nudge', subjectType: 'change', subjectId: refName, after: { step, to: who } });
    });
  }

  /** The post-implementation review is due: remind until it is done (changes.review.remindEvery). */
  async onReviewDue(tx: Tx, timer: TimerRow, payload: Record<string, unknown>): Promise<void> {
    const row = await tx.changeRequest.findUnique({ where: { id: timer.subjectId } });
    if (!row || !['implemented', 'failed', 'rolled_back'].includes(row.status) || row.reviewedAt) return;
    const n = Number(payload.n ?? 0);
    await this.k.inTx(tx, this.k.systemActor(row.workspaceId), { requestId: `timer:${timer.id}` }, async (u) => {
      const refName = changeRef(row.number);
      const to = [...new Set([externalOf(row.implementerId ?? row.requesterId), externalOf(row.requesterId)])];
      const text = rt`${emoji('alarm_clock')} The post-implementation review of ${strong(refName)} (${decodeText(row.title)}) is due: ${code(`/change review ${refName} <notes>`)}.`;
      for (const user of to) u.effects({ op: 'dm', args: { user, text } });
      u.audit({ action: 'change.review.reminder', subjectType: 'change', subjectId: refName, after: { n: n + 1, to } });
      await u.schedule({
        key: timerKeysChange.review(row.id),
        kind: 'change.review',
        subjectType: 'change',
        subjectId: row.id,
        workspaceId: row.workspaceId,
        dueAt: new Date(u.now.getTime() + this.policy.changes.review.remindEvery),
        payload: { n: n + 1 },
      });
    });
  }
}

/** The schedule's flags as the card and the audit trail show them. */
function scheduleFlags(f: ScheduleFlags): ChangeFlag[] {
  const out: ChangeFlag[] = [];
  if (f.outsideWindow) out.push({ code: 'outside_window', text: 'outside the deployment windows (emergency)' });
  if (f.inFreeze) out.push({ code: 'in_freeze', text: `during ${f.inFreeze}` });
  if (f.criticalWindow) out.push({ code: 'critical_window', text: 'in a window for critical changes only' });
  if (f.notEnforced) out.push({ code: 'not_enforced', text: 'windows are not enforced in this environment' });
  return out;
}

export type { Problem };
