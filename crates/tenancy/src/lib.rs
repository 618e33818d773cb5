#![doc = include_str!("../README.md")]

pub mod api_key;
mod caller;
mod error;
pub mod jwt;
mod names;
pub mod password;
mod role;

pub use caller::{Actor, Caller};
pub use error::Error;
pub use jwt::{Claims, JwtKeys};
pub use names::{normalize_email, slugify};
pub use role::Role;
