//! Opening the store and running each call as one transaction.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::StoreError;
use crate::schema;

/// How long a call waits for another process holding the write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection (every statement the store runs fits).
const STATEMENT_CACHE: usize = 64;

/// The render farm's durable state in one SQLite file.
///
/// Every call is one transaction: it happens entirely or not at all, and once it returns
/// `Ok` it survives a crash of the process (WAL, `synchronous = FULL`: also a power cut).
/// `Send + Sync`: share one `Store` (e.g. in an `Arc`) between threads; calls are
/// serialized on its connection. Several processes may open the same file: SQLite's locks
/// and a busy timeout keep their writes apart.
pub struct Store {
    conn: Mutex<Connection>,
    /// The database file; `:memory:` for an in-memory store.
    file: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("file", &self.file).finish()
    }
}

impl Store {
    /// Opens (or creates) the store at `path`, creating missing parent folders, and
    /// migrates it to this build's schema. Refuses a file written by a newer schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            file: path.to_path_buf(),
            source,
        })?;
        Store::start(conn, path, true)
    }

    /// A store that lives in memory only (tests, dry runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let file = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            file: file.to_path_buf(),
            source,
        })?;
        Store::start(conn, file, false)
    }

    /// The database file (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.file
    }

    fn start(mut conn: Connection, file: &Path, on_disk: bool) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            file: file.to_path_buf(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Reading the mode also makes SQLite read the header: a file that is not a
        // database fails here, with its name.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(open_err)?;
        if on_disk && !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Wal {
                file: file.to_path_buf(),
                mode,
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        schema::migrate(&mut conn, file)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Store {
            conn: Mutex::new(conn),
            file: file.to_path_buf(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped its transaction (rolled back), so the
        // connection is still consistent: keep using it.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one write transaction (taken at once, so concurrent writers queue on the
    /// busy timeout instead of failing mid-way). Any error rolls everything back; `what`
    /// names the call in database errors.
    pub(crate) fn write<T>(
        &self,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let run = || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e: StoreError| e.within(what))
    }

    /// Runs `f` in one read transaction: its queries see one consistent state.
    pub(crate) fn read<T>(
        &self,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        let run = || {
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e: StoreError| e.within(what))
    }
}
