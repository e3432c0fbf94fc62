import {
  channelRef,
  cleanTyped,
  concat,
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
  type TimeStyle,
} from '../../domain/text.ts';

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
 * (src/domain/text.ts): people and channels become nodes, everything else the plain text the
 * person saw — `@everyone`, `@group`, `label (https://…)`.
 *
 * Out: `mrkdwn` renders neutral text. Strings are escaped (`&` `<` `>`, as Slack asks at
 * https://api.slack.com/reference/surfaces/formatting#escaping), so typed text can never
 * become `<!everyone>`, a group ping or a link whose label lies; only nodes (people,
 * channels, times, Muster's own links and emphasis) come out as markup.
 */

const ENTITY = /<([^<>]*)>/g;

function decodeEntities(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** One `<…>` entity of Slack's escaped text, as neutral text. */
function fromEntity(body: string): Inline {
  const bar = body.indexOf('|');
  const target = bar < 0 ? body : body.slice(0, bar);
  const label = bar < 0 ? undefined : decodeEntities(body.slice(bar + 1));
  const person = /^@([UW][A-Z0-9]+)$/.exec(target);
  if (person) return mention(person[1]!);
  const channel = /^#([CG][A-Z0-9]+)$/.exec(target);
  if (channel) return channelRef(channel[1]!);
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

/** Slack's escaped text (commands, messages) as neutral text; control characters are dropped. */
export function parseSlackText(raw: string): Inline[] {
  const parts: Inline[] = [];
  let last = 0;
  for (const m of raw.matchAll(ENTITY)) {
    parts.push(cleanTyped(decodeEntities(raw.slice(last, m.index))));
    const e = fromEntity(m[1]!);
    parts.push(typeof e === 'string' ? cleanTyped(e) : e);
    last = m.index! + m[0].length;
  }
  parts.push(cleanTyped(decodeEntities(raw.slice(last))));
  return concat(parts);
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const DATE_FORMAT: Record<TimeStyle, string> = {
  datetime: '{date_short_pretty} {time}',
  datetime_secs: '{date_short_pretty} {time_secs}',
  date: '{date_short_pretty}',
  time: '{time}',
};

function renderInline(i: Inline): string {
  if (typeof i === 'string') return escape(i);
  if (isPersonNode(i)) return `<@${i.person}>`;
  if (isChannelNode(i)) return `<#${i.channel}>`;
  if (isTimeNode(i)) {
    const fallback = plainText([i]);
    return `<!date^${Math.floor(Date.parse(i.time) / 1000)}^${DATE_FORMAT[i.style]}|${escape(fallback)}>`;
  }
  if (isStrongNode(i)) return wrap('*', i.strong);
  if (isEmNode(i)) return wrap('_', i.em);
  if (isCodeNode(i)) return `\`${escape(i.code.replace(/`/g, "'"))}\``;
  if (isEmojiNode(i)) return `:${i.emoji}:`;
  if (isLinkNode(i)) {
    // A link Muster built: the URL may not break out of the <…|…> form.
    const url = i.link.replace(/[<>|\s]/g, encodeURIComponent);
    return i.label ? `<${url}|${escape(i.label)}>` : `<${url}>`;
  }
  return '';
}

/** Emphasis: mrkdwn needs the marks against the words, so surrounding spaces go outside them. */
function wrap(mark: string, content: readonly Inline[]): string {
  const inner = content.map(renderInline).join('');
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(inner)!;
  return m[2] ? `${m[1]}${mark}${m[2]}${mark}${m[3]}` : inner;
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
      // Cut the rendered string before the first escape that does not fit.
      const room = max - 1 - out.length;
      let cut = 0;
      for (const m of r.matchAll(/&(?:amp|lt|gt);|[\s\S]/g)) {
        if (m.index! + m[0].length > room) break;
        cut = m.index! + m[0].length;
      }
      out += r.slice(0, cut);
    }
    return `${out}…`;
  }
  return out;
}

/**
 * Neutral text where Slack shows `plain_text`: nothing is parsed there, so references read as ids;
 * emoji stay `:name:`, which Slack shows as the emoji in plain_text with `emoji: true`.
 */
export function plain(text: Text): string {
  return inlines(text)
    .map((i) => (isEmojiNode(i) ? `:${i.emoji}:` : plainText([i])))
    .join('');
}
