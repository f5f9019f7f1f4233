use std::sync::Arc;

use serde_json::json;
use time::Duration;

use super::fixtures::*;
use super::oauth::{attempt_for, connect_session_for};
use super::people::member;
use crate::models::*;
use crate::*;

pub async fn purges_remove_only_old_rows(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let at = now();
    let cut = at - Duration::days(30);
    let old = at - Duration::days(60);

    let m = member(t, &format!("{}@example.test", unique("m")));
    store.create_member(&m, Effects::none()).await.unwrap();
    let session = |created: OffsetDateTime| WebSession {
        id_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        tenant_id: t,
        member_id: m.id,
        csrf_token: "csrf".into(),
        created_at: created,
        last_seen_at: created,
        expires_at: created + Duration::days(7),
    };
    store.create_session(&session(old)).await.unwrap();
    let live = session(at);
    store.create_session(&live).await.unwrap();

    let cs = connect_session_for(t, c.end_user.id, c.app.id, at);
    store.create_connect_session(&cs).await.unwrap();
    store
        .create_oauth_attempt(&attempt_for(&cs, old))
        .await
        .unwrap();
    let recent = attempt_for(&cs, at);
    store.create_oauth_attempt(&recent).await.unwrap();
    // Expired connect links: one with nothing left goes, one with a live attempt stays.
    let expired_link = connect_session_for(t, c.end_user.id, c.app.id, old);
    store.create_connect_session(&expired_link).await.unwrap();
    let expired_in_use = connect_session_for(t, c.end_user.id, c.app.id, old);
    store.create_connect_session(&expired_in_use).await.unwrap();
    store
        .create_oauth_attempt(&attempt_for(&expired_in_use, at))
        .await
        .unwrap();

    let mut processed_old = inbox_item(c.app.id, old);
    processed_old.processed_at = Some(old);
    store.insert_inbox_item(&processed_old).await.unwrap();
    let mut processed_new = inbox_item(c.app.id, at);
    processed_new.processed_at = Some(at);
    store.insert_inbox_item(&processed_new).await.unwrap();
    store
        .insert_inbox_item(&inbox_item(c.app.id, old))
        .await
        .unwrap();

    let expired = NewIdempotencyClaim {
        expires_at: old,
        ..claim(t, &unique("k"), b"h", old)
    };
    store.claim_idempotency_key(&expired).await.unwrap();
    store
        .claim_idempotency_key(&claim(t, &unique("k"), b"h", at))
        .await
        .unwrap();

    store
        .append_audit(
            Effects::none()
                .audit(NewAuditEvent {
                    at: old,
                    ..audit(Some(t), "old.audit")
                })
                .audit(audit(Some(t), "new.audit")),
        )
        .await
        .unwrap();

    assert_eq!(store.purge_sessions(at, cut).await.unwrap(), 1);
    assert!(store.get_session(&live.id_hash).await.unwrap().is_some());
    assert_eq!(store.purge_oauth_attempts(cut).await.unwrap(), 1);
    assert_eq!(store.purge_connect_sessions(cut).await.unwrap(), 1);
    let found = |s: &ConnectSession| {
        let (store, hash) = (store.clone(), s.token_hash.clone());
        async move { store.find_connect_session(&hash).await.unwrap().is_some() }
    };
    assert!(!found(&expired_link).await);
    assert!(found(&expired_in_use).await && found(&cs).await);
    assert!(matches!(
        store
            .consume_oauth_attempt(&recent.state_hash, at)
            .await
            .unwrap(),
        StateLookup::Consumed(_)
    ));
    assert_eq!(store.purge_inbox(cut).await.unwrap(), 1);
    assert_eq!(
        store.stats().await.unwrap().inbox_pending,
        1,
        "unprocessed items stay"
    );
    assert_eq!(store.purge_idempotency(at).await.unwrap(), 1);
    assert_eq!(store.purge_audit(cut, 100).await.unwrap(), 1);
    assert_eq!(audit_actions(&store, Some(t), "").await, vec!["new.audit"]);
    // Purging again finds nothing.
    assert_eq!(store.purge_sessions(at, cut).await.unwrap(), 0);
    assert_eq!(store.purge_oauth_attempts(cut).await.unwrap(), 0);
    assert_eq!(store.purge_connect_sessions(cut).await.unwrap(), 0);
    assert_eq!(store.purge_inbox(cut).await.unwrap(), 0);
    assert_eq!(store.purge_idempotency(at).await.unwrap(), 0);
    assert_eq!(store.purge_audit(cut, 100).await.unwrap(), 0);
}

pub async fn store_basics_and_stats(store: Arc<dyn Store>) {
    assert!(matches!(store.backend(), "sqlite" | "postgres"));
    store.ping().await.unwrap();
    // Migrating an up-to-date database is a no-op.
    store.migrate().await.unwrap();
    let (in_use, idle) = store.pool_usage();
    assert!(
        in_use + idle >= 1,
        "the pool holds at least one connection after use"
    );

    let empty = store.stats().await.unwrap();
    assert!(empty.connections_by_state.is_empty());
    assert_eq!((empty.outbox_pending, empty.inbox_pending), (0, 0));
    assert!(empty.oldest_inbox_pending.is_none());

    let c = connected(&store).await;
    let d = connected_in(&store, &c.tenant).await;
    connected_in(&store, &c.tenant).await;
    store
        .end_connection(
            c.tenant.id,
            d.connection.id,
            ConnectionState::Revoked,
            "x",
            false,
            now(),
            Effects::none(),
        )
        .await
        .unwrap();
    store
        .create_webhook_endpoint(&endpoint(c.tenant.id, &[]), 100, Effects::none())
        .await
        .unwrap();
    store
        .append_events(
            Effects::none()
                .event(event(c.tenant.id, "a"))
                .event(event(c.tenant.id, "b")),
        )
        .await
        .unwrap();
    let at = now();
    let oldest = at - Duration::minutes(3);
    store
        .insert_inbox_item(&inbox_item(c.app.id, oldest))
        .await
        .unwrap();
    store
        .insert_inbox_item(&inbox_item(c.app.id, at))
        .await
        .unwrap();
    let mut done = inbox_item(c.app.id, at - Duration::hours(1));
    done.processed_at = Some(at);
    store.insert_inbox_item(&done).await.unwrap();

    let stats = store.stats().await.unwrap();
    let mut by_state = stats.connections_by_state.clone();
    by_state.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        by_state,
        vec![
            (ConnectionState::Connected, 2),
            (ConnectionState::Revoked, 1)
        ]
    );
    assert_eq!(stats.outbox_pending, 2);
    assert_eq!(stats.inbox_pending, 2);
    assert_eq!(stats.oldest_inbox_pending, Some(oldest));
}

/// Every tenant-scoped call, made with another tenant's id, behaves as if the row were missing
/// and changes nothing.
pub async fn tenant_isolation_everywhere(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let a = c.tenant.id;
    let b = tenant(&store).await.id;
    let at = now();

    let m = member(a, &format!("{}@example.test", unique("m")));
    store.create_member(&m, Effects::none()).await.unwrap();
    let session = WebSession {
        id_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        tenant_id: a,
        member_id: m.id,
        csrf_token: "csrf".into(),
        created_at: at,
        last_seen_at: at,
        expires_at: at + Duration::hours(1),
    };
    store.create_session(&session).await.unwrap();
    let key = ApiKey {
        id: ApiKeyId::new(),
        tenant_id: a,
        lookup: unique("mg"),
        secret_hash: vec![1],
        label: "k".into(),
        environment: "test".into(),
        created_at: at,
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_api_key(&key, 10, Effects::none())
        .await
        .unwrap();
    let inv = Invitation {
        id: InvitationId::new(),
        tenant_id: a,
        email: "inv@example.test".into(),
        role: MemberRole::Clinician,
        token_hash: vec![4, 2],
        created_by: None,
        created_at: at,
        expires_at: at + Duration::days(1),
        used_at: None,
        resets_member: None,
    };
    store
        .create_invitation(&inv, Effects::none())
        .await
        .unwrap();
    let cs = connect_session_for(a, c.end_user.id, c.app.id, at);
    store.create_connect_session(&cs).await.unwrap();
    let meeting = new_meeting(&store, &c, Some(at + Duration::hours(1)), Some(30)).await;
    let idem = unique("idem");
    let idem_claim = claim(a, &idem, b"h", at);
    store.claim_idempotency_key(&idem_claim).await.unwrap();
    let ep = endpoint(a, &[]);
    store
        .create_webhook_endpoint(&ep, 100, Effects::none())
        .await
        .unwrap();
    store
        .append_events(Effects::none().event(event(a, "meeting.created")))
        .await
        .unwrap();
    store
        .append_audit(Effects::none().audit(audit(Some(a), "a.only")))
        .await
        .unwrap();

    let fx = || {
        Effects::none()
            .audit(audit(Some(b), "b.leak"))
            .event(event(b, "b.leak"))
    };

    // Reads.
    assert!(store.list_api_keys(b).await.unwrap().is_empty());
    assert!(store.get_member(b, m.id).await.unwrap().is_none());
    assert!(store.list_members(b).await.unwrap().is_empty());
    assert!(store.list_invitations(b).await.unwrap().is_empty());
    assert!(
        store
            .get_end_user(b, c.end_user.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_end_user(b, &c.end_user.external_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get_connect_session(b, cs.id).await.unwrap().is_none());
    assert!(
        store
            .get_connection(b, c.connection.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_connection(b, c.end_user.id, c.app.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_user_connections(b, c.end_user.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_connections(b, None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get_meeting(b, meeting.id).await.unwrap().is_none());
    let q = MeetingQuery {
        end_user_id: None,
        window: MeetingWindow::All,
        include_deleted: true,
        after: None,
        ids: None,
        limit: 100,
        now: at,
    };
    assert!(store.list_meetings(b, &q).await.unwrap().is_empty());
    assert!(store.list_webhook_endpoints(b).await.unwrap().is_empty());
    assert!(
        store
            .get_webhook_endpoint(b, ep.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.list_events(b, None, 100).await.unwrap().is_empty());
    assert!(
        store
            .list_deliveries(b, None, None, ListOrder::OldestFirst, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_deliveries(b, Some(ep.id), None, ListOrder::OldestFirst, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let audit_b = AuditQuery {
        tenant_id: Some(b),
        limit: 100,
        ..AuditQuery::default()
    };
    assert!(store.list_audit(&audit_b).await.unwrap().is_empty());
    assert!(
        !store
            .list_zoom_apps_for(b)
            .await
            .unwrap()
            .iter()
            .any(|z| z.id == c.app.id)
    );

    // Writes.
    assert!(
        store
            .update_tenant_settings(b, &json!({"x": 1}), Effects::none())
            .await
            .is_ok()
    );
    assert!(!store.revoke_api_key(b, key.id, at, fx()).await.unwrap());
    assert!(
        !store
            .set_member_role(b, m.id, MemberRole::Admin, fx())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_member_disabled(b, m.id, Some(at), fx())
            .await
            .unwrap()
    );
    assert!(!store.set_member_password(b, m.id, "x", fx()).await.unwrap());
    store.delete_member_sessions(b, m.id).await.unwrap();
    let foreign_member = member(b, &format!("{}@example.test", unique("f")));
    assert!(
        !store
            .accept_invitation(inv.id, &foreign_member, at, fx())
            .await
            .unwrap()
    );
    assert!(
        store
            .end_connection(
                b,
                c.connection.id,
                ConnectionState::Revoked,
                "x",
                true,
                at,
                fx()
            )
            .await
            .unwrap()
            .is_none()
    );
    let upd = MeetingUpdate {
        start_time: None,
        duration_minutes: None,
        timezone: None,
        details: sealed("x"),
        replaces: sealed("x"),
        now: at,
    };
    assert!(
        store
            .update_meeting(b, meeting.id, &upd, fx())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .mark_meeting_deleted(b, meeting.id, at, fx())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .set_meeting_status(b, meeting.id, MeetingStatus::Ended, at, fx())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .purge_meeting_details(b, c.connection.id, &sealed("x"), None, at)
            .await
            .unwrap(),
        0
    );
    // a's key and a's holder, under tenant b.
    let held_as_b = HeldKey {
        tenant_id: b,
        ..held(&idem_claim)
    };
    assert!(is_not_found(
        &store
            .note_idempotency_progress(&held_as_b, &json!({}), at)
            .await
            .unwrap_err()
    ));
    store.release_idempotency_key(&held_as_b).await.unwrap();
    store
        .complete_idempotency(&CompleteIdempotency {
            held: held_as_b,
            response_status: 200,
            response_body: sealed("x"),
            resource_id: None,
        })
        .await
        .unwrap_err();
    assert!(
        !store
            .delete_webhook_endpoint(b, ep.id, at, fx())
            .await
            .unwrap()
    );

    // Nothing of a changed, and nothing was written for b.
    assert!(
        store
            .find_api_key(&key.lookup)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let m_now = store.get_member(a, m.id).await.unwrap().unwrap();
    assert_eq!(
        (m_now.role, m_now.disabled_at, m_now.password_hash),
        (m.role, None, m.password_hash)
    );
    assert!(store.get_session(&session.id_hash).await.unwrap().is_some());
    assert!(
        store
            .find_invitation(&inv.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    let conn = store
        .get_connection(a, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.state, ConnectionState::Connected);
    assert_eq!(conn.version, 1);
    assert!(conn.zoom_email.is_some());
    let mt = store.get_meeting(a, meeting.id).await.unwrap().unwrap();
    assert_eq!(
        (mt.status, mt.details.clone()),
        (MeetingStatus::Waiting, meeting.details.clone())
    );
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(a, &idem, b"h", at))
            .await
            .unwrap(),
        IdempotencyClaim::InProgress
    ));
    assert!(
        store
            .get_webhook_endpoint(a, ep.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at
            .is_none()
    );
    assert_eq!(
        store
            .list_deliveries(a, None, None, ListOrder::OldestFirst, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(audit_actions(&store, Some(b), "b.").await.is_empty());
    assert!(store.list_events(b, None, 100).await.unwrap().is_empty());
    assert!(store.get_tenant(a).await.unwrap().unwrap().settings != json!({"x": 1}));
}
