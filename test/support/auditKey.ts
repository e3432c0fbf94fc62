import { AuditKeyring } from '../../src/store/auditKeys.ts';

/** MUSTER_AUDIT_KEY of every Muster a test starts (harness and child processes), so both databases work alike. */
export const AUDIT_KEY = 'muster-test-audit-key-0123456789abcdef';
export const AUDIT_KEYRING = new AuditKeyring(AUDIT_KEY);
