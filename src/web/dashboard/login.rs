//! `/login` and `/logout`: signing in with an API token opens a server-side
//! session (the cookie holds only its random id); signing out ends it.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;

use maud::html;

use super::html::layout;
use super::session::{
    check_same_origin, cleared_cookie, csrf_matches, hash_session_id, new_session_id,
    session_cookie, session_id, Viewer,
};
use super::{DashError, DashResult};
use crate::web::auth::caller_for_token;
use crate::web::state::ApiState;

fn login_form(error: Option<&str>) -> String {
    let body = html! {
        div.card.login {
            h1 { "Sign in" }
            @if let Some(e) = error {
                p.flash.error { (e) }
            }
            p {
                "Paste an API token (create one with " code { "secret-sync token create" } "). \
                 It is checked once and not kept: this browser gets a session that \
                 ends when you sign out, after a while idle, or when the token is revoked."
            }
            form method="post" action="/login" {
                input type="password" name="token" #token autocomplete="off"
                    placeholder="ssk_…" required autofocus;
                button type="submit" #sign-in { "Sign in" }
            }
        }
    };
    layout("Sign in", "", None, body).into_string()
}

pub async fn login_page() -> Html<String> {
    Html(login_form(None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> DashResult {
    check_same_origin(&headers)?;
    let token = form.token.trim();
    let caller = match caller_for_token(&state, token).await {
        Ok(caller) => caller,
        Err(e) => {
            let status = if e.status.is_server_error() {
                e.status
            } else {
                StatusCode::UNAUTHORIZED
            };
            return Ok((status, Html(login_form(Some(&e.message)))).into_response());
        }
    };
    // Signing in again replaces this browser's session, not adds one.
    if let Some(old) = session_id(&headers) {
        state
            .store
            .auth
            .delete_session(&hash_session_id(&old), &[])
            .await?;
    }
    let limits = state.dashboard.session;
    let (id, hash) = new_session_id();
    if !state
        .store
        .auth
        .create_session(
            &hash,
            caller.token_id,
            limits.max_age,
            &caller.audit_per_project("session.sign-in", "session"),
        )
        .await?
    {
        // Revoked between the check and now.
        return Ok((
            StatusCode::UNAUTHORIZED,
            Html(login_form(Some(
                "the API token is unknown or has been revoked",
            ))),
        )
            .into_response());
    }
    let cookie = session_cookie(&id, limits.max_age);
    Ok(([(SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> DashResult {
    check_same_origin(&headers)?;
    let session = session_id(&headers).unwrap_or_default();
    if !csrf_matches(&state.dashboard.csrf_key, &session, &form.csrf) {
        return Err(DashError::forbidden("the form's CSRF token does not match"));
    }
    let audit = viewer
        .caller
        .audit_per_project("session.sign-out", "session");
    state
        .store
        .auth
        .delete_session(&hash_session_id(&session), &audit)
        .await?;
    Ok(([(SET_COOKIE, cleared_cookie())], Redirect::to("/login")).into_response())
}
