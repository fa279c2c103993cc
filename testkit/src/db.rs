//! Whole databases: one per test (and one for the demo), dropped after.

use tokio_postgres::NoTls;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `sql` on the server's `postgres` database; returns the name of the
/// database `database_url` points at, quoted for SQL.
async fn on_admin_db(database_url: &str, sql: impl Fn(&str) -> String) -> Result<(), BoxError> {
    let config: tokio_postgres::Config = database_url.parse()?;
    let name = config
        .get_dbname()
        .ok_or("the database URL names no database")?
        .replace('"', "\"\"");
    let mut admin = config.clone();
    admin.dbname("postgres");
    let (client, connection) = admin.connect(NoTls).await?;
    let task = tokio::spawn(connection);
    let result = client.batch_execute(&sql(&format!("\"{name}\""))).await;
    drop(client);
    task.abort();
    Ok(result?)
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
