import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ComponentType,
  GatewayIntentBits,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  type APIInteraction,
  type APIMessage,
} from 'discord-api-types/v10';
import { stuckEffects } from '../../support/store.ts';
import { startDiscordHarness, type DiscordHarness } from '../../support/discordHarness.ts';
import { APPLICATION_ID, BOT_USER_ID, GENERAL_CHANNEL_ID, GUILD_ID } from '../../support/fakeDiscord.ts';
import { FakeDiscordGateway, PRIVILEGED_INTENTS } from '../../support/fakeDiscordGateway.ts';
import { commands } from '../../../commands/index.ts';
import { discordTimelineEvents, GATEWAY_INTENTS, PUSHPIN, startDiscordGateway, type DiscordGateway, type PinEvent, type ReactionEvent } from '../../../src/platforms/discord/gateway.ts';
import { userIdOf } from '../../../src/store/identity.ts';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';

/**
 * The gateway transport against a local WebSocket stand-in (test/support/fakeDiscordGateway.ts): discord.js's real
 * Client fetches GET /gateway/bot from FakeDiscord, connects, identifies and receives dispatches; interactions are
 * answered through FakeDiscord's interaction callback; pins and 📌 reactions reach the incident timeline in the
 * suite's database (SQLite and PostgreSQL).
 */
const TOKEN = 'discord-test-token'; // the harness's DISCORD_TOKEN
const DANA = '1300000000000000002';
const RILEY = '1300000000000000003';
const PEOPLE = [
  { id: DANA, username: 'dana', global_name: 'Dana Okafor' },
  { id: RILEY, username: 'riley' },
];
const log = pino({ level: process.env.MUSTER_TEST_LOG ?? 'silent' });

// biome-ignore lint: loose views of Discord's objects
type Loose = any;

let h: DiscordHarness;
let gw: FakeDiscordGateway;
let gateway: DiscordGateway | undefined;
let seen: { pins: PinEvent[]; reactions: ReactionEvent[]; pinsUpdates: { guildId: string; channelId: string }[] };

beforeEach(async () => {
  h = await startDiscordHarness({ users: PEOPLE });
  gw = await FakeDiscordGateway.start({ fake: h.discord, token: TOKEN });
  seen = { pins: [], reactions: [], pinsUpdates: [] };
  gateway = undefined;
});
afterEach(async () => {
  try {
    await gateway?.stop();
    await h.flush();
    expect(await stuckEffects(h.muster.db)).toEqual([]);
    expect(gw.errors, 'nothing the stand-in refused').toEqual([]);
  } finally {
    await gw.close();
    await h.close();
  }
});

/** The gateway with deps from the started Muster, its timeline wired as the composition root would. */
async function start(token = TOKEN, o: { onPin?: (e: PinEvent) => Promise<void>; loginTimeoutMs?: number } = {}): Promise<DiscordGateway> {
  const rest = h.muster.discord!.rest;
  const { kernel, services } = h.muster;
  const timeline = discordTimelineEvents({ kernel, services, rest, log });
  const g = await startDiscordGateway({
    token,
    apiUrl: h.discord.api,
    deps: { applicationId: APPLICATION_ID, kernel, services, commands, rest, log },
    onPin: async (e) => {
      seen.pins.push(e);
      await (o.onPin ?? timeline.onPin)(e);
    },
    onReaction: async (e) => {
      seen.reactions.push(e);
      await timeline.onReaction(e);
    },
    onPinsUpdate: async (e) => {
      seen.pinsUpdates.push(e);
      await timeline.onPinsUpdate!(e);
    },
    log,
    ...(o.loginTimeoutMs ? { loginTimeoutMs: o.loginTimeoutMs } : {}),
  });
  gateway = g;
  return g;
}

/** Sends an interaction over the gateway and waits for Muster's callback to reach FakeDiscord. */
async function overGateway(i: APIInteraction): Promise<{ type?: number; data?: Loose }> {
  expect(gw.dispatch('INTERACTION_CREATE', i)).toBe(1);
  const [first] = await h.discord.waitFor((f) => (f.responsesTo(i.id).length ? f.responsesTo(i.id) : undefined), 5000);
  expect(first!.kind).toBe('callback');
  return { type: first!.type, data: first!.data };
}

function slash(name: string, sub: string, options: Record<string, string>, userId: string, channelId = GENERAL_CHANNEL_ID): APIInteraction {
  const opts = Object.entries(options).map(([k, v]) => ({ name: k, type: ApplicationCommandOptionType.String, value: v }));
  const data = { id: '1200000000000000001', name, type: ApplicationCommandType.ChatInput, options: [{ name: sub, type: ApplicationCommandOptionType.Subcommand, options: opts }] };
  return h.discord.interaction({ type: InteractionType.ApplicationCommand, data, userId, channelId, guildId: GUILD_ID });
}

function button(channelId: string, messageId: string, label: string, userId: string): APIInteraction {
  const message = h.discord.message(channelId, messageId) as Loose;
  const b = (message?.components ?? []).flatMap((r: Loose) => r.components ?? []).find((x: Loose) => x.label === label);
  if (!b?.custom_id) throw new Error(`no button "${label}" on ${messageId}`);
  return h.discord.interaction({
    type: InteractionType.MessageComponent,
    data: { custom_id: b.custom_id, component_type: ComponentType.Button },
    userId,
    channelId,
    guildId: GUILD_ID,
    message: messageId,
  });
}

/** Declares an incident over the gateway; its channel and card once the outbox has run. */
async function declare(title: string): Promise<{ channelId: string; cardId: string }> {
  const answer = await overGateway(slash('incident', 'declare', { severity: 'P2', title }, DANA));
  expect(answer.type).toBe(InteractionResponseType.ChannelMessageWithSource);
  expect(JSON.stringify(answer.data)).toContain('INC-1');
  await h.flush();
  const channel = h.discord.allChannels().find((c: Loose) => c.name?.startsWith('inc-1-'));
  expect(channel, 'the incident channel').toBeDefined();
  const card = h.discord.messages(channel!.id).find((m: Loose) => (m.embeds ?? []).length > 0);
  expect(card, 'the incident card').toBeDefined();
  return { channelId: channel!.id, cardId: card!.id };
}

const pinnedEntries = () => h.muster.db.read((tx) => tx.timelineEntry.findMany({ where: { kind: 'pinned' }, orderBy: { id: 'asc' } }));
const reaction = (t: 'MESSAGE_REACTION_ADD' | 'MESSAGE_REACTION_REMOVE', channelId: string, m: APIMessage, userId: string, emoji = PUSHPIN) =>
  gw.dispatch(t, {
    user_id: userId,
    channel_id: channelId,
    message_id: m.id,
    guild_id: GUILD_ID,
    emoji: { id: null, name: emoji },
    burst: false,
    type: 0,
    ...(t === 'MESSAGE_REACTION_ADD' ? { message_author_id: m.author.id } : {}),
  });

describe('connecting', () => {
  it('asks GET /gateway/bot, connects with v=10&encoding=json and no compression, identifies with the three non-privileged intents', async () => {
    const g = await start();
    expect(g.botUserId).toBe(BOT_USER_ID);
    expect(h.discord.calls.filter((c) => c.route === 'GET /gateway/bot').map((c) => c.status)).toEqual([200]);
    expect(gw.connections.map((c) => c.query)).toEqual([{ v: '10', encoding: 'json' }]);
    expect(gw.identifies).toHaveLength(1);
    const id = gw.identifies[0]!;
    expect(id.intents).toBe(GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages | GatewayIntentBits.GuildMessageReactions);
    expect(id.intents).toBe(GATEWAY_INTENTS.reduce((a, b) => a | b, 0));
    expect(id.intents & PRIVILEGED_INTENTS).toBe(0);
    expect(id.compress).toBe(false);
    expect(id.shard).toEqual([0, 1]);
    expect(Object.keys(id.properties).sort()).toEqual(['browser', 'device', 'os']);
    expect(gw.live).toBe(1);
  });

  it('heartbeats at the interval Hello gives, with the last sequence, and at once when the gateway asks', async () => {
    await gw.close();
    gw = await FakeDiscordGateway.start({ fake: h.discord, token: TOKEN, heartbeatIntervalMs: 60 });
    await start();
    const conn = gw.connections[0]!;
    await gw.waitFor(() => conn.heartbeats.length >= 3, 3000, 'three heartbeats');
    // READY is s 1 and GUILD_CREATE s 2: every beat after them carries 2
    expect(conn.heartbeats.at(-1)).toBe(2);

    await gateway!.stop();
    await gw.close();
    gw = await FakeDiscordGateway.start({ fake: h.discord, token: TOKEN, heartbeatIntervalMs: 600_000 });
    await start();
    const quiet = gw.connections[0]!;
    const before = quiet.heartbeats.length;
    gw.requestHeartbeat();
    await gw.waitFor(() => quiet.heartbeats.length > before, 2000, 'the requested heartbeat');
  });

  it('a bad token rejects start-up: 401 on GET /gateway/bot, or the gateway closing with 4004', async () => {
    h.discord.botToken = TOKEN;
    await expect(start('not-the-token')).rejects.toThrow(/Discord gateway login failed: Discord refused the bot token \(An invalid token was provided\.\)/);
    expect(gw.connections).toEqual([]);
    gateway = undefined;

    // REST takes any token here; the gateway does not
    h.discord.botToken = undefined;
    await expect(start('not-the-token')).rejects.toThrow(/Discord refused the bot token \(Authentication failed\)/);
    expect(gw.connections.map((c) => c.closed?.code)).toEqual([4004]);
    expect(gw.identifies).toEqual([]);
    gateway = undefined;
  });

  it('stop() closes the socket with 1000, which ends the session: later events reach nobody', async () => {
    const g = await start();
    await g.stop();
    expect(gw.connections.map((c) => c.closed)).toEqual([{ code: 1000, reason: expect.any(String), by: 'client' }]);
    expect(gw.live).toBe(0);
    const i = slash('incident', 'declare', { severity: 'P2', title: 'Too late' }, DANA);
    expect(gw.dispatch('INTERACTION_CREATE', i)).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.discord.responsesTo(i.id)).toEqual([]);
  });

  it('stop() waits for the events being handled', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const g = await start(TOKEN, { onPin: () => held });
    const m = h.discord.addMessage(GENERAL_CHANNEL_ID, { authorId: DANA, content: 'hold on' });
    gw.dispatch('MESSAGE_CREATE', h.discord.pinAs(GENERAL_CHANNEL_ID, m.id, RILEY));
    await vi.waitFor(() => expect(seen.pins).toHaveLength(1), { timeout: 5000 });
    let stopped = false;
    const stopping = g.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
  });

  it('gives up when no READY comes in time, and leaves no connection behind', async () => {
    // a gateway that hangs up on every connection (4000 Unknown error: discord.js reconnects)
    const attempts: number[] = [];
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      attempts.push(Date.now());
      ws.close(4000, 'Unknown error');
    });
    try {
      h.discord.gatewayUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
      await expect(start(TOKEN, { loginTimeoutMs: 1500 })).rejects.toThrow(/Discord gateway login failed: no READY from the gateway within 1.5 s/);
      gateway = undefined;
      expect(attempts.length).toBeGreaterThan(0);
      const after = attempts.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(attempts.length, 'no reconnection after giving up').toBe(after);
    } finally {
      await new Promise((r) => wss.close(r));
      h.discord.gatewayUrl = gw.url;
    }
  });

  it('resumes after the connection drops, and gets what was dispatched meanwhile', async () => {
    await start();
    gw.drop();
    // dispatched while the client is away: replayed on Resume
    const i = slash('incident', 'declare', { severity: 'P2', title: 'Lost and found' }, DANA);
    gw.dispatch('INTERACTION_CREATE', i);
    await gw.waitFor((g) => g.connections.length === 2 && g.live === 1, 5000, 'the resumed connection');
    expect(gw.connections[1]!.how).toBe('resume');
    expect(gw.identifies).toHaveLength(1);
    const [first] = await h.discord.waitFor((f) => (f.responsesTo(i.id).length ? f.responsesTo(i.id) : undefined), 5000);
    expect(first!.type).toBe(InteractionResponseType.ChannelMessageWithSource);
  });
});

describe('interactions over the gateway', () => {
  it('a slash command, a button click and a form are answered through the interaction callback', async () => {
    await start();
    const { channelId, cardId } = await declare('Checkout down');
    const answer = await overGateway(slash('incident', 'declare', { severity: 'P2', title: 'Search slow' }, RILEY));
    expect(answer.type).toBe(InteractionResponseType.ChannelMessageWithSource);
    expect(Number(answer.data?.flags ?? 0) & MessageFlags.Ephemeral).toBe(MessageFlags.Ephemeral);
    expect(JSON.stringify(answer.data)).toContain('INC-2');

    const click = await overGateway(button(channelId, cardId, 'Take commander', DANA));
    expect(click.type).toBe(InteractionResponseType.DeferredMessageUpdate);
    await h.flush();
    expect(JSON.stringify(h.discord.message(channelId, cardId)?.embeds)).toContain(`<@${DANA}>`);

    // a modal must be the first response: it goes out as the callback too
    const form = await overGateway(button(channelId, cardId, 'Post update', DANA));
    expect(form.type).toBe(InteractionResponseType.Modal);
    expect(form.data?.custom_id).toBeTruthy();
    // every callback was taken (no 10062 Unknown interaction, no 40060 already acknowledged)
    const callbacks = h.discord.calls.filter((c) => c.route === 'POST /interactions/:id/:token/callback');
    expect(callbacks.map((c) => c.status)).toEqual([204, 204, 204, 204]);
  });
});

describe('the timeline from pins and 📌 reactions', () => {
  it('a 📌 on a message in the incident channel puts it on the timeline; removing the last 📌 takes it off', async () => {
    await start();
    const { channelId } = await declare('Checkout down');
    const m = h.discord.addMessage(channelId, { authorId: RILEY, content: 'Failover to the second provider started' });
    h.discord.addReaction(channelId, m.id, PUSHPIN, DANA);
    reaction('MESSAGE_REACTION_ADD', channelId, m, DANA);
    await vi.waitFor(async () => expect(await pinnedEntries()).toHaveLength(1), { timeout: 5000 });
    expect(seen.reactions).toEqual([{ guildId: GUILD_ID, channelId, messageId: m.id, userId: DANA, emoji: PUSHPIN, removed: false }]);
    const [entry] = await pinnedEntries();
    expect(entry).toMatchObject({ key: `msg:${m.id}`, permalink: `https://discord.com/channels/${GUILD_ID}/${channelId}/${m.id}`, actorId: userIdOf(`discord:${GUILD_ID}`, RILEY), removed: false });
    expect(entry!.text).toContain('Failover to the second provider started');

    h.discord.removeReaction(channelId, m.id, PUSHPIN, DANA);
    reaction('MESSAGE_REACTION_REMOVE', channelId, m, DANA);
    await vi.waitFor(async () => expect((await pinnedEntries())[0]?.removed).toBe(true), { timeout: 5000 });
    expect(seen.reactions.at(-1)).toMatchObject({ messageId: m.id, removed: true });
  });

  it('other emoji, the bot’s own 📌 and 📌 outside incident channels change nothing', async () => {
    await start();
    const { channelId } = await declare('Checkout down');
    const m = h.discord.addMessage(channelId, { authorId: RILEY, content: 'thumbs' });
    reaction('MESSAGE_REACTION_ADD', channelId, m, DANA, '\u{1F44D}');
    reaction('MESSAGE_REACTION_ADD', channelId, m, BOT_USER_ID);
    const elsewhere = h.discord.addMessage(GENERAL_CHANNEL_ID, { authorId: RILEY, content: 'not an incident' });
    reaction('MESSAGE_REACTION_ADD', GENERAL_CHANNEL_ID, elsewhere, DANA);
    await vi.waitFor(() => expect(seen.reactions).toHaveLength(1), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.reactions).toEqual([{ guildId: GUILD_ID, channelId: GENERAL_CHANNEL_ID, messageId: elsewhere.id, userId: DANA, emoji: PUSHPIN, removed: false }]);
    expect(await pinnedEntries()).toEqual([]);
  });

  it('a pin (the type-6 system message) puts the pinned message on the timeline; an unpin (CHANNEL_PINS_UPDATE) takes it off', async () => {
    await start();
    const { channelId, cardId } = await declare('Checkout down');
    // Muster pinned its own card: that system message is not a timeline pin
    const own = h.discord.messages(channelId).find((x) => x.type === 6 && x.message_reference?.message_id === cardId);
    expect(own, 'the system message of the card pin').toBeDefined();
    gw.dispatch('MESSAGE_CREATE', { ...own, guild_id: GUILD_ID });

    const m = h.discord.addMessage(channelId, { authorId: DANA, content: 'Root cause: an expired certificate' });
    const sys = h.discord.pinAs(channelId, m.id, RILEY)!;
    expect(sys.type).toBe(6);
    gw.dispatch('MESSAGE_CREATE', sys);
    await vi.waitFor(async () => expect(await pinnedEntries()).toHaveLength(1), { timeout: 5000 });
    expect(seen.pins).toEqual([{ guildId: GUILD_ID, channelId, messageId: m.id, by: RILEY }]);
    const [entry] = await pinnedEntries();
    expect(entry).toMatchObject({ key: `msg:${m.id}`, actorId: userIdOf(`discord:${GUILD_ID}`, DANA), removed: false });
    expect(entry!.text).toContain('Root cause: an expired certificate');
    const audit = await h.muster.db.read((tx) => tx.auditEntry.findMany({ where: { action: 'incident.timeline.pin' } }));
    expect(audit.map((a) => a.actorId)).toEqual([userIdOf(`discord:${GUILD_ID}`, RILEY)]);

    // a 📌 added and removed again: the pin still holds it
    h.discord.addReaction(channelId, m.id, PUSHPIN, DANA);
    reaction('MESSAGE_REACTION_ADD', channelId, m, DANA);
    h.discord.removeReaction(channelId, m.id, PUSHPIN, DANA);
    reaction('MESSAGE_REACTION_REMOVE', channelId, m, DANA);
    await vi.waitFor(() => expect(seen.reactions).toHaveLength(2), { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 200));
    expect((await pinnedEntries()).map((e) => e.removed)).toEqual([false]);

    h.discord.unpinAs(channelId, m.id);
    gw.dispatch('CHANNEL_PINS_UPDATE', { guild_id: GUILD_ID, channel_id: channelId, last_pin_timestamp: null });
    await vi.waitFor(async () => expect((await pinnedEntries())[0]?.removed).toBe(true), { timeout: 5000 });
    expect(seen.pinsUpdates).toEqual([{ guildId: GUILD_ID, channelId }]);
    // the card is still pinned, and was never an entry
    expect((await pinnedEntries()).map((e) => e.key)).toEqual([`msg:${m.id}`]);
  });

  it('without the Message Content intent the entry says the text was not shared, unless the message mentions the bot', async () => {
    await start();
    const { channelId } = await declare('Checkout down');
    h.discord.messageContentIntent = false;
    const hidden = h.discord.addMessage(channelId, { authorId: DANA, content: 'Rolled back the deploy' });
    const mentioned = h.discord.addMessage(channelId, { authorId: DANA, content: `<@${BOT_USER_ID}> customers see errors again` });
    gw.dispatch('MESSAGE_CREATE', h.discord.pinAs(channelId, hidden.id, RILEY));
    gw.dispatch('MESSAGE_CREATE', h.discord.pinAs(channelId, mentioned.id, RILEY));
    await vi.waitFor(async () => expect(await pinnedEntries()).toHaveLength(2), { timeout: 5000 });
    const byKey = Object.fromEntries((await pinnedEntries()).map((e) => [e.key, e]));
    expect(byKey[`msg:${hidden.id}`]!.text).not.toContain('Rolled back');
    expect(byKey[`msg:${hidden.id}`]!.text).toContain('Message Content intent');
    expect(byKey[`msg:${hidden.id}`]!.permalink).toBe(`https://discord.com/channels/${GUILD_ID}/${channelId}/${hidden.id}`);
    expect(byKey[`msg:${mentioned.id}`]!.text).toContain('customers see errors again');
  });
});
