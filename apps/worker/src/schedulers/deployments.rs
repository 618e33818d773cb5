use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use wfops_db::{deployments, Conn};
use wfops_promotion::DeploymentStatus;

use crate::per_tenant::{for_each_tenant, TenantTick};
use crate::{Error, Scheduler, SchedulerContext};

/// Due scheduled deployments taken per tenant and pass; the rest wait for the next pass.
pub const BATCH: i64 = 200;

/// The deployment scheduler: every `DEPLOYMENT_CHECK_INTERVAL_SECONDS` (default 10) it hands
/// each scheduled deployment whose time has come, and whose promotion may run, to the queue:
/// `scheduled → pending` and the `promotion_deployment` job, in one transaction.
///
/// Exactly once across workers: the due rows are locked with `SKIP LOCKED` and the status
/// change is guarded on `scheduled`, so a second worker's pass at the same moment skips the
/// rows the first holds, and after the first commits finds them no longer scheduled.
#[derive(Debug, Clone)]
pub struct DeploymentScheduler {
    pub interval: Duration,
}

/// What one pass queued, summed over tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentSchedulerReport {
    pub tenants: usize,
    /// Deployments handed to the queue.
    pub queued: usize,
}

impl std::ops::AddAssign for DeploymentSchedulerReport {
    fn add_assign(&mut self, o: Self) {
        self.tenants += o.tenants;
        self.queued += o.queued;
    }
}

impl DeploymentScheduler {
    pub const NAME: &'static str = "deployment_scheduler";

    pub fn from_config(config: &wfops_config::Config) -> Self {
        Self {
            interval: Duration::from_secs(config.deployment_check_interval_seconds),
        }
    }

    /// One pass over every tenant ([`for_each_tenant`]).
    pub async fn run_once(
        &self,
        ctx: &SchedulerContext,
    ) -> Result<DeploymentSchedulerReport, Error> {
        let sweep = for_each_tenant(ctx, Self::NAME, self).await?;
        let tenants = sweep.tenants;
        let mut report = sweep.into_result(Self::NAME)?;
        report.tenants = tenants;
        Ok(report)
    }
}

#[async_trait::async_trait]
impl TenantTick for DeploymentScheduler {
    type Report = DeploymentSchedulerReport;

    async fn tick_tenant(&self, conn: &mut Conn, tenant: Uuid) -> Result<Self::Report, Error> {
        let mut report = DeploymentSchedulerReport::default();
        for (due, target) in deployments::lock_due_scheduled(conn, Utc::now(), BATCH).await? {
            let Some(pending) = deployments::transition(
                conn,
                due.id,
                DeploymentStatus::Scheduled,
                DeploymentStatus::Pending,
                None,
            )
            .await?
            else {
                continue;
            };
            wfops_engine::jobs::enqueue_deployment(conn, tenant, &pending, target).await?;
            tracing::info!(deployment_id = %due.id, tenant_id = %tenant,
                "scheduled deployment is due; queued");
            report.queued += 1;
        }
        Ok(report)
    }
}

#[async_trait::async_trait]
impl Scheduler for DeploymentScheduler {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn tick(&self, ctx: &SchedulerContext) -> Result<(), Error> {
        self.run_once(ctx).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_interval() {
        let s =
            DeploymentScheduler::from_config(&wfops_config::Config::from_lookup(|_| None).unwrap());
        assert_eq!(s.interval(), Duration::from_secs(10));
        assert!(s.enabled());
        let s = DeploymentScheduler::from_config(
            &wfops_config::Config::from_lookup(|name| {
                (name == "DEPLOYMENT_CHECK_INTERVAL_SECONDS").then(|| "3".into())
            })
            .unwrap(),
        );
        assert_eq!(s.interval(), Duration::from_secs(3));
        assert_eq!(s.name(), "deployment_scheduler");
    }
}
