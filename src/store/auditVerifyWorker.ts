/**
 * A worker thread of `muster audit verify` on a SQLite file (see parallelChain in audit.ts). It opens the file
 * read-only on a connection of its own and, for each range of seq it is sent, reads the entries and recomputes each
 * one's hash under the key the entry names. It sends back only what the chain walk needs: seq, prev_hash, hash and
 * key id of each entry, and whether its hash matched. The walk itself (order, links, key rotation, checkpoints)
 * stays in the main thread, over the ranges in order, exactly as for a chain read page by page.
 *
 * Loaded as dist/auditVerifyWorker.js when Muster runs compiled, or as this file through tsx from the sources.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Sqlite from 'better-sqlite3';
import { CHAIN_COLUMNS, entryHash, fromArray } from './auditChain.ts';
import type { AuditKey } from './auditKeys.ts';

export interface VerifyWorkerData {
  file: string;
  keys: { id: string; secret: Uint8Array }[];
}

/** Entries with lo < seq <= hi. */
export interface RangeRequest {
  id: number;
  lo: number;
  hi: number;
}

export interface RangeResult {
  id: number;
  seq: Float64Array;
  prevHash: string[];
  hash: string[];
  keyId: (string | null)[];
  /** 1 where the entry's hash is the one its content gives under the key it names (no key known: 0) */
  hashOk: Uint8Array;
  error?: string;
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as VerifyWorkerData;
  const keys = new Map<string, AuditKey>(data.keys.map((k) => [k.id, { id: k.id, secret: Buffer.from(k.secret) }]));
  const conn = new Sqlite(data.file, { readonly: true, fileMustExist: true, timeout: 10_000 });
  const range = conn.prepare<[number, number], unknown[]>(`SELECT ${CHAIN_COLUMNS} FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq`).raw(true);
  port.on('message', (req: RangeRequest) => {
    try {
      const raw = range.all(req.lo, req.hi);
      const n = raw.length;
      const out: RangeResult = { id: req.id, seq: new Float64Array(n), prevHash: new Array(n), hash: new Array(n), keyId: new Array(n), hashOk: new Uint8Array(n) };
      for (let i = 0; i < n; i++) {
        const row = fromArray(raw[i]!);
        out.seq[i] = row.seq;
        out.prevHash[i] = row.prevHash;
        out.hash[i] = row.hash;
        out.keyId[i] = row.keyId;
        // As entryProblem in audit.ts: unkeyed (legacy) entries are plain SHA-256; an unknown key matches nothing.
        const key = row.keyId === null ? null : keys.get(row.keyId);
        out.hashOk[i] = key !== undefined && entryHash(row, key) === row.hash ? 1 : 0;
      }
      port.postMessage(out, [out.seq.buffer as ArrayBuffer, out.hashOk.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: req.id, error: (e as Error).message });
    }
  });
  port.on('close', () => conn.close());
}
