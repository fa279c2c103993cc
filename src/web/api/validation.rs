//! Hostile-input handling for every request: content type, size, JSON
//! syntax and depth, the OpenAPI request schema (bounds, enums, the
//! destination's fields), invisible and control characters, ids in paths,
//! query strings. A body that is not JSON (or too big, too deep, not sent
//! as JSON) is a 400 `BadRequest`; a JSON body that breaks its schema or a
//! rule of one of its fields is a 422 `ValidationFailure` listing every
//! issue in zod's shape, as Infisical answers. Query strings and paths
//! answer 400. Bodies are read as Infisical's zod schemas read them: keys
//! a schema does not name are ignored at the top level, names are trimmed
//! and lowercased, other strings trimmed (`RequestBody::normalize`).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;
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

    /// What Infisical's schema does to the body before it checks it
    /// (`.trim()`, `slugSchema`'s lowercase): see [`trim_fields`].
    fn normalize(_body: &mut Value) {}
}

/// Trims the string fields `trimmed`, and trims and lowercases the name
/// fields `names` (Infisical's `slugSchema`: `.trim().toLowerCase()`), of
/// a body object; `credentials.apiToken` is trimmed too (its
/// `z.string().trim()`). Anything not a string is left for the schema.
pub fn trim_fields(body: &mut Value, trimmed: &[&str], names: &[&str]) {
    let Some(map) = body.as_object_mut() else {
        return;
    };
    for (key, value) in map.iter_mut() {
        let Value::String(s) = value else {
            continue;
        };
        if names.contains(&key.as_str()) {
            *s = s.trim().to_lowercase();
        } else if trimmed.contains(&key.as_str()) {
            *s = s.trim().to_string();
        }
    }
    if let Some(Value::String(token)) = map
        .get_mut("credentials")
        .and_then(|c| c.get_mut("apiToken"))
    {
        *token = token.trim().to_string();
    }
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

/// A JSON body that may be left out (no body, only whitespace, or `{}`,
/// which Infisical's frontend posts for "no body"); when sent, it passes
/// every check of [`ValidJson`].
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
        if serde_json::from_slice::<Value>(&bytes)
            .is_ok_and(|v| v.as_object().is_some_and(|m| m.is_empty()))
        {
            return Ok(OptionalJson(None));
        }
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

/// Parses, normalises (as Infisical's schema would), validates against
/// the operation's schema and deserialises. Violations: 422 with every
/// issue (at most 10).
fn checked_body<T: RequestBody>(bytes: &[u8], state: &ApiState) -> Result<T, ApiError> {
    let mut value = parse_json(bytes)?;
    T::normalize(&mut value);
    let issues = state.validators.check(T::OPERATION, &value)?;
    if !issues.is_empty() {
        return Err(ApiError::validation(issues));
    }
    let holds_credentials = super::openapi::holds_credentials(&value);
    serde_json::from_value(value).map_err(|e| {
        if holds_credentials {
            // serde's message may quote a value under `credentials`.
            ApiError::invalid_field("", "the request body does not match the API document")
        } else {
            ApiError::invalid_field("", format!("the request body is invalid: {e}"))
        }
    })
}

/// Lists answer pages: `offset` (default 0) and `limit` (at most
/// [`MAX_LIMIT`]), as Infisical's lists take them. Without `limit` a list
/// answers every item, as Infisical's do (its frontend never pages), up
/// to [`LIST_CAP`]; a longer list is a 400 that says to page, never a
/// silent cut.
pub const MAX_LIMIT: i64 = 1000;
pub const LIST_CAP: i64 = 10_000;

/// The page asked for (without `limit`: the whole list up to the cap, and
/// one item more to tell a longer list), or a 400 that says which bound
/// was broken. Check what comes back with [`within_cap`].
pub fn page(offset: Option<i64>, limit: Option<i64>) -> Result<crate::store::Page, ApiError> {
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request(format!(
            "offset must be 0 or more (got {offset})"
        )));
    }
    let Some(limit) = limit else {
        return Ok(crate::store::Page {
            offset,
            limit: LIST_CAP + 1,
        });
    };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT} (got {limit}); page through longer lists \
             with offset"
        )));
    }
    Ok(crate::store::Page { offset, limit })
}

/// The items of a [`page`]: a list asked for without `limit` that is
/// longer than [`LIST_CAP`] is a 400 saying how to read it, not a cut.
pub fn within_cap<T>(items: Vec<T>, page: crate::store::Page) -> Result<Vec<T>, ApiError> {
    fits_answer(items.len() as i64, page)?;
    Ok(items)
}

/// Whether `items` (from the page's offset on) fit one answer: the check
/// of [`within_cap`] for a list counted before it is read.
pub fn fits_answer(items: i64, page: crate::store::Page) -> Result<(), ApiError> {
    if page.limit > MAX_LIMIT && items > LIST_CAP {
        return Err(ApiError::bad_request(format!(
            "this list has more than {LIST_CAP} items, more than one answer holds; page through \
             it with offset and limit (limit at most {MAX_LIMIT}: ?offset=0&limit={MAX_LIMIT}, \
             then ?offset={MAX_LIMIT}&limit={MAX_LIMIT}, …)"
        )));
    }
    Ok(())
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
/// single-line fields are checked again by their handlers): a 422 naming
/// the field.
fn check_strings(value: &Value, path: &mut String) -> Result<(), ApiError> {
    match value {
        Value::String(s) => check_field(if path.is_empty() { "/" } else { path }, s, true),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
            let len = path.len();
            path.push_str(&format!("/{i}"));
            let r = check_strings(v, path);
            path.truncate(len);
            r
        }),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check_field(&format!("{path}/a property name"), k, false)?;
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

/// Checks one caller-supplied string of a query string or path; `field`
/// names it in the message (a 400).
pub fn check_text(field: &str, value: &str, multiline: bool) -> Result<(), ApiError> {
    match forbidden_message(field, value, multiline) {
        None => Ok(()),
        Some(m) => Err(ApiError::bad_request(m)),
    }
}

/// Checks one string of a JSON body; `field` is its path
/// (`destinationConfig.app`): a 422 naming it.
pub fn check_field(field: &str, value: &str, multiline: bool) -> Result<(), ApiError> {
    match forbidden_message(field, value, multiline) {
        None => Ok(()),
        Some(m) => Err(ApiError::invalid_field(field, m)),
    }
}

fn forbidden_message(field: &str, value: &str, multiline: bool) -> Option<String> {
    let c = value.chars().find(|c| forbidden_char(*c, multiline))?;
    Some(format!(
        "{} contains the invisible or control character U+{:04X}; remove it",
        shorten(field),
        c as u32
    ))
}

/// The longest key name a query may ask about (Humanitec's keys are far
/// shorter; a longer one cannot have been pushed).
pub const MAX_KEY_NAME: usize = 256;

/// A key name in a query string (`?key=DATABASE_URL`): not empty, at most
/// [`MAX_KEY_NAME`] characters, no control or invisible character: a 400.
pub fn check_key_name(field: &str, value: &str) -> Result<(), ApiError> {
    check_text(field, value, false)?;
    if value.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{field} is empty; give a key name, like `DATABASE_URL`"
        )));
    }
    let chars = value.chars().count();
    if chars > MAX_KEY_NAME {
        return Err(ApiError::bad_request(format!(
            "{field} is {chars} characters long; a key name has at most {MAX_KEY_NAME}"
        )));
    }
    Ok(())
}

/// Names of syncs and connections: the seed asks for slug-friendly names
/// (Infisical's `slugSchema`, after its trim and lowercase): a 422.
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
        Err(ApiError::invalid_field(
            field,
            format!(
                "{field} `{}` is not slug-friendly: use lowercase letters and digits, \
                 with single hyphens between them (like `prod-web-sync`)",
                shorten(value)
            ),
        ))
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
    use serde_json::json;

    #[test]
    fn key_names_in_queries_are_bounded_and_visible() {
        assert!(check_key_name("key", "DATABASE_URL").is_ok());
        assert!(check_key_name("key", &"K".repeat(MAX_KEY_NAME)).is_ok());
        for bad in [
            String::new(),
            "K".repeat(MAX_KEY_NAME + 1),
            "DB\u{0}URL".to_string(),
            "DB_URL\n".to_string(),
            "\u{200B}DB_URL".to_string(),
        ] {
            assert!(check_key_name("key", &bad).is_err(), "{bad:?}");
        }
    }

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
        // Without a limit: everything up to the cap (one more to tell).
        let whole = page(None, None).ok();
        assert_eq!(
            whole,
            Some(crate::store::Page {
                offset: 0,
                limit: LIST_CAP + 1
            })
        );
        let whole = whole.expect("page");
        let at_cap = vec![0u8; LIST_CAP as usize];
        assert_eq!(
            within_cap(at_cap, whole).map(|v| v.len()).ok(),
            Some(10_000)
        );
        let over = vec![0u8; LIST_CAP as usize + 1];
        let err = within_cap(over, whole).err();
        assert_eq!(err.as_ref().map(|e| e.status.as_u16()), Some(400));
        assert!(err.is_some_and(|e| e.message.contains("offset and limit")));
        // An explicit page of 1000 is never refused for its length.
        let explicit = page(None, Some(MAX_LIMIT)).expect("page");
        assert!(within_cap(vec![0u8; MAX_LIMIT as usize], explicit).is_ok());
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
        // Content is a 422 naming the field; syntax a 400.
        let err = parse_json(br#"{"a": {"b": "x\u0000"}}"#).err();
        assert_eq!(err.as_ref().map(|e| e.status.as_u16()), Some(422));
        let issues = err.and_then(|e| e.issues).unwrap_or_default();
        assert_eq!(issues[0]["path"], json!(["a", "b"]), "{issues}");
        assert_eq!(parse_json(b"{").err().map(|e| e.status.as_u16()), Some(400));
    }

    #[test]
    fn names_are_trimmed_and_lowercased_other_fields_trimmed() {
        let mut body = json!({"name": "  Web-Prod ", "description": " d ",
            "projectId": " p ", "other": " kept ", "credentials": {"apiToken": " t\n"}});
        trim_fields(&mut body, &["description", "projectId"], &["name"]);
        assert_eq!(
            body,
            json!({"name": "web-prod", "description": "d", "projectId": "p",
                   "other": " kept ", "credentials": {"apiToken": "t"}})
        );
    }
}
