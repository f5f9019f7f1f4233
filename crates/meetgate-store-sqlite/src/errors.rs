use meetgate_store::StoreError;

/// Maps a driver error onto the store's error kinds. `what` names the row the statement was
/// about, for `Conflict` and `NotFound`.
pub(crate) fn map_sqlx(e: sqlx::Error, what: &'static str) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict { what };
            }
            if db.is_foreign_key_violation() {
                return StoreError::NotFound {
                    what: "referenced row",
                };
            }
            let primary = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: another writer held the
            // database for too long, which the caller should treat like an outage (retry later).
            if matches!(primary, Some(5 | 6)) {
                return StoreError::Unavailable(one_line(db.message()));
            }
            StoreError::Database(one_line(db.message()))
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".into())
        }
        sqlx::Error::PoolClosed => StoreError::Unavailable("the store was closed".into()),
        sqlx::Error::Io(io) => StoreError::Unavailable(one_line(&io.to_string())),
        sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable("the SQLite worker thread crashed".into())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound { what },
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }) => StoreError::Corrupt(one_line(&e.to_string())),
        e => StoreError::Database(one_line(&e.to_string())),
    }
}

/// Error messages end up in logs and one-line CLI output.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) trait OrStore<T> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> OrStore<T> for Result<T, sqlx::Error> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| map_sqlx(e, what))
    }
}
