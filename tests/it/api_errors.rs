//! Every error the seed lists (400, 401, 403, 404, 422, 500), hostile
//! input, and the served OpenAPI document, over real HTTP. Every error body
//! is checked against the seed's schema for its status by `ApiClient`.
//! Statuses and `error` names are Infisical's (issue 39): a JSON body that
//! breaks its schema or a field's rule is a 422 `ValidationFailure` whose
//! `message` lists the issues; a refused rule (a taken name) is a 400
//! `BadRequest`.

use std::sync::Arc;

use humanitec_sandbox::{Fault, Faults};
use secret_sync_testkit::{
    app_scope, seed_create_operation, ApiClient, SeedContract, TestEnv, ADMIN_TOKEN,
};
use serde_json::{json, Value};
use uuid::Uuid;

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";

struct Setup {
    env: TestEnv,
    api: ApiClient,
    connection: String,
}

/// Project `proj` (env `prod`, folder `/app`) with a connection, a write
/// token for `proj` and `ghost` (a project that does not exist).
async fn setup() -> Setup {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let src = env.source("prod", &[("A", "1")]).await;
    let token = env.api_token(&["proj", "ghost"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    Setup {
        env,
        api,
        connection: src.connection.to_string(),
    }
}

fn create_body(connection: &str) -> Value {
    json!({
        "name": "web",
        "projectId": "proj",
        "connectionId": connection,
        "environment": "prod",
        "secretPath": "/app",
        "isAutoSyncEnabled": false,
        "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
        "destinationConfig": app_scope("web"),
    })
}

/// The message, or a 422's issues as `/path: message` lines.
fn message(body: &Value) -> String {
    match &body["message"] {
        Value::Array(issues) => issues
            .iter()
            .map(|i| {
                let path: Vec<String> = i["path"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "/{}: {}",
                    path.join("/"),
                    i["message"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.as_str().unwrap_or_default().to_string(),
    }
}

/// POSTs a create body with `change` applied; asserts the status and that
/// the message contains `expect`.
async fn create_fails(s: &Setup, change: impl Fn(&mut Value), status: u16, expect: &str) {
    let mut body = create_body(&s.connection);
    change(&mut body);
    let (got, resp) = s.api.post(SYNCS, body.clone()).await;
    assert_eq!(got, status, "{body} -> {resp}");
    assert!(
        message(&resp).contains(expect),
        "expected `{expect}` in {resp}"
    );
}

#[tokio::test]
async fn the_served_document_extends_the_seed_verbatim() {
    let served: Value =
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json");
    let mut ours = served["paths"][SYNCS]["post"].clone();
    let security = ours.as_object_mut().and_then(|o| o.remove("security"));
    assert_eq!(security, Some(json!([{"bearerAuth": []}])));
    // The seed's operation, widened only where Infisical accepts more
    // (docs/api.md, "Infisical call → here"): undoing exactly these
    // widenings gives the seed back, so nothing else moved.
    let schema = &mut ours["requestBody"]["content"]["application/json"]["schema"];
    // Keys the top level does not name are ignored, as zod strips them.
    assert_eq!(
        schema
            .as_object_mut()
            .and_then(|o| o.remove("additionalProperties")),
        None
    );
    assert!(schema
        .as_object_mut()
        .and_then(|o| o.remove("description"))
        .is_some());
    schema["additionalProperties"] = json!(false);
    let options = &mut schema["properties"]["syncOptions"]["properties"];
    // Import as the first sync (the options say canImportSecrets: true).
    let behavior = &mut options["initialSyncBehavior"];
    assert_eq!(
        behavior["enum"],
        json!([
            "overwrite-destination",
            "import-prioritize-source",
            "import-prioritize-destination"
        ])
    );
    behavior["enum"] = json!(["overwrite-destination"]);
    behavior["description"] = json!(
        "Specify how Infisical should resolve the initial sync to the Humanitec destination."
    );
    // Newer Infisical's `syncOptions.recursive`.
    options.as_object_mut().and_then(|o| o.remove("recursive"));
    assert_eq!(
        ours,
        seed_create_operation(),
        "the create operation is the seed's, widened as documented"
    );
    // and the process serves exactly that document
    let s = setup().await;
    let resp = reqwest::get(format!("{}/api/openapi.json", s.api.base))
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.expect("json"), served);
    s.env.finish().await;
}

#[tokio::test]
async fn every_seed_error_status_with_its_body() {
    let s = setup().await;
    let api = &s.api;

    // 401: no token, a malformed header, an unknown token, a revoked token.
    for token in [None, Some("ssk_not-a-token")] {
        let (status, body) = api
            .with_token(token)
            .post(SYNCS, create_body(&s.connection))
            .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            body["error"], "UnauthorizedError",
            "Infisical's name: {body}"
        );
    }
    let resp = api
        .send(
            api.http
                .get(format!("{}{SYNCS}?projectId=proj", api.base))
                .header("authorization", "Basic abc"),
        )
        .await;
    assert_eq!(resp.0, 401);
    let revoked = s.env.api_token(&["proj"], "write").await;
    let ids = s.env.store.auth.api_tokens().await.expect("tokens");
    s.env
        .store
        .auth
        .revoke_api_token(ids[0].id, &[])
        .await
        .expect("revoke");
    let (status, body) = api
        .with_token(Some(&revoked))
        .get(&format!("{SYNCS}?projectId=proj"))
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(message(&body).contains("revoked"));

    // 403: another project; a read-only token writing.
    let other = s.env.api_token(&["other"], "write").await;
    let (status, body) = api
        .with_token(Some(&other))
        .post(SYNCS, create_body(&s.connection))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"], "PermissionDenied",
        "Infisical's name: {body}"
    );
    assert!(
        message(&body).contains("cannot access project 'proj'"),
        "{body}"
    );
    let reader = s.env.api_token(&["proj"], "read").await;
    let (status, body) = api
        .with_token(Some(&reader))
        .post(SYNCS, create_body(&s.connection))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(message(&body).contains("role 'write'"), "{body}");
    let (status, _) = api
        .with_token(Some(&reader))
        .get(&format!("{SYNCS}?projectId=proj"))
        .await;
    assert_eq!(status, 200, "read tokens read");

    // 404: each missing piece is named; a missing environment or folder is
    // a 400 BadRequest, as Infisical answers it ("Could not find folder
    // with path …"), naming which.
    let stranger = Uuid::new_v4().to_string();
    let cases = [
        (
            "/projectId",
            json!("ghost"),
            404,
            "project 'ghost' not found",
        ),
        (
            "/environment",
            json!("staging"),
            400,
            "environment 'staging' not found in project 'proj'",
        ),
        (
            "/secretPath",
            json!("/nope"),
            400,
            "folder '/nope' not found in environment 'prod'",
        ),
        (
            "/connectionId",
            json!(stranger),
            404,
            "Humanitec connection",
        ),
    ];
    for (field, value, status, expect) in cases {
        create_fails(&s, |b| *field_mut(b, field) = value.clone(), status, expect).await;
    }
    let (status, body) = api.get(&format!("{SYNCS}/{}", Uuid::new_v4())).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "NotFound", "Infisical's name: {body}");
    let (status, body) = api.get("/api/v2/nothing-here").await;
    assert_eq!(status, 404, "{body}");
    assert!(message(&body).contains("no route GET /api/v2/nothing-here"));

    // A connection of another project is not usable (and reported missing).
    s.env.seed.create_project("other", "Other").await;
    let foreign = s
        .env
        .seed
        .create_connection("other", "theirs", ADMIN_TOKEN)
        .await;
    create_fails(
        &s,
        |b| b["connectionId"] = json!(foreign.to_string()),
        404,
        "not found in project 'proj'",
    )
    .await;

    // 200, then 400 BadRequest for the same name (as Infisical), with the
    // seed's body.
    let (status, body) = api.post(SYNCS, create_body(&s.connection)).await;
    assert_eq!(status, 200, "{body}");
    api.contract.check_sync(&body);
    let (status, body) = api.post(SYNCS, create_body(&s.connection)).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("BadRequest")),
        "{body}"
    );
    assert!(message(&body).contains("a secret sync named 'web' already exists in project 'proj'"));
    let id = body_id(&api.get(&format!("{SYNCS}?projectId=proj")).await.1);
    let mut second = create_body(&s.connection);
    second["name"] = json!("web-2");
    // Same app and default key schema: the two would fight over its keys.
    let (status, body) = api.post(SYNCS, second.clone()).await;
    assert_eq!(status, 400, "{body}");
    api.contract.check_error(400, &body);
    assert!(message(&body).contains("sync `web` ("), "{body}");
    second["destinationConfig"] = app_scope("api");
    assert_eq!(api.post(SYNCS, second).await.0, 200);
    let (status, body) = api
        .patch(&format!("{SYNCS}/{id}"), json!({"name": "web-2"}))
        .await;
    assert_eq!(status, 400, "renaming onto another sync's name: {body}");

    // 500 where reachable: Humanitec down while checking a connection's token.
    s.env.sandbox.set_faults(Faults {
        always: Some(Fault::Status {
            status: 503,
            retry_after: None,
        }),
        ..Default::default()
    });
    let (status, body) = api
        .post(CONNECTIONS, json!({"name": "c", "projectId": "proj", "method": "api-token", "credentials": {"apiToken": ADMIN_TOKEN}}))
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "InternalServerError", "{body}");
    assert!(message(&body).contains("nothing was stored"), "{body}");
    assert!(!body.to_string().contains(ADMIN_TOKEN));
    s.env.finish().await;
}

fn body_id(list: &Value) -> String {
    list["secretSyncs"][0]["id"]
        .as_str()
        .expect("a sync")
        .to_string()
}

/// The field at `/a/b` of `body`, made if missing.
fn field_mut<'a>(body: &'a mut Value, path: &str) -> &'a mut Value {
    path.split('/').skip(1).fold(body, |v, key| &mut v[key])
}

#[tokio::test]
async fn the_request_schema_is_enforced_field_by_field() {
    let s = setup().await;
    // A schema violation: 422 ValidationFailure, `message` the list of
    // issues in zod's shape (Infisical's answer to a ZodError).
    let mut broken = create_body(&s.connection);
    broken["name"] = json!("");
    broken["isAutoSyncEnabled"] = json!("yes");
    let (status, body) = s.api.post(SYNCS, broken).await;
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("ValidationFailure")),
        "{body}"
    );
    // (In the order of the document's properties, as zod lists them.)
    let issue = |path: Value| {
        body["message"]
            .as_array()
            .expect("a list of issues")
            .iter()
            .find(|i| i["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("no issue at {path}: {body}"))
    };
    assert_eq!(body["message"].as_array().map(Vec::len), Some(2), "{body}");
    let name = issue(json!(["name"]));
    let mut keys: Vec<&str> = name
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "code",
            "exact",
            "inclusive",
            "message",
            "minimum",
            "path",
            "type"
        ],
        "{body}"
    );
    assert_eq!(
        (&name["code"], &name["minimum"]),
        (&json!("too_small"), &json!(1))
    );
    let flag = issue(json!(["isAutoSyncEnabled"]));
    assert_eq!(
        (&flag["code"], &flag["expected"], &flag["received"]),
        (&json!("invalid_type"), &json!("boolean"), &json!("string"))
    );
    // required fields
    for field in [
        "name",
        "projectId",
        "connectionId",
        "environment",
        "secretPath",
        "syncOptions",
        "destinationConfig",
    ] {
        create_fails(
            &s,
            |b| {
                b.as_object_mut().map(|o| o.remove(field));
            },
            422,
            &format!("/{field}: Required"),
        )
        .await;
    }
    // bounds, enums, formats, unknown fields, the destination union; then,
    // beyond the schema, slug names, key schema, invisible characters:
    // (the field set, its value, what the message names)
    let cases = [
        ("/name", json!(""), "/name"),
        ("/name", json!("a".repeat(257)), "/name"),
        ("/description", json!("d".repeat(257)), "/description"),
        ("/environment", json!("e".repeat(65)), "/environment"),
        ("/secretPath", json!(""), "/secretPath"),
        ("/connectionId", json!("not-a-uuid"), "/connectionId"),
        ("/isAutoSyncEnabled", json!("yes"), "/isAutoSyncEnabled"),
        ("/syncOptions", json!({}), "initialSyncBehavior"),
        (
            "/syncOptions/initialSyncBehavior",
            json!("sideways"),
            "/syncOptions/initialSyncBehavior",
        ),
        // Strict where it protects: a misspelt option is not ignored.
        ("/syncOptions/extra", json!(1), "extra"),
        (
            "/syncOptions",
            json!({"initialSyncBehavior": "import-prioritize-source", "recursive": true}),
            "/syncOptions/recursive",
        ),
        (
            "/destinationConfig",
            json!({"scope": "application", "org": "o", "app": "a", "env": "e"}),
            "/destinationConfig",
        ),
        (
            "/destinationConfig",
            json!({"scope": "environment", "org": "o", "app": "a"}),
            "/destinationConfig",
        ),
        (
            "/destinationConfig",
            json!({"scope": "application", "org": "", "app": "a"}),
            "/destinationConfig",
        ),
        ("/name", json!("My Sync"), "slug-friendly"),
        ("/syncOptions/keySchema", json!("PREFIX_"), "{{secretKey}}"),
        ("/name", json!("web\u{202e}evil"), "U+202E"),
        ("/description", json!("nul\u{0}byte"), "U+0000"),
        ("/destinationConfig/app", json!("we\u{200b}b"), "U+200B"),
        // Dot segments: a URL parser would climb out of the value's path
        // (`DELETE …/envs/../values/K` writes app-level values).
        (
            "/destinationConfig",
            json!({"scope": "environment", "org": "o", "app": "a", "env": ".."}),
            "`env` cannot be `..`",
        ),
        ("/destinationConfig/app", json!("."), "`app` cannot be `.`"),
        (
            "/destinationConfig/org",
            json!(".."),
            "`org` cannot be `..`",
        ),
    ];
    for (field, value, expect) in cases {
        create_fails(&s, |b| *field_mut(b, field) = value.clone(), 422, expect).await;
    }
    // description may be null, isAutoSyncEnabled defaults to true; a key
    // the schema does not name is ignored (Infisical's zod strips it); the
    // name is trimmed and lowercased (its slugSchema).
    let mut ok = create_body(&s.connection);
    ok["description"] = Value::Null;
    ok["surprise"] = json!(true);
    ok["name"] = json!("  Web ");
    ok.as_object_mut().map(|o| o.remove("isAutoSyncEnabled"));
    let (status, body) = s.api.post(SYNCS, ok).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secretSync"]["isAutoSyncEnabled"], true);
    assert_eq!(body["secretSync"]["description"], Value::Null);
    assert_eq!(body["secretSync"]["name"], "web");
    // PATCH moves the sync between folders, naming what is missing.
    let id = body["secretSync"]["id"].as_str().expect("id").to_string();
    let (status, body) = s
        .api
        .patch(&format!("{SYNCS}/{id}"), json!({"secretPath": "/nope"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("folder '/nope' not found in environment 'prod'"));
    let (status, body) = s
        .api
        .patch(&format!("{SYNCS}/{id}"), json!({"environment": "qa"}))
        .await;
    assert_eq!(status, 400, "{body}");
    s.env.seed.create_folder("proj", "qa", "/app").await;
    let (status, body) = s
        .api
        .patch(&format!("{SYNCS}/{id}"), json!({"environment": "qa"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["secretSync"]["environment"]["slug"].as_str(),
            body["secretSync"]["folder"]["path"].as_str()
        ),
        (Some("qa"), Some("/app"))
    );
    let (status, body) = s
        .api
        .patch(&format!("{SYNCS}/{id}"), json!({"projectId": "other"}))
        .await;
    assert_eq!(status, 422, "a sync cannot change project: {body}");
    assert_eq!(body["message"][0]["path"], json!(["projectId"]), "{body}");
    s.env.finish().await;
}

#[tokio::test]
async fn hostile_requests_get_a_clear_400_never_a_500() {
    let s = setup().await;
    let api = &s.api;
    let url = format!("{}{SYNCS}", api.base);
    let token = api.token.clone().expect("token");
    let raw = |body: Vec<u8>, content_type: &str| {
        api.http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        (
            "no content type",
            api.http.post(&url).bearer_auth(&token).body("{}"),
            "Content-Type: application/json",
        ),
        (
            "form",
            raw(b"name=x".to_vec(), "application/x-www-form-urlencoded"),
            "Content-Type",
        ),
        ("empty", raw(Vec::new(), "application/json"), "empty"),
        (
            "malformed",
            raw(b"{\"name\": ".to_vec(), "application/json"),
            "not valid JSON",
        ),
        (
            "not an object",
            raw(b"[1,2]".to_vec(), "application/json"),
            "Expected object, received array",
        ),
        (
            "deeply nested",
            raw(
                format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
                "application/json",
            ),
            "recursion limit",
        ),
        (
            "oversized",
            raw(
                format!("{{\"name\": \"{}\"}}", "a".repeat(1 << 20)).into_bytes(),
                "application/json",
            ),
            "larger than 64 KiB",
        ),
        (
            "invalid utf-8",
            raw(b"{\"name\": \"\xff\"}".to_vec(), "application/json"),
            "not valid JSON",
        ),
        (
            "lone surrogate",
            raw(br#"{"name": "\ud800"}"#.to_vec(), "application/json"),
            "not valid JSON",
        ),
        (
            "charset is fine, body is not",
            raw(b"{}".to_vec(), "application/json; charset=utf-8"),
            "Required",
        ),
    ];
    for (label, req, expect) in cases {
        let (status, body) = api.send(req).await;
        // Not JSON: 400 BadRequest; JSON that breaks the schema: 422.
        let schema = ["not an object", "charset is fine, body is not"].contains(&label);
        assert_eq!(status, if schema { 422 } else { 400 }, "{label}: {body}");
        assert!(
            message(&body).contains(expect),
            "{label}: expected `{expect}` in {body}"
        );
    }
    // query strings and path ids
    let (status, body) = api
        .get(&format!("{SYNCS}?projectId={}", "p".repeat(5000)))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("query string is longer"));
    // 60 KB of query string (near the most a client can send): still a 4xx.
    let huge = api
        .http
        .get(format!(
            "{}{SYNCS}?projectId={}",
            api.base,
            "p".repeat(60_000)
        ))
        .bearer_auth(&token)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.is_connect());
    assert!(matches!(huge, Ok(400..=499)), "{huge:?}");
    let (status, body) = api.get(&format!("{SYNCS}?projectId=proj&typo=1")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = api.get(SYNCS).await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("projectId"));
    let (status, body) = api.get(&format!("{SYNCS}?projectId=pr%00oj")).await;
    assert_eq!(status, 400, "{body}");
    for path in [
        format!("{SYNCS}/not-a-uuid"),
        format!("{SYNCS}/{}/jobs/not-a-uuid", Uuid::new_v4()),
        "/api/v1/notification-channels/not-a-uuid".to_string(),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(message(&body).contains("must be a UUID"), "{path}: {body}");
    }
    let (status, body) = api
        .delete(&format!("{SYNCS}/{}?removeSecrets=maybe", Uuid::new_v4()))
        .await;
    assert_eq!(status, 400, "{body}");
    // wrong method: a JSON 405
    let (status, body) = api.call("PUT", SYNCS, Some(json!({}))).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["statusCode"], 405);
    // credentials are never echoed, even when invalid
    let (status, body) = api
        .post(CONNECTIONS, json!({"name": "c", "projectId": "proj", "method": "api-token",
                                  "credentials": {"apiToken": format!("secret with spaces {}", "x".repeat(5000))}}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(!body.to_string().contains("secret with spaces"), "{body}");
    // and the server is still fine
    let (status, _) = api.get(&format!("{SYNCS}?projectId=proj")).await;
    assert_eq!(status, 200);
    s.env.finish().await;
}
