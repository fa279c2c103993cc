//! Reconcile on a schedule (issue 22): a value edited by hand in Humanitec is
//! repaired by the schedule alone, with no event and no trigger; and the
//! schedule spreads many syncs over its interval instead of starting them in
//! one burst.

use std::time::Duration;

use secret_sync::JobStatus;
use secret_sync_testkit::*;

#[tokio::test]
async fn a_value_edited_by_hand_is_repaired_by_the_schedule_alone() {
    let mut env =
        TestEnv::with(|name| (name == "SYNC_RECONCILE_INTERVAL").then(|| "2s".into())).await;
    let src = env.source("production", &[("DB_URL", "from-source")]).await;
    let sync = env
        .sync(&src, "drifting", app_scope("web"), options())
        .await;
    env.start_worker().await;
    let first = env.run_sync(sync).await;
    assert_eq!(first.status, JobStatus::Succeeded, "{:?}", first.message);

    // Someone edits the value by hand; nothing announces it.
    env.put_humanitec("web", None, &[("DB_URL", "edited-by-hand", true)]);
    eventually(Duration::from_secs(30), || async {
        let values = env.humanitec_values("web", None);
        seen(values.get("DB_URL").cloned(), |v| {
            v.as_deref() == Some("from-source")
        })
    })
    .await;
    // The worker writes to Humanitec before it records the outcome: wait for
    // the scheduled run's row as well.
    let jobs = eventually(Duration::from_secs(30), || async {
        let jobs = env
            .store
            .reads
            .recent_jobs(Some(sync), 50)
            .await
            .expect("jobs");
        let repaired = jobs.iter().any(|j| {
            j.trigger.as_deref() == Some("schedule")
                && j.updated == 1
                && j.status == JobStatus::Succeeded
        });
        let seen_rows: Vec<_> = jobs
            .iter()
            .map(|j| (j.trigger.clone(), j.status, j.updated))
            .collect();
        if repaired {
            Ok(jobs)
        } else {
            Err(format!("{seen_rows:?}"))
        }
    })
    .await;
    let triggers: Vec<&str> = jobs.iter().filter_map(|j| j.trigger.as_deref()).collect();
    println!("jobs of the sync (newest first): {triggers:?}");
    assert!(
        triggers.iter().all(|t| *t == "schedule" || *t == "test"),
        "{triggers:?}"
    );
    // The test's own first run; everything after it came from the schedule.
    assert_eq!(triggers.iter().filter(|t| **t == "test").count(), 1);
    assert!(env
        .store
        .ledger
        .next_reconcile(sync)
        .await
        .expect("slot")
        .is_some());
    env.finish().await;
}

#[tokio::test]
async fn a_thousand_syncs_on_a_one_minute_interval_are_spread_over_it() {
    let env = TestEnv::new().await;
    let src = env.source("production", &[("K", "v")]).await;
    env.seed
        .create_syncs(
            &src.project,
            "bulk-",
            src.folder,
            src.connection,
            "demo-org",
            1..=1000,
        )
        .await;
    let every = Duration::from_secs(60);
    let scheduled = env
        .store
        .ledger
        .schedule_new_syncs(every)
        .await
        .expect("schedule");
    assert_eq!(scheduled, 1000);
    // A new schedule starts no burst: only the few whose first slot came
    // in the moments since are due now.
    let now = env
        .store
        .ledger
        .take_due_syncs(every, every * 4, 5000)
        .await
        .expect("due");
    assert!(now.due.len() <= 20, "{} due at once", now.due.len());
    let per_second = env
        .seed
        .numbers(
            "SELECT count(*) FROM sync_reconcile
              GROUP BY date_trunc('second', next_at) ORDER BY 1 DESC",
        )
        .await;
    let busiest = per_second.first().copied().unwrap_or_default();
    println!(
        "1000 syncs over 60 s: {} distinct seconds, busiest second {busiest} syncs ({:.1} %)",
        per_second.len(),
        busiest / 10.0
    );
    assert!(per_second.len() >= 55, "{} seconds used", per_second.len());
    assert!(busiest <= 40.0, "{busiest} syncs in one second");
    env.finish().await;
}
