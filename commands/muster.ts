import { z } from 'zod';
import { ROLES, type Role } from '../src/domain/rbac.ts';
import { UsageError } from '../src/services/errors.ts';
import type { SubjectRef } from '../src/services/admin.ts';
import { withResolution } from '../src/services/kernel.ts';
import type { PersonRef } from '../src/services/types.ts';
import { arg, person, subjectRef, tokenize, noExtra } from './grammar.ts';
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
} as const;

const HELP = [
  '*Muster* — incident war rooms, approvals, change control and an audit trail.',
  `• \`${USAGE.whoami}\` — who Muster thinks you are, your roles and permissions`,
  `• \`${USAGE.roles}\` — role holders, or the roles of one person`,
  `• \`${USAGE.grant}\` — give a role (admins)`,
  `• \`${USAGE.revoke}\` — take a role away (admins)`,
  `• \`${USAGE.audit}\` — the latest audit entries, for the workspace or one record`,
  `• \`${USAGE.stats}\` — activity figures`,
  'Name people by picking them from the autocomplete (type @ and choose); a typed @name or an email is looked up.',
  `Roles: ${ROLES.join(', ')}.`,
  'Also: `/incident help`, `/approval help`, `/change help`.',
].join('\n');

const role = z.enum(ROLES, { message: `a role is one of ${ROLES.join(', ')}` });

export type MusterArgs =
  | { sub: 'help' }
  | { sub: 'whoami' }
  | { sub: 'roles'; user?: PersonRef }
  | { sub: 'grant' | 'revoke'; role: Role; user: PersonRef }
  | { sub: 'audit'; subject?: SubjectRef }
  | { sub: 'stats'; window: string };

function parse(text: string): MusterArgs {
  const [sub, ...rest] = tokenize(text);
  const extra = (usage: string, n: number) => noExtra(rest, n, usage);
  switch ((sub ?? 'help').toLowerCase()) {
    case 'help':
      return { sub: 'help' };
    case 'whoami':
      extra(USAGE.whoami, 0);
      return { sub: 'whoami' };
    case 'roles':
      extra(USAGE.roles, 1);
      return rest[0] ? { sub: 'roles', user: arg(person, rest[0], 'user', USAGE.roles) } : { sub: 'roles' };
    case 'grant':
    case 'revoke': {
      const s = sub!.toLowerCase() as 'grant' | 'revoke';
      extra(USAGE[s], 2);
      return { sub: s, role: arg(role, rest[0]?.toLowerCase(), 'role', USAGE[s]), user: arg(person, rest[1], 'user', USAGE[s]) };
    }
    case 'audit':
      extra(USAGE.audit, 1);
      return rest[0] ? { sub: 'audit', subject: arg(subjectRef, rest[0], 'record id', USAGE.audit) } : { sub: 'audit' };
    case 'stats':
      extra(USAGE.stats, 1);
      return { sub: 'stats', window: arg(z.enum(['7d', '30d', '90d']), rest[0] ?? '7d', 'period', USAGE.stats) };
    default:
      throw new UsageError(`Unknown subcommand "${sub}".`, Object.values(USAGE).join('\n'));
  }
}

export const muster = {
  name: 'muster',
  description: 'Muster: roles, audit trail and help',
  help: HELP,
  parse,
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
    }
  },
} satisfies Command<MusterArgs>;
