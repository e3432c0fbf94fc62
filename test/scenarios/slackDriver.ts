import { stuckEffects } from '../support/store.ts';
import { expect } from 'vitest';
import { startHarness, ADMIN, SIGNING_SECRET, type Harness } from '../support/harness.ts';
import { GENERAL_CHANNEL_ID, TEAM_ID, type FakeMessage, type FakeView } from '../support/fakeSlack.ts';
import { blockAction, post, slashCommand, viewSubmission } from '../support/slackRequests.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { BUTTONS } from '../../src/services/interactions.ts';
import { cardMatches, normaliseSlack, PEOPLE, type Card, type CardMatch, type ChatDriver, type DriverOptions, type OpenForm, type Person } from './driver.ts';

/**
 * The ChatDriver over the Slack harness: slash commands signed as Slack sends them (people picked from the
 * autocomplete, `<@U…>`), clicks as block_actions echoing the message they were on, forms as view_submission with
 * the state Slack would send (every input, untouched ones with their initial values). What the person is told
 * comes back on the response_url (command and click follow-ups) or in the command's HTTP answer; form problems
 * in the submission's `response_action: errors`.
 */

type Json = Record<string, unknown>;
// biome-ignore lint: loose views of Block Kit
type Loose = any;

const ID: Record<Person, string> = Object.fromEntries(PEOPLE.map((p) => [p, p === 'admin' ? ADMIN : `U${p.toUpperCase()}`])) as Record<Person, string>;
const PERSON_OF = new Map(Object.entries(ID).map(([p, id]) => [id, p]));

/** How long a click's answer on its response_url is waited for: long when the handler always answers, short otherwise. */
const SAID_MS = 2_000;
const QUIET_MS = 300;
/** Slack's "done already" answers (conversations.invite, pins.add, reactions.add). */
const ALREADY = new Set(['already_in_channel', 'already_pinned', 'already_reacted']);

interface Told {
  /** what the HTTP answer said */
  now: string[];
  /** response_url ids whose messages are follow-ups */
  urls: string[];
}

export async function startSlackDriver(o: DriverOptions = {}): Promise<ChatDriver> {
  const clock = o.clock ?? new ManualClock(new Date());
  const h: Harness = await startHarness({
    ...(o.policy ? { policy: o.policy } : {}),
    clock,
    users: PEOPLE.filter((p) => p !== 'admin').map((p) => ({ id: ID[p], name: p })),
  });
  const slack = h.slack;
  let n = 0;
  const last = new Map<Person, Told>();
  const forms = new Map<Person, FakeView>();
  /** what was typed into an open modal, by view id */
  const typedIn = new Map<string, Record<string, string>>();

  const nameOf = (id: string) => PERSON_OF.get(id) ?? slack.user(id)?.name ?? id;
  const channelName = (id: string) => slack.channel(id)?.name ?? id;
  const norm = (s: string) => normaliseSlack(s, nameOf, channelName);

  /** A message's text as a person reads it: its blocks when it has them (the card), else its text. */
  const blockText = (b: Loose): string[] => {
    switch (b?.type) {
      case 'header':
        return [b.text?.text ?? ''];
      case 'section':
        return [...(b.text ? [b.text.text] : []), ...((b.fields ?? []) as Loose[]).map((f) => String(f.text).replace(/\n/, ': '))];
      case 'context':
        return ((b.elements ?? []) as Loose[]).map((e) => e.text ?? '');
      default:
        return [];
    }
  };
  const textOf = (m: { text?: string; blocks?: unknown[] }): string => (m.blocks?.length ? (m.blocks as Loose[]).flatMap(blockText).map(norm).join('\n') : norm(m.text ?? ''));
  const buttonsOf = (m: { blocks?: unknown[] }) =>
    ((m.blocks ?? []) as Loose[])
      .filter((b) => b.type === 'actions')
      .flatMap((b) => (b.elements ?? []) as Loose[])
      .filter((e) => e.type === 'button');
  const asCard = (m: FakeMessage): Card | undefined => {
    const header = ((m.blocks ?? []) as Loose[]).find((b) => b.type === 'header');
    if (!header) return undefined;
    return { title: norm(header.text?.text ?? ''), text: textOf(m), buttons: buttonsOf(m).map((b) => norm(b.text?.text ?? '')), channel: m.channel };
  };
  /** Channels first (oldest first), then everyone's DMs: the card where it was posted before its copies. */
  const places = (where?: string) => (where ? [where] : [...slack.allChannels().map((c) => c.id), ...PEOPLE.map((p) => slack.imChannelId(ID[p])).filter((c): c is string => c !== undefined)]);
  function find(match: CardMatch, where?: string): { card: Card; message: FakeMessage } | undefined {
    for (const channel of places(where)) {
      for (const message of slack.messages(channel)) {
        const card = asCard(message);
        if (card && cardMatches(card, match)) return { card, message };
      }
    }
    return undefined;
  }
  const allCards = () => places().flatMap((c) => slack.messages(c).flatMap((m) => asCard(m)?.title ?? []));

  /** What a response_url was told, as text. */
  // What the person was told: a replace_original post redraws the clicked card copy instead (Kernel.inTx).
  const toldOn = (id: string) => slack.responsesTo(id).filter((r) => (r.body as Json).replace_original !== true);
  const saidOn = (id: string) => toldOn(id).map((r) => norm(String((r.body as Json).text ?? '')));

  function mention(line: string): string {
    return line.replace(/@([a-z]+)\b/g, (m, name: string) => ((PEOPLE as readonly string[]).includes(name) ? `<@${ID[name as Person]}|${name}>` : m));
  }

  const formValues = (view: FakeView, values: Record<string, string>): Record<string, Record<string, unknown>> => {
    const state: Record<string, Record<string, unknown>> = {};
    for (const b of view.blocks as Loose[]) {
      if (b.type !== 'input') continue;
      const el = b.element;
      const given = values[b.block_id];
      let v: unknown;
      const fail = (why: string) => {
        throw new Error(`field ${b.block_id} ("${b.label?.text}"): ${why}`);
      };
      if (el.type === 'plain_text_input') {
        const value: string = given ?? el.initial_value ?? '';
        // What Slack's client checks before it sends the submission.
        if (!b.optional && value === '') fail("Slack's client does not submit a required field left empty");
        if (value !== '' && el.min_length !== undefined && value.length < el.min_length) fail(`at least ${el.min_length} characters`);
        if (el.max_length !== undefined && value.length > el.max_length) fail(`at most ${el.max_length} characters`);
        v = { type: el.type, value: value === '' ? null : value };
      } else if (el.type === 'static_select' || el.type === 'radio_buttons') {
        const value = given ?? el.initial_option?.value;
        const option = ((el.options ?? []) as Loose[]).find((x) => x.value === value);
        if (given !== undefined && !option) fail(`no option ${given}`);
        if (!b.optional && !option) fail("Slack's client does not submit a required choice left empty");
        v = { type: el.type, selected_option: option ?? null };
      } else fail(`${el.type} is not filled in by this driver`);
      state[b.block_id] = { [el.action_id]: v };
    }
    const unknown = Object.keys(values).filter((k) => !(k in state));
    if (unknown.length) throw new Error(`the form has no field ${unknown.join(', ')}`);
    return state;
  };

  const driver: ChatDriver = {
    platform: 'slack',
    clock,
    muster: h.muster,
    general: GENERAL_CHANNEL_ID,

    async command(who, line, where = GENERAL_CHANNEL_ID) {
      const m = /^\/(\S+)\s*([\s\S]*)$/.exec(line.trim());
      if (!m) throw new Error(`not a command: ${line}`);
      n += 1;
      const url = `drv-cmd-${n}`;
      const before = slack.modals(ID[who]).length;
      const res = await post(
        h.muster.url,
        slashCommand({
          command: `/${m[1]}`,
          text: mention(m[2]!),
          userId: ID[who],
          userName: who,
          teamId: TEAM_ID,
          channelId: where,
          responseUrl: slack.responseUrl(url),
          triggerId: slack.trigger(ID[who]),
        }),
        { secret: SIGNING_SECRET },
      );
      expect(res.status, res.body).toBe(200);
      const body = (res.body ? JSON.parse(res.body) : {}) as { text?: string };
      const said = body.text ? [norm(body.text)] : [];
      last.set(who, { now: said, urls: [url] });
      const opened = slack.modals(ID[who]);
      if (opened.length > before) forms.set(who, opened.at(-1)!);
      return said.join('\n');
    },

    async reply(who) {
      await driver.flush();
      const t = last.get(who);
      if (!t) return '';
      return [...t.now, ...t.urls.flatMap(saidOn)].join('\n');
    },

    card(match, where) {
      const hit = find(match, where);
      if (!hit) throw new Error(`no card ${String(match)} on Slack; the cards are: ${JSON.stringify(allCards())}`);
      return hit.card;
    },

    hasCard: (match, where) => find(match, where) !== undefined,

    async click(who, match, label, where) {
      const hit = find(match, where);
      if (!hit) throw new Error(`no card ${String(match)} on Slack; the cards are: ${JSON.stringify(allCards())}`);
      const button = buttonsOf(hit.message).find((b) => norm(b.text?.text ?? '') === label);
      if (!button) throw new Error(`no button "${label}" on ${hit.card.title}: ${JSON.stringify(hit.card.buttons)}`);
      n += 1;
      const url = `drv-click-${n}`;
      const before = slack.modals(ID[who]).length;
      const res = await post(
        h.muster.url,
        blockAction({
          actionId: button.action_id,
          value: button.value,
          blockId: ((hit.message.blocks ?? []) as Loose[]).find((b) => b.type === 'actions' && (b.elements as Loose[]).includes(button))?.block_id,
          userId: ID[who],
          userName: who,
          teamId: TEAM_ID,
          channelId: hit.message.channel,
          channelName: slack.channel(hit.message.channel)?.name,
          messageTs: hit.message.ts,
          message: { text: hit.message.text, blocks: hit.message.blocks ?? [] },
          // A click's response_url knows its message: replace_original redraws that message (Slack's "Handling user interaction").
          responseUrl: slack.responseUrl(url, { channel: hit.message.channel, user: ID[who], messageTs: hit.message.ts }),
          triggerId: slack.trigger(ID[who]),
          text: button.text?.text,
        }),
        { secret: SIGNING_SECRET },
      );
      expect(res.status, res.body).toBe(200);
      last.set(who, { now: [], urls: [url] });
      const opened = slack.modals(ID[who]);
      if (opened.length > before) {
        forms.set(who, opened.at(-1)!);
        return '';
      }
      // The clicker is told on the response_url just after the ack: always for buttons that confirm, only on a problem otherwise.
      const action = String(button.action_id).replace(/#\d+$/, '') as keyof typeof BUTTONS;
      const confirms = BUTTONS[action]?.kind === 'run' && BUTTONS[action].confirm;
      await slack.waitFor(() => toldOn(url).length > 0 || undefined, confirms ? SAID_MS : QUIET_MS).catch(() => undefined);
      return saidOn(url).join('\n');
    },

    form(who) {
      const v = forms.get(who);
      if (!v) return undefined;
      const title = norm(String((v.title as Loose)?.text ?? ''));
      return { title, fields: (v.blocks as Loose[]).filter((b) => b.type === 'input').map((b) => String(b.block_id)) } satisfies OpenForm;
    },

    async submitForm(who, values) {
      const view = forms.get(who);
      if (!view) throw new Error(`${who} has no form open`);
      // After a refusal the modal stays open with what was typed in it.
      const all = { ...(typedIn.get(view.id) ?? {}), ...values };
      typedIn.set(view.id, all);
      const res = await post(
        h.muster.url,
        viewSubmission({
          callbackId: view.callback_id,
          privateMetadata: view.private_metadata,
          values: formValues(view, all),
          userId: ID[who],
          userName: who,
          teamId: TEAM_ID,
          viewId: view.id,
          blocks: view.blocks,
        }),
        { secret: SIGNING_SECRET },
      );
      expect(res.status, res.body).toBe(200);
      const ack = res.body ? (JSON.parse(res.body) as Json) : undefined;
      const { errors } = slack.applySubmissionAck(view.id, ack);
      last.set(who, { now: Object.values(errors ?? {}).map(norm), urls: [] });
      if (!errors) forms.delete(who);
      return Object.values(errors ?? {})
        .map(norm)
        .join('\n');
    },

    channelNamed: (prefix) => slack.allChannels().find((c) => c.name.startsWith(prefix))?.id,

    dmsOf: (who) => slack.dms(ID[who]).map(textOf),
    messages: (where) => slack.messages(where).map(textOf),

    flush: () => h.flush(),
    tick: () => h.tick(),

    async assertNothingStuck() {
      await h.flush();
      expect(await stuckEffects(h.muster.db), 'nothing dead-lettered or stuck').toEqual([]);
      expect(slack.garbled, 'no text flattened to [object Object]').toEqual([]);
      // Answers that mean "done already" are how Muster's idempotent calls succeed a second time.
      const refused = slack.calls.filter((c) => (c.status >= 400 || (c.response as Json | undefined)?.ok === false) && !ALREADY.has(String((c.response as Json | undefined)?.error)));
      expect(
        refused.map((c) => ({ method: c.method, error: (c.response as Json | undefined)?.error })),
        'no call refused by Slack',
      ).toEqual([]);
    },

    close: () => h.close(),
  };
  return driver;
}
