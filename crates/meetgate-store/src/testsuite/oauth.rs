use std::sync::Arc;

use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

pub async fn zoom_apps_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let own = new_zoom_app(Some(a.id));
    store
        .create_zoom_app(
            &own,
            Effects::none().audit(audit(Some(a.id), "zoom_app.created")),
        )
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&store, Some(a.id), "zoom_app.").await.len(),
        1
    );
    let shared = ZoomApp {
        app_type: AppType::ServerToServer,
        account_id: Some("acct-s2s".into()),
        webhook_secret: None,
        ..new_zoom_app(None)
    };
    store
        .create_zoom_app(&shared, Effects::none())
        .await
        .unwrap();
    let foreign = new_zoom_app(Some(b.id));
    store
        .create_zoom_app(&foreign, Effects::none())
        .await
        .unwrap();

    let got = store.get_zoom_app(own.id).await.unwrap().expect("app");
    assert_eq!(got.tenant_id, Some(a.id));
    assert_eq!(got.client_id, own.client_id);
    assert_eq!(got.client_secret, own.client_secret);
    assert_eq!(got.app_type, AppType::UserManaged);
    assert_eq!(got.scopes, own.scopes);
    assert_eq!(got.redirect_uri, own.redirect_uri);
    assert_eq!(got.webhook_secret, own.webhook_secret);
    assert_eq!(got.webhook_secret_next, None);
    assert_eq!(got.auth_base_url, own.auth_base_url);
    assert_eq!(got.api_base_url, own.api_base_url);
    assert_eq!(got.created_at, own.created_at);
    let got_shared = store.get_zoom_app(shared.id).await.unwrap().unwrap();
    assert_eq!(got_shared.tenant_id, None);
    assert_eq!(got_shared.app_type, AppType::ServerToServer);
    assert_eq!(got_shared.account_id.as_deref(), Some("acct-s2s"));
    assert!(got_shared.webhook_secret.is_none());
    assert!(
        store
            .get_zoom_app(ZoomAppId::new())
            .await
            .unwrap()
            .is_none()
    );

    let for_a: Vec<_> = store
        .list_zoom_apps_for(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|z| z.id)
        .collect();
    assert_eq!(
        for_a,
        vec![own.id, shared.id],
        "own and shared apps, oldest first"
    );
    let for_b: Vec<_> = store
        .list_zoom_apps_for(b.id)
        .await
        .unwrap()
        .into_iter()
        .map(|z| z.id)
        .collect();
    assert_eq!(for_b, vec![shared.id, foreign.id]);
    let all: Vec<_> = store
        .list_all_zoom_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|z| z.id)
        .collect();
    assert_eq!(all, vec![own.id, shared.id, foreign.id]);

    let by_client = store
        .find_zoom_apps_by_client_id(&own.client_id)
        .await
        .unwrap();
    assert_eq!(by_client.len(), 1);
    assert_eq!(by_client[0].id, own.id);
    assert!(
        store
            .find_zoom_apps_by_client_id("nope")
            .await
            .unwrap()
            .is_empty()
    );

    let rotated = ZoomApp {
        name: "Renamed".into(),
        client_secret: sealed("client-secret-2"),
        webhook_secret_next: Some(sealed("webhook-secret-2")),
        scopes: "meeting:write meeting:read".into(),
        ..own.clone()
    };
    store
        .update_zoom_app(
            &rotated,
            Effects::none().audit(audit(Some(a.id), "zoom_app.updated")),
        )
        .await
        .unwrap();
    let got = store.get_zoom_app(own.id).await.unwrap().unwrap();
    assert_eq!(got.name, "Renamed");
    assert_eq!(got.client_secret, sealed("client-secret-2"));
    assert_eq!(got.webhook_secret_next, Some(sealed("webhook-secret-2")));
    assert_eq!(got.scopes, "meeting:write meeting:read");
    assert_eq!(got.created_at, own.created_at);
    assert_eq!(
        audit_actions(&store, Some(a.id), "zoom_app.updated")
            .await
            .len(),
        1
    );

    // Another tenant cannot take over or edit the app by naming it.
    let hijack = ZoomApp {
        tenant_id: Some(b.id),
        name: "Hijacked".into(),
        ..own.clone()
    };
    let err = store
        .update_zoom_app(
            &hijack,
            Effects::none().audit(audit(Some(b.id), "zoom_app.updated")),
        )
        .await
        .unwrap_err();
    assert!(is_not_found(&err), "{err:?}");
    assert_eq!(
        store.get_zoom_app(own.id).await.unwrap().unwrap().name,
        "Renamed"
    );
    assert!(
        audit_actions(&store, Some(b.id), "zoom_app.")
            .await
            .is_empty()
    );
    let missing = new_zoom_app(Some(a.id));
    assert!(is_not_found(
        &store
            .update_zoom_app(&missing, Effects::none())
            .await
            .unwrap_err()
    ));
    // Nor can a tenant edit a shared app.
    let shared_edit = ZoomApp {
        tenant_id: Some(a.id),
        name: "Mine".into(),
        ..shared.clone()
    };
    assert!(is_not_found(
        &store
            .update_zoom_app(&shared_edit, Effects::none())
            .await
            .unwrap_err()
    ));
    let shared_ok = ZoomApp {
        name: "Shared renamed".into(),
        ..shared.clone()
    };
    store
        .update_zoom_app(&shared_ok, Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store.get_zoom_app(shared.id).await.unwrap().unwrap().name,
        "Shared renamed"
    );
}

pub fn connect_session_for(
    tenant: TenantId,
    end_user: EndUserId,
    app: ZoomAppId,
    at: OffsetDateTime,
) -> ConnectSession {
    ConnectSession {
        id: ConnectSessionId::new(),
        tenant_id: tenant,
        end_user_id: end_user,
        zoom_app_id: app,
        token_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        return_url: "https://host.example.test/done".into(),
        created_at: at,
        expires_at: at + Duration::minutes(30),
        completed_at: None,
    }
}

pub fn attempt_for(session: &ConnectSession, at: OffsetDateTime) -> OAuthAttempt {
    OAuthAttempt {
        id: OAuthAttemptId::new(),
        tenant_id: session.tenant_id,
        connect_session_id: session.id,
        end_user_id: session.end_user_id,
        zoom_app_id: session.zoom_app_id,
        state_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        browser_hash: vec![9; 32],
        pkce_verifier: sealed("verifier"),
        return_url: session.return_url.clone(),
        created_at: at,
        expires_at: at + Duration::minutes(10),
        consumed_at: None,
    }
}

pub async fn connect_sessions_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let user = end_user(&store, a.id).await;
    let app = zoom_app(&store, Some(a.id)).await;
    let at = now();
    let s = connect_session_for(a.id, user.id, app.id, at);
    store.create_connect_session(&s).await.unwrap();

    let found = store
        .find_connect_session(&s.token_hash)
        .await
        .unwrap()
        .expect("session");
    assert_eq!(found.id, s.id);
    assert_eq!(found.end_user_id, user.id);
    assert_eq!(found.zoom_app_id, app.id);
    assert_eq!(found.return_url, s.return_url);
    assert_eq!(found.expires_at, s.expires_at);
    assert!(found.completed_at.is_none());
    assert!(store.find_connect_session(b"nope").await.unwrap().is_none());
    assert_eq!(
        store
            .get_connect_session(a.id, s.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        s.id
    );
    assert!(
        store
            .get_connect_session(b.id, s.id)
            .await
            .unwrap()
            .is_none()
    );

    // The grant it brings marks it used, in the grant's own transaction.
    let done = at + Duration::minutes(2);
    let through_link = |at| NewGrant {
        connect_session: Some(s.id),
        ..grant(a.id, user.id, app.id, "zu-link", at)
    };
    let saved = store
        .save_grant(&through_link(done), &[], Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_connect_session(a.id, s.id)
            .await
            .unwrap()
            .unwrap()
            .completed_at,
        Some(done)
    );
    // A reconnect through the same link keeps the first time.
    store
        .save_grant(
            &NewGrant {
                id: saved.id,
                ..through_link(done + Duration::minutes(1))
            },
            &[],
            Effects::none(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_connect_session(a.id, s.id)
            .await
            .unwrap()
            .unwrap()
            .completed_at,
        Some(done)
    );
    // A link that is gone does not stop the grant: the tokens matter more.
    let gone = NewGrant {
        connect_session: Some(ConnectSessionId::new()),
        ..grant(
            a.id,
            end_user(&store, a.id).await.id,
            app.id,
            "zu-gone",
            done,
        )
    };
    store.save_grant(&gone, &[], Effects::none()).await.unwrap();
    // Nor does a grant through another tenant's or user's link mark that link.
    let b_user = end_user(&store, b.id).await;
    let b_app = zoom_app(&store, Some(b.id)).await;
    let b_link = connect_session_for(b.id, b_user.id, b_app.id, at);
    store.create_connect_session(&b_link).await.unwrap();
    let other = NewGrant {
        connect_session: Some(b_link.id),
        ..grant(
            a.id,
            end_user(&store, a.id).await.id,
            app.id,
            "zu-other",
            done,
        )
    };
    store
        .save_grant(&other, &[], Effects::none())
        .await
        .unwrap();
    assert!(
        store
            .get_connect_session(b.id, b_link.id)
            .await
            .unwrap()
            .unwrap()
            .completed_at
            .is_none()
    );

    // A session must name an end user of its own tenant.
    let other_user = end_user(&store, b.id).await;
    let cross = connect_session_for(a.id, other_user.id, app.id, at);
    assert!(store.create_connect_session(&cross).await.is_err());
    assert!(
        store
            .find_connect_session(&cross.token_hash)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn oauth_attempts_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let user = end_user(&store, a.id).await;
    let app = zoom_app(&store, Some(a.id)).await;
    let at = now();
    let s = connect_session_for(a.id, user.id, app.id, at);
    store.create_connect_session(&s).await.unwrap();
    let attempt = attempt_for(&s, at);
    store.create_oauth_attempt(&attempt).await.unwrap();
    assert!(is_conflict(
        &store.create_oauth_attempt(&attempt).await.unwrap_err()
    ));

    let consumed_at = at + Duration::seconds(30);
    match store
        .consume_oauth_attempt(&attempt.state_hash, consumed_at)
        .await
        .unwrap()
    {
        StateLookup::Consumed(got) => {
            assert_eq!(got.id, attempt.id);
            assert_eq!(got.tenant_id, a.id);
            assert_eq!(got.connect_session_id, s.id);
            assert_eq!(got.end_user_id, user.id);
            assert_eq!(got.zoom_app_id, app.id);
            assert_eq!(got.browser_hash, attempt.browser_hash);
            assert_eq!(got.pkce_verifier, attempt.pkce_verifier);
            assert_eq!(got.return_url, attempt.return_url);
            assert_eq!(got.expires_at, attempt.expires_at);
            assert_eq!(got.consumed_at, Some(consumed_at));
        }
        other => panic!("expected Consumed, got {other:?}"),
    }
    match store
        .consume_oauth_attempt(&attempt.state_hash, consumed_at)
        .await
        .unwrap()
    {
        StateLookup::AlreadyUsed(got) => {
            assert_eq!(got.id, attempt.id);
            assert_eq!(got.consumed_at, Some(consumed_at));
        }
        other => panic!("expected AlreadyUsed, got {other:?}"),
    }
    assert!(matches!(
        store
            .consume_oauth_attempt(b"unknown-state", consumed_at)
            .await
            .unwrap(),
        StateLookup::Unknown
    ));

    // Purge drops attempts that expired before the cut, used or not; later ones stay.
    let old = attempt_for(&s, at - Duration::hours(2));
    store.create_oauth_attempt(&old).await.unwrap();
    let purged = store
        .purge_oauth_attempts(at - Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert!(matches!(
        store
            .consume_oauth_attempt(&old.state_hash, at)
            .await
            .unwrap(),
        StateLookup::Unknown
    ));
    assert!(matches!(
        store
            .consume_oauth_attempt(&attempt.state_hash, at)
            .await
            .unwrap(),
        StateLookup::AlreadyUsed(_)
    ));
}

pub async fn oauth_state_consumed_once_concurrently(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let user = end_user(&store, a.id).await;
    let app = zoom_app(&store, Some(a.id)).await;
    let at = now();
    let s = connect_session_for(a.id, user.id, app.id, at);
    store.create_connect_session(&s).await.unwrap();
    let attempt = attempt_for(&s, at);
    store.create_oauth_attempt(&attempt).await.unwrap();

    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (store, barrier, state) = (store.clone(), barrier.clone(), attempt.state_hash.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.consume_oauth_attempt(&state, now()).await.unwrap()
        }));
    }
    let (mut consumed, mut used) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            StateLookup::Consumed(_) => consumed += 1,
            StateLookup::AlreadyUsed(_) => used += 1,
            StateLookup::Unknown => panic!("the state exists"),
        }
    }
    assert_eq!((consumed, used), (1, 19));
}
