//! How statements reach Postgres. By default as prepared statements cached
//! per connection: planned once per connection instead of on every call
//! (planning was about two thirds of Postgres's CPU per job). With
//! `DATABASE_PREPARED_STATEMENTS=false`, as unnamed statements, parsed and
//! planned every time, for PgBouncer in transaction mode before 1.21 (or
//! without `max_prepared_statements`): there the next transaction may run
//! on a server connection that never saw the statement.
//!
//! Statements come from the registry (`sql/`) as [`Sql`], which only it
//! makes: nothing else can be sent through here. Transaction control is
//! the exception, and has methods of its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use deadpool_postgres::{Object, Transaction};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row, Statement};

use super::sql::Sql;
use super::{StoreError, ASYNC_COMMIT};

/// A statement parameter with its Postgres type (types are always given,
/// so an unnamed statement takes a single round trip).
pub(crate) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// A connection or a transaction: the two ways it can run a statement.
pub(crate) trait Session: Sync {
    async fn prepare_cached(&self, sql: &str, types: &[Type]) -> Result<Statement, Error>;
    async fn prepared_rows(
        &self,
        stmt: &Statement,
        values: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error>;
    async fn prepared_count(
        &self,
        stmt: &Statement,
        values: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error>;
    async fn prepared_one(
        &self,
        stmt: &Statement,
        values: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error>;
    async fn unnamed_one(&self, sql: &str, params: &[Param<'_>]) -> Result<Row, Error>;
    async fn unnamed_rows(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Error>;
    async fn unnamed_count(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error>;
}

macro_rules! session {
    ($t:ty) => {
        impl Session for $t {
            async fn prepare_cached(&self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
                self.prepare_typed_cached(sql, types).await
            }
            async fn prepared_rows(
                &self,
                stmt: &Statement,
                values: &[&(dyn ToSql + Sync)],
            ) -> Result<Vec<Row>, Error> {
                self.query(stmt, values).await
            }
            async fn prepared_count(
                &self,
                stmt: &Statement,
                values: &[&(dyn ToSql + Sync)],
            ) -> Result<u64, Error> {
                self.execute(stmt, values).await
            }
            async fn prepared_one(
                &self,
                stmt: &Statement,
                values: &[&(dyn ToSql + Sync)],
            ) -> Result<Row, Error> {
                self.query_one(stmt, values).await
            }
            async fn unnamed_one(&self, sql: &str, params: &[Param<'_>]) -> Result<Row, Error> {
                self.query_typed_one(sql, params).await
            }
            async fn unnamed_rows(
                &self,
                sql: &str,
                params: &[Param<'_>],
            ) -> Result<Vec<Row>, Error> {
                self.query_typed(sql, params).await
            }
            async fn unnamed_count(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
                self.execute_typed(sql, params).await
            }
        }
    };
}

session!(Object);
session!(Transaction<'_>);

/// A pooled connection (`Db<Object>`) or a transaction on one
/// (`Db<Transaction>`) that runs statements the configured way.
pub(crate) struct Db<S> {
    inner: S,
    prepared: bool,
    /// The store's count of statements sent (see `Store::statements_sent`).
    sent: Arc<AtomicU64>,
}

pub(crate) type Conn = Db<Object>;
pub(crate) type Tx<'a> = Db<Transaction<'a>>;

impl<S: Session> Db<S> {
    fn count(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    async fn statement(&self, sql: Sql, params: &[Param<'_>]) -> Result<Statement, Error> {
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        self.inner.prepare_cached(sql.text(), &types).await
    }

    pub async fn query(&self, sql: Sql, params: &[Param<'_>]) -> Result<Vec<Row>, Error> {
        self.count();
        if !self.prepared {
            return self.inner.unnamed_rows(sql.text(), params).await;
        }
        let stmt = self.statement(sql, params).await?;
        self.inner.prepared_rows(&stmt, &values(params)).await
    }

    /// Planned for these parameter values on every call, even with
    /// prepared statements on: for queries with optional filters
    /// (`$2 IS NULL OR ...`), where a cached generic plan cannot use the
    /// index a given filter allows and is measurably slower.
    pub async fn query_replanned(&self, sql: Sql, params: &[Param<'_>]) -> Result<Vec<Row>, Error> {
        self.count();
        self.inner.unnamed_rows(sql.text(), params).await
    }

    /// Exactly one row (an error otherwise).
    pub async fn query_one(&self, sql: Sql, params: &[Param<'_>]) -> Result<Row, Error> {
        self.count();
        if !self.prepared {
            return self.inner.unnamed_one(sql.text(), params).await;
        }
        let stmt = self.statement(sql, params).await?;
        self.inner.prepared_one(&stmt, &values(params)).await
    }

    /// The first row, if any.
    pub async fn query_opt(&self, sql: Sql, params: &[Param<'_>]) -> Result<Option<Row>, Error> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Rows affected.
    pub async fn execute(&self, sql: Sql, params: &[Param<'_>]) -> Result<u64, Error> {
        self.count();
        if !self.prepared {
            return self.inner.unnamed_count(sql.text(), params).await;
        }
        let stmt = self.statement(sql, params).await?;
        self.inner.prepared_count(&stmt, &values(params)).await
    }
}

fn values<'a>(params: &[Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|(v, _)| *v).collect()
}

/// Rows as Postgres sends them, each read off the connection when asked
/// for. Holds its connection until dropped.
pub(crate) type RowStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<Row, Error>> + Send>>;

impl Conn {
    /// The rows of `sql` as they arrive, the connection held by the stream
    /// until it ends or is dropped: a long list never sits in memory whole.
    /// Always unnamed (planned for these values): a list is one statement
    /// of a request, and its plan is a small part of reading its rows.
    pub async fn query_stream(self, sql: Sql, params: &[Param<'_>]) -> Result<RowStream, Error> {
        use futures::StreamExt;
        self.count();
        let rows = self
            .inner
            .query_typed_raw(sql.text(), params.iter().map(|(v, t)| (*v, t.clone())))
            .await?;
        let rows = futures::stream::unfold((self, Box::pin(rows)), |(conn, mut rows)| async move {
            let row = rows.next().await?;
            Some((row, (conn, rows)))
        });
        // Fused: a reader may ask again after the end (a list reads its
        // first row ahead, then chains the rest).
        Ok(Box::pin(rows.fuse()))
    }

    pub fn new(inner: Object, prepared: bool, sent: Arc<AtomicU64>) -> Conn {
        Db {
            inner,
            prepared,
            sent,
        }
    }

    /// Starts a transaction; `action` says what failed if it cannot.
    pub async fn transaction(&mut self, action: &'static str) -> Result<Tx<'_>, StoreError> {
        Ok(Db {
            inner: self
                .inner
                .transaction()
                .await
                .map_err(StoreError::db(action))?,
            prepared: self.prepared,
            sent: self.sent.clone(),
        })
    }

    /// Runs one statement in its own transaction whose commit does not
    /// wait for the WAL flush (see `ASYNC_COMMIT`), in one round trip:
    /// BEGIN, the statement and COMMIT are pipelined (tokio-postgres sends
    /// requests in the order they are first polled). If the statement
    /// fails, the COMMIT rolls the transaction back.
    pub async fn query_async_commit(
        &self,
        sql: Sql,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, Error> {
        self.count();
        // Prepared first (a cache hit after the first call), so that
        // nothing but the three requests goes out in between.
        let stmt = match self.prepared {
            true => Some(self.statement(sql, params).await?),
            false => None,
        };
        let values = values(params);
        // BEGIN, then `super::ASYNC_COMMIT`.
        let begin = self
            .inner
            .batch_execute("BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = force_generic_plan");
        let rows = async {
            match &stmt {
                Some(stmt) => self.inner.prepared_rows(stmt, &values).await,
                None => self.inner.unnamed_rows(sql.text(), params).await,
            }
        };
        let commit = self.inner.batch_execute("COMMIT");
        let (begun, rows, committed) = tokio::join!(begin, rows, commit);
        begun?;
        let rows = rows?;
        committed?;
        Ok(rows)
    }
}

impl Tx<'_> {
    /// Makes this transaction's commit return without waiting for the WAL
    /// flush (see `ASYNC_COMMIT`).
    pub async fn commit_asynchronously(&self) -> Result<(), Error> {
        self.inner.batch_execute(ASYNC_COMMIT).await
    }

    /// Commits; `action` says what failed if it cannot.
    pub async fn commit(self, action: &'static str) -> Result<(), StoreError> {
        self.inner.commit().await.map_err(StoreError::db(action))
    }
}
