// Prisma CLI config for PostgreSQL. Offline, only `migrate diff ... --script` works
// with the JS engine; migrations are applied by Muster's own runner (src/store/migrate.ts).
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'schema.prisma',
  migrations: { path: 'migrations/postgresql' },
  adapter: async () => new PrismaPg({ connectionString: process.env.PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' }),
});
