//! The session cookie, the signed-in viewer it stands for, and the checks
//! every action passes: same-origin request, CSRF token, role and project.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{DashError, DashResult};
use crate::web::auth::{caller_for_token, Caller, Role};
use crate::web::state::ApiState;

pub(super) const COOKIE_NAME: &str = "secret_sync_session";
/// A session lasts a working day; the token itself stays valid until revoked.
pub(super) const COOKIE_MAX_AGE: u64 = 12 * 3600;

/// The signed-in operator of a page.
pub struct Viewer {
    pub caller: Caller,
    /// This session's CSRF token, for forms.
    pub csrf: String,
}

impl Viewer {
    pub fn can_write(&self) -> bool {
        self.caller.role >= Role::Write
    }

    /// The checks of every action: same origin, CSRF token, write role and
    /// (when the action is on a sync) the sync's project.
    pub fn check_action(
        &self,
        state: &ApiState,
        headers: &HeaderMap,
        csrf: &str,
        project: Option<&str>,
    ) -> DashResult<()> {
        check_same_origin(headers)?;
        let token = session_token(headers).unwrap_or_default();
        if !csrf_matches(&state.dashboard.csrf_key, &token, csrf) {
            return Err(DashError::forbidden(
                "the form's CSRF token does not match this session; reload the page and try again",
            ));
        }
        match project {
            Some(p) => self.caller.require(p, Role::Write)?,
            None if !self.can_write() => {
                return Err(DashError::forbidden(format!(
                    "this API token has role '{}'; this action needs role 'write'",
                    self.caller.role.as_str()
                )))
            }
            None => {}
        }
        Ok(())
    }
}

/// The session's token from the cookie header.
pub(super) fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

fn mac(key: &[u8; 32], token: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; a 32-byte key cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(token.as_bytes());
    mac
}

fn csrf_token(key: &[u8; 32], token: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, token).finalize().into_bytes())
}

pub(super) fn csrf_matches(key: &[u8; 32], token: &str, given: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    match URL_SAFE_NO_PAD.decode(given) {
        Ok(bytes) => mac(key, token).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// Refuses requests a browser marks as coming from another site.
pub(super) fn check_same_origin(headers: &HeaderMap) -> DashResult<()> {
    let cross = || DashError::forbidden("cross-site request refused");
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site == "cross-site" || site == "same-site" {
            return Err(cross());
        }
        // Under `Referrer-Policy: no-referrer` a browser's form posts say
        // `Origin: null`; its own Sec-Fetch-Site vouches for them.
        if site == "same-origin" {
            return Ok(());
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().map_err(|_| cross())?;
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let ok = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| !host.is_empty() && o == host);
        if !ok {
            return Err(cross());
        }
    }
    Ok(())
}

/// Not signed in: pages go to the login page, fragments answer 401.
pub struct SignIn(bool);

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        if self.0 {
            (StatusCode::UNAUTHORIZED, "session expired; sign in again").into_response()
        } else {
            Redirect::to("/login").into_response()
        }
    }
}

impl FromRequestParts<ApiState> for Viewer {
    type Rejection = SignIn;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, SignIn> {
        let fragment = parts
            .uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "fragment=1"));
        let token = session_token(&parts.headers).ok_or(SignIn(fragment))?;
        let caller = caller_for_token(state, &token)
            .await
            .map_err(|_| SignIn(fragment))?;
        Ok(Viewer {
            caller,
            csrf: csrf_token(&state.dashboard.csrf_key, &token),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let key = [7u8; 32];
        let t = csrf_token(&key, "ssk_a");
        assert!(csrf_matches(&key, "ssk_a", &t));
        assert!(!csrf_matches(&key, "ssk_b", &t));
        assert!(!csrf_matches(&[8u8; 32], "ssk_a", &t));
        assert!(!csrf_matches(&key, "", &csrf_token(&key, "")));
        assert!(!csrf_matches(&key, "ssk_a", "garbage!"));
    }

    #[test]
    fn foreign_origins_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(HOST, "dash.example:8080".parse().unwrap());
        assert!(check_same_origin(&h).is_ok());
        h.insert(ORIGIN, "http://dash.example:8080".parse().unwrap());
        assert!(check_same_origin(&h).is_ok());
        h.insert(ORIGIN, "https://evil.example".parse().unwrap());
        assert!(check_same_origin(&h).is_err());
        h.remove(ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(check_same_origin(&h).is_err());
    }
}
