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

drop table snapshot_restores;
drop index if exists deployments_job_idx;
drop index if exists deployments_tenant_id_idempotency_key_key;
drop index if exists deployments_tenant_status_created_at_idx;
alter table deployments
    drop constraint deployments_job_fkey,
    drop constraint deployments_idempotency_hash_with_key,
    drop column idempotency_request_hash,
    drop column idempotency_key,
    drop column job_id;
drop index if exists promotions_tenant_status_created_at_idx;
alter table promotions
    drop constraint promotions_idempotency_hash_with_key,
    drop column notes,
    drop column rejection_reason,
    drop column approved_at,
    drop column approved_by_actor,
    drop column created_by_actor,
    drop column idempotency_request_hash;
