//! What the next sync job would do, as users read it (pure): names only,
//! never values. Built from the very plan the run executes.

use serde::Serialize;

use super::plan::{SyncPlan, WriteKind, WriteReason, SKIPPED_UNADDRESSABLE};
use crate::model::Scope;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// org/app or org/app/env.
    pub destination: String,
    /// Keys to create (env scope: an override, and an empty app-level base
    /// when the app does not have the key yet).
    pub create: Vec<String>,
    /// Keys to overwrite, each with why.
    pub update: Vec<PreviewUpdate>,
    /// Keys to delete, after every write landed.
    pub delete: Vec<String>,
    pub unchanged: Vec<String>,
    /// Keys in the destination this sync does not manage: left alone.
    pub unmanaged: Vec<String>,
    /// Unmanaged keys a `pruneUnmanaged` job deletes (also in `delete`).
    pub prune: Vec<String>,
    /// Keys the run leaves alone, each with why.
    pub skipped: Vec<PreviewSkip>,
    /// Where each key's value comes from (`environment:/path`): the sync's
    /// folder, one it imports, or a subfolder.
    pub origins: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviewSkip {
    pub key: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviewUpdate {
    pub key: String,
    pub reason: WriteReason,
}

impl WriteReason {
    /// How the preview says it.
    pub fn describe(self) -> &'static str {
        match self {
            WriteReason::New => "new",
            WriteReason::NoOverride => "inherited from the app; gets its own override",
            WriteReason::SourceChanged => "value or description changed in the source",
            WriteReason::Drifted => "changed in Humanitec by someone else",
            WriteReason::DescriptionChanged => "description differs in Humanitec",
            WriteReason::MadeSecret => "readable value in Humanitec; made a secret",
            WriteReason::NotPushedBefore => "in Humanitec but not pushed by this sync; overwritten",
        }
    }
}

impl Preview {
    pub fn new(scope: &Scope, plan: &SyncPlan) -> Preview {
        let mut preview = Preview {
            destination: scope.label(),
            create: Vec::new(),
            update: Vec::new(),
            delete: plan.deletes.clone(),
            unchanged: plan.unchanged.clone(),
            unmanaged: plan.unmanaged.clone(),
            prune: plan.prunes.clone(),
            skipped: plan
                .skipped
                .iter()
                .map(|key| PreviewSkip {
                    key: key.clone(),
                    reason: SKIPPED_UNADDRESSABLE,
                })
                .collect(),
            origins: Default::default(),
        };
        for w in &plan.writes {
            match w.kind {
                WriteKind::Create | WriteKind::CreateWithAppBase => {
                    preview.create.push(w.dest_key.clone())
                }
                WriteKind::Update | WriteKind::Replace => preview.update.push(PreviewUpdate {
                    key: w.dest_key.clone(),
                    reason: w.reason,
                }),
            }
        }
        preview.create.sort();
        preview.update.sort_by(|a, b| a.key.cmp(&b.key));
        preview
    }

    /// The preview as lines of text (the CLI's output).
    pub fn to_text(&self) -> String {
        let list = |keys: &[String]| {
            if keys.is_empty() {
                "-".to_string()
            } else {
                keys.join(", ")
            }
        };
        let updates = if self.update.is_empty() {
            "-".to_string()
        } else {
            self.update
                .iter()
                .map(|u| format!("{} ({})", u.key, u.reason.describe()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = format!(
            "destination  {}\ncreate       {}\nupdate       {}\ndelete       {}\nunchanged    {}\nnot managed  {} (left alone)\n",
            self.destination,
            list(&self.create),
            updates,
            list(&self.delete),
            list(&self.unchanged),
            list(&self.unmanaged),
        );
        if !self.prune.is_empty() {
            out.push_str(&format!(
                "pruned       {} (pruneUnmanaged)\n",
                list(&self.prune)
            ));
        }
        for skip in &self.skipped {
            out.push_str(&format!(
                "skipped      {} ({})\n",
                skip.key.escape_debug(),
                skip.reason
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::plan::Write;

    #[test]
    fn sorts_writes_into_create_and_update_with_reasons() {
        let write = |k: &str, kind, reason| Write {
            dest_key: k.into(),
            source_key: k.into(),
            kind,
            reason,
        };
        let plan = SyncPlan {
            writes: vec![
                write("B", WriteKind::CreateWithAppBase, WriteReason::New),
                write("A", WriteKind::Update, WriteReason::Drifted),
                write("C", WriteKind::Replace, WriteReason::MadeSecret),
            ],
            deletes: vec!["OLD".into(), "X_STRAY".into()],
            unchanged: vec!["SAME".into()],
            unmanaged: vec!["FOREIGN".into(), "X_STRAY".into()],
            prunes: vec!["X_STRAY".into()],
            skipped: vec!["..".into()],
        };
        let scope = Scope::Env {
            org: "o".into(),
            app: "a".into(),
            env: "e".into(),
        };
        let p = Preview::new(&scope, &plan);
        assert_eq!(p.destination, "o/a/e");
        assert_eq!(p.create, vec!["B"]);
        assert_eq!(
            p.update
                .iter()
                .map(|u| (u.key.as_str(), u.reason))
                .collect::<Vec<_>>(),
            vec![("A", WriteReason::Drifted), ("C", WriteReason::MadeSecret)]
        );
        let text = p.to_text();
        assert!(
            text.contains("A (changed in Humanitec by someone else)"),
            "{text}"
        );
        assert!(
            text.contains("not managed  FOREIGN, X_STRAY (left alone)"),
            "{text}"
        );
        assert!(text.contains("pruned       X_STRAY"), "{text}");
        assert!(text.contains("skipped      .. (no Humanitec URL"), "{text}");
        let json = serde_json::to_value(&p).expect("serialises");
        assert_eq!(json["update"][0]["reason"], "drifted");
        assert_eq!(json["skipped"][0]["key"], "..");
    }
}
