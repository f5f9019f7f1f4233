use std::sync::Arc;

use serde_json::json;
use time::Duration;

use super::fixtures::*;
use crate::models::*;
use crate::*;

pub async fn tenants_create_get_list_update(store: Arc<dyn Store>) {
    let at = now();
    let new = NewTenant {
        id: TenantId::new(),
        name: "Clinic A".into(),
        slug: unique("clinic-a"),
        settings: json!({"return_urls": ["https://a.example.test"]}),
        created_at: at,
    };
    let effects = Effects::none()
        .audit(audit(Some(new.id), "tenant.created"))
        .event(event(new.id, "tenant.created"));
    let created = store.create_tenant(&new, effects).await.unwrap();
    assert_eq!(created.id, new.id);
    assert_eq!(created.name, "Clinic A");
    assert_eq!(created.slug, new.slug);
    assert_eq!(created.settings, new.settings);
    assert_eq!(created.created_at, at);
    assert_eq!(
        audit_actions(&store, Some(new.id), "tenant.").await,
        vec!["tenant.created"]
    );
    assert_eq!(events(&store, new.id).await.len(), 1);

    let got = store
        .get_tenant(new.id)
        .await
        .unwrap()
        .expect("tenant by id");
    assert_eq!(got.slug, new.slug);
    assert_eq!(got.settings, new.settings);
    let by_slug = store
        .get_tenant_by_slug(&new.slug)
        .await
        .unwrap()
        .expect("tenant by slug");
    assert_eq!(by_slug.id, new.id);
    assert!(store.get_tenant(TenantId::new()).await.unwrap().is_none());
    assert!(
        store
            .get_tenant_by_slug("no-such-slug")
            .await
            .unwrap()
            .is_none()
    );

    let other = tenant(&store).await;
    let all = store.list_tenants().await.unwrap();
    let ids: Vec<_> = all.iter().map(|t| t.id).collect();
    assert!(ids.contains(&new.id) && ids.contains(&other.id));
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "tenants are listed in id order");

    let settings = json!({"return_urls": [], "meeting_policy": {"topic": "generic"}});
    let updated = store
        .update_tenant_settings(
            new.id,
            &settings,
            Effects::none().audit(audit(Some(new.id), "tenant.settings_changed")),
        )
        .await
        .unwrap();
    assert_eq!(updated.settings, settings);
    assert_eq!(updated.slug, new.slug);
    assert_eq!(
        store.get_tenant(new.id).await.unwrap().unwrap().settings,
        settings
    );
    assert_eq!(
        audit_actions(&store, Some(new.id), "tenant.").await.len(),
        2
    );
    // The other tenant's settings are untouched.
    assert_eq!(
        store.get_tenant(other.id).await.unwrap().unwrap().settings,
        other.settings
    );

    let missing = store
        .update_tenant_settings(
            TenantId::new(),
            &settings,
            Effects::none().audit(audit(None, "tenant.missing_update")),
        )
        .await
        .unwrap_err();
    assert!(is_not_found(&missing), "{missing:?}");
    assert!(
        audit_actions(&store, None, "tenant.missing_update")
            .await
            .is_empty()
    );

    // A second tenant with the same slug conflicts and writes none of its effects.
    let dup = NewTenant {
        id: TenantId::new(),
        slug: new.slug.clone(),
        ..new.clone()
    };
    let err = store
        .create_tenant(
            &dup,
            Effects::none().audit(audit(None, "tenant.dup_created")),
        )
        .await
        .unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert!(store.get_tenant(dup.id).await.unwrap().is_none());
    assert!(
        audit_actions(&store, None, "tenant.dup_created")
            .await
            .is_empty()
    );
}

fn api_key(tenant: TenantId, at: OffsetDateTime) -> ApiKey {
    ApiKey {
        id: ApiKeyId::new(),
        tenant_id: tenant,
        lookup: unique("mg_live"),
        secret_hash: vec![7; 32],
        label: "backend".into(),
        environment: "live".into(),
        created_at: at,
        last_used_at: None,
        revoked_at: None,
    }
}

pub async fn api_keys_lifecycle(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let at = now();
    let key = api_key(a.id, at);
    store
        .create_api_key(
            &key,
            10,
            Effects::none().audit(audit(Some(a.id), "api_key.created")),
        )
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&store, Some(a.id), "api_key.").await,
        vec!["api_key.created"]
    );

    let found = store
        .find_api_key(&key.lookup)
        .await
        .unwrap()
        .expect("key by lookup");
    assert_eq!(found.id, key.id);
    assert_eq!(found.tenant_id, a.id);
    assert_eq!(found.secret_hash, key.secret_hash);
    assert_eq!(found.label, "backend");
    assert_eq!(found.environment, "live");
    assert_eq!(found.created_at, at);
    assert!(found.revoked_at.is_none() && found.last_used_at.is_none());
    assert!(store.find_api_key("mg_live-nope").await.unwrap().is_none());

    let second = api_key(a.id, at);
    store
        .create_api_key(&second, 10, Effects::none())
        .await
        .unwrap();
    let listed: Vec<_> = store
        .list_api_keys(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![key.id, second.id]);
    assert!(store.list_api_keys(b.id).await.unwrap().is_empty());

    // The lookup is unique deployment-wide.
    let dup = ApiKey {
        id: ApiKeyId::new(),
        tenant_id: b.id,
        ..api_key(b.id, at)
    };
    let dup = ApiKey {
        lookup: key.lookup.clone(),
        ..dup
    };
    let err = store
        .create_api_key(
            &dup,
            10,
            Effects::none().audit(audit(Some(b.id), "api_key.created")),
        )
        .await
        .unwrap_err();
    assert!(is_conflict(&err), "{err:?}");
    assert!(
        audit_actions(&store, Some(b.id), "api_key.")
            .await
            .is_empty()
    );

    // Another tenant cannot revoke it.
    let revoke_at = at + Duration::minutes(1);
    let revoked = store
        .revoke_api_key(
            b.id,
            key.id,
            revoke_at,
            Effects::none().audit(audit(Some(b.id), "api_key.revoked")),
        )
        .await
        .unwrap();
    assert!(!revoked);
    assert!(
        store
            .find_api_key(&key.lookup)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(
        audit_actions(&store, Some(b.id), "api_key.")
            .await
            .is_empty()
    );

    assert!(
        store
            .revoke_api_key(
                a.id,
                key.id,
                revoke_at,
                Effects::none().audit(audit(Some(a.id), "api_key.revoked"))
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_api_key(&key.lookup)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(revoke_at)
    );
    assert!(
        !store
            .revoke_api_key(
                a.id,
                key.id,
                revoke_at,
                Effects::none().audit(audit(Some(a.id), "api_key.revoked"))
            )
            .await
            .unwrap(),
        "revoking twice reports false"
    );
    assert_eq!(
        audit_actions(&store, Some(a.id), "api_key.revoked")
            .await
            .len(),
        1,
        "the second revoke wrote no audit entry"
    );
    assert!(
        store
            .find_api_key(&second.lookup)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "only the named key is revoked"
    );

    let used = at + Duration::minutes(5);
    store.touch_api_key(key.id, used).await.unwrap();
    assert_eq!(
        store
            .find_api_key(&key.lookup)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(used)
    );
    // An older touch (a slow request finishing late) does not move the time back.
    store.touch_api_key(key.id, at).await.unwrap();
    assert_eq!(
        store
            .find_api_key(&key.lookup)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(used)
    );
    // Touching an unknown key is not an error.
    store.touch_api_key(ApiKeyId::new(), used).await.unwrap();
}

/// The limit on active keys holds when creations race: the count and the insert are one step.
pub async fn api_key_limit_holds_concurrently(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let at = now();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            let key = api_key(t.id, at);
            tokio::spawn(async move {
                store
                    .create_api_key(
                        &key,
                        2,
                        Effects::none().audit(audit(Some(key.tenant_id), "api_key.created")),
                    )
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::Precondition { what }) => assert_eq!(what, "API key limit"),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 2);
    assert_eq!(store.list_api_keys(t.id).await.unwrap().len(), 2);
    // A refused creation wrote nothing, its audit entry included.
    assert_eq!(audit_actions(&store, Some(t.id), "api_key.").await.len(), 2);

    // A revoked key no longer counts.
    let first = store.list_api_keys(t.id).await.unwrap()[0].id;
    assert!(
        store
            .revoke_api_key(t.id, first, at, Effects::none())
            .await
            .unwrap()
    );
    store
        .create_api_key(&api_key(t.id, at), 2, Effects::none())
        .await
        .unwrap();
}

pub async fn webhook_endpoint_limit_holds_concurrently(store: Arc<dyn Store>) {
    let t = tenant(&store).await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            let ep = endpoint(t.id, &[]);
            tokio::spawn(async move {
                store
                    .create_webhook_endpoint(
                        &ep,
                        3,
                        Effects::none()
                            .audit(audit(Some(ep.tenant_id), "webhook_endpoint.created")),
                    )
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => created += 1,
            Err(e) => assert!(is_precondition(&e, "webhook endpoint limit"), "{e:?}"),
        }
    }
    assert_eq!(created, 3);
    let endpoints = store.list_webhook_endpoints(t.id).await.unwrap();
    assert_eq!(endpoints.len(), 3);
    assert_eq!(
        audit_actions(&store, Some(t.id), "webhook_endpoint.")
            .await
            .len(),
        3
    );
    // A deleted endpoint no longer counts; another tenant's never did.
    assert!(
        store
            .delete_webhook_endpoint(t.id, endpoints[0].id, now(), Effects::none())
            .await
            .unwrap()
    );
    store
        .create_webhook_endpoint(&endpoint(t.id, &[]), 3, Effects::none())
        .await
        .unwrap();
    let other = tenant(&store).await;
    store
        .create_webhook_endpoint(&endpoint(other.id, &[]), 3, Effects::none())
        .await
        .unwrap();
}
