//! Rows as the store hands them out. Encrypted columns stay encrypted here;
//! the jobs layer decrypts what it needs, when it needs it.

use uuid::Uuid;

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

#[derive(Clone)]
pub struct ConnectionRecord {
    pub id: Uuid,
    pub name: String,
    pub app: String,
    pub method: String,
    pub encrypted_credentials: Vec<u8>,
}

#[derive(Clone)]
pub struct EncryptedSecret {
    pub key: String,
    pub encrypted_value: Vec<u8>,
    pub encrypted_comment: Option<Vec<u8>>,
}
