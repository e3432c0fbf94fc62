-- CreateTable
CREATE TABLE "workspaces" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "platform" TEXT NOT NULL,
    "external_id" TEXT NOT NULL,
    "name" TEXT,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "users" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "workspace_id" TEXT NOT NULL,
    "external_id" TEXT NOT NULL,
    "name" TEXT,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL,
    CONSTRAINT "users_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "role_grants" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "workspace_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "granted_by" TEXT,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "role_grants_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "role_grants_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "counters" (
    "workspace_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "value" INTEGER NOT NULL DEFAULT 0,

    PRIMARY KEY ("workspace_id", "kind"),
    CONSTRAINT "counters_workspace_id_fkey" FOREIGN KEY ("workspace_id") REFERENCES "workspaces" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "audit_entries" (
    "seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "workspace_id" TEXT,
    "actor_id" TEXT NOT NULL,
    "actor_name" TEXT,
    "platform" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "subject_type" TEXT,
    "subject_id" TEXT,
    "before" TEXT,
    "after" TEXT,
    "reason" TEXT,
    "flags" TEXT,
    "request_id" TEXT,
    "created_at" DATETIME NOT NULL,
    "prev_hash" TEXT NOT NULL,
    "hash" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "outbox" (
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
    "done_at" DATETIME
);

-- CreateTable
CREATE TABLE "timers" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "workspace_id" TEXT,
    "kind" TEXT NOT NULL,
    "subject_type" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "payload" TEXT NOT NULL DEFAULT '{}',
    "due_at" DATETIME NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "lease_until" DATETIME,
    "leased_by" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "fired_at" DATETIME,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "processed_requests" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "response" TEXT,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE UNIQUE INDEX "workspaces_platform_external_id_key" ON "workspaces"("platform", "external_id");

-- CreateIndex
CREATE UNIQUE INDEX "users_workspace_id_external_id_key" ON "users"("workspace_id", "external_id");

-- CreateIndex
CREATE UNIQUE INDEX "role_grants_workspace_id_user_id_role_key" ON "role_grants"("workspace_id", "user_id", "role");

-- CreateIndex
CREATE UNIQUE INDEX "audit_entries_hash_key" ON "audit_entries"("hash");

-- CreateIndex
CREATE INDEX "audit_entries_workspace_id_subject_type_subject_id_idx" ON "audit_entries"("workspace_id", "subject_type", "subject_id");

-- CreateIndex
CREATE INDEX "audit_entries_created_at_idx" ON "audit_entries"("created_at");

-- CreateIndex
CREATE INDEX "outbox_status_next_attempt_at_idx" ON "outbox"("status", "next_attempt_at");

-- CreateIndex
CREATE INDEX "outbox_depends_on_id_idx" ON "outbox"("depends_on_id");

-- CreateIndex
CREATE UNIQUE INDEX "timers_key_key" ON "timers"("key");

-- CreateIndex
CREATE INDEX "timers_status_due_at_idx" ON "timers"("status", "due_at");

-- CreateIndex
CREATE INDEX "timers_subject_type_subject_id_idx" ON "timers"("subject_type", "subject_id");


-- Audit entries are append-only: the database itself refuses UPDATE and DELETE.
CREATE TRIGGER "audit_entries_no_update" BEFORE UPDATE ON "audit_entries"
BEGIN
  SELECT RAISE(ABORT, 'audit_entries is append-only: UPDATE refused');
END;
CREATE TRIGGER "audit_entries_no_delete" BEFORE DELETE ON "audit_entries"
BEGIN
  SELECT RAISE(ABORT, 'audit_entries is append-only: DELETE refused');
END;
