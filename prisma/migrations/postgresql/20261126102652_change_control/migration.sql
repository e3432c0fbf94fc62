-- AlterTable
ALTER TABLE "approval_requests" ADD COLUMN     "flags" TEXT NOT NULL DEFAULT '[]',
ADD COLUMN     "hold_reason" TEXT,
ADD COLUMN     "subject_id" TEXT,
ADD COLUMN     "subject_type" TEXT;

-- CreateTable
CREATE TABLE "change_requests" (
    "id" TEXT NOT NULL,
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
    "window_start" TIMESTAMP(3),
    "window_end" TIMESTAMP(3),
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
    "deferred_at" TIMESTAMP(3),
    "channel_id" TEXT,
    "card_effect_id" INTEGER,
    "decided_at" TIMESTAMP(3),
    "started_at" TIMESTAMP(3),
    "implemented_at" TIMESTAMP(3),
    "review_due_at" TIMESTAMP(3),
    "reviewed_at" TIMESTAMP(3),
    "closed_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "change_requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "change_revisions" (
    "id" SERIAL NOT NULL,
    "change_id" TEXT NOT NULL,
    "field" TEXT NOT NULL,
    "before" TEXT,
    "after" TEXT,
    "by_id" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "change_revisions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "change_incident_links" (
    "id" SERIAL NOT NULL,
    "change_id" TEXT NOT NULL,
    "incident_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "by_id" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "change_incident_links_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "change_freezes" (
    "id" TEXT NOT NULL,
    "workspace_id" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "starts_at" TIMESTAMP(3) NOT NULL,
    "ends_at" TIMESTAMP(3) NOT NULL,
    "reason" TEXT NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL,
    "lifted_at" TIMESTAMP(3),
    "lifted_by" TEXT,

    CONSTRAINT "change_freezes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "change_cards" (
    "id" SERIAL NOT NULL,
    "change_id" TEXT NOT NULL,
    "effect_id" INTEGER NOT NULL,
    "place" TEXT NOT NULL,
    "user_id" TEXT,

    CONSTRAINT "change_cards_pkey" PRIMARY KEY ("id")
);

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

-- CreateIndex
CREATE INDEX "approval_requests_subject_type_subject_id_idx" ON "approval_requests"("subject_type", "subject_id");

-- AddForeignKey
ALTER TABLE "change_revisions" ADD CONSTRAINT "change_revisions_change_id_fkey" FOREIGN KEY ("change_id") REFERENCES "change_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "change_incident_links" ADD CONSTRAINT "change_incident_links_change_id_fkey" FOREIGN KEY ("change_id") REFERENCES "change_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "change_cards" ADD CONSTRAINT "change_cards_change_id_fkey" FOREIGN KEY ("change_id") REFERENCES "change_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

