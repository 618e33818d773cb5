//! Parsing of query-string filters shared by the workflow, matrix and job routes.
//!
//! Filters arrive as text so that a bad value answers 400 with a message naming the parameter
//! and the accepted values, instead of serde's generic "unknown variant".

use std::str::FromStr;

use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_diff::DiffStatus;

use crate::envelope::{PageQuery, PageRequest};
use crate::error::ApiError;

/// Longest accepted `search` (characters).
pub const MAX_SEARCH_CHARS: usize = 200;

fn shown(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// `?page=` / `?page_size=` of a query struct that also has filters.
pub fn page(page: &Option<String>, page_size: &Option<String>) -> Result<PageRequest, ApiError> {
    PageQuery {
        page: page.clone(),
        page_size: page_size.clone(),
    }
    .parse()
}

/// A UUID parameter; absent or empty means "no filter".
pub fn uuid_param(name: &str, raw: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => Uuid::parse_str(v).map(Some).map_err(|_| {
            ApiError::InvalidQueryParameter(format!("`{name}` must be a UUID, got `{}`", shown(v)))
        }),
    }
}

/// A required UUID parameter.
pub fn required_uuid(name: &str, raw: Option<&str>) -> Result<Uuid, ApiError> {
    uuid_param(name, raw)?
        .ok_or_else(|| ApiError::InvalidQueryParameter(format!("`{name}` is required (a UUID)")))
}

/// A case-insensitive substring filter: trimmed, empty means none, at most 200 characters.
pub fn search(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::InvalidQueryParameter(format!(
            "`search` must be at most {MAX_SEARCH_CHARS} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::InvalidQueryParameter(
            "`search` must not contain control characters".into(),
        ));
    }
    Ok(Some(v.to_string()))
}

/// A mapping status (`linked`, `untracked`, `missing`, `ignored`, `deleted`).
pub fn mapping_status(raw: Option<&str>) -> Result<Option<MappingStatus>, ApiError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => MappingStatus::from_str(v).map(Some).map_err(|_| {
            let allowed: Vec<&str> = MappingStatus::BY_PRECEDENCE
                .iter()
                .rev()
                .map(|s| s.as_str())
                .collect();
            ApiError::InvalidQueryParameter(format!(
                "`status` must be one of {}, got `{}`",
                allowed.join(", "),
                shown(v)
            ))
        }),
    }
}

/// A diff status (`unchanged`, `modified`, `added`, `target_only`, `conflict`,
/// `target_hotfix`).
pub fn diff_status(raw: Option<&str>) -> Result<Option<DiffStatus>, ApiError> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => DiffStatus::from_str(v).map(Some).map_err(|_| {
            let allowed: Vec<&str> = DiffStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::InvalidQueryParameter(format!(
                "`diff_status` must be one of {}, got `{}`",
                allowed.join(", "),
                shown(v)
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(e: ApiError) -> String {
        assert!(matches!(e, ApiError::InvalidQueryParameter(_)), "{e:?}");
        e.to_string()
    }

    #[test]
    fn uuids() {
        let id = Uuid::new_v4();
        assert_eq!(
            uuid_param("environment_id", Some(&id.to_string())).unwrap(),
            Some(id)
        );
        assert_eq!(uuid_param("environment_id", Some(" ")).unwrap(), None);
        assert_eq!(uuid_param("environment_id", None).unwrap(), None);
        let m = msg(uuid_param("environment_id", Some("nope")).unwrap_err());
        assert!(m.contains("`environment_id`") && m.contains("nope"), "{m}");
        let m = msg(required_uuid("environment_id", None).unwrap_err());
        assert!(m.contains("required"), "{m}");
    }

    #[test]
    fn searches() {
        assert_eq!(search(Some("  Slack ")).unwrap().as_deref(), Some("Slack"));
        assert_eq!(search(Some("   ")).unwrap(), None);
        assert!(msg(search(Some(&"x".repeat(201))).unwrap_err()).contains("200"));
        assert!(msg(search(Some("a\u{0}b")).unwrap_err()).contains("control"));
    }

    #[test]
    fn statuses() {
        assert_eq!(
            mapping_status(Some("linked")).unwrap(),
            Some(MappingStatus::Linked)
        );
        let m = msg(mapping_status(Some("LINKED!")).unwrap_err());
        assert!(
            m.contains("linked, untracked") && m.contains("LINKED!"),
            "{m}"
        );
        assert_eq!(
            diff_status(Some("target_hotfix")).unwrap(),
            Some(DiffStatus::TargetHotfix)
        );
        let m = msg(diff_status(Some("drifted")).unwrap_err());
        assert!(m.contains("`diff_status`") && m.contains("conflict"), "{m}");
    }
}
