/**
 * The crash suite: for each kind of chat effect, Muster (`src/main.ts`, a real child process) is killed with
 * SIGKILL while that effect's Slack call is in flight. FakeSlack holds the call: Slack has applied it, the process
 * never hears back. A second process on the same database (same MUSTER_INSTANCE_ID, so on PostgreSQL it resumes
 * the dead one's effects at start-up; on SQLite it resumes any left running) finishes the work, and the workspace
 * shows each effect exactly once.
 *
 * The kinds run in order in one Muster lifetime chain: the process restarted after one crash drives the next
 * kind, so there is one process start per kind (plus the first one). Each kind stands alone in its assertions,
 * and after every restart what the test caused is checked against the outbox (`expectEachEffectOnce`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSlack, TEAM_ID, type FakeCall, type FakeMessage } from '../../support/fakeSlack.ts';
import { createTestDatabase, type TestDatabase } from '../../support/db.ts';
import { post, slashCommand } from '../../support/slackRequests.ts';
import { startMainReady, type Proc } from '../../support/process.ts';
import { openDatabase, type Database } from '../../../src/store/db.ts';

const SECRET = 'crash-secret';
const ADMIN = 'UADMIN';
const CAROL = 'UCAROL';
const DAN = 'UDAN';

let slack: FakeSlack;
let tdb: TestDatabase;
let db: Database;
let proc: Proc;
let url: string;
let vars: Record<string, string>;

/** Starts Muster on the suite's database (on a port of its own) and waits until it serves. */
async function start(): Promise<Proc> {
  const started = await startMainReady(vars);
  url = started.url;
  return started.proc;
}

beforeAll(async () => {
  slack = await FakeSlack.start();
  for (const [id, name] of [
    [ADMIN, 'ada'],
    ['UBOB', 'bob'],
    [CAROL, 'carol'],
    [DAN, 'dan'],
  ] as const) {
    slack.addUser({ id, name });
  }
  tdb = await createTestDatabase();
  vars = {
    SLACK_BOT_TOKEN: 'xoxb-crash',
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: slack.url,
    DATABASE_URL: tdb.url,
    MUSTER_ADMINS: ADMIN,
    LOG_LEVEL: 'info',
    // The restarted process is the same instance: it resumes the dead one's effects at start-up at once
    // (resumeUnfinished), instead of waiting for their lease (60 s) to run out.
    MUSTER_INSTANCE_ID: 'crash-suite',
  };
  proc = await start();
  // The first process has migrated the database: the test reads the outbox and the incidents from here on.
  db = await openDatabase(tdb.url);
});

afterAll(async () => {
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
  await db?.close();
  await slack?.close();
  await tdb?.drop();
});

// ---------------------------------------------------------------------------------------------------------------
// Driving Muster and crashing it
// ---------------------------------------------------------------------------------------------------------------

/** A slash command from the admin in #general; returns the immediate reply's text. */
async function command(cmd: '/incident' | '/muster', text: string): Promise<string> {
  const r = await post(url, slashCommand({ command: cmd, text, userId: ADMIN, teamId: TEAM_ID, responseUrl: slack.responseUrl() }), { secret: SECRET });
  expect(r.status, r.body).toBe(200);
  return String((JSON.parse(r.body) as { text?: unknown }).text ?? '');
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms.\nMuster's last log lines:\n${proc.stdout().split('\n').slice(-15).join('\n')}${proc.stderr()}`)), ms);
    }),
  ]);
}

const channelName = (id: unknown) => (typeof id === 'string' ? (slack.channel(id)?.name ?? '') : '');

/**
 * What existed before a test drove Muster. The outbox is empty at that point (every test ends settled), so all
 * the work a test's crash and restart touch is newer: the workspace checks look at that, and a kind that breaks
 * fails its own test only, not every test after it.
 */
interface Mark {
  /** the last outbox id */
  effectId: number;
  /** the last incident number */
  incident: number;
  channelsCreated: number;
  files: number;
}

async function mark(): Promise<Mark> {
  const last = await db.read((tx) => tx.outboxEffect.findFirst({ orderBy: { id: 'desc' }, select: { id: true } }));
  const inc = await db.read((tx) => tx.incident.findFirst({ orderBy: { number: 'desc' }, select: { number: true } }));
  return { effectId: last?.id ?? 0, incident: inc?.number ?? 0, channelsCreated: slack.summary().channelsCreated.length, files: slack.files.length };
}

interface Crash {
  /** the held call: applied by Slack, its answer never reached the killed process */
  call: FakeCall;
  /** the outbox row that was in flight */
  effect: { id: number; op: string };
  before: Mark;
}

/**
 * Holds the next `method` call matching `match`, runs `trigger`, and once the call has reached Slack (applied, the
 * answer withheld) kills Muster with SIGKILL. Slack then completes the call as it would for a caller that is gone,
 * a new process starts on the same database, and this returns once its outbox is empty.
 */
async function crashDuring(method: string, match: (args: Record<string, unknown>) => boolean, op: string, trigger: () => Promise<void>): Promise<Crash> {
  await settled(Infinity); // dead letters of an earlier test are that test's failure
  const before = await mark();
  const held = slack.hold(method, match);
  await trigger();
  const call = await within(held.arrived, 15_000, `${method} was never called`);
  proc.child.kill('SIGKILL');
  const exit = await proc.exited;
  // The process died mid-call: its effect is still `running` in the outbox, the answer never came.
  const running = await db.read((tx) => tx.outboxEffect.findMany({ where: { status: 'running', op }, select: { id: true, op: true } }));
  const delivery = call.delivery;
  held.release(); // Slack finishes the request; nobody hears back
  proc = await start(); // first, so that a failed expectation below leaves a live process to the next test
  expect(exit.signal).toBe('SIGKILL');
  expect(call.applied, `${method} was applied by Slack`).toBe(true);
  expect(delivery, 'the answer was still withheld at the kill').toBe('held');
  expect(running, `one ${op} effect in flight at the kill`).toHaveLength(1);
  await settled(before.effectId);
  return { call, effect: running[0]!, before };
}

/** Waits until the outbox has nothing left to do; a dead letter newer than `since` fails at once. */
async function settled(since: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await db.read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, orderBy: { id: 'asc' } }));
    const open = rows.filter((e) => e.status !== 'dead' || e.id > since);
    const dead = open.filter((e) => e.status === 'dead');
    if (dead.length) throw new Error(`dead letters: ${JSON.stringify(dead.map((e) => ({ id: e.id, op: e.op, error: e.lastError })))}`);
    if (open.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `outbox not empty after ${timeoutMs} ms: ${JSON.stringify(open.map((e) => ({ id: e.id, op: e.op, status: e.status, error: e.lastError })))}\n${proc.stdout().split('\n').slice(-20).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const incident = (n: number) => db.read((tx) => tx.incident.findFirstOrThrow({ where: { number: n } }));
const effectOf = (m: FakeMessage): number | undefined => {
  const e = (m.metadata as { event_type?: string; event_payload?: { effect?: unknown } } | undefined)?.event_payload?.effect;
  return e === undefined ? undefined : Number(e);
};

/** every message in the workspace (channels and IMs), deleted ones excluded */
function allMessages(): FakeMessage[] {
  return Object.keys(slack.summary().messages).flatMap((id) => slack.messages(id));
}

/**
 * The workspace against the outbox, for everything since `before`: each incident declared has one channel (none
 * with a -2 suffix), its card pinned once and bookmarked once; every message Muster posted (each carries its
 * effect id in its metadata) is visible exactly once, and every posting effect that is done has its message; no
 * file is shared twice. Whether each incident's channel is archived matches its status.
 */
async function expectEachEffectOnce(before: Mark): Promise<void> {
  const all = await db.read((tx) => tx.incident.findMany({ orderBy: { number: 'asc' } }));
  const incidents = all.filter((i) => i.number > before.incident);
  const s = slack.summary();
  expect(s.channelsCreated.slice(before.channelsCreated), 'channels created').toEqual(incidents.map((i) => i.channelName));
  for (const i of incidents) {
    const ch = slack.channelByName(i.channelName!);
    expect(ch?.id, `INC-${i.number}'s channel`).toBe(i.channelId);
    expect(
      slack.pins(ch!.id).map((p) => p.ts),
      `INC-${i.number}: the card pinned once`,
    ).toEqual([i.cardTs]);
    expect(
      slack.bookmarks(ch!.id).map((b) => b.title),
      `INC-${i.number}: the card bookmarked once`,
    ).toEqual([`INC-${i.number} incident card`]);
  }
  for (const i of all) expect(slack.channel(i.channelId!)?.is_archived, `INC-${i.number} archived`).toBe(i.status === 'closed');
  const byEffect = new Map<number, number>();
  for (const m of allMessages()) {
    const e = effectOf(m);
    if (e !== undefined && e > before.effectId) byEffect.set(e, (byEffect.get(e) ?? 0) + 1);
  }
  expect(
    [...byEffect].filter(([, n]) => n !== 1),
    'effects visible more than once',
  ).toEqual([]);
  const posting = await db.read((tx) => tx.outboxEffect.findMany({ where: { op: { in: ['postMessage', 'dm'] }, status: 'done', id: { gt: before.effectId } }, select: { id: true } }));
  expect(
    posting.filter((e) => !byEffect.has(e.id)).map((e) => e.id),
    'posting effects done without a visible message',
  ).toEqual([]);
  const shared = slack.files
    .slice(before.files)
    .filter((f) => f.state === 'complete')
    .flatMap((f) => f.channels);
  expect(
    shared.filter((c, n) => shared.indexOf(c) !== n),
    'a channel got a file twice',
  ).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------------
// One kind per test, in order: each crash's restarted process drives the next kind
// ---------------------------------------------------------------------------------------------------------------

// Each test starts a process (~1–2 s, more when the whole suite runs in parallel): a wider budget than 30 s.
describe('kill -9 during a Slack call: after the restart, exactly one visible effect', { timeout: 60_000 }, () => {
  it('create channel (conversations.create): the channel Slack made is adopted, no inc-1-…-2', async () => {
    const crash = await crashDuring(
      'conversations.create',
      (a) => String(a.name).startsWith('inc-1-'),
      'createChannel',
      async () => {
        expect(await command('/incident', 'declare P2 Checkout is down')).toContain('Declared *INC-1*');
      },
    );
    expect(crash.call.args.name).toBe('inc-1-checkout-is-down');
    // Slack made the channel before the crash; the restarted process found it (name_taken) and adopted it.
    expect(slack.summary().channelsCreated).toEqual(['inc-1-checkout-is-down']);
    expect(slack.channelByName('inc-1-checkout-is-down-2')).toBeUndefined();
    const inc = await incident(1);
    expect(inc.channelId).toBe((crash.call.response?.channel as { id: string }).id);
    const row = await db.read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: crash.effect.id } }));
    expect(JSON.parse(row.result!)).toMatchObject({ channel: inc.channelId, adopted: true });
    // The rest of the war room followed once, in the adopted channel.
    expect(slack.channel(inc.channelId!)!.members).toContain(ADMIN);
    await expectEachEffectOnce(crash.before);
  });

  it('invite (conversations.invite): repeated, Slack says already_in_channel, nobody reported as not added', async () => {
    const inc = await incident(1);
    const crash = await crashDuring(
      'conversations.invite',
      (a) => a.channel === inc.channelId && String(a.users).includes(CAROL),
      'invite',
      async () => {
        expect(await command('/incident', `INC-1 role tech <@${CAROL}>`)).toContain('INC-1');
      },
    );
    expect(crash.call.response?.ok).toBe(true);
    const members = slack.channel(inc.channelId!)!.members;
    expect(members.filter((m) => m === CAROL)).toEqual([CAROL]);
    // The repeat after the restart was answered already_in_channel: benign, so no "Could not add" anywhere.
    const repeats = slack.callsTo('conversations.invite').filter((c) => c.at > crash.call.at && String(c.args.users).includes(CAROL));
    expect(repeats.map((c) => c.response?.error)).toEqual(['already_in_channel']);
    const row = await db.read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: crash.effect.id } }));
    expect(JSON.parse(row.result!)).toMatchObject({ failed: [] });
    expect(allMessages().filter((m) => m.text.includes('Could not add'))).toEqual([]);
    await expectEachEffectOnce(crash.before);
  });

  it('post (chat.postMessage, the incident card): found by its metadata, not posted again', async () => {
    const crash = await crashDuring(
      'chat.postMessage',
      (a) => channelName(a.channel).startsWith('inc-2-'),
      'postMessage',
      async () => {
        expect(await command('/incident', 'declare P2 Search is slow')).toContain('Declared *INC-2*');
      },
    );
    const inc = await incident(2);
    expect(crash.call.args.channel).toBe(inc.channelId);
    // One card in the channel: the message Slack posted before the crash, adopted (its ts is the incident's card).
    const cards = slack.messages(inc.channelId!).filter((m) => effectOf(m) === inc.cardEffectId);
    expect(cards.map((m) => m.ts)).toEqual([(crash.call.response as { ts: string }).ts]);
    expect(inc.cardTs).toBe(cards[0]!.ts);
    expect(slack.callsTo('chat.postMessage').filter((c) => c.args.channel === inc.channelId && c.applied)).toHaveLength(1);
    await expectEachEffectOnce(crash.before);
  });

  it('pin (pins.add): repeated, already_pinned is success, one pin', async () => {
    const crash = await crashDuring(
      'pins.add',
      (a) => channelName(a.channel).startsWith('inc-3-'),
      'pin',
      async () => {
        expect(await command('/incident', 'declare P2 Login errors')).toContain('Declared *INC-3*');
      },
    );
    const inc = await incident(3);
    expect(slack.pins(inc.channelId!).map((p) => p.ts)).toEqual([inc.cardTs]);
    const repeats = slack.callsTo('pins.add').filter((c) => c.args.channel === inc.channelId && c.at > crash.call.at);
    expect(repeats.map((c) => c.response?.error)).toEqual(['already_pinned']);
    await expectEachEffectOnce(crash.before);
  });

  it('bookmark (bookmarks.add): found by bookmarks.list, not added again', async () => {
    const crash = await crashDuring(
      'bookmarks.add',
      (a) => channelName(a.channel_id).startsWith('inc-4-'),
      'bookmark',
      async () => {
        expect(await command('/incident', 'declare P2 Billing delays')).toContain('Declared *INC-4*');
      },
    );
    const inc = await incident(4);
    const bookmarks = slack.bookmarks(inc.channelId!);
    expect(bookmarks.map((b) => b.id)).toEqual([(crash.call.response as { bookmark: { id: string } }).bookmark.id]);
    expect(slack.callsTo('bookmarks.add').filter((c) => c.args.channel_id === inc.channelId)).toHaveLength(1);
    const row = await db.read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: crash.effect.id } }));
    expect(JSON.parse(row.result!)).toMatchObject({ bookmarkId: bookmarks[0]!.id, adopted: true });
    await expectEachEffectOnce(crash.before);
  });

  it('update (chat.update of the card): repeated, which is harmless (chat.update is idempotent); the new state shows', async () => {
    const inc = await incident(1);
    const before = slack.messages(inc.channelId!).length;
    expect(JSON.stringify(slack.message(inc.channelId!, inc.cardTs!)!.blocks)).toContain(':mag: investigating');
    const crash = await crashDuring(
      'chat.update',
      (a) => a.channel === inc.channelId && a.ts === inc.cardTs,
      'updateMessage',
      async () => {
        expect(await command('/incident', 'INC-1 status identified Bad deploy of checkout-api')).toContain('INC-1');
      },
    );
    expect(crash.call.response?.ok).toBe(true);
    // chat.update sets the message's content: applying it twice leaves one message showing the same state.
    const updates = slack.callsTo('chat.update').filter((c) => c.args.ts === inc.cardTs && c.at >= crash.call.at);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.every((c) => c.response?.ok === true)).toBe(true);
    const card = slack.message(inc.channelId!, inc.cardTs!)!;
    expect(JSON.stringify(card.blocks)).toContain(':dart: identified');
    // No new card: the channel grew by the status post only.
    expect(slack.messages(inc.channelId!).length).toBe(before + 1);
    expect(slack.messages(inc.channelId!).filter((m) => effectOf(m) === inc.cardEffectId)).toHaveLength(1);
    await expectEachEffectOnce(crash.before);
  });

  it('DM (chat.postMessage to an IM): found by its metadata, not sent again', async () => {
    const crash = await crashDuring(
      'chat.postMessage',
      (a) => slack.channel(String(a.channel))?.is_im === true && slack.channel(String(a.channel))?.user === DAN,
      'dm',
      async () => {
        expect(await command('/muster', `grant qa_lead <@${DAN}>`)).toBe(`Granted *qa_lead* to <@${DAN}>.`);
      },
    );
    const dms = slack.dms(DAN);
    expect(dms.map((m) => m.ts)).toEqual([(crash.call.response as { ts: string }).ts]);
    expect(dms[0]!.text).toContain('*qa_lead*');
    expect(effectOf(dms[0]!)).toBe(crash.effect.id);
    await expectEachEffectOnce(crash.before);
  });

  it('upload (files.completeUploadExternal, the postmortem): found by files.list, not uploaded again', async () => {
    const inc = await incident(1);
    const crash = await crashDuring(
      'files.completeUploadExternal',
      (a) => a.channel_id === inc.channelId,
      'uploadFile',
      async () => {
        expect(await command('/incident', 'INC-1 postmortem')).toContain('INC-1 post-incident review generated');
      },
    );
    expect(crash.call.response?.ok).toBe(true);
    const files = slack.files.filter((f) => f.state === 'complete');
    expect(files.map((f) => [f.name, f.channels])).toEqual([['inc-1-postmortem.md', [inc.channelId]]]);
    expect(slack.summary().files).toEqual({ [inc.channelId!]: 1 });
    expect(slack.callsTo('files.completeUploadExternal')).toHaveLength(1);
    // one file_share message in the channel
    expect(slack.messages(inc.channelId!).filter((m) => m.subtype === 'file_share')).toHaveLength(1);
    const row = await db.read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: crash.effect.id } }));
    expect(JSON.parse(row.result!)).toMatchObject({ fileId: files[0]!.id, adopted: true });
    await expectEachEffectOnce(crash.before);
  });

  it('archive (conversations.archive): repeated, already_archived is success, archived once', async () => {
    const inc = await incident(1);
    const resolving = await mark();
    expect(await command('/incident', 'INC-1 resolve Rolled back checkout-api')).toContain('INC-1 resolved');
    await settled(resolving.effectId);
    const crash = await crashDuring(
      'conversations.archive',
      (a) => a.channel === inc.channelId,
      'archiveChannel',
      async () => {
        expect(await command('/incident', 'INC-1 close')).toContain('INC-1 closed');
      },
    );
    expect(crash.call.response?.ok).toBe(true);
    expect(slack.channel(inc.channelId!)!.is_archived).toBe(true);
    const archives = slack.callsTo('conversations.archive').filter((c) => c.args.channel === inc.channelId);
    expect(archives.map((c) => (c.response?.ok === true ? 'archived' : c.response?.error))).toEqual(['archived', 'already_archived']);
    // The closing post and the card's last redraw landed before the archive, once.
    expect(slack.messages(inc.channelId!).filter((m) => m.text.includes('closed INC-1'))).toHaveLength(1);
    await expectEachEffectOnce(crash.before);
  });
});
