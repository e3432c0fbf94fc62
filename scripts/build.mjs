#!/usr/bin/env node
// `npm start` and `npm run sandbox` run this first: it compiles Muster's TypeScript into JavaScript files,
// dist/main.js (the bot), dist/cli.js (the `muster` CLI) and dist/auditVerifyWorker.js (a worker thread of the CLI), so the running process loads plain JavaScript.
// Loaded through tsx instead, every process carries tsx's module hooks (a loader thread with a V8 heap of its own,
// about 35–45 MB of RSS at idle, see docs/scaling.md) and transpiles each file at start-up.
//
// esbuild (already a dependency: the sandbox bundles its web page with it) bundles our own modules only; packages stay
// imports of node_modules (packages: 'external'), so native modules (better-sqlite3) and Prisma's runtime load as
// they are installed. The Prisma clients generated into src/store/generated are our modules and are bundled; each is
// still loaded only when a database of its kind is opened (a dynamic import becomes a lazy module in the bundle).
// esbuild strips types without checking them: `npm run lint` type-checks.
//
// Each file is written next to its final name and renamed into place, so a second process starting from the same
// folder at the same moment (replicas on one machine) reads either the old file or the new one, never half of one.
//
//   node scripts/build.mjs [--outdir DIR] [--quiet] [--bench]
//
// --bench also compiles the benchmark's bare Bolt baseline (bench/bare-bolt.ts → dist/bench/bare-bolt.js) with the same
// settings, so that neither side of the bench's ratios carries tsx.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const at = args.indexOf('--outdir');
if (at >= 0 && !args[at + 1]) {
  console.error('build: --outdir needs a folder');
  process.exit(2);
}
const outdir = at >= 0 ? args[at + 1] : join(root, 'dist');
const quiet = args.includes('--quiet');
const bench = args.includes('--bench');

const started = performance.now();
let result;
try {
  result = await build({
    absWorkingDir: root,
    // the worker threads of `muster audit verify` load a file of their own (src/store/audit.ts finds it next to the bundle)
    entryPoints: {
      main: 'src/main.ts',
      cli: 'src/cli.ts',
      auditVerifyWorker: 'src/store/auditVerifyWorker.ts',
      ...(bench ? { 'bench/bare-bolt': 'bench/bare-bolt.ts' } : {}),
    },
    outdir,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Stack traces name dist/main.js lines; the map next to it turns them back into src/ lines
    // (node --enable-source-maps dist/main.js, or any source-map tool).
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
} catch (e) {
  // esbuild's message names the file, line and column of each error.
  console.error(`build: Muster's sources did not compile:\n${e.message}`);
  process.exit(1);
}
try {
  for (const f of result.outputFiles) {
    mkdirSync(dirname(f.path), { recursive: true });
    const tmp = `${f.path}.${process.pid}.tmp`;
    writeFileSync(tmp, f.contents);
    renameSync(tmp, f.path);
  }
} catch (e) {
  // An installation whose folder the service user cannot write (built at install time by `npm ci`, whose postinstall
  // runs this script, then run as another user): the build already there is used, and said so.
  const existing = join(outdir, 'main.js');
  if (['EACCES', 'EPERM', 'EROFS'].includes(e.code) && existsSync(existing)) {
    const same = result.outputFiles.every((f) => existsSync(f.path) && readFileSync(f.path).equals(Buffer.from(f.contents)));
    if (!same)
      console.error(
        `build: cannot write ${relative(process.cwd(), outdir) || '.'} (${e.code}); running the build already there, which differs from the sources: run \`npm run build\` as the folder's owner`,
      );
    process.exit(0);
  }
  console.error(`build: cannot write ${outdir}: ${e.message}`);
  process.exit(1);
}
if (!quiet) {
  const kb = result.outputFiles.filter((f) => f.path.endsWith('.js')).map((f) => `${relative(process.cwd(), f.path)} ${(f.contents.length / 1024).toFixed(0)} kB`);
  console.error(`build: ${kb.join(', ')} in ${(performance.now() - started).toFixed(0)} ms`);
}
