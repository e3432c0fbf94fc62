import express, { type Request, type Response, type Router } from 'express';
import { build } from 'esbuild';
import { z } from 'zod';
import type { Logger } from 'pino';
import { sourceFile } from '../../root.ts';
import { SANDBOX_PEOPLE } from './people.ts';
import { SANDBOX_COMMANDS, SANDBOX_TEAM, type PersonAction, type Sandbox } from './sandbox.ts';
import { BOT_USER_ID, type FakeChannel, type FakeMessage } from './slackWorkspace.ts';
import { pageHtml } from './web/page.ts';

/** How many messages of a channel the page shows (the most recent). */
const PAGE_MESSAGES = 200;

/** The web app's script: src/platforms/sandbox/web/app.ts bundled for the browser once, at start-up. */
export async function bundleApp(): Promise<string> {
  const out = await build({
    entryPoints: [sourceFile('src', 'platforms', 'sandbox', 'web', 'app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    minify: false,
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

const selection = z.object({ value: z.string(), text: z.string().optional() });
const actionInput = z.object({
  type: z.string().min(1),
  action_id: z.string().min(1),
  block_id: z.string().min(1),
  value: z.string().optional(),
  text: z.string().optional(),
  selected_option: selection.optional(),
  selected_user: z.string().optional(),
  selected_date: z.string().optional(),
  selected_time: z.string().optional(),
});
const personAction: z.ZodType<PersonAction> = z.discriminatedUnion('op', [
  z.object({ op: z.literal('command'), user: z.string(), channel: z.string(), text: z.string().max(4000) }),
  z.object({ op: z.literal('message'), user: z.string(), channel: z.string(), text: z.string().max(40_000) }),
  z.object({ op: z.literal('action'), user: z.string(), channel: z.string().optional(), ts: z.string().optional(), viewId: z.string().optional(), action: actionInput }),
  z.object({ op: z.literal('submit'), user: z.string(), viewId: z.string(), values: z.record(z.string(), z.record(z.string(), z.unknown())) }),
  z.object({ op: z.literal('close'), user: z.string(), viewId: z.string() }),
  z.object({ op: z.literal('react'), user: z.string(), channel: z.string(), ts: z.string(), name: z.string().regex(/^[a-z0-9_+-]+$/), remove: z.boolean().optional() }),
  z.object({ op: z.literal('pin'), user: z.string(), channel: z.string(), ts: z.string(), remove: z.boolean().optional() }),
  z.object({ op: z.literal('home'), user: z.string() }),
]) as z.ZodType<PersonAction>;

/**
 * The sandbox's web app on Muster's own HTTP server: the page at `/`, its script, a JSON API that reads the
 * workspace as a person sees it and does what a person does (`POST /sandbox/api/do`, which turns into signed
 * requests to /slack/events), and server-sent events that tell the page something changed.
 */
export function sandboxRouter(sandbox: Sandbox, o: { log: Logger; script: string; mode: string }): Router {
  const r = express.Router();
  const w = sandbox.workspace;

  r.get('/', (_req, res) => {
    res
      .type('html')
      .set('cache-control', 'no-store')
      .send(pageHtml({ team: SANDBOX_TEAM.name, mode: o.mode }));
  });
  // The operator docs the banner and the page point to, as plain text (nothing else under docs/ is served).
  r.get('/sandbox/docs/:name', (req, res) => {
    const name = String(req.params.name);
    if (!/^[a-z0-9-]+\.md$/.test(name)) {
      res.status(404).type('text').send('not found');
      return;
    }
    res.type('text/plain; charset=utf-8').sendFile(sourceFile('docs', name), (err) => {
      if (err && !res.headersSent) res.status(404).type('text').send('not found');
    });
  });
  r.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  r.get('/sandbox/app.js', (_req, res) => {
    res.type('js').set('cache-control', 'no-store').send(o.script);
  });

  r.get('/sandbox/api/bootstrap', (_req, res) => {
    res.json({
      team: SANDBOX_TEAM,
      mode: o.mode,
      bot: { id: BOT_USER_ID, name: w.user(BOT_USER_ID)?.real_name ?? 'Muster' },
      commands: SANDBOX_COMMANDS,
      people: SANDBOX_PEOPLE.map((p) => ({ id: p.id, name: p.name, realName: p.real_name ?? p.name, title: p.title, roles: p.roles })),
    });
  });

  /** Everything the page shows for one person: their channels, one channel's messages (or the App Home), open modals. */
  r.get('/sandbox/api/view', (req: Request, res: Response) => {
    const user = String(req.query.user ?? '');
    if (!w.user(user)) {
      res.status(400).json({ error: `no such person: ${user}` });
      return;
    }
    const channels = visibleChannels(w.allChannels(), user, w.imChannelId(user));
    const users: Record<string, string> = {};
    for (const u of w.allUsers()) users[u.id] = u.display_name || u.real_name || u.name;
    const names: Record<string, string> = {};
    for (const c of w.allChannels()) names[c.id] = c.is_im ? `${users[c.user ?? ''] ?? 'DM'}` : c.name;
    const wanted = String(req.query.channel ?? '');
    const channel = wanted === 'home' ? undefined : w.channel(wanted);
    const canSee = channel && channels.some((c) => c.id === channel.id);
    const modal = w.modals(user).at(-1);
    res.set('cache-control', 'no-store').json({
      users,
      channels: channels.map((c) => ({
        id: c.id,
        name: c.is_im ? `${users[c.user ?? ''] ?? c.user} (DM)` : c.name,
        isIm: c.is_im,
        isPrivate: c.is_private,
        isArchived: c.is_archived,
        member: c.members.includes(user),
        topic: c.topic.value,
        purpose: c.purpose.value,
        latest: lastTs(w.messages(c.id)),
      })),
      channelNames: names,
      channel: canSee
        ? {
            id: channel.id,
            pins: channel.pins.map((p) => p.ts),
            bookmarks: channel.bookmarks.map((b) => ({ title: b.title, link: b.link })),
            messages: w
              .messages(channel.id)
              .filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.reply_broadcast)
              .slice(-PAGE_MESSAGES)
              .map((m) => messageView(m, w.thread(channel.id, m.ts).length - 1)),
            ephemerals: w
              .ephemerals(user)
              .filter((e) => e.channel === channel.id)
              .slice(-50)
              .map((e) => ({ ts: e.message_ts, text: e.text, blocks: e.blocks ?? null, at: e.at })),
            files: w.filesIn(channel.id).map((f) => ({ id: f.id, name: f.name, title: f.title, size: f.size, text: f.text.slice(0, 200_000) })),
          }
        : null,
      home: wanted === 'home' ? (w.homeView(user) ?? null) : null,
      modal: modal ? { id: modal.id, type: modal.type, title: modal.title ?? null, submit: modal.submit ?? null, close: modal.close ?? null, blocks: modal.blocks } : null,
    });
  });

  r.post('/sandbox/api/do', express.json({ limit: '256kb' }), async (req, res) => {
    const parsed = personAction.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ ok: false, error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      return;
    }
    try {
      res.json(await sandbox.perform(parsed.data));
    } catch (e) {
      o.log.error({ err: e, op: parsed.data.op }, 'sandbox: action failed');
      res.status(500).json({ ok: false, error: (e as Error).message });
    }
  });

  // Server-sent events: one "change" per burst of workspace changes (the page then reloads its view).
  r.get('/sandbox/api/events', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    let seq = 0;
    let timer: NodeJS.Timeout | undefined;
    const off = sandbox.onChange(() => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        seq += 1;
        res.write(`event: change\ndata: ${seq}\n\n`);
      }, 40);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 25_000);
    req.on('close', () => {
      off();
      clearInterval(ping);
      if (timer) clearTimeout(timer);
    });
  });

  return r;
}

function visibleChannels(all: FakeChannel[], user: string, im: string | undefined): FakeChannel[] {
  const list = all.filter((c) => (c.is_im ? c.id === im || c.user === user : !c.is_private || c.members.includes(user)));
  return list.sort((a, b) => Number(a.is_im) - Number(b.is_im) || Number(a.is_archived) - Number(b.is_archived) || a.name.localeCompare(b.name));
}

function lastTs(ms: FakeMessage[]): string | null {
  return ms.length ? ms[ms.length - 1]!.ts : null;
}

function messageView(m: FakeMessage, replies: number) {
  return {
    ts: m.ts,
    user: m.user ?? null,
    bot: m.bot_id !== undefined || m.user === BOT_USER_ID,
    text: m.text,
    blocks: m.blocks ?? null,
    edited: m.edited !== undefined,
    reactions: (m.reactions ?? []).map((r) => ({ name: r.name, count: r.count, users: r.users })),
    files: (m.files ?? []).map((f) => ({ id: String(f.id ?? ''), name: String(f.name ?? ''), title: String(f.title ?? '') })),
    replies: Math.max(0, replies),
  };
}
