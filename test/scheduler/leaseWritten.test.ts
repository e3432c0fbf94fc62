import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { AUDIT_KEYRING } from '../support/auditKey.ts';
import type { Database } from '../../src/store/db.ts';
import { AuditLog } from '../../src/store/audit.ts';
import { Kernel } from '../../src/services/kernel.ts';
import { OutboxDispatcher } from '../../src/scheduler/outboxDispatcher.ts';
import { enqueueEffects, leaseWritten, watchWrites, type EffectSpec } from '../../src/store/outbox.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import { defaultPolicy } from '../../src/config/policy.ts';
import { systemClock } from '../../src/domain/clock.ts';

/**
 * Effects leased in the transaction that wrote them (outbox.ts leaseWritten, OutboxDispatcher.leaseInTx): a command's
 * or click's effects run once it has committed, with no claim of the dispatcher's; what they leave (effects waiting for
 * others, more than the free slots) is claimed as before, and a transaction that fails gives its slots back.
 */
let db: Database;
onMigratedDatabase((opened) => {
  db = opened;
});

const log = pino({ level: 'silent' });
const WORKSPACE = 'slack:T0LEASE';

/** `db` with every claim of the dispatcher's counted (SQLite asks on the reader first; PostgreSQL has a connection for it). */
function counting(base: Database, claims: { n: number; took: Set<number> }): Database {
  const claimed = (sql: string) => {
    if (/FROM outbox o\s/.test(sql)) claims.n += 1;
  };
  // The ids a claim took (SQLite's claim writes on the writer, PostgreSQL's on its own connection).
  const took = <T>(rows: Promise<T[]>) =>
    rows.then((r) => {
      for (const row of r) claims.took.add(Number((row as { id: unknown }).id));
      return r;
    });
  return {
    ...base,
    query: (sql, ...params) => {
      if (base.provider === 'sqlite') claimed(sql);
      return base.query(sql, ...params);
    },
    write: (sql, ...params) => (/^UPDATE outbox SET status = CASE/.test(sql) ? took(base.write(sql, ...params)) : base.write(sql, ...params)),
    claim: (sql, ...params) => {
      if (base.provider === 'postgresql') claimed(sql);
      return took(base.claim(sql, ...params));
    },
  };
}

/**
 * Fault injection in the database: the audit entry of a unit whose subject is `refused` cannot be inserted. That insert
 * is a unit's last statement, after the lease (on PostgreSQL it goes with the COMMIT): the whole transaction rolls back.
 */
async function refuseAuditOf(subject: string, on: boolean) {
  if (db.provider === 'sqlite') {
    if (on) await db.run(`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries WHEN NEW.subject_id = '${subject}' BEGIN SELECT RAISE(ABORT, 'audit insert refused'); END`);
    else await db.run('DROP TRIGGER IF EXISTS refuse_audit');
    return;
  }
  if (on) {
    await db.run(
      `CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.subject_id = '${subject}' THEN RAISE EXCEPTION 'audit insert refused'; END IF; RETURN NEW; END $$`,
    );
    await db.run('CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION refuse_audit()');
  } else {
    await db.run('DROP TRIGGER IF EXISTS refuse_audit ON audit_entries');
    await db.run('DROP FUNCTION IF EXISTS refuse_audit()');
  }
}

function setUp(opts: { concurrency?: number } = {}) {
  const claims = { n: 0, took: new Set<number>() };
  const counted = counting(db, claims);
  const ran: string[] = [];
  /** The claims made before each effect ran, by its text. */
  const claimsBefore = new Map<string, number>();
  const dispatcher = new OutboxDispatcher(counted, systemClock, log, { owner: 'lease-test', pollMs: 60_000, concurrency: opts.concurrency ?? 8 }).addRunner({
    platform: 'slack',
    perform: async (_op, args) => {
      ran.push(String(args.text));
      claimsBefore.set(String(args.text), claims.n);
      return { ok: true, n: ran.length };
    },
  });
  const kernel = new Kernel({
    db: counted,
    clock: systemClock,
    policy: defaultPolicy(),
    log,
    admins: [],
    audit: new AuditLog(db.provider, systemClock, { keyring: AUDIT_KEYRING }),
    onEffects: () => dispatcher.kick(),
    effectLeases: { watch: (tx) => dispatcher.watch(tx), lease: (tx) => dispatcher.leaseInTx(tx) },
  });
  return { claims, ran, claimsBefore, dispatcher, kernel, actor: kernel.systemActor(WORKSPACE) };
}

async function effectsOf(requestId: string) {
  return db.query<{ id: unknown; status: string; attempts: unknown; leased_by: string | null; uncertain: unknown }>(
    'SELECT id, status, attempts, leased_by, uncertain FROM outbox WHERE request_id = ? ORDER BY id',
    requestId,
  );
}

async function until(check: () => boolean | Promise<boolean>, what: string) {
  for (let i = 0; i < 250; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type SetUp = ReturnType<typeof setUp>;
const post = (text: string, more: Omit<EffectSpec, 'op' | 'args'> = {}): EffectSpec => ({ op: 'postMessage', args: { channel: 'C0LEASE', text }, ...more });

/** A command's unit (Kernel.run) that audits and writes these effects, under its own request id. */
function unit(t: SetUp, requestId: string, ...effects: EffectSpec[]) {
  return t.kernel.run(t.actor, { requestId }, async (u) => {
    u.audit({ action: 'test.lease', subjectType: 'test', subjectId: requestId });
    u.effects(...effects);
  });
}

/** Waits until the request's `count` effects (all it wrote, by default) are done. */
async function allDone(requestId: string, count?: number) {
  await until(async () => {
    const all = await effectsOf(requestId);
    return (count === undefined || all.length === count) && all.every((e) => e.status === 'done');
  }, `the effects of ${requestId} done`);
}

/** The ids of the request's effects that a claim took. */
async function claimedOf(t: SetUp, requestId: string) {
  return (await effectsOf(requestId)).filter((e) => t.claims.took.has(Number(e.id))).map((e) => Number(e.id));
}

/** A test body run with the dispatcher polling (started), stopped after it. */
async function polling(t: SetUp, body: () => Promise<void>) {
  await started(t.dispatcher, t.claims);
  try {
    await body();
  } finally {
    await t.dispatcher.stop();
  }
}

/** The dispatcher started (its first poll claims at once) and that claim over: the 60 s poll claims no more here. */
async function started(dispatcher: OutboxDispatcher, claims: { n: number; took: Set<number> }) {
  dispatcher.start();
  await until(() => claims.n >= 1, 'the first poll');
  await new Promise((r) => setTimeout(r, 50));
  claims.n = 0;
}

describe('effects leased in the transaction that wrote them', () => {
  it("a unit's effects run once it has committed, each once, with no claim", async () => {
    const t = setUp();
    await polling(t, async () => {
      await unit(t, 'lease:one', post('first'), post('second'));
      await allDone('lease:one');
      expect(t.ran.sort()).toEqual(['first', 'second']);
      expect(t.claims.n).toBe(0);
      for (const e of await effectsOf('lease:one')) {
        expect(Number(e.attempts)).toBe(1);
        expect(e.leased_by).toBe('lease-test');
        expect(Boolean(Number(e.uncertain) || e.uncertain === true)).toBe(false);
      }
    });
  });

  it('an effect waiting for another is left to the claim that the first one kicks as it ends; the first is leased', async () => {
    const t = setUp();
    await polling(t, async () => {
      await unit(t, 'lease:after', post('parent', { ref: 'p' }), post('child', { after: 'p' }));
      await allDone('lease:after');
      expect(t.ran).toEqual(['parent', 'child']);
      // A claim took the child; the unit leased the parent.
      const [parent, child] = await effectsOf('lease:after');
      expect(await claimedOf(t, 'lease:after')).toEqual([Number(child!.id)]);
      expect([parent, child].map((e) => Number(e!.attempts))).toEqual([1, 1]);
    });
  });

  it('a redraw (an effect with a coalescing key) is left to the claim, so that the next change can join it; the others are leased', async () => {
    const t = setUp();
    await polling(t, async () => {
      await unit(t, 'lease:redraw', post('posted'), post('redrawn', { coalesce: 'card:lease-test' }));
      await allDone('lease:redraw');
      expect(t.ran.sort()).toEqual(['posted', 'redrawn']);
      const [, redrawn] = await effectsOf('lease:redraw');
      expect(await claimedOf(t, 'lease:redraw')).toEqual([Number(redrawn!.id)]);
    });
  });

  it('no more are leased than the dispatcher has free slots; the claim takes the rest, and every effect runs once', async () => {
    const t = setUp({ concurrency: 2 });
    await polling(t, async () => {
      const texts = ['a', 'b', 'c', 'd', 'e'];
      await unit(t, 'lease:slots', ...texts.map((text) => post(text)));
      await allDone('lease:slots');
      expect(t.ran.sort()).toEqual(texts);
      expect((await claimedOf(t, 'lease:slots')).length).toBeGreaterThanOrEqual(3);
      expect((await effectsOf('lease:slots')).map((e) => Number(e.attempts))).toEqual([1, 1, 1, 1, 1]);
    });
  });

  it("what an effect's hook writes, and what waited for the effect, are leased in the hook's transaction and start before any claim (a war room's card once its channel exists)", async () => {
    const t = setUp();
    t.dispatcher.addHook('then', async (tx, { result }) => {
      await t.kernel.inTx(tx, t.actor, { requestId: 'lease:hook' }, async (u) => {
        u.audit({ action: 'test.hook', subjectType: 'test', subjectId: 'hook' });
        u.effects(post(`after ${String(result.n)}`));
      });
    });
    await polling(t, async () => {
      await unit(t, 'lease:hook', post('hooked', { hook: { name: 'then' }, ref: 'h' }), post('waited', { after: 'h' }));
      await allDone('lease:hook', 3);
      expect(t.ran[0]).toBe('hooked');
      expect(t.ran.slice(1).sort()).toEqual(['after 1', 'waited']);
      // No claim took any: the first was leased by its unit, the others by the hook's transaction (the one its hook
      // wrote, and the one that waited for it). (The unit kicked a claim for the one left waiting; it found nothing.)
      expect(t.claimsBefore.get('hooked')).toBe(0);
      expect(await claimedOf(t, 'lease:hook')).toEqual([]);
    });
  });

  it('a transaction that fails after leasing (its audit insert refused) leaves nothing leased and gives its slots back', async () => {
    const t = setUp({ concurrency: 1 });
    await polling(t, async () => {
      await refuseAuditOf('lease:failed', true);
      try {
        await expect(unit(t, 'lease:failed', post('never'))).rejects.toThrow('audit insert refused');
      } finally {
        await refuseAuditOf('lease:failed', false);
      }
      expect(await effectsOf('lease:failed')).toEqual([]);
      // Its one slot is free again: the next unit's effect is leased in its transaction, and runs. (It took the one
      // slot, so a claim was kicked for what might be left; it found nothing.)
      await unit(t, 'lease:next', post('next'));
      await allDone('lease:next');
      expect(t.ran).toEqual(['next']);
      expect(await claimedOf(t, 'lease:next')).toEqual([]);
    });
  });

  it('a transaction holds no more slots than it can fill: what it wrote, and what waits for the effect it marked done', async () => {
    const takes = await db
      .tx(async (tx) => {
        watchWrites(tx);
        await enqueueEffects(tx, systemClock, { platform: 'slack', requestId: 'lease:take' }, [post('one'), post('two')]);
        const wrote = leaseWritten(tx, systemClock, 'take-test', 8, 60_000);
        const none = leaseWritten(tx, systemClock, 'take-test', 8, 60_000);
        const [freed] = await enqueueEffects(tx, systemClock, { platform: 'slack', requestId: 'lease:take' }, [post('three')]);
        const leases = [
          wrote,
          none,
          ...[1, 0, undefined].map((waiting) => leaseWritten(tx, systemClock, 'take-test', 8, 60_000, freed, waiting)),
          leaseWritten(tx, systemClock, 'take-test', 3, 60_000, freed),
        ];
        // Sent with a next statement that never comes (PostgreSQL): the rollback rejects them.
        for (const l of leases) for (const p of [l?.rows, l?.all]) p?.catch(() => {});
        throw Object.assign(new Error('rolled back'), { taken: leases.map((l) => l?.take) });
      })
      .catch((e: { taken?: unknown[] }) => e.taken);
    // Two written (both leasable); nothing written since; one waiting; none waiting; as many as may wait (the slots).
    expect(takes).toEqual([2, undefined, 1, undefined, 8, 3]);
    expect(await effectsOf('lease:take')).toEqual([]);
  });

  it.runIf(TEST_PROVIDER === 'postgresql')("a transaction still open after leasing leaves the other slots to another's lease (a war room's invitation and card hooks finish together)", async () => {
    const t = setUp({ concurrency: 4 });
    await polling(t, async () => {
      let held: ReturnType<OutboxDispatcher['leaseInTx']>;
      await db.tx(async (tx) => {
        t.dispatcher.watch(tx);
        await enqueueEffects(tx, systemClock, { platform: 'slack', requestId: 'lease:held' }, [post('held')]);
        held = t.dispatcher.leaseInTx(tx);
        // Its lease goes with its next statement (here its COMMIT): its slot is held until then. Meanwhile another
        // transaction commits three effects; the dispatcher has three slots left for them, and leases them.
        await unit(t, 'lease:beside', post('b1'), post('b2'), post('b3'));
      });
      await held?.adopt();
      await allDone('lease:beside');
      await allDone('lease:held');
      expect(t.ran.sort()).toEqual(['b1', 'b2', 'b3', 'held']);
      expect(await claimedOf(t, 'lease:beside')).toEqual([]);
      expect(await claimedOf(t, 'lease:held')).toEqual([]);
    });
  });

  it('a dispatcher that is not polling (runOnce and kicks only: tests, the CLI) leases nothing: its claim takes the effects', async () => {
    const t = setUp();
    await unit(t, 'lease:idle', post('claimed'));
    await allDone('lease:idle');
    expect(t.ran).toEqual(['claimed']);
    expect((await claimedOf(t, 'lease:idle')).length).toBe(1);
    await t.dispatcher.stop();
  });
});
