//! The sandbox's configuration indexed by id: orgs, their apps and
//! environments, and tokens, each found in constant time however many
//! there are (pure).

use std::collections::{HashMap, HashSet};

use super::{AppSpec, Role, SandboxConfig, TokenSpec};

/// An org's apps, in configuration order and by id.
pub struct Org {
    apps: Vec<AppSpec>,
    by_id: HashMap<String, usize>,
    envs: Vec<HashSet<String>>,
}

impl Org {
    /// Every app, in configuration order.
    pub fn apps(&self) -> &[AppSpec] {
        &self.apps
    }

    /// Whether the app exists, and then whether `env` (if given) is one of
    /// its environments.
    pub fn app(&self, app: &str) -> Option<AppView<'_>> {
        let i = *self.by_id.get(app)?;
        Some(AppView {
            envs: self.envs.get(i)?,
        })
    }
}

/// One app's environments.
pub struct AppView<'a> {
    envs: &'a HashSet<String>,
}

impl AppView<'_> {
    pub fn has_env(&self, env: &str) -> bool {
        self.envs.contains(env)
    }
}

/// The configuration, indexed.
pub struct Directory {
    orgs: HashMap<String, Org>,
    /// Token -> (org, role); the first configured wins.
    tokens: HashMap<String, (String, Role)>,
}

impl Directory {
    pub fn new(config: SandboxConfig) -> Directory {
        let mut directory = Directory {
            orgs: HashMap::new(),
            tokens: HashMap::new(),
        };
        for spec in config.orgs {
            for app in spec.apps {
                directory.add_app(&spec.id, app);
            }
        }
        for token in config.tokens {
            directory.add_token(token);
        }
        directory
    }

    /// Adds `app` to `org` (made if new); an app id already there stays.
    pub fn add_app(&mut self, org: &str, app: AppSpec) {
        let org = self.orgs.entry(org.to_string()).or_insert_with(|| Org {
            apps: Vec::new(),
            by_id: HashMap::new(),
            envs: Vec::new(),
        });
        if org.by_id.contains_key(&app.id) {
            return;
        }
        org.by_id.insert(app.id.clone(), org.apps.len());
        org.envs.push(app.envs.iter().cloned().collect());
        org.apps.push(app);
    }

    pub fn add_token(&mut self, token: TokenSpec) {
        self.tokens
            .entry(token.token)
            .or_insert((token.org, token.role));
    }

    /// The org and role of a token.
    pub fn token(&self, token: &str) -> Option<(&str, Role)> {
        self.tokens
            .get(token)
            .map(|(org, role)| (org.as_str(), *role))
    }

    pub fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_orgs_apps_envs_and_tokens_by_id() {
        let d = Directory::new(SandboxConfig::demo());
        let org = d.org("demo-org").expect("org");
        assert_eq!(
            org.apps().iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            vec!["web", "api"],
            "listing keeps the configured order"
        );
        assert!(org.app("web").is_some_and(|a| a.has_env("staging")));
        assert!(org.app("api").is_some_and(|a| !a.has_env("staging")));
        assert!(org.app("nope").is_none());
        assert!(d.org("other").is_none());
        assert_eq!(
            d.token("sandbox-viewer-token"),
            Some(("demo-org", Role::Viewer))
        );
        assert_eq!(d.token("unknown"), None);
    }

    #[test]
    fn fifty_thousand_apps_are_each_found() {
        let apps: Vec<AppSpec> = (0..50_000)
            .map(|i| AppSpec {
                id: format!("app-{i}"),
                envs: vec!["development".into()],
            })
            .collect();
        let d = Directory::new(SandboxConfig {
            orgs: vec![super::super::OrgSpec {
                id: "big".into(),
                apps,
            }],
            tokens: Vec::new(),
        });
        let org = d.org("big").expect("org");
        assert_eq!(org.apps().len(), 50_000);
        assert!((0..50_000).step_by(997).all(|i| org
            .app(&format!("app-{i}"))
            .is_some_and(|a| a.has_env("development"))));
        assert!(org.app("app-50000").is_none());
    }
}
