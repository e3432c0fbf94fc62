import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { TEAM_ID } from '../../support/fakeSlack.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { defaultPolicy } from '../../../src/config/policy.ts';
import { loadChangeKpis } from '../../../src/services/admin.ts';
import { encodeText } from '../../../src/domain/text.ts';

/**
 * The change KPIs of the governance documents in `/muster stats` and on the App Home: success rate,
 * rollback rate, emergency share, median approval time and on-time approvals over the period, each as
 * "value (target, met/missed)"; "no changes in this period" when there are none.
 */
const REQ = 'UREQ';
const H = 3_600_000;
const D = 24 * H;
// Tuesday 1 December 2026, 12:00 UTC.
const clock = new ManualClock(new Date('2026-12-01T12:00:00Z'));
const now = () => clock.now().getTime();
const WS = `slack:${TEAM_ID}`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy: defaultPolicy(), clock, users: [{ id: REQ, name: 'req' }] });
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
/** Slack's mrkdwn as read: Muster escapes <, > and & in typed text, as Slack requires. */
const read = (s: string | undefined) => (s ?? '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

let number = 0;
/** A change request row in a known state (written directly: these are states, not flows). */
async function change(c: { type: 'standard' | 'normal' | 'emergency'; status: string; created: number; decided?: number; implemented?: number; outcome?: string; incidentId?: string }) {
  number += 1;
  const at = (ms: number | undefined) => (ms === undefined ? null : new Date(ms));
  await db().tx((tx) =>
    tx.changeRequest.create({
      data: {
        id: randomUUID(),
        workspaceId: WS,
        number,
        type: c.type,
        status: c.status,
        title: encodeText(`Change ${number}`),
        environment: 'production',
        impact: 'medium',
        risk: 'medium',
        affectedUsers: 'some',
        riskScore: 16,
        riskLevel: 'medium',
        requesterId: `${WS}:${REQ}`,
        incidentId: c.incidentId ?? null,
        decidedAt: at(c.decided),
        implementedAt: at(c.implemented),
        outcome: c.outcome ?? null,
        createdAt: new Date(c.created),
        updatedAt: new Date(c.created),
      },
    }),
  );
}

const home = async (user: string) => {
  const before = h.slack.homeViews(user).length;
  await h.event({ type: 'app_home_opened', user, channel: 'D1', tab: 'home', event_ts: String(now()) });
  return read(JSON.stringify(await h.slack.waitFor(() => (h.slack.homeViews(user).length > before ? h.slack.homeView(user) : undefined))));
};

describe('with no changes', () => {
  it('/muster stats says there were none in the period', async () => {
    // Some activity, so that stats has something to report.
    expect((await h.command('/muster', `grant release_manager <@${REQ}>`, ADMIN)).reply.text).toContain('Granted');
    const r = await h.command('/muster', 'stats 7d', ADMIN);
    expect(read(r.reply.text)).toContain('*Change requests*\nNo changes in this period.');
  });

  it('the App Home says so too', async () => {
    const view = await home(ADMIN);
    expect(view).toContain('Change KPIs, last 30d');
    expect(view).toContain('No changes in this period.');
  });
});

describe('with a handful of changes in known states', () => {
  beforeAll(async () => {
    const incident = randomUUID();
    const declared = new Date(now() - 40 * D);
    await db().tx((tx) =>
      tx.incident.create({
        data: {
          id: incident,
          workspaceId: WS,
          number: 1,
          title: 'Checkout down',
          severity: 'P1',
          status: 'closed',
          reporterId: `${WS}:${REQ}`,
          declaredAt: declared,
          lastUpdateAt: declared,
          createdAt: declared,
          updatedAt: declared,
        },
      }),
    );
    const t = now();
    // 1: normal, approved in 2h (on time), implemented: success.
    await change({ type: 'normal', status: 'closed', created: t - 10 * D, decided: t - 10 * D + 2 * H, implemented: t - 9 * D, outcome: 'success' });
    // 2: normal, approved in 6h (late: the CAB is due within 4h), rolled back.
    await change({ type: 'normal', status: 'rolled_back', created: t - 9 * D, decided: t - 9 * D + 6 * H, implemented: t - 8 * D, outcome: 'rolled_back' });
    // 3: emergency without an incident (due within 4h), approved in 30m, success.
    await change({ type: 'emergency', status: 'implemented', created: t - 5 * D, decided: t - 5 * D + H / 2, implemented: t - 5 * D + H, outcome: 'success' });
    // 4: standard (pre-approved: no approval time), success.
    await change({ type: 'standard', status: 'implemented', created: t - 3 * D, decided: t - 3 * D, implemented: t - 3 * D + H, outcome: 'success' });
    // 5: normal, pending.
    await change({ type: 'normal', status: 'pending', created: t - 1 * D });
    // 6: normal, long ago (outside 30d).
    await change({ type: 'normal', status: 'closed', created: t - 60 * D, decided: t - 60 * D + H, implemented: t - 50 * D, outcome: 'success' });
    // 7: normal, rejected (not an approval).
    await change({ type: 'normal', status: 'rejected', created: t - 8 * D, decided: t - 8 * D + H });
    // 8: emergency for the P1 incident (due within 2h), approved in 3h (late), success.
    await change({ type: 'emergency', status: 'implemented', created: t - 4 * D, decided: t - 4 * D + 3 * H, implemented: t - 4 * D + 4 * H, outcome: 'success', incidentId: incident });
  });

  it('computes each KPI over the period, against its target', async () => {
    const k = await loadChangeKpis(h.muster.kernel, WS, 30 * D);
    expect(k.successRate).toMatchObject({ value: 4 / 5, count: 5, met: false });
    expect(k.rollbackRate).toMatchObject({ value: 1 / 5, count: 5, met: false });
    expect(k.emergencyShare).toMatchObject({ value: 2 / 7, count: 7, met: false });
    expect(k.medianApprovalTime).toMatchObject({ value: 2.5 * H, count: 4, met: true });
    // On time: 1 and 3; not 2 (CAB, 6h > 4h) nor 8 (P1 emergency, 3h > 2h).
    expect(k.onTimeApprovals).toMatchObject({ value: 2 / 4, count: 4, met: false });
    const week = await loadChangeKpis(h.muster.kernel, WS, 7 * D);
    expect(week.successRate).toMatchObject({ value: 1, count: 3, met: true });
    expect(week.rollbackRate).toMatchObject({ value: 0, count: 3, met: true });
  });

  it('/muster stats 30d shows them as "value (target, met/missed)"', async () => {
    const r = await h.command('/muster', 'stats 30d', ADMIN);
    expect(read(r.reply.text)).toContain(
      [
        '*Change requests*',
        'Change success rate: 80% of 5 finished (target > 99%, missed)',
        'Rollback rate: 20% of 5 finished (target < 2%, missed)',
        'Emergency share: 28.6% of 7 requested (target < 5%, missed)',
        'Median approval time: 2h 30m over 4 approved (target < 4h, met)',
        'On-time approvals: 50% of 4 approved (target > 95%, missed)',
      ].join('\n'),
    );
  });

  it('/muster stats 7d counts only the last seven days', async () => {
    const r = await h.command('/muster', 'stats 7d', ADMIN);
    expect(read(r.reply.text)).toContain(
      [
        'Change success rate: 100% of 3 finished (target > 99%, met)',
        'Rollback rate: 0% of 3 finished (target < 2%, met)',
        'Emergency share: 50% of 4 requested (target < 5%, missed)',
        'Median approval time: 1h 45m over 2 approved (target < 4h, met)',
        'On-time approvals: 50% of 2 approved (target > 95%, missed)',
      ].join('\n'),
    );
  });

  it('the App Home shows the last 30 days to those who may see stats, and nothing to others', async () => {
    const view = await home(ADMIN);
    expect(view).toContain('Change KPIs, last 30d');
    expect(view).toContain('*Change success rate*: 80% of 5 finished (target > 99%, missed)');
    expect(view).toContain('*Median approval time*: 2h 30m over 4 approved (target < 4h, met)');
    expect(view).toContain(':white_check_mark: *Median approval time*');
    expect(view).toContain(':warning: *On-time approvals*');
    // REQ holds release_manager (view_stats); someone without it sees no KPIs.
    h.slack.addUser({ id: 'UDEV', name: 'dev' });
    const dev = await home('UDEV');
    expect(dev).toContain('Waiting for your approval');
    expect(dev).not.toContain('Change KPIs');
    expect(await home(REQ)).toContain('Change KPIs, last 30d');
  });
});

describe('afterwards', () => {
  it('leaves nothing dead-lettered or waiting', async () => {
    expect(h.slack.garbled).toEqual([]);
    await h.flush();
    const outbox = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    const inbox = await db().read((tx) => tx.inboxEvent.findMany({ where: { status: { not: 'done' } }, select: { id: true, type: true, status: true, lastError: true } }));
    expect({ outbox, inbox }).toEqual({ outbox: [], inbox: [] });
  });
});
