import type { WebClient } from '@slack/web-api';
import { ErrorCode } from '@slack/web-api';
import { ChatError, type ChatPort } from '../port.ts';
import type { Text } from '../../domain/text.ts';
import { mrkdwn, plain, renderBlocks } from './mrkdwn.ts';

type Args = Record<string, unknown>;

const str = (a: Args, k: string): string => {
  const v = a[k];
  if (typeof v !== 'string' || v === '') throw new ChatError(`effect argument "${k}" is missing`, 'permanent', 'bad_effect');
  return v;
};
const opt = (a: Args, k: string): string | undefined => (typeof a[k] === 'string' && a[k] !== '' ? (a[k] as string) : undefined);

/** Slack errors that another try will not fix. */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'missing_scope',
  'user_not_found',
  'invalid_blocks',
  'invalid_name',
  'invalid_name_specials',
  'invalid_name_maxlength',
  'invalid_name_required',
  'msg_too_long',
  'no_text',
  'cant_update_message',
  'message_not_found',
  'restricted_action',
  'cant_invite_self',
  'invalid_arguments',
  'method_not_supported_for_channel_type',
]);

function toChatError(e: unknown): ChatError {
  const err = e as { code?: string; data?: { error?: string }; retryAfter?: number; statusCode?: number; message?: string };
  if (err.code === ErrorCode.RateLimitedError) {
    return new ChatError('rate limited by Slack', 'rate_limited', 'ratelimited', (err.retryAfter ?? 1) * 1000);
  }
  if (err.code === ErrorCode.PlatformError) {
    const code = err.data?.error ?? 'unknown_error';
    if (code === 'ratelimited') return new ChatError('rate limited by Slack', 'rate_limited', code, 1000);
    return new ChatError(`Slack answered ${code}`, PERMANENT.has(code) ? 'permanent' : 'transient', code);
  }
  if (err.code === ErrorCode.HTTPError) return new ChatError(`Slack HTTP ${err.statusCode ?? '?'}`, 'transient', `http_${err.statusCode ?? 'error'}`);
  return new ChatError(err.message ?? String(e), 'transient', err.code);
}

const CHANNEL_NAME_MAX = 80;

/** Performs outbox effects against the Slack Web API (at SLACK_API_URL). */
export class SlackChatPort implements ChatPort {
  readonly platform = 'slack';
  private readonly imChannels = new Map<string, string>();
  /** The workspace's URL from auth.test (https://acme.slack.com/), for message permalinks. */
  workspaceUrl?: string;

  constructor(private readonly client: WebClient) {}

  async perform(op: string, raw: Args): Promise<Record<string, unknown>> {
    // Effects carry neutral text (typed text inside is data): rendered to mrkdwn here.
    const args: Args = { ...raw };
    if (typeof args.text === 'string' || Array.isArray(args.text)) args.text = mrkdwn(args.text as Text, 4000);
    // conversations.setTopic: "does not support formatting or linkification" (Slack method reference).
    if (typeof args.topic === 'string' || Array.isArray(args.topic)) args.topic = plain(args.topic as Text).slice(0, 250);
    if (typeof args.comment === 'string' || Array.isArray(args.comment)) args.comment = mrkdwn(args.comment as Text);
    if (Array.isArray(args.blocks)) args.blocks = renderBlocks(args.blocks);
    if (args.view && typeof args.view === 'object') args.view = renderBlocks(args.view);
    try {
      return await this.run(op, args);
    } catch (e) {
      if (e instanceof ChatError) throw e;
      throw toChatError(e);
    }
  }

  private async run(op: string, a: Args): Promise<Record<string, unknown>> {
    const c = this.client;
    switch (op) {
      case 'postMessage': {
        const r = await c.chat.postMessage({ channel: str(a, 'channel'), text: str(a, 'text'), blocks: a.blocks as never, thread_ts: opt(a, 'threadTs'), unfurl_links: false });
        return { channel: r.channel, ts: r.ts };
      }
      case 'updateMessage': {
        const r = await c.chat.update({ channel: str(a, 'channel'), ts: str(a, 'ts'), text: str(a, 'text'), blocks: a.blocks as never });
        return { channel: r.channel, ts: r.ts };
      }
      case 'postEphemeral': {
        const r = await c.chat.postEphemeral({ channel: str(a, 'channel'), user: str(a, 'user'), text: str(a, 'text'), blocks: a.blocks as never });
        return { messageTs: r.message_ts };
      }
      case 'dm': {
        const channel = await this.imChannel(str(a, 'user'));
        const r = await c.chat.postMessage({ channel, text: str(a, 'text'), blocks: a.blocks as never, unfurl_links: false });
        return { channel: r.channel, ts: r.ts };
      }
      case 'respond': {
        const res = await fetch(str(a, 'responseUrl'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: str(a, 'text'), blocks: a.blocks, response_type: opt(a, 'responseType') ?? 'ephemeral', replace_original: a.replaceOriginal === true }),
        });
        if (res.status === 429) throw new ChatError('response_url rate limited', 'rate_limited', 'ratelimited', Number(res.headers.get('retry-after') ?? 1) * 1000);
        if (res.status === 404 || res.status === 410) throw new ChatError('response_url expired', 'permanent', 'expired_url');
        if (!res.ok) throw new ChatError(`response_url answered HTTP ${res.status}`, 'transient', `http_${res.status}`);
        return { ok: true };
      }
      case 'createChannel':
        return this.createChannel(str(a, 'name'), a.isPrivate === true);
      case 'invite': {
        const users = new Set((Array.isArray(a.users) ? (a.users as string[]) : []).filter(Boolean));
        for (const group of Array.isArray(a.usergroups) ? (a.usergroups as string[]) : []) {
          const r = await c.usergroups.users.list({ usergroup: group });
          for (const u of r.users ?? []) users.add(u);
        }
        const list = [...users];
        const channel = str(a, 'channel');
        // conversations.invite takes at most 100 users per call (Tier 3).
        for (let i = 0; i < list.length; i += 100) {
          try {
            await c.conversations.invite({ channel, users: list.slice(i, i + 100).join(',') });
          } catch (e) {
            const code = (e as { data?: { error?: string } }).data?.error;
            if (code !== 'already_in_channel' && code !== 'cant_invite_self') throw e;
          }
        }
        return { channel, invited: list.length };
      }
      case 'setTopic': {
        await c.conversations.setTopic({ channel: str(a, 'channel'), topic: str(a, 'topic').slice(0, 250) });
        return {};
      }
      case 'pin': {
        try {
          await c.pins.add({ channel: str(a, 'channel'), timestamp: str(a, 'ts') });
        } catch (e) {
          if ((e as { data?: { error?: string } }).data?.error !== 'already_pinned') throw e;
        }
        return {};
      }
      case 'addBookmark': {
        const r = await c.bookmarks.add({ channel_id: str(a, 'channel'), title: str(a, 'title'), type: 'link', link: str(a, 'link') });
        return { bookmarkId: (r as { bookmark?: { id?: string } }).bookmark?.id };
      }
      case 'bookmarkMessage': {
        const channel = str(a, 'channel');
        const ts = str(a, 'ts');
        // Slack's permalink form, built locally: saves a chat.getPermalink round trip
        // on the war room's critical path.
        const link = this.workspaceUrl
          ? `${this.workspaceUrl.replace(/\/?$/, '/')}archives/${channel}/p${ts.replace('.', '')}`
          : (await c.chat.getPermalink({ channel, message_ts: ts })).permalink!;
        const r = await c.bookmarks.add({ channel_id: channel, title: str(a, 'title'), type: 'link', link });
        return { bookmarkId: (r as { bookmark?: { id?: string } }).bookmark?.id, link };
      }
      case 'archiveChannel': {
        try {
          await c.conversations.archive({ channel: str(a, 'channel') });
        } catch (e) {
          if ((e as { data?: { error?: string } }).data?.error !== 'already_archived') throw e;
        }
        return {};
      }
      case 'publishHome': {
        await c.views.publish({ user_id: str(a, 'user'), view: a.view as never });
        return {};
      }
      case 'uploadFile': {
        const r = await c.files.uploadV2({ channel_id: str(a, 'channel'), content: str(a, 'content'), filename: str(a, 'filename'), title: opt(a, 'title'), initial_comment: opt(a, 'comment') });
        const files = (r as { files?: { files?: { id?: string; permalink?: string }[] }[] }).files?.[0]?.files ?? [];
        return { fileId: files[0]?.id, permalink: files[0]?.permalink };
      }
      default:
        throw new ChatError(`unknown effect "${op}"`, 'permanent', 'unknown_op');
    }
  }

  private async imChannel(user: string): Promise<string> {
    const known = this.imChannels.get(user);
    if (known) return known;
    const r = await this.client.conversations.open({ users: user });
    const id = r.channel?.id;
    if (!id) throw new ChatError('conversations.open returned no channel', 'transient', 'no_channel');
    this.imChannels.set(user, id);
    return id;
  }

  /** Creates the channel, adding -2, -3 … when the name is taken (PRODUCT.md). */
  private async createChannel(name: string, isPrivate: boolean): Promise<Record<string, unknown>> {
    for (let n = 1; n <= 50; n++) {
      const suffix = n === 1 ? '' : `-${n}`;
      const candidate = `${name.slice(0, CHANNEL_NAME_MAX - suffix.length)}${suffix}`;
      try {
        const r = await this.client.conversations.create({ name: candidate, is_private: isPrivate });
        return { channel: r.channel?.id, name: r.channel?.name ?? candidate };
      } catch (e) {
        if ((e as { data?: { error?: string } }).data?.error !== 'name_taken') throw e;
      }
    }
    throw new ChatError(`no free channel name for ${name}`, 'permanent', 'name_taken');
  }
}
