//! The Prometheus alerting rules (`deploy/prometheus/alerts.yaml`) fire on
//! the series a real worker exports: a `secret-sync run` process serves
//! /metrics while one of its syncs has failed; the scraped samples become a
//! `promtool test rules` unit test (Debian's `prometheus` package, installed
//! by `scripts/test`), which must see exactly the alerts the situation calls
//! for, with their rendered annotations.

use std::path::PathBuf;
use std::time::Duration;

use secret_sync::JobStatus;
use secret_sync_testkit::*;
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_secret-sync");
const PROMTOOL: &str = "/usr/bin/promtool";

fn rules_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yaml")
}

/// `name{labels} value` lines of an exposition (no comments, no NaN).
fn samples(exposition: &str) -> Vec<(String, f64)> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse::<f64>().ok()?))
        })
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// A rule's annotations with `{{ $value }}` rendered as `value`.
fn annotations(rules: &Value, alert: &str, value: &str) -> Value {
    let rule = rules["groups"][0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["alert"] == alert)
        .unwrap_or_else(|| panic!("no rule {alert}"));
    let mut out = serde_json::Map::new();
    for (k, v) in rule["annotations"].as_object().expect("annotations") {
        let text = v.as_str().expect("text").replace("{{ $value }}", value);
        out.insert(k.clone(), json!(text));
    }
    Value::Object(out)
}

fn severity(rules: &Value, alert: &str) -> Value {
    rules["groups"][0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["alert"] == alert)
        .map(|r| r["labels"].clone())
        .expect("labels")
}

/// Runs `promtool test rules` on `tests` (JSON is YAML); returns its output
/// and whether it passed.
fn promtool_test(tests: Value) -> (bool, String) {
    assert!(
        std::path::Path::new(PROMTOOL).exists(),
        "promtool not found: install Debian's `prometheus` package (scripts/test does)"
    );
    let file = std::env::temp_dir().join(format!("alerts-test-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&file, tests.to_string()).expect("write the test file");
    let out = std::process::Command::new(PROMTOOL)
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs");
    let _ = std::fs::remove_file(&file);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_rules_fire_on_a_real_workers_metrics() {
    let env = TestEnv::with(|name| (name == "METRICS_REFRESH").then(|| "200ms".into())).await;
    let rules = yaml(&std::fs::read_to_string(rules_file()).expect("rules file"));
    // One sync fails for good (Humanitec refuses its token).
    let bad = env
        .source_with_token("production", &[("K", "v")], "wrong-token")
        .await;
    let failing = env.sync(&bad, "failing", app_scope("web"), options()).await;
    let log = std::env::temp_dir().join(format!("alerts-worker-{}.log", uuid::Uuid::new_v4()));
    let mut worker = WorkerProcess::spawn(EXE, &env.settings, &[], &log);
    let job = env.wait_job(env.enqueue(failing).await).await;
    assert_eq!(job.status, JobStatus::Failed);
    let exposition = eventually(Duration::from_secs(30), || async {
        let (status, body) = http_get(worker.http, "/metrics")
            .await
            .ok_or("no answer yet")?;
        (status == 200 && body.contains("secret_sync_syncs{status=\"failed\"} 1"))
            .then_some(body)
            .ok_or("the failed sync not counted yet")
    })
    .await;
    worker.kill().await;

    // The scraped samples, held for 30 minutes (counters grow by their
    // value every minute, as a busy worker's would).
    let series: Vec<Value> = samples(&exposition)
        .into_iter()
        .map(|(name, v)| {
            let values = if name.contains("_total") || name.contains("_bucket") {
                format!("0+{v}x30")
            } else {
                format!("{v}x30")
            };
            json!({ "series": name, "values": values })
        })
        .collect();
    assert!(series.len() > 10, "{exposition}");
    let expect = |alert: &str, value: &str| {
        json!({
            "eval_time": "15m",
            "alertname": alert,
            "exp_alerts": [{
                "exp_labels": severity(&rules, alert),
                "exp_annotations": annotations(&rules, alert, value),
            }],
        })
    };
    let quiet = |alert: &str| json!({ "eval_time": "15m", "alertname": alert, "exp_alerts": [] });
    let from_worker = json!({
        "rule_files": [rules_file()],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                expect("SecretSyncFailing", "1"),
                quiet("SecretSyncJobsNotPickedUp"),
                quiet("SecretSyncDeadLetters"),
                quiet("SecretSyncNoWorker"),
                quiet("SecretSyncHumanitecRejecting"),
                quiet("SecretSyncPausedTooLong"),
            ],
        }],
    });
    let (ok, out) = promtool_test(from_worker);
    assert!(ok, "{out}");

    // With no worker scraped at all, the worker alert fires; with one
    // failing sync fixed (0 failed), the failure alert does not.
    let no_worker = json!({
        "rule_files": [rules_file()],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                { "series": "up{job=\"secret-sync\",instance=\"w1:9090\"}", "values": "0x30" },
                { "series": "secret_sync_syncs{status=\"failed\"}", "values": "0x30" },
            ],
            "alert_rule_test": [
                expect("SecretSyncNoWorker", "1"),
                quiet("SecretSyncFailing"),
            ],
        }],
    });
    let (ok, out) = promtool_test(no_worker);
    assert!(ok, "{out}");

    // A pause (issue 41) fires once it lasts longer than the workers'
    // PAUSE_ALERT_AFTER (exported beside it): a connection paused at
    // 1 min, an alert after 5 min, seen at 15 min (840 s); not with an
    // hour allowed, and not for a scope that is not paused (0).
    let paused = |after: &str| {
        json!([
            { "series": "secret_sync_pause_started_seconds{scope=\"connection\",instance=\"w1:9090\"}", "values": "60x30" },
            { "series": "secret_sync_pause_started_seconds{scope=\"instance\",instance=\"w1:9090\"}", "values": "0x30" },
            { "series": "secret_sync_pause_alert_after_seconds{instance=\"w1:9090\"}", "values": format!("{after}x30") },
        ])
    };
    let mut fired = expect("SecretSyncPausedTooLong", "14m 0s");
    fired["exp_alerts"][0]["exp_labels"]["scope"] = json!("connection");
    fired["exp_alerts"][0]["exp_annotations"]["summary"] =
        json!("Humanitec writes (connection) have been paused for 14m 0s");
    let pause_rules = json!({
        "rule_files": [rules_file()],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": paused("300"),
                "alert_rule_test": [fired],
            },
            {
                "interval": "1m",
                "input_series": paused("3600"),
                "alert_rule_test": [quiet("SecretSyncPausedTooLong")],
            },
        ],
    });
    let (ok, out) = promtool_test(pause_rules);
    assert!(ok, "{out}");

    // And the check itself can fail: a wrong expectation is reported.
    let wrong = json!({
        "rule_files": [rules_file()],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{ "series": "secret_sync_syncs{status=\"failed\"}", "values": "0x30" }],
            "alert_rule_test": [expect("SecretSyncFailing", "1")],
        }],
    });
    let (ok, _) = promtool_test(wrong);
    assert!(!ok, "promtool accepted an alert that cannot fire");
    worker.remove_log();
    env.finish().await;
}
