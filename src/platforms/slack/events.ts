import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Services } from '../../services/index.ts';
import type { Kernel } from '../../services/kernel.ts';
import { DuplicateRequest } from '../../services/kernel.ts';
import type { RequestMeta } from '../../services/types.ts';
import type { InboxRow } from '../../store/inbox.ts';
import { homeView } from '../../../blocks/incident.ts';
import { waitingSection } from '../../../blocks/approval.ts';
import { changeKpiBlocks } from '../../../blocks/changeReports.ts';
import { HOME_KPI_WINDOW } from '../../services/admin.ts';
import { parseSlackText } from './mrkdwn.ts';
import { slackHome } from './blockKit.ts';
import { toChatError } from './chatPort.ts';

/** The Events API types Muster acts on (manifest.yml subscribes to these). */
export const SLACK_EVENT_TYPES = new Set(['pin_added', 'pin_removed', 'reaction_added', 'reaction_removed', 'message', 'member_joined_channel', 'app_home_opened']);

interface Deps {
  kernel: Kernel;
  services: Services;
  client: WebClient;
  log: Logger;
  /** The shortest time between two App Home publishes for one person (default HOME_MIN_INTERVAL_MS). */
  homeMinIntervalMs?: number;
}

/**
 * App Home is published at most once per person in this many ms. views.publish is Tier 4 (100+ a minute per
 * workspace: https://api.slack.com/methods/views.publish), shared by everyone: a person flicking between tabs, or
 * many people opening the app at once during an incident, would otherwise spend it on identical views. An opening
 * within the interval gets one publish at its end, drawn then, so the view is never left older than the last
 * opening. Held per process: with N replicas a person's Home is published at most N times per interval.
 */
export const HOME_MIN_INTERVAL_MS = 5_000;

/** How many times the publish at the end of an interval is tried before the next opening is left to publish. */
export const TRAILING_ATTEMPTS = 3;

/** A person's App Home: when it was last published, and the publish waiting for the interval's end. */
interface HomeEntry {
  at: number;
  later?: NodeJS.Timeout;
}

interface SlackMessage {
  ts?: string;
  text?: string;
  user?: string;
  thread_ts?: string;
  permalink?: string;
  reactions?: { name?: string; count?: number }[];
}

type Envelope = { team_id?: string; event_id?: string; event?: Record<string, unknown> };

/**
 * Handles one recorded Slack event (from the inbox, src/store/inbox.ts). Anything that fails —
 * a fetch from Slack, the database — throws, and the inbox tries again later; nothing is
 * stored half-known (no "(no text)" for a message that could not be fetched). The request key
 * makes a second run of an event that already took effect a no-op.
 */
export function slackEventHandler(deps: Deps) {
  const { services, client } = deps;
  const homeInterval = deps.homeMinIntervalMs ?? HOME_MIN_INTERVAL_MS;
  /** Per workspace and person: when their Home was last published, and the publish waiting for the interval's end. */
  const homes = new Map<string, HomeEntry>();

  async function publishHome(teamId: string, user: string): Promise<void> {
    const actor = await deps.kernel.actor('slack', teamId, user);
    const [incidents, waiting, kpis] = await Promise.all([services.incidents.openFor(actor), services.approvals.waitingFor(actor), services.admin.homeChangeKpis(actor)]);
    const before = [...waitingSection(waiting), ...changeKpiBlocks(kpis, HOME_KPI_WINDOW)];
    await client.views.publish({ user_id: user, view: slackHome(homeView(incidents, deps.kernel.clock.now(), before)) });
  }

  /**
   * The publish at the end of a person's interval. It has no inbox row to retry it, so it retries itself: a 429
   * after its Retry-After, another failure after an interval, TRAILING_ATTEMPTS times in all. When it gives up (or
   * Slack refuses it outright), the person's interval is cleared, so their next opening publishes at once.
   */
  function publishLater(teamId: string, user: string, entry: HomeEntry, delayMs: number, attempt = 1): void {
    entry.later = setTimeout(() => {
      entry.at = Date.now();
      publishHome(teamId, user).then(
        () => {
          entry.later = undefined;
        },
        (err: unknown) => {
          const e = toChatError(err);
          if (attempt < TRAILING_ATTEMPTS && e.kind !== 'permanent') {
            deps.log.warn({ err, user, attempt }, 'App Home publish at the end of its interval failed; trying again');
            publishLater(teamId, user, entry, e.retryAfterMs ?? homeInterval, attempt + 1);
            return;
          }
          entry.later = undefined;
          entry.at = 0;
          deps.log.warn({ err, user, attempt }, 'App Home publish at the end of its interval failed; the next opening publishes it');
        },
      );
    }, delayMs);
    entry.later.unref();
  }

  /** Publishes now, or once at the end of the person's interval if their Home was published within it. */
  async function openHome(teamId: string, user: string): Promise<void> {
    const key = `${teamId}:${user}`;
    const now = Date.now();
    const last = homes.get(key);
    if (last && now - last.at < homeInterval) {
      // One publish waits (or is being retried) already: it draws the Home when it goes, so this opening is in it.
      if (!last.later) publishLater(teamId, user, last, last.at + homeInterval - now);
      return;
    }
    homes.set(key, { at: now });
    // Forget people whose interval is long over, so the map stays as small as the people active in one interval.
    if (homes.size > 1000) for (const [k, v] of homes) if (now - v.at >= homeInterval && !v.later) homes.delete(k);
    await publishHome(teamId, user);
  }
  // Slack failures reach the inbox classified (a 429 with its Retry-After is waited out, not counted).
  return async (row: InboxRow, body: Record<string, unknown>): Promise<void> => {
    try {
      await handle(row, body);
    } catch (e) {
      throw e instanceof DuplicateRequest ? e : toChatError(e);
    }
  };

  async function handle(_row: InboxRow, body: Record<string, unknown>): Promise<void> {
    const envelope = body as Envelope;
    const e = (envelope.event ?? {}) as Record<string, unknown>;
    const teamId = String(envelope.team_id ?? '');
    const workspaceId = `slack:${teamId}`;
    const meta: RequestMeta = { requestId: `event:${envelope.event_id ?? '?'}`, requestKey: `slack:${teamId}:event:${envelope.event_id ?? ''}` };
    const once = async (run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (err) {
        if (!(err instanceof DuplicateRequest)) throw err;
      }
    };
    const isIncidentChannel = async (channelId: string) => (await deps.kernel.db.read((tx) => tx.incident.findFirst({ where: { workspaceId, channelId }, select: { id: true } }))) !== null;

    switch (e.type) {
      case 'pin_added': {
        const channel = String(e.channel_id ?? '');
        const item = e.item as { type?: string; message?: SlackMessage } | undefined;
        if (item?.type !== 'message' || !item.message?.ts || !(await isIncidentChannel(channel))) return;
        const m = item.message;
        const permalink = m.permalink ?? (await client.chat.getPermalink({ channel, message_ts: m.ts! })).permalink;
        await once(() =>
          services.incidents.recordPinned(workspaceId, meta, { channelId: channel, ts: m.ts!, user: m.user, text: parseSlackText(m.text ?? ''), permalink, via: 'pin', by: String(e.user ?? '') }),
        );
        return;
      }
      case 'reaction_added': {
        const item = e.item as { type?: string; channel?: string; ts?: string } | undefined;
        if (e.reaction !== 'pushpin' || item?.type !== 'message' || !item.channel || !item.ts || !(await isIncidentChannel(item.channel))) return;
        const m = await findMessage(client, item.channel, item.ts);
        // A message deleted before we looked is not on the timeline: nothing to record.
        if (!m) return;
        const permalink = (await client.chat.getPermalink({ channel: item.channel, message_ts: item.ts })).permalink;
        await once(() =>
          services.incidents.recordPinned(workspaceId, meta, {
            channelId: item.channel!,
            ts: item.ts!,
            user: m.user,
            text: parseSlackText(m.text ?? ''),
            permalink,
            via: 'reaction',
            by: String(e.user ?? ''),
          }),
        );
        return;
      }
      case 'pin_removed':
      case 'reaction_removed': {
        const channel = String(e.channel_id ?? (e.item as { channel?: string })?.channel ?? '');
        const item = e.item as { type?: string; ts?: string; message?: SlackMessage } | undefined;
        const ts = item?.message?.ts ?? item?.ts;
        if (e.type === 'reaction_removed' && e.reaction !== 'pushpin') return;
        if (!ts || !(await isIncidentChannel(channel))) return;
        // Off the timeline only when neither a pin nor a :pushpin: keeps it there.
        const r = (await client.reactions.get({ channel, timestamp: ts }).catch((err: unknown) => {
          if ((err as { data?: { error?: string } }).data?.error === 'message_not_found') return { message: undefined };
          throw err;
        })) as { message?: SlackMessage };
        const m = r.message;
        const pushpins = m?.reactions?.find((x) => x.name === 'pushpin')?.count ?? 0;
        // pins.list is the record of what is pinned (a message object does not always say).
        const pins = m && pushpins === 0 ? (((await client.pins.list({ channel })) as { items?: { message?: { ts?: string } }[] }).items ?? []) : [];
        const pinned = pins.some((p) => p.message?.ts === ts);
        if (m && (pinned || pushpins > 0)) return;
        await once(() => services.incidents.messageRemoved(workspaceId, meta, channel, ts, 'unpinned'));
        return;
      }
      case 'message': {
        const channel = String(e.channel ?? '');
        if (e.subtype === 'message_changed') {
          const m = e.message as SlackMessage | undefined;
          if (m?.ts) await once(() => services.incidents.messageEdited(workspaceId, meta, channel, m.ts!, parseSlackText(m.text ?? '')));
        } else if (e.subtype === 'message_deleted') {
          const ts = (e.deleted_ts as string | undefined) ?? (e.previous_message as SlackMessage | undefined)?.ts;
          if (ts) await once(() => services.incidents.messageRemoved(workspaceId, meta, channel, ts, 'deleted'));
        }
        return;
      }
      case 'member_joined_channel':
        await services.incidents.memberJoined(workspaceId, String(e.channel ?? ''), String(e.user ?? ''));
        return;
      case 'app_home_opened': {
        // The port's appHome capability (its absence is the only way out: Slack always has App Home).
        if (!deps.kernel.capabilities('slack').appHome) return;
        if (e.tab && e.tab !== 'home') return;
        await openHome(teamId, String(e.user ?? ''));
        return;
      }
      default:
        return;
    }
  }
}

/**
 * A message by its ts, top-level or in a thread. conversations.history lists parents only; a
 * thread reply is found with conversations.replies, which takes the ts of any message of a thread
 * and lists the thread from its parent (Slack's method reference): matched by ts there.
 */
export async function findMessage(client: WebClient, channel: string, ts: string): Promise<SlackMessage | undefined> {
  const history = await client.conversations.history({ channel, latest: ts, inclusive: true, limit: 1 });
  const top = history.messages?.find((m) => m.ts === ts);
  if (top) return top as SlackMessage;
  const thread = await searchThread(client, channel, ts, ts);
  if (thread.hit) return thread.hit;
  // Listed by the reply alone: look again from its parent.
  if (thread.parent && thread.parent !== ts) return (await searchThread(client, channel, thread.parent, ts)).hit;
  return undefined;
}

async function searchThread(client: WebClient, channel: string, threadTs: string, ts: string): Promise<{ hit?: SlackMessage; parent?: string }> {
  let cursor: string | undefined;
  let parent: string | undefined;
  for (let page = 0; page < 50; page++) {
    const r = await client.conversations.replies({ channel, ts: threadTs, limit: 200, cursor });
    const messages = (r.messages ?? []) as SlackMessage[];
    parent ??= messages[0]?.thread_ts;
    const hit = messages.find((m) => m.ts === ts);
    if (hit) return { hit, parent };
    cursor = r.response_metadata?.next_cursor || undefined;
    if (!cursor) break;
  }
  return { parent };
}
