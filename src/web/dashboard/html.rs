//! The HTML building blocks: escaping, the page frame, badges and times.
//! Every value that comes from the database or the broker goes through `esc`.

use chrono::{DateTime, Utc};

use super::session::Viewer;
use crate::store::SyncListRow;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an optional value, with `empty` (already HTML) when absent.
pub fn esc_or(text: Option<&str>, empty: &str) -> String {
    match text {
        Some(t) if !t.is_empty() => esc(t),
        _ => empty.to_string(),
    }
}

/// Percent-encodes a query-string value.
pub fn url_enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(viewer: &Viewer) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&viewer.csrf)
    )
}

/// The page frame: navigation, who is signed in, the CSRF token for forms.
pub fn layout(title: &str, active: &str, viewer: Option<&Viewer>, body: &str) -> String {
    let nav = |href: &str, label: &str, key: &str| {
        let class = if key == active {
            " class=\"active\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{class}>{label}</a>")
    };
    let (links, who, csrf) = match viewer {
        Some(v) => (
            format!(
                "{}{}{}",
                nav("/", "Syncs", "syncs"),
                nav("/overview", "Overview", "overview"),
                nav("/dead", "Dead letters", "dead")
            ),
            format!(
                "<span class=\"who\">{} · {}</span>\
                 <form method=\"post\" action=\"/logout\" class=\"inline\">{}\
                 <button type=\"submit\" class=\"link\">Sign out</button></form>",
                esc(v.caller.role.as_str()),
                esc(&v.caller.projects.join(", ")),
                csrf_field(v)
            ),
            format!("<meta name=\"csrf-token\" content=\"{}\">", esc(&v.csrf)),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{csrf}\
         <title>{} · secret-sync</title>\
         <link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\
         <script src=\"/assets/dashboard.js\" defer></script></head>\
         <body><header><span class=\"brand\">secret-sync</span><nav>{links}</nav>\
         <div class=\"session\">{who}</div></header><main>{body}</main></body></html>",
        esc(title)
    )
}

/// The dashboard's words for a job or sync status.
/// A sync's destination, `org/app` or `org/app/env`, escaped.
pub fn destination(r: &SyncListRow) -> String {
    format!(
        "{}/{}{}",
        esc_or(r.org.as_deref(), "?"),
        esc_or(r.app.as_deref(), "?"),
        r.env
            .as_deref()
            .map(|e| format!("/{}", esc(e)))
            .unwrap_or_default()
    )
}

/// A sync's source folder (environment and path), or that it is gone.
pub fn source(r: &SyncListRow) -> String {
    match (&r.source_env, &r.source_path) {
        (Some(env), Some(path)) => format!("{} <code>{}</code>", esc(env), esc(path)),
        _ => "<span class=\"warn\">folder deleted</span>".into(),
    }
}

pub fn status_label(status: Option<&str>) -> &'static str {
    match status {
        Some("pending") => "queued",
        Some("running") => "syncing",
        Some("succeeded") => "synced",
        Some("failed") => "failed",
        Some("skipped") => "skipped",
        Some(_) => "unknown",
        None => "never run",
    }
}

pub fn badge(status: Option<&str>) -> String {
    let label = status_label(status);
    format!(
        "<span class=\"badge badge-{}\">{label}</span>",
        label.replace(' ', "-")
    )
}

/// "3 min ago", with the exact time on hover.
pub fn ago(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match at {
        None => "<span class=\"muted\">—</span>".into(),
        Some(at) => format!(
            "<time datetime=\"{0}\" title=\"{0}\">{1}</time>",
            at.format("%Y-%m-%d %H:%M:%S UTC"),
            relative(now - at)
        ),
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
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn statuses_read_as_operators_say_them() {
        assert_eq!(status_label(Some("pending")), "queued");
        assert_eq!(status_label(Some("running")), "syncing");
        assert_eq!(status_label(Some("succeeded")), "synced");
        assert_eq!(status_label(None), "never run");
        assert!(badge(None).contains("badge-never-run"));
    }

    #[test]
    fn relative_times_and_durations() {
        let now = Utc::now();
        assert!(ago(Some(now - chrono::TimeDelta::seconds(125)), now).contains(">2 min ago<"));
        assert_eq!(
            took(Some(now), Some(now + chrono::TimeDelta::milliseconds(1500))),
            "1.5 s"
        );
        assert_eq!(took(Some(now), None), "");
    }
}
