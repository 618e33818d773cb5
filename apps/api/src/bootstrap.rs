//! Creating the first tenant, its first admin and an admin API key (`wfops-api bootstrap`).
//!
//! Idempotent on the tenant slug so that the quick-start script can run it on every start: a
//! second run finds the tenant and, only when asked (`--new-key`), issues another key.

use serde_json::json;
use uuid::Uuid;
use wfops_db::api_keys::{self, NewApiKey};
use wfops_db::audit::{self, NewAuditLog};
use wfops_db::users::{self, NewUser};
use wfops_db::{tenants, Db, ScopedFutureExt};
use wfops_tenancy::{api_key, normalize_email, password, slugify, Role};

use crate::error::ApiError;

/// No `Debug`: it carries the password.
pub struct BootstrapRequest {
    pub tenant_name: String,
    pub email: String,
    pub password: Option<String>,
    pub new_key: bool,
}

#[derive(Debug)]
pub struct BootstrapOutcome {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    /// False when the tenant already existed.
    pub created: bool,
    pub admin_user_id: Option<Uuid>,
    /// The full admin key, present when one was issued. Shown once, never stored.
    pub api_key: Option<String>,
}

pub async fn bootstrap(db: &Db, req: BootstrapRequest) -> Result<BootstrapOutcome, ApiError> {
    let name = req.tenant_name.trim().to_string();
    let slug = slugify(&name)?;
    let email = normalize_email(&req.email)?;
    let password_hash = match req.password.as_deref() {
        Some(p) => {
            let p = p.to_string();
            Some(
                tokio::task::spawn_blocking(move || password::hash_password(&p))
                    .await
                    .map_err(ApiError::internal)??,
            )
        }
        None => None,
    };

    let lookup = slug.clone();
    let existing = db
        .system_tx(|conn| {
            async move { tenants::find_id_by_slug(conn, &lookup).await }.scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;

    if let Some(tenant_id) = existing {
        let api_key = if req.new_key {
            let email_ref = &email;
            Some(
                db.tenant_tx(tenant_id, |conn| {
                    async move {
                        let creator = users::find_by_email(conn, email_ref).await?.map(|u| u.id);
                        issue_admin_key(conn, tenant_id, creator, "bootstrap (new key)").await
                    }
                    .scope_boxed()
                })
                .await
                .map_err(ApiError::from)?,
            )
        } else {
            None
        };
        return Ok(BootstrapOutcome {
            tenant_id,
            tenant_slug: slug,
            created: false,
            admin_user_id: None,
            api_key,
        });
    }

    let tenant_id = Uuid::new_v4();
    let (name_ref, slug_ref, email_ref, hash_ref) = (&name, &slug, &email, &password_hash);
    let (user_id, key) = db
        .tenant_tx(tenant_id, |conn| {
            async move {
                tenants::insert(conn, tenant_id, name_ref, slug_ref).await?;
                let user = users::insert(
                    conn,
                    &NewUser {
                        tenant_id,
                        email: email_ref,
                        display_name: None,
                        role: Role::Admin.as_str(),
                        password_hash: hash_ref.as_deref(),
                        is_platform_admin: false,
                    },
                )
                .await?;
                system_audit(
                    conn,
                    tenant_id,
                    "tenant.create",
                    "tenant",
                    tenant_id.to_string(),
                )
                .await?;
                system_audit(conn, tenant_id, "user.create", "user", user.id.to_string()).await?;
                let key = issue_admin_key(conn, tenant_id, Some(user.id), "bootstrap").await?;
                Ok::<_, wfops_db::Error>((user.id, key))
            }
            .scope_boxed()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(BootstrapOutcome {
        tenant_id,
        tenant_slug: slug,
        created: true,
        admin_user_id: Some(user_id),
        api_key: Some(key),
    })
}

async fn issue_admin_key(
    conn: &mut wfops_db::Conn,
    tenant_id: Uuid,
    created_by: Option<Uuid>,
    name: &str,
) -> Result<String, wfops_db::Error> {
    let generated = api_key::generate();
    let row = api_keys::insert(
        conn,
        &NewApiKey {
            tenant_id,
            name,
            key_prefix: &generated.prefix,
            secret_hash: &generated.secret_hash,
            role: Role::Admin.as_str(),
            created_by,
            expires_at: None,
        },
    )
    .await?;
    system_audit(
        conn,
        tenant_id,
        "api_key.create",
        "api_key",
        row.id.to_string(),
    )
    .await?;
    Ok(generated.plaintext().to_string())
}

async fn system_audit(
    conn: &mut wfops_db::Conn,
    tenant_id: Uuid,
    action: &str,
    resource_type: &str,
    resource_id: String,
) -> Result<(), wfops_db::Error> {
    audit::insert(
        conn,
        &NewAuditLog {
            tenant_id,
            actor_type: "system",
            actor_id: None,
            impersonated_user_id: None,
            action,
            resource_type,
            resource_id: Some(resource_id),
            details: json!({ "via": "bootstrap" }),
            request_id: None,
            ip_address: None,
        },
    )
    .await
    .map(|_| ())
}
