/**
 * Slack sends &, < and > in typed text as &amp; &lt; &gt;, and expects the same of us in
 * mrkdwn. Mentions, channel links, dates and links (<@U…>, <#C…>, <!date^…>, <https://…|x>)
 * are real markup and stay as they are.
 */
const MARKUP = /^<(?:[@#!][^<>]*|(?:https?|mailto):[^<>\s]*(?:\|[^<>]*)?)>/;

export function decodeSlackText(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export function escapeMrkdwn(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const ch = text[i]!;
    if (ch === '<') {
      const m = MARKUP.exec(text.slice(i));
      if (m) {
        out += m[0];
        i += m[0].length;
        continue;
      }
      out += '&lt;';
    } else if (ch === '>') out += '&gt;';
    else if (ch === '&') {
      const entity = /^&(?:amp|lt|gt);/.exec(text.slice(i));
      out += entity ? entity[0] : '&amp;';
      if (entity) {
        i += entity[0].length;
        continue;
      }
    } else out += ch;
    i += 1;
  }
  return out;
}

/** Escapes every mrkdwn text object in a Block Kit structure (plain_text needs none). */
export function escapeBlocks<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => escapeBlocks(v)) as T;
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (obj.type === 'mrkdwn' && typeof obj.text === 'string') return { ...obj, text: escapeMrkdwn(obj.text) } as T;
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, escapeBlocks(v)])) as T;
  }
  return value;
}
