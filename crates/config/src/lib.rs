#![doc = include_str!("../README.md")]

mod cipher;
mod deadlines;
mod error;
pub mod local;
mod secret;
mod strength;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

pub use cipher::{generate_key_base64, Cipher};
pub use error::Error;
pub use secret::Secret;

/// The variable that switches on the embedded local default (a private PostgreSQL cluster under
/// `WFOPS_HOME` and generated secrets). `./dev` sets it; production never should.
pub const EMBEDDED_SWITCH: &str = "WFOPS_EMBEDDED_PG";

/// Where the apps find their database.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// `DATABASE_URL`: the server and the migrating role.
    Url(Secret<String>),
    /// The embedded local cluster under this `WFOPS_HOME` (switched on by [`EMBEDDED_SWITCH`]).
    Embedded(PathBuf),
}

/// How log lines are written: JSON for machines (the default), pretty for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Every environment variable of WorkflowOps, parsed once.
///
/// Components receive this struct (or the parts they need) instead of reading the environment
/// themselves, so a typo in a variable is reported at start-up with the variable's name rather
/// than as odd behaviour hours later.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: the server and migrating role. `None` selects the embedded local cluster
    /// when `embedded_pg` is on, and is a start-up error otherwise.
    pub database_url: Option<Secret<String>>,
    /// `WFOPS_EMBEDDED_PG` (default false): without `DATABASE_URL`, create and start a private
    /// cluster under `WFOPS_HOME` and generate the secrets into `<WFOPS_HOME>/secrets.env`.
    /// Off by default so that a production process missing its `DATABASE_URL` stops instead of
    /// quietly running on a throw-away database with throw-away keys.
    pub embedded_pg: bool,
    /// `WFOPS_HOME`: where the embedded cluster and `secrets.env` live (default `./.wfops`).
    pub home: PathBuf,
    /// `API_BIND` (default `127.0.0.1:4000`).
    pub api_bind: SocketAddr,
    /// `PUBLIC_URL`: the URL users reach the API at (default `http://<API_BIND>`).
    pub public_url: String,
    /// `JWT_SECRET` (at least 32 characters). `None` until [`Config::ensure_local_secrets`]
    /// fills it for the embedded default.
    pub jwt_secret: Option<Secret<String>>,
    /// `JWT_TTL_SECONDS` (default 3600).
    pub jwt_ttl_seconds: u64,
    /// `ENCRYPTION_KEY` (base64 of 32 bytes), the AES-256-GCM key for secrets at rest.
    pub encryption_key: Option<Secret<[u8; 32]>>,
    /// `DB_POOL_SIZE` (default 10).
    pub db_pool_size: usize,
    /// `LOG_FORMAT` json|pretty (default json).
    pub log_format: LogFormat,
    /// `RUST_LOG` (default `info,tokio_postgres=warn`: server NOTICEs are noise), a
    /// tracing-subscriber env filter.
    pub log_filter: String,
    /// `MAX_BODY_BYTES` (default 1 MiB).
    pub max_body_bytes: usize,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins; empty means no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
    /// `RATE_LIMIT_PER_MINUTE` per tenant and per client IP (default 120; 0 disables).
    pub rate_limit_per_minute: u32,
    /// `SYNC_BATCH_SIZE` (default 25, docs/sync-and-identity.md#environment-sync).
    pub sync_batch_size: usize,
    /// `WORKER_CONCURRENCY` (default 4).
    pub worker_concurrency: usize,
    /// `JOB_LEASE_SECONDS` (default 60).
    pub job_lease_seconds: u64,
    /// `JOB_MAX_ATTEMPTS` (default 5).
    pub job_max_attempts: u32,
    /// `JOB_DEADLINES`: `job_type=seconds,…`, overriding the deadline a job type declares
    /// (default: none overridden).
    pub job_deadlines: BTreeMap<String, u64>,
    /// `JOB_RETENTION_DAYS`: finished jobs and their events are deleted after this (default 30).
    pub job_retention_days: u32,
    /// `AUDIT_LOG_RETENTION_DAYS` (default 365).
    pub audit_log_retention_days: u32,
    /// `STALE_DEPLOYMENT_SECONDS` (default 3600, docs/promotion.md#stale-deployments).
    pub stale_deployment_seconds: u64,
    /// `DRIFT_CHECK_INTERVAL_SECONDS` (default 300).
    pub drift_check_interval_seconds: u64,
    /// `TTL_CHECK_INTERVAL_SECONDS` (default 60).
    pub ttl_check_interval_seconds: u64,
    /// `RETENTION_CLEANUP_INTERVAL_SECONDS` (default 86400).
    pub retention_cleanup_interval_seconds: u64,
    /// `DEPLOYMENT_CHECK_INTERVAL_SECONDS` (default 10).
    pub deployment_check_interval_seconds: u64,
    /// `HEALTH_CHECK_INTERVAL_SECONDS` (default 300).
    pub health_check_interval_seconds: u64,
    /// `SYNC_SCHEDULER_ENABLED` (default false).
    pub sync_scheduler_enabled: bool,
    /// `SYNC_INTERVAL_SECONDS` (default 3600) for the canonical sync scheduler when enabled.
    pub sync_interval_seconds: u64,
    /// `ROLLUP_INTERVAL_SECONDS` (default 600).
    pub rollup_interval_seconds: u64,
    /// `DOWNGRADE_ENFORCEMENT_INTERVAL_SECONDS` (default 3600).
    pub downgrade_enforcement_interval_seconds: u64,
    /// `ALERT_RULES_EVALUATION_INTERVAL_SECONDS` (default 300).
    pub alert_rules_evaluation_interval_seconds: u64,
    /// `GIT_CONNECT_TIMEOUT_SECONDS` (default 10): opening a connection to a Git remote.
    pub git_connect_timeout_seconds: u64,
    /// `GIT_READ_TIMEOUT_SECONDS` (default 60): how long a connected Git remote may stay silent.
    pub git_read_timeout_seconds: u64,
    /// `N8N_CONNECT_TIMEOUT_SECONDS` (default 5): opening a connection to an n8n instance.
    pub n8n_connect_timeout_seconds: u64,
    /// `N8N_REQUEST_TIMEOUT_SECONDS` (default 30): one whole request to an n8n instance.
    pub n8n_request_timeout_seconds: u64,
    /// `SMTP_URL`: the mail server notifications are sent through, `smtp://host:port` (STARTTLS
    /// when the server offers it), `smtp://host:port?tls=required` or `smtps://host:port`
    /// (implicit TLS); credentials as `smtp://user:password@host`. A secret: it may hold a
    /// password. `None`: email channels fail their deliveries with a message that says so.
    pub smtp_url: Option<Secret<String>>,
    /// `SMTP_FROM` (default `WorkflowOps <workflowops@localhost>`): the sender of notification
    /// emails.
    pub smtp_from: String,
    /// `NOTIFY_TIMEOUT_SECONDS` (default 10): one whole outgoing notification request (webhook,
    /// Slack, or SMTP session), connection included.
    pub notify_timeout_seconds: u64,
    /// `NOTIFY_ALLOW_PRIVATE_TARGETS` (default false): let webhook and Slack channels reach
    /// loopback, private, link-local and other non-public addresses (local development and
    /// tests; docs/decisions/outbound-webhooks.md).
    pub notify_allow_private_targets: bool,
}

/// The secrets an app needs once configuration is complete.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub cipher: Cipher,
    pub jwt_secret: Secret<String>,
}

pub(crate) use strength::check_jwt_secret;

impl Config {
    /// Reads the process environment, with a `.env` file of the current directory underneath it
    /// (a variable set in the process wins over the file, as with dotenv everywhere).
    pub fn from_env() -> Result<Self, Error> {
        let dotenv = read_dotenv()?;
        Self::from_lookup(|name| {
            std::env::var(name)
                .ok()
                .or_else(|| dotenv.get(name).cloned())
        })
    }

    /// Parses from any source of variables; tests use it instead of mutating the process
    /// environment (which would race between test threads).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));

        let api_bind: SocketAddr = parse_or(&get, "API_BIND", "127.0.0.1:4000".parse().ok())?;
        let public_url = match get("PUBLIC_URL") {
            Some(url) => parse_public_url(&url)?,
            None => format!("http://{api_bind}"),
        };
        let jwt_secret = match get("JWT_SECRET") {
            Some(s) => {
                check_jwt_secret(&s)?;
                Some(Secret::new(s))
            }
            None => None,
        };
        let encryption_key = match get("ENCRYPTION_KEY") {
            Some(k) => {
                let key = cipher::parse_key(&k)?;
                strength::check_encryption_key(key.expose())?;
                Some(key)
            }
            None => None,
        };
        let home = match get("WFOPS_HOME") {
            Some(h) => {
                let p = PathBuf::from(h);
                if p.is_absolute() {
                    p
                } else {
                    cwd.join(p)
                }
            }
            None => cwd.join(".wfops"),
        };
        let database_url = match get("DATABASE_URL") {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(Error::Invalid {
                        var: "DATABASE_URL",
                        reason: "must start with postgres:// or postgresql://".into(),
                    });
                }
                Some(Secret::new(url))
            }
            None => None,
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(Error::Invalid {
                    var: "LOG_FORMAT",
                    reason: format!("must be `json` or `pretty`, got `{other}`"),
                })
            }
        };
        let cors_allowed_origins = match get("CORS_ALLOWED_ORIGINS") {
            Some(list) => parse_origins(&list)?,
            None => Vec::new(),
        };

        let smtp_url = match get("SMTP_URL") {
            Some(url) => {
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    // the value is not echoed: it may hold a password
                    return Err(Error::Invalid {
                        var: "SMTP_URL",
                        reason: "must start with smtp:// or smtps://".into(),
                    });
                }
                Some(Secret::new(url))
            }
            None => None,
        };

        Ok(Self {
            database_url,
            embedded_pg: boolean(&get, EMBEDDED_SWITCH, false)?,
            home,
            api_bind,
            public_url,
            jwt_secret,
            jwt_ttl_seconds: range(&get, "JWT_TTL_SECONDS", 3600, 60, 30 * 86400)?,
            encryption_key,
            db_pool_size: range(&get, "DB_POOL_SIZE", 10, 1, 1000)?,
            log_format,
            log_filter: get("RUST_LOG").unwrap_or_else(|| "info,tokio_postgres=warn".into()),
            max_body_bytes: range(
                &get,
                "MAX_BODY_BYTES",
                1024 * 1024,
                1024,
                1024 * 1024 * 1024,
            )?,
            cors_allowed_origins,
            rate_limit_per_minute: range(&get, "RATE_LIMIT_PER_MINUTE", 120, 0, 1_000_000)?,
            sync_batch_size: range(&get, "SYNC_BATCH_SIZE", 25, 1, 10_000)?,
            worker_concurrency: range(&get, "WORKER_CONCURRENCY", 4, 1, 1024)?,
            job_lease_seconds: range(&get, "JOB_LEASE_SECONDS", 60, 3, 86400)?,
            job_max_attempts: range(&get, "JOB_MAX_ATTEMPTS", 5, 1, 100)?,
            job_deadlines: deadlines::parse(&get("JOB_DEADLINES").unwrap_or_default())?,
            job_retention_days: range(&get, "JOB_RETENTION_DAYS", 30, 1, 36500)?,
            audit_log_retention_days: range(&get, "AUDIT_LOG_RETENTION_DAYS", 365, 1, 36500)?,
            stale_deployment_seconds: range(&get, "STALE_DEPLOYMENT_SECONDS", 3600, 1, 31_536_000)?,
            drift_check_interval_seconds: interval(&get, "DRIFT_CHECK_INTERVAL_SECONDS", 300)?,
            ttl_check_interval_seconds: interval(&get, "TTL_CHECK_INTERVAL_SECONDS", 60)?,
            retention_cleanup_interval_seconds: interval(
                &get,
                "RETENTION_CLEANUP_INTERVAL_SECONDS",
                86400,
            )?,
            deployment_check_interval_seconds: interval(
                &get,
                "DEPLOYMENT_CHECK_INTERVAL_SECONDS",
                10,
            )?,
            health_check_interval_seconds: interval(&get, "HEALTH_CHECK_INTERVAL_SECONDS", 300)?,
            sync_scheduler_enabled: boolean(&get, "SYNC_SCHEDULER_ENABLED", false)?,
            sync_interval_seconds: interval(&get, "SYNC_INTERVAL_SECONDS", 3600)?,
            rollup_interval_seconds: interval(&get, "ROLLUP_INTERVAL_SECONDS", 600)?,
            downgrade_enforcement_interval_seconds: interval(
                &get,
                "DOWNGRADE_ENFORCEMENT_INTERVAL_SECONDS",
                3600,
            )?,
            alert_rules_evaluation_interval_seconds: interval(
                &get,
                "ALERT_RULES_EVALUATION_INTERVAL_SECONDS",
                300,
            )?,
            git_connect_timeout_seconds: range(&get, "GIT_CONNECT_TIMEOUT_SECONDS", 10, 1, 600)?,
            git_read_timeout_seconds: range(&get, "GIT_READ_TIMEOUT_SECONDS", 60, 1, 3600)?,
            n8n_connect_timeout_seconds: range(&get, "N8N_CONNECT_TIMEOUT_SECONDS", 5, 1, 600)?,
            n8n_request_timeout_seconds: range(&get, "N8N_REQUEST_TIMEOUT_SECONDS", 30, 1, 3600)?,
            smtp_url,
            smtp_from: get("SMTP_FROM")
                .unwrap_or_else(|| "WorkflowOps <workflowops@localhost>".into()),
            notify_timeout_seconds: range(&get, "NOTIFY_TIMEOUT_SECONDS", 10, 1, 300)?,
            notify_allow_private_targets: boolean(&get, "NOTIFY_ALLOW_PRIVATE_TARGETS", false)?,
        })
    }

    /// A configuration with every default and fixed test secrets; never reads the environment.
    /// The embedded switch is on (tests are local development), but tests normally set
    /// `database_url` to their own test database.
    // The defaults are constants of this file: parsing them can only fail through a bug here,
    // which the test `for_tests_is_complete` catches; a test helper panicking on it is right.
    #[allow(clippy::expect_used)]
    pub fn for_tests() -> Self {
        let mut c = Self::from_lookup(|name| (name == EMBEDDED_SWITCH).then(|| "1".to_owned()))
            .expect("defaults are valid");
        c.jwt_secret = Some(Secret::new(
            "test-jwt-secret-test-jwt-secret-0123456789".into(),
        ));
        c.encryption_key = Some(Secret::new([42u8; 32]));
        c
    }

    /// True when no `DATABASE_URL` is set and the embedded switch is on.
    pub fn uses_embedded_db(&self) -> bool {
        self.database_url.is_none() && self.embedded_pg
    }

    /// Where the database is, or the error a process must stop with: neither `DATABASE_URL`
    /// nor the embedded switch is set.
    pub fn database(&self) -> Result<DatabaseSource, Error> {
        match &self.database_url {
            Some(url) => Ok(DatabaseSource::Url(url.clone())),
            None if self.embedded_pg => Ok(DatabaseSource::Embedded(self.home.clone())),
            None => Err(Error::NoDatabase),
        }
    }

    /// Fills `JWT_SECRET` and `ENCRYPTION_KEY` from `<home>/secrets.env` (generated once) when
    /// they are not set explicitly and the embedded default is in use. Otherwise a missing
    /// secret is an error: silently generating a key on a production host would make stored
    /// secrets unreadable after the next redeploy.
    pub fn ensure_local_secrets(&mut self) -> Result<(), Error> {
        self.database()?;
        if self.jwt_secret.is_some() && self.encryption_key.is_some() {
            return Ok(());
        }
        if !self.uses_embedded_db() {
            let var = if self.encryption_key.is_none() {
                "ENCRYPTION_KEY"
            } else {
                "JWT_SECRET"
            };
            return Err(Error::Missing {
                var,
                hint: "set it explicitly when DATABASE_URL is set",
            });
        }
        let local = local::ensure_secrets(&self.home)?;
        if self.jwt_secret.is_none() {
            self.jwt_secret = Some(local.jwt_secret);
        }
        if self.encryption_key.is_none() {
            self.encryption_key = Some(local.encryption_key);
        }
        Ok(())
    }

    /// The secrets, or an error naming the variable that is still missing.
    pub fn secrets(&self) -> Result<Secrets, Error> {
        let key = self.encryption_key.as_ref().ok_or(Error::Missing {
            var: "ENCRYPTION_KEY",
            hint: "base64 of 32 random bytes (`openssl rand -base64 32`)",
        })?;
        let jwt_secret = self.jwt_secret.clone().ok_or(Error::Missing {
            var: "JWT_SECRET",
            hint: "at least 32 random characters",
        })?;
        Ok(Secrets {
            cipher: Cipher::new(key.expose()),
            jwt_secret,
        })
    }

    pub fn public_url_is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

fn read_dotenv() -> Result<HashMap<String, String>, Error> {
    let iter = match dotenvy::dotenv_iter() {
        Ok(iter) => iter,
        Err(e) if e.not_found() => return Ok(HashMap::new()),
        Err(e) => return Err(dotenv_error(&e)),
    };
    let mut out = HashMap::new();
    for item in iter {
        let (k, v) = item.map_err(|e| dotenv_error(&e))?;
        out.insert(k, v);
    }
    Ok(out)
}

/// dotenvy's own message quotes the offending line, which may hold a secret.
fn dotenv_error(e: &dotenvy::Error) -> Error {
    let reason = match e {
        dotenvy::Error::LineParse(_, index) => {
            format!("syntax error at character {index} of a line (not shown: it may hold a secret)")
        }
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "unreadable".into(),
    };
    Error::DotEnv { reason }
}

fn parse_or<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Option<T>,
) -> Result<T, Error>
where
    T::Err: std::fmt::Display,
{
    match get(var) {
        Some(raw) => raw.parse::<T>().map_err(|e| Error::Invalid {
            var,
            reason: format!("`{raw}`: {e}"),
        }),
        None => default.ok_or(Error::Missing {
            var,
            hint: "no default",
        }),
    }
}

fn range<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, Error>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    let value: T = raw.parse().map_err(|_| Error::Invalid {
        var,
        reason: format!("`{raw}` is not a whole number"),
    })?;
    if value < min || value > max {
        return Err(Error::Invalid {
            var,
            reason: format!("{value} is out of range {min}..={max}"),
        });
    }
    Ok(value)
}

fn interval(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<u64, Error> {
    range(get, var, default, 1, 31_536_000)
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, Error> {
    match get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(Error::Invalid {
            var,
            reason: format!("`{other}` is not a boolean (true/false/1/0/yes/no/on/off)"),
        }),
    }
}

fn parse_public_url(url: &str) -> Result<String, Error> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(trimmed.to_string())
        }
        _ => Err(Error::Invalid {
            var: "PUBLIC_URL",
            reason: format!("`{url}` must be an absolute http:// or https:// URL"),
        }),
    }
}

fn parse_origins(list: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if origin == "*" {
            return Err(Error::Invalid {
                var: "CORS_ALLOWED_ORIGINS",
                reason: "`*` is not allowed: list the exact origins".into(),
            });
        }
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains('/') => out.push(origin.to_string()),
            _ => {
                return Err(Error::Invalid {
                    var: "CORS_ALLOWED_ORIGINS",
                    reason: format!("`{origin}` is not an origin (scheme://host[:port], no path)"),
                })
            }
        }
    }
    Ok(out)
}
