import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { ACTIONS } from '../../blocks/actionIds.ts';

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
const INTERNAL_TITLE = 'Data exposure for customer Initech';
const PUBLIC_TITLE = 'Checkout <script>document.title="pwned"</script> errors';
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
    h = await startHarness({
      clock: new ManualClock(NOW),
      users: [
        { id: 'UCOMMS', name: 'cam' },
        { id: 'UREP', name: 'rex' },
      ],
    });
    // Declared in chat; the comms lead publishes a public title and a public update.
    // A second incident and a private one are declared and never published.
    await h.command('/incident', `declare P1 ${INTERNAL_TITLE}`, 'UREP');
    await h.command('/incident', `declare P0 ${PRIVATE_TITLE}`, 'UREP');
    await h.flush();
    const inc = await h.muster.db.read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    await h.click(ACTIONS.incident.takeComms, inc.id, 'UCOMMS');
    expect((await h.command('/incident', `INC-1 public title ${PUBLIC_TITLE.replace(/</g, '&lt;').replace(/>/g, '&gt;')}`, 'UCOMMS')).reply.text).toContain('is on the status page now');
    await h.command('/incident', 'INC-1 public services checkout, payments', 'UCOMMS');
    h.clock.set(ago(-60_000));
    await h.command('/incident', `INC-1 public ${PUBLIC_TEXT}`, 'UCOMMS');
    await h.command('/incident', `INC-1 note ${INTERNAL_TEXT}`, 'UREP');
    await h.flush();
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
      expect(await heading.innerText()).toBe(`INC-1 ${PUBLIC_TITLE}`);
      expect(await heading.isVisible()).toBe(true);
      expect(await page.getByText(PUBLIC_TEXT).isVisible()).toBe(true);
      expect(await page.getByRole('article').getByText('Investigating', { exact: true }).isVisible()).toBe(true);
      expect(await page.getByText('checkout, payments', { exact: true }).isVisible()).toBe(true);
      expect(await page.locator('ol.updates time[datetime="2026-03-10T12:01:00Z"]').innerText()).toBe('2026-03-10T12:01:00Z');
      expect(await page.locator('dd time[datetime="2026-03-10T12:00:00Z"]').innerText()).toBe('2026-03-10T12:00:00Z');

      const text = await page.locator('body').innerText();
      for (const secret of [PRIVATE_TITLE, INTERNAL_TEXT, INTERNAL_TITLE, 'P1', 'P0', 'INC-2']) expect(text).not.toContain(secret);
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
