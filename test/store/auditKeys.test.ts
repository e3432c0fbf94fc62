import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvError, parseEnv } from '../../src/config/env.ts';
import { AuditKeyError, AuditKeyring, auditKey, resolveAuditKeys } from '../../src/store/auditKeys.ts';

const KEY = 'k'.repeat(32);

describe('audit key configuration', () => {
  it('MUSTER_AUDIT_KEY needs 32 characters and no comma; retired keys are a comma-separated list', () => {
    expect(() => parseEnv({ MUSTER_AUDIT_KEY: 'too-short' })).toThrow(/MUSTER_AUDIT_KEY: MUSTER_AUDIT_KEY must be at least 32 characters/);
    expect(() => parseEnv({ MUSTER_AUDIT_KEY: `${KEY},x` })).toThrow(/must not contain a comma/);
    expect(() => parseEnv({ MUSTER_AUDIT_PREVIOUS_KEYS: `${KEY},short` })).toThrow(/MUSTER_AUDIT_PREVIOUS_KEYS\.1: each key in MUSTER_AUDIT_PREVIOUS_KEYS must be at least 32/);
    // The value itself never appears in the error.
    try {
      parseEnv({ MUSTER_AUDIT_KEY: 'secret-but-short' });
    } catch (e) {
      expect(e).toBeInstanceOf(EnvError);
      expect((e as Error).message).not.toContain('secret-but-short');
    }
    const file = '/var/log/muster/checkpoints.log';
    const env = parseEnv({ MUSTER_AUDIT_KEY: ` ${KEY} `, MUSTER_AUDIT_PREVIOUS_KEYS: ` ${'p'.repeat(40)} , ${'q'.repeat(33)},`, MUSTER_AUDIT_CHECKPOINT_FILE: file });
    expect(env).toMatchObject({ MUSTER_AUDIT_KEY: KEY, MUSTER_AUDIT_PREVIOUS_KEYS: ['p'.repeat(40), 'q'.repeat(33)], MUSTER_AUDIT_CHECKPOINT_FILE: file });
    expect(parseEnv({ MUSTER_AUDIT_KEY: '' }).MUSTER_AUDIT_KEY).toBeUndefined();
  });

  it('a key id is a fingerprint: stable, distinct per key, and not the key', () => {
    const a = auditKey(KEY);
    expect(a.id).toMatch(/^[0-9a-f]{16}$/);
    expect(auditKey(KEY).id).toBe(a.id);
    expect(auditKey('l'.repeat(32)).id).not.toBe(a.id);
    const ring = new AuditKeyring(KEY, ['l'.repeat(32)]);
    expect(ring.ids).toEqual([a.id, auditKey('l'.repeat(32)).id]);
    expect(ring.get(a.id)?.secret.toString()).toBe(KEY);
  });

  it('MUSTER_AUDIT_KEY wins; without it SQLite gets a 0600 key file next to the database, PostgreSQL refuses', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'muster-key-')), 'data');
    const url = `file:${join(dir, 'muster.db')}`;
    const fromEnv = resolveAuditKeys({ MUSTER_AUDIT_KEY: KEY, MUSTER_AUDIT_PREVIOUS_KEYS: [] }, url);
    expect(fromEnv.file).toBeUndefined();
    expect(fromEnv.keyring.current.id).toBe(auditKey(KEY).id);
    expect(() => statSync(join(dir, 'audit.key'))).toThrow(/ENOENT/);

    const first = resolveAuditKeys({ MUSTER_AUDIT_PREVIOUS_KEYS: [] }, url);
    expect(first).toMatchObject({ file: join(dir, 'audit.key'), created: true, warnings: [] });
    expect(statSync(join(dir, 'audit.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'audit.key'), 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    // The CLI and a restart find the same key.
    const again = resolveAuditKeys({ MUSTER_AUDIT_PREVIOUS_KEYS: [] }, url);
    expect(again).toMatchObject({ created: false });
    expect(again.keyring.current.id).toBe(first.keyring.current.id);
    chmodSync(join(dir, 'audit.key'), 0o644);
    expect(resolveAuditKeys({ MUSTER_AUDIT_PREVIOUS_KEYS: [] }, url).warnings).toEqual([`${join(dir, 'audit.key')} is readable by other users: chmod 600 it`]);
    writeFileSync(join(dir, 'audit.key'), 'short\n');
    expect(() => resolveAuditKeys({ MUSTER_AUDIT_PREVIOUS_KEYS: [] }, url)).toThrow(/holds no usable audit key/);

    expect(() => resolveAuditKeys({ MUSTER_AUDIT_PREVIOUS_KEYS: [] }, 'postgresql://muster@db/muster')).toThrow(AuditKeyError);
    expect(() => resolveAuditKeys({ MUSTER_AUDIT_PREVIOUS_KEYS: [] }, 'postgresql://muster@db/muster')).toThrow(
      /^MUSTER_AUDIT_KEY is not set\. On PostgreSQL every replica must use the same audit key/,
    );
  });
});
