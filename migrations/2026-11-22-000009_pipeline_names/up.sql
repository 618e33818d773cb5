-- Pipeline names are unique within a tenant, like environment names, so that people and
-- automation can tell pipelines apart by name (docs/promotion.md#pipelines-and-gates).
ALTER TABLE pipelines ADD CONSTRAINT pipelines_tenant_id_name_key UNIQUE (tenant_id, name);
