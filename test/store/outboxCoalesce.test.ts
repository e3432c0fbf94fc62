import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { TEST_PROVIDER } from '../support/db.ts';
import { claimEffects, enqueueEffects, waitingRedrawsSql, type EffectSpec } from '../../src/store/outbox.ts';
import { systemClock } from '../../src/domain/clock.ts';
import type { Database } from '../../src/store/db.ts';

/**
 * A redraw joins a waiting one (same coalesce key) only if that one has not started: the one that runs renders the
 * record at send time, so it must not render before the state change that joined it commits. On PostgreSQL (read
 * committed) a dispatcher could claim the waiting redraw between the join and the commit, render the old state and
 * send it, and no later redraw was queued: the card kept a stale state (seen as stale approval cards after bursts).
 */
let db: Database;
onMigratedDatabase((opened) => {
  db = opened;
});

const redraw = (key: string): EffectSpec => ({ op: 'updateMessage', coalesce: key, args: { channel: 'C1', ts: '1.000100', text: 'card' } });
const enqueue = (...e: EffectSpec[]) => db.tx((tx) => enqueueEffects(tx, systemClock, { platform: 'slack' }, e));

describe('coalesced redraws', () => {
  it('a redraw claimed while a state change that joined it is still open does not swallow that change', async () => {
    const [waiting] = await enqueue(redraw('card:race'));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let joined: number | undefined;
    let joinedAt = false;
    // The state change: it asks for a redraw (which joins the waiting one) and has not committed yet.
    const change = db.tx(async (tx) => {
      [joined] = await enqueueEffects(tx, systemClock, { platform: 'slack' }, [redraw('card:race')]);
      joinedAt = true;
      await gate;
    });
    while (!joinedAt) await new Promise((r) => setTimeout(r, 5));
    // A dispatcher claims now (on SQLite it waits for the open transaction: one writer at a time).
    let claimedAt = 0;
    const claim = claimEffects(db, systemClock, 'd1', 10, 60_000).then((rows) => {
      claimedAt = performance.now();
      return rows.map((r) => r.id);
    });
    await new Promise((r) => setTimeout(r, 300));
    // Whether the claim had finished while the change was still open (its transaction ends only after the release).
    const claimedWhileOpen = claimedAt !== 0;
    release();
    await change;
    const claimed = await claim;
    if (joined === waiting) {
      // It joined the waiting redraw: a claim that finished before the change committed must not have taken it.
      if (claimed.includes(waiting!)) expect(claimedWhileOpen).toBe(false);
    } else {
      // Or it queued a redraw of its own, which runs after the one claimed.
      expect(joined).toBeGreaterThan(waiting!);
    }
  });

  // SQLite only: it plans without statistics, and chose the status index. PostgreSQL's choice on a table this small
  // is a sequential scan whatever the statement; on 40,000 effects it looked the rows up by id before and after the
  // change (EXPLAIN ANALYZE, with and without ANALYZE; docs/scaling.md).
  it.runIf(TEST_PROVIDER === 'sqlite')('finds the waiting redraws to join by their key, then by id: never by reading every pending effect', async () => {
    const plan = (await db.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${waitingRedrawsSql(2)}`, new Date(), 'card:a', 'card:b')).map((r) => r.detail);
    const onOutbox = plan.filter((d) => /^(SCAN|SEARCH) outbox/.test(d));
    expect(onOutbox, plan.join('\n')).toEqual(['SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)', 'SEARCH outbox USING COVERING INDEX outbox_coalesce_key_status_idx (coalesce_key=? AND status=?)']);
  });
});
