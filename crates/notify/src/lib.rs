//! Notifications, the pure part (docs/notifications.md): the words the tables store (channel
//! kinds, event types, delivery statuses), the events and the body every channel receives, the
//! signature of outgoing webhooks and how a receiver verifies it, the rules for channel targets
//! (webhook URLs, email addresses, which network addresses may be reached), and the text of a
//! Slack message or an email. No I/O: the engine sends, the database stores.

pub mod event;
pub mod message;
pub mod signature;
pub mod target;

pub use event::{ChannelKind, DeliveryStatus, Event, EventType, UnknownWord};
