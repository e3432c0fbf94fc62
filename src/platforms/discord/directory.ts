import { DiscordAPIError, type REST } from '@discordjs/rest';
import { Routes, type APIGuildMember } from 'discord-api-types/v10';
import type { Directory, DirectoryUser, NameMatch } from '../../services/types.ts';

/** Unknown Member / Unknown User (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes). */
const NOT_A_MEMBER = new Set([10007, 10013]);

const userOf = (m: APIGuildMember): DirectoryUser => ({
  externalId: m.user.id,
  name: m.nick ?? m.user.global_name ?? m.user.username,
  ...(m.user.bot ? { isBot: true } : {}),
});

/**
 * A Discord server's members as Muster's directory: a person is a member of the server (the workspace). Discord
 * shows no email addresses to bots, so people cannot be found by email; by name, the username is the handle
 * (unique) and the server nickname or global display name the display name.
 */
export class DiscordDirectory implements Directory {
  constructor(private readonly rest: REST) {}

  async lookupUser(guild: string, user: string): Promise<DirectoryUser | null> {
    try {
      return userOf((await this.rest.get(Routes.guildMember(guild, user))) as APIGuildMember);
    } catch (e) {
      if (e instanceof DiscordAPIError && (NOT_A_MEMBER.has(Number(e.code)) || e.status === 404)) return null;
      throw e;
    }
  }

  async findByName(guild: string, name: string): Promise<{ user: DirectoryUser; by: NameMatch }[]> {
    // GET /guilds/{g}/members/search: "members whose username or nickname starts with" the query (at most 1000).
    const found = (await this.rest.get(Routes.guildMembersSearch(guild), { query: new URLSearchParams({ query: name, limit: '1000' }) })) as APIGuildMember[];
    const want = name.toLowerCase();
    const out: { user: DirectoryUser; by: NameMatch }[] = [];
    for (const m of found) {
      if (m.user.bot) continue;
      if (m.user.username.toLowerCase() === want) out.push({ user: userOf(m), by: 'handle' });
      else if ((m.nick ?? m.user.global_name ?? '').toLowerCase() === want) out.push({ user: userOf(m), by: 'display_name' });
    }
    return out;
  }

  async findByEmail(): Promise<DirectoryUser | null> {
    return null;
  }
}
