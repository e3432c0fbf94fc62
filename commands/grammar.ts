import { z } from 'zod';
import { UsageError } from '../src/services/errors.ts';
import type { PersonRef } from '../src/services/types.ts';
import { isEmptyText, plainText, trimText, type ChannelNode, type Inline, type PersonNode, type Text } from '../src/domain/text.ts';
import { CommandLine, compact, display, type Token } from './line.ts';

/**
 * Command grammars as data. Each subcommand declares its options (what Discord's command definitions are
 * generated from, src/platforms/discord/commands.ts) and one zod schema from the options' raw values to
 * its typed arguments. Two readers fill the raw values, and both go through that schema:
 *
 * - a platform that sends one line of text: `parse` reads neutral text, which the
 *   platform's own parser produced, word by word (`read` where the text has a special shape);
 * - a platform with typed options (Discord's commands): `fromOptions` takes the options by name.
 *
 * A schema's issue becomes a UsageError worded as before: `Missing <label>.`, `"<value>" is not a valid
 * <label>: <why>.`, or a whole sentence (`sentence`) such as "The title is too long (…)".
 */

export type OptionKind = 'word' | 'enum' | 'integer' | 'person' | 'channel' | 'date' | 'text' | 'list';

export interface OptionSpec {
  /** The key of the raw values and Discord's option name: lowercase, 1–32. */
  name: string;
  kind: OptionKind;
  required: boolean;
  /** Discord shows it under the option (at most 100 characters). */
  description: string;
  /** What error messages call it: `Missing <label>.` */
  label: string;
  /** `enum`: the values (Discord's choices). */
  choices?: readonly string[];
  /** The message when it is missing, where `Missing <label>.` is not what we say. */
  missing?: string;
  /** In text, the word is lower-cased before it is checked (and shown so in the error). */
  lowercase?: boolean;
  /** In text, written before the subcommand (`/incident INC-7 close`) rather than after it. */
  prefix?: boolean;
  /** `integer`: the least value. */
  min?: number;
  /** `text`/`list`: the longest value accepted. */
  maxLength?: number;
}

/** A raw value before its schema: typed words and free text as neutral text, people and channels as nodes, numbers. */
export type RawValue = Text | Inline | number;
export type RawOptions = Readonly<Record<string, RawValue | undefined>>;

/** What a text reader found: raw values in the order it read them (errors are reported in that order) and words left over. */
export interface TextRead {
  raw: Record<string, RawValue | undefined>;
  extra: readonly Token[];
}

export interface Subcommand<A = unknown> {
  /** Discord's subcommand name, and how help names it. */
  readonly name: string;
  /** In text: the words that choose it (`public title`), and other single words that do (`severity`). */
  readonly words: readonly string[];
  readonly aliases: readonly string[];
  readonly usage: string;
  readonly description: string;
  readonly options: readonly OptionSpec[];
  /** The raw values' schema: its keys are exactly the options' names. */
  readonly input: z.ZodObject<z.ZodRawShape, z.core.$strict>;
  /** Raw values → typed arguments. */
  readonly schema: z.ZodType<A>;
  /** In text, words beyond its options: refused before checking them, after, or ignored. */
  readonly extra: 'first' | 'last' | 'ignore';
  /** In text, chosen only when nothing follows its words (`public off`, but `public off the record`). */
  readonly exact: boolean;
  /** Accepts a prefix target (`INC-7 help`) and ignores it. */
  readonly ignoresTarget: boolean;
  /** Reads text of a special shape; by default options are read word by word and a text option takes the rest. */
  readonly read?: (line: CommandLine, from: number) => TextRead;
}

export function subcommand<S extends z.ZodRawShape, A>(def: {
  name: string;
  words?: readonly string[];
  aliases?: readonly string[];
  usage: string;
  description: string;
  options: readonly OptionSpec[];
  input: S;
  /** A check across options, run once the options it reads are valid; reported at `path`. */
  refine?: { after: readonly (keyof S & string)[]; path: keyof S & string; message: string; check: (raw: z.output<z.ZodObject<S, z.core.$strict>>) => boolean };
  args: (raw: z.output<z.ZodObject<S, z.core.$strict>>) => A;
  extra?: 'first' | 'last' | 'ignore';
  exact?: boolean;
  ignoresTarget?: boolean;
  read?: (line: CommandLine, from: number) => TextRead;
}): Subcommand<A> {
  const input = z.strictObject(def.input);
  const r = def.refine;
  const checked = r
    ? input.refine(r.check, { message: r.message, path: [r.path], params: { sentence: true }, when: (p) => !p.issues.some((i) => r.after.includes(String(i.path?.[0]) as keyof S & string)) })
    : input;
  return {
    name: def.name,
    words: def.words ?? [def.name],
    aliases: def.aliases ?? [],
    usage: def.usage,
    description: def.description,
    options: def.options,
    input: input as unknown as z.ZodObject<z.ZodRawShape, z.core.$strict>,
    schema: checked.transform(def.args),
    extra: def.extra ?? 'first',
    exact: def.exact ?? false,
    ignoresTarget: def.ignoresTarget ?? false,
    ...(def.read ? { read: def.read } : {}),
  };
}

export interface Grammar<A> {
  readonly subcommands: readonly Subcommand<A>[];
  /** Neutral command text (a platform's parser ran first) → typed arguments. Throws UsageError. */
  parse(line: Text): A;
  /** A subcommand and its options by name (a platform with typed options) → the same typed arguments. */
  fromOptions(subcommand: string, options: RawOptions): A;
}

export function defineGrammar<A>(def: {
  subcommands: readonly Subcommand<A>[];
  /** Every usage line, shown for an unknown subcommand. */
  usage: string;
  /** The subcommand that an empty line means (`targeted`: only a prefix target was given). */
  empty: (targeted: boolean) => string;
  /** A target that may come first in text (`INC-7 close`): how to know it, and what to call it. */
  target?: { pattern: RegExp; noun: string };
}): Grammar<A> {
  const byName = (name: string) => {
    const s = def.subcommands.find((x) => x.name === name);
    if (!s) throw new Error(`no subcommand ${name}`);
    return s;
  };

  function choose(tokens: readonly Token[], at: number): { sub: Subcommand<A>; from: number } | undefined {
    let best: { sub: Subcommand<A>; from: number; length: number } | undefined;
    for (const sub of def.subcommands) {
      for (const path of [sub.words, ...sub.aliases.map((a) => [a])]) {
        const fits = path.every((w, k) => {
          const t = tokens[at + k];
          return t?.kind === 'word' && t.text.toLowerCase() === w;
        });
        if (!fits || (sub.exact && tokens.length !== at + path.length)) continue;
        if (!best || path.length > best.length) best = { sub, from: at + path.length, length: path.length };
      }
    }
    return best;
  }

  return {
    subcommands: def.subcommands,
    parse(text) {
      const line = CommandLine.of(text);
      const tokens = line.tokens;
      let at = 0;
      let target: string | undefined;
      const first = tokens[0];
      if (def.target && first?.kind === 'word' && def.target.pattern.test(first.text)) {
        target = first.text;
        at = 1;
      }
      const word = tokens[at];
      const chosen = word ? choose(tokens, at) : { sub: byName(def.empty(target !== undefined)), from: at };
      if (!chosen) throw new UsageError(`Unknown subcommand "${display(word!)}".`, def.usage);
      const { sub, from } = chosen;
      const prefix = sub.options.find((o) => o.prefix);
      if (target !== undefined && !prefix && !sub.ignoresTarget) throw new UsageError(`\`${sub.name}\` does not take ${def.target!.noun}.`, sub.usage);
      const { raw, extra } = (sub.read ?? readWords(sub))(line, from);
      const all = prefix ? { [prefix.name]: target, ...raw } : raw;
      if (sub.extra === 'first') noExtra(extra, sub.usage);
      const args = validate(sub, all);
      if (sub.extra === 'last') noExtra(extra, sub.usage);
      return args;
    },
    fromOptions(name, options) {
      const sub = def.subcommands.find((s) => s.name === name);
      if (!sub) throw new UsageError(`Unknown subcommand "${name}".`, def.usage);
      // In the options' declared order, so that the first problem is the one reported.
      const raw: Record<string, RawValue | undefined> = {};
      for (const o of sub.options) if (o.name in options) raw[o.name] = options[o.name];
      for (const [k, v] of Object.entries(options)) if (!(k in raw)) raw[k] = v;
      return validate(sub, raw);
    },
  };
}

/** The default text reader: one word per option in order; a `text` or `list` option takes the rest. */
function readWords(sub: Subcommand<unknown>) {
  return (line: CommandLine, from: number): TextRead => {
    const own = sub.options.filter((o) => !o.prefix);
    const words = own.filter((o) => o.kind !== 'text' && o.kind !== 'list');
    const tail = own.find((o) => o.kind === 'text' || o.kind === 'list');
    const rest = line.tokens.slice(from);
    const raw: Record<string, RawValue | undefined> = {};
    words.forEach((o, k) => {
      const t = rest[k];
      raw[o.name] = t && wordValue(o, t);
    });
    if (tail) raw[tail.name] = textValue(line.restFrom(from + words.length));
    return { raw, extra: tail ? [] : rest.slice(words.length) };
  };
}

/** One word as an option's raw value: a person or a channel where one is expected, else the word as text. */
export function wordValue(o: OptionSpec, t: Token): RawValue | undefined {
  if (t.kind === 'person' && o.kind === 'person') return t.node;
  if (t.kind === 'channel' && o.kind === 'channel') return t.node;
  const word = o.lowercase ? display(t).toLowerCase() : display(t);
  return word === '' && !o.required ? undefined : word;
}

/** Free text as a raw value: absent when there is none. */
export function textValue(t: Text): Text | undefined {
  return isEmptyText(t) ? undefined : t;
}

function noExtra(extra: readonly Token[], usage: string): void {
  if (extra.length) throw new UsageError(`Unexpected "${extra.map(display).join(' ')}".`, usage);
}

const missing = (v: RawValue | undefined): boolean => v === undefined || (typeof v !== 'number' && isText(v) && isEmptyText(trimText(v)));

function shown(v: RawValue | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return String(v);
  return plainText(Array.isArray(v) ? (v as Inline[]) : [v as Inline]);
}

/** Raw values → typed arguments through the subcommand's schema; its first issue (in reading order) → UsageError. */
function validate<A>(sub: Subcommand<A>, raw: Record<string, RawValue | undefined>): A {
  const r = sub.schema.safeParse(raw);
  if (r.success) return r.data;
  const order = [...Object.keys(raw), ...sub.options.map((o) => o.name)];
  const rank = (i: z.core.$ZodIssue) => {
    const n = order.indexOf(String(i.path[0]));
    return n < 0 ? Infinity : n;
  };
  const issue = [...r.error.issues].sort((a, b) => rank(a) - rank(b))[0]!;
  const option = sub.options.find((o) => o.name === issue.path[0]);
  if (!option) {
    const unknown = issue.code === 'unrecognized_keys' ? issue.keys : [];
    throw new UsageError(unknown.length ? `Unexpected ${unknown.map((k) => `"${k}"`).join(', ')}.` : `${issue.message}.`, sub.usage);
  }
  const value = raw[option.name];
  const sentence = (issue as { params?: { sentence?: boolean } }).params?.sentence === true;
  if (!sentence && missing(value)) throw new UsageError(option.missing ?? `Missing ${option.label}.`, sub.usage);
  if (sentence) throw new UsageError(issue.message, sub.usage);
  throw new UsageError(`"${shown(value)}" is not a valid ${option.label}: ${issue.message}.`, sub.usage);
}

/** Adds an issue that is the whole message the person reads, not a reason after `is not a valid <label>:`. */
export function sentence(ctx: z.RefinementCtx, message: string): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', message, params: { sentence: true } });
  return z.NEVER;
}

// ---------------------------------------------------------------------------------------------
// Schemas shared by the commands.

export function isText(v: unknown): v is Text {
  return typeof v === 'string' || (Array.isArray(v) && v.every((i) => typeof i === 'string' || (typeof i === 'object' && i !== null)));
}
const isPersonValue = (v: unknown): v is PersonNode => typeof v === 'object' && v !== null && typeof (v as { person?: unknown }).person === 'string';
const isChannelValue = (v: unknown): v is ChannelNode => typeof v === 'object' && v !== null && typeof (v as { channel?: unknown }).channel === 'string';

/**
 * Free text as typed (people and channels stay nodes), trimmed, at most `max` characters. Empty text is
 * an issue reported as missing (`Missing <label>.`); `.optional()` where it may be left out.
 */
export function freeText(label: string, max: number, tooLong = (n: number) => `The ${label} is too long (${n} characters; at most ${max}).`) {
  // z.unknown, not z.custom: a missing text must not stop checks across options (`refine`) from running.
  return z.unknown().transform((t, ctx): Text => {
    if (!isText(t)) {
      ctx.addIssue({ code: 'custom', message: t === undefined ? 'missing' : 'expected text' });
      return z.NEVER;
    }
    const v = trimText(t);
    const text = typeof v === 'string' ? v : compact(v);
    if (isEmptyText(text)) {
      ctx.addIssue({ code: 'custom', message: 'empty' });
      return z.NEVER;
    }
    const n = plainText(text).length;
    if (n > max) return sentence(ctx, tooLong(n));
    return text;
  });
}

/** A word from a fixed set, whatever its case in text. */
export function choice<const T extends readonly [string, ...string[]]>(values: T, message: string, fold: (s: string) => string = (s) => s.toLowerCase()) {
  return z.string().transform(fold).pipe(z.enum(values, { message }));
}

/** Crowd mentions (@here, @channel, @everyone, groups), as they read once neutral, and as typed literally. */
const SPECIAL = /^(?:<!(?:here|channel|everyone|group)(?:\|[^>]*)?>|@(?:here|channel|everyone|group))$/i;
const GROUP = /^<!subteam\^[^>]*>$/;
/**
 * A handle or display name typed after `@` (display names run to 80 characters). Spaces come only
 * from a quoted word, `"@Bob Smith"`: unquoted, the words after the first are the command's next arguments.
 */
const NAME = /^@([^\s<>|@"](?:[^\n<>|@"]{0,78}[^\s<>|@"])?)$/;
const EMAIL = /^[^\s@<>|"()]+@[^\s@<>|"()]+\.[^\s@<>|"().]+$/;

/**
 * One typed word as a person: a typed `@name` or an email address. Pure: whom a name or an address means is
 * decided later, by Kernel.resolvePerson, through the platform's directory. A person picked from autocomplete
 * is not a word but a node (see `person`); a typed `<@U123>` is text and names nobody.
 */
export function readPerson(word: string): PersonRef | { error: string } {
  if (SPECIAL.test(word)) return { error: 'a special mention such as @here or @channel is not a person' };
  if (GROUP.test(word)) return { error: 'a user group is not a person' };
  const name = NAME.exec(word)?.[1];
  if (name) return { kind: 'name', name };
  // A linked address arrives here as the address: each platform's parser unwraps it at the edge.
  if (EMAIL.test(word)) return { kind: 'email', email: word };
  return { error: 'expected a mention like @someone, or an email address' };
}

function personSchema<Me extends boolean>(me: Me) {
  return z.union([z.custom<PersonNode>(isPersonValue), z.string()]).transform((v, ctx): Me extends true ? PersonRef | { kind: 'me' } : PersonRef => {
    type Out = Me extends true ? PersonRef | { kind: 'me' } : PersonRef;
    if (typeof v !== 'string') return { kind: 'id', id: v.person } as Out;
    if (me && v.toLowerCase() === 'me') return { kind: 'me' } as Out;
    const r = readPerson(v);
    if ('error' in r) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r as Out;
  });
}

/** A person: picked (a node, by platform id) or typed (`@name`, an email address). */
export const person = personSchema(false);
/** A person, or `me` (the one who asks). */
export const personOrMe = personSchema(true);

/** A channel: picked (a node). */
export const channel = z.custom<ChannelNode>(isChannelValue, 'expected a channel picked with #').transform((c) => c.channel);

export const subjectRef = z
  .string()
  .transform((s) => s.toUpperCase())
  .pipe(z.string().regex(/^(INC|CHG|APR)-[1-9]\d{0,8}$/, 'expected INC-n, CHG-n or APR-n'))
  .transform((s) => ({ type: ({ INC: 'incident', CHG: 'change', APR: 'approval' } as const)[s.slice(0, 3) as 'INC' | 'CHG' | 'APR'], id: s }));
