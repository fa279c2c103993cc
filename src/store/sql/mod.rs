//! Every statement the store sends, one `.sql` file each, by aggregate:
//! `jobs/finish_job/sync.sql` is `jobs::FINISH_JOB_SYNC`, named
//! `jobs/finish_job/sync` in [`ALL`]. A file says what the statement does
//! and what each `$n` is; the Rust beside it only binds and reads.
//!
//! The text is static: no statement is assembled at run time. Where one
//! varied, each variant has its file (a job type's status columns:
//! `jobs/finish_job/{sync,import,remove}.sql`; the encrypted columns of a
//! table: `rotation/*/<table>.sql`; `folders/upsert_secret.sql` and
//! `insert_secret_if_new.sql`; the two ways of `sessions/*_live_session.sql`),
//! or it takes the choice as a parameter (`read/dashboard_syncs.sql`'s
//! order). The job path's statements are prepared and keep their plan
//! (see `PLAN_BY_INDEX` in `store/mod.rs`), so they have fixed variants,
//! never optional filters. Text shared by several files (the columns a row
//! reader expects, a variant's body) is copied, and the unit tests below
//! check the copies agree.
//!
//! The connection (`conn.rs`) takes a [`Sql`], which only this module
//! makes, so nothing is sent that is not in [`ALL`]: the integration test
//! `tests/it/sql_statements.rs` prepares every one of them against a
//! migrated database, and finds no file left out. Not here: transaction
//! control (`BEGIN`, `SET LOCAL`, `COMMIT`, `ASYNC_COMMIT`), the settings
//! of a new connection (`PLAN_BY_INDEX`), the readiness probe's `SELECT 1`,
//! and the migration runner's own statements (`migrate.rs`; the schema is
//! `migrations/*.sql`).

/// A statement of the registry, by its name (its file under
/// `src/store/sql/`, without `.sql`) and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sql {
    name: &'static str,
    text: &'static str,
}

impl Sql {
    /// Its file under `src/store/sql/`, without `.sql`.
    pub const fn name(self) -> &'static str {
        self.name
    }

    pub const fn text(self) -> &'static str {
        self.text
    }
}

/// A module per directory, a `Sql` constant per file, and `ALL`.
macro_rules! registry {
    ($($dir:ident { $($konst:ident = $file:literal,)* })*) => {
        $(
            pub mod $dir {
                use super::Sql;
                $(
                    pub const $konst: Sql = Sql {
                        name: concat!(stringify!($dir), "/", $file),
                        text: include_str!(concat!(stringify!($dir), "/", $file, ".sql")),
                    };
                )*
            }
        )*

        /// Every statement the store sends: (name, text).
        pub const ALL: &[(&str, &str)] = &[$($(($dir::$konst.name, $dir::$konst.text),)*)*];
    };
}

registry! {
    jobs {
        CLAIM_ORPHANED_JOBS = "claim_orphaned_jobs",
        CLAIM_QUEUED_MARKER = "claim_queued_marker",
        DELETE_QUEUED_MARKER = "delete_queued_marker",
        FAIL_ORPHANED_JOB = "fail_orphaned_job",
        FAIL_SYNC_STATUS_IMPORT = "fail_sync_status/import",
        FAIL_SYNC_STATUS_REMOVE = "fail_sync_status/remove",
        FAIL_SYNC_STATUS_SYNC = "fail_sync_status/sync",
        FINISH_JOB_DELETING_SYNC = "finish_job/deleting_sync",
        FINISH_JOB_IMPORT = "finish_job/import",
        FINISH_JOB_REMOVE = "finish_job/remove",
        FINISH_JOB_SYNC = "finish_job/sync",
        HAND_BACK_JOB = "hand_back_job",
        HAND_BACK_SYNC_STATUS_IMPORT = "hand_back_sync_status/import",
        HAND_BACK_SYNC_STATUS_REMOVE = "hand_back_sync_status/remove",
        HAND_BACK_SYNC_STATUS_SYNC = "hand_back_sync_status/sync",
        HEARTBEAT_JOB = "heartbeat_job",
        INSERT_FAILURE_NOTICE = "insert_failure_notice",
        INSERT_JOB_ATTEMPT = "insert_job_attempt",
        INSERT_PENDING_JOB = "insert_pending_job",
        LOCK_SYNC_ROW = "lock_sync_row",
        LOCK_SYNC_ROW_SKIP_LOCKED = "lock_sync_row_skip_locked",
        MARK_QUEUED_PUBLISHED = "mark_queued_published",
        KEEP_PARKED_MARKER = "keep_parked_marker",
        OPEN_LEASED_JOB = "open_leased_job",
        PARK_JOB_IMPORT = "park_job/import",
        PARK_JOB_REMOVE = "park_job/remove",
        PARK_JOB_SYNC = "park_job/sync",
        REAP_STALE_JOB = "reap_stale_job",
        REAP_SYNC_STATUS_IMPORT = "reap_sync_status/import",
        REAP_SYNC_STATUS_REMOVE = "reap_sync_status/remove",
        REAP_SYNC_STATUS_SYNC = "reap_sync_status/sync",
        RELEASE_SYNC_LEASE = "release_sync_lease",
        RENEW_SYNC_LEASE = "renew_sync_lease",
        SELECT_JOB_STATE = "select_job_state",
        SELECT_STALE_JOBS = "select_stale_jobs",
        SHOW_SYNC_PENDING_IMPORT = "show_sync_pending/import",
        SHOW_SYNC_PENDING_REMOVE = "show_sync_pending/remove",
        SHOW_SYNC_PENDING_SYNC = "show_sync_pending/sync",
        START_JOB_IMPORT = "start_job/import",
        START_JOB_REMOVE = "start_job/remove",
        START_JOB_SYNC = "start_job/sync",
        TAKE_SYNC_LEASE = "take_sync_lease",
        UPSERT_JOB = "upsert_job",
    }
    syncs {
        DELETE_PUSHED_KEYS = "delete_pushed_keys",
        DELETE_SYNC = "delete_sync",
        INSERT_SYNC = "insert_sync",
        LOCK_DESTINATION = "lock_destination",
        MARK_SYNC_NOT_ENQUEUED = "mark_sync_not_enqueued",
        REPLACE_SYNC_SOURCES = "replace_sync_sources",
        SELECT_OVERRIDDEN_KEYS = "select_overridden_keys",
        SELECT_PUSHED_KEYS = "select_pushed_keys",
        SELECT_SYNC = "select_sync",
        SELECT_SYNC_API = "select_sync_api",
        SELECT_SYNC_ID_BY_NAME = "select_sync_id_by_name",
        SELECT_SYNC_NAME_TAKEN = "select_sync_name_taken",
        SELECT_SYNC_PROJECTS = "select_sync_projects",
        SELECT_SYNCS_API_PAGE = "select_syncs_api_page",
        SELECT_SYNCS_API_PAGE_WITH_KEY = "select_syncs_api_page_with_key",
        SELECT_SYNCS_AT_DESTINATION = "select_syncs_at_destination",
        SELECT_SYNCS_OF_FOLDER = "select_syncs_of_folder",
        UPDATE_SYNC = "update_sync",
        UPSERT_PUSHED_KEYS = "upsert_pushed_keys",
    }
    connections {
        DELETE_UNUSED_CONNECTION = "delete_unused_connection",
        INSERT_CONNECTION = "insert_connection",
        SELECT_CONNECTION = "select_connection",
        SELECT_CONNECTION_API = "select_connection_api",
        SELECT_CONNECTION_EXISTS = "select_connection_exists",
        SELECT_CONNECTIONS_API_PAGE = "select_connections_api_page",
        SELECT_CONNECTIONS_NAMED = "select_connections_named",
        SELECT_SYNCS_USING_CONNECTION = "select_syncs_using_connection",
        UPDATE_CONNECTION = "update_connection",
    }
    folders {
        INSERT_SECRET_IF_NEW = "insert_secret_if_new",
        SELECT_FOLDER = "select_folder",
        SELECT_FOLDER_SECRETS = "select_folder_secrets",
        SELECT_FOLDER_SOURCES = "select_folder_sources",
        SELECT_SUBFOLDERS = "select_subfolders",
        UPSERT_SECRET = "upsert_secret",
    }
    notify {
        CLAIM_DELIVERIES = "claim_deliveries",
        COUNT_PROJECT_CHANNELS = "count_project_channels",
        DELETE_CHANNEL = "delete_channel",
        DELETE_OLD_DELIVERIES = "delete_old_deliveries",
        EXTEND_CLAIM = "extend_claim",
        FORM_DELIVERIES = "form_deliveries",
        INSERT_ATTEMPT = "insert_attempt",
        INSERT_CHANNEL = "insert_channel",
        LOCK_CLAIMS = "lock_claims",
        LOCK_PROJECT_CHANNELS = "lock_project_channels",
        RECORD_DELIVERY = "record_delivery",
        RELEASE_CLAIM = "release_claim",
        SELECT_CHANNEL = "select_channel",
        SELECT_CHANNEL_ATTEMPTS = "select_channel_attempts",
        SELECT_CHANNELS = "select_channels",
        UPDATE_CHANNEL_HEALTH = "update_channel_health",
        UPDATE_EMAIL_CHANNEL = "update_email_channel",
    }
    pauses {
        END_PAUSE = "end_pause",
        INSERT_PAUSE = "insert_pause",
        LOCK_PAUSES_OF_SYNC = "lock_pauses_of_sync",
        RELEASE_PARKED_JOBS = "release_parked_jobs",
        SELECT_ACTIVE_PAUSES = "select_active_pauses",
    }
    audit {
        DELETE_OLD_AUDIT = "delete_old_audit",
        INSERT_AUDIT = "insert_audit",
        SELECT_AUDIT_LOG = "select_audit_log",
    }
    tokens {
        INSERT_API_TOKEN = "insert_api_token",
        REVOKE_API_TOKEN = "revoke_api_token",
        SELECT_API_TOKENS = "select_api_tokens",
        SELECT_PROJECT_EXISTS = "select_project_exists",
        SELECT_PROJECT_IDS = "select_project_ids",
        USE_API_TOKEN = "use_api_token",
    }
    sessions {
        COUNT_ALL_LIVE_SESSIONS = "count_all_live_sessions",
        COUNT_LIVE_SESSIONS = "count_live_sessions",
        DELETE_EXPIRED_SESSIONS = "delete_expired_sessions",
        DELETE_SESSION = "delete_session",
        INSERT_SESSION = "insert_session",
        SELECT_LIVE_SESSION = "select_live_session",
        SELECT_TOKEN_SESSIONS = "select_token_sessions",
        TOUCH_LIVE_SESSION = "touch_live_session",
    }
    schedule {
        SCHEDULE_NEW_SYNCS = "schedule_new_syncs",
        SELECT_NEXT_RECONCILE = "select_next_reconcile",
        TAKE_DUE_SYNCS = "take_due_syncs",
    }
    rotation {
        SELECT_ENCRYPTED_APP_CONNECTIONS = "select_encrypted/app_connections",
        SELECT_ENCRYPTED_NOTIFICATION_CHANNELS = "select_encrypted/notification_channels",
        SELECT_ENCRYPTED_SECRETS = "select_encrypted/secrets",
        SELECT_FINGERPRINTS = "select_fingerprints",
        SELECT_SYNC_IDS_AFTER = "select_sync_ids_after",
        SWAP_ENCRYPTED_APP_CONNECTIONS = "swap_encrypted/app_connections",
        SWAP_ENCRYPTED_NOTIFICATION_CHANNELS = "swap_encrypted/notification_channels",
        SWAP_ENCRYPTED_SECRETS = "swap_encrypted/secrets",
        SWAP_FINGERPRINT = "swap_fingerprint",
    }
    workers {
        MARK_WORKER_SEEN = "mark_worker_seen",
        SHARE_WRITE_BUDGET = "share_write_budget",
    }
    read {
        DASHBOARD_FAILED_SYNCS = "dashboard_failed_syncs",
        DASHBOARD_FILTERED_COUNTS = "dashboard_filtered_counts",
        DASHBOARD_FIND_ID = "dashboard_find_id",
        DASHBOARD_JOB = "dashboard_job",
        DASHBOARD_JOBS = "dashboard_jobs",
        DASHBOARD_JOBS_PER_MINUTE = "dashboard_jobs_per_minute",
        DASHBOARD_OPEN_JOBS = "dashboard_open_jobs",
        DASHBOARD_PUSHED_KEY_COUNT = "dashboard_pushed_key_count",
        DASHBOARD_RECENT_WORKERS = "dashboard_recent_workers",
        DASHBOARD_STATUS_COUNTS = "dashboard_status_counts",
        DASHBOARD_SYNC = "dashboard_sync",
        DASHBOARD_SYNCS = "dashboard_syncs",
        JOB_ATTEMPTS = "job_attempts",
        JOB_DETAIL = "job_detail",
        JOB_HISTORY = "job_history",
        OLDEST_PENDING_JOB_AGE = "oldest_pending_job_age",
        RECENT_JOBS = "recent_jobs",
        SELECT_JOB = "select_job",
        SYNC_STATUS_COUNTS = "sync_status_counts",
        SYNC_STATUSES = "sync_statuses",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status columns of each job type, as the variants name them.
    const COLUMNS: [(&str, [&str; 4]); 3] = [
        (
            "sync",
            [
                "sync_status",
                "last_sync_job_id",
                "last_sync_message",
                "last_synced_at",
            ],
        ),
        (
            "import",
            [
                "import_status",
                "last_import_job_id",
                "last_import_message",
                "last_imported_at",
            ],
        ),
        (
            "remove",
            [
                "remove_status",
                "last_remove_job_id",
                "last_remove_message",
                "last_removed_at",
            ],
        ),
    ];

    fn text(name: &str) -> &'static str {
        ALL.iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no statement {name}"))
            .1
    }

    #[test]
    fn names_and_texts_are_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|s| s.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "a name twice");
        for (i, (name, sql)) in ALL.iter().enumerate() {
            for (other, same) in &ALL[i + 1..] {
                assert_ne!(sql, same, "{name} and {other} are one statement");
            }
        }
    }

    /// A job type's variants are one statement with that type's columns:
    /// written with the import or remove columns in place of the sync
    /// ones, each is its sync variant, comments included.
    #[test]
    fn job_type_variants_differ_only_in_their_status_columns() {
        for family in [
            "jobs/start_job",
            "jobs/finish_job",
            "jobs/fail_sync_status",
            "jobs/show_sync_pending",
            "jobs/hand_back_sync_status",
            "jobs/reap_sync_status",
            "jobs/park_job",
        ] {
            let sync = text(&format!("{family}/sync"));
            for (job_type, columns) in &COLUMNS[1..] {
                let variant = text(&format!("{family}/{job_type}"));
                let as_sync = columns
                    .iter()
                    .zip(COLUMNS[0].1)
                    .fold(variant.to_string(), |sql, (theirs, sync_column)| {
                        sql.replace(theirs, sync_column)
                    });
                assert_eq!(as_sync, sync, "{family}/{job_type}");
                for (other, other_columns) in &COLUMNS {
                    if other != job_type {
                        for column in other_columns {
                            assert!(!variant.contains(column), "{family}/{job_type}: {column}");
                        }
                    }
                }
            }
        }
    }

    /// Each run of text in `sql` from `first` to the next `last`, as its
    /// lines, trimmed, without comment lines or trailing commas.
    fn runs(sql: &str, first: &str, last: &str) -> Vec<Vec<String>> {
        let mut runs = Vec::new();
        let mut run: Option<Vec<String>> = None;
        for line in sql.lines() {
            let mut line = line.trim();
            if line.starts_with("--") {
                continue;
            }
            if run.is_none() {
                let Some(at) = line.find(first) else { continue };
                line = &line[at..];
                run = Some(Vec::new());
            }
            let end = line.find(last).map(|at| at + last.len());
            if let Some(lines) = &mut run {
                let kept = &line[..end.unwrap_or(line.len())];
                lines.push(kept.trim_end_matches(',').to_string());
            }
            if end.is_some() {
                runs.extend(run.take());
            }
        }
        assert!(run.is_none(), "`{first}` without `{last}`");
        runs
    }

    /// Text copied into several statements is the same in each.
    fn copies_agree(names: &[&str], first: &str, last: &str) {
        let mut seen: Option<(String, Vec<String>)> = None;
        for name in names {
            let found = runs(text(name), first, last);
            assert!(!found.is_empty(), "{name} has no `{first}` ... `{last}`");
            for run in found {
                match &seen {
                    None => seen = Some((name.to_string(), run)),
                    Some((where_, lines)) => {
                        assert_eq!(&run, lines, "{name} differs from {where_}")
                    }
                }
            }
        }
    }

    #[test]
    fn shared_text_is_the_same_in_every_copy() {
        // What `sync_from_row` reads.
        copies_agree(
            &[
                "syncs/select_sync",
                "syncs/select_syncs_of_folder",
                "syncs/select_syncs_at_destination",
                "jobs/open_leased_job",
            ],
            "SELECT s.id, s.name, s.project_id, s.connection_id",
            "LEFT JOIN environments e ON e.id = f.environment_id",
        );
        // The job row's upsert.
        copies_agree(
            &[
                "jobs/upsert_job",
                "jobs/start_job/sync",
                "jobs/start_job/import",
                "jobs/start_job/remove",
            ],
            "INSERT INTO secret_sync_jobs",
            "WHERE secret_sync_jobs.sync_id = EXCLUDED.sync_id",
        );
        // The job row's write after the sync row's.
        copies_agree(
            &["jobs/finish_job/sync", "jobs/finish_job/deleting_sync"],
            "INSERT INTO secret_sync_jobs AS j",
            "RETURNING id",
        );
        // What a reaped job and its sync row say.
        copies_agree(
            &[
                "jobs/reap_stale_job",
                "jobs/reap_sync_status/sync",
                "jobs/reap_sync_status/import",
                "jobs/reap_sync_status/remove",
            ],
            "'the worker running this job stopped;",
            "redelivers it'",
        );
        // What `job_row` reads.
        copies_agree(
            &[
                "read/select_job",
                "read/recent_jobs",
                "read/job_history",
                "read/job_detail",
            ],
            "SELECT id, sync_id, type, trigger, status, attempt, message",
            "enqueued_at, started_at, finished_at, next_attempt_at, coalesced, worker_id",
        );
        // The sync list's joins and filters.
        copies_agree(
            &[
                "read/dashboard_syncs",
                "read/dashboard_filtered_counts",
                "read/dashboard_failed_syncs",
            ],
            "WHERE s.project_id = ANY($1)",
            "WHERE lower(p.key) = lower($6)))",
        );
        copies_agree(
            &[
                "read/dashboard_syncs",
                "read/dashboard_filtered_counts",
                "read/dashboard_failed_syncs",
                "read/dashboard_sync",
            ],
            "FROM secret_syncs s",
            "LEFT JOIN app_connections c ON c.id = s.connection_id",
        );
        // The sync list's order, on the page and on its rows.
        copies_agree(&["read/dashboard_syncs"], "ORDER BY", "s.name, s.id");
        // What `list_row` reads.
        copies_agree(
            &["read/dashboard_syncs", "read/dashboard_sync"],
            "SELECT s.id, s.name, s.project_id, s.destination_config->>'org'",
            "s.last_failed_at, c.name",
        );
        // A connection as the API shows it.
        copies_agree(
            &[
                "connections/insert_connection",
                "connections/select_connection_api",
                "connections/select_connections_api_page",
                "connections/select_connections_named",
                "connections/update_connection",
            ],
            "jsonb_build_object(",
            "'createdAt', c.created_at, 'updatedAt', c.updated_at)",
        );
        // What `channel` reads.
        copies_agree(
            &[
                "notify/insert_channel",
                "notify/select_channels",
                "notify/select_channel",
                "notify/update_email_channel",
            ],
            "id, project_id, name, kind, encrypted_url, encrypted_secret",
            "created_at, failing_since, last_error",
        );
        // A live session's token, touched or not.
        copies_agree(
            &[
                "sessions/touch_live_session",
                "sessions/select_live_session",
            ],
            "s.id_hash = $1",
            "make_interval(secs => $2)",
        );
    }
}
