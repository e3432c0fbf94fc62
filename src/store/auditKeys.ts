import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { providerOf, sqlitePath } from './db.ts';

/**
 * The secrets that key the audit chain. Someone who can write to the database but holds
 * none of them cannot make an entry or a checkpoint that verifies, so the keys must never
 * be stored in the database (nor, in production, next to it).
 */
export interface AuditKey {
  /** A fingerprint that names the key in rows and checkpoints without revealing it. */
  readonly id: string;
  readonly secret: Buffer;
}

export const MIN_AUDIT_KEY_LENGTH = 32;

export function auditKey(secret: string): AuditKey {
  if (secret.length < MIN_AUDIT_KEY_LENGTH) throw new AuditKeyError(`an audit key must be at least ${MIN_AUDIT_KEY_LENGTH} characters`);
  const bytes = Buffer.from(secret, 'utf8');
  // An HMAC rather than a plain hash of the key: the id says nothing about the key itself.
  return { id: createHmac('sha256', bytes).update('muster audit key id').digest('hex').slice(0, 16), secret: bytes };
}

/** The current key (writes and verifies) and retired ones (only verify what they made before a rotation). */
export class AuditKeyring {
  readonly current: AuditKey;
  private readonly keys = new Map<string, AuditKey>();

  constructor(current: string, previous: readonly string[] = []) {
    this.current = auditKey(current);
    for (const k of [this.current, ...previous.map(auditKey)]) if (!this.keys.has(k.id)) this.keys.set(k.id, k);
  }

  get(id: string): AuditKey | undefined {
    return this.keys.get(id);
  }

  get ids(): string[] {
    return [...this.keys.keys()];
  }
}

export class AuditKeyError extends Error {}

export interface AuditKeySource {
  keyring: AuditKeyring;
  /** Set when the key came from a file Muster keeps next to the SQLite database. */
  file?: string;
  created?: boolean;
  /** Things the operator should fix (the key file is readable by others…). */
  warnings: string[];
}

export interface AuditKeyEnv {
  MUSTER_AUDIT_KEY?: string;
  MUSTER_AUDIT_PREVIOUS_KEYS: string[];
}

export const AUDIT_KEY_FILE = 'audit.key';

/**
 * MUSTER_AUDIT_KEY when set. Otherwise, on SQLite (one process, zero setup) a random key in
 * a file next to the database, made on first use; on PostgreSQL nothing, because several
 * replicas must share one key and a key each would fork the chain's keys silently.
 */
export function resolveAuditKeys(env: AuditKeyEnv, databaseUrl: string): AuditKeySource {
  const previous = env.MUSTER_AUDIT_PREVIOUS_KEYS;
  if (env.MUSTER_AUDIT_KEY) return { keyring: new AuditKeyring(env.MUSTER_AUDIT_KEY, previous), warnings: [] };
  const provider = providerOf(databaseUrl);
  const database = provider === 'sqlite' ? sqlitePath(databaseUrl) : undefined;
  if (provider === 'postgresql' || database === ':memory:') {
    const why = provider === 'postgresql' ? 'On PostgreSQL every replica must use the same audit key, so Muster does not make one' : 'An in-memory database has no directory for a key file';
    throw new AuditKeyError(
      `MUSTER_AUDIT_KEY is not set. ${why}: set MUSTER_AUDIT_KEY to a secret of at least ${MIN_AUDIT_KEY_LENGTH} characters ` +
        '(e.g. `openssl rand -hex 32`), the same for every process and for the muster CLI. See docs/deployment.md#the-audit-key.',
    );
  }
  const file = join(dirname(database!), AUDIT_KEY_FILE);
  let created = false;
  try {
    // The key comes before the database: on a first start its directory does not exist yet.
    mkdirSync(dirname(file), { recursive: true });
    // wx: two processes starting at once never overwrite each other's key.
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    created = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new AuditKeyError(`cannot create the audit key file ${file}: ${(e as Error).message}`);
    }
  }
  const secret = readFileSync(file, 'utf8').trim();
  if (secret.length < MIN_AUDIT_KEY_LENGTH || secret.includes(',')) {
    throw new AuditKeyError(`${file} holds no usable audit key (at least ${MIN_AUDIT_KEY_LENGTH} characters, no comma). Set MUSTER_AUDIT_KEY instead.`);
  }
  const warnings: string[] = [];
  if ((statSync(file).mode & 0o077) !== 0) warnings.push(`${file} is readable by other users: chmod 600 it`);
  return { keyring: new AuditKeyring(secret, previous), file, created, warnings };
}
