//! The backends (ComfyUI servers) the farm knows, so a restart keeps the fleet.

use rusqlite::params;

use crate::codec::{backend_from_row, to_json};
use crate::error::StoreError;
use crate::jobs::query_rows;
use crate::rows::BackendRow;
use crate::sql;
use crate::store::Store;

/// Checks a backend before storing it.
fn check_backend(b: &BackendRow) -> Result<(), StoreError> {
    let invalid = |reason: &str| StoreError::InvalidBackend {
        name: b.name.clone(),
        reason: reason.to_string(),
    };
    if b.name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if b.url.is_empty() {
        return Err(invalid("the url is empty"));
    }
    if !b.weight.is_finite() || b.weight < 0.0 {
        return Err(StoreError::InvalidBackend {
            name: b.name.clone(),
            reason: format!("weight {} is not a finite number >= 0", b.weight),
        });
    }
    if b.tags.iter().any(String::is_empty) {
        return Err(invalid("a tag is empty"));
    }
    Ok(())
}

impl Store {
    /// Adds a backend, or updates the one with this name (keeping its `added_ms`).
    pub fn upsert_backend(&self, b: &BackendRow) -> Result<(), StoreError> {
        check_backend(b)?;
        let tags = to_json(&b.tags).map_err(|reason| StoreError::InvalidBackend {
            name: b.name.clone(),
            reason,
        })?;
        self.write(
            || format!("store backend `{}`", b.name),
            |tx| {
                tx.prepare_cached(sql::UPSERT_BACKEND)?.execute(params![
                    b.name,
                    b.url,
                    tags,
                    b.pool,
                    b.weight,
                    i64::from(b.max_concurrent),
                    b.added_ms
                ])?;
                Ok(())
            },
        )
    }

    /// Removes a backend; `false` if there was none with this name. Its attempts keep its
    /// name.
    pub fn remove_backend(&self, name: &str) -> Result<bool, StoreError> {
        self.write(
            || format!("remove backend `{name}`"),
            |tx| {
                let n = tx.prepare_cached(sql::DELETE_BACKEND)?.execute([name])?;
                Ok(n > 0)
            },
        )
    }

    /// Every backend, by name.
    pub fn backends(&self) -> Result<Vec<BackendRow>, StoreError> {
        self.read(
            || "list backends".to_string(),
            |tx| query_rows(tx, sql::BACKENDS, [], backend_from_row),
        )
    }
}
