import { describe, expect, it } from 'vitest';
import { evidenceJson, evidenceMarkdown, parseEvidenceRef, type Evidence, type EvidenceApproval } from '../../src/services/evidence.ts';

/** The pure parts of evidence records: references, and what people typed never acting as Markdown. */

const TYPED = 'Fix | [click](https://evil.example) <b>x</b>\nline two `tick` *bold* _under_ snake_case';

function record(over: Partial<EvidenceApproval> = {}): Evidence {
  const approval: EvidenceApproval = {
    ref: 'APR-7',
    kind: 'deploy',
    round: 'Deployment',
    title: TYPED,
    status: 'approved',
    requester: 'U1',
    requestedAt: '2026-12-01T08:00:00.000Z',
    expiresAt: '2026-12-01T12:00:00.000Z',
    channel: 'C1',
    environment: 'production',
    component: 'api',
    version: '1.2.3',
    reason: null,
    decision: null,
    subject: null,
    holdReason: null,
    flags: [],
    decidedAt: '2026-12-01T08:05:00.000Z',
    decidedBy: 'U2',
    rejectReason: null,
    endReason: null,
    route: [{ name: 'Release', quorum: null, require: [{ seat: null, anyOf: ['release_manager'], count: 1, required: false }] }],
    votes: [
      {
        at: '2026-12-01T08:05:00.000Z',
        user: 'U2',
        decision: 'approve',
        step: 1,
        stepName: 'Release',
        seat: 'release_manager',
        role: 'release_manager',
        rolesHeld: ['release_manager'],
        reason: 'ok | fine',
      },
    ],
    breakGlass: null,
    ...over,
  };
  return {
    format: 'muster-evidence/1',
    kind: 'approval',
    ref: 'APR-7',
    workspace: { id: 'slack:T1', platform: 'slack', externalId: 'T1', name: null },
    generatedAt: '2026-12-01T09:00:00.000Z',
    timeZone: 'Europe/Paris',
    change: null,
    approval,
    incident: null,
    audit: {
      subjects: ['approval APR-7'],
      count: 1,
      verified: 1,
      keyIds: ['k1'],
      entries: [
        {
          seq: 3,
          createdAt: '2026-12-01T08:05:00.000Z',
          actor: 'U2',
          actorId: 'slack:T1:U2',
          actorName: 'bob',
          platform: 'slack',
          workspaceId: 'slack:T1',
          action: 'approval.approve',
          outcome: 'ok',
          subjectType: 'approval',
          subjectId: 'APR-7',
          before: null,
          after: '{"note":"a `b` c"}',
          reason: 'ok | fine',
          flags: null,
          requestId: 'r1',
          prevHash: 'a'.repeat(64),
          hash: 'b'.repeat(64),
          keyId: 'k1',
          hashCheck: 'verified',
        },
      ],
      chainHead: { seq: 9, hash: 'c'.repeat(64) },
    },
    verify: { command: 'npx muster audit verify', note: 'Run it.' },
  };
}

describe('evidence records', () => {
  it('reads CHG-n, APR-n and INC-n in any case, and nothing else', () => {
    expect(parseEvidenceRef('chg-4')).toEqual({ kind: 'change', number: 4, ref: 'CHG-4' });
    expect(parseEvidenceRef(' APR-12 ')).toEqual({ kind: 'approval', number: 12, ref: 'APR-12' });
    expect(parseEvidenceRef('Inc-3')).toEqual({ kind: 'incident', number: 3, ref: 'INC-3' });
    for (const bad of ['CHG-0', 'CHG-', '4', 'CHG-4x', 'ABC-1', 'CHG-01']) expect(parseEvidenceRef(bad), bad).toBeUndefined();
  });

  it('shows typed text as text: no table broken, no link, no HTML, no emphasis; one line per cell', () => {
    const md = evidenceMarkdown(record());
    expect(md).toContain('# Evidence: APR-7 — Fix \\| \\[click\\](https://evil.example) &lt;b&gt;x&lt;/b&gt;<br>line two \\`tick\\` \\*bold\\* \\_under\\_ snake_case');
    expect(md).not.toContain('[click](');
    expect(md).not.toContain('<b>');
    // A vote's reason in its table cell, and the audit entry's stored JSON in a code span that holds its backtick.
    expect(md).toContain('| ok \\| fine |');
    expect(md).toContain('- After: ``{"note":"a `b` c"}``');
    expect(md).toContain(`- Hash: \`${'b'.repeat(64)}\` · key \`k1\` · verifies`);
    expect(md).toContain('- Deployment: production · api · 1.2.3');
    expect(md.trimEnd().endsWith('```sh\nnpx muster audit verify\n```')).toBe(true);
  });

  it('says when a hash does not match its content', () => {
    const e = record();
    e.audit.entries[0]!.hashCheck = 'altered';
    e.audit.verified = 0;
    const md = evidenceMarkdown(e);
    expect(md).toContain('**does not match its content**');
    expect(md).toContain('0 of 1 verified');
  });

  it('gives the same content as JSON, every key present, in a fixed order', () => {
    const e = record();
    const json = evidenceJson(e);
    expect(JSON.parse(json)).toEqual(e);
    expect(Object.keys(JSON.parse(json) as object)).toEqual(['format', 'kind', 'ref', 'workspace', 'generatedAt', 'timeZone', 'change', 'approval', 'incident', 'audit', 'verify']);
    expect(evidenceJson(record())).toBe(json);
  });
});
