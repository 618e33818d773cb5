use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::status::ParseError;
use crate::Severity;

/// How far past its time an open incident is, beside its status (docs/drift.md#ttl-and-escalation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationLevel {
    None,
    /// A quarter of the TTL has passed.
    Escalated,
    /// Three quarters of the TTL have passed (and it stays so past the TTL itself).
    CriticalOverdue,
}

impl EscalationLevel {
    pub const ALL: [EscalationLevel; 3] = [Self::None, Self::Escalated, Self::CriticalOverdue];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Escalated => "escalated",
            Self::CriticalOverdue => "critical_overdue",
        }
    }

    /// The level an incident has reached `elapsed_secs` into a TTL of `ttl_secs`: escalated at
    /// 25%, critical overdue at 75%. Integer arithmetic, so the boundaries are exact. A TTL of
    /// zero or less is already overdue.
    pub fn reached(elapsed_secs: i64, ttl_secs: i64) -> Self {
        if ttl_secs <= 0 {
            return Self::CriticalOverdue;
        }
        let elapsed = i128::from(elapsed_secs.max(0)) * 4;
        let ttl = i128::from(ttl_secs);
        if elapsed >= ttl * 3 {
            Self::CriticalOverdue
        } else if elapsed >= ttl {
            Self::Escalated
        } else {
            Self::None
        }
    }

    /// The level to store: escalation only ever rises (a TTL extension does not take back a
    /// notification already sent).
    pub fn next(self, reached: EscalationLevel) -> Option<EscalationLevel> {
        (reached > self).then_some(reached)
    }
}

impl fmt::Display for EscalationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EscalationLevel {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ParseError(s.to_owned()))
    }
}

/// Hours an incident of each severity may stay open, from a policy's `severity_ttls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityTtls {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
}

impl Default for SeverityTtls {
    /// The defaults of a tenant without a policy: a day for critical, a week for low.
    fn default() -> Self {
        Self {
            critical: 24,
            high: 48,
            medium: 72,
            low: 168,
        }
    }
}

impl SeverityTtls {
    /// Longest TTL a policy may set: a year.
    pub const MAX_HOURS: u32 = 8760;

    pub fn hours(&self, severity: Severity) -> u32 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }

    /// Every TTL between 1 hour and [`Self::MAX_HOURS`]; the error names the severity.
    pub fn validate(&self) -> Result<(), String> {
        for (name, h) in [
            ("critical", self.critical),
            ("high", self.high),
            ("medium", self.medium),
            ("low", self.low),
        ] {
            if h == 0 || h > Self::MAX_HOURS {
                return Err(format!(
                    "{name}: must be between 1 and {} hours, got {h}",
                    Self::MAX_HOURS
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::EscalationLevel as L;
    use super::*;

    #[test]
    fn escalation_boundaries() {
        let ttl = 100 * 3600;
        for (elapsed, want) in [
            (-5, L::None),
            (0, L::None),
            (25 * 3600 - 1, L::None),
            (25 * 3600, L::Escalated),
            (75 * 3600 - 1, L::Escalated),
            (75 * 3600, L::CriticalOverdue),
            (100 * 3600, L::CriticalOverdue),
            (500 * 3600, L::CriticalOverdue),
        ] {
            assert_eq!(L::reached(elapsed, ttl), want, "{elapsed}s of {ttl}s");
        }
        assert_eq!(L::reached(0, 0), L::CriticalOverdue);
        // odd TTLs: 25% of 7 s is 1.75 s
        assert_eq!(L::reached(1, 7), L::None);
        assert_eq!(L::reached(2, 7), L::Escalated);
        assert_eq!(L::reached(5, 7), L::Escalated);
        assert_eq!(L::reached(6, 7), L::CriticalOverdue);
    }

    #[test]
    fn escalation_only_rises() {
        assert_eq!(L::None.next(L::Escalated), Some(L::Escalated));
        assert_eq!(
            L::Escalated.next(L::CriticalOverdue),
            Some(L::CriticalOverdue)
        );
        assert_eq!(L::None.next(L::CriticalOverdue), Some(L::CriticalOverdue));
        assert_eq!(L::Escalated.next(L::Escalated), None);
        assert_eq!(L::CriticalOverdue.next(L::None), None);
        assert_eq!(L::CriticalOverdue.next(L::Escalated), None);
        for l in L::ALL {
            assert_eq!(l.as_str().parse::<L>(), Ok(l));
        }
    }

    #[test]
    fn ttls_by_severity_and_their_limits() {
        let t = SeverityTtls::default();
        assert_eq!(t.hours(Severity::Critical), 24);
        assert_eq!(t.hours(Severity::High), 48);
        assert_eq!(t.hours(Severity::Medium), 72);
        assert_eq!(t.hours(Severity::Low), 168);
        assert!(t.validate().is_ok());
        let bad = SeverityTtls { high: 0, ..t };
        assert!(bad.validate().unwrap_err().starts_with("high:"));
        let bad = SeverityTtls { low: 8761, ..t };
        assert!(bad.validate().unwrap_err().starts_with("low:"));
    }
}
