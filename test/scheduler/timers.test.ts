import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import pino from 'pino';
import { migratedDatabase } from '../support/store.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import { TimerScheduler } from '../../src/scheduler/timerScheduler.ts';
import { scheduleTimer, cancelTimers, timersFor } from '../../src/store/timers.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { AuditLog, verifyChain } from '../../src/store/audit.ts';
import { AUDIT_KEYRING } from '../support/auditKey.ts';
import type { Database } from '../../src/store/db.ts';

const run = promisify(execFile);
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;
const clock = new ManualClock('2026-04-01T12:00:00.000Z');
const log = pino({ level: 'silent' });
const MIN = 60_000;

beforeAll(async () => {
  ctx = await migratedDatabase();
  db = ctx.db;
});
afterAll(async () => ctx.close());

const at = (ms: number) => new Date(clock.now().getTime() + ms);
const schedule = (key: string, dueIn: number, kind = 'nudge', subjectId = 'INC-1') =>
  db.tx((tx) => scheduleTimer(tx, clock, { key, kind, subjectType: 'incident', subjectId, dueAt: at(dueIn), payload: { key } }));

function scheduler(owner: string, fired: string[], opts: { leaseMs?: number; maxAttempts?: number; retryMs?: number } = {}) {
  return new TimerScheduler(db, clock, log, { owner, ...opts }).on('nudge', async (_tx, timer, payload) => {
    fired.push(`${owner}:${String(payload.key)}:${timer.attempts}`);
  });
}

describe('timers', () => {
  it('fire once when due, on the controllable clock', async () => {
    const fired: string[] = [];
    const s = scheduler('a', fired);
    await schedule('t1', 5 * MIN);
    expect(await s.tick()).toBe(0);
    clock.advance(5 * MIN - 1);
    expect(await s.tick()).toBe(0);
    clock.advance(1);
    expect(await s.tick()).toBe(1);
    expect(await s.tick()).toBe(0);
    expect(fired).toEqual(['a:t1:1']);
    const [row] = await timersFor(db, 'incident', 'INC-1');
    expect(row).toMatchObject({ key: 't1', status: 'fired', firedAt: clock.now() });
  });

  it('re-arm by key moves the due time; cancel stops them', async () => {
    const fired: string[] = [];
    const s = scheduler('a', fired);
    await schedule('t2', MIN, 'nudge', 'INC-2');
    await schedule('t2', 10 * MIN, 'nudge', 'INC-2'); // an update resets the clock
    await schedule('t3', MIN, 'nudge', 'INC-2');
    await schedule('t4', MIN, 'other', 'INC-2');
    clock.advance(2 * MIN);
    expect(await db.tx((tx) => cancelTimers(tx, clock, { key: 't3' }))).toBe(1);
    s.on('other', async () => {
      fired.push('other');
    });
    expect(await s.tick()).toBe(1);
    expect(fired).toEqual(['other']);
    expect(await db.tx((tx) => cancelTimers(tx, clock, { subjectType: 'incident', subjectId: 'INC-2' }))).toBe(1);
    clock.advance(20 * MIN);
    expect(await s.tick()).toBe(0);
    const rows = await timersFor(db, 'incident', 'INC-2');
    expect(Object.fromEntries(rows.map((r) => [r.key, r.status]))).toEqual({ t2: 'cancelled', t3: 'cancelled', t4: 'fired' });
  });

  it('a failing handler is retried later, then given up, and its writes roll back', async () => {
    let calls = 0;
    const audit = new AuditLog(db.provider, clock, { keyring: AUDIT_KEYRING });
    const s = new TimerScheduler(db, clock, log, { owner: 'a', maxAttempts: 2, retryMs: MIN }).on('flaky', async (tx) => {
      calls += 1;
      await audit.append(tx, { actorId: 'system', platform: 'test', action: 'flaky.partial' });
      throw new Error('boom');
    });
    await schedule('t5', 0, 'flaky', 'INC-5');
    expect(await s.tick()).toBe(0);
    expect((await timersFor(db, 'incident', 'INC-5'))[0]).toMatchObject({ status: 'pending', attempts: 1, lastError: 'boom', dueAt: at(MIN) });
    clock.advance(MIN);
    expect(await s.tick()).toBe(0);
    expect((await timersFor(db, 'incident', 'INC-5'))[0]).toMatchObject({ status: 'failed', attempts: 2 });
    expect(calls).toBe(2);
    expect(await db.read((tx) => tx.auditEntry.count({ where: { action: 'flaky.partial' } }))).toBe(0);
  });

  it('a replica that lost its lease does not fire; the one that took over does, once', async () => {
    const fired: string[] = [];
    const a = scheduler('a', fired, { leaseMs: MIN });
    const b = scheduler('b', fired, { leaseMs: MIN });
    await schedule('t6', 0, 'nudge', 'INC-6');
    // a claims but stalls; the lease runs out; b takes over and fires.
    const { claimTimers } = await import('../../src/store/timers.ts');
    const [claimedByA] = await claimTimers(db, clock, 'a', 10, MIN);
    expect(claimedByA?.key).toBe('t6');
    clock.advance(MIN + 1);
    expect(await b.tick()).toBe(1);
    // a wakes up and tries to fire what it claimed: the row is no longer its own.
    expect(await (a as unknown as { fire(t: unknown): Promise<boolean> }).fire(claimedByA)).toBe(false);
    expect(fired).toEqual(['b:t6:2']);
  });

  it.runIf(TEST_PROVIDER === 'postgresql')('fire exactly once with two processes on PostgreSQL', async () => {
    const N = 300;
    await db.tx(async (tx) => {
      for (let i = 0; i < N; i++) {
        await scheduleTimer(tx, clock, { key: `p${i}`, kind: 'probe', subjectType: 'probe', subjectId: String(i), dueAt: new Date(Date.now() - 1000) });
      }
    });
    const worker = join(import.meta.dirname, '..', 'support', 'timerWorker.ts');
    const tsx = join(import.meta.dirname, '..', '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const results = await Promise.all(
      ['w1', 'w2'].map(async (owner) => JSON.parse((await run(process.execPath, [tsx, worker, ctx.tdb.url, owner], { timeout: 60_000 })).stdout) as { owner: string; fired: number }),
    );
    expect(results[0]!.fired + results[1]!.fired).toBe(N);
    const entries = await db.read((tx) => tx.auditEntry.findMany({ where: { action: 'timer.fired' }, select: { subjectId: true, actorId: true } }));
    expect(entries).toHaveLength(N);
    expect(new Set(entries.map((e) => e.subjectId)).size).toBe(N);
    // Both processes took part (the work was shared, not serialised on one).
    expect(new Set(entries.map((e) => e.actorId))).toEqual(new Set(['w1', 'w2']));
    expect(await db.read((tx) => tx.timer.count({ where: { subjectType: 'probe', status: 'fired' } }))).toBe(N);
    expect((await verifyChain(db, AUDIT_KEYRING)).ok).toBe(true);
  });
});
