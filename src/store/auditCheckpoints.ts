import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Tx } from './db.ts';
import type { Clock } from '../domain/clock.ts';
import type { AuditKey, AuditKeyring } from './auditKeys.ts';
import { enqueueEffects } from './outbox.ts';

/**
 * A checkpoint is the signed head of the audit chain (sequence number and hash), published
 * outside the database: in the audit channel, in the log and optionally in a file. Whoever
 * can write to the database cannot unpublish it, so a later truncation or rewrite of the
 * chain contradicts it. One line of plain text, so any copy (a log export, a pasted chat
 * message) can be checked:
 *
 *   muster-audit-checkpoint v1 seq=<n> hash=<hex> key=<key id> at=<ISO time> mac=<hex>
 *
 * mac = HMAC-SHA256(key, "v1|seq|hash|keyId|at").
 */
export const CHECKPOINT_TAG = 'muster-audit-checkpoint v1';

/** Effects of this platform go to the checkpoint recorder (src/scheduler/auditCheckpoints.ts). */
export const AUDIT_PLATFORM = 'audit';
export const CHECKPOINT_OP = 'checkpoint';

export interface Checkpoint {
  seq: number;
  hash: string;
  keyId: string;
  at: string;
  mac: string;
}

const LINE = /muster-audit-checkpoint v1 seq=(\d+) hash=([0-9a-f]{64}) key=([0-9a-f]{16}) at=(\S+) mac=([0-9a-f]{64})/g;

function macOf(key: AuditKey, c: Omit<Checkpoint, 'mac'>): string {
  return createHmac('sha256', key.secret).update(`v1|${c.seq}|${c.hash}|${c.keyId}|${c.at}`).digest('hex');
}

export function signCheckpoint(key: AuditKey, head: { seq: number; hash: string }, at: Date): Checkpoint {
  const body = { seq: head.seq, hash: head.hash, keyId: key.id, at: at.toISOString() };
  return { ...body, mac: macOf(key, body) };
}

export function formatCheckpoint(c: Checkpoint): string {
  return `${CHECKPOINT_TAG} seq=${c.seq} hash=${c.hash} key=${c.keyId} at=${c.at} mac=${c.mac}`;
}

/** Why a checkpoint is not genuine, or undefined when one of the known keys made it. */
export function checkpointForgery(keyring: AuditKeyring, c: Checkpoint): string | undefined {
  const key = keyring.get(c.keyId);
  if (!key) return `it names key ${c.keyId}, which is not among the known keys (MUSTER_AUDIT_KEY, MUSTER_AUDIT_PREVIOUS_KEYS)`;
  const expected = Buffer.from(macOf(key, c), 'hex');
  const given = Buffer.from(c.mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return 'its mac does not match (the line was edited, or made without the key)';
  }
  if (Number.isNaN(Date.parse(c.at))) return `its time "${c.at}" is not a time`;
  return undefined;
}

export interface FoundCheckpoint extends Checkpoint {
  /** Where it was read: `file:line`, or the channel and message ts. */
  source: string;
}

export interface ParsedCheckpoints {
  found: FoundCheckpoint[];
  /** Lines that carry the tag but no whole checkpoint: a copy someone cut or edited. */
  malformed: { source: string; text: string }[];
}

/** The checkpoints in one line of text (a line of a file or a JSON log, a message). */
export function collectCheckpoints(line: string, where: string, into: ParsedCheckpoints): ParsedCheckpoints {
  if (!line.includes(CHECKPOINT_TAG)) return into;
  const matches = [...line.matchAll(LINE)];
  if (matches.length === 0) into.malformed.push({ source: where, text: line.trim().slice(0, 300) });
  for (const m of matches) into.found.push({ seq: Number(m[1]), hash: m[2]!, keyId: m[3]!, at: m[4]!, mac: m[5]!, source: where });
  return into;
}

/** Every checkpoint in a piece of text; each is named by `source:line` (or `source` for one line). */
export function parseCheckpoints(text: string, source: string, into: ParsedCheckpoints = { found: [], malformed: [] }): ParsedCheckpoints {
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => collectCheckpoints(line, lines.length > 1 ? `${source}:${i + 1}` : source, into));
  return into;
}

export type CheckpointReason = 'every' | 'interval' | 'key-rotated';

/** A channel on one chat platform (the platform's name, and the channel's id or `#name` there). */
export interface ChatChannel {
  platform: string;
  channel: string;
}

/**
 * Signs the head and, in the caller's transaction, records it and queues its publication:
 * nothing is published unless the transaction that made the head commits. Returns
 * undefined when this head was published already.
 */
export async function recordCheckpoint(
  tx: Tx,
  clock: Clock,
  key: AuditKey,
  head: { seq: number; hash: string },
  reason: CheckpointReason,
  channel: ChatChannel | undefined,
): Promise<Checkpoint | undefined> {
  const existing = await tx.auditCheckpoint.findUnique({ where: { seq: head.seq }, select: { hash: true } });
  if (existing?.hash === head.hash) return undefined;
  const now = clock.now();
  const checkpoint = signCheckpoint(key, head, now);
  const data = { hash: checkpoint.hash, keyId: checkpoint.keyId, mac: checkpoint.mac, reason, createdAt: now };
  // A row at this seq with another hash: the chain was cut back and grew again. The new
  // head is published too; verification then shows both and names the replaced range.
  if (existing) await tx.auditCheckpoint.update({ where: { seq: head.seq }, data });
  else await tx.auditCheckpoint.create({ data: { seq: head.seq, ...data } });
  const line = formatCheckpoint(checkpoint);
  await enqueueEffects(tx, clock, { platform: AUDIT_PLATFORM }, [{ op: CHECKPOINT_OP, args: { line } }]);
  if (channel) await enqueueEffects(tx, clock, { platform: channel.platform }, [{ op: 'postMessage', args: { channel: channel.channel, text: line } }]);
  return checkpoint;
}
