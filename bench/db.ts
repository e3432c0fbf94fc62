/**
 * The bench's databases: a fresh SQLite file or a fresh PostgreSQL database per Muster run, and a small reader for
 * checking rows afterwards on either.
 *
 * PostgreSQL databases are made the way the test suite makes them (test/support/db.ts): `CREATE DATABASE` through
 * the `pg` package on the admin URL (PG_ADMIN_URL: MUSTER_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/
 * postgres, trust auth), a unique name per run, `DROP DATABASE … WITH (FORCE)` afterwards. Muster's children apply
 * the migrations themselves at start-up, as in production.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PG_ADMIN_URL } from '../test/support/db.ts';

export type BenchDb = 'sqlite' | 'postgresql';

export interface BenchDatabase {
  kind: BenchDb;
  /** DATABASE_URL for the Muster children */
  url: string;
  /** "fresh SQLite" / "fresh PostgreSQL database muster_bench_…", for the terminal */
  describe: string;
  /** removes the PostgreSQL database (the SQLite file stays in the run's scratch directory, removed with it) */
  drop(): Promise<void>;
}

/** `BENCH_DB=sqlite,postgresql` and the like: the databases a section runs on, in order (default both). */
export function dbsFromEnv(raw: string | undefined, fallback: BenchDb[] = ['sqlite', 'postgresql']): BenchDb[] {
  const s = (raw ?? '').trim();
  if (!s) return fallback;
  const out: BenchDb[] = [];
  for (const part of s.split(',').map((x) => x.trim().toLowerCase())) {
    const kind = part === 'sqlite' ? 'sqlite' : part === 'postgresql' || part === 'postgres' || part === 'pg' ? 'postgresql' : undefined;
    if (!kind) throw new Error(`BENCH_DB=${raw}: expected sqlite, postgresql or both (comma-separated)`);
    if (!out.includes(kind)) out.push(kind);
  }
  return out;
}

/** The admin URL with its password hidden, for messages. */
export function pgAdminUrlForDisplay(): string {
  try {
    const u = new URL(PG_ADMIN_URL);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return PG_ADMIN_URL;
  }
}

/** Why PostgreSQL cannot be used here, or undefined when it answers (a connection to the admin URL within `timeoutMs`). */
export async function postgresProblem(timeoutMs = 3_000): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: timeoutMs });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return `PostgreSQL at ${pgAdminUrlForDisplay()} is not reachable (${(e as Error).message || String(e)})`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function pgUrlFor(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * A fresh, empty database: a new SQLite file under `dir`, or a new PostgreSQL database named
 * `muster_bench_<label>_<pid>_<random>` (label: lower-case letters, digits and _ only).
 */
export async function createBenchDatabase(kind: BenchDb, dir: string, label: string): Promise<BenchDatabase> {
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 20);
  if (kind === 'sqlite') {
    mkdirSync(dir, { recursive: true });
    return { kind, url: `file:${join(dir, `${safe}.db`)}`, describe: 'fresh SQLite', drop: async () => undefined };
  }
  const name = `muster_bench_${safe}_${process.pid}_${randomBytes(3).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  let dropped = false;
  return {
    kind,
    url: pgUrlFor(name),
    describe: `fresh PostgreSQL database ${name}`,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * Reads rows after (or while) Muster runs, on either database. SQL is written with `?` placeholders (SQLite's); on
 * PostgreSQL they become $1, $2, …. SQLite is opened read-only.
 */
export interface DbReader {
  /** the first column of the first row, as a number (0 when there is no row) */
  one(sql: string, ...args: unknown[]): Promise<number>;
  all<T = Record<string, unknown>>(sql: string, ...args: unknown[]): Promise<T[]>;
  /** PostgreSQL only (SQLite is read-only here): a statement that changes rows, returning how many */
  run(sql: string, ...args: unknown[]): Promise<number>;
  close(): Promise<void>;
}

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export async function openDbReader(url: string): Promise<DbReader> {
  if (url.startsWith('file:')) {
    const db = new Database(url.slice('file:'.length), { readonly: true, fileMustExist: true });
    return {
      one: async (sql, ...args) =>
        Number(
          (db
            .prepare(sql)
            .pluck()
            .get(...args) as number | bigint | undefined) ?? 0,
        ),
      all: async <T>(sql: string, ...args: unknown[]) => db.prepare(sql).all(...args) as T[],
      run: async () => {
        throw new Error('the SQLite reader is read-only');
      },
      close: async () => {
        db.close();
      },
    };
  }
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await c.connect();
  return {
    one: async (sql, ...args) => {
      const r = await c.query({ text: numbered(sql), values: args, rowMode: 'array' });
      return Number(r.rows[0]?.[0] ?? 0);
    },
    all: async <T>(sql: string, ...args: unknown[]) => (await c.query(numbered(sql), args)).rows as T[],
    run: async (sql, ...args) => (await c.query(numbered(sql), args)).rowCount ?? 0,
    close: async () => {
      await c.end().catch(() => undefined);
    },
  };
}
