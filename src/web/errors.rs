//! The seed's error body, for every error the API returns:
//! `{"reqId", "statusCode", "message", "error", "details"?}`. `details`
//! appears only where the seed allows it (400 and 403). `error` is the
//! name Infisical's error handler gives the same failure
//! (`backend/src/server/plugins/error-handler.ts`: `BadRequest`,
//! `NotFound`, `PermissionDenied`, `ValidationFailure`, …), and a request
//! body that breaks its schema is a 422 whose `message` is the list of
//! issues in zod's shape (`[{"code", "path", "message", …}]`), as Infisical
//! answers a `ZodError`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

tokio::task_local! {
    /// The id of the request being served (set by the router's middleware).
    pub(crate) static REQ_ID: String;
}

/// The current request's id, or a fresh one outside a request.
pub(crate) fn current_req_id() -> String {
    REQ_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| new_req_id())
}

pub(crate) fn new_req_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4().simple())
}

/// An API error: a status and a message for the caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, sent as `Retry-After` (429s).
    pub retry_after: Option<u64>,
    /// A 422's issues (zod's shape); the body's `message` is this list.
    pub issues: Option<Value>,
}

/// One issue of a 422, in zod's shape: `code`, `path` (the field, as a
/// list of keys and indexes), `message`, and the code's own fields
/// (`expected`, `keys`, `options`, …) from `extra`.
pub fn issue(code: &str, path: Vec<Value>, message: impl Into<String>, extra: Value) -> Value {
    let mut issue = json!({"code": code, "path": path, "message": message.into()});
    if let (Some(out), Value::Object(more)) = (issue.as_object_mut(), extra) {
        out.extend(more);
    }
    issue
}

/// A `custom` issue at the field `path` (dot-separated: `syncOptions.keySchema`).
pub fn custom_issue(path: &str, message: impl Into<String>) -> Value {
    issue("custom", field_path(path), message, Value::Null)
}

/// `syncOptions.keySchema` or `/syncOptions/keySchema` as zod's path list.
pub fn field_path(path: &str) -> Vec<Value> {
    path.split(['.', '/'])
        .filter(|p| !p.is_empty())
        .map(|p| match p.parse::<u64>() {
            Ok(i) => json!(i),
            Err(_) => json!(p),
        })
        .collect()
}

/// An issue as one line: `/path: message` (for logs, the dashboard and
/// the summary of a 422).
pub fn issue_line(issue: &Value) -> String {
    let path: Vec<String> = issue["path"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "/{}: {}",
        path.join("/"),
        issue["message"].as_str().unwrap_or_default()
    )
}

/// The `error` of each status: the name Infisical's error handler gives
/// it (its error classes' names; `PermissionDenied` for a refused
/// permission, `ValidationFailure` for a schema violation).
pub fn error_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequest",
        401 => "UnauthorizedError",
        403 => "PermissionDenied",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        422 => "ValidationFailure",
        429 => "RateLimitExceeded",
        500 => "InternalServerError",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeoutError",
        _ => "Error",
    }
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            details: None,
            retry_after: None,
            issues: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// A request body that breaks its schema (or a rule on one of its
    /// fields): 422 `ValidationFailure`, `message` the list of `issues`.
    pub fn validation(issues: Vec<Value>) -> Self {
        let summary = issues.iter().map(issue_line).collect::<Vec<_>>().join("; ");
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, summary);
        e.issues = Some(Value::Array(issues));
        e
    }
    /// One `custom` issue at the field `path` (`syncOptions.keySchema`).
    pub fn invalid_field(path: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![custom_issue(path, message)])
    }
    /// Too many calls of one kind from one token: try again after `retry_after`.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this method is not allowed on this path; see /api/openapi.json",
        )
    }
    /// A failure on our side (database, broker). The cause is logged with
    /// the request id; the caller gets `message` and that id, not our
    /// infrastructure's details.
    pub fn internal(message: impl Into<String>, cause: &dyn std::fmt::Display) -> Self {
        let message = message.into();
        let req_id = current_req_id();
        tracing::error!(%req_id, error = %cause, "{message}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{message} (the cause is in the API log under {req_id})"),
        )
    }

    /// Our broker could not take a job (a node died and the next one did
    /// not answer in time): nothing was queued, the caller may try again.
    /// The cause is logged with the request id, as for `internal`.
    pub fn unavailable(message: impl Into<String>, cause: &dyn std::fmt::Display) -> Self {
        let message = message.into();
        let req_id = current_req_id();
        tracing::warn!(%req_id, error = %cause, "{message}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{message} (the cause is in the API log under {req_id})"),
        )
        .with_retry_after(1)
    }

    /// A failure of a service the caller configured (Humanitec). What
    /// Humanitec answered helps them, so it is shown (it never holds
    /// secrets); a failure to reach it at all names this instance's own
    /// network and `HUMANITEC_API_URL`, which are not the tenant's to see:
    /// that cause goes to the log (with the request id) only.
    pub fn upstream(message: impl Into<String>, cause: &crate::humanitec::HumanitecError) -> Self {
        let message = message.into();
        tracing::warn!(req_id = %current_req_id(), error = %cause, "{message}");
        let shown = match cause {
            crate::humanitec::HumanitecError::Transport { .. } => {
                format!("{message} (Humanitec could not be reached; the operators' log has the cause under this request id)")
            }
            _ => format!("{message}: {cause}"),
        };
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, shown)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// The sync service's refusals, as the API answers them.
impl From<crate::service::SyncError> for ApiError {
    fn from(e: crate::service::SyncError) -> Self {
        use crate::service::SyncError as E;
        match e {
            E::Invalid(m) => ApiError::bad_request(m),
            E::Validation { field, message } => ApiError::invalid_field(field, message),
            E::NotFound(m) => ApiError::not_found(m),
            // Infisical answers a taken name (and its other rules) with
            // 400 BadRequest.
            E::Refused(m) => ApiError::bad_request(m),
            E::Upstream(cause) => ApiError::upstream(
                "could not check the destination with Humanitec; nothing was saved, try again",
                &cause,
            ),
            // A node died and the next did not take it either: say so,
            // and that trying again is the thing to do.
            E::Queue(cause) if cause.is_outage() => {
                // When the next attempt is due, if the broker is down now.
                let retry_after = match &cause {
                    crate::queue::QueueError::Unavailable { retry_after, .. } => {
                        retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
                    }
                    _ => 1,
                };
                ApiError::unavailable(
                "the job could not be queued: RabbitMQ is unavailable (nothing was queued; try again)",
                &cause,
                )
                .with_retry_after(retry_after.max(1))
            }
            E::Queue(cause) => ApiError::internal(
                "the job could not be queued (nothing was queued; try again)",
                &cause,
            ),
            E::Credentials(cause) => {
                ApiError::internal("the connection's credentials could not be read", &cause)
            }
            E::Store(cause) => ApiError::from(cause),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal("the database failed; try again", &e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match (self.status, self.issues) {
            (StatusCode::UNPROCESSABLE_ENTITY, Some(issues)) => issues,
            (StatusCode::UNPROCESSABLE_ENTITY, None) => {
                json!([issue("custom", Vec::new(), self.message, Value::Null)])
            }
            _ => Value::String(self.message),
        };
        let mut body = json!({
            "reqId": current_req_id(),
            "statusCode": self.status.as_u16(),
            "message": message,
            "error": error_name(self.status),
        });
        let details_allowed =
            matches!(self.status, StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN);
        if let (true, Some(details)) = (details_allowed, self.details) {
            body["details"] = details;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

pub(crate) use crate::model::shorten;

/// The answer to a request that outlived HTTP_REQUEST_TIMEOUT (given to
/// the server loop, which runs outside the request's scope: a fresh id,
/// logged here so the caller's reqId can be found).
pub fn request_timeout_answer() -> Response {
    let req_id = new_req_id();
    tracing::warn!(%req_id, "a request outlived HTTP_REQUEST_TIMEOUT and was cut off");
    REQ_ID.sync_scope(req_id, || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request took too long and was stopped; try again",
        )
        .into_response()
    })
}

pub type ApiResult<T> = Result<T, ApiError>;
