import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Sqlite from 'better-sqlite3';
import type pg from 'pg';
import { ROOT } from '../root.ts';
import { providerOf, sqlitePath, type Provider, type Database } from './db.ts';
import { mkdirSync } from 'node:fs';
import { DATA_MIGRATIONS_TABLE_MIGRATION, DATA_STEPS, driveAsync, driveSync, pgPlaceholders, type DataStep, type Row } from './dataMigrations.ts';

/**
 * Applies the committed SQL migrations (prisma/migrations/<provider>) and keeps Prisma's
 * `_prisma_migrations` bookkeeping, so `prisma migrate deploy` and `migrate status`
 * agree with what ran here. Prisma's own migrate cannot run offline on PostgreSQL.
 *
 * Then, under the same lock, the one-time data steps (src/store/dataMigrations.ts) not yet
 * recorded in `data_migrations`: each in one transaction with the row that records it. They
 * are kept out of `_prisma_migrations`, which lists SQL files only.
 */

// The advisory lock id Prisma Migrate itself takes, so the two never interleave.
const PRISMA_ADVISORY_LOCK = 72707369;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export function migrationsDir(provider: Provider): string {
  return join(ROOT, 'prisma', 'migrations', provider);
}

export function loadMigrations(provider: Provider): Migration[] {
  const dir = migrationsDir(provider);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

const BOOKKEEPING = {
  postgresql: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`,
  sqlite: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" TEXT PRIMARY KEY NOT NULL,
    "checksum" TEXT NOT NULL,
    "finished_at" DATETIME,
    "migration_name" TEXT NOT NULL,
    "logs" TEXT,
    "rolled_back_at" DATETIME,
    "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
  )`,
} as const;

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
  /** Data steps run by this call (each runs once per database). */
  dataSteps: string[];
}

export interface MigrateOptions {
  /** Stop after this SQL migration (tests build a database as an older version left it); no data step runs then. */
  upTo?: string;
  /** The data steps to run (default: every registered one). */
  dataSteps?: readonly DataStep[];
}

export class MigrationError extends Error {}

function checkAppliedChecksums(migrations: Migration[], rows: { migration_name: string; checksum: string; finished_at: unknown }[]): Set<string> {
  const done = new Set<string>();
  for (const row of rows) {
    if (row.finished_at === null || row.finished_at === undefined) {
      throw new MigrationError(`migration ${row.migration_name} started but did not finish; inspect the database, then remove its row from _prisma_migrations`);
    }
    const m = migrations.find((x) => x.name === row.migration_name);
    if (m && m.checksum !== row.checksum) {
      throw new MigrationError(`migration ${row.migration_name} was edited after it was applied (checksum differs)`);
    }
    done.add(row.migration_name);
  }
  return done;
}

export async function migrate(url: string, options: MigrateOptions = {}): Promise<MigrateResult> {
  const provider = providerOf(url);
  let migrations = loadMigrations(provider);
  let steps = options.dataSteps ?? DATA_STEPS;
  if (options.upTo !== undefined) {
    const last = migrations.findIndex((m) => m.name === options.upTo);
    if (last < 0) throw new MigrationError(`no migration named ${options.upTo}`);
    if (last < migrations.length - 1) steps = [];
    migrations = migrations.slice(0, last + 1);
  }
  return provider === 'sqlite' ? migrateSqlite(url, migrations, steps) : migratePostgres(url, migrations, steps);
}

const RECORDED = 'SELECT name FROM "data_migrations"';

function failedStep(step: DataStep, e: unknown): MigrationError {
  return new MigrationError(`data step ${step.name} failed: ${(e as Error).message}`);
}

/**
 * Synchronous from BEGIN IMMEDIATE to COMMIT: better-sqlite3 blocks the thread while it waits for
 * the lock, so a second migrate() in the same process must not get in between.
 */
function runDataStepsSqlite(db: Sqlite.Database, steps: readonly DataStep[]): string[] {
  const ran: string[] = [];
  for (const step of steps) {
    db.exec('BEGIN IMMEDIATE');
    try {
      const done = new Set((db.prepare(RECORDED).all() as { name: string }[]).map((r) => r.name));
      if (done.has(step.name)) {
        db.exec('COMMIT');
        continue;
      }
      driveSync(step.run(), (s) => {
        const stmt = db.prepare(s.sql);
        if (stmt.reader) return stmt.all(...(s.params ?? [])) as Row[];
        stmt.run(...(s.params ?? []));
        return [];
      });
      db.prepare('INSERT INTO "data_migrations" (name, applied_at) VALUES (?, ?)').run(step.name, new Date().toISOString().replace('Z', '+00:00'));
      db.exec('COMMIT');
    } catch (e) {
      db.exec('ROLLBACK');
      throw failedStep(step, e);
    }
    ran.push(step.name);
  }
  return ran;
}

/** Called with the advisory lock held: no other Muster (or Prisma Migrate) is migrating meanwhile. */
async function runDataStepsPostgres(client: pg.Client, steps: readonly DataStep[]): Promise<string[]> {
  const ran: string[] = [];
  if (!steps.length) return ran;
  const done = new Set((await client.query<{ name: string }>(RECORDED)).rows.map((r) => r.name));
  for (const step of steps) {
    if (done.has(step.name)) continue;
    await client.query('BEGIN');
    try {
      await driveAsync(step.run(), async (s) => (await client.query(pgPlaceholders(s.sql), s.params ?? [])).rows as Row[]);
      await client.query('INSERT INTO "data_migrations" (name, applied_at) VALUES ($1, now())', [step.name]);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK');
      throw failedStep(step, e);
    }
    ran.push(step.name);
  }
  return ran;
}

function migrateSqlite(url: string, migrations: Migration[], steps: readonly DataStep[]): MigrateResult {
  const file = sqlitePath(url);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Sqlite(file, { timeout: 10_000 });
  try {
    db.pragma('journal_mode = WAL');
    db.exec(BOOKKEEPING.sqlite);
    const result: MigrateResult = { applied: [], alreadyApplied: [], dataSteps: [] };
    // IMMEDIATE: a second process starting at the same time waits here instead of racing.
    db.exec('BEGIN IMMEDIATE');
    try {
      const rows = db.prepare('SELECT migration_name, checksum, finished_at FROM _prisma_migrations WHERE rolled_back_at IS NULL').all() as {
        migration_name: string;
        checksum: string;
        finished_at: unknown;
      }[];
      const done = checkAppliedChecksums(migrations, rows);
      for (const m of migrations) {
        if (done.has(m.name)) {
          result.alreadyApplied.push(m.name);
          continue;
        }
        db.exec(m.sql);
        db.prepare(
          "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, strftime('%s','now')*1000, ?, strftime('%s','now')*1000, 1)",
        ).run(randomUUID(), m.checksum, m.name);
        result.applied.push(m.name);
      }
      db.exec('COMMIT');
    } catch (e) {
      db.exec('ROLLBACK');
      throw e;
    }
    result.dataSteps = runDataStepsSqlite(db, steps);
    return result;
  } finally {
    db.close();
  }
}

async function migratePostgres(url: string, migrations: Migration[], steps: readonly DataStep[]): Promise<MigrateResult> {
  // imported here: a Muster on SQLite never loads pg (about 70 ms of start-up)
  const { default: pgModule } = await import('pg');
  const client = new pgModule.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK]);
    await client.query(BOOKKEEPING.postgresql);
    const { rows } = await client.query('SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL');
    const done = checkAppliedChecksums(migrations, rows);
    const result: MigrateResult = { applied: [], alreadyApplied: [], dataSteps: [] };
    for (const m of migrations) {
      if (done.has(m.name)) {
        result.alreadyApplied.push(m.name);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, now(), 1)', [
          randomUUID(),
          m.checksum,
          m.name,
        ]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw new MigrationError(`migration ${m.name} failed: ${(e as Error).message}`);
      }
      result.applied.push(m.name);
    }
    result.dataSteps = await runDataStepsPostgres(client, steps);
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK]).catch(() => undefined);
    await client.end();
  }
}

/** Names of committed migrations and data steps the database has not applied (empty when ready). */
export async function pendingMigrations(db: Database, steps: readonly DataStep[] = DATA_STEPS): Promise<string[]> {
  const all = loadMigrations(db.provider);
  const rows = await db.read((tx) => tx.$queryRawUnsafe<{ migration_name: string }[]>('SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL'));
  const done = new Set(rows.map((r) => r.migration_name));
  const pending = all.map((m) => m.name).filter((n) => !done.has(n));
  if (!steps.length) return pending;
  if (!done.has(DATA_MIGRATIONS_TABLE_MIGRATION)) return [...pending, ...steps.map((s) => s.name)];
  const recorded = new Set((await db.read((tx) => tx.$queryRawUnsafe<{ name: string }[]>(RECORDED))).map((r) => r.name));
  return [...pending, ...steps.map((s) => s.name).filter((n) => !recorded.has(n))];
}
