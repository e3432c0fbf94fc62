-- CreateTable
CREATE TABLE "outbox_dependencies" (
    "effect_id" INTEGER NOT NULL,
    "depends_on_id" INTEGER NOT NULL,

    PRIMARY KEY ("effect_id", "depends_on_id")
);

-- CreateTable
CREATE TABLE "inbox_events" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "event_key" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "workspace_id" TEXT,
    "type" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" DATETIME NOT NULL,
    "lease_until" DATETIME,
    "leased_by" TEXT,
    "last_error" TEXT,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL,
    "done_at" DATETIME
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_outbox" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "workspace_id" TEXT,
    "platform" TEXT NOT NULL,
    "op" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "depends_on_id" INTEGER,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lease_until" DATETIME,
    "leased_by" TEXT,
    "last_error" TEXT,
    "result" TEXT,
    "request_id" TEXT,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL,
    "done_at" DATETIME,
    "coalesce_key" TEXT,
    "uncertain" BOOLEAN NOT NULL DEFAULT false,
    "rate_limited" INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "new_outbox" ("attempts", "created_at", "depends_on_id", "done_at", "id", "last_error", "lease_until", "leased_by", "next_attempt_at", "op", "payload", "platform", "request_id", "result", "status", "updated_at", "workspace_id") SELECT "attempts", "created_at", "depends_on_id", "done_at", "id", "last_error", "lease_until", "leased_by", "next_attempt_at", "op", "payload", "platform", "request_id", "result", "status", "updated_at", "workspace_id" FROM "outbox";
DROP TABLE "outbox";
ALTER TABLE "new_outbox" RENAME TO "outbox";
CREATE INDEX "outbox_status_next_attempt_at_idx" ON "outbox"("status", "next_attempt_at");
CREATE INDEX "outbox_depends_on_id_idx" ON "outbox"("depends_on_id");
CREATE INDEX "outbox_coalesce_key_status_idx" ON "outbox"("coalesce_key", "status");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "outbox_dependencies_depends_on_id_idx" ON "outbox_dependencies"("depends_on_id");

-- CreateIndex
CREATE UNIQUE INDEX "inbox_events_event_key_key" ON "inbox_events"("event_key");

-- CreateIndex
CREATE INDEX "inbox_events_status_next_attempt_at_idx" ON "inbox_events"("status", "next_attempt_at");

