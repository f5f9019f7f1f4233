use std::collections::HashSet;
use std::sync::Arc;

use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

pub async fn meetings_lifecycle(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let other = tenant(&store).await;
    let start = now() + Duration::days(1);
    let new = NewMeeting {
        idempotency_key: Some("idem-1".into()),
        ..meeting_for(&c, Some(start), Some(45))
    };
    let m = store
        .insert_meeting(
            &new,
            Effects::none()
                .audit(audit(Some(t), "meeting.created"))
                .event(event(t, "meeting.created")),
        )
        .await
        .unwrap();
    assert_eq!(m.id, new.id);
    assert_eq!(m.tenant_id, t);
    assert_eq!(m.end_user_id, c.end_user.id);
    assert_eq!(m.connection_id, c.connection.id);
    assert_eq!(m.zoom_meeting_id, new.zoom_meeting_id);
    assert_eq!(m.host_zoom_user_id, new.host_zoom_user_id);
    assert_eq!(m.kind, MeetingKind::Scheduled);
    assert_eq!(m.status, MeetingStatus::Waiting);
    assert_eq!(m.start_time, Some(start));
    assert_eq!(m.duration_minutes, Some(45));
    assert_eq!(m.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(m.details, new.details);
    assert_eq!(m.idempotency_key.as_deref(), Some("idem-1"));
    assert_eq!(m.created_at, new.now);
    assert_eq!(m.updated_at, new.now);
    assert!(m.status_changed_at.is_none() && m.deleted_at.is_none());
    assert_eq!(audit_actions(&store, Some(t), "meeting.").await.len(), 1);
    assert_eq!(events(&store, t).await.len(), 1);

    // What the insert returned is what a read gives back.
    let read = store.get_meeting(t, m.id).await.unwrap().unwrap();
    assert_eq!(read.details, new.details);
    assert_eq!(
        (
            read.created_at,
            read.updated_at,
            read.start_time,
            read.status
        ),
        (m.created_at, m.updated_at, m.start_time, m.status)
    );
    assert_eq!(
        (read.host_zoom_user_id, read.timezone, read.idempotency_key),
        (
            m.host_zoom_user_id.clone(),
            m.timezone.clone(),
            m.idempotency_key.clone()
        )
    );
    assert!(store.get_meeting(other.id, m.id).await.unwrap().is_none());
    assert!(
        store
            .get_meeting(t, MeetingId::new())
            .await
            .unwrap()
            .is_none()
    );
    // With its connection, in one read: the rows the two separate reads give.
    let (with, conn) = store
        .get_meeting_with_connection(t, m.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (with.id, with.connection_id, &with.details),
        (m.id, c.connection.id, &new.details)
    );
    // Every column, not only the ones above (Debug shows all but the sealed ones).
    let plain = store.get_meeting(t, m.id).await.unwrap().unwrap();
    assert_eq!(format!("{with:?}"), format!("{plain:?}"));
    let conn = conn.expect("the meeting's connection");
    let alone = store
        .get_connection(t, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(format!("{conn:?}"), format!("{alone:?}"));
    assert_eq!(
        (conn.id, conn.version, conn.access_token, conn.refresh_token),
        (
            alone.id,
            alone.version,
            alone.access_token,
            alone.refresh_token
        )
    );
    assert!(
        store
            .get_meeting_with_connection(other.id, m.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_meeting_with_connection(t, MeetingId::new())
            .await
            .unwrap()
            .is_none()
    );
    // The same Zoom id recorded in another tenant through another app: each app's webhooks
    // find only their own.
    let elsewhere = connected(&store).await;
    let theirs = store
        .insert_meeting(
            &NewMeeting {
                zoom_meeting_id: new.zoom_meeting_id,
                ..meeting_for(&elsewhere, None, None)
            },
            Effects::none(),
        )
        .await
        .unwrap();
    let by_zoom = |app: ZoomAppId, zoom_id: i64| {
        let store = store.clone();
        async move {
            store
                .find_meetings_by_zoom_id(app, zoom_id)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(by_zoom(c.app.id, new.zoom_meeting_id).await, vec![m.id]);
    assert_eq!(
        by_zoom(elsewhere.app.id, new.zoom_meeting_id).await,
        vec![theirs.id]
    );
    assert!(by_zoom(c.app.id, 1).await.is_empty());
    let unrelated = zoom_app(&store, None).await;
    assert!(by_zoom(unrelated.id, new.zoom_meeting_id).await.is_empty());

    let update = MeetingUpdate {
        start_time: Some(start + Duration::hours(2)),
        duration_minutes: Some(30),
        timezone: Some("UTC".into()),
        details: sealed("new topic"),
        replaces: new.details.clone(),
        now: now(),
    };
    let fx = |tenant| Effects::none().audit(audit(Some(tenant), "meeting.updated"));
    assert!(
        store
            .update_meeting(other.id, m.id, &update, fx(other.id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        audit_actions(&store, Some(other.id), "meeting.")
            .await
            .is_empty()
    );
    assert_eq!(
        store.get_meeting(t, m.id).await.unwrap().unwrap().details,
        new.details
    );
    let updated = store
        .update_meeting(t, m.id, &update, fx(t))
        .await
        .unwrap()
        .expect("updated");
    assert_eq!(updated.start_time, update.start_time);
    assert_eq!(updated.duration_minutes, Some(30));
    assert_eq!(updated.timezone.as_deref(), Some("UTC"));
    assert_eq!(updated.details, sealed("new topic"));
    assert_eq!(updated.updated_at, update.now);
    assert_eq!(updated.created_at, m.created_at);
    assert_eq!(
        audit_actions(&store, Some(t), "meeting.updated")
            .await
            .len(),
        1
    );
    // An update built from the details as they were before that one is refused whole: it
    // would overwrite what the first one wrote.
    let stale = MeetingUpdate {
        details: sealed("stale topic"),
        now: now(),
        ..update.clone()
    };
    let e = store
        .update_meeting(t, m.id, &stale, fx(t))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::VersionConflict { what: "meeting" }),
        "{e:?}"
    );
    assert_eq!(
        store.get_meeting(t, m.id).await.unwrap().unwrap().details,
        sealed("new topic")
    );
    assert_eq!(
        audit_actions(&store, Some(t), "meeting.updated")
            .await
            .len(),
        1
    );

    let del_at = now();
    let fx = |tenant| Effects::none().audit(audit(Some(tenant), "meeting.deleted"));
    assert!(
        store
            .mark_meeting_deleted(other.id, m.id, del_at, fx(other.id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        audit_actions(&store, Some(other.id), "meeting.")
            .await
            .is_empty()
    );
    let deleted = store
        .mark_meeting_deleted(t, m.id, del_at, fx(t))
        .await
        .unwrap()
        .expect("deleted");
    assert_eq!(deleted.status, MeetingStatus::Deleted);
    assert_eq!(deleted.deleted_at, Some(del_at));
    // Deleting again is harmless, keeps the first time, and writes no second audit entry or
    // event (two deletes at once); a completion it carries is still written.
    let key = unique("idem");
    let held = claim_new_key(&store, t, &key, del_at).await;
    let events_before = events(&store, t).await.len();
    let again = store
        .mark_meeting_deleted(
            t,
            m.id,
            del_at + Duration::minutes(1),
            fx(t)
                .event(event(t, "meeting.deleted"))
                .idempotency(created_completion(&held, m.id, "gone")),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.deleted_at, Some(del_at));
    assert_eq!(
        audit_actions(&store, Some(t), "meeting.deleted")
            .await
            .len(),
        1
    );
    assert_eq!(events(&store, t).await.len(), events_before);
    assert!(matches!(
        store
            .claim_idempotency_key(&claim(t, &key, b"h", del_at))
            .await
            .unwrap(),
        IdempotencyClaim::Completed(_)
    ));
    // A deleted meeting is not updated.
    assert!(
        store
            .update_meeting(t, m.id, &update, Effects::none())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .mark_meeting_deleted(t, MeetingId::new(), del_at, Effects::none())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn meeting_status_ordering(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let other = tenant(&store).await;
    let m = new_meeting(&store, &c, Some(now()), Some(30)).await;
    let t0 = now();
    let fx = |tenant, what: &str| Effects::none().audit(audit(Some(tenant), what));

    assert!(
        !store
            .set_meeting_status(
                other.id,
                m.id,
                MeetingStatus::Started,
                t0,
                fx(other.id, "meeting.started")
            )
            .await
            .unwrap()
    );
    assert!(
        audit_actions(&store, Some(other.id), "meeting.")
            .await
            .is_empty()
    );
    assert!(
        store
            .set_meeting_status(
                t,
                m.id,
                MeetingStatus::Started,
                t0,
                fx(t, "meeting.started")
            )
            .await
            .unwrap()
    );
    let row = store.get_meeting(t, m.id).await.unwrap().unwrap();
    assert_eq!(row.status, MeetingStatus::Started);
    assert_eq!(row.status_changed_at, Some(t0));

    // An older event loses, and writes nothing.
    assert!(
        !store
            .set_meeting_status(
                t,
                m.id,
                MeetingStatus::Waiting,
                t0 - Duration::seconds(5),
                fx(t, "meeting.stale")
            )
            .await
            .unwrap()
    );
    // So does one with the same time (a redelivery).
    assert!(
        !store
            .set_meeting_status(t, m.id, MeetingStatus::Ended, t0, fx(t, "meeting.stale"))
            .await
            .unwrap()
    );
    assert!(
        audit_actions(&store, Some(t), "meeting.stale")
            .await
            .is_empty()
    );
    assert_eq!(
        store.get_meeting(t, m.id).await.unwrap().unwrap().status,
        MeetingStatus::Started
    );

    let t1 = t0 + Duration::minutes(30);
    assert!(
        store
            .set_meeting_status(t, m.id, MeetingStatus::Ended, t1, fx(t, "meeting.ended"))
            .await
            .unwrap()
    );
    let row = store.get_meeting(t, m.id).await.unwrap().unwrap();
    assert_eq!(row.status, MeetingStatus::Ended);
    assert_eq!(row.status_changed_at, Some(t1));
    assert_eq!(
        audit_actions(&store, Some(t), "meeting.ended").await.len(),
        1
    );

    // Deleted meetings never move again, whatever the event time.
    store
        .mark_meeting_deleted(t, m.id, t1 + Duration::minutes(1), Effects::none())
        .await
        .unwrap();
    assert!(
        !store
            .set_meeting_status(
                t,
                m.id,
                MeetingStatus::Started,
                t1 + Duration::days(1),
                Effects::none()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_meeting(t, m.id).await.unwrap().unwrap().status,
        MeetingStatus::Deleted
    );

    // A `deleted` status event marks the meeting deleted.
    let m2 = new_meeting(&store, &c, None, None).await;
    assert!(
        store
            .set_meeting_status(t, m2.id, MeetingStatus::Deleted, t1, Effects::none())
            .await
            .unwrap()
    );
    let row = store.get_meeting(t, m2.id).await.unwrap().unwrap();
    assert_eq!(row.status, MeetingStatus::Deleted);
    assert_eq!(row.deleted_at, Some(t1));
    assert!(
        !store
            .set_meeting_status(
                t,
                MeetingId::new(),
                MeetingStatus::Started,
                t1,
                Effects::none()
            )
            .await
            .unwrap()
    );
}

pub async fn list_meetings_windows_and_paging(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let other_user = connected_in(&store, &c.tenant).await;
    let at = now();
    let past = new_meeting(&store, &c, Some(at - Duration::hours(2)), Some(30)).await;
    let running = new_meeting(&store, &c, Some(at - Duration::minutes(10)), Some(60)).await;
    let future = new_meeting(&store, &c, Some(at + Duration::days(1)), Some(30)).await;
    let instant = new_meeting(&store, &c, None, None).await;
    let ended = new_meeting(&store, &c, Some(at + Duration::days(2)), Some(30)).await;
    store
        .set_meeting_status(t, ended.id, MeetingStatus::Ended, at, Effects::none())
        .await
        .unwrap();
    let deleted = new_meeting(&store, &c, Some(at + Duration::days(3)), Some(30)).await;
    store
        .mark_meeting_deleted(t, deleted.id, at, Effects::none())
        .await
        .unwrap();
    let theirs = new_meeting(&store, &other_user, Some(at + Duration::days(1)), Some(30)).await;

    let q = |window, include_deleted, end_user: Option<EndUserId>| MeetingQuery {
        end_user_id: end_user,
        window,
        include_deleted,
        after: None,
        ids: None,
        limit: 100,
        now: at,
    };
    let ids = |v: Vec<Meeting>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let mine = Some(c.end_user.id);
    // Only the meetings asked for, and still only this user's.
    assert_eq!(
        ids(store
            .list_meetings(
                t,
                &MeetingQuery {
                    ids: Some(vec![future.id, theirs.id, ended.id]),
                    ..q(MeetingWindow::All, false, mine)
                }
            )
            .await
            .unwrap()),
        vec![future.id, ended.id]
    );
    assert!(
        store
            .list_meetings(
                t,
                &MeetingQuery {
                    ids: Some(Vec::new()),
                    ..q(MeetingWindow::All, false, mine)
                }
            )
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        ids(store
            .list_meetings(t, &q(MeetingWindow::All, false, mine))
            .await
            .unwrap()),
        vec![past.id, running.id, future.id, instant.id, ended.id]
    );
    assert_eq!(
        ids(store
            .list_meetings(t, &q(MeetingWindow::All, true, mine))
            .await
            .unwrap()),
        vec![
            past.id, running.id, future.id, instant.id, ended.id, deleted.id
        ]
    );
    assert_eq!(
        ids(store
            .list_meetings(t, &q(MeetingWindow::Upcoming, false, mine))
            .await
            .unwrap()),
        vec![running.id, future.id, instant.id]
    );
    assert_eq!(
        ids(store
            .list_meetings(t, &q(MeetingWindow::Past, false, mine))
            .await
            .unwrap()),
        vec![past.id, ended.id]
    );
    assert_eq!(
        ids(store
            .list_meetings(
                t,
                &q(MeetingWindow::All, false, Some(other_user.end_user.id))
            )
            .await
            .unwrap()),
        vec![theirs.id]
    );
    assert_eq!(
        ids(store
            .list_meetings(t, &q(MeetingWindow::All, false, None))
            .await
            .unwrap()),
        vec![
            past.id, running.id, future.id, instant.id, ended.id, theirs.id
        ]
    );

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_meetings(
                t,
                &MeetingQuery {
                    after,
                    limit: 2,
                    ..q(MeetingWindow::All, true, None)
                },
            )
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(ids(page));
    }
    assert_eq!(
        seen,
        vec![
            past.id, running.id, future.id, instant.id, ended.id, deleted.id, theirs.id
        ]
    );

    let stranger = tenant(&store).await;
    assert!(
        store
            .list_meetings(stranger.id, &q(MeetingWindow::All, true, None))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_meetings(stranger.id, &q(MeetingWindow::All, true, mine))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Zoom gives an instant meeting no start time: its slot begins when it was made, so it
/// leaves the upcoming meetings once that slot has passed. A meeting with no fixed time stays.
pub async fn instant_meetings_without_a_start_time_pass(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let at = now();
    let made = |minutes_ago: i64, kind: MeetingKind| NewMeeting {
        kind,
        now: at - Duration::minutes(minutes_ago),
        ..meeting_for(&c, None, Some(60))
    };
    let mut ids = Vec::new();
    for new in [
        made(180, MeetingKind::Instant),
        made(10, MeetingKind::Instant),
        made(180, MeetingKind::Recurring),
    ] {
        ids.push(
            store
                .insert_meeting(&new, Effects::none())
                .await
                .unwrap()
                .id,
        );
    }
    let [old_instant, running_instant, no_fixed_time] = ids[..] else {
        unreachable!()
    };
    let window = |window| MeetingQuery {
        end_user_id: Some(c.end_user.id),
        window,
        include_deleted: false,
        after: None,
        ids: None,
        limit: 100,
        now: at,
    };
    let listed = |v: Vec<Meeting>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        listed(
            store
                .list_meetings(t, &window(MeetingWindow::Upcoming))
                .await
                .unwrap()
        ),
        vec![running_instant, no_fixed_time]
    );
    assert_eq!(
        listed(
            store
                .list_meetings(t, &window(MeetingWindow::Past))
                .await
                .unwrap()
        ),
        vec![old_instant]
    );
}

pub async fn purge_meeting_details_scoped(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let d = connected_in(&store, &c.tenant).await;
    // Only the meetings made before a time: an older grant's, when the user connected again.
    let cut = now() - Duration::minutes(10);
    let older = store
        .insert_meeting(
            &NewMeeting {
                now: cut - Duration::minutes(1),
                ..meeting_for(&d, None, None)
            },
            Effects::none(),
        )
        .await
        .unwrap();
    let newer = new_meeting(&store, &d, None, None).await;
    let blank_d = sealed("{} of d");
    assert_eq!(
        store
            .purge_meeting_details(t, d.connection.id, &blank_d, Some(cut), now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .get_meeting(t, older.id)
            .await
            .unwrap()
            .unwrap()
            .details,
        blank_d
    );
    assert_eq!(
        store
            .get_meeting(t, newer.id)
            .await
            .unwrap()
            .unwrap()
            .details,
        newer.details
    );
    let m1 = new_meeting(&store, &c, None, None).await;
    let m2 = new_meeting(&store, &c, Some(now()), Some(15)).await;
    let m3 = new_meeting(&store, &d, None, None).await;
    let blank = sealed("{}");
    let other = tenant(&store).await;
    assert_eq!(
        store
            .purge_meeting_details(other.id, c.connection.id, &blank, None, now())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.get_meeting(t, m1.id).await.unwrap().unwrap().details,
        m1.details
    );
    let at = now();
    assert_eq!(
        store
            .purge_meeting_details(t, c.connection.id, &blank, None, at)
            .await
            .unwrap(),
        2
    );
    for m in [&m1, &m2] {
        let row = store.get_meeting(t, m.id).await.unwrap().unwrap();
        assert_eq!(row.details, blank);
        assert_eq!(row.updated_at, at);
    }
    assert_eq!(
        store.get_meeting(t, m3.id).await.unwrap().unwrap().details,
        m3.details
    );
    // Purging again (a retried deauthorization) leaves purged rows as they are.
    let later = at + Duration::minutes(1);
    assert_eq!(
        store
            .purge_meeting_details(t, c.connection.id, &blank, None, later)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .get_meeting(t, m1.id)
            .await
            .unwrap()
            .unwrap()
            .updated_at,
        at
    );
}

/// A meeting and everything its creation writes land together: the audit entry, the event, its
/// deliveries to the tenant's subscribed endpoints (none to an unsubscribed, a disabled or
/// another tenant's endpoint) and the idempotency completion.
pub async fn insert_meeting_writes_its_effects(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    let every = endpoint(t, &[]);
    let meetings = endpoint(t, &["meeting.created", "meeting.deleted"]);
    let other_types = endpoint(t, &["connection.revoked"]);
    let disabled = endpoint(t, &[]);
    let elsewhere = connected(&store).await;
    let theirs = endpoint(elsewhere.tenant.id, &[]);
    for e in [&every, &meetings, &other_types, &disabled, &theirs] {
        store
            .create_webhook_endpoint(e, 100, Effects::none())
            .await
            .unwrap();
    }
    store
        .delete_webhook_endpoint(t, disabled.id, now(), Effects::none())
        .await
        .unwrap();
    let key = unique("idem");
    let at = now();
    let held = claim_new_key(&store, t, &key, at).await;
    let new = NewMeeting {
        idempotency_key: Some(key.clone()),
        ..meeting_for(&c, None, None)
    };
    let created = event(t, "meeting.created");
    let stored = store
        .insert_meeting(
            &new,
            Effects::none()
                .audit(audit(Some(t), "meeting.created"))
                .event(created.clone())
                .idempotency(created_completion(&held, new.id, "body")),
        )
        .await
        .unwrap();
    assert_eq!(stored.id, new.id);
    assert_eq!(stored.status, MeetingStatus::Waiting);
    assert_eq!(stored.details, new.details);
    assert_eq!(stored.idempotency_key.as_deref(), Some(key.as_str()));
    let read = store.get_meeting(t, new.id).await.unwrap().unwrap();
    assert_eq!(
        (read.id, read.connection_id, read.created_at, read.details),
        (
            stored.id,
            stored.connection_id,
            stored.created_at,
            stored.details
        )
    );
    assert_eq!(
        audit_actions(&store, Some(t), "meeting.").await,
        vec!["meeting.created".to_owned()]
    );
    assert_eq!(
        events(&store, t)
            .await
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![created.id]
    );
    let deliveries = store
        .list_deliveries(t, None, None, ListOrder::OldestFirst, 10)
        .await
        .unwrap();
    let to: HashSet<_> = deliveries.iter().map(|d| d.endpoint_id).collect();
    assert_eq!(to, HashSet::from([every.id, meetings.id]));
    assert_eq!(deliveries.len(), 2);
    for d in &deliveries {
        assert_eq!(
            (d.event_id, d.status),
            (created.id, DeliveryStatus::Pending)
        );
        assert_eq!(d.next_attempt_at, Some(created.created_at));
        assert_eq!(
            d.id.0.get_version_num(),
            7,
            "delivery ids are time-ordered UUIDs"
        );
    }
    assert!(
        store
            .list_deliveries(elsewhere.tenant.id, None, None, ListOrder::OldestFirst, 10)
            .await
            .unwrap()
            .is_empty()
    );
    match store
        .claim_idempotency_key(&claim(t, &key, b"h", at))
        .await
        .unwrap()
    {
        IdempotencyClaim::Completed(rec) => {
            assert_eq!(rec.response_status, Some(201));
            assert_eq!(rec.resource_id, Some(new.id.to_string()));
        }
        other => panic!("expected Completed, got {other:?}"),
    }
}

pub async fn insert_meeting_conflict_rolls_back(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    store
        .create_webhook_endpoint(&endpoint(t, &[]), 100, Effects::none())
        .await
        .unwrap();
    let first = meeting_for(&c, None, None);
    store.insert_meeting(&first, Effects::none()).await.unwrap();
    let at = now();
    let key = unique("idem");
    let held = claim_new_key(&store, t, &key, at).await;
    let dup = NewMeeting {
        id: first.id,
        ..meeting_for(&c, None, None)
    };
    let err = store
        .insert_meeting(
            &dup,
            Effects::none()
                .audit(audit(Some(t), "meeting.created"))
                .event(event(t, "meeting.created"))
                .idempotency(created_completion(&held, first.id, "body")),
        )
        .await
        .unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert!(audit_actions(&store, Some(t), "meeting.").await.is_empty());
    assert!(events(&store, t).await.is_empty());
    assert!(
        store
            .list_deliveries(t, None, None, ListOrder::OldestFirst, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        matches!(
            store
                .claim_idempotency_key(&claim(t, &key, b"h", at))
                .await
                .unwrap(),
            IdempotencyClaim::InProgress
        ),
        "the idempotency record was not completed"
    );
    assert_eq!(
        store
            .get_meeting(t, first.id)
            .await
            .unwrap()
            .unwrap()
            .zoom_meeting_id,
        first.zoom_meeting_id
    );

    // A meeting must point at an end user and connection of its own tenant.
    let other = connected(&store).await;
    let cross = NewMeeting {
        connection_id: other.connection.id,
        ..meeting_for(&c, None, None)
    };
    assert!(store.insert_meeting(&cross, Effects::none()).await.is_err());
    assert!(store.get_meeting(t, cross.id).await.unwrap().is_none());
}

/// A meeting is refused whole, with its effects, when its connection was revoked meanwhile (a
/// deauthorization purged the connection's meetings: this one must not bring details back) or
/// when another request took its idempotency key over (that one records the outcome).
pub async fn insert_meeting_refused_after_its_connection_ended_or_its_key_moved(
    store: Arc<dyn Store>,
) {
    let c = connected(&store).await;
    let t = c.tenant.id;
    store
        .create_webhook_endpoint(&endpoint(t, &[]), 100, Effects::none())
        .await
        .unwrap();
    let at = now();
    let fx = |held: &HeldKey, id: MeetingId| {
        Effects::none()
            .audit(audit(Some(t), "meeting.created"))
            .event(event(t, "meeting.created"))
            .idempotency(created_completion(held, id, "body"))
    };
    let assert_nothing_written = |store: Arc<dyn Store>, id: MeetingId| async move {
        assert!(store.get_meeting(t, id).await.unwrap().is_none());
        assert!(audit_actions(&store, Some(t), "meeting.").await.is_empty());
        assert!(events(&store, t).await.is_empty());
        assert!(
            store
                .list_deliveries(t, None, None, ListOrder::OldestFirst, 10)
                .await
                .unwrap()
                .is_empty()
        );
    };

    // The key taken over by a later request.
    let key = unique("idem");
    let first = claim(t, &key, b"h", at);
    store.claim_idempotency_key(&first).await.unwrap();
    let later = at + Duration::minutes(10);
    let taker = claim(t, &key, b"h", later);
    assert!(matches!(
        store.claim_idempotency_key(&taker).await.unwrap(),
        IdempotencyClaim::Recovered(_)
    ));
    let late = meeting_for(&c, None, None);
    let e = store
        .insert_meeting(&late, fx(&held(&first), late.id))
        .await
        .unwrap_err();
    assert!(is_precondition(&e, "idempotency record"), "{e:?}");
    assert_nothing_written(store.clone(), late.id).await;
    let recorded = meeting_for(&c, None, None);
    store
        .insert_meeting(&recorded, fx(&held(&taker), recorded.id))
        .await
        .unwrap();
    store
        .mark_meeting_deleted(t, recorded.id, later, Effects::none())
        .await
        .unwrap();

    // The connection ended: neither a new meeting nor a change to an earlier one is written.
    let other = connected(&store).await;
    let t2 = other.tenant.id;
    let earlier = new_meeting(&store, &other, None, None).await;
    store
        .end_connection(
            t2,
            other.connection.id,
            ConnectionState::Revoked,
            "removed in Zoom",
            true,
            at,
            Effects::none(),
        )
        .await
        .unwrap();
    let key2 = unique("idem");
    let held2 = claim_new_key(&store, t2, &key2, at).await;
    let orphan = meeting_for(&other, None, None);
    let e = store
        .insert_meeting(
            &orphan,
            Effects::none()
                .audit(audit(Some(t2), "meeting.created"))
                .event(event(t2, "meeting.created"))
                .idempotency(created_completion(&held2, orphan.id, "body")),
        )
        .await
        .unwrap_err();
    assert!(is_precondition(&e, "connection"), "{e:?}");
    assert!(store.get_meeting(t2, orphan.id).await.unwrap().is_none());
    let change = MeetingUpdate {
        start_time: None,
        duration_minutes: Some(30),
        timezone: None,
        details: sealed("details brought back"),
        replaces: earlier.details.clone(),
        now: at,
    };
    let e = store
        .update_meeting(
            t2,
            earlier.id,
            &change,
            Effects::none().audit(audit(Some(t2), "meeting.updated")),
        )
        .await
        .unwrap_err();
    assert!(is_precondition(&e, "connection"), "{e:?}");
    assert_eq!(
        store
            .get_meeting(t2, earlier.id)
            .await
            .unwrap()
            .unwrap()
            .details,
        earlier.details
    );
    assert!(audit_actions(&store, Some(t2), "meeting.").await.is_empty());
    assert!(events(&store, t2).await.is_empty());
    assert!(
        matches!(
            store
                .claim_idempotency_key(&claim(t2, &key2, b"h", at))
                .await
                .unwrap(),
            IdempotencyClaim::InProgress
        ),
        "the key was not completed"
    );
}
