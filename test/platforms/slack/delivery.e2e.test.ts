import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { eventCallback, post } from '../../support/slackRequests.ts';
import { TEAM_ID } from '../../support/fakeSlack.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { ManualClock } from '../../../src/domain/clock.ts';

/**
 * Delivery end to end, through signed HTTP and the fake Slack: closing leaves no live
 * buttons, one bad user never keeps the others out of a war room, and inbound events are
 * recorded before they are acknowledged and processed until they succeed.
 */
const ANA = 'UANA';
const BOB = 'UBOB';
const GUEST = 'UGUEST';

const policy = parsePolicyText(['incidents:', '  responders: ["user:UBOB", "user:UGUEST", "group:S0GONE", "group:S0SRE"]'].join('\n')).policy!;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    policy,
    clock: new ManualClock(new Date()),
    users: [
      { id: ANA, name: 'ana' },
      { id: BOB, name: 'bob' },
      { id: 'USRE', name: 'sre' },
    ],
  });
  // A guest who may only be in another channel (conversations.invite: user_is_restricted).
  h.slack.addUser({ id: GUEST, name: 'gus', is_restricted: true, guest_channels: ['COTHER'] });
  h.slack.addUsergroup('S0SRE', 'sre', ['USRE']);
});
afterAll(async () => h?.close());

const db = () => h.muster.db;
const incident = (n: number) => db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: n } }));
const notDone = () => db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
const inboxNotDone = () => db().read((tx) => tx.inboxEvent.findMany({ where: { status: { not: 'done' } } }));

describe('war room invites', () => {
  it('a guest and a missing group do not keep the others out; the channel is told who could not be added and why', async () => {
    await h.command('/incident', 'declare P1 Checkout down', ANA);
    await h.flush();
    const inc = await incident(1);
    const members = h.slack.channel(inc.channelId!)!.members;
    expect(members).toEqual(expect.arrayContaining([ANA, BOB, 'USRE']));
    expect(members).not.toContain(GUEST);
    const notices = h.slack
      .messages(inc.channelId!)
      .map((m) => m.text ?? '')
      .filter((t) => t.includes('Could not add'));
    expect(notices.join('\n')).toContain(`<@${GUEST}> (`);
    expect(notices.join('\n')).toContain('the group S0GONE (no longer exists)');
    const timeline = await db().read((tx) => tx.timelineEntry.findMany({ where: { incidentId: inc.id, kind: 'invite' } }));
    expect(timeline.length).toBeGreaterThan(0);
    // Each failing user is permanent for that user: nothing retried, nothing dead-lettered.
    expect(await notDone()).toEqual([]);
  });
});

describe('closing an incident', () => {
  it('the last post and the card redraw land before the archive: no live buttons, nothing dead-lettered', async () => {
    await h.command('/incident', 'declare P2 Slow search', ANA);
    await h.flush();
    const inc = await incident(2);
    await h.command('/incident', 'INC-2 resolve index rebuilt', ANA);
    await h.flush();
    // A slow chat.update would lose the race to the archive if they ran side by side.
    h.slack.setLatency(150, 'chat.update');
    h.slack.clearCalls();
    expect((await h.command('/incident', 'INC-2 close', ANA)).reply.text).toBe('INC-2 closed.');
    await h.flush();
    h.slack.setLatency(0, 'chat.update');
    const order = h.slack.calls.map((c) => c.method);
    const archived = order.indexOf('conversations.archive');
    expect(archived).toBeGreaterThan(order.lastIndexOf('chat.update'));
    expect(archived).toBeGreaterThan(order.lastIndexOf('chat.postMessage'));
    const card = JSON.stringify(h.slack.message(inc.channelId!, inc.cardTs!)?.blocks ?? []);
    expect(card).not.toContain('"type":"button"');
    for (const label of ['Take commander', 'Take tech lead', 'Take comms lead', 'Post update']) expect(card).not.toContain(label);
    expect(card).toContain('closed');
    expect(h.slack.channel(inc.channelId!)!.is_archived).toBe(true);
    expect(await notDone()).toEqual([]);
  });
});

describe('inbound events', () => {
  it('are written before the ack: when the database does not take one, Slack gets a 500 and its retry is processed once', async () => {
    const inc = await incident(1);
    const m = h.slack.addMessage(inc.channelId!, { text: 'root cause: expired certificate', user: BOB });
    const event = { type: 'pin_added', user: ANA, channel_id: inc.channelId, item: { type: 'message', channel: inc.channelId, message: { ts: m.ts, text: m.text, user: BOB } }, event_ts: '1' };
    const req = eventCallback({ event, teamId: TEAM_ID, eventId: 'EvDURABLE' });
    // The database refuses the write (the inbox table is away for a moment).
    await db().tx((tx) => tx.$executeRawUnsafe('ALTER TABLE inbox_events RENAME TO inbox_events_away'));
    const refused = await post(h.muster.url, req, { secret: 'test-signing-secret' });
    await db().tx((tx) => tx.$executeRawUnsafe('ALTER TABLE inbox_events_away RENAME TO inbox_events'));
    expect(refused.status).toBe(500);
    // Slack retries what was not acknowledged, twice here.
    for (const retryNum of [1, 2]) expect((await post(h.muster.url, req, { secret: 'test-signing-secret', retryNum })).status).toBe(200);
    await h.flush();
    const entries = await db().read((tx) => tx.timelineEntry.findMany({ where: { incidentId: inc.id, key: `msg:${m.ts}` } }));
    expect(entries.map((e) => e.text)).toEqual(['root cause: expired certificate']);
    expect(await db().read((tx) => tx.inboxEvent.count({ where: { eventKey: `slack:${TEAM_ID}:EvDURABLE` } }))).toBe(1);
  });

  it('a failed fetch is retried, never stored as "(no text)"', async () => {
    const inc = await incident(1);
    const m = h.slack.addMessage(inc.channelId!, { text: 'rolled back 4.2', user: BOB });
    h.slack.failNext('conversations.history', { status: 503 });
    await h.event({ type: 'reaction_added', user: ANA, reaction: 'pushpin', item: { type: 'message', channel: inc.channelId, ts: m.ts }, event_ts: '2' }, { eventId: 'EvFETCH' });
    const pending = await db().read((tx) => tx.inboxEvent.findFirstOrThrow({ where: { eventKey: `slack:${TEAM_ID}:EvFETCH` } }));
    expect(pending).toMatchObject({ status: 'pending', attempts: 1 });
    h.clock.advance(1_000);
    await h.flush();
    const entry = await db().read((tx) => tx.timelineEntry.findFirstOrThrow({ where: { incidentId: inc.id, key: `msg:${m.ts}` } }));
    expect(entry.text).toBe('rolled back 4.2');
    expect(await inboxNotDone()).toEqual([]);
  });

  it('a rate-limited fetch waits for Retry-After without spending an attempt', async () => {
    const inc = await incident(1);
    const m = h.slack.addMessage(inc.channelId!, { text: 'paged the DBA', user: BOB });
    h.slack.failNext('conversations.history', { status: 429, retryAfterSec: 3, times: 2 });
    await h.event({ type: 'reaction_added', user: ANA, reaction: 'pushpin', item: { type: 'message', channel: inc.channelId, ts: m.ts }, event_ts: '7' }, { eventId: 'EvLIMIT' });
    for (let i = 0; i < 2; i++) {
      const row = await db().read((tx) => tx.inboxEvent.findFirstOrThrow({ where: { eventKey: `slack:${TEAM_ID}:EvLIMIT` } }));
      expect(row).toMatchObject({ status: 'pending', attempts: 0 });
      expect(row.nextAttemptAt.getTime() - h.clock.now().getTime()).toBe(3000);
      h.clock.advance(3_000);
      await h.flush();
    }
    const entry = await db().read((tx) => tx.timelineEntry.findFirstOrThrow({ where: { incidentId: inc.id, key: `msg:${m.ts}` } }));
    expect(entry.text).toBe('paged the DBA');
  });

  it('a :pushpin: on a thread reply finds that reply', async () => {
    const inc = await incident(1);
    const parent = h.slack.addMessage(inc.channelId!, { text: 'what changed?', user: ANA });
    const reply = h.slack.addMessage(inc.channelId!, { text: 'the CDN config, at 10:02', user: BOB, thread_ts: parent.ts });
    await h.event({ type: 'reaction_added', user: ANA, reaction: 'pushpin', item: { type: 'message', channel: inc.channelId, ts: reply.ts }, event_ts: '3' }, { eventId: 'EvREPLY' });
    const entry = await db().read((tx) => tx.timelineEntry.findFirstOrThrow({ where: { incidentId: inc.id, key: `msg:${reply.ts}` } }));
    expect(entry).toMatchObject({ text: 'the CDN config, at 10:02', kind: 'pinned' });
  });

  it('unpinning (or taking the :pushpin: away) takes the message off the timeline', async () => {
    const inc = await incident(1);
    const m = h.slack.addMessage(inc.channelId!, { text: 'a wrong guess', user: BOB });
    await h.event(
      { type: 'pin_added', user: ANA, channel_id: inc.channelId, item: { type: 'message', channel: inc.channelId, message: { ts: m.ts, text: m.text, user: BOB } }, event_ts: '4' },
      { eventId: 'EvPIN' },
    );
    expect((await db().read((tx) => tx.timelineEntry.findFirstOrThrow({ where: { incidentId: inc.id, key: `msg:${m.ts}` } }))).removed).toBe(false);
    await h.event({ type: 'pin_removed', user: ANA, channel_id: inc.channelId, item: { type: 'message', channel: inc.channelId, message: { ts: m.ts } }, event_ts: '5' }, { eventId: 'EvUNPIN' });
    expect((await db().read((tx) => tx.timelineEntry.findFirstOrThrow({ where: { incidentId: inc.id, key: `msg:${m.ts}` } }))).removed).toBe(true);
    const audit = await db().read((tx) => tx.auditEntry.findFirst({ where: { action: 'incident.timeline.unpin' } }));
    expect(audit).not.toBeNull();
    // Re-pinned: back on the timeline.
    await h.event(
      { type: 'pin_added', user: ANA, channel_id: inc.channelId, item: { type: 'message', channel: inc.channelId, message: { ts: m.ts, text: m.text, user: BOB } }, event_ts: '6' },
      { eventId: 'EvREPIN' },
    );
    expect((await db().read((tx) => tx.timelineEntry.findFirstOrThrow({ where: { incidentId: inc.id, key: `msg:${m.ts}` } }))).removed).toBe(false);
  });

  it('leaves nothing dead-lettered or pending', async () => {
    expect(h.slack.garbled, 'no text flattened to [object Object]').toEqual([]);
    await h.flush();
    expect(await notDone()).toEqual([]);
    expect(await inboxNotDone()).toEqual([]);
    expect((await h.command('/muster', 'whoami', ADMIN)).status).toBe(200);
  });
});
