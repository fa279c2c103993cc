//! `/audit`: who did what, newest first, with the API's filters (actor,
//! action, target, time range) and a "next page" link. A project token
//! sees its projects' entries; an admin also the instance-wide ones.

use axum::extract::{Query, State};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::html::{layout, or, url_enc};
use super::session::Viewer;
use super::{DashError, DashResult};
use crate::store::{AuditFilter, AuditRow};
use crate::web::state::ApiState;

const LIMIT: i64 = 100;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    project: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// Days, `YYYY-MM-DD` (as a date input sends them), UTC.
    since: Option<String>,
    until: Option<String>,
    before: Option<i64>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn day(name: &str, v: &Option<String>, end: bool) -> Result<Option<DateTime<Utc>>, DashError> {
    let Some(raw) = given(v) else {
        return Ok(None);
    };
    let date = NaiveDate::parse_from_str(&raw, "%Y-%m-%d").map_err(|_| {
        DashError::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!("{name} must be a date like 2026-12-01"),
        )
    })?;
    let date = if end {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(date.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> DashResult {
    let caller = &viewer.caller;
    let project = given(&q.project).filter(|p| caller.sees(p));
    let filter = AuditFilter {
        projects: (!caller.is_admin()).then(|| caller.projects.clone()),
        project_id: project.clone(),
        actor: given(&q.actor),
        action: given(&q.action),
        target_id: given(&q.target),
        since: day("since", &q.since, false)?,
        until: day("until", &q.until, true)?,
        before_id: q.before,
        limit: LIMIT,
    };
    let rows = state.store.audit.audit_log(&filter).await?;
    let next = (rows.len() as i64 == LIMIT)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let body = html! {
        div.toolbar { h1 { "Audit log" } }
        (filters(&viewer, &q, project.as_deref()))
        p.muted {
            "Every change to syncs and connections, every trigger and preview, token and \
             sign-in, and dead-letter action, with who did it. Field names only, never values."
        }
        @if rows.is_empty() {
            p.muted #no-audit { "No entries match." }
        } @else {
            (table(&rows))
        }
        @if let Some(before) = next {
            p { a #audit-next href=(next_link(&q, before)) { "Older entries →" } }
        }
    };
    Ok(super::page(layout(
        "Audit log",
        "audit",
        Some(&viewer),
        body,
    )))
}

fn filters(viewer: &Viewer, q: &AuditQuery, project: Option<&str>) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form.filters #audit-filters method="get" action="/audit" {
            label { span.visually-hidden { "Project" }
                select name="project" #audit-project {
                    option value="" { "All my projects" }
                    @for p in &viewer.caller.projects {
                        option value=(p) selected[project == Some(p.as_str())] { (p) }
                    }
                }
            }
            label { span.visually-hidden { "Actor" }
                input name="actor" #audit-actor placeholder="actor: token name, cli" value=(value(&q.actor));
            }
            label { span.visually-hidden { "Action" }
                input name="action" #audit-action placeholder="action, e.g. sync.update" value=(value(&q.action));
            }
            label { span.visually-hidden { "Target id" }
                input name="target" #audit-target placeholder="target id" value=(value(&q.target));
            }
            label { "From " input type="date" name="since" #audit-since value=(value(&q.since)); }
            label { "to " input type="date" name="until" #audit-until value=(value(&q.until)); }
            button type="submit" #audit-apply { "Filter" }
        }
    }
}

fn table(rows: &[AuditRow]) -> Markup {
    html! {
        table #audit {
            thead {
                tr {
                    th { "When" } th { "Actor" } th { "Project" } th { "Action" }
                    th { "Target" } th { "Changed" } th { "Request" }
                }
            }
            tbody {
                @for r in rows {
                    tr data-action=(r.action) data-actor=(r.actor_name) {
                        td.small { (r.at.format("%Y-%m-%d %H:%M:%S UTC")) }
                        td {
                            (r.actor_name)
                            @if r.actor_kind != r.actor_name {
                                span.muted.small { " (" (r.actor_kind) ")" }
                            }
                        }
                        td { (or(r.project_id.as_deref(), "instance")) }
                        td { code { (r.action) } }
                        td.small {
                            (r.target_type) " "
                            @match (&r.target_id, r.target_type.as_str()) {
                                (Some(id), "sync") => a href={"/syncs/" (id)} { code { (id) } },
                                (Some(id), _) => code { (id) },
                                (None, _) => "",
                            }
                        }
                        td.small { (r.changes.join(", ")) }
                        td.muted.small { (or(r.req_id.as_deref(), "")) }
                    }
                }
            }
        }
    }
}

fn next_link(q: &AuditQuery, before: i64) -> String {
    let mut parts = vec![format!("before={before}")];
    for (name, v) in [
        ("project", &q.project),
        ("actor", &q.actor),
        ("action", &q.action),
        ("target", &q.target),
        ("since", &q.since),
        ("until", &q.until),
    ] {
        if let Some(v) = given(v) {
            parts.push(format!("{name}={}", url_enc(&v)));
        }
    }
    format!("/audit?{}", parts.join("&"))
}
