import pino from 'pino';
import { FakeSlack, TEAM_ID } from './fakeSlack.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { post, slashCommand, blockAction, viewSubmission, eventCallback, commandText, type PostResult } from './slackRequests.ts';
import { parseEnv } from '../../src/config/env.ts';
import { defaultPolicy, type Policy } from '../../src/config/policy.ts';
import { ManualClock, type Clock } from '../../src/domain/clock.ts';
import { startMuster, type Muster } from '../../src/muster.ts';
import { AUDIT_KEY } from './auditKey.ts';
import type { Capabilities } from '../../src/platforms/effects.ts';

export const SIGNING_SECRET = 'test-signing-secret';
export const ADMIN = 'UADMIN';

export interface Harness {
  slack: FakeSlack;
  muster: Muster;
  tdb: TestDatabase;
  /** The clock Muster runs on: a ManualClock unless the test passed another Clock (then it cannot be advanced). */
  clock: ManualClock;
  /**
   * Sends a signed slash command through the real Bolt HTTP endpoint. `text` is written as Slack sends it with
   * escaping on (manifest.yml); `escaping: 'off'` sends it as Slack would without (mentions as plain `@name`).
   */
  command(
    command: string,
    text: string,
    userId: string,
    opts?: { retryNum?: number; triggerId?: string; channelId?: string; escaping?: 'on' | 'off' },
  ): Promise<PostResult & { reply: { text?: string; blocks?: unknown[]; response_type?: string } }>;
  /**
   * Clicks a button (block_actions) through the real Bolt endpoint. With `messageTs` (and `channelId`) the click is
   * on that message, and its response_url acts on it as Slack's does (replace_original redraws it).
   */
  click(actionId: string, value: string, userId: string, opts?: { channelId?: string; messageTs?: string; triggerId?: string }): Promise<PostResult>;
  /** The response_url id of the last click (what the fake records its posts under). */
  lastClickUrl(): string;
  /** What Muster told the last clicker on the click's response_url (it is sent just after the ack). */
  lastSaid(): Promise<string>;
  /** Submits a modal (view_submission). */
  submit(callbackId: string, privateMetadata: string, values: Record<string, Record<string, unknown>>, userId: string): Promise<PostResult>;
  /** Delivers an Events API event. */
  event(event: Record<string, unknown>, opts?: { eventId?: string; retryNum?: number }): Promise<PostResult>;
  /** Fires due timers, then runs the effects they wrote. */
  tick(): Promise<number>;
  /** Runs every due outbox effect now (the dispatcher would anyway, a moment later). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  policy?: Policy;
  admins?: string[];
  /** Default: a ManualClock that moves only by hand. Fault and rate-limit tests pass `systemClock`: retries wait on it. */
  clock?: Clock;
  users?: { id: string; name: string; is_bot?: boolean; deleted?: boolean; email?: string; display_name?: string }[];
  loops?: boolean;
  /** More environment variables (e.g. MUSTER_AUDIT_CHECKPOINT_FILE). */
  env?: Record<string, string>;
  /** Pace Slack calls against the rate tiers (off by default here; see startMuster). */
  slackPacing?: false | { scale?: number };
  dispatcher?: { baseBackoffMs?: number; maxAttempts?: number; pollMs?: number; leaseMs?: number };
  /** A fake Slack already started (e.g. with tiers enforced); closed with the harness. */
  slack?: FakeSlack;
  /** Capabilities the Slack port does without (the services' degraded paths). */
  without?: readonly (keyof Capabilities)[];
  /** App Home publish interval per person (ms; default 300 here, 5 s in production). */
  homeMinIntervalMs?: number;
}

/** A Muster on a fresh database, talking to a fake Slack over HTTP, driven by signed requests. */
export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const slack = o.slack ?? (await FakeSlack.start());
  for (const u of [{ id: ADMIN, name: 'ada' }, ...(o.users ?? [])]) slack.addUser(u);
  const tdb = await createTestDatabase();
  const clock = o.clock ?? new ManualClock(new Date());
  const env = parseEnv({
    PORT: '0',
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.url,
    DATABASE_URL: tdb.url,
    MUSTER_ADMINS: (o.admins ?? [ADMIN]).join(','),
    LOG_LEVEL: 'silent',
    MUSTER_INSTANCE_ID: 'test-instance',
    MUSTER_AUDIT_KEY: AUDIT_KEY,
    ...o.env,
  });
  const muster = await startMuster({
    env,
    policy: o.policy ?? defaultPolicy(),
    clock,
    log: pino({ level: process.env.MUSTER_TEST_LOG ?? 'silent' }),
    loops: o.loops ?? false,
    dispatcher: { baseBackoffMs: 20, pollMs: 50, ...o.dispatcher },
    inbox: { baseBackoffMs: 20, pollMs: 50 },
    // The limiter paces by real time while ManualClock stands still: off unless a test asks for it.
    slackPacing: o.slackPacing ?? false,
    slackWithout: o.without,
    // App Home publishes at most once per person per interval; short here so tests that open it twice wait little.
    homeMinIntervalMs: o.homeMinIntervalMs ?? 300,
  });
  let n = 0;
  let lastClick = '';
  return {
    slack,
    muster,
    tdb,
    // Only a ManualClock is ever advanced; with systemClock a test leaves it alone.
    clock: clock as ManualClock,
    async command(command, text, userId, opts = {}) {
      n += 1;
      const req = slashCommand({
        command,
        text: commandText(text, opts.escaping ?? 'on', (id) => slack.user(id)?.name),
        userId,
        userName: slack.user(userId)?.name,
        teamId: TEAM_ID,
        channelId: opts.channelId ?? 'C0GENERAL',
        responseUrl: slack.responseUrl(`cmd-${n}`),
        triggerId: opts.triggerId,
      });
      const res = await post(muster.url, req, { secret: SIGNING_SECRET, retryNum: opts.retryNum });
      const reply = (res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {}) as { text?: string; blocks?: unknown[]; response_type?: string };
      return { ...res, reply };
    },
    async click(actionId, value, userId, opts = {}) {
      n += 1;
      lastClick = `click-${n}`;
      const req = blockAction({
        actionId,
        value,
        userId,
        userName: slack.user(userId)?.name,
        teamId: TEAM_ID,
        channelId: opts.channelId,
        messageTs: opts.messageTs,
        responseUrl: slack.responseUrl(lastClick, opts.channelId && opts.messageTs ? { channel: opts.channelId, user: userId, messageTs: opts.messageTs } : undefined),
        triggerId: opts.triggerId,
      });
      return post(muster.url, req, { secret: SIGNING_SECRET });
    },
    lastClickUrl: () => lastClick,
    async lastSaid() {
      const id = lastClick;
      // A replace_original post redraws the clicked card copy; what the clicker was told is the rest.
      const r = await slack.waitFor(() =>
        slack
          .responsesTo(id)
          .filter((x) => (x.body as { replace_original?: unknown }).replace_original !== true)
          .at(-1),
      );
      return JSON.stringify(r.body);
    },
    async submit(callbackId, privateMetadata, values, userId) {
      return post(muster.url, viewSubmission({ callbackId, privateMetadata, values, userId, userName: slack.user(userId)?.name, teamId: TEAM_ID }), { secret: SIGNING_SECRET });
    },
    async event(event, opts = {}) {
      const res = await post(muster.url, eventCallback({ event, teamId: TEAM_ID, eventId: opts.eventId }), { secret: SIGNING_SECRET, retryNum: opts.retryNum });
      // Recorded before the ack; processed from the inbox right after.
      await muster.inbox.drain(5_000);
      return res;
    },
    async tick() {
      const fired = await muster.timers.tick();
      await muster.dispatcher.drain(5_000);
      return fired;
    },
    async flush() {
      await muster.inbox.drain(5_000);
      await muster.dispatcher.drain(5_000);
    },
    async close() {
      await muster.stop();
      await slack.close();
      await tdb.drop();
    },
  };
}
