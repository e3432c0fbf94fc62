/**
 * `npm run bench:sandbox`: what a newcomer waits for and what the sandbox costs.
 *
 *  - first run: `node dist/main.js` (what `npm start` runs after compiling, which takes about 0.2–0.4 s more and is
 *    not timed here: the bench compiles once before the runs) with no chat credentials and an empty
 *    MUSTER_SANDBOX_DIR, timed from spawn until `GET /` answers 200 (the page) — migrations, the workspace, the
 *    script bundle and the admin's role grants included; BENCH_SANDBOX_RUNS times (default 3), median and max;
 *  - a restart on the data the first run left (the "kept" path);
 *  - memory (RSS) when the page first answers, and after the guided tour done through the page's own JSON API
 *    (declare, take commander, an update, a production deploy approved by three people, a rejection with a
 *    reason, a normal change through its form and the App Home), with the time the tour took;
 *  - the size of the page's script.
 * Prints a table and writes bench/results/sandbox.json. Exits 1 when a run fails to start or the tour fails.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, memoryOf, musterMain, startChild, stopChild, type Child, type Memory } from './proc.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Math.max(1, Number(process.env.BENCH_SANDBOX_RUNS ?? 3));

interface Started {
  child: Child;
  url: string;
  ms: number;
}

function baseEnv(dataDir: string, port: number): NodeJS.ProcessEnv {
  // No SLACK_*, DISCORD_* or audit key: a fresh machine's shell.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', PORT: String(port), MUSTER_SANDBOX_DIR: dataDir, LOG_LEVEL: 'info' };
  return env;
}

async function start(dataDir: string, logName: string): Promise<Started> {
  const port = await freePort();
  const t0 = performance.now();
  const child = startChild(`sandbox ${logName}`, musterMain(root), {
    cwd: root,
    env: baseEnv(dataDir, port),
    logFile: join(root, 'bench', 'results', 'logs', `sandbox-${logName}.log`),
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = t0 + 60_000;
  for (;;) {
    if (child.exitInfo) throw new Error(`${logName}: exited ${JSON.stringify(child.exitInfo)} before the page answered (see ${child.logFile})`);
    const ok = await fetch(`${url}/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (performance.now() > deadline) throw new Error(`${logName}: no page within 60 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, url, ms: performance.now() - t0 };
}

async function act(url: string, body: Record<string, unknown>): Promise<void> {
  const r = (await (await fetch(`${url}/sandbox/api/do`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as {
    ok: boolean;
    error?: string;
    errors?: unknown;
  };
  if (!r.ok) throw new Error(`${JSON.stringify(body).slice(0, 120)}: ${r.error ?? JSON.stringify(r.errors)}`);
}

interface View {
  channels: Array<{ id: string; name: string }>;
  channel: { messages: Array<{ ts: string; text: string; blocks: unknown[] | null }> } | null;
  modal: { id: string; blocks: Array<{ type: string; block_id?: string; element?: { type: string; action_id: string; options?: Array<{ value: string }> } }> } | null;
}

async function view(url: string, user: string, channel: string): Promise<View> {
  return (await (await fetch(`${url}/sandbox/api/view?user=${user}&channel=${channel}`)).json()) as View;
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`tour: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function button(blocks: unknown[] | null, label: string): { action_id: string; block_id: string; value?: string } | undefined {
  for (const b of (blocks ?? []) as Array<{ type: string; block_id?: string; elements?: Array<{ type: string; action_id: string; value?: string; text?: { text: string } }> }>) {
    const e = b.type === 'actions' ? b.elements?.find((x) => x.type === 'button' && x.text?.text === label) : undefined;
    if (e) return { action_id: e.action_id, block_id: b.block_id ?? '', ...(e.value !== undefined ? { value: e.value } : {}) };
  }
  return undefined;
}

async function click(url: string, user: string, channel: string, match: RegExp, label: string): Promise<void> {
  const m = await until(`${label} on ${match}`, async () => (await view(url, user, channel)).channel?.messages.find((x) => match.test(x.text) && button(x.blocks, label)));
  await act(url, { op: 'action', user, channel, ts: m.ts, action: { type: 'button', ...button(m.blocks, label)!, text: label } });
}

/** The guided tour, as the page does it. */
async function tour(url: string): Promise<void> {
  const ch = async (name: string) => (await until(`#${name}`, async () => (await view(url, 'U0SBONCALL', 'C0GENERAL')).channels.find((c) => c.name.startsWith(name))))!.id;
  await act(url, { op: 'command', user: 'U0SBONCALL', channel: 'C0GENERAL', text: '/incident declare P1 Checkout is failing for EU customers' });
  const inc = await ch('inc-1-');
  await click(url, 'U0SBONCALL', inc, /^INC-1/, 'Take commander');
  await act(url, { op: 'command', user: 'U0SBONCALL', channel: inc, text: '/incident update Payments provider returns 502s; failing over' });
  const deploys = await ch('deploys');
  await act(url, { op: 'command', user: 'U0SBDEV', channel: deploys, text: '/approval deploy production api 2.4.1 Fix the checkout timeout' });
  for (const who of ['U0SBRELMGR', 'U0SBCTO', 'U0SBSECLEAD']) await click(url, who, deploys, /^APR-1 /, 'Approve');
  await until('APR-1 approved', async () => (await view(url, 'U0SBDEV', deploys)).channel?.messages.some((m) => /^APR-1 .*approved/i.test(m.text)));
  await act(url, { op: 'command', user: 'U0SBDEV', channel: deploys, text: '/approval deploy production api 2.4.2 Second try' });
  await click(url, 'U0SBRELMGR', deploys, /^APR-2 /, 'Reject');
  const modal = await until('the reject modal', async () => (await view(url, 'U0SBRELMGR', deploys)).modal ?? undefined);
  const input = modal.blocks.find((b) => b.type === 'input')!;
  await act(url, {
    op: 'submit',
    user: 'U0SBRELMGR',
    viewId: modal.id,
    values: { [input.block_id!]: { [input.element!.action_id]: { type: 'plain_text_input', value: 'The rollback plan is missing' } } },
  });
  await until('APR-2 rejected', async () => (await view(url, 'U0SBDEV', deploys)).channel?.messages.some((m) => /^APR-2 .*rejected/i.test(m.text)));
  await act(url, { op: 'home', user: 'U0SBRELMGR' });
}

function fmt(m: Memory | undefined): string {
  return m ? `${m.rssMb.toFixed(0)} MB` : 'n/a';
}

async function main(): Promise<void> {
  mkdirSync(join(root, 'bench', 'results', 'logs'), { recursive: true });
  const firstRuns: number[] = [];
  const failures: string[] = [];
  let keptMs = Number.NaN;
  let memAtPage: Memory | undefined;
  let memAfterTour: Memory | undefined;
  let tourMs = Number.NaN;
  let scriptBytes = 0;
  const dirs: string[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'muster-bench-sandbox-'));
      dirs.push(dir);
      const s = await start(join(dir, 'sandbox'), `first-${i + 1}`);
      firstRuns.push(s.ms);
      if (i === 0) {
        memAtPage = memoryOf(s.child.pid);
        scriptBytes = (await (await fetch(`${s.url}/sandbox/app.js`)).text()).length;
        const t = performance.now();
        try {
          await tour(s.url);
          tourMs = performance.now() - t;
          await new Promise((r) => setTimeout(r, 500));
          memAfterTour = memoryOf(s.child.pid);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
      const stop = await stopChild(s.child);
      if (stop.code !== 0) failures.push(`first run ${i + 1}: exit ${stop.code ?? stop.signal}`);
      if (i === 0) {
        const k = await start(join(dir, 'sandbox'), 'kept');
        keptMs = k.ms;
        await stopChild(k.child);
      }
    }
  } catch (e) {
    failures.push((e as Error).message);
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const sorted = [...firstRuns].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  const result = { runs: firstRuns, firstRunMedianMs: median, firstRunMaxMs: sorted.at(-1), keptRestartMs: keptMs, rssAtPage: memAtPage, rssAfterTour: memAfterTour, tourMs, scriptBytes, failures };
  writeFileSync(join(root, 'bench', 'results', 'sandbox.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log('\nSandbox (npm start with no chat credentials; this machine)');
  console.log(
    `  first run, npm start → page answers   median ${median.toFixed(0)} ms, max ${(sorted.at(-1) ?? Number.NaN).toFixed(0)} ms (${RUNS} runs: ${firstRuns.map((x) => x.toFixed(0)).join(', ')})`,
  );
  console.log(`  restart on kept data → page answers   ${keptMs.toFixed(0)} ms`);
  console.log(`  RSS when the page first answers       ${fmt(memAtPage)} (peak ${memAtPage?.peakMb?.toFixed(0) ?? 'n/a'} MB)`);
  console.log(`  RSS after the guided tour             ${fmt(memAfterTour)} (peak ${memAfterTour?.peakMb?.toFixed(0) ?? 'n/a'} MB); the tour took ${tourMs.toFixed(0)} ms through the page's API`);
  console.log(`  page script (bundled, with source map) ${(scriptBytes / 1024).toFixed(0)} kB`);
  if (failures.length) {
    console.log(`\nFAILED:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
}

await main();
