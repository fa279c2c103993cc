//! The HTML building blocks: the page frame, badges, times, a sync's
//! destination and source. Pages are `maud` templates, which escape every
//! inserted value unless it is wrapped in `PreEscaped` (never done here for
//! data from the database or the broker).

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use super::session::Viewer;
use crate::store::SyncListRow;

/// `text`, or `empty` when it is absent or empty.
pub fn or<'a>(text: Option<&'a str>, empty: &'a str) -> &'a str {
    match text {
        Some(t) if !t.is_empty() => t,
        _ => empty,
    }
}

/// Percent-encodes a query-string value (the template escapes the URL for
/// the attribute afterwards).
pub fn url_enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// The page frame: navigation, who is signed in, the CSRF token for forms.
pub fn layout(title: &str, active: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    // `more` is left out on a phone so that every link fits on one line;
    // the accessible name stays whole.
    let nav = |href: &str, label: &str, more: &str, key: &str| {
        html! {
            a href=(href) class=[(key == active).then_some("active")]
              aria-label=[(!more.is_empty()).then(|| format!("{label}{more}"))] {
                (label)
                @if !more.is_empty() { span.wide { (more) } }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(v) = viewer {
                    meta name="csrf-token" content=(v.csrf);
                }
                title { (title) " · secret-sync" }
                link rel="icon" type="image/svg+xml" href="/assets/favicon.svg";
                // Blocking on purpose: it sets `data-theme` before the first
                // paint, so a dark page never flashes light (CSP: a served
                // script, not an inline one).
                script src="/assets/theme.js" {}
                link rel="stylesheet" href="/assets/dashboard.css";
                script src="/assets/dashboard.js" defer {}
            }
            body {
                header {
                    span.brand { "secret-sync" }
                    nav {
                        @if viewer.is_some() {
                            (nav("/", "Syncs", "", "syncs"))
                            (nav("/overview", "Overview", "", "overview"))
                            (nav("/dead", "Dead", " letters", "dead"))
                            (nav("/channels", "Channels", "", "channels"))
                            (nav("/audit", "Audit", "", "audit"))
                        }
                    }
                    div.session {
                        (theme_picker("theme-choice"))
                        @if let Some(v) = viewer {
                            span.who {
                                (v.caller.role.as_str()) " · "
                                @if v.caller.is_admin() { "every project" }
                                @else { (v.caller.projects.join(", ")) }
                            }
                            form.inline method="post" action="/logout" {
                                (csrf_field(v))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
                // On a phone the top bar has no room for the theme picker.
                footer.page {
                    label.muted for="theme-choice-narrow" { "Theme " }
                    (theme_picker("theme-choice-narrow"))
                }
            }
        }
    }
}

/// Light, dark or the system's choice (wired by dashboard.js, which shows
/// it; without scripts the page follows `prefers-color-scheme`). Twice on a
/// page: in the top bar, and in the footer that only a phone shows.
fn theme_picker(id: &str) -> Markup {
    html! {
        select.theme-choice id=(id) aria-label="Colour theme" hidden {
            option value="system" { "System" }
            option value="light" { "Light" }
            option value="dark" { "Dark" }
        }
    }
}

/// A sync's destination, `org/app` or `org/app/env`.
pub fn destination(r: &SyncListRow) -> Markup {
    html! {
        (or(r.org.as_deref(), "?")) "/" (or(r.app.as_deref(), "?"))
        @if let Some(env) = &r.env { "/" (env) }
    }
}

/// A sync's source folder (environment and path), or that it is gone.
pub fn source(r: &SyncListRow) -> Markup {
    match (&r.source_env, &r.source_path) {
        (Some(env), Some(path)) => html! { (env) " " code { (path) } },
        _ => html! { span.warn { "folder deleted" } },
    }
}

/// The dashboard's words for a job or sync status.
pub fn status_label(status: Option<&str>) -> &'static str {
    match status {
        Some("pending") => "queued",
        Some("running") => "syncing",
        Some("succeeded") => "synced",
        Some("failed") => "failed",
        Some("skipped") => "skipped",
        // A job parked by a pause of Humanitec writes (issue 41).
        Some("paused") => "paused",
        Some(_) => "unknown",
        None => "never run",
    }
}

pub fn badge(status: Option<&str>) -> Markup {
    let label = status_label(status);
    html! { span class={ "badge badge-" (label.replace(' ', "-")) } { (label) } }
}

/// "3 min ago", with the exact time on hover.
pub fn ago(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    match at {
        None => html! { span.muted { "—" } },
        Some(at) => {
            let exact = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
            html! { time datetime=(exact) title=(exact) { (relative(now - at)) } }
        }
    }
}

fn relative(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds();
    if s < 0 {
        return "just now".into();
    }
    match s {
        0..5 => "just now".into(),
        5..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86400),
    }
}

/// A duration between two instants, shortly ("850 ms", "12.3 s", "4 min").
pub fn took(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> String {
    let (Some(from), Some(to)) = (from, to) else {
        return String::new();
    };
    let ms = (to - from).num_milliseconds().max(0);
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min", ms / 60_000),
    }
}

/// Exact time, or a dash.
pub fn at(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "—".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        let page = layout("<script>alert('x')</script>&\"", "", None, html! {}).into_string();
        assert!(page.contains(
            "<title>&lt;script&gt;alert('x')&lt;/script&gt;&amp;&quot; · secret-sync</title>"
        ));
    }

    #[test]
    fn statuses_read_as_operators_say_them() {
        assert_eq!(status_label(Some("pending")), "queued");
        assert_eq!(status_label(Some("running")), "syncing");
        assert_eq!(status_label(Some("succeeded")), "synced");
        assert_eq!(status_label(None), "never run");
        assert!(badge(None).into_string().contains("badge-never-run"));
    }

    #[test]
    fn relative_times_and_durations() {
        let now = Utc::now();
        assert!(ago(Some(now - chrono::TimeDelta::seconds(125)), now)
            .into_string()
            .contains(">2 min ago<"));
        assert_eq!(
            took(Some(now), Some(now + chrono::TimeDelta::milliseconds(1500))),
            "1.5 s"
        );
        assert_eq!(took(Some(now), None), "");
    }
}
