//! Issue 23, over real HTTP: a sync's job history with the key names each
//! run touched (never a value), and the audit log of every control-plane
//! action through the API, the dashboard and the command line, each with
//! its actor and seen only by the project's own tokens.

use std::sync::Arc;

use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";

/// Every string in `body`, for "no value anywhere" checks.
fn text(body: &Value) -> String {
    body.to_string()
}

#[tokio::test]
async fn a_job_lists_the_keys_it_created_updated_with_why_and_deleted_never_values() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    let src = env
        .source(
            "production",
            &[
                ("ROTATED", "old-r0t"),
                ("GONE", "g0ne-val"),
                ("EDITED", "ed1t-val"),
            ],
        )
        .await;
    let sync = env.sync(&src, "keys", app_scope("web"), options()).await;
    let first = env.run_sync(sync).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{:?}", first.message);

    // One rotated, one deleted at the source, one edited by hand in Humanitec.
    env.put_secret(src.folder, "ROTATED", "new-r0t").await;
    env.seed.delete_secret(src.folder, "GONE").await;
    env.put_humanitec("web", None, &[("EDITED", "by-h4nd", true)]);
    let second = env.run_sync(sync).await;
    assert_eq!(second.status, JobStatus::Succeeded, "{:?}", second.message);

    let (status, body) = api.get(&format!("{SYNCS}/{sync}/jobs/{}", second.id)).await;
    assert_eq!(status, 200, "{body}");
    let keys = &body["job"]["keys"];
    assert_eq!(keys["created"], json!([]), "{body:#}");
    assert_eq!(
        keys["updated"],
        json!([
            {"key": "EDITED", "reason": "drifted"},
            {"key": "ROTATED", "reason": "source-changed"},
        ]),
        "{body:#}"
    );
    assert_eq!(keys["deleted"], json!(["GONE"]), "{body:#}");
    assert_eq!(body["job"]["counts"]["updated"], 2);
    assert_eq!(body["job"]["status"], "succeeded");
    assert_eq!(body["job"]["attempt"], 1);

    // The first run created all three; no value anywhere in either body.
    let (_, history) = api.get(&format!("{SYNCS}/{sync}/jobs")).await;
    let jobs = history["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["id"], json!(second.id), "newest first");
    assert_eq!(
        jobs[1]["keys"]["created"],
        json!(["EDITED", "GONE", "ROTATED"])
    );
    for value in ["old-r0t", "new-r0t", "g0ne-val", "ed1t-val", "by-h4nd"] {
        assert!(!text(&body).contains(value) && !text(&history).contains(value));
    }

    // A run that changed nothing stores no key names.
    let third = env.run_sync(sync).await;
    let (_, body) = api.get(&format!("{SYNCS}/{sync}/jobs/{}", third.id)).await;
    assert_eq!(
        body["job"]["keys"],
        json!({"created": [], "updated": [], "deleted": [], "skipped": []})
    );
    let stored = env
        .seed
        .numbers(&format!(
            "SELECT count(*) FROM secret_sync_jobs WHERE id = '{}' AND keys IS NULL",
            third.id
        ))
        .await;
    assert_eq!(stored, vec![1.0]);

    // Filters and the cursor: one job per page, in order.
    let (_, page) = api
        .get(&format!(
            "{SYNCS}/{sync}/jobs?type=sync&status=succeeded&limit=1"
        ))
        .await;
    assert_eq!(page["jobs"][0]["id"], json!(third.id));
    let cursor = page["nextCursor"].as_str().expect("a next page");
    let (_, page) = api
        .get(&format!("{SYNCS}/{sync}/jobs?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page["jobs"][0]["id"], json!(second.id));
    let (_, none) = api.get(&format!("{SYNCS}/{sync}/jobs?type=import")).await;
    assert_eq!(none["jobs"], json!([]));
    for bad in [
        "type=explode",
        "status=done",
        "limit=0",
        "limit=101",
        "cursor=zzz",
    ] {
        let (status, body) = api.get(&format!("{SYNCS}/{sync}/jobs?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // A job of another sync answers as a missing one.
    let other = env.sync(&src, "other", app_scope("api"), options()).await;
    let (status, _) = api
        .get(&format!("{SYNCS}/{other}/jobs/{}", second.id))
        .await;
    assert_eq!(status, 404);
    env.finish().await;
}

/// The audit entries of project `proj` as `token` sees them.
async fn audit(api: &ApiClient, query: &str) -> Vec<Value> {
    let (status, body) = api
        .get(&format!("/api/v1/audit-logs?projectId=proj{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["auditLogs"].as_array().expect("entries").clone()
}

fn one<'a>(entries: &'a [Value], action: &str) -> &'a Value {
    let found: Vec<&Value> = entries.iter().filter(|e| e["action"] == action).collect();
    assert_eq!(found.len(), 1, "{action}: {entries:#?}");
    found[0]
}

#[tokio::test]
async fn every_action_through_api_dashboard_and_cli_leaves_one_entry_with_its_actor() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let contract = Arc::new(SeedContract::load());
    let writer = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&writer), contract.clone());
    let _folder = env.source("production", &[("K", "s3cr3t-v")]).await;

    // The API: a connection, a sync, its update, triggers, a preview, deletes.
    let (status, conn) = api
        .post(
            "/api/v1/app-connections/humanitec",
            json!({"name": "hc", "projectId": "proj", "method": "api-token",
                   "credentials": {"apiToken": ADMIN_TOKEN}}),
        )
        .await;
    assert_eq!(status, 200, "{conn}");
    let conn_id = conn["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, created) = api
        .post(
            SYNCS,
            json!({"name": "audited", "projectId": "proj", "connectionId": conn_id,
                   "environment": "production", "secretPath": "/app",
                   "isAutoSyncEnabled": false,
                   "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
                   "destinationConfig": app_scope("web")}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let sync: Uuid = created["secretSync"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let path = format!("{SYNCS}/{sync}");
    assert_eq!(
        api.patch(&path, json!({"description": "now described"}))
            .await
            .0,
        200
    );
    assert_eq!(
        api.post(&format!("{path}/sync-secrets"), json!({})).await.0,
        200
    );
    assert_eq!(
        api.call(
            "POST",
            &format!("{path}/import-secrets?importBehavior=prioritize-source"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        api.post(&format!("{path}/remove-secrets"), json!({}))
            .await
            .0,
        200
    );
    assert_eq!(api.get(&format!("{path}/preview")).await.0, 200);

    let entries = audit(&api, "").await;
    let token_name = "test";
    for action in [
        "connection.create",
        "sync.create",
        "sync.update",
        "sync.trigger",
        "sync.import",
        "sync.remove",
        "sync.preview",
    ] {
        let e = one(&entries, action);
        assert_eq!(e["actor"]["kind"], "token", "{e}");
        assert_eq!(e["actor"]["name"], token_name, "{e}");
        assert_eq!(e["projectId"], "proj");
        assert!(
            e["reqId"].as_str().is_some_and(|r| r.starts_with("req-")),
            "{e}"
        );
    }
    assert_eq!(
        one(&entries, "sync.update")["changes"],
        json!(["description"])
    );
    assert_eq!(
        one(&entries, "connection.create")["changes"],
        json!(["name", "credentials"])
    );
    assert_eq!(one(&entries, "sync.create")["target"]["id"], json!(sync));
    // A trigger names the job that does the work; its row names the actor.
    let trigger = one(&entries, "sync.trigger");
    let job: Uuid = trigger["changes"][0]
        .as_str()
        .and_then(|c| c.strip_prefix("job:"))
        .and_then(|j| j.parse().ok())
        .expect("the job id");
    let (_, job_body) = api.get(&format!("{path}/jobs/{job}")).await;
    assert!(
        job_body["job"]["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("test (token ")),
        "{job_body}"
    );
    env.wait_job(job).await;

    // The dashboard: sign in, a sync now, sign out.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = dashboard_sign_in(&http, &base, &writer).await;
    let page = http
        .get(format!("{base}/syncs/{sync}"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = csrf_token(&page);
    let origin = base.clone();
    let sent = http
        .post(format!("{base}/syncs/{sync}/sync"))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sync now");
    assert_eq!(sent.status().as_u16(), 303);
    let out = http
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status().as_u16(), 303);
    let entries = audit(&api, "&action=session.sign-in").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["actor"]["name"], token_name);
    assert_eq!(audit(&api, "&action=session.sign-out").await.len(), 1);
    assert_eq!(audit(&api, "&action=sync.trigger").await.len(), 2);

    // The command line: a trigger and a token's life.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"))
            .args(args)
            .envs(env.product_env())
            .output()
            .expect("the command runs")
    };
    let sync_arg = sync.to_string();
    assert!(cli(&["enqueue", "sync", &sync_arg]).status.success());
    let made = cli(&[
        "token",
        "create",
        "--project",
        "proj",
        "--role",
        "read",
        "--name",
        "temp",
    ]);
    assert!(made.status.success());
    let temp = env
        .store
        .auth
        .api_tokens()
        .await
        .expect("tokens")
        .into_iter()
        .find(|t| t.name == "temp")
        .expect("the new token");
    assert!(cli(&["token", "revoke", &temp.id.to_string()])
        .status
        .success());
    let by_cli = audit(&api, "&actor=cli").await;
    let actions: Vec<&str> = by_cli.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        vec!["token.revoke", "token.create", "sync.trigger"]
    );
    assert_eq!(by_cli[1]["target"]["id"], json!(temp.id));

    // Deletes, last.
    assert_eq!(api.delete(&path).await.0, 200);
    assert_eq!(
        api.delete(&format!("/api/v1/app-connections/humanitec/{conn_id}"))
            .await
            .0,
        200
    );
    let entries = audit(&api, "").await;
    one(&entries, "sync.delete");
    one(&entries, "connection.delete");
    // Filters: by target and time.
    let on_sync = audit(&api, &format!("&target={sync}")).await;
    assert!(on_sync.iter().all(|e| e["target"]["id"] == json!(sync)));
    assert!(on_sync.len() >= 8, "{on_sync:#?}");
    assert!(audit(&api, "&since=2999-01-01T00:00:00Z").await.is_empty());

    // Nothing names a value, and another project's token sees none of it.
    assert!(
        !text(&json!(entries)).contains("s3cr3t-v") && !text(&json!(entries)).contains(ADMIN_TOKEN)
    );
    let stranger = env.api_token(&["other-proj"], "write").await;
    let them = api.with_token(Some(&stranger));
    let (status, _) = them.get("/api/v1/audit-logs?projectId=proj").await;
    assert_eq!(status, 403);
    let (status, body) = them.get("/api/v1/audit-logs?projectId=other-proj").await;
    assert_eq!(status, 200);
    assert_eq!(body["auditLogs"], json!([]), "{body}");
    let (status, _) = them.get("/api/v1/audit-logs").await;
    assert_eq!(status, 400, "a project token names its project");
    env.finish().await;
}

#[tokio::test]
async fn old_entries_go_after_the_retention() {
    let env = TestEnv::new().await;
    env.store
        .audit
        .record_audit(
            &secret_sync::model::AuditEntry::new(secret_sync::model::Actor::Cli, "probe", "probe")
                .project("proj"),
        )
        .await
        .expect("write");
    env.seed
        .execute_sql("UPDATE audit_log SET at = now() - interval '1 hour'")
        .await;
    let gone = env
        .store
        .audit
        .delete_old_audit(std::time::Duration::from_secs(1), 500)
        .await
        .expect("delete");
    assert_eq!(gone, 1);
    let left = env.seed.numbers("SELECT count(*) FROM audit_log").await;
    assert_eq!(left, vec![0.0]);
    env.finish().await;
}
