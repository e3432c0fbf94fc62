import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past what survived its last full collection before it collects again, in
 * percent. Left to itself V8 picks a factor up to ×4 when collecting looks cheap; under a burst of clicks that took
 * the bot from about 180 MB of RSS to about 415 MB, which it kept after the burst (`npm run bench`, docs/scaling.md).
 * With ×1.25 it stays near 230 MB: the full collections come more often but run mostly concurrently, and the click
 * bench showed no loss of throughput or CPU per click. The price is in the tail of very fast commands: `/muster whoami`
 * at 200/s had a p99 of 6–10 ms instead of 5–5.5 ms (more frequent collections, some of their pauses). Capping only
 * once the heap is large (tried: above 112 or 160 MB) kept that tail but not the memory (360 MB after the clicks):
 * by then V8 had already sized the heap. `node --heap-growing-percent=0 dist/main.js` gives V8 its own factor back.
 */
export const HEAP_GROWING_PERCENT = 25;

/**
 * Sets the bot's heap growth (HEAP_GROWING_PERCENT) at start-up, unless node was given `--heap-growing-percent`
 * itself (`node --heap-growing-percent=100 dist/main.js`), which then wins. V8 reads the flag each time it sizes the
 * heap after a full collection, so setting it from here takes effect from the first one.
 */
export function tuneHeap(execArgv: readonly string[] = process.execArgv): number | undefined {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a))) return undefined;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}
