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
pub mod credential_mappings;
pub mod environment_variables;
pub mod environments;
pub mod notifications; // notification channels and the delivery log
pub mod pipelines;
pub mod preflight; // the reads of a promotion's pre-flight
pub mod promotion_run; // what executing a promotion writes
pub mod promotions;
pub mod snapshot_restores;
pub mod snapshots;
pub mod tenants;
pub mod users;
// the job queue and schedulers (owned by the worker work)
pub mod deployments;
pub mod jobs;
pub mod scheduler;
// sync, repository, reconciliation, read models
pub mod canonical; // canonical_workflows
pub mod diff_state; // workflow_diff_state
pub mod drift; // drift checks, incidents, policies
pub mod git_state; // canonical_workflow_git_state
pub mod hash_registry; // workflow_hash_registry
pub mod notify; // LISTEN/NOTIFY for SSE
pub mod rehash; // re-hashing stored documents (references, hash rules)
pub mod views;
pub mod workflows; // workflow_env_map

pub use diesel_async::scoped_futures::{ScopedBoxFuture, ScopedFutureExt};
pub use error::{Error, Result};
pub use pool::{Conn, Db, PoolStatus, APP_ROLE};
