import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, tuneHeap } from '../src/heap.ts';
import { ROOT } from './support/process.ts';

describe('tuneHeap', () => {
  it("sets V8's heap growth unless node was given --heap-growing-percent, which then wins", () => {
    expect(tuneHeap([])).toBe(HEAP_GROWING_PERCENT);
    expect(tuneHeap(['--heap-growing-percent=100'])).toBeUndefined();
    expect(tuneHeap(['--heap_growing_percent', '100'])).toBeUndefined();
    expect(tuneHeap(['--max-old-space-size=512'])).toBe(HEAP_GROWING_PERCENT);
  });

  it('V8 accepts the flag at run time (a flag it does not know would be reported on stderr)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/heap.ts').then((h) => console.log(h.tuneHeap()))"], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(String(HEAP_GROWING_PERCENT));
    const bad = spawnSync(process.execPath, ['-e', "require('node:v8').setFlagsFromString('--heap-growing-percentage=25')"], { encoding: 'utf8' });
    expect(bad.stderr).toMatch(/unrecognized flag|Error/i);
  });
});
