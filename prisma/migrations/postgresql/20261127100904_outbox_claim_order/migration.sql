-- DropIndex
DROP INDEX "outbox_status_next_attempt_at_idx";

-- CreateIndex
CREATE INDEX "outbox_status_next_attempt_at_id_idx" ON "outbox"("status", "next_attempt_at", "id");

