-- AlterTable
ALTER TABLE "client" ADD COLUMN     "approval_pending" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "created_via" TEXT NOT NULL DEFAULT 'cli',
ADD COLUMN     "description" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "previous_secret_encrypted" TEXT,
ADD COLUMN     "previous_secret_expires_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "registration_token" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT,
    "max_uses" INTEGER,
    "uses" INTEGER NOT NULL DEFAULT 0,
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "registration_token_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "client_usage" (
    "client_id" TEXT NOT NULL,
    "day" DATE NOT NULL,
    "tokens_issued" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "client_usage_pkey" PRIMARY KEY ("client_id","day")
);

-- AddForeignKey
ALTER TABLE "client_usage" ADD CONSTRAINT "client_usage_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "client"("id") ON DELETE CASCADE ON UPDATE CASCADE;
