import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { ApplicationCommandOptionType, ApplicationCommandType, InteractionType, type APIInteraction } from 'discord-api-types/v10';
import { FakeSlack, TEAM_ID } from '../../support/fakeSlack.ts';
import { FakeDiscord, APPLICATION_ID, GUILD_ID, GENERAL_CHANNEL_ID } from '../../support/fakeDiscord.ts';
import { discordKeys, signInteraction } from '../../support/discordHarness.ts';
import { createTestDatabase, type TestDatabase } from '../../support/db.ts';
import { post, slashCommand } from '../../support/slackRequests.ts';
import { AUDIT_KEY } from '../../support/auditKey.ts';
import { parseEnv } from '../../../src/config/env.ts';
import { defaultPolicy } from '../../../src/config/policy.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { startMuster, type Muster } from '../../../src/muster.ts';
import { verifyChain } from '../../../src/store/audit.ts';
import { AuditKeyring } from '../../../src/store/auditKeys.ts';

/**
 * Slack and Discord in one Muster process, one database and one audit chain; `/muster link` makes a person's two
 * accounts one person: roles granted on either apply on both.
 */
const SECRET = 'link-test-signing-secret';
const SLACK_ADMIN = 'UADMIN';
const SLACK_RILEY = 'URILEY';
const DISCORD_RILEY = '1400000000000000001';
const DISCORD_SAM = '1400000000000000002';

let slack: FakeSlack;
let discord: FakeDiscord;
let tdb: TestDatabase;
let muster: Muster;
const keys = discordKeys();
const clock = new ManualClock(new Date('2026-11-24T11:00:00Z'));

beforeAll(async () => {
  slack = await FakeSlack.start();
  slack.addUser({ id: SLACK_ADMIN, name: 'ada' });
  slack.addUser({ id: SLACK_RILEY, name: 'riley' });
  slack.addUser({ id: 'URILEYALT', name: 'riley-alt' });
  discord = await FakeDiscord.start();
  discord.addUser({ id: DISCORD_RILEY, username: 'riley' });
  discord.addUser({ id: DISCORD_SAM, username: 'sam' });
  tdb = await createTestDatabase();
  const env = parseEnv({
    PORT: '0',
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: slack.url,
    MUSTER_ADMINS: SLACK_ADMIN,
    DISCORD_TOKEN: 'discord-test-token',
    DISCORD_APPLICATION_ID: APPLICATION_ID,
    DISCORD_PUBLIC_KEY: keys.publicKeyHex,
    DISCORD_API_URL: discord.api,
    DATABASE_URL: tdb.url,
    LOG_LEVEL: 'silent',
    MUSTER_AUDIT_KEY: AUDIT_KEY,
  });
  muster = await startMuster({ env, policy: defaultPolicy(), clock, log: pino({ level: 'silent' }), loops: false, slackPacing: false });
});
afterAll(async () => {
  await muster?.stop();
  await slack?.close();
  await discord?.close();
  await tdb?.drop();
});

async function slackCommand(text: string, user: string): Promise<string> {
  const r = await post(muster.url, slashCommand({ command: '/muster', text, userId: user, teamId: TEAM_ID, responseUrl: slack.responseUrl() }), { secret: SECRET });
  return r.body;
}

async function discordCommand(sub: string, options: Record<string, string>, user: string): Promise<string> {
  const data = {
    id: '1',
    name: 'muster',
    type: ApplicationCommandType.ChatInput,
    options: [{ name: sub, type: ApplicationCommandOptionType.Subcommand, options: Object.entries(options).map(([name, value]) => ({ name, type: ApplicationCommandOptionType.String, value })) }],
  };
  const i = discord.interaction({ type: InteractionType.ApplicationCommand, data, userId: user, channelId: GENERAL_CHANNEL_ID, guildId: GUILD_ID }) as APIInteraction;
  const body = JSON.stringify(i);
  const res = await fetch(`${muster.url}/discord/interactions`, { method: 'POST', headers: signInteraction(keys.privateKey, body), body });
  expect(res.status).toBe(200);
  // Discord markdown escapes typed underscores (release\_manager): read it as a person sees it.
  return JSON.stringify(await res.json()).replace(/\\\\/g, '');
}

describe('one process, two platforms', () => {
  it('Slack and Discord both answer, on one database', async () => {
    expect(await slackCommand('whoami', SLACK_RILEY)).toContain('Platform: slack');
    expect(await discordCommand('whoami', {}, DISCORD_RILEY)).toContain('Platform: discord');
  });

  it('/muster link pairs the accounts; a role granted on Slack applies on Discord; unlink undoes it; all in one verified audit chain', async () => {
    expect(await slackCommand(`grant release_manager <@${SLACK_RILEY}>`, SLACK_ADMIN)).toContain('Granted');
    expect(await discordCommand('whoami', {}, DISCORD_RILEY)).not.toContain('release_manager');

    // A wrong code changes nothing; the right one links.
    expect(await discordCommand('link', { code: 'ABCDEFGH' }, DISCORD_RILEY)).toContain('unknown or has expired');
    const started = await slackCommand('link', SLACK_RILEY);
    const code = /link code is `?\*?([A-Z0-9]{8})/.exec(started)?.[1] ?? /([A-HJ-NP-Z2-9]{8})/.exec(started)?.[1];
    expect(code, started).toBeDefined();
    // The code is for another platform: in the same workspace it is refused.
    expect(await slackCommand(`link ${code}`, SLACK_ADMIN)).toContain('same workspace');
    expect(await discordCommand('link', { code: code! }, DISCORD_RILEY)).toContain('Linked');
    const after = await discordCommand('whoami', {}, DISCORD_RILEY);
    expect(after, after).toContain('release_manager');
    // Someone else's account gains nothing.
    expect(await discordCommand('whoami', {}, DISCORD_SAM)).not.toContain('release_manager');
    // A code works once.
    expect(await discordCommand('link', { code: code! }, DISCORD_SAM)).toContain('unknown or has expired');

    expect(await discordCommand('unlink', {}, DISCORD_RILEY)).toContain('Unlinked');
    expect(await discordCommand('whoami', {}, DISCORD_RILEY)).not.toContain('release_manager');

    const audit = await muster.db.read((tx) => tx.auditEntry.findMany({ where: { action: { startsWith: 'identity.' } }, orderBy: { seq: 'asc' } }));
    expect(audit.map((a) => [a.action, a.platform, a.outcome])).toEqual([
      ['identity.link', 'discord', 'denied'],
      ['identity.link.start', 'slack', 'ok'],
      ['identity.link', 'slack', 'denied'],
      ['identity.link', 'discord', 'ok'],
      ['identity.link', 'discord', 'denied'],
      ['identity.unlink', 'discord', 'ok'],
    ]);
    const verified = await verifyChain(muster.db, new AuditKeyring(AUDIT_KEY));
    expect(verified.ok).toBe(true);
  });

  it('accounts of one person vote as one: not on their own request from another account, not twice', async () => {
    // /muster link pairs accounts on two platforms, and a request is voted on in its own workspace, so linked accounts
    // never meet on one request through commands. The rule is the vote's all the same (two accounts of one person in
    // one workspace, linked in the database here): it must hold whatever makes two accounts one person.
    const ALT = 'URILEYALT';
    const [riley, alt] = [await muster.kernel.actor('slack', TEAM_ID, SLACK_RILEY), await muster.kernel.actor('slack', TEAM_ID, ALT)];
    await muster.db.tx((tx) => tx.user.updateMany({ where: { id: { in: [riley.userId, alt.userId] } }, data: { personId: 'person-riley' } }));
    // Roles granted to either account are the person's (Riley on Slack holds release_manager from the test above).
    const granted = await slackCommand(`grant cto <@${ALT}>`, SLACK_ADMIN);
    expect(granted, granted).toContain('Granted');
    const actor = (user: string) => muster.kernel.actor('slack', TEAM_ID, user);
    let n = 0;
    const meta = () => ({ requestId: `link-vote-${++n}`, receivedAt: clock.now() });
    const vote = async (user: string, requestId: string) =>
      muster.services.approvals.vote(await actor(user), meta(), requestId, 'approve').then(
        (r) => r.text,
        (e: Error) => `refused: ${e.message}`,
      );
    const requestOf = async (number: number) => (await muster.db.read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { workspaceId: riley.workspaceId, number } }))).id;

    // Riley asks; Riley's other account holds release_manager and cto (the person's), and is still Riley.
    await muster.services.approvals.requestDeploy(await actor(SLACK_RILEY), meta(), { environment: 'production', component: 'api', version: '1.0.0' });
    const own = await requestOf(1);
    expect(await vote(ALT, own)).toBe('refused: You cannot approve APR-1: you asked for it, and nobody approves their own request.');

    // The admin asks; Riley approves as cto, then tries again from the other account: one person, one vote.
    await muster.services.approvals.requestDeploy(await actor(SLACK_ADMIN), meta(), { environment: 'production', component: 'api', version: '1.0.1' });
    const other = await requestOf(2);
    expect(await vote(SLACK_RILEY, other)).not.toContain('refused');
    expect(await vote(ALT, other)).toBe('refused: You cannot approve APR-2: you have already voted on it.');
    // The admin, who asked, is refused as for any request of one's own.
    expect(await vote(SLACK_ADMIN, other)).toContain('refused: You cannot approve APR-2: you asked for it');
    const votes = await muster.db.read((tx) => tx.approvalVote.findMany({ where: { requestId: other } }));
    expect(votes.map((v) => v.userId)).toEqual([riley.userId]);
  });
});
