import { z } from 'zod';
import { ROLES, type Role } from '../src/domain/rbac.ts';
import type { SubjectRef } from '../src/services/admin.ts';
import { withResolution } from '../src/services/kernel.ts';
import type { PersonRef } from '../src/services/types.ts';
import { defineGrammar, person, subcommand, subjectRef } from './grammar.ts';
import type { Command } from './types.ts';
import { fmt } from '../src/domain/text.ts';

const USAGE = {
  help: '/muster help',
  whoami: '/muster whoami',
  roles: '/muster roles [@user]',
  grant: '/muster grant <role> <@user>',
  revoke: '/muster revoke <role> <@user>',
  audit: '/muster audit [INC-n|CHG-n|APR-n]',
  stats: '/muster stats [7d|30d|90d]',
  link: '/muster link [code]',
  unlink: '/muster unlink',
} as const;

const HELP = [
  '*Muster* — incident war rooms, approvals, change control and an audit trail.',
  `• \`${USAGE.whoami}\` — who Muster thinks you are, your roles and permissions`,
  `• \`${USAGE.roles}\` — role holders, or the roles of one person`,
  `• \`${USAGE.grant}\` — give a role (admins)`,
  `• \`${USAGE.revoke}\` — take a role away (admins)`,
  `• \`${USAGE.audit}\` — the latest audit entries, for the workspace or one record`,
  `• \`${USAGE.stats}\` — activity figures`,
  `• \`${USAGE.link}\` — make your Slack and Discord accounts one person (send it on one, then the code on the other)`,
  `• \`${USAGE.unlink}\` — undo it for this account`,
  'Name people by picking them from the autocomplete (type @ and choose); a typed @name or an email is looked up.',
  `Roles: ${ROLES.join(', ')}.`,
  'Also: `/incident help`, `/approval help`, `/change help`.',
].join('\n');

const role = z.enum(ROLES, { message: `a role is one of ${ROLES.join(', ')}` });
const WINDOWS = ['7d', '30d', '90d'] as const;

export type MusterArgs =
  | { sub: 'help' }
  | { sub: 'whoami' }
  | { sub: 'roles'; user?: PersonRef }
  | { sub: 'grant' | 'revoke'; role: Role; user: PersonRef }
  | { sub: 'audit'; subject?: SubjectRef }
  | { sub: 'stats'; window: string }
  | { sub: 'link'; code?: string }
  | { sub: 'unlink' };

const subcommands = [
  subcommand({ name: 'help', usage: USAGE.help, description: 'What Muster does and how to ask', options: [], input: {}, args: () => ({ sub: 'help' as const }), extra: 'ignore' }),
  subcommand({ name: 'whoami', usage: USAGE.whoami, description: 'Who Muster thinks you are, your roles and permissions', options: [], input: {}, args: () => ({ sub: 'whoami' as const }) }),
  subcommand({
    name: 'roles',
    usage: USAGE.roles,
    description: 'Role holders, or the roles of one person',
    options: [{ name: 'user', kind: 'person', required: false, label: 'user', description: 'Whose roles (default: everyone’s)' }],
    input: { user: person.optional() },
    args: ({ user }) => (user ? { sub: 'roles' as const, user } : { sub: 'roles' as const }),
  }),
  ...(['grant', 'revoke'] as const).map((name) =>
    subcommand({
      name,
      usage: USAGE[name],
      description: { grant: 'Give a role (admins)', revoke: 'Take a role away (admins)' }[name],
      options: [
        { name: 'role', kind: 'enum', choices: ROLES, required: true, lowercase: true, label: 'role', description: 'The role' },
        { name: 'user', kind: 'person', required: true, label: 'user', description: name === 'grant' ? 'Who gets it' : 'Who loses it' },
      ],
      input: { role, user: person },
      args: ({ role, user }) => ({ sub: name, role, user }),
    }),
  ),
  subcommand({
    name: 'audit',
    usage: USAGE.audit,
    description: 'The latest audit entries, for the workspace or one record',
    options: [{ name: 'record', kind: 'word', required: false, label: 'record id', description: 'One record: INC-n, CHG-n or APR-n' }],
    input: { record: subjectRef.optional() },
    args: ({ record }) => (record ? { sub: 'audit' as const, subject: record } : { sub: 'audit' as const }),
  }),
  subcommand({
    name: 'stats',
    usage: USAGE.stats,
    description: 'Activity figures',
    options: [{ name: 'period', kind: 'enum', choices: WINDOWS, required: false, label: 'period', description: 'The last 7, 30 or 90 days (default 7)' }],
    input: { period: z.enum(WINDOWS).optional() },
    args: ({ period }) => ({ sub: 'stats' as const, window: period ?? '7d' }),
  }),
  subcommand({
    name: 'link',
    usage: USAGE.link,
    description: 'Make your Slack and Discord accounts one person: without a code you get one',
    options: [{ name: 'code', kind: 'word', required: false, label: 'link code', description: 'The code /muster link gave you on your other platform' }],
    input: {
      code: z
        .string()
        .regex(/^[A-Za-z0-9]{8}$/, 'a link code is 8 letters and digits')
        .optional(),
    },
    args: ({ code }) => (code ? { sub: 'link' as const, code } : { sub: 'link' as const }),
  }),
  subcommand({ name: 'unlink', usage: USAGE.unlink, description: 'This account is a person of its own again', options: [], input: {}, args: () => ({ sub: 'unlink' as const }) }),
];

const grammar = defineGrammar<MusterArgs>({ subcommands, usage: Object.values(USAGE).join('\n'), empty: () => 'help' });

export const muster = {
  name: 'muster',
  description: 'Muster: roles, audit trail and help',
  help: HELP,
  ...grammar,
  async execute({ actor, meta, services }, args) {
    switch (args.sub) {
      case 'help':
        return { text: fmt(HELP) };
      case 'whoami':
        return services.admin.whoami(actor);
      case 'roles': {
        if (!args.user) return services.admin.roles(actor);
        const who = await services.kernel.resolvePerson(actor, args.user);
        return withResolution(await services.admin.roles(actor, who.externalId), who);
      }
      case 'grant':
      case 'revoke': {
        const who = await services.kernel.resolvePerson(actor, args.user);
        return withResolution(await services.admin[args.sub](actor, meta, args.role, who.externalId), who);
      }
      case 'audit':
        return services.admin.auditTrail(actor, args.subject);
      case 'stats':
        return services.admin.stats(actor, args.window);
      case 'link':
        return args.code ? services.admin.completeLink(actor, meta, args.code) : services.admin.startLink(actor, meta);
      case 'unlink':
        return services.admin.unlink(actor, meta);
    }
  },
} satisfies Command<MusterArgs>;
