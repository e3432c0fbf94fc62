import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { SLACK_EVENT_TYPES } from './events.ts';
import type { AckKind, Metrics } from '../../metrics.ts';

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
 * What a request to /slack/events is, for its acknowledgement's latency (muster_ack_duration_seconds): set here for an
 * event, by Bolt's first middleware for the rest (src/platforms/slack/app.ts reads it from the request); a request
 * that is not labelled (a bad signature, url_verification) is not observed.
 */
export interface AckTiming {
  kind?: AckKind;
  id?: string;
}

/** Where the request carries its AckTiming from here to Bolt (ExpressReceiver's customPropertiesExtractor). */
export const ACK_TIMING = Symbol('muster.ackTiming');

/**
 * POST /slack/events, in front of Bolt: an Events API delivery is verified, written to the inbox
 * and only then acknowledged (200); if the database does not take it, Slack gets a 500 and
 * retries, so an acked event is never lost. Everything else (commands, clicks, url_verification)
 * goes on to Bolt with its raw body.
 */
export function slackEventIntake(o: { signingSecret: string; record: RecordSlackEvent; log: Logger; metrics?: Metrics }) {
  const raw = express.raw({ type: () => true, limit: '1mb' });
  return (req: Request, res: Response, next: NextFunction) => {
    if (o.metrics) {
      // From the request's arrival to the end of its HTTP answer (Bolt's ack answers it).
      const arrived = performance.now();
      const timing: AckTiming = {};
      (req as Request & { [ACK_TIMING]?: AckTiming })[ACK_TIMING] = timing;
      const ack = o.metrics.ack;
      res.once('finish', () => {
        if (timing.kind) ack.observe({ platform: 'slack', kind: timing.kind, id: timing.id ?? 'other' }, (performance.now() - arrived) / 1000);
      });
    }
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
      const timing = (req as Request & { [ACK_TIMING]?: AckTiming })[ACK_TIMING];
      if (timing) Object.assign(timing, slackEventLabel(body));
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

/** An Events API envelope's label: its event type, when Muster subscribes to it. */
export function slackEventLabel(body: Record<string, unknown>): AckTiming {
  const type = (body.event as { type?: string } | undefined)?.type;
  return { kind: 'event', id: type && SLACK_EVENT_TYPES.has(type) ? type : 'other' };
}
