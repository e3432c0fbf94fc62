import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/store/db.ts';
import { startWalCheckpointer, WRITER_BACKSTOP, type CheckpointTick } from '../../src/store/walCheckpointer.ts';
import { createMetrics } from '../../src/metrics.ts';

/**
 * SQLite's WAL checkpoints on a thread of their own (src/store/walCheckpointer.ts), on SQLite files whatever
 * MUSTER_TEST_DB says: while the thread runs, the writer checkpoints only as a backstop (WRITER_BACKSTOP pages), the
 * thread copies the WAL's pages into the database file so that the WAL starts over, and the writer's threshold goes
 * back to SQLite's when the thread stops or cannot start.
 */
const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratchFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'muster-wal-'));
  dirs.push(dir);
  return join(dir, 'muster.db');
}

/** A better-sqlite3 connection to `file` in WAL mode, closed after the test: the writer a checkpoint thread is given. */
function walWriter(file: string): Sqlite.Database {
  const writer = new Sqlite(file);
  cleanups.push(() => {
    writer.close();
  });
  writer.pragma('journal_mode = WAL');
  return writer;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The writer connection's threshold of automatic checkpoints, asked on that connection (db.write runs on it). */
async function autocheckpoint(db: Database): Promise<number> {
  const [row] = await db.write<{ wal_autocheckpoint: number }>('PRAGMA wal_autocheckpoint');
  return Number(row!.wal_autocheckpoint);
}

/** `n` transactions of the bot's kind (db.tx), each writing about 5 pages. */
async function writePages(db: Database, n: number, from = 0) {
  const blob = 'x'.repeat(20_000);
  for (let i = from; i < from + n; i++) await db.tx((tx) => tx.$executeRawUnsafe('INSERT INTO pages (n, body) VALUES (?, ?)', i, blob));
}

describe('SQLite WAL checkpoints on a thread of their own', () => {
  it("the bot's database: the writer checkpoints only as a backstop, and the thread's checkpoints let the WAL start over", async () => {
    const file = scratchFile();
    const metrics = createMetrics();
    const db = await openDatabase(`file:${file}`, { metrics, walCheckpointThread: true });
    cleanups.push(() => db.close());
    await db.run('CREATE TABLE pages (n INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    await until(async () => (await autocheckpoint(db)) === WRITER_BACKSTOP, 'the thread up, the writer’s threshold raised');
    const checkpoints = async () => Number(/^muster_sqlite_wal_checkpoint_duration_seconds_count (\d+)$/m.exec(await metrics.registry.metrics())?.[1] ?? 0);
    // Three rounds of about 500 pages (2 MB each), each followed by a checkpoint of the thread's: the writer starts
    // the WAL over after each, so it never holds much more than one round (and the writer, whose threshold is far
    // above that, never checkpoints).
    for (let round = 0; round < 3; round++) {
      const before = await checkpoints();
      await writePages(db, 100, round * 100);
      await until(async () => (await checkpoints()) > before, `a checkpoint after round ${round + 1}`);
      // Nothing writes now: the thread's next tick (every 100 ms) copies whatever its last one had not (2 s: a
      // loaded machine may leave the thread waiting for a core a while).
      await new Promise((r) => setTimeout(r, 2_000));
    }
    const page = Number((await db.write<{ page_size: number }>('PRAGMA page_size'))[0]!.page_size);
    const walBytes = statSync(`${file}-wal`).size;
    // Without checkpoints the WAL would hold all three rounds: 1,500 pages and more.
    expect(walBytes / page).toBeLessThan(1_000);
    expect(Number((await db.query<{ n: number }>('SELECT count(*) AS n FROM pages'))[0]!.n)).toBe(300);
    expect(await autocheckpoint(db)).toBe(WRITER_BACKSTOP);
    const frames = (await metrics.registry.getSingleMetric('muster_sqlite_wal_frames')!.get()).values[0]!.value;
    expect(frames).toBeGreaterThanOrEqual(0);
  });

  it("under writes back to back, which the thread's checkpoints never catch up with, the writer's backstop keeps the WAL from growing", async () => {
    const file = scratchFile();
    const db = await openDatabase(`file:${file}`, { walCheckpointThread: true });
    cleanups.push(() => db.close());
    await db.run('CREATE TABLE pages (n INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    await until(async () => (await autocheckpoint(db)) === WRITER_BACKSTOP, 'the thread up');
    // About 15,000 pages, almost four times the backstop, without a pause. The WAL can overshoot the backstop: the
    // writer's checkpoint gives way while the thread's is copying (SQLITE_BUSY), and is tried again at each commit.
    await writePages(db, 3_000);
    const page = Number((await db.write<{ page_size: number }>('PRAGMA page_size'))[0]!.page_size);
    expect(statSync(`${file}-wal`).size / page).toBeLessThan(2.5 * WRITER_BACKSTOP);
  });

  it('closing the database stops the thread; everything written is there when it is opened again', async () => {
    const file = scratchFile();
    const db = await openDatabase(`file:${file}`, { walCheckpointThread: true });
    await db.run('CREATE TABLE pages (n INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    await until(async () => (await autocheckpoint(db)) === WRITER_BACKSTOP, 'the thread up');
    await writePages(db, 50);
    await db.close();
    const again = await openDatabase(`file:${file}`);
    cleanups.push(() => again.close());
    expect(Number((await again.query<{ n: number }>('SELECT count(*) AS n FROM pages'))[0]!.n)).toBe(50);
  });

  it("without it (the CLI's runs), the writer keeps SQLite's own checkpoints", async () => {
    const db = await openDatabase(`file:${scratchFile()}`);
    cleanups.push(() => db.close());
    expect(await autocheckpoint(db)).toBe(1000);
  });

  it("stopping the thread puts the writer's threshold back to SQLite's", async () => {
    const file = scratchFile();
    const writer = walWriter(file);
    writer.exec('CREATE TABLE pages (n INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const ticks: CheckpointTick[] = [];
    const thread = startWalCheckpointer(file, writer, { everyMs: 20, onTick: (t) => ticks.push(t) });
    expect(await thread.ready).toBe(true);
    expect(writer.pragma('wal_autocheckpoint', { simple: true })).toBe(WRITER_BACKSTOP);
    const insert = writer.prepare('INSERT INTO pages (n, body) VALUES (?, ?)');
    for (let i = 0; i < 20; i++) insert.run(i, 'y'.repeat(10_000));
    await until(() => ticks.some((t) => t.log > 0 && t.checkpointed === t.log), 'every page copied by the thread');
    await thread.stop();
    expect(writer.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it("a thread that cannot open the database does not start, and the writer keeps SQLite's threshold", async () => {
    const file = scratchFile();
    const writer = walWriter(file);
    const thread = startWalCheckpointer(join(file, '..', 'missing.db'), writer);
    expect(await thread.ready).toBe(false);
    expect(writer.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await thread.stop();
  });
});
