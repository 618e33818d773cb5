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

-- Reconciliation re-hashes the stored documents that call another workflow by id (their hash
-- depends on the mappings): these partial indexes find them without reading every document.
-- The predicate is written out exactly as `wfops_db::rehash::CALLER_FILTER` sends it.
CREATE INDEX workflow_env_map_callers_idx ON workflow_env_map (tenant_id)
    WHERE workflow_data @? '$.nodes[*] ? (@.type == "n8n-nodes-base.executeWorkflow" || @.type == "@n8n/n8n-nodes-langchain.toolWorkflow")';
CREATE INDEX canonical_workflow_git_state_callers_idx ON canonical_workflow_git_state (tenant_id)
    WHERE git_workflow_data @? '$.nodes[*] ? (@.type == "n8n-nodes-base.executeWorkflow" || @.type == "@n8n/n8n-nodes-langchain.toolWorkflow")';
