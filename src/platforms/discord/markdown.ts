import type { APIAllowedMentions } from 'discord-api-types/v10';
import {
  channelRef,
  cleanTyped,
  concat,
  EMOJI,
  inlines,
  isChannelNode,
  isCodeNode,
  isEmNode,
  isEmojiNode,
  isLinkNode,
  isPersonNode,
  isStrongNode,
  isTimeNode,
  mention,
  plainText,
  type Inline,
  type Text,
  type TimeNode,
  type TimeStyle,
} from '../../domain/text.ts';

/**
 * Discord's text, both ways.
 *
 * Out: `discordMarkdown` renders neutral text (src/domain/text.ts) as Discord's markdown
 * (https://discord.com/developers/docs/reference#message-formatting, and the markdown itself at
 * https://support.discord.com/hc/en-us/articles/210298617). Strings are data: every character
 * that is markup anywhere in a line (`\ * _ ~ ` | [ ] <`) is escaped with a backslash, which
 * Discord's markdown accepts before any punctuation, and so is what is markup at the start of a
 * line (`#`/`##`/`###` headings, `-# ` subtext, `>` quotes, `-`/`+` lists, `1.` numbered lists).
 * With `<` escaped, typed text can never form `<@id>`, `<@&role>`, `<#channel>`, `<t:…>`,
 * `<:emoji:id>`, `</command:id>` or `<id:…>`; with `[` `]` escaped it can never form a masked
 * link whose label lies. `@everyone` and `@here` get a zero-width space after the `@`, so they
 * read the same but are no mention. A URL typed in a string is left as it is (escaping inside it
 * would change the link): Discord autolinks it, and what it shows is the URL itself.
 *
 * Escaping is the display half. Pings are the other half: Discord parses mentions in a message's
 * content even where markdown shows them as text, so every create AND every edit carries
 * `allowed_mentions` (`allowedMentions` here): no `@everyone`/`@here`, no roles, and only the
 * people Muster itself mentioned (an edit without it is re-parsed with the default allowances:
 * https://discord.com/developers/docs/resources/message#edit-message).
 *
 * In: `parseDiscordText` reads what a person typed (message content, modal text, string options of
 * slash commands): user and channel mentions and timestamps become nodes, everything else is the
 * string as typed (a role mention or `@everyone` stays words, never a ping).
 */

/** Discord ids are 64-bit integers written in decimal (https://discord.com/developers/docs/reference#snowflakes). */
const SNOWFLAKE = /^\d{1,20}$/;
export const isSnowflake = (id: string): boolean => SNOWFLAKE.test(id);

/**
 * Timestamp styles (https://discord.com/developers/docs/reference#message-formatting-timestamp-styles), each
 * shown in the reader's own zone and locale:
 * - `datetime` → `f` "April 20, 2021 at 16:20", Discord's default, a date and a time to the minute (Slack's
 *   `{date_short_pretty} {time}`);
 * - `datetime_secs` → `S` "20/04/2021, 16:20:30", the only style with both a date and seconds;
 * - `date` → `D` "April 20, 2021" (Slack's `{date_short_pretty}`), the date without the time;
 * - `time` → `t` "16:20", the time to the minute (Slack's `{time}`).
 */
export const TIME_STYLE: Record<TimeStyle, string> = { datetime: 'f', datetime_secs: 'S', date: 'D', time: 't' };

/** The reverse, for timestamps typed in Discord: styles with seconds but no date read as a time. */
const STYLE_OF: Record<string, TimeStyle> = { t: 'time', T: 'time', d: 'date', D: 'date', f: 'datetime', F: 'datetime', s: 'datetime', S: 'datetime_secs', R: 'datetime' };

// ---------------------------------------------------------------------------------------------
// Escaping typed strings

/**
 * A URL as Discord autolinks it in text: http(s), up to whitespace or `<`, not ending in punctuation; a `)`
 * at the end only when the URL opened one (Discord's url rule, as simple-markdown and the clients model it).
 * Here a URL also ends at `[` or `]`, which are then escaped: whatever Discord makes of such a URL, the
 * brackets can never open a masked link.
 */
const URL_RUN = /https?:\/\/[^\s<[\]]+[^\s"',.:;<[\]]/g;

function trimUrl(url: string): string {
  let href = url;
  while (href.endsWith(')') && (href.match(/\(/g)?.length ?? 0) < (href.match(/\)/g)?.length ?? 0)) href = href.slice(0, -1);
  return href;
}

/** Markup anywhere in a line. */
const INLINE_MARKUP = /[\\*_~`|[\]<]/;
/**
 * Markup at the start of a line (after indentation): headings, subtext, quotes, bulleted and numbered lists
 * (`*` is escaped anyway). Discord needs a space after a list's mark; `#` and `>` are escaped whatever follows.
 */
const LINE_START = /^([ \t]*)(#|>|[-+](?=\s|#)|(\d+)\.(?=\s))/;

/**
 * A typed string as atoms of Discord markdown: each atom is escaped text that must not be split (an escape
 * pair, a defused `@everyone`, a URL, a surrogate pair). `lineStart`: the string begins a line.
 */
function typedAtoms(s: string, lineStart: boolean): string[] {
  const atoms: string[] = [];
  let last = 0;
  const plainPart = (part: string, startsLine: boolean) => {
    part.split('\n').forEach((line, n) => {
      if (n > 0) atoms.push('\n');
      let rest = line;
      if (n > 0 || startsLine) {
        const m = LINE_START.exec(rest);
        if (m) {
          if (m[1]) atoms.push(...m[1]);
          atoms.push(m[3] !== undefined ? `${m[3]}\\.` : `\\${m[2]}`);
          rest = rest.slice(m[0].length);
        }
      }
      for (const c of rest.matchAll(/(@(?=everyone|here))|[\uD800-\uDBFF][\uDC00-\uDFFF]|[\s\S]/gi)) {
        const ch = c[0];
        atoms.push(c[1] ? '@\u200b' : INLINE_MARKUP.test(ch) ? `\\${ch}` : ch);
      }
    });
  };
  for (const m of s.matchAll(URL_RUN)) {
    const url = trimUrl(m[0]);
    // Text after a URL does not start a line (a URL holds no line break); its own lines do.
    plainPart(s.slice(last, m.index), last === 0 && lineStart);
    atoms.push(url);
    last = m.index! + url.length;
  }
  plainPart(s.slice(last), last === 0 && lineStart);
  return atoms;
}

/** Inline markup escaped everywhere, URLs included: for a masked link's label, where a URL is no link anyway. */
const escapeAll = (s: string) => s.replace(/[\\*_~`|[\]<]/g, '\\$&').replace(/@(everyone|here)/gi, '@\u200b$1');

/** A typed string as Discord markdown that shows it as it is (see the module comment). */
export function escapeDiscord(s: string, o: { lineStart?: boolean } = {}): string {
  return typedAtoms(s, o.lineStart ?? true).join('');
}

// ---------------------------------------------------------------------------------------------
// Rendering nodes

function timestamp(t: TimeNode): string | undefined {
  const ms = Date.parse(t.time);
  if (!Number.isFinite(ms)) return undefined;
  return `<t:${Math.floor(ms / 1000)}:${TIME_STYLE[t.style] ?? 'f'}>`;
}

/**
 * Code as an inline code span. Discord's code spans may be opened with two backticks, so code holding a
 * single backtick is shown exactly (`` `` a`b `` ``, the spaces next to the fences are dropped); code holding two
 * in a row has its backticks shown as `ˋ`. A span is one line: line breaks read as spaces.
 */
function codeSpan(raw: string): string {
  const s = raw.replace(/\r?\n/g, ' ');
  if (!s) return '';
  if (!s.includes('`')) return `\`${s}\``;
  if (!s.includes('``')) return `\`\` ${s} \`\``;
  return `\`${s.replace(/`/g, 'ˋ')}\``;
}

/** A URL inside `[label](…)` or `<…>`: what would end it early is percent-encoded. */
const linkTarget = (url: string) => url.replace(/[()<>\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

interface Rendered {
  out: string;
  /** Snowflake ids of the people rendered as `<@id>`, in order, without repeats. */
  people: string[];
}

function renderNode(i: Exclude<Inline, string>, lineStart: boolean, people: Set<string>): string {
  if (isPersonNode(i)) {
    if (!isSnowflake(i.person)) return escapeDiscord(`@${i.person}`, { lineStart });
    people.add(i.person);
    return `<@${i.person}>`;
  }
  if (isChannelNode(i)) return isSnowflake(i.channel) ? `<#${i.channel}>` : escapeDiscord(`#${i.channel}`, { lineStart });
  if (isTimeNode(i)) return timestamp(i) ?? escapeDiscord(plainText([i]), { lineStart });
  if (isStrongNode(i)) return wrap('**', i.strong, lineStart, people);
  if (isEmNode(i)) return wrap('*', i.em, lineStart, people);
  if (isCodeNode(i)) return codeSpan(i.code);
  if (isEmojiNode(i)) return EMOJI[i.emoji] ?? '';
  if (isLinkNode(i)) {
    // Only http(s) links are live (Discord links nothing else); a mailto shows as text.
    if (!/^https?:\/\//i.test(i.link)) return escapeDiscord(i.label && i.label !== i.link ? `${i.label} (${i.link})` : i.link, { lineStart });
    // `<url>`: a link without a preview; `[label](url)`: a masked link, its label escaped like any string.
    if (!i.label || i.label === i.link) return `<${linkTarget(i.link)}>`;
    return `[${escapeAll(i.label.replace(/\n/g, ' '))}](${linkTarget(i.link)})`;
  }
  return '';
}

/** Emphasis: the marks go against the words (Discord's `*` needs no space inside it), surrounding spaces outside. */
function wrap(mark: string, content: readonly Inline[], lineStart: boolean, people: Set<string>): string {
  const inner = renderAll(content, Infinity, lineStart, people).out;
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(inner)!;
  return m[2] ? `${m[1]}${mark}${m[2]}${mark}${m[3]}` : inner;
}

/** Marks that would run together across two pieces (`**a**` then `*b*`, `` `a` `` then `` `b` ``). */
const EDGE_MARK = /^[*_~|`]$/;

function renderAll(items: readonly Inline[], max: number, lineStart: boolean, people: Set<string>): Rendered {
  let out = '';
  const startsLine = () => (out === '' ? lineStart : out.endsWith('\n'));
  for (const i of items) {
    const mine = new Set<string>();
    const atoms = typeof i === 'string' ? typedAtoms(i, startsLine()) : [renderNode(i, startsLine(), mine)];
    const edge = out[out.length - 1];
    if (typeof i !== 'string' && edge && EDGE_MARK.test(edge) && atoms[0]?.[0] === edge) atoms[0] = `\u200b${atoms[0]}`;
    const piece = atoms.join('');
    if (out.length + piece.length <= max) {
      out += piece;
      for (const p of mine) people.add(p);
      continue;
    }
    // Cut: a string before the first atom that does not fit, a node not at all; then the ellipsis.
    if (max < 1) return { out: '', people: [...people] };
    if (typeof i === 'string') {
      for (const a of atoms) {
        if (out.length + a.length > max - 1) break;
        out += a;
      }
    }
    return { out: `${out}…`, people: [...people] };
  }
  return { out, people: [...people] };
}

/** Neutral text as Discord markdown, with the ids of the people it mentions; cut to `max` characters, never inside an escape or a node. */
export function renderDiscord(text: Text, max = Infinity): Rendered {
  return renderAll(inlines(text), max, true, new Set());
}

/** Neutral text as Discord markdown (message content, embed descriptions and field values); with `max`, cut to fit, never inside an escape or a node's markup. */
export function discordMarkdown(text: Text, o: { max?: number } = {}): string {
  return renderDiscord(text, o.max ?? Infinity).out;
}

/** Person ids anywhere in a text or in several texts (strong and em included). */
function peopleOf(text: Text | readonly Text[]): string[] {
  const out = new Set<string>();
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === 'object') {
      const i = x as Inline;
      if (isPersonNode(i)) out.add(i.person);
      else if (isStrongNode(i)) i.strong.forEach(walk);
      else if (isEmNode(i)) i.em.forEach(walk);
    }
  };
  walk(text);
  return [...out];
}

/** Discord takes at most 100 user ids in `allowed_mentions.users` (https://discord.com/developers/docs/resources/message#allowed-mentions-object). */
export const MAX_ALLOWED_USERS = 100;

/**
 * The `allowed_mentions` for a message drawn from these texts: nothing parsed (`parse: []`: no `@everyone`,
 * `@here` or role pings, whatever the content holds) and only the people Muster put in as person nodes
 * (`users`, at most 100; ids that are not Discord ids are rendered as text and left out). Send it on every
 * create and every edit: an edit without it is parsed again with the default allowances.
 */
export function allowedMentions(text: Text | readonly Text[]): APIAllowedMentions {
  return mentionsFor(peopleOf(text));
}

/** `allowed_mentions` for exactly these people. */
export function mentionsFor(people: readonly string[]): APIAllowedMentions {
  return { parse: [], users: [...new Set(people.filter(isSnowflake))].slice(0, MAX_ALLOWED_USERS) };
}

/**
 * Neutral text where Discord shows no markdown (button labels, modal titles, labels and placeholders, embed
 * footers): people and channels as `@id` and `#id`, times in ISO 8601 (UTC), links as `label (url)`, emoji as
 * Unicode, on one line.
 */
export function plainDiscord(text: Text): string {
  return plainText(text).replace(/\s*\r?\n\s*/g, ' ');
}

// ---------------------------------------------------------------------------------------------
// In: what a person typed

/**
 * The forms Discord turns into mentions and the like, each not preceded by a backslash (escaped, Discord
 * shows them as text): user `<@id>` (and the deprecated `<@!id>`), channel `<#id>`, timestamp `<t:unix>` or
 * `<t:unix:style>`, custom emoji `<:name:id>` / `<a:name:id>`, a command `</name:id>`, a masked link
 * `[label](url)` and a link without preview `<url>`.
 */
const TOKEN =
  /(?<!\\)(?:<@!?(\d{1,20})>|<#(\d{1,20})>|<t:(-?\d{1,14})(?::([tTdDfFsSR]))?>|<a?:(\w{1,32}):\d{1,20}>|<\/([^<>:\n]{1,100}):\d{1,20}>|\[([^[\]\n]+)\]\(\s*<?(https?:\/\/[^\s<>()]+)>?\s*\)|<(https?:\/\/[^\s<>]+)>)/g;

/**
 * What a person typed in Discord (message content, modal text, string options), as neutral text: mentions of
 * people and channels and timestamps become nodes; a custom emoji reads `:name:`, a command `/name`, a masked
 * link `label (url)` — what the person saw; everything else is the string as typed, control characters
 * removed (`@everyone`, `@here`, role mentions `<@&id>` and markdown stay text).
 */
export function parseDiscordText(content: string): Inline[] {
  const parts: Inline[] = [];
  let last = 0;
  for (const m of content.matchAll(TOKEN)) {
    parts.push(cleanTyped(content.slice(last, m.index)));
    last = m.index! + m[0].length;
    const [, user, channel, unix, style, emoji, command, label, url, bare] = m;
    if (user !== undefined) parts.push(mention(user));
    else if (channel !== undefined) parts.push(channelRef(channel));
    else if (unix !== undefined) {
      const d = new Date(Number(unix) * 1000);
      parts.push(Number.isFinite(d.getTime()) ? { time: d.toISOString(), style: STYLE_OF[style ?? 'f'] ?? 'datetime' } : m[0]);
    } else if (emoji !== undefined) parts.push(`:${emoji}:`);
    else if (command !== undefined) parts.push(cleanTyped(`/${command}`));
    else if (url !== undefined) parts.push(cleanTyped(label !== undefined && label !== url ? `${label} (${url})` : url));
    else parts.push(cleanTyped(bare ?? m[0]));
  }
  parts.push(cleanTyped(content.slice(last)));
  return concat(parts);
}
