import type { Reply } from '../src/services/types.ts';
import { LIMITS, clip } from './limits.ts';

type Block = Record<string, unknown>;

/** Splits long text into section-sized chunks on line breaks. */
function chunks(text: string, max = LIMITS.sectionText): string[] {
  const out: string[] = [];
  let cur = '';
  for (const line of text.split('\n')) {
    const l = clip(line, max);
    if (cur && cur.length + 1 + l.length > max) {
      out.push(cur);
      cur = l;
    } else cur = cur ? `${cur}\n${l}` : l;
  }
  if (cur) out.push(cur);
  return out;
}

/** A command reply as a Slack message body (for ack, respond or chat.postMessage). */
export function replyMessage(reply: Reply): { response_type: 'ephemeral' | 'in_channel'; text: string; blocks?: Block[] } {
  const text = clip(reply.text, LIMITS.fallbackText);
  const blocks: Block[] = [];
  if (reply.sections && reply.sections.length) {
    for (const s of reply.sections) {
      if (s.title) blocks.push({ type: 'header', text: { type: 'plain_text', text: clip(s.title, LIMITS.headerText), emoji: true } });
      for (const c of chunks(s.lines.join('\n'))) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: c } });
    }
  } else {
    for (const c of chunks(reply.text)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: c } });
  }
  if (blocks.length > LIMITS.blocksPerMessage) {
    blocks.length = LIMITS.blocksPerMessage - 1;
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: '_(shortened: more than Slack shows in one message)_' }] });
  }
  return { response_type: reply.visibility ?? 'ephemeral', text, blocks };
}

/** An error shown only to the user: what was wrong, and the right form when there is one. */
export function errorMessage(message: string, usage?: string): { response_type: 'ephemeral'; text: string; blocks: Block[] } {
  const text = usage ? `${message}\nUsage: ${usage.split('\n').join(' | ')}` : message;
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: `:warning: ${clip(message, LIMITS.sectionText - 10)}` } }];
  if (usage) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(`Usage:\n${usage.split('\n').map((u) => `\`${u}\``).join('\n')}`, LIMITS.sectionText) }] });
  return { response_type: 'ephemeral', text, blocks };
}
