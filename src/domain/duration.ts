/** Durations in the policy file: "30s", "15m", "4h", "7d", "1w" (or a bare number of minutes). */
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * UNIT_MS.m : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!.toLowerCase() as keyof typeof UNIT_MS]);
}

export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs % UNIT_MS.d === 0 && abs >= UNIT_MS.d) return `${ms / UNIT_MS.d}d`;
  if (abs % UNIT_MS.h === 0 && abs >= UNIT_MS.h) return `${ms / UNIT_MS.h}h`;
  if (abs % UNIT_MS.m === 0 && abs >= UNIT_MS.m) return `${ms / UNIT_MS.m}m`;
  return `${Math.round(ms / 1000)}s`;
}
