import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import pino from 'pino';
import { ApplicationCommandOptionType, ApplicationCommandType, ComponentType, InteractionType, type APIInteraction } from 'discord-api-types/v10';
import { FakeDiscord, APPLICATION_ID, GUILD_ID, GENERAL_CHANNEL_ID } from './fakeDiscord.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { parseEnv } from '../../src/config/env.ts';
import { defaultPolicy, type Policy } from '../../src/config/policy.ts';
import { ManualClock, type Clock } from '../../src/domain/clock.ts';
import { startMuster, type Muster } from '../../src/muster.ts';
import { AUDIT_KEY } from './auditKey.ts';

/** A test application key pair: Muster gets the public key, the harness signs with the private one. */
export function discordKeys(): { publicKeyHex: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKeyHex: der.subarray(der.length - 32).toString('hex'), privateKey };
}

export function signInteraction(privateKey: KeyObject, body: string, timestamp = String(Math.floor(Date.now() / 1000))): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-signature-timestamp': timestamp,
    'x-signature-ed25519': sign(null, Buffer.from(timestamp + body), privateKey).toString('hex'),
  };
}

export interface InteractionAnswer {
  status: number;
  /** the HTTP response body: the interaction response (type, data) */
  body: { type?: number; data?: Record<string, unknown> } & Record<string, unknown>;
}

export interface DiscordHarness {
  discord: FakeDiscord;
  muster: Muster;
  tdb: TestDatabase;
  clock: ManualClock;
  /** Sends a signed interaction as Discord would, to the real endpoint. */
  send(interaction: APIInteraction, opts?: { badSignature?: boolean; noSignature?: boolean }): Promise<InteractionAnswer>;
  /** `/command subcommand` with options (strings, numbers; people as user ids with `user:` kind) as a person. */
  command(name: string, sub: string, options: Record<string, string | number | { user: string }>, userId: string, channelId?: string): Promise<InteractionAnswer>;
  /** Clicks the button labelled `label` on the message, as a person. */
  click(channelId: string, messageId: string, label: string, userId: string): Promise<InteractionAnswer>;
  /** Submits the modal Muster opened (its data as answered) with field id → value. */
  submit(modal: Record<string, unknown>, values: Record<string, string>, userId: string, channelId?: string): Promise<InteractionAnswer>;
  /** Runs the message command `name` on a message. */
  messageCommand(name: string, channelId: string, messageId: string, userId: string): Promise<InteractionAnswer>;
  flush(): Promise<void>;
  tick(): Promise<number>;
  close(): Promise<void>;
}

export interface DiscordHarnessOptions {
  policy?: Policy;
  users?: { id: string; username: string; global_name?: string; acceptsDms?: boolean }[];
  admins?: string[];
  clock?: Clock;
  env?: Record<string, string>;
}

/** A Muster with Discord only, on a fresh database, talking to FakeDiscord over HTTP, driven by signed interactions. */
export async function startDiscordHarness(o: DiscordHarnessOptions = {}): Promise<DiscordHarness> {
  const discord = await FakeDiscord.start();
  for (const u of o.users ?? []) discord.addUser(u);
  const keys = discordKeys();
  const tdb = await createTestDatabase();
  const clock = o.clock ?? new ManualClock(new Date());
  const env = parseEnv({
    PORT: '0',
    DISCORD_TOKEN: 'discord-test-token',
    DISCORD_APPLICATION_ID: APPLICATION_ID,
    DISCORD_PUBLIC_KEY: keys.publicKeyHex,
    DISCORD_API_URL: discord.api,
    DISCORD_ADMINS: (o.admins ?? []).join(','),
    DATABASE_URL: tdb.url,
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
    loops: false,
    dispatcher: { baseBackoffMs: 20, pollMs: 50 },
    inbox: { baseBackoffMs: 20, pollMs: 50 },
  });
  const send: DiscordHarness['send'] = async (interaction, opts = {}) => {
    const body = JSON.stringify(interaction);
    const headers = opts.noSignature ? { 'content-type': 'application/json' } : signInteraction(opts.badSignature ? discordKeys().privateKey : keys.privateKey, body);
    const res = await fetch(`${muster.url}/discord/interactions`, { method: 'POST', headers, body });
    const text = await res.text();
    let parsed: InteractionAnswer['body'] = {};
    try {
      parsed = text ? (JSON.parse(text) as InteractionAnswer['body']) : {};
    } catch {
      parsed = { raw: text };
    }
    return { status: res.status, body: parsed };
  };
  return {
    discord,
    muster,
    tdb,
    clock: clock as ManualClock,
    send,
    async command(name, sub, options, userId, channelId = GENERAL_CHANNEL_ID) {
      const opts = Object.entries(options).map(([k, v]) =>
        typeof v === 'object'
          ? { name: k, type: ApplicationCommandOptionType.User, value: v.user }
          : typeof v === 'number'
            ? { name: k, type: ApplicationCommandOptionType.Integer, value: v }
            : { name: k, type: ApplicationCommandOptionType.String, value: v },
      );
      const data = { id: '1200000000000000001', name, type: ApplicationCommandType.ChatInput, options: [{ name: sub, type: ApplicationCommandOptionType.Subcommand, options: opts }] };
      return send(discord.interaction({ type: InteractionType.ApplicationCommand, data, userId, channelId, guildId: GUILD_ID }));
    },
    async click(channelId, messageId, label, userId) {
      const message = discord.message(channelId, messageId);
      if (!message) throw new Error(`no message ${messageId} in ${channelId}`);
      const rows = (message.components ?? []) as unknown as { components?: { label?: string; custom_id?: string }[] }[];
      const button = rows.flatMap((r) => r.components ?? []).find((b) => b.label === label);
      if (!button?.custom_id) throw new Error(`no button "${label}" on message ${messageId}: ${JSON.stringify(message.components)}`);
      const data = { custom_id: button.custom_id, component_type: ComponentType.Button };
      return send(discord.interaction({ type: InteractionType.MessageComponent, data, userId, channelId, guildId: GUILD_ID, message: messageId }));
    },
    async submit(modal, values, userId, channelId = GENERAL_CHANNEL_ID) {
      const components = (modal.components as { type: number; component?: { type: number; custom_id: string; options?: { value: string }[] } }[]).flatMap((c) => {
        const el = c.component;
        if (!el) return [];
        const v = values[el.custom_id];
        const inner =
          el.type === ComponentType.TextInput
            ? { type: el.type, custom_id: el.custom_id, value: v ?? '' }
            : el.type === ComponentType.RadioGroup
              ? { type: el.type, custom_id: el.custom_id, value: v ?? null }
              : { type: el.type, custom_id: el.custom_id, values: v === undefined ? [] : [v] };
        return [{ type: c.type, component: inner }];
      });
      const data = { custom_id: String(modal.custom_id), components };
      return send(discord.interaction({ type: InteractionType.ModalSubmit, data, userId, channelId, guildId: GUILD_ID }));
    },
    async messageCommand(name, channelId, messageId, userId) {
      const message = discord.message(channelId, messageId);
      const data = { id: '1200000000000000002', name, type: ApplicationCommandType.Message, target_id: messageId, resolved: { messages: { [messageId]: message } } };
      return send(discord.interaction({ type: InteractionType.ApplicationCommand, data, userId, channelId, guildId: GUILD_ID }));
    },
    async flush() {
      await muster.dispatcher.drain(5_000);
    },
    async tick() {
      const fired = await muster.timers.tick();
      await muster.dispatcher.drain(5_000);
      return fired;
    },
    async close() {
      await muster.stop();
      await discord.close();
      await tdb.drop();
    },
  };
}
