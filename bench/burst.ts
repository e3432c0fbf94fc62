/**
 * "Burst under real limits": a burst of approval clicks against a FakeSlack that enforces Slack's rate tiers, with
 * Muster pacing itself (MUSTER_SLACK_PACING on). Issue 13's load: 300 clicks in 10 s on 100 production deploys whose
 * cards have 5 copies each (the channel where it was asked, the approvals channel, one DM per approver: release
 * manager, CTO, security lead); click i is approver i mod 3 on request ⌊i/3⌋, on the channel copy, so every request
 * ends approved.
 *
 * What a burst costs in Slack's budget: the clicked copy is redrawn through the click's response_url
 * (replace_original, no chat.update budget), the other copies by chat.update, coalesced (a copy's redraws waiting
 * together go out as one, drawn when sent). So the fewest chat.update calls that bring every copy to its final state
 * are the copies no final click redraws: 4 per request. chat.update is Tier 3, 50 a minute per workspace
 * (https://api.slack.com/methods/chat.update), so the floor is those calls ÷ 50 a minute: the fake answers calls
 * beyond its budget with 429 (its bucket holds a minute's worth, see RATE_TIERS in src/platforms/sandbox/slackWorkspace.ts),
 * and the floor here ignores that burst, as a Slack whose burst is smaller would.
 *
 * Reported: Slack calls per click by method (and response_url posts), 429s, acks, and the time from the first click
 * until every copy shows its final state, against that floor. Goal: ×1.2 of the floor, no copy left stale (a lost
 * update), ≤ 1 % of calls answered 429, nothing dead-lettered or stuck in the outbox.
 *
 * BENCH_BURST_SCALE (default 1; `--quick` 20) multiplies the fake's rates and Muster's pacing alike, so a quick run
 * shows the same shape in a tenth of the time. BENCH_BURST_REQUESTS (100), BENCH_BURST_CLICKS (300; at most 3 per
 * request), BENCH_BURST_SECONDS (10).
 *
 * Runs alone: `node --import tsx bench/burst.ts [--quick]`.
 */
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { FakeSlack, GENERAL_CHANNEL_ID, TEAM_ID, type FakeCall, type FakeResponse } from '../test/support/fakeSlack.ts';
import { FORM_CONTENT_TYPE, nowSeconds, post, sign, slashCommand } from '../test/support/slackRequests.ts';
import { runPhase, summarize, type LoadTarget, type Summary } from './load.ts';
import {
  musterEnv,
  cpuMsOf,
  dumpOutput,
  freePort,
  memoryOf,
  positiveFromEnv,
  startChild,
  statementCounts,
  statementsPer,
  stopChild,
  waitForHttp200,
  type Child,
  type SectionOptions,
  musterMain,
} from './proc.ts';
import { approveClick, findApprove } from './approval-clicks.ts';

const ADMIN = 'UBRSTADMIN';
const REQUESTER = 'UBRSTDEV';
const APPROVERS = [
  { id: 'UBRSTRM', name: 'burst-rm', role: 'release_manager' },
  { id: 'UBRSTCTO', name: 'burst-cto', role: 'cto' },
  { id: 'UBRSTSEC', name: 'burst-sec', role: 'security_lead' },
] as const;
const APPROVALS_CHANNEL = 'CBRSTAPPROVALS';
/** chat.update's published budget (Tier 3): calls a minute per workspace. */
const CHAT_UPDATE_PER_MINUTE = 50;
const COPIES_PER_REQUEST = 2 + APPROVERS.length;

export type BurstOptions = SectionOptions;

export interface BurstResult {
  scale: number;
  requests: number;
  clicks: number;
  seconds: number;
  copies: number;
  acks?: Summary;
  /** Slack Web API calls during the burst (first click until every copy was final and the outbox quiet), by method */
  callsByMethod: Record<string, number>;
  /** response_url posts during the burst: replace_original redraws of the clicked copy, and what clickers were told */
  responseRedraws: number;
  responseTold: number;
  callsTotal: number;
  http429: number;
  http429ByMethod: Record<string, number>;
  /** chat.update calls the final state needs at the least (copies no final click redraws), and the floor they take */
  chatUpdateNeeded: number;
  floorMs: number;
  /** first click → every copy showing its request's final state */
  finalMs?: number;
  /** first click → every copy in a channel (the channel where it was asked, #approvals) showing it: the DMs go after them */
  channelsFinalMs?: number;
  ratio?: number;
  /** copies not showing their final state when the wait ended */
  stale: number;
  staleSamples: string[];
  outbox: Record<string, number>;
  approved: number;
  cpuMsPerClick?: number;
  /** SQL statements per click during the burst (set-up excluded), by kind, from Muster's /metrics */
  statementsPerClick?: Record<string, number>;
  rssAfterMb?: number;
  setupMs: number;
  failures: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runBurstBench(o: BurstOptions): Promise<BurstResult> {
  const scale = positiveFromEnv('BENCH_BURST_SCALE', o.quick ? 20 : 1);
  const requests = Math.round(positiveFromEnv('BENCH_BURST_REQUESTS', o.quick ? 20 : 100));
  const clicks = Math.min(requests * APPROVERS.length, Math.round(positiveFromEnv('BENCH_BURST_CLICKS', o.quick ? 60 : 300)));
  const seconds = positiveFromEnv('BENCH_BURST_SECONDS', o.quick ? 3 : 10);
  const failures: string[] = [];
  const lastVoters = new Map<number, number>(); // request index → votes it gets
  for (let i = 0; i < clicks; i++) lastVoters.set(Math.floor(i / 3), (lastVoters.get(Math.floor(i / 3)) ?? 0) + 1);
  const clickedRequests = lastVoters.size;
  // Every copy of a clicked request must reach its final state; its final click redraws one copy through its response_url.
  const chatUpdateNeeded = clickedRequests * (COPIES_PER_REQUEST - 1);
  const floorMs = (chatUpdateNeeded / (CHAT_UPDATE_PER_MINUTE * scale)) * 60_000;
  const result: BurstResult = {
    scale,
    requests,
    clicks,
    seconds,
    copies: 0,
    callsByMethod: {},
    responseRedraws: 0,
    responseTold: 0,
    callsTotal: 0,
    http429: 0,
    http429ByMethod: {},
    chatUpdateNeeded,
    floorMs,
    stale: 0,
    staleSamples: [],
    outbox: {},
    approved: 0,
    setupMs: 0,
    failures,
  };

  // The published tiers, scaled; the burst of each bucket is the fake's documented model (a minute's worth).
  const fake = await FakeSlack.start({ tiers: { scale } });
  const dir = join(o.tmp, 'burst');
  mkdirSync(dir, { recursive: true });
  let muster: Child | undefined;
  let counting = false;
  const calls = new Map<string, number>();
  const r429 = new Map<string, number>();
  let redraws = 0;
  let told = 0;
  const pushCall = fake.calls.push.bind(fake.calls);
  fake.calls.push = (...items: FakeCall[]) => {
    if (counting)
      for (const c of items) {
        calls.set(c.method, (calls.get(c.method) ?? 0) + 1);
        if (c.status === 429) r429.set(c.method, (r429.get(c.method) ?? 0) + 1);
      }
    return pushCall(...items);
  };
  const pushResponse = fake.responses.push.bind(fake.responses);
  fake.responses.push = (...items: FakeResponse[]) => {
    if (counting) for (const r of items) r.body.replace_original === true ? (redraws += 1) : (told += 1);
    return pushResponse(...items);
  };

  try {
    fake.addUser({ id: ADMIN, name: 'burst-admin' });
    fake.addUser({ id: REQUESTER, name: 'burst-dev' });
    for (const a of APPROVERS) fake.addUser({ id: a.id, name: a.name });
    fake.addChannel({ id: APPROVALS_CHANNEL, name: 'approvals' });
    const dbFile = join(dir, 'muster.db');
    const policyFile = join(dir, 'policy.yml');
    writeFileSync(policyFile, 'approvals:\n  channel: "#approvals"\nchanges:\n  enforcedIn: []\n');
    const port = await freePort();
    muster = startChild('muster (burst)', musterMain(o.root), {
      cwd: o.root,
      // Pacing on, against the same (scaled) tiers the fake enforces.
      env: musterEnv(o, { port, slackUrl: fake.url, databaseUrl: `file:${dbFile}`, admins: ADMIN, config: policyFile, extra: { MUSTER_SLACK_PACING: String(scale) } }),
      logFile: join(o.logDir, 'burst-muster.log'),
    });
    o.onChild?.(muster);
    await waitForHttp200(muster, `http://127.0.0.1:${port}/readyz`, 30_000);
    const url = `http://127.0.0.1:${port}`;
    o.log(`  muster pid ${muster.pid} on :${port} (fresh SQLite, MUSTER_SLACK_PACING=${scale}); FakeSlack enforces the published tiers ×${scale}`);

    const command = async (cmd: string, text: string, userId: string): Promise<{ status: number; text: string }> => {
      const req = slashCommand({ command: cmd, text, userId, teamId: TEAM_ID, channelId: GENERAL_CHANNEL_ID, responseUrl: fake.responseUrl(`cmd-${randomBytes(6).toString('hex')}`) });
      const r = await post(url, req, { secret: o.secret, timeoutMs: 10_000 });
      let t = r.body;
      try {
        t = (JSON.parse(r.body) as { text?: string }).text ?? t;
      } catch {
        // the raw body
      }
      return { status: r.status, text: t };
    };
    for (const a of APPROVERS) {
      const r = await command('/muster', `grant ${a.role} <@${a.id}>`, ADMIN);
      if (!r.text.includes('Granted')) throw new Error(`grant ${a.role}: HTTP ${r.status} ${r.text.slice(0, 120)}`);
    }

    // --- set-up: the requests, their 5 copies each posted (paced by Muster within the tiers) ---
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < requests) {
          const j = next++;
          const r = await command('/approval', `deploy production api 7.0.${j} burst`, REQUESTER);
          if (!/requested: Deploy api/.test(r.text)) throw new Error(`request ${j}: HTTP ${r.status} ${r.text.slice(0, 160)}`);
        }
      }),
    );
    type Copy = { channel: string; ts: string };
    const cards = new Map<string, { ref: string; id: string; ts: string; text: string; blocks: unknown[] }>();
    const copies = new Map<string, Copy[]>();
    const channels = () => [GENERAL_CHANNEL_ID, APPROVALS_CHANNEL, ...APPROVERS.map((a) => fake.imChannelId(a.id)).filter((x): x is string => x !== undefined)];
    const setupLimit = performance.now() + 120_000 + (requests * COPIES_PER_REQUEST * 60_000) / (60 * scale);
    for (;;) {
      cards.clear();
      copies.clear();
      for (const ch of channels()) {
        for (const m of fake.messages(ch)) {
          const t = /^(APR-\d+) Deploy api (7\.0\.\d+) to production — pending/.exec(m.text);
          const id = t && findApprove(m.blocks);
          if (!t || !id) continue;
          if (ch === GENERAL_CHANNEL_ID) cards.set(t[2]!, { ref: t[1]!, id, ts: m.ts, text: m.text, blocks: m.blocks ?? [] });
          copies.set(id, [...(copies.get(id) ?? []), { channel: ch, ts: m.ts }]);
        }
      }
      const complete = cards.size === requests && [...copies.values()].every((l) => l.length === COPIES_PER_REQUEST) && copies.size === requests;
      if (complete) break;
      if (performance.now() > setupLimit || muster.exitInfo)
        throw new Error(`set-up: ${cards.size}/${requests} channel cards, ${[...copies.values()].flat().length}/${requests * COPIES_PER_REQUEST} copies posted in time`);
      await sleep(250);
    }
    await sleep(1_500); // the set-up's last DMs and redraws
    result.setupMs = performance.now() - t0;
    result.copies = clickedRequests * COPIES_PER_REQUEST;
    o.log(`  set-up: ${requests} production deploys, ${requests * COPIES_PER_REQUEST} card copies posted within the tiers in ${(result.setupMs / 1000).toFixed(1)} s`);

    // --- the burst ---
    const ordered = Array.from({ length: requests }, (_, j) => cards.get(`7.0.${j}`)!);
    const target: LoadTarget = {
      name: 'burst',
      host: '127.0.0.1',
      port,
      path: '/slack/events',
      build(i) {
        const card = ordered[Math.floor(i / 3)]!;
        const user = APPROVERS[i % 3]!;
        const { body } = approveClick(fake, card, user, `burst-${i}`);
        return { body, headers: { ...sign(o.secret, body, nowSeconds(), FORM_CONTENT_TYPE) } };
      },
      check: (status, body) => (status === 200 ? null : `HTTP ${status}: ${body.slice(0, 120)}`),
    };
    const rate = clicks / seconds;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const cpu0 = cpuMsOf(muster.pid);
    const statements0 = await statementCounts(url);
    counting = true;
    const start = performance.now();
    let run;
    try {
      run = await runPhase(target, { rate, seconds, agent, timeoutMs: 10_000 });
    } finally {
      agent.destroy();
    }
    result.acks = summarize(run);
    o.log(`  ${clicks} clicks at ${rate.toFixed(0)}/s: ${result.acks.ok}/${result.acks.sent} acked, p50 ${result.acks.p50.toFixed(1)} ms, p99 ${result.acks.p99.toFixed(1)} ms`);

    // --- until every copy shows its final state ---
    const finalText = (ref: string, j: number) => {
      const votes = lastVoters.get(j) ?? 0;
      return votes === 3 ? new RegExp(`^${ref} Deploy api 7\\.0\\.${j} to production — Approved`) : new RegExp(`^${ref} Deploy api 7\\.0\\.${j} to production — pending ${votes}/3`);
    };
    const want = [...lastVoters.keys()].flatMap((j) => (copies.get(ordered[j]!.id) ?? []).map((c) => ({ ...c, j, re: finalText(ordered[j]!.ref, j) })));
    const waitLimit = start + seconds * 1000 + floorMs * 3 + 60_000;
    let staleNow = want;
    let lastDots = 0;
    const inChannels = want.filter((c) => fake.channel(c.channel)?.is_im !== true);
    while (performance.now() < waitLimit && !muster.exitInfo) {
      staleNow = want.filter((c) => !c.re.test(fake.message(c.channel, c.ts)?.text ?? ''));
      if (result.channelsFinalMs === undefined) {
        const stale = new Set(staleNow);
        if (!inChannels.some((c) => stale.has(c))) result.channelsFinalMs = performance.now() - start;
      }
      if (staleNow.length === 0) break;
      if (performance.now() - lastDots > 30_000) {
        lastDots = performance.now();
        o.log(`    … ${want.length - staleNow.length}/${want.length} copies final after ${((performance.now() - start) / 1000).toFixed(0)} s (floor ${(floorMs / 1000).toFixed(0)} s)`);
      }
      await sleep(100);
    }
    if (staleNow.length === 0) {
      result.finalMs = performance.now() - start;
      result.ratio = result.finalMs / floorMs;
    }
    result.stale = staleNow.length;
    result.staleSamples = staleNow.slice(0, 3).map((c) => `${ordered[c.j]!.ref} in ${c.channel}: "${(fake.message(c.channel, c.ts)?.text ?? '').slice(0, 80)}"`);
    // The outbox's last effects (the requester's DMs, paced per channel) before counting.
    const quietLimit = performance.now() + 120_000 + (clickedRequests * 60_000) / (60 * scale);
    let outbox: Record<string, number> = {};
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      while (performance.now() < quietLimit) {
        outbox = Object.fromEntries((db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n]));
        if (Object.keys(outbox).every((s) => s === 'done' || s === 'dead')) break;
        await sleep(250);
      }
      result.approved = (db.prepare("SELECT count(*) AS n FROM approval_requests WHERE status = 'approved' AND kind = 'deploy'").get() as { n: number }).n;
    } finally {
      db.close();
    }
    counting = false;
    const statements1 = await statementCounts(url);
    result.statementsPerClick = statementsPer(statements0, statements1, clicks);
    const cpu1 = cpuMsOf(muster.pid);
    if (cpu0 !== undefined && cpu1 !== undefined) result.cpuMsPerClick = (cpu1 - cpu0) / clicks;
    result.rssAfterMb = memoryOf(muster.pid)?.rssMb;
    result.outbox = outbox;
    result.callsByMethod = Object.fromEntries([...calls].sort());
    result.http429ByMethod = Object.fromEntries([...r429].sort());
    result.callsTotal = [...calls.values()].reduce((a, b) => a + b, 0);
    result.http429 = [...r429.values()].reduce((a, b) => a + b, 0);
    result.responseRedraws = redraws;
    result.responseTold = told;

    if (result.acks.errors > 0) failures.push(`burst: ${result.acks.errors} clicks not acked with 200`);
    if (result.stale > 0) failures.push(`burst: ${result.stale} card copies never showed their final state (lost updates), e.g. ${result.staleSamples[0]}`);
    const unfinished = Object.entries(outbox).filter(([s]) => s !== 'done');
    if (unfinished.length) failures.push(`burst: outbox not finished: ${unfinished.map(([s, n]) => `${n} ${s}`).join(', ')}`);
    const fullyVoted = [...lastVoters.values()].filter((v) => v === 3).length;
    if (result.approved !== fullyVoted) failures.push(`burst: ${result.approved} requests approved, expected ${fullyVoted}`);
  } catch (e) {
    failures.push(`burst: ${(e as Error).message}`);
    if (muster) o.log(dumpOutput(muster, 2_000));
  } finally {
    counting = false;
    if (muster) {
      await stopChild(muster);
      o.onChild?.(undefined);
    }
    await fake.close();
  }
  return result;
}

const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));
const f2 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(2));

/** The section's printed report. */
export function describeBurst(r: BurstResult): string[] {
  const out: string[] = [];
  const per = (n: number) => f2(n / r.clicks);
  out.push(`Slack calls during the burst (first click → every copy final and the outbox quiet), per click:`);
  const methods = Object.keys(r.callsByMethod);
  const w = Math.max(18, ...methods.map((m) => m.length));
  out.push(`  ${'method'.padEnd(w)}  calls  per click  429s`);
  for (const m of methods) out.push(`  ${m.padEnd(w)}  ${String(r.callsByMethod[m]).padStart(5)}  ${per(r.callsByMethod[m]!).padStart(9)}  ${String(r.http429ByMethod[m] ?? 0).padStart(4)}`);
  out.push(`  ${'response_url redraw'.padEnd(w)}  ${String(r.responseRedraws).padStart(5)}  ${per(r.responseRedraws).padStart(9)}     -   (replace_original: the clicked copy, no chat.update budget)`);
  out.push(`  ${'response_url told'.padEnd(w)}  ${String(r.responseTold).padStart(5)}  ${per(r.responseTold).padStart(9)}     -   (what each clicker is told)`);
  const pct = r.callsTotal ? (100 * r.http429) / r.callsTotal : 0;
  out.push(`429s: ${r.http429} of ${r.callsTotal} Web API calls (${pct.toFixed(2)} %; goal ≤ 1 %)`);
  out.push(
    `every copy final: ${r.finalMs === undefined ? `NOT within the wait (${r.stale} stale)` : `${(r.finalMs / 1000).toFixed(1)} s after the first click`}; ` +
      `floor ${(r.floorMs / 1000).toFixed(1)} s = ${r.chatUpdateNeeded} chat.update calls needed ÷ ${CHAT_UPDATE_PER_MINUTE * r.scale}/min` +
      `${r.ratio === undefined ? '' : `; ×${f2(r.ratio)} of the floor (goal ≤ ×1.2)`}`,
  );
  if (r.channelsFinalMs !== undefined) out.push(`every copy in a channel final: ${(r.channelsFinalMs / 1000).toFixed(1)} s after the first click (the DMs are redrawn after them)`);
  out.push(
    `lost updates: ${r.stale}; requests approved: ${r.approved}; outbox: ${Object.entries(r.outbox)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ')}; Muster CPU ${f1(r.cpuMsPerClick)} ms per click, RSS after ${f1(r.rssAfterMb)} MB`,
  );
  if (r.statementsPerClick) {
    const total = Object.values(r.statementsPerClick).reduce((a, b) => a + b, 0);
    out.push(
      `SQL statements per click (the vote, its redraws, pacing and the rest, until the outbox was quiet): ${total.toFixed(1)} — ${Object.entries(r.statementsPerClick)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
  }
  return out;
}

// Alone: node --import tsx bench/burst.ts [--quick]
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const tmp = mkdtempSync(join(os.tmpdir(), 'muster-burst-'));
  const quick = process.argv.includes('--quick');
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
  for (const k of Object.keys(baseEnv)) if (/^(SLACK_|DISCORD_|DATABASE_URL|MUSTER_)/.test(k)) delete baseEnv[k];
  const log = (s: string) => console.log(s);
  log(`== burst under real limits ==${quick ? ' (quick)' : ''}`);
  runBurstBench({ quick, root, tmp, logDir: join(root, 'bench', 'results', 'logs'), baseEnv, secret: randomBytes(16).toString('hex'), botToken: 'xoxb-bench-burst', log })
    .then((r) => {
      for (const l of describeBurst(r)) log(l);
      for (const f of r.failures) console.error(`FAIL ${f}`);
      rmSync(tmp, { recursive: true, force: true });
      process.exit(r.failures.length ? 1 : 0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
