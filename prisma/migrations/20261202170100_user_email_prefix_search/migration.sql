-- The users search by e-mail prefix (src/accounts/user-queries.ts listUsers) in any collation.
-- The unique e-mail index serves `LIKE 'prefix%'` and `ORDER BY email` together only under the
-- C collation, and an operator's PostgreSQL database is often en_US.UTF-8, where the search became a
-- sequential scan of every user (76 ms among 100,000 on PostgreSQL under ICU en-US). E-mail
-- addresses are stored lower-cased and compared exactly, so byte order (C) is all they need:
-- the column itself takes the C collation, whatever the database's default, and its unique index
-- is rebuilt with it. (Prisma's schema does not describe column collations, so schema.prisma is
-- unchanged. A text_pattern_ops index would have done the same, but Prisma's drift check reads
-- its operator class back as a different index.)
ALTER TABLE "user" ALTER COLUMN "email" TYPE TEXT COLLATE "C";
