//! Notifications delivered to real local receivers: an HTTP server that verifies the webhook
//! signature with the documented algorithm (and refuses a wrong one), the same server standing
//! in for Slack, and a real SMTP server (Python's aiosmtpd) whose maildir the test reads back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_db::notifications::{self as store, ChannelRow, DeliveryRow, NewChannel};
use wfops_db::ScopedFutureExt;
use wfops_engine::notify::{self, DeliveryStatus, Event, IncidentInfo};
use wfops_engine::EngineError;
use wfops_notify::signature;

// ---------------------------------------------------------------------------------------------
// the HTTP receiver

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// What the receiver's verification said (webhook path only).
    verified: Option<Result<(), signature::VerifyError>>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    /// The secret the receiver verifies `/hook` requests with.
    secret: Mutex<Option<String>>,
    /// Statuses to answer, in order; 200 once empty.
    script: Mutex<VecDeque<u16>>,
    received: Mutex<Vec<Received>>,
}

struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect::<Vec<_>>();
    let path = req.path().to_owned();
    // the documented verification, as a receiver would write it
    let verified = (path == "/hook").then(|| {
        let header = req
            .headers()
            .get(signature::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let secret = state.secret.lock().unwrap().clone().unwrap_or_default();
        let now = chrono::Utc::now().timestamp();
        signature::verify(
            header,
            &secret,
            &body,
            now,
            signature::DEFAULT_TOLERANCE_SECONDS,
        )
    });
    let refused = matches!(verified, Some(Err(_)));
    state.received.lock().unwrap().push(Received {
        path,
        headers,
        body: body.to_vec(),
        verified,
    });
    if refused {
        return HttpResponse::Unauthorized().body("bad signature");
    }
    let status = state.script.lock().unwrap().pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body("ok")
}

impl Receiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState::default());
        let data = web::Data::from(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(receive))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv().unwrap();
        Self {
            url: format!("http://{addr}"),
            state,
            handle,
            thread: Some(thread),
        }
    }

    fn answer(&self, statuses: &[u16]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    fn verify_with(&self, secret: &str) {
        *self.state.secret.lock().unwrap() = Some(secret.to_owned());
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            futures::executor::block_on(self.handle.stop(false));
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the SMTP server

struct Smtp {
    port: u16,
    maildir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Smtp {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (python3 -m pip install aiosmtpd)");
        let mut smtp = Self {
            port,
            maildir,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = smtp.child.try_wait() {
                panic!("aiosmtpd exited with {status}: is it installed (python3 -m pip install aiosmtpd)?");
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        smtp
    }

    /// The messages in the maildir, as text.
    fn messages(&self) -> Vec<String> {
        read_dir(&self.maildir.join("new"))
    }
}

fn read_dir(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// helpers

async fn local_harness() -> common::Harness {
    common::harness_with(|c| c.notify_allow_private_targets = true).await
}

/// A channel of the harness' tenant; returns it and (for a webhook) its signing secret.
async fn channel(
    h: &common::Harness,
    kind: &str,
    events: &[&str],
    url: Option<&str>,
    recipients: Option<Vec<&str>>,
    enabled: bool,
) -> (ChannelRow, Option<String>) {
    let (webhook_url, secret, ciphertext) = match kind {
        "webhook" => {
            let secret = notify::new_signing_secret();
            let c = h.ctx.cipher.encrypt_str(&secret).unwrap();
            (url.map(str::to_owned), Some(secret), Some(c))
        }
        "slack" => (
            None,
            None,
            Some(h.ctx.cipher.encrypt_str(url.unwrap()).unwrap()),
        ),
        _ => (None, None, None),
    };
    let name = format!("{kind}-{}", Uuid::new_v4().simple());
    let events = json!(events);
    let recipients = recipients.map(|r| json!(r));
    let tenant = h.tenant;
    let row = h
        .ctx
        .db
        .tenant_tx(tenant, |conn| {
            async move {
                store::insert_channel(
                    conn,
                    &NewChannel {
                        tenant_id: tenant,
                        name: &name,
                        kind,
                        enabled,
                        events,
                        webhook_url: webhook_url.as_deref(),
                        secret_ciphertext: ciphertext.as_deref(),
                        email_recipients: recipients,
                        created_by: None,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    (row, secret)
}

fn incident() -> Event {
    Event::IncidentCreated(IncidentInfo {
        incident_id: Uuid::new_v4(),
        environment_id: Uuid::new_v4(),
        environment_name: "production".into(),
        severity: "high".into(),
        title: "2 workflows changed outside Git".into(),
        affected_workflows: 2,
    })
}

async fn emit(h: &common::Harness, event: &Event) -> Vec<Uuid> {
    let tenant = h.tenant;
    let event = event.clone();
    h.ctx
        .db
        .tenant_tx(tenant, |conn| {
            async move { notify::emit(conn, tenant, &event).await }.scope_boxed()
        })
        .await
        .unwrap()
}

async fn delivery(h: &common::Harness, id: Uuid) -> DeliveryRow {
    h.ctx
        .db
        .tenant_tx(h.tenant, |conn| {
            async move { store::get_delivery(conn, id).await }.scope_boxed()
        })
        .await
        .unwrap()
}

async fn job_count(h: &common::Harness) -> i64 {
    let tenant = h.tenant;
    h.ctx
        .db
        .tenant_tx(tenant, |conn| {
            async move {
                Ok::<_, wfops_db::Error>(
                    wfops_db::jobs::list(
                        conn,
                        &wfops_db::jobs::JobFilter {
                            job_type: Some("notification_delivery".into()),
                            ..Default::default()
                        },
                        wfops_db::jobs::PageRequest {
                            page: 1,
                            page_size: 100,
                        },
                    )
                    .await?
                    .total,
                )
            }
            .scope_boxed()
        })
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// tests

#[tokio::test]
async fn a_webhook_is_signed_and_the_receiver_verifies_it() {
    let h = local_harness().await;
    let rx = Receiver::start();
    let (ch, secret) = channel(
        &h,
        "webhook",
        &["incident.created"],
        Some(&format!("{}/hook", rx.url)),
        None,
        true,
    )
    .await;
    rx.verify_with(secret.as_deref().unwrap());
    let event = incident();
    let ids = emit(&h, &event).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(job_count(&h).await, 1, "one job per delivery");
    let pending = delivery(&h, ids[0]).await;
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert_eq!(pending.channel_id, Some(ch.id));

    let report = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap();
    assert_eq!(report.status, DeliveryStatus::Delivered);
    assert_eq!(report.response_status, Some(200));

    let got = rx.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.verified, Some(Ok(())));
    assert_eq!(req.header("X-WorkflowOps-Event"), Some("incident.created"));
    assert_eq!(
        req.header("X-WorkflowOps-Delivery"),
        Some(ids[0].to_string().as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body = req.json();
    assert_eq!(body["type"], "incident.created");
    assert_eq!(body["id"], json!(pending.event_id));
    assert_eq!(body["tenant_id"], json!(h.tenant));
    assert_eq!(body["data"], event.data());
    // the header is exactly t=<unix>,v1=<hmac of "<t>.<body>">
    let header = req.header("X-WorkflowOps-Signature").unwrap();
    let t: i64 = header
        .strip_prefix("t=")
        .and_then(|r| r.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        header,
        signature::header_value(secret.as_deref().unwrap(), t, &req.body)
    );

    let done = delivery(&h, ids[0]).await;
    assert_eq!(done.status, DeliveryStatus::Delivered);
    assert_eq!(done.attempts, 1);
    assert!(done.delivered_at.is_some());
    // a job that runs again sends nothing more
    let again = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap();
    assert!(again.already_done);
    assert_eq!(rx.received().len(), 1);
}

#[tokio::test]
async fn a_receiver_with_another_secret_refuses_and_the_delivery_fails_permanently() {
    let h = local_harness().await;
    let rx = Receiver::start();
    channel(
        &h,
        "webhook",
        &["incident.created"],
        Some(&format!("{}/hook", rx.url)),
        None,
        true,
    )
    .await;
    rx.verify_with("whsec_not-the-channels-secret");
    let ids = emit(&h, &incident()).await;
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(matches!(
        rx.received()[0].verified,
        Some(Err(signature::VerifyError::Mismatch))
    ));
    let row = delivery(&h, ids[0]).await;
    assert_eq!(row.status, DeliveryStatus::Failed);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.response_status, Some(401));
    assert_eq!(
        row.last_error.as_deref(),
        Some("the webhook answered HTTP 401")
    );
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers() {
    let h = local_harness().await;
    let rx = Receiver::start();
    let (_, secret) = channel(
        &h,
        "webhook",
        &["incident.created"],
        Some(&format!("{}/hook", rx.url)),
        None,
        true,
    )
    .await;
    rx.verify_with(secret.as_deref().unwrap());
    rx.answer(&[503, 429]);
    let ids = emit(&h, &incident()).await;

    for (attempt, status) in [(1, 503), (2, 429)] {
        let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(matches!(err, EngineError::Notification { .. }));
        let row = delivery(&h, ids[0]).await;
        assert_eq!(row.status, DeliveryStatus::Pending);
        assert_eq!(row.attempts, attempt);
        assert_eq!(row.response_status, Some(status));
        assert_eq!(
            row.last_error,
            Some(format!("the webhook answered HTTP {status}"))
        );
    }
    let report = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap();
    assert_eq!(report.status, DeliveryStatus::Delivered);
    assert_eq!(report.attempts, 3);
    let row = delivery(&h, ids[0]).await;
    assert_eq!(row.last_error, None);
    // every attempt carried the same delivery id, so the receiver can drop repeats
    let got = rx.received();
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|r| r.header("X-WorkflowOps-Delivery") == Some(ids[0].to_string().as_str())));
}

#[tokio::test]
async fn a_delivery_gives_up_after_its_last_attempt_and_a_4xx_is_permanent() {
    let h = local_harness().await;
    let rx = Receiver::start();
    let (_, secret) = channel(
        &h,
        "webhook",
        &["incident.created"],
        Some(&format!("{}/hook", rx.url)),
        None,
        true,
    )
    .await;
    rx.verify_with(secret.as_deref().unwrap());
    rx.answer(&[500; notify::DELIVERY_MAX_ATTEMPTS as usize]);
    let ids = emit(&h, &incident()).await;
    for attempt in 1..=notify::DELIVERY_MAX_ATTEMPTS {
        let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
        assert_eq!(
            err.is_retryable(),
            attempt < notify::DELIVERY_MAX_ATTEMPTS,
            "attempt {attempt}: {err}"
        );
    }
    let row = delivery(&h, ids[0]).await;
    assert_eq!(row.status, DeliveryStatus::Failed);
    assert_eq!(row.attempts, notify::DELIVERY_MAX_ATTEMPTS);

    // 404 is permanent at once; 408 is retried
    rx.answer(&[404, 408]);
    let ids = emit(&h, &incident()).await;
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(delivery(&h, ids[0]).await.status, DeliveryStatus::Failed);
    let ids = emit(&h, &incident()).await;
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(delivery(&h, ids[0]).await.status, DeliveryStatus::Pending);
}

#[tokio::test]
async fn a_receiver_that_is_down_is_retried_and_the_error_says_so() {
    let h = local_harness().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    channel(
        &h,
        "webhook",
        &["incident.created"],
        Some(&format!("http://127.0.0.1:{port}/hook")),
        None,
        true,
    )
    .await;
    let ids = emit(&h, &incident()).await;
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let row = delivery(&h, ids[0]).await;
    assert_eq!(row.status, DeliveryStatus::Pending);
    assert_eq!(
        row.last_error.as_deref(),
        Some("the webhook: the connection failed")
    );
}

#[tokio::test]
async fn slack_gets_text_and_blocks_and_its_url_never_reaches_the_log() {
    let h = local_harness().await;
    let rx = Receiver::start();
    let slack_url = format!("{}/slack/T000/B000/XXXXSECRETXXXX", rx.url);
    channel(
        &h,
        "slack",
        &["incident.created"],
        Some(&slack_url),
        None,
        true,
    )
    .await;
    let ids = emit(&h, &incident()).await;
    notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap();
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/slack/T000/B000/XXXXSECRETXXXX");
    assert!(got[0].header("X-WorkflowOps-Signature").is_none());
    let body = got[0].json();
    assert_eq!(
        body["text"],
        "Drift incident opened: 2 workflows changed outside Git"
    );
    let section = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(section.contains("*Environment:* production"), "{section}");

    // a refusal is logged without the URL
    rx.answer(&[403]);
    let ids = emit(&h, &incident()).await;
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(!err.to_string().contains("XXXXSECRETXXXX"), "{err}");
    let row = delivery(&h, ids[0]).await;
    let logged = format!("{row:?}");
    assert!(!logged.contains("XXXXSECRETXXXX"), "{logged}");
    assert_eq!(
        row.last_error.as_deref(),
        Some("the Slack webhook answered HTTP 403")
    );
}

#[tokio::test]
async fn email_goes_through_a_real_smtp_server_with_text_and_html() {
    let smtp = Smtp::start();
    let port = smtp.port;
    let h = common::harness_with(move |c| {
        c.smtp_url = Some(wfops_config::Secret::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        c.smtp_from = "WorkflowOps <ops@workflowops.test>".into();
    })
    .await;
    channel(
        &h,
        "email",
        &["incident.created"],
        None,
        Some(vec!["oncall@example.com", "lead@example.org"]),
        true,
    )
    .await;
    let ids = emit(&h, &incident()).await;
    let report = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap();
    assert_eq!(report.status, DeliveryStatus::Delivered);
    assert_eq!(report.response_status, Some(250));
    let deadline = Instant::now() + Duration::from_secs(10);
    let messages = loop {
        let m = smtp.messages();
        if !m.is_empty() || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(messages.len(), 1, "one message for both recipients");
    let m = &messages[0];
    assert!(
        m.contains("Subject: [WorkflowOps] Drift incident opened: 2 workflows changed"),
        "{m}"
    );
    assert!(
        m.contains("From: WorkflowOps <ops@workflowops.test>"),
        "{m}"
    );
    assert!(
        m.contains("oncall@example.com") && m.contains("lead@example.org"),
        "{m}"
    );
    assert!(
        m.contains("Content-Type: text/plain") && m.contains("Content-Type: text/html"),
        "{m}"
    );
    assert!(m.contains("Affected workflows: 2"), "{m}");
}

#[tokio::test]
async fn email_without_an_smtp_server_configured_fails_with_a_clear_message() {
    let h = local_harness().await;
    channel(
        &h,
        "email",
        &["test"],
        None,
        Some(vec!["a@example.com"]),
        true,
    )
    .await;
    let ids = emit(&h, &Event::Test { requested_by: None }).await;
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        delivery(&h, ids[0]).await.last_error.as_deref(),
        Some("SMTP_URL is not configured, so email channels can not deliver")
    );
}

#[tokio::test]
async fn only_enabled_channels_that_want_the_event_get_a_delivery() {
    let h = local_harness().await;
    let (wants, _) = channel(
        &h,
        "webhook",
        &["incident.created", "incident.closed"],
        Some("http://127.0.0.1:9/a"),
        None,
        true,
    )
    .await;
    channel(
        &h,
        "webhook",
        &["promotion.failed"],
        Some("http://127.0.0.1:9/b"),
        None,
        true,
    )
    .await;
    channel(
        &h,
        "webhook",
        &["incident.created"],
        Some("http://127.0.0.1:9/c"),
        None,
        false,
    )
    .await;
    let ids = emit(&h, &incident()).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(delivery(&h, ids[0]).await.channel_id, Some(wants.id));
    let none = emit(&h, &Event::Test { requested_by: None }).await;
    assert!(none.is_empty());
    assert_eq!(job_count(&h).await, 1);
}

#[tokio::test]
async fn an_event_emitted_in_a_rolled_back_transaction_leaves_nothing() {
    let h = local_harness().await;
    channel(
        &h,
        "webhook",
        &["incident.created"],
        Some("http://127.0.0.1:9/a"),
        None,
        true,
    )
    .await;
    let tenant = h.tenant;
    let event = incident();
    let result: Result<(), wfops_db::Error> = h
        .ctx
        .db
        .tenant_tx(tenant, |conn| {
            async move {
                let ids = notify::emit(conn, tenant, &event).await?;
                assert_eq!(ids.len(), 1);
                // the write that caused the event fails after it
                Err(wfops_db::Error::NotFound)
            }
            .scope_boxed()
        })
        .await;
    assert!(result.is_err());
    let (rows, total) = h
        .ctx
        .db
        .tenant_tx(tenant, |conn| {
            async move { store::list_deliveries(conn, &Default::default(), 0, 50).await }
                .scope_boxed()
        })
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(total, 0);
    assert_eq!(job_count(&h).await, 0);
}

#[tokio::test]
async fn private_addresses_are_refused_unless_the_installation_allows_them() {
    let h = common::harness().await;
    assert!(!h.ctx.config.notify_allow_private_targets);
    let rx = Receiver::start();
    channel(
        &h,
        "webhook",
        &["incident.created"],
        Some(&format!("{}/hook", rx.url)),
        None,
        true,
    )
    .await;
    let ids = emit(&h, &incident()).await;
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(rx.received().is_empty(), "nothing was sent");
    let row = delivery(&h, ids[0]).await;
    assert_eq!(row.status, DeliveryStatus::Failed);
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("non-public address"),
        "{:?}",
        row.last_error
    );
}

#[tokio::test]
async fn a_deleted_channel_fails_its_pending_deliveries() {
    let h = local_harness().await;
    let (ch, _) = channel(
        &h,
        "webhook",
        &["incident.created"],
        Some("http://127.0.0.1:9/a"),
        None,
        true,
    )
    .await;
    let ids = emit(&h, &incident()).await;
    let id = ch.id;
    h.ctx
        .db
        .tenant_tx(h.tenant, |conn| {
            async move { store::delete_channel(conn, id).await }.scope_boxed()
        })
        .await
        .unwrap();
    let err = notify::deliver(&h.ctx, h.tenant, ids[0]).await.unwrap_err();
    assert!(!err.is_retryable());
    let row = delivery(&h, ids[0]).await;
    assert_eq!(row.channel_id, None);
    assert_eq!(row.status, DeliveryStatus::Failed);
    assert_eq!(row.last_error.as_deref(), Some("the channel was deleted"));
}
