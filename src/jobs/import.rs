//! Import job: pull Humanitec's readable values into the source folder.

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::context::JobContext;
use super::error::JobError;
use super::plan::plan_import;
use super::report::Report;
use crate::humanitec::ValueSource;
use crate::model::{Counts, ImportBehavior};
use crate::store::{EncryptedSecret, SyncRecord};

pub async fn run_import(
    ctx: &JobContext,
    sync: &SyncRecord,
    behavior: ImportBehavior,
) -> Result<Report, JobError> {
    let folder = ctx.folder(sync)?;
    let settings = ctx.settings(sync)?;
    let token = ctx.token(sync).await?;
    let scope = &settings.scope;
    let listing = ctx
        .humanitec
        .list_values(&token, scope)
        .await
        .map_err(|e| JobError::humanitec(e, scope))?;
    let plan = plan_import(&listing, &settings.key_schema);

    let existing: HashMap<String, String> = ctx
        .source_secrets(folder)
        .await?
        .into_iter()
        .map(|s| (s.key, s.value.expose_secret().to_string()))
        .collect();
    let mut kept = 0;
    let mut to_write = Vec::new();
    for entry in &plan.entries {
        match existing.get(&entry.source_key) {
            Some(current) if current == &entry.value => kept += 1,
            Some(_) if behavior == ImportBehavior::PrioritizeSource => kept += 1,
            _ => to_write.push(EncryptedSecret {
                key: entry.source_key.clone(),
                encrypted_value: ctx.cipher.encrypt_str(&entry.value),
                encrypted_comment: None,
            }),
        }
    }
    let (created, updated) = ctx.store.upsert_secrets(folder.id, &to_write, true).await?;
    let counts = Counts {
        created: created.len() as i32,
        updated: updated.len() as i32,
        deleted: 0,
        unchanged: kept,
        skipped: plan.skipped_secrets.len() as i32,
    };
    let mut message = format!(
        "Imported from {} into {}: {} created, {} updated, {} unchanged ({})",
        scope.label(),
        folder.path,
        counts.created,
        counts.updated,
        counts.unchanged,
        match behavior {
            ImportBehavior::PrioritizeSource => "existing source values kept",
            ImportBehavior::PrioritizeDestination => "Humanitec values win",
        }
    );
    if scope.is_env() {
        let from_env = plan
            .entries
            .iter()
            .filter(|e| e.from == ValueSource::Env)
            .count();
        message.push_str(&format!(
            "; {from_env} from environment overrides, {} inherited from the app",
            plan.entries.len() - from_env
        ));
    }
    if !plan.skipped_secrets.is_empty() {
        message.push_str(&format!(
            "; skipped {} secret(s) Humanitec never reveals: {}",
            plan.skipped_secrets.len(),
            plan.skipped_secrets.join(", ")
        ));
    }
    Ok(Report { counts, message })
}
