use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A tenant member's role. The derive order is the privilege order: `Viewer < Developer < Admin`,
/// so a route's minimum role is checked with a plain comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Developer, Role::Admin];

    /// The spelling stored in the database and carried in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    pub fn at_least(self, min: Role) -> bool {
        self >= min
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "developer" => Ok(Role::Developer),
            "admin" => Ok(Role::Admin),
            other => Err(Error::UnknownRole(other.chars().take(40).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_privilege_order() {
        assert!(Role::Viewer < Role::Developer);
        assert!(Role::Developer < Role::Admin);
        assert!(Role::Admin.at_least(Role::Viewer));
        assert!(!Role::Viewer.at_least(Role::Developer));
    }

    #[test]
    fn round_trips_through_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(role.to_string(), role.as_str());
        }
        let err = "owner".parse::<Role>().unwrap_err();
        assert_eq!(err, Error::UnknownRole("owner".into()));
        assert!("Admin".parse::<Role>().is_err(), "roles are case-sensitive");
    }
}
