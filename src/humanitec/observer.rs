//! A hook for whoever counts Humanitec calls (the worker's metrics), so this
//! module needs no knowledge of how they are exported.

/// Told about every HTTP attempt and every in-process retry.
pub trait RequestObserver: Send + Sync + std::fmt::Debug {
    /// One attempt finished: `status` is the HTTP status, or `None` when no
    /// response came (timeout, refused, reset).
    fn request(&self, method: &'static str, status: Option<u16>, seconds: f64);
    /// A failed attempt is about to be retried in process.
    fn retry(&self, method: &'static str);
}
