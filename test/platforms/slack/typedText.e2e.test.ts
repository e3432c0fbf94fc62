import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, ADMIN, type Harness } from '../../support/harness.ts';
import { stateValue } from '../../support/slackRequests.ts';
import { parsePolicyText } from '../../../src/config/policy.ts';
import { ACTIONS, FIELDS, VIEWS } from '../../../blocks/actionIds.ts';
import { ManualClock } from '../../../src/domain/clock.ts';
import { decodeText } from '../../../src/domain/text.ts';

/**
 * Text a person typed is data (PRODUCT.md): whatever they type into any free-text field,
 * nothing Muster sends to Slack may ping a crowd (`<!everyone>`, `<!channel>`, `<!here>`,
 * `<!subteam^…>`) or carry a link whose label lies. One row per field; every row checks
 * every Web API call, response_url post and ack that the action caused.
 */

// What Slack sends in a slash command with escaping on: autocompleted specials as markup,
// characters typed literally escaped (&lt; &gt; &amp;), and a mention picked from autocomplete.
const TYPED = 'x <!everyone> <!channel> <!here> <!subteam^S0SRE|@sre> <https://evil.example/x|https://status.example.com> &lt;!everyone&gt; &amp; <@UBOB|bob>';
// What a form field (plain_text_input) delivers: exactly what was typed, never escaped.
const RAW = 'x <!everyone> <!channel> <!here> <!subteam^S0SRE|@sre> <https://evil.example/x|https://status.example.com> & <@UBOB>';

// A live crowd ping, or a link that really points at evil.example (escaped text shows it, harmless).
const LIVE_DANGER = /<!(?:everyone|channel|here|subteam)|<https?:\/\/evil/;
/** Proof the typed text got through to Slack at all (shown as text). */
const SHOWN = /@everyone|&lt;!everyone&gt;/;

const ANA = 'UANA';
const BOB = 'UBOB';
const CTO = 'UCTO';
const QA = 'UQA';
const SEC = 'USEC';

const policy = parsePolicyText(['incidents:', '  broadcastChannel: "#incidents"', 'approvals:', '  channel: "#approvals"', '  securityChannel: "#security"'].join('\n')).policy!;

let h: Harness;
let ackBodies: string[] = [];

beforeAll(async () => {
  h = await startHarness({ policy, clock: new ManualClock(new Date()), users: [ANA, BOB, CTO, QA, SEC].map((id) => ({ id, name: id.slice(1).toLowerCase() })) });
  h.slack.addChannel({ id: 'CINCIDENTS', name: 'incidents' });
  h.slack.addChannel({ id: 'CAPPROVALS', name: 'approvals' });
  h.slack.addChannel({ id: 'CSECURITY', name: 'security' });
  h.slack.addUsergroup('S0SRE', 'sre', [BOB]);
  for (const [role, user] of [
    ['cto', CTO],
    ['qa_lead', QA],
    ['security_lead', SEC],
    ['oncall', BOB],
  ]) {
    expect((await h.command('/muster', `grant ${role} <@${user}>`, ADMIN)).reply.text).toContain('Granted');
  }
  await h.flush();
});
afterAll(async () => h?.close());

const db = () => h.muster.db;

async function command(cmd: string, text: string, user: string) {
  const r = await h.command(cmd, text, user);
  ackBodies.push(r.body);
  return r;
}

/** Slack parses no markup in plain_text objects (headers, labels, inputs): only mrkdwn can ping. */
function withoutPlainText(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPlainText);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (obj.type === 'plain_text' || obj.type === 'plain_text_input') return { type: obj.type };
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, withoutPlainText(v)]));
  }
  return value;
}

/** Everything the last step sent to Slack where Slack reads markup. */
function everythingSent(): string[] {
  const calls = h.slack.calls.map((c) => JSON.stringify(withoutPlainText({ method: c.method, text: c.args.text, blocks: c.args.blocks, view: c.args.view, comment: c.args.initial_comment })));
  const responses = h.slack.responses.map((r) => JSON.stringify(withoutPlainText(r.body)));
  return [...calls, ...responses, ...ackBodies.map((b) => (b ? JSON.stringify(withoutPlainText(JSON.parse(b))) : ''))];
}

async function incidentChannel(n: number): Promise<string> {
  const inc = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: n } }));
  return inc.channelId!;
}

async function approvalId(n: number): Promise<string> {
  return (await db().read((tx) => tx.approvalRequest.findFirstOrThrow({ where: { number: n } }))).id;
}

/** `shows`: the step echoes the typed text somewhere (some only confirm, e.g. a note). */
type Row = [field: string, run: () => Promise<void>, shows?: false];

const rows: Row[] = [
  ['incident title (command)', async () => void (await command('/incident', `declare P1 ${TYPED}`, ANA))],
  [
    'incident title, description and services (declare form)',
    async () => {
      await h.submit(
        VIEWS.declare,
        '{"channelId":"C0GENERAL"}',
        {
          [FIELDS.title.block]: { [FIELDS.title.action]: stateValue.plainText(RAW) },
          [FIELDS.severity.block]: { [FIELDS.severity.action]: stateValue.staticSelect('P1') },
          [FIELDS.description.block]: { [FIELDS.description.action]: stateValue.plainText(RAW) },
          [FIELDS.services.block]: { [FIELDS.services.action]: stateValue.plainText(`api, ${RAW}`) },
          [FIELDS.private.block]: { [FIELDS.private.action]: stateValue.radio('public') },
        },
        ANA,
      );
    },
  ],
  ['incident update (command)', async () => void (await command('/incident', `INC-1 update ${TYPED}`, ANA))],
  [
    'incident update (form)',
    async () => {
      const id = (await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }))).id;
      await h.submit(VIEWS.update, JSON.stringify({ incidentId: id }), { [FIELDS.text.block]: { [FIELDS.text.action]: stateValue.plainText(RAW) } }, ANA);
    },
  ],
  ['status note', async () => void (await command('/incident', `INC-1 status identified ${TYPED}`, ANA))],
  ['severity reason', async () => void (await command('/incident', `INC-1 sev P0 ${TYPED}`, ANA))],
  ['timeline note', async () => void (await command('/incident', `INC-1 note ${TYPED}`, ANA)), false],
  ['follow-up action', async () => void (await command('/incident', `INC-1 action ${TYPED} <@UBOB|bob> due 2099-01-02`, ANA))],
  ['public title (status page)', async () => void (await command('/incident', `INC-1 public title ${TYPED}`, ADMIN))],
  ['public services (status page)', async () => void (await command('/incident', 'INC-1 public services api, <!everyone>, &lt;!channel&gt;, <https://evil.example/x|status>', ADMIN))],
  ['public status text', async () => void (await command('/incident', `INC-1 public ${TYPED}`, ADMIN))],
  [
    'pinned message text',
    async () => {
      const ch = await incidentChannel(1);
      const m = h.slack.addMessage(ch, { text: TYPED, user: BOB });
      await h.event({ type: 'pin_added', user: ANA, channel_id: ch, item: { type: 'message', channel: ch, message: { ts: m.ts, text: m.text, user: BOB } }, event_ts: '1' });
      await new Promise((r) => setTimeout(r, 200));
    },
    false,
  ],
  ['incident list', async () => void (await command('/incident', 'list', ANA))],
  ['timeline (shows every entry above)', async () => void (await command('/incident', 'INC-1 timeline', ANA))],
  ['resolve summary (command)', async () => void (await command('/incident', `INC-1 resolve ${TYPED}`, ANA))],
  [
    'resolve summary (form)',
    async () => {
      const id = (await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 2 } }))).id;
      await h.submit(VIEWS.resolve, JSON.stringify({ incidentId: id }), { [FIELDS.text.block]: { [FIELDS.text.action]: stateValue.plainText(RAW) } }, ANA);
    },
  ],
  ['deploy approval reason', async () => void (await command('/approval', `deploy staging api 1.0.0 ${TYPED}`, ANA))],
  ['decision request title', async () => void (await command('/approval', `request technical infrastructure - ${TYPED}`, ANA))],
  ['approval show', async () => void (await command('/approval', 'show APR-1', ANA))],
  [
    'reject reason (form)',
    async () => {
      await h.submit(VIEWS.reject, JSON.stringify({ requestId: await approvalId(1) }), { [FIELDS.reason.block]: { [FIELDS.reason.action]: stateValue.plainText(RAW) } }, QA);
    },
  ],
  ['break-glass reason', async () => void (await command('/approval', `breakglass APR-2 ${TYPED}`, CTO))],
  ['approval list', async () => void (await command('/approval', 'list', ANA))],
  ['audit trail', async () => void (await command('/muster', 'audit', ADMIN)), false],
];

describe('typed text is data in every free-text field', () => {
  it.each(rows)('%s: shown as text, nothing pings a crowd or hides a link', async (_field, run, shows) => {
    h.slack.clearCalls();
    ackBodies = [];
    await run();
    await h.flush();
    const sent = everythingSent();
    for (const s of sent) {
      expect(s).not.toMatch(LIVE_DANGER);
      // Neutral text is never flattened by a stray template literal.
      expect(s).not.toContain('[object Object]');
    }
    if (shows !== false) expect(sent.some((s) => SHOWN.test(s))).toBe(true);
  });

  it('a mention picked from autocomplete in free text still names the person', async () => {
    const ch = await incidentChannel(1);
    const update = h.slack.messages(ch).find((m) => m.text?.includes('Update'));
    expect(update?.text).toContain('<@UBOB>');
    // And the follow-up's owner (a person where the grammar expects one) was told.
    expect(h.slack.dms(BOB).some((m) => /follow-up/i.test(JSON.stringify(m.blocks ?? m.text)))).toBe(true);
  });

  it('what was stored is what was typed (decoded), as neutral text: the picked person a node, nothing else live', async () => {
    const inc = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    expect(decodeText(inc.title)).toEqual(['x @everyone @channel @here @sre https://status.example.com (https://evil.example/x) <!everyone> & ', { person: 'UBOB' }]);
    // Typed markup in a string stays a string: `<@UBOB>` typed by hand is shown as it was typed.
    const form = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 2 } }));
    expect(form.description).toBe(RAW);
  });

  it('the card, the broadcast and the card buttons stay intact', async () => {
    const inc = await db().read((tx) => tx.incident.findFirstOrThrow({ where: { number: 1 } }));
    const card = h.slack.message(inc.channelId!, inc.cardTs!);
    expect(JSON.stringify(card?.blocks)).toContain('&lt;!everyone&gt;');
    // The person picked from autocomplete is a live mention on the card, not text.
    expect(JSON.stringify(card?.blocks)).toContain('<@UBOB>');
    expect(h.slack.messages('CINCIDENTS').length).toBeGreaterThan(0);
    for (const m of h.slack.messages('CINCIDENTS')) expect(JSON.stringify(m)).not.toMatch(LIVE_DANGER);
  });

  it('nothing is dead-lettered or left pending', async () => {
    expect(h.slack.garbled, 'no text flattened to [object Object]').toEqual([]);
    await h.flush();
    const left = await db().read((tx) => tx.outboxEffect.findMany({ where: { status: { in: ['dead', 'pending', 'running'] } } }));
    expect(left).toEqual([]);
    // The follow-up button still works for its owner (a sanity check that ids survived rendering).
    const dm = h.slack.dms(BOB).find((m) => JSON.stringify(m.blocks ?? []).includes(ACTIONS.followUp.done));
    expect(dm).toBeDefined();
  });
});
