//! Whole databases: one per test (and one for the demo), dropped after.

use std::time::Duration;

use secret_sync::store::{DatabaseUrl, APPLICATION_NAME};

use crate::eventually::{seen, try_eventually};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection to the server's `postgres` database, and the name of the
/// database `database_url` points at.
async fn admin_client(
    database_url: &str,
) -> Result<(tokio_postgres::Client, String, tokio::task::JoinHandle<()>), BoxError> {
    let url = DatabaseUrl::parse(database_url)?;
    let name = url
        .config()
        .get_dbname()
        .ok_or("the database URL names no database")?
        .to_string();
    let mut admin = url.config().clone();
    admin.dbname("postgres");
    let (client, connection) = admin.connect(url.connector()?).await?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((client, name, task))
}

/// Runs `sql` on the server's `postgres` database, given the name of the
/// database `database_url` points at, quoted for SQL.
async fn on_admin_db(database_url: &str, sql: impl Fn(&str) -> String) -> Result<(), BoxError> {
    let (client, name, task) = admin_client(database_url).await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    let result = client.batch_execute(&sql(&quoted)).await;
    drop(client);
    task.abort();
    Ok(result?)
}

/// The deadlocks Postgres broke in the database `database_url` names. Read
/// once the product's connections to it (named [`APPLICATION_NAME`])
/// are gone, for at most `wait`: a backend reports its counts by the time
/// it exits.
pub async fn deadlocks(database_url: &str, wait: Duration) -> Result<i64, BoxError> {
    let (client, name, task) = admin_client(database_url).await?;
    let _ = try_eventually(wait, || async {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = $1 AND application_name = $2",
                &[&name, &APPLICATION_NAME],
            )
            .await?;
        let connected: i64 = row.get(0);
        Ok::<_, BoxError>(seen(connected, |n| *n == 0)?)
    })
    .await;
    let row = client
        .query_opt(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = $1",
            &[&name],
        )
        .await?;
    drop(client);
    task.abort();
    Ok(row.map_or(0, |r| r.get(0)))
}

/// Drops the database `database_url` names, if it exists.
pub async fn drop_database(database_url: &str) -> Result<(), BoxError> {
    on_admin_db(database_url, |db| {
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    })
    .await
}

/// Drops and creates the database `database_url` names (empty, unmigrated).
pub async fn recreate_database(database_url: &str) -> Result<(), BoxError> {
    drop_database(database_url).await?;
    on_admin_db(database_url, |db| format!("CREATE DATABASE {db}")).await
}

/// A connection to `database_url` as the product makes it (TLS as its
/// `sslmode`/`sslrootcert` say), its connection task spawned. Panics: it
/// is test support.
pub async fn connect(database_url: &str) -> tokio_postgres::Client {
    let url = DatabaseUrl::parse(database_url).expect("a valid database URL");
    let (client, connection) = url
        .config()
        .connect(url.connector().expect("TLS setup"))
        .await
        .expect("a connection to the test's database");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}
