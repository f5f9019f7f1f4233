//! What only the PostgreSQL backend promises: migration by several replicas at once, a refresh
//! lock that spans replicas and dies with its connection, and fast, secret-free connect errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use meetgate_store::testsuite::now;
use meetgate_store::*;
use meetgate_store_postgres::{PgStore, StoreOptions, drop_test_database, fresh_test_database};
use sqlx::Row;

const PATIENCE: Duration = Duration::from_secs(30);

async fn migrated(url: &str) -> PgStore {
    let store = PgStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A connected grant to lock, in a fresh tenant.
async fn connection_in(store: &PgStore) -> ConnectionId {
    let t = models::NewTenant {
        id: TenantId::new(),
        name: "t".into(),
        slug: format!("t-{}", uuid::Uuid::new_v4().simple()),
        settings: serde_json::json!({}),
        created_at: now(),
    };
    store.create_tenant(&t, Effects::none()).await.unwrap();
    let user = store
        .upsert_end_user(t.id, "u", None, None, now())
        .await
        .unwrap();
    let app = models::ZoomApp {
        id: ZoomAppId::new(),
        tenant_id: Some(t.id),
        name: "z".into(),
        app_type: models::AppType::UserManaged,
        client_id: "c".into(),
        client_secret: SealedValue(vec![1]),
        account_id: None,
        scopes: "s".into(),
        redirect_uri: "https://r.example.test".into(),
        webhook_secret: None,
        webhook_secret_next: None,
        auth_base_url: "https://zoom.us".into(),
        api_base_url: "https://api.zoom.us".into(),
        created_at: now(),
    };
    store.create_zoom_app(&app, Effects::none()).await.unwrap();
    let at = now();
    let grant = models::NewGrant {
        id: ConnectionId::new(),
        tenant_id: t.id,
        end_user_id: user.id,
        zoom_app_id: app.id,
        zoom_user_id: "zu".into(),
        zoom_account_id: "za".into(),
        zoom_email: None,
        scopes: "s".into(),
        api_url: "https://api.zoom.us".into(),
        access_token: SealedValue(vec![2]),
        access_expires_at: at,
        refresh_token: Some(SealedValue(vec![3])),
        next_refresh_at: None,
        now: at,
        connect_session: None,
    };
    store
        .save_grant(&grant, &[], Effects::none())
        .await
        .unwrap()
        .id
}

/// Backends holding the advisory lock of `cid`, seen from another session.
async fn lock_holders(observer: &PgStore, cid: ConnectionId) -> Vec<i32> {
    let (hi, lo) = cid.0.as_u64_pair();
    let key = hi ^ lo;
    sqlx::query(
        "SELECT pid FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND classid::bigint = $1 AND objid::bigint = $2",
    )
    .bind(i64::try_from(key >> 32).unwrap())
    .bind(i64::try_from(key & 0xffff_ffff).unwrap())
    .fetch_all(observer.pool_for_tests())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<i32, _>("pid"))
    .collect()
}

async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_apply_once() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(PgStore::connect(&url).await.unwrap());
    }
    let (a, b, c) = tokio::join!(
        stores[0].migrate(),
        stores[1].migrate(),
        stores[2].migrate()
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let rows = sqlx::query("SELECT version, count(*) AS n, bool_and(success) AS ok FROM _sqlx_migrations GROUP BY version")
        .fetch_all(stores[0].pool_for_tests())
        .await
        .unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert!(migrations >= 3);
    assert_eq!(rows.len(), migrations, "every migration applied");
    for row in &rows {
        assert_eq!(row.get::<i64, _>("n"), 1, "each migration applied once");
        assert!(row.get::<bool, _>("ok"));
    }
    // No connection kept the migrator's advisory lock.
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(stores[0].pool_for_tests())
    .await
    .unwrap();
    assert_eq!(held, 0);
    for s in &stores {
        s.close().await;
    }
    drop_test_database(&url).await;
}

/// Two stores with their own pools are two replicas: the lock excludes across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_lock_spans_replicas() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let a = migrated(&url).await;
    let b = PgStore::connect(&url).await.unwrap();
    let cid = connection_in(&a).await;
    let held = a.lock_for_refresh(cid).await.unwrap();
    assert_eq!(lock_holders(&b, cid).await.len(), 1);
    let acquired = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (b, acquired) = (b.clone(), acquired.clone());
        tokio::spawn(async move {
            let mut lock = b.lock_for_refresh(cid).await.unwrap();
            acquired.store(true, Ordering::SeqCst);
            let row = lock.reread().await.unwrap().unwrap();
            lock.mark_refresh_started(row.version, now(), time::OffsetDateTime::UNIX_EPOCH)
                .await
                .unwrap();
            lock.release().await.unwrap();
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!acquired.load(Ordering::SeqCst), "the other replica waits");
    held.release().await.unwrap();
    tokio::time::timeout(PATIENCE, waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(
        lock_holders(&a, cid).await.is_empty(),
        "released locks are gone"
    );
    a.close().await;
    b.close().await;
    drop_test_database(&url).await;
}

/// A replica whose database session dies (crash, network) loses the lock at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_lock_dies_with_its_connection() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let a = migrated(&url).await;
    let b = PgStore::connect(&url).await.unwrap();
    let cid = connection_in(&a).await;
    let mut held = a.lock_for_refresh(cid).await.unwrap();
    let pids = lock_holders(&b, cid).await;
    assert_eq!(pids.len(), 1);
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .fetch_one(b.pool_for_tests())
        .await
        .unwrap();
    assert!(killed);
    let lock = tokio::time::timeout(PATIENCE, b.lock_for_refresh(cid))
        .await
        .expect("the lock of a dead session is free")
        .unwrap();
    // The old holder's connection is gone: its writes fail instead of slipping through.
    assert!(
        held.mark_refresh_started(1, now(), time::OffsetDateTime::UNIX_EPOCH)
            .await
            .is_err()
    );
    assert!(held.release().await.is_err());
    lock.release().await.unwrap();
    // And the first store still works (its broken connection was discarded).
    assert!(eventually(async || a.lock_for_refresh(cid).await.is_ok_and(|_| true)).await);
    a.close().await;
    b.close().await;
    drop_test_database(&url).await;
}

/// A guard dropped without `release` closes its connection instead of pooling it with the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_lock_does_not_return_to_the_pool_locked() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let opts = StoreOptions {
        max_connections: 1,
        ..StoreOptions::default()
    };
    let a = PgStore::connect_with(&url, opts.clone()).await.unwrap();
    a.migrate().await.unwrap();
    let observer = PgStore::connect(&url).await.unwrap();
    let cid = connection_in(&a).await;
    let lock = a.lock_for_refresh(cid).await.unwrap();
    assert_eq!(lock_holders(&observer, cid).await.len(), 1);
    drop(lock);
    assert!(
        eventually(async || lock_holders(&observer, cid).await.is_empty()).await,
        "the server released the lock of the closed connection"
    );
    // With a single-connection pool, the next user gets a fresh, lock-free connection.
    a.ping().await.unwrap();
    let other = PgStore::connect(&url).await.unwrap();
    let again = tokio::time::timeout(PATIENCE, other.lock_for_refresh(cid))
        .await
        .unwrap()
        .unwrap();
    again.release().await.unwrap();
    for s in [&a, &observer, &other] {
        s.close().await;
    }
    drop_test_database(&url).await;
}

/// A holder that never lets go (its host died, and the server has not noticed yet) makes a
/// waiter fail after the configured wait, not hang; the lock's session asks the server to
/// notice a dead peer within about a minute, and the holder's own statements, and the pool's
/// next user, are not bound by the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_held_too_long_fails_the_waiter_after_the_wait() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let a = migrated(&url).await;
    let b = PgStore::connect_with(
        &url,
        StoreOptions {
            max_connections: 1,
            refresh_lock_wait: Duration::from_millis(300),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let cid = connection_in(&a).await;
    let held = a.lock_for_refresh(cid).await.unwrap();
    let started = Instant::now();
    let waited = tokio::time::timeout(PATIENCE, b.lock_for_refresh(cid))
        .await
        .expect("the wait is bounded");
    assert!(
        matches!(waited, Err(StoreError::LockTimeout { .. })),
        "{waited:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    held.release().await.unwrap();
    let lock = tokio::time::timeout(PATIENCE, b.lock_for_refresh(cid))
        .await
        .unwrap()
        .expect("a new session takes the freed lock");
    lock.release().await.unwrap();
    // The pool's one connection is the lock's, back in the pool: keepalives set, and no lock
    // timeout left for its next user.
    let (idle, count, lock_timeout): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_count'),
                current_setting('lock_timeout')",
    )
    .fetch_one(b.pool_for_tests())
    .await
    .unwrap();
    assert_eq!((idle.as_str(), count.as_str()), ("30", "3"));
    assert_eq!(lock_timeout, "0");
    a.close().await;
    b.close().await;
    drop_test_database(&url).await;
}

/// A waiter that gives up (timeout, cancelled request) must not end up holding the lock later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_waiter_leaves_no_lock_behind() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let a = migrated(&url).await;
    let b = PgStore::connect(&url).await.unwrap();
    let cid = connection_in(&a).await;
    let held = a.lock_for_refresh(cid).await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(200), b.lock_for_refresh(cid)).await;
    assert!(gave_up.is_err());
    held.release().await.unwrap();
    // The abandoned request may still get the lock on the server for a moment; its session is
    // closed, so the lock must end up free.
    assert!(eventually(async || lock_holders(&a, cid).await.is_empty()).await);
    let c = PgStore::connect(&url).await.unwrap();
    let lock = tokio::time::timeout(PATIENCE, c.lock_for_refresh(cid))
        .await
        .unwrap()
        .unwrap();
    lock.release().await.unwrap();
    for s in [&a, &b, &c] {
        s.close().await;
    }
    drop_test_database(&url).await;
}

#[tokio::test]
async fn malformed_urls_are_invalid() {
    for url in [
        "mysql://u:topsecret@localhost/db",
        "sqlite://x.db",
        "postgres://u:topsecret@localhost:notaport/db",
        "",
    ] {
        match PgStore::connect(url).await {
            Err(StoreError::InvalidUrl(msg)) => {
                assert!(!msg.contains("topsecret"), "{url}: {msg}");
                assert!(!msg.contains('\n') && !msg.is_empty(), "{url}: {msg:?}");
            }
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_server_fails_fast_without_the_password() {
    // Nothing listens on port 1.
    let started = Instant::now();
    match PgStore::connect("postgres://meetgate:topsecret@127.0.0.1:1/meetgate").await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(!msg.contains("topsecret"), "{msg}");
            assert!(!msg.contains('\n'), "{msg:?}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // A server that accepts and never answers: bounded by the connect timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let options = StoreOptions {
        connect_timeout: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let started = Instant::now();
    let result = PgStore::connect_with(
        &format!("postgres://u:topsecret@127.0.0.1:{port}/db"),
        options,
    )
    .await;
    match result {
        Err(StoreError::Unavailable(msg)) => assert!(!msg.contains("topsecret"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "connect must not hang"
    );
    keep.abort();
}

#[tokio::test]
async fn wrong_password_is_unavailable_and_not_echoed() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let mut bad = url::Url::parse(&url).unwrap();
    bad.set_password(Some("definitely-wrong-pw")).unwrap();
    match PgStore::connect(bad.as_str()).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(!msg.contains("definitely-wrong-pw"), "{msg}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    drop_test_database(&url).await;
}

#[tokio::test]
async fn fresh_databases_are_distinct_and_usable() {
    let Some(a) = fresh_test_database().await else {
        return;
    };
    let b = fresh_test_database().await.unwrap();
    assert_ne!(a, b);
    for url in [&a, &b] {
        let name = url::Url::parse(url)
            .unwrap()
            .path()
            .trim_start_matches('/')
            .to_owned();
        assert!(name.starts_with("meetgate_test_"), "{name}");
        let store = migrated(url).await;
        assert_eq!(store.backend(), "postgres");
        store.close().await;
        drop_test_database(url).await;
    }
    // Dropped: connecting now fails.
    assert!(matches!(
        PgStore::connect(&a).await,
        Err(StoreError::Unavailable(_))
    ));
}

fn tokens(at: meetgate_store::OffsetDateTime) -> models::RefreshedTokens {
    models::RefreshedTokens {
        access_token: SealedValue(vec![9]),
        access_expires_at: at,
        refresh_token: Some(SealedValue(vec![8])),
        scopes: None,
        api_url: None,
        next_refresh_at: None,
    }
}

/// Several replicas hammering one grant: every holder sees the version the previous one wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_lock_serializes_across_replicas() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let a = migrated(&url).await;
    let b = PgStore::connect(&url).await.unwrap();
    let cid = connection_in(&a).await;
    let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let inside = inside.clone();
        tasks.push(tokio::spawn(async move {
            let mut lock = store.lock_for_refresh(cid).await.unwrap();
            assert_eq!(
                inside.fetch_add(1, Ordering::SeqCst),
                0,
                "one holder across replicas"
            );
            let row = lock.reread().await.unwrap().unwrap();
            lock.mark_refresh_started(row.version, now(), time::OffsetDateTime::UNIX_EPOCH)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            lock.store_refreshed(row.version, &tokens(now()), now(), Effects::none())
                .await
                .unwrap();
            inside.fetch_sub(1, Ordering::SeqCst);
            lock.release().await.unwrap();
        }));
    }
    for t in tasks {
        tokio::time::timeout(PATIENCE, t).await.unwrap().unwrap();
    }
    let mut lock = a.lock_for_refresh(cid).await.unwrap();
    assert_eq!(lock.reread().await.unwrap().unwrap().version, 21);
    lock.release().await.unwrap();
    a.close().await;
    b.close().await;
    drop_test_database(&url).await;
}

/// Lock holders that make other store calls cannot starve the pool: refresh locks use at most
/// three quarters of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lock_holders_leave_connections_for_other_calls() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let options = StoreOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        ..StoreOptions::default()
    };
    let store = PgStore::connect_with(&url, options).await.unwrap();
    store.migrate().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(connection_in(&store).await);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(ids.len()));
    let mut tasks = Vec::new();
    for cid in ids {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut lock = store.lock_for_refresh(cid).await.unwrap();
            let row = lock.reread().await.unwrap().unwrap();
            // A call outside the lock while holding it (e.g. reading the Zoom app).
            tokio::time::sleep(Duration::from_millis(20)).await;
            store.get_zoom_app(row.zoom_app_id).await.unwrap().unwrap();
            lock.store_refreshed(row.version, &tokens(now()), now(), Effects::none())
                .await
                .unwrap();
            lock.release().await.unwrap();
        }));
    }
    for t in tasks {
        tokio::time::timeout(PATIENCE, t).await.unwrap().unwrap();
    }
    store.close().await;
    drop_test_database(&url).await;
}

/// A managed database asks for TLS: with `sslmode=verify-full` and the server's CA in
/// `sslrootcert`, the store connects encrypted and works; without a root that signed the server's
/// certificate it refuses to connect, and says why. (The cluster of `scripts/start-postgres.sh`,
/// which CI runs, has TLS from a private CA; the test reads the chain over SQL.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_verified_tls_and_refuses_an_unknown_server() {
    let Some(url) = fresh_test_database().await else {
        return;
    };
    let plain = PgStore::connect(&url).await.unwrap();
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(plain.pool_for_tests())
        .await
        .unwrap();
    let chain: Option<String> = if ssl == "on" {
        sqlx::query_scalar("SELECT pg_read_file(current_setting('ssl_cert_file'))")
            .fetch_one(plain.pool_for_tests())
            .await
            .ok()
    } else {
        None
    };
    plain.close().await;
    let Some(chain) = chain else {
        drop_test_database(&url).await;
        assert!(
            std::env::var("CI").unwrap_or_default().is_empty(),
            "CI's PostgreSQL (scripts/start-postgres.sh) must have TLS on and its chain readable"
        );
        eprintln!("skipping the TLS test: this PostgreSQL server has no TLS (ssl = {ssl})");
        return;
    };
    let dir = std::env::temp_dir().join(format!("meetgate-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.pem");
    std::fs::write(&root, chain).unwrap();
    let with = |params: &[(&str, &str)]| {
        let mut u = url::Url::parse(&url).unwrap();
        u.query_pairs_mut().clear().extend_pairs(params);
        u.to_string()
    };

    let verified = with(&[
        ("sslmode", "verify-full"),
        ("sslrootcert", root.to_str().unwrap()),
    ]);
    let store = migrated(&verified).await;
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool_for_tests())
            .await
            .unwrap();
    assert!(encrypted, "the store's connection is encrypted");
    let tenant = models::NewTenant {
        id: TenantId::new(),
        name: "Over TLS".into(),
        slug: "over-tls".into(),
        settings: serde_json::json!({}),
        created_at: now(),
    };
    store.create_tenant(&tenant, Effects::none()).await.unwrap();
    let read = store.get_tenant(tenant.id).await.unwrap();
    assert_eq!(read.map(|t| t.name).as_deref(), Some("Over TLS"));
    store.close().await;

    // The public roots did not sign the test CA: the server is not who it says.
    let err = PgStore::connect(&with(&[("sslmode", "verify-full")]))
        .await
        .map(|_| ())
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(message.contains("certificate"), "says why: {message}");
    assert!(
        message.contains("sslrootcert="),
        "says what to change: {message}"
    );

    let _ = std::fs::remove_dir_all(&dir);
    drop_test_database(&url).await;
}
