import { join } from 'node:path';
import { expect } from 'vitest';
import { freePort, spawnNode, type Proc } from './process.ts';

/** The sandbox as a process, driven through the page's own JSON API (test/platforms/sandbox/, test/build.test.ts). */

export interface Running {
  proc: Proc;
  url: string;
}

/**
 * Starts `node <nodeArgs>` as a newcomer's shell would run the sandbox (no chat credentials, no audit key), its data
 * under `dir`, and waits for its banner.
 */
export async function startSandboxProcess(nodeArgs: string[], dir: string, extra: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const proc = spawnNode(nodeArgs, { PORT: String(port), MUSTER_SANDBOX_DIR: join(dir, 'sandbox'), MUSTER_AUDIT_KEY: '', LOG_LEVEL: 'warn', ...extra });
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 40_000;
  while (!proc.stdout().includes('Open http://')) {
    if (proc.child.exitCode !== null) throw new Error(`exited ${proc.child.exitCode}: ${proc.stderr()}${proc.stdout()}`);
    if (Date.now() > deadline) throw new Error(`no banner: ${proc.stderr()}${proc.stdout()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, url };
}

export async function stop(r: Running): Promise<number | null> {
  r.proc.child.kill('SIGTERM');
  return (await r.proc.exited).code;
}

export async function act(r: Running, body: Record<string, unknown>): Promise<{ ok: boolean; error?: string; errors?: Record<string, string> }> {
  const res = await fetch(`${r.url}/sandbox/api/do`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as { ok: boolean; error?: string };
}

export interface View {
  channels: Array<{ id: string; name: string; isArchived: boolean }>;
  channel: { messages: Array<{ ts: string; text: string; blocks: unknown[] | null; bot: boolean }>; ephemerals: Array<{ text: string }>; pins: string[] } | null;
  modal: { id: string; blocks: unknown[] } | null;
}

export async function view(r: Running, user: string, channel: string): Promise<View> {
  const res = await fetch(`${r.url}/sandbox/api/view?user=${user}&channel=${channel}`);
  expect(res.status).toBe(200);
  return (await res.json()) as View;
}

export async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
