//! Request and response bodies, as `spec/humanitec-openapi.json` defines them.

use serde::{Deserialize, Serialize};

/// `ValueSource`: where an entry of an env-scope listing comes from.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueSource {
    App,
    Env,
}

/// `ValueResponse`. For secrets `value` is always empty: Humanitec never
/// returns secret values, so nothing secret is ever read into this type.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ValueResponse {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub is_secret: bool,
    #[serde(default)]
    pub description: String,
    /// Absent in app-scope listings of some versions: treat absent as app.
    #[serde(default)]
    pub source: Option<ValueSource>,
    #[serde(default)]
    pub secret_version: Option<String>,
    /// As Humanitec sent them; with `secret_version` they tell our own write
    /// from a delete-and-re-create that restarted the version.
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl ValueResponse {
    /// When Humanitec says this value was created and last written.
    pub fn stamp(&self) -> Option<WriteStamp> {
        Some(WriteStamp {
            created_at: self.created_at.clone()?,
            updated_at: self.updated_at.clone()?,
        })
    }
}

/// Humanitec's timestamps of a value, compared as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteStamp {
    pub created_at: String,
    pub updated_at: String,
}

impl ValueResponse {
    pub fn source(&self) -> ValueSource {
        self.source.unwrap_or(ValueSource::App)
    }
}

/// `ValueCreatePayloadRequest` (key and description required). No Debug:
/// it carries secret values.
#[derive(Serialize)]
pub(crate) struct ValueCreatePayload<'a> {
    pub key: &'a str,
    pub description: &'a str,
    pub value: &'a str,
    pub is_secret: bool,
}

/// `ValuePatchPayloadRequest`. No Debug: it carries secret values.
#[derive(Serialize)]
pub(crate) struct ValuePatchPayload<'a> {
    pub value: &'a str,
    pub description: &'a str,
}

/// `HumanitecErrorResponse`.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub error: Option<String>,
    pub message: Option<String>,
}

/// Humanitec's key pattern, `^[A-Za-z0-9_.-]+$`.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pattern_matches_the_spec() {
        for ok in ["A", "DB_URL", "a.b-c_9"] {
            assert!(is_valid_key(ok), "{ok}");
        }
        for bad in ["", "has space", "slash/key", "ümlaut", "dollar$"] {
            assert!(!is_valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn parses_a_listing_entry() {
        let v: ValueResponse = serde_json::from_str(
            r#"{"key":"K","value":"","is_secret":true,"description":"d","source":"env",
                "created_at":"2020-06-22T09:37:23.523Z","secret_version":"3","secret_key":null}"#,
        )
        .expect("valid");
        assert_eq!(v.source(), ValueSource::Env);
        assert_eq!(v.secret_version.as_deref(), Some("3"));
    }
}
