import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../support/harness.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { chunkLines } from '../../../src/services/incidents.ts';

/**
 * A platform without pins, bookmarks, user groups or file upload (src/platforms/effects.ts
 * Capabilities): the services do without each explicitly instead of writing effects the port
 * would refuse. Run on the Slack port told to do without them, through signed HTTP and the fake.
 */
const ANA = 'UANA';
const BOB = 'UBOB';
const policy = parsePolicyText(['incidents:', '  responders: ["user:UBOB", "group:S0SRE"]'].join('\n')).policy!;

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
    without: ['pins', 'bookmarks', 'userGroups', 'fileUpload'],
  });
  h.slack.addUsergroup('S0SRE', 'sre', ['USRE']);
});
afterAll(async () => h?.close());

const db = () => h.muster.db;

describe('a platform without pins, bookmarks, user groups and file upload', () => {
  it('declares a war room: no pin, no bookmark, no group lookup; the topic says where the card is; the group is named as not added', async () => {
    await h.command('/incident', 'declare P2 Search is slow', ANA);
    await h.flush();
    const inc = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    const channel = h.slack.channel(inc.channelId!)!;
    expect(channel.members).toEqual(expect.arrayContaining([ANA, BOB]));
    expect(channel.members).not.toContain('USRE');
    for (const m of ['pins.add', 'bookmarks.add', 'usergroups.users.list']) expect(h.slack.callsTo(m), m).toEqual([]);
    expect(channel.topic.value).toContain('incident card at the top of this channel');
    expect(inc.cardTs).toBeTruthy();
    const said = h.slack.messages(inc.channelId!).map((m) => m.text ?? '');
    expect(said.some((t) => t.includes('Could not add the group S0SRE (cannot be expanded: this chat platform has no user groups Muster can read)'))).toBe(true);
    const invite = await db().read((tx) => tx.timelineEntry.findMany({ where: { incidentId: inc.id, kind: 'invite' } }));
    expect(invite).toHaveLength(1);
  });

  it('posts the postmortem as messages, in order, instead of a file', async () => {
    const inc = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    for (let i = 0; i < 40; i++) await h.command('/incident', `INC-1 note ${'long note text '.repeat(8)}${i}`, ANA);
    const r = await h.command('/incident', 'INC-1 postmortem', ANA);
    expect(r.reply.text).toContain('as messages');
    await h.flush();
    expect(h.slack.callsTo('files.upload')).toEqual([]);
    expect(h.slack.callsTo('files.completeUploadExternal')).toEqual([]);
    const parts = h.slack.messages(inc.channelId!).filter((m) => (m.text ?? '').startsWith('INC-1 post-incident review'));
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((m) => /\((\d+)\/(\d+)\)/.exec(m.text!)?.[1])).toEqual(parts.map((_, i) => String(i + 1)));
    for (const m of parts) expect(m.text!.length).toBeLessThanOrEqual(2100);
    const stored = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    // Every line of the document is in the messages.
    const shown = parts.map((m) => m.text!.split('\n').slice(1).join('\n')).join('\n');
    expect(shown.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')).toBe(stored.postmortem);
  });

  it('chunkLines keeps every line, splits at line breaks, and cuts only a line longer than the limit', () => {
    expect(chunkLines('a\nb\n\nc', 3)).toEqual(['a\nb', '\nc']);
    expect(chunkLines('abcdefg', 3)).toEqual(['abc', 'def', 'g']);
    expect(chunkLines('', 10)).toEqual(['']);
    const text = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    expect(chunkLines(text, 50).join('\n')).toBe(text);
    expect(chunkLines(text, 50).every((p) => p.length <= 50)).toBe(true);
  });

  it('leaves nothing dead-lettered or waiting, and no text flattened', async () => {
    await h.flush();
    const left = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { not: 'done' } }, select: { id: true, op: true, status: true, lastError: true } }));
    expect(left).toEqual([]);
    expect(h.slack.garbled).toEqual([]);
  });
});
