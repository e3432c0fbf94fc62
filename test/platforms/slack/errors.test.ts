import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifySlackError, describeInviteUserError, INVITE_USER_ERRORS, SLACK_COMMON_ERRORS, SLACK_METHOD_ERRORS, type SlackErrorClass } from '../../../src/platforms/slack/errors.ts';

/** The Web API methods Muster calls, in src and in the Slack fake its tests run against. */
const MUSTER_METHODS = [
  'chat.postMessage',
  'chat.update',
  'chat.postEphemeral',
  'chat.getPermalink',
  'pins.list',
  'reactions.get',
  'conversations.open',
  'conversations.create',
  'conversations.invite',
  'conversations.setTopic',
  'conversations.archive',
  'conversations.history',
  'conversations.replies',
  'conversations.list',
  'conversations.info',
  'pins.add',
  'bookmarks.add',
  'bookmarks.list',
  'views.publish',
  'views.open',
  'files.getUploadURLExternal',
  'files.completeUploadExternal',
  'files.list',
  'usergroups.users.list',
  'users.info',
  'users.list',
  'users.lookupByEmail',
  'auth.test',
];

const CLASSES: SlackErrorClass[] = ['permanent', 'transient', 'benign', 'conflict', 'rate_limited'];

const tsFiles = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? tsFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));

/** Web API calls written in src: `client.chat.postMessage(`, `c.pins.add(`, `client.apiCall('x.y'`. */
function methodsCalledInSrc(): Set<string> {
  const groups = 'chat|conversations|pins|bookmarks|views|files|usergroups|users|auth';
  const call = new RegExp(`\\b(?:c|client)\\.((?:${groups})(?:\\.[A-Za-z0-9]+)+)\\(`, 'g');
  const apiCall = /\bapiCall\(\s*['"`]([a-z]+(?:\.[A-Za-z0-9]+)+)['"`]/g;
  const found = new Set<string>();
  for (const file of tsFiles(join(import.meta.dirname, '../../../src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(call)) found.add(m[1]!);
    for (const m of text.matchAll(apiCall)) found.add(m[1]!);
  }
  return found;
}

describe('SLACK_METHOD_ERRORS: one entry per method Muster calls', () => {
  it.each(MUSTER_METHODS)('%s has its reference page and a table of codes', (method) => {
    const entry = SLACK_METHOD_ERRORS[method as keyof typeof SLACK_METHOD_ERRORS];
    expect(entry).toBeDefined();
    expect(entry.url).toBe(`https://docs.slack.dev/reference/methods/${method}`);
    expect(entry.legacyUrl).toBe(`https://api.slack.com/methods/${method}`);
    expect(Object.keys(entry.errors).length).toBeGreaterThan(0);
  });

  it('lists exactly those methods', () => {
    expect(Object.keys(SLACK_METHOD_ERRORS).sort()).toEqual([...MUSTER_METHODS].sort());
  });

  it('covers every Web API call written in src (files.uploadV2 through its two methods)', () => {
    const called = methodsCalledInSrc();
    expect(called.has('chat.postMessage')).toBe(true); // the scan finds calls at all
    for (const method of called) {
      if (method === 'files.uploadV2') continue;
      expect(Object.keys(SLACK_METHOD_ERRORS), `${method} is called in src`).toContain(method);
    }
  });

  it('gives every code a known class, and no code both a current and a former listing', () => {
    for (const [method, entry] of Object.entries(SLACK_METHOD_ERRORS)) {
      for (const cls of [...Object.values(entry.errors), ...Object.values(entry.formerly ?? {})]) {
        expect(CLASSES, method).toContain(cls);
      }
      const both = Object.keys(entry.formerly ?? {}).filter((code) => Object.hasOwn(entry.errors, code));
      expect(both, method).toEqual([]);
    }
    for (const cls of Object.values(SLACK_COMMON_ERRORS)) expect(CLASSES).toContain(cls);
  });
});

describe('classifySlackError: documented codes', () => {
  it.each<[string, string, SlackErrorClass]>([
    ['chat.postMessage', 'channel_not_found', 'permanent'],
    ['chat.postMessage', 'is_archived', 'permanent'],
    ['chat.postMessage', 'invalid_blocks', 'permanent'],
    ['chat.postMessage', 'not_in_channel', 'permanent'],
    ['chat.postMessage', 'restricted_action_read_only_channel', 'permanent'],
    ['chat.postMessage', 'msg_too_long', 'permanent'], // formerly listed
    ['chat.postMessage', 'rate_limited', 'rate_limited'],
    ['chat.postMessage', 'message_limit_exceeded', 'rate_limited'],
    ['chat.update', 'cant_update_message', 'permanent'],
    ['chat.update', 'edit_window_closed', 'permanent'],
    ['chat.update', 'message_not_found', 'permanent'],
    ['chat.update', 'external_channel_migrating', 'transient'],
    ['chat.update', 'update_failed', 'transient'],
    ['chat.postEphemeral', 'user_not_in_channel', 'permanent'],
    ['chat.postEphemeral', 'msg_too_long', 'permanent'],
    ['chat.getPermalink', 'message_not_found', 'permanent'],
    ['conversations.open', 'user_disabled', 'permanent'],
    ['conversations.open', 'user_not_visible', 'permanent'],
    ['conversations.create', 'name_taken', 'conflict'],
    ['conversations.create', 'invalid_name_specials', 'permanent'],
    ['conversations.create', 'restricted_action', 'permanent'],
    ['conversations.create', 'user_is_ultra_restricted', 'permanent'],
    ['conversations.invite', 'already_in_channel', 'benign'],
    ['conversations.invite', 'cant_invite_self', 'benign'],
    ['conversations.invite', 'cant_invite', 'permanent'],
    ['conversations.invite', 'ura_max_channels', 'permanent'],
    ['conversations.invite', 'user_is_restricted', 'permanent'],
    ['conversations.invite', 'user_is_ultra_restricted', 'permanent'],
    ['conversations.invite', 'org_user_not_in_team', 'permanent'],
    ['conversations.invite', 'external_channel_migrating', 'transient'],
    ['conversations.setTopic', 'too_long', 'permanent'],
    ['conversations.setTopic', 'is_archived', 'permanent'],
    ['conversations.archive', 'already_archived', 'benign'],
    ['conversations.archive', 'cant_archive_general', 'permanent'],
    ['conversations.history', 'not_in_channel', 'permanent'],
    ['conversations.replies', 'thread_not_found', 'permanent'],
    ['conversations.replies', 'list_record_comment_fetch_failed', 'transient'],
    ['conversations.list', 'invalid_cursor', 'permanent'],
    ['conversations.info', 'channel_not_found', 'permanent'],
    ['pins.add', 'already_pinned', 'benign'],
    ['pins.add', 'too_many_pins', 'permanent'],
    ['pins.add', 'not_pinnable', 'permanent'],
    ['pins.add', 'external_channel_migrating', 'transient'],
    ['bookmarks.add', 'too_many_bookmarks', 'permanent'],
    ['bookmarks.add', 'invalid_link', 'permanent'],
    ['bookmarks.add', 'too_many_requests', 'rate_limited'],
    ['bookmarks.list', 'not_implemented', 'permanent'],
    ['views.publish', 'not_enabled', 'permanent'],
    ['views.publish', 'hash_conflict', 'conflict'],
    ['views.open', 'expired_trigger_id', 'permanent'],
    ['views.open', 'exchanged_trigger_id', 'permanent'],
    ['files.getUploadURLExternal', 'file_uploads_disabled', 'permanent'],
    ['files.getUploadURLExternal', 'storage_limit_reached', 'permanent'],
    ['files.completeUploadExternal', 'not_in_channel', 'permanent'],
    ['files.completeUploadExternal', 'file_update_failed', 'transient'],
    ['files.completeUploadExternal', 'file_not_found', 'transient'],
    ['files.list', 'unknown_type', 'permanent'],
    ['usergroups.users.list', 'no_such_subteam', 'permanent'],
    ['usergroups.users.list', 'plan_upgrade_required', 'permanent'],
    ['users.info', 'user_not_found', 'permanent'],
    ['users.list', 'limit_required', 'permanent'],
    ['users.lookupByEmail', 'users_not_found', 'permanent'],
    ['auth.test', 'invalid_auth', 'permanent'],
    ['auth.test', 'internal_error', 'transient'],
  ])('%s %s → %s', (method, code, cls) => {
    expect(classifySlackError(method, code)).toBe(cls);
  });

  it('reads a benign code as benign only for the method that treats it so', () => {
    expect(classifySlackError('conversations.invite', 'already_in_channel')).toBe('benign');
    expect(classifySlackError('conversations.archive', 'already_archived')).toBe('benign');
    expect(classifySlackError('chat.postMessage', 'already_pinned')).not.toBe('benign');
    expect(classifySlackError('conversations.create', 'already_archived')).not.toBe('benign');
  });

  it('classifies files.uploadV2 (an SDK helper) by the two methods it calls', () => {
    expect(classifySlackError('files.uploadV2', 'file_uploads_disabled')).toBe('permanent');
    expect(classifySlackError('files.uploadV2', 'file_update_failed')).toBe('transient');
    expect(classifySlackError('files.uploadV2', 'not_authed')).toBe('permanent');
  });
});

describe('classifySlackError: codes common to all methods', () => {
  it.each<[string, SlackErrorClass]>([
    ['invalid_auth', 'permanent'],
    ['not_authed', 'permanent'],
    ['account_inactive', 'permanent'],
    ['token_revoked', 'permanent'],
    ['token_expired', 'permanent'],
    ['no_permission', 'permanent'],
    ['missing_scope', 'permanent'],
    ['ekm_access_denied', 'permanent'],
    ['access_denied', 'permanent'],
    ['accesslimited', 'permanent'],
    ['deprecated_endpoint', 'permanent'],
    ['method_deprecated', 'permanent'],
    ['two_factor_setup_required', 'permanent'],
    ['invalid_arguments', 'permanent'],
    ['invalid_arg_name', 'permanent'],
    ['invalid_array_arg', 'permanent'],
    ['invalid_charset', 'permanent'],
    ['invalid_form_data', 'permanent'],
    ['invalid_post_type', 'permanent'],
    ['missing_post_type', 'permanent'],
    ['invalid_json', 'permanent'],
    ['org_login_required', 'transient'],
    ['team_added_to_org', 'transient'],
    ['request_timeout', 'transient'],
    ['fatal_error', 'transient'],
    ['internal_error', 'transient'],
    ['service_unavailable', 'transient'],
    ['ratelimited', 'rate_limited'],
  ])('%s → %s, from any method', (code, cls) => {
    expect(SLACK_COMMON_ERRORS[code]).toBe(cls);
    for (const method of ['chat.postMessage', 'conversations.invite', 'users.list', 'some.unlistedMethod']) {
      expect(classifySlackError(method, code), method).toBe(cls);
    }
  });
});

describe('classifySlackError: unknown codes fall back to transient (bounded by the retry budget)', () => {
  it.each([
    ['chat.postMessage', 'brand_new_error'],
    ['chat.postMessage', 'unknown_error'], // what the port reports when Slack sends no code
    ['conversations.invite', 'something_went_sideways'],
    ['chat.postMessage', 'already_pinned'], // a code of another method
    ['chat.postMessage', 'constructor'], // not a prototype key
    ['pins.add', '__proto__'],
    ['some.unlistedMethod', 'brand_new_error'],
    ['toString', 'hasOwnProperty'],
    ['', ''],
  ])('%s %s → transient', (method, code) => {
    expect(classifySlackError(method, code)).toBe('transient');
  });
});

describe('INVITE_USER_ERRORS: per-user conversations.invite failures as words', () => {
  it('has a phrase for each documented per-user code', () => {
    for (const code of [
      'user_not_found',
      'cant_invite',
      'ura_max_channels',
      'user_is_restricted',
      'invitee_cant_see_channel',
      'org_user_not_in_team',
      'no_permission',
      'no_external_invite_permission',
      'app_cannot_join_channel',
    ]) {
      expect(INVITE_USER_ERRORS[code], code).toMatch(/\S/);
      expect(classifySlackError('conversations.invite', code), code).toBe('permanent');
    }
  });

  it('reads as a phrase after a name', () => {
    expect(INVITE_USER_ERRORS.user_is_restricted).toBe('is a guest and cannot be invited to this channel');
    expect(INVITE_USER_ERRORS.ura_max_channels).toMatch(/channel limit/);
    expect(INVITE_USER_ERRORS.user_disabled).toBe('is deactivated');
    for (const phrase of Object.values(INVITE_USER_ERRORS)) expect(phrase).toMatch(/^(is|cannot) /);
  });

  it('marks the two that are no failure as benign for the call', () => {
    expect(classifySlackError('conversations.invite', 'already_in_channel')).toBe('benign');
    expect(classifySlackError('conversations.invite', 'cant_invite_self')).toBe('benign');
    expect(INVITE_USER_ERRORS.already_in_channel).toBeDefined();
  });

  it('falls back to the code when the table does not know it', () => {
    expect(describeInviteUserError('ura_max_channels')).toBe(INVITE_USER_ERRORS.ura_max_channels);
    expect(describeInviteUserError('brand_new_error')).toBe('could not be invited (Slack: brand_new_error)');
    expect(describeInviteUserError('constructor')).toBe('could not be invited (Slack: constructor)');
  });
});
