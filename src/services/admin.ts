import { randomBytes, randomUUID } from 'node:crypto';
import { hasPermission, PERMISSIONS, type Role } from '../domain/rbac.ts';
import { recentEntries, type AuditRow } from '../store/audit.ts';
import { userIdOf, ensureUser, grantedRoles } from '../store/identity.ts';
import { Refusal } from './errors.ts';
import type { Kernel } from './kernel.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';
import { code, joinText, mention, rt, strong, time, type Text } from '../domain/text.ts';
import { approvalDueAt, changeKpis, type ChangeKpis, type ChangeRecord, type ChangeType, type Outcome } from '../domain/change.ts';
import type { Severity } from '../config/policy.ts';
import { anyChanges, kpiLines } from '../../blocks/changeReports.ts';

export type SubjectRef = { type: 'incident' | 'change' | 'approval'; id: string };

const LINK_CODE_TTL_MS = 10 * 60_000;
/** Eight characters from an alphabet without look-alikes (0/O, 1/I/L): about 40 bits, tried at most for 10 minutes. */
function linkCode(): string {
  const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
  return [...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Roles, grants and the audit trail as seen from chat (`/muster`). */
export class AdminService {
  constructor(private readonly k: Kernel) {}

  whoami(actor: Actor): Reply {
    const roles = [...actor.roles].sort();
    const perms = PERMISSIONS.filter((p) => hasPermission(actor.roles, p, this.k.policy.permissions));
    const roleText = roles.length
      ? roles.map((r) => (actor.envRoles.has(r) ? `${r} (from MUSTER_ADMINS)` : r)).join(', ')
      : rt`none yet — an admin can grant one with ${code('/muster grant <role> @you')}`;
    return {
      text: rt`You are ${mention(actor.externalId)} in workspace ${actor.workspaceId}. Roles: ${roleText}.`,
      sections: [
        { title: 'Who you are', lines: [rt`User: ${mention(actor.externalId)} (${actor.userId})`, `Platform: ${actor.platform}`] },
        { title: 'Roles', lines: [roleText] },
        { title: 'Permissions', lines: [perms.length ? perms.join(', ') : 'none'] },
      ],
    };
  }

  async roles(actor: Actor, targetExternalId?: string): Promise<Reply> {
    if (targetExternalId) {
      const roles = await this.rolesOf(actor.workspaceId, targetExternalId);
      const text = roles.length ? rt`${mention(targetExternalId)} holds: ${roles.join(', ')}.` : rt`${mention(targetExternalId)} holds no Muster roles.`;
      return { text };
    }
    const grants = await this.k.db.read((tx) => tx.roleGrant.findMany({ where: { workspaceId: actor.workspaceId }, include: { user: true }, orderBy: [{ role: 'asc' }, { createdAt: 'asc' }] }));
    const byRole = new Map<string, { id: string; env: boolean }[]>();
    for (const g of grants) byRole.set(g.role, [...(byRole.get(g.role) ?? []), { id: g.user.externalId, env: false }]);
    for (const admin of this.k.deps.admins) {
      const list = byRole.get('admin') ?? [];
      if (!list.some((h) => h.id === admin)) byRole.set('admin', [...list, { id: admin, env: true }]);
    }
    if (byRole.size === 0) return { text: rt`No roles have been granted yet. Admins (MUSTER_ADMINS) can grant them with ${code('/muster grant <role> @user')}.` };
    const lines = [...byRole.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([role, holders]) =>
          rt`${strong(role)}: ${joinText(
            holders.map((h) => rt`${mention(h.id)}${h.env && ' (MUSTER_ADMINS)'}`),
            ', ',
          )}`,
      );
    return { text: rt`Role holders:\n${joinText(lines, '\n')}`, sections: [{ title: 'Role holders', lines }] };
  }

  private async rolesOf(workspaceId: string, externalId: string): Promise<string[]> {
    const granted = await this.k.db.read((tx) => grantedRoles(tx, userIdOf(workspaceId, externalId), { person: true }));
    const all = new Set<string>(granted);
    if (this.k.deps.admins.includes(externalId)) all.add('admin');
    return [...all].sort();
  }

  async grant(actor: Actor, meta: RequestMeta, role: Role, targetExternalId: string): Promise<Reply> {
    const subject = { subjectType: 'user', subjectId: userIdOf(actor.workspaceId, targetExternalId) };
    this.k.requirePermission(actor, 'manage_roles', 'grant roles', { action: 'role.grant', ...subject, reason: `grant ${role} refused: missing manage_roles` });
    const name = await this.k.requirePerson(actor, targetExternalId, 'roles');
    return this.k.run(actor, meta, async (u) => {
      const userId = await ensureUser(u.tx, actor.workspaceId, targetExternalId, u.now, name);
      const before = await grantedRoles(u.tx, userId);
      if (before.includes(role)) return { text: rt`${mention(targetExternalId)} already holds ${role}; nothing changed.` };
      await u.tx.roleGrant.create({ data: { workspaceId: actor.workspaceId, userId, role, grantedBy: actor.userId, createdAt: u.now } });
      u.audit({ action: 'role.grant', ...subject, before: { roles: before }, after: { roles: [...before, role].sort() } });
      u.effects({
        op: 'dm',
        args: { user: targetExternalId, text: rt`${mention(actor.externalId)} granted you the Muster role ${strong(role)}. See ${code('/muster whoami')}.` },
      });
      return { text: rt`Granted ${strong(role)} to ${mention(targetExternalId)}.` };
    });
  }

  async revoke(actor: Actor, meta: RequestMeta, role: Role, targetExternalId: string): Promise<Reply> {
    const subject = { subjectType: 'user', subjectId: userIdOf(actor.workspaceId, targetExternalId) };
    this.k.requirePermission(actor, 'manage_roles', 'revoke roles', { action: 'role.revoke', ...subject, reason: `revoke ${role} refused: missing manage_roles` });
    if (role === 'admin' && this.k.deps.admins.includes(targetExternalId)) {
      throw new Refusal(rt`${mention(targetExternalId)} is an admin through MUSTER_ADMINS; remove them from that variable to revoke it.`);
    }
    return this.k.run(actor, meta, async (u) => {
      const userId = userIdOf(actor.workspaceId, targetExternalId);
      const before = await grantedRoles(u.tx, userId);
      if (!before.includes(role)) return { text: rt`${mention(targetExternalId)} does not hold ${role}; nothing changed.` };
      if (role === 'admin' && this.k.deps.admins.length === 0) {
        const admins = await u.tx.roleGrant.count({ where: { workspaceId: actor.workspaceId, role: 'admin' } });
        if (admins <= 1) throw new Refusal('That is the last admin of this workspace; grant admin to someone else first.');
      }
      // the grant's unique key (workspace, user, role): one lookup, not a scan of every grant
      await u.tx.roleGrant.deleteMany({ where: { workspaceId: actor.workspaceId, userId, role } });
      u.audit({ action: 'role.revoke', ...subject, before: { roles: before }, after: { roles: before.filter((r) => r !== role) } });
      return { text: rt`Revoked ${strong(role)} from ${mention(targetExternalId)}.` };
    });
  }

  /**
   * `/muster link` on one platform: a one-time code (10 minutes) to type into `/muster link <code>` on the other.
   * Only the person who holds both accounts can do both halves, so nobody links someone else's account.
   */
  async startLink(actor: Actor, meta: RequestMeta): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      await ensureUser(u.tx, actor.workspaceId, actor.externalId, u.now, actor.name);
      await u.tx.linkCode.deleteMany({ where: { OR: [{ userId: actor.userId }, { expiresAt: { lt: u.now } }] } });
      const code_ = linkCode();
      await u.tx.linkCode.create({ data: { code: code_, userId: actor.userId, expiresAt: new Date(u.now.getTime() + LINK_CODE_TTL_MS), createdAt: u.now } });
      u.audit({ action: 'identity.link.start', subjectType: 'user', subjectId: actor.userId });
      return {
        text: rt`Your link code is ${code(code_)} (valid 10 minutes). On your other chat platform, send ${code(`/muster link ${code_}`)}: both accounts will then be one person for Muster — roles granted to either apply to both, and you cannot approve your own request from the other account.`,
      };
    });
  }

  /** `/muster link <code>`: pairs this account with the one that asked for the code, on another platform. */
  async completeLink(actor: Actor, meta: RequestMeta, typed: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await u.tx.linkCode.findUnique({ where: { code: typed.trim().toUpperCase() } });
      const refuse = (why: string, reason: string) => new Refusal(why, { action: 'identity.link', subjectType: 'user', subjectId: actor.userId, reason });
      if (!row || row.expiresAt.getTime() < u.now.getTime()) throw refuse('That link code is unknown or has expired: send /muster link on your other platform for a new one.', 'bad code');
      const other = await u.tx.user.findUnique({ where: { id: row.userId } });
      if (!other) throw refuse('That link code is unknown or has expired: send /muster link on your other platform for a new one.', 'bad code');
      if (other.workspaceId === actor.workspaceId) throw refuse('That code was made in this same workspace: type it on your other chat platform (Slack or Discord).', 'same workspace');
      const me = await ensureUser(u.tx, actor.workspaceId, actor.externalId, u.now, actor.name);
      const mine = await u.tx.user.findUnique({ where: { id: me } });
      const personId = other.personId ?? mine?.personId ?? randomUUID();
      // Merging two people: every account of either becomes this person.
      const ids = [...new Set([me, other.id])];
      const persons = [other.personId, mine?.personId].filter((x): x is string => Boolean(x));
      await u.tx.user.updateMany({ where: { OR: [{ id: { in: ids } }, ...(persons.length ? [{ personId: { in: persons } }] : [])] }, data: { personId } });
      await u.tx.linkCode.delete({ where: { code: row.code } });
      u.audit({ action: 'identity.link', subjectType: 'user', subjectId: actor.userId, after: { person: personId, accounts: ids.sort() } });
      return {
        text: rt`Linked: this account and ${other.id.slice(0, other.id.indexOf(':'))} account ${code(other.id)} are one person for Muster now. Roles granted to either apply to both. ${code('/muster unlink')} undoes it.`,
      };
    });
  }

  /** `/muster unlink`: this account is a person of its own again. */
  async unlink(actor: Actor, meta: RequestMeta): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const mine = await u.tx.user.findUnique({ where: { id: actor.userId } });
      if (!mine?.personId) return { text: 'This account is not linked to another; nothing changed.' };
      await u.tx.user.update({ where: { id: actor.userId }, data: { personId: null } });
      u.audit({ action: 'identity.unlink', subjectType: 'user', subjectId: actor.userId, before: { person: mine.personId } });
      return { text: 'Unlinked: this account is a person of its own again, with only the roles granted to it.' };
    });
  }

  stats(actor: Actor, window: string): Promise<Reply> {
    return activityStats(this.k, actor, window);
  }

  /** The change KPIs of the App Home (the last 30 days), for holders of view_stats; null for others. */
  async homeChangeKpis(actor: Actor): Promise<ChangeKpis | null> {
    if (!hasPermission(actor.roles, 'view_stats', this.k.policy.permissions)) return null;
    return loadChangeKpis(this.k, actor.workspaceId, HOME_KPI_WINDOW_MS);
  }

  async auditTrail(actor: Actor, subject?: SubjectRef, limit = 20): Promise<Reply> {
    this.k.requirePermission(actor, 'read_audit', 'read the audit trail', { action: 'audit.read', subjectType: subject?.type, subjectId: subject?.id });
    const rows = await recentEntries(this.k.db, { workspaceId: actor.workspaceId, subjectType: subject?.type, subjectId: subject?.id, limit });
    const what = subject ? subject.id : 'this workspace';
    if (rows.length === 0) return { text: `No audit entries for ${what}.` };
    const lines = rows.map((r) => formatEntry(r));
    return {
      text: rt`Last ${rows.length} audit entries for ${what} (newest first):\n${joinText(lines, '\n')}`,
      sections: [{ title: `Audit trail: ${what}`, lines }],
    };
  }
}

function formatEntry(r: AuditRow): Text {
  const actor = r.actorId.split(':').pop()!;
  const subject: Text = r.subjectId ? rt` ${r.subjectType === 'user' ? mention(r.subjectId.split(':').pop()!) : r.subjectId}` : '';
  const outcome: Text = r.outcome === 'ok' ? '' : rt` — ${strong(r.outcome)}${r.reason && `: ${r.reason}`}`;
  const flags = r.flags ? ` [${r.flags}]` : '';
  return rt`#${r.seq} ${time(r.createdAt, 'datetime_secs')} ${mention(actor)} ${r.action}${subject}${outcome}${flags} ${code(r.hash.slice(0, 10))}`;
}

const WINDOW_MS: Record<string, number> = { '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '90d': 90 * 86_400_000 };

/** The period of the App Home's change KPIs. */
export const HOME_KPI_WINDOW = '30d';
const HOME_KPI_WINDOW_MS = WINDOW_MS[HOME_KPI_WINDOW]!;

/**
 * The change KPIs of a workspace over the `windowMs` before now (domain/change.ts `changeKpis`), read from
 * change_requests: approved at its decision unless rejected, due by `approvalDueAt` (an emergency change by
 * the severity of its linked incident), finished when `done` or `rollback` recorded its outcome.
 */
export async function loadChangeKpis(k: Kernel, workspaceId: string, windowMs: number): Promise<ChangeKpis> {
  const now = k.clock.now();
  const since = new Date(now.getTime() - windowMs);
  const rows = await k.db.read(async (tx) => {
    const changes = await tx.changeRequest.findMany({
      where: { workspaceId, OR: [{ createdAt: { gte: since } }, { decidedAt: { gte: since } }, { implementedAt: { gte: since } }] },
      select: { type: true, status: true, createdAt: true, decidedAt: true, implementedAt: true, outcome: true, incidentId: true },
    });
    const ids = [...new Set(changes.filter((c) => c.type === 'emergency' && c.incidentId).map((c) => c.incidentId!))];
    const incidents = ids.length ? await tx.incident.findMany({ where: { id: { in: ids } }, select: { id: true, severity: true } }) : [];
    const severity = new Map(incidents.map((i) => [i.id, i.severity as Severity]));
    return changes.map((c) => ({ ...c, severity: c.incidentId ? (severity.get(c.incidentId) ?? null) : null }));
  });
  const records: ChangeRecord[] = rows.map((c) => {
    const type = c.type as ChangeType;
    return {
      type,
      createdAt: c.createdAt,
      approvedAt: c.status === 'rejected' ? null : c.decidedAt,
      approvalDueAt: approvalDueAt(k.policy, { type, requestedAt: c.createdAt, severity: c.severity }),
      finishedAt: c.implementedAt,
      outcome: (c.outcome as Outcome | null) ?? null,
    };
  });
  return changeKpis(records, now, windowMs);
}

export async function activityStats(k: Kernel, actor: Actor, window: string): Promise<Reply> {
  k.requirePermission(actor, 'view_stats', 'see stats', { action: 'stats.read' });
  const windowMs = WINDOW_MS[window] ?? WINDOW_MS['7d']!;
  const since = new Date(k.clock.now().getTime() - windowMs);
  const [groups, incidents, approvals] = await k.db.read(
    async (tx) =>
      [
        await tx.auditEntry.groupBy({ by: ['action', 'outcome'], where: { workspaceId: actor.workspaceId, createdAt: { gte: since } }, _count: { _all: true } }),
        await tx.incident.findMany({ where: { workspaceId: actor.workspaceId, declaredAt: { gte: since } }, select: { severity: true, declaredAt: true, acknowledgedAt: true, resolvedAt: true } }),
        await tx.approvalRequest.findMany({
          where: { workspaceId: actor.workspaceId, createdAt: { gte: since } },
          select: { kind: true, environment: true, status: true, createdAt: true, decidedAt: true, breakGlass: true },
        }),
      ] as const,
  );
  const kpis = await loadChangeKpis(k, actor.workspaceId, windowMs);
  const changeLines = kpiLines(kpis);
  if (groups.length === 0 && incidents.length === 0 && approvals.length === 0 && !anyChanges(kpis)) return { text: `No recorded activity in the last ${window}.` };
  const median = (xs: number[]) => {
    if (!xs.length) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)]!;
  };
  const mins = (ms?: number) => (ms === undefined ? 'n/a' : ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);
  const incidentLines = incidents.length
    ? [
        `Declared: ${incidents.length} (${['P0', 'P1', 'P2', 'P3'].map((sev) => `${sev} ${incidents.filter((i) => i.severity === sev).length}`).join(', ')})`,
        `Median time to a commander (MTTA): ${mins(median(incidents.filter((i) => i.acknowledgedAt).map((i) => i.acknowledgedAt!.getTime() - i.declaredAt.getTime())))}`,
        `Median time to resolve (MTTR): ${mins(median(incidents.filter((i) => i.resolvedAt).map((i) => i.resolvedAt!.getTime() - i.declaredAt.getTime())))}`,
      ]
    : ['No incidents declared.'];
  const envs = [...new Set(approvals.filter((a) => a.kind === 'deploy').map((a) => a.environment ?? '?'))].sort();
  const approvalLines = approvals.length
    ? [
        `Requests: ${approvals.length} (${['approved', 'rejected', 'expired', 'cancelled', 'pending', 'held']
          .map((st) => [st, approvals.filter((a) => a.status === st).length] as const)
          .filter(([st, n]) => st !== 'held' || n > 0)
          .map(([st, n]) => `${st} ${n}`)
          .join(', ')})`,
        ...envs.map((e) => `Deployments to ${e}: ${approvals.filter((a) => a.environment === e).length}, approved ${approvals.filter((a) => a.environment === e && a.status === 'approved').length}`),
        `Median time to decision: ${mins(median(approvals.filter((a) => a.decidedAt).map((a) => a.decidedAt!.getTime() - a.createdAt.getTime())))}`,
        `Break-glass approvals: ${approvals.filter((a) => a.breakGlass).length}`,
      ]
    : ['No approval requests.'];
  const lines = groups
    .map((g) => ({ label: `${g.action}${g.outcome === 'ok' ? '' : ` (${g.outcome})`}`, n: g._count._all }))
    .sort((a, b) => b.n - a.n || a.label.localeCompare(b.label))
    .map((g) => `${g.label}: ${g.n}`);
  return {
    text: rt`Activity in the last ${window}:\n${strong('Incidents')}\n${incidentLines.join('\n')}\n${strong('Approvals')}\n${approvalLines.join('\n')}\n${strong('Change requests')}\n${changeLines.join('\n')}\n${strong('Audit entries by action')}\n${lines.join('\n')}`,
    sections: [
      { title: `Incidents, last ${window}`, lines: incidentLines },
      { title: `Approvals, last ${window}`, lines: approvalLines },
      { title: `Change requests, last ${window}`, lines: changeLines },
      { title: `Audit entries by action`, lines },
    ],
  };
}
