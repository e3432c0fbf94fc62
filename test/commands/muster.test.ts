import { describe, expect, it } from 'vitest';
import { muster } from '../../commands/muster.ts';
import { CommandLine, display } from '../../commands/line.ts';
import { commands } from '../../commands/index.ts';
import { defineCommands } from '../../commands/types.ts';
import { UsageError } from '../../src/services/errors.ts';
import { parseSlackText } from '../../src/platforms/slack/mrkdwn.ts';

/** What the app does: Slack's escaped command text through Slack's parser, then the grammar. */
const parse = (text: string) => muster.parse(parseSlackText(text));

describe('/muster grammar', () => {
  it('parses each subcommand', () => {
    expect(parse('')).toEqual({ sub: 'help' });
    expect(parse('WHOAMI')).toEqual({ sub: 'whoami' });
    expect(parse('roles')).toEqual({ sub: 'roles' });
    expect(parse('roles <@U123|ana>')).toEqual({ sub: 'roles', user: { kind: 'id', id: 'U123' } });
    expect(parse('grant QA_LEAD <@U123>')).toEqual({ sub: 'grant', role: 'qa_lead', user: { kind: 'id', id: 'U123' } });
    expect(parse('revoke cto <@W9ABC|x y>')).toEqual({ sub: 'revoke', role: 'cto', user: { kind: 'id', id: 'W9ABC' } });
    expect(parse('audit inc-7')).toEqual({ sub: 'audit', subject: { type: 'incident', id: 'INC-7' } });
    expect(parse('audit APR-12')).toEqual({ sub: 'audit', subject: { type: 'approval', id: 'APR-12' } });
    expect(parse('stats 90d')).toEqual({ sub: 'stats', window: '90d' });
    expect(parse('stats')).toEqual({ sub: 'stats', window: '7d' });
  });

  it('throws a UsageError with the right form', () => {
    const usage = (text: string) => {
      try {
        parse(text);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return { message: (e as UsageError).message, usage: (e as UsageError).usage };
      }
      throw new Error(`no error for ${text}`);
    };
    expect(usage('grant')).toEqual({ message: 'Missing role.', usage: '/muster grant <role> <@user>' });
    expect(usage('audit CHG-0').message).toContain('expected INC-n, CHG-n or APR-n');
    expect(usage('stats 1y').usage).toBe('/muster stats [7d|30d|90d]');
    expect(usage('roles bob').message).toBe('"bob" is not a valid user: expected a mention like @someone, or an email address.');
  });

  // What a person argument can be: a mention picked from autocomplete (escaping on), a typed @name (what
  // Slack sends with escaping off), or an email address (plain, as Slack escapes it, or as neutral text reads it).
  it.each([
    ['<@UALICE|alice>', { kind: 'id', id: 'UALICE' }],
    ['<@UALICE>', { kind: 'id', id: 'UALICE' }],
    ['@alice', { kind: 'name', name: 'alice' }],
    ['@Alice.Smith_2', { kind: 'name', name: 'Alice.Smith_2' }],
    ['"@Alice Smith"', { kind: 'name', name: 'Alice Smith' }],
    ['alice@example.com', { kind: 'email', email: 'alice@example.com' }],
  ] as const)('grant, revoke and roles take %s', (who, ref) => {
    expect(parse(`grant tech_lead ${who}`)).toEqual({ sub: 'grant', role: 'tech_lead', user: ref });
    expect(parse(`revoke tech_lead ${who}`)).toEqual({ sub: 'revoke', role: 'tech_lead', user: ref });
    expect(parse(`roles ${who}`)).toEqual({ sub: 'roles', user: ref });
  });

  // A person picked on another platform (a Discord user id) arrives as a node from that platform's parser.
  it('a person node is a person, whatever its id', () => {
    expect(muster.parse(['grant tech_lead ', { person: '123456789012345678' }])).toEqual({ sub: 'grant', role: 'tech_lead', user: { kind: 'id', id: '123456789012345678' } });
    expect(muster.parse(['roles ', { person: '123456789012345678' }])).toEqual({ sub: 'roles', user: { kind: 'id', id: '123456789012345678' } });
  });

  // [what Slack sends, what the person is shown, why]: typed text (escaped by Slack) names nobody.
  it.each([
    ['alice', 'alice', 'expected a mention like @someone, or an email address'],
    ['&lt;@alice&gt;', '<@alice>', 'expected a mention like @someone, or an email address'],
    ['&lt;@UALICE&gt;', '<@UALICE>', 'expected a mention like @someone, or an email address'],
    ['&lt;@UALICE|alice&gt;', '<@UALICE|alice>', 'expected a mention like @someone, or an email address'],
    ['alice@', 'alice@', 'expected a mention like @someone, or an email address'],
    ['<#C123|general>', '#C123', 'expected a mention like @someone, or an email address'],
    ['@here', '@here', 'a special mention such as @here or @channel is not a person'],
    ['<!everyone>', '@everyone', 'a special mention such as @here or @channel is not a person'],
    ['&lt;!everyone&gt;', '<!everyone>', 'a special mention such as @here or @channel is not a person'],
    ['&lt;!subteam^S123|@sre&gt;', '<!subteam^S123|@sre>', 'a user group is not a person'],
  ])('grant, revoke and roles refuse %s', (who, shown, why) => {
    for (const [text, form] of [
      [`grant tech_lead ${who}`, '/muster grant <role> <@user>'],
      [`revoke tech_lead ${who}`, '/muster revoke <role> <@user>'],
      [`roles ${who}`, '/muster roles [@user]'],
    ]) {
      let thrown: unknown;
      try {
        parse(text!);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(UsageError);
      expect(thrown).toMatchObject({ message: `"${shown}" is not a valid user: ${why}.`, usage: form });
    }
  });

  it('a second person is refused, not ignored', () => {
    expect(() => parse('grant cto @alice @bob')).toThrow('Unexpected "@bob".');
  });

  it('tokenizes neutral text: quoted phrases whole, people and channels as tokens, free-text tails as typed', () => {
    const words = (text: Parameters<typeof CommandLine.of>[0]) => CommandLine.of(text).tokens.map(display);
    expect(words(' a  "b c"  d ')).toEqual(['a', 'b c', 'd']);
    expect(words(['give ', { person: 'U1' }, ' the "on call" ', { channel: 'C1' }, ' rota'])).toEqual(['give', '@U1', 'the', 'on call', '#C1', 'rota']);
    expect(CommandLine.of(['give ', { person: 'U1' }, ' the "on call" ', { channel: 'C1' }, ' rota']).tokens.map((t) => t.kind)).toEqual(['word', 'person', 'word', 'word', 'channel', 'word']);
    // A typed mention is a word like any other.
    expect(CommandLine.of('ask <@U1> now').tokens.map((t) => t.kind)).toEqual(['word', 'word', 'word']);
    expect(CommandLine.of('deploy prod api   because  it is  friday').restFrom(2)).toBe('api   because  it is  friday');
    expect(CommandLine.of(['note  ', { person: 'U1' }, '  said  "hi" ']).restFrom(1)).toEqual([{ person: 'U1' }, '  said  "hi"']);
    expect(CommandLine.of('close').restFrom(1)).toBe('');
  });

  it('command modules are validated when loaded', () => {
    expect([...commands.keys()]).toEqual(['muster', 'incident', 'approval', 'change']);
    expect(() => defineCommands([{ name: 'Bad Name', description: 'x', help: 'x', parse: () => 1, execute: async () => ({ text: '' }) } as never])).toThrow(/invalid/);
  });
});
