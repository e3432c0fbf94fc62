import { describe, expect, it } from 'vitest';
import {
  ButtonStyle,
  ComponentType,
  TextInputStyle,
  type APIEmbed,
  type APIModalInteractionResponseCallbackData,
  type APIModalSubmissionComponent,
  type ModalSubmitComponent,
} from 'discord-api-types/v10';
import { allowedMentions, discordMarkdown, escapeDiscord, parseDiscordText, plainDiscord } from '../../../src/platforms/discord/markdown.ts';
import {
  DISCORD_LIMITS,
  discordForm,
  discordHome,
  discordMessage,
  discordModal,
  embedLength,
  parseCustomId,
  parseModalCustomId,
  readModalSubmit,
  type DiscordMessage,
} from '../../../src/platforms/discord/render.ts';
import { ACTIONS, VIEWS } from '../../../blocks/actionIds.ts';
import { declareModal, homeView, incidentCard, textModal } from '../../../blocks/incident.ts';
import { approvalCard, rejectModal, waitingSection } from '../../../blocks/approval.ts';
import { changeCard, changeDoneForm, changeForm, changeRejectForm } from '../../../blocks/change.ts';
import { actions, button, context, divider, header, section, type Block, type Form, type Message } from '../../../blocks/surface.ts';
import { FORMS } from '../../../src/services/interactions.ts';
import { assessRisk } from '../../../src/domain/change.ts';
import { channelRef, code, em, emoji, link, mention, rt, strong, time, type Text } from '../../../src/domain/text.ts';
import type { IncidentView } from '../../../src/services/incidentViews.ts';
import type { ApprovalView } from '../../../src/services/approvals.ts';
import { approvalView as sharedApprovalView } from '../../support/views.ts';
import type { ChangeView } from '../../../src/services/changes.ts';

// ---------------------------------------------------------------------------------------------
// Muster's own records, with Discord ids (snowflakes)

const ANA = '111111111111111111';
const BOB = '222222222222222222';
const REQ = '333333333333333333';
const TL = '444444444444444444';
const APP = '555555555555555555';
const IMP = '666666666666666666';
const WAR_ROOM = '777777777777777777';

const DECLARED = new Date('2026-03-29T00:30:00Z');
const unix = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);

function incidentView(over: Partial<IncidentView> = {}): IncidentView {
  return {
    id: 'i0000000-0000-4000-8000-000000000007',
    workspaceId: 'w',
    ref: 'INC-7',
    number: 7,
    title: 'Checkout 502s',
    description: null,
    services: ['checkout'],
    severity: 'P1',
    status: 'investigating',
    isPrivate: false,
    reporter: ANA,
    commander: BOB,
    channelId: WAR_ROOM,
    channelName: 'inc-7-checkout',
    declaredAt: DECLARED,
    acknowledgedAt: null,
    lastUpdateAt: new Date('2026-03-29T01:30:00Z'),
    resolvedAt: null,
    closedAt: null,
    summary: null,
    publicText: null,
    publicUpdatedAt: null,
    publicTitle: null,
    publishedAt: null,
    sla: { respondBy: new Date('2026-03-29T00:45:00Z'), resolveBy: new Date('2026-03-29T04:30:00Z') },
    updateDueAt: null,
    openActions: 0,
    changes: { since: new Date(DECLARED.getTime() - 86_400_000), until: DECLARED, recent: [], suspectedElsewhere: [], raised: [] },
    ...over,
  } as IncidentView;
}

const approvalView = (over: Partial<ApprovalView> = {}): ApprovalView => sharedApprovalView(over, { requester: REQ, techLead: TL, approver: APP });

function changeView(over: Partial<ChangeView> = {}): ChangeView {
  const riskInput = { impact: 'high', risk: 'medium', downtime: 'minutes', affectedUsers: 'some' } as const;
  return {
    id: 'c0000000-0000-4000-8000-000000000004',
    ref: 'CHG-4',
    type: 'normal',
    status: 'approved',
    title: 'Upgrade the API gateway',
    description: 'Envoy 1.30 → 1.31',
    reason: 'CVE fix',
    environment: 'production',
    systems: ['api', 'gateway'],
    risk: assessRisk(riskInput),
    riskInput,
    windowStart: new Date('2026-03-29T01:30:00Z'),
    windowEnd: new Date('2026-03-29T02:30:00Z'),
    timeZone: 'Europe/Berlin',
    rollbackPlan: 'Redeploy 1.30',
    rollbackTested: true,
    requester: REQ,
    implementer: IMP,
    incident: null,
    catalogueId: null,
    checklist: [
      { id: 'backup', text: 'Backup taken', done: true, by: IMP, at: new Date('2026-03-28T20:00:00Z') },
      { id: 'comms', text: 'Customers told', done: false },
    ],
    flags: [],
    windowProblem: null,
    round: null,
    exception: null,
    freezes: [],
    outcome: null,
    rollbackReason: null,
    deferReason: null,
    deferredAt: null,
    implementationNotes: null,
    verificationNotes: null,
    reviewNotes: null,
    reviewDue: false,
    reviewDueAt: null,
    canVote: false,
    canAskException: false,
    createdAt: new Date('2026-03-27T12:00:00Z'),
    decidedAt: null,
    startedAt: null,
    implementedAt: null,
    reviewedAt: null,
    closedAt: null,
    suspectedOf: [],
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading what was drawn

const buttons = (m: DiscordMessage) => m.components.flatMap((r) => r.components);
const labels = (m: DiscordMessage) => buttons(m).map((b) => b.label);
const embedText = (e: APIEmbed) => [e.title ?? '', e.description ?? '', ...(e.fields ?? []).flatMap((f) => [f.name, f.value]), e.footer?.text ?? ''].join('\n');

/** Every limit Discord puts on a message body (see DISCORD_LIMITS and its sources). */
function expectWithinLimits(m: DiscordMessage) {
  const L = DISCORD_LIMITS;
  expect(m.content.length).toBeLessThanOrEqual(L.content);
  expect(m.embeds.length).toBeLessThanOrEqual(10);
  expect(m.embeds.reduce((n, e) => n + embedLength(e), 0)).toBeLessThanOrEqual(L.embedTotal);
  for (const e of m.embeds) {
    expect(e.title?.length ?? 0).toBeLessThanOrEqual(L.embedTitle);
    expect(e.description?.length ?? 0).toBeLessThanOrEqual(L.embedDescription);
    expect(e.fields?.length ?? 0).toBeLessThanOrEqual(L.embedFields);
    for (const f of e.fields ?? []) {
      expect(f.name.length).toBeGreaterThan(0);
      expect(f.name.length).toBeLessThanOrEqual(L.fieldName);
      expect(f.value.length).toBeGreaterThan(0);
      expect(f.value.length).toBeLessThanOrEqual(L.fieldValue);
    }
    expect(e.footer?.text.length ?? 0).toBeLessThanOrEqual(L.footer);
  }
  expect(m.components.length).toBeLessThanOrEqual(L.rows);
  const ids = buttons(m).map((b) => b.custom_id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const r of m.components) {
    expect(r.type).toBe(ComponentType.ActionRow);
    expect(r.components.length).toBeGreaterThan(0);
    expect(r.components.length).toBeLessThanOrEqual(L.buttonsPerRow);
    for (const b of r.components) {
      expect(b.type).toBe(ComponentType.Button);
      expect(b.label!.length).toBeLessThanOrEqual(L.buttonLabel);
      expect(b.custom_id.length).toBeGreaterThan(0);
      expect(b.custom_id.length).toBeLessThanOrEqual(L.customId);
    }
  }
  expect(m.allowed_mentions.parse).toEqual([]);
  expect(m.allowed_mentions.users!.length).toBeLessThanOrEqual(100);
}

/** Discord markdown with its backslash escapes taken out (what an escape shows is no markup). */
const unescaped = (s: string) => s.replace(/\\[^0-9A-Za-z\s]/g, '§');

/** What typed text must never become, read the way Discord reads markdown. */
function expectNothingLive(s: string) {
  const u = unescaped(s);
  expect(u).not.toMatch(/@(everyone|here)/i);
  expect(u).not.toMatch(/<@[!&]?\d+>|<#\d+>|<t:-?\d+(:\w)?>|<a?:\w+:\d+>/);
  expect(u).not.toMatch(/\*\*x\*\*/);
  expect(u).not.toMatch(/\[[^\]]*\]\(/);
}

/** What Discord sends back when the modal is submitted: each component as the person left it, or their answer. */
function submit(modal: APIModalInteractionResponseCallbackData, answers: Record<string, string | null> = {}): APIModalSubmissionComponent[] {
  let id = 1;
  return modal.components.map((c): APIModalSubmissionComponent => {
    if (c.type === ComponentType.TextDisplay) return { type: ComponentType.TextDisplay, id: id++ };
    if (c.type !== ComponentType.Label) throw new Error('only labels and text displays are drawn');
    const x = c.component;
    const given = x.custom_id in answers ? answers[x.custom_id] : undefined;
    let component: ModalSubmitComponent;
    switch (x.type) {
      case ComponentType.TextInput:
        component = { type: x.type, id: id++, custom_id: x.custom_id, value: given ?? x.value ?? '' };
        break;
      case ComponentType.StringSelect: {
        const chosen = given !== undefined ? (given === null ? [] : [given]) : x.options.filter((o) => o.default).map((o) => o.value);
        component = { type: x.type, id: id++, custom_id: x.custom_id, values: chosen };
        break;
      }
      case ComponentType.RadioGroup:
        component = { type: x.type, id: id++, custom_id: x.custom_id, value: given !== undefined ? given : (x.options.find((o) => o.default)?.value ?? null) };
        break;
      default:
        throw new Error(`not drawn by Muster: ${x.type}`);
    }
    return { type: ComponentType.Label, id: id++, component };
  });
}

// ---------------------------------------------------------------------------------------------
// Cards: PRODUCT.md's labels, under the card's embed

describe('the incident card', () => {
  const m = discordMessage(incidentCard(incidentView()));

  it('is one embed with the five buttons of PRODUCT.md, in one row, each naming its action and the incident', () => {
    expectWithinLimits(m);
    expect(m.embeds).toHaveLength(1);
    expect(m.embeds[0]!.title).toBe('INC-7 · Checkout 502s');
    expect(labels(m)).toEqual(['Take commander', 'Take tech lead', 'Take comms lead', 'Post update', 'Resolve']);
    expect(m.components).toHaveLength(1);
    expect(buttons(m).map((b) => parseCustomId(b.custom_id))).toEqual(
      [ACTIONS.incident.takeCommander, ACTIONS.incident.takeTech, ACTIONS.incident.takeComms, ACTIONS.incident.postUpdate, ACTIONS.incident.resolve].map((action) => ({
        action,
        value: 'i0000000-0000-4000-8000-000000000007',
      })),
    );
    expect(buttons(m).map((b) => b.style)).toEqual([ButtonStyle.Secondary, ButtonStyle.Secondary, ButtonStyle.Secondary, ButtonStyle.Secondary, ButtonStyle.Danger]);
    // Unassigned, taking the command is the main action.
    expect(buttons(discordMessage(incidentCard(incidentView({ commander: undefined }))))[0]!.style).toBe(ButtonStyle.Primary);
  });

  it('shows people as mentions, times in each reader’s zone, emoji as Unicode; the notification pings only the commander', () => {
    const e = m.embeds[0]!;
    const field = (name: string) => e.fields!.find((f) => f.name === name)?.value;
    expect(e.fields!.every((f) => f.inline)).toBe(true);
    expect(field('Severity')).toBe('🟠 P1');
    expect(field('Status')).toBe('🔍 investigating');
    expect(field('Incident commander')).toBe(`<@${BOB}>`);
    expect(field('Technical lead')).toBe('unassigned');
    expect(field('Reported by')).toBe(`<@${ANA}> <t:${unix(DECLARED)}:f>`);
    // The SLA line is small print: subtext in the description.
    expect(e.description).toContain(`-# SLA — Respond by <t:${unix('2026-03-29T00:45:00Z')}:f> · Resolve by <t:${unix('2026-03-29T04:30:00Z')}:f>`);
    // Discord notifies only for mentions in the content: the card's notification line names the commander.
    expect(m.content).toBe(`<@${BOB}>`);
    expect(m.allowed_mentions).toEqual({ parse: [], users: [BOB] });
    // No commander: nobody to ping, no content.
    const unassigned = discordMessage(incidentCard(incidentView({ commander: undefined })));
    expect(unassigned.content).toBe('');
    expect(unassigned.allowed_mentions).toEqual({ parse: [], users: [] });
  });

  it('keeps what was typed as data: no ping, no mention, no formatting, no lying link', () => {
    const typed = '@everyone <@123> **x** [label](https://evil) @here <#9> <t:1:R>';
    const card = discordMessage(incidentCard(incidentView({ title: typed, description: `# ${typed}\n> quoted\n-# small` })));
    expectWithinLimits(card);
    const e = card.embeds[0]!;
    expectNothingLive(e.title!);
    expect(e.title).toBe('INC-7 · @\u200beveryone \\<@123> \\*\\*x\\*\\* \\[label\\](https://evil) @\u200bhere \\<#9> \\<t:1:R>');
    const description = e.description!.split('\n\n')[0]!;
    expect(description).toBe('\\# @\u200beveryone \\<@123> \\*\\*x\\*\\* \\[label\\](https://evil) @\u200bhere \\<#9> \\<t:1:R>\n\\> quoted\n\\-# small\n**Affected:** checkout');
    expectNothingLive(description.replace('**Affected:**', ''));
    expect(card.content).toBe(`<@${BOB}>`);
    expect(card.allowed_mentions.users).toEqual([BOB]);
  });

  it('a closed incident has no buttons; a resolved one all but Resolve', () => {
    expect(discordMessage(incidentCard(incidentView({ status: 'closed' }))).components).toEqual([]);
    expect(labels(discordMessage(incidentCard(incidentView({ status: 'resolved', resolvedAt: new Date('2026-03-29T03:00:00Z') }))))).toEqual([
      'Take commander',
      'Take tech lead',
      'Take comms lead',
      'Post update',
    ]);
  });
});

describe('the approval card', () => {
  it('pending: Approve (primary) and Reject (danger), the progress, the votes and who may approve', () => {
    const m = discordMessage(approvalCard(approvalView()));
    expectWithinLimits(m);
    expect(labels(m)).toEqual(['Approve', 'Reject']);
    expect(buttons(m).map((b) => b.style)).toEqual([ButtonStyle.Primary, ButtonStyle.Danger]);
    expect(buttons(m).map((b) => parseCustomId(b.custom_id))).toEqual([
      { action: ACTIONS.approval.approve, value: 'a0000000-0000-4000-8000-000000000001' },
      { action: ACTIONS.approval.reject, value: 'a0000000-0000-4000-8000-000000000001' },
    ]);
    const e = m.embeds[0]!;
    expect(e.title).toBe('APR-3 · Deploy api 2.3.0');
    expect(e.fields!.map((f) => [f.name, f.value])).toEqual([
      ['Service', 'api'],
      ['Environment', 'production'],
      ['Version', '2.3.0'],
      ['Requested by', `<@${REQ}> <t:${unix('2026-04-02T09:00:00Z')}:f>`],
    ]);
    expect(e.description).toContain('**Reason:** Fixes the checkout 502s');
    expect(e.description).toContain('⏳ **Pending** · 1/2 · needs a tech\\_lead');
    expect(e.description).toContain(`-# ✅ <@${APP}> (release\\_manager) <t:${unix('2026-04-02T09:30:00Z')}:t>`);
    expect(e.description).toContain(`-# Can approve: <@${TL}> · expires <t:${unix('2026-04-02T14:00:00Z')}:f>`);
    // Nothing in its notification line names a person: nobody is pinged by the card itself.
    expect(m.content).toBe('');
    expect(m.allowed_mentions).toEqual({ parse: [], users: [] });
  });

  it('decided: the status line and no buttons; held: Ask for an exception', () => {
    const rejected = discordMessage(approvalCard(approvalView({ status: 'rejected', rejectReason: 'Not **now**', rejectedBy: TL, decidedAt: new Date('2026-04-02T09:45:00Z') })));
    expect(rejected.components).toEqual([]);
    expect(rejected.embeds[0]!.description).toContain(`❌ **Rejected** <t:${unix('2026-04-02T09:45:00Z')}:f>\nReason: Not \\*\\*now\\*\\* (<@${TL}>)`);
    const held = discordMessage(
      approvalCard(approvalView({ status: 'held', canAskException: true, hold: { problems: ['outside the deployment window'], nextOpen: null, releasedAt: null, exception: null } })),
    );
    expect(labels(held)).toEqual(['Ask for an exception']);
    expect(parseCustomId(buttons(held)[0]!.custom_id)).toEqual({ action: ACTIONS.approval.exception, value: 'a0000000-0000-4000-8000-000000000001' });
  });
});

describe('the change card', () => {
  it('to vote on: Approve, Reject, Defer', () => {
    const m = discordMessage(changeCard(changeView({ status: 'pending', canVote: true })));
    expectWithinLimits(m);
    expect(labels(m).slice(0, 3)).toEqual(['Approve', 'Reject', 'Defer']);
    expect(
      buttons(m)
        .slice(0, 3)
        .map((b) => b.style),
    ).toEqual([ButtonStyle.Primary, ButtonStyle.Danger, ButtonStyle.Secondary]);
  });

  it('approved: Start, Done, Rollback, then the checklist ticks in their own row, each naming its item', () => {
    const m = discordMessage(changeCard(changeView()));
    expectWithinLimits(m);
    expect(m.components.map((r) => r.components.map((b) => b.label))).toEqual([
      ['Start', 'Done', 'Rollback'],
      ['Untick: Backup taken', 'Tick: Customers told'],
    ]);
    expect(buttons(m).map((b) => parseCustomId(b.custom_id))).toEqual([
      { action: ACTIONS.change.start, value: 'c0000000-0000-4000-8000-000000000004' },
      { action: ACTIONS.change.done, value: 'c0000000-0000-4000-8000-000000000004' },
      { action: ACTIONS.change.rollback, value: 'c0000000-0000-4000-8000-000000000004' },
      { action: ACTIONS.change.tick, value: 'c0000000-0000-4000-8000-000000000004:backup' },
      { action: ACTIONS.change.tick, value: 'c0000000-0000-4000-8000-000000000004:comms' },
    ]);
    const e = m.embeds[0]!;
    expect(e.fields!.find((f) => f.name === 'Window')!.value).toBe(`<t:${unix('2026-03-29T01:30:00Z')}:f>–<t:${unix('2026-03-29T02:30:00Z')}:t> (Sun 29 Mar 03:30 Europe/Berlin)`);
    expect(e.description).toContain(`☑️ Backup taken — <@${IMP}>\n⬜ Customers told`);
  });

  it('refused by a window: Ask for an exception; implemented: only Rollback', () => {
    expect(labels(discordMessage(changeCard(changeView({ status: 'pending', canAskException: true, checklist: [] }))))).toEqual(['Ask for an exception']);
    expect(labels(discordMessage(changeCard(changeView({ status: 'implemented', implementedAt: new Date('2026-03-29T02:00:00Z') }))))).toEqual(['Rollback']);
  });

  it('a long checklist: the main buttons and as many ticks as five rows hold, the rest counted in the footer', () => {
    const checklist = Array.from({ length: 30 }, (_, i) => ({ id: `item${i}`, text: `Step ${i}`, done: false }));
    const m = discordMessage(changeCard(changeView({ checklist })));
    expectWithinLimits(m);
    expect(m.components).toHaveLength(5);
    expect(buttons(m)).toHaveLength(25);
    expect(labels(m).slice(0, 3)).toEqual(['Start', 'Done', 'Rollback']);
    expect(m.embeds[0]!.footer!.text).toContain('8 more buttons than Discord shows.');
  });
});

// ---------------------------------------------------------------------------------------------
// Limits: cut, never refused

describe('limits', () => {
  it('a 10 000-character title, 40 fields, huge sections and 30 buttons fit every limit', () => {
    const many = Array.from({ length: 30 }, (_, i) => button(`Button ${i}`, ACTIONS.followUp.done, `id-${i}`));
    const msg: Message = {
      text: 'A notice',
      blocks: [
        header('T'.repeat(10_000)),
        { kind: 'fields', fields: Array.from({ length: 40 }, (_, i) => ({ label: `L${i} ${'n'.repeat(300)}`, value: `v${i} ${'*'.repeat(2000)}` })) },
        section('s'.repeat(5000)),
        section(rt`${strong('bold')} ${'_'.repeat(5000)}`),
        context('c'.repeat(3000)),
        actions('a', ...many.slice(0, 10)),
        actions('b', ...many.slice(10)),
      ],
    };
    const m = discordMessage(msg);
    expectWithinLimits(m);
    const e = m.embeds[0]!;
    expect(e.title).toBe(`${'T'.repeat(255)}…`);
    expect(e.fields!.length).toBeGreaterThan(0);
    expect(embedLength(e)).toBeLessThanOrEqual(6000);
    expect(e.footer!.text).toBe('Shortened: more than Discord shows in one message. 5 more buttons than Discord shows.');
    expect(buttons(m)).toHaveLength(25);
    expect(labels(m)).toEqual(Array.from({ length: 25 }, (_, i) => `Button ${i}`));
    // Escapes are never split by a cut: every backslash in a value still escapes its star.
    for (const f of e.fields!) expect(f.value.replace(/\\\*/g, '')).toMatch(/^v\d+ …$/);
  });

  it('40 short fields: 25 of them', () => {
    const m = discordMessage({ text: '', blocks: [{ kind: 'fields', fields: Array.from({ length: 40 }, (_, i) => ({ label: `F${i}`, value: `${i}` })) }] });
    expectWithinLimits(m);
    expect(m.embeds[0]!.fields!.map((f) => f.name)).toEqual(Array.from({ length: 25 }, (_, i) => `F${i}`));
    expect(m.embeds[0]!.footer!.text).toBe('Shortened: more than Discord shows in one message.');
  });

  it('a long notice is cut to 2000 characters of content, its mentions kept whole or left out', () => {
    const m = discordMessage({ text: rt`${'x'.repeat(1990)} ${mention(ANA)} ${mention(BOB)}` });
    expect(m.content.length).toBeLessThanOrEqual(2000);
    expect(m.content.endsWith('…')).toBe(true);
    expect(m.content).not.toContain('<@1');
    expect(m.allowed_mentions).toEqual({ parse: [], users: [] });
    const fits = discordMessage({ text: rt`${'x'.repeat(1960)} ${mention(ANA)} ${mention(BOB)}` });
    expect(fits.content.endsWith(`<@${ANA}> …`)).toBe(true);
    expect(fits.allowed_mentions).toEqual({ parse: [], users: [ANA] });
  });

  it('button labels are kept exactly up to 80 characters; a custom_id never cut: too long, it throws', () => {
    const long = discordMessage({ text: '', blocks: [actions('a', button('L'.repeat(100), ACTIONS.followUp.done, 'x'))] });
    expect(labels(long)).toEqual([`${'L'.repeat(79)}…`]);
    expect(() => discordMessage({ text: '', blocks: [actions('a', button('Go', ACTIONS.followUp.done, 'v'.repeat(100)))] })).toThrow(/longer than Discord's 100/);
    expect(() => discordMessage({ text: '', blocks: [actions('a', button('Go', ACTIONS.followUp.done, 'a#1'))] })).toThrow(/holds "#"/);
  });

  it('the same action on the same record twice gets #n, which parseCustomId drops', () => {
    const m = discordMessage({
      text: '',
      blocks: [actions('a', button('Done', ACTIONS.followUp.done, 'r1'), button('Done again', ACTIONS.followUp.done, 'r1'), button('Other', ACTIONS.followUp.done, 'r2'))],
    });
    expect(buttons(m).map((b) => b.custom_id)).toEqual(['followup.done:r1', 'followup.done:r1#1', 'followup.done:r2']);
    expect(buttons(m).map((b) => parseCustomId(b.custom_id))).toEqual([
      { action: 'followup.done', value: 'r1' },
      { action: 'followup.done', value: 'r1' },
      { action: 'followup.done', value: 'r2' },
    ]);
  });
});

describe('message layout', () => {
  it('a plain notice is its content, pinging exactly the people it mentions', () => {
    const m = discordMessage({ text: rt`${mention(ANA)} took command of ${channelRef(WAR_ROOM)} at ${time(DECLARED)}; @everyone <@999> stays text` });
    expect(m).toEqual({
      content: `<@${ANA}> took command of <#${WAR_ROOM}> at <t:${unix(DECLARED)}:f>; @\u200beveryone \\<@999> stays text`,
      embeds: [],
      components: [],
      allowed_mentions: { parse: [], users: [ANA] },
    });
  });

  it('headers, sections, small print and dividers in order in the description; a second header is a heading', () => {
    const m = discordMessage({
      text: '',
      blocks: [header('Muster'), section('One'), context('small 1', rt`small ${emoji('lock')}`), divider(), header('Second **part**'), section('Two'), divider()],
    });
    expect(m.embeds[0]).toEqual({ title: 'Muster', description: 'One\n\n-# small 1\n-# small 🔒\n\n────────────────\n\n### Second \\*\\*part\\*\\*\nTwo' });
  });

  it('a reply without blocks of text still says something; empty blocks make no embed', () => {
    expect(discordMessage({ text: 'Done.', blocks: [section('')] }).content).toBe('Done.');
  });
});

describe('the home', () => {
  it('is one message per group of buttons, each button under the request it acts on', () => {
    const a = approvalView();
    const b = approvalView({ id: 'a0000000-0000-4000-8000-000000000002', ref: 'APR-4', title: 'Deploy web 1.0' });
    const home = homeView([incidentView()], new Date('2026-03-29T02:00:00Z'), waitingSection([a, b]));
    const msgs = discordHome(home);
    expect(msgs).toHaveLength(3);
    msgs.forEach(expectWithinLimits);
    expect(msgs[0]!.embeds[0]!.title).toBe('Muster');
    expect(msgs[0]!.embeds[0]!.description).toContain('### Waiting for your approval \\(2)'.replace('\\(', '('));
    expect(msgs[0]!.embeds[0]!.description).toContain('**APR-3** Deploy api 2.3.0');
    expect(buttons(msgs[0]!).map((x) => parseCustomId(x.custom_id)?.value)).toEqual([a.id, a.id]);
    expect(msgs[1]!.embeds[0]!.description).toContain('**APR-4** Deploy web 1.0');
    expect(buttons(msgs[1]!).map((x) => parseCustomId(x.custom_id)?.value)).toEqual([b.id, b.id]);
    expect(labels(msgs[1]!)).toEqual(['Approve', 'Reject']);
    expect(msgs[2]!.components).toEqual([]);
    expect(msgs[2]!.embeds[0]!.description).toContain(`**INC-7** Checkout 502s`);
    expect(msgs[2]!.embeds[0]!.description).toContain(`commander <@${BOB}> · <#${WAR_ROOM}>`);
  });

  it('without buttons it is one message', () => {
    expect(discordHome(homeView([], new Date('2026-03-29T02:00:00Z')))).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Text both ways

describe('discordMarkdown', () => {
  it('escapes what is markup in typed text, and defuses @everyone and @here', () => {
    expect(discordMarkdown('a*b*c _d_ ~~e~~ ||f|| `g` \\h [i](j) <@1> <#2> <t:3> <:e:4> </c:5> <id:browse>')).toBe(
      'a\\*b\\*c \\_d\\_ \\~\\~e\\~\\~ \\|\\|f\\|\\| \\`g\\` \\\\h \\[i\\](j) \\<@1> \\<#2> \\<t:3> \\<:e:4> \\</c:5> \\<id:browse>',
    );
    expect(discordMarkdown('@everyone @here @Everyone @heretic a@everyone.example')).toBe('@\u200beveryone @\u200bhere @\u200bEveryone @\u200bheretic a@\u200beveryone.example');
    expect(discordMarkdown('# h1\n## h2\n-# sub\n> quote\n>>> all\n- item\n+ item\n  * star\n12. twelve\nnot # mid-line - or > here')).toBe(
      '\\# h1\n\\## h2\n\\-# sub\n\\> quote\n\\>>> all\n\\- item\n\\+ item\n  \\* star\n12\\. twelve\nnot # mid-line - or > here',
    );
    for (const s of ['@everyone', '<@123>', '**x**', '[label](https://evil)', '<@&42>', '@here']) expectNothingLive(discordMarkdown(s));
  });

  it('leaves typed URLs as they are (Discord autolinks them), brackets never part of one', () => {
    expect(discordMarkdown('see https://example.com/a_b*c?q=1_(x) now')).toBe('see https://example.com/a_b*c?q=1_(x) now');
    expect(discordMarkdown('(https://example.com/a_b).')).toBe('(https://example.com/a_b).');
    expect(discordMarkdown('[x](https://evil.example/p_q)')).toBe('\\[x\\](https://evil.example/p_q)');
    expect(discordMarkdown('https://a.example/[x](https://evil)')).toBe('https://a.example/\\[x\\](https://evil)');
    // Line starts around a URL: the text right after it is mid-line, the next line is not.
    expect(discordMarkdown('https://a.example # not a heading\n# a heading https://b.example\n> quote')).toBe('https://a.example # not a heading\n\\# a heading https://b.example\n\\> quote');
    expect(discordMarkdown(rt`${strong('x')}# mid-line https://a.example\n- item`)).toBe('**x**# mid-line https://a.example\n\\- item');
  });

  it('renders the nodes: people, channels, times by style, links, emphasis, code and emoji', () => {
    const at = new Date('2021-04-20T16:20:30Z');
    expect(
      discordMarkdown(
        rt`${mention(ANA)} ${channelRef(WAR_ROOM)} ${time(at)} ${time(at, 'datetime_secs')} ${time(at, 'date')} ${time(at, 'time')} ${strong('bold ')}${em('it')} ${code('a`b')} ${code('x``y')} ${emoji('rotating_light')}`,
      ),
    ).toBe(`<@${ANA}> <#${WAR_ROOM}> <t:1618935630:f> <t:1618935630:S> <t:1618935630:D> <t:1618935630:t> **bold** *it* \`\` a\`b \`\` \`xˋˋy\` 🚨`);
    expect(discordMarkdown(rt`${link('https://status.example/a_(b)', 'Status [page]')} ${link('https://x.example')} ${link('mailto:ops@x.example', 'mail')}`)).toBe(
      '[Status \\[page\\]](https://status.example/a_%28b%29) <https://x.example> mail (mailto:ops@x.example)',
    );
    // Marks that would run together are kept apart.
    expect(discordMarkdown(rt`${strong('a')}${em('b')}${code('c')}${code('d')}`)).toBe('**a**\u200b*b*`c`\u200b`d`');
    // Ids that are not Discord's (a Slack id in old data) are text, never a mention.
    expect(discordMarkdown(rt`${mention('U0ANA')} ${channelRef('C0INC')}`)).toBe('@U0ANA #C0INC');
  });

  it('cuts at max without breaking an escape or a node', () => {
    expect(discordMarkdown('abcdefghij', { max: 5 })).toBe('abcd…');
    expect(discordMarkdown('***', { max: 5 })).toBe('\\*\\*…');
    expect(discordMarkdown(rt`ab ${mention(ANA)} cd`, { max: 10 })).toBe('ab …');
    expect(discordMarkdown(rt`ab ${time(DECLARED)}`, { max: 100 })).toBe(`ab <t:${unix(DECLARED)}:f>`);
    expect(discordMarkdown('https://example.com/long/path tail', { max: 20 })).toBe('…');
  });

  it('allowedMentions: nothing parsed, only the people of person nodes, Discord ids only, at most 100', () => {
    expect(allowedMentions(rt`${mention(ANA)} ${strong('to ', mention(BOB))} ${mention(ANA)} @everyone <@999>`)).toEqual({ parse: [], users: [ANA, BOB] });
    expect(allowedMentions([rt`${mention(ANA)}`, 'x', [em(mention(TL))], [mention('U0SLACK')]])).toEqual({ parse: [], users: [ANA, TL] });
    const crowd = Array.from({ length: 150 }, (_, i) => mention(String(10n ** 17n + BigInt(i))));
    expect(allowedMentions(crowd).users).toHaveLength(100);
  });

  it('plainDiscord: no markdown, on one line', () => {
    expect(plainDiscord(rt`Take ${strong('it')}\nnow ${mention(ANA)} ${emoji('x')}`)).toBe(`Take it now @${ANA} ❌`);
  });

  it('escapeDiscord is what strings become', () => {
    expect(escapeDiscord('# a_b', { lineStart: false })).toBe('# a\\_b');
    expect(escapeDiscord('# a_b')).toBe('\\# a\\_b');
  });
});

describe('parseDiscordText', () => {
  it('people, channels and timestamps become nodes; everything else is the string typed', () => {
    expect(parseDiscordText(`hi <@${ANA}>, <@!${BOB}> in <#${WAR_ROOM}> at <t:1618953630:R> or <t:1618953630> or <t:1618953630:S>`)).toEqual([
      'hi ',
      { person: ANA },
      ', ',
      { person: BOB },
      ' in ',
      { channel: WAR_ROOM },
      ' at ',
      { time: '2021-04-20T21:20:30.000Z', style: 'datetime' },
      ' or ',
      { time: '2021-04-20T21:20:30.000Z', style: 'datetime' },
      ' or ',
      { time: '2021-04-20T21:20:30.000Z', style: 'datetime_secs' },
    ]);
    expect(parseDiscordText('<t:1618953630:d> <t:1618953630:T>')).toEqual([{ time: '2021-04-20T21:20:30.000Z', style: 'date' }, ' ', { time: '2021-04-20T21:20:30.000Z', style: 'time' }]);
  });

  it('never a ping from typed text: @everyone, @here and role mentions stay words', () => {
    expect(parseDiscordText('@everyone @here <@&123456> **x**')).toEqual(['@everyone @here <@&123456> **x**']);
    expect(parseDiscordText('\\<@123> typed escaped')).toEqual(['\\<@123> typed escaped']);
  });

  it('emoji, commands and links read as the person saw them; control characters go', () => {
    expect(parseDiscordText('<:party:123456> <a:dance:42> </muster help:99> [docs](https://docs.example/x) [https://a.example](https://a.example) <https://b.example> a\u0001b')).toEqual([
      ':party: :dance: /muster help docs (https://docs.example/x) https://a.example https://b.example ab',
    ]);
  });

  it('round-trips through discordMarkdown: what was typed shows as typed, nodes stay live', () => {
    const typed = `take <@${ANA}> **now** @everyone`;
    const parsed = parseDiscordText(typed);
    expect(parsed).toEqual(['take ', { person: ANA }, ' **now** @everyone']);
    expect(discordMarkdown(parsed)).toBe(`take <@${ANA}> \\*\\*now\\*\\* @\u200beveryone`);
    expect(allowedMentions(parsed)).toEqual({ parse: [], users: [ANA] });
  });
});

describe('parseCustomId', () => {
  it('splits at the first colon and drops #n; refuses what Muster did not make', () => {
    expect(parseCustomId('change.tick:c1:item#3')).toEqual({ action: 'change.tick', value: 'c1:item' });
    expect(parseCustomId('approval.approve:a1')).toEqual({ action: 'approval.approve', value: 'a1' });
    expect(parseCustomId('nothing')).toBeUndefined();
    expect(parseCustomId(':x')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Forms

/** A modal's components as [label, component type, custom_id]. */
const shape = (m: APIModalInteractionResponseCallbackData) =>
  m.components.map((c) => (c.type === ComponentType.Label ? [c.label, c.component.type, 'custom_id' in c.component ? c.component.custom_id : ''] : [c.type]));

function expectModalWithinLimits(m: APIModalInteractionResponseCallbackData) {
  expect(m.title.length).toBeGreaterThan(0);
  expect(m.title.length).toBeLessThanOrEqual(45);
  expect(m.custom_id.length).toBeLessThanOrEqual(100);
  expect(m.components.length).toBeGreaterThanOrEqual(1);
  expect(m.components.length).toBeLessThanOrEqual(5);
  for (const c of m.components) {
    if (c.type !== ComponentType.Label) continue;
    expect(c.label.length).toBeLessThanOrEqual(45);
    expect(c.description?.length ?? 0).toBeLessThanOrEqual(100);
    const x = c.component;
    if (x.type === ComponentType.TextInput) {
      expect(x.placeholder?.length ?? 0).toBeLessThanOrEqual(100);
      expect(x.max_length ?? 4000).toBeLessThanOrEqual(4000);
      expect(x.value?.length ?? 0).toBeLessThanOrEqual(x.max_length ?? 4000);
    }
    if (x.type === ComponentType.StringSelect) expect(x.options.length).toBeLessThanOrEqual(25);
    if (x.type === ComponentType.RadioGroup) expect(x.options.length).toBeGreaterThanOrEqual(2);
  }
}

describe('forms as modals', () => {
  it('the declare form: five labelled inputs, a select for the severity and a radio group for the channel', () => {
    const f = declareModal({ privateByDefault: true, channelId: WAR_ROOM });
    const m = discordModal(f);
    expectModalWithinLimits(m);
    expect(m.title).toBe('Declare an incident');
    expect(m.custom_id).toBe(`incident.declare:{"channelId":"${WAR_ROOM}"}`);
    expect(shape(m)).toEqual([
      ['Title', ComponentType.TextInput, 'title'],
      ['Severity', ComponentType.StringSelect, 'severity'],
      ['Description', ComponentType.TextInput, 'description'],
      ['Affected services', ComponentType.TextInput, 'services'],
      ['Channel', ComponentType.RadioGroup, 'private'],
    ]);
    const [title, severity, description, services, channel] = m.components.map((c) => (c.type === ComponentType.Label ? c : undefined));
    expect(title!.component).toEqual({
      type: ComponentType.TextInput,
      custom_id: 'title',
      style: TextInputStyle.Short,
      required: true,
      max_length: 200,
      placeholder: 'What is broken, in a few words',
    });
    expect(severity!.component).toMatchObject({ required: true, min_values: 1, max_values: 1 });
    expect(severity!.component.type === ComponentType.StringSelect && severity!.component.options.filter((o) => o.default).map((o) => o.value)).toEqual(['P2']);
    expect(description!.component).toMatchObject({ style: TextInputStyle.Paragraph, required: false, max_length: 2000 });
    expect(services!.description).toBe('Comma-separated');
    expect(channel!.component).toEqual({
      type: ComponentType.RadioGroup,
      custom_id: 'private',
      required: true,
      options: [
        { label: 'Public channel', value: 'public' },
        { label: 'Private channel', value: 'private', default: true },
      ],
    });
  });

  it('a submitted declare form reads back into what FORMS expects, its data from the custom_id', () => {
    const f = declareModal({ privateByDefault: false, channelId: WAR_ROOM });
    const m = discordModal(f);
    const values = readModalSubmit(submit(m, { title: '  DB down  ', severity: 'P1', services: 'api, db', private: 'private' }));
    expect(values).toEqual({ title: '  DB down  ', severity: 'P1', description: undefined, services: 'api, db', private: 'private' });
    expect(FORMS[VIEWS.declare].read(values)).toEqual({ input: { title: 'DB down', severity: 'P1', services: ['api', 'db'], isPrivate: true } });
    const parsed = parseModalCustomId(m.custom_id);
    expect(parsed).toEqual({ form: VIEWS.declare, page: 1, data: { channelId: WAR_ROOM } });
    expect(FORMS[VIEWS.declare].data.safeParse((parsed as { data: unknown }).data).success).toBe(true);
    // Left as drawn: the defaults come back, the empty title is refused by FORMS.
    expect(FORMS[VIEWS.declare].read(readModalSubmit(submit(m)))).toEqual({ errors: { title: 'Give the incident a title.' } });
  });

  it('one-field forms: the intro as text, the field with its limits', () => {
    const incident = { id: 'i0000000-0000-4000-8000-000000000007', ref: 'INC-7', title: 'Checkout **502s**' };
    const update = discordModal(textModal('update', incident));
    expectModalWithinLimits(update);
    expect(update.title).toBe('Update INC-7');
    expect(update.components[0]).toEqual({ type: ComponentType.TextDisplay, content: '**INC-7** Checkout \\*\\*502s\\*\\*' });
    expect(shape(update).slice(1)).toEqual([['Update', ComponentType.TextInput, 'text']]);

    const reject = discordModal(rejectModal({ id: 'a0000000-0000-4000-8000-000000000001', ref: 'APR-3', title: 'Deploy' }));
    expectModalWithinLimits(reject);
    expect(reject.custom_id).toBe('approval.reject:{"requestId":"a0000000-0000-4000-8000-000000000001"}');
    const field = reject.components[1]!;
    expect(field.type === ComponentType.Label && field.label).toBe('Why are you rejecting it?');
    expect(field.type === ComponentType.Label && field.component).toEqual({
      type: ComponentType.TextInput,
      custom_id: 'reason',
      style: TextInputStyle.Paragraph,
      required: true,
      min_length: 3,
      max_length: 1000,
    });
    expect(FORMS[VIEWS.reject].read(readModalSubmit(submit(reject, { reason: 'Too risky' })))).toEqual({ input: 'Too risky' });

    const change = { id: 'c0000000-0000-4000-8000-000000000004', ref: 'CHG-4', title: 'Upgrade' };
    const rejectChange = discordModal(changeRejectForm(change));
    expectModalWithinLimits(rejectChange);
    expect(FORMS[VIEWS.changeReject].read(readModalSubmit(submit(rejectChange, { reason: 'Friday' })))).toEqual({ input: 'Friday' });
    const done = discordModal(changeDoneForm(change));
    expectModalWithinLimits(done);
    expect(shape(done)).toEqual([[ComponentType.TextDisplay], ['How did it go?', ComponentType.RadioGroup, 'outcome'], ['Implementation notes', ComponentType.TextInput, 'text']]);
    expect(FORMS[VIEWS.changeDone].read(readModalSubmit(submit(done, { outcome: 'failed', text: 'Rolled forward' })))).toEqual({ input: { outcome: 'failed', notes: 'Rolled forward' } });
  });

  it('the change form (15 fields) comes in pages of at most 5, its data stored; discordModal refuses it', () => {
    const f = changeForm({ type: 'normal', environments: ['production', 'staging'], catalogue: [], timeZone: 'Europe/Berlin', channelId: WAR_ROOM });
    expect(f.fields.length).toBeGreaterThan(5);
    expect(() => discordModal(f)).toThrow(/use discordForm/);
    const d = discordForm(f, { key: 'k123' });
    expect(d.stored).toEqual({ key: 'k123', data: { type: 'normal', channelId: WAR_ROOM } });
    expect(d.pages).toHaveLength(Math.ceil(f.fields.length / 5));
    d.pages.forEach((p, k) => {
      expectModalWithinLimits(p.modal);
      expect(p.modal.custom_id).toBe(`change.new/${k + 1}:~k123`);
      expect(p.modal.title).toBe(`New normal change (${k + 1}/${d.pages.length})`);
      expect(parseModalCustomId(p.modal.custom_id)).toEqual({ form: VIEWS.changeNew, page: k + 1, key: 'k123' });
    });
    expect(d.pages.flatMap((p) => p.fields)).toEqual(f.fields.map((x) => x.id));
    // Every page submitted, the values together read as the form does on Slack.
    const answers: Record<string, string> = { title: 'Upgrade Envoy', window_start: '2026-04-01 10:00', window_length: '1h', rollback_plan: 'Redeploy', environment: 'staging' };
    const values = Object.assign({}, ...d.pages.map((p) => readModalSubmit(submit(p.modal, answers), f)));
    const read = FORMS[VIEWS.changeNew].read(values);
    expect(read).toMatchObject({
      input: { title: 'Upgrade Envoy', environment: 'staging', impact: 'medium', risk: 'medium', affectedUsers: 'some', downtime: 'none', windowStart: '2026-04-01 10:00', rollbackTested: 'no' },
    });
    // A random key when none is given.
    expect(discordForm(f).stored!.key).toMatch(/^[\w-]{12}$/);
  });

  it('a select with more than 25 choices is typed, and read back to its option by value or label', () => {
    const options = Array.from({ length: 30 }, (_, i) => ({ value: `env${i}`, label: `Environment ${i}` }));
    const f: Form = { id: VIEWS.changeEdit, title: 'Edit', submit: 'Save', close: 'Cancel', data: {}, fields: [{ id: 'environment', label: 'Environment', kind: 'select', options }] };
    const m = discordModal(f);
    const c = m.components[0]!;
    expect(c.type === ComponentType.Label && c.component).toMatchObject({ type: ComponentType.TextInput, placeholder: expect.stringMatching(/^One of: env0, env1, .*…$/) });
    expect(readModalSubmit(submit(m, { environment: ' ENVIRONMENT 7 ' }), f)).toEqual({ environment: 'env7' });
    expect(readModalSubmit(submit(m, { environment: 'Env12' }), f)).toEqual({ environment: 'env12' });
    expect(readModalSubmit(submit(m, { environment: 'mars' }), f)).toEqual({ environment: 'mars' });
  });

  it('long titles, labels and data are cut or stored, never sent over the limits', () => {
    const f: Form = {
      id: VIEWS.update,
      title: 'T'.repeat(100),
      submit: 'Go',
      close: 'Cancel',
      data: { incidentId: 'x'.repeat(120) },
      fields: [{ id: 'text', label: 'L'.repeat(60), hint: 'h'.repeat(200), kind: 'text', placeholder: 'p'.repeat(200), initial: 'i'.repeat(5000), maxLength: 9000, minLength: 5 }],
    };
    const d = discordForm(f, { key: 'abc' });
    expect(d.pages).toHaveLength(1);
    expect(d.stored).toEqual({ key: 'abc', data: f.data });
    const m = d.pages[0]!.modal;
    expectModalWithinLimits(m);
    expect(m.custom_id).toBe('incident.update:~abc');
    expect(m.title).toBe(`${'T'.repeat(44)}…`);
    const c = m.components[0]!;
    expect(c.type === ComponentType.Label && [c.label.length, c.description!.length]).toEqual([45, 100]);
    expect(c.type === ComponentType.Label && c.component).toMatchObject({ max_length: 4000, min_length: 5, value: 'i'.repeat(4000) });
    expect(() => discordModal(f)).toThrow(/use discordForm/);
  });

  it('readModalSubmit reads legacy action rows too and skips text displays; an empty input is undefined', () => {
    const values = readModalSubmit([
      { type: ComponentType.TextDisplay, id: 1 },
      { type: ComponentType.ActionRow, id: 2, components: [{ type: ComponentType.TextInput, id: 3, custom_id: 'reason', value: '' }] },
      { type: ComponentType.Label, id: 4, component: { type: ComponentType.RadioGroup, id: 5, custom_id: 'outcome', value: null } },
      { type: ComponentType.Label, id: 6, component: { type: ComponentType.StringSelect, id: 7, custom_id: 'severity', values: [] } },
    ]);
    expect(values).toEqual({ reason: undefined, outcome: undefined, severity: undefined });
  });

  it('parseModalCustomId refuses what is not a form of ours', () => {
    expect(parseModalCustomId('nothing')).toBeUndefined();
    expect(parseModalCustomId('incident.update:{not json')).toBeUndefined();
    expect(parseModalCustomId('incident.update:~')).toBeUndefined();
  });
});

describe('the surfaces seen by tests elsewhere', () => {
  it('every block kind renders within the limits', () => {
    const blocks: Block[] = [
      header('H'),
      section(rt`${strong('s')}`),
      { kind: 'fields', fields: [{ label: 'a', value: '' }] },
      context('c'),
      divider(),
      actions('x', button('B', ACTIONS.nudge.snooze, 'n1')),
    ];
    const m = discordMessage({ text: 'x', blocks });
    expectWithinLimits(m);
    expect(m.embeds[0]!.fields).toEqual([{ name: 'a', value: '\u200b', inline: true }]);
    expect(embedText(m.embeds[0]!)).toContain('**s**');
  });

  it('typed text in any place of a card never pings: allowed_mentions names only Muster’s own mentions', () => {
    const typed: Text = '@everyone <@123> **x** [label](https://evil)';
    const m = discordMessage(approvalCard(approvalView({ title: typed, reason: typed, details: [['Service', typed]], eligible: [TL] })));
    expectWithinLimits(m);
    for (const part of [m.embeds[0]!.title!, m.embeds[0]!.fields![0]!.name, m.embeds[0]!.fields![0]!.value]) expectNothingLive(part);
    expect(m.embeds[0]!.description).toContain('**Reason:** @\u200beveryone \\<@123> \\*\\*x\\*\\* \\[label\\](https://evil)');
    expect(m.allowed_mentions.users).not.toContain('123');
  });
});
