//! `/jobs/{jobId}`: one job: its timeline (enqueued, started, finished, the
//! next attempt while it waits for a retry), every attempt on record (its
//! start, end, outcome, message and Humanitec's answer), its counts and its
//! message. Reached from a sync's job history. A job of another project (or
//! of a deleted sync) answers as a missing one.

use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::html::{ago, badge, layout, or, took};
use super::session::Viewer;
use super::syncs::live_controls;
use super::{DashError, DashResult};
use crate::model::{JobAttempt, KeyChanges};
use crate::store::JobDetail;
use crate::web::state::ApiState;

#[derive(Deserialize, Default)]
pub struct JobQuery {
    fragment: Option<String>,
}

fn not_found(id: &str) -> DashError {
    DashError::not_found(format!(
        "job {id} not found in the projects this token may see"
    ))
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<JobQuery>,
) -> DashResult {
    let job_id =
        Uuid::parse_str(&id).map_err(|_| DashError::not_found("no such job (not a job id)"))?;
    let job = state
        .store
        .reads
        .dashboard_job(&viewer.caller.projects, job_id)
        .await?
        .ok_or_else(|| not_found(&job_id.to_string()))?;
    let keys = state
        .store
        .reads
        .job_detail(job.sync_id, job_id)
        .await?
        .and_then(|h| h.keys);
    let attempts = state.store.reads.job_attempts(job_id).await?;
    let live = live_part(&job, viewer.caller.is_admin(), keys.as_ref(), &attempts);
    if q.fragment.is_some() {
        return Ok(super::page(live));
    }
    let title = format!("{} job", job.job.job_type);
    let body = html! {
        p.crumbs {
            a href="/" { "Syncs" } " / "
            a href={ "/syncs/" (job.sync_id) } { (job.sync_name) } " / "
            "job"
        }
        div.toolbar {
            h1 { (title) " " code.small { (job.job.id) } }
            (live_controls())
        }
        div #live data-live { (live) }
    };
    Ok(super::page(layout(&title, "syncs", Some(&viewer), body)))
}

/// One step of the timeline.
fn step(what: &str, at: Option<DateTime<Utc>>, now: DateTime<Utc>, note: Markup) -> Markup {
    html! {
        li class=[at.is_none().then_some("not-yet")] {
            span.what { (what) }
            " "
            @if let Some(t) = at {
                (ago(Some(t), now)) " " span.muted.small { (t.format("%Y-%m-%d %H:%M:%S%.3f UTC")) }
            } @else {
                span.muted { "not yet" }
            }
            (note)
        }
    }
}

fn live_part(
    d: &JobDetail,
    admin: bool,
    keys: Option<&KeyChanges>,
    attempts: &[JobAttempt],
) -> Markup {
    let j = &d.job;
    let now = Utc::now();
    let [created, updated, deleted, unchanged, skipped] = j.counts;
    let failed_attempts = match j.status.as_str() {
        "failed" => j.attempt,
        // Waiting for its next attempt: the ones before it failed.
        "pending" if d.next_attempt_at.is_some() => j.attempt,
        _ => j.attempt - 1,
    };
    let row = |k: &str, v: Markup| html! { tr { th scope="row" { (k) } td { (v) } } };
    html! {
        div.grid {
            div.card {
                h2 { "Job" }
                table.fields #job-fields {
                    tbody {
                        (row("Status", badge(Some(&j.status))))
                        (row("Type", html! { (j.job_type) }))
                        (row("Trigger", html! { (or(j.trigger.as_deref(), "—")) }))
                        (row("Sync", html! { a href={ "/syncs/" (d.sync_id) } { (d.sync_name) } }))
                        (row("Project", html! { (d.project_id) }))
                        (row("Attempt", html! { (j.attempt) " of " (j.max_attempts) }))
                        (row("Coalesced requests", html! { (j.coalesced) }))
                        @if admin {
                            (row("Worker", html! { (or(j.worker_id.as_deref(), "—")) }))
                        }
                    }
                }
            }
            div.card {
                h2 { "Counts" }
                table.fields #job-counts {
                    tbody {
                        (row("Created", html! { (created) }))
                        (row("Updated", html! { (updated) }))
                        (row("Deleted", html! { (deleted) }))
                        (row("Unchanged", html! { (unchanged) }))
                        (row("Skipped", html! { (skipped) }))
                    }
                }
            }
        }
        div.card {
            h2 { "Timeline" }
            ol.timeline #timeline {
                (step("Enqueued", Some(j.enqueued_at), now, html! {}))
                @if failed_attempts > 0 {
                    li.attempts {
                        span.what { "Attempts" }
                        " "
                        (failed_attempts) " of " (j.max_attempts) " failed"
                        @if let Some(m) = &j.message {
                            @if j.status != "succeeded" {
                                div.message { "Last error: " (m) }
                            }
                        }
                    }
                }
                @if let Some(next) = d.next_attempt_at {
                    @if j.status == "pending" {
                        (step("Next attempt", Some(next), now, html! {}))
                    }
                }
                (step("Started", j.started_at, now, html! {
                    @if j.started_at.is_some() {
                        span.muted.small { " (waited " (took(Some(j.enqueued_at), j.started_at)) ")" }
                    }
                }))
                (step("Finished", j.finished_at, now, html! {
                    @if j.finished_at.is_some() {
                        span.muted.small { " (ran " (took(j.started_at, j.finished_at)) ")" }
                    }
                }))
            }
        }
        (attempts_card(attempts, now))
        div.card {
            h2 { "Message" }
            p.message #job-message { (or(j.message.as_deref(), "No message.")) }
        }
        // The names of the keys the job touched, never their values.
        section.card #job-keys aria-labelledby="job-keys-title" {
            h2 #job-keys-title { "Keys" }
            @match keys {
                Some(k) => {
                    (key_list("Created", "keys-created", &k.created))
                    @if !k.updated.is_empty() {
                        h3 { "Updated (" (k.updated.len()) ")" }
                        ul.keys #keys-updated {
                            @for u in &k.updated {
                                li data-key=(u.key) { code { (u.key) } " " span.muted.small { (reason(&u.reason)) } }
                            }
                        }
                    }
                    (key_list("Deleted", "keys-deleted", &k.deleted))
                    (key_list("Skipped", "keys-skipped", &k.skipped))
                }
                None => p.muted #keys-none { "This job touched no key." }
            }
        }
    }
}

/// Every attempt on record, first first: when it ran, how it ended and
/// what Humanitec answered (status, Retry-After).
fn attempts_card(attempts: &[JobAttempt], now: DateTime<Utc>) -> Markup {
    html! {
        section.card #job-attempts aria-labelledby="job-attempts-title" {
            h2 #job-attempts-title { "Attempts" }
            @if attempts.is_empty() {
                p.muted #attempts-none {
                    "No attempt on record: the job has not run yet, was recorded without running (skipped), or finished before attempts were kept."
                }
            } @else {
                table.jobs.attempts #attempts {
                    thead {
                        tr {
                            th scope="col" { "#" } th scope="col" { "Outcome" }
                            th scope="col" { "Started → finished" } th scope="col" { "Humanitec" }
                            th scope="col" { "Retry-After" } th scope="col" { "Message" }
                        }
                    }
                    tbody {
                        @for a in attempts { (attempt_row(a, now)) }
                    }
                }
            }
        }
    }
}

fn attempt_row(a: &JobAttempt, now: DateTime<Utc>) -> Markup {
    let at = |t: DateTime<Utc>| t.format("%H:%M:%S%.3f").to_string();
    html! {
        tr data-attempt=(a.attempt) {
            td { (a.attempt) }
            td.outcome { (attempt_badge(&a.outcome)) }
            td.when {
                (ago(Some(a.started_at), now)) br;
                span.small { (at(a.started_at)) " → " (at(a.finished_at)) " UTC" }
                " " span.muted.small { "(" (took(Some(a.started_at), Some(a.finished_at))) ")" }
            }
            td.status {
                @match a.humanitec_status {
                    Some(s) => { "HTTP " (s) },
                    None => { span.muted { "—" } },
                }
            }
            td.retry-after {
                @match a.retry_after_ms {
                    Some(ms) => { (retry_after(ms)) },
                    None => { span.muted { "—" } },
                }
            }
            td.message { (or(a.message.as_deref(), "—")) }
        }
    }
}

/// An attempt's outcome as a badge: `retrying` looks queued (another
/// attempt follows), the others as a job's status does.
fn attempt_badge(outcome: &str) -> Markup {
    let (class, label) = match outcome {
        "succeeded" => ("synced", "succeeded"),
        "retrying" => ("queued", "failed, retrying"),
        "failed" => ("failed", "failed"),
        "skipped" => ("skipped", "skipped"),
        _ => ("unknown", "unknown"),
    };
    html! { span class={ "badge badge-" (class) } { (label) } }
}

/// "1 s", "1.5 s", "250 ms".
fn retry_after(ms: i32) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms => format!("{:.1} s", f64::from(ms) / 1000.0),
    }
}

fn key_list(title: &str, id: &str, keys: &[String]) -> Markup {
    html! {
        @if !keys.is_empty() {
            h3 { (title) " (" (keys.len()) ")" }
            ul.keys id=(id) {
                @for k in keys { li data-key=(k) { code { (k) } } }
            }
        }
    }
}

/// Why a key was written, in words.
fn reason(code: &str) -> &str {
    match code {
        "source-changed" => "the source changed",
        "drifted" => "someone else wrote it in Humanitec",
        "made-secret" => "a readable value was made a secret",
        "description-changed" => "its description changed",
        "not-pushed-before" => "in Humanitec, never pushed by this sync",
        "no-override" => "no override in this environment yet",
        "imported" => "imported into the source",
        other => other,
    }
}
