use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Where values live: an app's base values, or one environment's view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    App {
        org: String,
        app: String,
    },
    Env {
        org: String,
        app: String,
        env: String,
    },
}

// Path segments keep unreserved characters; everything else is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

impl Scope {
    /// The app scope of this scope (itself for app scope).
    pub fn app_scope(&self) -> Scope {
        match self {
            Scope::App { .. } => self.clone(),
            Scope::Env { org, app, .. } => Scope::App {
                org: org.clone(),
                app: app.clone(),
            },
        }
    }

    pub fn is_env(&self) -> bool {
        matches!(self, Scope::Env { .. })
    }

    /// `/orgs/{org}/apps/{app}[/envs/{env}]/values`, every segment encoded.
    pub fn values_path(&self) -> String {
        match self {
            Scope::App { org, app } => format!("/orgs/{}/apps/{}/values", seg(org), seg(app)),
            Scope::Env { org, app, env } => format!(
                "/orgs/{}/apps/{}/envs/{}/values",
                seg(org),
                seg(app),
                seg(env)
            ),
        }
    }

    pub fn value_path(&self, key: &str) -> String {
        format!("{}/{}", self.values_path(), seg(key))
    }

    /// A stable name for the destination, e.g. `org/app` or `org/app/env`.
    pub fn label(&self) -> String {
        match self {
            Scope::App { org, app } => format!("{org}/{app}"),
            Scope::Env { org, app, env } => format!("{org}/{app}/{env}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_every_segment() {
        let s = Scope::Env {
            org: "my-org".into(),
            app: "web".into(),
            env: "dev".into(),
        };
        assert_eq!(s.values_path(), "/orgs/my-org/apps/web/envs/dev/values");
        assert_eq!(
            s.value_path("A.b-c_d"),
            "/orgs/my-org/apps/web/envs/dev/values/A.b-c_d"
        );
        assert_eq!(
            s.value_path("a/b c"),
            "/orgs/my-org/apps/web/envs/dev/values/a%2Fb%20c"
        );
        assert_eq!(s.app_scope().values_path(), "/orgs/my-org/apps/web/values");
        assert_eq!(s.label(), "my-org/web/dev");
    }
}
