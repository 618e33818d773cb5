//! The engine's job types run by real workers, and the canonical sync scheduler.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "worker/common.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{fast_options, fixture, start, wait_until, Fixture};
use uuid::Uuid;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::jobs::{self, JobRow, JobStatus, NewJob};
use wfops_db::ScopedFutureExt;
use wfops_engine::jobs::{ENVIRONMENT_SYNC, REPOSITORY_SYNC};
use wfops_engine::EngineCtx;
use wfops_fake_n8n::{FakeN8n, Fault, Route};
use wfops_worker::schedulers::{CanonicalSync, DriftDetection};
use wfops_worker::{register_engine_jobs, Registry, SchedulerContext, Worker};

fn engine(f: &Fixture) -> EngineCtx {
    let mut config = wfops_config::Config::for_tests();
    config.home = std::env::temp_dir().join(format!("wfops-worker-{}", Uuid::new_v4().simple()));
    let mut ctx = EngineCtx::from_config(f.db.clone(), Arc::new(config)).expect("engine");
    ctx.n8n.page_size = 3;
    ctx
}

async fn environment(
    f: &Fixture,
    ctx: &EngineCtx,
    tenant: Uuid,
    name: &str,
    fake: &FakeN8n,
    git: Option<&str>,
) -> Uuid {
    let key = ctx.cipher.encrypt_str(fake.api_key()).expect("encrypt");
    let (name, url, git) = (
        name.to_owned(),
        fake.url().to_owned(),
        git.map(str::to_owned),
    );
    f.db.tenant_tx(tenant, move |conn| {
        async move {
            environments::insert(
                conn,
                &NewEnvironment {
                    tenant_id: tenant,
                    name: &name,
                    url: &url,
                    provider: "n8n",
                    environment_class: "dev",
                    api_key_encrypted: Some(&key),
                    drift_handling_mode: "warn_only",
                    git_repo_url: git.as_deref(),
                    git_branch: "main",
                    git_folder: git.as_ref().map(|_| name.as_str()),
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

async fn wait_finished(f: &Fixture, id: Uuid) -> JobRow {
    wait_until("the job to finish", Duration::from_secs(60), || async {
        f.get(id).await.status.is_finished()
    })
    .await;
    f.get(id).await
}

#[tokio::test]
async fn an_environment_sync_job_runs_records_progress_and_stores_its_report() {
    let f = fixture().await;
    let ctx = engine(&f);
    let fake = FakeN8n::start().unwrap();
    fake.seed_generated(7).unwrap();
    let env = environment(&f, &ctx, f.tenant, "dev", &fake, None).await;
    let tenant = f.tenant;
    let enqueued =
        f.db.tenant_tx(tenant, move |conn| {
            async move {
                let job = wfops_engine::jobs::EnvironmentSync {
                    environment_id: env,
                };
                wfops_engine::jobs::enqueue(conn, tenant, &job).await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    assert!(enqueued.created);
    // a second request while the first waits returns the same job
    let again =
        f.db.tenant_tx(tenant, move |conn| {
            async move {
                let job = wfops_engine::jobs::EnvironmentSync {
                    environment_id: env,
                };
                wfops_engine::jobs::enqueue(conn, tenant, &job).await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.job.id, enqueued.job.id);

    let worker = start(Worker::new(
        f.db.clone(),
        registry(ctx),
        fast_options("sync"),
    ));
    let job = wait_finished(&f, enqueued.job.id).await;
    worker.stop().await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    let result = job.result.expect("result");
    assert_eq!(result["fetched"], 7);
    assert_eq!(result["created"], 7);
    assert_eq!(result["environment_id"], env.to_string());
    let checkpoint = job.checkpoint.expect("checkpoint saved");
    assert_eq!(checkpoint["finished"], true);
    let events = f.events(job.id).await;
    let progress: Vec<_> = events.iter().filter(|e| e.event == "progress").collect();
    assert!(!progress.is_empty(), "{events:?}");
    assert_eq!(progress.last().unwrap().data["current"], 7);
}

#[tokio::test]
async fn a_failing_environment_sync_is_failed_with_a_clear_message() {
    let f = fixture().await;
    let ctx = engine(&f);
    let fake = FakeN8n::start().unwrap();
    fake.inject(
        Fault::status_with_message(401, "unauthorized")
            .on(Route::ListWorkflows)
            .always(),
    );
    let env = environment(&f, &ctx, f.tenant, "dev", &fake, None).await;
    let job = f
        .enqueue(
            NewJob::new(
                f.tenant,
                ENVIRONMENT_SYNC,
                serde_json::json!({"environment_id": env}),
            )
            .for_environment(env),
        )
        .await;
    let bad_payload = f
        .enqueue(NewJob::new(
            f.tenant,
            ENVIRONMENT_SYNC,
            serde_json::json!({"env": 1}),
        ))
        .await;
    let worker = start(Worker::new(
        f.db.clone(),
        registry(ctx),
        fast_options("fail"),
    ));
    let job = wait_finished(&f, job.id).await;
    let bad_payload = wait_finished(&f, bad_payload.id).await;
    worker.stop().await;
    // a rejected API key is not retried
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempts, 1);
    let error = job.error.unwrap();
    assert!(
        error.contains("environment dev") && error.contains("401"),
        "{error}"
    );
    assert!(!error.contains(fake.api_key()));
    assert_eq!(bad_payload.status, JobStatus::Failed);
    assert!(bad_payload.error.unwrap().contains("environment_id"));
}

#[tokio::test]
async fn two_syncs_of_one_environment_never_interleave() {
    let f = fixture().await;
    let fake = FakeN8n::start().unwrap();
    fake.seed_generated(9).unwrap();
    // every list request takes a while, so overlapping runs would be visible
    fake.inject(
        Fault::delay(Duration::from_millis(150))
            .on(Route::ListWorkflows)
            .always(),
    );
    let env = environment(&f, &engine(&f), f.tenant, "dev", &fake, None).await;
    // two jobs for the same environment (enqueued raw: the helpers would return the first)
    let new_job = || {
        NewJob::new(
            f.tenant,
            ENVIRONMENT_SYNC,
            serde_json::json!({"environment_id": env}),
        )
        .for_environment(env)
    };
    let a = f.enqueue(new_job()).await;
    let b = f.enqueue(new_job()).await;
    let w1 = start(Worker::new(
        f.db.clone(),
        registry(engine(&f)),
        fast_options("w1"),
    ));
    let w2 = start(Worker::new(
        f.db.clone(),
        registry(engine(&f)),
        fast_options("w2"),
    ));
    let a = wait_finished(&f, a.id).await;
    let b = wait_finished(&f, b.id).await;
    w1.stop().await;
    w2.stop().await;
    assert_eq!(a.status, JobStatus::Completed, "{:?}", a.error);
    assert_eq!(b.status, JobStatus::Completed, "{:?}", b.error);
    let (first, second) = if a.started_at <= b.started_at {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(
        first.completed_at.unwrap() <= second.started_at.unwrap(),
        "runs overlapped: {:?}..{:?} and {:?}..{:?}",
        first.started_at,
        first.completed_at,
        second.started_at,
        second.completed_at
    );
    assert_eq!(fake.max_in_flight(), 1, "n8n saw the two syncs at once");
    assert_eq!(second.result.as_ref().unwrap()["unchanged"], 9);
}

async fn jobs_of(f: &Fixture, tenant: Uuid, job_type: &str) -> Vec<JobRow> {
    let job_type = job_type.to_owned();
    f.db.tenant_tx(tenant, move |conn| {
        async move {
            jobs::list(
                conn,
                &jobs::JobFilter {
                    job_type: Some(job_type),
                    ..Default::default()
                },
                jobs::PageRequest {
                    page: 1,
                    page_size: 200,
                },
            )
            .await
        }
        .scope_boxed()
    })
    .await
    .unwrap()
    .items
}

#[tokio::test]
async fn the_canonical_sync_scheduler_enqueues_once_per_environment() {
    let f = fixture().await;
    let ctx = engine(&f);
    let fake = FakeN8n::start().unwrap();
    let other = f.other_tenant().await;
    let dev = environment(
        &f,
        &ctx,
        f.tenant,
        "dev",
        &fake,
        Some("file:///tmp/repo.git"),
    )
    .await;
    let staging = environment(&f, &ctx, f.tenant, "staging", &fake, None).await;
    let theirs = environment(&f, &ctx, other, "prod", &fake, None).await;
    let scheduler = CanonicalSync {
        interval: Duration::from_secs(60),
        enabled: true,
    };
    let sctx = SchedulerContext {
        db: f.db.clone(),
        worker: Arc::from("scheduler-test"),
    };
    let first = scheduler.run_once(&sctx).await.unwrap();
    assert_eq!(first.environments, 3);
    assert_eq!(first.environment_syncs, 3);
    assert_eq!(first.repository_syncs, 1);
    // the jobs are still pending: a second tick adds nothing
    let second = scheduler.run_once(&sctx).await.unwrap();
    assert_eq!(second.environment_syncs + second.repository_syncs, 0);
    assert_eq!(second.already_pending, 4);

    let syncs = jobs_of(&f, f.tenant, ENVIRONMENT_SYNC).await;
    let mut envs: Vec<Uuid> = syncs.iter().filter_map(|j| j.environment_id).collect();
    envs.sort();
    let mut expected = vec![dev, staging];
    expected.sort();
    assert_eq!(envs, expected);
    let repo = jobs_of(&f, f.tenant, REPOSITORY_SYNC).await;
    assert_eq!(repo.len(), 1);
    assert_eq!(repo[0].environment_id, Some(dev));
    assert_eq!(repo[0].lock_key, Some(format!("env:{dev}")));
    let theirs_jobs = jobs_of(&f, other, ENVIRONMENT_SYNC).await;
    assert_eq!(theirs_jobs.len(), 1);
    assert_eq!(theirs_jobs[0].environment_id, Some(theirs));
}

#[tokio::test]
async fn the_drift_scheduler_checks_non_dev_environments_with_git_once_at_a_time() {
    let f = fixture().await;
    let ctx = engine(&f);
    let fake = FakeN8n::start().unwrap();
    // names that say the opposite of the class: the class decides, never the name
    let prod = environment(
        &f,
        &ctx,
        f.tenant,
        "dev-mirror",
        &fake,
        Some("file:///tmp/r.git"),
    )
    .await;
    let dev = environment(
        &f,
        &ctx,
        f.tenant,
        "production",
        &fake,
        Some("file:///tmp/r.git"),
    )
    .await;
    let no_git = environment(&f, &ctx, f.tenant, "staging", &fake, None).await;
    f.test_db
        .admin_execute(&format!(
            "UPDATE environments SET environment_class = 'production' WHERE id = '{prod}';
             UPDATE environments SET environment_class = 'staging' WHERE id = '{no_git}'"
        ))
        .await
        .unwrap();
    let scheduler = DriftDetection {
        interval: Duration::from_secs(300),
    };
    let sctx = SchedulerContext {
        db: f.db.clone(),
        worker: Arc::from("scheduler-test"),
    };
    let first = scheduler.run_once(&sctx).await.unwrap();
    assert_eq!(
        (
            first.environments,
            first.queued,
            first.skipped_dev,
            first.skipped_no_git
        ),
        (3, 1, 1, 1),
        "{first:?}"
    );
    // the check is still pending: another worker's tick adds nothing
    let second = scheduler.run_once(&sctx).await.unwrap();
    assert_eq!((second.queued, second.already_pending), (0, 1));

    let checks = jobs_of(&f, f.tenant, wfops_engine::jobs::DRIFT_CHECK).await;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].environment_id, Some(prod));
    assert_eq!(checks[0].lock_key, Some(format!("env:{prod}")));
    assert_eq!(checks[0].payload["check_type"], "scheduled");
    assert_ne!(checks[0].environment_id, Some(dev));
}

/// A bare HTTP receiver on the loopback that answers the statuses of `script` in order (200
/// once it is empty) and counts the requests it got.
async fn http_receiver(script: Vec<u16>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut script = std::collections::VecDeque::from(script);
        while let Ok((mut socket, _)) = listener.accept().await {
            // read the head, then the body its Content-Length announces
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = script.pop_front().unwrap_or(200);
            let response =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_notification_delivery_is_retried_by_the_queue_until_the_receiver_answers() {
    let f = fixture().await;
    let mut config = wfops_config::Config::for_tests();
    config.home = std::env::temp_dir().join(format!("wfops-worker-{}", Uuid::new_v4().simple()));
    config.notify_allow_private_targets = true;
    let ctx = EngineCtx::from_config(f.db.clone(), Arc::new(config)).expect("engine");
    let (url, requests) = http_receiver(vec![503, 502]).await;
    let secret = ctx.cipher.encrypt_str("whsec_worker-test").unwrap();
    let tenant = f.tenant;
    let delivery_id =
        f.db.tenant_tx(tenant, move |conn| {
            async move {
                use wfops_db::notifications::{insert_channel, NewChannel};
                insert_channel(
                    conn,
                    &NewChannel {
                        tenant_id: tenant,
                        name: "hook",
                        kind: "webhook",
                        enabled: true,
                        events: serde_json::json!(["test"]),
                        webhook_url: Some(&url),
                        secret_ciphertext: Some(&secret),
                        email_recipients: None,
                        created_by: None,
                    },
                )
                .await?;
                let ids = wfops_engine::notify::emit(
                    conn,
                    tenant,
                    &wfops_engine::notify::Event::Test { requested_by: None },
                )
                .await?;
                Ok::<_, wfops_db::Error>(ids[0])
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    let delivery = |f: &Fixture| {
        let db = f.db.clone();
        async move {
            db.tenant_tx(tenant, move |conn| {
                async move { wfops_db::notifications::get_delivery(conn, delivery_id).await }
                    .scope_boxed()
            })
            .await
            .unwrap()
        }
    };
    let job_id = delivery(&f).await.job_id.expect("a job per delivery");

    let worker = start(Worker::new(
        f.db.clone(),
        registry(ctx),
        fast_options("notify"),
    ));
    let job = wait_finished(&f, job_id).await;
    worker.stop().await;
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error);
    assert_eq!(job.attempts, 3);
    let row = delivery(&f).await;
    assert_eq!(row.status, wfops_engine::notify::DeliveryStatus::Delivered);
    assert_eq!(row.attempts, 3);
    assert_eq!(row.response_status, Some(200));
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3);
}
