import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { FakeSlack, TEAM_ID } from './support/fakeSlack.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { post, slashCommand } from './support/slackRequests.ts';
import { freePort, spawnNode, startMain, waitReady, ROOT } from './support/process.ts';
import { AUDIT_KEY } from './support/auditKey.ts';

const SECRET = 'proc-secret';
let slack: FakeSlack;
let tdb: TestDatabase;

beforeAll(async () => {
  slack = await FakeSlack.start();
  slack.addUser({ id: 'UADMIN', name: 'ada' });
  slack.addUser({ id: 'UBOB', name: 'bob' });
  tdb = await createTestDatabase();
});
afterAll(async () => {
  await slack.close();
  await tdb.drop();
});

async function env(extra: Record<string, string> = {}) {
  const port = await freePort();
  return {
    port,
    vars: {
      PORT: String(port),
      SLACK_BOT_TOKEN: 'xoxb-proc',
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slack.url,
      DATABASE_URL: tdb.url,
      MUSTER_ADMINS: 'UADMIN',
      LOG_LEVEL: 'info',
      MUSTER_INSTANCE_ID: 'proc-test',
      // Also for the `npm start` test, which spawns npm itself rather than through spawnNode.
      MUSTER_AUDIT_KEY: AUDIT_KEY,
      ...extra,
    },
  };
}

const grant = (url: string, role: string, user: string) =>
  post(url, slashCommand({ command: '/muster', text: `grant ${role} <@${user}>`, userId: 'UADMIN', teamId: TEAM_ID, responseUrl: slack.responseUrl() }), { secret: SECRET });

describe('npm start (src/main.ts) as a process', () => {
  it('with MUSTER_SANDBOX=off and no chat variables names the missing ones and the setup guide, and exits 1', async () => {
    const p = startMain({ MUSTER_SANDBOX: 'off' });
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.stderr()).toContain('Missing: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)');
    expect(p.stderr()).toContain('docs/slack-setup.md');
  });

  it('with half the Slack variables is a misconfiguration, not the sandbox: it names what is missing and exits 1', async () => {
    const p = startMain({ SLACK_BOT_TOKEN: 'xoxb-1' });
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toContain('Missing: SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)');
    expect(p.stdout()).not.toContain('SANDBOX');
  });

  it('refuses the sandbox flags outside the sandbox, and a bad MUSTER_SANDBOX value', async () => {
    const { vars } = await env();
    const q = spawnNode(['--import', 'tsx', 'src/main.ts', '--reset'], vars);
    expect((await q.exited).code).toBe(2);
    expect(q.stderr()).toContain('--reset, --record and --replay belong to the sandbox');
    const r = startMain({ MUSTER_SANDBOX: 'maybe' });
    expect((await r.exited).code).toBe(1);
    expect(r.stderr()).toContain('MUSTER_SANDBOX is off (never start the sandbox) or auto');
  });

  it('a bad policy file stops start-up with every problem and its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'muster-policy-'));
    const file = join(dir, 'policy.yml');
    writeFileSync(file, 'incidents:\n  channelPrefix: "BAD PREFIX"\napprovals:\n  ttl: never\n');
    const { vars } = await env({ MUSTER_CONFIG: file });
    const p = startMain(vars);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toContain(`${file}:2:18  incidents.channelPrefix`);
    expect(p.stderr()).toContain(`${file}:4:8  approvals.ttl: "never" is not a duration`);
  });

  it('a token Slack rejects stops start-up with a clear message', async () => {
    slack.failNext('auth.test', { error: 'invalid_auth' });
    const { vars } = await env();
    const p = startMain(vars);
    expect((await p.exited).code).toBe(1);
    expect(p.stderr()).toContain('Slack rejected the bot token');
    expect(p.stderr()).toContain('invalid_auth');
  });

  it('serves /muster, and on SIGTERM drains the outbox and exits 0 within 10 s', async () => {
    const { port, vars } = await env();
    const url = `http://127.0.0.1:${port}`;
    const p = startMain(vars);
    await waitReady(url, p);
    // The DM the grant sends is slow to deliver: it is still in flight when SIGTERM comes.
    slack.setLatency(800, 'chat.postMessage');
    const r = await grant(url, 'qa_lead', 'UBOB');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).text).toBe('Granted *qa_lead* to <@UBOB>.');
    const t0 = performance.now();
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    slack.setLatency(0, 'chat.postMessage');
    expect(exit.code).toBe(0);
    expect(exit.at - t0).toBeLessThan(10_000);
    expect(
      slack
        .dms('UBOB')
        .map((m) => m.text)
        .join('\n'),
    ).toContain('*qa_lead*');
    const logs = p
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.find((l) => l.msg === 'command handled')).toMatchObject({ requestId: expect.any(String), command: '/muster' });
    expect(logs.at(-1)).toMatchObject({ msg: 'muster stopped' });
  });

  it('SIGTERM to the `npm start` process itself stops Muster gracefully', async () => {
    const { port, vars } = await env({ MUSTER_INSTANCE_ID: 'npm-start' });
    const url = `http://127.0.0.1:${port}`;
    const { spawn } = await import('node:child_process');
    const npm = spawn('npm', ['start'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...vars }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout!.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    await waitReady(url, { child: npm, stdout: () => out, stderr: () => '', exited: exited.then((code) => ({ code, signal: null, at: 0 })) });
    const t0 = performance.now();
    npm.kill('SIGTERM');
    const code = await exited;
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(out).toContain('"msg":"muster stopped"');
    // npm start gives node the package's V8 flags (a smaller young generation, two V8 helper threads: docs/deployment.md).
    const runtime = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; nodeFlags?: string[] })
      .find((l) => l.msg === 'node runtime');
    expect(runtime?.nodeFlags).toEqual(['--max-semi-space-size=8', '--v8-pool-size=2']);
    expect(code === 0 || code === null).toBe(true);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('effects acked before a crash are completed after restart', async () => {
    const { port, vars } = await env();
    const url = `http://127.0.0.1:${port}`;
    const first = startMain(vars);
    await waitReady(url, first);
    // Slack hangs on the DM; the process dies hard after acking the grant.
    slack.setLatency(20_000, 'conversations.open');
    const r = await grant(url, 'dba', 'UBOB');
    expect(JSON.parse(r.body).text).toBe('Granted *dba* to <@UBOB>.');
    await slack.waitFor(() => slack.callsTo('conversations.open').length > 0 || undefined, 100).catch(() => undefined);
    first.child.kill('SIGKILL');
    await first.exited;
    slack.setLatency(0, 'conversations.open');
    expect(slack.dms('UBOB').some((m) => m.text?.includes('*dba*'))).toBe(false);

    const second = startMain(vars);
    try {
      await waitReady(url, second);
      const dm = await slack.waitFor(() => slack.dms('UBOB').find((m) => m.text?.includes('*dba*')), 10_000);
      expect(dm).toBeDefined();
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });
});
