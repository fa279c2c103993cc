//! `/login` and `/logout`: signing in with an API token, which is kept in
//! the session cookie, and signing out.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;

use maud::html;

use super::html::layout;
use super::session::{
    check_same_origin, csrf_matches, session_token, Viewer, COOKIE_MAX_AGE, COOKIE_NAME,
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
                 It is kept in an HttpOnly cookie for this browser only."
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
    if let Err(e) = caller_for_token(&state, token).await {
        let status = if e.status.is_server_error() {
            e.status
        } else {
            StatusCode::UNAUTHORIZED
        };
        return Ok((status, Html(login_form(Some(&e.message)))).into_response());
    }
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes() == b"https");
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE}{}",
        if secure { "; Secure" } else { "" }
    );
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
    let token = session_token(&headers).unwrap_or_default();
    if !csrf_matches(&state.dashboard.csrf_key, &token, &form.csrf) {
        return Err(DashError::forbidden("the form's CSRF token does not match"));
    }
    drop(viewer);
    let cookie = format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}
