use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

/// Long enough for any healthy test machine; only reached when something hangs.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

fn tokens(access: &str, refresh: Option<&str>, at: OffsetDateTime) -> RefreshedTokens {
    RefreshedTokens {
        access_token: sealed(access),
        access_expires_at: at + Duration::hours(1),
        refresh_token: refresh.map(sealed),
        scopes: None,
        api_url: None,
        next_refresh_at: Some(at + Duration::minutes(50)),
    }
}

/// Two holders with no lock in common (two processes on one SQLite file): the second cannot
/// mark a refresh while the first one's marker may still be live, and can once it is stale.
pub async fn a_live_marker_refuses_a_second_marker(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let at = now();
    let window = Duration::seconds(30);
    let mut first = store.lock_for_refresh(c.connection.id).await.unwrap();
    let version = first.reread().await.unwrap().unwrap().version;
    first
        .mark_refresh_started(version, at, at - window)
        .await
        .unwrap();
    // The first holder goes away without writing (its process died, or it is still waiting
    // for Zoom in another process).
    first.release().await.unwrap();

    let mut second = store.lock_for_refresh(c.connection.id).await.unwrap();
    let soon = at + Duration::seconds(1);
    let refused = second
        .mark_refresh_started(version, soon, soon - window)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::VersionConflict { .. }),
        "{refused:?}"
    );
    let stored = second.reread().await.unwrap().unwrap();
    assert_eq!(
        stored.refresh_started_at,
        Some(at),
        "the first marker stands"
    );
    let later = at + window + Duration::seconds(1);
    second
        .mark_refresh_started(version, later, later - window)
        .await
        .expect("a stale marker belongs to an attempt that can no longer land");
    assert_eq!(
        second.reread().await.unwrap().unwrap().refresh_started_at,
        Some(later)
    );
    second.release().await.unwrap();
}

pub async fn refresh_lock_happy_path(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let ep = endpoint(t, &["connection.refreshed"]);
    store
        .create_webhook_endpoint(&ep, 100, Effects::none())
        .await
        .unwrap();
    let at = now();

    let mut lock = store.lock_for_refresh(c.connection.id).await.unwrap();
    let current = lock.reread().await.unwrap().expect("row");
    assert_eq!(current.version, 1);
    lock.mark_refresh_started(current.version, at, time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    // The marker is committed before the caller talks to Zoom: visible from outside the lock.
    let marked = store
        .get_connection(t, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marked.refresh_started_at, Some(at));
    assert_eq!(marked.version, 1, "the marker does not bump the version");
    assert_eq!(
        lock.reread().await.unwrap().unwrap().refresh_started_at,
        Some(at)
    );

    let done = at + Duration::seconds(2);
    let fresh = RefreshedTokens {
        scopes: Some("meeting:write meeting:read".into()),
        api_url: Some("https://eu.api.zoom.us".into()),
        ..tokens("access-2", None, done)
    };
    let saved = lock
        .store_refreshed(
            1,
            &fresh,
            done,
            Effects::none()
                .audit(audit(Some(t), "connection.refreshed"))
                .event(event(t, "connection.refreshed")),
        )
        .await
        .unwrap();
    assert_eq!(saved.version, 2);
    assert_eq!(saved.access_token, Some(sealed("access-2")));
    assert_eq!(saved.access_expires_at, Some(fresh.access_expires_at));
    assert_eq!(
        saved.refresh_token,
        Some(sealed("refresh-1")),
        "a missing refresh token keeps the stored one"
    );
    assert_eq!(saved.scopes, "meeting:write meeting:read");
    assert_eq!(saved.api_url, "https://eu.api.zoom.us");
    assert!(saved.refresh_started_at.is_none());
    assert_eq!(saved.refresh_failures, 0);
    assert_eq!(saved.last_refreshed_at, Some(done));
    assert_eq!(saved.next_refresh_at, fresh.next_refresh_at);
    assert_eq!(saved.state, ConnectionState::Connected);
    assert_eq!(lock.reread().await.unwrap().unwrap().version, 2);

    // A rotated refresh token replaces the stored one; unset scopes and API URL are kept.
    let rotated = lock
        .store_refreshed(
            2,
            &tokens("access-3", Some("refresh-3"), done),
            done,
            Effects::none(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.version, 3);
    assert_eq!(rotated.refresh_token, Some(sealed("refresh-3")));
    assert_eq!(rotated.scopes, "meeting:write meeting:read");
    assert_eq!(rotated.api_url, "https://eu.api.zoom.us");
    lock.release().await.unwrap();

    assert_eq!(
        store
            .get_connection(t, c.connection.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
    assert_eq!(
        audit_actions(&store, Some(t), "connection.refreshed")
            .await
            .len(),
        1
    );
    assert_eq!(events(&store, t).await.len(), 1);
    let deliveries = store
        .list_deliveries(t, Some(ep.id), None, ListOrder::OldestFirst, 10)
        .await
        .unwrap();
    assert_eq!(
        deliveries.len(),
        1,
        "the event fanned out to the subscribed endpoint"
    );
}

pub async fn refresh_lock_version_conflicts(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    store
        .create_webhook_endpoint(&endpoint(t, &[]), 100, Effects::none())
        .await
        .unwrap();
    let at = now();
    let fx = || {
        Effects::none()
            .audit(audit(Some(t), "connection.lost_race"))
            .event(event(t, "connection.lost_race"))
    };
    let mut lock = store.lock_for_refresh(c.connection.id).await.unwrap();
    let stale = 7;
    let e = lock
        .mark_refresh_started(stale, at, time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e), "{e:?}");
    let e = lock
        .store_refreshed(stale, &tokens("x", Some("y"), at), at, fx())
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e), "{e:?}");
    let e = lock
        .record_refresh_failure(stale, at, false, at)
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e), "{e:?}");
    let e = lock
        .mark_dead(
            stale,
            ConnectionState::NeedsReauth,
            "invalid_grant",
            at,
            fx(),
        )
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e), "{e:?}");
    lock.release().await.unwrap();

    let row = store
        .get_connection(t, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.version, 1);
    assert_eq!(row.state, ConnectionState::Connected);
    assert_eq!(row.access_token, c.connection.access_token);
    assert!(row.refresh_started_at.is_none());
    assert_eq!(row.refresh_failures, 0);
    assert!(
        audit_actions(&store, Some(t), "connection.lost_race")
            .await
            .is_empty()
    );
    assert!(events(&store, t).await.is_empty());
    assert!(
        store
            .list_deliveries(t, None, None, ListOrder::OldestFirst, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A connection that does not exist: the lock works, the row is missing.
    let mut lock = store.lock_for_refresh(ConnectionId::new()).await.unwrap();
    assert!(lock.reread().await.unwrap().is_none());
    let e = lock
        .mark_refresh_started(1, at, time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap_err();
    assert!(is_not_found(&e), "{e:?}");
    let e = lock
        .store_refreshed(1, &tokens("x", None, at), at, fx())
        .await
        .unwrap_err();
    assert!(is_not_found(&e), "{e:?}");
    lock.release().await.unwrap();
}

/// A holder whose lock broke while Zoom answered stores the tokens without it, under the same
/// compare-and-swap: it lands on the version it read, and never over a newer writer.
pub async fn store_refreshed_after_lost_lock_compares_versions(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let (t, id) = (c.tenant.id, c.connection.id);
    let at = now();
    let mut lock = store.lock_for_refresh(id).await.unwrap();
    lock.mark_refresh_started(1, at, time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    drop(lock);

    let e = store
        .store_refreshed_after_lost_lock(id, 7, &tokens("stale", Some("r"), at), at)
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e), "{e:?}");
    let saved = store
        .store_refreshed_after_lost_lock(id, 1, &tokens("a2", Some("r2"), at), at)
        .await
        .unwrap();
    assert_eq!(saved.version, 2);
    assert_eq!(saved.access_token, Some(sealed("a2")));
    assert_eq!(saved.refresh_token, Some(sealed("r2")));
    assert!(saved.refresh_started_at.is_none());
    assert_eq!(saved.last_refreshed_at, Some(at));
    // The same write again (a retry after an answer that was lost) finds a newer version.
    let e = store
        .store_refreshed_after_lost_lock(id, 1, &tokens("a3", Some("r3"), at), at)
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e), "{e:?}");
    let row = store.get_connection(t, id).await.unwrap().unwrap();
    assert_eq!(row.access_token, Some(sealed("a2")));
    let e = store
        .store_refreshed_after_lost_lock(ConnectionId::new(), 1, &tokens("x", None, at), at)
        .await
        .unwrap_err();
    assert!(is_not_found(&e), "{e:?}");
}

pub async fn refresh_failure_and_dead(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let at = now();
    let retry_at = at + Duration::minutes(5);
    let mut lock = store.lock_for_refresh(c.connection.id).await.unwrap();
    lock.mark_refresh_started(1, at, time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    // A holder at work: nothing written after its marker (the domain reads it so).
    let row = lock.reread().await.unwrap().unwrap();
    assert_eq!(row.refresh_started_at, Some(at));
    assert_eq!(row.updated_at, at);
    // A timeout: the request may have reached Zoom, so the marker stays; the row's time says
    // the holder is done.
    let ended = at + Duration::seconds(20);
    lock.record_refresh_failure(1, retry_at, true, ended)
        .await
        .unwrap();
    let row = lock.reread().await.unwrap().unwrap();
    assert_eq!(row.refresh_failures, 1);
    assert_eq!(row.refresh_started_at, Some(at));
    assert_eq!(row.updated_at, ended);
    assert_eq!(row.next_refresh_at, Some(retry_at));
    assert_eq!(row.version, 1, "a failure does not bump the version");
    // A clean failure clears it.
    lock.record_refresh_failure(1, retry_at, false, at)
        .await
        .unwrap();
    let row = lock.reread().await.unwrap().unwrap();
    assert_eq!(row.refresh_failures, 2);
    assert!(row.refresh_started_at.is_none());

    let dead = lock
        .mark_dead(
            1,
            ConnectionState::NeedsReauth,
            "invalid_grant after re-read",
            at,
            Effects::none()
                .audit(audit(Some(t), "connection.needs_reauth"))
                .event(event(t, "connection.needs_reauth")),
        )
        .await
        .unwrap();
    assert_eq!(dead.state, ConnectionState::NeedsReauth);
    assert_eq!(
        dead.state_reason.as_deref(),
        Some("invalid_grant after re-read")
    );
    assert!(dead.access_token.is_none() && dead.refresh_token.is_none());
    assert_eq!(dead.version, 2);
    assert!(dead.refresh_started_at.is_none());
    lock.release().await.unwrap();
    assert_eq!(
        audit_actions(&store, Some(t), "connection.needs_reauth")
            .await
            .len(),
        1
    );
    assert_eq!(events(&store, t).await.len(), 1);
    // A dead connection is no refresh candidate.
    let due = store
        .claim_due_refreshes(at + Duration::days(1), Duration::minutes(1), 100)
        .await
        .unwrap();
    assert!(!due.iter().any(|(_, id)| *id == c.connection.id));
}

pub async fn refresh_lock_excludes_concurrent_holders(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let id = c.connection.id;
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    let workers = 8;
    let mut tasks = Vec::new();
    for i in 0..workers {
        let (store, inside, max_inside) = (store.clone(), inside.clone(), max_inside.clone());
        tasks.push(tokio::spawn(async move {
            let mut lock = store.lock_for_refresh(id).await.unwrap();
            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
            max_inside.fetch_max(n, Ordering::SeqCst);
            let row = lock.reread().await.unwrap().unwrap();
            let at = now();
            lock.mark_refresh_started(row.version, at, time::OffsetDateTime::UNIX_EPOCH)
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            // Exactly the version read under the lock must still be current.
            lock.store_refreshed(
                row.version,
                &tokens(&format!("access-{i}"), Some(&format!("refresh-{i}")), at),
                at,
                Effects::none(),
            )
            .await
            .unwrap();
            inside.fetch_sub(1, Ordering::SeqCst);
            lock.release().await.unwrap();
        }));
    }
    for t in tasks {
        tokio::time::timeout(PATIENCE, t)
            .await
            .expect("no deadlock")
            .unwrap();
    }
    assert_eq!(max_inside.load(Ordering::SeqCst), 1, "one holder at a time");
    let row = store
        .get_connection(c.tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.version,
        1 + i64::from(workers),
        "every holder refreshed once, none lost"
    );
}

pub async fn refresh_lock_waits_for_release(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let id = c.connection.id;
    let first = store.lock_for_refresh(id).await.unwrap();
    let acquired = Arc::new(AtomicBool::new(false));
    let second = {
        let (store, acquired) = (store.clone(), acquired.clone());
        tokio::spawn(async move {
            let lock = store.lock_for_refresh(id).await.unwrap();
            acquired.store(true, Ordering::SeqCst);
            lock.release().await.unwrap();
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !acquired.load(Ordering::SeqCst),
        "the second locker waits while the first holds"
    );
    first.release().await.unwrap();
    tokio::time::timeout(PATIENCE, second)
        .await
        .expect("second locker proceeds")
        .unwrap();
    assert!(acquired.load(Ordering::SeqCst));
}

pub async fn refresh_lock_dropped_guard_releases(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let id = c.connection.id;
    let mut lock = store.lock_for_refresh(id).await.unwrap();
    lock.mark_refresh_started(1, now(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    drop(lock); // a holder that died without releasing
    let mut next = tokio::time::timeout(PATIENCE, store.lock_for_refresh(id))
        .await
        .expect("a dropped lock is released")
        .unwrap();
    // The next holder sees the marker the dead one left.
    assert!(
        next.reread()
            .await
            .unwrap()
            .unwrap()
            .refresh_started_at
            .is_some()
    );
    next.release().await.unwrap();
    // And the store keeps working afterwards (no connection left holding the lock).
    for _ in 0..3 {
        let lock = tokio::time::timeout(PATIENCE, store.lock_for_refresh(id))
            .await
            .unwrap()
            .unwrap();
        lock.release().await.unwrap();
    }
}

pub async fn refresh_lock_other_connections_do_not_wait(store: Arc<dyn Store>) {
    let a = connected(&store).await;
    let b = connected_in(&store, &a.tenant).await;
    let held = store.lock_for_refresh(a.connection.id).await.unwrap();
    let other = tokio::time::timeout(PATIENCE, store.lock_for_refresh(b.connection.id))
        .await
        .expect("locks of different connections are independent")
        .unwrap();
    other.release().await.unwrap();
    held.release().await.unwrap();
}

pub async fn end_connection_beats_refresh_in_flight(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let mut lock = store.lock_for_refresh(c.connection.id).await.unwrap();
    let row = lock.reread().await.unwrap().unwrap();
    let at = now();
    lock.mark_refresh_started(row.version, at, time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    // Deauthorization arrives while the refresh call is out (it does not take the lock).
    store
        .end_connection(
            t,
            c.connection.id,
            ConnectionState::Revoked,
            "deauthorized",
            true,
            at,
            Effects::none(),
        )
        .await
        .unwrap()
        .unwrap();
    let e = lock
        .store_refreshed(
            row.version,
            &tokens("late", Some("late"), at),
            at,
            Effects::none(),
        )
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e), "{e:?}");
    lock.release().await.unwrap();
    let row = store
        .get_connection(t, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, ConnectionState::Revoked);
    assert!(
        row.access_token.is_none() && row.refresh_token.is_none(),
        "no token survives"
    );
}

pub async fn claim_due_refreshes_leases(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let app = zoom_app(&store, None).await;
    let at = now();
    let mut due = HashSet::new();
    for (tenant, minutes) in [(a.id, -10), (a.id, -1), (b.id, 0), (a.id, 5), (b.id, 60)] {
        let user = end_user(&store, tenant).await;
        let g = NewGrant {
            next_refresh_at: Some(at + Duration::minutes(minutes)),
            ..grant(tenant, user.id, app.id, &unique("zu"), at)
        };
        let c = store.save_grant(&g, &[], Effects::none()).await.unwrap();
        if minutes <= 0 {
            due.insert((tenant, c.id));
        }
    }
    // Due but no longer connected: never claimed.
    let user = end_user(&store, a.id).await;
    let g = NewGrant {
        next_refresh_at: Some(at - Duration::minutes(30)),
        ..grant(a.id, user.id, app.id, &unique("zu"), at)
    };
    let dead = store.save_grant(&g, &[], Effects::none()).await.unwrap();
    store
        .end_connection(
            a.id,
            dead.id,
            ConnectionState::NeedsReauth,
            "x",
            false,
            at,
            Effects::none(),
        )
        .await
        .unwrap();

    let lease = Duration::minutes(2);
    let claimed: HashSet<_> = store
        .claim_due_refreshes(at, lease, 100)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(claimed, due);
    assert!(
        store
            .claim_due_refreshes(at, lease, 100)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let row = store
        .get_connection(a.id, due.iter().find(|(t, _)| *t == a.id).unwrap().1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.next_refresh_at,
        Some(at + lease),
        "the lease pushes next_refresh_at"
    );
    // After the lease the same rows are due again; the limit is honoured.
    let later = at + lease + Duration::seconds(1);
    assert_eq!(
        store
            .claim_due_refreshes(later, lease, 2)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .claim_due_refreshes(later, lease, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn claim_due_refreshes_concurrent_claimers(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let app = zoom_app(&store, None).await;
    let at = now();
    let total = 30;
    for _ in 0..total {
        let user = end_user(&store, a.id).await;
        let g = NewGrant {
            next_refresh_at: Some(at - Duration::seconds(1)),
            ..grant(a.id, user.id, app.id, &unique("zu"), at)
        };
        store.save_grant(&g, &[], Effects::none()).await.unwrap();
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(6));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_due_refreshes(at, Duration::minutes(5), 4)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                mine.extend(batch.into_iter().map(|(_, id)| id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(tokio::time::timeout(PATIENCE, t).await.unwrap().unwrap());
    }
    let unique_ids: HashSet<_> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        unique_ids.len(),
        "no connection handed to two claimers"
    );
    assert_eq!(unique_ids.len(), total);
}
