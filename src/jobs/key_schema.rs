//! `syncOptions.keySchema`: maps source keys to destination keys, and tells
//! which destination keys a sync manages (only those may be deleted).

use crate::model::is_valid_key;

const SECRET_KEY: &str = "{{secretKey}}";
const ENVIRONMENT: &str = "{{environment}}";

/// A key schema with `{{environment}}` already filled in: `prefix` +
/// source key + `suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySchema {
    prefix: String,
    suffix: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeySchemaError {
    #[error("key schema `{0}` must contain {{{{secretKey}}}} exactly once")]
    SecretKeyCount(String),
    #[error("key schema `{0}` has an unknown placeholder; only {{{{secretKey}}}} and {{{{environment}}}} exist")]
    UnknownPlaceholder(String),
    #[error(
        "key schema `{0}` puts characters around {{{{secretKey}}}} that Humanitec keys cannot hold \
         (allowed: letters, digits, `_`, `.`, `-`)"
    )]
    BadCharacters(String),
}

impl KeySchema {
    /// The default when a sync has no schema: keys pass through unchanged.
    pub fn identity() -> Self {
        KeySchema {
            prefix: String::new(),
            suffix: String::new(),
        }
    }

    /// Parses `schema` for the source environment `environment` (its slug).
    pub fn parse(schema: Option<&str>, environment: &str) -> Result<Self, KeySchemaError> {
        let Some(raw) = schema.filter(|s| !s.trim().is_empty()) else {
            return Ok(Self::identity());
        };
        if raw.matches(SECRET_KEY).count() != 1 {
            return Err(KeySchemaError::SecretKeyCount(raw.to_string()));
        }
        let filled = raw.replace(ENVIRONMENT, environment);
        let (prefix, suffix) = filled
            .split_once(SECRET_KEY)
            .unwrap_or_else(|| unreachable!("counted exactly one {SECRET_KEY}"));
        if prefix.contains("{{") || suffix.contains("{{") {
            return Err(KeySchemaError::UnknownPlaceholder(raw.to_string()));
        }
        let fits = |part: &str| part.is_empty() || is_valid_key(part);
        if !fits(prefix) || !fits(suffix) {
            return Err(KeySchemaError::BadCharacters(raw.to_string()));
        }
        Ok(KeySchema {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// Source key to destination key.
    pub fn apply(&self, source_key: &str) -> String {
        format!("{}{}{}", self.prefix, source_key, self.suffix)
    }

    /// Destination key back to the source key, if the schema matches it.
    pub fn strip<'a>(&self, destination_key: &'a str) -> Option<&'a str> {
        let inner = destination_key
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        (!inner.is_empty()).then_some(inner)
    }

    /// Whether this sync manages `destination_key`.
    pub fn manages(&self, destination_key: &str) -> bool {
        self.strip(destination_key).is_some()
    }

    /// Whether some source key under `self` and some under `other` map to
    /// the same destination key. With keys free to be any non-empty run of
    /// key characters, that happens exactly when one prefix starts the other
    /// and one suffix ends the other (the schemas' own parts are key
    /// characters, so the longer one's extra can be absorbed by the key).
    pub fn can_collide_with(&self, other: &KeySchema) -> bool {
        let prefixes =
            self.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&self.prefix);
        let suffixes = self.suffix.ends_with(&other.suffix) || other.suffix.ends_with(&self.suffix);
        prefixes && suffixes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_and_strips_with_environment() {
        let s = KeySchema::parse(Some("INFISICAL_{{environment}}_{{secretKey}}"), "prod")
            .expect("valid");
        assert_eq!(s.apply("DB_URL"), "INFISICAL_prod_DB_URL");
        assert_eq!(s.strip("INFISICAL_prod_DB_URL"), Some("DB_URL"));
        assert_eq!(s.strip("INFISICAL_dev_DB_URL"), None);
        assert_eq!(s.strip("OTHER_KEY"), None);
        assert_eq!(s.strip("INFISICAL_prod_"), None);
        assert!(!s.manages("OTHER_KEY"));
    }

    #[test]
    fn suffix_schemas_work() {
        let s = KeySchema::parse(Some("{{secretKey}}.v1"), "dev").expect("valid");
        assert_eq!(s.apply("A"), "A.v1");
        assert_eq!(s.strip("A.v1"), Some("A"));
        assert_eq!(s.strip("A.v2"), None);
    }

    #[test]
    fn no_schema_manages_everything() {
        let s = KeySchema::parse(None, "dev").expect("valid");
        assert_eq!(s, KeySchema::identity());
        assert_eq!(s.apply("A"), "A");
        assert!(s.manages("ANYTHING"));
        assert_eq!(
            KeySchema::parse(Some("  "), "dev"),
            Ok(KeySchema::identity())
        );
    }

    #[test]
    fn invalid_schemas_are_explained() {
        assert!(matches!(
            KeySchema::parse(Some("PREFIX_"), "d"),
            Err(KeySchemaError::SecretKeyCount(_))
        ));
        assert!(matches!(
            KeySchema::parse(Some("{{secretKey}}{{secretKey}}"), "d"),
            Err(KeySchemaError::SecretKeyCount(_))
        ));
        assert!(matches!(
            KeySchema::parse(Some("{{app}}_{{secretKey}}"), "d"),
            Err(KeySchemaError::UnknownPlaceholder(_))
        ));
        let err = KeySchema::parse(Some("MY APP/{{secretKey}}"), "d").err();
        assert!(matches!(err, Some(KeySchemaError::BadCharacters(_))));
        assert!(err.is_some_and(|e| e.to_string().contains("letters, digits")));
    }

    #[test]
    fn collisions_need_comparable_prefixes_and_suffixes() {
        let schema = |raw: &str| KeySchema::parse(Some(raw), "prod").expect("valid");
        let identity = KeySchema::identity();
        assert!(identity.can_collide_with(&identity));
        assert!(identity.can_collide_with(&schema("A_{{secretKey}}")));
        assert!(!schema("A_{{secretKey}}").can_collide_with(&schema("B_{{secretKey}}")));
        assert!(schema("A_{{secretKey}}").can_collide_with(&schema("A_B_{{secretKey}}")));
        assert!(!schema("{{secretKey}}_X").can_collide_with(&schema("{{secretKey}}_Y")));
        assert!(
            schema("{{environment}}_{{secretKey}}").can_collide_with(&schema("prod_{{secretKey}}"))
        );
        assert!(!schema("{{environment}}_{{secretKey}}").can_collide_with(
            &KeySchema::parse(Some("{{environment}}_{{secretKey}}"), "dev").expect("valid")
        ));
        // A witness for a colliding pair: P_ + "B_K" == P_B_ + "K".
        assert_eq!(
            schema("P_{{secretKey}}").apply("B_K"),
            schema("P_B_{{secretKey}}").apply("K")
        );
    }
}
