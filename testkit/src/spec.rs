//! Every request the worker sent must be one Humanitec's OpenAPI spec
//! accepts: the operation exists and the body validates.

use humanitec_sandbox::Sandbox;
use serde_json::Value;

/// Checks every request body the sandbox received against the operation's
/// requestBody schema in Humanitec's OpenAPI spec.
pub fn assert_requests_match_spec(sandbox: &Sandbox) {
    let spec: Value =
        serde_json::from_str(include_str!("../../spec/humanitec-openapi.json")).expect("spec");
    let requests = sandbox.requests();
    assert!(!requests.is_empty(), "no requests recorded");
    for r in &requests {
        let (template, op) = find_operation(&spec, &r.method, &r.path)
            .unwrap_or_else(|| panic!("{} {} is not an operation of the spec", r.method, r.path));
        let body_schema = op.pointer("/requestBody/content/application~1json/schema");
        match (body_schema, &r.body) {
            (Some(schema), Some(body)) => {
                let mut root = schema.clone();
                if let Value::Object(map) = &mut root {
                    map.insert("components".into(), spec["components"].clone());
                }
                let validator = jsonschema::validator_for(&root).expect("schema compiles");
                let errors: Vec<String> =
                    validator.iter_errors(body).map(|e| e.to_string()).collect();
                assert!(
                    errors.is_empty(),
                    "{} {template}: body violates the spec: {errors:?}",
                    r.method
                );
            }
            (Some(_), None) => {
                let required = op
                    .pointer("/requestBody/required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                assert!(!required, "{} {template}: required body missing", r.method);
            }
            (None, Some(_)) => panic!(
                "{} {template}: sent a body the spec does not define",
                r.method
            ),
            (None, None) => {}
        }
    }
}

fn find_operation<'a>(spec: &'a Value, method: &str, path: &str) -> Option<(String, &'a Value)> {
    let paths = spec["paths"].as_object()?;
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (template, ops) in paths {
        let tsegs: Vec<&str> = template.trim_matches('/').split('/').collect();
        let matches = tsegs.len() == segs.len()
            && tsegs
                .iter()
                .zip(&segs)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s);
        if matches {
            if let Some(op) = ops.get(method.to_lowercase()) {
                return Some((template.clone(), op));
            }
        }
    }
    None
}
