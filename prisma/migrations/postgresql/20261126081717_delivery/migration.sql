-- AlterTable
ALTER TABLE "outbox" ADD COLUMN     "coalesce_key" TEXT,
ADD COLUMN     "rate_limited" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "uncertain" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "outbox_dependencies" (
    "effect_id" INTEGER NOT NULL,
    "depends_on_id" INTEGER NOT NULL,

    CONSTRAINT "outbox_dependencies_pkey" PRIMARY KEY ("effect_id","depends_on_id")
);

-- CreateTable
CREATE TABLE "inbox_events" (
    "id" SERIAL NOT NULL,
    "event_key" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "workspace_id" TEXT,
    "type" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMP(3) NOT NULL,
    "lease_until" TIMESTAMP(3),
    "leased_by" TEXT,
    "last_error" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "done_at" TIMESTAMP(3),

    CONSTRAINT "inbox_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "outbox_dependencies_depends_on_id_idx" ON "outbox_dependencies"("depends_on_id");

-- CreateIndex
CREATE UNIQUE INDEX "inbox_events_event_key_key" ON "inbox_events"("event_key");

-- CreateIndex
CREATE INDEX "inbox_events_status_next_attempt_at_idx" ON "inbox_events"("status", "next_attempt_at");

-- CreateIndex
CREATE INDEX "outbox_coalesce_key_status_idx" ON "outbox"("coalesce_key", "status");

