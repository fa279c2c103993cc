//! Holding Humanitec writes from the console (issue 41): the banner every
//! affected page shows (the overview, a sync's page, a connection's page),
//! `/connections/{connectionId}` with its pause or resume form, and the
//! instance's pause and resume (admin; on the overview). Actions pass the
//! checks of every dashboard action (`Viewer::check_action`) and go
//! through the same service as the API and the command line.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{csrf_field, layout};
use super::session::Viewer;
use super::{DashError, DashResult};
use crate::model::REASON_MAX;
use crate::service::pauses::{self, PauseActor, PauseScope};
use crate::store::PauseRow;
use crate::web::limits::Spend;
use crate::web::state::ApiState;

/// The active pauses that hold syncs `viewer` sees.
pub(super) async fn visible(state: &ApiState, viewer: &Viewer) -> DashResult<Vec<PauseRow>> {
    let projects = (!viewer.caller.is_admin()).then(|| viewer.caller.projects.clone());
    Ok(pauses::visible_pauses(&state.store, projects.as_deref()).await?)
}

/// The pauses that hold a sync of `connection_id`.
pub(super) async fn holding(state: &ApiState, connection_id: Uuid) -> DashResult<Vec<PauseRow>> {
    let all = state.store.ledger.active_pauses().await?;
    Ok(all
        .into_iter()
        .filter(|p| p.connection_id.is_none_or(|c| c == connection_id))
        .collect())
}

/// The banner of `pauses` (nothing when there are none). Every value is
/// escaped by maud; the reason is one line of visible text (checked when
/// the pause was made).
pub(super) fn banner(pauses: &[PauseRow]) -> Markup {
    html! {
        @if !pauses.is_empty() {
            div.banner.paused #pause-banner role="status" {
                strong { "Humanitec writes are paused." }
                " Jobs wait as paused and run, at most once per sync, when the pause ends; previews still work."
                ul {
                    @for p in pauses {
                        li {
                            @match (p.connection_id, &p.connection_name) {
                                (None, _) => { strong { "The whole instance" } }
                                (Some(id), name) => {
                                    "Connection "
                                    a href={ "/connections/" (id) } { (name.as_deref().unwrap_or("(unnamed)")) }
                                }
                            }
                            " since "
                            time datetime=(p.paused_at.to_rfc3339()) {
                                (p.paused_at.format("%Y-%m-%d %H:%M UTC"))
                            }
                            " by " (p.paused_by) ": "
                            q.reason { (p.reason) }
                        }
                    }
                }
            }
        }
    }
}

fn reason_field() -> Markup {
    html! {
        label for="pause-reason" { "Reason" }
        " "
        input #pause-reason type="text" name="reason" required
            maxlength=(REASON_MAX) placeholder="Humanitec incident INC-123, change freeze…";
    }
}

/// The form that pauses or resumes `action` (`/connections/{id}` or
/// `/instance`), as `paused` says.
pub(super) fn control(viewer: &Viewer, action: &str, paused: bool, what: &str) -> Markup {
    html! {
        @if !viewer.can_write() {
            p.muted { "A write token can pause and resume " (what) "." }
        } @else if paused {
            form.pause method="post" action={ (action) "/resume" } {
                (csrf_field(viewer))
                button type="submit" { "Resume " (what) }
            }
        } @else {
            form.pause method="post" action={ (action) "/pause" } {
                (csrf_field(viewer))
                (reason_field())
                " "
                button type="submit" { "Pause " (what) }
            }
        }
    }
}

fn not_found(id: &str) -> DashError {
    DashError::not_found(format!(
        "app connection {id} not found in the projects this token may see"
    ))
}

fn parse(id: &str) -> DashResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| not_found(id))
}

/// The connection (name, project) if `viewer` sees its project.
async fn connection(state: &ApiState, viewer: &Viewer, id: Uuid) -> DashResult<(String, String)> {
    let (project, conn) = state
        .store
        .syncs
        .connection_api_json(id)
        .await?
        .filter(|(project, _)| viewer.caller.sees(project))
        .ok_or_else(|| not_found(&id.to_string()))?;
    let name = conn["name"].as_str().unwrap_or_default().to_string();
    Ok((project, name))
}

/// `GET /connections/{connectionId}`: the connection, the syncs that use
/// it, and whether its writes are held.
pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> DashResult {
    let id = parse(&id)?;
    let (project, name) = connection(&state, &viewer, id).await?;
    let syncs = state.store.syncs.syncs_using_connection(id).await?;
    let pauses = holding(&state, id).await?;
    let own = pauses.iter().any(|p| p.connection_id == Some(id));
    let body = html! {
        p.crumbs { a href="/" { "Syncs" } " / connection " (name) }
        h1 { "Connection " (name) }
        (banner(&pauses))
        div.grid {
            div.card {
                h2 { "Connection" }
                table.fields { tbody {
                    tr { th { "Id" } td { code { (id) } } }
                    tr { th { "Project" } td { (project) } }
                    tr { th { "Syncs using it" } td #connection-syncs { (syncs.len()) } }
                } }
            }
            div.card #pause-control {
                h2 { "Hold Humanitec writes" }
                p.muted {
                    "While paused, no sync of this connection writes to Humanitec: running jobs stop before their next write, new ones wait as paused."
                }
                (control(&viewer, &format!("/connections/{id}"), own, "this connection"))
            }
        }
        @if !syncs.is_empty() {
            div.card { h2 { "Syncs" } ul { @for s in &syncs { li { (s) } } } }
        }
    };
    Ok(super::page(layout(
        &format!("Connection {name}"),
        "syncs",
        Some(&viewer),
        body,
    )))
}

#[derive(Deserialize)]
pub struct PauseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
pub struct ResumeForm {
    #[serde(default)]
    csrf: String,
}

fn acting(viewer: &Viewer) -> PauseActor {
    PauseActor {
        actor: viewer.caller.actor(),
        label: viewer.caller.actor().label(),
        req_id: Some(crate::web::errors::current_req_id()),
    }
}

/// A connection's pause or resume: the connection (another project's
/// answers as one that does not exist), the form's CSRF token for its
/// project, the caller's write budget.
async fn connection_scope(
    state: &ApiState,
    viewer: &Viewer,
    headers: &HeaderMap,
    id: &str,
    csrf: &str,
) -> DashResult<PauseScope> {
    let id = parse(id)?;
    let (project_id, _) = connection(state, viewer, id).await?;
    viewer.check_action(state, headers, csrf, Some(&project_id))?;
    state.limits.check(Spend::Write, viewer.caller.token_id)?;
    Ok(PauseScope::Connection { id, project_id })
}

/// The instance's pause or resume: an admin's (any other writer is
/// answered as by a page that does not exist; a reader: 403, as every
/// action), with the form's CSRF token and the caller's write budget.
fn instance_scope(
    state: &ApiState,
    viewer: &Viewer,
    headers: &HeaderMap,
    csrf: &str,
) -> DashResult<PauseScope> {
    viewer.check_action(state, headers, csrf, None)?;
    if !viewer.caller.is_admin() {
        return Err(DashError::new(
            StatusCode::NOT_FOUND,
            "pausing the whole instance is for an instance admin token",
        ));
    }
    state.limits.check(Spend::Write, viewer.caller.token_id)?;
    Ok(PauseScope::Instance)
}

/// Back to the page the form was on.
fn back_to(scope: &PauseScope) -> axum::response::Response {
    match scope {
        PauseScope::Connection { id, .. } => Redirect::to(&format!("/connections/{id}")),
        PauseScope::Instance => Redirect::to("/overview"),
    }
    .into_response()
}

/// `POST /connections/{connectionId}/pause`.
pub async fn pause_connection(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<PauseForm>,
) -> DashResult {
    let scope = connection_scope(&state, &viewer, &headers, &id, &form.csrf).await?;
    pauses::pause(&state.store, &scope, &form.reason, &acting(&viewer)).await?;
    Ok(back_to(&scope))
}

/// `POST /connections/{connectionId}/resume`.
pub async fn resume_connection(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ResumeForm>,
) -> DashResult {
    let scope = connection_scope(&state, &viewer, &headers, &id, &form.csrf).await?;
    pauses::resume(&state.store, &scope, &acting(&viewer)).await?;
    Ok(back_to(&scope))
}

/// `POST /instance/pause` (admin).
pub async fn pause_instance(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<PauseForm>,
) -> DashResult {
    let scope = instance_scope(&state, &viewer, &headers, &form.csrf)?;
    pauses::pause(&state.store, &scope, &form.reason, &acting(&viewer)).await?;
    Ok(back_to(&scope))
}

/// `POST /instance/resume` (admin).
pub async fn resume_instance(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<ResumeForm>,
) -> DashResult {
    let scope = instance_scope(&state, &viewer, &headers, &form.csrf)?;
    pauses::resume(&state.store, &scope, &acting(&viewer)).await?;
    Ok(back_to(&scope))
}
