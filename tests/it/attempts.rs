//! Issue 41, "every attempt on record": a job that meets 503, 503 (with a
//! Retry-After) and then 401 from Humanitec keeps all three attempts, each
//! with its start and end, its outcome, its message and Humanitec's answer,
//! over the API (`GET …/{syncId}/jobs/{jobId}`, checked against the served
//! OpenAPI document) and on the job page (a real browser, axe clean).

use chrono::{DateTime, Utc};
use humanitec_sandbox::{Fault, Faults};
use secret_sync::web::api::openapi::openapi_to_json_schema;
use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};

use crate::dashboard::Browser;

const SYNCS: &str = "/api/v1/secret-syncs/humanitec";
const SERVED: &str = include_str!("../../docs/openapi.json");

fn status(code: u16, retry_after: Option<u64>) -> Fault {
    Fault::Status {
        status: code,
        retry_after,
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// `body` is what the served document says `GET …/jobs/{jobId}` answers.
fn assert_documented(body: &Value) {
    let doc: Value = serde_json::from_str(SERVED).expect("docs/openapi.json");
    let schema = &doc["paths"][format!("{SYNCS}/{{syncId}}/jobs/{{jobId}}")]["get"]["responses"]
        ["200"]["content"]["application/json"]["schema"];
    let mut root = openapi_to_json_schema(schema);
    if let Value::Object(map) = &mut root {
        map.insert(
            "components".into(),
            openapi_to_json_schema(&doc["components"]),
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
    assert!(errors.is_empty(), "{errors:?}\n{body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_met_503_503_then_401_shows_every_attempt_over_the_api_and_on_its_page() {
    // No in-process retries: each Humanitec answer ends one attempt.
    let mut env = TestEnv::with(|name| match name {
        "HTTP_RETRIES" => Some("0".into()),
        "JOB_MAX_ATTEMPTS" => Some("5".into()),
        "JOB_RETRY_DELAYS" => Some("200ms".into()),
        _ => None,
    })
    .await;
    env.start_worker().await;
    let base = env.start_api().await;
    let token = env.api_token(&["proj"], "read").await;
    let (_, sync) = env.one_sync().await;
    env.sandbox.clear_requests();
    env.sandbox.set_faults(Faults {
        script: vec![status(503, None), status(503, Some(1)), status(401, None)],
        ..Faults::default()
    });
    let job = env.enqueue(sync).await;
    let row = env.wait_job(job).await;
    assert_eq!(
        (row.status, row.attempt),
        (JobStatus::Failed, 3),
        "{:?}",
        row.message
    );
    let log = env.sandbox.requests();
    let answered: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(answered, vec![503, 503, 401], "one request per attempt");

    // Over the API.
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{base}{SYNCS}/{sync}/jobs/{job}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("JSON");
    assert_documented(&body);
    let attempts = body["job"]["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("attempts listed: {body:#}"))
        .clone();
    assert_eq!(attempts.len(), 3, "{body:#}");
    let seen: Vec<(Value, Value, Value, Value)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].clone(),
                a["outcome"].clone(),
                a["humanitecStatus"].clone(),
                a["retryAfterMs"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!(1), json!("retrying"), json!(503), Value::Null),
            (json!(2), json!("retrying"), json!(503), json!(1000)),
            (json!(3), json!("failed"), json!(401), Value::Null),
        ],
        "{body:#}"
    );
    let message = |i: usize| attempts[i]["message"].as_str().unwrap_or_default();
    assert!(
        message(0).starts_with("Attempt 1 of 5 failed") && message(0).contains("503"),
        "{}",
        message(0)
    );
    assert!(
        message(1).starts_with("Attempt 2 of 5 failed") && message(1).contains("503"),
        "{}",
        message(1)
    );
    assert!(
        message(2).starts_with("Failed: ") && message(2).contains("401"),
        "{}",
        message(2)
    );
    assert_eq!(
        row.message.as_deref(),
        Some(message(2)),
        "the job row says its last attempt's words"
    );
    // Each attempt's times hold its request to Humanitec, and the next one
    // started after the retry delay (Humanitec's Retry-After: 1 for the
    // third). Postgres's clock and the sandbox's are the same machine's.
    let slack = chrono::Duration::milliseconds(50);
    for (i, request) in log.iter().enumerate() {
        let (started, finished) = (
            time(&attempts[i]["startedAt"]),
            time(&attempts[i]["finishedAt"]),
        );
        assert!(started <= finished, "{body:#}");
        assert!(
            started - slack <= request.received_at && request.finished_at <= finished + slack,
            "attempt {} ran {started}..{finished}, its request {}..{}",
            i + 1,
            request.received_at,
            request.finished_at
        );
    }
    let gap = |i: usize| time(&attempts[i + 1]["startedAt"]) - time(&attempts[i]["finishedAt"]);
    // (The wait ladder may hand a job back up to its smallest step early.)
    assert!(gap(0) > chrono::Duration::zero(), "{body:#}");
    assert!(
        gap(1) >= chrono::Duration::milliseconds(800),
        "Retry-After honoured: {body:#}"
    );
    // The list of jobs stays as it was (attempts are the job's own page).
    let list: Value = http
        .get(format!("{base}{SYNCS}/{sync}/jobs"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON");
    assert!(list["jobs"][0].get("attempts").is_none(), "{list:#}");

    // On the job page.
    let b = Browser::start(&base).await;
    b.sign_in(&token).await;
    b.goto(&format!("/jobs/{job}")).await;
    let rows = b.attrs("#attempts tbody tr", "data-attempt").await;
    assert_eq!(rows, vec!["1", "2", "3"]);
    let cell = |n: u8, css: &'static str| {
        let b = &b;
        async move {
            b.text(&format!("#attempts tr[data-attempt='{n}'] {css}"))
                .await
        }
    };
    assert_eq!(cell(1, "td.outcome").await, "failed, retrying");
    assert_eq!(cell(2, "td.outcome").await, "failed, retrying");
    assert_eq!(cell(3, "td.outcome").await, "failed");
    assert_eq!(cell(1, "td.status").await, "HTTP 503");
    assert_eq!(cell(2, "td.status").await, "HTTP 503");
    assert_eq!(cell(3, "td.status").await, "HTTP 401");
    assert_eq!(cell(1, "td.retry-after").await, "—");
    assert_eq!(cell(2, "td.retry-after").await, "1 s");
    assert!(cell(3, "td.message").await.contains("401"));
    for n in 1..=3u8 {
        let started = time(&attempts[usize::from(n) - 1]["startedAt"]);
        let shown = cell(n, "td.when").await;
        assert!(
            shown.contains(&started.format("%H:%M:%S%.3f").to_string()),
            "attempt {n}'s start on the page: {shown}"
        );
    }
    b.js(
        "document.querySelector('#job-attempts').scrollIntoView({block: 'center'});",
        vec![],
    )
    .await;
    b.screenshot("job-attempts").await;
    b.assert_accessible("the job page with its attempts").await;
    b.assert_no_console_errors("the job page").await;
    b.finish().await;

    // An attempt's retention is its job's: deleting the job deletes them.
    let sql = env.sql().await;
    sql.execute("DELETE FROM secret_sync_jobs WHERE id = $1", &[&job])
        .await
        .expect("delete the job");
    let left: i64 = sql
        .query_one(
            "SELECT count(*) FROM secret_sync_job_attempts WHERE job_id = $1",
            &[&job],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
    env.finish().await;
}
