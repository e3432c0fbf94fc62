import express, { type Application } from 'express';
import type { Database } from '../store/db.ts';
import { pendingMigrations } from '../store/migrate.ts';
import { systemClock, type Clock } from '../domain/clock.ts';
import { statusRouter } from './status.ts';

export interface WebState {
  /** False once shutdown begins: readiness fails so a load balancer stops sending. */
  accepting: boolean;
}

/** Our HTTP surface besides Slack's endpoint: liveness, readiness, the public status page. */
export function createWeb(db: Database, state: WebState, clock: Clock = systemClock): Application {
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
      checks.migrations = pending.length ? `pending: ${pending.join(', ')}` : 'ok';
      if (pending.length) ok = false;
    } catch (e) {
      checks.database = `unreachable: ${(e as Error).message.split('\n')[0]}`;
      ok = false;
    }
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready', checks });
  });
  web.use(statusRouter(db, clock));
  return web;
}
