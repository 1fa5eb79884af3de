-- Apps an operator marks first-party get the public subject (the account id) in ID tokens,
-- userinfo and access tokens, and every other app gets a pairwise subject (issue 13).
ALTER TABLE "client" ADD COLUMN "first_party" BOOLEAN NOT NULL DEFAULT false;
