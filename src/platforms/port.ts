/**
 * A chat platform seen from the services: it performs effects that were written to the
 * outbox. Adding a platform means adding a port, never changing a service.
 */
export interface ChatPort {
  readonly platform: string;
  perform(op: string, args: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export type ChatErrorKind = 'rate_limited' | 'transient' | 'permanent';

export class ChatError extends Error {
  constructor(
    message: string,
    readonly kind: ChatErrorKind,
    readonly code?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
