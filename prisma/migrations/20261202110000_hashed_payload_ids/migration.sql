-- Bearer values in "oidc_payload" are kept under their SHA-256 in base64url (as computed by
-- createHash sha256 digest base64url in Node) and no longer inside the payload
-- (src/storage/stored-ids.ts). Grants keep their id (a reference, not a credential). Initial
-- and registration access tokens were already stored this way.
-- sha256(bytea) is built into PostgreSQL 11 and later, and into PGlite: no extension needed.
-- (No semicolons or quotes in these comments: Prisma splits the script into statements.)

-- Interactions: their own uid out of the resume URL, the session cookie value out, and the
-- pushed request or device code they continue kept as the new keys of those rows.
UPDATE "oidc_payload"
   SET "payload" = jsonb_set("payload", '{returnTo}', to_jsonb(replace("payload"->>'returnTo', "id", '#uid#')))
 WHERE "model" = 'Interaction' AND jsonb_typeof("payload"->'returnTo') = 'string';

UPDATE "oidc_payload"
   SET "payload" = "payload" #- '{session,cookie}'
 WHERE "model" = 'Interaction';

UPDATE "oidc_payload"
   SET "payload" = jsonb_set("payload", '{parJti}',
         to_jsonb(translate(rtrim(encode(sha256(convert_to("payload"->>'parJti', 'UTF8')), 'base64'), '='), '+/', '-_')))
 WHERE "model" = 'Interaction' AND jsonb_typeof("payload"->'parJti') = 'string';

UPDATE "oidc_payload"
   SET "payload" = jsonb_set("payload", '{deviceCode}',
         to_jsonb(translate(rtrim(encode(sha256(convert_to("payload"->>'deviceCode', 'UTF8')), 'base64'), '='), '+/', '-_')))
 WHERE "model" = 'Interaction' AND jsonb_typeof("payload"->'deviceCode') = 'string';

-- Every other row keyed by a bearer value: refresh and opaque access tokens, codes, sessions,
-- interactions, pushed requests, replay ids, and the short-lived rows of Latchkey itself.
UPDATE "oidc_payload"
   SET "id" = translate(rtrim(encode(sha256(convert_to("id", 'UTF8')), 'base64'), '='), '+/', '-_'),
       "user_code" = translate(rtrim(encode(sha256(convert_to("user_code", 'UTF8')), 'base64'), '='), '+/', '-_'),
       "payload" = "payload" - 'jti'
 WHERE "model" NOT IN ('Grant', 'Client', 'InitialAccessToken', 'RegistrationAccessToken');
