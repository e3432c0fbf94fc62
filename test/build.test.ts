import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';
import { ROOT } from './support/process.ts';
import { act, startSandboxProcess, stop, until, view } from './support/sandbox.ts';

/**
 * `npm start` runs Muster compiled by scripts/build.mjs (dist/main.js), not its TypeScript through tsx. The rest of the
 * suite runs the sources; this file checks that the compiled files are the same program where the bundle could
 * differ: files found relative to the code (migrations, the sandbox's policy, page script and docs), the Prisma client
 * loaded when a database is opened, and the CLI.
 */
const OUT = join(ROOT, 'dist', `test-${process.pid}`);
const scratch = mkdtempSync(join(tmpdir(), 'muster-build-'));
afterAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

function build(...args: string[]) {
  return spawnSync(process.execPath, ['scripts/build.mjs', ...args], { cwd: ROOT, encoding: 'utf8' });
}

describe('scripts/build.mjs', () => {
  it('compiles main.js and cli.js; the CLI migrates the suite database and says which migrations it applied', async () => {
    const r = build('--outdir', OUT);
    expect(r.stderr).toMatch(/main\.js \d+ kB, .*cli\.js \d+ kB, .*auditVerifyWorker\.js \d+ kB in \d+ ms/);
    expect(r.status).toBe(0);
    expect(existsSync(join(OUT, 'main.js'))).toBe(true);
    expect(existsSync(join(OUT, 'main.js.map'))).toBe(true);

    const db = await createTestDatabase();
    try {
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: db.url };
      const migrate = spawnSync(process.execPath, [join(OUT, 'cli.js'), 'migrate'], { cwd: scratch, env, encoding: 'utf8' });
      expect(migrate.stderr).toBe('');
      expect(migrate.status).toBe(0);
      // The migrations are read from prisma/migrations under the root, though the code runs from dist/test-…/.
      expect(migrate.stdout).toMatch(/: [1-9]\d* applied \(.+\), 0 already applied/);
      const again = spawnSync(process.execPath, [join(OUT, 'cli.js'), 'migrate'], { cwd: scratch, env, encoding: 'utf8' });
      expect(again.status).toBe(0);
      expect(again.stdout).toMatch(/: 0 applied, [1-9]\d* already applied/);
    } finally {
      await db.drop();
    }
  }, 60_000);

  it('a bad argument is refused with a specific message, and nothing is written', () => {
    const r = build('--outdir');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--outdir needs a folder');
  });

  it('the compiled bot starts the sandbox: page, page script, docs and policy found from dist/; SIGTERM exits 0', async () => {
    if (!existsSync(join(OUT, 'main.js'))) expect(build('--outdir', OUT, '--quiet').status).toBe(0);
    const r = await startSandboxProcess([join(OUT, 'main.js')], scratch);
    const { url } = r;
    let code: number | null;
    try {
      expect(await (await fetch(`${url}/readyz`)).json()).toMatchObject({ status: 'ready', mode: 'sandbox' });
      const page = await fetch(`${url}/`);
      expect(await page.text()).toContain('Guided tour');
      // bundled at start-up from src/platforms/sandbox/web/app.ts
      const app = await fetch(`${url}/sandbox/app.js`);
      expect(app.status).toBe(200);
      expect((await app.text()).length).toBeGreaterThan(1000);
      const doc = await fetch(`${url}/sandbox/docs/slack-setup.md`);
      expect(doc.status).toBe(200);
      expect(await doc.text()).toContain('manifest.yml');
      // a command through the whole bot: Bolt, the database through the bundled Prisma client, the fake workspace
      expect(await act(r, { op: 'command', user: 'U0SBRELMGR', channel: 'C0GENERAL', text: '/muster whoami' })).toMatchObject({ ok: true });
      await until('the whoami answer', async () => (await view(r, 'U0SBRELMGR', 'C0GENERAL')).channel?.ephemerals.some((e) => e.text.includes('release_manager')));
    } finally {
      code = await stop(r);
    }
    expect(code).toBe(0);
    expect(r.proc.stderr()).toBe('');
  }, 60_000);
});
