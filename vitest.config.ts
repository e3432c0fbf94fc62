import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file gets its own database (see test/support/db.ts), so files run in parallel.
    fileParallelism: true,
    // Vitest's default is one worker fewer than the CPUs: one worker on these 2-CPU machines, where most test files
    // spend their time waiting (on a Muster child process, a fake platform over HTTP, a timer). Three workers take
    // the PostgreSQL run from 352 s to 211 s here with the same results. MUSTER_TEST_WORKERS overrides.
    maxWorkers: Number(process.env.MUSTER_TEST_WORKERS) || Math.max(3, availableParallelism() - 1),
  },
});
