import type { Logger } from 'pino';
import { Refusal, UsageError } from './errors.ts';
import { DuplicateRequest, type Kernel } from './kernel.ts';
import type { Actor, Reply, RequestMeta } from './types.ts';
import type { Text } from '../domain/text.ts';

/**
 * What a person's request came to, the same for every platform and every way in (a command, a
 * click, a form): the reply, bad input with the right form, a refusal (already audited), a retry
 * of a request already handled, or a failure on our side (logged, with a reference to quote).
 */
export type Outcome =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'usage'; message: Text; usage?: string }
  | { kind: 'refused'; message: Text }
  | { kind: 'duplicate' }
  | { kind: 'error'; message: Text };

export function failureText(requestId: string): string {
  return `Something went wrong on our side and nothing was changed. Reference: ${requestId}`;
}

/**
 * The one mapping from a use case's result or exception to an Outcome: commands, clicks and
 * forms on every platform go through here, so a refusal is always audited and an unexpected
 * error always logged with the request's id.
 */
export async function runRequest(kernel: Kernel, log: Logger, meta: RequestMeta, resolveActor: () => Promise<Actor>, run: (actor: Actor) => Promise<Reply>): Promise<Outcome> {
  let actor: Actor | undefined;
  try {
    actor = await resolveActor();
    return { kind: 'reply', reply: await run(actor) };
  } catch (e) {
    if (e instanceof UsageError) return { kind: 'usage', message: e.message, usage: e.usage };
    if (e instanceof DuplicateRequest) return { kind: 'duplicate' };
    if (e instanceof Refusal) {
      if (actor) await kernel.recordRefusal(actor, meta, e).catch((err: unknown) => log.error({ err, requestId: meta.requestId }, 'could not audit a refusal'));
      return { kind: 'refused', message: e.text };
    }
    log.error({ err: e, requestId: meta.requestId }, 'request failed');
    return { kind: 'error', message: failureText(meta.requestId) };
  }
}
