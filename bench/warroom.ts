/**
 * `npm run bench`, section "war room set-up": how long `/incident declare P1 …` takes from the
 * command being sent until the whole war room exists in Slack, when every Slack call takes 50 ms.
 *
 *  - its own FakeSlack (every Web API call and every response_url post answers after LATENCY ms),
 *    with #incidents so that P1 declarations are announced (policy `incidents.broadcastChannel`);
 *  - its own Muster process (`node dist/main.js`, what `npm start` runs, a fresh SQLite file or, with `db: 'postgresql'`, a fresh
 *    PostgreSQL database made and dropped by bench/db.ts; MUSTER_CONFIG = a temp YAML; LOG_LEVEL and
 *    MUSTER_SLACK_PACING from the bench's baseEnv, its output to <logDir>/warroom-muster.log, -pg.log on PostgreSQL);
 *  - one warm-up declaration (not counted), then N declarations one at a time. Each is timed from
 *    sending the signed command until the fake holds: the channel with the reporter in it, its topic,
 *    the card posted and pinned, the bookmark, the announcement in #incidents and the response_url
 *    link — polled every POLL_MS;
 *  - the Slack calls of each war room (fake call log + response_url posts) are grouped into rounds:
 *    calls answered within ROUND_GAP_MS of the previous one belong to the same round.
 *
 * Baselines: the issue's "create → everything else" (2 × latency), the truly shortest chain of
 * dependent calls "create → post card → pin" (3 × latency; pins.add and the bookmark need the card's
 * ts), and that 3-round chain measured (a bare WebClient doing create → card → pin|bookmark with
 * everything else in round 2, on the same fake), which adds HTTP + fake overhead to the nominal 150 ms.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import { FakeSlack, GENERAL_CHANNEL_ID, TEAM_DOMAIN, TEAM_ID, type FakeCall, type FakeChannel, type FakeResponse } from '../test/support/fakeSlack.ts';
import { post, slashCommand } from '../test/support/slackRequests.ts';
import { percentile } from './load.ts';
import { createBenchDatabase, type BenchDatabase, type BenchDb } from './db.ts';
import { musterEnv, describeExit, dumpOutput, freePort, indentTail, logMark, logSince, startChild, stopChild, waitForHttp200, type Child, type StopResult, musterMain } from './proc.ts';

export interface WarRoomOptions {
  /** the database Muster runs on: a fresh SQLite file (default) or a fresh PostgreSQL database */
  db?: BenchDb;
  root: string;
  /** scratch directory (policy file, SQLite database) */
  tmp: string;
  /** environment for the child, Slack / database variables already removed */
  baseEnv: NodeJS.ProcessEnv;
  /** where the child's log file goes */
  logDir: string;
  secret: string;
  botToken: string;
  /** measured declarations */
  count: number;
  /**
   * ms of quiet before one more declaration, reported apart (0: none): a command after a quiet spell, as most are. Over
   * pg-pool's 10 s, after which the pool closed idle connections until Muster kept them (src/store/db.ts, PG_POOL).
   */
  quietMs: number;
  latencyMs: number;
  /** per-method latency overriding latencyMs (method name or 'response_url'), to see what waits for a slow call */
  methodLatencyMs?: Record<string, number>;
  timeoutMs: number;
  pollMs: number;
  roundGapMs: number;
  startTimeoutMs: number;
  shutdownLimitMs: number;
  /** told about the child as soon as it is spawned (emergency cleanup) */
  onChild(c: Child | undefined): void;
}

export interface WarRoomRun {
  label: string;
  ref?: string;
  channel?: string;
  /** command sent → war room complete (poll), ms; undefined when it timed out */
  setupMs?: number;
  /** ack HTTP round trip, ms */
  ackMs: number;
  ackStatus: number;
  ackText: string;
  missing: string[];
  calls: Array<{ method: string; sentAt: number; answeredAt: number }>;
  rounds: string[][];
  /** command sent → first Slack call arrives at the fake, ms */
  firstCallMs?: number;
  /** last answer of round k → first call of round k+1 arrives, ms */
  gapsMs: number[];
  /** ms from the last answer of the last round to "complete" being seen (poll resolution) */
  detectLagMs?: number;
}

export interface WarRoomResult {
  /** which database Muster ran on */
  database: BenchDb;
  runs: WarRoomRun[];
  warmup?: WarRoomRun;
  /** the declaration after `quietMs` of quiet */
  afterQuiet?: WarRoomRun;
  floorMs: number[];
  readyMs: number;
  stop?: StopResult;
  failures: string[];
  musterLogLines: number;
  lastOutput: string;
}

const REPORTER = 'UWARREP';
const SEED_USERS = [
  { id: REPORTER, name: 'reporter' },
  { id: 'UWARONE', name: 'oncall-one' },
  { id: 'UWARTWO', name: 'oncall-two' },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records when each entry was pushed, i.e. when the fake answered it (the fake pushes just before replying). */
function stampPushes<T extends object>(arr: T[], stamps: WeakMap<T, number>): void {
  const push = arr.push.bind(arr);
  arr.push = (...items: T[]) => {
    const now = Date.now();
    for (const it of items) stamps.set(it, now);
    return push(...items);
  };
}

interface Progress {
  channel?: FakeChannel;
  ref?: string;
  missing: string[];
}

function progress(fake: FakeSlack, label: string, responseId: string): Progress {
  const re = new RegExp(`^inc-(\\d+)-bench-incident-${label}$`);
  let channel: FakeChannel | undefined;
  let n: string | undefined;
  for (const c of fake.allChannels()) {
    const m = re.exec(c.name);
    if (m) {
      channel = c;
      n = m[1];
      break;
    }
  }
  if (!channel || n === undefined) return { missing: ['channel'] };
  const ref = `INC-${n}`;
  const missing: string[] = [];
  if (!channel.members.includes(REPORTER)) missing.push('reporter invited');
  if (!channel.topic.value.includes(`${ref} · P1`)) missing.push('topic');
  const card = fake.messages(channel.id).find((m) => JSON.stringify(m.blocks ?? []).includes('Take commander'));
  if (!card) missing.push('card', 'pin');
  else if (!fake.pins(channel.id).some((p) => p.ts === card.ts)) missing.push('pin');
  if (!fake.bookmarks(channel.id).some((b) => b.title === `${ref} incident card`)) missing.push('bookmark');
  if (!fake.messages('#incidents').some((m) => m.text.includes(`P1 incident declared: ${ref} `))) missing.push('announcement');
  const id = channel.id;
  if (
    !fake.responsesTo(responseId).some((r) => {
      const t = JSON.stringify(r.body);
      return t.includes('war room is ready') && t.includes(id);
    })
  )
    missing.push('response_url link');
  return { channel, ref, missing };
}

function groupRounds(calls: WarRoomRun['calls'], gapMs: number): Array<WarRoomRun['calls']> {
  const sorted = [...calls].sort((a, b) => a.answeredAt - b.answeredAt);
  const rounds: Array<WarRoomRun['calls']> = [];
  let prev = -Infinity;
  for (const c of sorted) {
    if (c.answeredAt - prev > gapMs || rounds.length === 0) rounds.push([]);
    rounds[rounds.length - 1]!.push(c);
    prev = c.answeredAt;
  }
  return rounds;
}

/** "chat.postMessage ×2, conversations.invite" */
export function roundText(methods: string[]): string {
  const counts = new Map<string, number>();
  for (const m of methods) counts.set(m, (counts.get(m) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([m, n]) => (n > 1 ? `${m} ×${n}` : m))
    .join(', ');
}

async function declareOne(fake: FakeSlack, o: WarRoomOptions, musterUrl: string, label: string, stamps: WeakMap<object, number>, muster: Child): Promise<WarRoomRun> {
  const callStart = fake.calls.length;
  const respStart = fake.responses.length;
  const responseId = `warroom-${label}`;
  const { body, contentType } = slashCommand({
    command: '/incident',
    text: `declare P1 Bench incident ${label}`,
    userId: REPORTER,
    userName: 'reporter',
    teamId: TEAM_ID,
    channelId: GENERAL_CHANNEL_ID,
    responseUrl: fake.responseUrl(responseId),
  });
  const sentEpoch = Date.now();
  const t0 = performance.now();
  let ackMs = Number.NaN;
  const ack = post(musterUrl, { body, contentType }, { secret: o.secret, timeoutMs: o.timeoutMs }).then(
    (r) => {
      ackMs = performance.now() - t0;
      return r;
    },
    (e: unknown) => {
      ackMs = performance.now() - t0;
      return { status: 0, body: String(e), headers: {} } as Awaited<ReturnType<typeof post>>;
    },
  );

  let setupMs: number | undefined;
  let doneEpoch: number | undefined;
  let p: Progress = { missing: ['channel'] };
  const deadline = t0 + o.timeoutMs;
  for (;;) {
    p = progress(fake, label, responseId);
    if (p.missing.length === 0) {
      setupMs = performance.now() - t0;
      doneEpoch = Date.now();
      break;
    }
    if (performance.now() > deadline || muster.exitInfo) break;
    await sleep(o.pollMs);
  }
  const a = await ack;
  let ackText = a.body;
  try {
    const j = JSON.parse(a.body) as { text?: unknown };
    if (typeof j.text === 'string') ackText = j.text;
  } catch {
    // keep the raw body
  }

  // Let stragglers arrive (a call after "complete" still belongs to this war room), then cut the log.
  let seen = -1;
  const quietUntil = performance.now() + 3_000;
  while (performance.now() < quietUntil) {
    const now = fake.calls.length + fake.responses.length;
    if (now === seen) break;
    seen = now;
    await sleep(150);
  }
  const apiCalls: FakeCall[] = fake.calls.slice(callStart);
  const posts: FakeResponse[] = fake.responses.slice(respStart);
  const calls: WarRoomRun['calls'] = [
    ...apiCalls.map((c) => ({ method: c.method, sentAt: c.at, answeredAt: stamps.get(c) ?? c.at + (o.methodLatencyMs?.[c.method] ?? o.latencyMs) })),
    // the fake stamps response_url posts when it answers them; it waited `latency` after they arrived
    ...posts.map((r) => {
      const answeredAt = stamps.get(r) ?? r.at;
      return { method: 'response_url', sentAt: answeredAt - (o.methodLatencyMs?.response_url ?? o.latencyMs), answeredAt };
    }),
  ];
  const grouped = groupRounds(calls, o.roundGapMs);
  const gapsMs: number[] = [];
  for (let k = 1; k < grouped.length; k++) {
    const lastAnswer = Math.max(...grouped[k - 1]!.map((c) => c.answeredAt));
    const firstSent = Math.min(...grouped[k]!.map((c) => c.sentAt));
    gapsMs.push(firstSent - lastAnswer);
  }
  const firstSent = calls.length ? Math.min(...calls.map((c) => c.sentAt)) : undefined;
  const lastAnswer = grouped.length ? Math.max(...grouped[grouped.length - 1]!.map((c) => c.answeredAt)) : undefined;
  return {
    label,
    ...(p.ref ? { ref: p.ref } : {}),
    ...(p.channel ? { channel: p.channel.id } : {}),
    ...(setupMs !== undefined ? { setupMs } : {}),
    ackMs,
    ackStatus: a.status,
    ackText,
    missing: p.missing,
    calls,
    rounds: grouped.map((r) => r.map((c) => c.method).sort()),
    ...(firstSent !== undefined ? { firstCallMs: firstSent - sentEpoch } : {}),
    gapsMs,
    ...(doneEpoch !== undefined && lastAnswer !== undefined ? { detectLagMs: doneEpoch - lastAnswer } : {}),
  };
}

/**
 * The shortest dependent chain, done by a bare WebClient on the same fake: create → (invite, topic,
 * announce, response_url, card → (pin, bookmark with the permalink built from the ts)).
 */
async function floorChain(fake: FakeSlack, o: WarRoomOptions, i: number): Promise<number> {
  const client = new WebClient(o.botToken, { slackApiUrl: fake.url, retryConfig: { retries: 0 } });
  const t0 = performance.now();
  const created = await client.conversations.create({ name: `floor-${i}`, is_private: false });
  const channel = created.channel!.id!;
  await Promise.all([
    client.conversations.invite({ channel, users: REPORTER }),
    client.conversations.setTopic({ channel, topic: `FLOOR-${i} · P1 · floor` }),
    client.chat.postMessage({ channel: '#incidents', text: `P1 floor ${i} — <#${channel}>` }),
    fetch(fake.responseUrl(`floor-${i}`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `ready: <#${channel}>` }) }).then((r) => r.text()),
    client.chat.postMessage({ channel, text: 'card' }).then(async (card) => {
      const ts = card.ts!;
      const link = `https://${TEAM_DOMAIN}.slack.com/archives/${channel}/p${ts.replace('.', '')}`;
      await Promise.all([client.pins.add({ channel, timestamp: ts }), client.bookmarks.add({ channel_id: channel, title: 'card', type: 'link', link })]);
    }),
  ]);
  return performance.now() - t0;
}

/** A declaration's set-up time, or what its war room still missed. */
function setupText(run: WarRoomRun): string {
  return run.setupMs !== undefined ? `${run.setupMs.toFixed(1)} ms` : `NOT COMPLETE (missing: ${run.missing.join(', ')})`;
}

/** What went wrong with a declaration: an ack that is not the war room's, a war room not complete in time. */
function problemsOf(run: WarRoomRun, timeoutMs: number): { ack?: string; setup?: string } {
  return {
    ...(run.ackStatus !== 200 || !/Declared \*INC-\d+\* \(P1\)/.test(run.ackText) ? { ack: `unexpected ack (HTTP ${run.ackStatus}): ${run.ackText.slice(0, 160)}` } : {}),
    ...(run.setupMs === undefined ? { setup: `not set up within ${timeoutMs / 1000} s (missing: ${run.missing.join(', ')})` } : {}),
  };
}

export async function runWarRoomBench(o: WarRoomOptions): Promise<WarRoomResult> {
  const failures: string[] = [];
  const fake = await FakeSlack.start();
  let muster: Child | undefined;
  const dbKind = o.db ?? 'sqlite';
  const sec = dbKind === 'postgresql' ? 'war room on PostgreSQL' : 'war room';
  let database: BenchDatabase | undefined;
  const result: WarRoomResult = { database: dbKind, runs: [], floorMs: [], readyMs: Number.NaN, failures, musterLogLines: 0, lastOutput: '' };
  try {
    for (const u of SEED_USERS) fake.addUser(u);
    fake.addChannel({ name: 'incidents' });
    fake.setLatency(o.latencyMs); // every Web API method and response_url posts (the fake applies it to both)
    for (const [method, ms] of Object.entries(o.methodLatencyMs ?? {})) fake.setLatency(ms, method);
    const stamps = new WeakMap<object, number>();
    stampPushes<object>(fake.calls, stamps);
    stampPushes<object>(fake.responses, stamps);

    const policyFile = join(o.tmp, 'warroom-policy.yaml');
    writeFileSync(policyFile, 'incidents:\n  broadcastChannel: "#incidents"\n');
    const dbDir = join(o.tmp, 'warroom');
    mkdirSync(dbDir, { recursive: true });
    try {
      database = await createBenchDatabase(dbKind, dbDir, 'warroom');
    } catch (e) {
      failures.push(`${sec}: could not create its ${dbKind} database: ${(e as Error).message}`);
      return result;
    }
    const port = await freePort();
    const t0 = performance.now();
    muster = startChild('muster (war room)', musterMain(o.root), {
      cwd: o.root,
      env: musterEnv(o, { port, slackUrl: fake.url, databaseUrl: database.url, config: policyFile }),
      logFile: join(o.logDir, `warroom-muster${dbKind === 'postgresql' ? '-pg' : ''}.log`),
    });
    o.onChild(muster);
    try {
      await waitForHttp200(muster, `http://127.0.0.1:${port}/readyz`, o.startTimeoutMs);
    } catch (e) {
      failures.push(`${sec}: Muster failed to start: ${(e as Error).message}`);
      result.lastOutput = dumpOutput(muster);
      return result;
    }
    result.readyMs = performance.now() - t0;
    const url = `http://127.0.0.1:${port}`;
    process.stdout.write(`  muster pid ${muster.pid} on :${port}, /readyz 200 after ${result.readyMs.toFixed(0)} ms (${database.describe}, policy with broadcastChannel "#incidents")\n`);
    const mark = logMark(muster);

    process.stdout.write('  warm-up declaration … ');
    result.warmup = await declareOne(fake, o, url, 'warm-up', stamps, muster);
    process.stdout.write(`${setupText(result.warmup)}\n`);

    process.stdout.write(`  ${o.count} declarations, one at a time: `);
    for (let i = 1; i <= o.count; i++) {
      const run = await declareOne(fake, o, url, String(i), stamps, muster);
      result.runs.push(run);
      if (muster.exitInfo) {
        failures.push(`${sec}: ${describeExit(muster)} during declaration ${i}`);
        break;
      }
      const wrong = problemsOf(run, o.timeoutMs);
      if (wrong.ack) failures.push(`${sec} ${i}: ${wrong.ack}`);
      if (wrong.setup) {
        process.stdout.write('✗\n');
        failures.push(`${sec} ${i}: ${wrong.setup}`);
        break; // the next ones would measure a backlog
      }
      process.stdout.write('.');
    }
    process.stdout.write(' done\n');
    if (o.quietMs > 0 && failures.length === 0 && !muster.exitInfo) {
      process.stdout.write(`  ${o.quietMs / 1000} s of quiet, then one more declaration … `);
      await sleep(o.quietMs);
      result.afterQuiet = await declareOne(fake, o, url, 'after-quiet', stamps, muster);
      process.stdout.write(`${setupText(result.afterQuiet)}\n`);
      for (const wrong of Object.values(problemsOf(result.afterQuiet, o.timeoutMs))) failures.push(`${sec} after quiet: ${wrong}`);
    }
    result.stop = await stopChild(muster, o.shutdownLimitMs);
    if (!result.stop.graceful || result.stop.code !== 0) failures.push(`${sec}: Muster did not exit 0 within ${o.shutdownLimitMs / 1000} s of SIGTERM`);
    const logged = logSince(muster, mark);
    result.musterLogLines = logged.warnPlus.length;
    if (failures.length) result.lastOutput = dumpOutput(muster, 3_000);
    else if (logged.warnPlus.length > 0) result.lastOutput = indentTail(logged.warnPlus.join('\n'), 3_000);

    // The measured floor, with Muster gone (nothing else talks to the fake).
    process.stdout.write('  the shortest chain by a bare WebClient on the same fake … ');
    await floorChain(fake, o, 0); // warm-up
    for (let i = 1; i <= o.count; i++) result.floorMs.push(await floorChain(fake, o, i));
    process.stdout.write('done\n');
    return result;
  } finally {
    if (muster && !muster.exitInfo) await stopChild(muster, 3_000);
    o.onChild(undefined);
    await fake.close();
    await database?.drop().catch((e: unknown) => console.log(`  (could not drop the bench database: ${(e as Error).message})`));
  }
}

// ---------------------------------------------------------------------------
// Summary (printing and JSON)
// ---------------------------------------------------------------------------

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const r1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? null : Math.round(n * 10) / 10);
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? Math.round((a / b) * 1000) / 1000 : null);
const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));

export interface WarRoomSummary {
  text: string;
  json: Record<string, unknown>;
}

export function summarizeWarRoom(
  r: WarRoomResult,
  o: Pick<WarRoomOptions, 'count' | 'quietMs' | 'latencyMs' | 'methodLatencyMs' | 'timeoutMs' | 'pollMs' | 'roundGapMs'>,
  cpuBusyPct: number,
): WarRoomSummary {
  const done = r.runs.filter((x) => x.setupMs !== undefined);
  const setups = done.map((x) => x.setupMs!).sort((a, b) => a - b);
  const p50 = percentile(setups, 50);
  const p90 = percentile(setups, 90);
  const max = setups.length ? setups[setups.length - 1]! : Number.NaN;
  const mean = setups.length ? setups.reduce((s, x) => s + x, 0) / setups.length : Number.NaN;
  const issueMs = 2 * o.latencyMs;
  const chainMs = 3 * o.latencyMs;
  const floorP50 = percentile(
    [...r.floorMs].sort((a, b) => a - b),
    50,
  );

  const callCounts = done.map((x) => x.calls.length);
  const roundCounts = done.map((x) => x.rounds.length);
  // The most common round shape, shown round by round.
  const shapes = new Map<string, { n: number; rounds: string[][] }>();
  for (const x of done) {
    const key = JSON.stringify(x.rounds);
    const s = shapes.get(key) ?? { n: 0, rounds: x.rounds };
    s.n += 1;
    shapes.set(key, s);
  }
  const typical = [...shapes.values()].sort((a, b) => b.n - a.n)[0];
  const maxRounds = Math.max(0, ...roundCounts);
  const gapMedians: number[] = [];
  for (let k = 0; k < maxRounds - 1; k++) {
    const g = done.map((x) => x.gapsMs[k]).filter((v): v is number => v !== undefined);
    gapMedians.push(median(g));
  }
  const firstCall = median(done.map((x) => x.firstCallMs).filter((v): v is number => v !== undefined));
  const detectLag = median(done.map((x) => x.detectLagMs).filter((v): v is number => v !== undefined));
  const ack = median(done.map((x) => x.ackMs));
  const slow = Object.keys(o.methodLatencyMs ?? {}).length > 0;
  const methods = new Map<string, number>();
  for (const x of done) for (const c of x.calls) methods.set(c.method, (methods.get(c.method) ?? 0) + 1);

  const lines: string[] = [];
  lines.push(`set-up time, command sent → channel + reporter invited + topic + card posted and pinned + bookmark + announcement + response_url link (polled every ${o.pollMs} ms):`);
  lines.push(
    `  muster   p50 ${f1(p50)} ms   p90 ${f1(p90)} ms   max ${f1(max)} ms   mean ${f1(mean)} ms   (${done.length}/${r.runs.length} complete${r.warmup?.setupMs !== undefined ? `; warm-up, not counted: ${f1(r.warmup.setupMs)} ms` : ''})`,
  );
  lines.push(`  ack of the command p50 ${f1(ack)} ms`);
  if (r.afterQuiet?.setupMs !== undefined)
    lines.push(
      `  after ${o.quietMs / 1000} s of quiet (not in the p50: a command after a quiet spell, as most are): ${f1(r.afterQuiet.setupMs)} ms, ack ${f1(r.afterQuiet.ackMs)} ms; ` +
        `outside Slack: command → first call ${f1(r.afterQuiet.firstCallMs)} ms, ${r.afterQuiet.gapsMs.map((g, k) => `round ${k + 1} → ${k + 2}: ${f1(g)} ms`).join(', ')}`,
    );
  lines.push('');
  const rows: string[][] = [
    [`issue's estimate: create → everything else (2 × ${o.latencyMs} ms)`, String(issueMs), `×${(p50 / issueMs).toFixed(2)}`],
    [`shortest dependent chain: create → card → pin (3 × ${o.latencyMs} ms)`, String(chainMs), `×${(p50 / chainMs).toFixed(2)}`],
    ['  that chain measured: bare WebClient, same fake (p50)', f1(floorP50), `×${(p50 / floorP50).toFixed(2)}`],
  ];
  const head = ['baseline', 'ms', 'Muster p50 / baseline'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  lines.push(line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line));
  lines.push('');
  const range = (xs: number[]) => (xs.length === 0 ? '-' : Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)} (median ${median(xs)})`);
  lines.push(`Slack calls per war room: ${range(callCounts)}  (response_url post included)`);
  lines.push(`rounds (calls answered within ${o.roundGapMs} ms of each other = one round): ${range(roundCounts)}${typical ? `; ${typical.n}/${done.length} war rooms had:` : ''}`);
  if (typical) typical.rounds.forEach((rd, k) => lines.push(`  round ${k + 1}: ${roundText(rd)}`));
  lines.push(
    `time outside Slack (medians): command → first call ${f1(firstCall)} ms; ${gapMedians.map((g, k) => `round ${k + 1} → ${k + 2}: ${f1(g)} ms`).join('; ')}; last answer → seen complete ${f1(detectLag)} ms`,
  );
  if (!slow) lines.push(`Slack time on the critical path: ${f1(median(roundCounts) * o.latencyMs)} ms (${median(roundCounts)} rounds × ${o.latencyMs} ms) of the ${f1(p50)} ms p50`);
  else lines.push(`note: per-method latency overrides ${JSON.stringify(o.methodLatencyMs)}: the baselines assume ${o.latencyMs} ms for every call`);
  if (cpuBusyPct > 15) lines.push(`note: the CPUs were ${cpuBusyPct.toFixed(0)} % busy before this section: figures are noisy`);

  const json = {
    config: {
      declarations: o.count,
      warmup: 1,
      quietMs: o.quietMs,
      latencyMs: o.latencyMs,
      methodLatencyMs: o.methodLatencyMs ?? {},
      pollMs: o.pollMs,
      timeoutMs: o.timeoutMs,
      roundGapMs: o.roundGapMs,
      severity: 'P1',
      broadcastChannel: '#incidents',
      database: r.database,
    },
    cpuBusyBeforePct: r1(cpuBusyPct),
    musterReadyMs: r1(r.readyMs),
    setupMs: { p50: r1(p50), p90: r1(p90), max: r1(max), mean: r1(mean), all: r.runs.map((x) => r1(x.setupMs)), warmup: r1(r.warmup?.setupMs), afterQuiet: r1(r.afterQuiet?.setupMs) },
    complete: done.length,
    declared: r.runs.length,
    ackMsP50: r1(ack),
    baselines: {
      issueCreateThenEverything: { ms: issueMs, ratio: ratio(p50, issueMs) },
      shortestChainCreateCardPin: { ms: chainMs, ratio: ratio(p50, chainMs) },
      shortestChainMeasured: { msP50: r1(floorP50), all: r.floorMs.map(r1), ratio: ratio(p50, floorP50) },
    },
    callsPerWarRoom: {
      median: callCounts.length ? median(callCounts) : null,
      min: callCounts.length ? Math.min(...callCounts) : null,
      max: callCounts.length ? Math.max(...callCounts) : null,
      byMethod: Object.fromEntries([...methods.entries()].sort().map(([m, n]) => [m, Math.round((n / Math.max(1, done.length)) * 100) / 100])),
    },
    rounds: {
      median: roundCounts.length ? median(roundCounts) : null,
      min: roundCounts.length ? Math.min(...roundCounts) : null,
      max: roundCounts.length ? Math.max(...roundCounts) : null,
      typical: typical?.rounds ?? [],
      typicalCount: typical?.n ?? 0,
    },
    outsideSlackMs: { commandToFirstCall: r1(firstCall), betweenRounds: gapMedians.map(r1), lastAnswerToSeen: r1(detectLag) },
    slackOnCriticalPathMs: slow || roundCounts.length === 0 ? null : median(roundCounts) * o.latencyMs,
    muster: { shutdown: r.stop ? { ms: r1(r.stop.ms), code: r.stop.code, graceful: r.stop.graceful } : null, logLinesWarnPlus: r.musterLogLines },
    failures: r.failures,
  };
  return { text: lines.join('\n'), json };
}
