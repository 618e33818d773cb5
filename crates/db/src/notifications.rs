//! Notification channels and the delivery log (docs/notifications.md). Tenant scoping by
//! row-level security. The secret column holds ciphertext only: this crate never sees a
//! plaintext secret.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;
use wfops_notify::{ChannelKind, DeliveryStatus, EventType};

use crate::columns::Parsed;
use crate::error::Error;
use crate::schema::{notification_channels as ch, notification_deliveries as dl};
use crate::Conn;

/// A channel as stored. `secret_ciphertext` is ciphertext; callers never return it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = ch, check_for_backend(Pg))]
pub struct ChannelRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    #[diesel(deserialize_as = Parsed<ChannelKind>)]
    pub kind: ChannelKind,
    pub enabled: bool,
    /// A JSON array of event type names.
    pub events: serde_json::Value,
    pub webhook_url: Option<String>,
    /// The webhook's signing secret or the Slack URL, encrypted.
    pub secret_ciphertext: Option<String>,
    /// A JSON array of addresses (email channels).
    pub email_recipients: Option<serde_json::Value>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ChannelRow {
    /// The event types the channel wants. A stored name no enum knows is unreadable.
    pub fn event_types(&self) -> Result<Vec<EventType>, Error> {
        let names: Vec<String> = serde_json::from_value(self.events.clone()).map_err(|e| {
            Error::Unreadable(format!("channel {} holds invalid events: {e}", self.id))
        })?;
        names
            .iter()
            .map(|n| crate::columns::parse_text::<EventType>(n))
            .collect()
    }

    /// The recipients of an email channel (empty for other kinds).
    pub fn recipients(&self) -> Result<Vec<String>, Error> {
        match &self.email_recipients {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Error::Unreadable(format!("channel {} holds invalid recipients: {e}", self.id))
            }),
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ch)]
pub struct NewChannel<'a> {
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub kind: &'a str,
    pub enabled: bool,
    pub events: serde_json::Value,
    pub webhook_url: Option<&'a str>,
    pub secret_ciphertext: Option<&'a str>,
    pub email_recipients: Option<serde_json::Value>,
    pub created_by: Option<Uuid>,
}

/// A partial update; `None` leaves a column alone.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = ch)]
pub struct ChannelChanges {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub events: Option<serde_json::Value>,
    pub webhook_url: Option<String>,
    pub secret_ciphertext: Option<String>,
    pub email_recipients: Option<serde_json::Value>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
}

impl ChannelChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.enabled.is_none()
            && self.events.is_none()
            && self.webhook_url.is_none()
            && self.secret_ciphertext.is_none()
            && self.email_recipients.is_none()
            && self.secret_rotated_at.is_none()
    }
}

pub async fn insert_channel(conn: &mut Conn, new: &NewChannel<'_>) -> Result<ChannelRow, Error> {
    diesel::insert_into(ch::table)
        .values(new)
        .returning(ChannelRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Channel `id` of the bound tenant.
pub async fn get_channel(conn: &mut Conn, id: Uuid) -> Result<ChannelRow, Error> {
    ch::table
        .find(id)
        .select(ChannelRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// One page of the bound tenant's channels by name, and the total count.
pub async fn list_channels(
    conn: &mut Conn,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ChannelRow>, i64), Error> {
    let total: i64 = ch::table.count().get_result(conn).await?;
    let rows = ch::table
        .select(ChannelRow::as_select())
        .order((ch::name.asc(), ch::id))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// The bound tenant's enabled channels (every kind), by name.
pub async fn enabled_channels(conn: &mut Conn) -> Result<Vec<ChannelRow>, Error> {
    ch::table
        .filter(ch::enabled.eq(true))
        .select(ChannelRow::as_select())
        .order((ch::name.asc(), ch::id))
        .load(conn)
        .await
        .map_err(Error::from)
}

/// Applies `changes`; `NotFound` when the bound tenant has no such channel.
pub async fn update_channel(
    conn: &mut Conn,
    id: Uuid,
    changes: &ChannelChanges,
) -> Result<ChannelRow, Error> {
    if changes.is_empty() {
        return get_channel(conn, id).await;
    }
    diesel::update(ch::table.find(id))
        .set(changes)
        .returning(ChannelRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Deletes a channel; its deliveries stay in the log with `channel_id` null.
pub async fn delete_channel(conn: &mut Conn, id: Uuid) -> Result<ChannelRow, Error> {
    diesel::delete(ch::table.find(id))
        .returning(ChannelRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// One delivery as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = dl, check_for_backend(Pg))]
pub struct DeliveryRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub channel_name: String,
    #[diesel(deserialize_as = Parsed<ChannelKind>)]
    pub channel_kind: ChannelKind,
    pub event_id: Uuid,
    #[diesel(deserialize_as = Parsed<EventType>)]
    pub event_type: EventType,
    pub payload: serde_json::Value,
    #[diesel(deserialize_as = Parsed<DeliveryStatus>)]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub response_status: Option<i32>,
    pub job_id: Option<Uuid>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = dl)]
pub struct NewDelivery<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub channel_name: &'a str,
    pub channel_kind: &'a str,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub payload: serde_json::Value,
    pub max_attempts: i32,
}

pub async fn insert_delivery(conn: &mut Conn, new: &NewDelivery<'_>) -> Result<DeliveryRow, Error> {
    diesel::insert_into(dl::table)
        .values(new)
        .returning(DeliveryRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Records the job that delivers `id`.
pub async fn set_delivery_job(conn: &mut Conn, id: Uuid, job_id: Uuid) -> Result<(), Error> {
    diesel::update(dl::table.find(id))
        .set(dl::job_id.eq(job_id))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn get_delivery(conn: &mut Conn, id: Uuid) -> Result<DeliveryRow, Error> {
    dl::table
        .find(id)
        .select(DeliveryRow::as_select())
        .first(conn)
        .await
        .map_err(Error::from)
}

/// Counts an attempt of a pending delivery, locking its row; `None` when it is no longer
/// pending (delivered or failed by an earlier run, so a repeated job does nothing).
pub async fn begin_attempt(conn: &mut Conn, id: Uuid) -> Result<Option<DeliveryRow>, Error> {
    diesel::update(
        dl::table
            .find(id)
            .filter(dl::status.eq(DeliveryStatus::Pending.as_str())),
    )
    .set((
        dl::attempts.eq(dl::attempts + 1),
        dl::last_attempt_at.eq(diesel::dsl::now),
    ))
    .returning(DeliveryRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Error::from)
}

/// The outcome of one attempt: `status` is `pending` after a failure that will be retried.
pub async fn record_attempt(
    conn: &mut Conn,
    id: Uuid,
    status: DeliveryStatus,
    response_status: Option<i32>,
    error: Option<&str>,
) -> Result<DeliveryRow, Error> {
    let delivered_at = (status == DeliveryStatus::Delivered).then(Utc::now);
    diesel::update(dl::table.find(id))
        .set((
            dl::status.eq(status.as_str()),
            dl::response_status.eq(response_status),
            dl::last_error.eq(error),
            dl::delivered_at.eq(delivered_at),
        ))
        .returning(DeliveryRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Error::from)
}

/// Filters of the delivery log.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub channel_id: Option<Uuid>,
    pub event_type: Option<EventType>,
    pub status: Option<DeliveryStatus>,
}

/// One page of the bound tenant's deliveries, newest first, and the total count.
pub async fn list_deliveries(
    conn: &mut Conn,
    filter: &DeliveryFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<DeliveryRow>, i64), Error> {
    let query = || {
        let mut q = dl::table.into_boxed::<Pg>();
        if let Some(c) = filter.channel_id {
            q = q.filter(dl::channel_id.eq(c));
        }
        if let Some(t) = filter.event_type {
            q = q.filter(dl::event_type.eq(t.as_str()));
        }
        if let Some(s) = filter.status {
            q = q.filter(dl::status.eq(s.as_str()));
        }
        q
    };
    let total: i64 = query().count().get_result(conn).await?;
    let rows = query()
        .select(DeliveryRow::as_select())
        .order((dl::created_at.desc(), dl::id))
        .offset(offset)
        .limit(limit)
        .load(conn)
        .await?;
    Ok((rows, total))
}
