import type { IncidentView } from '../src/services/incidentViews.ts';
import { ROLE_LABEL } from '../src/domain/incident.ts';
import { ACTIONS, FIELDS, VIEWS } from './actionIds.ts';
import { clip, clipText, LIMITS } from './limits.ts';
import { concat, mention, rt, time, type Text } from '../src/domain/text.ts';

type Block = Record<string, unknown>;

const SEV_EMOJI: Record<string, string> = { P0: ':red_circle:', P1: ':large_orange_circle:', P2: ':large_yellow_circle:', P3: ':white_circle:' };
const STATUS_EMOJI: Record<string, string> = {
  investigating: ':mag:',
  identified: ':dart:',
  monitoring: ':eyes:',
  resolved: ':white_check_mark:',
  closed: ':lock:',
};

const who = (u?: string) => (u ? mention(u) : '_unassigned_');
const plain = (text: string) => ({ type: 'plain_text', text: clip(text, LIMITS.buttonLabel), emoji: true });
const button = (text: string, actionId: string, value: string, style?: 'primary' | 'danger') => ({
  type: 'button',
  text: plain(text),
  action_id: actionId,
  value,
  ...(style ? { style } : {}),
});

function slaLine(v: IncidentView): Text {
  const clock = (label: string, by: Date, met?: boolean) =>
    met === undefined ? rt`${label} by ${time(by)}` : met ? `${label}: met :white_check_mark:` : rt`${label}: *missed* (${time(by)}) :x:`;
  return rt`${clock('Respond', v.sla.respondBy, v.sla.respondMet)} · ${clock('Resolve', v.sla.resolveBy, v.sla.resolveMet)}`;
}

/** The incident card: posted and pinned in the war room, updated in place on every change. */
export function incidentCard(v: IncidentView): { text: string; blocks: Block[] } {
  const open = v.status !== 'resolved' && v.status !== 'closed';
  const blocks: Block[] = [
    { type: 'header', text: plain(clip(`${v.ref} · ${v.title}`, LIMITS.headerText)) },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Severity*\n${SEV_EMOJI[v.severity] ?? ''} ${v.severity}` },
        { type: 'mrkdwn', text: `*Status*\n${STATUS_EMOJI[v.status] ?? ''} ${v.status}` },
        { type: 'mrkdwn', text: `*${ROLE_LABEL.commander}*\n${who(v.commander)}` },
        { type: 'mrkdwn', text: `*${ROLE_LABEL.tech}*\n${who(v.tech)}` },
        { type: 'mrkdwn', text: `*${ROLE_LABEL.comms}*\n${who(v.comms)}` },
        { type: 'mrkdwn', text: rt`*Reported by*\n${mention(v.reporter)} ${time(v.declaredAt)}` },
      ],
    },
  ];
  if (v.description || v.services.length) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clip([v.description ? v.description : '', v.services.length ? `*Affected:* ${v.services.join(', ')}` : ''].filter(Boolean).join('\n'), LIMITS.sectionText) },
    });
  }
  if (v.summary && !open) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`*Resolution:* ${v.summary}`, LIMITS.sectionText) } });
  blocks.push({
    type: 'context',
    elements: [
      { type: 'mrkdwn', text: rt`SLA — ${slaLine(v)}` },
      {
        type: 'mrkdwn',
        text: rt`Last update ${time(v.lastUpdateAt)}${v.updateDueAt && rt` · next due ${time(v.updateDueAt)}`}${v.resolvedAt && rt` · resolved ${time(v.resolvedAt)}`}${v.isPrivate && ' · :lock: private'}${v.publishedAt && ` · :globe_with_meridians: on the status page as “${v.publicTitle ?? ''}”`}${v.openActions ? ` · ${v.openActions} open follow-up(s)` : ''}`,
      },
    ],
  });
  if (v.status !== 'closed') {
    const buttons = [
      button('Take commander', ACTIONS.incident.takeCommander, v.id, v.commander ? undefined : 'primary'),
      button('Take tech lead', ACTIONS.incident.takeTech, v.id),
      button('Take comms lead', ACTIONS.incident.takeComms, v.id),
      button('Post update', ACTIONS.incident.postUpdate, v.id),
    ];
    if (open) buttons.push(button('Resolve', ACTIONS.incident.resolve, v.id, 'danger'));
    blocks.push({ type: 'actions', block_id: `incident-actions`, elements: buttons });
  }
  const text = `${v.ref} [${v.severity}] ${v.title} — ${v.status}; commander ${v.commander ? mention(v.commander) : 'unassigned'}; declared ${v.declaredAt.toISOString()}`;
  return { text, blocks };
}

/** Broadcast-channel announcement of a P0/P1 (declared, status, severity, resolved). */
export function incidentAnnouncement(v: IncidentView, headline: Text): { text: Text; blocks: Block[] } {
  const where = v.channelId ? `<#${v.channelId}>` : `#${v.channelName ?? ''}`;
  return {
    text: concat(headline, ` — ${where}`),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clipText(rt`${SEV_EMOJI[v.severity] ?? ''} *${headline}*\nWar room: ${where} · status ${v.status} · commander ${who(v.commander)}`, LIMITS.sectionText) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: rt`Declared ${time(v.declaredAt)} by ${mention(v.reporter)}` }] },
    ],
  };
}

export function incidentReady(v: IncidentView): { text: string } {
  const where = v.channelId ? `<#${v.channelId}>` : `#${v.channelName ?? ''}`;
  return { text: `${v.ref} war room is ready: ${where}. The card with the role buttons is pinned there.` };
}

export interface NudgeSurfaceData {
  id: string;
  text: string;
  status: string;
  level: number;
  acknowledgedBy?: string | null;
  acknowledgedAt?: Date | null;
  snoozedUntil?: Date | null;
}

/** A nudge with Acknowledge / Snooze 30m; once handled, its buttons give way to who did what. */
export function nudgeMessage(n: NudgeSurfaceData, mentionLine?: string): { text: string; blocks: Block[] } {
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: clip(`${mentionLine ? `${mentionLine} ` : ''}:alarm_clock: ${n.text}`, LIMITS.sectionText) } }];
  if (n.status === 'open') {
    blocks.push({ type: 'actions', block_id: 'nudge-actions', elements: [button('Acknowledge', ACTIONS.nudge.acknowledge, n.id, 'primary'), button('Snooze 30m', ACTIONS.nudge.snooze, n.id)] });
  } else {
    const state =
      n.status === 'acknowledged'
        ? rt`Acknowledged by ${mention(n.acknowledgedBy ?? '')}${n.acknowledgedAt && rt` ${time(n.acknowledgedAt)}`}`
        : n.status === 'snoozed'
          ? rt`Snoozed until ${n.snoozedUntil ? time(n.snoozedUntil) : 'later'}`
          : 'No longer needed';
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: state }] });
  }
  return { text: `${mentionLine ? `${mentionLine} ` : ''}${n.text}`, blocks };
}

export function followUpMessage(a: { id: string; number: number; text: string; ref: string; due?: string | null; status: string }, intro: string): { text: string; blocks: Block[] } {
  const line = `${intro}: *#${a.number} ${a.text}*${a.due ? ` (due ${a.due})` : ''}`;
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: clip(line, LIMITS.sectionText) } }];
  if (a.status === 'open') blocks.push({ type: 'actions', block_id: 'followup-actions', elements: [button('Mark done', ACTIONS.followUp.done, a.id, 'primary')] });
  else blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: ':white_check_mark: Done' }] });
  return { text: line, blocks };
}

const input = (blockId: string, label: string, element: Record<string, unknown>, optional = false, hint?: string) => ({
  type: 'input',
  block_id: blockId,
  label: plain(label),
  optional,
  element,
  ...(hint ? { hint: plain(hint) } : {}),
});

/** The declare form opened by `/incident` and `/incident new`. */
export function declareModal(opts: { privateByDefault: boolean; channelId?: string }): Record<string, unknown> {
  const sevOption = (s: string, d: string) => ({ text: plain(`${s} — ${d}`), value: s });
  const options = [
    sevOption('P0', 'critical, respond in 5 min'),
    sevOption('P1', 'major, respond in 15 min'),
    sevOption('P2', 'minor, respond in 1 h'),
    sevOption('P3', 'low, respond in 24 h'),
  ];
  const privOptions = [
    { text: plain('Public channel'), value: 'public' },
    { text: plain('Private channel'), value: 'private' },
  ];
  return {
    type: 'modal',
    callback_id: VIEWS.declare,
    private_metadata: JSON.stringify({ channelId: opts.channelId ?? null }),
    title: plain('Declare an incident'),
    submit: plain('Declare'),
    close: plain('Cancel'),
    blocks: [
      input(FIELDS.title.block, 'Title', { type: 'plain_text_input', action_id: FIELDS.title.action, max_length: 200, placeholder: plain('What is broken, in a few words') }),
      input(FIELDS.severity.block, 'Severity', { type: 'static_select', action_id: FIELDS.severity.action, options, initial_option: options[2] }),
      input(FIELDS.description.block, 'Description', { type: 'plain_text_input', action_id: FIELDS.description.action, multiline: true, max_length: 2000 }, true),
      input(FIELDS.services.block, 'Affected services', { type: 'plain_text_input', action_id: FIELDS.services.action, max_length: 500, placeholder: plain('api, checkout, payments') }, true, 'Comma-separated'),
      input(FIELDS.private.block, 'Channel', { type: 'radio_buttons', action_id: FIELDS.private.action, options: privOptions, initial_option: privOptions[opts.privateByDefault ? 1 : 0] }),
    ],
  };
}

/** `Post update` and `Resolve` forms: one text field, the incident id in private_metadata. */
export function textModal(kind: 'update' | 'resolve', v: Pick<IncidentView, 'id' | 'ref' | 'title'>): Record<string, unknown> {
  const isUpdate = kind === 'update';
  return {
    type: 'modal',
    callback_id: isUpdate ? VIEWS.update : VIEWS.resolve,
    private_metadata: JSON.stringify({ incidentId: v.id }),
    title: plain(isUpdate ? `Update ${v.ref}` : `Resolve ${v.ref}`),
    submit: plain(isUpdate ? 'Post update' : 'Resolve'),
    close: plain('Cancel'),
    blocks: [
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(`*${v.ref}* ${v.title}`, LIMITS.sectionText) }] },
      input(FIELDS.text.block, isUpdate ? 'Update' : 'Resolution summary', { type: 'plain_text_input', action_id: FIELDS.text.action, multiline: true, max_length: 3000 }),
    ],
  };
}

/** App Home: what waits for this person's approval, then open incidents they may see. */
export function homeView(incidents: IncidentView[], now: Date, before: Block[] = []): Record<string, unknown> {
  const blocks: Block[] = [
    { type: 'header', text: plain('Muster') },
    ...before,
    { type: 'divider' },
    { type: 'section', text: { type: 'mrkdwn', text: rt`*Open incidents* (${incidents.length}) · updated ${time(now)}` } },
  ];
  if (incidents.length === 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: 'No open incidents. :sunny:' } });
  for (const v of incidents.slice(0, 40)) {
    const age = Math.floor((now.getTime() - v.declaredAt.getTime()) / 60_000);
    const ageText = age < 60 ? `${age}m` : age < 2880 ? `${Math.floor(age / 60)}h` : `${Math.floor(age / 1440)}d`;
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: clip(`${SEV_EMOJI[v.severity] ?? ''} *${v.ref}* ${v.title}${v.isPrivate ? ' :lock:' : ''}\n${v.severity} · ${v.status} · open ${ageText} · commander ${who(v.commander)} · ${v.channelId ? `<#${v.channelId}>` : ''}`, LIMITS.sectionText),
      },
    });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: 'Declare with `/incident` · list with `/incident list` · help with `/muster help`' }] });
  return { type: 'home', blocks: blocks.slice(0, LIMITS.blocksPerView) };
}
