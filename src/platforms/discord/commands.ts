import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  type APIApplicationCommandBasicOption,
  type APIApplicationCommandInteractionDataBasicOption,
  type APIApplicationCommandSubcommandOption,
  type APIChatInputApplicationCommandInteractionData,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  Routes,
} from 'discord-api-types/v10';
import type { REST } from '@discordjs/rest';
import { parseDiscordText } from './markdown.ts';
import type { OptionSpec, RawOptions, RawValue } from '../../../commands/grammar.ts';
import type { Command } from '../../../commands/types.ts';

/**
 * Discord's slash commands, generated from the same grammars Slack's text is read with (commands/), so
 * the two platforms cannot drift apart: each subcommand becomes a Discord subcommand, each of its options
 * a typed option, and what Discord sends back (`discordCommandInput`) is validated by the same zod
 * schema as Slack's text.
 *
 * Discord's rules (https://discord.com/developers/docs/interactions/application-commands): names 1–32
 * lowercase characters, descriptions 1–100, at most 25 subcommands, 25 options and 25 choices, and
 * required options before optional ones. Command modules are checked against them when they are loaded
 * (commands/types.ts); test/platforms/discord/commands.test.ts checks the generated definitions.
 */

/** Discord takes at most 6000 characters in a string option. */
const DISCORD_MAX_STRING = 6000;

function option(o: OptionSpec): APIApplicationCommandBasicOption {
  const base = { name: o.name, description: o.description, required: o.required };
  switch (o.kind) {
    case 'person':
      return { ...base, type: ApplicationCommandOptionType.User };
    case 'channel':
      return { ...base, type: ApplicationCommandOptionType.Channel };
    case 'integer':
      return { ...base, type: ApplicationCommandOptionType.Integer, ...(o.min !== undefined ? { min_value: o.min } : {}) };
    case 'enum':
      return { ...base, type: ApplicationCommandOptionType.String, choices: (o.choices ?? []).map((c) => ({ name: c, value: c })) };
    case 'word':
    case 'date':
    case 'text':
    case 'list': {
      const max = o.maxLength !== undefined && Number.isFinite(o.maxLength) ? Math.min(o.maxLength, DISCORD_MAX_STRING) : undefined;
      return { ...base, type: ApplicationCommandOptionType.String, ...(max !== undefined ? { max_length: max } : {}) };
    }
  }
}

/** Required options first, as Discord demands; otherwise in the grammar's order. */
const requiredFirst = (options: readonly OptionSpec[]) => [...options.filter((o) => o.required), ...options.filter((o) => !o.required)];

/** The body of `PUT /applications/{id}/commands` (or the guild's): one chat-input command per command module. */
export function discordCommandDefinitions(commands: Iterable<Command<unknown>>): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return [...commands].map((command) => ({
    type: ApplicationCommandType.ChatInput,
    name: command.name,
    description: command.description,
    options: command.subcommands.map(
      (sub): APIApplicationCommandSubcommandOption => ({
        type: ApplicationCommandOptionType.Subcommand,
        name: sub.name,
        description: sub.description,
        options: requiredFirst(sub.options).map(option),
      }),
    ),
  }));
}

function rawValue(o: APIApplicationCommandInteractionDataBasicOption): RawValue | undefined {
  switch (o.type) {
    // A picked user or channel is a node, as a mention picked in Slack's text is.
    case ApplicationCommandOptionType.User:
      return { person: o.value };
    case ApplicationCommandOptionType.Channel:
      return { channel: o.value };
    case ApplicationCommandOptionType.String:
      // A mention typed inside a string option (`<@123…>`, `<#…>`, `<t:…>`) is a node, as in Slack's text; the rest is
      // data. Words and choices without markup stay plain strings, as their schemas read them.
      return /<(?:@!?|#|t:)\d/.test(o.value) ? parseDiscordText(o.value) : o.value;
    case ApplicationCommandOptionType.Integer:
    case ApplicationCommandOptionType.Number:
      return o.value;
    default:
      // Booleans, roles, mentionables, attachments: no grammar declares them, so the schema refuses them by name.
      return String(o.value);
  }
}

/**
 * What a chat-input interaction asks for: the command, its subcommand, and the options as raw values, to be
 * handed to `command.fromOptions` (through commands/dispatch.ts) and validated by the subcommand's schema.
 */
export function discordCommandInput(data: APIChatInputApplicationCommandInteractionData): { command: string; subcommand: string; options: RawOptions } {
  const sub = data.options?.find((o) => o.type === ApplicationCommandOptionType.Subcommand);
  if (!sub || sub.type !== ApplicationCommandOptionType.Subcommand) return { command: data.name, subcommand: 'help', options: {} };
  const options: Record<string, RawValue | undefined> = {};
  for (const o of sub.options ?? []) options[o.name] = rawValue(o);
  return { command: data.name, subcommand: sub.name, options };
}

/** The message command (right-click a message → Apps) that puts it on its incident's timeline. */
export const MESSAGE_COMMANDS = [{ type: ApplicationCommandType.Message, name: 'Add to timeline' }] as const;

/**
 * `PUT /applications/{id}/commands` (or the guild's, which take effect at once): a bulk overwrite, so
 * registering twice changes nothing and commands this release no longer has go away. Returns how many.
 */
export async function registerDiscordCommands(rest: REST, applicationId: string, commands: Iterable<Command<unknown>>, guild?: string): Promise<number> {
  const body = [...discordCommandDefinitions(commands), ...MESSAGE_COMMANDS];
  await rest.put(guild ? Routes.applicationGuildCommands(applicationId, guild) : Routes.applicationCommands(applicationId), { body });
  return body.length;
}
