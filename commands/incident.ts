import { z } from 'zod';
import { INCIDENT_ROLES, SEVERITIES, STATUSES, type IncidentRoleName, type IncidentStatus } from '../src/domain/incident.ts';
import type { Severity } from '../src/config/policy.ts';
import type { Target } from '../src/services/incidents.ts';
import { withResolution } from '../src/services/kernel.ts';
import type { PersonRef } from '../src/services/types.ts';
import { choice, defineGrammar, freeText, person, personOrMe, readPerson, sentence, subcommand, textValue, type OptionSpec, type RawValue, type TextRead } from './grammar.ts';
import { display, type CommandLine } from './line.ts';
import type { Command } from './types.ts';
import { concat, fmt, plainText, type Text } from '../src/domain/text.ts';
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
  link: '/incident [INC-n] link CHG-n',
} as const;

const HELP = [
  '*/incident* — war rooms for incidents.',
  `• \`/incident\` or \`${USAGE.new}\` — open the declare form`,
  `• \`${USAGE.declare}\` — declare at once (severity defaults to P2)`,
  `• \`${USAGE.list}\` — open incidents`,
  'In an incident channel, or with `INC-n` as the first word anywhere:',
  ...[
    USAGE.status,
    USAGE.update,
    USAGE.sev,
    USAGE.role,
    USAGE.note,
    USAGE.action,
    USAGE.actionDone,
    USAGE.publicTitle,
    USAGE.publicServices,
    USAGE.public,
    USAGE.publicOff,
    USAGE.resolve,
    USAGE.close,
    USAGE.timeline,
    USAGE.postmortem,
    USAGE.link,
  ].map((u) => `• \`${u}\``),
  'The card lists the changes implemented in the 24 h before the incident on its services; `link CHG-n` marks one as a suspected cause.',
  'Name people by picking them from the autocomplete (type @ and choose); a typed @name or an email is looked up.',
  'Severities: P0 respond 5 min / resolve 1 h · P1 15 min / 4 h · P2 1 h / 24 h · P3 24 h / 7 days. P0 and P1 need a commander.',
].join('\n');

const severity = choice(SEVERITIES, 'a severity is P0, P1, P2 or P3', (s) => s.toUpperCase());
const OPEN_STATUSES = STATUSES.filter((s) => s !== 'closed') as [IncidentStatus, ...IncidentStatus[]];
const status = choice(OPEN_STATUSES, 'a status is investigating, identified, monitoring or resolved (to close, use `/incident close`)');
const role = choice(INCIDENT_ROLES, 'a role is commander, tech or comms');
const incidentRef = /^INC-[1-9]\d{0,8}$/i;
const changeRef = z
  .string()
  .regex(/^CHG-[1-9]\d{0,8}$/i, 'expected CHG-n')
  .transform((s) => s.toUpperCase());
const incidentTarget = z
  .string()
  .regex(incidentRef, 'expected INC-n')
  .transform((s): Target => ({ ref: s.toUpperCase() }))
  .optional()
  .transform((t): Target => t ?? {});
const dueDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date is YYYY-MM-DD')
  .refine((d) => {
    // A calendar date, whatever the server's time zone: compare in UTC.
    const [y, m, day] = d.split('-').map(Number) as [number, number, number];
    const t = new Date(Date.UTC(y, m - 1, day));
    return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === day;
  }, 'not a calendar date');
const FOLLOW_UP_NUMBER = 'Which follow-up? Give its number, e.g. `action done 2`.';
const followUpNumber = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : Number(v.replace(/^#/, ''));
  return Number.isInteger(n) && n >= 1 ? n : sentence(ctx, FOLLOW_UP_NUMBER);
});
/** A list typed as `a, b, c` or `none`. */
const serviceList = freeText('services (or none)', 3000).transform((t, ctx): string[] => {
  const list = plainText(t);
  const services =
    list.toLowerCase() === 'none'
      ? []
      : [
          ...new Set(
            list
              .split(',')
              .map((x) => x.trim())
              .filter(Boolean),
          ),
        ];
  if (services.some((x) => x.length > 60) || services.length > 20) return sentence(ctx, 'List at most 20 services of at most 60 characters each, separated by commas.');
  return services;
});

export type IncidentArgs =
  | { sub: 'help' }
  | { sub: 'new' }
  | { sub: 'list' }
  | { sub: 'declare'; severity: Severity; title: Text; defaulted: boolean }
  | { sub: 'status'; target: Target; status: IncidentStatus; note?: Text }
  | { sub: 'update' | 'note' | 'public' | 'public-title' | 'resolve'; target: Target; text: Text }
  | { sub: 'public-services'; target: Target; services: string[] }
  | { sub: 'public-off'; target: Target }
  | { sub: 'sev'; target: Target; severity: Severity; reason?: Text }
  | { sub: 'role'; target: Target; role: IncidentRoleName; user: PersonRef | { kind: 'me' } }
  | { sub: 'action'; target: Target; text: Text; owner?: PersonRef; due?: string }
  | { sub: 'action-done'; target: Target; number: number }
  | { sub: 'link'; target: Target; change: string }
  | { sub: 'close' | 'timeline' | 'postmortem'; target: Target };

// Options shared by several subcommands.
const INCIDENT: OptionSpec = { name: 'incident', kind: 'word', required: false, prefix: true, label: 'incident id', description: "The incident, INC-n (default: this channel's incident)" };
const SEVERITY: OptionSpec = { name: 'severity', kind: 'enum', choices: SEVERITIES, required: true, label: 'severity', description: 'P0 (critical) to P3 (minor)' };
const text = (name: string, label: string, description: string, required = true, maxLength = 3000): OptionSpec => ({ name, kind: 'text', required, label, description, maxLength });

/**
 * `declare [P0..P3] <title>`: a first word that looks like a severity is one (`P9` is refused as one),
 * anything else starts the title.
 */
function readDeclare(line: CommandLine, from: number): TextRead {
  const first = line.tokens[from];
  const word = first?.kind === 'word' ? first.text : undefined;
  const isSeverity = word !== undefined && /^p\d+$/i.test(word);
  return { raw: { severity: isSeverity ? word : undefined, title: textValue(line.restFrom(isSeverity ? from + 1 : from)) }, extra: [] };
}

/**
 * `action <text> [@owner] [due <date>]`: a trailing `due <date>`, then a last word that names a person, are
 * peeled off the end; the text keeps what was typed. A last word that names nobody (`@here`, a quoted
 * address, a typed `<@U123>`) stays text.
 */
function readAction(line: CommandLine, from: number): TextRead {
  const tokens = line.tokens;
  let end = tokens.length;
  let due: string | undefined;
  let owner: RawValue | undefined;
  const keyword = tokens[end - 2];
  const date = tokens[end - 1];
  if (end - 2 >= from && keyword?.kind === 'word' && !keyword.quoted && keyword.text.toLowerCase() === 'due' && line.spaced(keyword) && date && line.spaced(date)) {
    if (date.kind !== 'word' || !/\s/.test(date.source)) {
      due = date.kind === 'word' ? date.source : display(date);
      end -= 2;
    }
  }
  const last = tokens[end - 1];
  if (end - 1 >= from && last && line.spaced(last)) {
    if (last.kind === 'person') owner = last.node;
    else if (last.kind === 'word' && !/[<>]/.test(last.source) && !('error' in readPerson(last.source))) owner = last.source;
    if (owner !== undefined) end -= 1;
  }
  const body = end > from ? line.text(tokens[from]!.start, tokens[end - 1]!.end) : '';
  return { raw: { due, owner, text: textValue(body) }, extra: [] };
}

const subcommands = [
  subcommand({
    name: 'help',
    usage: '/incident help',
    description: 'How to use /incident',
    options: [],
    input: {},
    args: () => ({ sub: 'help' as const }),
    extra: 'ignore',
    ignoresTarget: true,
  }),
  subcommand({ name: 'new', usage: USAGE.new, description: 'Open the form to declare an incident', options: [], input: {}, args: () => ({ sub: 'new' as const }), extra: 'ignore' }),
  subcommand({
    name: 'declare',
    usage: USAGE.declare,
    description: 'Declare an incident at once (severity defaults to P2)',
    options: [{ ...SEVERITY, required: false, description: 'P0 (critical) to P3 (minor); default P2' }, text('title', 'title', 'What is wrong, in a few words', true, 200)],
    input: { severity: severity.optional(), title: freeText('title', 200) },
    args: ({ severity, title }) => ({ sub: 'declare' as const, severity: severity ?? 'P2', title, defaulted: severity === undefined }),
    read: readDeclare,
  }),
  subcommand({ name: 'list', usage: USAGE.list, description: 'Open incidents', options: [], input: {}, args: () => ({ sub: 'list' as const }), extra: 'ignore' }),
  subcommand({
    name: 'status',
    usage: USAGE.status,
    description: 'Change the status',
    options: [
      { name: 'status', kind: 'enum', choices: OPEN_STATUSES, required: true, label: 'status', description: 'The new status (to close, use close)' },
      text('note', 'note', 'What changed', false),
      INCIDENT,
    ],
    input: { incident: incidentTarget, status, note: freeText('note', 3000).optional() },
    args: ({ incident, status, note }) => ({ sub: 'status' as const, target: incident, status, ...(note !== undefined ? { note } : {}) }),
  }),
  subcommand({
    name: 'update',
    usage: USAGE.update,
    description: 'Post an update to the incident channel',
    options: [text('text', 'update text', 'The update'), INCIDENT],
    input: { incident: incidentTarget, text: freeText('update text', 3000) },
    args: ({ incident, text }) => ({ sub: 'update' as const, target: incident, text }),
  }),
  subcommand({
    name: 'sev',
    aliases: ['severity'],
    usage: USAGE.sev,
    description: 'Change the severity',
    options: [SEVERITY, text('reason', 'reason', 'Why', false), INCIDENT],
    input: { incident: incidentTarget, severity, reason: freeText('reason', 3000).optional() },
    args: ({ incident, severity, reason }) => ({ sub: 'sev' as const, target: incident, severity, ...(reason !== undefined ? { reason } : {}) }),
  }),
  subcommand({
    name: 'role',
    usage: USAGE.role,
    description: 'Give an incident role to someone, or take it yourself',
    options: [
      { name: 'role', kind: 'enum', choices: INCIDENT_ROLES, required: true, label: 'role', description: 'commander, tech (technical lead) or comms (communications lead)' },
      { name: 'user', kind: 'person', required: true, label: 'user (a mention or "me")', description: 'Who takes the role' },
      INCIDENT,
    ],
    input: { incident: incidentTarget, role, user: personOrMe },
    args: ({ incident, role, user }) => ({ sub: 'role' as const, target: incident, role, user }),
    extra: 'last',
  }),
  subcommand({
    name: 'note',
    usage: USAGE.note,
    description: 'Add a note to the timeline',
    options: [text('text', 'note', 'The note'), INCIDENT],
    input: { incident: incidentTarget, text: freeText('note', 3000) },
    args: ({ incident, text }) => ({ sub: 'note' as const, target: incident, text }),
  }),
  subcommand({
    name: 'action',
    usage: USAGE.action,
    description: 'Add a follow-up, with an owner and a due date if you like',
    options: [
      text('text', 'action text', 'What is to be done'),
      { name: 'owner', kind: 'person', required: false, label: 'owner', description: 'Who owns it' },
      { name: 'due', kind: 'date', required: false, label: 'due date', description: 'Due date, YYYY-MM-DD' },
      INCIDENT,
    ],
    input: { incident: incidentTarget, due: dueDate.optional(), owner: person.optional(), text: freeText('action text', 3000) },
    args: ({ incident, due, owner, text }) => ({ sub: 'action' as const, target: incident, text, ...(owner ? { owner } : {}), ...(due ? { due } : {}) }),
    read: readAction,
  }),
  subcommand({
    name: 'action-done',
    words: ['action', 'done'],
    usage: USAGE.actionDone,
    description: 'Mark a follow-up done',
    options: [{ name: 'number', kind: 'integer', min: 1, required: true, label: 'follow-up number', missing: FOLLOW_UP_NUMBER, description: 'The number of the follow-up' }, INCIDENT],
    input: { incident: incidentTarget, number: followUpNumber },
    args: ({ incident, number }) => ({ sub: 'action-done' as const, target: incident, number }),
    extra: 'ignore',
  }),
  subcommand({
    name: 'public',
    usage: USAGE.public,
    description: 'Post a public update to the status page',
    options: [text('text', 'public status text', 'What customers read'), INCIDENT],
    input: { incident: incidentTarget, text: freeText('public status text', 3000) },
    args: ({ incident, text }) => ({ sub: 'public' as const, target: incident, text }),
  }),
  subcommand({
    name: 'public-title',
    words: ['public', 'title'],
    usage: USAGE.publicTitle,
    description: 'Publish on the status page, or change the title customers read',
    options: [text('title', 'public title', 'The title customers read', true, 200), INCIDENT],
    input: { incident: incidentTarget, title: freeText('public title', 200) },
    args: ({ incident, title }) => ({ sub: 'public-title' as const, target: incident, text: title }),
  }),
  subcommand({
    name: 'public-services',
    words: ['public', 'services'],
    usage: USAGE.publicServices,
    description: 'Choose the affected services the status page shows',
    options: [{ name: 'services', kind: 'list', required: true, label: 'services (or none)', description: 'Services separated by commas, or none', maxLength: 3000 }, INCIDENT],
    input: { incident: incidentTarget, services: serviceList },
    args: ({ incident, services }) => ({ sub: 'public-services' as const, target: incident, services }),
  }),
  subcommand({
    name: 'public-off',
    words: ['public', 'off'],
    exact: true,
    usage: USAGE.publicOff,
    description: 'Take the incident off the status page',
    options: [INCIDENT],
    input: { incident: incidentTarget },
    args: ({ incident }) => ({ sub: 'public-off' as const, target: incident }),
  }),
  subcommand({
    name: 'resolve',
    usage: USAGE.resolve,
    description: 'Resolve the incident',
    options: [text('summary', 'resolution summary', 'What fixed it'), INCIDENT],
    input: { incident: incidentTarget, summary: freeText('resolution summary', 3000) },
    args: ({ incident, summary }) => ({ sub: 'resolve' as const, target: incident, text: summary }),
  }),
  subcommand({
    name: 'link',
    usage: USAGE.link,
    description: 'Link a change request as a suspected cause',
    options: [{ name: 'change', kind: 'word', required: true, label: 'change id', description: 'The change request, CHG-n' }, INCIDENT],
    input: { incident: incidentTarget, change: changeRef },
    args: ({ incident, change }) => ({ sub: 'link' as const, target: incident, change }),
  }),
  ...(['close', 'timeline', 'postmortem'] as const).map((name) =>
    subcommand({
      name,
      usage: USAGE[name],
      description: { close: 'Close the incident', timeline: 'Show the timeline', postmortem: 'Start the post-incident review' }[name],
      options: [INCIDENT],
      input: { incident: incidentTarget },
      args: ({ incident }) => ({ sub: name, target: incident }),
    }),
  ),
];

const grammar = defineGrammar<IncidentArgs>({
  subcommands,
  usage: Object.values(USAGE).join('\n'),
  empty: (targeted) => (targeted ? 'timeline' : 'new'),
  target: { pattern: incidentRef, noun: 'an incident id' },
});

/** The way out when the last word of a follow-up was meant as text, not as its owner. */
const OWNER_AS_TEXT = ' To keep the last word in the follow-up text instead, put it in quotes.';

export const incident = {
  name: 'incident',
  description: 'Declare and run incidents',
  help: HELP,
  ...grammar,
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
        const r = await s.declare(actor, meta, { title: a.title, severity: a.severity });
        return a.defaulted ? { ...r, text: concat(r.text, ' (No severity given: declared as P2; change it with `/incident sev P1 <reason>`.)') } : r;
      }
      case 'status':
        return s.setStatus(actor, meta, target(a.target), a.status, a.note);
      case 'update':
        return s.postUpdate(actor, meta, target(a.target), a.text);
      case 'note':
        return s.addNote(actor, meta, target(a.target), a.text);
      case 'public':
        return s.setPublic(actor, meta, target(a.target), a.text);
      case 'public-title':
        return s.publish(actor, meta, target(a.target), a.text);
      case 'public-services':
        return s.setPublicServices(actor, meta, target(a.target), a.services);
      case 'public-off':
        return s.unpublish(actor, meta, target(a.target));
      case 'resolve':
        return s.resolve(actor, meta, target(a.target), a.text);
      case 'sev':
        return s.setSeverity(actor, meta, target(a.target), a.severity, a.reason);
      case 'role': {
        const who = a.user.kind === 'me' ? { externalId: actor.externalId } : await kernel.resolvePerson(actor, a.user);
        return withResolution(await s.assignRole(actor, meta, target(a.target), a.role, who.externalId), who);
      }
      case 'action': {
        const owner = a.owner && (await kernel.resolvePerson(actor, a.owner, OWNER_AS_TEXT));
        const added = await s.addAction(actor, meta, target(a.target), { text: a.text, owner: owner?.externalId, due: a.due });
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
      case 'link':
        return s.linkChange(actor, meta, target(a.target), a.change);
    }
  },
} satisfies Command<IncidentArgs>;
