import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, LogLevel, WebClient, type Logger } from '@slack/web-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BOT_USER_ID, FakeSlack, GENERAL_CHANNEL_ID } from './fakeSlack.ts';
import { blockAction, eventCallback, post, sign, slashCommand, stateValue, urlVerification, viewSubmission } from './slackRequests.ts';

let fake: FakeSlack;
let client: WebClient;

/** WebClient logs every platform error at ERROR level; keep the test output clean */
const quiet: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

beforeAll(async () => {
  fake = await FakeSlack.start();
  client = new WebClient('xoxb-test-token', { slackApiUrl: fake.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: quiet });
});

afterAll(async () => {
  await fake.close();
});

// reset() keeps users, so seeding once is enough
afterEach(() => fake.reset());

function seedUsers(): void {
  fake.addUser({ id: 'U1', name: 'alice', real_name: 'Alice A', tz: 'Europe/Paris', email: 'alice@example.com' });
  fake.addUser({ id: 'U2', name: 'bob' });
}

function slackError(e: unknown): string | undefined {
  return (e as { data?: { error?: string } }).data?.error;
}

describe('FakeSlack via the real WebClient', () => {
  beforeAll(seedUsers);

  it('answers auth.test and records the bearer token', async () => {
    const res = await client.auth.test();
    expect(res).toMatchObject({ ok: true, user_id: 'UBOT', bot_id: 'BBOT', team_id: 'T0001' });
    expect(fake.lastCall('auth.test')?.token).toBe('xoxb-test-token');
  });

  it('round-trips chat.postMessage and chat.update, with strictly increasing ts', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*hello*' } }];
    const a = await client.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'hello', blocks });
    const b = await client.chat.postMessage({ channel: '#general', text: 'second', thread_ts: a.ts });
    expect(a.ok).toBe(true);
    expect(a.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(b.ts)).toBeGreaterThan(Number(a.ts));
    expect(fake.lastCall('chat.postMessage')?.args.thread_ts).toBe(a.ts);
    expect(fake.callsTo('chat.postMessage')[0]?.args.blocks).toEqual(blocks);

    const up = await client.chat.update({ channel: GENERAL_CHANNEL_ID, ts: a.ts as string, text: 'edited', blocks: [] });
    expect(up.ok).toBe(true);
    const msgs = fake.messages(GENERAL_CHANNEL_ID);
    expect(msgs.map((m) => m.text)).toEqual(['edited', 'second']);
    expect(msgs[0]?.blocks).toBeUndefined();
    expect(msgs[0]?.edited?.user).toBe(BOT_USER_ID);
    expect(msgs[0]?.reply_count).toBe(1);

    await expect(client.chat.update({ channel: GENERAL_CHANNEL_ID, ts: '1.000000', text: 'x' })).rejects.toSatisfy(
      (e) => slackError(e) === 'message_not_found',
    );

    // a user id goes to the user's IM, stable per user
    const dm = await client.chat.postMessage({ channel: 'U1', text: 'psst' });
    const open = await client.conversations.open({ users: 'U1' });
    expect(dm.channel).toMatch(/^D/);
    expect(open.channel?.id).toBe(dm.channel);
    expect(fake.dms('U1').map((m) => m.text)).toEqual(['psst']);

    const eph = await client.chat.postEphemeral({ channel: GENERAL_CHANNEL_ID, user: 'U1', text: 'only you' });
    expect(eph.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(fake.ephemerals('U1')).toMatchObject([{ channel: GENERAL_CHANNEL_ID, text: 'only you' }]);
  });

  it('creates channels with Slack name rules, name_taken, invites and pins', async () => {
    const created = await client.conversations.create({ name: 'inc-1-db-down', is_private: true });
    const id = created.channel?.id as string;
    expect(created.channel).toMatchObject({ name: 'inc-1-db-down', is_private: true, is_member: true });
    expect(fake.channelByName('inc-1-db-down')?.members).toEqual([BOT_USER_ID]);

    await expect(client.conversations.create({ name: 'inc-1-db-down' })).rejects.toSatisfy((e) => slackError(e) === 'name_taken');
    await expect(client.conversations.create({ name: 'Bad Name' })).rejects.toSatisfy((e) => slackError(e) === 'invalid_name_specials');
    await expect(client.conversations.create({ name: 'x'.repeat(81) })).rejects.toSatisfy((e) => slackError(e) === 'invalid_name_maxlength');

    await expect(client.conversations.invite({ channel: id, users: 'U1,UNOPE' })).rejects.toSatisfy((e) => slackError(e) === 'user_not_found');
    await client.conversations.invite({ channel: id, users: 'U1,U2' });
    expect(fake.channel(id)?.members).toEqual([BOT_USER_ID, 'U1', 'U2']);
    await expect(client.conversations.invite({ channel: id, users: 'U1' })).rejects.toSatisfy((e) => slackError(e) === 'already_in_channel');

    await client.conversations.setTopic({ channel: id, topic: 'SEV1 | IC: @alice' });
    expect(fake.channel(id)?.topic.value).toBe('SEV1 | IC: @alice');

    const m = await client.chat.postMessage({ channel: id, text: 'summary' });
    await client.pins.add({ channel: id, timestamp: m.ts as string });
    await expect(client.pins.add({ channel: id, timestamp: m.ts as string })).rejects.toSatisfy((e) => slackError(e) === 'already_pinned');
    expect(fake.pins(id).map((p) => p.ts)).toEqual([m.ts]);

    await client.bookmarks.add({ channel_id: id, title: 'Runbook', type: 'link', link: 'https://runbooks.example/db' });
    expect(fake.bookmarks(id)).toMatchObject([{ title: 'Runbook', link: 'https://runbooks.example/db' }]);

    await client.conversations.archive({ channel: id });
    await expect(client.conversations.invite({ channel: id, users: 'U2' })).rejects.toSatisfy((e) => slackError(e) === 'is_archived');

    await expect(client.users.info({ user: 'UNOPE' })).rejects.toSatisfy((e) => slackError(e) === 'user_not_found');
    expect((await client.users.info({ user: 'U1' })).user).toMatchObject({ name: 'alice', tz: 'Europe/Paris' });
  });

  it('answers unknown methods with unknown_method and missing tokens with not_authed', async () => {
    await expect(client.apiCall('nope.nothing')).rejects.toSatisfy((e) => slackError(e) === 'unknown_method');
    const anon = new WebClient(undefined, { slackApiUrl: fake.url, retryConfig: { retries: 0 }, logger: quiet });
    await expect(anon.auth.test()).rejects.toSatisfy((e) => slackError(e) === 'not_authed');
  });

  it('injects HTTP 429 with Retry-After as a rate-limit error', async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfterSec: 7 });
    const err = await client.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 7 });
    // consumed: the next call succeeds
    await expect(client.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'y' })).resolves.toMatchObject({ ok: true });
    expect(fake.callsTo('chat.postMessage').map((c) => c.status)).toEqual([429, 200]);
  });

  it('injects HTTP 500 and {ok:false} errors', async () => {
    fake.failNext('conversations.create', { status: 500, times: 2 });
    for (let i = 0; i < 2; i++) {
      const err = await client.conversations.create({ name: 'boom' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCode.HTTPError, statusCode: 500 });
    }
    expect(fake.channelByName('boom')).toBeUndefined();
    fake.failNext('*', { error: 'invalid_auth' });
    await expect(client.auth.test()).rejects.toSatisfy((e) => slackError(e) === 'invalid_auth');
    await expect(client.conversations.create({ name: 'boom' })).resolves.toMatchObject({ ok: true });
  });

  it('injects latency (global and per method)', async () => {
    fake.setLatency(80, 'users.list');
    const t0 = Date.now();
    await client.users.list({});
    const slow = Date.now() - t0;
    const t1 = Date.now();
    await client.auth.test();
    const fast = Date.now() - t1;
    expect(slow).toBeGreaterThanOrEqual(75);
    expect(fast).toBeLessThan(75);
  });

  it('records response_url posts and applies them when bound to a context', async () => {
    const posted = await client.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'Approve?' });
    const url = fake.responseUrl('r1', { channel: GENERAL_CHANNEL_ID, user: 'U1', messageTs: posted.ts as string });
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ replace_original: true, text: 'Approved by <@U1>' }),
    });
    expect(r.status).toBe(200);
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'just you' }) });
    expect(fake.responses.map((x) => x.id)).toEqual(['r1', 'r1']);
    expect(fake.responses[0]?.body).toMatchObject({ replace_original: true, text: 'Approved by <@U1>' });
    expect(fake.message(GENERAL_CHANNEL_ID, posted.ts as string)?.text).toBe('Approved by <@U1>');
    expect(fake.ephemerals('U1')).toMatchObject([{ text: 'just you', via: 'response_url' }]);

    fake.failNext('response_url', { status: 404, error: 'expired_url' });
    expect((await fetch(fake.responseUrl(), { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('opens, updates and publishes views; validates trigger_id and limits', async () => {
    const view = {
      type: 'modal' as const,
      callback_id: 'incident_declare',
      private_metadata: '{"c":"C1"}',
      title: { type: 'plain_text' as const, text: 'Declare incident' },
      submit: { type: 'plain_text' as const, text: 'Declare' },
      blocks: [{ type: 'input', block_id: 'title', label: { type: 'plain_text', text: 'Title' }, element: { type: 'plain_text_input', action_id: 'v' } }],
    };
    const trig = fake.trigger('U1');
    const opened = await client.views.open({ trigger_id: trig, view });
    expect(opened.view?.id).toMatch(/^V/);
    expect(fake.modals('U1')).toMatchObject([{ callback_id: 'incident_declare', private_metadata: '{"c":"C1"}' }]);

    await client.views.update({ view_id: opened.view?.id as string, hash: opened.view?.hash as string, view: { ...view, callback_id: 'step2' } });
    expect(fake.view(opened.view?.id as string)).toMatchObject({ callback_id: 'step2', updates: 1 });
    await expect(client.views.update({ view_id: opened.view?.id as string, hash: 'stale', view })).rejects.toSatisfy((e) => slackError(e) === 'hash_conflict');

    await expect(client.apiCall('views.open', { view })).rejects.toSatisfy((e) => slackError(e) === 'invalid_arguments');
    const old = fake.trigger('U1');
    fake.expireTrigger(old);
    await expect(client.views.open({ trigger_id: old, view })).rejects.toSatisfy((e) => slackError(e) === 'expired_trigger_id');
    const tooMany = { ...view, blocks: Array.from({ length: 101 }, () => ({ type: 'divider' })) };
    await expect(client.views.open({ trigger_id: fake.trigger(), view: tooMany })).rejects.toSatisfy((e) => slackError(e) === 'invalid_arguments');

    await client.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'v1' } }] } });
    await client.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'v2' } }] } });
    expect(fake.homeViews('U1')).toHaveLength(2);
    expect(JSON.stringify(fake.homeView('U1')?.blocks)).toContain('v2');
  });

  it('rejects over-long section text as invalid_blocks', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }];
    const err = await client.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 't', blocks }).catch((e: unknown) => e);
    expect(slackError(err)).toBe('invalid_blocks');
  });

  it('supports files.uploadV2 (getUploadURLExternal → upload → completeUploadExternal)', async () => {
    const res = await client.files.uploadV2({ channel_id: GENERAL_CHANNEL_ID, content: 'timeline\n10:00 paged', filename: 'timeline.txt', initial_comment: 'Timeline' });
    expect(res.ok).toBe(true);
    const files = fake.filesIn(GENERAL_CHANNEL_ID);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ name: 'timeline.txt', text: 'timeline\n10:00 paged', state: 'complete', filetype: 'text' });
    expect(fake.files).toHaveLength(1);
    const share = fake.messages(GENERAL_CHANNEL_ID).at(-1);
    expect(share).toMatchObject({ subtype: 'file_share', text: 'Timeline' });
    expect(fake.callsTo('files.getUploadURLExternal')[0]?.args).toMatchObject({ filename: 'timeline.txt', length: '20' });

    // legacy files.upload with content
    await client.apiCall('files.upload', { channels: GENERAL_CHANNEL_ID, content: 'a,b\n1,2', filename: 'x.csv' });
    expect(fake.filesIn(GENERAL_CHANNEL_ID).map((f) => f.text)).toEqual(['timeline\n10:00 paged', 'a,b\n1,2']);
  });

  it('waitFor resolves with the value and rejects listing recent calls', async () => {
    setTimeout(() => void client.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'later' }), 20);
    const msg = await fake.waitFor((f) => f.messages(GENERAL_CHANNEL_ID).find((m) => m.text === 'later'));
    expect(msg.text).toBe('later');
    await expect(fake.waitFor(() => false, 30)).rejects.toThrow(/timed out after 30 ms[\s\S]*chat\.postMessage/);
  });

  it('usergroups and lookups', async () => {
    fake.addUsergroup('S1', 'oncall', ['U1', 'U2']);
    expect((await client.usergroups.users.list({ usergroup: 'S1' })).users).toEqual(['U1', 'U2']);
    await expect(client.usergroups.users.list({ usergroup: 'S9' })).rejects.toSatisfy((e) => slackError(e) === 'no_such_subteam');
    expect((await client.users.lookupByEmail({ email: 'alice@example.com' })).user?.id).toBe('U1');
  });
});

describe('slackRequests', () => {
  it('signs with v0 HMAC-SHA256 over "v0:ts:body"', () => {
    const req = slashCommand({ command: '/muster', text: 'help', userId: 'U1', responseUrl: 'http://127.0.0.1:1/response/x' });
    const h = sign('s3cret', req.body, 1_700_000_000);
    const expected = `v0=${createHmac('sha256', 's3cret').update(`v0:1700000000:${req.body}`).digest('hex')}`;
    expect(h['x-slack-signature']).toBe(expected);
    expect(h['x-slack-request-timestamp']).toBe('1700000000');
    expect(h['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.contentType).toBe('application/x-www-form-urlencoded');
    const params = new URLSearchParams(req.body);
    expect([...params.keys()]).toEqual([
      'token', 'team_id', 'team_domain', 'channel_id', 'channel_name', 'user_id', 'user_name',
      'command', 'text', 'api_app_id', 'is_enterprise_install', 'response_url', 'trigger_id',
    ]);
    expect(params.get('channel_id')).toBe('C0GENERAL');
    expect(sign('s', urlVerification('c').body)['content-type']).toBe('application/json');
  });

  it('builds interactive payloads and posts them with retry headers', async () => {
    const action = blockAction({ actionId: 'approve', value: 'APR-1', userId: 'U1', channelId: 'C1', messageTs: '1700000000.000100', responseUrl: 'http://r' });
    const payload = JSON.parse(new URLSearchParams(action.body).get('payload') ?? '{}') as Record<string, unknown>;
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: 'U1', team_id: 'T0001' },
      container: { type: 'message', channel_id: 'C1', message_ts: '1700000000.000100' },
      actions: [{ action_id: 'approve', value: 'APR-1', type: 'button' }],
      response_url: 'http://r',
    });
    const sub = viewSubmission({ callbackId: 'cb', privateMetadata: 'pm', values: { b: { a: stateValue.plainText('hi') } }, userId: 'U1' });
    const subPayload = JSON.parse(new URLSearchParams(sub.body).get('payload') ?? '{}') as Record<string, unknown>;
    expect(subPayload).toMatchObject({ type: 'view_submission', view: { callback_id: 'cb', private_metadata: 'pm', type: 'modal', state: { values: { b: { a: { value: 'hi' } } } } } });
    const ev = JSON.parse(eventCallback({ event: { type: 'app_mention', text: 'hi' }, eventId: 'Ev1' }).body) as Record<string, unknown>;
    expect(ev).toMatchObject({ type: 'event_callback', event_id: 'Ev1', team_id: 'T0001', event: { type: 'app_mention' } });

    // a tiny receiver that checks what post() sends
    const seen: Array<{ url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ ...(req.url !== undefined ? { url: req.url } : {}), headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await post(base, action, { secret: 'sec', retryNum: 1, retryReason: 'http_timeout' });
      expect(res).toMatchObject({ status: 200, json: { ok: true } });
      const got = seen[0];
      expect(got?.url).toBe('/slack/events');
      expect(got?.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(got?.headers['x-slack-retry-num']).toBe('1');
      expect(got?.headers['x-slack-retry-reason']).toBe('http_timeout');
      const ts = String(got?.headers['x-slack-request-timestamp']);
      expect(got?.headers['x-slack-signature']).toBe(`v0=${createHmac('sha256', 'sec').update(`v0:${ts}:${action.body}`).digest('hex')}`);
      await post(base, action, { secret: 'sec', badSignature: true });
      expect(seen[1]?.headers['x-slack-signature']).not.toBe(got?.headers['x-slack-signature']);
    } finally {
      server.close();
    }
  });
});

describe('users.list and users.lookupByEmail, as Slack documents them', () => {
  let people: FakeSlack;
  let api: WebClient;
  beforeAll(async () => {
    people = await FakeSlack.start();
    api = new WebClient('xoxb-test-token', { slackApiUrl: people.url, retryConfig: { retries: 0 }, logger: quiet });
    people.addUser({ id: 'U1', name: 'alice', display_name: 'Al', email: 'Alice@Example.com' });
    people.addUser({ id: 'U2', name: 'bob', deleted: true });
    people.addUser({ id: 'U3', name: 'robot', is_bot: true });
  });
  afterAll(async () => people.close());

  it('users.list pages with limit and cursor until next_cursor is empty, deactivated members and bots included', async () => {
    const first = await api.users.list({ limit: 2 });
    expect(first.members?.map((m) => m.id)).toEqual([BOT_USER_ID, 'U1']);
    expect(first.members?.[1]?.profile?.display_name).toBe('Al');
    const cursor = first.response_metadata?.next_cursor;
    expect(cursor).toBeTruthy();
    const second = await api.users.list({ limit: 2, cursor });
    expect(second.members?.map((m) => [m.id, m.deleted, m.is_bot])).toEqual([
      ['U2', true, false],
      ['U3', false, true],
    ]);
    expect(second.response_metadata?.next_cursor).toBe('');
    expect((await api.users.list({})).members).toHaveLength(4);
    await expect(api.users.list({ cursor: 'not-a-cursor' })).rejects.toSatisfy((e) => slackError(e) === 'invalid_cursor');
  });

  it('with shortPages, users.list returns fewer than limit while more remain, and the cursors still reach everyone', async () => {
    const short = await FakeSlack.start({ shortPages: true });
    try {
      for (const id of ['U1', 'U2', 'U3', 'U4']) short.addUser({ id, name: id.toLowerCase() });
      const client = new WebClient('xoxb-test-token', { slackApiUrl: short.url, retryConfig: { retries: 0 }, logger: quiet });
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.users.list({ limit: 4, ...(cursor ? { cursor } : {}) });
        expect(page.members!.length).toBeLessThan(4);
        ids.push(...page.members!.map((m) => m.id!));
        cursor = page.response_metadata?.next_cursor || undefined;
      } while (cursor);
      expect(ids).toEqual([BOT_USER_ID, 'U1', 'U2', 'U3', 'U4']);
    } finally {
      await short.close();
    }
  });

  it('users.lookupByEmail finds an address whatever its case, and fails users_not_found otherwise', async () => {
    expect((await api.users.lookupByEmail({ email: 'alice@example.COM' })).user?.id).toBe('U1');
    await expect(api.users.lookupByEmail({ email: 'nobody@example.com' })).rejects.toSatisfy((e) => slackError(e) === 'users_not_found');
  });
});
