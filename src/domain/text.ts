/**
 * Neutral rich text: what services and surfaces hold, and what each platform renders.
 *
 * A string part is data: text as a person typed it, or as Muster wrote it. Renderers show
 * it as it is and never let it act as markup (no `<!everyone>`, no group pings, no links
 * whose label lies). The one convention inside strings is the reference to a person or a
 * channel, `<@id>` and `<#id>`: platforms resolve those ids (Slack's escaped command text
 * delivers a mention picked from autocomplete that way), and a reference pings at most the
 * one person it names. Everything else that is live (a time shown in each reader's own
 * zone, a link Muster built) is a node, never markup hidden in a string.
 */

export type TimeStyle = 'datetime' | 'datetime_secs' | 'date' | 'time';

export interface TimeNode {
  readonly time: string;
  readonly style: TimeStyle;
}

export interface LinkNode {
  readonly link: string;
  readonly label?: string;
}

export type Inline = string | TimeNode | LinkNode;

/** A plain string, or a sequence of strings and nodes. JSON-safe: effects store it as it is. */
export type Text = string | readonly Inline[];

/** A reference to a person in neutral text (their platform id, e.g. U123 on Slack). */
export const mention = (externalId: string): string => `<@${externalId}>`;
/** A reference to a channel in neutral text (its platform id). */
export const channelRef = (externalId: string): string => `<#${externalId}>`;

/** `<@id>` / `<#id>` as they appear inside neutral strings. */
export const REFERENCE = /<([@#])([A-Za-z0-9]+)>/g;

/** A moment, shown in each reader's own time zone where the platform can (ISO 8601 elsewhere). */
export function time(d: Date, style: TimeStyle = 'datetime'): TimeNode {
  return { time: d.toISOString(), style };
}

/** A link Muster itself built (http, https or mailto only). */
export function link(url: string, label?: string): LinkNode {
  if (!/^(https?:|mailto:)/i.test(url)) throw new Error(`not a link Muster builds: ${url}`);
  return label === undefined ? { link: url } : { link: url, label };
}

export function isTimeNode(i: Inline): i is TimeNode {
  return typeof i === 'object' && 'time' in i;
}

export function isLinkNode(i: Inline): i is LinkNode {
  return typeof i === 'object' && 'link' in i;
}

type Part = Text | Inline | number | null | undefined | false;

function pushPart(out: Inline[], p: Part): void {
  if (p === null || p === undefined || p === false) return;
  if (typeof p === 'number') p = String(p);
  if (typeof p === 'string') {
    if (p === '') return;
    const last = out[out.length - 1];
    if (typeof last === 'string') out[out.length - 1] = last + p;
    else out.push(p);
    return;
  }
  if (Array.isArray(p)) for (const i of p) pushPart(out, i as Part);
  else out.push(p as Inline);
}

/**
 * Builds neutral text from a template: literal parts and interpolated strings are text,
 * interpolated nodes and Text stay what they are. `null`, `undefined` and `false` vanish.
 */
export function rt(strings: TemplateStringsArray, ...values: Part[]): Inline[] {
  const out: Inline[] = [];
  strings.forEach((s, i) => {
    pushPart(out, s);
    if (i < values.length) pushPart(out, values[i]);
  });
  return out;
}

/** Concatenates texts. */
export function concat(...parts: Part[]): Inline[] {
  const out: Inline[] = [];
  for (const p of parts) pushPart(out, p);
  return out;
}

/** Joins texts with a separator. */
export function joinText(parts: readonly Text[], separator: string): Inline[] {
  const out: Inline[] = [];
  parts.forEach((p, i) => {
    if (i > 0) pushPart(out, separator);
    pushPart(out, p);
  });
  return out;
}

/** The inline parts of a text. */
export function inlines(text: Text): readonly Inline[] {
  return typeof text === 'string' ? [text] : text;
}

export function isEmptyText(text: Text): boolean {
  return inlines(text).every((i) => i === '');
}

export interface PlainOptions {
  /** How a person reference reads; default `@id`. */
  person?: (externalId: string) => string;
  /** How a channel reference reads; default `#id`. */
  channel?: (externalId: string) => string;
}

/** Text with nothing live: times in ISO 8601 (UTC), links as `label (url)`, references by name or id. */
export function plainText(text: Text, o: PlainOptions = {}): string {
  const person = o.person ?? ((id: string) => `@${id}`);
  const channel = o.channel ?? ((id: string) => `#${id}`);
  return inlines(text)
    .map((i) => {
      if (typeof i === 'string') return i.replace(REFERENCE, (_m, sigil: string, id: string) => (sigil === '@' ? person(id) : channel(id)));
      if (isTimeNode(i)) return i.style === 'date' ? i.time.slice(0, 10) : i.time.replace(/\.\d{3}Z$/, 'Z');
      return i.label && i.label !== i.link ? `${i.label} (${i.link})` : i.link;
    })
    .join('');
}

/** Person ids referenced in a text (`<@id>`), in order, without repeats. */
export function peopleIn(text: Text): string[] {
  const out = new Set<string>();
  for (const i of inlines(text)) {
    if (typeof i !== 'string') continue;
    for (const m of i.matchAll(REFERENCE)) if (m[1] === '@') out.add(m[2]!);
  }
  return [...out];
}
