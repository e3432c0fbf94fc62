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
    expect(muster.parse('roles <@U123|ana>')).toEqual({ sub: 'roles', user: 'U123' });
    expect(muster.parse('grant QA_LEAD <@U123>')).toEqual({ sub: 'grant', role: 'qa_lead', user: 'U123' });
    expect(muster.parse('revoke cto <@W9ABC|x y>')).toEqual({ sub: 'revoke', role: 'cto', user: 'W9ABC' });
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
    expect(usage('roles @bob').message).toContain('expected a mention');
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
