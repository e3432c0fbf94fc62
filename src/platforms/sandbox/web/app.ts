/**
 * The sandbox page's script (bundled by src/platforms/sandbox/server.ts with esbuild; no framework: a handful of
 * views redrawn from one JSON read whenever the server says the workspace changed).
 */
import { escapeHtml, readViewState, renderBlocks, renderMessageBody, renderPlain, renderView, type RenderContext } from './blockKit.ts';

interface Person {
  id: string;
  name: string;
  realName: string;
  title: string;
  roles: string[];
}
interface Bootstrap {
  team: { name: string };
  mode: string;
  bot: { id: string; name: string };
  people: Person[];
}
interface ChannelItem {
  id: string;
  name: string;
  isIm: boolean;
  isPrivate: boolean;
  isArchived: boolean;
  member: boolean;
  topic: string;
  purpose: string;
  latest: string | null;
}
interface MessageItem {
  ts: string;
  user: string | null;
  bot: boolean;
  text: string;
  blocks: unknown[] | null;
  edited: boolean;
  reactions: Array<{ name: string; count: number; users: string[] }>;
  files: Array<{ id: string; name: string; title: string }>;
  replies: number;
}
interface EphemeralItem {
  ts: string;
  text: string;
  blocks: unknown[] | null;
  at: number;
}
interface FileItem {
  id: string;
  name: string;
  title: string;
  size: number;
  text: string;
}
interface ModalItem {
  id: string;
  type: string;
  title: unknown;
  submit: unknown;
  close: unknown;
  blocks: unknown[];
}
interface ViewData {
  users: Record<string, string>;
  channels: ChannelItem[];
  channelNames: Record<string, string>;
  channel: { id: string; pins: string[]; bookmarks: Array<{ title: string; link: string }>; messages: MessageItem[]; ephemerals: EphemeralItem[]; files: FileItem[] } | null;
  home: { id: string; blocks: unknown[] } | null;
  modal: ModalItem | null;
}
interface Outcome {
  ok: boolean;
  error?: string;
  errors?: Record<string, string>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

let boot: Bootstrap;
let person = '';
let channel = 'C0GENERAL';
let data: ViewData | undefined;
let modalKey = '';
let modalErrors: Record<string, string> = {};
let loading: Promise<void> | undefined;
let again = false;

function ctx(): RenderContext {
  return { users: data?.users ?? {}, channels: data?.channelNames ?? {}, timeZone, now: Date.now() };
}

function toast(text: string): void {
  const t = $('toast');
  t.textContent = text;
  window.setTimeout(() => {
    if (t.textContent === text) t.textContent = '';
  }, 6000);
}

async function act(body: Record<string, unknown>): Promise<Outcome> {
  const res = await fetch('/sandbox/api/do', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: person, ...body }) });
  const out = (await res.json()) as Outcome;
  if (!out.ok && out.error && !out.errors) toast(out.error);
  void refresh();
  return out;
}

/** Reads the view again; a change that arrives meanwhile reads it once more afterwards. */
async function refresh(): Promise<void> {
  if (loading) {
    again = true;
    return loading;
  }
  loading = (async () => {
    do {
      again = false;
      const res = await fetch(`/sandbox/api/view?user=${encodeURIComponent(person)}&channel=${encodeURIComponent(channel)}`);
      if (res.ok) {
        data = (await res.json()) as ViewData;
        draw();
      }
    } while (again);
  })().finally(() => {
    loading = undefined;
  });
  return loading;
}

function draw(): void {
  if (!data) return;
  drawChannels();
  if (channel === 'home') drawHome();
  else drawChannel();
  drawModal();
}

function drawChannels(): void {
  const item = (c: ChannelItem) =>
    `<li><button type="button" data-channel="${escapeHtml(c.id)}" aria-current="${c.id === channel}" class="${c.isArchived ? 'archived' : ''}">${c.isIm ? '' : c.isPrivate ? '🔒 ' : '# '}${escapeHtml(c.name)}${c.isArchived ? ' (archived)' : ''}</button></li>`;
  $('channel-list').innerHTML = data!.channels
    .filter((c) => !c.isIm)
    .map(item)
    .join('');
  $('dm-list').innerHTML = data!.channels
    .filter((c) => c.isIm)
    .map(item)
    .join('');
  $('home-button').setAttribute('aria-current', String(channel === 'home'));
}

function drawHome(): void {
  $('channel-title').textContent = 'Muster — Home';
  $('channel-purpose').textContent = 'The App Home: what Muster has for you';
  $('channel-notice').innerHTML = '';
  const box = $('messages');
  box.innerHTML = data!.home
    ? `<div class="home" data-view-id="${escapeHtml(data!.home.id)}">${renderBlocks(data!.home.blocks, ctx())}</div>`
    : '<p class="home">Muster has not published a Home for you yet.</p>';
  composerEnabled(false, 'The App Home has no composer');
}

function drawChannel(): void {
  const c = data!.channels.find((x) => x.id === channel);
  const ch = data!.channel;
  if (!c || !ch) {
    channel = 'C0GENERAL';
    void refresh();
    return;
  }
  $('channel-title').textContent = c.isIm ? c.name : `${c.isPrivate ? '🔒' : '#'} ${c.name}`;
  $('channel-purpose').textContent = [c.topic, c.purpose].filter(Boolean).join(' — ');
  const notices: string[] = [];
  if (c.isArchived) notices.push('This channel has been archived. You can read it but not post in it.');
  if (ch.bookmarks.length)
    notices.push(`Bookmarks: ${ch.bookmarks.map((b) => `<a href="${escapeHtml(safeUrl(b.link))}" target="_blank" rel="noopener noreferrer">${escapeHtml(b.title)}</a>`).join(' · ')}`);
  $('channel-notice').innerHTML = notices.map((n) => `<p class="notice">${n.startsWith('Bookmarks') ? n : escapeHtml(n)}</p>`).join('');
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const items: Array<{ ts: string; html: string }> = [
    ...ch.messages.map((m) => ({ ts: m.ts, html: messageHtml(m, ch.pins.includes(m.ts), ch.files) })),
    ...ch.ephemerals.map((e) => ({ ts: e.ts, html: ephemeralHtml(e) })),
  ].sort((a, b) => Number(a.ts) - Number(b.ts));
  box.innerHTML = items.length ? items.map((i) => i.html).join('') : '<p style="padding:0 16px;color:#5e5d60">No messages yet.</p>';
  if (atBottom) box.scrollTop = box.scrollHeight;
  composerEnabled(!c.isArchived, c.isArchived ? 'Archived: read only' : `Message ${c.isIm ? c.name : `#${c.name}`}`);
}

function composerEnabled(on: boolean, label: string): void {
  const input = $<HTMLTextAreaElement>('composer-input');
  input.disabled = !on;
  $('composer-label').textContent = label;
  ($('composer').querySelector('button[type=submit]') as HTMLButtonElement).disabled = !on;
}

function when(ts: string): string {
  const d = new Date(Number(ts) * 1000);
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short' }).format(d);
}

function messageHtml(m: MessageItem, pinned: boolean, files: FileItem[]): string {
  const name = m.bot ? 'Muster' : (data!.users[m.user ?? ''] ?? m.user ?? 'someone');
  const c = ctx();
  const reactions = m.reactions
    .map(
      (r) =>
        `<button type="button" class="reaction" data-react="${escapeHtml(r.name)}" aria-pressed="${r.users.includes(person)}" aria-label="${escapeHtml(`${r.name} reaction, ${r.count}`)}">${renderPlain(`:${r.name}:`, c)} ${r.count}</button>`,
    )
    .join('');
  const attached = m.files
    .map((f) => {
      const full = files.find((x) => x.id === f.id);
      return `<div class="file"><strong>📄 ${escapeHtml(f.title || f.name)}</strong>${full ? `<details><summary>Show the file (${full.size} bytes)</summary><pre>${escapeHtml(full.text)}</pre></details>` : ''}</div>`;
    })
    .join('');
  const archived = data!.channels.find((x) => x.id === channel)?.isArchived;
  const tools = archived
    ? ''
    : `<div class="tools"><button type="button" data-pin="${pinned ? 'remove' : 'add'}" aria-label="${pinned ? 'Unpin' : 'Pin'} this message">${pinned ? 'Unpin' : 'Pin'}</button><button type="button" data-react="pushpin" aria-label="React with pushpin">📌 React</button></div>`;
  return `<article class="msg${m.bot ? ' bot' : ''}" data-ts="${escapeHtml(m.ts)}" aria-label="${escapeHtml(`${name} at ${when(m.ts)}`)}">
<div class="avatar" aria-hidden="true">${escapeHtml(name.slice(0, 1).toUpperCase())}</div>
<div><div class="meta"><strong>${escapeHtml(name)}</strong>${m.bot ? '<span class="app">APP</span>' : ''}<time>${escapeHtml(when(m.ts))}</time>${m.edited ? ' <span>(edited)</span>' : ''}${pinned ? ' <span class="pinned">📌 Pinned</span>' : ''}${m.replies ? ` <span>${m.replies} ${m.replies === 1 ? 'reply' : 'replies'}</span>` : ''}</div>
<div class="body">${renderMessageBody({ text: m.text, ...(m.blocks ? { blocks: m.blocks } : {}) }, c, { channel, ts: m.ts })}</div>${attached}${reactions ? `<div class="tools">${reactions}</div>` : ''}${tools}</div></article>`;
}

function ephemeralHtml(e: EphemeralItem): string {
  return `<article class="msg bot ephemeral" data-ts="${escapeHtml(e.ts)}" data-ephemeral="true" aria-label="Muster, only visible to you">
<div class="avatar" aria-hidden="true">M</div>
<div><div class="meta"><strong>Muster</strong><span class="app">APP</span><time>${escapeHtml(when(e.ts))}</time> <span class="only-you">Only visible to you</span></div>
<div class="body">${renderMessageBody({ text: e.text, ...(e.blocks ? { blocks: e.blocks } : {}) }, ctx(), { channel, ts: e.ts })}</div></div></article>`;
}

function drawModal(): void {
  const root = $('modal-root');
  const m = data!.modal;
  if (!m) {
    if (root.innerHTML !== '') root.innerHTML = '';
    modalKey = '';
    modalErrors = {};
    return;
  }
  const key = `${m.id}:${JSON.stringify(m.blocks)}:${JSON.stringify(modalErrors)}`;
  if (key === modalKey) return;
  const keepFocus = root.querySelector('.dialog')?.getAttribute('data-view-id') === m.id;
  modalKey = key;
  const old = keepFocus ? new FormData(root.querySelector('form') as HTMLFormElement) : undefined;
  root.innerHTML = `<div class="backdrop"><div class="dialog" role="dialog" aria-modal="true" data-view-id="${escapeHtml(m.id)}">${renderView({ type: m.type, title: m.title, submit: m.submit, close: m.close, blocks: m.blocks }, ctx(), modalErrors)}</div></div>`;
  const form = root.querySelector('form') as HTMLFormElement | null;
  if (!form) return;
  const titled = root.querySelector('h2, h1, .bk-modal-title');
  if (titled) {
    titled.id ||= 'modal-title';
    root.querySelector('.dialog')!.setAttribute('aria-labelledby', titled.id);
  }
  if (old) {
    // A redraw for errors keeps what the person typed.
    for (const [k, v] of old.entries()) {
      const el = form.elements.namedItem(k);
      if (el instanceof HTMLInputElement && el.type !== 'checkbox' && el.type !== 'radio') el.value = String(v);
      else if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) el.value = String(v);
    }
  }
  const first = (form.querySelector('[aria-invalid="true"]') ?? form.querySelector('input, textarea, select, button')) as HTMLElement | null;
  first?.focus();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const values = readViewState(
      [...new FormData(form).entries()].map(([k, v]) => [k, String(v)] as [string, string]),
      m,
    );
    void act({ op: 'submit', viewId: m.id, values }).then((out) => {
      modalErrors = out.errors ?? {};
      if (out.errors) draw();
    });
  });
  for (const b of root.querySelectorAll<HTMLElement>('[data-modal-close], .bk-modal-close, button[type=reset]')) {
    b.addEventListener('click', (ev) => {
      ev.preventDefault();
      closeModal(m.id);
    });
  }
}

function closeModal(viewId: string): void {
  modalErrors = {};
  void act({ op: 'close', viewId });
}

function safeUrl(u: string): string {
  return /^(https?:|mailto:)/i.test(u) ? u : '#';
}

/** What a clicked or changed interactive element sends as its action (the renderer's data attributes). */
function actionOf(el: HTMLElement): Record<string, unknown> | undefined {
  const type = el.dataset.type ?? 'button';
  const action: Record<string, unknown> = { type, action_id: el.dataset.actionId, block_id: el.dataset.blockId };
  if (!action.action_id || !action.block_id) return undefined;
  if (type === 'button') {
    if (el.dataset.value !== undefined) action.value = el.dataset.value;
    action.text = el.textContent?.trim() ?? '';
  } else if (el instanceof HTMLSelectElement) {
    const opt = el.selectedOptions[0];
    if (!opt || opt.value === '') return undefined;
    if (type === 'users_select') action.selected_user = opt.value;
    else action.selected_option = { value: opt.value, text: opt.textContent?.trim() ?? opt.value };
  } else if (el instanceof HTMLInputElement) {
    if (type === 'datepicker') action.selected_date = el.value;
    else if (type === 'timepicker') action.selected_time = el.value;
    else action.value = el.value;
  }
  return action;
}

async function onInteractive(el: HTMLElement): Promise<void> {
  const action = actionOf(el);
  if (!action) return;
  if (el.dataset.confirm) {
    try {
      const c = JSON.parse(el.dataset.confirm) as { title?: { text?: string }; text?: { text?: string } };
      if (!window.confirm([c.title?.text, c.text?.text].filter(Boolean).join('\n\n'))) return;
    } catch {
      // a confirm we cannot read: ask plainly
      if (!window.confirm('Are you sure?')) return;
    }
  }
  const view = el.closest<HTMLElement>('[data-view-id]');
  if (view) {
    await act({ op: 'action', viewId: view.dataset.viewId, action });
    return;
  }
  const msg = el.closest<HTMLElement>('[data-ts]');
  if (!msg) return;
  await act({ op: 'action', channel, ts: msg.dataset.ts, action });
}

function wire(): void {
  const select = $<HTMLSelectElement>('person');
  select.innerHTML = boot.people.map((p) => `<option value="${escapeHtml(p.id)}">${escapeHtml(`${p.realName} — ${p.title}`)}</option>`).join('');
  select.value = person;
  select.addEventListener('change', () => {
    person = select.value;
    localStorage.setItem('muster-sandbox-person', person);
    modalKey = '';
    void refresh();
  });

  document.querySelector('nav.channels')!.addEventListener('click', (ev) => {
    const b = (ev.target as HTMLElement).closest<HTMLElement>('[data-channel]');
    if (!b) return;
    channel = b.dataset.channel!;
    if (channel === 'home') void act({ op: 'home' });
    else void refresh();
    $('composer-input').focus();
  });

  const box = $('messages');
  box.addEventListener('click', (ev) => {
    const t = ev.target as HTMLElement;
    const interactive = t.closest<HTMLElement>('button[data-action-id]');
    if (interactive) {
      void onInteractive(interactive);
      return;
    }
    const msg = t.closest<HTMLElement>('[data-ts]');
    if (!msg || msg.dataset.ephemeral) return;
    const pin = t.closest<HTMLElement>('[data-pin]');
    if (pin) {
      void act({ op: 'pin', channel, ts: msg.dataset.ts, remove: pin.dataset.pin === 'remove' });
      return;
    }
    const react = t.closest<HTMLElement>('[data-react]');
    if (react) void act({ op: 'react', channel, ts: msg.dataset.ts, name: react.dataset.react, remove: react.getAttribute('aria-pressed') === 'true' });
  });
  box.addEventListener('change', (ev) => {
    const t = ev.target as HTMLElement;
    if (t.dataset.actionId) void onInteractive(t);
  });

  const modalRoot = $('modal-root');
  modalRoot.addEventListener('click', (ev) => {
    const b = (ev.target as HTMLElement).closest<HTMLElement>('button[data-action-id]');
    if (b && b.dataset.type !== 'submit') void onInteractive(b);
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && data?.modal) closeModal(data.modal.id);
  });

  const input = $<HTMLTextAreaElement>('composer-input');
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text || channel === 'home') return;
    input.value = '';
    void act(text.startsWith('/') ? { op: 'command', channel, text } : { op: 'message', channel, text });
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      ($('composer') as HTMLFormElement).requestSubmit();
    }
  });
  document.querySelector('aside.tour')!.addEventListener('click', (ev) => {
    const b = (ev.target as HTMLElement).closest<HTMLElement>('[data-tour-command]');
    if (!b) return;
    input.value = b.dataset.tourCommand ?? '';
    input.focus();
  });

  const events = new EventSource('/sandbox/api/events');
  events.addEventListener('change', () => void refresh());
  events.addEventListener('open', () => void refresh());
}

async function main(): Promise<void> {
  boot = (await (await fetch('/sandbox/api/bootstrap')).json()) as Bootstrap;
  const saved = localStorage.getItem('muster-sandbox-person');
  person = boot.people.some((p) => p.id === saved) ? saved! : boot.people[0]!.id;
  wire();
  await refresh();
}

void main();
