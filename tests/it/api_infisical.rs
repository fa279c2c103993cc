//! Issue 20: the rest of Infisical's Secret Sync and App Connection API,
//! over real HTTP (the API in-process, Postgres, RabbitMQ, a worker and the
//! Humanitec sandbox). Every 200 body is validated against the served
//! document's schema for its operation, every error against the seed's
//! error schema; shapes are compared with Infisical's, as found in its
//! public repository (Infisical/infisical):
//! - `backend/src/server/routes/v1/secret-sync-routers/secret-sync-endpoints.ts`
//!   (sync-name, import-secrets' `importBehavior` query, check-destination)
//! - `backend/src/server/routes/v1/secret-sync-routers/secret-sync-router.ts`
//!   (`GET /secret-syncs`, `GET /secret-syncs/options`)
//! - `backend/src/services/secret-sync/humanitec/humanitec-sync-schemas.ts` and
//!   `humanitec-sync-constants.ts` (the option item)
//! - `backend/src/server/routes/v1/app-connection-routers/app-connection-endpoints.ts`
//!   (`connection-name`, `available`), `…/app-connection-router.ts`
//!   (`GET /app-connections`, `/options`), `…/humanitec-connection-router.ts`
//!   (`organizations`)
//! - `backend/src/services/app-connection/humanitec/humanitec-connection-schemas.ts`,
//!   `backend/src/services/app-connection/app-connection-schemas.ts`,
//!   `backend/src/db/schemas/app-connections.ts` (the connection object)
//!
//! Issue 39 replays the request bodies Infisical's own clients build,
//! byte for byte in shape, read from:
//! - the web app: `frontend/src/components/secret-syncs/forms/CreateSecretSyncForm.tsx`
//!   and `EditSecretSyncForm.tsx` (the whole form, `projectId` included, on
//!   PATCH), `…/forms/schemas/base-secret-sync-schema.ts` and
//!   `humanitec-sync-destination-schema.ts` (what the form holds),
//!   `frontend/src/hooks/api/secretSyncs/mutations.tsx` (`{}` posted to
//!   the triggers, `importBehavior` in the query),
//!   `frontend/src/pages/organization/AppConnections/AppConnectionsPage/components/AppConnectionForm/AppConnectionForm.tsx`
//!   and `frontend/src/hooks/api/appConnections/mutations.tsx` (the form's
//!   `method`, `name`, `credentials`, and `projectId` only when a project
//!   page opened it), `useDuplicateDestinationCheck.ts` (a half-filled
//!   destination, checked as the user types);
//! - the Terraform provider's generic client
//!   (Infisical/terraform-provider-infisical `internal/client/secret_sync.go`,
//!   `app_connection.go` and `model.go`: `CreateSecretSyncRequest`,
//!   `UpdateSecretSyncRequest` with `projectId` and an always-sent
//!   `description`, `CreateAppConnectionRequest` without `projectId`,
//!   `UpdateAppConnectionRequest` with `method`);
//! - and the answers Infisical gives: `backend/src/server/plugins/error-handler.ts`
//!   and `backend/src/lib/errors/index.ts` (error names, 422 with zod's
//!   issues), `backend/src/server/lib/schemas.ts` (`slugSchema`: trimmed,
//!   lowercased), `backend/src/services/secret-sync/secret-sync-schemas.ts`
//!   (`initialSyncBehavior`, unknown keys stripped), `secret-sync-service.ts`
//!   (a missing folder is a 400).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use secret_sync::crypto::{Aad, Column};
use secret_sync::web::api::openapi::openapi_to_json_schema;
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const CONNS: &str = "/api/v1/app-connections/humanitec";
const SERVED: &str = include_str!("../../docs/openapi.json");
const B: &str = "bravo-proj-20";
/// The sandbox's read-only token (a valid one, to rotate to).
const VIEWER_TOKEN: &str = "sandbox-viewer-token";

/// Calls the API with a token; checks every answer against the contract.
struct Api {
    base: String,
    http: reqwest::Client,
    seed: SeedContract,
    doc: Value,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            http: reqwest::Client::new(),
            seed: SeedContract::load(),
            doc: serde_json::from_str(SERVED).expect("docs/openapi.json"),
        }
    }

    /// The served document's 200 schema of `template` (a documented path).
    fn check_ok(&self, method: &str, template: &str, body: &Value) {
        let schema = self.doc["paths"][template][method]["responses"]["200"]["content"]
            ["application/json"]["schema"]
            .clone();
        assert!(!schema.is_null(), "{method} {template} is not documented");
        let mut root = openapi_to_json_schema(&schema);
        if let Value::Object(map) = &mut root {
            map.insert(
                "components".into(),
                openapi_to_json_schema(&self.doc["components"]),
            );
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template}: {errors:?}\n{body:#}"
        );
    }

    /// `template` names the documented operation whose 200 schema applies.
    async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} not JSON ({e}): {text}"));
        if status >= 400 {
            self.seed.check_error(status, &body);
        } else {
            assert_eq!(status, 200, "{method} {path}: {body}");
            self.check_ok(&method.to_lowercase(), template, &body);
        }
        (status, body)
    }

    async fn get(&self, token: &str, template: &str, path: &str) -> (u16, Value) {
        self.call(Some(token), "GET", template, path, None).await
    }
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

/// The message, or a 422's issues' messages, as one text.
fn message_text(body: &Value) -> String {
    match &body["message"] {
        Value::Array(issues) => issues
            .iter()
            .filter_map(|i| i["message"].as_str())
            .collect::<Vec<_>>()
            .join("; "),
        other => other.as_str().unwrap_or_default().to_string(),
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}

fn without_req_id(mut body: Value, replace: &[(&str, &str)]) -> String {
    if let Some(o) = body.as_object_mut() {
        o.remove("reqId");
    }
    let mut text = body.to_string();
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    text
}

/// Project `proj` (a source in `production`, connection), and project B
/// with a connection and a sync of its own.
struct World {
    env: TestEnv,
    api: Api,
    src: Source,
    conn_name: String,
    writer: String,
    reader: String,
    admin: String,
    b_conn: Uuid,
    b_sync: Uuid,
}

async fn world() -> World {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let src = env.source("production", &[("A", "1")]).await;
    let (_, conn) = env
        .store
        .syncs
        .connection_api_json(src.connection)
        .await
        .expect("read")
        .expect("connection");
    let conn_name = conn["name"].as_str().expect("name").to_string();
    env.seed.create_project(B, "Bravo").await;
    let b_folder = env.seed.create_folder(B, "production", "/app").await;
    let b_conn = env
        .seed
        .create_connection(B, "bravo-conn", ADMIN_TOKEN)
        .await;
    let b_sync = env
        .seed
        .create_sync(
            B,
            "bravo-sync",
            b_folder,
            b_conn,
            &env_scope("web", "production"),
            &options(),
        )
        .await;
    let writer = env.api_token(&["proj"], "write").await;
    let reader = env.api_token(&["proj"], "read").await;
    let admin = env.api_token(&[], "admin").await;
    World {
        api: Api::new(&base),
        env,
        src,
        conn_name,
        writer,
        reader,
        admin,
        b_conn,
        b_sync,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_by_name_generic_lists_options_and_pages() {
    let w = world().await;
    let (api, env) = (&w.api, &w.env);
    for i in 0..5 {
        env.sync(
            &w.src,
            &format!("page-{i}"),
            app_scope(&format!("app-{i}")),
            options(),
        )
        .await;
    }

    // Pages, on the Humanitec list and on Infisical's generic one.
    for template in ["/api/v1/secret-syncs", SYNCS] {
        let (status, body) = api
            .get(
                &w.reader,
                template,
                &format!("{template}?projectId=proj&offset=1&limit=2"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(names(&body["secretSyncs"]), ["page-1", "page-2"]);
        let (_, all) = api
            .get(&w.reader, template, &format!("{template}?projectId=proj"))
            .await;
        assert_eq!(all["secretSyncs"].as_array().map(Vec::len), Some(5));
        let (_, past) = api
            .get(
                &w.reader,
                template,
                &format!("{template}?projectId=proj&offset=5"),
            )
            .await;
        assert_eq!(past["secretSyncs"], json!([]));
        for (query, expect) in [
            ("limit=1001", "limit must be between 1 and 1000 (got 1001)"),
            ("limit=0", "limit must be between 1 and 1000 (got 0)"),
            ("offset=-1", "offset must be 0 or more"),
            ("limit=ten", "the query string is invalid"),
        ] {
            let (status, body) = api
                .get(
                    &w.reader,
                    template,
                    &format!("{template}?projectId=proj&{query}"),
                )
                .await;
            assert_eq!(status, 400, "{query}: {body}");
            assert!(message(&body).contains(expect), "{query}: {body}");
        }
        // Another project's list: 403, as before.
        let (status, body) = api
            .get(&w.writer, template, &format!("{template}?projectId={B}"))
            .await;
        assert_eq!(status, 403, "{body}");
        assert!(!body.to_string().contains("bravo-sync"), "{body}");
    }

    // By name (Infisical: `GET /sync-name/:syncName?projectId=`).
    let by_name = format!("{SYNCS}/sync-name/{{syncName}}");
    let (status, body) = api
        .get(
            &w.reader,
            &by_name,
            &format!("{SYNCS}/sync-name/page-3?projectId=proj"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secretSync"]["name"], "page-3");
    let id = body["secretSync"]["id"].as_str().expect("id").to_string();
    let (_, by_id) = api
        .get(
            &w.reader,
            &format!("{SYNCS}/{{syncId}}"),
            &format!("{SYNCS}/{id}"),
        )
        .await;
    assert_eq!(by_id, body, "the same object as by id");
    let (status, missing) = api
        .get(
            &w.reader,
            &by_name,
            &format!("{SYNCS}/sync-name/no-such?projectId=proj"),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        message(&missing),
        "secret sync 'no-such' not found in project 'proj'"
    );
    // B's sync name asked in the caller's project: exactly a missing name.
    let (status, foreign) = api
        .get(
            &w.writer,
            &by_name,
            &format!("{SYNCS}/sync-name/bravo-sync?projectId=proj"),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        without_req_id(foreign, &[("bravo-sync", "X")]),
        without_req_id(missing, &[("no-such", "X")])
    );
    // B's project named: 403 like its list, and nothing of B shown.
    let (status, body) = api
        .get(
            &w.writer,
            &by_name,
            &format!("{SYNCS}/sync-name/bravo-sync?projectId={B}"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.to_string().contains(&w.b_sync.to_string()), "{body}");
    // An admin reads it.
    let (status, body) = api
        .get(
            &w.admin,
            &by_name,
            &format!("{SYNCS}/sync-name/bravo-sync?projectId={B}"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secretSync"]["id"], w.b_sync.to_string());
    // projectId is required (as in Infisical); no token is a 401.
    let (status, _) = api
        .get(&w.reader, &by_name, &format!("{SYNCS}/sync-name/page-3"))
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .call(
            None,
            "GET",
            &by_name,
            &format!("{SYNCS}/sync-name/page-3?projectId=proj"),
            None,
        )
        .await;
    assert_eq!(status, 401);

    // Options: Infisical's `HumanitecSyncListItemSchema` keys
    // (name, destination, connection, canImportSecrets) and
    // `canRemoveSecretsOnDeletion`; imports work here, so true.
    let options_path = "/api/v1/secret-syncs/options";
    let (status, body) = api.get(&w.reader, options_path, options_path).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"secretSyncOptions": [{"name": "Humanitec", "destination": "humanitec",
            "connection": "humanitec", "canImportSecrets": true,
            "canRemoveSecretsOnDeletion": true}]})
    );
    let (status, _) = api
        .get(
            &w.reader,
            options_path,
            &format!("{options_path}?projectId={B}"),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = api
        .call(None, "GET", options_path, options_path, None)
        .await;
    assert_eq!(status, 401);
    env_finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_in_infisicals_shape_by_name_available_and_options() {
    let w = world().await;
    let (api, env) = (&w.api, &w.env);
    let conn_path = format!("{CONNS}/{{connectionId}}");

    // The object: Infisical's sanitized connection (credentials `{}`), with
    // values true here; `version` counts updates.
    let (status, body) = api
        .get(
            &w.reader,
            &conn_path,
            &format!("{CONNS}/{}", w.src.connection),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let conn = &body["appConnection"];
    let keys: BTreeSet<&str> = conn
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let infisical: BTreeSet<&str> = [
        "id",
        "name",
        "description",
        "app",
        "method",
        "credentials",
        "version",
        "projectId",
        "project",
        "createdAt",
        "updatedAt",
        "isPlatformManagedCredentials",
        "isAutoRotationEnabled",
        "gatewayId",
    ]
    .into();
    assert_eq!(keys, infisical, "{conn}");
    assert_eq!(conn["credentials"], json!({}));
    assert_eq!(conn["version"], 1);
    assert_eq!(
        conn["project"],
        json!({"id": "proj", "name": "Project", "slug": "proj", "type": "secret-manager"})
    );
    let (status, patched) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &conn_path,
            &format!("{CONNS}/{}", w.src.connection),
            Some(json!({"description": "main"})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["appConnection"]["version"], 2);
    assert!(!patched.to_string().contains(ADMIN_TOKEN));

    // By name (Infisical: `GET /connection-name/:connectionName`, no project).
    let by_name = format!("{CONNS}/connection-name/{{connectionName}}");
    let (status, body) = api
        .get(
            &w.reader,
            &by_name,
            &format!("{CONNS}/connection-name/{}", w.conn_name),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appConnection"]["id"], w.src.connection.to_string());
    let (status, missing) = api
        .get(
            &w.reader,
            &by_name,
            &format!("{CONNS}/connection-name/nope"),
        )
        .await;
    assert_eq!(status, 404);
    let (status, foreign) = api
        .get(
            &w.reader,
            &by_name,
            &format!("{CONNS}/connection-name/bravo-conn"),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        without_req_id(foreign, &[("bravo-conn", "X")]),
        without_req_id(missing, &[("nope", "X")]),
        "another project's connection answers like a missing one"
    );
    // A token of both projects, one name in both: it must say which.
    let both = env.api_token(&["proj", B], "read").await;
    env.seed
        .create_connection("proj", "bravo-conn", ADMIN_TOKEN)
        .await;
    let (status, body) = api
        .get(
            &both,
            &by_name,
            &format!("{CONNS}/connection-name/bravo-conn"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("add ?projectId="), "{body}");
    let (status, body) = api
        .get(
            &both,
            &by_name,
            &format!("{CONNS}/connection-name/bravo-conn?projectId={B}"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appConnection"]["id"], w.b_conn.to_string());
    let (status, _) = api
        .get(
            &w.reader,
            &by_name,
            &format!("{CONNS}/connection-name/bravo-conn?projectId={B}"),
        )
        .await;
    assert_eq!(status, 403);

    // Lists without a project: every project the token reaches, paged.
    for template in ["/api/v1/app-connections", CONNS] {
        let (status, body) = api.get(&w.reader, template, template).await;
        assert_eq!(status, 200, "{body}");
        let ids: Vec<&str> = body["appConnections"]
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c["projectId"].as_str().expect("projectId"))
            .collect();
        assert_eq!(ids, ["proj", "proj"], "A's two, none of B's: {body}");
        let (_, body) = api
            .get(&w.admin, template, &format!("{template}?limit=1&offset=2"))
            .await;
        assert_eq!(body["appConnections"].as_array().map(Vec::len), Some(1));
        let (_, body) = api.get(&w.admin, template, template).await;
        assert_eq!(body["appConnections"].as_array().map(Vec::len), Some(3));
        let (status, _) = api
            .get(&w.reader, template, &format!("{template}?limit=5000"))
            .await;
        assert_eq!(status, 400);
        let (status, _) = api
            .get(&w.reader, template, &format!("{template}?projectId={B}"))
            .await;
        assert_eq!(status, 403);
    }

    // Available: Infisical's `{app, name, id}` items.
    let available = format!("{CONNS}/available");
    let (status, body) = api.get(&w.reader, &available, &available).await;
    assert_eq!(status, 200, "{body}");
    for item in body["appConnections"].as_array().expect("array") {
        let keys: BTreeSet<&str> = item
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["app", "name", "id"]));
        assert_ne!(item["id"], w.b_conn.to_string());
    }
    assert_eq!(body["appConnections"].as_array().map(Vec::len), Some(2));

    // Options: Infisical's `HumanitecConnectionListItemSchema`.
    let options_path = "/api/v1/app-connections/options";
    let (status, body) = api.get(&w.reader, options_path, options_path).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"appConnectionOptions": [{"name": "Humanitec", "app": "humanitec",
                                         "methods": ["api-token"]}]})
    );
    let (_, body) = api
        .get(
            &w.reader,
            options_path,
            &format!("{options_path}?projectType=cert-manager"),
        )
        .await;
    assert_eq!(body, json!({"appConnectionOptions": []}));
    env_finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_destination_never_names_another_projects_sync() {
    let w = world().await;
    let (api, env) = (&w.api, &w.env);
    let a_sync = env
        .sync(&w.src, "app-web", app_scope("web"), options())
        .await;
    let path = format!("{SYNCS}/check-destination");
    let check = |token: &str, body: Value| {
        let token = token.to_string();
        let path = path.clone();
        async move {
            api.call(Some(&token), "POST", &path, &path, Some(body))
                .await
        }
    };

    // The caller's own duplicate is named by its project.
    let (status, body) = check(
        &w.writer,
        json!({"projectId": "proj", "destinationConfig": app_scope("web")}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"hasDuplicate": true, "duplicateProjectId": "proj"})
    );
    // Leaving out the sync being edited.
    let (_, body) = check(
        &w.writer,
        json!({"projectId": "proj", "destinationConfig": app_scope("web"),
               "excludeSyncId": a_sync, "connectionId": w.src.connection}),
    )
    .await;
    assert_eq!(body, json!({"hasDuplicate": false}));
    // App-level values and an environment's are different values.
    for free in [env_scope("web", "staging"), app_scope("api")] {
        let (_, body) = check(
            &w.writer,
            json!({"projectId": "proj", "destinationConfig": free}),
        )
        .await;
        assert_eq!(body, json!({"hasDuplicate": false}), "{free}");
    }
    // B's sync writes web/production: a duplicate, but B is not named,
    // and excluding B's sync id (a probe) changes nothing.
    for exclude in [None, Some(w.b_sync)] {
        let mut req = json!({"projectId": "proj",
                             "destinationConfig": env_scope("web", "production")});
        if let Some(id) = exclude {
            req["excludeSyncId"] = json!(id);
        }
        let (status, body) = check(&w.writer, req).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"hasDuplicate": true}), "{exclude:?}");
    }
    // An admin sees every project, so it is told which.
    let (_, body) = check(
        &w.admin,
        json!({"projectId": "proj", "destinationConfig": env_scope("web", "production")}),
    )
    .await;
    assert_eq!(body, json!({"hasDuplicate": true, "duplicateProjectId": B}));

    // Roles, projects, connections and bodies. A read token may ask, as in
    // Infisical (its form asks as the user types).
    let (status, body) = check(
        &w.reader,
        json!({"projectId": "proj", "destinationConfig": app_scope("web")}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"hasDuplicate": true, "duplicateProjectId": "proj"})
    );
    let (status, body) = check(
        &w.writer,
        json!({"projectId": B, "destinationConfig": app_scope("web")}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, foreign) = check(
        &w.writer,
        json!({"projectId": "proj", "destinationConfig": app_scope("web"),
               "connectionId": w.b_conn}),
    )
    .await;
    assert_eq!(status, 404);
    let random = Uuid::new_v4();
    let (_, missing) = check(
        &w.writer,
        json!({"projectId": "proj", "destinationConfig": app_scope("web"),
               "connectionId": random}),
    )
    .await;
    assert_eq!(
        without_req_id(foreign, &[(&w.b_conn.to_string(), "X")]),
        without_req_id(missing, &[(&random.to_string(), "X")])
    );
    // A destination not yet complete has no duplicate (Infisical's
    // `destinationConfig: z.unknown()`), whatever is missing.
    for half in [
        json!({"projectId": "proj", "destinationConfig": {"scope": "galaxy", "org": "o"}}),
        json!({"projectId": "proj"}),
        json!({"projectId": "proj", "destinationConfig": {"scope": "environment", "org": ORG,
                                                           "app": "web"}}),
    ] {
        let (status, body) = check(&w.reader, half.clone()).await;
        assert_eq!(
            (status, &body),
            (200, &json!({"hasDuplicate": false})),
            "{half}"
        );
    }
    // projectId stays required (a 422 naming it), and a project the token
    // does not reach stays a 403 even for a half-filled form.
    let (status, body) = check(&w.reader, json!({"destinationConfig": {}})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["message"][0]["path"], json!(["projectId"]), "{body}");
    let (status, _) = check(&w.reader, json!({"projectId": B, "destinationConfig": {}})).await;
    assert_eq!(status, 403);
    env_finish(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_takes_its_behaviour_from_the_query_and_organizations_are_read_live() {
    let mut w = world().await;
    w.env.start_worker().await;
    let (api, env) = (&w.api, &w.env);
    let sync = env.sync(&w.src, "imp", app_scope("api"), options()).await;
    env.put_humanitec("api", None, &[("FROM_H", "h1", false)]);
    let trigger = format!("{SYNCS}/{{syncId}}/import-secrets");
    let import = |query: &str, body: Option<Value>| {
        let path = format!("{SYNCS}/{sync}/import-secrets{query}");
        let trigger = trigger.clone();
        let token = w.writer.clone();
        async move { api.call(Some(&token), "POST", &trigger, &path, body).await }
    };

    // Infisical's call: the query parameter, no body.
    let (status, body) = import("?importBehavior=prioritize-destination", None).await;
    assert_eq!(status, 200, "{body}");
    // The answer is the sync as it stands: a quick worker may have started
    // (or finished) the import before the answer was read.
    assert!(
        ["pending", "running", "succeeded"]
            .contains(&body["secretSync"]["importStatus"].as_str().unwrap_or("")),
        "{body}"
    );
    let job: Uuid = body["secretSync"]["lastImportJobId"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("job id");
    assert_eq!(
        env.wait_job(job).await.status,
        secret_sync::JobStatus::Succeeded
    );
    let values = env.seed.folder_values(w.src.folder).await;
    assert_eq!(values.get("FROM_H").map(String::as_str), Some("h1"));

    // The same value in both places is fine; the body alone still works.
    let (status, both) = import(
        "?importBehavior=prioritize-source",
        Some(json!({"importBehavior": "prioritize-source"})),
    )
    .await;
    assert_eq!(status, 200, "{both}");
    let (status, body_only) =
        import("", Some(json!({"importBehavior": "prioritize-source"}))).await;
    assert_eq!(status, 200);
    for queued in [both, body_only] {
        let job: Uuid = queued["secretSync"]["lastImportJobId"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("job id");
        env.wait_job(job).await;
    }
    let last_import = || async move {
        let shown = env.sync_view(sync).await;
        shown["lastImportJobId"].clone()
    };
    let before = last_import().await;
    // Two values, none, or a bad one: 400, and nothing queued.
    let (status, body) = import(
        "?importBehavior=prioritize-destination",
        Some(json!({"importBehavior": "prioritize-source"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).contains(
            "'prioritize-destination' in the query string but 'prioritize-source' in the body"
        ),
        "{body}"
    );
    let (status, body) = import("", None).await;
    assert_eq!(status, 400);
    assert!(
        message(&body).contains("importBehavior is required"),
        "{body}"
    );
    let (status, _) = import("?importBehavior=sideways", None).await;
    assert_eq!(status, 400);
    assert_eq!(
        last_import().await,
        before,
        "a refused import queues nothing"
    );
    // A read token cannot trigger, even with the query form.
    let (status, _) = api
        .call(
            Some(&w.reader),
            "POST",
            &trigger,
            &format!("{SYNCS}/{sync}/import-secrets?importBehavior=prioritize-source"),
            None,
        )
        .await;
    assert_eq!(status, 403);

    // Organizations, apps and environments, live from Humanitec: Infisical's
    // calls (GET /orgs, then GET /orgs/{org}/apps), which the spec has.
    env.sandbox.clear_requests();
    let orgs = format!("{CONNS}/{{connectionId}}/organizations");
    let (status, body) = api
        .get(
            &w.reader,
            &orgs,
            &format!("{CONNS}/{}/organizations", w.src.connection),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let env_list = |envs: &[&str]| -> Value {
        envs.iter()
            .map(|e| json!({"id": e, "name": e}))
            .collect::<Vec<_>>()
            .into()
    };
    assert_eq!(
        body,
        json!([{"id": ORG, "name": ORG, "apps": [
            {"id": "web", "name": "web", "envs": env_list(&["development", "staging", "production"])},
            {"id": "api", "name": "api", "envs": env_list(&["development"])},
        ]}])
    );
    // (Values calls of jobs an import's changes may start are not counted.)
    let calls: Vec<(String, String)> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| !r.path.contains("/values"))
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".to_string(), "/orgs".to_string()),
            ("GET".to_string(), format!("/orgs/{ORG}/apps")),
        ]
    );
    assert_requests_match_spec(&env.sandbox);
    let (_, page) = api
        .get(
            &w.reader,
            &orgs,
            &format!("{CONNS}/{}/organizations?offset=1", w.src.connection),
        )
        .await;
    assert_eq!(page, json!([]));

    // Another project's connection: exactly a missing one.
    let (status, foreign) = api
        .get(
            &w.writer,
            &orgs,
            &format!("{CONNS}/{}/organizations", w.b_conn),
        )
        .await;
    assert_eq!(status, 404);
    let random = Uuid::new_v4();
    let (_, missing) = api
        .get(&w.writer, &orgs, &format!("{CONNS}/{random}/organizations"))
        .await;
    assert_eq!(
        without_req_id(foreign, &[(&w.b_conn.to_string(), "X")]),
        without_req_id(missing, &[(&random.to_string(), "X")])
    );
    // A token Humanitec rejects: a 400 that says so (Infisical answers []).
    let stale = env
        .seed
        .create_connection("proj", "stale", "revoked-humanitec-token")
        .await;
    let (status, body) = api
        .get(&w.reader, &orgs, &format!("{CONNS}/{stale}/organizations"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body)
            .contains("Humanitec rejected the API token of connection 'stale' (HTTP 401)"),
        "{body}"
    );
    assert!(!body.to_string().contains("revoked-humanitec-token"));
    env_finish(w).await;
}

/// Issue 39, the eight requests Infisical's clients send, each as they
/// build it: all succeed and change what they should; a `projectId` that
/// is not the sync's (or connection's) own is refused, and another
/// project's id answers exactly like one that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infisicals_own_clients_send_their_bodies_unchanged() {
    let mut w = world().await;
    w.env.start_worker().await;
    let (api, env) = (&w.api, &w.env);
    let conn = w.src.connection.to_string();
    let sync_path = format!("{SYNCS}/{{syncId}}");
    let job_path = format!("{SYNCS}/{{syncId}}/jobs/{{jobId}}");
    let job_of = |body: &Value, field: &str| -> Uuid {
        body["secretSync"][field]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no {field}: {body}"))
    };

    // 6. Create with `initialSyncBehavior: import-prioritize-destination`,
    // as CreateSecretSyncForm posts it (no description typed; the form's
    // `disableSecretDeletion` default): Humanitec's readable values come
    // into the folder first (Humanitec's winning), then the sync pushes;
    // the secret Humanitec never reveals is reported by key.
    env.put_humanitec(
        "api",
        None,
        &[
            ("A", "from-humanitec", false),
            ("FROM_H", "h1", false),
            ("HIDDEN", "x", true),
        ],
    );
    let (status, created) = api
        .call(
            Some(&w.writer),
            "POST",
            SYNCS,
            SYNCS,
            Some(json!({
                "name": "from-form",
                "secretPath": "/app",
                "isAutoSyncEnabled": true,
                "syncOptions": {"initialSyncBehavior": "import-prioritize-destination",
                                "disableSecretDeletion": false},
                "destinationConfig": {"scope": "application", "org": ORG, "app": "api"},
                "connectionId": conn,
                "environment": "production",
                "projectId": "proj",
            })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let first: Uuid = created["secretSync"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    // The answer is the seed's `secretSync` (its schema allows only
    // `overwrite-destination`, what every run after the first does); the
    // row keeps the behaviour the first job carries out.
    assert_eq!(
        created["secretSync"]["syncOptions"],
        json!({"initialSyncBehavior": "overwrite-destination", "disableSecretDeletion": false})
    );
    let row = env
        .store
        .syncs
        .load_sync(first)
        .await
        .expect("load")
        .expect("row");
    assert_eq!(
        row.sync_options["initialSyncBehavior"],
        "import-prioritize-destination"
    );
    let job = job_of(&created, "lastSyncJobId");
    assert_eq!(
        env.wait_job(job).await.status,
        secret_sync::JobStatus::Succeeded
    );
    let folder = env.seed.folder_values(w.src.folder).await;
    assert_eq!(folder.get("A").map(String::as_str), Some("from-humanitec"));
    assert_eq!(folder.get("FROM_H").map(String::as_str), Some("h1"));
    assert!(!folder.contains_key("HIDDEN"), "{folder:?}");
    let pushed: BTreeMap<String, (String, bool)> = env
        .sandbox
        .values(ORG, "api", None)
        .into_iter()
        .map(|v| (v.key, (v.value, v.is_secret)))
        .collect();
    assert_eq!(pushed.get("A"), Some(&("from-humanitec".to_string(), true)));
    assert_eq!(pushed.get("FROM_H"), Some(&("h1".to_string(), true)));
    let (_, shown) = api
        .get(&w.reader, &job_path, &format!("{SYNCS}/{first}/jobs/{job}"))
        .await;
    assert_eq!(
        shown["job"]["keys"]["skipped"],
        json!(["HIDDEN"]),
        "{shown}"
    );
    let said = shown["job"]["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("Humanitec never reveals: HIDDEN") && said.contains("Synced to"),
        "{said}"
    );
    // The same with `import-prioritize-source`, as Terraform's
    // CreateSecretSyncRequest sends it (description always, "" when unset):
    // the folder's value wins, Humanitec's other readable values come in.
    env.put_humanitec(
        "web",
        None,
        &[("A", "from-web", false), ("ONLY_W", "w1", false)],
    );
    let (status, created) = api
        .call(
            Some(&w.writer),
            "POST",
            SYNCS,
            SYNCS,
            Some(json!({
                "name": "tf-sync",
                "projectId": "proj",
                "connectionId": conn,
                "environment": "production",
                "secretPath": "/app",
                "isAutoSyncEnabled": true,
                "description": "",
                "syncOptions": {"initialSyncBehavior": "import-prioritize-source"},
                "destinationConfig": {"scope": "application", "org": ORG, "app": "web"},
            })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let second: Uuid = created["secretSync"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let job = job_of(&created, "lastSyncJobId");
    assert_eq!(
        env.wait_job(job).await.status,
        secret_sync::JobStatus::Succeeded
    );
    let folder = env.seed.folder_values(w.src.folder).await;
    assert_eq!(folder.get("A").map(String::as_str), Some("from-humanitec"));
    assert_eq!(folder.get("ONLY_W").map(String::as_str), Some("w1"));
    assert_eq!(
        env.humanitec_values("web", None)
            .get("A")
            .map(String::as_str),
        Some("from-humanitec")
    );

    // 3. Import with `{}` as the body and the behaviour in the query
    // (useTriggerSecretSyncImportSecrets).
    env.put_humanitec("api", None, &[("LATER", "l1", false)]);
    let (status, body) = api
        .call(
            Some(&w.writer),
            "POST",
            &format!("{SYNCS}/{{syncId}}/import-secrets"),
            &format!("{SYNCS}/{first}/import-secrets?importBehavior=prioritize-source"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let job = job_of(&body, "lastImportJobId");
    assert_eq!(
        env.wait_job(job).await.status,
        secret_sync::JobStatus::Succeeded
    );
    let folder = env.seed.folder_values(w.src.folder).await;
    assert_eq!(folder.get("LATER").map(String::as_str), Some("l1"));
    // The triggers' `{}` (useTriggerSecretSyncSyncSecrets, …RemoveSecrets).
    let (status, body) = api
        .call(
            Some(&w.writer),
            "POST",
            &format!("{SYNCS}/{{syncId}}/sync-secrets"),
            &format!("{SYNCS}/{second}/sync-secrets"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    env.wait_job(job_of(&body, "lastSyncJobId")).await;

    // 1. PATCH with the edit form's whole body, `projectId` included
    // (EditSecretSyncForm: `{...updateData, environment, connectionId,
    // projectId}`), and Terraform's UpdateSecretSyncRequest.
    let edit = |project: &str| {
        json!({
            "name": "From-Form-2 ",
            "description": "edited in the form",
            "secretPath": "/app",
            "isAutoSyncEnabled": false,
            "syncOptions": {"initialSyncBehavior": "import-prioritize-destination",
                            "disableSecretDeletion": false},
            "destinationConfig": {"scope": "application", "org": ORG, "app": "api"},
            "environment": "production",
            "connectionId": conn,
            "projectId": project,
        })
    };
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{first}"),
            Some(edit("proj")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let row = env
        .store
        .syncs
        .load_sync(first)
        .await
        .expect("load")
        .expect("row");
    assert_eq!(
        (row.name.as_str(), row.is_auto_sync_enabled),
        ("from-form-2", false)
    );
    assert_eq!(
        env.sync_view(first).await["description"],
        "edited in the form"
    );
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{second}"),
            Some(json!({
                "name": "tf-sync-2",
                "projectId": "proj",
                "connectionId": conn,
                "environment": "production",
                "secretPath": "/app",
                "description": "",
                "syncOptions": {"initialSyncBehavior": "import-prioritize-source",
                                "keySchema": "TF_{{secretKey}}"},
                "destinationConfig": {"scope": "application", "org": ORG, "app": "web"},
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let row = env
        .store
        .syncs
        .load_sync(second)
        .await
        .expect("load")
        .expect("row");
    assert_eq!(row.name, "tf-sync-2");
    assert_eq!(row.sync_options["keySchema"], "TF_{{secretKey}}");
    // What changed is synced (auto-sync stays on): the new key schema.
    assert_eq!(
        env.wait_job(job_of(&body, "lastSyncJobId")).await.status,
        secret_sync::JobStatus::Succeeded
    );
    assert_eq!(
        env.humanitec_values("web", None)
            .get("TF_ONLY_W")
            .map(String::as_str),
        Some("w1")
    );
    // A projectId that is not the sync's: refused, naming projectId, and
    // nothing changed. Another project's sync: exactly a missing one.
    let before = env.sync_view(first).await;
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{first}"),
            Some(edit(B)),
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("ValidationFailure")),
        "{body}"
    );
    assert_eq!(body["message"][0]["path"], json!(["projectId"]), "{body}");
    assert_eq!(
        env.sync_view(first).await,
        before,
        "a refused PATCH changes nothing"
    );
    let (status, foreign) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{}", w.b_sync),
            Some(edit(B)),
        )
        .await;
    assert_eq!(status, 404, "{foreign}");
    let random = Uuid::new_v4();
    let (_, missing) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{random}"),
            Some(edit(B)),
        )
        .await;
    assert_eq!(
        without_req_id(foreign, &[(&w.b_sync.to_string(), "X")]),
        without_req_id(missing, &[(&random.to_string(), "X")])
    );

    // 2. PATCH a connection with the form's `method` (AppConnectionForm's
    // UpdateForm: `{method, name, credentials}`), and Terraform's
    // UpdateAppConnectionRequest (`description` and `method` always); the
    // token's surrounding whitespace is trimmed (`z.string().trim()`).
    let conn_path = format!("{CONNS}/{{connectionId}}");
    let conn_at = format!("{CONNS}/{conn}");
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &conn_path,
            &conn_at,
            Some(json!({"method": "api-token", "name": "Humanitec-Main",
                        "credentials": {"apiToken": format!(" {VIEWER_TOKEN}\n")}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appConnection"]["name"], "humanitec-main");
    assert_eq!(stored_token(env, w.src.connection).await, VIEWER_TOKEN);
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &conn_path,
            &conn_at,
            Some(
                json!({"description": "rotated by terraform", "method": "api-token",
                        "name": "tf-conn", "credentials": {"apiToken": ADMIN_TOKEN},
                        "projectId": "proj"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, stored) = env
        .store
        .syncs
        .connection_api_json(w.src.connection)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        (&stored["name"], &stored["description"], &stored["version"]),
        (&json!("tf-conn"), &json!("rotated by terraform"), &json!(3))
    );
    assert_eq!(stored_token(env, w.src.connection).await, ADMIN_TOKEN);
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &conn_path,
            &conn_at,
            Some(json!({"method": "api-token", "projectId": B, "description": "moved?"})),
        )
        .await;
    assert_eq!(
        (status, &body["message"][0]["path"]),
        (422, &json!(["projectId"])),
        "{body}"
    );

    // 4. A connection without `projectId` (Terraform's
    // CreateAppConnectionRequest; the form outside a project page): the
    // project of a token limited to one; an admin token must name it.
    let new_conn = json!({"description": "", "method": "api-token", "name": " From-Terraform",
                          "credentials": {"apiToken": ADMIN_TOKEN}});
    let (status, body) = api
        .call(
            Some(&w.writer),
            "POST",
            CONNS,
            CONNS,
            Some(new_conn.clone()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["appConnection"]["projectId"],
            &body["appConnection"]["name"]
        ),
        (&json!("proj"), &json!("from-terraform"))
    );
    let made: Uuid = body["appConnection"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let (project, _) = env
        .store
        .syncs
        .connection_api_json(made)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(project, "proj");
    let two = env.api_token(&["proj", B], "write").await;
    for (token, says) in [(&w.admin, "an admin token"), (&two, "reaches 2 projects")] {
        let (status, body) = api
            .call(Some(token), "POST", CONNS, CONNS, Some(new_conn.clone()))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["message"][0]["path"], json!(["projectId"]), "{body}");
        assert!(message_text(&body).contains(says), "{body}");
    }

    // 5. check-destination while the form is half filled, with a read
    // token (useDuplicateDestinationCheck): no duplicate, no refusal.
    let check = format!("{SYNCS}/check-destination");
    let (status, body) = api
        .call(
            Some(&w.reader),
            "POST",
            &check,
            &check,
            Some(
                json!({"destinationConfig": {"scope": "environment", "org": ORG, "app": "web",
                                              "env": ""},
                        "projectId": "proj", "excludeSyncId": first, "connectionId": conn}),
            ),
        )
        .await;
    assert_eq!((status, &body), (200, &json!({"hasDuplicate": false})));

    // 7. Infisical's statuses and names: a schema violation is a 422
    // ValidationFailure listing zod's issues; a taken name and a
    // connection in use are 400 BadRequest; a missing folder a 400.
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{first}"),
            Some(
                json!({"isAutoSyncEnabled": "yes", "destinationConfig": {"scope": "application",
                        "org": ORG, "app": "api", "env": "production"}}),
            ),
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("ValidationFailure")),
        "{body}"
    );
    let codes: BTreeSet<String> = body["message"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| format!("{} {}", i["code"], i["path"]))
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from([
            r#""invalid_type" ["isAutoSyncEnabled"]"#.to_string(),
            r#""unrecognized_keys" ["destinationConfig"]"#.to_string(),
        ]),
        "{body}"
    );
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{first}"),
            Some(json!({"name": "tf-sync-2"})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("BadRequest")),
        "{body}"
    );
    let (status, body) = api
        .call(Some(&w.writer), "DELETE", &conn_path, &conn_at, None)
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("BadRequest")),
        "{body}"
    );
    assert!(
        message_text(&body).contains("is used by 2 secret sync(s)"),
        "{body}"
    );
    let (status, body) = api
        .call(
            Some(&w.writer),
            "PATCH",
            &sync_path,
            &format!("{SYNCS}/{first}"),
            Some(json!({"secretPath": "/nowhere"})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("BadRequest")),
        "{body}"
    );
    assert!(
        message_text(&body).contains("folder '/nowhere' not found"),
        "{body}"
    );

    // 8. The list without `limit`, as Infisical's frontend reads it: the
    // whole list (see `lists_answer_every_item_up_to_a_documented_cap`).
    let (status, body) = api
        .get(&w.reader, SYNCS, &format!("{SYNCS}?projectId=proj"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(names(&body["secretSyncs"]), ["from-form-2", "tf-sync-2"]);
    env_finish(w).await;
}

/// Issue 39, request 8: Infisical's frontend never pages, so a list asked
/// for without `limit` answers every item, up to 10 000; a longer one is a
/// 400 that says how to page, never a silent cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_answer_every_item_up_to_a_documented_cap() {
    let w = world().await;
    let (api, env) = (&w.api, &w.env);
    env.seed.create_project("many", "Many").await;
    let folder = env.seed.create_folder("many", "production", "/app").await;
    let conn = env
        .seed
        .create_connection("many", "many-conn", ADMIN_TOKEN)
        .await;
    env.seed
        .create_syncs("many", "s-", folder, conn, ORG, 1..=151)
        .await;
    let list = |query: &str| {
        let path = format!("{SYNCS}?projectId=many{query}");
        let token = w.admin.clone();
        async move { api.get(&token, SYNCS, &path).await }
    };
    let (status, body) = list("").await;
    assert_eq!(status, 200);
    assert_eq!(body["secretSyncs"].as_array().map(Vec::len), Some(151));
    let (_, body) = list("&offset=150").await;
    assert_eq!(body["secretSyncs"].as_array().map(Vec::len), Some(1));
    env.seed
        .create_syncs("many", "s-", folder, conn, ORG, 152..=10_001)
        .await;
    let (status, body) = list("").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message_text(&body).contains("more than 10000 items")
            && message_text(&body).contains("offset and limit"),
        "{body}"
    );
    let (status, body) = list("&offset=10000&limit=1000").await;
    assert_eq!(status, 200);
    assert_eq!(body["secretSyncs"].as_array().map(Vec::len), Some(1));
    env_finish(w).await;
}

/// A connection's stored token, decrypted.
async fn stored_token(env: &TestEnv, id: Uuid) -> String {
    let row = env
        .store
        .syncs
        .load_connection(id)
        .await
        .expect("store")
        .expect("row");
    let plain = env
        .cipher()
        .decrypt_string(
            &row.encrypted_credentials,
            Aad::new(&row.project_id, Column::ConnectionCredentials),
        )
        .expect("decrypts");
    serde_json::from_str::<Value>(&plain).expect("json")["apiToken"]
        .as_str()
        .expect("apiToken")
        .to_string()
}

/// `examples/clients/python/infisical_client.py`, written against
/// Infisical's paths only, runs green against this API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infisical_client_script_runs_against_this_api() {
    let mut w = world().await;
    w.env.start_worker().await;
    w.env
        .put_humanitec("api", None, &[("IMPORTED", "from-humanitec", false)]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/clients/python/infisical_client.py"
    );
    let out = tokio::task::spawn_blocking({
        let base = w.api.base.clone();
        let token = w.writer.clone();
        let conn_name = w.conn_name.clone();
        move || {
            Command::new("python3")
                .arg(script)
                .args([
                    "--project",
                    "proj",
                    "--connection-name",
                    &conn_name,
                    "--sync-name",
                    "from-a-client",
                    "--environment",
                    "production",
                    "--secret-path",
                    "/app",
                    "--org",
                    ORG,
                    "--app",
                    "api",
                    "--import-behavior",
                    "prioritize-destination",
                ])
                .env("INFISICAL_API_URL", base)
                .env("INFISICAL_TOKEN", token)
                .output()
        }
    })
    .await
    .expect("joined")
    .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the client failed: {stderr}");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    assert_eq!(printed["secretSync"]["name"], "from-a-client");
    assert_eq!(
        printed["secretSync"]["importStatus"], "succeeded",
        "{printed}"
    );
    // What the user cares about: the sync exists, the value came in.
    let id: Uuid = printed["secretSync"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let row = w
        .env
        .store
        .syncs
        .load_sync(id)
        .await
        .expect("load")
        .expect("row");
    assert_eq!(row.connection_id, w.src.connection);
    let values = w.env.seed.folder_values(w.src.folder).await;
    assert_eq!(
        values.get("IMPORTED").map(String::as_str),
        Some("from-humanitec")
    );
    assert!(
        !stderr.contains(&w.writer),
        "the client never prints the token"
    );
    env_finish(w).await;
}

async fn env_finish(w: World) {
    w.env.finish().await;
}
