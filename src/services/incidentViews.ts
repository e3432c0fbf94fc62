import { marks, modelRow, sqlOf, type Tx } from '../store/db.ts';
import type { Policy, Severity } from '../config/policy.ts';
import { decodeNullable, decodeText, plainText, type Text } from '../domain/text.ts';
import { incidentRef, slaClocks, type IncidentRoleName, type IncidentStatus, type SlaClocks } from '../domain/incident.ts';
import { changeRef } from '../domain/change.ts';

/** An incident as surfaces and replies show it (user ids are the platform's, e.g. U123). */
export interface IncidentView {
  id: string;
  workspaceId: string;
  ref: string;
  number: number;
  title: Text;
  description: Text | null;
  services: string[];
  severity: Severity;
  status: IncidentStatus;
  isPrivate: boolean;
  reporter: string;
  commander?: string;
  tech?: string;
  comms?: string;
  channelId: string | null;
  channelName: string | null;
  declaredAt: Date;
  acknowledgedAt: Date | null;
  lastUpdateAt: Date;
  resolvedAt: Date | null;
  closedAt: Date | null;
  summary: Text | null;
  publicText: string | null;
  publicUpdatedAt: Date | null;
  /** The title customers read on the status page, once published (null: not on the page). */
  publicTitle: string | null;
  publishedAt: Date | null;
  sla: SlaClocks;
  updateDueAt: Date | null;
  openActions: number;
  /** What changed around it (computed when it is drawn, so it stays current). */
  changes: IncidentChanges;
}

/** A change request as an incident shows it. */
export interface IncidentChange {
  id: string;
  ref: string;
  title: Text;
  type: string;
  status: string;
  environment: string;
  systems: string[];
  windowStart: Date | null;
  windowEnd: Date | null;
  implementedAt: Date | null;
  /** success, failed or rolled_back once implemented. */
  outcome: string | null;
  requester: string;
  implementer: string | null;
  /** Linked to the incident as a suspected cause (`/incident link CHG-n`). */
  suspected: boolean;
}

export interface IncidentChanges {
  /** The lookback's start: 24 h before the incident was declared. */
  since: Date;
  /** The lookback's end: now, or when the incident was resolved. */
  until: Date;
  /**
   * Changes implemented from `since` until now on the incident's services (every change when it names
   * none), suspected causes first, then the most recent.
   */
  recent: IncidentChange[];
  /** Suspected causes outside `recent` (earlier, or on other systems). */
  suspectedElsewhere: IncidentChange[];
  /** Changes raised in its channel or naming it (emergency fixes, mostly), oldest first. */
  raised: IncidentChange[];
}

/** How far back before a declaration changes are looked for. */
export const CHANGE_LOOKBACK_MS = 24 * 3_600_000;
/** The statuses of a change that has been carried out (whatever its outcome). */
const CARRIED_OUT = ['implemented', 'failed', 'rolled_back', 'reviewed', 'closed'];

type ChangeRow = NonNullable<Awaited<ReturnType<Tx['changeRequest']['findUnique']>>>;
type LinkRow = NonNullable<Awaited<ReturnType<Tx['changeIncidentLink']['findUnique']>>>;
type IncidentRow = NonNullable<Awaited<ReturnType<Tx['incident']['findUnique']>>>;

// The time and boolean columns of the rows read here with raw statements (modelRow).
const CHANGE_KINDS = {
  times: new Set(['window_start', 'window_end', 'deferred_at', 'decided_at', 'started_at', 'implemented_at', 'review_due_at', 'reviewed_at', 'closed_at', 'created_at', 'updated_at']),
  flags: new Set(['downtime', 'rollback_tested']),
};
const LINK_KINDS = { times: new Set(['at']) };
const INCIDENT_KINDS = {
  times: new Set(['public_updated_at', 'published_at', 'postmortem_at', 'declared_at', 'acknowledged_at', 'last_update_at', 'resolved_at', 'closed_at', 'created_at', 'updated_at']),
  flags: new Set(['is_private']),
};

const changeRow = (r: Record<string, unknown>) => modelRow<ChangeRow>(r, CHANGE_KINDS);

/**
 * An incident by id in one raw statement (every drawing of its card, announcement and link reads one, as do the
 * hooks of its war room): the row Prisma's model API would give.
 */
export async function incidentById(tx: Tx, id: string): Promise<IncidentRow | null> {
  const [r] = await sqlOf(tx).all<Record<string, unknown>>('SELECT * FROM incidents WHERE id = ?', id);
  return r ? modelRow<IncidentRow>(r, INCIDENT_KINDS) : null;
}

function changeOf(row: ChangeRow, suspected: boolean): IncidentChange {
  return {
    id: row.id,
    ref: changeRef(row.number),
    title: decodeText(row.title),
    type: row.type,
    status: row.status,
    environment: row.environment,
    systems: parseList(row.systems),
    windowStart: row.windowStart,
    windowEnd: row.windowEnd,
    implementedAt: row.implementedAt,
    outcome: row.outcome,
    requester: externalOf(row.requesterId),
    implementer: row.implementerId ? externalOf(row.implementerId) : null,
    suspected,
  };
}

function parseList(s: string): string[] {
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

/** Whether a change touches one of the services (case-insensitive); every change does when none are named. */
export function touches(systems: readonly string[], services: readonly string[]): boolean {
  if (services.length === 0) return true;
  const wanted = new Set(services.map((s) => s.trim().toLowerCase()));
  return systems.some((s) => wanted.has(s.trim().toLowerCase()));
}

/**
 * The changes around an incident: those carried out in [from, to] on its services (every change when
 * it names none), those linked to it as suspected causes, and those raised in it.
 */
export async function incidentChanges(tx: Tx, inc: { id: string; workspaceId: string; services: string[] }, from: Date, to: Date): Promise<IncidentChanges> {
  return (await changesAround(tx, [{ ...inc, from, to }]))[0]!;
}

/** How many carried-out changes one incident's card lists at most (the newest in its window). */
const CARRIED_SHOWN = 500;

/**
 * incidentChanges for several incidents with one query for their links and one for the changes carried out per
 * distinct window end: incidents still open all end now, and each one's newest CARRIED_SHOWN changes in [from, now]
 * are the first of the newest CARRIED_SHOWN in [earliest from, now] that fall in its window, so one query serves them all.
 */
async function changesAround(tx: Tx, incs: { id: string; workspaceId: string; services: string[]; from: Date; to: Date }[]): Promise<IncidentChanges[]> {
  if (incs.length === 0) return [];
  const groups = new Map<string, { workspaceId: string; from: Date; to: Date }>();
  for (const i of incs) {
    const key = `${i.workspaceId}|${i.to.getTime()}`;
    const g = groups.get(key);
    if (!g) groups.set(key, { workspaceId: i.workspaceId, from: i.from, to: i.to });
    else if (i.from < g.from) g.from = i.from;
  }
  const sql = sqlOf(tx);
  const ids = incs.map((i) => i.id);
  const [linkRows, ...carriedByGroup] = await Promise.all([
    sql.all<Record<string, unknown>>(`SELECT * FROM change_incident_links WHERE incident_id IN (${marks(ids)}) ORDER BY "at", id`, ...ids),
    ...[...groups.values()].map(async (g) =>
      (
        await sql.all<Record<string, unknown>>(
          `SELECT * FROM change_requests WHERE workspace_id = ? AND status IN (${marks(CARRIED_OUT)}) AND implemented_at >= ? AND implemented_at <= ?
           ORDER BY implemented_at DESC, number DESC LIMIT ${CARRIED_SHOWN}`,
          g.workspaceId,
          ...CARRIED_OUT,
          g.from,
          g.to,
        )
      ).map(changeRow),
    ),
  ]);
  const linkedIds = [...new Set(linkRows.map((l) => l.change_id as string))];
  const linked = new Map(
    (linkedIds.length ? await sql.all<Record<string, unknown>>(`SELECT * FROM change_requests WHERE id IN (${marks(linkedIds)})`, ...linkedIds) : []).map((r) => {
      const c = changeRow(r);
      return [c.id, c];
    }),
  );
  const links = linkRows.map((r) => ({ ...modelRow<LinkRow>(r, LINK_KINDS), change: linked.get(r.change_id as string)! }));
  const carriedOf = new Map([...groups.keys()].map((k, n) => [k, carriedByGroup[n]!]));
  return incs.map((inc) => {
    const carried = carriedOf
      .get(`${inc.workspaceId}|${inc.to.getTime()}`)!
      .filter((c) => c.implementedAt !== null && c.implementedAt >= inc.from)
      .slice(0, CARRIED_SHOWN);
    return assembleChanges(
      inc,
      links.filter((l) => l.incidentId === inc.id),
      carried,
    );
  });
}

function assembleChanges(inc: { services: string[]; from: Date; to: Date }, links: (LinkRow & { change: ChangeRow })[], carried: ChangeRow[]): IncidentChanges {
  const suspectedIds = new Set(links.filter((l) => l.kind === 'suspected_cause').map((l) => l.changeId));
  const recent = carried.filter((c) => touches(parseList(c.systems), inc.services)).map((c) => changeOf(c, suspectedIds.has(c.id)));
  // Suspected causes first; the sort is stable, so each group stays newest first.
  recent.sort((a, b) => Number(b.suspected) - Number(a.suspected));
  const inRecent = new Set(recent.map((c) => c.id));
  const seen = new Set<string>();
  const suspectedElsewhere: IncidentChange[] = [];
  const raised: IncidentChange[] = [];
  for (const l of links) {
    if (l.kind === 'suspected_cause' && !inRecent.has(l.changeId) && !seen.has(l.changeId)) {
      seen.add(l.changeId);
      suspectedElsewhere.push(changeOf(l.change, true));
    } else if (l.kind === 'raised_in') raised.push(changeOf(l.change, suspectedIds.has(l.changeId)));
  }
  return { since: inc.from, until: inc.to, recent, suspectedElsewhere, raised };
}

export const externalOf = (userId: string) => userId.slice(userId.lastIndexOf(':') + 1);

export async function incidentView(tx: Tx, policy: Policy, row: IncidentRow, now: Date): Promise<IncidentView> {
  return (await incidentViews(tx, policy, [row], now))[0]!;
}

/**
 * The views of several incidents with a fixed number of queries (their current role holders, their open follow-up
 * counts, the changes around them), whatever their number: a list of open incidents used to cost four queries per
 * incident.
 */
export async function incidentViews(tx: Tx, policy: Policy, rows: IncidentRow[], now: Date): Promise<IncidentView[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const services = rows.map((r) => JSON.parse(r.services) as string[]);
  const sql = sqlOf(tx);
  const [roles, openActions, changes] = await Promise.all([
    sql.all<{ incident_id: string; role: string; user_id: string }>(
      `SELECT incident_id, role, user_id FROM incident_roles WHERE incident_id IN (${marks(ids)}) AND relieved_at IS NULL ORDER BY id`,
      ...ids,
    ),
    sql.all<{ incident_id: string; n: number | bigint }>(`SELECT incident_id, count(*) AS n FROM action_items WHERE incident_id IN (${marks(ids)}) AND status = 'open' GROUP BY incident_id`, ...ids),
    // Until it was resolved: what changed afterwards is not what caused it.
    changesAround(
      tx,
      rows.map((row, n) => ({ id: row.id, workspaceId: row.workspaceId, services: services[n]!, from: new Date(row.declaredAt.getTime() - CHANGE_LOOKBACK_MS), to: row.resolvedAt ?? now })),
    ),
  ]);
  const open = new Map(openActions.map((a) => [a.incident_id, Number(a.n)]));
  return rows.map((row, n) =>
    buildView(
      policy,
      row,
      now,
      services[n]!,
      roles.filter((r) => r.incident_id === row.id).map((r) => ({ role: r.role, userId: r.user_id })),
      open.get(row.id) ?? 0,
      changes[n]!,
    ),
  );
}

function buildView(policy: Policy, row: IncidentRow, now: Date, services: string[], roles: { role: string; userId: string }[], openActions: number, changes: IncidentChanges): IncidentView {
  const holder = (r: IncidentRoleName) => {
    const h = roles.find((x) => x.role === r);
    return h ? externalOf(h.userId) : undefined;
  };
  const severity = row.severity as Severity;
  const sev = policy.incidents.severities[severity];
  const active = row.status !== 'resolved' && row.status !== 'closed';
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    ref: incidentRef(row.number),
    number: row.number,
    title: decodeText(row.title),
    description: decodeNullable(row.description),
    services,
    severity,
    status: row.status as IncidentStatus,
    isPrivate: row.isPrivate,
    reporter: externalOf(row.reporterId),
    commander: holder('commander'),
    tech: holder('tech'),
    comms: holder('comms'),
    channelId: row.channelId,
    channelName: row.channelName,
    declaredAt: row.declaredAt,
    acknowledgedAt: row.acknowledgedAt,
    lastUpdateAt: row.lastUpdateAt,
    resolvedAt: row.resolvedAt,
    closedAt: row.closedAt,
    summary: decodeNullable(row.summary),
    publicText: row.publicText,
    publicUpdatedAt: row.publicUpdatedAt,
    publicTitle: row.publicTitle,
    publishedAt: row.publishedAt,
    sla: slaClocks(row, sev, now),
    updateDueAt: active ? new Date(row.lastUpdateAt.getTime() + sev.updateEvery) : null,
    openActions,
    changes,
  };
}

/**
 * An incident as the public status page may show it: only what someone with the comms
 * role or publish_status published (public title, chosen services, public updates) and
 * its public lifecycle. Never the internal title, severity, description or timeline.
 */
export interface PublicIncident {
  ref: string;
  title: string;
  status: string;
  services: string[];
  publishedAt: Date;
  resolvedAt: Date | null;
  updates: { at: Date; text: string }[];
}

/** On a public page a person or a channel is never shown by its internal id. */
/** How people and channels read on the public status page: never by an internal id. */
export const PUBLIC_NAMES = { person: () => 'a team member', channel: () => 'an internal channel' };

/** How many incidents the status page shows at most. */
const PUBLIC_SHOWN = 50;

/** Published incidents of one workspace: active, or resolved within `recentMs`. Never private ones. */
export async function publicIncidents(tx: Tx, workspaceId: string, now: Date, recentMs = 7 * 86_400_000): Promise<PublicIncident[]> {
  // The active ones and the recently resolved ones by a query each (the (workspace, status) and (workspace,
  // resolved_at) indexes), then the newest 50 of both: one query with OR read every incident of the workspace.
  const published = { workspaceId, isPrivate: false, publishedAt: { not: null } };
  const [active, resolved] = await Promise.all([
    tx.incident.findMany({ where: { ...published, status: { in: ['investigating', 'identified', 'monitoring'] } }, orderBy: [{ publishedAt: 'desc' }], take: PUBLIC_SHOWN }),
    tx.incident.findMany({ where: { ...published, resolvedAt: { gte: new Date(now.getTime() - recentMs) } }, orderBy: [{ publishedAt: 'desc' }], take: PUBLIC_SHOWN }),
  ]);
  const rows = [...new Map([...active, ...resolved].map((r) => [r.id, r])).values()].sort((a, b) => b.publishedAt!.getTime() - a.publishedAt!.getTime()).slice(0, PUBLIC_SHOWN);
  const updates = await tx.timelineEntry.findMany({
    where: { incidentId: { in: rows.map((r) => r.id) }, kind: 'public', removed: false, internal: false },
    // Newest first; two updates in the same millisecond keep the order they were written in.
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
  });
  return rows.map((r) => ({
    ref: incidentRef(r.number),
    title: r.publicTitle ?? '',
    status: r.status === 'closed' ? 'resolved' : r.status,
    services: JSON.parse(r.publicServices ?? '[]') as string[],
    publishedAt: r.publishedAt!,
    resolvedAt: r.resolvedAt,
    updates: updates.filter((u) => u.incidentId === r.id).map((u) => ({ at: u.at, text: plainText(decodeText(u.text), PUBLIC_NAMES) })),
  }));
}
