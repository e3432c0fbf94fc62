import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackFetch } from '../../../src/platforms/slack/http.ts';
import { startScriptedServer, type SeenRequest } from '../../support/scriptedServer.ts';

/**
 * slackFetch answers what the Web API client and the response_url posts read of a fetch Response, the same as Node's
 * fetch does for the same request: both are asked here and compared.
 */
let server: Awaited<ReturnType<typeof startScriptedServer>>;
let base: string;
let seen: SeenRequest[];
beforeAll(async () => {
  server = await startScriptedServer((req, res) => {
    if (req.url === '/limited') {
      res.writeHead(429, { 'Retry-After': '3', 'content-type': 'application/json' });
      res.end('{"ok":false,"error":"ratelimited"}');
      return;
    }
    if (req.url === '/moved') {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('x-oauth-scopes', 'chat:write, channels:manage');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end(JSON.stringify({ ok: true, text: 'héllo ✓' }));
  });
  base = server.url;
  seen = server.seen;
});
afterAll(() => server.close());

const form = { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'channel=C1&text=h%C3%A9' };

describe('slackFetch', () => {
  it('sends the method, headers and body, and answers as fetch does: status, ok, headers, text and json', async () => {
    const [mine, node] = [await slackFetch(`${base}/api/chat.postMessage`, form), await fetch(`${base}/api/chat.postMessage`, form)];
    const [a, b] = seen.slice(-2);
    expect(a).toMatchObject({ method: 'POST', body: 'channel=C1&text=h%C3%A9', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(b!.body).toBe(a!.body);
    for (const r of [mine, node]) {
      expect([r.status, r.ok, r.statusText, r.url]).toEqual([200, true, 'OK', `${base}/api/chat.postMessage`]);
      expect(r.headers.get('Content-Type')).toBe('application/json; charset=utf-8');
      expect(r.headers.get('x-oauth-scopes')).toBe('chat:write, channels:manage');
      expect(r.headers.get('retry-after')).toBeNull();
    }
    expect(await mine.text()).toBe(await node.text());
    expect(await (await slackFetch(`${base}/api/x`, form)).json()).toEqual({ ok: true, text: 'héllo ✓' });
    expect(new TextDecoder().decode(await (await slackFetch(`${base}/api/x`, form)).arrayBuffer())).toBe('{"ok":true,"text":"héllo ✓"}');
  });

  it('a 429 comes back with its Retry-After; a redirect is not followed', async () => {
    const limited = await slackFetch(`${base}/limited`, form);
    expect([limited.status, limited.ok, limited.headers.get('retry-after')]).toEqual([429, false, '3']);
    const moved = await slackFetch(`${base}/moved`, form);
    expect([moved.status, moved.headers.get('location')]).toEqual([302, '/elsewhere']);
  });

  it('rejects when nobody listens, and when its signal aborts', async () => {
    await expect(slackFetch('http://127.0.0.1:9/api/chat.postMessage', form)).rejects.toThrow();
    await expect(slackFetch(`${base}/api/x`, { ...form, signal: AbortSignal.abort() })).rejects.toThrow();
  });

  it('hands anything but a text body to Node fetch (a file upload’s FormData)', async () => {
    const body = new FormData();
    body.append('file', new Blob([new Uint8Array([1, 2, 3])]), 'a.bin');
    const r = await slackFetch(`${base}/upload`, { method: 'POST', body });
    expect(r.status).toBe(200);
    expect(seen.at(-1)!.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
  });
});
