import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase } from '../support/store.ts';
import { pruneBookkeeping } from '../../src/scheduler/maintenance.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { scheduleTimer, cancelTimers } from '../../src/store/timers.ts';
import { AuditLog } from '../../src/store/audit.ts';
import { withBuckets } from '../../src/store/rateBuckets.ts';
import { AUDIT_KEYRING } from '../support/auditKey.ts';
import { parsePolicyText } from '../../src/config/policy.ts';

let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
const clock = new ManualClock('2026-05-01T00:00:00Z');
const DAY = 86_400_000;

beforeAll(async () => {
  ctx = await migratedDatabase();
});
afterAll(async () => ctx.close());

describe('maintenance', () => {
  it('prunes old idempotency keys, finished timers and idle rate buckets, never pending timers or the audit chain', async () => {
    const db = ctx.db;
    const audit = new AuditLog(db.provider, clock, { keyring: AUDIT_KEYRING });
    await db.tx(async (tx) => {
      await tx.processedRequest.create({ data: { key: 'old', createdAt: clock.now() } });
      await scheduleTimer(tx, clock, { key: 'done', kind: 'k', subjectType: 's', subjectId: '1', dueAt: clock.now() });
      await scheduleTimer(tx, clock, { key: 'waiting', kind: 'k', subjectType: 's', subjectId: '2', dueAt: new Date(clock.now().getTime() + 60 * DAY) });
      await cancelTimers(tx, clock, { key: 'done' });
      await audit.append(tx, { actorId: 'x', platform: 'test', action: 'a' });
    });
    // The shared Slack budget (SharedRateLimiter): one bucket for a channel posted to long ago, one in use.
    const bucket = (key: string) =>
      withBuckets(db, [{ key, initial: { tokens: 2, at: clock.now().getTime() } }], (found) => ({
        result: undefined,
        write: [{ key, state: { tokens: found.get(key)!.tokens - 1, at: clock.now().getTime() } }],
      }));
    await bucket('T1:chat.postMessage:COLD');
    clock.advance(8 * DAY);
    await db.tx((tx) => tx.processedRequest.create({ data: { key: 'fresh', createdAt: clock.now() } }));
    await bucket('T1:chat.postMessage:CHOT');
    expect(await pruneBookkeeping(db, clock)).toEqual({ processedRequests: 1, timers: 0, rateBuckets: 1 });
    expect((await db.read((tx) => tx.rateBucket.findMany())).map((b) => b.key)).toEqual(['T1:chat.postMessage:CHOT']);
    clock.advance(30 * DAY);
    expect(await pruneBookkeeping(db, clock)).toEqual({ processedRequests: 1, timers: 1, rateBuckets: 1 });
    expect((await db.read((tx) => tx.timer.findMany())).map((t) => t.key)).toEqual(['waiting']);
    expect(await db.read((tx) => tx.auditEntry.count())).toBe(1);
  });

  it('the CAB digest schedule must be a cron expression', () => {
    expect(parsePolicyText('changes:\n  cab:\n    digest: "every monday"\n').problems[0]).toMatchObject({ path: 'changes.cab.digest', message: expect.stringContaining('not a cron expression') });
    expect(parsePolicyText('changes:\n  cab:\n    digest: "0 9 * * 1"\n').policy).toBeDefined();
  });
});
