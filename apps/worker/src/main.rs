//! `wfops-worker`: claims jobs and runs the schedulers until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;
use wfops_config::{Config, DatabaseSource, LogFormat};

use wfops_engine::EngineCtx;
use wfops_worker::schedulers::{
    CanonicalSync, DeploymentScheduler, DriftDetection, DriftTtl, RetentionCleanup,
};
use wfops_worker::{
    cleanup_stale_deployments, default_worker_name, register_engine_jobs, shutdown_signal, Error,
    Registry, Worker, WorkerOptions,
};

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Without DATABASE_URL and without the embedded switch, stop before anything is created.
    let config = match Config::from_env().and_then(|c| c.database().map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wfops-worker: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "wfops-worker failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(mut config: Config) -> Result<(), Error> {
    let database = config
        .database()
        .map_err(|e| Error::Startup(e.to_string()))?;
    let database_url = match database {
        DatabaseSource::Url(url) => url.into_inner(),
        DatabaseSource::Embedded(home) => {
            tracing::info!(home = %home.display(), "DATABASE_URL not set: using the embedded local cluster");
            let cluster = tokio::task::spawn_blocking(move || wfops_db::embedded::ensure(&home))
                .await
                .map_err(|e| Error::Startup(format!("starting the local cluster: {e}")))??;
            cluster.database_url()
        }
    };
    let applied = wfops_db::migrate::run(&database_url).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let db = wfops_db::Db::connect(&database_url, config.db_pool_size).await?;

    cleanup_stale_deployments(&db, Duration::from_secs(config.stale_deployment_seconds)).await?;

    // The engine decrypts n8n API keys and Git tokens with ENCRYPTION_KEY (generated into
    // <home>/secrets.env for the embedded local setup, like the API does).
    config.ensure_local_secrets()?;
    let engine = EngineCtx::from_config(db.clone(), Arc::new(config.clone()))
        .map_err(|e| Error::Startup(format!("engine: {e}")))?;
    let mut registry = Registry::new();
    register_engine_jobs(&mut registry, Arc::new(engine))?;
    let mut options = WorkerOptions::from_config(&config, default_worker_name());
    options.listen_url = Some(database_url);
    let worker = Worker::new(db, registry, options)
        .with_scheduler(RetentionCleanup::from_config(&config))
        .with_scheduler(CanonicalSync::from_config(&config))
        .with_scheduler(DeploymentScheduler::from_config(&config))
        .with_scheduler(DriftDetection::from_config(&config))
        .with_scheduler(DriftTtl::from_config(&config));

    let summary = worker.run(shutdown_signal()?).await?;
    tracing::info!(?summary, "wfops-worker exiting");
    Ok(())
}
