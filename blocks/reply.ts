import type { Reply } from '../src/services/types.ts';
import { concat, joinText, type Inline, type Text } from '../src/domain/text.ts';
import { LIMITS, clip, clipText, splitLines, textLength } from './limits.ts';

type Block = Record<string, unknown>;

/** Groups lines of neutral text into section-sized chunks. */
function chunks(lines: readonly Text[], max = LIMITS.sectionText): Text[] {
  const out: Inline[][] = [];
  let cur: Text[] = [];
  let len = 0;
  for (const line of lines) {
    const l = clipText(line, max);
    const n = textLength(l);
    if (cur.length && len + 1 + n > max) {
      out.push(joinText(cur, '\n'));
      cur = [];
      len = 0;
    }
    cur.push(l);
    len += (cur.length > 1 ? 1 : 0) + n;
  }
  if (cur.length) out.push(joinText(cur, '\n'));
  return out.filter((c) => c.length > 0);
}

/** A command reply as a Slack message body (neutral text inside; the Slack layer renders it). */
export function replyMessage(reply: Reply): { response_type: 'ephemeral' | 'in_channel'; text: Text; blocks?: Block[] } {
  const text = clipText(reply.text, LIMITS.fallbackText);
  const blocks: Block[] = [];
  if (reply.sections && reply.sections.length) {
    for (const s of reply.sections) {
      if (s.title) blocks.push({ type: 'header', text: { type: 'plain_text', text: clip(s.title, LIMITS.headerText), emoji: true } });
      for (const c of chunks(s.lines)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: c } });
    }
  } else {
    for (const c of chunks(splitLines(reply.text))) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: c } });
  }
  if (blocks.length > LIMITS.blocksPerMessage) {
    blocks.length = LIMITS.blocksPerMessage - 1;
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: '_(shortened: more than Slack shows in one message)_' }] });
  }
  return { response_type: reply.visibility ?? 'ephemeral', text, blocks };
}

/** An error shown only to the user: what was wrong, and the right form when there is one. */
export function errorMessage(message: Text, usage?: string): { response_type: 'ephemeral'; text: Text; blocks: Block[] } {
  const text = usage ? concat(message, `\nUsage: ${usage.split('\n').join(' | ')}`) : message;
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: concat(':warning: ', clipText(message, LIMITS.sectionText - 10)) } }];
  if (usage) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(`Usage:\n${usage.split('\n').map((u) => `\`${u}\``).join('\n')}`, LIMITS.sectionText) }] });
  return { response_type: 'ephemeral', text, blocks };
}
