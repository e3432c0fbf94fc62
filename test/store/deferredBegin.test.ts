import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import { sqlOf, type Database, type Tx } from '../../src/store/db.ts';

/**
 * On PostgreSQL the BEGIN that Prisma's adapter sends as it opens a `db.tx` is deferred (deferBegin in db.ts): it goes
 * in the round trip of the transaction's first statement, one round trip less per transaction. Whatever that first
 * statement is (Muster's raw one, Prisma's, one that fails) it must be inside the transaction: rolled back with it,
 * invisible to others until the COMMIT. The atomicity tests run on SQLite too (nothing is deferred there).
 */
let db: Database;
onMigratedDatabase((opened) => {
  db = opened;
});

const at = new Date('2026-11-27T16:00:00.000Z');
let n = 0;
const insert = (tx: Tx, id: string) => sqlOf(tx).run('INSERT INTO workspaces (id, platform, external_id, name, created_at) VALUES (?, ?, ?, ?, ?)', id, 'slack', id, 'deferred', at);
const stored = async (id: string) => (await db.query<{ id: string }>('SELECT id FROM workspaces WHERE id = ?', id)).length > 0;

/** The texts node-pg sends while `body` runs (every connection), as the server receives them, one per round trip. */
const original = pg.Client.prototype.query;
afterEach(() => {
  pg.Client.prototype.query = original;
});
async function sent<T>(body: () => Promise<T>): Promise<{ value: T; texts: string[] }> {
  const texts: string[] = [];
  pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
    const text = typeof config === 'string' ? config : (config as { text?: string } | undefined)?.text;
    texts.push(String(text));
    return (original as (...a: unknown[]) => unknown).call(this, config, ...rest);
  } as typeof original;
  try {
    return { value: await body(), texts };
  } finally {
    pg.Client.prototype.query = original;
  }
}

describe('the first statement of a transaction', () => {
  it.runIf(TEST_PROVIDER === 'postgresql')('carries the BEGIN in its own round trip: a raw statement and the COMMIT are two round trips in all', async () => {
    // A text of its own, new on every connection: sent as text, in its PREPARE (prepared batches, below).
    const column = `first_${Date.now()}_${++n}`;
    const { value, texts } = await sent(() => db.tx((tx) => sqlOf(tx).all<Record<string, number>>(`SELECT 1 AS ${column}`)));
    expect(value).toEqual([{ [column]: 1 }]);
    expect(texts).toHaveLength(2);
    expect(texts[0]).toMatch(new RegExp(`^BEGIN;\\nPREPARE \\w+ AS SELECT 1 AS ${column};\\nEXECUTE \\w+$`));
    expect(texts[1]).toBe('COMMIT');
  });

  it.runIf(TEST_PROVIDER === 'postgresql')("is preceded by the BEGIN when it is Prisma's own", async () => {
    const id = `begin-model-${++n}`;
    const { texts } = await sent(() => db.tx((tx) => tx.workspace.create({ data: { id, platform: 'slack', externalId: id, createdAt: at } })));
    expect(texts[0]).toBe('BEGIN');
    expect(texts.at(-1)).toBe('COMMIT');
    expect(await stored(id)).toBe(true);
  });

  it.runIf(TEST_PROVIDER === 'postgresql')('is not there at all in a transaction that sends nothing: neither BEGIN nor COMMIT, nor a ROLLBACK when it throws', async () => {
    expect((await sent(() => db.tx(async () => 'nothing'))).texts).toEqual([]);
    const failing = sent(() =>
      db.tx(async () => {
        throw new Error('before any statement');
      }),
    );
    await expect(failing).rejects.toThrow('before any statement');
  });

  it('raw, is rolled back with its transaction, and is not seen by others before the COMMIT', async () => {
    const id = `begin-raw-${++n}`;
    await expect(
      db.tx(async (tx) => {
        await insert(tx, id);
        // Another connection does not see it: it is inside the transaction, not committed on its own.
        expect(await stored(id)).toBe(false);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await stored(id)).toBe(false);
  });

  it("Prisma's, is rolled back with its transaction", async () => {
    const id = `begin-prisma-${++n}`;
    await expect(
      db.tx(async (tx) => {
        await tx.workspace.create({ data: { id, platform: 'slack', externalId: id, createdAt: at } });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await stored(id)).toBe(false);
  });

  it('that fails, fails its transaction; every pooled connection is usable afterwards, in a transaction of its own', async () => {
    const taken = `begin-taken-${++n}`;
    await db.tx((tx) => insert(tx, taken));
    await expect(db.tx((tx) => insert(tx, taken))).rejects.toThrow(/unique|duplicate/i);
    await expect(db.tx(async () => Promise.reject(new Error('no statement')))).rejects.toThrow('no statement');
    // Twelve at once (more than the pool's ten connections): none is left inside a transaction, failed or open. A
    // statement sent on a connection still inside the failed one would be refused; one still inside an open one would
    // be committed with it, or lost: each insert is rolled back here, then checked.
    const ids = Array.from({ length: 12 }, (_, i) => `begin-after-${n}-${i}`);
    const results = await Promise.allSettled(
      ids.map((id) =>
        db.tx(async (tx) => {
          await insert(tx, id);
          throw new Error('undo');
        }),
      ),
    );
    expect(results.every((r) => r.status === 'rejected' && String(r.reason).includes('undo'))).toBe(true);
    for (const id of ids) expect(await stored(id)).toBe(false);
    await Promise.all(ids.map((id) => db.tx((tx) => insert(tx, id))));
    for (const id of ids) expect(await stored(id)).toBe(true);
  });
});

/**
 * A batch is one simple query, which PostgreSQL would parse and plan anew each time: on a transaction's connection its
 * statements are prepared once (PREPARE in the batch, or node-pg's own prepared statement) and run by name (EXECUTE),
 * with their parameters as literals, values exactly as given.
 */
describe.runIf(TEST_PROVIDER === 'postgresql')('statements sent in a batch', () => {
  const TEXT = `it's "quoted" \\ back\\slash ? $1 ; ROLLBACK; -- ünïcødé 🚨`;
  const laterInsert = (tx: Tx, id: string, name: string | null) =>
    sqlOf(tx).later('INSERT INTO workspaces (id, platform, external_id, name, created_at) VALUES (?, ?, ?, ?, ?)', id, 'slack', id, name, at);
  const backend = async (tx: Tx) => Number((await sqlOf(tx).all<{ pid: unknown }>('SELECT pg_backend_pid() AS pid'))[0]!.pid);

  it('are prepared on their connection once, then run by name, values as given', async () => {
    const [a, b] = [`batch-a-${++n}`, `batch-b-${++n}`];
    const { value, texts } = await sent(() =>
      db.tx(async (tx) => {
        await laterInsert(tx, a, TEXT);
        const first = await backend(tx);
        await laterInsert(tx, b, null);
        const second = await backend(tx);
        return { first, second, rows: await sqlOf(tx).all<{ id: string; name: string | null }>('SELECT id, name FROM workspaces WHERE id IN (?, ?) ORDER BY id', a, b) };
      }),
    );
    expect(value.first).toBe(value.second);
    expect(value.rows).toEqual([
      { id: a, name: TEXT },
      { id: b, name: null },
    ]);
    // The insert prepared at most once: in the first batch, or already (node-pg, or an earlier batch on this connection) ...
    expect(texts.join('\n').match(/PREPARE \w+ AS INSERT INTO workspaces/g)?.length ?? 0).toBeLessThanOrEqual(1);
    const name = /EXECUTE (\w+)\(/.exec(texts.find((t) => /EXECUTE \w+\('batch-a/.test(t)) ?? '')?.[1];
    expect(name).toBeTruthy();
    // ... and only run by that name in the second.
    const second = texts.find((t) => t.includes(`'${b}'`))!;
    expect(second).toContain(`EXECUTE ${name}('${b}', 'slack', '${b}', NULL, '${at.toISOString()}')`);
    expect(second).not.toContain('PREPARE');
  });

  it("a statement node-pg has prepared on the connection is run under node-pg's name, not prepared again", async () => {
    const id = `batch-proto-${++n}`;
    const { texts } = await sent(() =>
      db.tx(async (tx) => {
        // Sent on its own first (the extended protocol: node-pg prepares it on this connection), then in a batch.
        await sqlOf(tx).all('SELECT id FROM workspaces WHERE id = ?', 'nobody');
        await laterInsert(tx, id, 'x');
        return sqlOf(tx).all('SELECT id FROM workspaces WHERE id = ?', id);
      }),
    );
    const batched = texts.find((t) => t.includes(`'${id}'`) && t.includes('EXECUTE'))!;
    expect(batched).toMatch(new RegExp(`EXECUTE muster_[0-9a-f]{32}\\('${id}'\\)$`));
    expect(batched.match(/PREPARE/g) ?? []).toHaveLength(batched.includes('workspaces (id') ? 1 : 0);
  });

  it('a batch that fails after its PREPARE: the next batch on that connection prepares under a new name and succeeds', async () => {
    const taken = `batch-taken-${++n}`;
    await db.tx((tx) => insert(tx, taken));
    // A statement of its own text, so it is new on every connection: its PREPARE runs, then its EXECUTE fails.
    const sql = `INSERT INTO workspaces (id, platform, external_id, name, created_at) VALUES (?, ?, ?, ?, ?) RETURNING '${taken}' AS tag`;
    let failedOn = 0;
    await expect(
      db.tx(async (tx) => {
        failedOn = await backend(tx);
        await sqlOf(tx).later(sql, taken, 'slack', taken, 'again', at);
        await sqlOf(tx).all('SELECT 1 AS one');
      }),
    ).rejects.toThrow(/unique|duplicate/i);
    // The pool hands back its most recently released connection: the same one, whose session kept that PREPARE.
    const fresh = `batch-fresh-${++n}`;
    const { value, texts } = await sent(() =>
      db.tx(async (tx) => {
        const pid = await backend(tx);
        await sqlOf(tx).later(sql, fresh, 'slack', fresh, 'fine', at);
        await sqlOf(tx).all('SELECT 1 AS one');
        return pid;
      }),
    );
    expect(value).toBe(failedOn);
    expect(texts.find((t) => t.includes(`'${fresh}'`))).toMatch(/PREPARE \w+_b[1-9]\d* AS INSERT/);
    expect(await stored(fresh)).toBe(true);
  });
});
