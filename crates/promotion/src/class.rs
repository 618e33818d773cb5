//! Environment classes and their promotion order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The class of an environment (`environments.environment_class`). The derived order is the
/// promotion order, `Dev < Staging < Production`: work moves from a class to a later one, and
/// every view that lists environments side by side shows them in this order. It is defined
/// here only; the database's views order by [`EnvironmentClass::sql_rank`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentClass {
    #[default]
    Dev,
    Staging,
    Production,
}

impl EnvironmentClass {
    /// Every class, in promotion order.
    pub const ALL: [EnvironmentClass; 3] = [
        EnvironmentClass::Dev,
        EnvironmentClass::Staging,
        EnvironmentClass::Production,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EnvironmentClass::Dev => "dev",
            EnvironmentClass::Staging => "staging",
            EnvironmentClass::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::UnknownEnvironmentClass(s.chars().take(60).collect()))
    }

    /// The position in promotion order, from 0.
    pub fn rank(self) -> usize {
        Self::ALL
            .iter()
            .position(|c| *c == self)
            .unwrap_or(Self::ALL.len())
    }

    /// A SQL expression giving the promotion rank (from 0) of the class stored in `column`, so
    /// that SQL orders environments exactly as [`Ord`] does (an unknown value, which the
    /// database's CHECK constraint forbids, would sort last).
    pub fn sql_rank(column: &str) -> String {
        let mut sql = format!("case {column}");
        for class in Self::ALL {
            sql.push_str(&format!(" when '{}' then {}", class.as_str(), class.rank()));
        }
        sql.push_str(&format!(" else {} end", Self::ALL.len()));
        sql
    }
}

impl fmt::Display for EnvironmentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EnvironmentClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_order_is_dev_staging_production() {
        use EnvironmentClass::*;
        assert!(Dev < Staging && Staging < Production);
        let mut shuffled = vec![Production, Dev, Staging];
        shuffled.sort();
        assert_eq!(shuffled, EnvironmentClass::ALL);
        for (i, c) in EnvironmentClass::ALL.into_iter().enumerate() {
            assert_eq!(c.rank(), i);
            assert_eq!(EnvironmentClass::parse(c.as_str()), Ok(c));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::json!(c.as_str())
            );
        }
        assert!(EnvironmentClass::parse("qa").is_err());
        assert!(EnvironmentClass::parse("Dev").is_err());
    }

    #[test]
    fn the_sql_rank_lists_every_class_in_order() {
        assert_eq!(
            EnvironmentClass::sql_rank("e.environment_class"),
            "case e.environment_class when 'dev' then 0 when 'staging' then 1 \
             when 'production' then 2 else 3 end"
        );
    }
}
