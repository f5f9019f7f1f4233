use meetgate_store::StoreError;
use rusqlite::ErrorCode;

use crate::sql::SqlError;
use crate::worker::WorkerError;

/// Maps a driver error onto the store's error kinds. `what` names the row the statement was
/// about, for `Conflict` and `NotFound`.
pub(crate) fn map_sqlite(e: rusqlite::Error, what: &'static str) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.unwrap_or_else(|| failure.to_string());
            match failure.code {
                ErrorCode::ConstraintViolation => match failure.extended_code {
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => StoreError::Conflict { what },
                    rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::NotFound {
                        what: "referenced row",
                    },
                    _ => StoreError::Database(one_line(&message)),
                },
                // After the busy timeout: another process held the database for too long, which
                // the caller should treat like an outage (retry later).
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    StoreError::Unavailable(one_line(&message))
                }
                ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::DiskFull => {
                    StoreError::Unavailable(one_line(&message))
                }
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                    StoreError::Corrupt(one_line(&message))
                }
                _ => StoreError::Database(one_line(&message)),
            }
        }
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound { what },
        e @ (rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::InvalidColumnName(_)
        | rusqlite::Error::InvalidColumnIndex(_)
        | rusqlite::Error::Utf8Error(..)) => StoreError::Corrupt(one_line(&e.to_string())),
        e => StoreError::Database(one_line(&e.to_string())),
    }
}

/// A failed BEGIN or COMMIT, told to every transaction that shared it.
pub(crate) fn commit_error(e: &rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull,
        ) => StoreError::Unavailable(one_line(&e.to_string())),
        _ => StoreError::Database(one_line(&e.to_string())),
    }
}

fn map_worker(e: WorkerError) -> StoreError {
    match e {
        WorkerError::Closed => StoreError::Unavailable("the store was closed".into()),
        WorkerError::Panicked => StoreError::Database("a database job panicked".into()),
    }
}

/// Error messages end up in logs and one-line CLI output.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) trait OrStore<T> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> OrStore<T> for Result<T, rusqlite::Error> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| map_sqlite(e, what))
    }
}

impl<T> OrStore<T> for Result<T, SqlError> {
    fn or_store(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| match e {
            SqlError::Sqlite(e) => map_sqlite(e, what),
            SqlError::Worker(e) => map_worker(e),
        })
    }
}

impl<T> OrStore<T> for Result<T, WorkerError> {
    fn or_store(self, _what: &'static str) -> Result<T, StoreError> {
        self.map_err(map_worker)
    }
}
