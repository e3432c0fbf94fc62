import type { Database } from './db.ts';
import type { Clock } from '../domain/clock.ts';
import { isUniqueViolation } from './db.ts';

/**
 * Inbound platform events. Each is written here before the platform is acknowledged, keyed by
 * the platform's own event id (a retried delivery is recorded once), and then processed with
 * retries and back-off like the outbox: an event the database took is never lost, and a
 * handler that fails (a fetch from the platform, a database error) is tried again.
 */

export interface InboxInput {
  /** The platform's event id, `<platform>:<workspace>:<event>`. */
  key: string;
  platform: string;
  workspaceId?: string | null;
  type: string;
  payload: unknown;
}

export interface InboxRow {
  id: number;
  eventKey: string;
  platform: string;
  workspaceId: string | null;
  type: string;
  payload: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date;
  leaseUntil: Date | null;
  leasedBy: string | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  doneAt: Date | null;
}

/** Records an event; false when it was recorded before (a retried delivery). */
export async function recordEvent(db: Database, clock: Clock, e: InboxInput): Promise<boolean> {
  const now = clock.now();
  try {
    await db.tx((tx) =>
      tx.inboxEvent.create({
        data: { eventKey: e.key, platform: e.platform, workspaceId: e.workspaceId ?? null, type: e.type, payload: JSON.stringify(e.payload), nextAttemptAt: now, createdAt: now, updatedAt: now },
      }),
    );
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/** Leases due events (FOR UPDATE SKIP LOCKED on PostgreSQL, so replicas share them); an expired lease is taken over. */
export async function claimEvents(db: Database, clock: Clock, owner: string, limit: number, leaseMs: number): Promise<InboxRow[]> {
  return db.tx(async (tx) => {
    const now = clock.now();
    const pg = db.provider === 'postgresql';
    const p = pg ? (n: number) => `$${n}` : () => '?';
    const picked = await tx.$queryRawUnsafe<{ id: number | bigint }[]>(
      `SELECT id FROM inbox_events
       WHERE (status = 'pending' AND next_attempt_at <= ${p(1)}) OR (status = 'running' AND lease_until < ${p(2)})
       ORDER BY id LIMIT ${Math.max(1, Math.floor(limit))} ${pg ? 'FOR UPDATE SKIP LOCKED' : ''}`,
      now,
      now,
    );
    if (!picked.length) return [];
    const ids = picked.map((r) => Number(r.id));
    await tx.inboxEvent.updateMany({
      where: { id: { in: ids } },
      data: { status: 'running', leasedBy: owner, leaseUntil: new Date(now.getTime() + leaseMs), attempts: { increment: 1 }, updatedAt: now },
    });
    return (await tx.inboxEvent.findMany({ where: { id: { in: ids } }, orderBy: { id: 'asc' } })) as InboxRow[];
  });
}

export async function finishEvent(db: Database, clock: Clock, id: number, owner: string): Promise<void> {
  const now = clock.now();
  await db.tx((tx) => tx.inboxEvent.updateMany({ where: { id, leasedBy: owner, status: 'running' }, data: { status: 'done', doneAt: now, leaseUntil: null, lastError: null, updatedAt: now } }));
}

/** `refund`: the try does not count (a rate limit: the platform asked to wait, nothing failed). */
export async function failEvent(db: Database, clock: Clock, row: InboxRow, owner: string, error: string, dead: boolean, retryInMs: number, refund = false): Promise<void> {
  const now = clock.now();
  await db.tx((tx) =>
    tx.inboxEvent.updateMany({
      where: { id: row.id, leasedBy: owner, status: 'running' },
      data: dead
        ? { status: 'dead', lastError: error.slice(0, 2000), leaseUntil: null, updatedAt: now }
        : {
            status: 'pending',
            lastError: error.slice(0, 2000),
            leaseUntil: null,
            nextAttemptAt: new Date(now.getTime() + retryInMs),
            updatedAt: now,
            ...(refund ? { attempts: { decrement: 1 } } : {}),
          },
    }),
  );
}

/** At start-up: events this instance was processing when it stopped are processed again at once. */
export async function resumeEvents(db: Database, clock: Clock, owner: string): Promise<number> {
  const now = clock.now();
  const r = await db.tx((tx) =>
    tx.inboxEvent.updateMany({
      where: { status: 'running', ...(db.provider === 'sqlite' ? {} : { leasedBy: owner }) },
      data: { status: 'pending', leaseUntil: null, leasedBy: null, nextAttemptAt: now, updatedAt: now },
    }),
  );
  return r.count;
}
