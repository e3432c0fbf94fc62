import type { Logger } from 'pino';
import { slackFetch } from './http.ts';

/**
 * Posts one message to a command's or click's response_url now, outside the outbox: the answers that belong to
 * the request itself (a command's answer that missed the 3 s ack, the outcome of a click told to the clicker, a
 * failure). Slack takes a JSON body there and answers 200 with `ok` or an HTTP error
 * (https://api.slack.com/interactivity/handling#message_responses). Never throws: a failure is logged with
 * `what` (what could not be done) and answered false. Redraws and replies that must not be lost go through the
 * outbox instead (SlackChatPort.reply), which counts the URL's five uses and retries.
 */
export async function postToResponseUrl(url: string, message: Record<string, unknown>, log: Logger, what: string): Promise<boolean> {
  try {
    const res = await slackFetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(message) });
    if (!res.ok) {
      log.warn({ status: res.status }, `${what}: the response_url answered HTTP ${res.status}`);
      return false;
    }
    return true;
  } catch (err) {
    log.warn({ err }, `${what}: the response_url could not be reached`);
    return false;
  }
}
