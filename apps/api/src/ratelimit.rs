//! A fixed-window request counter per key (tenant or client IP).
//!
//! In-process on purpose: one API process per host is the deployment model of the first
//! release, and a shared store would make every request depend on one more service. Counters
//! reset every minute; memory is bounded by pruning stale windows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// `limit` requests per minute; 0 disables limiting.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` says how long to wait before the window resets.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let remaining = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(remaining.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_resets_each_window() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        assert!(limiter.check_at("a", t0).is_ok());
        assert!(limiter.check_at("a", t0).is_ok());
        let wait = limiter
            .check_at("a", t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, 50);
        assert!(limiter.check_at("b", t0).is_ok(), "keys are independent");
        assert!(limiter.check_at("a", t0 + WINDOW).is_ok(), "new window");
    }

    #[test]
    fn zero_disables() {
        let limiter = RateLimiter::new(0);
        for _ in 0..1000 {
            assert!(limiter.check("x").is_ok());
        }
    }

    #[test]
    fn stale_windows_are_pruned() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE {
            let _ = limiter.check_at(&i.to_string(), t0);
        }
        let _ = limiter.check_at("late", t0 + WINDOW);
        assert_eq!(limiter.windows.lock().unwrap().len(), 1);
    }
}
