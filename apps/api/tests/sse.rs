//! Server-Sent Events of background jobs: delivery through LISTEN/NOTIFY, resuming with
//! Last-Event-ID, tenant isolation, keep-alives and the listener's reconnection.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{spawn_app, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::jobs::{self, NewJob};
use wfops_db::ScopedFutureExt;

const WORKER: &str = "test-worker";

/// One parsed SSE frame (`comment` for `: …` lines).
#[derive(Debug, Clone, Default)]
struct Frame {
    id: Option<i64>,
    event: Option<String>,
    data: Option<Value>,
    comment: Option<String>,
}

struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(app: &TestApp, path: &str, token: &str, last_event_id: Option<i64>) -> Sse {
        let mut req = app.client.get(app.url(path)).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// The next frame, or `None` when none arrives within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..end + 2).collect();
                let mut f = Frame::default();
                for line in raw.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        f.comment = Some(c.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        f.id = Some(v.parse().expect("numeric id"));
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        f.event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        f.data = Some(serde_json::from_str(v).expect("JSON data"));
                    } else if line.starts_with("retry: ") {
                        return Some(Frame {
                            comment: Some("retry".into()),
                            ..Frame::default()
                        });
                    }
                }
                return Some(f);
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .expect("stream error")?;
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }

    /// The next frame that is an event (skipping comments), or `None` after `wait`.
    async fn next_event(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = self.next(left).await?;
            if f.event.is_some() {
                return Some(f);
            }
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(700);

async fn start_listener(app: &TestApp) {
    wfops_api::routes::sse::spawn_listener(app.state.sse.clone(), app.test_db.admin_url());
    for _ in 0..200 {
        if app.state.sse.is_listening() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the listener did not connect");
}

async fn enqueue(app: &TestApp, tenant: Uuid, job_type: &str) -> Uuid {
    let job_type = job_type.to_string();
    app.state
        .db
        .tenant_tx(tenant, |conn| {
            async move { jobs::enqueue(conn, NewJob::new(tenant, job_type, json!({}))).await }
                .scope_boxed()
        })
        .await
        .unwrap()
        .id
}

async fn claim(app: &TestApp, job_type: &str) -> Uuid {
    jobs::claim(
        &app.state.db,
        WORKER,
        Duration::from_secs(60),
        &[job_type.to_string()],
    )
    .await
    .unwrap()
    .expect("a due job")
    .id
}

async fn progress(app: &TestApp, tenant: Uuid, job: Uuid, current: i64, total: i64) {
    let ok = app
        .state
        .db
        .tenant_tx(tenant, |conn| {
            async move {
                jobs::record_progress(conn, job, WORKER, current, total, Some("working")).await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    assert!(ok);
}

async fn complete(app: &TestApp, tenant: Uuid, job: Uuid) {
    let ok = app
        .state
        .db
        .tenant_tx(tenant, |conn| {
            async move { jobs::complete(conn, job, WORKER, json!({"ok": true})).await }
                .scope_boxed()
        })
        .await
        .unwrap();
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_and_a_reconnect_gets_exactly_the_missed_ones() {
    let app = spawn_app().await;
    start_listener(&app).await;
    let a = app.tenant("Acme").await;
    let viewer = app.key(&a, "viewer").await;
    let job = enqueue(&app, a.id, "sse_test").await;

    let path = format!("/api/v1/sse/background-jobs/{job}");
    let mut stream = Sse::open(&app, &path, &viewer, None).await;
    let snap = stream.next_event(WAIT).await.expect("snapshot");
    assert_eq!(snap.event.as_deref(), Some("snapshot"));
    let snap_data = snap.data.unwrap();
    assert_eq!(snap_data["id"], job.to_string().as_str());
    assert_eq!(snap_data["status"], "pending");
    assert_eq!(snap.id, Some(0), "no event yet");

    assert_eq!(claim(&app, "sse_test").await, job);
    let started = stream.next_event(WAIT).await.expect("started event");
    assert_eq!(started.event.as_deref(), Some("started"));
    let mut seen = vec![started.id.unwrap()];
    for i in 1..=3 {
        progress(&app, a.id, job, i, 10).await;
        let f = stream.next_event(WAIT).await.expect("progress event");
        assert_eq!(f.event.as_deref(), Some("progress"));
        let data = f.data.unwrap();
        assert_eq!(data["job_id"], job.to_string().as_str());
        assert_eq!(data["event"], "progress");
        assert_eq!(data["data"]["current"], i);
        assert_eq!(data["data"]["percentage"], i * 10);
        assert_eq!(f.id.unwrap(), data["id"].as_i64().unwrap());
        seen.push(f.id.unwrap());
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    drop(stream);

    // missed while disconnected
    progress(&app, a.id, job, 4, 10).await;
    progress(&app, a.id, job, 5, 10).await;
    complete(&app, a.id, job).await;

    let last = *seen.last().unwrap();
    let mut stream = Sse::open(&app, &path, &viewer, Some(last)).await;
    let mut missed = Vec::new();
    while let Some(f) = stream.next_event(QUIET).await {
        missed.push(f);
    }
    let kinds: Vec<_> = missed.iter().map(|f| f.event.clone().unwrap()).collect();
    assert_eq!(kinds, ["progress", "progress", "completed"], "{missed:?}");
    assert!(missed.iter().all(|f| f.id.unwrap() > last));
    assert_eq!(missed[1].data.as_ref().unwrap()["data"]["current"], 5);

    // the query-string form resumes the same way
    let mut stream = Sse::open(
        &app,
        &format!("{path}?last_event_id={}", missed[1].id.unwrap()),
        &viewer,
        None,
    )
    .await;
    let f = stream.next_event(WAIT).await.unwrap();
    assert_eq!(f.event.as_deref(), Some("completed"));
    assert!(stream.next_event(QUIET).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_never_sees_another_tenants_events() {
    let app = spawn_app().await;
    start_listener(&app).await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Globex").await;
    let job_a = enqueue(&app, a.id, "sse_a").await;

    // another tenant's job id answers 404, with or without Last-Event-ID
    let resp = app
        .get(
            &format!("/api/v1/sse/background-jobs/{job_a}"),
            &b.admin_key,
        )
        .await;
    resp.expect_error(404, "job_not_found");
    let resp = app
        .send(
            app.client
                .get(app.url(&format!("/api/v1/sse/background-jobs/{job_a}")))
                .bearer_auth(&b.admin_key)
                .header("Last-Event-ID", "0"),
        )
        .await;
    resp.expect_error(404, "job_not_found");

    let mut all_b = Sse::open(&app, "/api/v1/sse/background-jobs", &b.admin_key, None).await;
    let snap = all_b.next_event(WAIT).await.unwrap();
    assert_eq!(snap.event.as_deref(), Some("snapshot"));
    assert_eq!(snap.data.unwrap()["jobs"], json!([]));
    let mut all_a = Sse::open(&app, "/api/v1/sse/background-jobs", &a.admin_key, None).await;
    let snap = all_a.next_event(WAIT).await.unwrap();
    let jobs = snap.data.unwrap()["jobs"].clone();
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    assert_eq!(jobs[0]["id"], job_a.to_string().as_str());

    claim(&app, "sse_a").await;
    progress(&app, a.id, job_a, 1, 2).await;
    complete(&app, a.id, job_a).await;
    let f = all_a.next_event(WAIT).await.unwrap();
    assert_eq!(f.event.as_deref(), Some("started"));
    let f = all_a.next_event(WAIT).await.unwrap();
    assert_eq!(f.event.as_deref(), Some("progress"));
    let f = all_a.next_event(WAIT).await.unwrap();
    assert_eq!(f.event.as_deref(), Some("completed"));
    assert!(
        all_b.next_event(QUIET).await.is_none(),
        "tenant B saw tenant A's events"
    );

    // B's own events do reach B, and A's stream does not get them
    let job_b = enqueue(&app, b.id, "sse_b").await;
    claim(&app, "sse_b").await;
    progress(&app, b.id, job_b, 1, 1).await;
    for kind in ["started", "progress"] {
        let f = all_b.next_event(WAIT).await.unwrap();
        assert_eq!(f.event.as_deref(), Some(kind));
        assert_eq!(f.data.unwrap()["job_id"], job_b.to_string().as_str());
    }
    assert!(all_a.next_event(QUIET).await.is_none());

    // resuming from 0 replays only the caller's own events
    let mut replay_b = Sse::open(&app, "/api/v1/sse/background-jobs", &b.admin_key, Some(0)).await;
    let mut replayed = Vec::new();
    while let Some(f) = replay_b.next_event(QUIET).await {
        replayed.push(f.data.unwrap()["job_id"].as_str().unwrap().to_string());
    }
    assert_eq!(replayed, [job_b.to_string(), job_b.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alives_bad_resume_ids_and_roles() {
    let app = spawn_app().await;
    let a = app.tenant("Acme").await;
    let resp = app
        .call(
            reqwest::Method::GET,
            "/api/v1/sse/background-jobs",
            None,
            None,
        )
        .await;
    resp.expect_error(401, "authentication_required");
    let resp = app
        .send(
            app.client
                .get(app.url("/api/v1/sse/background-jobs"))
                .bearer_auth(&a.admin_key)
                .header("Last-Event-ID", "abc"),
        )
        .await;
    let m = resp.expect_error(400, "invalid_query_parameter");
    assert!(m.contains("Last-Event-ID"), "{m}");
    let resp = app
        .get("/api/v1/sse/background-jobs?last_event_id=-4", &a.admin_key)
        .await;
    let m = resp.expect_error(400, "invalid_query_parameter");
    assert!(m.contains("last_event_id"), "{m}");
    let resp = app
        .get("/api/v1/sse/background-jobs/not-a-uuid", &a.admin_key)
        .await;
    resp.expect_error(400, "invalid_path_parameter");

    app.state.sse.set_keep_alive(Duration::from_millis(150));
    let viewer = app.key(&a, "viewer").await;
    let mut s = Sse::open(&app, "/api/v1/sse/background-jobs", &viewer, None).await;
    let mut comments = 0;
    while comments < 2 {
        let f = s.next(WAIT).await.expect("a frame");
        if f.comment.as_deref() == Some("keep-alive") {
            comments += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_and_nothing_written_meanwhile_is_lost() {
    let app = spawn_app().await;
    start_listener(&app).await;
    let a = app.tenant("Acme").await;
    let job = enqueue(&app, a.id, "sse_re").await;
    let mut s = Sse::open(
        &app,
        &format!("/api/v1/sse/background-jobs/{job}"),
        &a.admin_key,
        None,
    )
    .await;
    assert_eq!(
        s.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("snapshot")
    );
    claim(&app, "sse_re").await;
    assert_eq!(
        s.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("started")
    );

    // kill the LISTEN session from the server side
    let db_name = app.test_db.name().to_string();
    app.test_db
        .admin_execute(&format!(
            "select pg_terminate_backend(pid) from pg_stat_activity \
              where datname = '{db_name}' and query ilike 'LISTEN%'"
        ))
        .await
        .unwrap();
    let mut dropped = false;
    for _ in 0..500 {
        if !app.state.sse.is_listening() {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(dropped, "the LISTEN session was not terminated");
    // written while the listener is down or reconnecting
    progress(&app, a.id, job, 1, 3).await;
    let f = s.next_event(WAIT).await.expect("delivered after reconnect");
    assert_eq!(f.event.as_deref(), Some("progress"));
    assert_eq!(f.data.unwrap()["data"]["current"], 1);
    assert!(app.state.sse.is_listening());
    // and live delivery works again
    progress(&app, a.id, job, 2, 3).await;
    let f = s.next_event(WAIT).await.expect("live again");
    assert_eq!(f.data.unwrap()["data"]["current"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_after_a_later_one_is_still_delivered() {
    let app = spawn_app().await;
    start_listener(&app).await;
    let a = app.tenant("Acme").await;
    let job1 = enqueue(&app, a.id, "sse_late").await;
    let job2 = enqueue(&app, a.id, "sse_late").await;
    claim(&app, "sse_late").await;
    claim(&app, "sse_late").await;
    let mut s = Sse::open(&app, "/api/v1/sse/background-jobs", &a.admin_key, None).await;
    assert_eq!(
        s.next_event(WAIT).await.unwrap().event.as_deref(),
        Some("snapshot")
    );

    // transaction A takes an event id and holds its commit
    let (inserted_tx, inserted_rx) = tokio::sync::oneshot::channel::<()>();
    let (commit_tx, commit_rx) = tokio::sync::oneshot::channel::<()>();
    let db = app.state.db.clone();
    let tenant = a.id;
    let held = tokio::spawn(async move {
        db.tenant_tx(tenant, move |conn| {
            async move {
                let ok = jobs::record_progress(conn, job1, WORKER, 1, 2, Some("held back")).await?;
                assert!(ok);
                let _ = inserted_tx.send(());
                let _ = commit_rx.await;
                Ok::<_, wfops_db::Error>(())
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    });
    inserted_rx.await.unwrap();
    // transaction B takes a higher id and commits first; the stream reads past A's id
    progress(&app, a.id, job2, 1, 2).await;
    let first = s.next_event(WAIT).await.expect("the later event");
    assert_eq!(first.data.unwrap()["job_id"], job2.to_string().as_str());
    // A commits: its event has a lower id than the stream's position, and still arrives
    commit_tx.send(()).unwrap();
    held.await.unwrap();
    let late = s.next_event(WAIT).await.expect("the late event");
    let late_data = late.data.unwrap();
    assert_eq!(late_data["job_id"], job1.to_string().as_str());
    assert_eq!(late_data["data"]["message"], "held back");
    assert!(late.id.unwrap() < first.id.unwrap());
    // and only once
    assert!(s.next_event(QUIET).await.is_none());
}
