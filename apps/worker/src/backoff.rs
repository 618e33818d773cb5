//! Retry delays for failed jobs.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with a cap and jitter.
///
/// Without jitter, every job that failed because the same n8n instance was down would retry in
/// the same second and knock it over again; without a cap, the fifth retry of a job would wait
/// for hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// No delay exceeds this (before jitter).
    pub max: Duration,
    /// Fraction of the delay that is randomised: 0.2 gives a delay in `[0.8 d, 1.2 d]`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(15 * 60),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before the next run of a job whose `attempt`-th run (1-based) just failed,
    /// before jitter: `base * 2^(attempt-1)`, capped at `max`.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let factor = 1u32 << exp;
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The nominal delay with jitter applied, drawn from `rng`.
    pub fn delay_with(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let nominal = self.nominal(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 || nominal.is_zero() {
            return nominal;
        }
        let factor = rng.gen_range((1.0 - jitter)..=(1.0 + jitter));
        nominal.mul_f64(factor)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, &mut rand::thread_rng())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn nominal_doubles_then_caps() {
        let b = Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
            jitter: 0.0,
        };
        let got: Vec<u64> = (1..=8).map(|a| b.nominal(a).as_secs()).collect();
        assert_eq!(got, vec![2, 4, 8, 16, 32, 60, 60, 60]);
        // attempt 0 is treated like the first
        assert_eq!(b.nominal(0), Duration::from_secs(2));
        // huge attempt numbers neither overflow nor exceed the cap
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let b = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(1000),
            jitter: 0.25,
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = b.delay_with(3, &mut rng);
            assert!(d >= Duration::from_secs(30), "{d:?}");
            assert!(d <= Duration::from_secs(50), "{d:?}");
            seen.insert(d.as_millis());
        }
        assert!(
            seen.len() > 50,
            "jitter should spread delays, got {}",
            seen.len()
        );
    }

    #[test]
    fn zero_jitter_is_deterministic() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        assert_eq!(b.delay(1), Duration::from_secs(5));
        assert_eq!(b.delay(2), Duration::from_secs(10));
    }
}
