// Prisma CLI config for the SQLite variant: the JS/Wasm schema engine runs offline.
import { defineConfig } from 'prisma/config';
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'sqlite/schema.prisma',
  migrations: { path: 'migrations/sqlite' },
  adapter: async () => new PrismaBetterSQLite3({ url: process.env.SQLITE_URL ?? 'file:./data/dev-cli.db' }),
});
