//! A 3-node RabbitMQ cluster and a Postgres primary with a streaming
//! standby, started on free ports by `scripts/rabbitmq-cluster` and
//! `scripts/postgres-pair` (as the `rabbitmq` and `postgres` users; they
//! never touch the machine's own servers on 5672 and 5432), and stopped,
//! their data removed, when the guard drops, a failing test included.
//! Also the job audit the failover tests read: every status a job row
//! takes, in order.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::process::free_port;

fn script(name: &str) -> String {
    format!("{}/../scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scripts/<name> args...`; panics with its output if it fails.
fn run(name: &str, args: &[String]) -> String {
    let out = Command::new(script(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} did not start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} {args:?} failed: {text}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A directory for one cluster's data, owned by the guard.
fn data_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("secret-sync-{what}-{}", Uuid::new_v4().simple()))
}

/// Three RabbitMQ nodes joined in one cluster. Dropping it kills them all
/// and removes their data.
pub struct RabbitCluster {
    dir: PathBuf,
    pub ports: [u16; 3],
}

impl RabbitCluster {
    /// Starts the three nodes and joins them (about 30 s on 2 cores).
    pub async fn start() -> RabbitCluster {
        let dir = data_dir("rabbitmq");
        let ports = [free_port(), free_port(), free_port()];
        let dist = [free_port(), free_port(), free_port()];
        let cluster = RabbitCluster {
            dir: dir.clone(),
            ports,
        };
        let mut args = vec!["start".to_string(), dir.display().to_string()];
        args.extend(ports.iter().chain(dist.iter()).map(u16::to_string));
        tokio::task::spawn_blocking(move || run("rabbitmq-cluster", &args))
            .await
            .expect("cluster start");
        cluster
    }

    /// `amqp://` URL of node `n` (1 to 3).
    pub fn node_url(&self, n: usize) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.ports[n - 1])
    }

    /// `AMQP_URL` listing all three nodes.
    pub fn url(&self) -> String {
        (1..=3)
            .map(|n| self.node_url(n))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `host:port` of node `n`, as `/readyz` names it.
    pub fn node_label(&self, n: usize) -> String {
        format!("127.0.0.1:{}", self.ports[n - 1])
    }

    async fn script(&self, args: &[&str]) -> String {
        let mut all = vec![args[0].to_string(), self.dir.display().to_string()];
        all.extend(args[1..].iter().map(|a| a.to_string()));
        tokio::task::spawn_blocking(move || run("rabbitmq-cluster", &all))
            .await
            .expect("cluster script")
    }

    /// SIGKILL to node `n`.
    pub async fn kill(&self, n: usize) {
        self.script(&["kill", &n.to_string()]).await;
    }

    /// Starts node `n` again; returns once it runs (it rejoins the cluster).
    pub async fn restart(&self, n: usize) {
        self.script(&["restart", &n.to_string()]).await;
    }

    /// The node (1 to 3) leading quorum queue `queue`.
    pub async fn leader(&self, queue: &str) -> usize {
        self.script(&["leader", queue])
            .await
            .parse()
            .expect("a node number")
    }
}

impl RabbitCluster {
    /// How many nodes hold a replica of quorum queue `queue`.
    pub async fn replicas(&self, queue: &str) -> usize {
        self.script(&["members", queue])
            .await
            .parse()
            .expect("a count")
    }
}

impl Drop for RabbitCluster {
    fn drop(&mut self) {
        let _ = Command::new(script("rabbitmq-cluster"))
            .args(["stop", &self.dir.display().to_string()])
            .output();
    }
}

/// A Postgres primary (node 1) streaming to a standby (node 2),
/// synchronously: the primary acknowledges a commit once the standby has
/// it. Dropping it stops both and removes their data.
pub struct PostgresPair {
    dir: PathBuf,
    pub ports: [u16; 2],
}

impl PostgresPair {
    pub async fn start() -> PostgresPair {
        let dir = data_dir("postgres");
        let ports = [free_port(), free_port()];
        let pair = PostgresPair {
            dir: dir.clone(),
            ports,
        };
        let args = vec![
            "start".to_string(),
            dir.display().to_string(),
            ports[0].to_string(),
            ports[1].to_string(),
            "sync".to_string(),
        ];
        tokio::task::spawn_blocking(move || run("postgres-pair", &args))
            .await
            .expect("postgres pair start");
        pair
    }

    /// A `DATABASE_URL` for `database` listing both nodes, primary first,
    /// that connects only to the one that takes writes.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{database}?target_session_attrs=read-write",
            self.ports[0], self.ports[1]
        )
    }

    async fn script(&self, args: &[&str]) {
        let mut all = vec![args[0].to_string(), self.dir.display().to_string()];
        all.extend(args[1..].iter().map(|a| a.to_string()));
        tokio::task::spawn_blocking(move || run("postgres-pair", &all))
            .await
            .expect("postgres pair script");
    }

    /// SIGKILL to node `n`'s postmaster (1: the primary).
    pub async fn kill(&self, n: usize) {
        self.script(&["kill", &n.to_string()]).await;
    }

    /// Promotes node `n` (2: the standby) to primary; returns once it takes writes.
    pub async fn promote(&self, n: usize) {
        self.script(&["promote", &n.to_string()]).await;
    }
}

impl Drop for PostgresPair {
    fn drop(&mut self) {
        let _ = Command::new(script("postgres-pair"))
            .args(["stop", &self.dir.display().to_string()])
            .output();
    }
}

/// Records every status a job row takes in `job_audit`, with the time it
/// was written; each start of a run as `running` at the run's `started_at`
/// (a short run writes it with its outcome, a longer one first when it
/// shows `running`); and each heartbeat of a running job as the status
/// `heartbeat` (it renews the sync's lease in the same statement).
pub const JOB_AUDIT_SQL: &str = "
    CREATE TABLE job_audit (
        seq bigserial PRIMARY KEY, job_id uuid NOT NULL, sync_id uuid NOT NULL,
        status text NOT NULL, worker_id text, at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE FUNCTION audit_job() RETURNS trigger AS $$
    DECLARE
      started boolean := NEW.started_at IS NOT NULL
        AND (TG_OP = 'INSERT' OR NEW.started_at IS DISTINCT FROM OLD.started_at);
    BEGIN
      IF started THEN
        INSERT INTO job_audit (job_id, sync_id, status, worker_id, at)
        VALUES (NEW.id, NEW.sync_id, 'running', NEW.worker_id, NEW.started_at);
      END IF;
      IF NEW.status <> 'running' AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status) THEN
        INSERT INTO job_audit (job_id, sync_id, status, worker_id)
        VALUES (NEW.id, NEW.sync_id, NEW.status, NEW.worker_id);
      ELSIF NEW.status = 'running' AND NOT started AND TG_OP = 'UPDATE'
            AND NEW.heartbeat_at IS DISTINCT FROM OLD.heartbeat_at THEN
        INSERT INTO job_audit (job_id, sync_id, status, worker_id)
        VALUES (NEW.id, NEW.sync_id, 'heartbeat', NEW.worker_id);
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql;
    CREATE TRIGGER audit AFTER INSERT OR UPDATE ON secret_sync_jobs
      FOR EACH ROW EXECUTE FUNCTION audit_job();";

/// One status a job row took.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub job_id: Uuid,
    pub sync_id: Uuid,
    pub status: String,
    pub at: DateTime<Utc>,
}

/// What the audit says about a run of jobs.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// Times each job's row turned `succeeded`.
    pub succeeded: HashMap<Uuid, usize>,
    /// Syncs with a run that started while another run of it still held,
    /// or could still hold, the sync's lease.
    pub overlapping: Vec<Uuid>,
    /// When each `succeeded` was written, in order.
    pub success_times: Vec<DateTime<Utc>>,
}

impl AuditReport {
    /// `lease_ttl` is the workers' `JOB_STALE_AFTER`: how long a run's
    /// lease lasts past its start or last heartbeat.
    pub fn from_events(events: &[AuditEvent], lease_ttl: Duration) -> AuditReport {
        let mut report = AuditReport::default();
        let mut by_sync: BTreeMap<Uuid, Vec<&AuditEvent>> = BTreeMap::new();
        for e in events {
            by_sync.entry(e.sync_id).or_default().push(e);
            if e.status == "succeeded" {
                *report.succeeded.entry(e.job_id).or_default() += 1;
                report.success_times.push(e.at);
            }
        }
        report.success_times.sort();
        let ttl = chrono::Duration::from_std(lease_ttl).expect("a lease TTL in range");
        for (sync, mut list) in by_sync {
            list.sort_by_key(|e| e.at);
            // A run opens with `running` and closes with any other status;
            // until then it may hold the lease up to `ttl` past its start or
            // last heartbeat. A run that ended without writing its outcome
            // (its database went away) never closes, and its lease expires:
            // a run after that is not at the same time as it.
            let mut held_until: Option<DateTime<Utc>> = None;
            for e in list {
                match e.status.as_str() {
                    "running" => {
                        if held_until.is_some_and(|until| e.at < until) {
                            report.overlapping.push(sync);
                            break;
                        }
                        held_until = Some(e.at + ttl);
                    }
                    "heartbeat" => held_until = held_until.map(|_| e.at + ttl),
                    _ => held_until = None,
                }
            }
        }
        report
    }

    /// Seconds between the last success before `at` and the first after it.
    pub fn gap_around(&self, at: DateTime<Utc>) -> Option<f64> {
        let before = self.success_times.iter().rev().find(|t| **t <= at)?;
        let after = self.success_times.iter().find(|t| **t > at)?;
        Some((*after - *before).num_milliseconds() as f64 / 1000.0)
    }

    /// Successes written after `at`.
    pub fn successes_after(&self, at: DateTime<Utc>) -> usize {
        self.success_times.iter().filter(|t| **t > at).count()
    }
}

/// Reads `job_audit` from `database_url` (any node list the URL names).
pub async fn read_job_audit(database_url: &str) -> Vec<AuditEvent> {
    let client = crate::db::connect(database_url).await;
    let rows = client
        .query(
            "SELECT job_id, sync_id, status, at FROM job_audit ORDER BY seq",
            &[],
        )
        .await
        .expect("job_audit");
    drop(client);
    rows.iter()
        .map(|r| AuditEvent {
            job_id: r.get(0),
            sync_id: r.get(1),
            status: r.get(2),
            at: r.get(3),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(sync: Uuid, status: &str, ms: i64) -> AuditEvent {
        AuditEvent {
            job_id: sync,
            sync_id: sync,
            status: status.into(),
            at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms),
        }
    }

    fn overlapping(events: &[(&str, i64)]) -> bool {
        let sync = Uuid::new_v4();
        let events: Vec<AuditEvent> = events.iter().map(|(s, ms)| event(sync, s, *ms)).collect();
        !AuditReport::from_events(&events, Duration::from_secs(2))
            .overlapping
            .is_empty()
    }

    #[test]
    fn a_run_that_starts_while_another_may_hold_the_lease_overlaps() {
        assert!(overlapping(&[("running", 0), ("running", 1_999)]));
        // A heartbeat renews the lease: 2 s from the last one.
        assert!(overlapping(&[
            ("running", 0),
            ("heartbeat", 1_500),
            ("running", 3_000)
        ]));
    }

    #[test]
    fn runs_one_after_another_or_after_a_lease_expired_do_not_overlap() {
        assert!(!overlapping(&[
            ("running", 0),
            ("succeeded", 100),
            ("running", 200)
        ]));
        assert!(!overlapping(&[
            ("running", 0),
            ("pending", 100),
            ("running", 150)
        ]));
        // The first run never wrote its outcome; its lease ran out.
        assert!(!overlapping(&[
            ("running", 0),
            ("heartbeat", 500),
            ("running", 2_600)
        ]));
        // A heartbeat of a closed run opens nothing.
        assert!(!overlapping(&[
            ("running", 0),
            ("succeeded", 100),
            ("heartbeat", 150),
            ("running", 200)
        ]));
    }
}
