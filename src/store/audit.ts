import { createHash } from 'node:crypto';
import type { Database, Tx } from './db.ts';
import type { Clock } from '../domain/clock.ts';

export const GENESIS_HASH = '0'.repeat(64);
// pg_advisory_xact_lock key that serialises appends to the one chain.
const CHAIN_LOCK = 0x6d757374; // "must"

export type AuditOutcome = 'ok' | 'denied' | 'error';

export interface AuditInput {
  workspaceId?: string | null;
  actorId: string;
  actorName?: string | null;
  platform: string;
  action: string;
  outcome?: AuditOutcome;
  subjectType?: string | null;
  subjectId?: string | null;
  before?: unknown;
  after?: unknown;
  reason?: string | null;
  flags?: string[];
  requestId?: string | null;
}

export interface AuditRow {
  seq: number;
  workspaceId: string | null;
  actorId: string;
  actorName: string | null;
  platform: string;
  action: string;
  outcome: string;
  subjectType: string | null;
  subjectId: string | null;
  before: string | null;
  after: string | null;
  reason: string | null;
  flags: string | null;
  requestId: string | null;
  createdAt: Date;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted, so the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export function entryHash(row: Omit<AuditRow, 'hash'>): string {
  const material = canonicalJson([
    row.seq,
    row.workspaceId,
    row.actorId,
    row.actorName,
    row.platform,
    row.action,
    row.outcome,
    row.subjectType,
    row.subjectId,
    row.before,
    row.after,
    row.reason,
    row.flags,
    row.requestId,
    row.createdAt.toISOString(),
    row.prevHash,
  ]);
  return createHash('sha256').update(material).digest('hex');
}

const toText = (v: unknown) => (v === undefined || v === null ? null : canonicalJson(v));

export class AuditLog {
  constructor(
    private readonly provider: Database['provider'],
    private readonly clock: Clock,
  ) {}

  /** Appends entries to the chain inside the caller's transaction. */
  async append(tx: Tx, inputs: AuditInput | AuditInput[]): Promise<AuditRow[]> {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    if (list.length === 0) return [];
    if (this.provider === 'postgresql') {
      // Concurrent writers on PostgreSQL queue here, so the chain never forks.
      await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${CHAIN_LOCK})`);
    }
    const last = await tx.auditEntry.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true, hash: true } });
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const createdAt = this.clock.now();
    const rows: AuditRow[] = [];
    for (const input of list) {
      seq += 1;
      const base: Omit<AuditRow, 'hash'> = {
        seq,
        workspaceId: input.workspaceId ?? null,
        actorId: input.actorId,
        actorName: input.actorName ?? null,
        platform: input.platform,
        action: input.action,
        outcome: input.outcome ?? 'ok',
        subjectType: input.subjectType ?? null,
        subjectId: input.subjectId ?? null,
        before: toText(input.before),
        after: toText(input.after),
        reason: input.reason ?? null,
        flags: input.flags && input.flags.length ? input.flags.join(',') : null,
        requestId: input.requestId ?? null,
        createdAt,
        prevHash,
      };
      const row = { ...base, hash: entryHash(base) };
      rows.push(row);
      prevHash = row.hash;
    }
    await tx.auditEntry.createMany({ data: rows });
    return rows;
  }
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  lastHash: string;
  firstBad?: { seq: number; problem: string };
}

/** Walks the whole chain; the first entry whose link or content does not check out is named. */
export async function verifyChain(db: Database, batch = 1000): Promise<VerifyResult> {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  for (;;) {
    const rows = (await db.read((tx) =>
      tx.auditEntry.findMany({ where: { seq: { gte: expectedSeq } }, orderBy: { seq: 'asc' }, take: batch }),
    )) as AuditRow[];
    if (rows.length === 0) break;
    for (const row of rows) {
      if (row.seq !== expectedSeq) {
        return { ok: false, checked, lastHash: prevHash, firstBad: { seq: expectedSeq, problem: `entry ${expectedSeq} is missing (next present is ${row.seq})` } };
      }
      if (row.prevHash !== prevHash) {
        return { ok: false, checked, lastHash: prevHash, firstBad: { seq: row.seq, problem: 'prev_hash does not match the hash of the entry before it' } };
      }
      const { hash, ...rest } = row;
      if (entryHash(rest) !== hash) {
        return { ok: false, checked, lastHash: prevHash, firstBad: { seq: row.seq, problem: 'content does not match its hash (the entry was altered)' } };
      }
      prevHash = hash;
      expectedSeq += 1;
      checked += 1;
    }
  }
  return { ok: true, checked, lastHash: prevHash };
}

export interface AuditQuery {
  workspaceId?: string;
  subjectType?: string;
  subjectId?: string;
  limit?: number;
}

export async function recentEntries(db: Database, q: AuditQuery): Promise<AuditRow[]> {
  const rows = await db.read((tx) =>
    tx.auditEntry.findMany({
      where: {
        ...(q.workspaceId ? { workspaceId: q.workspaceId } : {}),
        ...(q.subjectType ? { subjectType: q.subjectType } : {}),
        ...(q.subjectId ? { subjectId: q.subjectId } : {}),
      },
      orderBy: { seq: 'desc' },
      take: q.limit ?? 20,
    }),
  );
  return rows as AuditRow[];
}

export const EXPORT_COLUMNS = [
  'seq',
  'createdAt',
  'workspaceId',
  'platform',
  'actorId',
  'actorName',
  'action',
  'outcome',
  'subjectType',
  'subjectId',
  'before',
  'after',
  'reason',
  'flags',
  'requestId',
  'prevHash',
  'hash',
] as const;

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Streams the chain in order as CSV (RFC 4180) or a JSON array. */
export async function exportAudit(db: Database, format: 'csv' | 'json', write: (chunk: string) => void, batch = 1000): Promise<number> {
  let after = 0;
  let n = 0;
  if (format === 'csv') write(`${EXPORT_COLUMNS.join(',')}\r\n`);
  else write('[');
  for (;;) {
    const rows = (await db.read((tx) => tx.auditEntry.findMany({ where: { seq: { gt: after } }, orderBy: { seq: 'asc' }, take: batch }))) as AuditRow[];
    if (rows.length === 0) break;
    for (const r of rows) {
      if (format === 'csv') write(`${EXPORT_COLUMNS.map((c) => csvCell(r[c])).join(',')}\r\n`);
      else write(`${n ? ',' : ''}\n  ${JSON.stringify({ ...r, createdAt: r.createdAt.toISOString() })}`);
      n += 1;
      after = r.seq;
    }
  }
  if (format === 'json') write(n ? '\n]\n' : ']\n');
  return n;
}
