//! Notifications (docs/notifications.md): [`emit`] turns an event into one delivery per
//! enabled channel that wants it, each delivered by its own `notification_delivery` job
//! ([`deliver`]), with retries and a log of every attempt.
//!
//! The rest of the engine (and the API) calls [`emit`] inside the tenant transaction of the
//! write that caused the event, so the event exists exactly when that write commits.

mod deliver;

use serde_json::Value;
use uuid::Uuid;
use wfops_db::jobs::{self as queue};
use wfops_db::notifications::{self as store, ChannelRow, NewDelivery};
use wfops_db::Conn;

pub use deliver::{deliver, DeliveryReport, Sender};
pub use wfops_notify::event::{Envelope, IncidentInfo, PromotionInfo};
pub use wfops_notify::{ChannelKind, DeliveryStatus, Event, EventType};

use crate::jobs::{new_job, NotificationDelivery};

/// How many attempts a delivery gets (the job's `max_attempts` too): the first and four
/// retries, spaced by the queue's exponential backoff.
pub const DELIVERY_MAX_ATTEMPTS: i32 = 5;

/// Records `event` for every enabled channel of the tenant that wants its type: one
/// `notification_deliveries` row and one `notification_delivery` job each, in the caller's
/// transaction. Returns the delivery ids (empty when no channel wants the event).
pub async fn emit(conn: &mut Conn, tenant_id: Uuid, event: &Event) -> wfops_db::Result<Vec<Uuid>> {
    let event_type = event.event_type();
    let event_id = Uuid::new_v4();
    let data = event.data();
    let mut ids = Vec::new();
    for channel in store::enabled_channels(conn).await? {
        if channel.event_types()?.contains(&event_type) {
            ids.push(
                enqueue_delivery(conn, tenant_id, &channel, event_id, event_type, &data).await?,
            );
        }
    }
    Ok(ids)
}

/// A test event for one channel, whatever its filter and whether it is enabled (an admin asks
/// for it to check the channel before relying on it). Returns the delivery id.
pub async fn send_test(
    conn: &mut Conn,
    tenant_id: Uuid,
    channel: &ChannelRow,
    requested_by: Option<Uuid>,
) -> wfops_db::Result<Uuid> {
    let event = Event::Test { requested_by };
    enqueue_delivery(
        conn,
        tenant_id,
        channel,
        Uuid::new_v4(),
        event.event_type(),
        &event.data(),
    )
    .await
}

async fn enqueue_delivery(
    conn: &mut Conn,
    tenant_id: Uuid,
    channel: &ChannelRow,
    event_id: Uuid,
    event_type: EventType,
    data: &Value,
) -> wfops_db::Result<Uuid> {
    let delivery_id = Uuid::new_v4();
    store::insert_delivery(
        conn,
        &NewDelivery {
            id: delivery_id,
            tenant_id,
            channel_id: Some(channel.id),
            channel_name: &channel.name,
            channel_kind: channel.kind.as_str(),
            event_id,
            event_type: event_type.as_str(),
            payload: data.clone(),
            max_attempts: DELIVERY_MAX_ATTEMPTS,
        },
    )
    .await?;
    let mut job = new_job(tenant_id, &NotificationDelivery { delivery_id })?;
    job.max_attempts = DELIVERY_MAX_ATTEMPTS;
    job.resource_type = Some("notification_delivery".into());
    job.resource_id = Some(delivery_id);
    let row = queue::enqueue(conn, job).await?;
    store::set_delivery_job(conn, delivery_id, row.id).await?;
    Ok(delivery_id)
}

/// Emits `promotion.rolled_back` (the target is back to its pre-promotion snapshot) or
/// `promotion.failed` (anything else, a rollback that did not verify included) for a
/// deployment that ended failed, naming both environments. Called in the transaction that
/// records the end.
pub async fn promotion_ended(
    conn: &mut Conn,
    tenant_id: Uuid,
    promotion_id: Uuid,
    deployment_id: Uuid,
    rolled_back: bool,
    error: &str,
) -> wfops_db::Result<Vec<Uuid>> {
    let promotion = wfops_db::promotions::get_promotion(conn, promotion_id).await?;
    let source_environment_name = environment_name(conn, promotion.source_environment_id).await?;
    let target_environment_name = environment_name(conn, promotion.target_environment_id).await?;
    let info = PromotionInfo {
        promotion_id,
        deployment_id,
        source_environment_id: promotion.source_environment_id,
        source_environment_name,
        target_environment_id: promotion.target_environment_id,
        target_environment_name,
        error: error.to_owned(),
    };
    let event = if rolled_back {
        Event::PromotionRolledBack(info)
    } else {
        Event::PromotionFailed(info)
    };
    emit(conn, tenant_id, &event).await
}

/// The environment's name, or its id when it was archived meanwhile.
async fn environment_name(conn: &mut Conn, id: Uuid) -> wfops_db::Result<String> {
    match wfops_db::environments::get(conn, id).await {
        Ok(env) => Ok(env.name),
        Err(wfops_db::Error::NotFound) => Ok(id.to_string()),
        Err(e) => Err(e),
    }
}

/// A new webhook signing secret from the operating system's CSPRNG (`whsec_` and 64 hex
/// digits); the caller encrypts it before storing and shows it once.
pub fn new_signing_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    wfops_notify::signature::new_secret(bytes)
}
