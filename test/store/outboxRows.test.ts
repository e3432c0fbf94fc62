import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../support/store.ts';
import { enqueueEffects } from '../../src/store/outbox.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { Database } from '../../src/store/db.ts';

/**
 * On SQLite enqueueEffects writes its rows with a prepared statement on the transaction's own connection instead of
 * Prisma's model API: the row must read back exactly as one Prisma wrote (times in Prisma's text form, so that the
 * claim's comparisons and Prisma's reads treat both alike), and it must belong to the transaction.
 */
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
const clock = new ManualClock(new Date('2026-11-26T12:34:56.789Z'));
beforeAll(async () => {
  ctx = await migratedDatabase();
  db = ctx.db;
});
afterAll(async () => ctx?.close());

describe('outbox rows', () => {
  it('an enqueued effect reads back as one written through Prisma, column by column', async () => {
    const [id] = await db.tx((tx) => enqueueEffects(tx, clock, { platform: 'slack', requestId: 'r-1' }, [{ op: 'postMessage', args: { channel: 'C1', text: 'hello' }, coalesce: 'card:1' }]));
    const viaPrisma = await db.tx((tx) =>
      tx.outboxEffect.create({
        data: {
          platform: 'slack',
          op: 'postMessage',
          payload: JSON.stringify({ args: { channel: 'C1', text: 'hello' } }),
          coalesceKey: 'card:1',
          nextAttemptAt: clock.now(),
          requestId: 'r-1',
          createdAt: clock.now(),
          updatedAt: clock.now(),
        },
      }),
    );
    const read = (n: number) => db.read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: n } }));
    const { id: a, ...ours } = await read(id!);
    const { id: b, ...theirs } = await read(viaPrisma.id);
    expect(a).not.toBe(b);
    expect(ours).toEqual(theirs);
    expect(ours).toMatchObject({ status: 'pending', attempts: 0, uncertain: false, rateLimited: 0, dependsOnId: null, nextAttemptAt: clock.now() });
    // The stored text too (the claim compares it as text on SQLite).
    const raw = await db.query<{ id: number; next_attempt_at: unknown; created_at: unknown; updated_at: unknown }>(
      'SELECT id, next_attempt_at, created_at, updated_at FROM outbox WHERE id IN (?, ?) ORDER BY id',
      id!,
      viaPrisma.id,
    );
    expect(raw[0]).toEqual({ ...raw[1], id: raw[0]!.id });
  });

  it('rolls back with its transaction', async () => {
    const before = await db.read((tx) => tx.outboxEffect.count());
    await expect(
      db.tx(async (tx) => {
        await enqueueEffects(tx, clock, { platform: 'slack' }, [{ op: 'postMessage', args: { channel: 'C1', text: 'never' } }]);
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('state change failed');
    expect(await db.read((tx) => tx.outboxEffect.count())).toBe(before);
  });
});
