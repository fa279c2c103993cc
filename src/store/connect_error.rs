//! Connection failures turned into what an operator can act on: which
//! server and database (password never shown), why, and what to do.

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

use super::StoreError;
use crate::tls::HandshakeFailure;

/// Where DATABASE_URL points, for messages: `database "x" on host:port as user "u"`.
pub fn describe_target(database_url: &str) -> String {
    let Ok(url) = super::DatabaseUrl::parse(database_url) else {
        return "the DATABASE_URL server".into();
    };
    let config = url.config();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    let user = config.get_user().unwrap_or("(default)");
    format!("database \"{db}\" on {host}:{port} as user \"{user}\"")
}

/// Why a connection failed, and the fix.
struct Diagnosis {
    cause: String,
    hint: &'static str,
    /// May pass by itself (server restarting, network blip).
    transient: bool,
}

fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = e.source();
    }
    None
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        source = e.source();
    }
    text
}

fn diagnose(err: &tokio_postgres::Error) -> Diagnosis {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        let message = db.message().to_string();
        return if *code == SqlState::INVALID_CATALOG_NAME {
            Diagnosis {
                cause: format!("{message} (SQLSTATE 3D000)"),
                hint: "run `secret-sync migrate` (it creates the database and the schema), or fix the database name in DATABASE_URL",
                transient: false,
            }
        } else if *code == SqlState::INVALID_PASSWORD {
            Diagnosis {
                cause: format!("authentication failed: {message} (SQLSTATE 28P01)"),
                hint: "check the user and password in DATABASE_URL (percent-encode special characters)",
                transient: false,
            }
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            let tls = message.contains("SSL") || message.contains("encryption");
            Diagnosis {
                cause: format!("the server refused the login: {message} (SQLSTATE 28000)"),
                hint: if tls {
                    "the server requires TLS for this client: add sslmode=verify-full&sslrootcert=<path of the server's CA, PEM> to DATABASE_URL (sslmode=require encrypts without checking the certificate)"
                } else {
                    "check that the user in DATABASE_URL exists and that pg_hba.conf lets it connect from this host"
                },
                transient: false,
            }
        } else if code.code().starts_with("57") || code.code().starts_with("53") {
            Diagnosis {
                cause: format!("{message} (SQLSTATE {})", code.code()),
                hint: "the server is starting, shutting down or out of connections; it should pass, otherwise raise max_connections or lower WORKER_CONCURRENCY",
                transient: true,
            }
        } else {
            Diagnosis {
                cause: format!("{message} (SQLSTATE {})", code.code()),
                hint: "see the Postgres server log",
                transient: false,
            }
        };
    }
    let text = chain(err);
    match io_kind(err) {
        Some(std::io::ErrorKind::ConnectionRefused) => Diagnosis {
            cause: "connection refused (nothing listens on that port)".into(),
            hint: "start Postgres, or fix the host and port in DATABASE_URL",
            transient: true,
        },
        Some(std::io::ErrorKind::TimedOut) => Diagnosis {
            cause: "the connection timed out".into(),
            hint: "check the host in DATABASE_URL and that no firewall drops the traffic",
            transient: true,
        },
        _ if text.contains("lookup address") || text.contains("Name or service not known") => {
            Diagnosis {
                cause: format!("unknown host ({text})"),
                hint: "fix the host name in DATABASE_URL (or the DNS)",
                transient: true,
            }
        }
        _ if text.contains("server does not support TLS") => Diagnosis {
            cause: "sslmode in DATABASE_URL requires TLS, but the server does not offer it".into(),
            hint: "turn on ssl in the server's postgresql.conf, or connect to the TLS port your provider gives; sslmode=prefer falls back to plain text, sslmode=disable never tries",
            transient: false,
        },
        _ if HandshakeFailure::of(&text).is_some() => {
            let failure = HandshakeFailure::of(&text).unwrap_or(HandshakeFailure::UnknownIssuer);
            Diagnosis {
                cause: format!("TLS: {} ({text})", failure.why()),
                hint: match failure {
                    HandshakeFailure::UnknownIssuer => "sslrootcert in DATABASE_URL must name a PEM file holding the CA that signed the server's certificate (your provider publishes it)",
                    HandshakeFailure::WrongName => "with sslmode=verify-full the host in DATABASE_URL must be a name the server's certificate gives; connect by that name, or use sslmode=verify-ca to check the CA only",
                    HandshakeFailure::Expired => "the server's certificate must be renewed (or this host's clock is wrong)",
                },
                transient: false,
            }
        }
        _ if text.to_ascii_lowercase().contains("tls") => Diagnosis {
            cause: format!("TLS: {text}"),
            hint: "check sslmode and sslrootcert in DATABASE_URL and the server's TLS settings",
            transient: false,
        },
        _ => Diagnosis {
            cause: text,
            hint: "check DATABASE_URL and that Postgres is reachable from this host",
            transient: true,
        },
    }
}

/// A failed connection attempt to `target` (see [`describe_target`]).
pub fn connect_failed(target: &str, err: &tokio_postgres::Error) -> StoreError {
    let d = diagnose(err);
    StoreError::Connect {
        target: target.to_string(),
        cause: d.cause,
        hint: d.hint,
        transient: d.transient,
    }
}

/// A pool that could not hand out a connection.
pub fn pool_failed(target: &str, err: PoolError) -> StoreError {
    match err {
        PoolError::Backend(e) => connect_failed(target, &e),
        PoolError::Timeout(TimeoutType::Create) => StoreError::Connect {
            target: target.to_string(),
            cause: "no answer within 10 s".into(),
            hint: "check the host and port in DATABASE_URL and that no firewall drops the traffic",
            transient: true,
        },
        PoolError::Timeout(TimeoutType::Wait) => StoreError::Pool(format!(
            "all connections to {target} stayed busy for 30 s; the database is slow or the pool too small"
        )),
        other => StoreError::Pool(format!("{target}: {other}")),
    }
}

/// Text for a query error: the server's own message and code, not just "db error".
pub fn describe_db_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) if *db.code() == SqlState::UNDEFINED_TABLE => format!(
            "{} (SQLSTATE 42P01): the schema is missing or old; run `secret-sync migrate`",
            db.message()
        ),
        // A named statement missing, or another's in its place: a pooler
        // moved this connection's transactions between server connections.
        Some(db)
            if *db.code() == SqlState::INVALID_SQL_STATEMENT_NAME
                || *db.code() == SqlState::DUPLICATE_PSTATEMENT =>
        {
            format!(
                "{} (SQLSTATE {}): behind PgBouncer in transaction mode (before 1.21, or without \
                 max_prepared_statements)? set DATABASE_PREPARED_STATEMENTS=false",
                db.message(),
                db.code().code()
            )
        }
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => chain(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_host_port_database_and_user_never_the_password() {
        let t = describe_target("postgres://app:hunter2@db.internal:6543/secrets");
        assert_eq!(
            t,
            "database \"secrets\" on db.internal:6543 as user \"app\""
        );
        assert!(!t.contains("hunter2"));
    }
}
