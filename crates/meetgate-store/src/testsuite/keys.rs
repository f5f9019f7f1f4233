use std::sync::Arc;

use time::Duration;

use super::fixtures::*;
use super::oauth::{attempt_for, connect_session_for};
use crate::models::*;
use crate::*;

pub async fn key_fingerprints_recorded(store: Arc<dyn Store>) {
    assert!(store.list_key_fingerprints().await.unwrap().is_empty());
    let at = now();
    let k1 = KeyFingerprint {
        key_id: "k1".into(),
        fingerprint: "fp-1".into(),
        created_at: at,
    };
    let k2 = KeyFingerprint {
        key_id: "k2".into(),
        fingerprint: "fp-2".into(),
        created_at: at + Duration::seconds(1),
    };
    store.record_key_fingerprint(&k1).await.unwrap();
    store.record_key_fingerprint(&k2).await.unwrap();
    // Recording the same key again is fine; another fingerprint under its id is not.
    store.record_key_fingerprint(&k1).await.unwrap();
    let clash = KeyFingerprint {
        fingerprint: "fp-evil".into(),
        ..k1.clone()
    };
    let e = store.record_key_fingerprint(&clash).await.unwrap_err();
    assert!(is_conflict(&e), "{e:?}");
    assert_eq!(store.list_key_fingerprints().await.unwrap(), vec![k1, k2]);
}

pub async fn sealed_cells_every_column(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let at = now();
    let app = ZoomApp {
        webhook_secret_next: Some(sealed("next")),
        ..new_zoom_app(Some(t))
    };
    store.create_zoom_app(&app, Effects::none()).await.unwrap();
    let shared = zoom_app(&store, None).await;
    let session = connect_session_for(t, c.end_user.id, c.app.id, at);
    store.create_connect_session(&session).await.unwrap();
    let attempt = attempt_for(&session, at);
    store.create_oauth_attempt(&attempt).await.unwrap();
    let meeting = new_meeting(&store, &c, None, None).await;
    let key = unique("key");
    let new_claim = claim(t, &key, b"h", at);
    let claimed = match store.claim_idempotency_key(&new_claim).await.unwrap() {
        IdempotencyClaim::Claimed(rec) => rec,
        other => panic!("{other:?}"),
    };
    store
        .complete_idempotency(&CompleteIdempotency {
            held: held(&new_claim),
            response_status: 200,
            response_body: sealed("response"),
            resource_id: None,
        })
        .await
        .unwrap();
    let inbox = inbox_item(shared.id, at);
    store.insert_inbox_item(&inbox).await.unwrap();
    let ep = endpoint(t, &[]);
    store
        .create_webhook_endpoint(&ep, 100, Effects::none())
        .await
        .unwrap();
    let rotated = SecretRotation {
        expected: ep.secret.clone(),
        secret: sealed("endpoint-secret-2"),
        previous: Some(sealed("endpoint-secret-previous")),
        previous_expires_at: Some(at + time::Duration::hours(1)),
    };
    assert!(
        store
            .rotate_webhook_endpoint_secret(t, ep.id, &rotated, Effects::none())
            .await
            .unwrap()
    );
    // An in-progress idempotency record has no response: it is not a cell.
    store
        .claim_idempotency_key(&claim(t, &unique("key"), b"h", at))
        .await
        .unwrap();

    let expect: Vec<(SealedColumn, String, Option<TenantId>, SealedValue)> = vec![
        (
            SealedColumn::ZoomAppClientSecret,
            app.id.to_string(),
            Some(t),
            app.client_secret.clone(),
        ),
        (
            SealedColumn::ZoomAppClientSecret,
            shared.id.to_string(),
            None,
            shared.client_secret.clone(),
        ),
        (
            SealedColumn::ZoomAppWebhookSecret,
            app.id.to_string(),
            Some(t),
            sealed("webhook-secret"),
        ),
        (
            SealedColumn::ZoomAppWebhookSecretNext,
            app.id.to_string(),
            Some(t),
            sealed("next"),
        ),
        (
            SealedColumn::ConnectionAccessToken,
            c.connection.id.to_string(),
            Some(t),
            sealed("access-1"),
        ),
        (
            SealedColumn::ConnectionRefreshToken,
            c.connection.id.to_string(),
            Some(t),
            sealed("refresh-1"),
        ),
        (
            SealedColumn::OAuthAttemptVerifier,
            attempt.id.to_string(),
            Some(t),
            attempt.pkce_verifier.clone(),
        ),
        (
            SealedColumn::MeetingDetails,
            meeting.id.to_string(),
            Some(t),
            meeting.details.clone(),
        ),
        (
            SealedColumn::IdempotencyResponse,
            claimed.id.to_string(),
            Some(t),
            sealed("response"),
        ),
        (
            SealedColumn::InboxPayload,
            inbox.id.to_string(),
            None,
            inbox.payload.clone(),
        ),
        (
            SealedColumn::WebhookEndpointSecret,
            ep.id.to_string(),
            Some(t),
            rotated.secret.clone(),
        ),
        (
            SealedColumn::WebhookEndpointPreviousSecret,
            ep.id.to_string(),
            Some(t),
            sealed("endpoint-secret-previous"),
        ),
    ];
    for column in SealedColumn::ALL {
        let cells = store.sealed_cells(column, None, 100).await.unwrap();
        let wanted: Vec<_> = expect.iter().filter(|e| e.0 == column).collect();
        for (_, row_id, tenant, value) in &wanted {
            let cell = cells
                .iter()
                .find(|c| c.row_id == *row_id)
                .unwrap_or_else(|| panic!("{column:?} has a cell for row {row_id}"));
            assert_eq!(cell.column, column);
            assert_eq!(cell.tenant_id, *tenant, "{column:?}");
            assert_eq!(&cell.value, value, "{column:?}");
        }
        let mut ids: Vec<_> = cells.iter().map(|c| c.row_id.clone()).collect();
        let listed = ids.clone();
        ids.sort();
        assert_eq!(ids, listed, "{column:?} cells come in row-id order");
        ids.dedup();
        assert_eq!(ids.len(), listed.len());
    }
    // Null cells are skipped: only the one app with a next webhook secret has one.
    assert_eq!(
        store
            .sealed_cells(SealedColumn::ZoomAppWebhookSecretNext, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .sealed_cells(SealedColumn::IdempotencyResponse, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // Every column can be replaced (compare-and-swap on the old value).
    for (column, row_id, _, value) in &expect {
        let new = SealedValue([b"rotated:".as_slice(), &value.0].concat());
        assert!(
            !store
                .replace_sealed_cell(*column, row_id, &sealed("not the value"), &new)
                .await
                .unwrap(),
            "{column:?}: a stale old value does not replace"
        );
        assert!(
            store
                .replace_sealed_cell(*column, row_id, value, &new)
                .await
                .unwrap(),
            "{column:?}"
        );
        let cells = store.sealed_cells(*column, None, 100).await.unwrap();
        assert_eq!(
            cells.iter().find(|c| c.row_id == *row_id).unwrap().value,
            new,
            "{column:?}"
        );
        assert!(
            !store
                .replace_sealed_cell(*column, row_id, value, &new)
                .await
                .unwrap()
        );
    }
    // The replacements are what the models read back.
    let row = store
        .get_connection(t, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.access_token.unwrap().0,
        [b"rotated:".as_slice(), &sealed("access-1").0].concat()
    );
    let got_app = store.get_zoom_app(app.id).await.unwrap().unwrap();
    assert_eq!(
        got_app.webhook_secret_next.unwrap().0,
        [b"rotated:".as_slice(), &sealed("next").0].concat()
    );
    assert!(
        !store
            .replace_sealed_cell(
                SealedColumn::MeetingDetails,
                &MeetingId::new().to_string(),
                &meeting.details,
                &sealed("x")
            )
            .await
            .unwrap(),
        "an unknown row is not replaced"
    );
}

pub async fn sealed_cells_paging_and_replace(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(new_meeting(&store, &c, None, None).await.id.to_string());
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .sealed_cells(SealedColumn::MeetingDetails, after.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.row_id.clone());
        seen.extend(page.into_iter().map(|c| c.row_id));
    }
    assert_eq!(seen, ids);
    // A cursor in upper case still pages correctly.
    let upper = ids[1].to_uppercase();
    let rest = store
        .sealed_cells(SealedColumn::MeetingDetails, Some(&upper), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|c| c.row_id.clone()).collect::<Vec<_>>(),
        ids[2..].to_vec()
    );

    // A concurrent write wins over rotation: the cell changed, so replace reports false.
    let m = store
        .get_meeting(c.tenant.id, ids[0].parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let update = MeetingUpdate {
        start_time: None,
        duration_minutes: None,
        timezone: None,
        details: sealed("edited meanwhile"),
        replaces: m.details.clone(),
        now: now(),
    };
    store
        .update_meeting(c.tenant.id, m.id, &update, Effects::none())
        .await
        .unwrap();
    assert!(
        !store
            .replace_sealed_cell(
                SealedColumn::MeetingDetails,
                &ids[0],
                &m.details,
                &sealed("rotated")
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_meeting(c.tenant.id, m.id)
            .await
            .unwrap()
            .unwrap()
            .details,
        sealed("edited meanwhile")
    );
}
