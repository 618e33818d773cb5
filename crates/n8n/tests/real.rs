//! The scenario suite against a real n8n named by `N8N_DEV_URL` and `N8N_DEV_API_KEY`
//! (`scripts/real-n8n.sh start` prints them; `N8N_DEV_VERSION` = 1 or 2, default 1).
//!
//! Without them each test prints that it was skipped and returns, unless
//! `WFOPS_REQUIRE_REAL_N8N=1` (CI), where a missing instance fails the test instead of letting
//! the suite pass without having run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scenarios;

use scenarios::Target;
use wfops_n8n::N8nVersion;

fn real_target(test: &str) -> Option<Target> {
    let url = std::env::var("N8N_DEV_URL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let key = std::env::var("N8N_DEV_API_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let required = std::env::var("WFOPS_REQUIRE_REAL_N8N").is_ok_and(|v| v == "1");
    match (url, key) {
        (Some(url), Some(api_key)) => {
            let version = match std::env::var("N8N_DEV_VERSION") {
                Ok(v) => v.parse().unwrap_or_else(|e| panic!("N8N_DEV_VERSION: {e}")),
                Err(_) => N8nVersion::V1,
            };
            Some(Target {
                label: "real",
                url,
                api_key,
                version,
            })
        }
        _ if required => panic!(
            "{test}: WFOPS_REQUIRE_REAL_N8N=1 but N8N_DEV_URL / N8N_DEV_API_KEY are not set; \
             run `eval \"$(scripts/real-n8n.sh start)\"` first"
        ),
        _ => {
            eprintln!("SKIPPED {test}: N8N_DEV_URL and N8N_DEV_API_KEY are not set (no real n8n to test against)");
            None
        }
    }
}

macro_rules! against_real {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(t) = real_target(stringify!($name)) else { return };
                scenarios::$name(&t).await;
            }
        )*
    };
}

against_real!(
    crud_lifecycle,
    list_pages,
    forbidden_fields_are_rejected,
    unknown_settings_key_is_rejected,
    unknown_ids_are_not_found,
    bad_api_key_is_unauthorized,
    fixtures_round_trip,
    activation_needs_a_trigger,
    name_length_is_limited,
    query_parameters_are_checked,
    executions_are_listed,
    health_probe,
);
