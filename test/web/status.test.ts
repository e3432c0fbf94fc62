import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { Tx } from '../../src/store/db.ts';
import { parsePolicyText } from '../../src/config/policy.ts';

const NOW = new Date('2026-03-10T12:00:00.000Z');
const H = 3_600_000;
const D = 24 * H;
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const WS = 'slack:T0001';

const ACTIVE_TITLE = 'INTERNAL: db-primary-7 on host pg-7.corp failing';
const PUBLIC_TITLE = 'Checkout <script>alert("x")</script> & payments degraded';
const UNPUBLISHED_TITLE = 'Data exposure for customer X';
const OTHER_WS_TITLE = 'Other workspace outage';
const PUBLIC_FIRST = 'We are investigating failed payments.';
const PUBLIC_LATEST = 'A fix is rolling out; "card" payments recover & refunds follow.';
const INTERNAL_TEXT = 'INTERNAL: db-primary-7 OOM, credentials rotated by ops';
const PRIVATE_TITLE = 'Secret security breach in vault';
const RECENT_TITLE = 'Search latency';
const OLD_TITLE = 'Ancient login outage';

interface Seed {
  id: string;
  number: number;
  title: string;
  severity: string;
  status: string;
  isPrivate?: boolean;
  services: string[];
  declaredAt: Date;
  resolvedAt?: Date;
  /** Published on the status page: when, under which public title, with which services. */
  published?: { at: Date; title: string; services: string[] };
  workspaceId?: string;
}

async function seedIncident(tx: Tx, s: Seed) {
  await tx.incident.create({
    data: {
      id: s.id,
      workspaceId: s.workspaceId ?? WS,
      number: s.number,
      title: s.title,
      services: JSON.stringify(s.services),
      severity: s.severity,
      status: s.status,
      isPrivate: s.isPrivate ?? false,
      reporterId: `${WS}:U100`,
      declaredAt: s.declaredAt,
      lastUpdateAt: s.resolvedAt ?? s.declaredAt,
      resolvedAt: s.resolvedAt ?? null,
      createdAt: s.declaredAt,
      updatedAt: s.resolvedAt ?? s.declaredAt,
      publishedAt: s.published?.at ?? null,
      publicTitle: s.published?.title ?? null,
      publicServices: s.published ? JSON.stringify(s.published.services) : null,
    },
  });
}

async function entry(tx: Tx, incidentId: string, kind: string, text: string, at: Date, internal: boolean) {
  await tx.timelineEntry.create({ data: { incidentId, kind, text, at, internal, actorId: `${WS}:U100` } });
}

/** What the public page must never show: internal titles and text, private and unpublished incidents, another workspace. */
const SECRETS = [ACTIVE_TITLE, 'db-primary-7', INTERNAL_TEXT, PRIVATE_TITLE, 'should never show', 'must not leak', OLD_TITLE, UNPUBLISHED_TITLE, OTHER_WS_TITLE, 'INC-2', 'INC-4', 'INC-5', 'P1', 'P2'];

describe('public status page', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ clock: new ManualClock(NOW) });
    await h.muster.db.tx(async (tx) => {
      await tx.workspace.upsert({ where: { id: WS }, update: {}, create: { id: WS, platform: 'slack', externalId: 'T0001', createdAt: ago(30 * D) } });
      await tx.workspace.create({ data: { id: 'slack:T0002', platform: 'slack', externalId: 'T0002', createdAt: ago(30 * D) } });
      await seedIncident(tx, {
        id: 'inc-active',
        number: 1,
        title: ACTIVE_TITLE,
        severity: 'P1',
        status: 'identified',
        services: ['db-primary-7'],
        declaredAt: ago(2 * H),
        published: { at: ago(115 * 60_000), title: PUBLIC_TITLE, services: ['checkout', 'payments'] },
      });
      await entry(tx, 'inc-active', 'public', PUBLIC_FIRST, ago(110 * 60_000), false);
      await entry(tx, 'inc-active', 'update', INTERNAL_TEXT, ago(100 * 60_000), true);
      await entry(tx, 'inc-active', 'public', PUBLIC_LATEST, ago(30 * 60_000), false);
      await seedIncident(tx, {
        id: 'inc-private',
        number: 2,
        title: PRIVATE_TITLE,
        severity: 'P0',
        status: 'investigating',
        isPrivate: true,
        services: ['vault'],
        declaredAt: ago(H),
        published: { at: ago(H), title: 'should never show', services: [] },
      });
      await entry(tx, 'inc-private', 'public', 'Private incident public text must not leak', ago(50 * 60_000), false);
      await seedIncident(tx, {
        id: 'inc-recent',
        number: 3,
        title: RECENT_TITLE,
        severity: 'P2',
        status: 'resolved',
        services: ['search'],
        declaredAt: ago(2 * D + 3 * H),
        resolvedAt: ago(2 * D),
        published: { at: ago(2 * D + 2 * H), title: 'Slow search', services: ['search'] },
      });
      await entry(tx, 'inc-recent', 'public', 'Search is fast again.', ago(2 * D), false);
      await seedIncident(tx, {
        id: 'inc-old',
        number: 4,
        title: OLD_TITLE,
        severity: 'P1',
        status: 'resolved',
        services: ['login'],
        declaredAt: ago(10 * D + H),
        resolvedAt: ago(10 * D),
        published: { at: ago(10 * D + H), title: OLD_TITLE, services: [] },
      });
      // Declared, never published: nothing of it may show, however public the channel is.
      await seedIncident(tx, { id: 'inc-unpublished', number: 5, title: UNPUBLISHED_TITLE, severity: 'P1', status: 'investigating', services: ['customers'], declaredAt: ago(H) });
      // Another workspace's published incident: only on that workspace's page.
      await seedIncident(tx, {
        id: 'inc-other',
        number: 1,
        workspaceId: 'slack:T0002',
        title: 'x',
        severity: 'P1',
        status: 'investigating',
        services: [],
        declaredAt: ago(H),
        published: { at: ago(H), title: OTHER_WS_TITLE, services: [] },
      });
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('serves the incidents as JSON: published, active and recently resolved ones of that workspace only', async () => {
    const res = await fetch(`${h.muster.url}/api/status/T0001/incidents`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const raw = await res.text();
    const body = JSON.parse(raw) as { generatedAt: string; active: Array<Record<string, unknown>>; resolved: Array<Record<string, unknown>> };
    expect(body.generatedAt).toBe('2026-03-10T12:00:00Z');
    expect(body.active).toEqual([
      {
        ref: 'INC-1',
        title: PUBLIC_TITLE,
        status: 'identified',
        services: ['checkout', 'payments'],
        publishedAt: '2026-03-10T10:05:00Z',
        resolvedAt: null,
        updates: [
          { at: '2026-03-10T11:30:00Z', text: PUBLIC_LATEST },
          { at: '2026-03-10T10:10:00Z', text: PUBLIC_FIRST },
        ],
      },
    ]);
    expect(body.resolved).toEqual([
      {
        ref: 'INC-3',
        title: 'Slow search',
        status: 'resolved',
        services: ['search'],
        publishedAt: '2026-03-08T10:00:00Z',
        resolvedAt: '2026-03-08T12:00:00Z',
        updates: [{ at: '2026-03-08T12:00:00Z', text: 'Search is fast again.' }],
      },
    ]);
    for (const secret of SECRETS) expect(raw).not.toContain(secret);
  });

  it('renders an accessible, script-free HTML page with escaped text', async () => {
    const res = await fetch(`${h.muster.url}/status/T0001`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/i);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();

    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toMatch(/<h1>Service status<\/h1>/);
    expect(html).toMatch(/<p class="summary down">1 active incident<\/p>/);
    expect(html).toMatch(/<h2 id="active-heading">Active incidents<\/h2>/);
    expect(html).toMatch(/<h2 id="resolved-heading">Recently resolved<\/h2>/);
    expect(html.indexOf('Active incidents')).toBeLessThan(html.indexOf('Recently resolved'));
    expect(html).toMatch(/<ul class="incidents">/);

    // Nothing executable, and user input is escaped.
    expect(html.toLowerCase()).not.toContain('<script');
    expect(html).toContain('Checkout &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; payments degraded');
    expect(html).toContain('A fix is rolling out; &quot;card&quot; payments recover &amp; refunds follow.');

    // The active incident, in its section, with its facts and newest update first.
    const active = html.slice(html.indexOf('Active incidents'), html.indexOf('Recently resolved'));
    expect(active).toContain('<span class="ref">INC-1</span>');
    expect(active).toContain('<dt>Status</dt><dd>Identified</dd>');
    expect(active).toContain('<dt>Affected services</dt><dd>checkout, payments</dd>');
    expect(active).toContain('<dt>Posted</dt><dd><time datetime="2026-03-10T10:05:00Z">2026-03-10T10:05:00Z</time></dd>');
    expect(active).not.toContain('Severity');
    expect(active).not.toContain('<dt>Resolved</dt>');
    expect(active.indexOf('A fix is rolling out')).toBeLessThan(active.indexOf(PUBLIC_FIRST));
    expect(active).toContain('<time datetime="2026-03-10T11:30:00Z">');

    const resolved = html.slice(html.indexOf('Recently resolved'));
    expect(resolved).toContain('<span class="ref">INC-3</span> Slow search');
    expect(resolved).toContain('<dt>Resolved</dt><dd><time datetime="2026-03-08T12:00:00Z">2026-03-08T12:00:00Z</time></dd>');

    for (const secret of SECRETS) expect(html).not.toContain(secret);
  });

  it('says "All systems operational" when no public incident is active (a private one does not count)', async () => {
    await h.muster.db.tx((tx) => tx.incident.update({ where: { id: 'inc-active' }, data: { status: 'resolved', resolvedAt: ago(5 * 60_000) } }));

    const html = await (await fetch(`${h.muster.url}/status/T0001`)).text();
    expect(html).toMatch(/<p class="summary ok">All systems operational<\/p>/);
    expect(html).toContain('There are no active incidents.');
    expect(html).not.toContain(PRIVATE_TITLE);

    const body = (await (await fetch(`${h.muster.url}/api/status/T0001/incidents`)).json()) as { active: unknown[]; resolved: Array<{ ref: string }> };
    expect(body.active).toEqual([]);
    expect(body.resolved.map((i) => i.ref)).toEqual(['INC-1', 'INC-3']);
  });

  it('is per workspace: /status/<workspace> shows only that one; /status needs one chosen when there are several', async () => {
    const other = (await (await fetch(`${h.muster.url}/api/status/T0002/incidents`)).json()) as { active: Array<{ title: string }> };
    expect(other.active.map((i) => i.title)).toEqual([OTHER_WS_TITLE]);
    expect((await fetch(`${h.muster.url}/status/T0002`)).status).toBe(200);
    expect((await fetch(`${h.muster.url}/status/T9999`)).status).toBe(404);
    expect((await fetch(`${h.muster.url}/api/status/T9999/incidents`)).status).toBe(404);
    // Two workspaces and none chosen by the policy: no page mixes them.
    const mixed = await fetch(`${h.muster.url}/status`);
    expect(mixed.status).toBe(404);
    const text = await mixed.text();
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text).not.toContain(OTHER_WS_TITLE);
    expect((await fetch(`${h.muster.url}/api/status/incidents`)).status).toBe(404);
  });
});

describe('the status page the policy chooses', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ clock: new ManualClock(NOW), policy: parsePolicyText('statusPage:\n  workspace: T0002\n  title: Acme status').policy! });
    await h.muster.db.tx(async (tx) => {
      await tx.workspace.create({ data: { id: 'slack:T0002', platform: 'slack', externalId: 'T0002', createdAt: ago(D) } });
      await tx.workspace.create({ data: { id: 'slack:T0003', platform: 'slack', externalId: 'T0003', createdAt: ago(D) } });
      await seedIncident(tx, {
        id: 'i2',
        number: 1,
        workspaceId: 'slack:T0002',
        title: 'x',
        severity: 'P1',
        status: 'investigating',
        services: [],
        declaredAt: ago(H),
        published: { at: ago(H), title: OTHER_WS_TITLE, services: [] },
      });
      await seedIncident(tx, {
        id: 'i3',
        number: 1,
        workspaceId: 'slack:T0003',
        title: 'y',
        severity: 'P1',
        status: 'investigating',
        services: [],
        declaredAt: ago(H),
        published: { at: ago(H), title: 'Third workspace', services: [] },
      });
    });
  });
  afterAll(async () => h?.close());

  it('/status shows statusPage.workspace under statusPage.title', async () => {
    const html = await (await fetch(`${h.muster.url}/status`)).text();
    expect(html).toContain('<h1>Acme status</h1>');
    expect(html).toContain(OTHER_WS_TITLE);
    expect(html).not.toContain('Third workspace');
    const body = (await (await fetch(`${h.muster.url}/api/status/incidents`)).json()) as { active: Array<{ title: string }> };
    expect(body.active.map((i) => i.title)).toEqual([OTHER_WS_TITLE]);
  });
});
