import type { Role } from '../domain/rbac.ts';
import type { Text } from '../domain/text.ts';
import type { Form } from '../../blocks/surface.ts';
import type { ReplyHandle } from '../platforms/effects.ts';

export interface Actor {
  workspaceId: string;
  /** Internal id: `<workspaceId>:<platform user id>`. */
  userId: string;
  externalId: string;
  name?: string;
  platform: string;
  roles: ReadonlySet<Role>;
  /** Roles that come from MUSTER_ADMINS rather than a grant (they cannot be revoked in chat). */
  envRoles: ReadonlySet<Role>;
}

export interface RequestMeta {
  /** Stable for a request and every retry of it: the idempotency key. */
  requestKey?: string;
  /** For logs and the audit trail. */
  requestId: string;
  channelId?: string;
  /**
   * Where a later reply to this request can go (a command's response URL or interaction token), opaque to
   * services: they hand it to a `reply` effect, and the platform's port uses it.
   */
  replyTo?: ReplyHandle;
  /** When the platform delivered the request (a reply handle is valid for a while from then). */
  receivedAt?: Date;
  /**
   * The message whose button was clicked, when the platform can redraw it through `replyTo` (Slack's
   * response_url with replace_original). A card copy redrawn by the click is then redrawn that way, which
   * spends none of the platform's message-update budget (Kernel.inTx).
   */
  source?: { channel: string; ts: string };
}

export type { ReplyHandle } from '../platforms/effects.ts';

export interface ReplySection {
  title?: string;
  lines: Text[];
}

/** What a command answers, platform-neutral: renderers in blocks/ and the Discord port draw it. */
export interface Reply {
  /** Neutral text (src/domain/text.ts): what a person typed inside it stays data. */
  text: Text;
  sections?: ReplySection[];
  visibility?: 'ephemeral' | 'in_channel';
  /** Marks an answer to a request already handled once (a retry): nothing was done again. */
  duplicate?: boolean;
  /** Asks the platform to open this form (a modal) instead of replying. */
  form?: Form;
}

export interface DirectoryUser {
  externalId: string;
  name?: string;
  isBot?: boolean;
  deleted?: boolean;
}

/**
 * A person as a command names them, before anyone is looked up: a mention picked from autocomplete (the
 * platform's id), a name typed after `@` (what a platform sends for a mention it did not resolve, or when nobody
 * was picked), or an email address. `Kernel.resolvePerson` turns it into one person or refuses.
 */
export type PersonRef = { kind: 'id'; id: string } | { kind: 'name'; name: string } | { kind: 'email'; email: string };

/** Which of a person's names matched: the handle is unique in a workspace, the display name is not. */
export type NameMatch = 'handle' | 'display_name';

/** Looks people up on the chat platform (a port: each platform's member directory). */
export interface Directory {
  lookupUser(workspaceExternalId: string, userExternalId: string): Promise<DirectoryUser | null>;
  /** Active people (no bots, no deactivated accounts) whose handle or display name is `name`, ignoring case. */
  findByName(workspaceExternalId: string, name: string): Promise<{ user: DirectoryUser; by: NameMatch }[]>;
  /** The account registered with this email address, or null. */
  findByEmail(workspaceExternalId: string, email: string): Promise<DirectoryUser | null>;
}
