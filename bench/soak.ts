/**
 * `npm run bench`, section "soak": Muster's memory over a long stretch of steady traffic (issue 13: ≤ 200 MB, flat
 * over a 10-minute soak). The other sections run for seconds; a leak of a few kilobytes per request only shows over
 * minutes.
 *
 * One Muster process (`npm start`'s flags, LOG_LEVEL=info, a fresh database: SQLite by default, BENCH_SOAK_DB=postgresql
 * for PostgreSQL) against a FakeSlack that answers at once (no rate tiers; MUSTER_SLACK_PACING off, as in the click
 * sections), with a policy that posts approval cards to #approvals too and announces incidents in #incidents. Every
 * second, open loop, with R = BENCH_SOAK_RATE (default 2):
 *
 *  - R production deploys requested (`/approval deploy production api …`): each card has 5 copies (the channel, #approvals,
 *    one DM per approver);
 *  - 3R Approve clicks (block_actions, a response_url each) on the requests of two seconds before, one per approver, so
 *    every request ends approved and every card copy is redrawn;
 *  - 5R `/muster whoami`;
 *  - every 30 s an incident: `/incident declare P2 …` (a war room: channel, invitation, topic, card, pin, bookmark, the
 *    announcement), then `/incident resolve …` and `/incident close` in its channel 15 and 20 s later.
 *
 * Muster's resident memory (VmRSS) and V8's used heap (its /metrics, `muster_nodejs_heap_size_used_bytes`) are sampled
 * every 5 s. Reported: RSS at the end of the first minute (warm), at the end, its peak, and its trend over the soak's
 * second half (least squares, MB per minute), once the bounded caches that fill in the first minutes are full; the
 * same trend for V8's committed heap; ack latency per kind and per minute. Goal: the peak ≤ 200 MB, and flat: a trend
 * ≤ 0.5 MB a minute (a leak of one kilobyte per request and click is 0.5 MB a minute at this traffic).
 *
 * Afterwards (exit 1 otherwise): every request approved, every incident closed, every ack a 200 within 3 s, and the
 * outbox finished with nothing dead-lettered.
 *
 * BENCH_SOAK_MINUTES (default 10; `--quick` 0.14, 8 s: one incident's whole life; a soak under four minutes reports no trend), BENCH_SOAK_RATE (requests per second, default 2), BENCH_SOAK_DB
 * (sqlite or postgresql). Runs alone: `npm run bench:soak [-- --quick]`, which writes every sample to
 * bench/results/soak.json (or BENCH_SOAK_JSON).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { FakeSlack, GENERAL_CHANNEL_ID, TEAM_ID, type FakeChannel } from '../test/support/fakeSlack.ts';
import { post, slashCommand, type SlackRequest } from '../test/support/slackRequests.ts';
import { percentile } from './load.ts';
import { createBenchDatabase, openDbReader, type BenchDb } from './db.ts';
import { musterEnv, cpuMsOf, dumpOutput, freePort, memoryOf, positiveFromEnv, startChild, stopChild, waitForHttp200, type Child, type SectionOptions, musterMain } from './proc.ts';
import { approveClick, findApprove } from './approval-clicks.ts';
import { RSS_GOAL_MB, SOAK_TREND_GOAL_MB_PER_MIN } from './summary.ts';

const ADMIN = 'USOAKADMIN';
const REQUESTER = 'USOAKDEV';
const APPROVERS = [
  { id: 'USOAKRM', name: 'soak-rm', role: 'release_manager' },
  { id: 'USOAKCTO', name: 'soak-cto', role: 'cto' },
  { id: 'USOAKSEC', name: 'soak-sec', role: 'security_lead' },
] as const;
const APPROVALS_CHANNEL = 'CSOAKAPPROVALS';
/** Slack shows the user an error when an ack takes longer. */
const ACK_DEADLINE_MS = 3_000;
/** a request's clicks come this many seconds after it was asked for (its cards are posted by then) */
const CLICK_LAG_S = 2;
const INCIDENT_EVERY_S = 30;

type Kind = 'request' | 'click' | 'whoami' | 'incident';

export type SoakOptions = SectionOptions;

export interface SoakSample {
  /** seconds since the traffic started */
  s: number;
  rssMb: number;
  heapUsedMb?: number;
  /** V8's committed heap */
  heapTotalMb?: number;
  /** buffers and other memory outside the heap that V8 accounts for */
  externalMb?: number;
  /** V8's committed heap by space (new, old, code, large_object, …), from `muster_nodejs_heap_space_size_total_bytes` */
  heapSpacesMb?: Record<string, number>;
  /** of the RSS: anonymous memory (heap, malloc) and pages of files (code, shared libraries) */
  rssAnonMb?: number;
  rssFileMb?: number;
}

export interface SoakMinute {
  minute: number;
  sent: Record<Kind, number>;
  clickP99?: number;
  whoamiP99?: number;
  requestP99?: number;
  rssMb?: number;
  heapUsedMb?: number;
}

export interface SoakResult {
  db: BenchDb;
  minutes: number;
  ratePerS: number;
  sampleSeconds: number;
  samples: SoakSample[];
  /** RSS at the end of the first minute (or halfway through a shorter soak) */
  rssWarmMb?: number;
  rssEndMb?: number;
  rssPeakMb?: number;
  /**
   * Least-squares trend of the samples of the soak's second half, MB per minute: by then the bounded caches that fill
   * in the first minutes are full (SQLite's page caches, the dispatcher's results of the last 10,000 effects, V8's
   * compiled code), so a trend that remains is memory that keeps climbing.
   */
  rssTrendMbPerMin?: number;
  heapWarmMb?: number;
  heapEndMb?: number;
  /** the same trend of V8's committed heap */
  heapTotalTrendMbPerMin?: number;
  /** and of each of its spaces: which one a growth of the committed heap is in (the young generation's, sized by V8 as it goes, or the old's) */
  heapSpaceTrendsMbPerMin?: Record<string, number>;
  sent: Record<Kind, number>;
  latencyMs: Record<Kind, { p50?: number; p99?: number; max?: number }>;
  errors: number;
  errorSamples: string[];
  /** clicks put off to a later second because their request's card was not posted yet */
  lateCards: number;
  perMinute: SoakMinute[];
  approved: number;
  expectedApproved: number;
  incidentsClosed: number;
  expectedClosed: number;
  outbox: Record<string, number>;
  cpuMsPerSecond?: number;
  failures: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Least-squares slope of y over x. */
export function slope(points: { x: number; y: number }[]): number | undefined {
  if (points.length < 2) return undefined;
  const mx = points.reduce((a, p) => a + p.x, 0) / points.length;
  const my = points.reduce((a, p) => a + p.y, 0) / points.length;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  return points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
}

/** V8's heap (used, and committed: in all and by space) and the memory outside it that V8 knows of (buffers), from Muster's /metrics, MB. */
async function heapOf(url: string): Promise<{ heapUsedMb?: number; heapTotalMb?: number; externalMb?: number; heapSpacesMb?: Record<string, number> }> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
    const mb = (name: string) => {
      const m = new RegExp(`^muster_nodejs_${name} (\\S+)`, 'm').exec(text);
      return m ? { [name]: Number(m[1]) / 1024 / 1024 } : {};
    };
    const v = { ...mb('heap_size_used_bytes'), ...mb('heap_size_total_bytes'), ...mb('external_memory_bytes') };
    const heapSpacesMb: Record<string, number> = {};
    for (const [, space, bytes] of text.matchAll(/^muster_nodejs_heap_space_size_total_bytes\{space="([^"]+)"\} (\S+)/gm)) heapSpacesMb[space!] = Number(bytes) / 1024 / 1024;
    return { heapUsedMb: v.heap_size_used_bytes, heapTotalMb: v.heap_size_total_bytes, externalMb: v.external_memory_bytes, ...(Object.keys(heapSpacesMb).length ? { heapSpacesMb } : {}) };
  } catch {
    return {};
  }
}

/** How long the soak's traffic runs, minutes (BENCH_SOAK_MINUTES). */
export function soakMinutes(quick: boolean): number {
  return positiveFromEnv('BENCH_SOAK_MINUTES', quick ? 0.14 : 10);
}

export async function runSoakBench(o: SoakOptions): Promise<SoakResult> {
  const minutes = soakMinutes(o.quick);
  const rate = Math.round(positiveFromEnv('BENCH_SOAK_RATE', 2));
  const dbKind = (process.env.BENCH_SOAK_DB?.trim() || 'sqlite') as BenchDb;
  if (dbKind !== 'sqlite' && dbKind !== 'postgresql') throw new Error(`BENCH_SOAK_DB=${dbKind}: expected sqlite or postgresql`);
  const seconds = Math.max(CLICK_LAG_S + 2, Math.round(minutes * 60));
  const sampleSeconds = o.quick ? 1 : 5;
  // An incident's resolve and close, seconds after its declaration (a quick soak sees one incident's whole life).
  const [resolveAfter, closeAfter] = o.quick ? [3, 5] : [15, 20];
  // The warm point: the end of the first minute, or halfway through a shorter soak.
  const warmS = Math.min(60, seconds / 2);
  const failures: string[] = [];
  const kinds: Kind[] = ['request', 'click', 'whoami', 'incident'];
  const zero = () => Object.fromEntries(kinds.map((k) => [k, 0])) as Record<Kind, number>;
  const result: SoakResult = {
    db: dbKind,
    minutes: seconds / 60,
    ratePerS: rate,
    sampleSeconds,
    samples: [],
    sent: zero(),
    latencyMs: Object.fromEntries(kinds.map((k) => [k, {}])) as SoakResult['latencyMs'],
    errors: 0,
    errorSamples: [],
    lateCards: 0,
    perMinute: [],
    approved: 0,
    expectedApproved: 0,
    incidentsClosed: 0,
    expectedClosed: 0,
    outbox: {},
    failures,
  };

  const fake = await FakeSlack.start();
  const dir = join(o.tmp, 'soak');
  mkdirSync(dir, { recursive: true });
  const database = await createBenchDatabase(dbKind, dir, 'soak');
  let muster: Child | undefined;
  try {
    fake.addUser({ id: ADMIN, name: 'soak-admin' });
    fake.addUser({ id: REQUESTER, name: 'soak-dev' });
    for (const a of APPROVERS) fake.addUser({ id: a.id, name: a.name });
    fake.addChannel({ id: APPROVALS_CHANNEL, name: 'approvals' });
    fake.addChannel({ name: 'incidents' });
    const policyFile = join(dir, 'policy.yml');
    writeFileSync(policyFile, 'approvals:\n  channel: "#approvals"\nincidents:\n  broadcastChannel: "#incidents"\nchanges:\n  enforcedIn: []\n');
    const port = await freePort();
    muster = startChild('muster (soak)', musterMain(o.root), {
      cwd: o.root,
      env: musterEnv(o, { port, slackUrl: fake.url, databaseUrl: database.url, admins: ADMIN, config: policyFile }),
      logFile: join(o.logDir, 'soak-muster.log'),
    });
    o.onChild?.(muster);
    await waitForHttp200(muster, `http://127.0.0.1:${port}/readyz`, 30_000);
    const url = `http://127.0.0.1:${port}`;
    o.log(`  muster pid ${muster.pid} on :${port} (${database.describe}); ${(seconds / 60).toFixed(1)} min at ${rate} requests, ${3 * rate} clicks and ${5 * rate} whoami a second`);

    const send = async (req: SlackRequest): Promise<{ status: number; body: string; ms: number }> => {
      const t = performance.now();
      const r = await post(url, req, { secret: o.secret, timeoutMs: 10_000 });
      return { status: r.status, body: r.body, ms: performance.now() - t };
    };
    const command = (cmd: string, text: string, userId: string, channelId = GENERAL_CHANNEL_ID) =>
      slashCommand({ command: cmd, text, userId, teamId: TEAM_ID, channelId, responseUrl: fake.responseUrl(`soak-${randomBytes(6).toString('hex')}`) });
    const textOf = (body: string) => {
      try {
        return (JSON.parse(body) as { text?: string }).text ?? body;
      } catch {
        return body;
      }
    };
    for (const a of APPROVERS) {
      const r = await send(command('/muster', `grant ${a.role} <@${a.id}>`, ADMIN));
      if (!textOf(r.body).includes('Granted')) throw new Error(`grant ${a.role}: HTTP ${r.status} ${r.body.slice(0, 120)}`);
    }

    // --- traffic ---
    const latencies = new Map<Kind, { at: number; ms: number }[]>(kinds.map((k) => [k, []]));
    const pending = new Set<Promise<void>>();
    let start = 0;
    const fire = (kind: Kind, req: SlackRequest, check: (status: number, body: string) => string | null) => {
      result.sent[kind] += 1;
      const at = (performance.now() - start) / 1000;
      const p = send(req)
        .then((r) => {
          const problem = check(r.status, r.body) ?? (r.ms > ACK_DEADLINE_MS ? `acked after ${r.ms.toFixed(0)} ms` : null);
          if (problem) throw new Error(problem);
          latencies.get(kind)!.push({ at, ms: r.ms });
        })
        .catch((e: unknown) => {
          result.errors += 1;
          if (result.errorSamples.length < 5) result.errorSamples.push(`${kind}: ${(e as Error).message.slice(0, 160)}`);
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    };
    const ok200 = (status: number, body: string) => (status === 200 ? null : `HTTP ${status}: ${body.slice(0, 120)}`);

    // Channel cards by version, found as they are posted (the channel's messages are only ever appended to).
    const cards = new Map<string, { id: string; ts: string; text: string; blocks: unknown[] }>();
    let scanned = 0;
    const scanCards = () => {
      const msgs = fake.messages(GENERAL_CHANNEL_ID);
      for (; scanned < msgs.length; scanned++) {
        const m = msgs[scanned]!;
        const t = /^APR-\d+ Deploy api (9\.\d+\.\d+) to production — pending/.exec(m.text);
        const id = t && findApprove(m.blocks);
        if (t && id) cards.set(t[1]!, { id, ts: m.ts, text: m.text, blocks: m.blocks ?? [] });
      }
    };
    const clickWaiting: string[] = [];
    const click = (version: string, approver: (typeof APPROVERS)[number], i: number) => {
      const card = cards.get(version)!;
      fire('click', approveClick(fake, card, approver, `soak-click-${version}-${i}`), ok200);
    };
    const incidents: { n: number; channel?: FakeChannel }[] = [];
    const roomOf = (n: number): FakeChannel | undefined => fake.allChannels().find((c) => new RegExp(`^inc-\\d+-soak-incident-${n}$`).test(c.name));

    const cpuOf = () => cpuMsOf(muster!.pid);
    const cpu0 = cpuOf();
    start = performance.now();
    let nextSample = 0;
    const sample = async () => {
      const s = (performance.now() - start) / 1000;
      const mem = memoryOf(muster!.pid);
      const split = rssSplit(muster!.pid);
      const heap = await heapOf(url);
      if (mem) result.samples.push({ s, rssMb: mem.rssMb, ...split, ...heap });
    };
    for (let sec = 0; sec < seconds; sec++) {
      if (muster.exitInfo) throw new Error(`Muster exited during the soak (${JSON.stringify(muster.exitInfo)})`);
      const secondStart = start + sec * 1000;
      const at = async (offsetMs: number) => {
        const wait = secondStart + offsetMs - performance.now();
        if (wait > 0) await sleep(wait);
      };
      if (sec >= nextSample) {
        nextSample += sampleSeconds;
        void sample();
      }
      scanCards();
      // the requests of CLICK_LAG_S seconds ago, plus any still waiting for their cards
      if (sec >= CLICK_LAG_S) for (let j = 0; j < rate; j++) clickWaiting.push(`9.${sec - CLICK_LAG_S}.${j}`);
      const ready = clickWaiting.filter((v) => cards.has(v));
      result.lateCards += clickWaiting.length - ready.length;
      clickWaiting.splice(0, clickWaiting.length, ...clickWaiting.filter((v) => !cards.has(v)));
      const slots = 10;
      for (let slot = 0; slot < slots; slot++) {
        await at((slot * 1000) / slots);
        // requests spread over the second's first slots, whoami over every other slot, clicks over the rest
        if (slot < rate)
          fire(
            'request',
            command('/approval', `deploy production api 9.${sec}.${slot} soak`, REQUESTER),
            (st, b) => ok200(st, b) ?? (/requested: Deploy api/.test(textOf(b)) ? null : `request: ${textOf(b).slice(0, 120)}`),
          );
        if (slot % 2 === 0)
          for (let w = 0; w < rate; w++)
            fire('whoami', command('/muster', 'whoami', REQUESTER), (st, b) => ok200(st, b) ?? (textOf(b).includes(`<@${REQUESTER}>`) ? null : `whoami: ${textOf(b).slice(0, 120)}`));
        if (slot % 3 === 1) {
          const a = APPROVERS[(slot - 1) / 3]!;
          for (const v of ready) click(v, a, (slot - 1) / 3);
        }
      }
      result.expectedApproved += ready.length;
      // an incident every INCIDENT_EVERY_S: declared, resolved and closed in its channel some seconds later
      const phase = sec % INCIDENT_EVERY_S;
      const n = Math.floor(sec / INCIDENT_EVERY_S) + 1;
      if (phase === 1 && sec + closeAfter < seconds) {
        incidents.push({ n });
        fire(
          'incident',
          command('/incident', `declare P2 Soak incident ${n}`, REQUESTER),
          (st, b) => ok200(st, b) ?? (/Declared \*?INC-\d+/.test(textOf(b)) ? null : `declare: ${textOf(b).slice(0, 120)}`),
        );
      }
      const inc = incidents.find((x) => x.n === n);
      if (inc && (phase === 1 + resolveAfter || phase === 1 + closeAfter)) {
        inc.channel ??= roomOf(n);
        if (!inc.channel) {
          result.errors += 1;
          if (result.errorSamples.length < 5) result.errorSamples.push(`incident ${n}: no war-room channel after ${phase - 1} s`);
        } else if (phase === 1 + resolveAfter) fire('incident', command('/incident', `resolve Soak incident ${n} fixed`, REQUESTER, inc.channel.id), ok200);
        else {
          result.expectedClosed += 1;
          fire('incident', command('/incident', 'close', REQUESTER, inc.channel.id), (st, b) => ok200(st, b) ?? (/INC-\d+ closed\./.test(textOf(b)) ? null : `close: ${textOf(b).slice(0, 120)}`));
        }
      }
      // the fake's call log grows with every call; the bench keeps no use for it
      if (sec % 10 === 0) fake.clearCalls();
    }
    await Promise.all([...pending]);
    await sample();
    const cpu1 = cpuOf();
    if (cpu0 !== undefined && cpu1 !== undefined) result.cpuMsPerSecond = (cpu1 - cpu0) / seconds;
    // requests whose clicks never went out (their cards were never posted)
    if (clickWaiting.length) failures.push(`soak: ${clickWaiting.length} requests never showed their channel card, e.g. ${clickWaiting[0]}`);

    // --- figures ---
    for (const k of kinds) {
      const sorted = latencies
        .get(k)!
        .map((x) => x.ms)
        .sort((a, b) => a - b);
      result.latencyMs[k] = sorted.length ? { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) } : {};
    }
    const secondHalf = result.samples.filter((x) => x.s >= seconds / 2);
    const at = (s: number) => result.samples.reduce<SoakSample | undefined>((best, x) => (x.s <= s + 0.5 && (!best || x.s > best.s) ? x : best), undefined);
    result.rssWarmMb = at(warmS)?.rssMb;
    result.rssEndMb = result.samples.at(-1)?.rssMb;
    result.rssPeakMb = result.samples.length ? Math.max(...result.samples.map((x) => x.rssMb)) : undefined;
    // A trend over less than two minutes says nothing of leaks (V8's collections alone move it by megabytes).
    const trendOver = seconds >= 4 * 60 ? secondHalf : [];
    result.rssTrendMbPerMin = mbPerMinute(trendOver.map((x) => ({ x: x.s, y: x.rssMb })));
    result.heapWarmMb = at(warmS)?.heapUsedMb;
    result.heapEndMb = result.samples.at(-1)?.heapUsedMb;
    result.heapTotalTrendMbPerMin = mbPerMinute(trendOver.filter((x) => x.heapTotalMb !== undefined).map((x) => ({ x: x.s, y: x.heapTotalMb! })));
    const spaceTrends: Record<string, number> = {};
    for (const space of new Set(trendOver.flatMap((x) => Object.keys(x.heapSpacesMb ?? {})))) {
      const trend = mbPerMinute(trendOver.filter((x) => x.heapSpacesMb?.[space] !== undefined).map((x) => ({ x: x.s, y: x.heapSpacesMb![space]! })));
      if (trend !== undefined) spaceTrends[space] = trend;
    }
    if (Object.keys(spaceTrends).length) result.heapSpaceTrendsMbPerMin = spaceTrends;
    const wholeMinutes = Math.ceil(seconds / 60);
    for (let m = 0; m < wholeMinutes; m++) {
      const inMinute = (x: { at: number }) => x.at >= m * 60 && x.at < (m + 1) * 60;
      const p99 = (k: Kind) => {
        const l = latencies
          .get(k)!
          .filter(inMinute)
          .map((x) => x.ms)
          .sort((a, b) => a - b);
        return l.length ? percentile(l, 99) : undefined;
      };
      const last = at(Math.min((m + 1) * 60, seconds));
      const sent = zero();
      for (const k of kinds) sent[k] = latencies.get(k)!.filter(inMinute).length;
      result.perMinute.push({ minute: m + 1, sent, clickP99: p99('click'), whoamiP99: p99('whoami'), requestP99: p99('request'), rssMb: last?.rssMb, heapUsedMb: last?.heapUsedMb });
    }

    // --- afterwards: every request approved, every incident closed, the outbox finished ---
    const reader = await openDbReader(database.url);
    try {
      const quietLimit = performance.now() + 120_000;
      while (performance.now() < quietLimit) {
        const rows = await reader.all<{ status: string; n: number | string }>('SELECT status, count(*) AS n FROM outbox GROUP BY status');
        result.outbox = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
        if (Object.keys(result.outbox).every((s) => s === 'done' || s === 'dead')) break;
        await sleep(250);
      }
      result.approved = await reader.one("SELECT count(*) FROM approval_requests WHERE status = 'approved' AND kind = 'deploy'");
      result.incidentsClosed = await reader.one("SELECT count(*) FROM incidents WHERE status = 'closed'");
    } finally {
      await reader.close();
    }
    if (result.errors > 0) failures.push(`soak: ${result.errors} requests failed or were acked late, e.g. ${result.errorSamples[0]}`);
    const unfinished = Object.entries(result.outbox).filter(([s]) => s !== 'done');
    if (unfinished.length) failures.push(`soak: outbox not finished: ${unfinished.map(([s, n]) => `${n} ${s}`).join(', ')}`);
    if (result.approved !== result.expectedApproved) failures.push(`soak: ${result.approved} requests approved, expected ${result.expectedApproved}`);
    if (result.incidentsClosed !== result.expectedClosed) failures.push(`soak: ${result.incidentsClosed} incidents closed, expected ${result.expectedClosed}`);
  } catch (e) {
    failures.push(`soak: ${(e as Error).message}`);
    if (muster) o.log(dumpOutput(muster, 2_000));
  } finally {
    if (muster) {
      const st = await stopChild(muster);
      if (!st.graceful || st.code !== 0) failures.push(`soak: Muster did not exit 0 within the limit of SIGTERM (code ${st.code}, signal ${st.signal})`);
      o.onChild?.(undefined);
    }
    await fake.close();
    await database.drop();
  }
  return result;
}

/** RssAnon and RssFile of /proc/<pid>/status, MB (Linux). */
function rssSplit(pid: number): { rssAnonMb?: number; rssFileMb?: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
      return m ? Number(m[1]) / 1024 : undefined;
    };
    return { rssAnonMb: mb('RssAnon'), rssFileMb: mb('RssFile') };
  } catch {
    return {};
  }
}

function mbPerMinute(points: { x: number; y: number }[]): number | undefined {
  const s = slope(points);
  return s === undefined ? undefined : s * 60;
}

const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));
const f2 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(2));

/** The section's printed report. */
export function describeSoak(r: SoakResult): string[] {
  const out: string[] = [];
  const kinds = Object.keys(r.sent) as Kind[];
  out.push(`sent: ${kinds.map((k) => `${r.sent[k]} ${k}`).join(', ')}; ${r.errors} failed or late; ${r.lateCards} click rounds put off for a card not yet posted`);
  out.push(`ack latency, ms (p50 / p99 / max): ${kinds.map((k) => `${k} ${f1(r.latencyMs[k].p50)} / ${f1(r.latencyMs[k].p99)} / ${f1(r.latencyMs[k].max)}`).join('; ')}`);
  out.push('minute  requests  clicks  whoami  click p99 ms  whoami p99 ms  request p99 ms  RSS MB  heap used MB');
  for (const m of r.perMinute)
    out.push(
      `${String(m.minute).padStart(6)}  ${String(m.sent.request).padStart(8)}  ${String(m.sent.click).padStart(6)}  ${String(m.sent.whoami).padStart(6)}  ${f1(m.clickP99).padStart(12)}  ${f1(m.whoamiP99).padStart(13)}  ${f1(m.requestP99).padStart(14)}  ${f1(m.rssMb).padStart(6)}  ${f1(m.heapUsedMb).padStart(12)}`,
    );
  out.push(
    `RSS: ${f1(r.rssWarmMb)} MB warm (after ${r.minutes >= 2 ? 'the first minute' : 'half the soak'}), ${f1(r.rssEndMb)} MB at the end, peak ${f1(r.rssPeakMb)} MB (goal ≤ ${RSS_GOAL_MB}); ` +
      `trend over the second half ${f2(r.rssTrendMbPerMin)} MB/min (goal ≤ ${SOAK_TREND_GOAL_MB_PER_MIN})`,
  );
  out.push(
    `V8 heap used: ${f1(r.heapWarmMb)} MB warm, ${f1(r.heapEndMb)} MB at the end; V8's committed heap over the second half ${f2(r.heapTotalTrendMbPerMin)} MB/min; Muster CPU ${f1(r.cpuMsPerSecond)} ms per second of soak`,
  );
  const bySpace = Object.entries(r.heapSpaceTrendsMbPerMin ?? {})
    .filter(([, t]) => Math.abs(t) >= 0.01)
    .sort((a, b) => b[1] - a[1]);
  if (bySpace.length) out.push(`V8's committed heap by space, trend over the second half, MB/min: ${bySpace.map(([space, t]) => `${space} ${f2(t)}`).join(', ')}`);
  out.push(
    `afterwards: ${r.approved}/${r.expectedApproved} requests approved, ${r.incidentsClosed}/${r.expectedClosed} incidents closed; outbox: ${
      Object.entries(r.outbox)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ') || 'empty'
    }`,
  );
  return out;
}

// Alone: npm run bench:soak [-- --quick]
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const tmp = mkdtempSync(join(os.tmpdir(), 'muster-soak-'));
  const quick = process.argv.includes('--quick');
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', MUSTER_SLACK_PACING: 'off' };
  for (const k of Object.keys(baseEnv)) if (/^(SLACK_|DISCORD_|DATABASE_URL|MUSTER_(?!SLACK_PACING))/.test(k)) delete baseEnv[k];
  const log = (s: string) => console.log(s);
  log(`== soak ==${quick ? ' (quick)' : ''}`);
  const logDir = join(root, 'bench', 'results', 'logs');
  mkdirSync(logDir, { recursive: true });
  runSoakBench({ quick, root, tmp, logDir, baseEnv, secret: randomBytes(16).toString('hex'), botToken: 'xoxb-bench-soak', log })
    .then((r) => {
      for (const l of describeSoak(r)) log(l);
      // every sample, for a closer look (bench/results/.gitignore keeps it out of git)
      const file = process.env.BENCH_SOAK_JSON?.trim() || join(root, 'bench', 'results', 'soak.json');
      writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
      log(`wrote ${file}`);
      for (const f of r.failures) console.error(`FAIL ${f}`);
      rmSync(tmp, { recursive: true, force: true });
      process.exit(r.failures.length ? 1 : 0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
