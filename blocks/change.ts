import type { ChangeView } from '../src/services/changes.ts';
import { STATUS_LABEL, checklistProgress, type ChangeType } from '../src/domain/change.ts';
import { formatLocal } from '../src/domain/windows.ts';
import { ACTIONS, FIELDS, VIEWS } from './actionIds.ts';
import { clip, clipText, LIMITS } from './limits.ts';
import { emoji, joinText, mention, plainText, rt, strong, time, type EmojiName, type Text } from '../src/domain/text.ts';
import { actions, button, context, header, section, type Block, type Button, type Field, type Form, type Message } from './surface.ts';

const STATUS_EMOJI: Record<string, EmojiName> = {
  pending: 'hourglass_flowing_sand',
  approved: 'white_check_mark',
  scheduled: 'white_check_mark',
  rejected: 'x',
  implementing: 'rotating_light',
  implemented: 'white_check_mark',
  failed: 'x',
  rolled_back: 'warning',
  reviewed: 'mag',
  closed: 'lock',
  cancelled: 'no_entry_sign',
};

const TYPE_LABEL: Record<ChangeType, string> = { standard: 'Standard (pre-approved)', normal: 'Normal (CAB)', emergency: 'Emergency' };

/** Discord takes at most 5 buttons in a row: checklist buttons come in rows of 5 on every platform. */
const BUTTONS_PER_ROW = 5;

function windowText(v: ChangeView): Text {
  if (!v.windowStart || !v.windowEnd) return 'not set';
  return rt`${time(v.windowStart)}–${time(v.windowEnd, 'time')} (${formatLocal(v.windowStart, v.timeZone, 'EEE d MMM HH:mm')} ${v.timeZone})`;
}

/** The change card: posted where the change was asked for (and the changes channel, and approvers' DMs), redrawn on every change. */
export function changeCard(v: ChangeView): Message {
  const blocks: Block[] = [
    header(clip(`${v.ref} · ${plainText(v.title)}`, LIMITS.headerText)),
    {
      kind: 'fields',
      fields: [
        { label: 'Type', value: TYPE_LABEL[v.type] },
        { label: 'Status', value: rt`${emoji(STATUS_EMOJI[v.status] ?? 'hourglass')} ${STATUS_LABEL[v.status]}` },
        { label: 'Risk', value: `${v.risk.level} (${v.risk.score})` },
        { label: 'Environment', value: v.environment },
        { label: 'Systems', value: v.systems.length ? v.systems.join(', ') : '—' },
        { label: 'Window', value: windowText(v) },
        { label: 'Requested by', value: rt`${mention(v.requester)} ${time(v.createdAt)}` },
        { label: 'Implementer', value: v.implementer ? [mention(v.implementer)] : '—' },
        ...(v.incident
          ? [{ label: 'Incident', value: v.incident.channelId ? rt`${v.incident.ref} (${v.incident.severity}, ${v.incident.status})` : `${v.incident.ref} (${v.incident.severity})` }]
          : []),
      ].slice(0, 10),
    },
  ];
  if (v.reason) blocks.push(section(clipText(rt`${strong('Reason:')} ${v.reason}`, LIMITS.sectionText)));
  if (v.description) blocks.push(section(clipText(rt`${strong('Description:')} ${v.description}`, LIMITS.sectionText)));
  if (v.rollbackPlan || v.type === 'normal') {
    blocks.push(section(clipText(rt`${strong('Rollback plan:')} ${v.rollbackPlan ?? '—'} · ${v.rollbackTested ? rt`tested ${emoji('white_check_mark')}` : 'not tested'}`, LIMITS.sectionText)));
  }
  blocks.push(context(rt`Risk: ${v.risk.reasons.join(' · ')}`));
  for (const f of v.flags) blocks.push(context(rt`${emoji('warning')} ${f.text}`));
  for (const fz of v.freezes) blocks.push(context(rt`${emoji('no_entry_sign')} ${fz.label}`));
  if (v.suspectedOf.length) blocks.push(context(rt`${emoji('warning')} Suspected cause of ${v.suspectedOf.join(', ')}`));
  if (v.windowProblem && v.status === 'pending') {
    const next = v.windowProblem.nextOpen ? rt` Next open slot: ${time(v.windowProblem.nextOpen.start)}–${time(v.windowProblem.nextOpen.end, 'time')}.` : ' No open slot in the next 60 days.';
    blocks.push(section(clipText(rt`${emoji('no_entry')} ${strong('Its window cannot be used:')} ${v.windowProblem.problems.join('; ')}.${next}`, LIMITS.sectionText)));
  }
  if (v.exception) {
    const e = v.exception;
    const state: Text =
      e.status === 'pending' ? rt`asked (${e.ref}): ${e.progress}` : e.status === 'approved' ? rt`granted (${e.ref})` : rt`${e.status} (${e.ref})${e.rejectReason && rt`: ${e.rejectReason}`}`;
    blocks.push(context(rt`${emoji('warning')} Exception for its window ${state}`));
  }
  // The approval round: progress and votes.
  if (v.round) {
    const r = v.round;
    const line: Text =
      r.status === 'pending'
        ? rt`${emoji('hourglass_flowing_sand')} ${strong('Pending')} · ${r.approvals}/${r.required} · ${r.progress.replace(/^\d+ of \d+ — /, '')}`
        : rt`${emoji(r.status === 'approved' ? 'white_check_mark' : 'x')} ${strong(r.status === 'approved' ? 'Approved' : r.status === 'rejected' ? 'Rejected' : r.status === 'expired' ? 'Expired' : 'Cancelled')}${r.decidedAt && rt` ${time(r.decidedAt)}`}${r.rejectReason && rt`\nReason: ${r.rejectReason}`}`;
    blocks.push(section(clipText(line, LIMITS.sectionText)));
    if (r.votes.length) {
      blocks.push(
        context(
          clipText(
            joinText(
              r.votes.map((x) => rt`${emoji(x.decision === 'approve' ? 'white_check_mark' : 'x')} ${mention(x.user)}${x.role && ` (${x.role})`} ${time(x.at, 'time')}`),
              ' · ',
            ),
            LIMITS.sectionText,
          ),
        ),
      );
    }
  } else if (v.type === 'standard') {
    blocks.push(context(rt`${emoji('white_check_mark')} Pre-approved from the standard catalogue (${v.catalogueId ?? '—'})`));
  }
  if (v.deferReason && v.status === 'pending') blocks.push(context(rt`Deferred to the next CAB${v.deferredAt && rt` ${time(v.deferredAt)}`}: ${v.deferReason}`));
  // Lifecycle.
  const life: Text[] = [];
  if (v.startedAt) life.push(rt`started ${time(v.startedAt)}`);
  if (v.implementedAt) life.push(rt`${v.status === 'rolled_back' ? 'ended' : v.outcome === 'failed' ? 'failed' : 'implemented'} ${time(v.implementedAt)}`);
  if (v.reviewedAt) life.push(rt`reviewed ${time(v.reviewedAt)}`);
  if (v.closedAt) life.push(rt`closed ${time(v.closedAt)}`);
  if (life.length) blocks.push(context(joinText(life, ' · ')));
  if (v.rollbackReason) blocks.push(section(clipText(rt`${emoji('warning')} ${strong('Rolled back:')} ${v.rollbackReason}`, LIMITS.sectionText)));
  if (v.implementationNotes) blocks.push(context(clipText(rt`Implementation: ${v.implementationNotes}`, LIMITS.sectionText)));
  if (v.reviewDue) blocks.push(section(rt`${emoji('alarm_clock')} A post-implementation review is required${v.reviewDueAt && rt` by ${time(v.reviewDueAt)}`}.`));
  if (v.reviewNotes) blocks.push(context(clipText(rt`Review: ${v.reviewNotes}`, LIMITS.sectionText)));
  // The go/no-go checklist.
  if (v.checklist.length) {
    const lines = v.checklist.map((i) => rt`${emoji(i.done ? 'ballot_box_with_check' : 'white_large_square')} ${i.text}${i.done && i.by && rt` — ${mention(i.by)}`}`);
    blocks.push(section(clipText(rt`${strong('Go/no-go checklist')} (${checklistProgress(v.checklist)})\n${joinText(lines, '\n')}`, LIMITS.sectionText)));
  }
  // Buttons.
  const main: Button[] = [];
  if (v.canVote) {
    main.push(button('Approve', ACTIONS.change.approve, v.id, 'primary'), button('Reject', ACTIONS.change.reject, v.id, 'danger'));
    if (v.type === 'normal') main.push(button('Defer', ACTIONS.change.defer, v.id));
  }
  if (v.canAskException) main.push(button('Ask for an exception', ACTIONS.change.exception, v.id));
  if (['approved', 'scheduled', 'implementing'].includes(v.status)) {
    main.push(button('Start', ACTIONS.change.start, v.id, 'primary'), button('Done', ACTIONS.change.done, v.id), button('Rollback', ACTIONS.change.rollback, v.id, 'danger'));
  } else if (['implemented', 'failed'].includes(v.status)) {
    main.push(button('Rollback', ACTIONS.change.rollback, v.id, 'danger'));
  }
  if (main.length) blocks.push(actions('change-actions', ...main));
  if (['pending', 'approved', 'scheduled'].includes(v.status)) {
    const ticks = v.checklist.map((i) => button(clip(`${i.done ? 'Untick' : 'Tick'}: ${i.text}`, LIMITS.buttonLabel), ACTIONS.change.tick, `${v.id}:${i.id}`));
    for (let i = 0; i < ticks.length; i += BUTTONS_PER_ROW) blocks.push(actions(`change-checklist-${i / BUTTONS_PER_ROW}`, ...ticks.slice(i, i + BUTTONS_PER_ROW)));
  }
  return { text: rt`${v.ref} ${v.title} · ${STATUS_LABEL[v.status]}`, blocks };
}

export interface ChangeFormOptions {
  type: ChangeType;
  environments: string[];
  catalogue: { id: string; title: string }[];
  timeZone: string;
  channelId?: string | null;
  /** Editing: the change as it is. */
  current?: ChangeView;
}

const level3 = [
  { value: 'low', label: 'Low' },
  { value: 'medium', label: 'Medium' },
  { value: 'high', label: 'High' },
];

/** The change form of `/change new [type]` (and `/change edit CHG-n`, prefilled): PRODUCT.md's fields. */
export function changeForm(o: ChangeFormOptions): Form {
  const c = o.current;
  const local = (d: Date | null | undefined) => (d ? formatLocal(d, o.timeZone, 'yyyy-MM-dd HH:mm') : undefined);
  const length = c?.windowStart && c.windowEnd ? `${Math.round((c.windowEnd.getTime() - c.windowStart.getTime()) / 60_000)}m` : undefined;
  const fields: Field[] = [
    { id: FIELDS.title.block, label: 'Title', kind: 'text', maxLength: 200, initial: c ? plainText(c.title) : undefined },
    ...(o.type === 'standard' && o.catalogue.length
      ? [
          {
            id: FIELDS.catalogue.block,
            label: 'Catalogue entry',
            kind: 'select' as const,
            options: o.catalogue.map((e) => ({ value: e.id, label: clip(`${e.id}: ${e.title}`, 75) })),
            initial: c?.catalogueId ?? undefined,
          },
        ]
      : []),
    { id: FIELDS.description.block, label: 'Description', kind: 'text', multiline: true, maxLength: 2000, optional: true, initial: c?.description ? plainText(c.description) : undefined },
    { id: FIELDS.reason.block, label: 'Reason for the change', kind: 'text', multiline: true, maxLength: 1000, optional: true, initial: c?.reason ? plainText(c.reason) : undefined },
    {
      id: FIELDS.environment.block,
      label: 'Environment',
      kind: 'select',
      options: o.environments.map((e) => ({ value: e, label: e })),
      initial: c?.environment ?? (o.environments.includes('production') ? 'production' : o.environments[0]),
    },
    { id: FIELDS.systems.block, label: 'Affected systems', kind: 'text', maxLength: 500, optional: true, placeholder: 'api, database', hint: 'Comma-separated', initial: c?.systems.join(', ') },
    { id: FIELDS.impact.block, label: 'Impact', kind: 'select', options: level3, initial: c?.riskInput.impact ?? 'medium' },
    { id: FIELDS.risk.block, label: 'Risk of failure', kind: 'select', options: level3, initial: c?.riskInput.risk ?? 'medium' },
    {
      id: FIELDS.affectedUsers.block,
      label: 'Affected users',
      kind: 'select',
      options: [
        { value: 'none', label: 'None' },
        { value: 'some', label: 'Some' },
        { value: 'many', label: 'Many' },
        { value: 'all', label: 'All' },
      ],
      initial: c?.riskInput.affectedUsers ?? 'some',
    },
    {
      id: FIELDS.downtime.block,
      label: 'Downtime',
      kind: 'select',
      options: [
        { value: 'none', label: 'None' },
        { value: 'minutes', label: 'Minutes' },
        { value: 'hours', label: 'An hour or more' },
      ],
      initial: typeof c?.riskInput.downtime === 'number' ? (c.riskInput.downtime <= 0 ? 'none' : c.riskInput.downtime < 60 ? 'minutes' : 'hours') : (c?.riskInput.downtime ?? 'none'),
    },
    {
      id: FIELDS.downtimeMinutes.block,
      label: 'Downtime estimate (minutes)',
      kind: 'text',
      maxLength: 6,
      optional: true,
      initial: typeof c?.riskInput.downtime === 'number' ? String(c.riskInput.downtime) : undefined,
    },
    {
      id: FIELDS.windowStart.block,
      label: `Window start (${o.timeZone})`,
      kind: 'text',
      maxLength: 16,
      optional: o.type === 'standard',
      placeholder: 'YYYY-MM-DD HH:MM',
      initial: local(c?.windowStart),
    },
    { id: FIELDS.windowLength.block, label: 'Window length', kind: 'text', maxLength: 10, optional: o.type === 'standard', placeholder: '1h', hint: 'e.g. 30m, 2h', initial: length },
    {
      id: FIELDS.rollbackPlan.block,
      label: 'Rollback plan',
      kind: 'text',
      multiline: true,
      maxLength: 2000,
      optional: o.type !== 'normal',
      initial: c?.rollbackPlan ? plainText(c.rollbackPlan) : undefined,
    },
    {
      id: FIELDS.rollbackTested.block,
      label: 'Rollback tested?',
      kind: 'radio',
      options: [
        { value: 'yes', label: 'Yes' },
        { value: 'no', label: 'No' },
      ],
      initial: c ? (c.rollbackTested ? 'yes' : 'no') : 'no',
    },
    ...(c
      ? []
      : [
          {
            id: FIELDS.incident.block,
            label: 'Incident (INC-n)',
            kind: 'text' as const,
            maxLength: 15,
            optional: true,
            placeholder: 'INC-12',
            hint: 'Asked in an incident channel, the change is linked to it anyway',
          },
        ]),
  ];
  return {
    id: c ? VIEWS.changeEdit : VIEWS.changeNew,
    title: c ? `Edit ${c.ref}` : `New ${o.type} change`,
    submit: c ? 'Save' : 'Request',
    close: 'Cancel',
    data: c ? { changeId: c.id, type: o.type } : { type: o.type, channelId: o.channelId ?? null },
    ...(c ? { intro: rt`Editing an approved change's window, scope or risk voids its votes and asks again.` } : {}),
    fields,
  };
}

/** A one-field form about a change (a reason, notes). */
function reasonForm(id: (typeof VIEWS)['changeReject' | 'changeDefer' | 'changeRollback'], v: Pick<ChangeView, 'id' | 'ref' | 'title'>, title: string, submit: string, label: string): Form {
  return {
    id,
    title: clip(title, 24),
    submit,
    close: 'Cancel',
    data: { changeId: v.id },
    intro: clipText(rt`${strong(v.ref)} ${v.title}`, LIMITS.sectionText),
    fields: [{ id: FIELDS.reason.block, label, kind: 'text', multiline: true, minLength: 3, maxLength: 1000 }],
  };
}

export const changeRejectForm = (v: Pick<ChangeView, 'id' | 'ref' | 'title'>) => reasonForm(VIEWS.changeReject, v, `Reject ${v.ref}`, 'Reject', 'Why are you rejecting it?');
export const changeDeferForm = (v: Pick<ChangeView, 'id' | 'ref' | 'title'>) => reasonForm(VIEWS.changeDefer, v, `Defer ${v.ref}`, 'Defer', 'Why defer it to the next CAB?');
export const changeRollbackForm = (v: Pick<ChangeView, 'id' | 'ref' | 'title'>) => reasonForm(VIEWS.changeRollback, v, `Roll back ${v.ref}`, 'Roll back', 'Why roll it back?');

/** Done: how it went, and the implementation notes. */
export function changeDoneForm(v: Pick<ChangeView, 'id' | 'ref' | 'title'>): Form {
  return {
    id: VIEWS.changeDone,
    title: clip(`Done: ${v.ref}`, 24),
    submit: 'Record',
    close: 'Cancel',
    data: { changeId: v.id },
    intro: clipText(rt`${strong(v.ref)} ${v.title}`, LIMITS.sectionText),
    fields: [
      {
        id: FIELDS.outcome.block,
        label: 'How did it go?',
        kind: 'radio',
        options: [
          { value: 'success', label: 'Success' },
          { value: 'failed', label: 'Failed' },
        ],
        initial: 'success',
      },
      { id: FIELDS.text.block, label: 'Implementation notes', kind: 'text', multiline: true, maxLength: 2000, optional: true },
    ],
  };
}
