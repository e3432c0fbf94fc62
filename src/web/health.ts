import express, { type Application } from 'express';
import type { Logger } from 'pino';
import type { Database } from '../store/db.ts';
import { pendingMigrations } from '../store/migrate.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import { statusRouter, type StatusPageOptions } from './status.ts';
import { calendarRouter, type CalendarFeedOptions } from './calendar.ts';
import { bearerMatches, renderMetrics, type Metrics } from '../metrics.ts';

export interface WebState {
  /** False once shutdown begins: readiness fails so a load balancer stops sending. */
  accepting: boolean;
}

export interface WebOptions {
  /** what /readyz reports as the mode: production (a real chat platform) or sandbox (the built-in workspace) */
  mode?: 'production' | 'sandbox';
  clock?: Clock;
  log?: Logger;
  statusPage?: Omit<StatusPageOptions, 'log'>;
  /** The change calendar feed (`/calendar.ics`); not served without it. */
  calendar?: Omit<CalendarFeedOptions, 'log'>;
  /** `GET /metrics` (Prometheus); with a token (METRICS_TOKEN), only for `Authorization: Bearer <token>`. Not served without it. */
  metrics?: { metrics: Metrics; token?: string };
}

/**
 * Our HTTP surface besides the chat platforms' endpoints: liveness, readiness, the Prometheus metrics, the public
 * status page, the change calendar feed.
 * Health answers say what is unhealthy, never why in detail (error text, hosts, migration
 * names): those go to the log, where operators look.
 */
export function createWeb(db: Database, state: WebState, o: WebOptions = {}): Application {
  const clock = o.clock ?? systemClock;
  const web = express();
  web.disable('x-powered-by');
  web.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  web.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    let ok = state.accepting;
    if (!state.accepting) checks.shutdown = 'shutting down';
    try {
      await db.read((tx) => tx.$queryRawUnsafe('SELECT 1'));
      checks.database = 'ok';
      const pending = await pendingMigrations(db);
      checks.migrations = pending.length ? 'pending' : 'ok';
      if (pending.length) {
        ok = false;
        o.log?.warn({ pending }, 'readiness: migrations pending');
      }
    } catch (e) {
      checks.database = 'unreachable';
      ok = false;
      o.log?.error({ err: e }, 'readiness: database check failed');
    }
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready', mode: o.mode ?? 'production', checks });
  });
  if (o.metrics) {
    const { metrics, token } = o.metrics;
    web.get('/metrics', async (req, res) => {
      if (token && !bearerMatches(req.header('authorization'), token)) {
        res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text').send('unauthorized');
        return;
      }
      try {
        const text = await renderMetrics(metrics, db, clock);
        res.set('Content-Type', metrics.registry.contentType).set('Cache-Control', 'no-store').send(text);
      } catch (e) {
        // The outbox gauges could not be read: no partial answer, the scrape fails (Prometheus' `up` is 0).
        o.log?.error({ err: e }, 'metrics: the outbox gauges could not be read');
        res.status(503).type('text').send('metrics unavailable');
      }
    });
  }
  web.use(statusRouter(db, clock, { ...o.statusPage, log: o.log }));
  if (o.calendar) web.use(calendarRouter(db, clock, { ...o.calendar, log: o.log }));
  return web;
}
