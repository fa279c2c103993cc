//! Two syncs fighting over one destination (pure): they write the same
//! level of Humanitec's shared values (the app-level values of one app, or
//! the overrides of one environment) and their key schemas can produce the
//! same destination key. Such a pair would overwrite and delete each
//! other's keys on every run.
//!
//! An app-scope sync and an environment-scope sync of the same app do not
//! conflict, whatever their schemas: the first writes the app's values, the
//! second that environment's overrides (other values in Humanitec), and an
//! environment sync never deletes app-level values. Same keys is the point
//! of an override.
//!
//! [`refusal`] is the rule's one home: the API's create and update (inside
//! the write's transaction, `service::syncs`), the worker's sync job and
//! the previews (the API's and the dashboard's, from the job's own
//! planning step) all call it, and say it in the same words.

use super::key_schema::KeySchema;
use super::settings::SyncSettings;
use crate::model::{Scope, SyncRecord};

/// How a conflicting sync of another project is named to this one's users.
pub const ANOTHER_PROJECTS_SYNC: &str = "a sync of another project (ask your project's admins \
     or an instance admin: they can see which one)";

/// A sync as the conflict check sees it.
#[derive(Clone, Debug)]
pub struct SyncTarget {
    pub id: uuid::Uuid,
    pub name: String,
    pub scope: Scope,
    /// The key schema with `{{environment}}` filled in for its folder.
    pub schema: KeySchema,
}

impl SyncTarget {
    /// A sync row's destination and schema; a row too broken to parse
    /// cannot write anything, so it cannot conflict.
    pub fn of(sync: &SyncRecord) -> Option<SyncTarget> {
        let env = sync
            .folder
            .as_ref()
            .map(|f| f.environment_slug.as_str())
            .unwrap_or_default();
        let settings =
            SyncSettings::parse(&sync.destination_config, &sync.sync_options, env).ok()?;
        Some(SyncTarget {
            id: sync.id,
            name: sync.name.clone(),
            scope: settings.scope,
            schema: settings.key_schema,
        })
    }
}

/// One sync `this` would fight with, named as `this`'s users may see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// `sync `x` (id, destination)`, or anonymously when of another project.
    pub named: String,
    /// The keys both would write now (empty when `this`'s keys are not known yet).
    pub keys: Vec<String>,
}

/// The rule. `this` (of project `project_id`, about to write `dest_keys`)
/// against the rows writing to its destination app: `None` when it may
/// write, else the refusal, in words for `this` project's users. Another
/// project's sync is not named: its name, id and destination are that
/// project's business.
pub fn refusal(
    this: &SyncTarget,
    project_id: &str,
    at_destination: &[SyncRecord],
    dest_keys: &[String],
) -> Option<Refusal> {
    let others: Vec<SyncTarget> = at_destination.iter().filter_map(SyncTarget::of).collect();
    let found: Vec<Conflict> = conflicting(this, &others)
        .into_iter()
        .map(|o| {
            let same_project = at_destination
                .iter()
                .any(|r| r.id == o.id && r.project_id == project_id);
            let named = if same_project {
                format!("sync `{}` ({}, {})", o.name, o.id, o.scope.label())
            } else {
                ANOTHER_PROJECTS_SYNC.to_string()
            };
            Conflict {
                named,
                keys: colliding_keys(dest_keys, &o.schema),
            }
        })
        .collect();
    (!found.is_empty()).then(|| Refusal {
        this: format!("`{}` ({})", this.name, this.scope.label()),
        others: found,
    })
}

/// Why a sync may not write where it would: what the API answers (422),
/// the job fails with, and the previews show.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// This sync, named with its destination.
    pub this: String,
    pub others: Vec<Conflict>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let each = self
            .others
            .iter()
            .map(|c| {
                if c.keys.is_empty() {
                    format!("{}, whose key schema can produce the same keys", c.named)
                } else {
                    format!("{}, which also writes {}", c.named, c.keys.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        write!(
            f,
            "Sync {} conflicts with {each}: both write to the same Humanitec values, so each \
             run would overwrite or delete the other's keys. Give one of them a distinct key \
             schema (for example `PREFIX_{{{{secretKey}}}}`) or another destination; nothing \
             was written",
            self.this
        )
    }
}

/// Whether writes to `a` and to `b` land on the same Humanitec values:
/// both at app scope of one app, or both in the same environment of one app.
/// App scope and an environment of the same app are different levels (app
/// defaults and environment overrides), so they never share a value.
fn same_level(a: &Scope, b: &Scope) -> bool {
    a == b
}

/// The syncs among `others` that conflict with `this` (never itself).
fn conflicting<'a>(this: &SyncTarget, others: &'a [SyncTarget]) -> Vec<&'a SyncTarget> {
    others
        .iter()
        .filter(|o| o.id != this.id)
        .filter(|o| same_level(&this.scope, &o.scope))
        .filter(|o| this.schema.can_collide_with(&o.schema))
        .collect()
}

/// The destination keys `this` would write that `other`'s schema also
/// produces (what the two would fight over now).
fn colliding_keys(dest_keys: &[String], other: &KeySchema) -> Vec<String> {
    let mut keys: Vec<String> = dest_keys
        .iter()
        .filter(|k| other.manages(k))
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(app: &str) -> Scope {
        Scope::App {
            org: "o".into(),
            app: app.into(),
        }
    }

    fn env(app: &str, env: &str) -> Scope {
        Scope::Env {
            org: "o".into(),
            app: app.into(),
            env: env.into(),
        }
    }

    fn target(name: &str, scope: Scope, schema: Option<&str>) -> SyncTarget {
        SyncTarget {
            id: uuid::Uuid::new_v4(),
            name: name.into(),
            scope,
            schema: KeySchema::parse(schema, "prod").expect("valid"),
        }
    }

    #[test]
    fn same_level_is_same_app_scope_or_same_environment() {
        assert!(same_level(&app("web"), &app("web")));
        assert!(same_level(&env("web", "prod"), &env("web", "prod")));
        // App defaults and an environment's overrides: two levels.
        assert!(!same_level(&app("web"), &env("web", "prod")));
        assert!(!same_level(&env("web", "prod"), &app("web")));
        assert!(!same_level(&env("web", "prod"), &env("web", "dev")));
        assert!(!same_level(&app("web"), &app("api")));
        assert!(!same_level(&env("web", "prod"), &env("api", "prod")));
        let other_org = Scope::App {
            org: "p".into(),
            app: "web".into(),
        };
        assert!(!same_level(&app("web"), &other_org));
    }

    fn names(v: Vec<&SyncTarget>) -> Vec<String> {
        v.iter().map(|t| t.name.clone()).collect()
    }

    #[test]
    fn app_defaults_and_environment_overrides_with_default_schemas_do_not_conflict() {
        let a = target("a", app("web"), None);
        let b = target("b", env("web", "prod"), None);
        let c = target("c", env("web", "dev"), None);
        let others = vec![a.clone(), b.clone(), c.clone()];
        for t in [&a, &b, &c] {
            assert!(conflicting(t, &others).is_empty(), "{}", t.name);
        }
    }

    #[test]
    fn two_syncs_at_one_level_conflict_unless_their_schemas_are_distinct() {
        let a = target("a", app("web"), None);
        let a2 = target("a2", app("web"), Some("APP_{{secretKey}}"));
        let b = target("b", env("web", "prod"), None);
        let b2 = target("b2", env("web", "prod"), Some("{{secretKey}}_PROD"));
        let others = vec![a.clone(), a2.clone(), b.clone(), b2.clone()];
        assert_eq!(names(conflicting(&a, &others)), vec!["a2"]);
        assert_eq!(names(conflicting(&a2, &others)), vec!["a"]);
        assert_eq!(names(conflicting(&b, &others)), vec!["b2"]);
        assert_eq!(names(conflicting(&b2, &others)), vec!["b"]);
        // Distinct schemas at one level: no key in common, no conflict.
        let x = target("x", env("web", "prod"), Some("X_{{secretKey}}"));
        let y = target("y", env("web", "prod"), Some("Y_{{secretKey}}"));
        assert!(conflicting(&x, std::slice::from_ref(&y)).is_empty());
        assert!(conflicting(&y, &[x]).is_empty());
    }

    #[test]
    fn a_sync_never_conflicts_with_itself() {
        let a = target("a", app("web"), None);
        assert!(conflicting(&a, std::slice::from_ref(&a)).is_empty());
    }

    #[test]
    fn colliding_keys_are_named() {
        let other = KeySchema::parse(Some("A_{{secretKey}}"), "prod").expect("valid");
        let keys = vec!["A_DB".to_string(), "B_DB".to_string(), "A_KEY".to_string()];
        assert_eq!(colliding_keys(&keys, &other), vec!["A_DB", "A_KEY"]);
    }

    fn row(name: &str, project: &str, destination: serde_json::Value) -> SyncRecord {
        SyncRecord {
            id: uuid::Uuid::new_v4(),
            name: name.into(),
            project_id: project.into(),
            connection_id: uuid::Uuid::new_v4(),
            folder: None,
            is_auto_sync_enabled: true,
            sync_options: serde_json::json!({"initialSyncBehavior": "overwrite-destination"}),
            destination_config: destination,
        }
    }

    #[test]
    fn the_refusal_names_a_sync_of_the_same_project_and_hides_another_projects() {
        let web = serde_json::json!({"scope": "application", "org": "o", "app": "web"});
        let mine = row("mine", "p1", web.clone());
        let theirs = row("theirs", "p2", web.clone());
        let elsewhere = row(
            "elsewhere",
            "p1",
            serde_json::json!(
            {"scope": "environment", "org": "o", "app": "web", "env": "prod"}),
        );
        let this = target("new", app("web"), None);
        let keys = vec!["DB".to_string()];
        let at = [mine.clone(), theirs, elsewhere];
        let refused = refusal(&this, "p1", &at, &keys).expect("refused");
        assert_eq!(refused.others.len(), 2, "{refused:?}");
        let said = refused.to_string();
        assert!(
            said.contains(&format!("sync `mine` ({}, o/web)", mine.id)),
            "{said}"
        );
        assert!(said.contains(ANOTHER_PROJECTS_SYNC), "{said}");
        assert!(
            !said.contains("theirs") && !said.contains("elsewhere"),
            "{said}"
        );
        assert!(said.contains("which also writes DB"), "{said}");
        // Before any key is known (the API's check), the schemas decide.
        let said = refusal(&this, "p1", &at[..1], &[])
            .expect("refused")
            .to_string();
        assert!(
            said.contains("whose key schema can produce the same keys"),
            "{said}"
        );
        // Nothing else writes there: no refusal; nor against itself.
        assert_eq!(refusal(&this, "p1", &[], &keys), None);
        let itself = SyncTarget::of(&mine).expect("parses");
        assert_eq!(refusal(&itself, "p1", &[mine], &keys), None);
    }
}
