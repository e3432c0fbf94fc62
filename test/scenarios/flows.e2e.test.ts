import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.ts';
import { defaultPolicy } from '../../src/config/policy.ts';
import { ROLE_OF, type ChatDriver, type DriverOptions, type Person, type Platform } from './driver.ts';
import { startSlackDriver } from './slackDriver.ts';
import { startDiscordDriver } from './discordDriver.ts';

/**
 * One set of scenarios, run on Slack and on Discord (and, as the suite runs, on SQLite and PostgreSQL): the
 * incident war room, a production deployment approval, and change control with the CAB, a freeze and an
 * exception. Each step is what a person does (a command as typed, a button by its label, a form by its fields);
 * each check is what a person sees (what they were told, the card, their DMs), read the same way on both
 * platforms (test/scenarios/driver.ts). Where the platforms differ, the step says so and why.
 *
 * The policy is the default one (windows Mon–Thu 10:00–16:00, Fri 10:00–12:00 critical only, in UTC), and the
 * clock is a ManualClock on Tuesday 1 December 2026, 11:00 UTC: inside a window, so windows are exercised as they are.
 */
const TUESDAY_11 = '2026-12-01T11:00:00Z';

const start = (platform: Platform, o: DriverOptions) => (platform === 'slack' ? startSlackDriver(o) : startDiscordDriver(o));

describe.each(['slack', 'discord'] as const)('on %s', (platform) => {
  let d: ChatDriver;
  beforeEach(async () => {
    d = await start(platform, { policy: defaultPolicy(), clock: new ManualClock(TUESDAY_11) });
    // Every role is granted by the admin, through the command as typed.
    for (const [who, role] of Object.entries(ROLE_OF) as [Exclude<Person, 'admin'>, string][]) {
      expect(await d.command('admin', `/muster grant ${role} @${who}`)).toContain('Granted');
    }
    await d.flush();
  });
  afterEach(async () => {
    try {
      await d.assertNothingStuck();
    } finally {
      await d.close();
    }
  });

  it('an incident: declared P1, commander taken by button, updated, resolved through the form, closed: the card shows the end and has no live buttons', async () => {
    expect(await d.command('dana', '/incident declare P1 Checkout down')).toContain('Declared INC-1 (P1): Checkout down');
    await d.flush();
    // The war room: its channel, the card with the contract's buttons; the person who declared is told where it is.
    const room = d.channelNamed('inc-1-checkout-down');
    expect(room, 'the incident channel').toBeDefined();
    expect(await d.reply('dana')).toContain('war room is ready: #inc-1-checkout-down');
    let card = d.card('INC-1', room);
    expect(card.buttons).toEqual(['Take commander', 'Take tech lead', 'Take comms lead', 'Post update', 'Resolve']);
    expect(card.text).toContain('Incident commander: unassigned');

    // Taking a free role says nothing to the taker: the card shows it.
    expect(await d.click('dana', 'INC-1', 'Take commander', room)).toBe('');
    await d.flush();
    expect(d.card('INC-1', room).text).toContain('Incident commander: @dana');

    expect(await d.command('dana', '/incident update Failing over to the second provider', room)).toBe('Update posted to INC-1.');
    await d.flush();
    expect(d.messages(room!).some((t) => t.includes('Failing over to the second provider'))).toBe(true);

    // Resolve by button: a form asks for the summary.
    expect(await d.click('dana', 'INC-1', 'Resolve', room)).toBe('');
    expect(d.form('dana')?.fields).toEqual(['text']);
    // Slack closes the modal; Discord answers the submission.
    expect(await d.submitForm('dana', { text: 'The provider fixed its DNS' })).toBe(d.platform === 'slack' ? '' : 'INC-1 resolved.');
    await d.flush();
    card = d.card('INC-1', room);
    expect(card.text).toContain('Status: ✅ resolved');
    expect(card.text).toContain('Resolution: The provider fixed its DNS');
    expect(card.buttons).toEqual(['Take commander', 'Take tech lead', 'Take comms lead', 'Post update']);

    expect(await d.command('dana', '/incident close', room)).toBe('INC-1 closed.');
    await d.flush();
    card = d.card('INC-1', room);
    expect(card.text).toMatch(/^Status: \S+ closed$/m);
    expect(card.buttons).toEqual([]);
    const row = await d.muster.db.read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    expect(row).toMatchObject({ status: 'closed', severity: 'P1', summary: 'The provider fixed its DNS' });
  });

  it('an approval: a production deploy approved by three on its card (1/3, 2/3, Approved), the requester told; self-approval refused; another rejected through the form with its reason', async () => {
    expect(await d.command('casey', '/approval deploy production api 2.4.1 Fix the checkout timeout')).toContain('APR-1');
    await d.flush();
    let card = d.card('APR-1');
    expect(card.title).toBe('APR-1 · Deploy api 2.4.1 to production');
    expect(card.buttons).toEqual(['Approve', 'Reject']);
    expect(card.text).toContain('Pending · 0/3');
    // The approvers are asked by DM, with the card.
    for (const who of ['riley', 'sam', 'alex'] as const) expect(d.dmsOf(who).some((t) => t.startsWith('APR-1 · '))).toBe(true);

    expect(await d.click('riley', 'APR-1', 'Approve')).toMatch(/^Your approval of APR-1 is in \(1 of 3 — needs cto and /);
    await d.flush();
    expect(d.card('APR-1').text).toContain('Pending · 1/3');
    expect(await d.click('sam', 'APR-1', 'Approve')).toMatch(/^Your approval of APR-1 is in \(2 of 3 — /);
    await d.flush();
    expect(d.card('APR-1').text).toContain('Pending · 2/3');
    expect(await d.click('alex', 'APR-1', 'Approve')).toBe('APR-1 approved — all 3 approvals are in.');
    await d.flush();
    card = d.card('APR-1');
    expect(card.text).toContain('✅ Approved 2026-12-01T11:00:00.000Z');
    expect(card.text).toContain('@riley (release_manager)');
    expect(card.text).toContain('@sam (cto)');
    expect(card.text).toContain('@alex (security_lead)');
    expect(card.buttons).toEqual([]);
    // Every copy is redrawn: the approvers' DMs show the outcome.
    for (const who of ['riley', 'sam', 'alex'] as const) expect(d.dmsOf(who).some((t) => t.startsWith('APR-1 · ') && t.includes('✅ Approved'))).toBe(true);
    expect(d.dmsOf('casey')).toContain('Your request APR-1 (Deploy api 2.4.1 to production) was approved by @alex.');

    // The requester cannot approve their own request, even holding a role that could.
    expect(await d.command('kim', '/approval deploy production web 3.0.0')).toContain('APR-2');
    await d.flush();
    expect(await d.click('kim', 'APR-2', 'Approve')).toBe('⚠️ You cannot approve APR-2: you asked for it, and nobody approves their own request.');
    await d.flush();
    expect(d.card('APR-2').text).toContain('Pending · 0/3');

    // Rejected through the form: the reason is asked for, shown on the card and told to the requester.
    expect(await d.click('riley', 'APR-2', 'Reject')).toBe('');
    expect(d.form('riley')).toEqual({ title: 'Reject APR-2', fields: ['reason'] });
    const told = await d.submitForm('riley', { reason: 'The rollback plan is missing' });
    // Slack closes the modal and says nothing more (a view submission has nowhere else to answer); Discord answers the submission.
    expect(told).toBe(d.platform === 'slack' ? '' : 'APR-2 rejected.');
    await d.flush();
    card = d.card('APR-2');
    expect(card.text).toContain('❌ Rejected');
    expect(card.text).toContain('Reason: The rollback plan is missing (@riley)');
    expect(card.buttons).toEqual([]);
    expect(d.dmsOf('kim')).toContain('Your request APR-2 (Deploy web 3.0.0 to production) was rejected by @riley: The rollback plan is missing.');
    const rows = await d.muster.db.read((tx) => tx.approvalRequest.findMany({ orderBy: { number: 'asc' } }));
    expect(rows.map((r) => [r.number, r.status])).toEqual([
      [1, 'approved'],
      [2, 'rejected'],
    ]);
  });

  it('change control: a normal change through the form, approved by the CAB on its card, checklist, Start and Done; a freeze holds the next one, an exception by cto and release manager lets it go on, flagged', async () => {
    expect(await d.command('casey', '/change new normal')).toBe('');
    const form = d.form('casey')!;
    // Discord takes at most 5 fields a modal: the change form's 15 come as 3 pages with Next page in between.
    expect(form.title).toBe(d.platform === 'slack' ? 'New normal change' : 'New normal change (1/3)');
    expect(form.fields.slice(0, 5)).toEqual(['title', 'description', 'reason', 'environment', 'systems']);
    // A window in the past is refused, and the form stays open with what was typed (on Discord: Fix it reopens the pages, filled in).
    const refused = await d.submitForm('casey', {
      title: 'Upgrade the API gateway',
      reason: 'The old gateway leaks connections',
      systems: 'api',
      window_start: '2026-11-30 13:00',
      window_length: '1h',
      rollback_plan: 'Redeploy the previous image',
      rollback_tested: 'yes',
    });
    expect(refused.replace(/^⚠️ /, '')).toBe('The proposed window cannot be used: the window is in the past (it ended 2026-11-30 14:00): propose one from now on.');
    expect(d.form('casey')?.fields).toContain('title');
    expect(await d.muster.db.read((tx) => tx.changeRequest.count())).toBe(0);
    const told = await d.submitForm('casey', { window_start: '2026-12-01 13:00' });
    expect(told).toBe(
      d.platform === 'slack'
        ? ''
        : 'CHG-1 requested for 2026-12-01T13:00:00.000Z–2026-12-01T14:00:00.000Z: risk medium (8). The CAB decides it (0 of 3 seats — needs change manager (release_manager), and 2 of technical (tech_lead, platform_owner, devops_lead, cto), security (security_lead) or business (product_owner)): asked @riley, @sam, @alex, @kim, @pat.',
    );
    await d.flush();
    let card = d.card('CHG-1');
    expect(card.title).toBe('CHG-1 · Upgrade the API gateway');
    for (const part of [
      'Type: Normal (CAB)',
      'Status: ⏳ pending',
      'Environment: production',
      'Systems: api',
      'Window: 2026-12-01T13:00:00.000Z–2026-12-01T14:00:00.000Z',
      'Rollback plan: Redeploy the previous image · tested ✅',
      'Pending · 0/3',
    ]) {
      expect(card.text).toContain(part);
    }
    expect(card.buttons.slice(0, 3)).toEqual(['Approve', 'Reject', 'Defer']);
    expect(card.buttons.filter((b) => b.startsWith('Tick: '))).toHaveLength(8);
    // The CAB's seat holders are asked by DM.
    for (const who of ['riley', 'kim', 'alex', 'pat'] as const) expect(d.dmsOf(who).some((t) => t.startsWith('CHG-1 · '))).toBe(true);

    // Someone without a CAB seat cannot vote.
    expect(await d.click('dana', 'CHG-1', 'Approve')).toMatch(/^⚠️ You cannot approve APR-1: its seats are change manager \(release_manager\), .* and you hold none of those roles\.$/);
    // The change manager (required), the technical seat and the security seat: quorum 3.
    expect(await d.click('riley', 'CHG-1', 'Approve')).toMatch(/^Your approval of APR-1 is in \(1 of 3 seats — /);
    await d.flush();
    expect(d.card('CHG-1').text).toContain('Pending · 1/3');
    expect(await d.click('kim', 'CHG-1', 'Approve')).toMatch(/^Your approval of APR-1 is in \(2 of 3 seats — /);
    expect(await d.click('alex', 'CHG-1', 'Approve')).toBe('APR-1 approved — all 3 approvals are in.');
    await d.flush();
    card = d.card('CHG-1');
    expect(card.text).toContain('Status: ✅ scheduled');
    expect(card.text).toContain('@riley (release_manager) 2026-12-01T11:00:00.000Z · ✅ @kim (tech_lead) 2026-12-01T11:00:00.000Z · ✅ @alex (security_lead)');
    expect(card.buttons.slice(0, 3)).toEqual(['Start', 'Done', 'Rollback']);
    expect(d.dmsOf('casey')).toContain('Your change CHG-1 (Upgrade the API gateway) was approved by @alex.');

    // Start waits for the go/no-go checklist, ticked on the card.
    expect(await d.click('casey', 'CHG-1', 'Start')).toMatch(/^⚠️ CHG-1 cannot start until its go\/no-go checklist is complete \(0\/8 ticked\)/);
    for (let ticked = 0; ; ticked++) {
      const tick = d.card('CHG-1').buttons.find((b) => b.startsWith('Tick: '));
      if (!tick) {
        expect(ticked).toBe(8);
        break;
      }
      expect(await d.click('casey', 'CHG-1', tick)).toBe('');
      await d.flush();
    }
    expect(d.card('CHG-1').text).toContain('Go/no-go checklist (8/8 ticked)');
    d.clock.set('2026-12-01T12:55:00Z');
    expect(await d.click('casey', 'CHG-1', 'Start')).toBe('CHG-1 is implementing (started 2026-12-01T12:55:00.000Z). When it is done: `/change done CHG-1 success|failed [notes]`.');
    await d.flush();
    expect(d.card('CHG-1').text).toContain('Status: 🚨 implementing');

    // Done asks how it went in a form.
    expect(await d.click('casey', 'CHG-1', 'Done')).toBe('');
    expect(d.form('casey')).toEqual({ title: 'Done: CHG-1', fields: ['outcome', 'text'] });
    expect(await d.submitForm('casey', { outcome: 'success', text: 'Rolled out to all pods' })).toBe(d.platform === 'slack' ? '' : 'CHG-1 implemented.');
    await d.flush();
    card = d.card('CHG-1');
    expect(card.text).toContain('Status: ✅ implemented');
    expect(card.text).toContain('Implementation: Rolled out to all pods');
    expect(card.buttons).toEqual(['Rollback']);

    // A freeze, declared by the release manager (freeze_changes).
    expect(await d.command('casey', '/change freeze production 2026-12-04 year-end release train')).toContain('freeze_changes');
    expect(await d.command('riley', '/change freeze production 2026-12-04 year-end release train')).toMatch(/^Production frozen until 2026-12-05T00:00:00.000Z\./);
    await d.flush();

    // A normal change inside it is recorded but held: no CAB asked, Ask for an exception instead of Approve.
    const riley = d.dmsOf('riley').length;
    expect(await d.command('casey', '/change new normal')).toBe('');
    const held = await d.submitForm('casey', { title: 'Rebuild the search index', systems: 'search', window_start: '2026-12-02 11:00', window_length: '1h', rollback_plan: 'Restore the old index' });
    if (d.platform === 'discord') expect(held).toMatch(/^CHG-2 recorded, but its window cannot be used: inside the freeze of production until 2026-12-05 00:00 \("year-end release train"\)/);
    await d.flush();
    card = d.card('CHG-2');
    expect(card.text).toContain(
      'Its window cannot be used: inside the freeze of production until 2026-12-05 00:00 ("year-end release train"), which takes emergency changes only. Next open slot: 2026-12-07T10:00:00.000Z–2026-12-07T11:00:00.000Z.',
    );
    expect(card.buttons).toContain('Ask for an exception');
    expect(card.buttons).not.toContain('Approve');
    expect(d.dmsOf('riley').length).toBe(riley);

    // The exception: asked by the requester, approved by the cto and the release manager on its own card.
    expect(await d.click('casey', 'CHG-2', 'Ask for an exception')).toMatch(/^Exception asked for CHG-2 \(APR-2\): the exception approvers are asked\.$/);
    await d.flush();
    expect(d.card('CHG-2').text).toContain('Exception for its window asked (APR-2): 0 of 2 — needs cto and release_manager');
    expect(d.card('CHG-2').buttons).not.toContain('Ask for an exception');
    expect(d.card('APR-2').title).toBe('APR-2 · Exception for CHG-2 Rebuild the search index');
    expect(d.card('APR-2').buttons).toEqual(['Approve', 'Reject']);
    expect(await d.click('sam', 'APR-2', 'Approve')).toBe('Your approval of APR-2 is in (1 of 2 — needs release_manager).');
    expect(await d.click('riley', 'APR-2', 'Approve')).toBe('APR-2 approved — all 2 approvals are in.');
    await d.flush();
    expect(d.card('APR-2').text).toContain('✅ Approved');

    // It proceeds to the CAB, flagged.
    card = d.card('CHG-2');
    expect(card.text).toContain('⚠️ window allowed by exception APR-2 (inside the freeze of production until 2026-12-05 00:00 ("year-end release train"), which takes emergency changes only)');
    expect(card.text).toContain('Exception for its window granted (APR-2)');
    expect(card.text).toContain('Pending · 0/3');
    expect(card.buttons.slice(0, 3)).toEqual(['Approve', 'Reject', 'Defer']);
    // A CAB member defers it to the next CAB through the form; it can still be decided.
    expect(await d.click('pat', 'CHG-2', 'Defer')).toBe('');
    expect(d.form('pat')).toEqual({ title: 'Defer CHG-2', fields: ['reason'] });
    await d.submitForm('pat', { reason: 'needs the load test first' });
    await d.flush();
    expect(d.card('CHG-2').text).toMatch(/Deferred to the next CAB \S+: needs the load test first/);
    for (const who of ['riley', 'kim', 'pat'] as const) await d.click(who, 'CHG-2', 'Approve');
    await d.flush();
    card = d.card('CHG-2');
    expect(card.text).toContain('Status: ✅ scheduled');
    expect(card.text).toContain('window allowed by exception APR-2');
    const rows = await d.muster.db.read((tx) => tx.changeRequest.findMany({ orderBy: { number: 'asc' } }));
    expect(rows.map((r) => [r.number, r.status, JSON.parse(r.flags).map((f: { code: string }) => f.code)])).toEqual([
      [1, 'implemented', []],
      [2, 'scheduled', ['exception']],
    ]);
  });
});
