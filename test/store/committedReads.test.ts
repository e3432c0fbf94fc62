import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldTransaction, migratedDatabase } from '../support/store.ts';
import { ensureUser, ensureWorkspace, personRoles } from '../../src/store/identity.ts';
import type { Database } from '../../src/store/db.ts';

/**
 * db.query reads committed data only. On SQLite Prisma's adapter shares one connection, and a statement sent on it
 * outside a transaction while another request's transaction is open runs inside that transaction: the actor lookup
 * (every command and click) would see a role granted by a transaction that had not committed, and may roll back.
 */
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
let user: string;
let workspaceId: string;
beforeAll(async () => {
  ctx = await migratedDatabase();
  db = ctx.db;
  await db.tx(async (tx) => {
    const ws = await ensureWorkspace(tx, 'slack', 'T1', new Date());
    user = await ensureUser(tx, ws, 'U1', new Date());
    workspaceId = ws;
  });
});
afterAll(async () => ctx?.close());

describe('committed reads outside transactions', () => {
  it('the roles of a person do not include a grant whose transaction is still open, nor one rolled back', async () => {
    const held = await heldTransaction(db, (tx) => tx.roleGrant.create({ data: { workspaceId, userId: user, role: 'cto', grantedBy: 'test' } }));
    // The grant is written and not committed.
    expect(await personRoles(db, user)).toEqual([]);
    expect(await held.rollBack()).toBe('rolled back');
    expect(await personRoles(db, user)).toEqual([]);
    // Committed, it is read at once.
    await db.tx((tx) => tx.roleGrant.create({ data: { workspaceId, userId: user, role: 'cto', grantedBy: 'test' } }));
    expect(await personRoles(db, user)).toEqual(['cto']);
  });
});
