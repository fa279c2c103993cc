//! Request and response bodies, as `spec/humanitec-openapi.json` defines them.
//! A listing's entries parse straight into the domain's `ValueResponse`
//! (`model`), which keeps Humanitec's field names.

use serde::{Deserialize, Serialize};

/// `ValueCreatePayloadRequest` (key and description required). No Debug:
/// it carries secret values.
#[derive(Serialize)]
pub(crate) struct ValueCreatePayload<'a> {
    pub key: &'a str,
    pub description: &'a str,
    pub value: &'a str,
    pub is_secret: bool,
}

/// `ValuePatchPayloadRequest`. No Debug: it carries secret values.
#[derive(Serialize)]
pub(crate) struct ValuePatchPayload<'a> {
    pub value: &'a str,
    pub description: &'a str,
}

/// `HumanitecErrorResponse`.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub error: Option<String>,
    pub message: Option<String>,
}

/// The part of `OrganizationResponse` the destination picker shows.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
}

/// The part of `EnvironmentBaseResponse` the destination picker shows.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct EnvSummary {
    pub id: String,
    pub name: String,
}

/// The part of `ApplicationResponse` the destination picker shows.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct AppSummary {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub envs: Vec<EnvSummary>,
}
