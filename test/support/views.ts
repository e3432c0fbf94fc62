import type { ApprovalView } from '../../src/services/approvals.ts';

/**
 * A pending production deploy's approval view, as the card renderers take it: one of two approvals in (the release
 * manager's), a tech lead still eligible. `people` names the requester, the eligible tech lead and the approver on
 * the platform at hand (Slack ids by default).
 */
export function approvalView(
  over: Partial<ApprovalView> = {},
  people: { requester: string; techLead: string; approver: string } = { requester: 'UREQ', techLead: 'UTL', approver: 'UAPP' },
): ApprovalView {
  return {
    id: 'a0000000-0000-4000-8000-000000000001',
    ref: 'APR-3',
    kind: 'deploy',
    title: 'Deploy api 2.3.0',
    requester: people.requester,
    status: 'pending',
    reason: 'Fixes the checkout 502s',
    rejectReason: null,
    breakGlass: false,
    breakGlassReason: null,
    reviewStatus: null,
    expiresAt: new Date('2026-04-02T14:00:00Z'),
    createdAt: new Date('2026-04-02T09:00:00Z'),
    decidedAt: null,
    progress: '1 of 2 — needs a tech_lead',
    approvals: 1,
    required: 2,
    eligible: [people.techLead],
    votes: [{ user: people.approver, decision: 'approve', at: new Date('2026-04-02T09:30:00Z'), role: 'release_manager', step: 1, reason: null }],
    details: [
      ['Service', 'api'],
      ['Environment', 'production'],
      ['Version', '2.3.0'],
    ],
    flags: [],
    hold: null,
    canAskException: false,
    ...over,
  };
}
