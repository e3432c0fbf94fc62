/**
 * The port contract (test/contract/portContract.ts) run against DiscordChatPort and the stateful fake Discord REST API
 * (test/support/fakeDiscord.ts) over real HTTP. This file is Discord's adapter: it seeds the fake, reads back what a
 * person would see, and injects faults into the REST call that performs each op. It models nothing the fake does not
 * do; reading Discord's markdown back follows https://discord.com/developers/docs/reference#message-formatting.
 *
 * Discord as the contract sees it:
 * - The workspace is the server (guild): effects run with `workspaceId` `discord:<guild id>`, as Muster records them.
 * - A channel has no members: who is "in" a channel is who can see it (VIEW_CHANNEL after permission overwrites,
 *   https://discord.com/developers/docs/topics/permissions#permission-overwrites), so everyone in the server is in a
 *   public channel, and a private one lists the people given an overwrite. Someone who is not in the server stands
 *   for the contract's deactivated account: they exist, and can be added to nothing.
 * - Discord cannot archive a channel: a closed channel is locked, @everyone denied SEND_MESSAGES.
 * - A reply handle is an interaction's token (`<application id>:<token>`), answered first as Muster's endpoint answers
 *   a command; Discord refuses it 15 minutes after the interaction
 *   (https://discord.com/developers/docs/interactions/receiving-and-responding#followup-messages), which is how a
 *   handle is spent here: the fake's clock moves on.
 * - No bookmarks, no threads, no app home: the port declares them false and the contract
 *   skips or checks their refusal.
 */
import { Routes, type APIMessage, type APIUser } from 'discord-api-types/v10';
import { describePortContract, type Capability, type ContractTarget, type Fault, type ShownChannel, type ShownMessage } from './portContract.ts';
import { APPLICATION_ID, BOT_USER_ID, FakeDiscord, GUILD_ID, INTERACTION_TOKEN_TTL_MS, type FailSpec } from '../support/fakeDiscord.ts';
import { BOT_IN_PRIVATE, createDiscordRest, DiscordChatPort } from '../../src/platforms/discord/chatPort.ts';
import type { EffectOp, ReplyHandle } from '../../src/platforms/effects.ts';

const VIEW_CHANNEL = 1n << 10n;
const SEND_MESSAGES = 1n << 11n;
/** Where the port creates incident channels and puts closed ones (DISCORD_INCIDENT_CATEGORY, DISCORD_ARCHIVE_CATEGORY). */
const INCIDENT_CATEGORY = 'Incidents';
const ARCHIVE_CATEGORY = 'Archive';

/**
 * The REST route that performs each op: where its faults go. A public channel needs no write to let someone in
 * (everyone in the server sees it), so invite's call is the member lookup that admits or reports each person.
 */
const ROUTE: Record<EffectOp, string> = {
  postMessage: 'POST /channels/:id/messages',
  dm: 'POST /channels/:id/messages',
  // a follow-up message through the interaction's webhook
  reply: 'POST /webhooks/:id/:token',
  updateMessage: 'PATCH /channels/:id/messages/:id',
  createChannel: 'POST /guilds/:id/channels',
  // a policy's group is a server role: the roles are read first, then List Guild Members
  expandGroups: 'GET /guilds/:id/roles',
  invite: 'GET /guilds/:id/members/:id',
  setTopic: 'PATCH /channels/:id',
  pin: 'PUT /channels/:id/messages/pins/:id',
  // Discord has no bookmarks (bookmarks: false)
  bookmark: 'PUT /channels/:id/bookmarks',
  // the lock: permission overwrites
  archiveChannel: 'PUT /channels/:id/permissions/:id',
  // a message with the file attached (multipart)
  uploadFile: 'POST /channels/:id/messages',
};

const FAULT: Record<Fault['kind'], (f: Fault) => FailSpec> = {
  rate_limited: (f) => ({ status: 429, retryAfterSec: f.kind === 'rate_limited' ? f.retryAfterSec : 1 }),
  server_error: () => ({ status: 500 }),
  applied_then_server_error: () => ({ afterApplying: true, status: 500 }),
  applied_then_dropped: () => ({ afterApplying: true, drop: true }),
};

// ---------------------------------------------------------------------------------------------------------------
// Reading Discord's markdown as a reader sees it

interface Reading {
  links: { url: string; label: string }[];
}

/**
 * Message markdown as a reader sees it (https://discord.com/developers/docs/reference#message-formatting and
 * https://support.discord.com/hc/en-us/articles/210298617):
 * - `\` before punctuation shows the character itself;
 * - `<@id>` / `<@!id>` shows the person (read `@id`), `<@&id>` a role (`@&id`), `<#id>` a channel (`#id`), `<t:…>`
 *   a time in the reader's zone (read as ISO 8601);
 * - `[label](url)` is a link showing its label, `<url>` a link showing the URL;
 * - `**` `*` `__` `~~` `||` and code ticks are emphasis, not text; `#`/`-#`/`>` at a line's start are headings,
 *   subtext and quotes;
 * - a zero-width space is not seen.
 * A bare http(s) URL is autolinked by Discord's clients and shows the URL itself, so it can never disguise where it
 * goes: it is read as text, as the Slack adapter reads Slack's bare URLs.
 * Who is pinged is not read from the text: Discord's own record of the message says it (`mentions`,
 * `mention_roles`, `mention_everyone`), after `allowed_mentions`.
 */
function readMarkdown(s: string, r: Reading): string {
  const lines = s.split('\n').map((l) => l.replace(/^(?:-# |#{1,3} |>>> |> )/, ''));
  const src = lines.join('\n');
  const TOKEN = /\\([^\p{L}\p{N}\s])|<@!?(\d{1,20})>|<@&(\d{1,20})>|<#(\d{1,20})>|<t:(-?\d{1,14})(?::[tTdDfFsSR])?>|\[((?:\\.|[^[\]\\\n])*)\]\(<?(https?:\/\/[^\s<>()]+)>?\)|<(https?:\/\/[^\s<>]+)>/gu;
  let out = '';
  let last = 0;
  const plain = (p: string) => p.replace(/\*\*|\*|__|~~|\|\||`/g, '');
  for (const m of src.matchAll(TOKEN)) {
    out += plain(src.slice(last, m.index));
    last = m.index! + m[0].length;
    const [, escaped, person, role, channel, unix, label, url, bare] = m;
    if (escaped !== undefined) out += escaped;
    else if (person !== undefined) out += `@${person}`;
    else if (role !== undefined) out += `@&${role}`;
    else if (channel !== undefined) out += `#${channel}`;
    else if (unix !== undefined) out += new Date(Number(unix) * 1000).toISOString();
    else if (url !== undefined) {
      const shown = readMarkdown(label ?? '', { links: [] });
      r.links.push({ url, label: shown });
      out += shown;
    } else if (bare !== undefined) {
      r.links.push({ url: bare, label: bare });
      out += bare;
    }
  }
  out += plain(src.slice(last));
  return out.replace(/\u200b/g, '');
}

type Loose = Record<string, unknown>;

/** A Discord message (content, embeds, buttons) as a reader sees it. */
function shown(m: APIMessage): ShownMessage {
  const r: Reading = { links: [] };
  const parts: string[] = [];
  const add = (s: unknown) => {
    if (typeof s !== 'string') return;
    const text = readMarkdown(s, r);
    if (text.trim()) parts.push(text);
  };
  add(m.content);
  for (const e of m.embeds ?? []) {
    add(e.author?.name);
    add(e.title);
    add(e.description);
    for (const f of e.fields ?? []) {
      add(f.name);
      add(f.value);
    }
    add(e.footer?.text);
  }
  const buttons = ((m.components ?? []) as unknown as Loose[]).flatMap((row) => ((row.components ?? []) as Loose[]).filter((c) => c.type === 2).map((c) => String(c.label ?? '')));
  return {
    id: m.id,
    text: parts.join('\n'),
    people: [...new Set((m.mentions ?? []).map((u: APIUser) => u.id))],
    crowd: [...(m.mention_everyone ? ['everyone'] : []), ...(m.mention_roles ?? []).map((id) => `group:${id}`)],
    links: r.links.filter((l, i) => r.links.findIndex((x) => x.url === l.url && x.label === l.label) === i),
    buttons,
    raw: JSON.stringify(m),
  };
}

/** What people post and Muster posts (DEFAULT 0, REPLY 19), not Discord's system notices such as "pinned a message". */
const isPost = (m: APIMessage) => m.type === 0 || m.type === 19;

const overwriteOf = (ch: { permission_overwrites?: { id: string; allow: string; deny: string }[] }, id: string) => ch.permission_overwrites?.find((o) => o.id === id);
const denies = (o: { deny: string } | undefined, bit: bigint) => o !== undefined && (BigInt(o.deny) & bit) !== 0n;

class DiscordTarget implements ContractTarget {
  readonly platform = 'discord';
  readonly workspaceId = `discord:${GUILD_ID}`;
  private n = 0;
  /** Everyone the adapter made, with what the fake needs to re-add them with roles. */
  private readonly people = new Map<string, { username: string; member: boolean; roles: string[] }>();
  private readonly handles = new Map<string, { interaction: string; channel: string }>();

  private constructor(
    private readonly fake: FakeDiscord,
    private readonly clock: { skewMs: number },
  ) {}

  static async start(): Promise<DiscordTarget> {
    const clock = { skewMs: 0 };
    const fake = await FakeDiscord.start({ now: () => Date.now() + clock.skewMs });
    const t = new DiscordTarget(fake, clock);
    // the server's categories, made by its admins, as docs/discord-setup.md asks
    for (const name of [INCIDENT_CATEGORY, ARCHIVE_CATEGORY]) await t.http('POST', `/guilds/${GUILD_ID}/channels`, { name, type: 4 });
    return t;
  }

  /** A call to the fake's API as someone other than Muster's port (seeding). */
  private async http(method: string, path: string, body?: unknown, auth = true): Promise<Loose> {
    const res = await fetch(`${this.fake.api}${path}`, {
      method,
      headers: { ...(auth ? { Authorization: 'Bot server-admin' } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (res.status >= 400) throw new Error(`seeding ${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as Loose;
  }

  /** As src/muster.ts builds it: createDiscordRest, the categories from the environment, Muster's own id from GET /users/@me. */
  async port(options: { without?: readonly Capability[]; paced?: boolean } = {}): Promise<DiscordChatPort> {
    const rest = createDiscordRest('contract-token', this.fake.api);
    const port = new DiscordChatPort({
      rest,
      applicationId: APPLICATION_ID,
      incidentCategory: INCIDENT_CATEGORY,
      archiveCategory: ARCHIVE_CATEGORY,
      ...(options.without ? { without: options.without } : {}),
    });
    port.botUserId = ((await rest.get(Routes.user('@me'))) as APIUser).id;
    return port;
  }

  async person(options: { deactivated?: boolean } = {}): Promise<string> {
    const n = ++this.n;
    const id = String(1400000000000000000n + BigInt(n));
    const p = { username: `person-${n}`, member: options.deactivated !== true, roles: [] };
    this.people.set(id, p);
    this.fake.addUser({ id, username: p.username, member: p.member });
    return id;
  }

  async channel(options: { name?: string; members?: readonly string[]; private?: boolean } = {}): Promise<string> {
    const name = options.name ?? `ct-seeded-${++this.n}`;
    const overwrites = options.private
      ? [
          { id: GUILD_ID, type: 0, allow: '0', deny: String(VIEW_CHANNEL) },
          { id: BOT_USER_ID, type: 1, allow: String(BOT_IN_PRIVATE), deny: '0' },
          ...(options.members ?? []).map((id) => ({ id, type: 1, allow: String(VIEW_CHANNEL | SEND_MESSAGES), deny: '0' })),
        ]
      : [];
    const ch = await this.http('POST', `/guilds/${GUILD_ID}/channels`, { name, type: 0, permission_overwrites: overwrites });
    return String(ch.id);
  }

  async group(members: readonly string[]): Promise<string> {
    const n = ++this.n;
    const id = String(1500000000000000000n + BigInt(n));
    this.fake.addRole(id, `group-${n}`);
    for (const m of members) {
      const p = this.people.get(m);
      if (!p) continue;
      p.roles.push(id);
      this.fake.addUser({ id: m, username: p.username, member: p.member, roles: [...p.roles] });
    }
    return id;
  }

  missingChannel(): string {
    return '1999999999999999999';
  }

  missingGroup(): string {
    return '1999999999999999998';
  }

  /** A slash command by `user` in `channel`, answered (within the 3 s) as Muster's endpoint answers: an ephemeral message. */
  async replyHandle(where: { channel: string; user: string }): Promise<ReplyHandle> {
    const i = this.fake.interaction({ type: 2, data: { id: '1200000000000000001', name: 'incident', type: 1 }, userId: where.user, channelId: where.channel });
    await this.http('POST', `/interactions/${i.id}/${i.token}/callback`, { type: 4, data: { content: 'Working on it.', flags: 1 << 6 } }, false);
    const handle = `${APPLICATION_ID}:${i.token}`;
    this.handles.set(handle, { interaction: i.id, channel: where.channel });
    // issued by Muster's clock, which the port compares with PerformContext.now
    return { platform: 'discord', handle, issuedAt: Date.now() };
  }

  /** Past its 15 minutes on Discord's side (the fake's clock moves on), while the handle still says it was issued just now. */
  async spendReplyHandle(_handle: ReplyHandle): Promise<void> {
    this.clock.skewMs += INTERACTION_TOKEN_TTL_MS + 60_000;
  }

  /** The follow-ups and edits the port sent through the interaction's webhook, as they show now (not the first answer). */
  async repliesThrough(handle: ReplyHandle): Promise<ShownMessage[]> {
    const h = this.handles.get(handle.handle);
    if (!h) return [];
    return this.fake
      .responsesTo(h.interaction)
      .filter((r) => r.kind === 'followup' || r.kind === 'edit')
      .flatMap((r) => {
        const m = r.messageId ? this.fake.message(h.channel, r.messageId) : undefined;
        return m ? [shown(m)] : [];
      });
  }

  async messages(channel: string): Promise<ShownMessage[]> {
    return this.fake.messages(channel).filter(isPost).map(shown);
  }

  async dms(person: string): Promise<ShownMessage[]> {
    const dm = this.fake.dmChannelOf(person);
    if (!dm) return [];
    return this.fake
      .messages(dm.id)
      .filter((m) => isPost(m) && m.author.id === BOT_USER_ID)
      .map(shown);
  }

  async channelInfo(channel: string): Promise<ShownChannel | undefined> {
    const ch = this.fake.channel(channel) as unknown as
      | { id: string; type: number; name: string; topic?: string | null; permission_overwrites?: { id: string; allow: string; deny: string }[] }
      | undefined;
    if (!ch || ch.type !== 0) return undefined;
    const all = this.fake.messages(ch.id);
    const files = all
      .filter((m) => isPost(m) && m.author.id === BOT_USER_ID)
      .flatMap((m) => m.attachments)
      .map((a) => ({
        name: a.filename,
        // a file's own text in Discord is its description (alt text); without one, its name is all it shows
        title: a.description ?? a.filename,
        content: this.fake.attachment(a.id)?.content.toString('utf8') ?? '',
      }));
    return {
      id: ch.id,
      name: ch.name,
      private: denies(overwriteOf(ch, GUILD_ID), VIEW_CHANNEL),
      members: [BOT_USER_ID, ...this.people.keys()].filter((id) => this.fake.canSee(ch.id, id)),
      // Discord's docs give the topic as the string stored: it reads as stored.
      topic: ch.topic ?? '',
      closed: denies(overwriteOf(ch, GUILD_ID), SEND_MESSAGES),
      pins: all.filter((m) => m.pinned).map((m) => m.id),
      bookmarks: [],
      files,
    };
  }

  async channelsNamed(name: string): Promise<ShownChannel[]> {
    const numbered = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(-\\d+)?$`);
    const found = await Promise.all(
      this.fake
        .allChannels()
        .filter((c) => c.type === 0 && numbered.test(c.name ?? ''))
        .map((c) => this.channelInfo(c.id)),
    );
    return found.filter((c): c is ShownChannel => c !== undefined);
  }

  failNext(op: EffectOp, fault: Fault): void {
    this.fake.failNext(ROUTE[op], FAULT[fault.kind](fault));
  }

  clearFaults(): void {
    this.fake.clearFailures();
  }

  flattened(): string[] {
    return this.fake.calls.filter((c) => JSON.stringify(c.body ?? null).includes('[object Object]')).map((c) => `${c.route}: ${JSON.stringify(c.body).slice(0, 200)}`);
  }

  async close(): Promise<void> {
    await this.fake.close();
  }
}

describePortContract('Discord', () => DiscordTarget.start());
