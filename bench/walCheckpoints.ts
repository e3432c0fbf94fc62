/**
 * `npm run bench:wal`: what SQLite's WAL checkpoints cost the main thread, with them on the writer (SQLite's default,
 * which the CLI keeps) and mostly on a thread of their own (the bot's, src/store/walCheckpointer.ts: the writer keeps
 * a checkpoint every WRITER_BACKSTOP pages).
 *
 * Each variant opens a fresh SQLite file through src/store/db.ts as the bot does and runs BENCH_WAL_TX (default
 * 20,000) write transactions one after another through `db.tx`, each inserting a 3 KB row (one page or so), and
 * times each transaction on the main thread, from its start until `db.tx` resolves. A transaction writes a page or
 * two, and a checkpoint of the writer's runs inside the one that crossed its mark. The
 * variants run BENCH_WAL_ROUNDS times (default 2), interleaved. Prints a table: the transactions' p50, p99, p99.9
 * and max, how many took over 5 ms, and the time in all of them; writes bench/results/wal.json.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../src/store/db.ts';
import { createMetrics } from '../src/metrics.ts';
import { WRITER_BACKSTOP } from '../src/store/walCheckpointer.ts';
import { percentile } from './load.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TX = Math.max(1_000, Number(process.env.BENCH_WAL_TX ?? 20_000));
const ROUNDS = Math.max(1, Number(process.env.BENCH_WAL_ROUNDS ?? 2));

interface Run {
  variant: 'writer' | 'writer4000' | 'thread';
  ms: number[];
  totalMs: number;
  checkpoints: number;
  /** The -wal file's size at the end, MB: as large as the WAL ever grew (it starts over from its beginning). */
  walMb: number;
}

async function run(variant: Run['variant']): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'muster-bench-wal-'));
  try {
    const metrics = createMetrics();
    const db = await openDatabase(`file:${join(dir, 'muster.db')}`, { metrics, walCheckpointThread: variant === 'thread' });
    await db.run('CREATE TABLE rows (n INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    // The writer alone at the thread's backstop: what the thread adds to the threshold's own effect.
    if (variant === 'writer4000') await db.write(`PRAGMA wal_autocheckpoint = ${WRITER_BACKSTOP}`);
    if (variant === 'thread') {
      // Until the thread is up and the writer's threshold raised.
      for (let i = 0; i < 500; i++) {
        const [row] = await db.write<{ wal_autocheckpoint: number }>('PRAGMA wal_autocheckpoint');
        if (Number(row!.wal_autocheckpoint) === WRITER_BACKSTOP) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const body = 'x'.repeat(3_000);
    const ms: number[] = [];
    const started = performance.now();
    for (let n = 0; n < TX; n++) {
      const t0 = performance.now();
      await db.tx((tx) => tx.$executeRawUnsafe('INSERT INTO rows (n, body) VALUES (?, ?)', n, body));
      ms.push(performance.now() - t0);
    }
    const totalMs = performance.now() - started;
    // The thread's reports arrive as messages, which the loop above (the main thread busy with SQLite) left waiting.
    await new Promise((r) => setTimeout(r, 300));
    const checkpoints = Number(/^muster_sqlite_wal_checkpoint_duration_seconds_count (\d+)$/m.exec(await metrics.registry.metrics())?.[1] ?? 0);
    const walMb = statSync(join(dir, 'muster.db-wal')).size / 1e6;
    await db.close();
    return { variant, ms, totalMs, checkpoints, walMb };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function summary(runs: Run[]) {
  const ms = runs.flatMap((r) => r.ms).sort((a, b) => a - b);
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return {
    transactions: ms.length,
    p50: r3(percentile(ms, 50)),
    p99: r3(percentile(ms, 99)),
    p999: r3(percentile(ms, 99.9)),
    max: r3(ms[ms.length - 1]!),
    over5ms: ms.filter((v) => v > 5).length,
    msInOver5: r3(ms.filter((v) => v > 5).reduce((a, b) => a + b, 0)),
    totalMs: r3(runs.reduce((a, r) => a + r.totalMs, 0)),
    threadCheckpoints: runs.reduce((a, r) => a + r.checkpoints, 0),
    walMbMax: r3(Math.max(...runs.map((r) => r.walMb))),
  };
}

const runs: Run[] = [];
for (let i = 0; i < ROUNDS; i++) {
  for (const variant of ['writer', 'writer4000', 'thread'] as const) {
    process.stdout.write(`round ${i + 1}/${ROUNDS}: ${variant} … `);
    const r = await run(variant);
    runs.push(r);
    process.stdout.write(`${TX} transactions in ${(r.totalMs / 1000).toFixed(2)} s\n`);
  }
}
const writer = summary(runs.filter((r) => r.variant === 'writer'));
const writer4000 = summary(runs.filter((r) => r.variant === 'writer4000'));
const thread = summary(runs.filter((r) => r.variant === 'thread'));
const variants = [writer, writer4000, thread];
const rows: [string, (v: ReturnType<typeof summary>) => string][] = [
  ['transactions', (v) => String(v.transactions)],
  ['p50 ms', (v) => v.p50.toFixed(3)],
  ['p99 ms', (v) => v.p99.toFixed(3)],
  ['p99.9 ms', (v) => v.p999.toFixed(3)],
  ['max ms', (v) => v.max.toFixed(2)],
  ['over 5 ms', (v) => String(v.over5ms)],
  ['ms spent in those', (v) => v.msInOver5.toFixed(1)],
  ['all transactions, s', (v) => (v.totalMs / 1000).toFixed(2)],
  ["thread's checkpoints", (v) => (v === thread ? String(v.threadCheckpoints) : '-')],
  ['largest WAL file, MB', (v) => v.walMbMax.toFixed(1)],
];
const heads = ['on the writer (1,000 pages)', `on the writer (${WRITER_BACKSTOP.toLocaleString('en')} pages)`, 'on their own thread'];
console.log(`\nSQLite write transactions (db.tx, one 3 KB row each), main thread, ${ROUNDS} round(s) of ${TX} per variant; checkpoints:`);
console.log(`${'figure'.padEnd(22)}${heads.map((h) => h.padStart(30)).join('')}`);
for (const [k, f] of rows) console.log(`${k.padEnd(22)}${variants.map((v) => f(v).padStart(30)).join('')}`);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(root, 'bench', 'results', 'wal.json'),
  `${JSON.stringify({ at: new Date().toISOString(), tx: TX, rounds: ROUNDS, writerBackstop: WRITER_BACKSTOP, writer, writer4000, thread }, null, 2)}\n`,
);
