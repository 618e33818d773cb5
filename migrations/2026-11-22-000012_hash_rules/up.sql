-- The version of the content-hash rules that a tenant's stored hashes were computed with
-- (workflow_env_map.env_content_hash and git_content_hash, canonical_workflow_git_state,
-- canonical_workflows.content_hash, workflow_hash_registry, and the workflow_diff_state
-- computed from them). When the rules change, a tenant whose version is behind has its stored
-- documents re-hashed and is reconciled again; no row means the hashes predate versioning.
CREATE TABLE hash_rules_state (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
SELECT wfops_enable_tenant_rls('hash_rules_state');

CREATE TRIGGER hash_rules_state_touch_updated_at BEFORE UPDATE ON hash_rules_state
    FOR EACH ROW EXECUTE FUNCTION wfops_touch_updated_at();

GRANT SELECT, INSERT, UPDATE ON hash_rules_state TO wfops_app;
