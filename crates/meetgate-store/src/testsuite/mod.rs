//! The backend-independent store test suite.
//!
//! Every backend instantiates it with [`store_tests!`](crate::store_tests), which expands into
//! one `#[tokio::test]` per suite function, each against a fresh, migrated store:
//!
//! ```ignore
//! mod suite {
//!     meetgate_store::store_tests!(super::fresh_store());
//! }
//! ```
//!
//! where `fresh_store()` is an `async fn` returning `Option<TestStore>` (`None` skips the test,
//! for a backend whose server is not configured). The calling crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features among its dev-dependencies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod audit;
mod connections;
pub mod fixtures;
mod idempotency;
mod keys;
mod meetings;
mod misc;
mod oauth;
mod people;
mod refresh;
mod tenants;
mod webhooks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::Store;

pub use audit::*;
pub use connections::*;
pub use fixtures::now;
pub use idempotency::*;
pub use keys::*;
pub use meetings::*;
pub use misc::*;
pub use oauth::*;
pub use people::*;
pub use refresh::*;
pub use tenants::*;
pub use webhooks::*;

type Cleanup = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A fresh store for one test, with whatever must be cleaned up after it.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    cleanup: Option<Cleanup>,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl TestStore {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cleanup: None,
        }
    }

    /// `cleanup` runs after the test passed and the store was closed (a failed test leaves its
    /// database behind for inspection; anything `cleanup` owns is still dropped).
    pub fn with_cleanup<F, Fut>(store: Arc<dyn Store>, cleanup: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            store,
            cleanup: Some(Box::new(move || Box::pin(cleanup()))),
        }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some(cleanup) = self.cleanup {
            cleanup().await;
        }
    }
}

/// Expands into one `#[tokio::test]` per suite function; see the [module docs](self).
#[macro_export]
macro_rules! store_tests {
    ($make:expr) => {
        $crate::__store_tests_each!($make;
            tenants_create_get_list_update,
            api_keys_lifecycle,
            api_key_limit_holds_concurrently,
            webhook_endpoint_limit_holds_concurrently,
            members_lifecycle,
            sessions_lifecycle,
            invitations_lifecycle,
            password_reset_through_an_invitation,
            a_reset_spends_the_members_other_reset_links,
            invitations_are_revoked_within_their_tenant,
            a_clinic_keeps_an_enabled_admin,
            end_users_upsert,
            zoom_apps_lifecycle,
            connect_sessions_lifecycle,
            oauth_attempts_lifecycle,
            oauth_state_consumed_once_concurrently,
            connections_save_and_find,
            connections_list_paging_and_zoom_user,
            save_grant_supersedes_other_grants,
            save_grant_refuses_foreign_id,
            end_connection_behaviour,
            refresh_lock_happy_path,
            a_live_marker_refuses_a_second_marker,
            refresh_lock_version_conflicts,
            store_refreshed_after_lost_lock_compares_versions,
            refresh_failure_and_dead,
            refresh_lock_excludes_concurrent_holders,
            refresh_lock_waits_for_release,
            refresh_lock_dropped_guard_releases,
            refresh_lock_other_connections_do_not_wait,
            end_connection_beats_refresh_in_flight,
            claim_due_refreshes_leases,
            claim_due_refreshes_concurrent_claimers,
            meetings_lifecycle,
            meeting_status_ordering,
            list_meetings_windows_and_paging,
            instant_meetings_without_a_start_time_pass,
            purge_meeting_details_scoped,
            insert_meeting_conflict_rolls_back,
            insert_meeting_refused_after_its_connection_ended_or_its_key_moved,
            insert_meeting_writes_its_effects,
            idempotency_claim_flow,
            idempotency_expired_and_purged,
            idempotency_concurrent_claims,
            idempotency_stale_takeover,
            idempotency_concurrent_takeover,
            idempotency_completed_through_effects,
            inbox_lifecycle,
            inbox_concurrent_claims,
            webhook_endpoints_lifecycle,
            webhook_secret_rotation,
            outbox_fanout_to_matching_endpoints,
            deliveries_claim_and_record,
            deliveries_concurrent_claims,
            deliveries_shared_between_endpoints,
            outbox_purge_keeps_pending_and_recent,
            audit_list_filters_and_cursor,
            audit_purge,
            effects_not_written_when_change_fails,
            change_not_written_when_effects_fail,
            effects_skipped_when_nothing_changed,
            effects_of_any_size_are_all_written,
            key_fingerprints_recorded,
            sealed_cells_every_column,
            sealed_cells_paging_and_replace,
            purges_remove_only_old_rows,
            store_basics_and_stats,
            tenant_isolation_everywhere,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_tests_each {
    ($make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(fixture) = ($make).await else {
                    return;
                };
                $crate::testsuite::$name(fixture.store.clone()).await;
                fixture.finish().await;
            }
        )*
    };
}
