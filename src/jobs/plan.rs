//! The functional core: what a job must do, computed from what it read.
//! No I/O and no secret values here: the source arrives as keyed
//! fingerprints, the destination as Humanitec's listing (where secrets read
//! back empty).

use std::collections::{BTreeSet, HashMap};

use secrecy::{ExposeSecret, SecretString};

use super::key_schema::KeySchema;
use crate::humanitec::{is_valid_key, ValueResponse, ValueSource};
use crate::model::{ImportBehavior, PushedKey};

/// One source secret, as the planner sees it.
#[derive(Clone, Debug)]
pub struct SourceEntry {
    pub source_key: String,
    /// Key in Humanitec (after the key schema).
    pub dest_key: String,
    /// Keyed hash of destination key, value and description.
    pub fingerprint: Vec<u8>,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub dest_key: String,
    pub source_key: String,
    pub kind: WriteKind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub writes: Vec<Write>,
    /// Destination keys to delete, after every write succeeded.
    pub deletes: Vec<String>,
    pub unchanged: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "{} not fit Humanitec's key pattern ^[A-Za-z0-9_.-]+$: {}. Rename them in the \
         source or change the key schema; nothing was written",
        if .0.len() == 1 { "this key does" } else { "these keys do" },
        .0.join(", ")
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

/// Plans a sync: which keys to write, which to delete, which to leave.
///
/// A key is left alone only when Humanitec still holds the secret this sync
/// pushed: same fingerprint as last push, same `secret_version` as Humanitec
/// answered then (a changed version means someone else wrote it), same
/// description, and (env scope) an override of its own.
pub fn plan_sync(
    source: &[SourceEntry],
    destination: &[ValueResponse],
    pushed: &[PushedKey],
    schema: &KeySchema,
    env_scope: bool,
    deletion_enabled: bool,
) -> Result<SyncPlan, PlanError> {
    validate_keys(source)?;
    let dest: HashMap<&str, &ValueResponse> =
        destination.iter().map(|v| (v.key.as_str(), v)).collect();
    let last: HashMap<&str, &PushedKey> = pushed.iter().map(|p| (p.key.as_str(), p)).collect();
    let mut plan = SyncPlan::default();
    for entry in source {
        let current = dest.get(entry.dest_key.as_str());
        let kind = match current {
            None if env_scope => Some(WriteKind::CreateWithAppBase),
            None => Some(WriteKind::Create),
            // Env scope, inherited from the app: the override does not exist yet.
            Some(v) if env_scope && v.source() == ValueSource::App => Some(WriteKind::Create),
            Some(v) if !v.is_secret => Some(WriteKind::Replace),
            Some(v) => {
                let in_step = last.get(entry.dest_key.as_str()).is_some_and(|p| {
                    p.fingerprint == entry.fingerprint
                        && p.secret_version.is_some()
                        && p.secret_version == v.secret_version
                }) && v.description == entry.description;
                (!in_step).then_some(WriteKind::Update)
            }
        };
        match kind {
            Some(kind) => plan.writes.push(Write {
                dest_key: entry.dest_key.clone(),
                source_key: entry.source_key.clone(),
                kind,
            }),
            None => plan.unchanged.push(entry.dest_key.clone()),
        }
    }
    if deletion_enabled {
        let wanted: BTreeSet<&str> = source.iter().map(|s| s.dest_key.as_str()).collect();
        plan.deletes = destination
            .iter()
            .filter(|v| schema.manages(&v.key) && !wanted.contains(v.key.as_str()))
            // Env scope never deletes an app-level value.
            .filter(|v| !env_scope || v.source() == ValueSource::Env)
            .map(|v| v.key.clone())
            .collect();
        plan.deletes.sort();
    }
    Ok(plan)
}

/// Plans a remove: the keys this sync manages, present in Humanitec. A key
/// is managed when it matches the schema and either maps from a current
/// source key or was pushed by this sync earlier.
pub fn plan_remove(
    source_dest_keys: &[String],
    pushed_keys: &[String],
    destination: &[ValueResponse],
    schema: &KeySchema,
    env_scope: bool,
) -> Vec<String> {
    let ours: BTreeSet<&str> = source_dest_keys
        .iter()
        .chain(pushed_keys)
        .map(String::as_str)
        .collect();
    let mut keys: Vec<String> = destination
        .iter()
        .filter(|v| schema.manages(&v.key) && ours.contains(v.key.as_str()))
        .filter(|v| !env_scope || v.source() == ValueSource::Env)
        .map(|v| v.key.clone())
        .collect();
    keys.sort();
    keys
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

    fn src(key: &str, fp: u8) -> SourceEntry {
        SourceEntry {
            source_key: key.into(),
            dest_key: key.into(),
            fingerprint: vec![fp],
            description: String::new(),
        }
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
        }
    }

    fn pushed(key: &str, fp: u8, version: &str) -> PushedKey {
        PushedKey {
            key: key.into(),
            fingerprint: vec![fp],
            secret_version: Some(version.into()),
        }
    }

    fn kinds(plan: &SyncPlan) -> Vec<(&str, WriteKind)> {
        plan.writes
            .iter()
            .map(|w| (w.dest_key.as_str(), w.kind))
            .collect()
    }

    #[test]
    fn first_sync_creates_everything() {
        let id = KeySchema::identity();
        let plan =
            plan_sync(&[src("A", 1), src("B", 2)], &[], &[], &id, false, true).expect("plan");
        assert_eq!(
            kinds(&plan),
            vec![("A", WriteKind::Create), ("B", WriteKind::Create)]
        );
        assert!(plan.deletes.is_empty());
    }

    #[test]
    fn nothing_changed_means_no_writes() {
        let id = KeySchema::identity();
        let d = [dest("A", true, ValueSource::App, Some("3"))];
        let plan =
            plan_sync(&[src("A", 1)], &d, &[pushed("A", 1, "3")], &id, false, true).expect("plan");
        assert!(plan.writes.is_empty());
        assert_eq!(plan.unchanged, vec!["A"]);
    }

    #[test]
    fn source_change_or_drift_rewrites() {
        let id = KeySchema::identity();
        let d = [dest("A", true, ValueSource::App, Some("3"))];
        // the source value changed
        let plan =
            plan_sync(&[src("A", 2)], &d, &[pushed("A", 1, "3")], &id, false, true).expect("plan");
        assert_eq!(kinds(&plan), vec![("A", WriteKind::Update)]);
        // someone else wrote the secret in Humanitec (version moved on)
        let plan =
            plan_sync(&[src("A", 1)], &d, &[pushed("A", 1, "2")], &id, false, true).expect("plan");
        assert_eq!(kinds(&plan), vec![("A", WriteKind::Update)]);
        // never pushed by us
        let plan = plan_sync(&[src("A", 1)], &d, &[], &id, false, true).expect("plan");
        assert_eq!(kinds(&plan), vec![("A", WriteKind::Update)]);
        // description edited in Humanitec
        let mut edited = d.clone();
        edited[0].description = "changed".into();
        let plan = plan_sync(
            &[src("A", 1)],
            &edited,
            &[pushed("A", 1, "3")],
            &id,
            false,
            true,
        )
        .expect("plan");
        assert_eq!(kinds(&plan), vec![("A", WriteKind::Update)]);
    }

    #[test]
    fn readable_values_are_replaced_by_secrets() {
        let id = KeySchema::identity();
        let d = [dest("A", false, ValueSource::App, None)];
        let plan = plan_sync(&[src("A", 1)], &d, &[], &id, false, true).expect("plan");
        assert_eq!(kinds(&plan), vec![("A", WriteKind::Replace)]);
    }

    #[test]
    fn env_scope_creates_overrides_and_app_bases() {
        let id = KeySchema::identity();
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
        let plan =
            plan_sync(&source, &d, &[pushed("INHERITED", 1, "1")], &id, true, true).expect("plan");
        assert_eq!(
            kinds(&plan),
            vec![
                ("INHERITED", WriteKind::Create),
                ("NEW", WriteKind::CreateWithAppBase),
                ("OVERRIDDEN", WriteKind::Update),
                ("PLAIN_OVERRIDE", WriteKind::Replace),
            ]
        );
    }

    #[test]
    fn deletes_only_managed_keys_and_never_app_values_from_env() {
        let schema = KeySchema::parse(Some("S_{{secretKey}}"), "dev").expect("valid");
        let mut a = src("A", 1);
        a.dest_key = "S_A".into();
        let d = [
            dest("S_A", true, ValueSource::Env, Some("1")),
            dest("S_GONE", true, ValueSource::Env, Some("1")),
            dest("S_APP_ONLY", true, ValueSource::App, Some("1")),
            dest("OTHER_KEY", true, ValueSource::Env, Some("1")),
        ];
        let plan = plan_sync(&[a.clone()], &d, &[], &schema, true, true).expect("plan");
        assert_eq!(plan.deletes, vec!["S_GONE"]);
        let plan = plan_sync(&[a.clone()], &d, &[], &schema, false, true).expect("plan");
        assert_eq!(plan.deletes, vec!["S_APP_ONLY", "S_GONE"]);
        let plan = plan_sync(&[a], &d, &[], &schema, true, false).expect("plan");
        assert!(plan.deletes.is_empty(), "disableSecretDeletion");
    }

    #[test]
    fn invalid_keys_fail_before_anything_is_planned() {
        let id = KeySchema::identity();
        let err = plan_sync(
            &[src("OK", 1), src("BAD KEY", 2), src("ALSO/BAD", 3)],
            &[],
            &[],
            &id,
            false,
            true,
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
    fn remove_targets_only_what_the_sync_manages() {
        let schema = KeySchema::parse(Some("S_{{secretKey}}"), "dev").expect("valid");
        let d = [
            dest("S_A", true, ValueSource::Env, Some("1")),
            dest("S_OLD", true, ValueSource::Env, Some("1")),
            dest("S_STRANGER", true, ValueSource::Env, Some("1")),
            dest("S_APP", true, ValueSource::App, Some("1")),
            dest("OTHER_KEY", true, ValueSource::Env, Some("1")),
        ];
        let keys = plan_remove(
            &["S_A".into(), "S_APP".into()],
            &["S_OLD".into()],
            &d,
            &schema,
            true,
        );
        assert_eq!(keys, vec!["S_A", "S_OLD"]);
        let keys = plan_remove(
            &["S_A".into(), "S_APP".into()],
            &["S_OLD".into()],
            &d,
            &schema,
            false,
        );
        assert_eq!(keys, vec!["S_A", "S_APP", "S_OLD"]);
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
