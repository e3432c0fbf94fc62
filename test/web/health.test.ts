import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startHarness, type Harness } from '../support/harness.ts';
import { PG_ADMIN_URL, TEST_PROVIDER } from '../support/db.ts';

/**
 * /readyz tells a load balancer what is unhealthy, never why in detail: error text, hosts,
 * database and migration names go to the log only.
 */
describe('readiness says what, not why', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close().catch(() => undefined));

  const ready = async () => {
    const res = await fetch(`${h.muster.url}/readyz`);
    return { status: res.status, text: await res.text() };
  };

  it('a pending migration is "pending", without its name', async () => {
    expect(JSON.parse((await ready()).text)).toEqual({ status: 'ready', mode: 'production', checks: { database: 'ok', migrations: 'ok' } });
    const last = await h.muster.db.read((tx) => tx.$queryRawUnsafe<{ migration_name: string }[]>('SELECT migration_name FROM _prisma_migrations ORDER BY migration_name DESC LIMIT 1'));
    const name = last[0]!.migration_name;
    await h.muster.db.tx((tx) => tx.$executeRawUnsafe(`DELETE FROM _prisma_migrations WHERE migration_name = '${name}'`));
    const r = await ready();
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toEqual({ status: 'not ready', mode: 'production', checks: { database: 'ok', migrations: 'pending' } });
    expect(r.text).not.toContain(name.slice(0, 8));
  });

  it.runIf(TEST_PROVIDER === 'postgresql')('an unreachable database is "unreachable", without the error text', async () => {
    const database = new URL(h.tdb.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      // Real refusals from the server: existing connections dropped, new ones refused.
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
      const r = await ready();
      expect(r.status).toBe(503);
      expect(JSON.parse(r.text)).toEqual({ status: 'not ready', mode: 'production', checks: { database: 'unreachable' } });
      expect(r.text).not.toContain(database);
    } finally {
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
  });
});
