//! A small versioned migration runner: `migrations/NNNN_name.sql`, applied in
//! order, each in its own transaction, under an advisory lock so workers
//! starting together do not race. Re-running is a no-op.

use tokio_postgres::types::Type;

use super::StoreError;
use crate::model::redact_url as redact;

// `MIGRATIONS: &[(i32, &str, &str)]`, (version, name, SQL) in version order:
// build.rs lists `migrations/NNNN_name.sql`, so adding a file adds a migration.
include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// Arbitrary constant: the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x05ec_751c;

pub(super) async fn run(client: &mut tokio_postgres::Client) -> Result<Vec<i32>, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS secret_sync_schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(StoreError::db("creating the migrations table"))?;
    let mut applied = Vec::new();
    let tx = client
        .transaction()
        .await
        .map_err(StoreError::db("starting the migration transaction"))?;
    tx.execute_typed(
        "SELECT pg_advisory_xact_lock($1)",
        &[(&MIGRATION_LOCK, Type::INT8)],
    )
    .await
    .map_err(StoreError::db("taking the migration lock"))?;
    let current: i32 = tx
        .query_typed_one(
            "SELECT coalesce(max(version), 0) FROM secret_sync_schema_migrations",
            &[],
        )
        .await
        .map_err(StoreError::db("reading the schema version"))?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .await
            .map_err(StoreError::db("applying a migration"))?;
        tx.execute_typed(
            "INSERT INTO secret_sync_schema_migrations (version, name) VALUES ($1, $2)",
            &[(version, Type::INT4), (name, Type::TEXT)],
        )
        .await
        .map_err(StoreError::db("recording a migration"))?;
        applied.push(*version);
    }
    tx.commit()
        .await
        .map_err(StoreError::db("committing migrations"))?;
    Ok(applied)
}

/// Whether the schema is at this build's latest migration. A simple query
/// (no prepared statement), so it works through PgBouncer as well.
pub(super) async fn is_current(client: &tokio_postgres::Client) -> Result<bool, StoreError> {
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    let rows = client
        .simple_query("SELECT coalesce(max(version), 0)::text FROM secret_sync_schema_migrations")
        .await
        .map_err(StoreError::db("reading the schema version"))?;
    let current = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse::<i32>().ok(),
        _ => None,
    });
    Ok(current == Some(known))
}

/// Creates the database named in `database_url` if it does not exist, by
/// connecting to the server's `postgres` database. Returns true if created.
pub async fn ensure_database(database_url: &str) -> Result<bool, StoreError> {
    let (dbname, client, conn_task) = admin_connection(database_url).await?;
    let dbname = dbname.ok_or_else(|| StoreError::BadUrl {
        url: redact(database_url),
        reason: "it names no database".into(),
    })?;
    let exists = client
        .query_typed_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[(&dbname, Type::TEXT)],
        )
        .await
        .map_err(StoreError::db("looking up the database"))?
        .is_some();
    let mut created = false;
    if !exists {
        let quoted = format!("\"{}\"", dbname.replace('"', "\"\""));
        match client
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await
        {
            Ok(()) => created = true,
            // Another process created it at the same moment: fine.
            Err(e) if e.code().is_some_and(|c| c.code() == "42P04") => {}
            Err(e) => {
                return Err(StoreError::Db {
                    action: "creating the database",
                    source: e,
                })
            }
        }
    }
    drop(client);
    conn_task.abort();
    Ok(created)
}

/// Connects to the `postgres` database of the server in `database_url`;
/// returns the database name the URL names, the client and its connection task.
async fn admin_connection(
    database_url: &str,
) -> Result<
    (
        Option<String>,
        tokio_postgres::Client,
        tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    ),
    StoreError,
> {
    let bad_url = |reason: String| StoreError::BadUrl {
        url: redact(database_url),
        reason,
    };
    let url = super::DatabaseUrl::parse(database_url).map_err(bad_url)?;
    let dbname = url.config().get_dbname().map(str::to_string);
    let mut admin = url.config().clone();
    admin.dbname("postgres");
    let tls = url.connector().map_err(bad_url)?;
    let (client, connection) = admin.connect(tls).await.map_err(|e| {
        super::connect_error::connect_failed(
            &super::connect_error::describe_target(database_url).replace(
                &format!("database \"{}\"", dbname.as_deref().unwrap_or("(default)")),
                "database \"postgres\" (to create the database)",
            ),
            &e,
        )
    })?;
    Ok((dbname, client, tokio::spawn(connection)))
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn migrations_are_every_file_in_version_order() {
        let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        // 0005 was never shipped: numbers may leave gaps.
        assert!(versions.starts_with(&[1, 2, 3, 4, 6]), "{versions:?}");
        assert_eq!(MIGRATIONS[0].1, "initial");
        assert!(MIGRATIONS.iter().all(|m| !m.2.trim().is_empty()));
    }
}
