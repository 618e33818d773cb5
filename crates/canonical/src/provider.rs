//! The automation platforms a workflow can run on.

use std::fmt;
use std::str::FromStr;

/// The platform of an environment (and of the workflows it holds), as stored in the
/// `provider` columns. Only `n8n` can be synced today; `make` is part of the data model so that
/// a second provider is a new adapter, not a new column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    N8n,
    Make,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::N8n, Provider::Make];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::N8n => "n8n",
            Provider::Make => "make",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
        }
        for bad in ["", "N8N", "n8n ", "zapier"] {
            assert!(bad.parse::<Provider>().is_err(), "{bad:?}");
        }
    }
}
