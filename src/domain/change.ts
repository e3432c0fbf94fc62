import type { Role } from './rbac.ts';

/** The three kinds of change request of PRODUCT.md. */
export const CHANGE_TYPES = ['standard', 'normal', 'emergency'] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/**
 * A pseudo-approver for emergency changes: whoever holds the commander role of the incident the
 * change is linked to. It is never granted; `approverRoles` adds it to a voter's roles per change.
 */
export const INCIDENT_COMMANDER = 'incident_commander' as const;
/** Who can sit in an emergency approval: a Muster role, or the linked incident's commander. */
export type Approver = Role | typeof INCIDENT_COMMANDER;
