/**
 * Baseline for the benchmark: a bare Bolt app over ExpressReceiver whose `/muster` handler
 * and block actions (any action_id) only ack. Same Bolt version, same receiver, same signature check as Muster — no database,
 * no services. Started by bench/run.ts as its own process, at Muster's production log level like Muster:
 *
 *   PORT=3100 SLACK_SIGNING_SECRET=... LOG_LEVEL=info node --import tsx bench/bare-bolt.ts
 *
 * The bench runs it compiled like Muster (scripts/build.mjs --bench: dist/bench/bare-bolt.js), so neither side carries tsx.
 *
 * Prints `READY <port>` on stdout once listening; exits 0 on SIGTERM/SIGINT after closing.
 */
import { App, ExpressReceiver, LogLevel } from '@slack/bolt';
import type { AddressInfo } from 'node:net';

const signingSecret = process.env.SLACK_SIGNING_SECRET;
if (!signingSecret) {
  console.error('bare-bolt: SLACK_SIGNING_SECRET is required');
  process.exit(1);
}
const port = Number(process.env.PORT ?? '0');
// LOG_LEVEL as Muster reads it (default info), mapped onto Bolt's four levels.
const level = (process.env.LOG_LEVEL ?? '').trim() || 'info';
const logLevel = level === 'debug' || level === 'trace' ? LogLevel.DEBUG : level === 'info' ? LogLevel.INFO : level === 'warn' ? LogLevel.WARN : LogLevel.ERROR;

const app = new App({
  signingSecret,
  logLevel,
  authorize: async () => ({ botToken: 'xoxb-bench', botId: 'B1', botUserId: 'U1' }),
  receiver: new ExpressReceiver({ signingSecret, endpoints: '/slack/events', logLevel }),
});

app.command('/muster', async ({ ack }) => {
  await ack({ response_type: 'ephemeral', text: 'ok' });
});

// The same signed block_actions clicks the "approval clicks" section sends to Muster: ack, nothing else.
app.action(/.*/, async ({ ack }) => {
  await ack();
});

const server = (await app.start(port)) as { address(): AddressInfo | string | null } | undefined;
const address = server?.address();
const listening = typeof address === 'object' && address ? address.port : port;
process.stdout.write(`READY ${listening}\n`);

let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(1), 9_000).unref();
  app.stop().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error('bare-bolt: stop failed:', e);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
