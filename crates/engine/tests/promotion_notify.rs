//! A deployment that ends badly tells the channels that asked: `promotion.rolled_back` when
//! the target is back to its snapshot, `promotion.failed` otherwise; a completed one tells
//! nobody. The deliveries are written with the deployment's end, in its transaction.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod promotion_world;
mod repo_git;

use promotion_world::world;
use serde_json::json;
use wfops_db::notifications::{self as store, DeliveryRow, NewChannel};
use wfops_db::ScopedFutureExt;
use wfops_engine::notify::EventType;
use wfops_fake_n8n::{Fault, Route};
use wfops_promotion::PromotionStatus;

async fn subscribe(w: &promotion_world::World) {
    let tenant = w.h.tenant;
    let secret = w.h.ctx.cipher.encrypt_str("whsec_test").unwrap();
    w.h.ctx
        .db
        .tenant_tx(tenant, |conn| {
            async move {
                store::insert_channel(
                    conn,
                    &NewChannel {
                        tenant_id: tenant,
                        name: "promotions",
                        kind: "webhook",
                        enabled: true,
                        events: json!(["promotion.failed", "promotion.rolled_back"]),
                        webhook_url: Some("https://hooks.example.com/promotions"),
                        secret_ciphertext: Some(&secret),
                        email_recipients: None,
                        created_by: None,
                    },
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .unwrap();
}

async fn deliveries(w: &promotion_world::World) -> Vec<DeliveryRow> {
    w.h.ctx
        .db
        .tenant_tx(w.h.tenant, |conn| {
            async move { store::list_deliveries(conn, &Default::default(), 0, 50).await }
                .scope_boxed()
        })
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn a_rolled_back_deployment_emits_promotion_rolled_back() {
    let w = world(4).await;
    subscribe(&w).await;
    let deployment = w.promotion(&w.canonicals).await;
    w.prod
        .inject(Fault::status(400).on(Route::CreateWorkflow).nth(2));
    let report = w.execute(deployment).await;
    assert_eq!(report.status, Some(PromotionStatus::RolledBack));
    let rows = deliveries(&w).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let d = &rows[0];
    assert_eq!(d.event_type, EventType::PromotionRolledBack);
    assert_eq!(d.payload["deployment_id"], json!(deployment));
    assert_eq!(d.payload["source_environment_id"], json!(w.dev_env));
    assert_eq!(d.payload["target_environment_id"], json!(w.prod_env));
    let error = d.payload["error"].as_str().unwrap();
    assert!(error.ends_with("; rolled back"), "{error}");
    assert!(d.job_id.is_some());
    // running the finished deployment again emits nothing more
    w.execute(deployment).await;
    assert_eq!(deliveries(&w).await.len(), 1);
}

#[tokio::test]
async fn a_deployment_stopped_before_writing_emits_promotion_failed() {
    let w = world(3).await;
    subscribe(&w).await;
    w.h.test_db
        .admin_execute("DELETE FROM credential_mappings")
        .await
        .unwrap();
    let deployment = w.promotion(&w.canonicals).await;
    let report = w.execute(deployment).await;
    assert_eq!(report.status, Some(PromotionStatus::Failed));
    let rows = deliveries(&w).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event_type, EventType::PromotionFailed);
    assert!(rows[0].payload["error"]
        .as_str()
        .unwrap()
        .contains("problem(s) found before anything was written"));
    assert!(rows[0].payload["target_environment_name"].is_string());
}

#[tokio::test]
async fn a_completed_deployment_tells_nobody() {
    let w = world(3).await;
    subscribe(&w).await;
    let deployment = w.promotion(&w.canonicals).await;
    let report = w.execute(deployment).await;
    assert_eq!(report.status, Some(PromotionStatus::Completed));
    assert!(deliveries(&w).await.is_empty());
}
