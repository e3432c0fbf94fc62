-- CreateTable
CREATE TABLE "incidents" (
    "id" TEXT NOT NULL,
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
    "public_updated_at" TIMESTAMP(3),
    "summary" TEXT,
    "postmortem" TEXT,
    "postmortem_at" TIMESTAMP(3),
    "declared_at" TIMESTAMP(3) NOT NULL,
    "acknowledged_at" TIMESTAMP(3),
    "last_update_at" TIMESTAMP(3) NOT NULL,
    "resolved_at" TIMESTAMP(3),
    "closed_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "incidents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "incident_roles" (
    "id" SERIAL NOT NULL,
    "incident_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "assigned_by" TEXT NOT NULL,
    "assumed_at" TIMESTAMP(3) NOT NULL,
    "relieved_at" TIMESTAMP(3),
    "relieved_by" TEXT,

    CONSTRAINT "incident_roles_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "timeline_entries" (
    "id" SERIAL NOT NULL,
    "incident_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "actor_id" TEXT,
    "text" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "key" TEXT,
    "permalink" TEXT,
    "removed" BOOLEAN NOT NULL DEFAULT false,
    "edited_at" TIMESTAMP(3),
    "internal" BOOLEAN NOT NULL DEFAULT true,

    CONSTRAINT "timeline_entries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "incident_members" (
    "incident_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "added_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "incident_members_pkey" PRIMARY KEY ("incident_id","user_id")
);

-- CreateTable
CREATE TABLE "action_items" (
    "id" TEXT NOT NULL,
    "incident_id" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "owner_id" TEXT,
    "due_date" TEXT,
    "status" TEXT NOT NULL DEFAULT 'open',
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL,
    "done_at" TIMESTAMP(3),
    "done_by" TEXT,

    CONSTRAINT "action_items_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "nudges" (
    "id" TEXT NOT NULL,
    "workspace_id" TEXT NOT NULL,
    "subject_type" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "level" INTEGER NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'open',
    "text" TEXT NOT NULL,
    "sent_at" TIMESTAMP(3) NOT NULL,
    "acknowledged_by" TEXT,
    "acknowledged_at" TIMESTAMP(3),
    "snoozed_until" TIMESTAMP(3),
    "channel_effect_id" INTEGER,

    CONSTRAINT "nudges_pkey" PRIMARY KEY ("id")
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

-- AddForeignKey
ALTER TABLE "incident_roles" ADD CONSTRAINT "incident_roles_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "timeline_entries" ADD CONSTRAINT "timeline_entries_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "incident_members" ADD CONSTRAINT "incident_members_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "action_items" ADD CONSTRAINT "action_items_incident_id_fkey" FOREIGN KEY ("incident_id") REFERENCES "incidents"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

