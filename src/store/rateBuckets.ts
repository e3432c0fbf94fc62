import type { Database, Tx } from './db.ts';

/** A token bucket as stored in `rate_buckets`: `tokens` as of `at` (ms since the epoch, by Muster's clock). */
export interface BucketState {
  tokens: number;
  at: number;
}

interface Row {
  key: string;
  tokens: number;
  updated_at: number | bigint | string;
}

/**
 * Runs `decide` on the stored state of `buckets` (keys, each with the state a bucket starts in) and writes back
 * the states it returns, in one short transaction that holds those rows against every other process using the
 * database: on PostgreSQL the rows are locked with SELECT ... FOR UPDATE (a missing one is first inserted with ON
 * CONFLICT DO NOTHING, so two processes creating it at once both end up locking the one row); on SQLite a write
 * transaction is exclusive already (one writer per file). Rows are locked in key order, so two processes wanting
 * the same two buckets never deadlock. `decide` must be synchronous and quick: the rows stay locked while it runs.
 */
export async function withBuckets<T>(
  db: Database,
  buckets: { key: string; initial: BucketState }[],
  decide: (found: Map<string, BucketState>) => { result: T; write: { key: string; state: BucketState }[] },
): Promise<T> {
  const keys = [...new Set(buckets.map((b) => b.key))].sort();
  const pg = db.provider === 'postgresql';
  const p = pg ? (n: number) => `$${n}` : () => '?';
  const select = (tx: Tx) =>
    tx.$queryRawUnsafe<Row[]>(`SELECT "key", tokens, updated_at FROM rate_buckets WHERE "key" IN (${keys.map((_, i) => p(i + 1)).join(', ')})${pg ? ' ORDER BY "key" FOR UPDATE' : ''}`, ...keys);
  return db.tx(async (tx) => {
    let rows = await select(tx);
    if (rows.length < keys.length) {
      // First use of a bucket (after that, the SELECT alone finds it): create it, then lock it like the others.
      const have = new Set(rows.map((r) => r.key));
      const missing = keys.filter((k) => !have.has(k)).map((k) => ({ key: k, state: buckets.find((b) => b.key === k)!.initial }));
      await tx.$executeRawUnsafe(
        `INSERT INTO rate_buckets ("key", tokens, updated_at) VALUES ${missing.map((_, i) => `(${p(3 * i + 1)}, ${p(3 * i + 2)}, ${p(3 * i + 3)})`).join(', ')} ON CONFLICT ("key") DO NOTHING`,
        ...missing.flatMap((m) => [m.key, m.state.tokens, BigInt(Math.round(m.state.at))]),
      );
      rows = await select(tx);
    }
    const found = new Map(rows.map((r) => [r.key, { tokens: Number(r.tokens), at: Number(r.updated_at) }]));
    const { result, write } = decide(found);
    for (const w of write) {
      await tx.$executeRawUnsafe(`UPDATE rate_buckets SET tokens = ${p(1)}, updated_at = ${p(2)} WHERE "key" = ${p(3)}`, w.state.tokens, BigInt(Math.round(w.state.at)), w.key);
    }
    return result;
  });
}
