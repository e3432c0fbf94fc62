import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { loadMigrations, migrate, pendingMigrations } from '../../src/store/migrate.ts';
import { openDatabase, type Database } from '../../src/store/db.ts';
import { BATCH, DATA_MIGRATIONS_TABLE_MIGRATION, NEUTRAL_TEXT, type DataStep, type StepBody } from '../../src/store/dataMigrations.ts';
import { code, decodeText, emoji, rt, strong } from '../../src/domain/text.ts';

/**
 * The upgrade to neutral rich text on a database the previous version wrote: its rows are read
 * once (mentions and channels become nodes, nudges' marks become emphasis), and rows written
 * after the upgrade are never read that way again.
 */

let tdb: TestDatabase;
const at = new Date('2026-11-20T10:00:00.000Z');
const WS = 'slack:T1';
const BULK = BATCH * 2 + 37;

async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(tdb.url);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Every row the step may touch, as stored. */
function snapshot() {
  return withDb((db) =>
    db.read(async (tx) => ({
      incidents: await tx.incident.findMany({ orderBy: { id: 'asc' } }),
      timeline: await tx.timelineEntry.findMany({ orderBy: { id: 'asc' } }),
      actions: await tx.actionItem.findMany({ orderBy: { id: 'asc' } }),
      nudges: await tx.nudge.findMany({ orderBy: { id: 'asc' } }),
      // The columns the step reads and writes (the database may be at an older schema than the client).
      approvals: await tx.approvalRequest.findMany({ orderBy: { id: 'asc' }, select: { id: true, title: true, reason: true, rejectReason: true, breakGlassReason: true, status: true } }),
      votes: await tx.approvalVote.findMany({ orderBy: { id: 'asc' } }),
      outbox: await tx.outboxEffect.findMany({ orderBy: { id: 'asc' } }),
    })),
  );
}

const NUDGE_0 = 'INC-1 (P1) has had no incident commander for 16m (respond SLA 15m). Someone press *Take commander*.';
const NUDGE_1 = ':rotating_light: Escalated to admin (level 1): INC-1 (P1) has had no update for 1h 5m (cadence 1h). Post one with `/incident update …` or *Post update*.';
const NUDGE_PLAIN = 'INC-1 (P1) is past its resolution SLA of 1d (open 1d 2h).';

const payload = (args: Record<string, unknown>, hook?: Record<string, unknown>) => JSON.stringify({ args, ...(hook ? { hook } : {}) });

/**
 * A row written with plain SQL: the database is at the schema before the data step, and later migrations add
 * columns (with defaults) that today's Prisma client would write and that schema does not have.
 */
async function insertRaw(db: Database, table: string, row: Record<string, unknown>) {
  const pg = tdb.provider === 'postgresql';
  const cols = Object.keys(row);
  // SQLite keeps Prisma's DateTime as ISO text with an offset, booleans as 0/1.
  const values = cols.map((c) => {
    const v = row[c];
    if (v instanceof Date) return pg ? v : v.toISOString().replace('Z', '+00:00');
    if (typeof v === 'boolean' && !pg) return v ? 1 : 0;
    return v;
  });
  const sql = `INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map((_, i) => (pg ? `$${i + 1}` : '?')).join(', ')})`;
  await db.tx((tx) => tx.$executeRawUnsafe(sql, ...values));
}

/** The rows exactly as 1c0e9b9's services wrote them (through Prisma, strings with references inside). */
async function writeLegacyRows(db: Database) {
  const request = { workspace_id: WS, kind: 'deploy', route: '{"steps":[]}', requester_id: `${WS}:U5`, expires_at: at, created_at: at, updated_at: at };
  await insertRaw(db, 'approval_requests', {
    ...request,
    id: 'apr-1',
    number: 1,
    title: 'Deploy api 1.2.3 to production',
    reason: 'Hotfix asked by <@U1> in <#C2>',
    status: 'rejected',
    reject_reason: 'Not before <@U3> signs off',
    break_glass: true,
    break_glass_reason: 'Outage, see <#C3>',
  });
  await insertRaw(db, 'approval_requests', { ...request, id: 'apr-2', number: 2, kind: 'decision', title: 'Buy licences for <@U6>', reason: 'plain reason', status: 'pending' });
  await db.tx(async (tx) => {
    await tx.incident.create({
      data: {
        id: 'inc-1',
        workspaceId: WS,
        number: 1,
        title: 'Checkout down, paged <@U1>',
        description: 'Reported in <#C7> by <@U2>',
        severity: 'P1',
        status: 'resolved',
        reporterId: `${WS}:U2`,
        channelId: 'C100',
        channelName: 'inc-1-checkout-down',
        publicTitle: 'Checkout issues for <@U1>',
        publicText: 'We are on it with <@U1>',
        publicServices: '["checkout <#C7>"]',
        summary: 'Rolled back by <@U1>',
        postmortem: '# INC-1\n\n@U1 rolled back',
        declaredAt: at,
        lastUpdateAt: at,
        createdAt: at,
        updatedAt: at,
      },
    });
    await tx.incident.create({
      data: {
        id: 'inc-2',
        workspaceId: WS,
        number: 2,
        title: 'Search slow & flaky <3',
        severity: 'P3',
        status: 'investigating',
        reporterId: `${WS}:U2`,
        declaredAt: at,
        lastUpdateAt: at,
        createdAt: at,
        updatedAt: at,
      },
    });
    const entry = (kind: string, text: string) => ({ incidentId: 'inc-1', kind, text, at });
    await tx.timelineEntry.createMany({
      data: [
        entry('role', 'Commander: <@U1> (relieves <@U2>)'),
        entry('note', 'Asked <#C1> and <@U3> to look'),
        entry('status', 'investigating → identified: cache & CDN < 5% errors *now*'),
        entry('note', 'the <@abc> placeholder and <b>tags</b>'),
        entry('invite', 'Could not add <@U4> (is a guest and cannot be invited to this channel). Add them by hand if they are needed here.'),
        entry('public', 'Fixed, thanks to <@U1>'),
        ...Array.from({ length: BULK }, (_, i) => entry('pinned', i % 5 === 0 ? `plain pinned message ${i}` : `pinned ${i} by <@U${i}>`)),
      ],
    });
    await tx.actionItem.create({ data: { id: 'act-1', incidentId: 'inc-1', number: 1, text: 'Add an alert, ask <@U1>', createdBy: `${WS}:U2`, createdAt: at } });
    await tx.actionItem.create({ data: { id: 'act-2', incidentId: 'inc-1', number: 2, text: 'Write the post-incident review of INC-1', createdBy: `${WS}:U2`, createdAt: at } });
    const nudge = (id: string, kind: string, level: number, text: string) => ({ id, workspaceId: WS, subjectType: 'incident', subjectId: 'inc-1', kind, level, text, sentAt: at });
    await tx.nudge.createMany({ data: [nudge('n-0', 'no-commander', 0, NUDGE_0), nudge('n-1', 'update-due', 1, NUDGE_1), nudge('n-2', 'resolve-sla', 0, NUDGE_PLAIN)] });
    await tx.approvalVote.create({ data: { requestId: 'apr-1', userId: `${WS}:U3`, decision: 'reject', reason: 'Checked with <@U2>', step: 0, createdAt: at } });
    await tx.approvalVote.create({ data: { requestId: 'apr-1', userId: `${WS}:U4`, decision: 'approve', reason: 'LGTM', step: 0, createdAt: at } });
    const effect = (op: string, status: string, p: string) => ({ platform: 'slack', workspaceId: WS, op, status, payload: p });
    await tx.outboxEffect.createMany({
      data: [
        effect('postMessage', 'pending', payload({ channel: 'C100', text: '<@U1> Status → *identified*: see <#C1>' })),
        effect('postMessage', 'done', payload({ channel: 'C100', text: '<@U1> Status → *identified*: see <#C1>' })),
        effect(
          'postMessage',
          'running',
          payload({ channel: '#incidents', surface: { kind: 'incident.announcement', incidentId: 'inc-1', headline: 'P1 incident declared: INC-1 Checkout down, paged <@U1>' } }),
        ),
        effect('dm', 'dead', payload({ user: 'U1', surface: { kind: 'incident.action', actionId: 'act-1', intro: '<@U2> gave you a follow-up from INC-1' } })),
        effect('setTopic', 'pending', payload({ channel: { $ref: 1, path: 'channel' }, topic: 'INC-1 · P1 · Checkout down, paged <@U1> — incident card pinned in this channel' })),
        effect(
          'postMessage',
          'hooking',
          payload({ channel: 'C100', text: 'no mention here', surface: { kind: 'nudge', nudgeId: 'n-0', mentions: ['U1'] } }, { name: 'nudge.posted', data: { nudgeId: 'n-0' } }),
        ),
        { platform: 'audit', op: 'audit.checkpoint', status: 'pending', payload: payload({ line: 'muster-audit-checkpoint v1 seq=3' }) },
      ],
    });
  });
}

let before: Awaited<ReturnType<typeof snapshot>>;
let after: Awaited<ReturnType<typeof snapshot>>;
let runs: Awaited<ReturnType<typeof migrate>>[];

beforeAll(async () => {
  tdb = await createTestDatabase();
  const names = loadMigrations(tdb.provider).map((m) => m.name);
  const previous = names[names.indexOf(DATA_MIGRATIONS_TABLE_MIGRATION) - 1]!;
  const old = await migrate(tdb.url, { upTo: previous });
  expect(old.dataSteps).toEqual([]);
  await withDb(async (db) => {
    await writeLegacyRows(db);
    expect(await pendingMigrations(db)).toEqual([...names.slice(names.indexOf(DATA_MIGRATIONS_TABLE_MIGRATION)), NEUTRAL_TEXT.name]);
  });
  before = await snapshot();
  // Two instances starting together.
  runs = await Promise.all([migrate(tdb.url), migrate(tdb.url)]);
  after = await snapshot();
});
afterAll(async () => tdb.drop());

describe('the neutral text data step', () => {
  it('runs once, recorded, under the migration lock', async () => {
    expect(runs.flatMap((r) => r.dataSteps)).toEqual([NEUTRAL_TEXT.name]);
    expect(runs.flatMap((r) => r.applied)).toContain(DATA_MIGRATIONS_TABLE_MIGRATION);
    await withDb(async (db) => {
      expect(await pendingMigrations(db)).toEqual([]);
      const rows = await db.read((tx) => tx.dataMigration.findMany());
      expect(rows.map((r) => r.name)).toEqual([NEUTRAL_TEXT.name]);
      expect(rows[0]!.appliedAt).toBeInstanceOf(Date);
    });
  });

  it('turns an incident’s references into people and channels', () => {
    const inc = after.incidents.find((i) => i.id === 'inc-1')!;
    expect(decodeText(inc.title)).toEqual(['Checkout down, paged ', { person: 'U1' }]);
    expect(decodeText(inc.description!)).toEqual(['Reported in ', { channel: 'C7' }, ' by ', { person: 'U2' }]);
    expect(decodeText(inc.summary!)).toEqual(['Rolled back by ', { person: 'U1' }]);
  });

  it('leaves the status page’s plain fields, the postmortem and rows without markup byte-identical', () => {
    const [inc1, inc2] = [after.incidents.find((i) => i.id === 'inc-1')!, after.incidents.find((i) => i.id === 'inc-2')!];
    const old1 = before.incidents.find((i) => i.id === 'inc-1')!;
    expect(inc1.publicTitle).toBe(old1.publicTitle);
    expect(inc1.publicText).toBe(old1.publicText);
    expect(inc1.publicServices).toBe(old1.publicServices);
    expect(inc1.postmortem).toBe(old1.postmortem);
    expect(inc2).toEqual(before.incidents.find((i) => i.id === 'inc-2'));
    expect(after.actions.find((a) => a.id === 'act-2')!.text).toBe('Write the post-incident review of INC-1');
    expect(after.approvals.find((a) => a.id === 'apr-1')!.title).toBe('Deploy api 1.2.3 to production');
    expect(after.votes.find((v) => v.reason === 'LGTM')).toBeDefined();
  });

  it('turns timeline entries and follow-ups into neutral text; typed text stays typed', () => {
    const texts = after.timeline.slice(0, 6).map((e) => decodeText(e.text));
    expect(texts).toEqual([
      ['Commander: ', { person: 'U1' }, ' (relieves ', { person: 'U2' }, ')'],
      ['Asked ', { channel: 'C1' }, ' and ', { person: 'U3' }, ' to look'],
      'investigating → identified: cache & CDN < 5% errors *now*',
      'the <@abc> placeholder and <b>tags</b>',
      ['Could not add ', { person: 'U4' }, ' (is a guest and cannot be invited to this channel). Add them by hand if they are needed here.'],
      ['Fixed, thanks to ', { person: 'U1' }],
    ]);
    expect(after.timeline[2]!.text).toBe(before.timeline[2]!.text);
    expect(after.timeline[3]!.text).toBe(before.timeline[3]!.text);
    expect(decodeText(after.actions.find((a) => a.id === 'act-1')!.text)).toEqual(['Add an alert, ask ', { person: 'U1' }]);
    // The other columns of a rewritten row are untouched.
    expect(after.timeline.map(({ text: _t, ...rest }) => rest)).toEqual(before.timeline.map(({ text: _t, ...rest }) => rest));
  });

  it(`reads every row of a table larger than a batch (${BULK} pinned messages, ${BATCH} at a time)`, () => {
    const bulk = after.timeline.slice(6);
    expect(bulk).toHaveLength(BULK);
    bulk.forEach((e, i) => {
      if (i % 5 === 0) expect(e.text).toBe(`plain pinned message ${i}`);
      else expect(decodeText(e.text)).toEqual([`pinned ${i} by `, { person: `U${i}` }]);
    });
  });

  it('turns nudges’ marks into emphasis, code and emoji, as the current code writes them', () => {
    const text = (id: string) => decodeText(after.nudges.find((n) => n.id === id)!.text);
    expect(text('n-0')).toEqual(rt`INC-1 (P1) has had no incident commander for 16m (respond SLA 15m). Someone press ${strong('Take commander')}.`);
    expect(text('n-1')).toEqual(
      rt`${emoji('rotating_light')} Escalated to admin (level 1): INC-1 (P1) has had no update for 1h 5m (cadence 1h). Post one with ${code('/incident update …')} or ${strong('Post update')}.`,
    );
    expect(text('n-2')).toBe(NUDGE_PLAIN);
  });

  it('turns approval requests’ and votes’ references into nodes', () => {
    const apr = after.approvals.find((a) => a.id === 'apr-1')!;
    expect(decodeText(apr.reason!)).toEqual(['Hotfix asked by ', { person: 'U1' }, ' in ', { channel: 'C2' }]);
    expect(decodeText(apr.rejectReason!)).toEqual(['Not before ', { person: 'U3' }, ' signs off']);
    expect(decodeText(apr.breakGlassReason!)).toEqual(['Outage, see ', { channel: 'C3' }]);
    expect(decodeText(after.approvals.find((a) => a.id === 'apr-2')!.title)).toEqual(['Buy licences for ', { person: 'U6' }]);
    expect(decodeText(after.votes.find((v) => v.decision === 'reject')!.reason!)).toEqual(['Checked with ', { person: 'U2' }]);
  });

  it('reads the text of effects not yet done; done ones and other arguments stay as they were', () => {
    const args = (i: number) => JSON.parse(after.outbox[i]!.payload).args;
    expect(args(0).text).toEqual([{ person: 'U1' }, ' Status → *identified*: see ', { channel: 'C1' }]);
    expect(after.outbox[1]!.payload).toBe(before.outbox[1]!.payload);
    expect(args(2).surface).toEqual({ kind: 'incident.announcement', incidentId: 'inc-1', headline: ['P1 incident declared: INC-1 Checkout down, paged ', { person: 'U1' }] });
    expect(args(3).surface.intro).toEqual([{ person: 'U2' }, ' gave you a follow-up from INC-1']);
    expect(args(4)).toEqual({ channel: { $ref: 1, path: 'channel' }, topic: ['INC-1 · P1 · Checkout down, paged ', { person: 'U1' }, ' — incident card pinned in this channel'] });
    expect(after.outbox[5]!.payload).toBe(before.outbox[5]!.payload);
    expect(after.outbox[6]!.payload).toBe(before.outbox[6]!.payload);
    expect(after.outbox.map(({ payload: _p, ...rest }) => rest)).toEqual(before.outbox.map(({ payload: _p, ...rest }) => rest));
  });

  it('changes nothing when migrate runs again', async () => {
    const again = await migrate(tdb.url);
    expect(again.applied).toEqual([]);
    expect(again.dataSteps).toEqual([]);
    expect(await snapshot()).toEqual(after);
  });

  it('never touches rows written after the upgrade: a typed <@U9> stays a string', async () => {
    await withDb((db) =>
      db.tx(async (tx) => {
        await tx.timelineEntry.create({ data: { incidentId: 'inc-2', kind: 'note', text: 'typed <@U9> literally', at } });
        await tx.actionItem.create({ data: { id: 'act-3', incidentId: 'inc-2', number: 1, text: 'ask <@U9>', createdBy: `${WS}:U2`, createdAt: at } });
        await tx.nudge.create({ data: { id: 'n-3', workspaceId: WS, subjectType: 'incident', subjectId: 'inc-2', kind: 'update-due', text: 'no *marks* read :warning:', sentAt: at } });
        await tx.outboxEffect.create({ data: { platform: 'slack', workspaceId: WS, op: 'postMessage', payload: payload({ channel: 'C100', text: 'typed <@U9>' }) } });
      }),
    );
    const written = await snapshot();
    const again = await migrate(tdb.url);
    expect(again.dataSteps).toEqual([]);
    const now = await snapshot();
    expect(now).toEqual(written);
    expect(decodeText(now.timeline.at(-1)!.text)).toBe('typed <@U9> literally');
    expect(decodeText(now.actions.find((a) => a.id === 'act-3')!.text)).toBe('ask <@U9>');
    expect(decodeText(now.nudges.find((n) => n.id === 'n-3')!.text)).toBe('no *marks* read :warning:');
    expect(JSON.parse(now.outbox.at(-1)!.payload).args.text).toBe('typed <@U9>');
  });
});

describe('data steps', () => {
  it('roll back with their work when they fail, and stay pending until one succeeds', async () => {
    const own = await createTestDatabase();
    try {
      await migrate(own.url, { dataSteps: [] });
      const odb = await openDatabase(own.url);
      try {
        await odb.tx((tx) => tx.processedRequest.create({ data: { key: 'k1', response: 'before' } }));
        const step = (fail: boolean): DataStep => ({
          name: '20991231000000_test_step',
          *run(): StepBody {
            yield { sql: 'UPDATE "processed_requests" SET "response" = ? WHERE "key" = ?', params: ['after', 'k1'] };
            const rows = yield { sql: 'SELECT "response" FROM "processed_requests" WHERE "key" = ?', params: ['k1'] };
            expect(rows).toEqual([{ response: 'after' }]);
            if (fail) throw new Error('boom');
          },
        });
        await expect(migrate(own.url, { dataSteps: [step(true)] })).rejects.toThrow('data step 20991231000000_test_step failed: boom');
        const response = () => odb.read((tx) => tx.processedRequest.findUniqueOrThrow({ where: { key: 'k1' } })).then((r) => r.response);
        expect(await response()).toBe('before');
        expect(await pendingMigrations(odb, [step(false)])).toEqual(['20991231000000_test_step']);
        expect((await migrate(own.url, { dataSteps: [step(false)] })).dataSteps).toEqual(['20991231000000_test_step']);
        expect(await response()).toBe('after');
        expect(await pendingMigrations(odb, [step(false)])).toEqual([]);
        expect((await migrate(own.url, { dataSteps: [step(true)] })).dataSteps).toEqual([]);
      } finally {
        await odb.close();
      }
    } finally {
      await own.drop();
    }
  });
});
