//! The functional core: what a job must do, computed from what it read.
//! No I/O and no secret values here: the source arrives as keyed
//! fingerprints, the destination as Humanitec's listing (where secrets read
//! back empty).

use std::collections::{BTreeSet, HashMap};

use secrecy::{ExposeSecret, SecretString};

use super::key_schema::KeySchema;
use crate::model::{
    is_valid_key, unaddressable, ImportBehavior, PushedKey, ValueResponse, ValueSource,
};

/// One source secret, as the planner sees it.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    pub source_key: String,
    /// Key in Humanitec (after the key schema).
    pub dest_key: String,
    /// Keyed hash of destination key, value and description.
    pub fingerprint: Vec<u8>,
    /// The same under ENCRYPTION_KEY_PREVIOUS during a key rotation: what
    /// was pushed before the switch still counts as unchanged.
    pub previous_fingerprint: Option<Vec<u8>>,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// POST the value (app scope, or an env override of an inherited key).
    Create,
    /// Env scope, key unknown to the app: POST an empty app-level secret
    /// first (Humanitec needs a base value), then the env override.
    CreateWithAppBase,
    /// PATCH the existing secret.
    Update,
    /// The key exists as a readable non-secret: DELETE, then POST a secret.
    Replace,
}

/// Why a key is written: what the preview shows and the run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteReason {
    /// Not in Humanitec yet.
    New,
    /// Env scope: the app has the key, the environment has no override yet.
    NoOverride,
    /// The value or description changed in the source since the last push.
    SourceChanged,
    /// Someone else wrote the secret in Humanitec (its version moved on).
    Drifted,
    /// Humanitec's description differs from the source's comment.
    DescriptionChanged,
    /// A readable (non-secret) value under this key: made a secret.
    MadeSecret,
    /// Humanitec has the secret, but this sync never pushed it: overwritten
    /// (the only initial sync behaviour Humanitec allows).
    NotPushedBefore,
}

impl WriteReason {
    /// The name shown in previews and job key lists (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            WriteReason::New => "new",
            WriteReason::NoOverride => "no-override",
            WriteReason::SourceChanged => "source-changed",
            WriteReason::Drifted => "drifted",
            WriteReason::DescriptionChanged => "description-changed",
            WriteReason::MadeSecret => "made-secret",
            WriteReason::NotPushedBefore => "not-pushed-before",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub dest_key: String,
    pub source_key: String,
    pub kind: WriteKind,
    pub reason: WriteReason,
}

/// How a sync may delete: deletion can be off for the sync, and a one-off
/// prune can be asked for by the job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    pub env_scope: bool,
    /// `!disableSecretDeletion`: keys this sync pushed and the source lost go.
    pub deletion_enabled: bool,
    /// The job's `pruneUnmanaged`: also delete keys the key schema matches
    /// that this sync never pushed.
    pub prune_unmanaged: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub writes: Vec<Write>,
    /// Destination keys to delete, after every write succeeded: keys this
    /// sync pushed that the source no longer has (and, when pruning, the
    /// keys in `prunes`).
    pub deletes: Vec<String>,
    pub unchanged: Vec<String>,
    /// Keys in the destination this sync does not manage (never pushed,
    /// not in the source): left alone unless pruned.
    pub unmanaged: Vec<String>,
    /// The unmanaged keys a `pruneUnmanaged` job deletes (also in `deletes`).
    pub prunes: Vec<String>,
    /// Keys left alone because no Humanitec URL can address them (`.`,
    /// `..`): a source key that would be written, or a destination key
    /// that would be deleted. Reported by name on the job and the preview.
    pub skipped: Vec<String>,
}

/// Why a key is in `SyncPlan::skipped` (the preview and the job say it).
pub const SKIPPED_UNADDRESSABLE: &str =
    "no Humanitec URL can address this key (`.` and `..` are path steps); rename it in the source";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "{} not fit Humanitec's key pattern ^[A-Za-z0-9_.-]+$: {}. Rename {} in the \
         source or change the key schema; nothing was written",
        if .0.len() == 1 { "this key does" } else { "these keys do" },
        .0.join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    InvalidKeys(Vec<String>),
}

/// Every destination key must fit Humanitec's key pattern; checked before
/// the first call, so a bad key fails the job without touching Humanitec.
pub fn validate_keys(source: &[SourceEntry]) -> Result<(), PlanError> {
    let invalid: Vec<String> = source
        .iter()
        .filter(|s| !is_valid_key(&s.dest_key))
        .map(|s| s.dest_key.clone())
        .collect();
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(PlanError::InvalidKeys(invalid))
    }
}

/// Plans a sync: which keys to write (and why), which to delete, which to
/// leave, and which destination keys are not this sync's.
///
/// A key is left alone only when Humanitec still holds the secret this sync
/// pushed: same fingerprint as last push, same `secret_version` as Humanitec
/// answered then (a changed version means someone else wrote it), same
/// description, and (env scope) an override of its own. A sync deletes only
/// keys it pushed itself; never an app-level value from env scope.
pub fn plan_sync(
    source: &[SourceEntry],
    destination: &[ValueResponse],
    pushed: &[PushedKey],
    schema: &KeySchema,
    options: PlanOptions,
) -> Result<SyncPlan, PlanError> {
    validate_keys(source)?;
    let env_scope = options.env_scope;
    let dest: HashMap<&str, &ValueResponse> =
        destination.iter().map(|v| (v.key.as_str(), v)).collect();
    let last: HashMap<&str, &PushedKey> = pushed.iter().map(|p| (p.key.as_str(), p)).collect();
    let mut plan = SyncPlan::default();
    for entry in source {
        if unaddressable(&entry.dest_key).is_some() {
            plan.skipped.push(entry.dest_key.clone());
            continue;
        }
        let write = |kind, reason| Write {
            dest_key: entry.dest_key.clone(),
            source_key: entry.source_key.clone(),
            kind,
            reason,
        };
        let planned = match dest.get(entry.dest_key.as_str()) {
            None if env_scope => Some(write(WriteKind::CreateWithAppBase, WriteReason::New)),
            None => Some(write(WriteKind::Create, WriteReason::New)),
            // Env scope, inherited from the app: the override does not exist yet.
            Some(v) if env_scope && v.source() == ValueSource::App => {
                Some(write(WriteKind::Create, WriteReason::NoOverride))
            }
            Some(v) if !v.is_secret => Some(write(WriteKind::Replace, WriteReason::MadeSecret)),
            Some(v) => {
                let reason = match last.get(entry.dest_key.as_str()) {
                    None => Some(WriteReason::NotPushedBefore),
                    Some(p)
                        if p.fingerprint != entry.fingerprint
                            && entry.previous_fingerprint.as_ref() != Some(&p.fingerprint) =>
                    {
                        Some(WriteReason::SourceChanged)
                    }
                    Some(p)
                        if p.secret_version.is_none() || p.secret_version != v.secret_version =>
                    {
                        Some(WriteReason::Drifted)
                    }
                    // Deleted and re-created by hand: the version restarted
                    // where ours was, the timestamps did not.
                    Some(p) if p.stamp.is_some() && v.stamp().is_some() && p.stamp != v.stamp() => {
                        Some(WriteReason::Drifted)
                    }
                    Some(_) if v.description != entry.description => {
                        Some(WriteReason::DescriptionChanged)
                    }
                    Some(_) => None,
                };
                reason.map(|r| write(WriteKind::Update, r))
            }
        };
        match planned {
            Some(w) => plan.writes.push(w),
            None => plan.unchanged.push(entry.dest_key.clone()),
        }
    }
    let wanted: BTreeSet<&str> = source.iter().map(|s| s.dest_key.as_str()).collect();
    for v in destination {
        if wanted.contains(v.key.as_str()) {
            continue;
        }
        // Env scope never deletes an app-level value.
        let deletable = !env_scope || v.source() == ValueSource::Env;
        let addressable = unaddressable(&v.key).is_none();
        if last.contains_key(v.key.as_str()) {
            if options.deletion_enabled && deletable {
                if addressable {
                    plan.deletes.push(v.key.clone());
                } else {
                    plan.skipped.push(v.key.clone());
                }
            }
            continue;
        }
        plan.unmanaged.push(v.key.clone());
        if options.prune_unmanaged && deletable && schema.manages(&v.key) {
            if addressable {
                plan.prunes.push(v.key.clone());
                plan.deletes.push(v.key.clone());
            } else {
                plan.skipped.push(v.key.clone());
            }
        }
    }
    plan.deletes.sort();
    plan.unmanaged.sort();
    plan.prunes.sort();
    plan.skipped.sort();
    plan.skipped.dedup();
    Ok(plan)
}

/// App scope: takes out of the prunes the keys that are the app-level base
/// of another sync's environment override (`bases`). Humanitec has no
/// override without its base, so pruning one would take the overrides with
/// it and their sync would put it back as a placeholder on its next run: an
/// app sync and an environment sync fighting. The key stays, unmanaged.
pub fn spare_override_bases(mut plan: SyncPlan, bases: &[String]) -> SyncPlan {
    let spared: BTreeSet<String> = bases
        .iter()
        .filter(|k| plan.prunes.contains(k))
        .cloned()
        .collect();
    // A pruned key is never also one of the sync's own deletes (those are
    // keys it pushed), so dropping it from `deletes` drops only the prune.
    plan.prunes.retain(|k| !spared.contains(k));
    plan.deletes.retain(|k| !spared.contains(k));
    plan
}

/// What a remove deletes, and what it must leave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemovePlan {
    pub deletes: Vec<String>,
    /// Keys this sync pushed that no Humanitec URL can address: reported,
    /// never sent (see `SKIPPED_UNADDRESSABLE`).
    pub skipped: Vec<String>,
}

/// Plans a remove: the keys this sync pushed that are still in Humanitec.
/// Keys it never pushed stay, whatever their name; env scope never deletes
/// an app-level value.
pub fn plan_remove(
    pushed_keys: &[String],
    destination: &[ValueResponse],
    env_scope: bool,
) -> RemovePlan {
    let ours: BTreeSet<&str> = pushed_keys.iter().map(String::as_str).collect();
    let (mut deletes, mut skipped): (Vec<String>, Vec<String>) = destination
        .iter()
        .filter(|v| ours.contains(v.key.as_str()))
        .filter(|v| !env_scope || v.source() == ValueSource::Env)
        .map(|v| v.key.clone())
        .partition(|k| unaddressable(k).is_none());
    deletes.sort();
    skipped.sort();
    RemovePlan { deletes, skipped }
}

/// One value an import writes into the source folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportEntry {
    pub source_key: String,
    pub value: String,
    pub from: ValueSource,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportPlan {
    pub entries: Vec<ImportEntry>,
    /// Secrets Humanitec will not reveal: reported by name, never imported.
    pub skipped_secrets: Vec<String>,
}

/// Plans an import: every non-secret value the schema matches, with the
/// schema stripped.
pub fn plan_import(destination: &[ValueResponse], schema: &KeySchema) -> ImportPlan {
    let mut plan = ImportPlan::default();
    for v in destination {
        let Some(source_key) = schema.strip(&v.key) else {
            continue;
        };
        if v.is_secret {
            plan.skipped_secrets.push(v.key.clone());
        } else {
            plan.entries.push(ImportEntry {
                source_key: source_key.to_string(),
                value: v.value.clone(),
                from: v.source(),
            });
        }
    }
    plan.entries.sort_by(|a, b| a.source_key.cmp(&b.source_key));
    plan.skipped_secrets.sort();
    plan
}

/// How an import lands in the source: what to write, how many kept.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportMerge<'a> {
    pub writes: Vec<&'a ImportEntry>,
    pub kept: usize,
}

/// The import rule: a key missing from the source is written; a key with
/// the same value is kept; a key with another value is overwritten only
/// when the destination has priority.
pub fn merge_import<'a>(
    plan: &'a ImportPlan,
    existing: &HashMap<String, SecretString>,
    behavior: ImportBehavior,
) -> ImportMerge<'a> {
    let mut merge = ImportMerge::default();
    for entry in &plan.entries {
        match existing.get(&entry.source_key) {
            Some(current) if current.expose_secret() == entry.value => merge.kept += 1,
            Some(_) if behavior == ImportBehavior::PrioritizeSource => merge.kept += 1,
            _ => merge.writes.push(entry),
        }
    }
    merge
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WriteStamp;

    fn src(key: &str, fp: u8) -> SourceEntry {
        SourceEntry {
            source_key: key.into(),
            dest_key: key.into(),
            fingerprint: vec![fp],
            previous_fingerprint: None,
            description: String::new(),
        }
    }

    #[test]
    fn a_push_fingerprinted_under_the_previous_key_is_unchanged() {
        let d = [dest("A", true, ValueSource::App, Some("3"))];
        let mut entry = src("A", 2);
        entry.previous_fingerprint = Some(vec![1]);
        let p = plan(&[entry], &d, &[pushed("A", 1, "3")], APP);
        assert!(p.writes.is_empty(), "{p:?}");
    }

    fn dest(key: &str, secret: bool, source: ValueSource, version: Option<&str>) -> ValueResponse {
        ValueResponse {
            key: key.into(),
            value: if secret {
                String::new()
            } else {
                "plain".into()
            },
            is_secret: secret,
            description: String::new(),
            source: Some(source),
            secret_version: version.map(str::to_string),
            created_at: None,
            updated_at: None,
        }
    }

    fn pushed(key: &str, fp: u8, version: &str) -> PushedKey {
        PushedKey {
            key: key.into(),
            fingerprint: vec![fp],
            secret_version: Some(version.into()),
            stamp: None,
        }
    }

    const APP: PlanOptions = PlanOptions {
        env_scope: false,
        deletion_enabled: true,
        prune_unmanaged: false,
    };
    const ENV: PlanOptions = PlanOptions {
        env_scope: true,
        ..APP
    };

    fn kinds(plan: &SyncPlan) -> Vec<(&str, WriteKind, WriteReason)> {
        plan.writes
            .iter()
            .map(|w| (w.dest_key.as_str(), w.kind, w.reason))
            .collect()
    }

    fn plan(
        source: &[SourceEntry],
        d: &[ValueResponse],
        p: &[PushedKey],
        options: PlanOptions,
    ) -> SyncPlan {
        plan_sync(source, d, p, &KeySchema::identity(), options).expect("plan")
    }

    #[test]
    fn first_sync_creates_everything() {
        let plan = plan(&[src("A", 1), src("B", 2)], &[], &[], APP);
        assert_eq!(
            kinds(&plan),
            vec![
                ("A", WriteKind::Create, WriteReason::New),
                ("B", WriteKind::Create, WriteReason::New)
            ]
        );
        assert!(plan.deletes.is_empty());
    }

    #[test]
    fn nothing_changed_means_no_writes() {
        let d = [dest("A", true, ValueSource::App, Some("3"))];
        let plan = plan(&[src("A", 1)], &d, &[pushed("A", 1, "3")], APP);
        assert!(plan.writes.is_empty());
        assert_eq!(plan.unchanged, vec!["A"]);
    }

    #[test]
    fn source_change_or_drift_rewrites_and_says_why() {
        let d = [dest("A", true, ValueSource::App, Some("3"))];
        let update = |reason| vec![("A", WriteKind::Update, reason)];
        let p = plan(&[src("A", 2)], &d, &[pushed("A", 1, "3")], APP);
        assert_eq!(kinds(&p), update(WriteReason::SourceChanged));
        // someone else wrote the secret in Humanitec (version moved on)
        let p = plan(&[src("A", 1)], &d, &[pushed("A", 1, "2")], APP);
        assert_eq!(kinds(&p), update(WriteReason::Drifted));
        // never pushed by us
        let p = plan(&[src("A", 1)], &d, &[], APP);
        assert_eq!(kinds(&p), update(WriteReason::NotPushedBefore));
        // description edited in Humanitec
        let mut edited = d.clone();
        edited[0].description = "changed".into();
        let p = plan(&[src("A", 1)], &edited, &[pushed("A", 1, "3")], APP);
        assert_eq!(kinds(&p), update(WriteReason::DescriptionChanged));
    }

    #[test]
    fn a_delete_and_re_create_with_the_same_version_is_drift() {
        let stamp = |c: &str, u: &str| WriteStamp {
            created_at: c.into(),
            updated_at: u.into(),
        };
        let mut ours = pushed("A", 1, "1");
        ours.stamp = Some(stamp("t1", "t1"));
        let mut current = dest("A", true, ValueSource::App, Some("1"));
        current.created_at = Some("t1".into());
        current.updated_at = Some("t1".into());
        let p = plan(&[src("A", 1)], &[current.clone()], &[ours.clone()], APP);
        assert!(p.writes.is_empty(), "our own write, untouched");
        current.created_at = Some("t9".into());
        current.updated_at = Some("t9".into());
        let p = plan(&[src("A", 1)], &[current], &[ours], APP);
        assert_eq!(
            kinds(&p),
            vec![("A", WriteKind::Update, WriteReason::Drifted)]
        );
    }

    #[test]
    fn readable_values_are_replaced_by_secrets() {
        let d = [dest("A", false, ValueSource::App, None)];
        let p = plan(&[src("A", 1)], &d, &[], APP);
        assert_eq!(
            kinds(&p),
            vec![("A", WriteKind::Replace, WriteReason::MadeSecret)]
        );
    }

    #[test]
    fn env_scope_creates_overrides_and_app_bases() {
        let d = [
            dest("INHERITED", true, ValueSource::App, Some("1")),
            dest("OVERRIDDEN", true, ValueSource::Env, Some("4")),
            dest("PLAIN_OVERRIDE", false, ValueSource::Env, None),
        ];
        let source = [
            src("INHERITED", 1),
            src("NEW", 2),
            src("OVERRIDDEN", 3),
            src("PLAIN_OVERRIDE", 4),
        ];
        let p = plan(&source, &d, &[pushed("INHERITED", 1, "1")], ENV);
        assert_eq!(
            kinds(&p),
            vec![
                ("INHERITED", WriteKind::Create, WriteReason::NoOverride),
                ("NEW", WriteKind::CreateWithAppBase, WriteReason::New),
                (
                    "OVERRIDDEN",
                    WriteKind::Update,
                    WriteReason::NotPushedBefore
                ),
                (
                    "PLAIN_OVERRIDE",
                    WriteKind::Replace,
                    WriteReason::MadeSecret
                ),
            ]
        );
    }

    #[test]
    fn deletes_only_keys_it_pushed_and_never_app_values_from_env() {
        let d = [
            dest("A", true, ValueSource::Env, Some("1")),
            dest("GONE", true, ValueSource::Env, Some("1")),
            dest("GONE_APP", true, ValueSource::App, Some("1")),
            dest("FOREIGN", true, ValueSource::Env, Some("1")),
        ];
        let ours = [
            pushed("A", 1, "1"),
            pushed("GONE", 1, "1"),
            pushed("GONE_APP", 1, "1"),
        ];
        let p = plan(&[src("A", 1)], &d, &ours, ENV);
        assert_eq!(p.deletes, vec!["GONE"]);
        assert_eq!(p.unmanaged, vec!["FOREIGN"]);
        let p = plan(&[src("A", 1)], &d, &ours, APP);
        assert_eq!(p.deletes, vec!["GONE", "GONE_APP"]);
        let off = PlanOptions {
            deletion_enabled: false,
            ..ENV
        };
        let p = plan(&[src("A", 1)], &d, &ours, off);
        assert!(p.deletes.is_empty(), "disableSecretDeletion");
    }

    #[test]
    fn pruning_deletes_unmanaged_keys_the_schema_matches_once_asked() {
        let schema = KeySchema::parse(Some("S_{{secretKey}}"), "dev").expect("valid");
        let mut a = src("A", 1);
        a.dest_key = "S_A".into();
        let d = [
            dest("S_A", true, ValueSource::App, Some("1")),
            dest("S_STRANGER", true, ValueSource::App, Some("1")),
            dest("OTHER", true, ValueSource::App, Some("1")),
        ];
        let keep = plan_sync(&[a.clone()], &d, &[], &schema, APP).expect("plan");
        assert!(keep.deletes.is_empty(), "never pushed: never deleted");
        assert_eq!(keep.unmanaged, vec!["OTHER", "S_STRANGER"]);
        let prune = PlanOptions {
            prune_unmanaged: true,
            ..APP
        };
        let pruned = plan_sync(&[a], &d, &[], &schema, prune).expect("plan");
        assert_eq!(pruned.prunes, vec!["S_STRANGER"]);
        assert_eq!(pruned.deletes, vec!["S_STRANGER"]);
    }

    #[test]
    fn an_app_prune_spares_the_bases_of_environment_overrides() {
        let d = [
            dest("OURS_GONE", true, ValueSource::App, Some("1")),
            dest("PLACEHOLDER", true, ValueSource::App, Some("1")),
            dest("STRANGER", true, ValueSource::App, Some("1")),
        ];
        let prune = PlanOptions {
            prune_unmanaged: true,
            ..APP
        };
        let p = plan(&[], &d, &[pushed("OURS_GONE", 1, "1")], prune);
        assert_eq!(p.deletes, vec!["OURS_GONE", "PLACEHOLDER", "STRANGER"]);
        let bases = vec!["PLACEHOLDER".to_string(), "OURS_GONE".to_string()];
        let p = spare_override_bases(p, &bases);
        assert_eq!(p.prunes, vec!["STRANGER"]);
        assert_eq!(
            p.deletes,
            vec!["OURS_GONE", "STRANGER"],
            "its own key still goes"
        );
        assert_eq!(p.unmanaged, vec!["PLACEHOLDER", "STRANGER"]);
    }

    #[test]
    fn dot_keys_are_skipped_never_written_or_deleted() {
        let mut dot = src("DOT", 1);
        dot.dest_key = ".".into();
        let mut dots = src("DOTS", 2);
        dots.dest_key = "...".into();
        let d = [
            dest("..", true, ValueSource::App, Some("1")),
            dest(".", true, ValueSource::App, Some("1")),
            dest("GONE", true, ValueSource::App, Some("1")),
        ];
        // `..` was pushed before (by an older build) and left the source.
        let ours = [pushed("..", 1, "1"), pushed("GONE", 1, "1")];
        let p = plan(&[dot, dots], &d, &ours, APP);
        assert_eq!(
            p.skipped,
            vec![".", ".."],
            "`.` not written, `..` not deleted"
        );
        assert_eq!(p.deletes, vec!["GONE"]);
        let written: Vec<&str> = p.writes.iter().map(|w| w.dest_key.as_str()).collect();
        assert_eq!(written, vec!["..."], "`...` is an ordinary name");
        let p = plan(&[], &d, &ours, APP);
        assert_eq!(p.skipped, vec![".."], "`..` was pushed: not deleted");
        assert_eq!(p.unmanaged, vec!["."], "`.` was never pushed: unmanaged");
        let schema = KeySchema::identity();
        let prune = PlanOptions {
            prune_unmanaged: true,
            ..APP
        };
        let p = plan_sync(&[], &d, &ours, &schema, prune).expect("plan");
        assert_eq!(p.skipped, vec![".", ".."]);
        assert_eq!(p.deletes, vec!["GONE"]);
        let r = plan_remove(&["..".into(), "GONE".into()], &d, false);
        assert_eq!(r.deletes, vec!["GONE"]);
        assert_eq!(r.skipped, vec![".."]);
    }

    #[test]
    fn invalid_keys_fail_before_anything_is_planned() {
        let err = plan_sync(
            &[src("OK", 1), src("BAD KEY", 2), src("ALSO/BAD", 3)],
            &[],
            &[],
            &KeySchema::identity(),
            APP,
        );
        let err = err.err();
        assert_eq!(
            err,
            Some(PlanError::InvalidKeys(vec![
                "BAD KEY".into(),
                "ALSO/BAD".into()
            ]))
        );
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("BAD KEY, ALSO/BAD") && text.contains("nothing was written"),
            "{text}"
        );
    }

    #[test]
    fn remove_targets_only_what_the_sync_pushed() {
        let d = [
            dest("A", true, ValueSource::Env, Some("1")),
            dest("OLD", true, ValueSource::Env, Some("1")),
            dest("STRANGER", true, ValueSource::Env, Some("1")),
            dest("APP", true, ValueSource::App, Some("1")),
        ];
        let ours: Vec<String> = vec!["A".into(), "OLD".into(), "APP".into()];
        assert_eq!(plan_remove(&ours, &d, true).deletes, vec!["A", "OLD"]);
        assert_eq!(
            plan_remove(&ours, &d, false).deletes,
            vec!["A", "APP", "OLD"]
        );
    }

    #[test]
    fn import_strips_the_schema_and_skips_secrets_by_name() {
        let schema = KeySchema::parse(Some("S_{{secretKey}}"), "dev").expect("valid");
        let d = [
            dest("S_PLAIN", false, ValueSource::Env, None),
            dest("S_SECRET", true, ValueSource::App, Some("1")),
            dest("OTHER", false, ValueSource::App, None),
        ];
        let plan = plan_import(&d, &schema);
        assert_eq!(
            plan.entries,
            vec![ImportEntry {
                source_key: "PLAIN".into(),
                value: "plain".into(),
                from: ValueSource::Env
            }]
        );
        assert_eq!(plan.skipped_secrets, vec!["S_SECRET"]);
    }

    #[test]
    fn import_merge_honours_the_behaviour() {
        let entry = |k: &str, v: &str| ImportEntry {
            source_key: k.into(),
            value: v.into(),
            from: ValueSource::App,
        };
        let plan = ImportPlan {
            entries: vec![entry("NEW", "n"), entry("SAME", "s"), entry("DIFF", "d")],
            skipped_secrets: vec![],
        };
        let existing: HashMap<String, SecretString> = [("SAME", "s"), ("DIFF", "old")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
            .collect();
        let keys = |m: &ImportMerge| -> Vec<String> {
            m.writes.iter().map(|e| e.source_key.clone()).collect()
        };
        let source_wins = merge_import(&plan, &existing, ImportBehavior::PrioritizeSource);
        assert_eq!(keys(&source_wins), vec!["NEW"]);
        assert_eq!(source_wins.kept, 2);
        let dest_wins = merge_import(&plan, &existing, ImportBehavior::PrioritizeDestination);
        assert_eq!(keys(&dest_wins), vec!["NEW", "DIFF"]);
        assert_eq!(dest_wins.kept, 1);
    }
}
