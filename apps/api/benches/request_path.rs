//! Throughput and latency of the request path under concurrent load: the app served in this
//! process the way `wfops-api serve` serves it (one actix worker per core, the configured pool
//! size, no rate limits), on a test database of the embedded PostgreSQL, and a load generator
//! in the same process: 32 keep-alive connections on loopback, each sending its next request
//! as soon as the previous answer is read, for a fixed time per endpoint. Everything shares the
//! machine's cores, as with `wrk` on the same host.
//!
//!     cargo bench -p wfops-api --bench request_path
//!
//! Prints requests per second and p50 / p90 / p99 / max for `GET /api/v1/health`,
//! `GET /api/v1/environments` (API key; one small query) and `GET /api/v1/workflows/matrix`
//! (50 canonical workflows x 3 environments), with an API key and with a login token.
//! `REQUEST_PATH_SECONDS` (default 10) is the time per endpoint, `REQUEST_PATH_CONNECTIONS`
//! (default 32) the number of connections; `REQUEST_PATH_NO_CACHE=1` turns the cache of
//! resolved keys and tokens off (every request resolves its caller in the database).
//!
//! The load generator is `wrk` (2 threads, `--latency`) when it is installed (Debian's `wrk`
//! package), else a loop of reqwest clients in this process, which costs the server more CPU
//! per request than `wrk` does; `REQUEST_PATH_GENERATOR=rust|wrk|both` chooses.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

mod measure;
#[path = "../tests/seed/mod.rs"]
mod seed;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use measure::{env_usize, ms, percentile};
use wfops_api::auth::AuthCache;
use wfops_api::bootstrap::{bootstrap, BootstrapRequest};
use wfops_api::AppState;
use wfops_config::Config;
use wfops_db::Db;
use wfops_test_support::TestDb;

fn main() {
    // the load generator's runtime; the server runs on actix's own worker threads
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

struct Outcome {
    latencies: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
}

/// `connections` loops, each on its own keep-alive connection, for `seconds`.
async fn load(url: &str, token: Option<&str>, connections: usize, seconds: u64) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let url = url.to_owned();
        let token = token.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            // one client per loop: one connection each, as wrk's connections
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            while Instant::now() < deadline {
                let mut req = client.get(&url);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let t0 = Instant::now();
                match req.send().await {
                    Ok(resp) => {
                        let ok = resp.status() == 200;
                        let body = resp.bytes().await;
                        if ok && body.is_ok() {
                            latencies.push(t0.elapsed());
                        } else {
                            failures += 1;
                        }
                    }
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await.expect("load task");
        latencies.extend(l);
        failures += f;
    }
    latencies.sort();
    Outcome {
        latencies,
        failures,
        elapsed: started.elapsed(),
    }
}

fn wrk_installed() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok()
}

/// A wrk duration (`812.00us`, `1.23ms`, `2.01s`).
fn wrk_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

/// Runs wrk against `url` and returns its summary line.
async fn wrk(url: &str, token: Option<&str>, connections: usize, seconds: u64) -> String {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    cmd.arg(url);
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("wrk task")
        .expect("running wrk");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_owned()))
    };
    let percent = |p: &str| field(p).and_then(|v| wrk_duration(&v)).map_or(f64::NAN, ms);
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "{rps:>8.0} req/s   p50 {:>6.2} ms   p90 {:>6.2} ms   p99 {:>6.2} ms   (wrk{}{})",
        percent("50%"),
        percent("90%"),
        percent("99%"),
        if errors.is_empty() { "" } else { ": " },
        errors
    )
}

async fn run() {
    let seconds = env_usize("REQUEST_PATH_SECONDS", 10) as u64;
    let connections = env_usize("REQUEST_PATH_CONNECTIONS", 32);
    let no_cache = std::env::var("REQUEST_PATH_NO_CACHE").is_ok_and(|v| v == "1");
    let generator = std::env::var("REQUEST_PATH_GENERATOR").unwrap_or_else(|_| {
        if wrk_installed() {
            "wrk".into()
        } else {
            "rust".into()
        }
    });
    let (use_rust, use_wrk) = match generator.as_str() {
        "rust" => (true, false),
        "wrk" => (false, true),
        _ => (true, true),
    };

    let test_db = TestDb::new().await;
    let mut config = Config::for_tests();
    config.rate_limit_per_minute = 0;
    // the pool the server would have, not the test harness' small one
    let db = Db::connect(&test_db.admin_url(), config.db_pool_size)
        .await
        .expect("pool");
    let mut state = AppState::new(config, db).expect("state");
    if no_cache {
        state.auth_cache = Arc::new(AuthCache::new(Duration::ZERO, 1));
    }
    let state = web::Data::new(state);
    let password = "a-long-enough-password-1";
    let tenant = bootstrap(
        &state.db,
        BootstrapRequest {
            tenant_name: "Bench".into(),
            email: "bench@example.com".into(),
            password: Some(password.into()),
            new_key: false,
        },
    )
    .await
    .expect("bootstrap");
    let key = tenant.api_key.expect("key");
    let mut envs = Vec::new();
    for (name, class) in [
        ("dev", "dev"),
        ("staging", "staging"),
        ("production", "production"),
    ] {
        envs.push(seed::environment(&test_db, tenant.tenant_id, name, class, name).await);
    }
    seed::bulk(&test_db, tenant.tenant_id, &envs, 50).await;

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(wfops_api::server(state.clone(), listener, 0).expect("server"));
    if !no_cache {
        wfops_api::auth::spawn_cache_listener(
            state.auth_cache.clone(),
            state.db.clone(),
            test_db.admin_url(),
        );
    }
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({ "email": "bench@example.com", "password": password }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let jwt = login["data"]["access_token"]
        .as_str()
        .expect("token")
        .to_string();

    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("GET /health", format!("{base}/health"), None),
        (
            "GET /environments (API key)",
            format!("{base}/environments"),
            Some(key.as_str()),
        ),
        (
            "GET /environments (login token)",
            format!("{base}/environments"),
            Some(jwt.as_str()),
        ),
        (
            "GET /workflows/matrix (API key)",
            format!("{base}/workflows/matrix"),
            Some(key.as_str()),
        ),
    ];
    println!(
        "request path: {connections} connections, {seconds} s per endpoint, auth cache {}, \
         load generator {generator}, {} cores",
        if no_cache { "off" } else { "on" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (name, url, token) in &cases {
        // warm-up: connections, prepared statements, the cache
        let warm = load(url, *token, connections, 1).await;
        assert_eq!(warm.failures, 0, "{name}: failed requests during warm-up");
        if use_wrk {
            println!(
                "  {name:<34} {}",
                wrk(url, *token, connections, seconds).await
            );
        }
        if !use_rust {
            continue;
        }
        let o = load(url, *token, connections, seconds).await;
        let n = o.latencies.len();
        println!(
            "  {name:<34} {:>8.0} req/s   p50 {:>6.2} ms   p90 {:>6.2} ms   p99 {:>6.2} ms   \
             max {:>7.2} ms   ({n} ok, {} failed)",
            n as f64 / o.elapsed.as_secs_f64(),
            ms(percentile(&o.latencies, 50.0)),
            ms(percentile(&o.latencies, 90.0)),
            ms(percentile(&o.latencies, 99.0)),
            ms(o.latencies.last().copied().unwrap_or_default()),
            o.failures,
        );
    }
    println!(
        "auth cache: {} resolutions from the database",
        state.auth_cache.resolutions()
    );
}
