ALTER TABLE workflow_hash_registry ALTER COLUMN workflow_payload SET COMPRESSION default;
ALTER TABLE canonical_workflows ALTER COLUMN workflow_definition SET COMPRESSION default;
ALTER TABLE workflow_env_map ALTER COLUMN workflow_data SET COMPRESSION default;

ALTER TABLE background_jobs DROP COLUMN IF EXISTS checkpoint;

ALTER TABLE canonical_workflow_git_state
    DROP CONSTRAINT IF EXISTS canonical_workflow_git_state_environment_path_key,
    DROP CONSTRAINT IF EXISTS canonical_workflow_git_state_parse_error_has_no_hash,
    DROP COLUMN IF EXISTS git_blob_sha,
    DROP COLUMN IF EXISTS parse_error,
    DROP COLUMN IF EXISTS git_commit_time,
    DROP COLUMN IF EXISTS git_workflow_data;

DROP TABLE IF EXISTS env_sync_seen;

ALTER TABLE workflow_env_map
    DROP CONSTRAINT IF EXISTS workflow_env_map_parse_error_has_no_hash,
    DROP COLUMN IF EXISTS parse_error,
    DROP COLUMN IF EXISTS active,
    DROP COLUMN IF EXISTS n8n_version_id;
