//! A server that holds, against the real `secret-sync api` binary: a flood
//! of connections dribbling their headers, or their bodies, does not lock a
//! normal client out and stays under the connection cap; a body that does
//! not arrive in time gets a 408 and its connection is closed; a burst of
//! triggers from one token gets 429s (never a 5xx) and folds into one
//! queued job of each type.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use secret_sync_testkit::{eventually, pace, TestEnv, WorkerProcess};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;
use tokio_util::sync::CancellationToken;

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");
const CAP: usize = 1024;
const SLOW_CLIENTS: usize = 2000;
/// The process's own descriptors beside connections: database pool (16),
/// broker, runtime, log (docs/security.md: `ulimit -n` above cap + 64).
const OWN_FILES: usize = 64;

/// Descriptors this test process needs beside its slow clients' sockets.
const TEST_FILES: u64 = 512;

/// Raises this process's soft limit on open files to `needed` (the API it
/// starts inherits it) if it is lower, up to the hard limit, with
/// util-linux's `prlimit`; fails saying what to do if it cannot.
fn ensure_open_file_limit(needed: u64) {
    let limits = || -> Option<(u64, u64)> {
        let text = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        let mut fields = line.split_whitespace().skip(3);
        let parse = |v: Option<&str>| match v? {
            "unlimited" => Some(u64::MAX),
            n => n.parse().ok(),
        };
        Some((parse(fields.next())?, parse(fields.next())?))
    };
    let Some((soft, hard)) = limits() else {
        return;
    };
    if soft >= needed {
        return;
    }
    let raised = needed.min(hard);
    let hard_text = if hard == u64::MAX {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    let _ = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={raised}:{hard_text}"))
        .status();
    let now = limits().map_or(0, |(soft, _)| soft);
    assert!(
        now >= needed,
        "this test needs {needed} open files, the soft limit is {now} (hard {hard_text}): \
         raise it (`ulimit -n {needed}`) and run again"
    );
    println!("raised the open-file limit from {soft} to {now}");
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

async fn start_api(env: &TestEnv, name: &str, extra: &[(&str, String)]) -> WorkerProcess {
    let log = std::env::temp_dir().join(format!("hostile-{name}-{}.log", uuid::Uuid::new_v4()));
    let api = WorkerProcess::spawn_with(EXE, &["api"], &env.settings, extra, &log);
    api.wait_status("/healthz", 200, Duration::from_secs(30))
        .await;
    api
}

/// Opens a connection and sends a request's head one byte a second until
/// `stop` (or the server closes it). Counts itself in `started` once its
/// first byte is out (or it was refused).
async fn slow_client(
    addr: std::net::SocketAddr,
    started: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    let head = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Padding: ";
    let mut stream = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(_) => {
            started.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut first = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for byte in head.iter().chain(std::iter::repeat(&b'x')) {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let sent = stream.write_all(&[*byte]).await;
        if first {
            started.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        if sent.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_headers_from_thousands_of_connections_do_not_lock_out_a_normal_client() {
    ensure_open_file_limit(SLOW_CLIENTS as u64 + TEST_FILES);
    let env = TestEnv::new().await;
    let api = start_api(
        &env,
        "slowloris",
        &[("HTTP_MAX_CONNECTIONS", CAP.to_string())],
    )
    .await;
    let pid = api.pid().expect("the API runs");
    let baseline = open_files(pid);
    let addr = api.http;

    let started = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let attack = tokio_util::task::TaskTracker::new();
    for _ in 0..SLOW_CLIENTS {
        attack.spawn(slow_client(addr, started.clone(), stop.clone()));
    }
    attack.close();
    eventually(Duration::from_secs(20), || async {
        let n = started.load(Ordering::Relaxed);
        if n == SLOW_CLIENTS {
            Ok(())
        } else {
            Err(format!("{n} of {SLOW_CLIENTS} slow clients started"))
        }
    })
    .await;
    let during = open_files(pid);
    println!(
        "open files: {baseline} before, {during} with {SLOW_CLIENTS} slow clients (cap {CAP})"
    );

    // A normal client, on fresh connections, several times over. Locked
    // out means no answer within a patient client's timeout; how fast it
    // answers is printed, not judged (a timing goal is a benchmark's).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    for path in ["/healthz", "/api/openapi.json", "/login"] {
        let begun = Instant::now();
        let answer = http.get(format!("http://{addr}{path}")).send().await;
        let took = begun.elapsed();
        println!("{path} answered in {took:?} under the flood");
        let status = answer.map(|r| r.status().as_u16());
        assert_eq!(status.as_ref().ok(), Some(&200), "{path}: {status:?}");
    }
    let after = open_files(pid);
    println!("open files after the normal client: {after}");
    for n in [during, after] {
        assert!(
            n <= CAP + OWN_FILES,
            "{n} open files; at most {} expected",
            CAP + OWN_FILES
        );
    }

    stop.cancel();
    attack.wait().await;
    api.remove_log();
    env.finish().await;
}

/// How a slow-body client dribbles: one byte of its body this often.
const BODY_BYTE_EVERY: Duration = Duration::from_secs(2);

/// Opens a connection, sends a whole `POST /login` head announcing a body
/// of 1,000 bytes (under the body limit, so the handler waits for it),
/// then one byte of the body every `BODY_BYTE_EVERY` until `stop`. Cut off
/// by the server (a write fails, or it answers), it counts the cut and
/// connects again: the pressure never lets up. Counts itself in `started`
/// once its first head is out (or its first connect was refused).
async fn slow_body_client(
    addr: std::net::SocketAddr,
    started: Arc<AtomicUsize>,
    cut: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    use tokio::io::AsyncReadExt as _;
    let head = b"POST /login HTTP/1.1\r\nHost: slow\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntoken=";
    let mut first = true;
    let mut tick = tokio::time::interval(BODY_BYTE_EVERY);
    while !stop.is_cancelled() {
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            c = tokio::net::TcpStream::connect(addr) => c,
        };
        let sent = match connected {
            Ok(mut stream) => match stream.write_all(head).await {
                Ok(()) => Some(stream),
                Err(_) => None,
            },
            Err(_) => None,
        };
        if first {
            started.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        let Some(mut stream) = sent else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => continue,
            }
        };
        let (mut reader, mut writer) = stream.split();
        let mut answer = [0u8; 64];
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // Any answer (a 408) or a close ends this connection.
                _ = reader.read(&mut answer) => break,
                _ = tick.tick() => {
                    if writer.write_all(b"x").await.is_err() {
                        break;
                    }
                }
            }
        }
        cut.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_bodies_from_thousands_of_connections_do_not_lock_out_a_normal_client() {
    ensure_open_file_limit(SLOW_CLIENTS as u64 + TEST_FILES);
    let env = TestEnv::new().await;
    // A body deadline longer than the test: what lets the normal client in
    // is the cap closing connections still sending their bodies.
    let api = start_api(
        &env,
        "slow-bodies",
        &[
            ("HTTP_MAX_CONNECTIONS", CAP.to_string()),
            ("HTTP_BODY_READ_TIMEOUT", "5m".to_string()),
            ("HTTP_REQUEST_TIMEOUT", "5m".to_string()),
        ],
    )
    .await;
    let pid = api.pid().expect("the API runs");
    let baseline = open_files(pid);
    let addr = api.http;

    let flood_begun = Instant::now();
    let started = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let attack = tokio_util::task::TaskTracker::new();
    for _ in 0..SLOW_CLIENTS {
        attack.spawn(slow_body_client(
            addr,
            started.clone(),
            cut.clone(),
            stop.clone(),
        ));
    }
    attack.close();
    eventually(Duration::from_secs(20), || async {
        let n = started.load(Ordering::Relaxed);
        if n == SLOW_CLIENTS {
            Ok(())
        } else {
            Err(format!("{n} of {SLOW_CLIENTS} slow-body clients started"))
        }
    })
    .await;
    // The server is at its cap, and past it the newest heads closed the
    // oldest slow bodies.
    eventually(Duration::from_secs(20), || async {
        let (n, files) = (cut.load(Ordering::Relaxed), open_files(pid));
        if n > 0 && files >= CAP {
            Ok(())
        } else {
            Err(format!(
                "{n} slow-body connections closed, {files} open files (cap {CAP})"
            ))
        }
    })
    .await;
    let during = open_files(pid);
    println!(
        "open files: {baseline} before, {during} with {SLOW_CLIENTS} slow-body clients (cap {CAP}), \
         {} slow-body connections closed by the server so far, {:?} into the flood",
        cut.load(Ordering::Relaxed),
        flood_begun.elapsed()
    );

    // A normal client, on fresh connections: pages, and a whole body.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    for path in ["/healthz", "/api/openapi.json", "/login"] {
        let begun = Instant::now();
        let answer = http.get(format!("http://{addr}{path}")).send().await;
        println!(
            "{path} answered in {:?} under the slow-body flood",
            begun.elapsed()
        );
        let status = answer.map(|r| r.status().as_u16());
        assert_eq!(status.as_ref().ok(), Some(&200), "{path}: {status:?}");
    }
    let begun = Instant::now();
    let answer = http
        .post(format!("http://{addr}/login"))
        .form(&[("token", "not-a-token")])
        .send()
        .await;
    println!(
        "POST /login answered in {:?} under the slow-body flood",
        begun.elapsed()
    );
    let status = answer.map(|r| r.status().as_u16());
    assert_eq!(status.as_ref().ok(), Some(&401), "POST /login: {status:?}");

    let after = open_files(pid);
    println!(
        "open files after the normal client: {after}; {} slow-body connections closed in all",
        cut.load(Ordering::Relaxed)
    );
    for n in [during, after] {
        assert!(
            n <= CAP + OWN_FILES,
            "{n} open files; at most {} expected",
            CAP + OWN_FILES
        );
    }
    stop.cancel();
    attack.wait().await;
    println!("the slow-body flood lasted {:?}", flood_begun.elapsed());
    api.remove_log();
    env.finish().await;
}

/// Sends `head` (and whatever body it carries), then reads the answer to
/// the end (the server closes); the answer and how long it took.
async fn answer_after(
    addr: std::net::SocketAddr,
    head: &str,
    rest: Option<(Duration, &str)>,
) -> (String, Duration) {
    use tokio::io::AsyncReadExt as _;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    let begun = Instant::now();
    if let Some((after, rest)) = rest {
        // A slow client on purpose: silent for `after`, then the rest.
        pace::hold(after).await;
        stream.write_all(rest.as_bytes()).await.expect("write");
    }
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the server answers and closes")
        .expect("read");
    (String::from_utf8_lossy(&raw).into_owned(), begun.elapsed())
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes() {
    let env = TestEnv::new().await;
    let api = start_api(
        &env,
        "body-timeout",
        &[("HTTP_BODY_READ_TIMEOUT", "1s".to_string())],
    )
    .await;
    let form = |length: usize, close: &str| {
        format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {length}\r\n{close}\r\n"
        )
    };
    // 100 bytes announced, 6 sent, keep-alive asked for: 408 once the
    // deadline passed, and the server closes the connection.
    let (text, took) = answer_after(api.http, &format!("{}token=", form(100, "")), None).await;
    println!(
        "an unfinished body: {:?} after {took:?}",
        text.lines().next()
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // A slow body that arrives within the deadline is answered as usual
    // (a wrong token: 401).
    let body = "token=not-a-token";
    let (first, last) = body.split_at(6);
    let (text, took) = answer_after(
        api.http,
        &format!("{}{first}", form(body.len(), "Connection: close\r\n")),
        Some((Duration::from_millis(300), last)),
    )
    .await;
    println!(
        "a slow body in time: {:?} after {took:?}",
        text.lines().next()
    );
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");

    // A request without a body is answered as before.
    let (text, _) = answer_after(
        api.http,
        "GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        None,
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    api.remove_log();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_triggers_from_one_token_gets_429s_and_one_queued_job_of_each_type() {
    let env = TestEnv::new().await;
    let (src, sync) = env.one_sync().await;
    let token = env.api_token(&[&src.project], "write").await;
    let api = start_api(&env, "burst", &[]).await;
    let url = |action: &str| {
        format!(
            "http://{}/api/v1/secret-syncs/humanitec/{sync}/{action}",
            api.http
        )
    };
    // Sync, import and remove triggers, interleaved.
    let triggers = [
        (url("sync-secrets"), json!({})),
        (
            url("import-secrets"),
            json!({"importBehavior": "prioritize-source"}),
        ),
        (url("remove-secrets"), json!({})),
    ];
    let http = reqwest::Client::new();
    const BURST: usize = 5000;
    let begun = Instant::now();
    let answers: Vec<(u16, Option<String>, Value)> = futures::stream::iter(0..BURST)
        .map(|i| {
            let (url, body) = &triggers[i % triggers.len()];
            let req = http.post(url).bearer_auth(&token).json(body).send();
            async move {
                let resp = req.await.expect("the API answers");
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = resp.json::<Value>().await.unwrap_or(Value::Null);
                (status, retry_after, body)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let count = |s: u16| answers.iter().filter(|(st, _, _)| *st == s).count();
    println!(
        "{BURST} triggers in {:?}: {} accepted, {} refused with 429",
        begun.elapsed(),
        count(200),
        count(429)
    );
    let unexpected: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| !matches!(s, 200 | 429))
        .take(3)
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert!(count(200) >= 1 && count(429) >= 1);
    for (_, retry_after, body) in answers.iter().filter(|(s, _, _)| *s == 429).take(20) {
        let secs: u64 = retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in whole seconds");
        assert!(secs >= 1);
        // The seed's error body.
        let keys: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 4, "{body}");
        assert_eq!(body["statusCode"], 429, "{body}");
        assert_eq!(body["error"], "RateLimitExceeded", "{body}");
        assert!(body["reqId"]
            .as_str()
            .is_some_and(|r| r.starts_with("req-")));
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // No worker runs: the accepted triggers of each type folded into one
    // pending job of that type.
    let (pending, markers) = pending_jobs(&env, sync).await;
    println!("pending jobs by type: {pending:?}, queued markers: {markers}");
    assert!(
        pending.iter().all(|(_, n)| *n <= 1) && markers <= 3,
        "{pending:?} pending, {markers} queued"
    );
    api.remove_log();
    env.finish().await;
}

/// Pending job rows by type, and coalescing markers, of `sync`.
async fn pending_jobs(env: &TestEnv, sync: uuid::Uuid) -> (Vec<(String, i64)>, i64) {
    let client = env.sql().await;
    let pending = client
        .query(
            "SELECT type, count(*) FROM secret_sync_jobs
              WHERE sync_id = $1 AND status = 'pending' GROUP BY type",
            &[&sync],
        )
        .await
        .expect("pending jobs")
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    let markers = client
        .query_one(
            "SELECT count(*) FROM secret_sync_queued WHERE sync_id = $1",
            &[&sync],
        )
        .await
        .expect("markers")
        .get::<_, i64>(0);
    (pending, markers)
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_no_error_echoes_credentials() {
    let env = TestEnv::new().await;
    env.seed.create_project("proj", "Proj").await;
    let token = env.api_token(&["proj"], "write").await;
    let api = start_api(&env, "headers", &[]).await;
    let base = format!("http://{}", api.http);
    let http = reqwest::Client::new();

    for (path, cacheable) in [
        ("/login", false),
        ("/api/openapi.json", false),
        ("/api/v1/secret-syncs/humanitec?projectId=proj", false),
        ("/no/such/route", false),
        ("/assets/dashboard.css", true),
        ("/assets/dashboard.js", true),
    ] {
        let resp = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answer");
        let h = resp.headers();
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let csp = header("content-security-policy");
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: CSP {csp:?} lacks {part}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(
            header("cache-control") == "no-store",
            !cacheable,
            "{path}: {}",
            header("cache-control")
        );
    }
    // The pages and fragments hold no inline script, style or handler.
    let login = http
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("text");
    for inline in [
        "<script>",
        "<style",
        " style=",
        " onclick=",
        " onload=",
        " onsubmit=",
    ] {
        assert!(!login.contains(inline), "/login holds {inline}");
    }

    // `credentials` of every shape: the value never comes back, nor reaches the log.
    let marker = "SECRET-MARKER-7f3a";
    let shapes = [
        serde_json::json!(marker),
        serde_json::json!(7_777_123_456u64),
        serde_json::json!([marker]),
        serde_json::json!({"apiToken": {"nested": marker}}),
        serde_json::json!({"apiToken": [marker]}),
        serde_json::json!({"apiToken": format!("{marker}\u{0}")}),
        serde_json::json!({"apiToken": marker, "extra": marker}),
        serde_json::json!({"apiToken": 7_777_123_456u64}),
    ];
    for credentials in shapes {
        for extra in [serde_json::json!({}), serde_json::json!({"unknown": 1})] {
            let mut body = serde_json::json!({"name": "c", "projectId": "proj",
                "method": "api-token", "credentials": credentials});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            let resp = http
                .post(format!("{base}/api/v1/app-connections/humanitec"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("answer");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("text");
            assert!(
                !text.contains(marker) && !text.contains("7777123456"),
                "{body} -> {status} {text}"
            );
            let answer: Value = serde_json::from_str(&text).expect("json");
            assert!(
                answer["reqId"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("req-")),
                "{text}"
            );
            assert!(status >= 400, "{body} -> {status}");
        }
    }
    let log = std::fs::read_to_string(&api.log).unwrap_or_default();
    assert!(
        !log.contains(marker) && !log.contains("7777123456"),
        "the log echoes credentials"
    );
    api.remove_log();
    env.finish().await;
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(stream: &mut tokio::net::TcpStream) -> Duration {
    use tokio::io::AsyncReadExt as _;
    let begun = Instant::now();
    let mut buf = [0u8; 4096];
    let closing = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closing)
        .await
        .expect("the server closes the connection");
    begun.elapsed()
}

#[tokio::test]
async fn both_listeners_close_slow_heads_and_idle_keep_alive_connections() {
    let env = TestEnv::new().await;
    let limits = [
        ("HTTP_HEADER_READ_TIMEOUT", "1500ms".to_string()),
        ("HTTP_IDLE_TIMEOUT", "500ms".to_string()),
    ];
    let api = start_api(&env, "timeouts", &limits).await;
    let log = std::env::temp_dir().join(format!("hostile-worker-{}.log", uuid::Uuid::new_v4()));
    let mut worker = WorkerProcess::spawn(EXE, &env.settings, &limits, &log);
    worker
        .wait_status("/healthz", 200, Duration::from_secs(30))
        .await;
    for (name, addr) in [("api", api.http), ("worker", worker.http)] {
        // A head that never ends.
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let took = closed_after(&mut slow).await;
        println!("{name}: unfinished head closed after {took:?}");
        assert!(took >= Duration::from_millis(1400), "{name}: {took:?}");

        // A whole request, then nothing: closed once idle (hyper's head
        // timer also runs while waiting for the next request: the shorter
        // of the two applies; here the idle timeout).
        let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let took = closed_after(&mut idle).await;
        println!("{name}: idle keep-alive connection closed after {took:?}");
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_millis(1400),
            "{name}: {took:?}"
        );
    }
    api.remove_log();
    worker.remove_log();
    // Gone before the queues are: a live worker would declare them again.
    worker.kill().await;
    env.finish().await;
}

#[tokio::test]
async fn a_request_whose_body_never_ends_is_cut_off_with_the_seed_body() {
    use tokio::io::AsyncReadExt as _;
    let env = TestEnv::new().await;
    env.seed.create_project("proj", "Proj").await;
    let token = env.api_token(&["proj"], "write").await;
    let api = start_api(
        &env,
        "request-timeout",
        &[("HTTP_REQUEST_TIMEOUT", "500ms".to_string())],
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(api.http)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/secret-syncs/humanitec HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\n{{\"name\""
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let begun = Instant::now();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("answered")
        .expect("read");
    let took = begun.elapsed();
    let text = String::from_utf8_lossy(&raw);
    println!("cut off after {took:?}");
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body: Value = text
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    assert_eq!(body["statusCode"], 503, "{text}");
    assert!(
        body["reqId"]
            .as_str()
            .is_some_and(|r| r.starts_with("req-")),
        "{text}"
    );
    assert!(took >= Duration::from_millis(400), "{took:?}");
    api.remove_log();
    env.finish().await;
}

#[tokio::test]
async fn the_health_listener_is_loopback_by_default_and_readyz_names_no_address() {
    use secret_sync_testkit::Proxy;
    let env = TestEnv::new().await;
    // HTTP_LISTEN unset (empty counts as unset): the default is loopback.
    let log = std::env::temp_dir().join(format!("hostile-default-{}.log", uuid::Uuid::new_v4()));
    let mut default =
        WorkerProcess::spawn(EXE, &env.settings, &[("HTTP_LISTEN", String::new())], &log);
    let said = eventually(Duration::from_secs(30), || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // "health and metrics on http://127.0.0.1:9090/...", or, if another
        // process holds the port, the error naming the address it tried.
        match text.lines().find(|l| l.contains(":9090")) {
            Some(line) => Ok(line.to_string()),
            None => Err(format!("the worker has not said where it listens: {text}")),
        }
    })
    .await;
    println!("with HTTP_LISTEN unset: {said}");
    assert!(said.contains("127.0.0.1:9090"), "{said}");
    assert!(!said.contains("0.0.0.0"), "{said}");
    default.kill().await;
    let _ = std::fs::remove_file(&log);

    // Through a proxy, so the broker's address is one only this test uses.
    let (broker, amqp_url) = Proxy::in_front_of(&env.settings.amqp_url).await;
    let log = std::env::temp_dir().join(format!("hostile-readyz-{}.log", uuid::Uuid::new_v4()));
    let mut worker = WorkerProcess::spawn(EXE, &env.settings, &[("AMQP_URL", amqp_url)], &log);
    worker.wait_ready_status(200, Duration::from_secs(30)).await;
    let no_address = |body: &str| {
        let broker_port = broker.port().to_string();
        for needle in [
            "127.0.0.1",
            "localhost",
            ":5672",
            ":5432",
            "amqp",
            "postgres",
            &broker_port,
        ] {
            assert!(!body.contains(needle), "/readyz shows {needle}: {body}");
        }
    };
    let (status, body) = worker.get("/readyz").await.expect("/readyz answers");
    println!("/readyz when ready: {status} {body}");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).ok(),
        Some(json!({"database": true, "migrations": true, "broker": true}))
    );
    no_address(&body);

    // The broker goes away: /readyz says which dependency, not where it is.
    broker.cut();
    let body = eventually(Duration::from_secs(30), || async {
        match worker.get("/readyz").await {
            Some((503, body)) => Ok(body),
            other => Err(format!("/readyz: {other:?}")),
        }
    })
    .await;
    println!("/readyz with the broker cut: 503 {body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).ok(),
        Some(json!({"database": true, "migrations": true, "broker": false}))
    );
    no_address(&body);
    worker.remove_log();
    worker.kill().await;
    env.finish().await;
}
