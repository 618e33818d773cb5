//! Text columns read straight into the domain's enums.
//!
//! Status and class columns are `text` with a CHECK constraint. A row struct declares the
//! domain type (`MappingStatus`, `DiffStatus`, `EnvironmentClass`) and reads it with
//! `#[diesel(deserialize_as = Parsed<…>)]` (or `ParsedOption<…>` for a nullable column), so a
//! value that the domain does not know fails the query that read it, with the value in the
//! message ([`crate::Error::Unreadable`]), instead of reaching code that would have to guess.
//! Writes pass the enum's `as_str()`, so the text written always comes from the enum.

use std::fmt::Display;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::{Nullable, Text};
use wfops_canonical::{MappingStatus, Provider};
use wfops_diff::DiffStatus;
use wfops_drift::{EnvironmentDriftStatus, EscalationLevel, IncidentStatus, Severity};
use wfops_notify::{ChannelKind, DeliveryStatus, EventType};
use wfops_promotion::{
    DeploymentStatus, EnvironmentClass, PromotionStatus, RollbackOutcome, SnapshotKind,
    WorkflowAction,
};

/// A domain enum stored as its text name.
pub trait StoredAsText: FromStr<Err: Display> {
    /// What the column holds, for the error message ("a mapping status").
    const WHAT: &'static str;
}

impl StoredAsText for MappingStatus {
    const WHAT: &'static str = "a mapping status";
}

impl StoredAsText for DiffStatus {
    const WHAT: &'static str = "a diff status";
}

impl StoredAsText for EnvironmentClass {
    const WHAT: &'static str = "an environment class";
}

impl StoredAsText for Provider {
    const WHAT: &'static str = "a provider";
}

impl StoredAsText for PromotionStatus {
    const WHAT: &'static str = "a promotion status";
}

impl StoredAsText for DeploymentStatus {
    const WHAT: &'static str = "a deployment status";
}

impl StoredAsText for SnapshotKind {
    const WHAT: &'static str = "a snapshot kind";
}

impl StoredAsText for WorkflowAction {
    const WHAT: &'static str = "a deployed workflow's action";
}

impl StoredAsText for RollbackOutcome {
    const WHAT: &'static str = "a rollback outcome";
}

impl StoredAsText for ChannelKind {
    const WHAT: &'static str = "a notification channel kind";
}

impl StoredAsText for EventType {
    const WHAT: &'static str = "a notification event type";
}

impl StoredAsText for DeliveryStatus {
    const WHAT: &'static str = "a notification delivery status";
}

impl StoredAsText for EnvironmentDriftStatus {
    const WHAT: &'static str = "an environment drift status";
}

impl StoredAsText for IncidentStatus {
    const WHAT: &'static str = "an incident status";
}

impl StoredAsText for Severity {
    const WHAT: &'static str = "an incident severity";
}

impl StoredAsText for EscalationLevel {
    const WHAT: &'static str = "an escalation level";
}

/// A `text` column parsed into `T`.
#[derive(Debug, FromSqlRow)]
pub struct Parsed<T>(pub T);

/// A nullable `text` column parsed into `Option<T>`.
#[derive(Debug, FromSqlRow)]
pub struct ParsedOption<T>(pub Option<T>);

fn parse<T: StoredAsText>(bytes: PgValue<'_>) -> deserialize::Result<T> {
    let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
    text.parse().map_err(|e: T::Err| {
        let shown: String = text.chars().take(60).collect();
        format!(
            "the database holds {shown:?} as {}, which is not a known value ({e})",
            T::WHAT
        )
        .into()
    })
}

impl<T: StoredAsText> FromSql<Text, Pg> for Parsed<T> {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        parse(bytes).map(Parsed)
    }
}

impl<T: StoredAsText> FromSql<Nullable<Text>, Pg> for ParsedOption<T> {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        parse(bytes).map(|v| ParsedOption(Some(v)))
    }

    fn from_nullable_sql(bytes: Option<PgValue<'_>>) -> deserialize::Result<Self> {
        match bytes {
            Some(bytes) => Self::from_sql(bytes),
            None => Ok(ParsedOption(None)),
        }
    }
}

macro_rules! unwrap_into {
    ($($ty:ty),*) => {$(
        impl From<Parsed<$ty>> for $ty {
            fn from(v: Parsed<$ty>) -> Self {
                v.0
            }
        }

        impl From<ParsedOption<$ty>> for Option<$ty> {
            fn from(v: ParsedOption<$ty>) -> Self {
                v.0
            }
        }
    )*};
}

unwrap_into!(
    ChannelKind,
    EventType,
    DeliveryStatus,
    MappingStatus,
    DiffStatus,
    EnvironmentClass,
    EnvironmentDriftStatus,
    Provider,
    PromotionStatus,
    DeploymentStatus,
    SnapshotKind,
    WorkflowAction,
    RollbackOutcome,
    IncidentStatus,
    Severity,
    EscalationLevel
);

/// Parses a status that a query read as plain text (an aggregate's group key, say), with the
/// same error as a column read through [`Parsed`].
pub fn parse_text<T: StoredAsText>(text: &str) -> Result<T, crate::Error> {
    text.parse().map_err(|e: T::Err| {
        let shown: String = text.chars().take(60).collect();
        crate::Error::Unreadable(format!(
            "the database holds {shown:?} as {}, which is not a known value ({e})",
            T::WHAT
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_parse_and_unknown_ones_are_errors() {
        assert_eq!(
            parse_text::<MappingStatus>("ignored").unwrap(),
            MappingStatus::Ignored
        );
        let err = parse_text::<DiffStatus>("drifted").unwrap_err();
        assert!(
            err.to_string().contains("\"drifted\" as a diff status"),
            "{err}"
        );
        assert!(parse_text::<EnvironmentClass>("qa").is_err());
    }
}
