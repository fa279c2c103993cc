//! `secret-sync dead list|requeue|discard`: the dead-letter queue for
//! operators without the dashboard. The broker side is `queue/dead.rs`:
//! messages are read `DEAD_LETTER_PAGE_SIZE` at a time, so `requeue all`
//! on a long queue holds at most one page in memory and unacknowledged.

use super::CliResult;
use crate::config::Settings;
use crate::model::{Actor, AuditEntry};
use crate::queue::{Broker, DeadLetter, DeadSelector, Names, Settled};
use crate::store::Store;

#[derive(clap::Subcommand)]
pub enum DeadCommand {
    /// Show dead letters, oldest first: position, message id, reason,
    /// source queue, routing key, when, and an escaped body preview.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters back to the exchange they came from, with their
    /// original routing key. TARGET: a position from `dead list`, a message
    /// id, or `all` (every letter there now, a page at a time). A job whose
    /// row is already final is acknowledged without running again: enqueue a
    /// new job for that sync instead.
    Requeue { target: String },
    /// Drop dead letters for good. TARGET: a position, a message id, or
    /// `all` (a page at a time).
    Discard { target: String },
}

pub async fn run(settings: &Settings, command: DeadCommand) -> CliResult {
    let names = Names::new(&settings.queue_prefix);
    let broker = Broker::open(settings, names, "secret-sync dead").await?;
    let page = settings.dead_letter_page_size.max(1);
    let result = match command {
        DeadCommand::List { limit, json } => broker.list_dead(limit).await.map(|list| {
            let settled: Option<(&'static str, String, usize)> = None;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into())
                );
            } else {
                print_list(&list);
            }
            settled
        }),
        DeadCommand::Requeue { target } => broker
            .requeue_dead(&DeadSelector::parse(&target), page)
            .await
            .map(|done| {
                println!(
                    "requeued {} dead letter(s){}",
                    done.done,
                    pages(&done, page)
                );
                Some(("dead-letter.requeue", target, done.done))
            }),
        DeadCommand::Discard { target } => broker
            .discard_dead(&DeadSelector::parse(&target), page)
            .await
            .map(|done| {
                println!(
                    "discarded {} dead letter(s){}",
                    done.done,
                    pages(&done, page)
                );
                Some(("dead-letter.discard", target, done.done))
            }),
    };
    broker.close("done").await;
    let settled = result?;
    if let Some((action, target, n)) = settled {
        // Instance-wide: the command line acts on every project's letters.
        let entry = AuditEntry::new(Actor::Cli, action, "dead-letter")
            .target(target)
            .changes([format!("{n} message(s)")]);
        record_cli_audit(settings, &entry).await;
    }
    Ok(())
}

/// ` in N page(s) of at most P` when the action read more than one page.
fn pages(settled: &Settled, page: usize) -> String {
    if settled.pages > 1 {
        format!(" in {} pages of at most {page}", settled.pages)
    } else {
        String::new()
    }
}

/// Writes a command's audit entry; a failure is reported, not fatal (the
/// action itself is done).
pub(super) async fn record_cli_audit(settings: &Settings, entry: &AuditEntry) {
    let written = match Store::open(&settings.store(1)) {
        Ok(store) => store.audit.record_audit(entry).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        eprintln!("warning: the action was done, but its audit entry could not be written: {e}");
    }
}

fn print_list(list: &[DeadLetter]) {
    if list.is_empty() {
        println!("the dead-letter queue is empty");
        return;
    }
    // Headers come from whoever published: escape them like the body.
    let esc = |s: Option<&str>| s.map_or("-".to_string(), |s| s.escape_debug().to_string());
    for d in list {
        println!(
            "#{}  message id {}  routing key `{}`  from {}  at {}",
            d.position,
            esc(d.message_id.as_deref()),
            esc(Some(&d.routing_key)),
            esc(d.source.as_deref()),
            esc(d.dead_at.as_deref()),
        );
        println!("    reason: {}", esc(d.reason.as_deref()));
        println!("    body ({} bytes): {}", d.body_bytes, d.body_preview);
    }
    println!(
        "\n{} dead letter(s). `secret-sync dead requeue <#|message-id|all>` sends them back; `dead discard` drops them.",
        list.len()
    );
}
