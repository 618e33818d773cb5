use std::time::Duration;

use chrono::Utc;
use wfops_db::{audit, jobs, scheduler as state, ScopedFutureExt};

use crate::{Error, Scheduler, SchedulerContext};

/// Deletes finished jobs and old job events after `JOB_RETENTION_DAYS`, and audit log rows
/// after `AUDIT_LOG_RETENTION_DAYS` (spec §9.1 "Retention Enforcement"), tenant by tenant so
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
}

impl RetentionCleanup {
    /// One pass over every tenant. A tenant whose delete fails does not stop the others; the
    /// pass then fails with the number of failed tenants and the first error.
    pub async fn run_once(&self, ctx: &SchedulerContext) -> Result<RetentionReport, Error> {
        let now = Utc::now();
        let to_chrono =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let jobs_cutoff = now - to_chrono(self.job_retention);
        let audit_cutoff = now - to_chrono(self.audit_log_retention);
        let tenants = ctx
            .db
            .system_tx(|conn| async move { state::tenant_ids(conn).await }.scope_boxed())
            .await?;
        let mut report = RetentionReport {
            tenants: tenants.len(),
            ..Default::default()
        };
        let mut failures = Vec::new();
        for tenant in tenants {
            let r = ctx
                .db
                .tenant_tx(tenant, move |conn| {
                    async move {
                        let purged = jobs::purge_before(conn, jobs_cutoff).await?;
                        let audit = audit::purge_before(conn, audit_cutoff).await?;
                        Ok::<_, wfops_db::Error>((purged, audit))
                    }
                    .scope_boxed()
                })
                .await;
            match r {
                Ok((purged, audit)) => {
                    report.jobs += purged.jobs;
                    report.job_events += purged.events;
                    report.audit_logs += audit;
                }
                Err(e) => failures.push((tenant, e)),
            }
        }
        tracing::info!(
            tenants = report.tenants,
            jobs = report.jobs,
            job_events = report.job_events,
            audit_logs = report.audit_logs,
            failed_tenants = failures.len(),
            "retention cleanup"
        );
        if let Some((tenant, first)) = failures.first() {
            return Err(Error::Tick(format!(
                "retention cleanup failed for {} of {} tenants; first: tenant {tenant}: {first}",
                failures.len(),
                report.tenants
            )));
        }
        Ok(report)
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
