//! `spawn_app()`: the real app, in-process, on 127.0.0.1:0, with its own test database, called
//! over HTTP with reqwest.
#![allow(dead_code)]

use std::net::TcpListener;

use actix_web::web;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use wfops_api::bootstrap::{bootstrap, BootstrapRequest};
use wfops_api::AppState;
use wfops_config::Config;
use wfops_test_support::TestDb;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    pub test_db: TestDb,
}

/// A tenant made with the bootstrap path: its admin (with a password) and admin API key.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: Uuid,
    pub admin_key: String,
    pub admin_user_id: Uuid,
    pub email: String,
    pub password: String,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text))
            .to_string()
    }

    pub fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }

    /// Asserts an error envelope with this status and code; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "body: {}", self.text);
        assert!(body["error"]["type"].is_string(), "{}", self.text);
        assert!(body["error"]["message"].is_string(), "{}", self.text);
        assert!(body["timestamp"].is_string(), "{}", self.text);
        self.message()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let test_db = TestDb::new().await;
    let mut config = Config::for_tests();
    config.rate_limit_per_minute = 0;
    adjust(&mut config);
    let state = web::Data::new(AppState::new(config, test_db.db()).expect("state"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = wfops_api::server(state.clone(), listener, 1).expect("server");
    tokio::spawn(server);
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        state,
        test_db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Response {
        let resp = req.send().await.expect("request");
        Response {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("body"),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// A tenant through the same code path as `wfops-api bootstrap`.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let email = format!(
            "admin@{}.example.com",
            wfops_tenancy::slugify(name).unwrap()
        );
        let password = format!("pw-{}-long-enough", Uuid::new_v4().simple());
        let outcome = bootstrap(
            &self.state.db,
            BootstrapRequest {
                tenant_name: name.into(),
                email: email.clone(),
                password: Some(password.clone()),
                new_key: false,
            },
        )
        .await
        .expect("bootstrap");
        Tenant {
            id: outcome.tenant_id,
            admin_key: outcome.api_key.expect("a new tenant gets a key"),
            admin_user_id: outcome.admin_user_id.expect("a new tenant gets an admin"),
            email,
            password,
        }
    }

    /// A fresh API key of `role` in the tenant, created through the API.
    pub async fn key(&self, tenant: &Tenant, role: &str) -> String {
        let resp = self
            .post(
                "/api/v1/api-keys",
                &tenant.admin_key,
                json!({ "name": format!("{role} key"), "role": role }),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        resp.json()["data"]["key"].as_str().unwrap().to_string()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": email, "password": password })),
        )
        .await
    }

    pub async fn login_token(&self, tenant: &Tenant) -> String {
        let resp = self.login(&tenant.email, &tenant.password).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        resp.json()["data"]["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates an environment as the tenant admin and returns its id.
    pub async fn environment(&self, tenant: &Tenant, name: &str) -> Uuid {
        let resp = self
            .post(
                "/api/v1/environments",
                &tenant.admin_key,
                json!({ "name": name, "url": "https://n8n.example.com" }),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.text);
        resp.json()["data"]["id"].as_str().unwrap().parse().unwrap()
    }
}
