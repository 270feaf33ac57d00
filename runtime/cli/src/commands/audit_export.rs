//! `cordon audit verify --export FILE`: checks an exported copy of the audit log (the lines
//! `cordon audit export` wrote) on its own, without the server or its database: every event's
//! hash recomputed from its content, every link to the one before, and the copy held against
//! signed checkpoints.

use cordon_storage::Event;
use cordon_storage::chain::{ChainReport, Claim, Link, Walk};
use std::path::Path;

/// Walks the exported events in `path` (one JSON event per line), from the first line's
/// `prev_hash` on, against `claims`.
pub fn verify_export(path: &Path, claims: Vec<Claim>) -> anyhow::Result<ChainReport> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut walk: Option<Walk> = None;
    let mut pending = Some(claims);
    let mut bad_lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => {
                bad_lines.push(format!("line {}: not an exported event: {e}", i + 1));
                continue;
            }
        };
        let w = walk.get_or_insert_with(|| {
            // An export may start anywhere: its first event's link is taken as given.
            let mut w = Walk::new(&event.prev_hash, event.seq - 1);
            w.claim(pending.take().unwrap_or_default());
            w
        });
        let Some((body, agrees)) = event.canonical() else {
            w.note(format!(
                "record {}: carries neither an execution nor an event (the line was edited)",
                event.seq
            ));
            continue;
        };
        let label = event
            .execution
            .as_ref()
            .map_or_else(|| event.kind.clone(), |e| e.id.clone());
        w.link(Link {
            seq: event.seq,
            label,
            body,
            stored_hash: event.hash.clone(),
            checks: None,
            column_problems: if agrees {
                Vec::new()
            } else {
                vec![
                    "its kind, time, actor or tool differ from its content (the line was edited)"
                        .into(),
                ]
            },
        });
    }
    let mut walk = walk.unwrap_or_else(|| {
        let mut w = Walk::new(cordon_storage::chain::GENESIS, 0);
        w.claim(pending.take().unwrap_or_default());
        w
    });
    for b in bad_lines {
        walk.note(b);
    }
    Ok(walk.finish())
}
