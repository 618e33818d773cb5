//! Deployment queries needed by the worker.

use std::time::Duration;

use diesel::sql_types::Integer;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::Error;
use crate::{Db, ScopedFutureExt};

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// The stale-deployment cleanup (docs/promotion.md#stale-deployments), across every tenant: marks
/// failed each running deployment whose `started_at` (or `created_at` when it never recorded a
/// start) is at least
/// `max_age` old, and returns their ids. Goes through the `wfops_fail_stale_deployments`
/// definer function because it runs at worker start, outside any tenant.
pub async fn fail_stale(db: &Db, max_age: Duration) -> Result<Vec<Uuid>, Error> {
    let seconds = i32::try_from(max_age.as_secs()).unwrap_or(i32::MAX).max(1);
    db.system_tx(move |conn| {
        async move {
            let rows: Vec<IdRow> =
                diesel::sql_query("select id from wfops_fail_stale_deployments($1) as id")
                    .bind::<Integer, _>(seconds)
                    .load(conn)
                    .await?;
            Ok(rows.into_iter().map(|r| r.id).collect())
        }
        .scope_boxed()
    })
    .await
}
