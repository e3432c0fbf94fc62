import type { Application } from 'express';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { defaultDatabaseUrl, discordTransports, type Env } from './config/env.ts';
import type { Policy } from './config/policy.ts';
import { systemClock, type Clock } from './domain/clock.ts';
import { openDatabase, redact, type Database } from './store/db.ts';
import { migrate } from './store/migrate.ts';
import { resumeUnfinished } from './store/outbox.ts';
import { releaseClaims } from './store/timers.ts';
import { OutboxDispatcher } from './scheduler/outboxDispatcher.ts';
import { InboxProcessor } from './scheduler/inboxProcessor.ts';
import { recordEvent, resumeEvents } from './store/inbox.ts';
import { slackEventHandler } from './platforms/slack/events.ts';
import { TimerScheduler } from './scheduler/timerScheduler.ts';
import { Kernel } from './services/kernel.ts';
import { createServices, type Services } from './services/index.ts';
import { createWeb, type WebState } from './web/health.ts';
import { createWebClient } from './platforms/slack/webClient.ts';
import { SlackChatPort } from './platforms/slack/chatPort.ts';
import type { Capabilities } from './platforms/effects.ts';
import { SlackDirectory } from './platforms/slack/directory.ts';
import { createSlackPlatform, type SlackPlatform } from './platforms/slack/app.ts';
import { commands } from '../commands/index.ts';
import { createLogger } from './log.ts';
import { surfaceDrawer } from './services/surfaces.ts';
import { scheduleMaintenance } from './scheduler/maintenance.ts';
import { CabDigest } from './scheduler/cabDigest.ts';
import { AuditLog } from './store/audit.ts';
import { AuditKeyError, resolveAuditKeys } from './store/auditKeys.ts';
import { checkpointFileProblem, wireAuditCheckpoints } from './scheduler/auditCheckpoints.ts';
// Types only: the Discord platform (discord.js, @discordjs/rest: about 50 MB resident) is loaded when Discord is
// configured. The build puts modules loaded this way in chunks of their own, with their packages' imports.
import type { REST } from '@discordjs/rest';
import type { APIUser } from 'discord-api-types/v10';
import type { DiscordChatPort } from './platforms/discord/chatPort.ts';
import type { DiscordGateway, PinEvent, ReactionEvent } from './platforms/discord/gateway.ts';
import type { Directory } from './services/types.ts';
import { createMetrics, type Metrics } from './metrics.ts';

export interface MusterOptions {
  env: Env;
  policy: Policy;
  clock?: Clock;
  log?: Logger;
  /** Poll loops for the outbox and timers (tests drive them by hand when false). */
  loops?: boolean;
  dispatcher?: { baseBackoffMs?: number; maxAttempts?: number; pollMs?: number; leaseMs?: number };
  inbox?: { baseBackoffMs?: number; maxAttempts?: number; pollMs?: number };
  /** Pace Slack calls against the published rate tiers (default: MUSTER_SLACK_PACING, on; `scale` multiplies every budget). */
  slackPacing?: false | { scale?: number };
  /** Capabilities the Slack port does without (tests of the services' degraded paths). */
  slackWithout?: readonly (keyof Capabilities)[];
  /** `sandbox` when Muster runs against the built-in workspace (said by /readyz and the logs). Default production. */
  mode?: 'production' | 'sandbox';
  /** The address to listen on (default: every interface). The sandbox, which has no sign-in, keeps to 127.0.0.1. */
  host?: string;
  /** The shortest time between two App Home publishes for one person (default 5 s: HOME_MIN_INTERVAL_MS; tests shorten it). */
  homeMinIntervalMs?: number;
  /** Routes to add to Muster's HTTP server before it listens (the sandbox's web app). */
  mount?: (web: Application) => void;
}

export interface Muster {
  port: number;
  url: string;
  db: Database;
  kernel: Kernel;
  services: Services;
  dispatcher: OutboxDispatcher;
  timers: TimerScheduler;
  inbox: InboxProcessor;
  /** The CAB digest (started with the loops; tests call its runDigest). */
  cabDigest: CabDigest;
  /** Present when Slack is configured. */
  slack?: SlackPlatform;
  /** Present when Discord is configured: its port, REST client, and how interactions arrive. */
  discord?: { port: DiscordChatPort; rest: REST; mode: 'http' | 'gateway' | 'http+gateway' | 'none' };
  server: Server;
  /** This Muster's Prometheus registry and metrics (served at GET /metrics). */
  metrics: Metrics;
  stop(): Promise<void>;
}

export class StartupError extends Error {}

/** Renderers, effect hooks and timer handlers of each feature. */
function wireFeatures(services: Services, dispatcher: OutboxDispatcher, timers: TimerScheduler): void {
  dispatcher
    .setDrawer(surfaceDrawer(services))
    .addHook('incident.channel', (tx, { data, result }) => services.incidents.onChannelCreated(tx, String(data.incidentId), result))
    .addHook('incident.card', (tx, { data, result, effect }) => services.incidents.onCardPosted(tx, String(data.incidentId), effect.id, result))
    .addHook('nudge.posted', (tx, { data, effect }) => services.nudges.onNudgePosted(tx, String(data.nudgeId), effect.id))
    .addHook('incident.invited', (tx, { data, result }) => services.incidents.onInvited(tx, String(data.incidentId), result));
  for (const kind of ['incident.no-commander', 'incident.update-due', 'incident.resolve-sla']) timers.on(kind, (tx, t) => services.nudges.onIncidentTimer(tx, t));
  timers.on('nudge.escalate', (tx, t, p) => services.nudges.onEscalate(tx, t, p));
  timers.on('incident.action-reminder', (tx, t, p) => services.nudges.onActionReminder(tx, t, p));
  timers.on('approval.expire', (tx, t) => services.approvals.onExpire(tx, t));
  timers.on('approval.escalate', (tx, t, p) => services.approvals.onEscalate(tx, t, p));
  timers.on('change.verify', (tx, t, p) => services.changes.onVerify(tx, t, p));
  timers.on('change.review', (tx, t, p) => services.changes.onReviewDue(tx, t, p));
}

export function instanceId(env: Env): string {
  return env.MUSTER_INSTANCE_ID ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Composition root: config -> store -> services -> platforms -> scheduler -> web. */
export async function startMuster(o: MusterOptions): Promise<Muster> {
  const { env, policy } = o;
  const clock = o.clock ?? systemClock;
  const log = o.log ?? createLogger(env.LOG_LEVEL);
  const owner = instanceId(env);
  const url = env.DATABASE_URL ?? defaultDatabaseUrl();
  let auditKeys: ReturnType<typeof resolveAuditKeys>;
  try {
    auditKeys = resolveAuditKeys(env, url);
  } catch (e) {
    if (e instanceof AuditKeyError) throw new StartupError(e.message);
    throw e;
  }
  if (auditKeys.file) {
    log.warn(
      { keyFile: auditKeys.file, created: auditKeys.created },
      'MUSTER_AUDIT_KEY is not set: the audit chain is keyed with a key file next to the database. ' + 'In production set MUSTER_AUDIT_KEY (see docs/deployment.md#the-audit-key)',
    );
  }
  for (const w of auditKeys.warnings) log.warn(w);
  const fileProblem = env.MUSTER_AUDIT_CHECKPOINT_FILE && (await checkpointFileProblem(env.MUSTER_AUDIT_CHECKPOINT_FILE));
  if (fileProblem) throw new StartupError(fileProblem);

  const migrated = await migrate(url);
  if (migrated.applied.length) log.info({ applied: migrated.applied, database: redact(url) }, 'migrations applied');
  const metrics = createMetrics();
  const db = await openDatabase(url, { metrics, walCheckpointThread: true });
  const resumed = await resumeUnfinished(db, clock, owner);
  const released = await releaseClaims(db, clock, owner);
  const events = await resumeEvents(db, clock, owner);
  if (resumed || released || events) log.info({ effects: resumed, timers: released, events }, 'resuming work left unfinished by the last run');

  const dispatcher = new OutboxDispatcher(db, clock, log.child({ component: 'outbox' }), { owner, ...o.dispatcher, metrics });
  // A channel that an incident already has is never adopted by another incident's channel effect.
  const channelOwned = async (channelId: string) => (await db.read((tx) => tx.incident.count({ where: { channelId } }))) > 0;
  const ports = new Map<string, SlackChatPort | DiscordChatPort>();
  const directories: Record<string, Directory> = {};

  // Slack, when configured (either platform alone is a deployment).
  let slackSetup: { client: ReturnType<typeof createWebClient>; port: SlackChatPort; identity: { botId?: string; botUserId?: string } } | undefined;
  if (env.SLACK_BOT_TOKEN) {
    const client = createWebClient(env.SLACK_BOT_TOKEN, env.SLACK_API_URL, metrics);
    // On PostgreSQL the rate budget is held in the database, one for every replica; on SQLite, the only process keeps it in memory.
    const pacing = o.slackPacing ?? env.MUSTER_SLACK_PACING;
    const slackPort = new SlackChatPort(client, { pacing: pacing && db.provider === 'postgresql' ? { ...pacing, shared: { db, clock } } : pacing, without: o.slackWithout });
    slackPort.channelOwned = channelOwned;
    dispatcher.addPort(slackPort);
    let identity: { botId?: string; botUserId?: string };
    try {
      const auth = await client.auth.test();
      identity = { botId: auth.bot_id, botUserId: auth.user_id };
      slackPort.workspaceUrl = auth.url;
      slackPort.botUserId = auth.user_id;
    } catch (e) {
      await db.close();
      const code = (e as { data?: { error?: string } }).data?.error ?? (e as Error).message;
      throw new StartupError(`Slack rejected the bot token at ${env.SLACK_API_URL} (auth.test: ${code}). Check SLACK_BOT_TOKEN and SLACK_API_URL; see docs/slack-setup.md.`);
    }
    ports.set(slackPort.platform, slackPort);
    directories.slack = new SlackDirectory(client);
    slackSetup = { client, port: slackPort, identity };
  }

  // Discord, when configured: REST for effects, interactions over HTTP at POST /discord/interactions.
  let discordSetup: { rest: REST; port: DiscordChatPort } | undefined;
  if (env.DISCORD_TOKEN) {
    const [{ createDiscordRest, DiscordChatPort }, { DiscordDirectory }, { Routes }] = await Promise.all([
      import('./platforms/discord/chatPort.ts'),
      import('./platforms/discord/directory.ts'),
      import('discord-api-types/v10'),
    ]);
    const rest = createDiscordRest(env.DISCORD_TOKEN, env.DISCORD_API_URL, metrics);
    const discordPort = new DiscordChatPort({
      rest,
      applicationId: env.DISCORD_APPLICATION_ID ?? '',
      incidentCategory: env.DISCORD_INCIDENT_CATEGORY,
      archiveCategory: env.DISCORD_ARCHIVE_CATEGORY,
      channelOwned,
    });
    try {
      const me = (await rest.get(Routes.user('@me'))) as APIUser;
      discordPort.botUserId = me.id;
    } catch (e) {
      await db.close();
      throw new StartupError(`Discord rejected the bot token at ${env.DISCORD_API_URL} (GET /users/@me: ${(e as Error).message}). Check DISCORD_TOKEN and DISCORD_API_URL; see docs/discord-setup.md.`);
    }
    dispatcher.addPort(discordPort);
    ports.set(discordPort.platform, discordPort);
    directories.discord = new DiscordDirectory(rest);
    discordSetup = { rest, port: discordPort };
  }
  const firstPort = slackSetup?.port ?? discordSetup?.port;
  if (!firstPort) {
    await db.close();
    throw new StartupError('No chat platform is configured: set the Slack variables (docs/slack-setup.md) or the Discord ones (docs/discord-setup.md).');
  }

  const audit = new AuditLog(db.provider, clock, {
    keyring: auditKeys.keyring,
    checkpoints: { every: policy.audit.checkpointEvery, channel: policy.audit.channel ? { platform: firstPort.platform, channel: policy.audit.channel } : undefined },
  });
  try {
    const rotated = await audit.sealKey(db);
    if (rotated) log.info(rotated, 'audit key changed: recorded in the audit chain');
  } catch (e) {
    await db.close();
    if (e instanceof AuditKeyError) throw new StartupError(e.message);
    throw e;
  }

  const kernel = new Kernel({
    db,
    clock,
    policy,
    log,
    admins: [...env.MUSTER_ADMINS, ...env.DISCORD_ADMINS],
    audit,
    directories,
    onEffects: () => dispatcher.kick(),
    effectLeases: { watch: (tx) => dispatcher.watch(tx), lease: (tx) => dispatcher.leaseInTx(tx) },
    capabilities: (platform) => ports.get(platform)?.capabilities,
  });
  const services = createServices(kernel);
  const timers = new TimerScheduler(db, clock, log.child({ component: 'timers' }), { owner, metrics }, () => dispatcher.kick());
  const inbox = new InboxProcessor(db, clock, log.child({ component: 'inbox' }), { owner, ...o.inbox });
  wireFeatures(services, dispatcher, timers);
  const cabDigest = new CabDigest({ kernel, log: log.child({ component: 'cab-digest' }) });
  await wireAuditCheckpoints({
    db,
    clock,
    log: log.child({ component: 'audit' }),
    audit,
    dispatcher,
    timers,
    intervalMs: policy.audit.checkpointInterval,
    file: env.MUSTER_AUDIT_CHECKPOINT_FILE,
  });

  const state: WebState = { accepting: true };
  const mode = o.mode ?? 'production';
  const web = createWeb(db, state, {
    mode,
    clock,
    log: log.child({ component: 'web' }),
    statusPage: policy.statusPage,
    calendar: { changes: services.changes, token: env.CALENDAR_TOKEN, workspace: policy.statusPage.workspace, organization: policy.organization.name },
    metrics: { metrics, token: env.METRICS_TOKEN },
  });
  const slack = slackSetup
    ? createSlackPlatform({
        botToken: env.SLACK_BOT_TOKEN!,
        identity: slackSetup.identity,
        signingSecret: env.SLACK_SIGNING_SECRET,
        appToken: env.SLACK_APP_TOKEN,
        slackApiUrl: env.SLACK_API_URL,
        web,
        kernel,
        services,
        commands,
        log,
        metrics,
        recordEvent: async (body) => {
          const team = String(body.team_id ?? '');
          const recorded = await recordEvent(db, clock, {
            key: `slack:${team}:${String(body.event_id ?? '')}`,
            platform: 'slack',
            workspaceId: `slack:${team}`,
            type: String((body.event as { type?: string } | undefined)?.type ?? ''),
            payload: body,
          });
          if (recorded) inbox.kick();
        },
      })
    : undefined;
  if (slackSetup) inbox.on('slack', slackEventHandler({ kernel, services, client: slackSetup.client, log: log.child({ component: 'events' }), homeMinIntervalMs: o.homeMinIntervalMs }));

  let discord: Muster['discord'];
  let discordGatewayStart: (() => Promise<DiscordGateway>) | undefined;
  let gateway: DiscordGateway | undefined;
  if (discordSetup) {
    const deps = { applicationId: env.DISCORD_APPLICATION_ID ?? '', kernel, services, commands, rest: discordSetup.rest, log: log.child({ platform: 'discord' }), metrics };
    const transports = discordTransports(env);
    const [{ discordTimelineEvents, startDiscordGateway }, { discordInteractions }, { registerDiscordCommands }] = await Promise.all([
      import('./platforms/discord/gateway.ts'),
      import('./platforms/discord/interactions.ts'),
      import('./platforms/discord/commands.ts'),
    ]);
    const timeline = discordTimelineEvents({ kernel, services, rest: discordSetup.rest, log: log.child({ platform: 'discord' }) });
    inbox.on('discord', async (row, payload) => {
      if (row.type === 'pin') await timeline.onPin(payload as unknown as PinEvent);
      else if (row.type === 'reaction') await timeline.onReaction(payload as unknown as ReactionEvent);
      else if (row.type === 'pins_update') await timeline.onPinsUpdate?.(payload as unknown as { guildId: string; channelId: string });
    });
    if (transports.http) web.post('/discord/interactions', discordInteractions({ ...deps, publicKey: env.DISCORD_PUBLIC_KEY! }));
    discord = { port: discordSetup.port, rest: discordSetup.rest, mode: transports.http && transports.gateway ? 'http+gateway' : transports.http ? 'http' : transports.gateway ? 'gateway' : 'none' };
    discordGatewayStart = transports.gateway
      ? async () => {
          try {
            // Pins and reactions are written to the inbox first (durable, retried with backoff, as Slack's events are),
            // then handled from it by the timeline handlers.
            const record = (type: string, guildId: string, parts: readonly string[], payload: object) =>
              recordEvent(db, clock, {
                key: `discord:${guildId}:${type}:${parts.join(':')}:${randomUUID()}`,
                platform: 'discord',
                workspaceId: `discord:${guildId}`,
                type,
                payload: payload as Record<string, unknown>,
              }).then((recorded) => {
                if (recorded) inbox.kick();
              });
            return await startDiscordGateway({
              token: env.DISCORD_TOKEN!,
              apiUrl: env.DISCORD_API_URL,
              deps,
              onPin: (e) => record('pin', e.guildId, [e.channelId, e.messageId], e),
              onReaction: (e) => record('reaction', e.guildId, [e.channelId, e.messageId, e.userId], e),
              onPinsUpdate: (e) => record('pins_update', e.guildId, [e.channelId], e),
              log: log.child({ platform: 'discord', component: 'gateway' }),
            });
          } catch (e) {
            throw new StartupError((e as Error).message);
          }
        }
      : undefined;
    if (env.DISCORD_APPLICATION_ID) {
      // Registered at every start (a bulk overwrite, idempotent): the commands always match this release's grammars.
      try {
        const n = await registerDiscordCommands(discordSetup.rest, env.DISCORD_APPLICATION_ID, commands.values());
        log.info({ commands: n }, 'discord commands registered');
      } catch (e) {
        log.error({ err: e }, 'discord command registration failed; run `muster discord register` once Discord accepts it');
      }
    }
  }

  o.mount?.(web);
  const server = createServer(web);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (o.host) server.listen(env.PORT, o.host, () => resolve());
    else server.listen(env.PORT, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  await slack?.start();
  if (discordGatewayStart) {
    try {
      gateway = await discordGatewayStart();
    } catch (e) {
      server.close();
      await slack?.stop().catch(() => undefined);
      await db.close();
      throw e;
    }
  }
  let maintenance: ReturnType<typeof scheduleMaintenance> | undefined;
  if (o.loops !== false) {
    dispatcher.start();
    timers.start();
    inbox.start();
    maintenance = scheduleMaintenance(db, clock, log.child({ component: 'maintenance' }), policy.organization.timeZone);
    cabDigest.start();
  }
  log.info({ port, mode, slack: slack?.mode, discord: discord?.mode, database: redact(url), instance: owner }, mode === 'sandbox' ? 'muster is up in sandbox mode' : 'muster is up');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      state.accepting = false;
      // Stop taking requests; requests already in flight finish.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3_000).unref())]);
      server.closeAllConnections();
      await slack?.stop().catch((e) => log.warn({ err: e }, 'slack stop failed'));
      await gateway?.stop().catch((e) => log.warn({ err: e }, 'discord gateway stop failed'));
      await maintenance?.stop();
      await cabDigest.stop();
      await timers.stop();
      await inbox.stop();
      await dispatcher.stop();
      const drained = await dispatcher.drain(4_000).catch(() => false);
      if (!drained) log.warn('outbox not fully drained at shutdown; the rest resumes at next start');
      await db.close();
      log.info('muster stopped');
    })());

  return { port, url: `http://127.0.0.1:${port}`, db, kernel, services, dispatcher, timers, inbox, cabDigest, ...(slack ? { slack } : {}), ...(discord ? { discord } : {}), server, metrics, stop };
}
