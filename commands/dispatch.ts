import type { Logger } from 'pino';
import { UsageError } from '../src/services/errors.ts';
import type { Actor, RequestMeta } from '../src/services/types.ts';
import type { Services } from '../src/services/index.ts';
import { runRequest, type Outcome } from '../src/services/outcome.ts';
import type { Inline } from '../src/domain/text.ts';
import type { RawOptions } from './grammar.ts';
import type { Command } from './types.ts';

export type CommandOutcome = Outcome;

/** What a platform hands a command: neutral text (its own parser ran first), or a subcommand's options by name. */
export type CommandInput = readonly Inline[] | { subcommand: string; options: RawOptions };

/**
 * Runs a command the same way for every platform: parse (bad input stops here, and nothing is
 * read or written: not even the person's record), then resolve the actor and execute through the
 * one outcome mapping (src/services/outcome.ts): refusals audited, failures logged.
 */
export async function dispatchCommand(command: Command<unknown>, input: CommandInput, resolveActor: () => Promise<Actor>, meta: RequestMeta, services: Services, log: Logger): Promise<CommandOutcome> {
  let parsed: unknown;
  try {
    parsed = 'subcommand' in input ? command.fromOptions(input.subcommand, input.options) : command.parse(input);
  } catch (e) {
    if (e instanceof UsageError) return { kind: 'usage', message: e.message, usage: e.usage };
    throw e;
  }
  return runRequest(services.kernel, log, meta, resolveActor, (actor) => command.execute({ actor, meta, services }, parsed));
}
