//! What every use-case runs with: the database, the configuration, the secret cipher, and the
//! ways a use-case reports progress and checkpoints to the job that runs it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;
use wfops_config::{Cipher, Config, Secret};
use wfops_db::environments::Environment;
use wfops_db::{Conn, Db, ScopedFutureExt};
use wfops_n8n::{N8nClient, N8nConfig, RetryPolicy, WorkflowProvider, MAX_PAGE_SIZE};

use crate::error::{EngineError, Result};

/// The engine's dependencies, shared by every use-case. Cheap to clone.
#[derive(Clone)]
pub struct EngineCtx {
    pub db: Db,
    pub config: Arc<Config>,
    pub cipher: Cipher,
    /// Where Git mirrors live (`<WFOPS_HOME>/git-cache`).
    pub git_cache: PathBuf,
    /// How the engine talks to n8n instances.
    pub n8n: N8nOptions,
}

impl std::fmt::Debug for EngineCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineCtx")
            .field("git_cache", &self.git_cache)
            .field("n8n", &self.n8n)
            .finish_non_exhaustive()
    }
}

impl EngineCtx {
    /// Also fixes the process's Git network timeouts from the configuration (libgit2 keeps
    /// them process-wide; the first context of a process decides).
    pub fn new(db: Db, config: Arc<Config>, cipher: Cipher, git_cache: PathBuf) -> Self {
        let git_timeouts = wfops_git::NetworkTimeouts {
            connect: Duration::from_secs(config.git_connect_timeout_seconds),
            read: Duration::from_secs(config.git_read_timeout_seconds),
        };
        if let Err(in_effect) = wfops_git::set_network_timeouts(git_timeouts) {
            tracing::warn!(wanted = ?git_timeouts, ?in_effect,
                "git network timeouts were already fixed for this process; keeping them");
        }
        let n8n = N8nOptions::from_config(&config);
        Self {
            db,
            config,
            cipher,
            git_cache,
            n8n,
        }
    }

    /// The context an app builds from its configuration: the cipher from `ENCRYPTION_KEY`, the
    /// Git cache under `WFOPS_HOME`. Fails when the encryption key is missing.
    pub fn from_config(db: Db, config: Arc<Config>) -> Result<Self> {
        let cipher = config.secrets()?.cipher;
        let git_cache = config.home.join("git-cache");
        Ok(Self::new(db, config, cipher, git_cache))
    }
}

/// Client settings for n8n instances. The defaults are the n8n crate's, the timeouts come from
/// the configuration; tests shorten them.
#[derive(Debug, Clone)]
pub struct N8nOptions {
    /// Workflows per list request (1..=250). Bigger pages mean fewer round trips; n8n caps 250.
    pub page_size: u16,
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Requests in flight at once against one instance.
    pub max_concurrency: usize,
    /// The first wait between two attempts of a rollback or restore step that failed for a
    /// transient reason (doubled for the next; three attempts in all).
    pub restore_backoff: Duration,
}

impl N8nOptions {
    /// The defaults with the configured connect and request timeouts.
    pub fn from_config(config: &Config) -> Self {
        Self {
            connect_timeout: Duration::from_secs(config.n8n_connect_timeout_seconds),
            request_timeout: Duration::from_secs(config.n8n_request_timeout_seconds),
            ..Self::default()
        }
    }
}

impl Default for N8nOptions {
    fn default() -> Self {
        let d = N8nConfig::new("http://localhost", Secret::new(String::new()));
        Self {
            page_size: MAX_PAGE_SIZE,
            retry: d.retry,
            connect_timeout: d.connect_timeout,
            request_timeout: d.request_timeout,
            max_concurrency: d.max_concurrency,
            restore_backoff: Duration::from_millis(500),
        }
    }
}

/// Where a use-case reports how far it got (current, total, message;
/// docs/ARCHITECTURE.md#job-queue). The worker records each report on the job and in its event
/// stream.
#[async_trait]
pub trait Progress: Send + Sync {
    /// An error stops the use-case (for a job: its lease was lost).
    async fn report(&self, current: i64, total: i64, message: &str) -> Result<()>;
}

/// Progress that goes nowhere: for calls outside a job (tests, one-off commands).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

#[async_trait]
impl Progress for NoProgress {
    async fn report(&self, _current: i64, _total: i64, _message: &str) -> Result<()> {
        Ok(())
    }
}

/// Where a resumable use-case keeps its checkpoint: the `checkpoint` column of the job that
/// runs it, or nowhere (a run outside a job always starts from the beginning).
///
/// A checkpoint is saved inside the transaction of the work it describes, so both commit or
/// neither does; and only while the job is still held by this worker, so a worker whose lease
/// was taken over can not overwrite the new owner's progress.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    job: Option<(Uuid, Arc<str>)>,
    stored: Option<Value>,
}

impl Checkpoint {
    /// No job: nothing is resumed, nothing is saved.
    pub fn none() -> Self {
        Self::default()
    }

    /// The checkpoint of job `job_id` held by `worker`, as the job row had it when claimed.
    pub fn for_job(job_id: Uuid, worker: impl Into<Arc<str>>, stored: Option<Value>) -> Self {
        Self {
            job: Some((job_id, worker.into())),
            stored,
        }
    }

    /// What the previous attempt saved, if any.
    pub fn stored(&self) -> Option<&Value> {
        self.stored.as_ref()
    }

    /// Saves `value` in the caller's transaction; fails with [`EngineError::LeaseLost`] (which
    /// rolls the transaction back) when the job is no longer this worker's.
    pub async fn save(&self, conn: &mut Conn, value: &Value) -> Result<()> {
        let Some((job_id, worker)) = &self.job else {
            return Ok(());
        };
        if wfops_db::jobs::save_checkpoint(conn, *job_id, worker, value).await? {
            Ok(())
        } else {
            Err(EngineError::LeaseLost(*job_id))
        }
    }
}

/// An environment with its secrets decrypted. The secrets are `Secret`s: they print as
/// `[redacted]` and only reach the provider's request headers.
pub struct LoadedEnvironment {
    pub row: Environment,
    api_key: Option<Secret<String>>,
    git_token: Option<Secret<String>>,
}

impl std::fmt::Debug for LoadedEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedEnvironment")
            .field("id", &self.row.id)
            .field("name", &self.row.name)
            .finish_non_exhaustive()
    }
}

impl LoadedEnvironment {
    /// The decrypted Git token, when the environment has one.
    pub fn git_token(&self) -> Option<&Secret<String>> {
        self.git_token.as_ref()
    }

    /// A client for the environment's provider instance.
    pub fn provider(&self, options: &N8nOptions) -> Result<Box<dyn WorkflowProvider>> {
        let config_error = |reason: String| EngineError::EnvironmentConfig {
            environment: self.row.name.clone(),
            reason,
        };
        if self.row.provider != wfops_canonical::Provider::N8n {
            return Err(config_error(format!(
                "provider {:?} is not supported yet",
                self.row.provider
            )));
        }
        let api_key = self
            .api_key
            .clone()
            .ok_or_else(|| config_error("no n8n API key is configured".into()))?;
        let mut config = N8nConfig::new(self.row.url.clone(), api_key);
        config.page_size = options.page_size.clamp(1, MAX_PAGE_SIZE);
        config.retry = options.retry.clone();
        config.connect_timeout = options.connect_timeout;
        config.request_timeout = options.request_timeout;
        config.max_concurrency = options.max_concurrency.max(1);
        let client =
            N8nClient::new(config).map_err(|e| EngineError::provider(&self.row.name, e))?;
        Ok(Box::new(client))
    }
}

/// Loads an environment of the tenant and decrypts its secrets. An environment of another
/// tenant is reported as not found.
pub async fn load_environment(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    environment_id: Uuid,
) -> Result<LoadedEnvironment> {
    let row = ctx
        .db
        .tenant_tx(tenant_id, move |conn| {
            async move { wfops_db::environments::get(conn, environment_id).await }.scope_boxed()
        })
        .await
        .map_err(|e| match e {
            wfops_db::Error::NotFound => EngineError::EnvironmentNotFound(environment_id),
            other => EngineError::Db(other),
        })?;
    let decrypt =
        |what: &str, stored: &Option<String>| -> Result<Option<Secret<String>>> {
            match stored {
                None => Ok(None),
                Some(s) => ctx.cipher.decrypt_str(s).map(Some).map_err(|e| {
                    EngineError::EnvironmentConfig {
                        environment: row.name.clone(),
                        reason: format!("the stored {what} can not be used: {e}"),
                    }
                }),
            }
        };
    let api_key = decrypt("n8n API key", &row.api_key_encrypted)?;
    let git_token = decrypt("Git token", &row.git_token_encrypted)?;
    Ok(LoadedEnvironment {
        row,
        api_key,
        git_token,
    })
}
