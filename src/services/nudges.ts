import { randomUUID } from 'node:crypto';
import type { Severity } from '../config/policy.ts';
import { formatDuration } from '../domain/duration.ts';
import { humanDuration, incidentRef, isActive, timerKeys, type IncidentNudgeKind } from '../domain/incident.ts';
import type { Tx } from '../store/db.ts';
import { ref } from '../store/outbox.ts';
import type { TimerRow } from '../store/timers.ts';
import { Refusal } from './errors.ts';
import type { IncidentService } from './incidents.ts';
import { externalOf } from './incidentViews.ts';
import type { Kernel, Unit } from './kernel.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';
import { code, em, emoji, encodeText, joinText, mention, rt, strong, type Text } from '../domain/text.ts';

type IncidentRow = NonNullable<Awaited<ReturnType<Tx['incident']['findUnique']>>>;

/**
 * Nudges and escalation for incidents: a timer fires, the condition is checked again,
 * the right people are told (channel and DM) with Acknowledge / Snooze 30m, and if
 * nobody acknowledges, the next level of the policy's escalation path is told.
 */
export class NudgeService {
  constructor(
    private readonly k: Kernel,
    private readonly incidents: IncidentService,
  ) {}

  private get path() {
    return this.k.policy.incidents.escalation;
  }

  /** Whether the condition a nudge is about still holds (else the timer does nothing). */
  private async stillDue(tx: Tx, row: IncidentRow, kind: IncidentNudgeKind): Promise<boolean> {
    if (!isActive(row.status)) return false;
    const sev = this.k.policy.incidents.severities[row.severity as Severity];
    if (kind === 'no-commander') {
      return sev.requiresCommander && (await tx.incidentRole.count({ where: { incidentId: row.id, role: 'commander', relievedAt: null } })) === 0;
    }
    if (kind === 'update-due') return this.k.clock.now().getTime() >= row.lastUpdateAt.getTime() + sev.updateEvery;
    return true;
  }

  private text(row: IncidentRow, kind: IncidentNudgeKind): Text {
    const r = incidentRef(row.number);
    const now = this.k.clock.now().getTime();
    const sev = this.k.policy.incidents.severities[row.severity as Severity];
    switch (kind) {
      case 'no-commander':
        return rt`${r} (${row.severity}) has had no incident commander for ${humanDuration(now - row.declaredAt.getTime())} (respond SLA ${formatDuration(sev.respond)}). Someone press ${strong('Take commander')}.`;
      case 'update-due':
        return rt`${r} (${row.severity}) has had no update for ${humanDuration(now - row.lastUpdateAt.getTime())} (cadence ${formatDuration(sev.updateEvery)}). Post one with ${code('/incident update …')} or ${strong('Post update')}.`;
      case 'resolve-sla':
        return `${r} (${row.severity}) is past its resolution SLA of ${formatDuration(sev.resolve)} (open ${humanDuration(now - row.declaredAt.getTime())}).`;
    }
  }

  /** The people a nudge goes to at escalation level `level`. */
  private async audience(tx: Tx, row: IncidentRow, kind: IncidentNudgeKind, level: number): Promise<{ users: string[]; label: string }> {
    const step = this.path[Math.min(level, this.path.length - 1)];
    const users = new Set<string>();
    let label = step ? step.notify : 'responders';
    if (level === 0 && kind !== 'no-commander') {
      const commander = await tx.incidentRole.findFirst({ where: { incidentId: row.id, role: 'commander', relievedAt: null } });
      if (commander) {
        users.add(externalOf(commander.userId));
        label = 'commander';
      }
    }
    if (users.size === 0 && step && step.notify !== 'approvers') {
      for (const u of await this.incidents.roleHolders(tx, row.workspaceId, step.notify)) users.add(u);
    }
    return { users: [...users], label };
  }

  private async send(u: Unit, row: IncidentRow, kind: IncidentNudgeKind, level: number, nudgeId?: string): Promise<string> {
    const { users, label } = await this.audience(u.tx, row, kind, level);
    const base = this.text(row, kind);
    const text = level === 0 ? base : rt`${emoji('rotating_light')} Escalated to ${label} (level ${level}): ${base}`;
    const id = nudgeId ?? randomUUID();
    if (nudgeId) {
      await u.tx.nudge.update({ where: { id }, data: { level, status: 'open', text: encodeText(text), sentAt: u.now, snoozedUntil: null } });
    } else {
      await u.tx.nudge.create({ data: { id, workspaceId: row.workspaceId, subjectType: 'incident', subjectId: row.id, kind, level, text: encodeText(text), sentAt: u.now } });
    }
    const who: Text = users.length
      ? joinText(
          users.map((x) => [mention(x)]),
          ' ',
        )
      : [em(`(nobody holds the ${label} role)`)];
    if (row.channelId) {
      u.effects({
        op: 'postMessage',
        args: { channel: row.channelId, text: rt`${who} ${text}`, surface: { kind: 'nudge', nudgeId: id, mentions: users, ...(users.length ? {} : { nobody: label }) } },
        hook: { name: 'nudge.posted', data: { nudgeId: id } },
      });
    }
    for (const user of users) u.effects({ op: 'dm', args: { user, text, surface: { kind: 'nudge', nudgeId: id, mentions: [] } } });
    u.audit({
      action: level === 0 ? 'incident.nudge' : 'incident.escalate',
      subjectType: 'incident',
      subjectId: incidentRef(row.number),
      after: { kind, level, notified: users, role: label },
    });
    const next = this.path[level + 1];
    const cur = this.path[level];
    if (next && cur) {
      await u.schedule({
        key: timerKeys.escalation(id),
        kind: 'nudge.escalate',
        subjectType: 'incident',
        subjectId: row.id,
        workspaceId: row.workspaceId,
        dueAt: new Date(u.now.getTime() + Math.max(0, next.after - cur.after)),
        payload: { nudgeId: id, level: level + 1 },
      });
    }
    return id;
  }

  /** Timer handler for incident.no-commander / update-due / resolve-sla. */
  async onIncidentTimer(tx: Tx, timer: TimerRow): Promise<void> {
    const kind = timer.kind.replace('incident.', '') as IncidentNudgeKind;
    const row = await tx.incident.findUnique({ where: { id: timer.subjectId } });
    if (!row || !(await this.stillDue(tx, row, kind))) return;
    const actor = this.k.systemActor(row.workspaceId);
    await this.k.inTx(tx, actor, { requestId: `timer:${timer.id}` }, async (u) => {
      await this.send(u, row, kind, 0);
    });
  }

  /** Timer handler for nudge.escalate: the next level, or a snoozed nudge coming back. */
  async onEscalate(tx: Tx, timer: TimerRow, payload: Record<string, unknown>): Promise<void> {
    const nudge = await tx.nudge.findUnique({ where: { id: String(payload.nudgeId) } });
    if (!nudge || nudge.status === 'acknowledged' || nudge.status === 'cleared') return;
    const row = await tx.incident.findUnique({ where: { id: nudge.subjectId } });
    if (!row || !(await this.stillDue(tx, row, nudge.kind as IncidentNudgeKind))) {
      await tx.nudge.update({ where: { id: nudge.id }, data: { status: 'cleared' } });
      return;
    }
    const level = Math.min(Number(payload.level ?? nudge.level), this.path.length - 1);
    await this.k.inTx(tx, this.k.systemActor(row.workspaceId), { requestId: `timer:${timer.id}` }, async (u) => {
      await this.send(u, row, nudge.kind as IncidentNudgeKind, level, nudge.id);
    });
  }

  async acknowledge(actor: Actor, meta: RequestMeta, nudgeId: string): Promise<Reply> {
    return this.k.run(actor, meta, async (u) => {
      const nudge = await this.load(u, nudgeId);
      if (nudge.status === 'acknowledged') return { text: rt`Already acknowledged by ${mention(externalOf(nudge.acknowledgedBy ?? ''))}.` };
      if (nudge.status === 'cleared') return { text: 'That nudge no longer applies: the condition it was about is gone.' };
      await u.tx.nudge.update({ where: { id: nudge.id }, data: { status: 'acknowledged', acknowledgedBy: actor.userId, acknowledgedAt: u.now, snoozedUntil: null } });
      await u.cancel({ key: timerKeys.escalation(nudge.id) });
      this.refresh(u, nudge);
      u.audit({ action: 'nudge.acknowledge', subjectType: nudge.subjectType, subjectId: await this.subjectRef(u.tx, nudge), after: { nudge: nudge.id, kind: nudge.kind, level: nudge.level } });
      return { text: `Acknowledged. Escalation stopped.` };
    });
  }

  async snooze(actor: Actor, meta: RequestMeta, nudgeId: string): Promise<Reply> {
    const snoozeMs = this.k.policy.incidents.snooze;
    return this.k.run(actor, meta, async (u) => {
      const nudge = await this.load(u, nudgeId);
      if (nudge.status === 'acknowledged' || nudge.status === 'cleared') return { text: 'That nudge is no longer open.' };
      const until = new Date(u.now.getTime() + snoozeMs);
      await u.tx.nudge.update({ where: { id: nudge.id }, data: { status: 'snoozed', snoozedUntil: until } });
      // Comes back at the same level when the snooze runs out.
      await u.schedule({
        key: timerKeys.escalation(nudge.id),
        kind: 'nudge.escalate',
        subjectType: nudge.subjectType,
        subjectId: nudge.subjectId,
        workspaceId: nudge.workspaceId,
        dueAt: until,
        payload: { nudgeId: nudge.id, level: nudge.level },
      });
      this.refresh(u, nudge);
      u.audit({ action: 'nudge.snooze', subjectType: nudge.subjectType, subjectId: await this.subjectRef(u.tx, nudge), after: { nudge: nudge.id, until: until.toISOString() } });
      return { text: `Snoozed for ${formatDuration(snoozeMs)}; it comes back at ${until.toISOString()} if still needed.` };
    });
  }

  private async load(u: Unit, id: string) {
    const nudge = await u.tx.nudge.findUnique({ where: { id } });
    if (!nudge) throw new Refusal('That nudge does not exist.');
    return nudge;
  }

  private refresh(u: Unit, nudge: { id: string; channelEffectId: number | null }) {
    if (nudge.channelEffectId !== null) {
      u.effects({
        op: 'updateMessage',
        after: nudge.channelEffectId,
        coalesce: `card:${nudge.channelEffectId}`,
        args: { channel: ref(nudge.channelEffectId, 'channel'), ts: ref(nudge.channelEffectId, 'ts'), surface: { kind: 'nudge', nudgeId: nudge.id } },
      });
    }
  }

  private async subjectRef(tx: Tx, nudge: { subjectType: string; subjectId: string }): Promise<string> {
    if (nudge.subjectType === 'incident') {
      const row = await tx.incident.findUnique({ where: { id: nudge.subjectId }, select: { number: true } });
      if (row) return incidentRef(row.number);
    }
    return nudge.subjectId;
  }

  async onNudgePosted(tx: Tx, nudgeId: string, effectId: number): Promise<void> {
    await tx.nudge.updateMany({ where: { id: nudgeId, channelEffectId: null }, data: { channelEffectId: effectId } });
  }

  /** Timer handler: remind the owner of a follow-up the day before and on its due date. */
  async onActionReminder(tx: Tx, timer: TimerRow, payload: Record<string, unknown>): Promise<void> {
    const item = await tx.actionItem.findUnique({ where: { id: timer.subjectId } });
    if (!item || item.status !== 'open' || !item.ownerId) return;
    const row = await tx.incident.findUniqueOrThrow({ where: { id: item.incidentId } });
    const when = payload.when === 'before' ? 'is due tomorrow' : 'is due today';
    await this.k.inTx(tx, this.k.systemActor(row.workspaceId), { requestId: `timer:${timer.id}` }, async (u) => {
      u.effects({
        op: 'dm',
        args: { user: externalOf(item.ownerId!), surface: { kind: 'incident.action', actionId: item.id, intro: `Reminder: your follow-up from ${incidentRef(row.number)} ${when} (${item.dueDate})` } },
      });
      u.audit({ action: 'incident.action.remind', subjectType: 'incident', subjectId: incidentRef(row.number), after: { number: item.number, when: payload.when } });
    });
  }
}
