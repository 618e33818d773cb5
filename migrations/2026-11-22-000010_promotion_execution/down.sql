DELETE FROM snapshots WHERE snapshot_type = 'pre_restore';
ALTER TABLE snapshots DROP CONSTRAINT snapshots_snapshot_type_check;
ALTER TABLE snapshots ADD CONSTRAINT snapshots_snapshot_type_check
    CHECK (snapshot_type IN ('pre_promotion', 'post_promotion', 'manual_backup'));

ALTER TABLE deployments DROP COLUMN IF EXISTS cancel_requested_at;

DROP INDEX deployment_workflows_deployment_position_key;
ALTER TABLE deployment_workflows
    DROP COLUMN rollback_error,
    DROP COLUMN rollback_outcome,
    DROP COLUMN target_content_hash,
    DROP COLUMN source_content_hash,
    DROP COLUMN target_workflow_id,
    DROP COLUMN action,
    DROP COLUMN position;
