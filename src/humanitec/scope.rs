//! A scope's place in Humanitec's values API: its URL paths. The one path
//! builder: every org, app, env and key passes through `segment`, which
//! refuses what Humanitec cannot address (see `model::unaddressable`).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::error::HumanitecError;
use crate::model::{unaddressable, Scope};

// Path segments keep unreserved characters; everything else is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One path segment, encoded; `field` names it in the refusal.
fn segment(field: &'static str, name: &str) -> Result<String, HumanitecError> {
    match unaddressable(name) {
        Some(reason) => Err(HumanitecError::Unaddressable {
            field,
            name: name.to_string(),
            reason,
        }),
        None => Ok(utf8_percent_encode(name, SEGMENT).to_string()),
    }
}

/// `/orgs/{org}/apps/{app}[/envs/{env}]/values`, every segment encoded.
pub(super) fn values_path(scope: &Scope) -> Result<String, HumanitecError> {
    Ok(match scope {
        Scope::App { org, app } => format!(
            "/orgs/{}/apps/{}/values",
            segment("org", org)?,
            segment("app", app)?
        ),
        Scope::Env { org, app, env } => format!(
            "/orgs/{}/apps/{}/envs/{}/values",
            segment("org", org)?,
            segment("app", app)?,
            segment("env", env)?
        ),
    })
}

/// `/orgs/{org}/apps`.
pub(super) fn apps_path(org: &str) -> Result<String, HumanitecError> {
    Ok(format!("/orgs/{}/apps", segment("org", org)?))
}

/// `…/values/{key}`.
pub(super) fn value_path(scope: &Scope, key: &str) -> Result<String, HumanitecError> {
    Ok(format!("{}/{}", values_path(scope)?, segment("key", key)?))
}

/// The route template of a path built here, for traces: every org, app,
/// env and key replaced by its placeholder (`/orgs/{orgId}/apps/{appId}/values`),
/// so a trace names no tenant's ids or keys.
pub(super) fn route_template(path: &str) -> String {
    let mut template = String::new();
    let mut previous = "";
    for (i, segment) in path.split('/').skip(1).enumerate() {
        template.push('/');
        if i % 2 == 0 {
            // The fixed words: orgs, apps, envs, values.
            template.push_str(segment);
        } else {
            template.push_str(match previous {
                "orgs" => "{orgId}",
                "apps" => "{appId}",
                "envs" => "{envId}",
                "values" => "{key}",
                _ => "{id}",
            });
        }
        previous = segment;
    }
    template
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn route_templates_name_no_id_or_key() {
        let env = env("my org", "app-1", "prod");
        let app = Scope::App {
            org: "o".into(),
            app: "a".into(),
        };
        let cases = [
            ("/orgs".to_string(), "/orgs"),
            (apps_path("o").expect("path"), "/orgs/{orgId}/apps"),
            (
                values_path(&app).expect("path"),
                "/orgs/{orgId}/apps/{appId}/values",
            ),
            (
                value_path(&env, "DB_PASSWORD").expect("path"),
                "/orgs/{orgId}/apps/{appId}/envs/{envId}/values/{key}",
            ),
        ];
        for (path, template) in cases {
            assert_eq!(route_template(&path), template, "{path}");
        }
    }

    fn env(org: &str, app: &str, env: &str) -> Scope {
        Scope::Env {
            org: org.into(),
            app: app.into(),
            env: env.into(),
        }
    }

    #[test]
    fn paths_encode_every_segment() {
        let s = env("my-org", "web", "dev");
        let ok = |r: Result<String, HumanitecError>| r.expect("addressable");
        assert_eq!(ok(values_path(&s)), "/orgs/my-org/apps/web/envs/dev/values");
        assert_eq!(
            ok(value_path(&s, "A.b-c_d")),
            "/orgs/my-org/apps/web/envs/dev/values/A.b-c_d"
        );
        assert_eq!(
            ok(value_path(&s, "a/b c")),
            "/orgs/my-org/apps/web/envs/dev/values/a%2Fb%20c"
        );
        assert_eq!(
            ok(value_path(&s, "%2e")),
            "/orgs/my-org/apps/web/envs/dev/values/%252e"
        );
        assert_eq!(
            ok(values_path(&s.app_scope())),
            "/orgs/my-org/apps/web/values"
        );
        assert_eq!(s.label(), "my-org/web/dev");
    }

    #[test]
    fn dot_segments_are_refused_and_named() {
        let s = env("my-org", "web", "dev");
        for key in [".", ".."] {
            let e = value_path(&s, key).expect_err(key);
            assert!(e.to_string().contains(&format!("key `{key}`")), "{e}");
        }
        let e = values_path(&env("my-org", "web", "..")).expect_err("env ..");
        assert!(e.to_string().contains("env `..`"), "{e}");
        assert!(values_path(&env("my-org", ".", "dev")).is_err());
        assert!(apps_path("..").is_err());
        assert!(value_path(&s, "").is_err());
    }

    /// What reqwest sends for `path`: parsed by the same URL parser.
    fn sent_segments(path: &str) -> Vec<String> {
        let url = reqwest::Url::parse(&format!("https://api.humanitec.io{path}")).expect("url");
        url.path_segments()
            .expect("segments")
            .map(str::to_string)
            .collect()
    }

    fn decoded(segment: &str) -> String {
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .expect("utf-8")
            .into_owned()
    }

    // Names made of the characters that URL parsers treat specially, and
    // anything else.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::collection::vec(
                prop_oneof![
                    Just(".".to_string()),
                    Just("%2e".to_string()),
                    Just("%2E".to_string()),
                    Just("/".to_string()),
                    Just("\\".to_string()),
                    Just("%".to_string()),
                    Just("?".to_string()),
                    Just("#".to_string()),
                    Just("\0".to_string()),
                    Just("\n".to_string()),
                    Just("\u{202e}".to_string()),
                    "[a-z]{1,3}",
                ],
                0..5
            )
            .prop_map(|parts| parts.concat()),
            any::<String>(),
        ]
    }

    proptest! {
        /// Every path the client would send has exactly the segments built,
        /// each decoding to the name given; or the name is refused.
        #[test]
        fn sent_paths_have_exactly_the_segments_built(
            org in name(), app in name(), envname in name(), key in name()
        ) {
            let scope = env(&org, &app, &envname);
            match value_path(&scope, &key) {
                Ok(path) => {
                    let segments = sent_segments(&path);
                    prop_assert_eq!(segments.len(), 8, "{}", path);
                    let names: Vec<String> = [1, 3, 5, 7].iter().map(|&i| decoded(&segments[i])).collect();
                    prop_assert_eq!(names, vec![org, app, envname, key]);
                    prop_assert_eq!(&segments[6], "values");
                }
                Err(_) => prop_assert!(
                    [&org, &app, &envname, &key].iter().any(|n| unaddressable(n).is_some())
                ),
            }
        }
    }
}
