-- Deleting an environment archives it (docs/decisions/environment-deletion.md): the row stays,
-- marked with deleted_at, so that the history pointing at it (deployments through promotions,
-- snapshots, drift incidents and checks, executions, jobs) keeps its foreign keys instead of
-- vanishing by ON DELETE CASCADE. Lists and lookups of the application skip archived rows.
ALTER TABLE environments ADD COLUMN deleted_at timestamptz;

-- A name is unique among the live environments of a tenant only, so that an archived
-- environment's name can be used again. Same name as the constraint it replaces: the API maps
-- a violation of it to "an environment with this name exists".
ALTER TABLE environments DROP CONSTRAINT environments_tenant_id_name_key;
CREATE UNIQUE INDEX environments_tenant_id_name_key
    ON environments (tenant_id, name) WHERE deleted_at IS NULL;
