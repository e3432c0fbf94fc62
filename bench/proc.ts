/** Child-process helpers for the benchmark: spawn with captured output, readiness, RSS, graceful stop. */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

/** MUSTER_AUDIT_KEY of the Muster children: the bench never uses (or writes a key file for) a real key. */
export const BENCH_AUDIT_KEY = 'muster-bench-audit-key-0123456789abcdef';

/** Keeps the last `limit` characters a stream wrote. */
class Tail {
  private buf = '';
  lines = 0;
  constructor(private readonly limit = 32_000) {}
  push(chunk: string): void {
    this.buf += chunk;
    for (const c of chunk) if (c === '\n') this.lines += 1;
    if (this.buf.length > this.limit) this.buf = this.buf.slice(-this.limit);
  }
  text(): string {
    return this.buf;
  }
}

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Output (stdout + stderr, interleaved) — the last 32 kB. */
  output: Tail;
  stderr: Tail;
  /** Resolves when the process exits (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo?: { code: number | null; signal: NodeJS.Signals | null };
  /** Called with each stdout line. */
  onLine?: (line: string) => void;
}

export function startChild(name: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Child {
  const proc = spawn(process.execPath, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    output: new Tail(),
    stderr: new Tail(),
    exited: undefined as unknown as Child['exited'],
  };
  child.exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      child.exitInfo = { code, signal };
      resolve({ code, signal });
    });
    proc.once('error', (e) => {
      child.stderr.push(`spawn error: ${e.message}\n`);
      child.exitInfo = { code: null, signal: null };
      resolve({ code: null, signal: null });
    });
  });
  let partial = '';
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    child.output.push(d);
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) child.onLine?.(l);
  });
  proc.stderr!.on('data', (d: string) => {
    child.output.push(d);
    child.stderr.push(d);
  });
  return child;
}

export function describeExit(c: Child): string {
  const e = c.exitInfo;
  if (!e) return `${c.name} (pid ${c.pid}) is still running`;
  return `${c.name} (pid ${c.pid}) exited with ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}`;
}

export function dumpOutput(c: Child, maxChars = 8_000): string {
  const text = c.output.text().trimEnd();
  if (!text) return `  (${c.name} wrote nothing to stdout/stderr)`;
  const cut = text.length > maxChars ? `…${text.slice(-maxChars)}` : text;
  return cut
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
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

/** Waits for a stdout line matching `re`; fails early if the child exits. */
export function waitForLine(child: Child, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.name}: no line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
    child.onLine = (line) => {
      const m = line.match(re);
      if (m) {
        clearTimeout(timer);
        child.onLine = undefined;
        resolve(m);
      }
    };
    void child.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${describeExit(child)} before it was ready`));
    });
  });
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
