import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stuckEffects } from '../../support/store.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { ACTIONS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { MENTIONS_SHOWN } from '../../../src/domain/text.ts';

/**
 * A role many people hold: every holder is asked (a DM each), and the reply and the card name the first
 * MENTIONS_SHOWN and count the rest, so that what follows the list (the expiry) is never cut off.
 */
let h: Harness;
const DEV = 'UDEV';
const QAS = Array.from({ length: MENTIONS_SHOWN + 3 }, (_, i) => `UQA${String(i).padStart(2, '0')}`);
const policy = parsePolicyText(['approvals:', '  channel: "#approvals"', 'changes:', '  enforcedIn: []'].join('\n')).policy!;

beforeAll(async () => {
  h = await startHarness({ policy, clock: new ManualClock(new Date()), users: [DEV, ...QAS].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
  for (const qa of QAS) expect((await h.command('/muster', `grant qa_lead <@${qa}>`, ADMIN)).reply.text).toContain('Granted');
  await h.flush();
});
afterAll(async () => h?.close());

/** The "Can approve" line of a card as Slack holds it. */
function canApprove(channel: string): string | undefined {
  type Block = { type: string; elements?: { text?: unknown }[] };
  const card = h.slack.messages(channel).find((m) => m.text.startsWith('APR-1 '));
  const lines = ((card?.blocks ?? []) as Block[]).flatMap((b) => (b.elements ?? []).map((e) => e.text).filter((t): t is string => typeof t === 'string'));
  return lines.find((l) => l.startsWith('Can approve'));
}

it('every holder is asked by DM; the reply and the card name ten and count the rest', async () => {
  const r = await h.command('/approval', 'deploy uat api 1.2.3', DEV);
  const named = QAS.slice(0, MENTIONS_SHOWN)
    .map((u) => `<@${u}>`)
    .join(', ');
  expect(r.reply.text).toBe(`APR-1 requested: Deploy api 1.2.3 to uat. Needs qa_lead (1 approval in all); asked ${named} and 3 more. Expires in 1d.`);
  await h.flush();
  for (const qa of QAS) expect(h.slack.dms(qa).filter((m) => m.text.startsWith('APR-1 ')).length, qa).toBe(1);
  for (const channel of ['C0GENERAL', 'CAPPROVALS']) {
    expect(canApprove(channel)).toMatch(
      new RegExp(
        `^Can approve: ${QAS.slice(0, MENTIONS_SHOWN)
          .map((u) => `<@${u}>`)
          .join(' ')} and 3 more · expires <!date\\^`,
      ),
    );
  }

  // The last of them (not named) approves: every copy leaves the list behind.
  const req = await h.muster.db.read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: 1 } }));
  await h.click(ACTIONS.approval.approve, req.id, QAS.at(-1)!);
  await h.flush();
  expect(canApprove('C0GENERAL')).toBeUndefined();
  expect((await h.muster.db.read((tx) => tx.approvalRequest.findUniqueOrThrow({ where: { id: req.id } }))).status).toBe('approved');
  expect(await stuckEffects(h.muster.db)).toEqual([]);
  expect(h.slack.garbled).toEqual([]);
});
