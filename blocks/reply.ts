import type { Reply } from '../src/services/types.ts';
import { code, concat, emoji, joinText, type Inline, type Text } from '../src/domain/text.ts';
import { LIMITS, clip, clipText, splitLines, textLength } from './limits.ts';
import { context, header, section, type Block, type Message } from './surface.ts';

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

/** A command reply as a message: its sections under headers, or its text in section-sized parts. */
export function replyMessage(reply: Reply): Message {
  const text = clipText(reply.text, LIMITS.fallbackText);
  const blocks: Block[] = [];
  if (reply.sections && reply.sections.length) {
    for (const s of reply.sections) {
      if (s.title) blocks.push(header(clip(s.title, LIMITS.headerText)));
      for (const c of chunks(s.lines)) blocks.push(section(c));
    }
  } else {
    for (const c of chunks(splitLines(reply.text))) blocks.push(section(c));
  }
  if (blocks.length > LIMITS.blocksPerMessage) {
    blocks.length = LIMITS.blocksPerMessage - 1;
    blocks.push(context('(shortened: more than fits in one message)'));
  }
  return { text, blocks };
}

/** An error shown only to the user: what was wrong, and the right form when there is one. */
export function errorMessage(message: Text, usage?: string): Message {
  const text = usage ? concat(message, `\nUsage: ${usage.split('\n').join(' | ')}`) : message;
  const blocks: Block[] = [section(concat(emoji('warning'), ' ', clipText(message, LIMITS.sectionText - 10)))];
  if (usage) blocks.push(context(clipText(joinText(['Usage:', ...usage.split('\n').map((u) => [code(u)])], '\n'), LIMITS.sectionText)));
  return { text, blocks };
}
