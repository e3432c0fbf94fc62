/**
 * `npm run bench`, section "approval clicks": ack latency of the Approve button on approval cards,
 * where every click is a real, successful vote.
 *
 *  - its own FakeSlack (no latency) and its own Muster process (a fresh SQLite file, or with `db: 'postgresql'` a
 *    fresh PostgreSQL database made and dropped by bench/db.ts; MUSTER_ADMINS = a bench
 *    admin who grants release_manager, cto and security_lead to three bench users with signed
 *    `/muster grant <role> <@user>` commands);
 *  - before each measured phase, a requester creates the production deploys that phase needs with
 *    signed `/approval deploy production api <version> bench` (3 approvals each: release_manager,
 *    cto, security_lead or …); the bench waits for their cards (channel + a DM to each approver) to
 *    be posted and for Muster's outbox to go quiet, and takes each request's internal id from the
 *    Approve button of its channel card — as a person clicking it would;
 *  - clicks are signed `block_actions` (`payload=`, form-urlencoded), a fresh trigger_id each, sent
 *    open loop: click i is approver i mod 3 on request ⌊i / 3⌋, so every click is a vote and every
 *    third one decides its request (the approved transition). Each carries a response_url on the
 *    fake: Muster acks the click once the vote has committed and then posts the outcome there, which
 *    lets the bench split each click into "click sent → ack received" (Bolt, actor lookup, the vote
 *    transaction) and "ack received → outcome posted" (the response_url POST after the ack), and
 *    check that it was a vote;
 *  - every copy of each clicked card (the channel card and one DM per approver, found on the fake
 *    before the clicks) is followed through the fake's chat.update answers: "cards final" is the time
 *    from the last click sent until every copy shows the state its request ended with (Approved, or
 *    pending k/3), as its message text says;
 *  - the same clicks go to the bare Bolt app (bench/bare-bolt.ts: `app.action(/.*\/)` only acks);
 *  - a step-up (default 10, 20, 40, … 400 clicks/s, 5 s each, new requests before each step) finds
 *    two rates: the highest at which the acks hold (p99 under the limit, no errors, every click a
 *    vote), and the highest at which every card copy is final within 2 s of the last click (the
 *    cards are current). Muster stops stepping once both have failed (higher rates would only build
 *    a longer backlog), then bisects once below each first failing rate; the bare Bolt app steps
 *    from Muster's highest held ack rate up; a step at the measured phase's rate and length is that phase,
 *    not run again (`--quick` steps once, so);
 *  - after Muster stopped, its database is read (better-sqlite3 read-only, or pg) to check that each
 *    click left one vote and every third one an approved request.
 */
import http from 'node:http';
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIONS } from '../blocks/actionIds.ts';
import { FakeSlack, GENERAL_CHANNEL_ID, TEAM_ID, type FakeCall, type FakeResponse } from '../test/support/fakeSlack.ts';
import { FORM_CONTENT_TYPE, blockAction, nowSeconds, post, sign, slashCommand, type SlackRequest } from '../test/support/slackRequests.ts';
import { percentile, runPhase, summarize, type LoadTarget, type Summary } from './load.ts';
import { createBenchDatabase, openDbReader, type BenchDatabase, type BenchDb } from './db.ts';
import {
  musterEnv,
  describeExit,
  dumpOutput,
  freePort,
  indentTail,
  logMark,
  logSince,
  memoryOf,
  startChild,
  statementCounts,
  statementsPer,
  stopChild,
  waitForHttp200,
  waitForLine,
  writeCallsOf,
  cpuMsOf,
  cpuMsOfProcesses,
  type Child,
  type Memory,
  type StopResult,
  musterMain,
  bareBoltMain,
} from './proc.ts';

export interface ClickBenchOptions {
  /** the database Muster runs on: a fresh SQLite file (default) or a fresh PostgreSQL database */
  db?: BenchDb;
  root: string;
  tmp: string;
  /** environment for the children, Slack / database variables already removed */
  baseEnv: NodeJS.ProcessEnv;
  /** where the children's log files go */
  logDir: string;
  secret: string;
  botToken: string;
  /** clicks/s and seconds of the measured phase, warm-up seconds before it (not counted) */
  rate: number;
  seconds: number;
  warmupSeconds: number;
  /** step-up rates (clicks/s) and seconds per step */
  steps: number[];
  stepSeconds: number;
  /** a step is sustained when p99 stays under this and nothing failed */
  maxP99Ms: number;
  /** the cards are current at a rate when every copy is final within this many ms of the last click */
  cardsMaxLagMs: number;
  /** extra Muster steps bisecting between the last held and first failing rate, per criterion */
  refineSteps: number;
  /** seconds of the clicks far apart (IDLE_RATE clicks/s; default IDLE_SECONDS) */
  idleSeconds?: number;
  maxSockets: number;
  requestTimeoutMs: number;
  startTimeoutMs: number;
  shutdownLimitMs: number;
  /** requests created concurrently during set-up */
  createConcurrency: number;
  /** told about each child as soon as it is spawned, and undefined when it is gone (emergency cleanup) */
  onChild(name: 'muster' | 'bare', c: Child | undefined): void;
}

const ADMIN = 'UCLKADMIN';
const REQUESTER = 'UCLKDEV';
const APPROVERS = [
  { id: 'UCLKRM', name: 'release-manager', role: 'release_manager' },
  { id: 'UCLKCTO', name: 'cto', role: 'cto' },
  { id: 'UCLKSEC', name: 'security-lead', role: 'security_lead' },
] as const;
const VOTES_PER_REQUEST = APPROVERS.length;
/** a few clicks far apart (each one's card updates are done before the next): a click's own latency, no queue */
const IDLE_RATE = 5;
const IDLE_SECONDS = 6;
const QUIET_MS = 400;
/** how long the outbox may take to go quiet: this plus per click / request */
const QUIET_LIMIT_MS = 60_000;
const QUIET_PER_ITEM_MS = 60;
const CONFIRM_LIMIT_MS = 30_000;
/** Slack shows the clicker an error when the ack takes longer than this */
export const SLACK_ACK_DEADLINE_MS = 3_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pending request as its channel card shows it. */
interface Card {
  ref: string;
  version: string;
  id: string;
  ts: string;
  text: string;
  blocks: unknown[];
}

interface ClickPlan {
  card: Card;
  user: (typeof APPROVERS)[number];
}

export interface PhaseRecord {
  label: string;
  target: 'muster' | 'bare';
  rate: number;
  seconds: number;
  summary: Summary;
  /** production deploys created for this phase (Muster only) */
  requests?: number;
  setup?: { createMs: number; cardsMs: number; quietMs: number };
  /** outcome posts to the clicks' response_urls (Muster only) */
  outcomes?: { votes: number; decided: number; refused: number; missing: number; other: number; samples: string[] };
  /**
   * click sent → ack received; ack received → outcome posted; click sent → outcome posted (ms, clicks with an ack and an
   * outcome). The handlers ack before they tell the clicker, so the outcome POST comes after the ack: the split used to be
   * "outcome posted → ack received", from when the outcome was posted before the ack, and that has been negative since;
   * it is replaced by "ack received → outcome posted", the wait between the ack and the confirmation.
   */
  split?: { toAck: Quantiles; ackToOutcome: Quantiles; toOutcome: Quantiles; n: number };
  /** the clicked card's channel copy updated (chat.update answered) → the click's outcome posted, ms; positive: the card went first */
  cardLead?: { p50: number; ahead: number; n: number };
  /** every copy of the phase's cards (Muster only): when each first showed its request's final state */
  cards?: CardsRecord;
  /** ms from the last ack to Muster's outbox going quiet (card updates and DMs still being sent) */
  drainMs?: number;
  /** acks slower than Slack's 3 s deadline (the clicker would have seen an error) */
  lateAcks: number;
  /** CPU Muster used from the first click until its outbox went quiet, ms per click (whole process, main thread, main thread until the last ack); and the bench process's own */
  cpuMsPerClick?: { muster?: number; musterMain?: number; musterMainUntilLastAck?: number; bench: number; database?: number };
  /** Muster's SQL statements per click over the same span, by kind (its /metrics; Muster only) */
  statementsPerClick?: Record<string, number>;
  /** Muster's write system calls per click over the same span (/proc/<pid>/io syscw: database, Slack and HTTP answers alike) */
  writeCallsPerClick?: number;
  cpuBusyPct: number;
}

export interface CardsRecord {
  /** card copies of the phase's requests (channel card + one DM per approver each) */
  copies: number;
  /** copies that never showed their request's final state (or were not found) */
  wrong: number;
  samples: string[];
  /** last click sent → the last copy to reach its final state showed it, ms */
  lagMs: number;
  /** first click sent → the same, ms */
  spanMs: number;
  /** chat.update calls on those copies during the phase */
  updates: number;
  /** updates that drew an older state than the update before them on the same copy */
  regressions: number;
}

export interface Quantiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface DbCheck {
  ok: boolean;
  votes: number;
  expectedVotes: number;
  approved: number;
  expectedApproved: number;
  pending: number;
  expectedPending: number;
  otherStatus: number;
  auditApprove: number;
  auditApproved: number;
  auditDenied: number;
  outbox: Record<string, number>;
  byPhase: Array<{ label: string; clicks: number; votes: number; approved: number; pending: number }>;
  error?: string;
}

export interface ClickBenchResult {
  muster: {
    warmup?: PhaseRecord;
    idle?: PhaseRecord;
    main?: PhaseRecord;
    steps: PhaseRecord[];
    readyMs: number;
    memoryIdle?: Memory;
    memoryAfter?: Memory;
    stop?: StopResult /** lines logged at warn or above, and in all, from the grants to the exit */;
    logLines: number;
    infoLines?: number;
    lastOutput: string;
  };
  bare: { warmup?: PhaseRecord; main?: PhaseRecord; steps: PhaseRecord[]; readyMs: number; stop?: StopResult };
  grants: number;
  /** which database Muster ran on */
  database: BenchDb;
  db?: DbCheck;
  failures: string[];
}

export function quantiles(xs: number[]): Quantiles {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : Number.NaN };
}

/** How busy all CPUs were over `ms`, percent (anything on the machine, this process included). */
export async function cpuBusy(ms: number): Promise<number> {
  const total = () => os.cpus().reduce((a, c) => ({ idle: a.idle + c.times.idle, all: a.all + c.times.idle + c.times.user + c.times.nice + c.times.sys + c.times.irq }), { idle: 0, all: 0 });
  const a = total();
  await sleep(ms);
  const b = total();
  return b.all > a.all ? (1 - (b.idle - a.idle) / (b.all - a.all)) * 100 : 0;
}

/**
 * A click on the Approve button of a request's card in #general (block_actions, a fresh trigger_id each), by `user`.
 * Its response_url acts on that card, as Slack's does for a click on a message: a replace_original through it redraws
 * the clicked copy in the fake.
 */
export function approveClick(fake: FakeSlack, card: { id: string; ts: string; text: string; blocks: unknown[] }, user: { id: string; name: string }, responseId: string): SlackRequest {
  return blockAction({
    actionId: ACTIONS.approval.approve,
    value: card.id,
    blockId: 'approval-actions',
    text: 'Approve',
    userId: user.id,
    userName: user.name,
    teamId: TEAM_ID,
    channelId: GENERAL_CHANNEL_ID,
    messageTs: card.ts,
    message: { text: card.text, blocks: card.blocks },
    responseUrl: fake.responseUrl(responseId, { channel: GENERAL_CHANNEL_ID, user: user.id, messageTs: card.ts }),
  });
}

/** The request id an Approve button carries, found anywhere in a message's blocks. */
export function findApprove(blocks: unknown): string | undefined {
  if (Array.isArray(blocks)) {
    for (const b of blocks) {
      const v = findApprove(b);
      if (v !== undefined) return v;
    }
  } else if (blocks && typeof blocks === 'object') {
    const o = blocks as Record<string, unknown>;
    if (o.action_id === ACTIONS.approval.approve && typeof o.value === 'string') return o.value;
    for (const v of Object.values(o)) {
      const found = findApprove(v);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Waits until nothing has reached the fake (Web API or response_url) for QUIET_MS; false after `limitMs`. */
export async function quiet(fake: FakeSlack, limitMs: number): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  let last = -1;
  let since = performance.now();
  for (;;) {
    const n = fake.calls.length + fake.responses.length;
    const now = performance.now();
    if (n !== last) {
      last = n;
      since = now;
    } else if (now - since >= QUIET_MS) return true;
    if (now > deadline) return false;
    await sleep(50);
  }
}

const VOTE_RE = /Your approval of APR-\d+ is in/;
const DECIDED_RE = /APR-\d+ approved — all \d+ approvals are in/;

export async function runApprovalClickBench(o: ClickBenchOptions): Promise<ClickBenchResult> {
  const failures: string[] = [];
  const result: ClickBenchResult = {
    muster: { steps: [], readyMs: Number.NaN, logLines: 0, lastOutput: '' },
    bare: { steps: [], readyMs: Number.NaN },
    grants: 0,
    database: o.db ?? 'sqlite',
    failures,
  };
  const fake = await FakeSlack.start();
  let muster: Child | undefined;
  let bare: Child | undefined;
  const dir = join(o.tmp, 'clicks');
  mkdirSync(dir, { recursive: true });
  const dbKind = o.db ?? 'sqlite';
  /** how failures name this section: the PostgreSQL run's are told apart */
  const sec = dbKind === 'postgresql' ? 'approval clicks on PostgreSQL' : 'approval clicks';
  /** log files of a PostgreSQL run get their own names, so a run on both databases keeps both */
  const suffix = dbKind === 'postgresql' ? '-pg' : '';
  let database: BenchDatabase | undefined;
  const phaseClicks: Array<{ label: string; version: string; clicks: number }> = [];

  // When each response_url post reached the fake (performance.now()), and what it said.
  const outcomeAt = new Map<string, { at: number; text: string }>();
  /** The card copy each click was on (`channel:ts`), by its response_url id: a replace_original post redraws that copy. */
  const clickedCopy = new Map<string, string>();
  const push = fake.responses.push.bind(fake.responses);
  fake.responses.push = (...items: FakeResponse[]) => {
    const at = performance.now();
    for (const it of items) {
      if (!it.id.startsWith('click-')) continue;
      const text = typeof it.body.text === 'string' ? it.body.text : JSON.stringify(it.body);
      // Muster redraws the clicked copy through the click's response_url (replace_original): an update of that copy,
      // not what the clicker is told (counted with the copy's chat.update calls in `updates`).
      const copy = it.body.replace_original === true ? clickedCopy.get(it.id) : undefined;
      if (copy) {
        const list = updates.get(copy) ?? [];
        list.push({ at, text });
        updates.set(copy, list);
      } else outcomeAt.set(it.id, { at, text });
    }
    return push(...items);
  };

  // Every successful chat.update, by message (`channel:ts`): when the fake had applied it and answered (performance.now()),
  // and the text the message had then.
  const updates = new Map<string, Array<{ at: number; text: string }>>();
  const pushCall = fake.calls.push.bind(fake.calls);
  fake.calls.push = (...items: FakeCall[]) => {
    const at = performance.now();
    for (const c of items) {
      const r = c.response;
      if (c.method !== 'chat.update' || r?.ok !== true || typeof r.channel !== 'string' || typeof r.ts !== 'string') continue;
      const key = `${r.channel}:${r.ts}`;
      const list = updates.get(key) ?? [];
      list.push({ at, text: typeof r.text === 'string' ? r.text : '' });
      updates.set(key, list);
    }
    return pushCall(...items);
  };

  try {
    fake.addUser({ id: ADMIN, name: 'bench-admin' });
    fake.addUser({ id: REQUESTER, name: 'bench-dev' });
    for (const a of APPROVERS) fake.addUser({ id: a.id, name: a.name });

    // --- children ---
    try {
      database = await createBenchDatabase(dbKind, dir, 'clicks');
    } catch (e) {
      failures.push(`${sec}: could not create its ${dbKind} database: ${(e as Error).message}`);
      return result;
    }
    const port = await freePort();
    // Production deploys outside the deployment windows would be held: the bench runs at any hour.
    const policyFile = join(dir, 'policy.yml');
    writeFileSync(policyFile, 'changes:\n  enforcedIn: []\n');
    let t0 = performance.now();
    muster = startChild('muster (clicks)', musterMain(o.root), {
      cwd: o.root,
      env: musterEnv(o, { port, slackUrl: fake.url, databaseUrl: database.url, admins: ADMIN, config: policyFile }),
      logFile: join(o.logDir, `clicks-muster${suffix}.log`),
    });
    o.onChild('muster', muster);
    try {
      await waitForHttp200(muster, `http://127.0.0.1:${port}/readyz`, o.startTimeoutMs);
    } catch (e) {
      failures.push(`${sec}: Muster failed to start: ${(e as Error).message}`);
      result.muster.lastOutput = dumpOutput(muster);
      return result;
    }
    result.muster.readyMs = performance.now() - t0;
    const url = `http://127.0.0.1:${port}`;
    console.log(`  muster    pid ${muster.pid} on :${port}, /readyz 200 after ${result.muster.readyMs.toFixed(0)} ms (${database.describe}, MUSTER_ADMINS=${ADMIN})`);

    const barePort = await freePort();
    t0 = performance.now();
    bare = startChild('bare-bolt (clicks)', bareBoltMain(o.root), {
      cwd: o.root,
      env: { ...o.baseEnv, PORT: String(barePort), SLACK_SIGNING_SECRET: o.secret },
      logFile: join(o.logDir, `clicks-bare-bolt${suffix}.log`),
    });
    o.onChild('bare', bare);
    try {
      await waitForLine(bare, /^READY (\d+)/, o.startTimeoutMs);
    } catch (e) {
      failures.push(`${sec}: bare Bolt failed to start: ${(e as Error).message}`);
      return result;
    }
    result.bare.readyMs = performance.now() - t0;
    console.log(`  bare bolt pid ${bare.pid} on :${barePort}, listening after ${result.bare.readyMs.toFixed(0)} ms`);

    // --- roles, by signed /muster grant from the admin ---
    const command = async (cmd: string, text: string, userId: string, userName: string): Promise<{ status: number; text: string }> => {
      const req = slashCommand({ command: cmd, text, userId, userName, teamId: TEAM_ID, channelId: GENERAL_CHANNEL_ID, responseUrl: fake.responseUrl(`cmd-${Math.random().toString(36).slice(2)}`) });
      const r = await post(url, req, { secret: o.secret, timeoutMs: o.requestTimeoutMs });
      let t = r.body;
      try {
        const j = JSON.parse(r.body) as { text?: unknown };
        if (typeof j.text === 'string') t = j.text;
      } catch {
        // keep the raw body
      }
      return { status: r.status, text: t };
    };
    for (const a of APPROVERS) {
      const r = await command('/muster', `grant ${a.role} <@${a.id}>`, ADMIN, 'bench-admin');
      if (r.status !== 200 || !r.text.includes('Granted')) {
        failures.push(`${sec}: /muster grant ${a.role} <@${a.id}> answered HTTP ${r.status}: ${r.text.slice(0, 160)}`);
        return result;
      }
      result.grants += 1;
    }
    await quiet(fake, QUIET_LIMIT_MS);
    console.log(`  granted ${APPROVERS.map((a) => `${a.role} to <@${a.id}>`).join(', ')} (signed /muster grant from the admin)`);
    await sleep(300);
    result.muster.memoryIdle = memoryOf(muster.pid);
    const logStart = logMark(muster);

    // --- cards: the channel copy of each pending production deploy, read off the fake ---
    const cards = new Map<string, Card>(); // by version
    let scanned = 0;
    const scanCards = () => {
      const msgs = fake.messages(GENERAL_CHANNEL_ID);
      for (; scanned < msgs.length; scanned++) {
        const m = msgs[scanned]!;
        const t = /^(APR-\d+) Deploy api (\S+) to production — pending/.exec(m.text);
        if (!t) continue;
        const id = findApprove(m.blocks);
        if (id) cards.set(t[2]!, { ref: t[1]!, version: t[2]!, id, ts: m.ts, text: m.text, blocks: m.blocks ?? [] });
      }
    };

    /** Every copy of each request's card (channel card, approvers' DMs: messages whose text is the card's), by request id. */
    const copies = new Map<string, Array<{ channel: string; ts: string }>>();
    const copyScanned = new Map<string, number>();
    const scanCopies = () => {
      const channels = [...fake.allChannels().map((c) => c.id), ...APPROVERS.map((a) => fake.imChannelId(a.id)).filter((x): x is string => x !== undefined)];
      for (const ch of channels) {
        const msgs = fake.messages(ch);
        for (let k = copyScanned.get(ch) ?? 0; k < msgs.length; k++) {
          const msg = msgs[k]!;
          if (!/^APR-\d+ Deploy api \S+ to production — /.test(msg.text)) continue;
          const id = findApprove(msg.blocks);
          if (!id) continue;
          const list = copies.get(id) ?? [];
          list.push({ channel: ch, ts: msg.ts });
          copies.set(id, list);
        }
        copyScanned.set(ch, msgs.length);
      }
    };

    let phaseNo = 0;
    /** Creates `n` production deploys for a phase and returns their cards, in order. */
    const createRequests = async (n: number): Promise<{ cards: Card[]; createMs: number; cardsMs: number; quietMs: number; version: string }> => {
      phaseNo += 1;
      const prefix = `${phaseNo}.0.`;
      const t1 = performance.now();
      const want = Array.from({ length: n }, (_, j) => `${prefix}${j}`);
      const limit = QUIET_LIMIT_MS + n * QUIET_PER_ITEM_MS;
      // On a machine too busy to answer within Slack's 3 s, Bolt answers 404 while the command goes on and creates the
      // request: a failed command is not repeated at once; once Muster is quiet, only versions without a card are asked again.
      let problems: string[] = [];
      let createMs = 0;
      for (let round = 0; round < 3; round++) {
        const todo = round === 0 ? want : want.filter((v) => !cards.has(v));
        if (todo.length === 0) break;
        if (round > 0) console.log(`  (${todo.length} /approval deploy command(s) not answered 200 and without a card: asked again)`);
        problems = [];
        let next = 0;
        await Promise.all(
          Array.from({ length: Math.min(o.createConcurrency, todo.length) }, async () => {
            while (next < todo.length) {
              const v = todo[next++]!;
              const r = await command('/approval', `deploy production api ${v} bench`, REQUESTER, 'bench-dev');
              if (r.status !== 200 || !/^APR-\d+ requested: Deploy api \S+ to production/.test(r.text)) problems.push(`HTTP ${r.status}: ${r.text.slice(0, 160)}`);
            }
          }),
        );
        if (round === 0) createMs = performance.now() - t1;
        if (problems.length === 0) break;
        if (!(await quiet(fake, limit))) throw new Error(`Muster's outbox did not go quiet within ${limit / 1000} s of creating the requests`);
        scanCards();
      }
      if (want.some((v) => !cards.has(v)) && problems.length) throw new Error(`${problems.length}/${n} /approval deploy commands failed three times, e.g. ${problems[0]}`);
      const t2 = performance.now();
      const deadline = t2 + limit;
      for (;;) {
        scanCards();
        if (want.every((v) => cards.has(v))) break;
        if (performance.now() > deadline || muster!.exitInfo) throw new Error(`only ${want.filter((v) => cards.has(v)).length}/${n} approval cards were posted within ${limit / 1000} s`);
        await sleep(50);
      }
      const cardsMs = performance.now() - t2;
      const t3 = performance.now();
      if (!(await quiet(fake, limit))) throw new Error(`Muster's outbox did not go quiet within ${limit / 1000} s of creating the requests`);
      scanCopies();
      return { cards: want.map((v) => cards.get(v)!), createMs, cardsMs, quietMs: performance.now() - t3, version: prefix };
    };

    const clickTarget = (name: string, targetPort: number, plan: (i: number) => ClickPlan, responseId: (i: number) => string): LoadTarget => ({
      name,
      host: '127.0.0.1',
      port: targetPort,
      path: '/slack/events',
      build(i) {
        const p = plan(i);
        clickedCopy.set(responseId(i), `${GENERAL_CHANNEL_ID}:${p.card.ts}`);
        const { body } = approveClick(fake, p.card, p.user, responseId(i));
        return { body, headers: { ...sign(o.secret, body, nowSeconds(), FORM_CONTENT_TYPE) } };
      },
      check(status, body) {
        return status === 200 ? null : `HTTP ${status}: ${body.slice(0, 120)}`;
      },
    });

    const clicksFor = (rate: number, seconds: number) => Math.max(1, Math.round(rate * seconds));

    /** One Muster phase: create its requests, click, wait for every outcome and for the outbox to drain. */
    const musterPhase = async (label: string, rate: number, seconds: number): Promise<PhaseRecord> => {
      const total = clicksFor(rate, seconds);
      const nRequests = Math.ceil(total / VOTES_PER_REQUEST);
      const made = await createRequests(nRequests);
      phaseClicks.push({ label, version: made.version, clicks: total });
      const busy = await cpuBusy(300);
      const plan = (i: number): ClickPlan => ({ card: made.cards[Math.floor(i / VOTES_PER_REQUEST)]!, user: APPROVERS[i % VOTES_PER_REQUEST]! });
      const rid = (i: number) => `click-${label}-${i}`;
      const sent = new Map<number, { at: number; ms: number; error: string | null }>();
      const agent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets, timeout: 4_000 });
      const statements0 = await statementCounts(url);
      const writes0 = writeCallsOf(muster!.pid);
      const cpu0 = cpuMsOf(muster!.pid);
      const main0 = cpuMsOf(muster!.pid, true);
      const bench0 = process.cpuUsage();
      // PostgreSQL's server shares the CPUs: its work for the phase, every backend included (SQLite runs in Muster)
      const server0 = dbKind === 'postgresql' ? cpuMsOfProcesses('postgres') : undefined;
      const phaseStart = performance.now();
      let run;
      try {
        run = await runPhase(clickTarget(`muster-${label}`, port, plan, rid), {
          rate,
          seconds,
          agent,
          timeoutMs: o.requestTimeoutMs,
          firstIndex: 0,
          onResult: (i, at, ms, error) => sent.set(i, { at, ms, error }),
        });
      } finally {
        agent.destroy();
      }
      const lastAck = performance.now();
      const mainAtLastAck = cpuMsOf(muster!.pid, true);
      // every click gets exactly one outcome post (a confirmation or a :warning:)
      const deadline = performance.now() + CONFIRM_LIMIT_MS;
      while (performance.now() < deadline && !muster!.exitInfo) {
        let n = 0;
        for (let i = 0; i < total; i++) if (outcomeAt.has(rid(i))) n++;
        if (n >= total) break;
        await sleep(50);
      }
      const drainLimit = QUIET_LIMIT_MS + total * QUIET_PER_ITEM_MS;
      const wentQuiet = await quiet(fake, drainLimit);
      if (!wentQuiet) throw new Error(`Muster's outbox did not go quiet within ${drainLimit / 1000} s of the last click (${label})`);
      const drainMs = performance.now() - lastAck - QUIET_MS;
      const cpu1 = cpuMsOf(muster!.pid);
      const main1 = cpuMsOf(muster!.pid, true);
      const benchCpu = process.cpuUsage(bench0);
      const server1 = server0 !== undefined ? cpuMsOfProcesses('postgres') : undefined;
      const writes1 = writeCallsOf(muster!.pid);
      const statements1 = await statementCounts(url);
      const outcomes = { votes: 0, decided: 0, refused: 0, missing: 0, other: 0, samples: [] as string[] };
      const toAck: number[] = [];
      const ackToOutcome: number[] = [];
      const toOutcome: number[] = [];
      const cardLead: number[] = [];
      for (let i = 0; i < total; i++) {
        const oc = outcomeAt.get(rid(i));
        if (!oc) {
          outcomes.missing += 1;
          continue;
        }
        if (DECIDED_RE.test(oc.text)) outcomes.decided += 1;
        else if (VOTE_RE.test(oc.text)) outcomes.votes += 1;
        else {
          if (oc.text.includes(':warning:')) outcomes.refused += 1;
          else outcomes.other += 1;
          if (outcomes.samples.length < 3) outcomes.samples.push(oc.text.slice(0, 200));
        }
        const s = sent.get(i);
        if (s && s.error === null) {
          toAck.push(s.ms);
          ackToOutcome.push(oc.at - (s.at + s.ms));
          toOutcome.push(oc.at - s.at);
          // the first update of the clicked card's channel copy after the click was sent (this vote's, when clicks are far apart)
          const upd = label === 'idle' ? updates.get(`${GENERAL_CHANNEL_ID}:${plan(i).card.ts}`)?.find((u) => u.at >= s.at)?.at : undefined;
          if (upd !== undefined) cardLead.push(oc.at - upd);
        }
      }

      // Every copy of every request clicked in this phase: from when on it showed the state its request ended with. The
      // message text says it: "APR-n Deploy api v to production — Approved" once all three votes are in, otherwise
      // "… — pending k/3: …". A copy got there with the first update after its last one showing anything else (an
      // older state drawn after a newer one counts as going back: `regressions`).
      const sendTimes = [...sent.values()].map((x) => x.at);
      const firstClick = Math.min(...sendTimes);
      const lastClick = Math.max(...sendTimes);
      const cards: CardsRecord = { copies: 0, wrong: 0, samples: [], lagMs: Number.NaN, spanMs: Number.NaN, updates: 0, regressions: 0 };
      const stateOf = (text: string) => {
        const m = / — (?:(Approved)|pending (\d+)\/)/.exec(text);
        return m ? (m[1] ? VOTES_PER_REQUEST : Number(m[2])) : -1;
      };
      let lastFinal = -Infinity;
      for (let j = 0; j < nRequests; j++) {
        const card = made.cards[j]!;
        const votes = Math.min(VOTES_PER_REQUEST, total - j * VOTES_PER_REQUEST);
        const head = `${card.ref} Deploy api ${card.version} to production — `;
        const final = votes === VOTES_PER_REQUEST ? `${head}Approved` : `${head}pending ${votes}/${VOTES_PER_REQUEST}:`;
        const list = copies.get(card.id) ?? [];
        if (list.length === 0) {
          cards.wrong += 1;
          if (cards.samples.length < 3) cards.samples.push(`${card.ref}: no copy of its card was found`);
        }
        for (const c of list) {
          cards.copies += 1;
          const ups = (updates.get(`${c.channel}:${c.ts}`) ?? []).filter((u) => u.at >= phaseStart);
          cards.updates += ups.length;
          const shown = fake.message(c.channel, c.ts)?.text ?? '';
          let from = 0;
          ups.forEach((u, k) => {
            if (!u.text.startsWith(final)) from = k + 1;
            if (k > 0 && stateOf(u.text) < stateOf(ups[k - 1]!.text)) cards.regressions += 1;
          });
          const reached = ups[from];
          if (!reached || !shown.startsWith(final)) {
            cards.wrong += 1;
            if (cards.samples.length < 3) cards.samples.push(`${card.ref} in ${c.channel} shows "${shown.slice(0, 90)}", expected "${final}…"`);
            continue;
          }
          lastFinal = Math.max(lastFinal, reached.at);
        }
      }
      if (cards.wrong === 0 && Number.isFinite(lastFinal) && sendTimes.length) {
        cards.lagMs = lastFinal - lastClick;
        cards.spanMs = lastFinal - firstClick;
      }
      return {
        label,
        target: 'muster',
        rate,
        seconds,
        summary: summarize(run),
        requests: nRequests,
        setup: { createMs: made.createMs, cardsMs: made.cardsMs, quietMs: made.quietMs },
        outcomes,
        split: { toAck: quantiles(toAck), ackToOutcome: quantiles(ackToOutcome), toOutcome: quantiles(toOutcome), n: toOutcome.length },
        ...(cardLead.length ? { cardLead: { p50: quantiles(cardLead).p50, ahead: cardLead.filter((x) => x >= 0).length, n: cardLead.length } } : {}),
        cards,
        drainMs,
        lateAcks: run.latencies.filter((ms) => ms > SLACK_ACK_DEADLINE_MS).length,
        cpuMsPerClick: {
          ...(cpu0 !== undefined && cpu1 !== undefined ? { muster: (cpu1 - cpu0) / total } : {}),
          ...(main0 !== undefined && main1 !== undefined ? { musterMain: (main1 - main0) / total } : {}),
          ...(main0 !== undefined && mainAtLastAck !== undefined ? { musterMainUntilLastAck: (mainAtLastAck - main0) / total } : {}),
          bench: (benchCpu.user + benchCpu.system) / 1000 / total,
          ...(server0 !== undefined && server1 !== undefined ? { database: (server1 - server0) / total } : {}),
        },
        ...(statements1.size ? { statementsPerClick: statementsPer(statements0, statements1, total) } : {}),
        ...(writes0 !== undefined && writes1 !== undefined ? { writeCallsPerClick: (writes1 - writes0) / total } : {}),
        cpuBusyPct: busy,
      };
    };

    /** The same clicks to the bare Bolt app (the request ids are made up: it only acks). */
    const barePhase = async (label: string, rate: number, seconds: number): Promise<PhaseRecord> => {
      const fakeCard: Card = { ref: 'APR-1', version: '0', id: '00000000-0000-4000-8000-000000000000', ts: '1700000000.000100', text: '', blocks: [] };
      const sample = [...cards.values()][0] ?? fakeCard;
      const busy = await cpuBusy(300);
      const agent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets, timeout: 4_000 });
      try {
        const run = await runPhase(
          clickTarget(
            `bare-${label}`,
            barePort,
            (i) => ({ card: sample, user: APPROVERS[i % VOTES_PER_REQUEST]! }),
            (i) => `bare-${label}-${i}`,
          ),
          { rate, seconds, agent, timeoutMs: o.requestTimeoutMs, firstIndex: 0 },
        );
        return { label, target: 'bare', rate, seconds, summary: summarize(run), lateAcks: run.latencies.filter((ms) => ms > SLACK_ACK_DEADLINE_MS).length, cpuBusyPct: busy };
      } finally {
        agent.destroy();
      }
    };

    const died = () => {
      for (const c of [muster!, bare!]) if (c.exitInfo) return `${describeExit(c)}`;
      return undefined;
    };
    const line = (r: PhaseRecord) =>
      `${r.summary.ok}/${r.summary.sent} ok, p50 ${r.summary.p50.toFixed(1)} ms, p99 ${r.summary.p99.toFixed(1)} ms` +
      (r.outcomes
        ? `; outcomes: ${r.outcomes.votes} votes + ${r.outcomes.decided} deciding${r.outcomes.refused ? `, ${r.outcomes.refused} REFUSED` : ''}${r.outcomes.missing ? `, ${r.outcomes.missing} missing` : ''}`
        : '') +
      (r.lateAcks ? `; ${r.lateAcks} acks over 3 s` : '') +
      (r.cards ? `; ${r.cards.wrong ? `${r.cards.wrong}/${r.cards.copies} card copies NOT FINAL` : `every card copy final ${f2(r.cards.lagMs / 1000)} s after the last click`}` : '');

    // --- measured phase ---
    try {
      if (o.warmupSeconds > 0) {
        process.stdout.write(`  muster: warm-up ${o.warmupSeconds} s at ${o.rate}/s … `);
        result.muster.warmup = await musterPhase('warmup', o.rate, o.warmupSeconds);
        process.stdout.write(`${line(result.muster.warmup)}\n`);
      }
      const idleSeconds = o.idleSeconds ?? IDLE_SECONDS;
      process.stdout.write(`  muster: clicks far apart, ${idleSeconds} s at ${IDLE_RATE}/s … `);
      result.muster.idle = await musterPhase('idle', IDLE_RATE, idleSeconds);
      process.stdout.write(`${line(result.muster.idle)}\n`);
      process.stdout.write(`  muster: ${Math.ceil(clicksFor(o.rate, o.seconds) / VOTES_PER_REQUEST)} production deploys, then ${o.seconds} s at ${o.rate} clicks/s … `);
      result.muster.main = await musterPhase('main', o.rate, o.seconds);
      process.stdout.write(`${line(result.muster.main)}\n`);
      if (died()) throw new Error(`${died()} during the clicks`);

      if (o.warmupSeconds > 0) result.bare.warmup = await barePhase('warmup', o.rate, o.warmupSeconds);
      process.stdout.write(`  bare bolt: same clicks, ${o.seconds} s at ${o.rate}/s … `);
      result.bare.main = await barePhase('main', o.rate, o.seconds);
      process.stdout.write(`${line(result.bare.main)}\n`);
      if (died()) throw new Error(`${died()} during the clicks`);

      // --- step-up: one series of rates, judged twice: the acks (p99 under the limit, no errors, every click a vote)
      // and the cards (every copy final within cardsMaxLagMs of the last click) ---
      const criteria = [
        { name: 'acks', held: 0, failedAt: undefined as number | undefined, pass: (r: PhaseRecord) => stepHeld(r, o.maxP99Ms) },
        { name: 'cards', held: 0, failedAt: undefined as number | undefined, pass: (r: PhaseRecord) => cardsHeld(r, o.cardsMaxLagMs) },
      ];
      const tick = (ok: boolean) => (ok ? '✓' : '✗');
      // A step at the measured phase's rate and length is that phase again (--quick's one step): its record is reused.
      const sameAsMain = (rate: number) => rate === o.rate && o.stepSeconds === o.seconds;
      const musterStep = async (rate: number) => {
        process.stdout.write(`  step ${rate}/s × ${o.stepSeconds} s: muster … `);
        if (sameAsMain(rate) && result.muster.main) process.stdout.write('(the measured phase above) ');
        const r = sameAsMain(rate) && result.muster.main ? result.muster.main : await musterPhase(`step${rate}`, rate, o.stepSeconds);
        result.muster.steps.push(r);
        process.stdout.write(`${line(r)}; acks ${tick(stepHeld(r, o.maxP99Ms))} cards ${tick(cardsHeld(r, o.cardsMaxLagMs))}\n`);
        if (died()) throw new Error(`${died()} during the step-up`);
        // a step counts for a criterion between its highest held and lowest failing rate so far
        for (const c of criteria) {
          if (rate <= c.held || (c.failedAt !== undefined && rate >= c.failedAt)) continue;
          if (c.pass(r)) c.held = rate;
          else c.failedAt = rate;
        }
      };
      for (const rate of o.steps) {
        await musterStep(rate);
        if (criteria.every((c) => c.failedAt !== undefined)) break;
      }
      for (let k = 0; k < o.refineSteps; k++) {
        for (const c of criteria) {
          if (c.failedAt === undefined) continue;
          const mid = Math.round((c.held + c.failedAt) / 2);
          if (mid <= c.held || mid >= c.failedAt || result.muster.steps.some((x) => x.rate === mid)) continue;
          await musterStep(mid);
        }
      }
      // The bare Bolt app: from the highest rate at which Muster's acks held, up until it fails too.
      const bareFrom = criteria[0]!.held || Math.min(...o.steps);
      const passes = (r: PhaseRecord) => stepHeld(r, o.maxP99Ms);
      for (const rate of o.steps.filter((x) => x >= bareFrom)) {
        const r = sameAsMain(rate) && result.bare.main ? result.bare.main : await barePhase(`step${rate}`, rate, o.stepSeconds);
        result.bare.steps.push(r);
        if (died()) throw new Error(`${died()} during the step-up`);
        if (!passes(r)) break;
      }
      process.stdout.write(`  bare bolt steps: ${result.bare.steps.map((r) => `${r.rate}/s p99 ${r.summary.p99.toFixed(1)} ms${passes(r) ? '' : ' ✗'}`).join(', ')}\n`);
    } catch (e) {
      process.stdout.write('\n');
      failures.push(`${sec}: ${(e as Error).message}`);
    }

    result.muster.memoryAfter = memoryOf(muster.pid);
    result.muster.stop = await stopChild(muster, o.shutdownLimitMs);
    if (!result.muster.stop.graceful || result.muster.stop.code !== 0) failures.push(`${sec}: Muster did not exit 0 within ${o.shutdownLimitMs / 1000} s of SIGTERM`);
    result.bare.stop = await stopChild(bare, o.shutdownLimitMs);
    if (result.bare.stop.alreadyExited) failures.push(`${sec}: bare Bolt had exited before SIGTERM`);
    const logged = logSince(muster, logStart);
    result.muster.logLines = logged.warnPlus.length;
    result.muster.infoLines = logged.lines;
    if (failures.length) result.muster.lastOutput = dumpOutput(muster, 3_000);
    else if (logged.warnPlus.length > 0) result.muster.lastOutput = indentTail(logged.warnPlus.join('\n'), 3_000);

    // --- the database, read-only, Muster stopped ---
    result.db = await checkDatabase(database.url, phaseClicks);
    return result;
  } finally {
    for (const c of [muster, bare]) if (c && !c.exitInfo) await stopChild(c, 3_000);
    o.onChild('muster', undefined);
    o.onChild('bare', undefined);
    await fake.close();
    await database?.drop().catch((e: unknown) => console.log(`  (could not drop the bench database: ${(e as Error).message})`));
  }
}

/** Reads the votes and requests back from the database Muster used (`url`: its DATABASE_URL), after it stopped. */
async function checkDatabase(url: string, phases: Array<{ label: string; version: string; clicks: number }>): Promise<DbCheck> {
  const expectedVotes = phases.reduce((n, p) => n + p.clicks, 0);
  const expectedApproved = phases.reduce((n, p) => n + Math.floor(p.clicks / VOTES_PER_REQUEST), 0);
  const expectedPending = phases.reduce((n, p) => n + (p.clicks % VOTES_PER_REQUEST ? 1 : 0), 0);
  const empty: DbCheck = {
    ok: false,
    votes: 0,
    expectedVotes,
    approved: 0,
    expectedApproved,
    pending: 0,
    expectedPending,
    otherStatus: 0,
    auditApprove: 0,
    auditApproved: 0,
    auditDenied: 0,
    outbox: {},
    byPhase: [],
  };
  let db: Awaited<ReturnType<typeof openDbReader>> | undefined;
  try {
    db = await openDbReader(url);
    const one = db.one;
    const byPhase: DbCheck['byPhase'] = [];
    for (const p of phases) {
      byPhase.push({
        label: p.label,
        clicks: p.clicks,
        votes: await one(
          `SELECT count(*) FROM approval_votes v JOIN approval_requests r ON r.id = v.request_id WHERE r.environment = 'production' AND r.version LIKE ? AND v.decision = 'approve'`,
          `${p.version}%`,
        ),
        approved: await one(`SELECT count(*) FROM approval_requests WHERE environment = 'production' AND version LIKE ? AND status = 'approved'`, `${p.version}%`),
        pending: await one(`SELECT count(*) FROM approval_requests WHERE environment = 'production' AND version LIKE ? AND status = 'pending'`, `${p.version}%`),
      });
    }
    const c: DbCheck = {
      ...empty,
      votes: await one(`SELECT count(*) FROM approval_votes v JOIN approval_requests r ON r.id = v.request_id WHERE r.environment = 'production' AND v.decision = 'approve'`),
      approved: await one(`SELECT count(*) FROM approval_requests WHERE environment = 'production' AND status = 'approved'`),
      pending: await one(`SELECT count(*) FROM approval_requests WHERE environment = 'production' AND status = 'pending'`),
      otherStatus: await one(`SELECT count(*) FROM approval_requests WHERE environment = 'production' AND status NOT IN ('approved', 'pending')`),
      auditApprove: await one(`SELECT count(*) FROM audit_entries WHERE action = 'approval.approve' AND outcome <> 'denied'`),
      auditApproved: await one(`SELECT count(*) FROM audit_entries WHERE action = 'approval.approved' AND outcome <> 'denied'`),
      auditDenied: await one(`SELECT count(*) FROM audit_entries WHERE action LIKE 'approval.%' AND outcome = 'denied'`),
      outbox: Object.fromEntries(
        (await db.all<{ status: string; n: number | string }>('SELECT status, count(*) AS n FROM outbox GROUP BY status ORDER BY status')).map((r) => [r.status, Number(r.n)]),
      ),
      byPhase,
    };
    c.ok =
      c.votes === expectedVotes &&
      c.approved === expectedApproved &&
      c.pending === expectedPending &&
      c.otherStatus === 0 &&
      c.auditApprove === expectedVotes &&
      c.auditApproved === expectedApproved &&
      c.auditDenied === 0 &&
      (c.outbox.dead ?? 0) === 0 &&
      c.byPhase.every((p) => p.votes === p.clicks && p.approved === Math.floor(p.clicks / VOTES_PER_REQUEST));
    return c;
  } catch (e) {
    return { ...empty, error: (e as Error).message };
  } finally {
    await db?.close();
  }
}

// ---------------------------------------------------------------------------
// Summary (printing and JSON)
// ---------------------------------------------------------------------------

const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));
const f2 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(2));
const r3 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? null : Math.round(n * 1000) / 1000);

/** A phase's SQL statements per click in all ('-' without figures). */
function statementsText(p: PhaseRecord | undefined): string {
  return p?.statementsPerClick
    ? Object.values(p.statementsPerClick)
        .reduce((a, b) => a + b, 0)
        .toFixed(1)
    : '-';
}

/** CPU per click of every process that served the phase (Muster, the database server, this process's fake Slack and load), ms. */
function allCpu(p: PhaseRecord | undefined): number | undefined {
  const c = p?.cpuMsPerClick;
  return c?.muster !== undefined && c.database !== undefined ? c.muster + c.database + c.bench : undefined;
}

/** What that CPU per click allows on this machine's CPUs, all of them busy with nothing else. */
function ceilingText(ms: number | undefined): string {
  const cpus = os.cpus().length;
  return ms ? `Muster + server + bench process: ${cpus} CPUs at most ${Math.floor((cpus * 1000) / ms)} clicks/s at this cost` : '';
}

/** Statements per click by kind, the most first: "select 4.1, update 3.0, …". */
function byKind(perClick: Record<string, number>): string {
  return Object.entries(perClick)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n.toFixed(1)}`)
    .join(', ');
}

/** First column (and a last column headed '', for notes) left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = (i: number) => i === 0 || (i === header.length - 1 && header[i] === '');
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (left(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

/** A step holds when nothing failed, p99 stayed under the limit and (Muster) every click was a vote. */
export function stepHeld(p: PhaseRecord, maxP99Ms: number): boolean {
  return p.summary.errors === 0 && p.summary.p99 < maxP99Ms && (p.outcomes ? p.outcomes.refused + p.outcomes.missing + p.outcomes.other === 0 : true);
}

/** The cards were current at a step when no click failed and every copy showed its final state within `maxLagMs` of the last click. */
export function cardsHeld(p: PhaseRecord, maxLagMs: number): boolean {
  return p.summary.errors === 0 && p.cards !== undefined && p.cards.wrong === 0 && p.cards.lagMs <= maxLagMs;
}

/** The highest rate that held, below the lowest rate that did not; null when none held. */
export function sustainedRate(steps: PhaseRecord[], held: (p: PhaseRecord) => boolean): number | null {
  const failed = steps.filter((s) => !held(s)).map((s) => s.rate);
  const ceiling = failed.length ? Math.min(...failed) : Infinity;
  const ok = steps.filter((s) => held(s) && s.rate < ceiling).map((s) => s.rate);
  return ok.length ? Math.max(...ok) : null;
}

export interface WhoamiBaseline {
  muster?: Summary;
  bare?: Summary;
  rate: number;
}

export function summarizeApprovalClicks(
  r: ClickBenchResult,
  o: Pick<ClickBenchOptions, 'rate' | 'seconds' | 'warmupSeconds' | 'steps' | 'stepSeconds' | 'maxP99Ms' | 'cardsMaxLagMs' | 'refineSteps'>,
  whoami: WhoamiBaseline,
  cpuBusyPct: number,
): { text: string; json: Record<string, unknown>; failures: string[] } {
  const failures: string[] = [];
  const sec = r.database === 'postgresql' ? 'approval clicks on PostgreSQL' : 'approval clicks';
  const m = r.muster.main;
  const b = r.bare.main;
  const lines: string[] = [];
  const passes = (p: PhaseRecord) => stepHeld(p, o.maxP99Ms);
  const current = (p: PhaseRecord) => cardsHeld(p, o.cardsMaxLagMs);
  const lagS = (p: PhaseRecord | undefined) => (p?.cards ? (p.cards.wrong ? `${p.cards.wrong} NOT FINAL` : f2(p.cards.lagMs / 1000)) : '-');
  const perClick = (p: PhaseRecord | undefined) => (p?.cards ? f2(p.cards.updates / Math.max(1, p.summary.sent)) : '-');
  const row = (label: string, s: Summary | undefined, rate: string, late?: number) =>
    s
      ? [label, rate, String(s.sent), String(s.errors), f1(s.sendRate), f1(s.throughput), f2(s.p50), f2(s.p90), f2(s.p99), f2(s.max), late === undefined ? '-' : String(late)]
      : [label, rate, '-', '-', '-', '-', '-', '-', '-', '-', '-'];
  lines.push(
    ...table(
      ['target', 'rate/s', 'sent', 'errors', 'sent/s', 'ok/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', '> 3 s'],
      [
        row('muster: Approve click (a vote)', m?.summary, String(o.rate), m?.lateAcks),
        row('muster: the same, clicks far apart', r.muster.idle?.summary, String(IDLE_RATE), r.muster.idle?.lateAcks),
        row('bare bolt: the same clicks, ack only', b?.summary, String(o.rate), b?.lateAcks),
        row('muster: /muster whoami (1st section)', whoami.muster, String(whoami.rate)),
        row('bare bolt: /muster whoami (1st section)', whoami.bare, String(whoami.rate)),
      ],
    ),
  );
  if (m && b)
    lines.push(
      `\nMuster click / bare Bolt click:  p50 ×${f2(m.summary.p50 / b.summary.p50)}   p99 ×${f2(m.summary.p99 / b.summary.p99)}   (bare Bolt: click p50 / whoami p50 ×${f2(b.summary.p50 / (whoami.bare?.p50 ?? Number.NaN))})`,
    );
  if (m?.split && m.outcomes) {
    const idle = r.muster.idle;
    const pq = (q: Quantiles | undefined) => (q ? `${f2(q.p50)} / ${f2(q.p99)}` : '-');
    const cpu = (p: PhaseRecord | undefined) =>
      p?.cpuMsPerClick?.musterMain !== undefined ? `${f1(p.cpuMsPerClick.musterMain)} (${f1(p.cpuMsPerClick.musterMainUntilLastAck)} before the last ack)` : '-';
    const copiesPer = m.cards && m.requests ? f1(m.cards.copies / m.requests) : '-';
    lines.push('');
    lines.push(
      ...table(
        ['where a click goes (Muster)', `far apart, ${IDLE_RATE}/s`, `at ${o.rate}/s`, ''],
        [
          ['click sent → ack received, p50 / p99 ms', pq(idle?.split?.toAck), pq(m.split.toAck), 'Bolt, actor lookup (1 committed read), the vote (1 transaction), and the queue ahead of them'],
          ['ack received → outcome posted, p50 / p99 ms', pq(idle?.split?.ackToOutcome), pq(m.split.ackToOutcome), 'after ack() the handler POSTs "Your approval … is in" to the response_url'],
          ['click sent → outcome posted, p50 / p99 ms', pq(idle?.split?.toOutcome), pq(m.split.toOutcome), 'until the clicker sees the confirmation'],
          [
            'channel card updated → outcome posted, p50 ms',
            idle?.cardLead ? f1(idle.cardLead.p50) : '-',
            '-',
            idle?.cardLead ? `positive: the card first (${idle.cardLead.ahead} of ${idle.cardLead.n} far-apart clicks)` : '',
          ],
          ['last click → every card copy final, s', lagS(idle), lagS(m), `${copiesPer} copies per request: the channel card and one DM per approver`],
          ['redraws per click (chat.update + response_url)', perClick(idle), perClick(m), "redraws of the clicked requests' copies"],
          ['Muster main-thread CPU per click, ms', cpu(idle), cpu(m), 'first click → outbox quiet: the vote, the card copies redrawn, every 3rd a DM'],
          [
            'Muster CPU per click incl. GC/helper threads, ms',
            f1(idle?.cpuMsPerClick?.muster),
            f1(m.cpuMsPerClick?.muster),
            `bench process (fake Slack + load): ${f1(m.cpuMsPerClick?.bench)} ms per click`,
          ],
          ...(m.cpuMsPerClick?.database !== undefined
            ? [
                [
                  'PostgreSQL server CPU per click, ms',
                  f1(idle?.cpuMsPerClick?.database),
                  f1(m.cpuMsPerClick.database),
                  'the same span: every postgres process of this machine (its backends, WAL writer, checkpointer)',
                ],
                ['CPU per click, every process, ms', f1(allCpu(idle)), f1(allCpu(m)), ceilingText(allCpu(m))],
              ]
            : []),
          ['SQL statements per click', statementsText(idle), statementsText(m), `Muster's /metrics, the same span${m.statementsPerClick ? `: ${byKind(m.statementsPerClick)}` : ''}`],
          ['write system calls per click', f1(idle?.writeCallsPerClick), f1(m.writeCallsPerClick), 'the same span (/proc/<pid>/io): database round trips, Slack calls, HTTP answers'],
        ],
      ),
    );
    lines.push(
      `outcomes posted: ${m.outcomes.votes} "Your approval … is in" + ${m.outcomes.decided} "… approved — all 3 approvals are in" of ${m.summary.sent} clicks` +
        `${m.outcomes.refused ? `, ${m.outcomes.refused} refused (${m.outcomes.samples.join(' | ')})` : ''}${m.outcomes.missing ? `, ${m.outcomes.missing} never posted` : ''}; ` +
        `every card copy final ${lagS(m)} s after the last click, outbox quiet (DMs included) ${f1((m.drainMs ?? Number.NaN) / 1000)} s after the last ack`,
    );
    if (m.cards?.wrong) lines.push(`  card copies not showing their final state: ${m.cards.samples.join(' | ')}`);
    const back = [r.muster.idle, m, ...r.muster.steps].reduce((n, p) => n + (p?.cards?.regressions ?? 0), 0);
    if (back) lines.push(`  ${back} card update(s) drew an older state after a newer one (the copy went back, then forward again)`);
    if (m.setup && m.requests !== undefined) {
      lines.push(
        `set-up (not timed): ${m.requests} production deploys by signed /approval deploy in ${f1(m.setup.createMs / 1000)} s, their ${m.requests} channel cards + ${m.requests * APPROVERS.length} DMs posted ` +
          `${f1(m.setup.cardsMs / 1000)} s later, outbox quiet ${f1(m.setup.quietMs / 1000)} s after that`,
      );
    }
  }
  lines.push('');
  lines.push(
    `step-up (${o.stepSeconds} s per step, new requests before each Muster step): acks hold with p99 < ${o.maxP99Ms} ms and no errors; the cards are current when every copy is final ` +
      `within ${f1(o.cardsMaxLagMs / 1000)} s of the last click. Muster stops once both have failed, then bisects once below each first failing rate; bare Bolt from Muster's highest held ack rate up:`,
  );
  const rates = [...new Set([...r.muster.steps.map((s) => s.rate), ...r.bare.steps.map((s) => s.rate)])].sort((x, y) => x - y);
  const stepRows = rates.map((rate) => {
    const ms = r.muster.steps.find((s) => s.rate === rate);
    const bs = r.bare.steps.find((s) => s.rate === rate);
    const acks = (p: PhaseRecord | undefined) =>
      p ? [`${p.summary.ok}/${p.summary.sent}`, f1(p.summary.throughput), f2(p.summary.p50), f2(p.summary.p99), f2(p.summary.max), passes(p) ? 'yes' : 'NO'] : ['not run', '', '', '', '', ''];
    const cards = (p: PhaseRecord | undefined) => (p ? [lagS(p), perClick(p), current(p) ? 'yes' : 'NO'] : ['', '', '']);
    return [String(rate), ...acks(ms), ...cards(ms), ...acks(bs)];
  });
  lines.push(
    ...table(
      ['rate/s', 'muster ok', 'ok/s', 'p50 ms', 'p99 ms', 'max ms', 'acks held', 'cards final +s', 'updates/click', 'current', 'bare ok', 'ok/s', 'p50 ms', 'p99 ms', 'max ms', 'held'],
      stepRows,
    ),
  );
  lines.push(
    '("cards final +s": seconds from the last click until every copy of every clicked card showed its final state; "updates/click": redraws of those copies per click: chat.update, and replace_original through the click response_url for the clicked copy)',
  );
  const maxM = sustainedRate(r.muster.steps, passes);
  const maxB = sustainedRate(r.bare.steps, passes);
  const maxCards = sustainedRate(r.muster.steps, current);
  const top = Math.max(...o.steps);
  const allHeld = (steps: PhaseRecord[], held: (p: PhaseRecord) => boolean) => steps.length > 0 && steps.every(held) && steps.some((s) => s.rate === top);
  const describeMax = (v: number | null, steps: PhaseRecord[], held: (p: PhaseRecord) => boolean) =>
    v === null ? (steps.length ? `below ${Math.min(...steps.map((s) => s.rate))}/s` : 'not measured') : allHeld(steps, held) ? `≥ ${v}/s (every step held)` : `${v}/s`;
  lines.push(`highest click rate with the acks held: muster ${describeMax(maxM, r.muster.steps, passes)}, bare bolt ${describeMax(maxB, r.bare.steps, passes)}`);
  lines.push(`highest click rate with every card copy current (final within ${f1(o.cardsMaxLagMs / 1000)} s of the last click): muster ${describeMax(maxCards, r.muster.steps, current)}`);
  const sorted = [...r.muster.steps].sort((x, y) => x.rate - y.rate);
  const firstStale = sorted.find((s) => !current(s));
  if (firstStale?.cards) {
    const c = firstStale.cards;
    lines.push(
      `  at ${firstStale.rate}/s ` +
        (c.wrong
          ? `${c.wrong} of ${c.copies} card copies never showed their final state (${c.samples.join(' | ')})`
          : `the last card copy was final ${f2(c.lagMs / 1000)} s after the last click: the copies kept pace with about ${f1(firstStale.summary.sent / (c.spanMs / 1000))} clicks/s`),
    );
  }
  const firstFail = sorted.find((s) => !passes(s));
  if (firstFail?.outcomes) {
    lines.push(
      `  at ${firstFail.rate}/s Muster acked ${f1(firstFail.summary.throughput)} clicks/s (p99 ${f1(firstFail.summary.p99)} ms, ${firstFail.summary.errors} errors, ${firstFail.lateAcks} acks over 3 s${firstFail.outcomes.refused ? `, ${firstFail.outcomes.refused} refused` : ''})`,
    );
  }

  const d = r.db;
  lines.push('');
  if (!d) lines.push(`database (${r.database}): not checked`);
  else if (d.error) lines.push(`database: could not be read: ${d.error}`);
  else {
    lines.push(
      `database (${r.database}, read after Muster stopped): ${d.votes}/${d.expectedVotes} approve votes, ${d.approved}/${d.expectedApproved} requests approved (${d.pending} pending, expected ${d.expectedPending}; ${d.otherStatus} otherwise), ` +
        `audit ${d.auditApprove} approval.approve + ${d.auditApproved} approval.approved, ${d.auditDenied} denied; outbox ${
          Object.entries(d.outbox)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ') || 'empty'
        } — ${d.ok ? 'as expected' : 'MISMATCH'}`,
    );
    if (!d.ok) for (const p of d.byPhase) lines.push(`  ${p.label}: ${p.clicks} clicks → ${p.votes} votes, ${p.approved} approved, ${p.pending} pending`);
  }
  lines.push(
    `Muster RSS: ${f1(r.muster.memoryIdle?.rssMb)} MB idle → ${f1(r.muster.memoryAfter?.rssMb)} MB after the clicks (peak ${f1(r.muster.memoryAfter?.peakMb)} MB); SIGTERM → exit ${r.muster.stop ? `${r.muster.stop.code} in ${r.muster.stop.ms.toFixed(0)} ms` : '-'}`,
  );
  if (cpuBusyPct > 15) lines.push(`note: the CPUs were ${cpuBusyPct.toFixed(0)} % busy before this section: figures are noisy`);

  // --- verdict for the run ---
  if (m) {
    if (m.summary.errorRate > 0.01) failures.push(`${sec}: ${m.summary.errors}/${m.summary.sent} Muster clicks failed (> 1 %)`);
    if (m.outcomes && m.outcomes.refused + m.outcomes.other > 0)
      failures.push(`${sec}: ${m.outcomes.refused + m.outcomes.other} of the measured clicks were not votes: ${m.outcomes.samples.join(' | ')}`);
    if (m.outcomes && m.outcomes.missing > 0) failures.push(`${sec}: ${m.outcomes.missing} measured clicks never posted their outcome`);
  } else failures.push(`${sec}: the measured Muster phase did not run`);
  if (b && b.summary.errorRate > 0.01) failures.push(`${sec}: ${b.summary.errors}/${b.summary.sent} bare Bolt clicks failed (> 1 %)`);
  // Once the outbox is quiet every copy must show its request's final state, however late: a copy left on an older
  // state is a lost or out-of-order redraw (phases with failed clicks excepted: their final state is not known).
  for (const p of [r.muster.warmup, r.muster.idle, m, ...r.muster.steps]) {
    if (p?.cards?.wrong && p.summary.errors === 0)
      failures.push(`${sec} (${p.label}): ${p.cards.wrong} of ${p.cards.copies} card copies never showed their final state: ${p.cards.samples.join(' | ')}`);
  }
  if (d && !d.ok) {
    // an overloaded step may lose clicks to client time-outs; anything else is a bug
    const overloaded = new Set(r.muster.steps.filter((s) => s.summary.errors > 0).map((s) => `step${s.rate}`));
    const bad = d.byPhase.filter((p) => !overloaded.has(p.label) && (p.votes !== p.clicks || p.approved !== Math.floor(p.clicks / VOTES_PER_REQUEST)));
    if (d.error || bad.length || d.auditDenied > 0 || d.otherStatus > 0 || (d.outbox.dead ?? 0) > 0 || overloaded.size === 0) {
      failures.push(
        `${sec}: the database does not hold one vote per click${d.error ? ` (${d.error})` : bad.length ? ` (${bad.map((p) => `${p.label}: ${p.votes}/${p.clicks} votes, ${p.approved} approved`).join('; ')})` : ` (denied ${d.auditDenied}, other status ${d.otherStatus}, dead effects ${d.outbox.dead ?? 0})`}`,
      );
    }
  }

  const q3 = (q: Quantiles) => ({ p50: r3(q.p50), p90: r3(q.p90), p99: r3(q.p99), max: r3(q.max) });
  const phaseJson = (p: PhaseRecord | undefined) =>
    p
      ? {
          rate: p.rate,
          seconds: p.seconds,
          sent: p.summary.sent,
          ok: p.summary.ok,
          errors: p.summary.errors,
          errorKinds: p.summary.errorKinds,
          sendRatePerS: r3(p.summary.sendRate),
          throughputPerS: r3(p.summary.throughput),
          latencyMs: { p50: r3(p.summary.p50), p90: r3(p.summary.p90), p99: r3(p.summary.p99), max: r3(p.summary.max), mean: r3(p.summary.mean) },
          maxSendLagMs: r3(p.summary.maxSendLagMs),
          withinLimits: passes(p),
          ...(p.cards ? { cardsCurrent: current(p) } : {}),
          lateAcksOver3s: p.lateAcks,
          ...(p.cpuMsPerClick
            ? {
                cpuMsPerClick: {
                  musterProcess: r3(p.cpuMsPerClick.muster),
                  musterMainThread: r3(p.cpuMsPerClick.musterMain),
                  musterMainThreadUntilLastAck: r3(p.cpuMsPerClick.musterMainUntilLastAck),
                  benchProcess: r3(p.cpuMsPerClick.bench),
                  ...(p.cpuMsPerClick.database !== undefined ? { databaseServer: r3(p.cpuMsPerClick.database) } : {}),
                },
              }
            : {}),
          ...(p.statementsPerClick ? { statementsPerClick: p.statementsPerClick } : {}),
          ...(p.writeCallsPerClick !== undefined ? { writeCallsPerClick: r3(p.writeCallsPerClick) } : {}),
          cpuBusyBeforePct: r3(p.cpuBusyPct),
          ...(p.requests !== undefined ? { requests: p.requests } : {}),
          ...(p.setup ? { setupMs: { create: r3(p.setup.createMs), cards: r3(p.setup.cardsMs), quiet: r3(p.setup.quietMs) } } : {}),
          ...(p.outcomes ? { outcomes: { votes: p.outcomes.votes, deciding: p.outcomes.decided, refused: p.outcomes.refused, missing: p.outcomes.missing, other: p.outcomes.other } } : {}),
          ...(p.split
            ? {
                splitMs: {
                  clickToAck: q3(p.split.toAck),
                  ackToOutcomePosted: q3(p.split.ackToOutcome),
                  clickToOutcomePosted: q3(p.split.toOutcome),
                  clicks: p.split.n,
                },
              }
            : {}),
          ...(p.cardLead ? { channelCardUpdatedToOutcomePostedMs: { p50: r3(p.cardLead.p50), cardFirst: p.cardLead.ahead, clicks: p.cardLead.n } } : {}),
          ...(p.cards
            ? {
                cards: {
                  copies: p.cards.copies,
                  notFinal: p.cards.wrong,
                  lastClickToAllFinalMs: r3(p.cards.lagMs),
                  firstClickToAllFinalMs: r3(p.cards.spanMs),
                  chatUpdates: p.cards.updates,
                  olderStateDrawnAfterNewer: p.cards.regressions,
                  chatUpdatesPerClick: r3(p.cards.updates / Math.max(1, p.summary.sent)),
                },
              }
            : {}),
          ...(p.drainMs !== undefined ? { outboxDrainAfterLastAckMs: r3(p.drainMs) } : {}),
        }
      : null;
  const whoamiJson = (s: Summary | undefined) => (s ? { p50: r3(s.p50), p90: r3(s.p90), p99: r3(s.p99), max: r3(s.max), sent: s.sent, errors: s.errors } : null);
  const json = {
    config: {
      route: 'production deploy: release_manager + cto + security_lead (3 votes per request)',
      clicksPerRequest: VOTES_PER_REQUEST,
      approvers: APPROVERS.map((a) => ({ user: a.id, role: a.role })),
      rate: o.rate,
      seconds: o.seconds,
      warmupSeconds: o.warmupSeconds,
      steps: o.steps,
      stepSeconds: o.stepSeconds,
      maxP99Ms: o.maxP99Ms,
      cardsMaxLagMs: o.cardsMaxLagMs,
      refineSteps: o.refineSteps,
      slackAckDeadlineMs: SLACK_ACK_DEADLINE_MS,
      fakeSlackLatencyMs: 0,
      database: r.database,
      openLoop: true,
    },
    cpuBusyBeforePct: r3(cpuBusyPct),
    muster: {
      warmup: phaseJson(r.muster.warmup),
      farApart: phaseJson(r.muster.idle),
      main: phaseJson(m),
      steps: r.muster.steps.map(phaseJson),
      readyMs: r3(r.muster.readyMs),
      rssMb: { idle: r3(r.muster.memoryIdle?.rssMb), afterLoad: r3(r.muster.memoryAfter?.rssMb), peak: r3(r.muster.memoryAfter?.peakMb) },
      shutdown: r.muster.stop ? { ms: r3(r.muster.stop.ms), code: r.muster.stop.code, graceful: r.muster.stop.graceful } : null,
      logLinesWarnPlus: r.muster.logLines,
      logLines: r.muster.infoLines ?? null,
    },
    bareBolt: { warmup: phaseJson(r.bare.warmup), main: phaseJson(b), steps: r.bare.steps.map(phaseJson), readyMs: r3(r.bare.readyMs) },
    whoamiBaseline: { rate: whoami.rate, muster: whoamiJson(whoami.muster), bareBolt: whoamiJson(whoami.bare) },
    ratios: m && b ? { p50: r3(m.summary.p50 / b.summary.p50), p99: r3(m.summary.p99 / b.summary.p99) } : null,
    sustainedMaxPerS: {
      muster: maxM,
      musterAllStepsHeld: allHeld(r.muster.steps, passes),
      bareBolt: maxB,
      bareBoltAllStepsHeld: allHeld(r.bare.steps, passes),
      musterCardsCurrent: maxCards,
      musterCardsAllStepsCurrent: allHeld(r.muster.steps, current),
    },
    database: d ?? null,
    failures: [...r.failures, ...failures],
  };
  return { text: lines.join('\n'), json, failures };
}
