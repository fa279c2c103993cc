//! Read models: what the `status` command, the dashboard and the gauges
//! show, read straight from the rows (no writes here).

mod dashboard;
mod gauges;
mod history;
mod status;

pub use dashboard::{
    FoundId, JobDetail, JobHistoryRow, MinuteCount, SyncDetail, SyncFilter, SyncListRow, SyncOrder,
    SyncPage, SyncSort,
};
pub use history::{HistoryJob, HistoryQuery};
pub use status::{JobRow, SyncStatusRow};
