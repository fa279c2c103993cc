//! The integration tests, as a user sees the system: one binary with a
//! module per suite, so the product is linked once for all of them.
//!
//! Every test has its own database, queue prefix and sandbox, so they run
//! in parallel. A suite runs alone by its module's name:
//!
//! ```sh
//! cargo test --test it dashboard::      # the browser tests
//! cargo test --test it -- cluster:: failover::   # the slow cluster and failover suites
//! ```

mod alerts;
mod api_connections;
mod api_errors;
mod api_infisical;
mod api_syncs;
mod api_tokens;
mod attempts;
mod autosync;
mod bad_input;
mod brownout;
mod clobber;
mod cluster;
mod dashboard;
mod deploy;
mod email;
mod failover;
mod faults;
mod fewest_calls;
mod fleet;
mod history_audit;
mod hostile_clients;
mod hostile_rows;
mod hygiene;
mod import_remove;
mod isolation;
mod lifecycle;
mod maintenance;
mod manifests;
mod notifications;
mod observability;
mod operator;
mod overrides;
mod pause;
mod pgbouncer;
mod probes;
mod product_binary;
mod properties;
mod queues;
mod reconcile;
mod resilience;
mod rotation;
mod scale;
mod settings;
mod sources;
mod sql_statements;
mod sync_jobs;
mod tls;
mod traces;
