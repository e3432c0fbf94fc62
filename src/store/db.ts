import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
// Types only: each database's client and driver adapter are loaded when a database of that kind is opened
// (openDatabase), so a process keeps one of them in memory, not both (about 12 MB each with its driver).
import type { PrismaPg } from '@prisma/adapter-pg';
import type { PrismaClient as PgClient } from './generated/postgresql/client.ts';
import type { Prisma } from './generated/postgresql/client.ts';
import { statementKind, type Metrics } from '../metrics.ts';
import { startWalCheckpointer, type WalCheckpointer } from './walCheckpointer.ts';

export type Provider = 'sqlite' | 'postgresql';

/**
 * Both generated clients expose the same model API (the schema stays in the subset the
 * two providers share), so the repositories are typed against one of them.
 */
export type Client = InstanceType<typeof PgClient>;
export type Tx = Prisma.TransactionClient;

export interface Database {
  readonly provider: Provider;
  readonly url: string;
  readonly client: Client;
  /**
   * Runs `fn` in one transaction. On SQLite every statement on Prisma's connection goes through
   * here: the adapter shares one connection, and a statement issued outside a transaction while
   * another is open would join it (reads outside transactions use `query`, on a connection of its own).
   * On SQLite Muster runs the transaction itself (sqliteTransactions); on PostgreSQL it is Prisma's.
   */
  tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * One raw SELECT (`?` placeholders) of committed data, outside any transaction: on SQLite through a read-only
   * connection of its own with its statements prepared once, which neither waits for a transaction of Prisma's
   * connection nor joins one (a statement sent on that connection while a transaction is open reads inside it,
   * uncommitted writes included); on PostgreSQL one statement from the adapter's pool, sent directly (pgSql).
   */
  query<T>(sql: string, ...params: unknown[]): Promise<T[]>;
  /**
   * One raw write statement (`?` placeholders) committed on its own, outside any transaction; resolves to the rows it
   * changed. For the bookkeeping of the outbox (an effect deferred, failed, rate-limited), where a transaction of Prisma's would
   * cost ten times the statement. On SQLite it runs, prepared once, on the writer connection when no transaction is
   * open on it, or as soon as the open one ends (a statement sent while one is open would join it); on PostgreSQL it is
   * one statement from the pool. Never inside a `tx` callback: on SQLite it would wait for that very transaction.
   */
  run(sql: string, ...params: unknown[]): Promise<number>;
  /**
   * One raw write statement with RETURNING, committed on its own; resolves to the rows it returns. On PostgreSQL one
   * statement from the pool (no BEGIN, no COMMIT: one round trip); on SQLite as `run` runs it (committed with the
   * other writes of its turn of the event loop). Never inside a `tx` callback.
   */
  write<T>(sql: string, ...params: unknown[]): Promise<T[]>;
  /**
   * The outbox claim: one raw write statement with RETURNING, committed on its own, as `write` runs it. On PostgreSQL it
   * goes to a connection of its own (PG_CLAIM_SESSION), where the server plans it anew on every run, from the outbox as
   * it is then. Effects are claimed however busy the pool is with requests.
   */
  claim<T>(sql: string, ...params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * Set on each of Muster's PostgreSQL connections: no JIT compilation. The server compiles a statement whose estimated
 * cost is above jit_above_cost, which its documentation says pays off for long analytical queries and costs short ones
 * more than it saves; every statement of Muster's is short. With a backlog, the old outbox claim's estimate crossed it
 * and the compilation took 30–45 ms of the server's CPU per claim, where running it took 4 (`EXPLAIN ANALYZE`).
 */
const PG_SESSION = '-c jit=off';
/**
 * Set on the claim's own connection: a plan made for each run (force_custom_plan), never one kept. A plan the server
 * keeps is made from the outbox as it was then: one made while it was small (a fresh install, before autovacuum's next
 * ANALYZE) read the whole table, or walked a whole index, for every claim once it held thousands of effects (seen with
 * force_generic_plan, and possible in auto mode, which keeps a generic plan it finds no dearer). Planning costs the
 * server about 0.4 ms per claim (1–1.5 ms for the walk a backlog takes); a claim that reads the whole outbox costs
 * more at any size worth the name.
 */
const PG_CLAIM_SESSION = `${PG_SESSION} -c plan_cache_mode=force_custom_plan`;

/**
 * The pool of Muster's PostgreSQL connections (the claim's has its own). pg-pool closes a connection that has been idle
 * for 10 s unless told otherwise, and a chat bot is quiet most of the time: the timer poll keeps one connection in use
 * every second, but the others, opened when statements ran at once (a war room card's reads, drawn between two rounds
 * of Slack calls; votes on several requests), were closed, and the next burst opened them again (TCP, start-up, session
 * settings) and prepared its statements again on each. Five reads sent at once took 10–11 ms after 12 s of quiet
 * against 1.3–1.4 ms after 1 s (measured once through openDatabase against the local server; with this pool, 1.0–1.5
 * ms after 12 s too); test/store/pgPoolIdle.test.ts checks the connections stay. So idle connections are kept
 * (idleTimeoutMillis 0), at most `max` of them, opened only when that many statements ran at once. TCP keep-alive
 * probes a connection after a minute of quiet, so that a NAT or load balancer between Muster and the server keeps its
 * flow, and a dead one is noticed; one the server closes (a restart, idle_session_timeout) is dropped by the pool and
 * the next statement opens another. allowExitOnIdle: idle connections alone never keep a process (the CLI) alive.
 */
const PG_POOL = { max: 10, idleTimeoutMillis: 0, allowExitOnIdle: true, keepAlive: true, keepAliveInitialDelayMillis: 60_000 };

/**
 * A pg pool's connection settings with `settings` given to the server when each connection starts (the `options` of
 * its start-up message: no statement of its own). node-pg takes the URL's parameters over the pool's, so an `options`
 * of the URL's is moved into the pool's, after Muster's: the operator's settings win.
 */
export function pgConnection(url: string, settings: string): { connectionString: string; options: string } {
  if (!/[?&]options=/.test(url)) return { connectionString: url, options: settings };
  const u = new URL(url);
  const own = u.searchParams.get('options');
  u.searchParams.delete('options');
  return { connectionString: u.toString(), options: own ? `${settings} ${own}` : settings };
}

export function providerOf(url: string): Provider {
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgresql';
  if (/^file:/i.test(url)) return 'sqlite';
  throw new Error(`DATABASE_URL must start with file: (SQLite) or postgresql:// (PostgreSQL), got "${redact(url)}"`);
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}

export function sqlitePath(url: string): string {
  const path = url.replace(/^file:/i, '').split('?')[0]!;
  return path === ':memory:' ? path : resolve(path);
}

const TX_OPTIONS = { maxWait: 10_000, timeout: 20_000 } as const;

/**
 * The page cache of each of the bot's SQLite connections (the writer and the reader), KiB. better-sqlite3 builds SQLite
 * with a default of 16,000 KiB per connection (SQLITE_DEFAULT_CACHE_SIZE=-16000 in its deps/defines.gypi; SQLite's own
 * default is 2,000), and a cache only fills as the file grows: in a ten-minute soak (`npm run bench:soak`) the
 * process's memory grew by about 3 MB a minute, its JavaScript heap flat, until both caches were full, 32 MB later.
 * The file's pages stay in the operating system's cache; a page SQLite's own cache misses costs a read from there.
 */
export const SQLITE_CACHE_KIB = 4_000;

export interface OpenOptions {
  /** Times every SQL statement at the driver (muster_db_statement_duration_seconds). */
  metrics?: Metrics;
  /**
   * SQLite (a file): the WAL's checkpoints mostly on a worker thread of their own rather than on the writer, which runs
   * on the main thread (src/store/walCheckpointer.ts: the writer keeps one as a backstop). The bot's; the CLI's short
   * runs keep SQLite's own.
   */
  walCheckpointThread?: boolean;
}

export async function openDatabase(url: string, o: OpenOptions = {}): Promise<Database> {
  const provider = providerOf(url);
  let client: Client;
  let writer: SqliteWriter | undefined;
  let autocommit: SqliteAutocommit | undefined;
  let ownTx: (<T>(fn: (tx: Tx) => Promise<T>) => Promise<T>) | undefined;
  let pgPool: TxSql | undefined;
  let pgClaims: (TxSql & { end(): Promise<void> }) | undefined;
  let pgTypes: PgTypes | undefined;
  let checkpointer: WalCheckpointer | undefined;
  if (provider === 'sqlite') {
    let connection: SqliteConnection | undefined;
    const file = sqlitePath(url);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    // busy timeout: the CLI may write while the bot runs.
    const [{ PrismaBetterSQLite3 }, { PrismaClient: SqliteClient }] = await Promise.all([import('@prisma/adapter-better-sqlite3'), import('./generated/sqlite/client.ts')]);
    const adapter = new PrismaBetterSQLite3({ url: file, timeout: 10_000 });
    const connect = adapter.connect.bind(adapter);
    adapter.connect = async () => {
      const connected = await connect();
      // The adapter's better-sqlite3 connection: statements run on it inside db.tx belong to that transaction.
      const conn = (connected as unknown as { client?: SqliteConnection }).client;
      const timed = o.metrics ? timeStatements(connected, o.metrics) : connected;
      if (conn) {
        connection = conn;
        writer = sqliteWriter(cachePrepared(conn), o.metrics);
        autocommit = sqliteAutocommit(conn, writer, connected);
        ownTx = sqliteTransactions(conn, writer, timed, client as unknown as Tx);
        writers.set(client, writer);
      }
      return timed;
    };
    client = new SqliteClient({ adapter }) as unknown as Client;
    // WAL: readers never block the writer, and each commit is ~1 ms cheaper.
    await client.$queryRawUnsafe('PRAGMA journal_mode = WAL');
    await client.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
    await client.$queryRawUnsafe('PRAGMA foreign_keys = ON');
    await client.$queryRawUnsafe(`PRAGMA cache_size = -${SQLITE_CACHE_KIB}`);
    if (o.walCheckpointThread && file !== ':memory:' && connection) checkpointer = startWalCheckpointer(file, connection, { metrics: o.metrics });
  } else {
    const [{ PrismaPg }, { PrismaClient: PgClient }, { default: pg }] = await Promise.all([import('@prisma/adapter-pg'), import('./generated/postgresql/client.ts'), import('pg')]);
    const types = pgTypeParsers(pg.types);
    pgTypes = types;
    pgEscape = pg.escapeLiteral;
    const adapter = new PrismaPg({ ...pgConnection(url, PG_SESSION), ...PG_POOL });
    const connect = adapter.connect.bind(adapter);
    adapter.connect = async () => {
      const connected = pgTransactionConnections(releaseWhenEndFails(await connect()));
      // The adapter's pg pool (internal to @prisma/adapter-pg 6.19): `query` and `run` send on it directly.
      const pool = (connected as unknown as { client?: PgConnection & Partial<PgPool> }).client;
      if (pool && typeof pool.query === 'function') pgPool = pgSql(pool, types, o.metrics);
      if (pool && typeof pool.connect === 'function') deferBegin(pool as PgPool);
      return o.metrics ? timeStatements(connected, o.metrics) : connected;
    };
    client = new PgClient({ adapter });
    pgClients.add(client);
    await client.$connect();
    // The claim's connection: one, kept open (the pool opens it again after a failure).
    const claims = new pg.Pool({ ...pgConnection(url, PG_CLAIM_SESSION), max: 1, idleTimeoutMillis: 0, allowExitOnIdle: true });
    // A connection that fails while idle (the server restarted) is dropped; the next claim opens another.
    claims.on('error', () => undefined);
    pgClaims = Object.assign(pgSql(claims as unknown as PgConnection, types, o.metrics), { end: () => claims.end() });
    // What `db.read` passes on PostgreSQL (no transaction): its raw statements go to the pool directly too.
    if (pgPool) pgDirect.set(client, pgPool);
  }
  const tx = <T>(fn: (tx: Tx) => Promise<T>) =>
    ownTx
      ? ownTx(fn)
      : provider === 'postgresql'
        ? pgTransactionSlots.run({}, () =>
            client.$transaction((t) => {
              pgClients.add(t);
              // The pg connection the adapter opened this transaction on (pgTransactionConnections): sqlOf sends on it.
              const slot = pgTransactionSlots.getStore();
              if (slot?.conn && pgTypes) pgDirect.set(t, pgSql(slot.conn, pgTypes, o.metrics, slot));
              return fn(t).then(async (value) => {
                // Writes still waiting for a next statement (`later`) are sent now, before Prisma's COMMIT.
                if (slot && !slot.ended) await slot.flush?.(true);
                return value;
              });
            }, TX_OPTIONS),
          )
        : // SQLite before its connection is open (sqliteTransactions takes over once it is): Prisma's transaction.
          client.$transaction(fn, TX_OPTIONS);
  const reader = provider === 'sqlite' && sqlitePath(url) !== ':memory:' ? await sqliteReader(sqlitePath(url), o.metrics) : undefined;
  const query = async <T>(sql: string, ...params: unknown[]): Promise<T[]> => {
    if (reader) return reader.all<T>(sql, params);
    if (provider === 'sqlite') return tx((t) => t.$queryRawUnsafe<T[]>(sql, ...params));
    if (pgPool) return pgPool.all<T>(sql, ...params);
    return client.$queryRawUnsafe<T[]>(pgText(sql), ...params);
  };
  const run = async (sql: string, ...params: unknown[]): Promise<number> => {
    if (pgPool) return pgPool.run(sql, ...params);
    if (provider === 'postgresql') return client.$executeRawUnsafe(pgText(sql), ...params);
    if (autocommit) return autocommit.run(sql, params);
    // Not connected yet (the adapter connects on the first statement): once through Prisma.
    return tx((t) => t.$executeRawUnsafe(sql, ...params));
  };
  const write = async <T>(sql: string, ...params: unknown[]): Promise<T[]> => {
    if (pgPool) return pgPool.all<T>(sql, ...params);
    if (provider === 'postgresql') return client.$queryRawUnsafe<T[]>(pgText(sql), ...params);
    if (autocommit) return autocommit.all<T>(sql, params);
    return tx((t) => sqlOf(t).all<T>(sql, ...params));
  };
  return {
    provider,
    url,
    client,
    tx,
    read: provider === 'sqlite' ? tx : (fn) => fn(client as unknown as Tx),
    query,
    run,
    write,
    claim: async <T>(sql: string, ...params: unknown[]): Promise<T[]> => (pgClaims ? pgClaims.all<T>(sql, ...params) : write<T>(sql, ...params)),
    close: async () => {
      reader?.close();
      await checkpointer?.stop();
      await pgClaims?.end();
      await client.$disconnect();
    },
  };
}

/**
 * A statement of Muster's own as a prepared statement of PostgreSQL's: `?` placeholders as `$1, $2, …`, and a name
 * made from its text, under which node-pg prepares it once per connection (Parse) and then only binds and runs it.
 * Its plan is then PostgreSQL's to keep: after five runs it keeps one generic plan when that is estimated no dearer
 * than planning each run (plan_cache_mode auto). The outbox claim took 0.25 ms to parse on every run (the server's
 * log, log_min_duration_statement=0, during approval clicks); it is still planned on every run, on purpose
 * (PG_CLAIM_SESSION).
 */
function pgPrepared(sql: string): { name: string; text: string } {
  const statement = pgStatement(sql);
  statement.name ??= `muster_${createHash('sha1').update(statement.text).digest('hex').slice(0, 32)}`;
  return statement as { name: string; text: string };
}

/** `?` placeholders as PostgreSQL's `$1, $2, …`, and the prepared statement's name once one is asked for (the last thousand texts kept). */
const pgStatements = new Map<string, { text: string; count: number; name?: string }>();
function pgStatement(sql: string): { text: string; count: number; name?: string } {
  let statement = pgStatements.get(sql);
  if (statement === undefined) {
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    statement = { text, count: n };
    if (pgStatements.size >= 1000) pgStatements.clear();
    pgStatements.set(sql, statement);
  }
  return statement;
}
export function pgText(sql: string): string {
  return pgStatement(sql).text;
}

type SqliteConnection = import('better-sqlite3').Database;

/**
 * `db.run` on SQLite: a write on the writer connection committed outside any other transaction. better-sqlite3 is
 * synchronous, so statements run while the connection has no transaction open are their own transaction and
 * nothing can start one meanwhile. The writes asked for in one turn of the event loop run together just after it,
 * in one transaction of their own (one commit). While a transaction of Prisma's is open (BEGIN … COMMIT over several
 * turns of the event loop), they wait and run when it ends: the adapter's transactions are wrapped so that their commit or
 * rollback runs the waiting writes, in order, before the next transaction can begin (the adapter's own lock is
 * released after them).
 */
interface SqliteAutocommit {
  run(sql: string, params: unknown[]): Promise<number>;
  /** A statement with RETURNING: its rows. */
  all<T>(sql: string, params: unknown[]): Promise<T[]>;
}
function sqliteAutocommit(conn: SqliteConnection, writer: SqliteWriter, adapter: { startTransaction(...args: never[]): Promise<unknown> }): SqliteAutocommit {
  type Waiting = { sql: string; params: unknown[]; rows: boolean; resolve(r: unknown): void; reject(e: unknown): void };
  const exec = (w: Waiting): unknown => (w.rows ? writer.all(w.sql, ...w.params) : writer.run(w.sql, ...w.params).changes);
  const waiting: Waiting[] = [];
  let retrying = false;
  let soon = false;
  const runOne = (w: Waiting) => {
    try {
      w.resolve(exec(w));
    } catch (e) {
      w.reject(e);
    }
  };
  const flush = () => {
    soon = false;
    if (!waiting.length) return;
    if (conn.inTransaction) {
      // Still open (a transaction's end not seen by the wrapper below): looked at again shortly.
      if (!retrying) {
        retrying = true;
        setTimeout(() => {
          retrying = false;
          flush();
        }, 1);
      }
      return;
    }
    const batch = waiting.splice(0);
    if (batch.length === 1) return runOne(batch[0]!);
    // Several: one transaction, one commit (each commit appends its pages to the WAL). A statement that fails
    // fails alone (SQLite undoes that statement, not the transaction); a failed commit fails them all.
    try {
      writer.run('BEGIN');
    } catch {
      for (const w of batch) runOne(w);
      return;
    }
    const done: (() => void)[] = [];
    for (const w of batch) {
      try {
        const r = exec(w);
        done.push(() => w.resolve(r));
      } catch (e) {
        done.push(() => w.reject(e));
      }
    }
    try {
      writer.run('COMMIT');
    } catch (e) {
      try {
        writer.run('ROLLBACK');
      } catch {
        // already rolled back by SQLite
      }
      for (const w of batch) w.reject(e);
      return;
    }
    for (const settle of done) settle();
  };
  const start = adapter.startTransaction.bind(adapter) as (...args: never[]) => Promise<{ commit(): Promise<void>; rollback(): Promise<void> }>;
  (adapter as { startTransaction: (...args: never[]) => Promise<unknown> }).startTransaction = async (...args) => {
    const t = await start(...args);
    const commit = t.commit.bind(t);
    const rollback = t.rollback.bind(t);
    // Prisma sends COMMIT / ROLLBACK first, then calls these (which release the adapter's lock).
    t.commit = async () => {
      flush();
      return commit();
    };
    t.rollback = async () => {
      flush();
      return rollback();
    };
    return t;
  };
  // Writes asked for in one turn of the event loop (effects finishing together, the claim that follows them) are
  // committed together, right after it.
  const ask = <R>(sql: string, params: unknown[], rows: boolean) =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ sql, params, rows, resolve: resolve as (r: unknown) => void, reject });
      if (!soon) {
        soon = true;
        setImmediate(flush);
      }
    });
  return { run: (sql, params) => ask<number>(sql, params, false), all: <T>(sql: string, params: unknown[]) => ask<T[]>(sql, params, true) };
}

/** The part of a Prisma driver adapter that starts transactions and runs statements (on the adapter and its transactions). */
interface TransactionalAdapter {
  queryRaw(query: { sql: string }): Promise<unknown>;
  executeRaw(query: { sql: string }): Promise<unknown>;
  startTransaction(...args: never[]): Promise<{ executeRaw(query: { sql: string }): Promise<unknown>; commit(): Promise<void>; rollback(): Promise<void> }>;
}

/**
 * `db.tx` on SQLite: BEGIN … COMMIT on the adapter's connection, run by Muster rather than by Prisma's interactive
 * transactions. better-sqlite3 is synchronous and the adapter has one connection: a transaction is the adapter's lock
 * (taken through its own startTransaction, which also runs BEGIN) held from BEGIN to COMMIT, and every statement sent
 * on the connection meanwhile, Muster's raw ones (sqlOf) and Prisma's model API alike, belongs to it. The callback is
 * handed the client itself: its model calls run on that connection. An interactive transaction of Prisma's cost
 * about 90 µs more than the statements (its transaction manager, a timer, the COMMIT through the engine); a click
 * runs four or five (scratch measure: `db.tx` with one raw SELECT, 95–100 µs, against 25–35 µs for BEGIN, the
 * statement and COMMIT on the connection).
 *
 * Prisma starts a transaction of its own for a model operation that needs several statements (a nested write); inside
 * ours it would wait for the lock ours holds. It gets a savepoint instead: its COMMIT releases the savepoint and its
 * ROLLBACK undoes the operation alone, as its own transaction would have. Prisma's interactive transactions ended
 * themselves after 20 s; these do not: a callback that never settles keeps the lock (none awaits anything but the
 * database on SQLite).
 */
function sqliteTransactions(conn: SqliteConnection, writer: SqliteWriter, adapter: TransactionalAdapter, client: Tx) {
  const start = adapter.startTransaction.bind(adapter);
  let open = false;
  let savepoints = 0;
  (adapter as { startTransaction: (...args: never[]) => Promise<unknown> }).startTransaction = async (...args) => {
    if (!open) return start(...args);
    const name = `prisma_${++savepoints}`;
    writer.run(`SAVEPOINT ${name}`);
    let ended = false;
    const end = (sql: string) => {
      if (ended) return;
      ended = true;
      savepoints--;
      if (sql === 'ROLLBACK') writer.run(`ROLLBACK TO ${name}`);
      writer.run(`RELEASE ${name}`);
    };
    // Everything else (provider, adapterName, queryRaw) is the adapter's: the same connection.
    return Object.assign(Object.create(adapter) as object, {
      options: { usePhantomQuery: false },
      executeRaw: async (query: { sql: string }) => {
        if (query.sql === 'COMMIT' || query.sql === 'ROLLBACK') {
          end(query.sql);
          return 0;
        }
        return adapter.executeRaw(query);
      },
      commit: async () => end('COMMIT'),
      rollback: async () => end('ROLLBACK'),
    });
  };
  return async <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => {
    const t = await start();
    open = true;
    let value: T;
    try {
      value = await fn(client);
      writer.run('COMMIT');
    } catch (e) {
      open = false;
      savepoints = 0;
      if (conn.inTransaction) {
        try {
          writer.run('ROLLBACK');
        } catch {
          // already rolled back by SQLite
        }
      }
      await t.rollback();
      throw e;
    }
    open = false;
    await t.commit();
    return value;
  };
}

/** Runs one statement with `?` placeholders; the values are written as Prisma's adapter writes them. */
interface SqliteWriter {
  run(sql: string, ...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  all<T>(sql: string, ...params: unknown[]): T[];
}

const writers = new WeakMap<object, SqliteWriter>();
/** PostgreSQL's client (what `db.read` passes) and its transactions: their raw statements number placeholders `$n`. */
const pgClients = new WeakSet<object>();

/**
 * Raw statements (`?` placeholders) inside one `db.tx` (or `db.read`), for hot paths: on SQLite prepared once on the transaction's
 * own connection (~10 µs, against ~0.35 ms for a statement of Prisma's model API), on PostgreSQL sent on the
 * transaction's own pg connection (pgSql: about 120 µs of CPU, against 420 µs through Prisma's raw API; in `db.read`,
 * which is no transaction there, to the pool). Rows come back as the driver gives them: on SQLite times are
 * ISO text and booleans 0/1 (`asDate`, `asBool`), on PostgreSQL Date, boolean and bigint (as Prisma's raw API gives them).
 */
export interface TxSql {
  run(sql: string, ...params: unknown[]): Promise<number>;
  all<T>(sql: string, ...params: unknown[]): Promise<T[]>;
  /**
   * PostgreSQL's direct statements only: statements sent together, in one round trip (the simple query protocol, which
   * takes no parameters: a statement's `?` are written into its text as literals, escaped by node-pg), run one after
   * the other; resolves to each one's rows. The first that fails stops the rest. In READ COMMITTED each statement
   * reads what was committed when it starts, after the one before it has finished (a lock it took is held). A
   * COMMIT among them ends the transaction there: no statement of it may follow (they are refused).
   */
  batch?(statements: readonly (string | { sql: string; params: readonly unknown[] })[]): Promise<unknown[][]>;
  /**
   * A write whose outcome the caller does not read (an insert, an update it does not count). On PostgreSQL, inside a
   * transaction, it is sent with the transaction's next statement, in the same round trip (as `batch` sends), or
   * before Prisma's next statement of that transaction, its COMMIT included; a rollback drops it. Should it fail, the
   * statement it went with fails, and the transaction with it. Elsewhere it runs at once.
   */
  later(sql: string, ...params: unknown[]): Promise<void>;
  /**
   * A statement whose rows the caller needs only after the transaction's next statement: sent as `later` sends it, in
   * the same round trip as that statement on PostgreSQL. Resolves to its rows once it has run; rejects when the
   * statement it went with fails or the transaction rolls back first. Elsewhere it runs at once.
   */
  laterAll<T>(sql: string, ...params: unknown[]): Promise<T[]>;
  /**
   * PostgreSQL's direct statements in a `db.tx` only: sends the statements waiting for a next one (`later`, `laterAll`,
   * the deferred BEGIN) now, in one round trip, when there are any. Elsewhere nothing waits.
   */
  flush?(): Promise<void>;
  /**
   * PostgreSQL's direct statements in a `db.tx` only: whether Muster's own COMMIT (the last statement of a `batch`) has
   * ended the transaction, committed, before `db.tx` returns (Prisma then only hands the connection back).
   */
  committed?(): boolean;
}

export function sqlOf(tx: Tx): TxSql {
  const direct = pgDirect.get(tx);
  if (direct) return direct;
  const w = writers.get(tx);
  if (w) {
    return {
      run: (sql, ...params) => settled(() => w.run(sql, ...params).changes),
      all: <T>(sql: string, ...params: unknown[]) => settled(() => w.all<T>(sql, ...params)),
      // SQLite runs in this process (microseconds): nothing to save by waiting.
      later: (sql, ...params) => settled(() => void w.run(sql, ...params)),
      laterAll: <T>(sql: string, ...params: unknown[]) => settled(() => w.all<T>(sql, ...params)),
    };
  }
  const text = pgClients.has(tx) ? pgText : (sql: string) => sql;
  return {
    run: (sql, ...params) => tx.$executeRawUnsafe(text(sql), ...params),
    all: <T>(sql: string, ...params: unknown[]) => tx.$queryRawUnsafe<T[]>(text(sql), ...params),
    later: async (sql, ...params) => {
      await tx.$executeRawUnsafe(text(sql), ...params);
    },
    laterAll: <T>(sql: string, ...params: unknown[]) => tx.$queryRawUnsafe<T[]>(text(sql), ...params),
  };
}

/** The part of a pg pool client that runs statements. */
interface PgConnection {
  query(config: { name?: string; text: string; values: unknown[]; types: unknown }): Promise<PgResult | PgResult[]>;
}
type PgResult = { rows: unknown[]; rowCount: number | null };

/** Each PostgreSQL `db.tx`: the pg connection its transaction was opened on, once the adapter has opened it. */
const pgTransactionSlots = new AsyncLocalStorage<PgSlot>();
/** A `db.tx`'s transaction on PostgreSQL: its connection, and whether it has ended (then the connection is the pool's again). */
interface PgSlot {
  conn?: PgConnection;
  ended?: boolean;
  /** Muster's own statements committed it (`batch` with a COMMIT): Prisma's COMMIT or ROLLBACK is then not sent. */
  committed?: boolean;
  /**
   * The adapter's BEGIN, not sent yet (deferBegin): it goes with the transaction's first statement, in its round trip.
   * While it is pending nothing has been sent, so a COMMIT or ROLLBACK has nothing to end.
   */
  beginPending?: boolean;
  /**
   * Sends the writes waiting to go with the next statement (`later`), and the deferred BEGIN, before a statement of
   * Prisma's. With `ending` (before the COMMIT), a BEGIN with nothing after it is not sent.
   */
  flush?: (ending?: boolean) => Promise<void>;
  /** Drops them (a rollback). */
  discard?: () => void;
}
/**
 * PostgreSQL's transactions (what `db.tx` passes), whose raw statements go straight to their connection, and its
 * client (what `db.read` passes), whose raw statements go straight to the adapter's pool.
 */
const pgDirect = new WeakMap<object, TxSql>();

/** The part of node-pg's pool that hands out a connection (a transaction's). */
interface PgPool {
  connect(...args: unknown[]): Promise<PgConnection> | undefined;
}

/**
 * Defers the BEGIN that @prisma/adapter-pg 6.19 sends on its own, in a round trip of its own, as it opens each
 * interactive transaction (startTransaction: a pool connection, then `BEGIN` through its query): for a `db.tx`, the
 * BEGIN is answered at once without being sent, and goes in the round trip of the transaction's first statement
 * instead (pgSql's batch, or before Prisma's first statement), one round trip less per transaction: a command, a
 * click, a hook. Only the first query on a connection taken for a `db.tx` (its slot has no connection yet), and only
 * when that query is the BEGIN; anything else is sent as it is. A transaction that sends nothing sends neither BEGIN
 * nor its COMMIT or ROLLBACK. `db.tx` gives no isolation level (TX_OPTIONS): with one, the adapter would send its SET
 * TRANSACTION right after the BEGIN, before the deferred BEGIN had gone.
 */
function deferBegin(pool: PgPool): void {
  const connect = pool.connect.bind(pool);
  pool.connect = (...args: unknown[]) => {
    // With a callback (pool.query's own use): not a transaction's.
    if (args.length) return connect(...args);
    return connect()!.then((conn) => {
      const slot = pgTransactionSlots.getStore();
      if (!slot || slot.conn) return conn;
      const own = Object.getOwnPropertyDescriptor(conn, 'query');
      const query = conn.query;
      const restore = () => {
        if (own) Object.defineProperty(conn, 'query', own);
        else delete (conn as { query?: unknown }).query;
      };
      conn.query = ((config: { text?: string }, ...rest: unknown[]) => {
        restore();
        if (config?.text === 'BEGIN' && !slot.conn) {
          slot.beginPending = true;
          return Promise.resolve({ command: 'BEGIN', rowCount: null, rows: [], fields: [] });
        }
        return (query as (...a: unknown[]) => Promise<PgResult>).call(conn, config, ...rest);
      }) as PgConnection['query'];
      return conn;
    });
  };
}

/**
 * Notes, for the `db.tx` that asked for it, the pg connection of each transaction @prisma/adapter-pg opens (`client` of
 * its PgTransaction, internal to 6.19: without it, raw statements keep going through Prisma). Prisma opens an
 * interactive transaction within the async context of the `$transaction` call, so the slot `db.tx` made for it is
 * the one seen here; a transaction Prisma opens on its own for one model operation has no slot.
 */
function pgTransactionConnections(adapter: PgAdapter): PgAdapter {
  const start = adapter.startTransaction.bind(adapter);
  adapter.startTransaction = async (isolationLevel) => {
    const tx = await start(isolationLevel);
    const slot = pgTransactionSlots.getStore();
    const conn = (tx as unknown as { client?: PgConnection }).client;
    if (slot && !slot.conn && conn && typeof conn.query === 'function') {
      slot.conn = conn;
      // Once Prisma ends the transaction (COMMIT or ROLLBACK sent: its end, a rollback, its 20 s timeout), the
      // connection goes back to the pool: a statement sent on it afterwards would run in whatever uses it next.
      // The adapter's transactions do not use phantom queries: Prisma ends each by sending COMMIT or ROLLBACK.
      const executeRaw = tx.executeRaw.bind(tx);
      // Muster's writes waiting for the transaction's next statement (`later`) go before Prisma's, in order; a
      // ROLLBACK drops them. Before COMMIT they have been sent already: `db.tx` sends them when its callback returns,
      // where a failure is the callback's and rolls back (here it would leave the connection in a failed
      // transaction, out of the pool: releaseWhenEndFails releases only when the COMMIT itself fails).
      const queryRaw = tx.queryRaw.bind(tx);
      // Until `db.tx` hands the transaction its own statements (pgSql, whose flush sends the BEGIN with what waits),
      // a statement of Prisma's is preceded by the deferred BEGIN on its own.
      slot.flush = async () => {
        if (!slot.beginPending) return;
        slot.beginPending = false;
        await executeRaw({ sql: 'BEGIN', args: [], argTypes: [] });
      };
      tx.queryRaw = async (query) => {
        await slot.flush?.();
        return queryRaw(query);
      };
      tx.executeRaw = async (query) => {
        const ending = query.sql === 'COMMIT' || query.sql === 'ROLLBACK';
        // Nothing was sent, not even the BEGIN: there is no transaction on the server to end.
        const unbegun = ending && slot.beginPending === true;
        if (query.sql === 'ROLLBACK') slot.discard?.();
        else if (!ending) await slot.flush?.();
        if (ending) {
          slot.ended = true;
          if (unbegun) return 0;
          // Already committed by Muster's own COMMIT (an audit append that ends its request): the server has no
          // transaction left to end, so nothing is sent (it would be a round trip answered with a warning). The
          // adapter's commit()/rollback() that follow still give the connection back to the pool.
          if (slot.committed) return 0;
        }
        return executeRaw(query);
      };
    }
    return tx;
  };
  return adapter;
}

/**
 * Values and rows as Prisma's raw API gives them, for statements sent on the transaction's pg connection directly:
 * times (`timestamp(3)`, without a zone, holding UTC) are sent as UTC text and read back as UTC Dates (node-pg's
 * defaults would take both as local time), int8 comes back as a bigint.
 */
const PG_TIMESTAMP = 1114;
const PG_INT8 = 20;
type PgTypes = { getTypeParser(oid: number, format?: string): unknown };
function pgTypeParsers(types: { getTypeParser(oid: number, format: 'text'): unknown }): PgTypes {
  return {
    getTypeParser: (oid: number, format?: string) =>
      oid === PG_TIMESTAMP ? (v: string) => new Date(`${v.replace(' ', 'T')}Z`) : oid === PG_INT8 ? (v: string) => BigInt(v) : types.getTypeParser(oid, format as 'text'),
  };
}
const pgValue = (v: unknown) => (v instanceof Date ? v.toISOString() : v);
/** node-pg's escapeLiteral, once PostgreSQL is opened (it needs pg, loaded only then). */
let pgEscape: ((s: string) => string) | undefined;

/** A parameter as a literal of a statement's text (`batch`): what the parameter would have sent, escaped by node-pg. */
function pgLiteral(v: unknown): string {
  const value = pgValue(v);
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} into a statement`);
    return String(value);
  }
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'string' && pgEscape) return pgEscape(value);
  throw new Error(`cannot write a ${typeof value} into a statement`);
}

/**
 * A statement of a `batch`: a text sent as it is, or a statement with its parameters written as literals (escaped by
 * node-pg) as it is handed over, so a parameter changed by the caller afterwards changes nothing.
 */
type Ready = string | { sql: string; literals: readonly string[] };
function ready(statement: string | { sql: string; params: readonly unknown[] }): Ready {
  if (typeof statement === 'string') return statement;
  const { count } = pgStatement(statement.sql);
  if (statement.params.length < count) throw new Error('a statement has more placeholders than parameters');
  if (statement.params.length > count) throw new Error('a statement has fewer placeholders than parameters');
  return { sql: statement.sql, literals: statement.params.map(pgLiteral) };
}

/** A statement with its `?` replaced by its literals. */
function inlined(statement: Ready): string {
  if (typeof statement === 'string') return statement;
  let i = 0;
  return statement.sql.replace(/\?/g, () => statement.literals[i++]!);
}

/**
 * The statements of `batch`es prepared on a transaction's connection, by their SQL: a batch is one simple query, whose
 * statements PostgreSQL would otherwise parse and plan anew every time (the lease of written effects took 0.49 ms
 * against 0.20 as a prepared statement, an audit append 0.31 against 0.24: scratch measure, BEGIN and COMMIT
 * included). A statement node-pg has prepared on the connection (its own name, pgPrepared) is run by that name
 * (EXECUTE); any other is prepared in the batch itself (PREPARE … AS, under a name of its own that node-pg never
 * uses), at most BATCH_PREPARED_MAX per connection. A prepared statement outlives a transaction that rolls back, so a
 * batch that fails may have prepared some of its new names or not: the connection's names then move to a new
 * generation, never one that may exist already.
 */
interface BatchPrepared {
  generation: number;
  names: Map<string, string>;
}
const batchPrepared = new WeakMap<PgConnection, BatchPrepared>();
const BATCH_PREPARED_MAX = 200;

/** node-pg's statements prepared on a connection (internal to pg 8: `connection.parsedStatements`, name → text). */
function parsedOn(conn: PgConnection): Record<string, string> | undefined {
  return (conn as unknown as { connection?: { parsedStatements?: Record<string, string> } }).connection?.parsedStatements;
}

/**
 * A batch's text on `conn` (a transaction's connection: `prepared` given) or on any connection of the pool (not), and
 * where each statement's result is among the results (a PREPARE has one of its own).
 */
function batchText(conn: PgConnection, statements: readonly Ready[], prepared: BatchPrepared | undefined): { text: string; at: number[]; fresh: Map<string, string> } {
  const parts: string[] = [];
  const at: number[] = [];
  const fresh = new Map<string, string>();
  const parsed = prepared ? parsedOn(conn) : undefined;
  for (const st of statements) {
    let name: string | undefined;
    if (prepared && typeof st !== 'string') {
      const own = pgPrepared(st.sql);
      name = parsed?.[own.name] === own.text ? own.name : (prepared.names.get(st.sql) ?? fresh.get(st.sql));
      if (name === undefined && prepared.names.size + fresh.size < BATCH_PREPARED_MAX) {
        name = `${own.name}_b${prepared.generation}`;
        fresh.set(st.sql, name);
        parts.push(`PREPARE ${name} AS ${own.text}`);
      }
    }
    at.push(parts.length);
    if (name === undefined || typeof st === 'string') parts.push(inlined(st));
    else parts.push(st.literals.length ? `EXECUTE ${name}(${st.literals.join(', ')})` : `EXECUTE ${name}`);
  }
  return { text: parts.join(';\n'), at, fresh };
}

/**
 * Raw statements inside a PostgreSQL `db.tx`, sent on its connection as they are: through Prisma's raw API each cost
 * about half a millisecond of the main thread (its query compiler and executor), as much as the rest of a click's work
 * on PostgreSQL (a CPU profile of approval clicks: Prisma's client and its wasm compiler 42 % of the busy time).
 */
function pgSql(conn: PgConnection, types: PgTypes, metrics: Metrics | undefined, slot?: PgSlot): TxSql {
  // As Prisma's raw API refuses a statement of a transaction already closed.
  const refuseWhenEnded = () => {
    if (slot?.ended) throw new Error('Transaction already closed: a statement was sent after its transaction ended');
  };
  // `text`: already PostgreSQL's text (a batch: its literals may hold a `?`), sent as it is, unprepared.
  const sendNow = async (sql: string, params: unknown[], text?: string) => {
    refuseWhenEnded();
    const started = performance.now();
    try {
      if (text !== undefined) return await conn.query({ text, values: params, types });
      const prepared = pgPrepared(sql);
      return await conn.query({ name: prepared.name, text: prepared.text, values: params.map(pgValue), types });
    } finally {
      metrics?.dbStatement.labels({ statement: statementKind(sql) }).observe((performance.now() - started) / 1000);
    }
  };
  // On a transaction's connection, one statement at a time, in the order asked. node-pg would queue a query sent
  // while another runs, but warns that this is deprecated (pg@9 drops it): reads asked together (Promise.all, as
  // an incident's view asks them) wait here instead.
  let tail: Promise<unknown> = Promise.resolve();
  const send = (sql: string, params: unknown[], text?: string): Promise<PgResult | PgResult[]> => {
    if (!slot) return sendNow(sql, params, text);
    const sent = tail.then(() => sendNow(sql, params, text));
    tail = sent.catch(() => {});
    return sent;
  };
  const one = (r: PgResult | PgResult[]) => (Array.isArray(r) ? r[r.length - 1]! : r);
  type Statement = string | { sql: string; params: readonly unknown[] };
  // Writes waiting for the transaction's next statement (`later`): only inside a transaction. Those sent by `laterAll`
  // are told their rows (or the failure) once their batch has run.
  let waiting: Ready[] = [];
  // A transaction's connection keeps its batches' statements prepared (batchText).
  let prepared: BatchPrepared | undefined;
  if (slot) {
    prepared = batchPrepared.get(conn) ?? { generation: 0, names: new Map() };
    batchPrepared.set(conn, prepared);
  }
  let told: { at: number; resolve(rows: unknown[]): void; reject(e: unknown): void }[] = [];
  const batch = async (asked: readonly Statement[]): Promise<PgResult[]> => {
    const own = asked.map(ready);
    const statements = [...waiting, ...own];
    const tell = told;
    waiting = [];
    told = [];
    try {
      const results = await sendBatch(statements, own);
      for (const t of tell) t.resolve(results[t.at]!.rows);
      return results.slice(statements.length - own.length);
    } catch (e) {
      for (const t of tell) t.reject(e);
      throw e;
    }
  };
  const sendBatch = async (statements: readonly Ready[], own: readonly Ready[]): Promise<PgResult[]> => {
    // No parameters: node-pg sends the text as one simple query, and answers one result per statement.
    const { text, at, fresh } = batchText(conn, statements, prepared);
    const ends = own.some((st) => st === 'COMMIT' || st === 'ROLLBACK');
    // The deferred BEGIN goes now (first of the batch): from here on the transaction has begun on the server, and
    // Prisma's COMMIT or ROLLBACK ends it as usual.
    if (slot?.beginPending && statements[0] === 'BEGIN') slot.beginPending = false;
    let r: PgResult | PgResult[];
    try {
      // Timed under its first statement other than BEGIN (the batch's real work).
      const first = statements.find((st) => st !== 'BEGIN') ?? statements[0]!;
      r = await send(typeof first === 'string' ? first : first.sql, [], text);
    } catch (e) {
      // Which of its PREPAREs ran is not known: new names from here on.
      if (prepared && fresh.size) prepared.generation += 1;
      throw e;
    } finally {
      // Whether or not it got that far, the transaction is over for Muster's statements (Prisma still ends it).
      if (ends && slot) slot.ended = true;
    }
    // Every statement ran, the COMMIT too: Prisma's own COMMIT (or ROLLBACK) has nothing left to end.
    if (ends && slot && own.includes('COMMIT')) slot.committed = true;
    const results = Array.isArray(r) ? r : [r];
    // Every statement ran, its PREPAREs too.
    if (prepared) for (const [sql, name] of fresh) prepared.names.set(sql, name);
    const sent = at.length ? at[at.length - 1]! + 1 : 0;
    if (results.length !== sent) throw new Error(`sent ${sent} statements, got ${results.length} results`);
    return at.map((i) => results[i]!);
  };
  // A statement of its own, or, with writes waiting, the last of their batch.
  const statement = async (sql: string, params: unknown[]): Promise<PgResult> => (waiting.length ? (await batch([{ sql, params }]))[0]! : one(await send(sql, params)));
  if (slot) {
    // The deferred BEGIN (deferBegin) is the first of the statements waiting for the next one.
    if (slot.beginPending) waiting.push('BEGIN');
    slot.flush = async (ending) => {
      // Before the COMMIT, a BEGIN alone: the transaction sent nothing, and neither BEGIN nor COMMIT need go.
      if (ending && slot.beginPending && waiting.length === 1) return;
      if (waiting.length) await batch([]);
    };
    slot.discard = () => {
      waiting = [];
      const tell = told;
      told = [];
      for (const t of tell) t.reject(new Error('the transaction rolled back before this statement was sent'));
    };
  }
  return {
    run: async (sql, ...params) => (await statement(sql, params)).rowCount ?? 0,
    all: async <T>(sql: string, ...params: unknown[]) => (await statement(sql, params)).rows as T[],
    batch: async (statements) => (await batch(statements)).map((x) => x.rows),
    ...(slot
      ? {
          committed: () => slot.committed === true,
          flush: () => slot.flush!(),
        }
      : {}),
    later: async (sql, ...params) => {
      if (!slot) {
        await send(sql, params);
        return;
      }
      refuseWhenEnded();
      // Written into the text now, so a parameter changed by the caller afterwards changes nothing.
      waiting.push(ready({ sql, params }));
    },
    laterAll: <T>(sql: string, ...params: unknown[]): Promise<T[]> => {
      if (!slot) return statement(sql, params).then((r) => r.rows as T[]);
      refuseWhenEnded();
      return new Promise<T[]>((resolve, reject) => {
        told.push({ at: waiting.length, resolve: resolve as (rows: unknown[]) => void, reject });
        waiting.push(ready({ sql, params }));
      });
    },
  };
}

/** A synchronous call of better-sqlite3 (which throws, rather than rejects) as a promise. */
function settled<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** `?, ?, …`: one placeholder per item of a list (an `IN (…)` of a raw statement). */
export function marks(list: readonly unknown[]): string {
  return marksFor(list.length);
}

/** `?, ?, …`: `count` placeholders, for a statement written before its list is known. */
export function marksFor(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** A time column of a raw row: ISO text on SQLite, a Date on PostgreSQL. */
export function asDate(v: unknown): Date {
  return v instanceof Date ? v : new Date(v as string);
}
export function asDateOrNull(v: unknown): Date | null {
  return v === null || v === undefined ? null : asDate(v);
}
/** A boolean column of a raw row: 0/1 on SQLite, a boolean on PostgreSQL. */
export function asBool(v: unknown): boolean {
  return v === true || v === 1 || v === 1n;
}

/** snake_case column → camelCase field, as the schema maps every column (`is_private` → `isPrivate`); cached per name. */
const fieldNames = new Map<string, string>();
function fieldOf(column: string): string {
  let f = fieldNames.get(column);
  if (f === undefined) {
    f = column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    fieldNames.set(column, f);
  }
  return f;
}

/**
 * A raw row (`SELECT *`, snake_case columns, the driver's types) as Prisma's model API gives it: camelCase fields,
 * the time columns named in `times` as Date (or null), those in `flags` as booleans, integers (a bigint of a driver)
 * as numbers. For hot paths that read a model's whole row with one raw statement instead of the model API.
 */
export function modelRow<T>(r: Record<string, unknown>, kinds: { times?: ReadonlySet<string>; flags?: ReadonlySet<string> }): T {
  const out: Record<string, unknown> = {};
  for (const column in r) {
    const v = r[column];
    out[fieldOf(column)] = v === null || v === undefined ? null : kinds.times?.has(column) ? asDate(v) : kinds.flags?.has(column) ? asBool(v) : typeof v === 'bigint' ? Number(v) : v;
  }
  return out as T;
}

/** Times as ISO 8601 text with +00:00 and booleans as 0/1, as Prisma's SQLite adapter writes them. */
function sqliteValue(v: unknown): unknown {
  return v instanceof Date ? v.toISOString().replace('Z', '+00:00') : typeof v === 'boolean' ? Number(v) : v;
}

/**
 * Runs statements of one connection, each prepared once (the last hundred texts kept) and timed as
 * muster_db_statement_duration_seconds; values are written as Prisma's adapter writes them (sqliteValue).
 */
function preparedStatements(conn: SqliteConnection, metrics: Metrics | undefined) {
  const prepared = new Map<string, import('better-sqlite3').Statement<unknown[], unknown>>();
  return <R>(sql: string, params: unknown[], use: (stmt: import('better-sqlite3').Statement<unknown[], unknown>, values: unknown[]) => R): R => {
    const started = performance.now();
    try {
      let stmt = prepared.get(sql);
      if (!stmt) {
        stmt = conn.prepare(sql);
        if (prepared.size >= 100) prepared.clear();
        prepared.set(sql, stmt);
      }
      return use(stmt, params.map(sqliteValue));
    } finally {
      metrics?.dbStatement.labels({ statement: statementKind(sql) }).observe((performance.now() - started) / 1000);
    }
  };
}

/** The writer connection's statements; `prepare` is its own (not the cache handed to Prisma's adapter). */
function sqliteWriter(prepare: SqliteConnection['prepare'], metrics: Metrics | undefined): SqliteWriter {
  const statement = preparedStatements({ prepare } as SqliteConnection, metrics);
  return {
    run: (sql, ...params) => statement(sql, params, (stmt, values) => stmt.run(...values)),
    all: <T>(sql: string, ...params: unknown[]) => statement(sql, params, (stmt, values) => stmt.all(...values) as T[]),
  };
}

/**
 * Makes Prisma's SQLite adapter reuse its prepared statements. @prisma/adapter-better-sqlite3 6.19 prepares every
 * statement it runs anew (`client.prepare(sql).bind(args)`, then `.run()`, or `.reader`, `.columns()` and
 * `.raw().all()`), which was about 7 % of the main thread's busy time under clicks: here its connection's `prepare`
 * hands out, per SQL text, one statement prepared once (the last 200 texts kept), bound per call instead of for good
 * (better-sqlite3 allows `bind` once per statement). Only the parts the adapter uses are offered; a later adapter
 * that uses more fails loudly (a missing method), not silently. Returns the connection's own `prepare` for Muster's
 * statements, which keep their own cache (preparedStatements).
 */
function cachePrepared(conn: SqliteConnection): SqliteConnection['prepare'] {
  const original = conn.prepare.bind(conn) as SqliteConnection['prepare'];
  const cache = new Map<string, import('better-sqlite3').Statement<unknown[], unknown>>();
  const statementOf = (sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = original(sql);
      if (cache.size >= 200) cache.clear();
      cache.set(sql, stmt);
    }
    return stmt;
  };
  const bound = (stmt: import('better-sqlite3').Statement<unknown[], unknown>, args: unknown[]) => ({
    reader: stmt.reader,
    columns: () => stmt.columns(),
    run: () => stmt.run(...args),
    raw: () => ({ all: () => stmt.raw(true).all(...args) }),
  });
  (conn as { prepare: unknown }).prepare = (sql: string) => {
    const stmt = statementOf(sql);
    return { ...bound(stmt, []), bind: (args: unknown[]) => bound(stmt, args) };
  };
  return original;
}

/**
 * A read-only connection to a SQLite file (WAL: it reads the last committed state while the writer works), with its
 * statements prepared once. better-sqlite3 is synchronous: each read is a few microseconds of the main thread.
 */
async function sqliteReader(file: string, metrics: Metrics | undefined) {
  const { default: Sqlite } = await import('better-sqlite3');
  const conn = new Sqlite(file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  conn.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  const statement = preparedStatements(conn, metrics);
  return {
    all: <T>(sql: string, params: unknown[]): Promise<T[]> => settled(() => statement(sql, params, (stmt, values) => stmt.all(...values) as T[])),
    close: () => conn.close(),
  };
}

/** The part of a Prisma driver adapter (and of its transactions) that runs statements. */
interface Statements {
  queryRaw(query: { sql: string }): Promise<unknown>;
  executeRaw(query: { sql: string }): Promise<unknown>;
}

/**
 * Times each statement where the driver runs it (queryRaw / executeRaw of the adapter and of its transactions, COMMIT
 * and ROLLBACK included; SQLite's adapter runs BEGIN on its own, untimed): the database's share, without Prisma's own
 * work around it. Per statement it costs two clock reads and one histogram observation, on a child looked up by the
 * statement's first word.
 */
function timeStatements<A extends Statements & { startTransaction(...args: never[]): Promise<Statements> }>(adapter: A, metrics: Metrics): A {
  const children = new Map<string, { observe(v: number): void }>();
  const observe = (sql: string, started: number) => {
    const kind = statementKind(sql);
    let child = children.get(kind);
    if (!child) {
      child = metrics.dbStatement.labels({ statement: kind });
      children.set(kind, child);
    }
    child.observe((performance.now() - started) / 1000);
  };
  const wrap = (q: Statements) => {
    const query = q.queryRaw.bind(q);
    const execute = q.executeRaw.bind(q);
    q.queryRaw = async (s) => {
      const started = performance.now();
      try {
        return await query(s);
      } finally {
        observe(s.sql, started);
      }
    };
    q.executeRaw = async (s) => {
      const started = performance.now();
      try {
        return await execute(s);
      } finally {
        observe(s.sql, started);
      }
    };
  };
  wrap(adapter);
  const start = adapter.startTransaction.bind(adapter) as (...args: never[]) => Promise<Statements>;
  (adapter as { startTransaction: (...args: never[]) => Promise<Statements> }).startTransaction = async (...args) => {
    const tx = await start(...args);
    wrap(tx);
    return tx;
  };
  return adapter;
}

type PgAdapter = Awaited<ReturnType<PrismaPg['connect']>>;
type PgTransaction = Awaited<ReturnType<PgAdapter['startTransaction']>>;

/**
 * Gives a transaction's connection back to the pool when its COMMIT or ROLLBACK fails. @prisma/client 6.19 ends a
 * transaction by sending COMMIT / ROLLBACK and only then calling the adapter's commit() / rollback(), the one place
 * where @prisma/adapter-pg releases the pg client; when the statement fails (the connection died under an open
 * transaction: a restart, a fail-over, pg_terminate_backend), it never calls them, and the pool keeps the dead
 * client checked out for good. Each transaction open when its connection died took one of the pool's 10 slots for
 * good: after ten, every transaction waited for a connection forever, and $disconnect, which waits for every client,
 * hung at shutdown after any outage (test/scheduler/outage.test.ts). Here the client is released with the error,
 * which makes the pool destroy it.
 */
function releaseWhenEndFails(adapter: PgAdapter): PgAdapter {
  const start = adapter.startTransaction.bind(adapter);
  adapter.startTransaction = async (isolationLevel) => {
    const tx: PgTransaction = await start(isolationLevel);
    // Internals of @prisma/adapter-pg 6.19's PgTransaction (its pg client and listener cleanup): if a later version
    // drops them, this does nothing.
    const own = tx as unknown as { client?: { release?(err?: Error): void }; cleanup?: () => void };
    const executeRaw = tx.executeRaw.bind(tx);
    const commit = tx.commit.bind(tx);
    const rollback = tx.rollback.bind(tx);
    let released = false;
    tx.executeRaw = async (query) => {
      try {
        return await executeRaw(query);
      } catch (e) {
        if (!released && own.client?.release && (query.sql === 'COMMIT' || query.sql === 'ROLLBACK')) {
          released = true;
          own.cleanup?.();
          own.client.release(e instanceof Error ? e : new Error(String(e)));
        }
        throw e;
      }
    };
    // Released above: a later commit() / rollback() must not release it twice (pg-pool throws on that).
    tx.commit = async () => (released ? undefined : commit());
    tx.rollback = async () => (released ? undefined : rollback());
    return tx;
  };
  return adapter;
}

/** True when the error is a unique-constraint violation (Prisma P2002, or the raw driver's). */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string; meta?: { driverAdapterError?: { cause?: { kind?: string } } } };
  if (err?.code === 'P2002') return true;
  if (err?.meta?.driverAdapterError?.cause?.kind === 'UniqueConstraintViolation') return true;
  return /unique constraint|UNIQUE constraint failed|duplicate key value/i.test(err?.message ?? '');
}
