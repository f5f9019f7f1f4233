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
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if code == REFUSED {
                match db.message() {
                    "connection" => return StoreError::Precondition { what: "connection" },
                    "idempotency record" => {
                        return StoreError::Precondition {
                            what: "idempotency record",
                        };
                    }
                    _ => {}
                }
            }
            if code == LOCK_NOT_AVAILABLE {
                return StoreError::LockTimeout { what };
            }
            // Class 08 (connection exception), 53 (insufficient resources), 57P0x (shutdown,
            // cannot connect now): the server is going away or overloaded; retry later.
            if code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") {
                return StoreError::Unavailable(one_line(db.message()));
            }
            // Only the message: PostgreSQL's detail can quote row values.
            StoreError::Database(one_line(db.message()))
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".into())
        }
        sqlx::Error::PoolClosed => StoreError::Unavailable("the store was closed".into()),
        sqlx::Error::Io(io) => StoreError::Unavailable(one_line(&io.to_string())),
        sqlx::Error::Tls(tls) => StoreError::Unavailable(one_line(&tls.to_string())),
        sqlx::Error::RowNotFound => StoreError::NotFound { what },
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }) => StoreError::Corrupt(one_line(&e.to_string())),
        e => StoreError::Database(one_line(&e.to_string())),
    }
}

/// `lock_timeout` ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// The SQLSTATE `meetgate_refuse` raises (migration 2).
const REFUSED: &str = "MG001";

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
