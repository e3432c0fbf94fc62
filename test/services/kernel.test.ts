import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { AUDIT_KEYRING } from '../support/auditKey.ts';
import type { Database } from '../../src/store/db.ts';
import { AuditLog } from '../../src/store/audit.ts';
import { Kernel } from '../../src/services/kernel.ts';
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
