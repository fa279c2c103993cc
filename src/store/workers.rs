//! Which workers are alive: each marks itself seen every METRICS_REFRESH
//! (the overview lists those seen lately, `read::dashboard`).

use tokio_postgres::types::Type;

use crate::store::sql::workers as sql;
use crate::store::{JobLedger, StoreError};

impl JobLedger {
    /// Marks `worker_id` seen now, and forgets workers not seen for a day
    /// (a restarted pod gets a new id).
    pub async fn mark_worker_seen(&self, worker_id: &str) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        client
            .execute(sql::MARK_WORKER_SEEN, &[(&worker_id, Type::TEXT)])
            .await
            .map_err(StoreError::db("marking the worker seen"))?;
        Ok(())
    }
}

/// A token's writers in other worker processes, as the fleet reported them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetWriters {
    /// The token's keyed hash.
    pub token_key: Vec<u8>,
    pub others: usize,
    pub others_limit: usize,
    pub avoiding: bool,
}

/// This worker's report of one token it writes with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterReport {
    pub token_key: Vec<u8>,
    pub limit: usize,
    pub avoiding: bool,
}

impl JobLedger {
    /// Reports the tokens `worker_id` writes with (`writing`), and reads
    /// every token's writers in the other workers whose report is younger
    /// than `fresh`: the fleet's shared Humanitec budget.
    pub async fn share_write_budget(
        &self,
        worker_id: &str,
        writing: &[WriterReport],
        fresh: std::time::Duration,
    ) -> Result<Vec<FleetWriters>, StoreError> {
        let keys: Vec<&[u8]> = writing.iter().map(|w| w.token_key.as_slice()).collect();
        let limits: Vec<i32> = writing
            .iter()
            .map(|w| i32::try_from(w.limit).unwrap_or(i32::MAX))
            .collect();
        let avoiding: Vec<bool> = writing.iter().map(|w| w.avoiding).collect();
        let client = self.db.client().await?;
        let rows = client
            .query(
                sql::SHARE_WRITE_BUDGET,
                &[
                    (&worker_id, Type::TEXT),
                    (&keys, Type::BYTEA_ARRAY),
                    (&limits, Type::INT4_ARRAY),
                    (&avoiding, Type::BOOL_ARRAY),
                    (&fresh.as_secs_f64(), Type::FLOAT8),
                ],
            )
            .await
            .map_err(StoreError::db("sharing the Humanitec write budget"))?;
        rows.iter()
            .map(|row| {
                let count = |name: &str| -> Result<usize, StoreError> {
                    let n: i32 = row
                        .try_get(name)
                        .map_err(StoreError::db("reading the fleet's writers"))?;
                    Ok(usize::try_from(n).unwrap_or(0))
                };
                Ok(FleetWriters {
                    token_key: row
                        .try_get("token_key")
                        .map_err(StoreError::db("reading the fleet's writers"))?,
                    others: count("others")?,
                    others_limit: count("others_limit")?,
                    avoiding: row
                        .try_get("avoiding")
                        .map_err(StoreError::db("reading the fleet's writers"))?,
                })
            })
            .collect()
    }
}
