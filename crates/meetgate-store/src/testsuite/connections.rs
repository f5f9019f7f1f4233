use std::collections::HashSet;
use std::sync::Arc;

use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

pub async fn connections_save_and_find(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let user = end_user(&store, a.id).await;
    let app = zoom_app(&store, Some(a.id)).await;
    let at = now();
    let g = grant(a.id, user.id, app.id, "zu-1", at);
    let c = store
        .save_grant(
            &g,
            &[],
            Effects::none()
                .audit(audit(Some(a.id), "connection.connected"))
                .event(event(a.id, "connection.connected")),
        )
        .await
        .unwrap();
    assert_eq!(c.id, g.id);
    assert_eq!(c.tenant_id, a.id);
    assert_eq!(c.end_user_id, user.id);
    assert_eq!(c.zoom_app_id, app.id);
    assert_eq!(c.state, ConnectionState::Connected);
    assert!(c.state_reason.is_none());
    assert_eq!(c.zoom_user_id.as_deref(), Some("zu-1"));
    assert_eq!(c.zoom_account_id.as_deref(), Some("acct-1"));
    assert_eq!(c.zoom_email, g.zoom_email);
    assert_eq!(c.scopes, g.scopes);
    assert_eq!(c.api_url, g.api_url);
    assert_eq!(c.access_token, Some(g.access_token.clone()));
    assert_eq!(c.access_expires_at, Some(g.access_expires_at));
    assert_eq!(c.refresh_token, g.refresh_token);
    assert_eq!(c.version, 1);
    assert!(c.refresh_started_at.is_none());
    assert_eq!(c.refresh_failures, 0);
    assert_eq!(c.next_refresh_at, g.next_refresh_at);
    assert_eq!(c.last_refreshed_at, Some(at));
    assert_eq!(c.connected_at, Some(at));
    assert_eq!(c.created_at, at);
    assert_eq!(c.updated_at, at);
    assert_eq!(
        audit_actions(&store, Some(a.id), "connection.").await.len(),
        1
    );
    assert_eq!(events(&store, a.id).await.len(), 1);

    let got = store
        .get_connection(a.id, c.id)
        .await
        .unwrap()
        .expect("connection");
    assert_eq!(got.version, 1);
    assert_eq!(got.access_token, c.access_token);
    assert!(store.get_connection(b.id, c.id).await.unwrap().is_none());
    assert_eq!(
        store
            .find_connection(a.id, user.id, app.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        c.id
    );
    assert!(
        store
            .find_connection(b.id, user.id, app.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_connection(a.id, user.id, ZoomAppId::new())
            .await
            .unwrap()
            .is_none()
    );
    let mine: Vec<_> = store
        .list_user_connections(a.id, user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(mine, vec![c.id]);
    assert!(
        store
            .list_user_connections(b.id, user.id)
            .await
            .unwrap()
            .is_empty()
    );
    let by_external: Vec<_> = store
        .list_connections_of_external_user(a.id, &user.external_id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(by_external, vec![c.id]);
    // The same external id in another tenant is another user, with no connections.
    store
        .upsert_end_user(b.id, &user.external_id, None, None, at)
        .await
        .unwrap();
    for (tenant, external) in [(b.id, user.external_id.as_str()), (a.id, "nobody")] {
        assert!(
            store
                .list_connections_of_external_user(tenant, external)
                .await
                .unwrap()
                .is_empty(),
            "{external} in {tenant}"
        );
    }

    // Leave a marker and a failure behind, then reconnect: same row, next version, all reset.
    let mut lock = store.lock_for_refresh(c.id).await.unwrap();
    lock.mark_refresh_started(1, at, time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    lock.record_refresh_failure(1, at, true, at).await.unwrap();
    lock.release().await.unwrap();
    let later = at + Duration::minutes(10);
    let again = NewGrant {
        id: c.id,
        access_token: sealed("access-2"),
        refresh_token: Some(sealed("refresh-2")),
        zoom_email: None,
        ..grant(a.id, user.id, app.id, "zu-1", later)
    };
    let re = store
        .save_grant(&again, &[], Effects::none())
        .await
        .unwrap();
    assert_eq!(re.id, c.id, "reconnect keeps the row");
    assert_eq!(re.version, 2);
    assert_eq!(re.access_token, Some(sealed("access-2")));
    assert_eq!(re.refresh_token, Some(sealed("refresh-2")));
    assert!(re.refresh_started_at.is_none());
    assert_eq!(re.refresh_failures, 0);
    assert_eq!(re.connected_at, Some(later));
    assert_eq!(re.last_refreshed_at, Some(later));
    assert_eq!(re.created_at, at, "creation time is kept");
    assert!(re.zoom_email.is_none());

    // Reconnecting a revoked connection brings it back to connected.
    store
        .end_connection(
            a.id,
            c.id,
            ConnectionState::Revoked,
            "user left",
            false,
            later,
            Effects::none(),
        )
        .await
        .unwrap()
        .unwrap();
    let back = store
        .save_grant(
            &NewGrant {
                id: c.id,
                ..grant(a.id, user.id, app.id, "zu-1", later)
            },
            &[],
            Effects::none(),
        )
        .await
        .unwrap();
    assert_eq!(back.state, ConnectionState::Connected);
    assert!(back.state_reason.is_none());
    assert_eq!(back.version, 4);
    assert!(back.access_token.is_some());
}

pub async fn save_grant_refuses_foreign_id(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    // A second first-connect for the same (end user, app) with another id lost a race: its
    // tokens were sealed for an id that does not exist, so it must not overwrite the row.
    let stale = grant(c.tenant.id, c.end_user.id, c.app.id, "zu-x", now());
    let err = store
        .save_grant(
            &stale,
            &[],
            Effects::none().audit(audit(Some(c.tenant.id), "connection.connected")),
        )
        .await
        .unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    let row = store
        .get_connection(c.tenant.id, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.version, 1);
    assert_eq!(row.zoom_user_id, c.connection.zoom_user_id);
    assert!(
        store
            .get_connection(c.tenant.id, stale.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        audit_actions(&store, Some(c.tenant.id), "connection.")
            .await
            .is_empty()
    );

    // Nor can another tenant write a grant into this tenant's connection id.
    let b = tenant(&store).await;
    let b_user = end_user(&store, b.id).await;
    let hijack = NewGrant {
        id: c.connection.id,
        ..grant(b.id, b_user.id, c.app.id, "zu-y", now())
    };
    assert!(
        store
            .save_grant(&hijack, &[], Effects::none())
            .await
            .is_err()
    );
    let row = store
        .get_connection(c.tenant.id, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.version, 1);
    assert_eq!(row.end_user_id, c.end_user.id);
}

pub async fn connections_list_paging_and_zoom_user(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let app = zoom_app(&store, None).await;
    let at = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let user = end_user(&store, a.id).await;
        let g = grant(a.id, user.id, app.id, &format!("zu-{i}"), at);
        ids.push(store.save_grant(&g, &[], Effects::none()).await.unwrap().id);
    }
    let b_user = end_user(&store, b.id).await;
    let b_conn = store
        .save_grant(
            &grant(b.id, b_user.id, app.id, "zu-0", at),
            &[],
            Effects::none(),
        )
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_connections(a.id, None, after, 2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| c.id);
        seen.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(
        seen, ids,
        "pages in id order, no gaps, no repeats, only this tenant"
    );

    store
        .end_connection(
            a.id,
            ids[1],
            ConnectionState::Revoked,
            "gone",
            false,
            at,
            Effects::none(),
        )
        .await
        .unwrap();
    let revoked = store
        .list_connections(a.id, Some(ConnectionState::Revoked), None, 10)
        .await
        .unwrap();
    assert_eq!(
        revoked.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    let live = store
        .list_connections(a.id, Some(ConnectionState::Connected), None, 10)
        .await
        .unwrap();
    assert_eq!(live.len(), 4);
    assert!(
        store
            .list_connections(b.id, Some(ConnectionState::Revoked), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The Zoom user's grants through this app, in every tenant and every state.
    let zu0: HashSet<_> = store
        .find_connections_by_zoom_user(app.id, "zu-0")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(zu0, HashSet::from([ids[0], b_conn.id]));
    let zu1 = store
        .find_connections_by_zoom_user(app.id, "zu-1")
        .await
        .unwrap();
    assert_eq!(zu1.len(), 1);
    assert_eq!(zu1[0].state, ConnectionState::Revoked);
    assert!(
        store
            .find_connections_by_zoom_user(app.id, "zu-9")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_connections_by_zoom_user(ZoomAppId::new(), "zu-0")
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn save_grant_supersedes_other_grants(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let app = zoom_app(&store, None).await;
    let at = now();
    let ua = end_user(&store, a.id).await;
    let ub = end_user(&store, b.id).await;
    let uc = end_user(&store, a.id).await;
    let ud = end_user(&store, a.id).await;
    let ca = store
        .save_grant(
            &grant(a.id, ua.id, app.id, "same", at),
            &[],
            Effects::none(),
        )
        .await
        .unwrap();
    let cb = store
        .save_grant(
            &grant(b.id, ub.id, app.id, "same", at),
            &[],
            Effects::none(),
        )
        .await
        .unwrap();
    let cd = store
        .save_grant(
            &grant(a.id, ud.id, app.id, "same", at),
            &[],
            Effects::none(),
        )
        .await
        .unwrap();
    store
        .end_connection(
            a.id,
            cd.id,
            ConnectionState::Revoked,
            "deauthorized",
            false,
            at,
            Effects::none(),
        )
        .await
        .unwrap();

    let later = at + Duration::minutes(1);
    let new = grant(a.id, uc.id, app.id, "same", later);
    let cc = store
        .save_grant(
            &new,
            &[ca.id, cb.id, cd.id, new.id],
            Effects::none().audit(audit(Some(a.id), "connection.connected")),
        )
        .await
        .unwrap();
    assert_eq!(cc.state, ConnectionState::Connected);
    assert_eq!(cc.version, 1);

    for (tenant, old) in [(a.id, &ca), (b.id, &cb)] {
        let row = store.get_connection(tenant, old.id).await.unwrap().unwrap();
        assert_eq!(row.state, ConnectionState::Superseded);
        assert!(row.state_reason.is_some());
        assert!(row.access_token.is_none() && row.refresh_token.is_none());
        assert_eq!(row.version, old.version + 1);
        assert_eq!(row.zoom_user_id.as_deref(), Some("same"));
    }
    let revoked = store.get_connection(a.id, cd.id).await.unwrap().unwrap();
    assert_eq!(
        revoked.state,
        ConnectionState::Revoked,
        "a revoked grant stays revoked"
    );
    assert_eq!(revoked.version, 2);

    // A failing save supersedes nothing.
    let ue = end_user(&store, a.id).await;
    let ce = store
        .save_grant(
            &grant(a.id, ue.id, app.id, "other", at),
            &[],
            Effects::none(),
        )
        .await
        .unwrap();
    let bad = grant(a.id, uc.id, app.id, "same", later); // foreign id for uc's row
    assert!(
        store
            .save_grant(&bad, &[ce.id], Effects::none())
            .await
            .is_err()
    );
    assert_eq!(
        store
            .get_connection(a.id, ce.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        ConnectionState::Connected
    );
}

pub async fn end_connection_behaviour(store: Arc<dyn Store>) {
    let c = connected(&store).await;
    let other = tenant(&store).await;
    let at = now();

    let none = store
        .end_connection(
            other.id,
            c.connection.id,
            ConnectionState::Revoked,
            "nope",
            true,
            at,
            Effects::none().audit(audit(Some(other.id), "connection.revoked")),
        )
        .await
        .unwrap();
    assert!(none.is_none());
    let row = store
        .get_connection(c.tenant.id, c.connection.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, ConnectionState::Connected);
    assert!(row.access_token.is_some());
    assert!(
        audit_actions(&store, Some(other.id), "connection.")
            .await
            .is_empty()
    );

    let ended = store
        .end_connection(
            c.tenant.id,
            c.connection.id,
            ConnectionState::Revoked,
            "deauthorized at Zoom",
            true,
            at,
            Effects::none()
                .audit(audit(Some(c.tenant.id), "connection.revoked"))
                .event(event(c.tenant.id, "connection.revoked")),
        )
        .await
        .unwrap()
        .expect("ended");
    assert_eq!(ended.state, ConnectionState::Revoked);
    assert_eq!(ended.state_reason.as_deref(), Some("deauthorized at Zoom"));
    assert!(ended.access_token.is_none() && ended.refresh_token.is_none());
    assert_eq!(ended.version, c.connection.version + 1);
    assert!(ended.zoom_email.is_none(), "purge forgets the Zoom email");
    assert_eq!(
        ended.zoom_user_id, c.connection.zoom_user_id,
        "the Zoom user id stays"
    );
    assert_eq!(ended.zoom_account_id, c.connection.zoom_account_id);
    assert_eq!(ended.updated_at, at);
    assert_eq!(
        audit_actions(&store, Some(c.tenant.id), "connection.revoked")
            .await
            .len(),
        1
    );
    assert_eq!(events(&store, c.tenant.id).await.len(), 1);
    let found = store
        .find_connections_by_zoom_user(c.app.id, c.connection.zoom_user_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        1,
        "a replayed deauthorization still finds the row"
    );

    // Without purge the email stays.
    let d = connected(&store).await;
    let kept = store
        .end_connection(
            d.tenant.id,
            d.connection.id,
            ConnectionState::NeedsReauth,
            "invalid_grant",
            false,
            at,
            Effects::none(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.state, ConnectionState::NeedsReauth);
    assert_eq!(kept.zoom_email, d.connection.zoom_email);
    assert!(kept.access_token.is_none());
    assert!(
        store
            .end_connection(
                d.tenant.id,
                ConnectionId::new(),
                ConnectionState::Revoked,
                "x",
                false,
                at,
                Effects::none()
            )
            .await
            .unwrap()
            .is_none()
    );
}
