import { EMOJI, channelRef, concat, encodeText, fmt, isEmNode, isStrongNode, mention, type EmojiName, type Inline, type Text, type TimeStyle } from '../domain/text.ts';

/**
 * Stored text as the versions before neutral rich text wrote it, read into neutral text
 * (src/domain/text.ts). Pure functions: the data step that rewrites the rows is in
 * src/store/dataMigrations.ts and runs once per database.
 *
 * What those versions stored:
 * - 1c0e9b9 and the versions just before it kept people and channels inside strings as
 *   `<@U…>` / `<#C…>` (Slack's escaped command text parsed at the edge, and Muster's own
 *   wording), and rendered exactly those live; every other `<`, `>` and `&` was shown as typed.
 * - The first versions (before 10d90ed) stored command text as Slack sent it, only unescaped:
 *   `<@U…|name>`, `<#C…|name>`, `<!here>`, `<!subteam^S…|@group>`, `<https://…|label>` could be
 *   in a row. They are read the way src/platforms/slack/mrkdwn.ts reads them at the edge today:
 *   people and channels become nodes, everything else the words a person saw (never a ping,
 *   never a link whose label could lie). No version stored `<!date^…>` (times were drawn at send
 *   time); one found anyway becomes a time node, or its fallback text.
 * - Nudge texts were Muster's own wording with `*strong*`, `` `code` `` and `:emoji:` marks.
 *
 * Only the references Slack itself showed live are taken (`@U…`/`@W…`, `#C…`/`#G…`, upper case):
 * a `<@abc>` was shown as typed before and stays typed text.
 */

/**
 * How a column was written:
 * - `typed`: text a person typed, alone or inside Muster's wording without marks (titles,
 *   descriptions, summaries, timeline entries, follow-ups, approval reasons, effect texts). Only
 *   Slack references are read; a `*` a person typed stays a character (Slack still shows it
 *   as before: strings are not escaped for `*`).
 * - `authored`: Muster's own wording (nudges): its `*strong*`, `` `code` `` and `:emoji:` marks
 *   become nodes too, as the current code writes them (`fmt`, `emoji`).
 */
export type LegacyRule = 'typed' | 'authored';

/** The marker that starts stored neutral text with nodes (`encodeText`). */
const STORED = '\u0002';

const ENTITY = /<([^<>\n]*)>/g;

const TIME_STYLE = (format: string): TimeStyle => {
  const date = /\{date[a-z_]*\}/.test(format);
  const secs = format.includes('{time_secs}');
  const clock = secs || format.includes('{time}');
  if (date && clock) return secs ? 'datetime_secs' : 'datetime';
  if (clock) return 'time';
  return 'date';
};

/** One `<…>` of a legacy string as neutral text, or undefined when it is not Slack markup (kept as typed). */
function fromEntity(body: string): Inline | undefined {
  const bar = body.indexOf('|');
  const target = bar < 0 ? body : body.slice(0, bar);
  const label = bar < 0 ? undefined : body.slice(bar + 1);
  const person = /^@([UW][A-Z0-9]+)$/.exec(target);
  if (person) return mention(person[1]!);
  const channel = /^#([CG][A-Z0-9]+)$/.exec(target);
  if (channel) return channelRef(channel[1]!);
  if (target.startsWith('!')) {
    const special = /^!(here|channel|everyone)$/.exec(target);
    if (special) return `@${special[1]}`;
    const date = /^!date\^(\d{1,12})\^([^^]*)(?:\^.*)?$/.exec(target);
    if (date) {
      const ms = Number(date[1]) * 1000;
      if (Number.isFinite(ms) && !Number.isNaN(new Date(ms).getTime())) return { time: new Date(ms).toISOString(), style: TIME_STYLE(date[2]!) };
      return label ?? '';
    }
    const group = /^!subteam\^([A-Z0-9]+)$/.exec(target);
    if (group) return label || `@${group[1]}`;
    return undefined;
  }
  if (/^(?:https?|mailto):[^\s|]+$/i.test(target)) {
    // The words the person saw, with the address: Slack still links a bare URL in a message.
    if (/^mailto:/i.test(target) && (!label || label === target.slice(7))) return target.slice(7);
    return label && label !== target ? `${label} (${target})` : target;
  }
  return undefined;
}

/** Slack references and entities of one legacy string; the rest stays as typed. */
function entities(s: string): Inline[] {
  const out: Inline[] = [];
  let last = 0;
  for (const m of s.matchAll(ENTITY)) {
    const inline = fromEntity(m[1]!);
    if (inline === undefined) continue;
    out.push(s.slice(last, m.index));
    out.push(inline);
    last = m.index! + m[0].length;
  }
  out.push(s.slice(last));
  return concat(out);
}

/** `:name:` for the emoji Muster uses (EMOJI); any other `:word:` stays text. */
function emojiMarks(s: string): Inline[] {
  const out: Inline[] = [];
  const re = /:([a-z0-9_+-]+):/g;
  let last = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (!Object.hasOwn(EMOJI, m[1]!)) {
      // `12:30:warning:`: the second colon may open the next shortcode.
      re.lastIndex = m.index + 1;
      continue;
    }
    out.push(s.slice(last, m.index), { emoji: m[1] as EmojiName });
    last = m.index + m[0].length;
  }
  out.push(s.slice(last));
  return concat(out);
}

/** Applies `f` to every string of a text, inside emphasis too. */
function mapStrings(parts: readonly Inline[], f: (s: string) => Inline[]): Inline[] {
  return concat(
    ...parts.map((i): Inline | Inline[] => {
      if (typeof i === 'string') return f(i);
      if (isStrongNode(i)) return { strong: mapStrings(i.strong, f) };
      if (isEmNode(i)) return { em: mapStrings(i.em, f) };
      return i;
    }),
  );
}

/**
 * A legacy string as neutral text: the same string when there is nothing to read (most rows),
 * else the inlines.
 */
export function legacyText(s: string, rule: LegacyRule = 'typed'): Text {
  let parts: Inline[] = [s];
  if (rule === 'authored') parts = mapStrings(mapStrings(parts, emojiMarks), fmt);
  parts = mapStrings(parts, entities);
  // Only words (`<!here>` read as `@here`): plain text again.
  if (parts.every((i) => typeof i === 'string')) return parts.join('');
  return parts;
}

/**
 * A legacy value of a text column as the column holds neutral text now (`encodeText`). A value
 * already in the new form (starting with the marker) and a value without markup come back
 * byte-identical.
 */
export function migrateStoredText(stored: string, rule: LegacyRule = 'typed'): string {
  if (stored.startsWith(STORED)) return stored;
  const text = legacyText(stored, rule);
  return text === stored ? stored : encodeText(text);
}

/** A legacy Text value inside an effect (a string, or inlines with time and link nodes). */
function migrateTextValue(value: unknown): { value: unknown; changed: boolean } {
  if (typeof value === 'string') {
    const t = legacyText(value);
    return t === value ? { value, changed: false } : { value: t, changed: true };
  }
  if (Array.isArray(value) && value.every((i) => typeof i === 'string' || (i !== null && typeof i === 'object' && !Array.isArray(i)))) {
    let changed = false;
    const parts = (value as Inline[]).map((i) => {
      if (typeof i !== 'string') return i;
      const t = legacyText(i);
      if (t !== i) changed = true;
      return t;
    });
    return changed ? { value: concat(...parts), changed } : { value, changed: false };
  }
  return { value, changed: false };
}

/** The text arguments of an effect (JSON `{"args": {...}}`) that old versions filled with legacy strings. */
const EFFECT_TEXT_ARGS = ['text', 'topic', 'comment'] as const;
const SURFACE_TEXT_FIELDS = ['headline', 'intro'] as const;

/**
 * An outbox payload written by an old version, with its text arguments (`text`, `topic`,
 * `comment`, and a surface's `headline` / `intro`) read as legacy text. Everything else (ids,
 * result references, file contents, titles) is left alone. A payload with nothing to read, or
 * not in the `{"args": {...}}` form, comes back byte-identical.
 */
export function migrateEffectPayload(payload: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return payload;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return payload;
  const args = (parsed as { args?: unknown }).args;
  if (!args || typeof args !== 'object' || Array.isArray(args)) return payload;
  const a = args as Record<string, unknown>;
  let changed = false;
  for (const key of EFFECT_TEXT_ARGS) {
    if (!(key in a)) continue;
    const r = migrateTextValue(a[key]);
    if (r.changed) {
      a[key] = r.value;
      changed = true;
    }
  }
  const surface = a.surface;
  if (surface && typeof surface === 'object' && !Array.isArray(surface)) {
    const s = surface as Record<string, unknown>;
    for (const key of SURFACE_TEXT_FIELDS) {
      if (!(key in s)) continue;
      const r = migrateTextValue(s[key]);
      if (r.changed) {
        s[key] = r.value;
        changed = true;
      }
    }
  }
  return changed ? JSON.stringify(parsed) : payload;
}
