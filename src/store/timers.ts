import { marks, sqlOf, type Database, type Tx } from './db.ts';
import type { Clock } from '../domain/clock.ts';

export interface TimerSpec {
  /** Unique per purpose (e.g. `inc:<incident id>:no-commander`): scheduling the same key re-arms it. */
  key: string;
  kind: string;
  subjectType: string;
  subjectId: string;
  dueAt: Date;
  workspaceId?: string | null;
  payload?: Record<string, unknown>;
}

export interface TimerRow {
  id: number;
  workspaceId: string | null;
  kind: string;
  subjectType: string;
  subjectId: string;
  key: string;
  payload: string;
  dueAt: Date;
  status: string;
  leaseUntil: Date | null;
  leasedBy: string | null;
  attempts: number;
  lastError: string | null;
  firedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export async function scheduleTimer(tx: Tx, clock: Clock, spec: TimerSpec): Promise<void> {
  const now = clock.now();
  const data = {
    kind: spec.kind,
    subjectType: spec.subjectType,
    subjectId: spec.subjectId,
    workspaceId: spec.workspaceId ?? null,
    payload: JSON.stringify(spec.payload ?? {}),
    dueAt: spec.dueAt,
  };
  // One raw statement (a request or an incident arms several), sent with the transaction's next one (`later`):
  // inserted, or the keyed timer re-armed as new.
  await sqlOf(tx).later(
    `INSERT INTO timers (workspace_id, kind, subject_type, subject_id, "key", payload, due_at, status, lease_until, leased_by, attempts, last_error, fired_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL, 0, NULL, NULL, ?, ?)
     ON CONFLICT ("key") DO UPDATE SET kind = excluded.kind, subject_type = excluded.subject_type, subject_id = excluded.subject_id,
       workspace_id = excluded.workspace_id, payload = excluded.payload, due_at = excluded.due_at, status = 'pending', lease_until = NULL,
       leased_by = NULL, attempts = 0, last_error = NULL, fired_at = NULL, updated_at = excluded.updated_at`,
    data.workspaceId,
    data.kind,
    data.subjectType,
    data.subjectId,
    spec.key,
    data.payload,
    data.dueAt,
    now,
    now,
  );
}

/** Cancels pending timers by key, or every pending timer of a subject (optionally of some kinds). */
export async function cancelTimers(tx: Tx, clock: Clock, by: { key: string } | { subjectType: string; subjectId: string; kinds?: string[] }): Promise<number> {
  // Raw (every decision cancels its request's timers): one statement.
  const set = `UPDATE timers SET status = 'cancelled', updated_at = ?, lease_until = NULL WHERE status IN ('pending', 'claimed') AND`;
  const sql = sqlOf(tx);
  if ('key' in by) return sql.run(`${set} "key" = ?`, clock.now(), by.key);
  if (by.kinds && by.kinds.length === 0) return 0;
  const kinds = by.kinds ? ` AND kind IN (${marks(by.kinds)})` : '';
  return sql.run(`${set} subject_type = ? AND subject_id = ?${kinds}`, clock.now(), by.subjectType, by.subjectId, ...(by.kinds ?? []));
}

/**
 * Leases due timers. With several replicas on PostgreSQL, FOR UPDATE SKIP LOCKED hands
 * each row to one of them; an expired lease (a replica died mid-fire) is taken over.
 *
 * Due ones and expired leases are read by two queries, each walking the (status, due_at) index in order and
 * stopping at `limit`, then merged: one query with `OR` read (and sorted) every due row for each batch, so a
 * backlog of n due timers cost n²/limit row reads to drain (100,000 due: about 100 ms per batch of 20).
 */
export async function claimTimers(db: Database, clock: Clock, owner: string, limit: number, leaseMs: number): Promise<TimerRow[]> {
  return db.tx(async (tx) => {
    const now = clock.now();
    const pg = db.provider === 'postgresql';
    const take = Math.max(1, Math.floor(limit));
    const due = (where: string) =>
      tx.$queryRawUnsafe<{ id: number | bigint; due_at: Date }[]>(
        `SELECT id, due_at FROM timers WHERE ${where} ${pg ? '$1' : '?'} ORDER BY due_at, id LIMIT ${take} ${pg ? 'FOR UPDATE SKIP LOCKED' : ''}`,
        now,
      );
    const candidates = [...(await due("status = 'pending' AND due_at <=")), ...(await due("status = 'claimed' AND lease_until <"))];
    const picked = candidates.sort((a, b) => a.due_at.getTime() - b.due_at.getTime() || Number(a.id) - Number(b.id)).slice(0, take);
    if (picked.length === 0) return [];
    const ids = picked.map((r) => Number(r.id));
    await tx.timer.updateMany({
      where: { id: { in: ids } },
      data: { status: 'claimed', leasedBy: owner, leaseUntil: new Date(now.getTime() + leaseMs), attempts: { increment: 1 }, updatedAt: now },
    });
    return (await tx.timer.findMany({ where: { id: { in: ids } }, orderBy: [{ dueAt: 'asc' }, { id: 'asc' }] })) as TimerRow[];
  });
}

export async function timersFor(db: Database, subjectType: string, subjectId: string): Promise<TimerRow[]> {
  return (await db.read((tx) => tx.timer.findMany({ where: { subjectType, subjectId }, orderBy: { dueAt: 'asc' } }))) as TimerRow[];
}

/** Timers this instance had claimed when it stopped become due again at once (see resumeUnfinished). */
export async function releaseClaims(db: Database, clock: Clock, owner: string): Promise<number> {
  const r = await db.tx((tx) =>
    tx.timer.updateMany({
      where: { status: 'claimed', ...(db.provider === 'sqlite' ? {} : { leasedBy: owner }) },
      data: { status: 'pending', leaseUntil: null, leasedBy: null, updatedAt: clock.now() },
    }),
  );
  return r.count;
}
