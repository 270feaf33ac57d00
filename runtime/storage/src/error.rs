//! Storage errors. Messages name what failed, never record contents.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed or could not be reached (the message is the driver's, without the
    /// connection URL).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// The database cannot be reached now (down, restarting, no free connection): the request
    /// may succeed when retried; nothing was changed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("{name} {version} is already published")]
    AlreadyPublished { name: String, version: String },
    #[error("cannot use {path}: {error}")]
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this cordon knows ({known}): run the cordon release that wrote it, or a newer one"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error(
        "a key named {0:?} already exists (names stay taken after a revocation, so the log keeps meaning one key); choose another name"
    )]
    KeyNameTaken(String),
    /// A key that cannot be made as asked (its name, description or expiry).
    #[error("{0}")]
    InvalidKey(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The group could not be sealed with the log key, so nothing was appended.
    #[error("cannot seal the appended links with the log key: {0}")]
    Seal(String),
}
