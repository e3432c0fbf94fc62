import { WebClient, LogLevel } from '@slack/web-api';
import type { Metrics } from '../../metrics.ts';
import { slackFetch } from './http.ts';

/**
 * Our Web API client: every call goes to SLACK_API_URL (tests, GovSlack), and it never
 * sleeps on its own retries — the outbox owns retrying, honouring Retry-After.
 */
export function createWebClient(token: string | undefined, slackApiUrl: string, metrics?: Metrics): WebClient {
  return new WebClient(token, {
    slackApiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
    logLevel: LogLevel.ERROR,
    // undici's request() rather than Node's fetch: a third of the CPU per call (src/platforms/slack/http.ts).
    fetch: metrics ? timedSlackFetch(slackApiUrl, metrics) : slackFetch,
  });
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
