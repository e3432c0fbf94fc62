import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stateValue } from '../../support/slackRequests.ts';
import { spawnNode } from '../../support/process.ts';
import { AUDIT_KEY } from '../../support/auditKey.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { AuditKeyring } from '../../../src/store/auditKeys.ts';
import type { Evidence } from '../../../src/services/evidence.ts';

/**
 * Evidence end to end: a normal change through the form, a deferral, the CAB, the checklist, start, done,
 * the verification nudge and the review; then `/change evidence CHG-1` uploads one Markdown file with every
 * section, the approvers and the seats they filled, and every audit entry's chain hash; `muster evidence`
 * prints the same record (Markdown or JSON) from the command line; people without the rights are refused.
 */
const REQ = 'UREQ';
const RM = 'URM';
const TL = 'UTL';
const SEC = 'USEC';
const PO = 'UPO';
const OUT = 'UOUT';
const GENERAL = 'C0GENERAL';

const policy = parsePolicyText(['changes:', '  channel: "#changes"'].join('\n')).policy!;
// Tuesday 1 December 2026, 08:00 UTC: the Mon–Thu 10:00–16:00 window opens at 10:00.
const clock = new ManualClock(new Date('2026-12-01T08:00:00Z'));

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policy, clock, users: [REQ, RM, TL, SEC, PO, OUT].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CCHANGES', name: 'changes' });
  for (const [role, user] of [
    ['release_manager', RM],
    ['tech_lead', TL],
    ['security_lead', SEC],
    ['product_owner', PO],
  ]) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
const change = (n: number) => db().read((tx) => tx.changeRequest.findFirstOrThrow({ where: { number: n } }));
const form = (values: Record<string, Record<string, unknown>>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { [k]: v }]));

async function submitNew(hh: Harness, user: string, fields: Partial<Record<keyof typeof FIELDS, Record<string, unknown>>>, type = 'normal') {
  const r = await hh.command('/change', `new ${type}`, user);
  expect(r.status).toBe(200);
  const view = hh.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
  expect(view.callback_id).toBe(VIEWS.changeNew);
  const values = {
    [FIELDS.title.block]: stateValue.plainText('Upgrade the API gateway'),
    [FIELDS.environment.block]: stateValue.staticSelect('production'),
    [FIELDS.systems.block]: stateValue.plainText('api'),
    [FIELDS.impact.block]: stateValue.staticSelect('medium'),
    [FIELDS.risk.block]: stateValue.staticSelect('medium'),
    [FIELDS.affectedUsers.block]: stateValue.staticSelect('some'),
    [FIELDS.downtime.block]: stateValue.staticSelect('minutes'),
    [FIELDS.windowStart.block]: stateValue.plainText('2026-12-01 10:00'),
    [FIELDS.windowLength.block]: stateValue.plainText('1h'),
    [FIELDS.rollbackPlan.block]: stateValue.plainText('Redeploy the previous image'),
    [FIELDS.rollbackTested.block]: stateValue.radio('yes'),
    ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [FIELDS[k as keyof typeof FIELDS].block, v])),
  };
  const res = await hh.submit(VIEWS.changeNew, view.private_metadata, form(values), user);
  await hh.flush();
  return res;
}

/** The audit rows the record of CHG-1 covers: the change's and its approval rounds'. */
async function auditRows() {
  const rounds = await db().read((tx) => tx.approvalRequest.findMany({ where: { subjectType: 'change', subjectId: { not: null } }, select: { number: true } }));
  const rows = await db().read((tx) =>
    tx.auditEntry.findMany({
      where: { OR: [{ subjectType: 'change', subjectId: 'CHG-1' }, ...rounds.map((r) => ({ subjectType: 'approval', subjectId: `APR-${r.number}` }))] },
      orderBy: { seq: 'asc' },
    }),
  );
  return rows;
}

async function cli(args: string[], env: Record<string, string> = {}) {
  const p = spawnNode(['bin/muster.js', 'evidence', ...args], { DATABASE_URL: h.tdb.url, ...env });
  const { code } = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

describe('a normal change from the form to its review, then its evidence', () => {
  it('runs the change: form, a deferral, the CAB, the checklist, start, done, verification, review', async () => {
    await submitNew(h, REQ, {});
    const c = await change(1);
    expect(c.status).toBe('pending');

    await h.click(ACTIONS.change.defer, c.id, PO);
    const defer = h.slack.lastCall('views.open')!.args.view as { callback_id: string; private_metadata: string };
    expect(defer.callback_id).toBe(VIEWS.changeDefer);
    await h.submit(VIEWS.changeDefer, defer.private_metadata, { [FIELDS.reason.block]: { [FIELDS.reason.action]: stateValue.plainText('Wait for the load test') } }, PO);

    for (const u of [RM, TL, SEC]) await h.click(ACTIONS.change.approve, c.id, u);
    await h.flush();
    expect((await change(1)).status).toBe('scheduled');

    for (const i of JSON.parse(c.checklist) as { id: string }[]) await h.click(ACTIONS.change.tick, `${c.id}:${i.id}`, REQ);
    await h.flush();
    clock.set(new Date('2026-12-01T10:00:00Z'));
    expect((await h.command('/change', 'start CHG-1', REQ)).reply.text).toContain('CHG-1 is implementing');
    clock.advance(20 * 60_000);
    expect((await h.command('/change', 'done CHG-1 success rolled out to all pods', REQ)).reply.text).toContain('CHG-1 implemented');
    clock.advance(61 * 60_000);
    await h.tick();
    expect((await h.command('/change', 'review CHG-1 went fine, no follow-up', REQ)).reply.text).toContain('reviewed');
    await h.flush();
  });

  it('/change evidence CHG-1 uploads one file with every section, the approvers and their seats, and every audit hash', async () => {
    const before = await auditRows();
    const r = await h.command('/change', 'evidence CHG-1', REQ);
    expect(r.reply.text).toContain('Evidence record of CHG-1 shared here as a file');
    expect(r.reply.text).toContain(`${before.length} audit entries, every hash verified`);
    await h.flush();
    const files = h.slack.filesIn(GENERAL);
    expect(files.map((f) => f.name)).toEqual(['chg-1-evidence.md']);
    const md = files[0]!.text;

    for (const section of [
      '# Evidence: CHG-1 — Upgrade the API gateway',
      '## Request',
      '### Field history',
      '## Approvals',
      '### APR-1 · CAB · approved',
      '### Deferrals',
      '## Go/no-go checklist (8/8 ticked)',
      '## Implementation',
      '## Verification',
      '## Review',
      '## Linked incidents',
      `## Audit trail (${before.length} entries)`,
      '## Re-verify the chain',
    ]) {
      expect(md, section).toContain(section);
    }
    // The CAB: each approver, the seat filled and the role filled it with.
    expect(md).toMatch(/\| @URM \| approve \| change manager \| release_manager \|/);
    expect(md).toMatch(/\| @UTL \| approve \| technical \| tech_lead \|/);
    expect(md).toMatch(/\| @USEC \| approve \| security \| security_lead \|/);
    expect(md).toContain(
      '1. CAB: 3 of 4 seats: change manager (release_manager), required; technical (tech_lead, platform_owner, devops_lead, cto); security (security_lead); business (product_owner)',
    );
    // The deferral, the checklist, implementation, verification and review.
    expect(md).toMatch(/\| 2026-12-01T08:00:00Z \| @UPO \| Wait for the load test \|/);
    expect(md).toMatch(/\| Tested in staging.*\| yes \| @UREQ \| 2026-12-01T08:00:00Z \|/);
    expect(md).toContain('| Started | 2026-12-01T10:00:00Z by @UREQ |');
    expect(md).toContain('| Finished | 2026-12-01T10:20:00Z by @UREQ |');
    expect(md).toContain('| Duration | 20 min |');
    expect(md).toContain('| Notes | rolled out to all pods |');
    expect(md).toContain('| Nudges | 2026-12-01T11:21:00Z to @UREQ |');
    expect(md).toContain('| Notes | went fine, no follow-up |');
    expect(md).toMatch(/\| 2026-12-01T10:20:00Z \| implementationNotes \| — \| rolled out to all pods \| @UREQ \|/);
    // Every audit entry of CHG-1 and its round, with its chain hash and key, in chain order.
    const key = new AuditKeyring(AUDIT_KEY).current.id;
    let at = 0;
    for (const row of before) {
      const heading = md.indexOf(`### #${row.seq} · `, at);
      expect(heading, `entry ${row.seq}`).toBeGreaterThan(at);
      at = heading;
      expect(md).toContain(`- Hash: \`${row.hash}\` · key \`${key}\` · verifies`);
    }
    expect(md).toContain(`${before.length} of ${before.length} verified`);
    // It ends with the command that re-verifies the chain.
    expect(md.trimEnd().endsWith('```sh\nnpx muster audit verify\n```')).toBe(true);

    // The export is itself audited, after the entries it lists.
    const exported = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { action: 'change.evidence', outcome: 'ok' } }));
    expect(exported.seq).toBeGreaterThan(before.at(-1)!.seq);
    expect(JSON.parse(exported.after!)).toMatchObject({ as: 'file', entries: before.length, verified: before.length });
  });

  it('a holder of read_audit may export it; someone else is refused, audited, and nothing is shared', async () => {
    const files = h.slack.filesIn(GENERAL).length;
    const refused = await h.command('/change', 'evidence CHG-1', OUT);
    expect(refused.reply.text).toContain('You cannot export the evidence of CHG-1');
    await h.flush();
    expect(h.slack.filesIn(GENERAL)).toHaveLength(files);
    const denied = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { action: 'change.evidence', outcome: 'denied' } }));
    expect(denied).toMatchObject({ subjectType: 'change', subjectId: 'CHG-1', actorId: expect.stringContaining(OUT) });

    const bySec = await h.command('/change', 'evidence CHG-1', SEC);
    expect(bySec.reply.text).toContain('Evidence record of CHG-1 shared here as a file');
    await h.flush();
    expect(h.slack.filesIn(GENERAL)).toHaveLength(files + 1);
    // The refusal is now part of the record.
    expect(h.slack.filesIn(GENERAL).at(-1)!.text).toContain(`### #${denied.seq} · `);

    const unknown = await h.command('/change', 'evidence CHG-99', REQ);
    expect(unknown.reply.text).toContain('CHG-99 does not exist.');
    const bad = await h.command('/change', 'evidence INC-1', REQ);
    expect(bad.reply.text).toContain('expected CHG-n');
  });

  it('muster evidence CHG-1 prints the Markdown; --format json the same content as JSON', async () => {
    const rows = await auditRows();
    const md = await cli(['CHG-1']);
    expect(md.stderr).toBe('');
    expect(md.code).toBe(0);
    expect(md.stdout).toContain('# Evidence: CHG-1 — Upgrade the API gateway');
    expect(md.stdout).toMatch(/\| @URM \| approve \| change manager \| release_manager \|/);
    for (const row of rows) expect(md.stdout).toContain(`- Hash: \`${row.hash}\``);
    expect(md.stdout.trimEnd().endsWith('npx muster audit verify\n```')).toBe(true);

    const json = await cli(['chg-1', '--format', 'json']);
    expect(json.code).toBe(0);
    const e = JSON.parse(json.stdout) as Evidence;
    expect(e).toMatchObject({ format: 'muster-evidence/1', kind: 'change', ref: 'CHG-1', approval: null, incident: null });
    expect(e.change!.approvals.rounds.map((r) => [r.ref, r.round, r.status])).toEqual([['APR-1', 'CAB', 'approved']]);
    expect(e.change!.approvals.rounds[0]!.votes.map((v) => [v.user, v.seat, v.role])).toEqual([
      [RM, 'change manager', 'release_manager'],
      [TL, 'technical', 'tech_lead'],
      [SEC, 'security', 'security_lead'],
    ]);
    expect(e.change!.approvals.deferrals).toEqual([{ at: '2026-12-01T08:00:00.000Z', by: PO, reason: 'Wait for the load test' }]);
    expect(e.change!.implementation).toMatchObject({ startedAt: '2026-12-01T10:00:00.000Z', startedBy: REQ, outcome: 'success', durationMs: 20 * 60_000 });
    expect(e.audit.entries.map((x) => [x.seq, x.hash, x.keyId, x.hashCheck])).toEqual(rows.map((r) => [r.seq, r.hash, r.keyId, 'verified']));
    expect(e.audit.entries.map((x) => [x.before, x.after, x.prevHash])).toEqual(rows.map((r) => [r.before, r.after, r.prevHash]));
    expect(e.verify.command).toBe('npx muster audit verify');
    // The same content: every hash and vote in the JSON is in the Markdown.
    for (const x of e.audit.entries) expect(md.stdout).toContain(x.hash);
  });

  it('muster evidence APR-1 and INC-n: the round with its route and votes; an incident with its roles and timeline', async () => {
    const apr = await cli(['APR-1']);
    expect(apr.code).toBe(0);
    expect(apr.stdout).toContain('# Evidence: APR-1 — CHG-1 Upgrade the API gateway');
    expect(apr.stdout).toContain('- Decides: change CHG-1');
    expect(apr.stdout).toMatch(/\| @USEC \| approve \| security \| security_lead \|/);
    const vote = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { action: 'approval.approve', subjectId: 'APR-1' } }));
    expect(apr.stdout).toContain(vote.hash);

    const declared = await h.command('/incident', 'declare P2 Gateway errors after the upgrade', REQ);
    const n = Number(/INC-(\d+)/.exec(declared.reply.text ?? '')?.[1]);
    expect(n).toBeGreaterThan(0);
    await h.flush();
    const inc = await cli([`INC-${n}`, '--format', 'md']);
    expect(inc.code).toBe(0);
    expect(inc.stdout).toContain(`# Evidence: INC-${n} — Gateway errors after the upgrade`);
    for (const s of ['## Incident', '## Roles and hand-offs', '## Timeline', '## Follow-ups', '## Linked changes']) expect(inc.stdout).toContain(s);
    const declaredEntry = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { subjectType: 'incident', subjectId: `INC-${n}` }, orderBy: { seq: 'asc' } }));
    expect(inc.stdout).toContain(declaredEntry.hash);
  });

  it('the command line refuses clearly: an unknown record, a malformed one, a bad format', async () => {
    const [unknown, malformed, none, format] = await Promise.all([cli(['CHG-42']), cli(['CHANGE-1']), cli([]), cli(['CHG-1', '--format', 'pdf'])]);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('muster: CHG-42 does not exist in workspace slack:');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('"CHANGE-1" is not a record: write CHG-n, APR-n or INC-n');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('usage: muster evidence CHG-n|APR-n|INC-n [--format md|json] [--workspace ID]');
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('--format must be md or json, not "pdf"');
  });

  it('the workspace: the only one, or --workspace when there are several (refused with the list)', async () => {
    const ws = await cli(['CHG-1', '--workspace', 'T-NOPE']);
    expect(ws.code).toBe(2);
    expect(ws.stderr).toContain('no workspace "T-NOPE"');
    expect(ws.stderr).toContain('slack:');
    const workspaceId = (await change(1)).workspaceId;
    // A second workspace: the command line no longer guesses, and names them.
    await db().tx((tx) => tx.workspace.create({ data: { id: 'slack:T0OTHER', platform: 'slack', externalId: 'T0OTHER', name: 'other' } }));
    const ambiguous = await cli(['CHG-1']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('holds 2 workspaces: name one with --workspace ID');
    expect(ambiguous.stderr).toContain(`  ${workspaceId}`);
    expect(ambiguous.stderr).toContain('  slack:T0OTHER (other)');
    const byId = await cli(['CHG-1', '--workspace', workspaceId]);
    expect(byId.code).toBe(0);
    expect(byId.stdout).toContain('# Evidence: CHG-1');
    const other = await cli(['CHG-1', '--workspace', 'T0OTHER']);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('CHG-1 does not exist in workspace slack:T0OTHER');
  });
});

describe('on a platform that cannot share files', () => {
  let d: Harness;
  beforeAll(async () => {
    d = await startHarness({ policy, clock: new ManualClock(new Date('2026-12-01T08:00:00Z')), users: [{ id: REQ, name: 'req' }], without: ['fileUpload'] });
    d.slack.addChannel({ id: 'CCHANGES', name: 'changes' });
  });
  afterAll(async () => d?.close());

  it('posts the record as ordered messages, every line of it, and nothing is left waiting', async () => {
    await submitNew(d, REQ, {});
    const r = await d.command('/change', 'evidence CHG-1', REQ);
    expect(r.reply.text).toMatch(/Evidence record of CHG-1 shared here as \d+ messages/);
    await d.flush();
    expect(d.slack.callsTo('files.completeUploadExternal')).toEqual([]);
    const parts = d.slack.messages(GENERAL).filter((m) => (m.text ?? '').startsWith('CHG-1 evidence ('));
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((m) => /\((\d+)\/(\d+)\)/.exec(m.text!)?.[1])).toEqual(parts.map((_, i) => String(i + 1)));
    for (const m of parts) expect(m.text!.length).toBeLessThanOrEqual(2100);
    const shown = parts
      .map((m) => m.text!.split('\n').slice(1).join('\n'))
      .join('\n')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
    expect(shown).toContain('# Evidence: CHG-1 — Upgrade the API gateway');
    const rows = await d.muster.db.read((tx) => tx.auditEntry.findMany({ where: { subjectId: { in: ['CHG-1', 'APR-1'] }, action: { not: 'change.evidence' } } }));
    for (const row of rows) expect(shown).toContain(row.hash);
    expect(shown.trimEnd().endsWith('npx muster audit verify\n```')).toBe(true);
    const exported = await d.muster.db.read((tx) => tx.auditEntry.findFirstOrThrow({ where: { action: 'change.evidence' } }));
    expect(JSON.parse(exported.after!)).toMatchObject({ as: 'messages', parts: parts.length });
    const left = await d.muster.db.read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    expect(left).toEqual([]);
    expect(d.slack.garbled).toEqual([]);
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
