DROP INDEX IF EXISTS drift_incidents_open_expires_idx;
DROP INDEX IF EXISTS drift_incidents_one_open_per_environment;
DELETE FROM drift_check_history WHERE check_type NOT IN ('scheduled', 'manual');
ALTER TABLE drift_check_history
    DROP CONSTRAINT IF EXISTS drift_check_history_incident_fkey,
    DROP COLUMN IF EXISTS details,
    DROP COLUMN IF EXISTS incident_id,
    DROP COLUMN IF EXISTS partial,
    DROP COLUMN IF EXISTS workflows_untracked,
    DROP COLUMN IF EXISTS workflows_missing_in_runtime,
    DROP COLUMN IF EXISTS status,
    DROP CONSTRAINT drift_check_history_check_type_check,
    ADD CONSTRAINT drift_check_history_check_type_check CHECK (check_type IN ('scheduled', 'manual'));
ALTER TABLE environments
    DROP COLUMN IF EXISTS git_webhook_secret_encrypted,
    DROP COLUMN IF EXISTS drift_summary,
    DROP COLUMN IF EXISTS drift_status_reason;
