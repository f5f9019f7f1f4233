/// What can go wrong in a store call. Backends map their driver errors onto these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (for example a second member with the same email).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// A compare-and-swap lost: the row changed since it was read.
    #[error("{what} was changed concurrently")]
    VersionConflict { what: &'static str },
    /// A row the change depends on is no longer as the caller found it (the connection was
    /// revoked, the idempotency key was taken over by another request): nothing was written.
    #[error("{what} changed while the request ran")]
    Precondition { what: &'static str },
    /// The row referred to does not exist (in this tenant).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A lock held by another session was not released within the wait allowed for it: its
    /// holder is slow, or gone without the database noticing yet. Nothing was written.
    #[error("the {what} is held elsewhere for longer than its holder should need")]
    LockTimeout { what: &'static str },
    /// The database could not be reached or refused the connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be read back (corrupt or from an unknown schema).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
    /// The database URL is not one this build understands.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
