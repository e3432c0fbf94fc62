import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebClient } from '@slack/web-api';
import { createWebClient } from '../../../src/platforms/slack/webClient.ts';
import { slackFetch } from '../../../src/platforms/slack/http.ts';
import { startScriptedServer, type SeenRequest } from '../../support/scriptedServer.ts';

/**
 * createWebClient's client makes text calls itself (without WebClient's per-call debug lines and queues): what it
 * sends and what it answers, results and errors, must be what @slack/web-api's own WebClient sends and answers for
 * the same call. Both are asked here against one scripted server and compared.
 */
let server: Awaited<ReturnType<typeof startScriptedServer>>;
let base: string;
let seen: SeenRequest[];
beforeAll(async () => {
  server = await startScriptedServer((req, res) => {
    const method = req.url!.split('/').pop()!;
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (method === 'chat.update')
      return json(200, { ok: true, channel: 'C1', ts: '1.2', message: { text: 'hi' } }, { 'x-oauth-scopes': 'chat:write, pins:write', 'x-accepted-oauth-scopes': 'chat:write' });
    if (method === 'chat.postMessage') return json(200, { ok: false, error: 'channel_not_found' });
    if (method === 'pins.add') return json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '7' });
    if (method === 'bookmarks.add') return json(429, { ok: false, error: 'ratelimited' });
    if (method === 'conversations.create') return json(503, { ok: false, error: 'service_unavailable' });
    if (method === 'conversations.setTopic') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<html>not json</html>');
    }
    return json(200, { ok: true, warning: 'superfluous_charset', response_metadata: { warnings: ['superfluous_charset'] } }, { 'retry-after': '2' });
  });
  base = `${server.url}/api/`;
  seen = server.seen;
});
afterAll(() => server.close());

function sortedForm(body: string): string {
  const p = new URLSearchParams(body);
  p.sort();
  return p.toString();
}

const ours = () => createWebClient('xoxb-ours', base);
const theirs = () => new WebClient('xoxb-ours', { slackApiUrl: base, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 10_000, fetch: slackFetch });

/** A call's outcome, comparable: the result, or the error's class, code, message and data. */
async function outcome(call: () => Promise<unknown>) {
  try {
    return { result: await call() };
  } catch (e) {
    const err = e as Error & { code?: string; data?: unknown; statusCode?: number; body?: unknown; retryAfter?: number };
    return { error: { name: err.name, code: err.code, message: err.message, data: err.data, statusCode: err.statusCode, body: err.body, retryAfter: err.retryAfter } };
  }
}

const args = {
  channel: 'C1',
  ts: '1.2',
  text: 'héllo & <world>',
  blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*bold* ✓' } }],
  unfurl_links: false,
  thread_ts: undefined,
  metadata: { event_type: 'muster_effect', event_payload: { id: 7 } },
};

describe('createWebClient', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['chat.update', args],
    ['chat.postMessage', args],
    ['pins.add', { channel: 'C1', timestamp: '1.2' }],
    ['bookmarks.add', { channel_id: 'C1', title: 't', type: 'link', link: 'https://x' }],
    ['conversations.create', { name: 'inc-1', is_private: false }],
    ['conversations.setTopic', { channel: 'C1', topic: 'x' }],
    ['conversations.info', { channel: 'C1', token: 'xoxb-other' }],
  ];
  for (const [method, a] of cases) {
    it(`${method}: sends what WebClient sends and answers (or fails) as it does`, async () => {
      const mine = await outcome(() => ours().apiCall(method, a));
      const sentByMine = seen.at(-1)!;
      const reference = await outcome(() => theirs().apiCall(method, a));
      const sentByReference = seen.at(-1)!;
      expect(mine).toEqual(reference);
      expect(sentByMine.url).toBe(sentByReference.url);
      expect(sortedForm(sentByMine.body)).toBe(sortedForm(sentByReference.body));
      for (const h of ['authorization', 'content-type', 'user-agent', 'accept']) expect([h, sentByMine.headers[h]]).toEqual([h, sentByReference.headers[h]]);
    });
  }

  it('a refused connection is a request error, as with WebClient', async () => {
    const dead = 'http://127.0.0.1:9/api/';
    const mine = await outcome(() => createWebClient('xoxb', dead).apiCall('chat.update', args));
    const reference = await outcome(() => new WebClient('xoxb', { slackApiUrl: dead, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, fetch: slackFetch }).apiCall('chat.update', args));
    expect(mine.error).toMatchObject({ name: 'WebAPIRequestError', code: 'slack_webapi_request_error' });
    expect(mine.error?.code).toBe(reference.error?.code);
  });
});
