-- The admin audit page (issue 14) pages newest first by id under each filter: one index per
-- filter column, ending in id, so a page is a short backward index scan even among 1,000,000
-- events. (The users search by e-mail prefix uses the unique e-mail index: Latchkey's databases
-- use the C collation, where a btree serves LIKE 'prefix%'.)
-- CreateIndex
CREATE INDEX "audit_event_type_id_idx" ON "audit_event"("type", "id");

-- CreateIndex
CREATE INDEX "audit_event_user_id_id_idx" ON "audit_event"("user_id", "id");

-- CreateIndex
CREATE INDEX "audit_event_actor_id_idx" ON "audit_event"("actor", "id");

-- CreateIndex
CREATE INDEX "audit_event_client_id_id_idx" ON "audit_event"("client_id", "id");
