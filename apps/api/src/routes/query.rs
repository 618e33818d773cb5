//! Parsing of the query strings shared by the list routes: pagination and filters.
//!
//! Filters arrive as text so that a bad value answers 400 with a message naming the parameter
//! and the accepted values, instead of serde's generic "unknown variant".

use std::str::FromStr;

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_canonical::MappingStatus;
use wfops_diff::DiffStatus;

use crate::error::ApiError;

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;
pub const MAX_PAGE: u32 = 1_000_000;

/// `?page=` (from 1) and `?page_size=` (1..=200, default 50). Values arrive as text so that a
/// bad one gets a message naming the parameter instead of serde's "invalid digit".
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1 to 1,000,000.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    /// Items per page, 1..=200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub page_size: u32,
}

impl PageRequest {
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.page_size)
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.page_size)
    }
}

impl PageQuery {
    pub fn parse(&self) -> Result<PageRequest, ApiError> {
        let page = parse_bounded("page", self.page.as_deref(), 1, 1, MAX_PAGE)?;
        let page_size = parse_bounded(
            "page_size",
            self.page_size.as_deref(),
            DEFAULT_PAGE_SIZE,
            1,
            MAX_PAGE_SIZE,
        )?;
        Ok(PageRequest { page, page_size })
    }
}

fn parse_bounded(
    name: &str,
    raw: Option<&str>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let shown: String = raw.chars().take(32).collect();
    match raw.trim().parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(ApiError::InvalidQueryParameter(format!(
            "`{name}` must be a whole number from {min} to {max}, got `{shown}`"
        ))),
    }
}

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

/// A UUID parameter (hyphenated, as the document's `format: uuid` says); absent means "no
/// filter". An empty value is refused rather than read as "no filter", so that a client bug
/// that drops the id does not silently widen the answer.
pub fn uuid_param(name: &str, raw: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    let Some(v) = raw else {
        return Ok(None);
    };
    let parsed = (v.len() == 36).then(|| Uuid::parse_str(v).ok()).flatten();
    parsed.map(Some).ok_or_else(|| {
        ApiError::InvalidQueryParameter(format!(
            "`{name}` must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), got `{}`",
            shown(v)
        ))
    })
}

/// A required UUID parameter.
pub fn required_uuid(name: &str, raw: Option<&str>) -> Result<Uuid, ApiError> {
    uuid_param(name, raw)?
        .ok_or_else(|| ApiError::InvalidQueryParameter(format!("`{name}` is required (a UUID)")))
}

/// A case-insensitive substring filter of at most 200 characters without control characters;
/// empty or blank means none.
pub fn search(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = raw else {
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
    let v = v.trim();
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// A mapping status (`linked`, `untracked`, `missing`, `ignored`, `deleted`).
pub fn mapping_status(raw: Option<&str>) -> Result<Option<MappingStatus>, ApiError> {
    match raw {
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
    match raw {
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

/// The values of a mapping-status filter, for the document.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum MappingStatusParam {
    Linked,
    Untracked,
    Missing,
    Ignored,
    Deleted,
}

/// The values of a diff-status filter, for the document.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum DiffStatusParam {
    Unchanged,
    Modified,
    Added,
    TargetOnly,
    Conflict,
    TargetHotfix,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: Option<&str>, size: Option<&str>) -> Result<PageRequest, ApiError> {
        PageQuery {
            page: page.map(Into::into),
            page_size: size.map(Into::into),
        }
        .parse()
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            q(None, None).unwrap(),
            PageRequest {
                page: 1,
                page_size: 50
            }
        );
        assert_eq!(q(Some("3"), Some("200")).unwrap().offset(), 400);
        for (page, size, name) in [
            (Some("0"), None, "`page`"),
            (Some("-1"), None, "`page`"),
            (Some("abc"), None, "`page`"),
            (None, Some("0"), "`page_size`"),
            (None, Some("201"), "`page_size`"),
            (None, Some("1.5"), "`page_size`"),
        ] {
            let err = q(page, size).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

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
        assert_eq!(uuid_param("environment_id", None).unwrap(), None);
        for bad in ["", " ", &id.simple().to_string(), &format!(" {id}")] {
            assert!(uuid_param("environment_id", Some(bad)).is_err(), "{bad:?}");
        }
        let m = msg(uuid_param("environment_id", Some("nope")).unwrap_err());
        assert!(m.contains("`environment_id`") && m.contains("nope"), "{m}");
        let m = msg(required_uuid("environment_id", None).unwrap_err());
        assert!(m.contains("required"), "{m}");
    }

    #[test]
    fn searches() {
        assert_eq!(search(Some("  Slack ")).unwrap().as_deref(), Some("Slack"));
        assert_eq!(search(Some("   ")).unwrap(), None);
        assert_eq!(search(Some("")).unwrap(), None);
        assert!(msg(search(Some(&"x".repeat(201))).unwrap_err()).contains("200"));
        assert!(msg(search(Some("a\u{0}b")).unwrap_err()).contains("control"));
    }

    #[test]
    fn statuses() {
        assert_eq!(
            mapping_status(Some("linked")).unwrap(),
            Some(MappingStatus::Linked)
        );
        assert!(mapping_status(Some("")).is_err());
        assert!(mapping_status(Some(" linked")).is_err());
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
