import { stuckEffects } from '../support/store.ts';
import { expect } from 'vitest';
import { ApplicationCommandOptionType, ApplicationCommandType, ChannelType, ComponentType, InteractionResponseType, InteractionType, type APIMessage } from 'discord-api-types/v10';
import { startDiscordHarness, type DiscordHarness, type InteractionAnswer } from '../support/discordHarness.ts';
import { GENERAL_CHANNEL_ID, GUILD_ID } from '../support/fakeDiscord.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { commands } from '../../commands/index.ts';
import { CommandLine, display, type Token } from '../../commands/line.ts';
import { textValue, wordValue, type OptionSpec, type RawValue, type Subcommand, type TextRead } from '../../commands/grammar.ts';
import { inlines, isChannelNode, isPersonNode, plainText, type Inline, type Text } from '../../src/domain/text.ts';
import { cardMatches, normaliseDiscord, PEOPLE, type Card, type CardMatch, type ChatDriver, type DriverOptions, type OpenForm, type Person } from './driver.ts';

/**
 * The ChatDriver over the Discord harness. A command written as typed in Slack becomes the application command a
 * person fills in on Discord: the line is read with the command's own grammar (commands/: its subcommands, their
 * words and options, and their text readers), and each option it finds is sent as Discord's typed option (people
 * as user options, text as strings, choices as their exact value). A value Discord's client would not let through
 * (a missing required option, a choice that is not one, a typed name for a user option) is a mistake in the
 * scenario, and throws.
 *
 * Every answer Muster gives in the HTTP response is relayed to FakeDiscord's interaction callback route, as Discord
 * takes it: so it is checked against Discord's rules (a modal's title and components, a message's limits), an
 * ephemeral message exists to click on (Next page), and follow-ups find their interaction. A relay Discord would
 * refuse fails the step.
 */

// biome-ignore lint: loose views of Discord's objects
type Loose = any;

const ID: Record<Person, string> = Object.fromEntries(PEOPLE.map((p, i) => [p, `13000000000000000${String(i + 10)}`])) as Record<Person, string>;
const PERSON_OF = new Map(Object.entries(ID).map(([p, id]) => [id, p]));
const NEXT_PAGE = 'form.next:';

interface Told {
  now: string[];
  /** interactions whose follow-ups and edits count as what the person was told */
  interactions: string[];
}

interface ModalState {
  data: Loose;
  channel: string;
}

// ---------------------------------------------------------------------------------------------
// A line of Slack text → a Discord application command, through the command's grammar

/** The subcommand that the words at `at` choose, as the grammar chooses it (the longest path of words or alias wins). */
function choose(subs: readonly Subcommand[], tokens: readonly Token[], at: number): { sub: Subcommand; from: number } | undefined {
  let best: { sub: Subcommand; from: number; length: number } | undefined;
  for (const sub of subs) {
    for (const path of [sub.words, ...sub.aliases.map((a) => [a])]) {
      const fits = path.every((w, k) => {
        const t = tokens[at + k];
        return t?.kind === 'word' && t.text.toLowerCase() === w;
      });
      if (!fits || (sub.exact && tokens.length !== at + path.length)) continue;
      if (!best || path.length > best.length) best = { sub, from: at + path.length, length: path.length };
    }
  }
  return best;
}

/** The grammar's default reader: one word per option in order, a text or list option takes the rest. */
function readWords(sub: Subcommand, line: CommandLine, from: number): TextRead {
  const own = sub.options.filter((o) => !o.prefix);
  const words = own.filter((o) => o.kind !== 'text' && o.kind !== 'list');
  const tail = own.find((o) => o.kind === 'text' || o.kind === 'list');
  const rest = line.tokens.slice(from);
  const raw: Record<string, RawValue | undefined> = {};
  words.forEach((o, k) => {
    const t = rest[k];
    raw[o.name] = t && wordValue(o, t);
  });
  if (tail) raw[tail.name] = textValue(line.restFrom(from + words.length));
  return { raw, extra: tail ? [] : rest.slice(words.length) };
}

/** Neutral text as a person types it into a Discord string option: people and channels as Discord mentions. */
function typed(t: Text): string {
  return inlines(t)
    .map((i) => (typeof i === 'string' ? i : isPersonNode(i) ? `<@${i.person}>` : isChannelNode(i) ? `<#${i.channel}>` : plainText([i])))
    .join('');
}

export interface DiscordCommand {
  name: string;
  subcommand: string;
  options: { name: string; type: ApplicationCommandOptionType; value: string | number }[];
}

/** `/muster grant cto @sam` (people already as nodes) → the command, its subcommand and typed options Discord would send. */
export function discordCommandOf(line: Text, self: string): DiscordCommand {
  const units = inlines(line);
  const head = typeof units[0] === 'string' ? /^\/(\S+)\s*/.exec(units[0]) : null;
  if (!head) throw new Error(`not a command: ${JSON.stringify(line)}`);
  const command = commands.get(head[1]!);
  if (!command) throw new Error(`no command /${head[1]}`);
  const rest: Inline[] = [(units[0] as string).slice(head[0].length), ...units.slice(1)];
  const cl = CommandLine.of(rest);
  const tokens = cl.tokens;
  if (!tokens.length) throw new Error(`/${command.name} alone: name a subcommand`);
  let at = 0;
  let target: string | undefined;
  const first = tokens[0]!;
  // A record id before the subcommand (`/incident INC-7 close`): the subcommands' prefix option.
  if (first.kind === 'word' && /^[A-Z]{3}-\d+$/i.test(first.text) && !choose(command.subcommands, tokens, 0)) {
    target = first.text;
    at = 1;
  }
  const chosen = choose(command.subcommands, tokens, at);
  if (!chosen) throw new Error(`/${command.name}: no subcommand "${tokens[at] ? display(tokens[at]!) : ''}"`);
  const { sub, from } = chosen;
  const read = sub.read ? sub.read(cl, from) : readWords(sub, cl, from);
  if (read.extra.length && sub.extra !== 'ignore') throw new Error(`/${command.name} ${sub.name}: Discord has no place for "${read.extra.map(display).join(' ')}"`);
  const prefix = sub.options.find((o) => o.prefix);
  if (target !== undefined && !prefix) throw new Error(`/${command.name} ${sub.name} takes no ${target}`);
  const raw: Record<string, RawValue | undefined> = { ...read.raw, ...(prefix && target !== undefined ? { [prefix.name]: target } : {}) };
  const options: DiscordCommand['options'] = [];
  for (const o of sub.options) {
    const v = raw[o.name];
    if (v === undefined) {
      if (o.required) throw new Error(`/${command.name} ${sub.name}: Discord's client asks for ${o.name} before it sends the command`);
      continue;
    }
    options.push(optionOf(command.name, sub.name, o, v, self));
  }
  return { name: command.name, subcommand: sub.name, options };
}

function optionOf(command: string, sub: string, o: OptionSpec, v: RawValue, self: string): DiscordCommand['options'][number] {
  const where = `/${command} ${sub} ${o.name}`;
  const word = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : typed(Array.isArray(v) ? (v as Text) : [v as Inline]);
  switch (o.kind) {
    case 'person': {
      if (typeof v === 'object' && !Array.isArray(v) && isPersonNode(v as Inline)) return { name: o.name, type: ApplicationCommandOptionType.User, value: (v as { person: string }).person };
      // "me": on Discord a person picks themselves.
      if (word.toLowerCase() === 'me') return { name: o.name, type: ApplicationCommandOptionType.User, value: self };
      throw new Error(`${where}: a user option takes a person picked from the list, not "${word}"`);
    }
    case 'channel':
      if (typeof v === 'object' && !Array.isArray(v) && isChannelNode(v as Inline)) return { name: o.name, type: ApplicationCommandOptionType.Channel, value: (v as { channel: string }).channel };
      throw new Error(`${where}: a channel option takes a channel picked from the list`);
    case 'integer': {
      const n = Number(word.replace(/^#/, ''));
      if (!Number.isInteger(n)) throw new Error(`${where}: Discord's client takes only a whole number, not "${word}"`);
      return { name: o.name, type: ApplicationCommandOptionType.Integer, value: n };
    }
    case 'enum': {
      const choice = (o.choices ?? []).find((c) => c.toLowerCase() === word.toLowerCase());
      if (!choice) throw new Error(`${where}: "${word}" is not one of Discord's choices ${JSON.stringify(o.choices)}`);
      return { name: o.name, type: ApplicationCommandOptionType.String, value: choice };
    }
    default:
      return { name: o.name, type: ApplicationCommandOptionType.String, value: word };
  }
}

// ---------------------------------------------------------------------------------------------

export async function startDiscordDriver(o: DriverOptions = {}): Promise<ChatDriver> {
  const clock = o.clock ?? new ManualClock(new Date());
  const h: DiscordHarness = await startDiscordHarness({
    ...(o.policy ? { policy: o.policy } : {}),
    clock,
    admins: [ID.admin],
    users: PEOPLE.map((p) => ({ id: ID[p], username: p === 'admin' ? 'ada' : p })),
  });
  const discord = h.discord;
  const last = new Map<Person, Told>();
  const forms = new Map<Person, ModalState>();
  /** what relaying answers to the callback route was refused, if anything */
  const relayRefusals: string[] = [];

  const nameOf = (id: string) => PERSON_OF.get(id) ?? id;
  const channelName = (id: string) => (discord.channel(id) as Loose)?.name ?? id;
  const norm = (s: string) => normaliseDiscord(s, nameOf, channelName);

  const embedText = (e: Loose): string[] => [
    ...(e.title ? [e.title] : []),
    ...(e.description ? [e.description] : []),
    ...((e.fields ?? []) as Loose[]).map((f) => `${f.name}: ${f.value}`),
    ...(e.footer?.text ? [e.footer.text] : []),
  ];
  /** A message's text: its embed when it has one (a card), its content otherwise. */
  const textOf = (m: Loose): string => {
    const embeds = (m?.embeds ?? []) as Loose[];
    const parts = embeds.length ? embeds.flatMap(embedText) : [m?.content ?? ''];
    return parts.map(norm).join('\n');
  };
  const buttonsOf = (m: Loose): Loose[] => ((m?.components ?? []) as Loose[]).flatMap((r) => (r.components ?? []) as Loose[]).filter((c) => c.type === ComponentType.Button);
  const asCard = (m: APIMessage): Card | undefined => {
    const e = (m.embeds ?? [])[0];
    if (!e?.title) return undefined;
    return { title: norm(e.title), text: textOf(m), buttons: buttonsOf(m).map((b) => String(b.label)), channel: m.channel_id };
  };
  const places = (where?: string) =>
    where
      ? [where]
      : [
          ...discord
            .allChannels()
            .filter((c) => c.type === ChannelType.GuildText)
            .map((c) => c.id),
          ...PEOPLE.map((p) => discord.dmChannelOf(ID[p])?.id).filter((c): c is string => c !== undefined),
        ];
  function find(match: CardMatch, where?: string): { card: Card; message: APIMessage } | undefined {
    for (const channel of places(where)) {
      for (const message of discord.messages(channel)) {
        const card = asCard(message);
        if (card && cardMatches(card, match)) return { card, message };
      }
    }
    return undefined;
  }
  const allCards = () => places().flatMap((c) => discord.messages(c).flatMap((m) => asCard(m)?.title ?? []));

  /**
   * Sends an interaction as `who` and relays the answer to the callback route as Discord takes it. Returns the
   * answer, the interaction's id and, for a message answer, the message Discord made of it.
   */
  async function interact(who: Person, type: InteractionType, data: unknown, channel: string, message?: string): Promise<{ answer: InteractionAnswer; id: string; messageId?: string }> {
    const i = discord.interaction({ type, data, userId: ID[who], channelId: channel, guildId: GUILD_ID, ...(message ? { message } : {}) }) as Loose;
    const answer = await h.send(i);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const res = await fetch(`${discord.api}/interactions/${i.id}/${i.token}/callback?with_response=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(answer.body),
    });
    const body = (await res.json().catch(() => ({}))) as Loose;
    if (res.status >= 400) {
      relayRefusals.push(`${res.status} ${JSON.stringify(body)} for ${JSON.stringify(answer.body).slice(0, 300)}`);
      throw new Error(`Discord would refuse Muster's answer (${res.status}): ${JSON.stringify(body)}\nthe answer: ${JSON.stringify(answer.body).slice(0, 2000)}`);
    }
    return { answer, id: i.id, messageId: body?.resource?.message?.id };
  }

  /** What the answer told the person, and the modal it opened. */
  function take(who: Person, channel: string, r: { answer: InteractionAnswer; id: string }): string {
    const { type, data } = r.answer.body;
    const now: string[] = [];
    if (type === InteractionResponseType.Modal) forms.set(who, { data, channel });
    else if (type === InteractionResponseType.ChannelMessageWithSource) now.push(textOf(data));
    last.set(who, { now, interactions: [r.id] });
    return now.join('\n');
  }

  /** The components of a modal as submitted: what was typed or chosen, else what it showed. */
  function submission(modal: Loose, values: Record<string, string>, used: Set<string>): Loose[] {
    return ((modal.components ?? []) as Loose[]).flatMap((c): Loose[] => {
      const el = c.component;
      if (c.type !== ComponentType.Label || !el) return [];
      const given = values[el.custom_id];
      if (given !== undefined) used.add(el.custom_id);
      const options = (el.options ?? []) as Loose[];
      const fail = (why: string) => {
        throw new Error(`field ${el.custom_id} ("${c.label}"): ${why}`);
      };
      if (el.type === ComponentType.TextInput) {
        const value = given ?? el.value ?? '';
        if (el.required !== false && value === '') fail("Discord's client does not submit a required field left empty");
        if (value !== '' && el.min_length !== undefined && value.length < el.min_length) fail(`at least ${el.min_length} characters`);
        if (el.max_length !== undefined && value.length > el.max_length) fail(`at most ${el.max_length} characters`);
        return [{ type: c.type, component: { type: el.type, custom_id: el.custom_id, value } }];
      }
      const value = given ?? options.find((x) => x.default)?.value;
      if (given !== undefined && !options.some((x) => x.value === given)) fail(`no option ${given} (${options.map((x) => x.value).join(', ')})`);
      if (el.required !== false && value === undefined) fail("Discord's client does not submit a required choice left empty");
      if (el.type === ComponentType.RadioGroup) return [{ type: c.type, component: { type: el.type, custom_id: el.custom_id, value: value ?? null } }];
      return [{ type: c.type, component: { type: el.type, custom_id: el.custom_id, values: value === undefined ? [] : [value] } }];
    });
  }

  const driver: ChatDriver = {
    platform: 'discord',
    clock,
    muster: h.muster,
    general: GENERAL_CHANNEL_ID,

    async command(who, line, where = GENERAL_CHANNEL_ID) {
      // People named with @ are picked from the list, as in Slack's autocomplete.
      const parts: Inline[] = [];
      let at = 0;
      for (const m of line.matchAll(/@([a-z]+)\b/g)) {
        if (!(PEOPLE as readonly string[]).includes(m[1]!)) continue;
        parts.push(line.slice(at, m.index), { person: ID[m[1] as Person] });
        at = m.index! + m[0].length;
      }
      parts.push(line.slice(at));
      const c = discordCommandOf(
        parts.filter((p) => p !== ''),
        ID[who],
      );
      const data = {
        id: '1200000000000000001',
        name: c.name,
        type: ApplicationCommandType.ChatInput,
        options: [{ name: c.subcommand, type: ApplicationCommandOptionType.Subcommand, options: c.options }],
      };
      return take(who, where, await interact(who, InteractionType.ApplicationCommand, data, where));
    },

    async reply(who) {
      await driver.flush();
      const t = last.get(who);
      if (!t) return '';
      const later = t.interactions.flatMap((id) =>
        discord
          .responsesTo(id)
          .filter((r) => r.kind === 'followup' || r.kind === 'edit')
          .map((r) => textOf(r.data)),
      );
      return [...t.now, ...later].join('\n');
    },

    card(match, where) {
      const hit = find(match, where);
      if (!hit) throw new Error(`no card ${String(match)} on Discord; the cards are: ${JSON.stringify(allCards())}`);
      return hit.card;
    },

    hasCard: (match, where) => find(match, where) !== undefined,

    async click(who, match, label, where) {
      const hit = find(match, where);
      if (!hit) throw new Error(`no card ${String(match)} on Discord; the cards are: ${JSON.stringify(allCards())}`);
      const button = buttonsOf(hit.message).find((b) => b.label === label);
      if (!button) throw new Error(`no button "${label}" on ${hit.card.title}: ${JSON.stringify(hit.card.buttons)}`);
      if (button.disabled) throw new Error(`the button "${label}" on ${hit.card.title} is disabled`);
      const data = { custom_id: button.custom_id, component_type: ComponentType.Button };
      return take(who, hit.message.channel_id, await interact(who, InteractionType.MessageComponent, data, hit.message.channel_id, hit.message.id));
    },

    form(who) {
      const f = forms.get(who);
      if (!f) return undefined;
      const fields = ((f.data.components ?? []) as Loose[]).flatMap((c) => (c.type === ComponentType.Label && c.component ? [String(c.component.custom_id)] : []));
      return { title: String(f.data.title), fields } satisfies OpenForm;
    },

    async submitForm(who, values) {
      const used = new Set<string>();
      const ids: string[] = [];
      // A long form comes as pages: submit one, press Next page on the message that answers it, fill in the next.
      for (let page = 1; page <= 10; page++) {
        const f = forms.get(who);
        if (!f) throw new Error(`${who} has no form open`);
        forms.delete(who);
        const components = submission(f.data, values, used);
        const r = await interact(who, InteractionType.ModalSubmit, { custom_id: String(f.data.custom_id), components }, f.channel);
        ids.push(r.id);
        const told = take(who, f.channel, r);
        last.set(who, { now: told ? [told] : [], interactions: [...ids] });
        const next = r.answer.body.type === InteractionResponseType.ChannelMessageWithSource ? buttonsOf(r.answer.body.data).find((b) => String(b.custom_id).startsWith(NEXT_PAGE)) : undefined;
        if (!next) {
          const unknown = Object.keys(values).filter((k) => !used.has(k));
          if (unknown.length && !told) throw new Error(`the form had no field ${unknown.join(', ')}`);
          return told;
        }
        if (!r.messageId) throw new Error(`the page answer made no message to press ${next.label} on`);
        const pressed = await interact(who, InteractionType.MessageComponent, { custom_id: next.custom_id, component_type: ComponentType.Button }, f.channel, r.messageId);
        if (pressed.answer.body.type !== InteractionResponseType.Modal) throw new Error(`${next.label} opened no modal: ${JSON.stringify(pressed.answer.body)}`);
        forms.set(who, { data: pressed.answer.body.data, channel: f.channel });
        // "Fix it": the form was refused; the person presses it and finds the pages again, filled in with what they typed.
        if (next.label !== 'Next page') return told;
      }
      throw new Error('more than 10 pages');
    },

    channelNamed: (prefix) => discord.allChannels().find((c) => c.type === ChannelType.GuildText && (c as Loose).name?.startsWith(prefix))?.id,

    dmsOf: (who) => {
      const dm = discord.dmChannelOf(ID[who]);
      return dm ? discord.messages(dm.id).map(textOf) : [];
    },

    messages: (where) => discord.messages(where).map(textOf),

    flush: () => h.flush(),
    tick: () => h.tick(),

    async assertNothingStuck() {
      await h.flush();
      expect(await stuckEffects(h.muster.db), 'nothing dead-lettered or stuck').toEqual([]);
      expect(
        discord.pings.filter((p) => p.kind !== 'user'),
        'no crowd or role ping',
      ).toEqual([]);
      expect(relayRefusals, 'no answer Discord would refuse').toEqual([]);
      const refused = discord.calls.filter((c) => c.status >= 400);
      expect(
        refused.map((c) => ({ route: c.route, status: c.status, response: c.response })),
        'no call refused by Discord',
      ).toEqual([]);
    },

    close: () => h.close(),
  };
  return driver;
}
