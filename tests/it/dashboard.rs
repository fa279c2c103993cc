//! The ops dashboard in a real browser: headless Chromium driven over
//! WebDriver (Debian's `chromium` + `chromium-driver`, installed by
//! `scripts/test`), against the in-process API, a worker and the sandbox.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::json;
use uuid::Uuid;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(30);

/// A headless Chromium session with its chromedriver; both end on drop.
/// (`pub(crate)`: other suites drive pages with it too, as `attempts`.)
pub(crate) struct Browser {
    client: Client,
    base: String,
    _driver: tokio::process::Child,
    profile: PathBuf,
}

/// A test that fails before `finish` (a panic) still leaves no browser
/// behind. Chromedriver is killed with its handle, but the Chromium it
/// started outlives it; every process of this browser names its own
/// profile directory on its command line, which finds them.
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .arg("-KILL")
            .arg("-f")
            .arg(self.profile.as_os_str())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Browser {
    pub(crate) async fn start(base: &str) -> Browser {
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
        assert!(
            std::path::Path::new(&driver_path).exists(),
            "chromedriver not found at {driver_path}: install Debian's `chromium` and \
             `chromium-driver` (`apt-get install chromium chromium-driver`, as scripts/test does) \
             or set CHROMEDRIVER"
        );
        let port = free_port();
        let driver = tokio::process::Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = std::env::temp_dir().join(format!("dash-chromium-{}", Uuid::new_v4()));
        let caps = json!({
            // Keep the console, so tests can read what the page logged.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into()),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let caps = caps.as_object().expect("object").clone();
        let client = eventually(WAIT, || async {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
                .map_err(|e| format!("chromedriver on port {port} gave no browser session: {e}"))
        })
        .await;
        Browser {
            client,
            base: base.to_string(),
            _driver: driver,
            profile,
        }
    }

    pub(crate) async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("page loads");
    }

    pub(crate) async fn sign_in(&self, token: &str) {
        self.goto("/login").await;
        let input = self
            .client
            .find(Locator::Css("#token"))
            .await
            .expect("token field");
        input.send_keys(token).await.expect("type token");
        self.click("#sign-in").await;
        self.until("the sync list after signing in", || async {
            self.client.find(Locator::Css("table#syncs")).await.is_ok()
        })
        .await;
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Read in one script run, so a live refresh cannot swap the element
    /// out between finding and reading it.
    pub(crate) async fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        let v = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : '';",
                vec![json!(css)],
            )
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    pub(crate) async fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]) || '');",
                vec![json!(css), json!(attr)],
            )
            .await;
        serde_json::from_value(v).expect("a list of strings")
    }

    async fn exists(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(css)],
        )
        .await
            == json!(true)
    }

    /// Picks `value` in the `<select>` at `css`.
    async fn select(&self, css: &str, value: &str) {
        let select = self.client.find(Locator::Css(css)).await.expect(css);
        select.select_by_value(value).await.expect("select");
    }

    /// Waits until the detail page's `kind` badge (sync, import, remove)
    /// shows synced, as the page updates itself.
    async fn until_synced(&self, kind: &str) {
        let badge = format!("#state .state-{kind} .badge");
        let what = format!("the {kind} badge to show synced");
        self.until(&what, || async { self.text(&badge).await == "synced" })
            .await;
    }

    /// Polls `check` until it holds (bounded; panics naming `what`).
    async fn until<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        eventually(WAIT, || async {
            check()
                .await
                .then_some(())
                .ok_or_else(|| format!("not yet {what}"))
        })
        .await;
    }

    /// What the page logged at error level since the last call (chromedriver
    /// hands each entry out once): script errors, Content-Security-Policy
    /// refusals, failed loads.
    async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver returns the browser log");
        let entries: Vec<serde_json::Value> = serde_json::from_value(log).expect("log entries");
        entries
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The page works under the server's CSP: nothing refused, no script error.
    pub(crate) async fn assert_no_console_errors(&self, page: &str) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "{page} logged errors: {errors:#?}");
    }

    /// Runs axe-core (installed by scripts/test into tests/browser) in the
    /// page through WebDriver, so the dashboard's CSP stays as it is, and
    /// fails on any serious or critical violation.
    pub(crate) async fn assert_accessible(&self, page: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser/node_modules/axe-core/axe.min.js");
        let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `(cd tests/browser && npm ci)` (scripts/test does)",
                path.display()
            )
        });
        self.js(&format!("{axe}\n; return typeof axe;"), vec![])
            .await;
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations
                        .filter(v => v.impact === 'serious' || v.impact === 'critical')
                        .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' at '
                             + v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe runs");
        let violations: Vec<String> = serde_json::from_value(result).expect("a list");
        assert!(
            violations.is_empty(),
            "{page}: accessibility violations: {violations:#?}"
        );
    }

    /// The page is no wider than the window (no horizontal scroll).
    async fn assert_no_horizontal_scroll(&self, page: &str) {
        let widths = self
            .js(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await;
        let widths: Vec<i64> = serde_json::from_value(widths).expect("numbers");
        assert!(
            widths[0] <= widths[1],
            "{page} scrolls sideways: {widths:?}"
        );
    }

    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub(crate) async fn finish(self) {
        let _ = self.client.clone().close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// chromedriver's `POST /session/{id}/se/log` for the `browser` log.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

const SESSION_COOKIE: &str = "__Host-secret-sync-session";

/// Signs in over plain HTTP and returns the `Cookie` header value of the
/// session that opens (the id alone, as a browser would send it).
async fn http_session(http: &reqwest::Client, base: &str, token: &str) -> String {
    dashboard_sign_in(http, base, token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_sees_failures_first_filters_acts_and_requeues_dead_letters() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;

    let src = env
        .source("production", &[("DB_PASSWORD", "s3cret-value")])
        .await;
    let alpha = env.sync(&src, "alpha", app_scope("web"), options()).await;
    let zeta = env.sync(&src, "zeta", app_scope("api"), options()).await;
    let bad_src = env
        .source_with_token("staging", &[("API_KEY", "other-secret")], "wrong-token")
        .await;
    let broken = env
        .sync(&bad_src, "broken <b>", app_scope("app-b"), options())
        .await;
    let done = env.run_sync(zeta).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.message);
    let failed = env.run_sync(broken).await;
    assert_eq!(failed.status, JobStatus::Failed);
    let failure = env
        .sync_row(broken)
        .await
        .last_sync_message
        .expect("a failure message");

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;

    // The failed sync comes first (not alphabetically), with its message.
    let statuses = b.attrs("#syncs tbody tr", "data-status").await;
    assert_eq!(statuses[0], "failed", "{statuses:?}");
    assert_eq!(statuses.len(), 3);
    let first = b.text("#syncs tbody tr:first-child").await;
    assert!(
        first.contains("broken <b>"),
        "escaped name shown as text: {first}"
    );
    assert!(first.contains(&failure), "{first} lacks {failure}");
    let source = b.client.source().await.expect("source");
    assert!(!source.contains(&token), "the page shows the token");
    assert!(!source.contains("s3cret-value") && !source.contains("other-secret"));

    b.screenshot("syncs").await;
    b.assert_no_console_errors("the sync list").await;

    // Filters: by status, then by destination app.
    b.select("#filter-status", "succeeded").await;
    b.click("#filter-apply").await;
    b.until("the status filter", || async {
        b.attrs("#syncs tbody tr", "data-sync-id").await == vec![zeta.to_string()]
    })
    .await;
    b.goto("/?app=web").await;
    assert_eq!(
        b.attrs("#syncs tbody tr", "data-sync-id").await,
        vec![alpha.to_string()]
    );
    b.goto("/?q=BROK").await;
    assert_eq!(
        b.attrs("#syncs tbody tr", "data-sync-id").await,
        vec![broken.to_string()]
    );

    // Sync now: the badge turns to synced by itself, without a reload.
    b.goto(&format!("/syncs/{alpha}")).await;
    assert_eq!(b.text("#state .state-sync .badge").await, "never run");
    b.client
        .execute("window.__samePage = true; return true;", vec![])
        .await
        .expect("mark the page");
    b.click("#sync-now").await;
    b.until_synced("sync").await;
    let same = b
        .client
        .execute("return window.__samePage === true;", vec![])
        .await
        .expect("script");
    assert_eq!(same, json!(true), "the page was reloaded");
    assert!(b.text("#flash").await.contains("queued"));
    assert!(b.exists("#jobs tbody tr[data-job-id]").await);
    let jobs = env
        .store
        .reads
        .recent_jobs(Some(alpha), 5)
        .await
        .expect("jobs");
    assert_eq!(jobs[0].trigger.as_deref(), Some("dashboard"));
    assert_eq!(jobs[0].status, JobStatus::Succeeded);
    let values = env.sandbox.values(ORG, "web", None);
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].key, "DB_PASSWORD");
    b.screenshot("sync-detail").await;
    b.assert_no_console_errors("the sync page and its sync-now")
        .await;

    // Import, with the behaviour chosen in the form, also without a reload.
    b.select("#import-behavior", "prioritize-destination").await;
    b.click("#import").await;
    b.until_synced("import").await;
    let jobs = env
        .store
        .reads
        .recent_jobs(Some(alpha), 5)
        .await
        .expect("jobs");
    assert_eq!(jobs[0].job_type, secret_sync::JobType::Import);
    assert_eq!(jobs[0].status, JobStatus::Succeeded);

    // Remove asks first, then empties the destination.
    b.click("#remove").await;
    b.client
        .accept_alert()
        .await
        .expect("the confirmation dialog");
    b.until_synced("remove").await;
    assert!(env.sandbox.values(ORG, "web", None).is_empty());

    // The preview names keys, never values; a key no Humanitec URL can
    // address is listed as skipped, with why.
    env.put_secret(src.folder, "..", "dots").await;
    b.click("#preview").await;
    b.until("the preview", || async {
        b.text("h1").await.contains("Preview")
    })
    .await;
    let preview = b.text("main").await;
    b.assert_no_console_errors("import, remove and the preview")
        .await;
    assert!(
        preview.contains("Create (1)") && preview.contains("DB_PASSWORD"),
        "{preview}"
    );
    assert!(
        preview.contains("Skipped (1)") && preview.contains(".. — no Humanitec URL can address"),
        "{preview}"
    );
    b.screenshot("preview").await;
    assert!(!b
        .client
        .source()
        .await
        .expect("source")
        .contains("s3cret-value"));

    // The pause control and the interval are remembered across pages.
    b.goto("/").await;
    b.click("#live-pause").await;
    b.select("#live-interval", "15").await;
    b.goto("/overview").await;
    assert_eq!(b.text("#live-pause").await, "Resume updates");
    assert_eq!(b.text("#live-state").await, "updates stopped");
    let interval = b
        .js(
            "return document.getElementById('live-interval').value;",
            vec![],
        )
        .await;
    assert_eq!(interval, json!("15"));
    b.click("#live-pause").await;
    assert_eq!(b.text("#live-pause").await, "Stop updates");

    // Overview: counts per status and the jobs chart.
    b.goto("/overview").await;
    assert_eq!(b.text("#count-failed").await, "1");
    assert_eq!(b.text("#count-succeeded").await, "2");
    assert!(b.exists("#jobs-chart rect").await, "the chart draws bars");
    assert!(b.exists("#queues").await, "queue depths shown");
    b.screenshot("overview").await;
    b.assert_no_console_errors("the live controls and the overview")
        .await;

    // A dead letter is requeued from the page and its job then runs.
    let dead_job = env.publish_dead_job(zeta).await;
    b.goto("/dead").await;
    let row = format!("#dead tr[data-message-id='{dead_job}']");
    assert!(b.exists(&row).await, "the dead letter is listed");
    assert!(b.text(&row).await.contains("worker crashed 10 times"));
    b.screenshot("dead-letters").await;
    b.click(&format!("{row} button.requeue")).await;
    b.until("the requeue to be confirmed", || async {
        b.text("#flash").await.contains("requeued 1")
    })
    .await;
    let ran = env.wait_job(dead_job).await;
    assert_eq!(ran.status, JobStatus::Succeeded, "{:?}", ran.message);
    assert!(!b.exists(&row).await);
    b.assert_no_console_errors("the dead letters and requeue")
        .await;

    // The policy is enforced, and the console check sees it: an inline
    // script added to the page is refused and logged.
    b.js(
        "const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; \
         document.head.appendChild(s); return true;",
        vec![],
    )
    .await;
    assert_eq!(
        b.js("return window.__inline === undefined;", vec![]).await,
        json!(true)
    );
    let refused = b.console_errors().await;
    assert!(
        refused
            .iter()
            .any(|m| m.contains("Content Security Policy")),
        "{refused:#?}"
    );

    b.finish().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_see_no_buttons_and_forged_actions_are_refused() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let reader = env.api_token(&["proj"], "read").await;
    let writer = env.api_token(&["proj"], "write").await;
    let src = env
        .source("production", &[("DB_PASSWORD", "s3cret-value")])
        .await;
    let sync = env.sync(&src, "alpha", app_scope("web"), options()).await;
    let dead_job = env.publish_dead_job(sync).await;

    let b = Browser::start(&base).await;
    b.sign_in(&reader).await;
    b.goto(&format!("/syncs/{sync}")).await;
    assert!(b.text("h1").await.contains("alpha"));
    assert!(!b.exists("form[method=post][action^='/syncs']").await);
    assert!(
        !b.exists("#sync-now, #import, #remove, #delete, button.toggle")
            .await
    );
    b.goto("/").await;
    assert!(!b.exists("form[method=post]:not([action='/logout'])").await);
    assert!(b.exists(&format!("button[data-copy='{sync}']")).await);
    b.goto("/dead").await;
    assert!(
        b.exists(&format!("#dead tr[data-message-id='{dead_job}']"))
            .await
    );
    assert!(
        !b.exists("button.requeue, button.discard, #requeue-all")
            .await
    );
    // The session's own CSRF token: a forged form with it is still refused.
    let csrf = b
        .client
        .execute(
            "return document.querySelector('meta[name=csrf-token]').content;",
            vec![],
        )
        .await
        .expect("csrf token");
    let csrf = csrf.as_str().expect("a string").to_string();
    b.finish().await;

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // The cookie holds a session id, opened by signing in with the token.
    let reader = http_session(&http, &base, &reader).await;
    let writer = http_session(&http, &base, &writer).await;
    let post = |cookie: &str, path: &str, form: Vec<(&'static str, String)>| {
        http.post(format!("{base}{path}"))
            .header("cookie", cookie)
            .form(&form)
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    let read_post = post(
        &reader,
        &format!("/syncs/{sync}/sync"),
        vec![("csrf", csrf.clone())],
    );
    assert_eq!(status(read_post.send().await.expect("post")), 403);
    let read_requeue = post(
        &reader,
        "/dead/requeue",
        vec![("csrf", csrf.clone()), ("which", "all".into())],
    );
    assert_eq!(status(read_requeue.send().await.expect("post")), 403);

    // A write token still needs its own session's CSRF token and same origin.
    let wrong_csrf = post(
        &writer,
        &format!("/syncs/{sync}/sync"),
        vec![("csrf", csrf.clone())],
    );
    assert_eq!(status(wrong_csrf.send().await.expect("post")), 403);
    let no_csrf = post(&writer, &format!("/syncs/{sync}/sync"), vec![]);
    assert_eq!(status(no_csrf.send().await.expect("post")), 403);
    let page = http
        .get(format!("{base}/syncs/{sync}"))
        .header("cookie", &writer)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    let writer_csrf = csrf_token(&page);
    let foreign = post(
        &writer,
        &format!("/syncs/{sync}/sync"),
        vec![("csrf", writer_csrf.clone())],
    )
    .header("origin", "https://evil.example");
    assert_eq!(status(foreign.send().await.expect("post")), 403);
    // Another project's sync is neither listed nor reachable.
    env.seed.create_project("other", "Other").await;
    let folder = env.seed.create_folder("other", "production", "/x").await;
    let conn = env
        .seed
        .create_connection("other", "other-conn", ADMIN_TOKEN)
        .await;
    let hidden = env
        .seed
        .create_sync(
            "other",
            "hidden-sync",
            folder,
            conn,
            &app_scope("api"),
            &options(),
        )
        .await;
    let get = |path: String| {
        http.get(format!("{base}{path}"))
            .header("cookie", &writer)
            .send()
    };
    let list = get("/".into())
        .await
        .expect("list")
        .text()
        .await
        .expect("body");
    assert!(
        list.contains("alpha") && !list.contains("hidden-sync"),
        "{list}"
    );
    assert_eq!(
        status(get(format!("/syncs/{hidden}")).await.expect("get")),
        404
    );
    let act_hidden = post(
        &writer,
        &format!("/syncs/{hidden}/sync"),
        vec![("csrf", writer_csrf.clone())],
    );
    assert_eq!(status(act_hidden.send().await.expect("post")), 404);

    // Signed out: pages send you to the login page, actions too.
    let anon = http.get(format!("{base}/")).send().await.expect("get");
    assert_eq!(status(anon), 303);

    // Nothing was enqueued and the dead letter is still there.
    let jobs = env
        .store
        .reads
        .recent_jobs(Some(sync), 5)
        .await
        .expect("jobs");
    assert!(jobs.is_empty(), "{jobs:?}");
    let (body, _) = env.take_dead_letter().await.expect("still dead-lettered");
    assert!(String::from_utf8_lossy(&body).contains(&dead_job.to_string()));

    // The same form with everything right goes through.
    let ok = post(
        &writer,
        &format!("/syncs/{sync}/sync"),
        vec![("csrf", writer_csrf)],
    );
    assert_eq!(status(ok.send().await.expect("post")), 303);
    let jobs = env
        .store
        .reads
        .recent_jobs(Some(sync), 5)
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 1);
    env.finish().await;
}

/// A token made here, so the test knows its id (to revoke it).
async fn token_with_id(env: &TestEnv, projects: &[&str], role: &str) -> (String, Uuid) {
    let (token, hash) = secret_sync::web::auth::new_token();
    let projects: Vec<String> = projects.iter().map(|p| p.to_string()).collect();
    let record = env
        .store
        .auth
        .create_api_token("browser", &hash, role, &projects, &[])
        .await
        .expect("token");
    (token, record.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_and_revoked_sessions_are_refused_by_the_server() {
    let mut env = TestEnv::new().await;
    let base = env.start_api().await;
    let (token, token_id) = token_with_id(&env, &["proj"], "write").await;
    let src = env.source("production", &[("K", "v")]).await;
    let sync = env.sync(&src, "alpha", app_scope("web"), options()).await;

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;
    // Chromium keeps a Secure __Host- cookie on http://127.0.0.1 (a
    // trustworthy origin); scripts cannot read it and it is not the token.
    let cookie = b
        .client
        .get_named_cookie(SESSION_COOKIE)
        .await
        .expect("the session cookie is set");
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    assert_ne!(cookie.value(), token);
    assert_eq!(b.js("return document.cookie;", vec![]).await, json!(""));
    let sessions = env
        .store
        .auth
        .token_sessions(token_id, Duration::from_secs(1800))
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1);

    // Sign out, then put the old cookie back: the server has forgotten it.
    b.click("form[action='/logout'] button").await;
    b.until("the login page after signing out", || async {
        b.exists("#token").await
    })
    .await;
    let sessions = env
        .store
        .auth
        .token_sessions(token_id, Duration::from_secs(1800))
        .await
        .expect("sessions");
    assert!(sessions.is_empty(), "{sessions:?}");
    b.client
        .add_cookie(cookie.clone())
        .await
        .expect("the old cookie is set back");
    b.goto(&format!("/syncs/{sync}")).await;
    let url = b.client.current_url().await.expect("url");
    assert_eq!(url.path(), "/login", "the old session was refused");

    // A fresh session works until its token is revoked: the next click
    // lands on the login page.
    b.sign_in(&token).await;
    b.goto(&format!("/syncs/{sync}")).await;
    assert!(b.text("h1").await.contains("alpha"));
    assert!(env
        .store
        .auth
        .revoke_api_token(token_id, &[])
        .await
        .expect("revoke"));
    b.click("nav a[href='/overview']").await;
    b.until("the login page after the token was revoked", || async {
        b.client
            .current_url()
            .await
            .is_ok_and(|u| u.path() == "/login")
    })
    .await;
    assert!(b.exists("#token").await);
    b.finish().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_and_at_their_absolute_end() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let status = |r: reqwest::Response| r.status().as_u16();

    // Idle: a live refresh (a fragment) does not count as activity, so an
    // unattended page times out while it keeps polling.
    let mut env = TestEnv::with(|var| match var {
        // Long enough for the first page on a busy machine.
        "SESSION_IDLE_TIMEOUT" => Some("3s".into()),
        "SESSION_MAX_AGE" => Some("1h".into()),
        _ => None,
    })
    .await;
    let base = env.start_api().await;
    let (token, token_id) = token_with_id(&env, &["proj"], "read").await;
    let cookie = http_session(&http, &base, &token).await;
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
    };
    assert_eq!(status(get("/").await.expect("page")), 200);
    let started = std::time::Instant::now();
    eventually(WAIT, || async {
        match get("/?fragment=1").await.map(status) {
            Ok(401) => Ok(()),
            other => Err(format!("the idle session still answers: {other:?}")),
        }
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "ended too early"
    );
    assert_eq!(status(get("/").await.expect("page")), 303, "to /login");
    // The sweep deletes it (and would delete no live one).
    let swept = env
        .store
        .auth
        .delete_expired_sessions(Duration::from_secs(3), 500)
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    assert!(env
        .store
        .auth
        .token_sessions(token_id, Duration::from_secs(3600))
        .await
        .expect("sessions")
        .is_empty());
    env.finish().await;

    // Absolute: however busy, the session ends SESSION_MAX_AGE after sign-in.
    let mut env = TestEnv::with(|var| match var {
        "SESSION_IDLE_TIMEOUT" => Some("1h".into()),
        "SESSION_MAX_AGE" => Some("3s".into()),
        _ => None,
    })
    .await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let cookie = http_session(&http, &base, &token).await;
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
    };
    let started = std::time::Instant::now();
    assert_eq!(status(get("/").await.expect("page")), 200);
    eventually(WAIT, || async {
        match get("/").await.map(status) {
            Ok(303) => Ok(()),
            other => Err(format!("the session still answers: {other:?}")),
        }
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "ended too early"
    );
    // Signing in again opens a new session; the old id stays refused.
    let fresh = http_session(&http, &base, &token).await;
    assert_ne!(fresh, cookie);
    assert_eq!(status(get("/overview").await.expect("page")), 303);
    env.finish().await;
}

/// The sync list's rows, as their sync ids.
async fn listed(b: &Browser) -> Vec<String> {
    b.attrs("#syncs tbody tr[data-sync-id]", "data-sync-id")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_console_sorts_searches_acts_and_fits_a_phone() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;

    let src = env
        .source(
            "production",
            &[("DB_PASSWORD", "s3cret-value"), ("API_KEY", "k3y")],
        )
        .await;
    env.seed
        .execute_sql(&format!(
            "UPDATE app_connections SET name = 'payments-conn' WHERE id = '{}'",
            src.connection
        ))
        .await;
    let alpha = env.sync(&src, "alpha", app_scope("web"), options()).await;
    let gamma = env.sync(&src, "gamma", app_scope("api"), options()).await;
    let bad_src = env
        .source_with_token("staging", &[("API_KEY", "other-secret")], "wrong-token")
        .await;
    // "aaa-old" fails first, "zzz-new" a moment later: newest failure first,
    // though the names say otherwise.
    let old = env
        .sync(&bad_src, "aaa-old", app_scope("app-old"), options())
        .await;
    let new = env
        .sync(&bad_src, "zzz-new", app_scope("app-new"), options())
        .await;
    for id in [alpha, gamma] {
        let done = env.run_sync(id).await;
        assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.message);
    }
    assert_eq!(env.run_sync(old).await.status, JobStatus::Failed);
    assert_eq!(env.run_sync(new).await.status, JobStatus::Failed);
    let (alpha_s, gamma_s, old_s, new_s) = (
        alpha.to_string(),
        gamma.to_string(),
        old.to_string(),
        new.to_string(),
    );

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;

    // Default order: failed first, the most recent failure first.
    assert_eq!(
        listed(&b).await,
        vec![
            new_s.clone(),
            old_s.clone(),
            alpha_s.clone(),
            gamma_s.clone()
        ]
    );
    assert_eq!(b.text("#count-failed").await, "2");
    assert_eq!(b.text("#count-succeeded").await, "2");
    assert_eq!(b.text("#count-all").await, "4");
    b.screenshot("syncs").await;
    b.assert_no_console_errors("the sync list").await;
    b.assert_accessible("the sync list").await;

    // Sort by a column: a header click sorts, a second click reverses,
    // and the order is in the URL.
    b.click("a.sort[data-sort='name']").await;
    b.until("the list sorted by name", || async {
        listed(&b).await
            == vec![
                old_s.clone(),
                alpha_s.clone(),
                gamma_s.clone(),
                new_s.clone(),
            ]
    })
    .await;
    assert_eq!(
        b.attrs("th[aria-sort]", "aria-sort").await,
        vec!["ascending".to_string()]
    );
    b.click("a.sort[data-sort='name']").await;
    b.until("the list sorted by name, reversed", || async {
        listed(&b).await
            == vec![
                new_s.clone(),
                gamma_s.clone(),
                alpha_s.clone(),
                old_s.clone(),
            ]
    })
    .await;
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.query()
            .unwrap_or_default()
            .contains("sort=name&dir=desc"),
        "{url}"
    );
    b.goto("/?sort=destination&dir=asc").await;
    // api, app-new, app-old, web
    assert_eq!(
        listed(&b).await,
        vec![
            gamma_s.clone(),
            new_s.clone(),
            old_s.clone(),
            alpha_s.clone()
        ]
    );
    b.goto("/?sort=last-failure").await;
    assert_eq!(listed(&b).await[..2], [new_s.clone(), old_s.clone()]);
    b.goto("/?sort=status&dir=desc").await;
    assert_eq!(listed(&b).await[2..], [old_s.clone(), new_s.clone()]);

    // Search: destination, source environment, source path, connection.
    for (q, expect) in [
        ("demo-org/web", vec![alpha_s.clone()]),
        ("ORG/API", vec![gamma_s.clone()]),
        ("staging", vec![new_s.clone(), old_s.clone()]),
        ("payments", vec![alpha_s.clone(), gamma_s.clone()]),
        ("PAYMENTS", vec![alpha_s.clone(), gamma_s.clone()]),
        // Typed wildcards match themselves (nothing here has them).
        ("%", vec![]),
        ("_", vec![]),
        (
            "/app",
            vec![
                new_s.clone(),
                old_s.clone(),
                alpha_s.clone(),
                gamma_s.clone(),
            ],
        ),
    ] {
        b.goto(&format!(
            "/?q={}",
            q.replace('%', "%25").replace('/', "%2F")
        ))
        .await;
        assert_eq!(listed(&b).await, expect, "search {q}");
    }
    // Typed into the box: the search lands in the URL, shareable.
    b.goto("/").await;
    let field = b
        .client
        .find(Locator::Css("#filter-q"))
        .await
        .expect("search");
    field.send_keys("payments").await.expect("type");
    b.click("#filter-apply").await;
    b.until("the search to apply", || async {
        listed(&b).await == vec![alpha_s.clone(), gamma_s.clone()]
    })
    .await;
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.query().unwrap_or_default().contains("q=payments"),
        "{url}"
    );
    assert_eq!(b.text("#count-all").await, "2", "counts follow the search");

    // A count filters on click.
    b.goto("/").await;
    b.click("#status-counts a[data-status='failed']").await;
    b.until("the failed filter", || async {
        listed(&b).await == vec![new_s.clone(), old_s.clone()]
    })
    .await;
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.query().unwrap_or_default().contains("status=failed"),
        "{url}"
    );

    // Retry failed: the count is asked about first, then one job per sync.
    assert_eq!(b.text("#retry-failed").await, "Retry 2 failed");
    b.click("#retry-failed").await;
    let question = b.client.get_alert_text().await.expect("a confirmation");
    assert!(question.contains("2 failed syncs"), "{question}");
    b.client.accept_alert().await.expect("confirm");
    b.until("the retry to be confirmed", || async {
        b.text("#flash")
            .await
            .contains("each of the 2 failed syncs")
    })
    .await;
    for id in [old, new] {
        let jobs = env
            .store
            .reads
            .recent_jobs(Some(id), 5)
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), 2, "{jobs:?}");
        assert_eq!(jobs[0].trigger.as_deref(), Some("dashboard"));
        let again = env.wait_job(jobs[0].id).await;
        assert_eq!(again.status, JobStatus::Failed, "the token is still wrong");
    }
    b.assert_no_console_errors("sorting, searching and retrying")
        .await;

    // Auto-sync off, then on again (which queues a sync job at once).
    b.goto("/").await;
    let toggle = format!("tr[data-sync-id='{alpha}'] button.toggle");
    assert_eq!(b.text(&toggle).await, "on");
    let auto = |id| {
        let store = env.store.clone();
        async move {
            store
                .syncs
                .load_sync(id)
                .await
                .expect("load")
                .expect("the sync")
                .is_auto_sync_enabled
        }
    };
    assert!(auto(alpha).await);
    b.click(&toggle).await;
    b.until("auto-sync off on the page", || async {
        b.text(&toggle).await == "off"
    })
    .await;
    assert!(!auto(alpha).await, "auto-sync off in Postgres");
    let before = env
        .store
        .reads
        .recent_jobs(Some(alpha), 10)
        .await
        .expect("jobs")
        .len();
    b.click(&toggle).await;
    b.until("auto-sync on again", || async {
        b.text(&toggle).await == "on"
    })
    .await;
    assert!(auto(alpha).await, "auto-sync on in Postgres");
    let jobs = env
        .store
        .reads
        .recent_jobs(Some(alpha), 10)
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), before + 1, "turning it on queued a sync");
    assert_eq!(jobs[0].trigger.as_deref(), Some("dashboard"));
    env.wait_job(jobs[0].id).await;

    // Copy id.
    b.click(&format!("button[data-copy='{alpha}']")).await;
    b.until("the copy to be confirmed", || async {
        b.text("#flash").await.contains(&alpha_s)
    })
    .await;

    // A job's page, from the history: timeline, counts, message.
    let first = env
        .store
        .reads
        .recent_jobs(Some(alpha), 10)
        .await
        .expect("jobs")
        .last()
        .expect("the first job")
        .id;
    b.goto(&format!("/syncs/{alpha}")).await;
    b.click(&format!("#jobs a[href='/jobs/{first}']")).await;
    b.until("the job page", || async { b.exists("#timeline").await })
        .await;
    let timeline = b.text("#timeline").await;
    for step in ["Enqueued", "Started", "Finished"] {
        assert!(timeline.contains(step), "{timeline}");
    }
    assert!(!timeline.contains("not yet"), "{timeline}");
    let counts = b.text("#job-counts").await;
    assert!(
        counts.contains("Created\t2") || counts.contains("Created 2"),
        "{counts}"
    );
    assert!(b.text("#job-fields").await.contains("synced"));
    assert!(b.exists("#job-keys").await, "a place for the key names");
    b.screenshot("job").await;
    b.assert_no_console_errors("the job page").await;
    b.assert_accessible("the job page").await;
    // A failed job shows its error.
    let failed_job = env
        .store
        .reads
        .recent_jobs(Some(new), 5)
        .await
        .expect("jobs")[0]
        .id;
    b.goto(&format!("/jobs/{failed_job}")).await;
    let failure = env
        .sync_row(new)
        .await
        .last_sync_message
        .expect("a message");
    assert!(b.text("#timeline").await.contains(&failure));
    assert!(b.text("#job-message").await.contains(&failure));
    b.assert_accessible("a failed job's page").await;

    // Delete, keeping the keys: the row goes, Humanitec keeps its values.
    assert_eq!(env.sandbox.values(ORG, "api", None).len(), 2);
    b.goto(&format!("/syncs/{gamma}")).await;
    assert!(b
        .text("#delete-form")
        .await
        .contains("also remove its 2 keys from Humanitec"));
    b.assert_accessible("the sync page").await;
    b.screenshot("sync-actions").await;
    b.click("#delete-keep").await;
    b.click("#delete").await;
    b.client.accept_alert().await.expect("confirm");
    b.until("the list after deleting", || async {
        b.text("#flash").await.contains("Sync deleted")
    })
    .await;
    assert!(env
        .store
        .syncs
        .load_sync(gamma)
        .await
        .expect("load")
        .is_none());
    assert_eq!(env.sandbox.values(ORG, "api", None).len(), 2);
    assert!(!listed(&b).await.contains(&gamma_s));

    // Delete, removing the keys: a remove job empties the destination and
    // then deletes the row.
    assert_eq!(env.sandbox.values(ORG, "web", None).len(), 2);
    b.goto(&format!("/syncs/{alpha}")).await;
    // Without a choice the form does not go (the choice is explicit).
    b.click("#delete").await;
    if b.client.get_alert_text().await.is_ok() {
        b.client.dismiss_alert().await.expect("dismiss");
    }
    assert!(env
        .store
        .syncs
        .load_sync(alpha)
        .await
        .expect("load")
        .is_some());
    b.click("#delete-remove").await;
    b.click("#delete").await;
    b.client.accept_alert().await.expect("confirm");
    b.until("the list after the remove was queued", || async {
        b.text("#flash").await.contains("Removing")
    })
    .await;
    eventually(WAIT, || async {
        match env.store.syncs.load_sync(alpha).await {
            Ok(None) => Ok(()),
            other => Err(format!(
                "the sync is still there: {:?}",
                other.map(|s| s.is_some())
            )),
        }
    })
    .await;
    assert!(env.sandbox.values(ORG, "web", None).is_empty());
    b.assert_no_console_errors("toggling, copying, the job page and deleting")
        .await;

    // Every other page passes the accessibility check too.
    b.goto(&format!("/syncs/{new}")).await;
    b.assert_accessible("a failed sync's page").await;
    b.goto(&format!("/syncs/{new}/preview")).await;
    b.assert_accessible("the preview").await;
    b.goto("/overview").await;
    b.assert_accessible("the overview").await;
    b.goto("/dead").await;
    b.assert_accessible("the dead letters").await;
    b.goto(&format!("/syncs/{}", Uuid::new_v4())).await;
    b.assert_accessible("an error page").await;
    // The 404 of that page is the one thing logged.
    let logged = b.console_errors().await;
    assert!(
        logged.len() == 1 && logged[0].contains("404"),
        "{logged:#?}"
    );

    // A phone: one-line top bar, the list as cards, no sideways scroll.
    b.client.set_window_size(390, 844).await.expect("resize");
    b.goto("/").await;
    let inner = b.js("return window.innerWidth;", vec![]).await;
    assert!(inner.as_i64().is_some_and(|w| w <= 400), "{inner}");
    b.screenshot("syncs-phone").await;
    b.assert_no_horizontal_scroll("the sync list on a phone")
        .await;
    let header = b
        .js(
            "return document.querySelector('header').getBoundingClientRect().height;",
            vec![],
        )
        .await;
    assert!(
        header.as_f64().is_some_and(|h| h < 60.0),
        "top bar {header}px high"
    );
    // Every link of the top bar is in view, none cut off or scrolled away.
    let hidden = b
        .js(
            "return [...document.querySelectorAll('header nav a, header .session button')]
               .filter(a => { const r = a.getBoundingClientRect();
                              const box = a.closest('nav, .session').getBoundingClientRect();
                              return r.width === 0 || r.left < Math.max(0, box.left) - 0.5
                                  || r.right > Math.min(window.innerWidth, box.right) + 0.5; })
               .map(a => a.textContent);",
            vec![],
        )
        .await;
    assert_eq!(hidden, json!([]), "top bar links out of view on a phone");
    let display = b
        .js(
            "return getComputedStyle(document.querySelector('#syncs tbody tr')).display;",
            vec![],
        )
        .await;
    assert_eq!(display, json!("block"), "rows are cards");
    b.screenshot("syncs-phone").await;
    b.assert_accessible("the sync list on a phone").await;
    for page in [
        format!("/syncs/{new}"),
        format!("/jobs/{failed_job}"),
        "/overview".into(),
        "/dead".into(),
    ] {
        b.goto(&page).await;
        b.assert_no_horizontal_scroll(&page).await;
    }
    b.goto(&format!("/syncs/{new}")).await;
    b.screenshot("sync-detail-phone").await;
    b.assert_no_console_errors("the phone layout").await;

    // Sign-in page.
    b.client.set_window_size(1280, 900).await.expect("resize");
    b.click("form[action='/logout'] button").await;
    b.until("the login page", || async { b.exists("#token").await })
        .await;
    b.assert_accessible("the login page").await;

    b.finish().await;
    env.drain_dead_letters().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_shows_who_did_what_filters_and_pages() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let src = env.source("production", &[("K", "v4lue")]).await;
    let sync = env.sync(&src, "audited", app_scope("web"), options()).await;
    // Another project's entry, which this token must not see.
    let stranger = env.api_token(&["other"], "write").await;

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;
    b.goto(&format!("/syncs/{sync}")).await;
    b.click("#sync-now").await;
    b.until_synced("sync").await;
    // The job's page names the keys it wrote, never their values.
    let job = env
        .store
        .reads
        .recent_jobs(Some(sync), 1)
        .await
        .expect("jobs")[0]
        .id;
    b.goto(&format!("/jobs/{job}")).await;
    assert_eq!(b.attrs("#keys-created li", "data-key").await, vec!["K"]);
    assert!(!b.client.source().await.expect("source").contains("v4lue"));
    b.js(
        "document.getElementById('job-keys').scrollIntoView(); return true;",
        vec![],
    )
    .await;
    b.screenshot("job-detail").await;
    b.assert_no_console_errors("the job page").await;
    b.assert_accessible("the job page with its keys").await;

    b.goto("/audit").await;
    let actions = b.attrs("#audit tbody tr", "data-action").await;
    assert_eq!(
        actions,
        vec!["sync.trigger", "session.sign-in"],
        "newest first"
    );
    let row = b.text("#audit tbody tr:first-child").await;
    assert!(
        row.contains("test") && row.contains(&sync.to_string()),
        "{row}"
    );
    assert!(!b.client.source().await.expect("source").contains("v4lue"));
    b.screenshot("audit").await;
    b.assert_no_console_errors("the audit page").await;
    b.assert_accessible("the audit page").await;

    // The filters narrow it, and they are in the URL.
    b.client
        .find(Locator::Css("#audit-action"))
        .await
        .expect("action filter")
        .send_keys("session.sign-in")
        .await
        .expect("type");
    b.click("#audit-apply").await;
    b.until("the action filter", || async {
        b.attrs("#audit tbody tr", "data-action").await == vec!["session.sign-in"]
    })
    .await;
    let url = b.client.current_url().await.expect("url");
    assert!(url
        .query()
        .is_some_and(|q| q.contains("action=session.sign-in")));

    // The stranger's sign-in is theirs alone.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    dashboard_sign_in(&http, &base, &stranger).await;
    b.goto("/audit").await;
    assert_eq!(b.attrs("#audit tbody tr", "data-action").await.len(), 2);
    b.finish().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_listed_with_a_failing_one_marked_and_syncs_show_their_next_run() {
    let mut env =
        TestEnv::with(|name| (name == "SYNC_RECONCILE_INTERVAL").then(|| "1h".into())).await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let src = env.source("production", &[("K", "v")]).await;
    let sync = env
        .sync(&src, "scheduled", app_scope("web"), options())
        .await;
    let url = "https://203.0.113.10/hooks/t0ken-in-the-path";
    let at = secret_sync::crypto::Aad::new("proj", secret_sync::crypto::Column::ChannelUrl);
    let sealed = env.cipher().encrypt_str(url, at);
    let channel = match env
        .store
        .outbox
        .insert_channel("proj", "team-hook", "webhook", &sealed, None, &[])
        .await
        .expect("channel")
    {
        secret_sync::store::Written::Done(c) => c.id,
        other => panic!("{other:?}"),
    };
    env.seed
        .execute_sql(&format!(
            "UPDATE notification_channels SET failing_since = now() - interval '5 minutes',
                    last_error = 'the receiver answered HTTP 500' WHERE id = '{channel}';
             INSERT INTO notification_attempts (channel_id, delivery_id, events, status_code, error)
             VALUES ('{channel}', gen_random_uuid(), 3, 500, 'the receiver answered HTTP 500')"
        ))
        .await;
    // The schedule gives the sync a slot within its first tick.
    eventually(Duration::from_secs(30), || async {
        env.store.ledger.next_reconcile(sync).await.ok().flatten()
    })
    .await;

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;
    b.click("nav a[href='/channels']").await;
    b.until("the channels page", || async { b.exists(".channel").await })
        .await;
    let card = format!(".channel[data-channel-id='{channel}']");
    assert_eq!(b.attrs(&card, "data-failing").await, vec!["true"]);
    assert_eq!(b.text(&format!("{card} .channel-state")).await, "failing");
    assert!(b
        .text(&card)
        .await
        .contains("the receiver answered HTTP 500"));
    assert!(!b
        .client
        .source()
        .await
        .expect("source")
        .contains("t0ken-in-the-path"));
    b.screenshot("channels").await;
    b.assert_no_console_errors("the channels page").await;
    b.assert_accessible("the channels page").await;

    b.goto(&format!("/syncs/{sync}")).await;
    assert!(
        b.text("#next-run").await.contains("UTC"),
        "{}",
        b.text("#next-run").await
    );
    b.assert_no_console_errors("the sync page").await;
    b.finish().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_says_where_imported_values_come_from() {
    let env = TestEnv::new().await;
    let mut env = env;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let src = env.source("production", &[("OWN", "own-value")]).await;
    let shared = env
        .seed
        .create_folder(&src.project, "shared", "/base")
        .await;
    env.put_secret(shared, "SHARED", "shared-value").await;
    env.seed.add_import(src.folder, "shared", "/base", 1).await;
    let sync = env.sync(&src, "imports", app_scope("api"), options()).await;

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;
    b.goto(&format!("/syncs/{sync}/preview")).await;
    b.until("the preview", || async {
        b.text("h1").await.contains("Preview")
    })
    .await;
    let page = b.text("main").await;
    assert!(page.contains("Where the values come from (2)"), "{page}");
    assert!(page.contains("OWN — from production:/app"), "{page}");
    assert!(page.contains("SHARED — from shared:/base"), "{page}");
    let source = b.client.source().await.expect("source");
    assert!(!source.contains("own-value") && !source.contains("shared-value"));
    b.assert_accessible("the preview with origins").await;
    b.assert_no_console_errors("the preview with origins").await;
    b.screenshot("preview-origins").await;
    b.finish().await;
    env.finish().await;
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`: one Chrome
/// DevTools command (here, emulating `prefers-color-scheme`).
#[derive(Debug)]
struct Cdp(&'static str, serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"cmd": self.0, "params": self.1}).to_string()),
        )
    }
}

/// The browser reports `prefers-color-scheme: scheme` from now on.
async fn prefer_scheme(b: &Browser, scheme: &str) {
    b.client
        .issue_cmd(Cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        ))
        .await
        .expect("chromedriver emulates the colour scheme");
}

/// The theme the page shows (`<html data-theme>`) and its background.
async fn shown_theme(b: &Browser) -> (String, String) {
    let v = b
        .js(
            "return [document.documentElement.getAttribute('data-theme') || '',
                     getComputedStyle(document.body).backgroundColor];",
            vec![],
        )
        .await;
    serde_json::from_value(v).expect("two strings")
}

const LIGHT_BG: &str = "rgb(245, 247, 250)";
const DARK_BG: &str = "rgb(15, 20, 25)";

/// Presses and releases `key` wherever the focus is.
async fn press(b: &Browser, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    b.client.perform_actions(keys).await.expect("keys pressed");
}

async fn focused_id(b: &Browser) -> String {
    let v = b
        .js(
            "return document.activeElement ? document.activeElement.id : '';",
            vec![],
        )
        .await;
    v.as_str().unwrap_or_default().to_string()
}

/// Makes the page believe its tab is hidden or shown (as the browser does
/// on a tab switch) and returns how many requests it had made by then,
/// counted by [`COUNT_FETCHES`], right after the `visibilitychange` ran.
async fn set_hidden(b: &Browser, hidden: bool) -> u64 {
    let v = b
        .js(
            "const hidden = arguments[0];
             Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
             Object.defineProperty(document, 'visibilityState',
                 { configurable: true, get: () => hidden ? 'hidden' : 'visible' });
             document.dispatchEvent(new Event('visibilitychange'));
             return window.__fetches;",
            vec![json!(hidden)],
        )
        .await;
    v.as_u64().expect("a count")
}

/// Counts the page's requests (the live refresh goes through `fetch`).
const COUNT_FETCHES: &str = "if (window.__fetches === undefined) {
        window.__fetches = 0;
        const real = window.fetch;
        window.fetch = function () { window.__fetches++; return real.apply(this, arguments); };
    }
    return window.__fetches;";

async fn fetches(b: &Browser) -> u64 {
    b.js(COUNT_FETCHES, vec![]).await.as_u64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_well_at_night_dark_theme_search_key_and_no_polling_while_hidden() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "write").await;
    let src = env
        .source("production", &[("DATABASE_URL", "postgres://x")])
        .await;
    let good = env
        .sync(&src, "night-shift", app_scope("web"), options())
        .await;
    let bad_src = env
        .source_with_token("staging", &[("API_KEY", "v")], "wrong-token")
        .await;
    let broken = env
        .sync(&bad_src, "broken", app_scope("app-b"), options())
        .await;
    let _never = env
        .sync(&src, "never-run", app_scope("api"), options())
        .await;
    assert_eq!(env.run_sync(good).await.status, JobStatus::Succeeded);
    assert_eq!(env.run_sync(broken).await.status, JobStatus::Failed);

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;

    // The theme is set by a blocking script in <head>, before the first paint.
    assert!(
        b.exists("head script[src='/assets/theme.js']:not([defer]):not([async])")
            .await
    );
    assert_eq!(
        shown_theme(&b).await,
        ("light".to_string(), LIGHT_BG.to_string())
    );
    let picker = b
        .js(
            "const p = document.getElementById('theme-choice'); return [p.hidden, p.value];",
            vec![],
        )
        .await;
    assert_eq!(picker, json!([false, "system"]));

    // The toggle: dark at once, and still dark after a reload.
    b.select("#theme-choice", "dark").await;
    b.until("the dark theme", || async {
        shown_theme(&b).await.0 == "dark"
    })
    .await;
    assert_eq!(shown_theme(&b).await.1, DARK_BG);
    b.goto("/").await;
    assert_eq!(
        shown_theme(&b).await,
        ("dark".to_string(), DARK_BG.to_string())
    );
    assert_eq!(
        b.js(
            "return document.getElementById('theme-choice').value;",
            vec![]
        )
        .await,
        json!("dark")
    );
    b.assert_accessible("the sync list, dark").await;
    b.screenshot("syncs-dark").await;
    b.goto(&format!("/syncs/{broken}")).await;
    b.until("the failed sync's page", || async {
        b.text("h1").await == "broken"
    })
    .await;
    b.assert_accessible("a failed sync, dark").await;
    b.screenshot("sync-detail-dark").await;
    b.goto(&format!("/syncs/{good}")).await;
    b.until_synced("sync").await;
    b.assert_accessible("a synced sync, dark").await;
    b.goto("/overview").await;
    b.assert_accessible("the overview, dark").await;
    b.screenshot("overview-dark").await;
    b.assert_no_console_errors("the dark pages").await;

    // Light again, chosen: persists too.
    b.select("#theme-choice", "light").await;
    b.goto("/").await;
    assert_eq!(shown_theme(&b).await.0, "light");

    // System: follows prefers-color-scheme, live and after a reload,
    // without the toggle being set to dark.
    b.select("#theme-choice", "system").await;
    b.until("the system's light theme", || async {
        shown_theme(&b).await.0 == "light"
    })
    .await;
    prefer_scheme(&b, "dark").await;
    b.until("the system's dark theme", || async {
        shown_theme(&b).await.0 == "dark"
    })
    .await;
    b.goto("/").await;
    assert_eq!(
        shown_theme(&b).await,
        ("dark".to_string(), DARK_BG.to_string())
    );
    assert_eq!(
        b.js("return localStorage.getItem('secret-sync.theme');", vec![])
            .await,
        json!(null)
    );
    b.assert_accessible("the sync list, system dark").await;
    b.screenshot("syncs-system-dark").await;

    // "/" focuses the search; Escape leaves it; in another field "/" is a "/".
    b.js(
        "document.activeElement && document.activeElement.blur();",
        vec![],
    )
    .await;
    press(&b, '/').await;
    assert_eq!(focused_id(&b).await, "filter-q");
    press(&b, '\u{e00c}').await; // Escape
    assert_ne!(focused_id(&b).await, "filter-q");
    b.client
        .find(Locator::Css("#filter-app"))
        .await
        .expect("app filter")
        .send_keys("a/b")
        .await
        .expect("typed");
    assert_eq!(focused_id(&b).await, "filter-app");
    assert_eq!(
        b.js(
            "return document.getElementById('filter-app').value;",
            vec![]
        )
        .await,
        json!("a/b")
    );
    assert!(b.text(".filters .hint").await.contains("to search"));
    // From a page without a search box, "/" opens the list's search.
    b.goto(&format!("/syncs/{good}")).await;
    press(&b, '/').await;
    b.until("the list's search focused", || async {
        focused_id(&b).await == "filter-q"
    })
    .await;

    // Polling: every 2 s while shown, nothing while hidden, one request at
    // once when shown again.
    b.goto("/").await;
    b.select("#live-interval", "2").await;
    let start = fetches(&b).await;
    b.until("the live refresh to poll", || async {
        fetches(&b).await > start
    })
    .await;
    let hidden_at = set_hidden(&b, true).await;
    pace::hold(Duration::from_millis(5500)).await; // more than two periods
    assert_eq!(fetches(&b).await, hidden_at, "the page polled while hidden");
    let shown_at = set_hidden(&b, false).await;
    assert_eq!(shown_at, hidden_at + 1, "no refresh at once when shown");
    b.until("polling to resume", || async {
        fetches(&b).await > shown_at
    })
    .await;
    b.assert_no_console_errors("the sync list").await;

    // A phone: the picker moves to the footer (the top bar has no room).
    prefer_scheme(&b, "light").await;
    b.client.set_window_size(390, 844).await.expect("resize");
    b.goto(&format!("/syncs/{broken}")).await;
    let shown = b
        .js(
            "return [...document.querySelectorAll('select.theme-choice')]
               .map(p => p.id + ':' + (p.getBoundingClientRect().width > 0));",
            vec![],
        )
        .await;
    assert_eq!(
        shown,
        json!(["theme-choice:false", "theme-choice-narrow:true"])
    );
    b.select("#theme-choice-narrow", "dark").await;
    b.until("the dark theme on a phone", || async {
        shown_theme(&b).await.0 == "dark"
    })
    .await;
    b.assert_no_horizontal_scroll("a sync on a phone, dark")
        .await;
    b.assert_accessible("a sync on a phone, dark").await;
    b.js("window.scrollTo(0, 0);", vec![]).await;
    b.screenshot("sync-detail-phone-dark").await;
    b.finish().await;
    env.finish().await;
}

/// Types `text` into the list's search box (emptied first) and submits it
/// as a person would, with Enter.
async fn search_for(b: &Browser, text: &str) {
    let field = b
        .client
        .find(Locator::Css("#filter-q"))
        .await
        .expect("the search box");
    field.clear().await.expect("emptied");
    field
        .send_keys(&format!("{text}\u{e007}"))
        .await
        .expect("typed, then Enter");
}

/// Searches for `id` and returns what the list says (the flash, then the
/// list), with the id taken out, after checking the browser stayed there.
async fn id_not_found(b: &Browser, id: Uuid) -> (String, String) {
    let id = id.to_string();
    b.goto("/").await;
    search_for(b, &id).await;
    b.until("the search's answer", || async {
        b.text("#flash").await.contains(&id)
    })
    .await;
    assert_eq!(shown_path(b).await, "/");
    (
        b.text("#flash").await.replace(&id, "<id>"),
        b.text("#live").await.replace(&id, "<id>"),
    )
}

/// The path of the page the browser shows.
async fn shown_path(b: &Browser) -> String {
    b.client
        .current_url()
        .await
        .expect("url")
        .path()
        .to_string()
}

/// Issue 41: the search box finds the syncs that push a key (its whole
/// name, any case: the keys actually pushed, from the store's record) and
/// opens a job (or sync) whose id is pasted into it; another project's job
/// id answers exactly as an id nobody has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_opens_a_job_by_id_and_lists_the_syncs_that_push_a_key() {
    let mut env = TestEnv::new().await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let prod = env
        .source(
            "production",
            &[
                ("DATABASE_URL", "postgres://hidden-value"),
                ("API_KEY", "k3y"),
            ],
        )
        .await;
    let staging = env.source("staging", &[("REDIS_URL", "redis://r")]).await;
    for app in ["billing", "ledger", "cache", "idle"] {
        env.add_humanitec_app(app, &["production"]);
    }
    let billing = env
        .sync(&prod, "billing", app_scope("billing"), options())
        .await;
    let ledger = env
        .sync(&prod, "ledger", app_scope("ledger"), options())
        .await;
    let cache = env
        .sync(&staging, "cache", app_scope("cache"), options())
        .await;
    // Its source holds DATABASE_URL, but it has not pushed it: not listed.
    let _idle = env.sync(&prod, "idle", app_scope("idle"), options()).await;
    let mut billing_job = None;
    for id in [billing, ledger, cache] {
        let job = env.run_sync(id).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.message);
        if id == billing {
            billing_job = Some(job.id);
        }
    }
    let billing_job = billing_job.expect("billing's job");

    // Another project: a sync that pushed DATABASE_URL and a job of it.
    env.seed.create_project("other-proj", "Other").await;
    let b_folder = env
        .seed
        .create_folder("other-proj", "production", "/app")
        .await;
    let b_conn = env
        .seed
        .create_connection("other-proj", "other-conn", ADMIN_TOKEN)
        .await;
    let b_sync = env
        .seed
        .create_sync(
            "other-proj",
            "other-billing",
            b_folder,
            b_conn,
            &app_scope("b-app"),
            &options(),
        )
        .await;
    let b_job = Uuid::new_v4();
    env.seed
        .execute_sql(&format!(
            "INSERT INTO secret_sync_pushed_keys (sync_id, destination, key, fingerprint)
             VALUES ('{b_sync}', '{ORG}/b-app', 'DATABASE_URL', '\\x00');
             INSERT INTO secret_sync_jobs (id, sync_id, type, status, message, finished_at)
             VALUES ('{b_job}', '{b_sync}', 'sync', 'failed', 'B failed', now())"
        ))
        .await;

    let b = Browser::start(&base).await;
    b.sign_in(&token).await;
    assert_eq!(listed(&b).await.len(), 4);

    // A key name, typed in any case: exactly the syncs that pushed it.
    let pushers = vec![billing.to_string(), ledger.to_string()];
    search_for(&b, "database_url").await;
    b.until("the syncs that push DATABASE_URL", || async {
        listed(&b).await == pushers
    })
    .await;
    let url = b.client.current_url().await.expect("url");
    assert!(
        url.query().unwrap_or_default().contains("q=database_url"),
        "{url}"
    );
    assert_eq!(b.text("#count-all").await, "2", "counts follow the search");
    let source = b.client.source().await.expect("page source");
    assert!(!source.contains("other-billing"), "another project's sync");
    assert!(!source.contains("hidden-value"), "a value");
    b.screenshot("search-key").await;
    b.assert_accessible("the list searched by a key name").await;
    b.assert_no_console_errors("the list searched by a key name")
        .await;
    for (q, expect) in [
        ("DATABASE_URL", pushers.clone()),
        ("REDIS_URL", vec![cache.to_string()]),
        ("API_KEY", pushers.clone()),
        // The whole name only: a part of one finds no key.
        ("DATABASE", vec![]),
    ] {
        b.goto(&format!("/?q={q}")).await;
        assert_eq!(listed(&b).await, expect, "search {q}");
    }

    // A job id pasted into the search opens the job.
    b.goto("/").await;
    search_for(&b, &billing_job.to_string()).await;
    let job_path = format!("/jobs/{billing_job}");
    b.until("the job's page", || async {
        shown_path(&b).await == job_path
    })
    .await;
    let heading = b.text("h1").await;
    assert!(heading.contains(&billing_job.to_string()), "{heading}");
    b.assert_no_console_errors("the job opened from the search")
        .await;
    // A sync id opens the sync.
    b.goto(&format!("/?q={cache}")).await;
    assert_eq!(shown_path(&b).await, format!("/syncs/{cache}"));

    // Another project's job id: exactly as an id nobody has.
    let foreign = id_not_found(&b, b_job).await;
    let b_sync_answer = id_not_found(&b, b_sync).await;
    let unknown = id_not_found(&b, Uuid::new_v4()).await;
    assert_eq!(foreign, unknown);
    assert_eq!(b_sync_answer, unknown);
    assert_eq!(
        unknown.0,
        "No job or sync with id <id> found in the projects this token may see."
    );
    assert!(listed(&b).await.is_empty());
    b.screenshot("search-unknown-id").await;
    b.assert_accessible("the list after an unknown id").await;
    b.assert_no_console_errors("the list after an unknown id")
        .await;
    b.finish().await;
    env.finish().await;
}
