import { DiscordAPIError, HTTPError, RateLimitError, REST, type RawFile } from '@discordjs/rest';
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
import { allowedMentions, discordMarkdown, plainDiscord } from './markdown.ts';
import { discordMessage } from './render.ts';

/** Discord's REST base without the version (DISCORD_API_URL ends with /v10): what @discordjs/rest takes. */
export function restOptions(apiUrl: string): { api: string; version: string } {
  const m = /^(.*?)\/v(\d+)\/?$/.exec(apiUrl.replace(/\/+$/, ''));
  return m ? { api: m[1]!, version: m[2]! } : { api: apiUrl.replace(/\/+$/, ''), version: '10' };
}

/** A REST client for the bot token at DISCORD_API_URL. Waits longer than 5 s go back to the outbox as rate_limited. */
export function createDiscordRest(token: string, apiUrl: string): REST {
  return new REST({ ...restOptions(apiUrl), timeout: 10_000, retries: 1, rejectOnRateLimit: (info) => info.retryAfter > 5_000 }).setToken(token);
}

/**
 * Discord's errors as the outbox needs them (https://discord.com/developers/docs/topics/opcodes-and-status-codes):
 * a 429 is a rate limit (never an attempt spent), 4xx refusals are permanent (Discord did not do it), 5xx and
 * lost connections leave the outcome unknown.
 */
export function toChatError(e: unknown, what = ''): ChatError {
  if (e instanceof ChatError) return e;
  const where = what ? `${what}: ` : '';
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
}

/**
 * What the bot needs in a private incident channel: see it, post, read back, embed, attach, pin (PIN_MESSAGES, split
 * from MANAGE_MESSAGES in 2025: https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags).
 * An overwrite can only grant what the bot itself holds in the server (docs/discord-setup.md lists them).
 */
export const BOT_IN_PRIVATE =
  PermissionFlagsBits.ViewChannel | PermissionFlagsBits.SendMessages | PermissionFlagsBits.ReadMessageHistory | PermissionFlagsBits.EmbedLinks | PermissionFlagsBits.AttachFiles | PermissionFlagsBits.PinMessages;

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
  readonly capabilities: Capabilities = { pins: true, bookmarks: false, userGroups: false, threads: false, fileUpload: true, appHome: false };
  botUserId?: string;
  private readonly channelsByGuild = new Map<string, { at: number; channels: APIChannel[] }>();

  constructor(private readonly o: DiscordPortOptions) {}

  get rest(): REST {
    return this.o.rest;
  }

  async perform<K extends EffectOp>(effect: { op: K; args: PortArgs<K> }, ctx: PerformContext = { effectId: 0, uncertain: false, createdAt: new Date(), workspaceId: null, now: new Date() }): Promise<EffectResults[K]> {
    const e = effect as PortEffect;
    const guild = guildOf(ctx.workspaceId);
    let out: unknown;
    switch (e.op) {
      case 'postMessage': {
        if (e.args.threadTs) throw new ChatError('Discord: replies in a thread are not supported by this port', 'permanent', 'no_threads');
        const channel = await this.channelId(guild, e.args.channel);
        const m = await this.post(channel, body(e.args), nonceOf(ctx));
        out = { channel, ts: m.id };
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
        const m = await this.post(channel, body(e.args), nonceOf(ctx));
        out = { channel, ts: m.id };
        break;
      }
      case 'reply':
        out = await this.reply(e.args, ctx);
        break;
      case 'createChannel':
        out = await this.createChannel(guild, e.args.name, e.args.isPrivate === true, ctx.uncertain);
        break;
      case 'expandGroups':
        throw new ChatError('Discord: this port does not expand groups', 'permanent', 'no_user_groups');
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
        const channel = await this.channelId(guild, e.args.channel);
        const file: RawFile = { name: e.args.filename, data: Buffer.from(e.args.content, 'utf8'), contentType: 'text/markdown' };
        const content = e.args.comment ? discordMarkdown(e.args.comment, { max: 2000 }) : '';
        const m = (await this.call('uploadFile', () =>
          this.rest.post(Routes.channelMessages(channel), {
            body: { content, nonce: nonceOf(ctx), enforce_nonce: true, allowed_mentions: allowedMentions(e.args.comment ?? '') },
            files: [file],
          }),
        )) as APIMessage;
        out = { fileId: m.attachments[0]?.id, permalink: m.attachments[0]?.url, ...(ctx.uncertain ? { adopted: true } : {}) };
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

  private async post(channel: string, payload: RESTPostAPIChannelMessageJSONBody, nonce: string): Promise<APIMessage> {
    // "If true and nonce is present, it will be checked for uniqueness in the past few minutes. If another message was
    // created by the same author with the same nonce, that message will be returned and no new message will be
    // created." (https://discord.com/developers/docs/resources/message#create-message)
    return (await this.call('postMessage', () => this.rest.post(Routes.channelMessages(channel), { body: { ...payload, nonce, enforce_nonce: true } }))) as APIMessage;
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
    if (!args.fallbackUser) return { via: 'reply' };
    const channel = await this.dmChannel(args.fallbackUser);
    const m = await this.post(channel, body(args), nonceOf(ctx));
    return { via: 'dm', channel, ts: m.id };
  }

  /** `#name` (a policy's channel) or an id. */
  private async channelId(guild: string | undefined, ref: string): Promise<string> {
    if (!ref.startsWith('#')) return ref;
    if (!guild) throw new ChatError(`Discord: no server to look ${ref} up in`, 'permanent', 'no_guild');
    const name = ref.slice(1);
    const hit = (await this.guildChannels(guild)).find((c) => 'name' in c && c.name === name && c.type === ChannelType.GuildText);
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
          await this.rest.put(Routes.channelPermission(channel, user), { body: { type: OverwriteType.Member, allow: String(PermissionFlagsBits.ViewChannel | PermissionFlagsBits.SendMessages), deny: '0' } });
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

  /** Discord cannot archive a channel: it is locked (nobody may post) and moved to the archive category. */
  private async archive(guild: string | undefined, channelRef: string): Promise<void> {
    if (!guild) throw new ChatError('Discord: no server', 'permanent', 'no_guild');
    const channel = await this.channelId(guild, channelRef);
    const parent = await this.category(guild, this.o.archiveCategory);
    // An overwrite can only deny what the bot holds: SEND_MESSAGES. The bot keeps its own access first, so that what it
    // posts after the lock (a late redraw, a notice) still goes through.
    if (this.botUserId) {
      const bot = this.botUserId;
      await this.call('archive', () => this.rest.put(Routes.channelPermission(channel, bot), { body: { type: OverwriteType.Member, allow: String(BOT_IN_PRIVATE), deny: '0' } }));
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
