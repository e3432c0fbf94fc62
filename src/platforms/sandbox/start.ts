import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Env } from '../../config/env.ts';
import type { Policy } from '../../config/policy.ts';
import { sourceFile } from '../../root.ts';
import { startMuster, type Muster } from '../../muster.ts';
import { WorkspaceFile } from './persist.ts';
import { IdMap, readRecording, unpackRecording, type Recording } from './record.ts';
import { Sandbox, type PersonAction } from './sandbox.ts';
import { bundleApp, sandboxRouter } from './server.ts';
import type { WorkspaceChange } from './slackWorkspace.ts';

/** The sandbox's policy when MUSTER_CONFIG is not set. */
export const SANDBOX_POLICY = sourceFile('src', 'platforms', 'sandbox', 'policy.yml');

export interface SandboxRun {
  muster: Muster;
  sandbox: Sandbox;
  url: string;
  /** resolves when a `--replay` has been played through (at once otherwise), with its comparison */
  replayed: Promise<ReplaySummary | undefined>;
  stop(): Promise<void>;
}

export interface SandboxStartOptions {
  env: Env;
  policy: Policy;
  log: Logger;
  reset?: boolean;
  record?: string | undefined;
  replay?: string | undefined;
  /** print the banner on stdout (default true) */
  banner?: boolean;
  /** Muster's poll loops (tests may turn them off); default on */
  loops?: boolean;
}

/**
 * `npm start` with no chat credentials, or `npm run sandbox`: Muster against the built-in workspace, its web app on
 * Muster's own port. The workspace and Muster's database live in MUSTER_SANDBOX_DIR (default ./data/sandbox);
 * `--reset` starts them fresh, `--record FILE` writes what happens, `--replay FILE` does a recording again in a
 * scratch directory.
 */
export async function startSandbox(o: SandboxStartOptions): Promise<SandboxRun> {
  const t0 = performance.now();
  const log = o.log.child({ sandbox: true });
  let rec: Recording | undefined;
  let dataDir = resolve(o.env.MUSTER_SANDBOX_DIR ?? join(process.cwd(), 'data', 'sandbox'));
  if (o.replay) {
    rec = readRecording(o.replay);
    dataDir = mkdtempSync(join(tmpdir(), 'muster-replay-'));
    unpackRecording(rec, dataDir);
    const file = new WorkspaceFile(join(dataDir, 'workspace.db'));
    file.save(rec.workspace);
    file.close();
  }
  const [sandbox, script] = await Promise.all([Sandbox.open({ dataDir, reset: o.reset === true, record: o.record, log, grant: !rec }), bundleApp()]);
  let muster: Muster;
  try {
    muster = await startMuster({
      env: sandbox.env(o.env),
      policy: o.policy,
      log,
      mode: 'sandbox',
      // Anyone who reaches the page acts as anyone in the workspace: it stays on this machine.
      host: '127.0.0.1',
      loops: o.loops,
      mount: (web) => web.use(sandboxRouter(sandbox, { log, script, mode: rec ? 'replay' : 'sandbox' })),
    });
  } catch (e) {
    await sandbox.close();
    throw e;
  }
  await sandbox.attach(muster.url);
  const url = `http://localhost:${muster.port}/`;
  const readyMs = Math.round(performance.now() - t0);
  log.info({ url, dataDir, readyMs, fresh: sandbox.fresh, record: o.record, replay: o.replay }, 'sandbox ready');
  if (o.banner !== false) printBanner({ url, dataDir, fresh: sandbox.fresh, record: o.record, replay: o.replay });
  const replayed = rec ? replay(sandbox, rec, log) : Promise.resolve(undefined);
  if (rec) {
    void replayed.then((s) => {
      if (s) console.log(replayReport(s));
    });
  }
  return {
    muster,
    sandbox,
    url,
    replayed,
    stop: async () => {
      await muster.stop();
      await sandbox.close();
    },
  };
}

function printBanner(b: { url: string; dataDir: string; fresh: boolean; record?: string | undefined; replay?: string | undefined }): void {
  const rel = relative(process.cwd(), b.dataDir);
  const dir = rel === '' ? '.' : rel.startsWith('..') ? b.dataDir : rel;
  const lines = [
    '',
    '  Muster is running in SANDBOX mode: a built-in chat workspace, nothing reaches Slack or Discord.',
    '',
    `  Open ${b.url}`,
    '',
    b.replay
      ? `  Replaying ${b.replay} in ${b.dataDir} (a scratch copy; your sandbox data is untouched).`
      : `  Data: ${dir}/ (${b.fresh ? 'new' : 'kept from the last run'}; npm run sandbox -- --reset starts fresh)`,
    ...(b.record ? [`  Recording every request and Web API call to ${b.record}`] : []),
    '  Connect a real Slack: docs/slack-setup.md (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, then npm start).',
    '  Connect Discord: docs/discord-setup.md (set DISCORD_TOKEN and DISCORD_APPLICATION_ID).',
    '',
  ];
  console.log(lines.join('\n'));
}

export interface ReplaySummary {
  actions: number;
  failed: Array<{ index: number; op: string; error: string }>;
  recordedCalls: Record<string, number>;
  replayedCalls: Record<string, number>;
  /** methods whose counts differ */
  differences: Array<{ method: string; recorded: number; replayed: number }>;
}

/**
 * Plays a recording's person actions again, in order, with their recorded pauses (at most 2 s) and after the
 * workspace has been quiet for a moment, mapping Slack's identifiers from the recording onto the replay's; then
 * compares the Web API calls made (applied ones, by method).
 */
export async function replay(sandbox: Sandbox, rec: Recording, log: Logger): Promise<ReplaySummary> {
  const ids = new IdMap();
  const replayedCalls: Record<string, number> = {};
  let lastChange = Date.now();
  const off = sandbox.onChange((c: WorkspaceChange) => {
    lastChange = Date.now();
    if (c.kind === 'call' && c.applied && c.method) {
      replayedCalls[c.method] = (replayedCalls[c.method] ?? 0) + 1;
      ids.noteReplayed(c.method, c.args, c.response);
    }
  });
  const recordedCalls: Record<string, number> = {};
  const failed: ReplaySummary['failed'] = [];
  let actions = 0;
  let prevAt = 0;
  const quiet = async () => {
    const deadline = Date.now() + 15_000;
    while (Date.now() - lastChange < 300 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  };
  // Calls before the first action are Muster starting up (auth.test…); the replay's own start-up is not compared.
  let started = false;
  try {
    for (const e of rec.entries) {
      if (e.kind === 'call') {
        if (e.applied && !started) ids.noteRecorded(e.method, e.args, e.response);
        else if (e.applied) {
          recordedCalls[e.method] = (recordedCalls[e.method] ?? 0) + 1;
          ids.noteRecorded(e.method, e.args, e.response);
        }
        continue;
      }
      if (e.kind !== 'action') continue;
      started = true;
      await new Promise((r) => setTimeout(r, Math.min(2_000, Math.max(0, e.at - prevAt))));
      prevAt = e.at;
      await quiet();
      const action = ids.rewrite<PersonAction>(e.action);
      actions += 1;
      const out = await sandbox.perform(action);
      if (!out.ok) failed.push({ index: actions, op: action.op, error: out.error ?? 'failed' });
    }
    await quiet();
  } finally {
    off();
  }
  const methods = [...new Set([...Object.keys(recordedCalls), ...Object.keys(replayedCalls)])].sort();
  const differences = methods.map((m) => ({ method: m, recorded: recordedCalls[m] ?? 0, replayed: replayedCalls[m] ?? 0 })).filter((d) => d.recorded !== d.replayed);
  log.info({ actions, failed: failed.length, differences }, 'sandbox replay done');
  return { actions, failed, recordedCalls, replayedCalls, differences };
}

export function replayReport(s: ReplaySummary): string {
  const lines = [`  Replay: ${s.actions} actions played, ${s.failed.length} failed.`];
  for (const f of s.failed) lines.push(`    action ${f.index} (${f.op}): ${f.error}`);
  if (!s.differences.length) lines.push(`  The same Web API calls as recorded (${Object.values(s.replayedCalls).reduce((a, b) => a + b, 0)} calls).`);
  else {
    lines.push('  Web API calls that differ from the recording (method: recorded → replayed):');
    for (const d of s.differences) lines.push(`    ${d.method}: ${d.recorded} → ${d.replayed}`);
  }
  return lines.join('\n');
}
