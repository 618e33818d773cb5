//! Worker integration tests: each test gets its own migrated database (wfops_test_support).

mod cancel;
mod common;
mod deadline;
mod queue;
mod schedulers;
mod stale;
mod tenant_schedulers;
