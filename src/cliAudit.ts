import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { EnvError, defaultDatabaseUrl, parseEnv } from './config/env.ts';
import { loadPolicy, PolicyError } from './config/policy.ts';
import { openDatabase } from './store/db.ts';
import { migrate } from './store/migrate.ts';
import { exportAudit, verifyAudit, type TrailResult } from './store/audit.ts';
import { AuditKeyError, resolveAuditKeys } from './store/auditKeys.ts';
import { collectCheckpoints, type ParsedCheckpoints } from './store/auditCheckpoints.ts';

import { UsageError } from './cliErrors.ts';

export { UsageError };

/** Reads a file line by line, so a large log export is never held in memory. */
async function readFileCheckpoints(file: string, into: ParsedCheckpoints): Promise<number> {
  const before = into.found.length;
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) collectCheckpoints(line, `${file}:${++n}`, into);
  return into.found.length - before;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function print(r: TrailResult, sources: string[], out: (s: string) => void, err: (s: string) => void): void {
  const cps = r.checkpoints;
  if (r.firstBad) {
    const before = r.checked === r.firstBad.seq - 1 ? ` (${r.checked} entries before it verified)` : '';
    err(`audit chain BROKEN at entry ${r.firstBad.seq}: ${r.firstBad.problem}${before}`);
  }
  for (const p of cps.problems) err(`audit trail BROKEN: ${p}`);
  for (const f of cps.forged) {
    const c = f.checkpoint;
    const text = 'text' in c ? c.text : `seq=${c.seq} hash=${c.hash.slice(0, 12)}… at=${c.at}`;
    err(`forged checkpoint in ${f.checkpoint.source}: ${f.why} [${text}]`);
  }
  if (!r.firstBad && !r.ok) {
    out(`the chain itself verifies (${r.checked} entries), but the published checkpoints contradict it or were forged`);
  }
  if (r.ok) {
    const keys = r.keyIds.length ? `key${r.keyIds.length > 1 ? 's' : ''} ${r.keyIds.join(', ')}` : 'no keys';
    const legacy = r.legacy ? ` (${r.legacy} legacy before keying)` : '';
    out(`audit chain intact: ${r.checked} entries${legacy}, ${keys}, head ${r.head ? `seq=${r.head.seq} hash=${r.head.hash}` : 'none'}`);
  }
  const newest = cps.newestOnChain;
  out(
    `${cps.checked} checkpoint(s) checked${sources.length ? ` from ${sources.join(', ')}` : ''}` +
      (newest ? `; the newest on the chain is seq=${newest.seq} of ${newest.at}, ${plural((r.head?.seq ?? 0) - newest.seq, 'entry', 'entries')} after it` : ''),
  );
  if (sources.length === 0) {
    err('warning: no checkpoint source (--checkpoints FILE, or --channel with SLACK_BOT_TOKEN and audit.channel): ' + 'entries removed from the end of the trail cannot be detected');
  } else if (cps.checked === 0 && cps.forged.length === 0) {
    err(`warning: no checkpoint found in ${sources.join(', ')}: entries removed from the end of the trail cannot be detected`);
  }
}

/** `muster audit verify [--checkpoints FILE]... [--channel | --no-channel]`: 0 intact, 1 broken. */
export async function auditVerify(args: string[], out = (s: string) => console.log(s), err = (s: string) => console.error(s)): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { checkpoints: { type: 'string', multiple: true, default: [] }, channel: { type: 'boolean' }, 'no-channel': { type: 'boolean' } },
    strict: true,
  });
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
  for (const w of keys.warnings) err(`warning: ${w}`);
  const channel = policy.audit.channel;
  const canReadChannel = Boolean(env.SLACK_BOT_TOKEN && channel);
  if (values.channel && !canReadChannel) {
    throw new UsageError('--channel reads the audit channel: it needs SLACK_BOT_TOKEN and audit.channel in the policy file (MUSTER_CONFIG)');
  }

  const parsed: ParsedCheckpoints = { found: [], malformed: [] };
  const sources: string[] = [];
  for (const file of values.checkpoints) {
    try {
      const n = await readFileCheckpoints(file, parsed);
      sources.push(`${file} (${n})`);
    } catch (e) {
      throw new Error(`cannot read checkpoints from ${file}: ${(e as Error).message}`);
    }
  }
  if (canReadChannel && !values['no-channel']) {
    // Loaded only when the channel is read: the Slack Web API client is most of this command's start-up.
    const { readSlackCheckpoints } = await import('./platforms/slack/checkpoints.ts');
    const n = await readSlackCheckpoints(env, channel!, parsed);
    sources.push(`${channel} (${n})`);
  }

  await migrate(url);
  const db = await openDatabase(url);
  try {
    const r = await verifyAudit(db, keys.keyring, { checkpoints: parsed.found, malformed: parsed.malformed });
    print(r, sources, out, err);
    return r.ok ? 0 : 1;
  } finally {
    await db.close();
  }
}

/**
 * `muster audit export [--format csv|json]`: the whole trail to `out` (stdout). Each page waits until the stream has
 * taken the previous one (its write callback), so memory stays one page whatever the size of the trail or the
 * speed of the reader, and every byte has been handed to stdout when this returns (the CLI then exits: data still
 * queued on a pipe would be lost). A reader that goes away (EPIPE) ends it with an error.
 */
export async function auditExport(args: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values } = parseArgs({ args, options: { format: { type: 'string', default: 'json' } }, strict: true });
  if (values.format !== 'csv' && values.format !== 'json') throw new UsageError(`--format must be csv or json, not "${values.format}"`);
  let env: ReturnType<typeof parseEnv>;
  try {
    env = parseEnv();
  } catch (e) {
    if (e instanceof EnvError) throw new UsageError(e.message);
    throw e;
  }
  const url = env.DATABASE_URL ?? defaultDatabaseUrl();
  await migrate(url);
  const db = await openDatabase(url);
  try {
    const write = (chunk: string) => new Promise<void>((resolve, reject) => out.write(chunk, (e) => (e ? reject(e) : resolve())));
    await exportAudit(db, values.format, write);
    return 0;
  } finally {
    await db.close();
  }
}
