//! `/`: every sync the token may see, failed first (the most recent
//! failure first), sortable by any column, with filters and a search that
//! live in the URL, counts per status that filter on click, and paging; the
//! table refreshes itself (`?fragment=1`). The search also finds the syncs
//! that push a key (its whole name), and a job id (or sync id) pasted into
//! it opens that job's (sync's) page, if the token may see it. Write tokens
//! also get the list's actions: turn auto-sync on or off, and retry every
//! failed sync of the view (see `actions.rs`).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{ago, badge, csrf_field, destination, layout, or, source, status_label, url_enc};
use super::session::Viewer;
use super::DashResult;
use crate::store::{FoundId, SyncFilter, SyncListRow, SyncOrder, SyncSort};
use crate::web::state::ApiState;

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    project: Option<String>,
    app: Option<String>,
    env: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<i64>,
    fragment: Option<String>,
    /// What an action just did (fixed codes, see `flash`).
    done: Option<String>,
    retried: Option<i64>,
}

pub(super) fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub(super) const STATUSES: [&str; 5] = ["failed", "pending", "running", "succeeded", "never"];

/// The filter of a list URL; an unknown status is ignored.
pub(super) fn filter_of(
    status: &Option<String>,
    project: &Option<String>,
    app: &Option<String>,
    env: &Option<String>,
    q: &Option<String>,
) -> SyncFilter {
    SyncFilter {
        status: given(status).filter(|s| STATUSES.contains(&s.as_str())),
        project: given(project),
        app: given(app),
        env: given(env),
        search: given(q),
    }
}

/// The query string of a list view (filters, then `extra`), for links.
pub(super) fn list_query(f: &SyncFilter, order: SyncOrder, extra: &[(&str, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (name, v) in [
        ("status", &f.status),
        ("project", &f.project),
        ("app", &f.app),
        ("env", &f.env),
        ("q", &f.search),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name}={}", url_enc(v)));
        }
    }
    if order.sort != SyncSort::Default {
        parts.push(format!("sort={}", order.sort.as_str()));
        parts.push(format!(
            "dir={}",
            if order.descending { "desc" } else { "asc" }
        ));
    }
    for (name, v) in extra {
        parts.push(format!("{name}={}", url_enc(v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> DashResult {
    let filter = filter_of(&q.status, &q.project, &q.app, &q.env, &q.q);
    let sort = q
        .sort
        .as_deref()
        .and_then(SyncSort::parse)
        .unwrap_or_default();
    let order = SyncOrder {
        sort,
        descending: match q.dir.as_deref() {
            Some("asc") => false,
            Some("desc") => true,
            // Times read newest first; words and statuses A to Z.
            _ => matches!(sort, SyncSort::LastSynced | SyncSort::LastFailure),
        },
    };
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let projects = &viewer.caller.projects;
    // A job id (or a sync id) pasted into the search opens its page when
    // the token may see it. Otherwise the list says nothing has that id,
    // in the same words for another project's id as for an unknown one.
    // The live refresh (`fragment`) never redirects: it swaps in the list.
    let mut unknown_id = None;
    if q.fragment.is_none() {
        if let Some(id) = filter.search.as_deref().and_then(pasted_id) {
            match state.store.reads.dashboard_find_id(projects, id).await? {
                Some(FoundId::Job) => {
                    return Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
                }
                Some(FoundId::Sync) => {
                    return Ok(Redirect::to(&format!("/syncs/{id}")).into_response())
                }
                None => unknown_id = Some(id),
            }
        }
    }
    // The page and the counts are independent reads: side by side, on two
    // pooled connections, the page waits for the slower one only.
    let (list, counts) = tokio::try_join!(
        state.store.reads.dashboard_syncs(
            projects,
            &filter,
            order,
            PAGE_SIZE,
            (page - 1) * PAGE_SIZE
        ),
        state
            .store
            .reads
            .dashboard_filtered_counts(projects, &filter),
    )?;
    let live = html! {
        div.view-bar {
            (status_counts(&counts, &filter, order))
            (retry_form(&viewer, &counts, &filter))
        }
        (table(&viewer, &list.rows, list.total, page, &filter, order))
    };
    if q.fragment.is_some() {
        return Ok(super::page(live));
    }
    let body = html! {
        div.toolbar { h1 { "Syncs" } (live_controls()) }
        (flash(&q, unknown_id))
        (filters(&viewer, &filter, order))
        div #live data-live { (live) }
    };
    Ok(super::page(layout("Syncs", "syncs", Some(&viewer), body)))
}

/// A search that is one id (a UUID, as the job and sync pages show it).
fn pasted_id(search: &str) -> Option<Uuid> {
    let search = search.trim();
    // Only the forms the pages show: 36 characters with hyphens, or 32 hex
    // digits; `Uuid::parse_str` would also take braces and `urn:uuid:`.
    if search.len() != 36 && search.len() != 32 {
        return None;
    }
    Uuid::parse_str(search).ok()
}

/// What the last action did, from fixed codes (never text from the URL),
/// or that the id searched for names nothing the token may see.
fn flash(q: &ListQuery, unknown_id: Option<Uuid>) -> Markup {
    let text = match (q.done.as_deref(), q.retried) {
        _ if unknown_id.is_some() => unknown_id.map(|id| {
            format!("No job or sync with id {id} found in the projects this token may see.")
        }),
        (_, Some(n)) => Some(format!(
            "Queued a sync job for each of the {n} failed syncs (coalesced with any already queued)."
        )),
        (Some("deleted"), _) => Some("Sync deleted; its keys stay in Humanitec.".to_string()),
        (Some("removing"), _) => Some(
            "Removing the sync's keys from Humanitec; the sync is deleted once they are gone."
                .to_string(),
        ),
        _ => None,
    };
    html! {
        @if let Some(text) = text {
            p.flash #flash role="status" { (text) }
        } @else {
            p.flash.hidden #flash role="status" {}
        }
    }
}

/// The live-update button and interval choice (wired up by dashboard.js).
/// Not "Pause": that word is the writes pause's (`pauses.rs`).
pub fn live_controls() -> Markup {
    html! {
        div.live-controls {
            span #live-state .muted aria-live="polite" { "live" }
            button type="button" #live-pause { "Stop updates" }
            select #live-interval aria-label="Refresh every" {
                option value="2" { "2 s" }
                option value="5" selected { "5 s" }
                option value="15" { "15 s" }
            }
        }
    }
}

fn filters(viewer: &Viewer, f: &SyncFilter, order: SyncOrder) -> Markup {
    let option = |value: &str, label: &str, current: &Option<String>| {
        html! { option value=(value) selected[current.as_deref() == Some(value)] { (label) } }
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form.filters #filters method="get" action="/" role="search" {
            input type="search" name="q" #filter-q
                placeholder="Name, destination, source, connection, key, job id"
                aria-label="Search by name, destination (org/app/env), source environment or path, connection, the name of a key a sync pushes, or a job id (opens the job)"
                aria-keyshortcuts="/"
                value=(value(&f.search));
            span.hint.muted aria-hidden="true" { "Press " kbd { "/" } " to search" }
            select name="status" #filter-status aria-label="Status" {
                option value="" { "any status" }
                @for s in STATUSES { (option(s, status_label((s != "never").then_some(s)), &f.status)) }
            }
            select name="project" #filter-project aria-label="Project" {
                option value="" { "any project" }
                @for p in &viewer.caller.projects { (option(p, p, &f.project)) }
            }
            input name="app" #filter-app placeholder="destination app" aria-label="Destination app"
                value=(value(&f.app));
            input name="env" #filter-env placeholder="destination env" aria-label="Destination environment"
                value=(value(&f.env));
            @if order.sort != SyncSort::Default {
                input type="hidden" name="sort" value=(order.sort.as_str());
                input type="hidden" name="dir" value=(if order.descending { "desc" } else { "asc" });
            }
            button type="submit" #filter-apply { "Filter" }
            a href="/" { "Clear" }
        }
    }
}

/// One link per status with its count among the filtered syncs; a click
/// filters on that status (and "all" clears the status filter).
fn status_counts(counts: &[(String, i64)], f: &SyncFilter, order: SyncOrder) -> Markup {
    let count_of = |s: &str| {
        counts
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let all: i64 = counts.iter().map(|(_, n)| n).sum();
    let link = |status: Option<&str>| {
        let f = SyncFilter {
            status: status.map(str::to_string),
            ..f.clone()
        };
        format!("/{}", list_query(&f, order, &[]))
    };
    html! {
        nav.counts #status-counts aria-label="Syncs per status" {
            a href=(link(None)) class={ "count" @if f.status.is_none() { " current" } }
                aria-current=[f.status.is_none().then_some("true")] {
                span.n #count-all { (all) } " all"
            }
            @for s in STATUSES {
                @let label = status_label((s != "never").then_some(s));
                @let current = f.status.as_deref() == Some(s);
                a href=(link(Some(s))) class={ "count count-" (label.replace(' ', "-")) @if current { " current" } }
                    aria-current=[current.then_some("true")] data-status=(s) {
                    span.n id={ "count-" (s) } { (count_of(s)) } " " (label)
                }
            }
        }
    }
}

/// "Retry failed" for the view: how many it will queue, asked before.
fn retry_form(viewer: &Viewer, counts: &[(String, i64)], f: &SyncFilter) -> Markup {
    let failed = match f.status.as_deref() {
        None | Some("failed") => counts
            .iter()
            .find(|(k, _)| k == "failed")
            .map(|(_, n)| *n)
            .unwrap_or(0),
        Some(_) => 0,
    };
    let hidden = |name: &str, v: &Option<String>| {
        html! { @if let Some(v) = v { input type="hidden" name=(name) value=(v); } }
    };
    html! {
        @if viewer.can_write() && failed > 0 {
            form.inline.retry method="post" action="/retry-failed" data-async
                data-confirm={ "Queue a sync job for each of the " (failed) " failed syncs of this view?" } {
                (csrf_field(viewer))
                (hidden("project", &f.project))
                (hidden("app", &f.app))
                (hidden("env", &f.env))
                (hidden("q", &f.search))
                input type="hidden" name="expected" value=(failed);
                button type="submit" #retry-failed { "Retry " (failed) " failed" }
            }
        }
    }
}

fn table(
    viewer: &Viewer,
    rows: &[SyncListRow],
    total: i64,
    page: i64,
    f: &SyncFilter,
    order: SyncOrder,
) -> Markup {
    let now = Utc::now();
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let link = |p: i64, label: &str| {
        let query = list_query(f, order, &[("page", p.to_string())]);
        html! { a href={ "/" (query) } { (label) } }
    };
    // A sortable column header: a link that sorts by it (again: reverses).
    let header = |sort: SyncSort, label: &str| {
        let current = order.sort == sort;
        let next = SyncOrder {
            sort,
            descending: if current {
                !order.descending
            } else {
                matches!(sort, SyncSort::LastSynced | SyncSort::LastFailure)
            },
        };
        let aria = current.then_some(if order.descending {
            "descending"
        } else {
            "ascending"
        });
        let arrow = match (current, order.descending) {
            (false, _) => "",
            (true, false) => " ▲",
            (true, true) => " ▼",
        };
        html! {
            th scope="col" aria-sort=[aria] {
                a.sort href={ "/" (list_query(f, next, &[])) } data-sort=(sort.as_str()) {
                    (label) span aria-hidden="true" { (arrow) }
                }
            }
        }
    };
    let write = viewer.can_write();
    html! {
        table.syncs #syncs {
            caption.visually-hidden {
                "Syncs"
                @if order.sort != SyncSort::Default { ", sorted by " (order.sort.as_str()) }
            }
            thead {
                tr {
                    (header(SyncSort::Status, "Status"))
                    (header(SyncSort::Name, "Name"))
                    (header(SyncSort::Destination, "Destination"))
                    th scope="col" { "Source" }
                    (header(SyncSort::LastSynced, "Last synced"))
                    (header(SyncSort::LastFailure, "Last failure"))
                    th scope="col" { "Last message" }
                    th scope="col" { "Auto-sync" }
                    th scope="col" { "Id" }
                }
            }
            tbody {
                @for r in rows {
                    tr data-sync-id=(r.id) data-status=(r.sync_status.as_deref().unwrap_or("never")) {
                        td.status data-label="Status" { (badge(r.sync_status.as_deref())) }
                        td.name data-label="Name" {
                            a href={ "/syncs/" (r.id) } { (r.name) }
                            div.muted.small { (r.project_id) }
                        }
                        td.dest data-label="Destination" { (destination(r)) }
                        td data-label="Source" {
                            (source(r))
                            @if let Some(c) = &r.connection_name { div.muted.small { "via " (c) } }
                        }
                        td data-label="Last synced" { (ago(r.last_synced_at, now)) }
                        td.last-failure data-label="Last failure" { (ago(r.last_failed_at, now)) }
                        td.message data-label="Last message" { (or(r.last_sync_message.as_deref(), "")) }
                        td data-label="Auto-sync" { (auto_sync_control(viewer, write, r)) }
                        td data-label="Id" { (copy_id(r.id)) }
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="9" .muted { "No syncs match." } }
                }
            }
        }
        div.pager {
            span.muted { (total) " syncs · page " (page) " of " (pages.max(1)) }
            @if page > 1 { (link(page - 1, "← previous")) }
            @if page < pages { (link(page + 1, "next →")) }
        }
    }
}

/// Auto-sync's state, and for write tokens the button that flips it.
pub(super) fn auto_sync_control(viewer: &Viewer, write: bool, r: &SyncListRow) -> Markup {
    let state = if r.auto_sync { "on" } else { "off" };
    html! {
        @if write {
            form.inline.auto-sync method="post" action={ "/syncs/" (r.id) "/auto-sync" } data-async
                data-done={ "Auto-sync of " (r.name) " turned " (if r.auto_sync { "off" } else { "on" }) "." } {
                (csrf_field(viewer))
                input type="hidden" name="enabled" value=(if r.auto_sync { "off" } else { "on" });
                button.toggle type="submit" role="switch" aria-checked=(if r.auto_sync { "true" } else { "false" })
                    aria-label={ "Auto-sync of " (r.name) }
                    data-auto-sync=(state) {
                    (state)
                }
            }
        } @else if r.auto_sync {
            "on"
        } @else {
            span.muted { "off" }
        }
    }
}

/// A button that copies a sync's id (dashboard.js), with the id shown.
pub(super) fn copy_id(id: uuid::Uuid) -> Markup {
    html! {
        button.copy.link type="button" data-copy=(id) aria-label={ "Copy id " (id) } title=(id) {
            code { (id.to_string().get(..8).unwrap_or_default()) "…" } " " span.small { "copy" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_id_is_taken_as_one() {
        let id = Uuid::new_v4();
        assert_eq!(pasted_id(&id.to_string()), Some(id));
        assert_eq!(pasted_id(&format!("  {id} ")), Some(id));
        assert_eq!(pasted_id(&id.simple().to_string()), Some(id));
        assert_eq!(pasted_id(&id.to_string().to_uppercase()), Some(id));
        for not_one in [
            format!("{{{id}}}"),
            format!("urn:uuid:{id}"),
            id.to_string()[..8].to_string(),
            "DATABASE_URL".to_string(),
            "g".repeat(36),
        ] {
            assert_eq!(pasted_id(&not_one), None, "{not_one}");
        }
    }
}
