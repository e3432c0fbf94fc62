import type { App, BlockAction, ButtonAction, SlackViewAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { textModal } from '../../../blocks/incident.ts';
import { rejectModal } from '../../../blocks/approval.ts';
import type { Services } from '../../services/index.ts';
import type { Kernel } from '../../services/kernel.ts';
import { DuplicateRequest } from '../../services/kernel.ts';
import { Refusal, UsageError } from '../../services/errors.ts';
import type { Actor, Reply, RequestMeta } from '../../services/types.ts';
import type { IncidentRoleName } from '../../domain/incident.ts';
import { SEVERITIES } from '../../domain/incident.ts';
import { mrkdwn, renderBlocks } from './mrkdwn.ts';
import { concat, plainText, type Text } from '../../domain/text.ts';

export interface InteractionDeps {
  kernel: Kernel;
  services: Services;
  log: Logger;
}

type Body = { team?: { id?: string } | null; user: { id: string; name?: string; username?: string }; trigger_id?: string; response_url?: string; channel?: { id?: string } };

async function actorOf(kernel: Kernel, body: Body): Promise<Actor> {
  return kernel.actor('slack', body.team?.id ?? 'unknown', body.user.id, body.user.username ?? body.user.name);
}

function metaOf(context: Record<string, unknown>, body: Body): RequestMeta {
  return { requestId: randomUUID(), requestKey: context.requestKey as string | undefined, channelId: body.channel?.id, responseUrl: body.response_url };
}

/** Shows the outcome of a click to the clicker only (errors, confirmations). */
async function tellUser(client: WebClient, body: Body, text: Text, log: Logger): Promise<void> {
  try {
    if (body.response_url) {
      await fetch(body.response_url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text: mrkdwn(text) }) });
    } else {
      const im = await client.conversations.open({ users: body.user.id });
      if (im.channel?.id) await client.chat.postMessage({ channel: im.channel.id, text: mrkdwn(text) });
    }
  } catch (e) {
    log.warn({ err: e }, 'could not tell the user the outcome of their click');
  }
}

/**
 * Runs a use case for a click (state, audit and effects commit here) and returns what to
 * tell the clicker, sent only after the ack so the ack never waits on Slack.
 */
async function handle(
  deps: InteractionDeps,
  client: WebClient,
  body: Body,
  context: Record<string, unknown>,
  run: (actor: Actor, meta: RequestMeta) => Promise<Reply>,
  confirm = false,
): Promise<() => Promise<void>> {
  const meta = metaOf(context, body);
  const log = deps.log.child({ requestId: meta.requestId, user: body.user.id });
  const tell = (text: Text) => () => tellUser(client, body, text, log);
  let actor: Actor | undefined;
  try {
    actor = await actorOf(deps.kernel, body);
    const reply = await run(actor, meta);
    return confirm ? tell(reply.text) : async () => undefined;
  } catch (e) {
    if (e instanceof DuplicateRequest) return async () => undefined;
    if (e instanceof Refusal) {
      if (actor) await deps.kernel.recordRefusal(actor, meta, e);
      return tell(concat(':warning: ', e.message));
    }
    if (e instanceof UsageError) return tell(concat(':warning: ', e.message));
    log.error({ err: e }, 'interaction failed');
    return tell(`:warning: Something went wrong on our side and nothing was changed. Reference: ${meta.requestId}`);
  }
}

const metaSchema = z.object({ incidentId: z.string().uuid() });

/** Buttons, modals, and the channel events an incident's timeline follows. */
export function registerInteractions(app: App, deps: InteractionDeps): void {
  const { services, log } = deps;

  const take = (actionId: string, role: IncidentRoleName) =>
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client, context }) => {
      const tell = await handle(deps, client, body, context, (actor, meta) => services.incidents.assignRole(actor, meta, { id: action.value ?? "" }, role, actor.externalId));
      await ack();
      await tell();
    });
  take(ACTIONS.incident.takeCommander, 'commander');
  take(ACTIONS.incident.takeTech, 'tech');
  take(ACTIONS.incident.takeComms, 'comms');

  // Forms must open within 3 s of the click: views.open first, before anything slow.
  for (const [actionId, kind] of [
    [ACTIONS.incident.postUpdate, 'update'],
    [ACTIONS.incident.resolve, 'resolve'],
  ] as const) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client }) => {
      const v = await services.incidents.viewById(action.value ?? '');
      if (!v) {
        await ack();
        return tellUser(client, body, ':warning: That incident no longer exists.', log);
      }
      await client.views.open({ trigger_id: body.trigger_id, view: renderBlocks(textModal(kind, v)) as never });
      await ack();
    });
  }

  app.action<BlockAction<ButtonAction>>(ACTIONS.nudge.acknowledge, async ({ ack, body, action, client, context }) => {
    const tell = await handle(deps, client, body, context, (actor, meta) => services.nudges.acknowledge(actor, meta, action.value ?? ""), true);
    await ack();
    await tell();
  });
  app.action<BlockAction<ButtonAction>>(ACTIONS.nudge.snooze, async ({ ack, body, action, client, context }) => {
    const tell = await handle(deps, client, body, context, (actor, meta) => services.nudges.snooze(actor, meta, action.value ?? ""), true);
    await ack();
    await tell();
  });
  app.action<BlockAction<ButtonAction>>(ACTIONS.followUp.done, async ({ ack, body, action, client, context }) => {
    const tell = await handle(deps, client, body, context, (actor, meta) => services.incidents.completeAction(actor, meta, { actionId: action.value ?? "" }), true);
    await ack();
    await tell();
  });

  // ---- approvals
  app.action<BlockAction<ButtonAction>>(ACTIONS.approval.approve, async ({ ack, body, action, client, context }) => {
    const tell = await handle(deps, client, body, context, (actor, meta) => services.approvals.vote(actor, meta, action.value ?? '', 'approve'), true);
    await ack();
    await tell();
  });
  app.action<BlockAction<ButtonAction>>(ACTIONS.approval.reject, async ({ ack, body, action, client }) => {
    // The reason is asked for in a form; the vote happens when it is submitted.
    const v = await services.approvals.viewById(action.value ?? '');
    if (!v) {
      await ack();
      return tellUser(client, body, ':warning: That approval request does not exist.', log);
    }
    await client.views.open({ trigger_id: body.trigger_id, view: renderBlocks(rejectModal(v)) as never });
    await ack();
  });
  app.action<BlockAction<ButtonAction>>(ACTIONS.approval.reviewed, async ({ ack, body, action, client, context }) => {
    const tell = await handle(deps, client, body, context, (actor, meta) => services.approvals.markReviewed(actor, meta, action.value ?? ''), true);
    await ack();
    await tell();
  });
  app.view<SlackViewAction>(VIEWS.reject, async ({ ack, body, view, context }) => {
    const reason = (view.state.values[FIELDS.reason.block]?.[FIELDS.reason.action]?.value ?? '').trim();
    const parsed = z.object({ requestId: z.string().uuid() }).safeParse(JSON.parse(view.private_metadata || '{}'));
    if (reason.length < 3) return ack({ response_action: 'errors', errors: { [FIELDS.reason.block]: 'A rejection needs a reason.' } });
    if (!parsed.success) return ack({ response_action: 'errors', errors: { [FIELDS.reason.block]: 'This form is out of date; press Reject on the card again.' } });
    const problem = await formOutcome(deps, body as unknown as Body, context, (actor, meta) => services.approvals.vote(actor, meta, parsed.data.requestId, 'reject', reason));
    await ack(problem ? { response_action: 'errors', errors: { [FIELDS.reason.block]: problem } } : undefined);
  });

  app.view<SlackViewAction>(VIEWS.declare, async ({ ack, body, view, client, context }) => {
    const values = view.state.values;
    const title = (values[FIELDS.title.block]?.[FIELDS.title.action]?.value ?? '').trim();
    const severity = values[FIELDS.severity.block]?.[FIELDS.severity.action]?.selected_option?.value ?? '';
    const errors: Record<string, string> = {};
    if (!title) errors[FIELDS.title.block] = 'Give the incident a title.';
    if (!(SEVERITIES as readonly string[]).includes(severity)) errors[FIELDS.severity.block] = 'Choose a severity, P0 to P3.';
    if (Object.keys(errors).length) return ack({ response_action: 'errors', errors });
    const description = values[FIELDS.description.block]?.[FIELDS.description.action]?.value ?? undefined;
    const services_ = (values[FIELDS.services.block]?.[FIELDS.services.action]?.value ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    const isPrivate = values[FIELDS.private.block]?.[FIELDS.private.action]?.selected_option?.value === 'private';
    // The work is done before the ack, so a refusal can be shown in the form itself.
    const problem = await formOutcome(deps, body as unknown as Body, context, (actor, meta) =>
      services.incidents.declare(actor, { ...meta, responseUrl: undefined }, { title, severity: severity as (typeof SEVERITIES)[number], description: description ?? undefined, services: services_, isPrivate }),
    );
    await ack(problem ? { response_action: 'errors', errors: { [FIELDS.title.block]: problem } } : undefined);
  });

  for (const [callbackId, kind] of [
    [VIEWS.update, 'update'],
    [VIEWS.resolve, 'resolve'],
  ] as const) {
    app.view<SlackViewAction>(callbackId, async ({ ack, body, view, client, context }) => {
      const text = (view.state.values[FIELDS.text.block]?.[FIELDS.text.action]?.value ?? '').trim();
      const parsed = metaSchema.safeParse(JSON.parse(view.private_metadata || '{}'));
      if (!text) return ack({ response_action: 'errors', errors: { [FIELDS.text.block]: kind === 'update' ? 'Write the update.' : 'Summarise the resolution.' } });
      if (!parsed.success) return ack({ response_action: 'errors', errors: { [FIELDS.text.block]: 'This form is out of date; open it again from the card.' } });
      const problem = await formOutcome(deps, body as unknown as Body, context, (actor, meta) =>
        kind === 'update' ? services.incidents.postUpdate(actor, meta, { id: parsed.data.incidentId }, text) : services.incidents.resolve(actor, meta, { id: parsed.data.incidentId }, text),
      );
      await ack(problem ? { response_action: 'errors', errors: { [FIELDS.text.block]: problem } } : undefined);
    });
  }
}

/** Runs a form's use case; returns the message to show in the form when it was refused. */
async function formOutcome(deps: InteractionDeps, body: Body, context: Record<string, unknown>, run: (actor: Actor, meta: RequestMeta) => Promise<Reply>): Promise<string | undefined> {
  const meta = metaOf(context, body);
  let actor: Actor | undefined;
  try {
    actor = await actorOf(deps.kernel, body);
    await run(actor, meta);
    return undefined;
  } catch (e) {
    if (e instanceof DuplicateRequest) return undefined;
    if (e instanceof Refusal) {
      if (actor) await deps.kernel.recordRefusal(actor, meta, e);
      return plainText(e.message).slice(0, 150);
    }
    if (e instanceof UsageError) return plainText(e.message).slice(0, 150);
    deps.log.error({ err: e, requestId: meta.requestId }, 'form submission failed');
    return `Something went wrong on our side and nothing was changed. Reference: ${meta.requestId}`;
  }
}
