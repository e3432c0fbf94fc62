import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stateValue } from '../../support/slackRequests.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { verifyChain } from '../../../src/store/audit.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { surfaceDrawer } from '../../../src/services/surfaces.ts';

const HOUR = 3_600_000;
let h: Harness;
const DEV = 'UDEV'; // requester
const RM = 'URM'; // release_manager
const CTO = 'UCTO'; // cto
const SEC = 'USEC'; // security_lead
const TL = 'UTL'; // tech_lead
const QA = 'UQA'; // qa_lead
const MGR = 'UMGR'; // manager
const BOTH = 'UBOTH'; // cto + release_manager

const policy = parsePolicyText(
  // Windows and freezes are not enforced here: these tests run at any wall-clock time (deployWindows.e2e.test.ts tests them).
  [
    'approvals:',
    '  channel: "#approvals"',
    '  securityChannel: "#security"',
    '  requestTtl: 10d',
    '  escalation:',
    '    - { notify: approvers, after: 4h }',
    '    - { notify: manager, after: 8h }',
    'changes:',
    '  enforcedIn: []',
  ].join('\n'),
).policy!;

beforeAll(async () => {
  h = await startHarness({ policy, clock: new ManualClock(new Date()), users: [DEV, RM, CTO, SEC, TL, QA, MGR, BOTH].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
  h.slack.addChannel({ id: 'CSECURITY', name: 'security' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['cto', CTO],
    ['security_lead', SEC],
    ['tech_lead', TL],
    ['qa_lead', QA],
    ['manager', MGR],
    ['cto', BOTH],
    ['release_manager', BOTH],
    ['tech_lead', DEV],
  ]) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
const request = (n: number) => db().read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: n } }));
const cards = (id: string) => db().read((tx) => tx.approvalCard.findMany({ where: { requestId: id } }));
async function cardCopies(id: string) {
  const rows = await cards(id);
  const effects = await db().read((tx) => tx.outboxEffect.findMany({ where: { id: { in: rows.map((r) => r.effectId) } } }));
  return effects.map((e) => {
    const r = JSON.parse(e.result ?? '{}') as { channel: string; ts: string };
    return { place: rows.find((x) => x.effectId === e.id)!.place, message: h.slack.message(r.channel, r.ts) };
  });
}

describe('deployment approvals', () => {
  it('dev is approved automatically and still audited', async () => {
    const r = await h.command('/approval', 'deploy dev api 1.0.0', DEV);
    expect(r.reply.text).toContain('APR-1: Deploy api 1.0.0 to dev — approved automatically');
    const rows = await db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'APR-1' }, orderBy: { seq: 'asc' } }));
    expect(rows.map((x) => x.action)).toEqual(['approval.request', 'approval.approved']);
  });

  it('production: card in the channel, the approvals channel and DMs to each eligible approver', async () => {
    const r = await h.command('/approval', 'deploy production api 2.4.1 hotfix for checkout', DEV);
    expect(r.reply.text).toMatch(
      /^APR-2 requested: Deploy api 2.4.1 to production\. Needs release_manager and cto and security_lead or tech_lead or product_owner or platform_owner \(3 approvals in all\)/,
    );
    await h.flush();
    const req = await request(2);
    expect(req).toMatchObject({ status: 'pending', environment: 'production', component: 'api', version: '2.4.1', reason: 'hotfix for checkout' });
    const copies = await cardCopies(req.id);
    expect(copies.map((c) => c.place).sort()).toEqual(['approvals-channel', 'channel', 'dm', 'dm', 'dm', 'dm', 'dm']);
    const card = JSON.stringify(copies[0]!.message!.blocks);
    expect(card).toContain('Approve');
    expect(card).toContain('Reject');
    expect(card).toContain('0/3');
    // The requester holds tech_lead but cannot approve their own request: not asked.
    expect(h.slack.dms(DEV).some((m) => m.text?.includes('APR-2'))).toBe(false);
    for (const u of [RM, CTO, SEC, TL, BOTH]) expect(h.slack.dms(u).some((m) => m.text?.includes('APR-2'))).toBe(true);
  });

  it('self-approval, ineligible approvers and role stacking are refused (and audited); votes update every copy', async () => {
    const req = await request(2);
    const self = await h.click(ACTIONS.approval.approve, req.id, DEV);
    expect(self.status).toBe(200);
    expect(await h.lastSaid()).toContain('nobody approves their own request');
    await h.click(ACTIONS.approval.approve, req.id, QA);
    expect(await h.lastSaid()).toContain('you hold none of those roles');

    await h.click(ACTIONS.approval.approve, req.id, BOTH); // cto + release_manager: fills one part only
    await h.flush();
    expect(await h.lastSaid()).toContain('Your approval of APR-2 is in (1 of 3');
    for (const c of await cardCopies(req.id)) expect(JSON.stringify(c.message!.blocks)).toContain('1/3');
    await h.click(ACTIONS.approval.approve, req.id, BOTH);
    expect(await h.lastSaid()).toContain('You already approved APR-2');
    const denied = await db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'APR-2', outcome: 'denied' } }));
    expect(denied.map((d) => d.reason).sort()).toEqual(['not_eligible', 'self']);
  });

  it('completes with one approval per requirement; the outcome is announced once', async () => {
    const req = await request(2);
    await h.click(ACTIONS.approval.approve, req.id, RM); // release_manager: BOTH moves to cto
    await h.click(ACTIONS.approval.approve, req.id, CTO);
    expect(await h.lastSaid()).toContain('the cto part is already covered');
    await h.click(ACTIONS.approval.approve, req.id, SEC);
    await h.flush();
    const done = await request(2);
    expect(done.status).toBe('approved');
    for (const c of await cardCopies(req.id)) {
      const text = JSON.stringify(c.message!.blocks);
      expect(text).toContain('Approved');
      expect(text).not.toContain('"Approve"');
    }
    expect(h.slack.dms(DEV).filter((m) => m.text?.includes('APR-2') && m.text.includes('*approved*'))).toHaveLength(1);
    const show = await h.command('/approval', 'show APR-2', MGR);
    expect(show.reply.text).toMatch(/approved by <@UBOTH> as (cto|release_manager) \(step 1\)/);
    expect(show.reply.text).toContain('approved by <@USEC> as security_lead');
    const late = await h.click(ACTIONS.approval.approve, req.id, TL);
    expect(late.status).toBe(200);
    expect(await h.lastSaid()).toContain('it is already approved');
  });

  it('Reject opens a modal; a reason is required; a required approver rejects the request', async () => {
    await h.command('/approval', 'deploy staging web 3.0.0', DEV);
    const req = await request(3);
    await h.click(ACTIONS.approval.reject, req.id, QA);
    const view = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe(VIEWS.reject);
    const empty = await h.submit(VIEWS.reject, view.private_metadata, { [FIELDS.reason.block]: { [FIELDS.reason.action]: stateValue.plainText('') } }, QA);
    expect(JSON.parse(empty.body)).toMatchObject({ response_action: 'errors' });
    expect((await request(3)).status).toBe('pending');
    const ok = await h.submit(VIEWS.reject, view.private_metadata, { [FIELDS.reason.block]: { [FIELDS.reason.action]: stateValue.plainText('fails the smoke tests') } }, QA);
    expect(ok.status).toBe(200);
    await h.flush();
    expect(await request(3)).toMatchObject({ status: 'rejected', rejectReason: 'fails the smoke tests' });
    const channelCard = (await cardCopies(req.id)).find((c) => c.place === 'channel')!;
    expect(JSON.stringify(channelCard.message!.blocks)).toContain('Reason: fails the smoke tests');
    expect(h.slack.dms(DEV).at(-1)?.text).toContain('APR-3 (Deploy web 3.0.0 to staging) was *rejected* by <@UQA>: fails the smoke tests');
  });

  it('the requester cancels while pending; decided requests are final; others cannot cancel', async () => {
    await h.command('/approval', 'deploy uat web 3.0.1', DEV);
    expect((await h.command('/approval', 'cancel APR-4', QA)).reply.text).toContain('Only the requester');
    expect((await h.command('/approval', 'cancel APR-4', DEV)).reply.text).toBe('APR-4 cancelled.');
    expect((await h.command('/approval', 'cancel APR-4', DEV)).reply.text).toContain('already cancelled; decided requests are final');
    expect((await h.command('/approval', 'cancel APR-99', DEV)).reply.text).toBe('APR-99 does not exist.');
  });

  it('requests expire after the TTL and say so; reminders stop when decided', async () => {
    await h.command('/approval', 'deploy preprod api 2.5.0', DEV);
    const req = await request(5);
    h.clock.advance(24 * HOUR);
    await h.tick();
    expect((await request(5)).status).toBe('expired');
    await h.flush();
    const card = (await cardCopies(req.id)).find((c) => c.place === 'channel')!;
    expect(JSON.stringify(card.message!.blocks)).toContain('Expired');
    expect(h.slack.dms(DEV).at(-1)?.text).toContain('APR-5 (Deploy api 2.5.0 to preprod) was *expired*');
    await h.click(ACTIONS.approval.approve, req.id, TL);
    expect(await h.lastSaid()).toContain('it is already expired');
  });
});

describe('decision rights, reminders, escalation and break-glass', () => {
  it('routes by amount band and category; reminds approvers, then escalates to the next level', async () => {
    const r = await h.command('/approval', 'request financial infrastructure $12,500 New load balancers', DEV);
    expect(r.reply.text).toMatch(/^APR-6 requested: New load balancers\. Needs director/);
    const req = await request(6);
    expect(req).toMatchObject({ kind: 'decision', decisionType: 'financial', category: 'infrastructure', amount: 12500, band: '10k_50k' });
    await h.command('/muster', 'grant director <@UQA>', ADMIN);
    h.clock.advance(4 * HOUR);
    await h.tick();
    expect(h.slack.dms(QA).at(-1)?.text).toContain('Reminder: APR-6 (New load balancers)');
    h.clock.advance(4 * HOUR);
    await h.tick();
    expect(h.slack.dms(MGR).at(-1)?.text).toContain('Escalation (manager): APR-6');
    await h.click(ACTIONS.approval.approve, req.id, QA);
    expect((await request(6)).status).toBe('approved');
    expect(await db().read((tx) => tx.timer.count({ where: { subjectId: req.id, status: 'pending' } }))).toBe(0);
  });

  it('bad input gets a specific message and writes nothing', async () => {
    const count = () => db().read(async (tx) => [await tx.approvalRequest.count(), await tx.auditEntry.count()]);
    const before = await count();
    const cases: [string, RegExp][] = [
      ['deploy moon api 1.0', /Unknown environment "moon": the policy knows dev, uat, staging, preprod, production/],
      ['deploy production api "1.2 beta"', /a version has no spaces/],
      [`deploy production api ${'9'.repeat(101)}`, /at most 100 characters/],
      ['request financial marketing 12,50x Ads', /"12,50x" is not a valid amount/],
      ['request financial marketing - Ads', /A financial request needs an amount/],
      ['show APR-77', /APR-77 does not exist/],
      ['frob', /Unknown subcommand "frob"/],
    ];
    for (const [text, msg] of cases) {
      const res = await h.command('/approval', text, DEV);
      expect(res.reply.response_type, text).toBe('ephemeral');
      expect(res.reply.text, text).toMatch(msg);
    }
    expect(await count()).toEqual(before);
  });

  it('break-glass: only with the permission, reason required, flagged, security notified, reviewed by someone else', async () => {
    await h.command('/approval', 'deploy production database 9.1.0 schema fix', DEV);
    const req = await request(7);
    const denied = await h.command('/approval', 'breakglass APR-7 site is down', RM);
    expect(denied.reply.text).toContain('needs the break_glass permission (held by cto)');
    expect((await h.command('/approval', 'breakglass APR-7', CTO)).reply.text).toContain('Break-glass needs a reason');
    const ok = await h.command('/approval', 'breakglass APR-7 checkout down, fix must ship now', CTO);
    expect(ok.reply.text).toContain('APR-7 approved by break-glass');
    await h.flush();
    expect(await request(7)).toMatchObject({ status: 'approved', breakGlass: true, reviewStatus: 'pending' });
    const entry = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { subjectId: 'APR-7', action: 'approval.approved' } }));
    expect(entry.flags).toBe('break_glass');
    const notice = h.slack.messages('CSECURITY').at(-1)!;
    expect(notice.text).toContain('*Break-glass* on APR-7');
    // Reviewing is a control: the breaker, the requester and anyone without break_glass_review are refused, audited.
    await h.click(ACTIONS.approval.reviewed, req.id, CTO);
    expect(await h.lastSaid()).toContain('someone else must review it');
    await h.command('/muster', `grant security_lead <@${DEV}>`, ADMIN);
    await h.click(ACTIONS.approval.reviewed, req.id, DEV);
    expect(await h.lastSaid()).toContain('You asked for APR-7; someone who did not benefit from the break-glass must review it');
    await h.command('/muster', `revoke security_lead <@${DEV}>`, ADMIN);
    await h.click(ACTIONS.approval.reviewed, req.id, TL);
    expect(await h.lastSaid()).toContain('needs the break_glass_review permission (held by security_lead, admin)');
    expect(await request(7)).toMatchObject({ reviewStatus: 'pending', reviewedBy: null });
    const refusals = await db().read((tx) => tx.auditEntry.findMany({ where: { subjectId: 'APR-7', action: 'approval.review', outcome: 'denied' }, orderBy: { seq: 'asc' } }));
    expect(refusals.map((r) => [r.actorId.split(':').pop(), r.reason])).toEqual([
      [CTO, 'self-review: broke the glass'],
      [DEV, 'self-review: requester'],
      [TL, 'missing break_glass_review'],
    ]);
    await h.click(ACTIONS.approval.reviewed, req.id, SEC);
    expect(await request(7)).toMatchObject({ reviewStatus: 'done' });
    await h.flush();
    const redrawn = JSON.stringify(h.slack.message('CSECURITY', notice.ts)?.blocks);
    expect(redrawn).toContain(`Post-review done by <@${SEC}>`);
    expect(redrawn).not.toContain('Mark reviewed');
    // Break-glass never approves one's own request.
    await h.command('/approval', 'deploy production web 5.0.0', CTO);
    expect((await h.command('/approval', 'breakglass APR-8 urgent', CTO)).reply.text).toContain('cannot approve your own request');
    await h.command('/approval', 'cancel APR-8', CTO);
    expect((await verifyChain(db(), h.muster.kernel.audit.keyring)).ok).toBe(true);
  });

  it('/approval list and the App Home show what waits for me', async () => {
    await h.command('/approval', 'deploy uat api 2.6.0', DEV);
    const list = await h.command('/approval', 'list', QA);
    expect(list.reply.text).toMatch(/Waiting for your approval \(1\):\n\*APR-9\* Deploy api 2.6.0 to uat/);
    const mine = await h.command('/approval', 'list', DEV);
    expect(mine.reply.text).toContain('You asked for (8)');
    await h.event({ type: 'app_home_opened', user: QA, channel: 'D1', tab: 'home', event_ts: '1' });
    const home = await h.slack.waitFor(() => h.slack.homeView(QA));
    const text = JSON.stringify(home);
    expect(text).toContain('Waiting for your approval (1)');
    expect(text).toContain('APR-9');
    expect(text).toContain(ACTIONS.approval.approve);
  });
});

describe('races', () => {
  it('3 approvers × 10 concurrent clicks on one production request → one approved transition and one announcement', async () => {
    await h.command('/approval', 'deploy production web 4.0.0', DEV);
    const req = await request(10);
    await h.flush();
    const dmsBefore = h.slack.dms(DEV).length;
    const clicks = [RM, CTO, SEC].flatMap((u) => Array.from({ length: 10 }, () => h.click(ACTIONS.approval.approve, req.id, u)));
    const results = await Promise.all(clicks);
    expect(results.every((r) => r.status === 200)).toBe(true);
    await h.flush();
    expect((await request(10)).status).toBe('approved');
    expect(await db().read((tx) => tx.approvalVote.count({ where: { requestId: req.id } }))).toBe(3);
    const transitions = await db().read((tx) => tx.auditEntry.count({ where: { subjectId: 'APR-10', action: 'approval.approved' } }));
    expect(transitions).toBe(1);
    expect(
      h.slack
        .dms(DEV)
        .slice(dmsBefore)
        .filter((m) => m.text?.includes('APR-10')),
    ).toHaveLength(1);
    expect((await verifyChain(db(), h.muster.kernel.audit.keyring)).ok).toBe(true);
  });
});

describe('stats', () => {
  it('/muster stats reports approvals by environment, time to decision and break-glass count', async () => {
    const r = await h.command('/muster', 'stats 30d', ADMIN);
    expect(r.reply.text).toMatch(/Requests: 10 \(approved \d+, rejected 1, expired 1, cancelled 2, pending \d+\)/);
    expect(r.reply.text).toContain('Deployments to production: 4, approved 3');
    expect(r.reply.text).toMatch(/Median time to decision: \d/);
    expect(r.reply.text).toContain('Break-glass approvals: 1');
  });
});

describe('drawing the card', () => {
  it('copies redrawn together share one drawing of the version they read; a vote after it is drawn anew', async () => {
    const r = await h.command('/approval', 'deploy production api 9.9.1 draw check', DEV);
    expect(r.status).toBe(200);
    await h.flush();
    const row = await db().read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { version: '9.9.1' } }));
    const draw = surfaceDrawer(h.muster.services);
    const surface = { kind: 'approval.card', requestId: row.id } as const;
    const together = await Promise.all([draw(surface), draw(surface), draw(surface), draw(surface)]);
    // One drawing, handed to every copy (each copy used to draw the same card with four queries of its own).
    expect(new Set(together).size).toBe(1);
    expect(JSON.stringify(together[0])).toContain('0/3');
    await h.click(ACTIONS.approval.approve, row.id, RM);
    await h.flush();
    const after = await draw(surface);
    expect(after).not.toBe(together[0]);
    expect(JSON.stringify(after)).toContain('1/3');
  });
});

describe('afterwards', () => {
  it('leaves nothing dead-lettered or waiting in the outbox or the inbox', async () => {
    expect(h.slack.garbled, 'no text flattened to [object Object]').toEqual([]);
    await h.flush();
    const outbox = await h.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    const inbox = await h.muster.db.read((tx) => tx.inboxEvent.findMany({ where: { status: { not: 'done' } }, select: { id: true, type: true, status: true, lastError: true } }));
    expect({ outbox, inbox }).toEqual({ outbox: [], inbox: [] });
  });
});
