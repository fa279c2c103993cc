//! `/dead`: the dead-letter queue, with why each message is there and an
//! escaped preview of its body; requeue one or all, discard one. Not
//! refreshed live: listing takes the messages and hands them back.
//! A project token sees, counts and settles only its projects' letters (a
//! job's sync, an event's project); letters naming no project, or a sync
//! that no longer exists, are for instance admins only.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::html::{csrf_field, layout, or, url_enc};
use super::session::Viewer;
use super::{DashError, DashResult};
use crate::queue::{DeadSelector, DeadSubject};
use crate::store::StoreError;
use crate::web::auth::Caller;
use crate::web::state::ApiState;

const LIMIT: usize = 200;
/// Dead letters read to find a project's first `LIMIT`.
const SCAN: usize = 5_000;

#[derive(Deserialize, Default)]
pub struct DeadQuery {
    done: Option<String>,
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(q): Query<DeadQuery>,
) -> DashResult {
    let state = &state;
    let broker = state.dashboard.broker().await?;
    let listed = async {
        let batch = broker.take_dead(SCAN).await?;
        let visible = visible(state, &viewer.caller, &batch.subjects()).await;
        match visible {
            Ok(v) => Ok(batch.list(&v, LIMIT).await?),
            Err(e) => {
                batch.list(&[], 0).await?;
                Err(DashError::from(e))
            }
        }
    }
    .await;
    broker.close("listed").await;
    let letters = listed?;
    let write = viewer.can_write();
    let csrf = csrf_field(&viewer);
    let body = html! {
        div.toolbar {
            h1 { "Dead letters" }
            @if write && !letters.is_empty() {
                form.inline method="post" action="/dead/requeue" {
                    (csrf)
                    input type="hidden" name="which" value="all";
                    button type="submit" #requeue-all { "Requeue all" }
                }
            }
        }
        @if let Some(done) = &q.done {
            p.flash #flash { (done) }
        }
        p.muted {
            "Messages the workers could not handle (" (letters.len()) " shown, at most " (LIMIT)
            "). Requeued messages go back to where they came from."
        }
        @if letters.is_empty() {
            p.muted #no-dead { "The dead-letter queue is empty." }
        } @else {
            table.dead #dead {
                thead {
                    tr {
                        th { "#" } th { "Routing key" } th { "Reason" } th { "Body" }
                        th { "Dead since" } th {}
                    }
                }
                tbody {
                    @for d in &letters {
                        // A message id survives other messages leaving the queue; a position does not.
                        @let which = d.message_id.clone().unwrap_or_else(|| d.position.to_string());
                        tr data-message-id=(d.message_id.as_deref().unwrap_or("")) {
                            td { (d.position) }
                            td {
                                code { (d.routing_key) }
                                div.muted.small {
                                    "from " (or(d.source.as_deref(), "?")) " · "
                                    (or(d.message_id.as_deref(), "no message id"))
                                }
                            }
                            td.message { (or(d.reason.as_deref(), "unknown")) }
                            td {
                                // The preview is already cut and made printable by the queue room.
                                pre.body { (d.body_preview) }
                                div.muted.small { (d.body_bytes) " bytes" }
                            }
                            td.muted.small { (or(d.dead_at.as_deref(), "")) }
                            td.actions {
                                @if write {
                                    form.inline method="post" action="/dead/requeue" {
                                        (csrf)
                                        input type="hidden" name="which" value=(which);
                                        button.requeue type="submit" { "Requeue" }
                                    }
                                    form.inline method="post" action="/dead/discard"
                                        data-confirm="Discard this message for good?" {
                                        (csrf)
                                        input type="hidden" name="which" value=(which);
                                        button.danger.discard type="submit" { "Discard" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(super::page(layout(
        "Dead letters",
        "dead",
        Some(&viewer),
        body,
    )))
}

/// Which of the letters (by whom they concern) `caller` may see.
async fn visible(
    state: &ApiState,
    caller: &Caller,
    subjects: &[DeadSubject],
) -> Result<Vec<bool>, StoreError> {
    if caller.is_admin() {
        return Ok(vec![true; subjects.len()]);
    }
    let mut ids: Vec<Uuid> = subjects
        .iter()
        .filter_map(|s| match s {
            DeadSubject::Sync(id) => Some(*id),
            _ => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    let projects: HashMap<Uuid, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        state.store.sync_projects(&ids).await?.into_iter().collect()
    };
    Ok(subjects
        .iter()
        .map(|s| match s {
            DeadSubject::Sync(id) => projects.get(id).is_some_and(|p| caller.sees(p)),
            DeadSubject::Project(p) => caller.sees(p),
            DeadSubject::Unknown => false,
        })
        .collect())
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
    let done = async {
        // Everything there now: positions count only this caller's letters.
        let batch = broker.take_dead(usize::MAX).await?;
        let visible = match visible(state, &viewer.caller, &batch.subjects()).await {
            Ok(v) => v,
            Err(e) => {
                batch.list(&[], 0).await?;
                return Err(DashError::from(e));
            }
        };
        Ok(if requeue {
            batch.requeue(&which, &visible).await?
        } else {
            batch.discard(&which, &visible).await?
        })
    }
    .await;
    broker.close("settled").await;
    let n = done?;
    let verb = if requeue { "requeued" } else { "discarded" };
    let action = if requeue {
        "dead-letter.requeue"
    } else {
        "dead-letter.discard"
    };
    for entry in viewer.caller.audit_per_project(action, "dead-letter") {
        let entry = entry.target(&which).changes([format!("{n} message(s)")]);
        if let Err(e) = state.store.record_audit(&entry).await {
            tracing::error!(error = %e, "could not write the dead-letter action's audit entry");
        }
    }
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
