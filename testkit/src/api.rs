//! Support for API tests: the seed's response schemas, extracted from the
//! seed document itself, and a small HTTP client that checks every error
//! body against them.

use std::collections::HashMap;

use secret_sync::web::api::openapi::openapi_to_json_schema;
use serde_json::{json, Value};

const SEED: &str = include_str!("../../spec/seeds/000_584d836a8dc3914b.txt");
const SERVED: &str = include_str!("../../docs/openapi.json");

/// A YAML document as JSON (deployment files, rules).
pub fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).expect("valid YAML")
}

/// Every document of a YAML stream (a line `---` between them: a
/// Kubernetes manifest with several objects), as JSON; empty documents
/// (comments only) left out.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.iter()
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|doc| yaml(doc))
        .collect()
}

/// The seed's OpenAPI snippet (a YAML block in a Markdown page), as JSON.
pub fn seed_openapi() -> Value {
    let start = SEED.find("````yaml").expect("the seed has a yaml block");
    let body = &SEED[start..];
    let body = &body[body.find('\n').expect("block start") + 1..];
    let end = body.find("````").expect("the yaml block ends");
    serde_norway::from_str(&body[..end]).expect("the seed's yaml parses")
}

/// The seed's create operation.
pub fn seed_create_operation() -> Value {
    seed_openapi()["paths"]["/api/v1/secret-syncs/humanitec"]["post"].clone()
}

fn compile(openapi_schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&openapi_to_json_schema(openapi_schema))
        .expect("schema compiles")
}

/// A schema of the served document (`components/schemas/<name>`), with
/// the document's components so its `$ref`s resolve.
fn compile_served(served: &Value, name: &str) -> jsonschema::Validator {
    let mut root = json!({ "$ref": format!("#/components/schemas/{name}") });
    root["components"] = openapi_to_json_schema(&served["components"]);
    jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .expect("schema compiles")
}

/// Validators for the seed's 200 body and every error status it lists.
pub struct SeedContract {
    by_status: HashMap<u16, jsonschema::Validator>,
    connection: jsonschema::Validator,
    /// The job history, audit log and preview bodies, by their key.
    served: HashMap<&'static str, jsonschema::Validator>,
}

impl Default for SeedContract {
    fn default() -> Self {
        Self::load()
    }
}

impl SeedContract {
    pub fn load() -> SeedContract {
        let op = seed_create_operation();
        let responses = op["responses"].as_object().expect("responses");
        let by_status = responses
            .iter()
            .map(|(code, r)| {
                let schema = &r["content"]["application/json"]["schema"];
                (
                    code.parse::<u16>().expect("numeric status"),
                    compile(schema),
                )
            })
            .collect();
        // Connections are not in the seed: their schema is the served document's.
        let served: Value = serde_json::from_str(SERVED).expect("docs/openapi.json");
        let connection = compile(&served["components"]["schemas"]["AppConnectionResponse"]);
        let served = [
            ("jobs", "SyncJobList"),
            ("job", "SyncJobResponse"),
            ("auditLogs", "AuditLogList"),
            ("preview", "SyncPreviewResponse"),
            ("notificationChannel", "NotificationChannelResponse"),
            ("notificationChannels", "NotificationChannelList"),
            ("deliveries", "NotificationDeliveries"),
        ]
        .into_iter()
        .map(|(key, schema)| (key, compile_served(&served, schema)))
        .collect();
        SeedContract {
            by_status,
            connection,
            served,
        }
    }

    fn check(validator: &jsonschema::Validator, label: &str, body: &Value) {
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{label}: {errors:?}\n{body:#}");
    }

    /// A `{"secretSync": …}` body against the seed's 200 schema.
    pub fn check_sync(&self, body: &Value) {
        Self::check(&self.by_status[&200], "secretSync body", body);
    }

    /// A `{"secretSyncs": […]}` body: each item against the seed's 200 schema.
    pub fn check_sync_list(&self, body: &Value) {
        let items = body["secretSyncs"].as_array().expect("secretSyncs array");
        assert_eq!(body.as_object().map(|m| m.len()), Some(1), "{body}");
        for item in items {
            self.check_sync(&json!({ "secretSync": item }));
        }
    }

    pub fn check_connection(&self, body: &Value) {
        Self::check(&self.connection, "appConnection body", body);
    }

    /// A 200 body, by its one key: a sync, a list of syncs, a connection
    /// or a list of connections. Anything else fails.
    pub fn check_success(&self, body: &Value) {
        let key = body
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_default();
        match key.as_str() {
            "secretSync" => self.check_sync(body),
            "secretSyncs" => self.check_sync_list(body),
            "appConnection" => self.check_connection(body),
            "appConnections" => {
                for item in body["appConnections"].as_array().expect("array") {
                    self.check_connection(&json!({ "appConnection": item }));
                }
            }
            _ => {
                // The document's own bodies, by the key that names them
                // (a page also carries `nextCursor`).
                let key = body
                    .as_object()
                    .and_then(|m| m.keys().find(|k| self.served.contains_key(k.as_str())))
                    .unwrap_or_else(|| panic!("unexpected 200 body: {body}"));
                Self::check(&self.served[key.as_str()], key, body);
            }
        }
    }

    /// An error body against the seed's schema for its status.
    pub fn check_error(&self, status: u16, body: &Value) {
        let validator = self
            .by_status
            .get(&status)
            .unwrap_or_else(|| panic!("status {status} is not one the seed lists: {body}"));
        Self::check(validator, &format!("{status} body"), body);
        assert_eq!(body["statusCode"], status, "{body}");
    }
}

/// An HTTP client for one API token; every response it sees is checked:
/// errors against the seed's schema for their status, 200s against the
/// seed's `secretSync` schema (or the document's connection schema).
pub struct ApiClient {
    pub base: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
    pub contract: std::sync::Arc<SeedContract>,
}

impl ApiClient {
    pub fn new(base: &str, token: Option<&str>, contract: std::sync::Arc<SeedContract>) -> Self {
        ApiClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
            http: reqwest::Client::new(),
            contract,
        }
    }

    pub fn with_token(&self, token: Option<&str>) -> ApiClient {
        ApiClient {
            base: self.base.clone(),
            token: token.map(str::to_string),
            http: self.http.clone(),
            contract: self.contract.clone(),
        }
    }

    /// Sends a request (JSON body if given); returns status and JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// Sends a prepared request and checks its error body, if any.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        assert!(
            content_type.starts_with("application/json"),
            "status {status}: content type `{content_type}`: {text}"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text}"));
        if status >= 400 && status != 405 {
            self.contract.check_error(status, &body);
        } else if status == 200 {
            self.contract.check_success(&body);
        }
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PATCH", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None).await
    }
}

/// The CSRF token a dashboard page carries (its `csrf-token` meta tag),
/// which every dashboard form posts back.
pub fn csrf_token(page: &str) -> String {
    page.split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page's csrf-token meta tag")
        .to_string()
}

/// Signs in to the dashboard with an API token, as the login form does;
/// returns the session cookie (`name=value`) to send back. The cookie never
/// holds the token.
pub async fn dashboard_sign_in(http: &reqwest::Client, base: &str, token: &str) -> String {
    let res = http
        .post(format!("{base}/login"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(res.status().as_u16(), 303, "signing in redirects");
    let set = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_string();
    assert!(!set.contains(token), "the cookie must not hold the token");
    set.split(';').next().expect("name=value").to_string()
}
