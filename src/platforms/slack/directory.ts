import type { WebClient } from '@slack/web-api';
import type { Directory, DirectoryUser } from '../../services/types.ts';

/** users.info behind the Directory port, with a short cache (Tier 4, but called per grant). */
export class SlackDirectory implements Directory {
  private readonly cache = new Map<string, { at: number; user: DirectoryUser | null }>();

  constructor(
    private readonly client: WebClient,
    private readonly ttlMs = 60_000,
  ) {}

  async lookupUser(_workspace: string, userId: string): Promise<DirectoryUser | null> {
    const hit = this.cache.get(userId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.user;
    let user: DirectoryUser | null;
    try {
      const r = await this.client.users.info({ user: userId });
      user = r.user
        ? { externalId: userId, name: r.user.real_name || r.user.name, isBot: r.user.is_bot === true, deleted: r.user.deleted === true }
        : null;
    } catch (e) {
      if ((e as { data?: { error?: string } }).data?.error === 'user_not_found') user = null;
      else throw e;
    }
    this.cache.set(userId, { at: Date.now(), user });
    return user;
  }
}
