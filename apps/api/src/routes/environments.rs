//! Environments: list/get for viewers, create/update/delete for admins.
//!
//! The n8n API key and the Git token are encrypted with the `Cipher` before they reach the
//! database and are never returned: responses say `has_api_key` / `has_git_token`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use wfops_db::environments::{self, Environment, EnvironmentChanges, NewEnvironment};
use wfops_db::ScopedFutureExt;
use wfops_tenancy::Role;

use crate::auth::{Auth, RequestMeta};
use crate::envelope::{Envelope, ErrorBody, Paginated};
use crate::error::{ApiError, Code};
use crate::extract::Body;
use crate::routes::common::validate_name;
use crate::routes::query::PageQuery;
use crate::routes::record;
use crate::AppState;

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    N8n,
    Make,
}

/// The providers a request may name: the data model knows `make` too, but no sync serves it
/// yet, so the contract offers `n8n` only (and the handler refuses `make` with its own code).
fn requested_provider() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["n8n"]))
        .default(Some(serde_json::json!("n8n")))
        .description(Some("Only `n8n` can be synced today."))
        .build()
}

/// The request's spelling of the domain's provider (which owns the stored names).
impl From<Provider> for wfops_canonical::Provider {
    fn from(p: Provider) -> Self {
        match p {
            Provider::N8n => Self::N8n,
            Provider::Make => Self::Make,
        }
    }
}

impl Provider {
    fn as_str(self) -> &'static str {
        wfops_canonical::Provider::from(self).as_str()
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentClass {
    #[default]
    Dev,
    Staging,
    Production,
}

/// The request's spelling of the domain's class (which owns the names and the promotion order).
impl From<EnvironmentClass> for wfops_promotion::EnvironmentClass {
    fn from(c: EnvironmentClass) -> Self {
        match c {
            EnvironmentClass::Dev => Self::Dev,
            EnvironmentClass::Staging => Self::Staging,
            EnvironmentClass::Production => Self::Production,
        }
    }
}

impl EnvironmentClass {
    fn as_str(self) -> &'static str {
        wfops_promotion::EnvironmentClass::from(self).as_str()
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftHandlingMode {
    #[default]
    WarnOnly,
    ManualOverride,
    RequireAttestation,
}

impl DriftHandlingMode {
    fn as_str(self) -> &'static str {
        match self {
            DriftHandlingMode::WarnOnly => "warn_only",
            DriftHandlingMode::ManualOverride => "manual_override",
            DriftHandlingMode::RequireAttestation => "require_attestation",
        }
    }
}

/// No `Debug`: it carries secrets.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironmentRequest {
    /// Unique within the tenant: 1 to 100 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Base URL of the n8n instance: `http://` or `https://` and a host, no spaces, no
    /// credentials, at most 2048 characters.
    #[schema(
        example = "https://n8n.example.com",
        max_length = 2048,
        pattern = r"^https?://[A-Za-z0-9._~!$&'()*+,;=%:-]+([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$"
    )]
    pub url: String,
    /// Only `n8n` is accepted for now (`provider_not_supported` otherwise).
    #[serde(default)]
    #[schema(schema_with = requested_provider)]
    pub provider: Provider,
    #[serde(default)]
    pub environment_class: EnvironmentClass,
    /// The n8n API key; stored encrypted, never returned.
    #[schema(format = Password, max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub api_key: Option<String>,
    #[serde(default)]
    pub drift_handling_mode: DriftHandlingMode,
    /// Absolute path, `file:///…`, `https://`, `ssh://`, `[user@]host:path`, or `http://` to a
    /// loopback host; no credentials in the URL.
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = r"^(/[^\s\x00-\x1f\x7f-\x9f]*|file:///[^\s\x00-\x1f\x7f-\x9f]*|https://[A-Za-z0-9._~!$&'()*+,;=%][A-Za-z0-9._~!$&'()*+,;=%-]*(:[A-Za-z0-9._~!$&'()*+,;=%:-]*)?(/+[^/\s\x00-\x1f\x7f-\x9f]|[?#])[^\s\x00-\x1f\x7f-\x9f]*|(http|git)://([Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|127\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|\[::1\])(:[A-Za-z0-9._~!$&'()*+,;=%:-]*)?(/+[^/\s\x00-\x1f\x7f-\x9f]|[?#])[^\s\x00-\x1f\x7f-\x9f]*|(ssh|ssh\+git|git\+ssh)://([^@:/?#\s\x00-\x1f\x7f-\x9f]+@)?[A-Za-z0-9._~!$&'()*+,;=%][A-Za-z0-9._~!$&'()*+,;=%-]*(:[A-Za-z0-9._~!$&'()*+,;=%:-]*)?(/+[^/\s\x00-\x1f\x7f-\x9f]|[?#])[^\s\x00-\x1f\x7f-\x9f]*|([A-Za-z0-9._][A-Za-z0-9._-]*@)?[A-Za-z0-9._][A-Za-z0-9._-]*:[^\s\x00-\x1f\x7f-\x9f]+)$"
    )]
    pub git_repo_url: Option<String>,
    /// Short branch name (`git check-ref-format --branch`). Default `main`.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f~^:?*\[\\/.-]([^\s\x00-\x1f\x7f-\x9f~^:?*\[\\]*[^\s\x00-\x1f\x7f-\x9f~^:?*\[\\/.])?$"
    )]
    pub git_branch: Option<String>,
    /// Folder under `workflows/` in the repository, e.g. `dev` or `teams/ops`: letters, digits,
    /// `-`, `_`, `.` and `/`, without `.`, `..` or `.git` parts.
    #[schema(
        max_length = 255,
        pattern = r"^([A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+)(/([A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+))*$"
    )]
    pub git_folder: Option<String>,
    /// Token for https Git remotes; stored encrypted, never returned.
    #[schema(format = Password, max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub git_token: Option<String>,
}

/// Every field is optional; for `api_key`, `git_repo_url`, `git_folder` and `git_token`, `null`
/// clears the value while an absent field leaves it unchanged.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironmentRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, max_length = 2048, pattern = r"^https?://[A-Za-z0-9._~!$&'()*+,;=%:-]+([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = requested_provider, required = false)]
    pub provider: Option<Provider>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = EnvironmentClass, required = false)]
    pub environment_class: Option<EnvironmentClass>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, required = false, nullable, format = Password, max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub api_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = DriftHandlingMode, required = false)]
    pub drift_handling_mode: Option<DriftHandlingMode>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, required = false, nullable, min_length = 1, max_length = 2048, pattern = r"^(/[^\s\x00-\x1f\x7f-\x9f]*|file:///[^\s\x00-\x1f\x7f-\x9f]*|https://[A-Za-z0-9._~!$&'()*+,;=%][A-Za-z0-9._~!$&'()*+,;=%-]*(:[A-Za-z0-9._~!$&'()*+,;=%:-]*)?(/+[^/\s\x00-\x1f\x7f-\x9f]|[?#])[^\s\x00-\x1f\x7f-\x9f]*|(http|git)://([Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|127\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|\[::1\])(:[A-Za-z0-9._~!$&'()*+,;=%:-]*)?(/+[^/\s\x00-\x1f\x7f-\x9f]|[?#])[^\s\x00-\x1f\x7f-\x9f]*|(ssh|ssh\+git|git\+ssh)://([^@:/?#\s\x00-\x1f\x7f-\x9f]+@)?[A-Za-z0-9._~!$&'()*+,;=%][A-Za-z0-9._~!$&'()*+,;=%-]*(:[A-Za-z0-9._~!$&'()*+,;=%:-]*)?(/+[^/\s\x00-\x1f\x7f-\x9f]|[?#])[^\s\x00-\x1f\x7f-\x9f]*|([A-Za-z0-9._][A-Za-z0-9._-]*@)?[A-Za-z0-9._][A-Za-z0-9._-]*:[^\s\x00-\x1f\x7f-\x9f]+)$")]
    pub git_repo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 255, pattern = r"^[^\s\x00-\x1f\x7f-\x9f~^:?*\[\\/.-]([^\s\x00-\x1f\x7f-\x9f~^:?*\[\\]*[^\s\x00-\x1f\x7f-\x9f~^:?*\[\\/.])?$")]
    pub git_branch: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, required = false, nullable, max_length = 255, pattern = r"^([A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+)(/([A-Za-z0-9_-][A-Za-z0-9_.-]*|\.[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.\.[A-Za-z0-9_.-]+))*$")]
    pub git_folder: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, required = false, nullable, format = Password, max_length = 4096, pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$")]
    pub git_token: Option<Option<String>>,
}

/// A field that may be absent but, when present, must not be `null`.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field where absent (outer `None`) and `null` (`Some(None)`) mean different things.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// An environment as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentView {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    #[schema(value_type = Provider)]
    pub provider: String,
    #[schema(value_type = EnvironmentClass)]
    pub environment_class: String,
    #[schema(value_type = DriftHandlingMode)]
    pub drift_handling_mode: String,
    pub has_api_key: bool,
    pub git_repo_url: Option<String>,
    pub git_branch: String,
    pub git_folder: Option<String>,
    pub has_git_token: bool,
    /// IN_SYNC, DRIFT_DETECTED, UNTRACKED, DRIFT_INCIDENT_ACTIVE, DRIFT_INCIDENT_ACKNOWLEDGED,
    /// UNKNOWN or ERROR.
    pub drift_status: String,
    /// Why the environment has this drift status: the last check's error (`ERROR`), what is
    /// missing (`UNKNOWN`), or which workflows could not be read; `null` when the last check
    /// saw everything.
    pub drift_status_reason: Option<String>,
    /// What the last drift check counted (`counts`, `check_status`, `git_commit`, …).
    #[schema(value_type = Option<Object>)]
    pub drift_summary: Option<serde_json::Value>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_drift_check_at: Option<DateTime<Utc>>,
    pub last_drift_detected_at: Option<DateTime<Utc>>,
    pub active_drift_incident_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Environment> for EnvironmentView {
    fn from(e: Environment) -> Self {
        Self {
            id: e.id,
            name: e.name,
            url: e.url,
            provider: e.provider.as_str().to_string(),
            environment_class: e.environment_class.as_str().to_string(),
            drift_handling_mode: e.drift_handling_mode,
            has_api_key: e.api_key_encrypted.is_some(),
            git_repo_url: e.git_repo_url,
            git_branch: e.git_branch,
            git_folder: e.git_folder,
            has_git_token: e.git_token_encrypted.is_some(),
            drift_status: e.drift_status.as_str().to_string(),
            drift_status_reason: e.drift_status_reason,
            drift_summary: e.drift_summary,
            last_heartbeat_at: e.last_heartbeat_at,
            last_sync_at: e.last_sync_at,
            last_drift_check_at: e.last_drift_check_at,
            last_drift_detected_at: e.last_drift_detected_at,
            active_drift_incident_id: e.active_drift_incident_id,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedView {
    pub id: Uuid,
    pub deleted: bool,
}

// ---------------------------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------------------------

const MAX_URL_LEN: usize = 2048;
const MAX_SECRET_LEN: usize = 4096;

fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `scheme://authority/...` → authority, or `None` when there is none.
fn authority(rest: &str) -> &str {
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// A host (and port) of ASCII letters, digits and the other characters RFC 3986 allows in a
/// registered name: internationalized names in their `xn--` form, no IPv6 literals.
fn host_ok(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._~!$&'()*+,;=%:-".contains(&b))
}

pub(crate) fn validate_url(value: &str) -> Result<String, ApiError> {
    let url = value;
    if url.is_empty() {
        return Err(ApiError::field("url", "must not be empty"));
    }
    if url.chars().count() > MAX_URL_LEN || has_space_or_control(url) {
        return Err(ApiError::field(
            "url",
            "must be a URL without spaces, at most 2048 characters",
        ));
    }
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        ("https://", rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http://", rest)
    } else {
        return Err(ApiError::field(
            "url",
            "must start with http:// or https://",
        ));
    };
    let rest = rest.trim_end_matches('/');
    let host = authority(rest);
    if host.is_empty() {
        return Err(ApiError::field("url", "must name a host"));
    }
    if host.contains('@') {
        return Err(ApiError::field(
            "url",
            "must not embed credentials; use api_key",
        ));
    }
    if !host_ok(host) {
        return Err(ApiError::field(
            "url",
            "must name a host of ASCII letters, digits and `.-_~!$&'()*+,;=%:`",
        ));
    }
    Ok(format!("{scheme}{rest}"))
}

// The Git settings follow `wfops_git::validate`, the rules the Git adapter applies to the same
// values, so that what is accepted here can be synced; values are stored exactly as given.

fn validate_git_repo_url(value: &str) -> Result<String, ApiError> {
    wfops_git::validate::remote_url(value)?;
    Ok(value.to_string())
}

fn validate_git_branch(value: &str) -> Result<String, ApiError> {
    wfops_git::validate::branch(value)?;
    Ok(value.to_string())
}

fn validate_git_folder(value: &str) -> Result<String, ApiError> {
    wfops_git::validate::folder(value)?;
    Ok(value.to_string())
}

/// Only n8n can be synced today; `make` is part of the data model for the provider to come,
/// and accepting it now would only produce environments whose every sync fails.
fn supported_provider(provider: Provider) -> Result<Provider, ApiError> {
    match provider {
        Provider::N8n => Ok(provider),
        Provider::Make => Err(ApiError::field(
            "provider",
            "\"make\" is not supported yet; only \"n8n\" environments can be synced",
        )),
    }
}

fn validate_secret(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::field(
            field,
            "must not be empty (use null to clear it)",
        ));
    }
    if value.chars().count() > MAX_SECRET_LEN {
        return Err(ApiError::field(field, "must be at most 4096 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn encrypt(state: &AppState, field: &str, value: &str) -> Result<String, ApiError> {
    validate_secret(field, value)?;
    state.cipher.encrypt_str(value).map_err(ApiError::from)
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::new(
        Code::EnvironmentNotFound,
        format!("environment {id} not found"),
    )
}

fn map_not_found(id: Uuid) -> impl Fn(wfops_db::Error) -> ApiError {
    move |e| match e {
        wfops_db::Error::NotFound => not_found(id),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------------------------

/// Lists the tenant's environments by name.
#[utoipa::path(
    get, path = "/api/v1/environments", tag = "environments", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of environments", body = Paginated<EnvironmentView>),
        (status = 400, description = "Bad pagination parameters", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Viewer)?;
    let page = query.parse()?;
    let (rows, total) = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move { environments::list(conn, page.offset(), page.limit()).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    let data = rows.into_iter().map(EnvironmentView::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(data, page, total)))
}

#[utoipa::path(
    get, path = "/api/v1/environments/{id}", tag = "environments", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 200, description = "The environment", body = Envelope<EnvironmentView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody)
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
            async move { environments::get(conn, id).await }.scope_boxed()
        })
        .await
        .map_err(map_not_found(id))?;
    Ok(HttpResponse::Ok().json(Envelope::new(EnvironmentView::from(row))))
}

#[utoipa::path(
    post, path = "/api/v1/environments", tag = "environments", security(("bearer" = [])),
    request_body = CreateEnvironmentRequest,
    responses(
        (status = 201, description = "Environment created", body = Envelope<EnvironmentView>),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 409, description = "An environment with this name exists", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    body: Body<CreateEnvironmentRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let req = body.0;
    let name = validate_name("name", &req.name)?;
    let url = validate_url(&req.url)?;
    let git_repo_url = req
        .git_repo_url
        .as_deref()
        .map(validate_git_repo_url)
        .transpose()?;
    let git_branch = match req.git_branch.as_deref() {
        Some(b) => validate_git_branch(b)?,
        None => "main".to_string(),
    };
    let git_folder = req
        .git_folder
        .as_deref()
        .map(validate_git_folder)
        .transpose()?;
    let api_key = req
        .api_key
        .as_deref()
        .map(|k| encrypt(&state, "api_key", k))
        .transpose()?;
    let git_token = req
        .git_token
        .as_deref()
        .map(|t| encrypt(&state, "git_token", t))
        .transpose()?;
    let tenant_id = auth.caller.tenant_id;
    let (auth_ref, meta_ref) = (&auth, &meta);
    let new = NewEnvironment {
        tenant_id,
        name: &name,
        url: &url,
        provider: supported_provider(req.provider)?.as_str(),
        environment_class: req.environment_class.as_str(),
        api_key_encrypted: api_key.as_deref(),
        drift_handling_mode: req.drift_handling_mode.as_str(),
        git_repo_url: git_repo_url.as_deref(),
        git_branch: &git_branch,
        git_folder: git_folder.as_deref(),
        git_token_encrypted: git_token.as_deref(),
    };
    let new_ref = &new;
    let row = state
        .db
        .tenant_tx(tenant_id, |conn| {
            async move {
                let row = environments::insert(conn, new_ref).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "environment.create",
                    "environment",
                    row.id,
                    json!({
                        "name": row.name,
                        "url": row.url,
                        "environment_class": row.environment_class,
                        "has_api_key": row.api_key_encrypted.is_some(),
                        "has_git_token": row.git_token_encrypted.is_some(),
                    }),
                )
                .await?;
                Ok::<_, wfops_db::Error>(row)
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(HttpResponse::Created().json(Envelope::with_message(
        EnvironmentView::from(row),
        "environment created",
    )))
}

#[utoipa::path(
    patch, path = "/api/v1/environments/{id}", tag = "environments", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Environment id")),
    request_body = UpdateEnvironmentRequest,
    responses(
        (status = 200, description = "Environment updated", body = Envelope<EnvironmentView>),
        (status = 400, description = "Malformed JSON or `id` not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody),
        (status = 409, description = "An environment with this name exists", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Invalid field or empty update", body = ErrorBody)
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    auth: Auth,
    meta: RequestMeta,
    path: web::Path<Uuid>,
    body: Body<UpdateEnvironmentRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    let id = path.into_inner();
    let req = body.0;
    let mut changes = EnvironmentChanges {
        name: req
            .name
            .as_deref()
            .map(|n| validate_name("name", n))
            .transpose()?,
        url: req.url.as_deref().map(validate_url).transpose()?,
        provider: req
            .provider
            .map(supported_provider)
            .transpose()?
            .map(|p| p.as_str().to_string()),
        environment_class: req.environment_class.map(|c| c.as_str().to_string()),
        drift_handling_mode: req.drift_handling_mode.map(|m| m.as_str().to_string()),
        git_branch: req
            .git_branch
            .as_deref()
            .map(validate_git_branch)
            .transpose()?,
        ..Default::default()
    };
    changes.git_repo_url = match req.git_repo_url {
        None => None,
        Some(None) => Some(None),
        Some(Some(u)) => Some(Some(validate_git_repo_url(&u)?)),
    };
    changes.git_folder = match req.git_folder {
        None => None,
        Some(None) => Some(None),
        Some(Some(f)) => Some(Some(validate_git_folder(&f)?)),
    };
    changes.api_key_encrypted = match req.api_key {
        None => None,
        Some(None) => Some(None),
        Some(Some(k)) => Some(Some(encrypt(&state, "api_key", &k)?)),
    };
    changes.git_token_encrypted = match req.git_token {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(encrypt(&state, "git_token", &t)?)),
    };
    if changes.is_empty() {
        return Err(ApiError::new(
            Code::EmptyUpdate,
            "the body must set at least one field to change",
        ));
    }
    // Field names only: the audit trail must not hold the new secrets.
    let changed = changed_fields(&changes);
    let (auth_ref, meta_ref, changes_ref) = (&auth, &meta, &changes);
    let row = state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let row = environments::update(conn, id, changes_ref).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "environment.update",
                    "environment",
                    id,
                    json!({ "changed": changed }),
                )
                .await?;
                Ok::<_, wfops_db::Error>(row)
            }
            .scope_boxed()
        })
        .await
        .map_err(map_not_found(id))?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        EnvironmentView::from(row),
        "environment updated",
    )))
}

fn changed_fields(c: &EnvironmentChanges) -> Vec<&'static str> {
    let mut out = Vec::new();
    let pairs: [(&'static str, bool); 10] = [
        ("name", c.name.is_some()),
        ("url", c.url.is_some()),
        ("provider", c.provider.is_some()),
        ("environment_class", c.environment_class.is_some()),
        ("api_key", c.api_key_encrypted.is_some()),
        ("drift_handling_mode", c.drift_handling_mode.is_some()),
        ("git_repo_url", c.git_repo_url.is_some()),
        ("git_branch", c.git_branch.is_some()),
        ("git_folder", c.git_folder.is_some()),
        ("git_token", c.git_token_encrypted.is_some()),
    ];
    for (name, set) in pairs {
        if set {
            out.push(name);
        }
    }
    out
}

#[utoipa::path(
    delete, path = "/api/v1/environments/{id}", tag = "environments", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Environment id")),
    responses(
        (status = 200, description = "Environment deleted: archived with its history kept, its \
            pending and running jobs cancelled", body = Envelope<DeletedView>),
        (status = 400, description = "`id` is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Requires admin", body = ErrorBody),
        (status = 404, description = "No such environment in this tenant", body = ErrorBody)
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
    // Deleting archives the environment (docs/decisions/environment-deletion.md): its jobs are
    // cancelled in the same transaction, so a sync that is running stops at its next write
    // instead of failing on a row that vanished, and the history that refers to it stays.
    state
        .db
        .tenant_tx(auth.caller.tenant_id, |conn| {
            async move {
                let archived = environments::archive(conn, id).await?;
                record(
                    conn,
                    auth_ref,
                    meta_ref,
                    "environment.delete",
                    "environment",
                    id,
                    json!({ "name": archived.name, "cancelled_jobs": archived.cancelled_jobs }),
                )
                .await
            }
            .scope_boxed()
        })
        .await
        .map_err(|e| match e {
            wfops_db::Error::NotFound => not_found(id),
            other => other.into(),
        })?;
    Ok(HttpResponse::Ok().json(Envelope::with_message(
        DeletedView { id, deleted: true },
        "environment deleted",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn urls() {
        assert_eq!(
            validate_url("https://n8n.example.com/").unwrap(),
            "https://n8n.example.com"
        );
        assert!(validate_url("http://localhost:5678").is_ok());
        assert!(validate_url("https://xn--exmple-cua.com:8443/n8n").is_ok());
        for (bad, why) in [
            ("", "empty"),
            ("ftp://x", "http"),
            ("n8n.example.com", "http"),
            ("https://", "host"),
            ("https://user:pw@host", "credentials"),
            ("https://ho st", "spaces"),
            (" https://n8n.example.com", "spaces"),
            ("http://[abc", "ASCII"),
            ("http://[::1]:5678", "ASCII"),
            ("https://ex\u{e4}mple.com", "ASCII"),
        ] {
            let m = msg(validate_url(bad).unwrap_err());
            assert!(m.starts_with("url:") && m.contains(why), "{bad}: {m}");
        }
    }

    #[test]
    fn only_n8n_is_accepted_as_provider() {
        assert!(supported_provider(Provider::N8n).is_ok());
        let err = supported_provider(Provider::Make).unwrap_err();
        assert_eq!(err.code().as_str(), "provider_not_supported");
    }

    #[test]
    fn changed_fields_lists_names_only() {
        let c = EnvironmentChanges {
            name: Some("x".into()),
            api_key_encrypted: Some(Some("v1:secret".into())),
            git_folder: Some(None),
            ..Default::default()
        };
        assert_eq!(changed_fields(&c), vec!["name", "api_key", "git_folder"]);
    }
}
