import { WebClient, LogLevel } from '@slack/web-api';

/**
 * Our Web API client: every call goes to SLACK_API_URL (tests, GovSlack), and it never
 * sleeps on its own retries — the outbox owns retrying, honouring Retry-After.
 */
export function createWebClient(token: string | undefined, slackApiUrl: string): WebClient {
  return new WebClient(token, {
    slackApiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
    logLevel: LogLevel.ERROR,
  });
}
