//! Fresh PostgreSQL databases for tests, on the server named by `MEETGATE_TEST_POSTGRES_URL`.

use std::io::Write;
use std::sync::Once;
use std::time::Duration;

use sqlx::{ConnectOptions, Connection, Executor};

use crate::connect::redact;

const ADMIN_URL_VAR: &str = "MEETGATE_TEST_POSTGRES_URL";
const PREFIX: &str = "meetgate_test_";

/// What to do given the admin URL and the `CI` variable.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Use(String),
    Skip,
    Fail(String),
}

fn plan(admin_url: Option<String>, ci: Option<String>) -> Plan {
    match admin_url.filter(|u| !u.trim().is_empty()) {
        Some(url) => Plan::Use(url),
        None if ci.is_some_and(|c| !c.is_empty()) => Plan::Fail(format!(
            "{ADMIN_URL_VAR} is not set, but CI is: CI must run the PostgreSQL tests. Set it to \
             an admin URL such as postgres://meetgate:meetgate@127.0.0.1:55432/postgres (`scripts/start-postgres.sh` starts that one)"
        )),
        None => Plan::Skip,
    }
}

/// Creates a new, empty database named `meetgate_test_<random>` on the server named by
/// `MEETGATE_TEST_POSTGRES_URL` (a URL of a role that may create databases) and returns its URL.
///
/// Without the variable it returns `None` (tests should return early) after noting once on
/// stderr that PostgreSQL tests are skipped, unless `CI` is set: then it panics, because CI must
/// never skip them silently. Panics when the database cannot be created.
///
/// Every call opens its own short-lived admin connection, so it works from any Tokio runtime
/// (each `#[tokio::test]` has its own).
pub async fn fresh_test_database() -> Option<String> {
    static SKIP_NOTICE: Once = Once::new();
    let admin = match plan(std::env::var(ADMIN_URL_VAR).ok(), std::env::var("CI").ok()) {
        Plan::Use(url) => url,
        Plan::Skip => {
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests, and
            // this notice is meant to be seen.
            SKIP_NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipping PostgreSQL tests: {ADMIN_URL_VAR} is not set"
                );
            });
            return None;
        }
        Plan::Fail(message) => panic!("{message}"),
    };
    let mut url = url::Url::parse(&admin)
        .unwrap_or_else(|e| panic!("{ADMIN_URL_VAR} is not a valid URL: {e}"));
    let name = format!("{PREFIX}{}", uuid::Uuid::new_v4().simple());
    let statement = format!("CREATE DATABASE \"{name}\"");
    let mut attempt = 0;
    loop {
        attempt += 1;
        match admin_execute(&admin, &statement).await {
            Ok(()) => break,
            // 55006: another CREATE DATABASE is copying the template right now; wait a little.
            Err(e) if attempt < 20 && is_template_busy(&e) => {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => panic!(
                "cannot create test database on {}: {}",
                redact(&admin, &admin),
                redact(&e.to_string(), &admin)
            ),
        }
    }
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

/// Drops a database made by [`fresh_test_database`], ending its sessions. Only names with the
/// `meetgate_test_` prefix are dropped; call it only when nothing uses the database any more.
/// Errors are reported on stderr, not raised: a left-over database harms no test.
pub async fn drop_test_database(url: &str) {
    let Some(admin) = std::env::var(ADMIN_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        return;
    };
    let Some(name) = url::Url::parse(url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .filter(|n| {
            n.starts_with(PREFIX) && n[PREFIX.len()..].chars().all(|c| c.is_ascii_alphanumeric())
        })
    else {
        return;
    };
    let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    if let Err(e) = admin_execute(&admin, &statement).await {
        let _ = writeln!(
            std::io::stderr(),
            "could not drop test database {name}: {}",
            redact(&e.to_string(), &admin)
        );
    }
}

/// A connection of its own to the test database at `url`, outside any store's pool.
async fn test_connection(url: &str) -> sqlx::PgConnection {
    let options: sqlx::postgres::PgConnectOptions = url
        .parse()
        .unwrap_or_else(|e| panic!("not a PostgreSQL URL: {e}"));
    options
        .disable_statement_logging()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"))
}

/// Runs `sql` on the database at `url`, for tests that break the schema on purpose.
pub async fn execute_sql(url: &str, sql: &str) {
    let mut conn = test_connection(url).await;
    conn.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// Ends every session of the database at `url` that holds an advisory lock, as a server restart
/// or a network failure would: for tests of a refresh whose lock dies mid-call. Returns how many
/// sessions it ended.
pub async fn end_sessions_holding_advisory_locks(url: &str) -> u64 {
    let mut conn = test_connection(url).await;
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
            SELECT pg_terminate_backend(pid) FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ) AS ended",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("cannot end the sessions: {e}"));
    let _ = conn.close().await;
    u64::try_from(ended).unwrap_or_default()
}

async fn admin_execute(admin: &str, statement: &str) -> Result<(), sqlx::Error> {
    let options: sqlx::postgres::PgConnectOptions = admin.parse()?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(10),
        options.disable_statement_logging().connect(),
    )
    .await
    .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let result = conn.execute(statement).await.map(|_| ());
    let _ = conn.close().await;
    result
}

fn is_template_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55006")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_uses_skips_or_fails() {
        assert_eq!(
            plan(Some("postgres://x".into()), Some("true".into())),
            Plan::Use("postgres://x".into())
        );
        assert_eq!(
            plan(Some("postgres://x".into()), None),
            Plan::Use("postgres://x".into())
        );
        assert_eq!(plan(None, None), Plan::Skip);
        assert_eq!(plan(None, Some(String::new())), Plan::Skip);
        assert_eq!(plan(Some("  ".into()), None), Plan::Skip);
        assert!(
            matches!(plan(None, Some("true".into())), Plan::Fail(m) if m.contains(ADMIN_URL_VAR))
        );
        assert!(matches!(
            plan(Some(String::new()), Some("1".into())),
            Plan::Fail(_)
        ));
    }
}
