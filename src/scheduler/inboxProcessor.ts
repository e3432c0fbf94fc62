import type { Logger } from 'pino';
import type { Database } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';
import { claimEvents, failEvent, finishEvent, type InboxRow } from '../store/inbox.ts';

/** Handles one recorded event of a platform. Throwing means "try again later". */
export type EventHandler = (row: InboxRow, payload: Record<string, unknown>) => Promise<void>;

export interface InboxOptions {
  owner: string;
  concurrency?: number;
  leaseMs?: number;
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  pollMs?: number;
}

/**
 * Processes recorded inbound events: claims them with a lease (one replica each), runs the
 * platform's handler, retries failures with back-off, and keeps what never succeeds as a
 * dead letter. A database outage is waited out: the loop keeps polling and nothing is lost.
 */
export class InboxProcessor {
  private readonly handlers = new Map<string, EventHandler>();
  private readonly opts: Required<InboxOptions>;
  private running: Promise<void> = Promise.resolve();
  private pumping = false;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private outage = 0;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly log: Logger,
    opts: InboxOptions,
  ) {
    this.opts = { concurrency: 4, leaseMs: 60_000, maxAttempts: 10, baseBackoffMs: 1_000, maxBackoffMs: 5 * 60_000, pollMs: 1_000, ...opts };
  }

  on(platform: string, handler: EventHandler): this {
    this.handlers.set(platform, handler);
    return this;
  }

  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.running = this.pump();
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

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Processes until nothing is due (tests, shutdown). */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.running;
      const n = await this.runOnce().catch((e) => {
        this.log.warn({ err: e }, 'inbox drain: claim failed');
        return -1;
      });
      if (n === 0) return true;
      if (Date.now() > deadline) return false;
      if (n < 0) await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      if (Date.now() < this.retryAt) return;
      do {
        this.again = false;
        const n = await this.runOnce();
        this.outage = 0;
        if (n === this.opts.concurrency) this.again = true;
      } while (this.again && !this.stopped);
    } catch (e) {
      this.outage += 1;
      const wait = Math.min(10_000, 100 * 2 ** Math.min(this.outage, 10));
      this.retryAt = Date.now() + wait;
      this.log.error({ err: e, consecutiveFailures: this.outage, retryInMs: wait }, 'inbox could not claim events (database unavailable?)');
    } finally {
      this.pumping = false;
    }
  }

  async runOnce(): Promise<number> {
    const rows = await claimEvents(this.db, this.clock, this.opts.owner, this.opts.concurrency, this.opts.leaseMs);
    await Promise.all(rows.map((row) => this.process(row)));
    return rows.length;
  }

  private async process(row: InboxRow): Promise<void> {
    const log = this.log.child({ event: row.eventKey, type: row.type });
    try {
      const handler = this.handlers.get(row.platform);
      if (!handler) throw new Error(`no event handler for platform "${row.platform}"`);
      await handler(row, JSON.parse(row.payload) as Record<string, unknown>);
      await finishEvent(this.db, this.clock, row.id, this.opts.owner);
    } catch (e) {
      // A rate limit (the platform's Retry-After) is waited out without spending an attempt, as in the outbox.
      const limited = (e as { kind?: string }).kind === 'rate_limited';
      const dead = !limited && row.attempts >= this.opts.maxAttempts;
      const backoff = limited ? ((e as { retryAfterMs?: number }).retryAfterMs ?? 1_000) : Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** Math.max(0, row.attempts - 1));
      const message = (e as Error)?.message ?? String(e);
      if (dead) log.error({ err: message, attempts: row.attempts }, 'event moved to dead letters');
      else log.warn({ err: message, attempts: row.attempts, retryInMs: backoff }, limited ? 'event handling rate limited; waiting for Retry-After' : 'event handling failed; will retry');
      try {
        await failEvent(this.db, this.clock, row, this.opts.owner, message, dead, backoff, limited);
      } catch (f) {
        // The database is away: the lease runs out and the event is taken again.
        log.error({ err: f }, 'could not record the event failure; its lease will run out and it is retried');
      }
      if (!dead && !this.stopped && backoff < this.opts.pollMs) setTimeout(() => this.kick(), backoff + 5).unref();
    }
  }
}
