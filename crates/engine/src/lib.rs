#![doc = include_str!("../README.md")]

pub mod context;
pub mod drift;
pub mod env_sync;
pub mod error;
mod git_files;
mod git_targets;
pub mod jobs;
pub mod linking;
pub mod notify;
pub mod onboarding;
pub mod preflight;
pub mod promotion;
pub mod reconcile;
pub mod references;
pub mod repo_sync;

pub use context::{
    load_environment, Checkpoint, EngineCtx, LoadedEnvironment, N8nOptions, NoProgress, Progress,
};
pub use error::{EngineError, EngineErrorKind, Result};
