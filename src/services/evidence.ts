import { approvalRef, type Route } from '../domain/approval.ts';
import { assessRisk, changeRef, checklistProgress, reviewRequired, type AffectedUsers, type ChangeStatus, type ChangeType, type Level3, type RiskInput } from '../domain/change.ts';
import { incidentRef } from '../domain/incident.ts';
import { formatLocal } from '../domain/windows.ts';
import { code, decodeText, plainText, rt } from '../domain/text.ts';
import { hasPermission } from '../domain/rbac.ts';
import { entryHash, type AuditRow } from '../store/audit.ts';
import type { AuditKeyring } from '../store/auditKeys.ts';
import type { Tx } from '../store/db.ts';
import { Refusal, UsageError } from './errors.ts';
import { externalOf } from './incidentViews.ts';
import { chunkLines } from './incidents.ts';
import type { Kernel } from './kernel.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';

/**
 * Evidence records (issue 10): everything Muster holds about one change request, approval or incident,
 * with every audit entry about it and its chain hash, as Markdown or JSON. One function gathers the data
 * (`gatherEvidence`); two pure builders write it (`evidenceMarkdown`, `evidenceJson`). `/change evidence`
 * (EvidenceService) and `muster evidence` (src/cli.ts) both use them.
 *
 * Every time is an ISO 8601 instant in UTC; people are named by their platform id (`system` is Muster
 * itself); stored neutral text is shown as plain text.
 */

// ------------------------------------------------------------------------------------------------ shapes

export type EvidenceKind = 'change' | 'approval' | 'incident';

export interface EvidenceRef {
  kind: EvidenceKind;
  number: number;
  ref: string;
}

/** How an entry's hash compares with its content under the audit keys the reader holds. */
export type HashCheck = 'verified' | 'altered' | 'unknown_key' | 'unchecked';

/** One audit entry: every column the chain hashes, as stored, plus who acted and the check of its hash. */
export interface EvidenceAuditEntry {
  seq: number;
  createdAt: string;
  /** The actor's platform id, or `system`. */
  actor: string;
  actorId: string;
  actorName: string | null;
  platform: string;
  workspaceId: string | null;
  action: string;
  outcome: string;
  subjectType: string | null;
  subjectId: string | null;
  /** Canonical JSON, exactly as hashed. */
  before: string | null;
  after: string | null;
  reason: string | null;
  flags: string | null;
  requestId: string | null;
  prevHash: string;
  hash: string;
  keyId: string | null;
  hashCheck: HashCheck;
}

export interface EvidenceVote {
  at: string;
  user: string;
  decision: string;
  /** The step of the route it counted in (1-based) and that step's name. */
  step: number;
  stepName: string | null;
  /** The seat (a CAB seat's name) or requirement it filled, and the role it filled it with. */
  seat: string | null;
  role: string | null;
  /** Every approver role the person held when voting. */
  rolesHeld: string[];
  reason: string | null;
}

export interface EvidenceRouteStep {
  name: string | null;
  /** Seats that must be filled (a CAB quorum); null: every requirement. */
  quorum: number | null;
  require: { seat: string | null; anyOf: string[]; count: number; required: boolean }[];
}

/** An approval request: on its own (APR-n) or one round of a change (CAB, emergency, exception). */
export interface EvidenceApproval {
  ref: string;
  kind: string;
  /** What it is, in words: CAB, Emergency, Exception, Deployment, Decision. */
  round: string;
  title: string;
  status: string;
  requester: string;
  requestedAt: string;
  expiresAt: string;
  channel: string | null;
  environment: string | null;
  component: string | null;
  version: string | null;
  reason: string | null;
  decision: { type: string | null; category: string | null; amount: number | null; band: string | null } | null;
  /** What it decides when it is a round of something else (`change CHG-4`). */
  subject: { type: string; ref: string } | null;
  holdReason: string | null;
  flags: string[];
  decidedAt: string | null;
  decidedBy: string | null;
  rejectReason: string | null;
  /** Why it ended so (a rejection's reason, a void's or an expiry's), from its audit entry. */
  endReason: string | null;
  route: EvidenceRouteStep[];
  votes: EvidenceVote[];
  breakGlass: { reason: string | null; by: string | null; reviewStatus: string | null; reviewedBy: string | null; reviewedAt: string | null } | null;
}

export interface EvidenceChange {
  ref: string;
  type: string;
  status: string;
  title: string;
  description: string | null;
  reason: string | null;
  environment: string;
  systems: string[];
  impact: string;
  risk: string;
  affectedUsers: string;
  downtime: boolean;
  downtimeMinutes: number | null;
  riskScore: number;
  riskLevel: string;
  riskReasons: string[];
  window: { start: string; end: string; startLocal: string; endLocal: string } | null;
  rollbackPlan: string | null;
  rollbackTested: boolean;
  requester: string;
  implementer: string | null;
  catalogueId: string | null;
  channel: string | null;
  flags: { code: string; text: string }[];
  createdAt: string;
  decidedAt: string | null;
  /** Every field's changes after the request: before → after, by whom, when. */
  history: { at: string; field: string; before: string | null; after: string | null; by: string }[];
  approvals: {
    /** A standard change: its catalogue entry pre-approved it. */
    preApproved: string | null;
    rounds: EvidenceApproval[];
    deferrals: { at: string; by: string; reason: string | null }[];
  };
  checklist: { progress: string; items: { id: string; text: string; done: boolean; by: string | null; at: string | null }[] };
  implementation: {
    startedAt: string | null;
    startedBy: string | null;
    finishedAt: string | null;
    finishedBy: string | null;
    outcome: string | null;
    durationMs: number | null;
    notes: string | null;
    rollbackReason: string | null;
    rolledBackBy: string | null;
  };
  verification: { notes: string | null; nudges: { at: string; to: string | null }[] };
  review: { required: boolean; dueAt: string | null; reviewedAt: string | null; reviewedBy: string | null; notes: string | null; closedAt: string | null; closedBy: string | null };
  incidents: { ref: string; link: string; by: string; at: string; severity: string; status: string; title: string | null; private: boolean }[];
}

export interface EvidenceIncident {
  ref: string;
  title: string;
  description: string | null;
  severity: string;
  status: string;
  services: string[];
  private: boolean;
  reporter: string;
  channel: string | null;
  channelName: string | null;
  declaredAt: string;
  acknowledgedAt: string | null;
  resolvedAt: string | null;
  closedAt: string | null;
  summary: string | null;
  publicTitle: string | null;
  publishedAt: string | null;
  postmortemAt: string | null;
  roles: { role: string; user: string; assignedBy: string; assumedAt: string; relievedAt: string | null; relievedBy: string | null }[];
  timeline: { at: string; kind: string; actor: string | null; text: string; removed: boolean; editedAt: string | null }[];
  followUps: { number: number; text: string; owner: string | null; due: string | null; status: string; createdBy: string; createdAt: string; doneAt: string | null; doneBy: string | null }[];
  changes: { ref: string; title: string; type: string; status: string; link: string; by: string; at: string }[];
}

/** The whole record. Its key order is fixed and every key is always present, so the JSON is stable. */
export interface Evidence {
  format: 'muster-evidence/1';
  kind: EvidenceKind;
  ref: string;
  workspace: { id: string; platform: string; externalId: string; name: string | null };
  generatedAt: string;
  timeZone: string;
  change: EvidenceChange | null;
  approval: EvidenceApproval | null;
  incident: EvidenceIncident | null;
  audit: {
    /** Which subjects' entries are included (`change CHG-4`, `approval APR-7` …). */
    subjects: string[];
    count: number;
    verified: number;
    keyIds: string[];
    entries: EvidenceAuditEntry[];
    /** The newest entry of the whole chain when the record was made. */
    chainHead: { seq: number; hash: string } | null;
  };
  verify: { command: string; note: string };
}

// ------------------------------------------------------------------------------------------------ reading

const PREFIX: Record<string, EvidenceKind> = { CHG: 'change', APR: 'approval', INC: 'incident' };

/** `CHG-n`, `APR-n` or `INC-n` (any case); undefined for anything else. */
export function parseEvidenceRef(text: string): EvidenceRef | undefined {
  const m = /^(CHG|APR|INC)-([1-9]\d{0,8})$/i.exec(text.trim());
  if (!m) return undefined;
  const prefix = m[1]!.toUpperCase();
  const number = Number(m[2]);
  return { kind: PREFIX[prefix]!, number, ref: `${prefix}-${number}` };
}

export const VERIFY_COMMAND = 'npx muster audit verify';

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null | undefined) => (d ? d.toISOString() : null);
/** A person from an internal user id (`<workspace>:<platform id>`), or `system`. */
const person = (userId: string) => externalOf(userId);
const personOrNull = (userId: string | null | undefined) => (userId ? externalOf(userId) : null);
/** Stored neutral text as plain text (people as @id, times in ISO 8601). */
const plain = (stored: string | null | undefined): string | null => (stored === null || stored === undefined ? null : plainText(decodeText(stored)));

function parseJson<T>(s: string | null | undefined, fallback: T): T {
  if (!s) return fallback;
  try {
    return JSON.parse(s) as T;
  } catch {
    return fallback;
  }
}

function checkHash(row: AuditRow, keyring: AuditKeyring | undefined): HashCheck {
  const { hash, keyId, ...rest } = row;
  if (keyId === null) return entryHash(rest, null) === hash ? 'verified' : 'altered';
  if (!keyring) return 'unchecked';
  const key = keyring.get(keyId);
  if (!key) return 'unknown_key';
  return entryHash(rest, key) === hash ? 'verified' : 'altered';
}

function auditEntry(row: AuditRow, keyring: AuditKeyring | undefined): EvidenceAuditEntry {
  return {
    seq: row.seq,
    createdAt: iso(row.createdAt),
    actor: person(row.actorId),
    actorId: row.actorId,
    actorName: row.actorName,
    platform: row.platform,
    workspaceId: row.workspaceId,
    action: row.action,
    outcome: row.outcome,
    subjectType: row.subjectType,
    subjectId: row.subjectId,
    before: row.before,
    after: row.after,
    reason: row.reason,
    flags: row.flags,
    requestId: row.requestId,
    prevHash: row.prevHash,
    hash: row.hash,
    keyId: row.keyId,
    hashCheck: checkHash(row, keyring),
  };
}

type ApprovalRow = NonNullable<Awaited<ReturnType<Tx['approvalRequest']['findUnique']>>>;

function roundName(row: ApprovalRow, route: Route<string>): string {
  if (row.kind === 'exception') return 'Exception';
  if (row.kind === 'deploy') return 'Deployment';
  if (row.kind === 'decision') return 'Decision';
  const step = route.steps[0]?.name ?? '';
  if (step.startsWith('Emergency')) return 'Emergency';
  if (step === 'CAB') return 'CAB';
  return step || row.kind;
}

async function approvalEvidence(tx: Tx, row: ApprovalRow, entries: readonly AuditRow[]): Promise<EvidenceApproval> {
  const route = parseJson<Route<string>>(row.route, { steps: [] });
  const votes = await tx.approvalVote.findMany({ where: { requestId: row.id }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  let subject: EvidenceApproval['subject'] = null;
  if (row.subjectType && row.subjectId) {
    if (row.subjectType === 'change') {
      const c = await tx.changeRequest.findUnique({ where: { id: row.subjectId }, select: { number: true } });
      subject = { type: 'change', ref: c ? changeRef(c.number) : row.subjectId };
    } else if (row.subjectType === 'approval' || row.subjectType === 'deploy') {
      const a = await tx.approvalRequest.findUnique({ where: { id: row.subjectId }, select: { number: true } });
      subject = { type: row.subjectType, ref: a ? approvalRef(a.number) : row.subjectId };
    } else subject = { type: row.subjectType, ref: row.subjectId };
  }
  const ref = approvalRef(row.number);
  const ending = [...entries].reverse().find((e) => e.subjectType === 'approval' && e.subjectId === ref && e.action === `approval.${row.status}` && e.outcome === 'ok');
  return {
    ref,
    kind: row.kind,
    round: roundName(row, route),
    title: plain(row.title) ?? '',
    status: row.status,
    requester: person(row.requesterId),
    requestedAt: iso(row.createdAt),
    expiresAt: iso(row.expiresAt),
    channel: row.channelId,
    environment: row.environment,
    component: row.component,
    version: row.version,
    reason: plain(row.reason),
    decision: row.kind === 'decision' ? { type: row.decisionType, category: row.category, amount: row.amount, band: row.band } : null,
    subject,
    holdReason: plain(row.holdReason),
    flags: parseJson<string[]>(row.flags, []),
    decidedAt: isoOrNull(row.decidedAt),
    decidedBy: personOrNull(row.decidedBy),
    rejectReason: plain(row.rejectReason),
    endReason: ending?.reason ?? null,
    route: route.steps.map((s) => ({
      name: s.name ?? null,
      quorum: s.quorum ?? null,
      require: s.require.map((r) => ({ seat: r.label ?? null, anyOf: [...r.anyOf], count: r.count, required: Boolean(r.required) })),
    })),
    votes: votes.map((v) => {
      const step = route.steps[v.step];
      const req = v.requirement === null ? undefined : step?.require[v.requirement];
      return {
        at: iso(v.createdAt),
        user: person(v.userId),
        decision: v.decision,
        step: v.step + 1,
        stepName: step?.name ?? null,
        seat: req ? (req.label ?? req.anyOf.join(' or ')) : null,
        role: v.role,
        rolesHeld: parseJson<string[]>(v.roles, []),
        reason: plain(v.reason),
      };
    }),
    breakGlass: row.breakGlass
      ? { reason: plain(row.breakGlassReason), by: personOrNull(row.decidedBy), reviewStatus: row.reviewStatus, reviewedBy: personOrNull(row.reviewedBy), reviewedAt: isoOrNull(row.reviewedAt) }
      : null,
  };
}

async function auditOf(tx: Tx, workspaceId: string, subjects: { type: string; id: string }[]): Promise<AuditRow[]> {
  if (!subjects.length) return [];
  const rows = await tx.auditEntry.findMany({
    where: { workspaceId, OR: subjects.map((s) => ({ subjectType: s.type, subjectId: s.id })) },
    orderBy: { seq: 'asc' },
  });
  return rows as AuditRow[];
}

/** The last successful audit entry of an action, for who did it. */
const lastOk = (entries: readonly AuditRow[], action: string) => [...entries].reverse().find((e) => e.action === action && e.outcome === 'ok');

type ChangeRow = NonNullable<Awaited<ReturnType<Tx['changeRequest']['findUnique']>>>;

async function changeEvidence(tx: Tx, row: ChangeRow, timeZone: string): Promise<{ change: EvidenceChange; audit: AuditRow[]; subjects: string[] }> {
  const refName = changeRef(row.number);
  const [revisions, roundRows, links] = await Promise.all([
    tx.changeRevision.findMany({ where: { changeId: row.id }, orderBy: [{ at: 'asc' }, { id: 'asc' }] }),
    tx.approvalRequest.findMany({ where: { workspaceId: row.workspaceId, subjectType: 'change', subjectId: row.id }, orderBy: [{ createdAt: 'asc' }, { number: 'asc' }] }),
    tx.changeIncidentLink.findMany({ where: { changeId: row.id }, orderBy: [{ at: 'asc' }, { id: 'asc' }] }),
  ]);
  const subjects = [{ type: 'change', id: refName }, ...roundRows.map((r) => ({ type: 'approval', id: approvalRef(r.number) }))];
  const audit = await auditOf(tx, row.workspaceId, subjects);
  const rounds: EvidenceApproval[] = [];
  for (const r of roundRows) rounds.push(await approvalEvidence(tx, r, audit));
  const incidents: EvidenceChange['incidents'] = [];
  for (const l of links) {
    const inc = await tx.incident.findUnique({ where: { id: l.incidentId } });
    if (!inc) continue;
    incidents.push({
      ref: incidentRef(inc.number),
      link: l.kind,
      by: person(l.byId),
      at: iso(l.at),
      severity: inc.severity,
      status: inc.status,
      // A private incident's title stays in the incident.
      title: inc.isPrivate ? null : (plain(inc.title) ?? ''),
      private: inc.isPrivate,
    });
  }
  const riskInput: RiskInput = {
    impact: row.impact as Level3,
    risk: row.risk as Level3,
    affectedUsers: row.affectedUsers as AffectedUsers,
    downtime: row.downtimeMinutes ?? (row.downtime ? 'minutes' : 'none'),
  };
  const checklist = parseJson<{ id: string; text: string; done: boolean; by?: string; at?: string }[]>(row.checklist, []);
  const start = lastOk(audit, 'change.start');
  const done = lastOk(audit, 'change.done');
  const rollback = lastOk(audit, 'change.rollback');
  const review = lastOk(audit, 'change.review');
  const close = lastOk(audit, 'change.close');
  const type = row.type as ChangeType;
  const outcome = row.outcome as 'success' | 'failed' | 'rolled_back' | null;
  const change: EvidenceChange = {
    ref: refName,
    type: row.type,
    status: row.status,
    title: plain(row.title) ?? '',
    description: plain(row.description),
    reason: plain(row.reason),
    environment: row.environment,
    systems: parseJson<string[]>(row.systems, []),
    impact: row.impact,
    risk: row.risk,
    affectedUsers: row.affectedUsers,
    downtime: row.downtime,
    downtimeMinutes: row.downtimeMinutes,
    riskScore: row.riskScore,
    riskLevel: row.riskLevel,
    riskReasons: assessRisk(riskInput).reasons,
    window:
      row.windowStart && row.windowEnd
        ? { start: iso(row.windowStart), end: iso(row.windowEnd), startLocal: formatLocal(row.windowStart, timeZone), endLocal: formatLocal(row.windowEnd, timeZone) }
        : null,
    rollbackPlan: plain(row.rollbackPlan),
    rollbackTested: row.rollbackTested,
    requester: person(row.requesterId),
    implementer: personOrNull(row.implementerId),
    catalogueId: row.catalogueId,
    channel: row.channelId,
    flags: parseJson<{ code: string; text: string }[]>(row.flags, []).map((f) => ({ code: f.code, text: f.text })),
    createdAt: iso(row.createdAt),
    decidedAt: isoOrNull(row.decidedAt),
    history: revisions.map((r) => ({ at: iso(r.at), field: r.field, before: plain(r.before), after: plain(r.after), by: person(r.byId) })),
    approvals: {
      preApproved: type === 'standard' ? (row.catalogueId ?? 'the standard change catalogue') : null,
      rounds,
      deferrals: revisions.filter((r) => r.field === 'deferReason' && r.after !== null).map((r) => ({ at: iso(r.at), by: person(r.byId), reason: plain(r.after) })),
    },
    checklist: {
      progress: checklistProgress(checklist.map((i) => ({ id: i.id, text: i.text, done: i.done }))),
      items: checklist.map((i) => ({ id: i.id, text: i.text, done: i.done, by: i.done && i.by ? person(i.by) : null, at: i.done && i.at ? new Date(i.at).toISOString() : null })),
    },
    implementation: {
      startedAt: isoOrNull(row.startedAt),
      startedBy: start ? person(start.actorId) : null,
      finishedAt: done || rollback ? isoOrNull(row.implementedAt) : null,
      finishedBy: done ? person(done.actorId) : null,
      outcome: row.outcome,
      durationMs: row.startedAt && row.implementedAt ? row.implementedAt.getTime() - row.startedAt.getTime() : null,
      notes: plain(row.implementationNotes),
      rollbackReason: plain(row.rollbackReason),
      rolledBackBy: rollback ? person(rollback.actorId) : null,
    },
    verification: {
      notes: plain(row.verificationNotes),
      nudges: audit.filter((e) => e.action === 'change.verify.nudge' && e.outcome === 'ok').map((e) => ({ at: iso(e.createdAt), to: parseJson<{ to?: string }>(e.after, {}).to ?? null })),
    },
    review: {
      required: reviewRequired({ type, status: row.status as ChangeStatus, outcome }),
      dueAt: isoOrNull(row.reviewDueAt),
      reviewedAt: isoOrNull(row.reviewedAt),
      reviewedBy: review ? person(review.actorId) : null,
      notes: plain(row.reviewNotes),
      closedAt: isoOrNull(row.closedAt),
      closedBy: close ? person(close.actorId) : null,
    },
    incidents,
  };
  return { change, audit, subjects: subjects.map((s) => `${s.type} ${s.id}`) };
}

type IncidentRow = NonNullable<Awaited<ReturnType<Tx['incident']['findUnique']>>>;

async function incidentEvidence(tx: Tx, row: IncidentRow): Promise<EvidenceIncident> {
  const [roles, timeline, actions, links] = await Promise.all([
    tx.incidentRole.findMany({ where: { incidentId: row.id }, orderBy: [{ assumedAt: 'asc' }, { id: 'asc' }] }),
    tx.timelineEntry.findMany({ where: { incidentId: row.id }, orderBy: [{ at: 'asc' }, { id: 'asc' }] }),
    tx.actionItem.findMany({ where: { incidentId: row.id }, orderBy: { number: 'asc' } }),
    tx.changeIncidentLink.findMany({ where: { incidentId: row.id }, orderBy: [{ at: 'asc' }, { id: 'asc' }], include: { change: true } }),
  ]);
  return {
    ref: incidentRef(row.number),
    title: plain(row.title) ?? '',
    description: plain(row.description),
    severity: row.severity,
    status: row.status,
    services: parseJson<string[]>(row.services, []),
    private: row.isPrivate,
    reporter: person(row.reporterId),
    channel: row.channelId,
    channelName: row.channelName,
    declaredAt: iso(row.declaredAt),
    acknowledgedAt: isoOrNull(row.acknowledgedAt),
    resolvedAt: isoOrNull(row.resolvedAt),
    closedAt: isoOrNull(row.closedAt),
    summary: plain(row.summary),
    publicTitle: row.publicTitle,
    publishedAt: isoOrNull(row.publishedAt),
    postmortemAt: isoOrNull(row.postmortemAt),
    roles: roles.map((r) => ({
      role: r.role,
      user: person(r.userId),
      assignedBy: person(r.assignedBy),
      assumedAt: iso(r.assumedAt),
      relievedAt: isoOrNull(r.relievedAt),
      relievedBy: personOrNull(r.relievedBy),
    })),
    timeline: timeline.map((e) => ({ at: iso(e.at), kind: e.kind, actor: personOrNull(e.actorId), text: plain(e.text) ?? '', removed: e.removed, editedAt: isoOrNull(e.editedAt) })),
    followUps: actions.map((a) => ({
      number: a.number,
      text: plain(a.text) ?? '',
      owner: personOrNull(a.ownerId),
      due: a.dueDate,
      status: a.status,
      createdBy: person(a.createdBy),
      createdAt: iso(a.createdAt),
      doneAt: isoOrNull(a.doneAt),
      doneBy: personOrNull(a.doneBy),
    })),
    changes: links.map((l) => ({ ref: changeRef(l.change.number), title: plain(l.change.title) ?? '', type: l.change.type, status: l.change.status, link: l.kind, by: person(l.byId), at: iso(l.at) })),
  };
}

export interface GatherOptions {
  workspaceId: string;
  ref: EvidenceRef;
  now: Date;
  /** The organisation's time zone (a change's window is also shown in it). */
  timeZone: string;
  /** The audit keys, to check each entry's hash; without them keyed entries are `unchecked`. */
  keyring?: AuditKeyring;
}

/** Everything about one record, or null when it does not exist in the workspace. */
export async function gatherEvidence(tx: Tx, o: GatherOptions): Promise<Evidence | null> {
  const ws = await tx.workspace.findUnique({ where: { id: o.workspaceId } });
  if (!ws) return null;
  const where = { workspaceId_number: { workspaceId: o.workspaceId, number: o.ref.number } };
  let change: EvidenceChange | null = null;
  let approval: EvidenceApproval | null = null;
  let incident: EvidenceIncident | null = null;
  let audit: AuditRow[];
  let subjects: string[];
  if (o.ref.kind === 'change') {
    const row = await tx.changeRequest.findUnique({ where });
    if (!row) return null;
    const c = await changeEvidence(tx, row, o.timeZone);
    change = c.change;
    audit = c.audit;
    subjects = c.subjects;
  } else if (o.ref.kind === 'approval') {
    const row = await tx.approvalRequest.findUnique({ where });
    if (!row) return null;
    audit = await auditOf(tx, o.workspaceId, [{ type: 'approval', id: o.ref.ref }]);
    approval = await approvalEvidence(tx, row, audit);
    subjects = [`approval ${o.ref.ref}`];
  } else {
    const row = await tx.incident.findUnique({ where });
    if (!row) return null;
    incident = await incidentEvidence(tx, row);
    audit = await auditOf(tx, o.workspaceId, [{ type: 'incident', id: o.ref.ref }]);
    subjects = [`incident ${o.ref.ref}`];
  }
  const head = await tx.auditEntry.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true, hash: true } });
  const entries = audit.map((r) => auditEntry(r, o.keyring));
  return {
    format: 'muster-evidence/1',
    kind: o.ref.kind,
    ref: o.ref.ref,
    workspace: { id: ws.id, platform: ws.platform, externalId: ws.externalId, name: ws.name },
    generatedAt: iso(o.now),
    timeZone: o.timeZone,
    change,
    approval,
    incident,
    audit: {
      subjects,
      count: entries.length,
      verified: entries.filter((e) => e.hashCheck === 'verified').length,
      keyIds: [...new Set(entries.map((e) => e.keyId).filter((k): k is string => k !== null))],
      entries,
      chainHead: head ? { seq: head.seq, hash: head.hash } : null,
    },
    verify: {
      command: VERIFY_COMMAND,
      note:
        'Run it with the same DATABASE_URL and MUSTER_AUDIT_KEY (and MUSTER_AUDIT_PREVIOUS_KEYS for retired keys); add --checkpoints FILE for each checkpoint log kept, ' +
        'or --channel to read the audit channel. It checks every entry of the chain, these among them, and that the published checkpoints are still on it.',
    },
  };
}

// ------------------------------------------------------------------------------------------------ writing

/** The record as JSON: the same content as the Markdown, stable keys, ISO times. */
export function evidenceJson(e: Evidence): string {
  return `${JSON.stringify(e, null, 2)}\n`;
}

/** A value in a Markdown table cell or line: nothing in it acts as markup or breaks the table. */
function md(s: string | null | undefined, empty = '—'): string {
  if (s === null || s === undefined || s.trim() === '') return empty;
  return (
    s
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/\\/g, '\\\\')
      .replace(/([|*`[\]~])/g, '\\$1')
      // An underscore inside a word emphasises nothing (security_lead stays readable); at a word's edge it could.
      .replace(/(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\_')
      .replace(/\r?\n/g, '<br>')
  );
}

/** A code span that holds any text (a fence longer than any run of backticks in it). */
function codeSpan(s: string): string {
  const longest = Math.max(0, ...[...s.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${s.replace(/\r?\n/g, ' ')}${pad}${fence}`;
}

const t = (s: string | null | undefined) => (s ? s.replace(/\.000Z$/, 'Z') : '—');
const who = (p: string | null | undefined) => (!p ? '—' : p === 'system' ? 'Muster (system)' : `@${md(p)}`);
const yes = (b: boolean) => (b ? 'yes' : 'no');

function table(head: string[], rows: string[][]): string[] {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- ').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function duration(ms: number | null): string {
  if (ms === null) return '—';
  const m = Math.round(ms / 60_000);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function approvalLines(a: EvidenceApproval, level: string): string[] {
  const route = a.route.map((s, i) => {
    const seats = s.require.map((r) => `${r.seat ? `${md(r.seat)} (${r.anyOf.join(', ')})` : r.anyOf.join(' or ')}${r.count > 1 ? ` ×${r.count}` : ''}${r.required ? ', required' : ''}`);
    const rule = s.quorum !== null ? `${s.quorum} of ${s.require.length} seats` : s.require.length > 1 ? 'every requirement' : 'one requirement';
    return `  ${i + 1}. ${md(s.name, `step ${i + 1}`)}: ${rule}: ${seats.join('; ')}`;
  });
  const lines = [
    `${level} ${a.ref} · ${a.round} · ${a.status}`,
    '',
    `- Title: ${md(a.title)}`,
    `- Requested by ${who(a.requester)} at ${t(a.requestedAt)}; expires ${t(a.expiresAt)}`,
    ...(a.subject ? [`- Decides: ${a.subject.type} ${a.subject.ref}`] : []),
    ...(a.component || a.version ? [`- Deployment: ${md(a.environment)} · ${md(a.component)} · ${md(a.version)}`] : a.environment ? [`- Environment: ${md(a.environment)}`] : []),
    ...(a.decision ? [`- Decision rights: ${md(a.decision.type)} · ${md(a.decision.category)} · ${a.decision.amount === null ? 'no amount' : `$${a.decision.amount}`} (${md(a.decision.band)})`] : []),
    ...(a.reason ? [`- Reason: ${md(a.reason)}`] : []),
    ...(a.holdReason ? [`- Held: ${md(a.holdReason)}`] : []),
    ...(a.flags.length ? [`- Flags: ${a.flags.map((f) => md(f)).join(', ')}`] : []),
    `- Route:`,
    ...(route.length ? route : ['  none (approved on request)']),
    `- Outcome: ${a.status}${a.decidedAt ? ` at ${t(a.decidedAt)}` : ''}${a.decidedBy ? ` by ${who(a.decidedBy)}` : ''}${a.rejectReason ? `; rejected: ${md(a.rejectReason)}` : a.endReason ? `; ${md(a.endReason)}` : ''}`,
  ];
  if (a.breakGlass) {
    lines.push(
      `- Break-glass by ${who(a.breakGlass.by)}: ${md(a.breakGlass.reason)}; post-review ${md(a.breakGlass.reviewStatus)}${a.breakGlass.reviewedBy ? ` by ${who(a.breakGlass.reviewedBy)} at ${t(a.breakGlass.reviewedAt)}` : ''}`,
    );
  }
  lines.push('');
  if (a.votes.length) {
    lines.push(
      ...table(
        ['When', 'Approver', 'Decision', 'Seat filled', 'Role', 'Step', 'Roles held', 'Reason'],
        a.votes.map((v) => [t(v.at), who(v.user), v.decision, md(v.seat), md(v.role), `${v.step}${v.stepName ? ` (${md(v.stepName)})` : ''}`, md(v.rolesHeld.join(', ')), md(v.reason)]),
      ),
    );
  } else lines.push('No votes.');
  lines.push('');
  return lines;
}

function changeLines(c: EvidenceChange): string[] {
  const downtime = c.downtimeMinutes !== null ? `${c.downtimeMinutes} min` : c.downtime ? 'yes' : 'none';
  const lines: string[] = [
    '## Request',
    '',
    ...table(
      ['Field', 'Value'],
      [
        ['Type', c.type],
        ['Status', c.status],
        ['Title', md(c.title)],
        ['Description', md(c.description)],
        ['Reason', md(c.reason)],
        ['Environment', md(c.environment)],
        ['Systems', md(c.systems.join(', '))],
        ['Impact', c.impact],
        ['Risk of failure', c.risk],
        ['Affected users', c.affectedUsers],
        ['Downtime', downtime],
        ['Risk', `${c.riskLevel} (${c.riskScore}): ${md(c.riskReasons.join('; '))}`],
        ['Window', c.window ? `${t(c.window.start)} – ${t(c.window.end)} (${md(c.window.startLocal)} – ${md(c.window.endLocal)} local)` : '—'],
        ['Rollback plan', md(c.rollbackPlan)],
        ['Rollback tested', yes(c.rollbackTested)],
        ['Requested by', `${who(c.requester)} at ${t(c.createdAt)}`],
        ['Implementer', who(c.implementer)],
        ['Catalogue entry', md(c.catalogueId)],
        ['Asked in', c.channel ? `#${md(c.channel)}` : '—'],
        ['Flags', md(c.flags.map((f) => `${f.code}: ${f.text}`).join('; '))],
      ],
    ),
    '',
    '### Field history',
    '',
    ...(c.history.length
      ? table(
          ['When', 'Field', 'Before', 'After', 'By'],
          c.history.map((h) => [t(h.at), md(h.field), md(h.before), md(h.after), who(h.by)]),
        )
      : ['No field changed after the request.']),
    '',
    '## Approvals',
    '',
  ];
  if (c.approvals.preApproved) lines.push(`Pre-approved: a standard change from the catalogue entry ${md(c.approvals.preApproved)} (no votes).`, '');
  if (!c.approvals.rounds.length && !c.approvals.preApproved) lines.push('No approval round was opened.', '');
  for (const r of c.approvals.rounds) lines.push(...approvalLines(r, '###'));
  lines.push('### Deferrals', '');
  lines.push(
    ...(c.approvals.deferrals.length
      ? table(
          ['When', 'By', 'Reason'],
          c.approvals.deferrals.map((d) => [t(d.at), who(d.by), md(d.reason)]),
        )
      : ['None.']),
    '',
  );
  lines.push(`## Go/no-go checklist (${c.checklist.progress})`, '');
  lines.push(
    ...(c.checklist.items.length
      ? table(
          ['Item', 'Done', 'Ticked by', 'When'],
          c.checklist.items.map((i) => [`${md(i.text)} (${md(i.id)})`, yes(i.done), who(i.by), t(i.at)]),
        )
      : ['No checklist.']),
    '',
  );
  const im = c.implementation;
  lines.push(
    '## Implementation',
    '',
    ...table(
      ['', ''],
      [
        ['Started', im.startedAt ? `${t(im.startedAt)} by ${who(im.startedBy)}` : 'not started'],
        ['Finished', im.finishedAt ? `${t(im.finishedAt)}${im.finishedBy ? ` by ${who(im.finishedBy)}` : ''}` : '—'],
        ['Outcome', md(im.outcome)],
        ['Duration', duration(im.durationMs)],
        ['Notes', md(im.notes)],
        ['Rollback', im.rollbackReason ? `${md(im.rollbackReason)} (by ${who(im.rolledBackBy)})` : '—'],
      ],
    ),
    '',
    '## Verification',
    '',
    ...table(
      ['', ''],
      [
        ['Nudges', c.verification.nudges.length ? c.verification.nudges.map((n) => `${t(n.at)} to ${who(n.to)}`).join('; ') : 'none'],
        ['Notes', md(c.verification.notes)],
      ],
    ),
    '',
    '## Review',
    '',
    ...table(
      ['', ''],
      [
        ['Required', yes(c.review.required)],
        ['Due', t(c.review.dueAt)],
        ['Reviewed', c.review.reviewedAt ? `${t(c.review.reviewedAt)} by ${who(c.review.reviewedBy)}` : 'not yet'],
        ['Notes', md(c.review.notes)],
        ['Closed', c.review.closedAt ? `${t(c.review.closedAt)} by ${who(c.review.closedBy)}` : 'not yet'],
      ],
    ),
    '',
    '## Linked incidents',
    '',
    ...(c.incidents.length
      ? table(
          ['Incident', 'Link', 'Severity', 'Status', 'Title', 'By', 'When'],
          c.incidents.map((i) => [i.ref, md(i.link.replace(/_/g, ' ')), i.severity, i.status, i.private ? '(private incident)' : md(i.title), who(i.by), t(i.at)]),
        )
      : ['None.']),
    '',
  );
  return lines;
}

function incidentLines(i: EvidenceIncident): string[] {
  return [
    '## Incident',
    '',
    ...table(
      ['Field', 'Value'],
      [
        ['Title', md(i.title)],
        ['Severity', i.severity],
        ['Status', i.status],
        ['Description', md(i.description)],
        ['Services', md(i.services.join(', '))],
        ['Private', yes(i.private)],
        ['Reported by', who(i.reporter)],
        ['Channel', i.channel ? `#${md(i.channelName ?? i.channel)} (${md(i.channel)})` : '—'],
        ['Declared', t(i.declaredAt)],
        ['Acknowledged', t(i.acknowledgedAt)],
        ['Resolved', t(i.resolvedAt)],
        ['Closed', t(i.closedAt)],
        ['Summary', md(i.summary)],
        ['Status page', i.publishedAt ? `${md(i.publicTitle)} (published ${t(i.publishedAt)})` : 'not published'],
        ['Post-incident review', i.postmortemAt ? `generated ${t(i.postmortemAt)}` : 'not generated'],
      ],
    ),
    '',
    '## Roles and hand-offs',
    '',
    ...(i.roles.length
      ? table(
          ['Role', 'Held by', 'Assigned by', 'From', 'Until', 'Relieved by'],
          i.roles.map((r) => [md(r.role), who(r.user), who(r.assignedBy), t(r.assumedAt), r.relievedAt ? t(r.relievedAt) : 'now', who(r.relievedBy)]),
        )
      : ['No role was assigned.']),
    '',
    '## Timeline',
    '',
    ...(i.timeline.length
      ? table(
          ['When', 'What', 'Who', 'Detail'],
          i.timeline.map((e) => [t(e.at), `${md(e.kind)}${e.removed ? ' (removed)' : ''}${e.editedAt ? ` (edited ${t(e.editedAt)})` : ''}`, who(e.actor), md(e.text)]),
        )
      : ['Empty.']),
    '',
    '## Follow-ups',
    '',
    ...(i.followUps.length
      ? table(
          ['#', 'Follow-up', 'Owner', 'Due', 'Status', 'Created', 'Done'],
          i.followUps.map((a) => [String(a.number), md(a.text), who(a.owner), md(a.due), a.status, `${t(a.createdAt)} by ${who(a.createdBy)}`, a.doneAt ? `${t(a.doneAt)} by ${who(a.doneBy)}` : '—']),
        )
      : ['None.']),
    '',
    '## Linked changes',
    '',
    ...(i.changes.length
      ? table(
          ['Change', 'Title', 'Type', 'Status', 'Link', 'By', 'When'],
          i.changes.map((c) => [c.ref, md(c.title), c.type, c.status, md(c.link.replace(/_/g, ' ')), who(c.by), t(c.at)]),
        )
      : ['None.']),
    '',
  ];
}

const CHECK_TEXT: Record<HashCheck, string> = {
  verified: 'verifies',
  altered: '**does not match its content**',
  unknown_key: 'made with a key not held here',
  unchecked: 'not checked (no audit key)',
};

function auditLines(e: Evidence): string[] {
  const a = e.audit;
  const lines = [
    `## Audit trail (${a.count} ${a.count === 1 ? 'entry' : 'entries'})`,
    '',
    `Every entry of the audit chain about ${a.subjects.join(', ')}, in chain order, as stored in audit_entries. ` +
      'Each hash is the HMAC-SHA256, under the audit key named by its key id, of the entry with the hash of the entry before it: ' +
      `${a.verified} of ${a.count} verified against their content when this record was made.`,
    '',
  ];
  for (const x of a.entries) {
    lines.push(
      `### #${x.seq} · ${t(x.createdAt)} · ${md(x.action)} · ${md(x.outcome)}`,
      '',
      `- Actor: ${who(x.actor)}${x.actorName && x.actor !== 'system' ? ` (${md(x.actorName)})` : ''} on ${md(x.platform)}`,
      `- Subject: ${md(x.subjectType)} ${md(x.subjectId)}`,
      ...(x.before !== null ? [`- Before: ${codeSpan(x.before)}`] : []),
      ...(x.after !== null ? [`- After: ${codeSpan(x.after)}`] : []),
      ...(x.reason !== null ? [`- Reason: ${md(x.reason)}`] : []),
      ...(x.flags !== null ? [`- Flags: ${codeSpan(x.flags)}`] : []),
      ...(x.requestId !== null ? [`- Request: ${codeSpan(x.requestId)}`] : []),
      `- Previous hash: ${codeSpan(x.prevHash)}`,
      `- Hash: ${codeSpan(x.hash)} · key ${x.keyId ? codeSpan(x.keyId) : 'none (legacy, before keying)'} · ${CHECK_TEXT[x.hashCheck]}`,
      '',
    );
  }
  if (!a.entries.length) lines.push('No audit entries.', '');
  return lines;
}

/** The record as Markdown: the record itself, its audit entries with their hashes, then the command that re-verifies the chain. */
export function evidenceMarkdown(e: Evidence): string {
  const title = e.change ? e.change.title : e.approval ? e.approval.title : (e.incident?.title ?? '');
  const what = { change: 'change request', approval: 'approval request', incident: 'incident' }[e.kind];
  const lines: string[] = [
    `# Evidence: ${e.ref} — ${md(title)}`,
    '',
    ...table(
      ['', ''],
      [
        ['Record', `${what} ${e.ref}`],
        ['Workspace', `${md(e.workspace.id)}${e.workspace.name ? ` (${md(e.workspace.name)})` : ''}`],
        ['Generated', t(e.generatedAt)],
        ['Times', `UTC, ISO 8601; the organisation's time zone is ${md(e.timeZone)}`],
        ['People', 'by their platform id'],
        ['Audit entries', `${e.audit.count}, ${e.audit.verified} verified${e.audit.keyIds.length ? ` (key${e.audit.keyIds.length > 1 ? 's' : ''} ${e.audit.keyIds.join(', ')})` : ''}`],
      ],
    ),
    '',
  ];
  if (e.change) lines.push(...changeLines(e.change));
  if (e.approval) lines.push('## Approval request', '', ...approvalLines(e.approval, '###'));
  if (e.incident) lines.push(...incidentLines(e.incident));
  lines.push(...auditLines(e));
  lines.push(
    '## Re-verify the chain',
    '',
    e.audit.chainHead
      ? `When this record was made the chain's newest entry was #${e.audit.chainHead.seq}, hash ${codeSpan(e.audit.chainHead.hash)}.`
      : 'The chain was empty when this record was made.',
    `${e.verify.note}`,
    '',
    '```sh',
    e.verify.command,
    '```',
    '',
  );
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------ chat

/** The longest message the record is split into where a platform cannot take a file (every platform takes 2,000 characters). */
const MESSAGE_CHARS = 1900;

/** `/change evidence CHG-n`: the record shared as a file where it was asked (as messages where files cannot be shared). */
export class EvidenceService {
  constructor(private readonly k: Kernel) {}

  async change(actor: Actor, meta: RequestMeta, refText: string): Promise<Reply> {
    const ref = parseEvidenceRef(refText);
    if (!ref || ref.kind !== 'change') throw new UsageError(`"${refText}" is not a change request: write CHG-n.`, '/change evidence CHG-n');
    return this.k.run(actor, meta, async (u) => {
      const row = await u.tx.changeRequest.findUnique({ where: { workspaceId_number: { workspaceId: actor.workspaceId, number: ref.number } } });
      if (!row) throw new Refusal(`${ref.ref} does not exist.`);
      const own = row.requesterId === actor.userId || row.implementerId === actor.userId;
      const permissions = this.k.policy.permissions;
      if (!own && !hasPermission(actor.roles, 'read_audit', permissions) && !hasPermission(actor.roles, 'manage_changes', permissions)) {
        const holders = [...new Set([...permissions.read_audit, ...permissions.manage_changes])];
        throw new Refusal(`You cannot export the evidence of ${ref.ref}: that is for its requester, its implementer, and holders of read_audit or manage_changes (${holders.join(', ')}).`, {
          action: 'change.evidence',
          subjectType: 'change',
          subjectId: ref.ref,
          reason: 'not the requester or implementer, and neither read_audit nor manage_changes',
        });
      }
      const channel = meta.channelId;
      if (!channel) throw new Refusal(rt`Ask for the evidence in a channel: it is shared there. Or run ${code(`muster evidence ${ref.ref}`)} on the command line.`);
      const record = await gatherEvidence(u.tx, { workspaceId: actor.workspaceId, ref, now: u.now, timeZone: this.k.policy.organization.timeZone, keyring: this.k.audit.keyring });
      if (!record) throw new Refusal(`${ref.ref} does not exist.`);
      const markdown = evidenceMarkdown(record);
      const asFile = this.k.capabilities(actor.platform).fileUpload;
      let parts = 1;
      if (asFile) {
        u.effects({
          op: 'uploadFile',
          args: {
            channel,
            content: markdown,
            filename: `${ref.ref.toLowerCase()}-evidence.md`,
            title: `${ref.ref} evidence`,
            comment: `Evidence record of ${ref.ref}: the request and its history, approvals, checklist, implementation, verification, review and ${record.audit.count} audit entries with their chain hashes.`,
          },
        });
      } else {
        // No file sharing on this platform: the record goes to the channel as messages, in order.
        const chunks = chunkLines(markdown, MESSAGE_CHARS);
        parts = chunks.length;
        let previous: number | undefined;
        for (const [i, part] of chunks.entries()) {
          const text = `${ref.ref} evidence (${i + 1}/${chunks.length})\n${part}`;
          const [id] = await u.enqueue({ op: 'postMessage', ...(previous !== undefined ? { afterAll: [previous] } : {}), args: { channel, text } });
          previous = id;
        }
      }
      u.audit({
        action: 'change.evidence',
        subjectType: 'change',
        subjectId: ref.ref,
        after: {
          as: asFile ? 'file' : 'messages',
          parts,
          bytes: Buffer.byteLength(markdown, 'utf8'),
          entries: record.audit.count,
          verified: record.audit.verified,
          head: record.audit.chainHead?.seq ?? null,
        },
      });
      const checked = record.audit.verified === record.audit.count ? 'every hash verified' : `${record.audit.verified} of ${record.audit.count} hashes verified`;
      return {
        text: rt`Evidence record of ${ref.ref} shared here ${asFile ? 'as a file' : `as ${parts} message${parts === 1 ? '' : 's'}`}: ${record.audit.count} audit entr${record.audit.count === 1 ? 'y' : 'ies'}, ${checked}. Re-verify the chain with ${code(VERIFY_COMMAND)}.`,
      };
    });
  }
}
