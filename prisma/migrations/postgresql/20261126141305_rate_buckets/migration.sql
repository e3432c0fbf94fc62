-- CreateTable
-- UNLOGGED (added by hand; Prisma's schema has no word for it): a rate bucket is a few seconds of pacing state, so
-- a reservation need not wait for its WAL to reach the disk, and a bucket lost in a crash (the table comes back
-- empty) only starts full again. Unlogged tables are not copied to standbys: after a fail-over the buckets start full.
CREATE UNLOGGED TABLE "rate_buckets" (
    "key" TEXT NOT NULL,
    "tokens" DOUBLE PRECISION NOT NULL,
    "updated_at" BIGINT NOT NULL,

    CONSTRAINT "rate_buckets_pkey" PRIMARY KEY ("key")
);
