import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Metrics } from '../metrics.ts';

/**
 * SQLite's WAL checkpoints, mostly on a worker thread of their own instead of on the main thread.
 *
 * In WAL mode every commit appends the pages it changed to the `-wal` file; a checkpoint copies them back into the
 * database file so that the WAL can start over. By default the connection that commits runs one itself (PASSIVE) as
 * soon as the WAL holds 1,000 pages or more (https://sqlite.org/c3ref/wal_autocheckpoint.html): better-sqlite3 is
 * synchronous, so the request whose commit crossed the mark waited for the copy and for the syncs of both files, 6–10
 * ms of the main thread each time (`npm run bench:wal`).
 *
 * Here a worker thread, with a connection of its own to the file, runs `PRAGMA wal_checkpoint(PASSIVE)` every
 * `everyMs`: "as many frames as possible without waiting for any database readers or writers to finish"
 * (https://sqlite.org/c3ref/wal_checkpoint_v2.html), so the writer never waits for it. A checkpoint with nothing new to
 * copy reads the WAL's index and returns. While writes come with pauses, the thread's checkpoint copies every page,
 * and the next write transaction starts the WAL over, as before. Under steady writes it never quite catches up with
 * the last commit, and the WAL starts over only after a checkpoint of the writer's own: so the writer keeps its
 * automatic checkpoint, at WRITER_BACKSTOP pages instead of 1,000, and it then copies only the pages the thread has
 * not (about those of the last `everyMs`). Should the thread stop or fail, the writer's threshold goes back to 1,000.
 *
 * The thread's code is short and plain CommonJS, evaluated in the thread (no module of its own to find, from the
 * sources or from dist/); it loads the same better-sqlite3 as the main thread, by its resolved path.
 */
const WORKER = `
const { closeSync, openSync, readSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Sqlite = require(workerData.driver);
const db = new Sqlite(workerData.file, { fileMustExist: true });
const header = Buffer.alloc(16);
let wal;
// The WAL header's checkpoint sequence number (bytes 12-15, big-endian), which changes each time the WAL starts over.
const generation = () => {
  try {
    wal ??= openSync(workerData.file + '-wal', 'r');
    return readSync(wal, header, 0, 16, 0) === 16 ? header.readUInt32BE(12) : -1;
  } catch {
    return -1;
  }
};
let timer;
let last = { generation: -1, checkpointed: 0 };
const tick = () => {
  const started = performance.now();
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    const ms = performance.now() - started;
    // log < 0: it could not run (another connection, the writer at its backstop or a muster CLI, is checkpointing).
    if (r.log >= 0) {
      const now = { generation: generation(), checkpointed: r.checkpointed };
      const copied = now.generation === last.generation ? Math.max(0, r.checkpointed - last.checkpointed) : r.checkpointed;
      last = now;
      parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed, copied, ms });
    }
  } catch {
    // A statement that failed (the file busy, say): the next tick tries again.
  }
  timer = setTimeout(tick, workerData.everyMs);
};
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  // A file descriptor belongs to the process, not to this thread: closed here, or it would outlive the thread.
  if (wal !== undefined) closeSync(wal);
  db.close();
  parentPort.close();
});
parentPort.postMessage({ ready: true });
timer = setTimeout(tick, workerData.everyMs);
`;

/**
 * What one tick of the checkpoint thread saw: the frames (pages) in the WAL, those of them in the database file now,
 * and how many this tick copied (`log` and `checkpointed` are SQLite's figures, https://sqlite.org/pragma.html#pragma_wal_checkpoint;
 * `copied` tells the WAL's generations apart by the checkpoint sequence number in its header,
 * https://sqlite.org/fileformat2.html#walformat).
 */
export interface CheckpointTick {
  log: number;
  checkpointed: number;
  copied: number;
  ms: number;
}

export interface WalCheckpointer {
  /** Resolves once the thread is up and the writer's threshold raised (false: it could not start; the writer's is SQLite's). */
  readonly ready: Promise<boolean>;
  /** Stops the thread; the writer's threshold goes back to SQLite's. */
  stop(): Promise<void>;
}

export interface WalCheckpointerOptions {
  /** How often the thread checkpoints, ms (default 100). */
  everyMs?: number;
  /** muster_sqlite_wal_checkpoint_duration_seconds and muster_sqlite_wal_frames. */
  metrics?: Metrics;
  /** Every tick's figures (tests). */
  onTick?: (t: CheckpointTick) => void;
}

/** SQLite's default threshold of automatic checkpoints, pages: what the writer goes back to without the thread. */
const SQLITE_AUTOCHECKPOINT = 1000;

/**
 * The writer's threshold of automatic checkpoints while the thread runs, pages (16 MB of 4 KB pages). Without it the
 * WAL would grow as long as steady writes go on (15,000 pages after 5,000 transactions back to back in a scratch run).
 * Four times as rare as SQLite's default: `npm run bench:wal` counts the transactions that took over 5 ms.
 */
export const WRITER_BACKSTOP = 4000;

/**
 * Starts checkpointing `file` (a SQLite database in WAL mode) on a worker thread, and raises `writer`'s threshold of
 * automatic checkpoints to WRITER_BACKSTOP once it is up. `writer`: the connection that commits (better-sqlite3's `pragma`).
 */
export function startWalCheckpointer(file: string, writer: { pragma(sql: string): unknown; readonly open: boolean }, o: WalCheckpointerOptions = {}): WalCheckpointer {
  const worker = new Worker(WORKER, { eval: true, workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), everyMs: o.everyMs ?? 100 } });
  worker.unref();
  let on = false;
  /** The writer's threshold back to SQLite's (the thread stopped or failed). */
  const fallBack = () => {
    if (on && writer.open) writer.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT}`);
    on = false;
  };
  const ready = new Promise<boolean>((resolve) => {
    worker.on('message', (m: { ready: true } | CheckpointTick) => {
      if ('ready' in m) {
        if (writer.open) {
          writer.pragma(`wal_autocheckpoint = ${WRITER_BACKSTOP}`);
          on = true;
        }
        resolve(on);
        return;
      }
      o.onTick?.(m);
      // A tick that copied pages is a checkpoint; one that found nothing new is not.
      if (m.copied > 0) o.metrics?.sqliteWalCheckpoint.observe(m.ms / 1000);
      o.metrics?.sqliteWalFrames.set(m.log);
    });
    worker.on('error', () => {
      fallBack();
      resolve(false);
    });
    worker.on('exit', () => {
      fallBack();
      resolve(false);
    });
  });
  const exited = new Promise<void>((r) => worker.once('exit', () => r()));
  return {
    ready,
    stop: async () => {
      fallBack();
      worker.postMessage('stop');
      // A thread that does not end on its own within 2 s (it never should) is ended.
      const late = setTimeout(() => void worker.terminate(), 2_000);
      await exited;
      clearTimeout(late);
    },
  };
}
