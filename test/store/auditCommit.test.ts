import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../support/store.ts';
import { openDatabase, sqlOf, type Database } from '../../src/store/db.ts';
import { AuditLog, verifyChain, type AuditInput } from '../../src/store/audit.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { AUDIT_KEYRING } from '../support/auditKey.ts';

/**
 * `append(tx, entries, { commit: true })`, as the kernel appends a request's entries last: on PostgreSQL the INSERT
 * and the COMMIT go in one simple query, the values written into its text as literals (on SQLite it is a plain append).
 */
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
const clock = new ManualClock('2026-03-02T10:00:00.000Z');

beforeAll(async () => {
  ctx = await migratedDatabase();
  db = ctx.db;
});
afterAll(async () => ctx.close());

/** Text a literal must keep as it is: quotes, backslashes, placeholders of either kind, a statement's end, a comment. */
const NASTY = `it's "quoted" \\ back\\slash ? $1 $$x$$ ; COMMIT; -- not a comment\nline two\ttab E'x' ünïcødé 🚨`;

const entry = (i: number, extra: Partial<AuditInput> = {}): AuditInput => ({
  workspaceId: 'slack:T1',
  actorId: 'slack:T1:U1',
  actorName: 'ana',
  platform: 'slack',
  action: 'approval.approve',
  subjectType: 'approval',
  subjectId: `APR-${i}`,
  after: { n: i },
  requestId: `req-${i}`,
  ...extra,
});

describe('an append that ends its transaction (commit)', () => {
  it('stores every value as given, however it is written, and the chain verifies', async () => {
    const log = new AuditLog(db.provider, clock, { keyring: AUDIT_KEYRING });
    const written = await db.tx((tx) =>
      log.append(tx, [entry(1, { actorName: NASTY, reason: NASTY, before: { text: NASTY, list: [NASTY, null, 1.5] }, flags: ['break_glass'] }), entry(2, { actorName: null })], {
        commit: true,
      }),
    );
    const stored = await db.read((tx) => tx.auditEntry.findMany({ orderBy: { seq: 'asc' } }));
    expect(stored).toHaveLength(2);
    for (const [i, row] of stored.entries()) {
      const w = written[i]!;
      expect(row).toMatchObject({
        seq: w.seq,
        actorName: w.actorName,
        reason: w.reason,
        before: w.before,
        after: w.after,
        flags: w.flags,
        prevHash: w.prevHash,
        hash: w.hash,
        keyId: w.keyId,
      });
      expect(row.createdAt.toISOString()).toBe('2026-03-02T10:00:00.000Z');
    }
    expect(stored[0]!.reason).toBe(NASTY);
    expect(stored[1]!.actorName).toBeNull();
    expect((await verifyChain(db, AUDIT_KEYRING)).ok).toBe(true);
  });

  it('keeps one unbroken chain under concurrent writers that commit with their append', async () => {
    const other = db.provider === 'postgresql' ? await openDatabase(ctx.tdb.url) : db;
    const before = await db.read((tx) => tx.auditEntry.count());
    try {
      const logs = [new AuditLog(db.provider, clock, { keyring: AUDIT_KEYRING }), new AuditLog(other.provider, clock, { keyring: AUDIT_KEYRING })];
      const handles = [db, other];
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          handles[i % 2]!.tx(async (tx) => {
            // Each transaction writes something of its own before its entries, as a request does.
            await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', `commit-${i}`, clock.now());
            return logs[i % 2]!.append(tx, [entry(100 + i), entry(200 + i)], { commit: true });
          }),
        ),
      );
    } finally {
      if (other !== db) await other.close();
    }
    const v = await verifyChain(db, AUDIT_KEYRING);
    expect(v.ok).toBe(true);
    expect(v.checked).toBe(before + 80);
    const seqs = (await db.read((tx) => tx.auditEntry.findMany({ select: { seq: true }, orderBy: { seq: 'asc' } }))).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: before + 80 }, (_, i) => i + 1));
    expect(await db.read((tx) => tx.processedRequest.count({ where: { key: { startsWith: 'commit-' } } }))).toBe(40);
    if (db.provider === 'postgresql') {
      // Prisma's own COMMIT is not sent after Muster's: every connection went back to the pool with no transaction open.
      const open = await db.query<{ n: number | bigint }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'");
      expect(Number(open[0]!.n)).toBe(0);
    }
  });

  it.runIf(process.env.MUSTER_TEST_DB === 'postgresql')('on PostgreSQL the transaction is over once the append returns: a later statement is refused, the entries stay', async () => {
    const log = new AuditLog(db.provider, clock, { keyring: AUDIT_KEYRING });
    const before = await db.read((tx) => tx.auditEntry.count());
    await expect(
      db.tx(async (tx) => {
        await log.append(tx, entry(300), { commit: true });
        await sqlOf(tx).run('INSERT INTO processed_requests ("key", created_at) VALUES (?, ?)', 'after-commit', clock.now());
      }),
    ).rejects.toThrow(/Transaction already closed/);
    expect(await db.read((tx) => tx.auditEntry.count())).toBe(before + 1);
    expect(await db.read((tx) => tx.processedRequest.count({ where: { key: 'after-commit' } }))).toBe(0);
    expect((await verifyChain(db, AUDIT_KEYRING)).ok).toBe(true);
  });
});
