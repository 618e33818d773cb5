ALTER TABLE pipelines DROP CONSTRAINT IF EXISTS pipelines_tenant_id_name_key;
