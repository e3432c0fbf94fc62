/**
 * The port contract: what every chat platform's port (src/platforms/port.ts) must do, checked against a stateful
 * fake of that platform over real HTTP. A platform plugs in with one adapter file (test/contract/<platform>.contract.test.ts)
 * that implements `ContractTarget` over its fake and calls `describePortContract`.
 *
 * The contract covers every op of `EffectArgs` (src/platforms/effects.ts):
 * 1. the happy path: the effect is visible exactly as asked, and the result has the shape of `EffectResults[op]`;
 * 2. neutral text: typed strings are shown as typed (never a crowd ping or a disguised link), nodes are live;
 * 3. exactly once under uncertainty: an attempt applied whose answer was lost, retried with `ctx.uncertain`, is
 *    found (`adopted: true`) and not done twice; idempotent ops repeat harmlessly;
 * 4. failure classification: 429 → 'rate_limited' with Retry-After, 5xx / dropped connection → 'transient' with
 *    `outcomeUnknown`, a missing or archived channel → 'permanent';
 * 5. capabilities: all six declared, each declared one works, each one done without is refused (permanent), `pace`.
 *
 * Ops whose capability the port does not declare are skipped with the reason. Every test makes its own channels,
 * people and groups, so tests are independent; nothing waits for a Retry-After.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { ChatError, type ChatPort, type PerformContext } from '../../src/platforms/port.ts';
import { EFFECT_OPS, NO_CAPABILITIES, type Capabilities, type EffectOp, type EffectResults, type PortArgs, type PortEffect, type ReplyHandle } from '../../src/platforms/effects.ts';
import type { Text } from '../../src/domain/text.ts';
import type { Message } from '../../blocks/surface.ts';
import { ACTIONS } from '../../blocks/actionIds.ts';

export type Capability = keyof Capabilities;

/** A message as a reader sees it on the platform, read back from the fake. */
export interface ShownMessage {
  /** The platform's id of the message: what results call `ts` (Slack: its ts; Discord: its snowflake). */
  id: string;
  /** The first message of its thread, when it is a reply in a thread. */
  threadOf?: string;
  /**
   * What a reader sees, as text: the body (a surface's blocks, or the text when there are none), with the
   * platform's markup resolved: a live mention of a person reads `@<id>`, a live link its label, an escaped
   * character the character. Typed text therefore reads exactly as typed.
   */
  text: string;
  /** People the message pings (live mentions), by platform id. */
  people: string[];
  /** Crowd pings it carries: 'everyone', 'here', 'channel', or 'group:<id>' (a user group or role). */
  crowd: string[];
  /** Live links, each with the label a reader sees. */
  links: { url: string; label: string }[];
  /** The labels of the buttons on it. */
  buttons: string[];
  /** The platform's own record of it, as JSON (to look for text flattened to "[object Object]"). */
  raw: string;
}

export interface ShownChannel {
  id: string;
  name: string;
  private: boolean;
  /** Who is in it (Muster itself may be listed). */
  members: string[];
  /** Its topic, as a reader sees it. */
  topic: string;
  /** Archived (Slack) or locked so no one can post (a platform without archive, e.g. Discord). */
  closed: boolean;
  /** Pinned messages, by message id. */
  pins: string[];
  bookmarks: { title: string; link: string }[];
  /** Files shared in it (finished uploads only). */
  files: { name: string; title: string; content: string }[];
}

/**
 * A fault the fake injects into the next platform call that performs an op (Slack: chat.postMessage for postMessage
 * and dm, conversations.create for createChannel, the response_url for reply, the completing call of an upload …).
 * - rate_limited: refused before anything happens, HTTP 429 with Retry-After `retryAfterSec`;
 * - server_error: refused before anything happens with a 5xx;
 * - applied_then_server_error: the platform does it, then answers a 5xx ("applied, answer lost");
 * - applied_then_dropped: the platform does it, then the connection drops without an answer.
 */
export type Fault = { kind: 'rate_limited'; retryAfterSec: number } | { kind: 'server_error' } | { kind: 'applied_then_server_error' } | { kind: 'applied_then_dropped' };

/** What a platform's adapter gives the contract: its port, and seeding, reading and faults over its fake. */
export interface ContractTarget {
  /** The port's `platform` ('slack', 'discord'). */
  readonly platform: string;
  /**
   * The workspace effects run in, as the outbox records it on each effect (`PerformContext.workspaceId`): a port
   * that serves several workspaces finds the one to act in there (Discord: `discord:<guild id>`). Default null.
   */
  readonly workspaceId?: string | null;
  /**
   * A new port over the fake, configured as production configures it, with pacing off unless `paced`. `without`:
   * capabilities it must do without (declared false, and their ops refused).
   */
  port(options?: { without?: readonly Capability[]; paced?: boolean }): Promise<ChatPort>;
  /** A new person; `deactivated`: an account that exists but can no longer be added to anything. Returns their id. */
  person(options?: { deactivated?: boolean }): Promise<string>;
  /**
   * A new channel made by someone other than Muster, with Muster in it (it may post, pin, set the topic, archive).
   * `name`: a lowercase-and-hyphens name (default: a fresh one). Returns its id.
   */
  channel(options?: { name?: string; members?: readonly string[]; private?: boolean }): Promise<string>;
  /** A new group (Slack user group, Discord role) with these members. Returns its id. */
  group(members: readonly string[]): Promise<string>;
  /** An id, in the platform's form, of a channel that does not exist. */
  missingChannel(): string;
  /** An id, in the platform's form, of a group that does not exist. */
  missingGroup(): string;
  /** A fresh handle for replying to a request `user` made in `channel` (Slack: a response_url). */
  replyHandle(where: { channel: string; user: string }): Promise<ReplyHandle>;
  /** From now on the platform refuses the handle (used up or expired on its side), though the port cannot know. */
  spendReplyHandle(handle: ReplyHandle): Promise<void>;
  /** What was shown through a reply handle, oldest first. */
  repliesThrough(handle: ReplyHandle): Promise<ShownMessage[]>;
  /** Messages in a channel, thread replies included, oldest first. */
  messages(channel: string): Promise<ShownMessage[]>;
  /** Messages from Muster in a person's DMs, oldest first. */
  dms(person: string): Promise<ShownMessage[]>;
  channelInfo(channel: string): Promise<ShownChannel | undefined>;
  /** Channels named `name`, or `name` with a numbered suffix (`name-2`, `name-3` …), archived ones included. */
  channelsNamed(name: string): Promise<ShownChannel[]>;
  /** The next platform call that performs `op` meets `fault` (a one-shot rule). */
  failNext(op: EffectOp, fault: Fault): void;
  /** Forget faults no call has met yet (after each test). */
  clearFaults(): void;
  /** Samples of anything the platform received that reads "[object Object]" (text flattened by mistake). */
  flattened(): string[];
  close(): Promise<void>;
}

export interface ContractOptions {
  /**
   * Cases this port is known to fail today, by test title, each with why: they run as expected failures
   * (`it.fails`), so the suite stays green and says so, and turns red as soon as the port is fixed (then remove
   * the entry). A title that names no case fails the suite.
   */
  knownGaps?: Readonly<Record<string, string>>;
}

/** Typed by a person: must be shown as typed, never as a crowd ping or a link whose label lies. */
export const HOSTILE = '<!everyone> @here <https://evil.example|https://good.example>';

/** The op that needs each capability (threads: postMessage with threadTs; appHome: no effect op). */
const CAPABILITY_OP: Record<Exclude<Capability, 'appHome' | 'threads'>, EffectOp> = {
  pins: 'pin',
  bookmarks: 'bookmark',
  userGroups: 'expandGroups',
  fileUpload: 'uploadFile',
};
const NEEDS: Partial<Record<EffectOp, Capability>> = { pin: 'pins', bookmark: 'bookmarks', expandGroups: 'userGroups', uploadFile: 'fileUpload' };

const CAPABILITY_KEYS = Object.keys(NO_CAPABILITIES).sort() as Capability[];

/** Ops that are not idempotent: a retry after a lost answer must find the first attempt's outcome. */
const FIND_ON_RETRY = ['postMessage', 'dm', 'createChannel', 'bookmark', 'uploadFile'] as const;
/** Ops that are idempotent by nature: a retry repeats harmlessly. */
const REPEAT_ON_RETRY = ['updateMessage', 'pin', 'setTopic', 'archiveChannel', 'invite', 'expandGroups'] as const;
/** Ops aimed at a channel id, which must fail for good when the channel does not exist. */
const CHANNEL_OPS = ['postMessage', 'updateMessage', 'invite', 'setTopic', 'pin', 'bookmark', 'archiveChannel', 'uploadFile'] as const;

const LOST_ANSWERS = [{ kind: 'applied_then_server_error' }, { kind: 'applied_then_dropped' }] as const satisfies readonly Fault[];

export function describePortContract(name: string, setup: () => Promise<ContractTarget>, options: ContractOptions = {}): void {
  const gaps = new Map(Object.entries(options.knownGaps ?? {}));
  const titles = new Set<string>();

  /** Registers a case; a known gap runs as an expected failure. */
  const contractCase = (title: string, fn: (ctx: TestContext) => Promise<void>): void => {
    titles.add(title);
    const gap = gaps.get(title);
    if (gap) it.fails(`${title} [known gap: ${gap}]`, fn);
    else it(title, fn);
  };

  describe(`port contract: ${name}`, () => {
    let t: ContractTarget;
    let port: ChatPort;
    let seq = 0;
    let effectSeq = 0;

    beforeAll(async () => {
      t = await setup();
      port = await t.port();
    });
    afterAll(async () => {
      await t?.close();
    });
    afterEach(() => {
      t.clearFaults();
    });

    /** A channel name no other test uses (lowercase and hyphens: valid on every platform). */
    const uniqueName = (what = 'ch') => `ct-${what}-${++seq}`;

    const context = (over: Partial<PerformContext> = {}): PerformContext => {
      const now = new Date();
      return { effectId: ++effectSeq, uncertain: false, createdAt: now, workspaceId: t.workspaceId ?? null, now, ...over };
    };
    /** The same effect, attempted again after an attempt whose outcome is unknown. */
    const retry = (ctx: PerformContext): PerformContext => ({ ...ctx, uncertain: true, now: new Date() });

    const perform = <K extends EffectOp>(op: K, args: PortArgs<K>, ctx: PerformContext = context(), p: ChatPort = port): Promise<EffectResults[K]> => p.perform({ op, args }, ctx);

    /** The ChatError an attempt fails with. */
    const failure = async (attempt: Promise<unknown>): Promise<ChatError> => {
      let caught: unknown;
      try {
        await attempt;
      } catch (e) {
        caught = e;
      }
      expect(caught, 'the attempt should fail').toBeInstanceOf(ChatError);
      return caught as ChatError;
    };

    const skipUnlessCapable = (ctx: TestContext, op: EffectOp, p: ChatPort = port): void => {
      const cap = NEEDS[op];
      if (cap && !p.capabilities[cap]) ctx.skip(`${name} does without ${cap}, which ${op} needs`);
    };
    /** As skipUnlessCapable, for an effect: a postMessage with `threadTs` needs threads too. */
    const skipUnlessCapableOf = (ctx: TestContext, e: PortEffect, p: ChatPort = port): void => {
      skipUnlessCapable(ctx, e.op, p);
      if (e.op === 'postMessage' && e.args.threadTs !== undefined && !p.capabilities.threads) ctx.skip(`${name} does without threads, which a postMessage with threadTs needs`);
    };

    const post = async (channel: string, text: Text = 'hello') => perform('postMessage', { channel, text });

    /** A valid effect of each op, with what it needs seeded fresh. */
    const arrange = async (op: EffectOp): Promise<PortEffect> => {
      switch (op) {
        case 'postMessage':
          return { op, args: { channel: await t.channel(), text: 'hello' } };
        case 'updateMessage': {
          const m = await post(await t.channel());
          return { op, args: { channel: m.channel, ts: m.ts, text: 'updated' } };
        }
        case 'dm':
          return { op, args: { user: await t.person(), text: 'hello' } };
        case 'reply': {
          const user = await t.person();
          const to = await t.replyHandle({ channel: await t.channel({ members: [user] }), user });
          return { op, args: { to, text: 'done', fallbackUser: user } };
        }
        case 'createChannel':
          return { op, args: { name: uniqueName('new') } };
        case 'expandGroups':
          return { op, args: { groups: [await t.group([await t.person()])] } };
        case 'invite':
          return { op, args: { channel: await t.channel(), users: [await t.person()] } };
        case 'setTopic':
          return { op, args: { channel: await t.channel(), topic: 'a topic' } };
        case 'pin': {
          const m = await post(await t.channel());
          return { op, args: { channel: m.channel, ts: m.ts } };
        }
        case 'bookmark': {
          const m = await post(await t.channel());
          return { op, args: { channel: m.channel, ts: m.ts, title: 'Card' } };
        }
        case 'archiveChannel':
          return { op, args: { channel: await t.channel() } };
        case 'uploadFile':
          return { op, args: { channel: await t.channel(), filename: 'notes.md', content: '# Notes\n', title: 'Notes' } };
      }
    };
    const performEffect = (e: PortEffect, ctx: PerformContext = context(), p: ChatPort = port) => p.perform(e, ctx);

    /** Typed text is shown as typed: no crowd ping, no disguised link, nothing flattened. */
    const expectNeutral = (m: ShownMessage | undefined, typed: string = HOSTILE) => {
      expect(m, 'the message should be visible').toBeDefined();
      expect(m!.text).toContain(typed);
      expect(m!.crowd).toEqual([]);
      expect(m!.links.filter((l) => l.url.includes('evil.example'))).toEqual([]);
      for (const l of m!.links) if (/^https?:\/\//i.test(l.label)) expect(l.label, 'a link labelled with another URL').toBe(l.url);
      expect(m!.raw).not.toContain('[object Object]');
      expect(m!.text).not.toContain('[object Object]');
    };

    // -----------------------------------------------------------------------------------------------------------
    describe('capabilities', () => {
      contractCase('declares all six capabilities, each a boolean', async () => {
        expect(Object.keys(port.capabilities).sort()).toEqual(CAPABILITY_KEYS);
        for (const k of CAPABILITY_KEYS) expect(typeof port.capabilities[k], k).toBe('boolean');
      });

      contractCase('pins: a declared capability works (pin)', async (ctx) => {
        skipUnlessCapable(ctx, 'pin');
        const m = await post(await t.channel());
        expect(await perform('pin', { channel: m.channel, ts: m.ts })).toEqual({});
        expect((await t.channelInfo(m.channel))!.pins).toEqual([m.ts]);
      });

      contractCase('bookmarks: a declared capability works (bookmark)', async (ctx) => {
        skipUnlessCapable(ctx, 'bookmark');
        const m = await post(await t.channel());
        await perform('bookmark', { channel: m.channel, ts: m.ts, title: 'Card' });
        expect((await t.channelInfo(m.channel))!.bookmarks).toHaveLength(1);
      });

      contractCase('userGroups: a declared capability works (expandGroups)', async (ctx) => {
        skipUnlessCapable(ctx, 'expandGroups');
        const a = await t.person();
        const r = await perform('expandGroups', { groups: [await t.group([a])] });
        expect(r.users).toEqual([a]);
      });

      contractCase('threads: a declared capability works (postMessage with threadTs lands in the thread)', async (ctx) => {
        if (!port.capabilities.threads) ctx.skip(`${name} does without threads`);
        const parent = await post(await t.channel(), 'parent');
        const reply = await perform('postMessage', { channel: parent.channel, threadTs: parent.ts, text: 'in the thread' });
        expect(reply.channel).toBe(parent.channel);
        expect(reply.ts).not.toBe(parent.ts);
        const shown = await t.messages(parent.channel);
        expect(shown.find((m) => m.id === reply.ts)).toMatchObject({ threadOf: parent.ts, text: 'in the thread' });
        expect(shown.find((m) => m.id === parent.ts)?.threadOf).toBeUndefined();
      });

      contractCase('fileUpload: a declared capability works (uploadFile)', async (ctx) => {
        skipUnlessCapable(ctx, 'uploadFile');
        const channel = await t.channel();
        await perform('uploadFile', { channel, filename: 'a.txt', content: 'a' });
        expect((await t.channelInfo(channel))!.files).toHaveLength(1);
      });

      contractCase('appHome: declared (no effect op needs it: App Home is published outside the outbox)', async () => {
        expect(typeof port.capabilities.appHome).toBe('boolean');
      });

      for (const [cap, op] of Object.entries(CAPABILITY_OP) as [Capability, EffectOp][]) {
        contractCase(`doing without ${cap}: declares it false and refuses ${op} for good, doing nothing`, async () => {
          const without = await t.port({ without: [cap] });
          expect(without.capabilities[cap]).toBe(false);
          for (const other of CAPABILITY_KEYS) if (other !== cap) expect(without.capabilities[other], other).toBe(port.capabilities[other]);
          const e = await arrange(op);
          const before = 'channel' in e.args && typeof e.args.channel === 'string' ? await t.channelInfo(e.args.channel) : undefined;
          const err = await failure(performEffect(e, context(), without));
          expect(err.kind).toBe('permanent');
          if (before) expect(await t.channelInfo(before.id)).toEqual(before);
        });
      }

      contractCase('doing without threads: declares it false and refuses a thread reply for good, posting nothing', async () => {
        const without = await t.port({ without: ['threads'] });
        expect(without.capabilities.threads).toBe(false);
        const parent = await post(await t.channel(), 'parent');
        const err = await failure(perform('postMessage', { channel: parent.channel, threadTs: parent.ts, text: 'reply' }, context(), without));
        expect(err.kind).toBe('permanent');
        expect(await t.messages(parent.channel)).toHaveLength(1);
      });

      contractCase('pace: absent, or 0 when the budget allows and never negative', async () => {
        const effects: PortEffect[] = await Promise.all(EFFECT_OPS.map((op) => arrange(op)));
        // Unpaced (as the other cases run): nothing to wait for.
        for (const e of effects) if (port.pace) expect(await port.pace(e, 'contract'), e.op).toBe(0);
        // Paced, fresh: every op may go at once.
        const paced = await t.port({ paced: true });
        if (!paced.pace) return;
        for (const e of effects) expect(await paced.pace(e, 'contract'), e.op).toBe(0);
        // A burst far past any platform's per-channel budget is asked to wait, never a negative or endless time.
        const channel = await t.channel();
        // One after another: a port whose budget is in a database answers each with a promise.
        const waits: number[] = [];
        for (let i = 0; i < 50; i++) waits.push(await paced.pace!({ op: 'postMessage', args: { channel, text: 'x' } }, 'contract'));
        for (const w of waits) {
          expect(Number.isFinite(w)).toBe(true);
          expect(w).toBeGreaterThanOrEqual(0);
        }
        expect(waits[0]).toBe(0);
        expect(Math.max(...waits)).toBeGreaterThan(0);
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    describe('happy path', () => {
      contractCase('postMessage: shows the text and answers channel + ts, which later updateMessage, pin and bookmark use', async (ctx) => {
        const channel = await t.channel();
        const r = await post(channel, 'first words');
        expect(r).toEqual({ channel, ts: expect.any(String) });
        expect(await t.messages(channel)).toMatchObject([{ id: r.ts, text: 'first words', buttons: [] }]);

        const u = await perform('updateMessage', { channel: r.channel, ts: r.ts, text: 'second words' });
        expect(u).toEqual({ channel, ts: r.ts });
        if (port.capabilities.pins) await perform('pin', { channel: r.channel, ts: r.ts });
        if (port.capabilities.bookmarks) await perform('bookmark', { channel: r.channel, ts: r.ts, title: 'Card' });
        const info = (await t.channelInfo(channel))!;
        expect(await t.messages(channel)).toMatchObject([{ id: r.ts, text: 'second words' }]);
        if (port.capabilities.pins) expect(info.pins).toEqual([r.ts]);
        if (port.capabilities.bookmarks) expect(info.bookmarks).toMatchObject([{ title: 'Card' }]);
        if (!port.capabilities.pins && !port.capabilities.bookmarks) ctx.annotate('pin and bookmark not declared: only updateMessage used the ts');
      });

      contractCase('postMessage: a surface shows its blocks and its buttons', async () => {
        const channel = await t.channel();
        const message: Message = {
          text: 'A card',
          blocks: [
            { kind: 'header', text: 'Deploy api' },
            { kind: 'section', text: 'Waiting for approval' },
            { kind: 'fields', fields: [{ label: 'Service', value: 'api' }] },
            { kind: 'context', items: ['asked today'] },
            { kind: 'divider' },
            {
              kind: 'actions',
              id: 'a1',
              buttons: [
                { label: 'Approve', action: ACTIONS.approval.approve, value: 'r1', style: 'primary' },
                { label: 'Reject', action: ACTIONS.approval.reject, value: 'r1' },
              ],
            },
          ],
        };
        const r = await perform('postMessage', { channel, message });
        const [m] = await t.messages(channel);
        expect(m!.id).toBe(r.ts);
        for (const s of ['Deploy api', 'Waiting for approval', 'Service', 'api', 'asked today']) expect(m!.text).toContain(s);
        expect(m!.buttons).toEqual(['Approve', 'Reject']);
      });

      contractCase('postMessage: a #name target is posted there, and the result names the channel id', async () => {
        const name = uniqueName('named');
        const channel = await t.channel({ name });
        const r = await perform('postMessage', { channel: `#${name}`, text: 'by name' });
        expect(r.channel).toBe(channel);
        expect(await t.messages(channel)).toMatchObject([{ id: r.ts, text: 'by name' }]);
      });

      contractCase('updateMessage: shows the new content, and repeats harmlessly', async () => {
        const channel = await t.channel();
        const r = await post(channel, 'v1');
        for (let i = 0; i < 2; i++) expect(await perform('updateMessage', { channel, ts: r.ts, text: 'v2' })).toEqual({ channel, ts: r.ts });
        expect(await t.messages(channel)).toMatchObject([{ id: r.ts, text: 'v2' }]);
      });

      contractCase('updateMessage: a redraw shows exactly what it asks (text only: the earlier buttons are gone)', async () => {
        const channel = await t.channel();
        const card: Message = {
          text: 'card',
          blocks: [
            { kind: 'section', text: 'Waiting' },
            { kind: 'actions', id: 'a1', buttons: [{ label: 'Approve', action: ACTIONS.approval.approve, value: 'r1' }] },
          ],
        };
        const r = await perform('postMessage', { channel, message: card });
        expect((await t.messages(channel))[0]!.buttons).toEqual(['Approve']);
        await perform('updateMessage', { channel, ts: r.ts, text: 'Approved by someone' });
        expect(await t.messages(channel)).toMatchObject([{ id: r.ts, text: 'Approved by someone', buttons: [] }]);
      });

      contractCase('dm: shows the message in the person’s DMs and answers channel + ts', async () => {
        const user = await t.person();
        const r = await perform('dm', { user, text: 'psst' });
        expect(r).toEqual({ channel: expect.any(String), ts: expect.any(String) });
        expect(await t.dms(user)).toMatchObject([{ id: r.ts, text: 'psst' }]);
      });

      contractCase("reply: a fresh handle replies through it (via 'reply')", async () => {
        const user = await t.person();
        const to = await t.replyHandle({ channel: await t.channel({ members: [user] }), user });
        const r = await perform('reply', { to, text: 'got it', fallbackUser: user });
        expect(r).toMatchObject({ via: 'reply' });
        expect(r.adopted).toBeFalsy();
        expect(await t.repliesThrough(to)).toMatchObject([{ text: 'got it' }]);
        expect(await t.dms(user)).toEqual([]);
      });

      contractCase("reply: an expired handle goes by DM to fallbackUser (via 'dm')", async () => {
        const user = await t.person();
        const fresh = await t.replyHandle({ channel: await t.channel({ members: [user] }), user });
        const to = { ...fresh, issuedAt: Date.now() - 3 * 60 * 60_000 };
        const r = await perform('reply', { to, text: 'late news', fallbackUser: user });
        expect(r).toMatchObject({ via: 'dm', channel: expect.any(String), ts: expect.any(String) });
        expect(r.adopted).toBeFalsy();
        expect(await t.dms(user)).toMatchObject([{ id: r.ts, text: 'late news' }]);
        expect(await t.repliesThrough(to)).toEqual([]);
      });

      contractCase("reply: a handle the platform no longer takes goes by DM to fallbackUser (via 'dm')", async () => {
        const user = await t.person();
        const to = await t.replyHandle({ channel: await t.channel({ members: [user] }), user });
        await t.spendReplyHandle(to);
        const r = await perform('reply', { to, text: 'spent', fallbackUser: user });
        expect(r).toMatchObject({ via: 'dm', channel: expect.any(String), ts: expect.any(String) });
        expect(r.adopted).toBeFalsy();
        expect(await t.dms(user)).toMatchObject([{ id: r.ts, text: 'spent' }]);
        expect(await t.repliesThrough(to)).toEqual([]);
      });

      contractCase('reply: an expired handle with no one to tell fails for good', async () => {
        const user = await t.person();
        const fresh = await t.replyHandle({ channel: await t.channel({ members: [user] }), user });
        const err = await failure(perform('reply', { to: { ...fresh, issuedAt: Date.now() - 3 * 60 * 60_000 }, text: 'lost' }));
        expect(err.kind).toBe('permanent');
      });

      contractCase('createChannel: makes the channel and answers channel + name', async () => {
        const name = uniqueName('new');
        const r = await perform('createChannel', { name });
        expect(r).toEqual({ channel: expect.any(String), name });
        expect(await t.channelInfo(r.channel)).toMatchObject({ id: r.channel, name, private: false, closed: false });
      });

      contractCase('createChannel: isPrivate makes a private channel', async () => {
        const name = uniqueName('private');
        const r = await perform('createChannel', { name, isPrivate: true });
        expect(await t.channelInfo(r.channel)).toMatchObject({ name, private: true });
      });

      contractCase('createChannel: a name taken by someone else gets -2', async () => {
        const name = uniqueName('taken');
        const theirs = await t.channel({ name });
        const r = await perform('createChannel', { name });
        expect(r).toEqual({ channel: expect.any(String), name: `${name}-2` });
        expect(r.channel).not.toBe(theirs);
        expect((await t.channelsNamed(name)).map((c) => c.name).sort()).toEqual([name, `${name}-2`]);
      });

      contractCase('expandGroups: answers the members; a missing group is reported with a reason in words, the others still expanded', async (ctx) => {
        skipUnlessCapable(ctx, 'expandGroups');
        const [a, b, c] = [await t.person(), await t.person(), await t.person()];
        const g1 = await t.group([a, b]);
        const g2 = await t.group([b, c]);
        const missing = t.missingGroup();
        const r = await perform('expandGroups', { groups: [g1, missing, g2] });
        expect([...r.users].sort()).toEqual([a, b, c].sort());
        expect(r.failedGroups).toEqual([{ group: missing, error: expect.any(String), reason: expect.any(String) }]);
        expect(r.failedGroups[0]!.reason).toMatch(/\w+ \w+/);
        expect(r.failedGroups[0]!.reason).not.toBe(r.failedGroups[0]!.error);
      });

      contractCase('invite: adds people and reports who cannot be added with a reason in words, the others still added', async () => {
        const channel = await t.channel();
        const [a, b] = [await t.person(), await t.person()];
        const gone = await t.person({ deactivated: true });
        const r = await perform('invite', { channel, users: [a, gone, b] });
        expect(r).toEqual({ channel, invited: 2, failed: [{ user: gone, error: expect.any(String), reason: expect.any(String) }] });
        expect(r.failed[0]!.reason).toMatch(/\w+ \w+/);
        expect(r.failed[0]!.reason).not.toBe(r.failed[0]!.error);
        const members = (await t.channelInfo(channel))!.members;
        expect(members).toEqual(expect.arrayContaining([a, b]));
        expect(members).not.toContain(gone);
      });

      contractCase('invite: someone already in the channel is no failure, and inviting nobody does nothing', async () => {
        const a = await t.person();
        const channel = await t.channel({ members: [a] });
        const b = await t.person();
        const r = await perform('invite', { channel, users: [a, b] });
        expect(r.failed).toEqual([]);
        expect(r.channel).toBe(channel);
        const members = (await t.channelInfo(channel))!.members;
        expect(members.filter((m) => m === a)).toHaveLength(1);
        expect(members).toContain(b);
        expect(await perform('invite', { channel, users: [] })).toEqual({ channel, invited: 0, failed: [] });
      });

      contractCase('setTopic: shows the topic', async () => {
        const channel = await t.channel();
        expect(await perform('setTopic', { channel, topic: 'INC-7: checkout is down' })).toEqual({});
        expect((await t.channelInfo(channel))!.topic).toBe('INC-7: checkout is down');
      });

      contractCase('pin: pins the message; pinning it twice is harmless', async (ctx) => {
        skipUnlessCapable(ctx, 'pin');
        const m = await post(await t.channel());
        expect(await perform('pin', { channel: m.channel, ts: m.ts })).toEqual({});
        expect(await perform('pin', { channel: m.channel, ts: m.ts })).toEqual({});
        expect((await t.channelInfo(m.channel))!.pins).toEqual([m.ts]);
      });

      contractCase('bookmark: shows a bookmark with the title, linking to the message; answers the link', async (ctx) => {
        skipUnlessCapable(ctx, 'bookmark');
        const m = await post(await t.channel());
        const r = await perform('bookmark', { channel: m.channel, ts: m.ts, title: 'Incident card' });
        expect(r.link).toEqual(expect.any(String));
        expect(r.adopted).toBeFalsy();
        if (r.bookmarkId !== undefined) expect(r.bookmarkId).toEqual(expect.any(String));
        expect((await t.channelInfo(m.channel))!.bookmarks).toEqual([{ title: 'Incident card', link: r.link }]);
      });

      contractCase('archiveChannel: closes the channel; archiving it twice is harmless', async () => {
        const channel = await t.channel();
        expect(await perform('archiveChannel', { channel })).toEqual({});
        expect(await perform('archiveChannel', { channel })).toEqual({});
        expect((await t.channelInfo(channel))!.closed).toBe(true);
      });

      contractCase('uploadFile: shares the file with its name, title and content, and its comment', async (ctx) => {
        skipUnlessCapable(ctx, 'uploadFile');
        const channel = await t.channel();
        const content = '# Postmortem\n\nIt was DNS.\n';
        const r = await perform('uploadFile', { channel, filename: 'postmortem.md', content, title: 'Postmortem', comment: 'The postmortem' });
        expect(r.adopted).toBeFalsy();
        if (r.fileId !== undefined) expect(r.fileId).toEqual(expect.any(String));
        if (r.permalink !== undefined) expect(r.permalink).toEqual(expect.any(String));
        expect((await t.channelInfo(channel))!.files).toEqual([{ name: 'postmortem.md', title: 'Postmortem', content }]);
        expect((await t.messages(channel)).map((m) => m.text)).toContain('The postmortem');
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    describe('neutral text', () => {
      contractCase('postMessage: typed text is shown as typed; a person node is a live mention; a link Muster built is live', async () => {
        const [channel, person] = [await t.channel(), await t.person()];
        await perform('postMessage', { channel, text: ['to ', { person }, ': ', HOSTILE, ' see ', { link: 'https://runbooks.example/dns', label: 'the runbook' }] });
        const [m] = await t.messages(channel);
        expectNeutral(m);
        expect(m!.people).toEqual([person]);
        expect(m!.links).toEqual([{ url: 'https://runbooks.example/dns', label: 'the runbook' }]);
      });

      contractCase('postMessage: a plain typed string is shown as typed', async () => {
        const channel = await t.channel();
        await perform('postMessage', { channel, text: HOSTILE });
        const [m] = await t.messages(channel);
        expectNeutral(m);
        expect(m!.people).toEqual([]);
      });

      contractCase('postMessage: typed text in every part of a surface is shown as typed', async () => {
        const [channel, person] = [await t.channel(), await t.person()];
        const message: Message = {
          text: ['New request from ', { person }, ': ', HOSTILE],
          blocks: [
            { kind: 'header', text: HOSTILE },
            { kind: 'section', text: ['Asked by ', { person }, ': ', HOSTILE] },
            { kind: 'fields', fields: [{ label: HOSTILE, value: HOSTILE }] },
            { kind: 'context', items: [HOSTILE] },
            { kind: 'actions', id: 'a1', buttons: [{ label: 'Approve', action: ACTIONS.approval.approve, value: 'r1' }] },
          ],
        };
        await perform('postMessage', { channel, message });
        const [m] = await t.messages(channel);
        expectNeutral(m);
        expect(m!.people).toEqual([person]);
        expect(m!.buttons).toEqual(['Approve']);
      });

      contractCase('updateMessage: typed text is shown as typed', async () => {
        const [channel, person] = [await t.channel(), await t.person()];
        const r = await post(channel, 'before');
        await perform('updateMessage', { channel, ts: r.ts, text: [{ person }, ' wrote: ', HOSTILE] });
        const [m] = await t.messages(channel);
        expectNeutral(m);
        expect(m!.people).toEqual([person]);
      });

      contractCase('dm: typed text is shown as typed', async () => {
        const [user, person] = [await t.person(), await t.person()];
        await perform('dm', { user, text: [{ person }, ' asks: ', HOSTILE] });
        const [m] = await t.dms(user);
        expectNeutral(m);
        expect(m!.people).toEqual([person]);
      });

      contractCase('reply: typed text is shown as typed, through the handle and by DM', async () => {
        const user = await t.person();
        const to = await t.replyHandle({ channel: await t.channel({ members: [user] }), user });
        await perform('reply', { to, text: ['for ', { person: user }, ': ', HOSTILE], fallbackUser: user });
        const [viaHandle] = await t.repliesThrough(to);
        expectNeutral(viaHandle);
        expect(viaHandle!.people).toEqual([user]);
        await perform('reply', { to: { ...to, issuedAt: Date.now() - 3 * 60 * 60_000 }, text: HOSTILE, fallbackUser: user });
        expectNeutral((await t.dms(user))[0]);
      });

      contractCase('uploadFile: a typed comment is shown as typed', async (ctx) => {
        skipUnlessCapable(ctx, 'uploadFile');
        const channel = await t.channel();
        await perform('uploadFile', { channel, filename: 'n.txt', content: 'n', comment: HOSTILE });
        expectNeutral((await t.messages(channel)).find((m) => m.text.includes(HOSTILE)));
      });

      contractCase('setTopic: a typed topic is shown as typed, a person in it never as [object Object]', async () => {
        const [channel, person] = [await t.channel(), await t.person()];
        await perform('setTopic', { channel, topic: HOSTILE });
        expect((await t.channelInfo(channel))!.topic).toBe(HOSTILE);
        await perform('setTopic', { channel, topic: ['Commander: ', { person }] });
        const topic = (await t.channelInfo(channel))!.topic;
        expect(topic).toMatch(/^Commander: \S/);
        expect(topic).not.toContain('[object Object]');
      });

      contractCase('nothing the platform received reads [object Object]', async () => {
        expect(t.flattened()).toEqual([]);
      });
    });

    // -----------------------------------------------------------------------------------------------------------
    describe('exactly once under uncertainty', () => {
      /** Each not-idempotent op: arrange, perform, and count what shows (the result's own id must be the one shown). */
      interface Once {
        effect: PortEffect;
        /** How many of this effect are visible, and whether `result` names the visible one. */
        visible(result: Record<string, unknown>): Promise<{ count: number; matches: boolean }>;
        /** Which op's platform call the fault goes to. */
        faultOp: EffectOp;
      }
      const onceCases: Record<string, () => Promise<Once>> = {
        postMessage: async () => {
          const channel = await t.channel();
          return {
            effect: { op: 'postMessage', args: { channel, text: 'only once' } },
            faultOp: 'postMessage',
            visible: async (r) => {
              const ms = (await t.messages(channel)).filter((m) => m.text === 'only once');
              return { count: ms.length, matches: ms[0]?.id === r.ts && r.channel === channel };
            },
          };
        },
        'postMessage in a thread': async () => {
          const channel = await t.channel();
          const parent = await post(channel, 'parent');
          return {
            effect: { op: 'postMessage', args: { channel, threadTs: parent.ts, text: 'reply once' } },
            faultOp: 'postMessage',
            visible: async (r) => {
              const ms = (await t.messages(channel)).filter((m) => m.text === 'reply once');
              return { count: ms.length, matches: ms[0]?.id === r.ts && ms[0]?.threadOf === parent.ts };
            },
          };
        },
        'postMessage to a #name': async () => {
          const name = uniqueName('named');
          const channel = await t.channel({ name });
          return {
            effect: { op: 'postMessage', args: { channel: `#${name}`, text: 'named once' } },
            faultOp: 'postMessage',
            visible: async (r) => {
              const ms = (await t.messages(channel)).filter((m) => m.text === 'named once');
              return { count: ms.length, matches: ms[0]?.id === r.ts && r.channel === channel };
            },
          };
        },
        dm: async () => {
          const user = await t.person();
          return {
            effect: { op: 'dm', args: { user, text: 'dm once' } },
            faultOp: 'dm',
            visible: async (r) => {
              const ms = (await t.dms(user)).filter((m) => m.text === 'dm once');
              return { count: ms.length, matches: ms[0]?.id === r.ts };
            },
          };
        },
        "reply's DM fallback": async () => {
          const user = await t.person();
          const fresh = await t.replyHandle({ channel: await t.channel({ members: [user] }), user });
          return {
            effect: { op: 'reply', args: { to: { ...fresh, issuedAt: Date.now() - 3 * 60 * 60_000 }, text: 'reply once', fallbackUser: user } },
            faultOp: 'dm',
            visible: async (r) => {
              const ms = (await t.dms(user)).filter((m) => m.text === 'reply once');
              return { count: ms.length, matches: ms[0]?.id === r.ts && r.via === 'dm' };
            },
          };
        },
        createChannel: async () => {
          const name = uniqueName('once');
          return {
            effect: { op: 'createChannel', args: { name } },
            faultOp: 'createChannel',
            visible: async (r) => {
              const cs = await t.channelsNamed(name);
              return { count: cs.length, matches: cs[0]?.id === r.channel && r.name === name };
            },
          };
        },
        bookmark: async () => {
          const m = await post(await t.channel());
          return {
            effect: { op: 'bookmark', args: { channel: m.channel, ts: m.ts, title: 'Card' } },
            faultOp: 'bookmark',
            visible: async (r) => {
              const bs = (await t.channelInfo(m.channel))!.bookmarks;
              return { count: bs.length, matches: bs[0]?.link === r.link };
            },
          };
        },
        uploadFile: async () => {
          const channel = await t.channel();
          return {
            effect: { op: 'uploadFile', args: { channel, filename: 'once.md', content: 'once', title: 'Once' } },
            faultOp: 'uploadFile',
            visible: async () => {
              const fs = (await t.channelInfo(channel))!.files;
              return { count: fs.length, matches: fs[0]?.name === 'once.md' };
            },
          };
        },
      };
      /** The op of each case above. */
      const onceOps: Record<keyof typeof onceCases, EffectOp> = {
        postMessage: 'postMessage',
        'postMessage in a thread': 'postMessage',
        'postMessage to a #name': 'postMessage',
        dm: 'dm',
        "reply's DM fallback": 'reply',
        createChannel: 'createChannel',
        bookmark: 'bookmark',
        uploadFile: 'uploadFile',
      };

      contractCase('every op is either found again on a retry or idempotent, and each has its case', async () => {
        const once = new Set(Object.values(onceOps));
        expect(FIND_ON_RETRY.filter((op) => !once.has(op))).toEqual([]);
        // reply: what goes through a handle leaves nothing a port can look up afterwards (Slack's response_url), so a
        // retry may show it twice; its DM fallback is found again, and is a case above.
        const classified = new Set<EffectOp>([...FIND_ON_RETRY, ...REPEAT_ON_RETRY, 'reply']);
        expect(EFFECT_OPS.filter((op) => !classified.has(op))).toEqual([]);
      });

      for (const [label, make] of Object.entries(onceCases)) {
        for (const fault of LOST_ANSWERS) {
          contractCase(`${label}: applied, answer lost (${fault.kind}); the uncertain retry adopts it, shown once`, async (ctx) => {
            const once = await make();
            skipUnlessCapableOf(ctx, once.effect);
            const c = context();
            t.failNext(once.faultOp, fault);
            const first = await failure(performEffect(once.effect, c));
            expect(first.kind).toBe('transient');
            expect(first.outcomeUnknown).toBe(true);
            expect((await once.visible({})).count, 'the first attempt was applied').toBe(1);
            const r = (await performEffect(once.effect, retry(c))) as Record<string, unknown>;
            expect(r.adopted).toBe(true);
            const shown = await once.visible(r);
            expect(shown.count).toBe(1);
            expect(shown.matches, `the result names what is shown: ${JSON.stringify(r)}`).toBe(true);
          });
        }
        contractCase(`${label}: an uncertain attempt with nothing to find does it, once`, async (ctx) => {
          const once = await make();
          skipUnlessCapableOf(ctx, once.effect);
          const r = (await performEffect(once.effect, retry(context()))) as Record<string, unknown>;
          expect(r.adopted).toBeFalsy();
          const shown = await once.visible(r);
          expect(shown.count).toBe(1);
          expect(shown.matches, JSON.stringify(r)).toBe(true);
        });
      }

      for (const op of REPEAT_ON_RETRY) {
        contractCase(`${op}: applied, answer lost; the uncertain retry repeats harmlessly, shown once`, async (ctx) => {
          skipUnlessCapable(ctx, op);
          const e = await arrange(op);
          const c = context();
          t.failNext(op, { kind: 'applied_then_server_error' });
          const first = await failure(performEffect(e, c));
          expect(first.kind).toBe('transient');
          expect(first.outcomeUnknown).toBe(true);
          const r = await performEffect(e, retry(c));
          const again = await performEffect(e, retry(c));
          expect(again).toEqual(r);
          switch (e.op) {
            case 'updateMessage':
              expect(await t.messages(e.args.channel)).toMatchObject([{ id: e.args.ts, text: 'updated' }]);
              break;
            case 'pin':
              expect((await t.channelInfo(e.args.channel))!.pins).toEqual([e.args.ts]);
              break;
            case 'setTopic':
              expect((await t.channelInfo(e.args.channel))!.topic).toBe('a topic');
              break;
            case 'archiveChannel':
              expect((await t.channelInfo(e.args.channel))!.closed).toBe(true);
              break;
            case 'invite': {
              expect(r).toMatchObject({ channel: e.args.channel, failed: [] });
              const members = (await t.channelInfo(e.args.channel))!.members;
              for (const u of e.args.users) expect(members.filter((m) => m === u)).toHaveLength(1);
              break;
            }
            case 'expandGroups':
              expect(r).toMatchObject({ users: [expect.any(String)], failedGroups: [] });
              break;
          }
        });
      }
    });

    // -----------------------------------------------------------------------------------------------------------
    describe('failure classification', () => {
      for (const op of EFFECT_OPS) {
        contractCase(`${op}: a 429 is rate_limited with retryAfterMs from Retry-After`, async (ctx) => {
          skipUnlessCapable(ctx, op);
          const e = await arrange(op);
          t.failNext(op, { kind: 'rate_limited', retryAfterSec: 3 });
          const err = await failure(performEffect(e));
          expect(err.kind).toBe('rate_limited');
          expect(err.retryAfterMs).toBe(3000);
        });
        contractCase(`${op}: a 5xx is transient with the outcome unknown`, async (ctx) => {
          skipUnlessCapable(ctx, op);
          const e = await arrange(op);
          t.failNext(op, { kind: 'server_error' });
          const err = await failure(performEffect(e));
          expect(err.kind).toBe('transient');
          expect(err.outcomeUnknown).toBe(true);
        });
        contractCase(`${op}: a dropped connection is transient with the outcome unknown`, async (ctx) => {
          skipUnlessCapable(ctx, op);
          const e = await arrange(op);
          t.failNext(op, { kind: 'applied_then_dropped' });
          const err = await failure(performEffect(e));
          expect(err.kind).toBe('transient');
          expect(err.outcomeUnknown).toBe(true);
        });
      }

      for (const op of CHANNEL_OPS) {
        contractCase(`${op}: a channel that does not exist is permanent`, async (ctx) => {
          skipUnlessCapable(ctx, op);
          const e = await arrange(op);
          const missing = t.missingChannel();
          const err = await failure(performEffect({ op: e.op, args: { ...e.args, channel: missing } } as PortEffect));
          expect(err.kind).toBe('permanent');
          expect(err.outcomeUnknown).toBeFalsy();
        });
      }

      contractCase('postMessage: posting to an archived channel is permanent', async () => {
        const channel = await t.channel();
        await perform('archiveChannel', { channel });
        const err = await failure(post(channel, 'too late'));
        expect(err.kind).toBe('permanent');
        expect(await t.messages(channel)).toEqual([]);
      });
    });

    describe('suite', () => {
      it('every known gap names a case', () => {
        expect([...gaps.keys()].filter((g) => !titles.has(g))).toEqual([]);
      });
    });
  });
}
