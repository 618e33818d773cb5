//! HTTP handlers, one module per resource. Each handler authenticates through the `Auth`
//! extractor, checks its minimum role first, and does its database work in one tenant-bound
//! transaction (audit row included).

pub mod api_keys;
pub mod auth;
pub mod canonical;
pub mod common;
pub mod credential_mappings;
pub mod deployments;
pub mod environments;
pub mod git_webhook;
pub mod health;
pub mod incidents;
pub mod jobs;
pub mod matrix;
pub mod notifications;
pub mod onboarding;
pub mod pipelines;
pub mod preflight;
pub mod promotions;
pub mod query;
pub mod schedulers;
pub mod snapshots;
pub mod sse;
pub mod variables;
pub mod workflows;

pub use common::{record, RoleName};
