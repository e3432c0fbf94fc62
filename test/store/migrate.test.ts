import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { loadMigrations, migrate, migrationsDir, pendingMigrations } from '../../src/store/migrate.ts';
import { openDatabase } from '../../src/store/db.ts';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => tdb.drop());

describe('migrations', () => {
  it('apply once, are recorded the way Prisma records them, and are idempotent', async () => {
    const all = loadMigrations(tdb.provider);
    expect(all.length).toBeGreaterThan(0);
    const [first, second] = await Promise.all([migrate(tdb.url), migrate(tdb.url)]);
    // Two processes starting together: exactly one applies each migration.
    expect([...first!.applied, ...second!.applied].sort()).toEqual(all.map((m) => m.name).sort());
    const again = await migrate(tdb.url);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual(all.map((m) => m.name));

    const db = await openDatabase(tdb.url);
    try {
      expect(await pendingMigrations(db)).toEqual([]);
      const rows = await db.read((tx) =>
        tx.$queryRawUnsafe<{ migration_name: string; checksum: string; applied_steps_count: number | bigint }[]>(
          'SELECT migration_name, checksum, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name',
        ),
      );
      expect(rows.map((r) => r.migration_name)).toEqual(all.map((m) => m.name));
      const sql = readFileSync(join(migrationsDir(tdb.provider), all[0]!.name, 'migration.sql'));
      expect(rows[0]!.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      const tables =
        tdb.provider === 'sqlite'
          ? await db.read((tx) => tx.$queryRawUnsafe<{ name: string }[]>("SELECT name FROM sqlite_master WHERE type = 'table'"))
          : await db.read((tx) => tx.$queryRawUnsafe<{ name: string }[]>("SELECT tablename::text AS name FROM pg_tables WHERE schemaname = 'public'"));
      expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['workspaces', 'users', 'role_grants', 'audit_entries', 'outbox', 'timers', 'processed_requests', 'counters']));
    } finally {
      await db.close();
    }
  });
});
