use std::sync::Arc;

use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

pub fn member(tenant: TenantId, email: &str) -> Member {
    Member {
        id: MemberId::new(),
        tenant_id: tenant,
        email: email.into(),
        name: "Dr Member".into(),
        role: MemberRole::Clinician,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: now(),
        disabled_at: None,
    }
}

pub async fn members_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let email = format!("{}@Clinic.Example.TEST", unique("Alice"));
    let m = member(a.id, &email);
    store
        .create_member(
            &m,
            Effects::none().audit(audit(Some(a.id), "member.created")),
        )
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&store, Some(a.id), "member.").await,
        vec!["member.created"]
    );

    let found = store
        .find_member_by_email(&email.to_uppercase())
        .await
        .unwrap()
        .expect("member");
    assert_eq!(found.id, m.id);
    assert_eq!(
        found.email,
        email.to_lowercase(),
        "emails are stored lower-cased"
    );
    assert_eq!(found.role, MemberRole::Clinician);
    assert_eq!(found.password_hash, m.password_hash);
    assert_eq!(found.created_at, m.created_at);
    assert!(
        store
            .find_member_by_email("nobody@example.test")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(
        store.get_member(a.id, m.id).await.unwrap().unwrap().name,
        "Dr Member"
    );
    assert!(store.get_member(b.id, m.id).await.unwrap().is_none());
    let m2 = member(a.id, &format!("{}@example.test", unique("bob")));
    store.create_member(&m2, Effects::none()).await.unwrap();
    let listed: Vec<_> = store
        .list_members(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(listed, vec![m.id, m2.id]);
    assert!(store.list_members(b.id).await.unwrap().is_empty());

    // The email is unique across the deployment, whatever its case.
    let clash = member(b.id, &email.to_uppercase());
    let err = store
        .create_member(
            &clash,
            Effects::none().audit(audit(Some(b.id), "member.created")),
        )
        .await
        .unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert!(store.get_member(b.id, clash.id).await.unwrap().is_none());
    assert!(
        audit_actions(&store, Some(b.id), "member.")
            .await
            .is_empty()
    );

    // Updates through another tenant do nothing and write nothing.
    let fx = || Effects::none().audit(audit(Some(b.id), "member.changed"));
    assert!(
        !store
            .set_member_role(b.id, m.id, MemberRole::Admin, fx())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_member_disabled(b.id, m.id, Some(now()), fx())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_member_password(b.id, m.id, "other-hash", fx())
            .await
            .unwrap()
    );
    let unchanged = store.get_member(a.id, m.id).await.unwrap().unwrap();
    assert_eq!(unchanged.role, MemberRole::Clinician);
    assert!(unchanged.disabled_at.is_none());
    assert_eq!(unchanged.password_hash, m.password_hash);
    assert!(
        audit_actions(&store, Some(b.id), "member.")
            .await
            .is_empty()
    );

    // Another admin, so that `m` may be made one and disabled (a clinic keeps an enabled admin).
    let keeper = Member {
        role: MemberRole::Admin,
        ..member(a.id, &format!("{}@example.test", unique("keeper")))
    };
    store.create_member(&keeper, Effects::none()).await.unwrap();
    let fx = || Effects::none().audit(audit(Some(a.id), "member.changed"));
    assert!(
        store
            .set_member_role(a.id, m.id, MemberRole::Admin, fx())
            .await
            .unwrap()
    );
    let disabled_at = now();
    assert!(
        store
            .set_member_disabled(a.id, m.id, Some(disabled_at), fx())
            .await
            .unwrap()
    );
    assert!(
        store
            .set_member_password(a.id, m.id, "new-hash", fx())
            .await
            .unwrap()
    );
    let changed = store.get_member(a.id, m.id).await.unwrap().unwrap();
    assert_eq!(changed.role, MemberRole::Admin);
    assert_eq!(changed.disabled_at, Some(disabled_at));
    assert_eq!(changed.password_hash, "new-hash");
    assert_eq!(
        audit_actions(&store, Some(a.id), "member.changed")
            .await
            .len(),
        3
    );
    // Re-enabling clears the time.
    assert!(
        store
            .set_member_disabled(a.id, m.id, None, Effects::none())
            .await
            .unwrap()
    );
    assert!(
        store
            .get_member(a.id, m.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at
            .is_none()
    );
    // The other member is untouched.
    assert_eq!(
        store.get_member(a.id, m2.id).await.unwrap().unwrap().role,
        MemberRole::Clinician
    );
    assert!(
        !store
            .set_member_role(a.id, MemberId::new(), MemberRole::Admin, fx())
            .await
            .unwrap()
    );
}

fn session(tenant: TenantId, member: MemberId, at: OffsetDateTime) -> WebSession {
    WebSession {
        id_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        tenant_id: tenant,
        member_id: member,
        csrf_token: unique("csrf"),
        created_at: at,
        last_seen_at: at,
        expires_at: at + Duration::hours(12),
    }
}

pub async fn sessions_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let m = member(a.id, &format!("{}@example.test", unique("s")));
    store.create_member(&m, Effects::none()).await.unwrap();
    let at = now();
    let s1 = session(a.id, m.id, at);
    store.create_session(&s1).await.unwrap();
    let got = store
        .get_session(&s1.id_hash)
        .await
        .unwrap()
        .expect("session");
    assert_eq!(got.member_id, m.id);
    assert_eq!(got.tenant_id, a.id);
    assert_eq!(got.csrf_token, s1.csrf_token);
    assert_eq!(got.expires_at, s1.expires_at);
    assert!(store.get_session(b"unknown").await.unwrap().is_none());
    // The same cookie hash twice is a conflict.
    assert!(is_conflict(&store.create_session(&s1).await.unwrap_err()));

    let seen = at + Duration::minutes(3);
    store.touch_session(&s1.id_hash, seen).await.unwrap();
    assert_eq!(
        store
            .get_session(&s1.id_hash)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        seen
    );

    store.delete_session(&s1.id_hash).await.unwrap();
    assert!(store.get_session(&s1.id_hash).await.unwrap().is_none());
    store.delete_session(&s1.id_hash).await.unwrap();

    let s2 = session(a.id, m.id, at);
    let s3 = session(a.id, m.id, at);
    store.create_session(&s2).await.unwrap();
    store.create_session(&s3).await.unwrap();
    // Another tenant's id deletes nothing.
    store.delete_member_sessions(b.id, m.id).await.unwrap();
    assert!(store.get_session(&s2.id_hash).await.unwrap().is_some());
    store.delete_member_sessions(a.id, m.id).await.unwrap();
    assert!(store.get_session(&s2.id_hash).await.unwrap().is_none());
    assert!(store.get_session(&s3.id_hash).await.unwrap().is_none());

    // Purge: idle sessions and expired sessions go, fresh ones stay.
    let fresh = session(a.id, m.id, at);
    let idle = WebSession {
        last_seen_at: at - Duration::hours(2),
        ..session(a.id, m.id, at)
    };
    let expired = WebSession {
        expires_at: at - Duration::seconds(1),
        ..session(a.id, m.id, at)
    };
    for s in [&fresh, &idle, &expired] {
        store.create_session(s).await.unwrap();
    }
    let purged = store
        .purge_sessions(at, at - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(purged, 2);
    assert!(store.get_session(&fresh.id_hash).await.unwrap().is_some());
    assert!(store.get_session(&idle.id_hash).await.unwrap().is_none());
    assert!(store.get_session(&expired.id_hash).await.unwrap().is_none());
}

fn invitation(tenant: TenantId, by: Option<MemberId>) -> Invitation {
    let at = now();
    Invitation {
        id: InvitationId::new(),
        tenant_id: tenant,
        email: format!("{}@example.test", unique("invitee")),
        role: MemberRole::Admin,
        token_hash: uuid::Uuid::new_v4().as_bytes().to_vec(),
        created_by: by,
        created_at: at,
        expires_at: at + Duration::days(7),
        used_at: None,
        resets_member: None,
    }
}

pub async fn invitations_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let admin = member(a.id, &format!("{}@example.test", unique("admin")));
    store.create_member(&admin, Effects::none()).await.unwrap();
    let inv = invitation(a.id, Some(admin.id));
    store
        .create_invitation(
            &inv,
            Effects::none().audit(audit(Some(a.id), "invitation.created")),
        )
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&store, Some(a.id), "invitation.").await.len(),
        1
    );
    let listed = store.list_invitations(a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, inv.id);
    assert_eq!(listed[0].created_by, Some(admin.id));
    assert!(store.list_invitations(b.id).await.unwrap().is_empty());
    let found = store
        .find_invitation(&inv.token_hash)
        .await
        .unwrap()
        .expect("invitation");
    assert_eq!(found.id, inv.id);
    assert_eq!(found.email, inv.email);
    assert_eq!(found.role, MemberRole::Admin);
    assert_eq!(found.expires_at, inv.expires_at);
    assert!(found.used_at.is_none());
    assert!(store.find_invitation(b"nope").await.unwrap().is_none());

    // Accepting with a member whose email is taken fails whole: the invitation stays unused.
    let taken = Member {
        email: admin.email.clone(),
        ..member(a.id, "x@example.test")
    };
    let at = now();
    let err = store
        .accept_invitation(
            inv.id,
            &taken,
            at,
            Effects::none().audit(audit(Some(a.id), "invitation.accepted")),
        )
        .await
        .unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert!(
        store
            .find_invitation(&inv.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    assert!(
        audit_actions(&store, Some(a.id), "invitation.accepted")
            .await
            .is_empty()
    );

    // A member for another tenant cannot use this tenant's invitation.
    let foreign = member(b.id, &inv.email);
    assert!(
        !store
            .accept_invitation(inv.id, &foreign, at, Effects::none())
            .await
            .unwrap()
    );
    assert!(store.get_member(b.id, foreign.id).await.unwrap().is_none());

    let new_member = Member {
        role: inv.role,
        ..member(a.id, &inv.email)
    };
    assert!(
        store
            .accept_invitation(
                inv.id,
                &new_member,
                at,
                Effects::none().audit(audit(Some(a.id), "invitation.accepted"))
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_member(a.id, new_member.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        MemberRole::Admin
    );
    assert_eq!(
        store
            .find_invitation(&inv.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at)
    );
    assert_eq!(
        audit_actions(&store, Some(a.id), "invitation.accepted")
            .await
            .len(),
        1
    );

    // Used once only.
    let again = member(a.id, &format!("{}@example.test", unique("again")));
    assert!(
        !store
            .accept_invitation(
                inv.id,
                &again,
                at,
                Effects::none().audit(audit(Some(a.id), "invitation.accepted"))
            )
            .await
            .unwrap()
    );
    assert!(store.get_member(a.id, again.id).await.unwrap().is_none());
    assert_eq!(
        audit_actions(&store, Some(a.id), "invitation.accepted")
            .await
            .len(),
        1
    );
    assert!(
        !store
            .accept_invitation(InvitationId::new(), &again, at, Effects::none())
            .await
            .unwrap()
    );
}

pub async fn end_users_upsert(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let at = now();
    let created = store
        .upsert_end_user(
            a.id,
            "host-user-1",
            Some("one@example.test"),
            Some("One"),
            at,
        )
        .await
        .unwrap();
    assert_eq!(created.tenant_id, a.id);
    assert_eq!(created.external_id, "host-user-1");
    assert_eq!(created.email.as_deref(), Some("one@example.test"));
    assert_eq!(created.created_at, at);

    let later = at + Duration::hours(1);
    let updated = store
        .upsert_end_user(
            a.id,
            "host-user-1",
            Some("new@example.test"),
            Some("New"),
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        updated.id, created.id,
        "the same external id maps to the same row"
    );
    assert_eq!(updated.email.as_deref(), Some("new@example.test"));
    assert_eq!(updated.name.as_deref(), Some("New"));
    assert_eq!(updated.created_at, at, "creation time is kept");

    // Missing values keep what is stored.
    let kept = store
        .upsert_end_user(a.id, "host-user-1", None, None, later)
        .await
        .unwrap();
    assert_eq!(kept.id, created.id);
    assert_eq!(kept.email.as_deref(), Some("new@example.test"));
    assert_eq!(kept.name.as_deref(), Some("New"));

    // The same external id in another tenant is another user.
    let other = store
        .upsert_end_user(b.id, "host-user-1", None, None, at)
        .await
        .unwrap();
    assert_ne!(other.id, created.id);
    assert_eq!(other.tenant_id, b.id);
    assert!(other.email.is_none());

    assert_eq!(
        store
            .get_end_user(a.id, created.id)
            .await
            .unwrap()
            .unwrap()
            .external_id,
        "host-user-1"
    );
    assert!(
        store
            .get_end_user(b.id, created.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .find_end_user(a.id, "host-user-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert_eq!(
        store
            .find_end_user(b.id, "host-user-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        other.id
    );
    assert!(
        store
            .find_end_user(a.id, "host-user-2")
            .await
            .unwrap()
            .is_none()
    );

    // Concurrent first sightings of one external id converge on one row.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        let tenant = a.id;
        tasks.push(tokio::spawn(async move {
            store
                .upsert_end_user(tenant, "racer", None, None, now())
                .await
                .unwrap()
                .id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one row for one external id");
}

pub async fn password_reset_through_an_invitation(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let doc = member(a.id, &format!("{}@example.test", unique("doc")));
    store.create_member(&doc, Effects::none()).await.unwrap();
    let at = now();
    let signed_in = session(a.id, doc.id, at);
    store.create_session(&signed_in).await.unwrap();
    let reset = Invitation {
        email: doc.email.clone(),
        resets_member: Some(doc.id),
        ..invitation(a.id, None)
    };
    store
        .create_invitation(&reset, Effects::none())
        .await
        .unwrap();
    assert_eq!(
        store
            .find_invitation(&reset.token_hash)
            .await
            .unwrap()
            .unwrap()
            .resets_member,
        Some(doc.id)
    );
    // An invitation to join, to the same address, resets nothing.
    let plain = Invitation {
        email: doc.email.clone(),
        ..invitation(a.id, None)
    };
    store
        .create_invitation(&plain, Effects::none())
        .await
        .unwrap();
    let at_once = |inv: InvitationId, member: MemberId| {
        let store = store.clone();
        async move {
            store
                .reset_password_with_invitation(inv, a.id, member, "new-hash", at, Effects::none())
                .await
        }
    };
    assert!(!at_once(plain.id, doc.id).await.unwrap());

    // A link made for one member resets no other; a disabled member's link spends nothing.
    let colleague = member(a.id, &format!("{}@example.test", unique("colleague")));
    store
        .create_member(&colleague, Effects::none())
        .await
        .unwrap();
    assert!(!at_once(reset.id, colleague.id).await.unwrap());
    let disabled = member(a.id, &format!("{}@example.test", unique("disabled")));
    store
        .create_member(&disabled, Effects::none())
        .await
        .unwrap();
    store
        .set_member_disabled(a.id, disabled.id, Some(at), Effects::none())
        .await
        .unwrap();
    let for_disabled = Invitation {
        email: disabled.email.clone(),
        resets_member: Some(disabled.id),
        ..invitation(a.id, None)
    };
    store
        .create_invitation(&for_disabled, Effects::none())
        .await
        .unwrap();
    let err = at_once(for_disabled.id, disabled.id).await.unwrap_err();
    assert!(is_not_found(&err), "{err:?}");
    let unused = store
        .find_invitation(&for_disabled.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(
        unused.used_at.is_none(),
        "the failed reset did not use the link up"
    );
    let other = member(b.id, &format!("{}@example.test", unique("other")));
    store.create_member(&other, Effects::none()).await.unwrap();
    assert!(
        !store
            .reset_password_with_invitation(
                reset.id,
                b.id,
                other.id,
                "new-hash",
                at,
                Effects::none()
            )
            .await
            .unwrap(),
        "a link of tenant a does nothing in tenant b"
    );

    assert!(
        store
            .reset_password_with_invitation(
                reset.id,
                a.id,
                doc.id,
                "new-hash",
                at,
                Effects::none().audit(audit(Some(a.id), "member.password_reset")),
            )
            .await
            .unwrap()
    );
    let changed = store.get_member(a.id, doc.id).await.unwrap().unwrap();
    assert_eq!(changed.password_hash, "new-hash");
    assert_eq!(
        audit_actions(&store, Some(a.id), "member.password_reset")
            .await
            .len(),
        1
    );
    assert!(
        store
            .get_session(&signed_in.id_hash)
            .await
            .unwrap()
            .is_none(),
        "the member's sessions ended"
    );
    // Once only.
    assert!(
        !store
            .reset_password_with_invitation(reset.id, a.id, doc.id, "again", at, Effects::none())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_member(a.id, doc.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new-hash"
    );
}

/// A reset uses up every other unused reset link of the same member, in the same
/// transaction; other members' links and invitations to join stay as they were.
pub async fn a_reset_spends_the_members_other_reset_links(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let doc = member(a.id, &format!("{}@example.test", unique("doc")));
    let colleague = member(a.id, &format!("{}@example.test", unique("colleague")));
    for m in [&doc, &colleague] {
        store.create_member(m, Effects::none()).await.unwrap();
    }
    let reset_of = |m: &Member| Invitation {
        email: m.email.clone(),
        resets_member: Some(m.id),
        ..invitation(a.id, None)
    };
    let (earlier, used, colleagues) = (reset_of(&doc), reset_of(&doc), reset_of(&colleague));
    let join = Invitation {
        email: doc.email.clone(),
        ..invitation(a.id, None)
    };
    for inv in [&earlier, &used, &colleagues, &join] {
        store.create_invitation(inv, Effects::none()).await.unwrap();
    }
    let at = now();
    assert!(
        store
            .reset_password_with_invitation(used.id, a.id, doc.id, "new-hash", at, Effects::none())
            .await
            .unwrap()
    );
    let used_at = |inv: &Invitation| {
        let store = store.clone();
        let hash = inv.token_hash.clone();
        async move { store.find_invitation(&hash).await.unwrap().unwrap().used_at }
    };
    assert_eq!(used_at(&used).await, Some(at));
    assert_eq!(
        used_at(&earlier).await,
        Some(at),
        "the member's other reset link is spent"
    );
    assert_eq!(used_at(&colleagues).await, None, "another member's stays");
    assert_eq!(used_at(&join).await, None, "an invitation to join stays");
    assert!(
        !store
            .reset_password_with_invitation(earlier.id, a.id, doc.id, "again", at, Effects::none())
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_member(a.id, doc.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "new-hash"
    );
}

pub async fn invitations_are_revoked_within_their_tenant(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let inv = invitation(a.id, None);
    store
        .create_invitation(&inv, Effects::none())
        .await
        .unwrap();
    let at = now();
    assert!(
        !store
            .revoke_invitation(b.id, inv.id, at, Effects::none())
            .await
            .unwrap(),
        "another tenant cannot revoke it"
    );
    let found = |inv: &Invitation| {
        let store = store.clone();
        let hash = inv.token_hash.clone();
        async move { store.find_invitation(&hash).await.unwrap().unwrap() }
    };
    assert_eq!(found(&inv).await.expires_at, inv.expires_at);
    assert!(
        store
            .revoke_invitation(
                a.id,
                inv.id,
                at,
                Effects::none().audit(audit(Some(a.id), "invitation.revoked")),
            )
            .await
            .unwrap()
    );
    let revoked = found(&inv).await;
    assert_eq!(revoked.expires_at, at, "it expires now");
    assert!(revoked.used_at.is_none());
    assert_eq!(
        audit_actions(&store, Some(a.id), "invitation.revoked")
            .await
            .len(),
        1
    );
    assert!(
        !store
            .revoke_invitation(a.id, inv.id, at, Effects::none())
            .await
            .unwrap(),
        "once"
    );
    // A used one stays used, and its audit entry is not written.
    let used = invitation(a.id, None);
    store
        .create_invitation(&used, Effects::none())
        .await
        .unwrap();
    let joined = member(a.id, &used.email);
    assert!(
        store
            .accept_invitation(used.id, &joined, at, Effects::none())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_invitation(
                a.id,
                used.id,
                at,
                Effects::none().audit(audit(Some(a.id), "invitation.revoked")),
            )
            .await
            .unwrap()
    );
    assert_eq!(found(&used).await.expires_at, used.expires_at);
    assert_eq!(
        audit_actions(&store, Some(a.id), "invitation.revoked")
            .await
            .len(),
        1
    );
}

pub async fn a_clinic_keeps_an_enabled_admin(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let admin = |name: &str| Member {
        role: MemberRole::Admin,
        ..member(t.id, &format!("{}@example.test", unique(name)))
    };
    let (a, b) = (admin("a"), admin("b"));
    let clinician = Member {
        role: MemberRole::Clinician,
        ..member(t.id, &format!("{}@example.test", unique("c")))
    };
    for m in [&a, &b, &clinician] {
        store.create_member(m, Effects::none()).await.unwrap();
    }
    let at = now();
    let last = |e: StoreError| matches!(e, StoreError::Precondition { .. });
    assert!(
        store
            .set_member_role(t.id, b.id, MemberRole::Clinician, Effects::none())
            .await
            .unwrap()
    );
    // `a` is the last enabled admin now: neither a demotion nor a disable goes through.
    assert!(last(
        store
            .set_member_role(
                t.id,
                a.id,
                MemberRole::Clinician,
                Effects::none().audit(audit(Some(t.id), "member.role_changed"))
            )
            .await
            .unwrap_err()
    ));
    assert!(last(
        store
            .set_member_disabled(t.id, a.id, Some(at), Effects::none())
            .await
            .unwrap_err()
    ));
    assert!(
        audit_actions(&store, Some(t.id), "member.role_changed")
            .await
            .is_empty()
    );
    let kept = store.get_member(t.id, a.id).await.unwrap().unwrap();
    assert_eq!((kept.role, kept.disabled_at), (MemberRole::Admin, None));
    // Clinicians and unknown members are as before.
    assert!(
        store
            .set_member_disabled(t.id, clinician.id, Some(at), Effects::none())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_member_role(
                t.id,
                MemberId::new(),
                MemberRole::Clinician,
                Effects::none()
            )
            .await
            .unwrap()
    );
    // With another admin back, `a` may go.
    assert!(
        store
            .set_member_role(t.id, b.id, MemberRole::Admin, Effects::none())
            .await
            .unwrap()
    );
    assert!(
        store
            .set_member_disabled(t.id, a.id, Some(at), Effects::none())
            .await
            .unwrap()
    );
    // And a disabled admin does not count: `b` is the last enabled one.
    assert!(last(
        store
            .set_member_role(t.id, b.id, MemberRole::Clinician, Effects::none())
            .await
            .unwrap_err()
    ));

    // Two admins demoting each other at once: one of them stays an admin.
    let t2 = tenant(&store).await;
    let pair = [
        Member {
            role: MemberRole::Admin,
            ..member(t2.id, &format!("{}@example.test", unique("x")))
        },
        Member {
            role: MemberRole::Admin,
            ..member(t2.id, &format!("{}@example.test", unique("y")))
        },
    ];
    for m in &pair {
        store.create_member(m, Effects::none()).await.unwrap();
    }
    let (s1, s2) = (store.clone(), store.clone());
    let (x, y) = (pair[0].id, pair[1].id);
    let (r1, r2) = tokio::join!(
        s1.set_member_role(t2.id, x, MemberRole::Clinician, Effects::none()),
        s2.set_member_role(t2.id, y, MemberRole::Clinician, Effects::none()),
    );
    assert_eq!(
        [r1.is_ok(), r2.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{r1:?} {r2:?}"
    );
    let admins = store
        .list_members(t2.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == MemberRole::Admin)
        .count();
    assert_eq!(admins, 1);
}
