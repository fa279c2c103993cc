//! HTTP handlers: the values API, plus `/_sandbox/*` admin endpoints.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::Utc;
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::{json, Value};

use super::directory::Org;
use super::state::{StoredValue, WriteError};
use super::{lock, Fault, Faults, Inner, RequestRecord, Role};

type Shared = Arc<Mutex<Inner>>;

pub fn router(inner: Shared) -> Router {
    Router::new()
        .route("/_sandbox/health", get(|| async { "ok" }))
        .route("/_sandbox/values", get(admin_values))
        .route(
            "/_sandbox/requests",
            get(admin_requests).delete(admin_clear),
        )
        .route("/_sandbox/faults", put(admin_faults))
        .fallback(api)
        .with_state(inner)
}

#[derive(Deserialize)]
struct ScopeQuery {
    org: String,
    app: String,
    env: Option<String>,
}

async fn admin_values(
    State(s): State<Shared>,
    Query(q): Query<ScopeQuery>,
) -> Json<Vec<StoredValue>> {
    Json(lock(&s).values.list(&q.org, &q.app, q.env.as_deref()))
}

async fn admin_requests(State(s): State<Shared>) -> Json<Vec<RequestRecord>> {
    Json(lock(&s).requests.clone())
}

async fn admin_clear(State(s): State<Shared>) -> StatusCode {
    lock(&s).requests.clear();
    StatusCode::NO_CONTENT
}

async fn admin_faults(State(s): State<Shared>, Json(f): Json<Faults>) -> StatusCode {
    lock(&s).set_faults(f);
    StatusCode::NO_CONTENT
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": "API-000", "message": message})),
    )
        .into_response()
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

async fn api(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Utc::now();
    let path = uri.path().to_string();
    let parsed_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let _in_flight = InFlight::enter(&s);
    let (latency, fault, overloaded) = {
        let mut inner = lock(&s);
        let fault = inner.next_fault();
        let overloaded = inner
            .faults
            .max_in_flight
            .is_some_and(|max| inner.in_flight > max);
        (inner.faults.latency(inner.in_flight), fault, overloaded)
    };
    let fault = if overloaded {
        Some(Fault::Status {
            status: 429,
            retry_after: None,
        })
    } else {
        fault
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    if matches!(fault, Some(Fault::Reset)) {
        lock(&s).requests.push(RequestRecord {
            method: method.to_string(),
            path,
            body: parsed_body,
            status: 0,
            received_at,
            finished_at: Utc::now(),
            authenticated: false,
            fault: Some("reset".into()),
        });
        // Unwinding out of the handler makes hyper drop the connection with
        // no response; resume_unwind skips the panic hook, so nothing is printed.
        std::panic::resume_unwind(Box::new("sandbox fault: connection reset"));
    }
    let (response, authenticated, fault_name) = match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = error(code, "sandbox fault");
            if let Some(secs) = retry_after {
                if let Ok(v) = secs.to_string().parse() {
                    resp.headers_mut().insert("retry-after", v);
                }
            }
            let name = if overloaded {
                "overloaded".to_string()
            } else {
                format!("status {status}")
            };
            (resp, false, Some(name))
        }
        Some(Fault::Echo { status }) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let quoted: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            let resp = error(code, &format!("invalid request: {quoted}"));
            (resp, false, Some(format!("echo {status}")))
        }
        Some(Fault::Reset | Fault::Pass) => unreachable!("handled above"),
        None => {
            let mut inner = lock(&s);
            let auth = token
                .as_deref()
                .and_then(|t| inner.directory.token(t))
                .map(|(org, role)| (org.to_string(), role));
            let response = match &auth {
                None => error(StatusCode::UNAUTHORIZED, "Could not validate token."),
                Some((org, role)) => handle(&mut inner, &method, &path, &body, org, *role),
            };
            (response, auth.is_some(), None)
        }
    };
    let record = RequestRecord {
        method: method.to_string(),
        path,
        body: parsed_body,
        status: response.status().as_u16(),
        received_at,
        finished_at: Utc::now(),
        authenticated,
        fault: fault_name,
    };
    lock(&s).requests.push(record);
    response
}

/// Counts a request in flight for as long as it is being answered.
struct InFlight(Shared);

impl InFlight {
    fn enter(s: &Shared) -> InFlight {
        let mut inner = lock(s);
        inner.in_flight += 1;
        inner.peak_in_flight = inner.peak_in_flight.max(inner.in_flight);
        InFlight(s.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0).in_flight -= 1;
    }
}

fn value_json(inner: &Inner, org: &str, app: &str, env: Option<&str>, v: &StoredValue) -> Value {
    let (created, updated) = inner
        .values
        .times(org, app, if v.source == "env" { env } else { None }, &v.key)
        .unwrap_or((Utc::now(), Utc::now()));
    json!({
        "key": v.key, "value": v.value, "is_secret": v.is_secret, "description": v.description,
        "source": v.source, "created_at": created.to_rfc3339(), "updated_at": updated.to_rfc3339(),
        "secret_key": v.is_secret.then(|| format!("orgs/{org}/apps/{app}/secret_values/{}", v.key)),
        "secret_store_id": v.is_secret.then_some("humanitec"),
        "secret_version": v.secret_version,
    })
}

fn handle(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    body: &[u8],
    token_org: &str,
    role: Role,
) -> Response {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|seg| percent_decode_str(seg).decode_utf8_lossy().into_owned())
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["orgs"]) => {
            let orgs: Vec<Value> = inner
                .directory
                .org(token_org)
                .map(|_| json!({"id": token_org, "name": token_org, "created_at": "2020-06-22T09:37:23.523Z",
                    "created_by": "sandbox", "trial_expires_at": null, "logo": {"dark_url": null, "light_url": null}}))
                .into_iter()
                .collect();
            Json(orgs).into_response()
        }
        ("GET", ["orgs", org, "apps"]) => match visible_org(inner, org, token_org) {
            Ok(spec) => {
                let apps: Vec<Value> = spec.apps().iter().map(|a| app_json(org, a)).collect();
                Json(apps).into_response()
            }
            Err(resp) => *resp,
        },
        ("GET", ["current-user"]) => Json(json!({"id": "sandbox-service-user", "name": "Sandbox service user",
            "created_at": "2020-06-22T09:37:23Z", "type": "service", "properties": {}, "roles": {}}))
        .into_response(),
        (_, ["orgs", org, "apps", app, "values", rest @ ..]) => values(inner, method, org, app, None, rest.first().copied(), body, token_org, role),
        (_, ["orgs", org, "apps", app, "envs", env, "values", rest @ ..]) => {
            values(inner, method, org, app, Some(env), rest.first().copied(), body, token_org, role)
        }
        _ => error(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// The org, if it exists and the token belongs to it (404 / 403 otherwise).
fn visible_org<'a>(inner: &'a Inner, org: &str, token_org: &str) -> Result<&'a Org, Box<Response>> {
    let Some(spec) = inner.directory.org(org) else {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "Organization not found.",
        )));
    };
    if org != token_org {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "Token has no access to this organization.",
        )));
    }
    Ok(spec)
}

const SANDBOX_TIME: &str = "2020-06-22T09:37:23Z";

/// `EnvironmentBaseResponse`, as an app embeds it.
fn env_json(env: &str) -> Value {
    json!({"id": env, "name": env, "type": "development"})
}

/// `ApplicationResponse`, its environments embedded.
fn app_json(org: &str, app: &super::AppSpec) -> Value {
    json!({
        "id": app.id, "name": app.id, "org_id": org, "created_at": SANDBOX_TIME,
        "created_by": "sandbox", "status": "active", "status_changed_at": SANDBOX_TIME,
        "envs": app.envs.iter().map(|e| env_json(e)).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize)]
struct CreateBody {
    key: String,
    description: Option<String>,
    value: Option<String>,
    is_secret: Option<bool>,
}

#[derive(Deserialize)]
struct PatchBody {
    value: Option<String>,
    description: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn values(
    inner: &mut Inner,
    method: &Method,
    org: &str,
    app: &str,
    env: Option<&str>,
    key: Option<&str>,
    body: &[u8],
    token_org: &str,
    role: Role,
) -> Response {
    let org_spec = match visible_org(inner, org, token_org) {
        Ok(spec) => spec,
        Err(resp) => return *resp,
    };
    let Some(app_spec) = org_spec.app(app) else {
        return error(StatusCode::NOT_FOUND, "Application not found.");
    };
    if let Some(e) = env {
        if !app_spec.has_env(e) {
            return error(StatusCode::BAD_REQUEST, "Environment does not exist.");
        }
    }
    if *method != Method::GET && role == Role::Viewer {
        return error(StatusCode::FORBIDDEN, "Role does not allow writes.");
    }
    if let Some(k) = key {
        if !valid_key(k) {
            return error(
                StatusCode::BAD_REQUEST,
                "Key does not match ^[A-Za-z0-9_.-]+$.",
            );
        }
    }
    let write_result = |inner: &Inner, r: Result<StoredValue, WriteError>, ok: StatusCode| match r {
        Ok(v) => (ok, Json(value_json(inner, org, app, env, &v))).into_response(),
        Err(WriteError::Exists) => error(StatusCode::CONFLICT, "Shared Value already exists."),
        Err(WriteError::NotFound) => error(StatusCode::NOT_FOUND, "Shared Value does not exist."),
        Err(WriteError::NoAppValue) => error(
            StatusCode::BAD_REQUEST,
            "Shared Value has no app-level value to override.",
        ),
    };
    match (method.as_str(), key) {
        ("GET", None) => {
            let list: Vec<Value> = inner
                .values
                .list_api(org, app, env)
                .iter()
                .map(|v| value_json(inner, org, app, env, v))
                .collect();
            Json(list).into_response()
        }
        ("POST", None) => {
            let Ok(b) = serde_json::from_slice::<CreateBody>(body) else {
                return error(StatusCode::BAD_REQUEST, "Body does not match ValueCreatePayloadRequest (key and description are required).");
            };
            if !valid_key(&b.key) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Key does not match ^[A-Za-z0-9_.-]+$.",
                );
            }
            let r = inner.values.create(
                org,
                app,
                env,
                &b.key,
                b.value.as_deref().unwrap_or(""),
                b.is_secret.unwrap_or(false),
                b.description.as_deref().unwrap_or(""),
            );
            write_result(inner, r, StatusCode::CREATED)
        }
        ("DELETE", None) => {
            let keys: Vec<String> = inner
                .values
                .list(org, app, env)
                .into_iter()
                .filter(|v| env.is_none() || v.source == "env")
                .map(|v| v.key)
                .collect();
            for k in keys {
                let _ = inner.values.delete(org, app, env, &k);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("PATCH", Some(k)) | ("PUT", Some(k)) => {
            let Ok(b) = serde_json::from_slice::<PatchBody>(body) else {
                return error(StatusCode::BAD_REQUEST, "Body is not valid JSON.");
            };
            let is_put = *method == Method::PUT;
            if (is_put && (b.value.is_none() || b.description.is_none()))
                || (b.value.is_none() && b.description.is_none())
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    "value and/or description must be supplied.",
                );
            }
            let r = inner.values.update(
                org,
                app,
                env,
                k,
                b.value.as_deref(),
                b.description.as_deref(),
            );
            write_result(inner, r, StatusCode::OK)
        }
        ("DELETE", Some(k)) => match inner.values.delete(org, app, env, k) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(_) => error(StatusCode::NOT_FOUND, "Shared Value does not exist."),
        },
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed."),
    }
}
