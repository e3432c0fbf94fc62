import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InteractionResponseType, MessageFlags } from 'discord-api-types/v10';
import { stuckEffects } from '../../support/store.ts';
import { startDiscordHarness, type DiscordHarness, type InteractionAnswer } from '../../support/discordHarness.ts';
import { GENERAL_CHANNEL_ID, GUILD_ID } from '../../support/fakeDiscord.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';

/**
 * Muster on a Discord server, end to end: signed interactions to the real endpoint, effects through the outbox to
 * FakeDiscord over HTTP, on the suite's database (SQLite and PostgreSQL). Each test ends with nothing dead-lettered
 * or stuck.
 */
const ADMIN = '1300000000000000001';
const DANA = '1300000000000000002';
const RILEY = '1300000000000000003';
const SAM = '1300000000000000004';
const ALEX = '1300000000000000005';
const CASEY = '1300000000000000006';
const PEOPLE = [
  { id: ADMIN, username: 'ada' },
  { id: DANA, username: 'dana', global_name: 'Dana Okafor' },
  { id: RILEY, username: 'riley' },
  { id: SAM, username: 'sam' },
  { id: ALEX, username: 'alex' },
  { id: CASEY, username: 'casey' },
];

let h: DiscordHarness;
// Windows and freezes are not enforced here: these tests run at any wall-clock time (the default windows end at 16:00
// UTC, and a production deploy asked after 15:30 would be held); deployWindows.e2e.test.ts tests them.
const policy = parsePolicyText(['changes:', '  enforcedIn: []'].join('\n')).policy!;
beforeEach(async () => {
  h = await startDiscordHarness({ users: PEOPLE, admins: [ADMIN], policy });
});
afterEach(async () => {
  try {
    await h.flush();
    expect(await stuckEffects(h.muster.db)).toEqual([]);
    expect(
      h.discord.pings.filter((p) => p.kind !== 'user'),
      'no crowd or role ping',
    ).toEqual([]);
  } finally {
    await h.close();
  }
});

const ephemeralText = (a: InteractionAnswer): string => {
  expect(a.status).toBe(200);
  expect(a.body.type).toBe(InteractionResponseType.ChannelMessageWithSource);
  expect(Number(a.body.data?.flags ?? 0) & MessageFlags.Ephemeral).toBe(MessageFlags.Ephemeral);
  return JSON.stringify(a.body.data);
};
// biome-ignore lint: loose views of Discord's objects
type Loose = any;
const labels = (m: Loose) => ((m?.components ?? []) as Loose[]).flatMap((r) => r.components ?? []).map((b: Loose) => b.label);
const cardText = (m: Loose) => JSON.stringify([m?.content, m?.embeds]);

describe('the interactions endpoint', () => {
  it('refuses a bad or missing signature with 401 and answers PING with PONG', async () => {
    expect((await h.send({ type: 1 } as never, { badSignature: true })).status).toBe(401);
    expect((await h.send({ type: 1 } as never, { noSignature: true })).status).toBe(401);
    const pong = await h.send({ id: '1', application_id: '1', type: 1, token: 't', version: 1 } as never);
    expect(pong).toEqual({ status: 200, body: { type: InteractionResponseType.Pong } });
  });

  it('registered every command at start-up, with the message command', async () => {
    const names = h.discord
      .commands()
      .map((c: Loose) => c.name)
      .sort();
    expect(names).toEqual(['Add to timeline', 'approval', 'change', 'incident', 'muster']);
  });
});

describe('incidents on Discord', () => {
  it('declare, the card with its buttons pinned in its channel, take commander, update, resolve, close locks the channel and leaves no live buttons', async () => {
    const said = ephemeralText(await h.command('incident', 'declare', { severity: 'P1', title: 'Checkout down @everyone <@&42>' }, DANA));
    expect(said).toContain('INC-1');
    await h.flush();
    const channel = h.discord.allChannels().find((c: Loose) => c.name?.startsWith('inc-1-checkout-down'));
    expect(channel, 'the incident channel').toBeDefined();
    const card = h.discord.messages(channel!.id).find((m: Loose) => (m.embeds ?? []).length > 0);
    expect(labels(card)).toEqual(['Take commander', 'Take tech lead', 'Take comms lead', 'Post update', 'Resolve']);
    expect(await pinned(channel!.id)).toContain(card!.id);

    const click = await h.click(channel!.id, card!.id, 'Take commander', DANA);
    expect(click.status).toBe(200);
    await h.flush();
    expect(cardText(h.discord.message(channel!.id, card!.id))).toContain(`<@${DANA}>`);

    ephemeralText(await h.command('incident', 'update', { text: 'Failing over to the second provider' }, DANA, channel!.id));
    ephemeralText(await h.command('incident', 'resolve', { summary: 'Provider fixed' }, DANA, channel!.id));
    ephemeralText(await h.command('incident', 'close', {}, DANA, channel!.id));
    await h.flush();
    expect(labels(h.discord.message(channel!.id, card!.id))).toEqual([]);
    const locked = h.discord.channel(channel!.id) as Loose;
    const everyone = locked.permission_overwrites?.find((o: Loose) => o.id === GUILD_ID);
    expect(BigInt(everyone?.deny ?? '0') & (1n << 11n)).toBe(1n << 11n);
  });
});

async function pinned(channelId: string): Promise<string[]> {
  const res = await fetch(`${h.discord.api}/channels/${channelId}/messages/pins`, { headers: { authorization: 'Bot discord-test-token' } });
  const body = (await res.json()) as { items?: { message: { id: string } }[] } | { id: string }[];
  return Array.isArray(body) ? body.map((m) => m.id) : (body.items ?? []).map((p) => p.message.id);
}

describe('approvals on Discord', () => {
  it('a production deploy approved by three people on its card; another rejected through the modal with a reason', async () => {
    for (const [role, user] of [
      ['release_manager', RILEY],
      ['cto', SAM],
      ['security_lead', ALEX],
    ] as const) {
      expect(ephemeralText(await h.command('muster', 'grant', { role, user: { user } }, ADMIN))).toContain('Granted');
    }
    ephemeralText(await h.command('approval', 'deploy', { environment: 'production', component: 'api', version: '2.4.1', reason: 'Fix the checkout timeout' }, CASEY));
    await h.flush();
    const card = () => h.discord.messages(GENERAL_CHANNEL_ID).find((m: Loose) => cardText(m).includes('APR-1'));
    expect(labels(card())).toEqual(['Approve', 'Reject']);
    expect(cardText(card())).toContain('0/3');
    for (const [who, progress] of [
      [RILEY, '1/3'],
      [SAM, '2/3'],
    ] as const) {
      expect((await h.click(GENERAL_CHANNEL_ID, card()!.id, 'Approve', who)).status).toBe(200);
      await h.flush();
      expect(cardText(card())).toContain(progress);
    }
    await h.click(GENERAL_CHANNEL_ID, card()!.id, 'Approve', ALEX);
    await h.flush();
    expect(cardText(card())).toContain('Approved');
    expect(labels(card())).toEqual([]);
    // Approvers were told by DM; the requester is told the outcome.
    expect(h.discord.dmChannelOf(RILEY)).toBeDefined();
    expect(JSON.stringify(h.discord.messages(h.discord.dmChannelOf(CASEY)!.id))).toContain('APR-1');

    ephemeralText(await h.command('approval', 'deploy', { environment: 'production', component: 'api', version: '2.4.2' }, CASEY));
    await h.flush();
    const second = () => h.discord.messages(GENERAL_CHANNEL_ID).find((m: Loose) => cardText(m).includes('APR-2'));
    const modal = await h.click(GENERAL_CHANNEL_ID, second()!.id, 'Reject', RILEY);
    expect(modal.body.type).toBe(InteractionResponseType.Modal);
    const field = JSON.stringify(modal.body.data).match(/"custom_id":"([^"]+)","style"/)?.[1];
    expect(field, 'the reason field').toBeDefined();
    ephemeralText(await h.submit(modal.body.data!, { [field!]: 'The rollback plan is missing' }, RILEY));
    await h.flush();
    expect(cardText(second())).toContain('Rejected');
    expect(cardText(second())).toContain('The rollback plan is missing');
  });
});

describe('private incidents, the timeline and nudges on Discord', () => {
  let p: DiscordHarness;
  beforeEach(async () => {
    // The outer harness is not used here: this one has responders in its policy.
    const policy = parsePolicyText(['incidents:', '  responders:', `    - "user:${RILEY}"`, '    - "role:tech_lead"'].join('\n')).policy!;
    p = await startDiscordHarness({ users: PEOPLE, admins: [ADMIN], policy });
  });
  afterEach(async () => {
    try {
      await p.flush();
      expect(await stuckEffects(p.muster.db)).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('a private incident from the form: hidden from @everyone, the reporter and the responders (users and role holders) given access, others not', async () => {
    expect(ephemeralText(await p.command('muster', 'grant', { role: 'tech_lead', user: { user: SAM } }, ADMIN))).toContain('Granted');
    const form = await p.command('incident', 'new', {}, DANA);
    expect(form.body.type).toBe(InteractionResponseType.Modal);
    const modal = form.body.data as Loose;
    const ids = JSON.stringify(modal);
    const field = (label: string) => new RegExp(`"label":"${label}"[^}]*?"component":\\{"type":\\d+,"custom_id":"([^"]+)"`).exec(ids)?.[1];
    const values = { [field('Title')!]: 'Customer data exposed', [field('Severity')!]: 'P1', [field('Channel')!]: 'private' };
    expect(
      Object.keys(values).every((k) => k !== 'undefined'),
      ids,
    ).toBe(true);
    ephemeralText(await p.submit(modal, values, DANA));
    await p.flush();
    const channel = p.discord.allChannels().find((c: Loose) => c.name?.startsWith('inc-1-customer-data-exposed'))!;
    expect(channel).toBeDefined();
    expect(p.discord.canSee(channel.id, DANA)).toBe(true);
    expect(p.discord.canSee(channel.id, RILEY)).toBe(true);
    expect(p.discord.canSee(channel.id, SAM)).toBe(true);
    expect(p.discord.canSee(channel.id, CASEY)).toBe(false);
  });

  it('Add to timeline puts a person’s message on the incident timeline, once', async () => {
    ephemeralText(await p.command('incident', 'declare', { severity: 'P2', title: 'Search is slow' }, DANA));
    await p.flush();
    const channel = p.discord.allChannels().find((c: Loose) => c.name?.startsWith('inc-1-search-is-slow'))!;
    const said = p.discord.addMessage(channel.id, { authorId: RILEY, content: 'The index rebuild started at 10:02 <@1300000000000000002>' });
    expect(ephemeralText(await p.messageCommand('Add to timeline', channel.id, said.id, DANA))).toContain('Added to the incident');
    expect(ephemeralText(await p.messageCommand('Add to timeline', channel.id, said.id, DANA))).toContain('already on the timeline');
    const inc = await p.muster.db.read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    const entries = await p.muster.db.read((tx) => tx.timelineEntry.findMany({ where: { incidentId: inc.id, kind: 'pinned' } }));
    expect(entries).toHaveLength(1);
    expect(entries[0]!.permalink).toBe(`https://discord.com/channels/${GUILD_ID}/${channel.id}/${said.id}`);
  });

  it('a P1 with no commander past its response time: the on-call engineer is nudged by DM', async () => {
    expect(ephemeralText(await p.command('muster', 'grant', { role: 'oncall', user: { user: ALEX } }, ADMIN))).toContain('Granted');
    ephemeralText(await p.command('incident', 'declare', { severity: 'P1', title: 'Payments failing' }, DANA));
    await p.flush();
    p.clock.advance(16 * 60_000);
    await p.tick();
    const dm = p.discord.dmChannelOf(ALEX);
    expect(dm, 'a DM to the on-call engineer').toBeDefined();
    expect(JSON.stringify(p.discord.messages(dm!.id))).toContain('INC-1');
  });
});

describe('Discord rate limits', () => {
  it('a burst over the per-channel bucket: every card posted once, nothing dead-lettered', async () => {
    for (const [role, user] of [
      ['release_manager', RILEY],
      ['cto', SAM],
      ['security_lead', ALEX],
    ] as const) {
      ephemeralText(await h.command('muster', 'grant', { role, user: { user } }, ADMIN));
    }
    await h.flush();
    // Two messages per channel a second: six requests post six cards into one channel (and DMs elsewhere).
    h.discord.enforceRateLimits({ perRoute: 2, windowMs: 1_000 });
    for (let n = 1; n <= 6; n++) ephemeralText(await h.command('approval', 'deploy', { environment: 'production', component: 'api', version: `3.0.${n}` }, CASEY));
    await h.muster.dispatcher.drain(30_000);
    const cards = h.discord.messages(GENERAL_CHANNEL_ID).filter((m: Loose) => /APR-\d/.test(cardText(m)));
    const refs = cards.map((m: Loose) => /APR-(\d+)/.exec(cardText(m))?.[1]).sort();
    expect(refs).toEqual(['1', '2', '3', '4', '5', '6']);
    console.log(`[discord burst] 429s answered: ${h.discord.rateLimited()}`);
  }, 60_000);
});

describe('Discord roles as responders', () => {
  const ROLE = '1500000000000000077';
  const PAT = '1300000000000000007';
  let r: DiscordHarness;
  beforeEach(async () => {
    const policy = parsePolicyText(['incidents:', '  privateByDefault: true', '  responders:', `    - "group:${ROLE}"`].join('\n')).policy!;
    r = await startDiscordHarness({ users: PEOPLE, admins: [ADMIN], policy });
    r.discord.addRole(ROLE, 'sre');
    r.discord.addUser({ id: PAT, username: 'pat', roles: [ROLE] });
  });
  afterEach(async () => {
    try {
      await r.flush();
      expect(await stuckEffects(r.muster.db)).toEqual([]);
    } finally {
      await r.close();
    }
  });
  const declarePrivate = async () => {
    ephemeralText(await r.command('incident', 'declare', { severity: 'P1', title: 'Token leak' }, DANA));
    await r.flush();
    return r.discord.allChannels().find((c: Loose) => c.name?.startsWith('inc-1-token-leak'))!;
  };

  it('a role named in the policy: its members are given access to the private incident channel', async () => {
    const channel = await declarePrivate();
    expect(r.discord.canSee(channel.id, PAT)).toBe(true);
    expect(r.discord.canSee(channel.id, CASEY)).toBe(false);
  });

  it('without the Server Members intent: the role is named as not added, with the switch to turn on; the declarer still gets in', async () => {
    r.discord.membersIntent = false;
    const channel = await declarePrivate();
    expect(r.discord.canSee(channel.id, PAT)).toBe(false);
    expect(r.discord.canSee(channel.id, DANA)).toBe(true);
    expect(JSON.stringify(r.discord.messages(channel.id))).toContain('Server Members intent');
  });
});
