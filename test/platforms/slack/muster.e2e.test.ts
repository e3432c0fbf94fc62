import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, SIGNING_SECRET, type Harness } from '../../support/harness.ts';
import { post, slashCommand, nowSeconds, newTriggerId, eventCallback } from '../../support/slackRequests.ts';
import { TEAM_ID } from '../../support/fakeSlack.ts';
import { verifyChain } from '../../../src/store/audit.ts';

let h: Harness;
const BOB = 'UBOB';
const CAROL = 'UCAROL';

beforeAll(async () => {
  h = await startHarness({
    users: [
      { id: BOB, name: 'bob' },
      { id: CAROL, name: 'carol' },
      { id: 'UROBOT', name: 'robot', is_bot: true },
    ],
  });
});
afterAll(async () => h?.close());

const auditRows = () => h.muster.db.read((tx) => tx.auditEntry.findMany({ orderBy: { seq: 'asc' } }));

describe('/muster through signed HTTP and the real Bolt app', () => {
  it('help lists every subcommand', async () => {
    const r = await h.command('/muster', 'help', BOB);
    expect(r.status).toBe(200);
    expect(r.reply.response_type).toBe('ephemeral');
    for (const s of ['whoami', 'roles', 'grant', 'revoke', 'audit', 'stats']) expect(r.reply.text).toContain(`/muster ${s}`);
    const empty = await h.command('/muster', '', BOB);
    expect(empty.reply.text).toContain('/muster whoami');
  });

  it('whoami shows the admin role that comes from MUSTER_ADMINS', async () => {
    const r = await h.command('/muster', 'whoami', ADMIN);
    expect(r.reply.text).toContain(`<@${ADMIN}>`);
    expect(r.reply.text).toContain('admin (from MUSTER_ADMINS)');
    const bob = await h.command('/muster', 'whoami', BOB);
    expect(bob.reply.text).toMatch(/Roles: none yet/);
  });

  it('an admin grants a role; the grantee is told by DM; the grant is audited', async () => {
    const r = await h.command('/muster', `grant qa_lead <@${BOB}|bob>`, ADMIN);
    expect(r.reply.text).toBe(`Granted *qa_lead* to <@${BOB}>.`);
    await h.flush();
    const dm = h.slack.dms(BOB);
    expect(dm.at(-1)?.text).toContain('granted you the Muster role *qa_lead*');
    const rows = await auditRows();
    const grant = rows.find((x) => x.action === 'role.grant')!;
    expect(grant).toMatchObject({ outcome: 'ok', actorId: `slack:${TEAM_ID}:${ADMIN}`, subjectId: `slack:${TEAM_ID}:${BOB}`, platform: 'slack' });
    expect(JSON.parse(grant.after!)).toEqual({ roles: ['qa_lead'] });
    const again = await h.command('/muster', `grant qa_lead <@${BOB}>`, ADMIN);
    expect(again.reply.text).toContain('already holds qa_lead');
  });

  it('roles @user lists only the roles that user holds', async () => {
    await h.command('/muster', `grant tech_lead <@${CAROL}>`, ADMIN);
    const bob = await h.command('/muster', `roles <@${BOB}|bob>`, CAROL);
    expect(bob.reply.text).toBe(`<@${BOB}> holds: qa_lead.`);
    const carol = await h.command('/muster', `roles <@${CAROL}>`, BOB);
    expect(carol.reply.text).toBe(`<@${CAROL}> holds: tech_lead.`);
    const all = await h.command('/muster', 'roles', BOB);
    expect(all.reply.text).toContain(`*qa_lead*: <@${BOB}>`);
    expect(all.reply.text).toContain(`*admin*: <@${ADMIN}> (MUSTER_ADMINS)`);
  });

  it('a non-admin who tries to grant is refused ephemerally, nothing changes, and the refusal is audited', async () => {
    const before = await h.muster.db.read((tx) => tx.roleGrant.count());
    const r = await h.command('/muster', `grant cto <@${BOB}>`, BOB);
    expect(r.status).toBe(200);
    expect(r.reply.response_type).toBe('ephemeral');
    expect(r.reply.text).toMatch(/You cannot grant roles: that needs the manage_roles permission/);
    expect(await h.muster.db.read((tx) => tx.roleGrant.count())).toBe(before);
    const denied = (await auditRows()).filter((x) => x.outcome === 'denied');
    expect(denied.at(-1)).toMatchObject({ action: 'role.grant', actorId: `slack:${TEAM_ID}:${BOB}`, subjectId: `slack:${TEAM_ID}:${BOB}` });
  });

  it('bad input gets a specific error with the right form and writes nothing', async () => {
    const count = async () => [await h.muster.db.read((tx) => tx.auditEntry.count()), await h.muster.db.read((tx) => tx.roleGrant.count())];
    const before = await count();
    const cases: [string, RegExp][] = [
      ['grant wizard <@UBOB>', /"wizard" is not a valid role: a role is one of admin, release_manager/],
      ['grant qa_lead bob', /"bob" is not a valid user: expected a mention/],
      ['grant qa_lead', /Missing user/],
      ['frobnicate', /Unknown subcommand "frobnicate"/],
      ['audit INC-x', /"INC-x" is not a valid record id/],
      ['whoami extra', /Unexpected "extra"/],
    ];
    for (const [text, msg] of cases) {
      const r = await h.command('/muster', text, ADMIN);
      expect(r.reply.response_type).toBe('ephemeral');
      expect(r.reply.text).toMatch(msg);
      expect(r.reply.text).toContain('Usage:');
    }
    expect(await count()).toEqual(before);
  });

  it('granting to someone not in the workspace, or to a bot, is refused', async () => {
    const ghost = await h.command('/muster', 'grant qa_lead <@UGHOST>', ADMIN);
    expect(ghost.reply.text).toBe('<@UGHOST> is not a member of this workspace.');
    const bot = await h.command('/muster', 'grant qa_lead <@UROBOT>', ADMIN);
    expect(bot.reply.text).toContain('is a bot');
  });

  it('revoke takes a role away; an env admin cannot be revoked in chat', async () => {
    const r = await h.command('/muster', `revoke tech_lead <@${CAROL}>`, ADMIN);
    expect(r.reply.text).toBe(`Revoked *tech_lead* from <@${CAROL}>.`);
    expect((await h.command('/muster', `roles <@${CAROL}>`, ADMIN)).reply.text).toBe(`<@${CAROL}> holds no Muster roles.`);
    const env = await h.command('/muster', `revoke admin <@${ADMIN}>`, ADMIN);
    expect(env.reply.text).toContain('MUSTER_ADMINS');
    const nonAdmin = await h.command('/muster', `revoke qa_lead <@${BOB}>`, CAROL);
    expect(nonAdmin.reply.text).toMatch(/You cannot revoke roles/);
  });

  it('audit shows recent entries to those allowed, and refuses (and audits) others', async () => {
    const r = await h.command('/muster', 'audit', ADMIN);
    expect(r.reply.text).toMatch(/Last \d+ audit entries for this workspace/);
    expect(r.reply.text).toContain('role.revoke');
    expect(r.reply.text).toContain('<!date^');
    const none = await h.command('/muster', 'audit INC-42', ADMIN);
    expect(none.reply.text).toBe('No audit entries for INC-42.');
    const bob = await h.command('/muster', 'audit', BOB);
    expect(bob.reply.text).toMatch(/You cannot read the audit trail/);
    expect((await auditRows()).at(-1)).toMatchObject({ action: 'audit.read', outcome: 'denied' });
    expect((await verifyChain(h.muster.db, h.muster.kernel.audit.keyring)).ok).toBe(true);
  });

  it('stats counts recorded activity for allowed roles', async () => {
    const r = await h.command('/muster', 'stats 30d', ADMIN);
    expect(r.reply.text).toMatch(/role\.grant: \d+/);
  });

  it('a Slack retry of a handled request is acked and does nothing twice', async () => {
    const triggerId = newTriggerId();
    const first = await h.command('/muster', `grant dba <@${CAROL}>`, ADMIN, { triggerId });
    expect(first.reply.text).toContain('Granted *dba*');
    const auditBefore = (await auditRows()).length;
    const retry = await h.command('/muster', `grant dba <@${CAROL}>`, ADMIN, { triggerId, retryNum: 1 });
    expect(retry.status).toBe(200);
    expect(retry.reply.text ?? '').not.toContain('Granted');
    // Even without the retry header the same delivery is recognised by its key.
    const replay = await h.command('/muster', `grant dba <@${CAROL}>`, ADMIN, { triggerId });
    expect(replay.status).toBe(200);
    expect(replay.reply.text ?? '').not.toContain('Granted');
    expect((await auditRows()).length).toBe(auditBefore);
    await h.flush();
    expect(h.slack.dms(CAROL).filter((m) => m.text?.includes('*dba*'))).toHaveLength(1);
  });

  it('an event retried by Slack is acked with 2xx', async () => {
    const ev = eventCallback({ event: { type: 'app_mention', user: BOB, text: 'hi', channel: 'C0GENERAL', ts: '1.0' }, teamId: TEAM_ID, eventId: 'Ev123' });
    const a = await post(h.muster.url, ev, { secret: SIGNING_SECRET });
    const b = await post(h.muster.url, ev, { secret: SIGNING_SECRET, retryNum: 1, retryReason: 'http_timeout' });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
  });

  it('rejects a bad signature and a stale timestamp with 401, and changes nothing', async () => {
    const before = await h.muster.db.read((tx) => tx.auditEntry.count());
    const req = slashCommand({ command: '/muster', text: `grant cto <@${BOB}>`, userId: ADMIN, teamId: TEAM_ID, responseUrl: h.slack.responseUrl('x') });
    const bad = await post(h.muster.url, req, { secret: SIGNING_SECRET, badSignature: true });
    expect(bad.status).toBe(401);
    const wrongSecret = await post(h.muster.url, req, { secret: 'not-the-secret' });
    expect(wrongSecret.status).toBe(401);
    const stale = await post(h.muster.url, req, { secret: SIGNING_SECRET, ts: nowSeconds() - 6 * 60 });
    expect(stale.status).toBe(401);
    expect(await h.muster.db.read((tx) => tx.auditEntry.count())).toBe(before);
  });

  it('a listener that fails past the shared mapper (the form cannot open: expired trigger) reaches app.error: logged, and the person told with a reference', async () => {
    const trigger = h.slack.trigger(BOB);
    h.slack.expireTrigger(trigger);
    const r = await h.command('/incident', 'new', BOB, { triggerId: trigger });
    // Bolt answers the unacknowledged command itself; the fallback then says what happened on the response_url.
    expect(r.status).toBeLessThan(500);
    const deadline = Date.now() + 5_000;
    let said = '';
    while (!said && Date.now() < deadline) {
      said = h.slack.responses.map((x) => JSON.stringify(x.body)).find((t) => t.includes('Something went wrong on our side')) ?? '';
      if (!said) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(said).toMatch(/Reference: [0-9a-f-]{36}/);
    expect(h.slack.callsTo('views.open').at(-1)?.response).toMatchObject({ ok: false, error: 'expired_trigger_id' });
    expect(await h.muster.db.read((tx) => tx.incident.count())).toBe(0);
  });

  it('every command of the manifest answers: /change is no longer planned but here', async () => {
    const r = await h.command('/change', 'help', BOB);
    expect(r.status).toBe(200);
    expect(r.reply.text).toContain('/change new');
    expect(r.reply.text).not.toContain('not available');
  });
});

describe('web endpoints', () => {
  it('healthz and readyz answer', async () => {
    const health = await fetch(`${h.muster.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${h.muster.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', mode: 'production', checks: { database: 'ok', migrations: 'ok' } });
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
