import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import { sqlOf, type Database, type Tx } from '../../src/store/db.ts';

/**
 * db.tx: on SQLite Muster runs BEGIN … COMMIT on the adapter's connection itself (not Prisma's interactive
 * transactions), so these pin what a transaction must still be: Prisma's model API and raw statements in it commit
 * and roll back together, a model write that needs several statements (Prisma's own transaction) is part of it, a
 * failed one undoes itself alone, and transactions on SQLite run one at a time.
 */
let db: Database;
onMigratedDatabase((opened) => {
  db = opened;
});

const at = new Date('2026-11-27T10:00:00Z');
let n = 0;
/** A workspace with one user, written by one nested create (two INSERTs: Prisma runs them in a transaction of its own). */
const nestedCreate = (tx: Tx, id: string, userExternalId = 'U1') =>
  tx.workspace.create({
    data: { id, platform: 'slack', externalId: id, createdAt: at, users: { create: [{ id: `${id}:${userExternalId}`, externalId: userExternalId, createdAt: at }] } },
  });
const rowsOf = async (id: string) => ({
  workspaces: (await db.query<{ id: string }>('SELECT id FROM workspaces WHERE id = ?', id)).length,
  users: (await db.query<{ id: string }>('SELECT id FROM users WHERE workspace_id = ?', id)).length,
});

describe('db.tx', () => {
  it('commits model and raw writes together, nested writes included', async () => {
    const id = `tx-commit-${++n}`;
    await db.tx(async (tx) => {
      await nestedCreate(tx, id);
      await sqlOf(tx).run('UPDATE users SET name = ? WHERE workspace_id = ?', 'raw', id);
    });
    expect(await rowsOf(id)).toEqual({ workspaces: 1, users: 1 });
    expect((await db.query<{ name: string }>('SELECT name FROM users WHERE workspace_id = ?', id))[0]?.name).toBe('raw');
  });

  it('rolls back model, nested and raw writes when its callback throws, and the next transaction runs', async () => {
    const id = `tx-rollback-${++n}`;
    await expect(
      db.tx(async (tx) => {
        await nestedCreate(tx, id);
        await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', id, at);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await rowsOf(id)).toEqual({ workspaces: 0, users: 0 });
    expect(await db.query('SELECT "key" FROM processed_requests WHERE "key" = ?', id)).toEqual([]);
    // The lock was given back: another transaction runs.
    await db.tx((tx) => nestedCreate(tx, id));
    expect(await rowsOf(id)).toEqual({ workspaces: 1, users: 1 });
  });

  it('a statement that fails rejects the transaction and writes nothing of it', async () => {
    const id = `tx-fail-${++n}`;
    await expect(
      db.tx(async (tx) => {
        await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', id, at);
        // users.workspace_id must name a workspace.
        await sqlOf(tx).run('INSERT INTO users (id, workspace_id, external_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)', `${id}:U1`, 'no such workspace', 'U1', at, at);
      }),
    ).rejects.toThrow();
    expect(await db.query('SELECT "key" FROM processed_requests WHERE "key" = ?', id)).toEqual([]);
  });
});

describe('raw statements in db.tx', () => {
  it('write and read times as UTC, as the model API does, whatever the time zone of the process', async () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const key = `tx-time-${++n}`;
      const when = new Date('2026-07-01T23:30:00.123Z');
      await db.tx((tx) => sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', key, when));
      const [raw] = await db.tx((tx) =>
        sqlOf(tx).all<{ created_at: unknown; later: unknown }>(
          'SELECT created_at, (SELECT count(*) FROM processed_requests WHERE created_at > ?) AS later FROM processed_requests WHERE "key" = ?',
          new Date('2026-07-01T23:00:00Z'),
          key,
        ),
      );
      const model = await db.read((tx) => tx.processedRequest.findUniqueOrThrow({ where: { key } }));
      expect(model.createdAt.toISOString()).toBe(when.toISOString());
      expect(new Date(raw!.created_at as string | Date).toISOString()).toBe(when.toISOString());
      expect(Number(raw!.later)).toBeGreaterThanOrEqual(1);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});

describe.runIf(TEST_PROVIDER === 'postgresql')('db.tx on PostgreSQL', () => {
  it("raw statements run on the transaction's own connection, and one sent after it ended is refused", async () => {
    const key = `tx-late-${++n}`;
    let kept: Tx | undefined;
    const [raw, model] = await db.tx(async (tx) => {
      kept = tx;
      const [a] = await sqlOf(tx).all<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const [b] = await tx.$queryRawUnsafe<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
      return [a!.pid, b!.pid];
    });
    expect(raw).toBe(model);
    await expect(sqlOf(kept!).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', key, at)).rejects.toThrow(/transaction already closed/i);
    expect(await db.query('SELECT "key" FROM processed_requests WHERE "key" = ?', key)).toEqual([]);
  });
});

describe.runIf(TEST_PROVIDER === 'sqlite')('db.tx on SQLite', () => {
  it('a nested write that fails inside a transaction undoes itself alone; the transaction goes on and commits', async () => {
    const id = `tx-nested-fail-${++n}`;
    const other = `tx-nested-other-${n}`;
    await db.tx((tx) => nestedCreate(tx, other));
    await db.tx(async (tx) => {
      await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', id, at);
      // The workspace row goes in, then its user collides with the other workspace's user id: Prisma's own
      // transaction (a savepoint inside ours) takes the workspace row back out.
      const failed = await tx.workspace.create({ data: { id, platform: 'slack', externalId: id, createdAt: at, users: { create: [{ id: `${other}:U1`, externalId: 'U1', createdAt: at }] } } }).then(
        () => 'created',
        () => 'refused',
      );
      expect(failed).toBe('refused');
      await nestedCreate(tx, `${id}-after`);
    });
    expect(await rowsOf(id)).toEqual({ workspaces: 0, users: 0 });
    expect(await rowsOf(`${id}-after`)).toEqual({ workspaces: 1, users: 1 });
    expect(await db.query('SELECT "key" FROM processed_requests WHERE "key" = ?', id)).toHaveLength(1);
  });

  it('runs transactions one at a time: one that waits holds the next back until it commits', async () => {
    const id = `tx-serial-${++n}`;
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = db.tx(async (tx) => {
      order.push('first begins');
      await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', id, at);
      await gate;
      order.push('first ends');
    });
    const second = db.tx(async (tx) => {
      order.push('second begins');
      return (await sqlOf(tx).all('SELECT "key" FROM processed_requests WHERE "key" = ?', id)).length;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual(['first begins']);
    release();
    await first;
    expect(await second).toBe(1);
    expect(order).toEqual(['first begins', 'first ends', 'second begins']);
  });
});
