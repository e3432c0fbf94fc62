import { createPublicKey, randomUUID, verify, type KeyObject } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { REST } from '@discordjs/rest';
import {
  ApplicationCommandType,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  Routes,
  type APIInteraction,
  type APIInteractionResponse,
  type APIMessage,
  type APIUser,
} from 'discord-api-types/v10';
import type { Logger } from 'pino';
import type { Kernel } from '../../services/kernel.ts';
import type { Services } from '../../services/index.ts';
import type { Actor, RequestMeta } from '../../services/types.ts';
import { runRequest, type Outcome } from '../../services/outcome.ts';
import { BUTTONS, FORMS } from '../../services/interactions.ts';
import { dispatchCommand } from '../../../commands/dispatch.ts';
import type { Command } from '../../../commands/types.ts';
import { errorMessage, replyMessage } from '../../../blocks/reply.ts';
import type { Message } from '../../../blocks/surface.ts';
import { emoji, rt, type Text } from '../../domain/text.ts';
import { discordCommandInput } from './commands.ts';
import { parseDiscordText } from './markdown.ts';
import { discordForm, discordMessage, parseCustomId, parseModalCustomId, readModalSubmit } from './render.ts';
import type { Form } from '../../../blocks/surface.ts';
import type { FormValues } from '../../services/interactions.ts';
import type { AckKind, Metrics } from '../../metrics.ts';

/** The button between the pages of a long form. */
const NEXT_PAGE = 'form.next';
/** A long form's pages stay open this long (in this process's memory: a restart or another replica starts it again). */
const FORM_TTL_MS = 30 * 60_000;

interface FormSession {
  /** its key in `sessions` (the modals' custom_ids carry it) */
  key: string;
  user: string;
  form: Form;
  data: Record<string, unknown>;
  values: FormValues;
  pages: ReturnType<typeof discordForm>['pages'];
  /** the page the Next page button opens (0-based) */
  next: number;
  expires: number;
}

/** Forms too long for one modal (the change form: 15 fields, Discord takes 5 a modal), between their pages. */
const sessions = new Map<string, FormSession>();

/** The first modal of a form; a long one keeps its data and values here between pages. */
function openForm(form: Form, user: string): APIInteractionResponse {
  const d = discordForm(form);
  if (d.stored) {
    const now = Date.now();
    for (const [k, v] of sessions) if (v.expires < now) sessions.delete(k);
    sessions.set(d.stored.key, { key: d.stored.key, user, form, data: d.stored.data, values: {}, pages: d.pages, next: 0, expires: now + FORM_TTL_MS });
  }
  return { type: InteractionResponseType.Modal, data: d.pages[0]!.modal };
}

/** The pages again, filled in with what was typed, from the first. Returns the key. */
function restart(s: FormSession): string {
  const filled: Form = { ...s.form, fields: s.form.fields.map((f) => ({ ...f, ...(s.values[f.id] !== undefined ? { initial: s.values[f.id] } : {}) })) as Form['fields'] };
  s.pages = discordForm(filled, { key: s.key }).pages;
  s.next = 0;
  s.expires = Date.now() + FORM_TTL_MS;
  return s.key;
}

/** The message command that puts a message on its incident's timeline (works without the gateway). */
export const ADD_TO_TIMELINE = 'Add to timeline';

/** Discord wants an answer within 3 s; past this, Muster defers and follows up (https://discord.com/developers/docs/interactions/receiving-and-responding). */
const ANSWER_WITHIN_MS = 2_000;

export interface DiscordInteractionDeps {
  /** DISCORD_PUBLIC_KEY, hex (the application's Ed25519 key) */
  publicKey: string;
  applicationId: string;
  kernel: Kernel;
  services: Services;
  commands: ReadonlyMap<string, Command<unknown>>;
  rest: REST;
  log: Logger;
  /** Acknowledgement latency (muster_ack_duration_seconds). */
  metrics?: Metrics;
}

/** The Ed25519 public key of the application, from its 32 raw bytes in hex. */
export function discordPublicKey(hex: string): KeyObject {
  // An Ed25519 SubjectPublicKeyInfo is this 12-byte DER prefix followed by the raw key (RFC 8410).
  return createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

/**
 * "Your endpoint must be prepared to ACK a PING message; you must validate security-related request headers
 * (X-Signature-Ed25519 and X-Signature-Timestamp)", and a request that fails gets 401
 * (https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers).
 */
export function verifyDiscordRequest(key: KeyObject, signature: string | undefined, timestamp: string | undefined, raw: Buffer): boolean {
  if (!signature || !timestamp || !/^[0-9a-f]{128}$/i.test(signature)) return false;
  try {
    return verify(null, Buffer.concat([Buffer.from(timestamp, 'utf8'), raw]), key, Buffer.from(signature, 'hex'));
  } catch {
    return false;
  }
}

/**
 * POST /discord/interactions: verified, then commands, buttons and modal submissions run through the same tables
 * as on Slack (commands/, src/services/interactions.ts). The answer goes in the response body when the work is
 * done within 2 s; otherwise Muster defers (type 5, or 6 for a click) and edits the original response when done.
 */
export function discordInteractions(deps: DiscordInteractionDeps) {
  const key = discordPublicKey(deps.publicKey);
  const raw = express.raw({ type: () => true, limit: '1mb' });
  return (req: Request, res: Response) => {
    const arrived = performance.now();
    raw(req, res, () => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (!verifyDiscordRequest(key, req.header('x-signature-ed25519'), req.header('x-signature-timestamp'), body)) {
        res.status(401).type('text').send('invalid request signature');
        return;
      }
      let interaction: APIInteraction;
      try {
        interaction = JSON.parse(body.toString('utf8')) as APIInteraction;
      } catch {
        res.status(400).type('text').send('invalid JSON');
        return;
      }
      let answered = false;
      const respond = async (r: APIInteractionResponse) => {
        answered = true;
        res.json(r);
      };
      handleInteraction(deps, interaction, respond, arrived).catch((e: unknown) => {
        deps.log.error({ err: e, interaction: interaction.id }, 'discord interaction failed');
        if (!answered) res.json(ephemeralAnswer(errorMessage(rt`Something went wrong on our side and nothing was changed.`)));
      });
    });
  };
}

/** How the first answer to an interaction goes: the HTTP response's body, or (gateway) the interaction callback. */
export type Respond = (r: APIInteractionResponse) => Promise<void>;

/**
 * One interaction, from the HTTP endpoint or the gateway. `arrived` (performance.now()) starts its acknowledgement's
 * latency, which ends when the first answer has gone out (the HTTP response; over the gateway, the callback's POST).
 */
export async function handleInteraction(deps: Omit<DiscordInteractionDeps, 'publicKey'>, i: APIInteraction, respond: Respond, arrived = performance.now()): Promise<void> {
  if (deps.metrics) respond = timedRespond(respond, deps.metrics, { platform: 'discord', ...ackLabel(i, deps.commands) }, arrived);
  const res = { json: (r: APIInteractionResponse) => void respond(r) };
  if (i.type === InteractionType.Ping) {
    res.json({ type: InteractionResponseType.Pong });
    return;
  }
  const requestId = randomUUID();
  const log = deps.log.child({ requestId, interaction: i.id, type: i.type, guild: i.guild_id });
  const user: APIUser | undefined = i.member?.user ?? i.user;
  if (!i.guild_id || !user) {
    res.json(ephemeralAnswer(errorMessage(rt`Muster works in a server's channels: use its commands there, not in a direct message.`)));
    return;
  }
  const now = deps.kernel.clock.now();
  const meta: RequestMeta = {
    requestId,
    requestKey: `discord:${i.id}`,
    ...((i.channel?.id ?? i.channel_id) ? { channelId: i.channel?.id ?? i.channel_id } : {}),
    replyTo: { platform: 'discord', handle: `${deps.applicationId}:${i.token}`, issuedAt: now.getTime() },
    receivedAt: now,
  };
  const name = i.member?.nick ?? user.global_name ?? user.username;
  const actor = () => deps.kernel.actor('discord', i.guild_id!, user.id, name);
  const started = performance.now();

  if (i.type === InteractionType.ApplicationCommand && i.data.type === ApplicationCommandType.ChatInput) {
    const input = discordCommandInput(i.data);
    const command = deps.commands.get(input.command);
    if (!command) {
      res.json(ephemeralAnswer(errorMessage(rt`/${input.command} is not one of Muster's commands.`)));
      return;
    }
    await answerWithin(deps, i, res, false, async () => {
      const outcome = await dispatchCommand(command, { subcommand: input.subcommand, options: input.options }, actor, meta, deps.services, log);
      log.info({ command: `/${input.command} ${input.subcommand}`, ms: Math.round(performance.now() - started), outcome: outcome.kind }, 'discord command handled');
      return outcome;
    });
    return;
  }

  if (i.type === InteractionType.ApplicationCommand && i.data.type === ApplicationCommandType.Message) {
    const message = Object.values(i.data.resolved.messages)[0] as APIMessage | undefined;
    await answerWithin(deps, i, res, false, async () => {
      if (i.data.name !== ADD_TO_TIMELINE || !message) return { kind: 'usage', message: rt`That message command is not Muster's.` };
      const by = (await actor()).externalId;
      const added = await deps.services.incidents.recordPinned(`discord:${i.guild_id}`, meta, {
        channelId: message.channel_id,
        ts: message.id,
        user: message.author.id,
        text: parseDiscordText(message.content ?? ''),
        permalink: `https://discord.com/channels/${i.guild_id}/${message.channel_id}/${message.id}`,
        via: 'pin',
        by,
      });
      return { kind: 'reply', reply: { text: added ? rt`${emoji('pushpin')} Added to the incident's timeline.` : rt`That message is already on the timeline, or this channel is not an incident's.` } };
    });
    return;
  }

  if (i.type === InteractionType.MessageComponent) {
    const parsed = parseCustomId(i.data.custom_id);
    if (parsed?.action === NEXT_PAGE) {
      // The next page of a long form (Discord cannot answer a modal with another modal: a button in between).
      const session = sessions.get(parsed.value);
      res.json(
        session && session.user === user.id
          ? { type: InteractionResponseType.Modal, data: session.pages[session.next]!.modal }
          : ephemeralAnswer(errorMessage(rt`That form has expired: start it again.`)),
      );
      return;
    }
    const handler = parsed ? BUTTONS[parsed.action as keyof typeof BUTTONS] : undefined;
    if (!parsed || !handler) {
      res.json(ephemeralAnswer(errorMessage(rt`That button is not Muster's any more.`)));
      return;
    }
    if (handler.kind === 'form') {
      // A modal must be the first response to the interaction.
      const form = await handler.open(deps.services, parsed.value);
      // errorMessage shows its own warning sign.
      if (!form) res.json(ephemeralAnswer(errorMessage(rt`${handler.missing}`)));
      else res.json(openForm(form, user.id));
      return;
    }
    await answerWithin(deps, i, res, true, async () => {
      const outcome = await runRequest(deps.kernel, log, meta, actor, (a: Actor) => handler.run({ actor: a, meta, services: deps.services }, parsed.value));
      log.info({ action: parsed.action, ms: Math.round(performance.now() - started), outcome: outcome.kind }, 'discord click handled');
      if (outcome.kind === 'reply' && !handler.confirm) return { kind: 'duplicate' };
      return outcome;
    });
    return;
  }

  if (i.type === InteractionType.ModalSubmit) {
    const id = parseModalCustomId(i.data.custom_id);
    const handler = id ? FORMS[id.form as keyof typeof FORMS] : undefined;
    if (!id || !handler) {
      res.json(ephemeralAnswer(errorMessage(rt`That form is not Muster's any more.`)));
      return;
    }
    let values: FormValues;
    let data: unknown;
    let pagedKey: string | undefined;
    if ('key' in id) {
      const session = sessions.get(id.key);
      if (!session || session.user !== user.id) {
        res.json(ephemeralAnswer(errorMessage(rt`That form has expired: start it again.`)));
        return;
      }
      Object.assign(session.values, readModalSubmit(i.data.components as never, session.form));
      if (id.page < session.pages.length) {
        session.next = id.page;
        res.json(
          ephemeralAnswer({
            text: rt`Page ${String(id.page)} of ${String(session.pages.length)} of ${session.form.title} saved.`,
            blocks: [
              { kind: 'section', text: rt`Page ${String(id.page)} of ${String(session.pages.length)} saved: go on with the next page.` },
              { kind: 'actions', id: 'form-pages', buttons: [{ label: 'Next page', action: NEXT_PAGE as never, value: id.key, style: 'primary' }] },
            ],
          }),
        );
        return;
      }
      values = { ...session.values };
      data = session.data;
      const read = handler.read(values);
      if ('errors' in read) {
        // Start again from page 1 with what was typed, and say what to fix.
        res.json(fixIt(Object.values(read.errors).join(' '), restart(session)));
        return;
      }
      // Kept until the submission goes through: a refusal offers the pages again, filled in (see below).
      pagedKey = id.key;
    } else {
      values = readModalSubmit(i.data.components as never);
      data = id.data;
    }
    await answerWithin(deps, i, res, false, async () => {
      const read = handler.read(values);
      // Discord shows no errors under a modal's fields: the person is told which field and why, and fills it in again.
      if ('errors' in read) return { kind: 'usage', message: Object.values(read.errors).join(' ') };
      const checked = handler.data.safeParse(data);
      if (!checked.success) return { kind: 'usage', message: handler.stale };
      const outcome = await runRequest(deps.kernel, log, meta, actor, (a: Actor) => handler.submit({ actor: a, meta, services: deps.services }, checked.data as never, read.input as never));
      const session = pagedKey !== undefined ? sessions.get(pagedKey) : undefined;
      if (!session || outcome.kind === 'reply' || outcome.kind === 'duplicate') {
        if (pagedKey !== undefined) sessions.delete(pagedKey);
        return outcome;
      }
      // Refused (a window in the past, an unknown environment…): Slack keeps its modal open with the problem under the
      // field; here the pages come back filled in with what was typed, behind Fix it, rather than 15 fields lost.
      return { kind: 'answer', response: fixIt(outcome.message, restart(session)) };
    });
    return;
  }
  res.json(ephemeralAnswer(errorMessage(rt`Muster does not handle that kind of interaction.`)));
}

/** Observes the first answer's latency once it has gone out; the answer itself is unchanged. */
function timedRespond(respond: Respond, metrics: Metrics, label: { platform: string; kind: AckKind; id: string }, arrived: number): Respond {
  let observed = false;
  return (r) => {
    const sent = respond(r);
    if (!observed) {
      observed = true;
      const observe = () => metrics.ack.observe(label, (performance.now() - arrived) / 1000);
      void sent.then(observe, observe);
    }
    return sent;
  };
}

/**
 * What an interaction is, as muster_ack_duration_seconds labels it: only names Muster defines (its commands, its
 * message command, the action ids of its buttons, its forms), anything else `other`. Read from the custom_id's head
 * (`<action>:<value>`, `<form>[/<page>]:<data>`) without parsing the rest.
 */
function ackLabel(i: APIInteraction, commands: ReadonlyMap<string, Command<unknown>>): { kind: AckKind; id: string } {
  const head = (customId: string) => customId.slice(0, Math.max(0, customId.indexOf(':')));
  switch (i.type) {
    case InteractionType.Ping:
      return { kind: 'ping', id: 'ping' };
    case InteractionType.ApplicationCommand: {
      const name = i.data.name;
      return { kind: 'command', id: commands.has(name) ? `/${name}` : name === ADD_TO_TIMELINE ? name : 'other' };
    }
    case InteractionType.MessageComponent: {
      const action = head(i.data.custom_id);
      return { kind: 'action', id: Object.hasOwn(BUTTONS, action) || action === NEXT_PAGE ? action : 'other' };
    }
    case InteractionType.ModalSubmit: {
      const form = head(i.data.custom_id).replace(/\/\d+$/, '');
      return { kind: 'form', id: Object.hasOwn(FORMS, form) ? form : 'other' };
    }
    default:
      return { kind: 'other', id: 'other' };
  }
}

/**
 * Runs `work` and answers with its outcome in the response body when it is done in time; otherwise defers (type 5:
 * "thinking…", or 6 for a click, which changes nothing visible) and edits the original response once it is done.
 */
async function answerWithin(
  deps: Omit<DiscordInteractionDeps, 'publicKey'>,
  i: APIInteraction,
  res: { json(r: APIInteractionResponse): void },
  isClick: boolean,
  work: () => Promise<Outcome | Answer>,
): Promise<void> {
  const done = work();
  const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), ANSWER_WITHIN_MS).unref());
  const first = await Promise.race([done, timer]);
  if (first !== 'late') {
    res.json(answerOf(first, isClick, (i.member?.user ?? i.user)?.id ?? ''));
    return;
  }
  res.json(isClick ? { type: InteractionResponseType.DeferredMessageUpdate } : { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } });
  const outcome = await done;
  // A form cannot be opened by editing a deferred answer: only a first response can be a modal.
  const late = outcome.kind === 'reply' && outcome.reply.form ? ephemeralAnswer(errorMessage(rt`That took too long to open the form here: run the command again.`)) : undefined;
  const answer = late ?? answerOf(outcome, isClick);
  if (!('data' in answer) || !answer.data) return;
  const data = answer.data as Record<string, unknown>;
  if (isClick) await deps.rest.post(Routes.webhook(deps.applicationId, i.token), { body: data, auth: false });
  else await deps.rest.patch(Routes.webhookMessage(deps.applicationId, i.token, '@original'), { body: data, auth: false });
}

/** An answer made here rather than from a use case's outcome (Fix it on a refused long form). */
type Answer = { kind: 'answer'; response: APIInteractionResponse };

/** What to fix, and the pages of a long form again, filled in with what was typed, behind a Fix it button. */
function fixIt(message: Text, key: string): APIInteractionResponse {
  return ephemeralAnswer({
    text: message,
    blocks: [
      { kind: 'section', text: rt`${emoji('warning')} ${message}` },
      { kind: 'actions', id: 'form-pages', buttons: [{ label: 'Fix it', action: NEXT_PAGE as never, value: key, style: 'primary' }] },
    ],
  });
}

function answerOf(outcome: Outcome | Answer, isClick: boolean, userOf = ''): APIInteractionResponse {
  switch (outcome.kind) {
    case 'answer':
      return outcome.response;
    case 'reply': {
      if (outcome.reply.form) return openForm(outcome.reply.form, userOf);
      const m = discordMessage(replyMessage(outcome.reply));
      const ephemeral = outcome.reply.visibility !== 'in_channel';
      return { type: InteractionResponseType.ChannelMessageWithSource, data: { ...m, ...(ephemeral ? { flags: MessageFlags.Ephemeral } : {}) } };
    }
    case 'usage':
      return ephemeralAnswer(errorMessage(outcome.message, outcome.usage));
    case 'refused':
    case 'error':
      // errorMessage shows its own warning sign: a click's refusal reads as Slack's (one sign, then the message).
      return ephemeralAnswer(errorMessage(outcome.message));
    case 'duplicate':
      return isClick ? { type: InteractionResponseType.DeferredMessageUpdate } : ephemeralAnswer(errorMessage(rt`That request was already handled.`));
  }
}

function ephemeralAnswer(m: Message): APIInteractionResponse {
  return { type: InteractionResponseType.ChannelMessageWithSource, data: { ...discordMessage(m), flags: MessageFlags.Ephemeral } };
}

export type { Text };
