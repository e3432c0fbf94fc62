import { parseArgs } from 'node:util';
import { discordConfigured, EnvError, missingDiscordVariables, missingSlackVariables, noChatCredentials, parseEnv, SETUP_GUIDE, slackConfigured, type Env } from './config/env.ts';
import { loadPolicy, PolicyError } from './config/policy.ts';
import { tuneHeap } from './heap.ts';
import { createLogger } from './log.ts';
import { startMuster, StartupError, type Muster } from './muster.ts';
// Types only: the sandbox (and esbuild, which bundles its page) is loaded in sandbox mode alone.
import type { SandboxRun } from './platforms/sandbox/start.ts';

const USAGE = `usage: npm start                          run Muster (the sandbox when no chat credentials are set)
       npm run sandbox [-- --reset] [-- --record FILE | --replay FILE]`;

async function main(): Promise<void> {
  const heapGrowingPercent = tuneHeap();
  let args;
  try {
    args = parseArgs({ options: { sandbox: { type: 'boolean' }, reset: { type: 'boolean' }, record: { type: 'string' }, replay: { type: 'string' } }, strict: true }).values;
  } catch (e) {
    console.error(`muster: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  let env: Env;
  try {
    env = parseEnv();
  } catch (e) {
    if (e instanceof EnvError) {
      console.error(`muster: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
  const sandbox = args.sandbox === true || (noChatCredentials(env) && env.MUSTER_SANDBOX !== 'off');
  if (!sandbox) {
    if (args.reset || args.record || args.replay) {
      console.error(`muster: --reset, --record and --replay belong to the sandbox (npm run sandbox -- ${args.reset ? '--reset' : args.record ? '--record FILE' : '--replay FILE'}).`);
      process.exit(2);
    }
    // Either platform alone is a deployment; each one configured must be complete. Nothing configured (only
    // possible with MUSTER_SANDBOX=off) names Slack's variables, the first platform.
    const problems: string[] = [];
    const slackMissing = missingSlackVariables(env);
    if ((slackConfigured(env) || !discordConfigured(env)) && slackMissing.length) {
      problems.push(`cannot start without Slack credentials. Missing: ${slackMissing.join(', ')}.\nCreate the Slack app from manifest.yml and set these variables: see ${SETUP_GUIDE}.`);
    }
    const discordMissing = missingDiscordVariables(env);
    if (discordConfigured(env) && discordMissing.length) {
      problems.push(`cannot start Discord. Missing: ${discordMissing.join(', ')}.\nSee docs/discord-setup.md.`);
    }
    if (problems.length) {
      console.error(
        problems.map((p) => `muster: ${p}`).join('\n') +
          (noChatCredentials(env) ? '\nOr set the Discord variables (docs/discord-setup.md).' : '') +
          (env.MUSTER_SANDBOX === 'off' || !noChatCredentials(env) ? '' : `\nWith no chat credentials at all, npm start runs the sandbox instead.`),
      );
      process.exit(1);
    }
  } else if (args.record && args.replay) {
    console.error('muster: --record and --replay cannot be used together.');
    process.exit(2);
  }
  const sandboxes = sandbox ? await import('./platforms/sandbox/start.ts') : undefined;
  let policy;
  try {
    policy = loadPolicy(env.MUSTER_CONFIG ?? sandboxes?.SANDBOX_POLICY);
  } catch (e) {
    if (e instanceof PolicyError) {
      console.error(`muster: ${e.message}\nFix the file (check it with \`muster config check\`) and start again.`);
      process.exit(1);
    }
    throw e;
  }
  const log = createLogger(env.LOG_LEVEL);
  handleStrayErrors(log);
  // What V8 was given (`npm start` passes the package's config.node_flags: docs/deployment.md), for whoever sizes the host.
  log.info({ node: process.version, nodeFlags: process.execArgv, heapGrowingPercent: heapGrowingPercent ?? 'as given' }, 'node runtime');
  // Signals are handled from the start: one that arrives while Muster is still starting (migrations, the sandbox's
  // role grants) stops it gracefully as soon as it is up, instead of killing it halfway.
  let stop: (() => Promise<void>) | undefined;
  let signalled: string | undefined;
  let stopping = false;
  const shutdown = () => {
    if (stopping || !stop || !signalled) return;
    stopping = true;
    log.info({ signal: signalled }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string) => {
    if (signalled) return;
    signalled = signal;
    const hard = setTimeout(() => {
      log.error('shutdown took longer than 9 s; exiting');
      process.exit(1);
    }, 9_000);
    hard.unref();
    if (!stop) log.info({ signal }, 'stopping as soon as start-up is done');
    shutdown();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    if (sandboxes) {
      const run: SandboxRun = await sandboxes.startSandbox({ env, policy, log, reset: args.reset === true, record: args.record, replay: args.replay });
      stop = run.stop;
    } else {
      const muster: Muster = await startMuster({ env, policy, log });
      stop = muster.stop;
    }
  } catch (e) {
    if (e instanceof StartupError) {
      console.error(`muster: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
  shutdown();
}

/**
 * Last-resort handlers, so that nothing ends the process silently or without a log line.
 *
 * A promise rejection nobody handled (a floating promise in some code path, ours or a library's) is logged with its
 * error and stack, and Muster keeps running: it did not unwind anything, every unit of work commits or rolls back in
 * its own transaction, and the outbox, inbox and timer loops retry whatever did not finish. Without this handler
 * Node ≥ 15 turns it into an uncaught exception and the process dies on one bad promise, with only a stack on stderr.
 *
 * An uncaught exception is different: it unwound a stack in the middle of something, and "it is not safe to resume
 * normal operation after 'uncaughtException'" (https://nodejs.org/api/process.html#warning-using-uncaughtexception-correctly).
 * It is logged, then the process exits 1 at once (no graceful stop: its state is unknown) so that the supervisor
 * (systemd, Docker, Kubernetes) starts a clean one; work in flight is resumed from the database at start-up.
 */
function handleStrayErrors(log: ReturnType<typeof createLogger>): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection (a bug: a promise nobody awaited failed); still running');
  });
  process.on('uncaughtException', (err, origin) => {
    log.fatal({ err, origin }, 'uncaught exception; exiting so that the supervisor restarts Muster');
    process.exit(1);
  });
}

main().catch((e) => {
  console.error('muster: failed to start:', e instanceof Error ? e.message : e);
  process.exit(1);
});
