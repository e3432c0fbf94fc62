-- CreateTable
CREATE TABLE "change_requests" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "workspace_id" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "type" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "reason" TEXT,
    "systems" TEXT NOT NULL DEFAULT '[]',
    "environment" TEXT NOT NULL,
    "impact" TEXT NOT NULL,
    "risk" TEXT NOT NULL,
    "affected_users" TEXT NOT NULL,
    "downtime" BOOLEAN NOT NULL DEFAULT false,
    "downtime_minutes" INTEGER,
    "risk_score" INTEGER NOT NULL,
    "risk_level" TEXT NOT NULL,
    "window_start" DATETIME,
    "window_end" DATETIME,
    "rollback_plan" TEXT,
    "rollback_tested" BOOLEAN NOT NULL DEFAULT false,
    "implementer_id" TEXT,
    "implementation_notes" TEXT,
    "verification_notes" TEXT,
    "review_notes" TEXT,
    "requester_id" TEXT NOT NULL,
    "catalogue_id" TEXT,
    "incident_id" TEXT,
    "approval_id" TEXT,
    "exception_id" TEXT,
    "checklist" TEXT NOT NULL DEFAULT '[]',
    "flags" TEXT NOT NULL DEFAULT '[]',
    "window_problem" TEXT,
    "outcome" TEXT,
    "rollback_reason" TEXT,
    "defer_reason" TEXT,
    "deferred_at" DATETIME,
    "channel_id" TEXT,
    "card_effect_id" INTEGER,
    "decided_at" DATETIME,
    "started_at" DATETIME,
    "implemented_at" DATETIME,
    "review_due_at" DATETIME,
    "reviewed_at" DATETIME,
    "closed_at" DATETIME,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "change_revisions" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "change_id" TEXT NOT NULL,
    "field" TEXT NOT NULL,
    "before" TEXT,
    "after" TEXT,
    "by_id" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    CONSTRAINT "change_revisions_change_id_fkey" FOREIGN KEY ("change_id") REFERENCES "change_requests" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "change_incident_links" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "change_id" TEXT NOT NULL,
    "incident_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "by_id" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    CONSTRAINT "change_incident_links_change_id_fkey" FOREIGN KEY ("change_id") REFERENCES "change_requests" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "change_freezes" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "workspace_id" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "starts_at" DATETIME NOT NULL,
    "ends_at" DATETIME NOT NULL,
    "reason" TEXT NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL,
    "lifted_at" DATETIME,
    "lifted_by" TEXT
);

-- CreateTable
CREATE TABLE "change_cards" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "change_id" TEXT NOT NULL,
    "effect_id" INTEGER NOT NULL,
    "place" TEXT NOT NULL,
    "user_id" TEXT,
    CONSTRAINT "change_cards_change_id_fkey" FOREIGN KEY ("change_id") REFERENCES "change_requests" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_approval_requests" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "workspace_id" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "environment" TEXT,
    "component" TEXT,
    "version" TEXT,
    "reason" TEXT,
    "decision_type" TEXT,
    "category" TEXT,
    "amount" REAL,
    "band" TEXT,
    "route" TEXT NOT NULL,
    "requester_id" TEXT NOT NULL,
    "channel_id" TEXT,
    "status" TEXT NOT NULL,
    "decided_at" DATETIME,
    "decided_by" TEXT,
    "reject_reason" TEXT,
    "break_glass" BOOLEAN NOT NULL DEFAULT false,
    "break_glass_reason" TEXT,
    "review_status" TEXT,
    "reviewed_by" TEXT,
    "reviewed_at" DATETIME,
    "expires_at" DATETIME NOT NULL,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL,
    "subject_type" TEXT,
    "subject_id" TEXT,
    "hold_reason" TEXT,
    "flags" TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO "new_approval_requests" ("amount", "band", "break_glass", "break_glass_reason", "category", "channel_id", "component", "created_at", "decided_at", "decided_by", "decision_type", "environment", "expires_at", "id", "kind", "number", "reason", "reject_reason", "requester_id", "review_status", "reviewed_at", "reviewed_by", "route", "status", "title", "updated_at", "version", "workspace_id") SELECT "amount", "band", "break_glass", "break_glass_reason", "category", "channel_id", "component", "created_at", "decided_at", "decided_by", "decision_type", "environment", "expires_at", "id", "kind", "number", "reason", "reject_reason", "requester_id", "review_status", "reviewed_at", "reviewed_by", "route", "status", "title", "updated_at", "version", "workspace_id" FROM "approval_requests";
DROP TABLE "approval_requests";
ALTER TABLE "new_approval_requests" RENAME TO "approval_requests";
CREATE INDEX "approval_requests_workspace_id_status_idx" ON "approval_requests"("workspace_id", "status");
CREATE INDEX "approval_requests_subject_type_subject_id_idx" ON "approval_requests"("subject_type", "subject_id");
CREATE UNIQUE INDEX "approval_requests_workspace_id_number_key" ON "approval_requests"("workspace_id", "number");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "change_requests_workspace_id_status_idx" ON "change_requests"("workspace_id", "status");

-- CreateIndex
CREATE INDEX "change_requests_workspace_id_implemented_at_idx" ON "change_requests"("workspace_id", "implemented_at");

-- CreateIndex
CREATE UNIQUE INDEX "change_requests_workspace_id_number_key" ON "change_requests"("workspace_id", "number");

-- CreateIndex
CREATE INDEX "change_revisions_change_id_idx" ON "change_revisions"("change_id");

-- CreateIndex
CREATE INDEX "change_incident_links_incident_id_idx" ON "change_incident_links"("incident_id");

-- CreateIndex
CREATE UNIQUE INDEX "change_incident_links_change_id_incident_id_kind_key" ON "change_incident_links"("change_id", "incident_id", "kind");

-- CreateIndex
CREATE INDEX "change_freezes_workspace_id_ends_at_idx" ON "change_freezes"("workspace_id", "ends_at");

-- CreateIndex
CREATE INDEX "change_cards_change_id_idx" ON "change_cards"("change_id");

