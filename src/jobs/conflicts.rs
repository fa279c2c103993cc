//! Two syncs fighting over one destination (pure): their destinations
//! overlap (same org and app, and the same environment or one of them at
//! app scope) and their key schemas can produce the same destination key.
//! Such a pair would overwrite and delete each other's keys on every run.

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

/// Whether writes to `a` and to `b` land on the same values.
pub fn destinations_overlap(a: &Scope, b: &Scope) -> bool {
    let parts = |s: &Scope| match s {
        Scope::App { org, app } => (org.clone(), app.clone(), None),
        Scope::Env { org, app, env } => (org.clone(), app.clone(), Some(env.clone())),
    };
    let (a_org, a_app, a_env) = parts(a);
    let (b_org, b_app, b_env) = parts(b);
    a_org == b_org
        && a_app == b_app
        && match (a_env, b_env) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// The syncs among `others` that conflict with `this` (never itself).
pub fn conflicting<'a>(this: &SyncTarget, others: &'a [SyncTarget]) -> Vec<&'a SyncTarget> {
    others
        .iter()
        .filter(|o| o.id != this.id)
        .filter(|o| destinations_overlap(&this.scope, &o.scope))
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
    fn overlapping_destinations() {
        assert!(destinations_overlap(&app("web"), &app("web")));
        assert!(destinations_overlap(&app("web"), &env("web", "prod")));
        assert!(destinations_overlap(
            &env("web", "prod"),
            &env("web", "prod")
        ));
        assert!(!destinations_overlap(
            &env("web", "prod"),
            &env("web", "dev")
        ));
        assert!(!destinations_overlap(&app("web"), &app("api")));
    }

    #[test]
    fn default_schemas_on_one_app_conflict_and_distinct_ones_do_not() {
        let a = target("a", app("web"), None);
        let b = target("b", env("web", "prod"), None);
        let c = target("c", env("web", "dev"), None);
        let others = vec![a.clone(), b.clone(), c.clone()];
        let names = |v: Vec<&SyncTarget>| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(conflicting(&a, &others)), vec!["b", "c"]);
        assert_eq!(names(conflicting(&b, &others)), vec!["a"]);
        let x = target("x", app("web"), Some("X_{{secretKey}}"));
        let y = target("y", env("web", "prod"), Some("Y_{{secretKey}}"));
        assert!(conflicting(&x, std::slice::from_ref(&y)).is_empty());
        assert!(conflicting(&y, &[x]).is_empty());
    }

    #[test]
    fn colliding_keys_are_named() {
        let other = KeySchema::parse(Some("A_{{secretKey}}"), "prod").expect("valid");
        let keys = vec!["A_DB".to_string(), "B_DB".to_string(), "A_KEY".to_string()];
        assert_eq!(colliding_keys(&keys, &other), vec!["A_DB", "A_KEY"]);
    }
}
