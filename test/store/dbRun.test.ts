import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldTransaction, migratedDatabase } from '../support/store.ts';
import { ensureUser, ensureWorkspace } from '../../src/store/identity.ts';
import { sqlOf, type Database } from '../../src/store/db.ts';

/**
 * db.run commits one write outside any transaction. On SQLite it runs on the connection Prisma's transactions use:
 * sent while one of them is open it would join it (and be undone by its rollback), so it waits for that transaction's
 * end; writes asked for together are committed together, each with its own outcome.
 */
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
let workspaceId: string;
beforeAll(async () => {
  ctx = await migratedDatabase();
  db = ctx.db;
  await db.tx(async (tx) => {
    workspaceId = await ensureWorkspace(tx, 'slack', 'T1', new Date());
    for (const u of ['U1', 'U2', 'U3']) await ensureUser(tx, workspaceId, u, new Date());
  });
});
afterAll(async () => ctx?.close());

const nameOf = async (externalId: string) => (await db.query<{ name: string | null }>('SELECT name FROM users WHERE workspace_id = ? AND external_id = ?', workspaceId, externalId))[0]?.name ?? null;

describe('db.run', () => {
  it('is not part of a transaction open while it is asked for: the rollback keeps it, the commit comes after it', async () => {
    const held = await heldTransaction(db, (tx) => sqlOf(tx).run('UPDATE users SET name = ? WHERE workspace_id = ? AND external_id = ?', 'inside', workspaceId, 'U1'));
    const outside = db.run('UPDATE users SET name = ? WHERE workspace_id = ? AND external_id = ?', 'outside', workspaceId, 'U2');
    // Not committed while the transaction is open (SQLite: it waits; PostgreSQL: its own connection).
    if (db.provider === 'sqlite') expect(await nameOf('U2')).toBeNull();
    expect(await held.rollBack()).toBe('rolled back');
    expect(await outside).toBe(1);
    expect(await nameOf('U2')).toBe('outside');
    expect(await nameOf('U1')).toBeNull();
  });

  it('writes asked for together each get their own outcome: a failing one fails alone', async () => {
    const [a, b, c, none] = await Promise.all([
      db.run('UPDATE users SET name = ? WHERE workspace_id = ? AND external_id = ?', 'a', workspaceId, 'U1'),
      // users.workspace_id must name a workspace (a foreign key): refused.
      db.run('UPDATE users SET workspace_id = ? WHERE workspace_id = ? AND external_id = ?', 'no such workspace', workspaceId, 'U2').catch(() => 'refused'),
      db.run('UPDATE users SET name = ? WHERE workspace_id = ? AND external_id = ?', 'c', workspaceId, 'U3'),
      db.run('UPDATE users SET name = ? WHERE workspace_id = ? AND external_id = ?', 'nobody', workspaceId, 'U404'),
    ]);
    expect([a, b, c, none]).toEqual([1, 'refused', 1, 0]);
    expect([await nameOf('U1'), await nameOf('U2'), await nameOf('U3')]).toEqual(['a', 'outside', 'c']);
  });

  it('writes with RETURNING asked for together each get their own rows', async () => {
    const set = (name: string, user: string) =>
      db.write<{ external_id: string; name: string }>('UPDATE users SET name = ? WHERE workspace_id = ? AND external_id = ? RETURNING external_id, name', name, workspaceId, user);
    const [one, two, none] = await Promise.all([set('w1', 'U1'), set('w2', 'U2'), set('w404', 'U404')]);
    expect([one, two, none]).toEqual([[{ external_id: 'U1', name: 'w1' }], [{ external_id: 'U2', name: 'w2' }], []]);
  });
});
