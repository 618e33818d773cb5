-- WorkflowOps core schema: the data model (background_jobs and the scheduler tables
-- come with migration 000002_job_queue), the application role and row-level security.
--
-- Conventions (docs/ARCHITECTURE.md):
--   * every table carries `tenant_id uuid not null` (tenants itself is isolated by its id);
--   * referenced tables have `unique (tenant_id, id)` and references are composite foreign keys
--     `(tenant_id, x_id) references x (tenant_id, id)`, so a row can never point into another
--     tenant even if application code passes a foreign id;
--   * every status column is `text` with a CHECK constraint (new values need a migration, not an
--     enum rewrite), every time is `timestamptz`, every document is `jsonb`;
--   * RLS is ENABLEd and FORCEd with the policy `tenant_isolation` on every table;
--   * optional references to users use `ON DELETE SET NULL (column)` (PostgreSQL 15+), which
--     clears only the user column and keeps `tenant_id`.

-- ---------------------------------------------------------------------------------------------
-- The application role. Roles are cluster-wide and tests migrate many databases side by side,
-- so creation must be idempotent and must tolerate a concurrent creator.
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wfops_app') THEN
        CREATE ROLE wfops_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL;
END
$$;

-- The migrating role must be able to `SET ROLE wfops_app` on every pooled connection.
GRANT wfops_app TO CURRENT_USER;

-- Functions are executable by PUBLIC by default; nothing of ours should be.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Helpers used by this and later migrations.
-- ---------------------------------------------------------------------------------------------

-- Enables and forces row-level security with the one tenant policy. Later migrations call it
-- for their tenant-scoped tables so that every table gets exactly the same policy text.
CREATE FUNCTION wfops_enable_tenant_rls(p_table regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format(
        'CREATE POLICY tenant_isolation ON %s '
        'USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) '
        'WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)',
        p_table);
END
$$;
REVOKE ALL ON FUNCTION wfops_enable_tenant_rls(regclass) FROM PUBLIC;

-- Keeps updated_at true without every query remembering to set it; an explicit new value wins.
CREATE FUNCTION wfops_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION wfops_touch_updated_at() FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- 3.1 Core tables
-- ---------------------------------------------------------------------------------------------
CREATE TABLE tenants (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text NOT NULL CHECK (length(btrim(name)) > 0),
    slug              text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    subscription_tier text NOT NULL DEFAULT 'free'
                      CHECK (subscription_tier IN ('free', 'pro', 'agency', 'enterprise')),
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email             text NOT NULL CHECK (email = btrim(email) AND email ~ '^[^@\s]+@[^@\s]+$'),
    display_name      text,
    role              text NOT NULL DEFAULT 'viewer' CHECK (role IN ('viewer', 'developer', 'admin')),
    -- argon2id PHC string; NULL for users who can not log in with a password.
    password_hash     text CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    is_active         boolean NOT NULL DEFAULT true,
    is_platform_admin boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_login_at     timestamptz,
    CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id)
);
-- One account per email address across the whole installation: login resolves the tenant.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(btrim(name)) > 0),
    -- the public part of the key, used to find the row before the tenant is known
    key_prefix   text NOT NULL,
    -- hex SHA-256 of the secret part; the key itself is shown once and never stored
    secret_hash  text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
    role         text NOT NULL CHECK (role IN ('viewer', 'developer', 'admin')),
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_keys_key_prefix_key UNIQUE (key_prefix),
    CONSTRAINT api_keys_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT api_keys_created_by_fkey FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX api_keys_tenant_id_created_at_idx ON api_keys (tenant_id, created_at DESC);

-- JWTs revoked before their expiry (logout, stolen token). Rows are useless after expires_at.
CREATE TABLE revoked_tokens (
    jti        text NOT NULL CHECK (length(jti) BETWEEN 1 AND 128),
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

CREATE TABLE environments (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id              uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                   text NOT NULL CHECK (length(btrim(name)) > 0),
    url                    text NOT NULL CHECK (url ~ '^https?://'),
    provider               text NOT NULL DEFAULT 'n8n' CHECK (provider IN ('n8n', 'make')),
    environment_class      text NOT NULL DEFAULT 'dev'
                           CHECK (environment_class IN ('dev', 'staging', 'production')),
    -- AES-256-GCM, see crates/config Cipher; never returned by the API
    api_key_encrypted      text,
    drift_handling_mode    text NOT NULL DEFAULT 'warn_only'
                           CHECK (drift_handling_mode IN ('warn_only', 'manual_override', 'require_attestation')),
    git_repo_url           text,
    git_branch             text NOT NULL DEFAULT 'main' CHECK (length(btrim(git_branch)) > 0),
    -- folder under workflows/ in the repository, e.g. 'dev'
    git_folder             text,
    git_token_encrypted    text,
    drift_status           text NOT NULL DEFAULT 'UNKNOWN'
                           CHECK (drift_status IN ('IN_SYNC', 'DRIFT_DETECTED', 'UNTRACKED',
                                                   'DRIFT_INCIDENT_ACTIVE', 'DRIFT_INCIDENT_ACKNOWLEDGED',
                                                   'UNKNOWN', 'ERROR')),
    last_heartbeat_at      timestamptz,
    last_sync_at           timestamptz,
    last_drift_check_at    timestamptz,
    last_drift_detected_at timestamptz,
    -- foreign key added after drift_incidents exists
    active_drift_incident_id uuid,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT environments_tenant_id_name_key UNIQUE (tenant_id, name),
    CONSTRAINT environments_tenant_id_id_key UNIQUE (tenant_id, id)
);

-- Per-environment key/value pairs substituted into workflows during promotion (docs/promotion.md).
CREATE TABLE environment_variables (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    environment_id uuid NOT NULL,
    key            text NOT NULL CHECK (key ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    value          text NOT NULL,
    -- when true, value holds Cipher output and is never returned by the API
    is_secret      boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT environment_variables_environment_id_key_key UNIQUE (environment_id, key),
    CONSTRAINT environment_variables_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX environment_variables_tenant_id_environment_id_idx
    ON environment_variables (tenant_id, environment_id);

-- Which credential of the target environment replaces a credential of the source environment
-- when a workflow is promoted (docs/promotion.md).
CREATE TABLE credential_mappings (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id              uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source_environment_id  uuid NOT NULL,
    target_environment_id  uuid NOT NULL,
    credential_type        text NOT NULL CHECK (length(btrim(credential_type)) > 0),
    source_credential_id   text NOT NULL,
    source_credential_name text NOT NULL,
    target_credential_id   text NOT NULL,
    target_credential_name text NOT NULL,
    created_by             uuid,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT credential_mappings_distinct_environments CHECK (source_environment_id <> target_environment_id),
    CONSTRAINT credential_mappings_source_key
        UNIQUE (tenant_id, source_environment_id, target_environment_id, credential_type, source_credential_id),
    CONSTRAINT credential_mappings_source_environment_fkey FOREIGN KEY (tenant_id, source_environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT credential_mappings_target_environment_fkey FOREIGN KEY (tenant_id, target_environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT credential_mappings_created_by_fkey FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX credential_mappings_target_environment_idx
    ON credential_mappings (tenant_id, target_environment_id);

-- ---------------------------------------------------------------------------------------------
-- 3.2 Canonical workflow tables
-- ---------------------------------------------------------------------------------------------
CREATE TABLE canonical_workflows (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    canonical_slug      text NOT NULL CHECK (canonical_slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name                text NOT NULL,
    content_hash        text CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    workflow_definition jsonb,
    git_file_path       text,
    provider            text NOT NULL DEFAULT 'n8n' CHECK (provider IN ('n8n', 'make')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    CONSTRAINT canonical_workflows_tenant_id_canonical_slug_key UNIQUE (tenant_id, canonical_slug),
    CONSTRAINT canonical_workflows_tenant_id_id_key UNIQUE (tenant_id, id)
);
CREATE INDEX canonical_workflows_tenant_id_content_hash_idx ON canonical_workflows (tenant_id, content_hash);

CREATE TABLE workflow_env_map (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- NULL while the workflow is untracked
    canonical_id     uuid,
    environment_id   uuid NOT NULL,
    n8n_workflow_id  text NOT NULL CHECK (length(n8n_workflow_id) > 0),
    status           text NOT NULL DEFAULT 'untracked'
                     CHECK (status IN ('linked', 'untracked', 'missing', 'ignored', 'deleted')),
    env_content_hash text CHECK (env_content_hash ~ '^[0-9a-f]{64}$'),
    git_content_hash text CHECK (git_content_hash ~ '^[0-9a-f]{64}$'),
    n8n_updated_at   timestamptz,
    workflow_name    text,
    workflow_data    jsonb,
    linked_at        timestamptz,
    last_env_sync_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_env_map_linked_has_canonical CHECK (status <> 'linked' OR canonical_id IS NOT NULL),
    CONSTRAINT workflow_env_map_environment_id_n8n_workflow_id_key UNIQUE (environment_id, n8n_workflow_id),
    CONSTRAINT workflow_env_map_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT workflow_env_map_canonical_fkey FOREIGN KEY (tenant_id, canonical_id)
        REFERENCES canonical_workflows (tenant_id, id),
    CONSTRAINT workflow_env_map_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX workflow_env_map_canonical_id_environment_id_key
    ON workflow_env_map (canonical_id, environment_id) WHERE canonical_id IS NOT NULL;
CREATE INDEX workflow_env_map_tenant_environment_status_idx
    ON workflow_env_map (tenant_id, environment_id, status);
CREATE INDEX workflow_env_map_tenant_canonical_idx ON workflow_env_map (tenant_id, canonical_id);
CREATE INDEX workflow_env_map_tenant_env_content_hash_idx ON workflow_env_map (tenant_id, env_content_hash);

CREATE TABLE canonical_workflow_git_state (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    canonical_id     uuid NOT NULL,
    environment_id   uuid NOT NULL,
    git_commit_sha   text CHECK (git_commit_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    git_content_hash text CHECK (git_content_hash ~ '^[0-9a-f]{64}$'),
    git_path         text NOT NULL CHECK (length(git_path) > 0),
    last_synced_at   timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, canonical_id, environment_id),
    CONSTRAINT canonical_workflow_git_state_canonical_fkey FOREIGN KEY (tenant_id, canonical_id)
        REFERENCES canonical_workflows (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT canonical_workflow_git_state_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX canonical_workflow_git_state_environment_idx
    ON canonical_workflow_git_state (tenant_id, environment_id);

CREATE TABLE workflow_hash_registry (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    content_hash     text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    canonical_id     uuid NOT NULL,
    -- the full normalized workflow, compared on a hash hit to detect collisions (docs/sync-and-identity.md#auto-link)
    workflow_payload jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, content_hash),
    CONSTRAINT workflow_hash_registry_canonical_fkey FOREIGN KEY (tenant_id, canonical_id)
        REFERENCES canonical_workflows (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_hash_registry_canonical_idx ON workflow_hash_registry (tenant_id, canonical_id);

-- Reconciliation output (docs/sync-and-identity.md#reconciliation): the diff status of one canonical workflow between a source
-- environment and a target environment, or between the source and Git when the target is NULL.
CREATE TABLE workflow_diff_state (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id             uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    canonical_id          uuid NOT NULL,
    source_environment_id uuid NOT NULL,
    target_environment_id uuid,
    diff_status           text NOT NULL
                          CHECK (diff_status IN ('unchanged', 'modified', 'added', 'target_only',
                                                 'conflict', 'target_hotfix')),
    source_content_hash   text CHECK (source_content_hash ~ '^[0-9a-f]{64}$'),
    target_content_hash   text CHECK (target_content_hash ~ '^[0-9a-f]{64}$'),
    git_content_hash      text CHECK (git_content_hash ~ '^[0-9a-f]{64}$'),
    computed_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_diff_state_distinct_environments
        CHECK (target_environment_id IS NULL OR source_environment_id <> target_environment_id),
    -- NULLS NOT DISTINCT: one "vs Git" row per (canonical, source), too
    CONSTRAINT workflow_diff_state_pair_key
        UNIQUE NULLS NOT DISTINCT (tenant_id, canonical_id, source_environment_id, target_environment_id),
    CONSTRAINT workflow_diff_state_canonical_fkey FOREIGN KEY (tenant_id, canonical_id)
        REFERENCES canonical_workflows (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT workflow_diff_state_source_environment_fkey FOREIGN KEY (tenant_id, source_environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT workflow_diff_state_target_environment_fkey FOREIGN KEY (tenant_id, target_environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_diff_state_pair_status_idx
    ON workflow_diff_state (tenant_id, source_environment_id, target_environment_id, diff_status);

-- ---------------------------------------------------------------------------------------------
-- 3.3 Promotion and deployment tables
-- ---------------------------------------------------------------------------------------------
CREATE TABLE pipelines (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider    text NOT NULL DEFAULT 'n8n' CHECK (provider IN ('n8n', 'make')),
    name        text NOT NULL CHECK (length(btrim(name)) > 0),
    description text,
    stages      jsonb NOT NULL DEFAULT '[]'::jsonb,
    is_active   boolean NOT NULL DEFAULT true,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pipelines_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT pipelines_created_by_fkey FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);

CREATE TABLE snapshots (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    environment_id uuid NOT NULL,
    snapshot_type  text NOT NULL CHECK (snapshot_type IN ('pre_promotion', 'post_promotion', 'manual_backup')),
    workflows      jsonb NOT NULL,
    workflow_count integer NOT NULL DEFAULT 0 CHECK (workflow_count >= 0),
    git_commit_sha text CHECK (git_commit_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    notes          text,
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT snapshots_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT snapshots_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT snapshots_created_by_fkey FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX snapshots_tenant_environment_created_at_idx ON snapshots (tenant_id, environment_id, created_at DESC);

CREATE TABLE promotions (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id               uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    pipeline_id             uuid,
    stage_name              text,
    source_environment_id   uuid NOT NULL,
    target_environment_id   uuid NOT NULL,
    -- the promotion lifecycle together with its approval states (docs/promotion.md)
    status                  text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'pending_approval', 'approved', 'running',
                                              'in_progress', 'completed', 'completed_with_errors',
                                              'failed', 'rolled_back')),
    workflow_selections     jsonb NOT NULL DEFAULT '[]'::jsonb,
    gate_results            jsonb,
    source_snapshot_id      uuid,
    target_pre_snapshot_id  uuid,
    target_post_snapshot_id uuid,
    execution_result        jsonb,
    -- client-supplied key so that a retried request does not start a second promotion
    idempotency_key         text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    created_by              uuid,
    approved_by             uuid,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    completed_at            timestamptz,
    CONSTRAINT promotions_distinct_environments CHECK (source_environment_id <> target_environment_id),
    CONSTRAINT promotions_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT promotions_pipeline_fkey FOREIGN KEY (tenant_id, pipeline_id)
        REFERENCES pipelines (tenant_id, id) ON DELETE SET NULL (pipeline_id),
    CONSTRAINT promotions_source_environment_fkey FOREIGN KEY (tenant_id, source_environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT promotions_target_environment_fkey FOREIGN KEY (tenant_id, target_environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT promotions_source_snapshot_fkey FOREIGN KEY (tenant_id, source_snapshot_id)
        REFERENCES snapshots (tenant_id, id) ON DELETE SET NULL (source_snapshot_id),
    CONSTRAINT promotions_target_pre_snapshot_fkey FOREIGN KEY (tenant_id, target_pre_snapshot_id)
        REFERENCES snapshots (tenant_id, id) ON DELETE SET NULL (target_pre_snapshot_id),
    CONSTRAINT promotions_target_post_snapshot_fkey FOREIGN KEY (tenant_id, target_post_snapshot_id)
        REFERENCES snapshots (tenant_id, id) ON DELETE SET NULL (target_post_snapshot_id),
    CONSTRAINT promotions_created_by_fkey FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT promotions_approved_by_fkey FOREIGN KEY (tenant_id, approved_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (approved_by)
);
CREATE UNIQUE INDEX promotions_tenant_id_idempotency_key_key
    ON promotions (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX promotions_tenant_created_at_idx ON promotions (tenant_id, created_at DESC);
CREATE INDEX promotions_tenant_target_status_idx ON promotions (tenant_id, target_environment_id, status);

CREATE TABLE deployments (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    promotion_id  uuid NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'scheduled', 'running', 'completed', 'failed', 'cancelled')),
    scheduled_for timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz,
    summary_json  jsonb,
    error_message text,
    created_by    uuid,
    is_deleted    boolean NOT NULL DEFAULT false,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deployments_scheduled_has_time CHECK (status <> 'scheduled' OR scheduled_for IS NOT NULL),
    CONSTRAINT deployments_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT deployments_promotion_fkey FOREIGN KEY (tenant_id, promotion_id)
        REFERENCES promotions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deployments_created_by_fkey FOREIGN KEY (tenant_id, created_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX deployments_tenant_created_at_idx ON deployments (tenant_id, created_at DESC);
CREATE INDEX deployments_promotion_idx ON deployments (tenant_id, promotion_id);
-- the stale-deployment cleanup (docs/promotion.md) and the deployment scheduler scan these
CREATE INDEX deployments_running_started_at_idx ON deployments (started_at) WHERE status = 'running';
CREATE INDEX deployments_scheduled_for_idx ON deployments (scheduled_for) WHERE status = 'scheduled';

CREATE TABLE deployment_workflows (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    deployment_id uuid NOT NULL,
    canonical_id  uuid,
    workflow_id   text NOT NULL,
    workflow_name text NOT NULL,
    status        text NOT NULL CHECK (status IN ('success', 'failed', 'skipped')),
    error_message text,
    promoted_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deployment_workflows_deployment_fkey FOREIGN KEY (tenant_id, deployment_id)
        REFERENCES deployments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deployment_workflows_canonical_fkey FOREIGN KEY (tenant_id, canonical_id)
        REFERENCES canonical_workflows (tenant_id, id) ON DELETE SET NULL (canonical_id)
);
CREATE INDEX deployment_workflows_deployment_idx ON deployment_workflows (tenant_id, deployment_id);

-- ---------------------------------------------------------------------------------------------
-- 3.4 Drift management tables
-- ---------------------------------------------------------------------------------------------
CREATE TABLE drift_incidents (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    environment_id     uuid NOT NULL,
    status             text NOT NULL DEFAULT 'detected'
                       CHECK (status IN ('detected', 'acknowledged', 'stabilized', 'reconciled',
                                         'closed', 'expired', 'cancelled')),
    -- the TTL-driven escalation (docs/drift.md) (ESCALATED, CRITICAL_OVERDUE) beside the status
    escalation_level   text NOT NULL DEFAULT 'none'
                       CHECK (escalation_level IN ('none', 'escalated', 'critical_overdue')),
    title              text NOT NULL,
    summary            jsonb,
    severity           text NOT NULL DEFAULT 'low' CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    detected_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at    timestamptz,
    stabilized_at      timestamptz,
    reconciled_at      timestamptz,
    closed_at          timestamptz,
    -- NULL *_by means the system did it
    detected_by        uuid,
    acknowledged_by    uuid,
    stabilized_by      uuid,
    reconciled_by      uuid,
    closed_by          uuid,
    owner_user_id      uuid,
    reason             text,
    ticket_ref         text,
    expires_at         timestamptz,
    affected_workflows jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- immutable once written; may only be purged (set to NULL with payload_purged_at)
    drift_snapshot     jsonb,
    resolution_type    text CHECK (resolution_type IN ('promote', 'revert', 'replace', 'acknowledge')),
    resolution_details jsonb,
    payload_purged_at  timestamptz,
    is_deleted         boolean NOT NULL DEFAULT false,
    deleted_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT drift_incidents_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT drift_incidents_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT drift_incidents_detected_by_fkey FOREIGN KEY (tenant_id, detected_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (detected_by),
    CONSTRAINT drift_incidents_acknowledged_by_fkey FOREIGN KEY (tenant_id, acknowledged_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (acknowledged_by),
    CONSTRAINT drift_incidents_stabilized_by_fkey FOREIGN KEY (tenant_id, stabilized_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (stabilized_by),
    CONSTRAINT drift_incidents_reconciled_by_fkey FOREIGN KEY (tenant_id, reconciled_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (reconciled_by),
    CONSTRAINT drift_incidents_closed_by_fkey FOREIGN KEY (tenant_id, closed_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (closed_by),
    CONSTRAINT drift_incidents_owner_user_fkey FOREIGN KEY (tenant_id, owner_user_id)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_user_id)
);
CREATE INDEX drift_incidents_tenant_environment_status_idx ON drift_incidents (tenant_id, environment_id, status);
CREATE INDEX drift_incidents_closed_at_idx ON drift_incidents (closed_at) WHERE status = 'closed';

CREATE FUNCTION wfops_drift_snapshot_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.drift_snapshot IS DISTINCT FROM OLD.drift_snapshot
       AND NOT (NEW.drift_snapshot IS NULL AND NEW.payload_purged_at IS NOT NULL) THEN
        RAISE EXCEPTION 'drift_snapshot of incident % is immutable; it may only be purged', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'drift_incidents_snapshot_immutable',
                  TABLE = 'drift_incidents', COLUMN = 'drift_snapshot';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION wfops_drift_snapshot_immutable() FROM PUBLIC;
CREATE TRIGGER drift_incidents_snapshot_immutable BEFORE UPDATE OF drift_snapshot ON drift_incidents
    FOR EACH ROW EXECUTE FUNCTION wfops_drift_snapshot_immutable();

ALTER TABLE environments ADD CONSTRAINT environments_active_drift_incident_fkey
    FOREIGN KEY (tenant_id, active_drift_incident_id)
    REFERENCES drift_incidents (tenant_id, id) ON DELETE SET NULL (active_drift_incident_id);

CREATE TABLE drift_policies (
    id                                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id                              uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- NULL: the tenant-wide default policy
    environment_id                         uuid,
    -- hours per severity
    severity_ttls                          jsonb NOT NULL
                                           DEFAULT '{"critical": 24, "high": 48, "medium": 72, "low": 168}'::jsonb
                                           CHECK (jsonb_typeof(severity_ttls) = 'object'),
    enforce_ttl                            boolean NOT NULL DEFAULT false,
    enforce_sla                            boolean NOT NULL DEFAULT false,
    auto_create_incidents                  boolean NOT NULL DEFAULT false,
    auto_create_for_production_only        boolean NOT NULL DEFAULT false,
    block_on_active_drift                  boolean NOT NULL DEFAULT false,
    closed_incident_retention_days         integer NOT NULL DEFAULT 90 CHECK (closed_incident_retention_days > 0),
    reconciliation_artifact_retention_days integer NOT NULL DEFAULT 30
                                           CHECK (reconciliation_artifact_retention_days > 0),
    created_at                             timestamptz NOT NULL DEFAULT now(),
    updated_at                             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT drift_policies_scope_key UNIQUE NULLS NOT DISTINCT (tenant_id, environment_id),
    CONSTRAINT drift_policies_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE drift_approvals (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    incident_id         uuid NOT NULL,
    approval_type       text NOT NULL CHECK (approval_type IN ('acknowledge', 'extend_ttl', 'close', 'reconcile')),
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_by        uuid,
    reviewed_by         uuid,
    request_reason      text,
    review_notes        text,
    ttl_extension_hours integer CHECK (ttl_extension_hours > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    reviewed_at         timestamptz,
    CONSTRAINT drift_approvals_extension_hours
        CHECK (approval_type <> 'extend_ttl' OR ttl_extension_hours IS NOT NULL),
    CONSTRAINT drift_approvals_incident_fkey FOREIGN KEY (tenant_id, incident_id)
        REFERENCES drift_incidents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT drift_approvals_requested_by_fkey FOREIGN KEY (tenant_id, requested_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (requested_by),
    CONSTRAINT drift_approvals_reviewed_by_fkey FOREIGN KEY (tenant_id, reviewed_by)
        REFERENCES users (tenant_id, id) ON DELETE SET NULL (reviewed_by)
);
CREATE INDEX drift_approvals_incident_idx ON drift_approvals (tenant_id, incident_id);

CREATE TABLE drift_check_history (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    environment_id       uuid NOT NULL,
    check_type           text NOT NULL CHECK (check_type IN ('scheduled', 'manual')),
    drift_found          boolean NOT NULL,
    workflows_checked    integer NOT NULL DEFAULT 0 CHECK (workflows_checked >= 0),
    workflows_with_drift integer NOT NULL DEFAULT 0 CHECK (workflows_with_drift >= 0),
    workflows_not_in_git integer NOT NULL DEFAULT 0 CHECK (workflows_not_in_git >= 0),
    check_duration_ms    bigint NOT NULL DEFAULT 0 CHECK (check_duration_ms >= 0),
    error_message        text,
    checked_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT drift_check_history_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX drift_check_history_tenant_environment_checked_at_idx
    ON drift_check_history (tenant_id, environment_id, checked_at DESC);

-- ---------------------------------------------------------------------------------------------
-- 3.5 Executions
-- ---------------------------------------------------------------------------------------------
CREATE TABLE executions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    environment_id    uuid NOT NULL,
    provider          text NOT NULL DEFAULT 'n8n' CHECK (provider IN ('n8n', 'make')),
    workflow_id       text NOT NULL,
    workflow_name     text,
    n8n_execution_id  text NOT NULL,
    normalized_status text NOT NULL CHECK (normalized_status IN ('success', 'error', 'running', 'waiting')),
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz,
    execution_time    bigint CHECK (execution_time >= 0),
    error_message     text,
    error_node        text,
    -- n8n's WorkflowExecuteMode values
    mode              text NOT NULL CHECK (mode IN ('manual', 'trigger', 'webhook', 'retry', 'integrated',
                                                    'cli', 'internal', 'error', 'evaluation')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT executions_environment_id_n8n_execution_id_key UNIQUE (environment_id, n8n_execution_id),
    CONSTRAINT executions_environment_fkey FOREIGN KEY (tenant_id, environment_id)
        REFERENCES environments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX executions_tenant_environment_started_at_idx ON executions (tenant_id, environment_id, started_at);
CREATE INDEX executions_tenant_workflow_started_at_idx ON executions (tenant_id, workflow_id, started_at);

-- ---------------------------------------------------------------------------------------------
-- Audit
-- ---------------------------------------------------------------------------------------------
-- No foreign keys to users or api_keys: the trail must outlive the actors it names.
CREATE TABLE audit_logs (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor_type           text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system')),
    actor_id             uuid,
    -- dual attribution: set when a platform admin acts as this user
    impersonated_user_id uuid,
    action               text NOT NULL CHECK (length(action) > 0),
    resource_type        text NOT NULL CHECK (length(resource_type) > 0),
    resource_id          text,
    details              jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id           text,
    ip_address           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_logs_actor_present CHECK (actor_type = 'system' OR actor_id IS NOT NULL)
);
CREATE INDEX audit_logs_tenant_created_at_idx ON audit_logs (tenant_id, created_at DESC);
CREATE INDEX audit_logs_created_at_idx ON audit_logs (created_at);

-- ---------------------------------------------------------------------------------------------
-- updated_at triggers
-- ---------------------------------------------------------------------------------------------
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'users', 'environments', 'environment_variables',
                             'credential_mappings', 'canonical_workflows', 'workflow_env_map',
                             'canonical_workflow_git_state', 'workflow_hash_registry', 'pipelines',
                             'promotions', 'deployments', 'drift_incidents', 'drift_policies']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION wfops_touch_updated_at()',
                       t || '_touch_updated_at', t);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Row-level security
-- ---------------------------------------------------------------------------------------------
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (id = nullif(current_setting('app.tenant_id', true), '')::uuid);

SELECT wfops_enable_tenant_rls(t::regclass)
FROM unnest(ARRAY['users', 'api_keys', 'revoked_tokens', 'environments', 'environment_variables',
                  'credential_mappings', 'canonical_workflows', 'workflow_env_map',
                  'canonical_workflow_git_state', 'workflow_hash_registry', 'workflow_diff_state',
                  'pipelines', 'snapshots', 'promotions', 'deployments', 'deployment_workflows',
                  'drift_incidents', 'drift_policies', 'drift_approvals', 'drift_check_history',
                  'executions', 'audit_logs']) AS t;

-- ---------------------------------------------------------------------------------------------
-- Privileges of the application role
-- ---------------------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO wfops_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO wfops_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO wfops_app;
-- later migrations run as the same role; their tables get the same grants
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO wfops_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO wfops_app;
-- the readiness check compares applied with embedded migrations; it must not change them
REVOKE ALL ON __diesel_schema_migrations FROM wfops_app;
GRANT SELECT ON __diesel_schema_migrations TO wfops_app;

-- ---------------------------------------------------------------------------------------------
-- Cross-tenant lookups: SECURITY DEFINER, owned by the migrating role (superuser or BYPASSRLS),
-- executable by wfops_app only. Each returns the least its caller needs.
-- ---------------------------------------------------------------------------------------------

-- Authenticating an API key: the tenant is not known until the key is found.
CREATE FUNCTION wfops_resolve_api_key(p_prefix text)
RETURNS TABLE (id uuid, tenant_id uuid, secret_hash text, role text,
               expires_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT k.id, k.tenant_id, k.secret_hash, k.role, k.expires_at, k.revoked_at
    FROM public.api_keys k
    JOIN public.tenants t ON t.id = k.tenant_id
    WHERE k.key_prefix = p_prefix AND t.is_active
$$;

-- Logging in by email: emails are unique across the installation, so the user names its tenant.
CREATE FUNCTION wfops_find_login(p_email text)
RETURNS TABLE (id uuid, tenant_id uuid, password_hash text, role text, is_active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT u.id, u.tenant_id, u.password_hash, u.role, (u.is_active AND t.is_active)
    FROM public.users u
    JOIN public.tenants t ON t.id = u.tenant_id
    WHERE lower(u.email) = lower(btrim(p_email))
$$;

-- Schedulers iterate over tenants and then work inside each tenant's transaction.
CREATE FUNCTION wfops_tenant_ids()
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.id FROM public.tenants t WHERE t.is_active ORDER BY t.id
$$;

-- The bootstrap command is idempotent on the tenant slug, which it must look up before it knows
-- the tenant.
CREATE FUNCTION wfops_find_tenant_by_slug(p_slug text)
RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.id FROM public.tenants t WHERE t.slug = p_slug
$$;

REVOKE ALL ON FUNCTION wfops_resolve_api_key(text), wfops_find_login(text), wfops_tenant_ids(),
                       wfops_find_tenant_by_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wfops_resolve_api_key(text), wfops_find_login(text), wfops_tenant_ids(),
                          wfops_find_tenant_by_slug(text) TO wfops_app;
