/**
 * A stateful fake of the Slack Web API, served over real HTTP on 127.0.0.1.
 *
 * Point the real clients at it:
 *   new App({ ..., clientOptions: { slackApiUrl: fake.url } })
 *   new WebClient('xoxb-test', { slackApiUrl: fake.url, retryConfig: { retries: 0 } })
 *
 * It answers like Slack: HTTP 200 with `{ ok: true, ... }` or `{ ok: false, error }`
 * (plus HTTP 429 / 5xx when a fault is injected with `failNext`).
 *
 * For delivery tests (every effect exactly once across crashes, faults and rate limits), all opt-in:
 * - `start({ tiers: true })` / `enforceTiers()`: Slack's per-method rate tiers, 429 + Retry-After; `rateLimited()`.
 * - `faults({ rate, seed })`: seeded random 429 / 5xx before the call is applied, or (`applyThenFail`) after it.
 * - `hold(method)`: apply the call, withhold the HTTP answer until `release()` or `drop()` (kill -9 tests).
 * - `summary()`: visible effects (channels created, messages, pins, bookmarks, files) to assert "exactly one".
 *
 * Deliberate simplifications (documented so tests don't rely on the opposite):
 * - Any token is accepted and acts as the bot user (UBOT) unless mapped with
 *   `addToken(token, userId)`; a call with no token at all gets `not_authed`.
 * - No system messages (channel_join, channel_topic, ...) are added to history.
 * - The bot may post to any public channel (as with the chat:write.public scope)
 *   unless `requireBotMembership: true`; private channels need membership.
 * - Every user added with `addUser` is a member of #general (C0GENERAL).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

// ---------------------------------------------------------------------------
// Constants shared with slackRequests.ts
// ---------------------------------------------------------------------------

export const TEAM_ID = 'T0001';
export const TEAM_NAME = 'Muster Sandbox';
export const TEAM_DOMAIN = 'muster-test';
export const BOT_USER_ID = 'UBOT';
export const BOT_ID = 'BBOT';
export const BOT_NAME = 'muster';
export const APP_ID = 'A0MUSTER';
export const GENERAL_CHANNEL_ID = 'C0GENERAL';

/** A trigger_id minted by `fake.trigger()` is valid this long (like Slack's 3 s). */
export const TRIGGER_TTL_MS = 3000;

/**
 * A response_url works 5 times within 30 minutes: "you can respond to a user's command up to 5 times within 30
 * minutes of the user's invocation" (https://api.slack.com/interactivity/slash-commands, "Delayed responses and
 * multiple responses"; the same limit for interactions in https://api.slack.com/interactivity/handling#message_responses).
 * "The server is authoritative about that" and the error past it is undocumented (slackapi/node-slack-sdk#828).
 */
export const RESPONSE_URL_MAX_USES = 5;
export const RESPONSE_URL_TTL_MS = 30 * 60 * 1000;

// ---------------------------------------------------------------------------
// Rate limits (opt-in): one table, one citation per tier
// ---------------------------------------------------------------------------

export type RateTier = 1 | 2 | 3 | 4;

export interface RateLimit {
  /** sustained rate: tokens added per minute */
  perMinute: number;
  /** bucket capacity: how many calls may arrive at once after a quiet spell */
  burst: number;
}

/**
 * Slack's Web API tiers, enforced "per API method per workspace/team per app"
 * (https://docs.slack.dev/apis/web-api/rate-limits, "Overview"; "Rate limit windows are per minute").
 * The page gives floors ("20+ per minute") and mentions bursts without sizing them, so each tier is a token bucket
 * refilled at the floor whose capacity is one minute's worth: what the docs promise, and nothing more.
 */
export const RATE_TIERS: Readonly<Record<RateTier, RateLimit>> = {
  // Tier 1 "1+ per minute. Access tier 1 methods infrequently. A small amount of burst behavior is tolerated."
  // (https://docs.slack.dev/apis/web-api/rate-limits); "small amount" is not sized: no burst beyond 1.
  1: { perMinute: 1, burst: 1 },
  // Tier 2 "20+ per minute. Most methods allow at least 20 requests per minute, while allowing for occasional bursts
  // of more requests." (https://docs.slack.dev/apis/web-api/rate-limits)
  2: { perMinute: 20, burst: 20 },
  // Tier 3 "50+ per minute ... typically attached to methods with paginating collections of conversations or users.
  // Sporadic bursts are welcome." (https://docs.slack.dev/apis/web-api/rate-limits)
  3: { perMinute: 50, burst: 50 },
  // Tier 4 "100+ per minute. Enjoy a large request quota for Tier 4 methods, including generous burst behavior."
  // (https://docs.slack.dev/apis/web-api/rate-limits)
  4: { perMinute: 100, burst: 100 },
};

/**
 * chat.postMessage is in the "Special" tier: it "generally allows posting one message per second per channel, while
 * also maintaining a workspace-wide limit"; posting messages: "1 per second. Short bursts >1 allowed. If you attempt
 * bursts, there is no guarantee that messages will be stored or displayed" (https://docs.slack.dev/apis/web-api/rate-limits).
 * Not documented, so chosen conservatively: the burst is the smallest the docs allow (2), and the workspace-wide
 * limit, which the docs name without a number, is 300 a minute.
 */
export const POST_MESSAGE_LIMITS: Readonly<{ perChannel: RateLimit; workspace: RateLimit }> = {
  perChannel: { perMinute: 60, burst: 2 },
  workspace: { perMinute: 300, burst: 300 },
};

/**
 * Tier of each method the fake serves, from each method's reference page, "Facts: Rate limits"
 * (https://docs.slack.dev/reference/methods/<method>, read from its machine-readable copy in
 * github.com/slack-ruby/slack-api-ref, docs.slack.dev/methods/<method>.json `rate_limits`, 2026-08).
 * Methods marked "Special" there other than chat.postMessage (auth.test, chat.getPermalink) publish no numbers and
 * are not limited; neither are methods missing here. `TierOptions.methods` overrides any entry.
 */
export const METHOD_TIERS: Readonly<Record<string, RateTier>> = {
  'api.test': 4,
  'team.info': 3,
  'chat.update': 3,
  'chat.delete': 3,
  'chat.postEphemeral': 4,
  'chat.scheduleMessage': 3,
  'chat.deleteScheduledMessage': 3,
  'conversations.create': 2,
  'conversations.rename': 2,
  'conversations.invite': 3,
  'conversations.kick': 3,
  'conversations.setTopic': 2,
  'conversations.setPurpose': 2,
  'conversations.archive': 2,
  'conversations.unarchive': 2,
  'conversations.info': 3,
  'conversations.members': 4,
  'conversations.join': 3,
  'conversations.leave': 3,
  'conversations.list': 2,
  'conversations.open': 3,
  // Tier 3 for internal and Marketplace apps; new commercially distributed non-Marketplace apps get 1 a minute
  // (https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps): override if needed.
  'conversations.history': 3,
  'conversations.replies': 3,
  'pins.add': 2,
  'pins.remove': 2,
  'pins.list': 2,
  'bookmarks.add': 2,
  'bookmarks.edit': 2,
  'bookmarks.remove': 2,
  'bookmarks.list': 3,
  'reactions.add': 3,
  'reactions.remove': 2,
  'reactions.get': 3,
  'users.info': 4,
  'users.list': 2,
  'users.lookupByEmail': 3,
  'users.conversations': 3,
  'usergroups.list': 2,
  'usergroups.users.list': 2,
  'views.open': 4,
  'views.push': 4,
  'views.update': 4,
  'views.publish': 4,
  'files.getUploadURLExternal': 4,
  'files.completeUploadExternal': 4,
  'files.upload': 2,
  'files.info': 4,
  'files.delete': 3,
  'files.list': 3,
  'apps.connections.open': 3,
};

export interface TierOptions {
  /** multiply every rate and burst by this (0.1 = ten times stricter); bursts never drop below 1. Default 1. */
  scale?: number;
  /** replace a tier's numbers */
  tiers?: Partial<Record<RateTier, Partial<RateLimit>>>;
  /** per-method limits, taking precedence over the tier table (e.g. `{ 'auth.test': { perMinute: 100, burst: 100 } }`) */
  methods?: Record<string, Partial<RateLimit>>;
  /** chat.postMessage: per channel ("short bursts": `burst`) and workspace-wide */
  postMessage?: { perChannel?: Partial<RateLimit>; workspace?: Partial<RateLimit> };
}

// ---------------------------------------------------------------------------
// Random faults (opt-in)
// ---------------------------------------------------------------------------

export type FaultKind = '429' | '5xx';
/** how a call that was applied is then answered: HTTP 500/503, a dropped connection, or 200 `internal_error` */
export type ApplyThenFailMode = '5xx' | 'drop' | 'internal_error';

export interface FaultOptions {
  /** probability (0..1) that an eligible call gets a fault that stops it before it is applied */
  rate: number;
  /** PRNG seed: the same seed and call sequence give the same faults. Default 1. */
  seed?: number;
  /** faults to draw from, equally likely. Default both: 429 (with Retry-After) and 5xx (500 or 503). */
  kinds?: FaultKind[];
  /** probability (0..1), drawn after `rate` misses, that a call is applied and then answered as a failure */
  applyThenFail?: number;
  /** how applied-then-failed calls are answered, equally likely. Default ['5xx', 'drop']. */
  applyThenFailModes?: ApplyThenFailMode[];
  /** only these methods (may include 'response_url'); default every Web API method */
  methods?: string[];
  /** never these methods (e.g. 'auth.test', which Bolt calls once at start) */
  except?: string[];
  /** Retry-After (seconds) on an injected 429. Default 1. */
  retryAfterSec?: number;
}

export interface InjectedFault {
  method: string;
  /** '429', '500', '503' (not applied) or 'applied+500', 'applied+503', 'applied+drop', 'applied+internal_error' */
  kind: string;
  at: number;
}

/** Workspace plan: user groups need a paid plan (see `setPlan`). */
export type SlackPlan = 'free' | 'pro' | 'business+' | 'enterprise';

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export type Json = Record<string, unknown>;

export interface FakeUser {
  id: string;
  team_id: string;
  name: string;
  real_name: string;
  tz: string;
  is_bot: boolean;
  is_admin: boolean;
  deleted: boolean;
  email?: string;
  /** `profile.display_name`; when not given, the handle (`name`) is shown */
  display_name?: string;
  bot_id?: string;
  /** multi-channel guest */
  is_restricted: boolean;
  /** single-channel guest ("ultra restricted access") */
  is_ultra_restricted: boolean;
  /** how many channels they may be in (single-channel guests: 1); unlimited when absent */
  max_channels?: number;
  /** guests only: the channels an admin let them into (conversations.invite elsewhere fails) */
  guest_channels?: string[];
}

export interface AddUserInput {
  id: string;
  name: string;
  real_name?: string;
  tz?: string;
  is_bot?: boolean;
  is_admin?: boolean;
  deleted?: boolean;
  email?: string;
  /** `profile.display_name`: free text that several people may share (default: the handle) */
  display_name?: string;
  /** multi-channel guest: not put in #general, invitable only to `guest_channels` */
  is_restricted?: boolean;
  /** single-channel guest: not put in #general, in at most `max_channels` (default 1) channels */
  is_ultra_restricted?: boolean;
  /** channel cap; single-channel guests default to 1 */
  max_channels?: number;
  /** for guests: channels they may be invited to (default: none for multi-channel guests, any for single-channel) */
  guest_channels?: string[];
}

export interface FakeTopic {
  value: string;
  creator: string;
  last_set: number;
}

export interface FakePin {
  ts: string;
  created: number;
  created_by: string;
}

export interface FakeBookmark {
  id: string;
  channel_id: string;
  title: string;
  link: string;
  emoji: string;
  type: string;
  entity_id?: string;
  date_created: number;
  date_updated: number;
  rank: string;
  last_updated_by_user_id: string;
  last_updated_by_team_id: string;
  shortcut_id?: string;
  app_id: string | null;
}

export interface FakeChannel {
  id: string;
  /** '' for IMs */
  name: string;
  is_private: boolean;
  is_im: boolean;
  is_mpim: boolean;
  is_archived: boolean;
  is_general: boolean;
  created: number;
  creator: string;
  members: string[];
  topic: FakeTopic;
  purpose: FakeTopic;
  pins: FakePin[];
  bookmarks: FakeBookmark[];
  /** the other party of an IM */
  user?: string;
}

export interface AddChannelInput {
  id?: string;
  name: string;
  is_private?: boolean;
  is_archived?: boolean;
  members?: string[];
  creator?: string;
  topic?: string;
  purpose?: string;
}

export interface FakeReaction {
  name: string;
  users: string[];
  count: number;
}

export interface FakeMessage {
  type: 'message';
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  user?: string;
  bot_id?: string;
  app_id?: string;
  team?: string;
  thread_ts?: string;
  reply_count?: number;
  reply_users?: string[];
  latest_reply?: string;
  reply_broadcast?: boolean;
  subtype?: string;
  edited?: { user: string; ts: string };
  reactions?: FakeReaction[];
  files?: Json[];
  metadata?: unknown;
  username?: string;
  icon_emoji?: string;
  icon_url?: string;
  /** true once chat.delete removed it; `messages()` hides deleted messages */
  deleted?: boolean;
}

export interface FakeEphemeral {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  thread_ts?: string;
  message_ts: string;
  /** how it arrived */
  via: 'chat.postEphemeral' | 'response_url';
  at: number;
}

export interface FakeView {
  id: string;
  team_id: string;
  type: 'modal' | 'home';
  /** the user the view is shown to when known (home: always; modal: when the trigger was minted by `trigger(userId)`) */
  user_id?: string;
  trigger_id?: string;
  callback_id: string;
  private_metadata: string;
  external_id: string;
  title?: unknown;
  submit?: unknown;
  close?: unknown;
  blocks: unknown[];
  hash: string;
  previous_view_id: string | null;
  root_view_id: string;
  app_id: string;
  bot_id: string;
  clear_on_close: boolean;
  notify_on_close: boolean;
  /** which method created it */
  opened_by: 'views.open' | 'views.push' | 'views.publish';
  /** how many times views.update / views.publish rewrote it */
  updates: number;
  /** the last view definition received, as sent */
  definition: Json;
  /** closed by the person (Cancel), by an empty submission acknowledgement or by `response_action: clear` */
  closed?: boolean;
}

export interface FakeFile {
  id: string;
  name: string;
  title: string;
  filetype: string;
  mimetype: string;
  size: number;
  /** declared by files.getUploadURLExternal (0 for legacy uploads) */
  declared_length: number;
  content: Buffer;
  /** content decoded as UTF-8 */
  text: string;
  channels: string[];
  user: string;
  created: number;
  alt_text?: string;
  initial_comment?: string;
  thread_ts?: string;
  /** 'pending' after getUploadURLExternal, 'uploaded' after the POST, 'complete' after completeUploadExternal / legacy upload */
  state: 'pending' | 'uploaded' | 'complete';
  permalink: string;
  url_private: string;
}

export interface FakeResponse {
  id: string;
  body: Json;
  at: number;
}

export interface ResponseUrlContext {
  /** channel the original message / command lives in */
  channel?: string;
  /** user who triggered it (ephemeral responses go to them) */
  user?: string;
  /** ts of the message the interaction came from (replace_original / delete_original act on it) */
  messageTs?: string;
}

export interface FakeCall {
  method: string;
  /** arguments as received; JSON-encoded object/array fields (blocks, view, ...) are decoded; `token` removed */
  args: Json;
  token?: string;
  /** arrival time, ms since epoch */
  at: number;
  /** HTTP status answered */
  status: number;
  /** body answered */
  response?: Json;
  /**
   * How the answer reached (or did not reach) the caller when it differs from `status`/`response`: 'held' while
   * `hold()` withholds it, 'dropped' when the connection was destroyed instead; `fault` names an injected fault.
   */
  delivery?: 'held' | 'released' | 'dropped';
  fault?: string;
  /** for an applied-then-failed call: what Slack did (the caller got `response`, or nothing when dropped) */
  appliedResponse?: Json;
  /** true when the call's effects were applied (false for 429s and faults that stop it first) */
  applied?: boolean;
}

export interface FailSpec {
  /** HTTP status; 429 gets a Retry-After header. Default 200 (i.e. `{ ok:false, error }`). */
  status?: number;
  /** Slack error code in the body. Default 'ratelimited' for 429, 'internal_error' otherwise. */
  error?: string;
  /** seconds for the Retry-After header (429 only). Default 1. */
  retryAfterSec?: number;
  /** how many consecutive calls fail. Default 1. */
  times?: number;
  /**
   * Apply the call first, as Slack would, and only then fail it: '5xx' answers HTTP `status` (default 500),
   * 'drop' destroys the connection without an answer, 'internal_error' answers 200 `{ ok:false, error:
   * 'internal_error' }`. The one-shot form of `faults({ applyThenFail })`, for the same reason: "It's possible some
   * aspect of the operation succeeded before the error was raised" (`internal_error` / `fatal_error` in every
   * method's Errors, e.g. https://docs.slack.dev/reference/methods/chat.postMessage), so the caller cannot know the
   * outcome. (The port contract suite, test/contract/, uses it for "applied, answer lost".)
   */
  afterApplying?: ApplyThenFailMode;
}

export interface FakeSlackOptions {
  /** delay (ms) applied before answering every call */
  latencyMs?: number;
  /** message ts clock: default follows the real clock (strictly increasing); a number (seconds) makes ts deterministic: tsBase.000100, tsBase.000200, ... */
  tsBase?: number;
  /** chat.postMessage to a public channel the bot is not in → not_in_channel (default false, i.e. chat:write.public) */
  requireBotMembership?: boolean;
  /** validate Block Kit limits (50 blocks/message, 100/view, 3000 chars/section, ...). Default true. */
  validateBlocks?: boolean;
  /** Slack's rate tiers (see RATE_TIERS); `true` for the published numbers. Default off. */
  tiers?: boolean | TierOptions;
  /** the fake's clock (ms since epoch) for rate limits and response_url expiry. Default Date.now. */
  now?: () => number;
  /** workspace plan: 'free' has no user groups. Default 'pro'. */
  plan?: SlackPlan;
  /**
   * users.list answers pages shorter than `limit` while more remain, as Slack may ("Fewer than the requested
   * number of items may be returned, even if the end of the users list hasn't been reached", users.list `limit`,
   * https://docs.slack.dev/reference/methods/users.list): a client must follow next_cursor, not count. Default false.
   */
  shortPages?: boolean;
  /** the port to listen on (default 0: any free port) */
  port?: number;
  /**
   * Keep at most this many entries in `calls`, `responses` and ephemerals (oldest dropped). Default unbounded, as
   * tests read them all; the sandbox, which runs for days, bounds them.
   */
  maxHistory?: number;
}

/** What changed in the workspace: a Web API call that was applied, a response_url post, a file upload, a seed. */
export interface WorkspaceChange {
  kind: 'call' | 'response' | 'upload' | 'seed';
  method?: string;
  args?: Json;
  response?: Json;
  /** calls only: whether Slack applied it (false for errors, rate limits, injected faults) */
  applied?: boolean;
}

/** The workspace's state as plain JSON (`snapshot()` / `restore()`): what the sandbox keeps across restarts. */
export interface WorkspaceSnapshot {
  version: 1;
  users: FakeUser[];
  tokens: Array<[string, string]>;
  usergroups: Array<{ id: string; handle: string; name: string; users: string[] }>;
  channels: FakeChannel[];
  imByUser: Array<[string, string]>;
  mpimByKey: Array<[string, string]>;
  messages: Array<[string, FakeMessage[]]>;
  ephemerals: FakeEphemeral[];
  views: FakeView[];
  homeByUser: Array<[string, string]>;
  files: Array<Omit<FakeFile, 'content'> & { content: string }>;
  responseContexts: Array<[string, ResponseUrlContext]>;
  responseUrlUse: Array<[string, { issuedAt: number; uses: number }]>;
  scheduled: Array<{ id: string; channel: string; post_at: number; text: string; blocks?: unknown[]; thread_ts?: string }>;
  seq: number;
  lastTsMicros: number;
  createdChannelIds: string[];
  plan: SlackPlan;
}

type Handler = (args: Json, ctx: CallContext) => Json;

interface CallContext {
  userId: string;
  token?: string;
  method: string;
}

interface FailRule extends FailSpec {
  method: string;
  remaining: number;
}

interface UploadedPart {
  filename: string;
  content: Buffer;
}

/** A call intercepted by `hold()`: Slack applies it, the caller does not hear back until `release()`. */
export interface HeldCall {
  readonly method: string;
  /** resolves with the call once it has arrived and been applied (its answer is withheld) */
  readonly arrived: Promise<FakeCall>;
  /** send the withheld answer (at once if it has arrived, on arrival otherwise) */
  release(): void;
  /** destroy the connection instead of answering: the caller never learns the outcome */
  drop(): void;
}

interface HoldRule {
  method: string;
  match: (args: Json) => boolean;
  state: 'waiting' | 'held' | 'released' | 'dropped';
  onArrive: (call: FakeCall) => void;
  /** set when the call arrived: sends or drops the answer */
  finish?: (how: 'release' | 'drop') => void;
}

/** Visible effects, for "exactly one" assertions. Deleted messages and unfinished uploads are not counted. */
export interface FakeSummary {
  /** names (current) of channels made by conversations.create, in creation order; seeded channels excluded */
  channelsCreated: string[];
  /** visible messages per channel id, thread replies included */
  messages: Record<string, number>;
  /** pinned messages per channel id */
  pins: Record<string, number>;
  /** bookmarks per channel id */
  bookmarks: Record<string, number>;
  /** completed files shared per channel id */
  files: Record<string, number>;
  /** response_url posts that Slack accepted */
  responses: number;
  ephemerals: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** mulberry32: small, fast, seedable; reproducible fault sequences need nothing better */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class SlackApiError extends Error {
  constructor(
    readonly code: string,
    readonly extra: Json = {},
  ) {
    super(code);
  }
}

function fail(code: string, extra: Json = {}): never {
  throw new SlackApiError(code, extra);
}

function invalidArguments(message: string): never {
  fail('invalid_arguments', { response_metadata: { messages: [`[ERROR] ${message}`] } });
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/** argument keys whose values are JSON-encoded by WebClient's form serialisation */
const JSON_KEYS = new Set(['blocks', 'attachments', 'view', 'metadata', 'files', 'unfurls', 'file_uploads', 'user_auth_blocks', 'profile']);
/** free-text keys never JSON-decoded even if they look like JSON */
const FREE_TEXT_KEYS = new Set(['text', 'topic', 'purpose', 'initial_comment', 'content', 'title', 'name', 'alt_text', 'link', 'emoji', 'markdown_text']);

function decodeArgs(input: Record<string, unknown>): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(input)) {
    if (typeof v === 'string' && (JSON_KEYS.has(k) || (!FREE_TEXT_KEYS.has(k) && /^\s*[[{]/.test(v)))) {
      try {
        out[k] = JSON.parse(v) as unknown;
        continue;
      } catch {
        // keep the raw string
      }
    }
    out[k] = v;
  }
  return out;
}

function str(args: Json, key: string): string | undefined {
  const v = args[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function bool(args: Json, key: string): boolean {
  const v = args[key];
  return v === true || v === 1 || v === 'true' || v === '1';
}

function int(args: Json, key: string, dflt: number): number {
  const v = args[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? Math.trunc(n) : dflt;
}

function csv(args: Json, key: string): string[] {
  const v = args[key];
  if (Array.isArray(v)) return v.map((x) => String(x)).filter((x) => x !== '');
  const s = str(args, key);
  if (!s) return [];
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tsCompare(a: string, b: string): number {
  const [as = '0', af = '0'] = a.split('.');
  const [bs = '0', bf = '0'] = b.split('.');
  const d = Number(as) - Number(bs);
  return d !== 0 ? d : Number(af.padEnd(6, '0')) - Number(bf.padEnd(6, '0'));
}

function encodeCursor(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString('base64');
}

function decodeCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  const m = /^offset:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
  if (!m || m[1] === undefined) fail('invalid_cursor');
  return Number(m[1]);
}

function paginate<T>(items: T[], args: Json, defaultLimit = 100): { page: T[]; next_cursor: string } {
  const offset = decodeCursor(str(args, 'cursor'));
  let limit = int(args, 'limit', defaultLimit);
  if (limit <= 0) limit = defaultLimit;
  limit = Math.min(limit, 1000);
  const page = items.slice(offset, offset + limit);
  const next = offset + limit < items.length ? encodeCursor(offset + limit) : '';
  return { page, next_cursor: next };
}

function tzOffsetSeconds(tz: string): number {
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' }).formatToParts(new Date());
    const name = parts.find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
    if (!m) return 0;
    const sign = m[1] === '-' ? -1 : 1;
    return sign * (Number(m[2]) * 3600 + Number(m[3]) * 60);
  } catch {
    return 0;
  }
}

function guessFiletype(filename: string): { filetype: string; mimetype: string } {
  const ext = (/\.([A-Za-z0-9]+)$/.exec(filename)?.[1] ?? '').toLowerCase();
  const map: Record<string, [string, string]> = {
    txt: ['text', 'text/plain'],
    md: ['markdown', 'text/markdown'],
    csv: ['csv', 'text/csv'],
    json: ['json', 'application/json'],
    pdf: ['pdf', 'application/pdf'],
    png: ['png', 'image/png'],
    jpg: ['jpg', 'image/jpeg'],
    jpeg: ['jpg', 'image/jpeg'],
    html: ['html', 'text/html'],
    yaml: ['yaml', 'text/yaml'],
    yml: ['yaml', 'text/yaml'],
  };
  const hit = map[ext];
  return hit ? { filetype: hit[0], mimetype: hit[1] } : { filetype: ext || 'text', mimetype: 'text/plain' };
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

interface ParsedBody {
  fields: Json;
  files: Record<string, UploadedPart>;
}

async function parseBody(raw: Buffer, contentType: string): Promise<ParsedBody> {
  const ct = contentType.toLowerCase();
  if (raw.length === 0) return { fields: {}, files: {} };
  if (ct.startsWith('application/json')) {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    return { fields: isObj(parsed) ? parsed : { _body: parsed }, files: {} };
  }
  if (ct.startsWith('multipart/form-data')) {
    const form = await new Request('http://fake.local/', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: new Uint8Array(raw),
    }).formData();
    const fields: Json = {};
    const files: Record<string, UploadedPart> = {};
    for (const [key, value] of form.entries()) {
      if (typeof value === 'string') fields[key] = value;
      else files[key] = { filename: value.name, content: Buffer.from(await value.arrayBuffer()) };
    }
    return { fields, files };
  }
  // application/x-www-form-urlencoded (and anything else we are sent)
  const fields: Json = {};
  for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) fields[k] = v;
  return { fields, files: {} };
}

// ---------------------------------------------------------------------------
// Block Kit validation (a useful subset of Slack's limits)
// ---------------------------------------------------------------------------

function validateBlocks(blocks: unknown[], maxBlocks: number, pointer: string): string[] {
  const errors: string[] = [];
  const err = (msg: string, at: string): void => {
    errors.push(`${msg} [json-pointer:${at}]`);
  };
  if (blocks.length > maxBlocks) err(`no more than ${maxBlocks} items allowed`, pointer);
  const blockIds = new Set<string>();
  const checkText = (t: unknown, at: string, max: number, plainOnly = false): void => {
    if (!isObj(t) || typeof t.text !== 'string' || typeof t.type !== 'string') {
      err('must be a text object with type and text', at);
      return;
    }
    if (plainOnly && t.type !== 'plain_text') err('must be a plain_text object', `${at}/type`);
    if (t.text.length > max) err(`must be less than ${max + 1} characters`, `${at}/text`);
  };
  const checkElement = (el: unknown, at: string): void => {
    if (!isObj(el) || typeof el.type !== 'string') {
      err('must provide an element with a type', at);
      return;
    }
    if (typeof el.action_id === 'string' && el.action_id.length > 255) err('must be less than 256 characters', `${at}/action_id`);
    if (el.type === 'button') {
      checkText(el.text, `${at}/text`, 75, true);
      if (typeof el.value === 'string' && el.value.length > 2000) err('must be less than 2001 characters', `${at}/value`);
      if (typeof el.url === 'string' && el.url.length > 3000) err('must be less than 3001 characters', `${at}/url`);
    }
    if (Array.isArray(el.options)) {
      const max = el.type === 'overflow' ? 5 : 100;
      if (el.options.length > max) err(`no more than ${max} items allowed`, `${at}/options`);
      el.options.forEach((o, i) => {
        if (!isObj(o)) return err('must be an option object', `${at}/options/${i}`);
        checkText(o.text, `${at}/options/${i}/text`, 75);
        if (typeof o.value === 'string' && o.value.length > 150) err('must be less than 151 characters', `${at}/options/${i}/value`);
      });
    }
  };
  blocks.forEach((b, i) => {
    const at = `${pointer}/${i}`;
    if (!isObj(b) || typeof b.type !== 'string') {
      err('must provide an object with a type', at);
      return;
    }
    if (typeof b.block_id === 'string') {
      if (b.block_id.length > 255) err('must be less than 256 characters', `${at}/block_id`);
      if (blockIds.has(b.block_id)) err(`duplicate block_id ${b.block_id}`, `${at}/block_id`);
      blockIds.add(b.block_id);
    }
    switch (b.type) {
      case 'section': {
        if (b.text === undefined && b.fields === undefined) err('must provide either text or fields', at);
        if (b.text !== undefined) checkText(b.text, `${at}/text`, 3000);
        if (Array.isArray(b.fields)) {
          if (b.fields.length > 10) err('no more than 10 items allowed', `${at}/fields`);
          b.fields.forEach((f, j) => checkText(f, `${at}/fields/${j}`, 2000));
        }
        if (b.accessory !== undefined) checkElement(b.accessory, `${at}/accessory`);
        break;
      }
      case 'header':
        checkText(b.text, `${at}/text`, 150, true);
        break;
      case 'actions': {
        if (!Array.isArray(b.elements) || b.elements.length === 0) err('must provide at least 1 element', `${at}/elements`);
        else {
          if (b.elements.length > 25) err('no more than 25 items allowed', `${at}/elements`);
          const actionIds = new Set<string>();
          b.elements.forEach((e, j) => {
            checkElement(e, `${at}/elements/${j}`);
            if (isObj(e) && typeof e.action_id === 'string') {
              if (actionIds.has(e.action_id)) err(`duplicate action_id ${e.action_id}`, `${at}/elements/${j}/action_id`);
              actionIds.add(e.action_id);
            }
          });
        }
        break;
      }
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length === 0) err('must provide at least 1 element', `${at}/elements`);
        else if (b.elements.length > 10) err('no more than 10 items allowed', `${at}/elements`);
        break;
      case 'input':
        checkText(b.label, `${at}/label`, 2000, true);
        if (b.element === undefined) err('must provide an element', `${at}/element`);
        else checkElement(b.element, `${at}/element`);
        break;
      default:
        break;
    }
  });
  return errors;
}

function invalidBlocks(errors: string[]): never {
  fail('invalid_blocks', { errors, response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } });
}

// ---------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------

export class FakeSlack {
  /** base URL of the Web API, ending with `/api/` */
  readonly url: string;
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;

  /** every call to /api/<method>, in the order they were answered */
  calls: FakeCall[] = [];
  /** every POST to a response_url that Slack accepted */
  responses: FakeResponse[] = [];
  /** POSTs to a response_url refused as used up (more than 5) or expired (after 30 minutes) */
  expiredResponses: FakeResponse[] = [];
  /** every fault `faults()` injected, in order */
  faultLog: InjectedFault[] = [];
  /**
   * Calls and response_url posts whose text reads `[object Object]`: rich text flattened by a stray template
   * literal. Real Slack would show it; no test wants it. Never cleared by clearCalls, so an e2e file's last
   * assertion sees everything it sent.
   */
  garbled: { method: string; sample: string }[] = [];

  private readonly server: http.Server;
  private readonly opts: FakeSlackOptions;
  private latencyMs: number;
  private readonly methodLatency = new Map<string, number>();
  private failRules: FailRule[] = [];
  private closed = false;

  private users = new Map<string, FakeUser>();
  private tokens = new Map<string, string>();
  private usergroups = new Map<string, { id: string; handle: string; name: string; users: string[] }>();
  private channels = new Map<string, FakeChannel>();
  private imByUser = new Map<string, string>();
  private mpimByKey = new Map<string, string>();
  private messagesByChannel = new Map<string, FakeMessage[]>();
  private ephemeralList: FakeEphemeral[] = [];
  private viewsById = new Map<string, FakeView>();
  private homeByUser = new Map<string, string>();
  private homeHistory = new Map<string, FakeView[]>();
  private filesById = new Map<string, FakeFile>();
  private triggers = new Map<string, { userId?: string; issuedAt: number; expired: boolean }>();
  private responseContexts = new Map<string, ResponseUrlContext>();
  private scheduled: Array<{ id: string; channel: string; post_at: number; text: string; blocks?: unknown[]; thread_ts?: string }> = [];
  private seq = 0;
  private lastTsMicros = 0;

  private tierOpts: TierOptions | undefined;
  private buckets = new Map<string, Bucket>();
  private rateLimitedCounts = new Map<string, number>();
  private faultOpts: FaultOptions | undefined;
  private faultRandom: () => number = Math.random;
  private holds: HoldRule[] = [];
  private heldAnswers = new Set<HoldRule>();
  private plan: SlackPlan;
  private responseUrlUse = new Map<string, { issuedAt: number; uses: number }>();
  private createdChannelIds: string[] = [];
  /** ms since epoch, from `opts.now` when given */
  readonly now: () => number;

  private readonly handlers: Record<string, Handler>;
  private readonly changeListeners = new Set<(change: WorkspaceChange) => void>();

  private constructor(server: http.Server, port: number, opts: FakeSlackOptions) {
    this.server = server;
    this.opts = opts;
    this.latencyMs = opts.latencyMs ?? 0;
    this.now = opts.now ?? Date.now;
    this.plan = opts.plan ?? 'pro';
    this.tierOpts = opts.tiers === true ? {} : opts.tiers || undefined;
    this.origin = `http://127.0.0.1:${port}`;
    this.url = `${this.origin}/api/`;
    this.handlers = this.buildHandlers();
    this.seed();
  }

  /** Adds or replaces a Web API method (e.g. apps.connections.open for a Socket Mode test). */
  handle(method: string, fn: (args: Json) => Json): void {
    this.handlers[method] = (args) => fn(args);
  }

  static async start(opts: FakeSlackOptions = {}): Promise<FakeSlack> {
    let fake: FakeSlack | undefined;
    const server = http.createServer((req, res) => {
      if (!fake) {
        res.writeHead(503).end();
        return;
      }
      fake.route(req, res).catch((e: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, error: 'fake_slack_crashed', detail: String(e) }));
        }
      });
    });
    // Connections are kept alive as long as Node's default (5 s), as Slack's API and response_urls keep them over
    // HTTP/1.1. At 1 s, which this had, Node's fetch (undici) and http agent take the server's `Keep-Alive: timeout=1`
    // hint less their 1 s margin, that is zero: every call of the bot opened a new connection, a cost a bot talking
    // to Slack does not pay (about 4 % of Muster's main thread in the click bench). close() still ends them at once.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    fake = new FakeSlack(server, port, opts);
    return fake;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // -------------------------------------------------------------------------
  // Changes and persistence (the sandbox)
  // -------------------------------------------------------------------------

  /** Called after every change (an applied call, a response_url post, an upload, `changedBySeed()`); returns an unsubscribe. */
  onChange(listener: (change: WorkspaceChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Tell the listeners that state was seeded directly (addUser, addChannel, addMessage, addEphemeral, restore). */
  changedBySeed(): void {
    this.changed({ kind: 'seed' });
  }

  private changed(change: WorkspaceChange): void {
    for (const l of this.changeListeners) {
      try {
        l(change);
      } catch {
        // a listener's failure is its own; the workspace answered already
      }
    }
  }

  private recordCall(call: FakeCall): void {
    this.calls.push(call);
    this.trimHistory();
    const response = call.appliedResponse ?? call.response;
    this.changed({ kind: 'call', method: call.method, args: call.args, applied: call.applied === true, ...(response ? { response } : {}) });
  }

  private trimHistory(): void {
    const max = this.opts.maxHistory;
    if (max === undefined) return;
    if (this.calls.length > max) this.calls.splice(0, this.calls.length - max);
    if (this.responses.length > max) this.responses.splice(0, this.responses.length - max);
    if (this.ephemeralList.length > max) this.ephemeralList.splice(0, this.ephemeralList.length - max);
    if (this.responseContexts.size > max) for (const k of [...this.responseContexts.keys()].slice(0, this.responseContexts.size - max)) this.responseContexts.delete(k);
    if (this.responseUrlUse.size > max) for (const k of [...this.responseUrlUse.keys()].slice(0, this.responseUrlUse.size - max)) this.responseUrlUse.delete(k);
    if (this.triggers.size > max) for (const k of [...this.triggers.keys()].slice(0, this.triggers.size - max)) this.triggers.delete(k);
    for (const list of this.homeHistory.values()) if (list.length > 20) list.splice(0, list.length - 20);
  }

  /**
   * An ephemeral message shown to `user` in `channel` ("Only visible to you"): what Slack does with the body of a
   * slash command's acknowledgement ("respond to the HTTP request with a message [...] visible only to the user who
   * invoked it", https://docs.slack.dev/interactivity/implementing-slash-commands, "Sending an immediate response").
   */
  addEphemeral(channel: string, user: string, content: { text?: string; blocks?: unknown[] }): FakeEphemeral {
    const e: FakeEphemeral = {
      channel,
      user,
      text: content.text ?? '',
      ...(Array.isArray(content.blocks) ? { blocks: content.blocks } : {}),
      message_ts: this.nextTs(),
      via: 'chat.postEphemeral',
      at: Date.now(),
    };
    this.ephemeralList.push(e);
    this.trimHistory();
    this.changed({ kind: 'seed' });
    return e;
  }

  /** The workspace's state as JSON: people, channels, messages, pins, bookmarks, views, files, ephemerals. */
  snapshot(): WorkspaceSnapshot {
    const lastHome = [...this.homeByUser.values()];
    const views = [...this.viewsById.values()].filter((v) => v.type === 'modal' || lastHome.includes(v.id));
    return structuredClone({
      version: 1,
      users: [...this.users.values()],
      tokens: [...this.tokens],
      usergroups: [...this.usergroups.values()],
      channels: [...this.channels.values()],
      imByUser: [...this.imByUser],
      mpimByKey: [...this.mpimByKey],
      messages: [...this.messagesByChannel],
      ephemerals: this.ephemeralList,
      views,
      homeByUser: [...this.homeByUser],
      files: [...this.filesById.values()].map(({ content, ...f }) => ({ ...f, content: content.toString('base64') })),
      responseContexts: [...this.responseContexts],
      responseUrlUse: [...this.responseUrlUse],
      scheduled: this.scheduled,
      seq: this.seq,
      lastTsMicros: this.lastTsMicros,
      createdChannelIds: this.createdChannelIds,
      plan: this.plan,
    } satisfies WorkspaceSnapshot);
  }

  /** Replace the whole state with a snapshot (the sandbox at start-up); listeners are told. */
  restore(snap: WorkspaceSnapshot): void {
    if (snap.version !== 1) throw new Error(`workspace snapshot version ${String(snap.version)} is not supported`);
    const s = structuredClone(snap);
    this.users = new Map(s.users.map((u) => [u.id, u]));
    this.tokens = new Map(s.tokens);
    this.usergroups = new Map(s.usergroups.map((g) => [g.id, g]));
    this.channels = new Map(s.channels.map((c) => [c.id, c]));
    this.imByUser = new Map(s.imByUser);
    this.mpimByKey = new Map(s.mpimByKey);
    this.messagesByChannel = new Map(s.messages);
    this.ephemeralList = s.ephemerals;
    this.viewsById = new Map(s.views.map((v) => [v.id, v]));
    this.homeByUser = new Map(s.homeByUser);
    this.homeHistory = new Map(
      s.homeByUser.flatMap(([user, id]) => {
        const v = this.viewsById.get(id);
        return v ? [[user, [v]] as [string, FakeView[]]] : [];
      }),
    );
    this.filesById = new Map(s.files.map((f) => [f.id, { ...f, content: Buffer.from(f.content, 'base64') }]));
    this.responseContexts = new Map(s.responseContexts);
    this.responseUrlUse = new Map(s.responseUrlUse);
    this.scheduled = s.scheduled;
    this.seq = s.seq;
    this.lastTsMicros = s.lastTsMicros;
    this.createdChannelIds = s.createdChannelIds;
    this.plan = s.plan;
    this.changed({ kind: 'seed' });
  }

  // -------------------------------------------------------------------------
  // Seeding
  // -------------------------------------------------------------------------

  private seed(): void {
    this.users.set(BOT_USER_ID, {
      id: BOT_USER_ID,
      team_id: TEAM_ID,
      name: BOT_NAME,
      real_name: 'Muster',
      tz: 'UTC',
      is_bot: true,
      is_admin: false,
      deleted: false,
      bot_id: BOT_ID,
      is_restricted: false,
      is_ultra_restricted: false,
    });
    this.seedGeneral();
  }

  private seedGeneral(): void {
    const created = nowSec();
    this.channels.set(GENERAL_CHANNEL_ID, {
      id: GENERAL_CHANNEL_ID,
      name: 'general',
      is_private: false,
      is_im: false,
      is_mpim: false,
      is_archived: false,
      is_general: true,
      created,
      creator: BOT_USER_ID,
      members: [...this.users.keys()],
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: 'This is the one channel that will always include everyone.', creator: '', last_set: created },
      pins: [],
      bookmarks: [],
    });
    this.messagesByChannel.set(GENERAL_CHANNEL_ID, []);
  }

  /** add (or replace) a workspace user; they join #general */
  addUser(input: AddUserInput): FakeUser {
    const user: FakeUser = {
      id: input.id,
      team_id: TEAM_ID,
      name: input.name,
      real_name: input.real_name ?? input.name,
      tz: input.tz ?? 'UTC',
      is_bot: input.is_bot ?? false,
      is_admin: input.is_admin ?? false,
      deleted: input.deleted ?? false,
      ...(input.email !== undefined ? { email: input.email } : {}),
      ...(input.display_name !== undefined ? { display_name: input.display_name } : {}),
      is_restricted: input.is_restricted ?? false,
      is_ultra_restricted: input.is_ultra_restricted ?? false,
      ...(input.max_channels !== undefined || input.is_ultra_restricted ? { max_channels: input.max_channels ?? 1 } : {}),
      ...(input.guest_channels !== undefined ? { guest_channels: [...input.guest_channels] } : {}),
    };
    this.users.set(user.id, user);
    // Guests are kept out of #general (the API docs do not say where guests start; a single-channel guest must have
    // its one channel free for the invite that tests make).
    const general = this.channels.get(GENERAL_CHANNEL_ID);
    if (general && !general.members.includes(user.id) && !user.is_restricted && !user.is_ultra_restricted) {
      general.members.push(user.id);
    }
    return user;
  }

  /** map a token (e.g. a user token xoxp-...) to the user it acts as; other tokens act as the bot */
  addToken(token: string, userId: string): void {
    this.tokens.set(token, userId);
  }

  addUsergroup(id: string, handle: string, userIds: string[]): void {
    this.usergroups.set(id, { id, handle, name: handle, users: [...userIds] });
  }

  /** seed a channel directly (no API call recorded) */
  addChannel(input: AddChannelInput): FakeChannel {
    const id = input.id ?? this.nextId('C');
    const created = nowSec();
    const creator = input.creator ?? BOT_USER_ID;
    const ch: FakeChannel = {
      id,
      name: input.name,
      is_private: input.is_private ?? false,
      is_im: false,
      is_mpim: false,
      is_archived: input.is_archived ?? false,
      is_general: false,
      created,
      creator,
      members: [...new Set(input.members ?? [creator])],
      topic: { value: input.topic ?? '', creator: input.topic ? creator : '', last_set: input.topic ? created : 0 },
      purpose: { value: input.purpose ?? '', creator: input.purpose ? creator : '', last_set: input.purpose ? created : 0 },
      pins: [],
      bookmarks: [],
    };
    this.channels.set(id, ch);
    this.messagesByChannel.set(id, []);
    return ch;
  }

  /** seed a message directly (no API call recorded); `channel` may be an id, '#name' or a user id (→ their IM) */
  addMessage(channel: string, msg: { text?: string; blocks?: unknown[]; user?: string; thread_ts?: string; ts?: string }): FakeMessage {
    const ch = this.channels.get(channel) ?? this.channelByName(channel) ?? (this.users.has(channel) ? this.openIm(channel) : undefined);
    if (!ch) throw new Error(`FakeSlack.addMessage: no channel ${channel}`);
    return this.insertMessage(ch, {
      text: msg.text ?? '',
      ...(msg.blocks ? { blocks: msg.blocks } : {}),
      user: msg.user ?? BOT_USER_ID,
      ...(msg.thread_ts ? { thread_ts: msg.thread_ts } : {}),
      ...(msg.ts ? { ts: msg.ts } : {}),
    });
  }

  /**
   * Mint a trigger_id (put it in a slash command / block action). views.open / views.push with it
   * fail with `expired_trigger_id` after TRIGGER_TTL_MS, like Slack; the opened view records `user_id`.
   * trigger_ids not minted here are accepted whatever their age.
   */
  trigger(userId?: string): string {
    const id = `${Date.now()}.${Math.floor(Math.random() * 1e9)}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { ...(userId !== undefined ? { userId } : {}), issuedAt: Date.now(), expired: false });
    return id;
  }

  /** make a minted trigger_id expire now */
  expireTrigger(triggerId: string): void {
    const t = this.triggers.get(triggerId);
    if (t) t.expired = true;
    else this.triggers.set(triggerId, { issuedAt: 0, expired: true });
  }

  // -------------------------------------------------------------------------
  // Fault & latency injection
  // -------------------------------------------------------------------------

  /**
   * Make the next call(s) to `method` fail. `method` may be '*' (any API method) or 'response_url'.
   * Rules are consumed in the order they were added.
   */
  failNext(method: string, spec: FailSpec = {}): void {
    this.failRules.push({ ...spec, method, remaining: spec.times ?? 1 });
  }

  /** Forget `failNext` rules no call has used up yet (a test that armed one and ended before the call). */
  clearFailures(): void {
    this.failRules = [];
  }

  /** The fault a `failNext({ afterApplying })` rule stands for, in the shape `drawFault` gives. */
  private appliedFault(rule: FailRule): { kind: string; status: number; applied: boolean; drop: boolean } | undefined {
    const mode = rule.afterApplying;
    if (!mode) return undefined;
    const status = mode === '5xx' ? (rule.status ?? 500) : mode === 'drop' ? 0 : 200;
    return { kind: `applied+${mode === '5xx' ? status : mode}`, status, applied: true, drop: mode === 'drop' };
  }

  /** delay before answering: for every call, or (with `method`) only for that method; 0 clears */
  setLatency(ms: number, method?: string): void {
    if (method === undefined) this.latencyMs = ms;
    else if (ms > 0) this.methodLatency.set(method, ms);
    else this.methodLatency.delete(method);
  }

  private latencyFor(method: string): number {
    return this.methodLatency.get(method) ?? this.latencyMs;
  }

  private takeFailure(method: string): FailRule | undefined {
    const idx = this.failRules.findIndex((r) => r.remaining > 0 && (r.method === method || (r.method === '*' && method !== 'response_url')));
    if (idx < 0) return undefined;
    const rule = this.failRules[idx];
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.failRules.splice(idx, 1);
    return rule;
  }

  // -------------------------------------------------------------------------
  // Rate tiers (opt-in)
  // -------------------------------------------------------------------------

  /** Enforce Slack's rate tiers from now on, with `options` (`true`: the published numbers; `false`: off). */
  enforceTiers(options: TierOptions | boolean = true): void {
    this.tierOpts = options === true ? {} : options || undefined;
    this.buckets.clear();
  }

  /** HTTP 429s the tier enforcement sent (not `failNext` or `faults`), to `method` or to any method */
  rateLimited(method?: string): number {
    if (method !== undefined) return this.rateLimitedCounts.get(method) ?? 0;
    let n = 0;
    for (const c of this.rateLimitedCounts.values()) n += c;
    return n;
  }

  private scaled(base: RateLimit, override: Partial<RateLimit> | undefined): RateLimit {
    const scale = this.tierOpts?.scale ?? 1;
    const perMinute = (override?.perMinute ?? base.perMinute) * scale;
    const burst = Math.max(1, Math.floor((override?.burst ?? base.burst) * scale));
    return { perMinute, burst };
  }

  /** the bucket keys and limits a call draws on; empty when the method is not limited */
  private limitsFor(method: string, args: Json): Array<{ key: string; limit: RateLimit }> {
    const t = this.tierOpts;
    if (!t) return [];
    const own = t.methods?.[method];
    if (method === 'chat.postMessage' && !own) {
      const target = str(args, 'channel') ?? '';
      const ch = this.channels.get(target) ?? this.channelByName(target);
      const channelKey = ch?.id ?? this.imByUser.get(target) ?? target;
      const perChannel = this.scaled(POST_MESSAGE_LIMITS.perChannel, t.postMessage?.perChannel);
      const workspace = this.scaled(POST_MESSAGE_LIMITS.workspace, t.postMessage?.workspace);
      return [
        { key: `${TEAM_ID}:chat.postMessage:${channelKey}`, limit: perChannel },
        { key: `${TEAM_ID}:chat.postMessage`, limit: workspace },
      ];
    }
    const tier = METHOD_TIERS[method];
    if (!own && tier === undefined) return [];
    const base = tier === undefined ? { perMinute: own?.perMinute ?? 60, burst: own?.burst ?? 1 } : { ...RATE_TIERS[tier], ...t.tiers?.[tier] };
    return [{ key: `${TEAM_ID}:${method}`, limit: this.scaled(base, own) }];
  }

  /**
   * Takes one token from every bucket the call draws on, or none: then answers how long (ms) until all have one.
   * A refused call takes nothing, so a client that waits Retry-After gets through (the docs do not say whether
   * Slack counts refused calls; counting them would lock out a client that retries exactly on time).
   */
  private takeTokens(method: string, args: Json): number {
    const limits = this.limitsFor(method, args);
    if (limits.length === 0) return 0;
    const now = this.now();
    let wait = 0;
    const states = limits.map(({ key, limit }) => {
      const perMs = limit.perMinute / 60_000;
      const b = this.buckets.get(key) ?? { tokens: limit.burst, at: now };
      const tokens = Math.min(limit.burst, b.tokens + Math.max(0, now - b.at) * perMs);
      if (tokens < 1) wait = Math.max(wait, perMs > 0 ? (1 - tokens) / perMs : Number.POSITIVE_INFINITY);
      return { key, tokens };
    });
    if (wait > 0) return wait;
    for (const { key, tokens } of states) this.buckets.set(key, { tokens: tokens - 1, at: now });
    return 0;
  }

  // -------------------------------------------------------------------------
  // Random faults (opt-in)
  // -------------------------------------------------------------------------

  /**
   * Inject faults at random from now on (`null` stops). Before the call is applied: HTTP 429 with Retry-After, or
   * HTTP 500/503, and nothing changes; a 5xx that Slack answers may or may not have done the work, and this is the
   * "did not" half. The other half, `applyThenFail`, applies the call and then answers 5xx, drops the connection, or
   * answers 200 `internal_error` ("It's possible some aspect of the operation succeeded before the error was
   * raised", `internal_error` / `fatal_error` in every method's error list, e.g.
   * https://docs.slack.dev/reference/methods/conversations.invite): the outcome the caller cannot know, which is what
   * makes duplicates possible.
   */
  faults(options: FaultOptions | null): void {
    this.faultOpts = options ?? undefined;
    this.faultRandom = prng(options?.seed ?? 1);
  }

  private faultHeaders(status: number): Record<string, string> {
    return status === 429 ? { 'retry-after': String(this.faultOpts?.retryAfterSec ?? 1) } : {};
  }

  /** faults injected by `faults()`, to `method` or to any method */
  faultsInjected(method?: string): number {
    return method === undefined ? this.faultLog.length : this.faultLog.filter((f) => f.method === method).length;
  }

  private drawFault(method: string): { kind: string; status: number; applied: boolean; drop: boolean } | undefined {
    const o = this.faultOpts;
    if (!o) return undefined;
    const eligible = o.methods ? o.methods.includes(method) : method !== 'response_url';
    if (!eligible || o.except?.includes(method)) return undefined;
    const rnd = this.faultRandom;
    const pick = <T>(list: readonly T[]): T | undefined => list[Math.min(list.length - 1, Math.floor(rnd() * list.length))];
    const fiveHundred = (): number => (rnd() < 0.5 ? 500 : 503);
    let fault: { kind: string; status: number; applied: boolean; drop: boolean } | undefined;
    if (rnd() < o.rate) {
      const kind = pick(o.kinds ?? ['429', '5xx']) ?? '429';
      const status = kind === '429' ? 429 : fiveHundred();
      fault = { kind: String(status), status, applied: false, drop: false };
    } else if ((o.applyThenFail ?? 0) > 0 && rnd() < (o.applyThenFail ?? 0)) {
      const mode = pick(o.applyThenFailModes ?? ['5xx', 'drop']) ?? '5xx';
      const status = mode === '5xx' ? fiveHundred() : mode === 'drop' ? 0 : 200;
      fault = { kind: `applied+${mode === '5xx' ? status : mode}`, status, applied: true, drop: mode === 'drop' };
    }
    if (fault) this.faultLog.push({ method, kind: fault.kind, at: this.now() });
    return fault;
  }

  // -------------------------------------------------------------------------
  // Hold and complete (kill -9 tests)
  // -------------------------------------------------------------------------

  /**
   * Intercept the next call to `method` (or 'response_url') whose arguments match: it is applied as Slack would,
   * and its answer is withheld until `release()`; `drop()` destroys the connection instead. Slack finishes work it
   * has started whether or not the caller is still there to hear about it.
   */
  hold(method: string, match: (args: Json) => boolean = () => true): HeldCall {
    let resolveArrived!: (call: FakeCall) => void;
    const arrived = new Promise<FakeCall>((resolve) => {
      resolveArrived = resolve;
    });
    const rule: HoldRule = { method, match, state: 'waiting', onArrive: (call) => resolveArrived(call) };
    this.holds.push(rule);
    const decide = (how: 'release' | 'drop'): void => {
      if (rule.state === 'released' || rule.state === 'dropped') return;
      if (rule.finish) rule.finish(how);
      rule.state = how === 'release' ? 'released' : 'dropped';
    };
    return { method, arrived, release: () => decide('release'), drop: () => decide('drop') };
  }

  /** the hold that takes this call, if any (removed from the waiting list) */
  private takeHold(method: string, args: Json): HoldRule | undefined {
    const idx = this.holds.findIndex((r) => r.method === method && r.match(args));
    if (idx < 0) return undefined;
    const [rule] = this.holds.splice(idx, 1);
    return rule;
  }

  /** withhold (or, when already decided, finish) the answer of a held call */
  private holdAnswer(rule: HoldRule, call: FakeCall, res: http.ServerResponse, answer: () => void): void {
    const decided = rule.state;
    call.delivery = 'held';
    this.heldAnswers.add(rule);
    rule.finish = (how) => {
      this.heldAnswers.delete(rule);
      if (how === 'release') {
        call.delivery = 'released';
        answer();
      } else {
        call.delivery = 'dropped';
        res.socket?.destroy();
      }
    };
    if (rule.state === 'waiting') rule.state = 'held';
    rule.onArrive(call);
    if (decided === 'released') rule.finish('release');
    else if (decided === 'dropped') rule.finish('drop');
  }

  // -------------------------------------------------------------------------
  // Workspace settings
  // -------------------------------------------------------------------------

  /**
   * The workspace plan. On 'free', user groups are unavailable: usergroups.* answer `plan_upgrade_required`, "This
   * workspace does not have access to User Groups, as that feature is only available on Standard and above plans"
   * (https://docs.slack.dev/reference/methods/usergroups.users.list, Errors).
   */
  setPlan(plan: SlackPlan): void {
    this.plan = plan;
  }

  /** make a response_url (by id) `ms` older, as if it had been issued that much earlier */
  ageResponseUrl(id: string, ms: number): void {
    const rec = this.responseUrlUse.get(id) ?? { issuedAt: this.now(), uses: 0 };
    rec.issuedAt -= ms;
    this.responseUrlUse.set(id, rec);
  }

  /** counts of what is visible in the workspace now: for "exactly one" assertions after faults and crashes */
  summary(): FakeSummary {
    const count = (pick: (ch: FakeChannel) => number): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const ch of this.channels.values()) {
        const n = pick(ch);
        if (n > 0) out[ch.id] = n;
      }
      return out;
    };
    return {
      channelsCreated: this.createdChannelIds.map((id) => this.channels.get(id)?.name ?? id),
      messages: count((ch) => this.messages(ch.id).length),
      pins: count((ch) => ch.pins.length),
      bookmarks: count((ch) => ch.bookmarks.length),
      files: count((ch) => this.files.filter((f) => f.state === 'complete' && f.channels.includes(ch.id)).length),
      responses: this.responses.length,
      ephemerals: this.ephemeralList.length,
    };
  }

  // -------------------------------------------------------------------------
  // Call log helpers
  // -------------------------------------------------------------------------

  callsTo(method: string): FakeCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  lastCall(method?: string): FakeCall | undefined {
    const list = method === undefined ? this.calls : this.callsTo(method);
    return list[list.length - 1];
  }

  /**
   * Poll until `predicate(this)` returns a truthy value (resolved) or `timeoutMs` passes (rejected with
   * the recent calls). A predicate that throws counts as "not yet" (its last error is reported).
   */
  async waitFor<T>(predicate: (fake: FakeSlack) => T | undefined | null | false, timeoutMs = 2000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      try {
        const v = predicate(this);
        if (v) return v;
      } catch (e) {
        lastError = e;
      }
      if (Date.now() >= deadline) break;
      await delay(5);
    }
    const recent = this.calls
      .slice(-20)
      .map((c) => {
        const args = JSON.stringify(c.args);
        const result = c.response?.ok === true ? 'ok' : `${c.status} ${String(c.response?.error ?? '')}`;
        return `  ${c.method} ${args.length > 200 ? `${args.slice(0, 200)}…` : args} -> ${result}`;
      })
      .join('\n');
    const responses = this.responses
      .slice(-5)
      .map((r) => `  response_url ${r.id}: ${JSON.stringify(r.body).slice(0, 200)}`)
      .join('\n');
    const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : lastError !== undefined ? ` (last error: ${String(lastError)})` : '';
    throw new Error(
      `FakeSlack.waitFor timed out after ${timeoutMs} ms${why}.\nRecent calls (${this.calls.length} total):\n${recent || '  (none)'}` + (responses ? `\nRecent response_url posts:\n${responses}` : ''),
    );
  }

  /** wait for a call to `method` (optionally matching `match`) and return it */
  waitForCall(method: string, match: (call: FakeCall) => boolean = () => true, timeoutMs = 2000): Promise<FakeCall> {
    return this.waitFor((f) => f.callsTo(method).find(match), timeoutMs);
  }

  /** clear only the call log and response_url posts */
  clearCalls(): void {
    this.calls = [];
    this.responses = [];
    this.expiredResponses = [];
  }

  /**
   * Clear the call log, response_url posts, channels (back to #general), messages, ephemerals, views, files,
   * injected faults (`failNext`, `faults`, holds: held answers are dropped) and latency; rate tiers and the plan go
   * back to the options given to `start`, with full buckets. Users, tokens and usergroups are kept.
   */
  reset(): void {
    this.clearCalls();
    this.failRules = [];
    this.faults(null);
    this.faultLog = [];
    for (const h of this.holds) h.state = 'dropped';
    this.holds = [];
    for (const h of [...this.heldAnswers]) h.finish?.('drop');
    this.enforceTiers(this.opts.tiers ?? false);
    this.rateLimitedCounts.clear();
    this.plan = this.opts.plan ?? 'pro';
    this.responseUrlUse.clear();
    this.createdChannelIds = [];
    this.methodLatency.clear();
    this.latencyMs = this.opts.latencyMs ?? 0;
    this.channels.clear();
    this.imByUser.clear();
    this.mpimByKey.clear();
    this.messagesByChannel.clear();
    this.ephemeralList = [];
    this.viewsById.clear();
    this.homeByUser.clear();
    this.homeHistory.clear();
    this.filesById.clear();
    this.triggers.clear();
    this.responseContexts.clear();
    this.scheduled = [];
    this.seedGeneral();
  }

  // -------------------------------------------------------------------------
  // response_url
  // -------------------------------------------------------------------------

  /**
   * A response_url on this server. Posts to it are recorded in `responses`. With `ctx`, they also act like
   * Slack: `response_type: 'in_channel'` posts to ctx.channel, the default (ephemeral) records an ephemeral
   * for ctx.user, `replace_original` / `delete_original` edit / delete the message ctx.messageTs.
   */
  responseUrl(id?: string, ctx?: ResponseUrlContext): string {
    const rid = id ?? randomBytes(8).toString('hex');
    if (ctx) this.responseContexts.set(rid, ctx);
    if (!this.responseUrlUse.has(rid)) this.responseUrlUse.set(rid, { issuedAt: this.now(), uses: 0 });
    return `${this.origin}/response/${encodeURIComponent(rid)}`;
  }

  responsesTo(id: string): FakeResponse[] {
    return this.responses.filter((r) => r.id === id);
  }

  // -------------------------------------------------------------------------
  // Inspectors
  // -------------------------------------------------------------------------

  /** every user, the bot included */
  allUsers(): FakeUser[] {
    return [...this.users.values()];
  }

  /** the IM between the bot and `userId`, opened if need be (as conversations.open would) */
  openImFor(userId: string): FakeChannel {
    return this.openIm(userId);
  }

  user(id: string): FakeUser | undefined {
    return this.users.get(id);
  }

  channel(id: string): FakeChannel | undefined {
    return this.channels.get(id);
  }

  channelByName(name: string): FakeChannel | undefined {
    const n = name.replace(/^#/, '');
    for (const ch of this.channels.values()) if (!ch.is_im && ch.name === n) return ch;
    return undefined;
  }

  /** all non-IM channels */
  allChannels(): FakeChannel[] {
    return [...this.channels.values()].filter((c) => !c.is_im);
  }

  /** messages of a channel (id or '#name'), oldest first, thread replies included, deleted ones hidden */
  messages(channel: string): FakeMessage[] {
    const id = channel.startsWith('#') ? this.channelByName(channel)?.id : channel;
    if (id === undefined) return [];
    return (this.messagesByChannel.get(id) ?? []).filter((m) => !m.deleted);
  }

  /** a message by channel + ts (deleted ones included) */
  message(channelId: string, ts: string): FakeMessage | undefined {
    return this.messagesByChannel.get(channelId)?.find((m) => m.ts === ts);
  }

  /** parent + replies of a thread, oldest first */
  thread(channelId: string, threadTs: string): FakeMessage[] {
    return this.messages(channelId).filter((m) => m.ts === threadTs || m.thread_ts === threadTs);
  }

  ephemerals(userId?: string): FakeEphemeral[] {
    return userId === undefined ? [...this.ephemeralList] : this.ephemeralList.filter((e) => e.user === userId);
  }

  /** messages in the IM between the bot and `userId` */
  dms(userId: string): FakeMessage[] {
    const id = this.imByUser.get(userId);
    return id === undefined ? [] : this.messages(id);
  }

  /** the IM channel id of a user, if one was opened */
  imChannelId(userId: string): string | undefined {
    return this.imByUser.get(userId);
  }

  /** every view (modals and home tabs), current state, in creation order */
  get views(): FakeView[] {
    return [...this.viewsById.values()];
  }

  view(id: string): FakeView | undefined {
    return this.viewsById.get(id);
  }

  /** modals opened or pushed, in creation order */
  modals(userId?: string): FakeView[] {
    return this.views.filter((v) => v.type === 'modal' && !v.closed && (userId === undefined || v.user_id === userId));
  }

  /**
   * Closes a modal as Slack does when the person cancels it or the app acknowledges its submission with an empty
   * body (that view closes; the views under it in the stack stay), or with `whole` the whole stack
   * (`response_action: clear`). https://docs.slack.dev/surfaces/modals ("Closing views", "Responding to view submissions").
   */
  closeView(id: string, whole = false): void {
    const v = this.viewsById.get(id);
    if (!v || v.type !== 'modal') return;
    if (whole) {
      for (const x of this.viewsById.values()) if (x.type === 'modal' && x.root_view_id === v.root_view_id) x.closed = true;
    } else v.closed = true;
    this.changed({ kind: 'seed' });
  }

  /**
   * What Slack does with an app's answer to a view_submission (https://docs.slack.dev/surfaces/modals, "Responding
   * to view submissions"): `errors` keeps the view open and shows each message under its input block; `update`
   * replaces the view; `push` puts a new view on top of it; `clear` closes the whole stack; an empty body closes
   * the submitted view. Returns the errors to show, if any.
   */
  applySubmissionAck(viewId: string, ack: Json | undefined): { errors?: Record<string, string> } {
    const v = this.viewsById.get(viewId);
    if (!v) return {};
    const action = ack?.response_action;
    if (action === 'errors' && isObj(ack?.errors)) {
      return { errors: Object.fromEntries(Object.entries(ack.errors).map(([k, m]) => [k, String(m)])) };
    }
    if (action === 'update' && isObj(ack?.view)) {
      this.rewriteView(v, this.validateView(ack.view, 'modal'));
      this.changed({ kind: 'seed' });
      return {};
    }
    if (action === 'push' && isObj(ack?.view)) {
      this.makeView(this.validateView(ack.view, 'modal'), 'modal', 'views.push', {
        ...(v.user_id !== undefined ? { user_id: v.user_id } : {}),
        previous_view_id: v.id,
        root_view_id: v.root_view_id,
      });
      this.changed({ kind: 'seed' });
      return {};
    }
    this.closeView(viewId, action === 'clear');
    return {};
  }

  /** every version of the user's home tab published, oldest first (snapshots) */
  homeViews(userId: string): FakeView[] {
    return [...(this.homeHistory.get(userId) ?? [])];
  }

  /** the user's current home tab */
  homeView(userId: string): FakeView | undefined {
    const id = this.homeByUser.get(userId);
    return id === undefined ? undefined : this.viewsById.get(id);
  }

  pins(channelId: string): FakePin[] {
    return [...(this.channels.get(channelId)?.pins ?? [])];
  }

  bookmarks(channelId: string): FakeBookmark[] {
    return [...(this.channels.get(channelId)?.bookmarks ?? [])];
  }

  /** every file (all states), in creation order */
  get files(): FakeFile[] {
    return [...this.filesById.values()];
  }

  /** files shared into a channel */
  filesIn(channelId: string): FakeFile[] {
    return this.files.filter((f) => f.channels.includes(channelId));
  }

  scheduledMessages(channelId?: string): Array<{ id: string; channel: string; post_at: number; text: string }> {
    return this.scheduled.filter((s) => channelId === undefined || s.channel === channelId);
  }

  // -------------------------------------------------------------------------
  // HTTP routing
  // -------------------------------------------------------------------------

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    const raw = await readBody(req);
    const contentType = req.headers['content-type'] ?? '';
    if (url.pathname.startsWith('/api/')) {
      await this.handleApi(decodeURIComponent(url.pathname.slice('/api/'.length)), url, raw, contentType, req, res);
    } else if (url.pathname.startsWith('/response/')) {
      await this.handleResponseUrl(decodeURIComponent(url.pathname.slice('/response/'.length)), raw, contentType, res);
    } else if (url.pathname.startsWith('/upload/v1/')) {
      await this.handleUpload(decodeURIComponent(url.pathname.slice('/upload/v1/'.length)), raw, contentType, res);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  }

  private send(res: http.ServerResponse, status: number, body: Json, headers: Record<string, string> = {}): void {
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }

  private async handleApi(method: string, url: URL, raw: Buffer, contentType: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const at = Date.now();
    let parsed: ParsedBody;
    try {
      parsed = await parseBody(raw, contentType);
    } catch {
      parsed = { fields: { _unparseable: raw.toString('utf8') }, files: {} };
    }
    const query: Json = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const args = decodeArgs({ ...query, ...parsed.fields });
    for (const [k, f] of Object.entries(parsed.files)) args[k] = { filename: f.filename, size: f.content.length };
    const auth = req.headers.authorization;
    const headerToken = typeof auth === 'string' && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '') : undefined;
    const bodyToken = typeof args.token === 'string' ? args.token : undefined;
    delete args.token;
    const token = headerToken ?? bodyToken;

    const latency = this.latencyFor(method);
    if (latency > 0) await delay(latency);

    const call: FakeCall = { method, args, at, status: 200, ...(token !== undefined ? { token } : {}) };
    this.noteGarbled(method, args);
    const rule = this.takeFailure(method);
    if (rule && !rule.afterApplying) {
      const status = rule.status ?? 200;
      const body: Json = { ok: false, error: rule.error ?? (status === 429 ? 'ratelimited' : 'internal_error') };
      const headers: Record<string, string> = {};
      if (status === 429) headers['retry-after'] = String(rule.retryAfterSec ?? 1);
      call.status = status;
      call.response = body;
      this.recordCall(call);
      this.send(res, status, body, headers);
      return;
    }

    // Over the limit: "HTTP 429 Too Many Requests error, and a Retry-After HTTP header containing the number of
    // seconds until you can retry" (https://docs.slack.dev/apis/web-api/rate-limits), body error `ratelimited`
    // ("The request has been ratelimited. Refer to the Retry-After header", every method's error list).
    const waitMs = token !== undefined && this.handlers[method] ? this.takeTokens(method, args) : 0;
    if (waitMs > 0) {
      const retryAfter = Number.isFinite(waitMs) ? Math.max(1, Math.ceil(waitMs / 1000)) : 60;
      const body: Json = { ok: false, error: 'ratelimited' };
      this.rateLimitedCounts.set(method, (this.rateLimitedCounts.get(method) ?? 0) + 1);
      Object.assign(call, { status: 429, response: body, applied: false });
      this.recordCall(call);
      this.send(res, 429, body, { 'retry-after': String(retryAfter) });
      return;
    }

    const fault = (rule && this.appliedFault(rule)) ?? (this.handlers[method] ? this.drawFault(method) : undefined);
    if (fault && !fault.applied) {
      const error = fault.status === 429 ? 'ratelimited' : fault.status === 503 ? 'service_unavailable' : 'internal_error';
      const body: Json = { ok: false, error };
      Object.assign(call, { status: fault.status, response: body, fault: fault.kind, applied: false });
      this.recordCall(call);
      this.send(res, fault.status, body, this.faultHeaders(fault.status));
      return;
    }

    let body: Json;
    const handler = this.handlers[method];
    if (!handler) {
      body = { ok: false, error: 'unknown_method', req_method: method };
    } else if (token === undefined) {
      body = { ok: false, error: 'not_authed' };
    } else {
      const ctx: CallContext = { userId: this.tokens.get(token) ?? BOT_USER_ID, token, method };
      try {
        if (method === 'files.upload') args._files = parsed.files;
        const result = handler(args, ctx);
        delete args._files;
        body = { ok: true, ...result };
      } catch (e) {
        delete args._files;
        if (e instanceof SlackApiError) body = { ok: false, error: e.code, ...e.extra };
        else body = { ok: false, error: 'fatal_error', detail: e instanceof Error ? e.message : String(e) };
      }
    }
    if (body.response_metadata === undefined) body.response_metadata = {};
    call.response = body;
    call.applied = body.ok === true;

    const held = this.takeHold(method, args);
    if (held) {
      this.recordCall(call);
      this.holdAnswer(held, call, res, () => this.send(res, 200, body));
      return;
    }
    if (fault) {
      call.fault = fault.kind;
      call.appliedResponse = body;
      this.recordCall(call);
      if (fault.drop) {
        call.delivery = 'dropped';
        call.status = 0;
        delete call.response;
        res.socket?.destroy();
        return;
      }
      const failed: Json = { ok: false, error: fault.status === 503 ? 'service_unavailable' : 'internal_error' };
      call.status = fault.status;
      call.response = failed;
      this.send(res, fault.status, failed);
      return;
    }
    this.recordCall(call);
    this.send(res, 200, body);
  }

  private async handleResponseUrl(id: string, raw: Buffer, contentType: string, res: http.ServerResponse): Promise<void> {
    const latency = this.latencyFor('response_url');
    if (latency > 0) await delay(latency);
    const rule = this.takeFailure('response_url');
    if (rule && !rule.afterApplying) {
      const status = rule.status ?? 500;
      const headers: Record<string, string> = status === 429 ? { 'retry-after': String(rule.retryAfterSec ?? 1) } : {};
      if (status === 200) this.send(res, 200, { ok: false, error: rule.error ?? 'internal_error' });
      else {
        res.writeHead(status, { 'content-type': 'text/plain', ...headers });
        res.end(rule.error ?? 'error');
      }
      return;
    }
    const fault = (rule && this.appliedFault(rule)) ?? this.drawFault('response_url');
    if (fault && !fault.applied) {
      res.writeHead(fault.status, { 'content-type': 'text/plain', ...this.faultHeaders(fault.status) });
      res.end(fault.status === 429 ? 'rate_limited' : 'internal_error');
      return;
    }
    let body: Json | undefined;
    try {
      const parsed = await parseBody(raw, contentType || 'application/json');
      body = decodeArgs(parsed.fields);
      if (typeof body.payload === 'string') {
        const p: unknown = JSON.parse(body.payload);
        if (isObj(p)) body = p;
      }
    } catch {
      body = undefined;
    }
    if (body) this.noteGarbled('response_url', body);
    // A URL not minted by responseUrl() starts its 30 minutes at first use.
    const use = this.responseUrlUse.get(id) ?? { issuedAt: this.now(), uses: 0 };
    this.responseUrlUse.set(id, use);
    if (use.uses >= RESPONSE_URL_MAX_USES || this.now() - use.issuedAt > RESPONSE_URL_TTL_MS) {
      // Past 5 uses or 30 minutes Slack refuses the post, but neither status nor body is documented
      // (slackapi/node-slack-sdk#828): chose HTTP 404 with error `expired_url`. Incoming webhooks, which response_urls
      // resemble, refuse with 4xx statuses and an error string
      // (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks). Nothing is applied.
      this.expiredResponses.push({ id, body: body ?? { _raw: raw.toString('utf8') }, at: this.now() });
      this.send(res, 404, { ok: false, error: 'expired_url' });
      return;
    }
    if (body === undefined) {
      this.send(res, 400, { ok: false, error: 'invalid_payload' });
      return;
    }
    use.uses += 1;
    this.responses.push({ id, body, at: Date.now() });
    const ctx = this.responseContexts.get(id);
    if (ctx) this.applyResponse(ctx, body);
    this.trimHistory();
    this.changed({ kind: 'response', args: { ...body, response_url_id: id } });
    const held = this.takeHold('response_url', body);
    if (held) {
      const args = { ...body, response_url_id: id };
      const call: FakeCall = { method: 'response_url', args, at: Date.now(), status: 200, response: { ok: true }, applied: true };
      this.holdAnswer(held, call, res, () => this.send(res, 200, { ok: true }));
      return;
    }
    if (fault?.drop) {
      res.socket?.destroy();
      return;
    }
    if (fault) {
      this.send(res, fault.status, { ok: false, error: 'internal_error' });
      return;
    }
    this.send(res, 200, { ok: true });
  }

  private noteGarbled(method: string, payload: unknown): void {
    const json = JSON.stringify(payload) ?? '';
    const at = json.indexOf('[object Object]');
    if (at >= 0) this.garbled.push({ method, sample: json.slice(Math.max(0, at - 80), at + 40) });
  }

  private applyResponse(ctx: ResponseUrlContext, body: Json): void {
    const text = typeof body.text === 'string' ? body.text : '';
    const blocks = Array.isArray(body.blocks) ? body.blocks : undefined;
    const original = ctx.channel && ctx.messageTs ? this.message(ctx.channel, ctx.messageTs) : undefined;
    if (bool(body, 'delete_original')) {
      if (original) original.deleted = true;
      return;
    }
    if (bool(body, 'replace_original') && original) {
      original.text = text;
      if (blocks) original.blocks = blocks;
      else delete original.blocks;
      original.edited = { user: BOT_USER_ID, ts: this.nextTs() };
      return;
    }
    if (!ctx.channel) return;
    const ch = this.channels.get(ctx.channel);
    if (!ch) return;
    const threadTs = typeof body.thread_ts === 'string' ? body.thread_ts : undefined;
    if (body.response_type === 'in_channel') {
      this.insertMessage(ch, { text, ...(blocks ? { blocks } : {}), user: BOT_USER_ID, bot_id: BOT_ID, app_id: APP_ID, ...(threadTs ? { thread_ts: threadTs } : {}) });
    } else if (ctx.user) {
      this.ephemeralList.push({
        channel: ch.id,
        user: ctx.user,
        text,
        ...(blocks ? { blocks } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        message_ts: this.nextTs(),
        via: 'response_url',
        at: Date.now(),
      });
    }
  }

  private async handleUpload(fileId: string, raw: Buffer, contentType: string, res: http.ServerResponse): Promise<void> {
    const latency = this.latencyFor('files.upload.external');
    if (latency > 0) await delay(latency);
    const file = this.filesById.get(fileId);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('file not found');
      return;
    }
    let content = raw;
    if (contentType.toLowerCase().startsWith('multipart/form-data')) {
      try {
        const parsed = await parseBody(raw, contentType);
        const part = parsed.files.body ?? parsed.files.file ?? Object.values(parsed.files)[0];
        if (part) content = part.content;
        else if (typeof parsed.fields.body === 'string') content = Buffer.from(parsed.fields.body);
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('bad multipart');
        return;
      }
    }
    file.content = content;
    file.text = content.toString('utf8');
    file.size = content.length;
    file.state = 'uploaded';
    this.changed({ kind: 'upload', args: { file: fileId } });
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`OK - ${content.length}`);
  }

  // -------------------------------------------------------------------------
  // State helpers
  // -------------------------------------------------------------------------

  private nextId(prefix: string): string {
    this.seq += 1;
    return `${prefix}${String(this.seq).padStart(8, '0')}`;
  }

  /** strictly increasing message ts, "1700000000.000100"-style */
  nextTs(): string {
    let micros: number;
    if (this.opts.tsBase !== undefined) {
      micros = Math.max(this.opts.tsBase * 1e6, this.lastTsMicros) + 100;
    } else {
      micros = Math.max(Date.now() * 1000, this.lastTsMicros + 1);
    }
    this.lastTsMicros = micros;
    const sec = Math.floor(micros / 1e6);
    const frac = micros - sec * 1e6;
    return `${sec}.${String(frac).padStart(6, '0')}`;
  }

  private requireUser(id: string | undefined): FakeUser {
    const u = id === undefined ? undefined : this.users.get(id);
    if (!u) fail('user_not_found');
    return u;
  }

  /** look a channel up by id as the caller sees it (private channels the caller is not in are invisible) */
  private requireChannel(id: string | undefined, ctx: CallContext): FakeChannel {
    if (!id) fail('channel_not_found');
    const ch = this.channels.get(id) ?? (id.startsWith('#') ? this.channelByName(id) : undefined);
    if (!ch) fail('channel_not_found');
    if ((ch.is_private || ch.is_im || ch.is_mpim) && !ch.members.includes(ctx.userId)) fail('channel_not_found');
    return ch;
  }

  private openIm(userId: string): FakeChannel {
    const existing = this.imByUser.get(userId);
    if (existing) {
      const ch = this.channels.get(existing);
      if (ch) return ch;
    }
    const id = this.nextId('D');
    const ch: FakeChannel = {
      id,
      name: '',
      is_private: true,
      is_im: true,
      is_mpim: false,
      is_archived: false,
      is_general: false,
      created: nowSec(),
      creator: BOT_USER_ID,
      members: userId === BOT_USER_ID ? [BOT_USER_ID] : [userId, BOT_USER_ID],
      topic: { value: '', creator: '', last_set: 0 },
      purpose: { value: '', creator: '', last_set: 0 },
      pins: [],
      bookmarks: [],
      user: userId,
    };
    this.channels.set(id, ch);
    this.messagesByChannel.set(id, []);
    this.imByUser.set(userId, id);
    return ch;
  }

  /** chat.postMessage-style target: channel id, '#name', bare name, or a user id (→ IM) */
  private resolveTarget(target: string | undefined, ctx: CallContext): FakeChannel {
    if (!target) fail('channel_not_found');
    if (target.startsWith('#')) {
      const ch = this.channelByName(target);
      if (!ch) fail('channel_not_found');
      return this.requireChannel(ch.id, ctx);
    }
    if (this.channels.has(target)) return this.requireChannel(target, ctx);
    if (this.users.has(target)) return this.openIm(target);
    const byName = this.channelByName(target);
    if (byName) return this.requireChannel(byName.id, ctx);
    fail('channel_not_found');
  }

  private insertMessage(ch: FakeChannel, fields: Omit<FakeMessage, 'type' | 'channel' | 'ts' | 'text'> & { text?: string; ts?: string }): FakeMessage {
    const { ts: givenTs, text, ...rest } = fields;
    const msg: FakeMessage = {
      type: 'message',
      channel: ch.id,
      ts: givenTs ?? this.nextTs(),
      text: text ?? '',
      team: TEAM_ID,
      ...rest,
    };
    const list = this.messagesByChannel.get(ch.id) ?? [];
    list.push(msg);
    list.sort((a, b) => tsCompare(a.ts, b.ts));
    this.messagesByChannel.set(ch.id, list);
    if (msg.thread_ts && msg.thread_ts !== msg.ts) {
      const parent = list.find((m) => m.ts === msg.thread_ts);
      if (parent) {
        parent.thread_ts = parent.ts;
        parent.reply_count = (parent.reply_count ?? 0) + 1;
        const replier = msg.user ?? BOT_USER_ID;
        parent.reply_users = [...new Set([...(parent.reply_users ?? []), replier])];
        parent.latest_reply = msg.ts;
      }
    }
    return msg;
  }

  /** why `userId` cannot be invited to `ch` (see conversations.invite), or undefined */
  private inviteError(ch: FakeChannel, userId: string, ctx: CallContext): string | undefined {
    const u = this.users.get(userId);
    if (!u) return 'user_not_found';
    if (userId === ctx.userId) return 'cant_invite_self';
    if (u.deleted) return 'user_disabled';
    if (ch.members.includes(userId)) return 'already_in_channel';
    const guest = u.is_restricted || u.is_ultra_restricted;
    if (guest && u.guest_channels !== undefined && !u.guest_channels.includes(ch.id)) return 'user_is_restricted';
    if (u.is_restricted && !u.is_ultra_restricted && u.guest_channels === undefined) return 'user_is_restricted';
    if (u.max_channels !== undefined) {
      const inChannels = [...this.channels.values()].filter((c) => !c.is_im && c.members.includes(userId)).length;
      if (inChannels >= u.max_channels) return u.is_ultra_restricted ? 'ura_max_channels' : 'cant_invite';
    }
    return undefined;
  }

  private requireMessage(ch: FakeChannel, ts: string | undefined): FakeMessage {
    const msg = ts === undefined ? undefined : this.messagesByChannel.get(ch.id)?.find((m) => m.ts === ts && !m.deleted);
    if (!msg) fail('message_not_found');
    return msg;
  }

  private messageJson(m: FakeMessage, withMetadata = true): Json {
    const { channel: _channel, deleted: _deleted, metadata, ...rest } = m;
    return { ...rest, ...(withMetadata && metadata !== undefined ? { metadata } : {}) };
  }

  /**
   * chat.postMessage / chat.update `metadata`: "JSON object with event_type and event_payload fields, presented as a
   * URL-encoded string" (https://docs.slack.dev/reference/methods/chat.postMessage, Arguments). What separates
   * `invalid_metadata_format` from `invalid_metadata_schema` (both in its Errors) is not documented: chose format for
   * anything that is not a JSON object, schema for an object without a string event_type and an object event_payload.
   */
  private metadataArg(args: Json): Json | undefined {
    const m = args.metadata;
    if (m === undefined || m === '') return undefined;
    if (!isObj(m)) fail('invalid_metadata_format');
    if (typeof m.event_type !== 'string' || m.event_type === '' || !isObj(m.event_payload)) fail('invalid_metadata_schema');
    return { event_type: m.event_type, event_payload: m.event_payload };
  }

  private channelJson(ch: FakeChannel, ctx: CallContext, withCount = false): Json {
    if (ch.is_im) {
      return {
        id: ch.id,
        created: ch.created,
        is_im: true,
        is_org_shared: false,
        context_team_id: TEAM_ID,
        updated: ch.created * 1000,
        user: ch.user,
        is_user_deleted: false,
        priority: 0,
        is_open: true,
      };
    }
    return {
      id: ch.id,
      name: ch.name,
      is_channel: !ch.is_mpim,
      is_group: false,
      is_im: false,
      is_mpim: ch.is_mpim,
      is_private: ch.is_private,
      created: ch.created,
      is_archived: ch.is_archived,
      is_general: ch.is_general,
      unlinked: 0,
      name_normalized: ch.name,
      is_shared: false,
      is_org_shared: false,
      is_pending_ext_shared: false,
      pending_shared: [],
      context_team_id: TEAM_ID,
      updated: ch.created * 1000,
      parent_conversation: null,
      creator: ch.creator,
      is_ext_shared: false,
      shared_team_ids: [TEAM_ID],
      pending_connected_team_ids: [],
      is_member: ch.members.includes(ctx.userId),
      topic: { ...ch.topic },
      purpose: { ...ch.purpose },
      previous_names: [],
      ...(withCount ? { num_members: ch.members.length } : {}),
    };
  }

  private userJson(u: FakeUser): Json {
    const offset = tzOffsetSeconds(u.tz);
    return {
      id: u.id,
      team_id: u.team_id,
      name: u.name,
      deleted: u.deleted,
      color: '9f69e7',
      real_name: u.real_name,
      tz: u.tz,
      tz_label: u.tz,
      tz_offset: offset,
      profile: {
        real_name: u.real_name,
        real_name_normalized: u.real_name,
        display_name: u.display_name ?? u.name,
        display_name_normalized: u.display_name ?? u.name,
        ...(u.email !== undefined ? { email: u.email } : {}),
        ...(u.bot_id !== undefined ? { bot_id: u.bot_id, api_app_id: APP_ID } : {}),
        image_48: `https://avatars.example/${u.id}_48.png`,
        image_72: `https://avatars.example/${u.id}_72.png`,
        team: u.team_id,
      },
      is_admin: u.is_admin,
      is_owner: false,
      is_primary_owner: false,
      is_restricted: u.is_restricted || u.is_ultra_restricted,
      is_ultra_restricted: u.is_ultra_restricted,
      is_bot: u.is_bot,
      is_app_user: false,
      updated: nowSec(),
    };
  }

  private fileJson(f: FakeFile): Json {
    return {
      id: f.id,
      created: f.created,
      timestamp: f.created,
      name: f.name,
      title: f.title,
      mimetype: f.mimetype,
      filetype: f.filetype,
      pretty_type: f.filetype,
      user: f.user,
      user_team: TEAM_ID,
      size: f.size,
      mode: 'hosted',
      is_external: false,
      is_public: f.channels.some((c) => this.channels.get(c)?.is_private === false),
      url_private: f.url_private,
      url_private_download: `${f.url_private}?download=1`,
      permalink: f.permalink,
      channels: f.channels.filter((c) => this.channels.get(c)?.is_private === false),
      groups: f.channels.filter((c) => this.channels.get(c)?.is_private === true && !this.channels.get(c)?.is_im),
      ims: f.channels.filter((c) => this.channels.get(c)?.is_im === true),
      ...(f.alt_text !== undefined ? { alt_txt: f.alt_text } : {}),
    };
  }

  private permalink(channel: string, ts: string, threadTs?: string): string {
    const base = `https://${TEAM_DOMAIN}.slack.com/archives/${channel}/p${ts.replace('.', '')}`;
    return threadTs && threadTs !== ts ? `${base}?thread_ts=${threadTs}&cid=${channel}` : base;
  }

  private validateMessageContent(args: Json, requireContent: boolean): { text?: string; blocks?: unknown[]; attachments?: unknown[] } {
    const text = str(args, 'text');
    const rawBlocks = args.blocks;
    let blocks: unknown[] | undefined;
    if (rawBlocks !== undefined && rawBlocks !== '') {
      if (!Array.isArray(rawBlocks)) fail('invalid_blocks_format');
      blocks = rawBlocks;
    }
    const rawAtt = args.attachments;
    let attachments: unknown[] | undefined;
    if (rawAtt !== undefined && rawAtt !== '') {
      if (!Array.isArray(rawAtt)) fail('invalid_attachments');
      attachments = rawAtt;
    }
    if (requireContent && !text && !(blocks && blocks.length > 0) && !(attachments && attachments.length > 0)) fail('no_text');
    if (text !== undefined && text.length > 40000) fail('msg_too_long');
    if (blocks && this.opts.validateBlocks !== false) {
      const errors = validateBlocks(blocks, 50, '/blocks');
      if (errors.length > 0) invalidBlocks(errors);
    }
    return {
      ...(text !== undefined ? { text } : {}),
      ...(blocks !== undefined ? { blocks } : {}),
      ...(attachments !== undefined ? { attachments } : {}),
    };
  }

  private validateView(view: unknown, kind: 'modal' | 'home'): Json {
    if (!isObj(view)) invalidArguments('missing required field: view');
    if (view.type !== kind) invalidArguments(`view type must be ${kind} [json-pointer:/view/type]`);
    if (!Array.isArray(view.blocks)) invalidArguments('missing required field: blocks [json-pointer:/view/blocks]');
    if (this.opts.validateBlocks === false) return view;
    const errors = validateBlocks(view.blocks, 100, '/view/blocks');
    const checkTitle = (key: string, required: boolean): void => {
      const v = view[key];
      if (v === undefined || v === null) {
        if (required) errors.push(`missing required field: ${key} [json-pointer:/view/${key}]`);
        return;
      }
      if (!isObj(v) || v.type !== 'plain_text' || typeof v.text !== 'string') errors.push(`must be a plain_text object [json-pointer:/view/${key}]`);
      else if (v.text.length > 24) errors.push(`must be less than 25 characters [json-pointer:/view/${key}/text]`);
    };
    if (kind === 'modal') {
      checkTitle('title', true);
      checkTitle('submit', false);
      checkTitle('close', false);
      const hasInput = view.blocks.some((b) => isObj(b) && b.type === 'input');
      if (hasInput && (view.submit === undefined || view.submit === null)) {
        errors.push('must provide a submit property when using input blocks [json-pointer:/view/submit]');
      }
    }
    if (typeof view.private_metadata === 'string' && view.private_metadata.length > 3000) {
      errors.push('must be less than 3001 characters [json-pointer:/view/private_metadata]');
    }
    if (typeof view.callback_id === 'string' && view.callback_id.length > 255) {
      errors.push('must be less than 256 characters [json-pointer:/view/callback_id]');
    }
    if (typeof view.external_id === 'string' && view.external_id.length > 255) {
      errors.push('must be less than 256 characters [json-pointer:/view/external_id]');
    }
    if (errors.length > 0) {
      fail('invalid_arguments', { response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } });
    }
    return view;
  }

  private checkTrigger(triggerId: string | undefined): { userId?: string } {
    if (!triggerId) invalidArguments('missing required field: trigger_id');
    const t = this.triggers.get(triggerId);
    if (!t) return {};
    if (t.expired || Date.now() - t.issuedAt > TRIGGER_TTL_MS) fail('expired_trigger_id');
    return t.userId !== undefined ? { userId: t.userId } : {};
  }

  private newHash(): string {
    return `${nowSec()}.${randomBytes(6).toString('hex')}`;
  }

  private makeView(
    def: Json,
    kind: 'modal' | 'home',
    openedBy: FakeView['opened_by'],
    extra: { user_id?: string; trigger_id?: string; previous_view_id?: string | null; root_view_id?: string },
  ): FakeView {
    const id = this.nextId('V');
    const v: FakeView = {
      id,
      team_id: TEAM_ID,
      type: kind,
      ...(extra.user_id !== undefined ? { user_id: extra.user_id } : {}),
      ...(extra.trigger_id !== undefined ? { trigger_id: extra.trigger_id } : {}),
      callback_id: typeof def.callback_id === 'string' ? def.callback_id : '',
      private_metadata: typeof def.private_metadata === 'string' ? def.private_metadata : '',
      external_id: typeof def.external_id === 'string' ? def.external_id : '',
      ...(def.title !== undefined ? { title: def.title } : {}),
      ...(def.submit !== undefined ? { submit: def.submit } : {}),
      ...(def.close !== undefined ? { close: def.close } : {}),
      blocks: Array.isArray(def.blocks) ? def.blocks : [],
      hash: this.newHash(),
      previous_view_id: extra.previous_view_id ?? null,
      root_view_id: extra.root_view_id ?? id,
      app_id: APP_ID,
      bot_id: BOT_ID,
      clear_on_close: def.clear_on_close === true,
      notify_on_close: def.notify_on_close === true,
      opened_by: openedBy,
      updates: 0,
      definition: def,
    };
    this.viewsById.set(id, v);
    return v;
  }

  private rewriteView(v: FakeView, def: Json): void {
    v.callback_id = typeof def.callback_id === 'string' ? def.callback_id : '';
    v.private_metadata = typeof def.private_metadata === 'string' ? def.private_metadata : '';
    if (typeof def.external_id === 'string') v.external_id = def.external_id;
    if (def.title !== undefined) v.title = def.title;
    else delete v.title;
    if (def.submit !== undefined) v.submit = def.submit;
    else delete v.submit;
    if (def.close !== undefined) v.close = def.close;
    else delete v.close;
    v.blocks = Array.isArray(def.blocks) ? def.blocks : [];
    v.clear_on_close = def.clear_on_close === true;
    v.notify_on_close = def.notify_on_close === true;
    v.hash = this.newHash();
    v.updates += 1;
    v.definition = def;
  }

  private viewJson(v: FakeView): Json {
    return {
      id: v.id,
      team_id: v.team_id,
      type: v.type,
      blocks: v.blocks,
      private_metadata: v.private_metadata,
      callback_id: v.callback_id,
      state: { values: {} },
      hash: v.hash,
      title: v.title ?? null,
      clear_on_close: v.clear_on_close,
      notify_on_close: v.notify_on_close,
      close: v.close ?? null,
      submit: v.submit ?? null,
      previous_view_id: v.previous_view_id,
      root_view_id: v.root_view_id,
      app_id: v.app_id,
      external_id: v.external_id,
      app_installed_team_id: TEAM_ID,
      bot_id: v.bot_id,
    };
  }

  private findFile(id: string | undefined): FakeFile {
    const f = id === undefined ? undefined : this.filesById.get(id);
    if (!f) fail('file_not_found');
    return f;
  }

  private newFile(filename: string, title: string | undefined, user: string, declared: number): FakeFile {
    const id = this.nextId('F');
    const { filetype, mimetype } = guessFiletype(filename);
    const f: FakeFile = {
      id,
      name: filename,
      title: title ?? filename,
      filetype,
      mimetype,
      size: 0,
      declared_length: declared,
      content: Buffer.alloc(0),
      text: '',
      channels: [],
      user,
      created: nowSec(),
      state: 'pending',
      permalink: `https://${TEAM_DOMAIN}.slack.com/files/${user}/${id}/${encodeURIComponent(filename)}`,
      url_private: `https://files.slack.com/files-pri/${TEAM_ID}-${id}/${encodeURIComponent(filename)}`,
    };
    this.filesById.set(id, f);
    return f;
  }

  private shareFiles(files: FakeFile[], ch: FakeChannel, ctx: CallContext, initialComment?: string, threadTs?: string, blocks?: unknown[]): void {
    for (const f of files) {
      if (!f.channels.includes(ch.id)) f.channels.push(ch.id);
      if (initialComment !== undefined) f.initial_comment = initialComment;
      if (threadTs !== undefined) f.thread_ts = threadTs;
    }
    const isBot = ctx.userId === BOT_USER_ID;
    this.insertMessage(ch, {
      text: initialComment ?? '',
      ...(blocks ? { blocks } : {}),
      user: ctx.userId,
      ...(isBot ? { bot_id: BOT_ID, app_id: APP_ID } : {}),
      subtype: 'file_share',
      files: files.map((f) => this.fileJson(f)),
      ...(threadTs ? { thread_ts: threadTs } : {}),
    });
  }

  // -------------------------------------------------------------------------
  // API methods
  // -------------------------------------------------------------------------

  private buildHandlers(): Record<string, Handler> {
    const h: Record<string, Handler> = {};

    // --- auth / team -------------------------------------------------------
    h['auth.test'] = (_args, ctx) => {
      const u = this.users.get(ctx.userId);
      return {
        url: `https://${TEAM_DOMAIN}.slack.com/`,
        team: TEAM_NAME,
        user: u?.name ?? ctx.userId,
        team_id: TEAM_ID,
        user_id: ctx.userId,
        ...(ctx.userId === BOT_USER_ID ? { bot_id: BOT_ID } : {}),
        is_enterprise_install: false,
      };
    };
    h['team.info'] = () => ({
      team: {
        id: TEAM_ID,
        name: TEAM_NAME,
        url: `https://${TEAM_DOMAIN}.slack.com/`,
        domain: TEAM_DOMAIN,
        email_domain: 'example.com',
        icon: { image_default: true },
        is_verified: false,
      },
    });
    h['api.test'] = (args) => ({ args });

    // --- chat --------------------------------------------------------------
    h['chat.postMessage'] = (args, ctx) => {
      const ch = this.resolveTarget(str(args, 'channel'), ctx);
      // "is_archived: Channel has been archived." (https://docs.slack.dev/reference/methods/chat.postMessage, Errors)
      if (ch.is_archived) fail('is_archived');
      if (!ch.is_im && !ch.members.includes(ctx.userId) && (this.opts.requireBotMembership || ctx.userId !== BOT_USER_ID)) {
        fail('not_in_channel');
      }
      const content = this.validateMessageContent(args, true);
      const metadata = this.metadataArg(args);
      const threadTs = str(args, 'thread_ts');
      const isBot = ctx.userId === BOT_USER_ID;
      const msg = this.insertMessage(ch, {
        text: content.text ?? '',
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(content.attachments ? { attachments: content.attachments } : {}),
        user: ctx.userId,
        ...(isBot ? { bot_id: BOT_ID, app_id: APP_ID } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        ...(threadTs && bool(args, 'reply_broadcast') ? { reply_broadcast: true } : {}),
        ...(metadata !== undefined ? { metadata } : {}),
        ...(str(args, 'username') ? { username: str(args, 'username') } : {}),
        ...(str(args, 'icon_emoji') ? { icon_emoji: str(args, 'icon_emoji') } : {}),
        ...(str(args, 'icon_url') ? { icon_url: str(args, 'icon_url') } : {}),
      });
      return { channel: ch.id, ts: msg.ts, message: this.messageJson(msg) };
    };

    h['chat.update'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const msg = this.requireMessage(ch, str(args, 'ts'));
      if (msg.user !== ctx.userId) fail('cant_update_message');
      // is_archived is not in chat.update's documented errors (https://docs.slack.dev/reference/methods/chat.update);
      // chose to refuse, as chat.postMessage documents for the same channel, rather than let an edit land.
      if (ch.is_archived) fail('is_archived');
      const content = this.validateMessageContent(args, false);
      const metadata = this.metadataArg(args);
      if (content.text !== undefined) msg.text = content.text;
      if ('blocks' in args) {
        if (content.blocks && content.blocks.length > 0) msg.blocks = content.blocks;
        else delete msg.blocks;
      }
      if ('attachments' in args) {
        if (content.attachments && content.attachments.length > 0) msg.attachments = content.attachments;
        else delete msg.attachments;
      }
      if (metadata !== undefined) msg.metadata = metadata;
      msg.edited = { user: ctx.userId, ts: this.nextTs() };
      return { channel: ch.id, ts: msg.ts, text: msg.text, message: this.messageJson(msg) };
    };

    h['chat.delete'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const msg = this.requireMessage(ch, str(args, 'ts'));
      if (msg.user !== ctx.userId) fail('cant_delete_message');
      msg.deleted = true;
      ch.pins = ch.pins.filter((p) => p.ts !== msg.ts);
      return { channel: ch.id, ts: msg.ts };
    };

    h['chat.postEphemeral'] = (args, ctx) => {
      const ch = this.resolveTarget(str(args, 'channel'), ctx);
      const userId = str(args, 'user');
      if (!userId) fail('user_not_found');
      this.requireUser(userId);
      if (ch.is_archived) fail('is_archived');
      if (!ch.members.includes(userId)) fail('user_not_in_channel');
      const content = this.validateMessageContent(args, true);
      const threadTs = str(args, 'thread_ts');
      const messageTs = this.nextTs();
      this.ephemeralList.push({
        channel: ch.id,
        user: userId,
        text: content.text ?? '',
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(content.attachments ? { attachments: content.attachments } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
        message_ts: messageTs,
        via: 'chat.postEphemeral',
        at: Date.now(),
      });
      return { message_ts: messageTs };
    };

    h['chat.getPermalink'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const msg = this.requireMessage(ch, str(args, 'message_ts'));
      return { channel: ch.id, permalink: this.permalink(ch.id, msg.ts, msg.thread_ts) };
    };

    h['chat.scheduleMessage'] = (args, ctx) => {
      const ch = this.resolveTarget(str(args, 'channel'), ctx);
      const postAt = int(args, 'post_at', NaN);
      if (!Number.isFinite(postAt)) invalidArguments('missing required field: post_at');
      if (postAt < nowSec()) fail('time_in_past');
      if (postAt > nowSec() + 120 * 86400) fail('time_too_far');
      const content = this.validateMessageContent(args, true);
      const id = this.nextId('Q');
      const threadTs = str(args, 'thread_ts');
      this.scheduled.push({
        id,
        channel: ch.id,
        post_at: postAt,
        text: content.text ?? '',
        ...(content.blocks ? { blocks: content.blocks } : {}),
        ...(threadTs ? { thread_ts: threadTs } : {}),
      });
      return {
        channel: ch.id,
        scheduled_message_id: id,
        post_at: postAt,
        message: { type: 'message', text: content.text ?? '', user: ctx.userId, bot_id: BOT_ID, team: TEAM_ID },
      };
    };

    h['chat.deleteScheduledMessage'] = (args, ctx) => {
      this.requireChannel(str(args, 'channel'), ctx);
      const id = str(args, 'scheduled_message_id');
      const idx = this.scheduled.findIndex((s) => s.id === id);
      if (idx < 0) fail('invalid_scheduled_message_id');
      this.scheduled.splice(idx, 1);
      return {};
    };

    // --- conversations -------------------------------------------------------
    h['conversations.create'] = (args, ctx) => {
      const name = str(args, 'name') ?? '';
      if (name === '') fail('invalid_name_required');
      if (name.length > 80) fail('invalid_name_maxlength');
      if (!/^[a-z0-9_-]+$/.test(name)) fail('invalid_name_specials');
      if (/^[-_]+$/.test(name)) fail('invalid_name_punctuation');
      if (this.channelByName(name)) fail('name_taken');
      const ch = this.addChannel({ name, is_private: bool(args, 'is_private'), creator: ctx.userId, members: [ctx.userId] });
      this.createdChannelIds.push(ch.id);
      return { channel: this.channelJson(ch, ctx) };
    };

    h['conversations.rename'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      if (ch.is_im || ch.is_mpim) fail('method_not_supported_for_channel_type');
      // documented: https://docs.slack.dev/reference/methods/conversations.rename, Errors
      if (ch.is_archived) fail('is_archived');
      if (!ch.members.includes(ctx.userId)) fail('not_in_channel');
      const name = str(args, 'name') ?? '';
      if (name === '') fail('invalid_name_required');
      if (name.length > 80) fail('invalid_name_maxlength');
      if (!/^[a-z0-9_-]+$/.test(name)) fail('invalid_name_specials');
      const taken = this.channelByName(name);
      if (taken && taken.id !== ch.id) fail('name_taken');
      ch.name = name;
      return { channel: this.channelJson(ch, ctx) };
    };

    // conversations.invite (https://docs.slack.dev/reference/methods/conversations.invite): "Up to 100 users may be
    // listed"; `force`: "When set to true and multiple user IDs are provided, continue inviting the valid ones while
    // disregarding invalid IDs. Defaults to false." So without force one bad user fails the whole call and nobody is
    // invited; the error response names each failure: `{ ok:false, error, errors:[{ user, ok:false, error }] }`
    // (the page's example error response). With force the output schema also has `errors`; that the valid users are
    // then invited with ok:true and the failures listed is our reading, and a call where every user fails still
    // fails (not documented). Per-user errors: unknown `user_not_found`, self `cant_invite_self`, member
    // `already_in_channel`, single-channel guest at its cap `ura_max_channels`, guest not allowed in this channel
    // `user_is_restricted` (all documented); deactivated `user_disabled` and other channel caps `cant_invite`
    // (not documented for this method: `user_disabled` is conversations.open's word for a disabled user, `cant_invite`
    // the documented catch-all). A member already in the channel counts as a failure like any other (not documented
    // for mixed lists; the conservative reading, since nothing says the others get in).
    h['conversations.invite'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      if (ch.is_im || ch.is_mpim) fail('method_not_supported_for_channel_type');
      if (ch.is_archived) fail('is_archived');
      if (!ch.members.includes(ctx.userId)) fail('not_in_channel');
      // The caller: "user_is_ultra_restricted: This method cannot be called by a single channel guest" (the method's
      // earlier reference, github.com/slack-ruby/slack-api-ref methods/conversations/conversations.invite.json).
      if (this.users.get(ctx.userId)?.is_ultra_restricted) fail('user_is_ultra_restricted');
      const ids = [...new Set(csv(args, 'users'))];
      if (ids.length === 0) fail('no_user');
      // Past 100 the error is not documented: chose `too_many_users` (conversations.open's word for the same thing).
      if (ids.length > 100) fail('too_many_users');
      const errors: Json[] = [];
      const valid: string[] = [];
      for (const id of ids) {
        const error = this.inviteError(ch, id, ctx);
        if (error) errors.push({ user: id, ok: false, error });
        else valid.push(id);
      }
      const first = errors[0];
      if (first && (!bool(args, 'force') || valid.length === 0)) fail(String(first.error), { errors });
      ch.members.push(...valid);
      return { channel: this.channelJson(ch, ctx), ...(errors.length > 0 ? { errors } : {}) };
    };

    h['conversations.kick'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      if (ch.is_im || ch.is_mpim) fail('method_not_supported_for_channel_type');
      if (ch.is_general) fail('cant_kick_from_general');
      const userId = str(args, 'user');
      this.requireUser(userId);
      if (userId === ctx.userId) fail('cant_kick_self');
      if (!ch.members.includes(userId ?? '')) fail('not_in_channel');
      ch.members = ch.members.filter((m) => m !== userId);
      return {};
    };

    // is_archived is documented for both (https://docs.slack.dev/reference/methods/conversations.setTopic, Errors).
    const setTopicLike =
      (field: 'topic' | 'purpose', max: number): Handler =>
      (args, ctx) => {
        const ch = this.requireChannel(str(args, 'channel'), ctx);
        if (ch.is_archived) fail('is_archived');
        if (!ch.members.includes(ctx.userId)) fail('not_in_channel');
        const value = str(args, field) ?? '';
        if (value.length > max) fail('too_long');
        ch[field] = { value, creator: ctx.userId, last_set: nowSec() };
        return { channel: this.channelJson(ch, ctx) };
      };
    h['conversations.setTopic'] = setTopicLike('topic', 250);
    h['conversations.setPurpose'] = setTopicLike('purpose', 250);

    h['conversations.archive'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      if (ch.is_im || ch.is_mpim) fail('method_not_supported_for_channel_type');
      if (ch.is_general) fail('cant_archive_general');
      // "already_archived: Channel has already been archived."
      // (https://docs.slack.dev/reference/methods/conversations.archive, Errors)
      if (ch.is_archived) fail('already_archived');
      if (!ch.members.includes(ctx.userId)) fail('not_in_channel');
      ch.is_archived = true;
      return {};
    };

    h['conversations.unarchive'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      if (!ch.is_archived) fail('not_archived');
      ch.is_archived = false;
      return {};
    };

    h['conversations.info'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      return { channel: this.channelJson(ch, ctx, bool(args, 'include_num_members')) };
    };

    h['conversations.members'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const { page, next_cursor } = paginate(ch.members, args);
      return { members: page, response_metadata: { next_cursor } };
    };

    h['conversations.join'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      if (ch.is_im || ch.is_mpim || ch.is_private) fail('method_not_supported_for_channel_type');
      if (ch.is_archived) fail('is_archived');
      const already = ch.members.includes(ctx.userId);
      if (!already) ch.members.push(ctx.userId);
      return {
        channel: this.channelJson(ch, ctx),
        ...(already ? { warning: 'already_in_channel', response_metadata: { warnings: ['already_in_channel'] } } : {}),
      };
    };

    h['conversations.leave'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      if (ch.is_general) fail('cant_leave_general');
      if (ch.is_im) fail('method_not_supported_for_channel_type');
      if (!ch.members.includes(ctx.userId)) return { not_in_channel: true };
      ch.members = ch.members.filter((m) => m !== ctx.userId);
      return {};
    };

    h['conversations.list'] = (args, ctx) => {
      const types = new Set(csv(args, 'types'));
      if (types.size === 0) types.add('public_channel');
      const excludeArchived = bool(args, 'exclude_archived');
      const all = [...this.channels.values()].filter((ch) => {
        if (excludeArchived && ch.is_archived) return false;
        if (ch.is_im) return types.has('im') && ch.members.includes(ctx.userId);
        if (ch.is_mpim) return types.has('mpim') && ch.members.includes(ctx.userId);
        if (ch.is_private) return types.has('private_channel') && ch.members.includes(ctx.userId);
        return types.has('public_channel');
      });
      const { page, next_cursor } = paginate(all, args);
      return { channels: page.map((ch) => this.channelJson(ch, ctx, true)), response_metadata: { next_cursor } };
    };

    h['conversations.open'] = (args, ctx) => {
      const channelArg = str(args, 'channel');
      const returnIm = bool(args, 'return_im');
      if (channelArg) {
        const ch = this.requireChannel(channelArg, ctx);
        if (!ch.is_im && !ch.is_mpim) fail('method_not_supported_for_channel_type');
        return { no_op: true, already_open: true, channel: returnIm ? this.channelJson(ch, ctx) : { id: ch.id } };
      }
      const ids = csv(args, 'users');
      if (ids.length === 0) fail('users_list_not_supplied');
      if (ids.length > 8) fail('too_many_users');
      for (const id of ids) this.requireUser(id);
      const others = [...new Set(ids.filter((id) => id !== ctx.userId))];
      if (others.length <= 1) {
        const target = others[0] ?? ctx.userId;
        const existed = this.imByUser.has(target);
        const ch = this.openIm(target);
        return {
          ...(existed ? { no_op: true, already_open: true } : {}),
          channel: returnIm ? this.channelJson(ch, ctx) : { id: ch.id },
        };
      }
      const members = [...new Set([...others, ctx.userId])].sort();
      const key = members.join(',');
      let id = this.mpimByKey.get(key);
      const existed = id !== undefined;
      if (id === undefined) {
        id = this.nextId('G');
        const names = members.map((m) => this.users.get(m)?.name ?? m);
        const ch = this.addChannel({ id, name: `mpdm-${names.join('--')}-1`, is_private: true, members, creator: ctx.userId });
        ch.is_mpim = true;
        this.mpimByKey.set(key, id);
      }
      const ch = this.channels.get(id);
      if (!ch) fail('channel_not_found');
      return { ...(existed ? { no_op: true, already_open: true } : {}), channel: returnIm ? this.channelJson(ch, ctx) : { id } };
    };

    // conversations.history returns parents only: conversations.replies "returns an entire thread (a message plus all
    // the messages in reply to it), while conversations.history method returns only parent messages"
    // (https://api.slack.com/methods/conversations.replies); newest first, `latest`/`oldest`/`inclusive`, cursor.
    h['conversations.history'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const latest = str(args, 'latest');
      const oldest = str(args, 'oldest');
      const inclusive = bool(args, 'inclusive');
      const top = this.messages(ch.id)
        .filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.reply_broadcast)
        .filter((m) => {
          if (latest && (inclusive ? tsCompare(m.ts, latest) > 0 : tsCompare(m.ts, latest) >= 0)) return false;
          if (oldest && (inclusive ? tsCompare(m.ts, oldest) < 0 : tsCompare(m.ts, oldest) <= 0)) return false;
          return true;
        })
        .reverse();
      // limit: default 100, "Maximum of 999" (https://docs.slack.dev/reference/methods/conversations.history).
      const { page, next_cursor } = paginate(top, { ...args, limit: Math.min(999, int(args, 'limit', 100)) });
      // Message metadata comes back only when asked for: `include_all_metadata` "Return all metadata associated
      // with this message", default 0 (same page, Arguments).
      const withMetadata = bool(args, 'include_all_metadata');
      return {
        messages: page.map((m) => this.messageJson(m, withMetadata)),
        has_more: next_cursor !== '',
        pin_count: ch.pins.length,
        response_metadata: { next_cursor },
      };
    };

    h['conversations.replies'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const ts = str(args, 'ts');
      const parent = ts === undefined ? undefined : this.messages(ch.id).find((m) => m.ts === ts);
      if (!parent || ts === undefined) fail('thread_not_found');
      const root = parent.thread_ts ?? parent.ts;
      const all = this.thread(ch.id, root);
      const { page, next_cursor } = paginate(all, args, 1000);
      // include_all_metadata as for conversations.history
      // (https://docs.slack.dev/reference/methods/conversations.replies, Arguments).
      const withMetadata = bool(args, 'include_all_metadata');
      return {
        messages: page.map((m) => this.messageJson(m, withMetadata)),
        has_more: next_cursor !== '',
        response_metadata: { next_cursor },
      };
    };

    // --- pins ----------------------------------------------------------------
    h['pins.add'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      // is_archived is not among pins.add's documented errors (https://docs.slack.dev/reference/methods/pins.add):
      // chose to refuse, as the methods that document it do, rather than change an archived channel.
      if (ch.is_archived) fail('is_archived');
      const msg = this.requireMessage(ch, str(args, 'timestamp'));
      if (ch.pins.some((p) => p.ts === msg.ts)) fail('already_pinned');
      if (ch.pins.length >= 100) fail('too_many_pins');
      ch.pins.push({ ts: msg.ts, created: nowSec(), created_by: ctx.userId });
      return {};
    };
    h['pins.remove'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const ts = str(args, 'timestamp');
      if (!ch.pins.some((p) => p.ts === ts)) fail('no_pin');
      ch.pins = ch.pins.filter((p) => p.ts !== ts);
      return {};
    };
    h['pins.list'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const items = ch.pins
        .map((p) => {
          const m = this.message(ch.id, p.ts);
          return m && !m.deleted
            ? {
                type: 'message',
                created: p.created,
                created_by: p.created_by,
                channel: ch.id,
                message: { ...this.messageJson(m), permalink: this.permalink(ch.id, m.ts, m.thread_ts), pinned_to: [ch.id] },
              }
            : undefined;
        })
        .filter((x) => x !== undefined)
        .reverse();
      return { items };
    };

    // --- bookmarks -----------------------------------------------------------
    h['bookmarks.add'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel_id'), ctx);
      // Not among bookmarks.add's documented errors (https://docs.slack.dev/reference/methods/bookmarks.add): chose
      // is_archived, as for pins.add.
      if (ch.is_archived) fail('is_archived');
      const title = str(args, 'title');
      const type = str(args, 'type');
      if (!title) invalidArguments('missing required field: title');
      if (!type) invalidArguments('missing required field: type');
      if (type !== 'link') fail('invalid_bookmark_type');
      const link = str(args, 'link');
      if (!link) fail('invalid_link');
      if (ch.bookmarks.length >= 100) fail('too_many_bookmarks');
      const now = nowSec();
      const bm: FakeBookmark = {
        id: this.nextId('Bk'),
        channel_id: ch.id,
        title,
        link,
        emoji: str(args, 'emoji') ?? '',
        type,
        ...(str(args, 'entity_id') ? { entity_id: str(args, 'entity_id') } : {}),
        date_created: now,
        date_updated: 0,
        rank: String.fromCharCode(97 + Math.min(ch.bookmarks.length, 25)),
        last_updated_by_user_id: ctx.userId,
        last_updated_by_team_id: TEAM_ID,
        app_id: ctx.userId === BOT_USER_ID ? APP_ID : null,
      };
      ch.bookmarks.push(bm);
      return { bookmark: { ...bm } };
    };
    h['bookmarks.edit'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel_id'), ctx);
      const bm = ch.bookmarks.find((b) => b.id === str(args, 'bookmark_id'));
      if (!bm) fail('not_found');
      const title = str(args, 'title');
      const link = str(args, 'link');
      const emoji = str(args, 'emoji');
      if (title !== undefined) bm.title = title;
      if (link !== undefined) bm.link = link;
      if (emoji !== undefined) bm.emoji = emoji;
      bm.date_updated = nowSec();
      bm.last_updated_by_user_id = ctx.userId;
      return { bookmark: { ...bm } };
    };
    h['bookmarks.remove'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel_id'), ctx);
      const id = str(args, 'bookmark_id');
      if (!ch.bookmarks.some((b) => b.id === id)) fail('not_found');
      ch.bookmarks = ch.bookmarks.filter((b) => b.id !== id);
      return {};
    };
    h['bookmarks.list'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel_id'), ctx);
      return { bookmarks: ch.bookmarks.map((b) => ({ ...b })) };
    };

    // --- reactions -----------------------------------------------------------
    h['reactions.add'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      // "is_archived: Channel specified has been archived." (https://docs.slack.dev/reference/methods/reactions.add)
      if (ch.is_archived) fail('is_archived');
      const msg = this.requireMessage(ch, str(args, 'timestamp'));
      const name = (str(args, 'name') ?? '').replace(/^:|:$/g, '');
      if (!name || !/^[a-z0-9_+'-]+(::skin-tone-\d)?$/.test(name)) fail('invalid_name');
      msg.reactions ??= [];
      let r = msg.reactions.find((x) => x.name === name);
      if (r?.users.includes(ctx.userId)) fail('already_reacted');
      if (!r) {
        r = { name, users: [], count: 0 };
        msg.reactions.push(r);
      }
      r.users.push(ctx.userId);
      r.count = r.users.length;
      return {};
    };
    h['reactions.remove'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const msg = this.requireMessage(ch, str(args, 'timestamp'));
      const name = (str(args, 'name') ?? '').replace(/^:|:$/g, '');
      const r = msg.reactions?.find((x) => x.name === name);
      if (!r || !r.users.includes(ctx.userId)) fail('no_reaction');
      r.users = r.users.filter((u) => u !== ctx.userId);
      r.count = r.users.length;
      if (msg.reactions) msg.reactions = msg.reactions.filter((x) => x.count > 0);
      return {};
    };
    h['reactions.get'] = (args, ctx) => {
      const ch = this.requireChannel(str(args, 'channel'), ctx);
      const msg = this.requireMessage(ch, str(args, 'timestamp'));
      return { type: 'message', channel: ch.id, message: this.messageJson(msg) };
    };

    // --- users / usergroups --------------------------------------------------
    h['users.info'] = (args) => ({ user: this.userJson(this.requireUser(str(args, 'user'))) });
    // users.list (https://docs.slack.dev/reference/methods/users.list): every member, deactivated ones
    // (`deleted: true`) and bots included, in pages; `cursor` takes the `response_metadata.next_cursor` of the
    // previous page and an empty next_cursor ends the list (https://docs.slack.dev/apis/web-api/pagination);
    // a cursor that is not one fails `invalid_cursor`. Without `limit` Slack tries to send everything at once.
    h['users.list'] = (args) => {
      const all = [...this.users.values()];
      const asked = int(args, 'limit', 0);
      const limit = asked > 0 ? asked : all.length || 1;
      // The shortened page still ends where Slack's would: the cursor points just past what was returned.
      const served = this.opts.shortPages && limit > 1 ? Math.ceil(limit / 2) : limit;
      const { page, next_cursor } = paginate(all, { ...args, limit: served }, served);
      return { members: page.map((u) => this.userJson(u)), cache_ts: nowSec(), response_metadata: { next_cursor } };
    };
    // users.lookupByEmail (https://docs.slack.dev/reference/methods/users.lookupByEmail): one user by the
    // `email` registered to them; an address nobody in the workspace has fails `users_not_found`.
    h['users.lookupByEmail'] = (args) => {
      const email = (str(args, 'email') ?? '').toLowerCase();
      const u = [...this.users.values()].find((x) => x.email?.toLowerCase() === email);
      if (!u) fail('users_not_found');
      return { user: this.userJson(u) };
    };
    h['users.conversations'] = (args, ctx) => {
      const userId = str(args, 'user') ?? ctx.userId;
      this.requireUser(userId);
      const types = new Set(csv(args, 'types'));
      if (types.size === 0) types.add('public_channel');
      const all = [...this.channels.values()].filter((ch) => {
        if (!ch.members.includes(userId)) return false;
        if (bool(args, 'exclude_archived') && ch.is_archived) return false;
        if (ch.is_im) return types.has('im');
        if (ch.is_mpim) return types.has('mpim');
        return types.has(ch.is_private ? 'private_channel' : 'public_channel');
      });
      const { page, next_cursor } = paginate(all, args);
      return { channels: page.map((ch) => this.channelJson(ch, ctx)), response_metadata: { next_cursor } };
    };
    // usergroups.users.list (https://docs.slack.dev/reference/methods/usergroups.users.list, Errors): an unknown id
    // is "no_such_subteam: No usergroup found with the given ID"; on a Free workspace "plan_upgrade_required: This
    // workspace does not have access to User Groups" (also listed for usergroups.list), checked first.
    h['usergroups.users.list'] = (args) => {
      if (this.plan === 'free') fail('plan_upgrade_required');
      const g = this.usergroups.get(str(args, 'usergroup') ?? '');
      if (!g) fail('no_such_subteam');
      return { users: [...g.users] };
    };
    h['usergroups.list'] = (args) => {
      if (this.plan === 'free') fail('plan_upgrade_required');
      return {
        usergroups: [...this.usergroups.values()].map((g) => ({
          id: g.id,
          team_id: TEAM_ID,
          is_usergroup: true,
          name: g.name,
          handle: g.handle,
          user_count: g.users.length,
          ...(bool(args, 'include_users') ? { users: [...g.users] } : {}),
        })),
      };
    };

    // --- views ---------------------------------------------------------------
    h['views.open'] = (args) => {
      const triggerId = str(args, 'trigger_id');
      const t = this.checkTrigger(triggerId);
      const def = this.validateView(args.view, 'modal');
      const v = this.makeView(def, 'modal', 'views.open', { ...(t.userId !== undefined ? { user_id: t.userId } : {}), ...(triggerId ? { trigger_id: triggerId } : {}) });
      return { view: this.viewJson(v) };
    };
    h['views.push'] = (args) => {
      const triggerId = str(args, 'trigger_id');
      const t = this.checkTrigger(triggerId);
      const def = this.validateView(args.view, 'modal');
      const stack = this.modals(t.userId);
      const prev = stack[stack.length - 1];
      const v = this.makeView(def, 'modal', 'views.push', {
        ...(t.userId !== undefined ? { user_id: t.userId } : {}),
        ...(triggerId ? { trigger_id: triggerId } : {}),
        previous_view_id: prev?.id ?? null,
        ...(prev ? { root_view_id: prev.root_view_id } : {}),
      });
      return { view: this.viewJson(v) };
    };
    h['views.update'] = (args) => {
      const viewId = str(args, 'view_id');
      const externalId = str(args, 'external_id');
      if (!viewId && !externalId) invalidArguments('must provide view_id or external_id');
      const v = viewId ? this.viewsById.get(viewId) : this.views.find((x) => x.external_id === externalId);
      if (!v) fail('not_found');
      const hash = str(args, 'hash');
      if (hash && hash !== v.hash) fail('hash_conflict');
      const def = this.validateView(args.view, v.type);
      this.rewriteView(v, def);
      return { view: this.viewJson(v) };
    };
    h['views.publish'] = (args) => {
      const userId = str(args, 'user_id');
      if (!userId) invalidArguments('missing required field: user_id');
      this.requireUser(userId);
      const def = this.validateView(args.view, 'home');
      const existingId = this.homeByUser.get(userId);
      let v = existingId === undefined ? undefined : this.viewsById.get(existingId);
      const hash = str(args, 'hash');
      if (v && hash && hash !== v.hash) fail('hash_conflict');
      if (v) this.rewriteView(v, def);
      else {
        v = this.makeView(def, 'home', 'views.publish', { user_id: userId });
        this.homeByUser.set(userId, v.id);
      }
      const history = this.homeHistory.get(userId) ?? [];
      history.push({ ...v, blocks: [...v.blocks] });
      this.homeHistory.set(userId, history);
      return { view: this.viewJson(v) };
    };

    // --- files ---------------------------------------------------------------
    h['files.getUploadURLExternal'] = (args, ctx) => {
      const filename = str(args, 'filename');
      const length = int(args, 'length', NaN);
      if (!filename) invalidArguments('missing required field: filename');
      if (!Number.isFinite(length)) invalidArguments('missing required field: length');
      if (length <= 0) fail('invalid_length');
      const f = this.newFile(filename, undefined, ctx.userId, length);
      const alt = str(args, 'alt_text');
      if (alt !== undefined) f.alt_text = alt;
      return { upload_url: `${this.origin}/upload/v1/${f.id}`, file_id: f.id };
    };
    h['files.completeUploadExternal'] = (args, ctx) => {
      const list = args.files;
      if (!Array.isArray(list) || list.length === 0) invalidArguments('missing required field: files');
      const files: FakeFile[] = [];
      for (const entry of list) {
        if (!isObj(entry) || typeof entry.id !== 'string') invalidArguments('files must be [{ id, title? }]');
        const f = this.findFile(entry.id);
        if (f.state === 'pending') fail('file_upload_not_complete', { file_id: f.id });
        if (typeof entry.title === 'string') f.title = entry.title;
        f.state = 'complete';
        files.push(f);
      }
      const channelId = str(args, 'channel_id') ?? csv(args, 'channels')[0];
      if (channelId) {
        const ch = this.requireChannel(channelId, ctx);
        if (ch.is_archived) fail('is_archived');
        const blocks = Array.isArray(args.blocks) ? args.blocks : undefined;
        this.shareFiles(files, ch, ctx, str(args, 'initial_comment'), str(args, 'thread_ts'), blocks);
      }
      return { files: files.map((f) => ({ id: f.id, title: f.title, name: f.name })) };
    };
    h['files.upload'] = (args, ctx) => {
      const parts = (isObj(args._files) ? args._files : {}) as Record<string, UploadedPart | undefined>;
      const part = parts.file;
      const content = str(args, 'content');
      if (content === undefined && !part) fail('no_file_data');
      const data = part ? part.content : Buffer.from(content ?? '', 'utf8');
      const filename = str(args, 'filename') ?? part?.filename ?? 'file';
      const f = this.newFile(filename, str(args, 'title'), ctx.userId, 0);
      f.content = data;
      f.text = data.toString('utf8');
      f.size = data.length;
      f.state = 'complete';
      const channels = csv(args, 'channels');
      for (const c of channels) {
        const ch = this.requireChannel(c, ctx);
        this.shareFiles([f], ch, ctx, str(args, 'initial_comment'), str(args, 'thread_ts'));
      }
      return { file: this.fileJson(f) };
    };
    // files.list (https://docs.slack.dev/reference/methods/files.list): filters `channel`, `user`, `ts_from` / `ts_to`
    // (inclusive), `types`; pages by `count` (default 100) and `page` (default 1) with a `paging` object. Files still
    // being uploaded (no completeUploadExternal yet) are not listed, and the order is not documented: chose newest
    // first. Only files the caller can see: shared where it is a member or to public channels, or its own.
    h['files.list'] = (args, ctx) => {
      const channel = str(args, 'channel');
      const user = str(args, 'user');
      if (user !== undefined && !this.users.has(user)) fail('user_not_found');
      const from = int(args, 'ts_from', 0);
      const to = int(args, 'ts_to', Number.MAX_SAFE_INTEGER);
      const types = csv(args, 'types').filter((t) => t !== 'all');
      const visible = (f: FakeFile): boolean =>
        f.user === ctx.userId ||
        f.channels.some((c) => {
          const ch = this.channels.get(c);
          return ch !== undefined && (ch.members.includes(ctx.userId) || (!ch.is_private && !ch.is_im));
        });
      const all = this.files
        .filter((f) => f.state === 'complete' && visible(f))
        .filter((f) => (channel === undefined || f.channels.includes(channel)) && (user === undefined || f.user === user))
        .filter((f) => f.created >= from && f.created <= to)
        .filter((f) => types.length === 0 || types.some((t) => f.filetype === (t === 'snippets' ? 'text' : t)))
        .reverse();
      const count = Math.max(1, int(args, 'count', 100));
      const pages = Math.max(1, Math.ceil(all.length / count));
      const page = Math.max(1, int(args, 'page', 1));
      return {
        files: all.slice((page - 1) * count, page * count).map((f) => this.fileJson(f)),
        paging: { count, total: all.length, page, pages },
      };
    };
    h['files.info'] = (args) => {
      const f = this.findFile(str(args, 'file'));
      return { file: this.fileJson(f), content: f.text };
    };
    h['files.delete'] = (args, ctx) => {
      const f = this.findFile(str(args, 'file'));
      if (f.user !== ctx.userId) fail('cant_delete_file');
      this.filesById.delete(f.id);
      return {};
    };

    return h;
  }
}
