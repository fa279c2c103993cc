//! A sync's connection: loaded, checked to be a Humanitec API-token
//! connection, and its token decrypted.

use secrecy::SecretString;
use serde::Deserialize;

use super::context::JobContext;
use super::error::{JobError, JobFailure};
use crate::crypto::{Aad, Cipher, Column};
use crate::model::SyncRecord;
use crate::store::ConnectionRecord;

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
        .syncs
        .load_connection(sync.connection_id)
        .await?
        .ok_or(JobFailure::ConnectionNotFound(sync.connection_id))?;
    decrypt_token(&ctx.cipher, &conn).map_err(Into::into)
}

/// A connection's API token, decrypted and checked to be sendable; the
/// one reading of stored credentials (jobs, and the API's live look-ups).
pub fn decrypt_token(cipher: &Cipher, conn: &ConnectionRecord) -> Result<SecretString, JobFailure> {
    let unusable = |reason: String| JobFailure::ConnectionUnusable {
        name: conn.name.clone(),
        reason,
    };
    if conn.app != "humanitec" || conn.method != "api-token" {
        return Err(unusable(format!(
            "it is a `{}` connection using `{}`; Humanitec syncs need app `humanitec` with method `api-token`",
            conn.app, conn.method
        )));
    }
    let json = cipher
        .decrypt(
            &conn.encrypted_credentials,
            Aad::new(&conn.project_id, Column::ConnectionCredentials),
        )
        .map_err(|source| JobFailure::Decrypt {
            what: format!("the credentials of connection `{}`", conn.name),
            source,
        })?;
    let creds: Credentials = serde_json::from_slice(&json).map_err(|_| {
        // serde's message could quote the JSON: say only what is wrong.
        unusable(
            "its credentials are not the JSON {\"apiToken\": \"...\"}; re-enter the token".into(),
        )
    })?;
    check_token(&creds.api_token).map_err(|reason| unusable(reason.into()))?;
    Ok(SecretString::from(creds.api_token))
}

/// A token must be sendable as `Authorization: Bearer <token>`. Checked
/// here so that a bad one fails the job at once with what to fix, instead
/// of surfacing as a transient "could not reach Humanitec" and being retried.
/// The reason never quotes the token.
fn check_token(token: &str) -> Result<(), &'static str> {
    if token.trim().is_empty() {
        return Err("its API token is empty; re-enter the token");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "its API token contains spaces, line breaks, control or non-ASCII characters, \
             which cannot be sent in an HTTP header; re-enter the token",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_token;

    #[test]
    fn tokens_must_fit_an_http_header() {
        assert!(check_token("hum_abc-123.XYZ_~+/=").is_ok());
        for bad in [
            "",
            "  ",
            "a\0b",
            "abc\n",
            "a b",
            "tök",
            "a\r\nX-Injected: 1",
        ] {
            let reason = check_token(bad).expect_err(bad);
            assert!(reason.ends_with("re-enter the token"), "{reason}");
            assert!(bad.trim().is_empty() || !reason.contains(bad));
        }
    }
}
