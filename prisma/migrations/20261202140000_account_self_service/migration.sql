-- The account page (issue 13): signed-in devices, when each app last used an account, pending e-mail changes.
-- CreateTable
CREATE TABLE "session_device" (
    "id" TEXT NOT NULL,
    "session_uid" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "user_agent" TEXT NOT NULL DEFAULT '',
    "ip" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "session_device_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "app_last_used" (
    "user_id" TEXT NOT NULL,
    "client_id" TEXT NOT NULL,
    "last_used_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "app_last_used_pkey" PRIMARY KEY ("user_id","client_id")
);

-- CreateTable
CREATE TABLE "email_change" (
    "token_hash" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "new_email" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "email_change_pkey" PRIMARY KEY ("token_hash")
);

-- CreateIndex
CREATE UNIQUE INDEX "session_device_session_uid_key" ON "session_device"("session_uid");

-- CreateIndex
CREATE INDEX "session_device_user_id_idx" ON "session_device"("user_id");

-- CreateIndex
CREATE INDEX "email_change_user_id_idx" ON "email_change"("user_id");
