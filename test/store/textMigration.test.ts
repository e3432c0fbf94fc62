import { describe, expect, it } from 'vitest';
import { code, decodeText, emoji, encodeText, rt, strong, type Inline } from '../../src/domain/text.ts';
import { legacyText, migrateEffectPayload, migrateStoredText } from '../../src/store/textMigration.ts';

describe('legacy text: typed columns', () => {
  it('reads the references Slack showed live as people and channels', () => {
    expect(legacyText('Commander: <@U1> (relieves <@W2>)')).toEqual(['Commander: ', { person: 'U1' }, ' (relieves ', { person: 'W2' }, ')']);
    expect(legacyText('see <#C1> and <#G2>')).toEqual(['see ', { channel: 'C1' }, ' and ', { channel: 'G2' }]);
    expect(legacyText('<@U1>')).toEqual([{ person: 'U1' }]);
  });

  it('returns a string without markup as the same string', () => {
    for (const s of ['', 'identified → monitoring: all good', 'a < b > c & d', 'x <b>bold</b> y', '*typed stars* and `ticks` :tada:', '<@abc> <#lower> <@U1 > <@>', '<!foo>', '<ftp://x>']) {
      expect(legacyText(s)).toBe(s);
      expect(migrateStoredText(s)).toBe(s);
    }
  });

  it('leaves a person’s stars, ticks and shortcodes as characters', () => {
    expect(legacyText('*urgent* <@U1> `x` :warning:')).toEqual(['*urgent* ', { person: 'U1' }, ' `x` :warning:']);
  });

  it('reads the first versions’ Slack markup the way the edge reads it today', () => {
    expect(legacyText('ask <@U1|alice> in <#C2|ops>')).toEqual(['ask ', { person: 'U1' }, ' in ', { channel: 'C2' }]);
    expect(legacyText('<!here> <!channel|channel> <!everyone>')).toBe('@here @channel @everyone');
    expect(legacyText('cc <!subteam^S1|@oncall> <!subteam^S2>')).toBe('cc @oncall @S2');
    // Never a link whose label could lie: the words and the address.
    expect(legacyText('see <https://evil.example|https://bank.example>')).toBe('see https://bank.example (https://evil.example)');
    expect(legacyText('<https://example.com/a>')).toBe('https://example.com/a');
    expect(legacyText('<https://example.com|https://example.com>')).toBe('https://example.com');
    expect(legacyText('mail <mailto:a@b.example|a@b.example>')).toBe('mail a@b.example');
  });

  it('reads a Slack date as a time node, or its fallback', () => {
    expect(legacyText('at <!date^1767600000^{date_short_pretty} {time}|2026-01-05T08:00:00.000Z>')).toEqual(['at ', { time: '2026-01-05T08:00:00.000Z', style: 'datetime' }]);
    expect(legacyText('<!date^1767600000^{date_short} {time_secs}|x>')).toEqual([{ time: '2026-01-05T08:00:00.000Z', style: 'datetime_secs' }]);
    expect(legacyText('<!date^1767600000^{date_num}|x>')).toEqual([{ time: '2026-01-05T08:00:00.000Z', style: 'date' }]);
    expect(legacyText('<!date^1767600000^{time}^https://x.example|x>')).toEqual([{ time: '2026-01-05T08:00:00.000Z', style: 'time' }]);
    expect(legacyText('due <!date^soon^{date}|Monday>')).toBe('due <!date^soon^{date}|Monday>');
  });
});

describe('legacy text: nudges (Muster’s own wording)', () => {
  it('reads strong, code and emoji marks as the current code writes them', () => {
    const noCommander = 'INC-7 (P1) has had no incident commander for 16m (respond SLA 15m). Someone press *Take commander*.';
    expect(legacyText(noCommander, 'authored')).toEqual(rt`INC-7 (P1) has had no incident commander for 16m (respond SLA 15m). Someone press ${strong('Take commander')}.`);
    const escalated = ':rotating_light: Escalated to admin (level 1): INC-7 (P2) has had no update for 1h 5m (cadence 1h). Post one with `/incident update …` or *Post update*.';
    expect(legacyText(escalated, 'authored')).toEqual(
      rt`${emoji('rotating_light')} Escalated to admin (level 1): INC-7 (P2) has had no update for 1h 5m (cadence 1h). Post one with ${code('/incident update …')} or ${strong('Post update')}.`,
    );
  });

  it('takes only the emoji Muster uses, and finds one after a time of day', () => {
    expect(legacyText('at 12:30:warning: :tada: :x:', 'authored')).toEqual(['at 12:30', { emoji: 'warning' }, ' :tada: ', { emoji: 'x' }]);
    expect(legacyText('INC-1 (P3) is past its resolution SLA of 3d (open 3d 1h).', 'authored')).toBe('INC-1 (P3) is past its resolution SLA of 3d (open 3d 1h).');
  });

  it('reads references inside marks too', () => {
    expect(legacyText('*<@U1>* take it', 'authored')).toEqual([{ strong: [{ person: 'U1' }] }, ' take it']);
  });
});

describe('migrateStoredText', () => {
  it('stores converted text the way encodeText does, and decodes to the nodes', () => {
    const stored = migrateStoredText('Checkout down, paged <@U1>');
    expect(stored.startsWith('\u0002')).toBe(true);
    expect(decodeText(stored)).toEqual(['Checkout down, paged ', { person: 'U1' }]);
    expect(stored).toBe(encodeText(['Checkout down, paged ', { person: 'U1' }]));
  });

  it('leaves neutral text alone, so a second run changes nothing', () => {
    const once = migrateStoredText('<@U1> and <#C1>');
    expect(migrateStoredText(once)).toBe(once);
    const nudge = migrateStoredText('Someone press *Take commander*.', 'authored');
    expect(migrateStoredText(nudge, 'authored')).toBe(nudge);
    // Even a marker value whose JSON happens to contain legacy-looking text.
    const odd = `\u0002${JSON.stringify(['<@U9> typed', { person: 'U1' }])}`;
    expect(migrateStoredText(odd)).toBe(odd);
  });

  it('stores markup that reads as plain text as a plain string', () => {
    expect(migrateStoredText('ping <!here>')).toBe('ping @here');
  });
});

describe('migrateEffectPayload', () => {
  const payload = (args: Record<string, unknown>, hook?: Record<string, unknown>) => JSON.stringify({ args, ...(hook ? { hook } : {}) });

  it('reads text, topic and comment arguments and a surface’s headline and intro', () => {
    const before = payload(
      {
        channel: { $ref: 12, path: 'channel' },
        text: '<@U1> Status → *identified*: see <#C1>',
        topic: 'INC-1 · P1 · paged <@U2>',
        comment: 'Review for <@U3>.',
        surface: { kind: 'incident.action', actionId: 'a1', intro: '<@U1> gave you a follow-up from INC-1' },
      },
      { name: 'nudge.posted', data: { nudgeId: 'n1' } },
    );
    const after = JSON.parse(migrateEffectPayload(before));
    expect(after).toEqual({
      args: {
        channel: { $ref: 12, path: 'channel' },
        text: [{ person: 'U1' }, ' Status → *identified*: see ', { channel: 'C1' }],
        topic: ['INC-1 · P1 · paged ', { person: 'U2' }],
        comment: ['Review for ', { person: 'U3' }, '.'],
        surface: { kind: 'incident.action', actionId: 'a1', intro: [{ person: 'U1' }, ' gave you a follow-up from INC-1'] },
      },
      hook: { name: 'nudge.posted', data: { nudgeId: 'n1' } },
    });
    expect(migrateEffectPayload(JSON.stringify(after))).toBe(JSON.stringify(after));
  });

  it('keeps the nodes of a text that already had some (times, links)', () => {
    const text: Inline[] = ['Reminder for <@U1>, due ', { time: '2026-01-05T08:00:00.000Z', style: 'datetime' }, ' ', { link: 'https://x.example', label: 'link' }];
    const after = JSON.parse(migrateEffectPayload(payload({ user: 'U1', text })));
    expect(after.args.text).toEqual(['Reminder for ', { person: 'U1' }, ', due ', { time: '2026-01-05T08:00:00.000Z', style: 'datetime' }, ' ', { link: 'https://x.example', label: 'link' }]);
  });

  it('leaves anything else byte-identical', () => {
    for (const p of [
      payload({ channel: 'C1', text: 'nothing to read: a < b' }),
      payload({ channel: 'C1', surface: { kind: 'incident.announcement', incidentId: 'i1', headline: 'P1 incident declared: INC-1 Login' } }),
      payload({ channel: 'C1', content: 'file with <@U1> stays', filename: 'x.md', title: '<@U1> title' }),
      payload({ line: 'muster-audit-checkpoint <@U1>' }),
      '{"args": {"text": "<@U1>"}, "x": 1'.slice(0, 20),
      'not json',
      '[1,2]',
      '{"noargs":true}',
    ]) {
      expect(migrateEffectPayload(p)).toBe(p);
    }
  });
});
