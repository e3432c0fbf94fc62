import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { freePort, spawnNode, type Proc } from '../../support/process.ts';
import { TEST_PROVIDER } from '../../support/db.ts';

/**
 * The sandbox in a real browser (Debian's Chromium via playwright-core), started as a newcomer starts it: `npm start`
 * with no chat credentials at all. Everything is done on the page, as people: the composer, the people picker,
 * the buttons, the reject modal.
 */
const CHROMIUM = process.env.MUSTER_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = Boolean(process.env.CI);
const MISSING = `Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install -y chromium) or set MUSTER_CHROMIUM to its path.`;
const SKIP = !HAVE_CHROMIUM && !IN_CI;
if (SKIP) console.warn(`[sandbox.browser.test] skipped: ${MISSING}`);

// The sandbox keeps its own SQLite files whatever the suite's database: `npm test` runs this once, on its SQLite pass.
describe.skipIf(SKIP || TEST_PROVIDER === 'postgresql')('the sandbox in a browser', () => {
  let proc: Proc | undefined;
  let browser: Browser | undefined;
  let url = '';
  let dir = '';
  let startMs = 0;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${MISSING} The browser test is required in CI.`);
    dir = mkdtempSync(join(tmpdir(), 'muster-sandbox-browser-'));
    const port = await freePort();
    const t0 = performance.now();
    // No SLACK_* and no DISCORD_* variables, no audit key: what `npm start` sees on a fresh machine.
    proc = spawnNode(['--import', 'tsx', 'src/main.ts'], { PORT: String(port), MUSTER_SANDBOX_DIR: join(dir, 'sandbox'), MUSTER_AUDIT_KEY: '', LOG_LEVEL: 'warn' });
    url = `http://localhost:${port}/`;
    const deadline = Date.now() + 40_000;
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`npm start exited: ${proc.stderr()}${proc.stdout()}`);
      const up = await fetch(url).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error(`no page after 40 s: ${proc.stderr()}${proc.stdout()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    startMs = performance.now() - t0;
    console.log(`[sandbox.browser] npm start → page answers: ${startMs.toFixed(0)} ms`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const as = async (page: Page, name: RegExp) => {
    const picker = page.getByLabel('Acting as');
    const value = await picker.locator('option', { hasText: name }).getAttribute('value');
    await picker.selectOption(value!);
  };
  const send = async (page: Page, text: string) => {
    const box = page.locator('#composer-input');
    await box.fill(text);
    await box.press('Enter');
  };
  const open = async (page: Page, channel: RegExp) => {
    await page.getByRole('navigation', { name: 'Channels' }).getByRole('button', { name: channel }).click();
  };
  /** The message (an article) whose text matches. */
  const message = (page: Page, text: RegExp): Locator => page.locator('#messages article').filter({ hasText: text });

  it('declare, take commander, a production deploy approved by three people, a rejection with a reason', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await page.goto(url);
    expect(await page.title()).toContain('Muster sandbox');
    await expect.poll(() => page.getByLabel('Acting as').locator('option').count()).toBeGreaterThanOrEqual(8);
    await expect.poll(() => page.getByText('Guided tour').isVisible()).toBe(true);

    // 1. Dana declares from the composer in #general; the incident channel appears in the sidebar.
    await as(page, /Dana Okafor/);
    await open(page, /general/);
    await send(page, '/incident declare P1 Checkout is failing');
    await expect.poll(() => page.getByRole('button', { name: /inc-1-checkout-is-failing/ }).count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => message(page, /Declared INC-1/).count()).toBeGreaterThan(0);
    expect(
      await message(page, /Declared INC-1/)
        .first()
        .innerText(),
    ).toContain('Only visible to you');

    // 2. In the war room, Take commander: the card shows Dana as the commander.
    await open(page, /inc-1-checkout-is-failing/);
    await expect.poll(() => page.getByRole('heading', { name: /inc-1-checkout-is-failing/ }).count()).toBe(1);
    const card = message(page, /INC-1 · Checkout is failing/).first();
    await expect.poll(() => card.getByRole('button', { name: 'Take commander' }).count(), { timeout: 10_000 }).toBe(1);
    expect(await card.innerText()).toMatch(/Incident commander\s+unassigned/);
    await card.getByRole('button', { name: 'Take commander' }).click();
    await expect.poll(() => card.innerText(), { timeout: 10_000 }).toMatch(/Incident commander\s+@Dana Okafor/);
    await expect.poll(() => message(page, /took incident commander/).count()).toBe(1);

    // 3. Casey asks for a production deploy in #deploys.
    await as(page, /Casey Lin/);
    await open(page, /deploys/);
    await send(page, '/approval deploy production api 2.4.1 Fix the checkout timeout');
    const deploy = message(page, /APR-1/)
      .filter({ has: page.getByRole('button', { name: 'Approve' }) })
      .first();
    await expect.poll(() => deploy.count(), { timeout: 15_000 }).toBe(1);
    expect(await deploy.innerText()).toContain('0/3');

    // 4. Approved as the three required people: the card counts, then reads Approved.
    const approveAs = async (who: RegExp, expected: RegExp) => {
      await as(page, who);
      await open(page, /deploys/);
      const c = message(page, /APR-1/)
        .filter({ hasText: /Deploy api 2\.4\.1|2\.4\.1/ })
        .first();
      await c.getByRole('button', { name: 'Approve' }).click();
      await expect.poll(() => c.innerText(), { timeout: 10_000 }).toMatch(expected);
    };
    await approveAs(/Riley Chen/, /1\/3/);
    await approveAs(/Sam Patel/, /2\/3/);
    await approveAs(/Alex Morgan/, /Approved/);
    expect(await message(page, /APR-1/).first().getByRole('button', { name: 'Approve' }).count()).toBe(0);

    // 5. Another deploy, rejected by Riley in the modal: a blank reason is refused next to the field, then a reason.
    await as(page, /Casey Lin/);
    await send(page, '/approval deploy production api 2.4.2 Second try');
    const second = message(page, /APR-2/)
      .filter({ has: page.getByRole('button', { name: 'Reject' }) })
      .first();
    await expect.poll(() => second.count(), { timeout: 15_000 }).toBe(1);
    await as(page, /Riley Chen/);
    await open(page, /deploys/);
    await message(page, /APR-2/)
      .filter({ has: page.getByRole('button', { name: 'Reject' }) })
      .first()
      .getByRole('button', { name: 'Reject' })
      .click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.count(), { timeout: 10_000 }).toBe(1);
    const reason = dialog.getByLabel(/Why are you rejecting it/);
    await reason.fill('   ');
    await dialog
      .getByRole('button', { name: /Reject|Submit/ })
      .last()
      .click();
    await expect.poll(() => dialog.getByRole('alert').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await reason.getAttribute('aria-invalid')).toBe('true');
    await reason.fill('The rollback plan is missing');
    await dialog
      .getByRole('button', { name: /Reject|Submit/ })
      .last()
      .click();
    await expect.poll(() => dialog.count(), { timeout: 10_000 }).toBe(0);
    const rejected = message(page, /APR-2/).first();
    await expect.poll(() => rejected.innerText(), { timeout: 10_000 }).toMatch(/Rejected/);
    expect(await rejected.innerText()).toContain('The rollback plan is missing');

    // 6. The App Home answers, and the page stayed free of errors.
    await page.getByRole('button', { name: 'Muster — Home' }).click();
    await expect.poll(() => page.locator('#messages').innerText(), { timeout: 10_000 }).not.toContain('has not published');
    expect(problems).toEqual([]);
    await page.close();
  }, 150_000);
});
