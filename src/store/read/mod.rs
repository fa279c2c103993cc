//! Read models: what the `status` command, the dashboard and the gauges
//! show, read straight from the rows (no writes here).

mod dashboard;
mod gauges;
mod status;

pub use dashboard::{JobHistoryRow, MinuteCount, SyncDetail, SyncFilter, SyncListRow, SyncPage};
pub use status::{JobRow, SyncStatusRow};
