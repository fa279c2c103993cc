//! `/syncs/{id}`: one sync, its last sync/import/remove state and its job
//! history (refreshing itself), the actions (through the one enqueue path)
//! and a preview of what the next sync would do.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{ago, at, badge, csrf_field, destination, layout, or, source, took};
use super::session::Viewer;
use super::syncs::{auto_sync_control, copy_id, live_controls};
use super::{DashError, DashResult};
use crate::model::{ImportBehavior, JobKind};
use crate::store::{JobHistoryRow, SyncDetail};
use crate::web::limits::Spend;
use crate::web::state::ApiState;

/// The trigger recorded on jobs the dashboard enqueues.
pub(super) const TRIGGER: &str = "dashboard";
const HISTORY: i64 = 50;

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    fragment: Option<String>,
    queued: Option<String>,
}

pub(super) fn parse_id(id: &str) -> DashResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| DashError::not_found("no such sync (not a sync id)"))
}

pub(super) async fn load(state: &ApiState, viewer: &Viewer, id: Uuid) -> DashResult<SyncDetail> {
    state
        .store
        .reads
        .dashboard_sync(&viewer.caller.projects, id)
        .await?
        .ok_or_else(|| {
            DashError::not_found(format!(
                "secret sync {id} not found in the projects this token may see"
            ))
        })
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> DashResult {
    let id = parse_id(&id)?;
    let sync = load(&state, &viewer, id).await?;
    let jobs = state.store.reads.dashboard_jobs(id, HISTORY).await?;
    // What "also remove its keys" would delete: the keys this sync recorded
    // pushing to its current destination.
    let keys = match crate::jobs::settings::parse_scope(&sync_config(&state, id).await?) {
        Ok(scope) => Some(
            state
                .store
                .reads
                .dashboard_pushed_key_count(id, &scope.label())
                .await?,
        ),
        Err(_) => None,
    };
    let live = live_part(&sync, &jobs, viewer.caller.is_admin());
    if q.fragment.is_some() {
        return Ok(super::page(live));
    }
    let next_run = state.store.ledger.next_reconcile(id).await?;
    // The pauses that hold this sync's writes (its connection's, the
    // instance's), shown as a banner (issue 41).
    let connection = state
        .store
        .syncs
        .load_sync(id)
        .await?
        .map(|s| s.connection_id);
    let pauses = match connection {
        Some(c) => super::pauses::holding(&state, c).await?,
        None => Vec::new(),
    };
    let r = &sync.row;
    let body = html! {
        p.crumbs { a href="/" { "Syncs" } " / " (r.name) }
        div.toolbar { h1 { (r.name) } (live_controls()) }
        (super::pauses::banner(&pauses))
        @if let Some(c) = connection {
            p.small.muted { "Connection: " a #connection-link href={ "/connections/" (c) } { (or(r.connection_name.as_deref(), "—")) } }
        }
        // Only a job id parsed from the URL is shown, never its text.
        @if let Some(job) = q.queued.as_deref().and_then(|j| Uuid::parse_str(j).ok()) {
            p.flash #flash { "Job " code { (job) } " queued." }
        } @else {
            p.flash.hidden #flash {}
        }
        div.grid {
            div.card { h2 { "Sync" } (fields(&sync, next_run)) }
            div.card { h2 { "Actions" } (actions(&viewer, &sync, keys)) }
        }
        div #live data-live { (live) }
    };
    Ok(super::page(layout(&r.name, "syncs", Some(&viewer), body)))
}

fn fields(s: &SyncDetail, next_run: Option<chrono::DateTime<Utc>>) -> Markup {
    let r = &s.row;
    let row = |k: &str, v: Markup| html! { tr { th { (k) } td { (v) } } };
    html! {
        table.fields {
            tbody {
                (row("Id", html! { code { (r.id) } }))
                (row("Project", html! { (r.project_id) }))
                (row("Description", html! { (or(s.description.as_deref(), "—")) }))
                (row("Destination", html! {
                    (destination(r)) " " span.muted { "(" (or(s.scope.as_deref(), "?")) ")" }
                }))
                (row("Source", source(r)))
                (row("Key schema", html! {
                    code { (or(s.key_schema.as_deref(), "{{secretKey}}")) }
                }))
                (row("Initial behaviour", html! { (or(s.initial_behavior.as_deref(), "—")) }))
                (row("Auto-sync", html! { @if r.auto_sync { "on" } @else { "off" } }))
                (row("Next scheduled run", html! {
                    @match (r.auto_sync, next_run) {
                        (true, Some(t)) => span #next-run title=(t.to_rfc3339()) {
                            (t.format("%Y-%m-%d %H:%M:%S UTC"))
                        },
                        (true, None) => span.muted #next-run { "not scheduled yet" },
                        (false, _) => span.muted #next-run { "— (auto-sync is off)" },
                    }
                }))
                (row("Created", html! { (s.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }))
            }
        }
    }
}

/// `admin`: worker ids (instance-wide) are shown to instance admins only.
fn live_part(s: &SyncDetail, jobs: &[JobHistoryRow], admin: bool) -> Markup {
    let now = Utc::now();
    let r = &s.row;
    let state_row = |what: &str, status: Option<&str>, message: Option<&str>, when| {
        html! {
            tr class={ "state-" (what) } {
                th { (what) }
                td { (badge(status)) }
                td { (ago(when, now)) }
                td.message { (or(message, "")) }
            }
        }
    };
    html! {
        div.card {
            h2 { "State" }
            table.state #state {
                tbody {
                    (state_row("sync", r.sync_status.as_deref(), r.last_sync_message.as_deref(), r.last_synced_at))
                    (state_row("import", s.import_status.as_deref(), s.last_import_message.as_deref(), s.last_imported_at))
                    (state_row("remove", s.remove_status.as_deref(), s.last_remove_message.as_deref(), s.last_removed_at))
                }
            }
            @if let Some(holder) = &s.lease_holder {
                @if admin { p.muted { "Running on " (holder) } } @else { p.muted { "Running" } }
            }
        }
        div.card {
            h2 { "Jobs" }
            table.jobs #jobs {
                thead {
                    tr {
                        th { "Type" } th { "Trigger" } th { "Status" } th { "Attempt" }
                        th { "Enqueued → started → finished" } th { "Changes" }
                        th { "Coalesced" } th { "Message" }
                    }
                }
                tbody {
                    @for j in jobs { (job_row(j, admin)) }
                    @if jobs.is_empty() {
                        tr { td colspan="8" .muted { "No jobs yet." } }
                    }
                }
            }
        }
    }
}

fn job_row(j: &JobHistoryRow, admin: bool) -> Markup {
    let [c, u, d, same, skipped] = j.counts;
    let dash_if_empty = |t: String| if t.is_empty() { "—".to_string() } else { t };
    let wait = dash_if_empty(took(Some(j.enqueued_at), j.started_at));
    let run = dash_if_empty(took(j.started_at, j.finished_at));
    html! {
        tr data-job-id=(j.id) {
            td { a href={ "/jobs/" (j.id) } aria-label={ (j.job_type) " job " (j.id) } { (j.job_type) } }
            td { (or(j.trigger.as_deref(), "—")) }
            td { (badge(Some(&j.status))) }
            td { (j.attempt) " of " (j.max_attempts) }
            td title=(if admin { j.worker_id.as_deref().unwrap_or("") } else { "" }) {
                (at(Some(j.enqueued_at))) " → " (at(j.started_at)) " → " (at(j.finished_at))
                div.muted.small { "waited " (wait) " · ran " (run) }
            }
            td.small { "+" (c) " ~" (u) " −" (d) " =" (same) " skipped " (skipped) }
            td { (j.coalesced) }
            td.message { (or(j.message.as_deref(), "")) }
        }
    }
}

/// The destination settings of a sync (for the scope its keys are at).
async fn sync_config(state: &ApiState, id: Uuid) -> DashResult<serde_json::Value> {
    Ok(state
        .store
        .syncs
        .load_sync(id)
        .await?
        .map(|s| s.destination_config)
        .unwrap_or_default())
}

fn actions(viewer: &Viewer, s: &SyncDetail, keys: Option<i64>) -> Markup {
    let id = s.row.id;
    let keys_text = match keys {
        Some(1) => "its 1 key".to_string(),
        Some(n) => format!("its {n} keys"),
        None => "its keys".to_string(),
    };
    html! {
        p {
            a.button #preview href={ "/syncs/" (id) "/preview" } { "Preview next sync" }
            " "
            (copy_id(id))
        }
        @if !viewer.can_write() {
            p.muted { "This token is read-only: no actions." }
        } @else {
            form.inline method="post" action={ "/syncs/" (id) "/sync" } data-async {
                (csrf_field(viewer))
                button type="submit" #sync-now { "Sync now" }
            }
            form.inline method="post" action={ "/syncs/" (id) "/import" } data-async {
                (csrf_field(viewer))
                select name="behavior" #import-behavior aria-label="Import behaviour" {
                    option value="prioritize-source" { "keep source values" }
                    option value="prioritize-destination" { "take Humanitec values" }
                }
                button type="submit" #import { "Import" }
            }
            form.inline method="post" action={ "/syncs/" (id) "/remove" } data-async
                data-confirm="Remove every key this sync pushed from Humanitec?" {
                (csrf_field(viewer))
                button.danger type="submit" #remove { "Remove" }
            }
            div.auto-sync-line {
                "Auto-sync: " (auto_sync_control(viewer, true, &s.row))
            }
            form.delete #delete-form method="post" action={ "/syncs/" (id) "/delete" }
                data-confirm={ "Delete the sync " (s.row.name) "? This cannot be undone." } {
                (csrf_field(viewer))
                fieldset {
                    legend { "Delete this sync" }
                    label {
                        input type="radio" name="keys" value="keep" #delete-keep required;
                        " keep " (keys_text) " in Humanitec"
                    }
                    label {
                        input type="radio" name="keys" value="remove" #delete-remove required;
                        " also remove " (keys_text) " from Humanitec"
                    }
                    button.danger type="submit" #delete { "Delete sync" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    behavior: Option<String>,
}

async fn act(
    state: &ApiState,
    viewer: &Viewer,
    headers: &HeaderMap,
    id: &str,
    form: &ActionForm,
    kind: JobKind,
) -> DashResult {
    let id = parse_id(id)?;
    state.limits.check(Spend::Trigger, viewer.caller.token_id)?;
    let sync = state.syncs.load(id, |p| viewer.caller.sees(p)).await?;
    viewer.check_action(state, headers, &form.csrf, Some(&sync.project_id))?;
    let job = state
        .syncs
        .trigger(&viewer.caller.acting(TRIGGER), &sync, kind)
        .await?;
    tracing::info!(sync_id = %id, job_id = %job, "dashboard enqueued a job");
    Ok(Redirect::to(&format!("/syncs/{id}?queued={job}")).into_response())
}

pub async fn sync_now(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> DashResult {
    act(&state, &viewer, &headers, &id, &form, JobKind::SYNC).await
}

pub async fn import(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> DashResult {
    let behavior = match form.behavior.as_deref() {
        Some("prioritize-source") => ImportBehavior::PrioritizeSource,
        Some("prioritize-destination") => ImportBehavior::PrioritizeDestination,
        _ => {
            return Err(DashError::new(
                StatusCode::BAD_REQUEST,
                "choose an import behaviour: prioritize-source or prioritize-destination",
            ))
        }
    };
    act(
        &state,
        &viewer,
        &headers,
        &id,
        &form,
        JobKind::Import { behavior },
    )
    .await
}

pub async fn remove(
    State(state): State<ApiState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> DashResult {
    let kind = JobKind::Remove {
        delete_sync_on_complete: false,
    };
    act(&state, &viewer, &headers, &id, &form, kind).await
}

/// What the next sync job would do: key names only, never values.
pub async fn preview(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> DashResult {
    let id = parse_id(&id)?;
    state.limits.check(Spend::Preview, viewer.caller.token_id)?;
    let detail = load(&state, &viewer, id).await?;
    let sync = state.syncs.load(id, |p| viewer.caller.sees(p)).await?;
    let list = |title: &str, keys: &[String]| {
        html! {
            div.card {
                h2 { (title) " (" (keys.len()) ")" }
                ul.keys {
                    @for k in keys { li { code { (k) } } }
                    @if keys.is_empty() { li.muted { "none" } }
                }
            }
        }
    };
    let previewed = state
        .syncs
        .preview(&viewer.caller.acting(TRIGGER), &sync, false)
        .await;
    let content = match previewed {
        Ok(p) => {
            let updates: Vec<String> = p
                .update
                .iter()
                .map(|u| format!("{} — {}", u.key, u.reason.describe()))
                .collect();
            let skipped: Vec<String> = p
                .skipped
                .iter()
                .map(|s| format!("{} — {}", s.key, s.reason))
                .collect();
            // Imports, subfolders: where each key comes from, once there
            // is more than the sync's own folder.
            let folders: std::collections::BTreeSet<&String> = p.origins.values().collect();
            let origins: Vec<String> = p
                .origins
                .iter()
                .map(|(key, from)| format!("{key} — from {from}"))
                .collect();
            html! {
                p { "Destination " code { (p.destination) } }
                div.grid {
                    (list("Create", &p.create))
                    (list("Update", &updates))
                    (list("Delete", &p.delete))
                    (list("Unchanged", &p.unchanged))
                    (list("Not managed (left alone)", &p.unmanaged))
                    @if !skipped.is_empty() { (list("Skipped", &skipped)) }
                    @if folders.len() > 1 { (list("Where the values come from", &origins)) }
                }
            }
        }
        Err(e) if e.is_conflict() => html! { p.flash.error { (e) } },
        Err(e) if e.is_transient() => html! {
            p.flash.error { "The preview could not be computed now; try again (" (e) ")" }
        },
        Err(e) => html! { p.flash.error { (e) } },
    };
    let body = html! {
        p.crumbs {
            a href="/" { "Syncs" } " / " a href={ "/syncs/" (id) } { (detail.row.name) } " / preview"
        }
        h1 { "Preview of the next sync" }
        (content)
    };
    Ok(super::page(layout("Preview", "syncs", Some(&viewer), body)))
}
