import type { Tx } from '../store/db.ts';
import type { Policy, Severity } from '../config/policy.ts';
import { decodeNullable, decodeText, plainText, type Text } from '../domain/text.ts';
import { incidentRef, slaClocks, type IncidentRoleName, type IncidentStatus, type SlaClocks } from '../domain/incident.ts';

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
}

export const externalOf = (userId: string) => userId.slice(userId.lastIndexOf(':') + 1);

type IncidentRow = NonNullable<Awaited<ReturnType<Tx['incident']['findUnique']>>>;

export async function incidentView(tx: Tx, policy: Policy, row: IncidentRow, now: Date): Promise<IncidentView> {
  const [roles, openActions] = await Promise.all([
    tx.incidentRole.findMany({ where: { incidentId: row.id, relievedAt: null } }),
    tx.actionItem.count({ where: { incidentId: row.id, status: 'open' } }),
  ]);
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
    services: JSON.parse(row.services) as string[],
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

/** Published incidents of one workspace: active, or resolved within `recentMs`. Never private ones. */
export async function publicIncidents(tx: Tx, workspaceId: string, now: Date, recentMs = 7 * 86_400_000): Promise<PublicIncident[]> {
  const rows = await tx.incident.findMany({
    where: {
      workspaceId,
      isPrivate: false,
      publishedAt: { not: null },
      OR: [{ status: { in: ['investigating', 'identified', 'monitoring'] } }, { resolvedAt: { gte: new Date(now.getTime() - recentMs) } }],
    },
    orderBy: [{ publishedAt: 'desc' }],
    take: 50,
  });
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
