/**
 * Open-loop load generator: request i is due at start + i * (1000 / rate) ms and is sent then,
 * whether or not earlier requests have been answered. Latency is measured per request from the
 * moment it is handed to http.request to the end of the response body (performance.now()).
 */
import http from 'node:http';

export interface BuiltRequest {
  body: string;
  headers: Record<string, string>;
}

export interface LoadTarget {
  name: string;
  host: string;
  port: number;
  path: string;
  /** builds request number i (fresh trigger_id, timestamp and signature each time) */
  build(i: number): BuiltRequest;
  /** null when the response is right, otherwise why not */
  check(status: number, body: string): string | null;
}

export interface PhaseResult {
  /** requests handed to http.request */
  sent: number;
  /** responses that arrived and passed the check */
  ok: number;
  errors: number;
  /** up to 5 distinct error descriptions with counts */
  errorKinds: Record<string, number>;
  /** ms, successful requests only */
  latencies: number[];
  /** ms from the first send to the last send */
  sendWindowMs: number;
  /** ms from the first send to the last response */
  totalMs: number;
  /** worst gap between when a request was due and when it was sent (client-side stall), ms */
  maxSendLagMs: number;
}

export interface PhaseOptions {
  rate: number;
  seconds: number;
  agent: http.Agent;
  timeoutMs?: number;
  /** offset for request numbering so trigger ids stay unique across phases */
  firstIndex?: number;
  /** told about each request when it ends: its number, when it was handed to http.request (performance.now()), latency, error */
  onResult?(index: number, sentAt: number, ms: number, error: string | null): void;
}

function sendOne(t: LoadTarget, agent: http.Agent, req: BuiltRequest, timeoutMs: number): Promise<{ started: number; ms: number; error: string | null }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let settled = false;
    const done = (error: string | null) => {
      if (settled) return;
      settled = true;
      resolve({ started, ms: performance.now() - started, error });
    };
    const r = http.request(
      {
        host: t.host,
        port: t.port,
        path: t.path,
        method: 'POST',
        agent,
        headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(t.check(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
        res.on('error', (e) => done(`response error: ${e.message}`));
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no response within ${timeoutMs} ms`)));
    r.on('error', (e) => done(`request error: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    r.end(req.body);
  });
}

export async function runPhase(t: LoadTarget, o: PhaseOptions): Promise<PhaseResult> {
  const interval = 1000 / o.rate;
  const total = Math.max(1, Math.round(o.rate * o.seconds));
  const timeoutMs = o.timeoutMs ?? 10_000;
  const first = o.firstIndex ?? 0;
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  const pending: Promise<void>[] = [];
  let ok = 0;
  let errors = 0;
  let maxSendLagMs = 0;
  let lastSendAt = 0;

  const start = performance.now();
  await new Promise<void>((resolveSending) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      // Catch up on everything that is due (open loop: a late tick sends a burst, never skips).
      while (next < total && start + next * interval <= now) {
        const due = start + next * interval;
        const index = first + next;
        const req = t.build(index);
        const sentAt = performance.now();
        maxSendLagMs = Math.max(maxSendLagMs, sentAt - due);
        lastSendAt = sentAt;
        pending.push(
          sendOne(t, o.agent, req, timeoutMs).then(({ started, ms, error }) => {
            o.onResult?.(index, started, ms, error);
            if (error === null) {
              ok += 1;
              latencies.push(ms);
            } else {
              errors += 1;
              const kind = error.length > 160 ? `${error.slice(0, 160)}…` : error;
              if (kind in errorKinds || Object.keys(errorKinds).length < 5) errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
            }
          }),
        );
        next += 1;
      }
      if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
      else resolveSending();
    };
    tick();
  });
  await Promise.all(pending);
  const end = performance.now();
  return {
    sent: pending.length,
    ok,
    errors,
    errorKinds,
    latencies,
    sendWindowMs: lastSendAt - start,
    totalMs: end - start,
    maxSendLagMs,
  };
}

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export interface Summary {
  sent: number;
  ok: number;
  errors: number;
  errorRate: number;
  errorKinds: Record<string, number>;
  /** requests sent per second over the send window */
  sendRate: number;
  /** successful responses per second, first send to last response */
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  maxSendLagMs: number;
}

export function summarize(r: PhaseResult): Summary {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const mean = sorted.length ? sorted.reduce((s, x) => s + x, 0) / sorted.length : Number.NaN;
  // n requests spaced 1/rate apart span (n-1) intervals.
  const sendRate = r.sent > 1 && r.sendWindowMs > 0 ? ((r.sent - 1) * 1000) / r.sendWindowMs : Number.NaN;
  return {
    sent: r.sent,
    ok: r.ok,
    errors: r.errors,
    errorRate: r.sent ? r.errors / r.sent : 0,
    errorKinds: r.errorKinds,
    sendRate,
    throughput: r.totalMs > 0 ? (r.ok * 1000) / r.totalMs : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    mean,
    maxSendLagMs: r.maxSendLagMs,
  };
}
