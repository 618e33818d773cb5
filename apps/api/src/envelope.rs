//! Response envelopes: one item, a page of items, an error.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::routes::query::PageRequest;

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

#[cfg(test)]
mod tests {
    use super::*;

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
