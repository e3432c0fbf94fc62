import { inlines, isChannelNode, isPersonNode, plainText, trimText, type ChannelNode, type Inline, type PersonNode, type Text } from '../src/domain/text.ts';

/**
 * A command line as neutral text (src/domain/text.ts), split into words the way grammars read it.
 *
 * A platform's parser runs first (src/platforms/<platform>/), so what a person picked
 * from autocomplete arrives as a node and what they typed arrives as strings. Strings are data: a typed
 * `<@U123>` is the word `<@U123>`, never a person. Free-text tails are slices of the original text, so
 * they keep the nodes and the spacing as typed.
 */

type Node = Exclude<Inline, string>;
/** One character (code point) of typed text, or a node, which is never split. */
type Unit = string | Node;

export type Token =
  | {
      kind: 'word';
      /** The word without its quotes. */
      text: string;
      /** The word as typed, quotes included. */
      source: string;
      quoted: boolean;
      start: number;
      end: number;
    }
  | { kind: 'person'; node: PersonNode; start: number; end: number }
  | { kind: 'channel'; node: ChannelNode; start: number; end: number };

const isSpace = (u: Unit | undefined): boolean => typeof u === 'string' && /^\s$/u.test(u);

/** Splits into words: runs of non-space characters, "quoted phrases" kept whole, and people and channels. */
function tokenize(units: readonly Unit[]): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < units.length) {
    const u = units[i]!;
    if (isSpace(u)) {
      i++;
      continue;
    }
    if (typeof u !== 'string') {
      if (isPersonNode(u)) out.push({ kind: 'person', node: u, start: i, end: i + 1 });
      else if (isChannelNode(u)) out.push({ kind: 'channel', node: u, start: i, end: i + 1 });
      else {
        // Other nodes do not come from a command line today; read as the word they show.
        const text = plainText([u]);
        out.push({ kind: 'word', text, source: text, quoted: false, start: i, end: i + 1 });
      }
      i++;
      continue;
    }
    if (u === '"') {
      // A quoted phrase closes at the next quote in the same run of typed text.
      let j = i + 1;
      while (j < units.length && typeof units[j] === 'string' && units[j] !== '"') j++;
      if (units[j] === '"') {
        const text = units.slice(i + 1, j).join('');
        out.push({ kind: 'word', text, source: `"${text}"`, quoted: true, start: i, end: j + 1 });
        i = j + 1;
        continue;
      }
    }
    let j = i;
    while (j < units.length && typeof units[j] === 'string' && !isSpace(units[j])) j++;
    const text = units.slice(i, j).join('');
    out.push({ kind: 'word', text, source: text, quoted: false, start: i, end: j });
    i = j;
  }
  return out;
}

/** Neutral text with its strings merged, as a plain string when it holds no node. */
export function compact(parts: readonly Inline[]): Text {
  const out: Inline[] = [];
  for (const p of parts) {
    if (p === '') continue;
    const last = out[out.length - 1];
    if (typeof p === 'string' && typeof last === 'string') out[out.length - 1] = last + p;
    else out.push(p);
  }
  return out.every((p) => typeof p === 'string') ? out.join('') : out;
}

export class CommandLine {
  readonly tokens: readonly Token[];

  private constructor(private readonly units: readonly Unit[]) {
    this.tokens = tokenize(units);
  }

  static of(text: Text): CommandLine {
    const units: Unit[] = [];
    for (const i of inlines(text)) {
      if (typeof i === 'string') for (const ch of i) units.push(ch);
      else units.push(i);
    }
    return new CommandLine(units);
  }

  /** The text of units `start` to `end`, nodes and inner spacing kept, trimmed at its ends. */
  text(start: number, end = this.units.length): Text {
    const t = trimText(compact(this.units.slice(start, end)));
    return typeof t === 'string' ? t : compact(t);
  }

  /** The free text from token `n` on (for tails like reasons and titles): '' when there is none. */
  restFrom(n: number): Text {
    const t = this.tokens[n];
    return t ? this.text(t.start) : '';
  }

  /** Whether a token stands on its own: first on the line, or after a space. */
  spaced(t: Token): boolean {
    return t.start === 0 || isSpace(this.units[t.start - 1]);
  }
}

/** A token as a person reads it in a message: the word, or the person or channel by id. */
export function display(t: Token): string {
  return t.kind === 'word' ? t.text : plainText([t.node]);
}
