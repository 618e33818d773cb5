//! Remotes that accept connections and never answer: a Git remote behind a repository sync and
//! an n8n instance behind an environment sync. Each job fails on its network timeout with a
//! retryable error that says so, instead of running for as long as the remote keeps the
//! connection open, and the environment is free for other work afterwards.
//!
//! In their own test binary: libgit2's timeouts are process-wide, and these tests shorten them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

#[allow(dead_code)]
#[path = "worker/common.rs"]
mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fast_options, fixture, start, wait_until, Fixture};
use uuid::Uuid;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::jobs::{JobEvent, JobStatus};
use wfops_db::ScopedFutureExt;
use wfops_engine::EngineCtx;
use wfops_fake_n8n::FakeN8n;
use wfops_worker::{register_engine_jobs, Registry, Worker};

/// A listener whose connections the kernel completes (they wait in its backlog) while nobody
/// ever reads or writes them.
fn silent_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, format!("127.0.0.1:{}", addr.port()))
}

fn engine(f: &Fixture) -> EngineCtx {
    let mut config = wfops_config::Config::for_tests();
    config.home = std::env::temp_dir().join(format!("wfops-silent-{}", Uuid::new_v4().simple()));
    config.git_connect_timeout_seconds = 2;
    config.git_read_timeout_seconds = 1;
    config.n8n_connect_timeout_seconds = 1;
    config.n8n_request_timeout_seconds = 1;
    let mut ctx = EngineCtx::from_config(f.db.clone(), Arc::new(config)).expect("engine");
    ctx.n8n.retry.max_retries = 1;
    ctx.n8n.retry.base_delay = Duration::from_millis(50);
    ctx.n8n.retry.max_delay = Duration::from_millis(50);
    ctx
}

async fn environment(
    f: &Fixture,
    ctx: &EngineCtx,
    url: &str,
    api_key: &str,
    git: Option<&str>,
) -> Uuid {
    let key = ctx.cipher.encrypt_str(api_key).expect("encrypt");
    let tenant = f.tenant;
    let (url, git) = (url.to_owned(), git.map(str::to_owned));
    f.db.tenant_tx(tenant, move |conn| {
        async move {
            environments::insert(
                conn,
                &NewEnvironment {
                    tenant_id: tenant,
                    name: "dev",
                    url: &url,
                    provider: "n8n",
                    environment_class: "dev",
                    api_key_encrypted: Some(&key),
                    drift_handling_mode: "warn_only",
                    git_repo_url: git.as_deref(),
                    git_branch: "main",
                    git_folder: git.as_ref().map(|_| "dev"),
                    git_token_encrypted: None,
                },
            )
            .await
        }
        .scope_boxed()
    })
    .await
    .expect("environment")
    .id
}

fn registry(ctx: EngineCtx) -> Registry {
    let mut r = Registry::new();
    register_engine_jobs(&mut r, Arc::new(ctx)).expect("register");
    r
}

/// Waits (with a deadline) for the job's first failed run and returns its event.
async fn first_failure(f: &Fixture, job: Uuid, deadline: Duration) -> JobEvent {
    wait_until("the job's first failed run", deadline, || async {
        f.events(job)
            .await
            .iter()
            .any(|e| e.event == "retry_scheduled" || e.event == "failed")
    })
    .await;
    f.events(job)
        .await
        .into_iter()
        .find(|e| e.event == "retry_scheduled" || e.event == "failed")
        .expect("a failure event")
}

#[tokio::test]
async fn a_repository_sync_against_a_silent_git_remote_times_out_and_frees_the_environment() {
    let f = fixture().await;
    let ctx = engine(&f);
    // the timeouts every engine context of this process sets (see `engine`)
    let read_timeout = Duration::from_secs(ctx.config.git_read_timeout_seconds);
    let fake = FakeN8n::start().unwrap();
    fake.seed_generated(2).unwrap();
    let (_silent, addr) = silent_listener();
    let env = environment(
        &f,
        &ctx,
        fake.url(),
        fake.api_key(),
        Some(&format!("http://{addr}/org/workflows.git")),
    )
    .await;
    let tenant = f.tenant;
    let repo_job =
        f.db.tenant_tx(tenant, move |conn| {
            async move {
                wfops_engine::jobs::enqueue(
                    conn,
                    tenant,
                    &wfops_engine::jobs::RepositorySync {
                        environment_id: env,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap()
        .job;

    let started = Instant::now();
    let worker = start(Worker::new(
        f.db.clone(),
        registry(ctx),
        fast_options("silent-git"),
    ));
    let failure = first_failure(&f, repo_job.id, read_timeout + Duration::from_secs(30)).await;
    let took = started.elapsed();
    // retried later, with the reason: the remote did not answer in time
    assert_eq!(failure.event, "retry_scheduled", "{:?}", failure.data);
    let error = failure.data["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("did not answer in time") && error.contains(&addr),
        "{error}"
    );
    assert!(took >= read_timeout, "{took:?}");
    assert!(took < read_timeout + Duration::from_secs(20), "{took:?}");

    // the environment's lock is free between attempts: its ordinary sync runs to the end
    let sync_job =
        f.db.tenant_tx(tenant, move |conn| {
            async move {
                wfops_engine::jobs::enqueue(
                    conn,
                    tenant,
                    &wfops_engine::jobs::EnvironmentSync {
                        environment_id: env,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap()
        .job;
    assert_eq!(sync_job.lock_key, repo_job.lock_key);
    wait_until(
        "the environment sync to finish",
        Duration::from_secs(60),
        || async { f.get(sync_job.id).await.status.is_finished() },
    )
    .await;
    let sync = f.get(sync_job.id).await;
    assert_eq!(sync.status, JobStatus::Completed, "{:?}", sync.error);
    assert_eq!(sync.result.unwrap()["fetched"], 2);
    worker.stop().await;
}

#[tokio::test]
async fn an_environment_sync_against_a_silent_n8n_times_out_with_a_clear_error() {
    let f = fixture().await;
    let ctx = engine(&f);
    let request_timeout = ctx.n8n.request_timeout;
    let attempts = ctx.n8n.retry.max_retries + 1;
    let (_silent, addr) = silent_listener();
    let env = environment(&f, &ctx, &format!("http://{addr}"), "n8n-api-key", None).await;
    let tenant = f.tenant;
    let job =
        f.db.tenant_tx(tenant, move |conn| {
            async move {
                wfops_engine::jobs::enqueue(
                    conn,
                    tenant,
                    &wfops_engine::jobs::EnvironmentSync {
                        environment_id: env,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap()
        .job;

    let started = Instant::now();
    let worker = start(Worker::new(
        f.db.clone(),
        registry(ctx),
        fast_options("silent-n8n"),
    ));
    let bound = request_timeout * attempts + Duration::from_secs(20);
    let failure = first_failure(&f, job.id, bound).await;
    let took = started.elapsed();
    worker.stop().await;
    assert_eq!(failure.event, "retry_scheduled", "{:?}", failure.data);
    let error = failure.data["error"].as_str().unwrap_or_default();
    assert_eq!(
        error,
        format!("environment dev: n8n did not answer within 1s ({attempts} attempt(s))")
    );
    assert!(took >= request_timeout * attempts, "{took:?}");
    assert!(took < bound, "{took:?}");
}
