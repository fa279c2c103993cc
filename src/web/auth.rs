//! Bearer API tokens: 256-bit random strings handed out once by
//! `secret-sync token create`; only their SHA-256 is stored. Each token
//! is limited to a set of projects and a role (read: GET only; write: all),
//! or is an instance-wide `admin` (every project, and what belongs to none:
//! queue depths, workers, dead letters that name no project).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::errors::{shorten, ApiError};
use super::state::ApiState;
use crate::model::{Actor, AuditEntry};
use crate::store::ApiTokenRecord;

/// Prefix of every token, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "ssk_";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    /// Instance-wide: every project, and what belongs to no project.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A new random token and the hash to store.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    // The thread's generator is a CSPRNG seeded from the OS.
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&token);
    (token, hash)
}

/// A plain SHA-256 is enough here: tokens carry 256 bits of randomness, so
/// the hash cannot be reversed by guessing (unlike a password's).
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token_id: uuid::Uuid,
    /// The token's label, for the audit log and job rows.
    pub token_name: String,
    pub role: Role,
    /// The projects it may see (for an admin: every project that exists).
    pub projects: Vec<String>,
}

impl Caller {
    /// Who this is, for the audit log.
    pub fn actor(&self) -> Actor {
        Actor::Token {
            id: self.token_id,
            name: self.token_name.clone(),
        }
    }

    /// This caller, as the sync service names who acts (`trigger`: `api`
    /// or `dashboard`).
    pub fn acting(&self, trigger: &'static str) -> crate::service::Acting {
        crate::service::Acting {
            actor: self.actor(),
            req_id: crate::web::errors::current_req_id(),
            trigger,
        }
    }

    /// An audit entry of this caller doing `action` in `project_id`, under
    /// the request's id.
    pub fn audit(
        &self,
        action: &'static str,
        target_type: &'static str,
        project_id: &str,
    ) -> AuditEntry {
        AuditEntry::new(self.actor(), action, target_type)
            .project(project_id)
            .req_id(Some(crate::web::errors::current_req_id()))
    }

    /// The same action once per project of the token (sign-in, sign-out:
    /// each project's owners see it); an admin's as one instance-wide entry.
    pub fn audit_per_project(
        &self,
        action: &'static str,
        target_type: &'static str,
    ) -> Vec<AuditEntry> {
        if self.is_admin() {
            return vec![AuditEntry::new(self.actor(), action, target_type)
                .req_id(Some(crate::web::errors::current_req_id()))];
        }
        self.projects
            .iter()
            .map(|p| self.audit(action, target_type, p))
            .collect()
    }

    /// An instance-wide admin: also sees what names no project.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether anything of `project_id` may be shown to this caller.
    pub fn sees(&self, project_id: &str) -> bool {
        self.is_admin() || self.projects.iter().any(|p| p == project_id)
    }

    /// Allows the call when the token may touch `project_id` with `needed`.
    pub fn require(&self, project_id: &str, needed: Role) -> Result<(), ApiError> {
        // Writes need `write`; `admin` is about scope, and implies write.
        let needed = needed.min(Role::Write);
        if !self.sees(project_id) {
            return Err(ApiError::forbidden(format!(
                "this API token cannot access project '{}'; it is limited to {}",
                shorten(project_id),
                self.projects.join(", ")
            ))
            .with_details(
                json!({"projectId": shorten(project_id), "allowedProjects": self.projects}),
            ));
        }
        if self.role < needed {
            return Err(ApiError::forbidden(format!(
                "this API token has role '{}'; this call needs role '{}' (create one with \
                 `secret-sync token create --role {}`)",
                self.role.as_str(),
                needed.as_str(),
                needed.as_str()
            ))
            .with_details(json!({"role": self.role.as_str(), "requiredRole": needed.as_str()})));
        }
        Ok(())
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let missing = || {
            ApiError::unauthorized(
                "missing API token: send `Authorization: Bearer <token>` \
                 (create a token with `secret-sync token create`)",
            )
        };
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
        let value = header.to_str().map_err(|_| missing())?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(missing()),
        };
        if token.is_empty() {
            return Err(missing());
        }
        caller_for_token(state, token).await
    }
}

/// The caller a bearer token stands for: the one check behind the API's
/// `Authorization` header and the dashboard's session cookie.
pub async fn caller_for_token(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    let invalid = || ApiError::unauthorized("the API token is unknown or has been revoked");
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Err(invalid());
    }
    let record = state
        .store
        .auth
        .use_api_token(&hash_token(token))
        .await?
        .ok_or_else(invalid)?;
    Caller::from_record(state, record).await
}

impl Caller {
    /// The caller a live token's record stands for (the API's bearer
    /// tokens and the dashboard's sessions alike). An admin's projects
    /// are every project there is.
    pub async fn from_record(state: &ApiState, record: ApiTokenRecord) -> Result<Caller, ApiError> {
        let role = Role::parse(&record.role).ok_or_else(|| {
            ApiError::internal(
                "an API token has an unknown role",
                &format!("token {} role `{}`", record.id, record.role),
            )
        })?;
        let projects = if role == Role::Admin {
            state.store.auth.project_ids().await?
        } else {
            record.project_ids
        };
        Ok(Caller {
            token_id: record.id,
            token_name: record.name,
            role,
            projects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let (a, ha) = new_token();
        let (b, hb) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 43);
        assert_eq!(ha, hash_token(&a));
        assert_ne!(ha, hb);
        assert_eq!(ha.len(), 32);
    }

    #[test]
    fn write_implies_read_but_not_other_projects() {
        let caller = Caller {
            token_id: uuid::Uuid::nil(),
            token_name: "t".into(),
            role: Role::Read,
            projects: vec!["p".into()],
        };
        assert!(caller.require("p", Role::Read).is_ok());
        assert_eq!(
            caller
                .require("p", Role::Write)
                .err()
                .map(|e| e.status.as_u16()),
            Some(403)
        );
        assert!(caller.require("q", Role::Read).is_err());
        let writer = Caller {
            role: Role::Write,
            ..caller
        };
        assert!(writer.require("p", Role::Read).is_ok());
        let admin = Caller {
            role: Role::Admin,
            projects: Vec::new(),
            ..writer.clone()
        };
        assert!(admin.require("q", Role::Write).is_ok());
        assert!(admin.sees("anything") && admin.is_admin());
        assert!(!writer.is_admin() && !writer.sees("q"));
    }
}
