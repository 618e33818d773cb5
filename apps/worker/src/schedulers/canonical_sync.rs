use std::time::Duration;

use serde::Serialize;
use wfops_db::{environments, scheduler as state, ScopedFutureExt};
use wfops_engine::jobs::{self, EnvironmentSync, RepositorySync};

use crate::{Error, Scheduler, SchedulerContext};

/// The canonical sync scheduler of spec §9.1 (off unless `SYNC_SCHEDULER_ENABLED`): every
/// `SYNC_INTERVAL_SECONDS` it enqueues an environment sync for every environment of every
/// tenant, and a repository sync for those with a Git repository and folder. The enqueue
/// helpers return a job that is still pending instead of adding another, so a slow sync never
/// piles up runs behind it.
#[derive(Debug, Clone)]
pub struct CanonicalSync {
    pub interval: Duration,
    pub enabled: bool,
}

/// What one tick enqueued, summed over tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CanonicalSyncReport {
    pub tenants: usize,
    pub environments: usize,
    pub environment_syncs: usize,
    pub repository_syncs: usize,
    /// Jobs not enqueued because the same job was still pending.
    pub already_pending: usize,
}

impl CanonicalSync {
    pub const NAME: &'static str = "canonical_sync";

    pub fn from_config(config: &wfops_config::Config) -> Self {
        Self {
            interval: Duration::from_secs(config.sync_interval_seconds),
            enabled: config.sync_scheduler_enabled,
        }
    }

    /// One pass over every tenant (found through the `wfops_tenant_ids()` definer function),
    /// each in its own tenant transaction. A tenant that fails does not stop the others.
    pub async fn run_once(&self, ctx: &SchedulerContext) -> Result<CanonicalSyncReport, Error> {
        let tenants = ctx
            .db
            .system_tx(|conn| async move { state::tenant_ids(conn).await }.scope_boxed())
            .await?;
        let mut report = CanonicalSyncReport {
            tenants: tenants.len(),
            ..Default::default()
        };
        let mut failures = Vec::new();
        for tenant in tenants {
            let r = ctx
                .db
                .tenant_tx(tenant, move |conn| {
                    async move {
                        let mut r = CanonicalSyncReport::default();
                        const PAGE: i64 = 500;
                        let mut offset = 0;
                        loop {
                            let (envs, total) = environments::list(conn, offset, PAGE).await?;
                            for env in &envs {
                                r.environments += 1;
                                let e = jobs::enqueue(
                                    conn,
                                    tenant,
                                    &EnvironmentSync {
                                        environment_id: env.id,
                                    },
                                )
                                .await?;
                                if e.created {
                                    r.environment_syncs += 1;
                                } else {
                                    r.already_pending += 1;
                                }
                                if env.git_repo_url.is_some() && env.git_folder.is_some() {
                                    let e = jobs::enqueue(
                                        conn,
                                        tenant,
                                        &RepositorySync {
                                            environment_id: env.id,
                                        },
                                    )
                                    .await?;
                                    if e.created {
                                        r.repository_syncs += 1;
                                    } else {
                                        r.already_pending += 1;
                                    }
                                }
                            }
                            offset += PAGE;
                            if envs.is_empty() || offset >= total {
                                break;
                            }
                        }
                        Ok::<_, wfops_db::Error>(r)
                    }
                    .scope_boxed()
                })
                .await;
            match r {
                Ok(r) => {
                    report.environments += r.environments;
                    report.environment_syncs += r.environment_syncs;
                    report.repository_syncs += r.repository_syncs;
                    report.already_pending += r.already_pending;
                }
                Err(e) => failures.push((tenant, e)),
            }
        }
        tracing::info!(
            tenants = report.tenants,
            environments = report.environments,
            environment_syncs = report.environment_syncs,
            repository_syncs = report.repository_syncs,
            already_pending = report.already_pending,
            failed_tenants = failures.len(),
            "canonical sync scheduled"
        );
        if let Some((tenant, first)) = failures.first() {
            return Err(Error::Tick(format!(
                "canonical sync failed for {} of {} tenants; first: tenant {tenant}: {first}",
                failures.len(),
                report.tenants
            )));
        }
        Ok(report)
    }
}

#[async_trait::async_trait]
impl Scheduler for CanonicalSync {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    async fn tick(&self, ctx: &SchedulerContext) -> Result<(), Error> {
        self.run_once(ctx).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_variables_and_is_off_by_default() {
        let s = CanonicalSync::from_config(&wfops_config::Config::from_lookup(|_| None).unwrap());
        assert!(!s.enabled());
        assert_eq!(s.interval(), Duration::from_secs(3600));
        let s = CanonicalSync::from_config(
            &wfops_config::Config::from_lookup(|name| match name {
                "SYNC_SCHEDULER_ENABLED" => Some("true".into()),
                "SYNC_INTERVAL_SECONDS" => Some("120".into()),
                _ => None,
            })
            .unwrap(),
        );
        assert!(s.enabled());
        assert_eq!(s.interval(), Duration::from_secs(120));
        assert_eq!(s.name(), "canonical_sync");
    }
}
