import { z } from 'zod';
import type { Actor, Reply, RequestMeta } from '../src/services/types.ts';
import type { Services } from '../src/services/index.ts';

/** What every command handler is given: who asks, about which request, and the use cases. */
export interface CommandContext {
  actor: Actor;
  meta: RequestMeta;
  services: Services;
}

/**
 * One slash command: its grammar, its help, and the call into a service. It knows
 * nothing of Slack or Discord; the platform layers hand it text and render its Reply.
 */
export interface Command<P = unknown> {
  /** Without the slash: `muster` answers `/muster`. */
  name: string;
  description: string;
  help: string;
  /** Throws UsageError with the right form on bad input. */
  parse(text: string): P;
  execute(ctx: CommandContext, parsed: P): Promise<Reply>;
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'must be a function');

export const commandSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  description: z.string().min(1).max(100),
  help: z.string().min(1),
  parse: fn,
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
