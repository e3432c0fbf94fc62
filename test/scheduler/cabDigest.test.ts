import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startHarness, ADMIN, type Harness } from '../support/harness.ts';
import { TEAM_ID } from '../support/fakeSlack.ts';
import { ACTIONS } from '../../blocks/actionIds.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { defaultPolicy, parsePolicyText } from '../../src/config/policy.ts';
import { formatLocal } from '../../src/domain/windows.ts';
import { CabDigest, type CronOptions, type CronScheduler } from '../../src/scheduler/cabDigest.ts';
import { Kernel } from '../../src/services/kernel.ts';
import { AuditLog } from '../../src/store/audit.ts';
import { openDatabase } from '../../src/store/db.ts';
import type { ChangeInput } from '../../src/services/changes.ts';

/**
 * The CAB digest: pending normal changes, oldest first with their risk, posted to the CAB channel with
 * each card (buttons and all) once per occurrence however many replicas fire; the cards are redrawn by
 * later votes like every other copy; nothing when nothing is pending; the cron runs in the
 * organisation's time zone.
 */
const REQ = 'UREQ';
const RM = 'URM';
const TL = 'UTL';
const SEC = 'USEC';
const PO = 'UPO';
const ONCALL = 'UONCALL';

const policy = parsePolicyText(
  [
    'organization:',
    '  timeZone: Europe/Berlin',
    'changes:',
    '  channel: "#changes"',
    '  cab:',
    '    channel: "#cab"',
    '  standardCatalogue:',
    '    - id: cert-rotation',
    '      title: Rotate a TLS certificate',
  ].join('\n'),
).policy!;
// Tuesday 1 December 2026, 08:00 UTC (09:00 in Berlin); windows open 10:00–16:00 Berlin time.
const clock = new ManualClock(new Date('2026-12-01T08:00:00Z'));
const silent = pino({ level: 'silent' });

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy, clock, users: [REQ, RM, TL, SEC, PO, ONCALL].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CCHANGES', name: 'changes' });
  h.slack.addChannel({ id: 'CCAB', name: 'cab' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['tech_lead', TL],
    ['security_lead', SEC],
    ['product_owner', PO],
    ['oncall', ONCALL],
  ]) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
const actor = (user: string) => h.muster.kernel.actor('slack', TEAM_ID, user);
let requests = 0;
const meta = () => ({ requestId: `test-${++requests}`, channelId: 'C0GENERAL' });
const change = (n: number) => db().read((tx) => tx.changeRequest.findFirstOrThrow({ where: { number: n } }));
const cab = () => h.slack.messages('CCAB');
const digestHeaders = () => cab().filter((m) => m.text.startsWith('CAB digest'));

async function request(user: string, over: Partial<ChangeInput> = {}): Promise<string> {
  const input: ChangeInput = {
    type: 'normal',
    title: 'Upgrade the API gateway',
    environment: 'production',
    systems: ['api'],
    impact: 'medium',
    risk: 'medium',
    affectedUsers: 'some',
    downtime: 'minutes',
    windowStart: new Date('2026-12-09T10:00:00Z'),
    windowEnd: new Date('2026-12-09T11:00:00Z'),
    rollbackPlan: 'Redeploy the previous image',
    rollbackTested: true,
    ...over,
  };
  const r = await h.muster.services.changes.create(await actor(user), meta(), input);
  await h.flush();
  clock.advance(60_000);
  return JSON.stringify(r.text);
}

describe('the CAB digest', () => {
  it('posts nothing when no normal change is pending', async () => {
    expect(await h.muster.cabDigest.runDigest(clock.now())).toEqual([]);
    await request(REQ, {
      type: 'standard',
      title: 'Rotate the edge certificate',
      catalogueId: 'cert-rotation',
      rollbackPlan: undefined,
      impact: 'low',
      risk: 'low',
      affectedUsers: 'none',
      downtime: 'none',
    });
    expect(await h.muster.cabDigest.runDigest(clock.now())).toEqual([]);
    await h.flush();
    expect(cab()).toEqual([]);
  });

  it('two replicas firing for the same occurrence post one digest', async () => {
    // CHG-2: normal, pending. CHG-3: emergency, pending (not the CAB's). CHG-4: normal, high risk, deferred.
    // CHG-5: normal, approved by the CAB. CHG-6: normal, its window on a Saturday (pending, waiting for it).
    await request(REQ, { title: 'Upgrade the API gateway' });
    await request(REQ, { type: 'emergency', title: 'Hotfix the login loop' });
    await request(REQ, { title: 'Migrate the orders table', systems: ['api'], impact: 'high', risk: 'high', affectedUsers: 'many', downtime: 'hours' });
    await h.muster.services.changes.defer(await actor(RM), meta(), (await change(4)).id, 'needs the security review first');
    await request(REQ, { title: 'Bump the web tier', impact: 'low', risk: 'low' });
    for (const u of [RM, TL, SEC]) await h.click(ACTIONS.change.approve, (await change(5)).id, u);
    await request(REQ, { title: 'Weekend reindex', windowStart: new Date('2026-12-12T10:00:00Z'), windowEnd: new Date('2026-12-12T11:00:00Z') });
    await h.flush();
    expect((await change(5)).status).toBe('scheduled');
    expect((await change(6)).windowProblem).not.toBeNull();

    // A second replica: its own kernel (and, on PostgreSQL, its own connection pool) on the same database.
    const other = db().provider === 'postgresql' ? await openDatabase(h.tdb.url) : db();
    const replica = new CabDigest({
      kernel: new Kernel({ db: other, clock, policy, log: silent, admins: [ADMIN], audit: new AuditLog(other.provider, clock, { keyring: h.muster.kernel.audit.keyring }) }),
      log: silent,
    });
    // Monday 7 December 2026, 09:00 in Berlin: the default "0 9 * * 1".
    clock.set(new Date('2026-12-07T08:00:00Z'));
    try {
      const [a, b] = await Promise.all([h.muster.cabDigest.runDigest(clock.now()), replica.runDigest(clock.now())]);
      const outcomes = [...a, ...b].map((r) => r.outcome).sort();
      expect(outcomes).toEqual(['duplicate', 'posted']);
      expect([...a, ...b].find((r) => r.outcome === 'posted')!.changes).toEqual(['CHG-2', 'CHG-4', 'CHG-6']);
      // The same occurrence again (a late replica, a retried callback): nothing more.
      expect((await replica.runDigest(new Date('2026-12-07T08:00:30Z'))).map((r) => r.outcome)).toEqual(['duplicate']);
    } finally {
      if (other !== db()) await other.close();
    }
    await h.flush();
    expect(digestHeaders()).toHaveLength(1);
    expect(await db().read((tx) => tx.processedRequest.count({ where: { key: `cab-digest:slack:${TEAM_ID}:2026-12-07T08:00Z` } }))).toBe(1);
  });

  it('lists only the pending normal changes, oldest first, with their risk, deferred ones marked, then each card with its buttons', async () => {
    const [head, ...cards] = cab();
    expect(head!.text).toBe('CAB digest — 3 pending normal changes, oldest first');
    const listed = JSON.stringify(head!.blocks);
    const at = (ref: string) => listed.indexOf(`${ref}*`);
    expect(at('CHG-2')).toBeGreaterThan(-1);
    expect(at('CHG-2')).toBeLessThan(at('CHG-4'));
    expect(at('CHG-4')).toBeLessThan(at('CHG-6'));
    for (const ref of ['CHG-1', 'CHG-3', 'CHG-5']) expect(at(ref)).toBe(-1);
    const c2 = await change(2);
    const c4 = await change(4);
    expect(listed).toContain(`risk *${c2.riskLevel} (${c2.riskScore})*`);
    expect(listed).toContain(`risk *${c4.riskLevel} (${c4.riskScore})*`);
    expect(c4.riskLevel).not.toBe(c2.riskLevel);
    expect(listed).toContain('1 of them deferred to this CAB');
    expect(listed).toMatch(/\*Deferred\*[^"]*needs the security review first/);
    expect(listed).toContain('Its window cannot be used');
    // The cards follow in the same order, each with its buttons.
    expect(cards.map((m) => m.text.split(' ')[0])).toEqual(['CHG-2', 'CHG-4', 'CHG-6']);
    const labels = (m: { blocks?: unknown[] }) =>
      JSON.stringify(m.blocks ?? [])
        .match(/"type":"button"[^}]*?"text":"([^"]+)"|"text":\{"type":"plain_text","text":"([^"]+)"/g)
        ?.join(' ') ?? '';
    for (const card of cards.slice(0, 2)) {
      for (const b of ['Approve', 'Reject', 'Defer']) expect(labels(card)).toContain(b);
    }
    expect(labels(cards[2]!)).toContain('Ask for an exception');
    const rows = await db().read((tx) => tx.changeCard.findMany({ where: { place: 'digest' }, orderBy: { id: 'asc' } }));
    expect(rows.map((r) => r.changeId)).toEqual([c2.id, c4.id, (await change(6)).id]);
    const audit = await db().read((tx) => tx.auditEntry.findMany({ where: { action: 'change.cab.digest' }, orderBy: { seq: 'asc' } }));
    expect(audit.map((e) => [e.subjectId, e.actorId])).toEqual([
      ['CHG-2', 'system'],
      ['CHG-4', 'system'],
      ['CHG-6', 'system'],
    ]);
  });

  it('a later vote redraws its card in the digest too', async () => {
    const c2 = await change(2);
    const row = await db().read((tx) => tx.changeCard.findFirstOrThrow({ where: { changeId: c2.id, place: 'digest' } }));
    const effect = await db().read((tx) => tx.outboxEffect.findUniqueOrThrow({ where: { id: row.effectId } }));
    const { channel, ts } = JSON.parse(effect.result!) as { channel: string; ts: string };
    expect(channel).toBe('CCAB');
    expect(JSON.stringify(h.slack.message(channel, ts)!.blocks)).not.toContain(RM);
    await h.click(ACTIONS.change.approve, c2.id, RM);
    await h.flush();
    const redrawn = JSON.stringify(h.slack.message(channel, ts)!.blocks);
    expect(redrawn).toContain(RM);
    expect(redrawn).toContain('1/3');
    // Decided: its digest copy no longer offers the vote.
    for (const u of [TL, SEC]) await h.click(ACTIONS.change.approve, c2.id, u);
    await h.flush();
    expect((await change(2)).status).toBe('scheduled');
    const decided = JSON.stringify(h.slack.message(channel, ts)!.blocks);
    expect(decided).not.toContain(ACTIONS.change.approve);
    expect(decided).toContain(ACTIONS.change.start);
  });

  it('the next occurrence posts again, without what was decided since', async () => {
    clock.set(new Date('2026-12-14T08:00:00Z'));
    const [run] = await h.muster.cabDigest.runDigest(clock.now());
    expect(run).toMatchObject({ outcome: 'posted', changes: ['CHG-4', 'CHG-6'] });
    await h.flush();
    expect(digestHeaders().map((m) => m.text)).toEqual(['CAB digest — 3 pending normal changes, oldest first', 'CAB digest — 2 pending normal changes, oldest first']);
  });
});

describe('scheduling', () => {
  it('gives node-cron the digest expression and the organisation time zone, and the callback runs the digest of the occurrence', async () => {
    const calls: { expression: string; options: CronOptions; run: (at: Date) => Promise<void> }[] = [];
    let stopped = 0;
    const scheduler: CronScheduler = (expression, run, options) => {
      calls.push({ expression, options, run });
      return { stop: () => void stopped++ };
    };
    const digest = new CabDigest({ kernel: h.muster.kernel, log: silent, scheduler });
    expect(digest.start()).toBe(true);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ expression: '0 9 * * 1', options: { timezone: 'Europe/Berlin' } });
    expect(digest.scheduled).toEqual({ expression: '0 9 * * 1', options: { timezone: 'Europe/Berlin', name: 'muster-cab-digest' } });
    // Firing: the occurrence of 21 December 09:00 Berlin posts that week's digest.
    await calls[0]!.run(new Date('2026-12-21T08:00:00Z'));
    await h.flush();
    expect(digestHeaders()).toHaveLength(3);
    await digest.stop();
    expect(stopped).toBe(1);
  });

  it('on real node-cron, the next run is Monday 09:00 in the organisation time zone', async () => {
    const digest = new CabDigest({ kernel: h.muster.kernel, log: silent });
    try {
      expect(digest.start()).toBe(true);
      const next = digest.nextRun();
      expect(next).toBeInstanceOf(Date);
      expect(formatLocal(next!, 'Europe/Berlin', 'EEE HH:mm')).toBe('Mon 09:00');
    } finally {
      await digest.stop();
    }
    expect(digest.nextRun()).toBeNull();
  });

  it('without a CAB channel or a changes channel, warns at start and schedules nothing', async () => {
    const warned: string[] = [];
    const log = { ...silent, warn: (msg: string) => void warned.push(msg), info: () => undefined } as unknown as typeof silent;
    let scheduled = 0;
    const digest = new CabDigest({ kernel: { policy: defaultPolicy() } as unknown as Kernel, log, scheduler: () => (scheduled++, { stop: () => undefined }) });
    expect(digest.start()).toBe(false);
    expect(scheduled).toBe(0);
    expect(warned.join(' ')).toContain('neither changes.cab.channel nor changes.channel');
    expect(await digest.runDigest(clock.now())).toEqual([]);
  });
});

describe('afterwards', () => {
  it('leaves nothing dead-lettered or waiting', async () => {
    await h.flush();
    const left = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    expect(left).toEqual([]);
    expect(h.slack.garbled).toEqual([]);
  });
});
