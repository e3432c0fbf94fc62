import { describe, expect, it } from 'vitest';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  type APIApplicationCommandBasicOption,
  type APIApplicationCommandInteractionDataBasicOption,
  type APIApplicationCommandSubcommandOption,
  type APIChatInputApplicationCommandInteractionData,
} from 'discord-api-types/v10';
import { commands } from '../../../commands/index.ts';
import type { Command } from '../../../commands/types.ts';
import { discordCommandDefinitions, discordCommandInput } from '../../../src/platforms/discord/commands.ts';
import { parseSlackText } from '../../../src/platforms/slack/mrkdwn.ts';
import { INCIDENT_ROLES, SEVERITIES, STATUSES } from '../../../src/domain/incident.ts';
import { ROLES } from '../../../src/domain/rbac.ts';
import { DECISION_CATEGORIES } from '../../../src/config/policy.ts';
import { UsageError } from '../../../src/services/errors.ts';

/**
 * Discord's command definitions are generated from the grammars Slack's text is read with. These tests
 * hold the generated definitions to Discord's rules, and hold both platforms to one schema per subcommand.
 */

const definitions = discordCommandDefinitions(commands.values());
const definition = (command: string) => definitions.find((d) => d.name === command)!;
const subcommandsOf = (command: string) => (definition(command).options ?? []) as APIApplicationCommandSubcommandOption[];
const generated = (command: string, sub: string) => subcommandsOf(command).find((s) => s.name === sub)!;
const optionsOf = (command: string, sub: string) => (generated(command, sub).options ?? []) as APIApplicationCommandBasicOption[];
const grammarOf = (command: string) => commands.get(command)!;
const everySubcommand = [...commands.values()].flatMap((c) => c.subcommands.map((s) => [c.name, s.name] as const));

// Discord's rules: https://discord.com/developers/docs/interactions/application-commands#application-command-object
const NAME = /^[-_\p{Ll}\p{N}]{1,32}$/u;

type Opt = { type: ApplicationCommandOptionType; value: string | number };
const S = (value: string): Opt => ({ type: ApplicationCommandOptionType.String, value });
const USER = (id: string): Opt => ({ type: ApplicationCommandOptionType.User, value: id });
const INT = (value: number): Opt => ({ type: ApplicationCommandOptionType.Integer, value });

/** A chat-input interaction's data, as Discord sends it for `/command subcommand option:value…`. */
function interaction(command: string, sub: string, options: Record<string, Opt>): APIChatInputApplicationCommandInteractionData {
  return {
    id: '1',
    name: command,
    type: ApplicationCommandType.ChatInput,
    options: [
      {
        type: ApplicationCommandOptionType.Subcommand,
        name: sub,
        options: Object.entries(options).map(([name, o]) => ({ name, ...o }) as APIApplicationCommandInteractionDataBasicOption),
      },
    ],
  };
}

/** For every subcommand: the Slack text a person types, and the Discord options that mean the same. */
const SAMPLES: Record<string, Record<string, [slack: string, discord: Record<string, Opt>]>> = {
  incident: {
    help: ['help', {}],
    new: ['new', {}],
    declare: ['declare P1 Database is down', { title: S('Database is down'), severity: S('P1') }],
    list: ['list', {}],
    status: ['INC-7 status identified found it', { status: S('identified'), note: S('found it'), incident: S('INC-7') }],
    update: ['INC-7 update all good', { text: S('all good'), incident: S('INC-7') }],
    sev: ['INC-7 sev P0 spreading', { severity: S('P0'), reason: S('spreading'), incident: S('INC-7') }],
    role: ['INC-7 role tech <@U123|bob>', { role: S('tech'), user: USER('U123'), incident: S('INC-7') }],
    note: ['INC-7 note saw spikes', { text: S('saw spikes'), incident: S('INC-7') }],
    action: ['INC-7 action add alerting <@U123|bob> due 2026-12-01', { text: S('add alerting'), owner: USER('U123'), due: S('2026-12-01'), incident: S('INC-7') }],
    'action-done': ['INC-7 action done 2', { number: INT(2), incident: S('INC-7') }],
    public: ['INC-7 public We are investigating.', { text: S('We are investigating.'), incident: S('INC-7') }],
    'public-title': ['INC-7 public title Checkout is slow', { title: S('Checkout is slow'), incident: S('INC-7') }],
    'public-services': ['INC-7 public services checkout, payments', { services: S('checkout, payments'), incident: S('INC-7') }],
    'public-off': ['INC-7 public off', { incident: S('INC-7') }],
    resolve: ['INC-7 resolve rolled back', { summary: S('rolled back'), incident: S('INC-7') }],
    close: ['INC-7 close', { incident: S('INC-7') }],
    timeline: ['INC-7 timeline', { incident: S('INC-7') }],
    postmortem: ['INC-7 postmortem', { incident: S('INC-7') }],
    link: ['INC-7 link CHG-4', { change: S('CHG-4'), incident: S('INC-7') }],
  },
  approval: {
    help: ['help', {}],
    deploy: ['deploy production api 1.2.3 hotfix for login', { environment: S('production'), component: S('api'), version: S('1.2.3'), reason: S('hotfix for login') }],
    request: ['request financial marketing 12.5k Q3 campaign', { type: S('financial'), category: S('marketing'), amount: S('12.5k'), title: S('Q3 campaign') }],
    list: ['list', {}],
    show: ['show APR-3', { request: S('APR-3') }],
    cancel: ['cancel APR-3', { request: S('APR-3') }],
    breakglass: ['breakglass APR-3 prod is down', { request: S('APR-3'), reason: S('prod is down') }],
  },
  change: {
    help: ['help', {}],
    new: ['new emergency', { type: S('emergency') }],
    list: ['list scheduled', { filter: S('scheduled') }],
    show: ['show CHG-4', { change: S('CHG-4') }],
    edit: ['edit CHG-4', { change: S('CHG-4') }],
    calendar: ['calendar', {}],
    start: ['start CHG-4', { change: S('CHG-4') }],
    done: ['done CHG-4 failed pods crashlooped', { change: S('CHG-4'), outcome: S('failed'), notes: S('pods crashlooped') }],
    rollback: ['rollback CHG-4 error rate doubled', { change: S('CHG-4'), reason: S('error rate doubled') }],
    review: ['review CHG-4 missing canary; adding one', { change: S('CHG-4'), notes: S('missing canary; adding one') }],
    close: ['close CHG-4', { change: S('CHG-4') }],
    evidence: ['evidence CHG-4', { change: S('CHG-4') }],
    freeze: ['freeze production 2026-12-31 year-end freeze', { environment: S('production'), until: S('2026-12-31'), reason: S('year-end freeze') }],
    unfreeze: ['unfreeze all', { environment: S('all') }],
  },
  muster: {
    help: ['help', {}],
    whoami: ['whoami', {}],
    roles: ['roles <@U123|bob>', { user: USER('U123') }],
    grant: ['grant qa_lead <@U123|bob>', { role: S('qa_lead'), user: USER('U123') }],
    revoke: ['revoke qa_lead <@U123|bob>', { role: S('qa_lead'), user: USER('U123') }],
    audit: ['audit INC-7', { record: S('INC-7') }],
    stats: ['stats 30d', { period: S('30d') }],
    link: ['link K7PQ2MXR', { code: S('K7PQ2MXR') }],
    unlink: ['unlink', {}],
  },
};

/** Runs the Discord path: interaction data → raw options → the subcommand's schema. */
function viaDiscord(command: string, sub: string, options: Record<string, Opt>): unknown {
  const input = discordCommandInput(interaction(command, sub, options));
  expect(input.command).toBe(command);
  return grammarOf(input.command).fromOptions(input.subcommand, input.options);
}

/** Discord counts the names, descriptions and choice values of a command and all its options: at most 4000. */
function characters(o: { name: string; description?: string; options?: unknown[]; choices?: { name: string; value: string | number }[] }): number {
  const own = o.name.length + (o.description?.length ?? 0) + (o.choices ?? []).reduce((n, c) => n + c.name.length + String(c.value).length, 0);
  return own + ((o.options ?? []) as (typeof o)[]).reduce((n, x) => n + characters(x), 0);
}

describe('Discord command definitions, generated from the grammars', () => {
  it('has every command, and every subcommand of each', () => {
    expect(definitions.map((d) => d.name)).toEqual([...commands.keys()]);
    for (const command of commands.values()) {
      expect(definition(command.name).type).toBe(ApplicationCommandType.ChatInput);
      expect(subcommandsOf(command.name).map((s) => s.name)).toEqual(command.subcommands.map((s) => s.name));
      for (const s of subcommandsOf(command.name)) expect(s.type).toBe(ApplicationCommandOptionType.Subcommand);
    }
    expect(subcommandsOf('incident').map((s) => s.name)).toEqual(
      expect.arrayContaining(['declare', 'sev', 'role', 'action', 'action-done', 'public', 'public-title', 'public-services', 'public-off']),
    );
  });

  it("keeps to Discord's limits: names, descriptions, counts, required options first", () => {
    for (const d of definitions) {
      expect(d.name).toMatch(NAME);
      expect(d.description.length).toBeGreaterThan(0);
      expect(d.description.length).toBeLessThanOrEqual(100);
      expect(d.options!.length).toBeLessThanOrEqual(25);
      expect(characters(d as never)).toBeLessThanOrEqual(4000);
      for (const s of subcommandsOf(d.name)) {
        expect(s.name).toMatch(NAME);
        expect(s.description.length).toBeGreaterThan(0);
        expect(s.description.length).toBeLessThanOrEqual(100);
        const options = optionsOf(d.name, s.name);
        expect(options.length).toBeLessThanOrEqual(25);
        expect(new Set(options.map((o) => o.name)).size).toBe(options.length);
        const required = options.map((o) => o.required === true);
        expect(required).toEqual([...required].sort((a, b) => Number(b) - Number(a)));
        for (const o of options) {
          expect(o.name).toMatch(NAME);
          expect(o.description.length).toBeGreaterThan(0);
          expect(o.description.length).toBeLessThanOrEqual(100);
          const choices = 'choices' in o ? (o.choices ?? []) : [];
          expect(choices.length).toBeLessThanOrEqual(25);
          for (const c of choices) expect(String(c.value).length).toBeLessThanOrEqual(100);
        }
      }
    }
  });

  it('offers the domain enums as choices', () => {
    const choices = (command: string, sub: string, option: string) => {
      const o = optionsOf(command, sub).find((x) => x.name === option)!;
      expect(o.type).toBe(ApplicationCommandOptionType.String);
      return ('choices' in o ? (o.choices ?? []) : []).map((c) => c.value);
    };
    expect(choices('incident', 'declare', 'severity')).toEqual([...SEVERITIES]);
    expect(choices('incident', 'sev', 'severity')).toEqual([...SEVERITIES]);
    // Closing is its own subcommand (`close`), as in Slack's text.
    expect(choices('incident', 'status', 'status')).toEqual(STATUSES.filter((s) => s !== 'closed'));
    expect(choices('incident', 'role', 'role')).toEqual([...INCIDENT_ROLES]);
    expect(choices('muster', 'grant', 'role')).toEqual([...ROLES]);
    expect(choices('muster', 'revoke', 'role')).toEqual([...ROLES]);
    expect(choices('approval', 'request', 'category')).toEqual([...DECISION_CATEGORIES]);
  });

  it('asks for people with user options and for numbers with integer options', () => {
    for (const [command, sub] of everySubcommand) {
      const spec = grammarOf(command).subcommands.find((s) => s.name === sub)!;
      for (const o of spec.options) {
        const g = optionsOf(command, sub).find((x) => x.name === o.name)!;
        if (o.kind === 'person') expect(g.type, `${command} ${sub} ${o.name}`).toBe(ApplicationCommandOptionType.User);
        else if (o.kind === 'integer') expect(g.type).toBe(ApplicationCommandOptionType.Integer);
        else if (o.kind === 'channel') expect(g.type).toBe(ApplicationCommandOptionType.Channel);
        else expect(g.type).toBe(ApplicationCommandOptionType.String);
      }
    }
    expect(optionsOf('incident', 'role').find((o) => o.name === 'user')!.type).toBe(ApplicationCommandOptionType.User);
    expect(optionsOf('incident', 'action').find((o) => o.name === 'owner')!.type).toBe(ApplicationCommandOptionType.User);
    expect(optionsOf('muster', 'grant').find((o) => o.name === 'user')!.type).toBe(ApplicationCommandOptionType.User);
  });
});

describe('one schema per subcommand for both platforms (nothing can drift)', () => {
  it('every subcommand has a sample, and nothing else does', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...commands.keys()].sort());
    for (const command of commands.values()) expect(Object.keys(SAMPLES[command.name]!).sort()).toEqual(command.subcommands.map((s) => s.name).sort());
  });

  it.each(everySubcommand)('/%s %s: the generated options are exactly the keys its schema accepts', (command, sub) => {
    const spec = grammarOf(command).subcommands.find((s) => s.name === sub)!;
    expect(
      optionsOf(command, sub)
        .map((o) => o.name)
        .sort(),
    ).toEqual(Object.keys(spec.input.shape).sort());
    // And no other key: the schema is strict.
    const [, discord] = SAMPLES[command]![sub]!;
    expect(() => viaDiscord(command, sub, { ...discord, unheard_of: S('x') })).toThrow(UsageError);
  });

  it.each(everySubcommand)('/%s %s: Discord options validate to the typed arguments the Slack text gives', (command, sub) => {
    const [slack, discord] = SAMPLES[command]![sub]!;
    const fromSlack = grammarOf(command).parse(parseSlackText(slack));
    expect((fromSlack as { sub: string }).sub).toBe(sub === 'help' ? 'help' : sub);
    expect(viaDiscord(command, sub, discord)).toEqual(fromSlack);
  });

  it.each(everySubcommand)('/%s %s: an option Discord requires is one the schema requires, and the reverse', (command, sub) => {
    const [, discord] = SAMPLES[command]![sub]!;
    const required = new Map(optionsOf(command, sub).map((o) => [o.name, o.required === true]));
    // The sample gives every option, so that each can be left out in turn.
    expect(Object.keys(discord).sort()).toEqual([...required.keys()].sort());
    for (const [name, isRequired] of required) {
      const without = Object.fromEntries(Object.entries(discord).filter(([k]) => k !== name));
      if (isRequired) expect(() => viaDiscord(command, sub, without), `${name} is required`).toThrow(UsageError);
      else expect(() => viaDiscord(command, sub, without), `${name} is optional`).not.toThrow();
    }
  });

  it.each(everySubcommand)('/%s %s: every choice Discord offers is one the schema accepts', (command, sub) => {
    const [, discord] = SAMPLES[command]![sub]!;
    for (const o of optionsOf(command, sub)) {
      for (const c of 'choices' in o ? (o.choices ?? []) : []) {
        expect(() => viaDiscord(command, sub, { ...discord, [o.name]: S(String(c.value)) }), `${o.name}=${c.value}`).not.toThrow();
      }
    }
  });

  it('bad options get the text grammar’s messages and forms', () => {
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (e) {
        return { message: (e as UsageError).message, usage: (e as UsageError).usage };
      }
      throw new Error('no UsageError');
    };
    const slack = (command: string, text: string) => refusal(() => grammarOf(command).parse(parseSlackText(text)));
    expect(refusal(() => viaDiscord('incident', 'action', { text: S('x'), due: S('2026-02-30') }))).toEqual(slack('incident', 'action x due 2026-02-30'));
    expect(refusal(() => viaDiscord('approval', 'request', { type: S('financial'), category: S('marketing'), amount: S('-'), title: S('Ads') }))).toEqual(
      slack('approval', 'request financial marketing - Ads'),
    );
    expect(refusal(() => viaDiscord('approval', 'deploy', { environment: S('prod!'), component: S('api'), version: S('1') }))).toEqual(slack('approval', 'deploy prod! api 1'));
    expect(refusal(() => viaDiscord('muster', 'audit', { record: S('CHG-0') }))).toEqual(slack('muster', 'audit CHG-0'));
  });

  it("free text keeps people as nodes on both paths (Discord's text parser will hand its mentions over as nodes)", () => {
    const title = ['Database ', { person: 'U123' }, ' is down'];
    expect(grammarOf('incident').fromOptions('declare', { title, severity: 'P1' })).toEqual(grammarOf('incident').parse(parseSlackText('declare P1 Database <@U123|bob> is down')));
    // Until then a typed `<@…>` in a string option is text, as a typed one in Slack is.
    expect(viaDiscord('incident', 'declare', { title: S('paged <@U123>') })).toEqual(grammarOf('incident').parse(parseSlackText('declare paged &lt;@U123&gt;')));
  });

  it('a subcommand Discord does not know (a stale registration) is refused with the usage', () => {
    expect(() => viaDiscord('incident', 'frobnicate', {})).toThrow('Unknown subcommand "frobnicate".');
  });

  it('generates definitions for any command list (e.g. a subset registered per guild)', () => {
    const only: Command<unknown>[] = [grammarOf('muster')];
    expect(discordCommandDefinitions(only).map((d) => d.name)).toEqual(['muster']);
  });
});
