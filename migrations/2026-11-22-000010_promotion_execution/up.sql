-- Promotion execution (docs/promotion.md#execution): what each deployed workflow became in the
-- target, so that a rollback knows what to restore or delete and a crash can be recovered.

-- The order a workflow was written in, what was done to the target (created or updated), its id
-- in the target, the content hashes on both sides, and what the rollback did to it.
ALTER TABLE deployment_workflows
    ADD COLUMN position            integer CHECK (position >= 0),
    ADD COLUMN action              text CHECK (action IN ('created', 'updated')),
    ADD COLUMN target_workflow_id  text CHECK (length(target_workflow_id) > 0),
    ADD COLUMN source_content_hash text CHECK (source_content_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN target_content_hash text CHECK (target_content_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN rollback_outcome    text
        CHECK (rollback_outcome IN ('restored', 'recreated', 'deleted', 'already_gone', 'failed')),
    ADD COLUMN rollback_error      text;
CREATE UNIQUE INDEX deployment_workflows_deployment_position_key
    ON deployment_workflows (tenant_id, deployment_id, position) WHERE position IS NOT NULL;

-- A cancel asked while a deployment runs: the engine finishes the workflow it is writing, then
-- rolls back. IF NOT EXISTS: the API's cancel endpoint may add the same column.
ALTER TABLE deployments ADD COLUMN IF NOT EXISTS cancel_requested_at timestamptz;

-- A restore first snapshots the environment as it is, so that the restore can itself be undone.
ALTER TABLE snapshots DROP CONSTRAINT snapshots_snapshot_type_check;
ALTER TABLE snapshots ADD CONSTRAINT snapshots_snapshot_type_check
    CHECK (snapshot_type IN ('pre_promotion', 'post_promotion', 'manual_backup', 'pre_restore'));
