import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startHarness, ADMIN, SIGNING_SECRET, type Harness } from '../support/harness.ts';
import { TEAM_ID } from '../support/fakeSlack.ts';
import { PG_ADMIN_URL, TEST_PROVIDER } from '../support/db.ts';
import { migratedDatabase } from '../support/store.ts';
import { blockAction, eventCallback, newTriggerId, post, slashCommand, type PostResult, type SlackRequest } from '../support/slackRequests.ts';
import { parsePolicyText } from '../../src/config/policy.ts';
import { systemClock } from '../../src/domain/clock.ts';
import { ACTIONS } from '../../blocks/actionIds.ts';

/**
 * The database goes away for a few seconds under load and comes back: the outbox dispatcher, the timer loop and the
 * inbox keep running, and nothing acknowledged is lost or done twice.
 *
 * PostgreSQL only. The shared server cannot be stopped (every other test file uses it), so only this test's
 * database is cut off, by the server itself: new connections refused (ALLOW_CONNECTIONS false) and open ones
 * terminated, which is what Muster sees when PostgreSQL restarts or fails over. SQLite has no equivalent: it is a
 * file this process holds open, with no server to lose and no connections to refuse (a renamed, deleted or
 * read-only file keeps working through the open handle), and another process holding its write lock makes
 * better-sqlite3 wait inside the calling thread (busy_timeout), which freezes the whole process instead of failing
 * its queries: nothing of what this test is about would run.
 */
const OUTAGE_MS = 5_000;
const DEV = 'UDEV'; // requester
const RM = 'URM'; // release_manager
const CTO = 'UCTO'; // cto
const SEC = 'USEC'; // security_lead
const MGR = 'UMGR'; // manager: escalated to at 7 s
const policy = parsePolicyText(
  [
    'approvals:',
    '  channel: "#approvals"',
    '  ttl: 10m',
    '  deployment:',
    '    escalation:',
    '      - { notify: approvers, after: 3s }',
    '      - { notify: manager, after: 7s }',
    '      - { notify: director, after: 5m }',
    // Windows and freezes are not enforced: it runs on the system clock, at any hour (deployWindows.e2e.test.ts tests them).
    'changes:',
    '  enforcedIn: []',
  ].join('\n'),
).policy!;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SOMETHING_WENT_WRONG = /Something went wrong on our side and nothing was changed/;

describe.runIf(TEST_PROVIDER === 'postgresql')('a database outage under load', () => {
  let h: Harness;
  let database: string;
  let admin: pg.Client;

  beforeAll(async () => {
    h = await startHarness({ policy, clock: systemClock, loops: true, users: [DEV, RM, CTO, SEC, MGR].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
    h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
    for (const [role, user] of [
      ['release_manager', RM],
      ['cto', CTO],
      ['security_lead', SEC],
      ['manager', MGR],
    ] as const) {
      expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
    }
    database = new URL(h.tdb.url).pathname.slice(1);
    admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await h?.close();
  });

  /** What happened to the requests sent: how often Slack (or the user) had to try again. */
  const stats = { http: {} as Record<string, number>, commandsRefused: 0, clicksRefused: 0, lies: [] as string[] };

  /**
   * POSTs a signed request until it is answered 200. A non-200 (a 500 from the event intake, Bolt's 404 when no ack
   * came within 3 s, a refused connection) is sent again, same body, with x-slack-retry-num as Slack does for Events
   * API deliveries. Slack does not retry commands and clicks, but their retry is sent the same way: a retry of a
   * request that did commit must be recognised (its trigger_id is its key) and never run twice.
   */
  async function deliver(req: SlackRequest): Promise<PostResult> {
    for (let retry = 0; ; retry++) {
      const res = await post(h.muster.url, req, { secret: SIGNING_SECRET, timeoutMs: 5_000, ...(retry ? { retryNum: retry, retryReason: 'http_error' } : {}) }).catch(
        (e: unknown) => ({ status: 0, body: String(e), headers: {} }) as PostResult,
      );
      if (res.status === 200) return res;
      stats.http[res.status] = (stats.http[res.status] ?? 0) + 1;
      if (retry > 200) throw new Error(`no 200 after ${retry} retries: ${res.status} ${res.body}`);
      await sleep(250);
    }
  }

  let n = 0;
  /** A command, repeated by its user while Muster answers "nothing was changed". Returns the reply that took. */
  async function command(text: string, user: string): Promise<string> {
    for (;;) {
      const res = await deliver(
        slashCommand({ command: '/approval', text, userId: user, teamId: TEAM_ID, channelId: 'C0GENERAL', responseUrl: h.slack.responseUrl(`cmd-${++n}`), triggerId: newTriggerId() }),
      );
      const reply = (JSON.parse(res.body || '{}') as { text?: string }).text ?? '';
      if (!SOMETHING_WENT_WRONG.test(reply)) return reply;
      stats.commandsRefused += 1;
      await sleep(250);
    }
  }

  /** An Approve click, clicked again by its user while Muster says "nothing was changed". Returns what it said. */
  async function approve(requestId: string, user: string): Promise<string> {
    for (;;) {
      const id = `click-${++n}`;
      await deliver(blockAction({ actionId: ACTIONS.approval.approve, value: requestId, userId: user, teamId: TEAM_ID, channelId: 'C0GENERAL', responseUrl: h.slack.responseUrl(id) }));
      const said = String((await h.slack.waitFor(() => h.slack.responsesTo(id).at(-1), 10_000)).body.text ?? '');
      // "Nothing was changed" must be true: a repeat never finds the vote already in.
      if (/You already approved/.test(said)) stats.lies.push(`${user} on ${requestId}: ${said}`);
      if (!SOMETHING_WENT_WRONG.test(said)) return said;
      stats.clicksRefused += 1;
      await sleep(250);
    }
  }

  /** An Events API delivery (App Home opened), redelivered while it is not acknowledged. */
  async function homeOpened(user: string, eventId: string): Promise<void> {
    await deliver(eventCallback({ event: { type: 'app_home_opened', user, tab: 'home', channel: `D${user}` }, teamId: TEAM_ID, eventId }));
  }

  async function setConnections(allow: boolean): Promise<void> {
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS ${allow}`);
    if (!allow) await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  }

  const db = () => h.muster.db;
  const request = (version: string) => db().read((tx) => tx.approvalRequest.findMany({ where: { version } }));

  async function settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Three reads, not one snapshot (db.read on PostgreSQL is no transaction): the timers and the events first, the
      // effects last. A timer fired or an event handled between the reads committed its effects with it, so the last
      // read sees them; read the other way round, a timer firing in between left a DM pending after "settled".
      const [timers, events, effects] = await db()
        .read(async (tx) => [
          await tx.timer.count({ where: { status: { in: ['pending', 'claimed'] }, dueAt: { lte: new Date() } } }),
          await tx.inboxEvent.count({ where: { status: { notIn: ['done', 'dead'] } } }),
          await tx.outboxEffect.count({ where: { status: { notIn: ['done', 'dead'] } } }),
        ])
        .catch(() => [-1, -1, -1]);
      if (effects === 0 && events === 0 && timers === 0) return;
      if (Date.now() > deadline) throw new Error(`not settled after ${timeoutMs} ms: ${effects} effects, ${events} events, ${timers} due timers open`);
      await sleep(100);
    }
  }

  it('every acknowledged command, click and event is delivered exactly once, every due timer fires once, nothing is dead', async () => {
    // Before: four production requests, each approved once (release manager). Their reminders (3 s) and
    // escalations to the manager (7 s) fall due during the outage (the cut comes 2.5 s after the last of them at the
    // earliest, or later on a loaded machine where this phase takes up to 4.5 s: the 7 s step still falls due in it).
    const startedAt = Date.now();
    const before = ['5.0.0', '5.0.1', '5.0.2', '5.0.3'];
    for (const v of before) expect(await command(`deploy production api ${v}`, DEV)).toMatch(/^APR-\d+ requested/);
    const early = await Promise.all(before.map(async (v) => (await request(v))[0]!));
    for (const r of early) expect(await approve(r.id, RM)).toContain('is in (1 of 3');
    await settled(10_000);
    // On a quick machine this phase can take well under 2 s: the cut then waits until 2.5 s after the last request, so
    // that every escalation (7 s) falls due inside the outage (5 s) rather than after it, where the last approvals
    // below would come first and cancel it (that request would then have no escalation at all).
    const lastEarly = Math.max(...early.map((r) => r.createdAt.getTime()));
    await sleep(Math.max(0, lastEarly + 2_500 - Date.now()));

    // The outage: this database refuses connections and its open ones are dropped, for OUTAGE_MS, while commands,
    // clicks and Events API deliveries keep arriving (and are retried as Slack and people would).
    const traffic: Promise<unknown>[] = [];
    const during: string[] = [];
    const sent = { commands: 0, clicks: 0, events: 0 };
    const ctoClicked = new Set<string>();
    await setConnections(false);
    const cutAt = Date.now();
    for (let k = 0; Date.now() - cutAt < OUTAGE_MS; k++) {
      const target = early.find((r) => !ctoClicked.has(r.id));
      if (k % 3 === 0) {
        const v = `6.0.${k}`;
        during.push(v);
        sent.commands += 1;
        traffic.push(command(`deploy production api ${v}`, DEV));
      } else if (k % 3 === 1 && target) {
        ctoClicked.add(target.id);
        sent.clicks += 1;
        traffic.push(approve(target.id, CTO));
      } else {
        sent.events += 1;
        traffic.push(homeOpened([RM, CTO, SEC, MGR][k % 4]!, `EvOUTAGE${k}`));
      }
      await sleep(300);
    }
    await setConnections(true);
    const restoredAt = Date.now();
    await Promise.all(traffic);
    const ackedAt = Date.now();
    // The outage was real: requests were refused, events answered 500.
    expect(stats.commandsRefused + stats.clicksRefused).toBeGreaterThan(0);
    expect(stats.http['500'] ?? 0).toBeGreaterThan(0);
    expect(stats.lies).toEqual([]);
    // (Any request a click did not reach during the outage gets its CTO approval now.)
    for (const r of early) if (!ctoClicked.has(r.id)) expect(await approve(r.id, CTO)).toContain('is in (2 of 3');

    // Every timer that fell due during the outage fires (once) now; then the last approvals come in.
    await settled(30_000);
    const drainedAt = Date.now();
    for (const r of early) expect(await approve(r.id, SEC)).toContain('approved — all 3 approvals are in');
    // The loops still run: a new request after the outage gets its cards without anyone draining anything.
    expect(await command('deploy production api 7.0.0', DEV)).toMatch(/^APR-\d+ requested/);
    const after = (await request('7.0.0'))[0]!;
    await h.slack.waitFor(() => h.slack.messages('CAPPROVALS').some((m) => m.text.startsWith(`APR-${after.number} `)), 15_000);
    // The requests asked for during the outage (made once it ended) get their own reminders and escalations, 3 s and
    // 7 s after they were made.
    const lastMade = Math.max(...(await db().read((tx) => tx.approvalRequest.findMany())).map((r) => r.createdAt.getTime()));
    await sleep(Math.max(0, lastMade + 7_500 - Date.now()));
    await settled(30_000);

    // Exactly one request per command that was acknowledged; none for the attempts told "nothing was changed".
    const all = await db().read((tx) => tx.approvalRequest.findMany({ orderBy: { number: 'asc' } }));
    expect(all.map((r) => r.version).sort()).toEqual([...before, ...during, '7.0.0'].sort());
    expect(new Set(all.map((r) => r.number)).size).toBe(all.length);
    expect(await db().read((tx) => tx.auditEntry.count({ where: { action: 'approval.request' } }))).toBe(all.length);
    // Votes: one per acknowledged click. The early requests are approved; those made during the outage wait.
    const votes = await db().read((tx) => tx.approvalVote.findMany());
    expect(votes.length).toBe(early.length * 3);
    for (const r of early) expect((await db().read((tx) => tx.approvalRequest.findUniqueOrThrow({ where: { id: r.id } }))).status).toBe('approved');

    // Every message Muster posted carries its effect id: each done post is in Slack exactly once, and Slack has no
    // message that is not a done post (nothing posted twice, nothing posted by an effect that was then retried).
    const effects = await db().read((tx) => tx.outboxEffect.findMany());
    expect(effects.filter((e) => e.status !== 'done').map((e) => [e.id, e.op, e.status, e.lastError])).toEqual([]);
    const posts = effects.filter((e) => e.op === 'postMessage' || e.op === 'dm').map((e) => e.id);
    const seen = new Map<number, number>();
    const untagged: string[] = [];
    for (const channel of Object.keys(h.slack.summary().messages)) {
      for (const m of h.slack.messages(channel)) {
        const effect = (m.metadata as { event_payload?: { effect?: number } } | undefined)?.event_payload?.effect;
        if (effect === undefined) untagged.push(`${channel}: ${m.text}`);
        else seen.set(Number(effect), (seen.get(Number(effect)) ?? 0) + 1);
      }
    }
    expect(untagged).toEqual([]);
    expect([...seen.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(posts.sort((a, b) => a - b));

    // Each request's cards: in #general, in #approvals, and a DM to each of the three approvers, once each; the
    // approved ones show it on every copy, and the requester was told once.
    for (const r of all) {
      const cards = await db().read((tx) => tx.approvalCard.findMany({ where: { requestId: r.id } }));
      expect(cards.map((c) => c.place).sort(), `APR-${r.number}`).toEqual(['approvals-channel', 'channel', 'dm', 'dm', 'dm']);
      for (const c of cards) {
        const at = JSON.parse(effects.find((e) => e.id === c.effectId)!.result ?? '{}') as { channel: string; ts: string };
        const shown = h.slack.message(at.channel, at.ts)!;
        if (r.status === 'approved') expect(shown.text, `APR-${r.number} ${c.place}`).toMatch(/— Approved$/);
        else expect(shown.text, `APR-${r.number} ${c.place}`).toMatch(/— pending 0\/3/);
      }
      const told = h.slack.dms(DEV).filter((m) => m.text.includes(`APR-${r.number} `) && m.text.includes('*approved*'));
      expect(told.length, `APR-${r.number}`).toBe(r.status === 'approved' ? 1 : 0);
    }

    // Timers: each request's reminder (3 s) and escalation to the manager (7 s) fired exactly once, the early ones
    // although they fell due while the database was away, and each person named got exactly one DM for it.
    const audits = await db().read((tx) => tx.auditEntry.findMany({ where: { action: { in: ['approval.remind', 'approval.escalate'] } } }));
    for (const r of all) {
      const ref = `APR-${r.number}`;
      const mine = audits.filter((a) => a.subjectId === ref);
      const levels = mine.map((a) => (JSON.parse(a.after ?? '{}') as { level: number }).level).sort();
      expect(levels, ref).toEqual([0, 1]);
      for (const a of mine) {
        const { level, users } = JSON.parse(a.after ?? '{}') as { level: number; users: string[] };
        const text = level === 0 ? `Reminder: ${ref} ` : `Escalation (manager): ${ref} `;
        expect(users.length, ref).toBeGreaterThan(0);
        for (const u of users) expect(h.slack.dms(u).filter((m) => m.text.includes(text)).length, `${ref} level ${level} to ${u}`).toBe(1);
      }
    }
    // (The early requests' timers really fell due while the database was away, and fired once it was back.)
    const dueInOutage = early
      .flatMap((r) => [0, 1].map((level) => ({ ref: `APR-${r.number}`, level, due: r.createdAt.getTime() + (level ? 7_000 : 3_000) })))
      .filter((d) => d.due >= cutAt && d.due < restoredAt);
    expect(dueInOutage.length).toBeGreaterThan(0);
    for (const d of dueInOutage) {
      const fired = audits.find((a) => a.subjectId === d.ref && (JSON.parse(a.after ?? '{}') as { level: number }).level === d.level)!;
      expect(fired.createdAt.getTime()).toBeGreaterThanOrEqual(restoredAt);
    }
    const timers = await db().read((tx) => tx.timer.findMany());
    expect(timers.filter((t) => t.status === 'failed' || ((t.status === 'pending' || t.status === 'claimed') && t.dueAt.getTime() <= Date.now()))).toEqual([]);

    // Events: each acknowledged delivery recorded once and handled; nothing dead anywhere.
    const events = await db().read((tx) => tx.inboxEvent.findMany());
    const outageEvents = events.filter((e) => e.eventKey.includes('EvOUTAGE'));
    expect(outageEvents.length).toBe(sent.events);
    expect(events.filter((e) => e.status !== 'done').map((e) => [e.eventKey, e.status, e.lastError])).toEqual([]);
    for (const u of [RM, CTO, SEC, MGR]) if (outageEvents.some((e) => e.payload.includes(`"user":"${u}"`))) expect(h.slack.homeView(u), u).toBeDefined();

    // And it stops cleanly afterwards (closing the pool waits for every connection it lent out).
    const stopStarted = Date.now();
    expect(await Promise.race([h.muster.stop().then(() => 'stopped'), sleep(10_000).then(() => 'still stopping after 10 s')])).toBe('stopped');
    const stopMs = Date.now() - stopStarted;

    console.log(
      `outage figures: ${JSON.stringify({
        outageMs: restoredAt - cutAt,
        earlyPhaseMs: cutAt - startedAt,
        sentDuringOutage: sent,
        refusedThenRepeated: { commands: stats.commandsRefused, clicks: stats.clicksRefused },
        nonOkAnswersRetried: stats.http,
        allAcknowledgedMsAfterRestore: ackedAt - restoredAt,
        everythingDueDoneMsAfterRestore: drainedAt - restoredAt,
        requests: all.length,
        effectsDone: effects.length,
        messagesPosted: posts.length,
        timersFired: audits.length,
        timersDueDuringOutage: dueInOutage.length,
        stopMs,
      })}`,
    );
  }, 120_000);

  it('a transaction whose connection dies gives its pool slot back: the pool never runs dry, closing it never hangs', async () => {
    const store = await migratedDatabase();
    const name = new URL(store.tdb.url).pathname.slice(1);
    let closed = false;
    const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, sleep(ms).then(() => 'timed out' as const)]);
    try {
      // More transactions cut off mid-way than the pool has connections (10).
      for (let round = 0; round < 12; round++) {
        let open!: () => void;
        const opened = new Promise<void>((r) => (open = r));
        let resume!: () => void;
        const gate = new Promise<void>((r) => (resume = r));
        const tx = store.db
          .tx(async (t) => {
            await t.outboxEffect.count();
            open();
            await gate;
            await t.outboxEffect.count();
          })
          .then(
            () => 'committed',
            () => 'failed',
          );
        // (Before the fix the pool ran dry at the 11th: no connection came for it.)
        expect(
          await within(
            opened.then(() => 'opened'),
            5_000,
          ),
          `transaction ${round + 1}`,
        ).toBe('opened');
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        resume();
        expect(await tx).toBe('failed');
      }
      expect(
        await within(
          store.db.tx((t) => t.outboxEffect.count()),
          5_000,
        ),
      ).toBe(0);
      expect(
        await within(
          store.db.close().then(() => 'closed'),
          5_000,
        ),
      ).toBe('closed');
      closed = true;
    } finally {
      if (closed) await store.tdb.drop();
      // Before the fix the pool never closed: drop the database anyway (WITH FORCE), leaving the handle behind.
      else await store.tdb.drop().catch(() => undefined);
    }
  }, 60_000);
});
