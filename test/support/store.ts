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
