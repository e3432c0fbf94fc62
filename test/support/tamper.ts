// What someone with write access to the database, but none of Muster's secrets, can do to
// the audit trail: raw SQL straight at the database, outside Muster.
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { sqlitePath } from '../../src/store/db.ts';
import { entryHash, type AuditRow } from '../../src/store/audit.ts';
import type { AuditKey } from '../../src/store/auditKeys.ts';

export interface Target {
  url: string;
  provider: 'sqlite' | 'postgresql';
}

/** Runs statements in order, each with its parameters (`?` on SQLite, `$n` on PostgreSQL). */
export async function rawSql(t: Target, statements: (string | [string, unknown[]])[]): Promise<void> {
  const list = statements.map((s) => (typeof s === 'string' ? ([s, []] as [string, unknown[]]) : s));
  if (t.provider === 'sqlite') {
    const db = new Sqlite(sqlitePath(t.url));
    try {
      for (const [sql, params] of list) db.prepare(sql).run(...(params as never[]));
    } finally {
      db.close();
    }
    return;
  }
  const c = new pg.Client({ connectionString: t.url });
  await c.connect();
  try {
    for (const [sql, params] of list) await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** A superuser's first step: the append-only triggers go. */
export function dropAuditTriggers(t: Target): Promise<void> {
  return rawSql(t, t.provider === 'sqlite' ? ['DROP TRIGGER audit_entries_no_update', 'DROP TRIGGER audit_entries_no_delete'] : ['ALTER TABLE audit_entries DISABLE TRIGGER USER']);
}

export function deleteEntriesAfter(t: Target, seq: number): Promise<void> {
  return rawSql(t, [[`DELETE FROM audit_entries WHERE seq > ${t.provider === 'sqlite' ? '?' : '$1'}`, [seq]]]);
}

/**
 * Rewrites the chain from entry `from` on (up to `until`): `edit` changes an entry's content, then every
 * hash is recomputed (and relinked) the way the attacker can, with `key` (a wrong one, or
 * null for plain SHA-256); `keyId` is what the forged rows claim to be keyed with.
 */
export async function rewriteChain(
  t: Target,
  rows: AuditRow[],
  from: number,
  forge: { key: AuditKey | null; keyId: string | null; edit?: (row: AuditRow) => Partial<AuditRow>; until?: number },
): Promise<void> {
  const p = t.provider === 'sqlite' ? () => '?' : (n: number) => `$${n}`;
  const updates: [string, unknown[]][] = [];
  let prevHash = rows.find((r) => r.seq === from - 1)?.hash;
  for (const original of rows.filter((r) => r.seq >= from && r.seq <= (forge.until ?? Infinity)).sort((a, b) => a.seq - b.seq)) {
    const row = { ...original, ...(forge.edit?.(original) ?? {}), prevHash: prevHash ?? original.prevHash };
    const { hash: _old, keyId: _oldKey, ...content } = row;
    const hash = entryHash(content, forge.key);
    updates.push([
      `UPDATE audit_entries SET actor_id = ${p(1)}, reason = ${p(2)}, prev_hash = ${p(3)}, hash = ${p(4)}, key_id = ${p(5)} WHERE seq = ${p(6)}`,
      [row.actorId, row.reason, row.prevHash, hash, forge.keyId, row.seq],
    ]);
    prevHash = hash;
  }
  await rawSql(t, updates);
}
