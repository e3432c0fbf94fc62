import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openDatabase, type Database, type Tx } from '../../src/store/db.ts';

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

/**
 * For a test file: a migrated database opened before its tests, handed to `opened`, and closed and dropped after
 * them (the file's beforeAll / afterAll).
 */
export function onMigratedDatabase(opened: (db: Database) => void): void {
  let ctx: Awaited<ReturnType<typeof migratedDatabase>> | undefined;
  beforeAll(async () => {
    ctx = await migratedDatabase();
    opened(ctx.db);
  });
  afterAll(async () => ctx?.close());
}

/** Outbox effects left dead-lettered, waiting or running: an end-to-end test ends with none. */
export async function stuckEffects(db: Database): Promise<{ id: number; op: string; status: string; error: string | null }[]> {
  const rows = await db.read((tx) => tx.outboxEffect.findMany({ where: { status: { in: ['dead', 'pending', 'running'] } } }));
  return rows.map((e) => ({ id: e.id, op: e.op, status: e.status, error: e.lastError }));
}

/**
 * A transaction that makes `write` and is then held open: resolves once the write is done, with `rollBack`, which
 * lets the transaction end by throwing and resolves to the error's message once it has rolled back. For tests of
 * what others see of uncommitted rows.
 */
export async function heldTransaction(db: Database, write: (tx: Tx) => Promise<unknown>): Promise<{ rollBack(): Promise<string> }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let open = false;
  const ended = db
    .tx(async (tx) => {
      await write(tx);
      open = true;
      await gate;
      throw new Error('rolled back');
    })
    .catch((e: Error) => e.message);
  while (!open) await new Promise((r) => setTimeout(r, 5));
  return {
    rollBack: () => {
      release();
      return ended;
    },
  };
}
