/**
 * Slack Web API error codes for every method Muster calls, each sorted by what another try can do.
 *
 * - `permanent`: the same call cannot succeed on another try: a person has to change something first (invite the
 *   bot, grant a scope, unarchive the channel, fix the payload).
 * - `transient`: Slack's own trouble or a state that passes (a migration in progress); another try may succeed.
 * - `rate_limited`: Slack asks us to slow down; retry after a pause (Retry-After when Slack sends one).
 * - `benign`: Muster treats the error as success for that method (the thing it asked for is already so).
 * - `conflict`: the target exists in another state; the caller resolves it (conversations.create: next free name).
 *
 * Sources. Each method's codes are the Errors table of its reference page (`url`, formerly `legacyUrl`). The search
 * corpus holds those pages only in part, so the tables were read from machine-readable copies:
 * - `errors`: the page as Slack publishes it now, machine-readable at
 *   https://docs.slack.dev/reference/methods/<m>.json and mirrored by github.com/slack-ruby/slack-api-ref
 *   (docs.slack.dev/methods/<m>.json, commit f4837c0, 2026-08-20; the files of these methods last refreshed between
 *   2025-09-18 and 2026-08-01). The corpus copies that show a table agree: the docs.slack.dev page of
 *   conversations.archive, the api.slack.com page of usergroups.users.list, and hex.pm's slack_kit 1.0.0-alpha.0 copy
 *   of the docs.slack.dev data (conversations.invite, pins.add, views.publish, files.getUploadURLExternal).
 * - `formerly`: codes only earlier versions of the page listed: the api.slack.com page as scraped into the same
 *   repository (methods/<group>/<m>.json; "api.slack.com 2025-05" is commit efc18e2, 2025-05-02, the last scrape
 *   before the move to docs.slack.dev; older dates are earlier commits of that file), and Slack's OpenAPI spec
 *   (github.com/slackapi/slack-api-specs web-api/slack_web_openapi_v2.json, commit bc08db4; content of 2020-10, no
 *   longer maintained). Slack may still answer with them, so they are classified too.
 * - the common table below: codes every method can return (see there).
 */

export type SlackErrorClass = 'permanent' | 'transient' | 'benign' | 'conflict' | 'rate_limited';

export interface SlackMethodErrors {
  /** The method's reference page, whose Errors table lists the codes. */
  readonly url: string;
  /** The same page before Slack moved its docs to docs.slack.dev. */
  readonly legacyUrl: string;
  /** The codes the current page lists for this method. */
  readonly errors: Readonly<Record<string, SlackErrorClass>>;
  /** Codes earlier versions of the page (or Slack's 2020 OpenAPI spec) listed and the current one does not. */
  readonly formerly?: Readonly<Record<string, SlackErrorClass>>;
}

/** The Web API methods Muster calls (src/platforms/slack, src/muster.ts, src/cliAudit.ts, and the test fake). */
export type SlackMethod =
  | 'chat.postMessage'
  | 'chat.update'
  | 'chat.postEphemeral'
  | 'chat.getPermalink'
  | 'conversations.open'
  | 'conversations.create'
  | 'conversations.invite'
  | 'conversations.setTopic'
  | 'conversations.archive'
  | 'conversations.history'
  | 'conversations.replies'
  | 'conversations.list'
  | 'conversations.info'
  | 'pins.add'
  | 'pins.list'
  | 'reactions.get'
  | 'bookmarks.add'
  | 'bookmarks.list'
  | 'views.publish'
  | 'views.open'
  | 'files.getUploadURLExternal'
  | 'files.completeUploadExternal'
  | 'files.list'
  | 'usergroups.users.list'
  | 'users.info'
  | 'users.list'
  | 'users.lookupByEmail'
  | 'auth.test';

type Codes = Record<string, SlackErrorClass>;

/** `permanent` for each whitespace-separated code: most of every table, listed compactly. */
const permanent = (codes: string): Codes =>
  Object.fromEntries(
    codes
      .trim()
      .split(/\s+/)
      .map((c) => [c, 'permanent']),
  );

const entry = (method: SlackMethod, errors: Codes, formerly?: Codes): SlackMethodErrors => ({
  url: `https://docs.slack.dev/reference/methods/${method}`,
  legacyUrl: `https://api.slack.com/methods/${method}`,
  errors,
  ...(formerly ? { formerly } : {}),
});

/**
 * Codes any method can return. The Errors table of each method page lists them among the method's own (the stored
 * copies of https://docs.slack.dev/reference/methods/conversations.archive and
 * https://api.slack.com/methods/usergroups.users.list show access_denied, accesslimited, account_inactive,
 * deprecated_endpoint, ekm_access_denied, enterprise_is_restricted, …); the corpus holds no Slack page that lists them
 * on their own. The set below is the one compiled in github.com/slack-ruby/slack-api-ref methods/_errors/common.json
 * (2025-09-30), plus invalid_auth, invalid_arguments and internal_error (on every one of the 26 pages as of
 * api.slack.com 2025-05), team_access_not_granted (on 21 of them), user_is_bot (on older versions of several: "This
 * method cannot be called by a bot user"), and what only Slack's 2020 OpenAPI spec lists (last group).
 */
export const SLACK_COMMON_ERRORS: Readonly<Codes> = {
  // Authentication: the token is wrong, gone or expired. Another try with the same token fails the same way.
  ...permanent(`invalid_auth not_authed account_inactive token_revoked token_expired`),
  // Permission or policy: an admin or the app's configuration has to change first.
  ...permanent(`missing_scope no_permission access_denied accesslimited ekm_access_denied enterprise_is_restricted
    not_allowed_token_type team_access_not_granted two_factor_setup_required is_bot user_is_bot`),
  // The method itself is gone or not offered.
  ...permanent(`deprecated_endpoint method_deprecated unknown_method`),
  // The request is malformed; the same bytes are malformed again.
  ...permanent(`invalid_arguments invalid_arg_name invalid_array_arg invalid_charset invalid_form_data
    invalid_post_type missing_post_type`),
  // "The POST data was either missing or truncated": lost on the way, so sending it again can work.
  request_timeout: 'transient',
  // "likely due to a transient issue on our end" / "catastrophic error"; both add "It's possible some aspect of the
  // operation succeeded before the error was raised", so a retry may duplicate: the outbox's idempotency matters here.
  internal_error: 'transient',
  fatal_error: 'transient',
  // "The service is temporarily unavailable."
  service_unavailable: 'transient',
  // Enterprise migration: "intermittently unavailable until the transition is complete" / "will not be available
  // until migration is complete". It ends; the retry budget bounds how long Muster waits for it.
  team_added_to_org: 'transient',
  org_login_required: 'transient',
  // "Refer to the Retry-After header for when to retry the request."
  ratelimited: 'rate_limited',
  // Only in Slack's OpenAPI spec (slackapi/slack-api-specs, 2020): malformed JSON bodies and an old-client refusal.
  // Slack usually sends missing_charset and superfluous_charset as warnings, not errors; if they come as errors the
  // request is malformed all the same.
  ...permanent(`invalid_json json_not_object upgrade_required missing_charset superfluous_charset`),
};

/**
 * Codes per method. A code absent here falls back to SLACK_COMMON_ERRORS, then to `transient` (classifySlackError).
 * Comments say why where the class is not plain from the code's description on the page.
 */
export const SLACK_METHOD_ERRORS: Readonly<Record<SlackMethod, SlackMethodErrors>> = {
  'chat.postMessage': entry(
    'chat.postMessage',
    {
      ...permanent(`app_access_restricted as_user_not_supported channel_not_found draft_already_deleted
        draft_already_sent draft_not_found duplicate_channel_not_found duplicate_message_not_found ekm_access_denied
        invalid_blocks invalid_blocks_format invalid_metadata_format invalid_metadata_schema is_archived
        markdown_text_conflict messages_tab_disabled metadata_must_be_sent_from_app metadata_too_large
        msg_blocks_too_long no_text not_in_channel restricted_action restricted_action_non_threadable_channel
        restricted_action_read_only_channel restricted_action_thread_locked restricted_action_thread_only_channel
        send_on_behalf_not_allowed slack_connect_canvas_sharing_blocked slack_connect_file_link_sharing_blocked
        slack_connect_lists_sharing_blocked team_not_found too_many_attachments too_many_contact_cards
        cannot_reply_to_message missing_file_data attachment_payload_limit_exceeded`),
      // "The client draft version is out of sync with the server draft version": re-read, not resend.
      draft_has_conflict: 'conflict',
      // "Application has posted too many messages".
      rate_limited: 'rate_limited',
      // "Members on this team are sending too many messages" (free plans). Slack's help article links it to a
      // "High-volume message limit: … you may be prevented from sending too many messages or files in a short period
      // of time" (https://slack.com/help/articles/115002422943); it comes as HTTP 429 without Retry-After
      // (github.com/slack-go/slack pull 1383). A throttle, so later may work.
      message_limit_exceeded: 'rate_limited',
    },
    {
      // Listed until api.slack.com 2024-10; still returned in practice (github.com/votingworks/arlo pull 2070,
      // 2024-11).
      ...permanent(`msg_too_long`),
      // Listed 2022-11 to 2023-03.
      ...permanent(`slack_connect_canvas_link_sharing_blocked slack_connect_team_blocked`),
    },
  ),

  'chat.update': entry(
    'chat.update',
    {
      ...permanent(`as_user_not_supported blocked_file_type block_mismatch cant_broadcast_message cant_update_message
        channel_not_found edit_window_closed file_deleted file_is_deleted file_not_found file_share_limit_reached
        invalid_attachments invalid_blocks invalid_blocks_format invalid_metadata_format invalid_metadata_schema
        is_inactive markdown_text_conflict max_file_sharing_exceeded message_not_found metadata_must_be_sent_from_app
        metadata_too_large msg_too_long no_dual_broadcast_content_update no_text posting_to_channel_denied
        slack_connect_blocked_file_type slack_connect_canvas_sharing_blocked slack_connect_clip_sharing_blocked
        slack_connect_file_link_sharing_blocked slack_connect_file_upload_sharing_blocked team_not_found
        too_many_attachments`),
      // "The channel is in the process of migrating and so the message cannot be updated at this time."
      external_channel_migrating: 'transient',
      // "The message is currently streaming text and cannot be edited": editable once the stream ends.
      streaming_state_conflict: 'transient',
      // "Internal update failure."
      update_failed: 'transient',
      // "Sharing the files failed.": the page gives no cause; Muster's updates share no files. Not guessed permanent.
      unable_to_share_files: 'transient',
      message_limit_exceeded: 'rate_limited',
    },
    {
      // Listed 2020-07 to 2020-08.
      ...permanent(`forbidden`),
      // In the 2020 OpenAPI spec's enum for chat.update.
      rate_limited: 'rate_limited',
    },
  ),

  'chat.postEphemeral': entry('chat.postEphemeral', {
    // user_not_in_channel: "Intended recipient is not in the specified channel."
    ...permanent(`channel_not_found invalid_blocks invalid_blocks_format is_archived markdown_text_conflict
      messages_tab_disabled msg_too_long no_text restricted_action too_many_attachments user_not_in_channel
      not_in_channel invalid_attachments cannot_reply_to_message`),
    message_limit_exceeded: 'rate_limited',
  }),

  'chat.getPermalink': entry('chat.getPermalink', permanent(`channel_not_found message_not_found`)),

  'conversations.open': entry(
    'conversations.open',
    // user_disabled: "A specified user has been disabled."
    permanent(`channel_not_found invalid_user_combination method_not_supported_for_channel_type missing_scope
      not_enough_users too_many_users user_disabled user_not_found user_not_visible users_list_not_supplied`),
  ),

  'conversations.create': entry(
    'conversations.create',
    {
      ...permanent(`cannot_create_channel invalid_name invalid_name_maxlength invalid_name_punctuation
        invalid_name_required invalid_name_specials missing_argument missing_scope no_channel restricted_action
        canvas_disabled_user_team`),
      // "A channel cannot be created with the given name": Muster tries the next suffix (-2, -3, …).
      name_taken: 'conflict',
    },
    {
      // api.slack.com 2025-05: "This method cannot be called by a single channel guest."
      ...permanent(`user_is_ultra_restricted`),
      // Listed 2018-06 to 2023-10: the workspace's or the app's channel limit; freeing one takes a person.
      ...permanent(`too_many_convos_for_team too_many_convos_for_app_on_team`),
      // Listed 2018-06 to 2020-12, for a user_ids argument the method no longer takes; and 2017-09 (restricted caller).
      ...permanent(`invalid_users user_not_found user_is_restricted`),
      // In the 2020 OpenAPI spec's enum.
      ...permanent(`method_not_supported_for_channel_type`),
    },
  ),

  'conversations.invite': entry(
    'conversations.invite',
    {
      // ura_max_channels: "An invited user is a single-channel guest user ('ultra restricted access') that is already
      // in the maximum number of conversations"; user_is_restricted: "An invited user is a guest user that is
      // restricted from accessing this conversation"; no_permission here: "User does not have permission to invite
      // that specific user". Per-user reasons for the incident channel: INVITE_USER_ERRORS.
      ...permanent(`app_cannot_join_channel cant_invite channel_not_found invitee_cant_see_channel is_archived
        org_user_not_in_team method_not_supported_for_channel_type missing_scope no_permission
        no_external_invite_permission no_user not_in_channel ura_max_channels user_is_restricted user_not_found`),
      // "Invited user is already in the channel." / "Authenticated user cannot invite themselves to a channel.": what
      // the invite wanted is already true (the bot is in the channel it invites to).
      already_in_channel: 'benign',
      cant_invite_self: 'benign',
      // "External channel migrating."
      external_channel_migrating: 'transient',
    },
    {
      // api.slack.com 2025-05: "This method cannot be called by a single channel guest."
      ...permanent(`user_is_ultra_restricted`),
      // In the 2020 OpenAPI spec's enum: more users than the call takes (Muster sends at most 100).
      ...permanent(`too_many_users`),
    },
  ),

  'conversations.setTopic': entry(
    'conversations.setTopic',
    // too_long: "Topic was longer than 250 characters."
    // user_is_restricted: "Setting the topic is a restricted action."
    permanent(`channel_not_found is_archived method_not_supported_for_channel_type missing_scope not_in_channel too_long
      user_is_restricted`),
  ),

  'conversations.archive': entry(
    'conversations.archive',
    {
      ...permanent(`cant_archive_general cant_archive_required channel_not_found method_not_supported_for_channel_type
        missing_scope not_in_channel restricted_action`),
      // "Channel has already been archived.": what the call wanted is already true.
      already_archived: 'benign',
    },
    {
      // api.slack.com 2025-05: "This method cannot be called by a restricted user or single channel guest."
      ...permanent(`user_is_restricted`),
      // In the 2020 OpenAPI spec's enum.
      ...permanent(`not_supported user_is_ultra_restricted`),
    },
  ),

  'conversations.history': entry(
    'conversations.history',
    permanent(`channel_is_limited_access channel_not_found invalid_cursor invalid_metadata_filter_keys invalid_ts_latest
      invalid_ts_oldest not_in_channel`),
    // Listed 2020-07 to 2020-08 (forbidden) and 2017-09 to 2024-02 (Enterprise Grid pagination).
    permanent(`forbidden pagination_not_available`),
  ),

  'conversations.replies': entry(
    'conversations.replies',
    {
      ...permanent(`channel_not_found invalid_cursor invalid_metadata_filter_keys invalid_ts_latest invalid_ts_oldest
        missing_scope thread_not_found method_not_supported_for_channel_type`),
      // "Failed to fetch list record comments.": a failure on Slack's side, not a refusal.
      list_record_comment_fetch_failed: 'transient',
    },
    // Listed 2017-09 to 2017-10.
    permanent(`pagination_not_available`),
  ),

  'conversations.list': entry(
    'conversations.list',
    // invalid_cursor: "not valid or is no longer valid": the same cursor stays invalid; restart the listing instead.
    permanent(`invalid_cursor invalid_limit invalid_types method_not_supported_for_channel_type missing_argument
      missing_scope`),
  ),

  'conversations.info': entry('conversations.info', permanent(`channel_is_limited_access channel_not_found missing_scope`)),

  'pins.add': entry(
    'pins.add',
    {
      // too_many_pins: a person has to unpin something first.
      ...permanent(`bad_timestamp channel_not_found file_not_found file_not_shared message_not_found no_item_specified
        not_in_channel not_pinnable restricted_action too_many_pins`),
      // "The specified item is already pinned to the channel."
      already_pinned: 'benign',
      // "Channel is undergoing an active migration."
      external_channel_migrating: 'transient',
    },
    // Listed 2015-12 to 2023-01 (permission_denied, also in the 2020 OpenAPI spec) and 2015-12 to 2019-08.
    permanent(`permission_denied file_comment_not_found`),
  ),

  'bookmarks.add': entry('bookmarks.add', {
    // too_many_bookmarks: "Conversations are limited to 100 bookmarks" (the page's usage info); a person removes one.
    // file_already_added is not treated as success: Muster bookmarks links, never files.
    ...permanent(`access_denied cannot_bookmark_from_external_org cannot_bookmark_restricted_sharing_enabled
      channel_not_found file_already_added file_not_found invalid_bookmark_type invalid_app_action_type
      invalid_shortcut_type invalid_child_type invalid_emoji invalid_entity_id invalid_link invalid_parent_type
      not_implemented parent_bookmark_disabled parent_with_link permission_denied
      slack_connect_file_upload_sharing_blocked slack_connect_clip_sharing_blocked slack_connect_blocked_file_type
      too_many_bookmarks too_many_tabs`),
    // "Too many concurrent requests. Please retry."
    too_many_requests: 'rate_limited',
  }),

  'bookmarks.list': entry('bookmarks.list', permanent(`access_denied channel_not_found not_implemented`)),

  // Read by the inbox to decide whether an unpinned message is still pinned: its page lists channel_not_found
  // beside the common errors (https://docs.slack.dev/reference/methods/pins.list).
  'pins.list': entry('pins.list', permanent(`channel_not_found`)),

  // "bad_timestamp … file_comment_not_found … file_not_found … message_not_found … no_item_specified" (the
  // method's Errors table, as copied by hexdocs.pm Slack.Web.Reactions.get from https://api.slack.com/methods/reactions.get).
  'reactions.get': entry('reactions.get', permanent(`bad_timestamp file_comment_not_found file_not_found message_not_found no_item_specified`)),

  'views.publish': entry('views.publish', {
    // not_enabled: "a home view is published but the Home tab isn't enabled for the app" (app configuration).
    ...permanent(`missing_profile_id not_allowed_token_type not_enabled not_implemented view_too_large`),
    // "the provided hash doesn't match the current stored value" / "external_id has already be used": another
    // writer got there first; the caller re-reads or picks another id rather than resending the same call.
    hash_conflict: 'conflict',
    duplicate_external_id: 'conflict',
  }),

  'views.open': entry('views.open', {
    // A trigger_id is single-use and short-lived: once expired or exchanged, no retry can use it.
    ...permanent(`exchanged_trigger_id expired_trigger_id invalid_trigger_id view_too_large`),
    duplicate_external_id: 'conflict',
  }),

  'files.getUploadURLExternal': entry(
    'files.getUploadURLExternal',
    // storage_limit_reached: "free teams have uploaded 5GB of files": a person has to free space or upgrade.
    permanent(`alt_txt_too_large file_upload_size_restricted file_uploads_disabled missing_argument snippet_too_large
      storage_limit_reached unknown_snippet_type unknown_subtype file_type_not_allowed
      file_uploads_except_images_disabled`),
  ),

  'files.completeUploadExternal': entry('files.completeUploadExternal', {
    ...permanent(`access_denied channel_not_found invalid_blocks invalid_channel not_in_channel
      posting_to_channel_denied channels_limit_exceeded file_type_not_allowed file_uploads_except_images_disabled`),
    // "Failure occurred when attempting to update the file.": a failure, not a refusal.
    file_update_failed: 'transient',
    // "Could not find the file from the upload ticket." The docs say uploaded files "are processed asynchronously via
    // a job handler" (files.getUploadURLExternal) and are silent on whether this can be that race. A retry of the
    // upload effect starts over with a new ticket, so a wrong `transient` costs a bounded retry; a wrong `permanent`
    // loses the file.
    file_not_found: 'transient',
  }),

  'files.list': entry(
    'files.list',
    permanent(`missing_argument slack_connect_canvas_sharing_blocked user_not_found unknown_type`),
    // Listed 2022-12 to 2023-03.
    permanent(`slack_connect_team_blocked`),
  ),

  'usergroups.users.list': entry(
    'usergroups.users.list',
    // plan_upgrade_required: "User Groups … only available on Standard and above plans".
    permanent(`no_such_subteam plan_upgrade_required invalid_cursor`),
    // api.slack.com 2025-05 (user_is_restricted) and 2015-12 to 2016-02 (user_is_ultra_restricted): guest callers.
    permanent(`user_is_restricted user_is_ultra_restricted`),
  ),

  'users.info': entry('users.info', permanent(`too_many_users user_not_found user_not_visible`)),

  'users.list': entry('users.list', permanent(`invalid_cursor limit_required missing_argument`)),

  // users_not_found: "Value passed for user was invalid" (no user has that email).
  'users.lookupByEmail': entry('users.lookupByEmail', permanent(`enterprise_is_restricted users_not_found`)),

  // The page lists only these two: "An internal error has been found." / "Method was called with invalid credentials".
  'auth.test': entry('auth.test', { internal_error: 'transient', invalid_auth: 'permanent' }),
};

/**
 * SDK helpers that are not Web API methods but make calls Muster may want to classify: files.uploadV2 (@slack/web-api)
 * calls files.getUploadURLExternal, uploads, then calls files.completeUploadExternal.
 */
const METHOD_ALIASES: Readonly<Record<string, readonly SlackMethod[]>> = {
  'files.uploadV2': ['files.getUploadURLExternal', 'files.completeUploadExternal'],
};

const own = <V>(table: Readonly<Record<string, V>> | undefined, key: string): V | undefined => (table !== undefined && Object.hasOwn(table, key) ? table[key] : undefined);

const classifyFor = (method: SlackMethod, code: string): SlackErrorClass | undefined => {
  const e = SLACK_METHOD_ERRORS[method];
  return own(e.errors, code) ?? own(e.formerly, code);
};

/**
 * How Muster should treat Slack's `error` code from `method`: the method's table, then the common table.
 *
 * A code neither table knows is `transient`, whatever it looks like. Codes that name server trouble are transient
 * anyway; for the rest, guessing `permanent` would drop an effect for good on the strength of a code nobody has read
 * the description of, while `transient` costs at most the outbox's bounded retry budget and then fails all the same.
 * The pages say as much of themselves: "other errors can be returned in the case where the service is down or other
 * unexpected factors affect processing" (every method's Errors table). The same holds for methods not listed here.
 */
export function classifySlackError(method: string, code: string): SlackErrorClass {
  const methods: readonly SlackMethod[] = Object.hasOwn(SLACK_METHOD_ERRORS, method) ? [method as SlackMethod] : (own(METHOD_ALIASES, method) ?? []);
  for (const m of methods) {
    const known = classifyFor(m, code);
    if (known) return known;
  }
  return own(SLACK_COMMON_ERRORS, code) ?? 'transient';
}

/**
 * conversations.invite's per-user failures, as a phrase to follow the user's name in the incident channel ("<@U1> is a
 * guest and cannot be invited to this channel"). Slack returns them in the response's `errors` array,
 * `[{ user, ok: false, error }]`, with `force=true` alongside the users it did invite, and without it in the error
 * response (https://docs.slack.dev/reference/methods/conversations.invite: the `force` argument, the output's `errors`
 * field, and the example error response listing user_not_found and cant_invite_self). Which codes can appear per user
 * the page does not say; these are the method's codes whose description concerns one invitee (descriptions quoted in
 * SLACK_METHOD_ERRORS), plus the two marked otherwise. Filter with classifySlackError first: already_in_channel and
 * cant_invite_self are `benign` and are not failures to report.
 */
export const INVITE_USER_ERRORS: Readonly<Record<string, string>> = {
  // "Value passed for users was invalid"; the page adds that inviting users "in a 'removed' state … will fail
  // 'silently': an error response will be returned via the API, but all other users will be invited".
  user_not_found: 'is not a user Slack knows (a wrong ID, or an account removed from the workspace)',
  cant_invite_self: 'is Muster itself, already in the channel',
  already_in_channel: 'is already in the channel',
  // "User cannot be invited to this channel.": the documented catch-all.
  cant_invite: 'cannot be invited to this channel',
  ura_max_channels: 'is a single-channel guest and has reached their channel limit',
  user_is_restricted: 'is a guest and cannot be invited to this channel',
  // "The Enterprise org multi-workspace channel … is not shared with any workspaces the user is currently a member of."
  invitee_cant_see_channel: 'is not in any workspace this channel is shared with',
  // "part of the Enterprise organization but not the specific workspace you're interfacing with".
  org_user_not_in_team: 'is in the organization but not in this workspace',
  // "User does not have permission to invite that specific user to the channel".
  no_permission: 'cannot be invited by Muster (no permission to invite this person)',
  no_external_invite_permission: 'is an external user Muster has no permission to invite',
  // "This app cannot be invited to this channel."
  app_cannot_join_channel: 'is an app that cannot be added to this channel',
  // Not documented for this method: conversations.open's code for "A specified user has been disabled", and what
  // Muster's Slack fake (src/platforms/sandbox/slackWorkspace.ts) answers for a deactivated invitee.
  user_disabled: 'is deactivated',
  // Not documented per user: the method's code for a single-channel-guest caller (api.slack.com 2025-05). Listed so a
  // per-user occurrence reads as words, not a code.
  user_is_ultra_restricted: 'is a single-channel guest and cannot be invited to this channel',
};

/** Why a user group could not be expanded into its members (usergroups.users.list errors), in words. */
const GROUP_ERRORS: Record<string, string> = {
  no_such_subteam: 'no longer exists',
  plan_upgrade_required: 'cannot be expanded: user groups need a paid Slack plan',
  missing_scope: 'cannot be read: Muster lacks the usergroups:read scope',
};

export function describeGroupError(code: string): string {
  return own(GROUP_ERRORS, code) ?? `Slack said ${code}`;
}

/** The phrase for one invitee's failure, falling back to Slack's code when the table does not know it. */
export function describeInviteUserError(code: string): string {
  return own(INVITE_USER_ERRORS, code) ?? `could not be invited (Slack: ${code})`;
}
