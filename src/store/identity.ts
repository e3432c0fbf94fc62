import type { Tx } from './db.ts';
import { isRole, type Role } from '../domain/rbac.ts';

export const workspaceIdOf = (platform: string, externalId: string) => `${platform}:${externalId}`;
export const userIdOf = (workspaceId: string, externalUserId: string) => `${workspaceId}:${externalUserId}`;

export async function ensureWorkspace(tx: Tx, platform: string, externalId: string, now: Date, name?: string): Promise<string> {
  const id = workspaceIdOf(platform, externalId);
  await tx.workspace.upsert({ where: { id }, create: { id, platform, externalId, name: name ?? null, createdAt: now }, update: {} });
  return id;
}

export async function ensureUser(tx: Tx, workspaceId: string, externalId: string, now: Date, name?: string): Promise<string> {
  const id = userIdOf(workspaceId, externalId);
  await tx.user.upsert({
    where: { id },
    create: { id, workspaceId, externalId, name: name ?? null, createdAt: now, updatedAt: now },
    update: name ? { name, updatedAt: now } : {},
  });
  return id;
}

export async function grantedRoles(tx: Tx, userId: string): Promise<Role[]> {
  const rows = await tx.roleGrant.findMany({ where: { userId }, select: { role: true }, orderBy: { role: 'asc' } });
  return rows.map((r) => r.role).filter(isRole);
}

/** Next dense number for INC/CHG/APR in a workspace; taken inside the caller's transaction. */
export async function nextNumber(tx: Tx, workspaceId: string, kind: string): Promise<number> {
  const row = await tx.counter.upsert({
    where: { workspaceId_kind: { workspaceId, kind } },
    create: { workspaceId, kind, value: 1 },
    update: { value: { increment: 1 } },
  });
  return row.value;
}
