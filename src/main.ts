import { EnvError, missingSlackVariables, parseEnv, SETUP_GUIDE } from './config/env.ts';
import { loadPolicy, PolicyError } from './config/policy.ts';
import { createLogger } from './log.ts';
import { startMuster, StartupError } from './muster.ts';

async function main(): Promise<void> {
  let env;
  try {
    env = parseEnv();
  } catch (e) {
    if (e instanceof EnvError) {
      console.error(`muster: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
  const missing = missingSlackVariables(env);
  if (missing.length) {
    console.error(
      `muster: cannot start without Slack credentials. Missing: ${missing.join(', ')}.\n` +
        `Create the Slack app from manifest.yml and set these variables: see ${SETUP_GUIDE}.`,
    );
    process.exit(1);
  }
  let policy;
  try {
    policy = loadPolicy(env.MUSTER_CONFIG);
  } catch (e) {
    if (e instanceof PolicyError) {
      console.error(`muster: ${e.message}\nFix the file (check it with \`muster config check\`) and start again.`);
      process.exit(1);
    }
    throw e;
  }
  const log = createLogger(env.LOG_LEVEL);
  let muster;
  try {
    muster = await startMuster({ env, policy, log });
  } catch (e) {
    if (e instanceof StartupError) {
      console.error(`muster: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      log.error('shutdown took longer than 9 s; exiting');
      process.exit(1);
    }, 9_000);
    hard.unref();
    muster.stop().then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((e) => {
  console.error('muster: failed to start:', e instanceof Error ? e.message : e);
  process.exit(1);
});
