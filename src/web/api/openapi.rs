//! The OpenAPI document of the whole API (`docs/openapi.json`, served at
//! `/api/openapi.json`) and the request validators built from it, so the
//! document and the checks can never disagree.

use std::collections::HashMap;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use jsonschema::paths::LocationSegment;
use serde_json::{json, Value};

use crate::web::errors::{shorten, ApiError};

pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

pub async fn serve_document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

/// Rewrites OpenAPI 3.0's `nullable: true` as JSON Schema (`type: [T, "null"]`).
pub fn openapi_to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| (k.clone(), openapi_to_json_schema(v)))
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                match out.get("type").cloned() {
                    Some(Value::String(t)) => {
                        out.insert("type".into(), serde_json::json!([t, "null"]));
                    }
                    _ => {
                        let inner = Value::Object(out);
                        return serde_json::json!({"anyOf": [inner, {"type": "null"}]});
                    }
                }
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(openapi_to_json_schema).collect()),
        other => other.clone(),
    }
}

/// One compiled request-body validator per `operationId`.
pub struct Validators {
    by_operation: HashMap<String, jsonschema::Validator>,
}

impl Validators {
    /// Compiles the request schemas of the served document.
    pub fn load() -> Result<Validators, String> {
        let doc: Value = serde_json::from_str(OPENAPI_JSON)
            .map_err(|e| format!("docs/openapi.json is not JSON: {e}"))?;
        let mut by_operation = HashMap::new();
        let paths = doc["paths"]
            .as_object()
            .ok_or("docs/openapi.json has no paths")?;
        for item in paths.values() {
            let Some(ops) = item.as_object() else {
                continue;
            };
            for op in ops.values() {
                let (Some(id), Some(schema)) = (
                    op["operationId"].as_str(),
                    op.pointer("/requestBody/content/application~1json/schema"),
                ) else {
                    continue;
                };
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&openapi_to_json_schema(schema))
                    .map_err(|e| format!("request schema of {id} does not compile: {e}"))?;
                by_operation.insert(id.to_string(), validator);
            }
        }
        Ok(Validators { by_operation })
    }

    /// Every schema violation of `body` (at most 10) as issues in zod's
    /// shape (`{"code", "path", "message", …}`), as Infisical lists a
    /// `ZodError`'s; none quotes a value under `credentials`.
    pub fn check(&self, operation: &str, body: &Value) -> Result<Vec<Value>, ApiError> {
        let validator = self.by_operation.get(operation).ok_or_else(|| {
            ApiError::internal(
                "the API document lacks a request schema",
                &format!("operation {operation}"),
            )
        })?;
        Ok(validator
            .iter_errors(body)
            .flat_map(|e| issues_of(&e))
            .take(10)
            .collect())
    }
}

/// A violation's path as zod's: keys and indexes.
fn path_of(location: &jsonschema::paths::Location) -> Vec<Value> {
    location
        .iter()
        .map(|segment| match segment {
            LocationSegment::Property(p) => Value::String(p.to_string()),
            LocationSegment::Index(i) => json!(i),
        })
        .collect()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn quoted(options: &Value) -> String {
    options
        .as_array()
        .map(|o| {
            o.iter()
                .map(|v| {
                    format!(
                        "'{}'",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    )
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}

/// One schema violation as zod's issues (a union that fails is reported
/// by the branch its discriminator picks, as zod's discriminated unions
/// are, so `destinationConfig` errors name the field at fault).
fn issues_of(e: &jsonschema::ValidationError<'_>) -> Vec<Value> {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let path = path_of(e.instance_path());
    let instance: &Value = e.instance();
    let secret = path.first().and_then(Value::as_str) == Some("credentials");
    let (code, path, message, extra) = match e.kind() {
        K::Required { property } => {
            let mut path = path;
            path.push(property.clone());
            (
                "invalid_type",
                path,
                "Required".to_string(),
                json!({"received": "undefined"}),
            )
        }
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.as_str().to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" | "),
            };
            let received = json_type(instance);
            (
                "invalid_type",
                path,
                format!("Expected {expected}, received {received}"),
                json!({"expected": expected, "received": received}),
            )
        }
        K::MinLength { limit } => (
            "too_small",
            path,
            format!("String must contain at least {limit} character(s)"),
            json!({"minimum": limit, "type": "string", "inclusive": true, "exact": false}),
        ),
        K::MaxLength { limit } => (
            "too_big",
            path,
            format!("String must contain at most {limit} character(s)"),
            json!({"maximum": limit, "type": "string", "inclusive": true, "exact": false}),
        ),
        K::Minimum { limit } | K::ExclusiveMinimum { limit } => (
            "too_small",
            path,
            format!("Number must be greater than or equal to {limit}"),
            json!({"minimum": limit, "type": "number", "inclusive": true, "exact": false}),
        ),
        K::Maximum { limit } | K::ExclusiveMaximum { limit } => (
            "too_big",
            path,
            format!("Number must be less than or equal to {limit}"),
            json!({"maximum": limit, "type": "number", "inclusive": true, "exact": false}),
        ),
        K::Enum { options } => {
            let options: Value = (**options).clone();
            let mut extra = json!({"options": options});
            let mut message = format!("Invalid enum value. Expected {}", quoted(&options));
            if let (false, Some(received)) = (secret, instance.as_str()) {
                message.push_str(&format!(", received '{}'", shorten(received)));
                extra["received"] = json!(shorten(received));
            }
            ("invalid_enum_value", path, message, extra)
        }
        K::Constant { expected_value } => (
            "invalid_literal",
            path,
            format!("Invalid literal value, expected {expected_value}"),
            json!({"expected": **expected_value}),
        ),
        K::Format { format } => (
            "invalid_string",
            path,
            format!("Invalid {format}"),
            json!({"validation": format}),
        ),
        K::Pattern { .. } => (
            "invalid_string",
            path,
            "Invalid".to_string(),
            json!({"validation": "regex"}),
        ),
        K::AdditionalProperties { unexpected } => {
            let keys: Vec<String> = unexpected.iter().map(|k| shorten(k)).collect();
            let listed: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
            (
                "unrecognized_keys",
                path,
                format!("Unrecognized key(s) in object: {}", listed.join(", ")),
                json!({"keys": keys}),
            )
        }
        K::AnyOf { context } | K::OneOfNotValid { context } => {
            return union_issues(path, context);
        }
        _ => (
            "custom",
            path,
            if secret || holds_credentials(instance) {
                "does not match the schema".to_string()
            } else {
                cut(&e.to_string())
            },
            Value::Null,
        ),
    };
    let message = if secret {
        // Never say anything of a credential but its path and the rule.
        "is not valid (credentials must be an object whose apiToken is 1 to 4096 visible ASCII \
         characters)"
            .to_string()
    } else {
        message
    };
    vec![crate::web::errors::issue(code, path, message, extra)]
}

/// A union (`destinationConfig`) that matches no branch: the branch whose
/// discriminator (`scope`) the value names, else zod's
/// `invalid_union_discriminator` (or `invalid_union`).
fn union_issues(
    path: Vec<Value>,
    branches: &[Vec<jsonschema::ValidationError<'static>>],
) -> Vec<Value> {
    use jsonschema::error::ValidationErrorKind as K;
    let depth = path.len();
    let discriminator_of = |errors: &[jsonschema::ValidationError<'static>]| {
        errors.iter().find_map(|e| {
            let at = path_of(e.instance_path());
            match e.kind() {
                K::Enum { options } if at.len() == depth + 1 => Some((at, (**options).clone())),
                K::Constant { expected_value } if at.len() == depth + 1 => {
                    Some((at, json!([**expected_value])))
                }
                _ => None,
            }
        })
    };
    let picked: Vec<&Vec<jsonschema::ValidationError<'static>>> = branches
        .iter()
        .filter(|errors| discriminator_of(errors).is_none())
        .collect();
    if let [only] = picked.as_slice() {
        return only.iter().flat_map(|e| issues_of(e)).collect();
    }
    if picked.is_empty() {
        let mut field = None;
        let mut options = Vec::new();
        for (at, opts) in branches.iter().filter_map(|b| discriminator_of(b)) {
            field = Some(at);
            options.extend(opts.as_array().cloned().unwrap_or_default());
        }
        if let Some(field) = field {
            let options = Value::Array(options);
            return vec![crate::web::errors::issue(
                "invalid_union_discriminator",
                field,
                format!("Invalid discriminator value. Expected {}", quoted(&options)),
                json!({"options": options}),
            )];
        }
    }
    vec![crate::web::errors::issue(
        "invalid_union",
        path,
        "Invalid input: matches none of the allowed shapes",
        Value::Null,
    )]
}

/// Whether `value` has a `credentials` property at any depth.
pub(crate) fn holds_credentials(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k == "credentials" || holds_credentials(v)),
        Value::Array(items) => items.iter().any(holds_credentials),
        _ => false,
    }
}

/// Messages may quote huge inputs; keep them readable.
fn cut(message: &str) -> String {
    const MAX: usize = 300;
    if message.chars().count() <= MAX {
        message.to_string()
    } else {
        format!("{}…", message.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_becomes_a_type_union() {
        assert_eq!(
            openapi_to_json_schema(&json!({"type": "string", "nullable": true, "maxLength": 3})),
            json!({"type": ["string", "null"], "maxLength": 3})
        );
        assert_eq!(
            openapi_to_json_schema(
                &json!({"properties": {"a": {"anyOf": [{"type": "string"}], "nullable": true}}})
            ),
            json!({"properties": {"a": {"anyOf": [{"anyOf": [{"type": "string"}]}, {"type": "null"}]}}})
        );
    }

    #[test]
    fn no_violation_quotes_a_value_under_credentials() {
        let v = Validators::load().expect("the served document compiles");
        let marker = "MARKER-1b2c";
        for credentials in [
            json!(marker),
            json!([marker]),
            json!({"apiToken": {"deep": marker}}),
            json!({"apiToken": marker, "extra": marker}),
        ] {
            let body = json!({"name": "c", "projectId": "p", "method": "api-token",
                              "credentials": credentials, "unknown": marker});
            let errors = v
                .check("createHumanitecAppConnection", &body)
                .expect("checked");
            assert!(!errors.is_empty(), "{body}");
            let shown = serde_json::to_string(&errors).expect("json");
            assert!(!shown.contains(marker), "{shown}");
        }
    }

    #[test]
    fn issues_are_zods_and_a_union_is_reported_by_its_branch() {
        let v = Validators::load().expect("the served document compiles");
        let body = json!({"name": "", "projectId": "p", "connectionId": "nope",
            "environment": "e", "secretPath": "/", "isAutoSyncEnabled": "yes",
            "syncOptions": {"initialSyncBehavior": "sideways", "extra": 1},
            "destinationConfig": {"scope": "application", "org": "o", "app": "a", "env": "e"}});
        let issues = v
            .check("createHumanitecSecretSync", &body)
            .expect("checked");
        let by_path = |p: Value| {
            issues
                .iter()
                .find(|i| i["path"] == p)
                .cloned()
                .unwrap_or_else(|| panic!("no issue at {p}: {issues:?}"))
        };
        assert_eq!(by_path(json!(["name"]))["code"], "too_small");
        assert_eq!(by_path(json!(["connectionId"]))["validation"], "uuid");
        assert_eq!(
            by_path(json!(["isAutoSyncEnabled"]))["code"],
            "invalid_type"
        );
        let e = by_path(json!(["syncOptions", "initialSyncBehavior"]));
        assert_eq!(e["code"], "invalid_enum_value");
        assert_eq!(e["received"], "sideways");
        assert_eq!(by_path(json!(["syncOptions"]))["keys"], json!(["extra"]));
        // The application branch: `env` is not one of its keys.
        assert_eq!(
            by_path(json!(["destinationConfig"]))["keys"],
            json!(["env"])
        );
        let body = json!({"name": "n", "projectId": "p",
            "connectionId": "0e4f4c4e-8d1b-4c55-9c61-0a4cba2c7e6e", "environment": "e",
            "secretPath": "/", "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
            "destinationConfig": {"scope": "galaxy", "org": "o"}});
        let issues = v
            .check("createHumanitecSecretSync", &body)
            .expect("checked");
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0]["code"], "invalid_union_discriminator");
        assert_eq!(issues[0]["path"], json!(["destinationConfig", "scope"]));
        // Keys the top level does not name are ignored, as zod strips them.
        let mut ok = body.clone();
        ok["destinationConfig"] = json!({"scope": "application", "org": "o", "app": "a"});
        ok["destination"] = json!("humanitec");
        assert_eq!(
            v.check("createHumanitecSecretSync", &ok).expect("checked"),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn every_body_operation_has_a_compiled_validator() {
        let v = Validators::load().expect("the served document compiles");
        for op in [
            "createHumanitecSecretSync",
            "updateHumanitecSecretSync",
            "importHumanitecSecretSyncSecrets",
            "createHumanitecAppConnection",
            "updateHumanitecAppConnection",
        ] {
            assert!(v.by_operation.contains_key(op), "{op}");
        }
    }
}
