//! Test and demo support for secret-sync (never linked into the product):
//! a database and queue prefix per test, seeding of the rows other services
//! write in production, and a harness that runs a worker in-process against
//! the Humanitec sandbox and the real local Postgres and RabbitMQ.

#[cfg(feature = "web")]
mod api;
mod cluster;
mod db;
mod eventually;
mod harness;
pub mod pace;
mod process;
mod proxy;
mod seed;
mod smtp;
#[cfg(feature = "web")]
mod spec;
mod tls;

#[cfg(feature = "web")]
pub use api::{
    csrf_token, dashboard_sign_in, seed_create_operation, seed_openapi, yaml, yaml_documents,
    ApiClient, SeedContract,
};
pub use cluster::{
    read_job_audit, AuditEvent, AuditReport, PostgresPair, RabbitCluster, JOB_AUDIT_SQL,
};
pub use db::{connect as connect_database, drop_database, recreate_database};
pub use eventually::{eventually, seen, try_eventually, Observation};
pub use harness::{
    app_scope, env_scope, header_text, options, Source, TestEnv, ADMIN_TOKEN, JOB_WAIT, ORG,
};
pub use process::{free_port, http_get, metric_series, worker_env, WorkerProcess};
pub use proxy::Proxy;
pub use seed::{EncryptedBlob, Seeder};
pub use smtp::SmtpServer;
#[cfg(feature = "web")]
pub use spec::assert_requests_match_spec;
pub use tls::TlsServers;
