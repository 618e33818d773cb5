//! The pool runs as the application role and binds each transaction to one tenant.

use diesel::sql_types::{Nullable, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use wfops_db::{Conn, Db, Error, ScopedFutureExt};
use wfops_test_support::TestDb;

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

async fn select_text(conn: &mut Conn, sql: &str) -> Result<Option<String>, Error> {
    let row: Value = diesel::sql_query(sql).get_result(conn).await?;
    Ok(row.value)
}

#[tokio::test]
async fn pooled_connections_run_as_the_app_role() {
    let test_db = TestDb::new().await;
    let user = test_db
        .db()
        .system_tx(|conn| {
            async move { select_text(conn, "SELECT current_user::text AS value").await }
                .scope_boxed()
        })
        .await
        .unwrap();
    assert_eq!(user.as_deref(), Some("wfops_app"));
}

#[tokio::test]
async fn a_login_that_can_not_become_the_app_role_is_refused() {
    let test_db = TestDb::new().await;
    let role = format!("wfops_nomember_{}", Uuid::new_v4().simple());
    test_db
        .admin_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'"))
        .await
        .unwrap();
    let url = test_db
        .admin_url()
        .replacen("://wfops:", &format!("://{role}:"), 1);
    let url = match url.find('@') {
        Some(at) => format!("postgres://{role}:pw-{role}{}", &url[at..]),
        None => panic!("admin url without credentials"),
    };
    let result = Db::connect(&url, 1).await;
    test_db
        .admin_execute(&format!("DROP ROLE {role}"))
        .await
        .unwrap();
    let err = result.expect_err("a role without wfops_app membership must be refused");
    assert!(err.to_string().contains("SET ROLE wfops_app"), "{err}");
}

#[tokio::test]
async fn tenant_tx_sets_the_tenant_for_its_transaction_only() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let tenant = Uuid::new_v4();
    let inside = db
        .tenant_tx(tenant, |conn| {
            async move {
                select_text(
                    conn,
                    "SELECT current_setting('app.tenant_id', true) AS value",
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
    assert_eq!(inside, Some(tenant.to_string()));

    // the same pooled connection must not carry the tenant into the next unit of work
    for _ in 0..3 {
        let after = db
            .system_tx(|conn| {
                async move {
                    select_text(
                        conn,
                        "SELECT nullif(current_setting('app.tenant_id', true), '') AS value",
                    )
                    .await
                }
                .scope_boxed()
            })
            .await
            .unwrap();
        assert_eq!(after, None);
    }
}

#[tokio::test]
async fn an_error_rolls_the_tenant_transaction_back() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let tenant = test_db.create_tenant("rollback").await.unwrap();

    let result: Result<(), Error> = db
        .tenant_tx(tenant, |conn| {
            async move {
                diesel::sql_query(
                    "INSERT INTO environments (tenant_id, name, url) \
                     VALUES (current_setting('app.tenant_id')::uuid, 'dev', 'http://n8n.local')",
                )
                .execute(conn)
                .await?;
                Err(Error::NotFound)
            }
            .scope_boxed()
        })
        .await;
    assert!(matches!(result, Err(Error::NotFound)));

    let count = db
        .tenant_tx(tenant, |conn| {
            async move { select_text(conn, "SELECT count(*)::text AS value FROM environments").await }
                .scope_boxed()
        })
        .await
        .unwrap();
    assert_eq!(count.as_deref(), Some("0"));
}

#[tokio::test]
async fn constraint_violations_keep_the_constraint_name() {
    let test_db = TestDb::new().await;
    let db = test_db.db();
    let tenant = test_db.create_tenant("constraints").await.unwrap();

    let insert = |name: &'static str, url: &'static str| {
        db.tenant_tx(tenant, move |conn| {
            async move {
                diesel::sql_query(
                    "INSERT INTO environments (tenant_id, name, url) \
                     VALUES (current_setting('app.tenant_id')::uuid, $1, $2)",
                )
                .bind::<Text, _>(name)
                .bind::<Text, _>(url)
                .execute(conn)
                .await
                .map_err(Error::from)
            }
            .scope_boxed()
        })
    };
    insert("dev", "http://n8n.local").await.unwrap();

    let err = insert("dev", "http://other.local").await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint } if constraint == "environments_tenant_id_name_key"),
        "{err:?}"
    );
    let err = insert("prod", "ftp://n8n.local").await.unwrap_err();
    assert!(
        matches!(&err, Error::CheckViolation { constraint } if constraint == "environments_url_check"),
        "{err:?}"
    );

    let err = db
        .tenant_tx(tenant, |conn| {
            async move {
                diesel::sql_query(
                    "INSERT INTO environment_variables (tenant_id, environment_id, key, value) \
                     VALUES (current_setting('app.tenant_id')::uuid, gen_random_uuid(), 'K', 'v')",
                )
                .execute(conn)
                .await
                .map_err(Error::from)
            }
            .scope_boxed()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ForeignKey { constraint } if constraint == "environment_variables_environment_fkey"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_zero_pool_size_is_a_clear_error() {
    let test_db = TestDb::new().await;
    let err = Db::connect(&test_db.admin_url(), 0).await.unwrap_err();
    assert!(err.to_string().contains("at least 1"), "{err}");
}
