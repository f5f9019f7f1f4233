use std::sync::Arc;

use serde_json::json;
use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

fn completion(held: &HeldKey, status: u16) -> CompleteIdempotency {
    CompleteIdempotency {
        held: held.clone(),
        response_status: status,
        response_body: sealed("response"),
        resource_id: Some("mtg_1".into()),
    }
}

pub async fn idempotency_claim_flow(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let at = now();
    let key = unique("key");
    let first = claim(a.id, &key, b"hash-1", at);
    match store.claim_idempotency_key(&first).await.unwrap() {
        IdempotencyClaim::Claimed(rec) => {
            assert_eq!(rec.id, first.id);
            assert_eq!(rec.tenant_id, a.id);
            assert_eq!(rec.key, key);
            assert_eq!(rec.request_hash, b"hash-1");
            assert_eq!(rec.state, IdempotencyState::InProgress);
            assert_eq!(rec.locked_at, at);
            assert_eq!(rec.created_at, at);
            assert_eq!(rec.expires_at, first.expires_at);
            assert!(rec.response_status.is_none() && rec.recovery.is_none());
        }
        other => panic!("expected Claimed, got {other:?}"),
    }
    let soon = at + Duration::seconds(1);
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &key, b"hash-1", soon))
            .await
            .unwrap(),
        IdempotencyClaim::InProgress
    ));
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &key, b"hash-2", soon))
            .await
            .unwrap(),
        IdempotencyClaim::Mismatch
    ));
    // The same key in another tenant is another record; a claim may carry its holder's note.
    let noted = NewIdempotencyClaim {
        recovery: Some(json!({ "target": "me" })),
        ..claim(b.id, &key, b"hash-2", soon)
    };
    match store.claim_idempotency_key(&noted).await.unwrap() {
        IdempotencyClaim::Claimed(rec) => {
            assert_eq!(rec.recovery, Some(json!({ "target": "me" })));
        }
        other => panic!("expected Claimed, got {other:?}"),
    }

    let held_a = held(&first);
    store
        .note_idempotency_progress(&held_a, &json!({"zoom_call": "started"}), soon)
        .await
        .unwrap();
    let no_such_key = HeldKey {
        key: "no-such-key".into(),
        ..held_a.clone()
    };
    let e = store
        .note_idempotency_progress(&no_such_key, &json!({}), soon)
        .await
        .unwrap_err();
    assert!(is_not_found(&e), "{e:?}");

    store
        .complete_idempotency(&completion(&held_a, 201))
        .await
        .unwrap();
    match store
        .claim_idempotency_key(&claim(a.id, &key, b"hash-1", soon))
        .await
        .unwrap()
    {
        IdempotencyClaim::Completed(rec) => {
            assert_eq!(rec.state, IdempotencyState::Completed);
            assert_eq!(rec.response_status, Some(201));
            assert_eq!(rec.response_body, Some(sealed("response")));
            assert_eq!(rec.resource_id.as_deref(), Some("mtg_1"));
            assert_eq!(rec.recovery, Some(json!({"zoom_call": "started"})));
            assert_eq!(rec.id, first.id);
        }
        other => panic!("expected Completed, got {other:?}"),
    }
    // A completed key with another body is still a mismatch.
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &key, b"hash-2", soon))
            .await
            .unwrap(),
        IdempotencyClaim::Mismatch
    ));
    // Neither a second completion (refused) nor a release touches a completed record.
    let e = store
        .complete_idempotency(&completion(&held_a, 500))
        .await
        .unwrap_err();
    assert!(is_precondition(&e, "idempotency record"), "{e:?}");
    store.release_idempotency_key(&held_a).await.unwrap();
    match store
        .claim_idempotency_key(&claim(a.id, &key, b"hash-1", soon))
        .await
        .unwrap()
    {
        IdempotencyClaim::Completed(rec) => assert_eq!(rec.response_status, Some(201)),
        other => panic!("expected Completed, got {other:?}"),
    }
    // b's record is untouched by a's completion.
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(b.id, &key, b"hash-2", soon))
            .await
            .unwrap(),
        IdempotencyClaim::InProgress
    ));

    // Releasing an in-progress claim frees the key for a retry.
    let key2 = unique("key");
    let second = claim(a.id, &key2, b"h", at);
    assert!(matches!(
        store.claim_idempotency_key(&second).await.unwrap(),
        IdempotencyClaim::Claimed(_)
    ));
    let elsewhere = HeldKey {
        tenant_id: b.id,
        ..held(&second)
    };
    store.release_idempotency_key(&elsewhere).await.unwrap(); // another tenant: no effect
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &key2, b"h", at))
            .await
            .unwrap(),
        IdempotencyClaim::InProgress
    ));
    store.release_idempotency_key(&held(&second)).await.unwrap();
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &key2, b"other", at))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed(_)
    ));
}

pub async fn idempotency_expired_and_purged(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let at = now();
    let key = unique("key");
    let short = NewIdempotencyClaim {
        expires_at: at + Duration::minutes(1),
        ..claim(a.id, &key, b"old", at)
    };
    assert!(matches!(
        store.claim_idempotency_key(&short).await.unwrap(),
        IdempotencyClaim::Claimed(_)
    ));
    store
        .complete_idempotency(&completion(&held(&short), 200))
        .await
        .unwrap();

    // Once expired the record counts as absent: a new request (even another body) claims it.
    let later = at + Duration::minutes(2);
    let fresh = claim(a.id, &key, b"new", later);
    match store.claim_idempotency_key(&fresh).await.unwrap() {
        IdempotencyClaim::Claimed(rec) => {
            assert_eq!(rec.id, fresh.id);
            assert_eq!(rec.request_hash, b"new");
            assert_eq!(rec.state, IdempotencyState::InProgress);
            assert!(rec.response_status.is_none() && rec.response_body.is_none());
            assert!(rec.resource_id.is_none() && rec.recovery.is_none());
            assert_eq!(rec.created_at, later);
            assert_eq!(rec.expires_at, fresh.expires_at);
        }
        other => panic!("expected Claimed, got {other:?}"),
    }

    let gone = unique("key");
    let expiring = NewIdempotencyClaim {
        expires_at: at + Duration::seconds(10),
        ..claim(a.id, &gone, b"x", at)
    };
    store.claim_idempotency_key(&expiring).await.unwrap();
    let kept = unique("key");
    store
        .claim_idempotency_key(&claim(a.id, &kept, b"x", at))
        .await
        .unwrap();
    assert_eq!(
        store
            .purge_idempotency(at + Duration::minutes(1))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &kept, b"x", at))
            .await
            .unwrap(),
        IdempotencyClaim::InProgress
    ));
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &gone, b"y", at))
            .await
            .unwrap(),
        IdempotencyClaim::Claimed(_)
    ));
}

pub async fn idempotency_concurrent_claims(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let key = unique("key");
    let at = now();
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, barrier, key) = (store.clone(), barrier.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .claim_idempotency_key(&claim(a.id, &key, b"same", at))
                .await
                .unwrap()
        }));
    }
    let (mut claimed, mut in_progress) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            IdempotencyClaim::Claimed(_) => claimed += 1,
            IdempotencyClaim::InProgress => in_progress += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((claimed, in_progress), (1, 19));
}

pub async fn idempotency_stale_takeover(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let key = unique("key");
    let t0 = now();
    let first = claim(a.id, &key, b"h", t0);
    store.claim_idempotency_key(&first).await.unwrap();
    let recovery = json!({"zoom_create_started_at": "t0", "topic_hash": "abc"});
    store
        .note_idempotency_progress(&held(&first), &recovery, t0 + Duration::seconds(5))
        .await
        .unwrap();

    // Within `stale_after` of the last progress note: still in progress.
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &key, b"h", t0 + Duration::seconds(20)))
            .await
            .unwrap(),
        IdempotencyClaim::InProgress
    ));
    // Another body is a mismatch even when stale.
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a.id, &key, b"other", t0 + Duration::minutes(5)))
            .await
            .unwrap(),
        IdempotencyClaim::Mismatch
    ));
    let t1 = t0 + Duration::minutes(1);
    let taker = claim(a.id, &key, b"h", t1);
    match store.claim_idempotency_key(&taker).await.unwrap() {
        IdempotencyClaim::Recovered(rec) => {
            assert_eq!(rec.id, first.id, "the taken-over record keeps its id");
            assert_eq!(rec.recovery, Some(recovery.clone()));
            assert_eq!(rec.locked_at, t1);
            assert_eq!(rec.created_at, t0);
            assert_eq!(rec.state, IdempotencyState::InProgress);
        }
        other => panic!("expected Recovered, got {other:?}"),
    }
    // The new owner holds it now.
    let in_progress = |at| {
        let store = store.clone();
        let key = key.clone();
        async move {
            matches!(
                store
                    .claim_idempotency_key(&claim(a.id, &key, b"h", at))
                    .await
                    .unwrap(),
                IdempotencyClaim::InProgress
            )
        }
    };
    assert!(in_progress(t1 + Duration::seconds(1)).await);

    // The first holder, alive after all, can no longer note, release or complete the key: a
    // late failure of the first attempt must not free the key its successor is working under.
    let late = t1 + Duration::seconds(2);
    let e = store
        .note_idempotency_progress(&held(&first), &json!({}), late)
        .await
        .unwrap_err();
    assert!(is_not_found(&e), "{e:?}");
    store.release_idempotency_key(&held(&first)).await.unwrap();
    assert!(in_progress(late).await, "the successor's claim survives");
    let e = store
        .complete_idempotency(&completion(&held(&first), 500))
        .await
        .unwrap_err();
    assert!(is_precondition(&e, "idempotency record"), "{e:?}");
    assert!(
        in_progress(late).await,
        "the first holder's answer is not stored"
    );
    // The successor completes it.
    store
        .note_idempotency_progress(&held(&taker), &json!({"step": 2}), late)
        .await
        .unwrap();
    store
        .complete_idempotency(&completion(&held(&taker), 201))
        .await
        .unwrap();
    match store
        .claim_idempotency_key(&claim(a.id, &key, b"h", late))
        .await
        .unwrap()
    {
        IdempotencyClaim::Completed(rec) => {
            assert_eq!(rec.response_status, Some(201));
            assert_eq!(rec.recovery, Some(json!({"step": 2})));
        }
        other => panic!("expected Completed, got {other:?}"),
    }
}

pub async fn idempotency_concurrent_takeover(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let key = unique("key");
    let t0 = now();
    store
        .claim_idempotency_key(&claim(a.id, &key, b"h", t0))
        .await
        .unwrap();
    let t1 = t0 + Duration::minutes(5);
    let barrier = Arc::new(tokio::sync::Barrier::new(12));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (store, barrier, key) = (store.clone(), barrier.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .claim_idempotency_key(&claim(a.id, &key, b"h", t1))
                .await
                .unwrap()
        }));
    }
    let (mut recovered, mut in_progress) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            IdempotencyClaim::Recovered(_) => recovered += 1,
            IdempotencyClaim::InProgress => in_progress += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        (recovered, in_progress),
        (1, 11),
        "exactly one taker wins a stale claim"
    );
}

pub async fn idempotency_completed_through_effects(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let key = unique("key");
    let at = now();
    let create = claim(t, &key, b"create", at);
    store.claim_idempotency_key(&create).await.unwrap();
    let new = NewMeeting {
        idempotency_key: Some(key.clone()),
        ..meeting_for(&c, None, None)
    };
    let m = store
        .insert_meeting(
            &new,
            Effects::none().idempotency(created_completion(&held(&create), new.id, "meeting json")),
        )
        .await
        .unwrap();
    match store
        .claim_idempotency_key(&claim(t, &key, b"create", at))
        .await
        .unwrap()
    {
        IdempotencyClaim::Completed(rec) => {
            assert_eq!(rec.response_status, Some(201));
            assert_eq!(rec.response_body, Some(sealed("meeting json")));
            assert_eq!(rec.resource_id, Some(m.id.to_string()));
        }
        other => panic!("expected Completed, got {other:?}"),
    }
}
