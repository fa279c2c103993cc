use std::time::Duration;

/// A failed Humanitec call. Messages name the call and key, never a value or token.
#[derive(Debug, thiserror::Error)]
pub enum HumanitecError {
    #[error("Humanitec answered {status} to {method} {path}{}", detail(.code, .message))]
    Status {
        status: u16,
        method: &'static str,
        path: String,
        code: Option<String>,
        message: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("could not reach Humanitec for {method} {path}: {reason}")]
    Transport {
        method: &'static str,
        path: String,
        reason: String,
        timeout: bool,
    },
    #[error("Humanitec sent an unexpected response to {method} {path}: {reason}")]
    Decode {
        method: &'static str,
        path: String,
        reason: String,
    },
    #[error("invalid HUMANITEC_API_URL `{0}`: {1}")]
    BadBaseUrl(String, String),
    /// A name that cannot be one segment of a Humanitec URL path; nothing
    /// was sent.
    #[error(
        "{field} `{}` cannot be addressed in Humanitec's API ({reason}); nothing was sent for it",
        .name.escape_debug()
    )]
    Unaddressable {
        field: &'static str,
        name: String,
        reason: &'static str,
    },
    /// The URL parser changed the path the client built; nothing was sent.
    #[error("the request path {built} would be sent as {parsed}; refused, nothing was sent")]
    PathChanged { built: String, parsed: String },
    /// A pause holds this client's writes (issue 41): the write was not
    /// sent. Checked before every write attempt (`WriteHold`).
    #[error("Humanitec writes are paused; {method} {path} was not sent")]
    Held { method: &'static str, path: String },
}

fn detail(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(" ({c}: {m})"),
        (None, Some(m)) => format!(" ({m})"),
        (Some(c), None) => format!(" ({c})"),
        (None, None) => String::new(),
    }
}

impl HumanitecError {
    /// 429, 5xx, timeouts and connection failures may pass; nothing else will.
    pub fn is_transient(&self) -> bool {
        match self {
            HumanitecError::Status { status, .. } => *status == 429 || *status >= 500,
            HumanitecError::Transport { .. } => true,
            HumanitecError::Decode { .. }
            | HumanitecError::BadBaseUrl(..)
            | HumanitecError::Unaddressable { .. }
            | HumanitecError::PathChanged { .. }
            | HumanitecError::Held { .. } => false,
        }
    }

    /// A write a pause held back (nothing was sent).
    pub fn is_held(&self) -> bool {
        matches!(self, HumanitecError::Held { .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            HumanitecError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HumanitecError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
