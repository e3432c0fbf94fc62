import { createHash } from 'node:crypto';

/**
 * The idempotency key of a Slack request: the same for the first delivery and every
 * retry of it. Events carry event_id; commands, clicks and submissions a trigger_id.
 */
export function slackRequestKey(body: Record<string, unknown>): string {
  const payload = body as { event_id?: string; trigger_id?: string; team_id?: string; team?: { id?: string }; view?: { id?: string; hash?: string } };
  const team = payload.team_id ?? payload.team?.id ?? 'unknown';
  if (payload.event_id) return `slack:${team}:event:${payload.event_id}`;
  if (payload.trigger_id) return `slack:${team}:trigger:${payload.trigger_id}`;
  return `slack:${team}:body:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;
}
