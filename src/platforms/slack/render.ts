import type { Services } from '../../services/index.ts';
import type { Surface } from '../../store/outbox.ts';
import { ChatError } from '../port.ts';
import { mention, type Text } from '../../domain/text.ts';
import { followUpMessage, incidentAnnouncement, incidentCard, incidentReady, nudgeMessage } from '../../../blocks/incident.ts';
import { externalOf } from '../../services/incidentViews.ts';
import { incidentRef } from '../../domain/incident.ts';
import { approvalCard, breakGlassNotice } from '../../../blocks/approval.ts';

/**
 * Draws outbox surfaces as Block Kit at send time, from the record's current state.
 * A record that no longer exists is a permanent failure (dead letter), not a retry.
 */
export function slackRenderer(services: Services) {
  const { kernel, incidents, approvals } = services;
  const gone = (what: string) => new ChatError(`${what} no longer exists`, 'permanent', 'record_gone');
  // Every vote updates every copy of an approval card (channel, approvals channel, each
  // approver's DM): draw it once per version of the request, not once per copy.
  const drawn = new Map<string, { text: Text; blocks: unknown[] }>();
  const approvalCardOf = async (id: string) => {
    const stamp = await kernel.db.read((tx) =>
      tx.approvalRequest.findUnique({ where: { id }, select: { updatedAt: true, status: true, reviewStatus: true, _count: { select: { votes: true } } } }),
    );
    if (!stamp) throw gone('approval request');
    // Votes can land within one millisecond: the vote count and status make the version.
    const key = `${id}:${stamp.updatedAt.getTime()}:${stamp.status}:${stamp.reviewStatus}:${stamp._count.votes}`;
    const hit = drawn.get(key);
    if (hit) return hit;
    const v = await approvals.viewById(id);
    if (!v) throw gone('approval request');
    const card = approvalCard(v);
    if (drawn.size >= 500) drawn.delete(drawn.keys().next().value!);
    drawn.set(key, card);
    return card;
  };
  return async (s: Surface): Promise<Record<string, unknown>> => {
    switch (s.kind) {
      case 'incident.card': {
        const v = await incidents.viewById(String(s.incidentId));
        if (!v) throw gone('incident');
        return incidentCard(v);
      }
      case 'incident.announcement': {
        const v = await incidents.viewById(String(s.incidentId));
        if (!v) throw gone('incident');
        return incidentAnnouncement(v, String(s.headline));
      }
      case 'incident.ready': {
        const v = await incidents.viewById(String(s.incidentId));
        if (!v) throw gone('incident');
        return incidentReady(v);
      }
      case 'nudge': {
        const n = await kernel.db.read((tx) => tx.nudge.findUnique({ where: { id: String(s.nudgeId) } }));
        if (!n) throw gone('nudge');
        const mentions = Array.isArray(s.mentions) ? (s.mentions as string[]) : [];
        const lead = mentions.length ? mentions.map(mention).join(' ') : s.nobody ? `_(nobody holds the ${String(s.nobody)} role: grant it with \`/muster grant\`)_` : undefined;
        return nudgeMessage({ ...n, acknowledgedBy: n.acknowledgedBy ? externalOf(n.acknowledgedBy) : null }, lead);
      }
      case 'incident.action': {
        const a = await kernel.db.read(async (tx) => {
          const item = await tx.actionItem.findUnique({ where: { id: String(s.actionId) } });
          if (!item) return null;
          const inc = await tx.incident.findUniqueOrThrow({ where: { id: item.incidentId }, select: { number: true } });
          return { ...item, ref: incidentRef(inc.number), due: item.dueDate };
        });
        if (!a) throw gone('follow-up');
        return followUpMessage(a, String(s.intro ?? `Follow-up from ${a.ref}`));
      }
      case 'approval.card':
        return approvalCardOf(String(s.requestId));
      case 'approval.review': {
        const v = await approvals.viewById(String(s.requestId));
        if (!v) throw gone('approval request');
        return breakGlassNotice(v);
      }
      default:
        throw new ChatError(`no Slack renderer for surface "${s.kind}"`, 'permanent', 'unknown_surface');
    }
  };
}
