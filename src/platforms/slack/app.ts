import { App, ExpressReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Application } from 'express';
import type { Logger } from 'pino';
import { postToResponseUrl } from './responseUrl.ts';
import { randomUUID } from 'node:crypto';
import type { Command } from '../../../commands/types.ts';
import { PLANNED_COMMANDS } from '../../../commands/index.ts';
import { errorMessage, replyMessage } from '../../../blocks/reply.ts';
import type { Kernel } from '../../services/kernel.ts';
import { dispatchCommand } from '../../../commands/dispatch.ts';
import type { Services } from '../../services/index.ts';
import type { RequestMeta } from '../../services/types.ts';
import { slackRequestKey } from './requestKey.ts';
import { ackOrLate, oneOf, registerInteractions } from './interactions.ts';
import { parseSlackText } from './mrkdwn.ts';
import { slackMessage, slackModal } from './blockKit.ts';
import type { Message } from '../../../blocks/surface.ts';
import { failureText, type Outcome } from '../../services/outcome.ts';
import { code, rt } from '../../domain/text.ts';
import { ACK_TIMING, slackEventIntake, slackEventLabel, wantedEvent, type AckTiming, type RecordSlackEvent } from './intake.ts';
import type { EventEmitter } from 'node:events';
import type { Metrics } from '../../metrics.ts';
import { timedSlackFetch } from './webClient.ts';
import { BUTTONS, FORMS } from '../../services/interactions.ts';

export interface SlackAppOptions {
  botToken: string;
  /** From our own auth.test at start-up, so Bolt never calls it per request. */
  identity: { botId?: string; botUserId?: string };
  signingSecret?: string;
  appToken?: string;
  slackApiUrl: string;
  /** Our express app (health, status page): Bolt's receiver mounts /slack/events on it. */
  web: Application;
  kernel: Kernel;
  services: Services;
  commands: Map<string, Command<unknown>>;
  log: Logger;
  /** Writes an Events API envelope to the inbox (before Slack is acknowledged). */
  recordEvent: RecordSlackEvent;
  /** Acknowledgement latency, and the Web API calls of Bolt's own clients (views.open, the clicker's DMs). */
  metrics?: Metrics;
}

function boltLogger(log: Logger): BoltLogger {
  const l = log.child({ component: 'bolt' });
  let level = LogLevel.INFO;
  return {
    debug: (...m: unknown[]) => l.debug(m.map(String).join(' ')),
    info: (...m: unknown[]) => l.info(m.map(String).join(' ')),
    warn: (...m: unknown[]) => l.warn(m.map(String).join(' ')),
    error: (...m: unknown[]) => l.error(m.map(String).join(' ')),
    setLevel: (v: LogLevel) => {
      level = v;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

export interface SlackPlatform {
  app: App;
  mode: 'http' | 'socket';
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Bolt wiring: signed HTTP at POST /slack/events, or Socket Mode when an app token is set. */
export function createSlackPlatform(o: SlackAppOptions): SlackPlatform {
  const logger = boltLogger(o.log);
  const clientOptions = { slackApiUrl: o.slackApiUrl, retryConfig: { retries: 0 }, ...(o.metrics ? { fetch: timedSlackFetch(o.slackApiUrl, o.metrics) } : {}) };
  const socket = Boolean(o.appToken);
  const authorization = { botToken: o.botToken, botId: o.identity.botId, botUserId: o.identity.botUserId };
  const authorize = async () => authorization;
  // Bolt's conversation store (context.conversation, context.updateConversation) is off: Muster keeps its state in
  // the database and never reads it, and its default middleware cost every request a failed in-memory lookup (a
  // rejected promise with a new Error and its stack trace) and a debug log line built for nothing.
  const convoStore = false as const;
  let app: App;
  if (socket) {
    app = new App({
      authorize,
      appToken: o.appToken,
      socketMode: true,
      convoStore,
      logger,
      clientOptions,
      extendedErrorHandler: true,
      installerOptions: { clientOptions } as never,
    });
    recordBeforeAck(app, o);
  } else {
    o.web.post('/slack/events', slackEventIntake({ signingSecret: o.signingSecret!, record: o.recordEvent, log: o.log, metrics: o.metrics }));
    const receiver = new ExpressReceiver({
      signingSecret: o.signingSecret!,
      endpoints: '/slack/events',
      app: o.web,
      logger,
      processBeforeResponse: false,
      // The intake's AckTiming, for the first middleware to label (see `register`).
      customPropertiesExtractor: (req) => {
        const timing = (req as { [ACK_TIMING]?: AckTiming })[ACK_TIMING];
        return timing ? { ackTiming: timing } : {};
      },
    });
    app = new App({ authorize, receiver, convoStore, logger, clientOptions, extendedErrorHandler: true });
  }
  register(app, o);
  return {
    app,
    mode: socket ? 'socket' : 'http',
    // In HTTP mode our own server carries the routes; only Socket Mode connects out.
    start: async () => {
      if (socket) await app.start();
    },
    stop: async () => {
      if (socket) await app.stop();
    },
  };
}

/**
 * Socket Mode: an Events API envelope is written to the inbox before Bolt acknowledges it (Bolt acks
 * events first thing). If the write fails the envelope is not acknowledged, and Slack delivers it again.
 */
function recordBeforeAck(app: App, o: Pick<SlackAppOptions, 'recordEvent' | 'log' | 'metrics' | 'commands'>): void {
  const client = (app as unknown as { receiver: { client: EventEmitter } }).receiver.client;
  const bolt = client.listeners('slack_event') as ((args: unknown) => Promise<void>)[];
  client.removeAllListeners('slack_event');
  const labelOf = ackLabeller(o.commands);
  client.on('slack_event', async (args: { type?: string; body?: Record<string, unknown>; ack?: (...a: unknown[]) => Promise<void> }) => {
    const ack = args.ack;
    if (o.metrics && args.body && ack) {
      // From the envelope's arrival over the socket to Bolt's ack of it (sent back over the socket).
      const arrived = performance.now();
      const label = { platform: 'slack', ...labelOf(args.body) };
      const histogram = o.metrics.ack;
      let observed = false;
      args.ack = async (...a: unknown[]) => {
        try {
          return await ack(...a);
        } finally {
          if (!observed) histogram.observe(label, (performance.now() - arrived) / 1000);
          observed = true;
        }
      };
    }
    if (args.type === 'events_api' && args.body && wantedEvent(args.body)) {
      try {
        await o.recordEvent(args.body);
      } catch (e) {
        o.log.error({ err: e, eventId: args.body.event_id }, 'could not record a Slack event; leaving it unacknowledged so that Slack redelivers it');
        return;
      }
    }
    for (const listener of bolt) await listener(args);
  });
}

/** Registers every listener; each can also be called directly in a test. */
export function register(app: App, o: Pick<SlackAppOptions, 'kernel' | 'services' | 'commands' | 'log' | 'metrics'>): void {
  const labelOf = ackLabeller(o.commands);
  // Labels the request's acknowledgement over HTTP (observed by the intake when the answer is sent).
  if (o.metrics) {
    app.use(async ({ body, context, next }) => {
      const timing = context.ackTiming as AckTiming | undefined;
      if (timing) Object.assign(timing, labelOf(body as Record<string, unknown>));
      await next();
    });
  }
  // Events are handled from the inbox (src/platforms/slack/events.ts), never here.
  app.use(async ({ body, next }) => {
    if ((body as { type?: string }).type === 'event_callback') return;
    await next();
  });
  // Slack retries (x-slack-retry-num) of a request we already handled: ack, do nothing.
  app.use(async ({ context, body, next, ...rest }) => {
    const key = slackRequestKey(body as Record<string, unknown>);
    context.requestKey = key;
    if (context.retryNum && (await o.kernel.isProcessed(key))) {
      o.log.info({ requestKey: key, retryNum: context.retryNum }, 'slack retry of a handled request ignored');
      const ack = (rest as { ack?: () => Promise<void> }).ack;
      if (ack) await ack();
      return;
    }
    await next();
  });

  // One listener for all of Muster's commands (Bolt runs every request through every listener's matchers).
  if (o.commands.size > 0) {
    app.command(oneOf([...o.commands.keys()].map((name) => `/${name}`)), async ({ command: payload, ack, context, client }) => {
      const command = o.commands.get(payload.command.slice(1))!;
      const requestId = randomUUID();
      const log = o.log.child({ requestId, command: `/${command.name}`, user: payload.user_id, team: payload.team_id });
      const now = o.kernel.clock.now();
      const meta: RequestMeta = {
        requestId,
        requestKey: context.requestKey as string,
        channelId: payload.channel_id,
        replyTo: { platform: 'slack', handle: payload.response_url, issuedAt: now.getTime() },
        receivedAt: now,
      };
      const started = performance.now();
      const outcome = await dispatchCommand(command, parseSlackText(payload.text ?? ''), () => o.kernel.actor('slack', payload.team_id, payload.user_id, payload.user_name), meta, o.services, log);
      if (outcome.kind === 'reply' && outcome.reply.form) {
        // trigger_id is valid for 3 s: open the form before anything else.
        await client.views.open({ trigger_id: payload.trigger_id, view: slackModal(outcome.reply.form) });
        await ack();
      } else {
        const reply = answer(outcome);
        // Slack stopped waiting at 3 s, but the command ran (and committed): its answer goes to the response_url.
        if (!(await ackOrLate(ack as never, log, reply)) && reply) await postToResponseUrl(payload.response_url, reply, log, 'could not send a late answer');
      }
      log.info({ ms: Math.round(performance.now() - started), outcome: outcome.kind }, 'command handled');
    });
  }

  registerFallback(app, o.log);
  registerInteractions(app, o);

  const planned = PLANNED_COMMANDS.filter((name) => !o.commands.has(name));
  if (planned.length > 0) {
    app.command(oneOf(planned.map((name) => `/${name}`)), async ({ command: payload, ack }) => {
      await ack(ephemeral(errorMessage(rt`${code(payload.command)} is not available in this Muster release yet. ${code('/muster help')} lists what is.`)) as never);
    });
  }
}
/**
 * What a request is, as muster_ack_duration_seconds labels it: only names Muster defines (its commands, the action
 * ids of its buttons, its forms, the event types it subscribes to), anything else `other`.
 */
function ackLabeller(commands: Map<string, Command<unknown>>): (body: Record<string, unknown>) => AckTiming {
  const names = new Set([...commands.keys(), ...PLANNED_COMMANDS].map((n) => `/${n}`));
  return (body) => {
    if (typeof body.command === 'string') return { kind: 'command', id: names.has(body.command) ? body.command : 'other' };
    switch (body.type) {
      case 'block_actions': {
        // `<id>#<n>`: buttons sharing an id in one block are numbered (src/platforms/slack/blockKit.ts).
        const id = String((body.actions as { action_id?: string }[] | undefined)?.[0]?.action_id ?? '').replace(/#\d+$/, '');
        return { kind: 'action', id: Object.hasOwn(BUTTONS, id) ? id : 'other' };
      }
      case 'view_submission': {
        const id = String((body.view as { callback_id?: string } | undefined)?.callback_id ?? '');
        return { kind: 'form', id: Object.hasOwn(FORMS, id) ? id : 'other' };
      }
      case 'event_callback':
        return slackEventLabel(body);
      default:
        return { kind: 'other', id: 'other' };
    }
  };
}

/**
 * The last resort: a listener that threw past runRequest (a bug, or Slack failing the modal or the
 * ack). Logged with a reference, and the person is told, on the request's response_url when it has
 * one, in the same words as every other failure (failureText, src/services/outcome.ts).
 */
function registerFallback(app: App, log: Logger): void {
  // Bolt's index does not export ExtendedErrorHandler: the argument is typed here as far as it is used.
  const fallback = async ({ error, body }: { error: Error; body?: unknown }): Promise<void> => {
    const requestId = randomUUID();
    const b = (body ?? {}) as { response_url?: string; response_urls?: { response_url?: string }[]; type?: string; command?: string };
    log.error({ err: error, requestId, type: b.type ?? (b.command ? 'slash_command' : undefined), command: b.command }, 'unhandled error in a Slack listener');
    const url = b.response_url ?? b.response_urls?.[0]?.response_url;
    if (!url) return;
    await postToResponseUrl(url, ephemeral(errorMessage(failureText(requestId))), log.child({ requestId }), 'could not tell the person about the failure');
  };
  app.error(fallback);
}

/** The ack body of a command: the reply (ephemeral unless the reply asks otherwise), or what went wrong. */
function answer(outcome: Outcome): Record<string, unknown> | undefined {
  switch (outcome.kind) {
    case 'reply':
      return { response_type: outcome.reply.visibility ?? 'ephemeral', ...slackMessage(replyMessage(outcome.reply)) };
    case 'usage':
      return ephemeral(errorMessage(outcome.message, outcome.usage));
    case 'refused':
    case 'error':
      return ephemeral(errorMessage(outcome.message));
    case 'duplicate':
      return undefined;
  }
}

const ephemeral = (m: Message) => ({ response_type: 'ephemeral', ...slackMessage(m) });
