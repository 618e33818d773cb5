//! The SECURITY DEFINER functions answer before a tenant is known, and return only what their
//! caller needs.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use diesel::sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use wfops_db::{Conn, Db, Error, ScopedFutureExt};
use wfops_test_support::TestDb;

const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HASH_C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

#[derive(QueryableByName, Debug)]
struct ApiKeyRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = Text)]
    secret_hash: String,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(QueryableByName, Debug)]
struct LoginRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    tenant_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    password_hash: Option<String>,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Bool)]
    is_active: bool,
}

#[derive(QueryableByName, Debug)]
struct TenantIdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

async fn load<T: QueryableByName<diesel::pg::Pg> + Send + 'static>(
    db: &Db,
    sql: &'static str,
    arg: &str,
) -> Vec<T> {
    let arg = arg.to_owned();
    db.system_tx(|conn: &mut Conn| {
        async move {
            diesel::sql_query(sql)
                .bind::<Text, _>(arg)
                .load::<T>(conn)
                .await
                .map_err(Error::from)
        }
        .scope_boxed()
    })
    .await
    .unwrap()
}

/// Tenants A (active), B (active, empty) and C (deactivated), with users and keys in A and C.
struct Fixture {
    test_db: TestDb,
    a: Uuid,
    b: Uuid,
    c: Uuid,
    alice: Uuid,
    key_a: Uuid,
}

async fn fixture() -> Fixture {
    let test_db = TestDb::new().await;
    let a = test_db.create_tenant("acme").await.unwrap();
    let b = test_db.create_tenant("beta").await.unwrap();
    let c = test_db.create_tenant("closed").await.unwrap();
    let (alice, carol, key_a) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    test_db
        .admin_execute(&format!(
            "INSERT INTO users (id, tenant_id, email, role, password_hash) VALUES \
               ('{alice}', '{a}', 'Alice@Example.com', 'admin', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA'), \
               ('{carol}', '{c}', 'carol@example.com', 'viewer', NULL); \
             INSERT INTO api_keys (id, tenant_id, name, key_prefix, secret_hash, role, created_by) VALUES \
               ('{key_a}', '{a}', 'ci', 'prefixAAAAAA', '{HASH_A}', 'developer', '{alice}'), \
               (gen_random_uuid(), '{c}', 'old', 'prefixCCCCCC', '{HASH_C}', 'admin', NULL); \
             UPDATE tenants SET is_active = false WHERE id = '{c}';"
        ))
        .await
        .unwrap();
    Fixture {
        test_db,
        a,
        b,
        c,
        alice,
        key_a,
    }
}

#[tokio::test]
async fn resolve_api_key_finds_the_key_of_an_active_tenant_only() {
    let f = fixture().await;
    let db = f.test_db.db();
    let rows: Vec<ApiKeyRow> = load(
        &db,
        "SELECT * FROM wfops_resolve_api_key($1)",
        "prefixAAAAAA",
    )
    .await;
    assert_eq!(rows.len(), 1);
    let key = &rows[0];
    assert_eq!((key.id, key.tenant_id), (f.key_a, f.a));
    assert_eq!(key.secret_hash, HASH_A);
    assert_eq!(key.role, "developer");
    assert!(key.expires_at.is_none() && key.revoked_at.is_none());

    let unknown: Vec<ApiKeyRow> = load(
        &db,
        "SELECT * FROM wfops_resolve_api_key($1)",
        "prefixZZZZZZ",
    )
    .await;
    assert!(unknown.is_empty());
    let deactivated: Vec<ApiKeyRow> = load(
        &db,
        "SELECT * FROM wfops_resolve_api_key($1)",
        "prefixCCCCCC",
    )
    .await;
    assert!(
        deactivated.is_empty(),
        "keys of a deactivated tenant must not resolve"
    );
}

#[tokio::test]
async fn find_login_matches_email_case_insensitively_across_tenants() {
    let f = fixture().await;
    let db = f.test_db.db();
    let rows: Vec<LoginRow> = load(
        &db,
        "SELECT * FROM wfops_find_login($1)",
        "  alice@EXAMPLE.com ",
    )
    .await;
    assert_eq!(rows.len(), 1);
    let alice = &rows[0];
    assert_eq!((alice.id, alice.tenant_id), (f.alice, f.a));
    assert_eq!(alice.role, "admin");
    assert!(alice.is_active);
    assert!(alice
        .password_hash
        .as_deref()
        .unwrap_or("")
        .starts_with("$argon2id$"));

    let carol: Vec<LoginRow> = load(
        &db,
        "SELECT * FROM wfops_find_login($1)",
        "carol@example.com",
    )
    .await;
    assert_eq!(carol.len(), 1);
    assert_eq!(carol[0].tenant_id, f.c);
    assert!(
        !carol[0].is_active,
        "a user of a deactivated tenant is not active"
    );

    let nobody: Vec<LoginRow> = load(
        &db,
        "SELECT * FROM wfops_find_login($1)",
        "nobody@example.com",
    )
    .await;
    assert!(nobody.is_empty());

    // one account per email in the whole installation, whatever the tenant or the case
    let err = common::exec_as(
        &db,
        Some(f.b),
        "INSERT INTO users (tenant_id, email) VALUES (current_setting('app.tenant_id')::uuid, $1)",
        "ALICE@example.com",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint } if constraint == "users_email_lower_key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn tenant_ids_lists_active_tenants_and_slugs_resolve() {
    let f = fixture().await;
    let db = f.test_db.db();
    let ids: Vec<TenantIdRow> = load(
        &db,
        "SELECT t AS id FROM wfops_tenant_ids() t WHERE $1 = $1",
        "",
    )
    .await;
    let mut ids: Vec<Uuid> = ids.into_iter().map(|r| r.id).collect();
    ids.sort();
    let mut expected = vec![f.a, f.b];
    expected.sort();
    assert_eq!(ids, expected, "active tenants only (not {})", f.c);

    let acme: Vec<TenantIdRow> = load(
        &db,
        "SELECT t AS id FROM wfops_find_tenant_by_slug($1) t",
        "acme",
    )
    .await;
    assert_eq!(acme.iter().map(|r| r.id).collect::<Vec<_>>(), vec![f.a]);
    let none: Vec<TenantIdRow> = load(
        &db,
        "SELECT t AS id FROM wfops_find_tenant_by_slug($1) t",
        "no-such-tenant",
    )
    .await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn definer_functions_work_with_a_tenant_set_too_and_ignore_it() {
    // an API key is resolved without a tenant; a job scheduler inside some tenant's transaction
    // still sees every active tenant
    let f = fixture().await;
    let db = f.test_db.db();
    let n = common::count_as(
        &db,
        Some(f.b),
        "SELECT count(*) AS n FROM wfops_tenant_ids() WHERE $1 = $1",
        "",
    )
    .await
    .unwrap();
    assert_eq!(n, 2);
    let n = common::count_as(
        &db,
        Some(f.b),
        "SELECT count(*) AS n FROM wfops_resolve_api_key($1)",
        "prefixAAAAAA",
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
}
