#!/usr/bin/env node
// `npm start` and `npm run sandbox` run this first: it compiles Muster's TypeScript into JavaScript files,
// dist/main.js (the bot), dist/cli.js (the `muster` CLI) and dist/auditVerifyWorker.js (a worker thread of the CLI), so the running process loads plain JavaScript.
// Loaded through tsx instead, every process carries tsx's module hooks (a loader thread with a V8 heap of its own,
// about 35–45 MB of RSS at idle, see docs/scaling.md) and transpiles each file at start-up.
//
// esbuild (already a dependency: the sandbox bundles its web page with it) bundles our own modules and the few pure
// JavaScript packages in BUNDLED; every other package stays an import of node_modules, so native modules
// (better-sqlite3) and Prisma's runtime load as they are installed. BUNDLED are packages made of many small ES
// modules that Node would otherwise find, read and compile one by one at every start: date-fns alone is about 300
// files (its index re-exports every function), zod about 100, yaml about 70; bundled, esbuild keeps only what our
// code uses, in the chunks. Measured on a 2-CPU VM: `muster audit verify` on an empty SQLite trail 0.80 → 0.68 s
// (0.61 s once migrate.ts stopped loading pg for SQLite), Muster's start until /readyz about 1.18 → 1.0 s. A module our code imports dynamically (`await import('./…')`: the Prisma client of each database,
// the Discord platform, the sandbox) goes into a chunk of its own (splitting), loaded with its packages' imports when it
// is first imported: in one file, esbuild would hoist every package import to the top of the bundle, and a Slack-only
// Muster would load discord.js (about 50 MB resident) at start-up.
// esbuild strips types without checking them: `npm run lint` type-checks.
//
// Each file is written next to its final name and renamed into place, so a second process starting from the same
// folder at the same moment (replicas on one machine) reads either the old file or the new one, never half of one.
// Chunks are named by their content and written before the entry points that import them; chunks of earlier builds
// are removed once they are an hour old (a process started from the old entry point may still be loading them).
//
//   node scripts/build.mjs [--outdir DIR] [--quiet] [--bench]
//
// --bench also compiles the benchmark's bare Bolt baseline (bench/bare-bolt.ts → dist/bench/bare-bolt.js) with the same
// settings, so that neither side of the bench's ratios carries tsx.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
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

/** Packages bundled in (see above); each is ES modules or CommonJS without dynamic requires, and no package left external imports it. */
const BUNDLED = new Set(['date-fns', '@date-fns/tz', 'zod', 'yaml']);
/** Marks every bare import (a package or a node: builtin) external, except the packages in BUNDLED and their files. */
const externals = {
  name: 'externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const parts = args.path.split('/');
      const pkg = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      return BUNDLED.has(pkg) ? undefined : { path: args.path, external: true };
    });
  },
};

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
    splitting: true,
    chunkNames: 'chunk-[hash]',
    plugins: [externals],
    // yaml is CommonJS and requires node:process and node:buffer; in an ES module bundle esbuild turns those into
    // require() calls, which need a require in scope.
    banner: { js: "import { createRequire as __muster_createRequire } from 'node:module'; const require = __muster_createRequire(import.meta.url);" },
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Stack traces name lines of dist/ files (mostly chunks); the map next to each turns them back into src/ lines
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
const isChunk = (path) => /^chunk-[A-Z0-9]+\.js(\.map)?$/.test(basename(path));
try {
  // chunks first: an entry point is in place only once everything it imports is
  const files = [...result.outputFiles].sort((a, b) => Number(isChunk(b.path)) - Number(isChunk(a.path)));
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    const tmp = `${f.path}.${process.pid}.tmp`;
    writeFileSync(tmp, f.contents);
    renameSync(tmp, f.path);
  }
  const current = new Set(result.outputFiles.map((f) => basename(f.path)));
  for (const name of readdirSync(outdir)) {
    const path = join(outdir, name);
    if (isChunk(path) && !current.has(name) && Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { force: true });
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
  const js = result.outputFiles.filter((f) => f.path.endsWith('.js'));
  const kb = (files) => (files.reduce((n, f) => n + f.contents.length, 0) / 1024).toFixed(0);
  const entries = js.filter((f) => !isChunk(f.path)).map((f) => `${relative(process.cwd(), f.path)} ${kb([f])} kB`);
  const chunks = js.filter((f) => isChunk(f.path));
  console.error(`build: ${entries.join(', ')} in ${(performance.now() - started).toFixed(0)} ms (and ${chunks.length} chunks, ${kb(chunks)} kB)`);
}
