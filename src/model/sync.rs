//! A sync as the jobs read it. Its JSON columns stay raw here; the jobs
//! layer parses them (`jobs::settings`).

use uuid::Uuid;

/// A sync's source folder.
#[derive(Clone, Debug)]
pub struct FolderRecord {
    pub id: Uuid,
    pub path: String,
    pub environment_id: Uuid,
    pub environment_slug: String,
}

#[derive(Clone, Debug)]
pub struct SyncRecord {
    pub id: Uuid,
    pub name: String,
    pub project_id: String,
    pub connection_id: Uuid,
    /// None when the folder is gone (`folder_id` null).
    pub folder: Option<FolderRecord>,
    pub is_auto_sync_enabled: bool,
    pub sync_options: serde_json::Value,
    pub destination_config: serde_json::Value,
}
