import { stringify } from 'node:querystring';
import { LogLevel, WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError, WebClient, type WebAPICallResult } from '@slack/web-api';
import type { Metrics } from '../../metrics.ts';
import { slackFetch } from './http.ts';

const TIMEOUT_MS = 10_000;

/**
 * Our Web API client: every call goes to SLACK_API_URL (tests, GovSlack), and it never
 * sleeps on its own retries — the outbox owns retrying, honouring Retry-After.
 */
export function createWebClient(token: string | undefined, slackApiUrl: string, metrics?: Metrics): WebClient {
  // undici's request() rather than Node's fetch: a third of the CPU per call (src/platforms/slack/http.ts).
  const send = metrics ? timedSlackFetch(slackApiUrl, metrics) : slackFetch;
  return new MusterWebClient(token, send, {
    slackApiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: TIMEOUT_MS,
    logLevel: LogLevel.ERROR,
    fetch: send,
  });
}

/**
 * @slack/web-api's WebClient with its calls made directly. WebClient 8.2 builds three debug lines per call whatever
 * the log level (`JSON.stringify(redact(…))` of the arguments, the headers and the answer: a deep copy of every block
 * of a card, each key matched against a token pattern), and queues each call through p-queue and p-retry: about
 * 260–480 µs of CPU per chat.update of a card over the request itself (scratch measure: the client's chat.update against
 * the same form POST through slackFetch, 540–780 µs against 280–300 µs), and a click makes three or four of them.
 *
 * Here a call with text arguments is sent as the client sends it (form-encoded: objects as JSON, null and undefined
 * left out; a `token` argument as the Authorization header; its default headers, User-Agent included) and answered
 * as it answers: the same result (response_metadata with scopes and retryAfter from the headers), and the same errors
 * (WebAPIPlatformError for `ok: false`, WebAPIRateLimitedError for a 429 with Retry-After, WebAPIHTTPError for any
 * other status than 200, WebAPIRequestError when no answer came), so toChatError classifies them alike. Arguments
 * with binary data (file uploads) and files.uploadV2 go through the client itself. Retries are the outbox's, as with
 * the client (retries: 0, rejectRateLimitedCalls).
 */
class MusterWebClient extends WebClient {
  constructor(
    token: string | undefined,
    private readonly send: typeof fetch,
    options: ConstructorParameters<typeof WebClient>[1],
  ) {
    super(token, options);
  }

  override async apiCall(method: string, options: Record<string, unknown> = {}): Promise<WebAPICallResult> {
    if (method === 'files.uploadV2' || typeof options !== 'object' || options === null) return super.apiCall(method, options);
    const form: Record<string, string | number | boolean> = {};
    for (const key in options) {
      const v = options[key];
      if (v === undefined || v === null) continue;
      if (Buffer.isBuffer(v)) return super.apiCall(method, options);
      form[key] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v);
    }
    // defaultHeaders carries the client's token (Authorization); a call's own token replaces it, and stays in the body as the client sends it.
    const own = this as unknown as { slackApiUrl: string; defaultHeaders: Record<string, string> };
    const headers: Record<string, string> = { ...own.defaultHeaders, 'Content-Type': 'application/x-www-form-urlencoded' };
    if (typeof options.token === 'string' && options.token) headers.Authorization = `Bearer ${options.token}`;
    const url = `${own.slackApiUrl}${method}`;
    let res: Response;
    try {
      res = await this.send(url, { method: 'POST', headers, body: stringify(form), redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (e) {
      throw new WebAPIRequestError(e instanceof Error ? e : new Error(String(e)));
    }
    if (res.status === 429) {
      const retryAfter = retrySeconds(res);
      if (retryAfter !== undefined) throw new WebAPIRateLimitedError(retryAfter);
      throw new Error(`Retry header did not contain a valid timeout (url: ${url}, retry-after header: ${res.headers.get('retry-after')})`);
    }
    const text = await res.text();
    if (res.status !== 200) throw new WebAPIHTTPError(res.status, res.statusText, Object.fromEntries(res.headers.entries()), text);
    let result: WebAPICallResult & { response_metadata?: Record<string, unknown> };
    try {
      result = JSON.parse(text);
    } catch {
      result = { ok: false, error: text } as WebAPICallResult;
    }
    result.response_metadata ??= {};
    const scopes = res.headers.get('x-oauth-scopes');
    if (scopes !== null) result.response_metadata.scopes = scopes.trim().split(/\s*,\s*/);
    const accepted = res.headers.get('x-accepted-oauth-scopes');
    if (accepted !== null) result.response_metadata.acceptedScopes = accepted.trim().split(/\s*,\s*/);
    const retryAfter = retrySeconds(res);
    if (retryAfter !== undefined) result.response_metadata.retryAfter = retryAfter;
    if (!result.ok) throw new WebAPIPlatformError(result as WebAPICallResult & { error: string });
    return result;
  }
}

function retrySeconds(res: Response): number | undefined {
  const header = res.headers.get('retry-after');
  if (header === null) return undefined;
  const n = Number.parseInt(header, 10);
  return Number.isNaN(n) ? undefined : n;
}

/**
 * The `fetch` a WebClient sends its HTTP requests with (its `fetch` option), timing each one by Web API method
 * until Slack's answer arrives (muster_slack_api_duration_seconds) and counting the HTTP 429s
 * (muster_slack_api_rate_limited_total). The request and the answer are passed on unchanged. The method is the
 * URL's path after SLACK_API_URL; a file's upload to the URL files.getUploadURLExternal gave is `upload_url`.
 */
export function timedSlackFetch(slackApiUrl: string, metrics: Metrics, send: typeof fetch = slackFetch): typeof fetch {
  const base = slackApiUrl.endsWith('/') ? slackApiUrl : `${slackApiUrl}/`;
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = url.startsWith(base) ? url.slice(base.length).split('?')[0]! : 'upload_url';
    const started = performance.now();
    try {
      const res = await send(input, init);
      if (res.status === 429) metrics.slackRateLimited.inc({ method });
      return res;
    } finally {
      metrics.slackApi.observe({ method }, (performance.now() - started) / 1000);
    }
  };
}
