//! Several replicas on one PostgreSQL database, started at the same moment on an empty database:
//! all come up, and the schema is migrated exactly once.

use std::process::Stdio;

use crate::{free_port, meetgate, temp_dir, wait_ready};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_start_at_once_on_an_empty_database() {
    let Some(url) = meetgate_store_postgres::test_support::fresh_test_database().await else {
        return;
    };
    // Replicas share the database and therefore the vault's key; each has its own data dir.
    let key = meetgate()
        .args(["keys", "generate", "--id", "k2026"])
        .output()
        .unwrap();
    assert!(key.status.success());
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let (dir, port) = (temp_dir(), free_port());
        let child = meetgate()
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "--database-url",
                &url,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("MEETGATE_VAULT_KEYS", &key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        replicas.push((child, port, dir));
    }
    for (child, port, _) in &mut replicas {
        wait_ready(*port, child);
    }
    for (child, _, dir) in &mut replicas {
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(dir);
    }
    let store = meetgate_store_postgres::PgStore::connect(&url)
        .await
        .unwrap();
    let applied: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, count(*) FROM _sqlx_migrations WHERE success GROUP BY version",
    )
    .fetch_all(store.pool_for_tests())
    .await
    .unwrap();
    assert!(!applied.is_empty(), "the schema was migrated");
    for (version, times) in applied {
        assert_eq!(times, 1, "migration {version} applied once");
    }
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE NOT success")
        .fetch_one(store.pool_for_tests())
        .await
        .unwrap();
    assert_eq!(failed, 0);
    meetgate_store_postgres::drop_test_database(&url).await;
}

/// `meetgate --database-url postgres://… demo` runs the demo on that database (scripts/test.sh
/// runs Schemathesis against it), and the demo's data lands there, not in a SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_a_postgres_database_given_on_the_command_line() {
    let Some(url) = meetgate_store_postgres::test_support::fresh_test_database().await else {
        return;
    };
    let (dir, port, sandbox_port) = (temp_dir(), free_port(), free_port());
    let mut demo = meetgate()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "--database-url",
            &url,
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--sandbox-listen",
            &format!("127.0.0.1:{sandbox_port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port, &mut demo);
    let _ = demo.kill();
    let _ = demo.wait();
    let sqlite_written = dir.join("demo").join("meetgate.db").exists();
    let _ = std::fs::remove_dir_all(&dir);
    let store = meetgate_store_postgres::PgStore::connect(&url)
        .await
        .unwrap();
    let tenants: Vec<String> = sqlx::query_scalar("SELECT name FROM tenants")
        .fetch_all(store.pool_for_tests())
        .await
        .unwrap();
    assert_eq!(tenants, vec!["Demo Clinic".to_owned()]);
    assert!(!sqlite_written, "no SQLite file was written");
    meetgate_store_postgres::drop_test_database(&url).await;
}
