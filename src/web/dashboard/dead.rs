//! `/dead`: the dead-letter queue, with why each message is there and an
//! escaped preview of its body; requeue one or a page of them, discard one.
//! Not refreshed live: listing takes the messages and hands them back
//! before the page is answered. Every page and action goes through the
//! process's one shared broker connection (`DeadLetterRoom`), reads at most
//! `DEAD_LETTER_PAGE_SIZE` letters at a time, and is rate-limited per token.
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

use super::html::{csrf_field, layout, or};
use super::session::Viewer;
use super::{DashError, DashResult};
use crate::model::AuditEntry;
use crate::queue::{DeadAction, DeadSelector, DeadSubject};
use crate::store::StoreError;
use crate::web::auth::Caller;
use crate::web::limits::Spend;
use crate::web::state::ApiState;

const LIMIT: usize = 200;
/// Dead letters read at most to find a project's first `LIMIT` (or the
/// letter an action names).
const SCAN: usize = 5_000;

/// What the last action did, as the redirect after it says: a fixed code
/// and a count, never text from the URL.
#[derive(Deserialize, Default)]
pub struct DeadQuery {
    /// `requeued` or `discarded`; anything else shows nothing.
    done: Option<String>,
    /// How many (shown only if it parses as a whole number).
    n: Option<String>,
    /// `1`: a page was requeued and more remain.
    more: Option<String>,
}

/// The flash line for `q`: fixed text picked by the code, and a number.
fn flash(q: &DeadQuery) -> Option<String> {
    let verb = match q.done.as_deref() {
        Some("requeued") => "requeued",
        Some("discarded") => "discarded",
        _ => return None,
    };
    let n: u64 = q.n.as_deref()?.parse().ok()?;
    let more = if q.more.as_deref() == Some("1") {
        " More remain: requeue all again for the next page."
    } else {
        ""
    };
    Some(format!("{verb} {n} message(s).{more}"))
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(q): Query<DeadQuery>,
) -> DashResult {
    state
        .limits
        .check(Spend::DeadLetters, viewer.caller.token_id)?;
    let (state, caller) = (&state, &viewer.caller);
    let dashboard = &state.dashboard;
    let letters = dashboard
        .dead
        .list(SCAN, dashboard.dead_page, LIMIT, |subjects| {
            visible_or_fail(state, caller, subjects)
        })
        .await?;
    let write = viewer.can_write();
    let csrf = csrf_field(&viewer);
    let body = html! {
        div.toolbar {
            h1 { "Dead letters" }
            @if write && !letters.is_empty() {
                form.inline method="post" action="/dead/requeue" {
                    (csrf)
                    input type="hidden" name="which" value="all";
                    button type="submit" #requeue-all
                        title={ "Requeues up to " (state.dashboard.dead_page) " at a time" } {
                        "Requeue all"
                    }
                }
            }
        }
        @if let Some(done) = flash(&q) {
            p.flash #flash role="status" { (done) }
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

/// [`visible`], failing as a dashboard error.
async fn visible_or_fail(
    state: &ApiState,
    caller: &Caller,
    subjects: Vec<DeadSubject>,
) -> Result<Vec<bool>, DashError> {
    Ok(visible(state, caller, &subjects).await?)
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
        state
            .store
            .syncs
            .sync_projects(&ids)
            .await?
            .into_iter()
            .collect()
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

/// How many of the settled letters concern each project (None: no project):
/// each project's audit says only what was done to its own letters.
async fn settled_projects(
    state: &ApiState,
    caller: &Caller,
    subjects: &[DeadSubject],
) -> Vec<(Option<String>, usize)> {
    let ids: Vec<Uuid> = subjects
        .iter()
        .filter_map(|s| match s {
            DeadSubject::Sync(id) => Some(*id),
            _ => None,
        })
        .collect();
    let of_sync: HashMap<Uuid, String> = match ids.is_empty() {
        true => HashMap::new(),
        false => match state.store.syncs.sync_projects(&ids).await {
            Ok(rows) => rows.into_iter().collect(),
            Err(e) => {
                tracing::error!(error = %e, "could not attribute settled dead letters to projects");
                HashMap::new()
            }
        },
    };
    let mut counts: std::collections::BTreeMap<Option<String>, usize> = Default::default();
    for subject in subjects {
        let project = match subject {
            DeadSubject::Sync(id) => of_sync.get(id).cloned(),
            DeadSubject::Project(p) => Some(p.clone()),
            DeadSubject::Unknown => None,
        };
        // A sync deleted meanwhile: its letter is counted under the
        // caller's own audit only if the caller is an admin.
        if project.as_ref().is_some_and(|p| !caller.sees(p)) {
            continue;
        }
        *counts.entry(project).or_default() += 1;
    }
    counts.into_iter().collect()
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
    state
        .limits
        .check(Spend::DeadLetters, viewer.caller.token_id)?;
    let which = DeadSelector::parse(form.which.trim());
    if !requeue && which == DeadSelector::All {
        return Err(DashError::new(
            StatusCode::BAD_REQUEST,
            "discard one message at a time",
        ));
    }
    let action = if requeue {
        DeadAction::Requeue
    } else {
        DeadAction::Discard
    };
    let caller = &viewer.caller;
    let dashboard = &state.dashboard;
    // Positions count only this caller's letters; `all` settles one page.
    let settled = dashboard
        .dead
        .settle(&which, action, SCAN, dashboard.dead_page, |subjects| {
            visible_or_fail(state, caller, subjects)
        })
        .await?;
    let n = settled.done;
    let (verb, audit_action) = if requeue {
        ("requeued", "dead-letter.requeue")
    } else {
        ("discarded", "dead-letter.discard")
    };
    for (project, count) in settled_projects(state, caller, &settled.subjects).await {
        let entry = match &project {
            Some(p) => caller.audit(audit_action, "dead-letter", p),
            // Letters that name no project: only an admin settles those.
            None => AuditEntry::new(caller.actor(), audit_action, "dead-letter")
                .req_id(Some(crate::web::errors::current_req_id())),
        };
        let entry = entry
            .target(&which)
            .changes([format!("{count} message(s)")]);
        if let Err(e) = state.store.audit.record_audit(&entry).await {
            tracing::error!(error = %e, "could not write the dead-letter action's audit entry");
        }
    }
    tracing::info!(%which, n, pages = settled.pages, more = settled.more,
        "dashboard {verb} dead letters");
    let more = if settled.more { "&more=1" } else { "" };
    Ok(Redirect::to(&format!("/dead?done={verb}&n={n}{more}")).into_response())
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
