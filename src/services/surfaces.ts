import type { Services } from './index.ts';
import type { SurfaceRef } from '../platforms/effects.ts';
import { followUpMessage, incidentAnnouncement, incidentCard, incidentReady, nudgeMessage } from '../../blocks/incident.ts';
import { approvalCard, breakGlassNotice } from '../../blocks/approval.ts';
import { changeCard } from '../../blocks/change.ts';
import type { Message } from '../../blocks/surface.ts';
import { externalOf } from './incidentViews.ts';
import { incidentRef } from '../domain/incident.ts';
import { code, decodeText, em, joinText, mention, rt, type Text } from '../domain/text.ts';

export type { SurfaceRef } from '../platforms/effects.ts';

/** The record a surface draws from is gone: the effect can never succeed. */
export class SurfaceGone extends Error {
  constructor(readonly what: string) {
    super(`${what} no longer exists`);
  }
}

/** Draws surfaces as neutral messages (blocks/surface.ts); each platform renders those. */
export function surfaceDrawer(services: Services): (s: SurfaceRef, o?: { notBefore?: number }) => Promise<Message> {
  const { kernel, incidents, approvals } = services;
  // Copies of one surface claimed together (every copy of a change card; the card, the announcement and the ready
  // message of a new incident, which draw one incident) share one drawing: a copy may use a drawing begun at or after
  // it was claimed, which read the records after the change that queued the copy had committed (see SurfaceDrawer).
  // A later change queues a redraw of its own, claimed later, so it never shares a drawing begun before it.
  const recent = new Map<string, { startedAt: number; value: Promise<unknown> }>();
  function share<T>(key: string, notBefore: number | undefined, make: () => Promise<T>): Promise<T> {
    const hit = recent.get(key);
    if (hit && notBefore !== undefined && hit.startedAt >= notBefore) return hit.value as Promise<T>;
    const startedAt = performance.now();
    const value = make();
    recent.delete(key);
    if (recent.size >= 200) recent.delete(recent.keys().next().value!);
    recent.set(key, { startedAt, value });
    // A drawing that failed (the database away) is not shared: the next copy draws again.
    value.catch(() => {
      if (recent.get(key)?.value === value) recent.delete(key);
    });
    return value;
  }
  // Every vote redraws every copy of an approval card (channel, approvals channel, each approver's DM): drawn once
  // per version of the request, whenever the copy was claimed. A copy reads the version after it was claimed (with the
  // request's row, from which a new drawing of that version starts), so a shared card is never older than what the
  // copy asks for.
  const approvalCardOf = async (id: string): Promise<Message> => {
    const found = await approvals.versionOf(id);
    if (!found) throw new SurfaceGone('approval request');
    return share(`approval:${id}:${found.version}`, Number.NEGATIVE_INFINITY, async () => approvalCard(await approvals.viewOfRow(found.row)));
  };
  const incidentOf = async (id: string) => {
    const v = await incidents.viewById(id);
    if (!v) throw new SurfaceGone('incident');
    return v;
  };
  return (s: SurfaceRef, o: { notBefore?: number } = {}): Promise<Message> => share(JSON.stringify(s), o.notBefore, () => draw(s, o.notBefore));

  async function draw(s: SurfaceRef, notBefore: number | undefined): Promise<Message> {
    const incident = (id: string) => share(`incident:${id}`, notBefore, () => incidentOf(id));
    switch (s.kind) {
      case 'incident.card':
        return incidentCard(await incident(s.incidentId));
      case 'incident.announcement':
        return incidentAnnouncement(await incident(s.incidentId), s.headline);
      case 'incident.ready':
        return incidentReady(await incident(s.incidentId));
      case 'nudge': {
        const n = await kernel.db.read((tx) => tx.nudge.findUnique({ where: { id: s.nudgeId } }));
        if (!n) throw new SurfaceGone('nudge');
        const mentions = s.mentions ?? [];
        const lead: Text | undefined = mentions.length
          ? joinText(
              mentions.map((u) => [mention(u)]),
              ' ',
            )
          : s.nobody
            ? [em(rt`(nobody holds the ${s.nobody} role: grant it with ${code('/muster grant')})`)]
            : undefined;
        return nudgeMessage({ ...n, text: decodeText(n.text), acknowledgedBy: n.acknowledgedBy ? externalOf(n.acknowledgedBy) : null }, lead);
      }
      case 'incident.action': {
        const a = await kernel.db.read(async (tx) => {
          const item = await tx.actionItem.findUnique({ where: { id: s.actionId } });
          if (!item) return null;
          const inc = await tx.incident.findUniqueOrThrow({ where: { id: item.incidentId }, select: { number: true } });
          return { ...item, text: decodeText(item.text), ref: incidentRef(inc.number), due: item.dueDate };
        });
        if (!a) throw new SurfaceGone('follow-up');
        return followUpMessage(a, s.intro ?? `Follow-up from ${a.ref}`);
      }
      case 'approval.card':
        return approvalCardOf(s.requestId);
      case 'change.card': {
        const v = await services.changes.viewById(s.changeId);
        if (!v) throw new SurfaceGone('change request');
        return changeCard(v);
      }
      case 'approval.review': {
        const v = await approvals.viewById(s.requestId);
        if (!v) throw new SurfaceGone('approval request');
        return breakGlassNotice(v);
      }
    }
  }
}
