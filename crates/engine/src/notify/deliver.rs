//! One attempt of one delivery: the webhook POST (signed), the Slack message, or the email.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::RngCore;
use serde::Serialize;
use uuid::Uuid;
use wfops_config::Secret;
use wfops_db::notifications::{self as store, ChannelRow, DeliveryRow};
use wfops_db::ScopedFutureExt;
use wfops_notify::event::Envelope;
use wfops_notify::signature::{self, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER};
use wfops_notify::{message, target, ChannelKind, DeliveryStatus};

use crate::error::{EngineError, Result};
use crate::EngineCtx;

/// What a run of a `notification_delivery` job did.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryReport {
    pub delivery_id: Uuid,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub response_status: Option<i32>,
    /// `true`: the delivery had already ended before this run, which did nothing.
    pub already_done: bool,
}

/// How an attempt went.
#[derive(Debug)]
enum Outcome {
    Delivered {
        status: Option<u16>,
    },
    /// Worth another attempt (timeout, connection refused, 408, 429, 5xx, a transient SMTP
    /// answer).
    Retry {
        status: Option<u16>,
        error: String,
    },
    /// Will fail the same way again (another 4xx, a redirect, a refused address).
    Permanent {
        status: Option<u16>,
        error: String,
    },
}

/// What a delivery goes out with: the outgoing timeout, whether private addresses may be
/// reached, and the mail server. Built from the configuration.
#[derive(Clone)]
pub struct Sender {
    pub timeout: Duration,
    pub allow_private: bool,
    pub smtp_url: Option<Secret<String>>,
    pub smtp_from: String,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("timeout", &self.timeout)
            .field("allow_private", &self.allow_private)
            .field("smtp_from", &self.smtp_from)
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub fn from_config(config: &wfops_config::Config) -> Self {
        Self {
            timeout: Duration::from_secs(config.notify_timeout_seconds),
            allow_private: config.notify_allow_private_targets,
            smtp_url: config.smtp_url.clone(),
            smtp_from: config.smtp_from.clone(),
        }
    }
}

/// One attempt of delivery `delivery_id`: counts it, sends, and records the outcome. A failure
/// worth retrying leaves the delivery `pending` and returns a retryable error (the queue
/// retries the job with backoff); the last attempt, or a permanent failure, marks it `failed`
/// and returns an error that is not retried. A delivery that already ended is left alone, so a
/// job that runs twice sends once.
pub async fn deliver(
    ctx: &EngineCtx,
    tenant_id: Uuid,
    delivery_id: Uuid,
) -> Result<DeliveryReport> {
    let started = ctx
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let Some(row) = store::begin_attempt(conn, delivery_id).await? else {
                    return Ok(None);
                };
                let channel = match row.channel_id {
                    Some(id) => match store::get_channel(conn, id).await {
                        Ok(c) => Some(c),
                        Err(wfops_db::Error::NotFound) => None,
                        Err(e) => return Err(e),
                    },
                    None => None,
                };
                Ok::<_, wfops_db::Error>(Some((row, channel)))
            }
            .scope_boxed()
        })
        .await?;
    let Some((row, channel)) = started else {
        let row = ctx
            .db
            .tenant_tx(tenant_id, |conn| {
                async move { store::get_delivery(conn, delivery_id).await }.scope_boxed()
            })
            .await?;
        return Ok(DeliveryReport {
            delivery_id,
            status: row.status,
            attempts: row.attempts,
            response_status: row.response_status,
            already_done: true,
        });
    };
    let sender = Sender::from_config(&ctx.config);
    let outcome = match channel {
        None => Outcome::Permanent {
            status: None,
            error: "the channel was deleted".into(),
        },
        Some(channel) => attempt(ctx, &sender, &row, &channel).await,
    };
    let last = row.attempts >= row.max_attempts;
    let (status, response, error, retry) = match &outcome {
        Outcome::Delivered { status } => (DeliveryStatus::Delivered, *status, None, false),
        Outcome::Retry { status, error } if !last => {
            (DeliveryStatus::Pending, *status, Some(error.clone()), true)
        }
        Outcome::Retry { status, error } | Outcome::Permanent { status, error } => {
            (DeliveryStatus::Failed, *status, Some(error.clone()), false)
        }
    };
    let response_i32 = response.map(i32::from);
    let error_ref = error.as_deref();
    let stored = ctx
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                store::record_attempt(conn, delivery_id, status, response_i32, error_ref).await
            }
            .scope_boxed()
        })
        .await?;
    match (status, error) {
        (DeliveryStatus::Delivered, _) => Ok(DeliveryReport {
            delivery_id,
            status,
            attempts: stored.attempts,
            response_status: stored.response_status,
            already_done: false,
        }),
        (_, error) => Err(EngineError::Notification {
            detail: format!(
                "delivery {delivery_id} attempt {} of {}: {}",
                stored.attempts,
                stored.max_attempts,
                error.unwrap_or_default()
            ),
            retryable: retry,
        }),
    }
}

async fn attempt(
    ctx: &EngineCtx,
    sender: &Sender,
    row: &DeliveryRow,
    channel: &ChannelRow,
) -> Outcome {
    let envelope = Envelope {
        id: row.event_id,
        event_type: row.event_type,
        created_at: row.created_at,
        tenant_id: row.tenant_id,
        data: row.payload.clone(),
    };
    let secret = match &channel.secret_ciphertext {
        Some(c) => match ctx.cipher.decrypt_str(c) {
            Ok(s) => Some(s),
            Err(_) => {
                return Outcome::Permanent {
                    status: None,
                    error: "the channel's secret does not decrypt with this installation's \
                            ENCRYPTION_KEY"
                        .into(),
                }
            }
        },
        None => None,
    };
    match (channel.kind, secret) {
        (ChannelKind::Webhook, Some(secret)) => {
            let Some(url) = channel.webhook_url.as_deref() else {
                return misconfigured();
            };
            let body = match serde_json::to_vec(&envelope) {
                Ok(b) => b,
                Err(e) => {
                    return Outcome::Permanent {
                        status: None,
                        error: format!("the event can not be serialized: {e}"),
                    }
                }
            };
            let timestamp = Utc::now().timestamp();
            let headers = [
                (
                    SIGNATURE_HEADER,
                    signature::header_value(secret.expose(), timestamp, &body),
                ),
                (EVENT_HEADER, envelope.event_type.as_str().to_owned()),
                (DELIVERY_HEADER, row.id.to_string()),
            ];
            post(sender, url, body, &headers, false).await
        }
        (ChannelKind::Slack, Some(url)) => {
            let body = match serde_json::to_vec(&message::slack(&envelope)) {
                Ok(b) => b,
                Err(e) => {
                    return Outcome::Permanent {
                        status: None,
                        error: format!("the message can not be serialized: {e}"),
                    }
                }
            };
            post(sender, url.expose(), body, &[], true).await
        }
        (ChannelKind::Email, None) => match channel.recipients() {
            Ok(to) if !to.is_empty() => email(sender, &envelope, &to).await,
            _ => misconfigured(),
        },
        _ => misconfigured(),
    }
}

fn misconfigured() -> Outcome {
    Outcome::Permanent {
        status: None,
        error: "the channel's stored target is incomplete".into(),
    }
}

/// POSTs JSON to `url`: no redirects, the configured timeout, and (unless private targets are
/// allowed) only to public addresses, pinned to the address that was checked so that a second
/// resolution can not point elsewhere. `secret_url`: the URL is a secret and never appears in
/// an error.
async fn post(
    sender: &Sender,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
    secret_url: bool,
) -> Outcome {
    let what = if secret_url {
        "the Slack webhook"
    } else {
        "the webhook"
    };
    let parsed = match target::check_url(url, sender.allow_private) {
        Ok(u) => u,
        Err(e) => {
            return Outcome::Permanent {
                status: None,
                error: format!("{what} URL {e}"),
            }
        }
    };
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(sender.timeout)
        .connect_timeout(sender.timeout)
        .user_agent("WorkflowOps-Notifications/1");
    if let Some(host) = parsed.host_str() {
        let is_literal = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
        if !is_literal {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
                Ok(a) => a.collect(),
                Err(_) => {
                    return Outcome::Retry {
                        status: None,
                        error: format!("{what}'s host name did not resolve"),
                    }
                }
            };
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| sender.allow_private || target::is_public(a.ip()))
                .collect();
            if allowed.is_empty() || allowed.len() != addrs.len() {
                return Outcome::Permanent {
                    status: None,
                    error: format!(
                        "{what}'s host resolves to a loopback, private or otherwise non-public \
                         address"
                    ),
                };
            }
            builder = builder.resolve_to_addrs(host, &allowed);
        }
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Permanent {
                status: None,
                error: format!("the HTTP client can not be built: {}", e.without_url()),
            }
        }
    };
    let mut request = client
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let code = status.as_u16();
            if status.is_success() {
                Outcome::Delivered { status: Some(code) }
            } else if code == 408 || code == 429 || status.is_server_error() {
                Outcome::Retry {
                    status: Some(code),
                    error: format!("{what} answered HTTP {code}"),
                }
            } else if status.is_redirection() {
                Outcome::Permanent {
                    status: Some(code),
                    error: format!(
                        "{what} answered a redirect (HTTP {code}), which is not followed"
                    ),
                }
            } else {
                Outcome::Permanent {
                    status: Some(code),
                    error: format!("{what} answered HTTP {code}"),
                }
            }
        }
        Err(e) => {
            let reason = if e.is_timeout() {
                format!("no answer within {} s", sender.timeout.as_secs())
            } else if e.is_connect() {
                "the connection failed".to_owned()
            } else {
                // without the URL: a Slack URL is a secret
                e.without_url().to_string()
            };
            Outcome::Retry {
                status: None,
                error: format!("{what}: {reason}"),
            }
        }
    }
}

/// Sends the event's email to `to` through `SMTP_URL`.
async fn email(sender: &Sender, envelope: &Envelope, to: &[String]) -> Outcome {
    let Some(smtp_url) = &sender.smtp_url else {
        return Outcome::Permanent {
            status: None,
            error: "SMTP_URL is not configured, so email channels can not deliver".into(),
        };
    };
    let scrub = |text: String| scrub_url(text, smtp_url.expose());
    let from: Mailbox = match sender.smtp_from.parse() {
        Ok(m) => m,
        Err(_) => {
            return Outcome::Permanent {
                status: None,
                error: "SMTP_FROM is not a valid mailbox".into(),
            }
        }
    };
    let rendered = message::email(envelope);
    let mut builder = Message::builder()
        .from(from)
        .subject(rendered.subject)
        .message_id(Some(format!("<{}.{}@workflowops>", envelope.id, unique())));
    for (i, address) in to.iter().enumerate() {
        match address.parse::<Mailbox>() {
            Ok(m) => builder = builder.to(m),
            Err(_) => {
                return Outcome::Permanent {
                    status: None,
                    error: format!("recipient {i} is not a valid address"),
                }
            }
        }
    }
    let email = match builder.multipart(
        MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(rendered.text),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(rendered.html),
            ),
    ) {
        Ok(m) => m,
        Err(e) => {
            return Outcome::Permanent {
                status: None,
                error: format!("the email can not be built: {e}"),
            }
        }
    };
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url.expose()) {
        Ok(t) => t.timeout(Some(sender.timeout)).build(),
        Err(e) => {
            return Outcome::Permanent {
                status: None,
                error: scrub(format!("SMTP_URL can not be used: {e}")),
            }
        }
    };
    match transport.send(email).await {
        Ok(response) => Outcome::Delivered {
            status: Some(response.code().into()),
        },
        Err(e) if e.is_permanent() => Outcome::Permanent {
            status: e.status().map(u16::from),
            error: scrub(format!("the mail server refused the message: {e}")),
        },
        Err(e) => Outcome::Retry {
            status: e.status().map(u16::from),
            error: scrub(format!("the mail server failed: {e}")),
        },
    }
}

fn unique() -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Removes the URL and its password from `text` (a mail library may quote either).
fn scrub_url(text: String, url: &str) -> String {
    let mut out = text.replace(url, "[SMTP_URL]");
    if let Some(password) = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
        .filter(|p| !p.is_empty())
    {
        out = out.replace(&password, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_removes_the_url_and_its_password() {
        let url = "smtps://mailer:s3cr3t-pw@mail.example.com:465";
        let text = format!("failed to connect to {url}; auth s3cr3t-pw refused");
        let scrubbed = scrub_url(text, url);
        assert!(!scrubbed.contains("s3cr3t-pw"), "{scrubbed}");
        assert!(scrubbed.contains("[SMTP_URL]"));
    }
}
