//! Worker integration tests: each test gets its own migrated database (wfops_test_support).

// Test code: a failed unwrap or expect is the test's failure message (clippy.toml allows them
// in tests, but not yet in the helpers of integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cancel;
mod common;
mod deadline;
mod deployment_scheduler;
mod queue;
mod schedulers;
mod stale;
mod tenant_schedulers;
