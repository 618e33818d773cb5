//! Row-level security alone stops cross-tenant access: these queries run as the application
//! role with no tenant filter in the SQL, the way a buggy query would.

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{count_as, create_environment, exec_as};
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use wfops_db::Error;
use wfops_test_support::TestDb;

#[tokio::test]
async fn another_tenants_rows_are_invisible_and_untouchable() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let a = test_db.create_tenant("tenant-a").await.unwrap();
    let b = test_db.create_tenant("tenant-b").await.unwrap();
    let env_a = create_environment(&db, a, "dev").await;
    let env_b = create_environment(&db, b, "dev").await;
    let env_b = env_b.to_string();

    // a plain select by B's id, as A: nothing
    let seen = count_as(
        &db,
        Some(a),
        "SELECT count(*) AS n FROM environments WHERE id = $1::uuid",
        &env_b,
    )
    .await
    .unwrap();
    assert_eq!(seen, 0);
    // no filter at all, as A: only A's row
    let all = count_as(
        &db,
        Some(a),
        "SELECT count(*) AS n FROM environments WHERE $1 = $1",
        "",
    )
    .await
    .unwrap();
    assert_eq!(all, 1);
    // B's own view is intact
    let own = count_as(
        &db,
        Some(b),
        "SELECT count(*) AS n FROM environments WHERE id = $1::uuid",
        &env_b,
    )
    .await
    .unwrap();
    assert_eq!(own, 1);

    // update and delete of B's row, as A: zero rows affected
    let updated = exec_as(
        &db,
        Some(a),
        "UPDATE environments SET name = 'pwned' WHERE id = $1::uuid",
        &env_b,
    )
    .await
    .unwrap();
    assert_eq!(updated, 0);
    let deleted = exec_as(
        &db,
        Some(a),
        "DELETE FROM environments WHERE id = $1::uuid",
        &env_b,
    )
    .await
    .unwrap();
    assert_eq!(deleted, 0);

    // inserting a row that names B, as A: refused by the policy's WITH CHECK
    let err = exec_as(
        &db,
        Some(a),
        "INSERT INTO environments (tenant_id, name, url) VALUES ($1::uuid, 'evil', 'https://x.example')",
        &b.to_string(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::RowSecurity { table } if table == "environments"),
        "{err:?}"
    );
    // moving A's own row to B: refused too
    let err = exec_as(
        &db,
        Some(a),
        "UPDATE environments SET tenant_id = $1::uuid",
        &b.to_string(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::RowSecurity { .. }), "{err:?}");

    // referencing B's environment from A's row: the composite foreign key finds no (A, env_b)
    let err = exec_as(
        &db,
        Some(a),
        "INSERT INTO workflow_env_map (tenant_id, environment_id, n8n_workflow_id) \
         VALUES (current_setting('app.tenant_id')::uuid, $1::uuid, 'wf-1')",
        &env_b,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::ForeignKey { constraint } if constraint == "workflow_env_map_environment_fkey"),
        "{err:?}"
    );

    // the tenants table itself, as A: B does not exist
    let tenants = count_as(
        &db,
        Some(a),
        "SELECT count(*) AS n FROM tenants WHERE id <> $1::uuid",
        &a.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(tenants, 0);

    // the owner (bypassing RLS) confirms B's row survived every attempt unchanged
    let mut admin = common::admin(&test_db).await;
    let names: Vec<common::Id> =
        diesel::sql_query("SELECT name AS id FROM environments WHERE id = $1::uuid")
            .bind::<Text, _>(&env_b)
            .load(&mut admin)
            .await
            .unwrap();
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].id, "dev");
    let a_rows = count_as(
        &db,
        Some(a),
        "SELECT count(*) AS n FROM environments WHERE id = $1::uuid",
        &env_a.to_string(),
    )
    .await
    .unwrap();
    assert_eq!(a_rows, 1, "A's own row is still A's");
}

#[tokio::test]
async fn without_a_tenant_nothing_is_visible_or_writable() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let a = test_db.create_tenant("tenant-a").await.unwrap();
    create_environment(&db, a, "dev").await;

    for table in ["tenants", "environments", "users", "api_keys", "audit_logs"] {
        let n = count_as(
            &db,
            None,
            &format!("SELECT count(*) AS n FROM {table} WHERE $1 = $1"),
            "",
        )
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} must be invisible without a tenant");
    }
    let err = exec_as(
        &db,
        None,
        "INSERT INTO environments (tenant_id, name, url) VALUES ($1::uuid, 'x', 'https://x.example')",
        &a.to_string(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::RowSecurity { .. }), "{err:?}");
    let err = exec_as(
        &db,
        None,
        "INSERT INTO tenants (name, slug) VALUES ($1, $1)",
        "orphan",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::RowSecurity { .. }), "{err:?}");
    let deleted = exec_as(&db, None, "DELETE FROM environments WHERE $1 = $1", "")
        .await
        .unwrap();
    assert_eq!(deleted, 0);
}
