import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../support/store.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import type { Database } from '../../src/store/db.ts';

/**
 * On PostgreSQL the pool keeps its idle connections (src/store/db.ts, PG_POOL): pg-pool's default closed a connection
 * after 10 s of quiet, so the first command after one opened its connections and prepared its statements again. The
 * backends that answered reads in parallel answer them again after a quiet spell longer than that default; one the
 * server ended is dropped and the next read opens another. (SQLite has one connection in the process: nothing to keep.)
 */
const PG_POOL_DEFAULT_IDLE_MS = 10_000;

describe.runIf(TEST_PROVIDER === 'postgresql')('the PostgreSQL pool after a quiet spell', () => {
  let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
  let db: Database;
  beforeAll(async () => {
    ctx = await migratedDatabase();
    db = ctx.db;
  });
  afterAll(async () => ctx?.close());

  /** the server processes (one per connection) that answered five reads sent at once */
  const backends = async () => new Set((await Promise.all([1, 2, 3, 4, 5].map(() => db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.02)')))).map((rows) => Number(rows[0]!.pid)));

  it('answers on the connections it had, not on new ones', async () => {
    const before = await backends();
    expect(before.size).toBeGreaterThan(1);
    await new Promise((r) => setTimeout(r, PG_POOL_DEFAULT_IDLE_MS + 1_500));
    const after = await backends();
    // every connection that answered before is still open: its process answers again
    const open = new Set((await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()')).map((r) => Number(r.pid)));
    for (const pid of before) expect(open.has(pid)).toBe(true);
    expect([...after].filter((pid) => before.has(pid)).length).toBeGreaterThan(0);
  }, 30_000);

  it('drops a connection the server closed and answers on another', async () => {
    const before = await backends();
    // the server ends them (as a restart or idle_session_timeout would), from a connection of its own
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: ctx.tdb.url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [[...before]]);
    } finally {
      await admin.end();
    }
    await new Promise((r) => setTimeout(r, 200));
    const after = await backends();
    expect(after.size).toBeGreaterThan(0);
    for (const pid of after) expect(before.has(pid)).toBe(false);
  });
});
