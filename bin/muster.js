#!/usr/bin/env node
// The `muster` command (package.json bin). It runs dist/cli.js, the CLI compiled by scripts/build.mjs (at `npm ci`
// and at every `npm start`), when that file is newer than every TypeScript source; otherwise (a source edited since
// the last build, or no build at all) it loads the sources through tsx, so the command always runs the code as it is.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli.js');

/** The newest modification time of a .ts file under the folders the build reads (about 200 files, a few ms). */
function newestSource() {
  let newest = 0;
  for (const top of ['src', 'commands', 'blocks']) {
    const dir = join(root, top);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (e.isFile() && e.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
    }
  }
  return newest;
}

if (existsSync(built) && statSync(built).mtimeMs >= newestSource()) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}
