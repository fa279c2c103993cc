//! A scope's place in Humanitec's values API: its URL paths.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::model::Scope;

// Path segments keep unreserved characters; everything else is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// `/orgs/{org}/apps/{app}[/envs/{env}]/values`, every segment encoded.
pub(super) fn values_path(scope: &Scope) -> String {
    match scope {
        Scope::App { org, app } => format!("/orgs/{}/apps/{}/values", seg(org), seg(app)),
        Scope::Env { org, app, env } => format!(
            "/orgs/{}/apps/{}/envs/{}/values",
            seg(org),
            seg(app),
            seg(env)
        ),
    }
}

/// `/orgs/{org}/apps`.
pub(super) fn apps_path(org: &str) -> String {
    format!("/orgs/{}/apps", seg(org))
}

pub(super) fn value_path(scope: &Scope, key: &str) -> String {
    format!("{}/{}", values_path(scope), seg(key))
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
        assert_eq!(values_path(&s), "/orgs/my-org/apps/web/envs/dev/values");
        assert_eq!(
            value_path(&s, "A.b-c_d"),
            "/orgs/my-org/apps/web/envs/dev/values/A.b-c_d"
        );
        assert_eq!(
            value_path(&s, "a/b c"),
            "/orgs/my-org/apps/web/envs/dev/values/a%2Fb%20c"
        );
        assert_eq!(values_path(&s.app_scope()), "/orgs/my-org/apps/web/values");
        assert_eq!(s.label(), "my-org/web/dev");
    }
}
