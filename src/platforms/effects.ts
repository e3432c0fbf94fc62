import type { Text } from '../domain/text.ts';
import type { Message } from '../../blocks/surface.ts';

/**
 * The chat effects services ask for, and what a port answers: the typed contract between the
 * neutral core and each platform. Services write effects into the outbox (src/store/outbox.ts)
 * in the transaction of their change; the dispatcher resolves references to earlier effects'
 * results, draws named surfaces, and hands the port a `PortEffect`. Each op has its own
 * argument and result type, so a second platform learns from the types what it must do.
 */

/**
 * What an outbox effect shows, named rather than drawn: the message is drawn when the effect is
 * sent, from the record's current state, so a late or retried effect never shows stale state and
 * services stay free of any platform's format. Each kind is drawn by one function of blocks/
 * (src/services/surfaces.ts).
 */
export type SurfaceRef =
  | { kind: 'incident.card'; incidentId: string }
  | { kind: 'incident.announcement'; incidentId: string; headline: Text }
  | { kind: 'incident.ready'; incidentId: string }
  | { kind: 'incident.action'; actionId: string; intro?: Text }
  | { kind: 'nudge'; nudgeId: string; mentions?: string[]; nobody?: string }
  | { kind: 'approval.card'; requestId: string }
  | { kind: 'approval.review'; requestId: string }
  | { kind: 'change.card'; changeId: string };

/** Where a later reply to a request can go (a response URL, an interaction token), opaque to services. */
export interface ReplyHandle {
  platform: string;
  handle: string;
  issuedAt: number;
}

/** A value taken, when the effect runs, from the result of an earlier effect (`ref()` in src/store/outbox.ts). */
export interface ResultRef {
  readonly $ref: string | number;
  readonly path: string;
}
type Ref<T> = T | ResultRef;

/**
 * What a message shows: neutral text, or a surface drawn at send time (its text is then the
 * notification line only if the surface has none). The dispatcher turns `surface` into `message`.
 */
export interface Content {
  text?: Text;
  surface?: SurfaceRef;
  message?: Message;
}

/** Each op's arguments as services write them. */
export interface EffectArgs {
  /** A message in a channel (a channel id, or a `#name` from the policy). */
  postMessage: Content & { channel: Ref<string>; threadTs?: Ref<string> };
  /**
   * Redraws a message Muster posted (idempotent). `background`: a copy one person sees (an approver's DM of a card
   * that is also in a channel); where the platform's budget is short, copies many people see are redrawn first.
   */
  updateMessage: Content & { channel: Ref<string>; ts: Ref<string>; background?: boolean };
  /** A direct message to one person. */
  dm: Content & { user: string };
  /**
   * A reply to a request through its reply handle; when that is spent or expired, a DM to `fallbackUser`.
   * With `replaceOriginal`, it redraws the message whose button was clicked; `fallbackUpdate` names that
   * message, redrawn the usual way (chat.update) when the handle can no longer be used.
   */
  reply: Content & {
    to: ReplyHandle;
    fallbackUser?: string;
    visibility?: 'ephemeral' | 'in_channel';
    replaceOriginal?: boolean;
    fallbackUpdate?: { channel: string; ts: string };
  };
  /** A channel for an incident; a name taken by someone else gets -2, -3 … */
  createChannel: { name: string; isPrivate?: boolean };
  /** The members of user groups (a port with `userGroups`). */
  expandGroups: { groups: string[] };
  /** Adds people to a channel; people who cannot be added are reported in the result, not retried. */
  invite: { channel: Ref<string>; users: Ref<string[]> };
  setTopic: { channel: Ref<string>; topic: Text };
  /** Pins a message (a port with `pins`). */
  pin: { channel: Ref<string>; ts: Ref<string> };
  /** Bookmarks a message in its channel (a port with `bookmarks`). */
  bookmark: { channel: Ref<string>; ts: Ref<string>; title: string };
  /** Archives (or, where a platform cannot archive, locks) a channel. */
  archiveChannel: { channel: Ref<string> };
  /** Shares a text file in a channel (a port with `fileUpload`). */
  uploadFile: { channel: Ref<string>; filename: string; content: string; title?: string; comment?: Text };
}

/** A person a port could not add to a channel, and why in words. */
export interface FailedInvite {
  user: string;
  error: string;
  reason: string;
}

/** A user group a port could not expand, and why in words. */
export interface FailedGroup {
  group: string;
  error: string;
  reason: string;
}

/** Each op's result, as stored on the effect (and read by later effects and hooks). `adopted`: an earlier attempt's outcome was found. */
export interface EffectResults {
  postMessage: { channel: string; ts: string; adopted?: boolean };
  updateMessage: { channel: string; ts: string };
  dm: { channel: string; ts: string; adopted?: boolean };
  reply: { via: 'reply' | 'dm' | 'update'; channel?: string; ts?: string; adopted?: boolean };
  createChannel: { channel: string; name: string; adopted?: boolean };
  expandGroups: { users: string[]; failedGroups: FailedGroup[] };
  invite: { channel: string; invited: number; failed: FailedInvite[] };
  setTopic: Record<string, never>;
  pin: Record<string, never>;
  bookmark: { bookmarkId?: string; link: string; adopted?: boolean };
  archiveChannel: Record<string, never>;
  uploadFile: { fileId?: string; permalink?: string; adopted?: boolean };
}

export type EffectOp = keyof EffectArgs;
export const EFFECT_OPS = [
  'postMessage',
  'updateMessage',
  'dm',
  'reply',
  'createChannel',
  'expandGroups',
  'invite',
  'setTopic',
  'pin',
  'bookmark',
  'archiveChannel',
  'uploadFile',
] as const satisfies readonly EffectOp[];
// Every op is listed (a compile error names the one missing).
type Missing = Exclude<EffectOp, (typeof EFFECT_OPS)[number]>;
const _allListed: Missing extends never ? true : Missing = true;
void _allListed;

export const isEffectOp = (op: string): op is EffectOp => (EFFECT_OPS as readonly string[]).includes(op);

/** An effect as a service writes it. */
export type Effect = { [K in EffectOp]: { op: K; args: EffectArgs[K] } }[EffectOp];

/** Arguments with references resolved and any surface drawn: what a port is handed. */
type Resolved<A> = { [K in keyof A as K extends 'surface' ? never : K]: Exclude<A[K], ResultRef> };
export type PortArgs<K extends EffectOp> = Resolved<EffectArgs[K]>;

/** An effect as a port performs it. */
export type PortEffect = { [K in EffectOp]: { op: K; args: PortArgs<K> } }[EffectOp];

/**
 * What a platform can do. Services read these (Kernel.capabilities) and degrade explicitly where
 * a platform lacks one; the port contract suite (test/contract/) checks each declared one works.
 */
export interface Capabilities {
  /** Pin a message in a channel (the incident card). Without: the card is the channel's first message. */
  pins: boolean;
  /** Bookmark a message in a channel's header. Without: no bookmark; the card is pinned or first. */
  bookmarks: boolean;
  /** Expand a user group into its members. Without: groups in a policy are reported as not added. */
  userGroups: boolean;
  /** Post a reply in a message's thread (`postMessage.threadTs`). Without: `threadTs` is refused by the port. */
  threads: boolean;
  /** Share a file in a channel. Without: the postmortem is posted as messages. */
  fileUpload: boolean;
  /** A per-person page published by the bot (an app home). Without: waiting approvals reach people by DM only. */
  appHome: boolean;
}

export const NO_CAPABILITIES: Capabilities = { pins: false, bookmarks: false, userGroups: false, threads: false, fileUpload: false, appHome: false };
