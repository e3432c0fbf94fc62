/**
 * `npm run bench:replicas` (or `node --import tsx bench/replicas.ts [--quick]`): Muster as 1, 2 and 3 replicas (--quick: 2) on one
 * PostgreSQL database, behind a round-robin proxy, against one FakeSlack.
 *
 * For each replica count:
 *  - a fresh PostgreSQL database (bench/db.ts: CREATE DATABASE through `pg`, dropped afterwards), a fresh FakeSlack, and
 *    N Muster processes (`node dist/main.js`, what `npm start` runs) started together on that database with the same Slack
 *    credentials, policy, MUSTER_ADMINS and MUSTER_AUDIT_KEY, each with its own MUSTER_INSTANCE_ID (replica-1…N) and
 *    port, logging at info to bench/results/logs/replicas-<N>-<i>.log;
 *  - a small HTTP proxy in this process (node:http) hands each request to the next replica in turn: method, path,
 *    headers and body are passed on untouched, so Slack's signatures stay valid, and the answer is passed back;
 *  - roles by signed `/muster grant` from the admin; production deploys (release_manager + cto + security_lead, three
 *    votes each) by signed `/approval deploy production …`, their cards read off the fake as in bench/approval-clicks.ts.
 *
 * Phases, Muster pacing off (MUSTER_SLACK_PACING=off) and the fake enforcing no tiers, as in the other click benches:
 *  1. throughput: signed Approve clicks (block_actions), open loop at a fixed rate, click i = approver i mod 3 on
 *     request ⌊i/3⌋ (the three votes of a request land on different replicas); acks p50/p99. Full runs then step the
 *     rate up (fresh requests per step) for the highest rate whose acks hold (p99 < 500 ms, no errors);
 *  2. the same request clicked everywhere at once: for each of K fresh requests, every approver clicks twice (two
 *     trigger ids) and Slack retries each first click (same body, x-slack-retry-num: 1), all sent together, so the
 *     nine requests of one approval land on every replica at the same moment;
 *  3. timers: T staging deploys (one qa_lead approval) by signed `/approval deploy staging …`; their `approval.expire`
 *     timers (written by Muster, due in 24 h) are then made due at once with one UPDATE of `timers.due_at`, and every
 *     replica's scheduler races for them. Waited on until all have fired.
 * Checks after each phase, in the database and in the fake: one vote per person per request and one decided outcome
 * (status, one `approval.approved`/`approval.expired` audit entry, one DM telling the requester, every card copy final);
 * each timer fired once (status `fired`, one audit entry, one DM); every outbox effect done, none dead; no message posted
 * twice (Muster tags every post with its effect id in the message metadata: two applied chat.postMessage calls with one
 * effect id are a duplicate) and no response_url post sent twice.
 *  4. the rate budget: the replicas are restarted with pacing on (MUSTER_SLACK_PACING=<scale>) while the fake enforces
 *     Slack's tiers at the same scale, with the bursts Muster assumes (bench/replicas.ts `tiersFor`): a burst of
 *     production deploys and their votes, until the outbox is idle. Counted: Slack calls by method and the 429s the fake
 *     answered. One process never exceeds its budget; N processes that each keep their own budget spend up to N times
 *     it, which Slack answers with 429s; processes that share one budget in the database keep to it.
 *
 * The bench, the fake, the proxy, PostgreSQL and the replicas share the machine's CPUs: on a small machine more replicas
 * compete for the same cores, and the throughput figures say more about that than about Muster.
 */
import http from 'node:http';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { FakeSlack, GENERAL_CHANNEL_ID, METHOD_TIERS, TEAM_ID, type FakeCall, type TierOptions } from '../test/support/fakeSlack.ts';
import { FORM_CONTENT_TYPE, nowSeconds, post, sign, slashCommand } from '../test/support/slackRequests.ts';
import { approveClick, cpuBusy, findApprove, quantiles, table } from './approval-clicks.ts';
import { createBenchDatabase, openDbReader, postgresProblem, type BenchDatabase, type DbReader } from './db.ts';
import { runPhase, summarize, type LoadTarget, type Summary } from './load.ts';
import { BENCH_AUDIT_KEY, dumpOutput, freePort, logSince, startChild, stopChild, waitForHttp200, type Child, musterMain } from './proc.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------

export interface ReplicaSizes {
  counts: number[];
  /** phase 1: clicks/s and seconds */
  clickRate: number;
  clickSeconds: number;
  /** phase 1, full runs: step-up rates (clicks/s) and seconds per step; empty: none */
  steps: number[];
  stepSeconds: number;
  /** a step holds when p99 stays under this and nothing failed */
  maxP99Ms: number;
  /** phase 2: requests clicked everywhere at once */
  burstRequests: number;
  /** phase 3: timers */
  timers: number;
  /** phase 4: production deploys created and approved with pacing on, their clicks/s, and the budget scale */
  limiterRequests: number;
  limiterClickRate: number;
  limiterScale: number;
}

export const FULL: ReplicaSizes = {
  counts: [1, 2, 3],
  clickRate: 20,
  clickSeconds: 6,
  steps: [10, 20, 40, 60, 100, 150, 200, 300],
  stepSeconds: 3,
  maxP99Ms: 500,
  burstRequests: 20,
  timers: 1000,
  limiterRequests: 20,
  limiterClickRate: 20,
  limiterScale: 5,
};

export const QUICK: ReplicaSizes = {
  counts: [2],
  clickRate: 15,
  clickSeconds: 2,
  steps: [],
  stepSeconds: 2,
  maxP99Ms: 500,
  burstRequests: 5,
  timers: 50,
  limiterRequests: 5,
  limiterClickRate: 15,
  limiterScale: 10,
};

// ---------------------------------------------------------------------------
// People and constants
// ---------------------------------------------------------------------------

const SECRET = `bench-${randomBytes(12).toString('hex')}`;
const BOT_TOKEN = 'xoxb-bench-replicas';
const ADMIN = 'URPADMIN';
/** asks for the production deploys */
const REQUESTER = 'URPDEV';
/** asks for the staging deploys whose expiry timers phase 3 fires */
const TIMER_REQUESTER = 'URPTREQ';
const APPROVERS = [
  { id: 'URPRM', name: 'release-manager', role: 'release_manager' },
  { id: 'URPCTO', name: 'cto', role: 'cto' },
  { id: 'URPSEC', name: 'security-lead', role: 'security_lead' },
] as const;
/** staging deploys need one approval from qa_lead or tech_lead: the card goes to #general and this person's DMs */
const QA = { id: 'URPQA', name: 'qa-lead', role: 'qa_lead' } as const;
const VOTES = APPROVERS.length;
const START_TIMEOUT_MS = 60_000;
const SHUTDOWN_LIMIT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
const CREATE_CONCURRENCY = 4;
const QUIET_MS = 400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));
const f0 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(0));

/**
 * The fake's tiers for phase 4: Slack's published rates (RATE_TIERS, POST_MESSAGE_LIMITS in the fake) times `scale`,
 * as Muster paces with MUSTER_SLACK_PACING=<scale>, and bursts a little above the ones Muster assumes
 * (src/platforms/slack/rateLimits.ts: Tier 2 3, Tier 3 5, Tier 4 10; chat.postMessage 2 per channel, 20 per
 * workspace) instead of the fake's minute's worth. Slack sizes no burst ("sporadic bursts are welcome",
 * https://docs.slack.dev/apis/web-api/rate-limits): with a minute's worth, spending beyond the budget would show only
 * after a minute; with Muster's own bursts it shows within seconds. The headroom (`HEADROOM` tokens, one for a
 * post to one channel) absorbs the jitter between the moment Muster takes a token and the moment its call reaches the
 * fake (drawing the card, a busy event loop), which would otherwise be answered 429 even for one process keeping to its
 * budget. The fake multiplies bursts by `scale` too, hence the division.
 */
export function tiersFor(scale: number): TierOptions {
  const b = (n: number) => (n + 0.5) / scale; // floor(b × scale) = n
  return {
    scale,
    tiers: { 1: { burst: b(1 + HEADROOM) }, 2: { burst: b(3 + HEADROOM) }, 3: { burst: b(5 + HEADROOM) }, 4: { burst: b(10 + HEADROOM) } },
    postMessage: { perChannel: { burst: b(2 + 1) }, workspace: { burst: b(20 + HEADROOM) } },
  };
}
const HEADROOM = 2;

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

export interface Outcomes {
  /** requests clicked in the phase */
  requests: number;
  /** those the clicks should approve (all three votes) */
  expectedApproved: number;
  approved: number;
  /** requests with more votes than people who voted (never) or another count than planned */
  wrongVotes: number;
  /** requests with other than one approval.approved audit entry when approved (0 when pending) */
  wrongAudit: number;
  /** requests whose requester was told of the approval other than once (0 when pending) */
  wrongDms: number;
  /** card copies (channel + one DM per approver) that do not show the request's final state, or missing/extra copies */
  wrongCards: number;
  samples: string[];
}

export interface ClickPhase {
  label: string;
  rate: number;
  seconds: number;
  summary: Summary;
  /** ms from the last click until the outbox was idle */
  drainMs: number;
  outcomes: Outcomes;
}

export interface TimerPhase {
  timers: number;
  /** rows made due by the UPDATE */
  madeDue: number;
  fired: number;
  /** timers in another state than fired at the end (pending, claimed, failed) */
  notFired: number;
  /** requests with more than one approval.expired audit entry */
  firedTwice: number;
  /** requests that are not `expired` */
  notExpired: number;
  /** timers claimed more than once (a lease taken over, or a retried handler) */
  claimedAgain: number;
  /** fired timers by the replica that fired them (leased_by) */
  byReplica: Record<string, number>;
  /** expiry DMs to the requester: refs told once, more than once, never */
  dmsOnce: number;
  dmsTwice: number;
  dmsMissing: number;
  /** card copies not showing Expired (channel card + the qa_lead's DM per request) */
  cardsNotExpired: number;
  /** set-up: creating the requests (s), their cards posted and the outbox idle (s) */
  createS: number;
  settleS: number;
  /** UPDATE → every timer fired, and → the outbox idle again (s) */
  allFiredS: number;
  effectsDoneS: number;
  samples: string[];
}

export interface EffectCheck {
  outbox: Record<string, number>;
  /** effects marked uncertain (an attempt that may have reached Slack: looked up before being redone) */
  uncertain: number;
  /** effects tried more than once */
  retried: number;
  /** 429s the outbox recorded (outbox.rate_limited) */
  rateLimitedInOutbox: number;
  /** applied chat.postMessage calls, and effect ids posted more than once */
  posts: number;
  duplicatePosts: number;
  /** chat.postMessage calls without Muster's effect metadata (should be none) */
  untaggedPosts: number;
  /** response_url posts with the same body twice on one URL */
  duplicateReplies: number;
  samples: string[];
}

export interface LimiterPhase {
  scale: number;
  requests: number;
  clicks: number;
  /** Slack Web API calls during the phase, by method, and 429s the fake answered, by method */
  calls: Record<string, number>;
  rateLimited: Record<string, number>;
  totalCalls: number;
  total429: number;
  /** first command → outbox idle (s) */
  spanS: number;
  /** the database holds the shared budget (rate_buckets rows written) */
  sharedBuckets: number;
  /**
   * chat.update (Tier 3, the busiest method here): the most calls the fake applied in any 5 s, against what Muster's own
   * budget allows in 5 s (its burst + 90 % of the scaled rate × 5 s) and what the fake allows (its burst + the rate × 5 s)
   */
  updatePeak5s: number;
  updateBudget5s: number;
  updateFakeAllows5s: number;
  /** a few of the calls answered 429: method, message, when, and how many calls of that method the fake had applied in the second before */
  samples429: string[];
  outcomes: Outcomes;
}

export interface ReplicaRow {
  replicas: number;
  /** all replicas answering /readyz, from their spawn (ms) */
  readyMs: number;
  main?: ClickPhase;
  steps: Array<{ rate: number; summary: Summary; held: boolean }>;
  /** the highest step rate whose acks held (null: none; undefined: no step-up) */
  heldRate?: number | null;
  burst?: { requests: number; sent: number; acked: number; p99: number; outcomes: Outcomes };
  timers?: TimerPhase;
  effects?: EffectCheck;
  limiter?: LimiterPhase;
  limiterEffects?: EffectCheck;
  /** requests the proxy handed to each replica (pacing-off replicas) */
  proxied: number[];
  /** /approval deploy commands asked again because the first answer was not 200 and no card came (a busy machine) */
  createRetries: number;
  /** what went wrong without breaking a guarantee (clicks not answered 200 in time: a throughput figure) */
  notes: string[];
  /** lines logged at warn or above by the replicas, the expected "CAB digest is off" aside */
  warnLines: number;
  warnSamples: string[];
  failures: string[];
}

export interface ReplicaBenchResult {
  quick: boolean;
  sizes: ReplicaSizes;
  skipped?: string;
  rows: ReplicaRow[];
  /** whether the rate budget is held in the database by the code that ran (src/platforms/slack/rateLimits.ts SharedRateLimiter wired in) */
  sharedLimiter: { ran: boolean; committed: boolean; musterRoot: string; note: string };
  machine: { cpus: number; model: string; loadAvgStart: number[]; loadAvgEnd: number[]; cpuBusyBeforePct: number };
  text: string;
  failures: string[];
}

// ---------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------

interface Proxy {
  port: number;
  counts: number[];
  setTargets(ports: number[]): void;
  close(): Promise<void>;
}

/** Round robin over `ports`: each request (any method and path) goes to the next replica, untouched both ways. */
async function startProxy(): Promise<Proxy> {
  let ports: number[] = [];
  let counts: number[] = [];
  let next = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const server = http.createServer((req, res) => {
    if (ports.length === 0) {
      res.writeHead(503).end('no replicas');
      return;
    }
    const k = next++ % ports.length;
    counts[k] = (counts[k] ?? 0) + 1;
    const up = http.request({ host: '127.0.0.1', port: ports[k], method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502).end(`replica ${k + 1}: ${e.message}`);
      else res.destroy();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    get counts() {
      return counts;
    },
    setTargets(p) {
      ports = p;
      counts = p.map(() => 0);
      next = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------
// One replica count
// ---------------------------------------------------------------------------

interface Card {
  ref: string;
  version: string;
  id: string;
  ts: string;
  text: string;
  blocks: unknown[];
}

interface Ctx {
  /** the checkout whose src/main.ts the replicas run */
  musterRoot: string;
  n: number;
  sizes: ReplicaSizes;
  log: (s: string) => void;
  fake: FakeSlack;
  proxy: Proxy;
  db: DbReader;
  database: BenchDatabase;
  tmp: string;
  logDir: string;
  baseEnv: NodeJS.ProcessEnv;
  policyFile: string;
  replicas: Child[];
  row: ReplicaRow;
  cards: Map<string, Card>;
  scanned: number;
  phaseNo: number;
}

function env(c: Ctx, i: number, port: number, pacing: string): NodeJS.ProcessEnv {
  return {
    ...c.baseEnv,
    PORT: String(port),
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: c.fake.url,
    DATABASE_URL: c.database.url,
    MUSTER_ADMINS: ADMIN,
    MUSTER_AUDIT_KEY: BENCH_AUDIT_KEY,
    MUSTER_CONFIG: c.policyFile,
    MUSTER_INSTANCE_ID: `replica-${i + 1}`,
    MUSTER_SLACK_PACING: pacing,
  };
}

/** Starts the N replicas together (they race for the migrations' advisory lock on a fresh database), waits for all. */
async function startReplicas(c: Ctx, pacing: string, tag: string): Promise<number> {
  const t0 = performance.now();
  const ports: number[] = [];
  c.replicas = [];
  for (let i = 0; i < c.n; i++) {
    const port = await freePort();
    ports.push(port);
    c.replicas.push(
      startChild(`replica ${i + 1}/${c.n}${tag}`, musterMain(c.musterRoot), {
        cwd: c.musterRoot,
        env: env(c, i, port, pacing),
        logFile: join(c.logDir, `replicas-${c.n}-${i + 1}${tag ? `-${tag.trim().replace(/\W+/g, '-')}` : ''}.log`),
      }),
    );
  }
  activeChildren.push(...c.replicas);
  await Promise.all(c.replicas.map((r, i) => waitForHttp200(r, `http://127.0.0.1:${ports[i]}/readyz`, START_TIMEOUT_MS)));
  c.proxy.setTargets(ports);
  return performance.now() - t0;
}

async function stopReplicas(c: Ctx): Promise<void> {
  const stops = await Promise.all(c.replicas.map((r) => stopChild(r, SHUTDOWN_LIMIT_MS)));
  stops.forEach((s, i) => {
    if (!s.graceful || s.code !== 0) c.row.failures.push(`${c.n} replicas: replica ${i + 1} did not exit 0 within ${SHUTDOWN_LIMIT_MS / 1000} s of SIGTERM`);
  });
  for (const r of c.replicas) {
    const l = logSince(r);
    // the policy sets no CAB channel, so each replica says once that the CAB digest is off: expected, neither counted
    // nor sampled (counted, it printed "logged 2 line(s) at warn or above, e.g." with no example)
    const unexpected = l.warnPlus.filter((w) => !w.includes('the CAB digest is off'));
    c.row.warnLines += unexpected.length;
    for (const w of unexpected) if (c.row.warnSamples.length < 5) c.row.warnSamples.push(`${r.name}: ${w.slice(0, 300)}`);
  }
  c.proxy.setTargets([]);
}

const proxyUrl = (c: Ctx) => `http://127.0.0.1:${c.proxy.port}`;

async function command(c: Ctx, cmd: string, text: string, userId: string, userName: string): Promise<{ status: number; text: string }> {
  const req = slashCommand({ command: cmd, text, userId, userName, teamId: TEAM_ID, channelId: GENERAL_CHANNEL_ID, responseUrl: c.fake.responseUrl(`cmd-${randomBytes(6).toString('hex')}`) });
  const r = await post(proxyUrl(c), req, { secret: SECRET, timeoutMs: REQUEST_TIMEOUT_MS });
  let t = r.body;
  try {
    const j = JSON.parse(r.body) as { text?: unknown };
    if (typeof j.text === 'string') t = j.text;
  } catch {
    // keep the raw body
  }
  return { status: r.status, text: t };
}

const UNFINISHED = `SELECT count(*) FROM outbox WHERE status NOT IN ('done', 'dead')`;

/** Waits until the outbox has nothing left to do and nothing has reached the fake for QUIET_MS; false after `limitMs`. */
async function settle(c: Ctx, limitMs: number): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  let last = -1;
  let since = performance.now();
  for (;;) {
    const seen = c.fake.calls.length + c.fake.responses.length;
    const now = performance.now();
    if (seen !== last) {
      last = seen;
      since = now;
    } else if (now - since >= QUIET_MS && (await c.db.one(UNFINISHED)) === 0) return true;
    if (now > deadline) return false;
    if (c.replicas.some((r) => r.exitInfo)) throw new Error(`${c.replicas.find((r) => r.exitInfo)!.name} exited`);
    await sleep(100);
  }
}

/** Reads new cards off #general: `APR-n Deploy api <version> to <env> — pending…` with its Approve button's request id. */
function scanCards(c: Ctx): void {
  const msgs = c.fake.messages(GENERAL_CHANNEL_ID);
  for (; c.scanned < msgs.length; c.scanned++) {
    const m = msgs[c.scanned]!;
    const t = /^(APR-\d+) Deploy api (\S+) to (?:production|staging) — pending/.exec(m.text);
    if (!t) continue;
    const id = findApprove(m.blocks);
    if (id) c.cards.set(t[2]!, { ref: t[1]!, version: t[2]!, id, ts: m.ts, text: m.text, blocks: m.blocks ?? [] });
  }
}

/**
 * Creates `n` deploys to `environment` (versions `<phase>.<0|1>.<j>`), waits for their cards and an idle outbox. On a
 * machine too busy to answer within Slack's 3 s, Bolt answers 404 while the command still goes on and creates the request;
 * so a failed command is not repeated at once: once the outbox is idle, only versions that have no card are asked again.
 */
async function createDeploys(
  c: Ctx,
  environment: 'production' | 'staging',
  n: number,
  requester: string,
): Promise<{ cards: Card[]; prefix: string; createMs: number; settleMs: number; retried: number }> {
  c.phaseNo += 1;
  const prefix = `${c.phaseNo}.${environment === 'production' ? 0 : 1}.`;
  const want = Array.from({ length: n }, (_, j) => `${prefix}${j}`);
  const limit = 60_000 + n * 200;
  const t0 = performance.now();
  let createMs = 0;
  let retried = 0;
  let problems: string[] = [];
  for (let round = 0; round < 3; round++) {
    const todo = want.filter((v) => !c.cards.has(v));
    if (todo.length === 0) break;
    if (round > 0) retried += todo.length;
    problems = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(CREATE_CONCURRENCY, todo.length) }, async () => {
        while (next < todo.length) {
          const v = todo[next++]!;
          const r = await command(c, '/approval', `deploy ${environment} api ${v} bench`, requester, 'bench-dev');
          if (r.status !== 200 || !/^APR-\d+ requested: Deploy api \S+ to /.test(r.text)) problems.push(`HTTP ${r.status}: ${r.text.slice(0, 160)}`);
        }
      }),
    );
    if (round === 0) createMs = performance.now() - t0;
    if (!(await settle(c, limit))) throw new Error(`the outbox did not go idle within ${limit / 1000} s of creating ${n} ${environment} deploys`);
    scanCards(c);
  }
  const missing = want.filter((v) => !c.cards.has(v));
  c.row.createRetries += retried;
  if (missing.length) throw new Error(`${missing.length}/${n} ${environment} deploys have no card after three tries, e.g. ${problems[0] ?? 'no error answered'}`);
  return { cards: want.map((v) => c.cards.get(v)!), prefix, createMs, settleMs: performance.now() - t0 - createMs, retried };
}

/** Open-loop clicks through the proxy: click i is approver i mod 3 on card ⌊i/3⌋. */
async function clickPhase(c: Ctx, label: string, rate: number, seconds: number): Promise<ClickPhase> {
  const total = Math.max(1, Math.round(rate * seconds));
  const made = await createDeploys(c, 'production', Math.ceil(total / VOTES), REQUESTER);
  const target: LoadTarget = {
    name: `clicks-${label}`,
    host: '127.0.0.1',
    port: c.proxy.port,
    path: '/slack/events',
    build(i) {
      const { body } = approveClick(c.fake, made.cards[Math.floor(i / VOTES)]!, APPROVERS[i % VOTES]!, `click-${c.n}-${label}-${i}`);
      return { body, headers: { ...sign(SECRET, body, nowSeconds(), FORM_CONTENT_TYPE) } };
    },
    check: (status, body) => (status === 200 ? null : `HTTP ${status}: ${body.slice(0, 120)}`),
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const run = await runPhase(target, { rate, seconds, agent, timeoutMs: REQUEST_TIMEOUT_MS }).finally(() => agent.destroy());
  const lastAck = performance.now();
  const limit = 60_000 + total * 100;
  if (!(await settle(c, limit))) throw new Error(`the outbox did not go idle within ${limit / 1000} s of the last click (${label})`);
  const drainMs = performance.now() - lastAck - QUIET_MS;
  const votesPer = made.cards.map((_, j) => Math.min(VOTES, total - j * VOTES));
  return { label, rate, seconds, summary: summarize(run), drainMs, outcomes: await checkOutcomes(c, made.cards, votesPer) };
}

/**
 * One outcome per request, in the database and the fake: exactly the planned votes (one per person), `approved` with one
 * approval.approved audit entry when all three voted (else still pending, no such entry), the requester told once
 * when approved (never otherwise), and every copy of the card (the channel card and one DM per approver) showing it.
 */
async function checkOutcomes(c: Ctx, cards: Card[], votesPer: number[]): Promise<Outcomes> {
  const o: Outcomes = { requests: cards.length, expectedApproved: votesPer.filter((v) => v === VOTES).length, approved: 0, wrongVotes: 0, wrongAudit: 0, wrongDms: 0, wrongCards: 0, samples: [] };
  const ids = cards.map((k) => k.id);
  const rows = await c.db.all<{ id: string; status: string; votes: number | string; people: number | string }>(
    `SELECT r.id, r.status, (SELECT count(*) FROM approval_votes v WHERE v.request_id = r.id) AS votes,
            (SELECT count(DISTINCT v.user_id) FROM approval_votes v WHERE v.request_id = r.id) AS people
       FROM approval_requests r WHERE r.id = ANY(?::text[])`,
    ids,
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const audits = new Map(
    (
      await c.db.all<{ subject_id: string; n: number | string }>(
        `SELECT subject_id, count(*) AS n FROM audit_entries WHERE action = 'approval.approved' AND subject_id = ANY(?::text[]) GROUP BY subject_id`,
        cards.map((k) => k.ref),
      )
    ).map((r) => [r.subject_id, Number(r.n)]),
  );
  const told = new Map<string, number>();
  for (const m of c.fake.dms(REQUESTER)) {
    const t = /Your request (APR-\d+) .* was \*approved\*/.exec(m.text);
    if (t) told.set(t[1]!, (told.get(t[1]!) ?? 0) + 1);
  }
  const copyChannels = [GENERAL_CHANNEL_ID, ...APPROVERS.map((a) => c.fake.imChannelId(a.id)).filter((x): x is string => x !== undefined)];
  const copies = new Map<string, string[]>();
  for (const ch of copyChannels) {
    for (const m of c.fake.messages(ch)) {
      const t = /^(APR-\d+) Deploy api /.exec(m.text);
      if (t) copies.set(t[1]!, [...(copies.get(t[1]!) ?? []), m.text]);
    }
  }
  const bad = (s: string) => {
    if (o.samples.length < 4) o.samples.push(s);
  };
  cards.forEach((card, j) => {
    const want = votesPer[j]!;
    const r = byId.get(card.id);
    const approvedNow = r?.status === 'approved';
    if (approvedNow) o.approved += 1;
    const final = want === VOTES ? 'approved' : 'pending';
    if (!r || Number(r.votes) !== want || Number(r.people) !== want || r.status !== final) {
      o.wrongVotes += 1;
      bad(`${card.ref}: ${r ? `${r.votes} votes by ${r.people} people, ${r.status}` : 'not in the database'}, expected ${want} votes, ${final}`);
    }
    const a = audits.get(card.ref) ?? 0;
    if (a !== (want === VOTES ? 1 : 0)) {
      o.wrongAudit += 1;
      bad(`${card.ref}: ${a} approval.approved audit entries`);
    }
    const d = told.get(card.ref) ?? 0;
    if (d !== (want === VOTES ? 1 : 0)) {
      o.wrongDms += 1;
      bad(`${card.ref}: the requester was told ${d} times`);
    }
    const texts = copies.get(card.ref) ?? [];
    const head = `${card.ref} Deploy api ${card.version} to production — `;
    const shows = want === VOTES ? `${head}Approved` : `${head}pending ${want}/${VOTES}`;
    const off = texts.filter((t) => !t.startsWith(shows));
    if (texts.length !== 1 + VOTES || off.length) {
      o.wrongCards += 1;
      bad(`${card.ref}: ${texts.length} card copies (expected ${1 + VOTES})${off.length ? `, ${off.length} not showing "${shows}…" (e.g. "${off[0]!.slice(0, 90)}")` : ''}`);
    }
  });
  return o;
}

/** Phase 2: every approver clicks each request twice and Slack retries each first click, all at once. */
async function burstPhase(c: Ctx): Promise<NonNullable<ReplicaRow['burst']>> {
  const k = c.sizes.burstRequests;
  const made = await createDeploys(c, 'production', k, REQUESTER);
  const sends: Array<Promise<{ status: number; ms: number }>> = [];
  made.cards.forEach((card, j) => {
    for (const a of APPROVERS) {
      const first = approveClick(c.fake, card, a, `burst-${c.n}-${j}-${a.id}-1`);
      const again = approveClick(c.fake, card, a, `burst-${c.n}-${j}-${a.id}-2`);
      const timed = (p: Promise<{ status: number }>) => {
        const s = performance.now();
        return p.then(
          (r) => ({ status: r.status, ms: performance.now() - s }),
          () => ({ status: 0, ms: performance.now() - s }),
        );
      };
      sends.push(timed(post(proxyUrl(c), first, { secret: SECRET, timeoutMs: REQUEST_TIMEOUT_MS })));
      sends.push(timed(post(proxyUrl(c), first, { secret: SECRET, timeoutMs: REQUEST_TIMEOUT_MS, retryNum: 1, retryReason: 'http_timeout' })));
      sends.push(timed(post(proxyUrl(c), again, { secret: SECRET, timeoutMs: REQUEST_TIMEOUT_MS })));
    }
  });
  const answers = await Promise.all(sends);
  const limit = 60_000 + sends.length * 100;
  if (!(await settle(c, limit))) throw new Error(`the outbox did not go idle within ${limit / 1000} s of the burst`);
  const ms = answers.filter((a) => a.status === 200).map((a) => a.ms);
  return {
    requests: k,
    sent: sends.length,
    acked: ms.length,
    p99: quantiles(ms).p99,
    outcomes: await checkOutcomes(
      c,
      made.cards,
      made.cards.map(() => VOTES),
    ),
  };
}

/** Phase 3: T staging deploys, their expiry timers made due at once, fired by whichever replica claims each. */
async function timerPhase(c: Ctx): Promise<TimerPhase> {
  const t = c.sizes.timers;
  const made = await createDeploys(c, 'staging', t, TIMER_REQUESTER);
  const ids = made.cards.map((k) => k.id);
  const refs = made.cards.map((k) => k.ref);
  const pending = await c.db.one(`SELECT count(*) FROM timers WHERE kind = 'approval.expire' AND status = 'pending' AND subject_id = ANY(?::text[])`, ids);
  if (pending !== t) throw new Error(`expected ${t} pending approval.expire timers for the staging deploys, found ${pending}`);
  const t0 = performance.now();
  // Muster wrote these timers (due when the request expires, 24 h on); making them due now is all the bench changes.
  const madeDue = await c.db.run(`UPDATE timers SET due_at = timezone('UTC', now()) - interval '1 second' WHERE kind = 'approval.expire' AND status = 'pending' AND subject_id = ANY(?::text[])`, ids);
  const limit = 60_000 + t * 200;
  let fired = 0;
  for (;;) {
    fired = await c.db.one(`SELECT count(*) FROM timers WHERE kind = 'approval.expire' AND status = 'fired' AND subject_id = ANY(?::text[])`, ids);
    if (fired >= t) break;
    if (performance.now() - t0 > limit) break;
    if (c.replicas.some((r) => r.exitInfo)) throw new Error(`${c.replicas.find((r) => r.exitInfo)!.name} exited while the timers fired`);
    await sleep(100);
  }
  const allFiredS = (performance.now() - t0) / 1000;
  if (!(await settle(c, limit))) throw new Error(`the outbox did not go idle within ${limit / 1000} s of the timers firing`);
  const effectsDoneS = (performance.now() - t0 - QUIET_MS) / 1000;

  const byStatus = await c.db.all<{ status: string; n: number | string }>(
    `SELECT status, count(*) AS n FROM timers WHERE kind = 'approval.expire' AND subject_id = ANY(?::text[]) GROUP BY status`,
    ids,
  );
  const byReplica = Object.fromEntries(
    (
      await c.db.all<{ leased_by: string | null; n: number | string }>(
        `SELECT leased_by, count(*) AS n FROM timers WHERE kind = 'approval.expire' AND status = 'fired' AND subject_id = ANY(?::text[]) GROUP BY leased_by ORDER BY leased_by`,
        ids,
      )
    ).map((r) => [r.leased_by ?? '?', Number(r.n)]),
  );
  const claimedAgain = await c.db.one(`SELECT count(*) FROM timers WHERE kind = 'approval.expire' AND attempts > 1 AND subject_id = ANY(?::text[])`, ids);
  const audit = await c.db.all<{ subject_id: string; n: number | string }>(
    `SELECT subject_id, count(*) AS n FROM audit_entries WHERE action = 'approval.expired' AND subject_id = ANY(?::text[]) GROUP BY subject_id`,
    refs,
  );
  const notExpired = await c.db.one(`SELECT count(*) FROM approval_requests WHERE status <> 'expired' AND id = ANY(?::text[])`, ids);
  const told = new Map<string, number>();
  for (const m of c.fake.dms(TIMER_REQUESTER)) {
    const x = /Your request (APR-\d+) .* was \*expired\*/.exec(m.text);
    if (x) told.set(x[1]!, (told.get(x[1]!) ?? 0) + 1);
  }
  const samples: string[] = [];
  let cardsNotExpired = 0;
  const qaIm = c.fake.imChannelId(QA.id);
  const copies = new Map<string, string[]>();
  for (const ch of [GENERAL_CHANNEL_ID, ...(qaIm ? [qaIm] : [])]) {
    for (const m of c.fake.messages(ch)) {
      const x = /^(APR-\d+) Deploy api \S+ to staging — /.exec(m.text);
      if (x) copies.set(x[1]!, [...(copies.get(x[1]!) ?? []), m.text]);
    }
  }
  for (const card of made.cards) {
    const texts = copies.get(card.ref) ?? [];
    if (texts.length !== 2 || texts.some((x) => !x.includes(' — Expired'))) {
      cardsNotExpired += 1;
      if (samples.length < 3) samples.push(`${card.ref}: ${texts.length} copies, showing ${texts.map((x) => `"${x.slice(0, 70)}"`).join(', ')}`);
    }
  }
  const dmsOnce = refs.filter((r) => told.get(r) === 1).length;
  const dmsTwice = refs.filter((r) => (told.get(r) ?? 0) > 1).length;
  const twice = audit.filter((a) => Number(a.n) > 1);
  if (twice.length && samples.length < 4) samples.push(`fired twice: ${twice.slice(0, 3).map((a) => `${a.subject_id} ×${a.n}`)}`);
  return {
    timers: t,
    madeDue,
    fired,
    notFired: byStatus.filter((s) => s.status !== 'fired').reduce((n, s) => n + Number(s.n), 0),
    firedTwice: twice.length,
    notExpired,
    claimedAgain,
    byReplica,
    dmsOnce,
    dmsTwice,
    dmsMissing: refs.filter((r) => !told.has(r)).length,
    cardsNotExpired,
    createS: made.createMs / 1000,
    settleS: made.settleMs / 1000,
    allFiredS,
    effectsDoneS,
    samples,
  };
}

/** Every effect done once: the outbox in the database, and what reached the fake (from `fromCall` on). */
async function checkEffects(c: Ctx, fromCall = 0): Promise<EffectCheck> {
  const outbox = Object.fromEntries(
    (await c.db.all<{ status: string; n: number | string }>(`SELECT status, count(*) AS n FROM outbox GROUP BY status ORDER BY status`)).map((r) => [r.status, Number(r.n)]),
  );
  const posted = new Map<number, number>();
  let posts = 0;
  let untagged = 0;
  const calls: FakeCall[] = c.fake.calls.slice(fromCall);
  for (const call of calls) {
    if (call.method !== 'chat.postMessage' || call.status !== 200 || call.response?.ok !== true) continue;
    posts += 1;
    const meta = call.args.metadata as { event_type?: unknown; event_payload?: { effect?: unknown } } | undefined;
    const effect = Number(meta?.event_payload?.effect);
    if (!Number.isInteger(effect) || effect <= 0) untagged += 1;
    else posted.set(effect, (posted.get(effect) ?? 0) + 1);
  }
  const dups = [...posted.entries()].filter(([, k]) => k > 1);
  const replies = new Map<string, number>();
  for (const r of c.fake.responses) {
    const key = `${r.id}\u0000${JSON.stringify(r.body)}`;
    replies.set(key, (replies.get(key) ?? 0) + 1);
  }
  const dupReplies = [...replies.entries()].filter(([, k]) => k > 1);
  const samples = [
    ...dups.slice(0, 3).map(([e, k]) => `effect ${e} posted ${k} times`),
    ...dupReplies.slice(0, 2).map(([key, k]) => `response_url ${key.split('\u0000')[0]} got the same body ${k} times`),
  ];
  return {
    outbox,
    uncertain: await c.db.one(`SELECT count(*) FROM outbox WHERE uncertain`),
    retried: await c.db.one(`SELECT count(*) FROM outbox WHERE attempts > 1`),
    rateLimitedInOutbox: await c.db.one(`SELECT coalesce(sum(rate_limited), 0) FROM outbox`),
    posts,
    duplicatePosts: dups.length,
    untaggedPosts: untagged,
    duplicateReplies: dupReplies.length,
    samples,
  };
}

/** Phase 4: restarted with pacing on, against a fake that enforces the tiers at the same scale. */
async function limiterPhase(c: Ctx): Promise<{ phase: LimiterPhase; effects: EffectCheck }> {
  const s = c.sizes;
  const fromCall = c.fake.calls.length;
  const before = new Map<string, number>();
  const methods = new Set(Object.keys(METHOD_TIERS));
  methods.add('chat.postMessage');
  for (const m of methods) before.set(m, c.fake.rateLimited(m));
  const rlOutboxBefore = await c.db.one(`SELECT coalesce(sum(rate_limited), 0) FROM outbox`);
  c.fake.enforceTiers(tiersFor(s.limiterScale));
  const t0 = performance.now();
  const made = await createDeploys(c, 'production', s.limiterRequests, REQUESTER);
  const total = made.cards.length * VOTES;
  const target: LoadTarget = {
    name: 'clicks-limiter',
    host: '127.0.0.1',
    port: c.proxy.port,
    path: '/slack/events',
    build(i) {
      const { body } = approveClick(c.fake, made.cards[Math.floor(i / VOTES)]!, APPROVERS[i % VOTES]!, `limiter-${c.n}-${i}`);
      return { body, headers: { ...sign(SECRET, body, nowSeconds(), FORM_CONTENT_TYPE) } };
    },
    check: (status, body) => (status === 200 ? null : `HTTP ${status}: ${body.slice(0, 120)}`),
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  try {
    await runPhase(target, { rate: s.limiterClickRate, seconds: total / s.limiterClickRate, agent, timeoutMs: REQUEST_TIMEOUT_MS });
  } finally {
    agent.destroy();
  }
  const limit = 120_000 + total * 500;
  if (!(await settle(c, limit))) throw new Error(`the outbox did not go idle within ${limit / 1000} s with pacing on`);
  const spanS = (performance.now() - t0 - QUIET_MS) / 1000;
  c.fake.enforceTiers(false);
  const calls: Record<string, number> = {};
  const phaseCalls = c.fake.calls.slice(fromCall);
  for (const call of phaseCalls) calls[call.method] = (calls[call.method] ?? 0) + 1;
  const startedAt = phaseCalls[0]?.at ?? 0;
  const applied = phaseCalls.filter((x) => x.method === 'chat.update' && x.status === 200).map((x) => x.at);
  let updatePeak5s = 0;
  for (let i = 0, j = 0; i < applied.length; i++) {
    while (applied[j]! < applied[i]! - 5_000) j++;
    updatePeak5s = Math.max(updatePeak5s, i - j + 1);
  }
  const tier3PerS = (50 * s.limiterScale) / 60;
  const samples429 = phaseCalls
    .filter((x) => x.status === 429)
    .slice(0, 6)
    .map((x) => {
      const before = phaseCalls.filter((y) => y.method === x.method && y.status === 200 && y.at <= x.at && y.at > x.at - 1_000).length;
      const where = typeof x.args.channel === 'string' ? ` ${x.args.channel === GENERAL_CHANNEL_ID ? '#general' : x.args.channel}` : '';
      return `${x.method}${where} at +${((x.at - startedAt) / 1000).toFixed(2)} s, ${before} applied in the second before`;
    });
  const rateLimited: Record<string, number> = {};
  for (const m of methods) {
    const d = c.fake.rateLimited(m) - (before.get(m) ?? 0);
    if (d > 0) rateLimited[m] = d;
  }
  const sharedBuckets = await c.db.one(`SELECT count(*) FROM rate_buckets`).catch(() => 0);
  const outcomes = await checkOutcomes(
    c,
    made.cards,
    made.cards.map(() => VOTES),
  );
  const effects = await checkEffects(c, fromCall);
  effects.rateLimitedInOutbox -= rlOutboxBefore;
  return {
    phase: {
      scale: s.limiterScale,
      requests: made.cards.length,
      clicks: total,
      calls,
      rateLimited,
      totalCalls: Object.values(calls).reduce((a, b) => a + b, 0),
      total429: Object.values(rateLimited).reduce((a, b) => a + b, 0),
      spanS,
      sharedBuckets,
      updatePeak5s,
      updateBudget5s: 5 + 0.9 * tier3PerS * 5,
      updateFakeAllows5s: 5 + HEADROOM + tier3PerS * 5,
      samples429,
      outcomes,
    },
    effects,
  };
}

function outcomeFailures(where: string, o: Outcomes): string[] {
  const out: string[] = [];
  if (o.wrongVotes) out.push(`${where}: ${o.wrongVotes}/${o.requests} requests do not hold one vote per person clicking and the planned status`);
  if (o.wrongAudit) out.push(`${where}: ${o.wrongAudit}/${o.requests} requests have other than one approval.approved audit entry`);
  if (o.wrongDms) out.push(`${where}: ${o.wrongDms}/${o.requests} requesters were told of the approval other than once`);
  if (o.wrongCards) out.push(`${where}: ${o.wrongCards}/${o.requests} requests have missing, extra or stale card copies`);
  if (out.length && o.samples.length) out.push(`${where}: e.g. ${o.samples.join(' | ')}`);
  return out;
}

function effectFailures(where: string, e: EffectCheck): string[] {
  const out: string[] = [];
  if ((e.outbox.dead ?? 0) > 0) out.push(`${where}: ${e.outbox.dead} outbox effects dead-lettered`);
  const stuck = Object.entries(e.outbox).filter(([k]) => k !== 'done' && k !== 'dead');
  if (stuck.length) out.push(`${where}: outbox effects left unfinished: ${stuck.map(([k, v]) => `${v} ${k}`).join(', ')}`);
  if (e.duplicatePosts) out.push(`${where}: ${e.duplicatePosts} effects posted more than once (${e.samples.join('; ')})`);
  if (e.duplicateReplies) out.push(`${where}: ${e.duplicateReplies} response_url posts sent twice (${e.samples.join('; ')})`);
  if (e.untaggedPosts) out.push(`${where}: ${e.untaggedPosts} messages posted without their effect id`);
  return out;
}

const activeChildren: Child[] = [];

async function runCount(n: number, sizes: ReplicaSizes, o: { log: (s: string) => void; tmp: string; logDir: string; baseEnv: NodeJS.ProcessEnv; musterRoot: string }): Promise<ReplicaRow> {
  const row: ReplicaRow = { replicas: n, readyMs: Number.NaN, steps: [], proxied: [], createRetries: 0, notes: [], warnLines: 0, warnSamples: [], failures: [] };
  const fake = await FakeSlack.start();
  const proxy = await startProxy();
  let database: BenchDatabase | undefined;
  let db: DbReader | undefined;
  let c: Ctx | undefined;
  try {
    database = await createBenchDatabase('postgresql', o.tmp, `replicas${n}`);
    for (const u of [
      { id: ADMIN, name: 'bench-admin' },
      { id: REQUESTER, name: 'bench-dev' },
      { id: TIMER_REQUESTER, name: 'bench-timers' },
      ...APPROVERS.map((a) => ({ id: a.id, name: a.name })),
      { id: QA.id, name: QA.name },
    ])
      fake.addUser(u);
    const policyFile = join(o.tmp, `replicas-${n}-policy.yml`);
    // Production deploys outside the deployment windows would be held: the bench runs at any hour.
    writeFileSync(policyFile, 'changes:\n  enforcedIn: []\n');
    c = {
      musterRoot: o.musterRoot,
      n,
      sizes,
      log: o.log,
      fake,
      proxy,
      db: undefined as unknown as DbReader,
      database,
      tmp: o.tmp,
      logDir: o.logDir,
      baseEnv: o.baseEnv,
      policyFile,
      replicas: [],
      row,
      cards: new Map(),
      scanned: 0,
      phaseNo: 0,
    };
    row.readyMs = await startReplicas(c, 'off', '');
    db = await openDbReader(database.url);
    c.db = db;
    o.log(`  ${n} replica${n > 1 ? 's' : ''} on ${database.describe}: /readyz 200 on all after ${f0(row.readyMs)} ms (pids ${c.replicas.map((r) => r.pid).join(', ')}; pacing off)`);

    for (const who of [...APPROVERS, QA]) {
      const r = await command(c, '/muster', `grant ${who.role} <@${who.id}>`, ADMIN, 'bench-admin');
      if (r.status !== 200 || !r.text.includes('Granted')) throw new Error(`/muster grant ${who.role} answered HTTP ${r.status}: ${r.text.slice(0, 160)}`);
    }
    await settle(c, 30_000);

    // 1. throughput (each phase is skipped when its size is 0: --sizes while developing)
    const main = sizes.clickSeconds > 0 ? await clickPhase(c, 'main', sizes.clickRate, sizes.clickSeconds) : undefined;
    if (main) row.main = main;
    if (main)
      o.log(
        `    clicks ${main.summary.ok}/${main.summary.sent} acked at ${sizes.clickRate}/s: p50 ${f1(main.summary.p50)} ms, p99 ${f1(main.summary.p99)} ms; outbox idle ${f1(main.drainMs / 1000)} s after the last click; ` +
          `${main.outcomes.approved}/${main.outcomes.expectedApproved} approved`,
      );
    if (main) row.failures.push(...outcomeFailures(`${n} replicas, clicks`, main.outcomes));
    // Slow acks are a throughput figure, not a correctness failure (the checks above say whether each vote counted once).
    if (main?.summary.errors) row.notes.push(`${n} replicas, clicks: ${main.summary.errors}/${main.summary.sent} clicks not answered 200 (${Object.keys(main.summary.errorKinds).join('; ')})`);
    if (sizes.steps.length) {
      for (const rate of sizes.steps) {
        const p = await clickPhase(c, `step${rate}`, rate, sizes.stepSeconds);
        const held = p.summary.errors === 0 && p.summary.p99 < sizes.maxP99Ms;
        row.steps.push({ rate, summary: p.summary, held });
        row.failures.push(...outcomeFailures(`${n} replicas, step ${rate}/s`, p.outcomes));
        o.log(`    step ${rate}/s: ${p.summary.ok}/${p.summary.sent} acked, p50 ${f1(p.summary.p50)} ms, p99 ${f1(p.summary.p99)} ms ${held ? '✓' : '✗'}`);
        if (!held) break;
      }
      const ok = row.steps.filter((s) => s.held).map((s) => s.rate);
      row.heldRate = ok.length ? Math.max(...ok) : null;
    }

    // 2. one request clicked on every replica at once
    if (sizes.burstRequests > 0) row.burst = await burstPhase(c);
    if (row.burst)
      o.log(
        `    burst: ${row.burst.acked}/${row.burst.sent} acked (p99 ${f1(row.burst.p99)} ms) for ${row.burst.requests} requests × (3 approvers × click, Slack retry, second click): ` +
          `${row.burst.outcomes.approved}/${row.burst.requests} approved once`,
      );
    if (row.burst) row.failures.push(...outcomeFailures(`${n} replicas, burst`, row.burst.outcomes));
    if (row.burst && row.burst.acked !== row.burst.sent) row.notes.push(`${n} replicas, burst: ${row.burst.sent - row.burst.acked} of ${row.burst.sent} clicks were not acked with HTTP 200`);

    // 3. timers
    const tp = sizes.timers > 0 ? await timerPhase(c) : undefined;
    if (tp) row.timers = tp;
    if (tp)
      o.log(
        `    timers: ${tp.timers} staging deploys created in ${f1(tp.createS)} s (cards and outbox idle ${f1(tp.settleS)} s later); ${tp.fired}/${tp.timers} fired ${f1(tp.allFiredS)} s after being made due (by ${Object.entries(
          tp.byReplica,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}), effects done at ${f1(tp.effectsDoneS)} s; ${tp.dmsOnce}/${tp.timers} requesters told once; ${tp.claimedAgain} claimed more than once`,
      );
    if (tp && (tp.fired !== tp.timers || tp.notFired)) row.failures.push(`${n} replicas, timers: ${tp.fired}/${tp.timers} fired (${tp.notFired} in another state)`);
    if (tp?.firedTwice) row.failures.push(`${n} replicas, timers: ${tp.firedTwice} requests expired more than once (audit)`);
    if (tp?.notExpired) row.failures.push(`${n} replicas, timers: ${tp.notExpired} requests not expired`);
    if (tp?.dmsTwice || tp?.dmsMissing) row.failures.push(`${n} replicas, timers: expiry DMs: ${tp.dmsTwice} requesters told twice, ${tp.dmsMissing} never`);
    if (tp?.cardsNotExpired) row.failures.push(`${n} replicas, timers: ${tp.cardsNotExpired} requests with a card copy missing, extra or not showing Expired (${tp.samples.join(' | ')})`);

    // no duplicated effect, all phases so far
    row.effects = await checkEffects(c);
    row.failures.push(...effectFailures(`${n} replicas`, row.effects));
    row.proxied = [...proxy.counts];
    await stopReplicas(c);

    // 4. the rate budget, pacing on
    await startReplicas(c, String(sizes.limiterScale), ' paced');
    o.log(`    restarted with MUSTER_SLACK_PACING=${sizes.limiterScale}; the fake enforces the tiers ×${sizes.limiterScale} with Muster's bursts + ${HEADROOM}`);
    const lp = await limiterPhase(c);
    row.limiter = lp.phase;
    row.limiterEffects = lp.effects;
    o.log(
      `    paced: ${lp.phase.totalCalls} Slack calls, ${lp.phase.total429} answered 429 (${
        Object.entries(lp.phase.rateLimited)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || 'none'
      }); outbox idle ${f1(lp.phase.spanS)} s after the first command`,
    );
    row.failures.push(...outcomeFailures(`${n} replicas, paced`, lp.phase.outcomes));
    row.failures.push(...effectFailures(`${n} replicas, paced`, lp.effects));
    await stopReplicas(c);
  } catch (e) {
    row.failures.push(`${n} replicas: ${(e as Error).message}`);
    for (const r of c?.replicas ?? []) if (r.exitInfo) row.failures.push(`${r.name} exited:\n${dumpOutput(r, 2_000)}`);
  } finally {
    for (const r of c?.replicas ?? []) if (!r.exitInfo) await stopChild(r, 3_000);
    await db?.close();
    await proxy.close();
    await fake.close();
    await database?.drop().catch((e: unknown) => o.log(`  (could not drop ${database?.describe}: ${(e as Error).message})`));
  }
  return row;
}

/**
 * Whether the code the replicas ran keeps the Slack rate budget in the database (the port builds a SharedRateLimiter and
 * the composition root hands it the database), and whether this repository's HEAD does.
 */
function sharedLimiterState(musterRoot: string): ReplicaBenchResult['sharedLimiter'] {
  const shared = (read: (f: string) => string) => {
    try {
      return /new SharedRateLimiter\(/.test(read('src/platforms/slack/chatPort.ts')) && /shared: \{/.test(read('src/muster.ts'));
    } catch {
      return false;
    }
  };
  const ran = shared((f) => readFileSync(join(musterRoot, f), 'utf8'));
  const committed = shared((f) => execFileSync('git', ['show', `HEAD:${f}`], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const where = musterRoot === root ? 'this checkout' : musterRoot;
  const note = ran
    ? `the replicas (${where}) shared one budget in the database (SharedRateLimiter over rate_buckets)${musterRoot === root && !committed ? ', from the working tree: not yet committed when this ran' : ''}`
    : `each replica (${where}) paced against a budget of its own, in memory: no shared budget in the database in the code that ran`;
  return { ran, committed, musterRoot, note };
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

function report(r: Omit<ReplicaBenchResult, 'text'>): string {
  const lines: string[] = [];
  const s = r.sizes;
  lines.push(
    `Muster replicas on one PostgreSQL database behind a round-robin proxy (${r.quick ? 'quick sizes' : 'full sizes'}); ${r.machine.cpus} CPUs (${r.machine.model}), load average at the start ${r.machine.loadAvgStart.join(' / ')}, ` +
      `CPU busy before ${r.machine.cpuBusyBeforePct.toFixed(0)} %; the bench, fake Slack, proxy, PostgreSQL and every replica share these CPUs: figures are noisy`,
  );
  if (r.skipped) {
    lines.push(`skipped: ${r.skipped}`);
    return lines.join('\n');
  }
  const row = (x: ReplicaRow) => [
    String(x.replicas),
    x.main ? `${x.main.summary.ok}/${x.main.summary.sent}` : '-',
    x.main ? f1(x.main.summary.throughput) : '-',
    x.main ? f1(x.main.summary.p50) : '-',
    x.main ? f1(x.main.summary.p99) : '-',
    x.main ? f1(x.main.drainMs / 1000) : '-',
    x.heldRate === undefined
      ? 'not run'
      : x.heldRate === null
        ? `< ${Math.min(...s.steps)}/s`
        : x.steps.every((t) => t.held) && x.heldRate === Math.max(...s.steps)
          ? `≥ ${x.heldRate}/s`
          : `${x.heldRate}/s`,
    x.proxied.join(' / '),
    f0(x.readyMs),
  ];
  lines.push('');
  lines.push(
    `throughput: signed Approve clicks at ${s.clickRate}/s for ${s.clickSeconds} s through the proxy (pacing off, no tiers)${s.steps.length ? `; step-up ${s.steps.join(', ')}/s × ${s.stepSeconds} s, held = p99 < ${s.maxP99Ms} ms, no errors` : ''}`,
  );
  lines.push(...table(['replicas', 'acked', 'acked/s', 'p50 ms', 'p99 ms', 'outbox idle +s', 'highest rate held', 'requests per replica', 'all ready ms'], r.rows.map(row)));
  lines.push('');
  lines.push('correctness (database and fake Slack):');
  const oc = (o: Outcomes | undefined) => (o ? `${o.requests - Math.max(o.wrongVotes, o.wrongAudit, o.wrongDms, o.wrongCards)}/${o.requests}` : '-');
  const tm = (t: TimerPhase | undefined) => (t ? `${t.fired}/${t.timers}` : '-');
  lines.push(
    ...table(
      [
        'replicas',
        'clicks: one outcome',
        'burst: one outcome',
        'timers fired',
        'fired twice',
        'expiry DM once',
        'fired by',
        'all fired +s',
        'effects',
        'dup posts',
        'dup replies',
        'uncertain',
        'dead',
      ],
      r.rows.map((x) => [
        String(x.replicas),
        oc(x.main?.outcomes),
        oc(x.burst?.outcomes),
        tm(x.timers),
        x.timers ? String(x.timers.firedTwice) : '-',
        x.timers ? `${x.timers.dmsOnce}/${x.timers.timers}` : '-',
        x.timers ? Array.from({ length: x.replicas }, (_, i) => String(x.timers!.byReplica[`replica-${i + 1}`] ?? 0)).join(' / ') : '-',
        x.timers ? f1(x.timers.allFiredS) : '-',
        x.effects ? String(x.effects.outbox.done ?? 0) : '-',
        x.effects ? String(x.effects.duplicatePosts) : '-',
        x.effects ? String(x.effects.duplicateReplies) : '-',
        x.effects ? String(x.effects.uncertain) : '-',
        x.effects ? String(x.effects.outbox.dead ?? 0) : '-',
      ]),
    ),
  );
  lines.push(
    `("one outcome": requests with exactly the planned votes, one per person, the planned status, one approval.approved audit entry and one DM to the requester when approved, and ` +
      `four card copies all showing it; burst: ${s.burstRequests} requests, each approver clicking twice and Slack retrying the first click, all sent at once; timers: ${s.timers} approval.expire timers ` +
      `of staging deploys made due at once; "effects": outbox effects done; "dup posts": effect ids posted twice, from the message metadata of applied chat.postMessage calls)`,
  );
  lines.push('');
  lines.push(
    `rate budget: ${s.limiterRequests} production deploys and their ${s.limiterRequests * VOTES} votes (${s.limiterClickRate} clicks/s) with MUSTER_SLACK_PACING=${s.limiterScale}, the fake enforcing Slack's tiers ×${s.limiterScale} with Muster's bursts + ${HEADROOM} (tiersFor):`,
  );
  const methods = [...new Set(r.rows.flatMap((x) => Object.keys(x.limiter?.calls ?? {})))].filter((m) => m !== 'auth.test').sort();
  lines.push(
    ...table(
      ['replicas', 'Slack calls', '429s', '429 share', ...methods.map((m) => `${m} calls/429`), 'chat.update most in 5 s', 'outbox idle +s', 'rate_buckets rows'],
      r.rows.map((x) => {
        const l = x.limiter;
        if (!l) return [String(x.replicas), '-', '-', '-', ...methods.map(() => '-'), '-', '-', '-'];
        return [
          String(x.replicas),
          String(l.totalCalls),
          String(l.total429),
          `${((l.total429 / Math.max(1, l.totalCalls)) * 100).toFixed(1)} %`,
          ...methods.map((m) => `${l.calls[m] ?? 0}/${l.rateLimited[m] ?? 0}`),
          String(l.updatePeak5s),
          f1(l.spanS),
          String(l.sharedBuckets),
        ];
      }),
    ),
  );
  const lim = r.rows.find((x) => x.limiter)?.limiter;
  if (lim)
    lines.push(
      `("chat.update most in 5 s": the most chat.update calls the fake applied within any 5 s; Muster's budget for all replicas together allows ${f1(lim.updateBudget5s)} (its burst of 5 + 90 % of ` +
        `${f1((50 * s.limiterScale) / 60)}/s × 5 s), the fake ${f1(lim.updateFakeAllows5s)})`,
    );
  lines.push(`budget: ${r.sharedLimiter.note}`);
  for (const x of r.rows) if (x.limiter?.samples429.length) lines.push(`  429s with ${x.replicas} replica(s), e.g.: ${x.limiter.samples429.join('; ')}`);
  if (r.failures.length) {
    lines.push('');
    lines.push(`FAIL:\n${r.failures.map((x) => `  - ${x}`).join('\n')}`);
  }
  const notes = r.rows.flatMap((x) => x.notes);
  if (notes.length) {
    lines.push('');
    lines.push(
      'not answered in time: Slack wants an answer within 3 s (https://api.slack.com/interactivity/handling#acknowledgment_response) and Bolt answers 404 when ' +
        `the listener has not acked by then, while the listener goes on (the checks above count its vote):\n${notes.map((x) => `  - ${x}`).join('\n')}`,
    );
  }
  for (const x of r.rows)
    if (x.createRetries) lines.push(`${x.replicas} replicas: ${x.createRetries} /approval deploy command(s) asked again (not answered 200 within Slack's 3 s, no card: a busy machine)`);
  for (const x of r.rows) if (x.warnLines) lines.push(`${x.replicas} replicas logged ${x.warnLines} line(s) at warn or above, e.g.\n${x.warnSamples.map((w) => `  | ${w}`).join('\n')}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/**
 * Runs the bench. `musterRoot` (default BENCH_MUSTER_ROOT, else this checkout) is the checkout whose `src/main.ts` the
 * replicas run, e.g. an export of an older commit (`git archive <commit> | tar -x -C <dir>`, with node_modules and
 * src/store/generated from this checkout) to compare its figures with today's.
 */
export async function runReplicaBench(o: { quick: boolean; log: (s: string) => void; sizes?: Partial<ReplicaSizes>; musterRoot?: string }): Promise<ReplicaBenchResult> {
  const sizes: ReplicaSizes = { ...(o.quick ? QUICK : FULL), ...o.sizes };
  const cpus = os.cpus();
  const busy = await cpuBusy(500);
  const machine = {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    loadAvgStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    loadAvgEnd: [] as number[],
    cpuBusyBeforePct: busy,
  };
  const musterRoot = resolve(o.musterRoot ?? process.env.BENCH_MUSTER_ROOT ?? root);
  const sharedLimiter = sharedLimiterState(musterRoot);
  const base = { quick: o.quick, sizes, rows: [] as ReplicaRow[], sharedLimiter, machine, failures: [] as string[] };
  const problem = await postgresProblem();
  if (problem) {
    o.log(`replicas: skipped — ${problem}`);
    const r = { ...base, skipped: problem };
    return { ...r, text: report(r) };
  }
  const tmp = mkdtempSync(join(os.tmpdir(), 'muster-replicas-'));
  const logDir = join(root, 'bench', 'results', 'logs');
  mkdirSync(logDir, { recursive: true });
  const baseEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [
    'SLACK_APP_TOKEN',
    'MUSTER_CONFIG',
    'MUSTER_INSTANCE_ID',
    'SLACK_BOT_TOKEN',
    'SLACK_SIGNING_SECRET',
    'DATABASE_URL',
    'MUSTER_AUDIT_PREVIOUS_KEYS',
    'MUSTER_AUDIT_CHECKPOINT_FILE',
    'MUSTER_SLACK_PACING',
  ]) {
    delete baseEnv[k];
  }
  baseEnv.LOG_LEVEL = 'info';
  try {
    for (const n of sizes.counts) {
      o.log(`replicas: ${n} …`);
      const row = await runCount(n, sizes, { log: o.log, tmp, logDir, baseEnv, musterRoot });
      base.rows.push(row);
      base.failures.push(...row.failures);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  machine.loadAvgEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  return { ...base, text: report(base) };
}

/** Last resort (Ctrl-C, crash): kill whatever replicas are still running. */
function killAll(): void {
  for (const c of activeChildren) {
    if (!c.exitInfo) {
      try {
        c.proc.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  // --replicas=1,3 runs only those counts (while developing)
  const only = process.argv.find((a) => a.startsWith('--replicas='));
  // --sizes='{"timers":0}' overrides sizes (a phase whose size is 0 is skipped)
  const sizesArg = process.argv.find((a) => a.startsWith('--sizes='));
  const extra = sizesArg ? (JSON.parse(sizesArg.slice('--sizes='.length)) as Partial<ReplicaSizes>) : {};
  const counts = only
    ?.slice('--replicas='.length)
    .split(',')
    .map(Number)
    .filter((x) => Number.isInteger(x) && x > 0);
  process.on('SIGINT', () => {
    killAll();
    process.exit(130);
  });
  const t0 = performance.now();
  runReplicaBench({ quick, log: (s) => console.log(s), sizes: { ...extra, ...(counts?.length ? { counts } : {}) } }).then(
    (r) => {
      console.log('');
      console.log(r.text);
      console.log(`\n${r.skipped ? 'SKIPPED' : r.failures.length ? 'FAIL' : 'PASS'} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
      process.exit(r.failures.length ? 1 : 0);
    },
    (e: unknown) => {
      console.error(`replicas: crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      killAll();
      process.exit(1);
    },
  );
}
