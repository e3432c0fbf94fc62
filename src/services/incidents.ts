import { randomUUID } from 'node:crypto';
import type { Severity } from '../config/policy.ts';
import { channelName, incidentRef, isActive, postmortemMarkdown, ROLE_DUTIES, ROLE_LABEL, statusTransition, timerKeys, type IncidentRoleName, type IncidentStatus } from '../domain/incident.ts';
import { hasPermission, type Role } from '../domain/rbac.ts';
import { changeRef, parseChangeRef, STATUS_LABEL, type ChangeStatus } from '../domain/change.ts';
import { sqlOf, type Tx } from '../store/db.ts';
import { ensureUser, nextNumber, userIdOf } from '../store/identity.ts';
import { ref, type EffectSpec } from '../store/outbox.ts';
import type { FailedGroup, FailedInvite, ResultRef, SurfaceRef } from '../platforms/effects.ts';
import { Refusal, UsageError } from './errors.ts';
import { CHANGE_LOOKBACK_MS, externalOf, incidentById, incidentChanges, incidentView, incidentViews, PUBLIC_NAMES, touches, type IncidentChange, type IncidentView } from './incidentViews.ts';
import type { Kernel, Unit } from './kernel.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';
import { channelRef, code, decodeText, emoji, fmt, em, encodeText, isEmptyText, joinText, link, mention, plainText, rt, strong, time, trimText, type Text } from '../domain/text.ts';

type IncidentRow = NonNullable<Awaited<ReturnType<Tx['incident']['findUnique']>>>;

export interface DeclareInput {
  title: Text;
  severity: Severity;
  description?: Text;
  services?: string[];
  isPrivate?: boolean;
}

/** Which incident a command is about: `INC-n` named, or the channel it was typed in. */
export interface Target {
  ref?: string;
  channelId?: string;
  /** From a button or a form: the incident's internal id. */
  id?: string;
}

const channelLink = (i: { channelId: string | null; channelName: string | null }): Text =>
  i.channelId ? [channelRef(i.channelId)] : i.channelName ? `#${i.channelName}` : 'its channel (being created)';

/**
 * Incident war rooms: every use case loads the incident, asks the domain, and writes the
 * new state, timeline, audit entries, effects and timers in one transaction.
 */
export class IncidentService {
  constructor(private readonly k: Kernel) {}

  private get policy() {
    return this.k.policy;
  }

  // ---------------------------------------------------------------- reading

  async find(tx: Tx, actor: Actor, target: Target): Promise<IncidentRow> {
    let row: IncidentRow | null = null;
    if (target.id) {
      row = await incidentById(tx, target.id);
      if (!row || row.workspaceId !== actor.workspaceId || !(await this.canSee(tx, actor, row))) throw new Refusal('That incident does not exist (or is private and you are not in it).');
    } else if (target.ref) {
      const n = Number(target.ref.slice(4));
      row = await tx.incident.findUnique({ where: { workspaceId_number: { workspaceId: actor.workspaceId, number: n } } });
      if (!row || !(await this.canSee(tx, actor, row))) throw new Refusal(`${target.ref.toUpperCase()} does not exist (or is private and you are not in it).`);
    } else if (target.channelId) {
      row = await tx.incident.findFirst({ where: { workspaceId: actor.workspaceId, channelId: target.channelId } });
      if (!row)
        throw new Refusal(rt`This channel is not an incident channel. Run the command in the incident channel, or start it with the incident id, e.g. ${code('/incident INC-7 status identified')}.`);
    }
    if (!row) throw new Refusal(rt`Which incident? Start the command with its id, e.g. ${code('/incident INC-7 …')}.`);
    return row;
  }

  private async canSee(tx: Tx, actor: Actor, row: IncidentRow): Promise<boolean> {
    if (!row.isPrivate) return true;
    if (actor.userId === 'system') return true;
    const m = await tx.incidentMember.findUnique({ where: { incidentId_userId: { incidentId: row.id, userId: actor.userId } } });
    return m !== null;
  }

  async view(tx: Tx, row: IncidentRow): Promise<IncidentView> {
    return incidentView(tx, this.policy, row, this.k.clock.now());
  }

  async viewById(id: string): Promise<IncidentView | null> {
    return this.k.db.read(async (tx) => {
      const row = await incidentById(tx, id);
      return row ? this.view(tx, row) : null;
    });
  }

  private requireOpen(row: IncidentRow, what: string): void {
    if (row.status === 'closed') throw new Refusal(`${incidentRef(row.number)} is closed; ${what} is no longer possible.`);
  }

  // ---------------------------------------------------------------- effects

  /** A redraw of the pinned card. Redraws of one card coalesce: only the newest state is ever sent. */
  private cardUpdate(row: IncidentRow, ref_?: string): EffectSpec[] {
    if (row.cardEffectId === null) return [];
    return [
      {
        op: 'updateMessage',
        after: row.cardEffectId,
        coalesce: `card:${row.cardEffectId}`,
        ...(ref_ ? { ref: ref_ } : {}),
        args: { channel: ref(row.cardEffectId, 'channel'), ts: ref(row.cardEffectId, 'ts'), surface: { kind: 'incident.card', incidentId: row.id } },
      },
    ];
  }

  /** A message in the incident channel (waits for the channel to exist). */
  private inChannel(row: IncidentRow, text: Text, surface?: SurfaceRef): EffectSpec {
    const channel = row.channelId ?? (row.cardEffectId !== null ? ref(row.cardEffectId, 'channel') : undefined);
    if (channel === undefined) throw new Error(`incident ${row.id} has neither a channel nor a card`);
    return {
      op: 'postMessage',
      ...(row.channelId ? {} : { after: row.cardEffectId! }),
      args: { channel, text, ...(surface ? { surface } : {}) },
    };
  }

  private broadcast(row: IncidentRow, headline: Text): EffectSpec[] {
    const channel = this.policy.incidents.broadcastChannel;
    if (!channel || !this.policy.incidents.severities[row.severity as Severity].announce || row.isPrivate) return [];
    return [{ op: 'postMessage', args: { channel, text: headline, surface: { kind: 'incident.announcement', incidentId: row.id, headline } } }];
  }

  private async timeline(u: Unit, row: IncidentRow, actor: Actor, kind: string, text: Text, extra: { key?: string; permalink?: string; internal?: boolean } = {}) {
    // Raw, like the other writes every incident command makes: one statement without Prisma's model layer.
    await sqlOf(u.tx).later(
      'INSERT INTO timeline_entries (incident_id, kind, actor_id, text, "at", internal, "key", permalink, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, FALSE)',
      row.id,
      kind,
      actor.userId === 'system' ? null : actor.userId,
      encodeText(text),
      u.now,
      extra.internal ?? true,
      extra.key ?? null,
      extra.permalink ?? null,
    );
  }

  private async addMember(tx: Tx, incidentId: string, userId: string, now: Date) {
    await sqlOf(tx).later('INSERT INTO incident_members (incident_id, user_id, added_at) VALUES (?, ?, ?) ON CONFLICT (incident_id, user_id) DO NOTHING', incidentId, userId, now);
  }

  /** (Re-)arms one of an incident's SLA clocks; scheduling the same key replaces it. */
  private arm(u: Unit, row: { id: string; workspaceId: string }, clock: 'no-commander' | 'update-due' | 'resolve-sla', dueAt: Date) {
    const key = { 'no-commander': timerKeys.noCommander, 'update-due': timerKeys.updateDue, 'resolve-sla': timerKeys.resolveSla }[clock](row.id);
    return u.schedule({ key, kind: `incident.${clock}`, subjectType: 'incident', subjectId: row.id, workspaceId: row.workspaceId, dueAt, payload: { level: 0 } });
  }

  /** Re-arms the "no update within the cadence" clock from now. */
  private async armUpdateClock(u: Unit, row: IncidentRow) {
    const sev = this.policy.incidents.severities[row.severity as Severity];
    await this.arm(u, row, 'update-due', new Date(u.now.getTime() + sev.updateEvery));
    await this.stopEscalations(u, row.id, 'update-due');
  }

  /** Cancels the escalation chain of open nudges of a kind (the condition they nag about is gone). */
  private async stopEscalations(u: Unit, incidentId: string, kind: string) {
    const open = await u.tx.nudge.findMany({ where: { subjectType: 'incident', subjectId: incidentId, kind, status: { in: ['open', 'snoozed'] } } });
    for (const n of open) {
      await u.cancel({ key: timerKeys.escalation(n.id) });
      await u.tx.nudge.update({ where: { id: n.id }, data: { status: 'cleared' } });
      if (n.channelEffectId !== null) {
        u.effects({
          op: 'updateMessage',
          after: n.channelEffectId,
          coalesce: `card:${n.channelEffectId}`,
          args: { channel: ref(n.channelEffectId, 'channel'), ts: ref(n.channelEffectId, 'ts'), surface: { kind: 'nudge', nudgeId: n.id } },
        });
      }
    }
  }

  // ---------------------------------------------------------------- declare

  async declare(actor: Actor, meta: RequestMeta, input: DeclareInput): Promise<Reply> {
    const title = trimText(input.title);
    const plainTitle = plainText(title);
    return this.k.run(actor, meta, async (u) => {
      const number = await nextNumber(u.tx, actor.workspaceId, 'INC');
      const id = randomUUID();
      const sev = this.policy.incidents.severities[input.severity];
      const isPrivate = input.isPrivate ?? this.policy.incidents.privateByDefault;
      const name = channelName(this.policy.incidents.channelPrefix, number, plainTitle);
      // Raw, on the war room's path: the row as the model API would have written and returned it.
      const row: IncidentRow = {
        id,
        workspaceId: actor.workspaceId,
        number,
        title: encodeText(title),
        description: input.description && !isEmptyText(trimText(input.description)) ? encodeText(trimText(input.description)) : null,
        services: JSON.stringify(input.services ?? []),
        severity: input.severity,
        status: 'investigating',
        isPrivate,
        reporterId: actor.userId,
        channelId: null,
        channelName: name,
        cardEffectId: null,
        cardTs: null,
        publicText: null,
        publicUpdatedAt: null,
        publicTitle: null,
        publicServices: null,
        publishedAt: null,
        publishedBy: null,
        summary: null,
        postmortem: null,
        postmortemAt: null,
        declaredAt: u.now,
        acknowledgedAt: null,
        lastUpdateAt: u.now,
        resolvedAt: null,
        closedAt: null,
        createdAt: u.now,
        updatedAt: u.now,
      };
      // Sent with the transaction's next statement (the declarer's membership and the timeline go with it too).
      await sqlOf(u.tx).later(
        `INSERT INTO incidents (id, workspace_id, number, title, description, services, severity, status, is_private, reporter_id, channel_name, declared_at, last_update_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        row.id,
        row.workspaceId,
        row.number,
        row.title,
        row.description,
        row.services,
        row.severity,
        row.status,
        row.isPrivate,
        row.reporterId,
        row.channelName,
        row.declaredAt,
        row.lastUpdateAt,
        row.createdAt,
        row.updatedAt,
      );
      const refName = incidentRef(number);
      await this.addMember(u.tx, id, actor.userId, u.now);
      const responders = await this.responders(u.tx, actor.workspaceId, input.severity);
      for (const r of responders.users) await this.addMember(u.tx, id, userIdOf(actor.workspaceId, r), u.now);
      await this.timeline(u, row, actor, 'declared', rt`${refName} declared as ${input.severity}: ${title}`);
      u.audit({ action: 'incident.declare', subjectType: 'incident', subjectId: refName, after: { title: plainTitle, severity: input.severity, private: isPrivate, services: input.services ?? [] } });

      // create → (invite | topic | card | announce | reply) → (pin | bookmark)
      // Each invite reports the people who could not be added; groups are expanded on their own, so a
      // missing group (or a plan without groups) never keeps the declarer and the responders out.
      const can = this.k.capabilities(actor.platform);
      const invited = { name: 'incident.invited', data: { incidentId: id } };
      u.effects(
        { op: 'createChannel', ref: 'ch', args: { name, isPrivate }, hook: { name: 'incident.channel', data: { incidentId: id } } },
        { op: 'invite', after: 'ch', args: { channel: ref('ch', 'channel'), users: [actor.externalId, ...responders.users.filter((x) => x !== actor.externalId)] }, hook: invited },
      );
      if (responders.groups.length && can.userGroups) {
        u.effects(
          { op: 'expandGroups', ref: 'groups', after: 'ch', args: { groups: responders.groups }, hook: invited },
          { op: 'invite', after: 'groups', args: { channel: ref('ch', 'channel'), users: ref('groups', 'users') }, hook: invited },
        );
      } else if (responders.groups.length) {
        // Without groups on this platform, the policy's groups are named as not added, like a group that failed.
        const failedGroups = responders.groups.map((group) => ({ group, error: 'no_user_groups', reason: 'cannot be expanded: this chat platform has no user groups Muster can read' }));
        await this.groupsNotAdded(u, row, failedGroups, ref('ch', 'channel'));
      }
      // Where the card is found: pinned (and bookmarked) where the platform can, else it is the channel's first message.
      const where = can.pins ? 'incident card pinned in this channel' : 'incident card at the top of this channel';
      u.effects(
        { op: 'setTopic', after: 'ch', args: { channel: ref('ch', 'channel'), topic: `${refName} · ${input.severity} · ${plainTitle} — ${where}` } },
        {
          op: 'postMessage',
          after: 'ch',
          ref: 'card',
          args: { channel: ref('ch', 'channel'), surface: { kind: 'incident.card', incidentId: id } },
          hook: { name: 'incident.card', data: { incidentId: id } },
        },
      );
      if (can.pins) u.effects({ op: 'pin', after: 'card', args: { channel: ref('card', 'channel'), ts: ref('card', 'ts') } });
      if (can.bookmarks) u.effects({ op: 'bookmark', after: 'card', args: { channel: ref('card', 'channel'), ts: ref('card', 'ts'), title: `${refName} incident card` } });
      if (meta.replyTo) {
        // If the reply handle is used up or expired by then, the link goes to the declarer by DM.
        u.effects({ op: 'reply', after: 'ch', args: { to: meta.replyTo, fallbackUser: actor.externalId, surface: { kind: 'incident.ready', incidentId: id } } });
      } else {
        // Declared from the form (no reply handle): the link arrives by DM.
        u.effects({ op: 'dm', after: 'ch', args: { user: actor.externalId, surface: { kind: 'incident.ready', incidentId: id } } });
      }
      if (sev.announce && !isPrivate && this.policy.incidents.broadcastChannel) {
        u.effects({
          op: 'postMessage',
          after: 'ch',
          args: { channel: this.policy.incidents.broadcastChannel, surface: { kind: 'incident.announcement', incidentId: id, headline: rt`${input.severity} incident declared: ${refName} ${title}` } },
        });
      }
      // Timers: commander within the response SLA (P0/P1), update cadence, resolution SLA.
      if (sev.requiresCommander) {
        await this.arm(u, row, 'no-commander', new Date(u.now.getTime() + sev.respond));
      }
      await this.arm(u, row, 'update-due', new Date(u.now.getTime() + sev.updateEvery));
      await this.arm(u, row, 'resolve-sla', new Date(u.now.getTime() + sev.resolve));
      return {
        text: rt`Declared ${strong(refName)} (${input.severity}): ${title}. Setting up #${name} and inviting responders — a link follows in a moment.${sev.requiresCommander && rt` A commander is needed: press ${strong('Take commander')} on the card.`}`,
      };
    });
  }

  /** Responders from the policy: user ids, user groups, and holders of `role:<role>`. */
  private async responders(tx: Tx, workspaceId: string, severity: Severity): Promise<{ users: string[]; groups: string[] }> {
    const entries = [...this.policy.incidents.responders, ...this.policy.incidents.severities[severity].responders];
    const users = new Set<string>();
    const groups = new Set<string>();
    for (const e of entries) {
      if (e.kind === 'role') for (const u of await this.roleHolders(tx, workspaceId, e.role)) users.add(u);
      else if (e.kind === 'group') groups.add(e.id);
      else users.add(e.id);
    }
    return { users: [...users], groups: [...groups] };
  }

  /** Platform user ids holding a Muster role (grants plus MUSTER_ADMINS for admin). */
  async roleHolders(tx: Tx, workspaceId: string, role: Role): Promise<string[]> {
    const grants = await tx.roleGrant.findMany({ where: { workspaceId, role }, select: { userId: true } });
    const out = new Set(grants.map((g) => externalOf(g.userId)));
    if (role === 'admin') for (const a of this.k.deps.admins) out.add(a);
    return [...out];
  }

  // ---------------------------------------------------------------- changes

  async setStatus(actor: Actor, meta: RequestMeta, target: Target, status: IncidentStatus, note?: Text): Promise<Reply> {
    if (status === 'resolved') return this.resolve(actor, meta, target, note ?? '');
    if (status === 'closed') return this.close(actor, meta, target);
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      const t = statusTransition(row.status as IncidentStatus, status);
      if (!t.ok) throw new Refusal(fmt(t.reason.startsWith('INC ') ? t.reason.replace(/^INC /, `${incidentRef(row.number)} `) : `${incidentRef(row.number)}: ${t.reason}`));
      const reopened = row.status === 'resolved';
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { status, lastUpdateAt: u.now, updatedAt: u.now, ...(reopened ? { resolvedAt: null } : {}) } });
      const refName = incidentRef(row.number);
      const text = rt`${reopened ? 'Reopened; status' : 'Status'} → ${strong(status)}${note && rt`: ${note}`}`;
      await this.timeline(u, row, actor, 'status', rt`${row.status} → ${status}${note && rt`: ${note}`}`);
      u.audit({ action: 'incident.status', subjectType: 'incident', subjectId: refName, before: { status: row.status }, after: { status }, reason: note ? plainText(note) : null });
      u.effects(this.inChannel(updated, rt`${mention(actor.externalId)} ${text}`), ...this.cardUpdate(updated), ...this.broadcast(updated, rt`${refName} ${text}`));
      await this.armUpdateClock(u, updated);
      if (reopened) {
        const sev = this.policy.incidents.severities[row.severity as Severity];
        await this.arm(u, row, 'resolve-sla', new Date(row.declaredAt.getTime() + sev.resolve));
      }
      return { text: rt`${refName} ${text}` };
    });
  }

  async postUpdate(actor: Actor, meta: RequestMeta, target: Target, text: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      this.requireOpen(row, 'posting updates');
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { lastUpdateAt: u.now, updatedAt: u.now } });
      const refName = incidentRef(row.number);
      await this.timeline(u, row, actor, 'update', text);
      u.audit({ action: 'incident.update', subjectType: 'incident', subjectId: refName, after: { text: plainText(text) } });
      u.effects(
        this.inChannel(updated, rt`${emoji('loudspeaker')} ${strong('Update')} from ${mention(actor.externalId)}: ${text}`),
        ...this.cardUpdate(updated),
        ...this.broadcast(updated, rt`${refName} update: ${text}`),
      );
      if (isActive(row.status)) await this.armUpdateClock(u, updated);
      return { text: `Update posted to ${refName}.` };
    });
  }

  async setSeverity(actor: Actor, meta: RequestMeta, target: Target, severity: Severity, reason?: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      this.requireOpen(row, 'changing the severity');
      const refName = incidentRef(row.number);
      if (row.severity === severity) throw new Refusal(`${refName} is already ${severity}.`);
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { severity, updatedAt: u.now } });
      const text = rt`Severity ${row.severity} → ${strong(severity)}${reason && rt`: ${reason}`}`;
      await this.timeline(u, row, actor, 'severity', rt`${row.severity} → ${severity}${reason && rt`: ${reason}`}`);
      u.audit({ action: 'incident.severity', subjectType: 'incident', subjectId: refName, before: { severity: row.severity }, after: { severity }, reason: reason ? plainText(reason) : null });
      u.effects(this.inChannel(updated, rt`${mention(actor.externalId)} ${text}`), ...this.cardUpdate(updated), ...this.broadcast(updated, rt`${refName} ${text}`));
      // The SLA clocks follow the new severity.
      const sev = this.policy.incidents.severities[severity];
      if (isActive(row.status)) {
        await this.arm(u, row, 'resolve-sla', new Date(row.declaredAt.getTime() + sev.resolve));
        await this.arm(u, row, 'update-due', new Date(row.lastUpdateAt.getTime() + sev.updateEvery));
        const hasCommander = (await u.tx.incidentRole.count({ where: { incidentId: row.id, role: 'commander', relievedAt: null } })) > 0;
        if (sev.requiresCommander && !hasCommander) {
          await this.arm(u, row, 'no-commander', new Date(Math.max(u.now.getTime(), row.declaredAt.getTime() + sev.respond)));
        } else if (!sev.requiresCommander) {
          await u.cancel({ key: timerKeys.noCommander(row.id) });
          await this.stopEscalations(u, row.id, 'no-commander');
        }
      }
      return { text: rt`${refName} ${text}` };
    });
  }

  async assignRole(actor: Actor, meta: RequestMeta, target: Target, role: IncidentRoleName, userExternal: string): Promise<Reply> {
    if (userExternal !== actor.externalId) await this.k.requirePerson(actor, userExternal, 'incident roles');
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      this.requireOpen(row, 'changing roles');
      const refName = incidentRef(row.number);
      const userId = await ensureUser(u.tx, actor.workspaceId, userExternal, u.now);
      const current = await u.tx.incidentRole.findFirst({ where: { incidentId: row.id, role, relievedAt: null } });
      if (current?.userId === userId) return { text: rt`${mention(userExternal)} is already the ${ROLE_LABEL[role].toLowerCase()} of ${refName}.` };
      if (current) await u.tx.incidentRole.update({ where: { id: current.id }, data: { relievedAt: u.now, relievedBy: actor.userId } });
      await u.tx.incidentRole.create({ data: { incidentId: row.id, role, userId, assignedBy: actor.userId, assumedAt: u.now } });
      await this.addMember(u.tx, row.id, userId, u.now);
      let updated = await u.tx.incident.update({ where: { id: row.id }, data: { updatedAt: u.now } });
      if (role === 'commander') {
        if (!row.acknowledgedAt) updated = await u.tx.incident.update({ where: { id: row.id }, data: { acknowledgedAt: u.now } });
        await u.cancel({ key: timerKeys.noCommander(row.id) });
        await this.stopEscalations(u, row.id, 'no-commander');
      }
      const self = userExternal === actor.externalId;
      const text = rt`${mention(userExternal)} ${self ? 'took' : 'is now'} ${ROLE_LABEL[role].toLowerCase()}${current && rt` (handed over from ${mention(externalOf(current.userId))})`}${!self && rt`, assigned by ${mention(actor.externalId)}`}.`;
      await this.timeline(u, row, actor, 'role', rt`${ROLE_LABEL[role]}: ${mention(userExternal)}${current && rt` (relieves ${mention(externalOf(current.userId))})`}`);
      u.audit({ action: 'incident.role', subjectType: 'incident', subjectId: refName, before: { role, holder: current?.userId ?? null }, after: { role, holder: userId } });
      u.effects(this.inChannel(updated, text), ...this.cardUpdate(updated));
      if (row.channelId) u.effects({ op: 'invite', args: { channel: row.channelId, users: [userExternal] }, hook: { name: 'incident.invited', data: { incidentId: row.id } } });
      u.effects({
        op: 'dm',
        args: { user: userExternal, text: rt`You are now the ${strong(ROLE_LABEL[role].toLowerCase())} of ${refName} (${decodeText(row.title)}) in ${channelLink(row)}. ${fmt(ROLE_DUTIES[role])}` },
      });
      if (current && externalOf(current.userId) !== userExternal) {
        u.effects({
          op: 'dm',
          args: { user: externalOf(current.userId), text: rt`${mention(userExternal)} has taken over as ${ROLE_LABEL[role].toLowerCase()} of ${refName}; you are relieved. Thank you!` },
        });
      }
      return { text: rt`${refName}: ${text}` };
    });
  }

  async addNote(actor: Actor, meta: RequestMeta, target: Target, text: Text): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      this.requireOpen(row, 'adding notes');
      await this.timeline(u, row, actor, 'note', text);
      u.audit({ action: 'incident.note', subjectType: 'incident', subjectId: incidentRef(row.number), after: { text: plainText(text) } });
      return { text: `Note added to the ${incidentRef(row.number)} timeline.` };
    });
  }

  // ---------------------------------------------------------------- changes seen from incidents

  /**
   * `/incident link CHG-n`: the change is a suspected cause of the incident, recorded both ways (one link
   * row both read), on the timeline, in the audit trail of each, and shown on both cards. Linking twice
   * changes nothing.
   */
  async linkChange(actor: Actor, meta: RequestMeta, target: Target, changeText: string): Promise<Reply> {
    const n = parseChangeRef(changeText);
    if (n === undefined) throw new UsageError(`"${changeText}" is not a change request: write CHG-n.`, '/incident [INC-n] link CHG-n');
    const chg = changeRef(n);
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      const refName = incidentRef(row.number);
      this.requireOpen(row, 'linking a change to it');
      const change = await u.tx.changeRequest.findUnique({ where: { workspaceId_number: { workspaceId: actor.workspaceId, number: n } } });
      if (!change) throw new Refusal(rt`${chg} does not exist: name a change request raised with ${code('/change')}, e.g. ${code(`/incident ${refName} link CHG-4`)}.`);
      // Two people linking the same change at once: the second waits here, then finds the first's link.
      if (this.k.db.provider === 'postgresql') await sqlOf(u.tx).run('SELECT 1 FROM change_requests WHERE id = ? FOR UPDATE', change.id);
      const key = { changeId: change.id, incidentId: row.id, kind: 'suspected_cause' };
      const existing = await u.tx.changeIncidentLink.findUnique({ where: { changeId_incidentId_kind: key } });
      if (existing) {
        return { text: rt`${chg} is already linked to ${refName} as a suspected cause (by ${mention(externalOf(existing.byId))} ${time(existing.at)}); nothing changed.` };
      }
      await u.tx.changeIncidentLink.create({ data: { ...key, byId: actor.userId, at: u.now } });
      const title = decodeText(change.title);
      await this.timeline(u, row, actor, 'change', rt`${chg} ${title} linked as suspected cause by ${mention(actor.externalId)}`);
      u.audit({ action: 'incident.link', subjectType: 'incident', subjectId: refName, after: { change: chg, kind: 'suspected_cause' } });
      u.audit({ action: 'change.link', subjectType: 'change', subjectId: chg, after: { incident: refName, kind: 'suspected_cause' } });
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { updatedAt: u.now } });
      u.effects(
        this.inChannel(updated, rt`${emoji('warning')} ${mention(actor.externalId)} linked ${strong(chg)} ${title} as a suspected cause of ${refName}.`),
        ...this.cardUpdate(updated),
        ...(await this.changeCardUpdates(u.tx, change.id)),
      );
      return { text: rt`${chg} ${title} is linked to ${refName} as a suspected cause: both cards show it, and the post-incident review lists it.` };
    });
  }

  /** Redraws every copy of a change's card (where it was asked for, the changes channel, approvers' DMs). */
  private async changeCardUpdates(tx: Tx, changeId: string): Promise<EffectSpec[]> {
    const cards = await tx.changeCard.findMany({ where: { changeId } });
    return cards.map((c) => ({
      op: 'updateMessage' as const,
      after: c.effectId,
      coalesce: `card:${c.effectId}`,
      args: { channel: ref(c.effectId, 'channel'), ts: ref(c.effectId, 'ts'), surface: { kind: 'change.card' as const, changeId } },
    }));
  }

  /**
   * Redraws the cards of the open incidents a change concerns: those it is linked to, and (once it has been
   * carried out) those whose lookback it falls in on their services. For change control to call when a change
   * is raised in an incident or carried out, so "what changed" on those cards is current.
   */
  /** A change raised in an incident goes on its timeline (kind `change`), in the change's own transaction. */
  async noteChange(u: Unit, incidentId: string, actor: Actor, text: Text): Promise<void> {
    const row = await u.tx.incident.findUnique({ where: { id: incidentId } });
    if (row) await this.timeline(u, row, actor, 'change', text);
  }

  async redrawForChange(u: Unit, changeId: string): Promise<void> {
    const change = await u.tx.changeRequest.findUnique({ where: { id: changeId }, include: { links: true } });
    if (!change) return;
    const linked = new Set(change.links.map((l) => l.incidentId));
    const open = await u.tx.incident.findMany({ where: { workspaceId: change.workspaceId, status: { in: ['investigating', 'identified', 'monitoring'] } } });
    const systems = JSON.parse(change.systems) as string[];
    for (const inc of open) {
      const lookback = change.implementedAt !== null && change.implementedAt.getTime() >= inc.declaredAt.getTime() - CHANGE_LOOKBACK_MS;
      if (linked.has(inc.id) || (lookback && touches(systems, JSON.parse(inc.services) as string[]))) u.effects(...this.cardUpdate(inc));
    }
  }

  // ---------------------------------------------------------------- status page

  /**
   * Who may speak for an incident on the public status page: its comms lead, or a holder
   * of publish_status. A refusal is audited. Private incidents never appear there.
   */
  private async requirePublisher(u: Unit, actor: Actor, row: IncidentRow, action: string): Promise<void> {
    const refName = incidentRef(row.number);
    if (row.isPrivate) throw new Refusal(`${refName} is private; it never appears on the status page.`);
    const comms = await u.tx.incidentRole.findFirst({ where: { incidentId: row.id, role: 'comms', relievedAt: null } });
    if (comms?.userId === actor.userId) return;
    if (hasPermission(actor.roles, 'publish_status', this.policy.permissions)) return;
    throw new Refusal(
      rt`Only the comms lead of ${refName}${comms && rt` (${mention(externalOf(comms.userId))})`} or a holder of the publish_status permission (${this.policy.permissions.publish_status.join(', ')}) can speak for it on the status page. Take the role with ${strong('Take comms lead')} on the card.`,
      { action, subjectType: 'incident', subjectId: refName, reason: 'not comms lead and missing publish_status' },
    );
  }

  /** `public title <text>`: the title customers read; the first one puts the incident on the status page. */
  async publish(actor: Actor, meta: RequestMeta, target: Target, title: Text): Promise<Reply> {
    // What customers read is plain text: a person or channel named in it reads as words, never an internal id.
    const publicTitle = plainText(trimText(title), PUBLIC_NAMES);
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      this.requireOpen(row, 'publishing it');
      const refName = incidentRef(row.number);
      await this.requirePublisher(u, actor, row, 'incident.publish');
      const first = row.publishedAt === null;
      const updated = await u.tx.incident.update({
        where: { id: row.id },
        data: { publicTitle, ...(first ? { publishedAt: u.now, publishedBy: actor.userId, publicServices: row.publicServices ?? '[]' } : {}), updatedAt: u.now },
      });
      await this.timeline(u, row, actor, 'published', first ? `Published on the status page as “${publicTitle}”` : `Public title changed to “${publicTitle}”`);
      u.audit({ action: 'incident.publish', subjectType: 'incident', subjectId: refName, before: { publicTitle: row.publicTitle, published: !first }, after: { publicTitle, published: true } });
      u.effects(
        this.inChannel(
          updated,
          rt`${emoji('globe_with_meridians')} ${mention(actor.externalId)} ${first ? 'published this incident on the status page' : 'changed its public title'}: “${publicTitle}”`,
        ),
        ...this.cardUpdate(updated),
      );
      return {
        text: first
          ? rt`${refName} is on the status page now as “${publicTitle}”. Choose what customers see as affected with ${code(`/incident ${refName} public services <a, b>`)}, and post public updates with ${code(`/incident ${refName} public <text>`)}.`
          : `${refName}'s public title is now “${publicTitle}”.`,
      };
    });
  }

  /** `public services <a, b>`: the affected services shown on the status page (`none` clears them). */
  async setPublicServices(actor: Actor, meta: RequestMeta, target: Target, services: string[]): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      this.requireOpen(row, 'updating the status page');
      const refName = incidentRef(row.number);
      await this.requirePublisher(u, actor, row, 'incident.public.services');
      const before = JSON.parse(row.publicServices ?? '[]') as string[];
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { publicServices: JSON.stringify(services), updatedAt: u.now } });
      await this.timeline(u, row, actor, 'published', `Public affected services: ${services.length ? services.join(', ') : 'none'}`);
      u.audit({ action: 'incident.public.services', subjectType: 'incident', subjectId: refName, before: { services: before }, after: { services } });
      u.effects(...this.cardUpdate(updated));
      return {
        text: rt`${refName}: the status page lists ${services.length ? services.join(', ') : 'no affected services'}${!row.publishedAt && rt` once it is published (${code('public title <text>')})`}.`,
      };
    });
  }

  /** `public <text>`: a public update, shown on the status page (only once published). */
  async setPublic(actor: Actor, meta: RequestMeta, target: Target, typed: Text): Promise<Reply> {
    // Kept as typed on the timeline (shown live inside); the status page reads it with PUBLIC_NAMES.
    const text = trimText(typed);
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      this.requireOpen(row, 'updating the status page');
      const refName = incidentRef(row.number);
      await this.requirePublisher(u, actor, row, 'incident.public');
      if (row.publishedAt === null) {
        throw new Refusal(rt`${refName} is not on the status page. Publish it first with a title customers should read: ${code(`/incident ${refName} public title <text>`)}.`);
      }
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { publicText: plainText(text, PUBLIC_NAMES), publicUpdatedAt: u.now, updatedAt: u.now } });
      await this.timeline(u, row, actor, 'public', text, { internal: false });
      u.audit({ action: 'incident.public', subjectType: 'incident', subjectId: refName, before: { text: row.publicText }, after: { text: plainText(text, PUBLIC_NAMES) } });
      u.effects(this.inChannel(updated, rt`${emoji('globe_with_meridians')} Public update by ${mention(actor.externalId)}: ${text}`), ...this.cardUpdate(updated));
      return { text: `${refName} public update posted to the status page.` };
    });
  }

  /** `public off`: takes the incident off the status page (its public updates are kept, hidden). */
  async unpublish(actor: Actor, meta: RequestMeta, target: Target): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      const refName = incidentRef(row.number);
      await this.requirePublisher(u, actor, row, 'incident.unpublish');
      if (row.publishedAt === null) return { text: `${refName} is not on the status page; nothing changed.` };
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { publishedAt: null, publishedBy: null, updatedAt: u.now } });
      await this.timeline(u, row, actor, 'published', 'Taken off the status page');
      u.audit({ action: 'incident.unpublish', subjectType: 'incident', subjectId: refName, before: { published: true }, after: { published: false } });
      u.effects(this.inChannel(updated, rt`${emoji('globe_with_meridians')} ${mention(actor.externalId)} took this incident off the status page.`), ...this.cardUpdate(updated));
      return { text: `${refName} is off the status page.` };
    });
  }

  async resolve(actor: Actor, meta: RequestMeta, target: Target, summary: Text): Promise<Reply> {
    const given = !isEmptyText(summary);
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      const refName = incidentRef(row.number);
      if (row.status === 'closed') throw new Refusal(`${refName} is closed.`);
      if (row.status === 'resolved') throw new Refusal(`${refName} is already resolved (at ${row.resolvedAt?.toISOString()}).`);
      const updated = await u.tx.incident.update({
        where: { id: row.id },
        data: { status: 'resolved', summary: given ? encodeText(summary) : row.summary, resolvedAt: u.now, lastUpdateAt: u.now, updatedAt: u.now },
      });
      const view = await this.view(u.tx, updated);
      await this.timeline(u, row, actor, 'resolved', rt`Resolved${given && rt`: ${summary}`}`);
      u.audit({
        action: 'incident.resolve',
        subjectType: 'incident',
        subjectId: refName,
        before: { status: row.status },
        after: {
          status: 'resolved',
          summary: plainText(summary),
          ttrMs: u.now.getTime() - row.declaredAt.getTime(),
          ttaMs: row.acknowledgedAt ? row.acknowledgedAt.getTime() - row.declaredAt.getTime() : null,
          resolveSlaMet: view.sla.resolveMet ?? null,
        },
      });
      await u.cancel({ subjectType: 'incident', subjectId: row.id, kinds: ['incident.no-commander', 'incident.update-due', 'incident.resolve-sla'] });
      for (const k of ['no-commander', 'update-due', 'resolve-sla']) await this.stopEscalations(u, row.id, k);
      u.effects(
        this.inChannel(
          updated,
          rt`${emoji('white_check_mark')} ${mention(actor.externalId)} resolved ${refName}${given && rt`: ${summary}`}. Run ${code('/incident postmortem')} for the review document, then ${code('/incident close')} to archive this channel.`,
        ),
        ...this.cardUpdate(updated),
        ...this.broadcast(updated, rt`${refName} resolved${given && rt`: ${summary}`}`),
      );
      return { text: `${refName} resolved.` };
    });
  }

  async close(actor: Actor, meta: RequestMeta, target: Target): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      const refName = incidentRef(row.number);
      const t = statusTransition(row.status as IncidentStatus, 'closed');
      if (!t.ok) throw new Refusal(fmt(`${refName} cannot be closed: ${t.reason}`));
      const holders = await u.tx.incidentRole.findMany({ where: { incidentId: row.id, relievedAt: null }, select: { userId: true } });
      const allowed =
        row.reporterId === actor.userId || holders.some((h) => h.userId === actor.userId) || this.policy.permissions.close_incident.some((r) => actor.roles.has(r)) || actor.roles.has('admin');
      if (!allowed) {
        throw new Refusal(`Only the reporter, a role holder of ${refName}, or someone with the close_incident permission can close it.`, {
          action: 'incident.close',
          subjectType: 'incident',
          subjectId: refName,
        });
      }
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { status: 'closed', closedAt: u.now, updatedAt: u.now } });
      await this.timeline(u, row, actor, 'closed', 'Closed; channel archived');
      u.audit({ action: 'incident.close', subjectType: 'incident', subjectId: refName, before: { status: row.status }, after: { status: 'closed' } });
      const open = await u.tx.actionItem.count({ where: { incidentId: row.id, status: 'open' } });
      // The last post and the card's last redraw (no buttons) land before the channel is archived:
      // Platforms refuse both in an archived channel.
      const [post, card] = await u.enqueue(
        this.inChannel(
          updated,
          rt`${mention(actor.externalId)} closed ${refName}. This channel is archived now.${open > 0 && ` ${open} follow-up action(s) stay open and their owners will be reminded.`}`,
        ),
        ...this.cardUpdate(updated),
      );
      // So do the channel's earlier effects still waiting or retrying (an update, a role's invite, a bookmark after a
      // 429): archived first, each would be refused and dead-lettered (the fault suite, faults.e2e.test.ts).
      const earlier = await this.unfinishedInChannel(u.tx, row);
      if (row.channelId) u.effects({ op: 'archiveChannel', afterAll: [post!, ...(card !== undefined ? [card] : []), ...earlier], args: { channel: row.channelId } });
      return { text: `${refName} closed.` };
    });
  }

  /**
   * Effects not yet done that act in the incident's channel: those naming its id, and those written before it
   * existed, which take it from the channel or card effect's result (`{ "$ref": <id>, ... }`; the card's data
   * dependency is the channel effect).
   */
  private async unfinishedInChannel(tx: Tx, row: IncidentRow): Promise<number[]> {
    if (!row.channelId) return [];
    const card = row.cardEffectId === null ? null : await tx.outboxEffect.findUnique({ where: { id: row.cardEffectId }, select: { dependsOnId: true } });
    const sources = [row.cardEffectId, card?.dependsOnId ?? null].filter((id): id is number => id !== null);
    const open = await tx.outboxEffect.findMany({
      where: {
        status: { in: ['pending', 'running', 'hook', 'hooking'] },
        OR: [{ payload: { contains: JSON.stringify(row.channelId) } }, ...sources.map((id) => ({ payload: { contains: `"$ref":${id},` } }))],
      },
      select: { id: true },
    });
    return open.map((e) => e.id);
  }

  // ---------------------------------------------------------------- follow-ups

  async addAction(actor: Actor, meta: RequestMeta, target: Target, input: { text: Text; owner?: string; due?: string }): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      const refName = incidentRef(row.number);
      this.requireOpen(row, 'adding follow-ups');
      const number = (await u.tx.actionItem.count({ where: { incidentId: row.id } })) + 1;
      const id = randomUUID();
      const ownerId = input.owner ? await ensureUser(u.tx, actor.workspaceId, input.owner, u.now) : null;
      await u.tx.actionItem.create({ data: { id, incidentId: row.id, number, text: encodeText(input.text), ownerId, dueDate: input.due ?? null, createdBy: actor.userId, createdAt: u.now } });
      await this.timeline(u, row, actor, 'action', rt`Follow-up #${number}: ${input.text}${input.owner && rt` (${mention(input.owner)})`}${input.due && ` due ${input.due}`}`);
      u.audit({ action: 'incident.action.create', subjectType: 'incident', subjectId: refName, after: { number, text: plainText(input.text), owner: ownerId, due: input.due ?? null } });
      await this.scheduleActionReminders(u, row.workspaceId, id, input.due);
      if (input.owner) {
        u.effects({ op: 'dm', args: { user: input.owner, surface: { kind: 'incident.action', actionId: id, intro: rt`${mention(actor.externalId)} gave you a follow-up from ${refName}` } } });
      }
      return { text: rt`Follow-up #${number} added to ${refName}${input.owner && rt` for ${mention(input.owner)}`}${input.due && `, due ${input.due}`}.` };
    });
  }

  /** Reminders the day before and on the due date, 09:00 in the organisation's time zone. */
  private async scheduleActionReminders(u: Unit, workspaceId: string, actionId: string, due?: string) {
    if (!due) return;
    const onDue = zonedNineAm(due, this.policy.organization.timeZone);
    // 09:00 on the calendar day before: 24 h earlier is 08:00 or 10:00 when the clocks change in between.
    const dayBefore = new Date(Date.parse(`${due}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    const before = zonedNineAm(dayBefore, this.policy.organization.timeZone);
    for (const [key, at, kind] of [
      [timerKeys.actionBefore(actionId), before, 'before'],
      [timerKeys.actionDue(actionId), onDue, 'due'],
    ] as const) {
      if (at.getTime() > u.now.getTime()) {
        await u.schedule({ key, kind: 'incident.action-reminder', subjectType: 'action', subjectId: actionId, workspaceId, dueAt: at, payload: { when: kind } });
      }
    }
  }

  async completeAction(actor: Actor, meta: RequestMeta, target: Target | { actionId: string }, number?: number): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      let item;
      if ('actionId' in target) item = await u.tx.actionItem.findUnique({ where: { id: target.actionId } });
      else {
        const row = await this.find(u.tx, actor, target);
        item = await u.tx.actionItem.findUnique({ where: { incidentId_number: { incidentId: row.id, number: number! } } });
        if (!item) throw new Refusal(`${incidentRef(row.number)} has no follow-up #${number}.`);
      }
      if (!item) throw new Refusal('That follow-up no longer exists.');
      const row = await u.tx.incident.findUniqueOrThrow({ where: { id: item.incidentId } });
      if (!(await this.canSee(u.tx, actor, row))) throw new Refusal('That follow-up belongs to a private incident you are not in.');
      const refName = incidentRef(row.number);
      if (item.status === 'done') return { text: `Follow-up #${item.number} of ${refName} is already done.` };
      await u.tx.actionItem.update({ where: { id: item.id }, data: { status: 'done', doneAt: u.now, doneBy: actor.userId } });
      await u.cancel({ subjectType: 'action', subjectId: item.id });
      await this.timeline(u, row, actor, 'action', rt`Follow-up #${item.number} done: ${decodeText(item.text)}`);
      u.audit({ action: 'incident.action.done', subjectType: 'incident', subjectId: refName, before: { number: item.number, status: 'open' }, after: { number: item.number, status: 'done' } });
      return { text: rt`Follow-up #${item.number} of ${refName} marked done: ${decodeText(item.text)}` };
    });
  }

  // ---------------------------------------------------------------- reports

  async timelineReply(actor: Actor, target: Target): Promise<Reply> {
    return this.k.db.read(async (tx) => {
      const row = await this.find(tx, actor, target);
      const entries = await tx.timelineEntry.findMany({ where: { incidentId: row.id }, orderBy: [{ at: 'asc' }, { id: 'asc' }] });
      const lines = entries.map(
        (e) =>
          rt`${time(e.at)} ${strong(e.kind)}${e.actorId && rt` ${mention(externalOf(e.actorId))}`}: ${decodeText(e.text)}${e.removed && ' (removed)'}${e.permalink && /^https?:/.test(e.permalink) && rt` ${link(e.permalink, 'link')}`}`,
      );
      const refName = incidentRef(row.number);
      return { text: rt`Timeline of ${refName} (${entries.length} entries):\n${joinText(lines, '\n')}`, sections: [{ title: `${refName} timeline`, lines }] };
    });
  }

  async postmortem(actor: Actor, meta: RequestMeta, target: Target): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const row = await this.find(u.tx, actor, target);
      const refName = incidentRef(row.number);
      if (row.status === 'closed') {
        if (!row.postmortem) throw new Refusal(`${refName} is closed and has no review document.`);
        return {
          text: `${refName} is closed; here is its last review document (${row.postmortemAt?.toISOString()}).`,
          sections: [{ title: `${refName} post-incident review`, lines: [row.postmortem.slice(0, 2800)] }],
        };
      }
      const markdown = await this.postmortemText(u.tx, row, u.now);
      const first = !row.postmortemAt;
      const updated = await u.tx.incident.update({ where: { id: row.id }, data: { postmortem: markdown, postmortemAt: u.now, updatedAt: u.now } });
      await this.timeline(u, row, actor, 'postmortem', first ? 'Post-incident review document generated' : 'Post-incident review document regenerated');
      u.audit({ action: 'incident.postmortem', subjectType: 'incident', subjectId: refName, after: { bytes: markdown.length } });
      if (first && this.policy.incidents.severities[row.severity as Severity].requiresCommander) {
        const number = (await u.tx.actionItem.count({ where: { incidentId: row.id } })) + 1;
        const commander = await u.tx.incidentRole.findFirst({ where: { incidentId: row.id, role: 'commander' }, orderBy: { assumedAt: 'desc' } });
        const ownerId = commander?.userId ?? row.reporterId;
        const due = new Date(u.now.getTime() + 5 * 86_400_000).toISOString().slice(0, 10);
        const id = randomUUID();
        await u.tx.actionItem.create({
          data: { id, incidentId: row.id, number, text: `Write the post-incident review of ${refName}`, ownerId, dueDate: due, createdBy: actor.userId, createdAt: u.now },
        });
        await this.scheduleActionReminders(u, row.workspaceId, id, due);
        u.audit({ action: 'incident.action.create', subjectType: 'incident', subjectId: refName, after: { number, text: 'Write the post-incident review', owner: ownerId, due } });
      }
      const channel = updated.channelId;
      const asFile = this.k.capabilities(actor.platform).fileUpload;
      if (channel && asFile) {
        u.effects({
          op: 'uploadFile',
          args: { channel, content: markdown, filename: `${refName.toLowerCase()}-postmortem.md`, title: `${refName} post-incident review`, comment: `Post-incident review document for ${refName}.` },
        });
      } else if (channel) {
        // No file sharing on this platform: the document goes to the channel as messages, in order.
        const parts = chunkLines(markdown, POSTMORTEM_MESSAGE_CHARS);
        let previous: number | undefined;
        for (const [i, part] of parts.entries()) {
          const text = parts.length > 1 ? `${refName} post-incident review (${i + 1}/${parts.length})\n${part}` : `${refName} post-incident review\n${part}`;
          const [id] = await u.enqueue({ op: 'postMessage', ...(previous !== undefined ? { afterAll: [previous] } : {}), args: { channel, text } });
          previous = id;
        }
      }
      const how = asFile ? 'as a file' : 'as messages';
      return {
        text: rt`${refName} post-incident review ${first ? 'generated' : 'regenerated'}${channel && rt` and posted to ${channelRef(channel)} ${how}`}.`,
        sections: [{ title: `${refName} post-incident review`, lines: [markdown.slice(0, 2800)] }],
      };
    });
  }

  async postmortemText(tx: Tx, row: IncidentRow, now: Date): Promise<string> {
    const [view, roles, timeline, actions] = await Promise.all([
      this.view(tx, row),
      tx.incidentRole.findMany({ where: { incidentId: row.id }, orderBy: { assumedAt: 'asc' } }),
      tx.timelineEntry.findMany({ where: { incidentId: row.id }, orderBy: [{ at: 'asc' }, { id: 'asc' }] }),
      tx.actionItem.findMany({ where: { incidentId: row.id }, orderBy: { number: 'asc' } }),
    ]);
    const name = (u: string) => `@${externalOf(u)}`;
    const markdown = postmortemMarkdown({
      ref: view.ref,
      // The review is a Markdown file: plain text, people by their id.
      title: plainText(decodeText(row.title)),
      severity: row.severity,
      status: row.status,
      services: view.services,
      description: row.description === null ? null : plainText(decodeText(row.description)),
      summary: row.summary === null ? null : plainText(decodeText(row.summary)),
      declaredAt: row.declaredAt,
      acknowledgedAt: row.acknowledgedAt,
      resolvedAt: row.resolvedAt,
      sla: view.sla,
      roles: roles.map((r) => ({ role: r.role as IncidentRoleName, user: r.userId, assumedAt: r.assumedAt, relievedAt: r.relievedAt })),
      timeline: timeline.map((e) => ({ at: e.at, kind: e.kind, actor: e.actorId, text: plainText(decodeText(e.text)), removed: e.removed })),
      actions: actions.map((a) => ({ number: a.number, text: plainText(decodeText(a.text)), owner: a.ownerId, due: a.dueDate, status: a.status })),
      generatedAt: now,
      names: name,
    });
    // What changed: suspected causes, what was carried out in the 24 h before the declaration on its services, what was raised in it.
    const changes = await incidentChanges(tx, { id: row.id, workspaceId: row.workspaceId, services: view.services }, new Date(row.declaredAt.getTime() - CHANGE_LOOKBACK_MS), row.declaredAt);
    return withSection(markdown, changesMarkdown(changes, view.services), '## SLA');
  }

  async list(actor: Actor): Promise<Reply> {
    const views = await this.openFor(actor);
    if (views.length === 0) return { text: rt`No open incidents. ${emoji('sunny')}` };
    const now = this.k.clock.now().getTime();
    const lines = views.map(
      (v) =>
        rt`${strong(v.ref)} ${v.severity} · ${v.status} · ${v.title} · ${channelLink(v)} · open ${ageText(now - v.declaredAt.getTime())} · commander ${v.commander ? mention(v.commander) : em('none')}${v.isPrivate && rt` · ${emoji('lock')} private`}`,
    );
    return { text: rt`Open incidents (${views.length}):\n${joinText(lines, '\n')}`, sections: [{ title: `Open incidents (${views.length})`, lines }] };
  }

  /** Open (not closed) incidents this actor may see, most severe first. */
  async openFor(actor: Actor): Promise<IncidentView[]> {
    return this.k.db.read(async (tx) => {
      const rows = await tx.incident.findMany({
        where: {
          workspaceId: actor.workspaceId,
          status: { in: ['investigating', 'identified', 'monitoring'] },
          OR: [{ isPrivate: false }, { members: { some: { userId: actor.userId } } }],
        },
        orderBy: [{ severity: 'asc' }, { declaredAt: 'asc' }],
      });
      return incidentViews(tx, this.policy, rows, this.k.clock.now());
    });
  }

  // ---------------------------------------------------------------- channel events

  /** A message pinned (or given :pushpin:) in an incident channel joins the timeline, once. */
  async recordPinned(
    workspaceId: string,
    meta: RequestMeta,
    e: { channelId: string; ts: string; user?: string; text: Text; permalink?: string; via: 'pin' | 'reaction'; by: string },
  ): Promise<boolean> {
    const actor = this.k.systemActor(workspaceId);
    return this.k.run(actor, meta, async (u) => {
      const row = await u.tx.incident.findFirst({ where: { workspaceId, channelId: e.channelId } });
      if (!row) return false;
      const key = `msg:${e.ts}`;
      const existing = await u.tx.timelineEntry.findUnique({ where: { incidentId_key: { incidentId: row.id, key } } });
      if (existing) {
        if (existing.removed) await u.tx.timelineEntry.update({ where: { id: existing.id }, data: { removed: false } });
        return false;
      }
      await u.tx.timelineEntry.create({
        data: {
          incidentId: row.id,
          kind: 'pinned',
          actorId: e.user ? userIdOf(workspaceId, e.user) : null,
          text: isEmptyText(e.text) ? '(a message with no text: a file or an attachment)' : encodeText(e.text),
          at: u.now,
          key,
          permalink: e.permalink ?? null,
        },
      });
      u.audit({ action: 'incident.timeline.pin', actorId: userIdOf(workspaceId, e.by), subjectType: 'incident', subjectId: incidentRef(row.number), after: { ts: e.ts, via: e.via } });
      return true;
    });
  }

  async messageEdited(workspaceId: string, meta: RequestMeta, channelId: string, ts: string, text: Text): Promise<boolean> {
    return this.k.run(this.k.systemActor(workspaceId), meta, async (u) => {
      const row = await u.tx.incident.findFirst({ where: { workspaceId, channelId } });
      if (!row) return false;
      const r = await u.tx.timelineEntry.updateMany({ where: { incidentId: row.id, key: `msg:${ts}` }, data: { text: encodeText(text), editedAt: u.now } });
      if (r.count) u.audit({ action: 'incident.timeline.edit', subjectType: 'incident', subjectId: incidentRef(row.number), after: { ts, text: plainText(text) } });
      return r.count > 0;
    });
  }

  /** A pinned message deleted, or unpinned (no pin and no :pushpin: left): off the timeline, kept as removed. */
  async messageRemoved(workspaceId: string, meta: RequestMeta, channelId: string, ts: string, why: 'deleted' | 'unpinned' = 'deleted'): Promise<boolean> {
    return this.k.run(this.k.systemActor(workspaceId), meta, async (u) => {
      const row = await u.tx.incident.findFirst({ where: { workspaceId, channelId } });
      if (!row) return false;
      const r = await u.tx.timelineEntry.updateMany({ where: { incidentId: row.id, key: `msg:${ts}`, removed: false }, data: { removed: true, editedAt: u.now } });
      if (r.count) u.audit({ action: why === 'deleted' ? 'incident.timeline.remove' : 'incident.timeline.unpin', subjectType: 'incident', subjectId: incidentRef(row.number), after: { ts } });
      return r.count > 0;
    });
  }

  async memberJoined(workspaceId: string, channelId: string, userExternal: string): Promise<void> {
    await this.k.db.tx(async (tx) => {
      const row = await tx.incident.findFirst({ where: { workspaceId, channelId } });
      if (!row) return;
      await ensureUser(tx, workspaceId, userExternal, this.k.clock.now());
      await this.addMember(tx, row.id, userIdOf(workspaceId, userExternal), this.k.clock.now());
    });
  }

  // ---------------------------------------------------------------- effect hooks

  async onChannelCreated(tx: Tx, incidentId: string, result: Record<string, unknown>): Promise<void> {
    // Raw, on the war room's path; the name the platform gave, when it says (else the one asked for stays).
    const changed = await sqlOf(tx).run(
      'UPDATE incidents SET channel_id = ?, channel_name = COALESCE(?, channel_name) WHERE id = ?',
      String(result.channel),
      String(result.name ?? '') || null,
      incidentId,
    );
    if (changed !== 1) throw new Error(`incident ${incidentId} not found`);
  }

  /**
   * After an invite or a group expansion: the people (or groups) the platform would not add are named in
   * the incident channel with the reason, and on the timeline, so someone can add them by hand.
   */
  async onInvited(tx: Tx, incidentId: string, result: Record<string, unknown>): Promise<void> {
    // The port says why in `reason` (e.g. "is a guest and cannot be invited to this channel").
    const failed = Array.isArray(result.failed) ? (result.failed as FailedInvite[]) : [];
    const groups = Array.isArray(result.failedGroups) ? (result.failedGroups as FailedGroup[]) : [];
    if (!failed.length && !groups.length) return;
    const row = await incidentById(tx, incidentId);
    if (!row?.channelId) return;
    await this.k.inTx(tx, this.k.systemActor(row.workspaceId), { requestId: `invite:${incidentId}` }, async (u) => {
      await this.notAdded(u, row, failed, groups, row.channelId!);
    });
  }

  private async groupsNotAdded(u: Unit, row: IncidentRow, groups: FailedGroup[], channel: string | ResultRef): Promise<void> {
    await this.notAdded(u, row, [], groups, channel);
  }

  /** Names the people and groups that could not be added, in the channel and on the timeline, so someone adds them by hand. */
  private async notAdded(u: Unit, row: IncidentRow, failed: FailedInvite[], groups: FailedGroup[], channel: string | ResultRef): Promise<void> {
    const parts: Text[] = [...failed.map((f) => rt`${mention(f.user)} (${f.reason ?? f.error})`), ...groups.map((g) => `the group ${g.group} (${g.reason ?? g.error})`)];
    const notice = rt`Could not add ${joinText(parts, '; ')}. Add them by hand if they are needed here.`;
    const system = this.k.systemActor(row.workspaceId);
    await this.timeline(u, row, system, 'invite', notice);
    u.audit({ action: 'incident.invite.failed', subjectType: 'incident', subjectId: incidentRef(row.number), after: { users: failed, groups } });
    // Closed meanwhile: its channel is (being) archived, where posts are refused; the timeline still records it.
    if (row.status === 'closed') return;
    u.effects({ op: 'postMessage', ...(typeof channel === 'string' ? {} : { after: channel.$ref }), args: { channel, text: rt`${emoji('warning')} ${notice}` } });
  }

  async onCardPosted(tx: Tx, incidentId: string, effectId: number, result: Record<string, unknown>): Promise<void> {
    const changed = await sqlOf(tx).run('UPDATE incidents SET card_effect_id = ?, card_ts = ? WHERE id = ?', effectId, String(result.ts), incidentId);
    if (changed !== 1) throw new Error(`incident ${incidentId} not found`);
  }
}

/** The longest message the postmortem is split into where it cannot be shared as a file (every platform takes 2,000 characters). */
const POSTMORTEM_MESSAGE_CHARS = 1900;

/** Splits text at line breaks into parts of at most `max` characters (a longer line is cut). */
export function chunkLines(text: string, max: number): string[] {
  const out: string[] = [];
  let cur: string | undefined;
  for (const line of text.split('\n')) {
    let piece = line;
    for (;;) {
      const room = cur === undefined ? max : max - cur.length - 1;
      if (piece.length <= room) {
        cur = cur === undefined ? piece : `${cur}\n${piece}`;
        break;
      }
      if (cur !== undefined) {
        out.push(cur);
        cur = undefined;
        continue;
      }
      out.push(piece.slice(0, max));
      piece = piece.slice(max);
    }
  }
  if (cur !== undefined) out.push(cur);
  return out;
}

const isoMinute = (d: Date) => d.toISOString().replace(/:\d{2}\.\d{3}Z$/, 'Z');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The post-incident review's "Changes" section: each change with its ref, title, window, outcome and requester. */
export function changesMarkdown(c: { recent: IncidentChange[]; suspectedElsewhere: IncidentChange[]; raised: IncidentChange[] }, services: string[]): string {
  const outcome = (x: IncidentChange) => {
    const status = STATUS_LABEL[x.status as ChangeStatus] ?? x.status;
    if (!x.implementedAt) return status;
    const how = x.outcome === 'rolled_back' ? 'rolled back' : x.outcome === 'failed' ? 'failed' : 'success';
    return `${how} (${x.outcome === 'rolled_back' ? 'ended' : 'implemented'} ${isoMinute(x.implementedAt)}; now ${status})`;
  };
  const table = (list: IncidentChange[]) =>
    list.length
      ? [
          '| change | title | systems | window (UTC) | outcome | requester |',
          '| --- | --- | --- | --- | --- | --- |',
          ...list.map(
            (x) =>
              `| ${x.ref} | ${cell(plainText(x.title))} | ${cell([...x.systems, x.environment].join(', '))} | ${x.windowStart && x.windowEnd ? `${isoMinute(x.windowStart)} – ${isoMinute(x.windowEnd)}` : 'none set'} | ${outcome(x)} | @${x.requester} |`,
          ),
        ]
      : ['- none'];
  const suspected = [...c.recent.filter((x) => x.suspected), ...c.suspectedElsewhere];
  // Newest first, a suspected cause among them too: each section answers its own question.
  const before = [...c.recent].sort((a, b) => (b.implementedAt?.getTime() ?? 0) - (a.implementedAt?.getTime() ?? 0));
  return [
    '## Changes',
    '',
    '### Suspected cause',
    '',
    ...table(suspected),
    '',
    `### Implemented in the 24 h before it was declared${services.length ? ` (on ${services.join(', ')})` : ' (every service)'}`,
    '',
    ...table(before),
    '',
    '### Raised during the incident',
    '',
    ...table(c.raised),
    '',
  ].join('\n');
}

/** Inserts a section before a heading of a Markdown document (at its end when the heading is not there). */
function withSection(markdown: string, section: string, beforeHeading: string): string {
  const at = markdown.indexOf(`\n${beforeHeading}\n`);
  if (at < 0) return `${markdown.replace(/\n*$/, '\n\n')}${section}`;
  return `${markdown.slice(0, at + 1)}${section}\n${markdown.slice(at + 1)}`;
}

function ageText(ms: number): string {
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** 09:00 on a calendar date in a time zone, as an instant. */
export function zonedNineAm(date: string, timeZone: string): Date {
  const guess = new Date(`${date}T09:00:00Z`);
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).formatToParts(guess);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asZoned = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
  return new Date(guess.getTime() - (asZoned - guess.getTime()));
}
