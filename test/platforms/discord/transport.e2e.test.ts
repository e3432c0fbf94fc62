import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { ApplicationCommandOptionType, ApplicationCommandType, InteractionResponseType, InteractionType } from 'discord-api-types/v10';
import { FakeDiscord, APPLICATION_ID, GENERAL_CHANNEL_ID, GUILD_ID } from '../../support/fakeDiscord.ts';
import { FakeDiscordGateway } from '../../support/fakeDiscordGateway.ts';
import { discordKeys } from '../../support/discordHarness.ts';
import { createTestDatabase, type TestDatabase } from '../../support/db.ts';
import { AUDIT_KEY } from '../../support/auditKey.ts';
import { parseEnv } from '../../../src/config/env.ts';
import { defaultPolicy } from '../../../src/config/policy.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { startMuster, StartupError, type Muster } from '../../../src/muster.ts';
import { PUSHPIN } from '../../../src/platforms/discord/gateway.ts';

/**
 * How the composition root picks Discord's transports (PRODUCT.md's runtime contract): without DISCORD_PUBLIC_KEY the
 * gateway (no public URL) carries interactions, pins and reactions; with it, POST /discord/interactions, and
 * DISCORD_GATEWAY=on adds the gateway for pins and reactions.
 */
const TOKEN = 'discord-test-token';
const DANA = '1300000000000000002';
// biome-ignore lint: loose views of Discord's objects
type Loose = any;

let discord: FakeDiscord | undefined;
let gw: FakeDiscordGateway | undefined;
let tdb: TestDatabase | undefined;
let muster: Muster | undefined;
afterEach(async () => {
  await muster?.stop();
  await gw?.close();
  await discord?.close();
  await tdb?.drop();
  muster = undefined;
});

async function start(extra: Record<string, string>): Promise<Muster> {
  discord = await FakeDiscord.start();
  discord.addUser({ id: DANA, username: 'dana' });
  gw = await FakeDiscordGateway.start({ fake: discord, token: TOKEN });
  tdb = await createTestDatabase();
  const env = parseEnv({
    PORT: '0',
    DISCORD_TOKEN: TOKEN,
    DISCORD_APPLICATION_ID: APPLICATION_ID,
    DISCORD_API_URL: discord.api,
    DATABASE_URL: tdb.url,
    LOG_LEVEL: 'silent',
    MUSTER_AUDIT_KEY: AUDIT_KEY,
    ...extra,
  });
  muster = await startMuster({ env, policy: defaultPolicy(), clock: new ManualClock(new Date()), log: pino({ level: 'silent' }), loops: true, dispatcher: { pollMs: 20, baseBackoffMs: 20 } });
  return muster;
}

function declare(name: string): Loose {
  const data = {
    id: '1',
    name: 'incident',
    type: ApplicationCommandType.ChatInput,
    options: [{ name: 'declare', type: ApplicationCommandOptionType.Subcommand, options: [{ name: 'title', type: ApplicationCommandOptionType.String, value: name }] }],
  };
  return discord!.interaction({ type: InteractionType.ApplicationCommand, data, userId: DANA, channelId: GENERAL_CHANNEL_ID, guildId: GUILD_ID });
}

describe('Discord transports', () => {
  it('no public key: the gateway carries commands (answered by the interaction callback) and 📌 reactions; no HTTP endpoint', async () => {
    const m = await start({});
    expect(m.discord?.mode).toBe('gateway');
    expect(gw!.identifies).toHaveLength(1);
    expect((await fetch(`${m.url}/discord/interactions`, { method: 'POST', body: '{}' })).status).toBe(404);

    const i = declare('Checkout down');
    expect(gw!.dispatch('INTERACTION_CREATE', i)).toBe(1);
    const [first] = await discord!.waitFor((f) => (f.responsesTo(i.id).length ? f.responsesTo(i.id) : undefined), 5000);
    expect(first!.type).toBe(InteractionResponseType.ChannelMessageWithSource);
    expect(JSON.stringify(first!.data)).toContain('INC-1');
    const channel = await discord!.waitFor((f) => f.allChannels().find((c: Loose) => c.name?.startsWith('inc-1-checkout-down')), 5000);
    // Muster knows the channel as the incident's once the channel effect's hook has run.
    for (let n = 0; n < 50 && !(await m.db.read((tx) => tx.incident.findFirst({ where: { channelId: channel.id } }))); n++) await new Promise((r) => setTimeout(r, 100));
    const said = discord!.addMessage(channel.id, { authorId: DANA, content: 'Rolled back the config at 10:02' });
    gw!.dispatch('MESSAGE_REACTION_ADD', {
      user_id: DANA,
      channel_id: channel.id,
      message_id: said.id,
      guild_id: GUILD_ID,
      emoji: { id: null, name: PUSHPIN },
      burst: false,
      type: 0,
      message_author_id: DANA,
    });
    discord!.addReaction(channel.id, said.id, PUSHPIN, DANA);
    const entry = await (async () => {
      for (let n = 0; n < 50; n++) {
        const e = await m.db.read((tx) => tx.timelineEntry.findFirst({ where: { kind: 'pinned' } }));
        if (e) return e;
        await new Promise((r) => setTimeout(r, 100));
      }
      return undefined;
    })();
    expect(entry?.permalink).toContain(said.id);
  });

  it('a public key: HTTP only, unless DISCORD_GATEWAY=on adds the gateway', async () => {
    const http = await start({ DISCORD_PUBLIC_KEY: discordKeys().publicKeyHex });
    expect(http.discord?.mode).toBe('http');
    expect(gw!.identifies).toHaveLength(0);
    await http.stop();
    await gw!.close();
    await discord!.close();
    await tdb!.drop();
    const both = await start({ DISCORD_PUBLIC_KEY: discordKeys().publicKeyHex, DISCORD_GATEWAY: 'on' });
    expect(both.discord?.mode).toBe('http+gateway');
    expect(gw!.identifies).toHaveLength(1);
  });

  it('a token the gateway refuses stops start-up with a clear error', async () => {
    discord = await FakeDiscord.start();
    gw = await FakeDiscordGateway.start({ fake: discord, token: 'the-real-token' });
    tdb = await createTestDatabase();
    const env = parseEnv({
      PORT: '0',
      DISCORD_TOKEN: TOKEN,
      DISCORD_APPLICATION_ID: APPLICATION_ID,
      DISCORD_API_URL: discord.api,
      DATABASE_URL: tdb.url,
      LOG_LEVEL: 'silent',
      MUSTER_AUDIT_KEY: AUDIT_KEY,
    });
    await expect(startMuster({ env, policy: defaultPolicy(), clock: new ManualClock(new Date()), log: pino({ level: 'silent' }), loops: false })).rejects.toThrow(StartupError);
  });
});
