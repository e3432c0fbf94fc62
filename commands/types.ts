import { z } from 'zod';
import type { Actor, Reply, RequestMeta } from '../src/services/types.ts';
import type { Services } from '../src/services/index.ts';
import type { Inline } from '../src/domain/text.ts';
import type { RawOptions, Subcommand } from './grammar.ts';

/** What every command handler is given: who asks, about which request, and the use cases. */
export interface CommandContext {
  actor: Actor;
  meta: RequestMeta;
  services: Services;
}

/**
 * One slash command: its grammar, its help, and the call into a service. It knows no chat
 * platform: a platform hands it neutral text (its own parser ran first) or options by name, and renders
 * its Reply. Its subcommands are data, from which Discord's command definitions are generated.
 */
export interface Command<P = unknown> {
  /** Without the slash: `muster` answers `/muster`. */
  name: string;
  description: string;
  help: string;
  subcommands: readonly Subcommand<P>[];
  /** Neutral command text → typed arguments. Throws UsageError with the right form on bad input. */
  parse(line: readonly Inline[]): P;
  /** A subcommand and its options by name → the same typed arguments, through the same schemas. */
  fromOptions(subcommand: string, options: RawOptions): P;
  execute(ctx: CommandContext, parsed: P): Promise<Reply>;
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'must be a function');
/** Discord's rules for names (https://discord.com/developers/docs/interactions/application-commands#application-command-object-application-command-naming). */
const name = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/);
const description = z.string().min(1).max(100);

const optionSchema = z
  .object({
    name,
    kind: z.enum(['word', 'enum', 'integer', 'person', 'channel', 'date', 'text', 'list']),
    required: z.boolean(),
    description,
    label: z.string().min(1),
    choices: z.array(z.string().min(1).max(100)).min(1).max(25).optional(),
  })
  .refine((o) => (o.kind === 'enum') === (o.choices !== undefined), 'an enum option lists its choices, and only an enum option does');

const subcommandSchema = z
  .object({
    name,
    words: z.array(z.string().regex(/^[a-z0-9_-]+$/)).min(1),
    aliases: z.array(z.string().regex(/^[a-z0-9_-]+$/)),
    usage: z.string().min(1),
    description,
    options: z.array(optionSchema).max(25),
    input: z.custom<{ shape: object }>((v) => typeof v === 'object' && v !== null && 'shape' in v),
    schema: z.custom((v) => typeof v === 'object' && v !== null && 'safeParse' in v),
  })
  .refine((s) => s.options.filter((o) => o.kind === 'text' || o.kind === 'list').length <= 1, 'at most one free-text option')
  .refine((s) => JSON.stringify(Object.keys(s.input.shape).sort()) === JSON.stringify(s.options.map((o) => o.name).sort()), 'its schema takes exactly its options');

export const commandSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  description,
  help: z.string().min(1),
  subcommands: z
    .array(subcommandSchema)
    .min(1)
    .max(25)
    .refine((subs) => new Set(subs.map((s) => s.name)).size === subs.length, 'subcommand names are unique'),
  parse: fn,
  fromOptions: fn,
  execute: fn,
});

/** Validates command modules when they are loaded, as discord.js's command template does. */
export function defineCommands(modules: Command<never>[]): Map<string, Command<unknown>> {
  const map = new Map<string, Command<unknown>>();
  for (const m of modules) {
    const r = commandSchema.safeParse(m);
    if (!r.success) throw new Error(`command module ${String((m as { name?: unknown }).name)} is invalid: ${r.error.message}`);
    if (map.has(m.name)) throw new Error(`two command modules are named ${m.name}`);
    map.set(m.name, m as unknown as Command<unknown>);
  }
  return map;
}
