-- A signing key is published (in /jwks) from its creation and signs only from "activates_at",
-- so verifiers that cached the key set before a rotation have fetched the new key before the
-- first token it signs reaches them (KEY_PUBLISH_DELAY_SECONDS). NULL: active since creation.
ALTER TABLE "signing_key" ADD COLUMN "activates_at" TIMESTAMPTZ(3);

-- The encryption key check row (src/crypto/key-check.ts) lives in "secret", no change needed.
