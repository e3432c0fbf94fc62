import { inlines, type Inline, type Text } from '../src/domain/text.ts';

/**
 * The limits surfaces are drawn to (see ENVIRONMENT.md): the tightest block, header, button and
 * metadata sizes among the platforms; each renderer still cuts what it renders to its own limits.
 */
export const LIMITS = {
  blocksPerMessage: 50,
  blocksPerView: 100,
  sectionText: 3000,
  fieldText: 2000,
  headerText: 150,
  buttonLabel: 75,
  buttonValue: 2000,
  privateMetadata: 3000,
  fallbackText: 4000,
} as const;

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Clips neutral text to about `max` characters of text, never cutting a node. A renderer
 * still enforces the platform's hard limit on what it renders (escaping makes text longer).
 */
export function clipText(text: Text, max: number): Text {
  if (typeof text === 'string') return clip(text, max);
  const out: Inline[] = [];
  let left = max - 1;
  for (const i of inlines(text)) {
    if (typeof i === 'string') {
      if (i.length > left) {
        out.push(`${i.slice(0, Math.max(0, left))}…`);
        return out;
      }
      left -= i.length;
    } else left -= 20;
    out.push(i);
  }
  return out;
}

/** Splits neutral text into lines at its line breaks (nodes never contain one). */
export function splitLines(text: Text): Inline[][] {
  const lines: Inline[][] = [[]];
  for (const i of inlines(text)) {
    if (typeof i !== 'string') {
      lines[lines.length - 1]!.push(i);
      continue;
    }
    i.split('\n').forEach((part, n) => {
      if (n > 0) lines.push([]);
      if (part) lines[lines.length - 1]!.push(part);
    });
  }
  return lines;
}

/** A rough length of neutral text, for grouping lines into blocks (nodes count as a short date). */
export function textLength(text: Text): number {
  return inlines(text).reduce((n, i) => n + (typeof i === 'string' ? i.length : 20), 0);
}
