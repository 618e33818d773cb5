-- Archived environments can not come back under a unique name constraint that counts them;
-- going down forgets them (and, by cascade, the history kept for them).
DELETE FROM environments WHERE deleted_at IS NOT NULL;
DROP INDEX environments_tenant_id_name_key;
ALTER TABLE environments
    ADD CONSTRAINT environments_tenant_id_name_key UNIQUE (tenant_id, name);
ALTER TABLE environments DROP COLUMN deleted_at;
