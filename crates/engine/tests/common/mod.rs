//! Shared set-up for engine tests: a migrated test database, a tenant, a fake n8n per
//! environment, and an engine context with fast client settings.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;
use wfops_config::Config;
use wfops_db::environments::{self, NewEnvironment};
use wfops_db::workflows::{self, Mapping};
use wfops_db::ScopedFutureExt;
use wfops_engine::{EngineCtx, EngineError, Progress};
use wfops_fake_n8n::FakeN8n;
use wfops_n8n::RetryPolicy;
use wfops_test_support::TestDb;

pub struct Harness {
    pub test_db: TestDb,
    pub tenant: Uuid,
    pub ctx: EngineCtx,
}

pub async fn harness() -> Harness {
    harness_with(|_| {}).await
}

/// A harness whose configuration `tweak` may change (batch size, …).
pub async fn harness_with(tweak: impl FnOnce(&mut Config)) -> Harness {
    let test_db = TestDb::new().await;
    let tenant = test_db
        .create_tenant(&format!("t-{}", &Uuid::new_v4().simple().to_string()[..8]))
        .await
        .expect("tenant");
    let mut config = Config::for_tests();
    tweak(&mut config);
    let home = std::env::temp_dir().join(format!("wfops-engine-{}", Uuid::new_v4().simple()));
    config.home = home;
    let mut ctx = EngineCtx::from_config(test_db.db(), Arc::new(config)).expect("context");
    ctx.n8n.retry = RetryPolicy {
        max_retries: 1,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(1),
    };
    ctx.n8n.request_timeout = Duration::from_secs(10);
    Harness {
        test_db,
        tenant,
        ctx,
    }
}

impl Harness {
    /// An environment of the harness' tenant pointing at `fake`.
    pub async fn environment(&self, name: &str, class: &str, fake: &FakeN8n) -> Uuid {
        self.environment_in(self.tenant, name, class, fake).await
    }

    pub async fn environment_in(
        &self,
        tenant: Uuid,
        name: &str,
        class: &str,
        fake: &FakeN8n,
    ) -> Uuid {
        let key = self
            .ctx
            .cipher
            .encrypt_str(fake.api_key())
            .expect("encrypt");
        let (name, class, url) = (name.to_owned(), class.to_owned(), fake.url().to_owned());
        self.ctx
            .db
            .tenant_tx(tenant, move |conn| {
                async move {
                    environments::insert(
                        conn,
                        &NewEnvironment {
                            tenant_id: tenant,
                            name: &name,
                            url: &url,
                            provider: "n8n",
                            environment_class: &class,
                            api_key_encrypted: Some(&key),
                            drift_handling_mode: "warn_only",
                            git_repo_url: None,
                            git_branch: "main",
                            git_folder: Some(&name),
                            git_token_encrypted: None,
                        },
                    )
                    .await
                }
                .scope_boxed()
            })
            .await
            .expect("environment")
            .id
    }

    pub async fn mappings(&self, environment_id: Uuid) -> Vec<Mapping> {
        self.mappings_in(self.tenant, environment_id).await
    }

    pub async fn mappings_in(&self, tenant: Uuid, environment_id: Uuid) -> Vec<Mapping> {
        self.ctx
            .db
            .tenant_tx(tenant, move |conn| {
                async move { workflows::list_for_environment(conn, environment_id).await }
                    .scope_boxed()
            })
            .await
            .expect("mappings")
    }

    /// Mappings by n8n id.
    pub async fn mapping_map(&self, environment_id: Uuid) -> BTreeMap<String, Mapping> {
        self.mappings(environment_id)
            .await
            .into_iter()
            .map(|m| (m.n8n_workflow_id.clone(), m))
            .collect()
    }

    pub async fn environment_row(&self, id: Uuid) -> environments::Environment {
        self.ctx
            .db
            .tenant_tx(self.tenant, move |conn| {
                async move { environments::get(conn, id).await }.scope_boxed()
            })
            .await
            .expect("environment")
    }

    /// Creates a canonical workflow for `doc` and registers its content hash with its
    /// normalized payload, as repository sync or onboarding would. Returns the canonical id.
    pub async fn register_canonical(&self, slug: &str, doc: &Value) -> Uuid {
        let hash = wfops_diff::content_hash_value(doc).expect("hash").to_hex();
        let payload = wfops_diff::normalized_value(doc).expect("normalized");
        self.register_canonical_with_payload(slug, &hash, payload)
            .await
    }

    /// Like [`Harness::register_canonical`] with a payload of the caller's choice (to stage a
    /// collision).
    pub async fn register_canonical_with_payload(
        &self,
        slug: &str,
        hash: &str,
        payload: Value,
    ) -> Uuid {
        let id = Uuid::new_v4();
        self.test_db
            .admin_execute(&format!(
                "INSERT INTO canonical_workflows (id, tenant_id, canonical_slug, name, content_hash) \
                 VALUES ('{id}', '{}', '{slug}', '{slug}', '{hash}')",
                self.tenant
            ))
            .await
            .expect("canonical");
        let tenant = self.tenant;
        let entry = wfops_db::hash_registry::NewRegistryEntry {
            content_hash: hash.to_owned(),
            canonical_id: id,
            workflow_payload: payload,
        };
        let inserted = self
            .ctx
            .db
            .tenant_tx(tenant, move |conn| {
                async move { wfops_db::hash_registry::register(conn, tenant, &[entry]).await }
                    .scope_boxed()
            })
            .await
            .expect("register");
        assert_eq!(inserted.len(), 1, "hash registered");
        id
    }
}

/// A fake n8n seeded with the first `n` fixtures; returns it with the ids in list order.
pub fn fake_with_fixtures(n: usize) -> (FakeN8n, Vec<String>) {
    let fake = FakeN8n::start().expect("fake n8n");
    let ids = fake
        .seed_fixtures(&wfops_fake_n8n::fixtures_dir(), Some(n))
        .expect("seed");
    (fake, ids)
}

/// Progress reports kept in memory.
#[derive(Default)]
pub struct Recorded(pub Mutex<Vec<(i64, i64, String)>>);

#[async_trait::async_trait]
impl Progress for Recorded {
    async fn report(&self, current: i64, total: i64, message: &str) -> Result<(), EngineError> {
        self.0
            .lock()
            .expect("lock")
            .push((current, total, message.to_owned()));
        Ok(())
    }
}
