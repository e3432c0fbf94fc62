-- CreateTable
CREATE TABLE "approval_requests" (
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
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "approval_votes" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "request_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "decision" TEXT NOT NULL,
    "reason" TEXT,
    "step" INTEGER NOT NULL,
    "requirement" INTEGER,
    "role" TEXT,
    "roles" TEXT NOT NULL DEFAULT '[]',
    "created_at" DATETIME NOT NULL,
    CONSTRAINT "approval_votes_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "approval_requests" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "approval_cards" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "request_id" TEXT NOT NULL,
    "effect_id" INTEGER NOT NULL,
    "place" TEXT NOT NULL,
    "user_id" TEXT,
    CONSTRAINT "approval_cards_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "approval_requests" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "approval_requests_workspace_id_status_idx" ON "approval_requests"("workspace_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "approval_requests_workspace_id_number_key" ON "approval_requests"("workspace_id", "number");

-- CreateIndex
CREATE UNIQUE INDEX "approval_votes_request_id_user_id_key" ON "approval_votes"("request_id", "user_id");

-- CreateIndex
CREATE INDEX "approval_cards_request_id_idx" ON "approval_cards"("request_id");

