//! Hostile-input handling for every request: content type, size, JSON
//! syntax and depth, the OpenAPI request schema (bounds, enums, unknown
//! fields), invisible and control characters, ids in paths, query strings.
//! Every failure is a 400 with the seed's error body.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::web::errors::{shorten, ApiError};
use crate::web::state::ApiState;

/// Largest request body accepted (requests here are small JSON objects).
pub const BODY_LIMIT: usize = 64 * 1024;
/// Longest query string accepted.
pub const QUERY_LIMIT: usize = 2048;

/// A request body type, validated against its operation's request schema
/// in the served OpenAPI document before it is deserialised.
pub trait RequestBody: DeserializeOwned {
    /// The `operationId` whose request schema applies.
    const OPERATION: &'static str;
}

/// A JSON body that passed every check.
pub struct ValidJson<T>(pub T);

impl<T: RequestBody> FromRequest<ApiState> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        let content_type = content_type_of(&req);
        check_content_type(&content_type)?;
        let bytes = read_body(req, state).await?;
        checked_body(&bytes, state).map(ValidJson)
    }
}

/// A JSON body that may be left out (no body, or only whitespace); when
/// sent, it passes every check of [`ValidJson`].
pub struct OptionalJson<T>(pub Option<T>);

impl<T: RequestBody> FromRequest<ApiState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        let content_type = content_type_of(&req);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        check_content_type(&content_type)?;
        checked_body(&bytes, state).map(|v| OptionalJson(Some(v)))
    }
}

fn content_type_of(req: &Request) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn check_content_type(content_type: &str) -> Result<(), ApiError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "the request body must be JSON sent with `Content-Type: application/json` (got {})",
        if content_type.is_empty() {
            "no Content-Type".to_string()
        } else {
            format!("`{}`", shorten(content_type))
        }
    )))
}

async fn read_body(req: Request, state: &ApiState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::bad_request(format!(
                "the request body is larger than {} KiB",
                BODY_LIMIT / 1024
            ))
        } else {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        }
    })
}

/// Parses, validates against the operation's schema and deserialises.
fn checked_body<T: RequestBody>(bytes: &[u8], state: &ApiState) -> Result<T, ApiError> {
    let value = parse_json(bytes)?;
    let errors = state.validators.check(T::OPERATION, &value)?;
    if let Some(first) = errors.first() {
        return Err(ApiError::bad_request(format!(
            "the request body is invalid: {}{}",
            first,
            match errors.len() {
                1 => String::new(),
                n => format!(" (and {} more, see details)", n - 1),
            }
        ))
        .with_details(json!(errors)));
    }
    let holds_credentials = super::openapi::holds_credentials(&value);
    serde_json::from_value(value).map_err(|e| {
        if holds_credentials {
            // serde's message may quote a value under `credentials`.
            ApiError::bad_request("the request body does not match the API document")
        } else {
            ApiError::bad_request(format!("the request body is invalid: {e}"))
        }
    })
}

/// Lists answer pages: `offset` (default 0) and `limit` (default
/// [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]), as Infisical's lists take them.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// The page asked for, or a 400 that says which bound was broken.
pub fn page(offset: Option<i64>, limit: Option<i64>) -> Result<crate::store::Page, ApiError> {
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if offset < 0 {
        return Err(ApiError::bad_request(format!(
            "offset must be 0 or more (got {offset})"
        )));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT} (got {limit}); page through longer lists \
             with offset"
        )));
    }
    Ok(crate::store::Page { offset, limit })
}

/// Parses a body as JSON and rejects invisible characters anywhere in it.
fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; send a JSON object",
        ));
    }
    // serde_json stops at 128 levels of nesting, so deep input cannot
    // exhaust the stack; it reports positions, never content.
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    check_strings(&value, &mut String::new())?;
    Ok(value)
}

/// Rejects control and invisible formatting characters in every string
/// and key (line breaks and tabs are allowed where text is free-form;
/// single-line fields are checked again by their handlers).
fn check_strings(value: &Value, path: &mut String) -> Result<(), ApiError> {
    match value {
        Value::String(s) => check_text(if path.is_empty() { "/" } else { path }, s, true),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
            let len = path.len();
            path.push_str(&format!("/{i}"));
            let r = check_strings(v, path);
            path.truncate(len);
            r
        }),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check_text("a property name", k, false)?;
            let len = path.len();
            path.push('/');
            path.push_str(k);
            let r = check_strings(v, path);
            path.truncate(len);
            r
        }),
        _ => Ok(()),
    }
}

/// Control characters (other than tab and line breaks when `multiline`),
/// bidirectional overrides, zero-width and other invisible format characters.
fn forbidden_char(c: char, multiline: bool) -> bool {
    (c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')))
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Checks one caller-supplied string; `field` names it in the message.
pub fn check_text(field: &str, value: &str, multiline: bool) -> Result<(), ApiError> {
    match value.chars().find(|c| forbidden_char(*c, multiline)) {
        None => Ok(()),
        Some(c) => Err(ApiError::bad_request(format!(
            "{} contains the invisible or control character U+{:04X}; remove it",
            shorten(field),
            c as u32
        ))),
    }
}

/// Names of syncs and connections: the seed asks for slug-friendly names.
pub fn check_slug(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field} `{}` is not slug-friendly: use lowercase letters and digits, \
             with single hyphens between them (like `prod-web-sync`)",
            shorten(value)
        )))
    }
}

/// A validated query string (`T` denies unknown parameters).
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        if raw.len() > QUERY_LIMIT {
            return Err(ApiError::bad_request(format!(
                "the query string is longer than {QUERY_LIMIT} characters"
            )));
        }
        let pairs = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|e| {
            ApiError::bad_request(format!("the query string is invalid: {}", e.body_text()))
        })?;
        for (name, value) in &pairs.0 {
            check_text("a query parameter", name, false)?;
            check_text(
                &format!("query parameter `{}`", shorten(name)),
                value,
                false,
            )?;
        }
        Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ValidQuery(q.0))
            .map_err(|e| {
                ApiError::bad_request(format!("the query string is invalid: {}", e.body_text()))
            })
    }
}

/// The one id in a path like `/…/{syncId}` or `/…/{syncId}/sync-secrets`.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!("the path is invalid: {}", e.body_text()))
            })?;
        path_uuid(&raw).map(PathId)
    }
}

/// An id taken from a path segment; a 400 that shows (a shortened copy of)
/// what was given when it is not a UUID.
pub fn path_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::bad_request(format!(
            "the id in the path must be a UUID, got `{}`",
            shorten(raw)
        ))
    })
}

/// The one name in a path like `/…/sync-name/{syncName}`, checked for
/// invisible and control characters; errors in the seed's body.
pub struct PathName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!("the path is invalid: {}", e.body_text()))
            })?;
        check_text("the name in the path", &raw, false)?;
        if raw.trim().is_empty() {
            return Err(ApiError::bad_request("the name in the path is empty"));
        }
        Ok(PathName(raw))
    }
}

/// The names of the fields a request set (values are never recorded).
pub(super) fn provided(fields: &[(&'static str, bool)]) -> Vec<&'static str> {
    fields
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_control_characters_are_refused() {
        assert!(check_text("name", "plain text", false).is_ok());
        assert!(check_text("description", "two\nlines\tok", true).is_ok());
        assert!(check_text("name", "two\nlines", false).is_err());
        for bad in [
            "a\u{0}b",
            "a\u{202E}b",
            "a\u{200B}b",
            "\u{FEFF}a",
            "a\u{1b}[31m",
        ] {
            let err = check_text("name", bad, true).err().map(|e| e.message);
            assert!(err.is_some_and(|m| m.contains("U+")), "{bad:?}");
        }
        assert!(check_text("name", "héllo wörld ✓", false).is_ok());
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(
            page(None, None).ok(),
            Some(crate::store::Page {
                offset: 0,
                limit: DEFAULT_LIMIT
            })
        );
        assert!(page(Some(5), Some(MAX_LIMIT)).is_ok());
        for (offset, limit) in [
            (Some(-1), None),
            (None, Some(0)),
            (None, Some(MAX_LIMIT + 1)),
        ] {
            let err = page(offset, limit).err().map(|e| e.status.as_u16());
            assert_eq!(err, Some(400), "{offset:?} {limit:?}");
        }
    }

    #[test]
    fn slugs() {
        for ok in ["a", "prod-web", "sync-2"] {
            assert!(check_slug("name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Prod", "a--b", "-a", "a-", "a b", "a_b", "é"] {
            assert!(check_slug("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_errors_never_echo_content_and_depth_is_bounded() {
        let deep = "[".repeat(100_000);
        let err = parse_json(deep.as_bytes()).err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("recursion limit")));
        let err = parse_json(b"{\"apiToken\": \"s3cret")
            .err()
            .map(|e| e.message);
        assert!(err.is_some_and(|m| !m.contains("s3cret")));
        let err = parse_json(br#"{"k\u0000": 1}"#).err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("U+0000")));
        assert!(parse_json(b"  ").is_err());
    }
}
