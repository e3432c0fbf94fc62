import { createHash, createHmac } from 'node:crypto';
import type { AuditKey } from './auditKeys.ts';

/*
 * What an audit entry is and how its hash is made: the part of the audit store that `muster audit verify`'s worker
 * threads (auditVerifyWorker.ts) load too, so it imports nothing but node:crypto (and types).
 */

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
  /** The key that made `hash`; null on legacy entries (plain SHA-256, written before the chain was keyed). */
  keyId: string | null;
}

/**
 * HMAC-SHA256 under the key when there is one: without the key nobody can compute a hash
 * that verifies. Plain SHA-256 (key null) only for legacy entries written before keying.
 */
export function entryHash(row: Omit<AuditRow, 'hash' | 'keyId'>, key: AuditKey | null): string {
  // canonicalJson of this list: every element is a string, a number or null (the time as ISO text), and canonicalJson
  // only reorders object keys, so JSON.stringify writes the same bytes without calling a replacer for each element.
  const material = JSON.stringify([
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
  return (key ? createHmac('sha256', key.secret) : createHash('sha256')).update(material).digest('hex');
}

/** An entry's columns: read in this order by verify and export, and given in this order by append(). */
export const CHAIN_COLUMNS =
  'seq, workspace_id, actor_id, actor_name, platform, action, outcome, subject_type, subject_id, "before", "after", reason, flags, request_id, created_at, prev_hash, hash, key_id';

/**
 * created_at as a Date: Prisma hands one back; read from SQLite directly it is the text Prisma wrote (ISO 8601 with
 * +00:00), or milliseconds. Text without an offset is taken as UTC, as SQLite's own times are. A misread time would
 * fail the entry's hash, never pass it.
 */
export function storedTime(v: Date | string | number): Date {
  if (v instanceof Date) return v;
  if (typeof v === 'number') return new Date(v);
  return new Date(/(Z|[+-]\d\d:?\d\d)$/i.test(v) ? v : `${v.replace(' ', 'T')}Z`);
}

/** A row read as an array of CHAIN_COLUMNS, as Prisma's model reads it (see fromRaw). */
export function fromArray(a: unknown[]): AuditRow {
  return {
    seq: Number(a[0]),
    workspaceId: a[1] as string | null,
    actorId: a[2] as string,
    actorName: a[3] as string | null,
    platform: a[4] as string,
    action: a[5] as string,
    outcome: a[6] as string,
    subjectType: a[7] as string | null,
    subjectId: a[8] as string | null,
    before: a[9] as string | null,
    after: a[10] as string | null,
    reason: a[11] as string | null,
    flags: a[12] as string | null,
    requestId: a[13] as string | null,
    createdAt: storedTime(a[14] as string | number),
    prevHash: a[15] as string,
    hash: a[16] as string,
    keyId: a[17] as string | null,
  };
}
