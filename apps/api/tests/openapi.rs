// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use reqwest::Method;
use serde_json::Value;

fn doc() -> Value {
    serde_json::to_value(wfops_api::openapi::document()).unwrap()
}

#[test]
fn every_registered_route_is_documented_and_nothing_else() {
    let doc = doc();
    let paths = doc["paths"].as_object().unwrap();
    let registered = wfops_api::registered_routes();
    for (method, path) in &registered {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is registered but not in the OpenAPI document"))
            [method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
    }
    let documented: usize = paths
        .values()
        .map(|item| {
            ["get", "post", "put", "patch", "delete"]
                .iter()
                .filter(|m| item.get(**m).is_some())
                .count()
        })
        .sum();
    assert_eq!(
        documented,
        registered.len(),
        "the document lists routes that are not served"
    );
}

#[test]
fn protected_routes_declare_auth_and_error_responses() {
    let doc = doc();
    assert_eq!(doc["openapi"].as_str().unwrap().chars().next(), Some('3'));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path) in wfops_api::registered_routes() {
        let op = &doc["paths"][path][method.as_str().to_lowercase()];
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}"));
        let public = path.starts_with("/api/v1/health")
            || path == "/api/v1/openapi.json"
            || path == "/api/v1/auth/login"
            // signed by the sender (an HMAC of the body), not a bearer token
            || path.starts_with("/api/v1/webhooks/");
        let needs_bearer = security.iter().any(|s| s.get("bearer").is_some());
        assert_eq!(
            needs_bearer, !public,
            "{method} {path}: security {security:?}"
        );
        let responses = op["responses"].as_object().unwrap();
        if !public {
            assert!(
                responses.contains_key("401"),
                "{method} {path} documents no 401"
            );
        }
        if let Some(err) = responses.get("401") {
            let schema = &err["content"]["application/json"]["schema"]["$ref"];
            assert!(
                schema.as_str().unwrap_or_default().ends_with("/ErrorBody"),
                "{method} {path}: {err}"
            );
        }
    }
    // secrets are write-only in the schema: no response schema has an api_key property
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let view = &schemas["EnvironmentView"]["properties"];
    assert!(view.get("api_key").is_none() && view.get("git_token").is_none());
    assert!(view.get("has_api_key").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served() {
    let app = spawn_app().await;
    let resp = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), doc());
}

/// The contract states what the handlers check, so that clients and schemathesis can rely on it.
#[test]
fn the_document_states_limits_and_formats() {
    let doc = doc();
    let params = |path: &str| doc["paths"][path]["get"]["parameters"].clone();
    let find = |params: &Value, name: &str| {
        params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no parameter {name}"))
    };
    let page = find(&params("/api/v1/environments"), "page");
    assert_eq!(page["schema"]["maximum"], 1_000_000);
    let env = find(&params("/api/v1/jobs"), "environment_id");
    assert_eq!(env["schema"]["format"], "uuid");
    let from = find(&params("/api/v1/workflows/{canonical_id}/diff"), "from");
    assert_eq!(from["required"], true);
    let update = &doc["components"]["schemas"]["UpdateEnvironmentRequest"];
    assert_eq!(update["minProperties"], 1);
    assert!(update.get("maxProperties").is_none());
    // a field that may be absent but not null is not nullable
    assert_eq!(update["properties"]["name"]["type"], "string");
    // every operation with a body documents 415
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_some() {
                assert!(
                    op["responses"].get("415").is_some(),
                    "{method} {path} does not document 415"
                );
            }
        }
    }
    // SSE events are objects framed on the wire
    let sse = &doc["paths"]["/api/v1/sse/background-jobs"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"]["schema"]["$ref"];
    assert_eq!(sse, "#/components/schemas/SseEvent");
}
