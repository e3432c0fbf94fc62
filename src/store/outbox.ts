import type { Database, Tx } from './db.ts';
import type { Clock } from '../domain/clock.ts';

/**
 * A chat side effect as a service asks for it. `ref` names it so a later effect of the
 * same batch can wait for it (`after`) and use its result: any string argument of the
 * form `{ "$ref": "<name>", "path": "channel" }` is replaced by that result field.
 */
export interface EffectSpec {
  op: string;
  args: Record<string, unknown>;
  ref?: string;
  /** A name from this batch, or the id of an effect written earlier (e.g. an incident's card). */
  after?: string | number;
  /** Run after success, in the transaction that marks the effect done. */
  hook?: { name: string; data?: Record<string, unknown> };
}

export interface EffectContext {
  workspaceId?: string | null;
  platform: string;
  requestId?: string | null;
}

export interface OutboxRow {
  id: number;
  workspaceId: string | null;
  platform: string;
  op: string;
  payload: string;
  status: string;
  dependsOnId: number | null;
  attempts: number;
  nextAttemptAt: Date;
  leaseUntil: Date | null;
  leasedBy: string | null;
  lastError: string | null;
  result: string | null;
  requestId: string | null;
  createdAt: Date;
  updatedAt: Date;
  doneAt: Date | null;
}

export interface StoredPayload {
  args: Record<string, unknown>;
  hook?: EffectSpec['hook'];
}

/** Uses a field of another effect's result: a name from this batch or an earlier effect's id. */
export function ref(name: string | number, path: string): { $ref: string | number; path: string } {
  return { $ref: name, path };
}

/**
 * Content drawn at send time by the platform's renderer (blocks/ for Slack) from the
 * record's current state: services stay platform-neutral, and a late effect never
 * shows stale state.
 */
export interface Surface {
  kind: string;
  [key: string]: unknown;
}

function rewriteRefs(value: unknown, ids: Map<string, number>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, ids));
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj.$ref === 'number') return obj;
    if (typeof obj.$ref === 'string' && typeof obj.path === 'string' && Object.keys(obj).length === 2) {
      const id = ids.get(obj.$ref);
      if (id === undefined) throw new Error(`effect reference "${obj.$ref}" names no earlier effect of this batch`);
      return { $ref: id, path: obj.path };
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, rewriteRefs(v, ids)]));
  }
  return value;
}

/** Writes effects inside the caller's transaction; they run only once it commits. */
export async function enqueueEffects(tx: Tx, clock: Clock, ctx: EffectContext, effects: EffectSpec[]): Promise<number[]> {
  const ids = new Map<string, number>();
  const out: number[] = [];
  const now = clock.now();
  for (const e of effects) {
    const dependsOnId = typeof e.after === 'number' ? e.after : e.after !== undefined ? ids.get(e.after) : undefined;
    if (e.after !== undefined && dependsOnId === undefined) throw new Error(`effect "${e.op}" waits for unknown effect "${e.after}"`);
    const payload: StoredPayload = { args: rewriteRefs(e.args, ids) as Record<string, unknown>, ...(e.hook ? { hook: e.hook } : {}) };
    const row = await tx.outboxEffect.create({
      data: {
        workspaceId: ctx.workspaceId ?? null,
        platform: ctx.platform,
        op: e.op,
        payload: JSON.stringify(payload),
        dependsOnId: dependsOnId ?? null,
        nextAttemptAt: now,
        requestId: ctx.requestId ?? null,
        createdAt: now,
        updatedAt: now,
      },
      select: { id: true },
    });
    if (e.ref) ids.set(e.ref, row.id);
    out.push(row.id);
  }
  return out;
}

/**
 * Leases up to `limit` effects that are due and whose dependency is done. On
 * PostgreSQL rows are picked with FOR UPDATE SKIP LOCKED so that replicas share the
 * work without taking the same row; an expired lease (a crashed replica) is taken over.
 */
export async function claimEffects(db: Database, clock: Clock, owner: string, limit: number, leaseMs: number): Promise<OutboxRow[]> {
  return db.tx(async (tx) => {
    const now = clock.now();
    const lock = db.provider === 'postgresql' ? 'FOR UPDATE OF o SKIP LOCKED' : '';
    const p = db.provider === 'postgresql' ? (n: number) => `$${n}` : () => '?';
    const picked = await tx.$queryRawUnsafe<{ id: number | bigint }[]>(
      `SELECT o.id FROM outbox o LEFT JOIN outbox d ON d.id = o.depends_on_id
       WHERE ((o.status = 'pending' AND o.next_attempt_at <= ${p(1)}) OR (o.status = 'running' AND o.lease_until < ${p(2)}))
         AND (o.depends_on_id IS NULL OR d.status = 'done')
       ORDER BY o.id LIMIT ${Math.max(1, Math.floor(limit))} ${lock}`,
      now,
      now,
    );
    if (picked.length === 0) return [];
    const ids = picked.map((r) => Number(r.id));
    await tx.outboxEffect.updateMany({
      where: { id: { in: ids } },
      data: { status: 'running', leasedBy: owner, leaseUntil: new Date(now.getTime() + leaseMs), attempts: { increment: 1 }, updatedAt: now },
    });
    return (await tx.outboxEffect.findMany({ where: { id: { in: ids } }, orderBy: { id: 'asc' } })) as OutboxRow[];
  });
}

export async function resultsOf(db: Database, ids: number[]): Promise<Map<number, Record<string, unknown> | undefined>> {
  if (ids.length === 0) return new Map();
  const rows = await db.read((tx) => tx.outboxEffect.findMany({ where: { id: { in: ids } }, select: { id: true, status: true, result: true } }));
  return new Map(rows.map((r) => [r.id, r.status === 'done' && r.result ? (JSON.parse(r.result) as Record<string, unknown>) : undefined]));
}

export async function listEffects(db: Database, statuses: string[], limit = 100): Promise<OutboxRow[]> {
  return (await db.read((tx) =>
    tx.outboxEffect.findMany({ where: { status: { in: statuses } }, orderBy: { id: 'asc' }, take: limit }),
  )) as OutboxRow[];
}

/** Puts dead-lettered effects back in the queue (all of them, or the ids given). */
export async function replayEffects(db: Database, clock: Clock, ids?: number[]): Promise<number> {
  const now = clock.now();
  const r = await db.tx((tx) =>
    tx.outboxEffect.updateMany({
      where: { status: 'dead', ...(ids && ids.length ? { id: { in: ids } } : {}) },
      data: { status: 'pending', attempts: 0, nextAttemptAt: now, leaseUntil: null, leasedBy: null, updatedAt: now },
    }),
  );
  return r.count;
}

/**
 * At start-up: effects this instance had claimed before it stopped (same instance id),
 * or, on SQLite (one process per file), any left running, are queued again at once
 * instead of waiting for their lease to run out.
 */
export async function resumeUnfinished(db: Database, clock: Clock, owner: string): Promise<number> {
  const now = clock.now();
  const r = await db.tx((tx) =>
    tx.outboxEffect.updateMany({
      where: { status: 'running', ...(db.provider === 'sqlite' ? {} : { leasedBy: owner }) },
      data: { status: 'pending', leaseUntil: null, leasedBy: null, nextAttemptAt: now, updatedAt: now },
    }),
  );
  return r.count;
}
