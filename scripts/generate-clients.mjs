#!/usr/bin/env node
// Generates the SQLite schema variant from prisma/schema.prisma (the PostgreSQL
// source) and both Prisma clients. Runs offline: Prisma 6's "client" engine needs no
// native query engine, and the CLI only needs *some* file behind the engine paths.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'prisma', 'schema.prisma');
const sqliteSchema = join(root, 'prisma', 'sqlite', 'schema.prisma');

export function sqliteVariant(text) {
  return (
    '// GENERATED from prisma/schema.prisma by scripts/generate-clients.mjs: do not edit.\n' +
    text.replace('provider = "postgresql"', 'provider = "sqlite"').replace('output     = "../src/store/generated/postgresql"', 'output     = "../../src/store/generated/sqlite"')
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

function main() {
  const text = readFileSync(source, 'utf8');
  const variant = sqliteVariant(text);
  if (!variant.includes('"sqlite"') || !variant.includes('generated/sqlite')) {
    console.error('generate-clients: could not derive the SQLite schema variant');
    process.exit(1);
  }
  mkdirSync(dirname(sqliteSchema), { recursive: true });
  if (!existsSync(sqliteSchema) || readFileSync(sqliteSchema, 'utf8') !== variant) writeFileSync(sqliteSchema, variant);

  const prismaBin = join(root, 'node_modules', 'prisma', 'build', 'index.js');
  const dummy = join(tmpdir(), 'muster-no-engine');
  writeFileSync(dummy, '');
  // Any existing file will do: generation with engineType "client" never runs them.
  const env = {
    ...process.env,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? dummy,
    PRISMA_QUERY_ENGINE_LIBRARY: process.env.PRISMA_QUERY_ENGINE_LIBRARY ?? dummy,
    DATABASE_URL: process.env.DATABASE_URL ?? 'file:./unused.db',
  };
  for (const schema of [source, sqliteSchema]) {
    execFileSync(process.execPath, [prismaBin, 'generate', '--schema', schema], { cwd: root, env, stdio: 'inherit' });
  }
}
