-- CreateTable
CREATE TABLE "data_migrations" (
    "name" TEXT NOT NULL,
    "applied_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "data_migrations_pkey" PRIMARY KEY ("name")
);

