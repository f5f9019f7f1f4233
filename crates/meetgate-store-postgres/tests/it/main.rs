#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_specific;

use std::sync::Arc;

use meetgate_store::Store;
use meetgate_store::testsuite::TestStore;
use meetgate_store_postgres::{PgStore, drop_test_database, fresh_test_database};

async fn fresh_store() -> Option<TestStore> {
    let url = fresh_test_database().await?;
    let store = PgStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Some(TestStore::with_cleanup(
        Arc::new(store),
        move || async move {
            drop_test_database(&url).await;
        },
    ))
}

mod suite {
    meetgate_store::store_tests!(super::fresh_store());
}
