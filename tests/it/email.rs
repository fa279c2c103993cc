//! Email channels (issue 41): a local SMTP server (aiosmtpd, started by the
//! test with STARTTLS required and AUTH, its certificate signed by a test
//! CA the worker trusts through NOTIFY_SMTP_CA_FILE) stands in for a team's
//! mail server. Twenty failing syncs are one digest email; a wrong password
//! is shown on the channel and that delivery is not tried again; hostile
//! settings are refused naming the field; another project's channel is not
//! found.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secret_sync_testkit::*;
use serde_json::{json, Value};

const USER: &str = "alerts@example.com";
const PASSWORD: &str = "right-horse-battery";
const SECRET_VALUE: &str = "hunter2-never-in-mail";

fn settings(name: &str, ca: &str) -> Option<String> {
    match name {
        "NOTIFY_ALLOW_PRIVATE_TARGETS" => Some("true".into()),
        "NOTIFY_DIGEST_WINDOW" => Some("4s".into()),
        "NOTIFY_POLL_EVERY" => Some("100ms".into()),
        "NOTIFY_SMTP_CA_FILE" => Some(ca.to_string()),
        "DASHBOARD_URL" => Some("https://dash.example".into()),
        _ => None,
    }
}

fn email_channel(name: &str, port: u16, password: &str) -> Value {
    json!({
        "projectId": "proj",
        "name": name,
        "type": "email",
        "email": {
            "host": "localhost",
            "port": port,
            "security": "starttls",
            "username": USER,
            "password": password,
            "from": "secret-sync@example.com",
            "to": ["oncall@example.com", "platform@example.org"],
        }
    })
}

async fn create(api: &ApiClient, body: Value) -> String {
    let (status, answer) = api.post("/api/v1/notification-channels", body).await;
    assert_eq!(status, 200, "{answer}");
    answer["notificationChannel"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failing_syncs_are_one_digest_email() {
    let certs = TlsServers::certificates().await;
    let smtp = SmtpServer::start(&certs, USER, PASSWORD, false).await;
    let ca = certs.ca();
    let mut env = TestEnv::with(|n| settings(n, &ca)).await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    let bad = env
        .source_with_token(
            "production",
            &[("DB_PASSWORD", SECRET_VALUE)],
            "revoked-token",
        )
        .await;
    let channel = create(&api, email_channel("oncall-mail", smtp.port, PASSWORD)).await;

    // Shown: where it sends and to whom, the password only as set.
    let (_, shown) = api
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    let email = &shown["notificationChannel"]["email"];
    assert_eq!(shown["notificationChannel"]["type"], "email", "{shown}");
    assert_eq!(email["host"], "localhost");
    assert_eq!(email["port"], smtp.port);
    assert_eq!(email["security"], "starttls");
    assert_eq!(email["passwordSet"], true);
    assert_eq!(
        email["to"],
        json!(["oncall@example.com", "platform@example.org"])
    );
    assert!(!shown.to_string().contains(PASSWORD), "{shown}");
    let stored = env
        .seed
        .numbers(&format!(
            "SELECT count(*) FROM notification_channels WHERE id = '{channel}'
               AND position(convert_to('{PASSWORD}', 'UTF8') IN encrypted_secret) = 0
               AND email::text NOT LIKE '%{PASSWORD}%'"
        ))
        .await;
    assert_eq!(stored, vec![1.0], "the password is stored encrypted only");

    let ids = env
        .seed
        .create_syncs(
            "proj",
            "mail-",
            bad.folder,
            bad.connection,
            "demo-org",
            1..=20,
        )
        .await;
    assert_eq!(ids.len(), 20);
    let started = Instant::now();
    for id in &ids {
        env.enqueue(*id).await;
    }
    env.start_worker().await;
    let got = eventually(Duration::from_secs(60), || async {
        seen(smtp.messages(), |m| !m.is_empty())
    })
    .await;
    let took = started.elapsed();
    let mail = &got[0];
    let mut rcpt: Vec<&str> = mail["rcptTos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    rcpt.sort();
    assert_eq!(rcpt, vec!["oncall@example.com", "platform@example.org"]);
    assert_eq!(mail["mailFrom"], "secret-sync@example.com");
    assert_eq!(
        mail["subject"],
        "[secret-sync] 20 secret sync changes: 20 failed, 0 recovered"
    );
    let body = mail["body"].as_str().unwrap_or_default();
    for i in 1..=20 {
        assert!(
            body.contains(&format!("* mail-{i} sync failed (proj, demo-org/")),
            "mail-{i} missing from: {body}"
        );
    }
    assert!(body.contains("https://dash.example/syncs/"), "{body}");
    assert!(!mail["raw"]
        .as_str()
        .unwrap_or_default()
        .contains(SECRET_VALUE));
    assert!(!mail["raw"].as_str().unwrap_or_default().contains(PASSWORD));
    assert_eq!(smtp.auth_attempts(), vec!["ok"]);

    // Recorded as delivered with the server's 250; no second email.
    let deliveries = eventually(Duration::from_secs(30), || async {
        let (_, d) = api
            .get(&format!(
                "/api/v1/notification-channels/{channel}/deliveries"
            ))
            .await;
        seen(d, |d| {
            d["deliveries"].as_array().is_some_and(|a| !a.is_empty())
        })
    })
    .await;
    assert_eq!(
        deliveries["deliveries"][0]["statusCode"], 250,
        "{deliveries}"
    );
    assert_eq!(deliveries["deliveries"][0]["events"], 20, "{deliveries}");
    assert_eq!(smtp.messages().len(), 1, "one email for the digest");
    eprintln!("20 failures to one digest email: {took:?} (digest window 4s)");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_shown_on_the_channel_and_not_retried() {
    let certs = TlsServers::certificates().await;
    let smtp = SmtpServer::start(&certs, USER, PASSWORD, false).await;
    let ca = certs.ca();
    let mut env = TestEnv::with(|n| match n {
        "NOTIFY_DIGEST_WINDOW" => Some("0s".into()),
        _ => settings(n, &ca),
    })
    .await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    env.seed.create_project("proj", "Project").await;
    let channel = create(&api, email_channel("wrong-pass", smtp.port, "wrong-horse")).await;
    crate::notifications::queue_events(&env, "proj").await;
    env.start_worker().await;
    let list = eventually(Duration::from_secs(30), || async {
        let (_, list) = api
            .get("/api/v1/notification-channels?projectId=proj")
            .await;
        seen(list, |l| {
            l["notificationChannels"][0]["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("not retried"))
        })
    })
    .await;
    let shown = &list["notificationChannels"][0];
    assert_eq!(shown["failing"], true, "{shown}");
    let error = shown["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("refused the credentials (535)")
            && error.contains("username and password")
            && error.contains("localhost"),
        "{error}"
    );
    assert!(
        !error.contains("127.0.0.1") && !error.contains("wrong-horse"),
        "{error}"
    );
    let (_, deliveries) = api
        .get(&format!(
            "/api/v1/notification-channels/{channel}/deliveries"
        ))
        .await;
    let attempts = deliveries["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attempts.len(), 1, "{deliveries}");
    assert_eq!(attempts[0]["statusCode"], 535);
    // Given up at once: nothing left to claim, one AUTH tried, no email.
    let given_up = env
        .seed
        .numbers("SELECT count(*) FROM notification_outbox WHERE given_up_at IS NOT NULL AND attempts = 1")
        .await;
    assert_eq!(given_up, vec![1.0]);
    super::notifications::assert_nothing_left_to_claim(&env).await;
    assert_eq!(smtp.auth_attempts(), vec!["refused"]);
    assert!(smtp.messages().is_empty());

    // The dashboard's channel page says so too, and shows no password.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = dashboard_sign_in(&http, &base, &token).await;
    let page = http
        .get(format!("{base}/channels"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET /channels")
        .text()
        .await
        .expect("page");
    assert!(page.contains("refused the credentials (535)"), "{page}");
    assert!(page.contains("set (never shown)") && !page.contains("wrong-horse"));
    // As a person sees it, in a browser: the card, its error and its form,
    // accessible.
    let b = crate::dashboard::Browser::start(&base).await;
    b.sign_in(&token).await;
    b.goto("/channels").await;
    let card = format!(".channel[data-channel-id='{channel}']");
    let shown = b.text(&card).await;
    assert!(shown.contains("refused the credentials (535)"), "{shown}");
    assert!(
        shown.contains("Set password") && !shown.contains("wrong-horse"),
        "{shown}"
    );
    b.screenshot("channels-email").await;
    b.assert_no_console_errors("the channels page with an email channel")
        .await;
    b.assert_accessible("the channels page with an email channel")
        .await;
    b.finish().await;

    // Fixed in place from the channel's card: the next notification goes
    // out with the new password.
    assert!(page.contains("New SMTP password"), "{page}");
    let set = http
        .post(format!("{base}/channels/{channel}/password"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_token(&page)), ("password", PASSWORD.into())])
        .send()
        .await
        .expect("POST the password form");
    assert_eq!(set.status().as_u16(), 303);
    let (_, shown) = api
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert_eq!(shown["notificationChannel"]["failing"], false, "{shown}");
    let mut fixed = email_channel("wrong-pass", smtp.port, PASSWORD)["email"].clone();
    // Left out, the password is kept.
    fixed.as_object_mut().map(|o| o.remove("password"));
    let (status, answer) = api
        .patch(
            &format!("/api/v1/notification-channels/{channel}"),
            json!({"email": fixed}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["notificationChannel"]["email"]["passwordSet"], true);
    crate::notifications::queue_events(&env, "proj").await;
    eventually(Duration::from_secs(30), || async {
        seen(smtp.messages(), |m| m.len() == 1)
    })
    .await;
    assert_eq!(smtp.auth_attempts(), vec!["refused", "ok"]);
    env.finish().await;
}

#[tokio::test]
async fn hostile_email_settings_are_refused_naming_the_field() {
    let mut env = TestEnv::with(|n| match n {
        "NOTIFY_ALLOW_PRIVATE_TARGETS" => Some("true".into()),
        _ => None,
    })
    .await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    env.seed.create_project("proj", "Project").await;
    env.seed.create_project("other", "Other").await;
    let huge = "a".repeat(10 * 1024 * 1024);
    // Each answer names the field (`email.host`, or the schema's
    // `/email/host`), never echoes the value.
    let cases: Vec<(&str, Value)> = vec![
        ("host", json!("smtp.example.com\r\nRCPT TO:<x@y.z>")),
        ("host", json!("smtp.exam\u{202E}ple.com")),
        ("host", json!("smtp\u{0}.example.com")),
        ("host", json!("smtp.example.com:25")),
        ("from", json!("a@example.com\r\nBcc: evil@example.net")),
        ("from", json!("a@example.com, evil@example.net")),
        ("to", json!(["oncall@example.com\nSubject: x"])),
        ("to", json!(["Oncall <oncall@example.com>"])),
        ("to", json!(["oncall@exam\u{200B}ple.com"])),
        ("to", json!([])),
        ("password", json!("pa\r\nss")),
        ("username", json!("u\u{0}")),
        ("security", json!("none")),
    ];
    for (field, value) in cases {
        let named = field;
        let mut body = email_channel("bad", 587, PASSWORD);
        body["email"][field] = value.clone();
        let (status, answer) = api.post("/api/v1/notification-channels", body).await;
        // 422: the request schema's checks (invisible characters, sizes);
        // 400: the channel's own (`notify::email`).
        assert!(
            status == 400 || status == 422,
            "{field}={value}: {status} {answer}"
        );
        let text = answer.to_string();
        assert!(text.contains(named), "{field}: {text}");
        assert!(!text.contains("evil") && !text.contains(PASSWORD), "{text}");
    }
    // A 10 MB host is refused before it is read whole.
    let mut body = email_channel("bad", 587, PASSWORD);
    body["email"]["host"] = json!(huge);
    let (status, _) = api.post("/api/v1/notification-channels", body).await;
    assert!((400..500).contains(&status), "{status}");
    // Settings of another kind, or none.
    let mut body = email_channel("bad", 587, PASSWORD);
    body["url"] = json!("https://hooks.example/x");
    let (status, answer) = api.post("/api/v1/notification-channels", body).await;
    assert_eq!(status, 400);
    assert!(answer.to_string().contains("url"), "{answer}");
    let (status, answer) = api
        .post(
            "/api/v1/notification-channels",
            json!({"projectId": "proj", "name": "bad", "type": "email"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(answer.to_string().contains("email"), "{answer}");
    // Another project's channel answers as one that does not exist.
    let channel = create(&api, email_channel("mine", 587, PASSWORD)).await;
    let stranger = env.api_token(&["other"], "write").await;
    let other = api.with_token(Some(&stranger));
    let (status, _) = other
        .get(&format!("/api/v1/notification-channels/{channel}"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = other
        .patch(
            &format!("/api/v1/notification-channels/{channel}"),
            json!({"email": email_channel("x", 587, "stolen")["email"].clone()}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = other
        .get("/api/v1/notification-channels?projectId=other")
        .await;
    assert_eq!(list["notificationChannels"], json!([]));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_delivers_and_an_unreachable_server_is_retried() {
    let certs = TlsServers::certificates().await;
    let smtp = SmtpServer::start(&certs, USER, PASSWORD, true).await;
    let ca = certs.ca();
    let mut env = TestEnv::with(|n| match n {
        "NOTIFY_DIGEST_WINDOW" => Some("0s".into()),
        _ => settings(n, &ca),
    })
    .await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let api = ApiClient::new(&base, Some(&token), Arc::new(SeedContract::load()));
    env.seed.create_project("proj", "Project").await;
    let mut tls = email_channel("smtps", smtp.port, PASSWORD);
    tls["email"]["security"] = json!("tls");
    create(&api, tls).await;
    // Nothing listens there: a connection failure, tried again.
    let down = create(&api, email_channel("down", free_port(), PASSWORD)).await;
    crate::notifications::queue_events(&env, "proj").await;
    env.start_worker().await;
    let got = eventually(Duration::from_secs(30), || async {
        let m = smtp.messages();
        if m.is_empty() {
            let (_, list) = api
                .get("/api/v1/notification-channels?projectId=proj")
                .await;
            return Err(format!("no email yet; channels: {list}"));
        }
        Ok(m)
    })
    .await;
    let subject = got[0]["subject"].as_str().unwrap_or_default();
    assert!(
        subject.starts_with("[secret-sync] secret sync ")
            && subject.ends_with("sync failed in project proj"),
        "{subject}"
    );
    assert_eq!(smtp.auth_attempts(), vec!["ok"]);
    let attempts = eventually(Duration::from_secs(30), || async {
        let (_, d) = api
            .get(&format!("/api/v1/notification-channels/{down}/deliveries"))
            .await;
        seen(
            d["deliveries"].as_array().cloned().unwrap_or_default(),
            |a| a.len() >= 2,
        )
    })
    .await;
    for a in &attempts {
        let error = a["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("could not connect to SMTP server localhost")
                && error.contains("will retry"),
            "{a}"
        );
    }
    let given_up = env
        .seed
        .numbers("SELECT count(*) FROM notification_outbox WHERE given_up_at IS NOT NULL")
        .await;
    assert_eq!(
        given_up,
        vec![0.0],
        "a connection failure is not given up at once"
    );
    env.finish().await;
}
