-- Machine access (client_credentials) only where an API offers it and an operator approved it.
-- Existing APIs offer no scope to machines until `latchkey api update --machine-scope` says so.

-- AlterTable
ALTER TABLE "api_scope" ADD COLUMN "machine" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "client_machine_scope" (
    "client_id" TEXT NOT NULL,
    "scope_id" TEXT NOT NULL,
    "approved_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "approved_by" TEXT NOT NULL,

    CONSTRAINT "client_machine_scope_pkey" PRIMARY KEY ("client_id","scope_id")
);

-- CreateIndex
CREATE INDEX "client_machine_scope_scope_id_idx" ON "client_machine_scope"("scope_id");

-- AddForeignKey
ALTER TABLE "client_machine_scope" ADD CONSTRAINT "client_machine_scope_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "client"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "client_machine_scope" ADD CONSTRAINT "client_machine_scope_scope_id_fkey" FOREIGN KEY ("scope_id") REFERENCES "api_scope"("id") ON DELETE CASCADE ON UPDATE CASCADE;
