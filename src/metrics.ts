import { timingSafeEqual } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from './domain/clock.ts';
import type { Database } from './store/db.ts';

/**
 * Muster's Prometheus metrics (GET /metrics, src/web/health.ts; every metric is described in docs/operations.md).
 * Each Muster has its own registry: several can run in one process (the tests do), and prom-client's global
 * registry would refuse the second one's metric names. Labels are low-cardinality by construction: platform,
 * API method or route, command name, action or form id, effect op, timer kind, statement kind — never a user,
 * a channel or a workspace.
 */
export interface Metrics {
  /** This Muster's own metrics. */
  readonly registry: Registry;
  /** The process's (memory, CPU, event loop, GC): one registry for the process, whichever Muster serves it. */
  readonly processRegistry: Registry;
  /** From the request reaching Muster to its acknowledgement (the HTTP answer; Socket Mode's ack; Discord's callback). */
  readonly ack: Histogram<'platform' | 'kind' | 'id'>;
  readonly slackApi: Histogram<'method'>;
  readonly slackRateLimited: Counter<'method'>;
  readonly discordApi: Histogram<'method' | 'route'>;
  readonly discordRateLimited: Counter<'method' | 'route'>;
  readonly discordLimiterWait: Histogram<'method' | 'route'>;
  readonly outboxPacingWait: Histogram<'platform' | 'op'>;
  readonly timerLag: Histogram<'kind'>;
  readonly dbStatement: Histogram<'statement'>;
  /** SQLite: a WAL checkpoint of the checkpoint thread's that copied pages (src/store/walCheckpointer.ts). */
  readonly sqliteWalCheckpoint: Histogram;
  /** SQLite: pages (frames) in the WAL when the checkpoint thread last looked. */
  readonly sqliteWalFrames: Gauge;
  readonly outboxDepth: Gauge<'status'>;
  readonly outboxOldest: Gauge;
  readonly outboxDead: Gauge;
}

/** What an acknowledgement is of: a command (its name), a button (its action id), a form (its id), an event (its type). */
export type AckKind = 'command' | 'action' | 'form' | 'event' | 'ping' | 'other';

/** Slack's acknowledgement deadline is 3 s (https://api.slack.com/interactivity/handling#acknowledgment_response), Discord's too. */
const ACK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5];
const API_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WAIT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];
const LAG_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600];
const DB_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** The outbox statuses of an effect not finished yet (src/store/outbox.ts): waiting, being performed, or its hook left. */
export const UNFINISHED_STATUSES = ['pending', 'running', 'hook', 'hooking'] as const;

let processRegistry: Registry | undefined;

/**
 * Process memory, CPU, event loop lag, heap, GC: prom-client's default set, with our prefix. Collected once per
 * process: they describe the process, not a Muster, and prom-client's collectors keep their event-loop monitor and
 * GC observer for good, so one set per Muster started would pile up in a process that starts several.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'muster_' });
  }
  return processRegistry;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    processRegistry: processMetrics(),
    ack: new Histogram({
      name: 'muster_ack_duration_seconds',
      help: 'Time from a chat request reaching Muster to its acknowledgement, by platform, kind (command, action, form, event, ping, other) and id (command name, action id, form id, event type)',
      labelNames: ['platform', 'kind', 'id'],
      buckets: ACK_BUCKETS,
      registers,
    }),
    slackApi: new Histogram({
      name: 'muster_slack_api_duration_seconds',
      help: 'Slack Web API calls: time per call (including 429 answers and errors), by method',
      labelNames: ['method'],
      buckets: API_BUCKETS,
      registers,
    }),
    slackRateLimited: new Counter({ name: 'muster_slack_api_rate_limited_total', help: 'Slack Web API calls answered HTTP 429, by method', labelNames: ['method'], registers }),
    discordApi: new Histogram({
      name: 'muster_discord_api_duration_seconds',
      help: 'Discord REST requests: time per HTTP request (including 429 answers and errors), by HTTP method and route',
      labelNames: ['method', 'route'],
      buckets: API_BUCKETS,
      registers,
    }),
    discordRateLimited: new Counter({
      name: 'muster_discord_api_rate_limited_total',
      help: 'Discord REST requests answered HTTP 429, by HTTP method and route',
      labelNames: ['method', 'route'],
      registers,
    }),
    discordLimiterWait: new Histogram({
      name: 'muster_discord_limiter_wait_seconds',
      help: "Waits of the Discord REST client's rate limiter before sending a request (from the rate-limit headers), by HTTP method and route",
      labelNames: ['method', 'route'],
      buckets: WAIT_BUCKETS,
      registers,
    }),
    outboxPacingWait: new Histogram({
      name: 'muster_outbox_pacing_wait_seconds',
      help: 'Effects put back by the pacing limiter because their rate budget was spent: the wait asked for, by platform and effect op',
      labelNames: ['platform', 'op'],
      buckets: WAIT_BUCKETS,
      registers,
    }),
    timerLag: new Histogram({
      name: 'muster_timer_lag_seconds',
      help: 'Timers: time fired minus time due, by timer kind',
      labelNames: ['kind'],
      buckets: LAG_BUCKETS,
      registers,
    }),
    dbStatement: new Histogram({
      name: 'muster_db_statement_duration_seconds',
      help: 'SQL statements as the database driver ran them, by kind (select, insert, update, delete, begin, commit, rollback, other)',
      labelNames: ['statement'],
      buckets: DB_BUCKETS,
      registers,
    }),
    sqliteWalCheckpoint: new Histogram({
      name: 'muster_sqlite_wal_checkpoint_duration_seconds',
      help: 'SQLite: WAL checkpoints of the checkpoint thread (not the one serving requests) that copied pages into the database file',
      buckets: DB_BUCKETS,
      registers,
    }),
    sqliteWalFrames: new Gauge({
      name: 'muster_sqlite_wal_frames',
      help: 'SQLite: pages in the write-ahead log when the checkpoint thread last looked (the log starts over once every page is copied)',
      registers,
    }),
    outboxDepth: new Gauge({
      name: 'muster_outbox_depth',
      help: 'Outbox effects not finished yet, by status (pending, running, hook, hooking), read at scrape time',
      labelNames: ['status'],
      registers,
    }),
    outboxOldest: new Gauge({
      name: 'muster_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest outbox effect not finished yet (0 when there is none), read at scrape time',
      registers,
    }),
    outboxDead: new Gauge({ name: 'muster_outbox_dead_letters', help: 'Outbox effects dead-lettered (status dead), read at scrape time', registers }),
  };
}

/**
 * Reads the outbox gauges, then renders every metric in Prometheus' text format. Two queries, both on the
 * (status, next_attempt_at) index: the counts of the unfinished and dead statuses, and the oldest unfinished
 * effect (rows read: only the unfinished ones, never the finished history).
 */
export async function renderMetrics(metrics: Metrics, db: Database, clock: Clock): Promise<string> {
  const [counts, oldest] = await db.read(async (tx) => [
    await tx.outboxEffect.groupBy({ by: ['status'], where: { status: { in: [...UNFINISHED_STATUSES, 'dead'] } }, _count: { _all: true } }),
    await tx.outboxEffect.aggregate({ where: { status: { in: [...UNFINISHED_STATUSES] } }, _min: { createdAt: true } }),
  ]);
  const n = new Map(counts.map((c) => [c.status, c._count._all]));
  for (const status of UNFINISHED_STATUSES) metrics.outboxDepth.set({ status }, n.get(status) ?? 0);
  metrics.outboxDead.set(n.get('dead') ?? 0);
  const min = oldest._min.createdAt;
  metrics.outboxOldest.set(min ? Math.max(0, (clock.now().getTime() - min.getTime()) / 1000) : 0);
  // Two registries with no name in common: their texts (each ending with a newline) follow each other.
  return (await metrics.processRegistry.metrics()) + (await metrics.registry.metrics());
}

/** `Authorization: Bearer <token>`, compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A SQL statement's kind from its first word: the label of muster_db_statement_duration_seconds (no regex: hot path). */
export function statementKind(sql: string): string {
  let i = 0;
  while (i < sql.length && sql.charCodeAt(i) <= 32) i += 1;
  let end = i;
  while (end < sql.length && end - i <= 8 && isLetter(sql.charCodeAt(end))) end += 1;
  const word = sql.slice(i, end).toLowerCase();
  return STATEMENT_KINDS.has(word) ? word : 'other';
}
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const STATEMENT_KINDS = new Set(['select', 'insert', 'update', 'delete', 'begin', 'commit', 'rollback']);

/**
 * A Discord REST URL as a route with its ids and tokens taken out (as @discordjs/rest names its buckets):
 * `/channels/:id/messages/:id`, `/webhooks/:id/:token/messages/@original`, `/interactions/:id/:token/callback`.
 */
export function discordRoute(url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return 'other';
  }
  const v = /\/v\d+(\/.*)$/.exec(path);
  const route = v ? v[1]! : path;
  if (/^\/interactions\/[^/]+\/[^/]+\/callback$/.test(route)) return '/interactions/:id/:token/callback';
  return route
    .replace(/\/reactions\/.*/, '/reactions/:reaction')
    .replace(/\/\d+(?=\/|$)/g, '/:id')
    .replace(/^\/webhooks\/:id\/[^/]+/, '/webhooks/:id/:token');
}

/**
 * A Discord REST client's `makeRequest` timed per HTTP request (muster_discord_api_duration_seconds), with its 429
 * answers counted (muster_discord_api_rate_limited_total). The answer and the error are passed on unchanged.
 */
export function timedDiscordRequest<I extends { method?: string }, R extends { status: number }>(send: (url: string, init: I) => Promise<R>, metrics: Metrics): (url: string, init: I) => Promise<R> {
  return async (url, init) => {
    const labels = { method: (init.method ?? 'GET').toUpperCase(), route: discordRoute(url) };
    const started = performance.now();
    try {
      const res = await send(url, init);
      if (res.status === 429) metrics.discordRateLimited.inc(labels);
      return res;
    } finally {
      metrics.discordApi.observe(labels, (performance.now() - started) / 1000);
    }
  };
}

/** A wait of the Discord REST client's own rate limiter (its `rateLimited` event: the wait before sending). */
export function observeDiscordLimiterWait(metrics: Metrics, info: { method: string; url: string; timeToReset: number }): void {
  metrics.discordLimiterWait.observe({ method: info.method.toUpperCase(), route: discordRoute(info.url) }, Math.max(0, info.timeToReset) / 1000);
}
