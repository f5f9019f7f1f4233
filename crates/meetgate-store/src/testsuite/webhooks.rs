use std::collections::HashSet;
use std::sync::Arc;

use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

pub async fn inbox_lifecycle(store: Arc<dyn Store>) {
    let app = zoom_app(&store, None).await;
    let t = tenant(&store).await;
    let at = now();
    let item = inbox_item(app.id, at - Duration::seconds(5));
    assert!(store.insert_inbox_item(&item).await.unwrap());
    let redelivered = InboxItem {
        id: InboxItemId::new(),
        ..item.clone()
    };
    assert!(
        !store.insert_inbox_item(&redelivered).await.unwrap(),
        "dedup key stored once"
    );

    let lease = Duration::minutes(1);
    let claimed = store.claim_inbox_items(at, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let got = &claimed[0];
    assert_eq!(got.id, item.id);
    assert_eq!(got.zoom_app_id, app.id);
    assert_eq!(got.dedup_key, item.dedup_key);
    assert_eq!(got.event_type, item.event_type);
    assert_eq!(got.payload, item.payload);
    assert_eq!(got.event_at, item.event_at);
    assert_eq!(got.received_at, item.received_at);
    assert_eq!(got.attempts, 1);
    assert_eq!(got.next_attempt_at, at + lease);
    assert!(got.processed_at.is_none());
    assert!(
        store
            .claim_inbox_items(at, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );

    let retry_at = at + Duration::seconds(30);
    store
        .fail_inbox_item(item.id, 1, "zoom api 503", retry_at)
        .await
        .unwrap();
    assert!(
        store
            .claim_inbox_items(at + Duration::seconds(29), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_inbox_items(retry_at, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // The first worker, back after its lease ran out, cannot shorten the second one's lease.
    assert!(is_not_found(
        &store
            .fail_inbox_item(item.id, 1, "stale", retry_at)
            .await
            .unwrap_err()
    ));
    assert!(
        store
            .claim_inbox_items(retry_at + Duration::seconds(1), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "still leased to the second worker"
    );
    assert_eq!(again[0].last_error.as_deref(), Some("zoom api 503"));

    let done_at = retry_at + Duration::seconds(1);
    assert!(
        store
            .finish_inbox_item(
                item.id,
                done_at,
                Effects::none().audit(audit(Some(t.id), "inbox.processed")),
            )
            .await
            .unwrap()
    );
    assert_eq!(audit_actions(&store, Some(t.id), "inbox.").await.len(), 1);
    // A second worker that processed the same item finishes nothing and writes nothing.
    assert!(
        !store
            .finish_inbox_item(
                item.id,
                done_at + Duration::seconds(1),
                Effects::none().audit(audit(Some(t.id), "inbox.twice")),
            )
            .await
            .unwrap()
    );
    assert!(
        audit_actions(&store, Some(t.id), "inbox.twice")
            .await
            .is_empty()
    );
    assert!(
        store
            .claim_inbox_items(done_at + Duration::days(1), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let e = store
        .finish_inbox_item(
            InboxItemId::new(),
            done_at,
            Effects::none().audit(audit(Some(t.id), "inbox.ghost")),
        )
        .await
        .unwrap_err();
    assert!(is_not_found(&e), "{e:?}");
    assert!(
        audit_actions(&store, Some(t.id), "inbox.ghost")
            .await
            .is_empty()
    );
    assert!(is_not_found(
        &store
            .fail_inbox_item(InboxItemId::new(), 1, "x", at)
            .await
            .unwrap_err()
    ));
    // A processed item is not failed again.
    assert!(is_not_found(
        &store
            .fail_inbox_item(item.id, 2, "late", at)
            .await
            .unwrap_err()
    ));

    // An abandoned item is no longer claimed, and is purged with the processed ones.
    let poison = inbox_item(app.id, at);
    store.insert_inbox_item(&poison).await.unwrap();
    assert!(
        store
            .abandon_inbox_item(poison.id, "payload unreadable", done_at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .abandon_inbox_item(poison.id, "again", done_at)
            .await
            .unwrap(),
        "abandoned once"
    );
    assert!(
        !store
            .abandon_inbox_item(item.id, "processed already", done_at)
            .await
            .unwrap(),
        "a processed item is not abandoned"
    );
    assert!(
        store
            .claim_inbox_items(at + Duration::days(1), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "an abandoned item is not claimed"
    );

    // Items come back oldest event first; the limit is honoured.
    let newer = inbox_item(app.id, at - Duration::seconds(1));
    let older = inbox_item(app.id, at - Duration::seconds(3));
    store.insert_inbox_item(&newer).await.unwrap();
    store.insert_inbox_item(&older).await.unwrap();
    let one = store.claim_inbox_items(at, lease, 1).await.unwrap();
    assert_eq!(one.len(), 1);
    let both = store
        .claim_inbox_items(at + Duration::minutes(2), lease, 10)
        .await
        .unwrap();
    assert_eq!(
        both.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![older.id, newer.id]
    );

    assert_eq!(
        store.purge_inbox(done_at).await.unwrap(),
        0,
        "processed at the cut stays"
    );
    assert_eq!(
        store
            .purge_inbox(done_at + Duration::seconds(1))
            .await
            .unwrap(),
        2,
        "the processed item and the abandoned one"
    );
    assert_eq!(
        store
            .claim_inbox_items(at + Duration::minutes(10), lease, 10)
            .await
            .unwrap()
            .len(),
        2,
        "unprocessed items are never purged"
    );
}

pub async fn inbox_concurrent_claims(store: Arc<dyn Store>) {
    let app = zoom_app(&store, None).await;
    let at = now();
    let total = 40;
    for _ in 0..total {
        store
            .insert_inbox_item(&inbox_item(app.id, at))
            .await
            .unwrap();
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(5));
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_inbox_items(at, Duration::minutes(5), 3)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                mine.extend(batch.into_iter().map(|i| i.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "no item handed to two workers");
    assert_eq!(distinct.len(), total);
}

pub async fn webhook_secret_rotation(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let ep = endpoint(a.id, &[]);
    store
        .create_webhook_endpoint(&ep, 100, Effects::none())
        .await
        .unwrap();
    let created = store
        .get_webhook_endpoint(a.id, ep.id)
        .await
        .unwrap()
        .unwrap();
    assert!(created.previous_secret.is_none());
    assert!(created.previous_secret_expires_at.is_none());

    let at = now();
    let first = SecretRotation {
        expected: ep.secret.clone(),
        secret: sealed("second"),
        previous: Some(sealed("first-as-previous")),
        previous_expires_at: Some(at + Duration::hours(24)),
    };
    // Another tenant cannot rotate it, and nothing is written.
    assert!(
        !store
            .rotate_webhook_endpoint_secret(
                b.id,
                ep.id,
                &first,
                Effects::none().audit(audit(Some(b.id), "webhook_endpoint.secret_rotated")),
            )
            .await
            .unwrap()
    );
    assert!(
        audit_actions(&store, Some(b.id), "webhook_endpoint.")
            .await
            .is_empty()
    );
    assert!(
        store
            .rotate_webhook_endpoint_secret(
                a.id,
                ep.id,
                &first,
                Effects::none().audit(audit(Some(a.id), "webhook_endpoint.secret_rotated")),
            )
            .await
            .unwrap()
    );
    let got = store
        .get_webhook_endpoint(a.id, ep.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.secret, sealed("second"));
    assert_eq!(got.previous_secret, Some(sealed("first-as-previous")));
    assert_eq!(got.previous_secret_expires_at, first.previous_expires_at);
    assert_eq!(
        audit_actions(&store, Some(a.id), "webhook_endpoint.secret_rotated")
            .await
            .len(),
        1
    );

    // A rotation made from the old secret lost the race: refused, nothing written.
    let stale = SecretRotation {
        secret: sealed("third"),
        ..first.clone()
    };
    let err = store
        .rotate_webhook_endpoint_secret(
            a.id,
            ep.id,
            &stale,
            Effects::none().audit(audit(Some(a.id), "webhook_endpoint.secret_rotated")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { .. }), "{err:?}");
    let got = store
        .get_webhook_endpoint(a.id, ep.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.secret, sealed("second"));
    assert_eq!(
        audit_actions(&store, Some(a.id), "webhook_endpoint.secret_rotated")
            .await
            .len(),
        1
    );

    // Deliveries claimed now carry both secrets.
    store
        .append_events(Effects::none().event(event(a.id, "meeting.created")))
        .await
        .unwrap();
    let jobs = store
        .claim_deliveries(
            at + Duration::seconds(1),
            Duration::minutes(1),
            10,
            &DeliveryShare::ANY,
        )
        .await
        .unwrap();
    let job = jobs
        .iter()
        .find(|j| j.endpoint.id == ep.id)
        .expect("a delivery");
    assert_eq!(job.endpoint.secret, sealed("second"));
    assert_eq!(
        job.endpoint.previous_secret,
        Some(sealed("first-as-previous"))
    );
    assert_eq!(
        job.endpoint.previous_secret_expires_at,
        first.previous_expires_at
    );

    // Expired previous secrets are forgotten; a live one stays.
    let other = endpoint(a.id, &[]);
    store
        .create_webhook_endpoint(&other, 100, Effects::none())
        .await
        .unwrap();
    let later = SecretRotation {
        expected: other.secret.clone(),
        secret: sealed("other-second"),
        previous: Some(sealed("other-previous")),
        previous_expires_at: Some(at + Duration::hours(48)),
    };
    assert!(
        store
            .rotate_webhook_endpoint_secret(a.id, other.id, &later, Effects::none())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .clear_expired_webhook_secrets(at + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .clear_expired_webhook_secrets(at + Duration::hours(24))
            .await
            .unwrap()
            >= 1
    );
    let got = store
        .get_webhook_endpoint(a.id, ep.id)
        .await
        .unwrap()
        .unwrap();
    assert!(got.previous_secret.is_none());
    assert!(got.previous_secret_expires_at.is_none());
    assert_eq!(got.secret, sealed("second"));
    let kept = store
        .get_webhook_endpoint(a.id, other.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.previous_secret, Some(sealed("other-previous")));

    // Rotating with no previous secret (a leaked one) stops signing with the old one at once.
    let at_once = SecretRotation {
        expected: sealed("other-second"),
        secret: sealed("other-third"),
        previous: None,
        previous_expires_at: None,
    };
    assert!(
        store
            .rotate_webhook_endpoint_secret(a.id, other.id, &at_once, Effects::none())
            .await
            .unwrap()
    );
    let got = store
        .get_webhook_endpoint(a.id, other.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.secret, sealed("other-third"));
    assert!(got.previous_secret.is_none());

    // A deleted endpoint is not rotated.
    assert!(
        store
            .delete_webhook_endpoint(a.id, other.id, at, Effects::none())
            .await
            .unwrap()
    );
    let after_delete = SecretRotation {
        expected: sealed("other-third"),
        ..at_once
    };
    assert!(
        !store
            .rotate_webhook_endpoint_secret(a.id, other.id, &after_delete, Effects::none())
            .await
            .unwrap()
    );
}

pub async fn webhook_endpoints_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let ep = endpoint(a.id, &["meeting.created", "meeting.deleted"]);
    store
        .create_webhook_endpoint(
            &ep,
            100,
            Effects::none().audit(audit(Some(a.id), "webhook_endpoint.created")),
        )
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&store, Some(a.id), "webhook_endpoint.")
            .await
            .len(),
        1
    );
    let got = store
        .get_webhook_endpoint(a.id, ep.id)
        .await
        .unwrap()
        .expect("endpoint");
    assert_eq!(got.url, ep.url);
    assert_eq!(got.secret, ep.secret);
    assert_eq!(got.event_types, ep.event_types);
    assert_eq!(got.description, ep.description);
    assert_eq!(got.created_at, ep.created_at);
    assert!(got.disabled_at.is_none());
    assert!(
        store
            .get_webhook_endpoint(b.id, ep.id)
            .await
            .unwrap()
            .is_none()
    );
    let all_types = endpoint(a.id, &[]);
    store
        .create_webhook_endpoint(&all_types, 100, Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .list_webhook_endpoints(a.id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![ep.id, all_types.id]
    );
    assert!(
        store
            .get_webhook_endpoint(a.id, all_types.id)
            .await
            .unwrap()
            .unwrap()
            .event_types
            .is_empty()
    );
    assert!(store.list_webhook_endpoints(b.id).await.unwrap().is_empty());

    // One pending and one delivered delivery for the endpoint.
    store
        .append_events(Effects::none().event(event(a.id, "meeting.created")))
        .await
        .unwrap();
    store
        .append_events(Effects::none().event(event(a.id, "meeting.deleted")))
        .await
        .unwrap();
    let mine = store
        .list_deliveries(a.id, Some(ep.id), None, ListOrder::OldestFirst, 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    store
        .record_delivery(
            mine[0].id,
            0,
            &DeliveryOutcome::Delivered { status_code: 200 },
            now(),
        )
        .await
        .unwrap();

    let at = now();
    let fx = |t| Effects::none().audit(audit(Some(t), "webhook_endpoint.deleted"));
    assert!(
        !store
            .delete_webhook_endpoint(b.id, ep.id, at, fx(b.id))
            .await
            .unwrap()
    );
    assert!(
        audit_actions(&store, Some(b.id), "webhook_endpoint.")
            .await
            .is_empty()
    );
    assert!(
        store
            .get_webhook_endpoint(a.id, ep.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at
            .is_none()
    );

    assert!(
        store
            .delete_webhook_endpoint(a.id, ep.id, at, fx(a.id))
            .await
            .unwrap()
    );
    assert_eq!(
        audit_actions(&store, Some(a.id), "webhook_endpoint.deleted")
            .await
            .len(),
        1
    );
    assert_eq!(
        store
            .get_webhook_endpoint(a.id, ep.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at,
        Some(at)
    );
    assert_eq!(
        store
            .list_webhook_endpoints(a.id)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![all_types.id],
        "deleted endpoints are not listed"
    );
    let left = store
        .list_deliveries(a.id, Some(ep.id), None, ListOrder::OldestFirst, 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "pending deliveries dropped, history kept");
    assert_eq!(left[0].status, DeliveryStatus::Delivered);
    // The other endpoint's pending deliveries stay.
    assert_eq!(
        store
            .list_deliveries(a.id, Some(all_types.id), None, ListOrder::OldestFirst, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        !store
            .delete_webhook_endpoint(a.id, ep.id, at, fx(a.id))
            .await
            .unwrap(),
        "already deleted"
    );
    assert!(
        !store
            .delete_webhook_endpoint(a.id, WebhookEndpointId::new(), at, Effects::none())
            .await
            .unwrap()
    );
    // New events no longer reach it.
    store
        .append_events(Effects::none().event(event(a.id, "meeting.created")))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_deliveries(a.id, Some(ep.id), None, ListOrder::OldestFirst, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn outbox_fanout_to_matching_endpoints(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let every = endpoint(a.id, &[]);
    let meetings_only = endpoint(a.id, &["meeting.created"]);
    let disabled = endpoint(a.id, &[]);
    let theirs = endpoint(b.id, &[]);
    for e in [&every, &meetings_only, &disabled, &theirs] {
        store
            .create_webhook_endpoint(e, 100, Effects::none())
            .await
            .unwrap();
    }
    store
        .delete_webhook_endpoint(a.id, disabled.id, now(), Effects::none())
        .await
        .unwrap();

    let created = event(a.id, "meeting.created");
    let revoked = event(a.id, "connection.revoked");
    store
        .append_events(
            Effects::none()
                .event(created.clone())
                .event(revoked.clone()),
        )
        .await
        .unwrap();

    let deliveries = store
        .list_deliveries(a.id, None, None, ListOrder::OldestFirst, 100)
        .await
        .unwrap();
    let pairs: HashSet<_> = deliveries
        .iter()
        .map(|d| (d.event_id, d.endpoint_id))
        .collect();
    assert_eq!(
        pairs,
        HashSet::from([
            (created.id, every.id),
            (revoked.id, every.id),
            (created.id, meetings_only.id)
        ])
    );
    assert_eq!(deliveries.len(), 3);
    for d in &deliveries {
        assert_eq!(d.tenant_id, a.id);
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.attempts, 0);
        let ev = if d.event_id == created.id {
            &created
        } else {
            &revoked
        };
        assert_eq!(
            d.next_attempt_at,
            Some(ev.created_at),
            "due at the event's time"
        );
        assert_eq!(d.created_at, ev.created_at);
        assert!(d.delivered_at.is_none() && d.last_error.is_none() && d.last_status_code.is_none());
    }
    assert!(
        store
            .list_deliveries(b.id, None, None, ListOrder::OldestFirst, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_deliveries(
                a.id,
                Some(meetings_only.id),
                None,
                ListOrder::OldestFirst,
                100
            )
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .list_deliveries(a.id, Some(theirs.id), None, ListOrder::OldestFirst, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let first = store
        .list_deliveries(a.id, None, None, ListOrder::OldestFirst, 2)
        .await
        .unwrap();
    let rest = store
        .list_deliveries(
            a.id,
            None,
            first.last().map(|d| d.id),
            ListOrder::OldestFirst,
            100,
        )
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 3);
    let mut paged: Vec<_> = first.iter().chain(rest.iter()).map(|d| d.id).collect();
    let in_order = paged.clone();
    paged.sort();
    assert_eq!(paged, in_order, "deliveries page in id order");
    // Newest first, from the other end.
    let newest = store
        .list_deliveries(a.id, None, None, ListOrder::NewestFirst, 2)
        .await
        .unwrap();
    let older = store
        .list_deliveries(
            a.id,
            None,
            newest.last().map(|d| d.id),
            ListOrder::NewestFirst,
            2,
        )
        .await
        .unwrap();
    let backwards: Vec<_> = newest.iter().chain(older.iter()).map(|d| d.id).collect();
    assert_eq!(
        backwards,
        in_order.iter().rev().copied().collect::<Vec<_>>()
    );

    let listed = events(&store, a.id).await;
    assert_eq!(
        listed.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![created.id, revoked.id]
    );
    assert_eq!(listed[0].event_type, "meeting.created");
    assert_eq!(listed[0].payload, created.payload);
    assert_eq!(listed[0].created_at, created.created_at);
    assert_eq!(listed[0].tenant_id, a.id);
    let after = store.list_events(a.id, Some(created.id), 10).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![revoked.id]
    );
    assert_eq!(store.list_events(a.id, None, 1).await.unwrap().len(), 1);
    assert!(events(&store, b.id).await.is_empty());

    // Events of several tenants in one call go each to their own tenant's endpoints.
    let mixed_a = event(a.id, "meeting.created");
    let mixed_b = event(b.id, "meeting.created");
    store
        .append_events(
            Effects::none()
                .event(mixed_a.clone())
                .event(mixed_b.clone()),
        )
        .await
        .unwrap();
    let b_deliveries = store
        .list_deliveries(b.id, None, None, ListOrder::OldestFirst, 100)
        .await
        .unwrap();
    assert_eq!(b_deliveries.len(), 1);
    assert_eq!(
        (b_deliveries[0].event_id, b_deliveries[0].endpoint_id),
        (mixed_b.id, theirs.id)
    );
    assert_eq!(
        store
            .list_deliveries(a.id, None, None, ListOrder::OldestFirst, 100)
            .await
            .unwrap()
            .len(),
        5
    );
    // An empty call writes nothing and succeeds.
    store.append_events(Effects::none()).await.unwrap();
}

pub async fn deliveries_claim_and_record(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let ep = endpoint(a.id, &[]);
    store
        .create_webhook_endpoint(&ep, 100, Effects::none())
        .await
        .unwrap();
    let ev = event(a.id, "meeting.created");
    let ev2 = event(a.id, "meeting.deleted");
    store
        .append_events(Effects::none().event(ev.clone()).event(ev2.clone()))
        .await
        .unwrap();
    let at = now();
    let lease = Duration::minutes(10);

    let jobs = store
        .claim_deliveries(at, lease, 1, &DeliveryShare::ANY)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.delivery.event_id, ev.id, "oldest due first");
    assert_eq!(job.delivery.attempts, 1);
    assert_eq!(job.delivery.next_attempt_at, Some(at + lease));
    assert_eq!(job.event.id, ev.id);
    assert_eq!(job.event.payload, ev.payload);
    assert_eq!(job.event.event_type, "meeting.created");
    assert_eq!(job.endpoint.id, ep.id);
    assert_eq!(job.endpoint.url, ep.url);
    assert_eq!(job.endpoint.secret, ep.secret);
    let second = store
        .claim_deliveries(at, lease, 10, &DeliveryShare::ANY)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].event.id, ev2.id);
    assert!(
        store
            .claim_deliveries(at, lease, 10, &DeliveryShare::ANY)
            .await
            .unwrap()
            .is_empty(),
        "both leased"
    );

    let retry_at = at + Duration::minutes(5);
    store
        .record_delivery(
            job.delivery.id,
            1,
            &DeliveryOutcome::Retry {
                status_code: Some(502),
                error: "bad gateway".into(),
                next_attempt_at: retry_at,
            },
            at,
        )
        .await
        .unwrap();
    let d = store
        .list_deliveries(a.id, None, None, ListOrder::OldestFirst, 10)
        .await
        .unwrap();
    let d1 = d.iter().find(|d| d.id == job.delivery.id).unwrap();
    assert_eq!(d1.status, DeliveryStatus::Pending);
    assert_eq!(d1.last_status_code, Some(502));
    assert_eq!(d1.last_error.as_deref(), Some("bad gateway"));
    assert_eq!(d1.next_attempt_at, Some(retry_at));
    assert!(
        store
            .claim_deliveries(
                retry_at - Duration::seconds(1),
                lease,
                10,
                &DeliveryShare::ANY
            )
            .await
            .unwrap()
            .is_empty()
    );
    let retried = store
        .claim_deliveries(retry_at, lease, 10, &DeliveryShare::ANY)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].delivery.attempts, 2);
    // A worker whose lease ran out records nothing over the one that took the delivery over.
    let stale = store
        .record_delivery(
            job.delivery.id,
            1,
            &DeliveryOutcome::Retry {
                status_code: Some(502),
                error: "stale".into(),
                next_attempt_at: retry_at,
            },
            retry_at,
        )
        .await
        .unwrap_err();
    assert!(is_not_found(&stale), "{stale:?}");

    let delivered_at = retry_at + Duration::seconds(1);
    store
        .record_delivery(
            job.delivery.id,
            2,
            &DeliveryOutcome::Delivered { status_code: 204 },
            delivered_at,
        )
        .await
        .unwrap();
    store
        .record_delivery(
            second[0].delivery.id,
            1,
            &DeliveryOutcome::GiveUp {
                status_code: None,
                error: "dns".into(),
            },
            delivered_at,
        )
        .await
        .unwrap();
    let d = store
        .list_deliveries(a.id, None, None, ListOrder::OldestFirst, 10)
        .await
        .unwrap();
    let d1 = d.iter().find(|d| d.id == job.delivery.id).unwrap();
    assert_eq!(d1.status, DeliveryStatus::Delivered);
    assert_eq!(d1.delivered_at, Some(delivered_at));
    assert_eq!(d1.last_status_code, Some(204));
    assert!(d1.last_error.is_none() && d1.next_attempt_at.is_none());
    let d2 = d.iter().find(|d| d.id == second[0].delivery.id).unwrap();
    assert_eq!(d2.status, DeliveryStatus::Failed);
    assert_eq!(d2.last_error.as_deref(), Some("dns"));
    assert!(d2.next_attempt_at.is_none() && d2.delivered_at.is_none());
    assert!(
        store
            .claim_deliveries(
                delivered_at + Duration::days(1),
                lease,
                10,
                &DeliveryShare::ANY
            )
            .await
            .unwrap()
            .is_empty()
    );
    let e = store
        .record_delivery(
            DeliveryId::new(),
            1,
            &DeliveryOutcome::Delivered { status_code: 200 },
            at,
        )
        .await
        .unwrap_err();
    assert!(is_not_found(&e), "{e:?}");
}

pub async fn deliveries_concurrent_claims(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    store
        .create_webhook_endpoint(&endpoint(a.id, &[]), 100, Effects::none())
        .await
        .unwrap();
    store
        .create_webhook_endpoint(&endpoint(a.id, &[]), 100, Effects::none())
        .await
        .unwrap();
    let mut effects = Effects::none();
    for _ in 0..20 {
        effects = effects.event(event(a.id, "meeting.created"));
    }
    store.append_events(effects).await.unwrap();
    let at = now() + Duration::seconds(1);
    let barrier = Arc::new(tokio::sync::Barrier::new(5));
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim_deliveries(at, Duration::minutes(5), 3, &DeliveryShare::ANY)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break mine;
                }
                mine.extend(batch.into_iter().map(|j| j.delivery.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        distinct.len(),
        "no delivery handed to two workers"
    );
    assert_eq!(distinct.len(), 40);
}

/// One endpoint's backlog does not take a whole claim: each endpoint gets at most its share,
/// oldest first, and a skipped endpoint gets none.
pub async fn deliveries_shared_between_endpoints(store: Arc<dyn Store>) {
    let (a, b) = (tenant(&store).await, tenant(&store).await);
    let (busy, quiet) = (endpoint(a.id, &[]), endpoint(b.id, &[]));
    for ep in [&busy, &quiet] {
        store
            .create_webhook_endpoint(ep, 100, Effects::none())
            .await
            .unwrap();
    }
    let backlog: Vec<_> = (0..5).map(|_| event(a.id, "meeting.created")).collect();
    let mut effects = Effects::none();
    for ev in &backlog {
        effects = effects.event(ev.clone());
    }
    store.append_events(effects).await.unwrap();
    let later: Vec<_> = (0..2).map(|_| event(b.id, "meeting.created")).collect();
    store
        .append_events(
            Effects::none()
                .event(later[0].clone())
                .event(later[1].clone()),
        )
        .await
        .unwrap();
    let at = now() + Duration::seconds(1);
    let lease = Duration::minutes(5);

    let share = DeliveryShare {
        per_endpoint: 2,
        in_flight: &[],
    };
    let first = store.claim_deliveries(at, lease, 10, &share).await.unwrap();
    let to = |jobs: &[DeliveryJob], ep: WebhookEndpointId| -> Vec<OutboxEventId> {
        jobs.iter()
            .filter(|j| j.endpoint.id == ep)
            .map(|j| j.event.id)
            .collect()
    };
    assert_eq!(
        first.len(),
        4,
        "two each, though the busy endpoint has five due"
    );
    let mut busy_first = to(&first, busy.id);
    busy_first.sort();
    assert_eq!(busy_first, [backlog[0].id, backlog[1].id], "its oldest two");
    assert_eq!(to(&first, quiet.id).len(), 2);

    let three_sending = [(busy.id, 3)];
    let one_left = DeliveryShare {
        per_endpoint: 4,
        in_flight: &three_sending,
    };
    let topped_up = store
        .claim_deliveries(at, lease, 10, &one_left)
        .await
        .unwrap();
    assert_eq!(
        to(&topped_up, busy.id),
        [backlog[2].id],
        "three in flight of four: one more, its oldest"
    );
    assert_eq!(topped_up.len(), 1, "the quiet one's are leased");
    let all_sending = [(busy.id, 10)];
    let none_left = DeliveryShare {
        per_endpoint: 10,
        in_flight: &all_sending,
    };
    assert!(
        store
            .claim_deliveries(at, lease, 10, &none_left)
            .await
            .unwrap()
            .is_empty(),
        "an endpoint with its whole share in flight gets none"
    );
    let one = store
        .claim_deliveries(at, lease, 1, &DeliveryShare::ANY)
        .await
        .unwrap();
    assert_eq!(to(&one, busy.id), [backlog[3].id], "the limit still holds");
    let rest = store
        .claim_deliveries(at, lease, 10, &DeliveryShare::ANY)
        .await
        .unwrap();
    assert_eq!(to(&rest, busy.id), [backlog[4].id]);
    assert_eq!(rest.len(), 1);
}

pub async fn outbox_purge_keeps_pending_and_recent(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    store
        .create_webhook_endpoint(&endpoint(a.id, &[]), 100, Effects::none())
        .await
        .unwrap();
    let at = now();
    let cut = at - Duration::days(30);
    let aged = |tenant: TenantId, days: i64| NewOutboxEvent {
        created_at: at - Duration::days(days),
        ..event(tenant, "meeting.created")
    };
    // Appended oldest first, as the clock writes them.
    let (delivered, failed, pending) = (aged(a.id, 60), aged(a.id, 59), aged(a.id, 58));
    let mut effects = Effects::none()
        .event(delivered.clone())
        .event(failed.clone())
        .event(pending.clone());
    for days in (40..45).rev() {
        effects = effects.event(aged(b.id, days));
    }
    let (recent_a, recent_b) = (aged(a.id, 1), aged(b.id, 0));
    effects = effects.event(recent_a.clone()).event(recent_b.clone());
    store.append_events(effects).await.unwrap();

    let lease = Duration::minutes(1);
    let jobs = store
        .claim_deliveries(at, lease, 10, &DeliveryShare::ANY)
        .await
        .unwrap();
    let delivery_of = |event: &NewOutboxEvent| {
        jobs.iter()
            .find(|j| j.event.id == event.id)
            .map(|j| j.delivery.id)
            .unwrap()
    };
    let done = DeliveryOutcome::Delivered { status_code: 200 };
    for event in [&delivered, &recent_a] {
        store
            .record_delivery(delivery_of(event), 1, &done, at)
            .await
            .unwrap();
    }
    let give_up = DeliveryOutcome::GiveUp {
        status_code: Some(500),
        error: "boom".into(),
    };
    store
        .record_delivery(delivery_of(&failed), 1, &give_up, at)
        .await
        .unwrap();

    // 2 finished in tenant a and 5 without deliveries in tenant b are due: 3 + 3 + 1.
    assert_eq!(store.purge_events(cut, 3).await.unwrap(), 3);
    assert_eq!(store.purge_events(cut, 3).await.unwrap(), 3);
    assert_eq!(store.purge_events(cut, 3).await.unwrap(), 1);
    assert_eq!(store.purge_events(cut, 3).await.unwrap(), 0);

    let ids = |events: Vec<OutboxEvent>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let left_a = ids(store.list_events(a.id, None, 100).await.unwrap());
    assert_eq!(
        HashSet::<_>::from_iter(left_a),
        HashSet::from([pending.id, recent_a.id]),
        "a pending delivery keeps its event; retention keeps the recent one"
    );
    let left_b = ids(store.list_events(b.id, None, 100).await.unwrap());
    assert_eq!(left_b, vec![recent_b.id]);
    let deliveries = store
        .list_deliveries(a.id, None, None, ListOrder::OldestFirst, 100)
        .await
        .unwrap();
    assert_eq!(
        HashSet::<_>::from_iter(deliveries.iter().map(|d| d.id)),
        HashSet::from([delivery_of(&pending), delivery_of(&recent_a)]),
        "finished deliveries went with their events"
    );

    // Once its last attempt is recorded, the kept event goes too; the delivery job never
    // meets a delivery whose event is gone.
    store
        .record_delivery(delivery_of(&pending), 1, &done, at)
        .await
        .unwrap();
    assert_eq!(store.purge_events(cut, 3).await.unwrap(), 1);
    assert_eq!(
        ids(store.list_events(a.id, None, 100).await.unwrap()),
        vec![recent_a.id]
    );
    assert_eq!(
        store
            .purge_events(at + Duration::seconds(1), 10)
            .await
            .unwrap(),
        2,
        "a cut after everything takes every finished event"
    );
}
