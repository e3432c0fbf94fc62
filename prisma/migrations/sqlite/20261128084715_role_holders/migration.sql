-- CreateIndex
CREATE INDEX "role_grants_workspace_id_role_user_id_idx" ON "role_grants"("workspace_id", "role", "user_id");

