-- CreateIndex
CREATE INDEX "incidents_workspace_id_resolved_at_idx" ON "incidents"("workspace_id", "resolved_at");

-- CreateIndex
CREATE INDEX "approval_requests_workspace_id_requester_id_created_at_idx" ON "approval_requests"("workspace_id", "requester_id", "created_at");

