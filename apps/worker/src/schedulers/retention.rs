use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;
use wfops_db::{audit, jobs, Conn};

use crate::per_tenant::{for_each_tenant, TenantTick};
use crate::{Error, Scheduler, SchedulerContext};

/// Deletes finished jobs and old job events after `JOB_RETENTION_DAYS`, and audit log rows
/// after `AUDIT_LOG_RETENTION_DAYS` , tenant by tenant so
/// that every delete runs under the tenant's row-level security like any other write.
#[derive(Debug, Clone)]
pub struct RetentionCleanup {
    pub interval: Duration,
    pub job_retention: Duration,
    pub audit_log_retention: Duration,
}

impl RetentionCleanup {
    pub const NAME: &'static str = "retention_cleanup";

    pub fn from_config(config: &wfops_config::Config) -> Self {
        const DAY: u64 = 86_400;
        Self {
            interval: Duration::from_secs(config.retention_cleanup_interval_seconds),
            job_retention: Duration::from_secs(u64::from(config.job_retention_days) * DAY),
            audit_log_retention: Duration::from_secs(
                u64::from(config.audit_log_retention_days) * DAY,
            ),
        }
    }
}

/// What one cleanup deleted, summed over tenants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub tenants: usize,
    pub jobs: usize,
    pub job_events: usize,
    pub audit_logs: usize,
    /// Closed drift incidents whose snapshot was purged.
    pub incident_payloads: usize,
}

impl RetentionCleanup {
    /// One pass over every tenant ([`for_each_tenant`]). A tenant whose delete fails does not
    /// stop the others; the pass then fails with the installation-wide summary.
    pub async fn run_once(&self, ctx: &SchedulerContext) -> Result<RetentionReport, Error> {
        let sweep = for_each_tenant(ctx, Self::NAME, self).await?;
        let tenants = sweep.tenants;
        let mut report = sweep.into_result(Self::NAME)?;
        report.tenants = tenants;
        Ok(report)
    }
}

impl std::ops::AddAssign for RetentionReport {
    fn add_assign(&mut self, o: Self) {
        self.tenants += o.tenants;
        self.jobs += o.jobs;
        self.job_events += o.job_events;
        self.audit_logs += o.audit_logs;
        self.incident_payloads += o.incident_payloads;
    }
}

#[async_trait::async_trait]
impl TenantTick for RetentionCleanup {
    type Report = RetentionReport;

    async fn tick_tenant(&self, conn: &mut Conn, _tenant: Uuid) -> Result<Self::Report, Error> {
        let now = Utc::now();
        let to_chrono =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let purged = jobs::purge_before(conn, now - to_chrono(self.job_retention)).await?;
        let audit_logs =
            audit::purge_before(conn, now - to_chrono(self.audit_log_retention)).await?;
        // closed drift incidents lose their payload after their policy's retention
        let incident_payloads = wfops_engine::drift::incidents::purge_closed_payloads(conn, now)
            .await
            .map_err(|e| Error::Tick(e.to_string()))?
            .len();
        // `tenants` is filled in by run_once, from the sweep
        Ok(RetentionReport {
            tenants: 0,
            jobs: purged.jobs,
            job_events: purged.events,
            audit_logs,
            incident_payloads,
        })
    }
}

#[async_trait::async_trait]
impl Scheduler for RetentionCleanup {
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
    fn reads_its_variables() {
        let config = wfops_config::Config::from_lookup(|name| match name {
            "RETENTION_CLEANUP_INTERVAL_SECONDS" => Some("120".into()),
            "JOB_RETENTION_DAYS" => Some("7".into()),
            "AUDIT_LOG_RETENTION_DAYS" => Some("90".into()),
            _ => None,
        })
        .unwrap();
        let r = RetentionCleanup::from_config(&config);
        assert_eq!(r.interval, Duration::from_secs(120));
        assert_eq!(r.job_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(r.audit_log_retention, Duration::from_secs(90 * 86_400));
        assert_eq!(r.name(), "retention_cleanup");
    }

    #[test]
    fn defaults_follow_the_spec() {
        let r =
            RetentionCleanup::from_config(&wfops_config::Config::from_lookup(|_| None).unwrap());
        assert_eq!(r.interval, Duration::from_secs(86_400));
    }
}
