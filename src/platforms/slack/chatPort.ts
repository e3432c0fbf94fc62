import type { WebClient } from '@slack/web-api';
import { ErrorCode } from '@slack/web-api';
import type { KnownBlock } from '@slack/types';
import { ChatError, type ChatPort, type PerformContext } from '../port.ts';
import type { Capabilities, EffectOp, EffectResults, FailedGroup, FailedInvite, PortArgs, PortEffect } from '../effects.ts';
import type { Text } from '../../domain/text.ts';
import { mrkdwn, plain } from './mrkdwn.ts';
import { slackMessage } from './blockKit.ts';
import type { Message } from '../../../blocks/surface.ts';
import { booked, budgetsFor, RateLimiter, SharedRateLimiter, type Limiter, type Reservation } from './rateLimits.ts';
import type { Database } from '../../store/db.ts';
import type { Clock } from '../../domain/clock.ts';
import { classifySlackError, describeGroupError, describeInviteUserError, INVITE_USER_ERRORS as INVITE_USER_ERRORS_BY_CODE } from './errors.ts';
import { slackFetch } from './http.ts';

const slackCode = (e: unknown): string | undefined => (e as { data?: { error?: string } }).data?.error;

/**
 * A Slack failure as the outbox needs it. `method` picks the error table of src/platforms/slack/errors.ts
 * (each code classified from the method's documented errors). Slack answering `ok: false` means it did not
 * do it; a 5xx, a timeout or a dropped connection leaves the outcome unknown.
 */
export function toChatError(e: unknown, method = ''): ChatError {
  if (e instanceof ChatError) return e;
  const err = e as { code?: string; data?: { error?: string }; retryAfter?: number; statusCode?: number; message?: string };
  if (err.code === ErrorCode.RateLimitedError) {
    return new ChatError('rate limited by Slack', 'rate_limited', 'ratelimited', (err.retryAfter ?? 1) * 1000);
  }
  if (err.code === ErrorCode.PlatformError) {
    const code = err.data?.error ?? 'unknown_error';
    const kind = classifySlackError(method, code);
    const where = method ? `${method}: ` : '';
    // Without Retry-After (e.g. message_limit_exceeded), a minute is the documented window of every tier.
    if (kind === 'rate_limited') return new ChatError(`${where}Slack asks to slow down (${code})`, 'rate_limited', code, 60_000);
    // internal_error / fatal_error: "It's possible some aspect of the operation succeeded before the error was
    // raised" (every method's error list). Like a 5xx, the outcome is unknown, so the retry looks before redoing it;
    // without this a post applied and then answered internal_error was posted twice (test/platforms/slack/faults.e2e.test.ts).
    const unknown = code === 'internal_error' || code === 'fatal_error';
    return new ChatError(`${where}Slack answered ${code}`, kind === 'permanent' ? 'permanent' : 'transient', code, undefined, unknown ? { outcomeUnknown: true } : {});
  }
  if (err.code === ErrorCode.HTTPError) return new ChatError(`Slack HTTP ${err.statusCode ?? '?'}`, 'transient', `http_${err.statusCode ?? 'error'}`, undefined, { outcomeUnknown: true });
  return new ChatError(err.message ?? String(e), 'transient', err.code, undefined, { outcomeUnknown: true });
}

/** Runs one Web API call, naming its method on a failure so the error is classified by that method's table. */
async function api<T>(method: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw Object.assign(toChatError(e, method), { slackCode: slackCode(e), perUser: (e as { data?: { errors?: unknown } }).data?.errors });
  }
}

type ApiFailure = ChatError & { slackCode?: string; perUser?: { user?: string; error?: string }[] };
const codeOf = (e: unknown) => (e as ApiFailure).slackCode;

const CHANNEL_NAME_MAX = 80;
/** The metadata event type Muster stamps on every message it posts (https://api.slack.com/metadata). */
export const EFFECT_EVENT = 'muster_effect';
/** A response_url "can be used up to 5 times within 30 minutes" (https://api.slack.com/interactivity/handling#message_responses). */
const RESPONSE_URL_USES = 5;
const RESPONSE_URL_TTL_MS = 30 * 60_000;
/** Margin for the clock and the queue: a reply this close to the end of the window goes by DM instead. */
const RESPONSE_URL_MARGIN_MS = 60_000;

export interface SlackPortOptions {
  /**
   * Pace calls against Slack's published tiers (default); `scale` multiplies every budget. With `shared` the
   * budget is held in that database, one for every process using it (replicas); without, in this process.
   */
  pacing?: false | { scale?: number; shared?: { db: Database; clock: Clock } };
  /**
   * Capabilities to do without, as if the workspace lacked them (tests of the services' degraded paths).
   * Effects that need one are refused by the port.
   */
  without?: readonly (keyof Capabilities)[];
}

/** The capability each op needs, where one does. */
const NEEDS: Partial<Record<EffectOp, keyof Capabilities>> = { pin: 'pins', bookmark: 'bookmarks', expandGroups: 'userGroups', uploadFile: 'fileUpload' };

/**
 * Performs outbox effects against the Slack Web API (at SLACK_API_URL), so that each is
 * visible exactly once: messages carry metadata naming their effect, and an effect whose
 * earlier attempt may have reached Slack (`ctx.uncertain`) looks for that attempt's result
 * (the message, the channel, the file, the bookmark) before doing it again. Effects that
 * Slack makes idempotent (updates, pins, invites, topics, archives, App Home) just repeat.
 */
export class SlackChatPort implements ChatPort {
  readonly platform = 'slack';
  /**
   * Slack does all of these: pins.add, bookmarks.add, usergroups.users.list (paid plans; a Free workspace
   * answers plan_upgrade_required, reported per group), thread replies (thread_ts), files.uploadV2, and App
   * Home (views.publish, published by the app_home_opened handler in events.ts).
   */
  readonly capabilities: Capabilities;
  private readonly imChannels = new Map<string, string>();
  private readonly limiter?: Limiter;
  /**
   * The in-process limiter (SQLite, one process) books each waiting effect's turn, so a burst of waiting effects goes
   * out one turn after another with one reservation each. The database limiter (replicas) answers plain waits: a
   * booking there would cost a transaction for every waiting effect, while a plain wait it already knows of is answered
   * from memory (SharedRateLimiter), which keeps a burst off the database and the requests' connections free.
   */
  private readonly pacingBooks: boolean;
  /**
   * Times each response_url was used by this process (Slack allows 5; see RESPONSE_URL_USES), and when it expires.
   * Forgotten once expired (forgetExpiredResponseUrls): a reply on an expired URL goes by DM whatever its count, so
   * the map holds only the URLs of about the last half hour, not one entry for every command and click ever answered.
   */
  private readonly responseUses = new Map<string, { uses: number; expires: number }>();
  /** The workspace's URL from auth.test (https://acme.slack.com/), for message permalinks. */
  workspaceUrl?: string;
  /** Muster's own user id from auth.test: only channels it created are ever adopted. */
  botUserId?: string;
  /** Whether a record already owns a channel (an incident's war room): such a channel is never adopted. */
  channelOwned?: (channelId: string) => Promise<boolean>;

  constructor(
    private readonly client: WebClient,
    options: SlackPortOptions = {},
  ) {
    const pacing = options.pacing ?? {};
    if (pacing) {
      const scale = pacing.scale;
      this.limiter = pacing.shared ? new SharedRateLimiter(pacing.shared.db, pacing.shared.clock, { scale }) : new RateLimiter({ scale });
    }
    this.pacingBooks = this.limiter instanceof RateLimiter;
    const all: Capabilities = { pins: true, bookmarks: true, userGroups: true, threads: true, fileUpload: true, appHome: true };
    for (const c of options.without ?? []) all[c] = false;
    this.capabilities = all;
  }

  pace(effect: PortEffect, workspaceId: string | null): number | Promise<number> {
    if (!this.limiter) return 0;
    const method = METHOD_OF[effect.op];
    const channel = effect.op === 'dm' ? `dm:${effect.args.user}` : 'channel' in effect.args && typeof effect.args.channel === 'string' ? effect.args.channel : undefined;
    return this.limiter.reserve(budgetsFor(method, workspaceId ?? '-', channel), this.reservation(effect));
  }

  booksTurn(effect: PortEffect, waitMs: number): boolean {
    return booked(this.reservation(effect), waitMs);
  }

  /**
   * A background redraw (a card's copy in one approver's DM) takes only a spare token of chat.update's budget and
   * books no turn (Reservation.background): a vote's redraws of 43 DMs booked 43 turns of chat.update (Tier 3, about
   * a minute at 45 a minute), and the channel's copy, which the next vote redraws, waited behind every one of them
   * (test/platforms/slack/cardPriority.e2e.test.ts).
   */
  private reservation(effect: PortEffect): Reservation {
    const background = effect.op === 'updateMessage' && effect.args.background === true;
    return background ? { book: this.pacingBooks, background } : { book: this.pacingBooks };
  }

  async perform<K extends EffectOp>(
    effect: { op: K; args: PortArgs<K> },
    ctx: PerformContext = { effectId: 0, uncertain: false, createdAt: new Date(), workspaceId: null, now: new Date() },
  ): Promise<EffectResults[K]> {
    try {
      return (await this.run(effect as PortEffect, ctx)) as EffectResults[K];
    } catch (e) {
      throw toChatError(e);
    }
  }

  private metadata(ctx: PerformContext) {
    return { event_type: EFFECT_EVENT, event_payload: { effect: ctx.effectId } };
  }

  private async run(e: PortEffect, ctx: PerformContext): Promise<EffectResults[EffectOp]> {
    const c = this.client;
    const needs = NEEDS[e.op];
    if (needs && !this.capabilities[needs]) throw new ChatError(`${e.op} needs ${needs}, which this port does without`, 'permanent', 'not_capable');
    if (e.op === 'postMessage' && e.args.threadTs && !this.capabilities.threads) throw new ChatError('thread replies need threads, which this port does without', 'permanent', 'not_capable');
    switch (e.op) {
      case 'postMessage': {
        const { channel, threadTs } = e.args;
        const body = render(e.args);
        if (ctx.uncertain) {
          const earlier = await this.findPosted(channel, ctx, threadTs);
          if (earlier) return earlier;
        }
        const r = await api('chat.postMessage', () => c.chat.postMessage({ channel, ...body, thread_ts: threadTs, unfurl_links: false, metadata: this.metadata(ctx) }));
        return { channel: r.channel!, ts: r.ts! };
      }
      case 'updateMessage': {
        // chat.update keeps a message's blocks when the call has none ("To remove previous blocks, include an empty
        // array"), and its `parse` defaults to `client`, unlike chat.postMessage ("Defaults to client, unlike
        // chat.postMessage"; Slack's chat.update reference): text-only content clears the blocks, and parse is none
        // so that typed words such as @here stay words on a redraw as they are on the first post.
        const body = render(e.args);
        const r = await api('chat.update', () => c.chat.update({ channel: e.args.channel, ts: e.args.ts, ...body, blocks: body.blocks ?? [], parse: 'none' }));
        return { channel: r.channel!, ts: r.ts! };
      }
      case 'dm':
        return this.dm(e.args.user, render(e.args), ctx);
      case 'reply':
        return this.reply(e.args, ctx);
      case 'createChannel':
        return this.createChannel(e.args.name, e.args.isPrivate === true);
      case 'expandGroups':
        return this.expandGroups(e.args.groups);
      case 'invite':
        return this.invite(e.args.channel, Array.isArray(e.args.users) ? e.args.users.filter((u): u is string => typeof u === 'string' && u !== '') : []);
      case 'setTopic': {
        // conversations.setTopic: "does not support formatting or linkification" (Slack method reference); 250 characters.
        const topic = plain(e.args.topic).slice(0, 250);
        await api('conversations.setTopic', () => c.conversations.setTopic({ channel: e.args.channel, topic }));
        return {};
      }
      case 'pin': {
        try {
          await api('pins.add', () => c.pins.add({ channel: e.args.channel, timestamp: e.args.ts }));
        } catch (err) {
          if (classifySlackError('pins.add', codeOf(err) ?? '') !== 'benign') throw err;
        }
        return {};
      }
      case 'bookmark': {
        const { channel, ts, title } = e.args;
        // Slack's permalink form, built locally: saves a chat.getPermalink round trip
        // on the war room's critical path.
        const link = this.workspaceUrl
          ? `${this.workspaceUrl.replace(/\/?$/, '/')}archives/${channel}/p${ts.replace('.', '')}`
          : (await api('chat.getPermalink', () => c.chat.getPermalink({ channel, message_ts: ts }))).permalink!;
        return { ...(await this.bookmark(channel, title, link, ctx)), link };
      }
      case 'archiveChannel': {
        try {
          await api('conversations.archive', () => c.conversations.archive({ channel: e.args.channel }));
        } catch (err) {
          if (classifySlackError('conversations.archive', codeOf(err) ?? '') !== 'benign') throw err;
        }
        return {};
      }
      case 'uploadFile':
        return this.upload(e.args, ctx);
    }
  }

  private async dm(user: string, body: SlackBody, ctx: PerformContext): Promise<EffectResults['dm']> {
    const channel = await this.imChannel(user);
    if (ctx.uncertain) {
      const earlier = await this.findPosted(channel, ctx);
      if (earlier) return earlier;
    }
    const r = await api('chat.postMessage', () => this.client.chat.postMessage({ channel, ...body, unfurl_links: false, metadata: this.metadata(ctx) }));
    return { channel: r.channel!, ts: r.ts! };
  }

  /**
   * The message an earlier attempt of this effect posted, found by its metadata. Reading it
   * back needs include_all_metadata; history lists parents only, so a thread reply is looked
   * for with conversations.replies on its parent (Slack's method reference for both).
   */
  private async findPosted(target: string, ctx: PerformContext, threadTs?: string): Promise<{ channel: string; ts: string; adopted: true } | undefined> {
    // chat.postMessage takes a channel name (a policy's "#incidents"), conversations.history and .replies only its id
    // ("Conversation ID"), and later redraws use the channel of the result: a name is looked up first, and the
    // result names the id, as chat.postMessage's own answer does (test/platforms/slack/faults.e2e.test.ts).
    const channel = target.startsWith('#') ? (await this.channelNamed(target.slice(1)))?.id : target;
    if (!channel) return undefined;
    const oldest = String(Math.floor(ctx.createdAt.getTime() / 1000) - 60);
    const mine = (m: { ts?: string; metadata?: { event_type?: string; event_payload?: Record<string, unknown> } }) =>
      m.metadata?.event_type === EFFECT_EVENT && Number(m.metadata.event_payload?.effect) === ctx.effectId;
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = threadTs
        ? await api('conversations.replies', () => this.client.conversations.replies({ channel, ts: threadTs, oldest, include_all_metadata: true, limit: 200, cursor }))
        : await api('conversations.history', () => this.client.conversations.history({ channel, oldest, include_all_metadata: true, limit: 200, cursor }));
      const hit = (r.messages ?? []).find((m) => mine(m as never));
      if (hit?.ts) return { channel, ts: hit.ts, adopted: true };
      cursor = r.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
    return undefined;
  }

  /** How many response_urls this process keeps a count of (for tests and diagnostics). */
  get responseUrlsTracked(): number {
    return this.responseUses.size;
  }

  /**
   * Drops the counts of expired response_urls, from the oldest entry on. Entries are in the order of their first use,
   * which is about the order of their issue: one issued long before its first use (a reply retried for many minutes)
   * is dropped once the entries before it are, which were issued before its first use and so expire at most half an
   * hour after it.
   */
  private forgetExpiredResponseUrls(now: number): void {
    for (const [url, { expires }] of this.responseUses) {
      if (expires > now) break;
      this.responseUses.delete(url);
    }
  }

  /**
   * A reply through the response_url of a command or click. Slack takes 5 replies within 30
   * minutes on one URL; a reply that would miss that window goes to the person by DM instead,
   * so it is never lost. (A reply through the URL itself cannot be looked up afterwards.)
   */
  private async reply(a: PortArgs<'reply'>, ctx: PerformContext): Promise<EffectResults['reply']> {
    const url = a.to.handle;
    const issuedAt = a.to.issuedAt;
    const body = render(a);
    const now = ctx.now.getTime();
    this.forgetExpiredResponseUrls(now);
    const uses = this.responseUses.get(url)?.uses ?? 0;
    const fresh = now - issuedAt < RESPONSE_URL_TTL_MS - RESPONSE_URL_MARGIN_MS && uses < RESPONSE_URL_USES;
    if (fresh) {
      this.responseUses.set(url, { uses: uses + 1, expires: issuedAt + RESPONSE_URL_TTL_MS });
      const res = await slackFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...body, response_type: a.visibility ?? 'ephemeral', replace_original: a.replaceOriginal === true }),
      }).catch((e: unknown) => {
        throw new ChatError(`response_url unreachable: ${(e as Error).message}`, 'transient', 'response_url_unreachable', undefined, { outcomeUnknown: true });
      });
      if (res.status === 429) throw new ChatError('response_url rate limited', 'rate_limited', 'ratelimited', Number(res.headers.get('retry-after') ?? 1) * 1000);
      if (res.ok) return { via: 'reply' };
      if (res.status >= 500) throw new ChatError(`response_url answered HTTP ${res.status}`, 'transient', `http_${res.status}`, undefined, { outcomeUnknown: true });
      // 404/410 and the like: the URL is used up or expired. Fall through to the DM.
    }
    if (a.fallbackUpdate) {
      // A redraw of the clicked card copy whose response_url can no longer be used: chat.update redraws it instead.
      const { channel, ts } = a.fallbackUpdate;
      const r = await api('chat.update', () => this.client.chat.update({ channel, ts, ...body, blocks: body.blocks ?? [], parse: 'none' }));
      return { via: 'update', channel: r.channel!, ts: r.ts! };
    }
    if (!a.fallbackUser) throw new ChatError('response_url expired and no one to tell by DM', 'permanent', 'expired_url');
    return { ...(await this.dm(a.fallbackUser, body, ctx)), via: 'dm' };
  }

  private async bookmark(channel: string, title: string, link: string, ctx: PerformContext): Promise<{ bookmarkId?: string; adopted?: boolean }> {
    if (ctx.uncertain) {
      // bookmarks.add is not idempotent: an earlier attempt's bookmark is recognised by its link.
      const r = (await api('bookmarks.list', () => this.client.bookmarks.list({ channel_id: channel }))) as { bookmarks?: { id?: string; link?: string; title?: string }[] };
      const hit = (r.bookmarks ?? []).find((b) => b.link === link && b.title === title);
      if (hit) return { bookmarkId: hit.id, adopted: true };
    }
    const r = await api('bookmarks.add', () => this.client.bookmarks.add({ channel_id: channel, title, type: 'link', link }));
    return { bookmarkId: (r as { bookmark?: { id?: string } }).bookmark?.id };
  }

  private async upload(a: PortArgs<'uploadFile'>, ctx: PerformContext): Promise<EffectResults['uploadFile']> {
    const { channel, filename, title } = a;
    if (ctx.uncertain) {
      // An earlier attempt's file: same name and title, shared by Muster in this channel since the effect was written.
      const r = (await api('files.list', () => this.client.files.list({ channel, ts_from: String(Math.floor(ctx.createdAt.getTime() / 1000) - 60), count: 100 }))) as {
        files?: { id?: string; name?: string; title?: string; user?: string; permalink?: string }[];
      };
      const hit = (r.files ?? []).find((f) => f.name === filename && (title === undefined || f.title === title) && (!this.botUserId || f.user === this.botUserId));
      if (hit) return { fileId: hit.id, permalink: hit.permalink, adopted: true };
    }
    const r = await api('files.completeUploadExternal', () =>
      this.client.files.uploadV2({ channel_id: channel, content: a.content, filename, title, initial_comment: a.comment === undefined ? undefined : mrkdwn(a.comment) }),
    );
    const files = (r as { files?: { files?: { id?: string; permalink?: string }[] }[] }).files?.[0]?.files ?? [];
    return { fileId: files[0]?.id, permalink: files[0]?.permalink };
  }

  /**
   * Expands user groups into their members, in an effect of its own: a group that no longer
   * exists (`no_such_subteam`) or a workspace without user groups (`plan_upgrade_required`,
   * Free plans) is reported, never fatal to the invites of everyone else.
   */
  private async expandGroups(groups: string[]): Promise<EffectResults['expandGroups']> {
    const users = new Set<string>();
    const failedGroups: FailedGroup[] = [];
    for (const group of groups) {
      try {
        const r = await api('usergroups.users.list', () => this.client.usergroups.users.list({ usergroup: group }));
        for (const u of r.users ?? []) users.add(u);
      } catch (e) {
        if ((e as ChatError).kind !== 'permanent') throw e;
        const error = codeOf(e) ?? 'error';
        failedGroups.push({ group, error, reason: describeGroupError(error) });
      }
    }
    return { users: [...users], failedGroups };
  }

  /**
   * Invites with `force: true`, so that one user who cannot join (a guest, someone at their
   * channel limit, a deactivated account) does not keep everyone else out: without it Slack
   * invites nobody when any user fails (conversations.invite reference). Each failing user is
   * a permanent outcome for that user, reported in the result; 100 users per call at most.
   */
  private async invite(channel: string, users: string[]): Promise<EffectResults['invite']> {
    const wanted = [...new Set(users)].filter((u) => u !== this.botUserId);
    const failed: FailedInvite[] = [];
    const fail = (user: string, error: string) => {
      if (classifySlackError('conversations.invite', error) !== 'benign') failed.push({ user, error, reason: describeInviteUserError(error) });
    };
    for (let i = 0; i < wanted.length; i += 100) {
      const batch = wanted.slice(i, i + 100);
      try {
        const r = (await api('conversations.invite', () => this.client.conversations.invite({ channel, users: batch.join(','), force: true } as never))) as {
          errors?: { user?: string; error?: string }[];
        };
        for (const x of r.errors ?? []) if (x.user && x.error) fail(x.user, x.error);
      } catch (e) {
        const err = e as ApiFailure;
        // Every user of the call failed on their own account: each is reported (those already in
        // the channel are not failures), none is retried.
        if (err.perUser?.length) {
          for (const x of err.perUser) if (x.user && x.error) fail(x.user, x.error);
          continue;
        }
        if (classifySlackError('conversations.invite', err.slackCode ?? '') === 'benign') continue;
        if (err.slackCode && batch.length === 1 && err.slackCode in INVITE_USER_ERRORS_BY_CODE) {
          fail(batch[0]!, err.slackCode);
          continue;
        }
        throw e;
      }
    }
    return { channel, invited: wanted.length - failed.length, failed };
  }

  private async imChannel(user: string): Promise<string> {
    const known = this.imChannels.get(user);
    if (known) return known;
    const r = await api('conversations.open', () => this.client.conversations.open({ users: user }));
    const id = r.channel?.id;
    if (!id) throw new ChatError('conversations.open returned no channel', 'transient', 'no_channel');
    this.imChannels.set(user, id);
    return id;
  }

  /**
   * Creates the channel. When the name is taken, a channel of that name that Muster itself
   * created and that no record owns is the one an earlier attempt of this effect made (Slack
   * created it, then the process died before recording it): it is adopted, not duplicated.
   * A name taken by anyone else gets -2, -3 … (PRODUCT.md).
   */
  private async createChannel(name: string, isPrivate: boolean): Promise<EffectResults['createChannel']> {
    for (let n = 1; n <= 50; n++) {
      const suffix = n === 1 ? '' : `-${n}`;
      const candidate = `${name.slice(0, CHANNEL_NAME_MAX - suffix.length)}${suffix}`;
      try {
        const r = await api('conversations.create', () => this.client.conversations.create({ name: candidate, is_private: isPrivate }));
        const id = r.channel?.id;
        if (!id) throw new ChatError('conversations.create returned no channel', 'transient', 'no_channel', undefined, { outcomeUnknown: true });
        return { channel: id, name: r.channel?.name ?? candidate };
      } catch (e) {
        if (classifySlackError('conversations.create', codeOf(e) ?? '') !== 'conflict') throw e;
        const existing = await this.channelNamed(candidate);
        if (existing && this.botUserId && existing.creator === this.botUserId && !existing.is_archived && !(await this.channelOwned?.(existing.id))) {
          return { channel: existing.id, name: existing.name, adopted: true };
        }
      }
    }
    throw new ChatError(`no free channel name for ${name}`, 'permanent', 'name_taken');
  }

  private async channelNamed(name: string): Promise<{ id: string; name: string; creator?: string; is_archived?: boolean } | undefined> {
    let cursor: string | undefined;
    for (let page = 0; page < 50; page++) {
      const r = await api('conversations.list', () => this.client.conversations.list({ types: 'public_channel,private_channel', limit: 1000, cursor, exclude_archived: false }));
      const hit = (r.channels ?? []).find((ch) => ch.name === name);
      if (hit?.id) return { id: hit.id, name: hit.name ?? name, creator: hit.creator, is_archived: hit.is_archived };
      cursor = r.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
    return undefined;
  }
}

/** The Web API method whose rate budget each effect spends. */
const METHOD_OF: Record<EffectOp, string> = {
  postMessage: 'chat.postMessage',
  dm: 'chat.postMessage',
  reply: 'response_url',
  updateMessage: 'chat.update',
  createChannel: 'conversations.create',
  invite: 'conversations.invite',
  expandGroups: 'usergroups.users.list',
  setTopic: 'conversations.setTopic',
  pin: 'pins.add',
  bookmark: 'bookmarks.add',
  archiveChannel: 'conversations.archive',
  uploadFile: 'files.getUploadURLExternal',
};

type SlackBody = { text: string; blocks?: KnownBlock[] };

/** An effect's content as Slack's `text` (the notification line, mrkdwn) and `blocks`. */
function render(c: { text?: Text; message?: Message }): SlackBody {
  if (c.message) return slackMessage(c.message);
  if (c.text !== undefined) return slackMessage({ text: c.text });
  throw new ChatError('effect has neither text nor a message', 'permanent', 'bad_effect');
}
