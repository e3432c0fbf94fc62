import { AsyncLocalStorage } from 'node:async_hooks';
import { DefaultRestOptions, DiscordAPIError, HTTPError, RateLimitError, REST, RESTEvents, type RawFile, type ResponseLike } from '@discordjs/rest';
import {
  ChannelType,
  OverwriteType,
  PermissionFlagsBits,
  Routes,
  type APIChannel,
  type APIGuildMember,
  type APIMessage,
  type APIOverwrite,
  type RESTPostAPIChannelMessageJSONBody,
} from 'discord-api-types/v10';
import { ChatError, type ChatPort, type PerformContext } from '../port.ts';
import type { Capabilities, EffectOp, EffectResults, FailedGroup, FailedInvite, PortArgs, PortEffect } from '../effects.ts';
import type { Message } from '../../../blocks/surface.ts';
import type { Text } from '../../domain/text.ts';
import { allowedMentions, discordMarkdown, isSnowflake, plainDiscord } from './markdown.ts';
import { discordMessage } from './render.ts';
import { observeDiscordLimiterWait, timedDiscordRequest, type Metrics } from '../../metrics.ts';

/** Discord's REST base without the version (DISCORD_API_URL ends with /v10): what @discordjs/rest takes. */
export function restOptions(apiUrl: string): { api: string; version: string } {
  const m = /^(.*?)\/v(\d+)\/?$/.exec(apiUrl.replace(/\/+$/, ''));
  return m ? { api: m[1]!, version: m[2]! } : { api: apiUrl.replace(/\/+$/, ''), version: '10' };
}

/** Marks the REST calls made while the port performs an effect (see `createDiscordRest`). */
const effectCalls = new AsyncLocalStorage<true>();

/** A 429 Discord answered to a call made for an effect: the outbox waits `retryAfterMs`, then tries again. */
class EffectRateLimited extends Error {
  override readonly name = 'EffectRateLimited';
  constructor(
    readonly retryAfterMs: number,
    readonly scope: string,
  ) {
    super(`rate limited by Discord (${scope}), retry after ${retryAfterMs} ms`);
  }
}

/** A 5xx, a timeout or a lost connection on a call made for an effect: Discord may or may not have done it. */
class EffectOutcomeUnknown extends Error {
  override readonly name = 'EffectOutcomeUnknown';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * How long a 429 asks to wait (https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit): the
 * body's `retry_after` (seconds, with decimals), else the Retry-After header (seconds; a 429 from Discord's edge has
 * only that), else a second.
 */
async function retryAfterOf(res: ResponseLike): Promise<number> {
  try {
    const body = (await res.json()) as { retry_after?: unknown };
    if (typeof body?.retry_after === 'number' && Number.isFinite(body.retry_after) && body.retry_after >= 0) return Math.ceil(body.retry_after * 1000);
  } catch {
    // not JSON: the header says it
  }
  const header = Number(res.headers.get('Retry-After'));
  return Number.isFinite(header) && header >= 0 && res.headers.get('Retry-After') !== null ? Math.ceil(header * 1000) : 1_000;
}

/**
 * @discordjs/rest sends each request again on its own after a 5xx or a reset connection (`retries`), and sleeps
 * through a 429 it did not foresee. For an effect that is wrong twice: a call Discord applied before its answer was
 * lost is sent again blind (a second channel; a second follow-up), and a worker sleeps where the outbox would have
 * scheduled the retry. So, for calls made while an effect is performed, these answers stop here: a 429 becomes
 * rate_limited with its Retry-After, a 5xx or a lost connection transient with the outcome unknown, and the outbox
 * retries with `uncertain`, which finds what the first attempt did. Waits the client foresees from the rate-limit
 * headers (no request sent) still happen in the client up to 5 s. Other callers (interaction answers, the directory,
 * `muster discord register`) keep the client's own retries.
 */
function effectAware(base: (url: string, init: Parameters<typeof DefaultRestOptions.makeRequest>[1]) => Promise<ResponseLike>): typeof DefaultRestOptions.makeRequest {
  return async (url, init) => {
    if (!effectCalls.getStore()) return base(url, init);
    let res: ResponseLike;
    try {
      res = await base(url, init);
    } catch (e) {
      const err = e as Error & { code?: string; cause?: { code?: string } };
      throw new EffectOutcomeUnknown(`no answer from Discord (${err.message})`, err.cause?.code ?? err.code ?? err.name);
    }
    if (res.status === 429) throw new EffectRateLimited(await retryAfterOf(res), res.headers.get('X-RateLimit-Scope') ?? 'user');
    if (res.status >= 500) throw new EffectOutcomeUnknown(`Discord HTTP ${res.status}`, `http_${res.status}`);
    return res;
  };
}

/**
 * A REST client for the bot token at DISCORD_API_URL. Waits longer than 5 s that the client foresees go back to the
 * outbox as rate_limited; what the port calls for an effect is never sent twice by the client (`effectAware`).
 */
export function createDiscordRest(token: string, apiUrl: string, metrics?: Metrics): REST {
  const send: typeof DefaultRestOptions.makeRequest = (url, init) => DefaultRestOptions.makeRequest(url, init);
  const rest = new REST({
    ...restOptions(apiUrl),
    timeout: 10_000,
    retries: 1,
    rejectOnRateLimit: (info) => info.retryAfter > 5_000,
    // Timed inside effectAware: each HTTP request as sent and answered, 429s included.
    makeRequest: effectAware(metrics ? timedDiscordRequest(send, metrics) : send),
  }).setToken(token);
  if (metrics) rest.on(RESTEvents.RateLimited, (info) => observeDiscordLimiterWait(metrics, info));
  return rest;
}

/**
 * Discord's errors as the outbox needs them (https://discord.com/developers/docs/topics/opcodes-and-status-codes):
 * a 429 is a rate limit (never an attempt spent), 4xx refusals are permanent (Discord did not do it), 5xx and
 * lost connections leave the outcome unknown.
 */
export function toChatError(e: unknown, what = ''): ChatError {
  if (e instanceof ChatError) return e;
  const where = what ? `${what}: ` : '';
  if (e instanceof EffectRateLimited) return new ChatError(`${where}${e.message}`, 'rate_limited', 'rate_limited', e.retryAfterMs);
  if (e instanceof EffectOutcomeUnknown) return new ChatError(`${where}${e.message}`, 'transient', e.code, undefined, { outcomeUnknown: true });
  if (e instanceof RateLimitError) return new ChatError(`${where}rate limited by Discord`, 'rate_limited', 'rate_limited', e.retryAfter);
  if (e instanceof DiscordAPIError) {
    if (e.status === 429) return new ChatError(`${where}rate limited by Discord`, 'rate_limited', 'rate_limited', 1_000);
    const code = String(e.code);
    if (e.status >= 500) return new ChatError(`${where}Discord HTTP ${e.status}`, 'transient', code, undefined, { outcomeUnknown: true });
    return Object.assign(new ChatError(`${where}Discord refused (${e.code}: ${e.message})`, 'permanent', code), { discordCode: e.code, status: e.status });
  }
  if (e instanceof HTTPError) return new ChatError(`${where}Discord HTTP ${e.status}`, 'transient', `http_${e.status}`, undefined, { outcomeUnknown: true });
  return new ChatError(`${where}${(e as Error).message ?? String(e)}`, 'transient', (e as { code?: string }).code, undefined, { outcomeUnknown: true });
}

const codeOf = (e: unknown): number | undefined => (e as { discordCode?: number }).discordCode;

/** JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes). */
const UNKNOWN_MEMBER = 10007;
const UNKNOWN_USER = 10013;
const CANNOT_DM = 50007;

export interface DiscordPortOptions {
  rest: REST;
  applicationId: string;
  /** Where incident channels are created (a category name or id); none: at the top of the server. */
  incidentCategory?: string;
  /** Where closed incident channels are moved, locked (a category name or id); none: locked where they are. */
  archiveCategory?: string;
  /** A channel id that an incident already owns is never adopted by another incident's channel effect. */
  channelOwned?: (channelId: string) => Promise<boolean>;
  /** Capabilities to do without (declared false, their ops refused for good), e.g. pins where the bot may not pin. */
  without?: readonly (keyof Capabilities)[];
}

/** What Discord can do through this port. */
/** A policy's `group:<id>` on Discord is a server role: its members are read with List Guild Members (which needs the Server Members intent). */
export const DISCORD_CAPABILITIES: Capabilities = { pins: true, bookmarks: false, userGroups: true, threads: false, fileUpload: true, appHome: false };

/**
 * What the bot needs in a private incident channel: see it, post, read back, embed, attach, pin (PIN_MESSAGES, split
 * from MANAGE_MESSAGES in 2025: https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags).
 * An overwrite can only grant what the bot itself holds in the server (docs/discord-setup.md lists them).
 */
export const BOT_IN_PRIVATE =
  PermissionFlagsBits.ViewChannel |
  PermissionFlagsBits.SendMessages |
  PermissionFlagsBits.ReadMessageHistory |
  PermissionFlagsBits.EmbedLinks |
  PermissionFlagsBits.AttachFiles |
  PermissionFlagsBits.PinMessages;

/** The bot's permissions in the server, as the invite URL asks for them (docs/discord-setup.md). */
export const BOT_PERMISSIONS = BOT_IN_PRIVATE | PermissionFlagsBits.ManageChannels | PermissionFlagsBits.ManageRoles;

/** An interaction token is valid for 15 minutes (https://discord.com/developers/docs/interactions/receiving-and-responding). */
const TOKEN_TTL_MS = 15 * 60_000;
const TOKEN_MARGIN_MS = 60_000;
const EPHEMERAL = 1 << 6;

/**
 * Performs outbox effects on a Discord server through its REST API (DISCORD_API_URL), each visible exactly once:
 * messages go with a nonce that Discord enforces (`enforce_nonce`: a retry within minutes returns the first message
 * instead of a second one), a channel whose creation may have happened is looked up by its name before creating
 * it again, and pins, edits, topics and permission overwrites are idempotent. Discord has no app home, bookmarks,
 * user groups to expand in this port, or threads as Muster uses them: those capabilities are off and services
 * do without them.
 */
export class DiscordChatPort implements ChatPort {
  readonly platform = 'discord';
  readonly capabilities: Capabilities;
  botUserId?: string;
  private readonly channelsByGuild = new Map<string, { at: number; channels: APIChannel[] }>();

  constructor(private readonly o: DiscordPortOptions) {
    const without = new Set(o.without ?? []);
    this.capabilities = Object.fromEntries(Object.entries(DISCORD_CAPABILITIES).map(([k, v]) => [k, v && !without.has(k as keyof Capabilities)])) as unknown as Capabilities;
  }

  get rest(): REST {
    return this.o.rest;
  }

  async perform<K extends EffectOp>(
    effect: { op: K; args: PortArgs<K> },
    ctx: PerformContext = { effectId: 0, uncertain: false, createdAt: new Date(), workspaceId: null, now: new Date() },
  ): Promise<EffectResults[K]> {
    // Every call made from here on is an effect's: the client sends none of them twice (see `effectAware`).
    return effectCalls.run(true, () => this.performNow(effect, ctx));
  }

  private async performNow<K extends EffectOp>(effect: { op: K; args: PortArgs<K> }, ctx: PerformContext): Promise<EffectResults[K]> {
    const e = effect as PortEffect;
    const guild = guildOf(ctx.workspaceId);
    let out: unknown;
    switch (e.op) {
      case 'postMessage': {
        if (e.args.threadTs) throw new ChatError('Discord: replies in a thread are not supported by this port', 'permanent', 'no_threads');
        const channel = await this.channelId(guild, e.args.channel);
        const { message: m, adopted } = await this.post('postMessage', channel, body(e.args), ctx);
        out = { channel, ts: m.id, ...(adopted ? { adopted } : {}) };
        break;
      }
      case 'updateMessage': {
        const channel = await this.channelId(guild, e.args.channel);
        await this.call('updateMessage', () => this.rest.patch(Routes.channelMessage(channel, e.args.ts), { body: body(e.args) }));
        out = { channel, ts: e.args.ts };
        break;
      }
      case 'dm': {
        const channel = await this.dmChannel(e.args.user);
        const { message: m, adopted } = await this.post('dm', channel, body(e.args), ctx);
        out = { channel, ts: m.id, ...(adopted ? { adopted } : {}) };
        break;
      }
      case 'reply':
        out = await this.reply(e.args, ctx);
        break;
      case 'createChannel':
        out = await this.createChannel(guild, e.args.name, e.args.isPrivate === true, ctx.uncertain);
        break;
      case 'expandGroups':
        if (!this.capabilities.userGroups) throw new ChatError('Discord: this port does without user groups', 'permanent', 'no_user_groups');
        out = await this.expandGroups(guild, e.args.groups);
        break;
      case 'invite':
        out = await this.invite(guild, e.args.channel, e.args.users);
        break;
      case 'setTopic': {
        const channel = await this.channelId(guild, e.args.channel);
        await this.call('setTopic', () => this.rest.patch(Routes.channel(channel), { body: { topic: plainDiscord(e.args.topic).slice(0, 1024) } }));
        out = {};
        break;
      }
      case 'pin': {
        if (!this.capabilities.pins) throw new ChatError('Discord: this port does without pins', 'permanent', 'no_pins');
        const channel = await this.channelId(guild, e.args.channel);
        // PUT /channels/{c}/messages/pins/{m} (the /pins/{m} route is deprecated): pinning twice is harmless.
        await this.call('pin', () => this.rest.put(`/channels/${channel}/messages/pins/${e.args.ts}` as `/${string}`));
        out = {};
        break;
      }
      case 'bookmark':
        throw new ChatError('Discord has no channel bookmarks', 'permanent', 'no_bookmarks');
      case 'archiveChannel':
        await this.archive(guild, e.args.channel);
        out = {};
        break;
      case 'uploadFile': {
        if (!this.capabilities.fileUpload) throw new ChatError('Discord: this port does without file uploads', 'permanent', 'no_file_upload');
        const channel = await this.channelId(guild, e.args.channel);
        const file: RawFile = { key: 'files[0]', name: e.args.filename, data: Buffer.from(e.args.content, 'utf8'), contentType: 'text/markdown' };
        const content = e.args.comment ? discordMarkdown(e.args.comment, { max: 2000 }) : '';
        // Discord files have no title: it goes in the file's description (its alt text, at most 1024 characters:
        // https://discord.com/developers/docs/resources/message#attachment-object-attachment-structure).
        const attachment = { id: 0, filename: e.args.filename, ...(e.args.title ? { description: e.args.title.slice(0, 1024) } : {}) };
        const { message: m, adopted } = await this.post('uploadFile', channel, { content, allowed_mentions: allowedMentions(e.args.comment ?? ''), attachments: [attachment] }, ctx, [file]);
        out = { fileId: m.attachments[0]?.id, permalink: m.attachments[0]?.url, ...(adopted ? { adopted } : {}) };
        break;
      }
    }
    return out as EffectResults[K];
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw toChatError(e, what);
    }
  }

  /**
   * Posts with the effect's nonce, which Discord enforces: "If true and nonce is present, it will be checked for
   * uniqueness in the past few minutes. If another message was created by the same author with the same nonce, that
   * message will be returned and no new message will be created."
   * (https://discord.com/developers/docs/resources/message#create-message). Discord does not say which of the two it
   * did, so an uncertain attempt first reads the channel's `last_message_id` (snowflakes grow with time:
   * https://discord.com/developers/docs/reference#snowflakes): a message returned whose id is not past it existed
   * already, and is the earlier attempt's (`adopted`).
   */
  private async post(what: string, channel: string, payload: RESTPostAPIChannelMessageJSONBody, ctx: PerformContext, files?: RawFile[]): Promise<{ message: APIMessage; adopted: boolean }> {
    const before = ctx.uncertain ? ((await this.call(what, () => this.rest.get(Routes.channel(channel)))) as { last_message_id?: string | null }).last_message_id : undefined;
    const message = (await this.call(what, () =>
      this.rest.post(Routes.channelMessages(channel), { body: { ...payload, nonce: nonceOf(ctx), enforce_nonce: true }, ...(files ? { files } : {}) }),
    )) as APIMessage;
    const adopted = typeof before === 'string' && isSnowflake(before) && BigInt(message.id) <= BigInt(before);
    return { message, adopted };
  }

  private async dmChannel(user: string): Promise<string> {
    const ch = (await this.call('dm', () => this.rest.post(Routes.userChannels(), { body: { recipient_id: user } }))) as APIChannel;
    return ch.id;
  }

  /** A reply through the interaction's webhook while its token lives; after, or when it fails for good, a DM. */
  private async reply(args: PortArgs<'reply'>, ctx: PerformContext): Promise<EffectResults['reply']> {
    const [app, token] = args.to.handle.split(':', 2);
    const fresh = ctx.now.getTime() - args.to.issuedAt < TOKEN_TTL_MS - TOKEN_MARGIN_MS;
    if (app && token && fresh) {
      const payload = body(args);
      try {
        if (args.replaceOriginal) {
          const m = (await this.rest.patch(Routes.webhookMessage(app, token, '@original'), { body: payload, auth: false })) as APIMessage;
          return { via: 'reply', channel: m.channel_id, ts: m.id };
        }
        const m = (await this.rest.post(Routes.webhook(app, token), {
          body: { ...payload, ...(args.visibility === 'in_channel' ? {} : { flags: EPHEMERAL }) },
          query: new URLSearchParams({ wait: 'true' }),
          auth: false,
        })) as APIMessage;
        return { via: 'reply', channel: m.channel_id, ts: m.id };
      } catch (e) {
        const err = toChatError(e, 'reply');
        if (err.kind !== 'permanent' || !args.fallbackUser) throw err;
      }
    }
    if (args.fallbackUpdate) {
      // The clicked message, edited directly once the interaction token can no longer edit it.
      const { channel, ts } = args.fallbackUpdate;
      const m = (await this.call('reply', () => this.rest.patch(Routes.channelMessage(channel, ts), { body: body(args) }))) as APIMessage;
      return { via: 'update', channel: m.channel_id, ts: m.id };
    }
    if (!args.fallbackUser) throw new ChatError('Discord: the interaction token has expired and there is no one to tell by DM', 'permanent', 'expired_token');
    const channel = await this.dmChannel(args.fallbackUser);
    const { message: m, adopted } = await this.post('reply', channel, body(args), ctx);
    return { via: 'dm', channel, ts: m.id, ...(adopted ? { adopted } : {}) };
  }

  /** `#name` (a policy's channel) or an id. */
  private async channelId(guild: string | undefined, ref: string): Promise<string> {
    if (!ref.startsWith('#')) return ref;
    if (!guild) throw new ChatError(`Discord: no server to look ${ref} up in`, 'permanent', 'no_guild');
    const name = ref.slice(1);
    const named = (cs: APIChannel[]) => cs.find((c) => 'name' in c && c.name === name && c.type === ChannelType.GuildText);
    // A channel made since the list was read is not in it: read it again before saying there is none.
    const hit = named(await this.guildChannels(guild)) ?? named(await this.guildChannels(guild, true));
    if (!hit) throw new ChatError(`Discord: no text channel ${ref} in the server`, 'permanent', '10003');
    return hit.id;
  }

  private async guildChannels(guild: string, fresh = false): Promise<APIChannel[]> {
    const cached = this.channelsByGuild.get(guild);
    if (!fresh && cached && Date.now() - cached.at < 60_000) return cached.channels;
    const channels = (await this.call('channels', () => this.rest.get(Routes.guildChannels(guild)))) as APIChannel[];
    this.channelsByGuild.set(guild, { at: Date.now(), channels });
    return channels;
  }

  private async category(guild: string, ref: string | undefined): Promise<string | undefined> {
    if (!ref) return undefined;
    const all = await this.guildChannels(guild);
    const hit = all.find((c) => c.type === ChannelType.GuildCategory && (c.id === ref || ('name' in c && c.name?.toLowerCase() === ref.toLowerCase())));
    if (hit) return hit.id;
    const made = (await this.call('category', () => this.rest.post(Routes.guildChannels(guild), { body: { name: ref, type: ChannelType.GuildCategory } }))) as APIChannel;
    this.channelsByGuild.delete(guild);
    return made.id;
  }

  private async createChannel(guild: string | undefined, name: string, isPrivate: boolean, uncertain: boolean): Promise<EffectResults['createChannel']> {
    if (!guild) throw new ChatError('Discord: no server to create the channel in', 'permanent', 'no_guild');
    const parent = await this.category(guild, this.o.incidentCategory);
    if (uncertain) {
      // An earlier attempt may have created it: the same name (Discord keeps lowercase names as given), in the same
      // category, that no incident owns yet, is that attempt's channel.
      const existing = (await this.guildChannels(guild, true)).find((c) => c.type === ChannelType.GuildText && 'name' in c && c.name === name && (c.parent_id ?? undefined) === parent);
      if (existing && !(await this.o.channelOwned?.(existing.id))) return { channel: existing.id, name, adopted: true };
    }
    const overwrites: APIOverwrite[] = isPrivate
      ? [
          // @everyone's role id is the guild's id (https://discord.com/developers/docs/topics/permissions#role-object).
          { id: guild, type: OverwriteType.Role, allow: '0', deny: String(PermissionFlagsBits.ViewChannel) },
          ...(this.botUserId ? [{ id: this.botUserId, type: OverwriteType.Member, allow: String(BOT_IN_PRIVATE), deny: '0' }] : []),
        ]
      : [];
    for (let n = 1; n <= 20; n++) {
      const candidate = n === 1 ? name : `${name.slice(0, 95)}-${n}`;
      const taken = (await this.guildChannels(guild, n === 1)).some((c) => 'name' in c && c.name === candidate && c.type === ChannelType.GuildText);
      if (taken) continue;
      const ch = (await this.call('createChannel', () =>
        this.rest.post(Routes.guildChannels(guild), { body: { name: candidate, type: ChannelType.GuildText, ...(parent ? { parent_id: parent } : {}), permission_overwrites: overwrites } }),
      )) as APIChannel;
      this.channelsByGuild.delete(guild);
      return { channel: ch.id, name: 'name' in ch && ch.name ? ch.name : candidate };
    }
    throw new ChatError(`Discord: no free channel name for ${name}`, 'permanent', 'name_taken');
  }

  /**
   * People can see a public channel already; a private one gets a member permission overwrite each (Discord has no
   * channel membership). Someone who is not in the server is reported, not retried.
   */
  private async invite(guild: string | undefined, channelRef: string, users: string[]): Promise<EffectResults['invite']> {
    if (!guild) throw new ChatError('Discord: no server', 'permanent', 'no_guild');
    const channel = await this.channelId(guild, channelRef);
    const ch = (await this.call('invite', () => this.rest.get(Routes.channel(channel)))) as APIChannel & { permission_overwrites?: APIOverwrite[] };
    const hidden = (ch.permission_overwrites ?? []).some((o) => o.id === guild && (BigInt(o.deny) & PermissionFlagsBits.ViewChannel) !== 0n);
    const failed: FailedInvite[] = [];
    let invited = 0;
    for (const user of [...new Set(users)].filter((u) => u !== this.botUserId)) {
      try {
        (await this.rest.get(Routes.guildMember(guild, user))) as APIGuildMember;
        if (hidden) {
          await this.rest.put(Routes.channelPermission(channel, user), {
            body: { type: OverwriteType.Member, allow: String(PermissionFlagsBits.ViewChannel | PermissionFlagsBits.SendMessages), deny: '0' },
          });
        }
        invited += 1;
      } catch (e) {
        const err = toChatError(e, 'invite');
        if (err.kind !== 'permanent') throw err;
        const code = codeOf(err);
        const reason = code === UNKNOWN_MEMBER || code === UNKNOWN_USER ? 'is not a member of this Discord server' : `could not be given access (${err.message})`;
        failed.push({ user, error: String(code ?? err.code ?? 'error'), reason });
      }
    }
    return { channel, invited, failed };
  }

  /**
   * The members of server roles (a policy's `group:<role id>`). "List Guild Members" is "restricted according to
   * whether the GUILD_MEMBERS Privileged Intent is enabled for your application"
   * (https://discord.com/developers/docs/resources/guild#list-guild-members): without it, every role is reported as
   * not expanded, saying which switch to turn on, and the people named one by one are still given access.
   */
  private async expandGroups(guild: string | undefined, groups: string[]): Promise<EffectResults['expandGroups']> {
    if (!guild) throw new ChatError('Discord: no server', 'permanent', 'no_guild');
    const roles = (await this.call('expandGroups', () => this.rest.get(Routes.guildRoles(guild)))) as { id: string; name: string }[];
    const failedGroups: FailedGroup[] = [];
    const wanted = new Set<string>();
    for (const g of new Set(groups)) {
      if (roles.some((r) => r.id === g)) wanted.add(g);
      else failedGroups.push({ group: g, error: '10011', reason: 'is not a role of this Discord server' });
    }
    const users = new Set<string>();
    if (wanted.size) {
      try {
        let after = '0';
        for (;;) {
          const page = (await this.rest.get(Routes.guildMembers(guild), { query: new URLSearchParams({ limit: '1000', after }) })) as APIGuildMember[];
          for (const m of page) if (!m.user.bot && m.roles.some((r) => wanted.has(r))) users.add(m.user.id);
          if (page.length < 1000) break;
          after = page[page.length - 1]!.user.id;
        }
      } catch (e) {
        const err = toChatError(e, 'expandGroups');
        if (err.kind !== 'permanent') throw err;
        for (const g of wanted)
          failedGroups.push({
            group: g,
            error: String(codeOf(err) ?? err.code ?? 'error'),
            reason: 'cannot be read: Muster needs the Server Members intent (Developer Portal → Bot → Privileged Gateway Intents)',
          });
        return { users: [], failedGroups };
      }
    }
    return { users: [...users].filter((u) => u !== this.botUserId).sort(), failedGroups };
  }

  /**
   * Discord cannot archive a channel: it is locked (nobody may post, Muster neither) and moved to the archive category.
   * As in an archived Slack channel, a post after the lock is refused (403, permanent): services post their last words
   * and redraw the card before they archive. Muster keeps seeing and reading the channel (Edit Message asks only that
   * the author edit its own content: https://discord.com/developers/docs/resources/message#edit-message).
   */
  private async archive(guild: string | undefined, channelRef: string): Promise<void> {
    if (!guild) throw new ChatError('Discord: no server', 'permanent', 'no_guild');
    const channel = await this.channelId(guild, channelRef);
    const parent = await this.category(guild, this.o.archiveCategory);
    // An overwrite can only deny what the bot holds: SEND_MESSAGES. The bot's own overwrite (in a private channel it
    // allows SEND_MESSAGES, and a member overwrite wins over @everyone's) denies it too.
    if (this.botUserId) {
      const bot = this.botUserId;
      const allow = BOT_IN_PRIVATE & ~PermissionFlagsBits.SendMessages;
      await this.call('archive', () =>
        this.rest.put(Routes.channelPermission(channel, bot), { body: { type: OverwriteType.Member, allow: String(allow), deny: String(PermissionFlagsBits.SendMessages) } }),
      );
    }
    // PUT replaces @everyone's overwrite: keep what it denied already (a private channel stays hidden).
    const ch = (await this.call('archive', () => this.rest.get(Routes.channel(channel)))) as APIChannel & { permission_overwrites?: APIOverwrite[] };
    const everyone = (ch.permission_overwrites ?? []).find((x) => x.id === guild);
    const deny = (everyone ? BigInt(everyone.deny) : 0n) | PermissionFlagsBits.SendMessages;
    const allow = (everyone ? BigInt(everyone.allow) : 0n) & ~PermissionFlagsBits.SendMessages;
    await this.call('archive', () => this.rest.put(Routes.channelPermission(channel, guild), { body: { type: OverwriteType.Role, allow: String(allow), deny: String(deny) } }));
    if (parent) await this.call('archive', () => this.rest.patch(Routes.channel(channel), { body: { parent_id: parent, lock_permissions: false } }));
  }
}

/** The guild of a workspace id `discord:<guild>`. */
export function guildOf(workspaceId: string | null): string | undefined {
  return workspaceId?.startsWith('discord:') ? workspaceId.slice('discord:'.length) : undefined;
}

/** A nonce per effect (Discord: at most 25 characters): the same effect retried is the same message. */
function nonceOf(ctx: PerformContext): string {
  return `muster-${ctx.effectId}`.slice(0, 25);
}

function body(c: { text?: Text; message?: Message }): RESTPostAPIChannelMessageJSONBody {
  if (c.message) {
    const m = discordMessage(c.message);
    return { content: m.content, embeds: m.embeds, components: m.components, allowed_mentions: m.allowed_mentions };
  }
  const text = c.text ?? '';
  return { content: discordMarkdown(text, { max: 2000 }), embeds: [], components: [], allowed_mentions: allowedMentions(text) };
}

export { CANNOT_DM };
export type { FailedGroup };
