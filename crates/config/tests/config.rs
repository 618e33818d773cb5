use std::collections::HashMap;

use wfops_config::{Config, Error, LogFormat};

fn parse(vars: &[(&str, &str)]) -> Result<Config, Error> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn defaults() {
    let c = parse(&[]).unwrap();
    assert!(c.database_url.is_none());
    // the embedded default is off unless switched on
    assert!(!c.embedded_pg);
    assert!(!c.uses_embedded_db());
    assert!(c.home.ends_with(".wfops"));
    assert_eq!(c.api_bind.to_string(), "127.0.0.1:4000");
    assert_eq!(c.public_url, "http://127.0.0.1:4000");
    assert!(!c.public_url_is_https());
    assert!(c.jwt_secret.is_none());
    assert!(c.encryption_key.is_none());
    assert_eq!(c.jwt_ttl_seconds, 3600);
    assert_eq!(c.db_pool_size, 10);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.max_body_bytes, 1024 * 1024);
    assert!(c.cors_allowed_origins.is_empty());
    assert_eq!(c.rate_limit_per_minute, 120);
    assert_eq!(c.sync_batch_size, 25);
    assert_eq!(c.worker_concurrency, 4);
    assert_eq!(c.job_lease_seconds, 60);
    assert_eq!(c.job_max_attempts, 5);
    assert_eq!(c.stale_deployment_seconds, 3600);
    assert_eq!(c.drift_check_interval_seconds, 300);
    assert_eq!(c.ttl_check_interval_seconds, 60);
    assert_eq!(c.retention_cleanup_interval_seconds, 86400);
    assert_eq!(c.deployment_check_interval_seconds, 10);
    assert_eq!(c.health_check_interval_seconds, 300);
    assert!(!c.sync_scheduler_enabled);
    assert_eq!(c.sync_interval_seconds, 3600);
    assert_eq!(c.rollup_interval_seconds, 600);
    assert_eq!(c.downgrade_enforcement_interval_seconds, 3600);
    assert_eq!(c.alert_rules_evaluation_interval_seconds, 300);
    assert_eq!(c.job_retention_days, 30);
    assert_eq!(c.audit_log_retention_days, 365);
}

#[test]
fn explicit_values_are_parsed() {
    let key = wfops_config::generate_key_base64();
    let c = parse(&[
        ("DATABASE_URL", "postgres://u:pw@db:5432/wfops"),
        ("WFOPS_HOME", "/var/lib/wfops"),
        ("API_BIND", "0.0.0.0:8080"),
        ("PUBLIC_URL", "https://ops.example.com/"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("JWT_TTL_SECONDS", "600"),
        ("ENCRYPTION_KEY", &key),
        ("DB_POOL_SIZE", "3"),
        ("LOG_FORMAT", "pretty"),
        ("MAX_BODY_BYTES", "2048"),
        (
            "CORS_ALLOWED_ORIGINS",
            "https://a.example, http://localhost:5173",
        ),
        ("RATE_LIMIT_PER_MINUTE", "0"),
        ("SYNC_SCHEDULER_ENABLED", "TRUE"),
        ("SYNC_INTERVAL_SECONDS", "120"),
        ("DRIFT_CHECK_INTERVAL_SECONDS", "30"),
        ("WORKER_CONCURRENCY", "  8 "),
        ("JOB_MAX_ATTEMPTS", "2"),
    ])
    .unwrap();
    assert_eq!(
        c.database_url.as_ref().unwrap().expose(),
        "postgres://u:pw@db:5432/wfops"
    );
    assert!(!c.uses_embedded_db());
    assert_eq!(c.home.to_str(), Some("/var/lib/wfops"));
    assert_eq!(c.api_bind.port(), 8080);
    assert_eq!(c.public_url, "https://ops.example.com");
    assert!(c.public_url_is_https());
    assert_eq!(c.jwt_ttl_seconds, 600);
    assert_eq!(c.db_pool_size, 3);
    assert_eq!(c.log_format, LogFormat::Pretty);
    assert_eq!(c.max_body_bytes, 2048);
    assert_eq!(
        c.cors_allowed_origins,
        vec!["https://a.example", "http://localhost:5173"]
    );
    assert_eq!(c.rate_limit_per_minute, 0);
    assert!(c.sync_scheduler_enabled);
    assert_eq!(c.sync_interval_seconds, 120);
    assert_eq!(c.drift_check_interval_seconds, 30);
    assert_eq!(c.worker_concurrency, 8);
    assert_eq!(c.job_max_attempts, 2);
    let secrets = c.secrets().unwrap();
    let enc = secrets.cipher.encrypt_str("x").unwrap();
    assert_eq!(secrets.cipher.decrypt_str(&enc).unwrap().expose(), "x");
}

#[test]
fn empty_values_mean_unset() {
    let c = parse(&[("DATABASE_URL", "  "), ("DB_POOL_SIZE", "")]).unwrap();
    assert!(c.database_url.is_none());
    assert_eq!(c.db_pool_size, 10);
}

/// Each bad value must fail with an error naming the variable (and, for secrets, without
/// echoing the value).
#[test]
fn bad_values_name_the_variable() {
    let cases: &[(&str, &str, &str)] = &[
        ("API_BIND", "localhost", "API_BIND"),
        ("PUBLIC_URL", "ftp://x", "PUBLIC_URL"),
        ("PUBLIC_URL", "https://", "PUBLIC_URL"),
        ("JWT_SECRET", "short-secret-value", "at least 32"),
        ("WFOPS_EMBEDDED_PG", "sure", "WFOPS_EMBEDDED_PG"),
        ("JWT_TTL_SECONDS", "abc", "JWT_TTL_SECONDS"),
        ("JWT_TTL_SECONDS", "5", "out of range"),
        ("ENCRYPTION_KEY", "zzz-secret-zzz", "ENCRYPTION_KEY"),
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE"),
        ("DB_POOL_SIZE", "-1", "DB_POOL_SIZE"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("MAX_BODY_BYTES", "1", "MAX_BODY_BYTES"),
        ("CORS_ALLOWED_ORIGINS", "*", "CORS_ALLOWED_ORIGINS"),
        (
            "CORS_ALLOWED_ORIGINS",
            "https://a.example/path",
            "not an origin",
        ),
        ("RATE_LIMIT_PER_MINUTE", "lots", "RATE_LIMIT_PER_MINUTE"),
        ("SYNC_BATCH_SIZE", "0", "SYNC_BATCH_SIZE"),
        ("WORKER_CONCURRENCY", "1.5", "WORKER_CONCURRENCY"),
        ("JOB_LEASE_SECONDS", "0", "JOB_LEASE_SECONDS"),
        ("JOB_MAX_ATTEMPTS", "0", "JOB_MAX_ATTEMPTS"),
        ("STALE_DEPLOYMENT_SECONDS", "x", "STALE_DEPLOYMENT_SECONDS"),
        (
            "DRIFT_CHECK_INTERVAL_SECONDS",
            "0",
            "DRIFT_CHECK_INTERVAL_SECONDS",
        ),
        (
            "TTL_CHECK_INTERVAL_SECONDS",
            "x",
            "TTL_CHECK_INTERVAL_SECONDS",
        ),
        (
            "RETENTION_CLEANUP_INTERVAL_SECONDS",
            "x",
            "RETENTION_CLEANUP_INTERVAL_SECONDS",
        ),
        (
            "DEPLOYMENT_CHECK_INTERVAL_SECONDS",
            "x",
            "DEPLOYMENT_CHECK_INTERVAL_SECONDS",
        ),
        (
            "HEALTH_CHECK_INTERVAL_SECONDS",
            "x",
            "HEALTH_CHECK_INTERVAL_SECONDS",
        ),
        ("SYNC_SCHEDULER_ENABLED", "maybe", "SYNC_SCHEDULER_ENABLED"),
        ("SYNC_INTERVAL_SECONDS", "x", "SYNC_INTERVAL_SECONDS"),
        ("ROLLUP_INTERVAL_SECONDS", "x", "ROLLUP_INTERVAL_SECONDS"),
        (
            "DOWNGRADE_ENFORCEMENT_INTERVAL_SECONDS",
            "x",
            "DOWNGRADE_ENFORCEMENT_INTERVAL_SECONDS",
        ),
        (
            "ALERT_RULES_EVALUATION_INTERVAL_SECONDS",
            "x",
            "ALERT_RULES_EVALUATION_INTERVAL_SECONDS",
        ),
        ("DATABASE_URL", "mysql://secret@x/db", "DATABASE_URL"),
    ];
    for (var, value, expected) in cases {
        let err = parse(&[(var, value)]).expect_err(var).to_string();
        assert!(err.contains(expected), "{var}={value}: {err}");
        assert!(err.contains(var) || err.contains(expected), "{err}");
    }
    for (var, value) in [
        ("ENCRYPTION_KEY", "zzz-secret-zzz"),
        ("JWT_SECRET", "short-secret-value"),
        ("DATABASE_URL", "mysql://secret@x/db"),
    ] {
        let err = parse(&[(var, value)]).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(value), "{var} leaked: {shown}");
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let c = parse(&[
        ("DATABASE_URL", "postgres://u:pw-leak@db/x"),
        ("JWT_SECRET", "jwt-secret-that-must-not-leak-0123456789"),
        ("ENCRYPTION_KEY", &wfops_config::generate_key_base64()),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("pw-leak"), "{shown}");
    assert!(!shown.contains("jwt-secret-that"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn local_secrets_fill_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap().to_string();
    let explicit_jwt = "explicit-jwt-secret-explicit-jwt-secret";
    let mut c = parse(&[
        ("WFOPS_HOME", &home),
        ("WFOPS_EMBEDDED_PG", "1"),
        ("JWT_SECRET", explicit_jwt),
    ])
    .unwrap();
    assert!(c.uses_embedded_db());
    c.ensure_local_secrets().unwrap();
    assert_eq!(c.jwt_secret.as_ref().unwrap().expose(), explicit_jwt);
    let key = *c.encryption_key.as_ref().unwrap().expose();
    assert!(dir.path().join("secrets.env").exists());

    // a second process start reads the same generated key
    let mut again = parse(&[("WFOPS_HOME", &home), ("WFOPS_EMBEDDED_PG", "true")]).unwrap();
    again.ensure_local_secrets().unwrap();
    assert_eq!(*again.encryption_key.as_ref().unwrap().expose(), key);
    assert_ne!(again.jwt_secret.as_ref().unwrap().expose(), explicit_jwt);
    assert!(again.secrets().is_ok());
}

#[test]
fn missing_secrets_with_a_real_database_are_an_error() {
    let mut c = parse(&[("DATABASE_URL", "postgres://u@db/x")]).unwrap();
    let err = c.ensure_local_secrets().unwrap_err().to_string();
    assert!(err.contains("ENCRYPTION_KEY"), "{err}");
    let err = c.secrets().unwrap_err().to_string();
    assert!(err.contains("ENCRYPTION_KEY"), "{err}");

    let mut c = parse(&[
        ("DATABASE_URL", "postgres://u@db/x"),
        ("ENCRYPTION_KEY", &wfops_config::generate_key_base64()),
    ])
    .unwrap();
    let err = c.ensure_local_secrets().unwrap_err().to_string();
    assert!(err.contains("JWT_SECRET"), "{err}");
}

#[test]
fn for_tests_is_complete() {
    let c = Config::for_tests();
    assert!(c.secrets().is_ok());
}

#[test]
fn network_timeouts_have_defaults_and_bounds() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.git_connect_timeout_seconds, 10);
    assert_eq!(c.git_read_timeout_seconds, 60);
    assert_eq!(c.n8n_connect_timeout_seconds, 5);
    assert_eq!(c.n8n_request_timeout_seconds, 30);
    let c = parse(&[
        ("GIT_CONNECT_TIMEOUT_SECONDS", "3"),
        ("GIT_READ_TIMEOUT_SECONDS", "20"),
        ("N8N_CONNECT_TIMEOUT_SECONDS", "2"),
        ("N8N_REQUEST_TIMEOUT_SECONDS", "15"),
    ])
    .unwrap();
    assert_eq!(
        (
            c.git_connect_timeout_seconds,
            c.git_read_timeout_seconds,
            c.n8n_connect_timeout_seconds,
            c.n8n_request_timeout_seconds
        ),
        (3, 20, 2, 15)
    );
    // 0 would mean "wait forever" to libgit2: refused, like a value that is not a number
    for var in [
        "GIT_CONNECT_TIMEOUT_SECONDS",
        "GIT_READ_TIMEOUT_SECONDS",
        "N8N_CONNECT_TIMEOUT_SECONDS",
        "N8N_REQUEST_TIMEOUT_SECONDS",
    ] {
        for bad in ["0", "x", "100000"] {
            let err = parse(&[(var, bad)]).expect_err(var).to_string();
            assert!(err.contains(var), "{var}={bad}: {err}");
        }
    }
}

#[test]
fn notification_settings_have_defaults_and_keep_the_smtp_password_secret() {
    let c = parse(&[]).unwrap();
    assert!(c.smtp_url.is_none());
    assert_eq!(c.smtp_from, "WorkflowOps <workflowops@localhost>");
    assert_eq!(c.notify_timeout_seconds, 10);
    assert!(!c.notify_allow_private_targets);
    let c = parse(&[
        (
            "SMTP_URL",
            "smtps://mailer:hunter2-pass@mail.example.com:465",
        ),
        ("SMTP_FROM", "Ops <ops@example.com>"),
        ("NOTIFY_TIMEOUT_SECONDS", "3"),
        ("NOTIFY_ALLOW_PRIVATE_TARGETS", "true"),
    ])
    .unwrap();
    assert_eq!(
        c.smtp_url.as_ref().unwrap().expose(),
        "smtps://mailer:hunter2-pass@mail.example.com:465"
    );
    assert!(!format!("{c:?}").contains("hunter2-pass"));
    assert_eq!(c.smtp_from, "Ops <ops@example.com>");
    assert_eq!(c.notify_timeout_seconds, 3);
    assert!(c.notify_allow_private_targets);
    let err = parse(&[("SMTP_URL", "http://user:hunter2-pass@mail")])
        .expect_err("not smtp")
        .to_string();
    assert!(
        err.contains("SMTP_URL") && !err.contains("hunter2"),
        "{err}"
    );
    for bad in ["0", "301", "x"] {
        assert!(parse(&[("NOTIFY_TIMEOUT_SECONDS", bad)]).is_err(), "{bad}");
    }
}

#[test]
fn without_database_url_or_the_embedded_switch_nothing_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut c = parse(&[("WFOPS_HOME", home.to_str().unwrap())]).unwrap();
    let err = c.database().unwrap_err().to_string();
    assert!(
        err.contains("DATABASE_URL") && err.contains("WFOPS_EMBEDDED_PG=1"),
        "{err}"
    );
    let err = c.ensure_local_secrets().unwrap_err().to_string();
    assert!(err.contains("DATABASE_URL"), "{err}");
    // fail closed: no secrets file, no cluster folder
    assert!(!home.exists(), "WFOPS_HOME was created");

    let c = parse(&[
        ("WFOPS_HOME", home.to_str().unwrap()),
        ("WFOPS_EMBEDDED_PG", "1"),
    ])
    .unwrap();
    match c.database().unwrap() {
        wfops_config::DatabaseSource::Embedded(path) => assert_eq!(path, home),
        other => panic!("expected the embedded cluster, got {other:?}"),
    }

    // an explicit DATABASE_URL wins over the switch
    let c = parse(&[
        ("DATABASE_URL", "postgres://u@db/x"),
        ("WFOPS_EMBEDDED_PG", "1"),
    ])
    .unwrap();
    assert!(!c.uses_embedded_db());
    assert!(matches!(
        c.database().unwrap(),
        wfops_config::DatabaseSource::Url(_)
    ));
}

/// Placeholder, short and patterned secrets are refused at start-up, with an error naming the
/// variable but never the value.
#[test]
fn weak_secrets_are_refused() {
    let weak_jwt = [
        "changeme",
        "secret",
        "dev",
        "0123456789abcdef0123456789abcde",
        "changeme-changeme-changeme-changeme",
        "please-change_me-before-going-live-2024",
        "my-super-secret-jwt-placeholder-value-here",
        "secretsecretsecretsecretsecretsecret",
        "devdevdevdevdevdevdevdevdevdevdevdev",
        "ssssssssssssssssssssssssssssssssssssssss",
        "abababababababababababababababababababab",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbcccddd",
    ];
    for value in weak_jwt {
        let err = parse(&[("JWT_SECRET", value)]).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("JWT_SECRET"), "{value}: {shown}");
        assert!(!shown.contains(value), "JWT_SECRET leaked: {shown}");
    }
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut two_values = [0u8; 32];
    two_values[..16].fill(1);
    let weak_keys = [
        b64(&[0u8; 32]),
        b64(&[42u8; 32]),
        b64(&two_values),
        b64(&[7u8; 16]),
        b64(&[7u8; 33]),
    ];
    for value in &weak_keys {
        let err = parse(&[("ENCRYPTION_KEY", value)]).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("ENCRYPTION_KEY"), "{shown}");
        assert!(
            !shown.contains(value.as_str()),
            "ENCRYPTION_KEY leaked: {shown}"
        );
    }
    // generated values pass
    let c = parse(&[
        ("JWT_SECRET", "Qm9vdHN0cmFwcGVkLXJhbmRvbS1rZXktZm9yLXRlc3Rz"),
        ("ENCRYPTION_KEY", &wfops_config::generate_key_base64()),
    ])
    .unwrap();
    assert!(c.secrets().is_ok());
}
