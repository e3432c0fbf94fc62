import type { Logger } from 'pino';
import { asBool, sqlOf, type Database, type Tx } from '../store/db.ts';
import type { Clock } from '../domain/clock.ts';
import { ChatError, type ChatPort, type PerformContext } from '../platforms/port.ts';
import { isEffectOp, type PortEffect, type SurfaceRef } from '../platforms/effects.ts';
import { cascadeDead, claimEffects, leaseWritten, resultsOf, watchWrites, type OutboxRow, type StoredPayload } from '../store/outbox.ts';
import { SurfaceGone } from '../services/surfaces.ts';
import type { Message } from '../../blocks/surface.ts';
import type { Metrics } from '../metrics.ts';

/**
 * The end of every update of an effect this process runs: only while its lease is this process's (a replica that
 * took it over after the lease ran out owns the outcome). Bookkeeping goes through `db.run`, one statement committed
 * on its own: a transaction of Prisma's per finished effect cost about ten times as much.
 */
const LEASED = `WHERE id = ? AND status = 'running' AND leased_by = ?`;
/** Thrown inside a hook's transaction to roll it back: the effect's lease was lost to another replica (doneWithHook). */
const LEASE_LOST = new Error('the effect was taken over by another replica; its hook is theirs to run');

/**
 * Of an effect just done (RETURNING): whether any other effect waits for it, by its data or for order, or, for a
 * redraw, behind it. Read by the statement that marks it done: an effect that waits and is written later kicks a claim
 * of its own when its transaction commits. (On PostgreSQL one committed while this statement ran may be missed by both:
 * the poll finds it, within pollMs. SQLite runs one write at a time.)
 */
const FREES = `(EXISTS (SELECT 1 FROM outbox w WHERE w.depends_on_id = outbox.id)
  OR EXISTS (SELECT 1 FROM outbox_dependencies x WHERE x.depends_on_id = outbox.id)
  OR (outbox.coalesce_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox f WHERE f.coalesce_key = outbox.coalesce_key AND f.status = 'pending'))) AS frees`;

/**
 * Of an effect being marked done with its hook (RETURNING): how many effects at most wait for it, by their data or for
 * order, which its transaction may then lease (OutboxDispatcher.leaseInTx). One written after this statement and
 * committed before the lease runs may be left out: the claim kicked as the effect ends (track) finds it.
 */
const WAITING = `(SELECT count(*) FROM outbox w WHERE w.depends_on_id = outbox.id AND w.status = 'pending')
  + (SELECT count(*) FROM outbox_dependencies x WHERE x.depends_on_id = outbox.id) AS waiting`;

/** Effects leased in the transaction that wrote them (OutboxDispatcher.leaseInTx). */
export interface WrittenLease {
  /**
   * After the commit: runs them; resolves to whether nothing is left for a claim (every effect the transaction wrote
   * was leased, and no more were free than it could take). Never rejects.
   */
  adopt(): Promise<boolean>;
  /** The transaction did not commit: their slots are free again. */
  release(): void;
}

/**
 * Runs the effects of one `platform` column value. Chat platforms are typed ports (ChatPort,
 * wrapped by `addPort`); Muster's own internal effects (the audit checkpoint recorder) run here too.
 */
export interface EffectRunner {
  readonly platform: string;
  perform(op: string, args: Record<string, unknown>, ctx: PerformContext): Promise<Record<string, unknown>>;
  pace?(op: string, args: Record<string, unknown>, workspaceId: string | null): number | Promise<number>;
  /** Whether the wait `pace` answered for this effect is a booked turn: it is sent at it without asking again (absent: never). */
  booksTurn?(op: string, args: Record<string, unknown>, waitMs: number): boolean;
}

/**
 * Effects written before the neutral op names (work in flight across an upgrade): `respond` (a
 * response_url in `responseUrl`) became `reply` (a reply handle in `to`), `bookmarkMessage` became `bookmark`.
 */
function upgradeLegacy(platform: string, op: string, args: Record<string, unknown>): { op: string; args: Record<string, unknown> } {
  if (op === 'bookmarkMessage') return { op: 'bookmark', args };
  if (op === 'respond' && typeof args.responseUrl === 'string') {
    const { responseUrl, issuedAt, responseType, ...rest } = args;
    return {
      op: 'reply',
      args: { ...rest, to: { platform, handle: responseUrl, issuedAt: typeof issuedAt === 'number' ? issuedAt : 0 }, ...(responseType ? { visibility: responseType } : {}) },
    };
  }
  return { op, args };
}

/** A typed chat port as the dispatcher runs it: the op checked against the effect union, legacy names upgraded. */
function chatRunner(port: ChatPort): EffectRunner {
  const typed = (op: string, args: Record<string, unknown>): PortEffect => {
    const e = upgradeLegacy(port.platform, op, args);
    if (!isEffectOp(e.op)) throw new ChatError(`unknown effect "${op}"`, 'permanent', 'unknown_op');
    // The payload was written from a typed Effect by a service (src/store/outbox.ts) and its references resolved.
    return e as PortEffect;
  };
  return {
    platform: port.platform,
    perform: async (op, args, ctx) => (await port.perform(typed(op, args), ctx)) as Record<string, unknown>,
    pace: port.pace ? (op, args, workspaceId) => port.pace!(typed(op, args), workspaceId) : undefined,
    booksTurn: port.booksTurn ? (op, args, waitMs) => port.booksTurn!(typed(op, args), waitMs) : undefined,
  };
}

/**
 * Draws a named surface as a neutral message (src/services/surfaces.ts) from the records as they are now; the port
 * renders it for its platform. `notBefore` (performance.now() when the effect was claimed): a
 * drawing of the same surface begun at or after it may be shared (it read the records after the change that queued
 * the effect had committed).
 */
export type SurfaceDrawer = (surface: SurfaceRef, o?: { notBefore?: number }) => Promise<Message>;

export type EffectHook = (tx: Tx, ctx: { effect: OutboxRow; result: Record<string, unknown>; data: Record<string, unknown> }) => Promise<void>;

export interface DispatcherOptions {
  owner: string;
  concurrency?: number;
  leaseMs?: number;
  /** Attempts before a failing effect is dead-lettered. Rate-limited attempts do not count. */
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  pollMs?: number;
  /** The longest a database outage is retried with back-off before the loop just keeps polling. */
  maxOutageBackoffMs?: number;
  /** Pacing waits (muster_outbox_pacing_wait_seconds). */
  metrics?: Metrics;
  /** A selection slower than this, ms, makes the next claims walk (SELECTION_SLOW_MS; a test on a loaded machine sets more). */
  selectionSlowMs?: number;
}

/**
 * A selection of every due effect that takes longer than this read many of them: the walk is cheaper from then on (on
 * PostgreSQL the walk costs about 2 ms at any backlog, the selection about 4 ms with a thousand effects due and 30 with
 * ten thousand). Under load a claim's time also holds waits for the server's CPU: 3 ms sent most claims of 100 clicks
 * per second down the walk.
 */
const SELECTION_SLOW_MS = 10;

/** An effect claimed this close before its booked turn counts as at it (the poll and the claim take a little time). */
const TURN_SLACK_MS = 20;

function getPath(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/**
 * How many results of finished effects the dispatcher keeps in memory. It was 10,000: at the soak's traffic (40
 * effects a second) that took four minutes to fill, and its few MB showed as a steady rise in memory over a
 * 10-minute soak.
 */
const RESULTS_KEPT = 1_000;

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
 * parallel; failures back off, a 429 waits for its Retry-After without using up an
 * attempt, and what cannot succeed ends as a dead letter (with the effects that needed
 * its result). A call that succeeded is recorded before its hook runs: a failing hook
 * is retried on its own, never by repeating the call.
 */
export class OutboxDispatcher {
  private readonly ports = new Map<string, EffectRunner>();
  private readonly hooks = new Map<string, EffectHook>();
  private draw?: SurfaceDrawer;
  private readonly opts: Required<Omit<DispatcherOptions, 'metrics'>>;
  private readonly metrics?: Metrics;
  private claiming = false;
  /** Effects whose pacing booked a turn (effect id → when, ms): sent at it without asking the port again. */
  private readonly booked = new Map<number, number>();
  private again = false;
  /**
   * Whether a claim may find an effect this process has not tried to claim yet: set by every kick from outside (new
   * effects committed, the poll, a wake-up for a deferred effect) and by an effect whose end may free others; cleared
   * by a claim that found fewer than it asked for with no kick meanwhile. An effect that ends without freeing any then
   * asks for no claim: on PostgreSQL a claim that finds nothing is still planned and run by the server (about 1.3 ms
   * of its CPU, the largest share of a click's), and most effects free nothing.
   */
  private mayHaveWork = true;
  /**
   * Whether many effects may be due (claimEffects' `backlog`, PostgreSQL): then a claim walks each status in due order
   * and stops at its limit. Set by a walk that came back full (more may wait), and by one selection of every due effect
   * that asked for a whole batch and got it, or took longer than SELECTION_SLOW_MS (it read many); cleared by a walk
   * that came back short. A selection is planned in half the time of a walk, and reads about as few rows as long as few
   * are due. (A selection that fills the one or two slots just freed says little: under load most claims are such.)
   */
  private backlog = true;
  /**
   * Whether the next claim also takes over leases that ran out (claimEffects' `expired`): set by each poll, cleared by
   * the claim that looked. A lease runs out only after leaseMs without its process finishing the effect (it died or
   * hung), so a look a second is soon enough; the claims that effects' ends and writes kick look only for what is due.
   */
  private sweepExpired = true;
  private kicks = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Polling (start): effects a transaction writes may be leased in it for this dispatcher (leaseWritten). */
  private started = false;
  /** Slots held for effects being leased in transactions not yet committed (leaseWritten). */
  private reserved = 0;
  private current: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  /** Ids of the effects this process is performing now. */
  private readonly busy = new Set<number>();
  /**
   * Results of finished effects never change: later effects that use them skip a read. An effect that refers to
   * another's result waits for it to finish (depends_on_id) and is claimed right after, so the last RESULTS_KEPT
   * cover it; one held back longer (paced) reads the result from the database.
   */
  private readonly results = new Map<number, Record<string, unknown>>();
  /** Consecutive failed claims (the database is away): the next claim waits longer. */
  private outage = 0;
  private retryAt = 0;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly log: Logger,
    opts: DispatcherOptions,
  ) {
    const { metrics, ...rest } = opts;
    this.opts = {
      concurrency: 8,
      leaseMs: 60_000,
      maxAttempts: 8,
      baseBackoffMs: 1_000,
      maxBackoffMs: 5 * 60_000,
      pollMs: 1_000,
      maxOutageBackoffMs: 10_000,
      selectionSlowMs: SELECTION_SLOW_MS,
      ...rest,
    };
    this.metrics = metrics;
  }

  /** A chat platform's port. */
  addPort(port: ChatPort): this {
    this.ports.set(port.platform, chatRunner(port));
    return this;
  }

  /** A runner for Muster's own effects (not a chat platform). */
  addRunner(runner: EffectRunner): this {
    this.ports.set(runner.platform, runner);
    return this;
  }

  setDrawer(draw: SurfaceDrawer): this {
    this.draw = draw;
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
    this.mayHaveWork = true;
    this.kicks += 1;
    this.pumpSoon();
  }

  private pumpSoon(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.current = this.pump();
  }

  start(): void {
    this.stopped = false;
    this.started = true;
    const tick = () => {
      this.sweepExpired = true;
      this.kick();
      this.timer = setTimeout(tick, this.opts.pollMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops polling; effects already claimed finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.started = false;
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
      const n = await this.runOnce().catch((e) => {
        this.log.warn({ err: e }, 'outbox drain: claim failed');
        return -1;
      });
      if (n === 0 && this.inflight.size === 0 && !this.claiming) return true;
      if (Date.now() > deadline) return false;
      if (n < 0) await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async pump(): Promise<void> {
    this.claiming = true;
    try {
      // After a failed claim (database away) the next ones wait, up to maxOutageBackoffMs.
      if (Date.now() < this.retryAt) return;
      do {
        this.again = false;
        const free = this.opts.concurrency - this.inflight.size - this.reserved;
        if (free <= 0) break; // a finishing effect (or a lease given back) kicks again
        const kicks = this.kicks;
        const rows = await this.claim(free);
        const claimedAt = performance.now();
        this.outage = 0;
        for (const row of rows) this.track(row.id, this.execute(row, claimedAt));
        if (rows.length === free) this.again = true;
        else if (this.kicks === kicks) this.mayHaveWork = false;
      } while (this.again && !this.stopped);
    } catch (e) {
      this.outage += 1;
      const wait = Math.min(this.opts.maxOutageBackoffMs, 100 * 2 ** Math.min(this.outage, 10));
      this.retryAt = Date.now() + wait;
      this.log.error({ err: e, consecutiveFailures: this.outage, retryInMs: wait }, 'outbox dispatcher could not claim effects (database unavailable?)');
    } finally {
      this.claiming = false;
    }
  }

  /**
   * For the owner of a transaction that writes effects (a command's or click's unit, an effect's hook): call `watch` as
   * it begins, and `lease` as its last statement is sent; the effects it wrote that are free to run are leased in it
   * for this dispatcher, up to its free slots (outbox.ts, leaseWritten), and with `freedBy` (an effect the
   * transaction marked done) the effects that waited for it (`waiting`: how many at most, when known). It holds the
   * slots it may fill until the statement has run: no more than the transaction can free, so that another transaction
   * leasing at the same time (a war room's invitation hook and card hook) is not left without slots for its own. After
   * the commit, `adopt` runs them and resolves to whether nothing is left for a claim (if something may be, the owner
   * kicks one); `release` gives the slots back when it did not commit. Nothing is leased unless the dispatcher is
   * polling (start).
   */
  leaseInTx(tx: Tx, freedBy?: number, waiting?: number): WrittenLease | undefined {
    const slots = this.started && !this.stopped ? this.opts.concurrency - this.inflight.size - this.reserved : 0;
    const leasing = slots > 0 ? leaseWritten(tx, this.clock, this.opts.owner, slots, this.opts.leaseMs, freedBy, waiting) : undefined;
    if (!leasing) return undefined;
    const { take } = leasing;
    this.reserved += take;
    let held = take;
    const giveBack = (n: number) => {
      const k = Math.min(n, held);
      held -= k;
      this.reserved -= k;
      if (k > 0 && this.mayHaveWork) this.pumpSoon();
    };
    // Slots the statement did not fill are given back as soon as it has run.
    const rows = leasing.rows.then(
      (r) => {
        giveBack(held - r.length);
        return r;
      },
      (e: unknown) => {
        giveBack(held);
        throw e;
      },
    );
    rows.catch(() => {}); // the transaction fails with it: its owner sees that error
    return {
      adopt: async () => {
        let r: OutboxRow[];
        try {
          r = await rows;
        } catch {
          return false;
        }
        const claimedAt = performance.now();
        // Slots for in-flight effects now: given back as they are tracked, in the same turn.
        held -= r.length;
        this.reserved -= r.length;
        for (const row of r) this.track(row.id, this.execute(row, claimedAt));
        // Every effect it wrote leased, and the free slots not all filled (so no effect that was free is left): nothing
        // for a claim. An effect it wrote that waits for one still running is started by that one's end (FREES), or by
        // a claim kicked here should that one have ended while this transaction was open (its FREES could not see it).
        return (await leasing.all) && (r.length < take || take < slots);
      },
      release: () => {
        void rows.then(
          (r) => giveBack(r.length),
          () => {},
        );
      },
    };
  }

  /** Starts the list of effects `tx` writes, for `leaseInTx` (outbox.ts, watchWrites). */
  watch(tx: Tx): void {
    if (this.started && !this.stopped) watchWrites(tx);
  }

  /** `p` resolves to whether the effect's end may have freed others (false only when it is known to free none). */
  private track(id: number, p: Promise<boolean | undefined>): void {
    this.busy.add(id);
    let frees = true;
    const tracked: Promise<void> = p
      .then((f) => {
        frees = f !== false;
      })
      .catch((e) => this.log.error({ err: e, effect: id }, 'outbox effect bookkeeping failed; the lease runs out and another attempt follows'))
      .finally(() => {
        this.busy.delete(id);
        this.inflight.delete(tracked);
        // Its slot is free: a claim if there may be work for it (new, or freed by this effect).
        if (frees) this.kick();
        else if (this.mayHaveWork) this.pumpSoon();
      });
    this.inflight.add(tracked);
  }

  /** Claims one batch and runs it; returns how many effects it ran. */
  async runOnce(): Promise<number> {
    this.sweepExpired = true;
    const rows = await this.claim(this.opts.concurrency);
    const claimedAt = performance.now();
    const mine: Promise<unknown>[] = [];
    for (const row of rows) {
      const p = this.execute(row, claimedAt);
      mine.push(p);
      this.track(row.id, p);
    }
    await Promise.allSettled(mine);
    return rows.length;
  }

  private async claim(limit: number): Promise<OutboxRow[]> {
    const walk = this.backlog;
    const expired = this.sweepExpired;
    this.sweepExpired = false;
    const started = performance.now();
    let rows: OutboxRow[];
    try {
      rows = await claimEffects(this.db, this.clock, this.opts.owner, limit, this.opts.leaseMs, this.busy, { backlog: walk, expired });
    } catch (e) {
      // Not looked after all: the next claim does.
      if (expired) this.sweepExpired = true;
      throw e;
    }
    this.backlog = walk ? rows.length === limit : (rows.length === limit && limit >= this.opts.concurrency) || performance.now() - started > this.opts.selectionSlowMs;
    return rows;
  }

  /** Runs one claimed effect; resolves to false when it ended done and nothing waits for it (it frees no other effect). */
  private async execute(row: OutboxRow, claimedAt: number): Promise<boolean | undefined> {
    const log = this.log.child({ effect: row.id, op: row.op, requestId: row.requestId ?? undefined });
    try {
      const payload = JSON.parse(row.payload) as StoredPayload;
      if (row.status === 'hooking') {
        // The call succeeded earlier; only its hook is left.
        await this.finishHook(row, payload, JSON.parse(row.result ?? '{}') as Record<string, unknown>);
        return;
      }
      const port = this.ports.get(row.platform);
      if (!port) throw new ChatError(`no chat port for platform "${row.platform}"`, 'permanent', 'no_port');
      const refs = collectRefs(payload.args, new Set());
      let args = resolveRefs(payload.args, await this.resultsFor([...refs])) as Record<string, unknown>;
      // A number from a limiter in this process, a promise from one held in the database (shared by replicas).
      // An effect back at the turn its pacing booked goes now; any other asks (a replica that did not book it asks again).
      const turn = this.booked.get(row.id);
      if (turn !== undefined) this.booked.delete(row.id);
      const now = this.clock.now().getTime();
      if (turn !== undefined && turn > now + TURN_SLACK_MS) {
        // Back before its booked turn (claimed early: a poll, a clock that jumped): it waits for that turn again,
        // keeping its booking; asking the limiter again would take a second turn for one call.
        this.book(row.id, turn);
        await this.defer(row, turn - now);
        return;
      }
      const due = turn !== undefined;
      const paced = due ? 0 : (port.pace?.(row.op, args, row.workspaceId) ?? 0);
      const paceMs = typeof paced === 'number' ? paced : await paced;
      if (paceMs > 0) {
        if (port.booksTurn?.(row.op, args, paceMs)) this.book(row.id, this.clock.now().getTime() + paceMs);
        await this.defer(row, paceMs);
        return;
      }
      if (args.surface && typeof args.surface === 'object') {
        if (!this.draw) throw new ChatError('no surface drawer', 'permanent', 'no_drawer');
        const { surface, ...rest } = args;
        try {
          args = { ...rest, message: await this.draw(surface as SurfaceRef, { notBefore: claimedAt }) };
        } catch (e) {
          // The record is gone (deleted by hand, say): this effect can never succeed.
          if (e instanceof SurfaceGone) throw new ChatError(e.message, 'permanent', 'record_gone');
          throw e;
        }
      }
      const ctx: PerformContext = { effectId: row.id, uncertain: row.uncertain, createdAt: row.createdAt, workspaceId: row.workspaceId, now: this.clock.now() };
      const result = await port.perform(row.op, args, ctx);
      // The call is on record before anything else can fail: a retry never repeats it.
      const at = this.clock.now();
      if (payload.hook) {
        await this.recordWithHook(row, payload, result, at);
        return;
      }
      const [sql, ...params] = this.doneStatement(row, result, at);
      const [done] = await this.db.write<{ frees: unknown }>(`${sql} RETURNING ${FREES}`, ...params);
      // Lost the lease to another replica: it owns the outcome now.
      if (!done) return;
      this.remember(row.id, result);
      log.debug('effect done');
      return asBool(done.frees);
    } catch (e) {
      await this.fail(row, e, log);
    }
  }

  /**
   * A call with a hook, just made: its result, the effect done and the hook in one transaction, one write where a
   * `hooking` write and then the hook's transaction were two (the war room's channel and card hooks are each between
   * two rounds of Slack calls). Should the hook fail, that transaction rolls back and the result is recorded on its
   * own, as `hook` after a back-off: the call is never repeated, only the hook is tried again (finishHook).
   */
  private async recordWithHook(row: OutboxRow, payload: StoredPayload, result: Record<string, unknown>, at: Date): Promise<void> {
    await this.doneWithHook(row, payload, result, this.doneStatement(row, result, at), result);
  }

  /** The statement that records a call just made as done with its result, if this dispatcher still holds the effect's lease. */
  private doneStatement(row: OutboxRow, result: Record<string, unknown>, at: Date): [string, ...unknown[]] {
    return [`UPDATE outbox SET status = 'done', result = ?, uncertain = ?, last_error = NULL, updated_at = ?, done_at = ? ${LEASED}`, JSON.stringify(result), false, at, at, row.id, this.opts.owner];
  }

  /** Runs the hook of an effect whose call was recorded earlier (`hook`, claimed as `hooking`) and marks the effect done with it. */
  private async finishHook(row: OutboxRow, payload: StoredPayload, result: Record<string, unknown>): Promise<void> {
    const now = this.clock.now();
    await this.doneWithHook(row, payload, result, [
      `UPDATE outbox SET status = 'done', done_at = ?, updated_at = ?, last_error = NULL WHERE id = ? AND status = 'hooking' AND leased_by = ?`,
      now,
      now,
      row.id,
      this.opts.owner,
    ]);
  }

  /**
   * One transaction: the effect marked done (`done`, which changes nothing once another replica holds its lease) and its
   * hook run; what the hook wrote and what waited for the effect leased in it (on PostgreSQL with the COMMIT) and started
   * once it has committed. This effect's end still kicks a claim: a redraw that waited behind it, or for it, is left to
   * one. Should the hook fail, the transaction rolls back and hookFailed keeps the call (`justCalled`: its result, when
   * just made) and tries the hook again later.
   */
  private async doneWithHook(row: OutboxRow, payload: StoredPayload, result: Record<string, unknown>, done: [string, ...unknown[]], justCalled?: Record<string, unknown>): Promise<void> {
    let leased: WrittenLease | undefined;
    let adopting: Promise<boolean> | undefined;
    /** Once the transaction has committed: the call's result kept, and what the transaction leased started. */
    const committed = () => {
      this.remember(row.id, result);
      adopting = leased?.adopt();
      leased = undefined;
    };
    try {
      await this.db.tx(async (tx) => {
        this.watch(tx);
        const sql = sqlOf(tx);
        // The done mark goes with the hook's first statement (laterAll: on PostgreSQL no round trip of its own; the
        // war room's channel and card hooks are each between two rounds of Slack calls). Whether it held is known
        // before anything is committed: a lease lost to another replica, which owns the outcome now, rolls back what
        // the hook wrote.
        const [statement, ...params] = done;
        const marked = sql.laterAll<{ id: unknown; waiting: number | bigint }>(`${statement} RETURNING id, ${WAITING}`, ...params);
        marked.catch(() => {}); // fails the statement it goes with, and the transaction: seen there
        await this.runHook(tx, { ...row, status: 'hooking' }, payload, result);
        await sql.flush?.();
        const [mark, ...more] = await marked;
        if (!mark || more.length) throw LEASE_LOST;
        leased = this.leaseInTx(tx, row.id, Number(mark.waiting));
        if (leased) await sql.batch?.(['COMMIT']);
        // On PostgreSQL that COMMIT has ended the transaction: what it leased starts now rather than once Prisma has
        // closed its transaction (as Kernel.run does; the war room's channel and card hooks are on its critical path).
        if (leased && sql.committed?.()) committed();
      });
    } catch (e) {
      leased?.release();
      if (e !== LEASE_LOST) await this.hookFailed(row, payload, e, justCalled);
      return;
    }
    if (!adopting) committed();
    await adopting;
  }

  private async runHook(tx: Tx, row: OutboxRow, payload: StoredPayload, result: Record<string, unknown>): Promise<void> {
    const hook = this.hooks.get(payload.hook!.name);
    if (!hook) this.log.warn({ hook: payload.hook!.name, effect: row.id }, 'no handler registered for effect hook');
    else await hook(tx, { effect: row, result, data: payload.hook!.data ?? {} });
  }

  /**
   * The hook failed and its transaction rolled back: the call is done and kept (with its result when it was just
   * made: `justCalled`), and only the hook is tried again, after a back-off.
   */
  private async hookFailed(row: OutboxRow, payload: StoredPayload, e: unknown, justCalled?: Record<string, unknown>): Promise<void> {
    const now = this.clock.now().getTime();
    const message = `hook ${payload.hook!.name}: ${(e as Error)?.message ?? String(e)}`.slice(0, 2000);
    const backoff = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** Math.min(row.attempts, 10));
    this.log.warn({ err: message, effect: row.id }, 'effect hook failed; the call is kept and only the hook is retried');
    const kept = justCalled
      ? await this.db.run(
          `UPDATE outbox SET status = 'hook', result = ?, uncertain = ?, last_error = ?, lease_until = NULL, next_attempt_at = ?, attempts = attempts + 1, updated_at = ? ${LEASED}`,
          JSON.stringify(justCalled),
          false,
          message,
          new Date(now + backoff),
          new Date(now),
          row.id,
          this.opts.owner,
        )
      : await this.db.run(
          `UPDATE outbox SET status = 'hook', last_error = ?, lease_until = NULL, next_attempt_at = ?, attempts = attempts + 1, updated_at = ?
             WHERE id = ? AND status = 'hooking' AND leased_by = ?`,
          message,
          new Date(now + backoff),
          new Date(now),
          row.id,
          this.opts.owner,
        );
    if (kept === 1 && justCalled) this.remember(row.id, justCalled);
    this.wakeIn(backoff);
  }

  /** Remembers the turn an effect's pacing booked (forgetting turns long past: effects another replica took). */
  private book(id: number, at: number): void {
    if (this.booked.size >= 10_000) {
      const stale = this.clock.now().getTime() - this.opts.leaseMs;
      for (const [k, t] of this.booked) if (t < stale) this.booked.delete(k);
    }
    this.booked.set(id, at);
  }

  /** Puts an effect back without using up an attempt: it runs when the platform's budget allows. */
  private async defer(row: OutboxRow, waitMs: number): Promise<void> {
    this.metrics?.outboxPacingWait.observe({ platform: row.platform, op: row.op }, waitMs / 1000);
    const now = this.clock.now().getTime();
    await this.db.run(
      `UPDATE outbox SET status = 'pending', lease_until = NULL, next_attempt_at = ?, attempts = attempts - 1, updated_at = ? ${LEASED}`,
      new Date(now + waitMs),
      new Date(now),
      row.id,
      this.opts.owner,
    );
    this.wakeIn(waitMs);
  }

  private wakeIn(ms: number): void {
    if (!this.stopped && ms < this.opts.pollMs) setTimeout(() => this.kick(), ms + 5).unref();
  }

  private remember(id: number, result: Record<string, unknown>): void {
    if (this.results.size >= RESULTS_KEPT) this.results.delete(this.results.keys().next().value!);
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
    const message = `${err.code ? `${err.code}: ` : ''}${err.message}`.slice(0, 2000);
    if (err.kind === 'rate_limited') {
      // A 429 is not a failure: wait for Retry-After, spend no attempt, never dead-letter for it.
      const wait = err.retryAfterMs ?? 1_000;
      await this.db.run(
        `UPDATE outbox SET status = 'pending', last_error = ?, lease_until = NULL, next_attempt_at = ?, attempts = attempts - 1,
                rate_limited = rate_limited + 1, updated_at = ? ${LEASED}`,
        message,
        new Date(now + wait),
        new Date(now),
        row.id,
        this.opts.owner,
      );
      log.info({ retryInMs: wait }, 'effect rate limited; waiting for Retry-After');
      this.wakeIn(wait);
      return;
    }
    const exhausted = err.kind === 'permanent' || row.attempts >= this.opts.maxAttempts;
    const backoff = Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** Math.max(0, row.attempts - 1));
    // Did the platform perhaps do it? A definite refusal says no; a timeout or a 5xx cannot say.
    const uncertain = row.uncertain || err.outcomeUnknown === true;
    if (exhausted) {
      await this.db.tx(async (tx) => {
        const moved = await tx.outboxEffect.updateMany({
          where: { id: row.id, status: 'running', leasedBy: this.opts.owner },
          data: { status: 'dead', lastError: message, leaseUntil: null, uncertain, updatedAt: new Date(now) },
        });
        if (moved.count === 1) {
          const dependents = await cascadeDead(tx, this.clock, row.id);
          if (dependents.length) log.error({ dependents }, 'effects that needed this one are dead-lettered with it');
        }
      });
    } else {
      await this.db.run(
        `UPDATE outbox SET status = 'pending', last_error = ?, lease_until = NULL, uncertain = ?, next_attempt_at = ?, updated_at = ? ${LEASED}`,
        message,
        uncertain,
        new Date(now + backoff),
        new Date(now),
        row.id,
        this.opts.owner,
      );
    }
    if (exhausted) log.error({ err: message, attempts: row.attempts }, 'effect moved to dead letters');
    else {
      log.warn({ err: message, attempts: row.attempts, retryInMs: backoff }, 'effect failed; will retry');
      this.wakeIn(backoff);
    }
  }
}
