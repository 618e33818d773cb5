//! Canonical workflow ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::CanonicalError;

/// The stable identity of a logical workflow across environments
/// (docs/sync-and-identity.md#canonical-identity). n8n ids are per environment and content hashes
/// change with every edit; this never changes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CanonicalId(Uuid);

impl CanonicalId {
    /// A fresh random (v4) id, for a workflow seen for the first time.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for CanonicalId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<CanonicalId> for Uuid {
    fn from(id: CanonicalId) -> Self {
        id.0
    }
}

impl fmt::Display for CanonicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for CanonicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CanonicalId({})", self.0.hyphenated())
    }
}

impl FromStr for CanonicalId {
    type Err = CanonicalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| CanonicalError::InvalidCanonicalId {
                value: s.chars().take(60).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_bad_input_is_named() {
        let id = CanonicalId::new_random();
        assert_eq!(id.to_string().parse::<CanonicalId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        assert_ne!(CanonicalId::new_random(), id);
        let e = "not-a-uuid".parse::<CanonicalId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid canonical id \"not-a-uuid\": expected a UUID"
        );
    }
}
