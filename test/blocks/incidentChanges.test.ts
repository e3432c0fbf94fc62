import { describe, expect, it } from 'vitest';
import { incidentCard } from '../../blocks/incident.ts';
import type { Block } from '../../blocks/surface.ts';
import { plainText } from '../../src/domain/text.ts';
import { changesMarkdown } from '../../src/services/incidents.ts';
import { touches, type IncidentChange, type IncidentChanges, type IncidentView } from '../../src/services/incidentViews.ts';

/** The "what changed" part of the incident card and of the post-incident review, from a view. */
const declaredAt = new Date('2026-12-01T11:00:00Z');

const chg = (n: number, over: Partial<IncidentChange> = {}): IncidentChange => ({
  id: `c${n}`,
  ref: `CHG-${n}`,
  title: `Change ${n}`,
  type: 'normal',
  status: 'implemented',
  environment: 'production',
  systems: ['api'],
  windowStart: new Date('2026-12-01T09:00:00Z'),
  windowEnd: new Date('2026-12-01T10:00:00Z'),
  implementedAt: new Date(declaredAt.getTime() - n * 60_000),
  outcome: 'success',
  requester: 'UREQ',
  implementer: 'UIMP',
  suspected: false,
  ...over,
});

function view(changes: Partial<IncidentChanges>, over: Partial<IncidentView> = {}): IncidentView {
  return {
    id: 'i1',
    workspaceId: 'w',
    ref: 'INC-1',
    number: 1,
    title: 'Gateway 502s',
    description: null,
    services: ['api'],
    severity: 'P2',
    status: 'investigating',
    isPrivate: false,
    reporter: 'UANA',
    channelId: 'C1',
    channelName: 'inc-1',
    declaredAt,
    acknowledgedAt: null,
    lastUpdateAt: declaredAt,
    resolvedAt: null,
    closedAt: null,
    summary: null,
    publicText: null,
    publicUpdatedAt: null,
    publicTitle: null,
    publishedAt: null,
    sla: { respondBy: declaredAt, resolveBy: declaredAt },
    updateDueAt: null,
    openActions: 0,
    changes: { since: new Date(declaredAt.getTime() - 86_400_000), until: declaredAt, recent: [], suspectedElsewhere: [], raised: [], ...changes },
    ...over,
  } as IncidentView;
}

/** The card's text, people as @id. */
const text = (blocks: Block[] = []) => blocks.map((b) => (b.kind === 'section' ? plainText(b.text) : b.kind === 'context' ? b.items.map((i) => plainText(i)).join(' | ') : '')).join('\n');

describe('the incident card lists what changed', () => {
  it('at most five changes, suspected causes first and marked, then "and N more"', () => {
    const recent = [chg(3, { suspected: true }), ...[1, 2, 4, 5, 6, 7].map((n) => chg(n))];
    const t = text(incidentCard(view({ recent })).blocks);
    expect(t).toContain('Changed in the last 24 h on api:');
    const lines = t.split('\n').filter((l) => /CHG-\d/.test(l));
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^⚠️ CHG-3 Change 3 \(api, production, implemented .+ by @UIMP\) — suspected cause$/);
    expect(lines.slice(1).every((l) => l.startsWith('• ') && !l.includes('suspected'))).toBe(true);
    expect(t).toContain('and 2 more');
  });

  it('names suspected causes from elsewhere, the changes raised here, and says when nothing changed', () => {
    const t = text(
      incidentCard(view({ suspectedElsewhere: [chg(9, { suspected: true, systems: ['db'], outcome: 'rolled_back' })], raised: [chg(10, { status: 'pending', implementedAt: null, outcome: null })] }))
        .blocks,
    );
    expect(t).toContain('Also suspected:');
    expect(t).toMatch(/CHG-9 Change 9 \(db, production, rolled back .+\) — suspected cause/);
    expect(t).toContain('Changes raised here: CHG-10 (pending)');
    expect(t).not.toContain('Changed in the last 24 h');
    expect(text(incidentCard(view({})).blocks)).toContain('No changes implemented in the last 24 h on api.');
    expect(text(incidentCard(view({}, { services: [] })).blocks)).toContain('No changes implemented in the last 24 h.');
    // Hours later the lookback is said as it is: from 24 h before the declaration.
    const later = view({ until: new Date(declaredAt.getTime() + 3 * 3_600_000) });
    expect(text(incidentCard(later).blocks)).toContain('No changes implemented since 24 h before it was declared on api.');
  });

  it('matches services to systems case-insensitively; an incident naming none takes every change', () => {
    expect(touches(['api'], ['API ', 'checkout'])).toBe(true);
    expect(touches(['api'], ['search'])).toBe(false);
    expect(touches(['api'], [])).toBe(true);
  });
});

describe('the post-incident review lists the changes', () => {
  it('a table per question, cells escaped; none as "- none"', () => {
    const md = changesMarkdown({ recent: [chg(1, { suspected: true, title: 'a | b' })], suspectedElsewhere: [], raised: [] }, ['api']);
    expect(md).toContain('### Suspected cause');
    expect(md).toContain('| CHG-1 | a \\| b | api, production | 2026-12-01T09:00Z – 2026-12-01T10:00Z | success (implemented 2026-12-01T10:59Z; now implemented) | @UREQ |');
    expect(md).toContain('### Implemented in the 24 h before it was declared (on api)');
    expect(md.slice(md.indexOf('### Raised'))).toContain('- none');
  });
});
