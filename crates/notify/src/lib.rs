#![doc = include_str!("../README.md")]

pub mod event;
pub mod message;
pub mod signature;
pub mod target;

pub use event::{ChannelKind, DeliveryStatus, Event, EventType, UnknownWord};
