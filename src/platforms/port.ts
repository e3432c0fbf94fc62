import type { Capabilities, EffectOp, EffectResults, PortArgs, PortEffect } from './effects.ts';
/**
 * A chat platform seen from the services: it performs effects that were written to the
 * outbox. Adding a platform means adding a port, never changing a service.
 */
/**
 * A chat platform, as the outbox sees it: it performs typed effects (src/platforms/effects.ts)
 * and says what it can do. Every port passes the contract suite in test/contract/.
 */
export interface ChatPort {
  readonly platform: string;
  readonly capabilities: Capabilities;
  perform<K extends EffectOp>(effect: { op: K; args: PortArgs<K> }, ctx?: PerformContext): Promise<EffectResults[K]>;
  /**
   * How long this effect should wait before its call fits the platform's rate budget (0: go now).
   * Asking reserves the budget when the answer is 0; a positive answer may also have booked the effect's turn
   * (`booksTurn`: it is then sent without asking again). A port whose budget is held outside the process (Slack's,
   * in the database, shared by every replica) answers with a promise.
   */
  pace?(effect: PortEffect, workspaceId: string | null): number | Promise<number>;
  /** Whether the positive answer `waitMs` of `pace` for this effect is a booked turn rather than a plain wait (absent: never). */
  booksTurn?(effect: PortEffect, waitMs: number): boolean;
}

/** What the outbox knows about the effect being performed. */
export interface PerformContext {
  effectId: number;
  /** An earlier attempt may have reached the platform: find its outcome before doing it again. */
  uncertain: boolean;
  createdAt: Date;
  workspaceId: string | null;
  /** Now, by Muster's clock (tests drive it). */
  now: Date;
}

export type ChatErrorKind = 'rate_limited' | 'transient' | 'permanent';

export class ChatError extends Error {
  /** The call may or may not have taken effect (a timeout, a 5xx, a dropped connection). */
  outcomeUnknown?: boolean;

  constructor(
    message: string,
    readonly kind: ChatErrorKind,
    readonly code?: string,
    readonly retryAfterMs?: number,
    opts: { outcomeUnknown?: boolean } = {},
  ) {
    super(message);
    if (opts.outcomeUnknown) this.outcomeUnknown = true;
  }
}
