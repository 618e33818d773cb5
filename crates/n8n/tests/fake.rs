//! The scenario suite against the fake n8n, in its 1.x and 2.x modes. Always runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scenarios;

use scenarios::Target;
use wfops_fake_n8n::{FakeConfig, FakeN8n};
use wfops_n8n::N8nVersion;

fn fake(version: N8nVersion) -> (FakeN8n, Target) {
    let fake = FakeN8n::start_with(FakeConfig {
        version,
        ..FakeConfig::default()
    })
    .expect("fake starts");
    let target = Target {
        label: "fake",
        url: fake.url().to_string(),
        api_key: fake.api_key().to_string(),
        version,
    };
    (fake, target)
}

macro_rules! on_both_versions {
    ($($name:ident),* $(,)?) => {
        mod v1 {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (_fake, t) = fake(N8nVersion::V1);
                    scenarios::$name(&t).await;
                }
            )*
        }
        mod v2 {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (_fake, t) = fake(N8nVersion::V2);
                    scenarios::$name(&t).await;
                }
            )*
        }
    };
}

on_both_versions!(
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
