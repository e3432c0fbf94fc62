import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Database } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';

export interface RetentionPolicy {
  /** Idempotency keys: platform retries come within minutes; a week is plenty. */
  processedRequestsMs: number;
  /** Fired or cancelled timers. */
  finishedTimersMs: number;
  /**
   * Slack rate buckets (`rate_buckets`, the replicas' shared budget) not written for this long. A bucket refills to
   * its burst within a minute or two of its last use (the deepest debt a burst books is minutes of calls), and a
   * missing bucket starts full: dropping one changes no budget, and posts keep one per channel ever posted to.
   */
  rateBucketsMs: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  processedRequestsMs: 7 * 86_400_000,
  finishedTimersMs: 30 * 86_400_000,
  rateBucketsMs: 86_400_000,
};

/**
 * Prunes bookkeeping rows that only matter for a while. The audit chain is never
 * touched (the database refuses it anyway), nor is the outbox: cards are updated in
 * place through the effect that posted them, however old. Safe on every replica.
 */
export async function pruneBookkeeping(db: Database, clock: Clock, r: RetentionPolicy = DEFAULT_RETENTION) {
  const now = clock.now().getTime();
  return db.tx(async (tx) => {
    const requests = await tx.processedRequest.deleteMany({ where: { createdAt: { lt: new Date(now - r.processedRequestsMs) } } });
    const timers = await tx.timer.deleteMany({ where: { status: { in: ['fired', 'cancelled'] }, updatedAt: { lt: new Date(now - r.finishedTimersMs) } } });
    const rateBuckets = await tx.rateBucket.deleteMany({ where: { updatedAt: { lt: BigInt(now - r.rateBucketsMs) } } });
    return { processedRequests: requests.count, timers: timers.count, rateBuckets: rateBuckets.count };
  });
}

/** Daily clean-up at 03:17 in the organisation's time zone (node-cron). */
export function scheduleMaintenance(db: Database, clock: Clock, log: Logger, timeZone: string): ScheduledTask {
  return cron.schedule(
    '17 3 * * *',
    async () => {
      try {
        const n = await pruneBookkeeping(db, clock);
        log.info(n, 'pruned bookkeeping rows');
      } catch (e) {
        log.error({ err: e }, 'maintenance failed');
      }
    },
    { timezone: timeZone, name: 'muster-maintenance' },
  );
}
