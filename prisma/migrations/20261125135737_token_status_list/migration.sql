-- CreateTable
CREATE TABLE "token_status" (
    "reference" TEXT NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "client_id" TEXT NOT NULL,
    "account_id" TEXT,
    "grant_id" TEXT,
    "valid_until" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "token_status_pkey" PRIMARY KEY ("reference")
);

-- CreateIndex
CREATE UNIQUE INDEX "token_status_seq_key" ON "token_status"("seq");

-- CreateIndex
CREATE INDEX "token_status_valid_until_idx" ON "token_status"("valid_until");
