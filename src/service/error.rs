//! What the sync service refuses, as the faces render it: `web/errors.rs`
//! maps each to a status and JSON, the dashboard to a page.

use crate::humanitec::HumanitecError;
use crate::jobs::JobFailure;
use crate::queue::QueueError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Input the caller can correct (400).
    #[error("{0}")]
    Invalid(String),
    /// A field of the request that breaks a rule of its own (a key schema
    /// without `{{secretKey}}`, a destination Humanitec cannot address):
    /// 422 `ValidationFailure` naming `field` (dot-separated path).
    #[error("{field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    /// Not there, or not this caller's to see: the same answer (404).
    #[error("{0}")]
    NotFound(String),
    /// Well formed, refused by a rule: another sync writes the same
    /// values, the name is taken, the destination cannot be reached (400
    /// `BadRequest`, as Infisical answers a taken name).
    #[error("{0}")]
    Refused(String),
    /// Humanitec could not be asked now; nothing was saved (502).
    #[error("could not check the destination with Humanitec; nothing was saved, try again")]
    Upstream(#[source] HumanitecError),
    /// The job could not be queued; nothing was (503 when the broker is
    /// down, else 500).
    #[error("the job could not be queued (nothing was queued; try again)")]
    Queue(#[source] QueueError),
    /// A stored connection token that cannot be decrypted (500).
    #[error("the connection's credentials could not be read")]
    Credentials(#[source] JobFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
}
