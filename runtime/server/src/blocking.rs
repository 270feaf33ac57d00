//! Work on the store off the async workers: a store may block its thread (the PostgreSQL client
//! does, on a runtime of its own), which an async worker must never do.

use crate::error::ApiError;
use cordon_storage::{Storage, StorageError};
use std::sync::Arc;

/// Runs `f` on `storage` on a blocking thread; a store error becomes the API's answer for it.
pub async fn on_store<T, F>(storage: &Arc<dyn Storage>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Storage) -> Result<T, StorageError> + Send + 'static,
{
    let s = storage.clone();
    tokio::task::spawn_blocking(move || f(&*s))
        .await
        .map_err(ApiError::internal)?
        .map_err(Into::into)
}
