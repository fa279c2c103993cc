//! The sandbox's values and their semantics (pure).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredValue {
    pub key: String,
    pub value: String,
    pub is_secret: bool,
    pub description: String,
    /// "app" or "env"
    pub source: String,
    pub secret_version: Option<String>,
}

#[derive(Clone, Debug)]
struct Entry {
    value: String,
    is_secret: bool,
    description: String,
    version: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

type Scope = BTreeMap<String, Entry>;

/// One app's values: its own, and each environment's overrides.
#[derive(Default)]
struct AppValues {
    base: Scope,
    envs: HashMap<String, Scope>,
}

/// org -> app -> values, each level found by id (no search, no copy).
#[derive(Default)]
pub struct Values {
    orgs: HashMap<String, HashMap<String, AppValues>>,
}

impl Entry {
    fn view(&self, key: &str, source: &str, reveal: bool) -> StoredValue {
        StoredValue {
            key: key.to_string(),
            value: if self.is_secret && !reveal {
                String::new()
            } else {
                self.value.clone()
            },
            is_secret: self.is_secret,
            description: self.description.clone(),
            source: source.to_string(),
            secret_version: self.is_secret.then(|| self.version.to_string()),
        }
    }
}

/// What an API write did.
#[derive(Debug, PartialEq)]
pub enum WriteError {
    Exists,
    NotFound,
    NoAppValue,
}

impl Values {
    fn scope(&self, org: &str, app: &str, env: Option<&str>) -> Option<&Scope> {
        let values = self.orgs.get(org)?.get(app)?;
        match env {
            None => Some(&values.base),
            Some(env) => values.envs.get(env),
        }
    }

    fn scope_mut(&mut self, org: &str, app: &str, env: Option<&str>) -> Option<&mut Scope> {
        let values = self.orgs.get_mut(org)?.get_mut(app)?;
        match env {
            None => Some(&mut values.base),
            Some(env) => values.envs.get_mut(env),
        }
    }

    fn scope_or_new(&mut self, org: &str, app: &str, env: Option<&str>) -> &mut Scope {
        let values = self
            .orgs
            .entry(org.to_string())
            .or_default()
            .entry(app.to_string())
            .or_default();
        match env {
            None => &mut values.base,
            Some(env) => values.envs.entry(env.to_string()).or_default(),
        }
    }

    /// A scope's listing: app values, or app values merged with env overrides.
    pub fn list(&self, org: &str, app: &str, env: Option<&str>) -> Vec<StoredValue> {
        self.list_inner(org, app, env, true)
    }

    /// The API's listing: secrets never revealed.
    pub fn list_api(&self, org: &str, app: &str, env: Option<&str>) -> Vec<StoredValue> {
        self.list_inner(org, app, env, false)
    }

    fn list_inner(
        &self,
        org: &str,
        app: &str,
        env: Option<&str>,
        reveal: bool,
    ) -> Vec<StoredValue> {
        let empty = BTreeMap::new();
        let base = self.scope(org, app, None).unwrap_or(&empty);
        match env {
            None => base.iter().map(|(k, e)| e.view(k, "app", reveal)).collect(),
            Some(_) => {
                let overrides = self.scope(org, app, env).unwrap_or(&empty);
                base.iter()
                    .map(|(k, e)| match overrides.get(k) {
                        Some(o) => o.view(k, "env", reveal),
                        None => e.view(k, "app", reveal),
                    })
                    .collect()
            }
        }
    }

    pub fn get(
        &self,
        org: &str,
        app: &str,
        env: Option<&str>,
        key: &str,
        reveal: bool,
    ) -> Option<StoredValue> {
        self.scope(org, app, env)?
            .get(key)
            .map(|e| e.view(key, if env.is_some() { "env" } else { "app" }, reveal))
    }

    /// Direct seeding: create or overwrite.
    #[allow(clippy::too_many_arguments)]
    pub fn upsert(
        &mut self,
        org: &str,
        app: &str,
        env: Option<&str>,
        key: &str,
        value: &str,
        is_secret: bool,
        description: &str,
    ) {
        let now = Utc::now();
        let scope = self.scope_or_new(org, app, env);
        let entry = scope.entry(key.to_string()).or_insert_with(|| Entry {
            value: String::new(),
            is_secret,
            description: String::new(),
            version: 0,
            created_at: now,
            updated_at: now,
        });
        entry.value = value.to_string();
        entry.is_secret = is_secret;
        entry.description = description.to_string();
        entry.version += 1;
        entry.updated_at = now;
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        org: &str,
        app: &str,
        env: Option<&str>,
        key: &str,
        value: &str,
        is_secret: bool,
        description: &str,
    ) -> Result<StoredValue, WriteError> {
        if env.is_some() && self.get(org, app, None, key, true).is_none() {
            return Err(WriteError::NoAppValue);
        }
        if self.get(org, app, env, key, true).is_some() {
            return Err(WriteError::Exists);
        }
        self.upsert(org, app, env, key, value, is_secret, description);
        self.get(org, app, env, key, false)
            .ok_or(WriteError::NotFound)
    }

    /// PATCH/PUT: `is_secret` never changes.
    pub fn update(
        &mut self,
        org: &str,
        app: &str,
        env: Option<&str>,
        key: &str,
        value: Option<&str>,
        description: Option<&str>,
    ) -> Result<StoredValue, WriteError> {
        let entry = self
            .scope_mut(org, app, env)
            .and_then(|s| s.get_mut(key))
            .ok_or(WriteError::NotFound)?;
        if let Some(v) = value {
            entry.value = v.to_string();
            entry.version += 1;
        }
        if let Some(d) = description {
            entry.description = d.to_string();
        }
        entry.updated_at = Utc::now();
        self.get(org, app, env, key, false)
            .ok_or(WriteError::NotFound)
    }

    pub fn delete(
        &mut self,
        org: &str,
        app: &str,
        env: Option<&str>,
        key: &str,
    ) -> Result<(), WriteError> {
        let removed = self
            .scope_mut(org, app, env)
            .and_then(|s| s.remove(key))
            .ok_or(WriteError::NotFound)?;
        drop(removed);
        if env.is_none() {
            // An app value takes its env overrides with it.
            if let Some(values) = self.orgs.get_mut(org).and_then(|o| o.get_mut(app)) {
                for scope in values.envs.values_mut() {
                    scope.remove(key);
                }
            }
        }
        Ok(())
    }

    /// Timestamps of an entry, for API responses.
    pub fn times(
        &self,
        org: &str,
        app: &str,
        env: Option<&str>,
        key: &str,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.scope(org, app, env)?
            .get(key)
            .map(|e| (e.created_at, e.updated_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_view_merges_overrides_and_versions_bump() {
        let mut v = Values::default();
        assert_eq!(
            v.create("o", "a", Some("e"), "K", "x", true, ""),
            Err(WriteError::NoAppValue)
        );
        v.create("o", "a", None, "K", "", true, "d")
            .expect("app value");
        v.create("o", "a", None, "L", "plain", false, "")
            .expect("app value");
        let o = v
            .create("o", "a", Some("e"), "K", "s3cret", true, "d")
            .expect("override");
        assert_eq!(o.value, "", "secrets are never returned");
        assert_eq!(o.secret_version.as_deref(), Some("1"));
        let listing = v.list_api("o", "a", Some("e"));
        assert_eq!(
            listing
                .iter()
                .map(|s| s.source.as_str())
                .collect::<Vec<_>>(),
            vec!["env", "app"]
        );
        let updated = v
            .update("o", "a", Some("e"), "K", Some("new"), None)
            .expect("patch");
        assert_eq!(updated.secret_version.as_deref(), Some("2"));
        assert_eq!(
            v.update("o", "a", Some("e"), "L", Some("x"), None),
            Err(WriteError::NotFound)
        );
        v.delete("o", "a", Some("e"), "K").expect("delete override");
        assert_eq!(v.list("o", "a", Some("e"))[0].source, "app");
        assert_eq!(
            v.create("o", "a", None, "K", "", true, ""),
            Err(WriteError::Exists)
        );
    }

    #[test]
    fn an_override_is_a_value_of_its_own() {
        let mut v = Values::default();
        v.create("o", "a", None, "K", "", true, "").expect("base");
        v.create("o", "a", Some("e"), "K", "env", true, "")
            .expect("override");
        // Writing the app value moves neither the override nor its version.
        let app = v
            .update("o", "a", None, "K", Some("app"), None)
            .expect("patch app");
        assert_eq!(app.secret_version.as_deref(), Some("2"));
        let env = v.list("o", "a", Some("e"));
        assert_eq!(
            (env[0].value.as_str(), env[0].source.as_str()),
            ("env", "env")
        );
        assert_eq!(env[0].secret_version.as_deref(), Some("1"));
        // Another environment inherits the app value.
        let other = v.list("o", "a", Some("f"));
        assert_eq!(
            (other[0].value.as_str(), other[0].source.as_str()),
            ("app", "app")
        );
        // Deleting the app value takes the override with it.
        v.delete("o", "a", None, "K").expect("delete app value");
        assert!(v.list("o", "a", Some("e")).is_empty());
        assert_eq!(
            v.delete("o", "a", Some("e"), "K"),
            Err(WriteError::NotFound)
        );
    }
}
