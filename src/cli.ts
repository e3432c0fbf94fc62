import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { EnvError, defaultDatabaseUrl, parseEnv } from './config/env.ts';
import { UsageError } from './cliErrors.ts';

// Each subcommand loads what it needs when it runs (a CLI process does one thing; loading the database
// clients, the Discord REST client and every command's module up front cost most of a second per run).
const load = {
  policy: () => import('./config/policy.ts'),
  db: () => import('./store/db.ts'),
  migrate: () => import('./store/migrate.ts'),
  audit: () => import('./cliAudit.ts'),
  outbox: () => import('./store/outbox.ts'),
  clock: () => import('./domain/clock.ts'),
  auditKeys: () => import('./store/auditKeys.ts'),
  evidence: () => import('./services/evidence.ts'),
};

const USAGE = `usage: muster <command>
  migrate                               apply database migrations (DATABASE_URL)
  config check [file]                   validate the policy file (default: MUSTER_CONFIG)
  audit verify [--checkpoints FILE]... [--channel|--no-channel]
                                        check the keyed audit chain and that every published checkpoint
                                        is still on it; exit 1 and name the bad entry or missing range
  audit export --format csv|json        write the audit trail to stdout
  outbox list [--all]                   dead-lettered (and waiting) chat effects
  outbox replay [id ...]                queue dead-lettered effects again (all when no id is given)
  evidence CHG-n|APR-n|INC-n [--format md|json] [--workspace ID]
                                        the evidence record of a change, approval or incident, with every audit
                                        entry about it and its chain hash (the workspace: the only one, or --workspace)
  discord register [--guild ID]         register the Discord commands (DISCORD_TOKEN, DISCORD_APPLICATION_ID,
                                        DISCORD_API_URL): globally, or for one server at once with --guild`;

function fail(message: string, code = 2): never {
  console.error(`muster: ${message}`);
  process.exit(code);
}

function databaseUrl(): string {
  try {
    return parseEnv().DATABASE_URL ?? defaultDatabaseUrl();
  } catch (e) {
    if (e instanceof EnvError) fail(e.message);
    throw e;
  }
}

type Database = Awaited<ReturnType<Awaited<ReturnType<typeof load.db>>['openDatabase']>>;

async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const url = databaseUrl();
  const [{ migrate }, { openDatabase }] = await Promise.all([load.migrate(), load.db()]);
  await migrate(url);
  const db = await openDatabase(url);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const EVIDENCE_USAGE = 'usage: muster evidence CHG-n|APR-n|INC-n [--format md|json] [--workspace ID]';

/**
 * `muster evidence CHG-n|APR-n|INC-n [--format md|json] [--workspace ID]`: the record on stdout. Reads
 * DATABASE_URL, MUSTER_CONFIG (the organisation's time zone) and the audit key (to check each entry's
 * hash) as `audit verify` does. 0 written, 1 no such record, 2 bad usage.
 */
async function evidence(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { format: { type: 'string', default: 'md' }, workspace: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [
    { loadPolicy, PolicyError },
    { openDatabase, redact },
    { migrate },
    { systemClock },
    { AuditKeyError, resolveAuditKeys },
    { evidenceJson, evidenceMarkdown, gatherEvidence, parseEvidenceRef },
  ] = await Promise.all([load.policy(), load.db(), load.migrate(), load.clock(), load.auditKeys(), load.evidence()]);
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one record at a time, not ${positionals.join(' ')}\n${EVIDENCE_USAGE}` : EVIDENCE_USAGE);
  const ref = parseEvidenceRef(positionals[0]!);
  if (!ref) throw new UsageError(`"${positionals[0]}" is not a record: write CHG-n, APR-n or INC-n\n${EVIDENCE_USAGE}`);
  const format = values.format;
  if (format !== 'md' && format !== 'json') throw new UsageError(`--format must be md or json, not "${format}"`);
  let env;
  try {
    env = parseEnv();
  } catch (e) {
    if (e instanceof EnvError) throw new UsageError(e.message);
    throw e;
  }
  const url = env.DATABASE_URL ?? defaultDatabaseUrl();
  let keys;
  let policy;
  try {
    keys = resolveAuditKeys(env, url);
    policy = loadPolicy(env.MUSTER_CONFIG);
  } catch (e) {
    if (e instanceof AuditKeyError || e instanceof PolicyError) throw new UsageError(e.message);
    throw e;
  }
  for (const w of keys.warnings) console.error(`warning: ${w}`);
  await migrate(url);
  const db = await openDatabase(url);
  try {
    const workspaces = await db.read((tx) => tx.workspace.findMany({ orderBy: { id: 'asc' } }));
    const list = workspaces.map((w) => `  ${w.id}${w.name ? ` (${w.name})` : ''}`).join('\n');
    let workspace;
    if (values.workspace !== undefined) {
      workspace = workspaces.find((w) => w.id === values.workspace || w.externalId === values.workspace);
      if (!workspace) throw new UsageError(`no workspace "${values.workspace}" in ${redact(url)}${workspaces.length ? `; there are:\n${list}` : ' (it has none)'}`);
    } else if (workspaces.length === 1) {
      workspace = workspaces[0]!;
    } else if (workspaces.length === 0) {
      console.error(`muster: ${redact(url)} has no workspace yet, so there is no ${ref.ref}`);
      return 1;
    } else {
      throw new UsageError(`${redact(url)} holds ${workspaces.length} workspaces: name one with --workspace ID\n${list}`);
    }
    const record = await db.read((tx) => gatherEvidence(tx, { workspaceId: workspace.id, ref, now: systemClock.now(), timeZone: policy.organization.timeZone, keyring: keys.keyring }));
    if (!record) {
      console.error(`muster: ${ref.ref} does not exist in workspace ${workspace.id}`);
      return 1;
    }
    process.stdout.write(format === 'json' ? evidenceJson(record) : evidenceMarkdown(record));
    return 0;
  } finally {
    await db.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  switch (cmd) {
    case 'migrate': {
      const url = databaseUrl();
      const [{ migrate }, { redact }] = await Promise.all([load.migrate(), load.db()]);
      const r = await migrate(url);
      console.log(`${redact(url)}: ${r.applied.length} applied${r.applied.length ? ` (${r.applied.join(', ')})` : ''}, ${r.alreadyApplied.length} already applied`);
      return 0;
    }
    case 'config': {
      if (sub !== 'check') fail(`unknown config command "${sub ?? ''}"\n${USAGE}`);
      const { defaultPolicy, formatProblems, parsePolicyText } = await load.policy();
      const file = rest[0] ?? process.env.MUSTER_CONFIG;
      if (!file) {
        defaultPolicy();
        console.log('No policy file given (MUSTER_CONFIG is unset): the built-in defaults apply and are valid.');
        return 0;
      }
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        fail(`cannot read ${file}: ${(e as Error).message}`, 1);
      }
      const { policy, problems, warnings } = parsePolicyText(text, file);
      if (!policy) {
        console.error(`${file}: ${problems.length} problem(s)\n${formatProblems(file, problems)}`);
        return 1;
      }
      const environments = Object.keys(policy.approvals.deployment.environments).length;
      const summary = `${file}: OK (${environments} environments, time zone ${policy.organization.timeZone})`;
      // Warnings do not fail the check: the file works as written, it just does not do what it seems to.
      console.log(warnings.length ? `${summary} with ${warnings.length} warning(s)\n${formatProblems(file, warnings)}` : summary);
      return 0;
    }
    case 'audit': {
      const { auditExport, auditVerify } = await load.audit();
      if (sub === 'verify') {
        try {
          return await auditVerify(rest);
        } catch (e) {
          if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail((e as Error).message);
          throw e;
        }
      }
      if (sub === 'export') {
        try {
          return await auditExport(rest);
        } catch (e) {
          if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail((e as Error).message);
          throw e;
        }
      }
      fail(`unknown audit command "${sub ?? ''}"\n${USAGE}`);
    }
    // eslint-disable-next-line no-fallthrough
    case 'outbox': {
      const { listEffects, replayEffects } = await load.outbox();
      if (sub === 'list') {
        const all = rest.includes('--all');
        return withDb(async (db) => {
          const rows = await listEffects(db, all ? ['dead', 'pending', 'running'] : ['dead'], 500);
          if (rows.length === 0) {
            console.log(all ? 'outbox is empty' : 'no dead-lettered effects');
            return 0;
          }
          for (const r of rows) {
            console.log(`${r.id}\t${r.status}\t${r.platform}\t${r.op}\tattempts=${r.attempts}\t${r.updatedAt.toISOString()}\t${r.lastError ?? ''}`);
          }
          return 0;
        });
      }
      if (sub === 'replay') {
        const ids = rest.map((x) => {
          const n = Number(x);
          if (!Number.isInteger(n) || n <= 0) fail(`"${x}" is not an effect id`);
          return n;
        });
        const { systemClock } = await load.clock();
        return withDb(async (db) => {
          const n = await replayEffects(db, systemClock, ids);
          console.log(`${n} effect(s) queued again; a running Muster sends them within a second`);
          return 0;
        });
      }
      fail(`unknown outbox command "${sub ?? ''}"\n${USAGE}`);
    }
    // eslint-disable-next-line no-fallthrough
    case 'evidence': {
      try {
        return await evidence(argv.slice(1));
      } catch (e) {
        if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail((e as Error).message);
        throw e;
      }
    }
    // eslint-disable-next-line no-fallthrough
    case 'discord': {
      if (sub !== 'register') fail(`unknown discord command "${sub ?? ''}"\n${USAGE}`);
      const { values } = parseArgs({ args: argv.slice(2), options: { guild: { type: 'string' } }, strict: true });
      let env;
      try {
        env = parseEnv();
      } catch (e) {
        if (e instanceof EnvError) fail(e.message);
        throw e;
      }
      const missing = [...(env.DISCORD_TOKEN ? [] : ['DISCORD_TOKEN']), ...(env.DISCORD_APPLICATION_ID ? [] : ['DISCORD_APPLICATION_ID'])];
      if (missing.length) fail(`discord register needs ${missing.join(' and ')} (see docs/discord-setup.md)`);
      if (values.guild !== undefined && !/^\d{17,20}$/.test(values.guild)) fail(`--guild takes a server id (a number such as 123456789012345678), not "${values.guild}"`);
      const [{ createDiscordRest }, { registerDiscordCommands }, { commands }] = await Promise.all([
        import('./platforms/discord/chatPort.ts'),
        import('./platforms/discord/commands.ts'),
        import('../commands/index.ts'),
      ]);
      const discordRest = createDiscordRest(env.DISCORD_TOKEN!, env.DISCORD_API_URL);
      const n = await registerDiscordCommands(discordRest, env.DISCORD_APPLICATION_ID!, commands.values(), values.guild);
      console.log(`registered ${n} Discord commands ${values.guild ? `in server ${values.guild}` : 'globally (they can take up to an hour to appear everywhere)'} at ${env.DISCORD_API_URL}`);
      return 0;
    }
    // eslint-disable-next-line no-fallthrough
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      fail(`unknown command "${cmd}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`muster: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
