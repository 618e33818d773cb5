-- The promotion lifecycle around execution: idempotent creation, approvals by a second admin,
-- deployment cancellation, the link from a deployment to its job, and snapshot restores that
-- wait for an approval (docs/promotion.md).

-- The canonical hash of the request that first used promotions.idempotency_key: a retry with
-- the same key and the same body gets the same promotion, the same key with another body is
-- refused.
alter table promotions
    add column idempotency_request_hash text
        check (idempotency_request_hash ~ '^[0-9a-f]{64}$'),
    -- who asked and who decided, as `user:<id>` or `api_key:<id>` (created_by / approved_by
    -- can only name users, but an automation key may create or approve too)
    add column created_by_actor text,
    add column approved_by_actor text,
    add column approved_at timestamptz,
    add column rejection_reason text check (length(rejection_reason) between 1 and 2000),
    add column notes text check (length(notes) between 1 and 2000),
    add constraint promotions_idempotency_hash_with_key
        check ((idempotency_key is null) = (idempotency_request_hash is null));

create index promotions_tenant_status_created_at_idx on promotions (tenant_id, status, created_at desc);

alter table deployments
    -- the promotion_deployment job that runs (or will run) this deployment
    add column job_id uuid,
    -- POST /deployments takes an Idempotency-Key like POST /promotions
    add column idempotency_key text check (length(idempotency_key) between 1 and 200),
    add column idempotency_request_hash text
        check (idempotency_request_hash ~ '^[0-9a-f]{64}$'),
    add constraint deployments_idempotency_hash_with_key
        check ((idempotency_key is null) = (idempotency_request_hash is null)),
    add constraint deployments_job_fkey foreign key (tenant_id, job_id)
        references background_jobs (tenant_id, id) on delete set null (job_id);

create unique index deployments_tenant_id_idempotency_key_key
    on deployments (tenant_id, idempotency_key) where idempotency_key is not null;
create index deployments_tenant_status_created_at_idx on deployments (tenant_id, status, created_at desc);
create index deployments_job_idx on deployments (tenant_id, job_id) where job_id is not null;

-- A restore of a snapshot into an environment whose promotions need an approval waits for a
-- second admin, like a promotion does.
create table snapshot_restores (
    id                 uuid primary key default gen_random_uuid(),
    tenant_id          uuid not null references tenants (id) on delete cascade,
    snapshot_id        uuid not null,
    environment_id     uuid not null,
    status             text not null default 'pending_approval'
                       check (status in ('pending_approval', 'queued', 'rejected')),
    requested_by_actor text not null,
    decided_by_actor   text,
    decided_at         timestamptz,
    rejection_reason   text check (length(rejection_reason) between 1 and 2000),
    job_id             uuid,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint snapshot_restores_tenant_id_id_key unique (tenant_id, id),
    constraint snapshot_restores_snapshot_fkey foreign key (tenant_id, snapshot_id)
        references snapshots (tenant_id, id) on delete cascade,
    constraint snapshot_restores_environment_fkey foreign key (tenant_id, environment_id)
        references environments (tenant_id, id) on delete cascade,
    constraint snapshot_restores_job_fkey foreign key (tenant_id, job_id)
        references background_jobs (tenant_id, id) on delete set null (job_id),
    constraint snapshot_restores_queued_has_decision
        check (status = 'pending_approval' or decided_at is not null)
);
create index snapshot_restores_tenant_created_at_idx on snapshot_restores (tenant_id, created_at desc);

select wfops_enable_tenant_rls('snapshot_restores');

create trigger snapshot_restores_touch_updated_at before update on snapshot_restores
    for each row execute function wfops_touch_updated_at();

grant select, insert, update, delete on snapshot_restores to wfops_app;

-- The stale-deployment cleanup also ends the promotion of each deployment it fails: a
-- promotion left `running` (or waiting to run) behind a failed deployment would never finish.
create or replace function wfops_fail_stale_deployments(p_max_age_seconds integer)
returns setof uuid
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
begin
    if p_max_age_seconds is null or p_max_age_seconds <= 0 then
        raise exception 'wfops_fail_stale_deployments: threshold must be a positive number of seconds, got %',
            p_max_age_seconds using errcode = '22023';
    end if;
    return query
    with failed as (
        update deployments d
           set status = 'failed',
               finished_at = now(),
               updated_at = now(),
               error_message = 'marked failed at worker start: still running after '
                               || p_max_age_seconds || ' seconds (stale deployment cleanup)'
         where d.status = 'running'
           and coalesce(d.started_at, d.created_at) <= now() - make_interval(secs => p_max_age_seconds)
        returning d.id, d.tenant_id, d.promotion_id, d.error_message
    ), promotions_failed as (
        update promotions p
           set status = 'failed',
               completed_at = now(),
               updated_at = now(),
               execution_result = coalesce(p.execution_result, '{}'::jsonb)
                                  || jsonb_build_object('error', f.error_message)
          from failed f
         where p.tenant_id = f.tenant_id
           and p.id = f.promotion_id
           and p.status in ('pending', 'approved', 'running', 'in_progress')
        returning p.id
    )
    select f.id from failed f;
end;
$$;
