import { z } from 'zod';
import { CHANGE_TYPES, type ChangeType } from '../src/domain/change.ts';
import { defineGrammar, freeText, subcommand, type OptionSpec } from './grammar.ts';
import type { Command } from './types.ts';
import { fmt, type Text } from '../src/domain/text.ts';
import { editChangeForm, newChangeForm } from '../src/services/interactions.ts';

const USAGE = {
  new: '/change new [standard|normal|emergency]',
  list: '/change list [pending|scheduled|mine]',
  show: '/change show CHG-n',
  edit: '/change edit CHG-n',
  calendar: '/change calendar',
  start: '/change start CHG-n',
  done: '/change done CHG-n <success|failed> [notes]',
  rollback: '/change rollback CHG-n <reason>',
  review: '/change review CHG-n <notes>',
  close: '/change close CHG-n',
  evidence: '/change evidence CHG-n',
  freeze: '/change freeze <environment|all> <until> <reason>',
  unfreeze: '/change unfreeze <environment|all>',
} as const;

const HELP = [
  '*/change* — change requests, the CAB, deployment windows and freezes.',
  `• \`${USAGE.new}\` — open the change form (normal by default; standard ones come from the catalogue)`,
  `• \`${USAGE.list}\` — open changes, or pending, scheduled, yours`,
  `• \`${USAGE.show}\` · \`${USAGE.edit}\` — one change; edit its fields (an approved change's window, scope or risk asks again)`,
  `• \`${USAGE.calendar}\` — the next 14 days: scheduled changes, windows, freezes`,
  `• \`${USAGE.start}\` · \`${USAGE.done}\` · \`${USAGE.rollback}\` — implement it (or press *Start*, *Done*, *Rollback* on the card)`,
  `• \`${USAGE.review}\` · \`${USAGE.close}\` — the post-implementation review, then close`,
  `• \`${USAGE.evidence}\` — the evidence record (request, history, approvals, checklist, audit entries with their hashes) as a file here`,
  `• \`${USAGE.freeze}\` · \`${USAGE.unfreeze}\` — declare or lift a freeze (freeze_changes)`,
  'CAB members press *Approve*, *Reject* or *Defer* on the card; a change outside the windows offers *Ask for an exception*.',
].join('\n');

const chgRef = z
  .string()
  .regex(/^CHG-[1-9]\d{0,8}$/i, 'expected CHG-n')
  .transform((s) => s.toUpperCase());
const CHANGE: OptionSpec = { name: 'change', kind: 'word', required: true, label: 'change id', description: 'The change request, CHG-n' };
const environment = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/i, 'an environment is letters, digits, _ and -')
  .transform((s) => s.toLowerCase());

export type ChangeArgs =
  | { sub: 'help' | 'calendar' }
  | { sub: 'new'; type: ChangeType }
  | { sub: 'list'; filter?: 'pending' | 'scheduled' | 'mine' }
  | { sub: 'show' | 'edit' | 'start' | 'close' | 'evidence'; ref: string }
  | { sub: 'done'; ref: string; outcome: 'success' | 'failed'; notes?: Text }
  | { sub: 'rollback'; ref: string; reason: Text }
  | { sub: 'review'; ref: string; notes: Text }
  | { sub: 'freeze'; environment: string; until: string; reason: Text }
  | { sub: 'unfreeze'; environment: string };

const one = (name: 'show' | 'edit' | 'start' | 'close' | 'evidence', description: string) =>
  subcommand({ name, usage: USAGE[name], description, options: [CHANGE], input: { change: chgRef }, args: ({ change }) => ({ sub: name, ref: change }) });

const subcommands = [
  subcommand({ name: 'help', usage: '/change help', description: 'How to use /change', options: [], input: {}, args: () => ({ sub: 'help' as const }), extra: 'ignore' }),
  subcommand({
    name: 'new',
    usage: USAGE.new,
    description: 'Open the change form',
    options: [{ name: 'type', kind: 'enum', choices: CHANGE_TYPES, required: false, lowercase: true, label: 'change type', description: 'standard, normal or emergency (normal by default)' }],
    input: { type: z.enum(CHANGE_TYPES, { message: 'a change is standard, normal or emergency' }).optional() },
    args: ({ type }) => ({ sub: 'new' as const, type: type ?? 'normal' }),
  }),
  subcommand({
    name: 'list',
    usage: USAGE.list,
    description: 'Open changes, or pending, scheduled or yours',
    options: [{ name: 'filter', kind: 'enum', choices: ['pending', 'scheduled', 'mine'], required: false, lowercase: true, label: 'filter', description: 'pending, scheduled or mine' }],
    input: { filter: z.enum(['pending', 'scheduled', 'mine'], { message: 'list pending, scheduled or mine' }).optional() },
    args: ({ filter }) => ({ sub: 'list' as const, ...(filter ? { filter } : {}) }),
  }),
  one('show', 'One change request'),
  one('edit', 'Edit a change request (an approved one may need approval again)'),
  subcommand({ name: 'calendar', usage: USAGE.calendar, description: 'The next 14 days: changes, windows, freezes', options: [], input: {}, args: () => ({ sub: 'calendar' as const }) }),
  one('start', 'Start implementing an approved change'),
  subcommand({
    name: 'done',
    usage: USAGE.done,
    description: 'Record how an implementation went',
    options: [
      CHANGE,
      { name: 'outcome', kind: 'enum', choices: ['success', 'failed'], required: true, lowercase: true, label: 'outcome', description: 'success or failed' },
      { name: 'notes', kind: 'text', required: false, label: 'notes', description: 'Implementation notes', maxLength: 2000 },
    ],
    input: { change: chgRef, outcome: z.enum(['success', 'failed'], { message: 'an outcome is success or failed' }), notes: freeText('notes', 2000).optional() },
    args: ({ change, outcome, notes }) => ({ sub: 'done' as const, ref: change, outcome, ...(notes !== undefined ? { notes } : {}) }),
  }),
  subcommand({
    name: 'rollback',
    usage: USAGE.rollback,
    description: 'Roll a change back (rollback_change)',
    options: [CHANGE, { name: 'reason', kind: 'text', required: true, label: 'reason', missing: 'A rollback needs a reason.', description: 'Why it is rolled back' }],
    input: { change: chgRef, reason: freeText('reason', 1000) },
    args: ({ change, reason }) => ({ sub: 'rollback' as const, ref: change, reason }),
  }),
  subcommand({
    name: 'review',
    usage: USAGE.review,
    description: 'Record the post-implementation review',
    options: [CHANGE, { name: 'notes', kind: 'text', required: true, label: 'notes', missing: 'A review needs its notes.', description: 'What happened, and what follows' }],
    input: { change: chgRef, notes: freeText('notes', 3000) },
    args: ({ change, notes }) => ({ sub: 'review' as const, ref: change, notes }),
  }),
  one('close', 'Close a finished change'),
  one('evidence', 'The evidence record of a change, as a file'),
  subcommand({
    name: 'freeze',
    usage: USAGE.freeze,
    description: 'Declare a change freeze (freeze_changes)',
    options: [
      { name: 'environment', kind: 'word', required: true, label: 'environment', description: 'An environment, or all' },
      {
        name: 'until',
        kind: 'word',
        required: true,
        label: 'end',
        missing: 'A freeze needs an end: a date (2026-11-30), a date and time (2026-11-30T18:00) or a duration (4h, 3d).',
        description: 'A date, a date and time, or a duration',
      },
      { name: 'reason', kind: 'text', required: true, label: 'reason', missing: 'A freeze needs a reason, shown on every card it holds back.', description: 'Why, shown on every card it holds back' },
    ],
    input: { environment, until: z.string().min(1), reason: freeText('reason', 500) },
    args: ({ environment, until, reason }) => ({ sub: 'freeze' as const, environment, until, reason }),
  }),
  subcommand({
    name: 'unfreeze',
    usage: USAGE.unfreeze,
    description: 'Lift a change freeze (freeze_changes)',
    options: [{ name: 'environment', kind: 'word', required: true, label: 'environment', description: 'An environment, or all' }],
    input: { environment },
    args: ({ environment }) => ({ sub: 'unfreeze' as const, environment }),
  }),
];

const grammar = defineGrammar<ChangeArgs>({ subcommands, usage: Object.values(USAGE).join('\n'), empty: () => 'help' });

export const change = {
  name: 'change',
  description: 'Change requests, the CAB, windows and freezes',
  help: HELP,
  ...grammar,
  async execute({ actor, meta, services }, a) {
    const s = services.changes;
    switch (a.sub) {
      case 'help':
        return { text: fmt(HELP) };
      case 'new':
        return { text: 'Opening the change form…', form: newChangeForm(services, a.type, meta.channelId) };
      case 'edit':
        return { text: `Opening ${a.ref}…`, form: await editChangeForm(services, actor, a.ref) };
      case 'list':
        return s.list(actor, a.filter);
      case 'show':
        return s.show(actor, a.ref);
      case 'calendar':
        return s.calendar(actor);
      case 'start':
        return s.start(actor, meta, a.ref);
      case 'done':
        return s.done(actor, meta, a.ref, a.outcome, a.notes);
      case 'rollback':
        return s.rollback(actor, meta, a.ref, a.reason);
      case 'review':
        return s.review(actor, meta, a.ref, a.notes);
      case 'close':
        return s.close(actor, meta, a.ref);
      case 'evidence':
        return services.evidence.change(actor, meta, a.ref);
      case 'freeze':
        return s.freeze(actor, meta, a.environment, a.until, a.reason);
      case 'unfreeze':
        return s.unfreeze(actor, meta, a.environment);
    }
  },
} satisfies Command<ChangeArgs>;
