import { EMOJI } from '../../../domain/text.ts';

/**
 * Slack text as safe HTML, for the sandbox's web app (src/platforms/sandbox/web/blockKit.ts draws the
 * blocks around it). Pure and DOM-free: it returns HTML strings, runs in the browser (bundled with
 * esbuild) and in Node (vitest).
 *
 * Slack's rules, from "Formatting message text" (https://docs.slack.dev/messaging/formatting-message-text,
 * formerly https://api.slack.com/reference/surfaces/formatting):
 * - `&`, `<` and `>` are Slack's control characters: text carries them as `&amp;` `&lt;` `&gt;` and Slack
 *   decodes exactly those three (no other HTML entity). Here they are decoded once and every character is
 *   then escaped for HTML once: `&amp;lt;` shows as the text `&lt;`, `&lt;script&gt;` as the text `<script>`,
 *   and nothing a sender typed ever reaches the page as markup.
 * - Markup is only ever the raw `<…>` forms: `<@U…>`/`<@U…|name>` (a person), `<#C…>`/`<#C…|name>` (a
 *   channel), `<!here>` `<!channel>` `<!everyone>`, `<!subteam^S…|@handle>` (a user group),
 *   `<!date^<seconds>^<format>[^<link>]|<fallback>>`, `<https://…>`/`<https://…|label>` and `mailto:` links;
 *   and the visual styles `*bold*`, `_italic_`, `~strike~`, `` `code` ``, ```` ```pre``` ````, `>` quotes
 *   (also `>>>` for the rest of the text) and line breaks.
 * - Slack only auto-links bare URLs and names when it *receives* a message without `verbatim` (it rewrites them
 *   into the `<…>` forms before storing); what we render is what Slack stored, so bare URLs stay text here.
 */

export interface RenderContext {
  /** Slack user id -> display name (for `<@U…>`). */
  users: Record<string, string>;
  /** Channel id -> name (for `<#C…>`). */
  channels: Record<string, string>;
  /** The viewer's IANA time zone, for `<!date^…>`. */
  timeZone: string;
  /** Default 'en-GB'. */
  locale?: string;
  /** ms since the epoch, for relative tokens ({date_pretty}: today/yesterday; {ago}); default Date.now(). */
  now?: number;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text (or an attribute value) as HTML: `& < > " '` escaped. */
export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** Slack's three entities decoded, in one pass (`&amp;lt;` becomes the text `&lt;`, not `<`). */
export function decodeSlackEntities(s: string): string {
  return s.replace(/&(amp|lt|gt);/g, (_m, e: string) => (e === 'amp' ? '&' : e === 'lt' ? '<' : '>'));
}

// ---------------------------------------------------------------------------------------------
// Emoji

/**
 * Shortcodes shown as their character: every emoji Muster puts on a surface (EMOJI in src/domain/text.ts,
 * the only ones its blocks/ and src/platforms/slack/mrkdwn.ts emit), and a few common ones people type.
 * Anything else stays `:name:` text.
 */
export const EMOJI_TABLE: Readonly<Record<string, string>> = {
  ...EMOJI,
  '+1': '👍',
  thumbsup: '👍',
  '-1': '👎',
  thumbsdown: '👎',
  heavy_check_mark: '✔️',
  ballot_box_with_check: '☑️',
  heavy_multiplication_x: '✖️',
  exclamation: '❗',
  question: '❓',
  information_source: 'ℹ️',
  bulb: '💡',
  fire: '🔥',
  rocket: '🚀',
  tada: '🎉',
  wave: '👋',
  eyes: '👀',
  pray: '🙏',
  smile: '😄',
  slightly_smiling_face: '🙂',
  heart: '❤️',
  bell: '🔔',
  memo: '📝',
  calendar: '📆',
  clock1: '🕐',
  stopwatch: '⏱️',
  construction: '🚧',
  large_green_circle: '🟢',
  green_circle: '🟢',
  large_blue_circle: '🔵',
  black_circle: '⚫',
  arrow_right: '➡️',
  link: '🔗',
  gear: '⚙️',
  hammer_and_wrench: '🛠️',
  speech_balloon: '💬',
  bust_in_silhouette: '👤',
  busts_in_silhouette: '👥',
  shield: '🛡️',
  chart_with_upwards_trend: '📈',
};

const EMOJI_CODE = /:([a-z0-9_+-]+):/g;

/** Known shortcodes as their characters, in raw (unescaped) text: for accessible names. */
export function emojiChars(s: string): string {
  return s.replace(EMOJI_CODE, (whole, name: string) => EMOJI_TABLE[name] ?? whole);
}

function emojiHtml(name: string, char: string): string {
  return `<span class="bk-emoji" role="img" aria-label="${escapeHtml(name.replace(/_/g, ' '))}" title=":${escapeHtml(name)}:">${char}</span>`;
}

/** An emoji by shortcode (and, from rich text, its Unicode code points such as "1f44d" or "1f1fa-1f1f8"). */
export function renderEmoji(name: string, unicode?: string): string {
  if (unicode && /^[0-9a-f]{2,6}(?:-[0-9a-f]{2,6})*$/i.test(unicode)) {
    try {
      return emojiHtml(name, String.fromCodePoint(...unicode.split('-').map((h) => parseInt(h, 16))));
    } catch {
      // Not a code point: fall through to the table.
    }
  }
  const char = EMOJI_TABLE[name];
  return char ? emojiHtml(name, char) : escapeHtml(`:${name}:`);
}

// ---------------------------------------------------------------------------------------------
// Dates: <!date^…> and the rich text date element

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The calendar date (and time) of an instant in a zone. Throws a RangeError for an unknown zone. */
function wallClock(ms: number, timeZone: string): { y: number; m: number; d: number; h: number; mi: number; s: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(ms));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? NaN);
  return { y: get('year'), m: get('month'), d: get('day'), h: get('hour') % 24, mi: get('minute'), s: get('second') };
}

/** The zone's offset from UTC at an instant, in ms. */
function offsetAt(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone);
  return Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s) - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant a wall-clock time in a zone stands for: in a DST overlap the earlier of the two, in a DST gap
 * the time it would be with the offset from before the gap (02:30 on a spring-forward night is 03:30), as
 * browsers do.
 */
export function zonedTimeToEpoch(y: number, m: number, d: number, h: number, mi: number, timeZone: string): number {
  const asUtc = Date.UTC(y, m - 1, d, h, mi);
  const before = offsetAt(asUtc - 43_200_000, timeZone);
  const after = offsetAt(asUtc + 43_200_000, timeZone);
  const matches = [...new Set([asUtc - before, asUtc - after])].filter((c) => {
    const w = wallClock(c, timeZone);
    return w.y === y && w.m === m && w.d === d && w.h === h && w.mi === mi;
  });
  return matches.length ? Math.min(...matches) : asUtc - before;
}

/** "YYYY-MM-DDTHH:mm" of an instant in a zone (an <input type="datetime-local"> value). */
export function epochToZonedInput(ms: number, timeZone: string): string {
  const w = wallClock(ms, timeZone);
  return `${w.y}-${pad(w.m)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}`;
}

const dayNumber = (w: { y: number; m: number; d: number }) => Date.UTC(w.y, w.m - 1, w.d) / 86_400_000;

/**
 * Slack's date tokens (https://docs.slack.dev/messaging/formatting-message-text#date-formatting), in the
 * viewer's zone and locale: {date_num} 2026-03-29, {date_slash} 29/03/2026, {date} and {date_long_full}
 * 29 March 2026, {date_short} 29 Mar 2026, {date_long} Sunday 29 March 2026, the `_pretty` variants say
 * today/yesterday/tomorrow when they apply, {day_divider_pretty}, {time} 14:05, {time_secs} 14:05:09 and
 * {ago} ("3 minutes ago"). Unknown tokens are kept as written. Like Slack, the first letter is capitalised
 * ("Today 14:05"). Null when the instant or the zone is not usable (the caller shows the fallback).
 */
export function formatSlackDate(epochSeconds: number, format: string, ctx: RenderContext): string | null {
  if (!Number.isFinite(epochSeconds)) return null;
  const ms = epochSeconds * 1000;
  const locale = ctx.locale ?? 'en-GB';
  const now = ctx.now ?? Date.now();
  const timeZone = ctx.timeZone;
  try {
    const date = new Date(ms);
    const w = wallClock(ms, timeZone);
    const today = wallClock(now, timeZone);
    const diffDays = dayNumber(w) - dayNumber(today);
    const fmt = (o: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat(locale, { timeZone, ...o }).format(date);
    const relativeDay = Math.abs(diffDays) <= 1 ? new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(diffDays, 'day') : null;
    // {time} is 6:39 AM or 06:39 by the reader's clock (here: the locale's).
    const hour24 = /^h2[34]$/.test(new Intl.DateTimeFormat(locale, { hour: 'numeric' }).resolvedOptions().hourCycle ?? '');
    const dateLong = () => fmt({ weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
    const dateShort = () => fmt({ day: 'numeric', month: 'short', year: 'numeric' });
    const dateMid = () => fmt({ day: 'numeric', month: 'long', year: 'numeric' });
    const tokens: Record<string, () => string> = {
      date_num: () => `${pad(w.y, 4)}-${pad(w.m)}-${pad(w.d)}`,
      date_slash: () => fmt({ day: '2-digit', month: '2-digit', year: 'numeric' }),
      date: dateMid,
      date_long_full: dateMid,
      date_short: dateShort,
      date_long: dateLong,
      date_pretty: () => relativeDay ?? dateMid(),
      date_short_pretty: () => relativeDay ?? dateShort(),
      date_long_pretty: () => relativeDay ?? dateLong(),
      day_divider_pretty: () => relativeDay ?? (w.y === today.y ? fmt({ weekday: 'long', day: 'numeric', month: 'long' }) : dateLong()),
      time: () => fmt({ hour: hour24 ? '2-digit' : 'numeric', minute: '2-digit' }),
      time_secs: () => fmt({ hour: hour24 ? '2-digit' : 'numeric', minute: '2-digit', second: '2-digit' }),
      ago: () => ago(ms - now, locale),
    };
    const out = format.replace(/\{([a-z_]+)\}/g, (whole, name: string) => (tokens[name] ? tokens[name]() : whole));
    return out.charAt(0).toLocaleUpperCase(locale) + out.slice(1);
  } catch {
    return null;
  }
}

function ago(deltaMs: number, locale: string): string {
  const s = Math.round(deltaMs / 1000);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['year', 31_536_000],
    ['month', 2_592_000],
    ['week', 604_800],
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ];
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'always' });
  for (const [unit, size] of units) if (Math.abs(s) >= size) return rtf.format(Math.trunc(s / size), unit);
  return new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(Math.abs(s) < 10 ? 0 : s, 'second');
}

const SAFE_URL = /^(?:https?:\/\/|mailto:)/i;
/** Only http(s) and mailto URLs ever become links or image sources. */
export function isSafeUrl(url: string): boolean {
  return SAFE_URL.test(url) && !/[\u0000-\u001f\s]/.test(url);
}

export function linkHtml(url: string, labelHtml: string): string {
  return `<a class="bk-link" href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${labelHtml}</a>`;
}

/** A date (from `<!date…>` or a rich text date element): formatted, or its fallback; linked when asked. */
export function renderDate(epochSeconds: number, format: string, fallback: string | undefined, link: string | undefined, ctx: RenderContext): string {
  const formatted = formatSlackDate(epochSeconds, format, ctx);
  const text = formatted ?? fallback ?? format;
  const iso = Number.isFinite(epochSeconds) && Math.abs(epochSeconds) < 8.64e12 ? new Date(epochSeconds * 1000).toISOString() : undefined;
  const inner = `<time class="bk-date"${iso ? ` datetime="${iso}"` : ''}${fallback ? ` title="${escapeHtml(fallback)}"` : ''}>${escapeHtml(text)}</time>`;
  return link && isSafeUrl(link) ? linkHtml(link, inner) : inner;
}

// ---------------------------------------------------------------------------------------------
// Mentions

export function userPill(id: string, ctx: RenderContext, label?: string): string {
  const name = ctx.users[id] ?? label ?? id;
  return `<span class="bk-mention bk-mention-user" data-user-id="${escapeHtml(id)}">@${escapeHtml(name.replace(/^@/, ''))}</span>`;
}

export function channelPill(id: string, ctx: RenderContext, label?: string): string {
  const name = ctx.channels[id] ?? label ?? id;
  return `<span class="bk-mention bk-mention-channel" data-channel-id="${escapeHtml(id)}">#${escapeHtml(name.replace(/^#/, ''))}</span>`;
}

export function specialPill(text: string, cls = 'bk-mention-special'): string {
  return `<span class="bk-mention ${cls}">${escapeHtml(text)}</span>`;
}

/** One `<…>` entity (its body, still with Slack's entities) as HTML. */
function entityHtml(body: string, ctx: RenderContext): string {
  const bar = body.indexOf('|');
  const target = bar < 0 ? body : body.slice(0, bar);
  const label = bar < 0 ? undefined : decodeSlackEntities(body.slice(bar + 1));
  const person = /^@([UWB][A-Z0-9]+)$/.exec(target);
  if (person) return userPill(person[1]!, ctx, label);
  const channel = /^#([CGD][A-Z0-9]+)$/.exec(target);
  if (channel) return channelPill(channel[1]!, ctx, label);
  if (target.startsWith('!')) {
    const special = /^!(here|channel|everyone)$/.exec(target);
    if (special) return specialPill(`@${special[1]}`);
    const group = /^!subteam\^([A-Z0-9]+)$/.exec(target);
    if (group) return specialPill(label ? `@${label.replace(/^@/, '')}` : `@${group[1]}`, 'bk-mention-group');
    if (target.startsWith('!date^')) {
      const [, ts, format, ...link] = target.split('^');
      return renderDate(Number(ts), decodeSlackEntities(format ?? ''), label, link.length ? decodeSlackEntities(link.join('^')) : undefined, ctx);
    }
    // Another command (<!something|label>): what Slack shows is its label.
    return escapeHtml(label ?? decodeSlackEntities(`<${body}>`));
  }
  const url = decodeSlackEntities(target);
  if (isSafeUrl(url)) return linkHtml(url, escapeHtml(label ?? (/^mailto:/i.test(url) ? url.slice(7) : url)));
  // Not a link Slack would draw (javascript:, data:, a stray <word>): the text as it was written.
  return `<span class="bk-unlinked">${escapeHtml(decodeSlackEntities(`<${body}>`))}</span>`;
}

// ---------------------------------------------------------------------------------------------
// mrkdwn

/**
 * Placeholders for rendered pieces while the styles are parsed: one private-use character each
 * (U+E000…U+F8FF). Private-use characters in the input are replaced first, so text cannot forge one.
 */
class Slots {
  private readonly html: string[] = [];
  put(html: string): string {
    if (this.html.length >= 0x18ff) return '';
    this.html.push(html);
    return String.fromCharCode(0xe000 + this.html.length - 1);
  }
  resolve(s: string): string {
    for (let i = 0; i < 8 && /[\uE000-\uF8FF]/.test(s); i++) s = s.replace(/[\uE000-\uF8FF]/g, (c) => this.html[c.charCodeAt(0) - 0xe000] ?? '');
    return s.replace(/[\uE000-\uF8FF]/g, '');
  }
}

const TAGS: Record<string, [string, string]> = { '*': ['<strong>', '</strong>'], _: ['<em>', '</em>'], '~': ['<s>', '</s>'] };
/** A style mark: not inside a word on its outer side, touching the text on its inner side, on one line. */
const EMPHASIS = /(?<![\p{L}\p{N}])([*_~])(?!\s)(.+?)(?<!\s)\1(?![\p{L}\p{N}])/u;

/** Decoded text with placeholders: styles applied (always well nested), the rest escaped. */
function emphasis(s: string, depth = 0): string {
  const m = depth < 20 ? EMPHASIS.exec(s) : null;
  if (!m) return escapeHtml(s);
  const [open, close] = TAGS[m[1]!]!;
  return escapeHtml(s.slice(0, m.index)) + open + emphasis(m[2]!, depth + 1) + close + emphasis(s.slice(m.index + m[0].length), depth + 1);
}

/** One line of mrkdwn (no line breaks, no ``` blocks) as inline HTML. */
function inlineHtml(line: string, ctx: RenderContext, slots: Slots): string {
  // Entities first (they are Slack's own markup), then code spans, then emoji, then the styles.
  let s = line.replace(/<([^<>]*)>/g, (_m, body: string) => slots.put(entityHtml(body, ctx)));
  s = s.replace(/`([^`]+)`/g, (_m, code: string) => slots.put(`<code class="bk-code">${escapeHtml(decodeSlackEntities(code))}</code>`));
  s = decodeSlackEntities(s);
  s = s.replace(EMOJI_CODE, (whole, name: string) => (EMOJI_TABLE[name] ? slots.put(renderEmoji(name)) : whole));
  return emphasis(s);
}

const QUOTE = /^(?:>|&gt;)/;
const QUOTE_REST = /^(?:>>>|&gt;&gt;&gt;)/;

/** Lines of mrkdwn: `>` lines grouped into quotes, `>>>` quoting the rest, other lines joined by <br>. */
function linesHtml(text: string, ctx: RenderContext, slots: Slots): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let plain: string[] = [];
  let quote: string[] = [];
  const flushPlain = () => {
    if (plain.length) out.push(plain.join('<br>'));
    plain = [];
  };
  const flushQuote = () => {
    if (quote.length) out.push(`<blockquote class="bk-quote">${quote.join('<br>')}</blockquote>`);
    quote = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (QUOTE_REST.test(line)) {
      flushPlain();
      const rest = [line.replace(QUOTE_REST, '').replace(/^ /, ''), ...lines.slice(i + 1)];
      quote.push(...rest.map((l) => inlineHtml(l, ctx, slots)));
      break;
    }
    if (QUOTE.test(line)) {
      flushPlain();
      quote.push(inlineHtml(line.replace(QUOTE, '').replace(/^ /, ''), ctx, slots));
    } else {
      flushQuote();
      plain.push(inlineHtml(line, ctx, slots));
    }
  }
  flushPlain();
  flushQuote();
  return out.join('');
}

/** Slack mrkdwn as safe HTML (block-level: may hold <blockquote> and <pre>). */
export function renderMrkdwn(text: string, ctx: RenderContext): string {
  if (typeof text !== 'string' || text === '') return '';
  const slots = new Slots();
  const src = text.replace(/\r\n?/g, '\n').replace(/[\uE000-\uF8FF]/g, '\uFFFD');
  const out: string[] = [];
  let last = 0;
  for (const m of src.matchAll(/```([\s\S]*?)```/g)) {
    const before = src.slice(last, m.index).replace(/\n$/, '');
    if (before) out.push(linesHtml(before, ctx, slots));
    const body = m[1]!.replace(/^\n/, '').replace(/\n$/, '');
    out.push(`<pre class="bk-pre">${escapeHtml(decodeSlackEntities(body))}</pre>`);
    last = m.index! + m[0].length;
    if (src[last] === '\n') last++;
  }
  const rest = src.slice(last);
  if (rest || last === 0) out.push(linesHtml(rest, ctx, slots));
  return slots.resolve(out.join(''));
}

/**
 * Text where Slack shows plain_text: no markup at all; Slack's three entities decoded once and everything
 * escaped; line breaks kept; with `emoji` (Slack's `emoji: true`, the default) known shortcodes as their
 * character — as spans, or bare characters with `spans: false` (for <option> and attributes' neighbours).
 * Slack normalises & < > in plain_text to their entities and shows them decoded
 * (https://github.com/slackapi/bolt-python/issues/513), hence the decoding.
 */
export function renderPlain(text: string, _ctx: RenderContext, opts: { emoji?: boolean; spans?: boolean } = {}): string {
  if (typeof text !== 'string' || text === '') return '';
  const emoji = opts.emoji ?? true;
  const spans = opts.spans ?? true;
  let out = escapeHtml(decodeSlackEntities(text));
  if (emoji) out = out.replace(EMOJI_CODE, (whole, name: string) => (EMOJI_TABLE[name] ? (spans ? renderEmoji(name) : EMOJI_TABLE[name]!) : whole));
  return spans ? out.replace(/\r\n?|\n/g, '<br>') : out;
}
