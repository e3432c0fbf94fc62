import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Which database this run of the suite uses: `npm test` runs it once for each. */
export const TEST_PROVIDER = (process.env.MUSTER_TEST_DB ?? 'sqlite') as 'sqlite' | 'postgresql';
export const PG_ADMIN_URL = process.env.MUSTER_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  provider: 'sqlite' | 'postgresql';
  drop(): Promise<void>;
}

function pgUrlFor(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh, empty database of the run's provider, so runs and files never see each other's rows. */
export async function createTestDatabase(provider = TEST_PROVIDER): Promise<TestDatabase> {
  if (provider === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'muster-test-'));
    return { url: `file:${join(dir, 'muster.db')}`, provider, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `muster_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: pgUrlFor(name),
    provider,
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
