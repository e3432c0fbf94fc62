import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import pino from 'pino';
import { startHarness, type Harness } from '../support/harness.ts';
import { startDiscordHarness, type DiscordHarness } from '../support/discordHarness.ts';
import { FakeSlack, GENERAL_CHANNEL_ID, TEAM_ID } from '../support/fakeSlack.ts';
import { createTestDatabase } from '../support/db.ts';
import { AUDIT_KEY } from '../support/auditKey.ts';
import { parseEnv } from '../../src/config/env.ts';
import { defaultPolicy } from '../../src/config/policy.ts';
import { startMuster } from '../../src/muster.ts';
import { ACTIONS, VIEWS } from '../../blocks/actionIds.ts';
import { enqueueEffects } from '../../src/store/outbox.ts';
import { scheduleTimer } from '../../src/store/timers.ts';
import { discordRoute, statementKind } from '../../src/metrics.ts';

const TOKEN = 'metrics-token-0123456789abcdef';

/** One sample of the Prometheus text format: `name{a="b",...} value`, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('GET /metrics (Slack)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { METRICS_TOKEN: TOKEN }, users: [{ id: 'UCOMMS', name: 'cam' }] });
  });
  afterAll(async () => h?.close().catch(() => undefined));

  const scrape = async (authorization: string | null = `Bearer ${TOKEN}`) => {
    const res = await fetch(`${h.muster.url}/metrics`, { headers: authorization ? { authorization } : {} });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  it('wants the token when METRICS_TOKEN is set: 401 without it or with another, 200 with it', async () => {
    const none = await scrape(null);
    expect(none.status).toBe(401);
    expect(none.text).not.toContain('muster_');
    expect((await scrape('Bearer not-the-token-0123456789')).status).toBe(401);
    expect((await scrape(TOKEN)).status).toBe(401);
    const ok = await scrape();
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(ok.text).toContain('# TYPE muster_ack_duration_seconds histogram');
    // Process memory, from prom-client's default metrics (prefixed like ours).
    expect(sample(ok.text, 'muster_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(ok.text, 'muster_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    // Every statement so far (migrations aside) went through the timed driver.
    expect(sample(ok.text, 'muster_db_statement_duration_seconds_count', { statement: 'select' })).toBeGreaterThan(0);
  });

  it('a signed slash command and a click each leave an ack sample labelled with the command and the action id', async () => {
    const declared = await h.command('/incident', 'declare P1 checkout is down', 'UCOMMS');
    expect(declared.status).toBe(200);
    let text = (await scrape()).text;
    expect(sample(text, 'muster_ack_duration_seconds_count', { platform: 'slack', kind: 'command', id: '/incident' })).toBe(1);
    expect(sample(text, 'muster_ack_duration_seconds_bucket', { platform: 'slack', kind: 'command', id: '/incident', le: '+Inf' })).toBe(1);

    await h.flush();
    const inc = await h.muster.db.read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    expect((await h.click(ACTIONS.incident.takeComms, inc.id, 'UCOMMS')).status).toBe(200);
    text = (await scrape()).text;
    expect(sample(text, 'muster_ack_duration_seconds_count', { platform: 'slack', kind: 'action', id: ACTIONS.incident.takeComms })).toBe(1);
  });

  it('a form submission and an Events API delivery are labelled with the form id and the event type', async () => {
    // A submission whose data is stale is answered with an error in the form: still acknowledged, and timed.
    expect((await h.submit(VIEWS.declare, '{}', {}, 'UCOMMS')).status).toBe(200);
    expect((await h.event({ type: 'app_home_opened', user: 'UCOMMS', channel: 'D1', tab: 'home', event_ts: '1.000' })).status).toBe(200);
    const text = (await scrape()).text;
    expect(sample(text, 'muster_ack_duration_seconds_count', { platform: 'slack', kind: 'form', id: VIEWS.declare })).toBe(1);
    expect(sample(text, 'muster_ack_duration_seconds_count', { platform: 'slack', kind: 'event', id: 'app_home_opened' })).toBe(1);
  });

  it('the effects of the declaration are timed per Web API method', async () => {
    const text = (await scrape()).text;
    expect(sample(text, 'muster_slack_api_duration_seconds_count', { method: 'conversations.create' })).toBe(h.slack.callsTo('conversations.create').length);
    expect(sample(text, 'muster_slack_api_duration_seconds_count', { method: 'chat.postMessage' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'muster_slack_api_rate_limited_total', { method: 'chat.postMessage' })).toBeUndefined();
  });

  it('a 429 from Slack is counted for its method; the outbox gauges show the effect waiting, then a dead letter', async () => {
    let text = (await scrape()).text;
    expect(sample(text, 'muster_outbox_depth', { status: 'pending' })).toBe(0);
    expect(sample(text, 'muster_outbox_oldest_pending_age_seconds')).toBe(0);
    expect(sample(text, 'muster_outbox_dead_letters')).toBe(0);

    h.slack.failNext('chat.postMessage', { status: 429, retryAfterSec: 30 });
    await h.muster.db.tx((tx) =>
      enqueueEffects(tx, h.clock, { platform: 'slack', workspaceId: 'slack:T0001' }, [{ op: 'postMessage', args: { channel: GENERAL_CHANNEL_ID, text: 'after the limit' } }]),
    );
    await h.flush();
    h.clock.advance(12_000);
    text = (await scrape()).text;
    expect(sample(text, 'muster_slack_api_rate_limited_total', { method: 'chat.postMessage' })).toBe(1);
    // Waiting for its Retry-After (30 s on the manual clock), 12 s old.
    expect(sample(text, 'muster_outbox_depth', { status: 'pending' })).toBe(1);
    expect(sample(text, 'muster_outbox_oldest_pending_age_seconds')).toBe(12);

    h.clock.advance(30_000);
    await h.flush();
    await h.muster.db.tx((tx) => enqueueEffects(tx, h.clock, { platform: 'slack', workspaceId: 'slack:T0001' }, [{ op: 'setTopic', args: { channel: 'CNOPE', topic: 'nowhere' } }]));
    await h.flush();
    text = (await scrape()).text;
    expect(sample(text, 'muster_outbox_depth', { status: 'pending' })).toBe(0);
    expect(sample(text, 'muster_outbox_oldest_pending_age_seconds')).toBe(0);
    expect(sample(text, 'muster_outbox_dead_letters')).toBe(1);
    expect(h.slack.messages(GENERAL_CHANNEL_ID).map((m) => m.text)).toContain('after the limit');
  });

  it('a timer fired late is observed with its lag', async () => {
    const due = new Date(h.clock.now().getTime() + 60_000);
    await h.muster.db.tx((tx) => scheduleTimer(tx, h.clock, { key: 'metrics-test', kind: 'metrics.test', subjectType: 'test', subjectId: '1', dueAt: due }));
    h.clock.advance(90_000);
    expect(await h.tick()).toBeGreaterThanOrEqual(1);
    const text = (await scrape()).text;
    expect(sample(text, 'muster_timer_lag_seconds_count', { kind: 'metrics.test' })).toBe(1);
    expect(sample(text, 'muster_timer_lag_seconds_sum', { kind: 'metrics.test' })).toBe(30);
  });
});

describe('GET /metrics without METRICS_TOKEN', () => {
  it('is open', async () => {
    const h = await startHarness();
    try {
      const res = await fetch(`${h.muster.url}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('# TYPE muster_outbox_depth gauge');
    } finally {
      await h.close();
    }
  });
});

describe('GET /metrics (Slack over Socket Mode)', () => {
  it("a slash command's ack over the socket is observed", async () => {
    // A socket server standing in for Slack's (as test/platforms/slack/socketMode.test.ts does).
    const slack = await FakeSlack.start();
    slack.addUser({ id: 'UADMIN', name: 'ada' });
    const tdb = await createTestDatabase();
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const socket = new Promise<WebSocket>((resolve) =>
      wss.on('connection', (ws) => {
        ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake', approximate_connection_time: 3600 }, connection_info: { app_id: 'A0MUSTER' } }));
        resolve(ws);
      }),
    );
    slack.handle('apps.connections.open', () => ({ url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/link` }));
    const muster = await startMuster({
      env: parseEnv({
        PORT: '0',
        SLACK_BOT_TOKEN: 'xoxb-sock',
        SLACK_APP_TOKEN: 'xapp-1-sock',
        SLACK_API_URL: slack.url,
        DATABASE_URL: tdb.url,
        MUSTER_ADMINS: 'UADMIN',
        LOG_LEVEL: 'silent',
        MUSTER_AUDIT_KEY: AUDIT_KEY,
      }),
      policy: defaultPolicy(),
      log: pino({ level: 'silent' }),
      loops: false,
    });
    try {
      const ws = await socket;
      const acked = new Promise<void>((resolve) => ws.on('message', (data) => JSON.parse(String(data)).envelope_id === 'env-1' && resolve()));
      ws.send(
        JSON.stringify({
          envelope_id: 'env-1',
          type: 'slash_commands',
          accepts_response_payload: true,
          payload: { team_id: TEAM_ID, channel_id: 'C0GENERAL', user_id: 'UADMIN', user_name: 'ada', command: '/muster', text: 'whoami', response_url: slack.responseUrl('sock'), trigger_id: '1.2.a' },
        }),
      );
      await acked;
      const text = await (await fetch(`${muster.url}/metrics`)).text();
      expect(sample(text, 'muster_ack_duration_seconds_count', { platform: 'slack', kind: 'command', id: '/muster' })).toBe(1);
    } finally {
      await muster.stop();
      wss.close();
      await slack.close();
      await tdb.drop();
    }
  });
});

describe('GET /metrics (Discord)', () => {
  let d: DiscordHarness;
  beforeAll(async () => {
    d = await startDiscordHarness({ users: [{ id: '200000000000000001', username: 'ana' }] });
  });
  afterAll(async () => d?.close().catch(() => undefined));

  it('an interaction leaves an ack sample; REST requests are timed by method and route, ids taken out', async () => {
    const answer = await d.command('incident', 'declare', { severity: 'P1', title: 'checkout is down' }, '200000000000000001');
    expect(answer.status).toBe(200);
    await d.flush();
    const text = await (await fetch(`${d.muster.url}/metrics`)).text();
    expect(sample(text, 'muster_ack_duration_seconds_count', { platform: 'discord', kind: 'command', id: '/incident' })).toBe(1);
    expect(sample(text, 'muster_discord_api_duration_seconds_count', { method: 'POST', route: '/guilds/:id/channels' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'muster_discord_api_duration_seconds_count', { method: 'POST', route: '/channels/:id/messages' })).toBeGreaterThanOrEqual(1);
    // No series carries an id.
    expect(text).not.toMatch(/route="[^"]*\d{5,}/);
  });
});

describe('label helpers', () => {
  it('routes lose their ids and tokens', () => {
    expect(discordRoute('http://127.0.0.1:1/api/v10/channels/123456789012345678/messages/223456789012345678')).toBe('/channels/:id/messages/:id');
    expect(discordRoute('http://x/api/v10/webhooks/123456789012345678/aW50ZXJhY3Rpb246MTIz/messages/@original')).toBe('/webhooks/:id/:token/messages/@original');
    expect(discordRoute('http://x/api/v10/interactions/123456789012345678/aW50ZXJhY3Rpb24/callback')).toBe('/interactions/:id/:token/callback');
    expect(discordRoute('http://x/api/v10/channels/1/messages/2/reactions/%F0%9F%91%8D/@me')).toBe('/channels/:id/messages/:id/reactions/:reaction');
    expect(discordRoute('http://x/api/v10/users/@me')).toBe('/users/@me');
  });

  it('statements are labelled by their first word', () => {
    expect(statementKind('SELECT 1')).toBe('select');
    expect(statementKind('  insert into t')).toBe('insert');
    expect(statementKind('COMMIT')).toBe('commit');
    expect(statementKind('PRAGMA journal_mode = WAL')).toBe('other');
    expect(statementKind('WITH x AS (SELECT 1) SELECT * FROM x')).toBe('other');
  });
});
