import { describe, expect, it } from 'vitest';
import { approvalCard } from '../../blocks/approval.ts';
import { LIMITS } from '../../blocks/limits.ts';
import { MENTIONS_SHOWN, mentionList, plainText } from '../../src/domain/text.ts';
import { slackMessage } from '../../src/platforms/slack/blockKit.ts';
import { discordMessage } from '../../src/platforms/discord/render.ts';
import { approvalView } from '../support/views.ts';

/** Who may still approve, on the card: everyone can be thousands of people (a role most of an organisation holds). */
const ids = (n: number) => Array.from({ length: n }, (_, i) => `UQA${String(i).padStart(5, '0')}`);

const view = (eligible: string[]) =>
  approvalView({ title: 'Deploy api 2.3.0 to uat', reason: null, progress: '0 of 1 — needs a qa_lead', approvals: 0, required: 1, eligible, votes: [], details: [['Environment', 'uat']] });

/** The text of the card's "Can approve" context block, as Slack receives it. */
function canApprove(eligible: string[]): string {
  const blocks = slackMessage(approvalCard(view(eligible))).blocks ?? [];
  const texts = blocks.flatMap((b) => (b.type === 'context' ? b.elements.flatMap((e) => ('text' in e && typeof e.text === 'string' ? [e.text] : [])) : []));
  const line = texts.find((t) => t.startsWith('Can approve'));
  if (!line) throw new Error(`no "Can approve" line in ${JSON.stringify(texts)}`);
  return line;
}

describe('mentionList', () => {
  it('names everyone up to the limit, then says how many more', () => {
    expect(plainText(mentionList([], ', '))).toBe('');
    expect(plainText(mentionList(['UA', 'UB'], ', '))).toBe('@UA, @UB');
    expect(plainText(mentionList(ids(MENTIONS_SHOWN), ' '))).not.toContain('more');
    expect(plainText(mentionList(['UA', 'UB', 'UC'], ', ', 2))).toBe('@UA, @UB and 1 more');
    expect(plainText(mentionList(ids(5000), ' '))).toMatch(/ and 4,990 more$/);
  });
});

describe('the approval card names who may approve', () => {
  it('everyone when they are few', () => {
    expect(canApprove(ids(3))).toBe(`Can approve: <@UQA00000> <@UQA00001> <@UQA00002> · expires <!date^${Date.parse('2026-04-02T14:00:00Z') / 1000}^{date_short_pretty} {time}|2026-04-02T14:00:00Z>`);
  });

  it(`the first ${MENTIONS_SHOWN} and how many more, with the expiry kept, when thousands may`, () => {
    for (const n of [MENTIONS_SHOWN + 1, 400, 5000]) {
      const line = canApprove(ids(n));
      expect(line.match(/<@U/g)?.length).toBe(MENTIONS_SHOWN);
      expect(line).toContain(`<@UQA00009> and ${(n - MENTIONS_SHOWN).toLocaleString('en-US')} more · expires <!date^`);
      expect(line.length).toBeLessThan(LIMITS.sectionText);
    }
  });

  it('on Discord too', () => {
    const e = discordMessage(approvalCard(view(ids(400)))).embeds?.[0];
    expect(e?.description).toContain(' and 390 more · expires <t:');
  });
});
