//! Every job runs under a deadline: a run that never ends is interrupted, failed as retryable,
//! and its lock key is free for the next job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wfops_worker::{Error, JobContext, JobHandler, Worker};

use crate::common::*;

/// Reports one progress message, then never finishes.
struct Hang {
    job_type: &'static str,
    /// `None`: the handler keeps the default deadline (and the worker's options override it).
    deadline: Option<Duration>,
}

#[async_trait::async_trait]
impl JobHandler for Hang {
    fn job_type(&self) -> &str {
        self.job_type
    }
    fn deadline(&self) -> Duration {
        self.deadline.unwrap_or(wfops_worker::DEFAULT_JOB_DEADLINE)
    }
    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        ctx.progress(0, 1, Some("fetching branch main")).await?;
        std::future::pending::<()>().await;
        Ok(Value::Null)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_never_finishes_fails_at_its_deadline_and_frees_its_lock() {
    let f = fixture().await;
    let declared = f
        .enqueue(
            f.job("hang_declared", json!({}))
                .lock_key("env:a")
                .max_attempts(2),
        )
        .await;
    let configured = f
        .enqueue(
            f.job("hang_configured", json!({}))
                .lock_key("env:b")
                .max_attempts(1),
        )
        .await;
    let mut options = fast_options("deadline");
    options
        .job_deadlines
        .insert("hang_configured".into(), Duration::from_secs(1));
    let reg = registry(vec![
        Arc::new(Hang {
            job_type: "hang_declared",
            deadline: Some(Duration::from_secs(1)),
        }),
        Arc::new(Hang {
            job_type: "hang_configured",
            deadline: None,
        }),
        Arc::new(handler("after", |_ctx| async { Ok(json!({"ran": true})) })),
    ]);
    let started = Instant::now();
    let w = start(Worker::new(f.db.clone(), reg, options));
    wait_until(
        "both hanging jobs to run",
        Duration::from_secs(10),
        || async {
            f.get(declared.id).await.progress.is_some()
                && f.get(configured.id).await.progress.is_some()
        },
    )
    .await;
    // the next job of environment b waits for the hanging one, which holds env:b
    let follower = f.enqueue(f.job("after", json!({})).lock_key("env:b")).await;

    wait_until(
        "the follower to complete",
        Duration::from_secs(15),
        || async { f.get(follower.id).await.status.is_finished() },
    )
    .await;
    wait_until(
        "the declared job to fail for good",
        Duration::from_secs(15),
        || async { f.get(declared.id).await.status.is_finished() },
    )
    .await;
    let elapsed = started.elapsed();
    let summary = w.stop().await;

    // a configured deadline overrides the handler's hour; one attempt: failed for good
    let hung = f.get(configured.id).await;
    assert_eq!(hung.status.as_str(), "failed");
    assert_eq!(
        hung.error.as_deref(),
        Some("deadline of 1 s exceeded while fetching branch main")
    );
    assert!(hung.locked_by.is_none());
    let ran_for = hung.completed_at.unwrap() - hung.started_at.unwrap();
    assert!(
        ran_for < chrono::Duration::seconds(5),
        "failed {ran_for} after it started"
    );
    let next = f.get(follower.id).await;
    assert_eq!(next.status.as_str(), "completed");
    assert_eq!(next.result, Some(json!({"ran": true})));
    assert!(next.started_at.unwrap() >= hung.completed_at.unwrap());

    // the declared deadline is retryable: retried once, then failed (max_attempts 2)
    let hung = f.get(declared.id).await;
    assert_eq!(hung.status.as_str(), "failed");
    assert_eq!(hung.attempts, 2);
    assert_eq!(
        hung.error.as_deref(),
        Some("deadline of 1 s exceeded while fetching branch main")
    );
    let events = f.events(declared.id).await;
    assert_eq!(
        event_names(&events),
        vec![
            "started",
            "progress",
            "retry_scheduled",
            "started",
            "progress",
            "failed"
        ]
    );
    assert_eq!(summary.retried, 1);
    assert_eq!(summary.failed, 2);
    assert_eq!(summary.completed, 1);
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}
