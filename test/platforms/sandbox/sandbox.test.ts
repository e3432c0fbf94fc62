import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { act, startSandboxProcess, stop, until, view, type Running } from '../../support/sandbox.ts';
import { TEST_PROVIDER } from '../../support/db.ts';
import type { Recording } from '../../../src/platforms/sandbox/record.ts';

/**
 * The sandbox as a newcomer gets it: `npm start` with no chat credentials at all (src/main.ts as a process), the
 * built-in workspace driven through the page's own JSON API (the browser test drives the page itself), restarts,
 * --reset, --record and --replay.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'muster-sandbox-'));
  dirs.push(d);
  return d;
}

/** `npm start` (or `npm run sandbox -- …` with flags) with no chat credentials and no audit key: a newcomer's shell. */
const start = (dir: string, flags: string[] = [], extra: Record<string, string> = {}): Promise<Running> => startSandboxProcess(['--import', 'tsx', 'src/main.ts', ...flags], dir, extra);

/** The button with `label` in a message's blocks, as the page would send it. */
function button(blocks: unknown[] | null, label: string): { action_id: string; block_id: string; value?: string } | undefined {
  for (const b of (blocks ?? []) as Array<{ type: string; block_id?: string; elements?: Array<{ type: string; action_id: string; value?: string; text?: { text: string } }> }>) {
    if (b.type !== 'actions') continue;
    const e = b.elements?.find((x) => x.type === 'button' && x.text?.text === label);
    if (e) return { action_id: e.action_id, block_id: b.block_id ?? '', ...(e.value !== undefined ? { value: e.value } : {}) };
  }
  return undefined;
}

const DANA = 'U0SBONCALL';

// The sandbox keeps its own SQLite files whatever the suite's database: `npm test` runs this once, on its SQLite pass.
describe.skipIf(TEST_PROVIDER === 'postgresql')('npm start with no chat credentials', () => {
  it('starts the sandbox: banner, /readyz mode, the page; restarts keep the data; --reset starts fresh', async () => {
    const dir = scratch();
    const t0 = performance.now();
    let r = await start(dir);
    const firstRunMs = performance.now() - t0;
    const out = r.proc.stdout();
    expect(out).toContain('SANDBOX mode');
    expect(out).toContain(`Open ${r.url}/`);
    expect(out).toContain('docs/slack-setup.md');
    expect(out).toContain('(new;');
    const ready = (await (await fetch(`${r.url}/readyz`)).json()) as { status: string; mode: string };
    expect(ready).toMatchObject({ status: 'ready', mode: 'sandbox' });
    const page = await fetch(`${r.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Guided tour');
    expect((await fetch(`${r.url}/sandbox/app.js`)).status).toBe(200);
    console.log(`[sandbox] first run: banner after ${firstRunMs.toFixed(0)} ms`);

    // Roles were granted by the admin through /muster grant: Riley holds release_manager.
    expect((await act(r, { op: 'command', user: 'U0SBRELMGR', channel: 'C0GENERAL', text: '/muster whoami' })).ok).toBe(true);
    const who = await until('whoami', async () => (await view(r, 'U0SBRELMGR', 'C0GENERAL')).channel?.ephemerals.find((e) => e.text.includes('release_manager')));
    expect(who.text).toContain('release_manager');

    // Typed text is escaped as Slack escapes it: the crowd ping stays text, @riley is a mention.
    expect((await act(r, { op: 'command', user: DANA, channel: 'C0GENERAL', text: '/incident declare P1 Checkout down <!everyone> @riley' })).ok).toBe(true);
    const inc = await until('the incident channel', async () => (await view(r, DANA, 'C0GENERAL')).channels.find((c) => c.name.startsWith('inc-1-')));
    const card = await until('the card', async () => (await view(r, DANA, inc.id)).channel?.messages.find((m) => button(m.blocks, 'Take commander')));
    expect(card.text).not.toContain('<!everyone>');
    const take = button(card.blocks, 'Take commander')!;
    expect((await act(r, { op: 'action', user: DANA, channel: inc.id, ts: card.ts, action: { type: 'button', ...take, text: 'Take commander' } })).ok).toBe(true);
    await until('commander on the card', async () => (await view(r, DANA, inc.id)).channel?.messages.find((m) => m.ts === card.ts)?.text.includes(`commander <@${DANA}>`));
    expect(await stop(r)).toBe(0);

    // A restart keeps both the workspace and Muster's records.
    r = await start(dir);
    expect(r.proc.stdout()).toContain('kept from the last run');
    const again = await view(r, DANA, inc.id);
    expect(again.channel?.messages.some((m) => m.ts === card.ts)).toBe(true);
    expect((await act(r, { op: 'command', user: DANA, channel: inc.id, text: '/incident update Failing over to the second provider' })).ok).toBe(true);
    await until('the update in the channel', async () => (await view(r, DANA, inc.id)).channel?.messages.find((m) => m.text.includes('Failing over')));
    expect(await stop(r)).toBe(0);

    // --reset: fresh workspace, fresh records (INC-1 again).
    r = await start(dir, ['--sandbox', '--reset']);
    expect(r.proc.stdout()).toContain('(new;');
    expect((await view(r, DANA, 'C0GENERAL')).channels.some((c) => c.name.startsWith('inc-'))).toBe(false);
    expect(await stop(r)).toBe(0);
  }, 120_000);

  it('answers bad input from the page with a specific error and changes nothing', async () => {
    const r = await start(scratch());
    try {
      const bad = await fetch(`${r.url}/sandbox/api/do`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ op: 'teleport', user: DANA }) });
      expect(bad.status).toBe(400);
      expect(await act(r, { op: 'command', user: 'UNOBODY', channel: 'C0GENERAL', text: '/incident list' })).toEqual({ ok: false, error: 'no such person: UNOBODY' });
      expect((await act(r, { op: 'command', user: DANA, channel: 'C0GENERAL', text: '/deploy now' })).ok).toBe(true);
      const v = await view(r, DANA, 'C0GENERAL');
      expect(v.channel?.ephemerals.at(-1)?.text).toContain('/deploy is not a valid command');
      expect((await fetch(`${r.url}/sandbox/api/view?user=UNOBODY&channel=C0GENERAL`)).status).toBe(400);
      expect((await fetch(`${r.url}/sandbox/docs/..%2Fpackage.json`)).status).toBe(404);
    } finally {
      expect(await stop(r)).toBe(0);
    }
  }, 60_000);

  it('--record writes every request and Web API call; --replay plays them again in a scratch copy', async () => {
    const dir = scratch();
    const file = join(dir, 'rec.json');
    let r = await start(dir, ['--sandbox', '--reset', '--record', file]);
    expect(r.proc.stdout()).toContain(`Recording every request and Web API call to ${file}`);
    await act(r, { op: 'command', user: DANA, channel: 'C0GENERAL', text: '/incident declare P2 Search is slow' });
    const inc = await until('the incident channel', async () => (await view(r, DANA, 'C0GENERAL')).channels.find((c) => c.name.startsWith('inc-1-')));
    const card = await until('the card', async () => (await view(r, DANA, inc.id)).channel?.messages.find((m) => button(m.blocks, 'Take commander')));
    await act(r, { op: 'action', user: DANA, channel: inc.id, ts: card.ts, action: { type: 'button', ...button(card.blocks, 'Take commander')!, text: 'Take commander' } });
    await until('commander on the card', async () => (await view(r, DANA, inc.id)).channel?.messages.find((m) => m.ts === card.ts)?.text.includes(`commander <@${DANA}>`));
    await new Promise((res) => setTimeout(res, 800));
    expect(await stop(r)).toBe(0);

    const rec = JSON.parse(readFileSync(file, 'utf8')) as Recording;
    const kinds = (k: string) => rec.entries.filter((e) => e.kind === k).length;
    expect(kinds('action')).toBeGreaterThanOrEqual(2 + 9); // the admin's grants, the declaration, the click
    expect(kinds('request')).toBeGreaterThanOrEqual(kinds('action')); // and the member_joined_channel events Slack sends
    const created = rec.entries.filter((e) => e.kind === 'call' && e.method === 'conversations.create');
    expect(created).toHaveLength(1);
    expect(rec.entries.some((e) => e.kind === 'request' && e.body.includes('block_actions'))).toBe(true);

    r = await start(dir, ['--sandbox', '--replay', file]);
    try {
      await until('the replay report', async () => r.proc.stdout().includes('Replay:'), 60_000);
      const report = r.proc.stdout().slice(r.proc.stdout().indexOf('Replay:'));
      expect(report).toContain('0 failed');
      const v = await view(r, DANA, 'C0GENERAL');
      const replayed = v.channels.find((c) => c.name.startsWith('inc-1-'));
      expect(replayed).toBeDefined();
      await until('commander on the replayed card', async () => (await view(r, DANA, replayed!.id)).channel?.messages.some((m) => m.text.includes(`commander <@${DANA}>`)));
      // The scratch copy: the recording's own directory was not touched by the replay.
      expect(existsSync(join(dir, 'sandbox', 'muster.db'))).toBe(true);
    } finally {
      expect(await stop(r)).toBe(0);
    }
  }, 150_000);
});
