/** The RBAC roles of PRODUCT.md. Permissions map onto them through the policy file. */
export const ROLES = [
  'admin',
  'release_manager',
  'cto',
  'security_lead',
  'tech_lead',
  'qa_lead',
  'product_owner',
  'platform_owner',
  'devops_lead',
  'dba',
  'oncall',
  'engineer',
  'manager',
  'director',
  'vp',
] as const;

export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export const PERMISSIONS = [
  'manage_roles',
  'read_audit',
  'break_glass',
  'break_glass_review',
  'publish_status',
  'manage_changes',
  'freeze_changes',
  'rollback_change',
  'close_incident',
  'view_stats',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export type PermissionMap = Record<Permission, readonly Role[]>;

export function hasPermission(roles: ReadonlySet<Role>, permission: Permission, map: PermissionMap): boolean {
  // admin holds every permission: it is the role that can repair any other grant.
  if (roles.has('admin')) return true;
  return map[permission].some((r) => roles.has(r));
}
