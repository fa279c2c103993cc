//! Which keys a job touched, by name (never a value): kept on the job row
//! so an operator can read what each run changed in Humanitec.

use serde::{Deserialize, Serialize};

/// The keys one job created, updated (with why), deleted and skipped.
/// Empty for a run that changed nothing: then nothing extra is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChanges {
    pub created: Vec<String>,
    pub updated: Vec<UpdatedKey>,
    pub deleted: Vec<String>,
    /// Keys the job could not act on (an import's secrets Humanitec never
    /// reveals).
    pub skipped: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatedKey {
    pub key: String,
    /// Why it was written: `source-changed`, `drifted` (someone else wrote
    /// it in Humanitec), `made-secret`, `description-changed`,
    /// `not-pushed-before`, `no-override`; `imported` for an import.
    pub reason: String,
}

impl KeyChanges {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty()
            && self.updated.is_empty()
            && self.deleted.is_empty()
            && self.skipped.is_empty()
    }

    /// Sorted by name, so a job's lists read the same whatever order the
    /// parallel writes finished in.
    pub fn sorted(mut self) -> KeyChanges {
        self.created.sort();
        self.updated.sort_by(|a, b| a.key.cmp(&b.key));
        self.deleted.sort();
        self.skipped.sort();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_nothing_touched_and_lists_come_sorted() {
        assert!(KeyChanges::default().is_empty());
        let k = KeyChanges {
            created: vec!["B".into(), "A".into()],
            updated: vec![
                UpdatedKey {
                    key: "Z".into(),
                    reason: "drifted".into(),
                },
                UpdatedKey {
                    key: "C".into(),
                    reason: "source-changed".into(),
                },
            ],
            ..KeyChanges::default()
        }
        .sorted();
        assert!(!k.is_empty());
        assert_eq!(k.created, vec!["A", "B"]);
        assert_eq!(k.updated[0].key, "C");
    }
}
