import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.ts';
import { ManualClock } from '../../src/domain/clock.ts';

/**
 * The status page in a real browser (Debian's Chromium, driven by playwright-core) with
 * JavaScript disabled: what a visitor sees must not depend on scripts.
 */
const CHROMIUM = process.env.MUSTER_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = Boolean(process.env.CI);
const MISSING = `Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set MUSTER_CHROMIUM to its path.`;
// In CI a missing browser is a failure (see beforeAll); elsewhere the test is skipped, saying why.
const SKIP = !HAVE_CHROMIUM && !IN_CI;
if (SKIP) console.warn(`[status.browser.test] skipped: ${MISSING}`);

const NOW = new Date('2026-03-10T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const WS = 'slack:T0001';
const ACTIVE_TITLE = 'Checkout <script>document.title="pwned"</script> errors';
const PUBLIC_TEXT = 'Card payments are failing for some customers; a fix is rolling out.';
const INTERNAL_TEXT = 'INTERNAL: primary database OOM-killed';
const PRIVATE_TITLE = 'Secret security breach in vault';

describe.skipIf(SKIP)('status page in a browser without JavaScript', () => {
  let h: Harness | undefined;
  let browser: Browser | undefined;
  let dir: string;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${MISSING} The browser test is required in CI.`);
    dir = mkdtempSync(join(tmpdir(), 'muster-status-browser-'));
    h = await startHarness({ clock: new ManualClock(NOW) });
    await h.muster.db.tx(async (tx) => {
      await tx.workspace.upsert({ where: { id: WS }, update: {}, create: { id: WS, platform: 'slack', externalId: 'T0001', createdAt: ago(86_400_000) } });
      const base = { workspaceId: WS, reporterId: `${WS}:U100`, createdAt: ago(3_600_000), updatedAt: ago(3_600_000), lastUpdateAt: ago(3_600_000) };
      await tx.incident.create({
        data: { ...base, id: 'b-active', number: 1, title: ACTIVE_TITLE, services: '["checkout","payments"]', severity: 'P1', status: 'investigating', isPrivate: false, declaredAt: ago(3_600_000) },
      });
      await tx.timelineEntry.create({ data: { incidentId: 'b-active', kind: 'public', text: PUBLIC_TEXT, at: ago(1_800_000), internal: false } });
      await tx.timelineEntry.create({ data: { incidentId: 'b-active', kind: 'note', text: INTERNAL_TEXT, at: ago(1_200_000), internal: true } });
      await tx.incident.create({
        data: { ...base, id: 'b-private', number: 2, title: PRIVATE_TITLE, services: '["vault"]', severity: 'P0', status: 'identified', isPrivate: true, declaredAt: ago(3_600_000) },
      });
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the status, the public incident and its public update, and nothing private', async () => {
    const context = await browser!.newContext({ javaScriptEnabled: false, viewport: { width: 1024, height: 768 } });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    try {
      const res = await page.goto(`${h!.muster.url}/status`, { waitUntil: 'load' });
      expect(res?.status()).toBe(200);
      expect(await page.title()).toBe('Service status');

      expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe('Service status');
      expect(await page.getByText('1 active incident', { exact: true }).isVisible()).toBe(true);
      expect(await page.getByRole('heading', { level: 2, name: 'Active incidents' }).isVisible()).toBe(true);
      expect(await page.getByRole('heading', { level: 2, name: 'Recently resolved' }).isVisible()).toBe(true);

      // The title is shown as typed (escaped, not executed).
      const heading = page.getByRole('heading', { level: 3 });
      expect(await heading.count()).toBe(1);
      expect(await heading.innerText()).toBe(`INC-1 ${ACTIVE_TITLE}`);
      expect(await heading.isVisible()).toBe(true);
      expect(await page.getByText(PUBLIC_TEXT).isVisible()).toBe(true);
      expect(await page.getByRole('article').getByText('Investigating', { exact: true }).isVisible()).toBe(true);
      expect(await page.locator('time[datetime="2026-03-10T11:00:00Z"]').innerText()).toBe('2026-03-10T11:00:00Z');

      const text = await page.locator('body').innerText();
      expect(text).not.toContain(PRIVATE_TITLE);
      expect(text).not.toContain(INTERNAL_TEXT);
      expect(text).toContain('No incidents were resolved in the last 7 days.');

      // The stylesheet is applied (the CSP admits it by hash) and nothing was blocked.
      expect(await page.locator('.summary').evaluate((el) => getComputedStyle(el).backgroundColor)).toBe('rgb(180, 35, 24)');
      expect(consoleErrors).toEqual([]);

      const shot = join(dir, 'status.png');
      await page.screenshot({ path: shot, fullPage: true });
      const png = readFileSync(shot);
      expect(statSync(shot).size).toBeGreaterThan(1000);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      if (process.env.MUSTER_KEEP_SCREENSHOT) copyFileSync(shot, process.env.MUSTER_KEEP_SCREENSHOT);
    } finally {
      await context.close();
    }
  });
});
