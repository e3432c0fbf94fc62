/**
 * `npm run bench`, first lines: how fast this machine is at the few things Muster's figures are made of, so that
 * runs on different machines can be compared. The same code on two virtual machines of the same size gave click
 * figures twice apart (CPU per click, PostgreSQL's CPU per click, the war room's time outside Slack): these probes
 * say which part of a machine differed.
 *
 *  - JS work: building, serialising, parsing and hashing 20,000 card-sized messages (what a click's work is made of:
 *    Block Kit JSON, the audit chain's SHA-256), in this process;
 *  - write(2): a 200-byte write to a file (a log line);
 *  - loopback TCP: a 200-byte message to a server in this process and back (a database or fake Slack round trip);
 *  - fdatasync: an 8 kB write made durable in the bench's scratch directory (a SQLite commit);
 *  - PostgreSQL, when a section runs on it: `SELECT 1`, and a one-row INSERT committed (its WAL flush), on one
 *    connection to a fresh database (bench/db.ts), dropped afterwards.
 *
 * Each is the best of three tries (the least disturbed by whatever else runs), a few seconds in all.
 */
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { createBenchDatabase } from './db.ts';

export interface MachineSpeed {
  /** ms for the JS work */
  jsWorkMs: number;
  /** µs per 200-byte write(2) to a file */
  fileWriteUs: number;
  /** µs per loopback TCP round trip, both ends in this process */
  tcpRoundTripUs: number;
  /** µs per 8 kB write + fdatasync */
  fdatasyncUs: number;
  /** µs per `SELECT 1` round trip to PostgreSQL */
  pgSelectUs?: number;
  /** µs per one-row INSERT committed on PostgreSQL */
  pgCommitUs?: number;
}

const best = async (tries: number, f: () => Promise<number> | number): Promise<number> => {
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < tries; i++) b = Math.min(b, await f());
  return b;
};

/** µs per `n` rounds of an asynchronous `round`, one after the other. */
const usPerRound = async (n: number, round: () => Promise<unknown>): Promise<number> => {
  const started = performance.now();
  for (let i = 0; i < n; i++) await round();
  return ((performance.now() - started) * 1000) / n;
};

/** A card-sized message: ten sections of text and a row of buttons, as Block Kit JSON. */
function card(i: number): unknown {
  return {
    channel: 'C0123456789',
    text: `Approval request APR-${i}: deploy checkout-service to production`,
    blocks: [
      ...Array.from({ length: 10 }, (_, k) => ({
        type: 'section',
        text: { type: 'mrkdwn', text: `*Field ${k}* for <@U0${i}> · request ${i} · ${'x'.repeat(40)}` },
      })),
      {
        type: 'actions',
        elements: ['Approve', 'Deny', 'Details'].map((label) => ({ type: 'button', text: { type: 'plain_text', text: label }, value: `apr:${i}:${label}` })),
      },
    ],
  };
}

function jsWork(): number {
  const started = performance.now();
  let sink = 0;
  for (let i = 0; i < 20_000; i++) {
    const text = JSON.stringify(card(i));
    const back = JSON.parse(text) as { blocks: unknown[] };
    sink += back.blocks.length + createHash('sha256').update(text).digest('hex').charCodeAt(0);
  }
  if (sink === 0) throw new Error('unreachable');
  return performance.now() - started;
}

/** µs per `n` rounds of `round` on a scratch file of its own in `dir`, removed afterwards. */
function onScratchFile(dir: string, name: string, n: number, round: (fd: number) => void): number {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  try {
    const started = performance.now();
    for (let i = 0; i < n; i++) round(fd);
    return ((performance.now() - started) * 1000) / n;
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

const LOG_LINE = Buffer.alloc(200, 'l');
const PAGE = Buffer.alloc(8192, 's');
/** A log line appended. */
const fileWrites = (dir: string) => onScratchFile(dir, 'machine-probe.log', 20_000, (fd) => writeSync(fd, LOG_LINE));
/** A page rewritten in place and made durable. */
const syncs = (dir: string) =>
  onScratchFile(dir, 'machine-probe.sync', 200, (fd) => {
    writeSync(fd, PAGE, 0, PAGE.length, 0);
    fdatasyncSync(fd);
  });

async function tcpRoundTrips(): Promise<number> {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  c.setNoDelay(true);
  await new Promise<void>((r, j) => {
    c.once('connect', r);
    c.once('error', j);
  });
  const msg = Buffer.alloc(200, 't');
  const n = 3_000;
  try {
    return await best(3, () =>
      usPerRound(
        n,
        () =>
          new Promise<void>((r) => {
            let got = 0;
            const on = (d: Buffer) => {
              got += d.length;
              if (got >= msg.length) {
                c.off('data', on);
                r();
              }
            };
            c.on('data', on);
            c.write(msg);
          }),
      ),
    );
  } finally {
    c.destroy();
    await new Promise((r) => server.close(r));
  }
}

async function postgres(dir: string): Promise<{ pgSelectUs: number; pgCommitUs: number }> {
  // A database of its own, dropped afterwards: the commits write a row each to a real (WAL-logged) table.
  const db = await createBenchDatabase('postgresql', dir, 'machine');
  try {
    const c = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 3_000 });
    await c.connect();
    try {
      // Committed as Muster's are (flushed before the answer), whatever the server's default says.
      await c.query('SET synchronous_commit = on');
      await c.query('CREATE TABLE probe (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
      const pgSelectUs = await best(3, () => usPerRound(1_000, () => c.query('SELECT 1')));
      const pgCommitUs = await best(3, () => usPerRound(100, () => c.query('BEGIN; INSERT INTO probe DEFAULT VALUES; COMMIT')));
      return { pgSelectUs, pgCommitUs };
    } finally {
      await c.end().catch(() => undefined);
    }
  } finally {
    await db.drop();
  }
}

/** The probes; PostgreSQL's only with `postgresql` (and left out, with the reason, when it cannot be reached). */
export async function machineSpeed(o: { dir: string; postgresql: boolean }): Promise<MachineSpeed & { pgProblem?: string }> {
  const jsWorkMs = await best(3, jsWork);
  const fileWriteUs = await best(3, () => fileWrites(o.dir));
  const tcpRoundTripUs = await tcpRoundTrips();
  const fdatasyncUs = await best(3, () => syncs(o.dir));
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const speed: MachineSpeed & { pgProblem?: string } = { jsWorkMs: r1(jsWorkMs), fileWriteUs: r1(fileWriteUs), tcpRoundTripUs: r1(tcpRoundTripUs), fdatasyncUs: r1(fdatasyncUs) };
  if (o.postgresql) {
    try {
      const { pgSelectUs, pgCommitUs } = await postgres(o.dir);
      Object.assign(speed, { pgSelectUs: r1(pgSelectUs), pgCommitUs: r1(pgCommitUs) });
    } catch (e) {
      speed.pgProblem = (e as Error).message || String(e);
    }
  }
  return speed;
}

export function describeMachineSpeed(s: MachineSpeed & { pgProblem?: string }): string {
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const parts = [`JS work ${f(s.jsWorkMs)} ms`, `write(2) ${f(s.fileWriteUs)} µs`, `loopback TCP round trip ${f(s.tcpRoundTripUs)} µs`, `8 kB write + fdatasync ${f(s.fdatasyncUs)} µs`];
  if (s.pgSelectUs !== undefined && s.pgCommitUs !== undefined) parts.push(`PostgreSQL SELECT 1 ${f(s.pgSelectUs)} µs, one-row commit ${f(s.pgCommitUs)} µs`);
  else if (s.pgProblem) parts.push(`PostgreSQL not probed (${s.pgProblem})`);
  return `machine speed (best of 3; compare runs on different machines with these, see bench/machine.ts): ${parts.join('; ')}`;
}
