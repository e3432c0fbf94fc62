import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Muster's own folder (where package.json, prisma/ and docs/ are): the nearest folder above this module that holds a
 * package.json. Found by walking up rather than by a fixed number of `..`, because the same module runs from src/
 * (tests, `npm run muster`) and bundled into dist/ (`npm start`, scripts/build.mjs), at different depths.
 */
export const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}: Muster's files (prisma/, docs/) cannot be found`);
  }
}

/** A file of Muster's sources, by its path from the root (e.g. src/platforms/sandbox/policy.yml), wherever the code runs from. */
export const sourceFile = (...parts: string[]): string => join(ROOT, ...parts);
