import { describe, expect, it } from 'vitest';
import { mrkdwn, parseSlackText } from '../../../src/platforms/slack/mrkdwn.ts';
import { slackMessage } from '../../../src/platforms/slack/blockKit.ts';
import { channelRef, code, concat, em, fmt, link, mention, plainText, rt, strong, time } from '../../../src/domain/text.ts';

/** Markup that would ping a crowd or lie about a link, as Slack reads it in mrkdwn. */
const LIVE_DANGER = /<!(?:everyone|channel|here|subteam)|<https?:[^>]*\|/;

describe('parseSlackText: what Slack sends with escaping on, as neutral text', () => {
  it.each([
    ['a mention picked from autocomplete becomes a person', 'ask <@U012ABC|alice> now', ['ask ', { person: 'U012ABC' }, ' now']],
    ['a mention without a label', '<@W0EEE>', [{ person: 'W0EEE' }]],
    ['a channel link becomes a channel', 'see <#C0123|ops>', ['see ', { channel: 'C0123' }]],
    ['@everyone becomes words', '<!everyone> checkout down', '@everyone checkout down'],
    ['@channel and @here become words', '<!channel> and <!here|here>', '@channel and @here'],
    ['a group ping keeps its label, as text', 'cc <!subteam^S0SRE|@sre>', 'cc @sre'],
    ['a group ping without label', 'cc <!subteam^S0SRE>', 'cc @S0SRE'],
    ['a date shows its fallback', '<!date^1700000000^{date}|Nov 14>', 'Nov 14'],
    ['a bare link becomes its URL', 'see <https://example.com/a?b=1&amp;c=2>', 'see https://example.com/a?b=1&c=2'],
    ['a labelled link shows label and target', '<https://evil.example/x|https://status.example.com>', 'https://status.example.com (https://evil.example/x)'],
    ['an email arrives as a mailto link: the address', 'ask <mailto:ana@example.com|ana@example.com>', 'ask ana@example.com'],
    ['a mailto link with another label shows both', '<mailto:ana@example.com|Ana>', 'Ana (mailto:ana@example.com)'],
    ['a link labelled with itself', '<https://a.example|https://a.example>', 'https://a.example'],
    ['escaped characters typed literally decode', 'a &lt;!everyone&gt; &amp; b &gt; c', 'a <!everyone> & b > c'],
    ['an escaped mention typed literally stays text', '&lt;@U0BOB&gt;', '<@U0BOB>'],
    ['control characters typed are dropped', 'a\u0002b\u0007c', 'abc'],
    ['plain text is unchanged', 'db at 99% cpu', 'db at 99% cpu'],
  ])('%s', (_what, input, expected) => {
    expect(parseSlackText(input)).toEqual(typeof expected === 'string' ? [expected] : expected);
  });
});

describe('mrkdwn: neutral text rendered for Slack', () => {
  it.each([
    ['<!everyone> checkout down'],
    ['<!channel>'],
    ['<!here>'],
    ['<!subteam^S0SRE|@sre>'],
    ['<https://evil.example/x|https://status.example.com>'],
    ['<mailto:a@b.example|click>'],
    ['<!date^1700000000^{date}|x>'],
    ['<@U1|<!everyone>>'],
  ])('typed markup %j is shown, never live', (typed) => {
    const out = mrkdwn(typed);
    expect(out).not.toMatch(LIVE_DANGER);
    expect(out).not.toMatch(/<!/);
    expect(out).toContain('&lt;');
  });

  it('escapes &, < and > in typed text', () => {
    expect(mrkdwn('a & b < c > d')).toBe('a &amp; b &lt; c &gt; d');
    expect(mrkdwn('&amp;')).toBe('&amp;amp;');
  });

  it('a person or a channel is live only as a node, never from a string', () => {
    expect(mrkdwn(rt`${mention('U0BOB')} took commander in ${channelRef('C0INC')}`)).toBe('<@U0BOB> took commander in <#C0INC>');
    expect(mrkdwn('<@U0BOB> and <#C0INC>')).toBe('&lt;@U0BOB&gt; and &lt;#C0INC&gt;');
  });

  it('renders emphasis and code nodes, spaces outside the marks', () => {
    expect(mrkdwn(rt`${strong('Update ')}from ${em('nobody')} ${code('/incident <x>')}`)).toBe('*Update* from _nobody_ `/incident &lt;x&gt;`');
    expect(mrkdwn(fmt('*/incident* — run `/incident help`'))).toBe('*/incident* — run `/incident help`');
  });

  it('renders Muster’s own times and links as markup', () => {
    const at = new Date('2026-11-26T08:00:00.000Z');
    expect(mrkdwn(rt`due ${time(at)}`)).toBe(`due <!date^${at.getTime() / 1000}^{date_short_pretty} {time}|2026-11-26T08:00:00Z>`);
    expect(mrkdwn(rt`${time(at, 'time')}`)).toContain('^{time}|');
    expect(mrkdwn(rt`see ${link('https://example.com/a|b>c', 'the <doc>')}`)).toBe('see <https://example.com/a%7Cb%3Ec|the &lt;doc&gt;>');
  });

  it('cuts long text without breaking an escape or a node, and says so', () => {
    const long = `${'&'.repeat(20)}${'x'.repeat(50)}`;
    const out = mrkdwn(long, 30);
    expect(out.length).toBeLessThanOrEqual(30);
    expect(out.endsWith('…')).toBe(true);
    expect(out.slice(0, -1)).toMatch(/^(&amp;)+$/);
    const withNode = mrkdwn(rt`${'y'.repeat(10)}${time(new Date())}${'z'.repeat(100)}`, 40);
    expect(withNode).toBe(`${'y'.repeat(10)}…`);
  });

  it('a message renders its fallback text and blocks', () => {
    const m = slackMessage({
      text: '<!here> hi',
      blocks: [
        { kind: 'header', text: 'INC-1 · <!everyone> down' },
        { kind: 'section', text: concat(strong('Title'), ' <!channel>') },
        { kind: 'fields', fields: [{ label: 'Who', value: 'x'.repeat(2500) }] },
      ],
    });
    expect(m.text).toBe('&lt;!here&gt; hi');
    // Slack parses no markup in plain_text (headers): shown as typed.
    expect(m.blocks![0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'INC-1 · <!everyone> down', emoji: true } });
    expect(m.blocks![1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '*Title* &lt;!channel&gt;', verbatim: true } });
    expect((m.blocks![2] as { fields: { text: string }[] }).fields[0]!.text.length).toBe(2000);
  });
});

describe('plainText', () => {
  it('shows references, times and links without markup', () => {
    const at = new Date('2026-01-05T09:00:00.000Z');
    expect(plainText(rt`${mention('U1')} in ${channelRef('C1')} at ${time(at)}: ${link('https://x.example', 'doc')}`)).toBe('@U1 in #C1 at 2026-01-05T09:00:00Z: doc (https://x.example)');
    expect(plainText([mention('U1'), ' ok'], { person: () => '@alice' })).toBe('@alice ok');
  });
});
