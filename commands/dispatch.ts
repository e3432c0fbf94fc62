import { Refusal, UsageError } from '../src/services/errors.ts';
import { DuplicateRequest } from '../src/services/kernel.ts';
import type { Actor, Reply, RequestMeta } from '../src/services/types.ts';
import type { Services } from '../src/services/index.ts';
import type { Command } from './types.ts';

export type CommandOutcome =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'usage'; message: string; usage?: string }
  | { kind: 'refused'; message: string }
  | { kind: 'duplicate' };

/**
 * Runs a command the same way for every platform: parse (bad input stops here and
 * nothing is read or written), resolve the actor, execute; a refusal is audited.
 */
export async function dispatchCommand(
  command: Command<unknown>,
  text: string,
  resolveActor: () => Promise<Actor>,
  meta: RequestMeta,
  services: Services,
): Promise<CommandOutcome> {
  let actor: Actor | undefined;
  try {
    const parsed = command.parse(text);
    actor = await resolveActor();
    return { kind: 'reply', reply: await command.execute({ actor, meta, services }, parsed) };
  } catch (e) {
    if (e instanceof UsageError) return { kind: 'usage', message: e.message, usage: e.usage };
    if (e instanceof DuplicateRequest) return { kind: 'duplicate' };
    if (e instanceof Refusal) {
      if (actor) await services.kernel.recordRefusal(actor, meta, e);
      return { kind: 'refused', message: e.message };
    }
    throw e;
  }
}
