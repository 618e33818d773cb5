//! Notification channels and the delivery log (docs/notifications.md). Viewers read, admins
//! write. A webhook's signing secret is generated here, encrypted with the `Cipher`, and shown
//! once (at creation and at rotation); a Slack URL is encrypted and never shown again. Test
//! sends and every event are delivered by `notification_delivery` jobs.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wfops_db::notifications::{
    self as store, ChannelChanges, ChannelRow, DeliveryFilter, DeliveryRow, NewChannel,
};
use wfops_db::ScopedFutureExt;
use wfops_engine::notify::{self, ChannelKind, DeliveryStatus, EventType};
use wfops_notify::target::{self, TargetError};
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::validate_name;
use crate::routes::environments::{present, DeletedView};
use crate::routes::query;
use crate::routes::record;
use crate::AppState;

/// How a channel reaches people.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKindParam {
    Webhook,
    Slack,
    Email,
}

impl From<ChannelKindParam> for ChannelKind {
    fn from(k: ChannelKindParam) -> Self {
        match k {
            ChannelKindParam::Webhook => ChannelKind::Webhook,
            ChannelKindParam::Slack => ChannelKind::Slack,
            ChannelKindParam::Email => ChannelKind::Email,
        }
    }
}

/// An event type a channel can want.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum EventTypeParam {
    #[schema(rename = "incident.created")]
    IncidentCreated,
    #[schema(rename = "incident.escalated")]
    IncidentEscalated,
    #[schema(rename = "incident.closed")]
    IncidentClosed,
    #[schema(rename = "promotion.failed")]
    PromotionFailed,
    #[schema(rename = "promotion.rolled_back")]
    PromotionRolledBack,
    #[schema(rename = "test")]
    Test,
}

/// No `Debug`: `url` may be a Slack URL, which is a secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannelRequest {
    /// 1 to 100 characters, not blank, no control characters; unique in the tenant.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    pub kind: ChannelKindParam,
    /// Default `true`.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// 1 to 6 distinct event types.
    #[schema(value_type = Vec<EventTypeParam>, min_items = 1, max_items = 6)]
    pub events: Vec<String>,
    /// webhook and slack: an absolute http(s) URL without credentials or fragment (a Slack
    /// incoming-webhook URL is stored encrypted and never returned).
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// email: 1 to 20 distinct addresses.
    #[schema(min_items = 1, max_items = 20)]
    pub recipients: Option<Vec<String>>,
}

fn enabled_default() -> bool {
    true
}

/// Every field is optional, at least one is required. `url` applies to webhook and slack
/// channels, `recipients` to email channels.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannelRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<EventTypeParam>, required = false, min_items = 1, max_items = 6)]
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, max_length = 2048)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<String>, required = false, min_items = 1, max_items = 20)]
    pub recipients: Option<Vec<String>>,
}

/// A channel as the API returns it: never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub id: Uuid,
    pub name: String,
    pub kind: ChannelKindParam,
    pub enabled: bool,
    #[schema(value_type = Vec<EventTypeParam>)]
    pub events: Vec<String>,
    /// The webhook URL; `null` for Slack (a secret) and email channels.
    pub url: Option<String>,
    /// Email channels' recipients.
    pub recipients: Option<Vec<String>>,
    /// When the webhook's signing secret was last rotated.
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn kind_param(k: ChannelKind) -> ChannelKindParam {
    match k {
        ChannelKind::Webhook => ChannelKindParam::Webhook,
        ChannelKind::Slack => ChannelKindParam::Slack,
        ChannelKind::Email => ChannelKindParam::Email,
    }
}

impl TryFrom<ChannelRow> for ChannelView {
    type Error = ApiError;

    fn try_from(c: ChannelRow) -> Result<Self, ApiError> {
        let events = c
            .event_types()?
            .into_iter()
            .map(|e| e.as_str().to_owned())
            .collect();
        let recipients = match c.kind {
            ChannelKind::Email => Some(c.recipients()?),
            _ => None,
        };
        Ok(Self {
            id: c.id,
            name: c.name,
            kind: kind_param(c.kind),
            enabled: c.enabled,
            events,
            url: match c.kind {
                ChannelKind::Webhook => c.webhook_url,
                _ => None,
            },
            recipients,
            secret_rotated_at: c.secret_rotated_at,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
    }
}

/// A channel with its new signing secret: shown this once, keep it where the receiver can read
/// it.
#[derive(Serialize, ToSchema)]
pub struct ChannelWithSecretView {
    pub channel: ChannelView,
    /// The webhook's signing secret (`whsec_…`); `null` for Slack and email channels.
    pub signing_secret: Option<String>,
}

/// A queued test send.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSendView {
    pub delivery_id: Uuid,
    pub job_id: Option<Uuid>,
}

/// One delivery of the log. `last_error` never holds a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    /// `null` once the channel is deleted.
    pub channel_id: Option<Uuid>,
    pub channel_name: String,
    pub channel_kind: ChannelKindParam,
    /// The event's id (the same for every channel the event went to).
    pub event_id: Uuid,
    #[schema(value_type = EventTypeParam)]
    pub event_type: String,
    /// The event's data as sent.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// pending, delivered or failed.
    #[schema(value_type = DeliveryStatusParam)]
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    /// The receiver's last HTTP status (or the SMTP reply code).
    pub response_status: Option<i32>,
    pub job_id: Option<Uuid>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(d: DeliveryRow) -> Self {
        Self {
            id: d.id,
            channel_id: d.channel_id,
            channel_name: d.channel_name,
            channel_kind: kind_param(d.channel_kind),
            event_id: d.event_id,
            event_type: d.event_type.as_str().to_owned(),
            payload: d.payload,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            max_attempts: d.max_attempts,
            last_error: d.last_error,
            response_status: d.response_status,
            job_id: d.job_id,
            last_attempt_at: d.last_attempt_at,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// The values of the `status` filter.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum DeliveryStatusParam {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    #[param(value_type = Option<Uuid>)]
    pub channel_id: Option<String>,
    #[param(value_type = Option<EventTypeParam>)]
    pub event_type: Option<String>,
    #[param(value_type = Option<DeliveryStatusParam>)]
    pub status: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1_000_000)]
    pub page: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
}

fn channel_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::NotificationChannelNotFound,
        format!("notification channel {id} not found"),
    )
}

fn not_found_or(id: Uuid) -> impl Fn(wfops_db::Error) -> ApiError {
    move |e| match e {
        wfops_db::Error::NotFound => channel_not_found(id),
        other => other.into(),
    }
}

/// 1 to 6 distinct known event types, returned as stored.
fn check_events(raw: &[String]) -> Result<Value, ApiError> {
    let bad = |reason: String| ApiError::Coded {
        code: Code::InvalidNotificationEvents,
        message: format!("events: {reason}"),
        details: Some(json!({ "field": "events", "reason": reason })),
    };
    if raw.is_empty() || raw.len() > EventType::ALL.len() {
        return Err(bad(format!(
            "must list 1 to {} event types",
            EventType::ALL.len()
        )));
    }
    let mut seen = Vec::new();
    for name in raw {
        let Ok(t) = name.parse::<EventType>() else {
            let allowed: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            return Err(bad(format!(
                "{:?} is not an event type; one of {}",
                name.chars().take(64).collect::<String>(),
                allowed.join(", ")
            )));
        };
        if seen.contains(&t) {
            return Err(bad(format!("{name:?} is listed twice")));
        }
        seen.push(t);
    }
    Ok(json!(seen.iter().map(|t| t.as_str()).collect::<Vec<_>>()))
}

fn target_error(field: &str, e: TargetError) -> ApiError {
    let reason = e.to_string();
    ApiError::Coded {
        code: Code::InvalidNotificationTarget,
        message: format!("{field}: {reason}"),
        details: Some(json!({ "field": field, "reason": reason })),
    }
}

fn target_mismatch(field: &str, kind: ChannelKind) -> ApiError {
    let reason = match (field, kind) {
        ("url", ChannelKind::Email) => "email channels take `recipients`, not `url`".to_owned(),
        ("recipients", _) => format!("{kind} channels take `url`, not `recipients`"),
        (_, _) => format!("{kind} channels need `{field}`"),
    };
    ApiError::Coded {
        code: Code::InvalidNotificationTarget,
        message: format!("{field}: {reason}"),
        details: Some(json!({ "field": field, "reason": reason })),
    }
}

fn check_url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    target::check_url(raw, state.config.notify_allow_private_targets)
        .map(|u| u.to_string())
        .map_err(|e| target_error("url", e))
}

fn check_recipients(raw: &[String]) -> Result<Value, ApiError> {
    target::check_recipients(raw)
        .map(|r| json!(r))
        .map_err(|e| target_error("recipients", e))
}

fn encrypt(state: &AppState, plaintext: &str) -> Result<String, ApiError> {
    state.cipher.encrypt_str(plaintext).map_err(ApiError::from)
}

#[utoipa::path(
    get, path = "/api/v1/notification-channels", tag = "notifications", security(("bearer" = [])),
    params(query::PageQuery),
    responses(
        (status = 200, description = "A page of channels by name", body = Paginated<ChannelView>),
        (status = 400, description = "Bad pagination parameters", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<query::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = q.parse()?;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { store::list_channels(conn, page.offset(), page.limit()).await }
                .scope_boxed()
        })
        .await?;
    let data = rows
        .into_iter()
        .map(ChannelView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get, path = "/api/v1/notification-channels/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Channel id")),
    responses(
        (status = 200, description = "The channel", body = Envelope<ChannelView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such channel in this tenant", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let id = path.into_inner();
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { store::get_channel(conn, id).await }.scope_boxed()
        })
        .await
        .map_err(not_found_or(id))?;
    Ok(HttpResponse::Ok().json(Envelope::new(ChannelView::try_from(row)?)))
}

#[utoipa::path(
    post, path = "/api/v1/notification-channels", tag = "notifications", security(("bearer" = [])),
    request_body = CreateChannelRequest,
    responses(
        (status = 201, description = "Channel created; a webhook's signing secret is in the answer, \
            this once", body = Envelope<ChannelWithSecretView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 409, description = "A channel with this name exists", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid name, kind, events or target", body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<CreateChannelRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    let name = validate_name("name", &req.name)?;
    let kind = ChannelKind::from(req.kind);
    let events = check_events(&req.events)?;
    let (webhook_url, secret, ciphertext, recipients) = match kind {
        ChannelKind::Webhook | ChannelKind::Slack => {
            if req.recipients.is_some() {
                return Err(target_mismatch("recipients", kind));
            }
            let url = check_url(
                &state,
                req.url
                    .as_deref()
                    .ok_or_else(|| target_mismatch("url", kind))?,
            )?;
            if kind == ChannelKind::Webhook {
                let secret = notify::new_signing_secret();
                let ciphertext = encrypt(&state, &secret)?;
                (Some(url), Some(secret), Some(ciphertext), None)
            } else {
                (None, None, Some(encrypt(&state, &url)?), None)
            }
        }
        ChannelKind::Email => {
            if req.url.is_some() {
                return Err(target_mismatch("url", kind));
            }
            let raw = req
                .recipients
                .as_deref()
                .ok_or_else(|| target_mismatch("recipients", kind))?;
            (None, None, None, Some(check_recipients(raw)?))
        }
    };
    let new = NewChannel {
        tenant_id: auth.caller.tenant_id,
        name: &name,
        kind: kind.as_str(),
        enabled: req.enabled,
        events,
        webhook_url: webhook_url.as_deref(),
        secret_ciphertext: ciphertext.as_deref(),
        email_recipients: recipients,
        created_by: auth.caller.user_id(),
    };
    let (auth_ref, meta_ref, new_ref) = (&auth, &meta, &new);
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let row = store::insert_channel(conn, new_ref).await?;
                // what the channel is, never its secret or a Slack URL
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "notification_channel.create",
                    "notification_channel",
                    row.id,
                    json!({ "name": row.name, "kind": row.kind.as_str(), "events": row.events }),
                )
                .await?;
                Ok::<_, ApiError>(row)
            }
            .scope_boxed()
        })
        .await?;
    let view = ChannelWithSecretView {
        channel: ChannelView::try_from(row)?,
        signing_secret: secret,
    };
    Ok(HttpResponse::Created().json(Envelope::with_message(view, "notification channel created")))
}

#[utoipa::path(
    patch, path = "/api/v1/notification-channels/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body = UpdateChannelRequest,
    responses(
        (status = 200, description = "Channel updated", body = Envelope<ChannelView>),
        (status = 400, description = "Malformed JSON or `id` not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such channel in this tenant", body = ErrorBody),
        (status = 409, description = "A channel with this name exists", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field, a target the kind does not take, or an empty update", body = ErrorBody)
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<UpdateChannelRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let req = body.0;
    if req.name.is_none()
        && req.enabled.is_none()
        && req.events.is_none()
        && req.url.is_none()
        && req.recipients.is_none()
    {
        return Err(ApiError::new(
            Code::EmptyUpdate,
            "the body must set at least one field to change",
        ));
    }
    let name = req
        .name
        .as_deref()
        .map(|n| validate_name("name", n))
        .transpose()?;
    let events = req.events.as_deref().map(check_events).transpose()?;
    let url = req
        .url
        .as_deref()
        .map(|u| check_url(&state, u))
        .transpose()?;
    let recipients = req
        .recipients
        .as_deref()
        .map(check_recipients)
        .transpose()?;
    let mut changed = Vec::new();
    for (field, set) in [
        ("name", name.is_some()),
        ("enabled", req.enabled.is_some()),
        ("events", events.is_some()),
        ("url", url.is_some()),
        ("recipients", recipients.is_some()),
    ] {
        if set {
            changed.push(field);
        }
    }
    let (auth_ref, meta_ref, state_ref) = (&auth, &meta, &state);
    let enabled = req.enabled;
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let current = store::get_channel(conn, id)
                    .await
                    .map_err(not_found_or(id))?;
                let mut changes = ChannelChanges {
                    name,
                    enabled,
                    events,
                    ..ChannelChanges::default()
                };
                match current.kind {
                    ChannelKind::Webhook => changes.webhook_url = url,
                    ChannelKind::Slack => {
                        changes.secret_ciphertext =
                            url.as_deref().map(|u| encrypt(state_ref, u)).transpose()?
                    }
                    ChannelKind::Email if url.is_some() => {
                        return Err(target_mismatch("url", current.kind))
                    }
                    ChannelKind::Email => {}
                }
                match (current.kind, recipients) {
                    (ChannelKind::Email, r) => changes.email_recipients = r,
                    (kind, Some(_)) => return Err(target_mismatch("recipients", kind)),
                    (_, None) => {}
                }
                let row = store::update_channel(conn, id, &changes).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "notification_channel.update",
                    "notification_channel",
                    id,
                    json!({ "changed": changed }),
                )
                .await?;
                Ok::<_, ApiError>(row)
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        ChannelView::try_from(row)?,
        "notification channel updated",
    )))
}

#[utoipa::path(
    delete, path = "/api/v1/notification-channels/{id}", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Channel id")),
    responses(
        (status = 200, description = "Channel deleted; its deliveries stay in the log", body = Envelope<DeletedView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such channel in this tenant", body = ErrorBody)
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let (auth_ref, meta_ref) = (&auth, &meta);
    state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let row = store::delete_channel(conn, id)
                    .await
                    .map_err(not_found_or(id))?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "notification_channel.delete",
                    "notification_channel",
                    id,
                    json!({ "name": row.name }),
                )
                .await?;
                Ok::<_, ApiError>(())
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        DeletedView { id, deleted: true },
        "notification channel deleted",
    )))
}

#[utoipa::path(
    post, path = "/api/v1/notification-channels/{id}/rotate-secret", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Channel id")),
    responses(
        (status = 200, description = "A new signing secret, shown this once; the old one stops \
            signing at once", body = Envelope<ChannelWithSecretView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such channel in this tenant", body = ErrorBody),
        (status = 409, description = "The channel is not a webhook (it has no signing secret)", body = ErrorBody)
    )
)]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let secret = notify::new_signing_secret();
    let ciphertext = encrypt(&state, &secret)?;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let current = store::get_channel(conn, id)
                    .await
                    .map_err(not_found_or(id))?;
                if current.kind != ChannelKind::Webhook {
                    return Err(ApiError::new(
                        Code::ChannelHasNoSigningSecret,
                        format!(
                            "channel {id} is a {} channel; only webhook channels sign",
                            current.kind
                        ),
                    ));
                }
                let changes = ChannelChanges {
                    secret_ciphertext: Some(ciphertext),
                    secret_rotated_at: Some(Utc::now()),
                    ..ChannelChanges::default()
                };
                let row = store::update_channel(conn, id, &changes).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "notification_channel.rotate_secret",
                    "notification_channel",
                    id,
                    json!({}),
                )
                .await?;
                Ok::<_, ApiError>(row)
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        ChannelWithSecretView {
            channel: ChannelView::try_from(row)?,
            signing_secret: Some(secret),
        },
        "signing secret rotated",
    )))
}

#[utoipa::path(
    post, path = "/api/v1/notification-channels/{id}/test", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Channel id")),
    responses(
        (status = 202, description = "A `test` event queued for this channel (whatever its \
            event filter, enabled or not)", body = Envelope<TestSendView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such channel in this tenant", body = ErrorBody)
    )
)]
pub async fn test_send(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let delivery = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let channel = store::get_channel(conn, id)
                    .await
                    .map_err(not_found_or(id))?;
                let delivery_id =
                    notify::send_test(conn, tenant_id, &channel, auth_ref.caller.user_id()).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "notification_channel.test",
                    "notification_channel",
                    id,
                    json!({ "delivery_id": delivery_id }),
                )
                .await?;
                Ok::<_, ApiError>(store::get_delivery(conn, delivery_id).await?)
            }
            .scope_boxed()
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Envelope::with_message(
        TestSendView {
            delivery_id: delivery.id,
            job_id: delivery.job_id,
        },
        "test notification queued",
    )))
}

fn parse_word<T: std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
    all: &[&str],
) -> Result<Option<T>, ApiError> {
    match raw {
        None => Ok(None),
        Some(v) => v.parse::<T>().map(Some).map_err(|_| {
            ApiError::InvalidQueryParameter(format!(
                "`{name}` must be one of {}, got `{}`",
                all.join(", "),
                v.chars().take(64).collect::<String>()
            ))
        }),
    }
}

#[utoipa::path(
    get, path = "/api/v1/notification-deliveries", tag = "notifications", security(("bearer" = [])),
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "A page of the delivery log, newest first", body = Paginated<DeliveryView>),
        (status = 400, description = "Bad filter or pagination parameters", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query::page(&q.page, &q.page_size)?;
    let event_names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    let status_names: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
    let filter = DeliveryFilter {
        channel_id: query::uuid_param("channel_id", q.channel_id.as_deref())?,
        event_type: parse_word("event_type", q.event_type.as_deref(), &event_names)?,
        status: parse_word("status", q.status.as_deref(), &status_names)?,
    };
    let filter_ref = &filter;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                store::list_deliveries(conn, filter_ref, page.offset(), page.limit()).await
            }
            .scope_boxed()
        })
        .await?;
    let data: Vec<DeliveryView> = rows.into_iter().map(DeliveryView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}
