//! The Postgres adapter: the only crate that names diesel. See `README.md`.
#![doc = include_str!("../README.md")]

pub mod columns;
pub mod embedded;
pub mod error;
pub mod migrate;
mod migrations_digest;
pub mod pool;
pub mod schema;
// tenant-facing queries (owned by the API work)
pub mod api_keys;
pub mod audit;
pub mod environments;
pub mod tenants;
pub mod users;
// the job queue and schedulers (owned by the worker work)
pub mod deployments;
pub mod jobs;
pub mod scheduler;
// issue 4: sync, repository, reconciliation (phase-2 owners in brackets)
pub mod canonical; // [P2] canonical_workflows
pub mod diff_state; // [P1]
pub mod git_state; // [P2] canonical_workflow_git_state
pub mod hash_registry; // [P1]
pub mod notify; // [P3] LISTEN/NOTIFY for SSE
pub mod views;
pub mod workflows; // [P1] workflow_env_map // [P3] read models: matrix, lists

pub use diesel_async::scoped_futures::{ScopedBoxFuture, ScopedFutureExt};
pub use error::{Error, Result};
pub use pool::{Conn, Db, PoolStatus, APP_ROLE};
