import type { IncidentChange, IncidentView } from '../src/services/incidentViews.ts';
import { ROLE_LABEL } from '../src/domain/incident.ts';
import { STATUS_LABEL, type ChangeStatus } from '../src/domain/change.ts';
import { ACTIONS, FIELDS, VIEWS } from './actionIds.ts';
import { clip, clipText, LIMITS } from './limits.ts';
import { channelRef, code, emoji, type EmojiName, joinText, mention, plainText, rt, strong, time, type Text } from '../src/domain/text.ts';
import { actions, button, context, divider, header, section, type Block, type Form, type Home, type Message } from './surface.ts';

const SEV: Record<string, EmojiName> = { P0: 'red_circle', P1: 'large_orange_circle', P2: 'large_yellow_circle', P3: 'white_circle' };
const STATUS: Record<string, EmojiName> = {
  investigating: 'mag',
  identified: 'dart',
  monitoring: 'eyes',
  resolved: 'white_check_mark',
  closed: 'lock',
};
/** A severity's or a status's emoji, or nothing for one Muster has none for. */
const sevEmoji = (s: string): Text => (SEV[s] ? [emoji(SEV[s]!)] : '');
const statusEmoji = (s: string): Text => (STATUS[s] ? [emoji(STATUS[s]!)] : '');

const who = (u?: string): Text => (u ? [mention(u)] : 'unassigned');
/** The incident's channel: a link once it exists, its name while it is being created. */
export const warRoom = (v: { channelId: string | null; channelName: string | null }): Text =>
  v.channelId ? [channelRef(v.channelId)] : v.channelName ? `#${v.channelName}` : 'its channel (being created)';

function slaLine(v: IncidentView): Text {
  const clock = (label: string, by: Date, met?: boolean) =>
    met === undefined ? rt`${label} by ${time(by)}` : met ? rt`${label}: met ${emoji('white_check_mark')}` : rt`${label}: ${strong('missed')} (${time(by)}) ${emoji('x')}`;
  return rt`${clock('Respond', v.sla.respondBy, v.sla.respondMet)} · ${clock('Resolve', v.sla.resolveBy, v.sla.resolveMet)}`;
}

/** The most changes a card lists in each part; the rest are counted. */
const CHANGES_SHOWN = 5;
const more = (n: number): Text => (n > 0 ? `\nand ${n} more` : '');
const outcomeWord = (c: IncidentChange) => (c.outcome === 'failed' ? 'failed' : c.outcome === 'rolled_back' ? 'rolled back' : 'implemented');

/** "CHG-4 Upgrade the API gateway (api, production, implemented <time> by @x)", a suspected cause marked. */
function changeLine(c: IncidentChange): Text {
  const by = c.implementer ?? c.requester;
  const where = [...c.systems, c.environment].filter(Boolean).join(', ');
  return rt`${c.suspected ? rt`${emoji('warning')} ` : '• '}${strong(c.ref)} ${c.title} (${where}${c.implementedAt && rt`, ${outcomeWord(c)} ${time(c.implementedAt)}`} by ${mention(by)})${c.suspected && rt` — ${strong('suspected cause')}`}`;
}

/** What changed around the incident: carried out since 24 h before it on its services, suspected causes, changes raised in it. */
function changesBlocks(v: IncidentView): Block[] {
  const c = v.changes;
  const scope = v.services.length ? ` on ${v.services.join(', ')}` : '';
  // Just declared, "the last 24 h" is exact; later the lookback starts 24 h before the declaration.
  const when = c.until.getTime() - v.declaredAt.getTime() < 3_600_000 ? 'in the last 24 h' : 'since 24 h before it was declared';
  const parts: Text[] = [];
  if (c.recent.length) {
    parts.push(rt`${strong(`Changed ${when}`)}${scope}:\n${joinText(c.recent.slice(0, CHANGES_SHOWN).map(changeLine), '\n')}${more(c.recent.length - CHANGES_SHOWN)}`);
  }
  if (c.suspectedElsewhere.length) {
    parts.push(rt`${strong('Also suspected:')}\n${joinText(c.suspectedElsewhere.slice(0, CHANGES_SHOWN).map(changeLine), '\n')}${more(c.suspectedElsewhere.length - CHANGES_SHOWN)}`);
  }
  if (c.raised.length) {
    const raised = c.raised.slice(0, CHANGES_SHOWN).map((x) => rt`${strong(x.ref)} (${STATUS_LABEL[x.status as ChangeStatus] ?? x.status})`);
    parts.push(rt`${strong('Changes raised here:')} ${joinText(raised, ', ')}${c.raised.length > CHANGES_SHOWN ? ` and ${c.raised.length - CHANGES_SHOWN} more` : ''}`);
  }
  if (!parts.length) return [context(`No changes implemented ${when}${scope}.`)];
  return [section(clipText(joinText(parts, '\n'), LIMITS.sectionText))];
}

/** The incident card: posted and pinned in the war room, updated in place on every change. */
export function incidentCard(v: IncidentView): Message {
  const open = v.status !== 'resolved' && v.status !== 'closed';
  const blocks: Block[] = [
    header(clip(`${v.ref} · ${plainText(v.title)}`, LIMITS.headerText)),
    {
      kind: 'fields',
      fields: [
        { label: 'Severity', value: rt`${sevEmoji(v.severity)} ${v.severity}` },
        { label: 'Status', value: rt`${statusEmoji(v.status)} ${v.status}` },
        { label: ROLE_LABEL.commander, value: who(v.commander) },
        { label: ROLE_LABEL.tech, value: who(v.tech) },
        { label: ROLE_LABEL.comms, value: who(v.comms) },
        { label: 'Reported by', value: rt`${mention(v.reporter)} ${time(v.declaredAt)}` },
      ],
    },
  ];
  if (v.description || v.services.length) {
    const parts: Text[] = [];
    if (v.description) parts.push(v.description);
    if (v.services.length) parts.push(rt`${strong('Affected:')} ${v.services.join(', ')}`);
    blocks.push(section(clipText(joinText(parts, '\n'), LIMITS.sectionText)));
  }
  blocks.push(...changesBlocks(v));
  if (v.summary && !open) blocks.push(section(clipText(rt`${strong('Resolution:')} ${v.summary}`, LIMITS.sectionText)));
  blocks.push(
    context(
      rt`SLA — ${slaLine(v)}`,
      rt`Last update ${time(v.lastUpdateAt)}${v.updateDueAt && rt` · next due ${time(v.updateDueAt)}`}${v.resolvedAt && rt` · resolved ${time(v.resolvedAt)}`}${v.isPrivate && rt` · ${emoji('lock')} private`}${v.publishedAt && rt` · ${emoji('globe_with_meridians')} on the status page as “${v.publicTitle ?? ''}”`}${v.openActions ? ` · ${v.openActions} open follow-up(s)` : ''}`,
    ),
  );
  if (v.status !== 'closed') {
    const buttons = [
      button('Take commander', ACTIONS.incident.takeCommander, v.id, v.commander ? undefined : 'primary'),
      button('Take tech lead', ACTIONS.incident.takeTech, v.id),
      button('Take comms lead', ACTIONS.incident.takeComms, v.id),
      button('Post update', ACTIONS.incident.postUpdate, v.id),
    ];
    if (open) buttons.push(button('Resolve', ACTIONS.incident.resolve, v.id, 'danger'));
    blocks.push(actions('incident-actions', ...buttons));
  }
  const text = rt`${v.ref} [${v.severity}] ${v.title} — ${v.status}; commander ${who(v.commander)}; declared ${v.declaredAt.toISOString()}`;
  return { text, blocks };
}

/** Broadcast-channel announcement of a P0/P1 (declared, status, severity, resolved). */
export function incidentAnnouncement(v: IncidentView, headline: Text): Message {
  return {
    text: rt`${headline} — ${warRoom(v)}`,
    blocks: [
      section(clipText(rt`${sevEmoji(v.severity)} ${strong(headline)}\nWar room: ${warRoom(v)} · status ${v.status} · commander ${who(v.commander)}`, LIMITS.sectionText)),
      context(rt`Declared ${time(v.declaredAt)} by ${mention(v.reporter)}`),
    ],
  };
}

export function incidentReady(v: IncidentView): Message {
  return { text: rt`${v.ref} war room is ready: ${warRoom(v)}. The card with the role buttons is pinned there.` };
}

export interface NudgeSurfaceData {
  id: string;
  text: Text;
  status: string;
  level: number;
  acknowledgedBy?: string | null;
  acknowledgedAt?: Date | null;
  snoozedUntil?: Date | null;
}

/** A nudge with Acknowledge / Snooze 30m; once handled, its buttons give way to who did what. */
export function nudgeMessage(n: NudgeSurfaceData, lead?: Text): Message {
  const line = rt`${lead && rt`${lead} `}${emoji('alarm_clock')} ${n.text}`;
  const blocks: Block[] = [section(clipText(line, LIMITS.sectionText))];
  if (n.status === 'open') {
    blocks.push(actions('nudge-actions', button('Acknowledge', ACTIONS.nudge.acknowledge, n.id, 'primary'), button('Snooze 30m', ACTIONS.nudge.snooze, n.id)));
  } else {
    const state =
      n.status === 'acknowledged'
        ? rt`Acknowledged by ${mention(n.acknowledgedBy ?? '')}${n.acknowledgedAt && rt` ${time(n.acknowledgedAt)}`}`
        : n.status === 'snoozed'
          ? rt`Snoozed until ${n.snoozedUntil ? time(n.snoozedUntil) : 'later'}`
          : 'No longer needed';
    blocks.push(context(state));
  }
  return { text: rt`${lead && rt`${lead} `}${n.text}`, blocks };
}

export function followUpMessage(a: { id: string; number: number; text: Text; ref: string; due?: string | null; status: string }, intro: Text): Message {
  const line = rt`${intro}: ${strong(`#${a.number} `, a.text)}${a.due && ` (due ${a.due})`}`;
  const blocks: Block[] = [section(clipText(line, LIMITS.sectionText))];
  if (a.status === 'open') blocks.push(actions('followup-actions', button('Mark done', ACTIONS.followUp.done, a.id, 'primary')));
  else blocks.push(context(rt`${emoji('white_check_mark')} Done`));
  return { text: line, blocks };
}

/** The declare form opened by `/incident` and `/incident new`. */
export function declareModal(opts: { privateByDefault: boolean; channelId?: string }): Form {
  const severities = [
    { value: 'P0', label: 'P0 — critical, respond in 5 min' },
    { value: 'P1', label: 'P1 — major, respond in 15 min' },
    { value: 'P2', label: 'P2 — minor, respond in 1 h' },
    { value: 'P3', label: 'P3 — low, respond in 24 h' },
  ];
  return {
    id: VIEWS.declare,
    title: 'Declare an incident',
    submit: 'Declare',
    close: 'Cancel',
    data: { channelId: opts.channelId ?? null },
    fields: [
      { id: FIELDS.title.block, label: 'Title', kind: 'text', maxLength: 200, placeholder: 'What is broken, in a few words' },
      { id: FIELDS.severity.block, label: 'Severity', kind: 'select', options: severities, initial: 'P2' },
      { id: FIELDS.description.block, label: 'Description', kind: 'text', multiline: true, maxLength: 2000, optional: true },
      { id: FIELDS.services.block, label: 'Affected services', kind: 'text', maxLength: 500, placeholder: 'api, checkout, payments', optional: true, hint: 'Comma-separated' },
      {
        id: FIELDS.private.block,
        label: 'Channel',
        kind: 'radio',
        options: [
          { value: 'public', label: 'Public channel' },
          { value: 'private', label: 'Private channel' },
        ],
        initial: opts.privateByDefault ? 'private' : 'public',
      },
    ],
  };
}

/** `Post update` and `Resolve` forms: one text field, the incident id carried along. */
export function textModal(kind: 'update' | 'resolve', v: Pick<IncidentView, 'id' | 'ref' | 'title'>): Form {
  const isUpdate = kind === 'update';
  return {
    id: isUpdate ? VIEWS.update : VIEWS.resolve,
    title: isUpdate ? `Update ${v.ref}` : `Resolve ${v.ref}`,
    submit: isUpdate ? 'Post update' : 'Resolve',
    close: 'Cancel',
    data: { incidentId: v.id },
    intro: clipText(rt`${strong(v.ref)} ${v.title}`, LIMITS.sectionText),
    fields: [{ id: FIELDS.text.block, label: isUpdate ? 'Update' : 'Resolution summary', kind: 'text', multiline: true, maxLength: 3000 }],
  };
}

/** App Home: what waits for this person's approval, then open incidents they may see. */
export function homeView(incidents: IncidentView[], now: Date, before: Block[] = []): Home {
  const blocks: Block[] = [header('Muster'), ...before, divider(), section(rt`${strong('Open incidents')} (${incidents.length}) · updated ${time(now)}`)];
  if (incidents.length === 0) blocks.push(section(rt`No open incidents. ${emoji('sunny')}`));
  for (const v of incidents.slice(0, 40)) {
    const age = Math.floor((now.getTime() - v.declaredAt.getTime()) / 60_000);
    const ageText = age < 60 ? `${age}m` : age < 2880 ? `${Math.floor(age / 60)}h` : `${Math.floor(age / 1440)}d`;
    blocks.push(
      section(
        clipText(
          rt`${sevEmoji(v.severity)} ${strong(v.ref)} ${v.title}${v.isPrivate && rt` ${emoji('lock')}`}\n${v.severity} · ${v.status} · open ${ageText} · commander ${who(v.commander)}${v.channelId && rt` · ${channelRef(v.channelId)}`}`,
          LIMITS.sectionText,
        ),
      ),
    );
  }
  blocks.push(context(rt`Declare with ${code('/incident')} · list with ${code('/incident list')} · help with ${code('/muster help')}`));
  return { blocks: blocks.slice(0, LIMITS.blocksPerView) };
}
