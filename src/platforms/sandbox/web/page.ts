import { BLOCK_KIT_CSS, escapeHtml } from './blockKit.ts';

/** The guided tour: following it shows every pillar (war rooms, button approvals, change control, the audit trail). */
export const TOUR: ReadonlyArray<{ title: string; as: string; text: string; command?: string }> = [
  {
    title: 'Declare an incident',
    as: 'Dana (on-call engineer)',
    text: 'In #general, send the command below. Muster opens a war room channel, posts the incident card there and announces it in #incidents.',
    command: '/incident declare P1 Checkout is failing for EU customers',
  },
  { title: 'Take commander', as: 'Dana', text: 'Open the new inc-1-… channel and click “Take commander” on the card. The card shows the new commander at once.' },
  { title: 'Post an update', as: 'Dana', text: 'In the incident channel:', command: '/incident update Payments provider returns 502s; failing over' },
  {
    title: 'Ask for a production deploy',
    as: 'Casey (engineer)',
    text: 'Switch to Casey, then in #deploys send the command below. It needs three approvals: release manager, CTO and security lead.',
    command: '/approval deploy production api 2.4.1 Fix the checkout timeout',
  },
  {
    title: 'Approve it as three people',
    as: 'Riley, Sam, then Alex',
    text: 'Switch to Riley (release manager) and click “Approve” on the card in #deploys; then Sam (CTO); then Alex (security lead). The card counts 1/3, 2/3, then reads Approved, and Casey is told.',
  },
  {
    title: 'Watch the reject modal',
    as: 'Casey, then Riley',
    text: 'As Casey ask for another deploy (e.g. version 2.4.2). As Riley click “Reject”: a modal asks for the reason; submit it empty to see the error next to the field, then give one.',
    command: '/approval deploy production api 2.4.2 Second try',
  },
  {
    title: 'Raise a change request',
    as: 'Kim (tech lead)',
    text: 'Send the command below, fill in the form; the change card goes to #changes, where the CAB (Riley, Kim, Alex, Pat) votes with its buttons, then Start, Done and Rollback follow.',
    command: '/change new normal',
  },
  {
    title: 'See it on the App Home and in the audit trail',
    as: 'anyone',
    text: 'Open “Home” in the sidebar for open incidents, what waits for your approval and the change KPIs; send /muster audit INC-1 for the incident’s audit entries, each hash-chained.',
    command: '/muster audit INC-1',
  },
];

const PAGE_CSS = `
:root { color-scheme: light; --bg: #f8f8f8; --fg: #1d1c1d; --muted: #5e5d60; --line: #dddddd; --accent: #1264a3; --side: #3f0e40; --side-fg: #f4ecf4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 6px; z-index: 10; }
header.top { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; padding: 8px 16px; background: #350d36; color: #fff; }
header.top h1 { font-size: 16px; margin: 0; }
header.top .badge { background: #ffbf47; color: #1d1c1d; border-radius: 4px; padding: 1px 8px; font-weight: 700; font-size: 12px; }
header.top label { font-size: 13px; }
header.top select { font: inherit; padding: 3px 6px; border-radius: 4px; }
header.top .connect { margin-left: auto; font-size: 13px; color: #f4ecf4; }
header.top .connect a { color: #fff; }
.layout { display: grid; grid-template-columns: 230px 1fr 320px; height: calc(100vh - 48px); }
nav.channels { background: var(--side); color: var(--side-fg); overflow-y: auto; padding: 8px 0; }
nav.channels h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; margin: 12px 16px 4px; color: #cfc3cf; }
nav.channels ul { list-style: none; margin: 0; padding: 0; }
nav.channels button { all: unset; display: block; width: 100%; box-sizing: border-box; padding: 3px 16px; cursor: pointer; color: var(--side-fg); }
nav.channels button:hover { background: #350d36; }
nav.channels button[aria-current="true"] { background: #1164a3; color: #fff; }
nav.channels button.archived { opacity: .7; font-style: italic; }
nav.channels button:focus-visible { outline: 3px solid #ffbf47; outline-offset: -3px; }
main.channel { display: flex; flex-direction: column; min-width: 0; background: #fff; border-right: 1px solid var(--line); }
.channel-head { padding: 10px 16px; border-bottom: 1px solid var(--line); }
.channel-head h2 { margin: 0; font-size: 18px; }
.channel-head p { margin: 2px 0 0; color: var(--muted); font-size: 13px; }
.notice { background: #fff4d6; border: 1px solid #e8c66b; padding: 6px 10px; margin: 8px 16px 0; border-radius: 4px; font-size: 14px; }
.messages { flex: 1; overflow-y: auto; padding: 8px 0; }
.msg { padding: 6px 16px; display: grid; grid-template-columns: 36px 1fr; gap: 8px; }
.msg:hover { background: #f8f8f8; }
.msg .avatar { width: 36px; height: 36px; border-radius: 4px; background: #611f69; color: #fff; display: grid; place-items: center; font-weight: 700; }
.msg.bot .avatar { background: #2eb67d; }
.msg .meta { font-size: 13px; color: var(--muted); }
.msg .meta strong { color: var(--fg); font-size: 15px; margin-right: 6px; }
.msg .app { background: #e8e8e8; border-radius: 3px; font-size: 10px; padding: 0 4px; margin-right: 6px; font-weight: 700; color: var(--muted); }
.msg.ephemeral { background: #f2f7fc; }
.msg .only-you { font-size: 12px; color: var(--muted); }
.msg .pinned { font-size: 12px; color: #8a5a00; }
.msg .tools { display: flex; gap: 6px; margin-top: 4px; }
.msg .tools button, .reaction { font: inherit; font-size: 12px; border: 1px solid var(--line); background: #fff; border-radius: 12px; padding: 0 8px; cursor: pointer; }
.reaction[aria-pressed="true"] { background: #e8f5fa; border-color: var(--accent); }
.file { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; margin-top: 4px; max-width: 640px; }
.file pre { max-height: 320px; overflow: auto; white-space: pre-wrap; font-size: 12px; }
form.composer { border-top: 1px solid var(--line); padding: 10px 16px; display: grid; grid-template-columns: 1fr auto; gap: 8px; }
form.composer label { grid-column: 1 / -1; font-size: 13px; color: var(--muted); }
form.composer textarea { font: inherit; min-height: 44px; max-height: 200px; resize: vertical; padding: 8px; border: 1px solid #868686; border-radius: 6px; }
form.composer button { font: inherit; background: #007a5a; color: #fff; border: 0; border-radius: 6px; padding: 0 16px; cursor: pointer; }
form.composer .hint { grid-column: 1 / -1; font-size: 12px; color: var(--muted); margin: 0; }
aside.tour { overflow-y: auto; padding: 12px 16px; background: #fafafa; }
aside.tour h2 { font-size: 16px; margin: 0 0 6px; }
aside.tour ol { padding-left: 20px; margin: 0; }
aside.tour li { margin-bottom: 10px; }
aside.tour .as { font-size: 12px; color: var(--muted); }
aside.tour code { display: block; background: #fff; border: 1px solid var(--line); padding: 4px 6px; border-radius: 4px; margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
aside.tour button { font: inherit; font-size: 12px; cursor: pointer; }
.toast { position: fixed; bottom: 16px; left: 50%; transform: translateX(-50%); background: #1d1c1d; color: #fff; padding: 8px 14px; border-radius: 6px; max-width: 80vw; }
.toast:empty { display: none; }
.backdrop { position: fixed; inset: 0; background: rgba(0,0,0,.45); display: grid; place-items: center; z-index: 20; }
.dialog { background: #fff; border-radius: 8px; width: min(600px, 94vw); max-height: 90vh; overflow-y: auto; box-shadow: 0 10px 40px rgba(0,0,0,.3); }
.home { padding: 12px 16px; overflow-y: auto; flex: 1; }
@media (max-width: 900px) { .layout { grid-template-columns: 180px 1fr; } aside.tour { display: none; } }
`;

/** The page: everything but the data, which the script loads from /sandbox/api. */
export function pageHtml(o: { team: string; mode: string }): string {
  const steps = TOUR.map(
    (s, i) =>
      `<li><strong>${escapeHtml(s.title)}</strong> <span class="as">— as ${escapeHtml(s.as)}</span><br>${escapeHtml(s.text)}${
        s.command ? `<code id="tour-cmd-${i}">${escapeHtml(s.command)}</code><button type="button" data-tour-command="${escapeHtml(s.command)}">Put in the composer</button>` : ''
      }</li>`,
  ).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Muster sandbox — ${escapeHtml(o.team)}</title>
<style>${PAGE_CSS}${BLOCK_KIT_CSS}</style>
</head>
<body>
<a class="skip" href="#composer-input">Skip to the composer</a>
<header class="top">
  <h1>Muster</h1>
  <span class="badge" title="Nothing here reaches a real Slack or Discord">Sandbox</span>
  <label for="person">Acting as</label>
  <select id="person" aria-describedby="person-hint"></select>
  <span id="person-hint" class="visually-hidden" hidden>Everything you do is done as this person</span>
  <span class="connect">A built-in workspace (${escapeHtml(o.mode)}). Connect a real Slack: <a href="/sandbox/docs/slack-setup.md" id="docs-link" target="_blank" rel="noopener">docs/slack-setup.md</a> · Discord: <a href="/sandbox/docs/discord-setup.md" target="_blank" rel="noopener">docs/discord-setup.md</a></span>
</header>
<div class="layout">
  <nav class="channels" aria-label="Channels">
    <h2 id="apps-heading">Apps</h2>
    <ul aria-labelledby="apps-heading"><li><button type="button" data-channel="home" id="home-button">Muster — Home</button></li></ul>
    <h2 id="channels-heading">Channels</h2>
    <ul id="channel-list" aria-labelledby="channels-heading"></ul>
    <h2 id="dms-heading">Direct messages</h2>
    <ul id="dm-list" aria-labelledby="dms-heading"></ul>
  </nav>
  <main class="channel" id="main" aria-labelledby="channel-title">
    <div class="channel-head"><h2 id="channel-title">…</h2><p id="channel-purpose"></p></div>
    <div id="channel-notice"></div>
    <div class="messages" id="messages" role="log" aria-live="polite" aria-labelledby="channel-title" tabindex="0"></div>
    <form class="composer" id="composer">
      <label for="composer-input" id="composer-label">Message</label>
      <textarea id="composer-input" name="text" rows="2" autocomplete="off" aria-describedby="composer-hint"></textarea>
      <button type="submit">Send</button>
      <p class="hint" id="composer-hint">Enter sends, Shift+Enter starts a new line. Slash commands: /incident, /approval, /change, /muster (each answers <code>help</code>). Mention people as @name (e.g. @riley), channels as #name.</p>
    </form>
  </main>
  <aside class="tour" aria-labelledby="tour-heading">
    <h2 id="tour-heading">Guided tour</h2>
    <p>Eight steps through every pillar. Pick the person in “Acting as” first.</p>
    <ol>${steps}</ol>
  </aside>
</div>
<div id="modal-root"></div>
<div class="toast" id="toast" role="status" aria-live="assertive"></div>
<script type="module" src="/sandbox/app.js"></script>
</body>
</html>`;
}
