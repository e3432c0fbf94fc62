import { LogLevel, WebClient, type Logger } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeSlack, TEAM_ID } from '../../support/fakeSlack.ts';
import { SlackDirectory } from '../../../src/platforms/slack/directory.ts';

/** WebClient logs every platform error at ERROR level; the refusals below are expected. */
const quiet: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

let fake: FakeSlack;
let client: WebClient;
let now = 0;
const TTL = 60_000;
/** A fresh directory per test, so that no test sees another's cache. */
let dir: SlackDirectory;
const listings = () => fake.callsTo('users.list').length;

beforeAll(async () => {
  // Short pages: Slack may return fewer members than `limit` before the end, so the directory must follow cursors.
  fake = await FakeSlack.start({ shortPages: true });
  client = new WebClient('xoxb-test-token', { slackApiUrl: fake.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: quiet });
  fake.addUser({ id: 'UALICE', name: 'alice', display_name: 'Alice', email: 'alice@example.com' });
  fake.addUser({ id: 'UALEX', name: 'alex', display_name: 'al' });
  fake.addUser({ id: 'UALAN', name: 'alan', display_name: 'Al' });
  fake.addUser({ id: 'UDANA', name: 'dana.w', display_name: 'Dana' });
  fake.addUser({ id: 'UGONE', name: 'gone', display_name: 'Dana', deleted: true, email: 'gone@example.com' });
  fake.addUser({ id: 'UROBOT', name: 'robot', display_name: 'Dana', is_bot: true });
  fake.addUser({ id: 'USLACKBOT', name: 'slackbot', display_name: 'Slackbot' });
  // Added last, so it is only found by following every cursor to the end.
  fake.addUser({ id: 'UZOE', name: 'zoe', display_name: '' });
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.clearCalls();
  now = 1_000_000;
  dir = new SlackDirectory(client, TTL, { pageSize: 2, now: () => now });
});

describe('SlackDirectory.findByName (users.list)', () => {
  it('matches the handle exactly, ignoring case, and follows next_cursor through short pages to the end', async () => {
    expect(await dir.findByName(TEAM_ID, 'ZOE')).toEqual([{ user: { externalId: 'UZOE', name: 'zoe', isBot: false, deleted: false }, by: 'handle' }]);
    const calls = fake.callsTo('users.list');
    // 9 users (the fake's own bot too), pages of 1 when 2 are asked for: one call per user.
    expect(calls).toHaveLength(9);
    expect(calls.every((c) => c.args.limit === 2 || c.args.limit === '2')).toBe(true);
    expect(calls[0]!.args.cursor).toBeUndefined();
    expect(calls.slice(1).every((c) => typeof c.args.cursor === 'string' && c.args.cursor !== '')).toBe(true);
  });

  it('matches display names, and reports every person they match', async () => {
    expect((await dir.findByName(TEAM_ID, 'dana')).map((m) => [m.user.externalId, m.by])).toEqual([['UDANA', 'display_name']]);
    expect((await dir.findByName(TEAM_ID, 'al')).map((m) => [m.user.externalId, m.by])).toEqual([
      ['UALEX', 'display_name'],
      ['UALAN', 'display_name'],
    ]);
    expect((await dir.findByName(TEAM_ID, 'alice')).map((m) => [m.user.externalId, m.by])).toEqual([['UALICE', 'handle']]);
  });

  it('never offers deactivated people, bots or Slackbot, and no partial matches', async () => {
    for (const name of ['gone', 'robot', 'muster', 'slackbot', 'ali', 'alic', '']) expect(await dir.findByName(TEAM_ID, name)).toEqual([]);
  });

  it('lists the workspace once per minute, shared by commands that arrive together', async () => {
    await Promise.all([dir.findByName(TEAM_ID, 'alice'), dir.findByName(TEAM_ID, 'al'), dir.findByName(TEAM_ID, 'dana')]);
    const once = listings();
    expect(once).toBe(9);
    now += TTL - 1;
    await dir.findByName(TEAM_ID, 'zoe');
    expect(listings()).toBe(once);
    now += 1;
    await dir.findByName(TEAM_ID, 'zoe');
    expect(listings()).toBe(2 * once);
  });

  it('a failed listing is not remembered: the next command lists again', async () => {
    fake.failNext('users.list', { error: 'internal_error' });
    await expect(dir.findByName(TEAM_ID, 'alice')).rejects.toMatchObject({ data: { error: 'internal_error' } });
    expect((await dir.findByName(TEAM_ID, 'alice')).map((m) => m.user.externalId)).toEqual(['UALICE']);
  });
});

describe('SlackDirectory.findByEmail (users.lookupByEmail)', () => {
  it('finds the account, answers null for users_not_found, and remembers both for a minute', async () => {
    expect(await dir.findByEmail(TEAM_ID, 'Alice@Example.com')).toEqual({ externalId: 'UALICE', name: 'alice', isBot: false, deleted: false });
    expect(await dir.findByEmail(TEAM_ID, 'nobody@example.com')).toBeNull();
    expect(fake.callsTo('users.lookupByEmail').map((c) => c.args.email)).toEqual(['Alice@Example.com', 'nobody@example.com']);
    await dir.findByEmail(TEAM_ID, 'alice@example.com');
    await dir.findByEmail(TEAM_ID, 'nobody@example.com');
    expect(fake.callsTo('users.lookupByEmail')).toHaveLength(2);
    now += TTL;
    await dir.findByEmail(TEAM_ID, 'alice@example.com');
    expect(fake.callsTo('users.lookupByEmail')).toHaveLength(3);
  });

  it('returns a deactivated account as such (the kernel refuses it), and passes other errors on', async () => {
    expect(await dir.findByEmail(TEAM_ID, 'gone@example.com')).toMatchObject({ externalId: 'UGONE', deleted: true });
    fake.failNext('users.lookupByEmail', { error: 'missing_scope' });
    await expect(dir.findByEmail(TEAM_ID, 'alice@example.com')).rejects.toMatchObject({ data: { error: 'missing_scope' } });
  });
});
