import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { openDatabase, pgConnection, sqlOf, type Database } from '../../src/store/db.ts';
import { claimEffects } from '../../src/store/outbox.ts';
import { systemClock } from '../../src/domain/clock.ts';

/**
 * On PostgreSQL Muster's own statements are prepared once per connection, under a name made from their text, and then
 * only bound and run: the outbox claim took longer to parse and plan than to run. SQLite prepares each once anyway.
 */
let db: Database;
onMigratedDatabase((opened) => {
  db = opened;
});

describe('prepared statements', () => {
  it.runIf(process.env.MUSTER_TEST_DB === 'postgresql')('a statement of Muster’s is prepared once on its connection and reused, with new values each time', async () => {
    const sql = 'SELECT ?::int + ?::int AS sum, ? AS said';
    const [first, second, prepared] = await db.tx(async (tx) => {
      const a = await sqlOf(tx).all<{ sum: number; said: string }>(sql, 1, 2, 'one');
      const b = await sqlOf(tx).all<{ sum: number; said: string }>(sql, 40, 2, "it's ? $1");
      const p = await sqlOf(tx).all<{ name: string; statement: string }>("SELECT name, statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int%'");
      return [a, b, p];
    });
    expect(first).toEqual([{ sum: 3, said: 'one' }]);
    expect(second).toEqual([{ sum: 42, said: "it's ? $1" }]);
    expect(prepared).toHaveLength(1);
    expect(prepared[0]!.name).toMatch(/^muster_[0-9a-f]{32}$/);
    expect(prepared[0]!.statement).toBe('SELECT $1::int + $2::int AS sum, $3 AS said');
  });

  it.runIf(process.env.MUSTER_TEST_DB === 'postgresql')('the outbox claim runs on a connection of its own, which plans it for each run; no connection of Muster’s JIT-compiles', async () => {
    for (let i = 0; i < 7; i++) await claimEffects(db, systemClock, 'plans', 8, 60_000);
    const [claimConn] = await db.claim<{ plan: string; jit: string; pid: number }>("SELECT current_setting('plan_cache_mode') AS plan, current_setting('jit') AS jit, pg_backend_pid() AS pid");
    expect(claimConn).toMatchObject({ plan: 'force_custom_plan', jit: 'off' });
    const plans = await db.claim<{ generic: number | bigint; custom: number | bigint }>(
      "SELECT generic_plans AS generic, custom_plans AS custom FROM pg_prepared_statements WHERE statement LIKE 'WITH picked AS%'",
    );
    expect(plans).toHaveLength(1);
    expect(Number(plans[0]!.custom)).toBeGreaterThanOrEqual(7);
    expect(Number(plans[0]!.generic)).toBe(0);
    // the pool's connections (requests, reads): plans left to the server, no JIT; not the claim's connection
    const [pooled] = await db.query<{ plan: string; jit: string; pid: number }>("SELECT current_setting('plan_cache_mode') AS plan, current_setting('jit') AS jit, pg_backend_pid() AS pid");
    expect(pooled).toMatchObject({ plan: 'auto', jit: 'off' });
    expect(pooled!.pid).not.toBe(claimConn!.pid);
    const [inTx] = await db.tx((tx) => sqlOf(tx).all<{ jit: string }>("SELECT current_setting('jit') AS jit"));
    expect(inTx).toEqual({ jit: 'off' });
  });

  it.runIf(process.env.MUSTER_TEST_DB === 'postgresql')('a claim after the outbox has grown from empty to thousands of effects (no ANALYZE since) reads no whole table', async () => {
    // The claims of the test above ran on an empty outbox: a plan kept from then (a generic one) read every row.
    const at = new Date(Date.now() - 60_000);
    await db.run(
      `INSERT INTO outbox (platform, op, payload, status, attempts, next_attempt_at, created_at, updated_at, done_at)
       SELECT 'slack', 'postMessage', '{"args":{}}', CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'done' END, 0, ?, ?, ?, ? FROM generate_series(1, 5000) AS s(i)`,
      at,
      at,
      at,
      at,
    );
    // The claim's connection is one: a transaction opened on it holds the claim, and the connection's own counts of
    // table reads (not yet sent to the server's statistics, earlier transactions' included) say how the claim read.
    const reads = async () => {
      const [r] = await db.claim<{ seq: number | bigint; idx: number | bigint }>("SELECT seq_scan AS seq, idx_scan AS idx FROM pg_stat_xact_user_tables WHERE relname = 'outbox'");
      return { seq: Number(r!.seq), idx: Number(r!.idx) };
    };
    await db.claim('BEGIN');
    try {
      const before = await reads();
      expect(await claimEffects(db, systemClock, 'plans', 8, 60_000)).toHaveLength(8);
      const after = await reads();
      expect(after.seq - before.seq).toBe(0);
      expect(after.idx - before.idx).toBeGreaterThan(0);
    } finally {
      await db.claim('ROLLBACK');
    }
  });

  it('the settings go into each connection’s start-up options; an `options` of the URL’s comes after them and wins', async () => {
    expect(pgConnection('postgresql://u@h:5432/db', '-c jit=off')).toEqual({ connectionString: 'postgresql://u@h:5432/db', options: '-c jit=off' });
    expect(pgConnection('postgresql://u:p%40ss@h:5432/db?sslmode=disable&options=-c%20jit%3Don', '-c jit=off')).toEqual({
      connectionString: 'postgresql://u:p%40ss@h:5432/db?sslmode=disable',
      options: '-c jit=off -c jit=on',
    });
    if (db.provider !== 'postgresql') return;
    const own = await openDatabase(`${db.url}${db.url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c jit=on')}`);
    try {
      expect(await own.query("SELECT current_setting('jit') AS jit")).toEqual([{ jit: 'on' }]);
      expect(await own.claim("SELECT current_setting('jit') AS jit, current_setting('plan_cache_mode') AS plan")).toEqual([{ jit: 'on', plan: 'force_custom_plan' }]);
    } finally {
      await own.close();
    }
  });

  it('a statement that fails to prepare fails as it would unprepared, and the connection goes on', async () => {
    await expect(db.tx((tx) => sqlOf(tx).all('SELECT nope FROM workspaces WHERE id = ?', 'x'))).rejects.toThrow(/nope/);
    expect(await db.query<{ n: number | bigint }>('SELECT count(*) AS n FROM workspaces WHERE id = ?', 'x')).toEqual([{ n: expect.anything() }]);
  });
});
