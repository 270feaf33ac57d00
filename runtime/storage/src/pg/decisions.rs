//! The decisions bundle in force on PostgreSQL: the same rows and events as the embedded store
//! (`crate::decisions`), under the log's lock.

use crate::decisions::{DecisionBundle, InForce, change_of};
use crate::error::StorageError;
use crate::events::AdminAction;
use postgres::{GenericClient, Transaction};

fn row(r: &postgres::Row) -> InForce {
    InForce {
        hash: r.get(0),
        bundle: r.get(1),
        at_ms: r.get(2),
    }
}

pub(crate) fn in_force(c: &mut impl GenericClient) -> Result<Option<InForce>, StorageError> {
    Ok(c.query_opt(
        "SELECT hash, bundle, at FROM decisions ORDER BY seq DESC LIMIT 1",
        &[],
    )?
    .map(|r| row(&r))
    .filter(|f| !f.hash.is_empty()))
}

pub(crate) fn set(
    tx: &mut Transaction<'_>,
    next: Option<&DecisionBundle>,
    at_ms: i64,
) -> Result<Option<AdminAction>, StorageError> {
    let previous = in_force(tx)?.map(|f| f.hash);
    let action = change_of(previous, next);
    if action.is_some() {
        let (hash, bundle) = next.map_or(("", ""), |n| (n.hash.as_str(), n.bundle.as_str()));
        tx.execute(
            "INSERT INTO decisions (hash, bundle, at) VALUES ($1, $2, $3)",
            &[&hash, &bundle, &at_ms],
        )?;
    }
    Ok(action)
}

pub(crate) fn by_hash(
    c: &mut impl GenericClient,
    hash: &str,
) -> Result<Option<InForce>, StorageError> {
    Ok(c.query_opt(
        "SELECT hash, bundle, at FROM decisions WHERE hash = $1 AND hash != '' ORDER BY seq DESC LIMIT 1",
        &[&hash],
    )?
    .map(|r| row(&r)))
}
