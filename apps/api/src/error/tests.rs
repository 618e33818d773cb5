use std::collections::BTreeMap;

use actix_web::body::to_bytes;
use uuid::Uuid;

use super::*;

async fn body_of(err: ApiError) -> (StatusCode, Value, actix_web::http::header::HeaderMap) {
    let resp = err.error_response();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = to_bytes(resp.into_body()).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap(), headers)
}

/// `code -> status` of every row of the tables in `docs/errors.md`.
fn documented_codes() -> BTreeMap<String, u16> {
    let doc = include_str!("../../../../docs/errors.md");
    let mut rows = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `code` | status | type | meaning |
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let code = cells[1].trim_matches('`').to_string();
        let status: u16 = cells[2]
            .parse()
            .unwrap_or_else(|_| panic!("docs/errors.md: bad status in {line}"));
        assert!(
            !cells[4].is_empty(),
            "docs/errors.md: `{code}` has no meaning"
        );
        assert!(
            rows.insert(code.clone(), status).is_none(),
            "docs/errors.md lists `{code}` twice"
        );
    }
    rows
}

#[test]
fn every_code_is_documented_and_every_documented_code_exists() {
    let documented = documented_codes();
    for code in Code::ALL {
        let status = documented.get(code.as_str()).unwrap_or_else(|| {
            panic!(
                "`{}` is missing from docs/errors.md (add `| `{}` | {} | {} | meaning |`)",
                code.as_str(),
                code.as_str(),
                code.status().as_u16(),
                code.error_type()
            )
        });
        assert_eq!(
            *status,
            code.status().as_u16(),
            "docs/errors.md gives `{}` another status",
            code.as_str()
        );
    }
    for name in documented.keys() {
        assert!(
            Code::ALL.iter().any(|c| c.as_str() == name),
            "docs/errors.md documents `{name}`, which the API does not have"
        );
    }
}

#[test]
fn codes_are_unique_snake_case() {
    let mut seen = std::collections::HashSet::new();
    for code in Code::ALL {
        let s = code.as_str();
        assert!(seen.insert(s), "`{s}` twice");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{s}"
        );
        assert!(code.error_type().ends_with("Error"), "{s}");
    }
}

#[actix_web::test]
async fn every_error_has_a_code_type_and_status() {
    let cases: Vec<(ApiError, u16, &str)> = vec![
        (ApiError::unauthorized("x"), 401, "authentication_required"),
        (ApiError::invalid_token("x"), 401, "invalid_token"),
        (ApiError::TokenExpired, 401, "token_expired"),
        (
            ApiError::new(Code::EnvironmentNotFound, "x"),
            404,
            "environment_not_found",
        ),
        (
            ApiError::RouteNotFound {
                method: "GET".into(),
                path: "/x".into(),
            },
            404,
            "route_not_found",
        ),
        (
            ApiError::MethodNotAllowed {
                method: "PUT".into(),
                allowed: "GET".into(),
            },
            405,
            "method_not_allowed",
        ),
        (ApiError::validation("x"), 422, "validation_failed"),
        (
            ApiError::field("git_branch", "x"),
            422,
            "invalid_git_branch",
        ),
        (
            ApiError::field("something_else", "x"),
            422,
            "validation_failed",
        ),
        (ApiError::MalformedJson("x".into()), 400, "malformed_json"),
        (ApiError::InvalidBody("x".into()), 422, "invalid_body"),
        (
            ApiError::InvalidPathParameter("x".into()),
            400,
            "invalid_path_parameter",
        ),
        (
            ApiError::InvalidQueryParameter("x".into()),
            400,
            "invalid_query_parameter",
        ),
        (
            ApiError::PayloadTooLarge { limit: 10 },
            413,
            "payload_too_large",
        ),
        (
            ApiError::UnsupportedMediaType("x".into()),
            415,
            "unsupported_media_type",
        ),
        (
            ApiError::at(Code::CanonicalAlreadyMapped, "canonical_id", "x"),
            409,
            "canonical_already_mapped",
        ),
        (
            ApiError::RateLimited {
                retry_after_secs: 3,
            },
            429,
            "rate_limited",
        ),
        (
            ApiError::new(Code::DatabaseUnavailable, "x"),
            503,
            "database_unavailable",
        ),
        (
            ApiError::internal("db exploded: password=hunter2"),
            500,
            "internal_error",
        ),
    ];
    for (err, status, code) in cases {
        let (s, body, _) = body_of(err).await;
        assert_eq!(s.as_u16(), status, "{code}");
        assert_eq!(body["error"]["code"], code);
        assert!(body["error"]["type"].as_str().unwrap().ends_with("Error"));
        assert!(body["error"]["message"].is_string());
        assert!(body["timestamp"].is_string());
        assert!(
            !body.to_string().contains("hunter2"),
            "internal causes stay private"
        );
    }
}

#[actix_web::test]
async fn field_errors_name_the_field() {
    let (_, body, _) = body_of(ApiError::field("git_folder", "must be relative")).await;
    assert_eq!(body["error"]["code"], "invalid_git_folder");
    assert_eq!(body["error"]["details"]["field"], "git_folder");
    assert_eq!(body["error"]["message"], "git_folder: must be relative");
}

#[actix_web::test]
async fn headers_for_auth_rate_limit_and_405() {
    let (_, _, h) = body_of(ApiError::unauthorized("missing")).await;
    assert!(h
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (_, _, h) = body_of(ApiError::RateLimited {
        retry_after_secs: 7,
    })
    .await;
    assert_eq!(h.get("retry-after").unwrap(), "7");
    let (_, _, h) = body_of(ApiError::MethodNotAllowed {
        method: "PUT".into(),
        allowed: "GET, POST".into(),
    })
    .await;
    assert_eq!(h.get("allow").unwrap(), "GET, POST");
}

#[actix_web::test]
async fn db_errors_map_to_client_errors() {
    let (s, body, _) = body_of(
        wfops_db::Error::Conflict {
            constraint: "environments_tenant_id_name_key".into(),
        }
        .into(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "environment_name_taken");
    assert_eq!(body["error"]["details"]["field"], "name");
    let (s, body, _) = body_of(
        wfops_db::Error::CheckViolation {
            constraint: "environments_url_check".into(),
        }
        .into(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "value_not_allowed");
    let (s, _, _) = body_of(
        wfops_db::Error::ForeignKey {
            constraint: "x_fkey".into(),
        }
        .into(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = body_of(wfops_db::Error::NotFound.into()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body, _) = body_of(wfops_db::Error::Pool("timeout".into()).into()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "database_unavailable");
}

#[actix_web::test]
async fn tenancy_errors_map() {
    let denied = wfops_tenancy::Error::Denied {
        required: wfops_tenancy::Role::Admin,
        actual: wfops_tenancy::Role::Viewer,
    };
    let (s, body, _) = body_of(denied.into()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "insufficient_role");
    assert!(body["error"]["message"].as_str().unwrap().contains("admin"));
    let (s, _, _) = body_of(wfops_tenancy::Error::TokenExpired.into()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn engine_errors_map_inside_the_table() {
    let id = Uuid::new_v4();
    let (s, body, _) = body_of(EngineError::EnvironmentNotFound(id).into()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "environment_not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&id.to_string()));
    let (s, body, _) = body_of(
        EngineError::GitNotConfigured {
            environment: "dev".into(),
            missing: "folder",
        }
        .into(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "git_not_configured");
    let (s, body, _) =
        body_of(EngineError::Db(wfops_db::Error::Pool("timeout".into())).into()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "database_unavailable");
    let (s, body, _) = body_of(EngineError::Internal("secret=hunter2".into()).into()).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!body.to_string().contains("hunter2"));
}
