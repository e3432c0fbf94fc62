import type { ManualClock } from '../../src/domain/clock.ts';
import type { Muster } from '../../src/muster.ts';
import type { Policy } from '../../src/config/policy.ts';
import { EMOJI } from '../../src/domain/text.ts';

/**
 * What a scenario speaks: people by their role names, commands in Slack's text form, cards by what they say,
 * buttons by their labels, forms by their field ids. Two drivers implement it, one over the Slack harness
 * (test/scenarios/slackDriver.ts) and one over the Discord harness (test/scenarios/discordDriver.ts), so one
 * scenario runs on both platforms, each through its real endpoint with signed requests, its effects delivered
 * to the platform's fake over HTTP.
 *
 * Text the drivers hand back (replies, cards, DMs) is normalised the same way on both platforms, so that a
 * scenario can assert on it without knowing where it runs: people read `@<role name>` (`@dana`), channels
 * `#<name>`, times ISO 8601 in UTC (`2026-12-01T11:00:00.000Z`), emoji as Unicode, and markup (bold, escapes,
 * subtext and heading marks) is gone. A card's text is its header, then its body (sections, fields as
 * `Label: value`, small print), one part a line; the order of the parts may differ between platforms (Discord
 * draws an embed's fields after its description), so scenarios match parts, not their order.
 */

/** The people of every scenario, by the role they play. `admin` holds the admin role from the start. */
export const PEOPLE = ['admin', 'dana', 'riley', 'sam', 'alex', 'kim', 'pat', 'casey'] as const;
export type Person = (typeof PEOPLE)[number];

/** Who plays what (scenarios grant these roles with `/muster grant`). */
export const ROLE_OF: Readonly<Record<Exclude<Person, 'admin'>, string>> = {
  dana: 'oncall',
  riley: 'release_manager',
  sam: 'cto',
  alex: 'security_lead',
  kim: 'tech_lead',
  pat: 'product_owner',
  casey: 'engineer',
};

export type Platform = 'slack' | 'discord';

export interface Card {
  /** The card's header (`APR-1 · Deploy api 2.4.1 to production`), normalised. */
  title: string;
  /** Header and body, normalised, one part a line. */
  text: string;
  /** The labels of its live buttons, in order. */
  buttons: string[];
  /** The channel it is in (a driver's channel handle). */
  channel: string;
}

/** A form open in front of someone. */
export interface OpenForm {
  title: string;
  /** The ids of its fields: all of them on Slack; on Discord, where a long form comes in pages, those of the page open now. */
  fields: string[];
}

/** Where a card is looked for: its header starts with this record id (`APR-1`), or its text matches this pattern. */
export type CardMatch = string | RegExp;

export interface ChatDriver {
  readonly platform: Platform;
  /** The clock Muster runs on. */
  readonly clock: ManualClock;
  /** The running Muster (its database, for checks that are the same on both platforms). */
  readonly muster: Muster;
  /** The general channel, where commands go by default. */
  readonly general: string;
  /**
   * Runs a command as `who`, written as typed in Slack (`/incident declare P1 Checkout down`,
   * `/muster grant cto @sam`), in `where` (a channel handle; default the general channel). Resolves to the
   * text the person was told at once ('' when a form opened instead: see `form`).
   */
  command(who: Person, line: string, where?: string): Promise<string>;
  /** Everything `who` was told in answer to their last command, click or form, follow-ups included (flushes first). */
  reply(who: Person): Promise<string>;
  /** The card whose header starts with `match` (a string) or whose text matches it (a pattern); throws when there is none. */
  card(match: CardMatch, where?: string): Card;
  /** Whether such a card exists. */
  hasCard(match: CardMatch, where?: string): boolean;
  /**
   * `who` presses the button labelled `label` on the card. Resolves to what they were told ('' for a quiet
   * success, or when the button opened a form: see `form`).
   */
  click(who: Person, match: CardMatch, label: string, where?: string): Promise<string>;
  /** The form open in front of `who`, if any. */
  form(who: Person): OpenForm | undefined;
  /**
   * Fills in and submits the form open in front of `who`: `values` by field id (choices by their value);
   * other fields keep what they show (their initial values). On Discord, a form longer than one modal is filled
   * page by page with the Next page button in between. Resolves to what the person was told: the outcome, or
   * what the form refused (Slack shows that under the fields; Discord as a message). A refused form stays open with
   * what was typed (Slack keeps its modal; on Discord the driver presses Fix it, which brings the pages back filled
   * in), so the next `submitForm` gives only what changes.
   */
  submitForm(who: Person, values: Record<string, string>): Promise<string>;
  /** The id of the first channel whose name starts with `prefix`. */
  channelNamed(prefix: string): string | undefined;
  /** The texts `who` received by direct message, oldest first. */
  dmsOf(who: Person): string[];
  /** The texts of the messages in a channel, oldest first (cards as their card text). */
  messages(where: string): string[];
  /** Runs every due outbox effect. */
  flush(): Promise<void>;
  /** Fires due timers and runs the effects they wrote. */
  tick(): Promise<number>;
  /**
   * Nothing dead-lettered, pending or running in the outbox, nothing refused by the platform's fake, and: on
   * Discord no crowd or role ping; on Slack no text flattened to `[object Object]`.
   */
  assertNothingStuck(): Promise<void>;
  close(): Promise<void>;
}

export interface DriverOptions {
  policy?: Policy;
  clock?: ManualClock;
}

// ---------------------------------------------------------------------------------------------
// Normalising text (shared by both drivers)

const EMOJI_BY_NAME: Record<string, string> = EMOJI;
const iso = (unix: string) => new Date(Number(unix) * 1000).toISOString();

/** Slack mrkdwn (or plain_text) as the neutral reading described above. */
export function normaliseSlack(s: string, nameOf: (id: string) => string, channelName: (id: string) => string): string {
  return s
    .replace(/<!date\^(\d+)\^[^|>]*(?:\|[^>]*)?>/g, (_m, unix: string) => iso(unix))
    .replace(/<@([UWB][A-Z0-9]+)(?:\|[^>]*)?>/g, (_m, id: string) => `@${nameOf(id)}`)
    .replace(/<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `#${name || channelName(id)}`)
    .replace(/<!(here|channel|everyone)(?:\|[^>]*)?>/g, '@$1')
    .replace(/<!subteam\^[^|>]+(?:\|([^>]*))?>/g, (_m, label?: string) => label ?? '@group')
    .replace(/<((?:https?|mailto):[^|>]+)\|([^>]*)>/g, '$2')
    .replace(/<((?:https?|mailto):[^>]+)>/g, '$1')
    .replace(/:([a-z0-9_]+):/g, (m, name: string) => EMOJI_BY_NAME[name] ?? m)
    .replace(/[*~]/g, '')
    .replace(/[\u200b\u2060]/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Discord markdown as the neutral reading described above. */
export function normaliseDiscord(s: string, nameOf: (id: string) => string, channelName: (id: string) => string): string {
  return s
    .replace(/<t:(-?\d+)(?::[tTdDfFRsS])?>/g, (_m, unix: string) => iso(unix))
    .replace(/<@!?(\d+)>/g, (_m, id: string) => `@${nameOf(id)}`)
    .replace(/<@&(\d+)>/g, '@role')
    .replace(/<#(\d+)>/g, (_m, id: string) => `#${channelName(id)}`)
    .replace(/(?<!\\)\[([^\]]*)\]\((https?:[^)\s]+)\)/g, '$1')
    .replace(/^-# /gm, '')
    .replace(/^#{1,3} /gm, '')
    .replace(/(?<!\\)(\*\*?|~~|__)/g, '')
    .replace(/\\([^A-Za-z0-9\s])/g, '$1')
    .replace(/[\u200b\u2060]/g, '');
}

/** A pattern for `match` as a card's header: the record id, then a space or the end. */
export function headerPattern(match: string): RegExp {
  return new RegExp(`^${match.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:\\s|$)`);
}

export function cardMatches(card: Pick<Card, 'title' | 'text'>, match: CardMatch): boolean {
  return typeof match === 'string' ? headerPattern(match).test(card.title) : match.test(card.text);
}
