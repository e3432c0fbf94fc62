import { describe, expect, it } from 'vitest';
import { defaultPolicy, parsePolicyText } from '../../src/config/policy.ts';

/** changes.deployLength: how long `/approval deploy` is taken to last when checked against the windows. */
const MIN = 60_000;
const problems = (yaml: string) => parsePolicyText(yaml, 'p.yml').problems.map((p) => [p.path, p.message]);
const warnings = (yaml: string) => parsePolicyText(yaml, 'p.yml').warnings.map((w) => [w.path, w.message]);

describe('changes.deployLength', () => {
  it('defaults to 30 minutes and reads a duration', () => {
    expect(defaultPolicy().changes.deployLength).toBe(30 * MIN);
    expect(parsePolicyText('changes:\n  deployLength: 45m\n').policy!.changes.deployLength).toBe(45 * MIN);
    expect(parsePolicyText('changes:\n  deployLength: 2h\n').policy!.changes.deployLength).toBe(120 * MIN);
  });

  it('refuses what is not a duration, or one outside 1m–24h, at its path', () => {
    expect(problems('changes:\n  deployLength: soon\n')).toEqual([['changes.deployLength', '"soon" is not a duration: write e.g. 30s, 15m, 4h, 7d']]);
    expect(problems('changes:\n  deployLength: 30s\n')).toEqual([['changes.deployLength', 'a deployment lasts between 1m and 24h, e.g. 30m']]);
    expect(problems('changes:\n  deployLength: 2d\n')).toEqual([['changes.deployLength', 'a deployment lasts between 1m and 24h, e.g. 30m']]);
  });

  it('warns when it is longer than every window that takes normal changes (every deployment would be held)', () => {
    expect(warnings('changes:\n  deployLength: 6h\n')).toEqual([]);
    expect(warnings('changes:\n  deployLength: 7h\n')).toEqual([
      [
        'changes.deployLength',
        'a deployment is taken to last 7h, longer than any window that takes normal changes (the longest is 6h), so every deployment where windows are enforced is held; shorten it',
      ],
    ]);
  });
});
