//! Channel kinds, event types, delivery statuses, and the typed events the rest of the product
//! emits.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// A stored word that no enum names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownWord {
    pub what: &'static str,
    pub value: String,
}

macro_rules! words {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident = $word:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $word)] $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stored and wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($word => Ok($name::$variant),)*
                    _ => Err(UnknownWord { what: $what, value: s.to_owned() }),
                }
            }
        }
    };
}

words!(
    /// How a channel reaches people.
    ChannelKind, "channel kind" {
        Webhook = "webhook",
        Slack = "slack",
        Email = "email",
    }
);

words!(
    /// What happened. A channel lists the types it wants.
    EventType, "event type" {
        IncidentCreated = "incident.created",
        IncidentEscalated = "incident.escalated",
        IncidentClosed = "incident.closed",
        PromotionFailed = "promotion.failed",
        PromotionRolledBack = "promotion.rolled_back",
        Test = "test",
    }
);

words!(
    /// Where one delivery stands: `pending` until it was delivered or gave up.
    DeliveryStatus, "delivery status" {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
);

/// A drift incident as an event tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentInfo {
    pub incident_id: Uuid,
    pub environment_id: Uuid,
    pub environment_name: String,
    /// The incident's severity as the drift part words it (`low`, `medium`, `high`, …).
    pub severity: String,
    pub title: String,
    /// How many workflows drifted.
    pub affected_workflows: u32,
}

/// A promotion whose deployment ended badly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionInfo {
    pub promotion_id: Uuid,
    pub deployment_id: Uuid,
    pub source_environment_id: Uuid,
    pub source_environment_name: String,
    pub target_environment_id: Uuid,
    pub target_environment_name: String,
    /// What went wrong, in words without secrets (the deployment's error).
    pub error: String,
}

/// Something a tenant's people are told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    IncidentCreated(IncidentInfo),
    /// The incident passed a share of its time to live (`threshold_percent`: 25 or 75).
    IncidentEscalated {
        incident: IncidentInfo,
        threshold_percent: u8,
    },
    /// `resolution` says how it ended (resolved, accepted, expired, …).
    IncidentClosed {
        incident: IncidentInfo,
        resolution: String,
    },
    PromotionFailed(PromotionInfo),
    PromotionRolledBack(PromotionInfo),
    /// A test send asked for by an admin.
    Test {
        requested_by: Option<Uuid>,
    },
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::IncidentCreated(_) => EventType::IncidentCreated,
            Event::IncidentEscalated { .. } => EventType::IncidentEscalated,
            Event::IncidentClosed { .. } => EventType::IncidentClosed,
            Event::PromotionFailed(_) => EventType::PromotionFailed,
            Event::PromotionRolledBack(_) => EventType::PromotionRolledBack,
            Event::Test { .. } => EventType::Test,
        }
    }

    /// The `data` of the body: the event's facts as JSON (never a secret).
    pub fn data(&self) -> Value {
        fn incident(i: &IncidentInfo) -> serde_json::Map<String, Value> {
            match json!(i) {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            }
        }
        match self {
            Event::IncidentCreated(i) => Value::Object(incident(i)),
            Event::IncidentEscalated {
                incident: i,
                threshold_percent,
            } => {
                let mut map = incident(i);
                map.insert("threshold_percent".into(), json!(threshold_percent));
                Value::Object(map)
            }
            Event::IncidentClosed {
                incident: i,
                resolution,
            } => {
                let mut map = incident(i);
                map.insert("resolution".into(), json!(resolution));
                Value::Object(map)
            }
            Event::PromotionFailed(p) | Event::PromotionRolledBack(p) => json!(p),
            Event::Test { requested_by } => json!({
                "message": "This is a test notification from WorkflowOps.",
                "requested_by": requested_by,
            }),
        }
    }
}

/// The JSON body a webhook receives (and what the other channels render from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The event's id: the same for every channel the event went to.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub created_at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_refuse_the_unknown() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
        for k in ChannelKind::ALL {
            assert_eq!(k.as_str().parse::<ChannelKind>().unwrap(), *k);
        }
        for s in DeliveryStatus::ALL {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), *s);
        }
        let e = "incident.opened".parse::<EventType>().unwrap_err();
        assert_eq!(e.to_string(), "unknown event type \"incident.opened\"");
        assert!("Webhook".parse::<ChannelKind>().is_err());
    }

    #[test]
    fn data_carries_the_facts_of_each_event() {
        let incident = IncidentInfo {
            incident_id: Uuid::new_v4(),
            environment_id: Uuid::new_v4(),
            environment_name: "prod".into(),
            severity: "high".into(),
            title: "3 workflows changed in prod".into(),
            affected_workflows: 3,
        };
        let e = Event::IncidentEscalated {
            incident: incident.clone(),
            threshold_percent: 75,
        };
        assert_eq!(e.event_type(), EventType::IncidentEscalated);
        let data = e.data();
        assert_eq!(data["threshold_percent"], 75);
        assert_eq!(data["affected_workflows"], 3);
        assert_eq!(data["incident_id"], json!(incident.incident_id));
        let closed = Event::IncidentClosed {
            incident,
            resolution: "resolved".into(),
        }
        .data();
        assert_eq!(closed["resolution"], "resolved");
        assert_eq!(
            Event::Test { requested_by: None }.event_type().as_str(),
            "test"
        );
    }
}
