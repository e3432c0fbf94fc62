import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BLOCK_KIT_CSS,
  EMOJI_TABLE,
  escapeHtml,
  fieldName,
  formatSlackDate,
  readViewState,
  renderBlocks,
  renderMessageBody,
  renderMrkdwn,
  renderPlain,
  renderText,
  renderView,
  type RenderContext,
} from '../../../src/platforms/sandbox/web/blockKit.ts';
import { slackHome, slackMessage, slackModal } from '../../../src/platforms/slack/blockKit.ts';
import { mrkdwn } from '../../../src/platforms/slack/mrkdwn.ts';
import { stateValue } from '../../../src/platforms/sandbox/slackRequests.ts';
import { FORMS } from '../../../src/services/interactions.ts';
import { ACTIONS, VIEWS } from '../../../blocks/actionIds.ts';
import { declareModal, homeView, incidentCard } from '../../../blocks/incident.ts';
import { approvalCard, rejectModal, waitingSection } from '../../../blocks/approval.ts';
import { changeCard, changeForm, changeRejectForm } from '../../../blocks/change.ts';
import { changeKpiBlocks } from '../../../blocks/changeReports.ts';
import { code, EMOJI, em, link, mention, rt, strong, time } from '../../../src/domain/text.ts';
import { assessRisk, type ChangeKpis, type Kpi } from '../../../src/domain/change.ts';
import type { IncidentView } from '../../../src/services/incidentViews.ts';
import { approvalView } from '../../support/views.ts';
import type { ChangeView } from '../../../src/services/changes.ts';

// ---------------------------------------------------------------------------------------------
// A tiny, strict reading of the HTML drawn: tags, attributes, visible text, what a browser would submit.

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
const unescapeHtml = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ENTITIES[e]!);

interface Tag {
  name: string;
  closing: boolean;
  attrs: Record<string, string>;
  start: number;
  end: number;
}

const TAG = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:="[^"<>]*")?)*)\s*>/g;
const ATTR = /\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?/g;
const VOID = new Set(['input', 'br', 'hr', 'img']);

function tags(html: string): Tag[] {
  return [...html.matchAll(TAG)].map((m) => ({
    name: m[2]!.toLowerCase(),
    closing: m[1] === '/',
    attrs: Object.fromEntries([...m[3]!.matchAll(ATTR)].map((a) => [a[1]!, unescapeHtml(a[2] ?? '')])),
    start: m.index!,
    end: m.index! + m[0].length,
  }));
}

/**
 * The HTML is well formed and safe: every `<` opens a tag of strict syntax (double-quoted attributes), tags
 * balance, no script or style element, no event handler attribute, links and images only to http(s)/mailto.
 */
function expectSafeHtml(html: string): void {
  const all = tags(html);
  const outside = all.reduceRight((s, t) => s.slice(0, t.start) + s.slice(t.end), html);
  expect(outside, 'a < or > outside a tag').not.toMatch(/[<>]/);
  const stack: string[] = [];
  for (const t of all) {
    expect(['script', 'style', 'iframe', 'object', 'embed']).not.toContain(t.name);
    for (const [k, v] of Object.entries(t.attrs)) {
      expect(k.toLowerCase().startsWith('on'), `event handler ${k}`).toBe(false);
      if (k === 'href' || k === 'src') expect(v).toMatch(/^(https?:\/\/|mailto:)/i);
      if (k === 'style') expect(v).toMatch(/^background:#[0-9a-f]{3,8}$/i);
    }
    if (VOID.has(t.name)) continue;
    if (t.closing) expect(stack.pop(), `</${t.name}> closes`).toBe(t.name);
    else stack.push(t.name);
  }
  expect(stack).toEqual([]);
}

/** What a reader sees: tags dropped, entities decoded. */
const textOf = (html: string) => unescapeHtml(html.replace(/<br>/g, '\n').replace(TAG, ''));

/** The tags of one name having an attribute (with a value, when given). */
const find = (html: string, name: string, a?: string, v?: string) =>
  tags(html).filter((t) => !t.closing && t.name === name && (a === undefined || (v === undefined ? a in t.attrs : t.attrs[a] === v)));

/** The HTML of the element opened at `open` (up to its matching close tag). */
function outer(html: string, open: Tag): string {
  let depth = 0;
  for (const t of tags(html).filter((x) => x.start >= open.start && x.name === open.name)) {
    depth += t.closing ? -1 : 1;
    if (depth === 0) return html.slice(open.start, t.end);
  }
  throw new Error(`<${open.name}> is not closed`);
}

/** What a browser submits for the form drawn (its successful controls, in document order). */
function submitted(html: string): [string, string][] {
  const out: [string, string][] = [];
  const all = tags(html);
  for (const t of all) {
    if (t.closing || !t.attrs.name || 'disabled' in t.attrs) continue;
    if (t.name === 'input') {
      const type = t.attrs.type ?? 'text';
      if (type === 'checkbox' || type === 'radio') {
        if ('checked' in t.attrs) out.push([t.attrs.name, t.attrs.value ?? 'on']);
      } else if (type !== 'submit' && type !== 'button') out.push([t.attrs.name, t.attrs.value ?? '']);
    } else if (t.name === 'textarea') {
      const body = outer(html, t);
      out.push([t.attrs.name, unescapeHtml(body.slice(body.indexOf('>') + 1, body.lastIndexOf('</textarea>')))]);
    } else if (t.name === 'select') {
      const options = find(outer(html, t), 'option');
      const chosen = options.filter((o) => 'selected' in o.attrs);
      const picked = chosen.length || 'multiple' in t.attrs ? chosen : options.slice(0, 1);
      for (const o of picked) out.push([t.attrs.name, o.attrs.value ?? '']);
    }
  }
  return out;
}

/** The form with some fields set as a person would (replacing what was there), as a real FormData. */
function fill(pairs: [string, string][], changes: Record<string, string | string[]>): FormData {
  const fd = new FormData();
  for (const [k, v] of pairs) if (!(k in changes)) fd.append(k, v);
  for (const [k, v] of Object.entries(changes)) for (const x of Array.isArray(v) ? v : [v]) fd.append(k, x);
  return fd;
}

/** view.state as src/platforms/slack/interactions.ts reads it (formValues there): field id -> text or option value. */
function formValues(values: Record<string, Record<string, unknown>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [block, actions] of Object.entries(values)) {
    const v = (actions[block] ?? Object.values(actions)[0]) as { value?: string | null; selected_option?: { value: string } | null } | undefined;
    out[block] = v?.value ?? v?.selected_option?.value ?? undefined;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Context and records

const NOW = Date.parse('2026-04-02T10:00:00Z');
const ctx: RenderContext = {
  users: { U0ANA: 'Ana Lima', U0BOB: 'Bob <b>Builder</b>', UREQ: 'Rui Requester', UIMP: 'Ida Implementer', UAPP: 'Alex Approver', UTL: 'Tess Lead' },
  channels: { C0OPS: 'ops', C0INC: 'inc-7-checkout' },
  timeZone: 'Europe/Berlin',
  now: NOW,
};
const sec = (iso: string) => Date.parse(iso) / 1000;

// Berlin goes from CET (+1) to CEST (+2) at 2026-03-29 01:00Z and back at 2026-10-25 01:00Z.
const BEFORE_SPRING = new Date('2026-03-29T00:30:00Z'); // 01:30 CET
const AFTER_SPRING = new Date('2026-03-29T01:30:00Z'); // 03:30 CEST

function incidentView(over: Partial<IncidentView> = {}): IncidentView {
  return {
    id: 'i0000000-0000-4000-8000-000000000007',
    workspaceId: 'w',
    ref: 'INC-7',
    number: 7,
    title: 'Checkout 502s',
    description: null,
    services: ['checkout'],
    severity: 'P1',
    status: 'investigating',
    isPrivate: false,
    reporter: 'U0ANA',
    commander: 'U0BOB',
    channelId: 'C0INC',
    channelName: 'inc-7-checkout',
    declaredAt: BEFORE_SPRING,
    acknowledgedAt: null,
    lastUpdateAt: AFTER_SPRING,
    resolvedAt: null,
    closedAt: null,
    summary: null,
    publicText: null,
    publicUpdatedAt: null,
    publicTitle: null,
    publishedAt: null,
    sla: { respondBy: new Date('2026-03-29T00:45:00Z'), resolveBy: new Date('2026-03-29T04:30:00Z') },
    updateDueAt: null,
    openActions: 0,
    changes: { since: new Date(BEFORE_SPRING.getTime() - 86_400_000), until: BEFORE_SPRING, recent: [], suspectedElsewhere: [], raised: [] },
    ...over,
  } as IncidentView;
}

function changeView(over: Partial<ChangeView> = {}): ChangeView {
  const riskInput = { impact: 'high', risk: 'medium', downtime: 'minutes', affectedUsers: 'some' } as const;
  return {
    id: 'c0000000-0000-4000-8000-000000000004',
    ref: 'CHG-4',
    type: 'normal',
    status: 'approved',
    title: 'Upgrade the API gateway',
    description: 'Envoy 1.30 → 1.31',
    reason: 'CVE fix',
    environment: 'production',
    systems: ['api', 'gateway'],
    risk: assessRisk(riskInput),
    riskInput,
    windowStart: AFTER_SPRING,
    windowEnd: new Date(AFTER_SPRING.getTime() + 3_600_000),
    timeZone: 'Europe/Berlin',
    rollbackPlan: 'Redeploy 1.30',
    rollbackTested: true,
    requester: 'UREQ',
    implementer: 'UIMP',
    incident: null,
    catalogueId: null,
    checklist: [
      { id: 'backup', text: 'Backup taken', done: true, by: 'UIMP', at: new Date('2026-03-28T20:00:00Z') },
      { id: 'comms', text: 'Customers told', done: false },
    ],
    flags: [],
    windowProblem: null,
    round: null,
    exception: null,
    freezes: [],
    outcome: null,
    rollbackReason: null,
    deferReason: null,
    deferredAt: null,
    implementationNotes: null,
    verificationNotes: null,
    reviewNotes: null,
    reviewDue: false,
    reviewDueAt: null,
    canVote: false,
    canAskException: false,
    createdAt: new Date('2026-03-27T12:00:00Z'),
    decidedAt: null,
    startedAt: null,
    implementedAt: null,
    reviewedAt: null,
    closedAt: null,
    suspectedOf: [],
    ...over,
  };
}

const kpi = (value: number | null, count: number, met: boolean | null, text: string): Kpi => ({ value, target: 0.99, better: 'above', met, count, text });

// ---------------------------------------------------------------------------------------------
// Text

describe('escapeHtml', () => {
  it('escapes the five characters that matter in text and attributes', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});

describe('renderMrkdwn: Slack mrkdwn as safe HTML', () => {
  const md = (s: string) => {
    const html = renderMrkdwn(s, ctx);
    expectSafeHtml(html);
    return html;
  };

  it('bold, italic, strike, code, nested styles and line breaks', () => {
    expect(md('*bold* _it_ ~gone~ `a*b*c`')).toBe('<strong>bold</strong> <em>it</em> <s>gone</s> <code class="bk-code">a*b*c</code>');
    expect(md('*_both_* and _*both*_')).toBe('<strong><em>both</em></strong> and <em><strong>both</strong></em>');
    expect(md('one\ntwo\n\nfour')).toBe('one<br>two<br><br>four');
    expect(md('*bold across a <@U0ANA> mention*')).toBe('<strong>bold across a <span class="bk-mention bk-mention-user" data-user-id="U0ANA">@Ana Lima</span> mention</strong>');
  });

  it('marks inside words, around spaces or across lines are text, and overlapping marks stay well nested', () => {
    expect(md('snake_case_name 2*3*4 * not bold * *open\nclose*')).toBe('snake_case_name 2*3*4 * not bold * *open<br>close*');
    expect(md('*a _b* c_')).toBe('<strong>a _b</strong> c_');
  });

  it('> quotes (as typed, &gt;), >>> quotes the rest, ``` blocks keep their text', () => {
    expect(md('&gt; quoted\n> also\nplain')).toBe('<blockquote class="bk-quote">quoted<br>also</blockquote>plain');
    expect(md('intro\n>>> all\nof this')).toBe('intro<blockquote class="bk-quote">all<br>of this</blockquote>');
    expect(md('before\n```\nif (a &lt; b &amp;&amp; *c*) {}\n```\nafter')).toBe('before<pre class="bk-pre">if (a &lt; b &amp;&amp; *c*) {}</pre>after');
  });

  it('decodes Slack’s &amp; &lt; &gt; once and escapes once: typed markup is text, never markup', () => {
    const html = md('&lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;b&amp;gt; &lt;!everyone&gt; &quot; a & b');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('bk-mention');
    expect(textOf(html)).toBe('<script>alert(1)</script> &lt;b&gt; <!everyone> &quot; a & b');
    // A sender that did not escape: <script> is an entity that is no link, shown as written.
    const raw = md('<script>alert(1)</script><img src=x onerror=alert(1)>');
    expect(textOf(raw)).toBe('<script>alert(1)</script><img src=x onerror=alert(1)>');
    expect(find(raw, 'img')).toEqual([]);
  });

  it('private-use characters (its placeholders) cannot smuggle markup in', () => {
    const html = md('\uE000\uE001 <@U0ANA> \uE000');
    expect(textOf(html)).toBe('\uFFFD\uFFFD @Ana Lima \uFFFD');
  });

  it('mentions become pills named from the directory, else their label, else their id; names are escaped', () => {
    const html = md('<@U0ANA> <@U0BOB|bob> <@U0NEW|newbie> <@W0EEE>');
    expect(find(html, 'span', 'data-user-id').map((t) => t.attrs['data-user-id'])).toEqual(['U0ANA', 'U0BOB', 'U0NEW', 'W0EEE']);
    expect(textOf(html)).toBe('@Ana Lima @Bob <b>Builder</b> @newbie @W0EEE');
    expect(find(html, 'b')).toEqual([]);
  });

  it('channels, @here/@channel/@everyone and user groups', () => {
    const html = md('<#C0OPS> <#C0NEW|new-room> <#C0XYZ> <!here> <!channel|channel> <!everyone> <!subteam^S0SRE|@sre> <!subteam^S0DBA>');
    expect(textOf(html)).toBe('#ops #new-room #C0XYZ @here @channel @everyone @sre @S0DBA');
    expect(find(html, 'span', 'class', 'bk-mention bk-mention-channel')).toHaveLength(3);
    expect(find(html, 'span', 'class', 'bk-mention bk-mention-special')).toHaveLength(3);
    expect(find(html, 'span', 'class', 'bk-mention bk-mention-group')).toHaveLength(2);
  });

  it('links: http(s) and mailto only, opened in a new tab without an opener; nothing else is live', () => {
    const html = md('<https://status.example.com/a?x=1&amp;y=2|Status *page*> <https://a.example> <mailto:ana@example.com|mail Ana> <mailto:bob@example.com>');
    const as = find(html, 'a');
    expect(as.map((a) => [a.attrs.href, a.attrs.target, a.attrs.rel])).toEqual([
      ['https://status.example.com/a?x=1&y=2', '_blank', 'noopener noreferrer'],
      ['https://a.example', '_blank', 'noopener noreferrer'],
      ['mailto:ana@example.com', '_blank', 'noopener noreferrer'],
      ['mailto:bob@example.com', '_blank', 'noopener noreferrer'],
    ]);
    expect(textOf(html)).toBe('Status *page* https://a.example mail Ana bob@example.com');
    const bad = md('<javascript:alert(1)|click me> <data:text/html,x|data> <ftp://x.example> <https://x.example/"onmouseover="alert(1)|q>');
    expect(find(bad, 'a').map((a) => a.attrs.href)).toEqual(['https://x.example/"onmouseover="alert(1)']);
    expect(textOf(bad)).toContain('<javascript:alert(1)|click me>');
  });

  it('emoji Muster uses become characters; unknown shortcodes stay text', () => {
    for (const [name, char] of Object.entries(EMOJI)) expect(textOf(md(`:${name}:`))).toBe(char);
    const html = md(':white_check_mark: done :not_an_emoji: 10:30:45');
    expect(find(html, 'span', 'role', 'img').map((t) => t.attrs['aria-label'])).toEqual(['white check mark']);
    expect(textOf(html)).toBe('✅ done :not_an_emoji: 10:30:45');
  });

  it('a message Muster renders (src/platforms/slack/mrkdwn.ts) shows what Muster meant, typed text as typed', () => {
    const typed = 'db <!everyone> & <https://evil.example|https://good.example> &lt;b&gt;';
    const html = md(mrkdwn(rt`${strong('INC-7')} ${typed} — ${mention('U0ANA')} ${em('now')} ${code('x<y')} ${link('https://status.example.com', 'status')} ${time(AFTER_SPRING)}`));
    expect(textOf(html)).toBe(`INC-7 ${typed} — @Ana Lima now x<y status 29 Mar 2026 03:30`);
    expect(find(html, 'strong')).toHaveLength(1);
    expect(find(html, 'a').map((a) => a.attrs.href)).toEqual(['https://status.example.com']);
    expect(html).not.toContain('bk-mention-special');
    // Muster escapes & < > only, so typed *stars* are bold in Slack; and here, the same.
    expect(find(md(mrkdwn('a *typed* word')), 'strong')).toHaveLength(1);
  });
});

describe('dates: <!date^…> in the viewer’s zone', () => {
  const at = (iso: string, format: string, over: Partial<RenderContext> = {}) => textOf(renderMrkdwn(`<!date^${sec(iso)}^${format}|fallback>`, { ...ctx, ...over }));

  it('every token, Europe/Berlin, en-GB', () => {
    const t = '2026-03-20T13:04:05Z'; // a Friday, 14:04:05 CET
    expect(at(t, '{date_num}')).toBe('2026-03-20');
    expect(at(t, '{date_slash}')).toBe('20/03/2026');
    expect(at(t, '{date}')).toBe('20 March 2026');
    expect(at(t, '{date_short}')).toBe('20 Mar 2026');
    expect(at(t, '{date_long}')).toMatch(/^Friday,? 20 March 2026$/);
    expect(at(t, '{date_pretty} {date_short_pretty}')).toBe('20 March 2026 20 Mar 2026');
    expect(at(t, '{time}')).toBe('14:04');
    expect(at(t, '{time_secs}')).toBe('14:04:05');
    expect(at(t, '{ago}')).toBe('1 week ago');
    expect(at(t, 'on {date_short} at {time} {unknown}')).toBe('On 20 Mar 2026 at 14:04 {unknown}');
  });

  it('today, yesterday and tomorrow by the viewer’s calendar, capitalised as Slack does', () => {
    expect(at('2026-04-02T21:30:00Z', '{date_short_pretty} {time}')).toBe('Today 23:30');
    expect(at('2026-04-02T22:30:00Z', '{date_short_pretty} {time}')).toBe('Tomorrow 00:30'); // 3 April in Berlin
    expect(at('2026-04-02T05:00:00Z', '{date_pretty} at {time}')).toBe('Today at 07:00');
    expect(at('2026-04-01T12:00:00Z', '{date_long_pretty}')).toBe('Yesterday');
    expect(at('2026-04-02T09:57:00Z', '{ago}')).toBe('3 minutes ago');
    expect(at('2026-04-02T22:30:00Z', '{date_short_pretty} {time}', { timeZone: 'UTC' })).toBe('Today 22:30');
  });

  it('across DST: the same wall clock before and after the switch, and the repeated autumn hour', () => {
    expect(at(BEFORE_SPRING.toISOString(), '{date_short} {time}')).toBe('29 Mar 2026 01:30');
    expect(at(AFTER_SPRING.toISOString(), '{date_short} {time}')).toBe('29 Mar 2026 03:30');
    expect(at('2026-10-25T00:30:00Z', '{time}')).toBe('02:30');
    expect(at('2026-10-25T01:30:00Z', '{time}')).toBe('02:30');
    expect(at('2026-10-25T01:30:00Z', '{time}', { timeZone: 'America/New_York' })).toBe('21:30');
    expect(at('2026-03-20T13:04:05Z', '{date_short} {time}', { locale: 'en-US', timeZone: 'America/New_York' })).toBe('Mar 20, 2026 9:04 AM');
  });

  it('the link form, and the fallback when the zone or the instant is unusable', () => {
    const html = renderMrkdwn(`<!date^${sec('2026-03-20T13:04:05Z')}^{date_short}^https://cal.example/e?id=1&amp;x=2|20 March>`, ctx);
    expectSafeHtml(html);
    expect(find(html, 'a')[0]!.attrs.href).toBe('https://cal.example/e?id=1&x=2');
    expect(find(html, 'time')[0]!.attrs.datetime).toBe('2026-03-20T13:04:05.000Z');
    expect(at('2026-03-20T13:04:05Z', '{date}', { timeZone: 'Mars/Olympus_Mons' })).toBe('fallback');
    expect(textOf(renderMrkdwn('<!date^soon^{date}|some day>', ctx))).toBe('some day');
    expect(formatSlackDate(NaN, '{date}', ctx)).toBeNull();
    const js = renderMrkdwn(`<!date^${sec('2026-03-20T13:04:05Z')}^{date}^javascript:alert(1)|x>`, ctx);
    expect(find(js, 'a')).toEqual([]);
  });
});

describe('renderPlain and renderText', () => {
  it('plain_text: nothing is markup, entities decoded once, emoji when asked, line breaks kept', () => {
    expect(renderPlain('*not bold* <@U0ANA> &lt;b&gt; :white_check_mark:\nnext', ctx)).toBe(
      '*not bold* &lt;@U0ANA&gt; &lt;b&gt; <span class="bk-emoji" role="img" aria-label="white check mark" title=":white_check_mark:">✅</span><br>next',
    );
    expect(renderPlain(':white_check_mark:', ctx, { emoji: false })).toBe(':white_check_mark:');
  });

  it('text objects by type; verbatim renders the same; emoji: false keeps shortcodes', () => {
    expect(renderText({ type: 'mrkdwn', text: '*a* <https://x.example>' }, ctx)).toBe(renderText({ type: 'mrkdwn', text: '*a* <https://x.example>', verbatim: true }, ctx));
    expect(renderText({ type: 'mrkdwn', text: '*a*' }, ctx)).toBe('<strong>a</strong>');
    expect(renderText({ type: 'plain_text', text: '*a* :x:', emoji: false }, ctx)).toBe('*a* :x:');
    expect(textOf(renderText({ type: 'plain_text', text: ':x:', emoji: true }, ctx))).toBe('❌');
    expect(renderText(undefined, ctx)).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// Blocks

const blocksHtml = (blocks: unknown[], where?: { channel?: string; ts?: string }) => {
  const html = renderBlocks(blocks, ctx, where);
  expectSafeHtml(html);
  return html;
};

describe('blocks', () => {
  it('header (plain text, escaped), divider, section text and fields in a two-column grid', () => {
    const html = blocksHtml([
      { type: 'header', text: { type: 'plain_text', text: 'INC-1 · <script>alert(1)</script> & co' } },
      { type: 'divider' },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: '*Status* ok' },
        fields: [
          { type: 'mrkdwn', text: '*Severity*\nP1' },
          { type: 'plain_text', text: 'Commander\n<@U0ANA>' },
        ],
      },
    ]);
    expect(find(html, 'h3')).toHaveLength(1);
    expect(textOf(outer(html, find(html, 'h3')[0]!))).toBe('INC-1 · <script>alert(1)</script> & co');
    expect(find(html, 'hr', 'class', 'bk-block bk-divider')).toHaveLength(1);
    const grid = outer(html, find(html, 'div', 'class', 'bk-fields')[0]!);
    expect(find(grid, 'div', 'class', 'bk-field bk-mrkdwn')).toHaveLength(1);
    expect(find(grid, 'div', 'class', 'bk-field bk-plain')).toHaveLength(1);
    expect(textOf(grid)).toBe('Severity\nP1Commander\n<@U0ANA>');
    expect(BLOCK_KIT_CSS).toMatch(/\.bk-fields \{[^}]*grid-template-columns: repeat\(2/);
  });

  it('buttons carry what a block_actions payload needs; styles; generated ids are stable', () => {
    const html = blocksHtml(
      [
        { type: 'section', text: { type: 'plain_text', text: 'x' } },
        {
          type: 'actions',
          elements: [
            { type: 'button', text: { type: 'plain_text', text: 'Approve :white_check_mark:' }, action_id: 'approval.approve', value: 'id-1', style: 'primary' },
            { type: 'button', text: { type: 'plain_text', text: 'Reject "now"' }, action_id: 'approval.reject', value: 'id-1', style: 'danger' },
            { type: 'button', text: { type: 'plain_text', text: 'No id' } },
          ],
        },
      ],
      { channel: 'C0OPS', ts: '1774776000.000100' },
    );
    const [approve, reject, noId] = find(html, 'button');
    expect(approve!.attrs).toMatchObject({
      type: 'button',
      class: 'bk-button bk-primary',
      'data-type': 'button',
      'data-action-id': 'approval.approve',
      'data-block-id': 'block-1',
      'data-value': 'id-1',
      'data-text': 'Approve :white_check_mark:',
      'aria-label': 'Approve ✅',
      'data-channel': 'C0OPS',
      'data-ts': '1774776000.000100',
    });
    expect(reject!.attrs).toMatchObject({ class: 'bk-button bk-danger', 'data-text': 'Reject "now"' });
    expect(noId!.attrs).toMatchObject({ class: 'bk-button', 'data-action-id': 'block-1.e2', 'data-block-id': 'block-1' });
    expect(noId!.attrs['data-value']).toBeUndefined();
    expect(textOf(outer(html, approve!))).toBe('Approve ✅');
    expect(find(html, 'div', 'class', 'bk-blocks')[0]!.attrs).toMatchObject({ 'data-channel': 'C0OPS', 'data-ts': '1774776000.000100' });
  });

  it('a button with a url is a link in a new tab; an unsafe url is not; a confirm dialog rides as JSON', () => {
    const confirm = {
      title: { type: 'plain_text', text: 'Sure?' },
      text: { type: 'mrkdwn', text: 'It pings <!everyone> & "all"' },
      confirm: { type: 'plain_text', text: 'Yes' },
      deny: { type: 'plain_text', text: 'No' },
      style: 'danger',
    };
    const html = blocksHtml([
      {
        type: 'actions',
        block_id: 'links',
        elements: [
          { type: 'button', text: { type: 'plain_text', text: 'Open runbook' }, action_id: 'open', url: 'https://runbooks.example/checkout?a=1&b=2' },
          { type: 'button', text: { type: 'plain_text', text: 'Sneaky' }, action_id: 'sneaky', url: 'javascript:alert(1)' },
          { type: 'button', text: { type: 'plain_text', text: 'Resolve' }, action_id: 'incident.resolve', value: 'i1', style: 'danger', confirm, accessibility_label: 'Resolve INC-7' },
        ],
      },
    ]);
    const a = find(html, 'a')[0]!;
    expect(a.attrs).toMatchObject({
      href: 'https://runbooks.example/checkout?a=1&b=2',
      target: '_blank',
      rel: 'noopener noreferrer',
      'data-action-id': 'open',
      'data-block-id': 'links',
      'data-type': 'button',
    });
    expect(find(html, 'button', 'data-action-id', 'sneaky')[0]!.attrs.href).toBeUndefined();
    const resolve = find(html, 'button', 'data-action-id', 'incident.resolve')[0]!;
    expect(JSON.parse(resolve.attrs['data-confirm']!)).toEqual(confirm);
    expect(resolve.attrs['aria-label']).toBe('Resolve INC-7');
    expect(html).not.toContain('"all"');
  });

  it('overflow menus, selects (option groups, initial option), people, channels, date and time pickers, checkboxes and radios', () => {
    const opt = (v: string, text = v.toUpperCase()) => ({ text: { type: 'plain_text', text }, value: v });
    const html = blocksHtml(
      [
        {
          type: 'section',
          block_id: 's1',
          text: { type: 'mrkdwn', text: 'More' },
          accessory: { type: 'overflow', action_id: 'more', options: [opt('edit', 'Edit <it>'), { ...opt('docs'), url: 'https://docs.example' }] },
        },
        {
          type: 'section',
          block_id: 's2',
          text: { type: 'mrkdwn', text: 'Env' },
          accessory: {
            type: 'static_select',
            action_id: 'env',
            placeholder: { type: 'plain_text', text: 'Pick an environment' },
            option_groups: [
              { label: { type: 'plain_text', text: 'Live' }, options: [opt('prod')] },
              { label: { type: 'plain_text', text: 'Test' }, options: [opt('stage'), opt('dev')] },
            ],
            initial_option: opt('stage'),
          },
        },
        {
          type: 'actions',
          block_id: 'a1',
          elements: [
            { type: 'users_select', action_id: 'who', placeholder: { type: 'plain_text', text: 'Who?' }, initial_user: 'U0BOB' },
            { type: 'conversations_select', action_id: 'where' },
            { type: 'datepicker', action_id: 'day', initial_date: '2026-03-29', placeholder: { type: 'plain_text', text: 'Day' } },
            { type: 'timepicker', action_id: 'at', initial_time: '03:30' },
            { type: 'checkboxes', action_id: 'checks', options: [opt('a'), { ...opt('b'), description: { type: 'mrkdwn', text: '_second_' } }], initial_options: [opt('b')] },
            { type: 'radio_buttons', action_id: 'pick', options: [opt('x'), opt('y')], initial_option: opt('x') },
          ],
        },
      ],
      { channel: 'C0OPS', ts: '1.2' },
    );
    const overflow = find(html, 'select', 'data-type', 'overflow')[0]!;
    expect(overflow.attrs).toMatchObject({ 'data-action-id': 'more', 'data-block-id': 's1', 'aria-label': 'More actions' });
    const menu = find(outer(html, overflow), 'option');
    expect(menu.map((o) => [o.attrs.value, o.attrs['data-url']])).toEqual([
      ['', undefined],
      ['edit', undefined],
      ['docs', 'https://docs.example'],
    ]);
    expect(JSON.parse(menu[1]!.attrs['data-option']!)).toEqual(opt('edit', 'Edit <it>'));
    expect(textOf(outer(html, overflow))).toBe('⋯Edit <it>DOCS');

    const select = find(html, 'select', 'data-type', 'static_select')[0]!;
    expect(select.attrs).toMatchObject({ 'data-action-id': 'env', 'data-block-id': 's2', 'aria-label': 'Pick an environment' });
    const sel = outer(html, select);
    expect(find(sel, 'optgroup').map((g) => g.attrs.label)).toEqual(['Live', 'Test']);
    expect(find(sel, 'option', 'selected').map((o) => o.attrs.value)).toEqual(['stage']);

    const users = outer(html, find(html, 'select', 'data-type', 'users_select')[0]!);
    expect(find(users, 'option', 'selected').map((o) => o.attrs.value)).toEqual(['U0BOB']);
    expect(textOf(users)).toContain('Bob <b>Builder</b>');
    expect(find(users, 'select')[0]!.attrs['aria-label']).toBe('Who?');
    const convs = outer(html, find(html, 'select', 'data-type', 'conversations_select')[0]!);
    expect(find(convs, 'option').map((o) => textOf(outer(convs, o)))).toEqual(['Select a channel', '#inc-7-checkout', '#ops']);

    expect(find(html, 'input', 'data-type', 'datepicker')[0]!.attrs).toMatchObject({ type: 'date', value: '2026-03-29', 'aria-label': 'Day', 'data-block-id': 'a1' });
    expect(find(html, 'input', 'data-type', 'timepicker')[0]!.attrs).toMatchObject({ type: 'time', value: '03:30', 'aria-label': 'Select a time' });
    const boxes = find(html, 'input', 'type', 'checkbox');
    expect(boxes.map((b) => [b.attrs.value, 'checked' in b.attrs])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect(find(html, 'div', 'data-type', 'checkboxes')[0]!.attrs).toMatchObject({ 'data-action-id': 'checks', 'aria-label': 'Choose any', 'data-ts': '1.2' });
    // Radio groups of a message are named after it, so two messages' groups never merge.
    expect(find(html, 'input', 'type', 'radio').map((r) => r.attrs.name)).toEqual([`${fieldName('a1', 'pick')}@1.2`, `${fieldName('a1', 'pick')}@1.2`]);
    expect(find(html, 'em').length).toBe(1);
  });

  it('images (only http(s)), context with text and images, section image accessory', () => {
    const html = blocksHtml([
      { type: 'image', image_url: 'https://img.example/graph.png', alt_text: 'p99 latency "spike"', title: { type: 'plain_text', text: 'Latency' } },
      { type: 'image', image_url: 'javascript:alert(1)', alt_text: 'evil' },
      {
        type: 'context',
        elements: [
          { type: 'image', image_url: 'https://img.example/a.png', alt_text: 'Ana' },
          { type: 'mrkdwn', text: '*Declared* by <@U0ANA>' },
          { type: 'plain_text', text: '*plain*' },
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: 'x' }, accessory: { type: 'image', image_url: 'https://img.example/t.png', alt_text: 'thumb' } },
    ]);
    expect(find(html, 'img').map((i) => [i.attrs.src, i.attrs.alt])).toEqual([
      ['https://img.example/graph.png', 'p99 latency "spike"'],
      ['https://img.example/a.png', 'Ana'],
      ['https://img.example/t.png', 'thumb'],
    ]);
    expect(textOf(html)).toContain('[image: evil]');
    expect(textOf(html)).toContain('Declared by @Ana Lima*plain*');
  });

  it('rich text (as Slack stores a typed message), file and video blocks', () => {
    const { message } = JSON.parse(readFileSync(new URL('./fixtures/userMessage.json', import.meta.url), 'utf8')) as { message: { text: string; blocks: unknown[]; ts: string } };
    const html = renderMessageBody(message, ctx, { channel: 'C0OPS', ts: message.ts });
    expectSafeHtml(html);
    expect(textOf(html)).toBe(
      '@Bob <b>Builder</b> checkout is down & payments <b>too</b> 🔥\n502 from the gatewaycurl -s https://api.example.com/health && echo oksee #ops, cc @S0SRE bold it gone npm ci @here1. roll back2. tell supportnested point'.replace(
        /1\. |2\. /g,
        '',
      ),
    );
    expect(find(html, 'blockquote')).toHaveLength(1);
    expect(find(html, 'pre')).toHaveLength(1);
    expect(find(html, 'ol')).toHaveLength(1);
    expect(find(html, 'ul', 'class', 'bk-rt-list bk-indent-1')).toHaveLength(1);
    expect(find(html, 'a')[0]!.attrs.href).toBe('https://status.example.com/api?a=1&b=2');
    expect(['strong', 'em', 's', 'code'].map((t) => find(html, t).length)).toEqual([1, 1, 1, 1]);
    // The same message without blocks: its mrkdwn text tells the same story.
    const text = renderMessageBody({ text: message.text }, ctx);
    expectSafeHtml(text);
    expect(textOf(text)).toBe('@Bob <b>Builder</b> checkout is down & payments <b>too</b> 🔥502 from the gatewaycurl -s https://api.example.com/health && echo oksee #ops, cc @sre');

    const media = blocksHtml([
      { type: 'file', external_id: 'runbook-7', source: 'remote' },
      {
        type: 'video',
        title: { type: 'plain_text', text: 'Postmortem <recording>' },
        title_url: 'https://video.example/7',
        video_url: 'https://video.example/embed/7',
        thumbnail_url: 'https://video.example/7.jpg',
        alt_text: 'recording',
        author_name: 'Ana',
      },
    ]);
    expect(textOf(media)).toContain('File (remote): runbook-7');
    expect(find(media, 'a')[0]!.attrs.href).toBe('https://video.example/7');
    expect(textOf(media)).toContain('Postmortem <recording>');
    expect(find(media, 'iframe')).toEqual([]);
  });

  it('unknown blocks and elements are shown, never dropped', () => {
    const html = blocksHtml([
      { type: 'table', rows: [] },
      { type: 'markdown', text: '# hi' },
      { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Ok' } }, { type: 'feedback_buttons' }] },
      { type: 'context', elements: [{ type: 'sparkline' }] },
      { type: 'rich_text', elements: [{ type: 'rich_text_section', elements: [{ type: 'hologram' }] }] },
      'not a block',
      { type: 'section', text: { type: 'mrkdwn', text: 'x' }, accessory: { type: 'plain_text_input' } },
    ]);
    expect(textOf(html)).toContain('Unsupported block: table');
    expect(textOf(html)).toContain('Unsupported block: markdown');
    expect(textOf(html)).toContain('Unsupported block: (no type)');
    for (const t of ['feedback_buttons', 'sparkline', 'hologram', 'plain_text_input']) expect(textOf(html)).toContain(`Unsupported element: ${t}`);
    expect(find(html, 'div', 'class', 'bk-block bk-unknown').map((d) => d.attrs['data-block-id'])).toEqual(['block-0', 'block-1', undefined]);
  });

  it('a message without blocks is its text as mrkdwn', () => {
    const html = renderMessageBody({ text: '*INC-7* declared by <@U0ANA>', blocks: [] }, ctx);
    expect(textOf(html)).toBe('INC-7 declared by @Ana Lima');
    expect(find(html, 'strong')).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Muster's own surfaces, as Slack receives them

describe("Muster's surfaces", () => {
  it('the incident card: roles as names, times in Berlin across DST, the role buttons with their ids', () => {
    const html = blocksHtml(slackMessage(incidentCard(incidentView({ tech: 'U0ANA' }))).blocks!, { channel: 'C0INC', ts: '1774747800.000100' });
    expect(textOf(outer(html, find(html, 'h3')[0]!))).toBe('INC-7 · Checkout 502s');
    const fields = find(html, 'div', 'class', 'bk-field bk-mrkdwn').map((f) => textOf(outer(html, f)));
    expect(fields).toEqual([
      'Severity\n🟠 P1',
      'Status\n🔍 investigating',
      'Incident commander\n@Bob <b>Builder</b>',
      'Technical lead\n@Ana Lima',
      'Communications lead\nunassigned',
      'Reported by\n@Ana Lima 29 Mar 2026 01:30',
    ]);
    expect(textOf(html)).toContain('Last update 29 Mar 2026 03:30');
    const buttons = find(html, 'button');
    expect(buttons.map((b) => [textOf(outer(html, b)), b.attrs['data-action-id'], b.attrs.class])).toEqual([
      ['Take commander', ACTIONS.incident.takeCommander, 'bk-button'],
      ['Take tech lead', ACTIONS.incident.takeTech, 'bk-button'],
      ['Take comms lead', ACTIONS.incident.takeComms, 'bk-button'],
      ['Post update', ACTIONS.incident.postUpdate, 'bk-button'],
      ['Resolve', ACTIONS.incident.resolve, 'bk-button bk-danger'],
    ]);
    for (const b of buttons)
      expect(b.attrs).toMatchObject({
        'data-block-id': 'incident-actions',
        'data-value': 'i0000000-0000-4000-8000-000000000007',
        'data-type': 'button',
        'data-channel': 'C0INC',
        'data-ts': '1774747800.000100',
      });
  });

  it('a title typed as markup stays text on the card (header, sections, fallback text)', () => {
    const title = '<script>alert(1)</script> &lt;!everyone&gt; <!here> <@U0ANA>';
    const msg = slackMessage(incidentCard(incidentView({ title, description: `Typed: ${title}` })));
    const html = renderMessageBody(msg, ctx);
    expectSafeHtml(html);
    // The header is plain_text: Slack's three entities read as the characters (the typed &lt; shows as <), as text.
    expect(textOf(outer(html, find(html, 'h3')[0]!))).toBe('INC-7 · <script>alert(1)</script> <!everyone> <!here> <@U0ANA>');
    // Sections are mrkdwn that Muster escaped: exactly what was typed.
    expect(textOf(html)).toContain(`Typed: ${title}`);
    expect(html).not.toContain('bk-mention-special');
    expect(find(html, 'span', 'data-user-id', 'U0ANA').length).toBe(1); // the reporter field only, not the typed one
    const fallback = renderMessageBody({ text: msg.text }, ctx);
    expectSafeHtml(fallback);
    expect(textOf(fallback)).toContain(title);
  });

  it('the approval card: fields, progress, votes by name, Approve and Reject', () => {
    const html = blocksHtml(slackMessage(approvalCard(approvalView())).blocks!);
    expect(textOf(html)).toContain('Pending · 1/2 · needs a tech_lead');
    expect(textOf(html)).toContain('✅ @Alex Approver (release_manager) 11:30');
    expect(textOf(html)).toContain('Can approve: @Tess Lead · expires Today 16:00');
    expect(find(html, 'button').map((b) => [textOf(outer(html, b)), b.attrs['data-action-id'], b.attrs.class, b.attrs['data-value']])).toEqual([
      ['Approve', ACTIONS.approval.approve, 'bk-button bk-primary', 'a0000000-0000-4000-8000-000000000001'],
      ['Reject', ACTIONS.approval.reject, 'bk-button bk-danger', 'a0000000-0000-4000-8000-000000000001'],
    ]);
    const decided = blocksHtml(
      slackMessage(approvalCard(approvalView({ status: 'rejected', rejectReason: 'Not <b>now</b>', rejectedBy: 'UTL', decidedAt: new Date('2026-04-02T09:45:00Z') }))).blocks!,
    );
    expect(textOf(decided)).toContain('❌ Rejected Today 11:45\nReason: Not <b>now</b> (@Tess Lead)');
    expect(find(decided, 'button')).toEqual([]);
  });

  it('the change card: checklist ticks numbered per block, lifecycle buttons', () => {
    const html = blocksHtml(slackMessage(changeCard(changeView())).blocks!);
    expect(textOf(html)).toContain('Window\n29 Mar 2026 03:30–04:30 (Sun 29 Mar 03:30 Europe/Berlin)');
    expect(textOf(html)).toContain('☑️ Backup taken — @Ida Implementer');
    const ids = find(html, 'button').map((b) => [b.attrs['data-block-id'], b.attrs['data-action-id'], b.attrs['data-value']]);
    expect(ids).toEqual([
      ['change-actions', ACTIONS.change.start, 'c0000000-0000-4000-8000-000000000004'],
      ['change-actions', ACTIONS.change.done, 'c0000000-0000-4000-8000-000000000004'],
      ['change-actions', ACTIONS.change.rollback, 'c0000000-0000-4000-8000-000000000004'],
      ['change-checklist-0', `${ACTIONS.change.tick}#0`, 'c0000000-0000-4000-8000-000000000004:backup'],
      ['change-checklist-0', `${ACTIONS.change.tick}#1`, 'c0000000-0000-4000-8000-000000000004:comms'],
    ]);
    expect(find(html, 'button', 'data-action-id', `${ACTIONS.change.tick}#0`).map((b) => textOf(outer(html, b)))).toEqual(['Untick: Backup taken']);
  });

  it('the App Home: waiting approvals with buttons, KPIs, open incidents', () => {
    const kpis: ChangeKpis = {
      from: new Date('2026-03-03T00:00:00Z'),
      to: new Date('2026-04-02T00:00:00Z'),
      successRate: kpi(0.75, 4, false, '75% (target > 99%)'),
      rollbackRate: kpi(0, 4, true, '0% (target < 5%)'),
      emergencyShare: kpi(null, 0, null, 'no data (target < 10%)'),
      medianApprovalTime: kpi(7_200_000, 3, true, '2h (target < 4h)'),
      onTimeApprovals: kpi(1, 3, true, '100% (target > 95%)'),
    };
    const before = [...waitingSection([approvalView()]), ...changeKpiBlocks(kpis, '30d')];
    const view = slackHome(homeView([incidentView()], new Date(NOW), before));
    const html = blocksHtml(view.blocks);
    expect(find(html, 'h3').map((h) => textOf(outer(html, h)))).toEqual(['Muster', 'Waiting for your approval (1)', 'Change KPIs, last 30d']);
    expect(find(html, 'button').map((b) => [b.attrs['data-block-id'], b.attrs['data-action-id']])).toEqual([
      ['home-approval-a0000000-0000-4000-8000-000000000001', ACTIONS.approval.approve],
      ['home-approval-a0000000-0000-4000-8000-000000000001', ACTIONS.approval.reject],
    ]);
    expect(textOf(html)).toContain('⚠️ Change success rate: 75% of 4 finished (target > 99%, missed)');
    expect(textOf(html)).toContain('🟠 INC-7 Checkout 502s\nP1 · investigating · open 4d · commander @Bob <b>Builder</b> · #inc-7-checkout');
    expect(textOf(html)).toContain('Declare with /incident');
  });

  it('the reject-reason modal: a form with its title, intro, a required multiline reason, Cancel and Reject', () => {
    const view = slackModal(rejectModal(approvalView({ title: 'Deploy <b>api</b>' })));
    const html = renderView(view, ctx);
    expectSafeHtml(html);
    const form = find(html, 'form')[0]!;
    expect(form.attrs).toMatchObject({ 'data-callback-id': VIEWS.reject, 'data-view-type': 'modal' });
    expect(textOf(outer(html, find(html, 'h2')[0]!))).toBe('Reject APR-3');
    expect(find(html, 'h2')[0]!.attrs.id).toBe(form.attrs['aria-labelledby']);
    expect(textOf(html)).toContain('APR-3 Deploy <b>api</b>');
    const reason = find(html, 'textarea')[0]!;
    expect(reason.attrs).toMatchObject({ name: fieldName('reason', 'reason'), minlength: '3', maxlength: '1000', 'data-type': 'plain_text_input' });
    expect('required' in reason.attrs).toBe(true);
    const label = find(html, 'label', 'for', reason.attrs.id)[0]!;
    expect(textOf(outer(html, label))).toBe('Why are you rejecting it?');
    expect(find(html, 'button').map((b) => [b.attrs.type, textOf(outer(html, b))])).toEqual([
      ['button', 'Cancel'],
      ['submit', 'Reject'],
    ]);
  });

  it('errors from a view_submission are shown under their input, announced, and tied to the control', () => {
    const view = slackModal(declareModal({ privateByDefault: false }));
    const html = renderView(view, ctx, { title: 'Give the incident a title.', private: 'Pick <one>', nope: 'Stale form' });
    expectSafeHtml(html);
    const titleBlock = outer(html, find(html, 'div', 'data-block-id', 'title')[0]!);
    const alert = find(titleBlock, 'div', 'role', 'alert')[0]!;
    expect(textOf(outer(titleBlock, alert))).toBe('Give the incident a title.');
    const input = find(titleBlock, 'input')[0]!;
    expect(input.attrs['aria-describedby']!.split(' ')).toContain(alert.attrs.id);
    expect(input.attrs['aria-invalid']).toBe('true');
    // A group's error sits in its fieldset.
    const fieldset = outer(html, find(html, 'fieldset', 'data-block-id', 'private')[0]!);
    expect(textOf(outer(fieldset, find(fieldset, 'div', 'role', 'alert')[0]!))).toBe('Pick <one>');
    // Other inputs are not marked; an error for a block the view lacks is shown at the top.
    expect(find(html, 'select')[0]!.attrs['aria-invalid']).toBeUndefined();
    expect(find(html, 'div', 'class', 'bk-form-error')[0]!.attrs.role).toBe('alert');
    expect(textOf(html)).toContain('nope: Stale form');
    // The hint describes its input too.
    const services = find(html, 'input', 'name', fieldName('services', 'services'))[0]!;
    expect(textOf(outer(html, find(html, 'div', 'id', services.attrs['aria-describedby'])[0]!))).toBe('Comma-separated');
    expect(textOf(outer(html, find(html, 'label', 'for', services.attrs.id)[0]!))).toBe('Affected services (optional)');
  });

  it('readViewState: the declare form, as drawn and as filled in, is what the view_submission handler reads', () => {
    const view = slackModal(declareModal({ privateByDefault: false }));
    const html = renderView(view, ctx);
    const asDrawn = readViewState(submitted(html), view);
    expect(asDrawn).toEqual({
      title: { title: stateValue.plainText(null) },
      severity: { severity: stateValue.staticSelect('P2', 'P2 — minor, respond in 1 h') },
      description: { description: stateValue.plainText(null) },
      services: { services: stateValue.plainText(null) },
      private: { private: stateValue.radio('public', 'Public channel') },
    });
    expect(FORMS[VIEWS.declare].read(formValues(asDrawn))).toEqual({ errors: { title: 'Give the incident a title.' } });

    const filled = fill(submitted(html), {
      [fieldName('title', 'title')]: 'Checkout <b>down</b> & "502s"',
      [fieldName('severity', 'severity')]: 'P1',
      [fieldName('services', 'services')]: 'checkout, payments',
      [fieldName('private', 'private')]: 'private',
    });
    const state = readViewState(filled, view);
    expect(state.severity).toEqual({ severity: stateValue.staticSelect('P1', 'P1 — major, respond in 15 min') });
    expect(FORMS[VIEWS.declare].read(formValues(state))).toEqual({ input: { title: 'Checkout <b>down</b> & "502s"', severity: 'P1', services: ['checkout', 'payments'], isPrivate: true } });
    // URLSearchParams and plain pairs read the same.
    expect(readViewState(new URLSearchParams([...filled.entries()].map(([k, v]) => [k, String(v)])), view)).toEqual(state);
  });

  it('readViewState: the change form prefilled for an edit comes back with every value it showed', () => {
    const current = changeView({ systems: ['api', 'db'] });
    const view = slackModal(changeForm({ type: 'normal', environments: ['staging', 'production'], catalogue: [], timeZone: 'Europe/Berlin', current }));
    const html = renderView(view, ctx);
    expectSafeHtml(html);
    const read = FORMS[VIEWS.changeEdit].read(formValues(readViewState(submitted(html), view)));
    expect(read).toEqual({
      input: {
        title: 'Upgrade the API gateway',
        description: 'Envoy 1.30 → 1.31',
        reason: 'CVE fix',
        environment: 'production',
        systems: 'api, db',
        impact: 'high',
        risk: 'medium',
        affectedUsers: 'some',
        downtime: 'minutes',
        downtimeMinutes: '',
        windowStart: '2026-03-29 03:30',
        windowLength: '60m',
        rollbackPlan: 'Redeploy 1.30',
        rollbackTested: 'yes',
        catalogue: '',
        incident: '',
      },
    });
    // The labels name the zone; the placeholders and hints are there.
    expect(textOf(html)).toContain('Window start (Europe/Berlin)');
    expect(find(html, 'input', 'name', fieldName('window_length', 'window_length'))[0]!.attrs).toMatchObject({ placeholder: '1h', value: '60m', maxlength: '10' });
  });

  it('readViewState: a change reject form with a reason', () => {
    const view = slackModal(changeRejectForm(changeView()));
    const html = renderView(view, ctx);
    const state = readViewState(fill(submitted(html), { [fieldName('reason', 'reason')]: 'Too risky on a Friday' }), view);
    expect(state).toEqual({ reason: { reason: stateValue.plainText('Too risky on a Friday') } });
    expect(FORMS[VIEWS.changeReject].read(formValues(state))).toEqual({ input: 'Too risky on a Friday' });
  });
});

describe('inputs beyond what Muster draws today', () => {
  const opt = (v: string, extra: Record<string, unknown> = {}) => ({ text: { type: 'plain_text', text: v.toUpperCase(), emoji: true }, value: v, ...extra });
  const view = {
    type: 'modal',
    callback_id: 'kitchen.sink',
    title: { type: 'plain_text', text: 'Everything' },
    submit: { type: 'plain_text', text: 'Save' },
    blocks: [
      {
        type: 'input',
        block_id: 'checks',
        label: { type: 'plain_text', text: 'Checks' },
        element: { type: 'checkboxes', action_id: 'c', options: [opt('a'), opt('b', { description: { type: 'plain_text', text: 'the b' } }), opt('c')], initial_options: [opt('a')] },
      },
      { type: 'input', block_id: 'multi', label: { type: 'plain_text', text: 'Many' }, optional: true, element: { type: 'multi_static_select', action_id: 'm', options: [opt('x'), opt('y')] } },
      { type: 'input', block_id: 'who', label: { type: 'plain_text', text: 'Who' }, element: { type: 'users_select', action_id: 'u', initial_user: 'U0ANA' } },
      { type: 'input', block_id: 'whom', label: { type: 'plain_text', text: 'Whom' }, optional: true, element: { type: 'multi_users_select', action_id: 'mu' } },
      { type: 'input', block_id: 'room', label: { type: 'plain_text', text: 'Room' }, element: { type: 'conversations_select', action_id: 'r' } },
      { type: 'input', block_id: 'chan', label: { type: 'plain_text', text: 'Channel' }, element: { type: 'channels_select', action_id: 'ch', initial_channel: 'C0OPS' } },
      { type: 'input', block_id: 'day', label: { type: 'plain_text', text: 'Day' }, element: { type: 'datepicker', action_id: 'd', initial_date: '2026-03-29' } },
      { type: 'input', block_id: 'at', label: { type: 'plain_text', text: 'At' }, element: { type: 'timepicker', action_id: 't' } },
      { type: 'input', block_id: 'when', label: { type: 'plain_text', text: 'When' }, element: { type: 'datetimepicker', action_id: 'dt', initial_date_time: sec('2026-03-29T01:30:00Z') } },
      {
        type: 'input',
        block_id: 'n',
        label: { type: 'plain_text', text: 'Count' },
        element: { type: 'number_input', action_id: 'n', is_decimal_allowed: false, min_value: '1', max_value: '10', initial_value: '3' },
      },
      {
        type: 'input',
        block_id: 'mail',
        label: { type: 'plain_text', text: 'Email' },
        element: { type: 'email_text_input', action_id: 'e', placeholder: { type: 'plain_text', text: 'you@example.com' } },
      },
      { type: 'input', block_id: 'web', label: { type: 'plain_text', text: 'URL' }, element: { type: 'url_text_input', action_id: 'w', initial_value: 'https://x.example' } },
      { type: 'input', label: { type: 'plain_text', text: 'No ids' }, element: { type: 'plain_text_input', initial_value: 'generated' } },
      { type: 'input', block_id: 'upload', label: { type: 'plain_text', text: 'Upload' }, element: { type: 'file_input', action_id: 'f' } },
      {
        type: 'actions',
        block_id: 'acts',
        elements: [
          { type: 'static_select', action_id: 'sel', options: [opt('p'), opt('q')], initial_option: opt('q') },
          { type: 'button', action_id: 'b', text: { type: 'plain_text', text: 'B' } },
        ],
      },
    ],
  };

  it('draws each input with its type, label, initial value and accessible name', () => {
    const html = renderView(view, ctx);
    expectSafeHtml(html);
    expect(find(html, 'input', 'type', 'checkbox').map((i) => [i.attrs.value, 'checked' in i.attrs])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
    expect(find(html, 'fieldset', 'data-block-id', 'checks')).toHaveLength(1);
    expect(find(html, 'div', 'data-type', 'checkboxes')[0]!.attrs['aria-labelledby']).toBe(find(html, 'legend')[0]!.attrs.id);
    expect('multiple' in find(html, 'select', 'data-type', 'multi_static_select')[0]!.attrs).toBe(true);
    expect(find(html, 'input', 'data-type', 'datetimepicker')[0]!.attrs).toMatchObject({ type: 'datetime-local', value: '2026-03-29T03:30' });
    expect(find(html, 'input', 'data-type', 'number_input')[0]!.attrs).toMatchObject({ type: 'number', step: '1', min: '1', max: '10', value: '3' });
    expect(find(html, 'input', 'data-type', 'email_text_input')[0]!.attrs).toMatchObject({ type: 'email', placeholder: 'you@example.com' });
    expect(find(html, 'input', 'data-type', 'url_text_input')[0]!.attrs).toMatchObject({ type: 'url', value: 'https://x.example' });
    expect(find(html, 'input', 'value', 'generated')[0]!.attrs.name).toBe(fieldName('block-12', 'block-12.input'));
    expect(textOf(html)).toContain('Unsupported element: file_input');
    expect(find(html, 'button', 'type', 'submit').map((b) => textOf(outer(html, b)))).toEqual(['Save']);
    // Every control in an input block is named by its <label> (or its group's legend).
    for (const t of tags(html).filter((x) => !x.closing && ['input', 'select', 'textarea'].includes(x.name) && x.attrs.type !== 'checkbox' && x.attrs.type !== 'radio')) {
      if (t.attrs['data-block-id'] === 'acts') expect(t.attrs['aria-label']).toBeTruthy();
      else expect(find(html, 'label', 'for', t.attrs.id)).toHaveLength(1);
    }
  });

  it('reads them back in Slack’s state shapes, the datetime in the viewer’s zone', () => {
    const html = renderView(view, ctx);
    const fd = fill(submitted(html), {
      [fieldName('checks', 'c')]: ['a', 'c'],
      [fieldName('multi', 'm')]: ['x', 'y'],
      [fieldName('whom', 'mu')]: ['U0ANA', 'U0BOB'],
      [fieldName('room', 'r')]: 'C0INC',
      [fieldName('at', 't')]: '14:15',
      [fieldName('when', 'dt')]: '2026-10-25T02:30',
      [fieldName('n', 'n')]: '7',
    });
    const state = readViewState(fd, view, ctx);
    expect(state).toEqual({
      checks: { c: { type: 'checkboxes', selected_options: [opt('a'), opt('c')] } },
      multi: { m: { type: 'multi_static_select', selected_options: [opt('x'), opt('y')] } },
      who: { u: stateValue.usersSelect('U0ANA') },
      whom: { mu: stateValue.multiUsersSelect(['U0ANA', 'U0BOB']) },
      room: { r: stateValue.conversationsSelect('C0INC') },
      chan: { ch: { type: 'channels_select', selected_channel: 'C0OPS' } },
      day: { d: stateValue.datepicker('2026-03-29') },
      at: { t: stateValue.timepicker('14:15') },
      // 02:30 on 25 October happens twice in Berlin; the first (CEST) is taken.
      when: { dt: { type: 'datetimepicker', selected_date_time: sec('2026-10-25T00:30:00Z') } },
      n: { n: { type: 'number_input', value: '7' } },
      mail: { e: { type: 'email_text_input', value: null } },
      web: { w: { type: 'url_text_input', value: 'https://x.example' } },
      'block-12': { 'block-12.input': stateValue.plainText('generated') },
      acts: { sel: stateValue.staticSelect('q', 'Q') },
    });
    // As drawn (nothing touched), the datetime is the initial instant again.
    expect(readViewState(submitted(html), view, ctx).when).toEqual({ dt: { type: 'datetimepicker', selected_date_time: sec('2026-03-29T01:30:00Z') } });
    // Nothing chosen: nulls and empty lists, as Slack sends them.
    expect(readViewState([], view)).toMatchObject({
      checks: { c: stateValue.checkboxes([]) },
      who: { u: stateValue.usersSelect(null) },
      day: { d: stateValue.datepicker(null) },
      acts: { sel: stateValue.staticSelect(null) },
    });
  });
});

describe('BLOCK_KIT_CSS', () => {
  const vars = Object.fromEntries([...BLOCK_KIT_CSS.matchAll(/--(bk-[a-z-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1]!, m[2]!]));
  const luminance = (hex: string) => {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const contrast = (a: string, b: string) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x! + 0.05) / (y! + 0.05);
  };

  it('text colours meet WCAG AA (4.5:1) on their backgrounds', () => {
    const pairs: [string, string][] = [
      ['bk-text', 'bk-bg'],
      ['bk-muted', 'bk-bg'],
      ['bk-muted', 'bk-subtle'],
      ['bk-link', 'bk-bg'],
      ['bk-error', 'bk-bg'],
      ['bk-mention-text', 'bk-mention-bg'],
      ['bk-special-text', 'bk-special-bg'],
    ];
    for (const [fg, bg] of pairs) expect(contrast(vars[fg]!, vars[bg]!), `${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
    for (const bg of ['bk-primary', 'bk-primary-hover', 'bk-danger', 'bk-danger-hover']) expect(contrast('#ffffff', vars[bg]!), `white on ${bg}`).toBeGreaterThanOrEqual(4.5);
    expect(contrast(vars['bk-border']!, vars['bk-bg']!)).toBeGreaterThanOrEqual(3);
    expect(contrast(vars['bk-focus']!, vars['bk-bg']!)).toBeGreaterThanOrEqual(3);
  });

  it('styles the classes the renderer draws, with a visible focus ring on every control', () => {
    for (const cls of [
      'bk-button',
      'bk-primary',
      'bk-danger',
      'bk-fields',
      'bk-section',
      'bk-context',
      'bk-actions',
      'bk-header',
      'bk-divider',
      'bk-mention',
      'bk-quote',
      'bk-pre',
      'bk-code',
      'bk-unknown',
      'bk-error',
      'bk-hint',
      'bk-label',
      'bk-optional',
      'bk-select',
      'bk-overflow',
      'bk-picker',
      'bk-text-input',
      'bk-textarea',
      'bk-choice',
      'bk-modal-footer',
      'bk-form-error',
    ]) {
      expect(BLOCK_KIT_CSS).toContain(`.${cls}`);
    }
    const focus = /([^{}]+):focus-visible\s*\{[^}]*outline: 3px solid/.exec(BLOCK_KIT_CSS);
    expect(focus).not.toBeNull();
    for (const cls of ['bk-button', 'bk-select', 'bk-overflow', 'bk-picker', 'bk-text-input', 'bk-textarea', 'bk-choice input', 'bk-link']) expect(BLOCK_KIT_CSS).toContain(`.${cls}:focus-visible`);
  });

  it('knows the emoji Muster uses', () => {
    for (const name of Object.keys(EMOJI)) expect(EMOJI_TABLE[name]).toBe(EMOJI[name as keyof typeof EMOJI]);
  });
});
