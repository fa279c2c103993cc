//! `/overview`: syncs per status, jobs per minute by outcome over the last
//! hour (an inline SVG), queue depths and the workers seen recently.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use chrono::Utc;
use serde::Deserialize;

use super::html::{ago, esc, layout, status_label};
use super::session::Viewer;
use super::syncs::live_controls;
use super::DashResult;
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
        return Ok(Html(live).into_response());
    }
    let body = format!(
        "<div class=\"toolbar\"><h1>Overview</h1>{}</div><div id=\"live\" data-live>{live}</div>",
        live_controls()
    );
    Ok(Html(layout("Overview", "overview", Some(&viewer), &body)).into_response())
}

async fn live_part(state: &ApiState, viewer: &Viewer) -> DashResult<String> {
    let projects = &viewer.caller.projects;
    let counts = state.store.dashboard_status_counts(projects).await?;
    let minutes = state.store.dashboard_jobs_per_minute(projects).await?;
    let workers = state
        .store
        .dashboard_recent_workers(WORKERS_WINDOW_MIN)
        .await?;
    let queues = queue_card(state).await;

    let count_of = |s: &str| {
        counts
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let tiles: String = ["failed", "pending", "running", "succeeded", "never"]
        .iter()
        .map(|s| {
            let label = status_label((*s != "never").then_some(*s));
            format!(
                "<a class=\"tile tile-{}\" href=\"/?status={s}\"><span class=\"n\" id=\"count-{s}\">{}</span>{label}</a>",
                label.replace(' ', "-"),
                count_of(s)
            )
        })
        .collect();
    let now = Utc::now();
    let worker_rows: String = workers
        .iter()
        .map(|(w, seen)| format!("<li><code>{}</code> {}</li>", esc(w), ago(Some(*seen), now)))
        .collect();
    let workers_html = if worker_rows.is_empty() {
        format!(
            "<p class=\"muted\">No worker started a job in the last {WORKERS_WINDOW_MIN} min.</p>"
        )
    } else {
        format!("<ul class=\"workers\">{worker_rows}</ul>")
    };
    Ok(format!(
        "<div class=\"tiles\">{tiles}</div>\
         <div class=\"card\"><h2>Jobs finished per minute, last hour</h2>{}</div>\
         <div class=\"grid\">{queues}<div class=\"card\"><h2>Workers seen (last {WORKERS_WINDOW_MIN} min)</h2>{workers_html}</div></div>",
        chart(&minutes)
    ))
}

async fn queue_card(state: &ApiState) -> String {
    let depths = async {
        let broker = state.dashboard.broker().await?;
        let depths = broker.queue_depths(&state.dashboard.delays).await;
        broker.close("counted").await;
        Ok::<_, super::DashError>(depths?)
    };
    match depths.await {
        Ok(d) => format!(
            "<div class=\"card\"><h2>Queues</h2><table class=\"queues\" id=\"queues\"><tbody>\
             <tr><th>jobs</th><td>{}</td></tr><tr><th>events</th><td>{}</td></tr>\
             <tr><th>delayed (retries)</th><td>{}</td></tr>\
             <tr><th><a href=\"/dead\">dead letters</a></th><td class=\"{}\">{}</td></tr></tbody></table></div>",
            d.jobs,
            d.events,
            d.delay,
            if d.dead > 0 { "warn" } else { "" },
            d.dead
        ),
        Err(e) => format!(
            "<div class=\"card\"><h2>Queues</h2><p class=\"flash error\">{}</p></div>",
            esc(&e.message)
        ),
    }
}

/// Outcomes drawn, bottom to top, with their colours (also in the CSS legend).
const SERIES: [(&str, &str); 3] = [
    ("succeeded", "#2e9d5b"),
    ("failed", "#d64545"),
    ("skipped", "#9aa4b2"),
];

/// A stacked bar per minute, oldest on the left.
fn chart(minutes: &[MinuteCount]) -> String {
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
    let mut bars = String::new();
    for (i, c) in per.iter().enumerate() {
        let mut y = H;
        for (s, n) in c.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let h = (*n as f64 / max as f64) * (H - 10.0);
            y -= h;
            bars.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} min ago: {n} {}</title></rect>",
                i as f64 * BAR + 1.0,
                BAR - 2.0,
                SERIES[s].1,
                59 - i,
                SERIES[s].0
            ));
        }
    }
    let legend: String = SERIES
        .iter()
        .map(|(name, colour)| format!("<span><i style=\"background:{colour}\"></i>{name}</span>"))
        .collect();
    format!(
        "<svg class=\"chart\" id=\"jobs-chart\" viewBox=\"0 0 {W} {}\" role=\"img\" \
         aria-label=\"{total} jobs finished in the last hour\">\
         <line x1=\"0\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\" stroke=\"#c8ced6\"/>{bars}\
         <text x=\"0\" y=\"{}\" class=\"axis\">60 min ago</text>\
         <text x=\"{W}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">now</text>\
         <text x=\"0\" y=\"10\" class=\"axis\">max {max}/min</text></svg>\
         <div class=\"legend\">{legend}<span class=\"muted\">{total} jobs in the last hour</span></div>",
        H + 16.0,
        H + 14.0,
        H + 14.0,
    )
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
        ]);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("6 jobs in the last hour"));
        assert!(svg.contains("max 6/min"));
    }
}
