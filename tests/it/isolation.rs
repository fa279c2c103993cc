//! One rule, everywhere (issue 19): every route of the API and the
//! dashboard, walked from the router's own table, answers a token of
//! another project, a read token, a revoked token, an expired dashboard
//! session and no credentials as the rules say, and nothing a project's
//! caller receives names, ids or counts another project's syncs. Plus the
//! places that used to leak: dead letters, `/overview`, and the conflict
//! guard's messages.

use std::collections::{BTreeSet, HashMap};

use reqwest::{Method, StatusCode};
use secret_sync::web::{route_table, Area, RouteInfo};
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};
use uuid::Uuid;

/// Project B's distinctive names: no response to project A may hold them.
const B_PROJECT: &str = "bravo-proj-q7";
const B_SYNC: &str = "bravo-hidden-sync-q7";
const B_CONN: &str = "bravo-hidden-conn-q7";
const SYNCS: &str = "/api/v1/secret-syncs/humanitec";

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    Revoked,
    /// A write token of project A, aimed at project B's ids.
    Foreign,
    /// A write token of project A, aimed at ids that do not exist.
    Missing,
    /// A read token of project A, aimed at A's own ids.
    Reader,
    /// A live write token of project A whose dashboard session has
    /// expired; the session cookie alone is sent (the API takes none).
    Expired,
}

/// What a request to one route carries: JSON body, or form fields for the
/// dashboard's POSTs. `None`: the route is missing from this table.
#[derive(Clone, Debug)]
enum Payload {
    Nothing,
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

/// The ids a request is aimed at.
struct Target {
    project: String,
    sync: String,
    connection: String,
    dead: String,
    /// For the look-ups by name (issue 20).
    sync_name: String,
    connection_name: String,
    /// A job of `sync` (issue 23's job history).
    job: String,
    /// A notification channel of the project (issue 22).
    channel: String,
}

/// The table: every route the router mounts must be here. A route added to
/// the router and not here fails the test with its name.
fn payload(route: &RouteInfo, t: &Target, csrf: &str) -> Option<Payload> {
    let m = route.method.as_str();
    let form = |extra: Vec<(&'static str, String)>| {
        let mut fields = vec![("csrf", csrf.to_string())];
        fields.extend(extra);
        Some(Payload::Form(fields))
    };
    match (m, route.path.as_str()) {
        ("GET", "/healthz" | "/api/openapi.json" | "/login")
        | ("GET", "/assets/dashboard.css" | "/assets/dashboard.js" | "/assets/theme.js") => {
            Some(Payload::Nothing)
        }
        ("POST", "/login") => Some(Payload::Form(vec![("token", "ssk_nothing".into())])),
        ("POST", "/logout") => form(vec![]),
        ("POST", "/api/v1/secret-syncs/humanitec") => Some(Payload::Json(json!({
            "name": "made-by-a-stranger",
            "projectId": t.project,
            "connectionId": t.connection,
            "environment": "production",
            "secretPath": "/app",
            "isAutoSyncEnabled": false,
            "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "ISO_{{secretKey}}"},
            "destinationConfig": app_scope("elsewhere"),
        }))),
        ("POST", "/api/v1/notification-channels") => Some(Payload::Json(json!({
            "projectId": t.project,
            "name": "made-by-a-stranger",
            "type": "webhook",
            "url": "https://203.0.113.10/hook",
        }))),
        ("POST", "/api/v1/app-connections/humanitec") => Some(Payload::Json(json!({
            "name": "made-by-a-stranger",
            "projectId": t.project,
            "method": "api-token",
            "credentials": {"apiToken": ADMIN_TOKEN},
        }))),
        ("GET", _) | ("DELETE", _) => Some(Payload::Nothing),
        ("PATCH", "/api/v1/notification-channels/{channelId}") => Some(Payload::Json(json!({
            "email": {
                "host": "smtp.example.com",
                "from": "stranger@example.com",
                "to": ["stranger@example.com"],
            },
        }))),
        ("PATCH", _) => Some(Payload::Json(
            json!({"description": "changed by a stranger"}),
        )),
        ("POST", p) if p.ends_with("/import-secrets") => Some(Payload::Json(
            json!({"importBehavior": "prioritize-source"}),
        )),
        ("POST", "/api/v1/secret-syncs/humanitec/check-destination") => {
            Some(Payload::Json(json!({
                "projectId": t.project,
                "destinationConfig": app_scope("web"),
            })))
        }
        ("POST", p) if p.ends_with("/sync-secrets") || p.ends_with("/remove-secrets") => {
            Some(Payload::Nothing)
        }
        ("POST", "/syncs/{id}/sync" | "/syncs/{id}/remove") => form(vec![]),
        ("POST", "/syncs/{id}/import") => form(vec![("behavior", "prioritize-source".into())]),
        ("POST", "/dead/requeue" | "/dead/discard") => form(vec![("which", t.dead.clone())]),
        ("POST", "/syncs/{id}/auto-sync") => form(vec![("enabled", "off".into())]),
        ("POST", "/syncs/{id}/delete") => form(vec![("keys", "keep".into())]),
        // The view of a project: another project's answers as a missing one.
        ("POST", "/retry-failed") => form(vec![("project", t.project.clone())]),
        // Pauses (issue 41): a connection's, and the instance's (admin).
        ("POST", p) if p.ends_with("/pause") && route.area == Area::Api => {
            Some(Payload::Json(json!({"reason": "paused by a stranger"})))
        }
        ("POST", p) if p.ends_with("/resume") && route.area == Area::Api => Some(Payload::Nothing),
        ("POST", p) if p.ends_with("/pause") => {
            form(vec![("reason", "paused by a stranger".into())])
        }
        ("POST", p) if p.ends_with("/resume") => form(vec![]),
        ("POST", "/channels/{channelId}/password") => {
            form(vec![("password", "set-by-a-stranger".into())])
        }
        _ => None,
    }
}

/// The path with its placeholders filled, and the list's `projectId`.
fn url(route: &RouteInfo, t: &Target) -> String {
    let mut path = route
        .path
        .replace("{syncId}", &t.sync)
        .replace("{id}", &t.sync)
        .replace("{connectionId}", &t.connection)
        .replace("{syncName}", &t.sync_name)
        .replace("{connectionName}", &t.connection_name)
        .replace("{jobId}", &t.job)
        .replace("{channelId}", &t.channel);
    assert!(
        !path.contains('{'),
        "{} {}: a path parameter this test does not know; add it to `url`",
        route.method,
        route.path
    );
    if route.area == Area::Api && route.method == Method::GET && !route.path.contains('{') {
        path.push_str(&format!("?projectId={}", t.project));
    }
    // A name is asked in the caller's own project: another project's sync
    // name there answers like a name that does not exist.
    if route.path.contains("{syncName}") {
        path.push_str("?projectId=proj");
    }
    path
}

fn has_id(route: &RouteInfo) -> bool {
    route.path.contains('{')
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

struct World {
    base: String,
    http: reqwest::Client,
    a_writer: String,
    a_reader: String,
    revoked: String,
    expired: String,
    admin: String,
    /// Each token's dashboard session cookie (`name=value`).
    sessions: HashMap<String, String>,
    a: Target,
    b: Target,
    a_missing: Target,
}

impl World {
    fn session(&self, token: &str) -> &str {
        self.sessions
            .get(token)
            .map(String::as_str)
            .expect("every token signed in")
    }

    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Nobody => None,
            Who::Revoked => Some(&self.revoked),
            Who::Foreign | Who::Missing => Some(&self.a_writer),
            Who::Reader => Some(&self.a_reader),
            Who::Expired => Some(&self.expired),
        }
    }

    fn target(&self, who: Who) -> &Target {
        match who {
            Who::Foreign => &self.b,
            Who::Missing => &self.a_missing,
            _ => &self.a,
        }
    }

    async fn csrf(&self, token: &str) -> String {
        let page = self.page(token, "/").await;
        csrf_token(&page)
    }

    async fn page(&self, token: &str, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.session(token))
            .bearer_auth(token)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("body")
    }

    async fn call(&self, route: &RouteInfo, who: Who, csrf: &str) -> (String, Answer) {
        let t = self.target(who);
        let payload = payload(route, t, csrf).unwrap_or_else(|| {
            panic!(
                "{} {} is mounted but missing from the isolation table (`payload`): \
                 say what a request to it carries",
                route.method, route.path
            )
        });
        let path = url(route, t);
        let mut req = self
            .http
            .request(route.method.clone(), format!("{}{path}", self.base));
        if let Some(token) = self.token(who) {
            req = match route.area {
                Area::Api if who == Who::Expired => req.header("cookie", self.session(token)),
                Area::Api => req.bearer_auth(token),
                // Signing out ends the session it is sent with: spend a
                // fresh one, not the one the rest of the sweep uses.
                _ if route.path == "/logout" && !matches!(who, Who::Revoked) => req.header(
                    "cookie",
                    dashboard_sign_in(&self.http, &self.base, token).await,
                ),
                _ => req.header("cookie", self.session(token)),
            };
        }
        let mut sent = path.clone();
        req = match payload {
            Payload::Nothing => req,
            Payload::Json(v) => {
                sent.push_str(&v.to_string());
                req.json(&v)
            }
            Payload::Form(f) => {
                sent.push_str(&format!("{f:?}"));
                req.form(&f)
            }
        };
        let response = req.send().await.expect("request");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await.expect("body");
        (
            sent,
            Answer {
                status,
                location,
                body,
            },
        )
    }
}

/// A body with the request id and the asked-for id taken out, to compare
/// "another project's id" with "an id that does not exist".
fn normalised(body: &str, ids: &[&str]) -> String {
    let mut text = body.to_string();
    if let Ok(mut v) = serde_json::from_str::<Value>(body) {
        if let Some(o) = v.as_object_mut() {
            o.remove("reqId");
        }
        text = v.to_string();
    }
    for id in ids {
        text = text.replace(id, "<id>");
    }
    // Pages carry their request id too (`req-` and 32 hex digits).
    while let Some(at) = text.find("req-") {
        let id = at + 4..at + 36;
        let hex = text
            .as_bytes()
            .get(id.clone())
            .is_some_and(|b| b.iter().all(u8::is_ascii_hexdigit));
        if !hex {
            break;
        }
        text.replace_range(at..id.end, "<req>");
    }
    text
}

/// Fails if `body` (an answer to project A's caller) names project B.
fn assert_no_leak(route: &RouteInfo, who: Who, sent: &str, body: &str, b: &Target, extra: &[&str]) {
    let mut secrets = vec![
        B_SYNC,
        B_CONN,
        B_PROJECT,
        b.sync.as_str(),
        b.connection.as_str(),
    ];
    secrets.extend_from_slice(extra);
    // What the caller itself sent (an id in the path) may be echoed.
    for s in secrets.into_iter().filter(|s| !sent.contains(s)) {
        assert!(
            !body.contains(s),
            "{} {} as {who:?} leaks `{s}` (another project's, or instance-wide): {body}",
            route.method,
            route.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_shows_a_caller_only_its_own_projects() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    env.start_worker().await;
    // Destinations the creates below name (each is read at create).
    for app in ["elsewhere", "b-one"] {
        env.add_humanitec_app(app, &["production"]);
    }

    // Project A ("proj") and project B, both writing to app `web` with the
    // default key schema: the conflict guard trips on A's sync.
    let a_src = env.source("production", &[("DB_URL", "a")]).await;
    let a_sync = env.sync(&a_src, "alpha", app_scope("web"), options()).await;
    env.seed.create_project(B_PROJECT, "Bravo").await;
    let b_folder = env
        .seed
        .create_folder(B_PROJECT, "production", "/app")
        .await;
    let b_conn = env
        .seed
        .create_connection(B_PROJECT, B_CONN, ADMIN_TOKEN)
        .await;
    let b_sync = env
        .seed
        .create_sync(
            B_PROJECT,
            B_SYNC,
            b_folder,
            b_conn,
            &app_scope("web"),
            &options(),
        )
        .await;
    // More failed syncs in B than in A: a count of B's would show.
    for app in ["b-one", "b-two", "b-three"] {
        env.seed
            .create_sync(
                B_PROJECT,
                &format!("{B_SYNC}-{app}"),
                b_folder,
                b_conn,
                &app_scope(app),
                &options(),
            )
            .await;
    }
    env.seed
        .execute_sql(&format!(
            "UPDATE secret_syncs SET sync_status = 'failed' WHERE project_id = '{B_PROJECT}'"
        ))
        .await;

    // A finished job of B's sync, for the job page (seeded, never queued).
    let b_job = Uuid::new_v4();
    env.seed
        .execute_sql(&format!(
            "INSERT INTO secret_sync_jobs (id, sync_id, type, status, message, finished_at)
             VALUES ('{b_job}', '{b_sync}', 'sync', 'failed', 'B failed', now())"
        ))
        .await;

    // The conflict guard at run time names no sync of B.
    let job = env.wait_job(env.enqueue(a_sync).await).await;
    assert_eq!(job.status, JobStatus::Failed);
    // Worker ids are instance-wide: for admins only.
    let worker = job.worker_id.clone().expect("the job ran on a worker");
    let message = job.message.unwrap_or_default();
    assert!(message.contains("another project"), "{message}");
    assert!(
        !message.contains(B_SYNC) && !message.contains(&b_sync.to_string()),
        "{message}"
    );

    let a_job = job.id;
    let channel_of = |project: &'static str| {
        let store = env.store.clone();
        let at = secret_sync::crypto::Aad::new(project, secret_sync::crypto::Column::ChannelUrl);
        let url = env.cipher().encrypt_str("https://203.0.113.10/hook", at);
        async move {
            match store
                .outbox
                .insert_channel(project, "hook", "slack", &url, None, &[])
                .await
                .expect("channel")
            {
                secret_sync::store::Written::Done(c) => c.id,
                other => panic!("channel: {other:?}"),
            }
        }
    };
    let a_channel = channel_of("proj").await;
    let b_channel = channel_of(B_PROJECT).await;

    // Dead letters: one of A's jobs, one of B's, and one naming nobody.
    let a_dead = env.publish_dead_job(a_sync).await;
    let b_dead = env.publish_dead_job(b_sync).await;
    let poison = Uuid::new_v4();
    env.publish(
        &env.names.dead_exchange(),
        "sync",
        b"\x00 not json at all",
        TestEnv::job_properties(poison, &[("x-secret-sync-dead-reason", "not JSON")]),
    )
    .await;

    // An event of project B, attributed by its `projectId`.
    let b_event = Uuid::new_v4();
    let event =
        format!(r#"{{"projectId":"{B_PROJECT}","environment":"production","secretPath":"/app"}}"#);
    env.publish(
        &env.names.dead_exchange(),
        "secret.changed",
        event.as_bytes(),
        TestEnv::job_properties(b_event, &[("x-secret-sync-dead-reason", "test")]),
    )
    .await;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // The revoked token had a dashboard session open: revoking ends it.
    let revoked = env.api_token(&["proj"], "write").await;
    let mut sessions = HashMap::new();
    sessions.insert(
        revoked.clone(),
        dashboard_sign_in(&http, &base, &revoked).await,
    );
    let newest = env.store.auth.api_tokens().await.expect("tokens")[0].id;
    assert!(env
        .store
        .auth
        .revoke_api_token(newest, &[])
        .await
        .expect("revoke"));
    // A live token whose session ran past its end.
    let expired = env.api_token(&["proj"], "write").await;
    sessions.insert(
        expired.clone(),
        dashboard_sign_in(&http, &base, &expired).await,
    );
    let newest = env.store.auth.api_tokens().await.expect("tokens")[0].id;
    env.seed
        .execute_sql(&format!(
            "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'
              WHERE token_id = '{newest}'"
        ))
        .await;
    let a_writer = env.api_token(&["proj"], "write").await;
    let a_reader = env.api_token(&["proj"], "read").await;
    let admin = env.api_token(&[], "admin").await;
    for token in [&a_writer, &a_reader, &admin] {
        sessions.insert(token.clone(), dashboard_sign_in(&http, &base, token).await);
    }
    let (_, a_conn) = env
        .store
        .syncs
        .connection_api_json(a_src.connection)
        .await
        .expect("read")
        .expect("A's connection");
    let a_conn_name = a_conn["name"].as_str().expect("name").to_string();
    let world = World {
        base: base.clone(),
        http,
        a_writer,
        a_reader,
        revoked,
        expired,
        admin,
        sessions,
        a: Target {
            project: "proj".into(),
            sync: a_sync.to_string(),
            connection: a_src.connection.to_string(),
            dead: a_dead.to_string(),
            sync_name: "alpha".into(),
            connection_name: a_conn_name,
            job: a_job.to_string(),
            channel: a_channel.to_string(),
        },
        b: Target {
            project: B_PROJECT.into(),
            sync: b_sync.to_string(),
            connection: b_conn.to_string(),
            dead: b_dead.to_string(),
            sync_name: B_SYNC.into(),
            connection_name: B_CONN.into(),
            job: b_job.to_string(),
            channel: b_channel.to_string(),
        },
        a_missing: Target {
            project: "proj".into(),
            sync: Uuid::new_v4().to_string(),
            connection: Uuid::new_v4().to_string(),
            dead: Uuid::new_v4().to_string(),
            sync_name: "no-such-sync-q7".into(),
            connection_name: "no-such-conn-q7".into(),
            job: Uuid::new_v4().to_string(),
            channel: Uuid::new_v4().to_string(),
        },
    };
    let b_dead_text = b_dead.to_string();
    let poison_text = poison.to_string();
    let b_event_text = b_event.to_string();
    let not_for_a = [
        b_dead_text.as_str(),
        b_event_text.as_str(),
        poison_text.as_str(),
        worker.as_str(),
    ];

    // The table covers what the router mounts, and the router mounts every
    // operation of the served API document.
    let routes = route_table();
    let mounted: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    let document: Value = world
        .http
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("json");
    for (path, ops) in document["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            let method = method.to_uppercase();
            if ["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method.as_str()) {
                assert!(
                    mounted.contains(&(method.clone(), path.clone())),
                    "{method} {path} is documented but not in the route table"
                );
            }
        }
    }
    assert!(routes.iter().any(|r| r.area == Area::Dashboard));

    let a_csrf = world.csrf(&world.a_writer).await;
    let reader_csrf = world.csrf(&world.a_reader).await;
    for route in &routes {
        for who in [
            Who::Nobody,
            Who::Revoked,
            Who::Expired,
            Who::Foreign,
            Who::Reader,
        ] {
            let csrf = if who == Who::Reader {
                &reader_csrf
            } else {
                &a_csrf
            };
            let (sent, got) = world.call(route, who, csrf).await;
            let what = format!(
                "{} {} as {who:?}: {} {}",
                route.method, route.path, got.status, got.body
            );
            assert!(!got.status.is_server_error(), "{what}");
            assert_no_leak(route, who, &sent, &got.body, &world.b, &not_for_a);
            match (route.area, who) {
                (Area::Public, _) => {}
                (Area::Api, Who::Nobody | Who::Revoked | Who::Expired) => {
                    assert_eq!(got.status, 401, "{what}")
                }
                (Area::Dashboard, Who::Nobody | Who::Revoked | Who::Expired) => {
                    assert_eq!(got.status, 303, "{what}");
                    assert_eq!(got.location, "/login", "{what}");
                }
                (_, Who::Foreign) if has_id(route) => {
                    // Exactly as an id that does not exist.
                    let (_, missing) = world.call(route, Who::Missing, &a_csrf).await;
                    assert_eq!(got.status, missing.status, "{what}");
                    let t = &world.a_missing;
                    let b = &world.b;
                    assert_eq!(
                        normalised(
                            &got.body,
                            &[
                                &b.sync,
                                &b.connection,
                                &b.sync_name,
                                &b.connection_name,
                                &b.job,
                                &b.channel
                            ]
                        ),
                        normalised(
                            &missing.body,
                            &[
                                &t.sync,
                                &t.connection,
                                &t.sync_name,
                                &t.connection_name,
                                &t.job,
                                &t.channel
                            ]
                        ),
                        "{what}"
                    );
                    assert!(
                        !got.status.is_success() && !got.status.is_redirection(),
                        "{what}"
                    );
                }
                (Area::Api, Who::Foreign) => assert_eq!(got.status, 403, "{what}"),
                (Area::Dashboard, Who::Foreign) => {
                    // Lists and dead letters: the caller's own only (checked
                    // by the leak check and below); B's letter not settled.
                    if route.method == Method::POST {
                        assert_eq!(got.status, 404, "B's letter is not found: {what}");
                    }
                }
                // GETs, and check-destination: a question, read role as in
                // Infisical (issue 39).
                (_, Who::Reader)
                    if route.method == Method::GET
                        || route.path.ends_with("/check-destination") =>
                {
                    assert!(![401, 403].contains(&got.status.as_u16()), "{what}")
                }
                (_, Who::Reader) => assert_eq!(got.status, 403, "{what}"),
                (_, Who::Missing) => unreachable!(),
            }
        }
    }

    // Nothing of B changed, nothing was queued for it.
    let b_row = env.store.syncs.load_sync(b_sync).await.expect("load");
    assert!(b_row.is_some(), "B's sync survived");
    let b_api = world
        .http
        .get(format!("{base}{SYNCS}/{b_sync}"))
        .bearer_auth(&world.admin)
        .send()
        .await
        .expect("admin get");
    assert_eq!(b_api.status(), 200, "an admin sees every project");
    let b_api: Value = b_api.json().await.expect("json");
    assert_eq!(b_api["secretSync"]["description"], Value::Null);
    let b_jobs: Vec<Uuid> = env
        .store
        .reads
        .recent_jobs(Some(b_sync), 5)
        .await
        .expect("jobs")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(b_jobs, vec![b_job], "only the seeded job of B");
    // B's sync is still failed and auto-synced (no retry, no toggle).
    let b_record = env
        .store
        .syncs
        .load_sync(b_sync)
        .await
        .expect("load")
        .expect("B's sync");
    assert!(b_record.is_auto_sync_enabled, "auto-sync left on");
    assert_eq!(
        env.sync_row(b_sync).await.sync_status,
        Some(JobStatus::Failed)
    );

    // The dead letters: A sees its own, an admin all of them.
    let a_dead_page = world.page(&world.a_writer, "/dead").await;
    assert!(a_dead_page.contains(&a_dead.to_string()), "{a_dead_page}");
    assert!(
        a_dead_page.contains("1 shown"),
        "A counts only its own: {a_dead_page}"
    );
    let admin_dead = world.page(&world.admin, "/dead").await;
    for id in [a_dead, b_dead, b_event, poison] {
        assert!(
            admin_dead.contains(&id.to_string()),
            "admin sees {id}: {admin_dead}"
        );
    }
    // A's "requeue all" requeues only A's letter.
    let requeue = world
        .http
        .post(format!("{base}/dead/requeue"))
        .header("cookie", world.session(&world.a_writer))
        .form(&[("csrf", a_csrf.as_str()), ("which", "all")])
        .send()
        .await
        .expect("requeue");
    assert_eq!(requeue.status(), 303);
    let flash = requeue
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(flash.ends_with("/dead?done=requeued&n=1"), "{flash}");
    // It runs again (and fails on the conflict again).
    let rerun = env.wait_job(a_dead).await;
    assert_eq!(rerun.status, JobStatus::Failed);
    let admin_dead = world.page(&world.admin, "/dead").await;
    assert!(!admin_dead.contains(&a_dead.to_string()), "{admin_dead}");
    for id in [b_dead, b_event, poison] {
        assert!(admin_dead.contains(&id.to_string()), "still dead: {id}");
    }

    // Overview: A's counts only; depths and workers for admins.
    let a_overview = world.page(&world.a_writer, "/overview?fragment=1").await;
    assert!(
        a_overview.contains(r#"id="count-failed">1<"#),
        "{a_overview}"
    );
    assert!(!a_overview.contains("delayed (retries)"), "{a_overview}");
    assert!(a_overview.contains("workers-admin-only"), "{a_overview}");
    let admin_overview = world.page(&world.admin, "/overview?fragment=1").await;
    assert!(
        admin_overview.contains(r#"id="count-failed">5<"#),
        "{admin_overview}"
    );
    assert!(
        admin_overview.contains("delayed (retries)"),
        "{admin_overview}"
    );
    assert!(
        admin_overview.contains(worker.as_str()),
        "the admin sees the worker that ran A's job: {admin_overview}"
    );
    // The jobs-per-minute chart counts A's jobs for A, every job for an admin.
    let hour = |project: Option<&str>| {
        format!(
            "SELECT count(*) FROM secret_sync_jobs j
              WHERE j.finished_at > date_trunc('minute', now()) - interval '59 minutes'
                AND ({} OR j.sync_id IN (SELECT id FROM secret_syncs WHERE project_id = '{}'))",
            project.is_none(),
            project.unwrap_or_default()
        )
    };
    let a_hour = env.seed.numbers(&hour(Some(&world.a.project))).await[0];
    let all_hour = env.seed.numbers(&hour(None)).await[0];
    assert!(0.0 < a_hour && a_hour < all_hour, "{a_hour} of {all_hour}");
    for (page, n) in [(&a_overview, a_hour), (&admin_overview, all_hour)] {
        assert!(
            page.contains(&format!("{n} jobs in the last hour")),
            "{n}: {page}"
        );
    }

    // The conflict guard in the previews and the API's 400.
    for path in [
        format!("{SYNCS}/{a_sync}/preview"),
        format!("/syncs/{a_sync}/preview"),
    ] {
        let body = world.page(&world.a_writer, &path).await;
        assert!(body.contains("another project"), "{path}: {body}");
        assert!(
            !body.contains(B_SYNC) && !body.contains(&b_sync.to_string()),
            "{path}: {body}"
        );
    }
    let create = world
        .http
        .post(format!("{base}{SYNCS}"))
        .bearer_auth(&world.a_writer)
        .json(&json!({
            "name": "alpha-2",
            "projectId": "proj",
            "connectionId": a_src.connection,
            "environment": "production",
            "secretPath": "/app",
            "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "ISO_{{secretKey}}"},
            // Only B's sync writes there.
            "destinationConfig": app_scope("b-one"),
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(create.status(), 400);
    let body = create.text().await.expect("body");
    assert!(body.contains("another project"), "{body}");
    assert!(
        !body.contains(B_SYNC) && !body.contains(&b_sync.to_string()),
        "{body}"
    );

    // The search (issue 41): a key name B's sync pushed lists none of B's
    // syncs, in the console or the API's `key` filter; B's job id pasted
    // into the search answers exactly as an id nobody has, A's opens A's job.
    env.seed
        .execute_sql(&format!(
            "INSERT INTO secret_sync_pushed_keys (sync_id, destination, key, fingerprint)
             VALUES ('{b_sync}', '{ORG}/web', 'DB_URL', '\\x00')"
        ))
        .await;
    let by_key = world.page(&world.a_writer, "/?q=DB_URL").await;
    assert!(by_key.contains("No syncs match."), "{by_key}");
    let api_by_key = world
        .page(
            &world.a_writer,
            &format!("{SYNCS}?projectId=proj&key=DB_URL"),
        )
        .await;
    assert_eq!(api_by_key, r#"{"secretSyncs":[]}"#);
    for body in [&by_key, &api_by_key] {
        for s in [B_SYNC, B_PROJECT, b_sync.to_string().as_str()] {
            assert!(!body.contains(s), "the key search leaks `{s}`: {body}");
        }
    }
    let searched = |id: String| {
        let world = &world;
        async move {
            let page = world.page(&world.a_writer, &format!("/?q={id}")).await;
            // The id, and as the list's links carry it (`-` as `%2D`).
            normalised(&page, &[id.as_str(), id.replace('-', "%2D").as_str()])
        }
    };
    let missing = searched(Uuid::new_v4().to_string()).await;
    assert_eq!(searched(b_job.to_string()).await, missing);
    assert_eq!(searched(b_sync.to_string()).await, missing);
    assert!(
        missing.contains("No job or sync with id <id> found"),
        "{missing}"
    );
    let opened = world
        .http
        .get(format!("{base}/?q={a_job}"))
        .header("cookie", world.session(&world.a_writer))
        .send()
        .await
        .expect("search");
    assert_eq!(opened.status(), 303);
    assert_eq!(
        opened
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some(format!("/jobs/{a_job}").as_str())
    );

    env.drain_dead_letters().await;
    env.finish().await;
}

/// `secret-sync token create --role admin` (the real binary): no project
/// needed, and none accepted; read and write tokens still need one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tokens_are_made_on_the_command_line_and_see_every_project() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    env.seed.create_project(B_PROJECT, "Bravo").await;
    let token_create = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_secret-sync"));
        cmd.args(["token", "create"])
            .args(args)
            .envs(env.product_env());
        cmd.output().expect("secret-sync runs")
    };
    let out = token_create(&["--role", "admin", "--name", "platform"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("instance-wide"), "{stderr}");
    let admin = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(admin.starts_with("ssk_"));

    for refused in [
        &["--role", "admin", "--project", "proj"][..],
        &["--role", "write"][..],
    ] {
        let out = token_create(refused);
        assert!(!out.status.success(), "{refused:?} must be refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--project"));
    }

    let list = reqwest::Client::new()
        .get(format!("{base}{SYNCS}?projectId={B_PROJECT}"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list");
    assert_eq!(list.status(), 200, "an admin reads any project");
    let tokens = env.store.auth.api_tokens().await.expect("tokens");
    assert_eq!(tokens.len(), 1, "refused tokens are not stored");
    assert_eq!(
        (tokens[0].role.as_str(), tokens[0].project_ids.len()),
        ("admin", 0)
    );
    env.finish().await;
}
