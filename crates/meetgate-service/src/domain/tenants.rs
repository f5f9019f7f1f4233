use meetgate_store::models::NewTenant;
use meetgate_store::{Effects, TenantId};
use serde::Serialize;
use time::OffsetDateTime;

use super::{CreatedApiKey, Ctx, Services, TenantSettings};
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub settings: TenantSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<meetgate_store::models::Tenant> for TenantView {
    fn from(t: meetgate_store::models::Tenant) -> Self {
        Self {
            id: t.id,
            settings: TenantSettings::from_json(&t.settings),
            name: t.name,
            slug: t.slug,
            created_at: t.created_at,
        }
    }
}

/// A new tenant and its first API key (shown once).
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant: TenantView,
    pub api_key: CreatedApiKey,
}

/// `clinic-a` from `Clinic A!`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(48).collect()
}

impl Services {
    /// Creates a tenant with its first API key. Operator action (CLI, demo).
    pub async fn create_tenant(
        &self,
        name: &str,
        settings: TenantSettings,
        live: bool,
        now: OffsetDateTime,
    ) -> Result<CreatedTenant> {
        let name = name.trim();
        if name.is_empty() || name.len() > 120 {
            return Err(Error::validation("name", "must be 1 to 120 characters"));
        }
        let slug = slugify(name);
        if slug.is_empty() {
            return Err(Error::validation("name", "must contain letters or digits"));
        }
        let id = TenantId::new();
        let ctx = Ctx::operator(id, now);
        let tenant = self
            .store
            .create_tenant(
                &NewTenant {
                    id,
                    name: name.to_owned(),
                    slug: slug.clone(),
                    settings: settings.to_json(),
                    created_at: now,
                },
                Effects::none().audit(ctx.audit(
                    "tenant.created",
                    "tenant",
                    Some(id.to_string()),
                    "success",
                    serde_json::json!({ "slug": slug }),
                )),
            )
            .await
            .map_err(|e| match e {
                meetgate_store::StoreError::Conflict { .. } => {
                    Error::Conflict(format!("a tenant named {slug:?} already exists"))
                }
                other => Error::Store(other),
            })?;
        let api_key = self.create_api_key(&ctx, "first key", live).await?;
        Ok(CreatedTenant {
            tenant: tenant.into(),
            api_key,
        })
    }

    pub async fn tenant(&self, ctx: &Ctx) -> Result<TenantView> {
        Ok(TenantView::clone(&*self.cached_tenant(ctx).await?))
    }

    pub async fn tenant_settings(&self, ctx: &Ctx) -> Result<TenantSettings> {
        Ok(self.cached_tenant(ctx).await?.settings.clone())
    }

    /// The tenant with its settings parsed, as the lookup cache keeps it: parsing the settings
    /// on every request cost more than copying them.
    async fn cached_tenant(&self, ctx: &Ctx) -> Result<std::sync::Arc<TenantView>> {
        self.lookups
            .tenants
            .get_or_load(ctx.tenant(), ctx.now, || async {
                let found = self.store.get_tenant(ctx.tenant()).await?;
                Ok::<_, Error>(found.map(|t| std::sync::Arc::new(TenantView::from(t))))
            })
            .await?
            .ok_or(Error::NotFound { what: "tenant" })
    }

    pub async fn update_tenant_settings(
        &self,
        ctx: &Ctx,
        settings: TenantSettings,
    ) -> Result<TenantView> {
        for url in &settings.return_urls {
            let ok = url::Url::parse(url)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !ok {
                return Err(Error::validation(
                    "return_urls",
                    format!("{url:?} is not an http(s) URL"),
                ));
            }
        }
        // Sent to Zoom as the topic of every meeting created without one: Zoom's limit applies.
        let topic_chars = settings.default_topic.chars().count();
        if settings.default_topic.trim().is_empty() || topic_chars > 200 {
            return Err(Error::validation(
                "default_topic",
                "must be 1 to 200 characters",
            ));
        }
        if !matches!(
            settings.meeting_policy.auto_recording.value.as_str(),
            "none" | "local" | "cloud"
        ) {
            return Err(Error::validation(
                "meeting_policy.auto_recording",
                "must be none, local or cloud",
            ));
        }
        let tenant = self
            .store
            .update_tenant_settings(
                ctx.tenant(),
                &settings.to_json(),
                Effects::none().audit(ctx.audit(
                    "tenant.settings_changed",
                    "tenant",
                    Some(ctx.tenant().to_string()),
                    "success",
                    serde_json::json!({}),
                )),
            )
            .await
            .map_err(Error::from_store)?;
        self.lookups.tenants.remove(&ctx.tenant());
        Ok(tenant.into())
    }

    /// Finds a tenant by id or slug, for the operator CLI.
    pub async fn find_tenant(&self, id_or_slug: &str) -> Result<TenantView> {
        let found = match id_or_slug.parse::<TenantId>() {
            Ok(id) => self.store.get_tenant(id).await?,
            Err(_) => self.store.get_tenant_by_slug(id_or_slug).await?,
        };
        found
            .map(Into::into)
            .ok_or(Error::NotFound { what: "tenant" })
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantView>> {
        Ok(self
            .store
            .list_tenants()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(
            super::slugify("  Riverside Clinic!! (North) "),
            "riverside-clinic-north"
        );
        assert_eq!(super::slugify("!!!"), "");
    }
}
