import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';
import { ROOT } from './support/process.ts';
import { freePort, spawnNode, waitReady } from './support/process.ts';
import { act, startSandboxProcess, stop, until, view } from './support/sandbox.ts';
import { FakeDiscord, APPLICATION_ID } from './support/fakeDiscord.ts';
import { discordKeys } from './support/discordHarness.ts';

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

/** What loading `file` (in OUT) loads: the files it imports statically, and theirs, and the packages they name. */
function staticImports(file: string, files = new Set<string>(), packages = new Set<string>()): { files: Set<string>; packages: Set<string> } {
  if (files.has(file)) return { files, packages };
  files.add(file);
  for (const m of readFileSync(join(OUT, file), 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s*"([^"]+)"|^import\s*"([^"]+)"/gms)) {
    const spec = (m[1] ?? m[2])!;
    if (spec.startsWith('./')) staticImports(spec.slice(2), files, packages);
    else packages.add(spec);
  }
  return { files, packages };
}

describe('scripts/build.mjs', () => {
  it('compiles main.js and cli.js; the CLI migrates the suite database and says which migrations it applied', async () => {
    const r = build('--outdir', OUT);
    expect(r.stderr).toMatch(/main\.js \d+ kB, .*cli\.js \d+ kB, .*auditVerifyWorker\.js \d+ kB in \d+ ms \(and \d+ chunks, \d+ kB\)/);
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

  it('main.js loads the Discord platform and the sandbox (discord.js, esbuild) only when they are used: their packages are imported by chunks of their own', () => {
    if (!existsSync(join(OUT, 'main.js'))) expect(build('--outdir', OUT, '--quiet').status).toBe(0);
    const { packages } = staticImports('main.js');
    expect(packages).toContain('@slack/bolt');
    for (const lazy of ['discord.js', '@discordjs/rest', 'discord-api-types/v10', 'esbuild']) expect(packages).not.toContain(lazy);
    // and the chunks loaded later do import them
    const all = readFileSync(join(OUT, 'main.js'), 'utf8');
    expect(all).toMatch(/import\("\.\/chunk-[A-Z0-9]+\.js"\)/);
  });

  it('date-fns, zod and yaml are bundled in (Node would load them as hundreds of files); the compiled CLI parses, validates and explains a policy with them', async () => {
    if (!existsSync(join(OUT, 'cli.js'))) expect(build('--outdir', OUT, '--quiet').status).toBe(0);
    const every = new Set<string>();
    for (const entry of ['main.js', 'cli.js', 'auditVerifyWorker.js']) for (const p of staticImports(entry).packages) every.add(p);
    for (const dyn of readdirSync(OUT).filter((f) => /^chunk-[A-Z0-9]+\.js$/.test(f))) for (const p of staticImports(dyn).packages) every.add(p);
    const named = [...every].filter((p) => /^(date-fns|@date-fns\/tz|zod|yaml)(\/|$)/.test(p));
    expect(named).toEqual([]);
    expect(every).toContain('@slack/bolt'); // the walk does see the packages that stay external

    const dir = mkdtempSync(join(scratch, 'policy-'));
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
    const late = join(dir, 'late.yml');
    // yaml: the document and its line numbers; zod: the schema; date-fns: the durations in the warning ("1d")
    writeFileSync(late, ['organization:', '  timeZone: Europe/Berlin', 'approvals:', '  ttl: 24h', '  deployment:', '    escalation:', '      - { notify: approvers, after: 24h }'].join('\n'));
    const ok = spawnSync(process.execPath, [join(OUT, 'cli.js'), 'config', 'check', late], { cwd: scratch, env, encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`${late}: OK (5 environments, time zone Europe/Berlin) with 1 warning(s)`);
    expect(ok.stdout).toContain(`${late}:7:9  approvals.deployment.escalation.0: approvers after 1d is at or after the expiry of deployment requests (approvals.ttl 1d)`);
    const broken = join(dir, 'broken.yml');
    writeFileSync(broken, 'roles: [\n');
    const bad = spawnSync(process.execPath, [join(OUT, 'cli.js'), 'config', 'check', broken], { cwd: scratch, env, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:1 .*YAML syntax`));
  });

  it('the compiled bot starts with Discord configured: its platform is loaded from its chunks', async () => {
    if (!existsSync(join(OUT, 'main.js'))) expect(build('--outdir', OUT, '--quiet').status).toBe(0);
    const discord = await FakeDiscord.start();
    const db = await createTestDatabase();
    const port = await freePort();
    const proc = spawnNode([join(OUT, 'main.js')], {
      PORT: String(port),
      DATABASE_URL: db.url,
      DISCORD_TOKEN: 'discord-test-token',
      DISCORD_APPLICATION_ID: APPLICATION_ID,
      DISCORD_PUBLIC_KEY: discordKeys().publicKeyHex,
      DISCORD_API_URL: discord.api,
      LOG_LEVEL: 'warn',
    });
    try {
      await waitReady(`http://127.0.0.1:${port}`, proc);
      expect(await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()).toMatchObject({ status: 'ready' });
      // the interactions endpoint (src/platforms/discord/interactions.ts, in a chunk) answers: an unsigned request is refused
      expect((await fetch(`http://127.0.0.1:${port}/discord/interactions`, { method: 'POST', body: '{}' })).status).toBe(401);
    } finally {
      proc.child.kill('SIGTERM');
      const exit = await proc.exited;
      await discord.close();
      await db.drop();
      expect(exit.code).toBe(0);
    }
    expect(proc.stderr()).toBe('');
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
