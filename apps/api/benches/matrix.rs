//! `GET /api/v1/workflows/matrix` latency over HTTP: 5,000 canonical workflows × 4
//! environments seeded in a test database, the app served in-process, 500 page requests with
//! several filter / sort / page combinations, p50 / p90 / p99 printed (overall and per
//! combination). Target: p99 ≤ 50 ms per page on the 2-core machine (docs/BENCHMARKS.md).
//!
//!     cargo bench -p wfops-api --bench matrix
//!
//! `MATRIX_WORKFLOWS` and `MATRIX_REQUESTS` change the size and the number of requests;
//! `MATRIX_KEEP_DB=1` keeps the seeded database (its name is printed) for `EXPLAIN ANALYZE`.

// Benchmark code: a failed unwrap or expect stops the measurement with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod measure;
#[path = "../tests/seed/mod.rs"]
mod seed;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use actix_web::web;
use measure::{env_usize, ms, percentile};
use wfops_api::bootstrap::{bootstrap, BootstrapRequest};
use wfops_api::AppState;
use wfops_config::Config;
use wfops_db::ScopedFutureExt;
use wfops_test_support::TestDb;

/// The database filter of a matrix query string (the benchmark's own combinations only).
fn db_filter(query: &str) -> wfops_db::views::MatrixFilter {
    use wfops_db::views::{MatrixFilter, MatrixSort};
    let mut f = MatrixFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "search" => f.search = Some(v.to_string()),
            "status" => f.status = v.parse().ok(),
            "diff_status" => f.diff_status = v.parse().ok(),
            "environment_id" => f.environment_id = v.parse().ok(),
            "sort" => {
                f.sort = match v {
                    "-name" => MatrixSort::NameDesc,
                    "updated_at" => MatrixSort::UpdatedAsc,
                    "-updated_at" => MatrixSort::UpdatedDesc,
                    _ => MatrixSort::NameAsc,
                }
            }
            _ => {}
        }
    }
    f
}

/// `(offset, limit)` of a matrix query string.
fn page_of(query: &str) -> (i64, i64) {
    let get = |name: &str, default: i64| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (page, size) = (get("page", 1), get("page_size", 50));
    ((page - 1) * size, size)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let workflows = env_usize("MATRIX_WORKFLOWS", 5_000);
    let requests = env_usize("MATRIX_REQUESTS", 500);

    let test_db = TestDb::new().await;
    let mut config = Config::for_tests();
    config.rate_limit_per_minute = 0;
    let state = web::Data::new(AppState::new(config, test_db.db()).expect("state"));
    let tenant = bootstrap(
        &state.db,
        BootstrapRequest {
            tenant_name: "Bench".into(),
            email: "bench@example.com".into(),
            password: Some("a-long-enough-password-1".into()),
            new_key: false,
        },
    )
    .await
    .expect("bootstrap");
    let key = tenant.api_key.expect("key");

    let seeding = Instant::now();
    let mut envs = Vec::new();
    for (name, class) in [
        ("dev", "dev"),
        ("qa", "staging"),
        ("staging", "staging"),
        ("production", "production"),
    ] {
        envs.push(seed::environment(&test_db, tenant.tenant_id, name, class, name).await);
    }
    seed::bulk(&test_db, tenant.tenant_id, &envs, workflows).await;
    // a pipeline through the four environments: every cell but dev's carries a stage status
    seed::pipeline_chain(&test_db, tenant.tenant_id, &envs).await;
    // a second tenant of the same size: RLS must keep the first one's pages as fast
    let other = test_db.create_tenant("other").await.expect("tenant");
    let mut other_envs = Vec::new();
    for name in ["o-dev", "o-prod"] {
        other_envs.push(seed::environment(&test_db, other, name, "dev", name).await);
    }
    seed::bulk(&test_db, other, &other_envs, workflows).await;
    let seed_time = seeding.elapsed();

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(wfops_api::server(state.clone(), listener, 1).expect("server"));
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/v1/workflows/matrix");
    let prod = envs[3];

    let last_page = workflows.div_ceil(50).max(1);
    let combos: Vec<(&str, String)> = vec![
        ("first page, by name", String::new()),
        ("page 40, by name", "page=40".into()),
        (
            "last page, -updated_at",
            format!("sort=-updated_at&page={last_page}"),
        ),
        (
            "200 per page, updated_at",
            "page_size=200&sort=updated_at&page=7".into(),
        ),
        ("search 'billing'", "search=billing".into()),
        ("search 'billing', page 9", "search=billing&page=9".into()),
        ("status=missing", "status=missing".into()),
        (
            "status=linked in production",
            format!("status=linked&environment_id={prod}"),
        ),
        (
            "diff_status=conflict, -name",
            "diff_status=conflict&sort=-name".into(),
        ),
        (
            "diff_status=modified in production + search",
            format!("diff_status=modified&environment_id={prod}&search=report"),
        ),
    ];

    // warm-up: every combination once (plans, caches, connections)
    for (_, q) in &combos {
        let resp = client
            .get(format!("{base}?{q}"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("request");
        assert_eq!(
            resp.status(),
            200,
            "{q}: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    let mut all = Vec::with_capacity(requests);
    let mut per: Vec<Vec<Duration>> = vec![Vec::new(); combos.len()];
    // what any authenticated request costs here (auth, one small query, envelope), measured
    // between the matrix requests so that both see the same machine load
    let mut baseline = Vec::with_capacity(requests / 5 + 1);
    let environments = format!("http://127.0.0.1:{port}/api/v1/environments");
    let mut rows = 0usize;
    for i in 0..requests {
        if i % 5 == 0 {
            let started = Instant::now();
            let resp = client
                .get(&environments)
                .bearer_auth(&key)
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 200);
            resp.bytes().await.expect("body");
            baseline.push(started.elapsed());
        }
        let c = i % combos.len();
        let url = format!("{base}?{}", combos[c].1);
        let started = Instant::now();
        let resp = client
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let body = resp.bytes().await.expect("body");
        let took = started.elapsed();
        assert_eq!(status, 200, "{url}");
        if i < combos.len() {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            rows += v["data"].as_array().map_or(0, Vec::len);
        }
        all.push(took);
        per[c].push(took);
    }
    all.sort();
    baseline.sort();

    // the database part alone: the same queries in one tenant transaction, no HTTP
    let mut db_only = Vec::with_capacity(requests);
    for i in 0..requests {
        let q = &combos[i % combos.len()].1;
        let filter = db_filter(q);
        let (offset, limit) = page_of(q);
        let started = Instant::now();
        state
            .db
            .tenant_tx(tenant.tenant_id, |conn| {
                async move {
                    let columns = wfops_db::views::environment_columns(conn).await?;
                    let stages = wfops_db::views::active_stages(conn).await?;
                    let feeds: Vec<(uuid::Uuid, uuid::Uuid)> =
                        wfops_db::views::feeding_stages(stages, &columns)
                            .into_values()
                            .map(|s| (s.target_environment_id, s.source_environment_id))
                            .collect();
                    wfops_db::views::matrix(conn, &filter, offset, limit, &feeds).await
                }
                .scope_boxed()
            })
            .await
            .expect("matrix query");
        db_only.push(started.elapsed());
    }
    db_only.sort();

    println!(
        "matrix: {workflows} canonical workflows x {} environments (+ a second tenant of the same size), seeded in {:.1} s",
        envs.len(),
        seed_time.as_secs_f64()
    );
    println!(
        "{requests} GET /api/v1/workflows/matrix over HTTP, {} combinations ({rows} rows in one pass), one client, sequential",
        combos.len()
    );
    println!(
        "  all requests       p50 {:6.1} ms   p90 {:6.1} ms   p99 {:6.1} ms   max {:6.1} ms",
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 90.0)),
        ms(percentile(&all, 99.0)),
        ms(*all.last().unwrap_or(&Duration::ZERO)),
    );
    println!(
        "  database only      p50 {:6.1} ms   p90 {:6.1} ms   p99 {:6.1} ms   (same queries, in-process)",
        ms(percentile(&db_only, 50.0)),
        ms(percentile(&db_only, 90.0)),
        ms(percentile(&db_only, 99.0)),
    );
    println!(
        "  baseline GET /environments p50 {:6.1} ms   p99 {:6.1} ms   (auth + one small query)",
        ms(percentile(&baseline, 50.0)),
        ms(percentile(&baseline, 99.0)),
    );
    for ((name, _), mut times) in combos.iter().zip(per) {
        times.sort();
        println!(
            "  {name:<46} p50 {:6.1} ms   p99 {:6.1} ms",
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 99.0)),
        );
    }
    let p99 = ms(percentile(&all, 99.0));
    println!(
        "target p99 <= 50 ms per page: {}",
        if p99 <= 50.0 { "met" } else { "MISSED" }
    );
    if std::env::var_os("MATRIX_KEEP_DB").is_some() {
        // for EXPLAIN ANALYZE with psql afterwards; drop it by hand
        println!(
            "kept database {} (tenant {})",
            test_db.name(),
            tenant.tenant_id
        );
        std::mem::forget(test_db);
    }
}
