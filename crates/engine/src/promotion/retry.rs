//! Bounded retries of n8n calls made while restoring: three attempts, waits doubling from
//! `N8nOptions::restore_backoff`, for transient failures only (rate limits, 5xx, timeouts,
//! dropped connections). The client retries idempotent calls on its own as well; this is the
//! outer loop that a restore can afford because it must not give up easily.

use std::future::Future;

use wfops_n8n::ProviderError;

use crate::context::EngineCtx;

/// Attempts a restore step gets in all.
pub(crate) const ATTEMPTS: u32 = 3;

/// A failure that another attempt can cure.
pub(crate) fn is_transient(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::Connection { .. }
    )
}

/// Runs `op` until it succeeds, fails permanently, or has failed [`ATTEMPTS`] times.
pub(crate) async fn transient_retry<T, F, Fut>(
    ctx: &EngineCtx,
    mut op: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut wait = ctx.n8n.restore_backoff;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && attempt < ATTEMPTS => {
                tracing::warn!(attempt, error = %e, "n8n call failed transiently; retrying");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
