//! `GET …/{syncId}/preview`: what the next sync job would do, from the
//! worker's own planning step, with one Humanitec listing and no write.
//! Names only, never values.

use crate::web::limits::Spend;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::syncs::load;
use super::validation::{PathId, ValidQuery};
use crate::web::auth::{Caller, Role};
use crate::web::errors::{ApiError, ApiResult};
use crate::web::state::ApiState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreviewQuery {
    #[serde(default)]
    prune_unmanaged: bool,
}

pub async fn preview(
    State(state): State<ApiState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(q): ValidQuery<PreviewQuery>,
) -> ApiResult<Json<Value>> {
    state.limits.check(Spend::Preview, caller.token_id)?;
    let sync = load(&state, &caller, id, Role::Read).await?;
    let preview = state
        .syncs
        .preview(&caller.acting("api"), &sync, q.prune_unmanaged)
        .await
        .map_err(|e| match &e {
            // What the run would fail on, the preview refuses the same way
            // (400, as the create the conflict guard refuses).
            e if e.is_conflict() => ApiError::bad_request(e.to_string()),
            e if e.is_transient() => {
                ApiError::internal("the preview could not be computed now; try again", e)
            }
            e => ApiError::bad_request(e.to_string()),
        })?;
    Ok(Json(json!({ "preview": preview })))
}
