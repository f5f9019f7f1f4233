//! Opening the pool and migrating the database.

use std::str::FromStr;
use std::time::Duration;

use meetgate_store::{StoreError, StoreResult};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::errors::{map_sqlx, one_line};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Pool and timeout settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool. A refresh holds one for the whole Zoom call (its advisory lock
    /// lives on it), so size this for concurrent refreshes plus request traffic.
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing with `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long `connect` may take before failing with `Unavailable`.
    pub connect_timeout: Duration,
    /// Refresh locks this process holds at once; more lockers wait their turn. Each lock holds a
    /// pooled connection, so this is capped at three quarters of `max_connections`: the other
    /// quarter stays free for other calls, even those a lock holder makes.
    pub max_refresh_locks: u32,
    /// How long taking a refresh lock waits for its holder elsewhere before failing with
    /// `LockTimeout`: longer than any holder works (a refresh is one Zoom call, a disconnect
    /// two), so that only a holder whose host died, and whose session the server has not yet
    /// closed, makes a request wait this long.
    pub refresh_lock_wait: Duration,
}

impl StoreOptions {
    pub(crate) fn refresh_lock_slots(&self) -> usize {
        let pool = self.max_connections.max(1);
        let cap = pool - pool / 4;
        usize::try_from(self.max_refresh_locks.min(cap).max(1)).unwrap_or(1)
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_refresh_locks: 12,
            refresh_lock_wait: Duration::from_secs(60),
        }
    }
}

pub(crate) async fn open(url: &str, options: &StoreOptions) -> StoreResult<PgPool> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::InvalidUrl(
            "expected a postgres:// or postgresql:// URL".into(),
        ));
    }
    check_tls_files(url)?;
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(redact(&one_line(&e.to_string()), url)))?
        .application_name("meetgate")
        .disable_statement_logging();

    // One direct connection first: it fails fast and says why (refused, authentication, no such
    // database), where the pool would retry until its timeout and only report that.
    let probe = tokio::time::timeout(options.connect_timeout, connect.connect())
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "no answer from the PostgreSQL server within {:?}",
                options.connect_timeout
            ))
        })?
        .map_err(|e| connect_error(e, url))?;
    let _ = probe.close().await;

    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        // A dead connection fails its statement with `Unavailable` and is discarded; pinging
        // before every acquire would double the round trips of every call.
        .test_before_acquire(false)
        // sqlx's `begin` is not cancel-safe: a caller dropped between BEGIN and the transaction
        // guard returns its connection still inside a transaction. Such a connection is closed
        // (the server rolls back) instead of poisoning every later `begin` on it.
        .before_acquire(|conn, _| {
            let clean = !sqlx::Connection::is_in_transaction(conn);
            if !clean {
                tracing::warn!("discarding a connection left inside a transaction");
            }
            Box::pin(async move { Ok(clean) })
        })
        .connect_lazy_with(connect))
}

fn connect_error(e: sqlx::Error, url: &str) -> StoreError {
    match e {
        sqlx::Error::Configuration(c) => {
            StoreError::InvalidUrl(redact(&one_line(&c.to_string()), url))
        }
        e => match map_sqlx(e, "database") {
            StoreError::Unavailable(m) | StoreError::Database(m) | StoreError::Corrupt(m) => {
                let m = redact(&m, url);
                StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL: {m}{}",
                    tls_hint(&m)
                ))
            }
            other => other,
        },
    }
}

/// rustls names what failed; this says what to change where its words do not.
fn tls_hint(message: &str) -> &'static str {
    if message.contains("UnknownIssuer") {
        " (no root that meetgate trusts signed the server's certificate: give the certificate of \
         the CA that did in the URL's sslrootcert=)"
    } else {
        ""
    }
}

/// The files that the URL's TLS parameters name must be readable: sqlx would only say "No such
/// file or directory", not which file or which parameter.
fn check_tls_files(url: &str) -> StoreResult<()> {
    let Some((_, query)) = url.split_once('?') else {
        return Ok(());
    };
    for pair in query.split(['&', '#']) {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if !matches!(name, "sslrootcert" | "sslcert" | "sslkey") {
            continue;
        }
        let path = percent_decode(value);
        // sqlx also takes the PEM itself in place of a path.
        if path.starts_with("-----BEGIN") {
            continue;
        }
        if let Err(e) = std::fs::File::open(&path) {
            return Err(StoreError::InvalidUrl(format!(
                "{name}={path}: cannot read the file: {e}"
            )));
        }
    }
    Ok(())
}

/// Removes the URL's password (in the user info or a `password=` parameter, as written and
/// percent-decoded) from a message.
pub(crate) fn redact(message: &str, url: &str) -> String {
    let mut out = message.to_owned();
    for password in passwords_in(url) {
        for form in [percent_decode(&password), password] {
            if !form.is_empty() {
                out = out.replace(&form, "***");
            }
        }
    }
    out
}

fn passwords_in(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Some((_, rest)) = url.split_once("://") else {
        return found;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        found.push(password.to_owned());
    }
    if let Some((_, query)) = rest.split_once('?') {
        for pair in query.split(['&', '#']) {
            if let Some(password) = pair.strip_prefix("password=") {
                found.push(password.to_owned());
            }
        }
    }
    found.retain(|p| !p.is_empty());
    found
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs sqlx's migrator, which holds a PostgreSQL advisory lock (keyed by the database name)
/// while it checks and applies, so concurrent starts migrate exactly once.
pub(crate) async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool.acquire().await.map_err(|e| map_sqlx(e, "migration"))?;
    // `run_direct` takes the connection itself; `run` goes through `Acquire`, whose lifetimes
    // defeat the `Send` check of the boxed trait future.
    match MIGRATOR.run_direct(&mut *conn).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // The migrator does not unlock on failure; a pooled connection must not keep the
            // lock, so this one is closed instead of returned.
            drop(conn.detach());
            Err(match e {
                MigrateError::Execute(inner) => match map_sqlx(inner, "migration") {
                    e @ StoreError::Unavailable(_) => e,
                    other => StoreError::Migration(other.to_string()),
                },
                other => StoreError::Migration(one_line(&other.to_string())),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_plain_and_encoded_passwords() {
        let url = "postgres://meetgate:s3cr%40t@db.example.test:5432/meetgate";
        assert_eq!(passwords_in(url), vec!["s3cr%40t".to_owned()]);
        assert_eq!(redact("bad s3cr%40t and s3cr@t", url), "bad *** and ***");
        assert_eq!(redact("nothing here", "postgres://u@h/db"), "nothing here");
        assert!(passwords_in("postgres://u:@h/db").is_empty());
        let query = "postgres://u@h/db?sslmode=disable&password=hunter2";
        assert_eq!(redact("was hunter2", query), "was ***");
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn tls_files_that_cannot_be_read_are_named() {
        let err =
            check_tls_files("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fno%2Fca.pem")
                .unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(_)));
        assert_eq!(
            err.to_string(),
            "invalid database URL: sslrootcert=/no/ca.pem: cannot read the file: No such file or \
             directory (os error 2)"
        );
        let readable = std::env::current_exe().unwrap();
        let url = format!("postgres://u@h/db?sslkey={}", readable.display());
        assert!(check_tls_files(&url).is_ok());
        assert!(check_tls_files("postgres://u@h/db?sslrootcert=-----BEGIN%20CERT").is_ok());
        assert!(check_tls_files("postgres://u@h/db?sslmode=require").is_ok());
        assert_eq!(tls_hint("invalid peer certificate: BadSignature"), "");
        assert!(tls_hint("invalid peer certificate: UnknownIssuer").contains("sslrootcert="));
        assert_eq!(percent_decode("%e2%82%ac"), "\u{20ac}");
    }
}
