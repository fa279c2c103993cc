//! Whether a delivered job runs (pure): a redelivered job that already
//! finished, or an older copy of a job that moved on to a later attempt, is
//! acknowledged; a sync job whose requests a later successful run already
//! read is skipped as superseded; a job whose sync a pause holds is parked
//! (issue 41); a sync job that requests still fold into waits (the
//! trailing debounce); anything else runs.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{JobEnvelope, JobState, JobStatus, JobType, PauseNote, StartView};

/// What to do with a delivered job, decided under its sync's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Already handled: acknowledge with this status, write nothing.
    Duplicate(JobStatus),
    /// Record the job skipped: a run that started after its last request
    /// (`covers_until`) succeeded at `latest`, and read a newer source.
    Superseded {
        covers_until: DateTime<Utc>,
        latest: DateTime<Utc>,
    },
    /// Requests are still folding into this queued sync job: put it back
    /// for this long without running (its marker stays, so they keep
    /// folding in).
    Wait(Duration),
    /// The message's `jobId` is another sync's job: never run, never
    /// recorded on that job's row; dead-lettered with this reason.
    ForeignJobId,
    /// A pause holds the sync's writes: park the job (`paused`, delivery
    /// acknowledged, queued marker kept) until the resume publishes it.
    Paused(PauseNote),
    Run,
}

impl Admission {
    /// Why a message whose `jobId` belongs to another sync is refused.
    pub const FOREIGN_JOB_ID: &'static str = "its jobId belongs to another sync's job: refused \
         without running or touching that job; publish it with a new jobId (or none)";

    /// The skipped job's message.
    pub fn superseded_message(covers_until: DateTime<Utc>, latest: DateTime<Utc>) -> String {
        format!(
            "Skipped: superseded by the run that started at {}, after this job's last request ({}); that run read a newer source",
            latest.to_rfc3339(),
            covers_until.to_rfc3339()
        )
    }
}

/// A finished job, or a stale copy of a retried one (its row is at a later
/// attempt): the delivery is a duplicate.
pub fn duplicate(envelope: &JobEnvelope, state: Option<JobState>) -> Option<JobStatus> {
    let state = state?;
    let stale = i64::from(state.attempt) > i64::from(envelope.attempt);
    (state.status.is_final() || stale).then_some(state.status)
}

/// Decides, from what was read under the lease, whether the job runs.
pub fn admit(job_type: JobType, envelope: &JobEnvelope, view: &StartView) -> Admission {
    if view.foreign_job {
        return Admission::ForeignJobId;
    }
    if let Some(status) = duplicate(envelope, view.state) {
        return Admission::Duplicate(status);
    }
    // Before the debounce and supersession: the marker was left in place
    // (it keeps taking requests), so `view.marker` says nothing here, and
    // whatever a later run covers, this job waits for the resume.
    if let Some(pause) = &view.paused {
        return Admission::Paused(pause.clone());
    }
    if let Some(wait) = view.debounce_wait {
        return Admission::Wait(wait);
    }
    // A job that just took its sync's queued marker covers requests made
    // after the previous run started: never superseded. One that took it on
    // an earlier attempt covers requests until then; any other, until it
    // was enqueued. A successful run that started later read all that.
    if job_type != JobType::Sync || view.marker.is_some() {
        return Admission::Run;
    }
    let covers_until = view
        .state
        .and_then(|s| s.covers_until)
        .unwrap_or(envelope.enqueued_at);
    match view.latest_success {
        Some(latest) if covers_until < latest => Admission::Superseded {
            covers_until,
            latest,
        },
        _ => Admission::Run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TakenMarker;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("valid time")
    }

    fn envelope(attempt: u32, enqueued: i64) -> JobEnvelope {
        JobEnvelope {
            attempt,
            ..JobEnvelope::first(at(enqueued))
        }
    }

    fn view(state: Option<JobState>, marker: bool, latest: Option<i64>) -> StartView {
        StartView {
            state,
            sync: None,
            marker: marker.then(|| TakenMarker {
                coalesced: 3,
                taken_at: at(50),
            }),
            latest_success: latest.map(at),
            debounce_wait: None,
            opened_at: at(60),
            foreign_job: false,
            paused: None,
        }
    }

    fn pause() -> PauseNote {
        PauseNote {
            connection_id: Some(uuid::Uuid::nil()),
            reason: "incident".into(),
            paused_by: "ops".into(),
            paused_at: at(40),
        }
    }

    #[test]
    fn a_paused_sync_parks_its_job_whatever_else_holds() {
        // Every kind, waiting or superseded or not: parked.
        for t in [JobType::Sync, JobType::Import, JobType::Remove] {
            let mut v = view(None, false, Some(20));
            v.paused = Some(pause());
            assert_eq!(admit(t, &envelope(1, 10), &v), Admission::Paused(pause()));
            v.debounce_wait = Some(Duration::from_millis(100));
            assert_eq!(admit(t, &envelope(1, 10), &v), Admission::Paused(pause()));
        }
        // A retry's delivery and a parked job published again by a
        // resume that a new pause caught: parked again.
        let mut v = view(state(JobStatus::Paused, 2, Some(30)), false, None);
        v.paused = Some(pause());
        assert_eq!(
            admit(JobType::Sync, &envelope(2, 10), &v),
            Admission::Paused(pause())
        );
        // Finished copies and foreign ids are still what they were.
        let mut v = view(state(JobStatus::Succeeded, 1, None), false, None);
        v.paused = Some(pause());
        assert_eq!(
            admit(JobType::Sync, &envelope(1, 10), &v),
            Admission::Duplicate(JobStatus::Succeeded)
        );
        v.foreign_job = true;
        assert_eq!(
            admit(JobType::Sync, &envelope(1, 10), &v),
            Admission::ForeignJobId
        );
    }

    #[test]
    fn a_parked_job_runs_once_its_pause_is_over() {
        // Published again by the resume, holding its marker again.
        let v = view(state(JobStatus::Pending, 1, None), true, Some(20));
        assert_eq!(admit(JobType::Sync, &envelope(1, 10), &v), Admission::Run);
    }

    #[test]
    fn a_job_id_of_another_sync_is_refused_before_anything_else() {
        let mut v = view(state(JobStatus::Succeeded, 1, None), true, None);
        v.foreign_job = true;
        assert_eq!(
            admit(JobType::Sync, &envelope(1, 0), &v),
            Admission::ForeignJobId
        );
    }

    fn state(status: JobStatus, attempt: i32, covers_until: Option<i64>) -> Option<JobState> {
        Some(JobState {
            status,
            attempt,
            covers_until: covers_until.map(at),
        })
    }

    #[test]
    fn finished_jobs_and_stale_copies_are_duplicates() {
        for status in [JobStatus::Succeeded, JobStatus::Failed, JobStatus::Skipped] {
            let v = view(state(status, 1, None), false, None);
            assert_eq!(
                admit(JobType::Sync, &envelope(1, 0), &v),
                Admission::Duplicate(status)
            );
        }
        // The row moved on to attempt 3 (a retry is scheduled): attempt 2's
        // copy is stale; attempt 3's own delivery runs.
        let v = view(state(JobStatus::Pending, 3, None), false, None);
        assert_eq!(
            admit(JobType::Import, &envelope(2, 0), &v),
            Admission::Duplicate(JobStatus::Pending)
        );
        assert_eq!(admit(JobType::Import, &envelope(3, 0), &v), Admission::Run);
        // A row left `running` by a dead worker runs again.
        let v = view(state(JobStatus::Running, 1, None), false, None);
        assert_eq!(admit(JobType::Remove, &envelope(1, 0), &v), Admission::Run);
    }

    #[test]
    fn a_sync_job_is_superseded_only_by_a_run_that_started_after_its_last_request() {
        let e = envelope(1, 10);
        // A later successful start, no marker: superseded, covering until enqueue.
        assert_eq!(
            admit(JobType::Sync, &e, &view(None, false, Some(20))),
            Admission::Superseded {
                covers_until: at(10),
                latest: at(20)
            }
        );
        // A run that started before the request did not read it.
        assert_eq!(
            admit(JobType::Sync, &e, &view(None, false, Some(5))),
            Admission::Run
        );
        // Holding the marker: it absorbed requests up to now.
        assert_eq!(
            admit(JobType::Sync, &e, &view(None, true, Some(20))),
            Admission::Run
        );
        // Took its marker on an earlier attempt at 30: covers until then.
        let retried = state(JobStatus::Pending, 2, Some(30));
        assert_eq!(
            admit(
                JobType::Sync,
                &envelope(2, 10),
                &view(retried, false, Some(25))
            ),
            Admission::Run
        );
        assert_eq!(
            admit(
                JobType::Sync,
                &envelope(2, 10),
                &view(retried, false, Some(40))
            ),
            Admission::Superseded {
                covers_until: at(30),
                latest: at(40)
            }
        );
        // Never a first run, nothing to supersede.
        assert_eq!(
            admit(JobType::Sync, &e, &view(None, false, None)),
            Admission::Run
        );
    }

    #[test]
    fn a_sync_job_that_requests_still_fold_into_waits_unless_already_done() {
        let wait = Duration::from_millis(180);
        let mut v = view(None, false, Some(20));
        v.debounce_wait = Some(wait);
        assert_eq!(
            admit(JobType::Sync, &envelope(1, 10), &v),
            Admission::Wait(wait)
        );
        // A finished job's copy is still a duplicate, wait or not.
        v.state = state(JobStatus::Succeeded, 1, None);
        assert_eq!(
            admit(JobType::Sync, &envelope(1, 10), &v),
            Admission::Duplicate(JobStatus::Succeeded)
        );
    }

    #[test]
    fn only_sync_jobs_are_superseded() {
        for t in [JobType::Import, JobType::Remove] {
            assert_eq!(
                admit(t, &envelope(1, 10), &view(None, false, Some(20))),
                Admission::Run
            );
        }
    }

    #[test]
    fn the_superseded_message_names_both_times() {
        let m = Admission::superseded_message(at(10), at(20));
        assert!(m.starts_with(
            "Skipped: superseded by the run that started at 2023-11-14T22:13:40+00:00"
        ));
        assert!(m.contains("(2023-11-14T22:13:30+00:00)"));
    }
}
