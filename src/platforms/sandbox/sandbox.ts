import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Env } from '../../config/env.ts';
import { WorkspaceFile } from './persist.ts';
import { SANDBOX_ADMIN, SANDBOX_CHANNELS, SANDBOX_PEOPLE } from './people.ts';
import { Recorder } from './record.ts';
import { blockAction, eventCallback, post, slashCommand, viewClosed, viewSubmission, type SlackRequest } from './slackRequests.ts';
import { BOT_USER_ID, FakeSlack, GENERAL_CHANNEL_ID, TEAM_DOMAIN, TEAM_ID, TEAM_NAME, type FakeMessage, type Json, type WorkspaceChange } from './slackWorkspace.ts';

/** Slash commands the app declares in manifest.yml; anything else is answered as Slack answers an unknown command. */
export const SANDBOX_COMMANDS = ['/incident', '/approval', '/change', '/muster'] as const;

/** Slack gives an app 3 seconds to acknowledge a command or an interaction (https://docs.slack.dev/interactivity/handling-user-interaction). */
const ACK_DEADLINE_MS = 3_000;

export interface SandboxOptions {
  /** data/sandbox: the workspace's own SQLite file and Muster's database */
  dataDir: string;
  /** start fresh: remove dataDir first */
  reset?: boolean;
  /** write every request and Web API call to this file */
  record?: string | undefined;
  /** grant the people their roles on a fresh workspace (default true; a replay plays the recorded grants instead) */
  grant?: boolean;
  log: Logger;
}

/** Something a person did in the web app, as the sandbox replays it (`--replay`). */
export type PersonAction =
  | { op: 'command'; user: string; channel: string; text: string }
  | { op: 'message'; user: string; channel: string; text: string }
  | { op: 'action'; user: string; channel?: string; ts?: string; viewId?: string; action: ActionInput }
  | { op: 'submit'; user: string; viewId: string; values: Record<string, Record<string, unknown>> }
  | { op: 'close'; user: string; viewId: string }
  | { op: 'react'; user: string; channel: string; ts: string; name: string; remove?: boolean }
  | { op: 'pin'; user: string; channel: string; ts: string; remove?: boolean }
  | { op: 'home'; user: string };

/** An interactive element the person used, from the data attributes the renderer puts on it. */
export interface ActionInput {
  type: string;
  action_id: string;
  block_id: string;
  value?: string;
  text?: string;
  selected_option?: { value: string; text?: string };
  selected_user?: string;
  selected_date?: string;
  selected_time?: string;
}

export interface Outcome {
  ok: boolean;
  /** what the person is told when it did not work (Slack's own words where it has them) */
  error?: string;
  /** a modal's errors, by block id */
  errors?: Record<string, string>;
}

/**
 * The built-in workspace: the Slack stand-in (slackWorkspace.ts) serving Muster's Web API calls over HTTP, its state
 * kept in data/sandbox/workspace.db, and the part of Slack that turns what a person does into signed requests to
 * Muster's POST /slack/events — slash commands, button clicks, modal submissions, events — exactly as Slack sends
 * them. Muster runs unchanged against it: the same Bolt app, port, outbox and services as in production.
 */
export class Sandbox {
  readonly secret = randomBytes(24).toString('hex');
  readonly botToken = 'xoxb-sandbox';
  readonly databaseUrl: string;
  /** true when the workspace was created by this start (roles are then granted) */
  readonly fresh: boolean;
  private musterUrl: string | undefined;
  private readonly listeners = new Set<(change: WorkspaceChange) => void>();
  private recorder: Recorder | undefined;

  private constructor(
    readonly workspace: FakeSlack,
    private readonly file: WorkspaceFile,
    private readonly o: SandboxOptions,
    fresh: boolean,
  ) {
    this.fresh = fresh;
    this.databaseUrl = `file:${join(o.dataDir, 'muster.db')}`;
    workspace.onChange((c) => {
      if (c.kind !== 'call' || c.applied) this.file.saveSoon(() => workspace.snapshot());
      this.recorder?.call(c);
      if (c.kind === 'call' && c.applied && c.method === 'conversations.invite') this.announceJoins(c);
      for (const l of this.listeners) l(c);
    });
  }

  static async open(o: SandboxOptions): Promise<Sandbox> {
    if (o.reset) rmSync(o.dataDir, { recursive: true, force: true });
    mkdirSync(o.dataDir, { recursive: true });
    const file = new WorkspaceFile(join(o.dataDir, 'workspace.db'));
    const workspace = await FakeSlack.start({ maxHistory: 2_000 });
    const saved = file.load();
    const fresh = saved === undefined || !existsSync(join(o.dataDir, 'muster.db'));
    if (saved && !fresh) workspace.restore(saved);
    else seedWorkspace(workspace);
    file.save(workspace.snapshot());
    const sandbox = new Sandbox(workspace, file, o, fresh);
    if (o.record) sandbox.recorder = await Recorder.start(o.record, workspace.snapshot(), sandbox.databaseUrl);
    return sandbox;
  }

  /** Muster's environment in the sandbox: the workspace's API, a signing secret of this run, its own database. */
  env(base: Env): Env {
    return {
      ...base,
      SLACK_BOT_TOKEN: this.botToken,
      SLACK_SIGNING_SECRET: this.secret,
      SLACK_APP_TOKEN: undefined,
      SLACK_API_URL: this.workspace.url,
      DATABASE_URL: this.databaseUrl,
      MUSTER_ADMINS: [...new Set([...base.MUSTER_ADMINS, SANDBOX_ADMIN])],
      // The workspace enforces no rate tiers: pacing would only slow the page down. MUSTER_SLACK_PACING still wins.
      MUSTER_SLACK_PACING: process.env.MUSTER_SLACK_PACING ? base.MUSTER_SLACK_PACING : false,
    };
  }

  /** Muster is listening at `url`; on a fresh workspace the admin grants each person their roles. */
  async attach(url: string): Promise<void> {
    this.musterUrl = url;
    if (!this.fresh || this.o.grant === false) return;
    for (const p of SANDBOX_PEOPLE) {
      for (const role of p.roles) {
        const r = await this.perform({ op: 'command', user: SANDBOX_ADMIN, channel: GENERAL_CHANNEL_ID, text: `/muster grant ${role} @${p.name}` });
        if (!r.ok) this.o.log.warn({ role, user: p.id, error: r.error }, 'sandbox: granting a role failed');
      }
    }
  }

  onChange(listener: (change: WorkspaceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.recorder?.close();
    this.file.close();
    await this.workspace.close();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // What a person does
  // ---------------------------------------------------------------------------------------------------------------

  async perform(a: PersonAction): Promise<Outcome> {
    const user = this.workspace.user(a.user);
    if (!user || user.is_bot) return { ok: false, error: `no such person: ${a.user}` };
    this.recorder?.action(a);
    switch (a.op) {
      case 'command':
        return this.command(a.user, a.channel, a.text);
      case 'message':
        return this.message(a.user, a.channel, a.text);
      case 'action':
        return this.action(a);
      case 'submit':
        return this.submit(a.user, a.viewId, a.values);
      case 'close':
        return this.closeModal(a.user, a.viewId);
      case 'react':
        return this.react(a);
      case 'pin':
        return this.pin(a);
      case 'home':
        return this.send(eventCallback({ event: { type: 'app_home_opened', user: a.user, channel: this.imOf(a.user), tab: 'home' } }));
    }
  }

  private async command(userId: string, channel: string, typed: string): Promise<Outcome> {
    const m = /^(\/[a-z0-9_-]+)(?:\s+([\s\S]*))?$/i.exec(typed.trim());
    if (!m) return { ok: false, error: 'A command starts with / and its name, e.g. /incident help' };
    const command = m[1]!.toLowerCase();
    const ch = this.workspace.channel(channel);
    if (!ch) return { ok: false, error: `no such channel: ${channel}` };
    if (!(SANDBOX_COMMANDS as readonly string[]).includes(command)) {
      // Slack's own answer to a command no app declares.
      this.workspace.addEphemeral(ch.id, userId, { text: `${command} is not a valid command. In Slack, all messages that start with the "/" character are interpreted as commands.` });
      return { ok: true };
    }
    const text = this.escapeCommandText(m[2] ?? '');
    const user = this.workspace.user(userId)!;
    const responseUrl = this.workspace.responseUrl(undefined, { channel: ch.id, user: userId });
    const req = slashCommand({
      command,
      text,
      userId,
      userName: user.name,
      channelId: ch.id,
      channelName: ch.is_im ? 'directmessage' : ch.name,
      responseUrl,
      triggerId: this.workspace.trigger(userId),
    });
    const r = await this.send(req, (ack) => {
      // The acknowledgement's body is the immediate answer: ephemeral unless response_type is in_channel.
      if (!ack || (typeof ack.text !== 'string' && !Array.isArray(ack.blocks))) return;
      const content = { ...(typeof ack.text === 'string' ? { text: ack.text } : {}), ...(Array.isArray(ack.blocks) ? { blocks: ack.blocks } : {}) };
      if (ack.response_type === 'in_channel') this.workspace.addMessage(ch.id, { ...content, user: BOT_USER_ID });
      else this.workspace.addEphemeral(ch.id, userId, content);
      this.workspace.changedBySeed();
    });
    // Slack's words when an app does not answer a command in time or answers with an error.
    if (!r.ok) this.workspace.addEphemeral(ch.id, userId, { text: `${command} failed with the error "${r.error}"` });
    return r;
  }

  /**
   * Command text as Slack sends it with "Escape channels, users, and links" on (manifest.yml `should_escape: true`):
   * &, < and > escaped; a person picked from autocomplete as `<@U…|name>` (here: `@name` of a workspace member), a
   * channel as `<#C…|name>`, @here/@channel/@everyone as `<!here>`…, links as `<https://…>`
   * (https://docs.slack.dev/interactivity/implementing-slash-commands, "Escaping").
   */
  escapeCommandText(typed: string): string {
    const escaped = typed.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return escaped.replace(/(^|[\s(])(@[a-z0-9._-]+|#[a-z0-9_-]+|https?:\/\/[^\s<>]+)/gi, (whole, lead: string, token: string) => {
      if (token.startsWith('@')) {
        const name = token.slice(1).toLowerCase();
        if (name === 'here' || name === 'channel' || name === 'everyone') return `${lead}<!${name}>`;
        const u = this.workspace.allUsers().find((x) => !x.deleted && (x.name === name || x.id.toLowerCase() === name));
        return u ? `${lead}<@${u.id}|${u.name}>` : whole;
      }
      if (token.startsWith('#')) {
        const c = this.workspace.channelByName(token.slice(1).toLowerCase());
        return c ? `${lead}<#${c.id}|${c.name}>` : whole;
      }
      return `${lead}<${token}>`;
    });
  }

  private async message(userId: string, channel: string, text: string): Promise<Outcome> {
    const trimmed = text.trim();
    if (!trimmed) return { ok: false, error: 'Type a message first' };
    const r = await this.api(userId, 'chat.postMessage', { channel, text: this.escapeCommandText(trimmed) });
    if (!r.ok) return { ok: false, error: String(r.error) };
    const ch = this.workspace.channel(String(r.channel))!;
    const msg = this.workspace.message(ch.id, String(r.ts));
    // message.channels / message.groups (manifest.yml bot_events) for channels the app is in.
    if (ch.members.includes(BOT_USER_ID) && !ch.is_im) {
      await this.send(eventCallback({ event: { type: 'message', channel: ch.id, user: userId, text: msg?.text ?? '', ts: String(r.ts), channel_type: ch.is_private ? 'group' : 'channel' } }));
    }
    return { ok: true };
  }

  private async action(a: Extract<PersonAction, { op: 'action' }>): Promise<Outcome> {
    const user = this.workspace.user(a.user)!;
    const common = {
      actionId: a.action.action_id,
      blockId: a.action.block_id,
      userId: a.user,
      userName: user.name,
      actionType: a.action.type,
      ...(a.action.value !== undefined ? { value: a.action.value } : {}),
      ...(a.action.text !== undefined ? { text: a.action.text } : {}),
      ...(a.action.selected_option ? { selectedOption: a.action.selected_option } : {}),
      ...(a.action.selected_user ? { selectedUser: a.action.selected_user } : {}),
      ...(a.action.selected_date ? { selectedDate: a.action.selected_date } : {}),
      ...(a.action.selected_time ? { selectedTime: a.action.selected_time } : {}),
      triggerId: this.workspace.trigger(a.user),
    };
    let req: SlackRequest;
    if (a.viewId) {
      const v = this.workspace.view(a.viewId);
      if (!v) return { ok: false, error: 'That view is gone' };
      req = blockAction({
        ...common,
        view: {
          id: v.id,
          type: v.type,
          callback_id: v.callback_id,
          private_metadata: v.private_metadata,
          hash: v.hash,
          blocks: v.blocks,
          root_view_id: v.root_view_id,
          previous_view_id: v.previous_view_id,
        },
      });
    } else {
      if (!a.channel || !a.ts) return { ok: false, error: 'An action needs its message' };
      const ch = this.workspace.channel(a.channel);
      if (!ch) return { ok: false, error: `no such channel: ${a.channel}` };
      const msg = this.workspace.message(ch.id, a.ts);
      const ephemeral = msg ? undefined : this.workspace.ephemerals(a.user).find((e) => e.channel === ch.id && e.message_ts === a.ts);
      if (!msg && !ephemeral) return { ok: false, error: 'That message is gone' };
      req = blockAction({
        ...common,
        channelId: ch.id,
        channelName: ch.is_im ? 'directmessage' : ch.name,
        messageTs: a.ts,
        isEphemeral: ephemeral !== undefined,
        ...(msg ? { message: { text: msg.text, blocks: msg.blocks ?? [], ...(msg.user ? { user: msg.user } : {}), ...(msg.thread_ts ? { thread_ts: msg.thread_ts } : {}) } } : {}),
        responseUrl: this.workspace.responseUrl(undefined, { channel: ch.id, user: a.user, ...(msg ? { messageTs: msg.ts } : {}) }),
      });
    }
    return this.send(req);
  }

  private async submit(userId: string, viewId: string, values: Record<string, Record<string, unknown>>): Promise<Outcome> {
    const v = this.workspace.view(viewId);
    if (!v || v.closed || v.user_id !== userId) return { ok: false, error: 'That form is no longer open' };
    const user = this.workspace.user(userId)!;
    const req = viewSubmission({
      callbackId: v.callback_id,
      privateMetadata: v.private_metadata,
      values,
      userId,
      userName: user.name,
      viewId: v.id,
      blocks: v.blocks,
      hash: v.hash,
      rootViewId: v.root_view_id,
      previousViewId: v.previous_view_id,
      externalId: v.external_id,
      triggerId: this.workspace.trigger(userId),
      ...(typeof (v.title as { text?: unknown } | undefined)?.text === 'string' ? { title: (v.title as { text: string }).text } : {}),
    });
    let shown: Record<string, string> | undefined;
    const r = await this.send(req, (ack) => {
      shown = this.workspace.applySubmissionAck(v.id, ack).errors;
    });
    if (!r.ok) return r;
    return shown ? { ok: false, errors: shown, error: 'Please correct the fields marked' } : { ok: true };
  }

  private async closeModal(userId: string, viewId: string): Promise<Outcome> {
    const v = this.workspace.view(viewId);
    if (!v || v.user_id !== userId) return { ok: true };
    this.workspace.closeView(v.id, v.clear_on_close);
    // view_closed only for views opened with notify_on_close (https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload).
    if (!v.notify_on_close) return { ok: true };
    const user = this.workspace.user(userId)!;
    return this.send(viewClosed({ callbackId: v.callback_id, privateMetadata: v.private_metadata, userId, userName: user.name, viewId: v.id, blocks: v.blocks, hash: v.hash }));
  }

  private async react(a: Extract<PersonAction, { op: 'react' }>): Promise<Outcome> {
    const r = await this.api(a.user, a.remove ? 'reactions.remove' : 'reactions.add', { channel: a.channel, timestamp: a.ts, name: a.name });
    if (!r.ok) return { ok: false, error: String(r.error) };
    const msg = this.workspace.message(a.channel, a.ts);
    return this.send(
      eventCallback({
        event: {
          type: a.remove ? 'reaction_removed' : 'reaction_added',
          user: a.user,
          reaction: a.name,
          item: { type: 'message', channel: a.channel, ts: a.ts },
          ...(msg?.user ? { item_user: msg.user } : {}),
        },
      }),
    );
  }

  private async pin(a: Extract<PersonAction, { op: 'pin' }>): Promise<Outcome> {
    const r = await this.api(a.user, a.remove ? 'pins.remove' : 'pins.add', { channel: a.channel, timestamp: a.ts });
    if (!r.ok) return { ok: false, error: String(r.error) };
    const msg = this.workspace.message(a.channel, a.ts);
    return this.send(
      eventCallback({
        event: {
          type: a.remove ? 'pin_removed' : 'pin_added',
          user: a.user,
          channel_id: a.channel,
          item: { type: 'message', channel: a.channel, created: Math.floor(Date.now() / 1000), created_by: a.user, message: msg ? messageJson(msg) : { ts: a.ts } },
        },
      }),
    );
  }

  /** member_joined_channel for each person Muster invited (manifest.yml bot_events), as Slack sends it. */
  private announceJoins(c: WorkspaceChange): void {
    const channel = String(c.args?.channel ?? '');
    const users = String(c.args?.users ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean);
    for (const u of users) {
      void this.send(eventCallback({ event: { type: 'member_joined_channel', user: u, channel, channel_type: 'C', team: TEAM_ID, inviter: BOT_USER_ID } })).then((r) => {
        if (!r.ok) this.o.log.warn({ channel, user: u, error: r.error }, 'sandbox: member_joined_channel not delivered');
      });
    }
  }

  private imOf(userId: string): string {
    return this.workspace.imChannelId(userId) ?? this.workspace.openImFor(userId).id;
  }

  /** A Web API call made as the person (their user token), over HTTP like any client. */
  private async api(userId: string, method: string, args: Json): Promise<Json> {
    const res = await fetch(`${this.workspace.url}${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${personToken(userId)}`, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify(args),
    });
    return (await res.json()) as Json;
  }

  /** Signs a request with this run's secret and posts it to Muster, as Slack does; `onAck` sees the answer's body. */
  private async send(req: SlackRequest, onAck?: (ack: Json | undefined) => void): Promise<Outcome> {
    if (!this.musterUrl) return { ok: false, error: 'Muster is not up yet' };
    const started = Date.now();
    let outcome: Outcome;
    let status = 0;
    let ackBody = '';
    try {
      const r = await post(this.musterUrl, req, { secret: this.secret, timeoutMs: ACK_DEADLINE_MS });
      status = r.status;
      ackBody = r.body;
      if (r.status !== 200) outcome = { ok: false, error: 'dispatch_failed' };
      else {
        onAck?.(r.json && typeof r.json === 'object' ? (r.json as Json) : undefined);
        outcome = { ok: true };
      }
    } catch (e) {
      outcome = { ok: false, error: (e as Error).name === 'TimeoutError' ? 'operation_timeout' : 'dispatch_failed' };
    }
    this.recorder?.request(req, status, ackBody, Date.now() - started);
    return outcome;
  }
}

export function personToken(userId: string): string {
  return `xoxp-sandbox-${userId}`;
}

function messageJson(m: FakeMessage): Json {
  const { deleted: _deleted, ...rest } = m;
  return rest as unknown as Json;
}

function seedWorkspace(w: FakeSlack): void {
  for (const p of SANDBOX_PEOPLE) {
    w.addUser({ id: p.id, name: p.name, real_name: p.real_name ?? p.name, email: `${p.name}@sandbox.example`, is_admin: p.id === SANDBOX_ADMIN });
    w.addToken(personToken(p.id), p.id);
  }
  const everyone = SANDBOX_PEOPLE.map((p) => p.id);
  for (const c of SANDBOX_CHANNELS) w.addChannel({ name: c.name, purpose: c.purpose, members: [...everyone, BOT_USER_ID], creator: SANDBOX_ADMIN });
  w.changedBySeed();
}

export const SANDBOX_TEAM = { id: TEAM_ID, name: TEAM_NAME, domain: TEAM_DOMAIN };
