import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { sqlOf, type Database } from '../../src/store/db.ts';

/**
 * sqlOf(tx).later: a write whose outcome nobody reads. On PostgreSQL it waits for the transaction's next statement and
 * goes in the same round trip, written into the text as literals; on SQLite it runs at once. Either way the
 * transaction must read it back, commit it, roll it back and fail with it exactly as if it had been sent at once.
 */
let db: Database;
onMigratedDatabase((opened) => {
  db = opened;
});

const at = new Date('2026-11-27T10:00:00.123Z');
let n = 0;
const TEXT = `it's "quoted" \\ back\\slash ? $1 ; ROLLBACK; -- ünïcødé 🚨`;
const later = (id: string, tx: Parameters<Parameters<Database['tx']>[0]>[0], name = TEXT) =>
  sqlOf(tx).later('INSERT INTO workspaces (id, platform, external_id, name, created_at) VALUES (?, ?, ?, ?, ?)', id, 'slack', id, name, at);
const stored = async (id: string) => (await db.read((tx) => tx.workspace.findUnique({ where: { id } }))) ?? undefined;

describe('later writes', () => {
  it("are read back by the transaction's next raw statement, values as given", async () => {
    const id = `later-raw-${++n}`;
    const seen = await db.tx(async (tx) => {
      await later(id, tx);
      return sqlOf(tx).all<{ id: string; name: string }>('SELECT id, name FROM workspaces WHERE id = ?', id);
    });
    expect(seen).toEqual([{ id, name: TEXT }]);
    expect(await stored(id)).toMatchObject({ id, platform: 'slack', name: TEXT, createdAt: at });
  });

  it("are read back by Prisma's next statement in the transaction", async () => {
    const id = `later-model-${++n}`;
    const seen = await db.tx(async (tx) => {
      await later(id, tx);
      return tx.workspace.findUnique({ where: { id }, select: { name: true } });
    });
    expect(seen).toEqual({ name: TEXT });
  });

  it('are committed when the transaction ends with writes still waiting', async () => {
    const a = `later-end-${++n}`;
    const b = `later-end-${++n}`;
    await db.tx(async (tx) => {
      await later(a, tx);
      await later(b, tx, 'second');
    });
    expect(await stored(a)).toMatchObject({ name: TEXT });
    expect(await stored(b)).toMatchObject({ name: 'second' });
  });

  it('are rolled back with their transaction', async () => {
    const id = `later-rollback-${++n}`;
    await expect(
      db.tx(async (tx) => {
        await later(id, tx);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await stored(id)).toBeUndefined();
  });

  it('that fail, fail the transaction, whose other writes are undone; the connections stay usable', async () => {
    const taken = `later-taken-${++n}`;
    const fresh = `later-fresh-${++n}`;
    await db.tx((tx) => later(taken, tx, 'first'));
    // A duplicate key, waiting behind a write that is fine; found at the next statement or at the end.
    const attempt = (next: boolean) =>
      db.tx(async (tx) => {
        await later(fresh, tx);
        await later(taken, tx, 'duplicate');
        if (next) await sqlOf(tx).all('SELECT 1 AS one');
      });
    await expect(attempt(true)).rejects.toThrow(/unique|duplicate/i);
    await expect(attempt(false)).rejects.toThrow(/unique|duplicate/i);
    expect(await stored(fresh)).toBeUndefined();
    expect(await stored(taken)).toMatchObject({ name: 'first' });
    // Every pooled connection is still good for a transaction (none was left inside a failed one).
    await Promise.all(Array.from({ length: 12 }, (_, i) => db.tx((tx) => later(`later-after-${n}-${i}`, tx, 'ok'))));
    expect((await db.query<{ id: string }>("SELECT id FROM workspaces WHERE id LIKE 'later-after-%'")).length).toBe(12);
  });

  it('with rows wanted (laterAll): resolve to them once sent, with the next statement or at the end; reject when the transaction rolls back first', async () => {
    const a = `later-rows-${++n}`;
    const b = `later-rows-${++n}`;
    const insert = (tx: Parameters<Parameters<Database['tx']>[0]>[0], id: string) =>
      sqlOf(tx).laterAll<{ id: string }>('INSERT INTO workspaces (id, platform, external_id, name, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id', id, 'slack', id, 'rows', at);
    let first: Promise<{ id: string }[]> | undefined;
    let second: Promise<{ id: string }[]> | undefined;
    const seen = await db.tx(async (tx) => {
      first = insert(tx, a);
      const read = await sqlOf(tx).all<{ id: string }>('SELECT id FROM workspaces WHERE id = ?', a);
      // Sent with that read: its rows are known now.
      expect(await first).toEqual([{ id: a }]);
      second = insert(tx, b);
      return read;
    });
    expect(seen).toEqual([{ id: a }]);
    // Sent before the commit.
    expect(await second).toEqual([{ id: b }]);
    expect(await stored(b)).toMatchObject({ name: 'rows' });

    const c = `later-rows-${++n}`;
    let dropped: Promise<{ id: string }[]> | undefined;
    await expect(
      db.tx(async (tx) => {
        dropped = insert(tx, c);
        dropped.catch(() => {});
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    // SQLite ran it at once (then rolled it back); PostgreSQL never sent it.
    if (db.provider === 'postgresql') await expect(dropped).rejects.toThrow(/rolled back/);
    else await expect(dropped).resolves.toEqual([{ id: c }]);
    expect(await stored(c)).toBeUndefined();
  });
});
