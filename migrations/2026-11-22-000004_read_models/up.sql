-- Read models of the API (crates/db/src/views.rs): indexes for the cross-environment matrix
-- and the canonical list, whose pages must stay fast at thousands of workflows
-- (docs/BENCHMARKS.md, "Matrix"). Every index leads with tenant_id, which row-level security
-- adds to every query.

-- pages in name order (case-insensitive) and in update order over the live workflows
CREATE INDEX canonical_workflows_live_name_idx
    ON canonical_workflows (tenant_id, lower(name), id) WHERE deleted_at IS NULL;
CREATE INDEX canonical_workflows_live_updated_idx
    ON canonical_workflows (tenant_id, updated_at, id) WHERE deleted_at IS NULL;

-- `?status=` without an environment: the canonical workflows having a mapping in that status
CREATE INDEX workflow_env_map_tenant_status_canonical_idx
    ON workflow_env_map (tenant_id, status, canonical_id) WHERE canonical_id IS NOT NULL;

-- `?diff_status=` (against Git, target NULL), with or without an environment
CREATE INDEX workflow_diff_state_vs_git_status_idx
    ON workflow_diff_state (tenant_id, diff_status, canonical_id, source_environment_id)
    WHERE target_environment_id IS NULL;
