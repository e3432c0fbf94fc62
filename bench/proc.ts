/**
 * Child-process helpers for the benchmark: spawn with output to a log file, readiness, RSS, graceful stop.
 *
 * Every child writes its stdout and stderr straight to its own log file (bench/results/logs/…), never to
 * the terminal and never through a pipe the bench would have to read: the children log at the production
 * level (LOG_LEVEL=info), and what that costs them is part of what is measured. The bench reads the file
 * back only to count warnings and to show the end of it when something failed.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import http from 'node:http';
import net from 'node:net';

/** What a section that starts its own FakeSlack and Muster is given by bench/run.ts (the burst, the soak). */
export interface SectionOptions {
  quick: boolean;
  root: string;
  tmp: string;
  logDir: string;
  /** environment for the Muster child, Slack / database variables already removed */
  baseEnv: NodeJS.ProcessEnv;
  secret: string;
  botToken: string;
  log: (line: string) => void;
  onChild?: (c: Child | undefined) => void;
}

/** A positive number from the environment, or `fallback` when unset; anything else throws, naming the variable. */
export function positiveFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${raw} is not a positive number`);
  return n;
}

/** MUSTER_AUDIT_KEY of the Muster children: the bench never uses (or writes a key file for) a real key. */
export const BENCH_AUDIT_KEY = 'muster-bench-audit-key-0123456789abcdef';

/**
 * The environment of a Muster child against a fake Slack: the section's base environment, Slack credentials, its
 * database and port, the bench's audit key; a policy file and admins when given, then `extra`.
 */
export function musterEnv(
  o: { baseEnv: NodeJS.ProcessEnv; botToken: string; secret: string },
  w: { port: number; slackUrl: string; databaseUrl: string; config?: string; admins?: string; extra?: NodeJS.ProcessEnv },
): NodeJS.ProcessEnv {
  return {
    ...o.baseEnv,
    PORT: String(w.port),
    SLACK_BOT_TOKEN: o.botToken,
    SLACK_SIGNING_SECRET: o.secret,
    SLACK_API_URL: w.slackUrl,
    DATABASE_URL: w.databaseUrl,
    MUSTER_AUDIT_KEY: BENCH_AUDIT_KEY,
    ...(w.admins !== undefined ? { MUSTER_ADMINS: w.admins } : {}),
    ...(w.config !== undefined ? { MUSTER_CONFIG: w.config } : {}),
    ...w.extra,
  };
}

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** the file that receives the child's stdout and stderr (truncated at start) */
  logFile: string;
  /** Resolves when the process exits (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
}

/**
 * Extra node flags for every Muster child a bench starts, from BENCH_MUSTER_NODE_ARGS (space separated), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where its time goes.
 */
export function musterNodeArgs(): string[] {
  return (process.env.BENCH_MUSTER_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

const built = new Set<string>();

/**
 * Compiles what the bench starts, once per bench process: Muster as `npm start` runs it (scripts/build.mjs: dist/main.js
 * and dist/cli.js, plain JavaScript, no tsx in the process), and the bare Bolt baseline the same way
 * (scripts/build.mjs --bench: dist/bench/bare-bolt.js), so that neither side of a ratio carries tsx's loader.
 */
export function ensureBuilt(root: string): void {
  if (built.has(root)) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet', '--bench'], { cwd: root, stdio: 'inherit' });
  built.add(root);
}

/**
 * The V8 flags `npm start` gives node (package.json config.node_flags, passed as $npm_package_config_node_flags by
 * the start script: a young generation of at most 2 × 8 MB and two V8 helper threads, docs/deployment.md).
 */
export function startFlags(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { config?: { node_flags?: string } };
  return (pkg.config?.node_flags ?? '').split(' ').filter(Boolean);
}

/**
 * Node arguments that start Muster as `npm start` does (its flags, startFlags), then BENCH_MUSTER_NODE_ARGS, which
 * win where they set the same flag (cwd: the root).
 */
export function musterMain(root: string): string[] {
  ensureBuilt(root);
  return [...startFlags(root), ...musterNodeArgs(), 'dist/main.js'];
}

/** Node arguments that start the bare Bolt baseline (bench/bare-bolt.ts), compiled like Muster (cwd: the root). */
export function bareBoltMain(root: string): string[] {
  ensureBuilt(root);
  return ['dist/bench/bare-bolt.js'];
}

export function startChild(name: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logFile: string }): Child {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'w');
  let proc: ChildProcess;
  try {
    proc = spawn(process.execPath, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd); // the child has its own copy
  }
  if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    logFile: opts.logFile,
    exited: undefined as unknown as Child['exited'],
  };
  child.exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      child.exitInfo = { code, signal };
      resolve({ code, signal });
    });
    proc.once('error', (e) => {
      appendFileSync(opts.logFile, `spawn error: ${e.message}\n`);
      child.exitInfo = { code: null, signal: null };
      resolve({ code: null, signal: null });
    });
  });
  return child;
}

function readLog(c: Child, fromByte = 0): string {
  try {
    const buf = readFileSync(c.logFile);
    return buf.subarray(Math.min(fromByte, buf.length)).toString('utf8');
  } catch {
    return '';
  }
}

/** How much the child has logged so far (bytes): a mark for `logSince`. */
export function logMark(c: Child): number {
  try {
    return statSync(c.logFile).size;
  } catch {
    return 0;
  }
}

const PINO_LEVEL = /^\{"level":(\d+)/;

/**
 * What the child logged after `mark`: how many lines, and the lines at warn or above (pino level ≥ 40;
 * a line that is not pino JSON, such as a stack trace on stderr, counts as one too).
 */
export function logSince(c: Child, mark = 0): { lines: number; warnPlus: string[] } {
  const lines = readLog(c, mark)
    .split('\n')
    .filter((l) => l.trim() !== '');
  const warnPlus = lines.filter((l) => {
    const m = PINO_LEVEL.exec(l);
    return !m || Number(m[1]) >= 40;
  });
  return { lines: lines.length, warnPlus };
}

export function describeExit(c: Child): string {
  const e = c.exitInfo;
  if (!e) return `${c.name} (pid ${c.pid}) is still running`;
  return `${c.name} (pid ${c.pid}) exited with ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}`;
}

/** Indents lines for the terminal, keeping the last `maxChars`. */
export function indentTail(text: string, maxChars = 8_000, what = 'nothing'): string {
  const t = text.trimEnd();
  if (!t) return `  (${what})`;
  const cut = t.length > maxChars ? `…${t.slice(-maxChars)}` : t;
  return cut
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
}

/** The end of the child's log file, for the terminal when something went wrong. */
export function dumpOutput(c: Child, maxChars = 8_000): string {
  return indentTail(readLog(c), maxChars, `${c.name} wrote nothing to ${c.logFile}`);
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function getStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
  });
}

/** Polls `url` until it answers 200; fails early if the child exits. */
export async function waitForHttp200(child: Child, url: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 0;
  while (performance.now() < deadline) {
    if (child.exitInfo) throw new Error(`${describeExit(child)} before ${url} answered 200`);
    last = await getStatus(url, 1_000);
    if (last === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${child.name}: ${url} did not answer 200 within ${timeoutMs} ms (last status ${last || 'no answer'})`);
}

/** Waits for a line matching `re` in the child's log file (polled every 10 ms); fails early if the child exits. */
export async function waitForLine(child: Child, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    for (const line of readLog(child).split('\n')) {
      const m = line.match(re);
      if (m) return m;
    }
    if (child.exitInfo) throw new Error(`${describeExit(child)} before it was ready`);
    if (performance.now() > deadline) throw new Error(`${child.name}: no line matching ${re} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Memory {
  /** resident set size, MB */
  rssMb: number;
  /** peak resident set size (VmHWM), MB, when /proc has it */
  peakMb?: number;
}

/** RSS of a live process: /proc/<pid>/status on Linux, `ps -o rss=` elsewhere. */
export function memoryOf(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => {
      const m = status.match(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm'));
      return m?.[1] ? Number(m[1]) : undefined;
    };
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    if (rss !== undefined) return { rssMb: rss / 1024, ...(hwm !== undefined ? { peakMb: hwm / 1024 } : {}) };
  } catch {
    // not Linux, or the process is gone: try ps
  }
  try {
    const out = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    const kb = Number(out);
    return Number.isFinite(kb) && kb > 0 ? { rssMb: kb / 1024 } : undefined;
  } catch {
    return undefined;
  }
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  /** false when it had to be SIGKILLed after the grace period, or had already exited */
  graceful: boolean;
  /** it had exited on its own before the SIGTERM */
  alreadyExited?: boolean;
}

/** SIGTERM, wait up to `graceMs` for exit, SIGKILL otherwise. Times the shutdown. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<StopResult> {
  if (child.exitInfo) return { ...child.exitInfo, ms: 0, graceful: false, alreadyExited: true };
  const started = performance.now();
  child.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), graceMs);
  });
  const first = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    child.proc.kill('SIGKILL');
    const e = await child.exited;
    return { ...e, ms: performance.now() - started, graceful: false };
  }
  return { ...first, ms: performance.now() - started, graceful: true };
}

/** Last resort (run timeout, crash): SIGKILL if still running. */
export function killNow(child: Child | undefined): void {
  if (child && !child.exitInfo) {
    try {
      child.proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** SQL statements Muster has run so far, by kind (its GET /metrics: muster_db_statement_duration_seconds_count). */
export async function statementCounts(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const m of text.matchAll(/^muster_db_statement_duration_seconds_count\{statement="([^"]+)"\} (\d+)/gm)) out.set(m[1]!, Number(m[2]));
  } catch {
    // no figures: the table says so
  }
  return out;
}

/**
 * Statements per click between two statementCounts readings, by kind (those that moved), and their total. The
 * /metrics scrape itself reads the outbox's depth: a few statements per reading, next to thousands of clicks.
 */
export function statementsPer(before: Map<string, number>, after: Map<string, number>, clicks: number): Record<string, number> {
  return Object.fromEntries([...after].map(([k, n]) => [k, Math.round(((n - (before.get(k) ?? 0)) / clicks) * 100) / 100]).filter(([, n]) => (n as number) > 0));
}

/** Write system calls (write, writev, send…) a process has made so far: `syscw` of /proc/<pid>/io (Linux). */
export function writeCallsOf(pid: number): number | undefined {
  try {
    const m = /^syscw:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system) used so far by every process of the machine named `comm`, ms, on Linux (undefined
 * elsewhere, or when there is none): for PostgreSQL on the same machine ("postgres"), its server, background processes
 * and one backend per connection. A backend that exits within a span takes its CPU with it; Muster's pool keeps its
 * connections, so over a bench phase the difference is the server's work for that phase.
 */
export function cpuMsOfProcesses(comm: string): number | undefined {
  let total = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== comm) continue;
      const ms = cpuMsOfStat(stat);
      if (ms !== undefined) {
        total += ms;
        found = true;
      }
    } catch {
      // it exited meanwhile
    }
  }
  return found ? total : undefined;
}

/**
 * CPU time (user + system) used so far, ms, on Linux (undefined elsewhere): by the whole process (GC
 * and other helper threads included), or with `mainThread` by its main thread only — the JavaScript
 * event loop, where Bolt, Prisma and better-sqlite3 all run.
 */
export function cpuMsOf(pid: number, mainThread = false): number | undefined {
  try {
    return cpuMsOfStat(readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) in a `/proc/<pid>/stat` (or `/proc/<pid>/task/<tid>/stat`) line, ms. */
function cpuMsOfStat(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // after "pid (comm) ": state is field 3, utime 14, stime 15 → indexes 11 and 12 here
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : undefined; // USER_HZ is 100 on Linux
}
