//! `/dead`: the dead-letter queue, with why each message is there and an
//! escaped preview of its body; requeue one or all, discard one. Not
//! refreshed live: listing takes the messages and hands them back.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect};
use axum::Form;
use serde::Deserialize;

use super::html::{csrf_field, esc, esc_or, layout, url_enc};
use super::session::Viewer;
use super::{DashError, DashResult};
use crate::queue::DeadSelector;
use crate::web::state::ApiState;

const LIMIT: usize = 200;

#[derive(Deserialize, Default)]
pub struct DeadQuery {
    done: Option<String>,
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(q): Query<DeadQuery>,
) -> DashResult {
    let broker = state.dashboard.broker().await?;
    let listed = broker.list_dead(LIMIT).await;
    broker.close("listed").await;
    let letters = listed?;
    let flash = q
        .done
        .map(|d| format!("<p class=\"flash\" id=\"flash\">{}</p>", esc(&d)))
        .unwrap_or_default();
    let write = viewer.can_write();
    let csrf = csrf_field(&viewer);
    let rows: String = letters
        .iter()
        .map(|d| {
            // A message id survives other messages leaving the queue; a position does not.
            let which = d
                .message_id
                .clone()
                .unwrap_or_else(|| d.position.to_string());
            let buttons = if write {
                format!(
                    "<form method=\"post\" action=\"/dead/requeue\" class=\"inline\">{csrf}\
                     <input type=\"hidden\" name=\"which\" value=\"{w}\">\
                     <button type=\"submit\" class=\"requeue\">Requeue</button></form>\
                     <form method=\"post\" action=\"/dead/discard\" class=\"inline\" \
                     data-confirm=\"Discard this message for good?\">{csrf}\
                     <input type=\"hidden\" name=\"which\" value=\"{w}\">\
                     <button type=\"submit\" class=\"danger discard\">Discard</button></form>",
                    w = esc(&which)
                )
            } else {
                String::new()
            };
            format!(
                "<tr data-message-id=\"{}\"><td>{}</td><td><code>{}</code><div class=\"muted small\">from {} · {}</div></td>\
                 <td class=\"message\">{}</td><td><pre class=\"body\">{}</pre><div class=\"muted small\">{} bytes</div></td>\
                 <td class=\"muted small\">{}</td><td class=\"actions\">{buttons}</td></tr>",
                esc(d.message_id.as_deref().unwrap_or("")),
                d.position,
                esc(&d.routing_key),
                esc_or(d.source.as_deref(), "?"),
                esc_or(d.message_id.as_deref(), "no message id"),
                esc_or(d.reason.as_deref(), "unknown"),
                esc(&d.body_preview),
                d.body_bytes,
                esc_or(d.dead_at.as_deref(), ""),
            )
        })
        .collect();
    let table = if letters.is_empty() {
        "<p class=\"muted\" id=\"no-dead\">The dead-letter queue is empty.</p>".to_string()
    } else {
        format!(
            "<table class=\"dead\" id=\"dead\"><thead><tr><th>#</th><th>Routing key</th><th>Reason</th>\
             <th>Body</th><th>Dead since</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        )
    };
    let all = if write && !letters.is_empty() {
        format!(
            "<form method=\"post\" action=\"/dead/requeue\" class=\"inline\">{csrf}\
             <input type=\"hidden\" name=\"which\" value=\"all\">\
             <button type=\"submit\" id=\"requeue-all\">Requeue all</button></form>"
        )
    } else {
        String::new()
    };
    let body = format!(
        "<div class=\"toolbar\"><h1>Dead letters</h1>{all}</div>{flash}\
         <p class=\"muted\">Messages the workers could not handle ({} shown, at most {LIMIT}). \
         Requeued messages go back to where they came from.</p>{table}",
        letters.len()
    );
    Ok(Html(layout("Dead letters", "dead", Some(&viewer), &body)).into_response())
}

#[derive(Deserialize)]
pub struct DeadForm {
    #[serde(default)]
    csrf: String,
    which: String,
}

async fn settle(
    state: &ApiState,
    viewer: &Viewer,
    headers: &HeaderMap,
    form: &DeadForm,
    requeue: bool,
) -> DashResult {
    viewer.check_action(state, headers, &form.csrf, None)?;
    let which = DeadSelector::parse(form.which.trim());
    if !requeue && which == DeadSelector::All {
        return Err(DashError::new(
            StatusCode::BAD_REQUEST,
            "discard one message at a time",
        ));
    }
    let broker = state.dashboard.broker().await?;
    let done = if requeue {
        broker.requeue_dead(&which).await
    } else {
        broker.discard_dead(&which).await
    };
    broker.close("settled").await;
    let n = done?;
    let verb = if requeue { "requeued" } else { "discarded" };
    tracing::info!(%which, n, "dashboard {verb} dead letters");
    let text = format!("{verb} {n} message(s) ({which})");
    Ok(Redirect::to(&format!("/dead?done={}", url_enc(&text))).into_response())
}

pub async fn requeue(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<DeadForm>,
) -> DashResult {
    settle(&state, &viewer, &headers, &form, true).await
}

pub async fn discard(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<DeadForm>,
) -> DashResult {
    settle(&state, &viewer, &headers, &form, false).await
}
