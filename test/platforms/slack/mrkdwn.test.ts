import { describe, expect, it } from 'vitest';
import { mrkdwn, parseSlackText, renderBlocks, renderMessage } from '../../../src/platforms/slack/mrkdwn.ts';
import { concat, link, mention, plainText, rt, time } from '../../../src/domain/text.ts';

/** Markup that would ping a crowd or lie about a link, as Slack reads it in mrkdwn. */
const LIVE_DANGER = /<!(?:everyone|channel|here|subteam)|<https?:[^>]*\|/;

describe('parseSlackText: what Slack sends with escaping on, as neutral text', () => {
  it.each([
    ['a mention picked from autocomplete stays a reference', 'ask <@U012ABC|alice> now', 'ask <@U012ABC> now'],
    ['a mention without a label', '<@W0EEE>', '<@W0EEE>'],
    ['a channel link stays a reference', 'see <#C0123|ops>', 'see <#C0123>'],
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
    ['an escaped mention typed literally is a reference (a typed <@U…> works)', '&lt;@U0BOB&gt;', '<@U0BOB>'],
    ['plain text is unchanged', 'db at 99% cpu', 'db at 99% cpu'],
  ])('%s', (_what, input, expected) => {
    expect(parseSlackText(input)).toBe(expected);
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

  it('escapes &, < and > in typed text, and nothing else', () => {
    expect(mrkdwn('a & b < c > d *bold* _it_ `code` :fire:')).toBe('a &amp; b &lt; c &gt; d *bold* _it_ `code` :fire:');
    expect(mrkdwn('&amp;')).toBe('&amp;amp;');
  });

  it('keeps references to one person or one channel live', () => {
    expect(mrkdwn(`${mention('U0BOB')} took commander in <#C0INC>`)).toBe('<@U0BOB> took commander in <#C0INC>');
    expect(mrkdwn('<@U0BOB|bob>')).toBe('&lt;@U0BOB|bob&gt;');
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

  it('renders every text object of a surface, leaving plain_text unparsed', () => {
    const blocks = renderBlocks([
      { type: 'header', text: { type: 'plain_text', text: 'INC-1 · <!everyone> down', emoji: true } },
      { type: 'section', text: { type: 'mrkdwn', text: concat('*Title* ', '<!channel>') }, fields: [{ type: 'mrkdwn', text: 'x'.repeat(2500) }] },
      { type: 'context', elements: [{ type: 'mrkdwn', text: rt`at ${time(new Date(0))}` }] },
    ]);
    expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'INC-1 · <!everyone> down', emoji: true } });
    expect((blocks[1] as { text: { text: string } }).text.text).toBe('*Title* &lt;!channel&gt;');
    expect((blocks[1] as { fields: { text: string }[] }).fields[0]!.text.length).toBe(2000);
    expect(JSON.stringify(blocks[2])).toContain('<!date^0^');
  });

  it('renders a message’s fallback text too', () => {
    expect(renderMessage({ text: '<!here> hi', blocks: [] }).text).toBe('&lt;!here&gt; hi');
  });
});

describe('plainText', () => {
  it('shows references, times and links without markup', () => {
    const at = new Date('2026-01-05T09:00:00.000Z');
    expect(plainText(rt`${mention('U1')} in <#C1> at ${time(at)}: ${link('https://x.example', 'doc')}`)).toBe('@U1 in #C1 at 2026-01-05T09:00:00Z: doc (https://x.example)');
    expect(plainText('<@U1> ok', { person: () => '@alice' })).toBe('@alice ok');
  });
});
