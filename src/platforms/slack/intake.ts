import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { SLACK_EVENT_TYPES } from './events.ts';

/** Records one Events API envelope durably; resolves once it is written (a retried delivery resolves too). */
export type RecordSlackEvent = (body: Record<string, unknown>) => Promise<void>;

/** Slack's request signing: https://api.slack.com/authentication/verifying-requests-from-slack (v0, 5 minutes). */
export function validSlackSignature(secret: string, headers: Record<string, unknown>, raw: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const ts = Number(headers['x-slack-request-timestamp']);
  const sig = headers['x-slack-signature'];
  if (!Number.isFinite(ts) || typeof sig !== 'string' || Math.abs(nowSeconds - ts) > 300) return false;
  const expected = `v0=${createHmac('sha256', secret).update(`v0:${ts}:${raw}`).digest('hex')}`;
  const a = Buffer.from(sig);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether Muster acts on an event: the others (every message in a channel, say) are not even stored. */
export function wantedEvent(body: Record<string, unknown>): boolean {
  const e = body.event as { type?: string; subtype?: string } | undefined;
  if (!e?.type || !SLACK_EVENT_TYPES.has(e.type)) return false;
  return e.type !== 'message' || e.subtype === 'message_changed' || e.subtype === 'message_deleted';
}

/**
 * POST /slack/events, in front of Bolt: an Events API delivery is verified, written to the inbox
 * and only then acknowledged (200); if the database does not take it, Slack gets a 500 and
 * retries, so an acked event is never lost. Everything else (commands, clicks, url_verification)
 * goes on to Bolt with its raw body.
 */
export function slackEventIntake(o: { signingSecret: string; record: RecordSlackEvent; log: Logger }) {
  const raw = express.raw({ type: () => true, limit: '1mb' });
  return (req: Request, res: Response, next: NextFunction) => {
    raw(req, res, async (err?: unknown) => {
      if (err) return next(err);
      const buf = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // Bolt reads `rawBody` when the stream was already consumed.
      (req as Request & { rawBody?: Buffer }).rawBody = buf;
      const text = buf.toString('utf8');
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return next();
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return next();
      }
      if (body.type !== 'event_callback' || !validSlackSignature(o.signingSecret, req.headers, text)) return next();
      try {
        if (wantedEvent(body)) await o.record(body);
        res.status(200).end();
      } catch (e) {
        o.log.error({ err: e, eventId: body.event_id }, 'could not record a Slack event; answering 500 so that Slack retries it');
        res.status(500).end();
      }
    });
  };
}
