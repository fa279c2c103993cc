//! The completer: outcomes of runs that end together are written in one
//! statement and one durable commit (River's batch completer), instead of
//! one statement and one WAL flush each. `finish_job/*.sql` takes arrays,
//! one element per job.
//!
//! Group commit without a timer: a batch is whatever waited while the
//! previous one was written, so a lone job waits for nothing and a busy
//! worker writes tens at once. Each run still awaits its own answer (its
//! delivery is acknowledged only after its outcome is durable), and a
//! batch that fails is written again job by job, so one job's error is
//! never another's.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::state::JobStart;
use crate::model::Counts;
use crate::store::conn::Param;
use crate::store::sql::Sql;
use crate::store::{Db, StoreError};

/// Most outcomes in one statement.
const MOST: usize = 128;

/// One job's outcome, as `finish_job/*.sql` takes it (the files list the
/// columns by number too): the job as it started, and how it ended.
#[derive(Clone, Debug)]
pub(super) struct Finish {
    pub start: JobStart,
    /// The sync row is only written if its lease still has this token.
    pub lease_token: Uuid,
    pub status: &'static str,
    pub message: String,
    pub counts: Counts,
    /// The status is final: the job row gets its `finished_at`.
    pub finished: bool,
    /// The sync's "last synced/imported/removed at" moves.
    pub succeeded: bool,
    /// The sync's status columns show the outcome (not for a skipped job).
    pub shown: bool,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The key names touched (None: none).
    pub keys: Option<serde_json::Value>,
    /// For the attempt's record: Humanitec's status and Retry-After (ms).
    pub humanitec_status: Option<i32>,
    pub retry_after_ms: Option<i32>,
}

impl Finish {
    fn sync_id(&self) -> Uuid {
        self.start.job.sync_id
    }

    fn job_id(&self) -> Uuid {
        self.start.job.id
    }
}

struct Pending {
    statement: Sql,
    finish: Finish,
    written: oneshot::Sender<Result<bool, StoreError>>,
}

/// The store's completer: one task, started with the first outcome.
#[derive(Clone, Default)]
pub(crate) struct Completer {
    queue: Arc<OnceLock<mpsc::UnboundedSender<Pending>>>,
}

impl Completer {
    /// Writes `finish` with `statement` (a `finish_job` variant) among the
    /// outcomes that end with it; whether it was written (false: the lease
    /// was no longer its run's, and nothing was).
    pub(super) async fn finish(
        &self,
        db: &Db,
        statement: Sql,
        finish: Finish,
    ) -> Result<bool, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (queue, waiting) = mpsc::unbounded_channel();
            tokio::spawn(complete(db.clone(), waiting));
            queue
        });
        let (written, answer) = oneshot::channel();
        let pending = Pending {
            statement,
            finish,
            written,
        };
        match queue.send(pending) {
            Ok(()) => answer.await.unwrap_or(Err(StoreError::Unexpected(
                "writing the job result (the completer stopped: the outcome may not be written, \
                 and the job runs again)",
            ))),
            // The completer's runtime is gone (a test's): write it here.
            Err(mpsc::error::SendError(pending)) => {
                write_one(db, pending.statement, &pending.finish).await
            }
        }
    }
}

/// The completer's task: until every store handle is gone, writes what
/// waited while it wrote the last batch.
async fn complete(db: Db, mut waiting: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = waiting.recv().await {
        let mut taken = vec![first];
        while taken.len() < MOST {
            match waiting.try_recv() {
                Ok(pending) => taken.push(pending),
                Err(_) => break,
            }
        }
        for batch in batches(taken) {
            flush(&db, batch).await;
        }
    }
}

/// Splits what waited into statements: one per `finish_job` variant, and
/// no sync or job twice in one (an upsert may not touch a row twice).
fn batches(taken: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut batches: Vec<(Sql, HashSet<Uuid>, Vec<Pending>)> = Vec::new();
    for pending in taken {
        let fits = |(statement, ids, _): &&mut (Sql, HashSet<Uuid>, Vec<Pending>)| {
            *statement == pending.statement
                && !ids.contains(&pending.finish.sync_id())
                && !ids.contains(&pending.finish.job_id())
        };
        let at = match batches.iter_mut().position(|b| fits(&b)) {
            Some(at) => at,
            None => {
                batches.push((pending.statement, HashSet::new(), Vec::new()));
                batches.len() - 1
            }
        };
        let (_, ids, batch) = &mut batches[at];
        ids.insert(pending.finish.sync_id());
        ids.insert(pending.finish.job_id());
        batch.push(pending);
    }
    batches.into_iter().map(|(_, _, batch)| batch).collect()
}

/// Writes a batch and tells each run whether its outcome was written. A
/// failed batch of several is written again one by one, so each run gets
/// its own answer.
async fn flush(db: &Db, batch: Vec<Pending>) {
    let Some(statement) = batch.first().map(|p| p.statement) else {
        return;
    };
    let finishes: Vec<&Finish> = batch.iter().map(|p| &p.finish).collect();
    match write(db, statement, &finishes).await {
        Ok(written) => {
            for pending in batch {
                let id = pending.finish.job_id();
                let _ = pending.written.send(Ok(written.contains(&id)));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(pending) = batch.into_iter().next() {
                let _ = pending.written.send(Err(e));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, jobs = batch.len(), "a batch of outcomes failed; writing them one by one");
            for pending in batch {
                let one = write_one(db, statement, &pending.finish).await;
                let _ = pending.written.send(one);
            }
        }
    }
}

/// One outcome alone: whether it was written.
async fn write_one(db: &Db, statement: Sql, finish: &Finish) -> Result<bool, StoreError> {
    Ok(write(db, statement, &[finish])
        .await?
        .contains(&finish.job_id()))
}

/// One statement for `finishes`: the ids of the jobs it wrote.
async fn write(db: &Db, statement: Sql, finishes: &[&Finish]) -> Result<HashSet<Uuid>, StoreError> {
    fn column<'a, T>(finishes: &[&'a Finish], f: impl Fn(&'a Finish) -> T) -> Vec<T> {
        finishes.iter().map(|x| f(x)).collect()
    }
    let sync_id = column(finishes, |f| f.sync_id());
    let lease_token = column(finishes, |f| f.lease_token);
    let job_id = column(finishes, |f| f.job_id());
    let status = column(finishes, |f| f.status);
    let message = column(finishes, |f| f.message.as_str());
    let created = column(finishes, |f| f.counts.created);
    let updated = column(finishes, |f| f.counts.updated);
    let deleted = column(finishes, |f| f.counts.deleted);
    let unchanged = column(finishes, |f| f.counts.unchanged);
    let skipped = column(finishes, |f| f.counts.skipped);
    let finished = column(finishes, |f| f.finished);
    let succeeded = column(finishes, |f| f.succeeded);
    let shown = column(finishes, |f| f.shown);
    let next_attempt_at = column(finishes, |f| f.next_attempt_at);
    let keys = column(finishes, |f| f.keys.clone());
    let job_type = column(finishes, |f| f.start.job.job_type().as_str());
    let trigger = column(finishes, |f| f.start.job.trigger.as_deref());
    let attempt = column(finishes, |f| f.start.attempt);
    let max_attempts = column(finishes, |f| f.start.max_attempts);
    let enqueued_at = column(finishes, |f| f.start.enqueued_at);
    let worker_id = column(finishes, |f| f.start.worker_id.as_str());
    let coalesced = column(finishes, |f| f.start.coalesced);
    let covers_until = column(finishes, |f| f.start.covers_until);
    let started_at = column(finishes, |f| f.start.started_at);
    let humanitec_status = column(finishes, |f| f.humanitec_status);
    let retry_after_ms = column(finishes, |f| f.retry_after_ms);
    let params: [Param<'_>; 26] = [
        (&sync_id, Type::UUID_ARRAY),
        (&lease_token, Type::UUID_ARRAY),
        (&job_id, Type::UUID_ARRAY),
        (&status, Type::TEXT_ARRAY),
        (&message, Type::TEXT_ARRAY),
        (&created, Type::INT4_ARRAY),
        (&updated, Type::INT4_ARRAY),
        (&deleted, Type::INT4_ARRAY),
        (&unchanged, Type::INT4_ARRAY),
        (&skipped, Type::INT4_ARRAY),
        (&finished, Type::BOOL_ARRAY),
        (&succeeded, Type::BOOL_ARRAY),
        (&shown, Type::BOOL_ARRAY),
        (&next_attempt_at, Type::TIMESTAMPTZ_ARRAY),
        (&keys, Type::JSONB_ARRAY),
        (&job_type, Type::TEXT_ARRAY),
        (&trigger, Type::TEXT_ARRAY),
        (&attempt, Type::INT4_ARRAY),
        (&max_attempts, Type::INT4_ARRAY),
        (&enqueued_at, Type::TIMESTAMPTZ_ARRAY),
        (&worker_id, Type::TEXT_ARRAY),
        (&coalesced, Type::INT4_ARRAY),
        (&covers_until, Type::TIMESTAMPTZ_ARRAY),
        (&started_at, Type::TIMESTAMPTZ_ARRAY),
        (&humanitec_status, Type::INT4_ARRAY),
        (&retry_after_ms, Type::INT4_ARRAY),
    ];
    let client = db.client().await?;
    let rows = client
        .query(statement, &params)
        .await
        .map_err(StoreError::db("writing the job result"))?;
    rows.iter()
        .map(|row| {
            row.try_get::<_, Uuid>(0)
                .map_err(|_| StoreError::Unexpected("reading which job results were written"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Job, JobKind};
    use crate::store::sql::jobs as sql;

    fn pending(statement: Sql, sync_id: Uuid, job_id: Uuid) -> Pending {
        let (written, _) = oneshot::channel();
        let mut job = Job::new(sync_id, JobKind::SYNC, "test");
        job.id = job_id;
        let start = JobStart {
            job,
            attempt: 1,
            max_attempts: 5,
            enqueued_at: Utc::now(),
            worker_id: "w".into(),
            coalesced: 1,
            covers_until: None,
            started_at: None,
        };
        let finish = Finish {
            start,
            lease_token: Uuid::new_v4(),
            status: "succeeded",
            message: String::new(),
            counts: Counts::default(),
            finished: true,
            succeeded: true,
            shown: true,
            next_attempt_at: None,
            keys: None,
            humanitec_status: None,
            retry_after_ms: None,
        };
        Pending {
            statement,
            finish,
            written,
        }
    }

    #[test]
    fn a_batch_holds_one_variant_and_no_sync_or_job_twice() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let taken = vec![
            pending(sql::FINISH_JOB_SYNC, a, Uuid::new_v4()),
            pending(sql::FINISH_JOB_SYNC, b, Uuid::new_v4()),
            pending(sql::FINISH_JOB_IMPORT, Uuid::new_v4(), Uuid::new_v4()),
            // The same sync again (a later run): the next statement.
            pending(sql::FINISH_JOB_SYNC, a, Uuid::new_v4()),
        ];
        let sizes: Vec<(Sql, usize)> = batches(taken)
            .iter()
            .map(|b| (b[0].statement, b.len()))
            .collect();
        assert_eq!(
            sizes,
            vec![
                (sql::FINISH_JOB_SYNC, 2),
                (sql::FINISH_JOB_IMPORT, 1),
                (sql::FINISH_JOB_SYNC, 1)
            ]
        );
    }
}
