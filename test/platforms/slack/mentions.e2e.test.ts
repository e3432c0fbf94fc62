import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { TEAM_ID } from '../../support/fakeSlack.ts';

/**
 * People named in commands, as a real workspace sends them: picked from autocomplete with escaping on
 * (`<@U…|name>`), typed as plain `@name` (escaping off, or nobody picked), or as an email address.
 */
let h: Harness;
const ALICE = 'UALICE';
const BOB = 'UBOB';
const CAROL = 'UCAROL';
const DANA = 'UDANA';

beforeAll(async () => {
  h = await startHarness({
    users: [
      { id: ALICE, name: 'alice', display_name: 'Alice', email: 'alice@example.com' },
      { id: BOB, name: 'bob', display_name: 'Bob' },
      { id: CAROL, name: 'carol', display_name: 'Carol', email: 'carol@example.com' },
      { id: DANA, name: 'dana.w', display_name: 'Dana' },
      // `@al` is the display name of two people; `@kim` is one person's handle and another's display name.
      { id: 'UALEX', name: 'alex', display_name: 'al' },
      { id: 'UALAN', name: 'alan', display_name: 'Al' },
      { id: 'UKIM', name: 'kim', display_name: 'Kim' },
      { id: 'UKIMBERLY', name: 'kimberly', display_name: 'kim' },
      { id: 'UGONE', name: 'gone', deleted: true, email: 'gone@example.com' },
      { id: 'UROBOT', name: 'robot', is_bot: true },
    ],
  });
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
const grantsOf = (user: string) =>
  db()
    .read((tx) => tx.roleGrant.findMany({ where: { userId: `slack:${TEAM_ID}:${user}` }, select: { role: true } }))
    .then((g) => g.map((x) => x.role).sort());
/** Everything a refused command must leave alone. */
const written = () => db().read(async (tx) => ({ grants: await tx.roleGrant.count(), audit: await tx.auditEntry.count(), actions: await tx.actionItem.count(), roles: await tx.incidentRole.count() }));
const listings = () => h.slack.callsTo('users.list').length;
const PICK = "Pick the person from Slack's autocomplete (type @ and choose a name) so the mention arrives as a link.";

describe('/muster grant, revoke and roles with escaping off (plain @name)', () => {
  it('grant resolves @alice by Slack user name, says so, and grants and audits as for a mention', async () => {
    const r = await h.command('/muster', `grant tech_lead <@${ALICE}|alice>`, ADMIN, { escaping: 'off' });
    expect(r.status).toBe(200);
    expect(r.reply.text).toBe(`Granted *tech_lead* to <@${ALICE}>. (@alice was matched to <@${ALICE}> by Slack user name.)`);
    expect(await grantsOf(ALICE)).toEqual(['tech_lead']);
    const audit = await db().read((tx) => tx.auditEntry.findFirstOrThrow({ where: { action: 'role.grant', subjectId: `slack:${TEAM_ID}:${ALICE}` } }));
    expect(audit.outcome).toBe('ok');
    await h.flush();
    expect(h.slack.dms(ALICE).at(-1)?.text).toContain('*tech_lead*');
  });

  it('a display name that only one person has resolves, and the reply says it was the display name', async () => {
    const r = await h.command('/muster', 'grant qa_lead @Dana', ADMIN);
    expect(r.reply.text).toBe(`Granted *qa_lead* to <@${DANA}>. (@Dana was matched to <@${DANA}> by Slack display name.)`);
    expect(await grantsOf(DANA)).toEqual(['qa_lead']);
  });

  it('roles and revoke resolve the same way', async () => {
    const roles = await h.command('/muster', `roles <@${ALICE}|alice>`, BOB, { escaping: 'off' });
    expect(roles.reply.text).toBe(`<@${ALICE}> holds: tech_lead. (@alice was matched to <@${ALICE}> by Slack user name.)`);
    const revoke = await h.command('/muster', `revoke qa_lead <@${DANA}|Dana>`, ADMIN, { escaping: 'off' });
    expect(revoke.reply.text).toBe(`Revoked *qa_lead* from <@${DANA}>. (@Dana was matched to <@${DANA}> by Slack display name.)`);
    expect(await grantsOf(DANA)).toEqual([]);
  });

  it('an ambiguous name is refused with the autocomplete hint, and nothing is granted or audited', async () => {
    const before = await written();
    const al = await h.command('/muster', 'grant cto @al', ADMIN);
    expect(al.reply.response_type).toBe('ephemeral');
    expect(al.reply.text).toBe(`I could not tell who @al is: 2 people match (<@UALEX> by display name, <@UALAN> by display name). ${PICK}`);
    // A handle and someone else's display name are two claims on one name: also ambiguous.
    const kim = await h.command('/muster', 'grant cto @KIM', ADMIN);
    expect(kim.reply.text).toBe(`I could not tell who @KIM is: 2 people match (<@UKIM> by user name, <@UKIMBERLY> by display name). ${PICK}`);
    expect(await written()).toEqual(before);
    expect(await grantsOf('UALEX')).toEqual([]);
    expect(await grantsOf('UKIM')).toEqual([]);
  });

  it('a name nobody active has is refused: unknown, deactivated and bots alike', async () => {
    const before = await written();
    for (const name of ['nobody', 'gone', 'robot', 'ali']) {
      const r = await h.command('/muster', `grant dba @${name}`, ADMIN);
      expect(r.reply.text).toBe(`I could not tell who @${name} is: nobody in this workspace has that Slack user name or display name. ${PICK}`);
    }
    expect(await written()).toEqual(before);
  });

  it('special mentions are not people, escaped or not: the usage is shown and nothing is written', async () => {
    const before = await written();
    for (const [text, escaping] of [
      ['grant dba <!here>', 'on'],
      ['grant dba <!here>', 'off'],
      ['grant dba <!channel>', 'on'],
      ['roles <!everyone>', 'off'],
    ] as const) {
      const r = await h.command('/muster', text, ADMIN, { escaping });
      expect(r.reply.response_type).toBe('ephemeral');
      expect(r.reply.text).toMatch(/is not a valid user: a special mention such as @here or @channel is not a person\./);
      expect(r.reply.text).toContain('Usage:');
    }
    const group = await h.command('/muster', 'grant dba <!subteam^S0SRE|@sre>', ADMIN);
    expect(group.reply.text).toContain('I could not tell who @sre is');
    expect(await written()).toEqual(before);
  });

  it('the workspace is listed once for a burst of names (users.list is Tier 2), not once per command', async () => {
    const before = listings();
    for (let i = 0; i < 3; i++) await h.command('/muster', `roles <@${BOB}|bob>`, ADMIN, { escaping: 'off' });
    expect(listings()).toBe(before);
  });
});

describe('email addresses (users.lookupByEmail)', () => {
  it('an address Slack escaped as a mailto link resolves, and the reply says it was by email', async () => {
    h.slack.clearCalls();
    const r = await h.command('/muster', 'grant release_manager <mailto:carol@example.com|carol@example.com>', ADMIN);
    expect(r.reply.text).toBe(`Granted *release_manager* to <@${CAROL}>. (carol@example.com was matched to <@${CAROL}> by email.)`);
    expect(h.slack.callsTo('users.lookupByEmail').map((c) => c.args.email)).toEqual(['carol@example.com']);
    expect(await grantsOf(CAROL)).toEqual(['release_manager']);
  });

  it('a plain address (escaping off) resolves the same way', async () => {
    const r = await h.command('/muster', 'revoke release_manager <mailto:carol@example.com|carol@example.com>', ADMIN, { escaping: 'off' });
    expect(r.reply.text).toBe(`Revoked *release_manager* from <@${CAROL}>. (carol@example.com was matched to <@${CAROL}> by email.)`);
    expect(await grantsOf(CAROL)).toEqual([]);
  });

  it('an address nobody has (users_not_found), or a deactivated account has, is refused and writes nothing', async () => {
    const before = await written();
    for (const email of ['nobody@example.com', 'gone@example.com']) {
      const r = await h.command('/muster', `grant cto ${email}`, ADMIN);
      expect(r.reply.text).toBe(`I could not tell who ${email} is: no active person in this workspace has that email address. ${PICK}`);
    }
    expect(await written()).toEqual(before);
  });
});

describe('/incident role and follow-up owners', () => {
  let ref = '';
  beforeAll(async () => {
    const r = await h.command('/incident', 'declare P2 Search is slow', ADMIN);
    ref = /INC-\d+/.exec(r.reply.text ?? '')![0];
    await h.flush();
  });
  const incidentId = () =>
    db()
      .read((tx) => tx.incident.findFirstOrThrow({ where: { number: Number(ref.slice(4)) } }))
      .then((i) => i.id);
  const followUp = async (number: number) => {
    const id = await incidentId();
    return db().read((tx) => tx.actionItem.findFirstOrThrow({ where: { incidentId: id, number } }));
  };

  it('role commander @bob (escaping off) assigns Bob and says how he was found', async () => {
    const r = await h.command('/incident', `${ref} role commander <@${BOB}|bob>`, ADMIN, { escaping: 'off' });
    expect(r.reply.text).toContain(`<@${BOB}> is now incident commander`);
    expect(r.reply.text).toMatch(/\(@bob was matched to <@UBOB> by Slack user name\.\)$/);
    const id = await incidentId();
    const holder = await db().read((tx) => tx.incidentRole.findFirstOrThrow({ where: { incidentId: id, role: 'commander', relievedAt: null } }));
    expect(holder.userId).toBe(`slack:${TEAM_ID}:${BOB}`);
  });

  it('role with a mention picked from autocomplete, and `me`, work without any lookup', async () => {
    const before = [listings(), h.slack.callsTo('users.lookupByEmail').length];
    const tech = await h.command('/incident', `${ref} role tech <@${ALICE}|alice>`, ADMIN);
    expect(tech.reply.text).toContain(`<@${ALICE}> is now technical lead`);
    expect(tech.reply.text).not.toContain('was matched');
    const comms = await h.command('/incident', `${ref} role comms me`, DANA);
    expect(comms.reply.text).toContain(`<@${DANA}> took communications lead`);
    expect([listings(), h.slack.callsTo('users.lookupByEmail').length]).toEqual(before);
  });

  it('an ambiguous role holder is refused and the role stays with its holder', async () => {
    const before = await written();
    const r = await h.command('/incident', `${ref} role commander @al`, ADMIN);
    expect(r.reply.text).toContain('I could not tell who @al is: 2 people match');
    expect(await written()).toEqual(before);
  });

  it('a follow-up owner @carol (escaping off) resolves, and the owner is stored and told', async () => {
    const r = await h.command('/incident', `${ref} action write the search runbook <@${CAROL}|carol> due 2099-01-15`, ADMIN, { escaping: 'off' });
    expect(r.reply.text).toMatch(/^Follow-up #1 added to INC-\d+ for <@UCAROL>, due 2099-01-15\. \(@carol was matched to <@UCAROL> by Slack user name\.\)$/);
    expect(await followUp(1)).toMatchObject({ text: 'write the search runbook', ownerId: `slack:${TEAM_ID}:${CAROL}`, dueDate: '2099-01-15' });
    await h.flush();
    expect(JSON.stringify(h.slack.dms(CAROL).at(-1))).toContain('gave you a follow-up from INC-');
  });

  it('a follow-up owner given by email resolves through users.lookupByEmail', async () => {
    const r = await h.command('/incident', `${ref} action tune the index <mailto:alice@example.com|alice@example.com>`, ADMIN);
    expect(r.reply.text).toContain(`for <@${ALICE}>. (alice@example.com was matched to <@${ALICE}> by email.)`);
    expect(await followUp(2)).toMatchObject({ text: 'tune the index', ownerId: `slack:${TEAM_ID}:${ALICE}` });
  });

  it('an owner nobody has is refused with the way to keep the word as text; nothing is added', async () => {
    const before = await written();
    const r = await h.command('/incident', `${ref} action ask the vendor support@vendor.example`, ADMIN);
    expect(r.reply.text).toBe(
      `I could not tell who support@vendor.example is: no active person in this workspace has that email address. ${PICK} To keep the last word in the follow-up text instead, put it in quotes.`,
    );
    expect(await written()).toEqual(before);
    const quoted = await h.command('/incident', `${ref} action ask the vendor "support@vendor.example"`, ADMIN);
    expect(quoted.reply.text).toMatch(/^Follow-up #3 added to INC-\d+\.$/);
  });

  it('a user group at the end of a follow-up reads like a name: refused with the way to keep it as text', async () => {
    const before = await written();
    const r = await h.command('/incident', `${ref} action page <!subteam^S0SRE|@sre>`, ADMIN);
    expect(r.reply.text).toMatch(/^I could not tell who @sre is: nobody in this workspace has that Slack user name or display name\..* put it in quotes\.$/);
    expect(await written()).toEqual(before);
  });

  it('a special mention at the end of a follow-up is text, not an owner', async () => {
    const r = await h.command('/incident', `${ref} action tell the team <!here>`, ADMIN);
    expect(r.reply.text).toMatch(/^Follow-up #4 added to INC-\d+\.$/);
    expect(await followUp(4)).toMatchObject({ text: 'tell the team @here', ownerId: null });
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
