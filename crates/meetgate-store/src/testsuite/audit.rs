use std::sync::Arc;

use serde_json::json;
use time::Duration;

use super::fixtures::*;
use super::people::member;
use crate::models::*;
use crate::*;

pub async fn audit_list_filters_and_cursor(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let t0 = now() - Duration::hours(1);
    let entry = |tenant, action: &str, actor: &str, object: Option<&str>, minutes| NewAuditEvent {
        at: t0 + Duration::minutes(minutes),
        actor_id: Some(actor.into()),
        object_id: object.map(Into::into),
        ..audit(tenant, action)
    };
    let e1 = entry(Some(a.id), "meeting.created", "key-1", Some("m1"), 1);
    let e2 = entry(Some(a.id), "meeting.deleted", "key-1", Some("m1"), 2);
    let e3 = entry(Some(a.id), "member.created", "admin-1", Some("u1"), 3);
    let e4 = entry(Some(b.id), "meeting.created", "key-2", Some("m2"), 4);
    let e5 = entry(None, "operator.keyring_rotated", "root", None, 5);
    let e6 = entry(Some(a.id), "meetingroom.odd", "key-1", None, 6);
    store
        .append_audit(
            Effects::none()
                .audit(e1.clone())
                .audit(e2.clone())
                .audit(e3.clone()),
        )
        .await
        .unwrap();
    store
        .append_audit(Effects::none().audit(e4.clone()))
        .await
        .unwrap();
    store
        .append_audit(Effects::none().audit(e5.clone()).audit(e6.clone()))
        .await
        .unwrap();
    store.append_audit(Effects::none()).await.unwrap();

    let ids = |v: Vec<AuditEvent>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            tenant_id: Some(a.id),
            limit: 100,
            ..AuditQuery::default()
        };
        f(&mut q);
        q
    };

    let all_a = store.list_audit(&q(&|_| {})).await.unwrap();
    assert_eq!(ids(all_a.clone()), vec![e1.id, e2.id, e3.id, e6.id]);
    // Newest first, a page at a time going back.
    let newest = |before: Option<AuditEventId>| {
        q(&move |q| {
            q.newest_first = true;
            q.before = before;
            q.limit = 2;
        })
    };
    assert_eq!(
        ids(store.list_audit(&newest(None)).await.unwrap()),
        vec![e6.id, e3.id]
    );
    assert_eq!(
        ids(store.list_audit(&newest(Some(e3.id))).await.unwrap()),
        vec![e2.id, e1.id]
    );
    let first = &all_a[0];
    assert_eq!(first.tenant_id, Some(a.id));
    assert_eq!(first.at, e1.at);
    assert_eq!(first.actor_kind, "system");
    assert_eq!(first.actor_id.as_deref(), Some("key-1"));
    assert_eq!(first.action, "meeting.created");
    assert_eq!(first.object_kind, "test");
    assert_eq!(first.object_id.as_deref(), Some("m1"));
    assert_eq!(first.outcome, "success");
    assert_eq!(first.request_id.as_deref(), Some("req-1"));
    assert_eq!(first.details, json!({"n": 1}));

    assert_eq!(
        ids(store
            .list_audit(&q(&|q| q.action_prefix = Some("meeting.".into())))
            .await
            .unwrap()),
        vec![e1.id, e2.id],
        "the prefix is literal: `meeting.` does not match `meetingroom.`"
    );
    assert_eq!(
        ids(store
            .list_audit(&q(&|q| q.action_prefix = Some("meeting".into())))
            .await
            .unwrap()),
        vec![e1.id, e2.id, e6.id]
    );
    assert!(
        store
            .list_audit(&q(&|q| q.action_prefix = Some("meeting%".into())))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_audit(&q(&|q| q.action_prefix = Some("meeting_created".into())))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(store
            .list_audit(&q(&|q| q.object_id = Some("m1".into())))
            .await
            .unwrap()),
        vec![e1.id, e2.id]
    );
    assert_eq!(
        ids(store
            .list_audit(&q(&|q| q.actor_id = Some("admin-1".into())))
            .await
            .unwrap()),
        vec![e3.id]
    );
    assert_eq!(
        ids(store
            .list_audit(&q(&|q| {
                q.since = Some(e2.at);
                q.until = Some(e6.at);
            }))
            .await
            .unwrap()),
        vec![e2.id, e3.id],
        "since inclusive, until exclusive"
    );
    assert_eq!(
        ids(store
            .list_audit(&q(&|q| q.after = Some(e2.id)))
            .await
            .unwrap()),
        vec![e3.id, e6.id]
    );
    assert_eq!(
        ids(store.list_audit(&q(&|q| q.limit = 2)).await.unwrap()),
        vec![e1.id, e2.id]
    );
    assert_eq!(
        ids(store
            .list_audit(&q(&|q| {
                q.actor_id = Some("key-1".into());
                q.action_prefix = Some("meeting.".into());
                q.after = Some(e1.id);
            }))
            .await
            .unwrap()),
        vec![e2.id]
    );
    assert_eq!(
        ids(store
            .list_audit(&q(&|q| q.tenant_id = Some(b.id)))
            .await
            .unwrap()),
        vec![e4.id]
    );

    // Operator-wide: every tenant and the deployment's own entries, paged by cursor.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_audit(&AuditQuery {
                after,
                limit: 2,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(ids(page));
    }
    for e in [&e1, &e2, &e3, &e4, &e5, &e6] {
        assert!(seen.contains(&e.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
}

pub async fn audit_purge(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let at = now();
    let old = NewAuditEvent {
        at: at - Duration::days(400),
        ..audit(Some(a.id), "old.entry")
    };
    let edge = NewAuditEvent {
        at: at - Duration::days(365),
        ..audit(Some(a.id), "edge.entry")
    };
    let fresh = audit(Some(a.id), "fresh.entry");
    store
        .append_audit(Effects::none().audit(old).audit(edge).audit(fresh))
        .await
        .unwrap();
    let older = NewAuditEvent {
        at: at - Duration::days(500),
        ..audit(Some(a.id), "older.entry")
    };
    store
        .append_audit(Effects::none().audit(older))
        .await
        .unwrap();
    // A batch at a time, oldest first.
    let cut = at - Duration::days(365);
    assert_eq!(store.purge_audit(cut, 1).await.unwrap(), 1);
    let left = audit_actions(&store, Some(a.id), "").await;
    assert_eq!(left, vec!["old.entry", "edge.entry", "fresh.entry"]);
    assert_eq!(store.purge_audit(cut, 1).await.unwrap(), 1);
    assert_eq!(store.purge_audit(cut, 1).await.unwrap(), 0);
    let left = audit_actions(&store, Some(a.id), "").await;
    assert_eq!(left, vec!["edge.entry", "fresh.entry"]);
}

pub async fn effects_not_written_when_change_fails(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let ep = endpoint(t, &[]);
    store
        .create_webhook_endpoint(&ep, 100, Effects::none())
        .await
        .unwrap();
    let key = unique("idem");
    let held = claim_new_key(&store, t, &key, now()).await;
    let fx = || {
        Effects::none()
            .audit(audit(Some(t), "doomed.change"))
            .event(event(t, "doomed.change"))
            .idempotency(Some(CompleteIdempotency {
                held: held.clone(),
                response_status: 201,
                response_body: sealed("x"),
                resource_id: None,
            }))
    };
    let assert_nothing_written = |store: Arc<dyn Store>, key: String| async move {
        assert!(audit_actions(&store, Some(t), "doomed.").await.is_empty());
        assert!(events(&store, t).await.is_empty());
        assert!(
            store
                .list_deliveries(t, None, None, ListOrder::OldestFirst, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            store
                .claim_idempotency_key(&claim(t, &key, b"h", now()))
                .await
                .unwrap(),
            IdempotencyClaim::InProgress
        ));
    };

    // A uniqueness conflict.
    let m = member(t, &format!("{}@example.test", unique("m")));
    store.create_member(&m, Effects::none()).await.unwrap();
    let clash = member(t, &m.email);
    assert!(is_conflict(
        &store.create_member(&clash, fx()).await.unwrap_err()
    ));
    assert_nothing_written(store.clone(), key.clone()).await;

    // A lost compare-and-swap.
    let mut lock = store.lock_for_refresh(c.connection.id).await.unwrap();
    let e = lock
        .mark_dead(99, ConnectionState::Revoked, "x", now(), fx())
        .await
        .unwrap_err();
    assert!(is_version_conflict(&e));
    lock.release().await.unwrap();
    assert_nothing_written(store.clone(), key.clone()).await;

    // A missing row.
    let e = store
        .update_tenant_settings(TenantId::new(), &json!({}), fx())
        .await
        .unwrap_err();
    assert!(is_not_found(&e));
    assert_nothing_written(store.clone(), key.clone()).await;

    // And the same effects on a change that succeeds are all written, fanned out.
    store
        .set_member_role(t, m.id, MemberRole::Admin, fx())
        .await
        .unwrap();
    assert_eq!(audit_actions(&store, Some(t), "doomed.").await.len(), 1);
    assert_eq!(events(&store, t).await.len(), 1);
    assert_eq!(
        store
            .list_deliveries(t, Some(ep.id), None, ListOrder::OldestFirst, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(t, &key, b"h", now()))
            .await
            .unwrap(),
        IdempotencyClaim::Completed(_)
    ));
}

pub async fn change_not_written_when_effects_fail(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let existing = audit(Some(t), "first.entry");
    store
        .append_audit(Effects::none().audit(existing.clone()))
        .await
        .unwrap();
    // An effect that cannot be written (a duplicate audit id) undoes the change it came with.
    let dup = || {
        Effects::none()
            .event(event(t, "never.sent"))
            .audit(existing.clone())
    };

    let new_tenant = NewTenant {
        id: TenantId::new(),
        name: "x".into(),
        slug: unique("never"),
        settings: json!({}),
        created_at: now(),
    };
    assert!(store.create_tenant(&new_tenant, dup()).await.is_err());
    assert!(store.get_tenant(new_tenant.id).await.unwrap().is_none());

    let new = meeting_for(&c, None, None);
    assert!(store.insert_meeting(&new, dup()).await.is_err());
    assert!(store.get_meeting(t, new.id).await.unwrap().is_none());

    let mut lock = store.lock_for_refresh(c.connection.id).await.unwrap();
    let at = now();
    let tokens = RefreshedTokens {
        access_token: sealed("never"),
        access_expires_at: at,
        refresh_token: Some(sealed("never")),
        scopes: None,
        api_url: None,
        next_refresh_at: None,
    };
    assert!(lock.store_refreshed(1, &tokens, at, dup()).await.is_err());
    let row = lock.reread().await.unwrap().unwrap();
    assert_eq!(row.version, 1);
    assert_eq!(row.refresh_token, c.connection.refresh_token);
    lock.release().await.unwrap();

    let g = NewGrant {
        id: c.connection.id,
        ..grant(t, c.end_user.id, c.app.id, "zu-new", at)
    };
    assert!(store.save_grant(&g, &[], dup()).await.is_err());
    assert_eq!(
        store
            .get_connection(t, c.connection.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    assert!(events(&store, t).await.is_empty());
    assert_eq!(
        audit_actions(&store, Some(t), "").await,
        vec!["first.entry"]
    );
}

pub async fn effects_skipped_when_nothing_changed(store: Arc<dyn Store>) {
    // Calls that report "nothing to do" (false / None) write none of their effects.
    let c = connected(&store).await;
    let t = c.tenant.id;
    let fx = || {
        Effects::none()
            .audit(audit(Some(t), "noop.change"))
            .event(event(t, "noop.change"))
    };
    let at = now();
    assert!(
        !store
            .revoke_api_key(t, ApiKeyId::new(), at, fx())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_member_role(t, MemberId::new(), MemberRole::Admin, fx())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_member_disabled(t, MemberId::new(), None, fx())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_member_password(t, MemberId::new(), "h", fx())
            .await
            .unwrap()
    );
    let m = member(t, &format!("{}@example.test", unique("m")));
    assert!(
        !store
            .accept_invitation(InvitationId::new(), &m, at, fx())
            .await
            .unwrap()
    );
    assert!(
        store
            .end_connection(
                t,
                ConnectionId::new(),
                ConnectionState::Revoked,
                "x",
                false,
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
            .update_meeting(t, MeetingId::new(), &upd, fx())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .mark_meeting_deleted(t, MeetingId::new(), at, fx())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .set_meeting_status(t, MeetingId::new(), MeetingStatus::Ended, at, fx())
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_webhook_endpoint(t, WebhookEndpointId::new(), at, fx())
            .await
            .unwrap()
    );
    assert!(audit_actions(&store, Some(t), "noop.").await.is_empty());
    assert!(events(&store, t).await.is_empty());
}

/// More audit entries and events than one multi-row INSERT takes (500), and the usual small
/// effects with an idempotency completion: every row is written and every event fans out.
pub async fn effects_of_any_size_are_all_written(store: Arc<dyn Store>) {
    let t = tenant(&store).await.id;
    let ep = endpoint(t, &[]);
    store
        .create_webhook_endpoint(&ep, 100, Effects::none())
        .await
        .unwrap();
    let mut bulk = Effects::none();
    for _ in 0..601 {
        bulk = bulk
            .audit(audit(Some(t), "bulk.audited"))
            .event(event(t, "bulk.event"));
    }
    store.append_events(bulk).await.unwrap();
    assert_eq!(audit_actions(&store, Some(t), "bulk.").await.len(), 601);
    assert_eq!(events(&store, t).await.len(), 601);
    let deliveries = store
        .list_deliveries(t, Some(ep.id), None, ListOrder::OldestFirst, 1000)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 601);

    // Small: one of each, plus an audit entry of no tenant.
    store
        .append_events(
            Effects::none()
                .audit(audit(Some(t), "small.audited"))
                .audit(audit(None, "small.deployment"))
                .event(event(t, "small.event")),
        )
        .await
        .unwrap();
    assert_eq!(audit_actions(&store, Some(t), "small.").await.len(), 1);
    assert_eq!(
        audit_actions(&store, None, "small.deployment").await.len(),
        1
    );
    assert_eq!(events(&store, t).await.len(), 602);
    let deliveries = store
        .list_deliveries(t, Some(ep.id), None, ListOrder::OldestFirst, 1000)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 602);
}
