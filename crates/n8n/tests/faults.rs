//! Retries, timeouts, dropped connections and the concurrency limit, against the fake's fault
//! injection (a real n8n cannot be made to fail on cue).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wfops_fake_n8n::{generated_workflow, FakeConfig, FakeN8n, Fault, Route};
use wfops_n8n::{
    list_all_executions, list_all_workflows, ExecutionStatus, ListExecutions, ListWorkflows,
    N8nClient, N8nConfig, ProviderError, RetryPolicy, Secret, WorkflowProvider,
};

fn config(fake: &FakeN8n) -> N8nConfig {
    let mut c = N8nConfig::new(fake.url(), Secret::new(fake.api_key().to_string()));
    c.request_timeout = Duration::from_millis(1000);
    c.connect_timeout = Duration::from_millis(1000);
    c.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    };
    c
}

fn setup() -> (FakeN8n, N8nClient, String) {
    let fake = FakeN8n::start().expect("fake starts");
    let id = fake.seed_workflow(&generated_workflow(1)).expect("seeded");
    let client = N8nClient::new(config(&fake)).expect("client");
    fake.reset_requests();
    (fake, client, id)
}

#[tokio::test]
async fn server_errors_are_retried_until_they_clear() {
    let (fake, client, id) = setup();
    fake.inject(Fault::status(503).on(Route::GetWorkflow).times(1));
    fake.inject(Fault::status(502).on(Route::GetWorkflow).times(1));
    let w = client
        .get_workflow(&id)
        .await
        .expect("third attempt succeeds");
    assert_eq!(w.id(), id);
    assert_eq!(fake.request_count(Route::GetWorkflow), 3);
}

#[tokio::test]
async fn retries_stop_at_the_budget_with_n8ns_status_and_message() {
    let (fake, client, id) = setup();
    fake.inject(
        Fault::status_with_message(500, "database is down")
            .on(Route::GetWorkflow)
            .always(),
    );
    match client.get_workflow(&id).await {
        Err(ProviderError::Unavailable {
            status: 500,
            attempts: 4,
            message,
        }) => assert_eq!(message, "database is down"),
        other => panic!("expected Unavailable after 4 attempts, got {other:?}"),
    }
    assert_eq!(fake.request_count(Route::GetWorkflow), 4);
}

#[tokio::test]
async fn rate_limits_wait_for_retry_after() {
    let (fake, client, _) = setup();
    fake.inject(Fault::rate_limited(Some(1)).on(Route::ListWorkflows));
    let started = Instant::now();
    let page = client
        .list_workflows(&ListWorkflows::default())
        .await
        .expect("second attempt succeeds");
    assert_eq!(page.items.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(fake.request_count(Route::ListWorkflows), 2);
}

#[tokio::test]
async fn rate_limits_without_retry_after_back_off_and_dates_in_the_past_mean_now() {
    let (fake, client, _) = setup();
    fake.inject(Fault::rate_limited(None).on(Route::ListWorkflows));
    fake.inject(
        Fault::rate_limited_until("Wed, 21 Oct 2015 07:28:00 GMT").on(Route::ListWorkflows),
    );
    client
        .list_workflows(&ListWorkflows::default())
        .await
        .expect("third attempt succeeds");
    assert_eq!(fake.request_count(Route::ListWorkflows), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_fails_at_once() {
    let (fake, client, _) = setup();
    fake.inject(
        Fault::rate_limited(Some(3600))
            .on(Route::ListWorkflows)
            .always(),
    );
    match client.list_workflows(&ListWorkflows::default()).await {
        Err(ProviderError::RateLimited {
            retry_after,
            attempts: 1,
            message,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)));
            assert_eq!(message, "Too Many Requests");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(fake.request_count(Route::ListWorkflows), 1);
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    let (fake, client, id) = setup();
    type Check = fn(&ProviderError) -> bool;
    let cases: [(u16, Check); 5] = [
        (400, |e| {
            matches!(e, ProviderError::Validation { status: 400, .. })
        }),
        (409, |e| {
            matches!(e, ProviderError::Validation { status: 409, .. })
        }),
        (401, |e| {
            matches!(e, ProviderError::Unauthorized { status: 401, .. })
        }),
        (403, |e| matches!(e, ProviderError::Forbidden { .. })),
        (404, |e| matches!(e, ProviderError::NotFound { .. })),
    ];
    for (status, expected) in cases {
        fake.reset_requests();
        fake.inject(Fault::status(status).on(Route::GetWorkflow));
        let err = client.get_workflow(&id).await.expect_err("fails");
        assert!(expected(&err), "{status}: {err:?}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(
            fake.request_count(Route::GetWorkflow),
            1,
            "{status} was retried"
        );
    }
}

#[tokio::test]
async fn hangs_time_out_and_are_retried() {
    let (fake, client, id) = setup();
    fake.inject(Fault::delay(Duration::from_secs(10)).on(Route::GetWorkflow));
    client
        .get_workflow(&id)
        .await
        .expect("the retry after the timeout succeeds");
    assert_eq!(fake.request_count(Route::GetWorkflow), 2);

    fake.reset_requests();
    fake.inject(
        Fault::delay(Duration::from_secs(10))
            .on(Route::GetWorkflow)
            .always(),
    );
    let mut c = config(&fake);
    c.retry.max_retries = 1;
    let client = N8nClient::new(c).expect("client");
    match client.get_workflow(&id).await {
        Err(ProviderError::Timeout {
            timeout,
            attempts: 2,
        }) => assert_eq!(timeout, Duration::from_millis(1000)),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(fake.request_count(Route::GetWorkflow), 2);
}

#[tokio::test]
async fn dropped_connections_are_retried_for_reads() {
    let (fake, client, id) = setup();
    fake.inject(Fault::drop_connection().on(Route::GetWorkflow));
    client.get_workflow(&id).await.expect("the retry succeeds");
    assert_eq!(fake.request_count(Route::GetWorkflow), 2);
    assert_eq!(
        fake.requests()[0].status,
        None,
        "the first answer was dropped"
    );
}

#[tokio::test]
async fn creates_are_retried_only_when_n8n_cannot_have_acted() {
    let (fake, client, _) = setup();
    let doc = generated_workflow(7);

    fake.inject(Fault::status(503).on(Route::CreateWorkflow));
    fake.inject(Fault::rate_limited(Some(0)).on(Route::CreateWorkflow));
    client
        .create_workflow(&doc)
        .await
        .expect("503 and 429 are retried");
    assert_eq!(fake.request_count(Route::CreateWorkflow), 3);
    assert_eq!(
        fake.workflow_count().expect("count"),
        2,
        "created exactly once"
    );

    for fault in [
        Fault::status(500),
        Fault::drop_connection(),
        Fault::delay(Duration::from_secs(10)),
    ] {
        fake.reset_requests();
        fake.inject(fault.clone().on(Route::CreateWorkflow));
        let err = client.create_workflow(&doc).await.expect_err("not retried");
        assert!(
            matches!(
                err,
                ProviderError::Unavailable { attempts: 1, .. }
                    | ProviderError::Connection { attempts: 1, .. }
                    | ProviderError::Timeout { attempts: 1, .. }
            ),
            "{fault:?}: {err:?}"
        );
        assert_eq!(fake.request_count(Route::CreateWorkflow), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_succeeds_on_retry() {
    let (fake, client, id) = setup();
    fake.inject(Fault::drop_after_handling().on(Route::DeleteWorkflow));
    client
        .delete_workflow(&id)
        .await
        .expect("the retry's 404 means done");
    assert_eq!(fake.request_count(Route::DeleteWorkflow), 2);
    assert_eq!(fake.workflow_count().expect("count"), 0);
}

#[tokio::test]
async fn updates_are_idempotent_and_retried_after_a_lost_answer() {
    let (fake, client, id) = setup();
    fake.inject(Fault::drop_after_handling().on(Route::UpdateWorkflow));
    let mut doc = generated_workflow(1);
    doc["name"] = json!("renamed");
    let w = client.update_workflow(&id, &doc).await.expect("retried");
    assert_eq!(w.name(), Some("renamed"));
    assert_eq!(fake.request_count(Route::UpdateWorkflow), 2);
}

#[tokio::test]
async fn connections_refused_are_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut c = N8nConfig::new(format!("http://127.0.0.1:{port}"), Secret::new("k".into()));
    c.retry = RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        ..RetryPolicy::default()
    };
    let client = N8nClient::new(c).expect("client");
    match client.list_workflows(&ListWorkflows::default()).await {
        Err(ProviderError::Connection {
            attempts: 4,
            message,
        }) => {
            assert!(message.contains("onnect"), "{message}");
            assert!(!message.contains("http://"), "{message}");
        }
        other => panic!("expected Connection, got {other:?}"),
    }
    match client.health().await {
        Err(ProviderError::Connection { attempts: 1, .. }) => {}
        other => panic!("the health probe reports at once, got {other:?}"),
    }
}

#[tokio::test]
async fn the_health_probe_is_one_authenticated_request() {
    let (fake, client, _) = setup();
    fake.inject(Fault::status(503).on(Route::ListWorkflows));
    let err = client.health().await.expect_err("not retried");
    assert!(
        matches!(
            err,
            ProviderError::Unavailable {
                status: 503,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    client.health().await.expect("healthy");
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|r| r.route == Route::ListWorkflows && r.query.contains("limit=1")));
}

async fn peak_in_flight(max_concurrency: usize) -> usize {
    let (fake, _, id) = setup();
    let mut c = config(&fake);
    c.max_concurrency = max_concurrency;
    c.request_timeout = Duration::from_secs(5);
    let client = N8nClient::new(c).expect("client");
    fake.inject(
        Fault::delay(Duration::from_millis(150))
            .on(Route::GetWorkflow)
            .always(),
    );
    let calls = (0..6).map(|_| client.get_workflow(&id));
    for result in futures::future::join_all(calls).await {
        result.expect("each call succeeds");
    }
    assert_eq!(fake.request_count(Route::GetWorkflow), 6);
    fake.max_in_flight()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_caps_requests_in_flight() {
    assert_eq!(peak_in_flight(2).await, 2);
    assert!(
        peak_in_flight(6).await > 2,
        "without the limit the calls overlap"
    );
}

#[tokio::test]
async fn the_api_key_never_reaches_errors_or_logs() {
    let secret = "wfops-secret-KEY-4242";
    let fake = FakeN8n::start_with(FakeConfig {
        api_key: secret.into(),
        ..FakeConfig::default()
    })
    .expect("fake");
    let mut c = config(&fake);
    c.retry.max_retries = 0;
    let client = N8nClient::new(c).expect("client");
    fake.inject(Fault::status_with_message(
        500,
        format!("proxy saw X-N8N-API-KEY: {secret}"),
    ));
    let echoed = client
        .list_workflows(&ListWorkflows::default())
        .await
        .expect_err("500");
    let wrong = N8nClient::new(N8nConfig {
        api_key: Secret::new(format!("{secret}-wrong")),
        ..config(&fake)
    })
    .expect("client")
    .health()
    .await
    .expect_err("401");
    for e in [&echoed, &wrong] {
        let printed = format!("{e} {e:?}");
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(echoed.to_string().contains("[redacted]"), "{echoed}");
    assert!(!format!("{client:?}").contains(secret));
}

#[tokio::test]
async fn executions_page_newest_first_with_n8ns_cursor() {
    let (fake, client, id) = setup();
    let other = fake.seed_workflow(&generated_workflow(2)).expect("seeded");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            fake.seed_execution(&id, if i == 2 { "error" } else { "success" })
                .expect("execution"),
        );
    }
    fake.seed_execution(&other, "success").expect("execution");
    let query = ListExecutions {
        workflow_id: Some(id.clone()),
        limit: Some(2),
        ..Default::default()
    };
    let first = client.list_executions(&query).await.expect("page");
    let got: Vec<_> = first.items.iter().map(|e| e.id().to_string()).collect();
    assert_eq!(got, [ids[4].clone(), ids[3].clone()]);
    let cursor = first.next_cursor.clone().expect("more");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&cursor)
        .expect("base64");
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded).expect("json"),
        json!({"lastId": ids[3], "limit": 2})
    );
    let all = list_all_executions(&client, query).await.expect("all");
    assert_eq!(
        all.iter().map(|e| e.id().to_string()).collect::<Vec<_>>(),
        ids.iter().rev().cloned().collect::<Vec<_>>()
    );
    assert!(all
        .iter()
        .all(|e| e.workflow_id() == Some(id.as_str()) && e.raw().get("data").is_none()));

    let errors = ListExecutions {
        status: Some(ExecutionStatus::Error),
        include_data: true,
        ..Default::default()
    };
    let page = client.list_executions(&errors).await.expect("filtered");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].status(), Some("error"));
    assert!(
        page.items[0].raw()["data"].is_object(),
        "includeData adds the run data"
    );
}

#[tokio::test]
async fn thousands_of_workflows_list_completely_in_pages_of_250() {
    let fake = FakeN8n::start().expect("fake");
    let ids = fake
        .seed_from_fixtures(&wfops_fake_n8n::fixtures_dir(), 1200)
        .expect("seeded");
    let mut c = config(&fake);
    c.request_timeout = Duration::from_secs(30);
    let client = N8nClient::new(c).expect("client");
    let all = list_all_workflows(
        &client,
        ListWorkflows {
            exclude_pinned_data: true,
            ..Default::default()
        },
    )
    .await
    .expect("lists");
    assert_eq!(all.len(), 1200);
    assert_eq!(
        all.iter().map(|w| w.id().to_string()).collect::<Vec<_>>(),
        ids
    );
    assert_eq!(
        fake.request_count(Route::ListWorkflows),
        5,
        "1200 workflows are 5 pages of 250"
    );
    assert!(all.iter().all(|w| w.raw().get("pinData").is_none()));
}
