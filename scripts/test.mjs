#!/usr/bin/env node
// `npm test`: the whole suite on SQLite, then again on PostgreSQL (each test file makes
// its own database). Prints one closing line with the totals of both runs.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const extra = process.argv.slice(2);
const pgUrl = process.env.MUSTER_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function pgReachable() {
  const c = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

function run(provider) {
  const out = join(mkdtempSync(join(tmpdir(), 'muster-vitest-')), 'result.json');
  console.log(`\n=== test suite on ${provider} ===`);
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...extra], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, MUSTER_TEST_DB: provider },
  });
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  try {
    const j = JSON.parse(readFileSync(out, 'utf8'));
    passed = j.numPassedTests;
    // Failed tests, plus each file that failed with no failing test (an import error, a failing hook). Vitest's
    // numFailedTestSuites counts every describe block around a failed test too, so it is not added as such.
    const files = j.testResults ?? [];
    const failedFilesWithoutTest = files.filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
    failed = j.numFailedTests + failedFilesWithoutTest;
    skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  } catch {
    failed += 1;
  }
  rmSync(dirname(out), { recursive: true, force: true });
  return { provider, passed, failed, skipped, status: r.status ?? 1 };
}

const results = [run('sqlite')];
if (await pgReachable()) results.push(run('postgresql'));
else if (process.env.CI || process.env.MUSTER_REQUIRE_PG) {
  console.error(`\nPostgreSQL is not reachable at ${pgUrl}: the PostgreSQL run is required here.`);
  results.push({ provider: 'postgresql', passed: 0, failed: 1, skipped: 0, status: 1 });
} else {
  console.warn(`\nPostgreSQL is not reachable at ${pgUrl}: skipped the PostgreSQL run (set MUSTER_TEST_PG_URL, or start it).`);
}

for (const r of results) console.log(`${r.provider}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
const skipped = results.reduce((a, r) => a + r.skipped, 0);
const ok = results.every((r) => r.status === 0) && failed === 0 && passed > 0;
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok ? 0 : 1);
