DROP TABLE IF EXISTS scheduler_tenant_runs;
