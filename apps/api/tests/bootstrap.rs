// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use wfops_api::bootstrap::{bootstrap, BootstrapRequest};

fn request(tenant: &str, email: &str, password: Option<&str>, new_key: bool) -> BootstrapRequest {
    BootstrapRequest {
        tenant_name: tenant.into(),
        email: email.into(),
        password: password.map(String::from),
        new_key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_creates_a_working_admin_and_is_idempotent() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let first = bootstrap(
        db,
        request(
            "Acme Corp",
            "Ada@Example.com",
            Some("a-long-password"),
            false,
        ),
    )
    .await
    .unwrap();
    assert!(first.created);
    assert_eq!(first.tenant_slug, "acme-corp");
    let key = first.api_key.clone().unwrap();

    let me = app.get("/api/v1/auth/me", &key).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let me = me.json();
    assert_eq!(me["data"]["role"], "admin");
    assert_eq!(me["data"]["tenant"]["name"], "Acme Corp");
    assert_eq!(
        me["data"]["tenant"]["id"],
        first.tenant_id.to_string().as_str()
    );

    // the admin can log in with the password (email stored lowercased)
    let login = app.login("ada@example.com", "a-long-password").await;
    assert_eq!(login.status, 200, "{}", login.text);

    // second run: nothing new, no key
    let again = bootstrap(db, request("Acme Corp", "ada@example.com", None, false))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.tenant_id, first.tenant_id);
    assert!(again.api_key.is_none());

    // --new-key issues another working admin key; the first one keeps working
    let rotated = bootstrap(db, request("acme corp", "ada@example.com", None, true))
        .await
        .unwrap();
    let new_key = rotated.api_key.unwrap();
    assert_ne!(new_key, key);
    assert_eq!(app.get("/api/v1/auth/me", &new_key).await.status, 200);
    assert_eq!(app.get("/api/v1/auth/me", &key).await.status, 200);
    let keys = app.get("/api/v1/api-keys", &new_key).await.json();
    assert_eq!(keys["pagination"]["total"], 2);

    // without a password the admin can not log in, but the key works
    let other = bootstrap(db, request("Beta", "bob@example.com", None, false))
        .await
        .unwrap();
    assert!(other.created);
    app.login("bob@example.com", "anything-at-all")
        .await
        .expect_error(401, "invalid_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_rejects_bad_input_clearly() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let err = bootstrap(db, request("  ", "a@example.com", None, false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("name"), "{err}");
    let err = bootstrap(db, request("Acme", "not-an-email", None, false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("email"), "{err}");
    let err = bootstrap(db, request("Acme", "a@example.com", Some("short"), false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("password"), "{err}");
    // an email already used by another tenant is a conflict naming the email
    bootstrap(db, request("One", "same@example.com", None, false))
        .await
        .unwrap();
    let err = bootstrap(db, request("Two", "same@example.com", None, false))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("email"), "{err}");
    // and the failed tenant was not half-created
    let retry = bootstrap(db, request("Two", "two@example.com", None, false))
        .await
        .unwrap();
    assert!(retry.created);
}
