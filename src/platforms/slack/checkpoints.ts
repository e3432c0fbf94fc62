import { LogLevel, WebClient } from '@slack/web-api';
import type { Env } from '../../config/env.ts';
import { CHECKPOINT_TAG, collectCheckpoints, type ParsedCheckpoints } from '../../store/auditCheckpoints.ts';

/**
 * conversations.history takes a channel id, not a name (Slack method reference), so a
 * `#name` from the policy is looked up with conversations.list first. Both are paginated
 * by cursor; history returns top-level messages, which is where checkpoints are posted.
 */
export async function readChannelCheckpoints(client: WebClient, channel: string, into: ParsedCheckpoints): Promise<number> {
  const before = into.found.length;
  let id = channel;
  if (channel.startsWith('#')) {
    const name = channel.slice(1);
    let found: string | undefined;
    for (let cursor: string | undefined; !found; ) {
      const page = await client.conversations.list({ types: 'public_channel,private_channel', limit: 200, cursor });
      found = page.channels?.find((c) => c.name === name)?.id;
      cursor = page.response_metadata?.next_cursor || undefined;
      if (!cursor) break;
    }
    if (!found) throw new Error(`Slack has no channel ${channel} that the bot can see (for a private channel, invite Muster to it)`);
    id = found;
  }
  for (let cursor: string | undefined; ; ) {
    const page = await client.conversations.history({ channel: id, limit: 200, cursor });
    for (const m of page.messages ?? []) {
      if (m.text?.includes(CHECKPOINT_TAG)) for (const line of m.text.split('\n')) collectCheckpoints(line, `${channel} message ${m.ts}`, into);
    }
    cursor = page.response_metadata?.next_cursor || undefined;
    if (!cursor) break;
  }
  return into.found.length - before;
}

/** `muster audit verify --channel`: the audit channel's checkpoints, read with the bot token. */
export async function readSlackCheckpoints(env: Env, channel: string, into: ParsedCheckpoints): Promise<number> {
  // Unlike the bot's client (the outbox retries), a CLI run may wait out a rate limit.
  const client = new WebClient(env.SLACK_BOT_TOKEN, {
    slackApiUrl: env.SLACK_API_URL,
    retryConfig: { retries: 3 },
    timeout: 10_000,
    logLevel: LogLevel.ERROR,
  });
  try {
    return await readChannelCheckpoints(client, channel, into);
  } catch (e) {
    const code = (e as { data?: { error?: string } }).data?.error;
    throw new Error(`cannot read checkpoints from ${channel}: ${code ? `Slack answered ${code}` : (e as Error).message}`);
  }
}
