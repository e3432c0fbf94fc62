import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiscordAPIError, REST } from '@discordjs/rest';
import { Routes } from 'discord-api-types/v10';
import type { APIChannel, APIGuildMember, APIMessage, APIRole, APIUser } from 'discord-api-types/v10';
import { APPLICATION_ID, BOT_USER_ID, FakeDiscord, GENERAL_CHANNEL_ID, GUILD_ID, normaliseChannelName } from './fakeDiscord.ts';
import type { FakeDiscordOptions } from './fakeDiscord.ts';

const ALICE = '1000000000000000011';
const ROBERT = '1000000000000000012';
const CAROL = '1000000000000000013';
const HERMIT = '1000000000000000014';
const ONCALL = '1000000000000000021';
const VIEW = String(1n << 10n);

let fake: FakeDiscord;
let clock: number;
let rest: REST;

async function boot(opts: FakeDiscordOptions = {}): Promise<void> {
  await fake?.close();
  clock = Date.parse('2025-06-01T12:00:00Z');
  fake = await FakeDiscord.start({ now: () => clock, ...opts });
  fake.addUser({ id: ALICE, username: 'alice', global_name: 'Alice' });
  fake.addUser({ id: ROBERT, username: 'robert', nick: 'Bobby', roles: [ONCALL] });
  fake.addUser({ id: CAROL, username: 'carol', member: false });
  fake.addUser({ id: HERMIT, username: 'hermit', acceptsDms: false });
  fake.addRole(ONCALL, 'oncall');
  rest = new REST({ api: fake.restApi, version: '10', retries: 0 }).setToken('t');
}

beforeEach(() => boot());
afterEach(() => fake.close());

interface HttpResult {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

async function call(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<HttpResult> {
  const res = await fetch(`${fake.api}${path}`, {
    method,
    headers: { ...(opts.auth === false ? {} : { Authorization: 'Bot t' }), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

const post = (channel: string, body: unknown) => call('POST', `/channels/${channel}/messages`, body);

async function restError(p: Promise<unknown>): Promise<DiscordAPIError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(DiscordAPIError);
  return e as DiscordAPIError;
}

describe('auth', () => {
  it('answers 401 without a bot token and serves the bot with one', async () => {
    const r = await call('GET', '/users/@me', undefined, { auth: false });
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ message: '401: Unauthorized', code: 0 });
    const bearer = await fetch(`${fake.api}/users/@me`, { headers: { Authorization: 'Bearer x' } });
    expect(bearer.status).toBe(401);
    const me = (await rest.get(Routes.user('@me'))) as APIUser;
    expect(me).toMatchObject({ id: BOT_USER_ID, bot: true });
    expect(fake.calls.map((c) => [c.route, c.status])).toEqual([
      ['GET /users/@me', 401],
      ['GET /users/@me', 401],
      ['GET /users/@me', 200],
    ]);
  });

  it('answers invalid JSON 50109 and counts invalid requests (401, 403, 429)', async () => {
    const res = await fetch(`${fake.api}/channels/${GENERAL_CHANNEL_ID}/messages`, { method: 'POST', headers: { Authorization: 'Bot t', 'Content-Type': 'application/json' }, body: '{"content":' });
    expect([res.status, ((await res.json()) as { code: number }).code]).toEqual([400, 50109]);
    await call('GET', '/users/@me', undefined, { auth: false });
    const h = (await call('POST', '/users/@me/channels', { recipient_id: HERMIT })).json.id as string;
    await post(h, { content: 'hi' }); // 403 50007
    fake.failNext('GET /users/@me', { status: 401 }); // injected: not counted
    await call('GET', '/users/@me');
    expect(fake.invalidRequests()).toBe(2);
  });

  it('answers unknown routes 404 and wrong methods 405', async () => {
    expect((await call('GET', '/nope')).status).toBe(404);
    expect((await call('PUT', '/users/@me')).status).toBe(405);
  });
});

describe('users, members, search', () => {
  it('reads users and members', async () => {
    expect(await rest.get(Routes.user(ALICE))).toMatchObject({ id: ALICE, username: 'alice', global_name: 'Alice' });
    expect((await restError(rest.get(Routes.user('1000000000000000999')))).code).toBe(10013);
    const m = (await rest.get(Routes.guildMember(GUILD_ID, ROBERT))) as APIGuildMember;
    expect(m).toMatchObject({ nick: 'Bobby', roles: [ONCALL], user: { id: ROBERT } });
    const notMember = await restError(rest.get(Routes.guildMember(GUILD_ID, CAROL)));
    expect([notMember.status, notMember.code]).toEqual([404, 10007]);
    expect((await restError(rest.get(Routes.guildMember('1000000000000000777', ALICE)))).code).toBe(10004);
  });

  it('searches members by username or nick prefix, case-insensitively, up to limit', async () => {
    const search = (query: string, limit?: number) =>
      rest.get(Routes.guildMembersSearch(GUILD_ID), { query: new URLSearchParams({ query, ...(limit ? { limit: String(limit) } : {}) }) }) as Promise<APIGuildMember[]>;
    expect((await search('AL', 10)).map((m) => m.user.id)).toEqual([ALICE]);
    expect((await search('bob', 10)).map((m) => m.user.id)).toEqual([ROBERT]);
    expect((await search('car', 10)).length).toBe(0); // not a member
    expect((await search('', 10)).length).toBe(4); // bot, alice, robert, hermit
    expect((await search('', undefined)).length).toBe(1); // limit defaults to 1
    expect((await call('GET', `/guilds/${GUILD_ID}/members/search`)).json.errors.query).toBeDefined();
  });

  it('lists roles with @everyone', async () => {
    const roles = (await rest.get(Routes.guildRoles(GUILD_ID))) as APIRole[];
    expect(roles.map((r) => [r.id, r.name])).toEqual([
      [GUILD_ID, '@everyone'],
      [ONCALL, 'oncall'],
    ]);
  });
});

describe('channels', () => {
  it('normalises text channel names and returns the stored name', async () => {
    expect(normaliseChannelName('  Incident 42: DB   Down!  ')).toBe('incident-42-db-down');
    expect(normaliseChannelName('Café Über_1')).toBe('café-über_1');
    expect(normaliseChannelName('x'.repeat(150)).length).toBe(100);
    const ch = (await rest.post(Routes.guildChannels(GUILD_ID), { body: { name: 'Incident 42: DB Down!', type: 0, topic: 'sev1' } })) as APIChannel & { name: string };
    expect(ch.name).toBe('incident-42-db-down');
    expect(fake.channelByName('incident-42-db-down')?.id).toBe(ch.id);
    const cat = (await rest.post(Routes.guildChannels(GUILD_ID), { body: { name: 'Incidents Q2', type: 4 } })) as APIChannel & { name: string };
    expect(cat.name).toBe('Incidents Q2'); // categories keep their name
    const child = (await rest.post(Routes.guildChannels(GUILD_ID), { body: { name: 'inc 43', type: 0, parent_id: cat.id } })) as { parent_id: string };
    expect(child.parent_id).toBe(cat.id);
    const listed = (await rest.get(Routes.guildChannels(GUILD_ID))) as { name: string }[];
    expect(listed.map((c) => c.name)).toEqual(['general', 'incident-42-db-down', 'Incidents Q2', 'inc-43']);
    expect(fake.summary().channelsCreated).toEqual(['incident-42-db-down', 'Incidents Q2', 'inc-43']);
    const bad = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: '!!!', type: 0 });
    expect([bad.status, bad.json.code, Object.keys(bad.json.errors)]).toEqual([400, 50035, ['name']]);
    const badParent = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'x', parent_id: GENERAL_CHANNEL_ID });
    expect(badParent.json.errors.parent_id._errors[0].code).toBe('CHANNEL_PARENT_INVALID');
  });

  it('stores permission overwrites and computes visibility from them', async () => {
    const ch = (await rest.post(Routes.guildChannels(GUILD_ID), {
      body: {
        name: 'private',
        permission_overwrites: [
          { id: GUILD_ID, type: 0, allow: '0', deny: VIEW },
          { id: ALICE, type: 1, allow: VIEW, deny: '0' },
        ],
      },
    })) as APIChannel & { permission_overwrites: unknown[] };
    expect(ch.permission_overwrites).toEqual([
      { id: GUILD_ID, type: 0, allow: '0', deny: VIEW },
      { id: ALICE, type: 1, allow: VIEW, deny: '0' },
    ]);
    expect(fake.canSee(ch.id, ALICE)).toBe(true);
    expect(fake.canSee(ch.id, ROBERT)).toBe(false);
    expect(fake.canSee(GENERAL_CHANNEL_ID, ROBERT)).toBe(true);
    expect(fake.canSee(ch.id, CAROL)).toBe(false); // not a member
    await rest.put(Routes.channelPermission(ch.id, ONCALL), { body: { type: 0, allow: VIEW, deny: '0' } });
    expect(fake.canSee(ch.id, ROBERT)).toBe(true); // through the oncall role
    await rest.put(Routes.channelPermission(ch.id, ROBERT), { body: { type: 1, allow: '0', deny: VIEW } });
    expect(fake.canSee(ch.id, ROBERT)).toBe(false); // the member overwrite wins
    await rest.delete(Routes.channelPermission(ch.id, ROBERT));
    await rest.delete(Routes.channelPermission(ch.id, ONCALL));
    expect(fake.canSee(ch.id, ROBERT)).toBe(false);
    expect((fake.channel(ch.id) as { permission_overwrites: unknown[] }).permission_overwrites.length).toBe(2);
    const bad = await call('PUT', `/channels/${ch.id}/permissions/${ALICE}`, { type: 7, allow: '0', deny: '0' });
    expect(bad.json.code).toBe(50035);
  });

  it('refuses the 501st channel of a guild (30013)', async () => {
    for (let i = 1; i < 500; i++) expect((await call('POST', `/guilds/${GUILD_ID}/channels`, { name: `c${i}` })).status).toBe(201);
    const r = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'one-too-many' });
    expect([r.status, r.json.code]).toEqual([400, 30013]);
    expect(fake.allChannels().length).toBe(500);
  });

  it('refuses a 51st channel in a category (lower limits by option)', async () => {
    await boot({ limits: { categoryChannels: 2, guildChannels: 5 } });
    const cat = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'cat', type: 4 });
    for (const n of ['a', 'b']) expect((await call('POST', `/guilds/${GUILD_ID}/channels`, { name: n, parent_id: cat.json.id })).status).toBe(201);
    const full = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'c', parent_id: cat.json.id });
    expect([full.status, full.json.code, full.json.errors.parent_id._errors[0].code]).toEqual([400, 50035, 'CHANNEL_PARENT_MAX_CHANNELS']);
    const moved = await call('PATCH', `/channels/${GENERAL_CHANNEL_ID}`, { parent_id: cat.json.id });
    expect(moved.json.errors.parent_id).toBeDefined();
    expect((await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'd' })).status).toBe(201);
    expect((await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'e' })).json.code).toBe(30013);
  });

  it('limits renames to 2 per 10 minutes per channel by the fake clock', async () => {
    const ch = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'inc-1' });
    const patch = (body: unknown) => call('PATCH', `/channels/${ch.json.id}`, body);
    expect((await patch({ name: 'Inc 1 Resolved' })).json.name).toBe('inc-1-resolved');
    clock += 60_000;
    expect((await patch({ topic: 'closed' })).status).toBe(200);
    expect((await patch({ name: 'inc-1-resolved' })).status).toBe(200); // no change: not a rename
    const limited = await patch({ name: 'inc-1-archived' });
    expect(limited.status).toBe(429);
    expect(limited.json.retry_after).toBeCloseTo(540, 0);
    expect(limited.headers.get('retry-after')).toBe('540');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('shared');
    expect(fake.invalidRequests()).toBe(0); // shared-scope 429s are not invalid requests
    expect(fake.channel(ch.json.id)).toMatchObject({ name: 'inc-1-resolved', topic: 'closed' });
    expect(fake.rateLimited()).toBe(1);
    clock += 9 * 60_000;
    expect((await patch({ name: 'inc-1-archived' })).json.name).toBe('inc-1-archived');
    const long = await patch({ topic: 'x'.repeat(1025) });
    expect(Object.keys(long.json.errors)).toEqual(['topic']);
  });

  it('deletes channels', async () => {
    const ch = (await rest.post(Routes.guildChannels(GUILD_ID), { body: { name: 'gone' } })) as APIChannel;
    expect(await rest.delete(Routes.channel(ch.id))).toMatchObject({ id: ch.id });
    expect((await restError(rest.get(Routes.channel(ch.id)))).code).toBe(10003);
    expect(fake.channel(ch.id)).toBeUndefined();
  });
});

describe('messages', () => {
  const errorsOf = async (body: unknown) => {
    const r = await post(GENERAL_CHANNEL_ID, body);
    expect([r.status, r.json.code]).toEqual([400, 50035]);
    return r.json.errors;
  };

  it('validates content, embeds and components with Discord error paths', async () => {
    expect((await errorsOf({ content: 'x'.repeat(2001) })).content._errors[0].code).toBe('BASE_TYPE_MAX_LENGTH');
    expect((await post(GENERAL_CHANNEL_ID, { content: 'x'.repeat(2000) })).status).toBe(200);
    expect((await errorsOf({ embeds: Array.from({ length: 11 }, () => ({ title: 't' })) })).embeds._errors).toBeDefined();
    expect((await errorsOf({ embeds: [{ title: 'ok' }, { title: 'x'.repeat(257) }] })).embeds[1].title._errors[0].code).toBe('BASE_TYPE_MAX_LENGTH');
    expect((await errorsOf({ embeds: [{ fields: [{ name: 'n', value: 'v'.repeat(1025) }] }] })).embeds[0].fields[0].value).toBeDefined();
    expect((await errorsOf({ embeds: [{ fields: Array.from({ length: 26 }, () => ({ name: 'n', value: 'v' })) }] })).embeds[0].fields._errors).toBeDefined();
    expect((await errorsOf({ embeds: [{ footer: { text: 'f'.repeat(2049) } }] })).embeds[0].footer.text).toBeDefined();
    expect((await errorsOf({ embeds: [{ description: 'd'.repeat(4000) }, { description: 'd'.repeat(2001) }] })).embeds._errors[0].code).toBe('MAX_EMBED_SIZE_EXCEEDED');
    const button = (id: string, extra: object = {}) => ({ type: 2, style: 1, label: 'Go', custom_id: id, ...extra });
    const row = (...components: object[]) => ({ type: 1, components });
    expect((await errorsOf({ components: Array.from({ length: 6 }, (_, i) => row(button(`b${i}`))) })).components._errors).toBeDefined();
    expect((await errorsOf({ components: [row(...Array.from({ length: 6 }, (_, i) => button(`b${i}`)))] })).components[0].components._errors).toBeDefined();
    const dup = await errorsOf({ components: [row(button('same'), button('same'))] });
    expect(dup.components[0].components[1].custom_id._errors[0].code).toBe('COMPONENT_CUSTOM_ID_DUPLICATED');
    expect((await errorsOf({ components: [row(button('x'.repeat(101)))] })).components[0].components[0].custom_id).toBeDefined();
    expect((await errorsOf({ components: [row(button('a', { label: 'l'.repeat(81) }))] })).components[0].components[0].label).toBeDefined();
    expect((await errorsOf({ components: [row({ type: 2, style: 1, label: 'no id' })] })).components[0].components[0].custom_id).toBeDefined();
    const link = await errorsOf({ components: [row({ type: 2, style: 5, label: 'Doc', custom_id: 'x' })] });
    expect(Object.keys(link.components[0].components[0]).sort()).toEqual(['custom_id', 'url']);
    expect((await post(GENERAL_CHANNEL_ID, { components: [row(button('a'), button('b'), { type: 2, style: 5, label: 'Doc', url: 'https://x.test' })] })).status).toBe(200);
    const empty = await post(GENERAL_CHANNEL_ID, { content: '' });
    expect([empty.status, empty.json.code]).toEqual([400, 50006]);
    expect((await errorsOf({ content: 'x', allowed_mentions: { parse: ['users'], users: [ALICE] } })).allowed_mentions).toBeDefined();
    expect(fake.messages(GENERAL_CHANNEL_ID).length).toBe(2);
    expect((await post('1000000000000000555', { content: 'x' })).json.code).toBe(10003);
  });

  it('returns the first message again for a repeated nonce within 5 minutes (enforce_nonce)', async () => {
    const first = await post(GENERAL_CHANNEL_ID, { content: 'once', nonce: 'n-1', enforce_nonce: true });
    clock += 4 * 60_000;
    const again = await post(GENERAL_CHANNEL_ID, { content: 'once', nonce: 'n-1', enforce_nonce: true });
    expect(again.json.id).toBe(first.json.id);
    expect(fake.messages(GENERAL_CHANNEL_ID).length).toBe(1);
    const other = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'other' });
    expect((await post(other.json.id, { content: 'once', nonce: 'n-1', enforce_nonce: true })).json.id).not.toBe(first.json.id); // per channel
    await post(GENERAL_CHANNEL_ID, { content: 'unenforced', nonce: 'n-1' });
    expect(fake.messages(GENERAL_CHANNEL_ID).length).toBe(2); // a nonce without enforce_nonce does not deduplicate
    clock += 61_000;
    const late = await post(GENERAL_CHANNEL_ID, { content: 'once', nonce: 'n-1', enforce_nonce: true });
    expect(late.json.id).not.toBe(first.json.id);
    expect(fake.summary().messages[GENERAL_CHANNEL_ID]).toBe(3);
    expect((await post(GENERAL_CHANNEL_ID, { content: 'x', nonce: 'n'.repeat(26) })).json.errors.nonce).toBeDefined();
    const ids = fake.messages(GENERAL_CHANNEL_ID).map((m) => BigInt(m.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1))); // snowflakes increase
    expect(ids.every((id) => id > BigInt(GENERAL_CHANNEL_ID))).toBe(true);
  });

  it('computes mentions and pings like Discord, with and without allowed_mentions', async () => {
    const text = `<@${ALICE}> <@!${ROBERT}> <@&${ONCALL}> @everyone`;
    const open = (await rest.post(Routes.channelMessages(GENERAL_CHANNEL_ID), { body: { content: text } })) as APIMessage;
    expect(open.mentions.map((u) => u.id)).toEqual([ALICE, ROBERT]);
    expect(open.mention_roles).toEqual([ONCALL]);
    expect(open.mention_everyone).toBe(true);
    expect(fake.pings.map((p) => [p.kind, p.id])).toEqual([
      ['user', ALICE],
      ['user', ROBERT],
      ['role', ONCALL],
      ['everyone', 'everyone'],
    ]);
    fake.pings = [];
    const safe = (await rest.post(Routes.channelMessages(GENERAL_CHANNEL_ID), { body: { content: text, allowed_mentions: { parse: [], users: [ALICE] } } })) as APIMessage & {
      allowed_mentions?: unknown;
    };
    expect(safe.mentions.map((u) => u.id)).toEqual([ALICE]);
    expect([safe.mention_roles, safe.mention_everyone]).toEqual([[], false]);
    expect(fake.pings).toEqual([{ channel: GENERAL_CHANNEL_ID, message: safe.id, kind: 'user', id: ALICE, via: 'create' }]);
    fake.pings = [];
    await rest.post(Routes.channelMessages(GENERAL_CHANNEL_ID), { body: { content: '@here', allowed_mentions: { parse: ['users', 'roles'] } } });
    expect(fake.pings).toEqual([]);
  });

  it('re-parses mentions on edits without allowed_mentions', async () => {
    const m = (await rest.post(Routes.channelMessages(GENERAL_CHANNEL_ID), { body: { content: 'quiet @everyone', allowed_mentions: { parse: [] } } })) as APIMessage;
    expect(fake.pings).toEqual([]);
    clock += 1000;
    const edited = (await rest.patch(Routes.channelMessage(GENERAL_CHANNEL_ID, m.id), { body: { content: 'loud @everyone' } })) as APIMessage;
    expect(edited.mention_everyone).toBe(true);
    expect(edited.edited_timestamp).toBe(new Date(clock).toISOString());
    expect(fake.pings).toEqual([{ channel: GENERAL_CHANNEL_ID, message: m.id, kind: 'everyone', id: 'everyone', via: 'edit' }]);
    fake.pings = [];
    const calm = (await rest.patch(Routes.channelMessage(GENERAL_CHANNEL_ID, m.id), { body: { content: 'calm @everyone', allowed_mentions: { parse: [] } } })) as APIMessage;
    expect([calm.mention_everyone, fake.pings]).toEqual([false, []]);
    const err = await call('PATCH', `/channels/${GENERAL_CHANNEL_ID}/messages/${m.id}`, { content: 'x'.repeat(2001) });
    expect(err.json.errors.content).toBeDefined();
    expect(fake.message(GENERAL_CHANNEL_ID, m.id)?.content).toBe('calm @everyone');
    const theirs = fake.addMessage(GENERAL_CHANNEL_ID, { authorId: ALICE, content: 'mine' });
    expect((await call('PATCH', `/channels/${GENERAL_CHANNEL_ID}/messages/${theirs.id}`, { content: 'no' })).status).toBe(403);
  });

  it('pages history newest first and deletes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await post(GENERAL_CHANNEL_ID, { content: `m${i}` })).json.id);
    const page = (q: Record<string, string>) => rest.get(Routes.channelMessages(GENERAL_CHANNEL_ID), { query: new URLSearchParams(q) }) as Promise<APIMessage[]>;
    expect((await page({ limit: '2' })).map((m) => m.content)).toEqual(['m4', 'm3']);
    expect((await page({ limit: '2', before: ids[3] ?? '' })).map((m) => m.content)).toEqual(['m2', 'm1']);
    expect((await page({ limit: '2', after: ids[1] ?? '' })).map((m) => m.content)).toEqual(['m3', 'm2']);
    expect((await call('GET', `/channels/${GENERAL_CHANNEL_ID}/messages?limit=101`)).json.errors.limit).toBeDefined();
    await rest.delete(Routes.channelMessage(GENERAL_CHANNEL_ID, ids[0] ?? ''));
    expect((await restError(rest.get(Routes.channelMessage(GENERAL_CHANNEL_ID, ids[0] ?? '')))).code).toBe(10008);
    expect(fake.messages(GENERAL_CHANNEL_ID).map((m) => m.content)).toEqual(['m1', 'm2', 'm3', 'm4']);
  });
});

describe('multipart attachments', () => {
  it('stores files sent by @discordjs/rest and by fetch', async () => {
    const m = (await rest.post(Routes.channelMessages(GENERAL_CHANNEL_ID), {
      body: { content: 'see attached', attachments: [{ id: 0, filename: 'timeline.md' }] },
      files: [{ name: 'report.txt', data: Buffer.from('hello world') }],
    })) as APIMessage;
    expect(m.content).toBe('see attached');
    expect(m.attachments.map((a) => [a.filename, a.size])).toEqual([['timeline.md', 11]]);
    expect(fake.attachment(m.attachments[0]?.id ?? '')?.content.toString()).toBe('hello world');
    const form = new FormData();
    form.append('payload_json', JSON.stringify({}));
    form.append('files[0]', new Blob(['a,b\n1,2\n'], { type: 'text/csv' }), 'data.csv');
    const res = await fetch(`${fake.api}/channels/${GENERAL_CHANNEL_ID}/messages`, { method: 'POST', headers: { Authorization: 'Bot t' }, body: form });
    const json = (await res.json()) as APIMessage;
    expect(res.status).toBe(200); // a file alone is not an empty message
    expect(json.attachments[0]).toMatchObject({ filename: 'data.csv', size: 8, content_type: 'text/csv' });
    expect(fake.calls.at(-1)?.body).toMatchObject({ files: [{ field: 'files[0]', name: 'data.csv', size: 8 }] });
  });
});

describe('pins', () => {
  it('pins through the current routes, adds a type-6 system message once, and lists pins', async () => {
    const m = await post(GENERAL_CHANNEL_ID, { content: 'pin me' });
    await rest.put(Routes.channelMessagesPin(GENERAL_CHANNEL_ID, m.json.id));
    await rest.put(Routes.channelMessagesPin(GENERAL_CHANNEL_ID, m.json.id)); // idempotent
    const msgs = fake.messages(GENERAL_CHANNEL_ID);
    expect(msgs.map((x) => x.type)).toEqual([0, 6]);
    expect(msgs[1]?.message_reference).toMatchObject({ message_id: m.json.id, channel_id: GENERAL_CHANNEL_ID });
    expect(fake.message(GENERAL_CHANNEL_ID, m.json.id)?.pinned).toBe(true);
    const pins = (await rest.get(Routes.channelMessagesPins(GENERAL_CHANNEL_ID))) as { items: { message: APIMessage; pinned_at: string }[]; has_more: boolean };
    expect(pins.items.map((p) => p.message.id)).toEqual([m.json.id]);
    expect(pins.has_more).toBe(false);
    expect(fake.summary().pins).toEqual({ [GENERAL_CHANNEL_ID]: 1 });
    expect(fake.summary().messages).toEqual({ [GENERAL_CHANNEL_ID]: 1 }); // system messages are not counted
    await rest.delete(Routes.channelMessagesPin(GENERAL_CHANNEL_ID, m.json.id));
    expect(fake.summary().pins).toEqual({});
    expect((await call('PUT', `/channels/${GENERAL_CHANNEL_ID}/messages/pins/1000000000000000999`)).json.code).toBe(10008);
    expect(fake.deprecatedCalls).toEqual([]);
  });

  it('serves the deprecated /pins routes and records them', async () => {
    const m = await post(GENERAL_CHANNEL_ID, { content: 'old style' });
    expect((await call('PUT', `/channels/${GENERAL_CHANNEL_ID}/pins/${m.json.id}`)).status).toBe(204);
    expect(((await call('GET', `/channels/${GENERAL_CHANNEL_ID}/pins`)).json as APIMessage[]).map((x) => x.id)).toEqual([m.json.id]);
    expect((await call('DELETE', `/channels/${GENERAL_CHANNEL_ID}/pins/${m.json.id}`)).status).toBe(204);
    expect(fake.deprecatedCalls.map((c) => c.route)).toEqual(['PUT /channels/:id/pins/:id', 'GET /channels/:id/pins', 'DELETE /channels/:id/pins/:id']);
  });

  it('refuses pins beyond the limit (30003)', async () => {
    await boot({ limits: { pins: 2 } });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await post(GENERAL_CHANNEL_ID, { content: `p${i}` })).json.id as string);
    for (const id of ids.slice(0, 2)) expect((await call('PUT', `/channels/${GENERAL_CHANNEL_ID}/messages/pins/${id}`)).status).toBe(204);
    const r = await call('PUT', `/channels/${GENERAL_CHANNEL_ID}/messages/pins/${ids[2]}`);
    expect([r.status, r.json.code]).toEqual([400, 30003]);
    expect((await call('PUT', `/channels/${GENERAL_CHANNEL_ID}/messages/pins/${ids[0]}`)).status).toBe(204); // re-pinning is still a no-op
  });
});

describe('reactions', () => {
  it('adds the bot reaction and others from tests', async () => {
    const m = await post(GENERAL_CHANNEL_ID, { content: 'vote' });
    await rest.put(Routes.channelMessageOwnReaction(GENERAL_CHANNEL_ID, m.json.id, encodeURIComponent('✅')));
    fake.addReaction(GENERAL_CHANNEL_ID, m.json.id, '✅', ALICE);
    await rest.put(Routes.channelMessageOwnReaction(GENERAL_CHANNEL_ID, m.json.id, encodeURIComponent('ack:1000000000000000031')));
    const reactions = fake.message(GENERAL_CHANNEL_ID, m.json.id)?.reactions ?? [];
    expect(reactions.map((r) => [r.emoji.name, r.emoji.id, r.count, r.me])).toEqual([
      ['✅', null, 2, true],
      ['ack', '1000000000000000031', 1, true],
    ]);
    expect((await restError(rest.put(Routes.channelMessageOwnReaction(GENERAL_CHANNEL_ID, '1000000000000000999', '%F0%9F%91%8D')))).code).toBe(10008);
  });
});

describe('DMs', () => {
  it('reuses one DM channel per user and refuses users who do not accept DMs', async () => {
    const a = (await rest.post(Routes.userChannels(), { body: { recipient_id: ALICE } })) as APIChannel & { recipients: APIUser[] };
    const b = (await rest.post(Routes.userChannels(), { body: { recipient_id: ALICE } })) as APIChannel;
    expect(a.type).toBe(1);
    expect(b.id).toBe(a.id);
    expect(a.recipients.map((u) => u.id)).toEqual([ALICE]);
    expect(fake.dmChannelOf(ALICE)?.id).toBe(a.id);
    await rest.post(Routes.channelMessages(a.id), { body: { content: 'your approval is needed' } });
    expect(fake.summary().dms).toEqual({ [ALICE]: 1 });
    expect(fake.canSee(a.id, ALICE)).toBe(true);
    expect(fake.canSee(a.id, ROBERT)).toBe(false);
    const h = (await rest.post(Routes.userChannels(), { body: { recipient_id: HERMIT } })) as APIChannel;
    const refused = await restError(rest.post(Routes.channelMessages(h.id), { body: { content: 'hi' } }));
    expect([refused.status, refused.code]).toEqual([403, 50007]);
    expect(fake.messages(h.id)).toEqual([]);
    expect((await restError(rest.post(Routes.userChannels(), { body: { recipient_id: '1000000000000000999' } }))).code).toBe(50035);
  });
});

describe('interactions', () => {
  const callback = (i: { id: string; token: string }, body: unknown, q = '') => call('POST', `/interactions/${i.id}/${i.token}/callback${q}`, body, { auth: false });
  const hook = (method: string, i: { token: string }, rest: string, body?: unknown) => call(method, `/webhooks/${APPLICATION_ID}/${i.token}${rest}`, body, { auth: false });

  it('mints full interaction payloads', () => {
    const slash = fake.interaction({ type: 2, data: { id: '1', name: 'incident', type: 1 }, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect(slash).toMatchObject({ application_id: APPLICATION_ID, type: 2, guild_id: GUILD_ID, channel_id: GENERAL_CHANNEL_ID, member: { user: { id: ALICE } }, version: 1 });
    expect(typeof slash.token).toBe('string');
  });

  it('mints DM interactions with user, not member', async () => {
    const dm = (await rest.post(Routes.userChannels(), { body: { recipient_id: ALICE } })) as APIChannel;
    const i = fake.interaction({ type: 2, data: { name: 'mine' }, userId: ALICE, channelId: dm.id }) as unknown as Record<string, unknown>;
    expect(i.user).toMatchObject({ id: ALICE });
    expect(i.member).toBeUndefined();
    expect(i.guild_id).toBeUndefined();
  });

  it('acknowledges with 204, refuses a second callback (40060) and a late one (10062)', async () => {
    const m = await post(GENERAL_CHANNEL_ID, { content: 'card', components: [{ type: 1, components: [{ type: 2, style: 3, label: 'Approve', custom_id: 'approve:1' }] }] });
    const click = fake.interaction({ type: 3, data: { custom_id: 'approve:1', component_type: 2 }, userId: ALICE, channelId: GENERAL_CHANNEL_ID, message: m.json.id });
    expect(click.message?.id).toBe(m.json.id);
    const first = await callback(click, { type: 6 });
    expect([first.status, first.json]).toEqual([204, undefined]);
    const second = await callback(click, { type: 6 });
    expect([second.status, second.json.code]).toEqual([400, 40060]);
    const late = fake.interaction({ type: 3, data: { custom_id: 'approve:1', component_type: 2 }, userId: ALICE, channelId: GENERAL_CHANNEL_ID, message: m.json.id });
    clock += 3001;
    const expired = await callback(late, { type: 6 });
    expect([expired.status, expired.json.code]).toEqual([404, 10062]);
    expect(fake.responsesTo(click.id).map((r) => r.type)).toEqual([6]);
    expect(fake.responsesTo(late.id)).toEqual([]);
  });

  it('answers with_response=true with the interaction and the created message', async () => {
    const slash = fake.interaction({ type: 2, data: { name: 'incident' }, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    const r = (await rest.post(Routes.interactionCallback(slash.id, slash.token), {
      body: { type: 4, data: { content: 'Incident opened' } },
      query: new URLSearchParams({ with_response: 'true' }),
      auth: false,
    })) as {
      interaction: { id: string; response_message_id: string; response_message_ephemeral: boolean };
      resource: { type: number; message: APIMessage };
    };
    expect(r.interaction).toMatchObject({ id: slash.id, response_message_ephemeral: false });
    expect(r.resource.type).toBe(4);
    expect(r.resource.message.content).toBe('Incident opened');
    expect(fake.messages(GENERAL_CHANNEL_ID).map((m) => m.id)).toEqual([r.interaction.response_message_id]);
    const eph = fake.interaction({ type: 2, data: { name: 'whoami' }, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect((await callback(eph, { type: 4, data: { content: 'only you', flags: 64 } })).status).toBe(204);
    expect(fake.messages(GENERAL_CHANNEL_ID).length).toBe(1); // ephemeral: not in the channel
    expect(fake.responsesTo(eph.id)).toMatchObject([{ kind: 'callback', type: 4, ephemeral: true }]);
    const bad = await callback(fake.interaction({ type: 2, data: {}, userId: ALICE, channelId: GENERAL_CHANNEL_ID }), { type: 4, data: { content: 'x'.repeat(2001) } });
    expect(bad.json.errors.data.content).toBeDefined();
  });

  it('updates the component message on type 7', async () => {
    const m = await post(GENERAL_CHANNEL_ID, { content: 'Approve?', components: [{ type: 1, components: [{ type: 2, style: 3, label: 'Approve', custom_id: 'a' }] }] });
    const click = fake.interaction({ type: 3, data: { custom_id: 'a', component_type: 2 }, userId: ALICE, channelId: GENERAL_CHANNEL_ID, message: m.json.id });
    const r = await callback(click, { type: 7, data: { content: 'Approved by Alice', components: [] } }, '?with_response=true');
    expect(r.json.resource.message).toMatchObject({ id: m.json.id, content: 'Approved by Alice', components: [] });
    expect(fake.message(GENERAL_CHANNEL_ID, m.json.id)?.content).toBe('Approved by Alice');
    const slash = fake.interaction({ type: 2, data: {}, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect((await callback(slash, { type: 7, data: { content: 'x' } })).json.errors.type).toBeDefined();
  });

  it('defers, edits @original, sends follow-ups, and expires the token after 15 minutes (50027)', async () => {
    const slash = fake.interaction({ type: 2, data: { name: 'incident' }, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect((await hook('POST', slash, '?wait=true', { content: 'too early' })).json.code).toBe(10015);
    const deferred = await callback(slash, { type: 5 }, '?with_response=true');
    expect(deferred.json.interaction.response_message_loading).toBe(true);
    expect(fake.messages(GENERAL_CHANNEL_ID)[0]?.flags).toBe(128);
    clock += 10 * 60_000;
    const edited = await hook('PATCH', slash, '/messages/@original', { content: 'Incident #7 opened' });
    expect(edited.json).toMatchObject({ content: 'Incident #7 opened', flags: 0 });
    expect((await hook('GET', slash, '/messages/@original')).json.content).toBe('Incident #7 opened');
    const follow = await hook('POST', slash, '?wait=true', { content: 'Paging on-call' });
    expect(follow.json.content).toBe('Paging on-call');
    expect((await hook('POST', slash, '', { content: 'just for you', flags: 64 })).status).toBe(204);
    expect((await hook('PATCH', slash, `/messages/${follow.json.id}`, { content: 'Paged on-call' })).json.content).toBe('Paged on-call');
    expect(fake.responsesTo(slash.id).map((r) => [r.kind, r.type, r.ephemeral])).toEqual([
      ['callback', 5, false],
      ['edit', undefined, false],
      ['followup', undefined, false],
      ['followup', undefined, true],
      ['edit', undefined, false],
    ]);
    expect(fake.messages(GENERAL_CHANNEL_ID).map((m) => m.content)).toEqual(['Incident #7 opened', 'Paged on-call']);
    expect((await hook('GET', slash, '/messages/1000000000000000999')).json.code).toBe(10008);
    clock += 5 * 60_000 + 1;
    const expired = await hook('PATCH', slash, '/messages/@original', { content: 'too late' });
    expect([expired.status, expired.json.code]).toEqual([401, 50027]);
    expect((await hook('POST', slash, '', { content: 'too late' })).json.code).toBe(50027);
  });

  it('answers PING with PONG only, and takes a modal only as the first response', async () => {
    const ping = fake.interaction({ type: 1, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect((await callback(ping, { type: 1 })).status).toBe(204);
    const slash = fake.interaction({ type: 2, data: { name: 'incident' }, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect((await callback(slash, { type: 1 })).json.errors.type).toBeDefined();
    const modal = { custom_id: 'incident:new', title: 'New incident', components: [{ type: 1, components: [{ type: 4, custom_id: 'title', label: 'Title', style: 1 }] }] };
    expect((await callback(slash, { type: 9, data: { ...modal, title: 't'.repeat(46) } })).json.errors.data.title).toBeDefined();
    expect((await callback(slash, { type: 9, data: modal })).status).toBe(204);
    expect(fake.responsesTo(slash.id)).toMatchObject([{ kind: 'callback', type: 9, data: modal }]);
    const deferred = fake.interaction({ type: 2, data: { name: 'incident' }, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    await callback(deferred, { type: 5, data: { flags: 64 } });
    expect((await callback(deferred, { type: 9, data: modal })).json.code).toBe(40060);
    expect(fake.messages(GENERAL_CHANNEL_ID)).toEqual([]); // an ephemeral defer is not in the channel
    const submit = fake.interaction({ type: 5, data: { custom_id: 'incident:new', components: [] }, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect((await callback(submit, { type: 9, data: modal })).json.errors.type).toBeDefined();
    expect((await callback(submit, { type: 4, data: { content: 'Opened' } })).status).toBe(204);
  });

  it('deletes @original', async () => {
    const slash = fake.interaction({ type: 2, data: {}, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    await callback(slash, { type: 4, data: { content: 'temp' } });
    expect((await hook('DELETE', slash, '/messages/@original')).status).toBe(204);
    expect(fake.messages(GENERAL_CHANNEL_ID)).toEqual([]);
  });
});

describe('application commands', () => {
  const incident = {
    name: 'incident',
    description: 'Open an incident',
    options: [
      { type: 3, name: 'title', description: 'What broke', required: true },
      { type: 3, name: 'severity', description: 'sev1-sev4', choices: [{ name: 'sev1', value: 'sev1' }] },
    ],
  };

  it('bulk-overwrites valid commands and keeps ids for the same names', async () => {
    const put = (await rest.put(Routes.applicationGuildCommands(APPLICATION_ID, GUILD_ID), { body: [incident, { type: 3, name: 'Open incident from message' }] })) as { id: string; name: string }[];
    expect(put.map((c) => c.name)).toEqual(['incident', 'Open incident from message']);
    expect(await rest.get(Routes.applicationGuildCommands(APPLICATION_ID, GUILD_ID))).toEqual(put);
    const again = (await rest.put(Routes.applicationGuildCommands(APPLICATION_ID, GUILD_ID), { body: [incident] })) as { id: string }[];
    expect(again.map((c) => c.id)).toEqual([put[0]?.id]);
    expect(fake.commands(GUILD_ID).length).toBe(1);
    await rest.put(Routes.applicationCommands(APPLICATION_ID), { body: [{ name: 'muster', description: 'Help' }] });
    expect(fake.commands().map((c) => c.name)).toEqual(['muster']);
    expect((await rest.get(Routes.applicationCommands(APPLICATION_ID))) as unknown[]).toHaveLength(1);
  });

  it('refuses invalid commands with 50035 and the paths at fault, changing nothing', async () => {
    const errorsOf = async (body: unknown) => {
      const e = await restError(rest.put(Routes.applicationGuildCommands(APPLICATION_ID, GUILD_ID), { body }));
      expect([e.status, e.code]).toEqual([400, 50035]);
      return (e.rawError as { errors: Record<string, Record<string, unknown>> }).errors;
    };
    expect((await errorsOf([{ ...incident, name: 'Incident' }]))[0]?.name).toBeDefined();
    expect((await errorsOf([{ ...incident, name: 'open incident' }]))[0]?.name).toBeDefined();
    expect((await errorsOf([{ ...incident, description: '' }]))[0]?.description).toBeDefined();
    const order = await errorsOf([{ ...incident, options: [...incident.options].reverse() }]);
    expect(order[0]?.options).toEqual({ 1: { required: { _errors: [expect.objectContaining({ code: 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID' })] } } });
    const many = Array.from({ length: 26 }, (_, i) => ({ type: 3, name: `o${i}`, description: 'd' }));
    expect(((await errorsOf([{ ...incident, options: many }]))[0]?.options as { _errors: unknown[] })._errors).toHaveLength(1);
    const choices = Array.from({ length: 26 }, (_, i) => ({ name: `c${i}`, value: `c${i}` }));
    expect(await errorsOf([{ ...incident, options: [{ type: 3, name: 'x', description: 'd', choices }] }])).toHaveProperty(['0', 'options', '0', 'choices']);
    const nested = {
      name: 'change',
      description: 'Changes',
      options: [
        {
          type: 1,
          name: 'new',
          description: 'New',
          options: [
            { type: 3, name: 'a', description: 'a' },
            { type: 3, name: 'b', description: 'b', required: true },
          ],
        },
      ],
    };
    expect(await errorsOf([nested])).toHaveProperty(['0', 'options', '0', 'options', '1', 'required']);
    expect(await errorsOf([incident, incident])).toHaveProperty(['1', 'name']);
    expect(await errorsOf([{ type: 3, name: 'Msg', description: 'no' }])).toHaveProperty(['0', 'description']);
    expect(fake.commands(GUILD_ID)).toEqual([]);
    expect((await restError(rest.put(Routes.applicationCommands('1000000000000000999'), { body: [] }))).code).toBe(50001);
  });
});

describe('rate limits', () => {
  it('sends X-RateLimit headers on every answer, one bucket per route and major parameter', async () => {
    const other = await call('POST', `/guilds/${GUILD_ID}/channels`, { name: 'other' });
    const a1 = await post(GENERAL_CHANNEL_ID, { content: '1' });
    const a2 = await post(GENERAL_CHANNEL_ID, { content: '2' });
    const b1 = await post(other.json.id, { content: '1' });
    for (const r of [other, a1, a2, b1]) for (const h of ['limit', 'remaining', 'reset', 'reset-after', 'bucket']) expect(r.headers.get(`x-ratelimit-${h}`)).not.toBeNull();
    expect(a1.headers.get('x-ratelimit-bucket')).toBe(b1.headers.get('x-ratelimit-bucket'));
    expect(a1.headers.get('x-ratelimit-bucket')).not.toBe(other.headers.get('x-ratelimit-bucket'));
    expect(Number(a1.headers.get('x-ratelimit-remaining')) - Number(a2.headers.get('x-ratelimit-remaining'))).toBe(1);
    expect(b1.headers.get('x-ratelimit-remaining')).toBe(a1.headers.get('x-ratelimit-remaining'));
    const unauth = await call('GET', '/users/@me', undefined, { auth: false });
    expect(unauth.status).toBe(401);
  });

  it('answers 429 with retry_after beyond the bucket; @discordjs/rest waits and succeeds', async () => {
    fake.enforceRateLimits({ perRoute: 2, windowMs: 800 });
    expect((await post(GENERAL_CHANNEL_ID, { content: '1' })).headers.get('x-ratelimit-remaining')).toBe('1');
    await post(GENERAL_CHANNEL_ID, { content: '2' });
    const limited = await post(GENERAL_CHANNEL_ID, { content: '3' });
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ message: 'You are being rate limited.', global: false });
    expect(limited.json.retry_after).toBeGreaterThan(0);
    expect(limited.json.retry_after).toBeLessThanOrEqual(0.8);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    const started = Date.now();
    const m = (await rest.post(Routes.channelMessages(GENERAL_CHANNEL_ID), { body: { content: 'patient' } })) as APIMessage;
    expect(m.content).toBe('patient');
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(fake.rateLimited()).toBe(2); // fetch's and the one @discordjs/rest waited out
    expect(fake.messages(GENERAL_CHANNEL_ID).map((x) => x.content)).toEqual(['1', '2', 'patient']);
  });

  it('enforces the global limit on bot-token routes only', async () => {
    await boot({ rateLimits: true });
    fake.enforceRateLimits({ perRoute: 100, global: 3 });
    for (let i = 0; i < 3; i++) expect((await call('GET', '/users/@me')).status).toBe(200);
    const g = await call('GET', `/users/${ALICE}`);
    expect([g.status, g.json.global, g.headers.get('x-ratelimit-global'), g.headers.get('x-ratelimit-scope')]).toEqual([429, true, 'true', 'global']);
    const slash = fake.interaction({ type: 2, data: {}, userId: ALICE, channelId: GENERAL_CHANNEL_ID });
    expect((await call('POST', `/interactions/${slash.id}/${slash.token}/callback`, { type: 5 }, { auth: false })).status).toBe(204);
  });
});

describe('failNext', () => {
  it('fails before applying, once', async () => {
    fake.failNext('POST /channels/:id/messages');
    const r = await post(GENERAL_CHANNEL_ID, { content: 'a' });
    expect(r.status).toBe(500);
    expect(fake.messages(GENERAL_CHANNEL_ID)).toEqual([]);
    expect(fake.calls.at(-1)).toMatchObject({ applied: false, fault: 'before', status: 500 });
    expect((await post(GENERAL_CHANNEL_ID, { content: 'a' })).status).toBe(200);
    fake.failNext('/messages', { status: 403, code: 50001 });
    const denied = await post(GENERAL_CHANNEL_ID, { content: 'b' });
    expect([denied.status, denied.json.code]).toEqual([403, 50001]);
    fake.failNext('PATCH /channels/:id');
    fake.clearFailures();
    expect((await call('PATCH', `/channels/${GENERAL_CHANNEL_ID}`, { topic: 't' })).status).toBe(200);
  });

  it('fails after applying: a 500 or a dropped connection, with the effect in place', async () => {
    fake.failNext('POST /channels/:id/messages', { afterApplying: true });
    const r = await post(GENERAL_CHANNEL_ID, { content: 'applied' });
    expect(r.status).toBe(500);
    expect(fake.calls.at(-1)).toMatchObject({ applied: true, fault: 'after' });
    fake.failNext('POST /channels/:id/messages', { afterApplying: true, drop: true });
    await expect(post(GENERAL_CHANNEL_ID, { content: 'dropped' })).rejects.toThrow();
    expect(fake.messages(GENERAL_CHANNEL_ID).map((m) => m.content)).toEqual(['applied', 'dropped']);
  });

  it('shows why retries need a nonce: @discordjs/rest retries a 500 and duplicates, enforce_nonce does not', async () => {
    const retrying = new REST({ api: fake.restApi, version: '10', retries: 1 }).setToken('t');
    fake.failNext('POST /channels/:id/messages', { afterApplying: true });
    await retrying.post(Routes.channelMessages(GENERAL_CHANNEL_ID), { body: { content: 'twice' } });
    expect(fake.summary().messages[GENERAL_CHANNEL_ID]).toBe(2);
    fake.failNext('POST /channels/:id/messages', { afterApplying: true });
    const m = (await retrying.post(Routes.channelMessages(GENERAL_CHANNEL_ID), { body: { content: 'once', nonce: 'k1', enforce_nonce: true } })) as APIMessage;
    expect(fake.summary().messages[GENERAL_CHANNEL_ID]).toBe(3);
    expect(fake.messages(GENERAL_CHANNEL_ID).at(-1)?.id).toBe(m.id);
  });
});

describe('hold', () => {
  it('applies the call and withholds the answer until release', async () => {
    const held = fake.hold('POST /channels/:id/messages');
    let settled = false;
    const pending = post(GENERAL_CHANNEL_ID, { content: 'held' }).then((r) => ((settled = true), r));
    const arrived = await held.arrived;
    expect(arrived).toMatchObject({ applied: true, delivery: 'held' });
    expect(fake.messages(GENERAL_CHANNEL_ID).map((m) => m.content)).toEqual(['held']);
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    held.release();
    expect((await pending).json.content).toBe('held');
    expect(arrived.delivery).toBe('released');
  });

  it('drops the connection of a held call', async () => {
    const held = fake.hold('PUT /channels/:id/messages/pins/:id');
    const m = await post(GENERAL_CHANNEL_ID, { content: 'pin' });
    const pending = call('PUT', `/channels/${GENERAL_CHANNEL_ID}/messages/pins/${m.json.id}`);
    await fake.waitFor((f) => f.summary().pins[GENERAL_CHANNEL_ID] === 1);
    held.drop();
    await expect(pending).rejects.toThrow();
    expect((await held.arrived).delivery).toBe('dropped');
    await expect(fake.waitFor(() => false, 50)).rejects.toThrow(/timed out/);
  });
});
