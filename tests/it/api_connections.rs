//! App connections over HTTP: tokens checked with Humanitec on create and
//! on rotation, stored encrypted, never shown; the API needs ENCRYPTION_KEY.

use std::sync::Arc;

use secret_sync::crypto::{Aad, Column};
use secret_sync::web::ApiState;
use secret_sync_testkit::{ApiClient, SeedContract, TestEnv, ADMIN_TOKEN};
use serde_json::{json, Value};

const CONNECTIONS: &str = "/api/v1/app-connections/humanitec";
const VIEWER_TOKEN: &str = "sandbox-viewer-token";

async fn stored_token(env: &TestEnv, id: &str) -> String {
    let row = env
        .store
        .syncs
        .load_connection(id.parse().expect("uuid"))
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

/// POSTs a connection of project `proj` with the admin token.
async fn post_connection(api: &ApiClient, name: &str, method: &str) -> (u16, Value) {
    let body = json!({"name": name, "projectId": "proj", "method": method,
                      "credentials": {"apiToken": ADMIN_TOKEN}});
    api.post(CONNECTIONS, body).await
}

/// Humanitec out of reach when a tenant adds a connection: a clear answer,
/// nothing stored, and nothing of this instance's network (the URL, the
/// address, the setting) in what the tenant sees.
#[tokio::test]
async fn an_unreachable_humanitec_is_told_without_the_instances_network() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let unreachable = format!("http://127.0.0.1:{port}");
    let mut env =
        TestEnv::with(move |name| (name == "HUMANITEC_API_URL").then(|| unreachable.clone())).await;
    let base = env.start_api().await;
    env.seed.create_project("proj", "Project").await;
    let writer = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&writer), Arc::new(SeedContract::load()));
    let (status, body) = post_connection(&api, "main", "api-token").await;
    assert_eq!(status, 500, "{body}");
    let said = body["message"].as_str().unwrap_or_default();
    assert!(
        said.contains("could not check the API token with Humanitec"),
        "{said}"
    );
    assert!(said.contains("could not be reached"), "{said}");
    for detail in [
        "127.0.0.1",
        &port.to_string(),
        "HUMANITEC_API_URL",
        "http://",
    ] {
        assert!(
            !said.contains(detail),
            "{detail} shown to the tenant: {said}"
        );
    }
    let (_, listed) = api.get(&format!("{CONNECTIONS}?projectId=proj")).await;
    assert_eq!(
        listed["appConnections"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
    env.finish().await;
}

#[tokio::test]
async fn connections_are_checked_rotated_listed_and_never_shown() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    env.seed.create_project("proj", "Project").await;
    let writer = env.api_token(&["proj"], "write").await;
    let reader = env.api_token(&["proj"], "read").await;
    let contract = Arc::new(SeedContract::load());
    let api = ApiClient::new(&base, Some(&writer), contract.clone());

    let (status, body) = post_connection(&api, "main", "api-token").await;
    assert_eq!(status, 200, "{body}");
    contract.check_connection(&body);
    let conn = &body["appConnection"];
    assert_eq!(
        (
            conn["app"].as_str(),
            conn["method"].as_str(),
            conn["description"].clone()
        ),
        (Some("humanitec"), Some("api-token"), Value::Null)
    );
    let id = conn["id"].as_str().expect("id").to_string();

    // Same name again: 400 BadRequest (as Infisical). Unknown method: a
    // schema violation, 422 ValidationFailure.
    let (status, body) = post_connection(&api, "main", "api-token").await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("BadRequest")),
        "{body}"
    );
    let (status, body) = post_connection(&api, "other", "oauth").await;
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("ValidationFailure")),
        "{body}"
    );
    assert_eq!(body["message"][0]["path"], json!(["method"]), "{body}");

    // Readers read, never write; nobody ever sees the token.
    let read = api.with_token(Some(&reader));
    let (status, body) = read.get(&format!("{CONNECTIONS}/{id}")).await;
    assert_eq!(status, 200, "{body}");
    contract.check_connection(&body);
    let (status, list) = read.get(&format!("{CONNECTIONS}?projectId=proj")).await;
    assert_eq!(status, 200);
    assert_eq!(list["appConnections"].as_array().map(Vec::len), Some(1));
    contract.check_connection(&json!({"appConnection": list["appConnections"][0]}));
    assert!(!list.to_string().contains(ADMIN_TOKEN) && !body.to_string().contains(ADMIN_TOKEN));
    let (status, _) = read
        .patch(&format!("{CONNECTIONS}/{id}"), json!({"description": "x"}))
        .await;
    assert_eq!(status, 403);

    // Rotation: a rejected token changes nothing; a valid one replaces it.
    let (status, body) = api
        .patch(
            &format!("{CONNECTIONS}/{id}"),
            json!({"credentials": {"apiToken": "expired-token"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(stored_token(&env, &id).await, ADMIN_TOKEN);
    let (status, body) = api
        .patch(&format!("{CONNECTIONS}/{id}"),
               json!({"credentials": {"apiToken": VIEWER_TOKEN}, "description": "rotated", "name": "main-2"}))
        .await;
    assert_eq!(status, 200, "{body}");
    contract.check_connection(&body);
    assert_eq!(body["appConnection"]["name"], "main-2");
    assert_eq!(body["appConnection"]["description"], "rotated");
    assert_eq!(stored_token(&env, &id).await, VIEWER_TOKEN);
    let (status, body) = api
        .patch(&format!("{CONNECTIONS}/{id}"), json!({"description": null}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appConnection"]["description"], Value::Null);
    assert_eq!(
        stored_token(&env, &id).await,
        VIEWER_TOKEN,
        "untouched without credentials"
    );

    // Renaming onto another connection's name: 400 (as Infisical).
    let (status, body) = post_connection(&api, "backup", "api-token").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .patch(&format!("{CONNECTIONS}/{id}"), json!({"name": "backup"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("'backup' already exists"),
        "{body}"
    );

    // Unused: deleted.
    let (status, body) = api.delete(&format!("{CONNECTIONS}/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api.get(&format!("{CONNECTIONS}/{id}")).await;
    assert_eq!(status, 404);
    env.finish().await;
}

#[tokio::test]
async fn the_api_refuses_to_start_without_an_encryption_key() {
    let env = TestEnv::new().await;
    let mut settings = env.settings.clone();
    settings.encryption_key = None;
    let err = ApiState::build(&settings)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("ENCRYPTION_KEY is not set") && e.contains("keygen")),
        "{err:?}"
    );
    env.finish().await;
}
