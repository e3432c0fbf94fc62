// incidentViews draws many incidents with a fixed number of queries: each one must show exactly what it shows drawn
// alone (its role holders, open follow-ups, and the changes around it: carried out in its window on its services, at
// most the newest 500, suspected causes, changes raised in it), whatever the others in the list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { migratedDatabase } from '../support/store.ts';
import type { Database } from '../../src/store/db.ts';
import { defaultPolicy } from '../../src/config/policy.ts';
import { incidentView, incidentViews } from '../../src/services/incidentViews.ts';

const W = 'slack:T1';
const H = 3_600_000;
const now = new Date('2026-06-10T12:00:00.000Z');
const at = (hoursAgo: number) => new Date(now.getTime() - hoursAgo * H);
let ctx: Awaited<ReturnType<typeof migratedDatabase>>;
let db: Database;

/** Incidents: declared hours ago, services, resolved hours ago (null: open). */
const INCIDENTS: { n: number; declared: number; services: string[]; resolved: number | null }[] = [
  { n: 1, declared: 48, services: ['api'], resolved: null },
  { n: 2, declared: 10, services: [], resolved: null },
  { n: 3, declared: 1, services: ['search'], resolved: null },
  { n: 4, declared: 30, services: ['api', 'db'], resolved: 2 },
  { n: 5, declared: 70, services: [], resolved: null },
];

beforeAll(async () => {
  ctx = await migratedDatabase();
  db = ctx.db;
  await db.tx(async (tx) => {
    await tx.workspace.create({ data: { id: W, platform: 'slack', externalId: 'T1', createdAt: now } });
    for (const i of INCIDENTS) {
      const status = i.resolved === null ? 'investigating' : 'resolved';
      await tx.incident.create({
        data: {
          id: `inc-${i.n}`,
          workspaceId: W,
          number: i.n,
          title: `Incident ${i.n}`,
          services: JSON.stringify(i.services),
          severity: 'P2',
          status,
          reporterId: `${W}:U${i.n}`,
          declaredAt: at(i.declared),
          lastUpdateAt: at(i.declared),
          resolvedAt: i.resolved === null ? null : at(i.resolved),
          createdAt: at(i.declared),
          updatedAt: at(i.declared),
        },
      });
      await tx.incidentRole.create({ data: { incidentId: `inc-${i.n}`, role: 'commander', userId: `${W}:UC${i.n}`, assignedBy: `${W}:U${i.n}`, assumedAt: at(i.declared) } });
      for (let a = 1; a <= i.n % 3; a++) {
        await tx.actionItem.create({ data: { id: randomUUID(), incidentId: `inc-${i.n}`, number: a, text: 'follow up', status: a === 2 ? 'done' : 'open', createdBy: `${W}:U1`, createdAt: at(1) } });
      }
    }
    // 700 changes over the last 100 hours (one every 8.5 minutes) on api, search and db; some not carried out.
    const statuses = ['implemented', 'failed', 'rolled_back', 'reviewed', 'closed', 'approved', 'implemented'];
    const systems = [['api'], ['search'], ['db'], ['api', 'search'], []];
    const rows = Array.from({ length: 700 }, (_, k) => {
      const status = statuses[k % statuses.length]!;
      const implementedAt = status === 'approved' ? null : at((k * 100) / 700);
      return {
        id: `chg-${k}`,
        workspaceId: W,
        number: 700 - k,
        type: 'normal',
        status,
        title: `Change ${700 - k}`,
        systems: JSON.stringify(systems[k % systems.length]),
        environment: 'production',
        impact: 'low',
        risk: 'low',
        affectedUsers: 'few',
        riskScore: 1,
        riskLevel: 'low',
        requesterId: `${W}:UREQ`,
        implementedAt,
        // two changes implemented at the same time: the number decides their order
        ...(k === 11 ? { implementedAt: at((10 * 100) / 700) } : {}),
        createdAt: at(120),
        updatedAt: at(120),
      };
    });
    await tx.changeRequest.createMany({ data: rows });
    await tx.changeIncidentLink.createMany({
      data: [
        { changeId: 'chg-690', incidentId: 'inc-1', kind: 'suspected_cause', byId: `${W}:U1`, at: at(40) },
        { changeId: 'chg-3', incidentId: 'inc-1', kind: 'suspected_cause', byId: `${W}:U1`, at: at(39) },
        { changeId: 'chg-5', incidentId: 'inc-3', kind: 'raised_in', byId: `${W}:U3`, at: at(0.5) },
        { changeId: 'chg-400', incidentId: 'inc-4', kind: 'suspected_cause', byId: `${W}:U4`, at: at(20) },
      ],
    });
  });
});
afterAll(async () => ctx?.close());

describe('incidentViews', () => {
  it('shows each incident of a list what it shows drawn alone', async () => {
    const policy = defaultPolicy();
    const rows = await db.read((tx) => tx.incident.findMany({ orderBy: { number: 'asc' } }));
    const together = await db.read((tx) => incidentViews(tx, policy, rows, now));
    expect(together.map((v) => v.ref)).toEqual(['INC-1', 'INC-2', 'INC-3', 'INC-4', 'INC-5']);
    for (const [n, row] of rows.entries()) {
      const alone = await db.read((tx) => incidentView(tx, policy, row, now));
      expect(together[n], row.id).toEqual(alone);
    }
    // What the list holds: the oldest open one's window reaches past the newest 500 carried out (its list is cut
    // there), a resolved one ends at its resolution, suspected causes come first, and follow-ups are counted.
    const [one, two, three, four, five] = together;
    expect(five!.changes.recent).toHaveLength(500);
    expect(one!.changes.recent[0]!.ref).toBe('CHG-697');
    expect(one!.changes.recent[0]!.suspected).toBe(true);
    expect(one!.changes.suspectedElsewhere.map((c) => c.ref)).toEqual(['CHG-10']);
    expect(two!.changes.recent.every((c) => c.implementedAt! >= at(34))).toBe(true);
    expect(three!.changes.raised.map((c) => c.ref)).toEqual(['CHG-695']);
    expect(four!.changes.until).toEqual(at(2));
    expect(four!.changes.recent.every((c) => c.implementedAt! <= at(2) && c.implementedAt! >= at(54))).toBe(true);
    expect(together.map((v) => v.openActions)).toEqual([1, 1, 0, 1, 1]);
    expect(together.map((v) => v.commander)).toEqual(['UC1', 'UC2', 'UC3', 'UC4', 'UC5']);
  });
});
