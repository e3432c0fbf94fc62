import type { App, BlockAction, ButtonAction, SlackViewAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { postToResponseUrl } from './responseUrl.ts';
import type { Services } from '../../services/index.ts';
import type { Kernel } from '../../services/kernel.ts';
import type { Actor, RequestMeta } from '../../services/types.ts';
import { BUTTONS, FORMS, type FormValues } from '../../services/interactions.ts';
import { runRequest, type Outcome } from '../../services/outcome.ts';
import { concat, emoji, plainText, rt, type Text } from '../../domain/text.ts';
import { mrkdwn } from './mrkdwn.ts';
import { slackModal } from './blockKit.ts';

export interface InteractionDeps {
  kernel: Kernel;
  services: Services;
  log: Logger;
}

type Body = {
  team?: { id?: string } | null;
  user: { id: string; name?: string; username?: string };
  trigger_id?: string;
  response_url?: string;
  channel?: { id?: string };
  /** block_actions: where the clicked element is (a message: its channel and ts). */
  container?: { type?: string; channel_id?: string; message_ts?: string; is_ephemeral?: boolean };
};

async function actorOf(kernel: Kernel, body: Body): Promise<Actor> {
  return kernel.actor('slack', body.team?.id ?? 'unknown', body.user.id, body.user.username ?? body.user.name);
}

function metaOf(kernel: Kernel, context: Record<string, unknown>, body: Body): RequestMeta {
  const c = body.container;
  return {
    requestId: randomUUID(),
    requestKey: context.requestKey as string | undefined,
    channelId: body.channel?.id,
    receivedAt: kernel.clock.now(),
    ...(body.response_url ? { replyTo: { platform: 'slack', handle: body.response_url, issuedAt: kernel.clock.now().getTime() } } : {}),
    // A button on a message Muster posted: its response_url can redraw that message (replace_original).
    ...(body.response_url && c?.type === 'message' && !c.is_ephemeral && c.channel_id && c.message_ts ? { source: { channel: c.channel_id, ts: c.message_ts } } : {}),
  };
}

/**
 * Acks, and answers false when the ack could not be sent because the HTTP answer had already gone: Bolt answers a
 * request its listener has not acked within Slack's 3 s itself, and a later ack() throws. The work is done by then
 * (it committed before the ack), so the caller still tells the person the outcome, through the response_url,
 * instead of letting the error reach the fallback, which would say that nothing was changed.
 */
export async function ackOrLate(ack: (response?: never) => Promise<void>, log: Logger, response?: unknown): Promise<boolean> {
  try {
    await ack(response as never);
    return true;
  } catch (err) {
    log.warn({ err }, 'acknowledged after Slack had stopped waiting (3 s): the outcome goes to the response_url');
    return false;
  }
}

/** Matches exactly one of `names` (taken literally), then `suffix` (a pattern): one Bolt listener for many ids. */
export function oneOf(names: Iterable<string>, suffix = ''): RegExp {
  const literal = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^(?:${[...names].map(literal).join('|')})${suffix}$`);
}

/** Shows the outcome of a click to the clicker only (errors, confirmations). */
async function tellUser(client: WebClient, body: Body, text: Text, log: Logger): Promise<void> {
  if (body.response_url) {
    await postToResponseUrl(body.response_url, { response_type: 'ephemeral', replace_original: false, text: mrkdwn(text) }, log, 'could not tell the user the outcome of their click');
    return;
  }
  try {
    const im = await client.conversations.open({ users: body.user.id });
    if (im.channel?.id) await client.chat.postMessage({ channel: im.channel.id, text: mrkdwn(text) });
  } catch (e) {
    log.warn({ err: e }, 'could not tell the user the outcome of their click');
  }
}

/** What a click's clicker is told: nothing for a quiet success or a retry, the reply or the problem otherwise. */
function toldAfterClick(outcome: Outcome, confirm: boolean): Text | undefined {
  switch (outcome.kind) {
    case 'reply':
      return confirm ? outcome.reply.text : undefined;
    case 'duplicate':
      return undefined;
    default:
      return concat(emoji('warning'), ' ', outcome.message);
  }
}

/** Slack's view_submission state as neutral form values: field id → text typed or option chosen. */
function formValues(state: SlackViewAction['view']['state']): FormValues {
  const out: FormValues = {};
  for (const [block, actions] of Object.entries(state.values)) {
    const v = actions[block] ?? Object.values(actions)[0];
    out[block] = v?.value ?? v?.selected_option?.value ?? undefined;
  }
  return out;
}

/**
 * Every button and form of the interaction tables (src/services/interactions.ts), on Slack.
 * Clicks run their use case, ack, then tell the clicker (the ack never waits on Slack); a button
 * that opens a form opens it first (the trigger_id is valid for 3 s); a form's use case runs
 * before the ack, so that a refusal is shown in the form itself.
 */
export function registerInteractions(app: App, deps: InteractionDeps): void {
  const { services, kernel, log } = deps;

  // One listener for every button and one for every form: Bolt runs each request through every listener's
  // matchers, so a listener per button (twenty) and per form (ten) cost every request, commands included, more than
  // Bolt's own work.
  // `<id>` or `<id>#<n>`: buttons that share an id in one block are numbered (src/platforms/slack/blockKit.ts).
  const buttonIds = oneOf(Object.keys(BUTTONS), '(?:#\\d+)?');
  const formIds = oneOf(Object.keys(FORMS));

  app.action<BlockAction<ButtonAction>>({ action_id: buttonIds }, async ({ ack, body, action, client, context }) => {
    const handler = BUTTONS[action.action_id.replace(/#\d+$/, '') as keyof typeof BUTTONS];
    const value = action.value ?? '';
    if (handler.kind === 'form') {
      const form = await handler.open(services, value);
      if (!form) {
        await ack();
        return tellUser(client, body, rt`${emoji('warning')} ${handler.missing}`, log);
      }
      await client.views.open({ trigger_id: body.trigger_id, view: slackModal(form) });
      await ack();
      return;
    }
    const meta = metaOf(kernel, context, body);
    const outcome = await runRequest(
      kernel,
      log,
      meta,
      () => actorOf(kernel, body),
      (actor) => handler.run({ actor, meta, services }, value),
    );
    const inTime = await ackOrLate(ack as never, log.child({ requestId: meta.requestId }));
    // Told as usual; a late click whose outcome is a quiet success is told it went through (Slack showed a timeout).
    const text = toldAfterClick(outcome, handler.confirm) ?? (inTime || outcome.kind !== 'reply' ? undefined : rt`${emoji('white_check_mark')} Done.`);
    if (text !== undefined) await tellUser(client, body, text, log.child({ requestId: meta.requestId }));
  });

  app.view<SlackViewAction>({ callback_id: formIds }, async ({ ack, body, view, context }) => {
    const handler = FORMS[view.callback_id as keyof typeof FORMS];
    const read = handler.read(formValues(view.state));
    if ('errors' in read) return ack({ response_action: 'errors', errors: read.errors });
    let data: unknown;
    try {
      data = JSON.parse(view.private_metadata || '{}');
    } catch {
      data = undefined;
    }
    const checked = handler.data.safeParse(data);
    if (!checked.success) return ack({ response_action: 'errors', errors: { [handler.problemField]: handler.stale } });
    const meta = metaOf(kernel, context, body as unknown as Body);
    const outcome = await runRequest(
      kernel,
      log,
      meta,
      () => actorOf(kernel, body as unknown as Body),
      (actor) => handler.submit({ actor, meta, services }, checked.data as never, read.input as never),
    );
    // Slack shows form errors as plain text under the field, 150 characters at most.
    const problem = outcome.kind === 'reply' || outcome.kind === 'duplicate' ? undefined : plainText(outcome.message).slice(0, 150);
    await ack(problem ? { response_action: 'errors', errors: { [handler.problemField]: problem } } : undefined);
  });
}
