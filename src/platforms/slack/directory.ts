import type { WebClient } from '@slack/web-api';
import type { Directory, DirectoryUser, NameMatch } from '../../services/types.ts';

/** The parts of a Slack user object the directory reads (users.info, users.list, users.lookupByEmail). */
interface SlackUser {
  id?: string;
  name?: string;
  real_name?: string;
  deleted?: boolean;
  is_bot?: boolean;
  profile?: { display_name?: string };
}

interface Member {
  user: DirectoryUser;
  handle: string;
  displayName: string;
}

export interface SlackDirectoryOptions {
  /** users.list page size: Slack asks for no more than 200 (https://docs.slack.dev/apis/web-api/pagination). */
  pageSize?: number;
  now?: () => number;
}

/** A guard against a cursor that never ends (200 000 members at the default page size). */
const MAX_PAGES = 1000;

/** Slackbot is listed by users.list with `is_bot: false`, yet nobody means it when granting a role. */
const SLACKBOT = 'USLACKBOT';

const asUser = (u: SlackUser & { id: string }): DirectoryUser => ({
  externalId: u.id,
  name: u.real_name || u.name,
  isBot: u.is_bot === true,
  deleted: u.deleted === true,
});

const slackError = (e: unknown) => (e as { data?: { error?: string } }).data?.error;

/**
 * Slack's people behind the Directory port: users.info for one id, users.lookupByEmail (Tier 3) for an
 * address, and users.list for names. users.list is Tier 2 (about 20 calls a minute) and pages through the
 * whole workspace, so its result is kept per workspace for `ttlMs`: a burst of commands naming people costs
 * one listing, and a name added to Slack a moment ago is found a minute later at worst.
 */
export class SlackDirectory implements Directory {
  private readonly cache = new Map<string, { at: number; user: DirectoryUser | null }>();
  private readonly emails = new Map<string, { at: number; user: DirectoryUser | null }>();
  private readonly members = new Map<string, { at: number; list: Promise<Member[]> }>();
  private readonly pageSize: number;
  private readonly now: () => number;

  constructor(
    private readonly client: WebClient,
    private readonly ttlMs = 60_000,
    options: SlackDirectoryOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 200;
    this.now = options.now ?? Date.now;
  }

  async lookupUser(_workspace: string, userId: string): Promise<DirectoryUser | null> {
    const hit = this.cache.get(userId);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.user;
    let user: DirectoryUser | null;
    try {
      const r = await this.client.users.info({ user: userId });
      user = r.user ? asUser({ ...(r.user as SlackUser), id: userId }) : null;
    } catch (e) {
      if (slackError(e) === 'user_not_found') user = null;
      else throw e;
    }
    this.cache.set(userId, { at: this.now(), user });
    return user;
  }

  /**
   * Exact, case-insensitive matches on the handle (`name`, unique in a workspace) and on the display name
   * (which anyone may set to anything, so it may match several people: the caller decides what is ambiguous).
   */
  async findByName(workspace: string, name: string): Promise<{ user: DirectoryUser; by: NameMatch }[]> {
    const wanted = name.toLowerCase();
    const out: { user: DirectoryUser; by: NameMatch }[] = [];
    for (const m of await this.list(workspace)) {
      if (m.handle.toLowerCase() === wanted) out.push({ user: m.user, by: 'handle' });
      else if (m.displayName !== '' && m.displayName.toLowerCase() === wanted) out.push({ user: m.user, by: 'display_name' });
    }
    return out;
  }

  async findByEmail(workspace: string, email: string): Promise<DirectoryUser | null> {
    const key = `${workspace}\n${email.toLowerCase()}`;
    const hit = this.emails.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.user;
    let user: DirectoryUser | null;
    try {
      const r = await this.client.users.lookupByEmail({ email });
      const u = r.user as SlackUser | undefined;
      user = u?.id ? asUser({ ...u, id: u.id }) : null;
    } catch (e) {
      // users.lookupByEmail answers users_not_found for an address nobody in the workspace has.
      if (slackError(e) === 'users_not_found') user = null;
      else throw e;
    }
    this.emails.set(key, { at: this.now(), user });
    return user;
  }

  private list(workspace: string): Promise<Member[]> {
    const hit = this.members.get(workspace);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.list;
    // Kept as a promise so that commands arriving while it pages share one listing.
    const list = this.fetchMembers();
    this.members.set(workspace, { at: this.now(), list });
    list.catch(() => {
      // A failed listing is not remembered: the next command tries again.
      if (this.members.get(workspace)?.list === list) this.members.delete(workspace);
    });
    return list;
  }

  /** Every active person, following `response_metadata.next_cursor` until Slack returns an empty one. */
  private async fetchMembers(): Promise<Member[]> {
    const out: Member[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await this.client.users.list({ limit: this.pageSize, ...(cursor ? { cursor } : {}) });
      for (const raw of (r.members ?? []) as SlackUser[]) {
        if (!raw.id || raw.deleted || raw.is_bot || raw.id === SLACKBOT) continue;
        out.push({ user: asUser({ ...raw, id: raw.id }), handle: raw.name ?? '', displayName: raw.profile?.display_name ?? '' });
      }
      // A short page does not mean the end (Slack may return fewer than `limit`); only an empty cursor does.
      cursor = r.response_metadata?.next_cursor || undefined;
      if (!cursor) return out;
    }
    throw new Error(`users.list still had a next_cursor after ${MAX_PAGES} pages`);
  }
}
