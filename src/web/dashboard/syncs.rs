//! `/`: every sync the token may see, failed first, with filters, search
//! and paging; the table refreshes itself (`?fragment=1`).

use axum::extract::{Query, State};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use super::html::{ago, badge, destination, layout, or, source, url_enc};
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
        return Ok(super::page(table));
    }
    let body = html! {
        div.toolbar { h1 { "Syncs" } (live_controls()) }
        (filters(&viewer, &filter))
        div #live data-live { (table) }
    };
    Ok(super::page(layout("Syncs", "syncs", Some(&viewer), body)))
}

/// The pause button and interval choice (wired up by dashboard.js).
pub fn live_controls() -> Markup {
    html! {
        div.live-controls {
            span #live-state .muted { "live" }
            button type="button" #live-pause { "Pause" }
            select #live-interval aria-label="Refresh every" {
                option value="2" { "2 s" }
                option value="5" selected { "5 s" }
                option value="15" { "15 s" }
            }
        }
    }
}

fn filters(viewer: &Viewer, f: &SyncFilter) -> Markup {
    let option = |value: &str, label: &str, current: &Option<String>| {
        html! { option value=(value) selected[current.as_deref() == Some(value)] { (label) } }
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form.filters #filters method="get" action="/" {
            input type="search" name="q" #filter-q placeholder="Search by name" value=(value(&f.search));
            select name="status" #filter-status {
                option value="" { "any status" }
                @for (v, l) in STATUSES { (option(v, l, &f.status)) }
            }
            select name="project" #filter-project {
                option value="" { "any project" }
                @for p in &viewer.caller.projects { (option(p, p, &f.project)) }
            }
            input name="app" #filter-app placeholder="destination app" value=(value(&f.app));
            input name="env" #filter-env placeholder="destination env" value=(value(&f.env));
            button type="submit" #filter-apply { "Filter" }
            " "
            a href="/" { "clear" }
        }
    }
}

fn table(rows: &[SyncListRow], total: i64, page: i64, f: &SyncFilter) -> Markup {
    let now = Utc::now();
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
        html! { a href={ "/" (query) } { (label) } }
    };
    html! {
        table.syncs #syncs {
            thead {
                tr {
                    th { "Status" } th { "Name" } th { "Destination" } th { "Source" }
                    th { "Last synced" } th { "Last message" } th { "Auto-sync" }
                }
            }
            tbody {
                @for r in rows {
                    tr data-sync-id=(r.id) data-status=(r.sync_status.as_deref().unwrap_or("never")) {
                        td.status { (badge(r.sync_status.as_deref())) }
                        td.name {
                            a href={ "/syncs/" (r.id) } { (r.name) }
                            div.muted.small { (r.project_id) }
                        }
                        td { (destination(r)) }
                        td { (source(r)) }
                        td { (ago(r.last_synced_at, now)) }
                        td.message { (or(r.last_sync_message.as_deref(), "")) }
                        td {
                            @if r.auto_sync { "on" } @else { span.muted { "off" } }
                        }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="7" .muted { "No syncs match." } }
                }
            }
        }
        div.pager {
            span.muted { (total) " syncs · page " (page) " of " (pages.max(1)) }
            " "
            @if page > 1 { (link(page - 1, "← previous")) }
            " "
            @if page < pages { (link(page + 1, "next →")) }
        }
    }
}
