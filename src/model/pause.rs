//! Holding Humanitec writes: a pause of one connection or of the whole
//! instance, its reason, who paused it and when (pure).

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// The longest reason kept, in characters.
pub const REASON_MAX: usize = 500;

/// An active pause, as a job and a page see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseNote {
    /// None: the whole instance.
    pub connection_id: Option<Uuid>,
    pub reason: String,
    /// Who paused it: an API token's label, or `cli (<operator>)`.
    pub paused_by: String,
    pub paused_at: DateTime<Utc>,
}

impl PauseNote {
    /// "the whole instance" or "its connection".
    pub fn scope_words(&self) -> &'static str {
        match self.connection_id {
            None => "the whole instance",
            Some(_) => "this sync's connection",
        }
    }

    /// What a parked job's row (and its sync's) says.
    pub fn job_message(&self) -> String {
        format!(
            "Paused: Humanitec writes are held for {} since {} by {} ({}); this job runs once \
             the pause ends",
            self.scope_words(),
            self.paused_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.paused_by,
            self.reason
        )
    }
}

/// Checks a pause's reason: trimmed, 1 to [`REASON_MAX`] characters, one
/// line of visible text (no control characters, no bidirectional or
/// zero-width marks: the reason is shown on pages, in job messages and
/// logs, and must read as what it is). Returns the trimmed reason, or why
/// it is refused.
pub fn check_reason(reason: &str) -> Result<String, String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err("a reason is required: say why writes are held (an incident, a freeze)".into());
    }
    let length = reason.chars().count();
    if length > REASON_MAX {
        return Err(format!(
            "the reason is {length} characters long; at most {REASON_MAX}"
        ));
    }
    if let Some(c) = reason.chars().find(|c| hidden(*c)) {
        return Err(format!(
            "the reason holds the character U+{:04X}; use one line of plain text \
             (no control characters, line breaks or direction marks)",
            c as u32
        ));
    }
    Ok(reason.to_string())
}

/// Characters that do not show as themselves: controls, line and
/// paragraph separators, bidirectional controls, zero-width marks.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_line_of_visible_text() {
        assert_eq!(
            check_reason("  Humanitec incident INC-42 ").as_deref(),
            Ok("Humanitec incident INC-42")
        );
        assert!(check_reason("   ").is_err());
        assert!(check_reason("a\nb").is_err());
        assert!(check_reason("a\0b").is_err());
        assert!(check_reason("evil\u{202E}txt").is_err());
        assert!(check_reason("zero\u{200B}width").is_err());
        assert!(check_reason(&"x".repeat(REASON_MAX)).is_ok());
        assert!(check_reason(&"x".repeat(10 * 1024 * 1024)).is_err());
        // Markup is text: refused nowhere, escaped where it is shown.
        assert!(check_reason("<b>freeze</b> & co").is_ok());
    }

    #[test]
    fn a_parked_job_says_why_and_until_when() {
        let note = PauseNote {
            connection_id: None,
            reason: "change freeze".into(),
            paused_by: "ops (token 1)".into(),
            paused_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        };
        let m = note.job_message();
        assert!(m.starts_with("Paused: Humanitec writes are held for the whole instance since 2026-01-02T03:04:05Z by ops (token 1) (change freeze)"), "{m}");
        assert!(m.ends_with("once the pause ends"));
    }
}
