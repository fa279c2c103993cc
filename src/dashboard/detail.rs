//! `/syncs/{id}`: one sync, its last sync/import/remove state and its job
//! history (refreshing itself), the actions (through the one enqueue path)
//! and a preview of what the next sync would do.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect};
use axum::Form;
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::html::{ago, at, badge, destination, esc, esc_or, layout, source, took, url_enc};
use super::session::Viewer;
use super::syncs::live_controls;
use super::{DashError, DashResult};
use crate::api::ApiState;
use crate::jobs::{preview_sync, JobContext};
use crate::model::{ImportBehavior, JobKind};
use crate::store::{JobHistoryRow, SyncDetail};

/// The trigger recorded on jobs the dashboard enqueues.
const TRIGGER: &str = "dashboard";
const HISTORY: i64 = 50;

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    fragment: Option<String>,
    queued: Option<String>,
}

fn parse_id(id: &str) -> DashResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| DashError::not_found("no such sync (not a sync id)"))
}

async fn load(state: &ApiState, viewer: &Viewer, id: Uuid) -> DashResult<SyncDetail> {
    state
        .store
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
    let jobs = state.store.dashboard_jobs(id, HISTORY).await?;
    let live = live_part(&sync, &jobs);
    if q.fragment.is_some() {
        return Ok(Html(live).into_response());
    }
    let flash = q
        .queued
        .map(|job| {
            format!(
                "<p class=\"flash\" id=\"flash\">Job <code>{}</code> queued.</p>",
                esc(&job)
            )
        })
        .unwrap_or_else(|| "<p class=\"flash hidden\" id=\"flash\"></p>".into());
    let r = &sync.row;
    let body = format!(
        "<p class=\"crumbs\"><a href=\"/\">Syncs</a> / {name}</p>\
         <div class=\"toolbar\"><h1>{name}</h1>{controls}</div>{flash}\
         <div class=\"grid\"><div class=\"card\"><h2>Sync</h2>{fields}</div>\
         <div class=\"card\"><h2>Actions</h2>{actions}</div></div>\
         <div id=\"live\" data-live>{live}</div>",
        name = esc(&r.name),
        controls = live_controls(),
        fields = fields(&sync),
        actions = actions(&viewer, &sync),
    );
    Ok(Html(layout(&r.name, "syncs", Some(&viewer), &body)).into_response())
}

fn fields(s: &SyncDetail) -> String {
    let r = &s.row;
    let row = |k: &str, v: String| format!("<tr><th>{k}</th><td>{v}</td></tr>");
    let (dest, source) = (destination(r), source(r));
    let rows = [
        row("Id", format!("<code>{}</code>", r.id)),
        row("Project", esc(&r.project_id)),
        row("Description", esc_or(s.description.as_deref(), "—")),
        row(
            "Destination",
            format!(
                "{dest} <span class=\"muted\">({})</span>",
                esc_or(s.scope.as_deref(), "?")
            ),
        ),
        row("Source", source),
        row(
            "Key schema",
            format!(
                "<code>{}</code>",
                esc_or(s.key_schema.as_deref(), "{{secretKey}}")
            ),
        ),
        row(
            "Initial behaviour",
            esc_or(s.initial_behavior.as_deref(), "—"),
        ),
        row(
            "Auto-sync",
            if r.auto_sync {
                "on".into()
            } else {
                "off".into()
            },
        ),
        row("Created", esc(&s.created_at.to_rfc3339())),
    ]
    .concat();
    format!("<table class=\"fields\"><tbody>{rows}</tbody></table>")
}

fn live_part(s: &SyncDetail, jobs: &[JobHistoryRow]) -> String {
    let now = Utc::now();
    let r = &s.row;
    let state_row = |what: &str, status: Option<&str>, message: Option<&str>, when| {
        format!(
            "<tr class=\"state-{what}\"><th>{what}</th><td>{}</td><td>{}</td><td class=\"message\">{}</td></tr>",
            badge(status),
            ago(when, now),
            esc_or(message, "")
        )
    };
    let lease = s
        .lease_holder
        .as_deref()
        .map(|h| format!("<p class=\"muted\">Running on {}</p>", esc(h)))
        .unwrap_or_default();
    let history: String = jobs.iter().map(job_row).collect();
    let empty = if jobs.is_empty() {
        "<tr><td colspan=\"8\" class=\"muted\">No jobs yet.</td></tr>"
    } else {
        ""
    };
    format!(
        "<div class=\"card\"><h2>State</h2><table class=\"state\" id=\"state\"><tbody>{}{}{}</tbody></table>{lease}</div>\
         <div class=\"card\"><h2>Jobs</h2><table class=\"jobs\" id=\"jobs\"><thead><tr><th>Type</th><th>Trigger</th>\
         <th>Status</th><th>Attempt</th><th>Enqueued → started → finished</th><th>Changes</th>\
         <th>Coalesced</th><th>Message</th></tr></thead><tbody>{history}{empty}</tbody></table></div>",
        state_row("sync", r.sync_status.as_deref(), r.last_sync_message.as_deref(), r.last_synced_at),
        state_row("import", s.import_status.as_deref(), s.last_import_message.as_deref(), s.last_imported_at),
        state_row("remove", s.remove_status.as_deref(), s.last_remove_message.as_deref(), s.last_removed_at),
    )
}

fn job_row(j: &JobHistoryRow) -> String {
    let [c, u, d, same, skipped] = j.counts;
    let wait = took(Some(j.enqueued_at), j.started_at);
    let run = took(j.started_at, j.finished_at);
    format!(
        "<tr data-job-id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{} of {}</td>\
         <td title=\"{}\">{} → {} → {}<div class=\"muted small\">waited {} · ran {}</div></td>\
         <td class=\"small\">+{c} ~{u} −{d} ={same} skipped {skipped}</td><td>{}</td><td class=\"message\">{}</td></tr>",
        j.id,
        esc(&j.job_type),
        esc_or(j.trigger.as_deref(), "—"),
        badge(Some(&j.status)),
        j.attempt,
        j.max_attempts,
        esc(j.worker_id.as_deref().unwrap_or("")),
        at(Some(j.enqueued_at)),
        at(j.started_at),
        at(j.finished_at),
        if wait.is_empty() { "—".into() } else { wait },
        if run.is_empty() { "—".into() } else { run },
        j.coalesced,
        esc_or(j.message.as_deref(), ""),
    )
}

fn actions(viewer: &Viewer, s: &SyncDetail) -> String {
    let id = s.row.id;
    let preview = format!("<p><a class=\"button\" id=\"preview\" href=\"/syncs/{id}/preview\">Preview next sync</a></p>");
    if !viewer.can_write() {
        return format!("{preview}<p class=\"muted\">This token is read-only: no actions.</p>");
    }
    let csrf = viewer.csrf_field();
    format!(
        "{preview}<form method=\"post\" action=\"/syncs/{id}/sync\" class=\"inline\" data-async>{csrf}\
         <button type=\"submit\" id=\"sync-now\">Sync now</button></form>\
         <form method=\"post\" action=\"/syncs/{id}/import\" class=\"inline\" data-async>{csrf}\
         <select name=\"behavior\" id=\"import-behavior\" aria-label=\"Import behaviour\">\
         <option value=\"prioritize-source\">keep source values</option>\
         <option value=\"prioritize-destination\">take Humanitec values</option></select>\
         <button type=\"submit\" id=\"import\">Import</button></form>\
         <form method=\"post\" action=\"/syncs/{id}/remove\" class=\"inline\" data-async \
         data-confirm=\"Remove every key this sync pushed from Humanitec?\">{csrf}\
         <button type=\"submit\" id=\"remove\" class=\"danger\">Remove</button></form>"
    )
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
    let sync = load(state, viewer, id).await?;
    viewer.check_action(state, headers, &form.csrf, Some(&sync.row.project_id))?;
    if !matches!(kind, JobKind::Remove { .. }) && sync.row.source_path.is_none() {
        return Err(DashError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "secret sync '{}' has no source folder (it was deleted); give it one through \
                 the API first",
                sync.row.name
            ),
        ));
    }
    let job = state.jobs.enqueue(id, kind, TRIGGER).await?;
    tracing::info!(sync_id = %id, job_id = %job, "dashboard enqueued a job");
    Ok(Redirect::to(&format!("/syncs/{id}?queued={}", url_enc(&job.to_string()))).into_response())
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
    let detail = load(&state, &viewer, id).await?;
    let sync = state
        .store
        .load_sync(id)
        .await?
        .ok_or_else(|| DashError::not_found(format!("secret sync {id} not found")))?;
    let ctx = JobContext {
        store: state.store.clone(),
        humanitec: state.humanitec.clone(),
        cipher: state.cipher.clone(),
        write_concurrency: 1,
    };
    let content =
        match preview_sync(&ctx, &sync, false).await {
            Ok(p) => {
                let list =
                    |title: &str, keys: Vec<String>| {
                        let items: String = keys
                            .iter()
                            .map(|k| format!("<li><code>{}</code></li>", esc(k)))
                            .collect();
                        format!(
                    "<div class=\"card\"><h2>{title} ({})</h2><ul class=\"keys\">{}</ul></div>",
                    keys.len(),
                    if items.is_empty() { "<li class=\"muted\">none</li>".into() } else { items }
                )
                    };
                let updates = p
                    .update
                    .iter()
                    .map(|u| format!("{} — {}", u.key, u.reason.describe()))
                    .collect();
                format!(
                    "<p>Destination <code>{}</code></p><div class=\"grid\">{}{}{}{}{}</div>",
                    esc(&p.destination),
                    list("Create", p.create.clone()),
                    list("Update", updates),
                    list("Delete", p.delete.clone()),
                    list("Unchanged", p.unchanged.clone()),
                    list("Not managed (left alone)", p.unmanaged.clone()),
                )
            }
            Err(e) if e.is_conflict() => {
                format!("<p class=\"flash error\">{}</p>", esc(&e.to_string()))
            }
            Err(e) if e.is_transient() => format!(
            "<p class=\"flash error\">The preview could not be computed now; try again ({})</p>",
            esc(&e.to_string())
        ),
            Err(e) => format!("<p class=\"flash error\">{}</p>", esc(&e.to_string())),
        };
    let name = esc(&detail.row.name);
    let body = format!(
        "<p class=\"crumbs\"><a href=\"/\">Syncs</a> / <a href=\"/syncs/{id}\">{name}</a> / preview</p>\
         <h1>Preview of the next sync</h1>{content}"
    );
    Ok(Html(layout("Preview", "syncs", Some(&viewer), &body)).into_response())
}
