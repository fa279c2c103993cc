//! `secret-sync token create|list|revoke|sessions`: the API's bearer
//! tokens and the dashboard sessions opened with them.

use std::collections::HashMap;

use uuid::Uuid;

use super::CliResult;
use crate::config::Settings;
use crate::model::{Actor, AuditEntry};
use crate::store::Store;
use crate::web::auth::{new_token, Role};

pub async fn create(store: &Store, projects: &[String], role: Role, name: &str) -> CliResult {
    let mut projects: Vec<String> = projects.to_vec();
    projects.sort();
    projects.dedup();
    match (role, projects.is_empty()) {
        (Role::Admin, false) => {
            return Err("an admin token is instance-wide: drop --project".into())
        }
        (Role::Read | Role::Write, true) => {
            return Err(format!(
                "a {} token needs at least one --project (or use --role admin)",
                role.as_str()
            )
            .into())
        }
        _ => {}
    }
    if projects.iter().any(|p| p.trim().is_empty()) {
        return Err("--project must not be empty".into());
    }
    for p in &projects {
        if !store.auth.project_exists(p).await? {
            eprintln!(
                "warning: project '{p}' does not exist (yet); the token will work once it does"
            );
        }
    }
    let (token, hash) = new_token();
    let audit = cli_audit(&projects, "token.create", ["name", "role", "projects"]);
    let record = store
        .auth
        .create_api_token(name, &hash, role.as_str(), &projects, &audit)
        .await?;
    eprintln!(
        "created API token {} ({}, role {}, projects {}). It is shown once; store it now:",
        record.id,
        record.name,
        record.role,
        if record.role == Role::Admin.as_str() {
            "all, instance-wide".to_string()
        } else {
            record.project_ids.join(", ")
        }
    );
    println!("{token}");
    Ok(())
}

pub async fn list(store: &Store, settings: &Settings) -> CliResult {
    let tokens = store.auth.api_tokens().await?;
    let counts: HashMap<Uuid, i64> = store
        .auth
        .session_counts(settings.session.idle_timeout)
        .await?
        .into_iter()
        .collect();
    println!(
        "{:<36}  {:<20}  {:<5}  {:<8}  {:<20}  {:>8}  projects",
        "id", "name", "role", "state", "last used", "sessions"
    );
    for t in tokens {
        println!(
            "{:<36}  {:<20}  {:<5}  {:<8}  {:<20}  {:>8}  {}",
            t.id,
            t.name,
            t.role,
            if t.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            },
            t.last_used_at
                .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "never".into()),
            counts.get(&t.id).copied().unwrap_or(0),
            t.project_ids.join(",")
        );
    }
    Ok(())
}

/// A token's live sessions: when each was opened and last used, and when
/// it ends (the earlier of its absolute and idle ends).
pub async fn sessions(store: &Store, settings: &Settings, id: Uuid) -> CliResult {
    let idle = settings.session.idle_timeout;
    let sessions = store.auth.token_sessions(id, idle).await?;
    let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
    let when = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%d %H:%M:%S").to_string();
    println!("{:<20}  {:<20}  ends", "opened", "last seen");
    for s in &sessions {
        let ends = s.expires_at.min(
            s.last_seen_at
                .checked_add_signed(idle)
                .unwrap_or(s.expires_at),
        );
        println!(
            "{:<20}  {:<20}  {}",
            when(s.created_at),
            when(s.last_seen_at),
            when(ends)
        );
    }
    eprintln!(
        "{} live dashboard session(s) of token {id}; `secret-sync token revoke {id}` ends them",
        sessions.len()
    );
    Ok(())
}

pub async fn revoke(store: &Store, id: Uuid) -> CliResult {
    let projects = store
        .auth
        .api_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .map(|t| t.project_ids)
        .unwrap_or_default();
    let audit: Vec<AuditEntry> = cli_audit(&projects, "token.revoke", ["revoked"])
        .into_iter()
        .map(|e| e.target(id))
        .collect();
    if store.auth.revoke_api_token(id, &audit).await? {
        println!("revoked API token {id}");
        Ok(())
    } else {
        Err(format!("no active API token {id} (see `secret-sync token list`)").into())
    }
}

/// The command line's audit entries for a token action: one per project of
/// the token (each project's owners see it), or one instance-wide entry for
/// an admin token.
fn cli_audit<const N: usize>(
    projects: &[String],
    action: &'static str,
    changes: [&str; N],
) -> Vec<AuditEntry> {
    let entry = AuditEntry::new(Actor::Cli, action, "token").changes(changes);
    if projects.is_empty() {
        return vec![entry];
    }
    projects.iter().map(|p| entry.clone().project(p)).collect()
}
