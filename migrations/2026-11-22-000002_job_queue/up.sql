-- The job queue, job progress events and the scheduler leases (docs/ARCHITECTURE.md, "Job queue").
-- Conventions of the core migration: tenant-scoped tables get RLS enabled + forced with the
-- app.tenant_id policy; cross-tenant work goes through SECURITY DEFINER functions granted to
-- wfops_app only.

create table background_jobs (
    id               uuid primary key default gen_random_uuid(),
    tenant_id        uuid not null references tenants (id) on delete cascade,
    environment_id   uuid,
    job_type         text not null check (job_type ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
    status           text not null default 'pending'
                     check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
    payload          jsonb not null default '{}'::jsonb,
    result           jsonb,
    progress         jsonb,
    error            text,
    attempts         integer not null default 0 check (attempts >= 0),
    max_attempts     integer not null default 5 check (max_attempts between 1 and 100),
    run_at           timestamptz not null default now(),
    lock_key         text check (lock_key <> ''),
    locked_by        text,
    lease_expires_at timestamptz,
    heartbeat_at     timestamptz,
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    idempotency_key  text check (idempotency_key <> ''),
    resource_type    text,
    resource_id      uuid,
    unique (tenant_id, id),
    -- a job outlives the environment it was about (its history stays readable)
    foreign key (tenant_id, environment_id) references environments (tenant_id, id)
        on delete set null (environment_id),
    -- a running job always has an owner and a lease: that is what makes reclaiming safe
    constraint background_jobs_running_has_lease check (
        status <> 'running' or (locked_by is not null and lease_expires_at is not null)
    ),
    constraint background_jobs_finished_has_time check (
        status not in ('completed', 'failed', 'cancelled') or completed_at is not null
    )
);

-- per-environment (or any keyed) work is mutually exclusive across all workers
create unique index background_jobs_running_lock_key
    on background_jobs (lock_key) where status = 'running';
create unique index background_jobs_idempotency_key
    on background_jobs (tenant_id, idempotency_key) where idempotency_key is not null;
create index background_jobs_due on background_jobs (run_at) where status = 'pending';
create index background_jobs_leases on background_jobs (lease_expires_at) where status = 'running';
create index background_jobs_tenant_created on background_jobs (tenant_id, created_at desc);
create index background_jobs_resource on background_jobs (tenant_id, resource_type, resource_id);
create index background_jobs_finished on background_jobs (completed_at)
    where status in ('completed', 'failed', 'cancelled');

create table job_events (
    id         bigserial primary key,
    tenant_id  uuid not null,
    job_id     uuid not null,
    event      text not null check (event <> ''),
    data       jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now(),
    foreign key (tenant_id, job_id) references background_jobs (tenant_id, id) on delete cascade
);
create index job_events_job on job_events (job_id, id);
create index job_events_tenant on job_events (tenant_id, id);

select wfops_enable_tenant_rls(t::regclass)
from unnest(array['background_jobs', 'job_events']) as t;

create trigger background_jobs_touch_updated_at before update on background_jobs
    for each row execute function wfops_touch_updated_at();

-- Wake-ups. Workers LISTEN on wfops_jobs so that a new (or released, or retried) job starts at
-- once instead of at the next poll; the SSE endpoint LISTENs on wfops_job_events. Payloads carry
-- ids only (NOTIFY payloads are limited to 8000 bytes and are visible to every listener).
create function wfops_notify_job() returns trigger
language plpgsql as $$
begin
    if new.status = 'pending' and (tg_op = 'INSERT' or old.status is distinct from 'pending') then
        perform pg_notify('wfops_jobs', json_build_object(
            'id', new.id, 'job_type', new.job_type, 'run_at', new.run_at)::text);
    end if;
    return null;
end;
$$;
create trigger background_jobs_notify
    after insert or update of status on background_jobs
    for each row execute function wfops_notify_job();

create function wfops_notify_job_event() returns trigger
language plpgsql as $$
begin
    perform pg_notify('wfops_job_events', json_build_object(
        'id', new.id, 'tenant_id', new.tenant_id, 'job_id', new.job_id, 'event', new.event)::text);
    return null;
end;
$$;
create trigger job_events_notify
    after insert on job_events
    for each row execute function wfops_notify_job_event();

-- One row per periodic scheduler; global (no tenant), so no RLS.
create table scheduler_state (
    name             text primary key check (name ~ '^[a-z][a-z0-9_]{0,63}$'),
    interval_seconds integer not null check (interval_seconds > 0),
    enabled          boolean not null default true,
    last_run_at      timestamptz,
    last_finished_at timestamptz,
    next_run_at      timestamptz not null default now(),
    last_error       text,
    last_duration_ms bigint check (last_duration_ms >= 0),
    run_count        bigint not null default 0,
    locked_by        text,
    lease_expires_at timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);

create trigger scheduler_state_touch_updated_at before update on scheduler_state
    for each row execute function wfops_touch_updated_at();

-- (the core migration's default privileges grant these too; spelled out for the reader)
grant select, insert, update, delete on background_jobs, job_events, scheduler_state to wfops_app;
grant usage, select on sequence job_events_id_seq to wfops_app;

-- Claims one due job for p_worker. Runs as the owner because a worker does not know the tenant
-- before it has claimed the job.
--  1. Expired leases are reclaimed first: the worker that held them is gone. The attempt it
--     used stays counted (attempts is incremented at claim), so a job that kills its worker
--     every time ends up failed instead of looping forever.
--  2. One due pending job of the wanted types is claimed with FOR UPDATE SKIP LOCKED, skipping
--     jobs whose lock_key a running job holds. Two claimers racing for two jobs with the same
--     lock_key meet at the partial unique index: the loser gets unique_violation, which is
--     caught and the next candidate is tried, so the caller sees "nothing to do", never an error.
create function wfops_claim_job(p_worker text, p_lease_seconds integer, p_types text[])
returns setof background_jobs
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    v_job background_jobs;
    v_skip uuid[] := '{}';
begin
    if p_worker is null or p_worker = '' then
        raise exception 'wfops_claim_job: worker name must not be empty'
            using errcode = '22023';
    end if;
    if p_lease_seconds is null or p_lease_seconds <= 0 then
        raise exception 'wfops_claim_job: lease must be a positive number of seconds, got %',
            p_lease_seconds using errcode = '22023';
    end if;

    with expired as (
        select j.id
          from background_jobs j
         where j.status = 'running' and j.lease_expires_at < now()
         for update skip locked
    ), reclaimed as (
        update background_jobs j
           set status = case when j.attempts >= j.max_attempts then 'failed' else 'pending' end,
               error = 'lease expired: worker ' || coalesce(j.locked_by, '?')
                       || ' stopped heartbeating (attempt ' || j.attempts || ' of '
                       || j.max_attempts || ')',
               completed_at = case when j.attempts >= j.max_attempts then now() end,
               run_at = now(),
               locked_by = null,
               lease_expires_at = null,
               heartbeat_at = null,
               updated_at = now()
          from expired e
         where j.id = e.id
        returning j.tenant_id, j.id, j.status, j.error
    )
    insert into job_events (tenant_id, job_id, event, data)
    select r.tenant_id, r.id, 'lease_expired',
           jsonb_build_object('status', r.status, 'error', r.error)
      from reclaimed r;

    for i in 1..5 loop
        select j.* into v_job
          from background_jobs j
         where j.status = 'pending'
           and j.run_at <= now()
           and (p_types is null or j.job_type = any (p_types))
           and j.id <> all (v_skip)
           and (j.lock_key is null or not exists (
                   select 1 from background_jobs r
                    where r.lock_key = j.lock_key and r.status = 'running'))
         order by j.run_at, j.created_at
         limit 1
         for update skip locked;
        if not found then
            return;
        end if;
        begin
            update background_jobs
               set status = 'running',
                   locked_by = p_worker,
                   lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                   heartbeat_at = now(),
                   started_at = now(),
                   completed_at = null,
                   attempts = attempts + 1,
                   updated_at = now()
             where id = v_job.id
            returning * into v_job;
            insert into job_events (tenant_id, job_id, event, data)
            values (v_job.tenant_id, v_job.id, 'started',
                    jsonb_build_object('attempt', v_job.attempts, 'max_attempts', v_job.max_attempts,
                                       'worker', p_worker));
            return next v_job;
            return;
        exception when unique_violation then
            v_skip := v_skip || v_job.id;
        end;
    end loop;
    return;
end;
$$;

-- A deployment left running by a process that died would block the deployment
-- scheduler forever; at worker start every running deployment older than the threshold is
-- marked failed. Same rule as wfops_promotion::StaleRule::is_stale.
create function wfops_fail_stale_deployments(p_max_age_seconds integer)
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
    update deployments d
       set status = 'failed',
           finished_at = now(),
           error_message = 'marked failed at worker start: still running after '
                           || p_max_age_seconds || ' seconds (stale deployment cleanup)'
     where d.status = 'running'
       and coalesce(d.started_at, d.created_at) <= now() - make_interval(secs => p_max_age_seconds)
    returning d.id;
end;
$$;

revoke all on function wfops_claim_job(text, integer, text[]) from public;
revoke all on function wfops_fail_stale_deployments(integer) from public;
grant execute on function wfops_claim_job(text, integer, text[]) to wfops_app;
grant execute on function wfops_fail_stale_deployments(integer) to wfops_app;
