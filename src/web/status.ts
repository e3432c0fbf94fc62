import { createHash } from 'node:crypto';
import { Router, type Response } from 'express';
import type { Clock } from '../domain/clock.ts';
import type { Database } from '../store/db.ts';
import { publicIncidents, type PublicIncident } from '../services/incidentViews.ts';
import type { Logger } from 'pino';
import { plainText } from '../domain/text.ts';

/**
 * The public status page of one workspace: `GET /status/<workspace>` (plain HTML, no
 * scripts, readable without JavaScript) and `GET /api/status/<workspace>/incidents` (the
 * same data as JSON, open to any origin). `/status` and `/api/status/incidents` show the
 * workspace chosen by `statusPage.workspace` in the policy, or the only one there is.
 * Only what publicIncidents returns is shown: incidents someone published, with their
 * public title, chosen services and public updates. Nothing internal reaches this module.
 */

const RECENT_MS = 7 * 86_400_000;
const ACTIVE = new Set(['investigating', 'identified', 'monitoring']);
const STATUS_LABEL: Record<string, string> = {
  investigating: 'Investigating',
  identified: 'Identified',
  monitoring: 'Monitoring',
  resolved: 'Resolved',
};

export interface StatusUpdate {
  at: string;
  text: string;
}

export interface StatusIncident {
  ref: string;
  title: string;
  status: string;
  services: string[];
  publishedAt: string;
  resolvedAt: string | null;
  /** Public updates, newest first. */
  updates: StatusUpdate[];
}

export interface StatusSnapshot {
  generatedAt: string;
  active: StatusIncident[];
  resolved: StatusIncident[];
}

/** ISO 8601 in UTC, to the second (`2026-01-05T09:00:00Z`). */
export function isoUtc(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Public text may name people or channels by id: never shown to the public. */
const publicText = (text: string) => plainText(text, { person: () => 'a team member', channel: () => 'an internal channel' });

function toStatusIncident(i: PublicIncident): StatusIncident {
  return {
    ref: i.ref,
    title: publicText(i.title),
    status: i.status,
    services: i.services.map(publicText),
    publishedAt: isoUtc(i.publishedAt),
    resolvedAt: i.resolvedAt ? isoUtc(i.resolvedAt) : null,
    updates: [...i.updates].sort((a, b) => b.at.getTime() - a.at.getTime()).map((u) => ({ at: isoUtc(u.at), text: publicText(u.text) })),
  };
}

export async function statusSnapshot(db: Database, workspaceId: string, now: Date): Promise<StatusSnapshot> {
  const incidents = await db.read((tx) => publicIncidents(tx, workspaceId, now, RECENT_MS));
  const views = incidents.map(toStatusIncident);
  const active = views.filter((i) => ACTIVE.has(i.status)).sort((a, b) => b.publishedAt.localeCompare(a.publishedAt));
  const resolved = views.filter((i) => !ACTIVE.has(i.status)).sort((a, b) => (b.resolvedAt ?? b.publishedAt).localeCompare(a.resolvedAt ?? a.publishedAt));
  return { generatedAt: isoUtc(now), active, resolved };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function summaryLine(activeCount: number): string {
  if (activeCount === 0) return 'All systems operational';
  return `${activeCount} active ${activeCount === 1 ? 'incident' : 'incidents'}`;
}

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1b1f24; background: #f6f8fa; }
main { max-width: 52rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.75rem; margin: 0 0 1rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.75rem; }
h3 { font-size: 1.1rem; margin: 0 0 0.5rem; }
.summary { margin: 0; padding: 1rem 1.25rem; border-radius: 6px; font-size: 1.2rem; font-weight: 600; color: #ffffff; }
.summary.ok { background: #1a7f37; }
.summary.down { background: #b42318; }
ul.incidents, ol.updates { list-style: none; margin: 0; padding: 0; }
ul.incidents > li { background: #ffffff; border: 1px solid #d0d7de; border-left-width: 6px; border-radius: 6px; padding: 1rem 1.25rem; margin: 0 0 1rem; }
ul.incidents > li.investigating { border-left-color: #b42318; }
ul.incidents > li.identified, ul.incidents > li.monitoring { border-left-color: #9a6700; }
ul.incidents > li.resolved { border-left-color: #1a7f37; }
.ref { color: #57606a; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0 0 0.75rem; }
dl.facts dt { color: #57606a; }
dl.facts dd { margin: 0; }
h4 { font-size: 1rem; margin: 0.75rem 0 0.25rem; }
ol.updates > li { border-top: 1px solid #d8dee4; padding: 0.5rem 0; }
ol.updates time { display: block; color: #57606a; font-size: 0.9rem; }
ol.updates p { margin: 0.15rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.empty { color: #424a53; }
footer { margin-top: 2rem; color: #57606a; font-size: 0.9rem; }
`;

/** The page's only inline content is this stylesheet, allowed by hash; nothing else may run or load. */
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const time = (iso: string) => `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso)}</time>`;

function renderIncident(i: StatusIncident): string {
  const active = ACTIVE.has(i.status);
  const headingId = `${i.ref.toLowerCase()}-title`;
  const facts = [
    ['Status', escapeHtml(STATUS_LABEL[i.status] ?? i.status)],
    ['Affected services', i.services.length ? i.services.map(escapeHtml).join(', ') : 'Not specified'],
    ['Posted', time(i.publishedAt)],
    ...(i.resolvedAt ? [['Resolved', time(i.resolvedAt)]] : []),
  ];
  const updates = i.updates.length ? `<ol class="updates">${i.updates.map((u) => `<li>${time(u.at)}<p>${escapeHtml(u.text)}</p></li>`).join('')}</ol>` : '<p class="empty">No public updates yet.</p>';
  return `<li class="${escapeHtml(i.status)}${active ? '' : ' resolved'}"><article aria-labelledby="${escapeHtml(headingId)}">
<h3 id="${escapeHtml(headingId)}"><span class="ref">${escapeHtml(i.ref)}</span> ${escapeHtml(i.title)}</h3>
<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
<h4>Updates</h4>
${updates}
</article></li>`;
}

function renderSection(id: string, heading: string, incidents: StatusIncident[], empty: string): string {
  const body = incidents.length ? `<ul class="incidents">\n${incidents.map(renderIncident).join('\n')}\n</ul>` : `<p class="empty">${empty}</p>`;
  return `<section aria-labelledby="${id}">
<h2 id="${id}">${heading}</h2>
${body}
</section>`;
}

/** The HTML document around a page's body: the same head for the page and its error. */
function pageShell(title: string, body: string, style?: string): string {
  const t = escapeHtml(title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t}</title>
${style ? `<style>${style}</style>\n` : ''}</head>
<body>
<main>
<h1>${t}</h1>
${body}
</main>
</body>
</html>
`;
}

export function renderStatusPage(s: StatusSnapshot, title: string): string {
  return pageShell(
    title,
    `<p class="summary ${s.active.length ? 'down' : 'ok'}">${summaryLine(s.active.length)}</p>
${renderSection('active-heading', 'Active incidents', s.active, 'There are no active incidents.')}
${renderSection('resolved-heading', 'Recently resolved', s.resolved, 'No incidents were resolved in the last 7 days.')}
<footer><p>Last updated ${time(s.generatedAt)}. Times are in UTC.</p></footer>`,
    STYLE,
  );
}

function renderUnavailable(title: string): string {
  return pageShell(title, '<p>The status page is temporarily unavailable. Please try again in a minute.</p>');
}

function renderNotFound(title: string): string {
  return pageShell(title, '<p>There is no status page at this address.</p>');
}

function noCache(res: Response): void {
  res.set('Cache-Control', 'no-cache');
  res.set('X-Content-Type-Options', 'nosniff');
}

export interface StatusPageOptions {
  title?: string;
  /** The workspace `/status` shows: its id on its chat platform. */
  workspace?: string;
  log?: Logger;
}

/** The internal id of the workspace a request asks for, or null when there is no such page. */
async function workspaceFor(db: Database, requested: string | undefined, chosen: string | undefined): Promise<string | null> {
  const externalId = requested ?? chosen;
  if (externalId !== undefined) {
    const ws = await db.read((tx) => tx.workspace.findFirst({ where: { externalId }, select: { id: true } }));
    return ws?.id ?? null;
  }
  // No workspace named or configured: the only one there is, never a mix of several.
  const all = await db.read((tx) => tx.workspace.findMany({ select: { id: true }, take: 2 }));
  return all.length === 1 ? all[0]!.id : null;
}

const param = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);

export function statusRouter(db: Database, clock: Clock, opts: StatusPageOptions = {}): Router {
  const title = opts.title ?? 'Service status';
  const router = Router();

  router.get(['/status', '/status/:workspace'], async (req, res) => {
    noCache(res);
    let html: string;
    try {
      const workspaceId = await workspaceFor(db, param(req.params.workspace), opts.workspace);
      if (!workspaceId) {
        res.status(404).type('html').send(renderNotFound(title));
        return;
      }
      html = renderStatusPage(await statusSnapshot(db, workspaceId, clock.now()), title);
    } catch (e) {
      opts.log?.error({ err: e }, 'status page failed');
      res.status(503).type('html').send(renderUnavailable(title));
      return;
    }
    res.set('Content-Security-Policy', CSP);
    res.set('Referrer-Policy', 'no-referrer');
    res.status(200).type('html').send(html);
  });

  router.get(['/api/status/incidents', '/api/status/:workspace/incidents'], async (req, res) => {
    noCache(res);
    res.set('Access-Control-Allow-Origin', '*');
    try {
      const workspaceId = await workspaceFor(db, param(req.params.workspace), opts.workspace);
      if (!workspaceId) {
        res.status(404).json({ error: 'no status page at this address' });
        return;
      }
      res.json(await statusSnapshot(db, workspaceId, clock.now()));
    } catch (e) {
      opts.log?.error({ err: e }, 'status API failed');
      res.status(503).json({ error: 'status temporarily unavailable' });
    }
  });

  return router;
}
