//! The `cordon_meta` table: the store's own settings (schema version, log id, the anchor
//! checkpoint), read and written inside the callers' transactions.

use crate::error::StorageError;
use postgres::Transaction;

pub(crate) fn meta(
    c: &mut impl postgres::GenericClient,
    key: &str,
) -> Result<Option<String>, StorageError> {
    Ok(
        c.query_opt("SELECT value FROM cordon_meta WHERE key = $1", &[&key])?
            .map(|r| r.get(0)),
    )
}

pub(crate) fn set_meta(
    tx: &mut Transaction<'_>,
    key: &str,
    value: &str,
) -> Result<(), StorageError> {
    tx.execute(
        "INSERT INTO cordon_meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )?;
    Ok(())
}
