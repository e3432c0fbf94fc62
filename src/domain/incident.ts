import type { Severity, SeverityPolicy } from '../config/policy.ts';

/** Incident rules from PRODUCT.md, as plain functions of plain values (no I/O). */

export const SEVERITIES = ['P0', 'P1', 'P2', 'P3'] as const satisfies readonly Severity[];
export const ACTIVE_STATUSES = ['investigating', 'identified', 'monitoring'] as const;
export const STATUSES = [...ACTIVE_STATUSES, 'resolved', 'closed'] as const;
export type IncidentStatus = (typeof STATUSES)[number];
export type ActiveStatus = (typeof ACTIVE_STATUSES)[number];

export const INCIDENT_ROLES = ['commander', 'tech', 'comms'] as const;
export type IncidentRoleName = (typeof INCIDENT_ROLES)[number];

export const ROLE_LABEL: Record<IncidentRoleName, string> = {
  commander: 'Incident commander',
  tech: 'Technical lead',
  comms: 'Communications lead',
};

export const ROLE_DUTIES: Record<IncidentRoleName, string> = {
  commander: 'You run the response: keep the status and severity right, make sure someone owns each thread of work, post an update at least every cadence, and decide when it is resolved.',
  tech: 'You lead the technical investigation: form hypotheses, direct the debugging and the fix, and tell the commander what you find.',
  comms: 'You own communication: post updates for stakeholders, keep the public status text (`/incident public …`) current, and field questions so responders can work.',
};

export function incidentRef(n: number): string {
  return `INC-${n}`;
}

/** Channel names every platform takes as they are: lowercase, a-z 0-9 - _, at most 80 characters. */
export function slugify(text: string, max = 80): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, max)
    .replace(/[-_]+$/g, '');
}

export function channelName(prefix: string, n: number, title: string): string {
  const head = `${prefix}-${n}`;
  const slug = slugify(title, 80 - head.length - 1);
  return slug ? `${head}-${slug}` : head;
}

export type Transition = { ok: true } | { ok: false; reason: string };

/**
 * Any active status may move to any other (an incident can regress when a fix does not
 * hold) or straight to resolved; a resolved incident may be reopened or closed; a
 * closed one is final.
 */
export function statusTransition(from: IncidentStatus, to: IncidentStatus): Transition {
  if (from === to) return { ok: false, reason: `INC is already ${to}.` };
  if (from === 'closed') return { ok: false, reason: 'the incident is closed; nothing more can change.' };
  if (to === 'closed') return from === 'resolved' ? { ok: true } : { ok: false, reason: 'resolve it first: `/incident resolve <summary>`, then close.' };
  return { ok: true };
}

export function isActive(status: string): status is ActiveStatus {
  return (ACTIVE_STATUSES as readonly string[]).includes(status);
}

export interface SlaClocks {
  respondBy: Date;
  resolveBy: Date;
  /** true/false once known; undefined while the clock still runs. */
  respondMet?: boolean;
  resolveMet?: boolean;
}

export function slaClocks(t: { declaredAt: Date; acknowledgedAt?: Date | null; resolvedAt?: Date | null }, sev: Pick<SeverityPolicy, 'respond' | 'resolve'>, now: Date): SlaClocks {
  const respondBy = new Date(t.declaredAt.getTime() + sev.respond);
  const resolveBy = new Date(t.declaredAt.getTime() + sev.resolve);
  const judge = (deadline: Date, done?: Date | null) => (done ? done <= deadline : now > deadline ? false : undefined);
  // Resolving counts as responding when nobody ever took command (P2/P3 need no commander).
  return { respondBy, resolveBy, respondMet: judge(respondBy, t.acknowledgedAt ?? t.resolvedAt), resolveMet: judge(resolveBy, t.resolvedAt) };
}

/** Time to acknowledge (first commander) and to resolve, in ms. */
export function responseMetrics(t: { declaredAt: Date; acknowledgedAt?: Date | null; resolvedAt?: Date | null }): { mtta?: number; mttr?: number } {
  return {
    mtta: t.acknowledgedAt ? t.acknowledgedAt.getTime() - t.declaredAt.getTime() : undefined,
    mttr: t.resolvedAt ? t.resolvedAt.getTime() - t.declaredAt.getTime() : undefined,
  };
}

export function humanDuration(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Timer keys, one per purpose, so that re-arming replaces and cancelling finds them. */
export const timerKeys = {
  noCommander: (id: string) => `incident:${id}:no-commander`,
  updateDue: (id: string) => `incident:${id}:update-due`,
  resolveSla: (id: string) => `incident:${id}:resolve-sla`,
  escalation: (nudgeId: string) => `nudge:${nudgeId}:escalate`,
  actionBefore: (actionId: string) => `action:${actionId}:before`,
  actionDue: (actionId: string) => `action:${actionId}:due`,
};

export const NUDGE_KINDS = ['no-commander', 'update-due', 'resolve-sla'] as const;
export type IncidentNudgeKind = (typeof NUDGE_KINDS)[number];

export interface PostmortemInput {
  ref: string;
  title: string;
  severity: string;
  status: string;
  services: string[];
  description?: string | null;
  summary?: string | null;
  declaredAt: Date;
  acknowledgedAt?: Date | null;
  resolvedAt?: Date | null;
  sla: SlaClocks;
  roles: { role: IncidentRoleName; user: string; assumedAt: Date; relievedAt?: Date | null }[];
  timeline: { at: Date; kind: string; actor?: string | null; text: string; removed?: boolean }[];
  actions: { number: number; text: string; owner?: string | null; due?: string | null; status: string }[];
  generatedAt: Date;
  names?: (userId: string) => string;
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const met = (v?: boolean) => (v === undefined ? 'running' : v ? 'met' : 'missed');

/** The post-incident review document, Markdown. */
export function postmortemMarkdown(p: PostmortemInput): string {
  const name = p.names ?? ((u: string) => u);
  const m = responseMetrics(p);
  const lines = [
    `# ${p.ref}: ${p.title}`,
    '',
    `Severity ${p.severity} · status ${p.status} · generated ${iso(p.generatedAt)}`,
    '',
    '## Summary',
    '',
    p.summary?.trim() || '_No resolution summary yet._',
    '',
    '## Impact',
    '',
    `- Affected services: ${p.services.length ? p.services.join(', ') : 'not recorded'}`,
    p.description ? `- Description: ${p.description}` : '- Description: not recorded',
    `- Declared: ${iso(p.declaredAt)}`,
    `- First commander: ${p.acknowledgedAt ? `${iso(p.acknowledgedAt)} (time to acknowledge ${humanDuration(m.mtta!)})` : 'never assigned'}`,
    `- Resolved: ${p.resolvedAt ? `${iso(p.resolvedAt)} (time to resolve ${humanDuration(m.mttr!)})` : 'not yet'}`,
    '',
    '## SLA',
    '',
    `| clock | deadline | result |`,
    `| --- | --- | --- |`,
    `| respond | ${iso(p.sla.respondBy)} | ${met(p.sla.respondMet)} |`,
    `| resolve | ${iso(p.sla.resolveBy)} | ${met(p.sla.resolveMet)} |`,
    '',
    '## Roles',
    '',
    ...(p.roles.length ? p.roles.map((r) => `- ${ROLE_LABEL[r.role]}: ${name(r.user)}, ${iso(r.assumedAt)} – ${r.relievedAt ? iso(r.relievedAt) : 'end'}`) : ['- none assigned']),
    '',
    '## Timeline',
    '',
    '| time (UTC) | what | who | detail |',
    '| --- | --- | --- | --- |',
    ...p.timeline.map((e) => `| ${iso(e.at)} | ${e.kind}${e.removed ? ' (removed)' : ''} | ${e.actor ? name(e.actor) : ''} | ${e.text.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`),
    '',
    '## Follow-up actions',
    '',
    ...(p.actions.length ? p.actions.map((a) => `- [${a.status === 'done' ? 'x' : ' '}] #${a.number} ${a.text}${a.owner ? ` — ${name(a.owner)}` : ''}${a.due ? ` (due ${a.due})` : ''}`) : ['- none']),
    '',
  ];
  return lines.join('\n');
}
