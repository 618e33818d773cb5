-- Reverses up.sql. The role wfops_app is cluster-wide and other databases use it: it stays.

DROP FUNCTION IF EXISTS wfops_find_tenant_by_slug(text);
DROP FUNCTION IF EXISTS wfops_tenant_ids();
DROP FUNCTION IF EXISTS wfops_find_login(text);
DROP FUNCTION IF EXISTS wfops_resolve_api_key(text);

REVOKE ALL ON __diesel_schema_migrations FROM wfops_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM wfops_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM wfops_app;

ALTER TABLE environments DROP CONSTRAINT IF EXISTS environments_active_drift_incident_fkey;

DROP TABLE IF EXISTS audit_logs;
DROP TABLE IF EXISTS executions;
DROP TABLE IF EXISTS drift_check_history;
DROP TABLE IF EXISTS drift_approvals;
DROP TABLE IF EXISTS drift_policies;
DROP TABLE IF EXISTS drift_incidents;
DROP TABLE IF EXISTS deployment_workflows;
DROP TABLE IF EXISTS deployments;
DROP TABLE IF EXISTS promotions;
DROP TABLE IF EXISTS snapshots;
DROP TABLE IF EXISTS pipelines;
DROP TABLE IF EXISTS workflow_diff_state;
DROP TABLE IF EXISTS workflow_hash_registry;
DROP TABLE IF EXISTS canonical_workflow_git_state;
DROP TABLE IF EXISTS workflow_env_map;
DROP TABLE IF EXISTS canonical_workflows;
DROP TABLE IF EXISTS credential_mappings;
DROP TABLE IF EXISTS environment_variables;
DROP TABLE IF EXISTS environments;
DROP TABLE IF EXISTS revoked_tokens;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS tenants;

DROP FUNCTION IF EXISTS wfops_drift_snapshot_immutable();
DROP FUNCTION IF EXISTS wfops_touch_updated_at();
DROP FUNCTION IF EXISTS wfops_enable_tenant_rls(regclass);

REVOKE USAGE ON SCHEMA public FROM wfops_app;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
