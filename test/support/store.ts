import { createTestDatabase, type TestDatabase } from './db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openDatabase, type Database } from '../../src/store/db.ts';

/** A migrated database of the run's provider and an open handle on it. */
export async function migratedDatabase(): Promise<{ tdb: TestDatabase; db: Database; close(): Promise<void> }> {
  const tdb = await createTestDatabase();
  await migrate(tdb.url);
  const db = await openDatabase(tdb.url);
  return {
    tdb,
    db,
    close: async () => {
      await db.close();
      await tdb.drop();
    },
  };
}

/** Outbox effects left dead-lettered, waiting or running: an end-to-end test ends with none. */
export async function stuckEffects(db: Database): Promise<{ id: number; op: string; status: string; error: string | null }[]> {
  const rows = await db.read((tx) => tx.outboxEffect.findMany({ where: { status: { in: ['dead', 'pending', 'running'] } } }));
  return rows.map((e) => ({ id: e.id, op: e.op, status: e.status, error: e.lastError }));
}
