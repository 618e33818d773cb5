//! Response envelopes and the pagination query shared by every list.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// `{"data": …, "message"?: …, "timestamp": …}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub timestamp: DateTime<Utc>,
}

impl<T> Envelope<T> {
    pub fn new(data: T) -> Self {
        Self {
            data,
            message: None,
            timestamp: Utc::now(),
        }
    }

    pub fn with_message(data: T, message: impl Into<String>) -> Self {
        Self {
            data,
            message: Some(message.into()),
            timestamp: Utc::now(),
        }
    }
}

/// `{"data": [...], "pagination": {...}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Pagination {
    pub page: u32,
    pub page_size: u32,
    pub total: i64,
    pub total_pages: i64,
}

impl<T> Paginated<T> {
    pub fn new(data: Vec<T>, page: PageRequest, total: i64) -> Self {
        let size = i64::from(page.page_size);
        Self {
            data,
            pagination: Pagination {
                page: page.page,
                page_size: page.page_size,
                total,
                total_pages: (total + size - 1) / size,
            },
        }
    }
}

/// The error envelope: `{"error": {"code", "type", "message", "details"}, "timestamp"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    /// Error class, e.g. `ValidationError`.
    pub r#type: String,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ErrorBody {
    pub fn new(code: &str, r#type: &str, message: String, details: Option<Value>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                r#type: r#type.into(),
                message,
                details,
            },
            timestamp: Utc::now(),
        }
    }
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;
const MAX_PAGE: u32 = 1_000_000;

/// `?page=` (from 1) and `?page_size=` (1..=200, default 50). Values arrive as text so that a
/// bad one gets a message naming the parameter instead of serde's "invalid digit".
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    #[param(value_type = Option<u32>, minimum = 1)]
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

    #[test]
    fn total_pages() {
        let p = PageRequest {
            page: 1,
            page_size: 50,
        };
        for (total, pages) in [(0, 0), (1, 1), (50, 1), (51, 2), (235, 5)] {
            let env = Paginated::<u8>::new(vec![], p, total);
            assert_eq!(env.pagination.total_pages, pages, "{total}");
        }
    }
}
