import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, LogLevel, WebClient, type Logger } from '@slack/web-api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BOT_USER_ID, FakeSlack, GENERAL_CHANNEL_ID, POST_MESSAGE_LIMITS, RATE_TIERS, RESPONSE_URL_TTL_MS, type FakeSlackOptions } from './fakeSlack.ts';
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

    await expect(client.chat.update({ channel: GENERAL_CHANNEL_ID, ts: '1.000000', text: 'x' })).rejects.toSatisfy((e) => slackError(e) === 'message_not_found');

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
      'token',
      'team_id',
      'team_domain',
      'channel_id',
      'channel_name',
      'user_id',
      'user_name',
      'command',
      'text',
      'api_app_id',
      'is_enterprise_install',
      'response_url',
      'trigger_id',
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

// ---------------------------------------------------------------------------
// Slack behaviours the delivery work is tested against (each checked against Slack's docs in fakeSlack.ts)
// ---------------------------------------------------------------------------

describe('Slack behaviours for exactly-once delivery', () => {
  let t = 1_700_000_000_000;
  const clock = (): number => t;
  const started: FakeSlack[] = [];

  async function slack(opts: FakeSlackOptions = {}): Promise<{ fk: FakeSlack; api: WebClient }> {
    const fk = await FakeSlack.start({ now: clock, ...opts });
    started.push(fk);
    fk.addUser({ id: 'U1', name: 'alice' });
    fk.addUser({ id: 'U2', name: 'bob' });
    const api = new WebClient('xoxb-test-token', { slackApiUrl: fk.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: quiet });
    return { fk, api };
  }

  afterEach(async () => {
    await Promise.all(started.splice(0).map((f) => f.close()));
  });

  const code = (e: unknown): unknown => (e as { code?: unknown }).code;

  describe('rate tiers', () => {
    it('is off unless asked for: 30 channels in a row are all created', async () => {
      const { fk, api } = await slack();
      for (let i = 0; i < 30; i++) await api.conversations.create({ name: `c-${i}` });
      expect(fk.summary().channelsCreated).toHaveLength(30);
      expect(fk.rateLimited()).toBe(0);
    });

    it('grants each tier exactly its burst, then 429 ratelimited with an integer Retry-After rounded up', async () => {
      const { fk, api } = await slack({ tiers: { scale: 0.1 } });
      // scale 0.1: Tier 2 = 2/min burst 2, Tier 3 = 5/min burst 5, Tier 4 = 10/min burst 10
      const cases: Array<[string, () => Promise<unknown>, number, number]> = [
        ['conversations.create', () => api.conversations.create({ name: `x-${Math.random().toString(36).slice(2, 8)}` }), RATE_TIERS[2].burst / 10, 30],
        ['conversations.history', () => api.conversations.history({ channel: GENERAL_CHANNEL_ID }), RATE_TIERS[3].burst / 10, 12],
        ['users.info', () => api.users.info({ user: 'U1' }), RATE_TIERS[4].burst / 10, 6],
      ];
      for (const [method, call, burst, retryAfter] of cases) {
        for (let i = 0; i < burst; i++) await call();
        const err = await call().catch((e: unknown) => e);
        expect(err, method).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter });
        const refused = fk.lastCall(method);
        expect(refused).toMatchObject({ status: 429, response: { ok: false, error: 'ratelimited' }, applied: false });
        expect(fk.rateLimited(method)).toBe(1);
      }
      expect(fk.rateLimited()).toBe(3);
      // refused calls took nothing: two creates happened, not three
      expect(fk.summary().channelsCreated).toHaveLength(2);
    });

    it('uses the published numbers: chat.update (Tier 3) 50 in a burst, the 51st waits 2 s; tokens come back with time', async () => {
      const { fk, api } = await slack({ tiers: true });
      const m = await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'v0' });
      for (let i = 1; i <= 50; i++) await api.chat.update({ channel: GENERAL_CHANNEL_ID, ts: m.ts as string, text: `v${i}` });
      await expect(api.chat.update({ channel: GENERAL_CHANNEL_ID, ts: m.ts as string, text: 'v51' })).rejects.toMatchObject({ retryAfter: 2 });
      expect(fk.message(GENERAL_CHANNEL_ID, m.ts as string)?.text).toBe('v50');
      t += 1200; // 50 a minute: one token every 1.2 s
      await api.chat.update({ channel: GENERAL_CHANNEL_ID, ts: m.ts as string, text: 'v51' });
      await expect(api.chat.update({ channel: GENERAL_CHANNEL_ID, ts: m.ts as string, text: 'v52' })).rejects.toMatchObject({ code: ErrorCode.RateLimitedError });
      expect(fk.rateLimited('chat.update')).toBe(2);
    });

    it('chat.postMessage: about 1 per second per channel with a configurable burst, plus a workspace-wide limit', async () => {
      const { fk, api } = await slack({ tiers: true });
      const other = fk.addChannel({ name: 'other' }).id;
      for (let i = 0; i < POST_MESSAGE_LIMITS.perChannel.burst; i++) await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: `m${i}` });
      await expect(api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'too fast' })).rejects.toMatchObject({ retryAfter: 1 });
      await api.chat.postMessage({ channel: other, text: 'another channel has its own bucket' });
      t += 1000;
      await api.chat.postMessage({ channel: '#general', text: 'a second later' });
      expect(fk.summary().messages).toEqual({ [GENERAL_CHANNEL_ID]: 3, [other]: 1 });

      fk.enforceTiers({ postMessage: { perChannel: { burst: 10 }, workspace: { perMinute: 3, burst: 3 } } });
      for (const ch of [GENERAL_CHANNEL_ID, other, GENERAL_CHANNEL_ID]) await api.chat.postMessage({ channel: ch, text: 'burst' });
      await expect(api.chat.postMessage({ channel: other, text: 'over the workspace limit' })).rejects.toMatchObject({ retryAfter: 20 });
      expect(fk.rateLimited('chat.postMessage')).toBe(2);
      fk.enforceTiers(false);
      for (let i = 0; i < 5; i++) await api.chat.postMessage({ channel: other, text: 'unlimited again' });
    });
  });

  describe('faults', () => {
    async function run(seed: number): Promise<{ statuses: number[]; fk: FakeSlack }> {
      const { fk, api } = await slack();
      fk.faults({ rate: 0.5, seed });
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: `n${i}` }).then(
          () => 200,
          (e: unknown) => (code(e) === ErrorCode.RateLimitedError ? 429 : ((e as { statusCode?: number }).statusCode ?? -1)),
        );
        statuses.push(res);
      }
      return { statuses, fk };
    }

    it('are reproducible from the seed, half 429 and half 500/503, and a refused call was not applied', async () => {
      const a = await run(7);
      const b = await run(7);
      const c = await run(8);
      expect(a.statuses).toEqual(b.statuses);
      expect(a.statuses).not.toEqual(c.statuses);
      const n429 = a.statuses.filter((s) => s === 429).length;
      const n5xx = a.statuses.filter((s) => s === 500 || s === 503).length;
      const ok = a.statuses.filter((s) => s === 200).length;
      expect(n429 + n5xx + ok).toBe(40);
      expect(n429).toBeGreaterThan(4);
      expect(n5xx).toBeGreaterThan(4);
      expect(a.fk.faultsInjected('chat.postMessage')).toBe(n429 + n5xx);
      expect(a.fk.faultsInjected('users.info')).toBe(0);
      expect(a.fk.messages(GENERAL_CHANNEL_ID)).toHaveLength(ok);
      const retryAfter = a.fk.calls.find((c) => c.status === 429);
      expect(retryAfter?.fault).toBe('429');
    });

    it('applyThenFail: the call is applied, then answered 5xx or the connection dropped, so the caller cannot know', async () => {
      const { fk, api } = await slack();
      fk.faults({ rate: 0, applyThenFail: 1, applyThenFailModes: ['5xx'], methods: ['conversations.create'] });
      const err = await api.conversations.create({ name: 'war-room' }).catch((e: unknown) => e);
      expect(code(err)).toBe(ErrorCode.HTTPError);
      expect(fk.channelByName('war-room')).toBeDefined();
      expect(fk.lastCall('conversations.create')).toMatchObject({ applied: true, appliedResponse: { ok: true } });

      fk.faults({ rate: 0, applyThenFail: 1, applyThenFailModes: ['drop'] });
      const dropped = await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'did it post?' }).catch((e: unknown) => e);
      expect(code(dropped)).toBe(ErrorCode.RequestError);
      expect(fk.messages(GENERAL_CHANNEL_ID).map((m) => m.text)).toEqual(['did it post?']);
      expect(fk.faultLog.map((f) => f.kind)).toEqual([expect.stringMatching(/^applied\+50[03]$/), 'applied+drop']);

      // the retry a naive client makes is a duplicate
      await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'did it post?' }).catch(() => undefined);
      fk.faults(null);
      expect(fk.summary().messages[GENERAL_CHANNEL_ID]).toBe(2);
    });

    it('reach a response_url only when it is listed', async () => {
      const { fk } = await slack();
      fk.faults({ rate: 1, kinds: ['5xx'] });
      const url = fk.responseUrl('r');
      const json = { 'content-type': 'application/json' };
      expect((await fetch(url, { method: 'POST', headers: json, body: '{"text":"a"}' })).status).toBe(200);
      fk.faults({ rate: 1, kinds: ['429'], methods: ['response_url'], retryAfterSec: 3 });
      const res = await fetch(url, { method: 'POST', headers: json, body: '{"text":"b"}' });
      expect([res.status, res.headers.get('retry-after')]).toEqual([429, '3']);
      expect(fk.responses.map((r) => r.body.text)).toEqual(['a']);
    });
  });

  describe('hold', () => {
    it('applies the call at once and withholds the answer until release()', async () => {
      const { fk, api } = await slack();
      const held = fk.hold('chat.postMessage', (args) => args.text === 'second');
      await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'first' });
      let answered = false;
      const pending = api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'second' }).then((r) => {
        answered = true;
        return r;
      });
      const call = await held.arrived;
      expect(call).toMatchObject({ method: 'chat.postMessage', delivery: 'held', applied: true });
      expect(fk.messages(GENERAL_CHANNEL_ID).map((m) => m.text)).toEqual(['first', 'second']);
      await new Promise((r) => setTimeout(r, 50));
      expect(answered).toBe(false);
      held.release();
      const res = await pending;
      expect(res.ts).toBe(fk.messages(GENERAL_CHANNEL_ID)[1]?.ts);
      expect(call.delivery).toBe('released');
    });

    it('drop(): the work is done but the caller sees a broken connection; release() after the caller died is harmless', async () => {
      const { fk, api } = await slack();
      const held = fk.hold('conversations.create');
      const pending = api.conversations.create({ name: 'inc-9' }).catch((e: unknown) => e);
      await held.arrived;
      held.drop();
      expect(code(await pending)).toBe(ErrorCode.RequestError);
      expect(fk.summary().channelsCreated).toEqual(['inc-9']);
      expect(fk.lastCall('conversations.create')?.delivery).toBe('dropped');

      // a process killed mid-call: its socket is gone when Slack answers
      const again = fk.hold('chat.postMessage');
      const abort = new AbortController();
      const killed = fetch(`${fk.url}chat.postMessage`, {
        method: 'POST',
        headers: { authorization: 'Bearer xoxb-test-token', 'content-type': 'application/json' },
        body: JSON.stringify({ channel: GENERAL_CHANNEL_ID, text: 'in flight' }),
        signal: abort.signal,
      }).catch((e: unknown) => e);
      await again.arrived;
      abort.abort();
      await killed;
      again.release();
      await api.auth.test();
      expect(fk.messages(GENERAL_CHANNEL_ID).map((m) => m.text)).toEqual(['in flight']);
    });

    it('holds a response_url post too: the ephemeral is shown while the poster waits', async () => {
      const { fk } = await slack();
      const url = fk.responseUrl('r1', { channel: GENERAL_CHANNEL_ID, user: 'U1' });
      const held = fk.hold('response_url', (body) => body.text === 'done');
      let status = 0;
      const pending = fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"done"}' }).then((r) => {
        status = r.status;
      });
      expect((await held.arrived).args).toMatchObject({ text: 'done', response_url_id: 'r1' });
      expect(fk.ephemerals('U1').map((e) => e.text)).toEqual(['done']);
      expect(status).toBe(0);
      held.release();
      await pending;
      expect(status).toBe(200);
    });

    it('release() before the call arrives answers it as soon as it does', async () => {
      const { fk, api } = await slack();
      const held = fk.hold('users.info');
      held.release();
      await expect(api.users.info({ user: 'U1' })).resolves.toMatchObject({ ok: true });
      expect((await held.arrived).delivery).toBe('released');
    });
  });

  describe('conversations.invite', () => {
    async function setup(): Promise<{ fk: FakeSlack; api: WebClient; ch: string }> {
      const s = await slack();
      s.fk.addUser({ id: 'UGONE', name: 'gone', deleted: true });
      s.fk.addUser({ id: 'USCG', name: 'scg', is_ultra_restricted: true });
      s.fk.addUser({ id: 'UMCG', name: 'mcg', is_restricted: true });
      s.fk.addUser({ id: 'UCAP', name: 'busy', max_channels: 2 }); // #general is one
      const ch = (await s.api.conversations.create({ name: 'inc-1' })).channel?.id as string;
      return { ...s, ch };
    }

    it('without force, one bad user fails the call, nobody is invited, and errors lists every failure', async () => {
      const { fk, api, ch } = await setup();
      fk.addChannel({ name: 'elsewhere', members: ['USCG', 'UCAP'] });
      const err = await api.conversations.invite({ channel: ch, users: 'U1,UGONE,USCG,UMCG,UCAP,UNOPE,UBOT' }).catch((e: unknown) => e);
      expect((err as { data?: unknown }).data).toMatchObject({
        ok: false,
        error: 'user_disabled',
        errors: [
          { user: 'UGONE', ok: false, error: 'user_disabled' },
          { user: 'USCG', ok: false, error: 'ura_max_channels' },
          { user: 'UMCG', ok: false, error: 'user_is_restricted' },
          { user: 'UCAP', ok: false, error: 'cant_invite' },
          { user: 'UNOPE', ok: false, error: 'user_not_found' },
          { user: 'UBOT', ok: false, error: 'cant_invite_self' },
        ],
      });
      expect(fk.channel(ch)?.members).toEqual([BOT_USER_ID]);
    });

    it('with force=true the valid users are invited and the failures are listed per user', async () => {
      const { fk, api, ch } = await setup();
      const res = await api.conversations.invite({ channel: ch, users: 'U1,UGONE,USCG,U2', force: true });
      expect(res).toMatchObject({ ok: true, channel: { id: ch }, errors: [{ user: 'UGONE', ok: false, error: 'user_disabled' }] });
      expect(fk.channel(ch)?.members).toEqual([BOT_USER_ID, 'U1', 'USCG', 'U2']);
      // now the single-channel guest is at its one channel, and U1 is a member
      const again = await api.conversations.invite({ channel: fk.addChannel({ name: 'two', members: [BOT_USER_ID] }).id, users: 'USCG' }).catch((e: unknown) => e);
      expect((again as { data?: { error?: string } }).data?.error).toBe('ura_max_channels');
      const mixed = await api.conversations.invite({ channel: ch, users: 'U1,UCAP' }).catch((e: unknown) => e);
      expect((mixed as { data?: unknown }).data).toEqual({
        ok: false,
        error: 'already_in_channel',
        errors: [{ user: 'U1', ok: false, error: 'already_in_channel' }],
        response_metadata: {},
      });
      expect(fk.channel(ch)?.members).not.toContain('UCAP');
      await expect(api.conversations.invite({ channel: ch, users: 'U1', force: true })).rejects.toSatisfy((e) => slackError(e) === 'already_in_channel');
    });

    it('guests go only where an admin allowed them; the caller must be a member, not a single-channel guest', async () => {
      const { fk, api, ch } = await setup();
      fk.addUser({ id: 'UMCG2', name: 'mcg2', is_restricted: true, guest_channels: [ch] });
      await api.conversations.invite({ channel: ch, users: 'UMCG2' });
      expect(fk.channel(ch)?.members).toContain('UMCG2');
      const notMine = fk.addChannel({ name: 'theirs', members: ['U1'] }).id;
      await expect(api.conversations.invite({ channel: notMine, users: 'U2' })).rejects.toSatisfy((e) => slackError(e) === 'not_in_channel');
      fk.addToken('xoxp-scg', 'USCG');
      await api.conversations.invite({ channel: ch, users: 'USCG' });
      const asGuest = new WebClient('xoxp-scg', { slackApiUrl: fk.url, retryConfig: { retries: 0 }, logger: quiet });
      await expect(asGuest.conversations.invite({ channel: ch, users: 'U2' })).rejects.toSatisfy((e) => slackError(e) === 'user_is_ultra_restricted');
    });

    it('takes at most 100 users per call', async () => {
      const { fk, api, ch } = await setup();
      const ids = Array.from({ length: 101 }, (_, i) => `UX${i}`);
      for (const id of ids) fk.addUser({ id, name: id.toLowerCase() });
      await expect(api.conversations.invite({ channel: ch, users: ids.join(',') })).rejects.toSatisfy((e) => slackError(e) === 'too_many_users');
      await api.conversations.invite({ channel: ch, users: ids.slice(0, 100).join(',') });
      expect(fk.channel(ch)?.members).toHaveLength(101);
    });
  });

  it('usergroups.users.list: no_such_subteam, and plan_upgrade_required on a Free workspace', async () => {
    const { fk, api } = await slack();
    fk.addUsergroup('S1', 'oncall', ['U1']);
    expect((await api.usergroups.users.list({ usergroup: 'S1' })).users).toEqual(['U1']);
    await expect(api.usergroups.users.list({ usergroup: 'S404' })).rejects.toSatisfy((e) => slackError(e) === 'no_such_subteam');
    fk.setPlan('free');
    await expect(api.usergroups.users.list({ usergroup: 'S1' })).rejects.toSatisfy((e) => slackError(e) === 'plan_upgrade_required');
    await expect(api.usergroups.list({})).rejects.toSatisfy((e) => slackError(e) === 'plan_upgrade_required');
    fk.reset();
    expect((await api.usergroups.users.list({ usergroup: 'S1' })).users).toEqual(['U1']);
  });

  it('an archived channel refuses posts, edits, pins, bookmarks, invites, topics, reactions and renames; archiving twice fails', async () => {
    const { fk, api } = await slack();
    const ch = (await api.conversations.create({ name: 'old' })).channel?.id as string;
    const m = await api.chat.postMessage({ channel: ch, text: 'before' });
    await api.conversations.archive({ channel: ch });
    const attempts: Array<[string, Promise<unknown>]> = [
      ['chat.postMessage', api.chat.postMessage({ channel: ch, text: 'after' })],
      ['chat.update', api.chat.update({ channel: ch, ts: m.ts as string, text: 'edited' })],
      ['pins.add', api.pins.add({ channel: ch, timestamp: m.ts as string })],
      ['bookmarks.add', api.bookmarks.add({ channel_id: ch, title: 'x', type: 'link', link: 'https://x.example' })],
      ['conversations.invite', api.conversations.invite({ channel: ch, users: 'U1' })],
      ['conversations.setTopic', api.conversations.setTopic({ channel: ch, topic: 't' })],
      ['reactions.add', api.reactions.add({ channel: ch, timestamp: m.ts as string, name: 'eyes' })],
      ['conversations.rename', api.conversations.rename({ channel: ch, name: 'older' })],
    ];
    for (const [method, p] of attempts)
      expect(
        await p.then(
          () => 'ok',
          (e: unknown) => slackError(e),
        ),
        method,
      ).toBe('is_archived');
    await expect(api.conversations.archive({ channel: ch })).rejects.toSatisfy((e) => slackError(e) === 'already_archived');
    expect(fk.summary()).toMatchObject({ messages: { [ch]: 1 }, pins: {}, bookmarks: {} });
    expect(fk.message(ch, m.ts as string)?.text).toBe('before');
  });

  describe('message metadata and history', () => {
    it('metadata is stored from postMessage/update and read back only with include_all_metadata', async () => {
      const { api } = await slack();
      const metadata = { event_type: 'muster_effect', event_payload: { key: 'inc-1:summary' } };
      const m = await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'summary', metadata });
      const plainHistory = await api.conversations.history({ channel: GENERAL_CHANNEL_ID });
      expect(plainHistory.messages?.[0]).not.toHaveProperty('metadata');
      const withMeta = await api.conversations.history({ channel: GENERAL_CHANNEL_ID, include_all_metadata: true });
      expect(withMeta.messages?.[0]?.metadata).toEqual(metadata);
      const replies = await api.conversations.replies({ channel: GENERAL_CHANNEL_ID, ts: m.ts as string });
      expect(replies.messages?.[0]).not.toHaveProperty('metadata');
      await api.chat.update({ channel: GENERAL_CHANNEL_ID, ts: m.ts as string, text: 'summary v2', metadata: { event_type: 'muster_effect', event_payload: { key: 'v2' } } });
      const again = await api.conversations.replies({ channel: GENERAL_CHANNEL_ID, ts: m.ts as string, include_all_metadata: true });
      expect(again.messages?.[0]?.metadata).toEqual({ event_type: 'muster_effect', event_payload: { key: 'v2' } });

      const bad = (metadataArg: unknown): Promise<unknown> =>
        api.apiCall('chat.postMessage', { channel: GENERAL_CHANNEL_ID, text: 'x', metadata: metadataArg }).then(
          () => 'ok',
          (e: unknown) => slackError(e),
        );
      expect(await bad('not json')).toBe('invalid_metadata_format');
      expect(await bad({ event_type: 'x' })).toBe('invalid_metadata_schema');
    });

    it('history: parents only, newest first, latest/oldest/inclusive, limit and cursor; replies found from the parent', async () => {
      const { fk, api } = await slack({ tsBase: 1_700_000_000 });
      const ts: string[] = [];
      for (let i = 0; i < 5; i++) ts.push((await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: `p${i}` })).ts as string);
      const reply = await api.chat.postMessage({ channel: GENERAL_CHANNEL_ID, text: 'in thread', thread_ts: ts[1] });
      const all = await api.conversations.history({ channel: GENERAL_CHANNEL_ID });
      expect(all.messages?.map((m) => m.text)).toEqual(['p4', 'p3', 'p2', 'p1', 'p0']);
      const page1 = await api.conversations.history({ channel: GENERAL_CHANNEL_ID, limit: 2 });
      expect([page1.messages?.map((m) => m.text), page1.has_more]).toEqual([['p4', 'p3'], true]);
      const page2 = await api.conversations.history({ channel: GENERAL_CHANNEL_ID, limit: 2, cursor: page1.response_metadata?.next_cursor });
      expect(page2.messages?.map((m) => m.text)).toEqual(['p2', 'p1']);
      const window = await api.conversations.history({ channel: GENERAL_CHANNEL_ID, oldest: ts[1], latest: ts[3] });
      expect(window.messages?.map((m) => m.text)).toEqual(['p2']);
      const inclusive = await api.conversations.history({ channel: GENERAL_CHANNEL_ID, oldest: ts[1], latest: ts[3], inclusive: true });
      expect(inclusive.messages?.map((m) => m.text)).toEqual(['p3', 'p2', 'p1']);
      const thread = await api.conversations.replies({ channel: GENERAL_CHANNEL_ID, ts: ts[1] as string });
      expect(thread.messages?.map((m) => m.text)).toEqual(['p1', 'in thread']);
      const fromReply = await api.conversations.replies({ channel: GENERAL_CHANNEL_ID, ts: reply.ts as string });
      expect(fromReply.messages?.map((m) => m.ts)).toEqual([ts[1], reply.ts]);
      expect(fk.messages(GENERAL_CHANNEL_ID)).toHaveLength(6);
    });
  });

  describe('response_url', () => {
    const post = (url: string, text: string): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });

    it('works 5 times; the 6th is refused with 404 expired_url and has no effect', async () => {
      const { fk } = await slack();
      const url = fk.responseUrl('five', { channel: GENERAL_CHANNEL_ID, user: 'U1' });
      for (let i = 1; i <= 5; i++) expect((await post(url, `r${i}`)).status).toBe(200);
      const sixth = await post(url, 'r6');
      expect(sixth.status).toBe(404);
      expect(await sixth.json()).toEqual({ ok: false, error: 'expired_url' });
      expect(fk.ephemerals('U1').map((e) => e.text)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
      expect(fk.responsesTo('five')).toHaveLength(5);
      expect(fk.expiredResponses.map((r) => r.body.text)).toEqual(['r6']);
    });

    it('expires 30 minutes after it was issued (ageResponseUrl or the injected clock)', async () => {
      const { fk } = await slack();
      const aged = fk.responseUrl('aged');
      fk.ageResponseUrl('aged', RESPONSE_URL_TTL_MS - 1000);
      expect((await post(aged, 'still in time')).status).toBe(200);
      fk.ageResponseUrl('aged', 2000);
      expect((await post(aged, 'too late')).status).toBe(404);
      const clocked = fk.responseUrl('clocked');
      t += RESPONSE_URL_TTL_MS + 1;
      expect((await post(clocked, 'too late')).status).toBe(404);
      expect(fk.responses.map((r) => r.body.text)).toEqual(['still in time']);
    });
  });

  it('lookups that adopt earlier attempts: conversations.list/info with creator, bookmarks.list, files.list', async () => {
    const { fk, api } = await slack();
    const pub = (await api.conversations.create({ name: 'inc-2' })).channel?.id as string;
    const priv = (await api.conversations.create({ name: 'inc-2-private', is_private: true })).channel?.id as string;
    const gone = (await api.conversations.create({ name: 'inc-1-old' })).channel?.id as string;
    await api.conversations.archive({ channel: gone });
    fk.addChannel({ name: 'hidden', is_private: true, members: ['U1'], creator: 'U1' });
    const seen: Array<{ name?: string; creator?: string }> = [];
    let cursor: string | undefined;
    do {
      const page = await api.conversations.list({ types: 'public_channel,private_channel', exclude_archived: true, limit: 2, cursor });
      seen.push(...(page.channels ?? []).map((c) => ({ name: c.name, creator: c.creator })));
      cursor = page.response_metadata?.next_cursor || undefined;
    } while (cursor);
    expect(seen).toEqual([
      { name: 'general', creator: BOT_USER_ID },
      { name: 'inc-2', creator: BOT_USER_ID },
      { name: 'inc-2-private', creator: BOT_USER_ID },
    ]);
    expect((await api.conversations.info({ channel: priv })).channel).toMatchObject({ name: 'inc-2-private', creator: BOT_USER_ID });

    await api.bookmarks.add({ channel_id: pub, title: 'Runbook', type: 'link', link: 'https://runbooks.example/db' });
    expect((await api.bookmarks.list({ channel_id: pub })).bookmarks?.map((b) => [b.title, b.link])).toEqual([['Runbook', 'https://runbooks.example/db']]);

    await api.files.uploadV2({ channel_id: pub, content: 'timeline', filename: 'timeline.txt', title: 'Timeline' });
    await api.files.getUploadURLExternal({ filename: 'never-finished.txt', length: 3 });
    const listed = await api.files.list({ channel: pub, user: BOT_USER_ID, ts_from: String(Math.floor(Date.now() / 1000) - 60) });
    expect(listed.files?.map((f) => ({ name: f.name, title: f.title, user: f.user }))).toEqual([{ name: 'timeline.txt', title: 'Timeline', user: BOT_USER_ID }]);
    expect(listed.files?.[0]?.created).toBeGreaterThan(0);
    expect(listed.paging).toMatchObject({ total: 1, page: 1 });
    // an upload never completed is not a file yet
    expect((await api.files.list({ user: BOT_USER_ID })).files?.map((f) => f.name)).toEqual(['timeline.txt']);
    expect((await api.files.list({ channel: priv })).files).toEqual([]);
    expect((await api.files.list({ ts_from: String(Math.floor(Date.now() / 1000) + 3600) })).files).toEqual([]);
  });

  it('summary() counts visible effects: channels created, messages (not deleted), pins, bookmarks, files', async () => {
    const { fk, api } = await slack();
    fk.addChannel({ name: 'seeded' });
    const ch = (await api.conversations.create({ name: 'inc-3' })).channel?.id as string;
    const a = await api.chat.postMessage({ channel: ch, text: 'a' });
    const b = await api.chat.postMessage({ channel: ch, text: 'b' });
    await api.chat.postMessage({ channel: ch, text: 'reply', thread_ts: a.ts });
    await api.chat.delete({ channel: ch, ts: b.ts as string });
    await api.pins.add({ channel: ch, timestamp: a.ts as string });
    await api.bookmarks.add({ channel_id: ch, title: 'Doc', type: 'link', link: 'https://doc.example' });
    await api.files.uploadV2({ channel_id: ch, content: 'x', filename: 'x.txt' });
    await api.conversations.rename({ channel: ch, name: 'inc-3-renamed' });
    expect(fk.summary()).toEqual({
      channelsCreated: ['inc-3-renamed'],
      messages: { [ch]: 3 },
      pins: { [ch]: 1 },
      bookmarks: { [ch]: 1 },
      files: { [ch]: 1 },
      responses: 0,
      ephemerals: 0,
    });
  });
});
