//! `secret-sync token create|list|revoke`: the API's bearer tokens.

use uuid::Uuid;

use super::CliResult;
use crate::store::Store;
use crate::web::auth::{new_token, Role};

pub async fn create(store: &Store, projects: &[String], role: Role, name: &str) -> CliResult {
    let mut projects: Vec<String> = projects.to_vec();
    projects.sort();
    projects.dedup();
    if projects.iter().any(|p| p.trim().is_empty()) {
        return Err("--project must not be empty".into());
    }
    for p in &projects {
        if !store.project_exists(p).await? {
            eprintln!(
                "warning: project '{p}' does not exist (yet); the token will work once it does"
            );
        }
    }
    let (token, hash) = new_token();
    let record = store
        .create_api_token(name, &hash, role.as_str(), &projects)
        .await?;
    eprintln!(
        "created API token {} ({}, role {}, projects {}). It is shown once; store it now:",
        record.id,
        record.name,
        record.role,
        record.project_ids.join(", ")
    );
    println!("{token}");
    Ok(())
}

pub async fn list(store: &Store) -> CliResult {
    let tokens = store.api_tokens().await?;
    println!(
        "{:<36}  {:<20}  {:<5}  {:<8}  {:<20}  projects",
        "id", "name", "role", "state", "last used"
    );
    for t in tokens {
        println!(
            "{:<36}  {:<20}  {:<5}  {:<8}  {:<20}  {}",
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
            t.project_ids.join(",")
        );
    }
    Ok(())
}

pub async fn revoke(store: &Store, id: Uuid) -> CliResult {
    if store.revoke_api_token(id).await? {
        println!("revoked API token {id}");
        Ok(())
    } else {
        Err(format!("no active API token {id} (see `secret-sync token list`)").into())
    }
}
