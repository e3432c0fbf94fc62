import { z } from 'zod';
import { UsageError } from '../src/services/errors.ts';

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

/** `<@U123|name>` or `<@U123>` (Slack), `<@123456>` / `<@!123456>` (Discord). */
export const mention = z
  .string()
  .regex(/^<@!?([UW][A-Z0-9]+|\d{5,25})(\|[^>]*)?>$/, 'expected a mention like @someone')
  .transform((s) => /^<@!?([^|>]+)/.exec(s)![1]!);

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
