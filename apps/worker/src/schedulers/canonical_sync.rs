use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;
use wfops_db::{environments, Conn};
use wfops_engine::jobs::{self, EnvironmentSync, RepositorySync};

use crate::per_tenant::{for_each_tenant, TenantTick};
use crate::{Error, Scheduler, SchedulerContext};

/// The canonical sync scheduler (off unless `SYNC_SCHEDULER_ENABLED`): every
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

    /// One pass over every tenant ([`for_each_tenant`]). A tenant that fails does not stop
    /// the others; the pass then fails with the installation-wide summary.
    pub async fn run_once(&self, ctx: &SchedulerContext) -> Result<CanonicalSyncReport, Error> {
        let sweep = for_each_tenant(ctx, Self::NAME, self).await?;
        let tenants = sweep.tenants;
        let mut report = sweep.into_result(Self::NAME)?;
        report.tenants = tenants;
        Ok(report)
    }
}

impl std::ops::AddAssign for CanonicalSyncReport {
    fn add_assign(&mut self, o: Self) {
        self.tenants += o.tenants;
        self.environments += o.environments;
        self.environment_syncs += o.environment_syncs;
        self.repository_syncs += o.repository_syncs;
        self.already_pending += o.already_pending;
    }
}

#[async_trait::async_trait]
impl TenantTick for CanonicalSync {
    type Report = CanonicalSyncReport;

    async fn tick_tenant(&self, conn: &mut Conn, tenant: Uuid) -> Result<Self::Report, Error> {
        // `tenants` is filled in by run_once, from the sweep
        let mut r = CanonicalSyncReport::default();
        const PAGE: i64 = 500;
        let mut offset = 0;
        loop {
            let (envs, total) = environments::list(conn, offset, PAGE).await?;
            for env in &envs {
                r.environments += 1;
                let sync = EnvironmentSync {
                    environment_id: env.id,
                };
                if jobs::enqueue(conn, tenant, &sync).await?.created {
                    r.environment_syncs += 1;
                } else {
                    r.already_pending += 1;
                }
                if env.git_repo_url.is_some() && env.git_folder.is_some() {
                    let sync = RepositorySync {
                        environment_id: env.id,
                    };
                    if jobs::enqueue(conn, tenant, &sync).await?.created {
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
        Ok(r)
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
