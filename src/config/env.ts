import { z } from 'zod';

const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** A short secret could be guessed offline from any published checkpoint; the message never echoes the value. */
const auditSecret = (name: string) =>
  z
    .string()
    .min(32, `${name} must be at least 32 characters (e.g. the output of \`openssl rand -hex 32\`)`)
    .refine((v) => !v.includes(','), `${name} must not contain a comma (MUSTER_AUDIT_PREVIOUS_KEYS is a comma-separated list)`);

export const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  SLACK_BOT_TOKEN: optionalNonEmpty,
  SLACK_SIGNING_SECRET: optionalNonEmpty,
  SLACK_APP_TOKEN: optionalNonEmpty,
  SLACK_API_URL: z
    .string()
    .default('https://slack.com/api/')
    .transform((v) => (v.endsWith('/') ? v : `${v}/`))
    .pipe(z.url({ message: 'SLACK_API_URL must be an http(s) URL such as https://slack.com/api/' })),
  DATABASE_URL: optionalNonEmpty,
  MUSTER_CONFIG: optionalNonEmpty,
  MUSTER_ADMINS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[UW][A-Z0-9]+$/, 'MUSTER_ADMINS holds Slack user ids such as U012ABCDEF'))),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MUSTER_INSTANCE_ID: optionalNonEmpty,
  // The secret that keys the audit chain and signs its checkpoints (src/store/auditKeys.ts). Never in the database.
  MUSTER_AUDIT_KEY: optionalNonEmpty.pipe(auditSecret('MUSTER_AUDIT_KEY').optional()),
  MUSTER_AUDIT_PREVIOUS_KEYS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(auditSecret('each key in MUSTER_AUDIT_PREVIOUS_KEYS'))),
  MUSTER_AUDIT_CHECKPOINT_FILE: optionalNonEmpty,
  // The secret `GET /calendar.ics?token=` needs (src/web/calendar.ts); unset, the feed is open. Goes in a URL as it is.
  CALENDAR_TOKEN: optionalNonEmpty.pipe(
    z
      .string()
      .min(16, 'CALENDAR_TOKEN must be at least 16 characters (e.g. the output of `openssl rand -hex 16`)')
      .regex(/^[A-Za-z0-9._~-]+$/, 'CALENDAR_TOKEN may hold only letters, digits and . _ ~ - (it goes into the feed URL as it is)')
      .optional(),
  ),
  // The bearer token `GET /metrics` needs (src/web/health.ts): `Authorization: Bearer <token>`; unset, /metrics is open.
  METRICS_TOKEN: optionalNonEmpty.pipe(
    z
      .string()
      .min(16, 'METRICS_TOKEN must be at least 16 characters (e.g. the output of `openssl rand -hex 16`)')
      .regex(/^[\x21-\x7e]+$/, 'METRICS_TOKEN may hold only printable ASCII characters without spaces (it goes into an Authorization header)')
      .optional(),
  ),
  // Discord (src/platforms/discord/): the bot token, the application, its public key (enables POST /discord/interactions).
  DISCORD_TOKEN: optionalNonEmpty,
  DISCORD_APPLICATION_ID: optionalNonEmpty.pipe(
    z
      .string()
      .regex(/^\d{17,20}$/, 'DISCORD_APPLICATION_ID is the application id, a number such as 1234567890123456789')
      .optional(),
  ),
  DISCORD_PUBLIC_KEY: optionalNonEmpty.pipe(
    z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, "DISCORD_PUBLIC_KEY is the application's public key: 64 hexadecimal characters")
      .optional(),
  ),
  DISCORD_API_URL: z
    .string()
    .default('https://discord.com/api/v10')
    .pipe(z.url({ message: 'DISCORD_API_URL must be an http(s) URL such as https://discord.com/api/v10' })),
  DISCORD_ADMINS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^\d{17,20}$/, 'DISCORD_ADMINS holds Discord user ids such as 123456789012345678'))),
  // The gateway: the default transport without DISCORD_PUBLIC_KEY; `on` also connects it beside HTTP (pins, reactions).
  DISCORD_GATEWAY: z.enum(['on', 'off'], { message: 'DISCORD_GATEWAY is on or off' }).optional(),
  // Where incident channels are made and where closed ones go, locked (category names or ids).
  DISCORD_INCIDENT_CATEGORY: optionalNonEmpty,
  DISCORD_ARCHIVE_CATEGORY: optionalNonEmpty,
  // The sandbox (a built-in chat workspace in the browser) starts when no chat credentials are set; `off` refuses instead.
  MUSTER_SANDBOX: z.enum(['auto', 'off'], { message: 'MUSTER_SANDBOX is off (never start the sandbox) or auto (the default: start it when no chat credentials are set)' }).default('auto'),
  // Where the sandbox keeps its workspace and its own Muster database.
  MUSTER_SANDBOX_DIR: optionalNonEmpty,
  // Pacing of Web API calls against Slack's rate tiers (src/platforms/slack/rateLimits.ts): on by default,
  // `off`, or a number that multiplies every budget.
  MUSTER_SLACK_PACING: z
    .string()
    .optional()
    .transform((v, ctx): false | { scale: number } => {
      const s = (v ?? '').trim().toLowerCase();
      if (s === '' || s === 'on') return { scale: 1 };
      if (s === 'off') return false;
      const n = Number(s);
      if (Number.isFinite(n) && n > 0) return { scale: n };
      ctx.addIssue({ code: 'custom', message: 'MUSTER_SLACK_PACING is on, off, or a positive number that multiplies every rate budget (e.g. 0.5)' });
      return z.NEVER;
    }),
});

export type Env = z.infer<typeof envSchema>;

export const SETUP_GUIDE = 'docs/slack-setup.md';

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function parseEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new EnvError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return parsed.data;
}

/** The Slack variables `npm start` cannot run without, named so the operator can fix them. */
export function missingSlackVariables(env: Env): string[] {
  const missing: string[] = [];
  if (!env.SLACK_BOT_TOKEN) missing.push('SLACK_BOT_TOKEN');
  if (!env.SLACK_APP_TOKEN && !env.SLACK_SIGNING_SECRET) missing.push('SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)');
  return missing;
}

export const slackConfigured = (env: Env): boolean => Boolean(env.SLACK_BOT_TOKEN || env.SLACK_SIGNING_SECRET || env.SLACK_APP_TOKEN);
export const discordConfigured = (env: Env): boolean => Boolean(env.DISCORD_TOKEN || env.DISCORD_APPLICATION_ID || env.DISCORD_PUBLIC_KEY);

/** No chat platform configured at all: the case in which `npm start` runs the sandbox. */
export function noChatCredentials(env: Env): boolean {
  return !slackConfigured(env) && !discordConfigured(env);
}

/**
 * The Discord variables a Discord deployment cannot run without: the token and the application (commands are
 * registered for it, replies go through its webhooks). Interactions arrive over the gateway, or over HTTP at
 * POST /discord/interactions when DISCORD_PUBLIC_KEY is set; DISCORD_GATEWAY=off without a public key leaves none.
 */
export function missingDiscordVariables(env: Env): string[] {
  const missing: string[] = [];
  if (!env.DISCORD_TOKEN) missing.push('DISCORD_TOKEN');
  if (!env.DISCORD_APPLICATION_ID) missing.push('DISCORD_APPLICATION_ID');
  if (!env.DISCORD_PUBLIC_KEY && env.DISCORD_GATEWAY === 'off') missing.push('DISCORD_PUBLIC_KEY (with DISCORD_GATEWAY=off, interactions can only arrive over HTTP)');
  return missing;
}

/** How Discord's interactions and events arrive. */
export function discordTransports(env: Env): { http: boolean; gateway: boolean } {
  const http = Boolean(env.DISCORD_PUBLIC_KEY);
  return { http, gateway: env.DISCORD_GATEWAY === 'on' || (!http && env.DISCORD_GATEWAY !== 'off') };
}

export function defaultDatabaseUrl(cwd = process.cwd()): string {
  return `file:${cwd}/data/muster.db`;
}
