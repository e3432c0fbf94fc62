import { z } from 'zod';
import { INCIDENT_ROLES, SEVERITIES, STATUSES, type IncidentRoleName, type IncidentStatus } from '../src/domain/incident.ts';
import type { Severity } from '../src/config/policy.ts';
import { UsageError } from '../src/services/errors.ts';
import type { Target } from '../src/services/incidents.ts';
import { withResolution } from '../src/services/kernel.ts';
import type { PersonRef } from '../src/services/types.ts';
import { arg, person, readText, readPerson, restAfter, tokenize, noExtra } from './grammar.ts';
import type { Command } from './types.ts';
import { fmt } from '../src/domain/text.ts';
import { concat } from '../src/domain/text.ts';
import { declareForm } from '../src/services/interactions.ts';

const USAGE = {
  new: '/incident new',
  declare: '/incident declare [P0|P1|P2|P3] <title>',
  list: '/incident list',
  status: '/incident [INC-n] status <investigating|identified|monitoring|resolved> [note]',
  update: '/incident [INC-n] update <text>',
  sev: '/incident [INC-n] sev <P0|P1|P2|P3> [reason]',
  role: '/incident [INC-n] role <commander|tech|comms> <@user|me>',
  note: '/incident [INC-n] note <text>',
  action: '/incident [INC-n] action <text> [@owner] [due <YYYY-MM-DD>]',
  actionDone: '/incident [INC-n] action done <number>',
  public: '/incident [INC-n] public <text>',
  publicTitle: '/incident [INC-n] public title <title customers read>',
  publicServices: '/incident [INC-n] public services <service, service…|none>',
  publicOff: '/incident [INC-n] public off',
  resolve: '/incident [INC-n] resolve <summary>',
  close: '/incident [INC-n] close',
  timeline: '/incident [INC-n] timeline',
  postmortem: '/incident [INC-n] postmortem',
} as const;

const HELP = [
  '*/incident* — war rooms for incidents.',
  `• \`/incident\` or \`${USAGE.new}\` — open the declare form`,
  `• \`${USAGE.declare}\` — declare at once (severity defaults to P2)`,
  `• \`${USAGE.list}\` — open incidents`,
  'In an incident channel, or with `INC-n` as the first word anywhere:',
  ...[USAGE.status, USAGE.update, USAGE.sev, USAGE.role, USAGE.note, USAGE.action, USAGE.actionDone, USAGE.publicTitle, USAGE.publicServices, USAGE.public, USAGE.publicOff, USAGE.resolve, USAGE.close, USAGE.timeline, USAGE.postmortem].map(
    (u) => `• \`${u}\``,
  ),
  'Name people by picking them from the autocomplete (type @ and choose); a typed @name or an email is looked up.',
  'Severities: P0 respond 5 min / resolve 1 h · P1 15 min / 4 h · P2 1 h / 24 h · P3 24 h / 7 days. P0 and P1 need a commander.',
].join('\n');

const severity = z
  .string()
  .transform((s) => s.toUpperCase())
  .pipe(z.enum(SEVERITIES, { message: 'a severity is P0, P1, P2 or P3' }));
const status = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(STATUSES.filter((s) => s !== 'closed') as [IncidentStatus, ...IncidentStatus[]], { message: 'a status is investigating, identified, monitoring or resolved (to close, use `/incident close`)' }));
const role = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(INCIDENT_ROLES, { message: 'a role is commander, tech or comms' }));
const incidentRef = /^INC-[1-9]\d{0,8}$/i;
const dueDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date is YYYY-MM-DD')
  .refine((d) => {
    // A calendar date, whatever the server's time zone: compare in UTC.
    const [y, m, day] = d.split('-').map(Number) as [number, number, number];
    const t = new Date(Date.UTC(y, m - 1, day));
    return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === day;
  }, 'not a calendar date');

export type IncidentArgs =
  | { sub: 'help' }
  | { sub: 'new' }
  | { sub: 'list' }
  | { sub: 'declare'; severity: Severity; title: string; defaulted: boolean }
  | { sub: 'status'; target: Target; status: IncidentStatus; note?: string }
  | { sub: 'update' | 'note' | 'public' | 'public-title' | 'resolve'; target: Target; text: string }
  | { sub: 'public-services'; target: Target; services: string[] }
  | { sub: 'public-off'; target: Target }
  | { sub: 'sev'; target: Target; severity: Severity; reason?: string }
  | { sub: 'role'; target: Target; role: IncidentRoleName; user: PersonRef | { kind: 'me' } }
  | { sub: 'action'; target: Target; text: string; owner?: PersonRef; due?: string }
  | { sub: 'action-done'; target: Target; number: number }
  | { sub: 'close' | 'timeline' | 'postmortem'; target: Target };

function required(text: string, what: string, usage: string): string {
  if (!text) throw new UsageError(`Missing ${what}.`, usage);
  if (text.length > 3000) throw new UsageError(`The ${what} is too long (${text.length} characters; at most 3000).`, usage);
  return text;
}

function parse(input: string): IncidentArgs {
  let words = tokenize(input);
  let text = input.trim();
  const target: Target = {};
  if (words[0] && incidentRef.test(words[0])) {
    target.ref = words[0].toUpperCase();
    words = words.slice(1);
    text = restAfter(text, 1);
  }
  const sub = (words[0] ?? (target.ref ? 'timeline' : 'new')).toLowerCase();
  const rest = restAfter(text, 1);
  const noTarget = (name: string) => {
    if (target.ref) throw new UsageError(`\`${name}\` does not take an incident id.`, USAGE[name as keyof typeof USAGE]);
  };
  switch (sub) {
    case 'help':
      return { sub: 'help' };
    case 'new':
      noTarget('new');
      return { sub: 'new' };
    case 'list':
      noTarget('list');
      return { sub: 'list' };
    case 'declare': {
      noTarget('declare');
      const first = words[1];
      const hasSev = first !== undefined && /^p[0-3]$/i.test(first);
      if (first !== undefined && /^p\d+$/i.test(first) && !hasSev) throw new UsageError(`"${first}" is not a valid severity: a severity is P0, P1, P2 or P3.`, USAGE.declare);
      const title = hasSev ? restAfter(rest, 1) : rest;
      if (!title) throw new UsageError('Missing title.', USAGE.declare);
      if (title.length > 200) throw new UsageError(`The title is too long (${title.length} characters; at most 200).`, USAGE.declare);
      return { sub: 'declare', severity: hasSev ? (first!.toUpperCase() as Severity) : 'P2', title, defaulted: !hasSev };
    }
    case 'status': {
      const s = arg(status, words[1], 'status', USAGE.status);
      const note = restAfter(rest, 1);
      if (note) required(note, 'note', USAGE.status);
      return { sub: 'status', target, status: s, ...(note ? { note } : {}) };
    }
    case 'public': {
      // The status page: a public title publishes, services are chosen, `off` withdraws.
      const word = words[1]?.toLowerCase();
      if (word === 'title') {
        const title = required(restAfter(rest, 1), 'public title', USAGE.publicTitle);
        if (title.length > 200) throw new UsageError(`The public title is too long (${title.length} characters; at most 200).`, USAGE.publicTitle);
        return { sub: 'public-title', target, text: title };
      }
      if (word === 'services') {
        const list = required(restAfter(rest, 1), 'services (or none)', USAGE.publicServices);
        const services = list.toLowerCase() === 'none' ? [] : [...new Set(list.split(',').map((x) => x.trim()).filter(Boolean))];
        if (services.some((x) => x.length > 60) || services.length > 20) throw new UsageError('List at most 20 services of at most 60 characters each, separated by commas.', USAGE.publicServices);
        return { sub: 'public-services', target, services };
      }
      if (word === 'off' && words.length === 2) return { sub: 'public-off', target };
      return { sub: 'public', target, text: required(rest, 'public status text', USAGE.public) };
    }
    case 'update':
    case 'note':
    case 'resolve': {
      const what = { update: 'update text', note: 'note', resolve: 'resolution summary' }[sub];
      return { sub, target, text: required(rest, what, USAGE[sub]) };
    }
    case 'sev':
    case 'severity': {
      const s = arg(severity, words[1], 'severity', USAGE.sev);
      const reason = restAfter(rest, 1);
      if (reason) required(reason, 'reason', USAGE.sev);
      return { sub: 'sev', target, severity: s, ...(reason ? { reason } : {}) };
    }
    case 'role': {
      const r = arg(role, words[1], 'role', USAGE.role);
      const me = words[2]?.toLowerCase() === 'me';
      const user = me ? ({ kind: 'me' } as const) : arg(person, words[2], 'user (a mention or "me")', USAGE.role);
      noExtra(words, 3, USAGE.role);
      return { sub: 'role', target, role: r, user };
    }
    case 'action': {
      if (words[1]?.toLowerCase() === 'done') {
        const n = Number((words[2] ?? '').replace(/^#/, ''));
        if (!Number.isInteger(n) || n < 1) throw new UsageError('Which follow-up? Give its number, e.g. `action done 2`.', USAGE.actionDone);
        return { sub: 'action-done', target, number: n };
      }
      // Trailing `due <date>` and owner are peeled off the end; the text keeps what was typed.
      let body = rest;
      let due: string | undefined;
      let owner: PersonRef | undefined;
      const dueMatch = /(?:^|\s+)due\s+(\S+)\s*$/i.exec(body);
      if (dueMatch) {
        due = arg(dueDate, dueMatch[1], 'due date', USAGE.action);
        body = body.slice(0, dueMatch.index);
      }
      // A last word that names a person is the owner; any other (`@here`, "quoted@address") stays text.
      const ownerMatch = /(?:^|\s+)(<[^<>]+>|[^\s<>]+)\s*$/.exec(body);
      if (ownerMatch) {
        const word = ownerMatch[1]!;
        const ref = readPerson(word);
        if (!('error' in ref)) {
          owner = ref;
          body = body.slice(0, ownerMatch.index);
        } else if (word.startsWith('<@')) throw new UsageError(`"${word}" is not a valid owner: ${ref.error}.`, USAGE.action);
      }
      body = body.trim();
      return { sub: 'action', target, text: required(body, 'action text', USAGE.action), ...(owner ? { owner } : {}), ...(due ? { due } : {}) };
    }
    case 'close':
    case 'timeline':
    case 'postmortem':
      noExtra(words, 1, USAGE[sub]);
      return { sub, target };
    default:
      throw new UsageError(`Unknown subcommand "${words[0]}".`, Object.values(USAGE).join('\n'));
  }
}

/** The way out when the last word of a follow-up was meant as text, not as its owner. */
const OWNER_AS_TEXT = ' To keep the last word in the follow-up text instead, put it in quotes.';

export const incident = {
  name: 'incident',
  description: 'Declare and run incidents',
  help: HELP,
  parse,
  async execute({ actor, meta, services }, a) {
    const s = services.incidents;
    const kernel = services.kernel;
    const target = (t: Target): Target => (t.ref ? t : { channelId: meta.channelId });
    switch (a.sub) {
      case 'help':
        return { text: fmt(HELP) };
      case 'new':
        return { text: 'Opening the declare form…', form: declareForm(services, meta.channelId) };
      case 'list':
        return s.list(actor);
      case 'declare': {
        const r = await s.declare(actor, meta, { title: readText(a.title), severity: a.severity });
        return a.defaulted ? { ...r, text: concat(r.text, ' (No severity given: declared as P2; change it with `/incident sev P1 <reason>`.)') } : r;
      }
      case 'status':
        return s.setStatus(actor, meta, target(a.target), a.status, a.note === undefined ? undefined : readText(a.note));
      case 'update':
        return s.postUpdate(actor, meta, target(a.target), readText(a.text));
      case 'note':
        return s.addNote(actor, meta, target(a.target), readText(a.text));
      case 'public':
        return s.setPublic(actor, meta, target(a.target), a.text);
      case 'public-title':
        return s.publish(actor, meta, target(a.target), a.text);
      case 'public-services':
        return s.setPublicServices(actor, meta, target(a.target), a.services);
      case 'public-off':
        return s.unpublish(actor, meta, target(a.target));
      case 'resolve':
        return s.resolve(actor, meta, target(a.target), readText(a.text));
      case 'sev':
        return s.setSeverity(actor, meta, target(a.target), a.severity, a.reason === undefined ? undefined : readText(a.reason));
      case 'role': {
        const who = a.user.kind === 'me' ? { externalId: actor.externalId } : await kernel.resolvePerson(actor, a.user);
        return withResolution(await s.assignRole(actor, meta, target(a.target), a.role, who.externalId), who);
      }
      case 'action': {
        const owner = a.owner && (await kernel.resolvePerson(actor, a.owner, OWNER_AS_TEXT));
        const added = await s.addAction(actor, meta, target(a.target), { text: readText(a.text), owner: owner?.externalId, due: a.due });
        return owner ? withResolution(added, owner) : added;
      }
      case 'action-done':
        return s.completeAction(actor, meta, target(a.target), a.number);
      case 'close':
        return s.close(actor, meta, target(a.target));
      case 'timeline':
        return s.timelineReply(actor, target(a.target));
      case 'postmortem':
        return s.postmortem(actor, meta, target(a.target));
    }
  },
} satisfies Command<IncidentArgs>;
