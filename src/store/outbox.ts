import { asBool, asDate, asDateOrNull, marks, marksFor, sqlOf, type Database, type Tx } from './db.ts';
import type { Clock } from '../domain/clock.ts';
import type { Effect, ResultRef } from '../platforms/effects.ts';

/**
 * A chat side effect as a service asks for it. `ref` names it so a later effect of the
 * same batch can wait for it (`after`) and use its result: any string argument of the
 * form `{ "$ref": "<name>", "path": "channel" }` is replaced by that result field.
 */
export type EffectSpec = Effect & EffectOrder;

/**
 * What the store writes: a chat effect (EffectSpec, typed per op) or one of Muster's own effects
 * (the audit checkpoint recorder's), whose runner checks its own arguments.
 */
export type StoredEffectSpec = { op: string; args: object } & EffectOrder;

/** How an effect is ordered, named and coalesced in its batch. */
export interface EffectOrder {
  ref?: string;
  /** A name from this batch, or the id of an effect written earlier (e.g. an incident's card). */
  after?: string | number;
  /** Run after success, in a transaction of its own: a failing hook is retried without repeating the call. */
  hook?: { name: string; data?: Record<string, unknown> };
  /**
   * Redraws of one message share this key (e.g. `card:<effect id>`). While one waits, a newer one is not
   * queued beside it: it renders at send time, so it shows the newest state; one runs at a time, never two.
   */
  coalesce?: string;
  /** Effects (names of this batch or earlier ids) this one runs after for order only: done or dead both release it. */
  afterAll?: (string | number)[];
  /**
   * The stored result of `after` (an earlier effect's id), when the service read it in this transaction anyway: the
   * kernel then finds the copy of a card that was clicked without reading it again (not stored with the effect).
   */
  afterResult?: string | null;
}

export interface EffectContext {
  workspaceId?: string | null;
  platform: string;
  requestId?: string | null;
}

export interface OutboxRow {
  id: number;
  coalesceKey: string | null;
  uncertain: boolean;
  rateLimited: number;
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
  hook?: EffectOrder['hook'];
}

/** Uses a field of another effect's result: a name from this batch or an earlier effect's id. */
export function ref(name: string | number, path: string): ResultRef {
  return { $ref: name, path };
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

/** The row outboxEffect.create writes (the columns Prisma fills from the schema's defaults given as they are). */
const INSERT_EFFECTS = `INSERT INTO outbox (workspace_id, platform, op, payload, status, depends_on_id, attempts, next_attempt_at, request_id,
  created_at, updated_at, coalesce_key, uncertain, rate_limited) VALUES `;
const EFFECT_ROW = `(?, ?, ?, ?, 'pending', ?, 0, ?, ?, ?, ?, ?, FALSE, 0)`;
/** Rows per INSERT at most (eleven parameters each: far below either database's limit on parameters). */
const EFFECTS_PER_INSERT = 500;

/** The names of this batch an effect's arguments use (`{ "$ref": "<name>", path }`). */
function refNames(value: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) refNames(v, out);
  else if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (typeof obj.$ref === 'string') out.add(obj.$ref);
    else for (const v of Object.values(obj)) refNames(v, out);
  }
  return out;
}

/**
 * Writes effects inside the caller's transaction; they run only once it commits. Returns one id per
 * effect: for a redraw that joins one already waiting (same `coalesce` key), the waiting one's id.
 *
 * Consecutive effects are written by one multi-row INSERT (a vote's card copies, a declaration's war room), each
 * statement a round trip on PostgreSQL. An effect that needs the id of one not yet written (it waits for it, uses its
 * result, or joins its redraw) starts a new INSERT once the earlier ones have theirs.
 */
export async function enqueueEffects(tx: Tx, clock: Clock, ctx: EffectContext, effects: StoredEffectSpec[]): Promise<number[]> {
  const ids = new Map<string, number>();
  const out: number[] = [];
  const now = clock.now();
  const idOf = (name: string | number, op: string) => {
    const id = typeof name === 'number' ? name : ids.get(name);
    if (id === undefined) throw new Error(`effect "${op}" waits for unknown effect "${name}"`);
    return id;
  };
  const joinable = await waitingRedraws(tx, effects, now);
  const sql = sqlOf(tx);
  // The effects of the INSERT being gathered, with the names and coalescing keys they will give ids to.
  let pending: { at: number; e: StoredEffectSpec; dependsOnId: number | undefined; payload: string }[] = [];
  const pendingNames = new Set<string>();
  const pendingKeys = new Set<string>();
  const write = async () => {
    if (!pending.length) return;
    const rows = await sql.all<{ id: number | bigint }>(
      `${INSERT_EFFECTS}${pending.map(() => EFFECT_ROW).join(', ')} RETURNING id`,
      ...pending.flatMap((p) => [ctx.workspaceId ?? null, ctx.platform, p.e.op, p.payload, p.dependsOnId ?? null, now, ctx.requestId ?? null, now, now, p.e.coalesce ?? null]),
    );
    // Ids come from one sequence in the order of the rows (RETURNING itself promises no order).
    const inserted = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
    if (inserted.length !== pending.length) throw new Error(`wrote ${pending.length} effects but got ${inserted.length} ids back`);
    const written = pending;
    pending = [];
    pendingNames.clear();
    pendingKeys.clear();
    for (let k = 0; k < written.length; k++) {
      const { at, e, dependsOnId } = written[k]!;
      const id = inserted[k]!;
      out[at] = id;
      // A later redraw of this batch with the same key joins this one (it is waiting: this transaction holds it).
      if (e.coalesce) joinable.set(e.coalesce, id);
      if (e.ref) ids.set(e.ref, id);
      const order = [...new Set((e.afterAll ?? []).map((a) => idOf(a, e.op)))].filter((d) => d !== dependsOnId && d !== id);
      if (order.length) await tx.outboxDependency.createMany({ data: order.map((d) => ({ effectId: id, dependsOnId: d })) });
    }
  };
  for (let at = 0; at < effects.length; at++) {
    const e = effects[at]!;
    if (pending.length) {
      const needs = pendingNames.size ? refNames(e.args, new Set([e.after, ...(e.afterAll ?? [])].filter((n): n is string => typeof n === 'string'))) : undefined;
      if ((needs && [...needs].some((n) => pendingNames.has(n))) || (e.coalesce && pendingKeys.has(e.coalesce)) || pending.length >= EFFECTS_PER_INSERT) await write();
    }
    const dependsOnId = e.after !== undefined ? idOf(e.after, e.op) : undefined;
    const waiting = e.coalesce ? joinable.get(e.coalesce) : undefined;
    if (waiting !== undefined) {
      if (e.ref) ids.set(e.ref, waiting);
      out[at] = waiting;
      continue;
    }
    const payload: StoredPayload = { args: rewriteRefs(e.args, ids) as Record<string, unknown>, ...(e.hook ? { hook: e.hook } : {}) };
    pending.push({ at, e, dependsOnId, payload: JSON.stringify(payload) });
    if (e.ref) pendingNames.add(e.ref);
    if (e.coalesce) pendingKeys.add(e.coalesce);
  }
  await write();
  const watched = written.get(tx);
  if (watched) {
    // Redraws are left to the claim: one that waits a little is joined by the next change's (coalesced: one chat.update
    // for several votes), and redraws claimed together share a drawing of their record. In the click bench, leasing
    // them too cost PostgreSQL 4 % more statements per click and Slack 9 % more calls.
    for (let at = 0; at < effects.length; at++) {
      if (effects[at]!.coalesce) watched.claimed = true;
      else watched.ids.push(out[at]!);
    }
  }
  return out;
}

/**
 * Of each transaction whose owner watches it (`watchWrites`), by its `Tx`: the ids of the effects it wrote that
 * `leaseWritten` may lease (redraws aside), and whether it wrote or joined a redraw, which is left to a claim. (On SQLite
 * every transaction has the same `Tx`, one at a time: the owner starts the list anew as its transaction begins.)
 */
const written = new WeakMap<Tx, { ids: number[]; claimed: boolean }>();

/** Called by the owner of a transaction as it begins: the effects it writes from now on may be leased by `leaseWritten`. */
export function watchWrites(tx: Tx): void {
  written.set(tx, { ids: [], claimed: false });
}

/**
 * Leases, inside the transaction that wrote them, up to `limit` of the effects it wrote that are free to run now (the
 * claim's conditions for an effect that is no redraw: pending and due, data and order dependencies done), the
 * lowest ids first, for `owner`, who runs them once the transaction has committed; a rollback undoes the lease with
 * the rest. A claim is then not needed for them: on PostgreSQL one claim less per command or click, each planned anew
 * on the claim's connection (1.5–2.5 ms before the first Slack call of a war room), and on SQLite a read and a write of
 * their own. With `freedBy` (an effect this transaction marked done), the effects that waited for it are leased too
 * (a war room's invitations, topic and card once its channel exists). Redraws (effects with a coalescing key) are left
 * to the claim (see enqueueEffects). Sent with the transaction's next statement
 * (`laterAll`): on PostgreSQL no round trip of its own. The effects it leaves (waiting for others, or over the limit)
 * are claimed as before. `waiting`: how many effects at most wait for `freedBy` (unknown when not given). It leases at
 * most `limit` effects, and no more than the transaction can free (those it wrote and those `waiting`): `take`, the
 * slots its owner holds for it. `rows` resolves to the leased effects; `all`, to whether every effect the transaction
 * wrote was leased (none of them a redraw).
 */
export function leaseWritten(
  tx: Tx,
  clock: Clock,
  owner: string,
  limit: number,
  leaseMs: number,
  freedBy?: number,
  waiting?: number,
): { rows: Promise<OutboxRow[]>; all: Promise<boolean>; take: number } | undefined {
  const watched = written.get(tx);
  const ids = [...new Set(watched?.ids ?? [])].sort((a, b) => a - b);
  // Redraws it wrote are left to a claim.
  const claimed = watched?.claimed ?? false;
  written.delete(tx);
  const take = Math.min(Math.floor(limit), ids.length + (freedBy === undefined ? 0 : (waiting ?? Number.POSITIVE_INFINITY)));
  if (take < 1) return undefined;
  const now = clock.now();
  const wrote = ids.length ? [`o.id IN (${marks(ids)})`] : [];
  const freed = freedBy === undefined ? [] : ['o.depends_on_id = ?', 'o.id IN (SELECT x.effect_id FROM outbox_dependencies x WHERE x.depends_on_id = ?)'];
  const rows = sqlOf(tx)
    .laterAll<Record<string, unknown>>(
      `UPDATE outbox SET ${LEASE} WHERE id IN (
         SELECT o.id FROM outbox o WHERE (${[...wrote, ...freed].join(' OR ')}) AND o.coalesce_key IS NULL AND o.status = 'pending' AND o.next_attempt_at <= ?
           AND ${DEPENDENCY_DONE} AND ${ORDERS_DONE}
         ORDER BY o.id LIMIT ${take})
       RETURNING ${OUTBOX_COLUMNS}`,
      owner,
      new Date(now.getTime() + leaseMs),
      now,
      ...ids,
      ...(freedBy === undefined ? [] : [freedBy, freedBy]),
      now,
    )
    .then((r) => r.map(outboxRowOf).sort((a, b) => a.id - b.id));
  const all = rows.then((r) => {
    const leased = new Set(r.map((row) => row.id));
    return !claimed && ids.every((id) => leased.has(id));
  });
  return { rows, all, take };
}

/**
 * The redraws already waiting that this batch's redraws join, by coalescing key: the oldest pending one per key, held
 * by this transaction, found and held for every key of the batch in one statement. Joined only if still waiting once
 * this transaction holds its row: a redraw claimed since would render before this transaction commits, so it would
 * show the old state (a closed incident's card with live buttons, the fault suite on PostgreSQL). The update takes
 * the row lock, which keeps claims (SKIP LOCKED) off it until commit; on PostgreSQL a row a claim changed meanwhile
 * is checked again as it now is (no longer pending: not joined), and a new redraw is queued behind it instead.
 */
async function waitingRedraws(tx: Tx, effects: StoredEffectSpec[], now: Date): Promise<Map<string, number>> {
  const keys = [...new Set(effects.map((e) => e.coalesce).filter((k): k is string => Boolean(k)))];
  const joinable = new Map<string, number>();
  if (!keys.length) return joinable;
  const held = await sqlOf(tx).all<{ id: number | bigint; coalesce_key: string | null }>(waitingRedrawsSql(keys.length), now, ...keys);
  for (const r of held) if (r.coalesce_key) joinable.set(r.coalesce_key, Number(r.id));
  return joinable;
}

/**
 * waitingRedraws' statement for `keys` coalescing keys (parameters: now, then the keys). The outer status test is
 * written `coalesce(status, '')` (status is never null) so that no index serves it: SQLite, without statistics, found
 * the rows through the (status, next_attempt_at, id) index, reading every pending effect for each vote (1.65 ms a vote
 * with 20,000 pending, against 20–55 µs by id; scripted with better-sqlite3). PostgreSQL looks them up by id either
 * way, and checks the test again on a row another transaction changed meanwhile.
 */
export function waitingRedrawsSql(keys: number): string {
  return `UPDATE outbox SET updated_at = ? WHERE coalesce(status, '') = 'pending' AND id IN (
       SELECT min(id) FROM outbox WHERE coalesce_key IN (${marksFor(keys)}) AND status = 'pending' GROUP BY coalesce_key)
     RETURNING id, coalesce_key`;
}

/** Statuses after which an effect will not run again (until an operator replays a dead one). */
export const FINISHED = ['done', 'dead'] as const;

/**
 * Of an effect `o` that may run: every order dependency done or dead (ORDERS_DONE); for a redraw, no other redraw of
 * its message running or waiting ahead of it. (Each a lookup by id, not a join: PostgreSQL plans every claim, and a
 * join in each status's branch cost it 0.5 ms more.) The lease of written effects takes no redraw: ORDERS_DONE is its.
 */
const ORDERS_DONE = `NOT EXISTS (SELECT 1 FROM outbox_dependencies x
                         WHERE x.effect_id = o.id AND (SELECT od.status FROM outbox od WHERE od.id = x.depends_on_id) NOT IN ('done', 'dead'))`;
const FREE = `${ORDERS_DONE}
         AND (o.coalesce_key IS NULL OR NOT EXISTS (
               SELECT 1 FROM outbox c WHERE c.coalesce_key = o.coalesce_key AND c.id <> o.id
                 AND (c.status = 'running' OR (c.status = 'pending' AND c.id < o.id))))`;
/**
 * Of an effect `o`: its data dependency done, a lookup by id for each effect that has one. (As a LEFT JOIN, PostgreSQL
 * hashed the whole outbox, done effects included, once a few hundred effects were due: 9 ms per claim at 40k rows
 * against 0.5 ms.)
 */
const DEPENDENCY_DONE = `(o.depends_on_id IS NULL OR (SELECT d.status FROM outbox d WHERE d.id = o.depends_on_id) = 'done')`;
/**
 * A lease (SET; parameters: owner, lease until, now), by the status it takes over: a fresh call is one more attempt; a
 * call whose lease ran out may have reached the platform before its process died (uncertain); a hook to retry (the
 * call succeeded) is no new attempt. Every SET reads the row as it was before the statement.
 */
const LEASE = `status = CASE WHEN status IN ('hook', 'hooking') THEN 'hooking' ELSE 'running' END,
         attempts = CASE WHEN status IN ('hook', 'hooking') THEN attempts ELSE attempts + 1 END,
         uncertain = CASE WHEN status = 'running' THEN TRUE ELSE uncertain END,
         leased_by = ?, lease_until = ?, updated_at = ?`;

/**
 * Leases up to `limit` effects that are due and free to run. On PostgreSQL rows are picked with
 * FOR UPDATE SKIP LOCKED so that replicas share the work without taking the same row; an expired
 * lease (a crashed replica) is taken over, and the effect is marked uncertain: that attempt may
 * have reached the platform. An effect is free to run when its data dependency is done, every
 * order dependency is done or dead, and, for a redraw, no other redraw of the same message runs
 * or waits ahead of it. `hook` rows (the call succeeded, the hook failed) are claimed to retry the hook.
 *
 * `backlog: false` (PostgreSQL): few effects are likely due (the dispatcher's last walk came back short, see
 * OutboxDispatcher.backlog); the claim is then one selection of every due effect, which the server plans in half the
 * time of the walk that a backlog needs (both take the same effects, in the same order).
 *
 * `expired: false`: leases that ran out are not taken over by this claim, only effects pending or with a hook to retry.
 * A lease runs out only when its process died or hung for leaseMs, so the dispatcher looks for them once a poll
 * (every second) rather than in each of the claims its own effects' ends and writes kick; on PostgreSQL, which plans
 * every claim, the running and hooking branches were half of each claim's planning.
 */
export async function claimEffects(
  db: Database,
  clock: Clock,
  owner: string,
  limit: number,
  leaseMs: number,
  busy: Iterable<number> = [],
  o: { backlog?: boolean; expired?: boolean } = {},
): Promise<OutboxRow[]> {
  const expired = o.expired !== false;
  const now = clock.now();
  // Effects this process is performing right now are never taken over by itself, however late
  // their lease looks (a clock that jumps, a call slower than the lease).
  const inFlight = [...busy].filter((n) => Number.isInteger(n));
  // As parameters: one statement text per count of effects in flight, prepared once, not one per set of ids.
  const notBusy = inFlight.length ? `\n         AND o.id NOT IN (${marks(inFlight)})` : '';
  const take = Math.max(1, Math.floor(limit));
  const leaseUntil = new Date(now.getTime() + leaseMs);
  // One branch per status, each walking the (status, next_attempt_at, id) index in its own due order and stopping at the
  // limit: the rows free to run, the earliest due first, ids in a tie, at any backlog. (Gathering every due row, testing
  // each one's dependencies and sorting them all cost a claim 0.3 ms on SQLite with a thousand effects due, and on
  // PostgreSQL 4 ms with a thousand and 770 ms with a hundred thousand, JIT compilation included: `npm run bench:cost
  // -- --only outbox`.) A lease that ran out is due when it ran out; running and hooking effects are few (the effects
  // in flight), sorted once found.
  const branch = (status: string, due: 'next_attempt_at' | 'lease_until') =>
    `SELECT * FROM (SELECT o.id, o.${due} AS due FROM outbox o
         WHERE o.status = '${status}' AND o.${due} ${due === 'lease_until' ? '<' : '<='} ?
           AND ${DEPENDENCY_DONE}${notBusy}
           AND ${FREE}
         ORDER BY o.${due}, o.id LIMIT ${take}) AS b_${status}`;
  const branches = [branch('pending', 'next_attempt_at'), branch('hook', 'next_attempt_at'), ...(expired ? [branch('running', 'lease_until'), branch('hooking', 'lease_until')] : [])];
  const walk = () => `SELECT id FROM (SELECT id, due FROM (${branches.join('\n       UNION ALL ')}) AS u ORDER BY due, id LIMIT ${take}) AS w`;
  const walkArgs = () => branches.flatMap(() => [now, ...inFlight]);
  if (db.provider !== 'postgresql') {
    // Many claims find nothing (the poll's; one after an effect whose dependents wait for more): the same selection as one committed read first,
    // on the reader connection, which waits for no transaction. It sees what the claim would see, so nothing is missed
    // by asking first; the claim selects again as it writes (SQLite has one writer: nobody claims in between).
    const [pick, args] = [walk(), walkArgs()];
    if ((await db.query(pick, ...args)).length === 0) return [];
    const rows = await db.write<Record<string, unknown>>(`UPDATE outbox SET ${LEASE} WHERE id IN (${pick}) RETURNING ${OUTBOX_COLUMNS}`, owner, leaseUntil, now, ...args);
    return rows.map(outboxRowOf).sort((a, b) => a.id - b.id);
  }
  // Due now, by its status (a lease that ran out is due when it ran out).
  const dueNow = expired
    ? `(((o.status = 'pending' OR o.status = 'hook') AND o.next_attempt_at <= ?)
                   OR ((o.status = 'running' OR o.status = 'hooking') AND o.lease_until < ?))`
    : `((o.status = 'pending' OR o.status = 'hook') AND o.next_attempt_at <= ?)`;
  const dueArgs = expired ? [now, now] : [now];
  // PostgreSQL plans every claim (PG_CLAIM_SESSION): the walk's four branches took it 0.8–1.5 ms to plan, the single
  // selection 0.4 (a claim without expired leases walks two branches). With few effects due the selection reads about
  // as few rows as the walk. Either way one statement, committed on its own, whose rows are locked with SKIP LOCKED
  // (replicas never take the same row, nor wait for each other) and leased.
  const [picked, pickedArgs, leased] =
    o.backlog === false
      ? [
          // The selection locks its rows as it selects them.
          `SELECT o.id FROM outbox o
            WHERE ${dueNow}
              AND ${DEPENDENCY_DONE}${notBusy}
              AND ${FREE}
            ORDER BY ${expired ? `CASE WHEN o.status IN ('pending', 'hook') THEN o.next_attempt_at ELSE o.lease_until END` : 'o.next_attempt_at'}, o.id LIMIT ${take}
            FOR UPDATE OF o SKIP LOCKED`,
          [...dueArgs, ...inFlight],
          'FROM picked WHERE outbox.id = picked.id',
        ]
      : [
          // The walk, then its rows locked. A row another replica claimed between the walk and the lock is locked in its
          // new version, which the lock's own condition (due now) then leaves out. The walked ids are an array (ARRAY(…):
          // run once, before the rest), looked up by primary key whatever the planner estimates: as a join, a plan made
          // while the outbox was small read the whole outbox for them, 1.6 ms per claim at 2,300 rows.
          `SELECT o.id FROM outbox o WHERE o.id = ANY (ARRAY(${walk()})) AND ${dueNow} FOR UPDATE OF o SKIP LOCKED`,
          [...walkArgs(), ...dueArgs],
          'WHERE outbox.id = ANY (ARRAY(SELECT id FROM picked))',
        ];
  const rows = await db.claim<Record<string, unknown>>(`WITH picked AS (${picked}) UPDATE outbox SET ${LEASE} ${leased} RETURNING ${OUTBOX_COLUMNS_QUALIFIED}`, ...pickedArgs, owner, leaseUntil, now);
  return rows.map(outboxRowOf).sort((a, b) => a.id - b.id);
}

/** Every column of the outbox, named as OutboxRow's fields. */
const OUTBOX_COLUMNS = `id, workspace_id, platform, op, payload, status, depends_on_id, attempts, next_attempt_at, lease_until, leased_by, last_error,
  result, request_id, created_at, updated_at, done_at, coalesce_key, uncertain, rate_limited`;

/** The same, each as `outbox.<column>` (a claim on PostgreSQL joins the rows it picked, which have an id too). */
const OUTBOX_COLUMNS_QUALIFIED = OUTBOX_COLUMNS.split(',')
  .map((c) => `outbox.${c.trim()}`)
  .join(', ');

/** A raw outbox row (either database's driver types) as the OutboxRow Prisma's model API would give. */
function outboxRowOf(r: Record<string, unknown>): OutboxRow {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: Number(r.id),
    workspaceId: (r.workspace_id as string | null) ?? null,
    platform: r.platform as string,
    op: r.op as string,
    payload: r.payload as string,
    status: r.status as string,
    dependsOnId: n(r.depends_on_id),
    attempts: Number(r.attempts),
    nextAttemptAt: asDate(r.next_attempt_at),
    leaseUntil: asDateOrNull(r.lease_until),
    leasedBy: (r.leased_by as string | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
    result: (r.result as string | null) ?? null,
    requestId: (r.request_id as string | null) ?? null,
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
    doneAt: asDateOrNull(r.done_at),
    coalesceKey: (r.coalesce_key as string | null) ?? null,
    uncertain: asBool(r.uncertain),
    rateLimited: Number(r.rate_limited),
  };
}

/**
 * Dead-letters the effects that need a dead effect's result (its data dependents), transitively:
 * they can never run, and leaving them pending would hide that. Replaying the root replays them.
 */
export async function cascadeDead(tx: Tx, clock: Clock, id: number): Promise<number[]> {
  const now = clock.now();
  const dead: number[] = [];
  let frontier = [id];
  while (frontier.length) {
    const next = await tx.outboxEffect.findMany({ where: { dependsOnId: { in: frontier }, status: 'pending' }, select: { id: true, dependsOnId: true } });
    if (!next.length) break;
    for (const n of next) {
      await tx.outboxEffect.updateMany({
        where: { id: n.id, status: 'pending' },
        data: { status: 'dead', lastError: `dependency: effect ${n.dependsOnId} is dead-lettered`, leaseUntil: null, updatedAt: now },
      });
    }
    frontier = next.map((n) => n.id);
    dead.push(...frontier);
  }
  return dead;
}

export async function resultsOf(db: Database, ids: number[]): Promise<Map<number, Record<string, unknown> | undefined>> {
  if (ids.length === 0) return new Map();
  const rows = await db.read((tx) => tx.outboxEffect.findMany({ where: { id: { in: ids } }, select: { id: true, status: true, result: true } }));
  return new Map(rows.map((r) => [r.id, r.status === 'done' && r.result ? (JSON.parse(r.result) as Record<string, unknown>) : undefined]));
}

export async function listEffects(db: Database, statuses: string[], limit = 100): Promise<OutboxRow[]> {
  return (await db.read((tx) => tx.outboxEffect.findMany({ where: { status: { in: statuses } }, orderBy: { id: 'asc' }, take: limit }))) as OutboxRow[];
}

/**
 * Puts dead-lettered effects back in the queue (all of them, or the ids given). Effects that were
 * dead-lettered only because one of these was (see cascadeDead) come back with it.
 */
export async function replayEffects(db: Database, clock: Clock, ids?: number[]): Promise<number> {
  const now = clock.now();
  return db.tx(async (tx) => {
    const roots = await tx.outboxEffect.findMany({ where: { status: 'dead', ...(ids && ids.length ? { id: { in: ids } } : {}) }, select: { id: true } });
    const all = new Set(roots.map((r) => r.id));
    let frontier = [...all];
    while (frontier.length) {
      const next = await tx.outboxEffect.findMany({ where: { dependsOnId: { in: frontier }, status: 'dead', lastError: { startsWith: 'dependency:' } }, select: { id: true } });
      frontier = next.map((n) => n.id).filter((n) => !all.has(n));
      for (const n of frontier) all.add(n);
    }
    const r = await tx.outboxEffect.updateMany({
      where: { id: { in: [...all] }, status: 'dead' },
      data: { status: 'pending', attempts: 0, nextAttemptAt: now, leaseUntil: null, leasedBy: null, updatedAt: now },
    });
    return r.count;
  });
}

/**
 * At start-up: effects this instance had claimed before it stopped (same instance id),
 * or, on SQLite (one process per file), any left running, are queued again at once
 * instead of waiting for their lease to run out.
 */
export async function resumeUnfinished(db: Database, clock: Clock, owner: string): Promise<number> {
  const now = clock.now();
  const mine = db.provider === 'sqlite' ? {} : { leasedBy: owner };
  return db.tx(async (tx) => {
    // A call in flight when the process stopped may have reached the platform: look before redoing it.
    const calls = await tx.outboxEffect.updateMany({
      where: { status: 'running', ...mine },
      data: { status: 'pending', uncertain: true, leaseUntil: null, leasedBy: null, nextAttemptAt: now, updatedAt: now },
    });
    const hooks = await tx.outboxEffect.updateMany({
      where: { status: 'hooking', ...mine },
      data: { status: 'hook', leaseUntil: null, leasedBy: null, nextAttemptAt: now, updatedAt: now },
    });
    return calls.count + hooks.count;
  });
}
