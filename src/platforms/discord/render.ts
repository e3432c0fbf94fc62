import { randomBytes } from 'node:crypto';
import {
  ButtonStyle,
  ComponentType,
  TextInputStyle,
  type APIActionRowComponent,
  type APIAllowedMentions,
  type APIButtonComponentWithCustomId,
  type APIComponentInLabel,
  type APIEmbed,
  type APIEmbedField,
  type APIModalInteractionResponseCallbackComponent,
  type APIModalInteractionResponseCallbackData,
  type APIModalSubmissionComponent,
  type ModalSubmitComponent,
} from 'discord-api-types/v10';
import { isEmptyText, type Text } from '../../domain/text.ts';
import type { FormValues } from '../../services/interactions.ts';
import type { Block, Button, Field, Form, Home, Message, Option } from '../../../blocks/surface.ts';
import { escapeDiscord, mentionsFor, plainDiscord, renderDiscord } from './markdown.ts';

/**
 * Neutral surfaces (blocks/surface.ts) as Discord messages and modals: a card is one embed with its buttons in
 * action rows under it ("On Discord the same labels, on buttons under the card's embed", PRODUCT.md); a form is
 * a modal of Label components. Text inside is rendered by markdown.ts (typed text stays data).
 *
 * What Discord cannot show as Slack does, and what is shown instead:
 * - Blocks in any order: an embed shows its title, then its description, then its fields, and a message's
 *   buttons always come under its embeds. Sections, small print and later headers go into the description in
 *   their order; the label/value fields after it, side by side (inline). A home, whose buttons belong to the
 *   lines above them, is drawn as several messages (`discordHome`).
 * - Small print (context blocks): `-# ` subtext lines in the description (subtext is Discord markdown,
 *   https://support.discord.com/hc/en-us/articles/210298617, and works in embed descriptions); the footer
 *   would show no mentions, times or links.
 * - A divider: Discord has no rule, so a line of `─`.
 * - A second header: a `### ` heading in the description (headings work in descriptions, not in field values:
 *   https://github.com/discord/discord-api-docs/issues/7167).
 * - Mentions inside an embed are shown but never notify anyone; pings go in `content` (see `discordMessage`).
 * - Modals have Discord's own Submit and Cancel buttons: a form's `submit` and `close` labels are not shown.
 *   At most 5 components fit in a modal, so a longer form (the change form) comes in pages (`discordForm`).
 */

/**
 * Discord's limits: embeds (https://discord.com/developers/docs/resources/message#embed-object-embed-limits),
 * content (https://discord.com/developers/docs/resources/message#create-message), buttons and action rows
 * (https://discord.com/developers/docs/components/reference#button and
 * https://discord.com/developers/docs/components/reference#legacy-message-component-behavior: 5 rows of 5),
 * modals (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-response-object-modal)
 * and their components (https://discord.com/developers/docs/components/reference#label, #text-input,
 * #string-select, #radio-group).
 */
export const DISCORD_LIMITS = {
  content: 2000,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
  buttonsPerRow: 5,
  rows: 5,
  buttonLabel: 80,
  customId: 100,
  modalTitle: 45,
  modalComponents: 5,
  label: 45,
  labelDescription: 100,
  textInput: 4000,
  textPlaceholder: 100,
  selectPlaceholder: 150,
  selectOptions: 25,
  optionText: 100,
  radioOptions: { min: 2, max: 10 },
} as const;

const cut = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

/** A Discord message body, for a create or an edit alike (send all of it on an edit: empty arrays clear old embeds and buttons). */
export interface DiscordMessage {
  content: string;
  embeds: APIEmbed[];
  components: APIActionRowComponent<APIButtonComponentWithCustomId>[];
  allowed_mentions: APIAllowedMentions;
}

// ---------------------------------------------------------------------------------------------
// Buttons

/**
 * A button's `custom_id`: `<action>:<value>` (action ids are short, values are record ids), with `#<n>` added
 * when the same action and value appear twice in one message (custom_ids must be unique in a message:
 * https://discord.com/developers/docs/components/reference#anatomy-of-a-component-custom-id). A value is never
 * cut: a custom_id that would pass 100 characters, or a value holding `#`, throws.
 */
function customId(b: Button, seen: Map<string, number>, n: number): string {
  if (b.action.includes(':')) throw new Error(`button "${b.label}": its action ${b.action} holds ":"`);
  if (b.value.includes('#')) throw new Error(`button "${b.label}": its value ${b.value} holds "#"`);
  let id = `${b.action}:${b.value}`;
  if (seen.has(id)) id = `${id}#${n}`;
  seen.set(id, n);
  if (id.length > DISCORD_LIMITS.customId) throw new Error(`button "${b.label}": custom_id ${id} is longer than Discord's ${DISCORD_LIMITS.customId} characters`);
  return id;
}

/** A button's action and value from its custom_id (`#<n>` dropped), or undefined for one Muster did not make. */
export function parseCustomId(id: string): { action: string; value: string } | undefined {
  const at = id.indexOf(':');
  if (at <= 0) return undefined;
  return { action: id.slice(0, at), value: id.slice(at + 1).replace(/#\d+$/, '') };
}

/** Muster's main action is Discord's Primary ("the most important or recommended action in a group"); a dangerous one Danger; the rest Secondary. */
const STYLE = { primary: ButtonStyle.Primary, danger: ButtonStyle.Danger } as const;

/**
 * The action rows: each actions block starts a row, with at most 5 buttons a row; when that makes more than 5
 * rows, the buttons are packed 5 to a row; past 25 the last buttons are left out (and counted).
 */
function actionRows(blocks: readonly Block[]): { rows: APIActionRowComponent<APIButtonComponentWithCustomId>[]; left: number } {
  const groups = blocks.flatMap((b) => (b.kind === 'actions' && b.buttons.length ? [b.buttons] : []));
  const per = DISCORD_LIMITS.buttonsPerRow;
  const chunk = <T>(xs: readonly T[]) => Array.from({ length: Math.ceil(xs.length / per) }, (_, i) => xs.slice(i * per, i * per + per));
  let rows = groups.flatMap((g) => chunk(g));
  if (rows.length > DISCORD_LIMITS.rows) rows = chunk(groups.flat());
  const total = groups.reduce((n, g) => n + g.length, 0);
  rows = rows.slice(0, DISCORD_LIMITS.rows);
  const seen = new Map<string, number>();
  let n = 0;
  return {
    left: total - rows.reduce((k, r) => k + r.length, 0),
    rows: rows.map((r) => ({
      type: ComponentType.ActionRow,
      components: r.map(
        (b): APIButtonComponentWithCustomId => ({
          type: ComponentType.Button,
          style: b.style ? STYLE[b.style] : ButtonStyle.Secondary,
          label: cut(plainDiscord(b.label), DISCORD_LIMITS.buttonLabel) || '…',
          custom_id: customId(b, seen, n++),
        }),
      ),
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// The embed

/** One piece of an embed's description, in the order of the blocks. */
type Part = { kind: 'section'; text: Text } | { kind: 'small'; text: Text } | { kind: 'heading'; text: string } | { kind: 'rule' };

const RULE = '─'.repeat(16);
const SHORTENED = 'Shortened: more than Discord shows in one message.';

/** Text as `-# ` subtext, every line of it, cut to `max` with the marks counted. */
function subtext(text: Text, max: number): { out: string; cut: boolean } {
  const mark = (s: string) =>
    s
      .split('\n')
      .map((l) => (l ? `-# ${l}` : ''))
      .join('\n');
  const full = mark(renderDiscord(text).out);
  if (full.length <= max) return { out: full, cut: false };
  let room = max;
  let out = '';
  do {
    out = mark(renderDiscord(text, room).out);
    room -= Math.max(1, out.length - max);
  } while (out.length > max && room > 0);
  return { out: out.length <= max ? out : '', cut: true };
}

/** The description: the parts in order, separated by a blank line (small print and headings by a line break), cut to `max`. */
function description(parts: readonly Part[], max: number): { text: string; cut: boolean } {
  let out = '';
  let cutAny = false;
  let prev: Part['kind'] | undefined;
  for (const p of parts) {
    // A blank line between paragraphs; a heading's line and lines of small print run on.
    const sep = out === '' ? '' : prev === 'heading' || (p.kind === 'small' && prev === 'small') ? '\n' : '\n\n';
    const room = max - out.length - sep.length;
    if (room < 8) {
      cutAny = true;
      break;
    }
    let piece: string;
    let wasCut = false;
    if (p.kind === 'rule') piece = RULE;
    else if (p.kind === 'heading') piece = `### ${escapeDiscord(plainDiscord(p.text), { lineStart: false })}`;
    else if (p.kind === 'small') ({ out: piece, cut: wasCut } = subtext(p.text, room));
    else {
      const full = renderDiscord(p.text).out;
      piece = full.length <= room ? full : renderDiscord(p.text, room).out;
      wasCut = piece !== full;
    }
    if (piece.length > room) {
      // Only a heading or a rule can be too long here: cut at a safe place, as text.
      piece = cut(piece.slice(0, room), room);
      wasCut = true;
    }
    if (wasCut) cutAny = true;
    if (piece.trim()) {
      out += sep + piece;
      prev = p.kind;
    }
    if (wasCut) break;
  }
  return { text: out, cut: cutAny };
}

/**
 * A header or a field's label where Discord shows inline markdown (bold, code, spoilers…) but no mentions, times
 * or masked links (embed titles and field names, as Discohook's preview models Discord:
 * https://github.com/discohook/site, modules/markdown/parsers/parseEmbedHeader.ts), escaped, cut to `max`.
 */
function headerText(s: string, max: number): { text: string; cut: boolean } {
  let plain = plainDiscord(s);
  let out = escapeDiscord(plain, { lineStart: false });
  if (out.length <= max) return { text: out, cut: false };
  // Shorten the plain text until its escaped form fits: an escape is never split.
  while (out.length > max && plain.length) {
    plain = plain.slice(0, Math.max(0, plain.length - Math.max(1, out.length - max)));
    out = `${escapeDiscord(plain, { lineStart: false })}…`;
  }
  return { text: out, cut: true };
}

/**
 * The blocks (but buttons) as at most one embed, within every limit: the title ≤ 256, the description
 * ≤ 4096, ≤ 25 fields (name ≤ 256, value ≤ 1024), 6000 characters in all. What does not fit is cut or left
 * out, never refused, and the footer says so.
 */
function embedOf(blocks: readonly Block[], extraNote?: string): { embed?: APIEmbed; cut: boolean } {
  const L = DISCORD_LIMITS;
  let title: string | undefined;
  const parts: Part[] = [];
  const fields: { label: string; value: Text }[] = [];
  blocks.forEach((b, k) => {
    switch (b.kind) {
      case 'header':
        if (k === 0) title = b.text;
        else parts.push({ kind: 'heading', text: b.text });
        return;
      case 'section':
        if (!isEmptyText(b.text)) parts.push({ kind: 'section', text: b.text });
        return;
      case 'context':
        for (const t of b.items) if (!isEmptyText(t)) parts.push({ kind: 'small', text: t });
        return;
      case 'divider':
        if (parts.length) parts.push({ kind: 'rule' });
        return;
      case 'fields':
        fields.push(...b.fields);
        return;
      case 'actions':
        return;
    }
  });
  while (parts.length && parts[parts.length - 1]!.kind === 'rule') parts.pop();

  // Room kept for the footer's note: the notes are known before anything is cut.
  const footerRoom = SHORTENED.length + 1 + (extraNote?.length ?? 0);
  const head = title !== undefined ? headerText(title, L.embedTitle) : { text: '', cut: false };
  const titleText = head.text.trim();
  let cutAny = head.cut;
  // Fields first take what is left when the description keeps up to 2000 characters of what it needs.
  const wanted = description(parts, L.embedDescription);
  let budget = L.embedTotal - titleText.length - footerRoom - Math.min(wanted.text.length, 2000);
  const outFields: APIEmbedField[] = [];
  for (const f of fields) {
    if (outFields.length === L.embedFields) {
      cutAny = true;
      break;
    }
    // Discord trims names and values and refuses empty ones: a zero-width space stands for nothing.
    const name = headerText(f.label, L.fieldName).text.trim() || '\u200b';
    const room = Math.min(L.fieldValue, budget - name.length);
    if (room < 16) {
      cutAny = true;
      break;
    }
    const full = renderDiscord(f.value).out;
    const drawn = full.length <= room ? full : renderDiscord(f.value, room).out;
    if (drawn !== full) cutAny = true;
    const value = drawn.trim() || '\u200b';
    outFields.push({ name, value, inline: true });
    budget -= name.length + value.length;
  }
  const fieldChars = outFields.reduce((n, f) => n + f.name.length + f.value.length, 0);
  const desc = description(parts, Math.min(L.embedDescription, L.embedTotal - titleText.length - fieldChars - footerRoom));
  cutAny = cutAny || desc.cut || wanted.cut;
  const note = [cutAny ? SHORTENED : '', extraNote ?? ''].filter(Boolean).join(' ');
  if (!titleText && !desc.text && !outFields.length && !note) return { cut: cutAny };
  const embed: APIEmbed = {
    ...(titleText ? { title: titleText } : {}),
    ...(desc.text ? { description: desc.text } : {}),
    ...(outFields.length ? { fields: outFields } : {}),
    ...(note ? { footer: { text: cut(note, L.footer) } } : {}),
  };
  return { embed, cut: cutAny };
}

/** The characters Discord counts towards an embed's 6000. */
export function embedLength(e: APIEmbed): number {
  return (e.title?.length ?? 0) + (e.description?.length ?? 0) + (e.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0) + (e.footer?.text.length ?? 0) + (e.author?.name.length ?? 0);
}

/** A content line of `<@id>` mentions, as many as fit. */
function mentionLine(people: readonly string[]): { content: string; people: string[] } {
  let content = '';
  const used: string[] = [];
  for (const id of people) {
    const m = `${content ? ' ' : ''}<@${id}>`;
    if (content.length + m.length > DISCORD_LIMITS.content || used.length === 100) break;
    content += m;
    used.push(id);
  }
  return { content, people: used };
}

/**
 * A message (a card, a notice, a reply) as a Discord message body.
 *
 * - A plain notice (no blocks): its text is the content (≤ 2000).
 * - A card: one embed (see `embedOf`) and its buttons. The content is the `<@id>` mentions of the card's
 *   notification line (`text`), or empty: the embed already shows everything the line says, and repeating it
 *   above every card (and on every redraw) would be noise, but Discord notifies only for mentions in the
 *   content, never for those inside an embed, so the people the notification is about are named there.
 *   Redraws are edits, and edits notify nobody.
 * - `allowed_mentions`: exactly the people mentioned in the content (see markdown.ts); send it on every create
 *   and every edit.
 */
export function discordMessage(m: Message): DiscordMessage {
  if (!m.blocks || m.blocks.length === 0) {
    const r = renderDiscord(m.text, DISCORD_LIMITS.content);
    return { content: r.out || '\u200b', embeds: [], components: [], allowed_mentions: mentionsFor(r.people) };
  }
  const { rows, left } = actionRows(m.blocks);
  const note = left > 0 ? `${left} more button${left === 1 ? '' : 's'} than Discord shows.` : undefined;
  const { embed } = embedOf(m.blocks, note);
  // The people of the notification line, as it would render (Discord ids only).
  const mentions = mentionLine(renderDiscord(m.text).people);
  const content = mentions.content || (embed || rows.length ? '' : renderDiscord(m.text, DISCORD_LIMITS.content).out || '\u200b');
  return { content, embeds: embed ? [embed] : [], components: rows, allowed_mentions: mentionsFor(mentions.people) };
}

/**
 * A person's home. Discord has no app home: the caller sends these messages by DM (or as the ephemeral answer
 * to a command and its follow-ups), in order. One message per group of buttons: a message's buttons all come
 * under its embed, so a home listing several requests, each with its own Approve and Reject, is cut after each
 * group of buttons, and every button stays under the lines it acts on. A home without buttons is one message.
 */
export function discordHome(h: Home): DiscordMessage[] {
  const chunks: Block[][] = [[]];
  h.blocks.forEach((b, k) => {
    chunks[chunks.length - 1]!.push(b);
    const next = h.blocks[k + 1];
    if (b.kind === 'actions' && next && next.kind !== 'actions') chunks.push([]);
  });
  return chunks.filter((c) => c.length).map((blocks) => discordMessage({ text: '', blocks }));
}

// ---------------------------------------------------------------------------------------------
// Forms

/** A page of a form: its modal and the fields on it. */
export interface DiscordFormPage {
  modal: APIModalInteractionResponseCallbackData;
  fields: string[];
}

export interface DiscordForm {
  /** The modals, in order: one when the form fits (at most 5 components), more otherwise. */
  pages: DiscordFormPage[];
  /**
   * Set when the form's data is not in the custom_ids (it does not fit in 100 characters, or the form has
   * pages, whose values must be kept between them): the caller keeps `data` under `key` (which the custom_ids
   * carry, see `parseModalCustomId`) until the last page is submitted.
   */
  stored?: { key: string; data: Record<string, unknown> };
}

/**
 * A modal's custom_id: `<form id>:<data as compact JSON>`, or `<form id>:~<key>` when the data is kept by the
 * caller; a page of several is `<form id>/<page>:~<key>` (pages from 1).
 */
export function parseModalCustomId(id: string): { form: string; page: number; data: unknown } | { form: string; page: number; key: string } | undefined {
  const at = id.indexOf(':');
  if (at <= 0) return undefined;
  const head = id.slice(0, at);
  const payload = id.slice(at + 1);
  const m = /^(.+?)(?:\/(\d+))?$/.exec(head)!;
  const form = m[1]!;
  const page = m[2] ? Number(m[2]) : 1;
  if (payload.startsWith('~')) return payload.length > 1 ? { form, page, key: payload.slice(1) } : undefined;
  try {
    return { form, page, data: JSON.parse(payload) as unknown };
  } catch {
    return undefined;
  }
}

const optionOf = (o: Option, initial: string | undefined) => {
  if (o.value.length > DISCORD_LIMITS.optionText) throw new Error(`option value ${o.value} is longer than Discord's ${DISCORD_LIMITS.optionText} characters`);
  return { label: cut(plainDiscord(o.label), DISCORD_LIMITS.optionText), value: o.value, ...(o.value === initial ? { default: true } : {}) };
};

/** A field as the component inside its Label. */
function inputOf(f: Field): APIComponentInLabel {
  const L = DISCORD_LIMITS;
  const required = !f.optional;
  if (f.kind === 'radio' && f.options.length >= L.radioOptions.min && f.options.length <= L.radioOptions.max) {
    return { type: ComponentType.RadioGroup, custom_id: f.id, options: f.options.map((o) => optionOf(o, f.initial)), required };
  }
  if ((f.kind === 'radio' || f.kind === 'select') && f.options.length >= 1 && f.options.length <= L.selectOptions) {
    return {
      type: ComponentType.StringSelect,
      custom_id: f.id,
      options: f.options.map((o) => optionOf(o, f.initial)),
      required,
      min_values: required ? 1 : 0,
      max_values: 1,
    };
  }
  if (f.kind !== 'text') {
    // More choices than a select holds: typed, the allowed values shown, read back by `readModalSubmit(…, form)`.
    return {
      type: ComponentType.TextInput,
      custom_id: f.id,
      style: TextInputStyle.Short,
      required,
      max_length: Math.min(L.optionText, Math.max(1, ...f.options.map((o) => o.value.length))),
      placeholder: cut(`One of: ${f.options.map((o) => o.value).join(', ')}`, L.textPlaceholder),
      ...(f.initial ? { value: f.initial } : {}),
    };
  }
  const max = f.maxLength !== undefined ? Math.max(1, Math.min(f.maxLength, L.textInput)) : undefined;
  const min = f.minLength !== undefined ? Math.max(0, Math.min(f.minLength, max ?? L.textInput)) : undefined;
  const initial = f.initial ? f.initial.slice(0, max ?? L.textInput) : '';
  return {
    type: ComponentType.TextInput,
    custom_id: f.id,
    style: f.multiline ? TextInputStyle.Paragraph : TextInputStyle.Short,
    required,
    ...(min !== undefined ? { min_length: min } : {}),
    ...(max !== undefined ? { max_length: max } : {}),
    ...(f.placeholder ? { placeholder: cut(plainDiscord(f.placeholder), L.textPlaceholder) } : {}),
    ...(initial ? { value: initial } : {}),
  };
}

function labelOf(f: Field): APIModalInteractionResponseCallbackComponent {
  if (f.id.length > DISCORD_LIMITS.customId) throw new Error(`field ${f.id}: longer than Discord's ${DISCORD_LIMITS.customId} characters`);
  return {
    type: ComponentType.Label,
    label: cut(plainDiscord(f.label), DISCORD_LIMITS.label) || '…',
    ...(f.hint ? { description: cut(plainDiscord(f.hint), DISCORD_LIMITS.labelDescription) } : {}),
    component: inputOf(f),
  };
}

/**
 * A form as Discord modals: each field a Label (≤ 45) holding a text input (short or paragraph, min/max length,
 * placeholder, its initial value, required unless optional), a radio group (2–10 choices) or a string select
 * (radio fields with more choices, select fields up to 25; more than 25: a text input with the values in its
 * placeholder); the intro a Text Display. Each component's custom_id is the field's id. At most 5 components
 * make a modal, so a longer form is split into pages, the intro on the first.
 *
 * `key` names the stored data when it is needed (random otherwise).
 */
export function discordForm(f: Form, o: { key?: string } = {}): DiscordForm {
  const L = DISCORD_LIMITS;
  if (!f.fields.length && !f.intro) throw new Error(`form ${f.id}: nothing to show`);
  const ids = new Set(f.fields.map((x) => x.id));
  if (ids.size !== f.fields.length) throw new Error(`form ${f.id}: field ids are not unique`);
  const intro: APIModalInteractionResponseCallbackComponent[] = f.intro && !isEmptyText(f.intro) ? [{ type: ComponentType.TextDisplay, content: renderDiscord(f.intro, 4000).out }] : [];
  // Pages: the intro and the first fields, then 5 fields a page.
  const groups: Field[][] = [];
  let rest = [...f.fields];
  const first = L.modalComponents - intro.length;
  groups.push(rest.slice(0, first));
  rest = rest.slice(first);
  while (rest.length) {
    groups.push(rest.slice(0, L.modalComponents));
    rest = rest.slice(L.modalComponents);
  }
  const json = JSON.stringify(f.data);
  const inline = groups.length === 1 && f.id.length + 1 + json.length <= L.customId;
  const key = inline ? undefined : (o.key ?? randomBytes(9).toString('base64url'));
  const title = plainDiscord(f.title);
  const pages = groups.map((fields, k): DiscordFormPage => {
    const head = groups.length > 1 ? `${f.id}/${k + 1}` : f.id;
    const customId = `${head}:${inline ? json : `~${key}`}`;
    if (customId.length > L.customId) throw new Error(`form ${f.id}: custom_id ${customId} is longer than Discord's ${L.customId} characters`);
    const suffix = groups.length > 1 ? ` (${k + 1}/${groups.length})` : '';
    return {
      modal: {
        custom_id: customId,
        title: cut(title, L.modalTitle - suffix.length) + suffix,
        components: [...(k === 0 ? intro : []), ...fields.map(labelOf)],
      },
      fields: fields.map((x) => x.id),
    };
  });
  return { pages, ...(key ? { stored: { key, data: f.data } } : {}) };
}

/**
 * A form that fits in one modal, its data in the custom_id: `<form id>:<compact JSON>` — every one of Muster's
 * one-record forms (a record id is 36 characters). Throws for a form that needs pages or stored data; use
 * `discordForm` for those (the change form: 15 fields).
 */
export function discordModal(f: Form): APIModalInteractionResponseCallbackData {
  const d = discordForm(f, { key: '-' });
  if (d.pages.length !== 1 || d.stored) throw new Error(`form ${f.id} does not fit one Discord modal with its data: use discordForm`);
  return d.pages[0]!.modal;
}

/** What one submitted component holds, as a form value (undefined when left empty). */
function valueOf(c: ModalSubmitComponent): string | undefined {
  switch (c.type) {
    case ComponentType.TextInput:
      return c.value === '' ? undefined : c.value;
    case ComponentType.RadioGroup:
      return c.value ?? undefined;
    case ComponentType.Checkbox:
      return c.value ? 'true' : 'false';
    default:
      return c.values.length ? c.values.join(',') : undefined;
  }
}

/**
 * A submitted modal's values: field id → what was typed or chosen (undefined when left empty), the shape
 * `FORMS[…].read` takes (src/services/interactions.ts). With the form, a choice that had to be typed (a select
 * with more than 25 choices) is matched to its option's value, ignoring case, by value or label.
 */
export function readModalSubmit(components: readonly APIModalSubmissionComponent[], form?: Form): FormValues {
  const values: FormValues = {};
  const take = (c: ModalSubmitComponent) => {
    values[c.custom_id] = valueOf(c);
  };
  for (const c of components) {
    if (c.type === ComponentType.Label) take(c.component);
    else if (c.type === ComponentType.ActionRow) c.components.forEach(take);
  }
  for (const f of form?.fields ?? []) {
    const v = values[f.id];
    if (f.kind === 'text' || v === undefined) continue;
    const t = v.trim().toLowerCase();
    const hit = f.options.find((o) => o.value.toLowerCase() === t || plainDiscord(o.label).toLowerCase() === t);
    if (hit) values[f.id] = hit.value;
  }
  return values;
}
