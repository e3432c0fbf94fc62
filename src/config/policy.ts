import { readFileSync } from 'node:fs';
import { z } from 'zod';
import cron from 'node-cron';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { formatDuration, parseDuration } from '../domain/duration.ts';
import { ROLES, PERMISSIONS, type PermissionMap } from '../domain/rbac.ts';
import { CHANGE_TYPES, INCIDENT_COMMANDER } from '../domain/change.ts';

/**
 * The policy file (YAML, MUSTER_CONFIG). Every key is optional: the defaults below
 * encode PRODUCT.md, so an empty file (or none) gives the documented behaviour.
 */

const role = z.enum(ROLES);
const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration: write e.g. 30s, 15m, 4h, 7d` });
    return z.NEVER;
  }
  return ms;
});
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day is HH:MM (24-hour), e.g. 10:00');
const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date is YYYY-MM-DD')
  .refine((d) => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) return true;
    const [y, m, day] = d.split('-').map(Number) as [number, number, number];
    const t = new Date(Date.UTC(y, m - 1, day));
    return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === day;
  }, 'not a date in the calendar (YYYY-MM-DD)');
const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
const changeType = z.enum(CHANGE_TYPES);
const slackChannel = z.string().regex(/^(#[a-z0-9_-]{1,80}|[CG][A-Z0-9]{2,})$/, 'a channel is #name or a channel id such as C0123ABCD');
/**
 * Whom an audience entry names: one person, a group of people on the chat platform (a Slack user
 * group; a Discord role), or whoever holds a Muster role. `bare`: written as a bare Slack id
 * (`U…`, `W…`, `S…`), the form earlier policies used, read by its prefix; `config check` warns.
 */
export type Audience = { kind: 'user' | 'group'; id: string; bare?: true } | { kind: 'role'; role: (typeof ROLES)[number] };
const AUDIENCE_FORMS = 'an audience entry is user:<id>, group:<id> or role:<role>, e.g. user:U012ABCDEF, group:S0PLATFORM, role:oncall';
const audienceEntry = z.string().transform((s, ctx): Audience => {
  const m = /^(user|group|role):(.*)$/.exec(s);
  if (m) {
    const [, kind, value] = m as unknown as [string, 'user' | 'group' | 'role', string];
    if (kind === 'role') {
      if ((ROLES as readonly string[]).includes(value)) return { kind, role: value as (typeof ROLES)[number] };
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a Muster role (one of ${ROLES.join(', ')})` });
      return z.NEVER;
    }
    if (/^[A-Za-z0-9]{2,40}$/.test(value)) return { kind, id: value };
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a platform ${kind} id (letters and digits)` });
    return z.NEVER;
  }
  if (/^[UW][A-Z0-9]{2,}$/.test(s)) return { kind: 'user', id: s, bare: true };
  if (/^S[A-Z0-9]{2,}$/.test(s)) return { kind: 'group', id: s, bare: true };
  ctx.addIssue({ code: 'custom', message: AUDIENCE_FORMS });
  return z.NEVER;
});

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'not an IANA time zone such as Europe/Berlin or UTC');

/** One requirement of an approval step: `count` distinct people, each holding one of `anyOf`. */
const requirement = z.object({ anyOf: z.array(role).min(1), count: z.number().int().min(1).default(1), label: z.string().optional() }).strict();
/** A step is satisfied when all of its requirements are; steps open in order (a chain). */
const step = z.object({ name: z.string().optional(), require: z.array(requirement).min(1) }).strict();
export const approvalRoute = z.object({ steps: z.array(step).default([]) }).strict();

const severityName = z.enum(['P0', 'P1', 'P2', 'P3']);
/** Every key optional: what a file leaves out keeps the PRODUCT.md default of that severity. */
const severity = z
  .object({
    respond: duration.optional(),
    resolve: duration.optional(),
    updateEvery: duration.optional(),
    requiresCommander: z.boolean().optional(),
    announce: z.boolean().optional(),
    responders: z.array(audienceEntry).optional(),
  })
  .strict();

const escalationStep = z.object({ notify: z.union([role, z.literal('approvers')]), after: duration }).strict();

const one = (roles: (typeof ROLES)[number][], count = 1) => ({ anyOf: roles, count });
const route = (...require: ReturnType<typeof one>[]) => ({ steps: require.length ? [{ require }] : [] });

const DEFAULT_ENVIRONMENTS = {
  dev: route(),
  uat: route(one(['qa_lead'])),
  staging: route(one(['qa_lead', 'tech_lead'])),
  preprod: route(one(['product_owner']), one(['tech_lead', 'cto'])),
  production: route(one(['release_manager']), one(['cto']), one(['security_lead', 'tech_lead', 'product_owner', 'platform_owner'])),
};
const DEFAULT_COMPONENT_OVERRIDES = {
  database: { production: route(one(['release_manager']), one(['cto']), one(['security_lead'])) },
  infrastructure: { production: route(one(['release_manager']), one(['cto']), one(['security_lead'])) },
};

export const AMOUNT_BANDS = ['under_1k', '1k_10k', '10k_50k', 'over_50k'] as const;
export const DECISION_CATEGORIES = ['infrastructure', 'marketing', 'personnel', 'strategic'] as const;
const band = z.enum([...AMOUNT_BANDS, 'none']);
const category = z.enum(DECISION_CATEGORIES);
const DEFAULT_DECISION_RIGHTS = {
  financial: {
    infrastructure: {
      under_1k: route(one(['tech_lead', 'platform_owner'])),
      '1k_10k': route(one(['manager', 'devops_lead'])),
      '10k_50k': route(one(['director'])),
      over_50k: route(one(['vp']), one(['cto'])),
    },
    marketing: { under_1k: route(one(['manager'])), '1k_10k': route(one(['manager'])), '10k_50k': route(one(['director'])), over_50k: route(one(['vp'])) },
    personnel: { under_1k: route(one(['manager'])), '1k_10k': route(one(['director'])), '10k_50k': route(one(['vp'])), over_50k: route(one(['vp']), one(['cto'])) },
    strategic: { under_1k: route(one(['director'])), '1k_10k': route(one(['director'])), '10k_50k': route(one(['vp'])), over_50k: route(one(['vp']), one(['cto'])) },
  },
  technical: {
    infrastructure: { none: route(one(['tech_lead', 'platform_owner', 'devops_lead'])) },
    marketing: { none: route(one(['tech_lead'])) },
    personnel: { none: route(one(['manager'])) },
    strategic: { none: route(one(['cto'])) },
  },
  business: {
    infrastructure: { none: route(one(['platform_owner', 'director'])) },
    marketing: { none: route(one(['product_owner', 'director'])) },
    personnel: { none: route(one(['manager', 'director'])) },
    strategic: { none: route(one(['vp'])) },
  },
};

const environmentName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'an environment is lowercase a-z 0-9 - _, e.g. production');
const systemName = z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a system is lowercase a-z 0-9 _ . -, e.g. billing-api');
const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Minutes after midnight of an HH:MM time of day. */
function clockMinutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/**
 * A deployment window: on `days`, from `start` to `end` local time (organization.timeZone), for the
 * change types in `allow`; `criticalOnly` keeps it for critical changes (see `isCritical` in
 * domain/windows.ts). A window cannot run past midnight: write two.
 */
const windowSchema = z
  .object({
    days: z.array(weekday).min(1),
    start: clock,
    end: clock,
    allow: z.array(changeType).min(1),
    criticalOnly: z.boolean().default(false),
  })
  .strict()
  .refine((w) => !CLOCK.test(w.start) || !CLOCK.test(w.end) || clockMinutes(w.end) > clockMinutes(w.start), {
    message: 'a window must end after it starts on the same day (a window cannot run past midnight: split it into two)',
    path: ['end'],
  });

/** What a period lets through, and where it applies (default: changes.enforcedIn). */
const periodRules = {
  allow: z.array(changeType).default(['emergency']),
  environments: z.array(environmentName).min(1).optional(),
};
const dateRange = <T extends { start: string; end?: string }>(what: string) => ({
  check: (b: T) => !DATE.test(b.start) || b.end === undefined || !DATE.test(b.end) || b.start <= b.end,
  params: { message: `${what} must end on or after its start`, path: ['end'] },
});
const blackoutRange = dateRange<{ start: string; end?: string }>('a blackout');
/** A named date (`end` left out) or range of dates, inclusive. */
const blackout = z
  .object({ name: z.string().min(1), start: isoDate, end: isoDate.optional(), ...periodRules })
  .strict()
  .refine(blackoutRange.check, blackoutRange.params);
const holiday = z.object({ name: z.string().min(1), date: isoDate, ...periodRules }).strict();
const campaignRange = dateRange<{ start: string; end: string }>('a campaign freeze');
const campaignFreeze = z
  .object({ name: z.string().min(1), start: isoDate, end: isoDate, ...periodRules })
  .strict()
  .refine(campaignRange.check, campaignRange.params);

/** One go/no-go checklist item; `id` is how a tick is recorded. */
const checklistItem = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an item id is lowercase a-z 0-9 -, e.g. rollback-tested'), text: z.string().min(1).max(300) }).strict();
const checklist = z.array(checklistItem).refine((items) => new Set(items.map((i) => i.id)).size === items.length, 'two items of one checklist share an id; make each id unique');

/**
 * The go/no-go checklists of the governance documents' production-readiness and go-live lists,
 * one per change type. Start is refused until every item is ticked (emergency changes start
 * anyway, flagged).
 */
export const DEFAULT_CHECKLISTS = {
  standard: [
    { id: 'catalogue-match', text: 'The change is exactly the catalogue entry: nothing added to its scope' },
    { id: 'rollback-ready', text: 'The rollback steps of the catalogue entry are at hand' },
    { id: 'monitoring-green', text: 'Dashboards and alerts of the affected systems are green before starting' },
    { id: 'team-told', text: 'The team is told when the change starts and when it ends' },
  ],
  normal: [
    { id: 'tested', text: 'Tested in staging or pre-production with the same build and configuration' },
    { id: 'rollback-tested', text: 'Rollback plan written and tested' },
    { id: 'backups-verified', text: 'Backups of the affected data taken and a restore verified' },
    { id: 'monitoring', text: 'Monitoring and alerts in place for the affected systems, with the signals that say it worked' },
    { id: 'runbook', text: 'Runbook updated with the new steps and the rollback' },
    { id: 'stakeholders', text: 'Stakeholders and support notified of the window and the expected impact' },
    { id: 'oncall-aware', text: 'On-call engineer aware and available for the whole window' },
    { id: 'go-no-go-owner', text: 'Implementer and verifier named, with the verification steps written down' },
  ],
  emergency: [
    { id: 'incident-linked', text: 'The incident it fixes is linked, and its commander agrees' },
    { id: 'rollback-known', text: 'Rollback steps known, even if untested' },
    { id: 'oncall-watching', text: 'On-call engineer watching dashboards during the change' },
    { id: 'channel-told', text: 'The incident channel is told before starting' },
  ],
};

/** Who approves an emergency change at one severity: any one of `approvers`, due `within`. */
const emergencyRoute = z.object({ approvers: z.array(z.enum([...ROLES, INCIDENT_COMMANDER])).min(1), within: duration }).strict();
const EMERGENCY_DEFAULTS = {
  P0: { approvers: ['oncall', INCIDENT_COMMANDER], within: '15m' },
  P1: { approvers: ['tech_lead'], within: '2h' },
  otherwise: { approvers: ['release_manager'], within: '4h' },
};

/** A CAB seat: a requirement with a name, that a quorum may do without unless `required`. */
const cabSeat = z.object({ name: z.string().min(1).max(40), anyOf: z.array(role).min(1), count: z.number().int().min(1).default(1), required: z.boolean().default(false) }).strict();

const changes = z
  .object({
    /** Where change cards are posted (besides the channel a change was made in). */
    channel: slackChannel.optional(),
    /** The environments where windows and policy freezes apply; `all`, or a list of approvals.deployment.environments. */
    enforcedIn: z.union([z.literal('all'), z.array(environmentName)]).default(['production']),
    /** A change that fixes an open incident of one of these severities is critical (see isCritical). */
    criticalSeverities: z.array(severityName).default(['P0', 'P1']),
    /** How long a deployment (`/approval deploy`) is taken to last: [now, now + deployLength] must fit in a window. */
    deployLength: duration.refine((ms) => ms >= 60_000 && ms <= 86_400_000, 'a deployment lasts between 1m and 24h, e.g. 30m').prefault('30m'),
    windows: z.array(windowSchema).prefault([
      { days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00', allow: ['standard', 'normal', 'emergency'] },
      { days: ['fri'], start: '10:00', end: '12:00', allow: ['standard', 'normal', 'emergency'], criticalOnly: true },
    ] as never),
    blackouts: z.array(blackout).default([]),
    holidays: z.array(holiday).default([]),
    campaignFreezes: z.array(campaignFreeze).default([]),
    quarterEndFreezeDays: z.number().int().min(0).max(31).default(3),
    quarterEndAllow: z.array(changeType).default(['emergency']),
    /** The month (1–12) the fiscal year starts: quarters start then and every three months after. */
    fiscalYearStartMonth: z.number().int().min(1).max(12).default(1),
    freeze: z
      .object({
        /** The longest `/change freeze` accepted: a freeze ends by itself, and a forgotten one ends in days, not months. */
        maxDuration: duration.prefault('14d'),
      })
      .strict()
      .prefault({}),
    cab: z
      .object({
        seats: z
          .array(cabSeat)
          .min(1)
          .max(12)
          .prefault([
            { name: 'change manager', anyOf: ['release_manager'], required: true },
            { name: 'technical', anyOf: ['tech_lead', 'platform_owner', 'devops_lead', 'cto'] },
            { name: 'security', anyOf: ['security_lead'] },
            { name: 'business', anyOf: ['product_owner'] },
          ] as never),
        /** Seats that must be filled, the required ones among them (at most the number of seats). */
        quorum: z.number().int().min(1).default(3),
        digest: z
          .string()
          .refine((c) => cron.validate(c), 'not a cron expression (minute hour day month weekday), e.g. "0 9 * * 1" for Mondays 09:00')
          .default('0 9 * * 1'),
        channel: slackChannel.optional(),
        /** A CAB request undecided this long is overdue (the governance target: a decision within 4h). */
        overdueAfter: duration.prefault('4h'),
      })
      .strict()
      .prefault({})
      .refine((c) => c.quorum <= c.seats.length, { message: 'the quorum is larger than the number of seats, so no change could ever be approved; lower it or add seats', path: ['quorum'] })
      .refine((c) => new Set(c.seats.map((s) => s.name)).size === c.seats.length, { message: 'two seats share a name; name each seat differently', path: ['seats'] }),
    emergency: z
      .object({
        approval: z
          .object({
            P0: emergencyRoute.prefault(EMERGENCY_DEFAULTS.P0 as never),
            P1: emergencyRoute.prefault(EMERGENCY_DEFAULTS.P1 as never),
            P2: emergencyRoute.optional(),
            P3: emergencyRoute.optional(),
            otherwise: emergencyRoute.prefault(EMERGENCY_DEFAULTS.otherwise as never),
          })
          .strict()
          .prefault({}),
        /**
         * Where an emergency change made inside a freeze is announced, at once when it is asked for (the
         * governance documents ask for within 30 minutes). Unset: changes.channel.
         */
        leadershipChannel: slackChannel.optional(),
      })
      .strict()
      .prefault({}),
    /** The post-implementation review, mandatory after an emergency, failed or rolled-back change. */
    review: z
      .object({ within: duration.prefault('5d'), remindEvery: duration.prefault('1d') })
      .strict()
      .prefault({}),
    /** "Ask for an exception" to a window or freeze: one approval per requirement, expiring after ttl. */
    exceptions: z
      .object({
        approvers: z
          .array(requirement)
          .min(1)
          .prefault([
            { anyOf: ['cto'], count: 1 },
            { anyOf: ['release_manager'], count: 1 },
          ] as never),
        ttl: duration.prefault('24h'),
      })
      .strict()
      .prefault({}),
    verification: z
      .object({ nudgeAfter: z.array(duration).prefault(['1h', '24h'] as never) })
      .strict()
      .prefault({}),
    checklists: z
      .object({ standard: checklist.prefault(DEFAULT_CHECKLISTS.standard), normal: checklist.prefault(DEFAULT_CHECKLISTS.normal), emergency: checklist.prefault(DEFAULT_CHECKLISTS.emergency) })
      .strict()
      .prefault({}),
    standardCatalogue: z
      .array(
        z
          .object({
            id: z.string().regex(/^[a-z0-9-]+$/, 'a catalogue id is lowercase a-z 0-9 -, e.g. cert-rotation'),
            title: z.string().min(1),
            /** The systems this entry may touch (each a known system when approvals.deployment.components is set). */
            systems: z.array(systemName).min(1).optional(),
            /** Replaces checklists.standard for this entry. */
            checklist: checklist.optional(),
          })
          .strict(),
      )
      .default([])
      .refine((c) => new Set(c.map((e) => e.id)).size === c.length, 'two catalogue entries share an id; make each id unique'),
  })
  .strict()
  .prefault({});

type ParsedShape = { approvals: { deployment: { environments: Record<string, unknown>; components?: string[] | undefined } }; changes: z.output<typeof changes> };
/** Checks across sections: environments and systems the changes section names must exist. */
function crossChecks(p: ParsedShape, ctx: z.core.$RefinementCtx<ParsedShape>): void {
  const envs = Object.keys(p.approvals.deployment.environments);
  const knownEnv = (env: string, path: (string | number)[]) => {
    if (!envs.includes(env)) ctx.addIssue({ code: 'custom', path, message: `"${env}" is not an environment of approvals.deployment.environments (${envs.join(', ')})` });
  };
  const c = p.changes;
  if (c.enforcedIn !== 'all') c.enforcedIn.forEach((env, i) => knownEnv(env, ['changes', 'enforcedIn', i]));
  for (const key of ['blackouts', 'holidays', 'campaignFreezes'] as const) {
    c[key].forEach((b, i) => b.environments?.forEach((env, j) => knownEnv(env, ['changes', key, i, 'environments', j])));
  }
  const systems = p.approvals.deployment.components;
  if (systems) {
    c.standardCatalogue.forEach((e, i) =>
      e.systems?.forEach((s, j) => {
        if (!systems.includes(s))
          ctx.addIssue({ code: 'custom', path: ['changes', 'standardCatalogue', i, 'systems', j], message: `"${s}" is not a system of approvals.deployment.components (${systems.join(', ')})` });
      }),
    );
  }
}

const permissions = z
  .object(Object.fromEntries(PERMISSIONS.map((p) => [p, z.array(role).optional()])) as Record<(typeof PERMISSIONS)[number], z.ZodOptional<z.ZodArray<typeof role>>>)
  .strict()
  .default({});

const DEFAULT_PERMISSIONS: PermissionMap = {
  manage_roles: ['admin'],
  read_audit: ['admin', 'cto', 'security_lead', 'director', 'vp', 'manager', 'release_manager'],
  break_glass: ['cto'],
  // Reviewing a break-glass approval is a security control: never the person who benefited.
  break_glass_review: ['security_lead', 'admin'],
  // Putting an incident on the public status page (besides the incident's comms lead).
  publish_status: ['admin', 'manager', 'cto'],
  // Acting on anyone's change request: edit, schedule, cancel, close, and post the CAB digest now.
  manage_changes: ['release_manager', 'admin'],
  // `/change freeze` and `/change unfreeze`.
  freeze_changes: ['release_manager', 'cto'],
  // Rolling back a change that is being implemented or was implemented (besides its implementer).
  rollback_change: ['oncall', 'release_manager', 'cto'],
  close_incident: ['oncall', 'tech_lead', 'manager', 'admin'],
  view_stats: ['admin', 'cto', 'manager', 'director', 'vp', 'release_manager'],
};

export const policySchema = z
  .object({
    organization: z
      .object({ name: z.string().default('Muster'), timeZone: timeZone.default('UTC') })
      .strict()
      .default({ name: 'Muster', timeZone: 'UTC' }),
    permissions,
    incidents: z
      .object({
        channelPrefix: z
          .string()
          .regex(/^[a-z0-9][a-z0-9_-]{0,20}$/, 'a channel prefix is lowercase a-z 0-9 - _ (at most 21 characters)')
          .default('inc'),
        broadcastChannel: slackChannel.optional(),
        privateByDefault: z.boolean().default(false),
        responders: z.array(audienceEntry).default([]),
        severities: z.object({ P0: severity, P1: severity, P2: severity, P3: severity }).partial().strict().prefault({}),
        escalation: z.array(escalationStep).prefault([
          { notify: 'oncall', after: '0m' },
          { notify: 'tech_lead', after: '15m' },
          { notify: 'manager', after: '30m' },
          { notify: 'cto', after: '1h' },
        ] as unknown as z.input<typeof escalationStep>[]),
        snooze: duration.prefault('30m'),
      })
      .strict()
      .prefault({}),
    approvals: z
      .object({
        channel: slackChannel.optional(),
        securityChannel: slackChannel.optional(),
        ttl: duration.prefault('24h'),
        /** Decision-rights requests (/approval request) live longer than deployments. */
        requestTtl: duration.prefault('10d'),
        /** Decision-rights requests: PRODUCT.md's path for approvals past their SLA, all of it inside requestTtl. */
        escalation: z.array(escalationStep).prefault([
          { notify: 'approvers', after: '24h' },
          { notify: 'manager', after: '48h' },
          { notify: 'director', after: '72h' },
          { notify: 'vp', after: '5d' },
          { notify: 'cto', after: '7d' },
        ] as unknown as z.input<typeof escalationStep>[]),
        deployment: z
          .object({
            environments: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/), approvalRoute).prefault(DEFAULT_ENVIRONMENTS),
            components: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/)).optional(),
            overrides: z.record(z.string(), z.record(z.string(), approvalRoute)).prefault(DEFAULT_COMPONENT_OVERRIDES),
            /**
             * Deployments expire after `ttl` (24h), before the first step of the decision-rights path (24h), so
             * they get their own. The governance documents target a decision within 4h: approvers are reminded
             * halfway there, the manager is told when it is missed, and each later level gets twice the wait of
             * the one before (8h, 16h), which leaves the VP 8h before expiry. C-level would come at 32h, after
             * expiry: a deployment nobody decided in a day is asked for again rather than escalated further.
             */
            escalation: z.array(escalationStep).prefault([
              { notify: 'approvers', after: '2h' },
              { notify: 'manager', after: '4h' },
              { notify: 'director', after: '8h' },
              { notify: 'vp', after: '16h' },
            ] as unknown as z.input<typeof escalationStep>[]),
          })
          .strict()
          .prefault({}),
        decisionRights: z.partialRecord(z.enum(['financial', 'technical', 'business']), z.partialRecord(category, z.partialRecord(band, approvalRoute))).prefault(DEFAULT_DECISION_RIGHTS as never),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        /** Where signed checkpoints of the audit chain are published (also written to the log). */
        channel: slackChannel.optional(),
        /** A checkpoint after every this many entries … */
        checkpointEvery: z.number().int().min(1).max(1_000_000).default(1000),
        /** … and at least this often while entries are written. */
        checkpointInterval: duration.prefault('1h'),
      })
      .strict()
      .prefault({}),
    statusPage: z
      .object({
        /** The workspace that `GET /status` shows (its platform id, e.g. T0123ABCD); `/status/<id>` shows any. */
        workspace: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a workspace id such as T0123ABCD')
          .optional(),
        title: z.string().min(1).max(100).default('Service status'),
      })
      .strict()
      .prefault({}),
    changes,
  })
  .strict()
  .superRefine(crossChecks);

export type PolicyInput = z.input<typeof policySchema>;
type ParsedPolicy = z.output<typeof policySchema>;
export type ApprovalRoute = z.output<typeof approvalRoute>;
export type Severity = z.infer<typeof severityName>;
export type SeverityPolicy = Required<z.output<typeof severity>>;

const MIN = 60_000;
const HOUR = 60 * MIN;
export const DEFAULT_SEVERITIES: Record<Severity, SeverityPolicy> = {
  P0: { respond: 5 * MIN, resolve: HOUR, updateEvery: 15 * MIN, requiresCommander: true, announce: true, responders: [] },
  P1: { respond: 15 * MIN, resolve: 4 * HOUR, updateEvery: 30 * MIN, requiresCommander: true, announce: true, responders: [] },
  P2: { respond: HOUR, resolve: 24 * HOUR, updateEvery: 2 * HOUR, requiresCommander: false, announce: false, responders: [] },
  P3: { respond: 24 * HOUR, resolve: 7 * 24 * HOUR, updateEvery: 24 * HOUR, requiresCommander: false, announce: false, responders: [] },
};

export type Policy = Omit<ParsedPolicy, 'permissions' | 'incidents'> & {
  permissions: PermissionMap;
  incidents: Omit<ParsedPolicy['incidents'], 'severities'> & { severities: Record<Severity, SeverityPolicy> };
};

function complete(parsed: ParsedPolicy): Policy {
  const permissions = { ...DEFAULT_PERMISSIONS } as { -readonly [K in keyof PermissionMap]: PermissionMap[K] };
  for (const p of PERMISSIONS) {
    const v = parsed.permissions[p];
    if (v) permissions[p] = v;
  }
  return {
    ...parsed,
    permissions,
    incidents: {
      ...parsed.incidents,
      severities: Object.fromEntries(
        (Object.keys(DEFAULT_SEVERITIES) as Severity[]).map((k) => [
          k,
          { ...DEFAULT_SEVERITIES[k], ...Object.fromEntries(Object.entries(parsed.incidents.severities[k] ?? {}).filter(([, v]) => v !== undefined)) },
        ]),
      ) as Record<Severity, SeverityPolicy>,
    },
  };
}

export interface PolicyProblem {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class PolicyError extends Error {
  constructor(
    readonly file: string,
    readonly problems: PolicyProblem[],
  ) {
    super(`Policy file ${file} has ${problems.length} problem(s):\n${formatProblems(file, problems)}`);
  }
}

export function formatProblems(file: string, problems: PolicyProblem[]): string {
  return problems.map((p) => `  ${file}${p.line ? `:${p.line}:${p.column ?? 1}` : ''}  ${p.path || '(top level)'}: ${p.message}`).join('\n');
}

/** A warning about a valid policy, and a second key to point at when `path` only holds a default. */
export interface PolicyWarning {
  path: string;
  message: string;
  alsoAt?: string;
}

/**
 * What a policy can say that parses but defeats itself: a reminder or escalation that never comes because the
 * request expires first, or a path whose next step is not later than the one before, so both land together.
 */
export function policyWarnings(policy: Policy): PolicyWarning[] {
  type Step = Policy['incidents']['escalation'][number];
  const say = (s: Step) => `${s.notify} after ${formatDuration(s.after)}`;
  const out: PolicyWarning[] = [];
  const increasing = (path: string, steps: Step[]) =>
    steps.forEach((s, i) => {
      const before = steps[i - 1];
      if (before && s.after <= before.after) {
        const message = `${say(s)} is not later than the step before it (${say(before)}), so both are sent at once; make each "after" larger than the one before`;
        out.push({ path: `${path}.${i}`, message });
      }
    });
  const a = policy.approvals;
  for (const [path, steps, ttlKey, ttl, what] of [
    ['approvals.deployment.escalation', a.deployment.escalation, 'approvals.ttl', a.ttl, 'deployment requests'],
    ['approvals.escalation', a.escalation, 'approvals.requestTtl', a.requestTtl, 'decision-rights requests'],
  ] as const) {
    steps.forEach((s, i) => {
      if (s.after >= ttl) {
        const expiry = `${what} (${ttlKey} ${formatDuration(ttl)})`;
        out.push({ path: `${path}.${i}`, alsoAt: ttlKey, message: `${say(s)} is at or after the expiry of ${expiry}, so it never fires, nor does any step after it` });
      }
    });
    increasing(path, steps);
  }
  increasing('incidents.escalation', policy.incidents.escalation);
  const bare = (path: string, entries: readonly Audience[]) =>
    entries.forEach((e, i) => {
      if (e.kind !== 'role' && e.bare)
        out.push({ path: `${path}.${i}`, message: `write ${e.id} as ${e.kind}:${e.id}: a bare id is read as a ${e.kind === 'user' ? 'person' : 'user group'} only by its Slack prefix` });
    });
  bare('incidents.responders', policy.incidents.responders);
  for (const [sev, p] of Object.entries(policy.incidents.severities)) bare(`incidents.severities.${sev}.responders`, p.responders);
  out.push(...changesWarnings(policy));
  return out;
}

/** The changes section's self-defeating settings: seats that outnumber the quorum, windows nothing fits, nudges out of order. */
function changesWarnings(policy: Policy): PolicyWarning[] {
  const c = policy.changes;
  const out: PolicyWarning[] = [];
  const required = c.cab.seats.filter((s) => s.required).length;
  if (required > c.cab.quorum) {
    out.push({
      path: 'changes.cab.quorum',
      alsoAt: 'changes.cab.seats',
      message: `${required} seats are required but the quorum is ${c.cab.quorum}: every required seat is needed anyway, so the quorum is in effect ${required}`,
    });
  }
  if (c.enforcedIn !== 'all' && c.enforcedIn.length === 0) {
    out.push({ path: 'changes.enforcedIn', message: 'windows and freezes apply in no environment, so no change is ever refused for its timing; list the environments to protect, e.g. [production]' });
  }
  const normalWindows = c.windows.filter((w) => w.allow.includes('normal') && !w.criticalOnly);
  const longest = Math.max(0, ...normalWindows.map((w) => (clockMinutes(w.end) - clockMinutes(w.start)) * 60_000));
  if (normalWindows.length && c.deployLength > longest) {
    out.push({
      path: 'changes.deployLength',
      message: `a deployment is taken to last ${formatDuration(c.deployLength)}, longer than any window that takes normal changes (the longest is ${formatDuration(longest)}), so every deployment where windows are enforced is held; shorten it`,
    });
  }
  for (const type of ['normal', 'standard'] as const) {
    if (!c.windows.some((w) => w.allow.includes(type) && !w.criticalOnly)) {
      out.push({
        path: 'changes.windows',
        message: `no window takes ${type} changes that are not critical, so every one of them is refused${c.enforcedIn === 'all' ? '' : ` in ${c.enforcedIn.join(', ') || 'no environment'}`} unless an exception is approved`,
      });
    }
  }
  if (c.criticalSeverities.length === 0) {
    c.windows.forEach((w, i) => {
      if (w.criticalOnly)
        out.push({
          path: `changes.windows.${i}`,
          alsoAt: 'changes.criticalSeverities',
          message: 'this window is for critical changes only, and with no critical severities only emergency changes are critical; it takes no standard or normal change',
        });
    });
  }
  c.verification.nudgeAfter.forEach((after, i) => {
    const before = c.verification.nudgeAfter[i - 1];
    if (before !== undefined && after <= before) {
      out.push({
        path: `changes.verification.nudgeAfter.${i}`,
        message: `the nudge after ${formatDuration(after)} is not later than the one before it (${formatDuration(before)}), so both are sent at once; make each larger than the one before`,
      });
    }
  });
  for (const sev of ['P0', 'P1', 'P2', 'P3'] as const) {
    const route = c.emergency.approval[sev];
    const resolve = policy.incidents.severities[sev].resolve;
    if (route && route.within >= resolve) {
      out.push({
        path: `changes.emergency.approval.${sev}.within`,
        message: `an emergency change for a ${sev} incident may wait ${formatDuration(route.within)} for approval, as long as the ${sev} resolution target (${formatDuration(resolve)}); shorten it`,
      });
    }
  }
  return out;
}

/** Parses policy text, giving each problem and warning its dotted path and, where known, its line. */
export function parsePolicyText(text: string, file = 'policy'): { policy?: Policy; problems: PolicyProblem[]; warnings: PolicyProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: '', message: `YAML syntax: ${e.message.split('\n')[0]}`, line: pos?.line, column: pos?.col };
      }),
      warnings: [],
    };
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { problems: [{ path: '', message: 'the policy file must be a YAML mapping' }], warnings: [] };
  }
  const result = policySchema.safeParse(raw);
  if (result.success) {
    const policy = complete(result.data);
    const lineOf = (path: string | undefined) => {
      const node = path ? doc.getIn(path.split('.'), true) : undefined;
      return isNode(node) && node.range ? lineCounter.linePos(node.range[0]) : undefined;
    };
    const warnings = policyWarnings(policy).map((w) => {
      // A step the file leaves at its default has no line; the expiry the file set next to it does.
      const pos = lineOf(w.path) ?? lineOf(w.alsoAt);
      return { path: w.path, message: w.message, line: pos?.line, column: pos?.col };
    });
    return { policy, problems: [], warnings };
  }
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    let node: unknown;
    for (let i = path.length; i >= 0 && !isNode(node); i--) node = doc.getIn(path.slice(0, i), true);
    const range = isNode(node) ? node.range : undefined;
    const pos = range ? lineCounter.linePos(range[0]) : undefined;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return { path: path.join('.'), message, line: pos?.line, column: pos?.col };
  });
  return { problems, warnings: [] };
}

export function loadPolicy(file: string | undefined): Policy {
  if (!file) return defaultPolicy();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError(file, [{ path: '', message: `cannot read the file: ${(e as Error).message}` }]);
  }
  const { policy, problems } = parsePolicyText(text, file);
  if (!policy) throw new PolicyError(file, problems);
  return policy;
}

export function defaultPolicy(): Policy {
  const { policy, problems } = parsePolicyText('{}');
  if (!policy) throw new Error(`built-in policy defaults are invalid: ${JSON.stringify(problems)}`);
  return policy;
}
