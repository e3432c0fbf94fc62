import {
  channelPill,
  decodeSlackEntities,
  emojiChars,
  epochToZonedInput,
  escapeHtml,
  isSafeUrl,
  linkHtml,
  renderDate,
  renderEmoji,
  renderMrkdwn,
  renderPlain,
  specialPill,
  userPill,
  zonedTimeToEpoch,
  type RenderContext,
} from './mrkdwn.ts';

export { escapeHtml, formatSlackDate, renderMrkdwn, renderPlain, EMOJI_TABLE, type RenderContext } from './mrkdwn.ts';

/**
 * Slack Block Kit as HTML for the sandbox's web app: messages, App Home and modals drawn the way Slack
 * draws them, from the very payloads Muster sends (https://docs.slack.dev/reference/block-kit/blocks,
 * …/block-elements, …/composition-objects). Pure and DOM-free: every function returns an HTML string
 * (or, for readViewState, Slack's view.state.values), so it bundles for the browser and runs in vitest.
 *
 * Everything from the payload is escaped; links and images only for http(s) (and mailto) URLs. Whatever
 * this does not know is shown as `Unsupported block: <type>` / `Unsupported element: <type>`, never dropped.
 *
 * What the page needs to send a real `block_actions` payload rides on each interactive element:
 * `data-type` (the element's type), `data-action-id`, `data-block-id`, `data-value` (buttons), `data-text`
 * (a button's label as sent), `data-option` (each option's JSON, as Slack echoes it in selected_option),
 * `data-confirm` (the confirm dialog's JSON), `data-url`, and `data-channel` / `data-ts` of the message.
 * Stateful elements carry `name` = fieldName(block_id, action_id) (in messages suffixed with `@<ts>`, so
 * radio groups of two messages never merge); readViewState reads a modal's form data back by those names.
 *
 * Slack generates the block_id of a block that has none, and the action_id of an element that has none;
 * here they are `block-<index>` and `<block_id>.e<index>` / `<block_id>.accessory` / `<block_id>.input`,
 * the same when drawn and when read back.
 */

type Obj = Record<string, unknown>;
type Where = { channel?: string; ts?: string };

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : typeof x === 'string' && x.trim() !== '' && Number.isFinite(Number(x)) ? Number(x) : undefined);

/** ` name="value"`, escaped; nothing for undefined, null or false; just ` name` for true. */
function attr(name: string, value: string | number | boolean | undefined | null): string {
  if (value === undefined || value === null || value === false) return '';
  if (value === true) return ` ${name}`;
  return ` ${name}="${escapeHtml(String(value))}"`;
}

/** A value usable inside an id attribute. */
const slug = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);

/** The block_id Slack would have (ours when the payload has none). */
export function blockIdOf(block: unknown, index: number): string {
  return (isObj(block) && str(block.block_id)) || `block-${index}`;
}

function actionIdOf(el: Obj, fallback: string): string {
  return str(el.action_id) || fallback;
}

/** The form field name of a stateful element: block_id and action_id, unambiguously. */
export function fieldName(blockId: string, actionId: string): string {
  return `${encodeURIComponent(blockId)}|${encodeURIComponent(actionId)}`;
}

// ---------------------------------------------------------------------------------------------
// Text objects

/** A text object's characters as Slack would send them back (plain, entities decoded), for labels. */
function plainOf(t: unknown): string {
  return isObj(t) && typeof t.text === 'string' ? decodeSlackEntities(t.text) : typeof t === 'string' ? decodeSlackEntities(t) : '';
}

/** A text object {type: 'mrkdwn' | 'plain_text', text, verbatim?, emoji?} as HTML. */
export function renderText(obj: unknown, ctx: RenderContext): string {
  if (typeof obj === 'string') return renderPlain(obj, ctx);
  if (!isObj(obj) || typeof obj.text !== 'string') return '';
  // verbatim only changes how Slack *stores* mrkdwn it receives (no auto-linking); it renders the same.
  if (obj.type === 'mrkdwn') return renderMrkdwn(obj.text, ctx);
  return renderPlain(obj.text, ctx, { emoji: obj.emoji !== false });
}

/** A plain_text object as bare text (no spans), for <option> and <optgroup label>. */
function optionText(t: unknown, ctx: RenderContext): string {
  if (!isObj(t) || typeof t.text !== 'string') return '';
  return renderPlain(t.text, ctx, { emoji: t.emoji !== false, spans: false });
}

function textBox(obj: unknown, ctx: RenderContext, cls: string): string {
  const kind = isObj(obj) && obj.type === 'mrkdwn' ? 'bk-mrkdwn' : 'bk-plain';
  return `<div class="${cls} ${kind}">${renderText(obj, ctx)}</div>`;
}

// ---------------------------------------------------------------------------------------------
// Placeholders

export function unsupportedBlock(type: string, blockId?: string): string {
  return `<div class="bk-block bk-unknown"${attr('data-block-id', blockId)}>Unsupported block: <code>${escapeHtml(type)}</code></div>`;
}

function unsupportedElement(type: string): string {
  return `<span class="bk-unknown">Unsupported element: <code>${escapeHtml(type)}</code></span>`;
}

const typeName = (x: unknown) => (isObj(x) && typeof x.type === 'string' ? x.type : '(no type)');

// ---------------------------------------------------------------------------------------------
// Interactive elements

interface Scope {
  ctx: RenderContext;
  where?: Where;
  /** Prefix of every id drawn (unique per message or view). */
  idPrefix: string;
  /** Suffix of field names (a message's ts), so that two messages' radio groups never merge. */
  nameSuffix: string;
}

interface ControlOpts {
  blockId: string;
  actionId: string;
  /** Inside an input block: its id, label and descriptions. */
  id?: string;
  labelText?: string;
  describedBy?: string;
  required?: boolean;
  invalid?: boolean;
}

function dataAttrs(el: Obj, s: Scope, o: ControlOpts, type: string): string {
  return (
    attr('data-type', type) +
    attr('data-action-id', o.actionId) +
    attr('data-block-id', o.blockId) +
    attr('data-channel', s.where?.channel) +
    attr('data-ts', s.where?.ts) +
    (isObj(el.confirm) ? attr('data-confirm', JSON.stringify(el.confirm)) : '')
  );
}

/** id, aria-describedby, aria-invalid, required of a control in an input block; else its aria-label. */
function controlAttrs(o: ControlOpts, fallbackLabel: string): string {
  if (o.id) return attr('id', o.id) + attr('aria-describedby', o.describedBy || undefined) + attr('aria-invalid', o.invalid ? 'true' : undefined) + attr('required', !!o.required);
  return attr('aria-label', fallbackLabel);
}

const name = (s: Scope, o: ControlOpts) => fieldName(o.blockId, o.actionId) + s.nameSuffix;

function button(el: Obj, s: Scope, o: ControlOpts): string {
  const label = renderText(el.text, s.ctx);
  const text = plainOf(el.text);
  const style = el.style === 'primary' ? ' bk-primary' : el.style === 'danger' ? ' bk-danger' : '';
  const type = typeof el.type === 'string' ? el.type : 'button';
  const common =
    `class="bk-button${style}"` +
    dataAttrs(el, s, o, type) +
    attr('data-value', str(el.value)) +
    attr('data-text', text) +
    attr('aria-label', str(el.accessibility_label) || (isObj(el.text) && el.text.emoji === false ? text : emojiChars(text)) || 'Button');
  const url = str(el.url);
  if (url && isSafeUrl(url)) return `<a ${common}${attr('data-url', url)} href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${label}</a>`;
  return `<button type="button" ${common}>${label}</button>`;
}

/** The option objects of an element: options, option_groups, and (external selects) the initial ones. */
function optionsOf(el: Obj): Obj[] {
  const direct = arr(el.options).filter(isObj);
  const grouped = arr(el.option_groups).flatMap((g) => (isObj(g) ? arr(g.options).filter(isObj) : []));
  const initial = [...(isObj(el.initial_option) ? [el.initial_option] : []), ...arr(el.initial_options).filter(isObj)];
  const all = [...direct, ...grouped];
  for (const i of initial) if (!all.some((o) => o.value === i.value)) all.push(i);
  return all;
}

const initialValues = (el: Obj): Set<string> => new Set([...(isObj(el.initial_option) ? [el.initial_option] : []), ...arr(el.initial_options).filter(isObj)].map((o) => String(o.value ?? '')));

function optionTag(opt: Obj, ctx: RenderContext, selected: boolean): string {
  return `<option${attr('value', String(opt.value ?? ''))}${attr('data-option', JSON.stringify(opt))}${attr('data-url', str(opt.url))}${attr('selected', selected)}>${optionText(opt.text, ctx)}</option>`;
}

function overflow(el: Obj, s: Scope, o: ControlOpts): string {
  const opts = arr(el.options)
    .filter(isObj)
    .map((opt) => optionTag(opt, s.ctx, false))
    .join('');
  return `<select class="bk-overflow"${dataAttrs(el, s, o, 'overflow')}${attr('aria-label', str(el.accessibility_label) || 'More actions')}><option value="" selected>⋯</option>${opts}</select>`;
}

const MULTI = /^multi_/;

function staticSelect(el: Obj, s: Scope, o: ControlOpts, type: string): string {
  const multi = MULTI.test(type);
  const chosen = initialValues(el);
  const placeholder = plainOf(el.placeholder);
  const groups = arr(el.option_groups).filter(isObj);
  let body: string;
  if (groups.length) {
    body = groups
      .map(
        (g) =>
          `<optgroup${attr('label', plainOf(g.label))}>${arr(g.options)
            .filter(isObj)
            .map((opt) => optionTag(opt, s.ctx, chosen.has(String(opt.value ?? ''))))
            .join('')}</optgroup>`,
      )
      .join('');
  } else {
    body = optionsOf(el)
      .map((opt) => optionTag(opt, s.ctx, chosen.has(String(opt.value ?? ''))))
      .join('');
  }
  const first = multi ? '' : `<option value=""${chosen.size ? '' : ' selected'}>${escapeHtml(placeholder || 'Select an option')}</option>`;
  return `<select class="bk-select"${attr('name', name(s, o))}${attr('multiple', multi)}${dataAttrs(el, s, o, type)}${controlAttrs(o, placeholder || 'Select an option')}${attr('autofocus', el.focus_on_load === true)}>${first}${body}</select>`;
}

/** users_select / conversations_select / channels_select (and multi_): the people and channels the page knows. */
function directorySelect(el: Obj, s: Scope, o: ControlOpts, type: string): string {
  const multi = MULTI.test(type);
  const users = /users_select$/.test(type);
  const dir = users ? s.ctx.users : s.ctx.channels;
  const initial = new Set(
    [el.initial_user, el.initial_conversation, el.initial_channel, ...arr(el.initial_users), ...arr(el.initial_conversations), ...arr(el.initial_channels)].filter(
      (x): x is string => typeof x === 'string',
    ),
  );
  const ids = [...new Set([...Object.keys(dir), ...initial])].sort((a, b) => (dir[a] ?? a).localeCompare(dir[b] ?? b));
  const placeholder = plainOf(el.placeholder) || (users ? 'Select a person' : 'Select a channel');
  const opts = ids.map((id) => `<option${attr('value', id)}${attr('selected', initial.has(id))}>${escapeHtml(users ? (dir[id] ?? id) : `#${dir[id] ?? id}`)}</option>`).join('');
  const first = multi ? '' : `<option value=""${initial.size ? '' : ' selected'}>${escapeHtml(placeholder)}</option>`;
  return `<select class="bk-select"${attr('name', name(s, o))}${attr('multiple', multi)}${dataAttrs(el, s, o, type)}${controlAttrs(o, placeholder)}${attr('autofocus', el.focus_on_load === true)}>${first}${opts}</select>`;
}

function picker(el: Obj, s: Scope, o: ControlOpts, type: 'datepicker' | 'timepicker' | 'datetimepicker'): string {
  const placeholder = plainOf(el.placeholder) || (type === 'datepicker' ? 'Select a date' : type === 'timepicker' ? 'Select a time' : 'Select a date and time');
  let value: string | undefined;
  if (type === 'datepicker') value = str(el.initial_date);
  else if (type === 'timepicker') value = str(el.initial_time);
  else {
    const t = num(el.initial_date_time);
    if (t !== undefined) {
      try {
        value = epochToZonedInput(t * 1000, s.ctx.timeZone);
      } catch {
        value = undefined;
      }
    }
  }
  const input = type === 'datepicker' ? 'date' : type === 'timepicker' ? 'time' : 'datetime-local';
  return `<input type="${input}" class="bk-picker"${attr('name', name(s, o))}${attr('value', value)}${dataAttrs(el, s, o, type)}${controlAttrs(o, placeholder)}${attr('autofocus', el.focus_on_load === true)}>`;
}

/** radio_buttons / checkboxes: one labelled box per option, in a group. */
function choices(el: Obj, s: Scope, o: ControlOpts, type: 'radio_buttons' | 'checkboxes'): string {
  const chosen = initialValues(el);
  const inputType = type === 'radio_buttons' ? 'radio' : 'checkbox';
  const items = arr(el.options)
    .filter(isObj)
    .map((opt, i) => {
      const desc = opt.description ? `<span class="bk-choice-description">${renderText(opt.description, s.ctx)}</span>` : '';
      return (
        `<label class="bk-choice"><input type="${inputType}"${attr('name', name(s, o))}${attr('value', String(opt.value ?? ''))}${attr('data-option', JSON.stringify(opt))}${attr('checked', chosen.has(String(opt.value ?? '')))}` +
        `${attr('required', inputType === 'radio' && !!o.required)}${attr('autofocus', i === 0 && el.focus_on_load === true)}>` +
        `<span class="bk-choice-text">${renderText(opt.text, s.ctx)}${desc}</span></label>`
      );
    })
    .join('');
  const label = o.id ? '' : attr('aria-label', plainOf(el.placeholder) || (type === 'radio_buttons' ? 'Choose one' : 'Choose any'));
  return `<div class="bk-choices bk-${inputType}s" role="${inputType === 'radio' ? 'radiogroup' : 'group'}"${dataAttrs(el, s, o, type)}${label}${o.id ? attr('aria-labelledby', `${o.id}-label`) : ''}>${items}</div>`;
}

function textInput(el: Obj, s: Scope, o: ControlOpts, type: string): string {
  const placeholder = plainOf(el.placeholder);
  const common = `${attr('name', name(s, o))}${dataAttrs(el, s, o, type)}${controlAttrs(o, placeholder || 'Text')}${attr('placeholder', placeholder || undefined)}${attr('autofocus', el.focus_on_load === true)}`;
  if (type === 'plain_text_input' || type === 'rich_text_input') {
    const len = attr('minlength', num(el.min_length)) + attr('maxlength', num(el.max_length));
    const initial = type === 'rich_text_input' ? richTextPlain(el.initial_value) : (str(el.initial_value) ?? '');
    if (el.multiline === true || type === 'rich_text_input') return `<textarea class="bk-textarea" rows="4"${common}${len}>${escapeHtml(initial)}</textarea>`;
    return `<input type="text" class="bk-text-input"${common}${len}${attr('value', initial || undefined)}>`;
  }
  if (type === 'number_input') {
    const decimal = el.is_decimal_allowed === true;
    return `<input type="number" class="bk-text-input"${common}${attr('step', decimal ? 'any' : '1')}${attr('inputmode', decimal ? 'decimal' : 'numeric')}${attr('min', num(el.min_value))}${attr('max', num(el.max_value))}${attr('value', str(el.initial_value) ?? num(el.initial_value))}>`;
  }
  const input = type === 'email_text_input' ? 'email' : 'url';
  return `<input type="${input}" class="bk-text-input"${common}${attr('value', str(el.initial_value))}>`;
}

const SELECTS = new Set(['static_select', 'multi_static_select', 'external_select', 'multi_external_select']);
const DIRECTORY = new Set(['users_select', 'multi_users_select', 'conversations_select', 'multi_conversations_select', 'channels_select', 'multi_channels_select']);
const TEXT_INPUTS = new Set(['plain_text_input', 'email_text_input', 'url_text_input', 'number_input', 'rich_text_input']);

/** Any interactive element (in an actions block, a section's accessory or an input block). */
function element(el: unknown, s: Scope, o: ControlOpts, where: 'actions' | 'accessory' | 'input'): string {
  if (!isObj(el) || typeof el.type !== 'string') return unsupportedElement(typeName(el));
  const type = el.type;
  if ((type === 'button' || type === 'workflow_button') && where !== 'input') return button(el, s, o);
  if (type === 'overflow' && where !== 'input') return overflow(el, s, o);
  if (type === 'image' && where === 'accessory') return image(el, 'bk-accessory-image');
  if (SELECTS.has(type)) return staticSelect(el, s, o, type);
  if (DIRECTORY.has(type)) return directorySelect(el, s, o, type);
  if (type === 'datepicker' || type === 'timepicker' || type === 'datetimepicker') return picker(el, s, o, type);
  if (type === 'radio_buttons' || type === 'checkboxes') return choices(el, s, o, type);
  if (TEXT_INPUTS.has(type) && where === 'input') return textInput(el, s, o, type);
  return unsupportedElement(type);
}

// ---------------------------------------------------------------------------------------------
// Images, files, video

function imageUrl(el: Obj): string | undefined {
  const url = str(el.image_url) ?? (isObj(el.slack_file) ? str(el.slack_file.url) : undefined);
  return url && /^https?:\/\//i.test(url) && isSafeUrl(url) ? url : undefined;
}

function image(el: Obj, cls: string): string {
  const url = imageUrl(el);
  const alt = str(el.alt_text) ?? '';
  if (!url) return `<span class="bk-image-missing ${cls}" role="img"${attr('aria-label', alt || 'image')}>[image${alt ? `: ${escapeHtml(alt)}` : ''}]</span>`;
  return `<img class="${cls}"${attr('src', url)}${attr('alt', alt)} loading="lazy" referrerpolicy="no-referrer">`;
}

// ---------------------------------------------------------------------------------------------
// Rich text

interface RtStyle {
  bold?: boolean;
  italic?: boolean;
  strike?: boolean;
  code?: boolean;
  underline?: boolean;
  highlight?: boolean;
}

function styled(html: string, style: unknown): string {
  if (!isObj(style)) return html;
  const st = style as RtStyle;
  if (st.code) html = `<code class="bk-code">${html}</code>`;
  if (st.bold) html = `<strong>${html}</strong>`;
  if (st.italic) html = `<em>${html}</em>`;
  if (st.strike) html = `<s>${html}</s>`;
  if (st.underline) html = `<u>${html}</u>`;
  if (st.highlight) html = `<mark>${html}</mark>`;
  return html;
}

function rtInline(e: unknown, ctx: RenderContext, pre: boolean): string {
  if (!isObj(e)) return unsupportedElement(typeName(e));
  switch (e.type) {
    case 'text': {
      const t = escapeHtml(str(e.text) ?? '');
      return styled(pre ? t : t.replace(/\n/g, '<br>'), e.style);
    }
    case 'link': {
      const url = str(e.url) ?? '';
      const label = escapeHtml(str(e.text) || url);
      return styled(isSafeUrl(url) ? linkHtml(url, label) : `<span class="bk-unlinked">${label}</span>`, e.style);
    }
    case 'user':
      return styled(userPill(str(e.user_id) ?? '?', ctx), e.style);
    case 'usergroup':
      return styled(specialPill(`@${str(e.usergroup_id) ?? '?'}`, 'bk-mention-group'), e.style);
    case 'channel':
      return styled(channelPill(str(e.channel_id) ?? '?', ctx), e.style);
    case 'broadcast':
      return styled(specialPill(`@${str(e.range) ?? 'here'}`), e.style);
    case 'emoji':
      return renderEmoji(str(e.name) ?? '', str(e.unicode));
    case 'date':
      return styled(renderDate(num(e.timestamp) ?? NaN, str(e.format) ?? '{date_short_pretty} {time}', str(e.fallback), str(e.url), ctx), e.style);
    case 'color': {
      const v = str(e.value) ?? '';
      const swatch = /^#[0-9a-f]{3,8}$/i.test(v) ? `<span class="bk-color-swatch" style="background:${v}" aria-hidden="true"></span>` : '';
      return `<span class="bk-color">${swatch}${escapeHtml(v)}</span>`;
    }
    default:
      return unsupportedElement(typeName(e));
  }
}

const rtInlines = (e: Obj, ctx: RenderContext, pre = false) =>
  arr(e.elements)
    .map((x) => rtInline(x, ctx, pre))
    .join('');

function richText(b: Obj, ctx: RenderContext): string {
  return arr(b.elements)
    .map((e) => {
      if (!isObj(e)) return unsupportedElement(typeName(e));
      switch (e.type) {
        case 'rich_text_section':
          return `<div class="bk-rt-section">${rtInlines(e, ctx)}</div>`;
        case 'rich_text_quote':
          return `<blockquote class="bk-quote">${rtInlines(e, ctx)}</blockquote>`;
        case 'rich_text_preformatted':
          return `<pre class="bk-pre">${rtInlines(e, ctx, true)}</pre>`;
        case 'rich_text_list': {
          const ordered = e.style === 'ordered';
          const indent = Math.max(0, Math.min(8, num(e.indent) ?? 0));
          const offset = num(e.offset) ?? 0;
          const items = arr(e.elements)
            .map((li) => `<li>${isObj(li) && li.type === 'rich_text_section' ? rtInlines(li, ctx) : unsupportedElement(typeName(li))}</li>`)
            .join('');
          const tag = ordered ? 'ol' : 'ul';
          return `<${tag} class="bk-rt-list bk-indent-${indent}${num(e.border) ? ' bk-rt-border' : ''}"${ordered && offset ? attr('start', offset + 1) : ''}>${items}</${tag}>`;
        }
        default:
          return unsupportedElement(typeName(e));
      }
    })
    .join('');
}

/** A rich_text value as the plain text it holds (a rich_text_input's initial value). */
function richTextPlain(v: unknown): string {
  if (!isObj(v)) return '';
  const walk = (x: unknown): string => {
    if (!isObj(x)) return '';
    if (x.type === 'text' || x.type === 'link') return str(x.text) ?? str(x.url) ?? '';
    if (x.type === 'user') return `@${str(x.user_id) ?? ''}`;
    if (x.type === 'channel') return `#${str(x.channel_id) ?? ''}`;
    if (x.type === 'emoji') return `:${str(x.name) ?? ''}:`;
    const inner = arr(x.elements).map(walk);
    return x.type === 'rich_text_list' ? inner.join('\n') : inner.join('');
  };
  return arr(v.elements).map(walk).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Blocks

function section(b: Obj, blockId: string, s: Scope): string {
  const parts: string[] = [];
  if (b.text !== undefined) parts.push(textBox(b.text, s.ctx, 'bk-section-text'));
  const fields = arr(b.fields);
  if (fields.length) parts.push(`<div class="bk-fields">${fields.map((f) => textBox(f, s.ctx, 'bk-field')).join('')}</div>`);
  let accessory = '';
  if (b.accessory !== undefined) {
    const el = isObj(b.accessory) ? b.accessory : {};
    accessory = `<div class="bk-accessory">${element(b.accessory, s, { blockId, actionId: actionIdOf(el, `${blockId}.accessory`) }, 'accessory')}</div>`;
  }
  return `<div class="bk-block bk-section"${attr('data-block-id', blockId)}><div class="bk-section-body">${parts.join('')}</div>${accessory}</div>`;
}

function context(b: Obj, blockId: string, s: Scope): string {
  const items = arr(b.elements)
    .map((e) => {
      if (isObj(e) && e.type === 'image') return image(e, 'bk-context-image');
      if (isObj(e) && (e.type === 'mrkdwn' || e.type === 'plain_text')) return `<span class="bk-context-item${e.type === 'mrkdwn' ? ' bk-mrkdwn' : ' bk-plain'}">${renderText(e, s.ctx)}</span>`;
      return unsupportedElement(typeName(e));
    })
    .join('');
  return `<div class="bk-block bk-context"${attr('data-block-id', blockId)}>${items}</div>`;
}

function actions(b: Obj, blockId: string, s: Scope): string {
  const items = arr(b.elements)
    .map((e, j) => element(e, s, { blockId, actionId: actionIdOf(isObj(e) ? e : {}, `${blockId}.e${j}`) }, 'actions'))
    .join('');
  return `<div class="bk-block bk-actions" role="group" aria-label="Actions"${attr('data-block-id', blockId)}>${items}</div>`;
}

function imageBlock(b: Obj, blockId: string, s: Scope): string {
  const title = b.title !== undefined ? `<figcaption class="bk-image-title">${renderText(b.title, s.ctx)}</figcaption>` : '';
  return `<figure class="bk-block bk-image"${attr('data-block-id', blockId)}>${title}${image(b, 'bk-image-img')}</figure>`;
}

function fileBlock(b: Obj, blockId: string): string {
  const id = str(b.external_id) ?? str(b.file_id) ?? '';
  return `<div class="bk-block bk-file"${attr('data-block-id', blockId)}><span class="bk-file-icon" aria-hidden="true">📄</span> File${str(b.source) ? ` (${escapeHtml(str(b.source)!)})` : ''}${id ? `: <code>${escapeHtml(id)}</code>` : ''}</div>`;
}

function videoBlock(b: Obj, blockId: string, s: Scope): string {
  const title = plainOf(b.title) || 'Video';
  const href = [str(b.title_url), str(b.video_url)].find((u) => u && isSafeUrl(u));
  const thumb = str(b.thumbnail_url);
  const img =
    thumb && /^https?:\/\//i.test(thumb) && isSafeUrl(thumb)
      ? `<img class="bk-video-thumb"${attr('src', thumb)}${attr('alt', str(b.alt_text) ?? '')} loading="lazy" referrerpolicy="no-referrer">`
      : '';
  const heading = `<span class="bk-video-icon" aria-hidden="true">▶</span> ${href ? linkHtml(href, renderText(b.title, s.ctx) || escapeHtml(title)) : renderText(b.title, s.ctx) || escapeHtml(title)}`;
  const by = [str(b.author_name), str(b.provider_name)].filter(Boolean).join(' · ');
  const desc = b.description !== undefined ? `<div class="bk-video-description">${renderText(b.description, s.ctx)}</div>` : '';
  return `<div class="bk-block bk-video"${attr('data-block-id', blockId)}><div class="bk-video-title">${heading}</div>${by ? `<div class="bk-video-by">${escapeHtml(by)}</div>` : ''}${img}${desc}</div>`;
}

const GROUP_INPUTS = new Set(['radio_buttons', 'checkboxes']);

function inputBlock(b: Obj, blockId: string, s: Scope, error?: string): string {
  const el = isObj(b.element) ? b.element : undefined;
  const type = el && typeof el.type === 'string' ? el.type : typeName(b.element);
  const id = `${s.idPrefix}-b-${slug(blockId)}`;
  const optional = b.optional === true;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [b.hint !== undefined ? hintId : '', error ? errorId : ''].filter(Boolean).join(' ');
  const labelInner = `${renderText(b.label, s.ctx)}${optional ? '<span class="bk-optional"> (optional)</span>' : ''}`;
  const o: ControlOpts = {
    blockId,
    actionId: el ? actionIdOf(el, `${blockId}.input`) : `${blockId}.input`,
    id: `${id}-control`,
    labelText: plainOf(b.label),
    describedBy,
    required: !optional,
    invalid: !!error,
  };
  const control = element(b.element, s, o, 'input');
  const hint = b.hint !== undefined ? `<div class="bk-hint" id="${escapeHtml(hintId)}">${renderText(b.hint, s.ctx)}</div>` : '';
  const err = error ? `<div class="bk-error" id="${escapeHtml(errorId)}" role="alert">${escapeHtml(error)}</div>` : '';
  const cls = `bk-block bk-input${error ? ' bk-invalid' : ''}`;
  if (GROUP_INPUTS.has(type)) {
    return `<fieldset class="${cls}"${attr('data-block-id', blockId)}${attr('aria-describedby', describedBy || undefined)}${attr('aria-invalid', error ? 'true' : undefined)}><legend class="bk-label" id="${escapeHtml(`${o.id}-label`)}">${labelInner}</legend>${control}${hint}${err}</fieldset>`;
  }
  return `<div class="${cls}"${attr('data-block-id', blockId)}><label class="bk-label" for="${escapeHtml(o.id!)}" id="${escapeHtml(`${o.id}-label`)}">${labelInner}</label>${control}${hint}${err}</div>`;
}

function renderBlock(b: unknown, index: number, s: Scope, errors?: Record<string, string>): string {
  if (!isObj(b) || typeof b.type !== 'string') return unsupportedBlock(typeName(b));
  const blockId = blockIdOf(b, index);
  switch (b.type) {
    case 'section':
      return section(b, blockId, s);
    case 'header':
      return `<h3 class="bk-block bk-header"${attr('data-block-id', blockId)}>${renderText(b.text, s.ctx)}</h3>`;
    case 'divider':
      return `<hr class="bk-block bk-divider"${attr('data-block-id', blockId)}>`;
    case 'context':
      return context(b, blockId, s);
    case 'actions':
      return actions(b, blockId, s);
    case 'image':
      return imageBlock(b, blockId, s);
    case 'input':
      return inputBlock(b, blockId, s, errors?.[blockId]);
    case 'rich_text':
      return `<div class="bk-block bk-rich-text"${attr('data-block-id', blockId)}>${richText(b, s.ctx)}</div>`;
    case 'file':
      return fileBlock(b, blockId);
    case 'video':
      return videoBlock(b, blockId, s);
    default:
      return unsupportedBlock(b.type, blockId);
  }
}

function messageScope(ctx: RenderContext, where?: Where): Scope {
  const tag = [where?.channel, where?.ts].filter(Boolean).join('-');
  return { ctx, where, idPrefix: `bk-msg${tag ? `-${slug(tag)}` : ''}`, nameSuffix: where?.ts ? `@${where.ts}` : '' };
}

/** Message or App Home blocks as HTML; `where` (the message's channel and ts) rides on every interactive element. */
export function renderBlocks(blocks: unknown[], ctx: RenderContext, where?: Where): string {
  const s = messageScope(ctx, where);
  const list = Array.isArray(blocks) ? blocks : [];
  return `<div class="bk-blocks"${attr('data-channel', where?.channel)}${attr('data-ts', where?.ts)}>${list.map((b, i) => renderBlock(b, i, s)).join('')}</div>`;
}

/** A message: its blocks when it has some, else its text as mrkdwn. */
export function renderMessageBody(msg: { text: string; blocks?: unknown[] }, ctx: RenderContext, where?: Where): string {
  if (Array.isArray(msg.blocks) && msg.blocks.length) return renderBlocks(msg.blocks, ctx, where);
  return `<div class="bk-blocks"${attr('data-channel', where?.channel)}${attr('data-ts', where?.ts)}><div class="bk-text bk-mrkdwn">${renderMrkdwn(msg.text ?? '', ctx)}</div></div>`;
}

export interface ViewLike {
  type: string;
  id?: string;
  callback_id?: string;
  title?: unknown;
  submit?: unknown;
  close?: unknown;
  blocks: unknown[];
}

/**
 * A modal as a <form>: title, blocks (inputs labelled, with hints and `(optional)`), Close and Submit.
 * `errors` (a view_submission's `response_action: 'errors'`, keyed by block_id) are shown under their
 * input (role="alert", tied to the control by aria-describedby, aria-invalid set); errors for block ids
 * the view does not have are shown at the top rather than lost.
 */
export function renderView(view: ViewLike, ctx: RenderContext, errors?: Record<string, string>): string {
  const idPrefix = `bk-view-${slug(view.id ?? view.callback_id ?? view.type ?? 'view')}`;
  const s: Scope = { ctx, idPrefix, nameSuffix: '' };
  const blocks = Array.isArray(view.blocks) ? view.blocks : [];
  const inputIds = new Set(blocks.map((b, i) => (isObj(b) && b.type === 'input' ? blockIdOf(b, i) : undefined)).filter(Boolean));
  const stray = Object.entries(errors ?? {}).filter(([k]) => !inputIds.has(k));
  const titleId = `${idPrefix}-heading`;
  const title = view.title !== undefined ? renderText(view.title, ctx) : escapeHtml(view.type === 'modal' ? 'Modal' : view.type);
  const top = stray.length ? `<div class="bk-form-error" role="alert">${stray.map(([k, v]) => `<p><code>${escapeHtml(k)}</code>: ${escapeHtml(String(v))}</p>`).join('')}</div>` : '';
  const body = blocks.map((b, i) => renderBlock(b, i, s, errors)).join('');
  const close = `<button type="button" class="bk-button bk-close" data-view-action="close">${view.close !== undefined ? renderText(view.close, ctx) : 'Cancel'}</button>`;
  const submit = view.submit !== undefined ? `<button type="submit" class="bk-button bk-primary" data-view-action="submit">${renderText(view.submit, ctx)}</button>` : '';
  return (
    `<form class="bk-view bk-modal"${attr('data-view-type', view.type)}${attr('data-view-id', view.id)}${attr('data-callback-id', view.callback_id)} aria-labelledby="${escapeHtml(titleId)}">` +
    `<div class="bk-modal-header"><h2 class="bk-modal-title" id="${escapeHtml(titleId)}">${title}</h2></div>` +
    `<div class="bk-modal-body">${top}${body}</div>` +
    `<div class="bk-modal-footer">${close}${submit}</div></form>`
  );
}

// ---------------------------------------------------------------------------------------------
// view.state.values

type FormLike = { entries(): Iterable<[string, unknown]> } | ReadonlyArray<readonly [string, unknown]>;

/** The stateful elements of a view, with the block and action ids they are drawn (and read) with. */
function statefulElements(blocks: unknown[]): { blockId: string; actionId: string; el: Obj }[] {
  const out: { blockId: string; actionId: string; el: Obj }[] = [];
  blocks.forEach((b, i) => {
    if (!isObj(b)) return;
    const blockId = blockIdOf(b, i);
    if (b.type === 'input' && isObj(b.element)) out.push({ blockId, actionId: actionIdOf(b.element, `${blockId}.input`), el: b.element });
    if (b.type === 'section' && isObj(b.accessory)) out.push({ blockId, actionId: actionIdOf(b.accessory, `${blockId}.accessory`), el: b.accessory });
    if (b.type === 'actions') arr(b.elements).forEach((e, j) => isObj(e) && out.push({ blockId, actionId: actionIdOf(e, `${blockId}.e${j}`), el: e }));
  });
  return out;
}

function stateOf(el: Obj, values: string[], ctx?: Pick<RenderContext, 'timeZone'>): Record<string, unknown> | undefined {
  const type = str(el.type) ?? '';
  const first = values.find((v) => v !== '') ?? null;
  const nonEmpty = values.filter((v) => v !== '');
  const option = (v: string | null) => (v === null ? null : (optionsOf(el).find((o) => String(o.value ?? '') === v) ?? null));
  const options = () => nonEmpty.map(option).filter((o): o is Obj => o !== null);
  switch (type) {
    case 'plain_text_input':
    case 'email_text_input':
    case 'url_text_input':
    case 'number_input':
      return { type, value: values[0] === undefined || values[0] === '' ? null : values[0] };
    case 'rich_text_input': {
      const text = values[0] ?? '';
      return { type, rich_text_value: { type: 'rich_text', elements: text ? [{ type: 'rich_text_section', elements: [{ type: 'text', text }] }] : [] } };
    }
    case 'static_select':
    case 'external_select':
    case 'radio_buttons':
      return { type, selected_option: option(first) };
    case 'multi_static_select':
    case 'multi_external_select':
    case 'checkboxes':
      return { type, selected_options: options() };
    case 'users_select':
      return { type, selected_user: first };
    case 'multi_users_select':
      return { type, selected_users: nonEmpty };
    case 'conversations_select':
      return { type, selected_conversation: first };
    case 'multi_conversations_select':
      return { type, selected_conversations: nonEmpty };
    case 'channels_select':
      return { type, selected_channel: first };
    case 'multi_channels_select':
      return { type, selected_channels: nonEmpty };
    case 'datepicker':
      return { type, selected_date: first };
    case 'timepicker':
      return { type, selected_time: first };
    case 'datetimepicker': {
      const m = first ? /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(first) : null;
      if (!m) return { type, selected_date_time: null };
      const [y, mo, d, h, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
      let ms: number;
      try {
        ms = zonedTimeToEpoch(y, mo, d, h, mi, ctx?.timeZone ?? 'UTC');
      } catch {
        ms = Date.UTC(y, mo - 1, d, h, mi);
      }
      return { type, selected_date_time: Math.floor(ms / 1000) };
    }
    default:
      return undefined; // buttons, overflow menus, images: no state
  }
}

/**
 * A modal's form data (a FormData, URLSearchParams or [name, value] pairs, as the browser submits the form
 * renderView drew) as Slack's `view.state.values`: {block_id: {action_id: {type, value | selected_option |
 * selected_options | selected_user | selected_date | selected_time | …}}}, option objects exactly as the view
 * defines them — what src/platforms/slack/interactions.ts reads and the stateValue helpers of
 * src/platforms/sandbox/slackRequests.ts build. An empty text input is `value: null`, as Slack sends it.
 * `ctx.timeZone` (default UTC) reads datetimepicker values.
 */
export function readViewState(form: FormLike, view: { blocks: unknown[] }, ctx?: Pick<RenderContext, 'timeZone'>): Record<string, Record<string, unknown>> {
  const byName = new Map<string, string[]>();
  const entries: Iterable<readonly [string, unknown]> = Array.isArray(form) ? form : (form as { entries(): Iterable<[string, unknown]> }).entries();
  for (const [k, v] of entries) {
    if (typeof v !== 'string') continue;
    const list = byName.get(k);
    if (list) list.push(v);
    else byName.set(k, [v]);
  }
  const out: Record<string, Record<string, unknown>> = {};
  for (const { blockId, actionId, el } of statefulElements(Array.isArray(view.blocks) ? view.blocks : [])) {
    const state = stateOf(el, byName.get(fieldName(blockId, actionId)) ?? [], ctx);
    if (state) (out[blockId] ??= {})[actionId] = state;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Styles

/**
 * The styles of every `bk-` class, for the page to inline. Colours meet WCAG AA contrast (4.5:1 for text,
 * 3:1 for controls' borders) on their backgrounds; every control shows a 3px focus ring.
 */
export const BLOCK_KIT_CSS = `
.bk-blocks, .bk-view {
  --bk-text: #1d1c1d;
  --bk-muted: #595859;
  --bk-border: #8d8c8d;
  --bk-rule: #dddddd;
  --bk-bg: #ffffff;
  --bk-subtle: #f6f6f6;
  --bk-primary: #007a5a;
  --bk-primary-hover: #005e45;
  --bk-danger: #b3123e;
  --bk-danger-hover: #8c0e30;
  --bk-link: #0b5394;
  --bk-mention-bg: #e3f0fa;
  --bk-mention-text: #0b4f8a;
  --bk-special-bg: #fdf1c8;
  --bk-special-text: #5c4300;
  --bk-focus: #1264a3;
  --bk-error: #b3123e;
  color: var(--bk-text);
  font: 15px/1.47 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.bk-blocks { display: flex; flex-direction: column; gap: 8px; }
.bk-block { margin: 0; }
.bk-mrkdwn, .bk-plain, .bk-text { overflow-wrap: anywhere; }
.bk-header { font-size: 18px; font-weight: 700; line-height: 1.33; margin: 4px 0; }
.bk-divider { border: 0; border-top: 1px solid var(--bk-rule); margin: 4px 0; width: 100%; }
.bk-section { display: flex; gap: 12px; align-items: flex-start; }
.bk-section-body { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; gap: 8px; }
.bk-fields { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px 16px; }
@media (max-width: 480px) { .bk-fields { grid-template-columns: minmax(0, 1fr); } }
.bk-accessory { flex: 0 0 auto; }
.bk-accessory-image { width: 88px; height: 88px; object-fit: cover; border-radius: 6px; }
.bk-context { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; color: var(--bk-muted); font-size: 13px; }
.bk-context-image { width: 20px; height: 20px; border-radius: 4px; object-fit: cover; }
.bk-actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.bk-image { display: flex; flex-direction: column; gap: 4px; }
.bk-image-img { max-width: 100%; max-height: 360px; border-radius: 6px; align-self: flex-start; }
.bk-image-title { font-weight: 600; }
.bk-image-missing { color: var(--bk-muted); font-style: italic; }
.bk-file, .bk-video { border: 1px solid var(--bk-rule); border-radius: 8px; padding: 8px 12px; background: var(--bk-subtle); }
.bk-video-thumb { display: block; max-width: 100%; max-height: 240px; margin-top: 6px; border-radius: 6px; }
.bk-video-by, .bk-video-description { color: var(--bk-muted); font-size: 13px; }
.bk-unknown { display: inline-block; border: 1px dashed var(--bk-border); border-radius: 6px; padding: 4px 8px; color: var(--bk-muted); background: var(--bk-subtle); font-size: 13px; }
.bk-quote { margin: 4px 0; padding: 0 0 0 12px; border-left: 4px solid var(--bk-rule); }
.bk-pre { margin: 4px 0; padding: 8px; border: 1px solid var(--bk-rule); border-radius: 4px; background: var(--bk-subtle); font: 12px/1.5 Monaco, Menlo, Consolas, "Courier New", monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
.bk-code { padding: 1px 3px; border: 1px solid var(--bk-rule); border-radius: 3px; background: var(--bk-subtle); color: #a8004f; font: 12px Monaco, Menlo, Consolas, "Courier New", monospace; }
.bk-pre .bk-code { border: 0; padding: 0; background: none; color: inherit; }
.bk-link { color: var(--bk-link); text-decoration: underline; }
.bk-unlinked { color: var(--bk-muted); }
.bk-mention { border-radius: 3px; padding: 0 2px; background: var(--bk-mention-bg); color: var(--bk-mention-text); font-weight: 500; }
.bk-mention-special, .bk-mention-group { background: var(--bk-special-bg); color: var(--bk-special-text); }
.bk-emoji { font-family: "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji", sans-serif; }
.bk-date { text-decoration: underline dotted; }
.bk-color-swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 3px; border: 1px solid var(--bk-border); border-radius: 2px; vertical-align: -1px; }
.bk-rt-section { white-space: normal; }
.bk-rt-list { margin: 2px 0; padding-left: 24px; }
.bk-rt-border { border-left: 4px solid var(--bk-rule); }
.bk-indent-1 { margin-left: 24px; } .bk-indent-2 { margin-left: 48px; } .bk-indent-3 { margin-left: 72px; }
.bk-indent-4 { margin-left: 96px; } .bk-indent-5 { margin-left: 120px; } .bk-indent-6 { margin-left: 144px; }
.bk-indent-7 { margin-left: 168px; } .bk-indent-8 { margin-left: 192px; }
.bk-button {
  display: inline-flex; align-items: center; justify-content: center; min-height: 36px; padding: 0 12px;
  border: 1px solid var(--bk-border); border-radius: 4px; background: var(--bk-bg); color: var(--bk-text);
  font: inherit; font-size: 15px; font-weight: 700; text-decoration: none; cursor: pointer;
}
.bk-button:hover { background: var(--bk-subtle); }
.bk-primary { background: var(--bk-primary); border-color: var(--bk-primary); color: #ffffff; }
.bk-primary:hover { background: var(--bk-primary-hover); }
.bk-danger { background: var(--bk-danger); border-color: var(--bk-danger); color: #ffffff; }
.bk-danger:hover { background: var(--bk-danger-hover); }
.bk-button:disabled, .bk-button[aria-disabled="true"] { opacity: 0.6; cursor: not-allowed; }
.bk-select, .bk-overflow, .bk-picker, .bk-text-input, .bk-textarea {
  min-height: 36px; padding: 4px 8px; border: 1px solid var(--bk-border); border-radius: 4px;
  background: var(--bk-bg); color: var(--bk-text); font: inherit; max-width: 100%;
}
.bk-overflow { width: 40px; padding: 0 4px; text-align: center; cursor: pointer; }
.bk-text-input, .bk-textarea, .bk-input .bk-select, .bk-input .bk-picker { width: 100%; box-sizing: border-box; }
.bk-textarea { resize: vertical; min-height: 88px; }
.bk-select[multiple] { min-height: 88px; }
.bk-choices { display: flex; flex-direction: column; gap: 6px; }
.bk-choice { display: flex; gap: 8px; align-items: flex-start; cursor: pointer; }
.bk-choice input { margin-top: 4px; width: 16px; height: 16px; accent-color: var(--bk-primary); }
.bk-choice-text { display: flex; flex-direction: column; }
.bk-choice-description { color: var(--bk-muted); font-size: 13px; }
.bk-button:focus-visible, .bk-select:focus-visible, .bk-overflow:focus-visible, .bk-picker:focus-visible,
.bk-text-input:focus-visible, .bk-textarea:focus-visible, .bk-choice input:focus-visible, .bk-link:focus-visible {
  outline: 3px solid var(--bk-focus); outline-offset: 2px;
}
.bk-view { display: flex; flex-direction: column; max-width: 520px; background: var(--bk-bg); border-radius: 8px; border: 1px solid var(--bk-rule); }
.bk-modal-header { padding: 16px 20px; border-bottom: 1px solid var(--bk-rule); }
.bk-modal-title { margin: 0; font-size: 20px; font-weight: 700; }
.bk-modal-body { padding: 16px 20px; display: flex; flex-direction: column; gap: 16px; overflow-y: auto; }
.bk-modal-footer { display: flex; justify-content: flex-end; gap: 8px; padding: 12px 20px; border-top: 1px solid var(--bk-rule); }
.bk-input { display: flex; flex-direction: column; gap: 6px; border: 0; padding: 0; min-width: 0; }
.bk-label { font-weight: 700; padding: 0; }
.bk-optional { font-weight: 400; color: var(--bk-muted); }
.bk-hint { color: var(--bk-muted); font-size: 13px; }
.bk-error, .bk-form-error { color: var(--bk-error); font-size: 13px; font-weight: 600; }
.bk-form-error p { margin: 0 0 4px; }
.bk-invalid .bk-text-input, .bk-invalid .bk-textarea, .bk-invalid .bk-select, .bk-invalid .bk-picker { border: 2px solid var(--bk-error); }
`;
