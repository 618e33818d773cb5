use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;
use wfops_db::jobs::{self, FailOutcome, JobFilter, JobStatus, PageRequest};
use wfops_db::ScopedFutureExt;
use wfops_worker::{Error, JobHandler, Worker};

use crate::common::*;

const LEASE: Duration = Duration::from_secs(30);

fn types(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_takes_one_due_job_of_the_wanted_types() {
    let f = fixture().await;
    let a = f.enqueue(f.job("alpha", json!({"n": 1}))).await;
    let later = f
        .enqueue(
            f.job("alpha", json!({"n": 2}))
                .run_at(Utc::now() + chrono::Duration::hours(1)),
        )
        .await;
    let c = f.enqueue(f.job("beta", json!({}))).await;
    assert_eq!(a.status, JobStatus::Pending);
    assert_eq!(a.attempts, 0);

    assert!(jobs::claim(&f.db, "w1", LEASE, &[])
        .await
        .unwrap()
        .is_none());
    assert!(jobs::claim(&f.db, "w1", LEASE, &types(&["gamma"]))
        .await
        .unwrap()
        .is_none());

    let claimed = jobs::claim(&f.db, "w1", LEASE, &types(&["alpha"]))
        .await
        .unwrap()
        .expect("a due alpha job");
    assert_eq!(claimed.id, a.id);
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.locked_by.as_deref(), Some("w1"));
    assert_eq!(claimed.tenant_id, f.tenant);
    let lease_left = claimed.lease_expires_at.unwrap() - Utc::now();
    assert!(lease_left > chrono::Duration::seconds(20), "{lease_left}");
    assert!(claimed.started_at.is_some());

    // the other alpha job is not due yet, the first is taken
    assert!(jobs::claim(&f.db, "w2", LEASE, &types(&["alpha"]))
        .await
        .unwrap()
        .is_none());
    assert_eq!(f.get(later.id).await.status, JobStatus::Pending);

    let beta = jobs::claim(&f.db, "w2", LEASE, &types(&["alpha", "beta"]))
        .await
        .unwrap()
        .expect("beta");
    assert_eq!(beta.id, c.id);

    assert_eq!(event_names(&f.events(a.id).await), vec!["started"]);

    // only the holder may complete it
    let id = a.id;
    let by_other =
        f.db.tenant_tx(f.tenant, move |conn| {
            async move { jobs::complete(conn, id, "w2", json!({"x": 1})).await }.scope_boxed()
        })
        .await
        .unwrap();
    assert!(!by_other);
    let by_holder =
        f.db.tenant_tx(f.tenant, move |conn| {
            async move { jobs::complete(conn, id, "w1", json!({"ok": true})).await }.scope_boxed()
        })
        .await
        .unwrap();
    assert!(by_holder);
    let done = f.get(a.id).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert!(done.completed_at.is_some());
    assert!(done.locked_by.is_none());

    // another tenant can not see the job (row-level security)
    let other = f.other_tenant().await;
    assert!(f.get_in(other, a.id).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enqueue_is_idempotent_per_tenant_key_and_lists_with_filters() {
    let f = fixture().await;
    let first = f
        .enqueue(f.job("sync", json!({"a": 1})).idempotency_key("req-1"))
        .await;
    let again = f
        .enqueue(f.job("sync", json!({"a": 2})).idempotency_key("req-1"))
        .await;
    assert_eq!(first.id, again.id);
    assert_eq!(again.payload, json!({"a": 1}));
    let other_tenant = f.other_tenant().await;
    let theirs = f
        .enqueue(jobs::NewJob::new(other_tenant, "sync", json!({})).idempotency_key("req-1"))
        .await;
    assert_ne!(theirs.id, first.id, "keys are per tenant");
    f.enqueue(f.job("drift_check", json!({}))).await;

    let tenant = f.tenant;
    let page =
        f.db.tenant_tx(tenant, |conn| {
            async move {
                jobs::list(
                    conn,
                    &JobFilter {
                        job_type: Some("sync".into()),
                        ..Default::default()
                    },
                    PageRequest {
                        page: 1,
                        page_size: 50,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].id, first.id);
    let all =
        f.db.tenant_tx(tenant, |conn| {
            async move {
                jobs::list(
                    conn,
                    &JobFilter::default(),
                    PageRequest {
                        page: 2,
                        page_size: 1,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 2, "the other tenant's job is not counted");
    assert_eq!(all.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_job_is_retried_with_backoff_then_failed_with_its_error() {
    let f = fixture().await;
    let flaky = f.enqueue(f.job("flaky", json!({})).max_attempts(3)).await;
    let broken = f.enqueue(f.job("broken", json!({})).max_attempts(3)).await;

    let mut options = fast_options("retry");
    options.backoff.base = Duration::from_millis(300);
    let reg = registry(vec![
        Arc::new(handler("flaky", |_ctx| async {
            Err::<serde_json::Value, _>(Error::retryable("n8n answered 503"))
        })),
        Arc::new(handler("broken", |_ctx| async {
            Err::<serde_json::Value, _>(Error::permanent("workflow 42 does not exist"))
        })),
    ]);
    let w = start(Worker::new(f.db.clone(), reg, options));
    wait_until("the flaky job to fail", Duration::from_secs(20), || async {
        f.get(flaky.id).await.status == JobStatus::Failed
    })
    .await;
    let summary = w.stop().await;

    let job = f.get(flaky.id).await;
    assert_eq!(job.attempts, 3);
    assert_eq!(job.error.as_deref(), Some("n8n answered 503"));
    assert!(job.completed_at.is_some());
    assert!(job.locked_by.is_none());
    let events = f.events(flaky.id).await;
    assert_eq!(
        event_names(&events),
        vec![
            "started",
            "retry_scheduled",
            "started",
            "retry_scheduled",
            "started",
            "failed"
        ]
    );
    // exponential backoff: 300 ms after the first failure, 600 ms after the second
    let gap = |i: usize| events[i + 1].created_at - events[i].created_at;
    assert!(gap(1) >= chrono::Duration::milliseconds(280), "{}", gap(1));
    assert!(gap(3) >= chrono::Duration::milliseconds(580), "{}", gap(3));

    // a permanent error fails at once
    let job = f.get(broken.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.error.as_deref(), Some("workflow 42 does not exist"));

    assert_eq!(summary.retried, 2);
    assert_eq!(summary.failed, 2);
    assert_eq!(summary.completed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn panicking_handler_is_recorded_and_never_lost() {
    let f = fixture().await;
    let bad = f
        .enqueue(f.job("explodes", json!({})).max_attempts(2))
        .await;
    let reg = registry(vec![
        Arc::new(handler("explodes", |_ctx| async { explode() })),
        Arc::new(handler("fine", |ctx| async move {
            Ok(json!({"attempt": ctx.attempt()}))
        })),
    ]);
    let w = start(Worker::new(f.db.clone(), reg, fast_options("panic")));
    wait_until(
        "the panicking job to fail",
        Duration::from_secs(20),
        || async { f.get(bad.id).await.status == JobStatus::Failed },
    )
    .await;
    // the worker survived the panics and still runs jobs
    let fine = f.enqueue(f.job("fine", json!({}))).await;
    wait_until(
        "a later job to complete",
        Duration::from_secs(20),
        || async { f.get(fine.id).await.status == JobStatus::Completed },
    )
    .await;
    let summary = w.stop().await;

    let job = f.get(bad.id).await;
    assert_eq!(job.attempts, 2);
    assert_eq!(
        job.error.as_deref(),
        Some("job handler panicked: exploded on purpose")
    );
    assert_eq!(
        event_names(&f.events(bad.id).await),
        vec!["started", "retry_scheduled", "started", "failed"]
    );
    assert_eq!(f.get(fine.id).await.result, Some(json!({"attempt": 1})));
    assert_eq!(summary.retried, 1);
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.completed, 1);
}

fn explode() -> Result<serde_json::Value, Error> {
    panic!("exploded on purpose")
}

async fn expire_lease(f: &Fixture, id: Uuid) {
    f.test_db
        .admin_execute(&format!(
            "update background_jobs set lease_expires_at = now() - interval '1 second' where id = '{id}'"
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_of_a_dead_worker_is_reclaimed_and_run_again() {
    let f = fixture().await;
    let job = f.enqueue(f.job("work", json!({}))).await;
    let last = f.enqueue(f.job("work", json!({})).max_attempts(1)).await;

    // "dead" claims both and never heartbeats
    let t = types(&["work"]);
    let c1 = jobs::claim(&f.db, "dead", LEASE, &t)
        .await
        .unwrap()
        .unwrap();
    let c2 = jobs::claim(&f.db, "dead", LEASE, &t)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        [c1.id, c2.id]
            .into_iter()
            .collect::<std::collections::HashSet<_>>(),
        [job.id, last.id].into_iter().collect()
    );
    // a live lease is not reclaimed
    assert!(jobs::claim(&f.db, "alive", LEASE, &t)
        .await
        .unwrap()
        .is_none());
    expire_lease(&f, job.id).await;
    expire_lease(&f, last.id).await;

    let reg = registry(vec![Arc::new(handler("work", |ctx| async move {
        Ok(json!({"ran_by": ctx.worker(), "attempt": ctx.attempt()}))
    }))]);
    let w = start(Worker::new(f.db.clone(), reg, fast_options("rescuer")));
    let name = w.name.clone();
    wait_until(
        "the orphaned job to complete",
        Duration::from_secs(20),
        || async { f.get(job.id).await.status == JobStatus::Completed },
    )
    .await;
    w.stop().await;

    let done = f.get(job.id).await;
    assert_eq!(done.attempts, 2, "the dead worker's attempt counts");
    assert_eq!(done.result, Some(json!({"ran_by": name, "attempt": 2})));
    assert_eq!(
        event_names(&f.events(job.id).await),
        vec!["started", "lease_expired", "started", "completed"]
    );

    // the job that had no attempt left fails with the reason instead of running again
    let failed = f.get(last.id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.attempts, 1);
    let err = failed.error.unwrap();
    assert!(
        err.contains("lease expired") && err.contains("dead"),
        "{err}"
    );

    // the dead worker coming back can not overwrite anything
    let id = job.id;
    let (hb, done_again, failed_again) =
        f.db.tenant_tx(f.tenant, move |conn| {
            async move {
                let hb = jobs::heartbeat(conn, id, "dead", LEASE).await?;
                let c = jobs::complete(conn, id, "dead", json!({"stale": true})).await?;
                let x = jobs::fail(conn, id, "dead", "late", None).await?;
                Ok::<_, wfops_db::Error>((hb, c, x))
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    assert!(!hb && !done_again);
    assert_eq!(failed_again, FailOutcome::NotHeld);
    assert_eq!(f.get(job.id).await.result, done.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_run_each_of_200_jobs_exactly_once() {
    let f = fixture().await;
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(f.enqueue(f.job("count", json!({ "n": n }))).await.id);
    }
    let runs: Arc<Mutex<HashMap<Uuid, Vec<String>>>> = Arc::default();
    let make = || -> Arc<dyn JobHandler> {
        let runs = runs.clone();
        Arc::new(handler("count", move |ctx| {
            let runs = runs.clone();
            async move {
                runs.lock()
                    .unwrap()
                    .entry(ctx.job_id())
                    .or_default()
                    .push(ctx.worker().to_owned());
                // give the other worker's claims a chance to interleave with this run
                tokio::task::yield_now().await;
                Ok(json!({}))
            }
        }))
    };
    let mut o1 = fast_options("racer-a");
    let mut o2 = fast_options("racer-b");
    o1.listen_url = Some(f.test_db.admin_url());
    o2.listen_url = Some(f.test_db.admin_url());
    let a = start(Worker::new(f.db.clone(), registry(vec![make()]), o1));
    let b = start(Worker::new(f.db.clone(), registry(vec![make()]), o2));
    let tenant = f.tenant;
    wait_until(
        "all 200 jobs to complete",
        Duration::from_secs(90),
        || async {
            let page =
                f.db.tenant_tx(tenant, |conn| {
                    async move {
                        jobs::list(
                            conn,
                            &JobFilter {
                                status: Some(JobStatus::Completed),
                                ..Default::default()
                            },
                            PageRequest {
                                page: 1,
                                page_size: 1,
                            },
                        )
                        .await
                    }
                    .scope_boxed()
                })
                .await
                .unwrap();
            page.total == 200
        },
    )
    .await;
    let (sa, sb) = (a.stop().await, b.stop().await);

    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), 200);
    for id in &ids {
        let by = &runs[id];
        assert_eq!(by.len(), 1, "job {id} ran {} times: {by:?}", by.len());
    }
    assert_eq!(sa.completed + sb.completed, 200);
    assert_eq!(sa.lost + sb.lost + sa.retried + sb.retried, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_key_serialises_one_environment_but_not_two() {
    let f = fixture().await;

    // at the queue level: the second job of a key waits while the first runs
    let x1 = f
        .enqueue(f.job("env_work", json!({})).lock_key("env:x"))
        .await;
    let x2 = f
        .enqueue(f.job("env_work", json!({})).lock_key("env:x"))
        .await;
    let t = types(&["env_work"]);
    let first = jobs::claim(&f.db, "w1", LEASE, &t).await.unwrap().unwrap();
    assert_eq!(first.id, x1.id);
    assert!(jobs::claim(&f.db, "w2", LEASE, &t).await.unwrap().is_none());
    let id = first.id;
    f.db.tenant_tx(f.tenant, move |conn| {
        async move { jobs::complete(conn, id, "w1", json!({})).await }.scope_boxed()
    })
    .await
    .unwrap();
    let second = jobs::claim(&f.db, "w2", LEASE, &t).await.unwrap().unwrap();
    assert_eq!(second.id, x2.id);
    let id = second.id;
    f.db.tenant_tx(f.tenant, move |conn| {
        async move { jobs::complete(conn, id, "w2", json!({})).await }.scope_boxed()
    })
    .await
    .unwrap();

    // with workers: per key never more than one at a time, but the two keys overlap
    let env_a = Uuid::new_v4();
    let env_b = Uuid::new_v4();
    let mut ids = Vec::new();
    for _ in 0..5 {
        for env in [env_a, env_b] {
            let key = jobs::environment_lock_key(env);
            ids.push(
                f.enqueue(f.job("env_work", json!({ "key": key })).lock_key(key))
                    .await
                    .id,
            );
        }
    }
    #[derive(Default)]
    struct Tracker {
        active: HashMap<String, usize>,
        max_per_key: HashMap<String, usize>,
        total: usize,
        max_total: usize,
    }
    let tracker: Arc<Mutex<Tracker>> = Arc::default();
    let make = || -> Arc<dyn JobHandler> {
        let tracker = tracker.clone();
        Arc::new(handler("env_work", move |ctx| {
            let tracker = tracker.clone();
            async move {
                let key = ctx.job().lock_key.clone().unwrap();
                {
                    let mut t = tracker.lock().unwrap();
                    let n = t.active.entry(key.clone()).or_default();
                    *n += 1;
                    let n = *n;
                    let m = t.max_per_key.entry(key.clone()).or_default();
                    *m = (*m).max(n);
                    t.total += 1;
                    t.max_total = t.max_total.max(t.total);
                }
                // the work itself: long enough that the other worker tries to claim meanwhile
                tokio::time::sleep(Duration::from_millis(150)).await;
                {
                    let mut t = tracker.lock().unwrap();
                    *t.active.get_mut(&key).unwrap() -= 1;
                    t.total -= 1;
                }
                Ok(json!({}))
            }
        }))
    };
    let a = start(Worker::new(
        f.db.clone(),
        registry(vec![make()]),
        fast_options("lock-a"),
    ));
    let b = start(Worker::new(
        f.db.clone(),
        registry(vec![make()]),
        fast_options("lock-b"),
    ));
    wait_until(
        "the 10 keyed jobs to complete",
        Duration::from_secs(60),
        || async {
            let mut all = true;
            for id in &ids {
                all &= f.get(*id).await.status == JobStatus::Completed;
            }
            all
        },
    )
    .await;
    a.stop().await;
    b.stop().await;
    let t = tracker.lock().unwrap();
    assert_eq!(t.max_per_key.len(), 2);
    for (key, max) in &t.max_per_key {
        assert_eq!(*max, 1, "{key} ran {max} jobs at once");
    }
    assert!(
        t.max_total >= 2,
        "jobs of two environments should run at the same time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_short_jobs_and_releases_long_ones() {
    let f = fixture().await;
    let short = f.enqueue(f.job("short", json!({}))).await;
    let long = f.enqueue(f.job("long", json!({}))).await;
    let interrupted = Arc::new(AtomicUsize::new(0));
    let int2 = interrupted.clone();
    let reg = registry(vec![
        Arc::new(handler("short", |_ctx| async {
            // the work itself: still running at shutdown, done well within the grace period
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(json!({"short": true}))
        })),
        Arc::new(handler("long", move |_ctx| {
            let int2 = int2.clone();
            async move {
                // counts as interrupted unless it reaches the end, which it never does
                int2.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                int2.fetch_sub(1, Ordering::SeqCst);
                Ok(json!({}))
            }
        })),
    ]);
    let mut options = fast_options("stopper");
    options.shutdown_grace = Duration::from_millis(1500);
    let w = start(Worker::new(f.db.clone(), reg, options));
    wait_until("both jobs to run", Duration::from_secs(20), || async {
        f.get(short.id).await.status == JobStatus::Running
            && f.get(long.id).await.status == JobStatus::Running
    })
    .await;
    let began = std::time::Instant::now();
    let summary = w.stop().await;
    let took = began.elapsed();

    assert!(
        took >= Duration::from_millis(1400),
        "waited for the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(summary.completed, 1);
    assert_eq!(summary.released, 1);
    assert_eq!(interrupted.load(Ordering::SeqCst), 1);

    let s = f.get(short.id).await;
    assert_eq!(s.status, JobStatus::Completed);
    assert_eq!(s.result, Some(json!({"short": true})));
    let l = f.get(long.id).await;
    assert_eq!(l.status, JobStatus::Pending);
    assert_eq!(l.attempts, 0, "a released job does not use up an attempt");
    assert!(l.locked_by.is_none() && l.lease_expires_at.is_none());
    assert_eq!(
        event_names(&f.events(long.id).await),
        vec!["started", "released"]
    );
    // released jobs are claimable again at once
    let again = jobs::claim(&f.db, "next", LEASE, &types(&["long"]))
        .await
        .unwrap()
        .expect("released job is claimable");
    assert_eq!(again.id, long.id);
    assert_eq!(again.attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn progress_is_recorded_and_streamed_from_an_event_id() {
    let f = fixture().await;
    let job = f.enqueue(f.job("steps", json!({"steps": 3}))).await;
    #[derive(serde::Deserialize)]
    struct Payload {
        steps: i64,
    }
    let reg = registry(vec![Arc::new(handler("steps", |ctx| async move {
        let p: Payload = ctx.payload()?;
        for i in 1..=p.steps {
            ctx.progress(i, p.steps, Some(&format!("step {i}"))).await?;
        }
        Ok(json!({"done": p.steps}))
    }))]);
    let bad = f.enqueue(f.job("steps", json!({"steps": "three"}))).await;
    let w = start(Worker::new(f.db.clone(), reg, fast_options("progress")));
    wait_until("the job to complete", Duration::from_secs(20), || async {
        f.get(job.id).await.status == JobStatus::Completed
            && f.get(bad.id).await.status == JobStatus::Failed
    })
    .await;
    w.stop().await;

    let done = f.get(job.id).await;
    assert_eq!(
        done.progress,
        Some(json!({"current": 3, "total": 3, "percentage": 100, "message": "step 3"}))
    );
    let events = f.events(job.id).await;
    assert_eq!(
        event_names(&events),
        vec!["started", "progress", "progress", "progress", "completed"]
    );
    assert_eq!(events[1].data["percentage"], json!(33));
    // a client reconnecting with Last-Event-ID = the first progress event gets the rest
    let after = events[1].id;
    let job_id = job.id;
    let rest =
        f.db.tenant_tx(f.tenant, move |conn| {
            async move { jobs::events_after(conn, after, Some(job_id), 100).await }.scope_boxed()
        })
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| e.id).collect::<Vec<_>>(),
        events[2..].iter().map(|e| e.id).collect::<Vec<_>>()
    );

    // a payload of the wrong shape fails at once, naming the problem
    let failed = f.get(bad.id).await;
    assert_eq!(failed.attempts, 1);
    let err = failed.error.unwrap();
    assert!(
        err.contains("invalid payload for job type steps") && err.contains("invalid type"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notification_wakes_an_idle_worker_at_once() {
    let f = fixture().await;
    let reg = registry(vec![Arc::new(handler("ping", |_ctx| async {
        Ok(json!("pong"))
    }))]);
    let mut options = fast_options("listener");
    // without the notification the job would wait for the next poll, a minute away
    options.poll_interval = Duration::from_secs(60);
    options.listen_url = Some(f.test_db.admin_url());
    let w = start(Worker::new(f.db.clone(), reg, options));
    // the worker's LISTEN session is open: from now on a new job notifies it
    wait_until("the worker to LISTEN", Duration::from_secs(10), || async {
        !f.admin_query(
            "select 1 from pg_stat_activity \
             where datname = current_database() and query ilike 'LISTEN %'",
        )
        .await
        .is_empty()
    })
    .await;
    let job = f.enqueue(f.job("ping", json!({}))).await;
    wait_until(
        "the notified job to complete",
        Duration::from_secs(10),
        || async { f.get(job.id).await.status == JobStatus::Completed },
    )
    .await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_on_one_lock_key_return_nothing_instead_of_an_error() {
    let f = fixture().await;
    let j1 = f.enqueue(f.job("keyed", json!({})).lock_key("env:z")).await;
    let j2 = f.enqueue(f.job("keyed", json!({})).lock_key("env:z")).await;
    let connect = || async {
        let (client, conn) = tokio_postgres::connect(&f.test_db.admin_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    };
    let a = connect().await;
    let b = connect().await;
    // A claims the first job and keeps its transaction open
    a.batch_execute("begin").await.unwrap();
    let got_a = a
        .query(
            "select id::text from wfops_claim_job('a', 30, array['keyed'])",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(got_a[0].get::<_, String>(0), j1.id.to_string());
    // B does not see A's uncommitted claim, picks the second job of the same key, and waits on
    // the unique index until A commits
    let b_claim = tokio::spawn(async move {
        b.query(
            "select id::text from wfops_claim_job('b', 30, array['keyed'])",
            &[],
        )
        .await
    });
    // B's session is blocked on a lock, i.e. on A's uncommitted claim
    wait_until("B to wait on a lock", Duration::from_secs(10), || async {
        !f.admin_query(
            "select 1 from pg_stat_activity where datname = current_database() \
             and wait_event_type = 'Lock' and query like '%wfops_claim_job(''b''%'",
        )
        .await
        .is_empty()
    })
    .await;
    assert!(!b_claim.is_finished(), "B should wait for A's transaction");
    a.batch_execute("commit").await.unwrap();
    let got_b = b_claim.await.unwrap().expect("no error for the loser");
    assert!(got_b.is_empty(), "the loser claims nothing");
    let second = f.get(j2.id).await;
    assert_eq!(second.status, JobStatus::Pending);
    assert_eq!(second.attempts, 0);
    assert_eq!(f.get(j1.id).await.locked_by.as_deref(), Some("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeats_keep_a_job_longer_than_its_lease() {
    let f = fixture().await;
    let job = f.enqueue(f.job("slow", json!({}))).await;
    let runs = Arc::new(AtomicUsize::new(0));
    // the job runs until the test has seen it outlive three leases
    let finish = Arc::new(tokio::sync::Notify::new());
    let make = || -> Arc<dyn JobHandler> {
        let runs = runs.clone();
        let finish = finish.clone();
        Arc::new(handler("slow", move |_ctx| {
            let runs = runs.clone();
            let finish = finish.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                finish.notified().await;
                Ok(json!({}))
            }
        }))
    };
    let short_lease = |name| {
        let mut o = fast_options(name);
        o.lease = Duration::from_secs(1);
        o
    };
    let a = start(Worker::new(
        f.db.clone(),
        registry(vec![make()]),
        short_lease("hb-a"),
    ));
    let b = start(Worker::new(
        f.db.clone(),
        registry(vec![make()]),
        short_lease("hb-b"),
    ));
    wait_until(
        "the job to run for three leases, its lease renewed",
        Duration::from_secs(20),
        || async {
            let j = f.get(job.id).await;
            match (j.status, j.started_at, j.lease_expires_at) {
                (JobStatus::Running, Some(started), Some(lease)) => {
                    let now = chrono::Utc::now();
                    now - started > chrono::Duration::seconds(3) && lease > now
                }
                _ => false,
            }
        },
    )
    .await;
    // a permit is kept if the handler is not waiting yet: no lost wake-up
    finish.notify_one();
    wait_until(
        "the slow job to complete",
        Duration::from_secs(20),
        || async { f.get(job.id).await.status == JobStatus::Completed },
    )
    .await;
    let (sa, sb) = (a.stop().await, b.stop().await);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "never reclaimed while heartbeating"
    );
    assert_eq!(f.get(job.id).await.attempts, 1);
    assert_eq!(sa.completed + sb.completed, 1);
    assert_eq!(sa.lost + sb.lost, 0);
    assert!(!event_names(&f.events(job.id).await).contains(&"lease_expired"));
}
