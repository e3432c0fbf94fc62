import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, SQLITE_CACHE_KIB } from '../../src/store/db.ts';

/**
 * The page cache of the bot's two SQLite connections (src/store/db.ts, SQLITE_CACHE_KIB), on a SQLite file whatever
 * MUSTER_TEST_DB says: better-sqlite3's own default is 16,000 KiB per connection, which the process's memory grew
 * into as the file grew (`npm run bench:soak`).
 */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('SQLite page cache', () => {
  it("the writer and the reader each keep SQLITE_CACHE_KIB, not better-sqlite3's default of 16,000 KiB", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'muster-cache-'));
    dirs.push(dir);
    const db = await openDatabase(`file:${join(dir, 'muster.db')}`);
    try {
      // db.write runs on the writer connection, db.query on the reader (a committed read).
      const [writer] = await db.write<{ cache_size: number }>('PRAGMA cache_size');
      const [reader] = await db.query<{ cache_size: number }>('PRAGMA cache_size');
      expect(Number(writer!.cache_size)).toBe(-SQLITE_CACHE_KIB);
      expect(Number(reader!.cache_size)).toBe(-SQLITE_CACHE_KIB);
      expect(SQLITE_CACHE_KIB).toBeLessThan(16_000);
    } finally {
      await db.close();
    }
  });
});
