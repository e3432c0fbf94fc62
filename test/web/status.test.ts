import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { Tx } from '../../src/store/db.ts';

const NOW = new Date('2026-03-10T12:00:00.000Z');
const H = 3_600_000;
const D = 24 * H;
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const WS = 'slack:T0001';

const ACTIVE_TITLE = 'Checkout <script>alert("x")</script> & payments down';
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
}

async function seedIncident(tx: Tx, s: Seed) {
  await tx.incident.create({
    data: {
      id: s.id,
      workspaceId: WS,
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
    },
  });
}

async function entry(tx: Tx, incidentId: string, kind: string, text: string, at: Date, internal: boolean) {
  await tx.timelineEntry.create({ data: { incidentId, kind, text, at, internal, actorId: `${WS}:U100` } });
}

describe('public status page', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ clock: new ManualClock(NOW) });
    await h.muster.db.tx(async (tx) => {
      await tx.workspace.upsert({ where: { id: WS }, update: {}, create: { id: WS, platform: 'slack', externalId: 'T0001', createdAt: ago(30 * D) } });
      await seedIncident(tx, { id: 'inc-active', number: 1, title: ACTIVE_TITLE, severity: 'P1', status: 'identified', services: ['checkout', 'payments'], declaredAt: ago(2 * H) });
      await entry(tx, 'inc-active', 'public', PUBLIC_FIRST, ago(110 * 60_000), false);
      await entry(tx, 'inc-active', 'update', INTERNAL_TEXT, ago(100 * 60_000), true);
      await entry(tx, 'inc-active', 'public', PUBLIC_LATEST, ago(30 * 60_000), false);
      await seedIncident(tx, { id: 'inc-private', number: 2, title: PRIVATE_TITLE, severity: 'P0', status: 'investigating', isPrivate: true, services: ['vault'], declaredAt: ago(H) });
      await entry(tx, 'inc-private', 'public', 'Private incident public text must not leak', ago(50 * 60_000), false);
      await seedIncident(tx, { id: 'inc-recent', number: 3, title: RECENT_TITLE, severity: 'P2', status: 'resolved', services: ['search'], declaredAt: ago(2 * D + 3 * H), resolvedAt: ago(2 * D) });
      await entry(tx, 'inc-recent', 'public', 'Search is fast again.', ago(2 * D), false);
      await seedIncident(tx, { id: 'inc-old', number: 4, title: OLD_TITLE, severity: 'P1', status: 'resolved', services: ['login'], declaredAt: ago(10 * D + H), resolvedAt: ago(10 * D) });
    });
  });

  afterAll(async () => {
    await h?.close();
  });

  it('serves the incidents as JSON: active and recently resolved public ones only', async () => {
    const res = await fetch(`${h.muster.url}/api/status/incidents`);
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
        title: ACTIVE_TITLE,
        severity: 'P1',
        status: 'identified',
        services: ['checkout', 'payments'],
        declaredAt: '2026-03-10T10:00:00Z',
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
        title: RECENT_TITLE,
        severity: 'P2',
        status: 'resolved',
        services: ['search'],
        declaredAt: '2026-03-08T09:00:00Z',
        resolvedAt: '2026-03-08T12:00:00Z',
        updates: [{ at: '2026-03-08T12:00:00Z', text: 'Search is fast again.' }],
      },
    ]);
    for (const secret of [INTERNAL_TEXT, PRIVATE_TITLE, 'must not leak', OLD_TITLE, 'INC-2', 'INC-4']) expect(raw).not.toContain(secret);
  });

  it('renders an accessible, script-free HTML page with escaped text', async () => {
    const res = await fetch(`${h.muster.url}/status`);
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
    expect(html).toContain('Checkout &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; payments down');
    expect(html).toContain('A fix is rolling out; &quot;card&quot; payments recover &amp; refunds follow.');

    // The active incident, in its section, with its facts and newest update first.
    const active = html.slice(html.indexOf('Active incidents'), html.indexOf('Recently resolved'));
    expect(active).toContain('<span class="ref">INC-1</span>');
    expect(active).toContain('<dt>Severity</dt><dd>P1');
    expect(active).toContain('<dt>Status</dt><dd>Identified</dd>');
    expect(active).toContain('<dt>Affected services</dt><dd>checkout, payments</dd>');
    expect(active).toContain('<dt>Declared</dt><dd><time datetime="2026-03-10T10:00:00Z">2026-03-10T10:00:00Z</time></dd>');
    expect(active).not.toContain('<dt>Resolved</dt>');
    expect(active.indexOf('A fix is rolling out')).toBeLessThan(active.indexOf(PUBLIC_FIRST));
    expect(active).toContain('<time datetime="2026-03-10T11:30:00Z">');

    const resolved = html.slice(html.indexOf('Recently resolved'));
    expect(resolved).toContain('<span class="ref">INC-3</span> Search latency');
    expect(resolved).toContain('<dt>Resolved</dt><dd><time datetime="2026-03-08T12:00:00Z">2026-03-08T12:00:00Z</time></dd>');

    for (const secret of [INTERNAL_TEXT, PRIVATE_TITLE, 'must not leak', OLD_TITLE, 'INC-2', 'INC-4']) expect(html).not.toContain(secret);
  });

  it('says "All systems operational" when no public incident is active (a private one does not count)', async () => {
    await h.muster.db.tx((tx) => tx.incident.update({ where: { id: 'inc-active' }, data: { status: 'resolved', resolvedAt: ago(5 * 60_000) } }));

    const html = await (await fetch(`${h.muster.url}/status`)).text();
    expect(html).toMatch(/<p class="summary ok">All systems operational<\/p>/);
    expect(html).toContain('There are no active incidents.');
    expect(html).not.toContain(PRIVATE_TITLE);

    const body = (await (await fetch(`${h.muster.url}/api/status/incidents`)).json()) as { active: unknown[]; resolved: Array<{ ref: string }> };
    expect(body.active).toEqual([]);
    expect(body.resolved.map((i) => i.ref)).toEqual(['INC-1', 'INC-3']);
  });
});
