-- Wrong second-factor codes in a row, at any pace, until a success (issue 11, item 9).
ALTER TABLE "second_factor_throttle" ADD COLUMN "consecutive" INTEGER NOT NULL DEFAULT 0;
