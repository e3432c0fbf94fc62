/**
 * The port contract (test/contract/portContract.ts) run against SlackChatPort and the stateful fake Slack Web API
 * (test/support/fakeSlack.ts) over real HTTP. This file is Slack's adapter: it seeds the fake, reads back what a
 * person would see, and injects faults into the Web API call that performs each op. It models nothing the fake does
 * not do; reading mrkdwn back follows Slack's formatting reference.
 */
import { describePortContract, type ContractTarget, type Fault, type ShownChannel, type ShownMessage } from './portContract.ts';
import { BOT_USER_ID, FakeSlack, RESPONSE_URL_TTL_MS, type FailSpec, type FakeMessage, type Json } from '../support/fakeSlack.ts';
import { SlackChatPort } from '../../src/platforms/slack/chatPort.ts';
import { createWebClient } from '../../src/platforms/slack/webClient.ts';
import type { EffectOp, ReplyHandle } from '../../src/platforms/effects.ts';

/** The Web API call (or the response_url) that performs each op: where its faults go. */
const METHOD: Record<EffectOp, string> = {
  postMessage: 'chat.postMessage',
  dm: 'chat.postMessage',
  reply: 'response_url',
  updateMessage: 'chat.update',
  createChannel: 'conversations.create',
  expandGroups: 'usergroups.users.list',
  invite: 'conversations.invite',
  setTopic: 'conversations.setTopic',
  pin: 'pins.add',
  bookmark: 'bookmarks.add',
  archiveChannel: 'conversations.archive',
  // files.uploadV2 = getUploadURLExternal, the upload, then completeUploadExternal, which shares the file.
  uploadFile: 'files.completeUploadExternal',
};

const FAULT: Record<Fault['kind'], (f: Fault) => FailSpec> = {
  rate_limited: (f) => ({ status: 429, retryAfterSec: f.kind === 'rate_limited' ? f.retryAfterSec : 1 }),
  server_error: () => ({ status: 500 }),
  applied_then_server_error: () => ({ afterApplying: '5xx', status: 500 }),
  applied_then_dropped: () => ({ afterApplying: 'drop' }),
};

/** What a piece of Slack text shows, read as Slack's clients read it. */
interface Reading {
  people: string[];
  crowd: string[];
  links: { url: string; label: string }[];
}

const decode = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/**
 * mrkdwn as a reader sees it (https://api.slack.com/reference/surfaces/formatting): `&lt;` `&gt;` `&amp;` are the
 * characters; `<@U…>` mentions a person, `<!here>` `<!channel>` `<!everyone>` and `<!subteam^S…>` ping a crowd,
 * `<!date^…|fallback>` reads as its fallback, `<#C…>` is a channel, anything else in `<…>` is a link (`<url|label>`).
 * Bare `@here` words are live only when the call asked Slack to parse them (`parse: full` or `link_names`), which
 * chat.postMessage does not by default ("parse … Defaults to none", https://docs.slack.dev/reference/methods/chat.postMessage).
 */
function readMrkdwn(s: string, r: Reading, bareMentionsLive: boolean): string {
  let text = '';
  let last = 0;
  const plainPart = (p: string) => {
    if (bareMentionsLive) for (const m of p.matchAll(/(?:^|\s)@(here|channel|everyone)\b/g)) r.crowd.push(m[1]!);
    return decode(p);
  };
  for (const m of s.matchAll(/<([^<>]*)>/g)) {
    text += plainPart(s.slice(last, m.index));
    last = m.index! + m[0].length;
    const body = m[1]!;
    const bar = body.indexOf('|');
    const target = bar < 0 ? body : body.slice(0, bar);
    const label = bar < 0 ? undefined : decode(body.slice(bar + 1));
    const person = /^@([UW][A-Z0-9]+)$/.exec(target);
    const special = /^!(here|channel|everyone)$/.exec(target);
    const group = /^!subteam\^([A-Z0-9]+)$/.exec(target);
    if (person) {
      r.people.push(person[1]!);
      text += `@${person[1]}`;
    } else if (/^#[CG][A-Z0-9]+$/.test(target)) {
      text += target;
    } else if (special) {
      r.crowd.push(special[1]!);
      text += `@${special[1]}`;
    } else if (group) {
      r.crowd.push(`group:${group[1]}`);
      text += label ?? `@${group[1]}`;
    } else if (target.startsWith('!')) {
      text += label ?? '';
    } else {
      const url = decode(target);
      r.links.push({ url, label: label ?? url });
      text += label ?? url;
    }
  }
  return text + plainPart(s.slice(last));
}

type TextObject = { type?: string; text?: string; verbatim?: boolean };

function readTextObject(o: unknown, r: Reading, bareMentionsLive: boolean): string {
  const t = o as TextObject | undefined;
  if (!t || typeof t.text !== 'string') return '';
  // plain_text is shown as it is: nothing in it is parsed.
  return t.type === 'mrkdwn' ? readMrkdwn(t.text, r, bareMentionsLive) : t.text;
}

/** A Slack message (text + Block Kit blocks) as a reader sees it. */
function shown(m: { ts?: string; thread_ts?: string; text?: string; blocks?: unknown[] }, raw: unknown, bareMentionsLive: boolean): ShownMessage {
  const r: Reading = { people: [], crowd: [], links: [] };
  const buttons: string[] = [];
  const parts: string[] = [];
  for (const b of (m.blocks ?? []) as Json[]) {
    switch (b.type) {
      case 'header':
        parts.push(readTextObject(b.text, r, bareMentionsLive));
        break;
      case 'section':
        if (b.text) parts.push(readTextObject(b.text, r, bareMentionsLive));
        for (const f of (b.fields ?? []) as unknown[]) parts.push(readTextObject(f, r, bareMentionsLive));
        break;
      case 'context':
        for (const e of (b.elements ?? []) as unknown[]) parts.push(readTextObject(e, r, bareMentionsLive));
        break;
      case 'actions':
        for (const e of (b.elements ?? []) as Json[]) if (e.type === 'button') buttons.push(readTextObject(e.text, { people: [], crowd: [], links: [] }, false));
        break;
    }
  }
  // The top-level text is the body when there are no blocks, and the notification when there are: its pings count.
  const top = readMrkdwn(m.text ?? '', r, bareMentionsLive);
  const body = m.blocks && m.blocks.length > 0 ? parts.join('\n') : top;
  return {
    id: m.ts ?? '',
    ...(m.thread_ts && m.thread_ts !== m.ts ? { threadOf: m.thread_ts } : {}),
    text: body,
    people: [...new Set(r.people)],
    crowd: [...new Set(r.crowd)],
    links: r.links.filter((l, i) => r.links.findIndex((x) => x.url === l.url && x.label === l.label) === i),
    buttons,
    raw: JSON.stringify(raw),
  };
}

const truthy = (v: unknown) => v === true || v === 'true' || v === 1 || v === '1';
const parsesBareMentions = (args: Json | undefined) => !!args && (args.parse === 'full' || truthy(args.link_names));

class SlackTarget implements ContractTarget {
  readonly platform = 'slack';
  private n = 0;

  private constructor(
    private readonly fake: FakeSlack,
    private readonly owner: string,
  ) {}

  static async start(): Promise<SlackTarget> {
    const fake = await FakeSlack.start();
    const owner = fake.addUser({ id: 'UCTOWNER', name: 'channel-owner' }).id;
    return new SlackTarget(fake, owner);
  }

  /** As src/muster.ts builds it: Muster's own id and the workspace URL come from auth.test. */
  async port(options: { without?: readonly (keyof SlackChatPort['capabilities'])[]; paced?: boolean } = {}): Promise<SlackChatPort> {
    const client = createWebClient('xoxb-contract', this.fake.url);
    const port = new SlackChatPort(client, { pacing: options.paced ? {} : false, ...(options.without ? { without: options.without } : {}) });
    const auth = await client.auth.test();
    port.workspaceUrl = auth.url;
    port.botUserId = auth.user_id;
    return port;
  }

  async person(options: { deactivated?: boolean } = {}): Promise<string> {
    const n = ++this.n;
    return this.fake.addUser({ id: `UCT${String(n).padStart(5, '0')}`, name: `person-${n}`, deleted: options.deactivated === true }).id;
  }

  async channel(options: { name?: string; members?: readonly string[]; private?: boolean } = {}): Promise<string> {
    const name = options.name ?? `ct-seeded-${++this.n}`;
    const ch = this.fake.addChannel({ name, is_private: options.private === true, creator: this.owner, members: [this.owner, BOT_USER_ID, ...(options.members ?? [])] });
    return ch.id;
  }

  async group(members: readonly string[]): Promise<string> {
    const n = ++this.n;
    const id = `SCT${String(n).padStart(5, '0')}`;
    this.fake.addUsergroup(id, `group-${n}`, [...members]);
    return id;
  }

  missingChannel(): string {
    return 'C0NOSUCHCHANNEL';
  }

  missingGroup(): string {
    return 'S0NOSUCHGROUP';
  }

  async replyHandle(where: { channel: string; user: string }): Promise<ReplyHandle> {
    const url = this.fake.responseUrl(`ct-response-${++this.n}`, where);
    return { platform: 'slack', handle: url, issuedAt: this.fake.now() };
  }

  private responseId(handle: ReplyHandle): string {
    return decodeURIComponent(new URL(handle.handle).pathname.replace(/^\/response\//, ''));
  }

  /** Past its 30 minutes on Slack's side, while the handle still says it was issued just now. */
  async spendReplyHandle(handle: ReplyHandle): Promise<void> {
    this.fake.ageResponseUrl(this.responseId(handle), RESPONSE_URL_TTL_MS + 60_000);
  }

  async repliesThrough(handle: ReplyHandle): Promise<ShownMessage[]> {
    return this.fake.responsesTo(this.responseId(handle)).map((r, i) => {
      const body = r.body as { text?: string; blocks?: unknown[] };
      return { ...shown(body, r.body, parsesBareMentions(r.body)), id: `response-${i + 1}` };
    });
  }

  /** Whether the last call that wrote this message asked Slack to parse bare `@here` words. */
  private bareMentionsLive(ts: string): boolean {
    const writes = this.fake.calls.filter(
      (c) => (c.method === 'chat.postMessage' && (c.response ?? c.appliedResponse)?.ts === ts) || (c.method === 'chat.update' && c.args.ts === ts && (c.response ?? c.appliedResponse)?.ok === true),
    );
    return parsesBareMentions(writes.at(-1)?.args);
  }

  private read(list: FakeMessage[]): ShownMessage[] {
    return list.map((m) => shown(m, m, this.bareMentionsLive(m.ts)));
  }

  async messages(channel: string): Promise<ShownMessage[]> {
    return this.read(this.fake.messages(channel));
  }

  async dms(person: string): Promise<ShownMessage[]> {
    return this.read(this.fake.dms(person));
  }

  async channelInfo(channel: string): Promise<ShownChannel | undefined> {
    const ch = this.fake.channel(channel);
    if (!ch || ch.is_im) return undefined;
    return {
      id: ch.id,
      name: ch.name,
      private: ch.is_private,
      members: [...ch.members],
      // conversations.setTopic: "does not support formatting or linkification": the topic reads as stored.
      topic: ch.topic.value,
      closed: ch.is_archived,
      pins: ch.pins.map((p) => p.ts),
      bookmarks: ch.bookmarks.map((b) => ({ title: b.title, link: b.link })),
      files: this.fake
        .filesIn(ch.id)
        .filter((f) => f.state === 'complete')
        .map((f) => ({ name: f.name, title: f.title, content: f.text })),
    };
  }

  async channelsNamed(name: string): Promise<ShownChannel[]> {
    const numbered = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(-\\d+)?$`);
    const found = await Promise.all(
      this.fake
        .allChannels()
        .filter((c) => numbered.test(c.name))
        .map((c) => this.channelInfo(c.id)),
    );
    return found.filter((c): c is ShownChannel => c !== undefined);
  }

  failNext(op: EffectOp, fault: Fault): void {
    this.fake.failNext(METHOD[op], FAULT[fault.kind](fault));
  }

  clearFaults(): void {
    this.fake.clearFailures();
  }

  flattened(): string[] {
    return this.fake.garbled.map((g) => `${g.method}: ${g.sample}`);
  }

  async close(): Promise<void> {
    await this.fake.close();
  }
}

describePortContract('Slack', () => SlackTarget.start());
