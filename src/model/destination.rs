//! A destination as the core sees it: where values live (`Scope`) and what
//! a listing of it says (`ValueResponse`). Humanitec's listing parses
//! straight into these (its field names), so no copy is made per key; the
//! HTTP paths and payloads stay in `humanitec`.

use serde::{Deserialize, Serialize};

/// Where values live: an app's base values, or one environment's view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    App {
        org: String,
        app: String,
    },
    Env {
        org: String,
        app: String,
        env: String,
    },
}

impl Scope {
    /// The app scope of this scope (itself for app scope).
    pub fn app_scope(&self) -> Scope {
        match self {
            Scope::App { .. } => self.clone(),
            Scope::Env { org, app, .. } => Scope::App {
                org: org.clone(),
                app: app.clone(),
            },
        }
    }

    pub fn is_env(&self) -> bool {
        matches!(self, Scope::Env { .. })
    }

    /// The organization and application written to, at either scope.
    pub fn org_app(&self) -> (&str, &str) {
        match self {
            Scope::App { org, app } | Scope::Env { org, app, .. } => (org, app),
        }
    }

    /// A stable name for the destination, e.g. `org/app` or `org/app/env`.
    pub fn label(&self) -> String {
        match self {
            Scope::App { org, app } => format!("{org}/{app}"),
            Scope::Env { org, app, env } => format!("{org}/{app}/{env}"),
        }
    }
}

/// Where an entry of an env-scope listing comes from.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueSource {
    App,
    Env,
}

/// One entry of a destination's listing. For secrets `value` is always
/// empty: Humanitec never returns secret values, so nothing secret is ever
/// read into this type.
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
    /// When the destination says this value was created and last written.
    pub fn stamp(&self) -> Option<WriteStamp> {
        Some(WriteStamp {
            created_at: self.created_at.clone()?,
            updated_at: self.updated_at.clone()?,
        })
    }

    pub fn source(&self) -> ValueSource {
        self.source.unwrap_or(ValueSource::App)
    }
}

/// A destination's timestamps of a value, compared as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteStamp {
    pub created_at: String,
    pub updated_at: String,
}

/// Why `name` cannot be one segment of a Humanitec URL path, if it cannot.
///
/// The path builder percent-encodes every byte outside `A-Za-z0-9-._~`, so
/// `/`, `%`, `\\`, NUL, whitespace and bidi marks all travel as data. What
/// is left that a URL parser reinterprets are the dot segments: reqwest's
/// parser (the URL standard) drops `.` and climbs for `..`, so `DELETE
/// …/values/..` would address the application itself. An empty name would
/// address the collection. Such names are refused, never sent.
pub fn unaddressable(name: &str) -> Option<&'static str> {
    match name {
        "" => Some("it is empty"),
        "." | ".." => Some("a URL parser reads it as a path step (`.`/`..`), not a name"),
        _ => None,
    }
}

/// The destination's key pattern, `^[A-Za-z0-9_.-]+$`.
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
    fn dot_segments_and_empty_names_are_unaddressable() {
        for bad in ["", ".", ".."] {
            assert!(unaddressable(bad).is_some(), "{bad:?}");
        }
        for ok in ["...", "a.", ".a", "%2e", ".%2E", "a/b", "A"] {
            assert_eq!(unaddressable(ok), None, "{ok:?}");
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

    #[test]
    fn scopes_are_labelled_and_lifted_to_the_app() {
        let s = Scope::Env {
            org: "my-org".into(),
            app: "web".into(),
            env: "dev".into(),
        };
        assert_eq!(s.label(), "my-org/web/dev");
        assert!(s.is_env());
        assert_eq!(
            s.app_scope(),
            Scope::App {
                org: "my-org".into(),
                app: "web".into()
            }
        );
    }
}
