import { describe, expect, it } from 'vitest';
import { muster } from '../../commands/muster.ts';
import { tokenize, restAfter } from '../../commands/grammar.ts';
import { commands } from '../../commands/index.ts';
import { defineCommands } from '../../commands/types.ts';
import { UsageError } from '../../src/services/errors.ts';

describe('/muster grammar', () => {
  it('parses each subcommand', () => {
    expect(muster.parse('')).toEqual({ sub: 'help' });
    expect(muster.parse('WHOAMI')).toEqual({ sub: 'whoami' });
    expect(muster.parse('roles')).toEqual({ sub: 'roles' });
    expect(muster.parse('roles <@U123|ana>')).toEqual({ sub: 'roles', user: { kind: 'id', id: 'U123' } });
    expect(muster.parse('grant QA_LEAD <@U123>')).toEqual({ sub: 'grant', role: 'qa_lead', user: { kind: 'id', id: 'U123' } });
    expect(muster.parse('revoke cto <@W9ABC|x y>')).toEqual({ sub: 'revoke', role: 'cto', user: { kind: 'id', id: 'W9ABC' } });
    expect(muster.parse('audit inc-7')).toEqual({ sub: 'audit', subject: { type: 'incident', id: 'INC-7' } });
    expect(muster.parse('audit APR-12')).toEqual({ sub: 'audit', subject: { type: 'approval', id: 'APR-12' } });
    expect(muster.parse('stats 90d')).toEqual({ sub: 'stats', window: '90d' });
    expect(muster.parse('stats')).toEqual({ sub: 'stats', window: '7d' });
  });

  it('throws a UsageError with the right form', () => {
    const usage = (text: string) => {
      try {
        muster.parse(text);
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
    ['<@123456789012345678>', { kind: 'id', id: '123456789012345678' }],
    ['@alice', { kind: 'name', name: 'alice' }],
    ['@Alice.Smith_2', { kind: 'name', name: 'Alice.Smith_2' }],
    ['"@Alice Smith"', { kind: 'name', name: 'Alice Smith' }],
    ['alice@example.com', { kind: 'email', email: 'alice@example.com' }],
  ] as const)('grant, revoke and roles take %s', (who, ref) => {
    expect(muster.parse(`grant tech_lead ${who}`)).toEqual({ sub: 'grant', role: 'tech_lead', user: ref });
    expect(muster.parse(`revoke tech_lead ${who}`)).toEqual({ sub: 'revoke', role: 'tech_lead', user: ref });
    expect(muster.parse(`roles ${who}`)).toEqual({ sub: 'roles', user: ref });
  });

  it.each([
    ['alice', 'expected a mention like @someone, or an email address'],
    ['<@alice>', 'expected a mention like @someone, or an email address'],
    ['alice@', 'expected a mention like @someone, or an email address'],
    ['<#C123|general>', 'expected a mention like @someone, or an email address'],
    ['@here', 'a special mention such as @here or @channel is not a person'],
    ['<!everyone>', 'a special mention such as @here or @channel is not a person'],
    ['<!subteam^S123|@sre>', 'a user group is not a person'],
  ])('grant, revoke and roles refuse %s', (who, why) => {
    for (const [text, form] of [
      [`grant tech_lead ${who}`, '/muster grant <role> <@user>'],
      [`revoke tech_lead ${who}`, '/muster revoke <role> <@user>'],
      [`roles ${who}`, '/muster roles [@user]'],
    ]) {
      let thrown: unknown;
      try {
        muster.parse(text!);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(UsageError);
      expect(thrown).toMatchObject({ message: `"${who}" is not a valid user: ${why}.`, usage: form });
    }
  });

  it('a second person is refused, not ignored', () => {
    expect(() => muster.parse('grant cto @alice @bob')).toThrow('Unexpected "@bob".');
  });

  it('tokenizes quoted phrases and keeps free-text tails', () => {
    expect(tokenize(' a  "b c"  d ')).toEqual(['a', 'b c', 'd']);
    expect(restAfter('deploy prod api   because  it is  friday', 2)).toBe('api   because  it is  friday');
  });

  it('command modules are validated when loaded', () => {
    expect([...commands.keys()]).toEqual(['muster', 'incident', 'approval']);
    expect(() => defineCommands([{ name: 'Bad Name', description: 'x', help: 'x', parse: () => 1, execute: async () => ({ text: '' }) } as never])).toThrow(/invalid/);
  });
});
