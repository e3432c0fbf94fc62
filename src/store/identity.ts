import { sqlOf, type Database, type Tx } from './db.ts';
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

export async function grantedRoles(tx: Tx, userId: string, o: { person?: boolean } = {}): Promise<Role[]> {
  // With `person`, the roles granted to any account linked to this one (`/muster link`): roles belong to the person.
  let ids = [userId];
  if (o.person) {
    const me = await tx.user.findUnique({ where: { id: userId }, select: { personId: true } });
    if (me?.personId) ids = (await tx.user.findMany({ where: { personId: me.personId }, select: { id: true } })).map((u) => u.id);
  }
  const rows = await tx.roleGrant.findMany({ where: { userId: { in: ids } }, select: { role: true }, orderBy: { role: 'asc' } });
  return [...new Set(rows.map((r) => r.role).filter(isRole))];
}

/**
 * grantedRoles with `person` in one statement of committed data, outside any transaction (db.query): the
 * roles granted to the account or to any account linked to the same person.
 */
export async function personRoles(db: Database, userId: string): Promise<Role[]> {
  const rows = await db.query<{ role: string }>(
    `SELECT DISTINCT g.role AS role FROM role_grants g JOIN users u ON u.id = g.user_id
      WHERE u.id = ? OR u.person_id = (SELECT p.person_id FROM users p WHERE p.id = ?)
      ORDER BY role`,
    userId,
    userId,
  );
  return rows.map((r) => r.role).filter(isRole);
}

/** Next dense number for INC/CHG/APR in a workspace; taken inside the caller's transaction. */
export async function nextNumber(tx: Tx, workspaceId: string, kind: string): Promise<number> {
  // Raw: one statement on the path of every declaration and request (the model API's upsert cost ten times more).
  const [row] = await sqlOf(tx).all<{ value: number | bigint }>(
    'INSERT INTO counters (workspace_id, kind, value) VALUES (?, ?, 1) ON CONFLICT (workspace_id, kind) DO UPDATE SET value = counters.value + 1 RETURNING value',
    workspaceId,
    kind,
  );
  return Number(row!.value);
}
