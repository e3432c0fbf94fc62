import type { ApprovalView } from '../src/services/approvals.ts';
import { ACTIONS, FIELDS, VIEWS } from './actionIds.ts';
import { clip, clipText, LIMITS } from './limits.ts';
import { code, emoji, joinText, mention, mentionList, plainText, rt, strong, time, type Text } from '../src/domain/text.ts';
import { actions, button, context, header, section, type Block, type Form, type Message } from './surface.ts';

const STATUS_LINE: Record<string, Text> = {
  approved: [emoji('white_check_mark'), ' ', strong('Approved')],
  rejected: [emoji('x'), ' ', strong('Rejected')],
  expired: [emoji('hourglass'), ' ', strong('Expired')],
  cancelled: [emoji('no_entry_sign'), ' ', strong('Cancelled')],
};

const approveReject = (v: { id: string }, id: string) => actions(id, button('Approve', ACTIONS.approval.approve, v.id, 'primary'), button('Reject', ACTIONS.approval.reject, v.id, 'danger'));

/** The label PRODUCT.md gives the button of a request refused by a window or a freeze. */
const ASK_EXCEPTION = 'Ask for an exception';
const askException = (v: { id: string }, id: string) => actions(id, button(ASK_EXCEPTION, ACTIONS.approval.exception, v.id));

/** Why it is held, the next open slot, and where its exception stands (a held request's status). */
function holdText(v: ApprovalView): Text {
  const h = v.hold;
  const env = v.details.find(([k]) => k === 'Environment')?.[1];
  const lines: Text[] = [rt`${emoji('no_entry')} ${strong('Held')} — not sent to its approvers: it breaks the deployment windows or a freeze${env ? ` of ${env}` : ''}.`];
  for (const p of h?.problems ?? []) lines.push(`• ${p}`);
  lines.push(h?.nextOpen ? rt`Next open slot: ${time(h.nextOpen.start)}–${time(h.nextOpen.end, 'time')}` : 'No open slot in the next 60 days.');
  const e = h?.exception;
  if (e?.status === 'pending') lines.push(rt`Exception ${strong(e.ref)} asked: ${e.progress}`);
  else if (e?.status === 'cancelled') lines.push(`Exception ${e.ref} was withdrawn; it may be asked again.`);
  return joinText(lines, '\n');
}

/** A flag in words: `exception:APR-7` with the rules it lets it break. */
function flagText(flag: string, v: ApprovalView): Text {
  if (flag.startsWith('exception:')) {
    const ref = flag.slice('exception:'.length);
    return rt`${code(flag)} outside its window or in a freeze, allowed by exception ${ref}${v.hold?.releasedAt && rt` ${time(v.hold.releasedAt)}`}${v.hold?.problems.length ? ` (${v.hold.problems.join('; ')})` : ''}`;
  }
  if (flag === 'critical_window') return rt`${code(flag)} in a window for critical changes only (its reason names an open critical incident it fixes)`;
  if (flag === 'in_freeze') return rt`${code(flag)} during a freeze that lets normal changes through`;
  return [code(flag)];
}

/** The approval card: every copy (channel, approvals channel, DMs) is drawn from this and updated on each vote. */
export function approvalCard(v: ApprovalView): Message {
  const blocks: Block[] = [
    header(clip(`${v.ref} · ${plainText(v.title)}`, LIMITS.headerText)),
    {
      kind: 'fields',
      fields: [...v.details.map(([label, value]) => ({ label, value: value || '—' })), { label: 'Requested by', value: rt`${mention(v.requester)} ${time(v.createdAt)}` }].slice(0, 10),
    },
  ];
  if (v.reason) blocks.push(section(clipText(rt`${strong('Reason:')} ${v.reason}`, LIMITS.sectionText)));
  let status: Text;
  if (v.status === 'held') {
    status = holdText(v);
  } else if (v.status === 'pending') {
    status = rt`${emoji('hourglass_flowing_sand')} ${strong('Pending')} · ${v.approvals}/${v.required} · ${v.progress.replace(/^\d+ of \d+ — /, '')}`;
  } else {
    status = rt`${STATUS_LINE[v.status] ?? v.status}${v.breakGlass && rt` by break-glass ${emoji('rotating_light')}`}${v.decidedAt && rt` ${time(v.decidedAt)}`}`;
    if (v.status === 'rejected' && v.rejectReason) status = rt`${status}\nReason: ${v.rejectReason}${v.rejectedBy && rt` (${mention(v.rejectedBy)})`}`;
    if (v.breakGlass && v.breakGlassReason) status = rt`${status}\nBreak-glass reason: ${v.breakGlassReason}`;
  }
  blocks.push(section(clipText(status, LIMITS.sectionText)));
  // Break-glass shows in the status line; the other flags here, as the audit trail keeps them.
  const flags = v.flags.filter((f) => f !== 'break_glass');
  if (flags.length)
    blocks.push(
      context(
        clipText(
          rt`${emoji('warning')} Flagged: ${joinText(
            flags.map((f) => flagText(f, v)),
            ' · ',
          )}`,
          LIMITS.sectionText,
        ),
      ),
    );
  if (v.votes.length) {
    blocks.push(
      context(
        clipText(
          joinText(
            v.votes.map((x) => rt`${emoji(x.decision === 'approve' ? 'white_check_mark' : 'x')} ${mention(x.user)}${x.role && ` (${x.role})`} ${time(x.at, 'time')}`),
            ' · ',
          ),
          LIMITS.sectionText,
        ),
      ),
    );
  }
  if (v.status === 'pending') {
    blocks.push(
      context(clipText(rt`${v.eligible.length ? rt`Can approve: ${mentionList(v.eligible, ' ')}` : 'Nobody holds the roles still needed'} · expires ${time(v.expiresAt)}`, LIMITS.sectionText)),
    );
    blocks.push(approveReject(v, 'approval-actions'));
  }
  if (v.status === 'held' && v.canAskException) blocks.push(askException(v, 'approval-hold'));
  const decided: Text = v.status === 'approved' ? 'Approved' : v.status === 'rejected' ? rt`Rejected${v.rejectReason && rt`: ${v.rejectReason}`}` : v.status === 'expired' ? 'Expired' : 'Cancelled';
  const text =
    v.status === 'held'
      ? rt`${v.ref} ${v.title} — held: ${v.hold?.problems.join('; ') ?? 'outside its window or in a freeze'}`
      : v.status === 'pending'
        ? rt`${v.ref} ${v.title} — pending ${v.approvals}/${v.required}: ${v.progress}`
        : rt`${v.ref} ${v.title} — ${decided}`;
  return { text, blocks };
}

export function rejectModal(v: Pick<ApprovalView, 'id' | 'ref' | 'title'>): Form {
  return {
    id: VIEWS.reject,
    title: `Reject ${v.ref}`,
    submit: 'Reject',
    close: 'Cancel',
    data: { requestId: v.id },
    intro: clipText(rt`${strong(v.ref)} ${v.title}`, LIMITS.sectionText),
    fields: [{ id: FIELDS.reason.block, label: 'Why are you rejecting it?', kind: 'text', multiline: true, minLength: 3, maxLength: 1000 }],
  };
}

export function breakGlassNotice(v: ApprovalView): Message {
  const notice = rt`${emoji('rotating_light')} ${strong('Break-glass')} on ${v.ref} (${v.title}) by ${v.decidedBy ? mention(v.decidedBy) : 'someone'}: ${v.breakGlassReason ?? ''}. A post-review is required, by a holder of break_glass_review who neither asked for it nor broke the glass.`;
  const blocks: Block[] = [section(clipText(notice, LIMITS.sectionText))];
  if (v.reviewStatus === 'pending') {
    blocks.push(actions('review-actions', button('Mark reviewed', ACTIONS.approval.reviewed, v.id)));
  } else if (v.reviewStatus === 'done') {
    blocks.push(context(rt`${emoji('white_check_mark')} Post-review done${v.reviewedBy && rt` by ${mention(v.reviewedBy)}`}`));
  }
  return { text: notice, blocks };
}

/**
 * The App Home section "Waiting for your approval", with the buttons; then, if any, the person's own
 * requests held by a window or a freeze, each with "Ask for an exception" while none is waiting.
 */
export function waitingSection(items: ApprovalView[]): Block[] {
  const waiting = items.filter((v) => v.status === 'pending');
  const held = items.filter((v) => v.status === 'held');
  const blocks: Block[] = [header(`Waiting for your approval (${waiting.length})`)];
  if (waiting.length === 0) blocks.push(section('Nothing waits for you.'));
  for (const v of waiting.slice(0, 15)) {
    blocks.push(section(clipText(rt`${strong(v.ref)} ${v.title}\nfrom ${mention(v.requester)} · ${v.approvals}/${v.required} · expires ${time(v.expiresAt)}`, LIMITS.sectionText)));
    blocks.push(approveReject(v, `home-approval-${v.id}`));
  }
  if (held.length) {
    blocks.push(header(`Your requests held by a window or a freeze (${held.length})`));
    for (const v of held.slice(0, 5)) {
      const h = v.hold;
      const next: Text = h?.nextOpen ? rt`next open slot ${time(h.nextOpen.start)}` : 'no open slot in the next 60 days';
      const exc: Text = h?.exception?.status === 'pending' ? rt` · exception ${h.exception.ref} asked (${h.exception.progress})` : '';
      blocks.push(section(clipText(rt`${strong(v.ref)} ${v.title}\n${h?.problems.join('; ') ?? 'held'}\n${next}${exc}`, LIMITS.sectionText)));
      if (v.canAskException) blocks.push(askException(v, `home-hold-${v.id}`));
    }
  }
  return blocks;
}
