//! `/overview`: syncs per status, jobs per minute by outcome over the last
//! hour (an inline SVG), queue depths and the workers seen recently. Queue
//! depths and workers are instance-wide, so only an admin token sees them;
//! a project token sees its own projects' waiting and running jobs.

use axum::extract::{Query, State};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use super::html::{ago, layout, status_label};
use super::session::Viewer;
use super::syncs::live_controls;
use super::{DashError, DashResult};
use crate::store::MinuteCount;
use crate::web::state::ApiState;

/// Workers that started a job within this many minutes count as "seen".
const WORKERS_WINDOW_MIN: i64 = 15;

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    fragment: Option<String>,
}

pub async fn page(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(q): Query<OverviewQuery>,
) -> DashResult {
    let live = live_part(&state, &viewer).await?;
    if q.fragment.is_some() {
        return Ok(super::page(live));
    }
    let paused = super::pauses::visible(&state, &viewer).await?;
    let instance_paused = paused.iter().any(|p| p.connection_id.is_none());
    let body = html! {
        div.toolbar { h1 { "Overview" } (live_controls()) }
        (super::pauses::banner(&paused))
        @if viewer.caller.is_admin() {
            div.card #instance-pause {
                h2 { "Hold every Humanitec write" }
                p.muted { "For an incident at Humanitec or a change freeze: no sync of any project writes until the instance is resumed." }
                (super::pauses::control(&viewer, "/instance", instance_paused, "the instance"))
            }
        }
        div #live data-live { (live) }
    };
    Ok(super::page(layout(
        "Overview",
        "overview",
        Some(&viewer),
        body,
    )))
}

async fn live_part(state: &ApiState, viewer: &Viewer) -> DashResult<Markup> {
    let projects = &viewer.caller.projects;
    let admin = viewer.caller.is_admin();
    // Independent reads, side by side: the page waits for the slowest one
    // (the per-minute counts), not for their sum.
    let (counts, minutes, workers, queues) = tokio::try_join!(
        async { Ok::<_, DashError>(state.store.reads.dashboard_status_counts(projects).await?) },
        async {
            Ok::<_, DashError>(
                state
                    .store
                    .reads
                    .dashboard_jobs_per_minute(projects)
                    .await?,
            )
        },
        async {
            if admin {
                Ok::<_, DashError>(
                    state
                        .store
                        .reads
                        .dashboard_recent_workers(WORKERS_WINDOW_MIN)
                        .await?,
                )
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if admin {
                Ok(queue_card(state).await)
            } else {
                project_queue_card(state, projects).await
            }
        },
    )?;

    let count_of = |s: &str| {
        counts
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let now = Utc::now();
    Ok(html! {
        div.tiles {
            @for s in ["failed", "pending", "running", "succeeded", "never"] {
                @let label = status_label((s != "never").then_some(s));
                a class={ "tile tile-" (label.replace(' ', "-")) } href={ "/?status=" (s) } {
                    span.n id={ "count-" (s) } { (count_of(s)) }
                    (label)
                }
            }
        }
        div.card { h2 { "Jobs finished per minute, last hour" } (chart(&minutes)) }
        div.grid {
            (queues)
            div.card {
                h2 { "Workers seen (last " (WORKERS_WINDOW_MIN) " min)" }
                @if !admin {
                    p.muted #workers-admin-only {
                        "Workers serve every project: an instance admin token sees them."
                    }
                } @else if workers.is_empty() {
                    p.muted { "No worker was seen in the last " (WORKERS_WINDOW_MIN) " min." }
                } @else {
                    ul.workers {
                        @for (w, seen) in &workers {
                            li { code { (w) } " " (ago(Some(*seen), now)) }
                        }
                    }
                }
            }
        }
    })
}

/// The caller's projects' share of the queues, from the database.
async fn project_queue_card(state: &ApiState, projects: &[String]) -> DashResult<Markup> {
    let (pending, running) = state.store.reads.dashboard_open_jobs(projects).await?;
    Ok(html! {
        div.card {
            h2 { "Queues (your projects)" }
            table.queues #queues {
                tbody {
                    tr { th { "jobs waiting" } td { (pending) } }
                    tr { th { "jobs running" } td { (running) } }
                    tr { th { a href="/dead" { "dead letters" } } td { "see the list" } }
                }
            }
            p.muted.small { "Instance-wide depths are shown to instance admin tokens." }
        }
    })
}

/// The instance's queue depths (admins only).
async fn queue_card(state: &ApiState) -> Markup {
    let depths = async {
        let broker = state.dashboard.broker().await?;
        let depths = broker.queue_depths().await;
        Ok::<_, super::DashError>(depths?)
    };
    match depths.await {
        Ok(d) => html! {
            div.card {
                h2 { "Queues" }
                table.queues #queues {
                    tbody {
                        tr { th { "jobs" } td { (d.jobs) } }
                        tr { th { "events" } td { (d.events) } }
                        tr { th { "delayed (retries)" } td { (d.delay) } }
                        tr {
                            th { a href="/dead" { "dead letters" } }
                            td class=(if d.dead > 0 { "warn" } else { "" }) { (d.dead) }
                        }
                    }
                }
            }
        },
        Err(e) => html! {
            div.card { h2 { "Queues" } p.flash.error { (e.message) } }
        },
    }
}

/// Outcomes drawn, bottom to top, with their colours (also in the CSS legend).
const SERIES: [(&str, &str); 3] = [
    ("succeeded", "#2e9d5b"),
    ("failed", "#d64545"),
    ("skipped", "#9aa4b2"),
];

/// A stacked bar per minute, oldest on the left.
fn chart(minutes: &[MinuteCount]) -> Markup {
    const W: f64 = 1200.0;
    const H: f64 = 160.0;
    const BAR: f64 = W / 60.0;
    let mut per = [[0i64; 3]; 60];
    for m in minutes {
        if let (Ok(ago), Some(s)) = (
            usize::try_from(m.minutes_ago),
            SERIES.iter().position(|(name, _)| *name == m.status),
        ) {
            if ago < 60 {
                per[59 - ago][s] += m.count;
            }
        }
    }
    let max = per
        .iter()
        .map(|c| c.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let total: i64 = per.iter().flatten().sum();
    // Each bar's segments, bottom up: (x, y, height, series, count).
    let mut bars = Vec::new();
    for (i, c) in per.iter().enumerate() {
        let mut y = H;
        for (s, n) in c.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let h = (*n as f64 / max as f64) * (H - 10.0);
            y -= h;
            bars.push((i, y, h, s, *n));
        }
    }
    html! {
        svg.chart #jobs-chart viewBox={ "0 0 " (W) " " (H + 16.0) } role="img"
            aria-label={ (total) " jobs finished in the last hour" } {
            // Closed explicitly: inside <svg> an unclosed <line> would hold the bars.
            line x1="0" y1=(H) x2=(W) y2=(H) stroke="#c8ced6" {}
            @for (i, y, h, s, n) in bars {
                rect x=(format!("{:.1}", i as f64 * BAR + 1.0)) y=(format!("{y:.1}"))
                    width=(format!("{:.1}", BAR - 2.0)) height=(format!("{h:.1}")) fill=(SERIES[s].1) {
                    title { (59 - i) " min ago: " (n) " " (SERIES[s].0) }
                }
            }
            text x="0" y=(H + 14.0) class="axis" { "60 min ago" }
            text x=(W) y=(H + 14.0) class="axis" text-anchor="end" { "now" }
            text x="0" y="10" class="axis" { "max " (max) "/min" }
        }
        div.legend {
            @for (name, _) in SERIES {
                span { i class={ "swatch " (name) } {} (name) }
            }
            span.muted { (total) " jobs in the last hour" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_draws_one_bar_per_minute_and_outcome() {
        let svg = chart(&[
            MinuteCount {
                minutes_ago: 0,
                status: "succeeded".into(),
                count: 4,
            },
            MinuteCount {
                minutes_ago: 0,
                status: "failed".into(),
                count: 2,
            },
            MinuteCount {
                minutes_ago: 70,
                status: "failed".into(),
                count: 9,
            },
        ])
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("6 jobs in the last hour"));
        assert!(svg.contains("max 6/min"));
    }
}
