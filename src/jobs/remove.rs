//! Remove job: delete from Humanitec what this sync put there.

use super::context::{settings_of, JobContext};
use super::credentials::connection_token;
use super::error::JobError;
use super::key_schema::KeySchema;
use super::plan::plan_remove;
use super::report::{summarize_failures, Report};
use super::settings::{parse_scope, SyncSettings};
use super::sync::delete_keys;
use crate::model::Counts;
use crate::store::SyncRecord;

pub async fn run_remove(ctx: &JobContext, sync: &SyncRecord) -> Result<Report, JobError> {
    let token = connection_token(ctx, sync).await?;
    let (settings, source_keys) = match &sync.folder {
        Some(folder) => {
            let settings = settings_of(sync)?;
            // Keys are plaintext: no value is decrypted for a remove.
            let keys = ctx
                .store
                .folder_secrets(folder.id)
                .await?
                .into_iter()
                .map(|s| settings.key_schema.apply(&s.key))
                .collect();
            (settings, keys)
        }
        None => {
            // The folder is gone, so `{{environment}}` cannot be filled in:
            // remove exactly what this sync recorded pushing, nothing else.
            let settings = SyncSettings {
                scope: parse_scope(&sync.destination_config)?,
                key_schema: KeySchema::identity(),
                deletion_enabled: true,
            };
            (settings, Vec::new())
        }
    };
    let scope = &settings.scope;
    let label = scope.label();
    let pushed: Vec<String> = ctx
        .store
        .pushed_keys(sync.id, &label)
        .await?
        .into_iter()
        .map(|p| p.key)
        .collect();
    let listing = ctx
        .humanitec
        .list_values(&token, scope)
        .await
        .map_err(|e| JobError::humanitec(e, scope))?;
    let keys = plan_remove(
        &source_keys,
        &pushed,
        &listing,
        &settings.key_schema,
        scope.is_env(),
    );
    let (gone, failures) = delete_keys(ctx, &token, scope, &keys).await;
    ctx.store.record_pushes(sync.id, &label, &[], &gone).await?;
    if !failures.is_empty() {
        return Err(summarize_failures(failures, keys.len(), scope));
    }
    let counts = Counts {
        deleted: gone.len() as i32,
        ..Counts::default()
    };
    Ok(Report {
        counts,
        message: format!(
            "Removed {} key(s) this sync manages from {label}",
            gone.len()
        ),
    })
}
