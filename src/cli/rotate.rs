//! `secret-sync rotate-key`: see `jobs::rotate`; prints progress per table
//! and a summary (counts, and table/column/id of unreadable cells, never
//! values).

use super::CliResult;
use crate::config::Settings;
use crate::jobs::rotate::rotate_key;
use crate::jobs::JobContext;
use crate::store::Store;

/// Unreadable cells listed in the text summary (`--json` lists them all).
const SHOWN: usize = 50;

pub async fn run(settings: &Settings, json: bool) -> CliResult {
    let store = Store::open(&settings.store(4))?;
    let ctx = JobContext::from_settings(settings, store)?;
    let rotating = ctx.cipher.previous().is_some();
    if !json && !rotating {
        eprintln!(
            "ENCRYPTION_KEY_PREVIOUS is not set: rewriting every encrypted column in layout 0x02 \
             under ENCRYPTION_KEY only (to change the key, set ENCRYPTION_KEY to the new key and \
             ENCRYPTION_KEY_PREVIOUS to the old one on every process, then run rotate-key)"
        );
    }
    let report = rotate_key(&ctx, |table, t| {
        if !json {
            eprintln!(
                "{table}: {} rewritten ({} from layout 0x01), {} already current, {} left, {} unreadable",
                t.rewritten, t.from_v1, t.current, t.left, t.unreadable
            );
        }
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let tables: Vec<String> = report
            .tables
            .iter()
            .map(|(table, t)| format!("{table} {}", t.rewritten))
            .collect();
        println!(
            "rotation done: rows rewritten per table: {}; {} fingerprints re-keyed",
            tables.join(", "),
            report.fingerprints.rewritten
        );
        if !report.unreadable.is_empty() {
            println!("unreadable under every key (left untouched; re-enter them):");
            for cell in report.unreadable.iter().take(SHOWN) {
                println!("  {} row {}: {}", cell.column, cell.id, cell.reason);
            }
            if report.unreadable.len() > SHOWN {
                println!(
                    "  and {} more (--json lists them all)",
                    report.unreadable.len() - SHOWN
                );
            }
            if !rotating {
                println!(
                    "if ENCRYPTION_KEY was changed, set ENCRYPTION_KEY_PREVIOUS to the old key"
                );
            }
        }
        if rotating {
            println!(
                "when every process runs with the new key alone, unset ENCRYPTION_KEY_PREVIOUS"
            );
        }
    }
    if report.unreadable.is_empty() {
        Ok(())
    } else {
        Err("some rows could not be read under any key (see above)".into())
    }
}
