import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { startHarness, type Harness } from '../../support/harness.ts';
import { stuckEffects } from '../../support/store.ts';
import { TEST_PROVIDER } from '../../support/db.ts';

/**
 * A command whose work commits after Slack stopped waiting (Bolt answers a request not acked within 3 s itself): the
 * command still took effect, so the person is told its real outcome on the response_url, not that nothing changed.
 * The database is held from outside for longer than Slack waits (the table every changing request writes its key
 * into), as a busy or slow database would. PostgreSQL only: SQLite's driver waits for a lock synchronously, which
 * stalls the whole event loop, Bolt's own 3 s answer included; there a late ack comes from a queue of work, which a
 * test cannot stage without depending on timing.
 */
const U = 'ULATE';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ users: [{ id: U, name: 'late' }] });
});
afterAll(async () => h?.close());

/** Holds every changing request off for `ms`, from outside Muster. */
async function holdWrites(ms: number): Promise<void> {
  const c = new pg.Client({ connectionString: h.tdb.url });
  await c.connect();
  await c.query('BEGIN');
  await c.query('LOCK TABLE processed_requests IN EXCLUSIVE MODE');
  await new Promise((r) => setTimeout(r, ms));
  await c.query('COMMIT');
  await c.end();
}

it.skipIf(TEST_PROVIDER !== 'postgresql')(
  'a command acked after Slack gave up: it took effect once, and the person is told so on the response_url',
  async () => {
    // Known already (the actor lookup needs no write), so only the command's own transaction waits.
    expect((await h.command('/muster', 'whoami', U)).status).toBe(200);
    const held = holdWrites(4_500);
    await new Promise((r) => setTimeout(r, 200));
    const r = await h.command('/incident', 'declare P3 Late answer check', U);
    // Bolt answered for Muster at 3 s (Slack would show the person a timeout).
    expect(r.status).toBe(404);
    await held;
    const told = await h.slack.waitFor(() => h.slack.responses.find((x) => JSON.stringify(x.body).includes('Late answer check')), 10_000);
    expect(JSON.stringify(told.body)).not.toContain('nothing was changed');
    expect(await h.muster.db.read((tx) => tx.incident.count({ where: { title: { contains: 'Late answer check' } } }))).toBe(1);
    await h.flush();
    expect(await stuckEffects(h.muster.db)).toEqual([]);
  },
  30_000,
);
