import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { AUDIT_KEY } from './auditKey.ts';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `node --import tsx src/main.ts` (what `npm start` runs) with only the given env. */
export function startMain(env: Record<string, string>): Proc {
  return spawnNode(['--import', 'tsx', 'src/main.ts'], env);
}

/**
 * `startMain` on a free port, once its /readyz answers: the process and its URL. freePort's port can be taken by
 * another test file's server before Muster binds it; Muster then exits with EADDRINUSE, and this starts it again on
 * another port.
 */
export async function startMainReady(env: Record<string, string>): Promise<{ proc: Proc; url: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = startMain({ ...env, PORT: String(port) });
    try {
      await waitReady(url, proc);
      return { proc, url };
    } catch (e) {
      if (attempt < 3 && /EADDRINUSE/.test(proc.stderr() + proc.stdout())) continue;
      throw e;
    }
  }
}

export function spawnNode(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    // The test audit key unless the test sets its own ('' unsets it).
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', MUSTER_AUDIT_KEY: AUDIT_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (err += String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function waitReady(url: string, proc: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const port = Number(new URL(url).port);
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`process exited early (${proc.child.exitCode}): ${proc.stderr()}${proc.stdout()}`);
    try {
      const r = await fetch(`${url}/readyz`);
      // Only our process's answer counts: freePort's port can be taken by another test file's server before ours
      // binds it (ours then exits with EADDRINUSE), and another Muster answers /readyz 200 too.
      if (r.status === 200 && listensOn(proc.child.pid!, port) !== false) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready after ${timeoutMs} ms: ${proc.stderr()}${proc.stdout()}`);
}

/**
 * Whether `pid` or one of its descendants (`npm start`'s node) listens on TCP `port`, from /proc (Linux); undefined
 * where /proc cannot tell.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  try {
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        // local address, state 0A (LISTEN), inode
        if (f[1]?.endsWith(hex) && f[3] === '0A') inodes.add(f[9]!);
      }
    }
  } catch {
    return undefined;
  }
  const seen = new Set<number>();
  const walk = (p: number): boolean => {
    if (seen.has(p)) return false;
    seen.add(p);
    try {
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        const socket = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${p}/fd/${fd}`));
        if (socket && inodes.has(socket[1]!)) return true;
      }
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
        for (const c of children ? children.split(/\s+/) : []) if (walk(Number(c))) return true;
      }
    } catch {
      // gone meanwhile
    }
    return false;
  };
  return walk(pid);
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
