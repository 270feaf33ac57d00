//! Storage errors. Messages name what failed, never record contents.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot use {path}: {error}")]
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this cordon knows ({known}): run the cordon release that wrote it, or a newer one"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}
