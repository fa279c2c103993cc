//! The message contracts (JSON Schemas in `docs/schemas/`), mapped to and
//! from the domain's types. The wire structs never leave this file.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{normalize_path, ImportBehavior, Job, JobKind, JobType};

/// Body of a message on the `secret-sync.jobs` exchange.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job_id: Option<Uuid>,
    sync_id: Uuid,
    #[serde(rename = "type")]
    job_type: JobType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    import_behavior: Option<ImportBehavior>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delete_sync_on_complete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prune_unmanaged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trigger: Option<String>,
}

/// Body of `secret.changed` on the `secret-sync.events` exchange.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct EventMessage {
    project_id: String,
    environment: String,
    secret_path: String,
}

/// A secret changed in one folder (path normalised).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretChanged {
    pub project_id: String,
    pub environment: String,
    pub path: String,
}

/// Why a message body is unusable (it goes to the dead-letter queue).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MessageError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body is not a valid job: {0}")]
    WrongShape(String),
    #[error("body is not a secret-change event: {0}")]
    NotAnEvent(String),
    #[error("routing key `{routing_key}` does not match the body's type `{body_type}`")]
    RoutingMismatch {
        routing_key: String,
        body_type: String,
    },
    #[error("`importBehavior` is required for import jobs")]
    MissingImportBehavior,
}

/// Namespace for job ids derived from a non-UUID AMQP message_id, so a
/// redelivered message keeps its job id.
const MESSAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_2c8e_5d1a_4c3b_9e7f_0a2d_4b6c_8e01);

/// Decodes a job delivery. `routing_key` is checked when it names a job type
/// (delayed redeliveries keep the original key). The job id is the body's
/// `jobId`, else the AMQP `message_id` (a non-UUID one mapped to a stable
/// UUID v5), else a new one.
pub fn decode_job(
    body: &[u8],
    routing_key: &str,
    message_id: Option<&str>,
) -> Result<Job, MessageError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| MessageError::NotJson(e.to_string()))?;
    let wire: JobMessage =
        serde_json::from_value(value).map_err(|e| MessageError::WrongShape(e.to_string()))?;
    if let Some(rk) = JobType::parse(routing_key) {
        if rk != wire.job_type {
            return Err(MessageError::RoutingMismatch {
                routing_key: routing_key.to_string(),
                body_type: wire.job_type.to_string(),
            });
        }
    }
    let kind = match wire.job_type {
        JobType::Sync => JobKind::Sync {
            prune_unmanaged: wire.prune_unmanaged.unwrap_or(false),
        },
        JobType::Import => JobKind::Import {
            behavior: wire
                .import_behavior
                .ok_or(MessageError::MissingImportBehavior)?,
        },
        JobType::Remove => JobKind::Remove {
            delete_sync_on_complete: wire.delete_sync_on_complete.unwrap_or(false),
        },
    };
    let id = wire
        .job_id
        .or_else(|| {
            message_id.map(|id| {
                Uuid::parse_str(id)
                    .unwrap_or_else(|_| Uuid::new_v5(&MESSAGE_ID_NAMESPACE, id.as_bytes()))
            })
        })
        .unwrap_or_else(Uuid::new_v4);
    Ok(Job {
        id,
        sync_id: wire.sync_id,
        kind,
        trigger: wire.trigger,
        actor: None,
    })
}

/// Encodes a job as the contract's JSON body.
pub fn encode_job(job: &Job) -> Result<Vec<u8>, serde_json::Error> {
    let (mut import_behavior, mut delete_sync_on_complete, mut prune_unmanaged) =
        (None, None, None);
    match job.kind {
        // Only a prune is worth saying: plain syncs keep the minimal body.
        JobKind::Sync { prune_unmanaged: p } => prune_unmanaged = p.then_some(true),
        JobKind::Import { behavior } => import_behavior = Some(behavior),
        JobKind::Remove {
            delete_sync_on_complete: d,
        } => delete_sync_on_complete = Some(d),
    }
    serde_json::to_vec(&JobMessage {
        job_id: Some(job.id),
        sync_id: job.sync_id,
        job_type: job.job_type(),
        import_behavior,
        delete_sync_on_complete,
        prune_unmanaged,
        trigger: job.trigger.clone(),
    })
}

/// Decodes a secret-change event.
pub fn decode_event(body: &[u8]) -> Result<SecretChanged, MessageError> {
    let wire: EventMessage =
        serde_json::from_slice(body).map_err(|e| MessageError::NotAnEvent(e.to_string()))?;
    Ok(SecretChanged {
        project_id: wire.project_id,
        environment: wire.environment,
        path: normalize_path(&wire.secret_path),
    })
}

/// Encodes a secret-change event as the contract's JSON body.
pub fn encode_event(event: &SecretChanged) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&EventMessage {
        project_id: event.project_id.clone(),
        environment: event.environment.clone(),
        secret_path: event.path.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_shapes() {
        let id = Uuid::new_v4();
        let job = decode_job(
            format!(r#"{{"syncId":"{id}","type":"sync","trigger":"manual"}}"#).as_bytes(),
            "sync",
            None,
        )
        .expect("valid");
        assert_eq!(job.sync_id, id);
        assert_eq!(job.kind, JobKind::SYNC);
        assert_eq!(job.trigger.as_deref(), Some("manual"));

        let job = decode_job(
            format!(r#"{{"jobId":"{id}","syncId":"{id}","type":"import","importBehavior":"prioritize-destination"}}"#)
                .as_bytes(),
            "import",
            None,
        )
        .expect("valid");
        assert_eq!(job.id, id);
        assert_eq!(
            job.kind,
            JobKind::Import {
                behavior: ImportBehavior::PrioritizeDestination
            }
        );
        let job = decode_job(
            format!(r#"{{"syncId":"{id}","type":"remove"}}"#).as_bytes(),
            "remove",
            None,
        )
        .expect("valid");
        assert_eq!(
            job.kind,
            JobKind::Remove {
                delete_sync_on_complete: false
            }
        );
    }

    #[test]
    fn job_ids_come_from_the_body_then_the_message_id() {
        let sync = Uuid::new_v4();
        let body = format!(r#"{{"syncId":"{sync}","type":"sync"}}"#);
        let given = Uuid::new_v4();
        let job = decode_job(body.as_bytes(), "sync", Some(&given.to_string())).expect("valid");
        assert_eq!(job.id, given);
        let a = decode_job(body.as_bytes(), "sync", Some("order-42")).expect("valid");
        let b = decode_job(body.as_bytes(), "sync", Some("order-42")).expect("valid");
        assert_eq!(a.id, b.id, "a non-UUID message id maps to a stable job id");
        let c = decode_job(body.as_bytes(), "sync", None).expect("valid");
        assert_ne!(c.id, a.id);
    }

    #[test]
    fn encode_then_decode_is_the_same_job() {
        for kind in [
            JobKind::SYNC,
            JobKind::Sync {
                prune_unmanaged: true,
            },
            JobKind::Import {
                behavior: ImportBehavior::PrioritizeSource,
            },
            JobKind::Remove {
                delete_sync_on_complete: true,
            },
        ] {
            let job = Job::new(Uuid::new_v4(), kind, "test");
            let body = encode_job(&job).expect("encodes");
            let back = decode_job(&body, job.job_type().as_str(), None).expect("decodes");
            assert_eq!(back, job);
        }
    }

    #[test]
    fn rejects_bad_bodies_with_reasons() {
        assert!(matches!(
            decode_job(b"not json", "sync", None),
            Err(MessageError::NotJson(_))
        ));
        let err = decode_job(br#"{"type":"sync"}"#, "sync", None).err();
        assert!(
            matches!(&err, Some(MessageError::WrongShape(m)) if m.contains("syncId")),
            "{err:?}"
        );
        let id = Uuid::new_v4();
        let err = decode_job(
            format!(r#"{{"syncId":"{id}","type":"explode"}}"#).as_bytes(),
            "sync",
            None,
        )
        .err();
        assert!(matches!(err, Some(MessageError::WrongShape(_))));
        let err = decode_job(
            format!(r#"{{"syncId":"{id}","type":"remove"}}"#).as_bytes(),
            "sync",
            None,
        )
        .err();
        assert!(matches!(err, Some(MessageError::RoutingMismatch { .. })));
        let err = decode_job(
            format!(r#"{{"syncId":"{id}","type":"import"}}"#).as_bytes(),
            "import",
            None,
        )
        .err();
        assert_eq!(err, Some(MessageError::MissingImportBehavior));
    }

    #[test]
    fn events_normalise_their_path() {
        let e = decode_event(br#"{"projectId":"p","environment":"dev","secretPath":"a/b/"}"#)
            .expect("valid");
        assert_eq!(e.path, "/a/b");
        assert!(matches!(
            decode_event(br#"{"projectId":"p"}"#),
            Err(MessageError::NotAnEvent(_))
        ));
    }
}
