//! A connection's token, read for a handler that calls Humanitec with it
//! (the preview of organizations, the destination check of a sync).

use secrecy::SecretString;
use uuid::Uuid;

use crate::jobs::{decrypt_token, JobFailure};
use crate::store::ConnectionRecord;
use crate::web::errors::{ApiError, ApiResult};
use crate::web::state::ApiState;

/// The connection row and its decrypted token, for a handler that calls
/// Humanitec with it (the caller's right to the connection checked before).
pub(super) async fn connection_with_token(
    state: &ApiState,
    id: Uuid,
) -> ApiResult<(ConnectionRecord, SecretString)> {
    let conn = state
        .store
        .load_connection(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app connection {id} not found")))?;
    let token = decrypt_token(&state.cipher, &conn).map_err(|e| match e {
        JobFailure::Decrypt { .. } => {
            ApiError::internal("the connection's credentials could not be read", &e)
        }
        other => ApiError::bad_request(other.to_string()),
    })?;
    Ok((conn, token))
}
