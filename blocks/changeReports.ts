import type { ChangeKpis, Kpi, RiskLevel } from '../src/domain/change.ts';
import { concat, emoji, joinText, rt, strong, time, type EmojiName, type Text } from '../src/domain/text.ts';
import { clip, clipText, LIMITS } from './limits.ts';
import { context, header, section, type Block, type Message } from './surface.ts';

/**
 * Change reports: the CAB digest's header message (each change's card follows it, drawn by
 * blocks/change.ts) and the change KPIs as `/muster stats` and the App Home show them.
 */

// ---------------------------------------------------------------------------------------------
// CAB digest

/** A pending normal change as the digest lists it. */
export interface DigestItem {
  ref: string;
  title: Text;
  riskLevel: string;
  riskScore: number;
  environment: string;
  windowStart: Date | null;
  createdAt: Date;
  /** Deferred to the next CAB (this one), with the reason. */
  deferredAt: Date | null;
  deferReason: Text | null;
  /** Its window breaks a rule: no vote until it is moved or an exception is granted. */
  waitingForWindow: boolean;
}

const RISK_EMOJI: Record<RiskLevel, EmojiName> = { critical: 'red_circle', high: 'large_orange_circle', medium: 'large_yellow_circle', low: 'white_circle' };

/** Lines listed in the digest's header message at most (a message holds 50 blocks); the rest are counted. */
export const DIGEST_MAX_LINES = 40;

/** "CAB digest — 3 pending normal changes, oldest first". */
export function digestTitle(n: number): string {
  return `CAB digest — ${n} pending normal change${n === 1 ? '' : 's'}, oldest first`;
}

/**
 * The header message of the CAB digest: every pending normal change (oldest first) with its risk,
 * deferred ones marked; `cards` of them get their card posted after it, with their buttons.
 */
export function cabDigestMessage(items: readonly DigestItem[], cards: number): Message {
  const title = digestTitle(items.length);
  const deferred = items.filter((i) => i.deferredAt).length;
  const blocks: Block[] = [header(clip(title, LIMITS.headerText))];
  if (deferred) blocks.push(context(`${deferred} of them deferred to this CAB (marked below).`));
  for (const i of items.slice(0, DIGEST_MAX_LINES)) {
    const risk = RISK_EMOJI[i.riskLevel as RiskLevel];
    const marks: Text[] = [];
    if (i.deferredAt) marks.push(rt`\n${emoji('hourglass_flowing_sand')} ${strong('Deferred')} ${time(i.deferredAt)}${i.deferReason && rt`: ${i.deferReason}`}`);
    if (i.waitingForWindow) marks.push(rt`\n${emoji('no_entry')} Its window cannot be used: it waits to be moved or for an exception.`);
    blocks.push(
      section(
        clipText(
          rt`${risk ? [emoji(risk)] : ''} ${strong(i.ref)} ${i.title}\nrisk ${strong(`${i.riskLevel} (${i.riskScore})`)} · ${i.environment}${i.windowStart && rt` · window ${time(i.windowStart)}`} · requested ${time(i.createdAt)}${concat(...marks)}`,
          LIMITS.sectionText,
        ),
      ),
    );
  }
  const more = items.length - Math.min(items.length, DIGEST_MAX_LINES);
  const notes: Text[] = [];
  if (more > 0) notes.push(`…and ${more} more.`);
  notes.push(cards < items.length ? `The cards of the ${cards} oldest follow, with their buttons; see the rest with /change list pending.` : 'Each card follows, with its buttons.');
  blocks.push(context(...notes));
  return { text: title, blocks };
}

// ---------------------------------------------------------------------------------------------
// KPIs

/** The KPIs in the order they are shown, with their label and what they are counted over. */
const KPI_ROWS: { key: keyof Omit<ChangeKpis, 'from' | 'to'>; label: string; over: string; of: 'of' | 'over' }[] = [
  { key: 'successRate', label: 'Change success rate', over: 'finished', of: 'of' },
  { key: 'rollbackRate', label: 'Rollback rate', over: 'finished', of: 'of' },
  { key: 'emergencyShare', label: 'Emergency share', over: 'requested', of: 'of' },
  { key: 'medianApprovalTime', label: 'Median approval time', over: 'approved', of: 'over' },
  { key: 'onTimeApprovals', label: 'On-time approvals', over: 'approved', of: 'of' },
];

/**
 * One KPI as "value (target, met/missed)" with what it is counted over: "75% of 4 finished (target > 99%,
 * missed)", "2h over 3 approved (target < 4h, met)"; without data "none finished (target > 99%)".
 */
export function kpiText(k: Kpi, over: string, of: 'of' | 'over' = 'of'): string {
  // Kpi.text is "<value> (target <op> <target>)", or "no data (target …)".
  const m = /^(.*) \((target [^)]*)\)$/.exec(k.text);
  const value = m?.[1] ?? k.text;
  const target = m?.[2] ?? '';
  if (k.value === null || k.met === null) return `none ${over}${target && ` (${target})`}`;
  return `${value} ${of} ${k.count} ${over} (${target}, ${k.met ? 'met' : 'missed'})`;
}

/** Whether any change counts in the period (requested, approved or finished in it). */
export function anyChanges(k: ChangeKpis): boolean {
  return KPI_ROWS.some((r) => k[r.key].count > 0);
}

/** One line per KPI, "Change success rate: 75% of 4 finished (target > 99%, missed)"; or "No changes in this period." */
export function kpiLines(k: ChangeKpis): string[] {
  if (!anyChanges(k)) return ['No changes in this period.'];
  return KPI_ROWS.map((r) => `${r.label}: ${kpiText(k[r.key], r.over, r.of)}`);
}

/** The change KPIs on the App Home (nothing for someone who may not see stats: `kpis` null). */
export function changeKpiBlocks(kpis: ChangeKpis | null, period: string): Block[] {
  if (!kpis) return [];
  const blocks: Block[] = [header(`Change KPIs, last ${period}`)];
  if (!anyChanges(kpis)) {
    blocks.push(section('No changes in this period.'));
    return blocks;
  }
  const lines = KPI_ROWS.map((r) => {
    const kpi = kpis[r.key];
    const mark: Text = kpi.met === null ? '' : [emoji(kpi.met ? 'white_check_mark' : 'warning'), ' '];
    return rt`${mark}${strong(r.label)}: ${kpiText(kpi, r.over, r.of)}`;
  });
  blocks.push(section(clipText(joinText(lines, '\n'), LIMITS.sectionText)));
  blocks.push(context(rt`Targets of the governance documents; ${time(kpis.from, 'date')} to ${time(kpis.to, 'date')}. More with /muster stats 7d|30d|90d.`));
  return blocks;
}
