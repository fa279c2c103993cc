//! Every statement the store sends is in its registry
//! (`secret_sync::store::sql::ALL`, one `.sql` file each under
//! `src/store/sql/`), and every one of them prepares against a freshly
//! migrated database: a column renamed by a migration, or a typo in a
//! statement only some rare path sends, fails here by the statement's name
//! rather than in production.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use secret_sync::store::sql::ALL;
use secret_sync::Store;
use secret_sync_testkit::{drop_database, recreate_database};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// Fewer would mean statements went missing from the registry (there are
/// 131 as of writing); raise it when adding some.
const AT_LEAST: usize = 125;

fn sql_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/sql")
}

/// Every `.sql` file under `dir`, by its path relative to `root` without
/// `.sql` (a registry name).
fn sql_files(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("the statement directory reads") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sql_files(root, &path, found);
        } else if path.extension().is_some_and(|e| e == "sql") {
            let name = path
                .strip_prefix(root)
                .expect("under the root")
                .with_extension("");
            found.insert(name.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_sql_file_is_in_the_registry_and_the_registry_is_not_empty() {
    assert!(
        ALL.len() >= AT_LEAST,
        "the registry holds {} statements, fewer than {AT_LEAST}",
        ALL.len()
    );
    let root = sql_dir();
    let mut files = BTreeSet::new();
    sql_files(&root, &root, &mut files);
    let registered: BTreeSet<String> = ALL.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(registered.len(), ALL.len(), "a statement name twice");
    let orphans: Vec<&String> = files.difference(&registered).collect();
    assert!(
        orphans.is_empty(),
        "`.sql` files under src/store/sql that are not in the registry: {orphans:?}"
    );
    // And the registry's text is the file's (not a stale copy).
    for (name, text) in ALL {
        let file = std::fs::read_to_string(root.join(format!("{name}.sql")))
            .unwrap_or_else(|e| panic!("{name}.sql: {e}"));
        assert_eq!(&file, text, "{name}: the registry's text is not the file's");
    }
}

#[tokio::test]
async fn every_statement_prepares_against_the_migrated_schema() {
    let url = format!(
        "postgres://postgres@127.0.0.1:5432/sql_statements_{}",
        Uuid::new_v4().simple()
    );
    recreate_database(&url).await.expect("test database");
    Store::connect(&url, 2)
        .expect("pool")
        .migrate()
        .await
        .expect("migrations");
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connects");
    let task = tokio::spawn(connection);
    let mut failed = Vec::new();
    for (name, text) in ALL {
        // Parsed and analysed against the schema (tables, columns, types,
        // parameters), not run.
        if let Err(e) = client.prepare(text).await {
            let why = match e.as_db_error() {
                Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                None => e.to_string(),
            };
            failed.push(format!("{name}: {why}"));
        }
    }
    drop(client);
    task.abort();
    drop_database(&url).await.expect("drop");
    assert!(
        failed.is_empty(),
        "{} of {} statements do not prepare:\n{}",
        failed.len(),
        ALL.len(),
        failed.join("\n")
    );
}
