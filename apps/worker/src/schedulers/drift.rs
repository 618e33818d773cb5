use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;
use wfops_db::{drift as drift_db, Conn};
use wfops_engine::drift::incidents;
use wfops_engine::drift::CheckTrigger;
use wfops_engine::jobs::{self, DriftCheck};
use wfops_promotion::EnvironmentClass;

use crate::per_tenant::{for_each_tenant, TenantTick};
use crate::{Error, Scheduler, SchedulerContext};

/// The drift scheduler: every `DRIFT_CHECK_INTERVAL_SECONDS` (5 minutes by default) it queues
/// a `drift_check` job for every live environment that has a Git repository and folder and
/// whose class is not `dev` (people edit in dev; Git is the source of truth elsewhere). The
/// job holds the environment's lock and a pending check is returned instead of a second one,
/// so however many workers run this, one check per environment runs at a time.
#[derive(Debug, Clone)]
pub struct DriftDetection {
    pub interval: Duration,
}

/// What one pass queued, summed over tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DriftDetectionReport {
    pub environments: usize,
    pub queued: usize,
    pub already_pending: usize,
    /// Skipped by class (`dev`).
    pub skipped_dev: usize,
    /// Skipped because Git is not configured (their status says so from any manual check).
    pub skipped_no_git: usize,
}

impl std::ops::AddAssign for DriftDetectionReport {
    fn add_assign(&mut self, o: Self) {
        self.environments += o.environments;
        self.queued += o.queued;
        self.already_pending += o.already_pending;
        self.skipped_dev += o.skipped_dev;
        self.skipped_no_git += o.skipped_no_git;
    }
}

/// Whether the scheduler checks an environment of this class. Decided by the class, never by
/// a name.
pub fn scheduled_for(class: EnvironmentClass) -> bool {
    class != EnvironmentClass::Dev
}

impl DriftDetection {
    pub const NAME: &'static str = "drift_detection";

    pub fn from_config(config: &wfops_config::Config) -> Self {
        Self {
            interval: Duration::from_secs(config.drift_check_interval_seconds),
        }
    }

    pub async fn run_once(&self, ctx: &SchedulerContext) -> Result<DriftDetectionReport, Error> {
        for_each_tenant(ctx, Self::NAME, self)
            .await?
            .into_result(Self::NAME)
    }
}

#[async_trait::async_trait]
impl TenantTick for DriftDetection {
    type Report = DriftDetectionReport;

    async fn tick_tenant(&self, conn: &mut Conn, tenant: Uuid) -> Result<Self::Report, Error> {
        let mut r = DriftDetectionReport::default();
        for env in drift_db::check_candidates(conn).await? {
            r.environments += 1;
            if !scheduled_for(env.environment_class) {
                r.skipped_dev += 1;
                continue;
            }
            if env.git_repo_url.is_none() || env.git_folder.is_none() {
                r.skipped_no_git += 1;
                continue;
            }
            let job = DriftCheck {
                environment_id: env.id,
                check_type: CheckTrigger::Scheduled,
            };
            if jobs::enqueue(conn, tenant, &job).await?.created {
                r.queued += 1;
            } else {
                r.already_pending += 1;
            }
        }
        Ok(r)
    }
}

#[async_trait::async_trait]
impl Scheduler for DriftDetection {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn tick(&self, ctx: &SchedulerContext) -> Result<(), Error> {
        self.run_once(ctx).await.map(drop)
    }
}

/// The TTL scheduler: every `TTL_CHECK_INTERVAL_SECONDS` (a minute by default) it raises the
/// escalation of open incidents that reached 25% (`escalated`) or 75% (`critical_overdue`) of
/// their TTL. It never closes an incident.
#[derive(Debug, Clone)]
pub struct DriftTtl {
    pub interval: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DriftTtlReport {
    pub escalated: usize,
}

impl std::ops::AddAssign for DriftTtlReport {
    fn add_assign(&mut self, o: Self) {
        self.escalated += o.escalated;
    }
}

impl DriftTtl {
    pub const NAME: &'static str = "drift_ttl";

    pub fn from_config(config: &wfops_config::Config) -> Self {
        Self {
            interval: Duration::from_secs(config.ttl_check_interval_seconds),
        }
    }

    pub async fn run_once(&self, ctx: &SchedulerContext) -> Result<DriftTtlReport, Error> {
        for_each_tenant(ctx, Self::NAME, self)
            .await?
            .into_result(Self::NAME)
    }
}

#[async_trait::async_trait]
impl TenantTick for DriftTtl {
    type Report = DriftTtlReport;

    async fn tick_tenant(&self, conn: &mut Conn, tenant: Uuid) -> Result<Self::Report, Error> {
        let escalated = incidents::escalate_due(conn, Utc::now())
            .await
            .map_err(|e| Error::Tick(e.to_string()))?;
        for e in &escalated {
            tracing::warn!(%tenant, incident = %e.incident_id, environment = %e.environment_id,
                from = %e.from, to = %e.to, "drift incident escalated");
        }
        Ok(DriftTtlReport {
            escalated: escalated.len(),
        })
    }
}

#[async_trait::async_trait]
impl Scheduler for DriftTtl {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn tick(&self, ctx: &SchedulerContext) -> Result<(), Error> {
        self.run_once(ctx).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_is_skipped_by_class_and_intervals_come_from_the_config() {
        assert!(!scheduled_for(EnvironmentClass::Dev));
        assert!(scheduled_for(EnvironmentClass::Staging));
        assert!(scheduled_for(EnvironmentClass::Production));
        let config = wfops_config::Config::from_lookup(|_| None).unwrap();
        assert_eq!(
            DriftDetection::from_config(&config).interval(),
            Duration::from_secs(300)
        );
        assert_eq!(
            DriftTtl::from_config(&config).interval(),
            Duration::from_secs(60)
        );
        assert_eq!(
            DriftDetection::from_config(&config).name(),
            "drift_detection"
        );
    }
}
