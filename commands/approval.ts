import { z } from 'zod';
import { parseAmount } from '../src/domain/approval.ts';
import { DECISION_CATEGORIES } from '../src/config/policy.ts';
import { UsageError } from '../src/services/errors.ts';
import { arg, readText, restAfter, tokenize, noExtra } from './grammar.ts';
import type { Command } from './types.ts';
import { fmt } from '../src/domain/text.ts';

const USAGE = {
  deploy: '/approval deploy <environment> <component> <version> [reason]',
  request: '/approval request <financial|technical|business> <category> <amount|-> <title>',
  list: '/approval list',
  show: '/approval show APR-n',
  cancel: '/approval cancel APR-n',
  breakglass: '/approval breakglass APR-n <reason>',
} as const;

const HELP = [
  '*/approval* — approvals through buttons, routed by policy.',
  `• \`${USAGE.deploy}\` — a deployment approval (environment × component policy)`,
  `• \`${USAGE.request}\` — routed by the decision-rights matrix (categories: ${DECISION_CATEGORIES.join(', ')})`,
  `• \`${USAGE.list}\` — what waits for you, and what you asked for`,
  `• \`${USAGE.show}\` — the full history of a request`,
  `• \`${USAGE.cancel}\` — withdraw your pending request`,
  `• \`${USAGE.breakglass}\` — approve at once in an emergency (break_glass permission; audited and reviewed)`,
  'Approvers press *Approve* or *Reject* (a reason is asked for) on the card.',
].join('\n');

const slug = (what: string) => z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/i, `${what} is letters, digits, . _ - (at most 64)`).transform((s) => s.toLowerCase());
const version = z
  .string()
  .max(100, 'a version is at most 100 characters')
  .regex(/^\S+$/, 'a version has no spaces')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+:\-/@]*$/, 'a version is letters, digits and . _ + : - / @');
const aprRef = z
  .string()
  .regex(/^APR-[1-9]\d{0,8}$/i, 'expected APR-n')
  .transform((s) => s.toUpperCase());

export type ApprovalArgs =
  | { sub: 'help' | 'list' }
  | { sub: 'deploy'; environment: string; component: string; version: string; reason?: string }
  | { sub: 'request'; type: 'financial' | 'technical' | 'business'; category: string; amount: number | null; title: string }
  | { sub: 'show' | 'cancel'; ref: string }
  | { sub: 'breakglass'; ref: string; reason: string };

function parse(text: string): ApprovalArgs {
  const words = tokenize(text);
  const sub = (words[0] ?? 'help').toLowerCase();
  switch (sub) {
    case 'help':
      return { sub: 'help' };
    case 'list':
      noExtra(words, 1, USAGE.list);
      return { sub: 'list' };
    case 'deploy': {
      const environment = arg(slug('an environment'), words[1], 'environment', USAGE.deploy);
      const component = arg(slug('a component'), words[2], 'component', USAGE.deploy);
      const v = arg(version, words[3], 'version', USAGE.deploy);
      const reason = restAfter(restAfter(text, 1), 3);
      if (reason.length > 1000) throw new UsageError('The reason is too long (at most 1000 characters).', USAGE.deploy);
      return { sub: 'deploy', environment, component, version: v, ...(reason ? { reason } : {}) };
    }
    case 'request': {
      const type = arg(z.enum(['financial', 'technical', 'business'], { message: 'a type is financial, technical or business' }), words[1]?.toLowerCase(), 'type', USAGE.request);
      const category = arg(z.enum(DECISION_CATEGORIES, { message: `a category is ${DECISION_CATEGORIES.join(', ')}` }), words[2]?.toLowerCase(), 'category', USAGE.request);
      const rawAmount = words[3];
      if (rawAmount === undefined) throw new UsageError('Missing amount (a number such as 12500, $12,500 or 12.5k, or - for none).', USAGE.request);
      const amount = parseAmount(rawAmount);
      if (amount === undefined) throw new UsageError(`"${rawAmount}" is not a valid amount: write a number such as 12500, $12,500 or 12.5k, or - for none.`, USAGE.request);
      if (type === 'financial' && amount === null) throw new UsageError('A financial request needs an amount.', USAGE.request);
      const title = restAfter(restAfter(text, 1), 3);
      if (!title) throw new UsageError('Missing title.', USAGE.request);
      if (title.length > 200) throw new UsageError(`The title is too long (${title.length} characters; at most 200).`, USAGE.request);
      return { sub: 'request', type, category, amount, title };
    }
    case 'show':
    case 'cancel': {
      noExtra(words, 2, USAGE[sub]);
      return { sub, ref: arg(aprRef, words[1], 'request id', USAGE[sub]) };
    }
    case 'breakglass': {
      const ref = arg(aprRef, words[1], 'request id', USAGE.breakglass);
      const reason = restAfter(restAfter(text, 1), 1);
      if (!reason) throw new UsageError('Break-glass needs a reason.', USAGE.breakglass);
      return { sub: 'breakglass', ref, reason };
    }
    default:
      throw new UsageError(`Unknown subcommand "${words[0]}".`, Object.values(USAGE).join('\n'));
  }
}

export const approval = {
  name: 'approval',
  description: 'Approvals routed by policy, decided with buttons',
  help: HELP,
  parse,
  async execute({ actor, meta, services }, a) {
    const s = services.approvals;
    switch (a.sub) {
      case 'help':
        return { text: fmt(HELP) };
      case 'list':
        return s.list(actor);
      case 'deploy':
        return s.requestDeploy(actor, meta, { environment: a.environment, component: a.component, version: a.version, reason: a.reason === undefined ? undefined : readText(a.reason) });
      case 'request':
        return s.requestDecision(actor, meta, { type: a.type, category: a.category, amount: a.amount, title: readText(a.title) });
      case 'show':
        return s.show(actor, a.ref);
      case 'cancel':
        return s.cancel(actor, meta, a.ref);
      case 'breakglass':
        return s.breakGlass(actor, meta, a.ref, readText(a.reason));
    }
  },
} satisfies Command<ApprovalArgs>;
