-- AlterTable
ALTER TABLE "users" ADD COLUMN "person_id" TEXT;

-- CreateTable
CREATE TABLE "link_codes" (
    "code" TEXT NOT NULL PRIMARY KEY,
    "user_id" TEXT NOT NULL,
    "expires_at" DATETIME NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE INDEX "link_codes_user_id_idx" ON "link_codes"("user_id");

-- CreateIndex
CREATE INDEX "users_person_id_idx" ON "users"("person_id");

