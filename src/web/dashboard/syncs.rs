//! `/`: every sync the token may see, failed first, with filters, search
//! and paging; the table refreshes itself (`?fragment=1`).

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use chrono::Utc;
use serde::Deserialize;

use super::html::{ago, badge, destination, esc, esc_or, layout, source, url_enc};
use super::session::Viewer;
use super::DashResult;
use crate::store::{SyncFilter, SyncListRow};
use crate::web::state::ApiState;

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    project: Option<String>,
    app: Option<String>,
    env: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    fragment: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

const STATUSES: [(&str, &str); 5] = [
    ("failed", "failed"),
    ("pending", "queued"),
    ("running", "syncing"),
    ("succeeded", "synced"),
    ("never", "never run"),
];

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> DashResult {
    let filter = SyncFilter {
        status: given(&q.status),
        project: given(&q.project),
        app: given(&q.app),
        env: given(&q.env),
        search: given(&q.q),
    };
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let list = state
        .store
        .dashboard_syncs(
            &viewer.caller.projects,
            &filter,
            PAGE_SIZE,
            (page - 1) * PAGE_SIZE,
        )
        .await?;
    let table = table(&list.rows, list.total, page, &filter);
    if q.fragment.is_some() {
        return Ok(Html(table).into_response());
    }
    let body = format!(
        "<div class=\"toolbar\"><h1>Syncs</h1>{}</div>{}<div id=\"live\" data-live>{table}</div>",
        live_controls(),
        filters(&viewer, &filter)
    );
    Ok(Html(layout("Syncs", "syncs", Some(&viewer), &body)).into_response())
}

/// The pause button and interval choice (wired up by dashboard.js).
pub fn live_controls() -> String {
    "<div class=\"live-controls\"><span id=\"live-state\" class=\"muted\">live</span>\
     <button type=\"button\" id=\"live-pause\">Pause</button>\
     <select id=\"live-interval\" aria-label=\"Refresh every\">\
     <option value=\"2\">2 s</option><option value=\"5\" selected>5 s</option>\
     <option value=\"15\">15 s</option></select></div>"
        .into()
}

fn filters(viewer: &Viewer, f: &SyncFilter) -> String {
    let option = |value: &str, label: &str, current: &Option<String>| {
        let sel = if current.as_deref() == Some(value) {
            " selected"
        } else {
            ""
        };
        format!(
            "<option value=\"{}\"{sel}>{}</option>",
            esc(value),
            esc(label)
        )
    };
    let statuses: String = STATUSES
        .iter()
        .map(|(v, l)| option(v, l, &f.status))
        .collect();
    let projects: String = viewer
        .caller
        .projects
        .iter()
        .map(|p| option(p, p, &f.project))
        .collect();
    let value = |v: &Option<String>| esc(v.as_deref().unwrap_or(""));
    format!(
        "<form method=\"get\" action=\"/\" class=\"filters\" id=\"filters\">\
         <input type=\"search\" name=\"q\" id=\"filter-q\" placeholder=\"Search by name\" value=\"{}\">\
         <select name=\"status\" id=\"filter-status\"><option value=\"\">any status</option>{statuses}</select>\
         <select name=\"project\" id=\"filter-project\"><option value=\"\">any project</option>{projects}</select>\
         <input name=\"app\" id=\"filter-app\" placeholder=\"destination app\" value=\"{}\">\
         <input name=\"env\" id=\"filter-env\" placeholder=\"destination env\" value=\"{}\">\
         <button type=\"submit\" id=\"filter-apply\">Filter</button> <a href=\"/\">clear</a></form>",
        value(&f.search),
        value(&f.app),
        value(&f.env),
    )
}

fn table(rows: &[SyncListRow], total: i64, page: i64, f: &SyncFilter) -> String {
    let now = Utc::now();
    let body: String = rows
        .iter()
        .map(|r| {
            let (dest, source) = (destination(r), source(r));
            format!(
                "<tr data-sync-id=\"{id}\" data-status=\"{st}\">\
                 <td class=\"status\">{badge}</td>\
                 <td class=\"name\"><a href=\"/syncs/{id}\">{name}</a><div class=\"muted small\">{project}</div></td>\
                 <td>{dest}</td><td>{source}</td><td>{last}</td>\
                 <td class=\"message\">{msg}</td><td>{auto}</td></tr>",
                id = r.id,
                st = esc(r.sync_status.as_deref().unwrap_or("never")),
                badge = badge(r.sync_status.as_deref()),
                name = esc(&r.name),
                project = esc(&r.project_id),
                last = ago(r.last_synced_at, now),
                msg = esc_or(r.last_sync_message.as_deref(), ""),
                auto = if r.auto_sync { "on" } else { "<span class=\"muted\">off</span>" },
            )
        })
        .collect();
    let empty = if rows.is_empty() {
        "<tr><td colspan=\"7\" class=\"muted\">No syncs match.</td></tr>"
    } else {
        ""
    };
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let link = |p: i64, label: &str| {
        let mut query = format!("?page={p}");
        for (name, v) in [
            ("status", &f.status),
            ("project", &f.project),
            ("app", &f.app),
            ("env", &f.env),
            ("q", &f.search),
        ] {
            if let Some(v) = v {
                query.push_str(&format!("&{name}={}", url_enc(v)));
            }
        }
        format!("<a href=\"/{query}\">{label}</a>")
    };
    let prev = if page > 1 {
        link(page - 1, "← previous")
    } else {
        String::new()
    };
    let next = if page < pages {
        link(page + 1, "next →")
    } else {
        String::new()
    };
    format!(
        "<table class=\"syncs\" id=\"syncs\"><thead><tr><th>Status</th><th>Name</th>\
         <th>Destination</th><th>Source</th><th>Last synced</th><th>Last message</th>\
         <th>Auto-sync</th></tr></thead><tbody>{body}{empty}</tbody></table>\
         <div class=\"pager\"><span class=\"muted\">{total} syncs · page {page} of {}</span> {prev} {next}</div>",
        pages.max(1)
    )
}
