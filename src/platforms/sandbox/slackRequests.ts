/**
 * Builders for correctly signed Slack requests to a Bolt HTTP endpoint (`/slack/events`).
 *
 *   const req = slashCommand({ command: '/muster', text: 'help', userId: 'U1', responseUrl: fake.responseUrl() });
 *   const res = await post(baseUrl, req, { secret: SIGNING_SECRET });
 *
 * Each builder returns `{ body, contentType }`; `post` signs and sends it.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { APP_ID, BOT_ID, BOT_USER_ID, GENERAL_CHANNEL_ID, TEAM_DOMAIN, TEAM_ID } from './slackWorkspace.ts';

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
export const JSON_CONTENT_TYPE = 'application/json';
/** the legacy verification token Slack puts in every payload (Bolt ignores it) */
export const VERIFICATION_TOKEN = 'fake-verification-token';

export interface SlackRequest {
  body: string;
  contentType: string;
}

export interface SignedHeaders {
  'x-slack-signature': string;
  'x-slack-request-timestamp': string;
  'content-type': string;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** `v0=` + hex(HMAC-SHA256(secret, `v0:${ts}:${body}`)) */
export function signature(secret: string, body: string, ts: number): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;
}

/**
 * Slack's request-signing headers. The content type defaults to JSON when the body looks like JSON,
 * form-urlencoded otherwise.
 */
export function sign(secret: string, body: string, ts: number = nowSeconds(), contentType?: string): SignedHeaders {
  return {
    'x-slack-signature': signature(secret, body, ts),
    'x-slack-request-timestamp': String(ts),
    'content-type': contentType ?? (/^\s*[{[]/.test(body) ? JSON_CONTENT_TYPE : FORM_CONTENT_TYPE),
  };
}

/** a trigger_id shaped like Slack's ("13345224609.738474920.8088930838d88f008e0") */
export function newTriggerId(): string {
  return `${Math.floor(Math.random() * 9e10) + 1e10}.${Math.floor(Math.random() * 9e8) + 1e8}.${randomBytes(16).toString('hex')}`;
}

/** an action_ts / event_ts shaped like Slack's ("1700000000.123456") */
export function slackTs(ms: number = Date.now()): string {
  const micros = Math.floor(ms * 1000) + Math.floor(Math.random() * 1000);
  const sec = Math.floor(micros / 1e6);
  return `${sec}.${String(micros - sec * 1e6).padStart(6, '0')}`;
}

function form(fields: Array<[string, string]>): SlackRequest {
  return { body: new URLSearchParams(fields).toString(), contentType: FORM_CONTENT_TYPE };
}

function payloadForm(payload: Record<string, unknown>): SlackRequest {
  return form([['payload', JSON.stringify(payload)]]);
}

function userObject(userId: string, userName: string | undefined, teamId: string): Record<string, unknown> {
  const name = userName ?? userId.toLowerCase();
  return { id: userId, username: name, name, team_id: teamId };
}

// ---------------------------------------------------------------------------
// Slash commands
// ---------------------------------------------------------------------------

export interface SlashCommandInput {
  command: string;
  text: string;
  userId: string;
  userName?: string;
  teamId?: string;
  teamDomain?: string;
  channelId?: string;
  channelName?: string;
  responseUrl: string;
  triggerId?: string;
  apiAppId?: string;
}

/** a slash command, form-urlencoded exactly as Slack sends it */
export function slashCommand(input: SlashCommandInput): SlackRequest {
  const teamId = input.teamId ?? TEAM_ID;
  const channelId = input.channelId ?? GENERAL_CHANNEL_ID;
  const channelName = input.channelName ?? (channelId === GENERAL_CHANNEL_ID ? 'general' : channelId.startsWith('D') ? 'directmessage' : channelId.toLowerCase());
  return form([
    ['token', VERIFICATION_TOKEN],
    ['team_id', teamId],
    ['team_domain', input.teamDomain ?? TEAM_DOMAIN],
    ['channel_id', channelId],
    ['channel_name', channelName],
    ['user_id', input.userId],
    ['user_name', input.userName ?? input.userId.toLowerCase()],
    ['command', input.command],
    ['text', input.text],
    ['api_app_id', input.apiAppId ?? APP_ID],
    ['is_enterprise_install', 'false'],
    ['response_url', input.responseUrl],
    ['trigger_id', input.triggerId ?? newTriggerId()],
  ]);
}

/**
 * Command text as Slack sends it, with the command's escaping on or off. Tests write the escaped form, which is
 * what Slack sends with `should_escape: true` (the "Escape channels, users, and links sent to your app" box,
 * https://docs.slack.dev/interactivity/implementing-slash-commands): a person picked from autocomplete arrives
 * as `<@U…|name>`, a channel as `<#C…|name>`, `@here` as `<!here>`, a user group as `<!subteam^S…|@handle>`,
 * a link as `<https://…|label>` and an address as `<mailto:a@b.example|a@b.example>`. With escaping off, Slack
 * sends none of that markup, only what the person saw: `@name`, `#name`, `@here`, `@handle`, the link's text.
 * `userName` names a person whose mention carries no label.
 */
export function commandText(escaped: string, escaping: 'on' | 'off', userName?: (id: string) => string | undefined): string {
  if (escaping === 'on') return escaped;
  return escaped.replace(/<([^<>]*)>/g, (_whole, body: string) => {
    const bar = body.indexOf('|');
    const target = bar < 0 ? body : body.slice(0, bar);
    const label = bar < 0 ? undefined : body.slice(bar + 1);
    if (target.startsWith('@')) return `@${label ?? userName?.(target.slice(1)) ?? target.slice(1)}`;
    if (target.startsWith('#')) return `#${label ?? target.slice(1)}`;
    if (target.startsWith('!')) return label ?? `@${target.slice(1).split('^')[0]}`;
    if (target.startsWith('mailto:')) return label ?? target.slice('mailto:'.length);
    return label ?? target;
  });
}

// ---------------------------------------------------------------------------
// Interactivity
// ---------------------------------------------------------------------------

export interface BlockActionInput {
  actionId: string;
  /** button value; for selects use `selectedOption` */
  value?: string;
  blockId?: string;
  userId: string;
  userName?: string;
  teamId?: string;
  channelId?: string;
  channelName?: string;
  /** ts of the message holding the button (defaults to a fresh ts when channelId is given) */
  messageTs?: string;
  /** text/blocks of that message (what Slack echoes back in `message`) */
  message?: { text?: string; blocks?: unknown[]; user?: string; thread_ts?: string };
  isEphemeral?: boolean;
  /** when the action happens inside a modal / home tab instead of a message */
  view?: { id: string; type?: 'modal' | 'home'; callback_id?: string; private_metadata?: string; hash?: string; blocks?: unknown[]; root_view_id?: string; previous_view_id?: string | null };
  responseUrl?: string;
  triggerId?: string;
  /** element type; default 'button' ('static_select' when selectedOption is given) */
  actionType?: string;
  selectedOption?: { value: string; text?: string };
  /** what a users_select, datepicker or timepicker chose (echoed as Slack does) */
  selectedUser?: string;
  selectedDate?: string;
  selectedTime?: string;
  /** button label echoed in the action */
  text?: string;
  /** state.values of the surface */
  stateValues?: Record<string, Record<string, unknown>>;
  apiAppId?: string;
}

/** a `block_actions` interaction, as `payload=<urlencoded JSON>` */
export function blockAction(input: BlockActionInput): SlackRequest {
  const teamId = input.teamId ?? TEAM_ID;
  const actionTs = slackTs();
  const type = input.actionType ?? (input.selectedOption ? 'static_select' : 'button');
  const action: Record<string, unknown> = {
    action_id: input.actionId,
    block_id: input.blockId ?? 'actions',
    type,
    action_ts: actionTs,
  };
  if (type === 'button') action.text = { type: 'plain_text', text: input.text ?? input.actionId, emoji: true };
  if (input.value !== undefined) action.value = input.value;
  if (input.selectedOption) {
    action.selected_option = {
      text: { type: 'plain_text', text: input.selectedOption.text ?? input.selectedOption.value, emoji: true },
      value: input.selectedOption.value,
    };
  }
  if (input.selectedUser !== undefined) action.selected_user = input.selectedUser;
  if (input.selectedDate !== undefined) action.selected_date = input.selectedDate;
  if (input.selectedTime !== undefined) action.selected_time = input.selectedTime;

  const payload: Record<string, unknown> = {
    type: 'block_actions',
    user: userObject(input.userId, input.userName, teamId),
    api_app_id: input.apiAppId ?? APP_ID,
    token: VERIFICATION_TOKEN,
    trigger_id: input.triggerId ?? newTriggerId(),
    team: { id: teamId, domain: TEAM_DOMAIN },
    enterprise: null,
    is_enterprise_install: false,
    state: { values: input.stateValues ?? {} },
    actions: [action],
  };

  if (input.view) {
    const v = input.view;
    payload.container = { type: 'view', view_id: v.id };
    payload.view = {
      id: v.id,
      team_id: teamId,
      type: v.type ?? 'modal',
      blocks: v.blocks ?? [],
      private_metadata: v.private_metadata ?? '',
      callback_id: v.callback_id ?? '',
      state: { values: input.stateValues ?? {} },
      hash: v.hash ?? `${nowSeconds()}.abcdef12`,
      previous_view_id: v.previous_view_id ?? null,
      root_view_id: v.root_view_id ?? v.id,
      app_id: input.apiAppId ?? APP_ID,
      external_id: '',
      app_installed_team_id: teamId,
      bot_id: BOT_ID,
    };
  } else if (input.channelId) {
    const messageTs = input.messageTs ?? slackTs();
    payload.container = {
      type: 'message',
      message_ts: messageTs,
      channel_id: input.channelId,
      is_ephemeral: input.isEphemeral ?? false,
      ...(input.message?.thread_ts ? { thread_ts: input.message.thread_ts } : {}),
    };
    payload.channel = { id: input.channelId, name: input.channelName ?? (input.channelId === GENERAL_CHANNEL_ID ? 'general' : input.channelId.toLowerCase()) };
    if (!input.isEphemeral) {
      payload.message = {
        type: 'message',
        user: input.message?.user ?? BOT_USER_ID,
        ts: messageTs,
        bot_id: BOT_ID,
        app_id: input.apiAppId ?? APP_ID,
        text: input.message?.text ?? '',
        team: teamId,
        blocks: input.message?.blocks ?? [],
        ...(input.message?.thread_ts ? { thread_ts: input.message.thread_ts } : {}),
      };
    }
  }
  if (input.responseUrl !== undefined) payload.response_url = input.responseUrl;
  return payloadForm(payload);
}

export interface ViewSubmissionInput {
  callbackId: string;
  privateMetadata?: string;
  /** `view.state.values`: { [blockId]: { [actionId]: { type, value | selected_option | ... } } } — see the value helpers below */
  values: Record<string, Record<string, unknown>>;
  userId: string;
  userName?: string;
  teamId?: string;
  viewId?: string;
  blocks?: unknown[];
  title?: string;
  hash?: string;
  rootViewId?: string;
  previousViewId?: string | null;
  externalId?: string;
  triggerId?: string;
  /** `response_urls` (only with response_url_enabled inputs) */
  responseUrls?: Array<{ block_id: string; action_id: string; channel_id: string; response_url: string }>;
  apiAppId?: string;
}

function viewObject(input: ViewSubmissionInput, teamId: string, viewId: string): Record<string, unknown> {
  return {
    id: viewId,
    team_id: teamId,
    type: 'modal',
    blocks: input.blocks ?? [],
    private_metadata: input.privateMetadata ?? '',
    callback_id: input.callbackId,
    state: { values: input.values },
    hash: input.hash ?? `${nowSeconds()}.abcdef12`,
    title: { type: 'plain_text', text: input.title ?? 'Muster', emoji: true },
    clear_on_close: false,
    notify_on_close: false,
    close: { type: 'plain_text', text: 'Cancel', emoji: true },
    submit: { type: 'plain_text', text: 'Submit', emoji: true },
    previous_view_id: input.previousViewId ?? null,
    root_view_id: input.rootViewId ?? viewId,
    app_id: input.apiAppId ?? APP_ID,
    external_id: input.externalId ?? '',
    app_installed_team_id: teamId,
    bot_id: BOT_ID,
  };
}

/** a `view_submission` interaction, as `payload=<urlencoded JSON>` */
export function viewSubmission(input: ViewSubmissionInput): SlackRequest {
  const teamId = input.teamId ?? TEAM_ID;
  const viewId = input.viewId ?? `V${randomBytes(5).toString('hex').toUpperCase()}`;
  return payloadForm({
    type: 'view_submission',
    team: { id: teamId, domain: TEAM_DOMAIN },
    user: userObject(input.userId, input.userName, teamId),
    api_app_id: input.apiAppId ?? APP_ID,
    token: VERIFICATION_TOKEN,
    trigger_id: input.triggerId ?? newTriggerId(),
    view: viewObject(input, teamId, viewId),
    response_urls: input.responseUrls ?? [],
    is_enterprise_install: false,
    enterprise: null,
  });
}

/** a `view_closed` interaction (sent only when the view had notify_on_close) */
export function viewClosed(input: Omit<ViewSubmissionInput, 'values'> & { values?: Record<string, Record<string, unknown>> }): SlackRequest {
  const teamId = input.teamId ?? TEAM_ID;
  const viewId = input.viewId ?? `V${randomBytes(5).toString('hex').toUpperCase()}`;
  return payloadForm({
    type: 'view_closed',
    team: { id: teamId, domain: TEAM_DOMAIN },
    user: userObject(input.userId, input.userName, teamId),
    api_app_id: input.apiAppId ?? APP_ID,
    token: VERIFICATION_TOKEN,
    view: viewObject({ ...input, values: input.values ?? {} }, teamId, viewId),
    is_cleared: false,
    is_enterprise_install: false,
    enterprise: null,
  });
}

// state.values entry helpers ------------------------------------------------

export const stateValue = {
  plainText: (value: string | null): Record<string, unknown> => ({ type: 'plain_text_input', value }),
  staticSelect: (value: string | null, text?: string): Record<string, unknown> => ({
    type: 'static_select',
    selected_option: value === null ? null : { text: { type: 'plain_text', text: text ?? value, emoji: true }, value },
  }),
  radio: (value: string | null, text?: string): Record<string, unknown> => ({
    type: 'radio_buttons',
    selected_option: value === null ? null : { text: { type: 'plain_text', text: text ?? value, emoji: true }, value },
  }),
  checkboxes: (values: string[]): Record<string, unknown> => ({
    type: 'checkboxes',
    selected_options: values.map((v) => ({ text: { type: 'plain_text', text: v, emoji: true }, value: v })),
  }),
  usersSelect: (userId: string | null): Record<string, unknown> => ({ type: 'users_select', selected_user: userId }),
  multiUsersSelect: (userIds: string[]): Record<string, unknown> => ({ type: 'multi_users_select', selected_users: userIds }),
  conversationsSelect: (channelId: string | null): Record<string, unknown> => ({ type: 'conversations_select', selected_conversation: channelId }),
  datepicker: (date: string | null): Record<string, unknown> => ({ type: 'datepicker', selected_date: date }),
  timepicker: (time: string | null): Record<string, unknown> => ({ type: 'timepicker', selected_time: time }),
};

// ---------------------------------------------------------------------------
// Events API
// ---------------------------------------------------------------------------

export interface EventCallbackInput {
  event: Record<string, unknown>;
  teamId?: string;
  eventId?: string;
  /** seconds */
  eventTime?: number;
  apiAppId?: string;
}

/** an Events API `event_callback` envelope (JSON) */
export function eventCallback(input: EventCallbackInput): SlackRequest {
  const teamId = input.teamId ?? TEAM_ID;
  const eventTime = input.eventTime ?? nowSeconds();
  const event = { ...input.event };
  if (event.event_ts === undefined) event.event_ts = typeof event.ts === 'string' ? event.ts : slackTs(eventTime * 1000);
  const body = {
    token: VERIFICATION_TOKEN,
    team_id: teamId,
    context_team_id: teamId,
    context_enterprise_id: null,
    api_app_id: input.apiAppId ?? APP_ID,
    event,
    type: 'event_callback',
    event_id: input.eventId ?? `Ev${randomBytes(5).toString('hex').toUpperCase()}`,
    event_time: eventTime,
    authorizations: [{ enterprise_id: null, team_id: teamId, user_id: BOT_USER_ID, is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
    event_context: `4-${randomBytes(12).toString('base64url')}`,
  };
  return { body: JSON.stringify(body), contentType: JSON_CONTENT_TYPE };
}

/** the `url_verification` handshake (JSON) */
export function urlVerification(challenge: string): SlackRequest {
  return { body: JSON.stringify({ token: VERIFICATION_TOKEN, challenge, type: 'url_verification' }), contentType: JSON_CONTENT_TYPE };
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

export interface PostOptions {
  secret: string;
  retryNum?: number;
  retryReason?: string;
  /** signing timestamp (seconds); default now. Older than 5 minutes → Bolt answers 401 */
  ts?: number;
  /** sign with a wrong secret → Bolt answers 401 */
  badSignature?: boolean;
  /** path appended to baseUrl; default '/slack/events' ('' if baseUrl already ends with it) */
  path?: string;
  /** override the content type (e.g. to check that `; charset=utf-8` is rejected) */
  contentType?: string;
  headers?: Record<string, string>;
  /** abort after this many ms (default 10 000) */
  timeoutMs?: number;
}

export interface PostResult {
  status: number;
  body: string;
  json?: unknown;
  headers: Record<string, string>;
}

/** sign `request` and POST it to `${baseUrl}/slack/events` */
export async function post(baseUrl: string, request: SlackRequest, opts: PostOptions): Promise<PostResult> {
  const base = baseUrl.replace(/\/+$/, '');
  const path = opts.path ?? (base.endsWith('/slack/events') ? '' : '/slack/events');
  const ts = opts.ts ?? nowSeconds();
  const signed = sign(opts.badSignature ? `${opts.secret}-wrong` : opts.secret, request.body, ts, opts.contentType ?? request.contentType);
  const headers: Record<string, string> = { ...signed, ...(opts.headers ?? {}) };
  if (opts.retryNum !== undefined) headers['x-slack-retry-num'] = String(opts.retryNum);
  if (opts.retryReason !== undefined) headers['x-slack-retry-reason'] = opts.retryReason;
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers,
    body: request.body,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const body = await res.text();
  let json: unknown;
  if (body !== '') {
    try {
      json = JSON.parse(body) as unknown;
    } catch {
      json = undefined;
    }
  }
  return {
    status: res.status,
    body,
    ...(json !== undefined ? { json } : {}),
    headers: Object.fromEntries(res.headers.entries()),
  };
}
