-- AlterTable
ALTER TABLE "audit_entries" ADD COLUMN     "key_id" TEXT;

-- AlterTable
ALTER TABLE "incidents" ADD COLUMN     "public_services" TEXT,
ADD COLUMN     "public_title" TEXT,
ADD COLUMN     "published_at" TIMESTAMP(3),
ADD COLUMN     "published_by" TEXT;

-- CreateTable
CREATE TABLE "audit_checkpoints" (
    "seq" INTEGER NOT NULL,
    "hash" TEXT NOT NULL,
    "key_id" TEXT NOT NULL,
    "mac" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "audit_checkpoints_pkey" PRIMARY KEY ("seq")
);


-- Incidents that already had status-page text were published by someone: they stay on the
-- page under the title they were shown with. Every other incident leaves the page until published.
UPDATE "incidents" SET "published_at" = "public_updated_at", "public_title" = "title", "public_services" = "services"
  WHERE "public_text" IS NOT NULL AND "is_private" = false;
