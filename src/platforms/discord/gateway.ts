import { randomUUID } from 'node:crypto';
import { Client, Events, GatewayIntentBits, Options, SimpleShardingStrategy, type SessionInfo } from 'discord.js';
import { DiscordAPIError, type REST } from '@discordjs/rest';
import {
  GatewayDispatchEvents,
  InteractionResponseType,
  MessageFlags,
  MessageType,
  Routes,
  type APIInteraction,
  type APIInteractionResponse,
  type APIMessage,
  type GatewayDispatchPayload,
  type RESTGetAPIChannelMessagesPinsResult,
} from 'discord-api-types/v10';
import type { Logger } from 'pino';
import type { Kernel } from '../../services/kernel.ts';
import { DuplicateRequest } from '../../services/kernel.ts';
import type { Services } from '../../services/index.ts';
import type { RequestMeta } from '../../services/types.ts';
import { errorMessage } from '../../../blocks/reply.ts';
import { rt, type Text } from '../../domain/text.ts';
import { handleInteraction, type DiscordInteractionDeps } from './interactions.ts';
import { restOptions } from './chatPort.ts';
import { parseDiscordText } from './markdown.ts';
import { discordMessage } from './render.ts';

/**
 * Discord over the gateway (a discord.js Client): the default transport, which needs no public URL.
 * https://discord.com/developers/docs/events/gateway
 *
 * - Interactions arrive as INTERACTION_CREATE and are answered over HTTP with the interaction callback ("If you are
 *   receiving Interactions over the gateway, you have to respond via HTTP":
 *   https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-callback). The gateway and an
 *   Interactions Endpoint URL are mutually exclusive: with an endpoint URL set in the Developer Portal, interactions
 *   go there and never arrive here.
 * - The timeline is fed by pins and 📌 reactions. A pin is known by its CHANNEL_PINNED_MESSAGE system message
 *   (MESSAGE_CREATE of type 6), whose `message_reference.message_id` names the pinned message and whose author pinned
 *   it: CHANNEL_PINS_UPDATE carries only the channel and `last_pin_timestamp`
 *   (https://discord.com/developers/docs/events/gateway-events#channel-pins-update). Unpinning sends CHANNEL_PINS_UPDATE
 *   only (no system message, no message id): what left is found by reading the pins list again (`onPinsUpdate`).
 * - Reactions: MESSAGE_REACTION_ADD / MESSAGE_REACTION_REMOVE with the emoji 📌. A Unicode emoji's `name` is the
 *   character itself ('📌'), not Slack's short name 'pushpin'
 *   (https://discord.com/developers/docs/resources/emoji#emoji-object-standard-emoji-example).
 * - The bot's own pins (Muster pins its incident cards) and reactions are not passed on.
 *
 * Raw dispatches (`client.on('raw')`, packet `t`/`d`) are used, not discord.js's cached classes: the handlers take the
 * same API objects as the HTTP endpoint, and nothing depends on what discord.js chose to cache.
 * Events are not persisted: one whose handler fails is logged and lost (the gateway does not deliver it again).
 */

/**
 * Guilds (GUILD_CREATE, channels), GuildMessages (MESSAGE_CREATE: the type-6 pin messages), GuildMessageReactions
 * (MESSAGE_REACTION_ADD/REMOVE). INTERACTION_CREATE needs no intent; CHANNEL_PINS_UPDATE comes with Guilds.
 * https://discord.com/developers/docs/events/gateway#list-of-intents
 *
 * No privileged intent. MESSAGE_CONTENT (1 << 15) is not needed because Muster reads no message text from gateway
 * events: the pin and reaction events carry ids, and the pinned message is fetched over REST. That REST read is bound
 * by the same rule, independently of the intents sent when identifying ("HTTP API restrictions are independent of
 * Gateway restrictions"): without the intent enabled for the application, other people's messages come back with empty
 * `content`, `embeds`, `attachments` and `components`, except messages that mention the bot, the bot's own and DMs
 * (https://discord.com/developers/docs/events/gateway#message-content-intent). So a pinned entry then holds the
 * author, the time and the permalink, with the text only when the message mentions the bot; otherwise it says that
 * Discord did not share the text (see `timelineText`). The "Add to timeline" message command keeps the text: the
 * message a message command is used on is one of the documented exceptions.
 */
export const GATEWAY_INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.GuildMessageReactions] as const;

/** 📌 as Discord names it in reaction events (U+1F4CC; Discord sends no variation selector for it). */
export const PUSHPIN = '\u{1F4CC}';

/** How long start-up waits for READY before giving up (a gateway that never answers, a URL that refuses). */
const LOGIN_TIMEOUT_MS = 30_000;
/** How long stop() waits for the events being handled (a deferred interaction runs to its end). */
const DRAIN_MS = 10_000;

export interface PinEvent {
  guildId: string;
  channelId: string;
  messageId: string;
  /** who pinned (the system message's author) */
  by?: string;
}

export interface ReactionEvent {
  guildId: string;
  channelId: string;
  messageId: string;
  userId: string;
  emoji: string;
  removed: boolean;
}

export interface DiscordGatewayOptions {
  token: string;
  /** DISCORD_API_URL (…/api/v10): where discord.js asks for the gateway's address (GET /gateway/bot) */
  apiUrl: string;
  deps: Omit<DiscordInteractionDeps, 'publicKey'>;
  onPin(e: PinEvent): Promise<void>;
  onReaction(e: ReactionEvent): Promise<void>;
  /** CHANNEL_PINS_UPDATE: a message pinned or unpinned in the channel (which one is not said). */
  onPinsUpdate?(e: { guildId: string; channelId: string }): Promise<void>;
  log: Logger;
  /** Default 30 s. */
  loginTimeoutMs?: number;
}

export interface DiscordGateway {
  /** The bot's user id, from READY. */
  readonly botUserId: string;
  /** Closes the connection (close code 1000, which ends the session) and waits for the events being handled. */
  stop(): Promise<void>;
}

/** Connects to Discord's gateway as the bot; resolves once the session is READY, rejects if login fails. */
export async function startDiscordGateway(o: DiscordGatewayOptions): Promise<DiscordGateway> {
  const log = o.log;
  let stopping = false;
  const client = new Client({
    intents: [...GATEWAY_INTENTS],
    rest: restOptions(o.apiUrl),
    ws: { buildStrategy: (manager) => stoppableStrategy(manager, () => stopping) },
    // Muster reads messages over REST when it needs them: discord.js need not keep any.
    makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 0 }),
  });
  let botUserId = '';
  const inFlight = new Set<Promise<void>>();
  const track = (what: string, fields: Record<string, unknown>, work: () => Promise<void>) => {
    const p: Promise<void> = Promise.resolve()
      .then(work)
      .catch((err: unknown) => log.error({ err, ...fields }, `discord gateway: ${what} failed`))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const route = (packet: GatewayDispatchPayload) => {
    switch (packet.t) {
      case GatewayDispatchEvents.Ready:
        botUserId = packet.d.user.id;
        return;
      case GatewayDispatchEvents.InteractionCreate: {
        const i = packet.d as APIInteraction;
        track('interaction', { interaction: i.id }, () => interaction(o.deps, i, log));
        return;
      }
      case GatewayDispatchEvents.MessageCreate: {
        const m = packet.d;
        const ref = m.message_reference;
        if (m.type !== MessageType.ChannelPinnedMessage || !m.guild_id || !ref?.message_id || m.author.id === botUserId) return;
        const e: PinEvent = { guildId: m.guild_id, channelId: ref.channel_id ?? m.channel_id, messageId: ref.message_id, by: m.author.id };
        track('pin', { ...e }, () => o.onPin(e));
        return;
      }
      case GatewayDispatchEvents.MessageReactionAdd:
      case GatewayDispatchEvents.MessageReactionRemove: {
        const r = packet.d;
        const emoji = r.emoji.name ?? '';
        if (!r.guild_id || r.user_id === botUserId || emoji.replace(/\uFE0F$/, '') !== PUSHPIN) return;
        const e: ReactionEvent = { guildId: r.guild_id, channelId: r.channel_id, messageId: r.message_id, userId: r.user_id, emoji, removed: packet.t === GatewayDispatchEvents.MessageReactionRemove };
        track('reaction', { ...e }, () => o.onReaction(e));
        return;
      }
      case GatewayDispatchEvents.ChannelPinsUpdate: {
        const d = packet.d;
        if (!o.onPinsUpdate || !d.guild_id) return;
        const e = { guildId: d.guild_id, channelId: d.channel_id };
        const handler = o.onPinsUpdate;
        track('pins update', e, () => handler(e));
        return;
      }
      default:
        return;
    }
  };

  client.on(Events.Raw, (packet: GatewayDispatchPayload) => {
    try {
      route(packet);
    } catch (err) {
      log.error({ err, t: packet?.t }, 'discord gateway: an event could not be read');
    }
  });
  client.on(Events.Error, (err) => log.error({ err }, 'discord gateway: client error'));
  client.on(Events.ShardError, (err) => log.warn({ err }, 'discord gateway: connection error'));
  client.on(Events.ShardReconnecting, () => {
    if (!stopping) log.info('discord gateway: reconnecting');
  });
  client.on(Events.ShardResume, (_id, replayed) => log.info({ replayed }, 'discord gateway: resumed'));
  client.on(Events.ShardDisconnect, (e) => log.error({ code: e.code }, 'discord gateway: disconnected for good (the gateway refused the session); restart Muster once fixed'));

  const timeoutMs = o.loginTimeoutMs ?? LOGIN_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    const login = client.login(o.token);
    login.catch(() => undefined);
    await Promise.race([
      login,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no READY from the gateway within ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    stopping = true;
    await client.destroy().catch(() => undefined);
    throw new Error(`Discord gateway login failed: ${loginError(e)}`, { cause: e });
  } finally {
    clearTimeout(timer);
  }
  botUserId ||= client.user?.id ?? '';
  log.info({ user: botUserId, intents: GATEWAY_INTENTS.reduce((a, b) => a | b, 0) }, 'discord gateway connected');

  let stopped: Promise<void> | undefined;
  return {
    get botUserId() {
      return botUserId;
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        client.removeAllListeners(Events.Raw);
        await client.destroy();
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((r) => (timer = setTimeout(r, DRAIN_MS)));
        await Promise.race([Promise.allSettled([...inFlight]), late]);
        clearTimeout(timer);
        if (inFlight.size) log.warn({ pending: inFlight.size }, 'discord gateway: stopped with events still being handled');
      })();
      return stopped;
    },
  };
}

type WSManager = ConstructorParameters<typeof SimpleShardingStrategy>[0];

/**
 * @discordjs/ws's own SimpleShardingStrategy, on a manager whose session store answers nothing once Muster is stopping.
 * With the stock set-up, a destroy() that lands while a shard waits its 500 ms before reconnecting (after a drop, or
 * while start-up keeps failing) finds the shard idle and does nothing; the shard then reconnects, identifies with the
 * old token and lives on, unowned (seen with @discordjs/ws 1.2.3: the gateway test "gives up when no READY comes in
 * time" fails without this). A shard reads its session first thing when it connects: left pending, that read stops the
 * reconnection before any socket is opened (a pending promise holds no timer or handle).
 */
function stoppableStrategy(manager: WSManager, stopping: () => boolean): SimpleShardingStrategy {
  const options = manager.options as { retrieveSessionInfo(shardId: number): Awaitable<SessionInfo | null> };
  const retrieve = options.retrieveSessionInfo.bind(options);
  options.retrieveSessionInfo = (shardId) => (stopping() ? new Promise<never>(() => undefined) : retrieve(shardId));
  return new SimpleShardingStrategy(manager);
}

type Awaitable<T> = T | Promise<T>;

/** What went wrong at login, said for whoever set DISCORD_TOKEN. */
function loginError(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  // discord.js turns a 401 on GET /gateway/bot into TokenInvalid; the gateway's close 4004 into "Authentication failed".
  if (code === 'TokenInvalid' || message === 'Authentication failed') return `Discord refused the bot token (${message}): check DISCORD_TOKEN (Developer Portal, Bot, Reset Token).`;
  if (message === 'Used disallowed intents') return `Discord refused the intents (${message}): Muster asks for no privileged intent; is this the right application?`;
  return message;
}

/** One INTERACTION_CREATE: handled as over HTTP, the first answer POSTed to the interaction callback. */
async function interaction(deps: Omit<DiscordInteractionDeps, 'publicKey'>, i: APIInteraction, log: Logger): Promise<void> {
  let answered = false;
  // handleInteraction does not wait for the answer to go out (over HTTP it is the response body): never reject here.
  const respond = async (r: APIInteractionResponse) => {
    answered = true;
    try {
      await deps.rest.post(Routes.interactionCallback(i.id, i.token), { body: r, auth: false });
    } catch (err) {
      log.error({ err, interaction: i.id, type: r.type }, 'discord gateway: the interaction callback failed');
    }
  };
  try {
    await handleInteraction(deps, i, respond);
  } catch (err) {
    log.error({ err, interaction: i.id }, 'discord interaction failed');
    if (!answered) {
      await respond({
        type: InteractionResponseType.ChannelMessageWithSource,
        data: { ...discordMessage(errorMessage(rt`Something went wrong on our side and nothing was changed.`)), flags: MessageFlags.Ephemeral },
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The timeline from gateway events
// ---------------------------------------------------------------------------------------------------------------

export interface TimelineDeps {
  kernel: Kernel;
  services: Services;
  rest: REST;
  log: Logger;
}

const UNKNOWN_MESSAGE = 10008;
/** Discord keeps at most 250 pins a channel (https://discord.com/developers/docs/resources/message#pin-message). */
const MAX_PINS = 250;

/**
 * The text of a pinned message for the timeline. Without the MESSAGE_CONTENT intent Discord returns empty content,
 * embeds, attachments and components for other people's messages, so "empty everywhere" is said as such rather than
 * as a message with no text.
 */
export function timelineText(m: APIMessage): Text {
  if (m.content) return parseDiscordText(m.content);
  if ((m.attachments ?? []).length > 0) return [];
  const described = (m.embeds ?? []).map((e) => e.title ?? e.description ?? '').find(Boolean);
  if (described) return parseDiscordText(described);
  return rt`(Discord does not share this message's text with Muster without the Message Content intent: open the link)`;
}

/**
 * onPin, onReaction and onPinsUpdate that keep incident timelines as src/platforms/slack/events.ts does for Slack:
 * a pin or a 📌 in an incident's channel puts the message on its timeline; an unpin or the last 📌 removed takes it
 * off (kept as removed) unless the other still holds it.
 */
export function discordTimelineEvents(deps: TimelineDeps): Pick<DiscordGatewayOptions, 'onPin' | 'onReaction' | 'onPinsUpdate'> {
  const { services, rest } = deps;
  const meta = (): RequestMeta => ({ requestId: `gateway:${randomUUID()}` });
  const once = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (err) {
      if (!(err instanceof DuplicateRequest)) throw err;
    }
  };
  const incidentOf = (workspaceId: string, channelId: string) => deps.kernel.db.read((tx) => tx.incident.findFirst({ where: { workspaceId, channelId }, select: { id: true } }));
  const fetchMessage = async (channelId: string, messageId: string): Promise<APIMessage | undefined> => {
    try {
      return (await rest.get(Routes.channelMessage(channelId, messageId))) as APIMessage;
    } catch (e) {
      if (e instanceof DiscordAPIError && e.code === UNKNOWN_MESSAGE) return undefined;
      throw e;
    }
  };
  const pushpins = (m: APIMessage) => (m.reactions ?? []).find((r) => r.emoji.id === null && r.emoji.name?.replace(/\uFE0F$/, '') === PUSHPIN)?.count ?? 0;
  const record = async (e: { guildId: string; channelId: string; messageId: string; by: string; via: 'pin' | 'reaction' }) => {
    const workspaceId = `discord:${e.guildId}`;
    if (!(await incidentOf(workspaceId, e.channelId))) return;
    const m = await fetchMessage(e.channelId, e.messageId);
    // A message deleted before we looked is not on the timeline: nothing to record.
    if (!m) return;
    const permalink = `https://discord.com/channels/${e.guildId}/${e.channelId}/${e.messageId}`;
    await once(() => services.incidents.recordPinned(workspaceId, meta(), { channelId: e.channelId, ts: e.messageId, user: m.author.id, text: timelineText(m), permalink, via: e.via, by: e.by }));
  };
  /** Off the timeline when neither a pin nor a 📌 holds it any more (`pinned`: known from the pins list). */
  const release = async (workspaceId: string, channelId: string, messageId: string, pinned?: boolean) => {
    const m = await fetchMessage(channelId, messageId);
    if (m && ((pinned ?? m.pinned) || pushpins(m) > 0)) return;
    await once(() => services.incidents.messageRemoved(workspaceId, meta(), channelId, messageId, m ? 'unpinned' : 'deleted'));
  };
  return {
    onPin: (e) => record({ ...e, by: e.by ?? '', via: 'pin' }),
    async onReaction(e) {
      if (!e.removed) return record({ ...e, by: e.userId, via: 'reaction' });
      const workspaceId = `discord:${e.guildId}`;
      if (await incidentOf(workspaceId, e.channelId)) await release(workspaceId, e.channelId, e.messageId);
    },
    async onPinsUpdate(e) {
      // An unpin names no message: compare the incident's pinned entries with the pins list.
      const workspaceId = `discord:${e.guildId}`;
      const incident = await incidentOf(workspaceId, e.channelId);
      if (!incident) return;
      const entries = await deps.kernel.db.read((tx) => tx.timelineEntry.findMany({ where: { incidentId: incident.id, kind: 'pinned', removed: false }, select: { key: true } }));
      const ids = entries.map((x) => x.key?.replace(/^msg:/, '') ?? '').filter(Boolean);
      if (!ids.length) return;
      const pinned = new Set<string>();
      let before: string | undefined;
      for (let page = 0; page * 50 < MAX_PINS; page++) {
        const r = (await rest.get(Routes.channelMessagesPins(e.channelId), { query: new URLSearchParams({ limit: '50', ...(before ? { before } : {}) }) })) as RESTGetAPIChannelMessagesPinsResult;
        for (const p of r.items) pinned.add(p.message.id);
        if (!r.has_more || !r.items.length) break;
        before = r.items[r.items.length - 1]!.pinned_at;
      }
      for (const id of ids) if (!pinned.has(id)) await release(workspaceId, e.channelId, id, false);
    },
  };
}
