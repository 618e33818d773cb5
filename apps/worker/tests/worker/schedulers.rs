use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use wfops_db::jobs::{self, JobStatus};
use wfops_db::{audit, scheduler as state, ScopedFutureExt};
use wfops_worker::schedulers::RetentionCleanup;
use wfops_worker::{Error, Registry, Scheduler, SchedulerContext, Worker};

use crate::common::*;

#[derive(Default)]
struct Ticks {
    starts: Vec<Instant>,
    active: usize,
    max_active: usize,
}

/// Counts its ticks; fails the ticks whose number is in `fail_on` (1-based); panics on those in
/// `panic_on`.
struct Probe {
    name: &'static str,
    interval: Duration,
    ticks: Arc<Mutex<Ticks>>,
    fail_on: Vec<usize>,
    panic_on: Vec<usize>,
}

#[async_trait::async_trait]
impl Scheduler for Probe {
    fn name(&self) -> &str {
        self.name
    }
    fn interval(&self) -> Duration {
        self.interval
    }
    async fn tick(&self, _ctx: &SchedulerContext) -> Result<(), Error> {
        let n = {
            let mut t = self.ticks.lock().unwrap();
            t.starts.push(Instant::now());
            t.active += 1;
            t.max_active = t.max_active.max(t.active);
            t.starts.len()
        };
        // the work of a tick: long enough for an overlapping tick to be seen
        tokio::time::sleep(Duration::from_millis(60)).await;
        self.ticks.lock().unwrap().active -= 1;
        if self.panic_on.contains(&n) {
            panic!("probe tick {n} panicked");
        }
        if self.fail_on.contains(&n) {
            return Err(Error::Tick(format!("tick {n}: n8n unreachable")));
        }
        Ok(())
    }
}

async fn state_of(f: &Fixture, name: &'static str) -> Option<state::SchedulerState> {
    f.db.system_tx(move |conn| async move { state::get(conn, name).await }.scope_boxed())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduler_ticks_once_per_interval_across_two_workers() {
    let f = fixture().await;
    let ticks: Arc<Mutex<Ticks>> = Arc::default();
    let probe = |ticks: &Arc<Mutex<Ticks>>| Probe {
        name: "probe",
        interval: Duration::from_secs(1),
        ticks: ticks.clone(),
        fail_on: vec![],
        panic_on: vec![],
    };
    let a = start(
        Worker::new(f.db.clone(), Registry::new(), fast_options("sched-a"))
            .with_scheduler(probe(&ticks)),
    );
    let b = start(
        Worker::new(f.db.clone(), Registry::new(), fast_options("sched-b"))
            .with_scheduler(probe(&ticks)),
    );
    wait_until("three ticks", Duration::from_secs(20), || async {
        ticks.lock().unwrap().starts.len() >= 3
    })
    .await;
    a.stop().await;
    b.stop().await;

    let (starts, max_active) = {
        let t = ticks.lock().unwrap();
        (t.starts.clone(), t.max_active)
    };
    // a fourth may have started while the workers stopped; two uncoordinated workers would
    // have ticked twice per interval (and fail the gap check below)
    assert!((3..=4).contains(&starts.len()), "{} ticks", starts.len());
    assert_eq!(max_active, 1, "two ticks of one scheduler overlapped");
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(900), "ticks {gap:?} apart");
    }
    let s = state_of(&f, "probe").await.expect("registered");
    assert_eq!(s.run_count, starts.len() as i64);
    assert_eq!(s.interval_seconds, 1);
    assert!(s.enabled);
    assert!(s.last_error.is_none());
    assert!(s.locked_by.is_none());
    assert!(s.last_duration_ms.unwrap() >= 60);
    let last_run = s.last_run_at.unwrap();
    assert_eq!(s.next_run_at, last_run + chrono::Duration::seconds(1));
    assert!(s.last_finished_at.unwrap() >= last_run);

    // the status endpoint's query lists it
    let all =
        f.db.system_tx(|conn| async move { state::list_states(conn).await }.scope_boxed())
            .await
            .unwrap();
    assert_eq!(
        all.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["probe"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduler_records_last_error_and_clears_it_on_success() {
    let f = fixture().await;
    let ticks: Arc<Mutex<Ticks>> = Arc::default();
    let w = start(
        Worker::new(f.db.clone(), Registry::new(), fast_options("errors")).with_scheduler(Probe {
            name: "flaky_probe",
            interval: Duration::from_secs(1),
            ticks: ticks.clone(),
            fail_on: vec![1],
            panic_on: vec![2],
        }),
    );
    wait_until("the first tick", Duration::from_secs(10), || async {
        state_of(&f, "flaky_probe").await.map(|s| s.run_count) == Some(1)
    })
    .await;
    let s = state_of(&f, "flaky_probe").await.unwrap();
    assert_eq!(s.last_error.as_deref(), Some("tick 1: n8n unreachable"));
    assert!(s.next_run_at > Utc::now() - chrono::Duration::seconds(1));

    wait_until("the second tick", Duration::from_secs(10), || async {
        state_of(&f, "flaky_probe").await.map(|s| s.run_count) == Some(2)
    })
    .await;
    let s = state_of(&f, "flaky_probe").await.unwrap();
    assert_eq!(
        s.last_error.as_deref(),
        Some("scheduler tick panicked: probe tick 2 panicked")
    );

    wait_until("the third tick", Duration::from_secs(10), || async {
        state_of(&f, "flaky_probe").await.map(|s| s.run_count) == Some(3)
    })
    .await;
    w.stop().await;
    let s = state_of(&f, "flaky_probe").await.unwrap();
    assert_eq!(s.last_error, None, "a success clears the error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabled_scheduler_is_listed_but_never_ticks() {
    struct Off(Arc<Mutex<usize>>);
    #[async_trait::async_trait]
    impl Scheduler for Off {
        fn name(&self) -> &str {
            "sync_scheduler"
        }
        fn interval(&self) -> Duration {
            Duration::from_secs(1)
        }
        fn enabled(&self) -> bool {
            false
        }
        async fn tick(&self, _ctx: &SchedulerContext) -> Result<(), Error> {
            *self.0.lock().unwrap() += 1;
            Ok(())
        }
    }
    let f = fixture().await;
    let count = Arc::new(Mutex::new(0));
    // an enabled scheduler of the same interval beside it: once that one has ticked twice, the
    // disabled one has been due twice too
    let witness: Arc<Mutex<Ticks>> = Arc::default();
    let w = start(
        Worker::new(f.db.clone(), Registry::new(), fast_options("off"))
            .with_scheduler(Off(count.clone()))
            .with_scheduler(Probe {
                name: "witness",
                interval: Duration::from_secs(1),
                ticks: witness.clone(),
                fail_on: vec![],
                panic_on: vec![],
            }),
    );
    wait_until(
        "two ticks of the enabled scheduler",
        Duration::from_secs(20),
        || async { witness.lock().unwrap().starts.len() >= 2 },
    )
    .await;
    w.stop().await;
    assert_eq!(*count.lock().unwrap(), 0);
    let s = state_of(&f, "sync_scheduler").await.unwrap();
    assert!(!s.enabled);
    assert_eq!(s.run_count, 0);
    assert!(s.last_run_at.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_or_duplicate_scheduler_names_are_refused() {
    let f = fixture().await;
    let ticks: Arc<Mutex<Ticks>> = Arc::default();
    let probe = |name: &'static str| Probe {
        name,
        interval: Duration::from_secs(1),
        ticks: ticks.clone(),
        fail_on: vec![],
        panic_on: vec![],
    };
    let err = Worker::new(f.db.clone(), Registry::new(), fast_options("dup"))
        .with_scheduler(probe("same"))
        .with_scheduler(probe("same"))
        .run(async {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("two schedulers have this name"),
        "{err}"
    );
    let err = Worker::new(f.db.clone(), Registry::new(), fast_options("bad"))
        .with_scheduler(probe("Bad-Name"))
        .run(async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"Bad-Name\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_cleanup_deletes_only_expired_records() {
    let f = fixture().await;
    let other = f.other_tenant().await;
    let old_done = f.enqueue(f.job("sync", json!({}))).await;
    let new_done = f.enqueue(f.job("sync", json!({}))).await;
    let old_pending = f.enqueue(f.job("sync", json!({}))).await;
    let other_old = f.enqueue(jobs::NewJob::new(other, "sync", json!({}))).await;
    let audit_rows = |tenant| {
        f.db.tenant_tx(tenant, move |conn| {
            async move {
                for action in ["old", "recent"] {
                    audit::insert(
                        conn,
                        &audit::NewAuditLog {
                            tenant_id: tenant,
                            actor_type: "system",
                            actor_id: None,
                            impersonated_user_id: None,
                            action,
                            resource_type: "environment",
                            resource_id: None,
                            details: json!({}),
                            request_id: None,
                            ip_address: None,
                        },
                    )
                    .await?;
                }
                Ok::<_, wfops_db::Error>(())
            }
            .scope_boxed()
        })
    };
    audit_rows(f.tenant).await.unwrap();
    audit_rows(other).await.unwrap();
    let finished = [old_done.id, new_done.id, other_old.id]
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    f.test_db
        .admin_execute(&format!(
            "insert into job_events (tenant_id, job_id, event) values
                ('{t}', '{a}', 'completed'), ('{t}', '{p}', 'progress'), ('{t}', '{n}', 'completed');
             update background_jobs set status = 'completed', completed_at = now() where id in ({finished});
             update background_jobs set completed_at = now() - interval '31 days'
               where id in ('{a}', '{o}');
             update background_jobs set created_at = now() - interval '40 days' where id = '{p}';
             update job_events set created_at = now() - interval '31 days' where job_id in ('{a}', '{p}');
             update audit_logs set created_at = now() - interval '366 days' where action = 'old';",
            t = f.tenant,
            a = old_done.id,
            p = old_pending.id,
            n = new_done.id,
            o = other_old.id,
        ))
        .await
        .unwrap();

    let cleanup = RetentionCleanup {
        interval: Duration::from_secs(86_400),
        job_retention: Duration::from_secs(30 * 86_400),
        audit_log_retention: Duration::from_secs(365 * 86_400),
    };
    let ctx = SchedulerContext {
        db: f.db.clone(),
        worker: Arc::from("test"),
    };
    let report = cleanup.run_once(&ctx).await.unwrap();
    assert_eq!(report.tenants, 2);
    assert_eq!(report.jobs, 2, "the two jobs finished 31 days ago");
    // the old progress event of the pending job (the old job's own event goes with its job)
    assert_eq!(report.job_events, 2);
    assert_eq!(report.audit_logs, 2);

    assert!(f.get_in(f.tenant, old_done.id).await.is_none());
    assert!(f.get_in(other, other_old.id).await.is_none());
    assert_eq!(f.get(new_done.id).await.status, JobStatus::Completed);
    assert_eq!(f.get(old_pending.id).await.status, JobStatus::Pending);
    assert!(f.events(old_pending.id).await.is_empty());
    assert_eq!(event_names(&f.events(new_done.id).await), vec!["completed"]);
    let left = f
        .admin_query("select action from audit_logs order by action")
        .await;
    let actions: Vec<String> = left.iter().map(|r| r.get(0)).collect();
    assert_eq!(actions, vec!["recent", "recent"]);

    // a second pass has nothing left to do
    let again = cleanup.run_once(&ctx).await.unwrap();
    assert_eq!((again.jobs, again.job_events, again.audit_logs), (0, 0, 0));
}
