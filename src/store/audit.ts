import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';
import { CHAIN_COLUMNS, entryHash, fromArray, storedTime, type AuditRow } from './auditChain.ts';
import type { RangeRequest, RangeResult, VerifyWorkerData } from './auditVerifyWorker.ts';
import { marks, sqlOf, sqlitePath, type Database, type Tx } from './db.ts';
import type { Clock } from '../domain/clock.ts';
import { AuditKeyError, type AuditKey, type AuditKeyring } from './auditKeys.ts';
import { checkpointForgery, recordCheckpoint, type ChatChannel, type Checkpoint, type CheckpointReason, type FoundCheckpoint } from './auditCheckpoints.ts';

export { entryHash, type AuditRow } from './auditChain.ts';

export const GENESIS_HASH = '0'.repeat(64);
// pg_advisory_xact_lock key that serialises appends to the one chain.
const CHAIN_LOCK = 0x6d757374; // "must"

export type AuditOutcome = 'ok' | 'denied' | 'error';

export interface AuditInput {
  workspaceId?: string | null;
  actorId: string;
  actorName?: string | null;
  platform: string;
  action: string;
  outcome?: AuditOutcome;
  subjectType?: string | null;
  subjectId?: string | null;
  before?: unknown;
  after?: unknown;
  reason?: string | null;
  flags?: string[];
  requestId?: string | null;
}

/** JSON with object keys sorted, so the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

const toText = (v: unknown) => (v === undefined || v === null ? null : canonicalJson(v));

export interface AuditLogOptions {
  keyring: AuditKeyring;
  checkpoints?: {
    /** A checkpoint whenever an append crosses a multiple of this many entries (policy audit.checkpointEvery). */
    every: number;
    /** Where checkpoints are posted (policy audit.channel, on a chat platform); the log always gets them. */
    channel?: ChatChannel;
  };
}

/** The newest entry of the chain as the head's SELECT returns it (either database's driver types). */
type ChainHead = { seq: number | bigint; hash: string; key_id: string | null };

export class AuditLog {
  constructor(
    private readonly provider: Database['provider'],
    private readonly clock: Clock,
    private readonly options: AuditLogOptions,
  ) {}

  get keyring(): AuditKeyring {
    return this.options.keyring;
  }

  private async lockChain(tx: Tx): Promise<void> {
    // Concurrent writers on PostgreSQL queue here, so the chain never forks. (SQLite has one writer.)
    if (this.provider === 'postgresql') await sqlOf(tx).run(`SELECT pg_advisory_xact_lock(${CHAIN_LOCK})`);
  }

  /**
   * Takes the chain's lock (PostgreSQL) and reads its head. On PostgreSQL both go in one round trip: the lock is held
   * until the transaction commits, and every writing transaction queues for it, so each wait for the network and the
   * event loop while holding it is paid by all of them. The head is read by a statement that starts once the lock is
   * held, so it sees every entry appended before.
   */
  private async lockedHead(tx: Tx): Promise<ChainHead | undefined> {
    const sql = sqlOf(tx);
    const head = 'SELECT seq, hash, key_id FROM audit_entries ORDER BY seq DESC LIMIT 1';
    if (this.provider === 'postgresql' && sql.batch) {
      const [, rows] = await sql.batch([`SELECT pg_advisory_xact_lock(${CHAIN_LOCK})`, head]);
      return rows![0] as ChainHead | undefined;
    }
    await this.lockChain(tx);
    const [row] = await sql.all<ChainHead>(head);
    return row;
  }

  /**
   * Appends entries to the chain inside the caller's transaction. `commit`: the caller's transaction ends with this
   * append (nothing of it follows): on PostgreSQL the entries and the COMMIT then go in one round trip, so the chain's
   * lock, which every writing transaction queues for, is released without waiting for this process's event loop.
   */
  async append(tx: Tx, inputs: AuditInput | AuditInput[], o: { commit?: boolean } = {}): Promise<AuditRow[]> {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (list.length === 0) return [];
    const key = this.keyring.current;
    const sql = sqlOf(tx);
    const head = await this.lockedHead(tx);
    const last = head ? { seq: Number(head.seq), hash: head.hash, keyId: head.key_id } : undefined;
    if (last?.keyId && !this.keyring.get(last.keyId)) {
      // Another process rotated to a key this one does not have. Writing on with the old
      // key would make entries that verification rejects (a retired key cannot add entries).
      throw new AuditKeyError(`the audit chain is keyed with ${last.keyId} since entry ${last.seq}, which this process does not have: ` + 'restart it with the current MUSTER_AUDIT_KEY');
    }
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const createdAt = this.clock.now();
    const rows: AuditRow[] = [];
    for (const input of list) {
      seq += 1;
      const base: Omit<AuditRow, 'hash' | 'keyId'> = {
        seq,
        workspaceId: input.workspaceId ?? null,
        actorId: input.actorId,
        actorName: input.actorName ?? null,
        platform: input.platform,
        action: input.action,
        outcome: input.outcome ?? 'ok',
        subjectType: input.subjectType ?? null,
        subjectId: input.subjectId ?? null,
        before: toText(input.before),
        after: toText(input.after),
        reason: input.reason ?? null,
        flags: input.flags && input.flags.length ? input.flags.join(',') : null,
        requestId: input.requestId ?? null,
        createdAt,
        prevHash,
      };
      const row = { ...base, hash: entryHash(base, key), keyId: key.id };
      rows.push(row);
      prevHash = row.hash;
    }
    const every = this.options.checkpoints?.every;
    const checkpointDue = Boolean(every && Math.floor((last?.seq ?? 0) / every) < Math.floor(seq / every));
    // One statement for the batch (every command and click appends): raw, as each database's driver writes it.
    const insert = `INSERT INTO audit_entries (${CHAIN_COLUMNS}) VALUES ${rows.map(() => CHAIN_PLACEHOLDERS).join(', ')}`;
    const params = rows.flatMap((r) => [
      r.seq,
      r.workspaceId,
      r.actorId,
      r.actorName,
      r.platform,
      r.action,
      r.outcome,
      r.subjectType,
      r.subjectId,
      r.before,
      r.after,
      r.reason,
      r.flags,
      r.requestId,
      r.createdAt,
      r.prevHash,
      r.hash,
      r.keyId,
    ]);
    if (o.commit && !checkpointDue && sql.batch) {
      await sql.batch([{ sql: insert, params }, 'COMMIT']);
      return rows;
    }
    await sql.run(insert, ...params);
    if (checkpointDue) await this.checkpoint(tx, { seq, hash: prevHash }, 'every');
    return rows;
  }

  private checkpoint(tx: Tx, head: { seq: number; hash: string }, reason: CheckpointReason): Promise<Checkpoint | undefined> {
    return recordCheckpoint(tx, this.clock, this.keyring.current, head, reason, this.options.checkpoints?.channel);
  }

  /**
   * At start-up: when the newest entry was made with another key (or none), records the
   * switch to the current key as an entry of its own, and checkpoints it. The retired key
   * stays needed (MUSTER_AUDIT_PREVIOUS_KEYS) to verify what it made.
   */
  async sealKey(db: Database): Promise<{ from: string | null; to: string; seq: number } | undefined> {
    return db.tx(async (tx) => {
      await this.lockChain(tx);
      const last = await tx.auditEntry.findFirst({ orderBy: { seq: 'desc' }, select: { keyId: true } });
      const to = this.keyring.current.id;
      if (!last || last.keyId === to) return undefined;
      const [row] = await this.append(tx, {
        actorId: 'system',
        actorName: 'Muster',
        platform: 'muster',
        action: 'audit.key.rotated',
        subjectType: 'audit',
        subjectId: 'chain',
        before: { keyId: last.keyId },
        after: { keyId: to },
        reason: last.keyId ? 'MUSTER_AUDIT_KEY changed' : 'the chain is keyed from this entry on',
      });
      await this.checkpoint(tx, { seq: row!.seq, hash: row!.hash }, 'key-rotated');
      return { from: last.keyId, to, seq: row!.seq };
    });
  }

  /**
   * The periodic checkpoint: signs the head if it moved since the last one. Returns what it
   * found, so the caller can raise the alarm when the head is behind a published checkpoint.
   */
  async checkpointIfMoved(tx: Tx, reason: CheckpointReason): Promise<{ checkpoint?: Checkpoint; head?: number; lastPublished?: number }> {
    await this.lockChain(tx);
    const head = await tx.auditEntry.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true, hash: true } });
    const published = await tx.auditCheckpoint.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true, hash: true } });
    const out = { head: head?.seq, lastPublished: published?.seq };
    if (!head || (published && published.seq === head.seq && published.hash === head.hash)) return out;
    return { ...out, checkpoint: await this.checkpoint(tx, head, reason) };
  }
}

export interface VerifyResult {
  ok: boolean;
  /** Entries that verified, from the first on. */
  checked: number;
  lastHash: string;
  firstBad?: { seq: number; problem: string };
  /** Entries without a key id at the start of the chain (written before keying). */
  legacy: number;
  /** Key ids that made entries, oldest first. */
  keyIds: string[];
  /** The newest entry present (verified or not). */
  head?: { seq: number; hash: string };
}

export interface CheckpointReport {
  checked: number;
  /** The newest checkpoint still on the chain. */
  newestOnChain?: FoundCheckpoint;
  forged: { checkpoint: FoundCheckpoint | { source: string; text: string }; why: string }[];
  problems: string[];
}

export interface TrailResult extends VerifyResult {
  checkpoints: CheckpointReport;
}

/** Rows per page when the whole chain is read (verify, export): few round trips, and a page is a few MB at most. */
export const CHAIN_PAGE = 5000;

interface RawAuditRow {
  seq: number | bigint;
  workspace_id: string | null;
  actor_id: string;
  actor_name: string | null;
  platform: string;
  action: string;
  outcome: string;
  subject_type: string | null;
  subject_id: string | null;
  before: string | null;
  after: string | null;
  reason: string | null;
  flags: string | null;
  request_id: string | null;
  created_at: Date | string | number;
  prev_hash: string;
  hash: string;
  key_id: string | null;
}

/** A row as Prisma's model reads it (the same fields in the same order, so an export is the same either way). */
function fromRaw(r: RawAuditRow): AuditRow {
  return {
    seq: Number(r.seq),
    workspaceId: r.workspace_id,
    actorId: r.actor_id,
    actorName: r.actor_name,
    platform: r.platform,
    action: r.action,
    outcome: r.outcome,
    subjectType: r.subject_type,
    subjectId: r.subject_id,
    before: r.before,
    after: r.after,
    reason: r.reason,
    flags: r.flags,
    requestId: r.request_id,
    createdAt: storedTime(r.created_at),
    prevHash: r.prev_hash,
    hash: r.hash,
    keyId: r.key_id,
  };
}

const CHAIN_PLACEHOLDERS = `(${marks(CHAIN_COLUMNS.split(','))})`;

/**
 * The whole chain in seq order, one page at a time: keyset pagination (seq > the last one seen, on the primary key)
 * in raw SQL, so that each page costs one indexed range read and no per-row model mapping (findMany's, about
 * two thirds of the time on a long trail). Only one page is held at a time. A SQLite file is read through a
 * read-only connection of its own, which hands back plain rows without the adapter's conversions (a third less
 * time again); each page is one statement, so no read stays open across pages.
 */
async function* chainPages(db: Database, batch: number): AsyncGenerator<AuditRow[]> {
  const size = Math.max(1, Math.floor(batch));
  const sql = `SELECT ${CHAIN_COLUMNS} FROM audit_entries WHERE seq > ${db.provider === 'postgresql' ? '$1' : '?'} ORDER BY seq LIMIT ${size}`;
  const file = db.provider === 'sqlite' ? sqlitePath(db.url) : ':memory:';
  if (file !== ':memory:') {
    const conn = new Sqlite(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
    try {
      // Rows as arrays, in CHAIN_COLUMNS order (no object per row from the driver).
      const page = conn.prepare<[number], unknown[]>(sql).raw(true);
      let after = 0;
      for (;;) {
        const rows = page.all(after).map(fromArray);
        if (rows.length === 0) return;
        after = rows[rows.length - 1]!.seq;
        yield rows;
      }
    } finally {
      conn.close();
    }
  }
  let after = 0;
  for (;;) {
    const raw = await db.read((tx) => tx.$queryRawUnsafe<RawAuditRow[]>(sql, after));
    if (raw.length === 0) return;
    const rows = raw.map(fromRaw);
    after = rows[rows.length - 1]!.seq;
    yield rows;
  }
}

/** What the chain walk needs of an entry: the whole row (its hash recomputed in the walk), or a worker's answer for it. */
type WalkRow = AuditRow | (Pick<AuditRow, 'seq' | 'prevHash' | 'hash' | 'keyId'> & { hashOk: boolean });

const hashMatches = (row: WalkRow, key: AuditKey | null): boolean => ('hashOk' in row ? row.hashOk : entryHash(row, key) === row.hash);

/** How verify spreads the hashing over worker threads (SQLite files only); the defaults suit the CLI. */
export interface ParallelVerify {
  /** worker threads (default verifyThreads()); 0: the main thread alone */
  threads?: number;
  /** a trail whose newest seq is below this is verified in the main thread, where starting the workers would cost
   * more than they save (default 50,000) */
  from?: number;
  /** the seq range a worker reads and hashes per request (default 5,000: a larger one held more memory in flight for no gain) */
  range?: number;
}

/** How many worker threads verify a SQLite trail: one per CPU up to 4; none on one CPU. */
export function verifyThreads(): number {
  const cpus = availableParallelism();
  return cpus < 2 ? 0 : Math.min(cpus, 4);
}

/**
 * The pages the chain walk of verifyAudit reads. A SQLite file whose newest seq is at least `from` is hashed by worker
 * threads (auditVerifyWorker.ts): the workers take seq ranges in turn, each on a read-only connection of its own, and
 * the ranges are handed to the walk in seq order, so the walk sees what chainPages would give it, with the hashes
 * already checked. Rows appended while it runs are read too: when the ranges reach the newest seq, the newest seq is
 * read again. Recomputing the hashes is most of verify's time; on two CPUs the workers take about half as long
 * (docs/scaling.md). Anything else (PostgreSQL, a short trail, no threads) is read by chainPages.
 */
async function* walkPages(db: Database, keyring: AuditKeyring, batch: number, p: ParallelVerify): AsyncGenerator<WalkRow[]> {
  const threads = p.threads ?? verifyThreads();
  const file = db.provider === 'sqlite' ? sqlitePath(db.url) : ':memory:';
  if (file === ':memory:' || threads < 1) {
    yield* chainPages(db, batch);
    return;
  }
  const conn = new Sqlite(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  const workers: VerifyWorker[] = [];
  try {
    const newest = conn.prepare<[], number | null>('SELECT MAX(seq) FROM audit_entries').pluck();
    let top = Number(newest.get() ?? 0);
    if (top < (p.from ?? 50_000)) {
      conn.close();
      yield* chainPages(db, batch);
      return;
    }
    const range = Math.max(1, Math.floor(p.range ?? 5_000));
    const start = verifyWorkerStarter();
    const data: VerifyWorkerData = { file, keys: keyring.ids.map((id) => ({ id, secret: keyring.get(id)!.secret })) };
    for (let i = 0; i < threads; i++) workers.push(verifyWorker(start(data)));
    const queue: Promise<RangeResult>[] = [];
    let dispatched = 0;
    let turn = 0;
    const fill = () => {
      while (queue.length < threads * 2) {
        if (dispatched >= top) top = Number(newest.get() ?? 0);
        if (dispatched >= top) return;
        const lo = dispatched;
        dispatched = Math.min(top, lo + range);
        queue.push(workers[turn++ % threads]!.range(lo, dispatched));
      }
    };
    fill();
    while (queue.length > 0) {
      const r = await queue.shift()!;
      fill();
      const rows: WalkRow[] = new Array(r.seq.length);
      for (let i = 0; i < rows.length; i++) rows[i] = { seq: r.seq[i]!, prevHash: r.prevHash[i]!, hash: r.hash[i]!, keyId: r.keyId[i]!, hashOk: r.hashOk[i] === 1 };
      if (rows.length > 0) yield rows;
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    if (conn.open) conn.close();
  }
}

/**
 * How a verify worker thread is started, worked out once per verify. Compiled (dist/), the worker is
 * dist/auditVerifyWorker.js next to the bundle; from the sources (tests, the CLI through tsx) it is
 * auditVerifyWorker.ts, loaded through tsx registered in the thread itself (Node 20 does not pass --import on to
 * worker threads).
 */
function verifyWorkerStarter(): (data: VerifyWorkerData) => Worker {
  const built = new URL('./auditVerifyWorker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return (data) => new Worker(built, { workerData: data });
  // tsx's ESM entry (its CommonJS one cannot register hooks from a thread), by its package.json exports.
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  const exported = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api']!.import.default;
  const tsx = pathToFileURL(join(dirname(pkg), exported)).href;
  const source = new URL('./auditVerifyWorker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(source)}); })`;
  return (data) => new Worker(boot, { eval: true, workerData: data });
}

interface VerifyWorker {
  range(lo: number, hi: number): Promise<RangeResult>;
  stop(): Promise<void>;
}

/** Requests to one worker thread, answered by id. */
function verifyWorker(worker: Worker): VerifyWorker {
  const waiting = new Map<number, { resolve: (r: RangeResult) => void; reject: (e: Error) => void }>();
  let failed: Error | undefined;
  const failAll = (e: Error) => {
    failed ??= e;
    for (const w of waiting.values()) w.reject(failed);
    waiting.clear();
  };
  worker.on('message', (r: RangeResult) => {
    const w = waiting.get(r.id);
    waiting.delete(r.id);
    if (r.error) w?.reject(new Error(`audit verify: a worker could not read the trail: ${r.error}`));
    else w?.resolve(r);
  });
  worker.on('error', (e) => failAll(e));
  worker.on('exit', (code) => failAll(new Error(`audit verify: a worker thread stopped (exit ${code})`)));
  let next = 0;
  return {
    range(lo, hi) {
      if (failed) return Promise.reject(failed);
      const id = next++;
      return new Promise<RangeResult>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, lo, hi } satisfies RangeRequest);
      });
    },
    async stop() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}

const short = (hash: string) => hash.slice(0, 12);
const entries = (from: number, to: number, verb: 'are' | 'were') => (from === to ? `entry ${from} ${verb === 'are' ? 'is' : 'was'}` : `entries ${from}..${to} ${verb}`);
const describe = (c: FoundCheckpoint) => `checkpoint seq=${c.seq} of ${c.at} (${c.source})`;

/**
 * Walks the whole chain in batches. Each entry must follow the one before it and match
 * its hash under the key it names; legacy (unkeyed) entries are accepted only before the
 * first keyed one, and a key the chain moved away from cannot make later entries. With
 * checkpoints, each genuine one must still be on the chain: the entry at its seq exists
 * and has its hash. The first bad entry is named, and each contradicted checkpoint names
 * the range it covers.
 */
export async function verifyAudit(
  db: Database,
  keyring: AuditKeyring,
  o: { checkpoints?: FoundCheckpoint[]; malformed?: { source: string; text: string }[]; batch?: number; parallel?: ParallelVerify } = {},
): Promise<TrailResult> {
  const batch = o.batch ?? CHAIN_PAGE;
  const report: CheckpointReport = { checked: 0, forged: [], problems: [] };
  for (const m of o.malformed ?? []) {
    report.forged.push({ checkpoint: m, why: 'the line carries the checkpoint tag but is not a whole checkpoint' });
  }
  // Genuine checkpoints, oldest first; copies of the same one count once.
  const seen = new Map<string, FoundCheckpoint>();
  for (const c of o.checkpoints ?? []) {
    const why = checkpointForgery(keyring, c);
    if (why) report.forged.push({ checkpoint: c, why });
    else if (!seen.has(`${c.seq}:${c.hash}`)) seen.set(`${c.seq}:${c.hash}`, c);
  }
  const pending = [...seen.values()].sort((a, b) => a.seq - b.seq);
  let next = 0;
  let lastMatch: FoundCheckpoint | undefined;

  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  let legacy = 0;
  let firstBad: VerifyResult['firstBad'];
  let head: VerifyResult['head'];
  const keyIds: string[] = [];
  /** Keys the chain has moved away from, with the entry where it did. */
  const retired = new Map<string, number>();
  for await (const rows of walkPages(db, keyring, batch, o.parallel ?? {})) {
    for (const row of rows) {
      head = { seq: row.seq, hash: row.hash };
      if (!firstBad) {
        const problem = entryProblem(row, expectedSeq, prevHash, keyring, keyIds, retired);
        if (problem) firstBad = { seq: Math.min(row.seq, expectedSeq), problem };
        else {
          if (row.keyId === null) legacy += 1;
          prevHash = row.hash;
          expectedSeq += 1;
          checked += 1;
        }
      }
      for (; next < pending.length && pending[next]!.seq <= row.seq; next++) {
        const c = pending[next]!;
        report.checked += 1;
        const from = (lastMatch?.seq ?? 0) + 1;
        if (c.seq < row.seq) report.problems.push(`entry ${c.seq} is missing, but ${describe(c)} covers it`);
        else if (c.hash === row.hash) lastMatch = c;
        else {
          report.problems.push(
            `${entries(from, c.seq, 'were')} altered: entry ${c.seq} has hash ${short(row.hash)}…, ${describe(c)} says ${short(c.hash)}…` +
              (lastMatch ? ` (the last checkpoint still on the chain is seq=${lastMatch.seq})` : ''),
          );
        }
      }
    }
  }
  if (next < pending.length) {
    const newest = pending[pending.length - 1]!;
    report.checked += pending.length - next;
    report.problems.push(
      `${entries((head?.seq ?? 0) + 1, newest.seq, 'are')} missing: the trail was truncated ` + `(${describe(newest)} is not on the chain, whose newest entry is ${head?.seq ?? 'none'})`,
    );
  }
  if (!firstBad && checked > 0 && keyIds.length === 0) {
    firstBad = {
      seq: 1,
      problem: 'no entry is keyed, so nothing proves who wrote the chain ' + '(a rewrite without the key looks like this; a chain from before keying is sealed at the next start of Muster)',
    };
  }
  report.newestOnChain = lastMatch;
  const ok = !firstBad && report.problems.length === 0 && report.forged.length === 0;
  return { ok, checked, lastHash: prevHash, legacy, keyIds, head, ...(firstBad ? { firstBad } : {}), checkpoints: report };
}

function entryProblem(row: WalkRow, expectedSeq: number, prevHash: string, keyring: AuditKeyring, keyIds: string[], retired: Map<string, number>): string | undefined {
  if (row.seq !== expectedSeq) return `entry ${expectedSeq} is missing (next present is ${row.seq})`;
  if (row.prevHash !== prevHash) return 'prev_hash does not match the hash of the entry before it';
  // entryHash reads only the hashed fields, so the row is passed as it is (no copy without hash and keyId per entry).
  const { keyId } = row;
  if (keyId === null) {
    if (keyIds.length > 0) return 'it has no key id, yet it comes after keyed entries (legacy entries only come first): it was forged or rewritten';
    return hashMatches(row, null) ? undefined : 'content does not match its hash (the entry was altered)';
  }
  const key = keyring.get(keyId);
  if (!key) return `it was made with key ${keyId}, which is not among the known keys: add that key to MUSTER_AUDIT_PREVIOUS_KEYS, or the entry was forged`;
  const since = retired.get(keyId);
  if (since !== undefined) return `it was made with key ${keyId}, which the chain had moved away from at entry ${since}: a retired key cannot add entries`;
  if (!hashMatches(row, key)) return 'content does not match its hash (the entry was altered)';
  const previous = keyIds.at(-1);
  if (previous !== undefined && previous !== keyId) retired.set(previous, row.seq);
  if (previous !== keyId) keyIds.push(keyId);
  return undefined;
}

/** The chain alone (no checkpoints): see verifyAudit. */
export function verifyChain(db: Database, keyring: AuditKeyring, batch = CHAIN_PAGE): Promise<VerifyResult> {
  return verifyAudit(db, keyring, { batch });
}

export interface AuditQuery {
  workspaceId?: string;
  subjectType?: string;
  subjectId?: string;
  limit?: number;
}

export async function recentEntries(db: Database, q: AuditQuery): Promise<AuditRow[]> {
  const rows = await db.read((tx) =>
    tx.auditEntry.findMany({
      where: {
        ...(q.workspaceId ? { workspaceId: q.workspaceId } : {}),
        ...(q.subjectType ? { subjectType: q.subjectType } : {}),
        ...(q.subjectId ? { subjectId: q.subjectId } : {}),
      },
      orderBy: { seq: 'desc' },
      take: q.limit ?? 20,
    }),
  );
  return rows as AuditRow[];
}

export const EXPORT_COLUMNS = [
  'seq',
  'createdAt',
  'workspaceId',
  'platform',
  'actorId',
  'actorName',
  'action',
  'outcome',
  'subjectType',
  'subjectId',
  'before',
  'after',
  'reason',
  'flags',
  'requestId',
  'prevHash',
  'hash',
  'keyId',
] as const;

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Streams the chain in order as CSV (RFC 4180) or a JSON array, one write per page. When `write` returns a promise
 * (the CLI's resolves once the chunk is flushed to stdout), the next page is read only after it settles: however
 * slow the reader, at most one page is held in memory.
 */
export async function exportAudit(db: Database, format: 'csv' | 'json', write: (chunk: string) => unknown, batch = CHAIN_PAGE): Promise<number> {
  let n = 0;
  await write(format === 'csv' ? `${EXPORT_COLUMNS.join(',')}\r\n` : '[');
  for await (const rows of chainPages(db, batch)) {
    let chunk = '';
    for (const r of rows) {
      if (format === 'csv') chunk += `${EXPORT_COLUMNS.map((c) => csvCell(r[c])).join(',')}\r\n`;
      else chunk += `${n ? ',' : ''}\n  ${JSON.stringify({ ...r, createdAt: r.createdAt.toISOString() })}`;
      n += 1;
    }
    await write(chunk);
  }
  if (format === 'json') await write(n ? '\n]\n' : ']\n');
  return n;
}
