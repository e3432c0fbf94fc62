import { marksFor, sqlOf, type Database, type Tx } from './db.ts';
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

/**
 * The grants of an account, or with `person` of every account linked to it (`/muster link`: roles belong to the
 * person). Its accounts are found first (users: by id, and by person_id, each through an index), then their grants
 * through role_grants' unique (workspace_id, user_id, role) index: a lookup, whatever the number of grants. Joined
 * the other way round (grants to users), SQLite read every grant of every workspace for each actor: 5.4 ms a lookup
 * at 20,000 grants against 21 µs (scripted with better-sqlite3 on the schema with 20,000 made-up grants). bench/cost.ts
 * (People) measures it through Kernel.actor.
 */
export const ROLES_OF_ACCOUNT = `SELECT DISTINCT g.role AS role FROM role_grants g
  WHERE (g.workspace_id, g.user_id) IN (SELECT u.workspace_id, u.id FROM users u WHERE u.id = ?)
  ORDER BY role`;
export const ROLES_OF_PERSON = `SELECT DISTINCT g.role AS role FROM role_grants g
  WHERE (g.workspace_id, g.user_id) IN (
    SELECT u.workspace_id, u.id FROM users u WHERE u.id = ? OR u.person_id = (SELECT p.person_id FROM users p WHERE p.id = ?))
  ORDER BY role`;

export async function grantedRoles(tx: Tx, userId: string, o: { person?: boolean } = {}): Promise<Role[]> {
  const rows = o.person ? await sqlOf(tx).all<{ role: string }>(ROLES_OF_PERSON, userId, userId) : await sqlOf(tx).all<{ role: string }>(ROLES_OF_ACCOUNT, userId);
  return rows.map((r) => r.role).filter(isRole);
}

/**
 * grantedRoles with `person` in one statement of committed data, outside any transaction (db.query): the
 * roles granted to the account or to any account linked to the same person.
 */
export async function personRoles(db: Database, userId: string): Promise<Role[]> {
  const rows = await db.query<{ role: string }>(ROLES_OF_PERSON, userId, userId);
  return rows.map((r) => r.role).filter(isRole);
}

/**
 * Every grant of everyone holding one of `roles` in one of `workspaces` (an approval card's candidates, and their
 * other roles): the holders through role_grants (workspace_id, role, user_id), then their grants through the unique
 * (workspace_id, user_id, role). Without the first index the holders were a scan of the workspace's grants on every
 * card drawn: 2.1 ms at 20,000 grants of which 15 were approvers' against 71 µs with it (SQLite, scripted).
 * Parameters: the workspaces, the workspaces again, the roles.
 */
export function holderGrantsSql(workspaces: number, roles: number): string {
  return `SELECT workspace_id, user_id, role FROM role_grants WHERE workspace_id IN (${marksFor(workspaces)}) AND user_id IN (
    SELECT user_id FROM role_grants WHERE workspace_id IN (${marksFor(workspaces)}) AND role IN (${marksFor(roles)})) ORDER BY id`;
}

/** The grants of `accounts` user ids, through users' primary key and role_grants' unique index (no scan of grants). */
export function grantsOfAccountsSql(accounts: number): string {
  return `SELECT g.user_id AS user_id, g.role AS role FROM role_grants g
    WHERE (g.workspace_id, g.user_id) IN (SELECT u.workspace_id, u.id FROM users u WHERE u.id IN (${marksFor(accounts)})) ORDER BY g.id`;
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
