import type { Logger } from 'pino';
import type { Database, Tx } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';
import { ChatError, type ChatPort } from '../platforms/port.ts';
import { claimEffects, resultsOf, type OutboxRow, type StoredPayload, type Surface } from '../store/outbox.ts';

/** Draws a Surface for one platform (Slack: Block Kit from blocks/). */
export type SurfaceRenderer = (surface: Surface) => Promise<Record<string, unknown>>;

export type EffectHook = (tx: Tx, ctx: { effect: OutboxRow; result: Record<string, unknown>; data: Record<string, unknown> }) => Promise<void>;

export interface DispatcherOptions {
  owner: string;
  concurrency?: number;
  leaseMs?: number;
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  pollMs?: number;
}

function getPath(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/** Replaces `{ $ref: <effect id>, path }` markers with the results of finished effects. */
function resolveRefs(value: unknown, results: Map<number, Record<string, unknown> | undefined>): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveRefs(v, results));
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj.$ref === 'number' && typeof obj.path === 'string') {
      const r = results.get(obj.$ref);
      if (!r) throw new ChatError(`effect ${obj.$ref} has no result yet`, 'transient', 'dependency_not_done');
      return getPath(r, obj.path);
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveRefs(v, results)]));
  }
  return value;
}

function collectRefs(value: unknown, into: Set<number>): Set<number> {
  if (Array.isArray(value)) value.forEach((v) => collectRefs(v, into));
  else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj.$ref === 'number') into.add(obj.$ref);
    else Object.values(obj).forEach((v) => collectRefs(v, into));
  }
  return into;
}

/**
 * Runs outbox effects right after the transaction that wrote them commits (kick), and
 * on a poll for retries and for work left by a crash. Independent effects run in
 * parallel; failures back off (a 429's Retry-After wins) and end as dead letters.
 */
export class OutboxDispatcher {
  private readonly ports = new Map<string, ChatPort>();
  private readonly hooks = new Map<string, EffectHook>();
  private readonly renderers = new Map<string, SurfaceRenderer>();
  private readonly opts: Required<DispatcherOptions>;
  private claiming = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private current: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  /** Results of finished effects never change: later effects that use them skip a read. */
  private readonly results = new Map<number, Record<string, unknown>>();

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly log: Logger,
    opts: DispatcherOptions,
  ) {
    this.opts = { concurrency: 8, leaseMs: 60_000, maxAttempts: 8, baseBackoffMs: 1_000, maxBackoffMs: 5 * 60_000, pollMs: 1_000, ...opts };
  }

  addPort(port: ChatPort): this {
    this.ports.set(port.platform, port);
    return this;
  }

  addRenderer(platform: string, renderer: SurfaceRenderer): this {
    this.renderers.set(platform, renderer);
    return this;
  }

  addHook(name: string, hook: EffectHook): this {
    this.hooks.set(name, hook);
    return this;
  }

  /**
   * Asks for a claim as soon as possible; calls during a claim coalesce. Each finished
   * effect kicks again, so its dependents start at once instead of waiting for the
   * slowest effect of a batch.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.current = this.pump();
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      this.kick();
      this.timer = setTimeout(tick, this.opts.pollMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops polling; effects already claimed finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
    await Promise.all([...this.inflight]);
  }

  /** Runs until nothing is due now (or the deadline passes). Used at shutdown and in tests. */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.current;
      await Promise.all([...this.inflight]);
      const n = await this.runOnce();
      if (n === 0 && this.inflight.size === 0 && !this.claiming) return true;
      if (Date.now() > deadline) return false;
    }
  }

  private async pump(): Promise<void> {
    this.claiming = true;
    try {
      do {
        this.again = false;
        const free = this.opts.concurrency - this.inflight.size;
        if (free <= 0) break; // a finishing effect kicks again
        const rows = await claimEffects(this.db, this.clock, this.opts.owner, free, this.opts.leaseMs);
        for (const row of rows) {
          const p: Promise<void> = this.execute(row).finally(() => {
            this.inflight.delete(p);
            this.kick();
          });
          this.inflight.add(p);
        }
        if (rows.length === free) this.again = true;
      } while (this.again && !this.stopped);
    } catch (e) {
      this.log.error({ err: e }, 'outbox dispatcher claim failed');
    } finally {
      this.claiming = false;
    }
  }

  /** Claims one batch and runs it; returns how many effects it ran. */
  async runOnce(): Promise<number> {
    const rows = await claimEffects(this.db, this.clock, this.opts.owner, this.opts.concurrency, this.opts.leaseMs);
    await Promise.all(rows.map((row) => this.execute(row)));
    return rows.length;
  }

  private async execute(row: OutboxRow): Promise<void> {
    const log = this.log.child({ effect: row.id, op: row.op, requestId: row.requestId ?? undefined });
    const payload = JSON.parse(row.payload) as StoredPayload;
    try {
      const port = this.ports.get(row.platform);
      if (!port) throw new ChatError(`no chat port for platform "${row.platform}"`, 'permanent', 'no_port');
      const refs = collectRefs(payload.args, new Set());
      let args = resolveRefs(payload.args, await this.resultsFor([...refs])) as Record<string, unknown>;
      if (args.surface && typeof args.surface === 'object') {
        const render = this.renderers.get(row.platform);
        if (!render) throw new ChatError(`no renderer for platform "${row.platform}"`, 'permanent', 'no_renderer');
        const { surface, ...rest } = args;
        args = { ...rest, ...(await render(surface as Surface)) };
      }
      const result = await port.perform(row.op, args);
      let won = false;
      await this.db.tx(async (tx) => {
        const done = await tx.outboxEffect.updateMany({
          where: { id: row.id, status: 'running', leasedBy: this.opts.owner },
          data: { status: 'done', result: JSON.stringify(result), doneAt: this.clock.now(), updatedAt: this.clock.now(), lastError: null },
        });
        // Lost the lease to another replica: it owns the outcome now.
        if (done.count !== 1) return;
        won = true;
        if (payload.hook) {
          const hook = this.hooks.get(payload.hook.name);
          if (!hook) log.warn({ hook: payload.hook.name }, 'no handler registered for effect hook');
          else await hook(tx, { effect: row, result, data: payload.hook.data ?? {} });
        }
      });
      if (won) this.remember(row.id, result);
      log.debug('effect done');
    } catch (e) {
      await this.fail(row, e, log);
    }
  }

  private remember(id: number, result: Record<string, unknown>): void {
    if (this.results.size >= 10_000) this.results.delete(this.results.keys().next().value!);
    this.results.set(id, result);
  }

  private async resultsFor(ids: number[]): Promise<Map<number, Record<string, unknown> | undefined>> {
    const out = new Map<number, Record<string, unknown> | undefined>();
    const missing = ids.filter((id) => {
      const hit = this.results.get(id);
      if (hit) out.set(id, hit);
      return !hit;
    });
    for (const [id, r] of await resultsOf(this.db, missing)) {
      out.set(id, r);
      if (r) this.remember(id, r);
    }
    return out;
  }

  private async fail(row: OutboxRow, e: unknown, log: Logger): Promise<void> {
    const err = e instanceof ChatError ? e : new ChatError((e as Error)?.message ?? String(e), 'transient');
    const now = this.clock.now().getTime();
    const exhausted = err.kind === 'permanent' || row.attempts >= this.opts.maxAttempts;
    const backoff = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** Math.max(0, row.attempts - 1));
    const delay = err.kind === 'rate_limited' && err.retryAfterMs !== undefined ? err.retryAfterMs : backoff;
    const message = `${err.code ? `${err.code}: ` : ''}${err.message}`.slice(0, 2000);
    await this.db.tx((tx) =>
      tx.outboxEffect.updateMany({
        where: { id: row.id, status: 'running', leasedBy: this.opts.owner },
        data: exhausted
          ? { status: 'dead', lastError: message, leaseUntil: null, updatedAt: new Date(now) }
          : { status: 'pending', lastError: message, leaseUntil: null, nextAttemptAt: new Date(now + delay), updatedAt: new Date(now) },
      }),
    );
    if (exhausted) log.error({ err: message, attempts: row.attempts }, 'effect moved to dead letters');
    else {
      log.warn({ err: message, attempts: row.attempts, retryInMs: delay }, 'effect failed; will retry');
      // Retry without waiting for the next poll when the delay is short.
      if (!this.stopped && delay < this.opts.pollMs) setTimeout(() => this.kick(), delay + 5).unref();
    }
  }
}
