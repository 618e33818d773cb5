-- Issue 4: environment sync (n8n -> DB), repository sync (Git -> DB) and reconciliation.
-- Conventions of the core migration: tenant-scoped tables carry tenant_id with composite
-- foreign keys and get wfops_enable_tenant_rls(); statuses are text with CHECKs.

-- ---------------------------------------------------------------------------------------------
-- workflow_env_map: what the short-circuit of an environment sync compares
-- (docs/decisions/sync-short-circuit.md), and workflows n8n returned but that can not be parsed.
-- ---------------------------------------------------------------------------------------------
ALTER TABLE workflow_env_map
    -- n8n's versionId as last seen; changes on every save in n8n 1.x
    ADD COLUMN n8n_version_id text,
    -- n8n's active flag as last seen (not content: it never changes the hash)
    ADD COLUMN active boolean NOT NULL DEFAULT false,
    -- why the workflow could not be normalized (crates/diff); it then has no content hash
    ADD COLUMN parse_error text,
    ADD CONSTRAINT workflow_env_map_parse_error_has_no_hash
        CHECK (parse_error IS NULL OR env_content_hash IS NULL);

-- Which n8n workflows one environment-sync run has seen. A run that is retried resumes after
-- its last finished batch without fetching the earlier pages again, so "seen" must outlive the
-- attempt: at the end, mappings this run did not see become `missing`, and the rows are
-- deleted. sync_run_id lives in the job's checkpoint.
CREATE TABLE env_sync_seen (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    environment_id  uuid NOT NULL,
    sync_run_id     uuid NOT NULL,
    n8n_workflow_id text NOT NULL CHECK (length(n8n_workflow_id) > 0),
    PRIMARY KEY (environment_id, sync_run_id, n8n_workflow_id),
    CONSTRAINT env_sync_seen_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);
SELECT wfops_enable_tenant_rls('env_sync_seen');

-- ---------------------------------------------------------------------------------------------
-- canonical_workflow_git_state: the Git document itself, when it was committed, and why a file
-- could not be parsed (repository sync).
-- ---------------------------------------------------------------------------------------------
ALTER TABLE canonical_workflow_git_state
    ADD COLUMN git_workflow_data jsonb,
    ADD COLUMN git_commit_time timestamptz,
    ADD COLUMN parse_error text,
    -- the Git blob id of the file: equal ids are equal bytes, so a repository sync skips
    -- unchanged files without loading the stored document
    ADD COLUMN git_blob_sha text CHECK (git_blob_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    -- a file that can not be parsed has no Git version to compare with
    ADD CONSTRAINT canonical_workflow_git_state_parse_error_has_no_hash
        CHECK (parse_error IS NULL OR git_content_hash IS NULL),
    -- one file of an environment's folder belongs to one canonical workflow
    ADD CONSTRAINT canonical_workflow_git_state_environment_path_key
        UNIQUE (tenant_id, environment_id, git_path);

-- ---------------------------------------------------------------------------------------------
-- background_jobs: where a long job records how far it got, so that a retry resumes there.
-- ---------------------------------------------------------------------------------------------
ALTER TABLE background_jobs ADD COLUMN checkpoint jsonb;

-- ---------------------------------------------------------------------------------------------
-- Workflow documents are large (tens of kB, some hundreds) and highly repetitive; lz4 TOAST
-- compression is several times faster than the default pglz at a similar ratio. A server built
-- without lz4 keeps pglz.
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
    ALTER TABLE workflow_env_map ALTER COLUMN workflow_data SET COMPRESSION lz4;
    ALTER TABLE canonical_workflows ALTER COLUMN workflow_definition SET COMPRESSION lz4;
    ALTER TABLE canonical_workflow_git_state ALTER COLUMN git_workflow_data SET COMPRESSION lz4;
    ALTER TABLE workflow_hash_registry ALTER COLUMN workflow_payload SET COMPRESSION lz4;
EXCEPTION
    WHEN feature_not_supported OR invalid_parameter_value THEN
        RAISE NOTICE 'lz4 compression is not available on this server; keeping pglz';
END
$$;
