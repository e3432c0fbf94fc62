import { z } from 'zod';
import { parseAmount } from '../src/domain/approval.ts';
import { DECISION_CATEGORIES } from '../src/config/policy.ts';
import { defineGrammar, freeText, subcommand, type OptionSpec } from './grammar.ts';
import type { Command } from './types.ts';
import { fmt, type Text } from '../src/domain/text.ts';

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
  `• \`${USAGE.cancel}\` — withdraw your pending or held request`,
  `• \`${USAGE.breakglass}\` — approve at once in an emergency (break_glass permission; audited and reviewed)`,
  'Approvers press *Approve* or *Reject* (a reason is asked for) on the card.',
].join('\n');

const slug = (what: string) =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/i, `${what} is letters, digits, . _ - (at most 64)`)
    .transform((s) => s.toLowerCase());
const version = z
  .string()
  .max(100, 'a version is at most 100 characters')
  .regex(/^\S+$/, 'a version has no spaces')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+:\-/@]*$/, 'a version is letters, digits and . _ + : - / @');
const aprRef = z
  .string()
  .regex(/^APR-[1-9]\d{0,8}$/i, 'expected APR-n')
  .transform((s) => s.toUpperCase());
const REQUEST_TYPES = ['financial', 'technical', 'business'] as const;
const AMOUNT_FORMS = 'a number such as 12500, $12,500 or 12.5k, or - for none';
const amount = z.string().transform((s, ctx): number | null => {
  const a = parseAmount(s);
  if (a !== undefined) return a;
  ctx.addIssue({ code: 'custom', message: `write ${AMOUNT_FORMS}` });
  return z.NEVER;
});

export type ApprovalArgs =
  | { sub: 'help' | 'list' }
  | { sub: 'deploy'; environment: string; component: string; version: string; reason?: Text }
  | { sub: 'request'; type: (typeof REQUEST_TYPES)[number]; category: string; amount: number | null; title: Text }
  | { sub: 'show' | 'cancel'; ref: string }
  | { sub: 'breakglass'; ref: string; reason: Text };

const REQUEST: OptionSpec = { name: 'request', kind: 'word', required: true, label: 'request id', description: 'The approval request, APR-n' };

const subcommands = [
  subcommand({ name: 'help', usage: '/approval help', description: 'How to use /approval', options: [], input: {}, args: () => ({ sub: 'help' as const }), extra: 'ignore' }),
  subcommand({
    name: 'deploy',
    usage: USAGE.deploy,
    description: 'Ask for a deployment approval (environment × component policy)',
    options: [
      { name: 'environment', kind: 'word', required: true, label: 'environment', description: 'Where it goes: dev, uat, staging, preprod, production…' },
      { name: 'component', kind: 'word', required: true, label: 'component', description: 'What is deployed, e.g. api or database' },
      { name: 'version', kind: 'word', required: true, label: 'version', description: 'The version, e.g. 1.2.3' },
      { name: 'reason', kind: 'text', required: false, label: 'reason', description: 'Why', maxLength: 1000 },
    ],
    input: {
      environment: slug('an environment'),
      component: slug('a component'),
      version,
      reason: freeText('reason', 1000, () => 'The reason is too long (at most 1000 characters).').optional(),
    },
    args: ({ environment, component, version, reason }) => ({ sub: 'deploy' as const, environment, component, version, ...(reason !== undefined ? { reason } : {}) }),
  }),
  subcommand({
    name: 'request',
    usage: USAGE.request,
    description: 'Ask for a decision, routed by the decision-rights matrix',
    options: [
      { name: 'type', kind: 'enum', choices: REQUEST_TYPES, required: true, lowercase: true, label: 'type', description: 'financial, technical or business' },
      { name: 'category', kind: 'enum', choices: DECISION_CATEGORIES, required: true, lowercase: true, label: 'category', description: 'The decision category' },
      { name: 'amount', kind: 'word', required: true, label: 'amount', missing: `Missing amount (${AMOUNT_FORMS}).`, description: 'A number such as 12500, $12,500 or 12.5k, or - for none' },
      { name: 'title', kind: 'text', required: true, label: 'title', description: 'What is to be decided', maxLength: 200 },
    ],
    input: {
      type: z.enum(REQUEST_TYPES, { message: 'a type is financial, technical or business' }),
      category: z.enum(DECISION_CATEGORIES, { message: `a category is ${DECISION_CATEGORIES.join(', ')}` }),
      amount,
      title: freeText('title', 200),
    },
    refine: { after: ['type', 'amount'], path: 'amount', message: 'A financial request needs an amount.', check: (r) => !(r.type === 'financial' && r.amount === null) },
    args: ({ type, category, amount, title }) => ({ sub: 'request' as const, type, category, amount, title }),
  }),
  subcommand({ name: 'list', usage: USAGE.list, description: 'What waits for you, and what you asked for', options: [], input: {}, args: () => ({ sub: 'list' as const }) }),
  ...(['show', 'cancel'] as const).map((name) =>
    subcommand({
      name,
      usage: USAGE[name],
      description: { show: 'The full history of a request', cancel: 'Withdraw your pending or held request' }[name],
      options: [REQUEST],
      input: { request: aprRef },
      args: ({ request }) => ({ sub: name, ref: request }),
    }),
  ),
  subcommand({
    name: 'breakglass',
    usage: USAGE.breakglass,
    description: 'Approve at once in an emergency (break_glass permission; audited and reviewed)',
    options: [REQUEST, { name: 'reason', kind: 'text', required: true, label: 'reason', missing: 'Break-glass needs a reason.', description: 'Why it cannot wait' }],
    input: { request: aprRef, reason: freeText('reason', Infinity) },
    args: ({ request, reason }) => ({ sub: 'breakglass' as const, ref: request, reason }),
  }),
];

const grammar = defineGrammar<ApprovalArgs>({ subcommands, usage: Object.values(USAGE).join('\n'), empty: () => 'help' });

export const approval = {
  name: 'approval',
  description: 'Approvals routed by policy, decided with buttons',
  help: HELP,
  ...grammar,
  async execute({ actor, meta, services }, a) {
    const s = services.approvals;
    switch (a.sub) {
      case 'help':
        return { text: fmt(HELP) };
      case 'list':
        return s.list(actor);
      case 'deploy':
        return s.requestDeploy(actor, meta, { environment: a.environment, component: a.component, version: a.version, reason: a.reason });
      case 'request':
        return s.requestDecision(actor, meta, { type: a.type, category: a.category, amount: a.amount, title: a.title });
      case 'show':
        return s.show(actor, a.ref);
      case 'cancel':
        return s.cancel(actor, meta, a.ref);
      case 'breakglass':
        return s.breakGlass(actor, meta, a.ref, a.reason);
    }
  },
} satisfies Command<ApprovalArgs>;
