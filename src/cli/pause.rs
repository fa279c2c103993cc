//! `secret-sync pause|resume|pauses`: hold Humanitec writes of one
//! connection or of the whole instance during an incident or a change
//! freeze (issue 41). Whoever runs the command holds the database, so it
//! may pause either; it is recorded as `cli (<operator>)`.

use uuid::Uuid;

use super::CliResult;
use crate::model::{check_reason, Actor};
use crate::service::pauses::{self, PauseActor, PauseScope};
use crate::store::{PauseRow, Store};

/// What to pause or resume: exactly one of the two.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// One app connection (one Humanitec org and token), by id.
    #[arg(long, value_name = "ID")]
    connection: Option<Uuid>,
    /// The whole instance: every connection.
    #[arg(long)]
    instance: bool,
}

/// Who acts: `--by`, else `$USER`, else `operator`.
fn operator(by: Option<String>) -> Result<PauseActor, String> {
    let name = by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".into());
    let name = check_reason(&name).map_err(|e| format!("--by: {e}"))?;
    if name.chars().count() > 100 {
        return Err("--by: at most 100 characters".into());
    }
    Ok(PauseActor {
        actor: Actor::Cli,
        label: format!("cli ({name})"),
        req_id: None,
    })
}

async fn scope(store: &Store, target: &Target) -> Result<PauseScope, String> {
    match target.connection {
        Some(id) => {
            let conn = store
                .syncs
                .load_connection(id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no app connection {id}"))?;
            Ok(PauseScope::Connection {
                id,
                project_id: conn.project_id,
            })
        }
        None => Ok(PauseScope::Instance),
    }
}

fn describe(p: &PauseRow) -> String {
    let scope = match (p.connection_id, &p.connection_name) {
        (None, _) => "the whole instance".to_string(),
        (Some(id), Some(name)) => format!(
            "connection {id} ({name}, project {})",
            p.project_id.as_deref().unwrap_or("?")
        ),
        (Some(id), None) => format!("connection {id}"),
    };
    format!(
        "{scope}: paused since {} by {}: {}",
        p.paused_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        p.paused_by,
        p.reason
    )
}

pub async fn pause(store: &Store, target: &Target, reason: &str, by: Option<String>) -> CliResult {
    let by = operator(by)?;
    let scope = scope(store, target).await?;
    let pause = pauses::pause(store, &scope, reason, &by).await?;
    println!("paused {}", describe(&pause));
    eprintln!(
        "no Humanitec write happens for it until `secret-sync resume {}`; its jobs wait as `paused`",
        match target.connection {
            Some(id) => format!("--connection {id}"),
            None => "--instance".into(),
        }
    );
    Ok(())
}

pub async fn resume(store: &Store, target: &Target, by: Option<String>) -> CliResult {
    let by = operator(by)?;
    let scope = scope(store, target).await?;
    let pause = pauses::resume(store, &scope, &by).await?;
    println!("resumed {}", describe(&pause));
    eprintln!("the jobs that waited run now (at most one per sync), on the workers");
    Ok(())
}

pub async fn list(store: &Store, json: bool) -> CliResult {
    let active = store.ledger.active_pauses().await?;
    if json {
        let rows: Vec<serde_json::Value> = active
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id, "connectionId": p.connection_id,
                    "connectionName": p.connection_name, "projectId": p.project_id,
                    "reason": p.reason, "pausedBy": p.paused_by, "pausedAt": p.paused_at,
                })
            })
            .collect();
        println!("{}", serde_json::Value::from(rows));
        return Ok(());
    }
    if active.is_empty() {
        println!("nothing is paused");
    }
    for p in &active {
        println!("{}", describe(p));
    }
    Ok(())
}
