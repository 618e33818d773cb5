//! Cancelling an environment's jobs: pending ones never run, a running one is stopped by its
//! worker at the next heartbeat, and other environments' jobs are untouched.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::jobs::{self, JobStatus};
use wfops_db::ScopedFutureExt;
use wfops_worker::{Error, JobContext, JobHandler, Worker};

use crate::common::*;

/// Never finishes; says so on `dropped` when the worker aborts it.
struct Endless {
    started: mpsc::UnboundedSender<Uuid>,
    dropped: mpsc::UnboundedSender<Uuid>,
}

struct Guard(mpsc::UnboundedSender<Uuid>, Uuid);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

#[async_trait::async_trait]
impl JobHandler for Endless {
    fn job_type(&self) -> &str {
        "endless"
    }
    async fn run(&self, ctx: &JobContext) -> Result<Value, Error> {
        let _guard = Guard(self.dropped.clone(), ctx.job_id());
        let _ = self.started.send(ctx.job_id());
        std::future::pending::<()>().await;
        Ok(Value::Null)
    }
}

async fn environment(f: &Fixture, name: &'static str) -> Uuid {
    let tenant = f.tenant;
    f.db.tenant_tx(tenant, move |conn| {
        async move {
            environments::insert(
                conn,
                &NewEnvironment {
                    tenant_id: tenant,
                    name,
                    url: "https://n8n.example.com",
                    provider: "n8n",
                    environment_class: "dev",
                    api_key_encrypted: None,
                    drift_handling_mode: "warn_only",
                    git_repo_url: None,
                    git_branch: "main",
                    git_folder: None,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_an_environments_jobs_stops_the_running_one_and_drops_the_pending_ones() {
    let f = fixture().await;
    let (gone, kept) = (environment(&f, "dev").await, environment(&f, "prod").await);
    let running = f
        .enqueue(f.job("endless", json!({})).for_environment(gone))
        .await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let mut options = fast_options("cancel");
    options.lease = Duration::from_secs(3);
    let w = start(Worker::new(
        f.db.clone(),
        registry(vec![Arc::new(Endless {
            started: started_tx,
            dropped: dropped_tx,
        })]),
        options,
    ));
    let first = tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the job starts")
        .unwrap();
    assert_eq!(first, running.id);
    // queued behind it (same lock key), and one of another environment (a type this worker
    // does not run, so both stay pending)
    let pending = f
        .enqueue(f.job("other", json!({})).for_environment(gone))
        .await;
    let elsewhere = f
        .enqueue(f.job("other", json!({})).for_environment(kept))
        .await;

    let cancelled =
        f.db.tenant_tx(f.tenant, move |conn| {
            async move {
                jobs::cancel_for_environment(conn, gone, "the environment was deleted").await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    let mut expected = vec![running.id, pending.id];
    expected.sort();
    let mut got = cancelled.clone();
    got.sort();
    assert_eq!(got, expected);

    // the worker stops the running job at its next heartbeat (a third of the 3 s lease)
    let stopped = tokio::time::timeout(Duration::from_secs(10), dropped.recv())
        .await
        .expect("the worker stops the cancelled job")
        .unwrap();
    assert_eq!(stopped, running.id);
    let summary = w.stop().await;
    assert_eq!(summary.lost, 1, "{summary:?}");

    for id in [running.id, pending.id] {
        let job = f.get(id).await;
        assert_eq!(job.status, JobStatus::Cancelled);
        assert_eq!(job.error.as_deref(), Some("the environment was deleted"));
        assert!(job.locked_by.is_none() && job.completed_at.is_some());
        assert_eq!(event_names(&f.events(id).await).last(), Some(&"cancelled"));
    }
    assert_eq!(f.get(elsewhere.id).await.status, JobStatus::Pending);
}
