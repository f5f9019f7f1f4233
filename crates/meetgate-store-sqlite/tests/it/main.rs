#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sqlite_specific;

use std::path::PathBuf;
use std::sync::Arc;

use meetgate_store::Store;
use meetgate_store::testsuite::TestStore;
use meetgate_store_sqlite::SqliteStore;

/// A directory removed when dropped (also when the test panics).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn fresh() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "meetgate-sqlite-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        Self(dir)
    }

    pub fn url(&self, file: &str) -> String {
        format!("sqlite://{}/{file}", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fresh_store() -> Option<TestStore> {
    let dir = TempDir::fresh();
    let store = SqliteStore::connect(&dir.url("store.db")).await.unwrap();
    store.migrate().await.unwrap();
    Some(TestStore::with_cleanup(
        Arc::new(store),
        move || async move { drop(dir) },
    ))
}

mod suite {
    meetgate_store::store_tests!(super::fresh_store());
}
