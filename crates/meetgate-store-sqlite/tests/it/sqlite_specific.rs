//! What only the SQLite backend promises: the file, its settings, URLs, migration from several
//! processes at once, and many writers without `SQLITE_BUSY`.

use std::sync::Arc;

use meetgate_store::models::*;
use meetgate_store::testsuite::now;
use meetgate_store::*;
use meetgate_store_sqlite::{SqliteStore, StoreOptions};

use crate::TempDir;

#[tokio::test]
async fn creates_file_and_parent_dirs_in_wal_mode() {
    let dir = TempDir::fresh();
    let url = dir.url("nested/deeper/meetgate.db");
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert!(dir.0.join("nested/deeper/meetgate.db").exists());

    let settings = store
        .on_writer_for_tests(|c| {
            let get = |pragma: &str| -> String {
                c.query_row(&format!("PRAGMA {pragma}"), [], |r| {
                    r.get::<_, rusqlite::types::Value>(0)
                })
                .map(|v| match v {
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    other => format!("{other:?}"),
                })
                .unwrap()
            };
            [
                get("journal_mode"),
                get("synchronous"),
                get("foreign_keys"),
                get("busy_timeout"),
            ]
        })
        .await
        .unwrap();
    // synchronous = NORMAL is 1.
    assert_eq!(settings, ["wal", "1", "1", "10000"]);
    assert!(dir.0.join("nested/deeper/meetgate.db-wal").exists());
    store.close().await;

    // Reopening finds the data.
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.list_tenants().await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn relative_paths_are_relative_to_the_working_directory() {
    let name = format!("meetgate-sqlite-rel-{}", uuid::Uuid::new_v4().simple());
    let _cleanup = TempDir(std::env::current_dir().unwrap().join(&name));
    let store = SqliteStore::connect(&format!("sqlite://{name}/sub/x.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert!(std::path::Path::new(&name).join("sub/x.db").exists());
    store.close().await;
}

#[tokio::test]
async fn in_memory_database_works() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let t = NewTenant {
        id: TenantId::new(),
        name: "m".into(),
        slug: "m".into(),
        settings: serde_json::json!({}),
        created_at: now(),
    };
    store.create_tenant(&t, Effects::none()).await.unwrap();
    assert_eq!(store.get_tenant(t.id).await.unwrap().unwrap().slug, "m");
    let (busy, idle) = store.pool_usage();
    assert_eq!(busy + idle, 1, "one connection for reads and writes");
    store.close().await;
}

#[tokio::test]
async fn malformed_urls_are_invalid() {
    for url in [
        "postgres://localhost/db",
        "file:/tmp/x.db",
        "",
        "sqlite://x.db?mode=sideways",
    ] {
        match SqliteStore::connect(url).await {
            Err(StoreError::InvalidUrl(msg)) => {
                assert!(!msg.is_empty() && !msg.contains('\n'), "{url}: {msg:?}")
            }
            other => panic!("{url}: expected InvalidUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unopenable_paths_are_unavailable() {
    match SqliteStore::connect("sqlite:///proc/meetgate-cannot-exist/x.db").await {
        Err(StoreError::Unavailable(msg)) => assert!(!msg.contains('\n'), "{msg:?}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_apply_once() {
    let dir = TempDir::fresh();
    let url = dir.url("m.db");
    // Separate stores have separate pools, like separate processes.
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(SqliteStore::connect(&url).await.unwrap());
    }
    let results = futures_join(stores.iter().map(|s| s.migrate())).await;
    for r in results {
        r.unwrap();
    }
    // And three at once on one store.
    let one = &stores[0];
    let again = futures_join([one.migrate(), one.migrate(), one.migrate()]).await;
    for r in again {
        r.unwrap();
    }
    let rows: Vec<(i64, i64)> = one
        .on_writer_for_tests(|c| {
            let mut st = c
                .prepare("SELECT version, count(*) FROM schema_migrations GROUP BY version")
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)],
        "each migration recorded once"
    );
    for s in &stores {
        s.close().await;
    }
}

async fn futures_join<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    // Plain join without an extra dependency: poll them all on one task.
    let futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut futures: Vec<Option<_>> = futures.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

/// Many writers at once, through one store and through two stores on one file (two pools
/// contending for SQLite's lock, as two processes would): no `SQLITE_BUSY`, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_see_busy() {
    let dir = TempDir::fresh();
    let url = dir.url("busy.db");
    let first = Arc::new(SqliteStore::connect(&url).await.unwrap());
    first.migrate().await.unwrap();
    let second = Arc::new(
        SqliteStore::connect_with(
            &url,
            StoreOptions {
                max_connections: 2,
                ..StoreOptions::default()
            },
        )
        .await
        .unwrap(),
    );
    let tenant = NewTenant {
        id: TenantId::new(),
        name: "busy".into(),
        slug: "busy".into(),
        settings: serde_json::json!({}),
        created_at: now(),
    };
    first.create_tenant(&tenant, Effects::none()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store: Arc<dyn Store> = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let t = tenant.id;
        tasks.push(tokio::spawn(async move {
            let user = store
                .upsert_end_user(t, &format!("u{i}"), None, None, now())
                .await
                .unwrap();
            let audit = NewAuditEvent {
                id: AuditEventId::new(),
                tenant_id: Some(t),
                at: now(),
                actor_kind: "system".into(),
                actor_id: None,
                action: "end_user.seen".into(),
                object_kind: "end_user".into(),
                object_id: Some(user.id.to_string()),
                outcome: "success".into(),
                request_id: None,
                details: serde_json::json!({}),
            };
            store
                .append_audit(Effects::none().audit(audit))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let q = AuditQuery {
        tenant_id: Some(tenant.id),
        limit: 1000,
        ..AuditQuery::default()
    };
    assert_eq!(first.list_audit(&q).await.unwrap().len(), 60);
    first.close().await;
    second.close().await;
}

/// Clones share the refresh locks (the service hands clones to its tasks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_share_refresh_locks() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let clone = store.clone();
    let id = ConnectionId::new();
    let held = store.lock_for_refresh(id).await.unwrap();
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        clone.lock_for_refresh(id),
    )
    .await;
    assert!(waiting.is_err(), "the clone waits for the original's lock");
    held.release().await.unwrap();
    let got = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        clone.lock_for_refresh(id),
    )
    .await;
    got.unwrap().unwrap().release().await.unwrap();
}

fn tenant_named(slug: &str) -> NewTenant {
    NewTenant {
        id: TenantId::new(),
        name: slug.into(),
        slug: slug.into(),
        settings: serde_json::json!({}),
        created_at: now(),
    }
}

/// No job may leave the one writer connection inside a transaction for the next to inherit
/// (with a pool, a caller dropped between BEGIN and the transaction guard did exactly that, and
/// every later write failed).
#[tokio::test]
async fn a_writer_left_inside_a_transaction_is_rolled_back() {
    let dir = TempDir::fresh();
    let store = SqliteStore::connect(&dir.url("cancel.db")).await.unwrap();
    store.migrate().await.unwrap();
    let leftover = tenant_named("never-committed");
    let sql = format!(
        "BEGIN IMMEDIATE; INSERT INTO tenants (id, name, slug, settings, created_at) \
         VALUES ('{}', 'x', 'never-committed', '{{}}', 0)",
        leftover.id
    );
    store
        .on_writer_for_tests(move |c| c.execute_batch(&sql).unwrap())
        .await
        .unwrap();
    let tenant = tenant_named("after-cancel");
    store
        .create_tenant(&tenant, Effects::none())
        .await
        .expect("the store writes again");
    assert_eq!(
        store.get_tenant(tenant.id).await.unwrap().map(|t| t.slug),
        Some("after-cancel".to_owned())
    );
    assert!(store.get_tenant(leftover.id).await.unwrap().is_none());
}

/// The same, by really cancelling writes at random points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_writes_never_wedge_the_writer() {
    let dir = TempDir::fresh();
    let store = Arc::new(SqliteStore::connect(&dir.url("cancel2.db")).await.unwrap());
    store.migrate().await.unwrap();
    for i in 0..200u64 {
        let tenant = tenant_named(&format!("t{i}"));
        let budget = std::time::Duration::from_micros(20 + (i * 37) % 900);
        let _ = tokio::time::timeout(budget, store.create_tenant(&tenant, Effects::none())).await;
    }
    let tenant = tenant_named("last");
    store
        .create_tenant(&tenant, Effects::none())
        .await
        .expect("the store writes again after 200 cancelled writes");
}

/// Writes queued together commit together (one transaction): a write that fails in such a group
/// is undone alone (the group is rolled back and run again one write at a time), and every other
/// write of the group is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_write_in_a_group_commit_undoes_only_itself() {
    let dir = TempDir::fresh();
    let store = Arc::new(SqliteStore::connect(&dir.url("group.db")).await.unwrap());
    store.migrate().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let store = store.clone();
        // Every fourth tenant reuses the slug of the one before: one of the two must fail.
        let slug = if i % 4 == 3 {
            format!("t{}", i - 1)
        } else {
            format!("t{i}")
        };
        tasks.push(tokio::spawn(async move {
            let tenant = tenant_named(&slug);
            let result = store.create_tenant(&tenant, Effects::none()).await;
            (tenant.id, result)
        }));
    }
    let (mut kept, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            (id, Ok(_)) => kept.push(id),
            (_, Err(StoreError::Conflict { .. })) => refused += 1,
            (_, Err(e)) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((kept.len(), refused), (150, 50));
    for id in kept {
        assert!(
            store.get_tenant(id).await.unwrap().is_some(),
            "{id} was kept"
        );
    }
    assert_eq!(store.list_tenants().await.unwrap().len(), 150);
}

/// A database the first release created, with a meeting, a pending delivery and a completed
/// idempotency record, keeps them through the later migrations (which rebuild those tables), and
/// its constraints hold.
#[tokio::test]
async fn later_migrations_keep_meetings_deliveries_and_idempotency_records() {
    use meetgate_store::testsuite::fixtures;
    use sha2::Digest as _;

    let dir = TempDir::fresh();
    std::fs::create_dir_all(&dir.0).unwrap();
    let first = include_str!("../../migrations/0001_initial.sql");
    {
        let c = rusqlite::Connection::open(dir.0.join("up.db")).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        c.execute_batch(first).unwrap();
        c.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL,
                checksum BLOB NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        )
        .unwrap();
        c.execute(
            "INSERT INTO schema_migrations (version, description, checksum) VALUES (1, 'initial', ?1)",
            [sha2::Sha256::digest(first.as_bytes()).to_vec()],
        )
        .unwrap();
    }
    let url = dir.url("up.db");
    let first_release = Arc::new(SqliteStore::connect(&url).await.unwrap());
    let store: Arc<dyn Store> = first_release.clone();
    let c = fixtures::connected(&store).await;
    // The endpoint as the first release wrote it (today's also has a previous secret's columns).
    let endpoint = fixtures::endpoint(c.tenant.id, &[]);
    let row = (
        endpoint.id.to_string(),
        c.tenant.id.0.to_string(),
        endpoint.url.clone(),
        endpoint.secret.0.clone(),
    );
    first_release
        .on_writer_for_tests(move |w| {
            w.execute(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, created_at)
                 VALUES (?1, ?2, ?3, ?4, '[]', 0)",
                rusqlite::params![row.0, row.1, row.2, row.3],
            )
        })
        .await
        .unwrap()
        .unwrap();
    let meeting = fixtures::meeting_for(&c, None, None);
    let event = fixtures::event(c.tenant.id, "meeting.created");
    store
        .insert_meeting(&meeting, Effects::none().event(event))
        .await
        .unwrap();
    // The completed record as the first release wrote it (today's claims also name a holder,
    // a column the first release does not have).
    let micros = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1000) as i64;
    let (now, expires) = (
        micros(fixtures::now()),
        micros(fixtures::now() + time::Duration::hours(24)),
    );
    let (tenant, resource) = (c.tenant.id.0.to_string(), meeting.id.to_string());
    first_release
        .on_writer_for_tests(move |w| {
            w.execute(
                "INSERT INTO idempotency_records (id, tenant_id, key, request_hash, state,
                    response_status, response_body, resource_id, created_at, locked_at, expires_at)
                 VALUES (?1, ?2, 'key-1', X'68', 'completed', 201, X'00', ?3, ?4, ?4, ?5)",
                rusqlite::params![
                    uuid::Uuid::now_v7().to_string(),
                    tenant,
                    resource,
                    now,
                    expires
                ],
            )
        })
        .await
        .unwrap()
        .unwrap();
    store.close().await;

    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let kept = store.get_meeting(c.tenant.id, meeting.id).await.unwrap();
    assert_eq!(
        kept.map(|m| m.zoom_meeting_id),
        Some(meeting.zoom_meeting_id)
    );
    let deliveries = store
        .list_deliveries(c.tenant.id, None, None, ListOrder::OldestFirst, 10)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1, "the pending delivery survived");
    let kept = store
        .get_webhook_endpoint(c.tenant.id, endpoint.id)
        .await
        .unwrap()
        .expect("the endpoint survived");
    assert_eq!(kept.secret, endpoint.secret);
    assert!(kept.previous_secret.is_none() && kept.previous_secret_expires_at.is_none());
    assert_eq!(store.stats().await.unwrap().outbox_pending, 1);
    let replayed = store
        .claim_idempotency_key(&fixtures::claim(
            c.tenant.id,
            "key-1",
            b"h",
            fixtures::now(),
        ))
        .await
        .unwrap();
    assert!(
        matches!(&replayed, IdempotencyClaim::Completed(r) if r.resource_id == Some(meeting.id.to_string())),
        "the completed record survived: {replayed:?}"
    );
    let refused = store
        .on_writer_for_tests(move |w| {
            w.execute(
                "UPDATE meetings SET kind = 'webinar' WHERE id = ?1",
                [meeting.id.0.to_string()],
            )
        })
        .await
        .unwrap();
    assert!(
        refused.is_err(),
        "the rewritten CHECK still refuses an unknown kind"
    );
    let (tenant, id) = (c.tenant.id.0.to_string(), meeting.id.0.to_string());
    let (duplicate, indexes, plan) = store
        .on_writer_for_tests(move |w| {
            let duplicate = w.execute(
                "INSERT INTO meetings SELECT * FROM meetings WHERE tenant_id = ?1 AND id = ?2",
                [&tenant, &id],
            );
            let indexes: Vec<String> = w
                .prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'index'
                     AND tbl_name IN ('meetings', 'idempotency_records', 'outbox_events')
                     ORDER BY name",
                )
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan: Vec<String> = w
                .prepare(
                    "EXPLAIN QUERY PLAN SELECT * FROM meetings WHERE tenant_id = ?1 AND id = ?2",
                )
                .unwrap()
                .query_map(["t", "m"], |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (duplicate, indexes, plan)
        })
        .await
        .unwrap();
    assert!(duplicate.is_err(), "(tenant_id, id) stays unique");
    assert!(
        plan.iter()
            .any(|p| p.contains("USING INDEX meetings_tenant")),
        "a meeting is found through its tenant's index: {plan:?}"
    );
    // One key index each: no hidden index on `id` beside the tenant-scoped one (third migration;
    // outbox_events' one left is its UNIQUE (tenant_id, id)).
    assert_eq!(
        indexes,
        [
            "idempotency_records_expiry",
            "meetings_connection",
            "meetings_end_user",
            "meetings_tenant",
            "meetings_zoom_id",
            "sqlite_autoindex_idempotency_records_1",
            "sqlite_autoindex_outbox_events_1",
        ]
    );
    store.close().await;
}

/// Inserting into the tables every create writes builds no temporary b-tree: SQLite evaluates a
/// CHECK's `IN` list of three or more constants by building one per statement.
#[tokio::test]
async fn hot_inserts_build_no_temporary_tables() {
    let dir = TempDir::fresh();
    let store = SqliteStore::connect(&dir.url("plan.db")).await.unwrap();
    store.migrate().await.unwrap();
    let plans = store
        .on_writer_for_tests(|c| {
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let mut ephemeral = Vec::new();
            for table in tables {
                let opcodes: Vec<String> = c
                    .prepare(&format!("EXPLAIN INSERT INTO {table} DEFAULT VALUES"))
                    .unwrap()
                    .query_map([], |r| r.get(1))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                if opcodes.iter().any(|o| o == "OpenEphemeral") {
                    ephemeral.push(table);
                }
            }
            ephemeral
        })
        .await
        .unwrap();
    // These two are written on connect and by an administrator, not per request.
    assert_eq!(plans, ["zoom_apps", "connections"]);
    store.close().await;
}
