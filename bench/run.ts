/**
 * `npm run bench`: ack latency of `/muster whoami` through Muster (full stack: Bolt, signature
 * check, actor lookup on SQLite, reply blocks) against a bare Bolt app that only acks.
 *
 *  - a FakeSlack (test/support/fakeSlack.ts) in this process answers Muster's auth.test;
 *  - Muster runs as its own process (`node dist/main.js`, compiled by scripts/build.mjs as `npm start` does) on a fresh SQLite file;
 *  - the bare Bolt baseline (bench/bare-bolt.ts) runs as another process;
 *  - this process sends signed slash commands open-loop at a fixed rate to one target at a time.
 *
 * Then the "war room set-up" section (bench/warroom.ts): `/incident declare P1 …` against a FakeSlack
 * whose every call takes 50 ms, timed until the whole war room exists, against the shortest chain of
 * dependent Slack calls; it runs its own FakeSlack and Muster process.
 *
 * Then the "approval clicks" section (bench/approval-clicks.ts): signed Approve clicks (block_actions) on
 * production-deploy cards, every click a real vote, open loop against its own Muster (fresh SQLite, no
 * Slack latency) and against the bare Bolt app; a step-up for the highest click rate at which the acks
 * keep p99 under a limit, and the highest at which every card copy shows its final state within 2 s of
 * the last click; the votes counted in the database afterwards.
 *
 * Then the "change votes" section (bench/change-clicks.ts): the same measurement for CAB votes on normal
 * change requests (CHG-n), raised through `/change new normal` and the submitted change form, against its
 * own Muster (fresh SQLite, a policy with changes.enforcedIn: [] and the default CAB: quorum 3 of 4 seats);
 * signed Approve clicks from CAB members open loop, every click a vote and one of each change's three deciding it;
 * a step-up for the highest rate at which the acks hold and at which every card copy is current; the votes
 * and approvals checked in the database afterwards.
 *
 * BENCH_DB (default "sqlite,postgresql"; with --quick the approval clicks run on the first only, unless BENCH_DB is
 * set) picks the databases the war-room and approval-click sections run on, each
 * run on a fresh database: a SQLite file, or a PostgreSQL database made with CREATE DATABASE on MUSTER_TEST_PG_URL
 * (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards (bench/db.ts). When PostgreSQL is not
 * reachable its runs are skipped with a line saying so.
 *
 * Then the "burst under real limits" section (bench/burst.ts): a burst of Approve clicks on cards with 5 copies each
 * against a FakeSlack that enforces Slack's rate tiers, Muster pacing itself; the time until every copy is final
 * against chat.update's floor, Slack calls per click by method, 429s.
 *
 * Then the cost tables (bench/cost.ts), the replicas behind a round-robin proxy (bench/replicas.ts), and last the
 * "soak" section (bench/soak.ts): ten minutes of steady traffic against one Muster process, its memory sampled
 * throughout; the peak and the trend over the second half (BENCH_SOAK_MINUTES, BENCH_SOAK_RATE, BENCH_SOAK_DB).
 *
 * The run ends with one summary table (bench/summary.ts): every figure, its baseline from the same run, the ratio
 * and issue 13's goal. `npm run bench -- --quick` runs every section at small sizes and short phases (about two
 * minutes; for a CI smoke run, its figures are rough).
 *
 * BENCH_ONLY runs some sections alone: a comma list of section names or parts of them (whoami, war room,
 * approval clicks, change votes, burst, cost, replicas, soak), e.g. BENCH_ONLY=change or BENCH_ONLY=approval,change; unset: every
 * section, in that order.
 *
 * Every child runs at Muster's production log level, LOG_LEVEL=info, writing to its own file under
 * bench/results/logs/ (not the terminal). The Muster children run with MUSTER_SLACK_PACING=off by
 * default: the fakes answer at once and enforce no rate tiers, so the figures are what one process
 * can do, not Slack's limits (with pacing on, chat.update's tier — about 45 a minute per workspace —
 * would be all the click section measured).
 *
 * Env: BENCH_RATE (req/s, default 200), BENCH_SECONDS (default 10), BENCH_WARMUP (s, default 1),
 * BENCH_WARROOMS (declarations timed, default 10), BENCH_WARROOM_QUIET (s of quiet before one more declaration,
 * reported apart; default 12, 0 with --quick), BENCH_WARROOM_SLOW (optional per-method latency for
 * the war-room fake, e.g. "conversations.invite:300", to see which calls wait for a slow one),
 * BENCH_CLICK_RATE (clicks/s, default 100), BENCH_CLICK_SECONDS (default 10), BENCH_CLICK_STEPS
 * (default "10,20,40,60,80,100,150,200,300,400"), BENCH_CLICK_STEP_SECONDS (default 5),
 * BENCH_CLICK_MAX_P99 (ms, default 500), BENCH_CARDS_MAX_LAG (ms from the last click until every card
 * copy is final, default 2000), BENCH_CLICK_REFINE (bisecting steps per criterion after its first
 * failing step, default 1), BENCH_CHANGE_RATE (CAB clicks/s of the change-vote section, default 10),
 * BENCH_CHANGE_SECONDS (default 10), BENCH_CHANGE_STEPS (default "10,20,40,60,80,100,150,200"),
 * BENCH_CHANGE_STEP_SECONDS (default 5) — the change-vote section shares BENCH_WARMUP,
 * BENCH_CLICK_MAX_P99, BENCH_CARDS_MAX_LAG and BENCH_CLICK_REFINE with the approval clicks —,
 * BENCH_ONLY (see above), BENCH_SLACK_PACING (MUSTER_SLACK_PACING of the Muster children: off
 * (default), on, or a scale).
 * Prints tables and writes bench/results/latest.json. Exits 1 when a target's error rate is above
 * 1 %, a child fails to start or dies, Muster does not exit 0 within 10 s of SIGTERM, a war room
 * is not complete within 10 s, a measured approval click was not exactly one vote, or a card copy
 * never showed its request's final state; in the change-vote section, when a click was not the planned
 * vote, a card copy never showed its change's final state, or the database does not hold exactly one vote
 * per click and the planned number of approved changes.
 */
import http from 'node:http';
import os from 'node:os';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { FakeSlack, GENERAL_CHANNEL_ID, TEAM_ID } from '../test/support/fakeSlack.ts';
import { FORM_CONTENT_TYPE, nowSeconds, sign, slashCommand } from '../test/support/slackRequests.ts';
import { runPhase, summarize, type LoadTarget, type Summary } from './load.ts';
import { runWarRoomBench, summarizeWarRoom } from './warroom.ts';
import { cpuBusy, runApprovalClickBench, summarizeApprovalClicks } from './approval-clicks.ts';
import { runChangeVoteBench, summarizeChangeVotes } from './change-clicks.ts';
import { describeBurst, runBurstBench, type BurstResult } from './burst.ts';
import { summaryRows, summaryTable, type SummaryRow } from './summary.ts';
import { formatSection, runCostBench, type CostFigures } from './cost.ts';
import { runReplicaBench, type ReplicaBenchResult } from './replicas.ts';
import { describeSoak, runSoakBench, soakMinutes, type SoakResult } from './soak.ts';
import { dbsFromEnv, postgresProblem, type BenchDb } from './db.ts';
import { describeMachineSpeed, machineSpeed } from './machine.ts';
import {
  describeExit,
  dumpOutput,
  freePort,
  indentTail,
  logMark,
  logSince,
  killNow,
  memoryOf,
  startChild,
  BENCH_AUDIT_KEY,
  stopChild,
  waitForHttp200,
  waitForLine,
  type Child,
  type Memory,
  type StopResult,
  musterMain,
  bareBoltMain,
  startFlags,
  musterNodeArgs,
} from './proc.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function numberFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) {
    console.error(`bench: ${name}=${raw} is not a number >= ${min}`);
    process.exit(2);
  }
  return n;
}

/** `npm run bench -- --quick`: every section at small sizes and short phases, in about two minutes (a CI smoke run; its figures are rough). */
const QUICK = process.argv.includes('--quick');
const q = <T>(full: T, quick: T): T => (QUICK ? quick : full);
const RATE = numberFromEnv('BENCH_RATE', 200, 0.1);
const SECONDS = numberFromEnv('BENCH_SECONDS', q(10, 2), 0.1);
const WARMUP = numberFromEnv('BENCH_WARMUP', q(1, 0.5), 0);
const WARROOMS = Math.round(numberFromEnv('BENCH_WARROOMS', q(10, 3), 1));
/** s of quiet before one more declaration, reported apart (BENCH_WARROOM_QUIET; 0: none; --quick: none) */
const WARROOM_QUIET_MS = numberFromEnv('BENCH_WARROOM_QUIET', q(12, 0), 0) * 1000;
const WARROOM_LATENCY_MS = 50;
const WARROOM_TIMEOUT_MS = 10_000;
const WARROOM_POLL_MS = 2;
const WARROOM_ROUND_GAP_MS = 25;
const WARROOM_SLOW = slowFromEnv('BENCH_WARROOM_SLOW');

function slowFromEnv(name: string): Record<string, number> {
  const raw = process.env[name]?.trim();
  const out: Record<string, number> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const m = /^\s*([\w.]+):(\d+)\s*$/.exec(part);
    if (!m) {
      console.error(`bench: ${name}=${raw}: expected method:ms[,method:ms…], e.g. conversations.invite:300`);
      process.exit(2);
    }
    out[m[1]!] = Number(m[2]);
  }
  return out;
}
function ratesFromEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const rates = raw.split(',').map((x) => Number(x.trim()));
  if (rates.some((n) => !Number.isFinite(n) || n <= 0)) {
    console.error(`bench: ${name}=${raw}: expected rates in clicks/s, e.g. 50,100,200,400`);
    process.exit(2);
  }
  return [...new Set(rates)].sort((a, b) => a - b);
}
const CLICK_RATE = numberFromEnv('BENCH_CLICK_RATE', 100, 0.1);
const CLICK_SECONDS = numberFromEnv('BENCH_CLICK_SECONDS', q(10, 2), 0.1);
// --quick: one step, at the measured phase's rate and length, so the measured phase is that step (not run twice)
const CLICK_STEPS = ratesFromEnv('BENCH_CLICK_STEPS', q([10, 20, 40, 60, 80, 100, 150, 200, 300, 400], [CLICK_RATE]));
const CLICK_STEP_SECONDS = numberFromEnv('BENCH_CLICK_STEP_SECONDS', q(5, CLICK_SECONDS), 0.1);
// Issue 13's goal: 300 clicks/s with p99 under 100 ms.
const CLICK_MAX_P99_MS = numberFromEnv('BENCH_CLICK_MAX_P99', 100, 1);
const CARDS_MAX_LAG_MS = numberFromEnv('BENCH_CARDS_MAX_LAG', 2_000, 1);
const CLICK_REFINE = Math.round(numberFromEnv('BENCH_CLICK_REFINE', q(1, 0), 0));
const SLACK_PACING = (process.env.BENCH_SLACK_PACING ?? '').trim() || 'off';
const CHANGE_RATE = numberFromEnv('BENCH_CHANGE_RATE', 10, 0.1);
const CHANGE_SECONDS = numberFromEnv('BENCH_CHANGE_SECONDS', q(10, 2), 0.1);
const CHANGE_STEPS = ratesFromEnv('BENCH_CHANGE_STEPS', q([10, 20, 40, 60, 80, 100, 150, 200], [CHANGE_RATE]));
const CHANGE_STEP_SECONDS = numberFromEnv('BENCH_CHANGE_STEP_SECONDS', q(5, CHANGE_SECONDS), 0.1);

/** The sections, in the order they run; BENCH_ONLY picks some of them. */
const SECTIONS = ['whoami', 'war room', 'approval clicks', 'change votes', 'burst', 'cost', 'replicas', 'soak'] as const;
type Section = (typeof SECTIONS)[number];
function sectionsFromEnv(name: string): Set<Section> {
  const raw = process.env[name]?.trim();
  if (!raw) return new Set(SECTIONS);
  const norm = (x: string) => x.toLowerCase().replace(/[^a-z0-9]/g, '');
  const picked = new Set<Section>();
  for (const token of raw.split(',').map(norm).filter(Boolean)) {
    const hits = SECTIONS.filter((sec) => norm(sec).includes(token));
    if (hits.length === 0) {
      console.error(`bench: ${name}=${raw}: "${token}" names no section; the sections are ${SECTIONS.join(', ')}`);
      process.exit(2);
    }
    for (const h of hits) picked.add(h);
  }
  if (picked.size === 0) {
    console.error(`bench: ${name}=${raw}: no section named; the sections are ${SECTIONS.join(', ')}`);
    process.exit(2);
  }
  return picked;
}
const ONLY = sectionsFromEnv('BENCH_ONLY');
/** the databases the war-room and approval-click sections run on (BENCH_DB) */
const DBS: BenchDb[] = (() => {
  try {
    return dbsFromEnv(process.env.BENCH_DB);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    process.exit(2);
  }
})();
const runs = (section: Section) => ONLY.has(section);
/** where the children's logs go (overwritten by each run) */
const LOG_DIR = join(root, 'bench', 'results', 'logs');
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
/** the most the click section can take: set-up, clicks and outbox drain for every phase (a safety net) */
const CLICK_BUDGET_MS =
  120_000 +
  [
    [CLICK_RATE, WARMUP],
    [CLICK_RATE, CLICK_SECONDS],
    ...CLICK_STEPS.map((r) => [r, CLICK_STEP_SECONDS]),
    // refining steps: up to CLICK_REFINE for each of the two criteria (acks, cards)
    ...Array.from({ length: 2 * CLICK_REFINE }, () => [Math.max(...CLICK_STEPS), CLICK_STEP_SECONDS]),
  ].reduce((ms, [rate, s]) => ms + 2 * s! * 1000 + 2 * 15_000 + Math.round(rate! * s!) * 70, 0);
/** the same for the change-vote section, whose set-up raises a change (two requests) per three clicks */
const CHANGE_BUDGET_MS =
  120_000 +
  [
    [CHANGE_RATE, WARMUP],
    [CHANGE_RATE, CHANGE_SECONDS],
    ...CHANGE_STEPS.map((r) => [r, CHANGE_STEP_SECONDS]),
    ...Array.from({ length: 2 * CLICK_REFINE }, () => [Math.max(...CHANGE_STEPS), CHANGE_STEP_SECONDS]),
  ].reduce((ms, [rate, s]) => ms + 2 * s! * 1000 + 2 * 15_000 + Math.round(rate! * s!) * 130, 0);
const MAX_SOCKETS = 64;
const REQUEST_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 30_000;
const SHUTDOWN_LIMIT_MS = 10_000;
const MAX_ERROR_RATE = 0.01;
/** ~2 minutes for the default run; longer runs get their measuring time on top (the sections that run). */
const RUN_TIMEOUT_MS =
  Math.max(120_000, (60 + 2 * (SECONDS + WARMUP)) * 1000) +
  45_000 +
  WARROOMS * 2_000 * DBS.length +
  (runs('approval clicks') ? CLICK_BUDGET_MS * DBS.length : 0) +
  (runs('change votes') ? CHANGE_BUDGET_MS : 0) +
  // the burst: set-up within the tiers, then chat.update's floor a few times over (bench/burst.ts waits that long at most)
  (runs('burst') ? q(30, 6) * 60_000 : 0) +
  (runs('cost') ? q(40, 5) * 60_000 : 0) +
  (runs('replicas') ? q(40, 5) * 60_000 : 0) +
  // the soak's traffic, then its outbox quiet (2 minutes at most) and its set-up
  (runs('soak') ? (soakMinutes(QUICK) + 4) * 60_000 : 0);

const SECRET = `bench-${randomBytes(12).toString('hex')}`;
const BOT_TOKEN = 'xoxb-bench';
const USER_ID = 'UBENCH';
const COMMAND_TEXT = 'whoami';

// ---------------------------------------------------------------------------
// State shared with the emergency cleanup (run timeout, Ctrl-C)
// ---------------------------------------------------------------------------

let fake: FakeSlack | undefined;
let tmp: string | undefined;
let muster: Child | undefined;
let bare: Child | undefined;
let warMuster: Child | undefined;
let clickMuster: Child | undefined;
let clickBare: Child | undefined;
let changeMuster: Child | undefined;
let burstMuster: Child | undefined;
let soakMuster: Child | undefined;

function emergencyExit(reason: string, code: number): never {
  console.error(`\nbench: ${reason}`);
  for (const c of [muster, bare, warMuster, clickMuster, clickBare, changeMuster, burstMuster, soakMuster]) {
    if (!c) continue;
    console.error(`\n${describeExit(c)}; its last output:\n${dumpOutput(c)}`);
    killNow(c);
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  process.exit(code);
}

const runTimer = setTimeout(() => emergencyExit(`the whole run took longer than ${Math.round(RUN_TIMEOUT_MS / 1000)} s; aborted`, 1), RUN_TIMEOUT_MS);
runTimer.unref();
process.on('SIGINT', () => emergencyExit('interrupted', 130));

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

const f1 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(1));
const f2 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(2));
const r3 = (n: number) => (Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------

function slashTarget(name: string, port: number, check: LoadTarget['check']): LoadTarget {
  return {
    name,
    host: '127.0.0.1',
    port,
    path: '/slack/events',
    build(i) {
      const { body } = slashCommand({
        command: '/muster',
        text: COMMAND_TEXT,
        userId: USER_ID,
        userName: 'bench',
        teamId: TEAM_ID,
        channelId: GENERAL_CHANNEL_ID,
        responseUrl: fake!.responseUrl(`bench-${name}-${i}`),
      });
      // fresh trigger_id (slashCommand makes one), timestamp and signature per request
      const headers = sign(SECRET, body, nowSeconds(), FORM_CONTENT_TYPE);
      return { body, headers: { ...headers } };
    },
    check,
  };
}

function jsonText(status: number, body: string): { text?: string; error?: string } {
  if (status !== 200) return { error: `HTTP ${status}: ${body.slice(0, 120)}` };
  try {
    const j = JSON.parse(body) as { text?: unknown };
    return typeof j.text === 'string' ? { text: j.text } : { error: `no text in ${body.slice(0, 120)}` };
  } catch {
    return { error: `not JSON: ${body.slice(0, 120)}` };
  }
}

const checkMuster: LoadTarget['check'] = (status, body) => {
  const r = jsonText(status, body);
  if (r.error !== undefined) return r.error;
  return r.text!.includes(`<@${USER_ID}>`) ? null : `reply does not mention <@${USER_ID}>: ${r.text!.slice(0, 120)}`;
};

const checkBare: LoadTarget['check'] = (status, body) => {
  const r = jsonText(status, body);
  if (r.error !== undefined) return r.error;
  return r.text === 'ok' ? null : `unexpected text: ${r.text!.slice(0, 120)}`;
};

function stopText(st: StopResult | undefined): string {
  if (!st) return '-';
  const how = st.signal ? `signal ${st.signal}` : `code ${st.code}`;
  if (st.alreadyExited) return `had already exited (${how})`;
  if (!st.graceful) return `KILLED after ${st.ms.toFixed(0)} ms`;
  return `${how} in ${st.ms.toFixed(0)} ms`;
}

interface TargetResult {
  label: string;
  summary: Summary;
  warmup: { sent: number; errors: number };
  memoryIdle?: Memory;
  memoryAfter?: Memory;
  readyMs: number;
  stop?: StopResult;
  died?: string;
}

async function bench(label: string, child: Child, target: LoadTarget): Promise<TargetResult['summary'] & { warmup: TargetResult['warmup'] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, timeout: 4_000 });
  try {
    process.stdout.write(`  ${label}: warm-up ${WARMUP} s … `);
    const warm = WARMUP > 0 ? await runPhase(target, { rate: RATE, seconds: WARMUP, agent, timeoutMs: REQUEST_TIMEOUT_MS, firstIndex: 0 }) : undefined;
    if (child.exitInfo) throw new Error(`${describeExit(child)} during the warm-up`);
    process.stdout.write(`measuring ${SECONDS} s at ${RATE} req/s … `);
    const run = await runPhase(target, { rate: RATE, seconds: SECONDS, agent, timeoutMs: REQUEST_TIMEOUT_MS, firstIndex: 1_000_000 });
    if (child.exitInfo) throw new Error(`${describeExit(child)} during the run`);
    const s = summarize(run);
    process.stdout.write(`done (${s.ok}/${s.sent} ok)\n`);
    return { ...s, warmup: { sent: warm?.sent ?? 0, errors: warm?.errors ?? 0 } };
  } finally {
    agent.destroy();
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

/** bench/results/.gitignore keeps the run's output (latest.json, logs/) out of git. */
function ensureIgnored(): void {
  const file = join(root, 'bench', 'results', '.gitignore');
  const have = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const missing = ['latest.json', 'logs/'].filter((x) => !have.split('\n').includes(x));
  if (missing.length) writeFileSync(file, `${have}${have && !have.endsWith('\n') ? '\n' : ''}${missing.join('\n')}\n`);
}

/**
 * Wall time of each section, printed when it ends and kept in latest.json (`sectionSeconds`): `--quick` is meant to
 * take under two minutes, and this says which section to trim when it does not.
 */
const sectionSeconds: Record<string, number> = {};
let openSection: { title: string; t0: number } | undefined;
function endSection(): void {
  if (!openSection) return;
  const s = (performance.now() - openSection.t0) / 1000;
  sectionSeconds[openSection.title] = Math.round(s * 10) / 10;
  console.log(`(${openSection.title}: ${s.toFixed(1)} s)`);
  openSection = undefined;
}
function beginSection(title: string): void {
  endSection();
  console.log(`\n== ${title} ==`);
  openSection = { title, t0: performance.now() };
}

async function main(): Promise<number> {
  const busyBefore = await cpuBusy(q(1_000, 300));
  const cpus = os.cpus();
  const machine = {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemMb: Math.round(os.totalmem() / 1024 / 1024),
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    cpuBusyBeforeStartPct: Math.round(busyBefore * 10) / 10,
  };
  if (runs('whoami')) console.log(`Muster benchmark: "/muster ${COMMAND_TEXT}" ack latency, open loop ${RATE} req/s for ${SECONDS} s (+${WARMUP} s warm-up) per target`);
  if (ONLY.size < SECTIONS.length) console.log(`Muster benchmark: ${[...ONLY].join(', ')} only (BENCH_ONLY=${process.env.BENCH_ONLY?.trim()})`);
  console.log(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), node ${machine.node}, ${machine.platform}, ${machine.totalMemMb} MB RAM`);
  console.log(`CPU busy in the second before the run: ${machine.cpuBusyBeforeStartPct.toFixed(1)} % (load average ${machine.loadAvgAtStart.join(' / ')})`);
  console.log(
    `every child: LOG_LEVEL=${LOG_LEVEL}, output to bench/results/logs/; Muster children: MUSTER_SLACK_PACING=${SLACK_PACING}, node ${[...startFlags(root), ...musterNodeArgs()].join(' ') || '(no flags)'} dist/main.js`,
  );
  if (busyBefore > 15) console.log('note: something else is using the CPUs: figures will be noisy and slower than on a quiet machine');

  const failures: string[] = [];
  tmp = mkdtempSync(join(os.tmpdir(), 'muster-bench-'));
  const startedAt = performance.now();
  const speed = await machineSpeed({ dir: tmp, postgresql: DBS.includes('postgresql') });
  console.log(describeMachineSpeed(speed));
  sectionSeconds['machine probe'] = Math.round((performance.now() - startedAt) / 100) / 10;
  console.log('');
  fake = await FakeSlack.start();
  fake.addUser({ id: USER_ID, name: 'bench' });

  const baseEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['SLACK_APP_TOKEN', 'MUSTER_CONFIG', 'MUSTER_INSTANCE_ID', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'DATABASE_URL', 'MUSTER_AUDIT_PREVIOUS_KEYS', 'MUSTER_AUDIT_CHECKPOINT_FILE']) {
    delete baseEnv[k];
  }
  // Every child (Muster and bare Bolt, in every section) logs at the production default; the output goes to LOG_DIR.
  baseEnv.LOG_LEVEL = LOG_LEVEL;
  // The fakes answer at once with no rate tiers: measure the process, not Muster's pacing against Slack's tiers.
  baseEnv.MUSTER_SLACK_PACING = SLACK_PACING;
  mkdirSync(LOG_DIR, { recursive: true });
  ensureIgnored();

  const results: { muster?: TargetResult; bare?: TargetResult } = {};
  let m: TargetResult | undefined;
  let b: TargetResult | undefined;
  let musterLog: { lines: number; warnPlus: string[] } | undefined;
  const warSummaries: Partial<Record<BenchDb, ReturnType<typeof summarizeWarRoom>>> = {};
  const clickSummaries: Partial<Record<BenchDb, ReturnType<typeof summarizeApprovalClicks>>> = {};
  let changeSummary: ReturnType<typeof summarizeChangeVotes> | undefined;
  try {
    if (runs('whoami')) {
      // (no heading: this section's lines open the run)
      openSection = { title: 'whoami', t0: performance.now() };
      // --- start both children (one after the other) ---
      const musterPort = await freePort();
      let t0 = performance.now();
      muster = startChild('muster', musterMain(root), {
        cwd: root,
        env: {
          ...baseEnv,
          PORT: String(musterPort),
          SLACK_BOT_TOKEN: BOT_TOKEN,
          SLACK_SIGNING_SECRET: SECRET,
          SLACK_API_URL: fake.url,
          DATABASE_URL: `file:${join(tmp, 'bench.db')}`,
          MUSTER_ADMINS: USER_ID,
          MUSTER_AUDIT_KEY: BENCH_AUDIT_KEY,
        },
        logFile: join(LOG_DIR, 'whoami-muster.log'),
      });
      try {
        await waitForHttp200(muster, `http://127.0.0.1:${musterPort}/readyz`, START_TIMEOUT_MS);
      } catch (e) {
        console.error(`bench: Muster failed to start: ${(e as Error).message}\n${dumpOutput(muster)}`);
        return 1;
      }
      const musterReadyMs = performance.now() - t0;
      console.log(`  muster    pid ${muster.pid} on :${musterPort}, /readyz 200 after ${musterReadyMs.toFixed(0)} ms (fresh SQLite, migrations included)`);

      const barePort = await freePort();
      t0 = performance.now();
      bare = startChild('bare-bolt', bareBoltMain(root), {
        cwd: root,
        env: { ...baseEnv, PORT: String(barePort), SLACK_SIGNING_SECRET: SECRET },
        logFile: join(LOG_DIR, 'whoami-bare-bolt.log'),
      });
      try {
        await waitForLine(bare, /^READY (\d+)/, START_TIMEOUT_MS);
      } catch (e) {
        console.error(`bench: bare Bolt failed to start: ${(e as Error).message}\n${dumpOutput(bare)}`);
        return 1;
      }
      const bareReadyMs = performance.now() - t0;
      console.log(`  bare bolt pid ${bare.pid} on :${barePort}, listening after ${bareReadyMs.toFixed(0)} ms\n`);

      // let both settle (JIT of start-up code, GC) before taking idle memory
      await new Promise((r) => setTimeout(r, 500));
      const musterIdle = memoryOf(muster.pid);
      const bareIdle = memoryOf(bare.pid);
      const musterLogMark = logMark(muster);

      // --- load, one target at a time ---
      const targets: Array<{ key: 'muster' | 'bare'; label: string; child: Child; target: LoadTarget; readyMs: number; idle?: Memory }> = [
        { key: 'muster', label: 'muster', child: muster, target: slashTarget('muster', musterPort, checkMuster), readyMs: musterReadyMs, idle: musterIdle },
        { key: 'bare', label: 'bare bolt', child: bare, target: slashTarget('bare', barePort, checkBare), readyMs: bareReadyMs, idle: bareIdle },
      ];
      for (const t of targets) {
        let s;
        try {
          s = await bench(t.label, t.child, t.target);
        } catch (e) {
          process.stdout.write('\n');
          console.error(`bench: ${(e as Error).message}\n${dumpOutput(t.child)}`);
          return 1;
        }
        for (const c of [muster, bare]) {
          if (c.exitInfo) {
            console.error(`bench: ${describeExit(c)} while ${t.label} was under load; its last output:\n${dumpOutput(c)}`);
            return 1;
          }
        }
        const { warmup, ...summary } = s;
        results[t.key] = { label: t.label, summary, warmup, memoryIdle: t.idle, memoryAfter: memoryOf(t.child.pid), readyMs: t.readyMs };
      }
      // --- graceful shutdown, one at a time, timed ---
      results.muster!.stop = await stopChild(muster, SHUTDOWN_LIMIT_MS);
      musterLog = logSince(muster, musterLogMark);
      results.bare!.stop = await stopChild(bare, SHUTDOWN_LIMIT_MS);

      // --- report ---
      m = results.muster!;
      b = results.bare!;
      console.log('');
      console.log(
        table(
          ['target', 'sent', 'errors', 'sent/s', 'ok/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean ms'],
          [m, b].map((r) => [
            r.label,
            String(r.summary.sent),
            String(r.summary.errors),
            f1(r.summary.sendRate),
            f1(r.summary.throughput),
            f2(r.summary.p50),
            f2(r.summary.p90),
            f2(r.summary.p99),
            f2(r.summary.max),
            f2(r.summary.mean),
          ]),
        ),
      );
      console.log(`\nMuster / bare Bolt:  p50 ×${f2(m.summary.p50 / b.summary.p50)}   p99 ×${f2(m.summary.p99 / b.summary.p99)}`);
      console.log(`client send lag (worst, due → sent): muster ${f2(m.summary.maxSendLagMs)} ms, bare ${f2(b.summary.maxSendLagMs)} ms`);
      console.log(`muster logged ${musterLog.lines} line(s) during the load and shutdown (${musterLog.warnPlus.length} at warn or above) to bench/results/logs/whoami-muster.log`);
      console.log('');
      console.log(
        table(
          ['process', 'RSS idle MB', 'RSS after load MB', 'peak RSS MB', 'ready ms', 'SIGTERM → exit'],
          [m, b].map((r) => [r.label, f1(r.memoryIdle?.rssMb), f1(r.memoryAfter?.rssMb), f1(r.memoryAfter?.peakMb), r.readyMs.toFixed(0), stopText(r.stop)]),
        ),
      );
    }

    // PostgreSQL runs of the war-room and click sections need a server: skipped, saying so, when there is none.
    const pgProblem = DBS.includes('postgresql') && (runs('war room') || runs('approval clicks')) ? await postgresProblem() : undefined;
    if (pgProblem) console.log(`\nPostgreSQL runs of the war-room and approval-click sections skipped: ${pgProblem}`);
    const sectionDbs = DBS.filter((d) => d !== 'postgresql' || !pgProblem);
    const onDb = (d: BenchDb) => (d === 'postgresql' ? ' (PostgreSQL)' : DBS.length > 1 ? ' (SQLite)' : '');

    // --- war room set-up ---
    for (const db of runs('war room') ? sectionDbs : []) {
      beginSection(`war room set-up${onDb(db)}`);
      const warBusy = await cpuBusy(q(500, 200));
      console.log(
        `"/incident declare P1 Bench incident <i>" ×${WARROOMS}, one at a time; every Slack call (Web API and response_url) answers after ${WARROOM_LATENCY_MS} ms` +
          `${
            Object.keys(WARROOM_SLOW).length
              ? ` (except ${Object.entries(WARROOM_SLOW)
                  .map(([k, v]) => `${k}: ${v} ms`)
                  .join(', ')})`
              : ''
          }; ` +
          `CPU busy just before: ${warBusy.toFixed(1)} %`,
      );
      const warOpts = {
        count: WARROOMS,
        quietMs: WARROOM_QUIET_MS,
        latencyMs: WARROOM_LATENCY_MS,
        methodLatencyMs: WARROOM_SLOW,
        timeoutMs: WARROOM_TIMEOUT_MS,
        pollMs: WARROOM_POLL_MS,
        roundGapMs: WARROOM_ROUND_GAP_MS,
      };
      const war = await runWarRoomBench({
        ...warOpts,
        db,
        root,
        tmp,
        baseEnv,
        logDir: LOG_DIR,
        secret: SECRET,
        botToken: BOT_TOKEN,
        startTimeoutMs: START_TIMEOUT_MS,
        shutdownLimitMs: SHUTDOWN_LIMIT_MS,
        onChild: (c) => {
          warMuster = c;
        },
      });
      const warSummary = summarizeWarRoom(war, warOpts, warBusy);
      warSummaries[db] = warSummary;
      console.log('');
      console.log(warSummary.text);
      failures.push(...war.failures);
      if (war.lastOutput) console.log(`\nwar-room muster logged ${war.musterLogLines} line(s) at warn or above; last output:\n${war.lastOutput}`);
    }

    // --- approval clicks ---
    // --quick (a two-minute smoke run) clicks on the first database only unless BENCH_DB names them: PostgreSQL still
    // runs the war room and every replica section; its click figures come from the full run.
    const clickDbs = QUICK && process.env.BENCH_DB === undefined ? sectionDbs.slice(0, 1) : sectionDbs;
    for (const db of runs('approval clicks') ? clickDbs : []) {
      beginSection(`approval clicks${onDb(db)}`);
      const clickBusy = await cpuBusy(q(500, 200));
      console.log(
        `signed Approve clicks (block_actions, a fresh trigger_id each) on production-deploy cards that need release_manager + cto + security_lead: ` +
          `click i is approver i mod 3 on request ⌊i/3⌋, so every click is a vote and every third decides its request; ` +
          `open loop ${CLICK_RATE} clicks/s for ${CLICK_SECONDS} s (+${WARMUP} s warm-up on requests of its own); FakeSlack answers at once, no rate tiers; CPU busy just before: ${clickBusy.toFixed(1)} %`,
      );
      const clickOpts = {
        rate: CLICK_RATE,
        seconds: CLICK_SECONDS,
        warmupSeconds: WARMUP,
        steps: CLICK_STEPS,
        stepSeconds: CLICK_STEP_SECONDS,
        maxP99Ms: CLICK_MAX_P99_MS,
        cardsMaxLagMs: CARDS_MAX_LAG_MS,
        refineSteps: CLICK_REFINE,
      };
      const clicks = await runApprovalClickBench({
        ...clickOpts,
        idleSeconds: q(6, 2),
        db,
        root,
        tmp,
        baseEnv,
        logDir: LOG_DIR,
        secret: SECRET,
        botToken: BOT_TOKEN,
        maxSockets: MAX_SOCKETS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        startTimeoutMs: START_TIMEOUT_MS,
        shutdownLimitMs: SHUTDOWN_LIMIT_MS,
        createConcurrency: 4,
        onChild: (name, c) => {
          if (name === 'muster') clickMuster = c;
          else clickBare = c;
        },
      });
      const clickSummary = summarizeApprovalClicks(clicks, clickOpts, { rate: RATE, muster: m?.summary, bare: b?.summary }, clickBusy);
      clickSummaries[db] = clickSummary;
      console.log('');
      console.log(clickSummary.text);
      failures.push(...clicks.failures, ...clickSummary.failures);
      if (clicks.muster.lastOutput) console.log(`\nclick muster logged ${clicks.muster.logLines} line(s) at warn or above; last output:\n${clicks.muster.lastOutput}`);
    }

    // --- change votes ---
    if (runs('change votes')) {
      beginSection('change votes');
      const changeBusy = await cpuBusy(q(500, 200));
      console.log(
        `signed Approve clicks (block_actions, a fresh trigger_id each) by CAB members on normal changes raised through /change new normal and the submitted form ` +
          `(changes.enforcedIn: [], default CAB: quorum 3, change manager required): each change gets the change manager's vote and two other seats' in turn, ` +
          `each member clicking the DM copy Muster sent them, so every click is a vote and one of each change's three decides it; open loop ${CHANGE_RATE} clicks/s for ${CHANGE_SECONDS} s ` +
          `(+${WARMUP} s warm-up on changes of its own); FakeSlack answers at once, no rate tiers; CPU busy just before: ${changeBusy.toFixed(1)} %`,
      );
      const changeOpts = {
        rate: CHANGE_RATE,
        seconds: CHANGE_SECONDS,
        warmupSeconds: WARMUP,
        steps: CHANGE_STEPS,
        stepSeconds: CHANGE_STEP_SECONDS,
        maxP99Ms: CLICK_MAX_P99_MS,
        cardsMaxLagMs: CARDS_MAX_LAG_MS,
        refineSteps: CLICK_REFINE,
      };
      const changes = await runChangeVoteBench({
        ...changeOpts,
        root,
        tmp,
        baseEnv,
        logDir: LOG_DIR,
        secret: SECRET,
        botToken: BOT_TOKEN,
        maxSockets: MAX_SOCKETS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        startTimeoutMs: START_TIMEOUT_MS,
        shutdownLimitMs: SHUTDOWN_LIMIT_MS,
        createConcurrency: 4,
        onChild: (c) => {
          changeMuster = c;
        },
      });
      changeSummary = summarizeChangeVotes(changes, changeOpts, changeBusy);
      console.log('');
      console.log(changeSummary.text);
      failures.push(...changes.failures, ...changeSummary.failures);
      if (changes.muster.lastOutput) console.log(`\nchange-vote muster logged ${changes.muster.logLines} line(s) at warn or above; last output:\n${changes.muster.lastOutput}`);
    }

    // --- burst under real limits ---
    let burst: BurstResult | undefined;
    if (runs('burst')) {
      beginSection('burst under real limits');
      console.log(
        `Approve clicks in a burst on production deploys whose cards have 5 copies (the channel, #approvals, 3 approvers' DMs), against a FakeSlack ` +
          `enforcing Slack's published rate tiers and Muster pacing itself (MUSTER_SLACK_PACING on)${QUICK ? '; quick: tiers and pacing ×20 faster, fewer requests' : ''}`,
      );
      burst = await runBurstBench({ quick: QUICK, root, tmp, logDir: LOG_DIR, baseEnv, secret: SECRET, botToken: BOT_TOKEN, log: (l) => console.log(l), onChild: (c) => (burstMuster = c) });
      console.log('');
      for (const l of describeBurst(burst)) console.log(l);
      failures.push(...burst.failures);
    }

    // --- cost as the work grows (1×, 10×, 100×) ---
    let cost: CostFigures | undefined;
    if (runs('cost')) {
      beginSection('cost as the work grows');
      cost = await runCostBench({ quick: QUICK, log: (l) => console.log(l), logDir: LOG_DIR });
      for (const sec of cost.sections) console.log(`\n${formatSection(sec)}`);
      failures.push(...cost.failures);
    }

    // --- replicas behind a round-robin proxy (PostgreSQL) ---
    let replicas: ReplicaBenchResult | undefined;
    if (runs('replicas')) {
      beginSection('replicas');
      replicas = await runReplicaBench({ quick: QUICK, log: (l) => console.log(l) });
      if (replicas.skipped) console.log(`skipped: ${replicas.skipped}`);
      else console.log(replicas.text);
      failures.push(...replicas.failures);
    }

    // --- soak: memory over minutes of steady traffic ---
    let soak: SoakResult | undefined;
    if (runs('soak')) {
      beginSection('soak');
      soak = await runSoakBench({ quick: QUICK, root, tmp, logDir: LOG_DIR, baseEnv, secret: SECRET, botToken: BOT_TOKEN, log: (l) => console.log(l), onChild: (c) => (soakMuster = c) });
      console.log('');
      for (const l of describeSoak(soak)) console.log(l);
      failures.push(...soak.failures);
    }

    endSection();
    const totalSeconds = Math.round((performance.now() - startedAt) / 100) / 10;
    console.log(
      `\nwall time: ${totalSeconds} s (${Object.entries(sectionSeconds)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    );

    // --- verdict ---
    if (m && b && musterLog) {
      for (const r of [m, b]) {
        if (r.summary.errorRate > MAX_ERROR_RATE) failures.push(`${r.label}: ${r.summary.errors}/${r.summary.sent} errors (${(r.summary.errorRate * 100).toFixed(1)} % > 1 %)`);
        if (r.summary.errors + r.warmup.errors > 0) {
          console.log(`\n${r.label} errors (warm-up ${r.warmup.errors}/${r.warmup.sent}, measured ${r.summary.errors}/${r.summary.sent}):`);
          for (const [kind, n] of Object.entries(r.summary.errorKinds)) console.log(`  ${n} × ${kind}`);
        }
      }
      const ms = m.stop!;
      if (!ms.graceful || ms.code !== 0) failures.push(`muster did not exit 0 within ${SHUTDOWN_LIMIT_MS / 1000} s of SIGTERM (${stopText(ms)})`);
      const bs = b.stop!;
      if (bs.alreadyExited) failures.push(`bare bolt ${stopText(bs)} before SIGTERM`);
      if (!ms.graceful || ms.code !== 0) {
        console.log(`\nmuster's last output:\n${dumpOutput(muster!, 3_000)}`);
      } else if (musterLog.warnPlus.length > 0) {
        console.log(`\nmuster logged ${musterLog.warnPlus.length} line(s) at warn or above during load/shutdown; the last ones:\n${indentTail(musterLog.warnPlus.join('\n'), 3_000)}`);
      }
    }

    // --- JSON ---
    const toJson = (r: TargetResult) => ({
      sent: r.summary.sent,
      ok: r.summary.ok,
      errors: r.summary.errors,
      errorRate: r3(r.summary.errorRate),
      errorKinds: r.summary.errorKinds,
      warmup: r.warmup,
      sendRatePerS: r3(r.summary.sendRate),
      throughputPerS: r3(r.summary.throughput),
      latencyMs: { p50: r3(r.summary.p50), p90: r3(r.summary.p90), p99: r3(r.summary.p99), max: r3(r.summary.max), mean: r3(r.summary.mean) },
      maxSendLagMs: r3(r.summary.maxSendLagMs),
      rssMb: {
        idle: r.memoryIdle ? r3(r.memoryIdle.rssMb) : null,
        afterLoad: r.memoryAfter ? r3(r.memoryAfter.rssMb) : null,
        peak: r.memoryAfter?.peakMb !== undefined ? r3(r.memoryAfter.peakMb) : null,
      },
      readyMs: r3(r.readyMs),
      shutdown: r.stop ? { ms: r3(r.stop.ms), code: r.stop.code, signal: r.stop.signal, graceful: r.stop.graceful, alreadyExited: r.stop.alreadyExited ?? false } : null,
    });
    const loadAvgAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
    console.log(`\nload average at the end: ${loadAvgAtEnd.join(' / ')} (at the start: ${machine.loadAvgAtStart.join(' / ')})`);
    const json = {
      at: new Date().toISOString(),
      command: `/muster ${COMMAND_TEXT}`,
      config: {
        rate: RATE,
        seconds: SECONDS,
        warmupSeconds: WARMUP,
        maxSockets: MAX_SOCKETS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        openLoop: true,
        logLevel: LOG_LEVEL,
        musterSlackPacing: SLACK_PACING,
        musterNodeFlags: [...startFlags(root), ...musterNodeArgs()],
      },
      machine: { ...machine, speed, loadAvgAtEnd },
      ...(ONLY.size < SECTIONS.length ? { sections: [...ONLY] } : {}),
      targets: m && b ? { muster: toJson(m), bareBolt: toJson(b) } : null,
      ratios: m && b ? { p50: r3(m.summary.p50 / b.summary.p50), p99: r3(m.summary.p99 / b.summary.p99) } : null,
      musterShutdownMs: m?.stop ? r3(m.stop.ms) : null,
      musterLog: musterLog ? { lines: musterLog.lines, warnPlus: musterLog.warnPlus.length } : null,
      warRoom: warSummaries.sqlite?.json ?? null,
      approvalClicks: clickSummaries.sqlite?.json ?? null,
      ...(warSummaries.postgresql ? { warRoomPostgresql: warSummaries.postgresql.json } : {}),
      ...(clickSummaries.postgresql ? { approvalClicksPostgresql: clickSummaries.postgresql.json } : {}),
      changeVotes: changeSummary?.json ?? null,
      burst: burst ?? null,
      cost: cost ? { ...cost, summary: costSummary(cost) } : null,
      replicas: replicas ? { ...replicas, text: undefined, summary: replicaSummary(replicas) } : null,
      soak: soak ?? null,
      quick: QUICK,
      sectionSeconds: { ...sectionSeconds, total: totalSeconds },
      pass: failures.length === 0,
      failures,
    };
    const rows = summaryRows(json as unknown as Record<string, unknown>);
    console.log(`\n== summary${QUICK ? ' (quick run: rough figures)' : ''} ==`);
    console.log(summaryTable(rows));
    (json as Record<string, unknown>).summary = rows;
    const dir = join(root, 'bench', 'results');
    writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\nwrote bench/results/latest.json`);

    if (failures.length) {
      console.log(`\nFAIL:\n${failures.map((x) => `  - ${x}`).join('\n')}`);
      return 1;
    }
    console.log('PASS');
    return 0;
  } finally {
    for (const c of [muster, bare]) if (c && !c.exitInfo) await stopChild(c, 3_000);
    await fake.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    clearTimeout(runTimer);
    process.exit(code);
  },
  (e: unknown) => emergencyExit(`crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, 1),
);

/** Summary rows of the cost tables: each row's figure at the largest size, against the smallest, with its goal. */
function costSummary(c: CostFigures): SummaryRow[] {
  return c.sections.flatMap((sec) =>
    sec.rows
      .filter((r) => r.goal || r.superlinear)
      .map((r) => {
        const last = r.values.at(-1) ?? null;
        const first = r.values[0] ?? null;
        return {
          figure: `${sec.title}: ${r.name} at ${sec.sizes.at(-1)} (k ${r.growth.overall === null ? '-' : r.growth.overall.toFixed(2)})`,
          value: last,
          unit: r.unit,
          baseline: first,
          baselineIs: `at ${sec.sizes[0]}`,
          ratio: last !== null && first ? last / first : null,
          goal: r.goal ? r.goal.text : 'growth ≤ linear',
          met: r.goal ? (r.met ?? null) : !r.superlinear,
        };
      }),
  );
}

/** Summary rows of the replica bench: click throughput against one replica, and its correctness checks. */
function replicaSummary(r: ReplicaBenchResult): SummaryRow[] {
  if (r.skipped) return [];
  const one = r.rows.find((x) => x.replicas === 1);
  const rows: SummaryRow[] = [];
  for (const x of r.rows) {
    const v = x.heldRate ?? x.main?.summary.throughput ?? null;
    const base = one ? (one.heldRate ?? one.main?.summary.throughput ?? null) : null;
    rows.push({
      figure: `${x.replicas} replica(s): approval clicks/s ${x.heldRate !== undefined ? 'held' : 'acked'}`,
      value: v,
      unit: '/s',
      baseline: base,
      baselineIs: '1 replica',
      ratio: v !== null && base ? v / base : null,
      goal: 'scales with replicas',
      met: null,
    });
    rows.push({
      figure: `${x.replicas} replica(s): timers, outcomes, effects exactly once`,
      value: x.failures.length,
      unit: 'failures',
      baseline: null,
      baselineIs: '-',
      ratio: null,
      goal: '0',
      met: x.failures.length === 0,
    });
  }
  return rows;
}
