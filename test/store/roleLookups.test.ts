import { describe, expect, it } from 'vitest';
import { onMigratedDatabase } from '../support/store.ts';
import { sqlOf, type Database } from '../../src/store/db.ts';
import { ensureUser, ensureWorkspace, grantedRoles, grantsOfAccountsSql, holderGrantsSql, personRoles, ROLES_OF_ACCOUNT, ROLES_OF_PERSON } from '../../src/store/identity.ts';

/**
 * The role lookups on the path of every command and click (the actor's roles) and of every approval card drawn (who
 * may still approve): right answers, and plans that look grants up through an index instead of reading every grant
 * (a scan cost 5.4 ms an actor at 20,000 grants on SQLite; see src/store/identity.ts).
 */
let db: Database;
onMigratedDatabase((d) => {
  db = d;
});

const now = new Date('2026-11-28T09:00:00Z');
let slack: string;
let discord: string;
const ids: Record<string, string> = {};

async function seed(): Promise<void> {
  await db.tx(async (tx) => {
    slack = await ensureWorkspace(tx, 'slack', 'T1', now);
    discord = await ensureWorkspace(tx, 'discord', 'G1', now);
    for (const [key, ws, ext] of [
      ['ana', 'slack', 'UANA'],
      ['bo', 'slack', 'UBO'],
      ['cy', 'slack', 'UCY'],
      ['anaDiscord', 'discord', 'DANA'],
    ] as const) {
      ids[key] = await ensureUser(tx, ws === 'slack' ? slack : discord, ext, now);
    }
    // Ana's Slack and Discord accounts are one person (`/muster link`).
    await tx.user.updateMany({ where: { id: { in: [ids.ana!, ids.anaDiscord!] } }, data: { personId: 'person-ana' } });
    const grant = (workspaceId: string, userId: string, role: string) => tx.roleGrant.create({ data: { workspaceId, userId, role, grantedBy: 'test', createdAt: now } });
    await grant(slack, ids.ana!, 'oncall');
    await grant(slack, ids.ana!, 'cto');
    await grant(discord, ids.anaDiscord!, 'security_lead');
    await grant(slack, ids.bo!, 'release_manager');
    await grant(slack, ids.bo!, 'oncall');
  });
}

describe('role lookups', () => {
  it("an account's roles, a person's across linked accounts in other workspaces, and nobody else's", async () => {
    await seed();
    expect(await personRoles(db, ids.ana!)).toEqual(['cto', 'oncall', 'security_lead']);
    expect(await personRoles(db, ids.anaDiscord!)).toEqual(['cto', 'oncall', 'security_lead']);
    expect(await db.read((tx) => grantedRoles(tx, ids.ana!))).toEqual(['cto', 'oncall']);
    expect(await db.read((tx) => grantedRoles(tx, ids.anaDiscord!))).toEqual(['security_lead']);
    expect(await db.tx((tx) => grantedRoles(tx, ids.ana!, { person: true }))).toEqual(['cto', 'oncall', 'security_lead']);
    expect(await personRoles(db, ids.bo!)).toEqual(['oncall', 'release_manager']);
    // no grant, no person; and an account never seen
    expect(await personRoles(db, ids.cy!)).toEqual([]);
    expect(await personRoles(db, `${slack}:UNOBODY`)).toEqual([]);

    // The holders of cto or release_manager in the Slack workspace, with every grant they hold there.
    const holders = await db.tx((tx) => sqlOf(tx).all<{ workspace_id: string; user_id: string; role: string }>(holderGrantsSql(1, 2), slack, slack, 'cto', 'release_manager'));
    expect(holders.map((g) => `${g.user_id} ${g.role}`).sort()).toEqual([`${ids.ana} cto`, `${ids.ana} oncall`, `${ids.bo} oncall`, `${ids.bo} release_manager`].sort());
    const ofAccounts = await db.tx((tx) => sqlOf(tx).all<{ user_id: string; role: string }>(grantsOfAccountsSql(2), ids.anaDiscord, ids.cy));
    expect(ofAccounts).toEqual([{ user_id: ids.anaDiscord, role: 'security_lead' }]);
  });

  it('each lookup finds grants through an index on (workspace, user) or (workspace, role), never by reading every grant', async () => {
    const lookups: [string, unknown[]][] = [
      [ROLES_OF_PERSON, [ids.ana, ids.ana]],
      [ROLES_OF_ACCOUNT, [ids.ana]],
      [holderGrantsSql(1, 2), [slack, slack, 'cto', 'release_manager']],
      [grantsOfAccountsSql(2), [ids.ana, ids.bo]],
    ];
    for (const [sql, params] of lookups) {
      if (db.provider === 'sqlite') {
        const plan = (await db.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, ...params)).map((r) => r.detail);
        const onGrants = plan.filter((d) => /\b(role_grants|g)\b/.test(d) && /^(SCAN|SEARCH)/.test(d));
        expect(onGrants.length, plan.join('\n')).toBeGreaterThan(0);
        for (const d of onGrants) expect(d, plan.join('\n')).toMatch(/^SEARCH (role_grants|g) USING (COVERING )?INDEX role_grants_workspace_id_(user_id_role_key|role_user_id_idx) \(workspace_id=\?/);
      } else {
        // A handful of rows: PostgreSQL would rather read the table. With sequential and bitmap scans off it shows the
        // index it can use; the condition must start with the workspace (the first column), or it would walk the whole
        // index.
        const plan = await db.tx(async (tx) => {
          await sqlOf(tx).all("SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)");
          return (await sqlOf(tx).all<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, ...params)).map((r) => r['QUERY PLAN']);
        });
        const text = plan.join('\n');
        const scans = plan.map((l, i) => [l, plan[i + 1] ?? ''] as const).filter(([l]) => /on role_grants/.test(l));
        expect(scans.length, text).toBeGreaterThan(0);
        for (const [scan, next] of scans) {
          expect(scan, text).toMatch(/Index (Only )?Scan using role_grants_workspace_id_(user_id_role_key|role_user_id_idx)/);
          expect(next, text).toMatch(/Index Cond: \(+workspace_id = /);
        }
      }
    }
  });
});
