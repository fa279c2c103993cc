//! The API process as Kubernetes and Prometheus use it, run as its
//! manifests declare it (`deploy/k8s/api.yaml`: readiness on `/readyz` of
//! the API's port, metrics on `HTTP_LISTEN`): probes that answer, request
//! metrics by route template, an access-log line per request, a proxy's
//! request id kept, rate-limit rejections counted, and the live dashboard
//! sessions as a gauge that follows sign-in and sign-out.

use std::time::Duration;

use secret_sync_testkit::*;
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_its_probes_counts_requests_by_route_and_logs_each_one() {
    let env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    let (broker_proxy, amqp_url) = Proxy::in_front_of(&env.settings.amqp_url).await;
    let log = std::env::temp_dir().join(format!("probes-{}.log", uuid::Uuid::new_v4()));
    let api = WorkerProcess::spawn_with(
        EXE,
        &["api"],
        &env.settings,
        &[
            ("AMQP_URL", amqp_url),
            ("LOG_FORMAT", "json".into()),
            // A trigger limit to hit; the session gauge read at each scrape.
            ("RATE_LIMIT_TRIGGERS", "1/s,2".into()),
            ("METRICS_REFRESH", "100ms".into()),
        ],
        &log,
    );
    // Readiness on the API's own port (what the manifest probes) and on
    // HTTP_LISTEN, with what is ready.
    api.wait_ready_status(200, Duration::from_secs(30)).await;
    let (status, body) = http_get(api.health, "/readyz")
        .await
        .expect("HTTP_LISTEN answers");
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        ready,
        serde_json::json!({"database": true, "migrations": true, "broker": true})
    );
    // Metrics are not on the API's port (tenants reach it).
    assert_eq!(api.get("/metrics").await.map(|(s, _)| s), Some(404));

    let token = env.api_token(&[&src.project], "read").await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", api.http);
    let list = format!(
        "{base}/api/v1/secret-syncs/humanitec?projectId={}",
        src.project
    );
    for _ in 0..3 {
        let r = http
            .get(&list)
            .bearer_auth(&token)
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status().as_u16(), 200);
    }
    let missing = format!(
        "{base}/api/v1/secret-syncs/humanitec/{}",
        uuid::Uuid::new_v4()
    );
    let r = http
        .get(&missing)
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status().as_u16(), 404);
    // A proxy's plain request id is kept and echoed; anything else is
    // replaced by one of ours.
    let r = http
        .get(&list)
        .bearer_auth(&token)
        .header("x-request-id", "proxy-4bf92f35.77b3:4da6")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.headers()["x-request-id"], "proxy-4bf92f35.77b3:4da6");
    let r = http
        .get(&list)
        .bearer_auth(&token)
        .header("x-request-id", "a b/../%2e")
        .send()
        .await
        .expect("answer");
    let replaced = r.headers()["x-request-id"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(replaced.starts_with("req-"), "{replaced}");

    let (status, text) = http_get(api.health, "/metrics").await.expect("metrics");
    assert_eq!(status, 200);
    let m = metric_series(&text);
    let get = |s: &str| m.get(s).copied().unwrap_or(0.0);
    assert_eq!(
        get("secret_sync_http_requests_total{method=\"GET\",route=\"/api/v1/secret-syncs/humanitec\",status=\"200\"}"),
        5.0,
        "{text}"
    );
    assert_eq!(
        get("secret_sync_http_requests_total{method=\"GET\",route=\"/api/v1/secret-syncs/humanitec/{syncId}\",status=\"404\"}"),
        1.0,
        "counted by template, never by the id a caller sent: {text}"
    );
    assert!(
        !text.contains(&missing[base.len()..]),
        "no caller path in the metrics"
    );
    assert_eq!(
        get("secret_sync_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/secret-syncs/humanitec\"}"),
        5.0
    );
    assert_eq!(
        get(&format!(
            "secret_sync_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert!(
        get("secret_sync_process_resident_memory_bytes") > 1e6,
        "{text}"
    );
    assert!(get("secret_sync_process_open_fds") > 3.0, "{text}");

    // One access-log line per request: route template, status, duration,
    // the request id; never the token.
    let lines = eventually(Duration::from_secs(10), || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "access")
            .collect();
        seen(lines, |l| l.len() >= 6)
    })
    .await;
    let kept = lines
        .iter()
        .find(|l| l["fields"]["reqId"] == "proxy-4bf92f35.77b3:4da6")
        .unwrap_or_else(|| panic!("the kept id is logged: {lines:#?}"));
    assert_eq!(kept["fields"]["route"], "/api/v1/secret-syncs/humanitec");
    assert_eq!(kept["fields"]["status"], 200);
    assert!(kept["fields"]["duration_ms"].is_u64(), "{kept}");
    let all = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!all.contains(&token), "a token reached the log");

    // Rate-limit rejections: counted by limit, one per 429 answered.
    let writer = env.api_token(&[&src.project], "write").await;
    let trigger = format!("{base}/api/v1/secret-syncs/humanitec/{sync}/sync-secrets");
    let mut refused = 0;
    for _ in 0..6 {
        let r = http
            .post(&trigger)
            .bearer_auth(&writer)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("answer");
        match r.status().as_u16() {
            429 => refused += 1,
            s => assert!((200..300).contains(&s), "trigger answered {s}"),
        }
    }
    assert!(refused >= 1, "six triggers at 1/s with a burst of 2");
    let (_, text) = http_get(api.health, "/metrics").await.expect("metrics");
    let m = metric_series(&text);
    assert_eq!(
        m.get("secret_sync_rate_limited_total{limit=\"triggers\"}")
            .copied(),
        Some(f64::from(refused)),
        "{text}"
    );
    assert!(!text.contains(&writer), "no token in the metrics");

    // Live dashboard sessions (counted in Postgres, so every replica
    // agrees): n, n + 1 after a sign-in, n again after the sign-out.
    let sessions = || async {
        let (_, text) = http_get(api.health, "/metrics").await.expect("metrics");
        metric_series(&text)
            .get("secret_sync_dashboard_sessions")
            .copied()
            .ok_or(format!("no session gauge: {text}"))
    };
    let before = eventually(Duration::from_secs(10), &sessions).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = dashboard_sign_in(&browser, &base, &token).await;
    eventually(Duration::from_secs(10), || async {
        seen(sessions().await?, |n| *n == before + 1.0)
    })
    .await;
    let page = browser
        .get(format!("{base}/syncs/{sync}"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let out = browser
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .form(&[("csrf", csrf_token(&page))])
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status().as_u16(), 303);
    eventually(Duration::from_secs(10), || async {
        seen(sessions().await?, |n| *n == before)
    })
    .await;

    // The broker gone: not ready, and the body says which.
    broker_proxy.cut();
    api.wait_ready_status(503, Duration::from_secs(15)).await;
    let (_, body) = api.get("/readyz").await.expect("answers");
    let ready: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(ready["broker"], false, "{body}");
    assert_eq!(ready["database"], true, "{body}");
    broker_proxy.restore();
    api.wait_ready_status(200, Duration::from_secs(60)).await;
    api.remove_log();
    drop(api);
    env.finish().await;
}
