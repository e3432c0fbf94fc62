/**
 * `npm run bench`, section "change votes": ack latency of the Approve button on change cards (CHG-n),
 * where every click is a real CAB vote — the approval-clicks section's measurement, for change control.
 *
 *  - its own FakeSlack (no latency) and its own Muster process (fresh SQLite, a policy file that only sets
 *    `changes.enforcedIn: []` so that windows and freezes hold nothing back whatever the hour; the CAB is the
 *    default one: seats change manager (release_manager, required), technical, security and business, quorum
 *    3). A bench admin grants one seat's role to each of four CAB members with signed `/muster grant`;
 *  - before each measured phase, a requester raises the normal changes that phase needs as a person does:
 *    signed `/change new normal` (Muster opens the change form with views.open), then the form submitted
 *    (a signed view_submission with the form's private_metadata, production, a window tomorrow). The bench
 *    waits for every change's channel card and the CAB members' DM copies, and for Muster's outbox to go
 *    quiet, then takes each change's Approve button value from the DM copy of the member who will click it;
 *  - clicks are signed `block_actions` (Approve, a fresh trigger_id each) sent open loop: change k gets
 *    clicks i = 3k, 3k+1, 3k+2 from the change manager and then two of the other three seats in turn, so
 *    every click is a vote that fills a seat and the quorum-th vote to commit decides (at high rates a
 *    change's three clicks are in flight together, so that is not always the last one sent): the round is
 *    approved and the change scheduled. The outcome posted on each click's response_url tells a vote ("Your
 *    approval of APR-n is in") from the deciding one ("APR-n approved — all 3 approvals are in"): exactly
 *    one per fully clicked change;
 *  - every copy of each clicked card (the channel card and one DM per CAB member) is followed through the
 *    fake's chat.update answers: "cards final" is the time from the last click sent until every copy shows
 *    the state its change ended in (scheduled with the round Approved, or pending k/3);
 *  - a step-up finds the highest click rate at which the acks hold (p99 under the limit, no errors, every
 *    click a vote) and the highest at which every card copy is final within the lag limit of the last click;
 *  - after Muster stopped, its database is opened read-only (better-sqlite3): each click must have left
 *    exactly one approve vote (that change's round, that member, that member's seat role), and exactly the
 *    changes that got a quorum are scheduled with their round approved.
 */
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ACTIONS, FIELDS, VIEWS } from '../blocks/actionIds.ts';
import { parsePolicyText } from '../src/config/policy.ts';
import { FakeSlack, GENERAL_CHANNEL_ID, TEAM_ID, type FakeCall, type FakeResponse } from '../test/support/fakeSlack.ts';
import { FORM_CONTENT_TYPE, blockAction, nowSeconds, post, sign, slashCommand, stateValue, viewSubmission } from '../test/support/slackRequests.ts';
import { runPhase, summarize, type LoadTarget } from './load.ts';
import {
  musterEnv,
  cpuMsOf,
  describeExit,
  dumpOutput,
  freePort,
  indentTail,
  logMark,
  logSince,
  memoryOf,
  startChild,
  stopChild,
  waitForHttp200,
  type Child,
  type Memory,
  type StopResult,
  musterMain,
} from './proc.ts';
import { SLACK_ACK_DEADLINE_MS, cardsHeld, cpuBusy, quantiles, quiet, stepHeld, sustainedRate, table, type CardsRecord, type PhaseRecord, type Quantiles } from './approval-clicks.ts';

export interface ChangeBenchOptions {
  root: string;
  tmp: string;
  /** environment for the child, Slack / database variables already removed */
  baseEnv: NodeJS.ProcessEnv;
  logDir: string;
  secret: string;
  botToken: string;
  /** clicks/s and seconds of the measured phase; warm-up seconds before it (at the same rate, not counted) */
  rate: number;
  seconds: number;
  warmupSeconds: number;
  /** step-up rates (clicks/s) and seconds per step */
  steps: number[];
  stepSeconds: number;
  maxP99Ms: number;
  cardsMaxLagMs: number;
  /** extra steps bisecting between the last held and the first failing rate, per criterion */
  refineSteps: number;
  maxSockets: number;
  requestTimeoutMs: number;
  startTimeoutMs: number;
  shutdownLimitMs: number;
  /** changes raised concurrently during set-up */
  createConcurrency: number;
  /** told about the Muster child when it is spawned, and undefined when it is gone (emergency cleanup) */
  onChild(c: Child | undefined): void;
}

const ADMIN = 'UCHGADMIN';
const REQUESTER = 'UCHGDEV';
/** One member per default CAB seat (changes.cab.seats), each holding one of the seat's roles. */
const CAB = [
  { id: 'UCHGRM', name: 'cab-release-manager', role: 'release_manager' },
  { id: 'UCHGTL', name: 'cab-tech-lead', role: 'tech_lead' },
  { id: 'UCHGSEC', name: 'cab-security-lead', role: 'security_lead' },
  { id: 'UCHGPO', name: 'cab-product-owner', role: 'product_owner' },
] as const;
type Member = (typeof CAB)[number];
/** Windows and freezes apply nowhere: a normal change is never held for the hour the bench runs at. */
const POLICY_TEXT = 'changes:\n  enforcedIn: []\n';
/** how long quiet() (bench/approval-clicks.ts) waits without a call before it calls the outbox quiet */
const QUIET_MS = 400;
const QUIET_LIMIT_MS = 60_000;
const QUIET_PER_ITEM_MS = 60;
const CONFIRM_LIMIT_MS = 30_000;
const TITLE = 'Bench change';
/** A change card's message text: "CHG-12 Bench change 3.7 · pending". */
const CARD_TEXT = /^(CHG-(\d+)) Bench change (\S+) · (.+)$/;
const VOTE_RE = /Your approval of APR-\d+ is in/;
const DECIDED_RE = /APR-\d+ approved — all \d+ approvals are in/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The CAB as the policy file makes it (the defaults), and who votes on change j: the members of the required
 * seats, then the other seats' members in turn, `quorum` in all. Every seat the bench uses takes one vote
 * (count 1), so each click fills a seat and the quorum-th decides.
 */
function cabPlan(): { quorum: number; seats: Array<{ name: string; required: boolean; member: Member }>; votersOf(j: number): Member[] } {
  const parsed = parsePolicyText(POLICY_TEXT, 'bench policy');
  if (!parsed.policy) throw new Error(`the bench policy does not parse: ${JSON.stringify(parsed.problems)}`);
  const { seats, quorum } = parsed.policy.changes.cab;
  const planned = seats.map((s) => {
    const member = CAB.find((m) => (s.anyOf as readonly string[]).includes(m.role));
    if (!member) throw new Error(`no bench CAB member holds a role of seat "${s.name}" (${s.anyOf.join(', ')})`);
    if (s.count !== 1) throw new Error(`seat "${s.name}" takes ${s.count} votes; the bench plans one per seat`);
    return { name: s.name, required: s.required, member };
  });
  const required = planned.filter((s) => s.required).map((s) => s.member);
  const others = planned.filter((s) => !s.required).map((s) => s.member);
  if (required.length > quorum || required.length + others.length < quorum) throw new Error(`the CAB (${planned.length} seats, ${required.length} required) cannot be planned for quorum ${quorum}`);
  const need = quorum - required.length;
  return {
    quorum,
    seats: planned,
    votersOf: (j) => [...required, ...Array.from({ length: need }, (_, k) => others[(j + k) % others.length]!)],
  };
}

function findButton(blocks: unknown, actionId: string): string | undefined {
  if (Array.isArray(blocks)) {
    for (const b of blocks) {
      const v = findButton(b, actionId);
      if (v !== undefined) return v;
    }
  } else if (blocks && typeof blocks === 'object') {
    const o = blocks as Record<string, unknown>;
    if (o.action_id === actionId && typeof o.value === 'string') return o.value;
    for (const v of Object.values(o)) {
      const found = findButton(v, actionId);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** A copy of a change card as posted: where, and what it showed (the clicker echoes it back). */
interface Copy {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
}

/** A pending normal change as its cards show it. */
interface ChangeCardInfo {
  ref: string;
  number: number;
  key: string;
  /** the Approve button's value (the change's id) */
  id: string;
  channel: Copy;
  /** the CAB members' DM copies, by member id */
  dms: Map<string, Copy>;
}

export interface ChangeDbCheck {
  ok: boolean;
  clicks: number;
  /** clicks whose (change, member) has exactly one approve vote, with that member's seat role */
  clicksWithOneVote: number;
  votes: number;
  scheduled: number;
  expectedScheduled: number;
  roundsApproved: number;
  pending: number;
  expectedPending: number;
  otherStatus: number;
  auditApprove: number;
  auditChangeApproved: number;
  auditDenied: number;
  /** changes whose change_cards rows (every copy Muster keeps redrawing) are not exactly the copies the bench followed */
  copiesNotFollowed: number;
  outbox: Record<string, number>;
  byPhase: Array<{ label: string; changes: number; clicks: number; clicksWithOneVote: number; votes: number; scheduled: number; expectedScheduled: number; pending: number }>;
  samples: string[];
  error?: string;
}

export interface ChangeBenchResult {
  muster: {
    warmup?: PhaseRecord;
    main?: PhaseRecord;
    steps: PhaseRecord[];
    readyMs: number;
    memoryIdle?: Memory;
    memoryAfter?: Memory;
    stop?: StopResult;
    logLines: number;
    infoLines?: number;
    lastOutput: string;
  };
  quorum: number;
  seats: Array<{ name: string; required: boolean; member: string; role: string }>;
  grants: number;
  db?: ChangeDbCheck;
  failures: string[];
}

/** What a phase clicked: per change, who voted (in click order), and how many copies of its card the bench followed. */
interface PhaseClicks {
  label: string;
  changes: Array<{ number: number; voters: Member[]; copies: number }>;
}

export async function runChangeVoteBench(o: ChangeBenchOptions): Promise<ChangeBenchResult> {
  const failures: string[] = [];
  const plan = cabPlan();
  const Q = plan.quorum;
  const result: ChangeBenchResult = {
    muster: { steps: [], readyMs: Number.NaN, logLines: 0, lastOutput: '' },
    quorum: Q,
    seats: plan.seats.map((s) => ({ name: s.name, required: s.required, member: s.member.id, role: s.member.role })),
    grants: 0,
    failures,
  };
  const fake = await FakeSlack.start();
  let muster: Child | undefined;
  const dir = join(o.tmp, 'change-votes');
  mkdirSync(dir, { recursive: true });
  const dbFile = join(dir, 'changes.db');
  const phases: PhaseClicks[] = [];

  // When each click's outcome reached its response_url, and what it said.
  const outcomeAt = new Map<string, { at: number; text: string }>();
  /** The card copy each click was on (`channel:ts`), by its response_url id: a replace_original post redraws that copy. */
  const clickedCopy = new Map<string, string>();
  const push = fake.responses.push.bind(fake.responses);
  fake.responses.push = (...items: FakeResponse[]) => {
    const at = performance.now();
    for (const it of items) {
      if (!it.id.startsWith('vote-')) continue;
      const text = typeof it.body.text === 'string' ? it.body.text : JSON.stringify(it.body);
      // Muster redraws the clicked copy through the click's response_url (replace_original): an update of that copy,
      // not what the member is told (counted with the copies' chat.update calls in `updates`).
      const copy = it.body.replace_original === true ? clickedCopy.get(it.id) : undefined;
      if (copy) {
        if (!CARD_TEXT.test(text)) continue;
        const list = updates.get(copy) ?? [];
        list.push({ at, state: cardState(text, it.body.blocks, Q) });
        updates.set(copy, list);
      } else outcomeAt.set(it.id, { at, text });
    }
    return push(...items);
  };

  // Every successful redraw of a change card (chat.update, or replace_original above), by message: when the fake answered it and the state it drew
  // (the votes the card shows: Q once the round is approved and the change scheduled; -1 for anything else).
  const updates = new Map<string, Array<{ at: number; state: number }>>();
  const pushCall = fake.calls.push.bind(fake.calls);
  fake.calls.push = (...items: FakeCall[]) => {
    const at = performance.now();
    for (const c of items) {
      const r = c.response;
      if (c.method !== 'chat.update' || r?.ok !== true || typeof r.channel !== 'string' || typeof r.ts !== 'string' || typeof r.text !== 'string') continue;
      if (!CARD_TEXT.test(r.text)) continue;
      const blocks = (r.message as { blocks?: unknown } | undefined)?.blocks;
      const key = `${r.channel}:${r.ts}`;
      const list = updates.get(key) ?? [];
      list.push({ at, state: cardState(r.text, blocks, Q) });
      updates.set(key, list);
    }
    return pushCall(...items);
  };

  try {
    fake.addUser({ id: ADMIN, name: 'bench-admin' });
    fake.addUser({ id: REQUESTER, name: 'bench-requester' });
    for (const m of CAB) fake.addUser({ id: m.id, name: m.name });

    // --- Muster ---
    const port = await freePort();
    const policyFile = join(dir, 'policy.yml');
    writeFileSync(policyFile, POLICY_TEXT);
    const t0 = performance.now();
    muster = startChild('muster (change votes)', musterMain(o.root), {
      cwd: o.root,
      env: musterEnv(o, { port, slackUrl: fake.url, databaseUrl: `file:${dbFile}`, admins: ADMIN, config: policyFile }),
      logFile: join(o.logDir, 'change-votes-muster.log'),
    });
    o.onChild(muster);
    try {
      await waitForHttp200(muster, `http://127.0.0.1:${port}/readyz`, o.startTimeoutMs);
    } catch (e) {
      failures.push(`change votes: Muster failed to start: ${(e as Error).message}`);
      result.muster.lastOutput = dumpOutput(muster);
      return result;
    }
    result.muster.readyMs = performance.now() - t0;
    const url = `http://127.0.0.1:${port}`;
    console.log(`  muster    pid ${muster.pid} on :${port}, /readyz 200 after ${result.muster.readyMs.toFixed(0)} ms (fresh SQLite, changes.enforcedIn: [], default CAB, MUSTER_ADMINS=${ADMIN})`);

    // --- the CAB, by signed /muster grant from the admin ---
    const command = async (cmd: string, text: string, userId: string, userName: string, triggerId?: string): Promise<{ status: number; text: string }> => {
      const req = slashCommand({
        command: cmd,
        text,
        userId,
        userName,
        teamId: TEAM_ID,
        channelId: GENERAL_CHANNEL_ID,
        responseUrl: fake.responseUrl(`cmd-${Math.random().toString(36).slice(2)}`),
        ...(triggerId ? { triggerId } : {}),
      });
      const r = await post(url, req, { secret: o.secret, timeoutMs: o.requestTimeoutMs });
      let t = r.body;
      try {
        const j = JSON.parse(r.body) as { text?: unknown };
        if (typeof j.text === 'string') t = j.text;
      } catch {
        // keep the raw body
      }
      return { status: r.status, text: t };
    };
    for (const m of CAB) {
      const r = await command('/muster', `grant ${m.role} <@${m.id}>`, ADMIN, 'bench-admin');
      if (r.status !== 200 || !r.text.includes('Granted')) {
        failures.push(`change votes: /muster grant ${m.role} <@${m.id}> answered HTTP ${r.status}: ${r.text.slice(0, 160)}`);
        return result;
      }
      result.grants += 1;
    }
    await quiet(fake, QUIET_LIMIT_MS);
    console.log(`  CAB (quorum ${Q}): ${plan.seats.map((s) => `${s.name}${s.required ? ' (required)' : ''} = ${s.member.role} <@${s.member.id}>`).join(', ')} (signed /muster grant from the admin)`);
    await sleep(300);
    result.muster.memoryIdle = memoryOf(muster.pid);
    const logStart = logMark(muster);

    // --- cards: each change's channel card and the CAB members' DM copies, read off the fake ---
    const byKey = new Map<string, ChangeCardInfo>();
    const byId = new Map<string, ChangeCardInfo>();
    const scanned = new Map<string, number>();
    const dmChannels = () =>
      CAB.flatMap((m) => {
        const ch = fake.imChannelId(m.id);
        return ch === undefined ? [] : [[m.id, ch] as const];
      });
    const scan = () => {
      const where: Array<{ ch: string; member?: string }> = [{ ch: GENERAL_CHANNEL_ID }, ...dmChannels().map(([member, ch]) => ({ ch, member }))];
      for (const { ch, member } of where) {
        const msgs = fake.messages(ch);
        for (let k = scanned.get(ch) ?? 0; k < msgs.length; k++) {
          const m = msgs[k]!;
          const t = CARD_TEXT.exec(m.text);
          if (!t) continue;
          const id = findButton(m.blocks, ACTIONS.change.approve);
          if (!id) continue;
          const copy: Copy = { channel: ch, ts: m.ts, text: m.text, blocks: m.blocks ?? [] };
          let info = byId.get(id);
          if (member === undefined) {
            info = { ref: t[1]!, number: Number(t[2]), key: t[3]!, id, channel: copy, dms: info?.dms ?? new Map() };
            byId.set(id, info);
            byKey.set(info.key, info);
          } else {
            if (!info) {
              // a DM copy seen before the channel card: kept until the channel card shows up
              info = { ref: t[1]!, number: Number(t[2]), key: t[3]!, id, channel: undefined as unknown as Copy, dms: new Map() };
              byId.set(id, info);
            }
            info.dms.set(member, copy);
          }
        }
        scanned.set(ch, msgs.length);
      }
    };

    const windowDay = () => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const formValues = (key: string) => {
      const fields: Array<[keyof typeof FIELDS, Record<string, unknown>]> = [
        ['title', stateValue.plainText(`${TITLE} ${key}`)],
        ['environment', stateValue.staticSelect('production')],
        ['systems', stateValue.plainText('api')],
        ['impact', stateValue.staticSelect('medium')],
        ['risk', stateValue.staticSelect('medium')],
        ['affectedUsers', stateValue.staticSelect('some')],
        ['downtime', stateValue.staticSelect('minutes')],
        // organization.timeZone is UTC (the default): tomorrow 10:00 for an hour
        ['windowStart', stateValue.plainText(`${windowDay()} 10:00`)],
        ['windowLength', stateValue.plainText('1h')],
        ['rollbackPlan', stateValue.plainText('Redeploy the previous image')],
        ['rollbackTested', stateValue.radio('yes')],
      ];
      return Object.fromEntries(fields.map(([f, v]) => [FIELDS[f].block, { [FIELDS[f].block]: v }]));
    };

    /** `/change new normal`, then the form Muster opened, submitted: one normal change. */
    const raiseChange = async (key: string): Promise<string | null> => {
      const trigger = fake.trigger(REQUESTER);
      const r = await command('/change', 'new normal', REQUESTER, 'bench-requester', trigger);
      if (r.status !== 200) return `/change new normal: HTTP ${r.status}: ${r.text.slice(0, 160)}`;
      let view: { id?: unknown; callback_id?: unknown; private_metadata?: unknown } | undefined;
      for (let k = fake.calls.length - 1; k >= 0; k--) {
        const c = fake.calls[k]!;
        if (c.method === 'views.open' && c.args.trigger_id === trigger) {
          view = (c.response?.view ?? undefined) as typeof view;
          break;
        }
      }
      if (!view || view.callback_id !== VIEWS.changeNew || typeof view.private_metadata !== 'string') return `/change new normal opened no change form (${r.text.slice(0, 120)})`;
      const sub = viewSubmission({
        callbackId: view.callback_id,
        privateMetadata: view.private_metadata,
        values: formValues(key),
        userId: REQUESTER,
        userName: 'bench-requester',
        teamId: TEAM_ID,
        ...(typeof view.id === 'string' ? { viewId: view.id } : {}),
      });
      const s = await post(url, sub, { secret: o.secret, timeoutMs: o.requestTimeoutMs });
      if (s.status !== 200 || s.body.includes('response_action')) return `the change form was refused: HTTP ${s.status}: ${s.body.slice(0, 200)}`;
      return null;
    };

    let phaseNo = 0;
    /** Raises `n` normal changes for a phase and returns their cards, in order. */
    const createChanges = async (n: number): Promise<{ cards: ChangeCardInfo[]; createMs: number; cardsMs: number; quietMs: number }> => {
      phaseNo += 1;
      const keys = Array.from({ length: n }, (_, j) => `${phaseNo}.${j}`);
      const t1 = performance.now();
      let next = 0;
      const problems: string[] = [];
      await Promise.all(
        Array.from({ length: Math.min(o.createConcurrency, n) }, async () => {
          while (next < n) {
            const problem = await raiseChange(keys[next++]!);
            if (problem) problems.push(problem);
          }
        }),
      );
      const createMs = performance.now() - t1;
      if (problems.length) throw new Error(`${problems.length}/${n} changes could not be raised, e.g. ${problems[0]}`);
      const t2 = performance.now();
      const limit = QUIET_LIMIT_MS + n * QUIET_PER_ITEM_MS;
      const deadline = t2 + limit;
      const ready = (k: string) => {
        const c = byKey.get(k);
        return c !== undefined && CAB.every((m) => c.dms.has(m.id));
      };
      for (;;) {
        scan();
        if (keys.every(ready)) break;
        if (performance.now() > deadline || muster!.exitInfo) {
          throw new Error(`within ${limit / 1000} s only ${keys.filter((k) => byKey.has(k)).length}/${n} change cards were posted, ${keys.filter(ready).length} with a DM copy for every CAB member`);
        }
        await sleep(50);
      }
      const cardsMs = performance.now() - t2;
      const t3 = performance.now();
      if (!(await quiet(fake, limit))) throw new Error(`Muster's outbox did not go quiet within ${limit / 1000} s of raising the changes`);
      return { cards: keys.map((k) => byKey.get(k)!), createMs, cardsMs, quietMs: performance.now() - t3 };
    };

    interface Click {
      card: ChangeCardInfo;
      voter: Member;
    }
    const clickTarget = (name: string, planOf: (i: number) => Click, responseId: (i: number) => string): LoadTarget => ({
      name,
      host: '127.0.0.1',
      port,
      path: '/slack/events',
      build(i) {
        const p = planOf(i);
        // The member clicks Approve on the copy Muster sent them.
        const copy = p.card.dms.get(p.voter.id)!;
        clickedCopy.set(responseId(i), `${copy.channel}:${copy.ts}`);
        const value = findButton(copy.blocks, ACTIONS.change.approve)!;
        const { body } = blockAction({
          actionId: ACTIONS.change.approve,
          value,
          blockId: 'change-actions',
          text: 'Approve',
          userId: p.voter.id,
          userName: p.voter.name,
          teamId: TEAM_ID,
          channelId: copy.channel,
          messageTs: copy.ts,
          message: { text: copy.text, blocks: copy.blocks },
          // Slack's response_url of a click on a message acts on that message (replace_original redraws it).
          responseUrl: fake.responseUrl(responseId(i), { channel: copy.channel, user: p.voter.id, messageTs: copy.ts }),
        });
        return { body, headers: { ...sign(o.secret, body, nowSeconds(), FORM_CONTENT_TYPE) } };
      },
      check(status, body) {
        return status === 200 ? null : `HTTP ${status}: ${body.slice(0, 120)}`;
      },
    });

    const clicksFor = (rate: number, seconds: number) => Math.max(1, Math.round(rate * seconds));

    /** One phase: raise its changes, click, wait for every outcome and for the outbox to drain, then read the cards. */
    const phase = async (label: string, rate: number, seconds: number): Promise<PhaseRecord> => {
      const total = clicksFor(rate, seconds);
      const nChanges = Math.ceil(total / Q);
      const made = await createChanges(nChanges);
      const votersOf = made.cards.map((_, j) => plan.votersOf(j));
      phases.push({ label, changes: made.cards.map((c, j) => ({ number: c.number, voters: votersOf[j]!.slice(0, Math.min(Q, total - j * Q)), copies: 1 + c.dms.size })) });
      const busy = await cpuBusy(300);
      const planOf = (i: number): Click => ({ card: made.cards[Math.floor(i / Q)]!, voter: votersOf[Math.floor(i / Q)]![i % Q]! });
      const rid = (i: number) => `vote-${label}-${i}`;
      const sent = new Map<number, { at: number; ms: number; error: string | null }>();
      const agent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets, timeout: 4_000 });
      const cpu0 = cpuMsOf(muster!.pid);
      const main0 = cpuMsOf(muster!.pid, true);
      const bench0 = process.cpuUsage();
      const phaseStart = performance.now();
      let run;
      try {
        run = await runPhase(clickTarget(`change-${label}`, planOf, rid), {
          rate,
          seconds,
          agent,
          timeoutMs: o.requestTimeoutMs,
          firstIndex: 0,
          onResult: (i, at, ms, error) => sent.set(i, { at, ms, error }),
        });
      } finally {
        agent.destroy();
      }
      const mainAtLastAck = cpuMsOf(muster!.pid, true);
      const lastAck = performance.now();
      const deadline = performance.now() + CONFIRM_LIMIT_MS;
      while (performance.now() < deadline && !muster!.exitInfo) {
        let n = 0;
        for (let i = 0; i < total; i++) if (outcomeAt.has(rid(i))) n++;
        if (n >= total) break;
        await sleep(50);
      }
      const drainLimit = QUIET_LIMIT_MS + total * QUIET_PER_ITEM_MS;
      if (!(await quiet(fake, drainLimit))) throw new Error(`Muster's outbox did not go quiet within ${drainLimit / 1000} s of the last click (${label})`);
      const drainMs = performance.now() - lastAck - QUIET_MS;
      const cpu1 = cpuMsOf(muster!.pid);
      const main1 = cpuMsOf(muster!.pid, true);
      const benchCpu = process.cpuUsage(bench0);

      const outcomes = { votes: 0, decided: 0, refused: 0, missing: 0, other: 0, samples: [] as string[] };
      const toAck: number[] = [];
      const ackToOutcome: number[] = [];
      const toOutcome: number[] = [];
      // Every click must be a vote; on each change that gets `Q` clicks exactly one of them decides (the quorum-th
      // to commit: clicks on one change are in flight together at high rates, so not always the last one sent),
      // on a change with fewer none does.
      const decidedOn = new Map<number, number>();
      for (let i = 0; i < total; i++) {
        const oc = outcomeAt.get(rid(i));
        if (!oc) {
          outcomes.missing += 1;
          continue;
        }
        if (DECIDED_RE.test(oc.text)) {
          outcomes.decided += 1;
          decidedOn.set(Math.floor(i / Q), (decidedOn.get(Math.floor(i / Q)) ?? 0) + 1);
        } else if (VOTE_RE.test(oc.text)) outcomes.votes += 1;
        else {
          if (oc.text.includes(':warning:')) outcomes.refused += 1;
          else outcomes.other += 1;
          if (outcomes.samples.length < 3) outcomes.samples.push(`click ${i}: ${oc.text.slice(0, 200)}`);
        }
        const s = sent.get(i);
        if (s && s.error === null) {
          toAck.push(s.ms);
          ackToOutcome.push(oc.at - (s.at + s.ms));
          toOutcome.push(oc.at - s.at);
        }
      }
      for (let j = 0; j < nChanges; j++) {
        const want = Math.min(Q, total - j * Q) === Q ? 1 : 0;
        const got = decidedOn.get(j) ?? 0;
        if (got === want) continue;
        outcomes.other += 1;
        if (outcomes.samples.length < 3) outcomes.samples.push(`${made.cards[j]!.ref}: ${got} of its clicks were told they decided it, expected ${want}`);
      }

      // Every copy of every change clicked in this phase: from when on it showed the state its change ended in.
      const sendTimes = [...sent.values()].map((x) => x.at);
      const firstClick = Math.min(...sendTimes);
      const lastClick = Math.max(...sendTimes);
      const cards: CardsRecord = { copies: 0, wrong: 0, samples: [], lagMs: Number.NaN, spanMs: Number.NaN, updates: 0, regressions: 0 };
      let lastFinal = -Infinity;
      for (let j = 0; j < nChanges; j++) {
        const card = made.cards[j]!;
        const final = Math.min(Q, total - j * Q);
        for (const c of [card.channel, ...card.dms.values()]) {
          cards.copies += 1;
          const ups = (updates.get(`${c.channel}:${c.ts}`) ?? []).filter((u) => u.at >= phaseStart);
          cards.updates += ups.length;
          const shown = fake.message(c.channel, c.ts);
          const shownState = shown ? cardState(shown.text, shown.blocks, Q) : -1;
          let from = 0;
          ups.forEach((u, k) => {
            if (u.state !== final) from = k + 1;
            if (k > 0 && u.state < ups[k - 1]!.state) cards.regressions += 1;
          });
          const reached = ups[from];
          if (!reached || shownState !== final) {
            cards.wrong += 1;
            if (cards.samples.length < 3)
              cards.samples.push(`${card.ref} in ${c.channel} shows "${(shown?.text ?? 'nothing').slice(0, 80)}" (${describeState(shownState, Q)}), expected ${describeState(final, Q)}`);
            continue;
          }
          lastFinal = Math.max(lastFinal, reached.at);
        }
      }
      if (cards.wrong === 0 && Number.isFinite(lastFinal) && sendTimes.length) {
        cards.lagMs = lastFinal - lastClick;
        cards.spanMs = lastFinal - firstClick;
      }
      return {
        label,
        target: 'muster',
        rate,
        seconds,
        summary: summarize(run),
        requests: nChanges,
        setup: { createMs: made.createMs, cardsMs: made.cardsMs, quietMs: made.quietMs },
        outcomes,
        split: { toAck: quantiles(toAck), ackToOutcome: quantiles(ackToOutcome), toOutcome: quantiles(toOutcome), n: toOutcome.length },
        cards,
        drainMs,
        lateAcks: run.latencies.filter((ms) => ms > SLACK_ACK_DEADLINE_MS).length,
        cpuMsPerClick: {
          ...(cpu0 !== undefined && cpu1 !== undefined ? { muster: (cpu1 - cpu0) / total } : {}),
          ...(main0 !== undefined && main1 !== undefined ? { musterMain: (main1 - main0) / total } : {}),
          ...(main0 !== undefined && mainAtLastAck !== undefined ? { musterMainUntilLastAck: (mainAtLastAck - main0) / total } : {}),
          bench: (benchCpu.user + benchCpu.system) / 1000 / total,
        },
        cpuBusyPct: busy,
      };
    };

    const line = (r: PhaseRecord) =>
      `${r.summary.ok}/${r.summary.sent} ok, p50 ${r.summary.p50.toFixed(1)} ms, p99 ${r.summary.p99.toFixed(1)} ms` +
      (r.outcomes
        ? `; outcomes: ${r.outcomes.votes} votes + ${r.outcomes.decided} deciding${r.outcomes.refused ? `, ${r.outcomes.refused} REFUSED` : ''}${r.outcomes.other ? `, ${r.outcomes.other} OTHER` : ''}${r.outcomes.missing ? `, ${r.outcomes.missing} missing` : ''}`
        : '') +
      (r.lateAcks ? `; ${r.lateAcks} acks over 3 s` : '') +
      (r.cards ? `; ${r.cards.wrong ? `${r.cards.wrong}/${r.cards.copies} card copies NOT FINAL` : `every card copy final ${f2(r.cards.lagMs / 1000)} s after the last click`}` : '');
    const setupLine = (r: PhaseRecord) => (r.setup ? ` [${r.requests} changes raised in ${f1(r.setup.createMs / 1000)} s]` : '');
    const died = () => (muster!.exitInfo ? describeExit(muster!) : undefined);

    try {
      if (o.warmupSeconds > 0) {
        process.stdout.write(`  warm-up ${o.warmupSeconds} s at ${o.rate}/s … `);
        result.muster.warmup = await phase('warmup', o.rate, o.warmupSeconds);
        process.stdout.write(`${line(result.muster.warmup)}${setupLine(result.muster.warmup)}\n`);
      }
      process.stdout.write(`  ${Math.ceil(clicksFor(o.rate, o.seconds) / Q)} normal changes, then ${o.seconds} s at ${o.rate} clicks/s … `);
      result.muster.main = await phase('main', o.rate, o.seconds);
      process.stdout.write(`${line(result.muster.main)}${setupLine(result.muster.main)}\n`);
      if (died()) throw new Error(`${died()} during the clicks`);

      // --- step-up: one series of rates judged twice, the acks and the cards (as in the approval-clicks section) ---
      const criteria = [
        { held: 0, failedAt: undefined as number | undefined, pass: (r: PhaseRecord) => stepHeld(r, o.maxP99Ms) },
        { held: 0, failedAt: undefined as number | undefined, pass: (r: PhaseRecord) => cardsHeld(r, o.cardsMaxLagMs) },
      ];
      const tick = (ok: boolean) => (ok ? '✓' : '✗');
      // A step at the measured phase's rate and length is that phase again (--quick's one step): its record is reused.
      const step = async (rate: number) => {
        const same = rate === o.rate && o.stepSeconds === o.seconds ? result.muster.main : undefined;
        process.stdout.write(`  step ${rate}/s × ${o.stepSeconds} s … ${same ? '(the measured phase above) ' : ''}`);
        const r = same ?? (await phase(`step${rate}`, rate, o.stepSeconds));
        result.muster.steps.push(r);
        process.stdout.write(`${line(r)}; acks ${tick(stepHeld(r, o.maxP99Ms))} cards ${tick(cardsHeld(r, o.cardsMaxLagMs))}${setupLine(r)}\n`);
        if (died()) throw new Error(`${died()} during the step-up`);
        for (const c of criteria) {
          if (rate <= c.held || (c.failedAt !== undefined && rate >= c.failedAt)) continue;
          if (c.pass(r)) c.held = rate;
          else c.failedAt = rate;
        }
      };
      for (const rate of o.steps) {
        await step(rate);
        if (criteria.every((c) => c.failedAt !== undefined)) break;
      }
      for (let k = 0; k < o.refineSteps; k++) {
        for (const c of criteria) {
          if (c.failedAt === undefined) continue;
          const mid = Math.round((c.held + c.failedAt) / 2);
          if (mid <= c.held || mid >= c.failedAt || result.muster.steps.some((x) => x.rate === mid)) continue;
          await step(mid);
        }
      }
    } catch (e) {
      process.stdout.write('\n');
      failures.push(`change votes: ${(e as Error).message}`);
    }

    result.muster.memoryAfter = memoryOf(muster.pid);
    result.muster.stop = await stopChild(muster, o.shutdownLimitMs);
    if (!result.muster.stop.graceful || result.muster.stop.code !== 0) failures.push(`change votes: Muster did not exit 0 within ${o.shutdownLimitMs / 1000} s of SIGTERM`);
    const logged = logSince(muster, logStart);
    result.muster.logLines = logged.warnPlus.length;
    result.muster.infoLines = logged.lines;
    if (failures.length) result.muster.lastOutput = dumpOutput(muster, 3_000);
    else if (logged.warnPlus.length > 0) result.muster.lastOutput = indentTail(logged.warnPlus.join('\n'), 3_000);

    // --- the database, read-only, Muster stopped ---
    result.db = checkDatabase(dbFile, phases, Q);
    return result;
  } finally {
    if (muster && !muster.exitInfo) await stopChild(muster, 3_000);
    o.onChild(undefined);
    await fake.close();
  }
}

/**
 * The votes a change card shows: `quorum` once its round is approved and the change scheduled (message text
 * "… · scheduled"), k while pending ("… · pending", the round's line "*Pending* · k/3"); -1 for anything else.
 */
function cardState(text: string, blocks: unknown, quorum: number): number {
  const t = CARD_TEXT.exec(text);
  if (!t) return -1;
  const json = JSON.stringify(blocks ?? []);
  if (t[4] === 'scheduled') return /\*Approved\*/.test(json) ? quorum : -1;
  if (t[4] !== 'pending') return -1;
  const m = /\*Pending\* · (\d+)\/(\d+)/.exec(json);
  return m && Number(m[2]) === quorum ? Number(m[1]) : -1;
}

function describeState(state: number, quorum: number): string {
  return state === quorum ? `scheduled, ${quorum}/${quorum} Approved` : state >= 0 ? `pending ${state}/${quorum}` : 'another state';
}

function checkDatabase(file: string, phases: PhaseClicks[], quorum: number): ChangeDbCheck {
  const clicks = phases.reduce((n, p) => n + p.changes.reduce((m, c) => m + c.voters.length, 0), 0);
  const expectedScheduled = phases.reduce((n, p) => n + p.changes.filter((c) => c.voters.length === quorum).length, 0);
  const allChanges = phases.reduce((n, p) => n + p.changes.length, 0);
  const empty: ChangeDbCheck = {
    ok: false,
    clicks,
    clicksWithOneVote: 0,
    votes: 0,
    scheduled: 0,
    expectedScheduled,
    roundsApproved: 0,
    pending: 0,
    expectedPending: allChanges - expectedScheduled,
    otherStatus: 0,
    auditApprove: 0,
    auditChangeApproved: 0,
    auditDenied: 0,
    copiesNotFollowed: 0,
    outbox: {},
    byPhase: [],
    samples: [],
  };
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const one = (sql: string) => Number((db!.prepare(sql).pluck().get() as number | bigint | undefined) ?? 0);
    // Every normal change with its round, and every approve vote of those rounds.
    const rows = db
      .prepare(`SELECT c.number AS number, c.status AS status, r.status AS round FROM change_requests c LEFT JOIN approval_requests r ON r.id = c.approval_id WHERE c.type = 'normal'`)
      .all() as Array<{ number: number; status: string; round: string | null }>;
    const changes = new Map(rows.map((r) => [Number(r.number), r]));
    const voteRows = db
      .prepare(`SELECT c.number AS number, v.user_id AS user, v.role AS role FROM approval_votes v JOIN change_requests c ON c.approval_id = v.request_id WHERE v.decision = 'approve'`)
      .all() as Array<{ number: number; user: string; role: string | null }>;
    // by `<change number>:<Slack user id>` (user_id is `<workspace>:<Slack user id>`)
    const votes = new Map<string, Array<string | null>>();
    const votesPerChange = new Map<number, number>();
    for (const v of voteRows) {
      const key = `${Number(v.number)}:${v.user.slice(v.user.lastIndexOf(':') + 1)}`;
      votes.set(key, [...(votes.get(key) ?? []), v.role]);
      votesPerChange.set(Number(v.number), (votesPerChange.get(Number(v.number)) ?? 0) + 1);
    }
    // The copies Muster redraws for each change (channel card, CAB members' DMs, …): the bench must have followed them all.
    const cardRows = db.prepare(`SELECT c.number AS number, count(*) AS n FROM change_cards cc JOIN change_requests c ON c.id = cc.change_id GROUP BY c.number`).all() as Array<{
      number: number;
      n: number;
    }>;
    const cardsPerChange = new Map(cardRows.map((x) => [Number(x.number), Number(x.n)]));
    const c: ChangeDbCheck = {
      ...empty,
      votes: voteRows.length,
      scheduled: rows.filter((r) => r.status === 'scheduled').length,
      roundsApproved: rows.filter((r) => r.round === 'approved').length,
      pending: rows.filter((r) => r.status === 'pending').length,
      otherStatus: rows.filter((r) => r.status !== 'scheduled' && r.status !== 'pending').length,
      auditApprove: one(`SELECT count(*) FROM audit_entries WHERE action = 'approval.approve' AND outcome <> 'denied'`),
      auditChangeApproved: one(`SELECT count(*) FROM audit_entries WHERE action = 'change.approved' AND outcome <> 'denied'`),
      auditDenied: one(`SELECT count(*) FROM audit_entries WHERE (action LIKE 'approval.%' OR action LIKE 'change.%') AND outcome = 'denied'`),
      outbox: Object.fromEntries(
        (db.prepare('SELECT status, count(*) AS n FROM outbox GROUP BY status ORDER BY status').all() as Array<{ status: string; n: number }>).map((r) => [r.status, Number(r.n)]),
      ),
    };
    for (const p of phases) {
      const ph = { label: p.label, changes: p.changes.length, clicks: 0, clicksWithOneVote: 0, votes: 0, scheduled: 0, expectedScheduled: 0, pending: 0 };
      for (const ch of p.changes) {
        const row = changes.get(ch.number);
        if ((cardsPerChange.get(ch.number) ?? 0) !== ch.copies) {
          c.copiesNotFollowed += 1;
          if (c.samples.length < 5) c.samples.push(`CHG-${ch.number}: ${cardsPerChange.get(ch.number) ?? 0} card copies recorded, the bench followed ${ch.copies}`);
        }
        const decided = ch.voters.length === quorum;
        if (decided) ph.expectedScheduled += 1;
        if (row?.status === 'scheduled' && row.round === 'approved') ph.scheduled += 1;
        else if (row?.status === 'pending' && row.round === 'pending') ph.pending += 1;
        if (!row || row.status !== (decided ? 'scheduled' : 'pending') || row.round !== (decided ? 'approved' : 'pending')) {
          if (c.samples.length < 5)
            c.samples.push(`CHG-${ch.number}: ${row ? `${row.status}, round ${row.round ?? 'none'}` : 'not found'}, expected ${decided ? 'scheduled, round approved' : 'pending, round pending'}`);
        }
        for (const v of ch.voters) {
          ph.clicks += 1;
          const got = votes.get(`${ch.number}:${v.id}`) ?? [];
          if (got.length === 1 && got[0] === v.role) ph.clicksWithOneVote += 1;
          else if (c.samples.length < 5) c.samples.push(`CHG-${ch.number}: <@${v.id}> (${v.role}) has ${got.length} approve vote(s)${got.length ? ` filling ${got.join(', ')}` : ''}`);
        }
        ph.votes += votesPerChange.get(ch.number) ?? 0;
      }
      c.byPhase.push(ph);
      c.clicksWithOneVote += ph.clicksWithOneVote;
    }
    c.ok =
      c.clicksWithOneVote === clicks &&
      c.votes === clicks &&
      c.scheduled === expectedScheduled &&
      c.roundsApproved === expectedScheduled &&
      c.pending === c.expectedPending &&
      c.otherStatus === 0 &&
      rows.length === allChanges &&
      c.auditApprove === clicks &&
      c.auditChangeApproved === expectedScheduled &&
      c.auditDenied === 0 &&
      c.copiesNotFollowed === 0 &&
      (c.outbox.dead ?? 0) === 0 &&
      c.byPhase.every((p) => p.clicksWithOneVote === p.clicks && p.votes === p.clicks && p.scheduled === p.expectedScheduled);
    if (rows.length !== allChanges && c.samples.length < 5) c.samples.push(`${rows.length} normal changes in the database, ${allChanges} raised`);
    return c;
  } catch (e) {
    return { ...empty, error: (e as Error).message };
  } finally {
    db?.close();
  }
}

// ---------------------------------------------------------------------------
// Summary (printing and JSON)
// ---------------------------------------------------------------------------

const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(1));
const f2 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(2));
const r3 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? null : Math.round(n * 1000) / 1000);

export function summarizeChangeVotes(
  r: ChangeBenchResult,
  o: Pick<ChangeBenchOptions, 'rate' | 'seconds' | 'warmupSeconds' | 'steps' | 'stepSeconds' | 'maxP99Ms' | 'cardsMaxLagMs' | 'refineSteps'>,
  cpuBusyPct: number,
): { text: string; json: Record<string, unknown>; failures: string[] } {
  const failures: string[] = [];
  const m = r.muster.main;
  const lines: string[] = [];
  const passes = (p: PhaseRecord) => stepHeld(p, o.maxP99Ms);
  const current = (p: PhaseRecord) => cardsHeld(p, o.cardsMaxLagMs);
  const lagS = (p: PhaseRecord | undefined) => (p?.cards ? (p.cards.wrong ? `${p.cards.wrong} NOT FINAL` : f2(p.cards.lagMs / 1000)) : '-');
  const perClick = (p: PhaseRecord | undefined) => (p?.cards ? f2(p.cards.updates / Math.max(1, p.summary.sent)) : '-');
  const pq = (q: Quantiles | undefined) => (q ? `${f2(q.p50)} / ${f2(q.p99)}` : '-');

  const row = (label: string, p: PhaseRecord | undefined) =>
    p
      ? [
          label,
          String(p.rate),
          String(p.summary.sent),
          String(p.summary.errors),
          f1(p.summary.sendRate),
          f1(p.summary.throughput),
          f2(p.summary.p50),
          f2(p.summary.p90),
          f2(p.summary.p99),
          f2(p.summary.max),
          String(p.lateAcks),
        ]
      : [label, String(o.rate), '-', '-', '-', '-', '-', '-', '-', '-', '-'];
  lines.push(...table(['target', 'rate/s', 'sent', 'errors', 'sent/s', 'ok/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', '> 3 s'], [row('muster: CAB Approve click (a vote)', m)]));
  if (m?.split && m.outcomes) {
    const cpu = m.cpuMsPerClick?.musterMain !== undefined ? `${f1(m.cpuMsPerClick.musterMain)} (${f1(m.cpuMsPerClick.musterMainUntilLastAck)} before the last ack)` : '-';
    lines.push('');
    lines.push(
      ...table(
        ['where a click goes (Muster)', `at ${o.rate}/s`, ''],
        [
          ['click sent → ack received, p50 / p99 ms', pq(m.split.toAck), 'Bolt, actor lookup, the change and its round read, the vote (1 transaction), the queue ahead'],
          ['ack received → outcome posted, p50 / p99 ms', pq(m.split.ackToOutcome), 'after ack() the handler POSTs "Your approval … is in" to the response_url'],
          ['click sent → outcome posted, p50 / p99 ms', pq(m.split.toOutcome), 'until the CAB member sees the confirmation'],
          ['last click → every card copy final, s', lagS(m), `${m.cards && m.requests ? f1(m.cards.copies / m.requests) : '-'} copies per change: the channel card and one DM per CAB member`],
          ['card redraws per click', perClick(m), "redraws of the clicked changes' copies: chat.update, and replace_original on the clicked copy's response_url"],
          ['Muster main-thread CPU per click, ms', cpu, 'first click → outbox quiet'],
          ['Muster CPU per click incl. GC/helper threads, ms', f1(m.cpuMsPerClick?.muster), `bench process (fake Slack + load): ${f1(m.cpuMsPerClick?.bench)} ms per click`],
        ],
      ),
    );
    lines.push(
      `outcomes posted: ${m.outcomes.votes} "Your approval … is in" + ${m.outcomes.decided} "… approved — all ${r.quorum} approvals are in" of ${m.summary.sent} clicks` +
        `${m.outcomes.refused + m.outcomes.other ? `, ${m.outcomes.refused + m.outcomes.other} NOT AS PLANNED (${m.outcomes.samples.join(' | ')})` : ''}${m.outcomes.missing ? `, ${m.outcomes.missing} never posted` : ''}; ` +
        `every card copy final ${lagS(m)} s after the last click, outbox quiet ${f1((m.drainMs ?? Number.NaN) / 1000)} s after the last ack`,
    );
    if (m.cards?.wrong) lines.push(`  card copies not showing their final state: ${m.cards.samples.join(' | ')}`);
    if (m.setup && m.requests !== undefined) {
      lines.push(
        `set-up (not timed): ${m.requests} normal changes raised by signed /change new normal + the form submitted in ${f1(m.setup.createMs / 1000)} s, ` +
          `their cards and ${m.requests * r.seats.length} CAB DMs posted ${f1(m.setup.cardsMs / 1000)} s later, outbox quiet ${f1(m.setup.quietMs / 1000)} s after that`,
      );
    }
  }
  const back = [r.muster.warmup, m, ...r.muster.steps].reduce((n, p) => n + (p?.cards?.regressions ?? 0), 0);
  if (back) lines.push(`  ${back} card update(s) drew an older state after a newer one (the copy went back, then forward again)`);
  lines.push('');
  lines.push(
    `step-up (${o.stepSeconds} s per step, new changes before each): acks hold with p99 < ${o.maxP99Ms} ms, no errors and every click a vote; the cards are current when every copy is final ` +
      `within ${f1(o.cardsMaxLagMs / 1000)} s of the last click. Stops once both have failed, then bisects ${o.refineSteps}× below each first failing rate:`,
  );
  const steps = [...r.muster.steps].sort((x, y) => x.rate - y.rate);
  lines.push(
    ...table(
      ['rate/s', 'ok', 'ok/s', 'p50 ms', 'p99 ms', 'max ms', 'ack→outcome p50 ms', 'acks held', 'cards final +s', 'updates/click', 'current'],
      steps.map((p) => [
        String(p.rate),
        `${p.summary.ok}/${p.summary.sent}`,
        f1(p.summary.throughput),
        f2(p.summary.p50),
        f2(p.summary.p99),
        f2(p.summary.max),
        f2(p.split?.ackToOutcome.p50),
        passes(p) ? 'yes' : 'NO',
        lagS(p),
        perClick(p),
        current(p) ? 'yes' : 'NO',
      ]),
    ),
  );
  const maxAcks = sustainedRate(r.muster.steps, passes);
  const maxCards = sustainedRate(r.muster.steps, current);
  const top = Math.max(...o.steps);
  const allHeld = (held: (p: PhaseRecord) => boolean) => r.muster.steps.length > 0 && r.muster.steps.every(held) && r.muster.steps.some((s) => s.rate === top);
  const describeMax = (v: number | null, held: (p: PhaseRecord) => boolean) =>
    v === null ? (r.muster.steps.length ? `below ${Math.min(...r.muster.steps.map((s) => s.rate))}/s` : 'not measured') : allHeld(held) ? `≥ ${v}/s (every step held)` : `${v}/s`;
  lines.push(`highest CAB click rate with the acks held: ${describeMax(maxAcks, passes)}`);
  lines.push(`highest CAB click rate with every card copy current (final within ${f1(o.cardsMaxLagMs / 1000)} s of the last click): ${describeMax(maxCards, current)}`);
  const firstStale = steps.find((s) => !current(s));
  if (firstStale?.cards) {
    const c = firstStale.cards;
    lines.push(
      `  at ${firstStale.rate}/s ` +
        (c.wrong
          ? `${c.wrong} of ${c.copies} card copies never showed their final state (${c.samples.join(' | ')})`
          : `the last card copy was final ${f2(c.lagMs / 1000)} s after the last click: the copies kept pace with about ${f1(firstStale.summary.sent / (c.spanMs / 1000))} clicks/s`),
    );
  }
  const firstFail = steps.find((s) => !passes(s));
  if (firstFail)
    lines.push(
      `  at ${firstFail.rate}/s Muster acked ${f1(firstFail.summary.throughput)} clicks/s (p99 ${f1(firstFail.summary.p99)} ms, ${firstFail.summary.errors} errors, ${firstFail.lateAcks} acks over 3 s)`,
    );

  const d = r.db;
  lines.push('');
  if (!d) lines.push('database: not checked');
  else if (d.error) lines.push(`database: could not be read: ${d.error}`);
  else {
    lines.push(
      `database (read-only, after Muster stopped): ${d.clicksWithOneVote}/${d.clicks} clicks left exactly one approve vote in their seat's role (${d.votes} approve votes in all); ` +
        `${d.scheduled}/${d.expectedScheduled} changes scheduled with ${d.roundsApproved} rounds approved (${d.pending} pending, expected ${d.expectedPending}; ${d.otherStatus} otherwise); ` +
        `audit ${d.auditApprove} approval.approve + ${d.auditChangeApproved} change.approved, ${d.auditDenied} denied; ` +
        `card copies recorded = followed for ${d.byPhase.reduce((n, p) => n + p.changes, 0) - d.copiesNotFollowed}/${d.byPhase.reduce((n, p) => n + p.changes, 0)} changes; outbox ${
          Object.entries(d.outbox)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ') || 'empty'
        } — ${d.ok ? 'as expected' : 'MISMATCH'}`,
    );
    if (!d.ok) {
      for (const p of d.byPhase)
        lines.push(`  ${p.label}: ${p.clicks} clicks → ${p.clicksWithOneVote} with one vote, ${p.votes} votes; ${p.scheduled}/${p.expectedScheduled} scheduled, ${p.pending} pending`);
      if (d.samples.length) lines.push(`  e.g. ${d.samples.join(' | ')}`);
    }
  }
  lines.push(
    `Muster RSS: ${f1(r.muster.memoryIdle?.rssMb)} MB idle → ${f1(r.muster.memoryAfter?.rssMb)} MB after the clicks (peak ${f1(r.muster.memoryAfter?.peakMb)} MB); SIGTERM → exit ${r.muster.stop ? `${r.muster.stop.code} in ${r.muster.stop.ms.toFixed(0)} ms` : '-'}`,
  );
  if (cpuBusyPct > 15) lines.push(`note: the CPUs were ${cpuBusyPct.toFixed(0)} % busy before this section: figures are noisy`);

  // --- verdict ---
  if (m) {
    if (m.summary.errorRate > 0.01) failures.push(`change votes: ${m.summary.errors}/${m.summary.sent} clicks failed (> 1 %)`);
  } else failures.push('change votes: the measured phase did not run');
  for (const p of [r.muster.warmup, m, ...r.muster.steps]) {
    if (!p?.outcomes) continue;
    if (p.outcomes.refused + p.outcomes.other > 0)
      failures.push(`change votes (${p.label}): ${p.outcomes.refused + p.outcomes.other} clicks were not the planned vote: ${p.outcomes.samples.join(' | ')}`);
    if (p.outcomes.missing > 0) failures.push(`change votes (${p.label}): ${p.outcomes.missing} clicks never posted their outcome`);
    // Once the outbox is quiet every copy must show its change's final state, however late.
    if (p.cards?.wrong) failures.push(`change votes (${p.label}): ${p.cards.wrong} of ${p.cards.copies} card copies never showed their final state: ${p.cards.samples.join(' | ')}`);
  }
  if (!d) failures.push('change votes: the database was not checked');
  else if (!d.ok)
    failures.push(
      `change votes: the database does not hold one vote per click and the planned approvals${d.error ? ` (${d.error})` : d.samples.length ? ` (${d.samples.slice(0, 3).join('; ')})` : ''}`,
    );

  const q3 = (q: Quantiles) => ({ p50: r3(q.p50), p90: r3(q.p90), p99: r3(q.p99), max: r3(q.max) });
  const phaseJson = (p: PhaseRecord | undefined) =>
    p
      ? {
          rate: p.rate,
          seconds: p.seconds,
          sent: p.summary.sent,
          ok: p.summary.ok,
          errors: p.summary.errors,
          errorKinds: p.summary.errorKinds,
          sendRatePerS: r3(p.summary.sendRate),
          throughputPerS: r3(p.summary.throughput),
          latencyMs: { p50: r3(p.summary.p50), p90: r3(p.summary.p90), p99: r3(p.summary.p99), max: r3(p.summary.max), mean: r3(p.summary.mean) },
          maxSendLagMs: r3(p.summary.maxSendLagMs),
          withinLimits: passes(p),
          cardsCurrent: current(p),
          lateAcksOver3s: p.lateAcks,
          ...(p.cpuMsPerClick
            ? {
                cpuMsPerClick: {
                  musterProcess: r3(p.cpuMsPerClick.muster),
                  musterMainThread: r3(p.cpuMsPerClick.musterMain),
                  musterMainThreadUntilLastAck: r3(p.cpuMsPerClick.musterMainUntilLastAck),
                  benchProcess: r3(p.cpuMsPerClick.bench),
                },
              }
            : {}),
          cpuBusyBeforePct: r3(p.cpuBusyPct),
          changes: p.requests ?? null,
          ...(p.setup ? { setupMs: { create: r3(p.setup.createMs), cards: r3(p.setup.cardsMs), quiet: r3(p.setup.quietMs) } } : {}),
          ...(p.outcomes ? { outcomes: { votes: p.outcomes.votes, deciding: p.outcomes.decided, refused: p.outcomes.refused, missing: p.outcomes.missing, other: p.outcomes.other } } : {}),
          ...(p.split ? { splitMs: { clickToAck: q3(p.split.toAck), ackToOutcomePosted: q3(p.split.ackToOutcome), clickToOutcomePosted: q3(p.split.toOutcome), clicks: p.split.n } } : {}),
          ...(p.cards
            ? {
                cards: {
                  copies: p.cards.copies,
                  notFinal: p.cards.wrong,
                  lastClickToAllFinalMs: r3(p.cards.lagMs),
                  firstClickToAllFinalMs: r3(p.cards.spanMs),
                  chatUpdates: p.cards.updates,
                  olderStateDrawnAfterNewer: p.cards.regressions,
                  chatUpdatesPerClick: r3(p.cards.updates / Math.max(1, p.summary.sent)),
                },
              }
            : {}),
          ...(p.drainMs !== undefined ? { outboxDrainAfterLastAckMs: r3(p.drainMs) } : {}),
        }
      : null;
  const json = {
    config: {
      route: `normal change, default CAB: quorum ${r.quorum} of ${r.seats.length} seats`,
      seats: r.seats,
      clicksPerChange: r.quorum,
      policy: 'changes.enforcedIn: [] (windows and freezes apply nowhere), everything else default',
      rate: o.rate,
      seconds: o.seconds,
      warmupSeconds: o.warmupSeconds,
      steps: o.steps,
      stepSeconds: o.stepSeconds,
      maxP99Ms: o.maxP99Ms,
      cardsMaxLagMs: o.cardsMaxLagMs,
      refineSteps: o.refineSteps,
      slackAckDeadlineMs: SLACK_ACK_DEADLINE_MS,
      fakeSlackLatencyMs: 0,
      openLoop: true,
    },
    cpuBusyBeforePct: r3(cpuBusyPct),
    warmup: phaseJson(r.muster.warmup),
    main: phaseJson(m),
    steps: r.muster.steps.map(phaseJson),
    sustainedMaxPerS: { acks: maxAcks, acksAllStepsHeld: allHeld(passes), cardsCurrent: maxCards, cardsAllStepsCurrent: allHeld(current) },
    readyMs: r3(r.muster.readyMs),
    rssMb: { idle: r3(r.muster.memoryIdle?.rssMb), afterLoad: r3(r.muster.memoryAfter?.rssMb), peak: r3(r.muster.memoryAfter?.peakMb) },
    shutdown: r.muster.stop ? { ms: r3(r.muster.stop.ms), code: r.muster.stop.code, graceful: r.muster.stop.graceful } : null,
    logLinesWarnPlus: r.muster.logLines,
    logLines: r.muster.infoLines ?? null,
    database: d ?? null,
    failures: [...r.failures, ...failures],
  };
  return { text: lines.join('\n'), json, failures };
}
