/**
 * A stateful fake of Discord's REST API v10, served over real HTTP on 127.0.0.1, for Muster's Discord tests.
 *
 * Point the real clients at it:
 *   new REST({ api: fake.restApi, version: '10' }).setToken('t')   // @discordjs/rest appends /v10
 *   fetch(`${fake.api}/channels/${GENERAL_CHANNEL_ID}/messages`, { headers: { Authorization: 'Bot t' } })
 *
 * It answers like Discord: JSON objects, errors as `{ message, code, errors? }`
 * (https://discord.com/developers/docs/reference#error-messages), X-RateLimit-* headers on every answer
 * (https://discord.com/developers/docs/topics/rate-limits#header-format).
 *
 * For delivery tests (every effect exactly once across crashes, faults and rate limits), all opt-in:
 * - `start({ rateLimits: true })` / `enforceRateLimits()`: fixed windows per bucket and a global 50/s; `rateLimited()`.
 * - `failNext(match)`: one-shot fault before the call is applied, or (`afterApplying`) after it (500 or a dropped socket).
 * - `hold(match)`: apply the call, withhold the HTTP answer until `release()` or `drop()` (kill -9 tests).
 * - `summary()`: visible effects (channels created, messages, pins, DMs) to assert "exactly one".
 *
 * Deliberate simplifications (documented so tests don't rely on the opposite):
 * - One guild (GUILD_ID). Any `Bot <token>` is accepted and acts as the bot user; permissions are not enforced on
 *   routes (the bot may do anything) but one: a bot message in a guild channel needs VIEW_CHANNEL and SEND_MESSAGES
 *   there after overwrites (so a locked channel refuses it); `canSee()` computes channel visibility for tests.
 * - Rate-limit windows run on the wall clock (clients sleep on it); the rename limit, nonces, interaction and token
 *   expiry run on the fake's clock (`now`).
 * - Without enforcement the headers report a nominal limit of 10,000 per window, so clients never throttle themselves.
 * - No threads, no voice, no stickers/polls; reply pings (`replied_user`) are not modelled.
 * - Gateway: `GET /gateway/bot` (https://discord.com/developers/docs/events/gateway#get-gateway-bot) points at the
 *   WebSocket stand-in of test/support/fakeDiscordGateway.ts once `gatewayUrl` is set (FakeDiscordGateway.start does);
 *   the fake itself sends no events: tests dispatch them through the stand-in, with `pinAs` and `addReaction` to make
 *   the state they describe.
 * - Tokens: any `Bot <token>` is accepted unless `botToken` is set; then any other token gets 401 (as Discord answers
 *   a revoked or mistyped one).
 * - Message content: every read returns the text unless `messageContentIntent` is false; then REST reads of other
 *   people's guild messages come back with empty `content`, `embeds`, `attachments` and `components`, except where the
 *   bot is mentioned (https://discord.com/developers/docs/events/gateway#message-content-intent; interaction payloads
 *   keep them: the message a message command is used on is one of the documented exceptions).
 *
 * Assumed where Discord's docs are silent (change them here if Discord is seen to differ):
 * - An edit that adds a mention records a ping with `via: 'edit'` (whether Discord notifies again is not documented).
 * - Webhook and interaction messages parse mentions like channel messages when `allowed_mentions` is absent.
 * - A follow-up before the initial callback answers 404 10015 Unknown Webhook.
 * - The rename limit counts name and topic changes alike (as @discordjs/rest's sublimit does) and answers 429 with
 *   scope 'shared'; validation codes inside 50035 `errors` other than BASE_TYPE_* are plausible names, not Discord's.
 * - Enforced limits: a fixed window per bucket (5 per 5 s by default), Retry-After rounded up to whole seconds.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { PermissionFlagsBits } from 'discord-api-types/v10';
import type { APIChannel, APIGuildMember, APIInteraction, APIMessage, APIRole, APIUser } from 'discord-api-types/v10';

export const APPLICATION_ID = '1100000000000000001';
export const BOT_USER_ID = '1100000000000000002';
export const GUILD_ID = '1100000000000000003';
export const GENERAL_CHANNEL_ID = '1100000000000000004';

/** "you must send an initial response within 3 seconds of receiving the event"
 * (https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction) */
export const INTERACTION_CALLBACK_TTL_MS = 3000;
/** "Interaction tokens are valid for 15 minutes" (same page, "Followup Messages") */
export const INTERACTION_TOKEN_TTL_MS = 15 * 60 * 1000;
/** enforce_nonce: "If another message was created by the same author with the same nonce, that message will be
 * returned and no new message will be created" — the docs give the window as "the past few minutes"; we use 5.
 * (https://discord.com/developers/docs/resources/message#create-message) */
export const NONCE_WINDOW_MS = 5 * 60 * 1000;
/** Channel name/topic edits: 2 per 10 minutes per channel. Undocumented by Discord; @discordjs/rest treats
 * PATCH /channels/:id with `name` or `topic` as a sublimited route (`hasSublimit` in @discordjs/rest's utils). */
export const RENAME_LIMIT = 2;
export const RENAME_WINDOW_MS = 10 * 60 * 1000;

const MESSAGE_FLAG_EPHEMERAL = 1 << 6;
const MESSAGE_FLAG_LOADING = 1 << 7;
const VIEW_CHANNEL = PermissionFlagsBits.ViewChannel;
/** what @everyone may do in the fake guild (Discord's default role grants View Channel, Send Messages, ...) */
const EVERYONE_PERMISSIONS = PermissionFlagsBits.ViewChannel | PermissionFlagsBits.SendMessages | PermissionFlagsBits.ReadMessageHistory | PermissionFlagsBits.AddReactions;
/** what the interaction payloads say the app may do (`app_permissions`) */
const BOT_PERMISSIONS =
  EVERYONE_PERMISSIONS |
  PermissionFlagsBits.ManageChannels |
  PermissionFlagsBits.ManageRoles |
  PermissionFlagsBits.ManageMessages |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.PinMessages;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

export interface FakeDiscordOptions {
  /** the fake's clock (rename limit, nonces, interaction and token expiry, timestamps). Default Date.now */
  now?: () => number;
  /** enforce rate limits from the start (see `enforceRateLimits`) */
  rateLimits?: boolean;
  /** lower limits for tests (Discord's defaults otherwise) */
  limits?: Partial<Limits>;
}

export interface Limits {
  /** "500 channels per guild": https://discord.com/developers/docs/resources/guild#create-guild-channel (30013) */
  guildChannels: number;
  /** 50 channels per category: https://discord.com/developers/docs/resources/channel#channel-object */
  categoryChannels: number;
  /** "maximum of 250 pinned messages": https://discord.com/developers/docs/resources/message#pin-message (30003) */
  pins: number;
}

export interface RateLimitOptions {
  /** requests per bucket (route + major parameter) per window. Default 5 */
  perRoute?: number;
  /** the bucket window. Default 5000 ms */
  windowMs?: number;
  /** requests per second across bot-token routes. Default 50
   * (https://discord.com/developers/docs/topics/rate-limits#global-rate-limit) */
  global?: number;
}

export interface FakeCall {
  method: string;
  /** the path after /api/v10, with its query string */
  path: string;
  /** the route template, e.g. 'POST /channels/:id/messages' */
  route: string;
  body: unknown;
  status: number;
  response: unknown;
  /** whether the call changed (or read) state as Discord would: false for errors, 429s and faults before applying */
  applied: boolean;
  /** the fake's clock when it arrived */
  at: number;
  fault?: 'before' | 'after';
  delivery?: 'held' | 'released' | 'dropped';
}

export interface FailSpec {
  status?: number;
  code?: number;
  /** apply the call, then answer `status` (default 500), or drop the connection with `drop: true` */
  afterApplying?: boolean;
  drop?: boolean;
  /** with status 429: the wait it asks for, in `retry_after` and (rounded up) Retry-After. Default 0.05 s */
  retryAfterSec?: number;
}

export interface HeldCall {
  arrived: Promise<FakeCall>;
  release(): void;
  drop(): void;
}

export interface Ping {
  channel: string;
  message: string;
  kind: 'user' | 'role' | 'everyone';
  /** the user or role id; 'everyone' or 'here' for kind 'everyone' */
  id?: string;
  via: 'create' | 'edit';
}

export interface InteractionResponseRecord {
  kind: 'callback' | 'followup' | 'edit' | 'delete';
  type?: number;
  data: unknown;
  ephemeral: boolean;
  messageId?: string;
  at: number;
}

export interface FakeSummary {
  /** names of the channels created through the API */
  channelsCreated: string[];
  /** non-system messages per guild channel */
  messages: Record<string, number>;
  pins: Record<string, number>;
  /** messages per DM recipient */
  dms: Record<string, number>;
}

export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  content: Buffer;
  url: string;
  content_type?: string;
  /** the file's description (alt text), as the request's attachment object gave it */
  description?: string;
}

export interface Overwrite {
  id: string;
  type: 0 | 1;
  allow: string;
  deny: string;
}

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

// Request bodies are untyped JSON from the client; every field is checked before use.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = Record<string, any>;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** thrown by handlers to answer with an error */
class Fail {
  constructor(readonly reply: Reply) {}
}

function err(status: number, code: number, message: string, errors?: Record<string, unknown>): Fail {
  return new Fail({ status, body: { message, code, ...(errors ? { errors } : {}) } });
}

// JSON error codes: https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes
const E = {
  unauthorized: () => err(401, 0, '401: Unauthorized'),
  notFound: () => err(404, 0, '404: Not Found'),
  unknownChannel: () => err(404, 10003, 'Unknown Channel'),
  unknownGuild: () => err(404, 10004, 'Unknown Guild'),
  unknownMember: () => err(404, 10007, 'Unknown Member'),
  unknownMessage: () => err(404, 10008, 'Unknown Message'),
  unknownUser: () => err(404, 10013, 'Unknown User'),
  unknownWebhook: () => err(404, 10015, 'Unknown Webhook'),
  unknownInteraction: () => err(404, 10062, 'Unknown interaction'),
  maxPins: () => err(400, 30003, 'Maximum number of pins reached (250)'),
  maxChannels: () => err(400, 30013, 'Maximum number of guild channels reached (500)'),
  alreadyAcked: () => err(400, 40060, 'Interaction has already been acknowledged.'),
  missingAccess: () => err(403, 50001, 'Missing Access'),
  missingPermissions: () => err(403, 50013, 'Missing Permissions'),
  // an empty message is 50006, not 50035 (the code @discordjs/rest users see as DiscordAPIError[50006])
  emptyMessage: () => err(400, 50006, 'Cannot send an empty message'),
  cannotDm: () => err(403, 50007, 'Cannot send messages to this user'),
  invalidWebhookToken: () => err(401, 50027, 'Invalid Webhook Token'),
  invalidJson: () => err(400, 50109, 'The request body contains invalid JSON.'),
};

/** collects 50035 errors in Discord's nested shape: `{ embeds: { 0: { title: { _errors: [{ code, message }] } } } }` */
class FormErrors {
  root: Record<string, unknown> = {};
  count = 0;
  /** prepended to every path (e.g. ['data'] for an interaction response's message) */
  prefix: (string | number)[] = [];
  add(path: (string | number)[], code: string, message: string): void {
    let node = this.root as Body;
    for (const p of [...this.prefix, ...path]) node = node[String(p)] ??= {};
    (node._errors ??= []).push({ code, message });
    this.count++;
  }
  maxLength(path: (string | number)[], value: unknown, max: number): void {
    if (typeof value === 'string' && [...value].length > max) this.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
    else if (Array.isArray(value) && value.length > max) this.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
  }
  throwIfAny(): void {
    if (this.count > 0) throw err(400, 50035, 'Invalid Form Body', this.root);
  }
}

interface FakeUser {
  id: string;
  username: string;
  global_name: string | null;
  bot: boolean;
  acceptsDms: boolean;
}

interface FakeMember {
  userId: string;
  nick: string | null;
  roles: string[];
  joined_at: string;
}

interface FakeChannel {
  id: string;
  type: 0 | 1 | 4;
  name: string | null;
  topic: string | null;
  parent_id: string | null;
  guild_id?: string;
  position: number;
  permission_overwrites: Overwrite[];
  recipient?: string;
  last_message_id: string | null;
  /** fake-clock times of name/topic changes */
  renames: number[];
  pins: { messageId: string; pinnedAt: string }[];
}

interface FakeMessage {
  id: string;
  channel_id: string;
  type: number;
  author_id: string;
  content: string;
  embeds: Body[];
  components: Body[];
  attachments: FakeAttachment[];
  flags: number;
  timestamp: string;
  edited_timestamp: string | null;
  nonce?: string | number;
  allowed_mentions?: Body;
  mentions: string[];
  mention_roles: string[];
  mention_everyone: boolean;
  message_reference?: { message_id: string; channel_id: string; guild_id?: string };
  reactions: Map<string, Set<string>>;
  webhook_id?: string;
  interaction?: { id: string; type: number; user_id: string };
  ephemeral: boolean;
}

interface InteractionRecord {
  id: string;
  token: string;
  type: number;
  channelId: string;
  guildId?: string;
  userId: string;
  messageId?: string;
  mintedAt: number;
  callbackType?: number;
  originalId?: string;
  messageIds: Set<string>;
  responses: InteractionResponseRecord[];
}

interface UploadedFile {
  field: string;
  name: string;
  type: string;
  content: Buffer;
}

interface Ctx {
  params: string[];
  query: URLSearchParams;
  body: Body;
  files: UploadedFile[];
}

interface Route {
  method: string;
  template: string;
  segments: string[];
  /** needs `Authorization: Bot <token>` */
  auth: boolean;
  deprecated?: boolean;
  handle: (ctx: Ctx) => Reply;
}

interface FailRule extends FailSpec {
  match: string;
}

interface HoldRule {
  match: string;
  state: 'waiting' | 'held' | 'released' | 'dropped';
  onArrive: (call: FakeCall) => void;
  finish?: (how: 'release' | 'drop') => void;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok = (body?: unknown): Reply => (body === undefined ? { status: 204 } : { status: 200, body });
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined);

/**
 * Text channel names as Discord stores them: lowercase, whitespace runs become '-', only letters (any script),
 * digits 0-9, '-' and '_' kept, at most 100 characters. Discord does not document the rule; it is what the client
 * shows and what the API returns (https://discord.com/developers/docs/resources/guild#create-guild-channel returns
 * the created channel: store the name it returns).
 */
export function normaliseChannelName(name: string): string {
  return [
    ...name
      .trim()
      .toLowerCase()
      .replace(/\s+/g, '-')
      .replace(/[^0-9_\-\p{L}]/gu, ''),
  ]
    .slice(0, 100)
    .join('');
}

// ---------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------

export class FakeDiscord {
  readonly origin: string;
  readonly restApi: string;
  readonly api: string;
  calls: FakeCall[] = [];
  deprecatedCalls: FakeCall[] = [];
  pings: Ping[] = [];
  /** the WebSocket URL `GET /gateway/bot` answers with (a FakeDiscordGateway's `url`); unset: 404 */
  gatewayUrl: string | undefined;
  /** when set, only `Authorization: Bot <botToken>` is accepted on bot routes (401 otherwise) */
  botToken: string | undefined;
  /** false: REST reads withhold other people's message content as Discord does for an app without the intent */
  messageContentIntent = true;
  /** The Server Members intent (GUILD_MEMBERS): List Guild Members answers 403 without it. */
  membersIntent = true;

  private readonly now: () => number;
  private readonly limits: Limits;
  private rateLimitConfig: Required<RateLimitOptions> | null = null;
  private windows = new Map<string, { count: number; resetAt: number }>();
  private globalWindow = { count: 0, resetAt: 0 };
  private rateLimitedCount = 0;
  private invalidCount = 0;
  private nextId = 1200000000000000000n;
  private users = new Map<string, FakeUser>();
  private members = new Map<string, FakeMember>();
  private roles = new Map<string, APIRole>();
  private channels = new Map<string, FakeChannel>();
  private msgs = new Map<string, FakeMessage[]>();
  private ephemerals = new Map<string, FakeMessage>();
  private attachmentsById = new Map<string, FakeAttachment>();
  private nonces = new Map<string, { messageId: string; at: number }>();
  private createdChannelIds: string[] = [];
  private dmByUser = new Map<string, string>();
  private interactions = new Map<string, InteractionRecord>();
  private interactionsByToken = new Map<string, InteractionRecord>();
  private globalCommands: Body[] = [];
  private guildCommands = new Map<string, Body[]>();
  private failRules: FailRule[] = [];
  private holdRules: HoldRule[] = [];
  private routes: Route[] = [];

  private constructor(
    private readonly server: http.Server,
    port: number,
    opts: FakeDiscordOptions,
  ) {
    this.origin = `http://127.0.0.1:${port}`;
    this.restApi = `${this.origin}/api`;
    this.api = `${this.origin}/api/v10`;
    this.now = opts.now ?? Date.now;
    this.limits = { guildChannels: 500, categoryChannels: 50, pins: 250, ...opts.limits };
    if (opts.rateLimits) this.enforceRateLimits();
    this.roles.set(GUILD_ID, this.roleObject(GUILD_ID, '@everyone', EVERYONE_PERMISSIONS));
    this.addUser({ id: BOT_USER_ID, username: 'muster', bot: true });
    this.channels.set(GENERAL_CHANNEL_ID, this.newChannel(GENERAL_CHANNEL_ID, 0, 'general', null));
    this.msgs.set(GENERAL_CHANNEL_ID, []);
    this.defineRoutes();
  }

  static async start(opts: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    let fake: FakeDiscord | undefined;
    const server = http.createServer((req, res) => {
      if (!fake) return void res.writeHead(503).end();
      fake.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: String(e), code: 0 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new FakeDiscord(server, (server.address() as AddressInfo).port, opts);
    return fake;
  }

  async close(): Promise<void> {
    // held answers die with their sockets
    this.holdRules = [];
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------
  // Seeding
  // -------------------------------------------------------------------------

  private snowflake(): string {
    this.nextId += 1n;
    return String(this.nextId);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  addUser(u: { id: string; username: string; global_name?: string | null; bot?: boolean; acceptsDms?: boolean; member?: boolean; nick?: string; roles?: string[] }): void {
    this.users.set(u.id, { id: u.id, username: u.username, global_name: u.global_name ?? null, bot: u.bot ?? false, acceptsDms: u.acceptsDms ?? !u.bot });
    if (u.member !== false) this.members.set(u.id, { userId: u.id, nick: u.nick ?? null, roles: u.roles ?? [], joined_at: this.iso() });
  }

  addRole(id: string, name: string, permissions = 0n): void {
    this.roles.set(id, this.roleObject(id, name, permissions));
  }

  /** a message by someone else (not the bot), e.g. to pin, react to or read; no pings recorded */
  addMessage(channelId: string, m: { authorId: string; content: string }): APIMessage {
    const ch = this.requireChannel(channelId);
    const msg = this.storeMessage(ch, { content: m.content }, [], { authorId: m.authorId, record: false });
    return this.messageObject(msg);
  }

  addReaction(channelId: string, messageId: string, emoji: string, userId: string): void {
    const msg = this.requireMessage(channelId, messageId);
    const set = msg.reactions.get(emoji) ?? new Set<string>();
    set.add(userId);
    msg.reactions.set(emoji, set);
  }

  removeReaction(channelId: string, messageId: string, emoji: string, userId: string): void {
    this.requireMessage(channelId, messageId).reactions.get(emoji)?.delete(userId);
  }

  /**
   * A person pins a message (in the client): the pin and its CHANNEL_PINNED_MESSAGE system message (type 6, by them),
   * returned as the MESSAGE_CREATE the gateway would send (with guild_id); undefined if it was pinned already.
   */
  pinAs(channelId: string, messageId: string, userId: string): APIMessage | undefined {
    const sys = this.pinned(channelId, messageId, userId);
    if (!sys) return undefined;
    const member = this.members.get(userId);
    return { ...this.messageObject(sys), ...(member ? { member: (({ user: _u, ...m }) => m)(this.memberObject(member)) } : {}), mentions: [] } as unknown as APIMessage;
  }

  /** A person unpins a message (Discord then sends only CHANNEL_PINS_UPDATE, which names no message). */
  unpinAs(channelId: string, messageId: string): void {
    const ch = this.requireChannel(channelId);
    ch.pins = ch.pins.filter((p) => p.messageId !== messageId);
  }

  /**
   * The guild as GUILD_CREATE carries it to a bot (https://discord.com/developers/docs/events/gateway-events#guild-create):
   * the guild object with its roles and channels, plus joined_at, large, member_count and, without the privileged
   * GUILD_MEMBERS/GUILD_PRESENCES intents, only the bot among `members`.
   */
  guildCreate(): Record<string, unknown> {
    const channels = [...this.channels.values()]
      .filter((c) => c.guild_id === GUILD_ID)
      .map((c) => {
        const { guild_id: _g, ...rest } = this.channelObject(c) as unknown as Record<string, unknown>;
        return rest;
      });
    const bot = this.members.get(BOT_USER_ID);
    return {
      id: GUILD_ID,
      name: 'Muster test server',
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: BOT_USER_ID,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 1,
      explicit_content_filter: 0,
      roles: [...this.roles.values()],
      emojis: [],
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: GENERAL_CHANNEL_ID,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: 'en-US',
      public_updates_channel_id: null,
      nsfw_level: 0,
      stickers: [],
      premium_progress_bar_enabled: false,
      safety_alerts_channel_id: null,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      joined_at: bot?.joined_at ?? this.iso(),
      large: false,
      unavailable: false,
      member_count: this.members.size,
      voice_states: [],
      members: bot ? [this.memberObject(bot)] : [],
      channels,
      threads: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  private roleObject(id: string, name: string, permissions: bigint): APIRole {
    const position = this.roles.size;
    return {
      id,
      name,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position,
      permissions: String(permissions),
      managed: false,
      mentionable: false,
      flags: 0 as APIRole['flags'],
    };
  }

  private newChannel(id: string, type: 0 | 1 | 4, name: string | null, parentId: string | null): FakeChannel {
    return {
      id,
      type,
      name,
      topic: null,
      parent_id: parentId,
      ...(type !== 1 ? { guild_id: GUILD_ID } : {}),
      position: this.channels.size,
      permission_overwrites: [],
      last_message_id: null,
      renames: [],
      pins: [],
    };
  }

  // -------------------------------------------------------------------------
  // Faults, holds, rate limits
  // -------------------------------------------------------------------------

  /** The next call whose route ('POST /channels/:id/messages') equals `match`, or whose 'METHOD /path' contains it, fails once. */
  failNext(match: string, spec: FailSpec = {}): void {
    this.failRules.push({ match, ...spec });
  }

  clearFailures(): void {
    this.failRules = [];
  }

  /** Apply the next matching call as Discord would and withhold its answer until `release()` (or `drop()` the socket). */
  hold(match: string): HeldCall {
    let resolveArrived!: (call: FakeCall) => void;
    const arrived = new Promise<FakeCall>((resolve) => (resolveArrived = resolve));
    const rule: HoldRule = { match, state: 'waiting', onArrive: (c) => resolveArrived(c) };
    this.holdRules.push(rule);
    const decide = (how: 'release' | 'drop') => {
      if (rule.state === 'released' || rule.state === 'dropped') return;
      const finish = rule.finish;
      rule.state = how === 'release' ? 'released' : 'dropped';
      finish?.(how);
    };
    return { arrived, release: () => decide('release'), drop: () => decide('drop') };
  }

  /**
   * Enforce rate limits: per bucket (route + major parameter: channel, guild, webhook) a fixed window, and a global
   * limit across bot-token routes ("All bots can make up to 50 requests per second to our API ... Interaction endpoints
   * are not bound to the bot's Global Rate Limit": https://discord.com/developers/docs/topics/rate-limits#global-rate-limit).
   * Over it: 429 with `retry_after` and Retry-After (https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit);
   * X-RateLimit-Scope (user | global | shared) and X-RateLimit-Global come on 429s only
   * (https://discord.com/developers/docs/topics/rate-limits#header-format). Buckets are per route; the count is per
   * route and top-level resource ("channels (channel_id), guilds (guild_id), and webhooks (webhook_id or webhook_id +
   * webhook_token)", same page), so the X-RateLimit-Bucket hash is the same across channels.
   */
  enforceRateLimits(opts: RateLimitOptions = {}): void {
    this.rateLimitConfig = { perRoute: opts.perRoute ?? 5, windowMs: opts.windowMs ?? 5000, global: opts.global ?? 50 };
    this.windows.clear();
  }

  /** HTTP 429s the fake sent (enforced limits and the rename limit; not `failNext`) */
  rateLimited(): number {
    return this.rateLimitedCount;
  }

  /**
   * Answers Discord counts towards the Cloudflare ban: "10,000 invalid requests (401, 403, 429) per 10 minutes"; 429s
   * with X-RateLimit-Scope: shared do not count (https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans).
   * Injected faults are not counted.
   */
  invalidRequests(): number {
    return this.invalidCount;
  }

  private takeRule<T extends { match: string }>(rules: T[], key: string, methodPath: string): T | undefined {
    const idx = rules.findIndex((r) => r.match === key || methodPath.includes(r.match));
    return idx < 0 ? undefined : rules.splice(idx, 1)[0];
  }

  private bucketHash(route: Route): string {
    return createHash('sha1').update(`${route.method} ${route.template}`).digest('hex').slice(0, 32);
  }

  /** the major parameter of a route ("channel_id, guild_id, webhook_id"; https://discord.com/developers/docs/topics/rate-limits) */
  private major(route: Route, params: string[]): string {
    if (/^\/(channels|guilds)\//.test(route.template)) return params[0] ?? '';
    if (/^\/(webhooks|interactions)\//.test(route.template)) return `${params[0]}/${params[1]}`;
    return '';
  }

  /** count the request in its bucket (and the global window) or answer 429; returns the headers to send */
  private rateLimit(route: Route, params: string[]): Record<string, string> {
    const cfg = this.rateLimitConfig;
    const wall = Date.now();
    const windowMs = cfg?.windowMs ?? 5000;
    const limit = cfg?.perRoute ?? 10_000;
    const hash = this.bucketHash(route);
    const key = `${hash}:${this.major(route, params)}`;
    let w = this.windows.get(key);
    if (!w || w.resetAt <= wall) {
      w = { count: 0, resetAt: wall + windowMs };
      this.windows.set(key, w);
    }
    const headers = (remaining: number): Record<string, string> => ({
      'X-RateLimit-Limit': String(limit),
      'X-RateLimit-Remaining': String(Math.max(0, remaining)),
      'X-RateLimit-Reset': (w.resetAt / 1000).toFixed(3),
      'X-RateLimit-Reset-After': ((w.resetAt - wall) / 1000).toFixed(3),
      'X-RateLimit-Bucket': hash,
    });
    if (cfg && route.auth) {
      if (this.globalWindow.resetAt <= wall) this.globalWindow = { count: 0, resetAt: wall + 1000 };
      if (this.globalWindow.count >= cfg.global) {
        this.rateLimitedCount++;
        const after = (this.globalWindow.resetAt - wall) / 1000;
        throw new Fail({
          status: 429,
          body: { message: 'You are being rate limited.', retry_after: after, global: true },
          headers: { ...headers(limit - w.count), 'Retry-After': String(Math.ceil(after)), 'X-RateLimit-Global': 'true', 'X-RateLimit-Scope': 'global' },
        });
      }
    }
    if (cfg && w.count >= limit) {
      this.rateLimitedCount++;
      const after = (w.resetAt - wall) / 1000;
      throw new Fail({
        status: 429,
        body: { message: 'You are being rate limited.', retry_after: after, global: false },
        headers: { ...headers(0), 'Retry-After': String(Math.ceil(after)), 'X-RateLimit-Scope': 'user' },
      });
    }
    w.count++;
    if (cfg && route.auth) this.globalWindow.count++;
    return headers(limit - w.count);
  }

  // -------------------------------------------------------------------------
  // HTTP plumbing
  // -------------------------------------------------------------------------

  private route(method: string, template: string, handle: (ctx: Ctx) => Reply, opts: { auth?: boolean; deprecated?: boolean } = {}): void {
    this.routes.push({ method, template, segments: template.split('/').slice(1), auth: opts.auth ?? true, deprecated: opts.deprecated, handle });
  }

  private match(method: string, path: string): { route: Route; params: string[] } | 'method' | undefined {
    const parts = path
      .split('/')
      .slice(1)
      .map((p) => decodeURIComponent(p));
    let pathMatched = false;
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: string[] = [];
      if (!route.segments.every((s, i) => (s.startsWith(':') ? (params.push(parts[i] ?? ''), true) : s === parts[i]))) continue;
      if (route.method !== method) {
        pathMatched = true;
        continue;
      }
      return { route, params };
    }
    return pathMatched ? 'method' : undefined;
  }

  private async readBody(req: http.IncomingMessage): Promise<{ body: Body; files: UploadedFile[] }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const type = req.headers['content-type'] ?? '';
    if (raw.length === 0) return { body: {}, files: [] };
    if (type.startsWith('multipart/form-data')) {
      // https://discord.com/developers/docs/reference#uploading-files: payload_json plus files[n]
      const form = await new Response(raw, { headers: { 'content-type': type } }).formData();
      let body: Body = {};
      const files: UploadedFile[] = [];
      for (const [field, value] of form.entries()) {
        if (typeof value === 'string') {
          if (field === 'payload_json') body = this.parseJson(value);
          else body[field] = value;
        } else {
          files.push({ field, name: value.name, type: value.type, content: Buffer.from(await value.arrayBuffer()) });
        }
      }
      return { body, files };
    }
    return { body: this.parseJson(raw.toString('utf8')), files: [] };
  }

  private parseJson(text: string): Body {
    try {
      const v: unknown = JSON.parse(text);
      return (typeof v === 'object' && v !== null ? v : {}) as Body;
    } catch {
      throw E.invalidJson();
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', this.origin);
    const rel = url.pathname.startsWith('/api/v10/') ? url.pathname.slice('/api/v10'.length) : null;
    const call: FakeCall = { method, path: `${rel ?? url.pathname}${url.search}`, route: `${method} ${url.pathname}`, body: undefined, status: 0, response: undefined, applied: false, at: this.now() };
    let reply: Reply;
    let headers: Record<string, string> = {};
    let rule: FailRule | undefined;
    let hold: HoldRule | undefined;
    try {
      const m = rel === null ? undefined : this.match(method, rel);
      if (m === 'method') throw err(405, 0, '405: Method Not Allowed');
      if (!m || rel === null) throw E.notFound();
      const { route, params } = m;
      call.route = `${method} ${route.template}`;
      if (route.deprecated) this.deprecatedCalls.push(call);
      // https://discord.com/developers/docs/reference#authentication: "Authorization: Bot MTk4NjIy..."
      if (route.auth && !/^Bot \S+/.test(req.headers.authorization ?? '')) throw E.unauthorized();
      if (route.auth && this.botToken !== undefined && req.headers.authorization !== `Bot ${this.botToken}`) throw E.unauthorized();
      const { body, files } = await this.readBody(req);
      call.body = files.length ? { ...body, files: files.map((f) => ({ field: f.field, name: f.name, size: f.content.length })) } : body;
      headers = this.rateLimit(route, params);
      const methodPath = `${method} ${rel}`;
      rule = this.takeRule(this.failRules, call.route, methodPath);
      if (rule && !rule.afterApplying) {
        call.fault = 'before';
        throw this.injected(rule);
      }
      hold = this.takeRule(this.holdRules, call.route, methodPath);
      reply = route.handle({ params, query: url.searchParams, body, files });
      call.applied = reply.status < 400;
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      reply = e.reply;
    }
    if (reply.status === 429) headers = { ...headers, ...reply.headers };
    if (rule?.afterApplying) {
      call.fault = 'after';
      if (rule.drop) {
        call.delivery = 'dropped';
        this.record(call, reply);
        res.socket?.destroy();
        return;
      }
      reply = this.injected(rule).reply;
    }
    const answer = () => {
      const json = reply.body === undefined ? undefined : JSON.stringify(reply.body);
      res.writeHead(reply.status, { ...headers, ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}) });
      res.end(json);
    };
    this.record(call, reply);
    if (!hold) return answer();
    const rule2 = hold;
    call.delivery = 'held';
    rule2.finish = (how) => {
      if (how === 'release') {
        call.delivery = 'released';
        answer();
      } else {
        call.delivery = 'dropped';
        res.socket?.destroy();
      }
    };
    const decided = rule2.state;
    rule2.state = 'held';
    rule2.onArrive(call);
    if (decided === 'released' || decided === 'dropped') {
      rule2.state = decided;
      rule2.finish(decided === 'released' ? 'release' : 'drop');
    }
  }

  private injected(rule: FailRule): Fail {
    const status = rule.status ?? 500;
    // a 429 says how long to wait twice: retry_after (seconds, with decimals) in the body and Retry-After (whole
    // seconds, rounded up as the enforced limits do) in the header, with its scope
    // (https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit, #header-format)
    if (status === 429) {
      const after = rule.retryAfterSec ?? 0.05;
      return new Fail({
        status,
        body: { message: 'You are being rate limited.', retry_after: after, global: false },
        headers: { 'Retry-After': String(Math.ceil(after)), 'X-RateLimit-Scope': 'user' },
      });
    }
    return err(status, rule.code ?? 0, rule.code ? 'Injected failure' : `${status}: Injected failure`);
  }

  private record(call: FakeCall, reply: Reply): void {
    const shared = reply.headers?.['X-RateLimit-Scope'] === 'shared';
    if (call.fault === undefined && [401, 403, 429].includes(reply.status) && !shared) this.invalidCount++;
    call.status = reply.status;
    call.response = reply.body;
    this.calls.push(call);
  }

  // -------------------------------------------------------------------------
  // Lookups
  // -------------------------------------------------------------------------

  private requireGuild(id: string): void {
    if (id !== GUILD_ID) throw E.unknownGuild();
  }

  private requireChannel(id: string): FakeChannel {
    const ch = this.channels.get(id);
    if (!ch) throw E.unknownChannel();
    return ch;
  }

  private requireMessage(channelId: string, id: string): FakeMessage {
    const msg = this.msgs.get(channelId)?.find((m) => m.id === id);
    if (!msg) throw E.unknownMessage();
    return msg;
  }

  private userObject(id: string): APIUser {
    const u = this.users.get(id);
    if (!u) return { id, username: 'unknown', discriminator: '0', global_name: null, avatar: null };
    return { id: u.id, username: u.username, discriminator: '0', global_name: u.global_name, avatar: null, ...(u.bot ? { bot: true } : {}) };
  }

  private memberObject(m: FakeMember): APIGuildMember {
    return { user: this.userObject(m.userId), nick: m.nick, roles: m.roles, joined_at: m.joined_at, deaf: false, mute: false, flags: 0 as APIGuildMember['flags'], avatar: null, banner: null };
  }

  private channelObject(ch: FakeChannel): APIChannel {
    if (ch.type === 1) return { id: ch.id, type: 1, last_message_id: ch.last_message_id, recipients: [this.userObject(ch.recipient ?? '')], flags: 0 } as unknown as APIChannel;
    const base = {
      id: ch.id,
      type: ch.type,
      guild_id: GUILD_ID,
      name: ch.name,
      position: ch.position,
      parent_id: ch.parent_id,
      permission_overwrites: ch.permission_overwrites.map((o) => ({ ...o })),
      flags: 0,
    };
    if (ch.type === 4) return base as unknown as APIChannel;
    return { ...base, topic: ch.topic, nsfw: false, last_message_id: ch.last_message_id, rate_limit_per_user: 0 } as unknown as APIChannel;
  }

  private messageObject(m: FakeMessage): APIMessage {
    const ch = this.channels.get(m.channel_id);
    return {
      id: m.id,
      channel_id: m.channel_id,
      type: m.type,
      author: this.userObject(m.author_id),
      content: m.content,
      timestamp: m.timestamp,
      edited_timestamp: m.edited_timestamp,
      tts: false,
      mention_everyone: m.mention_everyone,
      mentions: m.mentions.map((id) => this.userObject(id)),
      mention_roles: m.mention_roles,
      attachments: m.attachments.map(({ content: _c, ...a }) => ({ ...a, proxy_url: a.url })),
      embeds: m.embeds,
      components: m.components,
      pinned: ch?.pins.some((p) => p.messageId === m.id) ?? false,
      flags: m.flags,
      reactions: [...m.reactions]
        .filter(([, s]) => s.size > 0)
        .map(([emoji, s]) => {
          const custom = /^(?:a:)?([^:]+):(\d+)$/.exec(emoji);
          return {
            count: s.size,
            count_details: { burst: 0, normal: s.size },
            me: s.has(BOT_USER_ID),
            me_burst: false,
            burst_colors: [],
            emoji: custom ? { id: custom[2] ?? null, name: custom[1] ?? null } : { id: null, name: emoji },
          };
        }),
      ...(m.nonce !== undefined ? { nonce: m.nonce } : {}),
      ...(m.message_reference ? { message_reference: m.message_reference } : {}),
      ...(m.webhook_id ? { webhook_id: m.webhook_id, application_id: APPLICATION_ID } : {}),
      ...(m.interaction ? { interaction_metadata: { id: m.interaction.id, type: m.interaction.type, user: this.userObject(m.interaction.user_id), authorizing_integration_owners: {} } } : {}),
      ...(ch?.guild_id ? { guild_id: ch.guild_id } : {}),
    } as unknown as APIMessage;
  }

  /**
   * A message as a REST read returns it to the bot: without the MESSAGE_CONTENT intent (`messageContentIntent` false),
   * "empty values in fields that contain user-inputted content" (content, embeds, attachments, components) except in
   * messages the app sent, DMs with the app and content in which the app is mentioned
   * (https://discord.com/developers/docs/events/gateway#message-content-intent).
   */
  private readable(m: FakeMessage): APIMessage {
    const o = this.messageObject(m);
    const ch = this.channels.get(m.channel_id);
    if (this.messageContentIntent || m.author_id === BOT_USER_ID || ch?.type === 1 || m.mentions.includes(BOT_USER_ID)) return o;
    return { ...o, content: '', embeds: [], attachments: [], components: [] };
  }

  // -------------------------------------------------------------------------
  // Messages: validation, mentions, storage
  // -------------------------------------------------------------------------

  /**
   * Limits from https://discord.com/developers/docs/resources/message#create-message (content 2000, 10 embeds),
   * https://discord.com/developers/docs/resources/message#embed-object-embed-limits (title 256, description 4096,
   * 25 fields, field name 256 / value 1024, footer 2048, author 256, 6000 in all) and
   * https://discord.com/developers/docs/components/reference (5 action rows, 5 buttons per row, label 80,
   * custom_id 100 and unique per message; link buttons have a url and no custom_id).
   */
  private validateMessage(body: Body, errs: FormErrors): void {
    errs.maxLength(['content'], body.content, 2000);
    // "nonce: integer or string ... (up to 25 characters)" (https://discord.com/developers/docs/resources/message#create-message)
    errs.maxLength(['nonce'], body.nonce, 25);
    if (Array.isArray(body.embeds)) {
      errs.maxLength(['embeds'], body.embeds, 10);
      let total = 0;
      const len = (v: unknown) => (typeof v === 'string' ? [...v].length : 0);
      body.embeds.forEach((e: Body, i: number) => {
        errs.maxLength(['embeds', i, 'title'], e?.title, 256);
        errs.maxLength(['embeds', i, 'description'], e?.description, 4096);
        errs.maxLength(['embeds', i, 'footer', 'text'], e?.footer?.text, 2048);
        errs.maxLength(['embeds', i, 'author', 'name'], e?.author?.name, 256);
        total += len(e?.title) + len(e?.description) + len(e?.footer?.text) + len(e?.author?.name);
        if (Array.isArray(e?.fields)) {
          errs.maxLength(['embeds', i, 'fields'], e.fields, 25);
          e.fields.forEach((f: Body, j: number) => {
            errs.maxLength(['embeds', i, 'fields', j, 'name'], f?.name, 256);
            errs.maxLength(['embeds', i, 'fields', j, 'value'], f?.value, 1024);
            total += len(f?.name) + len(f?.value);
          });
        }
      });
      if (total > 6000) errs.add(['embeds'], 'MAX_EMBED_SIZE_EXCEEDED', 'Embed size exceeds maximum size of 6000');
    }
    if (Array.isArray(body.components)) {
      errs.maxLength(['components'], body.components, 5);
      const seen = new Set<string>();
      body.components.forEach((row: Body, i: number) => {
        if (row?.type !== 1) return errs.add(['components', i, 'type'], 'UNION_TYPE_CHOICES', 'Value of field "type" must be one of (1,).');
        if (!Array.isArray(row.components) || row.components.length === 0) return errs.add(['components', i, 'components'], 'BASE_TYPE_MIN_LENGTH', 'Must be 1 or more in length.');
        errs.maxLength(['components', i, 'components'], row.components, 5);
        row.components.forEach((c: Body, j: number) => {
          const p = ['components', i, 'components', j];
          errs.maxLength([...p, 'custom_id'], c?.custom_id, 100);
          if (typeof c?.custom_id === 'string') {
            if (seen.has(c.custom_id)) errs.add([...p, 'custom_id'], 'COMPONENT_CUSTOM_ID_DUPLICATED', 'Component custom id cannot be duplicated');
            seen.add(c.custom_id);
          }
          if (c?.type !== 2) {
            // select menus fill their row alone
            if (row.components.length > 1) errs.add([...p], 'COMPONENT_LAYOUT_WIDTH_EXCEEDED', 'The specified component exceeds the maximum width');
            if (typeof c?.custom_id !== 'string') errs.add([...p, 'custom_id'], 'BASE_TYPE_REQUIRED', 'This field is required');
            return;
          }
          errs.maxLength([...p, 'label'], c.label, 80);
          if (c.label === undefined && c.emoji === undefined) errs.add([...p, 'label'], 'BASE_TYPE_REQUIRED', 'This field is required');
          if (c.style === 5) {
            if (typeof c.url !== 'string') errs.add([...p, 'url'], 'BUTTON_COMPONENT_URL_REQUIRED', 'A url is required');
            if (c.custom_id !== undefined) errs.add([...p, 'custom_id'], 'BUTTON_COMPONENT_INVALID_URL_CUSTOM_ID', 'A custom id is not allowed on link buttons');
          } else if ([1, 2, 3, 4].includes(c.style)) {
            if (typeof c.custom_id !== 'string') errs.add([...p, 'custom_id'], 'BUTTON_COMPONENT_CUSTOM_ID_REQUIRED', 'A custom id is required');
            if (c.url !== undefined) errs.add([...p, 'url'], 'BUTTON_COMPONENT_URL_NOT_ALLOWED', 'A url is not allowed on this button style');
          } else errs.add([...p, 'style'], 'BASE_TYPE_CHOICES', 'Value must be one of {1, 2, 3, 4, 5}.');
        });
      });
    }
    const am = body.allowed_mentions;
    if (am !== undefined && am !== null) {
      const parse: unknown[] = Array.isArray(am.parse) ? am.parse : [];
      parse.forEach((v, i) => {
        if (!['users', 'roles', 'everyone'].includes(v as string)) errs.add(['allowed_mentions', 'parse', i], 'BASE_TYPE_CHOICES', 'Value must be one of (roles, users, everyone).');
      });
      // https://discord.com/developers/docs/resources/message#allowed-mentions-object: parse and the arrays are mutually exclusive
      if (parse.includes('users') && Array.isArray(am.users) && am.users.length)
        errs.add(['allowed_mentions'], 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', 'parse:["users"] and users: [ids] are mutually exclusive.');
      if (parse.includes('roles') && Array.isArray(am.roles) && am.roles.length)
        errs.add(['allowed_mentions'], 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', 'parse:["roles"] and roles: [ids] are mutually exclusive.');
      errs.maxLength(['allowed_mentions', 'users'], am.users, 100);
      errs.maxLength(['allowed_mentions', 'roles'], am.roles, 100);
    }
  }

  /**
   * Who a message pings. Without `allowed_mentions` Discord parses every `<@id>`, `<@!id>`, `<@&id>`, @everyone and
   * @here in the content; with it, only the kinds in `parse` plus the ids in `users`/`roles`
   * (https://discord.com/developers/docs/resources/message#allowed-mentions-object). An edit without
   * `allowed_mentions` parses everything again.
   */
  private computeMentions(content: string, am: Body | undefined, inGuild: boolean): { users: string[]; roles: string[]; everyone: 'everyone' | 'here' | null } {
    const uniq = (xs: string[]) => [...new Set(xs)];
    const userIds = uniq([...content.matchAll(/<@!?(\d{1,20})>/g)].map((m) => m[1] ?? '')).filter((id) => this.users.has(id));
    const roleIds = inGuild ? uniq([...content.matchAll(/<@&(\d{1,20})>/g)].map((m) => m[1] ?? '')).filter((id) => this.roles.has(id)) : [];
    const ev = inGuild ? /@(everyone|here)/.exec(content) : null;
    const everyone = ev ? (ev[1] as 'everyone' | 'here') : null;
    if (am === undefined || am === null) return { users: userIds, roles: roleIds, everyone };
    const parse: unknown[] = Array.isArray(am.parse) ? am.parse : [];
    const listed = (xs: unknown) => (Array.isArray(xs) ? xs.map(String) : []);
    return {
      users: userIds.filter((id) => parse.includes('users') || listed(am.users).includes(id)),
      roles: roleIds.filter((id) => parse.includes('roles') || listed(am.roles).includes(id)),
      everyone: parse.includes('everyone') ? everyone : null,
    };
  }

  private applyMentions(msg: FakeMessage, am: Body | undefined, via: 'create' | 'edit', record: boolean): void {
    const ch = this.channels.get(msg.channel_id);
    const m = this.computeMentions(msg.content, am, ch?.type !== 1);
    msg.mentions = m.users;
    msg.mention_roles = m.roles;
    msg.mention_everyone = m.everyone !== null;
    if (!record || msg.ephemeral) return;
    for (const id of m.users) this.pings.push({ channel: msg.channel_id, message: msg.id, kind: 'user', id, via });
    for (const id of m.roles) this.pings.push({ channel: msg.channel_id, message: msg.id, kind: 'role', id, via });
    if (m.everyone) this.pings.push({ channel: msg.channel_id, message: msg.id, kind: 'everyone', id: m.everyone, via });
  }

  private storeMessage(
    ch: FakeChannel,
    body: Body,
    files: UploadedFile[],
    opts: { authorId: string; record?: boolean; ephemeral?: boolean; type?: number; webhook?: InteractionRecord; flags?: number },
  ): FakeMessage {
    const id = this.snowflake();
    const described: Body[] = Array.isArray(body.attachments) ? body.attachments : [];
    const attachments = files.map((f, i): FakeAttachment => {
      const n = /^files\[(\d+)\]$/.exec(f.field)?.[1];
      const meta = described.find((a) => String(a?.id) === (n ?? String(i)));
      const att: FakeAttachment = { id: this.snowflake(), filename: meta?.filename ?? f.name, size: f.content.length, content: f.content, url: '', content_type: f.type || undefined };
      // "description: description for the file (max 1024 characters)", kept on the attachment object
      // (https://discord.com/developers/docs/resources/message#attachment-object-attachment-structure)
      if (typeof meta?.description === 'string') att.description = meta.description;
      att.url = `${this.origin}/attachments/${ch.id}/${att.id}/${encodeURIComponent(att.filename)}`;
      this.attachmentsById.set(att.id, att);
      return att;
    });
    const msg: FakeMessage = {
      id,
      channel_id: ch.id,
      type: opts.type ?? 0,
      author_id: opts.authorId,
      content: typeof body.content === 'string' ? body.content : '',
      embeds: Array.isArray(body.embeds) ? body.embeds : [],
      components: Array.isArray(body.components) ? body.components : [],
      attachments,
      flags: (opts.flags ?? (typeof body.flags === 'number' ? body.flags : 0)) | (opts.ephemeral ? MESSAGE_FLAG_EPHEMERAL : 0),
      timestamp: this.iso(),
      edited_timestamp: null,
      mentions: [],
      mention_roles: [],
      mention_everyone: false,
      reactions: new Map(),
      ephemeral: opts.ephemeral ?? false,
      ...(body.nonce !== undefined ? { nonce: body.nonce } : {}),
      ...(body.allowed_mentions ? { allowed_mentions: body.allowed_mentions } : {}),
      ...(body.message_reference?.message_id
        ? { message_reference: { message_id: String(body.message_reference.message_id), channel_id: ch.id, ...(ch.guild_id ? { guild_id: ch.guild_id } : {}) } }
        : {}),
      ...(opts.webhook ? { webhook_id: APPLICATION_ID, interaction: { id: opts.webhook.id, type: opts.webhook.type, user_id: opts.webhook.userId } } : {}),
    };
    this.applyMentions(msg, body.allowed_mentions, 'create', opts.record ?? true);
    if (msg.ephemeral) this.ephemerals.set(id, msg);
    else {
      this.msgs.get(ch.id)?.push(msg);
      ch.last_message_id = id;
    }
    return msg;
  }

  /** the message-create rules shared by POST /channels/{c}/messages, webhooks and interaction responses */
  private checkNewMessage(ch: FakeChannel, body: Body, files: UploadedFile[]): void {
    const errs = new FormErrors();
    this.validateMessage(body, errs);
    errs.throwIfAny();
    const empty = !body.content && !(Array.isArray(body.embeds) && body.embeds.length) && !(Array.isArray(body.components) && body.components.length) && files.length === 0;
    if (empty) throw E.emptyMessage();
    if (ch.type === 1) {
      const u = this.users.get(ch.recipient ?? '');
      if (!u || !u.acceptsDms || u.bot) throw E.cannotDm();
    }
  }

  private createMessage(channelId: string, body: Body, files: UploadedFile[]): Reply {
    const ch = this.requireChannel(channelId);
    if (ch.type === 4) throw err(400, 50008, 'Cannot send messages in a non-text channel');
    // "If operating on a guild channel, this endpoint requires the SEND_MESSAGES permission to be present on the
    // current user" (https://discord.com/developers/docs/resources/message#create-message); without VIEW_CHANNEL the
    // channel is out of reach altogether (50001).
    if (ch.type === 0) {
      const perms = this.botPermissionsIn(ch);
      if ((perms & VIEW_CHANNEL) === 0n) throw E.missingAccess();
      if ((perms & PermissionFlagsBits.SendMessages) === 0n) throw E.missingPermissions();
    }
    this.checkNewMessage(ch, body, files);
    // enforce_nonce: https://discord.com/developers/docs/resources/message#create-message
    const nonceKey = body.enforce_nonce === true && body.nonce !== undefined ? `${ch.id}|${BOT_USER_ID}|${String(body.nonce)}` : undefined;
    if (nonceKey) {
      const prior = this.nonces.get(nonceKey);
      const msg = prior && this.now() - prior.at < NONCE_WINDOW_MS ? this.msgs.get(ch.id)?.find((m) => m.id === prior.messageId) : undefined;
      if (msg) return ok(this.messageObject(msg));
    }
    const msg = this.storeMessage(ch, body, files, { authorId: BOT_USER_ID });
    if (nonceKey) this.nonces.set(nonceKey, { messageId: msg.id, at: this.now() });
    return ok(this.messageObject(msg));
  }

  /** PATCH semantics shared by /channels/{c}/messages/{m} and webhook message edits */
  private editMessage(msg: FakeMessage, body: Body): FakeMessage {
    const errs = new FormErrors();
    this.validateMessage(body, errs);
    errs.throwIfAny();
    const next = {
      content: body.content !== undefined ? (typeof body.content === 'string' ? body.content : '') : msg.content,
      embeds: body.embeds !== undefined ? (Array.isArray(body.embeds) ? body.embeds : []) : msg.embeds,
      components: body.components !== undefined ? (Array.isArray(body.components) ? body.components : []) : msg.components,
    };
    if (!next.content && !next.embeds.length && !next.components.length && !msg.attachments.length) throw E.emptyMessage();
    Object.assign(msg, next);
    if (typeof body.flags === 'number') msg.flags = (msg.flags & (MESSAGE_FLAG_EPHEMERAL | MESSAGE_FLAG_LOADING)) | body.flags;
    msg.flags &= ~MESSAGE_FLAG_LOADING;
    msg.edited_timestamp = this.iso();
    if (body.allowed_mentions) msg.allowed_mentions = body.allowed_mentions;
    this.applyMentions(msg, body.allowed_mentions ?? undefined, 'edit', true);
    return msg;
  }

  private deleteMessage(msg: FakeMessage): void {
    if (msg.ephemeral) return void this.ephemerals.delete(msg.id);
    const list = this.msgs.get(msg.channel_id);
    if (list) list.splice(list.indexOf(msg), 1);
    const ch = this.channels.get(msg.channel_id);
    if (ch) ch.pins = ch.pins.filter((p) => p.messageId !== msg.id);
  }

  // -------------------------------------------------------------------------
  // Routes
  // -------------------------------------------------------------------------

  private defineRoutes(): void {
    // Gateway: https://discord.com/developers/docs/events/gateway#get-gateway and #get-gateway-bot
    this.route(
      'GET',
      '/gateway',
      () => {
        if (!this.gatewayUrl) throw err(404, 0, 'FakeDiscord: no gateway stand-in (set gatewayUrl)');
        return ok({ url: this.gatewayUrl });
      },
      { auth: false },
    );
    this.route('GET', '/gateway/bot', () => {
      if (!this.gatewayUrl) throw err(404, 0, 'FakeDiscord: no gateway stand-in (set gatewayUrl)');
      // one shard is plenty for one guild; max_concurrency 1 is what bots outside "large bot sharding" get
      return ok({ url: this.gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 } });
    });
    // Users and members: https://discord.com/developers/docs/resources/user, .../resources/guild
    this.route('GET', '/users/@me', () => ok(this.userObject(BOT_USER_ID)));
    this.route('POST', '/users/@me/channels', ({ body }) => this.openDm(String(body.recipient_id ?? '')));
    this.route('GET', '/users/:id', ({ params: [id] }) => {
      if (!this.users.has(id ?? '')) throw E.unknownUser();
      return ok(this.userObject(id ?? ''));
    });
    // "This endpoint is restricted according to whether the GUILD_MEMBERS Privileged Intent is enabled for your
    // application" (https://discord.com/developers/docs/resources/guild#list-guild-members): 403 Missing Access without
    // it (`membersIntent = false`). Members in ascending user id order, `limit` 1–1000 (default 1), after a user id.
    this.route('GET', '/guilds/:id/members', ({ params: [g], query }) => {
      this.requireGuild(g ?? '');
      if (!this.membersIntent) throw err(403, 50001, 'Missing Access');
      const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 1) || 1));
      const after = BigInt(query.get('after') ?? '0');
      const list = [...this.members.values()].filter((m) => BigInt(m.userId) > after).sort((a, b) => (BigInt(a.userId) < BigInt(b.userId) ? -1 : 1));
      return ok(list.slice(0, limit).map((m) => this.memberObject(m)));
    });
    this.route('GET', '/guilds/:id/members/search', ({ params: [g], query }) => {
      this.requireGuild(g ?? '');
      const q = query.get('query');
      if (q === null) throw err(400, 50035, 'Invalid Form Body', { query: { _errors: [{ code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }] } });
      const limit = Math.min(1000, Math.max(1, Number(query.get('limit') ?? 1) || 1));
      const needle = q.toLowerCase();
      const found = [...this.members.values()].filter((m) => {
        const u = this.users.get(m.userId);
        return u?.username.toLowerCase().startsWith(needle) || m.nick?.toLowerCase().startsWith(needle);
      });
      return ok(found.slice(0, limit).map((m) => this.memberObject(m)));
    });
    this.route('GET', '/guilds/:id/members/:id', ({ params: [g, u] }) => {
      this.requireGuild(g ?? '');
      const m = this.members.get(u ?? '');
      if (!m) throw E.unknownMember();
      return ok(this.memberObject(m));
    });
    this.route('GET', '/guilds/:id/roles', ({ params: [g] }) => {
      this.requireGuild(g ?? '');
      return ok([...this.roles.values()]);
    });

    // Channels: https://discord.com/developers/docs/resources/guild#create-guild-channel, .../resources/channel
    this.route('GET', '/guilds/:id/channels', ({ params: [g] }) => {
      this.requireGuild(g ?? '');
      return ok([...this.channels.values()].filter((c) => c.type !== 1).map((c) => this.channelObject(c)));
    });
    this.route('POST', '/guilds/:id/channels', ({ params: [g], body }) => {
      this.requireGuild(g ?? '');
      return this.createChannel(body);
    });
    this.route('GET', '/channels/:id', ({ params: [c] }) => ok(this.channelObject(this.requireChannel(c ?? ''))));
    this.route('PATCH', '/channels/:id', ({ params: [c], body }) => this.modifyChannel(c ?? '', body));
    this.route('DELETE', '/channels/:id', ({ params: [c] }) => {
      const ch = this.requireChannel(c ?? '');
      if (ch.type === 1) throw E.missingAccess();
      this.channels.delete(ch.id);
      this.msgs.delete(ch.id);
      // deleting a category leaves its channels without a parent
      for (const child of this.channels.values()) if (child.parent_id === ch.id) child.parent_id = null;
      return ok(this.channelObject(ch));
    });
    // https://discord.com/developers/docs/resources/channel#edit-channel-permissions
    this.route('PUT', '/channels/:id/permissions/:id', ({ params: [c, id], body }) => {
      const ch = this.requireChannel(c ?? '');
      const errs = new FormErrors();
      const ow = this.overwrite({ ...body, id }, ['permission_overwrites'], errs);
      errs.throwIfAny();
      if (ow) ch.permission_overwrites = [...ch.permission_overwrites.filter((o) => o.id !== id), ow];
      return ok();
    });
    this.route('DELETE', '/channels/:id/permissions/:id', ({ params: [c, id] }) => {
      const ch = this.requireChannel(c ?? '');
      ch.permission_overwrites = ch.permission_overwrites.filter((o) => o.id !== id);
      return ok();
    });

    // Pins: https://discord.com/developers/docs/resources/message#pin-message (current) and the deprecated
    // https://discord.com/developers/docs/resources/message#pin-message-deprecated routes
    const pin = ({ params: [c, m] }: Ctx) => this.pin(c ?? '', m ?? '');
    const unpin = ({ params: [c, m] }: Ctx) => {
      const ch = this.requireChannel(c ?? '');
      this.requireMessage(ch.id, m ?? '');
      ch.pins = ch.pins.filter((p) => p.messageId !== m);
      return ok();
    };
    this.route('GET', '/channels/:id/messages/pins', ({ params: [c], query }) => {
      const ch = this.requireChannel(c ?? '');
      const limit = Math.min(50, Math.max(1, Number(query.get('limit') ?? 50) || 50));
      const before = query.get('before');
      const items = [...ch.pins].reverse().filter((p) => !before || p.pinnedAt < before);
      const page = items.slice(0, limit).map((p) => ({ pinned_at: p.pinnedAt, message: this.readable(this.requireMessage(ch.id, p.messageId)) }));
      return ok({ items: page, has_more: items.length > limit });
    });
    this.route('PUT', '/channels/:id/messages/pins/:id', pin);
    this.route('DELETE', '/channels/:id/messages/pins/:id', unpin);
    this.route(
      'GET',
      '/channels/:id/pins',
      ({ params: [c] }) => {
        const ch = this.requireChannel(c ?? '');
        return ok([...ch.pins].reverse().map((p) => this.readable(this.requireMessage(ch.id, p.messageId))));
      },
      { deprecated: true },
    );
    this.route('PUT', '/channels/:id/pins/:id', pin, { deprecated: true });
    this.route('DELETE', '/channels/:id/pins/:id', unpin, { deprecated: true });

    // Messages: https://discord.com/developers/docs/resources/message
    this.route('POST', '/channels/:id/messages', ({ params: [c], body, files }) => this.createMessage(c ?? '', body, files));
    this.route('GET', '/channels/:id/messages', ({ params: [c], query }) => {
      const ch = this.requireChannel(c ?? '');
      const limit = Number(query.get('limit') ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        throw err(400, 50035, 'Invalid Form Body', { limit: { _errors: [{ code: 'NUMBER_TYPE_MAX', message: 'int value should be less than or equal to 100.' }] } });
      const all = this.msgs.get(ch.id) ?? [];
      const before = query.get('before');
      const after = query.get('after');
      let page: FakeMessage[];
      if (after) page = all.filter((m) => BigInt(m.id) > BigInt(after)).slice(0, limit);
      else page = all.filter((m) => !before || BigInt(m.id) < BigInt(before)).slice(-limit);
      return ok(page.reverse().map((m) => this.readable(m)));
    });
    this.route('GET', '/channels/:id/messages/:id', ({ params: [c, m] }) => ok(this.readable(this.requireMessage(this.requireChannel(c ?? '').id, m ?? ''))));
    this.route('PATCH', '/channels/:id/messages/:id', ({ params: [c, m], body }) => {
      const msg = this.requireMessage(this.requireChannel(c ?? '').id, m ?? '');
      if (msg.author_id !== BOT_USER_ID) throw err(403, 50005, 'Cannot edit a message authored by another user');
      return ok(this.messageObject(this.editMessage(msg, body)));
    });
    this.route('DELETE', '/channels/:id/messages/:id', ({ params: [c, m] }) => {
      this.deleteMessage(this.requireMessage(this.requireChannel(c ?? '').id, m ?? ''));
      return ok();
    });
    // https://discord.com/developers/docs/resources/message#create-reaction
    this.route('PUT', '/channels/:id/messages/:id/reactions/:emoji/@me', ({ params: [c, m, emoji] }) => {
      this.requireChannel(c ?? '');
      this.addReaction(c ?? '', m ?? '', emoji ?? '', BOT_USER_ID);
      return ok();
    });
    this.route('DELETE', '/channels/:id/messages/:id/reactions/:emoji/@me', ({ params: [c, m, emoji] }) => {
      this.requireChannel(c ?? '');
      this.requireMessage(c ?? '', m ?? '')
        .reactions.get(emoji ?? '')
        ?.delete(BOT_USER_ID);
      return ok();
    });

    // Interactions and their webhooks (no bot token):
    // https://discord.com/developers/docs/interactions/receiving-and-responding
    this.route('POST', '/interactions/:id/:token/callback', (ctx) => this.callback(ctx), { auth: false });
    this.route('POST', '/webhooks/:id/:token', (ctx) => this.followUp(ctx), { auth: false });
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      this.route(method, '/webhooks/:id/:token/messages/@original', (ctx) => this.webhookMessage(method, ctx, '@original'), { auth: false });
      this.route(method, '/webhooks/:id/:token/messages/:id', (ctx) => this.webhookMessage(method, ctx, ctx.params[2] ?? ''), { auth: false });
    }

    // Application commands: https://discord.com/developers/docs/interactions/application-commands
    this.route('GET', '/applications/:id/commands', ({ params: [a] }) => {
      this.requireApp(a);
      return ok(this.globalCommands);
    });
    this.route('PUT', '/applications/:id/commands', ({ params: [a], body }) => {
      this.requireApp(a);
      this.globalCommands = this.overwriteCommands(body, this.globalCommands);
      return ok(this.globalCommands);
    });
    this.route('GET', '/applications/:id/guilds/:id/commands', ({ params: [a, g] }) => {
      this.requireApp(a);
      this.requireGuild(g ?? '');
      return ok(this.guildCommands.get(g ?? '') ?? []);
    });
    this.route('PUT', '/applications/:id/guilds/:id/commands', ({ params: [a, g], body }) => {
      this.requireApp(a);
      this.requireGuild(g ?? '');
      const list = this.overwriteCommands(body, this.guildCommands.get(g ?? '') ?? [], g);
      this.guildCommands.set(g ?? '', list);
      return ok(list);
    });
  }

  // -------------------------------------------------------------------------
  // Channel handlers
  // -------------------------------------------------------------------------

  private overwrite(o: Body, path: (string | number)[], errs: FormErrors): Overwrite | undefined {
    if (o?.type !== 0 && o?.type !== 1) {
      errs.add([...path, 'type'], 'BASE_TYPE_CHOICES', 'Value must be one of {0, 1}.');
      return undefined;
    }
    const bits = (v: unknown, f: string) => {
      const s = str(v ?? '0');
      if (s === undefined || !/^\d+$/.test(s)) errs.add([...path, f], 'NUMBER_TYPE_COERCE', `Value "${String(v)}" is not snowflake.`);
      return s ?? '0';
    };
    return { id: String(o.id), type: o.type, allow: bits(o.allow, 'allow'), deny: bits(o.deny, 'deny') };
  }

  private checkParent(parentId: unknown, errs: FormErrors, movingId?: string): string | null {
    if (parentId === undefined || parentId === null) return null;
    const parent = this.channels.get(String(parentId));
    if (!parent || parent.type !== 4) {
      errs.add(['parent_id'], 'CHANNEL_PARENT_INVALID', 'Category does not exist');
      return null;
    }
    const children = [...this.channels.values()].filter((c) => c.parent_id === parent.id && c.id !== movingId).length;
    if (children >= this.limits.categoryChannels) errs.add(['parent_id'], 'CHANNEL_PARENT_MAX_CHANNELS', `Maximum number of channels in category reached (${this.limits.categoryChannels})`);
    return parent.id;
  }

  private createChannel(body: Body): Reply {
    const errs = new FormErrors();
    const type = body.type ?? 0;
    if (type !== 0 && type !== 4) errs.add(['type'], 'BASE_TYPE_CHOICES', 'Value must be one of {0, 4}.');
    let name = typeof body.name === 'string' ? body.name : '';
    if (type === 0) name = normaliseChannelName(name);
    else name = [...name].slice(0, 100).join('');
    if (!name) errs.add(['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    errs.maxLength(['topic'], body.topic, 1024);
    const parent = type === 0 ? this.checkParent(body.parent_id, errs) : null;
    if (type === 4 && body.parent_id) errs.add(['parent_id'], 'CHANNEL_PARENT_INVALID', 'Categories cannot have a parent');
    const overwrites: Overwrite[] = [];
    if (Array.isArray(body.permission_overwrites)) {
      errs.maxLength(['permission_overwrites'], body.permission_overwrites, 100);
      body.permission_overwrites.forEach((o: Body, i: number) => {
        const ow = this.overwrite(o, ['permission_overwrites', i], errs);
        if (ow) overwrites.push(ow);
      });
    }
    errs.throwIfAny();
    if ([...this.channels.values()].filter((c) => c.type !== 1).length >= this.limits.guildChannels) throw E.maxChannels();
    const ch = this.newChannel(this.snowflake(), type, name, parent);
    ch.topic = typeof body.topic === 'string' ? body.topic : null;
    ch.permission_overwrites = overwrites;
    this.channels.set(ch.id, ch);
    if (type === 0) this.msgs.set(ch.id, []);
    this.createdChannelIds.push(ch.id);
    return { status: 201, body: this.channelObject(ch) };
  }

  private modifyChannel(id: string, body: Body): Reply {
    const ch = this.requireChannel(id);
    if (ch.type === 1) throw E.missingAccess();
    const errs = new FormErrors();
    let name = ch.name;
    if (body.name !== undefined) {
      name = typeof body.name === 'string' ? (ch.type === 0 ? normaliseChannelName(body.name) : [...body.name].slice(0, 100).join('')) : '';
      if (!name) errs.add(['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    }
    errs.maxLength(['topic'], body.topic, 1024);
    const parent = body.parent_id !== undefined && ch.type === 0 ? this.checkParent(body.parent_id, errs, ch.id) : ch.parent_id;
    const overwrites: Overwrite[] = [];
    if (Array.isArray(body.permission_overwrites)) {
      body.permission_overwrites.forEach((o: Body, i: number) => {
        const ow = this.overwrite(o, ['permission_overwrites', i], errs);
        if (ow) overwrites.push(ow);
      });
    }
    errs.throwIfAny();
    const topic = body.topic !== undefined ? (typeof body.topic === 'string' && body.topic ? body.topic : null) : ch.topic;
    if (name !== ch.name || topic !== ch.topic) {
      const t = this.now();
      ch.renames = ch.renames.filter((at) => t - at < RENAME_WINDOW_MS);
      if (ch.renames.length >= RENAME_LIMIT) {
        this.rateLimitedCount++;
        const after = ((ch.renames[0] ?? t) + RENAME_WINDOW_MS - t) / 1000;
        // a per-resource limit: scope 'shared' (https://discord.com/developers/docs/topics/rate-limits#header-format)
        throw new Fail({
          status: 429,
          body: { message: 'You are being rate limited.', retry_after: after, global: false },
          headers: { 'Retry-After': String(Math.ceil(after)), 'X-RateLimit-Scope': 'shared' },
        });
      }
      ch.renames.push(t);
    }
    ch.name = name;
    ch.topic = topic;
    ch.parent_id = parent;
    if (Array.isArray(body.permission_overwrites)) ch.permission_overwrites = overwrites;
    return ok(this.channelObject(ch));
  }

  private pin(channelId: string, messageId: string, by = BOT_USER_ID): Reply {
    this.pinned(channelId, messageId, by);
    return ok();
  }

  /** Pins; the CHANNEL_PINNED_MESSAGE system message it adds, or undefined when the message was pinned already. */
  private pinned(channelId: string, messageId: string, by: string): FakeMessage | undefined {
    const ch = this.requireChannel(channelId);
    const msg = this.requireMessage(ch.id, messageId);
    if (ch.pins.some((p) => p.messageId === msg.id)) return undefined;
    if (ch.pins.length >= this.limits.pins) throw E.maxPins();
    ch.pins.push({ messageId: msg.id, pinnedAt: this.iso() });
    // the CHANNEL_PINNED_MESSAGE system message (type 6), by whoever pinned, points at the pinned message:
    // https://discord.com/developers/docs/resources/message#message-object-message-types and "Pin messages" under
    // https://discord.com/developers/docs/resources/message#message-reference-types
    const sys = this.storeMessage(ch, { message_reference: { message_id: msg.id } }, [], { authorId: by, type: 6, record: false });
    sys.content = '';
    return sys;
  }

  // https://discord.com/developers/docs/resources/user#create-dm: one DM channel per recipient
  private openDm(recipientId: string): Reply {
    const u = this.users.get(recipientId);
    if (!u) throw err(400, 50035, 'Invalid Form Body', { recipient_id: { _errors: [{ code: 'NUMBER_TYPE_COERCE', message: `Value "${recipientId}" is not snowflake.` }] } });
    let id = this.dmByUser.get(recipientId);
    if (!id) {
      const ch = this.newChannel(this.snowflake(), 1, null, null);
      ch.recipient = recipientId;
      this.channels.set(ch.id, ch);
      this.msgs.set(ch.id, []);
      this.dmByUser.set(recipientId, ch.id);
      id = ch.id;
    }
    return ok(this.channelObject(this.requireChannel(id)));
  }

  // -------------------------------------------------------------------------
  // Interactions
  // -------------------------------------------------------------------------

  /**
   * Mint an interaction as Discord would send it to the bot's endpoint (sign and POST it yourself). The fake's clock
   * at minting starts the 3 s callback window and the 15 min token.
   */
  interaction(opts: { type: number; data?: unknown; userId: string; channelId: string; guildId?: string | null; message?: string }): APIInteraction {
    const ch = this.requireChannel(opts.channelId);
    const guildId = opts.guildId === null ? undefined : (opts.guildId ?? ch.guild_id);
    const rec: InteractionRecord = {
      id: this.snowflake(),
      token: `aW50ZXJhY3Rpb24.${randomBytes(24).toString('base64url')}`,
      type: opts.type,
      channelId: ch.id,
      userId: opts.userId,
      mintedAt: this.now(),
      messageIds: new Set(),
      responses: [],
      ...(guildId ? { guildId } : {}),
      ...(opts.message ? { messageId: opts.message } : {}),
    };
    this.interactions.set(rec.id, rec);
    this.interactionsByToken.set(rec.token, rec);
    const member = this.members.get(opts.userId);
    const msg = opts.message ? (this.msgs.get(ch.id)?.find((m) => m.id === opts.message) ?? this.ephemerals.get(opts.message)) : undefined;
    return {
      id: rec.id,
      application_id: APPLICATION_ID,
      type: opts.type,
      token: rec.token,
      version: 1,
      ...(opts.data !== undefined ? { data: opts.data } : {}),
      channel_id: ch.id,
      channel: { id: ch.id, type: ch.type, ...(ch.name ? { name: ch.name } : {}) },
      ...(guildId
        ? {
            guild_id: guildId,
            guild: { id: guildId, locale: 'en-US', features: [] },
            guild_locale: 'en-US',
            member: { ...(member ? this.memberObject(member) : { user: this.userObject(opts.userId), roles: [], joined_at: this.iso() }), permissions: String(EVERYONE_PERMISSIONS) },
          }
        : { user: this.userObject(opts.userId) }),
      ...(msg ? { message: this.messageObject(msg) } : {}),
      app_permissions: String(BOT_PERMISSIONS),
      locale: 'en-US',
      entitlements: [],
      attachment_size_limit: 10 * 1024 * 1024,
      authorizing_integration_owners: guildId ? { '0': guildId } : { '1': opts.userId },
      context: guildId ? 0 : 1,
    } as unknown as APIInteraction;
  }

  /** callbacks, follow-ups and edits of an interaction, in order */
  responsesTo(interactionId: string): InteractionResponseRecord[] {
    return this.interactions.get(interactionId)?.responses ?? [];
  }

  // https://discord.com/developers/docs/interactions/receiving-and-responding#create-interaction-response
  private callback({ params: [id, token], query, body, files }: Ctx): Reply {
    const rec = this.interactions.get(id ?? '');
    if (!rec || rec.token !== token) throw E.unknownInteraction();
    if (rec.callbackType !== undefined) throw E.alreadyAcked();
    if (this.now() - rec.mintedAt > INTERACTION_CALLBACK_TTL_MS) throw E.unknownInteraction();
    const type = body.type;
    const data: Body = body.data ?? {};
    const errs = new FormErrors();
    if (![1, 4, 5, 6, 7, 9].includes(type)) errs.add(['type'], 'BASE_TYPE_CHOICES', 'Value must be one of {1, 4, 5, 6, 7, 9}.');
    if (type === 1 && rec.type !== 1) errs.add(['type'], 'INTERACTION_RESPONSE_TYPE_INVALID', 'PONG answers PING interactions only');
    if ((type === 6 || type === 7) && rec.type !== 3 && rec.type !== 5) errs.add(['type'], 'INTERACTION_RESPONSE_TYPE_INVALID', 'Only component and modal interactions can update their message');
    if (type === 9) {
      if (rec.type === 5) errs.add(['type'], 'INTERACTION_RESPONSE_TYPE_INVALID', 'A modal cannot answer a modal submit');
      errs.maxLength(['data', 'title'], data.title, 45);
      errs.maxLength(['data', 'custom_id'], data.custom_id, 100);
      if (!Array.isArray(data.components) || data.components.length < 1) errs.add(['data', 'components'], 'BASE_TYPE_MIN_LENGTH', 'Must be 1 or more in length.');
      else errs.maxLength(['data', 'components'], data.components, 5);
    }
    if (type === 4 || type === 7) {
      errs.prefix = ['data'];
      this.validateMessage(data, errs);
      errs.prefix = [];
    }
    errs.throwIfAny();
    const ch = this.requireChannel(rec.channelId);
    const ephemeral = ((data.flags ?? 0) & MESSAGE_FLAG_EPHEMERAL) !== 0;
    let message: FakeMessage | undefined;
    if (type === 4) {
      this.checkNewMessage({ ...ch, type: 0 }, data, files);
      message = this.storeMessage(ch, data, files, { authorId: BOT_USER_ID, ephemeral, webhook: rec });
    } else if (type === 5) {
      message = this.storeMessage(ch, {}, [], { authorId: BOT_USER_ID, ephemeral, webhook: rec, flags: MESSAGE_FLAG_LOADING });
    } else if (type === 6 || type === 7) {
      message = rec.messageId ? (this.msgs.get(ch.id)?.find((m) => m.id === rec.messageId) ?? this.ephemerals.get(rec.messageId)) : undefined;
      if (type === 7 && message) this.editMessage(message, data);
    }
    rec.callbackType = type;
    if (message) {
      rec.originalId = message.id;
      rec.messageIds.add(message.id);
    }
    rec.responses.push({
      kind: 'callback',
      type,
      data: body.data,
      ephemeral: type === 4 || type === 5 ? ephemeral : (message?.ephemeral ?? false),
      ...(message ? { messageId: message.id } : {}),
      at: this.now(),
    });
    if (query.get('with_response') !== 'true') return ok();
    // https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-callback-interaction-callback-response-object
    return ok({
      interaction: {
        id: rec.id,
        type: rec.type,
        ...(message && (type === 4 || type === 5) ? { response_message_id: message.id, response_message_loading: type === 5, response_message_ephemeral: ephemeral } : {}),
      },
      resource: { type, ...(message && (type === 4 || type === 7) ? { message: this.messageObject(message) } : {}) },
    });
  }

  /** the interaction behind a webhook token, or 401 50027 once the 15 minutes are over */
  private webhookInteraction(appId: string | undefined, token: string | undefined): InteractionRecord {
    const rec = this.interactionsByToken.get(token ?? '');
    if (appId !== APPLICATION_ID) throw E.unknownWebhook();
    if (!rec || this.now() - rec.mintedAt > INTERACTION_TOKEN_TTL_MS) throw E.invalidWebhookToken();
    return rec;
  }

  // https://discord.com/developers/docs/interactions/receiving-and-responding#create-followup-message
  private followUp({ params: [a, token], query, body, files }: Ctx): Reply {
    const rec = this.webhookInteraction(a, token);
    // Assumed: a follow-up before the initial response finds no webhook (Discord answers 10015 Unknown Webhook).
    if (rec.callbackType === undefined) throw E.unknownWebhook();
    const ch = this.requireChannel(rec.channelId);
    this.checkNewMessage({ ...ch, type: 0 }, body, files);
    const ephemeral = ((body.flags ?? 0) & MESSAGE_FLAG_EPHEMERAL) !== 0;
    const msg = this.storeMessage(ch, body, files, { authorId: BOT_USER_ID, ephemeral, webhook: rec });
    rec.messageIds.add(msg.id);
    rec.responses.push({ kind: 'followup', data: body, ephemeral, messageId: msg.id, at: this.now() });
    return query.get('wait') === 'true' ? ok(this.messageObject(msg)) : ok();
  }

  // https://discord.com/developers/docs/interactions/receiving-and-responding#edit-original-interaction-response
  private webhookMessage(method: string, { params: [a, token], body }: Ctx, which: string): Reply {
    const rec = this.webhookInteraction(a, token);
    const id = which === '@original' ? rec.originalId : which;
    if (!id || !rec.messageIds.has(id)) throw E.unknownMessage();
    const msg = this.msgs.get(rec.channelId)?.find((m) => m.id === id) ?? this.ephemerals.get(id);
    if (!msg) throw E.unknownMessage();
    if (method === 'GET') return ok(this.messageObject(msg));
    if (method === 'DELETE') {
      this.deleteMessage(msg);
      rec.responses.push({ kind: 'delete', data: undefined, ephemeral: msg.ephemeral, messageId: id, at: this.now() });
      return ok();
    }
    this.editMessage(msg, body);
    rec.responses.push({ kind: 'edit', data: body, ephemeral: msg.ephemeral, messageId: id, at: this.now() });
    return ok(this.messageObject(msg));
  }

  // -------------------------------------------------------------------------
  // Application commands
  // -------------------------------------------------------------------------

  private requireApp(appId: string | undefined): void {
    if (appId !== APPLICATION_ID) throw E.missingAccess();
  }

  /**
   * Bulk overwrite (https://discord.com/developers/docs/interactions/application-commands#bulk-overwrite-global-application-commands)
   * with the naming rules of https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-naming:
   * chat-input names match ^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ in lowercase, descriptions 1-100, up to 25
   * options and 25 choices, required options before optional ones; user and message commands take no description.
   */
  private overwriteCommands(body: Body, existing: Body[], guildId?: string): Body[] {
    const errs = new FormErrors();
    if (!Array.isArray(body)) throw err(400, 50035, 'Invalid Form Body', { _errors: [{ code: 'BASE_TYPE_ARRAY', message: 'Must be an array.' }] });
    const chatName = /^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
    const checkDescription = (path: (string | number)[], d: unknown) => {
      if (typeof d !== 'string' || [...d].length < 1 || [...d].length > 100) errs.add([...path, 'description'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    };
    const checkOptions = (path: (string | number)[], options: unknown) => {
      if (options === undefined) return;
      if (!Array.isArray(options)) return errs.add([...path, 'options'], 'BASE_TYPE_ARRAY', 'Must be an array.');
      errs.maxLength([...path, 'options'], options, 25);
      let optionalSeen = false;
      options.forEach((o: Body, j: number) => {
        const p = [...path, 'options', j];
        if (typeof o?.name !== 'string' || !chatName.test(o.name) || o.name !== o.name.toLowerCase()) errs.add([...p, 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
        checkDescription(p, o?.description);
        errs.maxLength([...p, 'choices'], o?.choices, 25);
        if (o?.type === 1 || o?.type === 2) return checkOptions(p, o.options);
        if (o?.required === true && optionalSeen) errs.add([...p, 'required'], 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID', 'Required options must be placed before non-required options');
        if (o?.required !== true) optionalSeen = true;
      });
    };
    const seen = new Set<string>();
    body.forEach((c: Body, i: number) => {
      const type = c?.type ?? 1;
      if (type === 1) {
        if (typeof c?.name !== 'string' || !chatName.test(c.name) || c.name !== c.name.toLowerCase()) errs.add([i, 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
        checkDescription([i], c?.description);
        checkOptions([i], c?.options);
      } else {
        if (typeof c?.name !== 'string' || [...c.name].length < 1 || [...c.name].length > 32) errs.add([i, 'name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 32 in length.');
        if (c?.description) errs.add([i, 'description'], 'APPLICATION_COMMAND_DESCRIPTION_NOT_ALLOWED', 'Only chat input commands take a description');
        if (c?.options !== undefined) errs.add([i, 'options'], 'APPLICATION_COMMAND_OPTIONS_NOT_ALLOWED', 'Only chat input commands take options');
      }
      const key = `${type}:${String(c?.name)}`;
      if (seen.has(key)) errs.add([i, 'name'], 'APPLICATION_COMMANDS_DUPLICATE_NAME', 'Application command names must be unique');
      seen.add(key);
    });
    errs.throwIfAny();
    return body.map((c: Body) => {
      const type = c.type ?? 1;
      const prior = existing.find((e) => e.type === type && e.name === c.name);
      return {
        ...c,
        id: prior?.id ?? this.snowflake(),
        application_id: APPLICATION_ID,
        version: this.snowflake(),
        type,
        description: c.description ?? '',
        default_member_permissions: c.default_member_permissions ?? null,
        nsfw: false,
        ...(guildId ? { guild_id: guildId } : {}),
      };
    });
  }

  // -------------------------------------------------------------------------
  // Inspection
  // -------------------------------------------------------------------------

  commands(guildId?: string): Body[] {
    return guildId ? (this.guildCommands.get(guildId) ?? []) : this.globalCommands;
  }

  /** messages in a channel, oldest first (system messages included, ephemeral ones not) */
  messages(channelId: string): APIMessage[] {
    return (this.msgs.get(channelId) ?? []).map((m) => this.messageObject(m));
  }

  /** a channel message, or an ephemeral interaction message, by id */
  message(channelId: string, id: string): APIMessage | undefined {
    const m = this.msgs.get(channelId)?.find((x) => x.id === id) ?? this.ephemerals.get(id);
    return m && m.channel_id === channelId ? this.messageObject(m) : undefined;
  }

  /** the stored upload, with its bytes */
  attachment(id: string): FakeAttachment | undefined {
    return this.attachmentsById.get(id);
  }

  channel(id: string): APIChannel | undefined {
    const ch = this.channels.get(id);
    return ch ? this.channelObject(ch) : undefined;
  }

  channelByName(name: string): APIChannel | undefined {
    const ch = [...this.channels.values()].find((c) => c.name === name);
    return ch ? this.channelObject(ch) : undefined;
  }

  allChannels(): APIChannel[] {
    return [...this.channels.values()].map((c) => this.channelObject(c));
  }

  dmChannelOf(userId: string): APIChannel | undefined {
    const id = this.dmByUser.get(userId);
    return id ? this.channel(id) : undefined;
  }

  /**
   * Whether `userId` can see the channel: @everyone's permissions, then the channel's @everyone overwrite, the role
   * overwrites together, then the member's overwrite
   * (https://discord.com/developers/docs/topics/permissions#permission-overwrites). Only VIEW_CHANNEL is computed.
   */
  canSee(channelId: string, userId: string): boolean {
    const ch = this.channels.get(channelId);
    if (!ch) return false;
    if (ch.type === 1) return userId === ch.recipient || userId === BOT_USER_ID;
    const member = this.members.get(userId);
    if (!member) return false;
    let perms = BigInt(this.roles.get(GUILD_ID)?.permissions ?? '0');
    for (const r of member.roles) perms |= BigInt(this.roles.get(r)?.permissions ?? '0');
    if ((perms & PermissionFlagsBits.Administrator) !== 0n) return true;
    const apply = (allow: bigint, deny: bigint) => (perms = (perms & ~deny) | allow);
    const everyone = ch.permission_overwrites.find((o) => o.id === GUILD_ID);
    if (everyone) apply(BigInt(everyone.allow), BigInt(everyone.deny));
    let allow = 0n;
    let deny = 0n;
    for (const o of ch.permission_overwrites) {
      if (o.type === 0 && member.roles.includes(o.id)) {
        allow |= BigInt(o.allow);
        deny |= BigInt(o.deny);
      }
    }
    apply(allow, deny);
    const own = ch.permission_overwrites.find((o) => o.type === 1 && o.id === userId);
    if (own) apply(BigInt(own.allow), BigInt(own.deny));
    return (perms & VIEW_CHANNEL) !== 0n;
  }

  /**
   * The bot's permissions in a guild channel: its own (BOT_PERMISSIONS, what the invite grants, with @everyone's), then
   * the channel's @everyone overwrite, its roles' overwrites, its member overwrite
   * (https://discord.com/developers/docs/topics/permissions#permission-overwrites).
   */
  private botPermissionsIn(ch: FakeChannel): bigint {
    let perms = BOT_PERMISSIONS | BigInt(this.roles.get(GUILD_ID)?.permissions ?? '0');
    const roles = this.members.get(BOT_USER_ID)?.roles ?? [];
    for (const r of roles) perms |= BigInt(this.roles.get(r)?.permissions ?? '0');
    if ((perms & PermissionFlagsBits.Administrator) !== 0n) return perms;
    const apply = (allow: bigint, deny: bigint) => (perms = (perms & ~deny) | allow);
    const everyone = ch.permission_overwrites.find((o) => o.id === GUILD_ID);
    if (everyone) apply(BigInt(everyone.allow), BigInt(everyone.deny));
    let allow = 0n;
    let deny = 0n;
    for (const o of ch.permission_overwrites) {
      if (o.type === 0 && roles.includes(o.id)) {
        allow |= BigInt(o.allow);
        deny |= BigInt(o.deny);
      }
    }
    apply(allow, deny);
    const own = ch.permission_overwrites.find((o) => o.type === 1 && o.id === BOT_USER_ID);
    if (own) apply(BigInt(own.allow), BigInt(own.deny));
    return perms;
  }

  /** counts of what is visible now: for "exactly one" assertions after faults and crashes */
  summary(): FakeSummary {
    const messages: Record<string, number> = {};
    const pins: Record<string, number> = {};
    const dms: Record<string, number> = {};
    for (const ch of this.channels.values()) {
      const n = (this.msgs.get(ch.id) ?? []).filter((m) => m.type === 0 || m.type === 19).length;
      if (ch.type === 1 && ch.recipient && n) dms[ch.recipient] = n;
      else if (n) messages[ch.id] = n;
      if (ch.pins.length) pins[ch.id] = ch.pins.length;
    }
    return { channelsCreated: this.createdChannelIds.map((id) => this.channels.get(id)?.name ?? id), messages, pins, dms };
  }

  /** Poll until `predicate(this)` is truthy (resolved) or `timeoutMs` passes (rejected, with the recent calls). */
  async waitFor<T>(predicate: (fake: FakeDiscord) => T | undefined | null | false, timeoutMs = 2000): Promise<T> {
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
      .map((c) => `  ${c.route} ${c.path} -> ${c.status}`)
      .join('\n');
    const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
    throw new Error(`FakeDiscord.waitFor timed out after ${timeoutMs} ms${why}.\nRecent calls (${this.calls.length} total):\n${recent || '  (none)'}`);
  }
}
