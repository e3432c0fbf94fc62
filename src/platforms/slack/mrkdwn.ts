import { inlines, isTimeNode, plainText, type Inline, type Text, type TimeStyle } from '../../domain/text.ts';

/**
 * Slack's text formats, both ways.
 *
 * In: with escaping on (`should_escape: true` in manifest.yml), Slack sends what a person
 * typed with `&`, `<` and `>` as `&amp;` `&lt;` `&gt;`, and what they picked from
 * autocomplete as `<@U…|name>`, `<#C…|name>`, `<!here>`, `<!channel>`, `<!everyone>`,
 * `<!subteam^S…|@group>` and links as `<https://…>` or `<https://…|label>`
 * (https://api.slack.com/reference/surfaces/formatting#retrieving-messages and
 * https://api.slack.com/interactivity/slash-commands#creating_commands, "Escape channels,
 * users, and links sent to your app"). `parseSlackText` turns that into neutral text
 * (src/domain/text.ts): people and channels stay references, everything else becomes
 * the plain text the person saw — `@everyone`, `@group`, `label (https://…)`.
 *
 * Out: `mrkdwn` renders neutral text. Strings are escaped (`&` `<` `>`, as Slack asks at
 * https://api.slack.com/reference/surfaces/formatting#escaping), so typed text can never
 * become `<!everyone>`, a group ping or a link whose label lies; only the `<@U…>` / `<#C…>`
 * references and the nodes (times, Muster's own links) come out as markup.
 */

const ENTITY = /<([^<>]*)>/g;

function decodeEntities(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** One `<…>` entity of Slack's escaped text, as neutral text. */
function fromEntity(body: string): string {
  const bar = body.indexOf('|');
  const target = bar < 0 ? body : body.slice(0, bar);
  const label = bar < 0 ? undefined : decodeEntities(body.slice(bar + 1));
  const person = /^@([UW][A-Z0-9]+)$/.exec(target);
  if (person) return `<@${person[1]}>`;
  const channel = /^#([CG][A-Z0-9]+)$/.exec(target);
  if (channel) return `<#${channel[1]}>`;
  if (target.startsWith('!')) {
    // Special mentions, group pings and dates: the words a person saw, never a ping.
    const special = /^!(here|channel|everyone)$/.exec(target);
    if (special) return `@${special[1]}`;
    if (label) return label;
    const group = /^!subteam\^([A-Z0-9]+)$/.exec(target);
    return group ? `@${group[1]}` : `@${target.slice(1).split('^')[0]}`;
  }
  const url = decodeEntities(target);
  // An email typed with escaping on arrives as <mailto:a@b.example|a@b.example>: the address.
  if (/^mailto:/i.test(url) && (!label || label === url.slice(7))) return url.slice(7);
  return label && label !== url ? `${label} (${url})` : url;
}

/** Slack's escaped text (commands, messages) as neutral text. */
export function parseSlackText(raw: string): string {
  let out = '';
  let last = 0;
  for (const m of raw.matchAll(ENTITY)) {
    out += decodeEntities(raw.slice(last, m.index));
    out += fromEntity(m[1]!);
    last = m.index! + m[0].length;
  }
  return out + decodeEntities(raw.slice(last));
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Only these references survive from a string as markup: one person, one channel. */
const SLACK_REFERENCE = /<(@[UW][A-Z0-9]+|#[CG][A-Z0-9]+)>/g;

function renderString(s: string): string {
  let out = '';
  let last = 0;
  for (const m of s.matchAll(SLACK_REFERENCE)) {
    out += escape(s.slice(last, m.index));
    out += `<${m[1]}>`;
    last = m.index! + m[0].length;
  }
  return out + escape(s.slice(last));
}

const DATE_FORMAT: Record<TimeStyle, string> = {
  datetime: '{date_short_pretty} {time}',
  datetime_secs: '{date_short_pretty} {time_secs}',
  date: '{date_short_pretty}',
  time: '{time}',
};

function renderInline(i: Inline): string {
  if (typeof i === 'string') return renderString(i);
  if (isTimeNode(i)) {
    const fallback = plainText([i]);
    return `<!date^${Math.floor(Date.parse(i.time) / 1000)}^${DATE_FORMAT[i.style]}|${escape(fallback)}>`;
  }
  // A link Muster built: the URL may not break out of the <…|…> form.
  const url = i.link.replace(/[<>|\s]/g, encodeURIComponent);
  return i.label ? `<${url}|${escape(i.label)}>` : `<${url}>`;
}

/**
 * Neutral text as Slack mrkdwn (also right for a message's top-level `text`). With `max`,
 * the rendered text is cut to fit, never inside an escape, a reference or a node.
 */
export function mrkdwn(text: Text, max = Infinity): string {
  let out = '';
  for (const i of inlines(text)) {
    const r = renderInline(i);
    if (out.length + r.length <= max) {
      out += r;
      continue;
    }
    if (typeof i === 'string') {
      // Cut the rendered string before the first escape or reference that does not fit.
      const room = max - 1 - out.length;
      let cut = 0;
      for (const m of r.matchAll(/&(?:amp|lt|gt);|<[@#][A-Z0-9]+>|[\s\S]/g)) {
        if (m.index! + m[0].length > room) break;
        cut = m.index! + m[0].length;
      }
      out += r.slice(0, cut);
    }
    return `${out}…`;
  }
  return out;
}

/** Neutral text where Slack shows `plain_text`: nothing is parsed there, so references read as ids. */
export function plain(text: Text): string {
  return plainText(text);
}

/** Slack's length limits for text objects: section fields 2000, other mrkdwn text 3000 (Block Kit reference). */
const FIELD_MAX = 2000;
const TEXT_MAX = 3000;
/** chat.postMessage truncates `text` past 40,000 characters; we keep the fallback short. */
const FALLBACK_MAX = 4000;

/**
 * Renders every text object of a Block Kit structure whose text is neutral: `mrkdwn` as
 * mrkdwn, `plain_text` as plain text. Surfaces (blocks/) put neutral text in them.
 */
export function renderBlocks<T>(value: T, max = TEXT_MAX): T {
  if (Array.isArray(value)) return value.map((v) => renderBlocks(v, max)) as T;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if ((obj.type === 'mrkdwn' || obj.type === 'plain_text') && (typeof obj.text === 'string' || Array.isArray(obj.text))) {
      return { ...obj, text: obj.type === 'mrkdwn' ? mrkdwn(obj.text as Text, max) : plain(obj.text as Text) } as T;
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, renderBlocks(v, k === 'fields' ? FIELD_MAX : TEXT_MAX)])) as T;
  }
  return value;
}

/** A message body (top-level text and blocks) from neutral text, ready for Slack. */
export function renderMessage<T extends { text?: unknown; blocks?: unknown }>(m: T): T {
  return {
    ...m,
    ...(m.text !== undefined ? { text: mrkdwn(m.text as Text, FALLBACK_MAX) } : {}),
    ...(m.blocks !== undefined ? { blocks: renderBlocks(m.blocks) } : {}),
  };
}
