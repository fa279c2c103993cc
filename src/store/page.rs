//! A page of a list: `offset` rows skipped, at most `limit` returned.

/// Bounds checked by the caller (the API refuses a limit above its maximum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    /// Everything (for internal callers that need the whole list).
    pub const ALL: Page = Page {
        offset: 0,
        limit: i64::MAX,
    };
}
