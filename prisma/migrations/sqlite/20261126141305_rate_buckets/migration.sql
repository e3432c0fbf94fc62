-- CreateTable
CREATE TABLE "rate_buckets" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "tokens" REAL NOT NULL,
    "updated_at" BIGINT NOT NULL
);

