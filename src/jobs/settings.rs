//! A sync row's JSON columns, parsed into typed settings (pure).

use serde::Deserialize;

use super::key_schema::{KeySchema, KeySchemaError};
use crate::model::{unaddressable, ImportBehavior, Scope};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    #[error(
        "destination_config is invalid: {0}. Expected {{\"scope\": \"application\", \"org\", \"app\"}} \
         or {{\"scope\": \"environment\", \"org\", \"app\", \"env\"}}"
    )]
    Destination(String),
    #[error("sync_options is invalid: {0}")]
    Options(String),
    #[error(
        "sync_options.initialSyncBehavior `{0}` is not supported: use `overwrite-destination`, \
         `import-prioritize-source` or `import-prioritize-destination`"
    )]
    InitialSyncBehavior(String),
    /// Infisical's rule (`RECURSIVE_SYNC_REFINEMENT`): an import has one
    /// folder to write to, a recursive sync has many.
    #[error(
        "a sync that includes subfolders (recursive) cannot also import existing secrets from \
         the destination, because there is no single folder to import them into; turn off \
         recursive, or set initialSyncBehavior to `overwrite-destination`"
    )]
    RecursiveImport,
    #[error("{0}")]
    KeySchema(#[from] KeySchemaError),
}

#[derive(Deserialize)]
#[serde(tag = "scope", rename_all = "lowercase", deny_unknown_fields)]
enum DestinationConfig {
    Application {
        org: String,
        app: String,
    },
    Environment {
        org: String,
        app: String,
        env: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SyncOptions {
    initial_sync_behavior: String,
    #[serde(default)]
    key_schema: Option<String>,
    #[serde(default)]
    disable_secret_deletion: bool,
    /// Also push the subfolders' secrets (newer Infisical's option).
    #[serde(default)]
    recursive: bool,
}

impl SettingsError {
    /// The request field at fault, as a dot-separated path.
    pub fn field(&self) -> &'static str {
        match self {
            SettingsError::Destination(_) => "destinationConfig",
            SettingsError::Options(_) => "syncOptions",
            SettingsError::InitialSyncBehavior(_) => "syncOptions.initialSyncBehavior",
            SettingsError::RecursiveImport => "syncOptions.recursive",
            SettingsError::KeySchema(_) => "syncOptions.keySchema",
        }
    }
}

/// Everything a job needs from the sync's JSON columns.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncSettings {
    pub scope: Scope,
    pub key_schema: KeySchema,
    pub deletion_enabled: bool,
    /// Subfolders too (`syncOptions.recursive`).
    pub recursive: bool,
    /// `initialSyncBehavior` `import-prioritize-*`: the first sync imports
    /// Humanitec's readable values into the folder first, with this
    /// precedence (`None`: `overwrite-destination`).
    pub initial_import: Option<ImportBehavior>,
}

impl SyncSettings {
    pub fn parse(
        destination_config: &serde_json::Value,
        sync_options: &serde_json::Value,
        environment_slug: &str,
    ) -> Result<Self, SettingsError> {
        let scope = parse_scope(destination_config)?;
        // Deserialized from the borrowed value: no copy of the JSON (this
        // runs for every sync of the destination app on every job).
        let options = SyncOptions::deserialize(sync_options)
            .map_err(|e| SettingsError::Options(e.to_string()))?;
        let initial_import = match options.initial_sync_behavior.as_str() {
            "overwrite-destination" => None,
            "import-prioritize-source" => Some(ImportBehavior::PrioritizeSource),
            "import-prioritize-destination" => Some(ImportBehavior::PrioritizeDestination),
            _ => {
                return Err(SettingsError::InitialSyncBehavior(
                    options.initial_sync_behavior,
                ))
            }
        };
        if options.recursive && initial_import.is_some() {
            return Err(SettingsError::RecursiveImport);
        }
        Ok(SyncSettings {
            scope,
            key_schema: KeySchema::parse(options.key_schema.as_deref(), environment_slug)?,
            deletion_enabled: !options.disable_secret_deletion,
            recursive: options.recursive,
            initial_import,
        })
    }
}

/// The destination alone (a remove whose folder is gone needs no more).
pub fn parse_scope(destination_config: &serde_json::Value) -> Result<Scope, SettingsError> {
    let dest = DestinationConfig::deserialize(destination_config)
        .map_err(|e| SettingsError::Destination(e.to_string()))?;
    let scope = match dest {
        DestinationConfig::Application { org, app } => Scope::App { org, app },
        DestinationConfig::Environment { org, app, env } => Scope::Env { org, app, env },
    };
    let (org, app, env) = match &scope {
        Scope::App { org, app } => (org, app, None),
        Scope::Env { org, app, env } => (org, app, Some(env)),
    };
    if org.is_empty() || app.is_empty() || env.is_some_and(|e| e.is_empty()) {
        return Err(SettingsError::Destination(
            "org, app and env must not be empty".into(),
        ));
    }
    let fields = [("org", Some(org)), ("app", Some(app)), ("env", env)];
    for (field, name) in fields {
        if let Some(reason) = name.and_then(|n| unaddressable(n)) {
            return Err(SettingsError::Destination(format!(
                "`{field}` cannot be `{}`: {reason}",
                name.map(|n| n.escape_debug().to_string())
                    .unwrap_or_default()
            )));
        }
    }
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_both_scopes() {
        let opts = json!({"initialSyncBehavior": "overwrite-destination"});
        let s = SyncSettings::parse(
            &json!({"scope": "application", "org": "o", "app": "a"}),
            &opts,
            "dev",
        )
        .expect("valid");
        assert_eq!(
            s.scope,
            Scope::App {
                org: "o".into(),
                app: "a".into()
            }
        );
        assert!(s.deletion_enabled);
        let s = SyncSettings::parse(
            &json!({"scope": "environment", "org": "o", "app": "a", "env": "e"}),
            &json!({"initialSyncBehavior": "overwrite-destination", "disableSecretDeletion": true,
                    "keySchema": "X_{{secretKey}}"}),
            "dev",
        )
        .expect("valid");
        assert!(s.scope.is_env());
        assert!(!s.deletion_enabled);
        assert_eq!(s.key_schema.apply("K"), "X_K");
    }

    #[test]
    fn dot_names_in_the_destination_are_refused_naming_the_field() {
        for (config, field) in [
            (
                json!({"scope": "environment", "org": "o", "app": "a", "env": ".."}),
                "env",
            ),
            (
                json!({"scope": "environment", "org": "o", "app": ".", "env": "e"}),
                "app",
            ),
            (
                json!({"scope": "application", "org": "..", "app": "a"}),
                "org",
            ),
        ] {
            let err = parse_scope(&config).expect_err("refused");
            assert!(
                err.to_string().contains(&format!("`{field}` cannot be")),
                "{err}"
            );
        }
        assert!(parse_scope(&json!({"scope": "application", "org": "o", "app": "..."})).is_ok());
    }

    #[test]
    fn bad_rows_say_what_to_fix() {
        let opts = json!({"initialSyncBehavior": "overwrite-destination"});
        let err = SyncSettings::parse(
            &json!({"scope": "environment", "org": "o", "app": "a"}),
            &opts,
            "d",
        );
        assert!(
            matches!(&err, Err(SettingsError::Destination(m)) if m.contains("env")),
            "{err:?}"
        );
        let err = SyncSettings::parse(&json!({"scope": "galaxy"}), &opts, "d");
        assert!(matches!(err, Err(SettingsError::Destination(_))));
        let app = json!({"scope": "application", "org": "o", "app": "a"});
        let err = SyncSettings::parse(&app, &json!({"initialSyncBehavior": "sideways"}), "d");
        assert_eq!(
            err,
            Err(SettingsError::InitialSyncBehavior("sideways".into()))
        );
        // Import first (Infisical's options say canImportSecrets), but
        // never with subfolders: there is no one folder to import into.
        for (given, expected) in [
            ("import-prioritize-source", ImportBehavior::PrioritizeSource),
            (
                "import-prioritize-destination",
                ImportBehavior::PrioritizeDestination,
            ),
        ] {
            let parsed = SyncSettings::parse(&app, &json!({"initialSyncBehavior": given}), "d");
            assert_eq!(parsed.map(|s| s.initial_import), Ok(Some(expected)));
            let err = SyncSettings::parse(
                &app,
                &json!({"initialSyncBehavior": given, "recursive": true}),
                "d",
            );
            assert_eq!(err, Err(SettingsError::RecursiveImport));
            assert_eq!(
                SettingsError::RecursiveImport.field(),
                "syncOptions.recursive"
            );
        }
        let err = SyncSettings::parse(
            &json!({"scope": "application", "org": "o", "app": "a"}),
            &json!({}),
            "d",
        );
        assert!(matches!(err, Err(SettingsError::Options(_))));
    }
}
