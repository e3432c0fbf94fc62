import type { Logger } from 'pino';
import type { Database, Tx } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';
import { claimTimers, type TimerRow } from '../store/timers.ts';
import type { Metrics } from '../metrics.ts';

export type TimerHandler = (tx: Tx, timer: TimerRow, payload: Record<string, unknown>) => Promise<void>;

export interface TimerSchedulerOptions {
  owner: string;
  batch?: number;
  leaseMs?: number;
  pollMs?: number;
  maxAttempts?: number;
  retryMs?: number;
  /** Timer lag: fired minus due (muster_timer_lag_seconds). */
  metrics?: Metrics;
}

/**
 * Fires due timers exactly once across replicas: a timer is leased, then fired in one
 * transaction that flips it from `claimed` (by this owner) to `fired` and runs the
 * handler's writes. If another replica took the lease over meanwhile, the flip matches
 * no row and the handler's writes roll back with it.
 */
export class TimerScheduler {
  private readonly handlers = new Map<string, TimerHandler>();
  private readonly opts: Required<Omit<TimerSchedulerOptions, 'metrics'>>;
  private readonly metrics?: Metrics;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<unknown> = Promise.resolve();
  private stopped = true;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly log: Logger,
    opts: TimerSchedulerOptions,
    private readonly afterFire: () => void = () => undefined,
  ) {
    const { metrics, ...rest } = opts;
    this.opts = { batch: 20, leaseMs: 60_000, pollMs: 1_000, maxAttempts: 5, retryMs: 30_000, ...rest };
    this.metrics = metrics;
  }

  on(kind: string, handler: TimerHandler): this {
    this.handlers.set(kind, handler);
    return this;
  }

  start(): void {
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.current = this.tick()
        .catch((e) => this.log.error({ err: e }, 'timer tick failed'))
        .finally(() => {
          if (!this.stopped) {
            this.timer = setTimeout(loop, this.opts.pollMs);
            this.timer.unref();
          }
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current;
  }

  /** Fires everything due now; returns how many fired. Tests call this after moving the clock. */
  async tick(): Promise<number> {
    let fired = 0;
    for (;;) {
      const due = await claimTimers(this.db, this.clock, this.opts.owner, this.opts.batch, this.opts.leaseMs);
      if (due.length === 0) break;
      for (const t of due) if (await this.fire(t)) fired += 1;
      if (due.length < this.opts.batch) break;
    }
    if (fired > 0) this.afterFire();
    return fired;
  }

  private async fire(t: TimerRow): Promise<boolean> {
    const handler = this.handlers.get(t.kind);
    let firedAt: Date | undefined;
    try {
      const fired = await this.db.tx(async (tx) => {
        firedAt = this.clock.now();
        const flipped = await tx.timer.updateMany({
          where: { id: t.id, status: 'claimed', leasedBy: this.opts.owner },
          data: { status: 'fired', firedAt, updatedAt: firedAt, leaseUntil: null },
        });
        if (flipped.count !== 1) return false;
        if (!handler) {
          this.log.warn({ kind: t.kind, key: t.key }, 'no handler for timer kind; marked fired');
          return true;
        }
        await handler(tx, t, JSON.parse(t.payload) as Record<string, unknown>);
        return true;
      });
      // Observed once committed: a timer that another replica fired, or whose handler failed, has not fired here.
      if (fired && firedAt) this.metrics?.timerLag.observe({ kind: t.kind }, Math.max(0, firedAt.getTime() - t.dueAt.getTime()) / 1000);
      return fired;
    } catch (e) {
      const give = t.attempts >= this.opts.maxAttempts;
      this.log.error({ err: e, key: t.key, attempts: t.attempts }, give ? 'timer handler failed; giving up' : 'timer handler failed; will retry');
      await this.db.tx((tx) =>
        tx.timer.updateMany({
          where: { id: t.id, status: 'claimed', leasedBy: this.opts.owner },
          data: give
            ? { status: 'failed', lastError: String((e as Error)?.message ?? e).slice(0, 2000), leaseUntil: null, updatedAt: this.clock.now() }
            : {
                status: 'pending',
                lastError: String((e as Error)?.message ?? e).slice(0, 2000),
                leaseUntil: null,
                dueAt: new Date(this.clock.now().getTime() + this.opts.retryMs),
                updatedAt: this.clock.now(),
              },
        }),
      );
      return false;
    }
  }
}
