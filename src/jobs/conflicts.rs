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

use super::key_schema::KeySchema;
use crate::model::Scope;

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

/// Whether writes to `a` and to `b` land on the same Humanitec values:
/// both at app scope of one app, or both in the same environment of one app.
/// App scope and an environment of the same app are different levels (app
/// defaults and environment overrides), so they never share a value.
pub fn same_level(a: &Scope, b: &Scope) -> bool {
    a == b
}

/// The syncs among `others` that conflict with `this` (never itself).
pub fn conflicting<'a>(this: &SyncTarget, others: &'a [SyncTarget]) -> Vec<&'a SyncTarget> {
    others
        .iter()
        .filter(|o| o.id != this.id)
        .filter(|o| same_level(&this.scope, &o.scope))
        .filter(|o| this.schema.can_collide_with(&o.schema))
        .collect()
}

/// The destination keys `this` would write that `other`'s schema also
/// produces (what the two would fight over now).
pub fn colliding_keys(dest_keys: &[String], other: &KeySchema) -> Vec<String> {
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
}
