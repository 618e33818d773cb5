drop function if exists wfops_fail_stale_deployments(integer);
drop function if exists wfops_claim_job(text, integer, text[]);
drop table if exists scheduler_state;
drop table if exists job_events;
drop table if exists background_jobs;
drop function if exists wfops_notify_job_event();
drop function if exists wfops_notify_job();
