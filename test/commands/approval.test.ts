import { describe, expect, it } from 'vitest';
import { approval, type ApprovalArgs } from '../../commands/approval.ts';
import { UsageError } from '../../src/services/errors.ts';
import { parseSlackText } from '../../src/platforms/slack/mrkdwn.ts';

/** What the app does: Slack's escaped command text through Slack's parser, then the grammar. */
const parse = (text: string) => approval.parse(parseSlackText(text));

const U = {
  deploy: '/approval deploy <environment> <component> <version> [reason]',
  request: '/approval request <financial|technical|business> <category> <amount|-> <title>',
  list: '/approval list',
  show: '/approval show APR-n',
  cancel: '/approval cancel APR-n',
  breakglass: '/approval breakglass APR-n <reason>',
} as const;
const ALL_USAGE = Object.values(U).join('\n');

const AMOUNT_HELP = 'write a number such as 12500, $12,500 or 12.5k, or - for none.';
const CATEGORY_HELP = 'a category is infrastructure, marketing, personnel, strategic.';

/** Test titles: long inputs shortened to "<start>… (n chars)". */
const label = (text: string) => (text.length > 60 ? `${text.slice(0, 40)}… (${text.length} chars)` : text);

/** The UsageError that parsing `text` throws (fails the test when nothing is thrown). */
function usageError(text: string): { message: string; usage: string | undefined } {
  try {
    parse(text);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return { message: (e as UsageError).message, usage: (e as UsageError).usage };
  }
  throw new Error(`no UsageError for ${JSON.stringify(label(text))}`);
}

const v100 = `1.${'0'.repeat(98)}`;
const v101 = `1.${'0'.repeat(99)}`;

/** Command text → the parsed arguments. */
const ACCEPTED: [string, ApprovalArgs][] = [
  // help
  ['', { sub: 'help' }],
  ['   ', { sub: 'help' }],
  ['help', { sub: 'help' }],
  ['HELP', { sub: 'help' }],
  ['Help me', { sub: 'help' }],

  // deploy
  ['deploy production api 1.2.3', { sub: 'deploy', environment: 'production', component: 'api', version: '1.2.3' }],
  ['deploy production api 1.2.3 hotfix for login', { sub: 'deploy', environment: 'production', component: 'api', version: '1.2.3', reason: 'hotfix for login' }],
  ['deploy production api 1.2.3   spaces   kept  ', { sub: 'deploy', environment: 'production', component: 'api', version: '1.2.3', reason: 'spaces   kept' }],
  ['deploy dev web v2', { sub: 'deploy', environment: 'dev', component: 'web', version: 'v2' }],
  ['deploy uat web 2026.01.05-rc1', { sub: 'deploy', environment: 'uat', component: 'web', version: '2026.01.05-rc1' }],
  ['deploy staging worker 3.0.0+build.7', { sub: 'deploy', environment: 'staging', component: 'worker', version: '3.0.0+build.7' }],
  ['deploy preprod api sha256:abc123', { sub: 'deploy', environment: 'preprod', component: 'api', version: 'sha256:abc123' }],
  ['deploy production database 14.2', { sub: 'deploy', environment: 'production', component: 'database', version: '14.2' }],
  ['deploy production infrastructure tf/main@9f8e7d', { sub: 'deploy', environment: 'production', component: 'infrastructure', version: 'tf/main@9f8e7d' }],
  ['deploy PRODUCTION API 1.2.3', { sub: 'deploy', environment: 'production', component: 'api', version: '1.2.3' }],
  ['deploy Production Billing-Service V1.2.3-RC', { sub: 'deploy', environment: 'production', component: 'billing-service', version: 'V1.2.3-RC' }],
  ['DEPLOY staging api 1.0', { sub: 'deploy', environment: 'staging', component: 'api', version: '1.0' }],
  ['deploy "production" "api" "1.2.3" quoted words', { sub: 'deploy', environment: 'production', component: 'api', version: '1.2.3', reason: 'quoted words' }],
  ['deploy production api.v2 my_build.1', { sub: 'deploy', environment: 'production', component: 'api.v2', version: 'my_build.1' }],
  [`deploy production api ${v100}`, { sub: 'deploy', environment: 'production', component: 'api', version: v100 }],
  [`deploy production api 1 ${'r'.repeat(1000)}`, { sub: 'deploy', environment: 'production', component: 'api', version: '1', reason: 'r'.repeat(1000) }],

  // request: each type, amounts in each format
  ['request financial infrastructure 12500 New build servers', { sub: 'request', type: 'financial', category: 'infrastructure', amount: 12500, title: 'New build servers' }],
  ['request financial marketing 12,500 Q3 campaign', { sub: 'request', type: 'financial', category: 'marketing', amount: 12500, title: 'Q3 campaign' }],
  ['request financial personnel $12,500.50 Contractor', { sub: 'request', type: 'financial', category: 'personnel', amount: 12500.5, title: 'Contractor' }],
  ['request financial strategic 12.5k Acquisition study', { sub: 'request', type: 'financial', category: 'strategic', amount: 12500, title: 'Acquisition study' }],
  ['request financial strategic 2m Acquisition', { sub: 'request', type: 'financial', category: 'strategic', amount: 2_000_000, title: 'Acquisition' }],
  ['request financial marketing 999.99 Stickers', { sub: 'request', type: 'financial', category: 'marketing', amount: 999.99, title: 'Stickers' }],
  ['request financial marketing $1,000,000 Super Bowl ad', { sub: 'request', type: 'financial', category: 'marketing', amount: 1_000_000, title: 'Super Bowl ad' }],
  ['request financial marketing 12.5K upper-case suffix', { sub: 'request', type: 'financial', category: 'marketing', amount: 12500, title: 'upper-case suffix' }],
  ['request technical infrastructure - Move CI to ARM runners', { sub: 'request', type: 'technical', category: 'infrastructure', amount: null, title: 'Move CI to ARM runners' }],
  ['request technical strategic - Adopt Rust', { sub: 'request', type: 'technical', category: 'strategic', amount: null, title: 'Adopt Rust' }],
  ['request business marketing - Rebrand', { sub: 'request', type: 'business', category: 'marketing', amount: null, title: 'Rebrand' }],
  ['request business personnel - Hiring freeze exception', { sub: 'request', type: 'business', category: 'personnel', amount: null, title: 'Hiring freeze exception' }],
  ['request technical infrastructure 5k Faster disks', { sub: 'request', type: 'technical', category: 'infrastructure', amount: 5000, title: 'Faster disks' }],
  ['REQUEST FINANCIAL MARKETING 500 Shouting', { sub: 'request', type: 'financial', category: 'marketing', amount: 500, title: 'Shouting' }],
  ['request Business Strategic - Mixed case', { sub: 'request', type: 'business', category: 'strategic', amount: null, title: 'Mixed case' }],
  [`request business marketing - ${'t'.repeat(200)}`, { sub: 'request', type: 'business', category: 'marketing', amount: null, title: 't'.repeat(200) }],

  // list, show, cancel
  ['list', { sub: 'list' }],
  ['LIST', { sub: 'list' }],
  ['show APR-3', { sub: 'show', ref: 'APR-3' }],
  ['show apr-3', { sub: 'show', ref: 'APR-3' }],
  ['show Apr-42', { sub: 'show', ref: 'APR-42' }],
  ['show APR-123456789', { sub: 'show', ref: 'APR-123456789' }],
  ['cancel APR-3', { sub: 'cancel', ref: 'APR-3' }],
  ['cancel apr-3', { sub: 'cancel', ref: 'APR-3' }],
  ['CANCEL apr-12', { sub: 'cancel', ref: 'APR-12' }],

  // breakglass
  ['breakglass APR-3 prod is down, rollback blocked', { sub: 'breakglass', ref: 'APR-3', reason: 'prod is down, rollback blocked' }],
  ['breakglass apr-3 outage', { sub: 'breakglass', ref: 'APR-3', reason: 'outage' }],
  ['BREAKGLASS APR-7   keeps  inner   spacing ', { sub: 'breakglass', ref: 'APR-7', reason: 'keeps  inner   spacing' }],

  // free text is neutral text: picked people are nodes, typed markup is text
  ['request business marketing - Sponsor &lt;@U123&gt; &amp; co', { sub: 'request', type: 'business', category: 'marketing', amount: null, title: 'Sponsor <@U123> & co' }],
  ['request business marketing - Hire <@U123|bob> full time', { sub: 'request', type: 'business', category: 'marketing', amount: null, title: ['Hire ', { person: 'U123' }, ' full time'] }],
  ['deploy production api 1.2.3 asked by <@U123|bob>', { sub: 'deploy', environment: 'production', component: 'api', version: '1.2.3', reason: ['asked by ', { person: 'U123' }] }],
  ['breakglass APR-3 <!channel> outage', { sub: 'breakglass', ref: 'APR-3', reason: '@channel outage' }],
];

/** Command text → the UsageError's message and usage. */
const REFUSED: [string, string, string][] = [
  // unknown subcommand
  ['frobnicate', 'Unknown subcommand "frobnicate".', ALL_USAGE],
  ['approve APR-3', 'Unknown subcommand "approve".', ALL_USAGE],
  ['APR-3', 'Unknown subcommand "APR-3".', ALL_USAGE],

  // deploy
  ['deploy', 'Missing environment.', U.deploy],
  ['deploy   ', 'Missing environment.', U.deploy],
  ['deploy production', 'Missing component.', U.deploy],
  ['deploy production api', 'Missing version.', U.deploy],
  ['deploy production api ""', 'Missing version.', U.deploy],
  ['deploy production api "1.2 beta"', '"1.2 beta" is not a valid version: a version has no spaces.', U.deploy],
  [`deploy production api ${v101}`, `"${v101}" is not a valid version: a version is at most 100 characters.`, U.deploy],
  ['deploy production api -1.2', '"-1.2" is not a valid version: a version is letters, digits and . _ + : - / @.', U.deploy],
  ['deploy production api 1.2;rm', '"1.2;rm" is not a valid version: a version is letters, digits and . _ + : - / @.', U.deploy],
  ['deploy prod! api 1.2', '"prod!" is not a valid environment: an environment is letters, digits, . _ - (at most 64).', U.deploy],
  ['deploy production -api 1.2', '"-api" is not a valid component: a component is letters, digits, . _ - (at most 64).', U.deploy],
  [`deploy ${'e'.repeat(65)} api 1.2`, `"${'e'.repeat(65)}" is not a valid environment: an environment is letters, digits, . _ - (at most 64).`, U.deploy],
  [`deploy production api 1.2 ${'r'.repeat(1001)}`, 'The reason is too long (at most 1000 characters).', U.deploy],

  // request
  ['request', 'Missing type.', U.request],
  ['request loan marketing 100 x', '"loan" is not a valid type: a type is financial, technical or business.', U.request],
  ['request financial', 'Missing category.', U.request],
  ['request financial legal 100 x', `"legal" is not a valid category: ${CATEGORY_HELP}`, U.request],
  ['request technical security - x', `"security" is not a valid category: ${CATEGORY_HELP}`, U.request],
  ['request financial marketing', 'Missing amount (a number such as 12500, $12,500 or 12.5k, or - for none).', U.request],
  ['request financial marketing abc Ads', `"abc" is not a valid amount: ${AMOUNT_HELP}`, U.request],
  ['request financial marketing 1,2 Ads', `"1,2" is not a valid amount: ${AMOUNT_HELP}`, U.request],
  ['request financial marketing -5 Ads', `"-5" is not a valid amount: ${AMOUNT_HELP}`, U.request],
  ['request financial marketing 12.5x Ads', `"12.5x" is not a valid amount: ${AMOUNT_HELP}`, U.request],
  ['request business marketing € Ads', `"€" is not a valid amount: ${AMOUNT_HELP}`, U.request],
  ['request financial marketing - Ads', 'A financial request needs an amount.', U.request],
  ['request financial marketing -', 'A financial request needs an amount.', U.request],
  ['request loan marketing -', '"loan" is not a valid type: a type is financial, technical or business.', U.request],
  ['request financial marketing 12500', 'Missing title.', U.request],
  ['request technical infrastructure -', 'Missing title.', U.request],
  ['request business strategic -    ', 'Missing title.', U.request],
  [`request business marketing - ${'t'.repeat(201)}`, 'The title is too long (201 characters; at most 200).', U.request],
  [`request financial marketing 100 ${'t'.repeat(250)}`, 'The title is too long (250 characters; at most 200).', U.request],

  // list, show, cancel
  ['list mine', 'Unexpected "mine".', U.list],
  ['show', 'Missing request id.', U.show],
  ['show APR-x', '"APR-x" is not a valid request id: expected APR-n.', U.show],
  ['show APR-0', '"APR-0" is not a valid request id: expected APR-n.', U.show],
  ['show 3', '"3" is not a valid request id: expected APR-n.', U.show],
  ['show CHG-3', '"CHG-3" is not a valid request id: expected APR-n.', U.show],
  ['show APR-1234567890', '"APR-1234567890" is not a valid request id: expected APR-n.', U.show],
  ['show APR-3 APR-4', 'Unexpected "APR-4".', U.show],
  ['show <@U1>', '"@U1" is not a valid request id: expected APR-n.', U.show],
  ['deploy <#C1|prod> api 1.2', '"#C1" is not a valid environment: an environment is letters, digits, . _ - (at most 64).', U.deploy],
  ['cancel', 'Missing request id.', U.cancel],
  ['cancel APR-x', '"APR-x" is not a valid request id: expected APR-n.', U.cancel],
  ['cancel APR-3 now please', 'Unexpected "now please".', U.cancel],

  // breakglass
  ['breakglass', 'Missing request id.', U.breakglass],
  ['breakglass APR-3', 'Break-glass needs a reason.', U.breakglass],
  ['breakglass apr-3    ', 'Break-glass needs a reason.', U.breakglass],
  ['breakglass APR-x outage', '"APR-x" is not a valid request id: expected APR-n.', U.breakglass],
  ['breakglass outage now', '"outage" is not a valid request id: expected APR-n.', U.breakglass],
];

describe('/approval grammar: accepted forms', () => {
  it.each(ACCEPTED.map(([text, expected]) => [label(text), text, expected] as const))('%j', (_label, text, expected) => {
    expect(parse(text)).toEqual(expected);
  });

  it('help lists every form and the decision categories', () => {
    for (const u of Object.values(U)) expect(approval.help).toContain(u);
    expect(approval.help).toContain('categories: infrastructure, marketing, personnel, strategic');
    expect(approval.help).toContain('*Approve*');
    expect(approval.help).toContain('*Reject*');
  });
});

describe('/approval grammar: bad input throws a UsageError with the right form', () => {
  it.each(REFUSED.map(([text, message, usage]) => [label(text), text, message, usage] as const))('%j', (_label, text, message, usage) => {
    expect(usageError(text)).toEqual({ message, usage });
  });

  it('an unknown type is reported in lower case even when typed in upper case', () => {
    // the type and category are lower-cased before they are checked, so the message shows them that way
    expect(usageError('request LOAN marketing 100 x').message).toBe('"loan" is not a valid type: a type is financial, technical or business.');
  });
});

describe('/approval typed arguments: the same schemas for options by name', () => {
  it('options give the typed arguments the text gives', () => {
    expect(approval.fromOptions('request', { type: 'financial', category: 'marketing', amount: '$12,500', title: 'Q3 campaign' })).toEqual(parse('request financial marketing $12,500 Q3 campaign'));
    expect(approval.fromOptions('deploy', { environment: 'Production', component: 'api', version: '1.2.3' })).toEqual(parse('deploy production api 1.2.3'));
    expect(approval.fromOptions('breakglass', { request: 'apr-3', reason: 'outage' })).toEqual(parse('breakglass APR-3 outage'));
  });

  it('zod refuses hand-built invalid arguments, with the messages the text gets', () => {
    const request = approval.subcommands.find((s) => s.name === 'request')!;
    expect(request.schema.safeParse({ type: 'financial', category: 'marketing', amount: '-', title: 'x' }).success).toBe(false);
    expect(request.schema.safeParse({ type: 'loan', category: 'marketing', amount: '1', title: 'x' }).success).toBe(false);
    let thrown: unknown;
    try {
      approval.fromOptions('request', { type: 'financial', category: 'marketing', amount: '-', title: 'Ads' });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect(thrown).toMatchObject({ message: 'A financial request needs an amount.', usage: U.request });
  });
});
