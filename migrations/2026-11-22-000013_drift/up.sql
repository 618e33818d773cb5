-- Drift detection and incidents (docs/drift.md).

-- Why the environment has its drift status (the last check's error, "Git not configured", the
-- partial failures), and what the last check counted. Written with drift_status by every check.
ALTER TABLE environments
    ADD COLUMN drift_status_reason text,
    ADD COLUMN drift_summary       jsonb,
    -- the secret a Git push webhook signs with (Cipher output); never returned after creation
    ADD COLUMN git_webhook_secret_encrypted text;

-- A check records its outcome and the counts beside the ones the table already has.
ALTER TABLE drift_check_history
    DROP CONSTRAINT drift_check_history_check_type_check,
    ADD CONSTRAINT drift_check_history_check_type_check
        CHECK (check_type IN ('scheduled', 'manual', 'webhook', 'reconciliation')),
    ADD COLUMN status text NOT NULL DEFAULT 'UNKNOWN'
        CHECK (status IN ('IN_SYNC', 'DRIFT_DETECTED', 'UNTRACKED', 'DRIFT_INCIDENT_ACTIVE',
                          'DRIFT_INCIDENT_ACKNOWLEDGED', 'UNKNOWN', 'ERROR')),
    ADD COLUMN workflows_missing_in_runtime integer NOT NULL DEFAULT 0
        CHECK (workflows_missing_in_runtime >= 0),
    ADD COLUMN workflows_untracked integer NOT NULL DEFAULT 0 CHECK (workflows_untracked >= 0),
    -- some workflows or files could not be read; the counts cover the rest
    ADD COLUMN partial boolean NOT NULL DEFAULT false,
    ADD COLUMN incident_id uuid,
    ADD COLUMN details jsonb,
    ADD CONSTRAINT drift_check_history_incident_fkey FOREIGN KEY (tenant_id, incident_id)
        REFERENCES drift_incidents (tenant_id, id) ON DELETE SET NULL (incident_id);

-- At most one open incident per environment, whatever races between checks.
CREATE UNIQUE INDEX drift_incidents_one_open_per_environment
    ON drift_incidents (tenant_id, environment_id)
    WHERE status IN ('detected', 'acknowledged', 'stabilized', 'reconciled') AND NOT is_deleted;
-- The TTL scheduler reads open incidents with an expiry.
CREATE INDEX drift_incidents_open_expires_idx
    ON drift_incidents (tenant_id, expires_at)
    WHERE status IN ('detected', 'acknowledged', 'stabilized', 'reconciled');
