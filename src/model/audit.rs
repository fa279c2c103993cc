//! Who did what: the actor of a control-plane action and the audit entry
//! that records it (names of what changed, never values).

use uuid::Uuid;

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An API token, as a bearer token or through a dashboard session.
    Token { id: Uuid, name: String },
    /// The `secret-sync` command line (whoever runs it holds the database).
    Cli,
    /// A secret-change event reaching an auto-synced sync.
    AutoSync,
    /// The worker's own schedule.
    Schedule,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Token { .. } => "token",
            Actor::Cli => "cli",
            Actor::AutoSync => "auto-sync",
            Actor::Schedule => "schedule",
        }
    }

    pub fn token_id(&self) -> Option<Uuid> {
        match self {
            Actor::Token { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The token's name, or the kind for the others.
    pub fn name(&self) -> &str {
        match self {
            Actor::Token { name, .. } => name,
            other => other.kind(),
        }
    }

    /// One line for a job row: `ci-bot (token 5f0c…)`, `cli`.
    pub fn label(&self) -> String {
        match self {
            Actor::Token { id, name } => format!("{name} (token {id})"),
            other => other.kind().to_string(),
        }
    }
}

/// One control-plane action, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub actor: Actor,
    /// None: an instance-wide action (admin tokens see those only).
    pub project_id: Option<String>,
    /// `sync.create`, `sync.update`, `sync.delete`, `sync.trigger`,
    /// `sync.import`, `sync.remove`, `sync.preview`, `connection.create`,
    /// `connection.update`, `connection.delete`, `token.create`,
    /// `token.revoke`, `session.sign-in`, `session.sign-out`,
    /// `dead-letter.requeue`, `dead-letter.discard`.
    pub action: &'static str,
    /// `sync`, `connection`, `token`, `session`, `dead-letter`.
    pub target_type: &'static str,
    pub target_id: Option<String>,
    /// Names of the fields that changed (`credentials`, never its values).
    pub changes: Vec<String>,
    pub req_id: Option<String>,
}

impl AuditEntry {
    pub fn new(actor: Actor, action: &'static str, target_type: &'static str) -> AuditEntry {
        AuditEntry {
            actor,
            project_id: None,
            action,
            target_type,
            target_id: None,
            changes: Vec::new(),
            req_id: None,
        }
    }

    pub fn project(mut self, project_id: &str) -> AuditEntry {
        self.project_id = Some(project_id.to_string());
        self
    }

    pub fn target(mut self, id: impl ToString) -> AuditEntry {
        self.target_id = Some(id.to_string());
        self
    }

    pub fn changes<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> AuditEntry {
        self.changes = names.into_iter().map(Into::into).collect();
        self
    }

    pub fn req_id(mut self, req_id: Option<String>) -> AuditEntry {
        self.req_id = req_id;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_name_themselves_without_anything_secret() {
        let id = Uuid::nil();
        let token = Actor::Token {
            id,
            name: "ci-bot".into(),
        };
        assert_eq!(token.kind(), "token");
        assert_eq!(token.name(), "ci-bot");
        assert_eq!(token.token_id(), Some(id));
        assert!(token.label().starts_with("ci-bot (token "));
        assert_eq!(Actor::Cli.label(), "cli");
        assert_eq!(Actor::AutoSync.name(), "auto-sync");
        let e = AuditEntry::new(Actor::Cli, "token.create", "token")
            .target(id)
            .changes(["role", "projects"]);
        assert_eq!(e.target_id.as_deref(), Some(id.to_string().as_str()));
        assert_eq!(e.changes, vec!["role", "projects"]);
    }
}
