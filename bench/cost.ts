/**
 * `npm run bench:cost` (node --import tsx bench/cost.ts [--quick] [--only timers,audit,incidents,approvals,people,outbox]):
 * cost as the work grows. Each section measures the same things at 1×, 10× and 100× of its data and writes,
 * next to every row, the growth exponent k of value ∝ n^k: from 1× to 100× (log(v100/v1)/log(100)) and per
 * step (1×→10×, 10×→100×). k ≈ 0 is flat, k ≈ 1 linear; a k above 1 (worse than linear) is flagged.
 *
 *  - Pending timers (1k, 10k, 100k; --quick 10, 100, 1k): N timer rows of a real kind (approval.expire, whose
 *    handler finds nothing left to expire and returns) in a fresh SQLite file; Muster started as its own process
 *    (`node dist/main.js`, its FakeSlack in this process): start-up = spawn → /readyz 200 with the N
 *    timers pending (due in an hour); then every timer is made due within the next second plus a 2 s window, and
 *    the fire drift (fired_at − due_at, from the database once all have fired), how long until the last fired,
 *    Muster's RSS and peak RSS (VmHWM).
 *  - Audit trail (10k, 100k, 1M; --quick 1k, 5k, 25k): valid keyed, chained entries (hashed with
 *    src/store/audit.ts's entryHash, inserted in batches by raw SQL) and a checkpoint file with one signed
 *    checkpoint per 1,000 entries, as Muster publishes them; then the append cost per entry through the real
 *    AuditLog (one entry per transaction, as a service appends), `muster audit verify --checkpoints FILE` and
 *    `muster audit export --format csv|json` run as child processes (`node bin/muster.js …`, which runs dist/cli.js): wall time,
 *    peak RSS (VmHWM, read by the child at exit) and bytes written (read from its stdout through a pipe).
 *  - Incidents (100, 1k, 10k; --quick 10, 100, 1k): template incidents made through the real services (declared,
 *    commander taken, updated, published, resolved, closed, action items; the channel and card hooks run with
 *    made-up Slack ids), then copied by SQL into a history of N (10 a day, the newest 20 open); then
 *    `/incident list` (IncidentService.list, what the command calls), the App Home (slackEventHandler's
 *    app_home_opened, the real handler, with views.publish answered in-process) and the public status page
 *    (GET /status/<team> over HTTP from a Muster started as its own process on that file).
 *  - Approvals (1k, 10k, 100k closed; --quick 100, 1k, 10k): template requests made through the real services
 *    (production deploys approved by three votes, staging deploys rejected, cancelled ones, 10 pending), the
 *    closed ones copied by SQL (with their votes) into a history of N; then `/approval list` (ApprovalService.list)
 *    and the App Home for an approver who also asked for N/20 of them.
 *  - People (1k, 10k, 100k role grants; --quick 100, 1k, 10k): a workspace whose members hold N grants besides
 *    the three approvers of a pending production deploy; the actor lookup every command and click starts with
 *    (Kernel.actor) and the request's card drawn (who may still approve), as the outbox draws each copy.
 *  - Outbox backlog (1k, 10k, 100k effects due; --quick 100, 1k, 10k), on SQLite and, when it is reachable,
 *    PostgreSQL (a fresh database, bench/db.ts): N effects due at once, as a burst leaves them (half DMs, half
 *    redraws of N/10 messages, five queued per message), after a history of N done; then the dispatcher's claim
 *    (claimEffects, 8 at a time, as the dispatcher asks) timed, each claimed batch put back untimed. On
 *    PostgreSQL the tables are analyzed after the load, as autovacuum would.
 *
 * Query timings are the p50 (and p90) of several repetitions after two warm-up calls. runCostBench logs progress
 * through `log` and returns the figures (formatSection / markdownSection print a section's table); run alone, the
 * tables are printed at the end and --json FILE writes the figures. Exits 1 when something failed (a child did not
 * start or exited non-zero, verify did not say intact, not every timer fired, a list did not show what was seeded).
 */
import http from 'node:http';
import os from 'node:os';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { WebClient } from '@slack/web-api';
import { FakeSlack } from '../test/support/fakeSlack.ts';
import { percentile } from './load.ts';
import { BENCH_AUDIT_KEY, describeExit, ensureBuilt, dumpOutput, freePort, killNow, memoryOf, startChild, stopChild, waitForHttp200, type Child, musterMain } from './proc.ts';
import { migrate } from '../src/store/migrate.ts';
import { marks, openDatabase, type Database } from '../src/store/db.ts';
import { claimEffects } from '../src/store/outbox.ts';
import { createBenchDatabase, postgresProblem, type BenchDb } from './db.ts';
import { AuditLog, entryHash, canonicalJson, GENESIS_HASH, type AuditRow } from '../src/store/audit.ts';
import { AuditKeyring } from '../src/store/auditKeys.ts';
import { formatCheckpoint, signCheckpoint } from '../src/store/auditCheckpoints.ts';
import { ManualClock, systemClock, type Clock } from '../src/domain/clock.ts';
import { parsePolicyText, type Policy } from '../src/config/policy.ts';
import { Kernel } from '../src/services/kernel.ts';
import { createServices, type Services } from '../src/services/index.ts';
import { SlackChatPort } from '../src/platforms/slack/chatPort.ts';
import { createWebClient } from '../src/platforms/slack/webClient.ts';
import { slackEventHandler } from '../src/platforms/slack/events.ts';
import type { InboxRow } from '../src/store/inbox.ts';
import { approvalCard } from '../blocks/approval.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const requireFromRoot = createRequire(join(root, 'package.json'));
type SqliteDb = {
  prepare(sql: string): { run(...a: unknown[]): unknown; all(...a: unknown[]): Record<string, unknown>[]; get(...a: unknown[]): Record<string, unknown> | undefined };
  exec(sql: string): void;
  pragma(s: string): unknown;
  transaction<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void;
  close(): void;
};
const Sqlite = requireFromRoot('better-sqlite3') as new (file: string) => SqliteDb;

// ---------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------

/** Growth exponent k of value ∝ n^k: 1× → 100×, and per step (1× → 10×, 10× → 100×). null when a value is missing or 0. */
export interface Growth {
  overall: number | null;
  steps: (number | null)[];
}

export interface CostRow {
  name: string;
  unit: string;
  /** one per size of the section (null: not measured) */
  values: (number | null)[];
  growth: Growth;
  /** the issue's goal for this row, at the largest size */
  goal?: { text: string; max: number };
  /** whether the value at the largest size meets the goal */
  met?: boolean;
  /** k above 1.1 from 1× to 100×: worse than linear */
  superlinear: boolean;
}

export interface CostSection {
  key: 'timers' | 'audit' | 'incidents' | 'approvals' | 'people' | 'outbox';
  title: string;
  sizeLabel: string;
  sizes: number[];
  rows: CostRow[];
  notes: string[];
}

export interface CostFigures {
  quick: boolean;
  startedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; totalMemMb: number; loadAvgAtStart: number[]; loadAvgAtEnd?: number[] };
  sections: CostSection[];
  failures: string[];
  seconds: number;
}

export interface CostOptions {
  quick: boolean;
  log: (s: string) => void;
  /** sections to run (default all) */
  only?: CostSection['key'][];
  /** where child logs go (default bench/results/logs) */
  logDir?: string;
}

export function growth(sizes: readonly number[], values: readonly (number | null)[]): Growth {
  const k = (a: number, b: number): number | null => {
    const va = values[a];
    const vb = values[b];
    if (va == null || vb == null || !(va > 0) || !(vb > 0)) return null;
    return Math.log(vb / va) / Math.log(sizes[b]! / sizes[a]!);
  };
  return { overall: k(0, sizes.length - 1), steps: sizes.slice(1).map((_, i) => k(i, i + 1)) };
}

/** Issue 13's goal for what a person waits for (a list, the App Home, the status page, a lookup on every command). */
const VIEW_GOAL = { text: '< 50 ms', max: 50 };

function row(sizes: readonly number[], name: string, unit: string, values: (number | null)[], goal?: { text: string; max: number }): CostRow {
  const g = growth(sizes, values);
  const last = values[values.length - 1];
  return {
    name,
    unit,
    values,
    growth: g,
    ...(goal ? { goal, met: last != null && last <= goal.max } : {}),
    superlinear: g.overall !== null && g.overall > 1.1,
  };
}

const fmtK = (k: number | null) => (k === null ? '-' : `${k >= 0 ? ' ' : ''}${k.toFixed(2)}`);
function fmtValue(v: number | null): string {
  if (v == null || Number.isNaN(v)) return '-';
  const a = Math.abs(v);
  if (a >= 100_000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}
const fmtSize = (n: number) => n.toLocaleString('en-US');

/** The section as a text table: one column per size, then k 1×→100× and k per step. */
export function formatSection(s: CostSection): string {
  const head = [`${s.title}`, ...s.sizes.map((n) => `${fmtSize(n)} ${s.sizeLabel}`), 'k 1→100×', 'k per step', 'goal'];
  const body = s.rows.map((r) => [
    `${r.name}, ${r.unit}`,
    ...r.values.map(fmtValue),
    `${fmtK(r.growth.overall)}${r.superlinear ? ' ⚠' : ''}`,
    r.growth.steps.map(fmtK).join(' /'),
    r.goal ? `${r.goal.text} ${r.met ? '✓' : '✗'}` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), ...s.notes.map((n) => `  ${n}`)].join('\n');
}

/** A Markdown table of the section (for docs/scaling.md). */
export function markdownSection(s: CostSection): string {
  const head = ['', ...s.sizes.map((n) => `${fmtSize(n)} ${s.sizeLabel}`), 'k 1→100×', 'k per step', 'goal'];
  const rows = s.rows.map((r) => [
    `${r.name}, ${r.unit}`,
    ...r.values.map(fmtValue),
    `${fmtK(r.growth.overall).trim()}${r.superlinear ? ' ⚠' : ''}`,
    r.growth.steps.map((k) => fmtK(k).trim()).join(' / '),
    r.goal ? `${r.goal.text} ${r.met ? '✓' : '✗'}` : '',
  ]);
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const p50 = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const p90 = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    90,
  );
const p99 = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    99,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How Prisma stores a DateTime in SQLite (ISO 8601 with +00:00), so raw inserts read back as the app's rows do. */
const sqliteTime = (d: Date) => d.toISOString().replace('Z', '+00:00');

/** Times `fn` `reps` times after `warm` untimed calls; ms each. `cpu`: this process's CPU time (all its threads) per call. */
async function timeRepeated(fn: () => Promise<unknown>, reps: number, warm = 2): Promise<number[] & { cpu: number[] }> {
  for (let i = 0; i < warm; i++) await fn();
  const out = Object.assign([] as number[], { cpu: [] as number[] });
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    out.cpu.push((c.user + c.system) / 1000);
  }
  return out;
}

/** The environment of the children: the bench's own, without anything that would point them elsewhere. */
function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [
    'SLACK_APP_TOKEN',
    'MUSTER_CONFIG',
    'MUSTER_INSTANCE_ID',
    'SLACK_BOT_TOKEN',
    'SLACK_SIGNING_SECRET',
    'DATABASE_URL',
    'MUSTER_AUDIT_PREVIOUS_KEYS',
    'MUSTER_AUDIT_CHECKPOINT_FILE',
    'DISCORD_TOKEN',
    'DISCORD_PUBLIC_KEY',
    'DISCORD_APPLICATION_ID',
  ]) {
    delete env[k];
  }
  env.LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
  env.MUSTER_SLACK_PACING = 'off';
  return { ...env, ...extra };
}

/**
 * Loaded with --import into a CLI child: at exit it writes its peak RSS (VmHWM, kB) and its CPU time (ms, all threads)
 * to COST_PEAK_FILE. It only reads /proc/self/status once, when the process is already exiting.
 */
const PEAK_HOOK = `data:text/javascript,${encodeURIComponent(
  "import { readFileSync, writeFileSync } from 'node:fs';" +
    "process.on('exit', () => { try { const m = /VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8')); const c = process.cpuUsage();" +
    " if (m && process.env.COST_PEAK_FILE) writeFileSync(process.env.COST_PEAK_FILE, m[1] + ' ' + (c.user + c.system) / 1000); } catch {} });",
)}`;

interface CliRun {
  code: number | null;
  ms: number;
  peakMb: number | null;
  /** CPU time of the child (user + system, all threads), ms */
  cpuMs: number | null;
  stdoutBytes: number;
  stdoutHead: string;
  stderr: string;
}

/** Runs `node bin/muster.js …args` (the `muster` command; it runs dist/cli.js when that is current) with its stdout read through a pipe (counted, not kept). */
function runCli(args: string[], env: NodeJS.ProcessEnv, peakFile: string): Promise<CliRun> {
  rmSync(peakFile, { force: true });
  return new Promise((resolveRun) => {
    const t0 = performance.now();
    const proc = spawn(process.execPath, ['--import', PEAK_HOOK, 'bin/muster.js', ...args], {
      cwd: root,
      env: { ...env, COST_PEAK_FILE: peakFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let bytes = 0;
    let head = '';
    let stderr = '';
    let polledPeakKb = 0;
    const poll = setInterval(() => {
      const m = proc.pid ? memoryOf(proc.pid) : undefined;
      if (m?.peakMb) polledPeakKb = Math.max(polledPeakKb, m.peakMb * 1024);
    }, 50);
    proc.stdout.on('data', (b: Buffer) => {
      bytes += b.length;
      if (head.length < 600) head += b.toString('utf8', 0, Math.min(b.length, 600));
    });
    proc.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 20_000) stderr += b.toString('utf8');
    });
    proc.on('close', (code) => {
      clearInterval(poll);
      const ms = performance.now() - t0;
      let peakKb: number | null = polledPeakKb || null;
      let cpuMs: number | null = null;
      try {
        const [kb, cpu] = readFileSync(peakFile, 'utf8').split(' ').map(Number);
        peakKb = kb ?? peakKb;
        cpuMs = cpu ?? null;
      } catch {
        // no file: the child died before its exit hook ran; the polled peak stands
      }
      resolveRun({ code, ms, peakMb: peakKb ? peakKb / 1024 : null, cpuMs, stdoutBytes: bytes, stdoutHead: head, stderr });
    });
  });
}

// ---------------------------------------------------------------------------
// Muster as its own process
// ---------------------------------------------------------------------------

interface MusterChild {
  child: Child;
  port: number;
  url: string;
  readyMs: number;
}

/** `node dist/main.js` on `dbUrl`, against the bench's FakeSlack; resolves once /readyz answers 200. */
async function startMusterChild(name: string, dbUrl: string, fake: FakeSlack, logDir: string, timeoutMs = 120_000): Promise<MusterChild> {
  const port = await freePort();
  const t0 = performance.now();
  const child = startChild(name, musterMain(root), {
    cwd: root,
    env: childEnv({
      PORT: String(port),
      SLACK_BOT_TOKEN: 'xoxb-cost-bench',
      SLACK_SIGNING_SECRET: 'cost-bench-signing-secret',
      SLACK_API_URL: fake.url,
      DATABASE_URL: dbUrl,
      MUSTER_AUDIT_KEY: BENCH_AUDIT_KEY,
    }),
    logFile: join(logDir, `${name.replace(/[^a-z0-9]+/gi, '-')}.log`),
  });
  try {
    await waitForHttp200(child, `http://127.0.0.1:${port}/readyz`, timeoutMs);
  } catch (e) {
    const out = dumpOutput(child, 3000);
    killNow(child);
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return { child, port, url: `http://127.0.0.1:${port}`, readyMs: performance.now() - t0 };
}

// ---------------------------------------------------------------------------
// Pending timers
// ---------------------------------------------------------------------------

/** N pending approval.expire timers (their approvals are gone, so the handler finds nothing to expire), due in an hour. */
function seedTimers(file: string, n: number): number {
  const t0 = performance.now();
  const db = new Sqlite(file);
  db.pragma('journal_mode = WAL');
  const now = new Date();
  const due = sqliteTime(new Date(now.getTime() + 3_600_000));
  const at = sqliteTime(now);
  const insert = db.prepare(
    `INSERT INTO timers (workspace_id, kind, subject_type, subject_id, key, payload, due_at, status, lease_until, leased_by, attempts, last_error, fired_at, created_at, updated_at)
     VALUES (?, 'approval.expire', 'approval', ?, ?, '{}', ?, 'pending', NULL, NULL, 0, NULL, NULL, ?, ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      insert.run(WORKSPACE, id, `approval:${id}:expire`, due, at, at);
    }
  })();
  db.close();
  return performance.now() - t0;
}

interface TimerRun {
  n: number;
  readyMs: number;
  rssIdleMb: number;
  rssAfterMb: number;
  peakMb: number;
  driftP50: number;
  driftP99: number;
  driftMax: number;
  /** from the first due time to the last fire */
  spanMs: number;
  firesPerSecond: number;
  fired: number;
}

/** Timers fall due from `leadMs` after Muster answered /readyz, over `windowMs` (--quick: half of each, to keep the run short). */
const timerTiming = (quick: boolean) => (quick ? { leadMs: 500, windowMs: 1_000 } : { leadMs: 1_000, windowMs: 2_000 });

async function timerRun(n: number, tmp: string, fake: FakeSlack, logDir: string, log: (s: string) => void, failures: string[], timing: ReturnType<typeof timerTiming>): Promise<TimerRun | undefined> {
  const dir = join(tmp, `timers-${n}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'timers.db');
  const url = `file:${file}`;
  await migrate(url);
  const seedMs = seedTimers(file, n);
  let m: MusterChild | undefined;
  try {
    m = await startMusterChild(`cost-timers-${n}`, url, fake, logDir);
  } catch (e) {
    failures.push(`timers ${n}: Muster did not start: ${(e as Error).message}`);
    return undefined;
  }
  try {
    const rssIdleMb = memoryOf(m.child.pid)?.rssMb ?? Number.NaN;
    // Every timer due within the window, from the lead from now on: one UPDATE, in id order.
    const db = new Sqlite(file);
    db.pragma('busy_timeout = 10000');
    const first = Date.now() + timing.leadMs;
    const { lo, hi } = db.prepare('SELECT MIN(id) AS lo, MAX(id) AS hi FROM timers').get() as { lo: number; hi: number };
    const span = Math.max(1, hi - lo);
    const t0 = performance.now();
    db.prepare(`UPDATE timers SET due_at = strftime('%Y-%m-%dT%H:%M:%f', (? + (id - ?) * ? / ?) / 1000.0, 'unixepoch') || '+00:00', updated_at = ? WHERE status = 'pending'`).run(
      first,
      lo,
      timing.windowMs,
      span,
      sqliteTime(new Date()),
    );
    const updateMs = performance.now() - t0;
    if (Date.now() > first) log(`  timers ${fmtSize(n)}: note: making them due took ${updateMs.toFixed(0)} ms, past the first due time`);
    const deadline = Date.now() + Math.max(120_000, n * 20);
    let fired = 0;
    let peakMb = 0;
    const count = db.prepare("SELECT COUNT(*) AS c FROM timers WHERE status = 'fired'");
    let lastLog = Date.now();
    while (Date.now() < deadline) {
      fired = Number((count.get() as { c: number }).c);
      const mem = memoryOf(m.child.pid);
      if (mem?.peakMb) peakMb = Math.max(peakMb, mem.peakMb);
      if (fired >= n) break;
      if (m.child.exitInfo) break;
      if (Date.now() - lastLog > 15_000) {
        log(`  timers ${fmtSize(n)}: ${fmtSize(fired)} fired so far`);
        lastLog = Date.now();
      }
      await sleep(200);
    }
    const rssAfterMb = memoryOf(m.child.pid)?.rssMb ?? Number.NaN;
    const rows = db.prepare("SELECT due_at, fired_at FROM timers WHERE status = 'fired'").all() as { due_at: string; fired_at: string }[];
    db.close();
    if (fired < n) failures.push(`timers ${n}: only ${fired} of ${n} fired${m.child.exitInfo ? ` (${describeExit(m.child)})` : ' before the deadline'}`);
    const drift = rows.map((r) => Date.parse(r.fired_at) - Date.parse(r.due_at));
    const lastFired = Math.max(...rows.map((r) => Date.parse(r.fired_at)));
    const spanMs = lastFired - first;
    log(
      `  timers ${fmtSize(n)}: seeded in ${(seedMs / 1000).toFixed(1)} s; /readyz 200 after ${m.readyMs.toFixed(0)} ms; made due in ${updateMs.toFixed(0)} ms; ` +
        `${fmtSize(rows.length)} fired, drift p50 ${p50(drift).toFixed(0)} ms p99 ${p99(drift).toFixed(0)} ms, the last ${(spanMs / 1000).toFixed(1)} s after the first was due`,
    );
    return {
      n,
      readyMs: m.readyMs,
      rssIdleMb,
      rssAfterMb,
      peakMb,
      driftP50: p50(drift),
      driftP99: p99(drift),
      driftMax: Math.max(...drift),
      spanMs,
      firesPerSecond: rows.length / (Math.max(1, lastFired - first) / 1000),
      fired: rows.length,
    };
  } finally {
    const stop = await stopChild(m.child);
    if (!stop.graceful || stop.code !== 0) failures.push(`timers ${n}: Muster did not stop cleanly (${describeExit(m.child)})`);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timersSection(o: CostOptions, tmp: string, logDir: string, failures: string[]): Promise<CostSection> {
  const sizes = o.quick ? [10, 100, 1_000] : [1_000, 10_000, 100_000];
  const timing = timerTiming(o.quick);
  const fake = await FakeSlack.start();
  const runs: (TimerRun | undefined)[] = [];
  try {
    for (const n of sizes) runs.push(await timerRun(n, tmp, fake, logDir, o.log, failures, timing));
  } finally {
    await fake.close();
  }
  const col = (f: (r: TimerRun) => number) => runs.map((r) => (r ? f(r) : null));
  return {
    key: 'timers',
    title: 'pending timers',
    sizeLabel: 'timers',
    sizes,
    rows: [
      row(
        sizes,
        'start-up, spawn → /readyz 200',
        'ms',
        col((r) => r.readyMs),
      ),
      row(
        sizes,
        'fire drift p50',
        'ms',
        col((r) => r.driftP50),
      ),
      row(
        sizes,
        'fire drift p99',
        'ms',
        col((r) => r.driftP99),
      ),
      row(
        sizes,
        'last fired after the first was due',
        's',
        col((r) => r.spanMs / 1000),
      ),
      row(
        sizes,
        'fired per second',
        '/s',
        col((r) => r.firesPerSecond),
      ),
      row(
        sizes,
        'RSS idle, timers pending',
        'MB',
        col((r) => r.rssIdleMb),
      ),
      row(
        sizes,
        'RSS after all fired',
        'MB',
        col((r) => r.rssAfterMb),
      ),
      row(
        sizes,
        'peak RSS (VmHWM)',
        'MB',
        col((r) => r.peakMb),
      ),
    ],
    notes: [
      `every timer due within ${timing.windowMs / 1000} s, from ${timing.leadMs / 1000} s after Muster answered /readyz (kind approval.expire, its approval gone: the handler reads one row); drift = fired_at − due_at from the database once all had fired`,
      'with more timers due than one process fires in the window, drift is queueing: the last ones wait for all before them (see fired per second)',
    ],
  };
}

// ---------------------------------------------------------------------------
// Audit trail
// ---------------------------------------------------------------------------

const WORKSPACE = 'slack:T0COST';
const TEAM = 'T0COST';

const AUDIT_ACTIONS: { action: string; subjectType: string; make: (i: number) => { before?: unknown; after?: unknown; reason?: string; flags?: string[] } }[] = [
  { action: 'approval.request', subjectType: 'approval', make: (i) => ({ after: { kind: 'deploy', environment: 'production', component: `svc-${i % 37}`, version: `1.${i % 100}.${i % 7}` } }) },
  { action: 'approval.approve', subjectType: 'approval', make: (i) => ({ after: { step: i % 3, role: ['release_manager', 'cto', 'security_lead'][i % 3], progress: `${(i % 3) + 1}/3` } }) },
  { action: 'incident.update', subjectType: 'incident', make: (i) => ({ after: { status: 'identified', text: `Mitigation ${i} rolled out to half of the fleet; error rate back under 1 %` } }) },
  { action: 'incident.role', subjectType: 'incident', make: () => ({ before: { commander: null }, after: { commander: 'U0COMMAND' } }) },
  { action: 'change.vote', subjectType: 'change', make: (i) => ({ after: { seat: 'technical', decision: 'approve', round: 1 + (i % 2) } }) },
  { action: 'approval.approved', subjectType: 'approval', make: () => ({ after: { status: 'approved' }, flags: ['quorum'] }) },
  { action: 'role.grant', subjectType: 'user', make: (i) => ({ after: { role: 'tech_lead' }, reason: i % 5 === 0 ? 'on-call rotation' : undefined }) },
  { action: 'approval.reject', subjectType: 'approval', make: () => ({ after: { status: 'rejected' }, reason: 'the migration has no rollback step' }) },
];

/** Entry `seq` of the seeded trail, before hashing (as AuditLog.append builds it). */
function seededEntry(seq: number, prevHash: string, createdAt: Date): Omit<AuditRow, 'hash' | 'keyId'> {
  const a = AUDIT_ACTIONS[seq % AUDIT_ACTIONS.length]!;
  const m = a.make(seq);
  const user = `U${String(1000 + (seq % 40)).padStart(6, '0')}`;
  const subject =
    a.subjectType === 'user' ? `${WORKSPACE}:U${String(seq % 90).padStart(6, '0')}` : `${a.subjectType === 'incident' ? 'INC' : a.subjectType === 'change' ? 'CHG' : 'APR'}-${1 + Math.floor(seq / 6)}`;
  const toText = (v: unknown) => (v === undefined || v === null ? null : canonicalJson(v));
  return {
    seq,
    workspaceId: WORKSPACE,
    actorId: `${WORKSPACE}:${user}`,
    actorName: `person${seq % 40}`,
    platform: 'slack',
    action: a.action,
    outcome: 'ok',
    subjectType: a.subjectType,
    subjectId: subject,
    before: toText(m.before),
    after: toText(m.after),
    reason: m.reason ?? null,
    flags: m.flags?.length ? m.flags.join(',') : null,
    requestId: `slack:${TEAM}:cmd:${seq.toString(36)}`,
    createdAt,
    prevHash,
  };
}

/**
 * Writes `n` valid keyed entries (seq 1..n) into a migrated SQLite file by raw SQL in batches, and returns the
 * checkpoint lines (one per 1,000 entries and one at the head) as Muster would have published them.
 */
export function seedAuditTrail(file: string, n: number, keyring: AuditKeyring): { ms: number; checkpoints: string[]; head: { seq: number; hash: string } } {
  const t0 = performance.now();
  const key = keyring.current;
  const db = new Sqlite(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const insert = db.prepare(
    `INSERT INTO audit_entries (seq, workspace_id, actor_id, actor_name, platform, action, outcome, subject_type, subject_id, before, after, reason, flags, request_id, created_at, prev_hash, hash, key_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const checkpoints: string[] = [];
  let prevHash = GENESIS_HASH;
  const start = Date.now() - n * 30_000; // one entry every 30 s up to now
  const BATCH = 10_000;
  const insertBatch = db.transaction((from: number, to: number) => {
    for (let seq = from; seq <= to; seq++) {
      const base = seededEntry(seq, prevHash, new Date(start + seq * 30_000));
      const hash = entryHash(base, key);
      insert.run(
        base.seq,
        base.workspaceId,
        base.actorId,
        base.actorName,
        base.platform,
        base.action,
        base.outcome,
        base.subjectType,
        base.subjectId,
        base.before,
        base.after,
        base.reason,
        base.flags,
        base.requestId,
        sqliteTime(base.createdAt),
        base.prevHash,
        hash,
        key.id,
      );
      prevHash = hash;
      if (seq % 1000 === 0 || seq === n) checkpoints.push(formatCheckpoint(signCheckpoint(key, { seq, hash }, new Date(start + seq * 30_000 + 1))));
    }
  });
  for (let from = 1; from <= n; from += BATCH) insertBatch(from, Math.min(n, from + BATCH - 1));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { ms: performance.now() - t0, checkpoints, head: { seq: n, hash: prevHash } };
}

async function auditSection(o: CostOptions, tmp: string, failures: string[]): Promise<CostSection> {
  const sizes = o.quick ? [1_000, 5_000, 25_000] : [10_000, 100_000, 1_000_000];
  const keyring = new AuditKeyring(BENCH_AUDIT_KEY);
  const appendMs: number[] = [];
  const cols = {
    verifyCpuS: [] as (number | null)[],
    verifyS: [] as (number | null)[],
    verifyPeak: [] as (number | null)[],
    csvS: [] as (number | null)[],
    csvPeak: [] as (number | null)[],
    csvMb: [] as (number | null)[],
    jsonS: [] as (number | null)[],
    jsonPeak: [] as (number | null)[],
    jsonMb: [] as (number | null)[],
    seedS: [] as (number | null)[],
    dbMb: [] as (number | null)[],
  };
  const notes: string[] = [];
  const APPENDS = o.quick ? 100 : 300;
  // The CLI's own cost: verify on an empty trail (node, the compiled CLI, the migration check).
  {
    const dir = join(tmp, 'audit-empty');
    mkdirSync(dir, { recursive: true });
    const url = `file:${join(dir, 'empty.db')}`;
    await migrate(url);
    const empty = await runCli(['audit', 'verify'], childEnv({ DATABASE_URL: url, MUSTER_AUDIT_KEY: BENCH_AUDIT_KEY }), join(dir, 'peak'));
    notes.push(`the CLI alone (audit verify on an empty trail): ${(empty.ms / 1000).toFixed(2)} s, CPU ${((empty.cpuMs ?? 0) / 1000).toFixed(2)} s, peak RSS ${empty.peakMb?.toFixed(0)} MB`);
    rmSync(dir, { recursive: true, force: true });
  }
  for (const n of sizes) {
    const dir = join(tmp, `audit-${n}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'audit.db');
    const url = `file:${file}`;
    await migrate(url);
    const seeded = seedAuditTrail(file, n, keyring);
    cols.seedS.push(seeded.ms / 1000);
    const cpFile = join(dir, 'checkpoints.log');
    writeFileSync(cpFile, `${seeded.checkpoints.join('\n')}\n`);
    o.log(`  audit ${fmtSize(n)}: seeded in ${(seeded.ms / 1000).toFixed(1)} s (${seeded.checkpoints.length} checkpoints)`);

    // Append cost: one entry per transaction through the real AuditLog (checkpoint every 1,000, as the default policy).
    const db = await openDatabase(url);
    const audit = new AuditLog(db.provider, systemClock, { keyring, checkpoints: { every: 1000 } });
    const times: number[] = [];
    for (let i = 0; i < APPENDS + 5; i++) {
      const t0 = performance.now();
      await db.tx((tx) =>
        audit.append(tx, {
          workspaceId: WORKSPACE,
          actorId: `${WORKSPACE}:U0BENCH`,
          actorName: 'bench',
          platform: 'slack',
          action: 'approval.approve',
          subjectType: 'approval',
          subjectId: `APR-${i}`,
          after: { step: i % 3, progress: `${(i % 3) + 1}/3` },
          requestId: `bench:${i}`,
        }),
      );
      if (i >= 5) times.push(performance.now() - t0);
    }
    await db.close();
    appendMs.push(p50(times));
    cols.dbMb.push(statSync(file).size / 1e6);

    const env = childEnv({ DATABASE_URL: url, MUSTER_AUDIT_KEY: BENCH_AUDIT_KEY });
    const peakFile = join(dir, 'peak');
    const verify = await runCli(['audit', 'verify', '--checkpoints', cpFile], env, peakFile);
    const intact = new RegExp(`audit chain intact: ${n + APPENDS + 5} entries`).test(verify.stdoutHead);
    if (verify.code !== 0 || !intact) failures.push(`audit ${n}: verify exited ${verify.code}: ${verify.stdoutHead.slice(0, 300)} ${verify.stderr.slice(0, 500)}`);
    cols.verifyS.push(verify.ms / 1000);
    cols.verifyCpuS.push(verify.cpuMs === null ? null : verify.cpuMs / 1000);
    cols.verifyPeak.push(verify.peakMb);
    o.log(
      `  audit ${fmtSize(n)}: verify ${(verify.ms / 1000).toFixed(2)} s (CPU ${((verify.cpuMs ?? 0) / 1000).toFixed(2)} s), peak ${verify.peakMb?.toFixed(0)} MB — ${verify.stdoutHead.split('\n')[0]?.slice(0, 120)}`,
    );
    for (const format of ['csv', 'json'] as const) {
      const ex = await runCli(['audit', 'export', '--format', format], env, peakFile);
      if (ex.code !== 0) failures.push(`audit ${n}: export --format ${format} exited ${ex.code}: ${ex.stderr.slice(0, 500)}`);
      (format === 'csv' ? cols.csvS : cols.jsonS).push(ex.ms / 1000);
      (format === 'csv' ? cols.csvPeak : cols.jsonPeak).push(ex.peakMb);
      (format === 'csv' ? cols.csvMb : cols.jsonMb).push(ex.stdoutBytes / 1e6);
      o.log(`  audit ${fmtSize(n)}: export ${format} ${(ex.ms / 1000).toFixed(2)} s, peak ${ex.peakMb?.toFixed(0)} MB, ${(ex.stdoutBytes / 1e6).toFixed(1)} MB out`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  notes.push(
    `append: p50 of ${APPENDS} transactions of one entry each through AuditLog.append (checkpoint every 1,000) on the seeded file; verify and export: wall time of the CLI child from spawn to exit (node start-up included), peak RSS = its VmHWM`,
  );
  notes.push(`seeding (raw SQL, entries hashed as AuditLog does): ${cols.seedS.map((s) => `${s?.toFixed(1)} s`).join(', ')}; database file ${cols.dbMb.map((m) => `${m?.toFixed(0)} MB`).join(', ')}`);
  const last = sizes[sizes.length - 1]!;
  return {
    key: 'audit',
    title: 'audit trail',
    sizeLabel: 'entries',
    sizes,
    rows: [
      row(sizes, 'append, p50 per entry', 'ms', appendMs),
      row(sizes, 'audit verify, time', 's', cols.verifyS, last === 1_000_000 ? { text: '< 10 s', max: 10 } : undefined),
      row(sizes, 'audit verify, CPU time', 's', cols.verifyCpuS),
      row(sizes, 'audit verify, peak RSS', 'MB', cols.verifyPeak),
      row(sizes, 'export csv, time', 's', cols.csvS),
      row(sizes, 'export csv, peak RSS', 'MB', cols.csvPeak),
      row(sizes, 'export csv, bytes out', 'MB', cols.csvMb),
      row(sizes, 'export json, time', 's', cols.jsonS),
      row(sizes, 'export json, peak RSS', 'MB', cols.jsonPeak),
      row(sizes, 'export json, bytes out', 'MB', cols.jsonMb),
    ],
    notes,
  };
}

// ---------------------------------------------------------------------------
// Templates made by the real services, copied by SQL
// ---------------------------------------------------------------------------

const ISO_STORED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$/;
/** Every stored time of a row (ISO text with +00:00, as Prisma writes it to SQLite) moved by `ms`. */
function shiftTimes(row: Record<string, unknown>, ms: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'string' && ISO_STORED.test(v) ? sqliteTime(new Date(Date.parse(v) + ms)) : v;
  return out;
}

/** Inserts rows (column names from the first one) with one prepared statement per column set. */
class Inserter {
  private readonly stmts = new Map<string, ReturnType<SqliteDb['prepare']>>();
  constructor(private readonly db: SqliteDb) {}
  insert(table: string, row: Record<string, unknown>): void {
    const cols = Object.keys(row);
    const key = `${table}|${cols.join(',')}`;
    let st = this.stmts.get(key);
    if (!st) {
      st = this.db.prepare(`INSERT INTO ${table} (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
      this.stmts.set(key, st);
    }
    st.run(...cols.map((c) => (typeof row[c] === 'boolean' ? Number(row[c]) : row[c])));
  }
}

/** A kernel and services over `db`, with the Slack port's capabilities and no chat platform behind them. */
function inProcess(db: Database, clock: Clock, policy: Policy, admins: string[]): { kernel: Kernel; services: Services } {
  // The port only says what Slack can do here (nothing on these paths calls Slack).
  const slackCaps = new SlackChatPort(createWebClient('xoxb-cost-bench', 'http://127.0.0.1:9/api/'), { pacing: false }).capabilities;
  const kernel = new Kernel({
    db,
    clock,
    policy,
    log: pino({ level: 'silent' }),
    admins,
    audit: new AuditLog(db.provider, clock, { keyring: new AuditKeyring(BENCH_AUDIT_KEY) }),
    capabilities: (platform) => (platform === 'slack' ? slackCaps : undefined),
  });
  return { kernel, services: createServices(kernel) };
}

const POLICY_TEXT = 'changes:\n  enforcedIn: []\n';
function benchPolicy(): Policy {
  const { policy, problems } = parsePolicyText(POLICY_TEXT, 'cost-bench');
  if (!policy) throw new Error(`bench policy: ${JSON.stringify(problems)}`);
  return policy;
}

let seq = 0;
const meta = (what: string) => ({ requestId: `cost:${what}:${++seq}`, requestKey: `cost:${what}:${seq}` });

/** Copies the workspace, its people, their grants and counters from the template database. */
function copyPeople(src: SqliteDb, ins: Inserter): void {
  for (const table of ['workspaces', 'users', 'role_grants']) for (const r of src.prepare(`SELECT * FROM ${table}`).all()) ins.insert(table, r);
}

// ---------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------

type IncidentKind = 'open-p1' | 'open-p2-public' | 'open-p3-private' | 'resolved-public' | 'closed-public' | 'closed' | 'closed-quiet';
const OPEN_KINDS: IncidentKind[] = ['open-p1', 'open-p2-public', 'open-p3-private'];
const RECENT_KINDS: IncidentKind[] = ['resolved-public', 'closed-public', 'closed'];
const OLD_KINDS: IncidentKind[] = ['closed-public', 'closed', 'closed', 'closed-quiet'];
/** How many of the newest incidents are open, whatever the history's length (a team's open load, not its past). */
const OPEN_INCIDENTS = 20;
/** One incident every 2.4 h: 10 a day. */
const INCIDENT_EVERY_MS = 2.4 * 3_600_000;
const VIEWER = 'U0VIEWER';

/** The template incidents, one per kind, made through the services on a ManualClock in their own database. */
export async function incidentTemplates(file: string): Promise<Map<IncidentKind, { id: string; number: number; declaredAt: number }>> {
  const url = `file:${file}`;
  await migrate(url);
  const db = await openDatabase(url);
  const clock = new ManualClock(Date.now() - 30 * 86_400_000);
  const { kernel, services } = inProcess(db, clock, benchPolicy(), ['U0ADMIN']);
  const inc = services.incidents;
  const admin = await kernel.actor('slack', TEAM, 'U0ADMIN', 'ada');
  const reporter = await kernel.actor('slack', TEAM, 'U0REPORT', 'rita');
  const commander = await kernel.actor('slack', TEAM, 'U0COMMAND', 'carl');
  const viewer = await kernel.actor('slack', TEAM, VIEWER, 'vic');
  await kernel.actor('slack', TEAM, 'U0OWNER', 'olga');
  const out = new Map<IncidentKind, { id: string; number: number; declaredAt: number }>();
  const min = (m: number) => clock.advance(m * 60_000);
  for (const kind of [...OPEN_KINDS, ...RECENT_KINDS, 'closed-quiet' as const]) {
    clock.advance(86_400_000);
    const declaredAt = clock.now().getTime();
    const severity = kind === 'open-p1' || kind === 'closed-public' ? 'P1' : kind === 'closed-quiet' || kind === 'open-p3-private' ? 'P3' : 'P2';
    await inc.declare(reporter, meta('declare'), {
      title: `Checkout errors for ${kind}: card payments failing in eu-west`,
      severity,
      description: 'Error rate on POST /checkout above 5 % since the last deploy; card payments time out at the gateway.',
      services: ['checkout', 'payments'],
      isPrivate: kind === 'open-p3-private',
    });
    const row = await db.read((tx) => tx.incident.findFirstOrThrow({ orderBy: { number: 'desc' } }));
    const target = { ref: `INC-${row.number}` };
    // The hooks the outbox runs once Slack answered: the channel and the card (made-up Slack ids).
    await db.tx((tx) => inc.onChannelCreated(tx, row.id, { channel: `CT${row.number}`, name: row.channelName }));
    const card = await db.read((tx) => tx.outboxEffect.findFirst({ where: { op: 'postMessage', payload: { contains: '"incident.card"' } }, orderBy: { id: 'desc' } }));
    if (card) await db.tx((tx) => inc.onCardPosted(tx, row.id, card.id, { channel: `CT${row.number}`, ts: `1700000000.${String(row.number).padStart(6, '0')}` }));
    if (kind === 'open-p3-private') {
      // Responders join the private channel (member_joined_channel), which lets them see and act on it.
      await inc.memberJoined(WORKSPACE, `CT${row.number}`, commander.externalId);
      await inc.memberJoined(WORKSPACE, `CT${row.number}`, VIEWER);
    }
    if (kind !== 'closed-quiet') {
      min(4);
      await inc.assignRole(commander, meta('role'), target, 'commander', commander.externalId);
      min(15);
      await inc.postUpdate(commander, meta('update'), target, 'Rolled back the 14:02 deploy of the payment gateway client; error rate falling.');
    }
    if (kind === 'open-p2-public' || kind.endsWith('-public')) {
      min(5);
      await inc.publish(admin, meta('publish'), target, 'Card payments failing at checkout');
      await inc.setPublicServices(admin, meta('public-services'), target, ['Checkout', 'Payments']);
      min(5);
      await inc.setPublic(admin, meta('public'), target, 'We are investigating failed card payments at checkout.');
      min(20);
      await inc.setPublic(admin, meta('public'), target, 'A fix is rolling out; most payments succeed again.');
    }
    if (kind === 'open-p2-public') await inc.setStatus(commander, meta('status'), target, 'identified');
    if (kind === 'open-p3-private') await inc.setStatus(commander, meta('status'), target, 'monitoring');
    if (kind === 'resolved-public' || kind.startsWith('closed')) {
      min(90);
      await inc.resolve(kind === 'closed-quiet' ? reporter : commander, meta('resolve'), target, 'The gateway client rollback fixed it; root cause in review.');
    }
    if (kind === 'closed-public' || kind === 'closed') {
      min(60);
      await inc.addAction(commander, meta('action'), target, { text: 'Add a canary stage for the gateway client', owner: 'U0OWNER', due: '2030-01-15' });
      await inc.addAction(commander, meta('action'), target, { text: 'Alert on checkout error rate above 2 %' });
      await inc.completeAction(commander, meta('action-done'), target, 2);
    }
    if (kind.startsWith('closed')) {
      min(24 * 60);
      await inc.close(kind === 'closed-quiet' ? reporter : commander, meta('close'), target);
    }
    out.set(kind, { id: row.id, number: row.number, declaredAt });
  }
  void viewer;
  await db.close();
  return out;
}

/** A measured database of `n` incidents copied from the templates: 10 a day up to now, the newest OPEN_INCIDENTS open. */
export function seedIncidents(templateFile: string, file: string, n: number, templates: Map<IncidentKind, { id: string; number: number; declaredAt: number }>): void {
  const src = new Sqlite(templateFile);
  const dst = new Sqlite(file);
  dst.pragma('journal_mode = WAL');
  dst.pragma('synchronous = OFF');
  const ins = new Inserter(dst);
  const children = (table: string, id: string) => src.prepare(`SELECT * FROM ${table} WHERE incident_id = ?`).all(id);
  const tpl = new Map(
    [...templates].map(([k, t]) => [
      k,
      {
        ...t,
        row: src.prepare('SELECT * FROM incidents WHERE id = ?').get(t.id)!,
        roles: children('incident_roles', t.id),
        timeline: children('timeline_entries', t.id),
        members: children('incident_members', t.id),
        actions: children('action_items', t.id),
      },
    ]),
  );
  const now = Date.now();
  dst.transaction(() => {
    copyPeople(src, ins);
    for (let slot = 0; slot < n; slot++) {
      const kind = slot < OPEN_INCIDENTS ? OPEN_KINDS[slot % OPEN_KINDS.length]! : slot < OPEN_INCIDENTS + 50 ? RECENT_KINDS[slot % RECENT_KINDS.length]! : OLD_KINDS[slot % OLD_KINDS.length]!;
      const t = tpl.get(kind)!;
      const number = n - slot;
      const id = randomUUID();
      const shift = now - (slot + 1) * INCIDENT_EVERY_MS - t.declaredAt;
      const ref = new RegExp(`INC-${t.number}(?!\\d)`, 'g');
      const renumber = (v: unknown) => (typeof v === 'string' ? v.replace(ref, `INC-${number}`).replace(new RegExp(`^inc-${t.number}-`), `inc-${number}-`) : v);
      const inc = shiftTimes(t.row, shift);
      ins.insert('incidents', {
        ...inc,
        id,
        number,
        title: renumber(inc.title),
        channel_id: `C${number.toString(36).toUpperCase().padStart(8, '0')}`,
        channel_name: renumber(inc.channel_name),
        card_effect_id: null,
        card_ts: inc.card_ts === null ? null : `1700000000.${String(number).padStart(6, '0')}`,
      });
      for (const r of t.roles) {
        const { id: _, ...rest } = shiftTimes(r, shift);
        ins.insert('incident_roles', { ...rest, incident_id: id });
      }
      for (const r of t.timeline) {
        const { id: _, ...rest } = shiftTimes(r, shift);
        ins.insert('timeline_entries', { ...rest, incident_id: id, text: renumber(rest.text) });
      }
      for (const r of t.members) ins.insert('incident_members', { ...shiftTimes(r, shift), incident_id: id });
      for (const r of t.actions) ins.insert('action_items', { ...shiftTimes(r, shift), id: randomUUID(), incident_id: id, text: renumber(r.text) });
    }
    ins.insert('counters', { workspace_id: WORKSPACE, kind: 'INC', value: n });
  })();
  dst.pragma('wal_checkpoint(TRUNCATE)');
  src.close();
  dst.close();
}

/** The App Home as events.ts publishes it on app_home_opened (the real handler; views.publish answered here). */
function appHomeOpener(kernel: Kernel, services: Services, user: string): { open: () => Promise<void>; published: () => number } {
  let published = 0;
  const client = {
    views: {
      publish: async (args: { view: unknown }) => {
        published += JSON.stringify(args.view).length > 0 ? 1 : 0;
        return { ok: true };
      },
    },
  } as unknown as WebClient;
  const handler = slackEventHandler({ kernel, services, client, log: pino({ level: 'silent' }), homeMinIntervalMs: 0 });
  let n = 0;
  return {
    open: () => handler({} as InboxRow, { team_id: TEAM, event_id: `EvCOST${++n}`, event: { type: 'app_home_opened', user, tab: 'home', channel: 'D0HOME' } }),
    published: () => published,
  };
}

/** GET `path` over HTTP (one keep-alive connection); resolves with the status and body length. */
function get(agent: http.Agent, base: string, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolveGet, reject) => {
    const req = http.get(`${base}${path}`, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => (bytes += b.length));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

const REPS = 15;

async function incidentsSection(o: CostOptions, tmp: string, logDir: string, failures: string[]): Promise<CostSection> {
  const sizes = o.quick ? [10, 100, 1_000] : [100, 1_000, 10_000];
  const dir = join(tmp, 'incidents');
  mkdirSync(dir, { recursive: true });
  const templateFile = join(dir, 'templates.db');
  const t0 = performance.now();
  const templates = await incidentTemplates(templateFile);
  o.log(`  incidents: ${templates.size} templates made through the services in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const cols = {
    list: [] as (number | null)[],
    listP90: [] as (number | null)[],
    listCpu: [] as (number | null)[],
    home: [] as (number | null)[],
    homeP90: [] as (number | null)[],
    homeCpu: [] as (number | null)[],
    page: [] as (number | null)[],
    pageP90: [] as (number | null)[],
    api: [] as (number | null)[],
  };
  const fake = await FakeSlack.start();
  try {
    for (const n of sizes) {
      const file = join(dir, `incidents-${n}.db`);
      const url = `file:${file}`;
      await migrate(url);
      const ts = performance.now();
      seedIncidents(templateFile, file, n, templates);
      const seedMs = performance.now() - ts;
      const db = await openDatabase(url);
      const { kernel, services } = inProcess(db, systemClock, benchPolicy(), ['U0ADMIN']);
      const viewer = await kernel.actor('slack', TEAM, VIEWER);
      const listed = await services.incidents.list(viewer);
      const lines = listed.sections?.[0]?.lines.length ?? 0;
      if (lines !== OPEN_INCIDENTS && n >= OPEN_INCIDENTS) failures.push(`incidents ${n}: /incident list showed ${lines} incidents, expected ${OPEN_INCIDENTS}`);
      const list = await timeRepeated(() => services.incidents.list(viewer), REPS);
      const home = appHomeOpener(kernel, services, VIEWER);
      const homeMs = await timeRepeated(home.open, REPS);
      if (home.published() !== REPS + 2) failures.push(`incidents ${n}: the App Home was published ${home.published()} times, expected ${REPS + 2}`);
      await db.close();
      cols.list.push(p50(list));
      cols.listP90.push(p90(list));
      cols.listCpu.push(p50(list.cpu));
      cols.home.push(p50(homeMs));
      cols.homeP90.push(p90(homeMs));
      cols.homeCpu.push(p50(homeMs.cpu));

      // The status page, from Muster as its own process on this file.
      let m: MusterChild | undefined;
      try {
        m = await startMusterChild(`cost-incidents-${n}`, url, fake, logDir);
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const first = await get(agent, m.url, `/status/${TEAM}`);
        if (first.status !== 200) failures.push(`incidents ${n}: GET /status/${TEAM} answered ${first.status}`);
        const page = await timeRepeated(() => get(agent, m!.url, `/status/${TEAM}`), REPS);
        const api = await timeRepeated(() => get(agent, m!.url, `/api/status/${TEAM}/incidents`), REPS);
        agent.destroy();
        cols.page.push(p50(page));
        cols.pageP90.push(p90(page));
        cols.api.push(p50(api));
        o.log(
          `  incidents ${fmtSize(n)}: seeded in ${(seedMs / 1000).toFixed(1)} s; /incident list p50 ${p50(list).toFixed(1)} ms (${lines} open), App Home p50 ${p50(homeMs).toFixed(1)} ms, ` +
            `status page p50 ${p50(page).toFixed(1)} ms (${(first.bytes / 1024).toFixed(0)} KB), JSON p50 ${p50(api).toFixed(1)} ms`,
        );
      } catch (e) {
        failures.push(`incidents ${n}: status page: ${(e as Error).message}`);
        cols.page.push(null);
        cols.pageP90.push(null);
        cols.api.push(null);
      } finally {
        if (m) await stopChild(m.child);
      }
    }
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    key: 'incidents',
    title: 'incidents',
    sizeLabel: 'incidents',
    sizes,
    rows: [
      row(sizes, '/incident list, p50', 'ms', cols.list, VIEW_GOAL),
      row(sizes, '/incident list, p90', 'ms', cols.listP90),
      row(sizes, '/incident list, CPU per call (p50)', 'ms', cols.listCpu),
      row(sizes, 'App Home, p50', 'ms', cols.home, VIEW_GOAL),
      row(sizes, 'App Home, p90', 'ms', cols.homeP90),
      row(sizes, 'App Home, CPU per call (p50)', 'ms', cols.homeCpu),
      row(sizes, 'status page (GET /status), p50', 'ms', cols.page, VIEW_GOAL),
      row(sizes, 'status page, p90', 'ms', cols.pageP90),
      row(sizes, 'status JSON (GET /api/status/…), p50', 'ms', cols.api),
    ],
    notes: [
      `history: 10 incidents a day up to now, the newest ${OPEN_INCIDENTS} open (P1 investigating, P2 identified and on the status page, P3 private monitoring), the next 50 resolved or closed within days (public ones on the page as recently resolved), the rest closed (with roles, timeline, public updates, follow-ups), copied from templates made through the services`,
      `/incident list: IncidentService.list as the command calls it, for a responder who is a member of the private ones; App Home: slackEventHandler's app_home_opened with views.publish answered in-process; status page: HTTP GET to Muster started on the file (keep-alive); ${REPS} timed calls after 2 untimed`,
    ],
  };
}

// ---------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------

type ApprovalKind = 'approved' | 'rejected' | 'cancelled' | 'expired' | 'pending-prod' | 'pending-staging';
const CLOSED_KINDS: ApprovalKind[] = ['approved', 'approved', 'rejected', 'cancelled', 'expired'];
const PENDING = 10;
const REQUESTERS = 20;
const APPROVER_ME = 'U0REQ00';
/** One request every 15 minutes: 96 a day. */
const APPROVAL_EVERY_MS = 15 * 60_000;
const requester = (i: number) => `U0REQ${String(i % REQUESTERS).padStart(2, '0')}`;

export async function approvalTemplates(file: string): Promise<Map<ApprovalKind, { id: string; createdAt: number }>> {
  const url = `file:${file}`;
  await migrate(url);
  const db = await openDatabase(url);
  const clock = new ManualClock(Date.now() - 30 * 86_400_000);
  const { kernel, services } = inProcess(db, clock, benchPolicy(), ['U0ADMIN']);
  const apr = services.approvals;
  const admin = await kernel.actor('slack', TEAM, 'U0ADMIN', 'ada');
  const grant = async (user: string, name: string, role: Parameters<typeof services.admin.grant>[2]) => {
    await kernel.actor('slack', TEAM, user, name);
    await services.admin.grant(admin, meta('grant'), role, user);
    return kernel.actor('slack', TEAM, user, name);
  };
  const rm = await grant('U0RM', 'rosa', 'release_manager');
  const cto = await grant('U0CTO', 'chen', 'cto');
  const sec = await grant('U0SEC', 'sam', 'security_lead');
  const me = await grant(APPROVER_ME, 'mia', 'tech_lead');
  for (let i = 1; i < REQUESTERS; i++) await kernel.actor('slack', TEAM, requester(i), `req${i}`);
  const asker = await kernel.actor('slack', TEAM, requester(1), 'req1');
  const out = new Map<ApprovalKind, { id: string; createdAt: number }>();
  for (const kind of ['approved', 'rejected', 'cancelled', 'expired', 'pending-prod', 'pending-staging'] as ApprovalKind[]) {
    clock.advance(86_400_000);
    const createdAt = clock.now().getTime();
    const environment = kind === 'rejected' || kind === 'pending-staging' ? 'staging' : 'production';
    await apr.requestDeploy(asker, { ...meta('deploy'), channelId: 'C0DEPLOYS' }, { environment, component: 'checkout-api', version: `2.${out.size}.0`, reason: 'Fixes the card retry loop' });
    const row = await db.read((tx) => tx.approvalRequest.findFirstOrThrow({ orderBy: { number: 'desc' } }));
    if (kind === 'approved' || kind === 'pending-prod') {
      clock.advance(10 * 60_000);
      await apr.vote(rm, meta('vote'), row.id, 'approve');
    }
    if (kind === 'approved') {
      clock.advance(10 * 60_000);
      await apr.vote(cto, meta('vote'), row.id, 'approve');
      clock.advance(10 * 60_000);
      await apr.vote(sec, meta('vote'), row.id, 'approve');
    }
    if (kind === 'rejected') {
      clock.advance(20 * 60_000);
      await apr.vote(me, meta('vote'), row.id, 'reject', 'The migration has no rollback step');
    }
    if (kind === 'cancelled') {
      clock.advance(5 * 60_000);
      await apr.cancel(asker, meta('cancel'), `APR-${row.number}`);
    }
    if (kind === 'expired') {
      clock.set(row.expiresAt.getTime() + 1000);
      const timer = await db.read((tx) => tx.timer.findUniqueOrThrow({ where: { key: `approval:${row.id}:expire` } }));
      await db.tx((tx) => apr.onExpire(tx, timer as unknown as Parameters<typeof apr.onExpire>[1]));
    }
    const now = await db.read((tx) => tx.approvalRequest.findUniqueOrThrow({ where: { id: row.id } }));
    const want = { approved: 'approved', rejected: 'rejected', cancelled: 'cancelled', expired: 'expired', 'pending-prod': 'pending', 'pending-staging': 'pending' }[kind];
    if (now.status !== want) throw new Error(`approval template ${kind}: status ${now.status}, expected ${want}`);
    out.set(kind, { id: row.id, createdAt });
  }
  await db.close();
  return out;
}

export function seedApprovals(templateFile: string, file: string, n: number, templates: Map<ApprovalKind, { id: string; createdAt: number }>): void {
  const src = new Sqlite(templateFile);
  const dst = new Sqlite(file);
  dst.pragma('journal_mode = WAL');
  dst.pragma('synchronous = OFF');
  const ins = new Inserter(dst);
  const tpl = new Map(
    [...templates].map(([k, t]) => [
      k,
      { ...t, row: src.prepare('SELECT * FROM approval_requests WHERE id = ?').get(t.id)!, votes: src.prepare('SELECT * FROM approval_votes WHERE request_id = ?').all(t.id) },
    ]),
  );
  const now = Date.now();
  let number = 0;
  const copy = (kind: ApprovalKind, createdAt: number, by: string) => {
    const t = tpl.get(kind)!;
    const id = randomUUID();
    const shift = createdAt - t.createdAt;
    number += 1;
    const r = shiftTimes(t.row, shift);
    ins.insert('approval_requests', { ...r, id, number, requester_id: `${WORKSPACE}:${by}`, channel_id: 'C0DEPLOYS' });
    for (const v of t.votes) {
      const { id: _, ...rest } = shiftTimes(v, shift);
      ins.insert('approval_votes', { ...rest, request_id: id });
    }
  };
  dst.transaction(() => {
    copyPeople(src, ins);
    // Oldest first, so numbers grow with time: n closed ones, then the pending ones of the last hours.
    for (let slot = n - 1; slot >= 0; slot--) copy(CLOSED_KINDS[slot % CLOSED_KINDS.length]!, now - (slot + PENDING + 1) * APPROVAL_EVERY_MS, requester(slot));
    for (let k = PENDING - 1; k >= 0; k--) copy(k % 2 ? 'pending-prod' : 'pending-staging', now - (k + 1) * APPROVAL_EVERY_MS, requester(1 + (k % (REQUESTERS - 1))));
    ins.insert('counters', { workspace_id: WORKSPACE, kind: 'APR', value: number });
  })();
  dst.pragma('wal_checkpoint(TRUNCATE)');
  src.close();
  dst.close();
}

async function approvalsSection(o: CostOptions, tmp: string, failures: string[]): Promise<CostSection> {
  const sizes = o.quick ? [100, 1_000, 10_000] : [1_000, 10_000, 100_000];
  const dir = join(tmp, 'approvals');
  mkdirSync(dir, { recursive: true });
  const templateFile = join(dir, 'templates.db');
  const t0 = performance.now();
  const templates = await approvalTemplates(templateFile);
  o.log(`  approvals: ${templates.size} templates made through the services in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const cols = {
    list: [] as (number | null)[],
    listP90: [] as (number | null)[],
    listCpu: [] as (number | null)[],
    home: [] as (number | null)[],
    homeP90: [] as (number | null)[],
    homeCpu: [] as (number | null)[],
  };
  try {
    for (const n of sizes) {
      const file = join(dir, `approvals-${n}.db`);
      const url = `file:${file}`;
      await migrate(url);
      const ts = performance.now();
      seedApprovals(templateFile, file, n, templates);
      const seedMs = performance.now() - ts;
      const db = await openDatabase(url);
      const { kernel, services } = inProcess(db, systemClock, benchPolicy(), ['U0ADMIN']);
      const me = await kernel.actor('slack', TEAM, APPROVER_ME);
      const listed = await services.approvals.list(me);
      const waiting = listed.sections?.[0]?.title ?? '';
      const mine = listed.sections?.[1]?.title ?? '';
      const asked = Math.min(20, Math.ceil(n / REQUESTERS));
      if (waiting !== `Waiting for your approval (${PENDING})` || mine !== `You asked for (${asked})`) {
        failures.push(`approvals ${n}: /approval list shows "${waiting}" and "${mine}", expected ${PENDING} waiting and ${asked} asked for`);
      }
      const list = await timeRepeated(() => services.approvals.list(me), REPS);
      const home = appHomeOpener(kernel, services, APPROVER_ME);
      const homeMs = await timeRepeated(home.open, REPS);
      await db.close();
      cols.list.push(p50(list));
      cols.listP90.push(p90(list));
      cols.listCpu.push(p50(list.cpu));
      cols.home.push(p50(homeMs));
      cols.homeP90.push(p90(homeMs));
      cols.homeCpu.push(p50(homeMs.cpu));
      o.log(`  approvals ${fmtSize(n)}: seeded in ${(seedMs / 1000).toFixed(1)} s; /approval list p50 ${p50(list).toFixed(1)} ms ("${waiting}", "${mine}"), App Home p50 ${p50(homeMs).toFixed(1)} ms`);
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    key: 'approvals',
    title: 'approvals',
    sizeLabel: 'closed',
    sizes,
    rows: [
      row(sizes, '/approval list, p50', 'ms', cols.list, VIEW_GOAL),
      row(sizes, '/approval list, p90', 'ms', cols.listP90),
      row(sizes, '/approval list, CPU per call (p50)', 'ms', cols.listCpu),
      row(sizes, 'App Home, p50', 'ms', cols.home, VIEW_GOAL),
      row(sizes, 'App Home, p90', 'ms', cols.homeP90),
      row(sizes, 'App Home, CPU per call (p50)', 'ms', cols.homeCpu),
    ],
    notes: [
      `history: 96 deployment requests a day from ${REQUESTERS} people (approved by three votes, rejected, cancelled, expired), plus ${PENDING} pending from the last hours, copied with their votes from templates made through the services; measured for a tech lead who can approve the pending ones and asked for 1/${REQUESTERS} of the history`,
    ],
  };
}

// ---------------------------------------------------------------------------
// People: role grants
// ---------------------------------------------------------------------------

/**
 * N role grants in the workspace (N/2 members holding oncall and engineer each, roles that approve no deploy), besides the three approvers of a
 * pending production deploy (release_manager, cto, security_lead: one each, made through the services, as is the
 * request). Timed: the actor lookup every command and click starts with (Kernel.actor for a member seen before), and
 * drawing the request's card, which lists who may still approve (ApprovalService.viewOfRow and blocks/approval.ts,
 * what the outbox's drawer does for every copy redrawn).
 */
async function peopleSection(o: CostOptions, tmp: string, failures: string[]): Promise<CostSection> {
  const sizes = o.quick ? [100, 1_000, 10_000] : [1_000, 10_000, 100_000];
  const dir = join(tmp, 'people');
  mkdirSync(dir, { recursive: true });
  const cols = { actor: [] as (number | null)[], actorCpu: [] as (number | null)[], card: [] as (number | null)[], cardCpu: [] as (number | null)[] };
  try {
    for (const n of sizes) {
      const file = join(dir, `people-${n}.db`);
      const url = `file:${file}`;
      await migrate(url);
      const db = await openDatabase(url);
      const { kernel, services } = inProcess(db, systemClock, benchPolicy(), ['U0ADMIN']);
      const admin = await kernel.actor('slack', TEAM, 'U0ADMIN', 'ada');
      for (const [user, role] of [
        ['U0RM', 'release_manager'],
        ['U0CTO', 'cto'],
        ['U0SEC', 'security_lead'],
      ] as const) {
        await kernel.actor('slack', TEAM, user);
        await services.admin.grant(admin, meta('grant'), role, user);
      }
      const asker = await kernel.actor('slack', TEAM, requester(1), 'req1');
      await services.approvals.requestDeploy(
        asker,
        { ...meta('deploy'), channelId: 'C0DEPLOYS' },
        { environment: 'production', component: 'checkout-api', version: '3.1.0', reason: 'Fixes the card retry loop' },
      );
      const request = await db.read((tx) => tx.approvalRequest.findFirstOrThrow({ orderBy: { number: 'desc' } }));
      // the members, by SQL on a connection of its own (the bot's is idle in between)
      const ts = performance.now();
      const raw = new Sqlite(file);
      const workspaceId = `slack:${TEAM}`;
      const now = new Date().toISOString().replace('Z', '+00:00');
      const addUser = raw.prepare('INSERT INTO users (id, workspace_id, external_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)');
      const addGrant = raw.prepare('INSERT INTO role_grants (workspace_id, user_id, role, granted_by, created_at) VALUES (?, ?, ?, ?, ?)');
      raw.transaction(() => {
        for (let i = 0; i < n / 2; i++) {
          const ext = `UM${String(i).padStart(6, '0')}`;
          const id = `${workspaceId}:${ext}`;
          addUser.run(id, workspaceId, ext, `member ${i}`, now, now);
          addGrant.run(workspaceId, id, 'oncall', `${workspaceId}:U0ADMIN`, now);
          addGrant.run(workspaceId, id, 'engineer', `${workspaceId}:U0ADMIN`, now);
        }
      })();
      raw.close();
      const seedMs = performance.now() - ts;
      const member = 'UM000007';
      const seen = await kernel.actor('slack', TEAM, member);
      if ([...seen.roles].sort().join(',') !== 'engineer,oncall') failures.push(`people ${n}: ${member} has roles ${[...seen.roles].join(', ')}, expected engineer and oncall`);
      const actor = await timeRepeated(() => kernel.actor('slack', TEAM, member), REPS);
      const draw = async () => {
        const found = await services.approvals.versionOf(request.id);
        if (!found) throw new Error('the request is gone');
        return approvalCard(await services.approvals.viewOfRow(found.row));
      };
      const drawn = JSON.stringify(await draw());
      for (const approver of ['U0RM', 'U0CTO', 'U0SEC']) if (!drawn.includes(approver)) failures.push(`people ${n}: the card does not list ${approver} among who may approve`);
      if (drawn.includes('UM0000')) failures.push(`people ${n}: the card lists a member who holds no approving role`);
      const card = await timeRepeated(draw, REPS);
      await db.close();
      cols.actor.push(p50(actor));
      cols.actorCpu.push(p50(actor.cpu));
      cols.card.push(p50(card));
      cols.cardCpu.push(p50(card.cpu));
      o.log(`  people ${fmtSize(n)} grants: seeded in ${(seedMs / 1000).toFixed(1)} s; actor lookup p50 ${p50(actor).toFixed(2)} ms, approval card drawn p50 ${p50(card).toFixed(2)} ms`);
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    key: 'people',
    title: 'people',
    sizeLabel: 'role grants',
    sizes,
    rows: [
      row(sizes, 'actor lookup (every command and click), p50', 'ms', cols.actor, VIEW_GOAL),
      row(sizes, 'actor lookup, CPU per call (p50)', 'ms', cols.actorCpu),
      row(sizes, 'approval card drawn (who may approve), p50', 'ms', cols.card, VIEW_GOAL),
      row(sizes, 'approval card drawn, CPU per call (p50)', 'ms', cols.cardCpu),
    ],
    notes: [
      'N role grants: N/2 members holding oncall and engineer (no approving role), besides one release_manager, cto and security_lead; a pending production deploy needing all three; the actor is a member seen before (Kernel.actor), the card is drawn as the outbox draws each copy',
    ],
  };
}

// ---------------------------------------------------------------------------
// Outbox backlog
// ---------------------------------------------------------------------------

/** The dispatcher's default concurrency: how many effects one claim asks for. */
const CLAIM_BATCH = 8;

/**
 * N effects due at once after a history of N done ones: half DMs, half redraws of N/10 messages (five queued per
 * message, coalesced: only the first of each may run).
 */
async function seedOutbox(db: Database, n: number, now: Date): Promise<void> {
  const series = db.provider === 'postgresql' ? 'generate_series(1, ?) AS s(i)' : '(WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ?) SELECT i FROM r) AS s';
  const messages = Math.max(1, Math.floor(n / 10));
  const insert = (status: string, extra: string) =>
    `INSERT INTO outbox (workspace_id, platform, op, payload, status, attempts, next_attempt_at, created_at, updated_at, done_at, coalesce_key, result)
     SELECT '${WORKSPACE}', 'slack', CASE WHEN i % 2 = 0 THEN 'post' ELSE 'update' END, '{"args":{}}', '${status}', ${status === 'done' ? 1 : 0}, ?, ?, ?, ${extra}
       FROM ${series}`;
  // history: done, the same mix
  await db.run(insert('done', `?, CASE WHEN i % 2 = 0 THEN NULL ELSE 'slack:C0COST:' || (i % ${messages}) END, '{}'`), new Date(now.getTime() - 3_600_000), now, now, now, n);
  // due: spread over the last minute, the oldest first
  await db.run(insert('pending', `NULL, CASE WHEN i % 2 = 0 THEN NULL ELSE 'slack:C0COST:' || (i % ${messages}) END, NULL`), new Date(now.getTime() - 60_000), now, now, n);
  if (db.provider === 'postgresql') await db.run('ANALYZE outbox');
}

async function claimRun(kind: BenchDb, n: number, dir: string, log: (s: string) => void, failures: string[]): Promise<{ p50: number; p90: number; cpu: number } | undefined> {
  const database = await createBenchDatabase(kind, dir, `outbox_${n}`);
  try {
    await migrate(database.url);
    const db = await openDatabase(database.url);
    try {
      const clock = new ManualClock(new Date());
      const ts = performance.now();
      await seedOutbox(db, n, clock.now());
      const seedMs = performance.now() - ts;
      const owner = 'cost:claim';
      // Each claim is timed, then its effects are put back (untimed): every claim sees the same backlog.
      const times: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < REPS + 2; i++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const rows = await claimEffects(db, clock, owner, CLAIM_BATCH, 60_000);
        const ms = performance.now() - t0;
        const c = process.cpuUsage(c0);
        if (i >= 2) {
          times.push(ms);
          cpu.push((c.user + c.system) / 1000);
        }
        if (rows.length !== CLAIM_BATCH) failures.push(`outbox ${kind} ${n}: a claim took ${rows.length} effects, expected ${CLAIM_BATCH}`);
        const ids = rows.map((r) => r.id);
        const put = ids.length
          ? await db.run(`UPDATE outbox SET status = 'pending', attempts = 0, leased_by = NULL, lease_until = NULL WHERE id IN (${marks(ids)}) AND leased_by = ?`, ...ids, owner)
          : 0;
        if (put !== ids.length) failures.push(`outbox ${kind} ${n}: ${ids.length} effects claimed but ${put} found leased`);
      }
      log(`  outbox ${kind} ${fmtSize(n)} due: seeded in ${(seedMs / 1000).toFixed(1)} s; claim of ${CLAIM_BATCH} p50 ${p50(times).toFixed(2)} ms, p90 ${p90(times).toFixed(2)} ms`);
      return { p50: p50(times), p90: p90(times), cpu: p50(cpu) };
    } finally {
      await db.close();
    }
  } finally {
    await database.drop();
  }
}

async function outboxSection(o: CostOptions, tmp: string, failures: string[]): Promise<CostSection> {
  const sizes = o.quick ? [100, 1_000, 10_000] : [1_000, 10_000, 100_000];
  const dir = join(tmp, 'outbox');
  mkdirSync(dir, { recursive: true });
  const pgProblem = await postgresProblem();
  const notes: string[] = [
    `N effects due at once (half DMs, half redraws of N/10 messages, five queued per message) after a history of N done; each claim asks for ${CLAIM_BATCH} (the dispatcher's concurrency) and its effects are put back afterwards, untimed (${REPS} claims after 2 warm-up ones); PostgreSQL analyzed after the load, as autovacuum would`,
  ];
  const cols: Record<BenchDb, { p50: (number | null)[]; p90: (number | null)[]; cpu: (number | null)[] }> = {
    sqlite: { p50: [], p90: [], cpu: [] },
    postgresql: { p50: [], p90: [], cpu: [] },
  };
  try {
    for (const kind of ['sqlite', 'postgresql'] as const) {
      if (kind === 'postgresql' && pgProblem) {
        notes.push(`PostgreSQL not measured: ${pgProblem}`);
        for (const c of Object.values(cols.postgresql)) c.push(...sizes.map(() => null));
        continue;
      }
      for (const n of sizes) {
        const r = await claimRun(kind, n, dir, o.log, failures);
        cols[kind].p50.push(r?.p50 ?? null);
        cols[kind].p90.push(r?.p90 ?? null);
        cols[kind].cpu.push(r?.cpu ?? null);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    key: 'outbox',
    title: 'outbox backlog',
    sizeLabel: 'due',
    sizes,
    rows: [
      row(sizes, `claim of ${CLAIM_BATCH}, SQLite, p50`, 'ms', cols.sqlite.p50),
      row(sizes, `claim of ${CLAIM_BATCH}, SQLite, p90`, 'ms', cols.sqlite.p90),
      row(sizes, `claim of ${CLAIM_BATCH}, PostgreSQL, p50`, 'ms', cols.postgresql.p50),
      row(sizes, `claim of ${CLAIM_BATCH}, PostgreSQL, p90`, 'ms', cols.postgresql.p90),
      row(sizes, `claim of ${CLAIM_BATCH}, PostgreSQL, this process's CPU (p50)`, 'ms', cols.postgresql.cpu),
    ],
    notes,
  };
}

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------

export async function runCostBench(o: CostOptions): Promise<CostFigures> {
  // The CLI runs as `muster` (bin/muster.js), which runs dist/cli.js when it is newer than the sources: build it now.
  ensureBuilt(root);
  const started = performance.now();
  const cpus = os.cpus();
  const figures: CostFigures = {
    quick: o.quick,
    startedAt: new Date().toISOString(),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      totalMemMb: Math.round(os.totalmem() / 1024 / 1024),
      loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    sections: [],
    failures: [],
    seconds: 0,
  };
  const tmp = mkdtempSync(join(os.tmpdir(), 'muster-cost-'));
  const logDir = o.logDir ?? join(root, 'bench', 'results', 'logs');
  mkdirSync(logDir, { recursive: true });
  const runs = (k: CostSection['key']) => !o.only || o.only.includes(k);
  try {
    if (runs('timers')) {
      o.log('pending timers …');
      const s = await timersSection(o, tmp, logDir, figures.failures);
      figures.sections.push(s);
    }
    if (runs('incidents')) {
      o.log('incidents …');
      const s = await incidentsSection(o, tmp, logDir, figures.failures);
      figures.sections.push(s);
    }
    if (runs('approvals')) {
      o.log('approvals …');
      const s = await approvalsSection(o, tmp, figures.failures);
      figures.sections.push(s);
    }
    if (runs('people')) {
      o.log('people …');
      const s = await peopleSection(o, tmp, figures.failures);
      figures.sections.push(s);
    }
    if (runs('outbox')) {
      o.log('outbox backlog …');
      const s = await outboxSection(o, tmp, figures.failures);
      figures.sections.push(s);
    }
    if (runs('audit')) {
      o.log('audit trail …');
      const s = await auditSection(o, tmp, figures.failures);
      figures.sections.push(s);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  figures.machine.loadAvgAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  figures.seconds = (performance.now() - started) / 1000;
  return figures;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const onlyArg = args.find((a) => a.startsWith('--only='))?.slice('--only='.length) ?? (args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined);
  const only = onlyArg ? (onlyArg.split(',').map((s) => s.trim()) as CostSection['key'][]) : undefined;
  const jsonFile = args.find((a) => a.startsWith('--json='))?.slice('--json='.length) ?? (args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined);
  const f = await runCostBench({ quick, log: (s) => console.log(s), only });
  for (const s of f.sections) console.log(`\n${formatSection(s)}`);
  console.log('');
  if (jsonFile) {
    writeFileSync(jsonFile, `${JSON.stringify(f, null, 2)}\n`);
    console.log(`wrote ${jsonFile}`);
  }
  console.log(
    `machine: ${f.machine.cpus} CPUs (${f.machine.cpuModel}), node ${f.machine.node}; load average ${f.machine.loadAvgAtStart.join(' / ')} at the start, ${f.machine.loadAvgAtEnd?.join(' / ')} at the end; ${f.seconds.toFixed(0)} s`,
  );
  if (f.failures.length) {
    console.log(`\nFAILED:\n${f.failures.map((x) => `  - ${x}`).join('\n')}`);
    process.exitCode = 1;
  } else console.log('PASS');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
