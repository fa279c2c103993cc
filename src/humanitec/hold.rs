//! A hook through which a pause (issue 41) holds writes back, so this
//! module needs no knowledge of where pauses are kept.

/// Whether writes must not be sent now. Asked before every write attempt,
/// in-process retries included, once the attempt has its slot of the write
/// limit: a write that waited for a slot while a pause began is not sent.
/// Must be cheap (an in-memory look), it is on every write.
pub trait WriteHold: Send + Sync + std::fmt::Debug {
    fn held(&self) -> bool;
}
