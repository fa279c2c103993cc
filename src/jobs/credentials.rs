//! A sync's connection: loaded, checked to be a Humanitec API-token
//! connection, and its token decrypted.

use secrecy::SecretString;
use serde::Deserialize;

use super::context::JobContext;
use super::error::JobError;
use crate::store::SyncRecord;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    api_token: String,
}

/// The connection's API token, decrypted.
pub async fn connection_token(
    ctx: &JobContext,
    sync: &SyncRecord,
) -> Result<SecretString, JobError> {
    let conn = ctx
        .store
        .load_connection(sync.connection_id)
        .await?
        .ok_or(JobError::ConnectionNotFound(sync.connection_id))?;
    let unusable = |reason: String| JobError::ConnectionUnusable {
        name: conn.name.clone(),
        reason,
    };
    if conn.app != "humanitec" || conn.method != "api-token" {
        return Err(unusable(format!(
            "it is a `{}` connection using `{}`; Humanitec syncs need app `humanitec` with method `api-token`",
            conn.app, conn.method
        )));
    }
    let json = ctx
        .cipher
        .decrypt(&conn.encrypted_credentials)
        .map_err(|source| JobError::Decrypt {
            what: format!("the credentials of connection `{}`", conn.name),
            source,
        })?;
    let creds: Credentials = serde_json::from_slice(&json).map_err(|_| {
        // serde's message could quote the JSON: say only what is wrong.
        unusable(
            "its credentials are not the JSON {\"apiToken\": \"...\"}; re-enter the token".into(),
        )
    })?;
    if creds.api_token.trim().is_empty() {
        return Err(unusable(
            "its API token is empty; re-enter the token".into(),
        ));
    }
    Ok(SecretString::from(creds.api_token))
}
