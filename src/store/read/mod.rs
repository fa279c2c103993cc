//! Read models: what the `status` command, the dashboard and the gauges
//! show, read straight from the rows (no writes here).

mod dashboard;
mod gauges;
mod history;
mod status;

pub use dashboard::{JobHistoryRow, MinuteCount, SyncDetail, SyncFilter, SyncListRow, SyncPage};
pub use history::{HistoryQuery, JobDetail};
pub use status::{JobRow, SyncStatusRow};
