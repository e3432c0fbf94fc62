import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import pino from 'pino';
import { FakeSlack, TEAM_ID } from '../../support/fakeSlack.ts';
import { createTestDatabase, type TestDatabase } from '../../support/db.ts';
import { parseEnv } from '../../../src/config/env.ts';
import { defaultPolicy } from '../../../src/config/policy.ts';
import { startMuster, type Muster } from '../../../src/muster.ts';
import { AUDIT_KEY } from '../../support/auditKey.ts';

let slack: FakeSlack;
let tdb: TestDatabase;
let wss: WebSocketServer;
let muster: Muster;
let socket: Promise<WebSocket>;
let appTokenSeen: string | undefined;

beforeAll(async () => {
  slack = await FakeSlack.start();
  slack.addUser({ id: 'UADMIN', name: 'ada' });
  tdb = await createTestDatabase();
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const { port } = wss.address() as { port: number };
  socket = new Promise((resolve) =>
    wss.on('connection', (ws) => {
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake', approximate_connection_time: 3600 }, connection_info: { app_id: 'A0MUSTER' } }));
      resolve(ws);
    }),
  );
  slack.handle('apps.connections.open', () => ({ url: `ws://127.0.0.1:${port}/link` }));
  const origFetchCalls = () => slack.callsTo('apps.connections.open');
  muster = await startMuster({
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
  appTokenSeen = origFetchCalls()[0]?.token;
});

afterAll(async () => {
  await muster?.stop();
  wss?.close();
  await slack?.close();
  await tdb?.drop();
});

describe('Socket Mode (SLACK_APP_TOKEN set)', () => {
  it('connects with the app token through SLACK_API_URL and answers slash commands over the socket', async () => {
    expect(muster.slack?.mode).toBe('socket');
    expect(appTokenSeen).toBe('xapp-1-sock');
    const ws = await socket;
    const reply = new Promise<Record<string, unknown>>((resolve) =>
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as Record<string, unknown>;
        if (msg.envelope_id === 'env-1') resolve(msg);
      }),
    );
    ws.send(
      JSON.stringify({
        envelope_id: 'env-1',
        type: 'slash_commands',
        accepts_response_payload: true,
        payload: {
          token: 'x',
          team_id: TEAM_ID,
          team_domain: 'muster-test',
          channel_id: 'C0GENERAL',
          channel_name: 'general',
          user_id: 'UADMIN',
          user_name: 'ada',
          command: '/muster',
          text: 'whoami',
          api_app_id: 'A0MUSTER',
          response_url: slack.responseUrl('sock'),
          trigger_id: '123.456.abc',
        },
      }),
    );
    const msg = await reply;
    expect((msg.payload as { text: string }).text).toContain('admin (from MUSTER_ADMINS)');
  });

  it('still serves /healthz and /readyz on PORT', async () => {
    const r = await fetch(`${muster.url}/readyz`);
    expect(r.status).toBe(200);
    // No Slack HTTP endpoint in Socket Mode.
    const events = await fetch(`${muster.url}/slack/events`, { method: 'POST', body: '{}' });
    expect(events.status).toBe(404);
  });
});
