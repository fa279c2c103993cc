//! The OpenAPI document of the whole API (`docs/openapi.json`, served at
//! `/api/openapi.json`) and the request validators built from it, so the
//! document and the checks can never disagree.

use std::collections::HashMap;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::Value;

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

    /// Every schema violation of `body`, as "path: message" (never a credential).
    pub fn check(&self, operation: &str, body: &Value) -> Result<Vec<String>, ApiError> {
        let validator = self.by_operation.get(operation).ok_or_else(|| {
            ApiError::internal(
                "the API document lacks a request schema",
                &format!("operation {operation}"),
            )
        })?;
        Ok(validator
            .iter_errors(body)
            .take(10)
            .map(|e| {
                let path = e.instance_path().to_string();
                let shown = if path.is_empty() {
                    "body".to_string()
                } else {
                    path.clone()
                };
                if path == "/credentials" || path.starts_with("/credentials/") {
                    // jsonschema quotes the offending value: never echo a token
                    format!(
                        "{shown}: is not valid (credentials must be an object whose apiToken \
                         is 1 to 4096 visible ASCII characters)"
                    )
                } else if holds_credentials(e.instance()) && !names_only(e.kind()) {
                    // The message would quote a value holding the credentials.
                    format!("{}: does not match the schema", shorten(&shown))
                } else {
                    format!("{}: {}", shorten(&shown), cut(&e.to_string()))
                }
            })
            .collect())
    }
}

/// Errors whose message names properties but quotes no value.
fn names_only(kind: &jsonschema::error::ValidationErrorKind) -> bool {
    use jsonschema::error::ValidationErrorKind as K;
    matches!(kind, K::AdditionalProperties { .. } | K::Required { .. })
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
            assert!(errors.iter().all(|e| !e.contains(marker)), "{errors:?}");
        }
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
