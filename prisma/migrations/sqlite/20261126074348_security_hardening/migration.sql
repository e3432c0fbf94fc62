-- AlterTable
ALTER TABLE "audit_entries" ADD COLUMN "key_id" TEXT;

-- AlterTable
ALTER TABLE "incidents" ADD COLUMN "public_services" TEXT;
ALTER TABLE "incidents" ADD COLUMN "public_title" TEXT;
ALTER TABLE "incidents" ADD COLUMN "published_at" DATETIME;
ALTER TABLE "incidents" ADD COLUMN "published_by" TEXT;

-- CreateTable
CREATE TABLE "audit_checkpoints" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "hash" TEXT NOT NULL,
    "key_id" TEXT NOT NULL,
    "mac" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL
);


-- Incidents that already had status-page text were published by someone: they stay on the
-- page under the title they were shown with. Every other incident leaves the page until published.
UPDATE "incidents" SET "published_at" = "public_updated_at", "public_title" = "title", "public_services" = "services"
  WHERE "public_text" IS NOT NULL AND "is_private" = 0;
