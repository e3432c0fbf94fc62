import { z } from 'zod';
import { UsageError } from '../src/services/errors.ts';
import type { PersonRef } from '../src/services/types.ts';
import { fromLegacy, inlines, isChannelNode, isPersonNode, plainText, type Text } from '../src/domain/text.ts';

/**
 * The command line a grammar reads: neutral text with each person written `<@id>` and each channel
 * `<#id>` (the form Slack's and Discord's mentions share), so that a mention is one word. Anything
 * else a platform parsed into nodes reads as its plain text.
 */
export function commandLine(text: Text): string {
  return inlines(text)
    .map((i) => (typeof i === 'string' ? i : isPersonNode(i) ? `<@${i.person}>` : isChannelNode(i) ? `<#${i.channel}>` : plainText([i])))
    .join('');
}

/** Free text from a command line as neutral text: `<@id>` and `<#id>` become a person and a channel again. */
export function readText(s: string): Text {
  return fromLegacy(s);
}

/** Splits command text into words, keeping "quoted phrases" and <@U1|mentions with spaces> whole. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const re = /(<[^>\s][^>]*>)|"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text.trim())) !== null) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** The text after the first `n` words, spacing kept (for free-text tails like reasons). */
export function restAfter(text: string, n: number): string {
  let rest = text.trim();
  for (let i = 0; i < n; i++) rest = rest.replace(/^\S+\s*/, '');
  return rest.trim();
}

/** `<@U123|name>` or `<@U123>` (Slack), `<@123456>` / `<@!123456>` (Discord): picked from autocomplete. */
const MENTION = /^<@!?([UW][A-Z0-9]+|\d{5,25})(?:\|[^>]*)?>$/;
/** Slack's special mentions, escaped or as they read once neutral (and as typed with escaping off). */
const SPECIAL = /^(?:<!(?:here|channel|everyone|group)(?:\|[^>]*)?>|@(?:here|channel|everyone|group))$/i;
const GROUP = /^<!subteam\^[^>]*>$/;
/**
 * A handle or display name typed after `@` (Slack allows 80 characters in a display name). Spaces come only
 * from a quoted word, `"@Bob Smith"`: unquoted, the words after the first are the command's next arguments.
 */
const NAME = /^@([^\s<>|@"](?:[^\n<>|@"]{0,78}[^\s<>|@"])?)$/;
const EMAIL = /^[^\s@<>|"()]+@[^\s@<>|"()]+\.[^\s@<>|"().]+$/;

/**
 * One word as a person: a mention picked from autocomplete, a typed `@name`, or an email address. Pure: whom
 * a name or an address means is decided later, by Kernel.resolvePerson, through the platform's directory.
 */
export function readPerson(word: string): PersonRef | { error: string } {
  const id = MENTION.exec(word)?.[1];
  if (id) return { kind: 'id', id };
  if (SPECIAL.test(word)) return { error: 'a special mention such as @here or @channel is not a person' };
  if (GROUP.test(word)) return { error: 'a user group is not a person' };
  const name = NAME.exec(word)?.[1];
  if (name) return { kind: 'name', name };
  // Slack's `<mailto:a@b|a@b>` arrives here as the address: src/platforms/slack/mrkdwn.ts parses it at the edge.
  if (EMAIL.test(word)) return { kind: 'email', email: word };
  return { error: 'expected a mention like @someone, or an email address' };
}

export const person = z.string().transform((word, ctx): PersonRef => {
  const r = readPerson(word);
  if ('error' in r) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r;
});

export const subjectRef = z
  .string()
  .transform((s) => s.toUpperCase())
  .pipe(z.string().regex(/^(INC|CHG|APR)-[1-9]\d{0,8}$/, 'expected INC-n, CHG-n or APR-n'))
  .transform((s) => ({ type: ({ INC: 'incident', CHG: 'change', APR: 'approval' } as const)[s.slice(0, 3) as 'INC' | 'CHG' | 'APR'], id: s }));

/** Parses one argument with a zod schema, turning its failure into a UsageError. */
export function arg<T>(schema: z.ZodType<T>, value: string | undefined, what: string, usage: string): T {
  if (value === undefined || value === '') throw new UsageError(`Missing ${what}.`, usage);
  const r = schema.safeParse(value);
  if (!r.success) throw new UsageError(`"${value}" is not a valid ${what}: ${r.error.issues[0]?.message ?? 'invalid'}.`, usage);
  return r.data;
}

/** Refuses words past the first `n` (the subcommand counts), naming them. */
export function noExtra(words: string[], n: number, usage: string): void {
  if (words.length > n) throw new UsageError(`Unexpected "${words.slice(n).join(' ')}".`, usage);
}
