-- CreateTable
CREATE TABLE "incidents" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "workspace_id" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "services" TEXT NOT NULL DEFAULT '[]',
    "severity" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "is_private" BOOLEAN NOT NULL DEFAULT false,
    "reporter_id" TEXT NOT NULL,
    "channel_id" TEXT,
    "channel_name" TEXT,
    "card_effect_id" INTEGER,
    "card_ts" TEXT,
    "public_text" TEXT,
    "public_updated_at" DATETIME,
    "summary" TEXT,
    "postmortem" TEXT,
    "postmortem_at" DATETIME,
    "declared_at" DATETIME NOT NULL,
    "acknowledged_at" DATETIME,
    "last_update_at" DATETIME NOT NULL,
    "resolved_at" DATETIME,
    "closed_at" DATETIME,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "incident_roles" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "incident_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "assigned_by" TEXT NOT NULL,
    "assumed_at" DATETIME NOT NULL,
    "relieved_at" DATETIME,
    "relieved_by" TEXT,
    CONSTRAINT "incident_roles_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "timeline_entries" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "incident_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "actor_id" TEXT,
    "text" TEXT NOT NULL,
    "at" DATETIME NOT NULL,
    "key" TEXT,
    "permalink" TEXT,
    "removed" BOOLEAN NOT NULL DEFAULT false,
    "edited_at" DATETIME,
    "internal" BOOLEAN NOT NULL DEFAULT true,
    CONSTRAINT "timeline_entries_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "incident_members" (
    "incident_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "added_at" DATETIME NOT NULL,

    PRIMARY KEY ("incident_id", "user_id"),
    CONSTRAINT "incident_members_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "action_items" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "incident_id" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "owner_id" TEXT,
    "due_date" TEXT,
    "status" TEXT NOT NULL DEFAULT 'open',
    "created_by" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL,
    "done_at" DATETIME,
    "done_by" TEXT,
    CONSTRAINT "action_items_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "nudges" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "workspace_id" TEXT NOT NULL,
    "subject_type" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "level" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'open',
    "text" TEXT NOT NULL,
    "sent_at" DATETIME NOT NULL,
    "acknowledged_by" TEXT,
    "acknowledged_at" DATETIME,
    "snoozed_until" DATETIME,
    "channel_effect_id" INTEGER
);

-- CreateIndex
CREATE INDEX "incidents_workspace_id_status_idx" ON "incidents"("workspace_id", "status");

-- CreateIndex
CREATE INDEX "incidents_channel_id_idx" ON "incidents"("channel_id");

-- CreateIndex
CREATE UNIQUE INDEX "incidents_workspace_id_number_key" ON "incidents"("workspace_id", "number");

-- CreateIndex
CREATE INDEX "incident_roles_incident_id_role_idx" ON "incident_roles"("incident_id", "role");

-- CreateIndex
CREATE INDEX "timeline_entries_incident_id_at_idx" ON "timeline_entries"("incident_id", "at");

-- CreateIndex
CREATE UNIQUE INDEX "timeline_entries_incident_id_key_key" ON "timeline_entries"("incident_id", "key");

-- CreateIndex
CREATE INDEX "incident_members_user_id_idx" ON "incident_members"("user_id");

-- CreateIndex
CREATE INDEX "action_items_owner_id_status_idx" ON "action_items"("owner_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "action_items_incident_id_number_key" ON "action_items"("incident_id", "number");

-- CreateIndex
CREATE INDEX "nudges_subject_type_subject_id_kind_idx" ON "nudges"("subject_type", "subject_id", "kind");

