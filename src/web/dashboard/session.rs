//! The server-side session, the signed-in viewer it stands for, and the
//! checks every action passes: same-origin request, CSRF token, role and
//! project. The cookie holds only a random session id; the database holds
//! its hash, the token it belongs to and both ends of its life.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::{DashError, DashResult};
use crate::web::auth::{Caller, Role};
use crate::web::state::ApiState;

/// `__Host-`: the browser keeps it only if it is Secure, has `Path=/` and
/// no Domain, so no other host or path can set or shadow it.
pub(super) const COOKIE_NAME: &str = "__Host-secret-sync-session";

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
        let session = session_id(headers).unwrap_or_default();
        if !csrf_matches(&state.dashboard.csrf_key, &session, csrf) {
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

/// A new random session id (256 bits, for the cookie) and the hash to store.
pub(super) fn new_session_id() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    // The thread's generator is a CSPRNG seeded from the OS.
    rand::rng().fill_bytes(&mut bytes);
    let id = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_session_id(&id);
    (id, hash)
}

/// A plain SHA-256, as for API tokens: the id carries 256 random bits.
pub(super) fn hash_session_id(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// The `Set-Cookie` value that hands the browser a session id.
pub(super) fn session_cookie(id: &str, max_age: std::time::Duration) -> String {
    format!(
        "{COOKIE_NAME}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    )
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub(super) fn cleared_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session id from the cookie header (its shape checked, so junk never
/// reaches the database).
pub(super) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn mac(key: &[u8; 32], session: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; a 32-byte key cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(session.as_bytes());
    mac
}

/// The CSRF token of a session: an HMAC of its id, so it needs no storage
/// and is worthless once the session ends.
fn csrf_token(key: &[u8; 32], session: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, session).finalize().into_bytes())
}

pub(super) fn csrf_matches(key: &[u8; 32], session: &str, given: &str) -> bool {
    if session.is_empty() {
        return false;
    }
    match URL_SAFE_NO_PAD.decode(given) {
        Ok(bytes) => mac(key, session).verify_slice(&bytes).is_ok(),
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
        let session = session_id(&parts.headers).ok_or(SignIn(fragment))?;
        // A live refresh is not the operator's activity: it does not
        // restart the idle time.
        let record = state
            .store
            .auth
            .use_session(
                &hash_session_id(&session),
                state.dashboard.session.idle_timeout,
                !fragment,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "dashboard: cannot check a session");
                SignIn(fragment)
            })?
            .ok_or(SignIn(fragment))?;
        let caller = Caller::from_record(state, record)
            .await
            .map_err(|_| SignIn(fragment))?;
        Ok(Viewer {
            caller,
            csrf: csrf_token(&state.dashboard.csrf_key, &session),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let key = [7u8; 32];
        let (a, _) = new_session_id();
        let (b, _) = new_session_id();
        let t = csrf_token(&key, &a);
        assert!(csrf_matches(&key, &a, &t));
        assert!(!csrf_matches(&key, &b, &t));
        assert!(!csrf_matches(&[8u8; 32], &a, &t));
        assert!(!csrf_matches(&key, "", &csrf_token(&key, "")));
        assert!(!csrf_matches(&key, &a, "garbage!"));
    }

    #[test]
    fn session_ids_are_random_hashed_and_read_back_from_the_cookie() {
        let (a, ha) = new_session_id();
        let (b, _) = new_session_id();
        assert_ne!(a, b);
        assert_eq!((a.len(), ha.len()), (43, 32));
        assert_eq!(ha, hash_session_id(&a));
        let cookie = session_cookie(&a, std::time::Duration::from_secs(60));
        assert!(cookie.starts_with("__Host-"));
        for attr in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        assert!(!cookie.contains("Domain"));
        let mut h = HeaderMap::new();
        h.insert(COOKIE, format!("x=1; {COOKIE_NAME}={a}").parse().unwrap());
        assert_eq!(session_id(&h), Some(a));
        h.insert(
            COOKIE,
            format!("{COOKIE_NAME}=ssk_not-a-session").parse().unwrap(),
        );
        assert_eq!(session_id(&h), None);
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
