import type { ApprovalView } from '../src/services/approvals.ts';
import { ACTIONS, FIELDS, VIEWS } from './actionIds.ts';
import { clip, clipText, LIMITS } from './limits.ts';
import { joinText, mention, rt, time, type Text } from '../src/domain/text.ts';

type Block = Record<string, unknown>;
const plain = (text: string) => ({ type: 'plain_text', text: clip(text, LIMITS.buttonLabel), emoji: true });

const STATUS_LINE: Record<string, string> = {
  approved: ':white_check_mark: *Approved*',
  rejected: ':x: *Rejected*',
  expired: ':hourglass: *Expired*',
  cancelled: ':no_entry_sign: *Cancelled*',
};

/** The approval card: every copy (channel, approvals channel, DMs) is drawn from this and updated on each vote. */
export function approvalCard(v: ApprovalView): { text: Text; blocks: Block[] } {
  const blocks: Block[] = [
    { type: 'header', text: plain(clip(`${v.ref} · ${v.title}`, LIMITS.headerText)) },
    {
      type: 'section',
      fields: [
        ...v.details.map(([k, val]) => ({ type: 'mrkdwn', text: `*${k}*\n${val || '—'}` })),
        { type: 'mrkdwn', text: rt`*Requested by*\n${mention(v.requester)} ${time(v.createdAt)}` },
      ].slice(0, 10),
    },
  ];
  if (v.reason) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`*Reason:* ${v.reason}`, LIMITS.sectionText) } });
  let status: Text;
  if (v.status === 'pending') {
    status = `:hourglass_flowing_sand: *Pending* · ${v.approvals}/${v.required} · ${v.progress.replace(/^\d+ of \d+ — /, '')}`;
  } else {
    status = rt`${STATUS_LINE[v.status] ?? v.status}${v.breakGlass && ' by break-glass :rotating_light:'}${v.decidedAt && rt` ${time(v.decidedAt)}`}`;
    if (v.status === 'rejected' && v.rejectReason) status = rt`${status}\nReason: ${v.rejectReason}${v.rejectedBy && ` (${mention(v.rejectedBy)})`}`;
    if (v.breakGlass && v.breakGlassReason) status = rt`${status}\nBreak-glass reason: ${v.breakGlassReason}`;
  }
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clipText(status, LIMITS.sectionText) } });
  if (v.votes.length) {
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: clipText(joinText(v.votes.map((x) => rt`${x.decision === 'approve' ? ':white_check_mark:' : ':x:'} ${mention(x.user)}${x.role && ` (${x.role})`} ${time(x.at, 'time')}`), ' · '), LIMITS.sectionText),
        },
      ],
    });
  }
  if (v.status === 'pending') {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: clipText(rt`${v.eligible.length ? `Can approve: ${v.eligible.map(mention).join(' ')}` : 'Nobody holds the roles still needed'} · expires ${time(v.expiresAt)}`, LIMITS.sectionText) }],
    });
    blocks.push({
      type: 'actions',
      block_id: 'approval-actions',
      elements: [
        { type: 'button', text: plain('Approve'), action_id: ACTIONS.approval.approve, value: v.id, style: 'primary' },
        { type: 'button', text: plain('Reject'), action_id: ACTIONS.approval.reject, value: v.id, style: 'danger' },
      ],
    });
  }
  const text =
    v.status === 'pending'
      ? `${v.ref} ${v.title} — pending ${v.approvals}/${v.required}: ${v.progress}`
      : `${v.ref} ${v.title} — ${v.status === 'approved' ? 'Approved' : v.status === 'rejected' ? `Rejected${v.rejectReason ? `: ${v.rejectReason}` : ''}` : v.status === 'expired' ? 'Expired' : 'Cancelled'}`;
  return { text, blocks };
}

export function rejectModal(v: Pick<ApprovalView, 'id' | 'ref' | 'title'>): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: VIEWS.reject,
    private_metadata: JSON.stringify({ requestId: v.id }),
    title: plain(`Reject ${v.ref}`),
    submit: plain('Reject'),
    close: plain('Cancel'),
    blocks: [
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(`*${v.ref}* ${v.title}`, LIMITS.sectionText) }] },
      {
        type: 'input',
        block_id: FIELDS.reason.block,
        label: plain('Why are you rejecting it?'),
        element: { type: 'plain_text_input', action_id: FIELDS.reason.action, multiline: true, min_length: 3, max_length: 1000 },
      },
    ],
  };
}

export function breakGlassNotice(v: ApprovalView): { text: string; blocks: Block[] } {
  const notice = `:rotating_light: *Break-glass* on ${v.ref} (${v.title}) by ${v.decidedBy ? mention(v.decidedBy) : 'someone'}: ${v.breakGlassReason ?? ''}. A post-review is required, by a holder of break_glass_review who neither asked for it nor broke the glass.`;
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: clip(notice, LIMITS.sectionText) } }];
  if (v.reviewStatus === 'pending') {
    blocks.push({ type: 'actions', block_id: 'review-actions', elements: [{ type: 'button', text: plain('Mark reviewed'), action_id: ACTIONS.approval.reviewed, value: v.id }] });
  } else if (v.reviewStatus === 'done') {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:white_check_mark: Post-review done${v.reviewedBy ? ` by ${mention(v.reviewedBy)}` : ''}` }] });
  }
  return { text: notice, blocks };
}

/** The App Home section "Waiting for your approval", with the buttons. */
export function waitingSection(items: ApprovalView[]): Block[] {
  const blocks: Block[] = [{ type: 'header', text: plain(`Waiting for your approval (${items.length})`) }];
  if (items.length === 0) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: 'Nothing waits for you.' } });
  for (const v of items.slice(0, 15)) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: clipText(rt`*${v.ref}* ${v.title}\nfrom ${mention(v.requester)} · ${v.approvals}/${v.required} · expires ${time(v.expiresAt)}`, LIMITS.sectionText) },
    });
    blocks.push({
      type: 'actions',
      block_id: `home-approval-${v.id}`,
      elements: [
        { type: 'button', text: plain('Approve'), action_id: ACTIONS.approval.approve, value: v.id, style: 'primary' },
        { type: 'button', text: plain('Reject'), action_id: ACTIONS.approval.reject, value: v.id, style: 'danger' },
      ],
    });
  }
  return blocks;
}
