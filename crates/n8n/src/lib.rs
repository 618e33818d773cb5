#![doc = include_str!("../README.md")]

mod client;
mod config;
mod error;
mod model;
mod provider;
pub mod write_rules;

pub use client::N8nClient;
pub use config::{N8nConfig, RetryPolicy, MAX_PAGE_SIZE};
pub use error::ProviderError;
pub use model::{
    ExecutionStatus, Health, ListExecutions, ListWorkflows, Page, RemoteExecution, RemoteWorkflow,
};
pub use provider::{list_all_executions, list_all_workflows, workflow_pages, WorkflowProvider};
pub use wfops_config::Secret;
pub use write_rules::{
    apply_defaults, sanitize_for_write, sanitize_with_report, structure_problems, validate_write,
    N8nVersion, Sanitized,
};
