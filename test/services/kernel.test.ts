import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { AUDIT_KEYRING } from '../support/auditKey.ts';
import pg from 'pg';
import { sqlOf, type Database } from '../../src/store/db.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import { AuditLog } from '../../src/store/audit.ts';
import { DuplicateRequest, Kernel, type Unit } from '../../src/services/kernel.ts';
import { Refusal } from '../../src/services/errors.ts';
import { defaultPolicy } from '../../src/config/policy.ts';
import { systemClock } from '../../src/domain/clock.ts';

/** The kernel tells the dispatcher of effects once they are committed: once per unit of work that wrote any. */
let db: Database;
onMigratedDatabase((opened) => {
  db = opened;
});

function kernel(onEffects: () => void): Kernel {
  return new Kernel({
    db,
    clock: systemClock,
    policy: defaultPolicy(),
    log: pino({ level: 'silent' }),
    admins: [],
    audit: new AuditLog(db.provider, systemClock, { keyring: AUDIT_KEYRING }),
    onEffects,
  });
}

describe('kernel: effects are announced once committed', () => {
  it('a unit that wrote effects tells once, when they can be read by another connection; one that wrote none does not tell', async () => {
    // Each tell's read, awaited at the end rather than given a fixed time: on a loaded machine the other connection's
    // first query can take longer than any sleep a test would afford (it once took over 50 ms in CI).
    const reads: Promise<number>[] = [];
    const k = kernel(() => {
      // What the dispatcher would claim now, read on a connection of its own: the effect is there.
      const read = db.query<{ n: unknown }>(`SELECT count(*) AS n FROM outbox WHERE status = 'pending' AND request_id = 'kernel:tell'`);
      reads.push(read.then(([r]) => Number(r?.n)));
    });
    const actor = k.systemActor('slack:T0KERNEL');
    const run = k.run(actor, { requestId: 'kernel:tell' }, async (u) => {
      u.audit({ action: 'test.tell', subjectType: 'test', subjectId: 'one' });
      u.effects({ op: 'postMessage', args: { channel: 'C0KERNEL', text: 'told' } });
      return 'done';
    });
    await expect(run).resolves.toBe('done');
    const quiet = k.run(actor, { requestId: 'kernel:quiet' }, async (u) => {
      u.audit({ action: 'test.quiet', subjectType: 'test', subjectId: 'two' });
      return 'quiet';
    });
    await expect(quiet).resolves.toBe('quiet');
    // The kernel tells synchronously after the commit (there is no lease to adopt here), so both runs have told by now.
    expect(reads).toHaveLength(1);
    expect(await Promise.all(reads)).toEqual([1]);
  });
});

/**
 * A request's key (its trigger id) is taken in its transaction: a retry of a request already handled is refused with
 * DuplicateRequest whatever its body did, and all of it rolls back. On PostgreSQL the key goes with the body's first
 * statement, so its outcome is read after the body, or as the body fails.
 */
describe('kernel: a request is handled once', () => {
  let n = 0;
  const k = () => kernel(() => {});
  const audited = async (subjectId: string) => Number((await db.query<{ n: unknown }>('SELECT count(*) AS n FROM audit_entries WHERE subject_id = ?', subjectId))[0]!.n);
  const keyed = (key: string, body: (u: Unit) => Promise<string>) => k().run(k().systemActor('slack:T0KERNEL'), { requestId: key, requestKey: key }, body);
  const audit = (u: Unit, id: string) => u.audit({ action: 'test.once', subjectType: 'test', subjectId: id });
  /** The request run twice: the first run's reply, then a duplicate; one audit entry of it, the first run's. */
  const twice = async (key: string, body: (u: Unit) => Promise<string>) => {
    await expect(keyed(key, body)).resolves.toBe('done');
    await expect(keyed(key, body)).rejects.toBeInstanceOf(DuplicateRequest);
    expect(await audited(key)).toBe(1);
  };
  const workspace = (u: Unit, id: string) => sqlOf(u.tx).run('INSERT INTO workspaces (id, platform, external_id, created_at) VALUES (?, ?, ?, ?)', id, 'slack', id, u.now);
  /** A body whose first statement inserts a row named by the key (a retry's fails on it), then audits. */
  const writes = (key: string) => async (u: Unit) => {
    await workspace(u, key);
    audit(u, key);
    return 'done';
  };

  it('a retry is refused as a duplicate, and what its body wrote rolls back', async () => {
    const key = `once-${++n}`;
    const body = async (u: Unit) => {
      await sqlOf(u.tx).all('SELECT 1 AS one');
      audit(u, key);
      u.effects({ op: 'postMessage', args: { channel: 'C0KERNEL', text: key } });
      return 'done';
    };
    await twice(key, body);
    expect((await db.query('SELECT id FROM outbox WHERE request_id = ?', key)).length).toBe(1);
  });

  it("a retry whose body refuses (it finds the first run's writes) is told it is a duplicate, not the refusal", async () => {
    const key = `once-${++n}`;
    const body = async (u: Unit) => {
      const seen = await sqlOf(u.tx).all('SELECT id FROM workspaces WHERE id = ?', key);
      if (seen.length) throw new Refusal('You already did that.');
      await workspace(u, key);
      audit(u, key);
      return 'done';
    };
    await twice(key, body);
  });

  it("a retry whose body's first statement fails on the first run's writes is told it is a duplicate", async () => {
    const key = `once-${++n}`;
    // The key goes with the insert on PostgreSQL: the retry's batch fails as a whole, and the committed key says why.
    await twice(key, writes(key));
  });

  it('a first run that fails or refuses takes no key: its error is its own, and the request can be sent again', async () => {
    const key = `once-${++n}`;
    const taken = `once-taken-${++n}`;
    await db.tx((tx) => sqlOf(tx).run('INSERT INTO workspaces (id, platform, external_id, created_at) VALUES (?, ?, ?, ?)', taken, 'slack', taken, new Date()));
    await expect(keyed(key, (u) => workspace(u, taken).then(() => 'never'))).rejects.toThrow(/unique|duplicate key/i);
    await expect(
      keyed(key, async () => {
        throw new Refusal('Not now.');
      }),
    ).rejects.toBeInstanceOf(Refusal);
    await expect(
      keyed(key, async (u) => {
        audit(u, key);
        return 'done';
      }),
    ).resolves.toBe('done');
  });

  it('a body that sends no statement of its own still takes the key', async () => {
    const key = `once-${++n}`;
    const body = async (u: Unit) => {
      audit(u, key);
      return 'done';
    };
    await twice(key, body);
  });

  it('a refused request is recorded once: its retry finds the key the record took', async () => {
    const key = `once-${++n}`;
    const kernel = k();
    const actor = kernel.systemActor('slack:T0KERNEL');
    const refusal = new Refusal('Not allowed.', { action: 'test.refused', subjectType: 'test', subjectId: key });
    await kernel.recordRefusal(actor, { requestId: key, requestKey: key }, refusal);
    await kernel.recordRefusal(actor, { requestId: key, requestKey: key }, refusal);
    expect(await audited(key)).toBe(1);
    await expect(keyed(key, async () => 'never')).rejects.toBeInstanceOf(DuplicateRequest);
  });

  it('two deliveries at once: one runs, the other is a duplicate', async () => {
    const key = `once-${++n}`;
    const both = await Promise.allSettled([keyed(key, writes(key)), keyed(key, writes(key))]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const other = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(other.reason).toBeInstanceOf(DuplicateRequest);
    expect(await audited(key)).toBe(1);
  });

  it.runIf(TEST_PROVIDER === 'postgresql')("the key goes to the server with the body's first statement, in one round trip", async () => {
    const key = `once-${++n}`;
    const mark = `once_${Date.now()}_${n}`;
    const texts: string[] = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
      texts.push(String(typeof config === 'string' ? config : (config as { text?: string })?.text));
      return (original as (...a: unknown[]) => unknown).call(this, config, ...rest);
    } as typeof original;
    try {
      await keyed(key, async (u) => {
        // A text of its own, new on every connection, so it is sent as text (in its PREPARE) and can be found.
        await sqlOf(u.tx).all(`SELECT 1 AS ${mark}`);
        audit(u, key);
        return 'done';
      });
    } finally {
      pg.Client.prototype.query = original;
    }
    const first = texts.find((t) => t.startsWith('BEGIN;'))!;
    expect(first).toContain(`'${key}'`);
    expect(first).toContain(`SELECT 1 AS ${mark}`);
    // Nowhere else: no round trip of the key's own.
    expect(texts.filter((t) => t !== first && t.includes(`'${key}'`) && !/audit_entries|COMMIT/.test(t))).toEqual([]);
  });
});
