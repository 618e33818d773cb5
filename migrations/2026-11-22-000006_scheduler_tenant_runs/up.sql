-- How each scheduler's last pass went for one tenant. scheduler_state is installation-wide:
-- its last_error summarises every tenant (ids and database messages included) and is shown to
-- platform admins only. A tenant's users read these rows instead, and row-level security lets
-- them see their own tenant's rows and nothing else. last_error here is written for the
-- tenant: never raw database text.
CREATE TABLE scheduler_tenant_runs (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scheduler_name   text NOT NULL CHECK (scheduler_name ~ '^[a-z][a-z0-9_]{0,63}$'),
    last_run_at      timestamptz NOT NULL,
    last_finished_at timestamptz NOT NULL,
    last_success_at  timestamptz,
    last_error       text,
    run_count        bigint NOT NULL DEFAULT 1 CHECK (run_count >= 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scheduler_name)
);
SELECT wfops_enable_tenant_rls('scheduler_tenant_runs');

CREATE TRIGGER scheduler_tenant_runs_touch_updated_at BEFORE UPDATE ON scheduler_tenant_runs
    FOR EACH ROW EXECUTE FUNCTION wfops_touch_updated_at();

GRANT SELECT, INSERT, UPDATE, DELETE ON scheduler_tenant_runs TO wfops_app;
