//! The fan-out of every scheduler that works on tenant data: list the tenants (through the
//! `wfops_tenant_ids` definer function), run one tick per tenant inside that tenant's
//! transaction, record each tenant's outcome where only that tenant can read it, and sum up.
//!
//! A scheduler implements [`TenantTick`] (the work for one tenant) and calls
//! [`for_each_tenant`] from its `Scheduler::tick`:
//!
//! ```ignore
//! async fn tick(&self, ctx: &SchedulerContext) -> Result<(), Error> {
//!     for_each_tenant(ctx, Self::NAME, self).await?.into_result(Self::NAME).map(drop)
//! }
//! ```

use std::fmt::Debug;
use std::ops::AddAssign;

use chrono::Utc;
use uuid::Uuid;
use wfops_db::{scheduler as state, Conn, ScopedFutureExt};

use crate::{Error, SchedulerContext};

/// How many tenants' errors the installation-wide summary quotes.
pub const QUOTED_FAILURES: usize = 3;

/// One scheduler's work for one tenant.
#[async_trait::async_trait]
pub trait TenantTick: Send + Sync {
    /// What one tenant's pass did; the passes are summed with `+=`.
    type Report: Default + AddAssign + Debug + Send;

    /// Runs inside `tenant_id`'s transaction (row-level security bound to it). An error rolls
    /// the tenant's work back and does not stop the other tenants. The tenant sees
    /// [`Error::tenant_message`] of it, never the database's own text.
    async fn tick_tenant(&self, conn: &mut Conn, tenant_id: Uuid) -> Result<Self::Report, Error>;
}

/// What one pass over every tenant did.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSweep<R> {
    pub tenants: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// The first [`QUOTED_FAILURES`] failures, with their full (operator-facing) text.
    pub first_errors: Vec<(Uuid, String)>,
    /// The succeeded tenants' reports, summed.
    pub report: R,
}

impl<R> TenantSweep<R> {
    /// The summed report when every tenant succeeded; otherwise the installation-wide error
    /// (it becomes `scheduler_state.last_error`, shown to platform admins only): how many
    /// tenants failed and the first errors.
    pub fn into_result(self, scheduler: &str) -> Result<R, Error> {
        if self.failed == 0 {
            return Ok(self.report);
        }
        let quoted: Vec<String> = self
            .first_errors
            .iter()
            .map(|(tenant, e)| format!("tenant {tenant}: {e}"))
            .collect();
        Err(Error::Tick(format!(
            "{scheduler} failed for {} of {} tenants ({} ok); first: {}",
            self.failed,
            self.tenants,
            self.succeeded,
            quoted.join("; ")
        )))
    }
}

/// Runs `tick` once per tenant, each in its own tenant transaction, and records each tenant's
/// outcome in `scheduler_tenant_runs` under scheduler `name`: a success in the same transaction
/// as the work (both commit or neither), a failure in a transaction of its own after the
/// work's rollback. Fails only when the tenants can not be listed.
pub async fn for_each_tenant<T>(
    ctx: &SchedulerContext,
    name: &str,
    tick: &T,
) -> Result<TenantSweep<T::Report>, Error>
where
    T: TenantTick + ?Sized,
{
    let tenants = ctx
        .db
        .system_tx(|conn| async move { state::tenant_ids(conn).await }.scope_boxed())
        .await?;
    let mut sweep = TenantSweep {
        tenants: tenants.len(),
        succeeded: 0,
        failed: 0,
        first_errors: Vec::new(),
        report: T::Report::default(),
    };
    for tenant in tenants {
        let started = Utc::now();
        let outcome = ctx
            .db
            .tenant_tx(tenant, |conn| {
                async move {
                    let report = tick.tick_tenant(conn, tenant).await?;
                    state::record_tenant_run(conn, tenant, name, started, None).await?;
                    Ok::<_, Error>(report)
                }
                .scope_boxed()
            })
            .await;
        match outcome {
            Ok(report) => {
                sweep.succeeded += 1;
                sweep.report += report;
            }
            Err(e) => {
                sweep.failed += 1;
                tracing::warn!(scheduler = name, tenant_id = %tenant, error = %e,
                    "scheduler pass failed for a tenant");
                let public = e.tenant_message();
                let recorded = ctx
                    .db
                    .tenant_tx(tenant, |conn| {
                        async move {
                            state::record_tenant_run(conn, tenant, name, started, Some(&public))
                                .await
                        }
                        .scope_boxed()
                    })
                    .await;
                if let Err(r) = recorded {
                    tracing::warn!(scheduler = name, tenant_id = %tenant, error = %r,
                        "recording a tenant's scheduler failure failed");
                }
                if sweep.first_errors.len() < QUOTED_FAILURES {
                    sweep.first_errors.push((tenant, e.to_string()));
                }
            }
        }
    }
    tracing::info!(scheduler = name, tenants = sweep.tenants, succeeded = sweep.succeeded,
        failed = sweep.failed, report = ?sweep.report, "scheduler pass over tenants finished");
    Ok(sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_tenants_and_quotes_the_first_errors() {
        let ok = TenantSweep {
            tenants: 2,
            succeeded: 2,
            failed: 0,
            first_errors: vec![],
            report: 7usize,
        };
        assert_eq!(ok.into_result("retention_cleanup").unwrap(), 7);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let failed = TenantSweep {
            tenants: 5,
            succeeded: 3,
            failed: 2,
            first_errors: vec![(a, "boom".into()), (b, "bang".into())],
            report: 0usize,
        };
        let err = failed
            .into_result("canonical_sync")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "canonical_sync failed for 2 of 5 tenants (3 ok); first: tenant {a}: boom; tenant {b}: bang"
            )
        );
    }
}
