import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { FakeSlack, TEAM_ID } from './support/fakeSlack.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { post, slashCommand } from './support/slackRequests.ts';
import { startMainReady, type Proc } from './support/process.ts';

/**
 * src/main.ts as a process meets an error nobody handled. The error is injected from outside Muster's code: a module
 * preloaded with NODE_OPTIONS=--import (as an APM agent or any dependency would be loaded) fails a promise nobody
 * awaits, or throws from a callback, when the test sends it SIGUSR2. Nothing in src/ knows about it.
 */
const SECRET = 'stray-secret';
let slack: FakeSlack;
let tdb: TestDatabase;
let dir: string;

beforeAll(async () => {
  slack = await FakeSlack.start();
  slack.addUser({ id: 'UADMIN', name: 'ada' });
  tdb = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'muster-stray-'));
  writeFileSync(join(dir, 'reject.mjs'), "process.on('SIGUSR2', () => { Promise.reject(new Error('injected: a promise nobody awaited')); });\n");
  writeFileSync(join(dir, 'throw.mjs'), "process.on('SIGUSR2', () => { setImmediate(() => { throw new Error('injected: thrown from a callback'); }); });\n");
});
afterAll(async () => {
  await slack?.close();
  await tdb?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(preload: string): Promise<{ p: Proc; url: string }> {
  const { proc: p, url } = await startMainReady({
    SLACK_BOT_TOKEN: 'xoxb-proc',
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: slack.url,
    DATABASE_URL: tdb.url,
    MUSTER_ADMINS: 'UADMIN',
    LOG_LEVEL: 'info',
    MUSTER_INSTANCE_ID: 'stray-test',
    NODE_OPTIONS: `--import ${pathToFileURL(join(dir, preload)).href}`,
  });
  return { p, url };
}

const logLines = (p: Proc) =>
  p
    .stdout()
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message?: string; stack?: string } });

describe('errors nobody handled, in the process that `npm start` runs', () => {
  it('an unhandled rejection is logged with its error and stack, and Muster keeps serving', async () => {
    const { p, url } = await start('reject.mjs');
    try {
      p.child.kill('SIGUSR2');
      const line = await waitForLog(p, (l) => l.msg.startsWith('unhandled promise rejection'));
      expect(line.level).toBe(50);
      expect(line.err?.message).toBe('injected: a promise nobody awaited');
      expect(line.err?.stack).toContain('reject.mjs');
      // Still alive and serving: a command after it works end to end.
      await new Promise((r) => setTimeout(r, 200));
      expect(p.child.exitCode).toBeNull();
      const r = await post(url, slashCommand({ command: '/muster', text: 'whoami', userId: 'UADMIN', teamId: TEAM_ID, responseUrl: slack.responseUrl() }), { secret: SECRET });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).text).toContain('You are <@UADMIN>');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    } finally {
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    }
  });

  it('an uncaught exception is logged as fatal and the process exits 1 for its supervisor to restart it', async () => {
    const { p } = await start('throw.mjs');
    p.child.kill('SIGUSR2');
    const exit = await p.exited;
    expect(exit.code).toBe(1);
    const line = logLines(p).find((l) => l.msg.startsWith('uncaught exception'));
    expect(line, p.stdout() + p.stderr()).toBeDefined();
    expect(line!.level).toBe(60);
    expect(line!.err?.message).toBe('injected: thrown from a callback');
    expect(line!.err?.stack).toContain('throw.mjs');
  });
});

async function waitForLog(p: Proc, match: (l: ReturnType<typeof logLines>[number]) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = logLines(p).find(match);
    if (hit) return hit;
    if (p.child.exitCode !== null) throw new Error(`process exited (${p.child.exitCode}) without logging it:\n${p.stdout()}\n${p.stderr()}`);
    if (Date.now() > deadline) throw new Error(`not logged within ${timeoutMs} ms:\n${p.stdout()}\n${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
