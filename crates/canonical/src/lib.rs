#![doc = include_str!("../README.md")]

mod autolink;
mod collision;
mod error;
mod id;
mod mapping;
mod provider;
mod slug;

pub use autolink::{
    decide_auto_link, AutoLinkDecision, AutoLinkInput, ExistingMapping, HashCandidate, NoLinkReason,
};
pub use collision::{check_registry_entry, find_collisions, CollisionKind, HashCollision};
pub use error::CanonicalError;
pub use id::CanonicalId;
pub use mapping::{mapping_status, MappingFacts, MappingStatus};
pub use provider::{Provider, UnknownProvider};
pub use slug::{
    base_slug, unique_slug, unique_slug_among, validate_slug, FALLBACK_SLUG, MAX_SLUG_LEN,
    MAX_SUFFIX,
};
