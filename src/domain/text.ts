/**
 * Neutral rich text: what services, surfaces and the database hold, and what each platform
 * renders (each platform's renderer under src/platforms/; plain text for files, the status
 * page and the CLI with `plainText`).
 *
 * A string is data — text as a person typed it, or as Muster wrote it — and renderers show it
 * as it is: it never acts as markup (no `@everyone`, no group pings, no links whose label lies,
 * no formatting). Everything live is a node: a person, a channel, a time shown in each
 * reader's own zone, a link Muster built, emphasis and code Muster chose, an emoji by name
 * (shown by its shortcode where a platform knows shortcodes, else as the Unicode character from `EMOJI`).
 */

export type TimeStyle = 'datetime' | 'datetime_secs' | 'date' | 'time';

export interface TimeNode {
  readonly time: string;
  readonly style: TimeStyle;
}
export interface LinkNode {
  readonly link: string;
  readonly label?: string;
}
/** A person, by their platform id (whatever form the platform gives): pings that one person at most. */
export interface PersonNode {
  readonly person: string;
}
/** A channel, by its platform id. */
export interface ChannelNode {
  readonly channel: string;
}
export interface StrongNode {
  readonly strong: readonly Inline[];
}
export interface EmNode {
  readonly em: readonly Inline[];
}
export interface CodeNode {
  readonly code: string;
}

/** The emoji Muster uses: its shortcode name, and the Unicode character for platforms without shortcodes. */
export const EMOJI = {
  white_check_mark: '✅',
  x: '❌',
  hourglass: '⌛',
  hourglass_flowing_sand: '⏳',
  no_entry_sign: '🚫',
  rotating_light: '🚨',
  red_circle: '🔴',
  large_orange_circle: '🟠',
  large_yellow_circle: '🟡',
  white_circle: '⚪',
  mag: '🔍',
  dart: '🎯',
  eyes: '👀',
  lock: '🔒',
  globe_with_meridians: '🌐',
  alarm_clock: '⏰',
  sunny: '☀️',
  loudspeaker: '📢',
  warning: '⚠️',
  pushpin: '📌',
  ballot_box_with_check: '☑️',
  white_large_square: '⬜',
  no_entry: '⛔',
} as const;
export type EmojiName = keyof typeof EMOJI;

export interface EmojiNode {
  readonly emoji: EmojiName;
}

export type Inline = string | TimeNode | LinkNode | PersonNode | ChannelNode | StrongNode | EmNode | CodeNode | EmojiNode;

/** A plain string, or a sequence of strings and nodes. JSON-safe: effects and rows store it as it is. */
export type Text = string | readonly Inline[];

export const mention = (externalId: string): PersonNode => ({ person: externalId });
export const channelRef = (externalId: string): ChannelNode => ({ channel: externalId });
export const strong = (...parts: Part[]): StrongNode => ({ strong: concat(...parts) });
export const em = (...parts: Part[]): EmNode => ({ em: concat(...parts) });
export const code = (text: string): CodeNode => ({ code: text });
export const emoji = (name: EmojiName): EmojiNode => ({ emoji: name });

/**
 * Muster's own wording written with `*strong*` and `` `code` `` marks, as neutral text: for texts
 * authored in this code base (help, duties, domain reasons), never for anything a person typed.
 */
export function fmt(literal: string): Inline[] {
  const out: Inline[] = [];
  let last = 0;
  for (const m of literal.matchAll(/\*([^*\n]+)\*|`([^`\n]+)`/g)) {
    pushPart(out, literal.slice(last, m.index));
    pushPart(out, m[1] !== undefined ? strong(m[1]) : code(m[2]!));
    last = m.index! + m[0].length;
  }
  pushPart(out, literal.slice(last));
  return out;
}

/** A moment, shown in each reader's own time zone where the platform can (ISO 8601 elsewhere). */
export function time(d: Date, style: TimeStyle = 'datetime'): TimeNode {
  return { time: d.toISOString(), style };
}

/** A link Muster itself built (http, https or mailto only). */
export function link(url: string, label?: string): LinkNode {
  if (!/^(https?:|mailto:)/i.test(url)) throw new Error(`not a link Muster builds: ${url}`);
  return label === undefined ? { link: url } : { link: url, label };
}

export const isTimeNode = (i: Inline): i is TimeNode => typeof i === 'object' && 'time' in i;
export const isLinkNode = (i: Inline): i is LinkNode => typeof i === 'object' && 'link' in i;
export const isPersonNode = (i: Inline): i is PersonNode => typeof i === 'object' && 'person' in i;
export const isChannelNode = (i: Inline): i is ChannelNode => typeof i === 'object' && 'channel' in i;
export const isStrongNode = (i: Inline): i is StrongNode => typeof i === 'object' && 'strong' in i;
export const isEmNode = (i: Inline): i is EmNode => typeof i === 'object' && 'em' in i;
export const isCodeNode = (i: Inline): i is CodeNode => typeof i === 'object' && 'code' in i;
export const isEmojiNode = (i: Inline): i is EmojiNode => typeof i === 'object' && 'emoji' in i;

type Part = Text | Inline | number | null | undefined | false;

function pushPart(out: Inline[], p: Part): void {
  if (p === null || p === undefined || p === false) return;
  if (typeof p === 'number') p = String(p);
  if (typeof p === 'string') {
    if (p === '') return;
    const last = out[out.length - 1];
    if (typeof last === 'string') out[out.length - 1] = last + p;
    else out.push(p);
    return;
  }
  if (Array.isArray(p)) for (const i of p) pushPart(out, i as Part);
  else out.push(p as Inline);
}

/**
 * Builds neutral text from a template: literal parts and interpolated strings are text,
 * interpolated nodes and Text stay what they are. `null`, `undefined` and `false` vanish.
 * Use it (never a bare template string) wherever a value may be Text: a Text array inside
 * `${…}` of an ordinary template literal would be flattened to nonsense.
 */
export function rt(strings: TemplateStringsArray, ...values: Part[]): Inline[] {
  const out: Inline[] = [];
  strings.forEach((s, i) => {
    pushPart(out, s);
    if (i < values.length) pushPart(out, values[i]);
  });
  return out;
}

/** Concatenates texts. */
export function concat(...parts: Part[]): Inline[] {
  const out: Inline[] = [];
  for (const p of parts) pushPart(out, p);
  return out;
}

/** Joins texts with a separator. */
export function joinText(parts: readonly Text[], separator: string): Inline[] {
  const out: Inline[] = [];
  parts.forEach((p, i) => {
    if (i > 0) pushPart(out, separator);
    pushPart(out, p);
  });
  return out;
}

/** How many people a list of them names before "and N more" (mentionList). */
export const MENTIONS_SHOWN = 10;

/**
 * At most `max` mentions joined by `separator`, then "and N more": who may approve a request can be thousands of
 * people, and a list of them all was cut at the block's length limit, taking what followed it (the expiry) with it.
 * For lists that inform (a card, a reply); lists that notify (a nudge's mentions) name everyone.
 */
export function mentionList(externalIds: readonly string[], separator: string, max = MENTIONS_SHOWN): Inline[] {
  const shown = joinText(
    externalIds.slice(0, max).map((id) => [mention(id)]),
    separator,
  );
  const rest = Math.max(0, externalIds.length - max);
  return rest > 0 ? concat(shown, ` and ${rest.toLocaleString('en-US')} more`) : shown;
}

/** The inline parts of a text. */
export function inlines(text: Text): readonly Inline[] {
  return typeof text === 'string' ? [text] : text;
}

export function isEmptyText(text: Text): boolean {
  return inlines(text).every((i) => i === '');
}

/** The text with every string trimmed at its ends (typed text from a command or a form). */
export function trimText(text: Text): Text {
  if (typeof text === 'string') return text.trim();
  const out = [...text];
  if (typeof out[0] === 'string') out[0] = out[0].trimStart();
  const last = out.length - 1;
  if (typeof out[last] === 'string') out[last] = (out[last] as string).trimEnd();
  return out.filter((i) => i !== '');
}

export interface PlainOptions {
  /** How a person reads; default `@id`. */
  person?: (externalId: string) => string;
  /** How a channel reads; default `#id`. */
  channel?: (externalId: string) => string;
}

/** Text with nothing live: emoji as Unicode, times in ISO 8601 (UTC), links as `label (url)`, people and channels by name or id. */
export function plainText(text: Text, o: PlainOptions = {}): string {
  const person = o.person ?? ((id: string) => `@${id}`);
  const channel = o.channel ?? ((id: string) => `#${id}`);
  const one = (i: Inline): string => {
    if (typeof i === 'string') return i;
    if (isPersonNode(i)) return person(i.person);
    if (isChannelNode(i)) return channel(i.channel);
    if (isTimeNode(i)) return i.style === 'date' ? i.time.slice(0, 10) : i.time.replace(/\.\d{3}Z$/, 'Z');
    if (isLinkNode(i)) return i.label && i.label !== i.link ? `${i.label} (${i.link})` : i.link;
    if (isStrongNode(i)) return i.strong.map(one).join('');
    if (isEmNode(i)) return i.em.map(one).join('');
    if (isEmojiNode(i)) return EMOJI[i.emoji] ?? '';
    return i.code;
  };
  return inlines(text).map(one).join('');
}

/** Person ids in a text, in order, without repeats. */
export function peopleIn(text: Text): string[] {
  const out = new Set<string>();
  const walk = (i: Inline) => {
    if (typeof i !== 'object') return;
    if (isPersonNode(i)) out.add(i.person);
    else if (isStrongNode(i)) i.strong.forEach(walk);
    else if (isEmNode(i)) i.em.forEach(walk);
  };
  inlines(text).forEach(walk);
  return [...out];
}

/**
 * Neutral text in a text column. Text without nodes is stored as the plain string it is (most
 * rows, readable as they are); text with nodes as a marker character followed by its JSON. The
 * marker (U+0002) cannot come from a person: typed text is cleaned of control characters at the
 * edge (`cleanTyped`).
 */
const STORED = '\u0002';

export function encodeText(text: Text): string {
  if (typeof text === 'string') return text;
  if (text.every((i) => typeof i === 'string')) return text.join('');
  return STORED + JSON.stringify(text);
}

export function decodeText(stored: string): Text {
  if (!stored.startsWith(STORED)) return stored;
  try {
    const parsed = JSON.parse(stored.slice(1)) as unknown;
    if (Array.isArray(parsed)) return parsed as Inline[];
  } catch {
    // Not ours after all: shown as it is.
  }
  return stored.slice(1);
}

export function decodeNullable(stored: string | null): Text | null {
  return stored === null ? null : decodeText(stored);
}

/** Typed text as it may be stored: control characters (but line breaks and tabs) removed. */
export function cleanTyped(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point.
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}
