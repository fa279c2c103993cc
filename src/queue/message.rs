//! The message contracts (JSON Schemas in `docs/schemas/`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    Sync,
    Import,
    Remove,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Sync => "sync",
            JobType::Import => "import",
            JobType::Remove => "remove",
        }
    }

    pub fn parse(s: &str) -> Option<JobType> {
        match s {
            "sync" => Some(JobType::Sync),
            "import" => Some(JobType::Import),
            "remove" => Some(JobType::Remove),
            _ => None,
        }
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ImportBehavior {
    PrioritizeSource,
    PrioritizeDestination,
}

/// A job: body of messages on the `secret-sync.jobs` exchange.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
    pub sync_id: Uuid,
    #[serde(rename = "type")]
    pub job_type: JobType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_behavior: Option<ImportBehavior>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_sync_on_complete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

/// A secret-change event: body of `secret.changed` on `secret-sync.events`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventMessage {
    pub project_id: String,
    pub environment: String,
    pub secret_path: String,
}

/// Why a message body is unusable (it goes to the dead-letter queue).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MessageError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not a valid job: {0}")]
    WrongShape(String),
    #[error("routing key `{routing_key}` does not match the body's type `{body_type}`")]
    RoutingMismatch {
        routing_key: String,
        body_type: String,
    },
    #[error("`importBehavior` is required for import jobs")]
    MissingImportBehavior,
}

impl JobMessage {
    /// Parses and checks a delivery's body. `routing_key` is checked when it
    /// names a job type (delayed redeliveries keep the original key).
    pub fn parse(body: &[u8], routing_key: &str) -> Result<JobMessage, MessageError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| MessageError::NotJson(e.to_string()))?;
        let job: JobMessage =
            serde_json::from_value(value).map_err(|e| MessageError::WrongShape(e.to_string()))?;
        if let Some(rk) = JobType::parse(routing_key) {
            if rk != job.job_type {
                return Err(MessageError::RoutingMismatch {
                    routing_key: routing_key.to_string(),
                    body_type: job.job_type.to_string(),
                });
            }
        }
        if job.job_type == JobType::Import && job.import_behavior.is_none() {
            return Err(MessageError::MissingImportBehavior);
        }
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shapes() {
        let id = Uuid::new_v4();
        let job = JobMessage::parse(
            format!(r#"{{"syncId":"{id}","type":"sync","trigger":"manual"}}"#).as_bytes(),
            "sync",
        )
        .expect("valid");
        assert_eq!(job.sync_id, id);
        assert_eq!(job.job_type, JobType::Sync);
        assert_eq!(job.job_id, None);

        let job = JobMessage::parse(
            format!(r#"{{"jobId":"{id}","syncId":"{id}","type":"import","importBehavior":"prioritize-destination"}}"#)
                .as_bytes(),
            "import",
        )
        .expect("valid");
        assert_eq!(
            job.import_behavior,
            Some(ImportBehavior::PrioritizeDestination)
        );
    }

    #[test]
    fn rejects_bad_bodies_with_reasons() {
        assert!(matches!(
            JobMessage::parse(b"not json", "sync"),
            Err(MessageError::NotJson(_))
        ));
        let err = JobMessage::parse(br#"{"type":"sync"}"#, "sync").err();
        assert!(
            matches!(&err, Some(MessageError::WrongShape(m)) if m.contains("syncId")),
            "{err:?}"
        );
        let id = Uuid::new_v4();
        let err = JobMessage::parse(
            format!(r#"{{"syncId":"{id}","type":"explode"}}"#).as_bytes(),
            "sync",
        )
        .err();
        assert!(matches!(err, Some(MessageError::WrongShape(_))));
        let err = JobMessage::parse(
            format!(r#"{{"syncId":"{id}","type":"remove"}}"#).as_bytes(),
            "sync",
        )
        .err();
        assert!(matches!(err, Some(MessageError::RoutingMismatch { .. })));
        let err = JobMessage::parse(
            format!(r#"{{"syncId":"{id}","type":"import"}}"#).as_bytes(),
            "import",
        )
        .err();
        assert_eq!(err, Some(MessageError::MissingImportBehavior));
    }
}
